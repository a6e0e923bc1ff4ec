"""The latency gate through the promotion flow."""

from __future__ import annotations

import pytest
import torch

from flows.promote import promote_version
from gates.outcome import Outcome
from tests.integration.conftest import BASELINE, MODEL, SLOW, absolute_paths


def gate(outcome, name: str):
    return next(g for g in outcome.gates if g.gate == name)


def test_slow_candidate_is_rejected_by_latency_alone(registry, demo_policy):
    promote_version(MODEL, BASELINE, demo_policy)
    outcome = promote_version(MODEL, SLOW, demo_policy)
    assert outcome.outcome is Outcome.REJECTED
    assert outcome.decision.failing_gates == ("latency",)
    lat = gate(outcome, "latency")
    cand, champ = lat.details["candidate"], lat.details["champion"]
    assert [s["batch_size"] for s in cand] == [1, 64]
    assert cand[1]["p95_ms"] > 3 * champ[1]["p95_ms"]
    assert any("SLO" in m.note for m in lat.measurements if not m.passed)
    assert lat.details["timed"] == "torch module on encoded inputs"
    assert lat.details["environment"]["torch"] == torch.__version__
    if not torch.cuda.is_available():
        assert "No GPU present: timed on CPU." in lat.summary


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU paths")
@pytest.mark.parametrize(("choice", "status"), [("skip", "skipped"), ("fail", "failed")])
def test_require_gpu_without_one(registry, demo_policy, tmp_path, choice, status):
    text = absolute_paths(open(demo_policy).read(), demo_policy).replace(
        "    device: auto ", f"    require_gpu: true\n    no_gpu: {choice}\n    device: auto "
    )
    policy = tmp_path / "p.yaml"
    policy.write_text(text)
    outcome = promote_version(MODEL, BASELINE, str(policy), dry_run=True)
    lat = gate(outcome, "latency")
    assert lat.status.value == status and "no GPU present" in lat.summary
