"""The latency gate: the demo's slow model through the promotion flow; the no-GPU paths through its step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gates.outcome import Outcome
from tasks.latency_steps import latency_step
from tests.integration.conftest import (
    BASELINE,
    SLOW,
    absolute_paths,
    flow_run_state,
    gate,
    judging,
    promote,
    write_demo_policy,
)
from tests.integration.models import SlowAtFirst, log_python_model

pytestmark = pytest.mark.slow  # several full promotions each: the full suite, not the fast tier

OWN_VIEW = "the model's own torch_module() behind its encode()"


def test_slow_candidate_is_rejected_by_latency_alone(registry, quick_policy, tmp_path):
    promote(BASELINE, quick_policy)
    outcome = promote(SLOW, write_demo_policy(tmp_path / "policy.yaml"))  # the demo's 1 ms SLO
    assert outcome.outcome is Outcome.REJECTED
    assert flow_run_state(outcome.flow_run_id) == ("FAILED", "Rejected")
    assert outcome.decision.failing_gates == ("latency",)
    lat = gate(outcome, "latency")
    cand, champ = lat.details["candidate"], lat.details["champion"]
    assert [s["batch_size"] for s in cand] == [1, 64]
    # the OS's run-queue wait is taken out of every call (Linux): the wall-clock p95 is kept beside the judged one
    assert all(s["wall_p95_ms"] >= s["p95_ms"] for s in cand + champ)
    assert cand[1]["p95_ms"] > 3 * champ[1]["p95_ms"]
    slow = next(m for m in lat.measurements if m.name == "p95_ms@batch64")
    assert not slow.passed and f"p95 {slow.value:.3f} ms > SLO 1.0 ms" in slow.note
    assert slow.value == cand[1]["p95_ms"] and slow.champion_value == champ[1]["p95_ms"]
    assert slow.difference == pytest.approx(cand[1]["p95_ms"] / champ[1]["p95_ms"] - 1)
    # The demo policy's SLO applies to the torch modules; predict() as served is timed beside them.
    assert lat.details["judged_target"] == "module"
    assert lat.details["environment"]["timed"] == "torch module on encoded tensors"
    assert set(lat.details["targets"]) == {"served", "module"}
    assert lat.details["module_views"] == {"candidate": OWN_VIEW, "champion": OWN_VIEW}
    assert lat.details["environment"]["torch"] == torch.__version__
    if not torch.cuda.is_available():
        assert lat.summary.endswith(" No GPU present: timed on CPU. Confirmed by a second sweep.")
    assert any(f.startswith("batch 64: p95 ") for f in lat.details["first_sweep"]["failures"])


BURST_POLICY = """
model_name: burst
eval_data: {{path: {path}, target: y}}
model_output: {{kind: probability}}
gates:
  evaluation: {{metrics: {{accuracy: {{threshold: 0.1}}}}}}
  robustness: {{enabled: false}}
  integration: {{enabled: false}}
  latency: {{batch_sizes: [7], iterations: 30, warmup: 0, slo_p95_ms: {{7: 50.0}}, confirm_failures: {confirm}}}
"""


@pytest.mark.parametrize(("confirm", "status"), [(True, "passed"), (False, "failed")])
def test_a_failing_sweep_is_timed_again(registry, tmp_path, confirm, status):
    """A model slow for its first 30 calls fails one sweep; the second sweep decides when the policy confirms.
    (The SLO leaves room for a loaded machine: the fast calls take about a millisecond alone.)"""
    frame = pd.DataFrame({"a": np.linspace(0, 1, 40), "b": np.linspace(1, 0, 40), "y": [0, 1] * 20})
    frame.to_parquet(tmp_path / "eval.parquet")
    version = log_python_model("burst", SlowAtFirst(), frame[["a", "b"]].head(5))
    policy = tmp_path / "burst.yaml"
    policy.write_text(BURST_POLICY.format(path=tmp_path / "eval.parquet", confirm=str(confirm).lower()))
    with judging(str(policy), version, tmp_path, model="burst") as (ctx, run):
        lat = latency_step(ctx, run)
    assert lat.status.value == status, lat.summary
    first = lat.details["first_sweep"] if confirm else lat.details
    assert first["failures"][0].startswith("batch 7: p95 ") and first["candidate"][0]["p95_ms"] > 100.0
    if confirm:
        assert "A first sweep failed (batch 7: p95 " in lat.summary
        assert lat.summary.endswith(" ms > SLO 50.0 ms) and a second passed: judged on the second.")
        assert lat.details["candidate"][0]["p95_ms"] < 50.0
    else:
        assert "first_sweep" not in lat.details


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU paths")
@pytest.mark.parametrize(
    ("choice", "status", "summary"),
    [
        ("skip", "skipped", "no GPU present and the policy requires one"),
        ("fail", "failed", "no GPU present and the policy requires one (no_gpu: fail)."),
    ],
)
def test_require_gpu_without_one(registry, demo_policy, tmp_path, choice, status, summary):
    text = absolute_paths(open(demo_policy).read(), demo_policy).replace(
        "    device: auto ", f"    require_gpu: true\n    no_gpu: {choice}\n    device: auto "
    )
    policy = tmp_path / "p.yaml"
    policy.write_text(text)
    with judging(str(policy), BASELINE, tmp_path) as (ctx, run):
        lat = latency_step(ctx, run)
    assert (lat.status.value, lat.summary) == (status, summary)
