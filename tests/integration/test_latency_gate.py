"""The latency gate: the demo's slow model through the promotion flow; the no-GPU paths through its step."""

from __future__ import annotations

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
        assert lat.summary.endswith(" No GPU present: timed on CPU.")


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
