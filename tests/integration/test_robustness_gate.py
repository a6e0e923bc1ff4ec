"""The robustness gate: the demo's brittle model through the promotion flow; pytorch-flavour models and the
fallbacks through the gate's step on the judging side (each model in its own process)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gates.outcome import Outcome
from tasks.robustness_steps import robustness_step
from tests.integration.conftest import BASELINE, BRITTLE, flow_run_state, gate, judging, promote
from tests.integration.models import CategoryModel, FrozenTorchModel, log_python_model, log_torch_model

pytestmark = pytest.mark.slow  # several full promotions each: the full suite, not the fast tier

SYNTHETIC_POLICY = """
model_name: {name}
eval_data: {{path: {path}, target: y}}
{extra}
gates:
  data_validation: {{min_rows: 10}}
  bias: {{enabled: false}}
  latency: {{enabled: false}}
  integration: {{enabled: false}}
  evaluation:
    metrics: {{accuracy: {{threshold: 0.3}}}}
  robustness:
    epsilons: [0.1]
    l2_epsilons: [0.5]
    attacks: [fgsm, pgd_linf, pgd_l2]
    max_drop: 0.5
    max_flip_rate: 0.6
"""


@pytest.fixture
def synthetic(registry, tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    frame = pd.DataFrame(rng.normal(size=(n, 3)).astype("float32"), columns=["a", "b", "c"])
    frame["colour"] = rng.choice(["red", "blue", "green"], n)
    frame["y"] = ((frame.a + frame.b > 0) | (frame.colour == "red")).astype("int64")
    path = tmp_path / "eval.csv"
    frame.to_csv(path, index=False)

    def policy(name: str, extra: str = "") -> str:
        p = tmp_path / f"{name}.yaml"
        p.write_text(SYNTHETIC_POLICY.format(name=name, path=path, extra=extra))
        return str(p)

    return frame, policy


def robustness_of(policy: str, name: str, version: str, out_dir):
    """The robustness gate's result for one version (no champion), from its step on the judging side."""
    with judging(policy, version, out_dir, model=name) as (ctx, run):
        return robustness_step(ctx, run, out_dir)


def test_brittle_candidate_is_rejected_by_robustness_alone(registry, demo_policy, quick_policy):
    promote(BASELINE, quick_policy)
    outcome = promote(BRITTLE, demo_policy)
    assert outcome.outcome is Outcome.REJECTED
    assert flow_run_state(outcome.flow_run_id) == ("FAILED", "Rejected")
    assert outcome.decision.failing_gates == ("robustness",)
    assert gate(outcome, "evaluation").status.value == "passed"
    rob = gate(outcome, "robustness")
    cand, champ = rob.details["candidate"], rob.details["champion"]
    assert cand["white_box"]["pgd_linf"]["0.1"] < champ["white_box"]["pgd_linf"]["0.1"]
    for eps in ("0.05", "0.1", "0.25"):
        assert cand["white_box"]["pgd_linf"][eps] <= cand["white_box"]["fgsm"][eps] + 0.005
    assert rob.details["attacked_view"] == {
        "candidate": "the model's own torch_module() behind its encode()",
        "champion": "the model's own torch_module() behind its encode()",
    }
    c = registry.client()
    files = {a.path for a in c.list_artifacts(outcome.ledger_run_id, "evidence/reports/robustness")}
    assert files == {"evidence/reports/robustness/robustness.png"}


@pytest.mark.parametrize("fmt", ["pt2", "pickle"])
def test_pytorch_flavour_models_get_white_box_attacks(registry, synthetic, fmt, tmp_path):
    frame, policy = synthetic
    name = f"torch-{fmt}"
    version = log_torch_model(name, frame, ["a", "b", "c"], "y", fmt)
    extra = (
        "tensor_input_columns: [a, b, c]\nmodel_output: {kind: logits}"
        if fmt == "pt2"
        else "model_output: {kind: logits}"
    )
    rob = robustness_of(policy(name, extra), name, version, tmp_path)
    assert rob.status.value == "passed", rob.summary
    assert rob.details["attacked_view"] == {"candidate": f"the pytorch flavour's module ({fmt}) behind the input path"}
    cand = rob.details["candidate"]
    white = cand["white_box"]
    assert set(white) == {"fgsm", "pgd_linf", "pgd_l2"}
    assert white["pgd_linf"]["0.1"] <= white["fgsm"]["0.1"] + 0.005 < cand["clean_accuracy"] + 0.005
    assert rob.report_files == (str(tmp_path / "robustness.png"),)


def test_model_without_gradients_falls_back_to_black_box(registry, synthetic, tmp_path):
    frame, policy = synthetic
    version = log_python_model("frozen", FrozenTorchModel(), frame[["a", "b", "c"]].head(5))
    rob = robustness_of(policy("frozen"), "frozen", version, tmp_path)
    assert rob.details["candidate"]["white_box"] == {}
    assert rob.details["attacked_view"] == {"candidate": ""}
    assert "no gradients through the model (RuntimeError); white-box attacks skipped, black-box only" in rob.summary
    kinds = {r["perturbation"] for r in rob.details["candidate"]["black_box"]}
    assert kinds == {"gaussian_noise"}  # no column may be missing under this policy
    assert rob.report_files == ()


def test_non_numeric_inputs_only(registry, synthetic, tmp_path):
    frame, policy = synthetic
    version = log_python_model("colours", CategoryModel(), frame[["colour"]].head(5))
    rob = robustness_of(policy("colours"), "colours", version, tmp_path)
    assert "exposes no torch module" in rob.summary
    kinds = {r["perturbation"] for r in rob.details["candidate"]["black_box"]}
    assert kinds == {"category_swap"}  # the reference holds no nulls: none are injected
