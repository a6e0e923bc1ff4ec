"""The robustness gate through the promotion flow: demo models, pytorch-flavour models, fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flows.promote import promote_version
from gates.outcome import Outcome
from tests.integration.conftest import BASELINE, BRITTLE, MODEL
from tests.integration.models import CategoryModel, FrozenTorchModel, log_python_model, log_torch_model

SYNTHETIC_POLICY = """
model_name: {name}
eval_data: {{path: {path}, target: y}}
{extra}
gates:
  data_validation: {{min_rows: 10}}
  bias: {{enabled: false}}
  evaluation:
    metrics: {{accuracy: {{threshold: 0.3}}}}
  robustness:
    epsilons: [0.1]
    l2_epsilons: [0.5]
    attacks: [fgsm, pgd_linf, pgd_l2]
    max_drop: 0.5
    max_flip_rate: 0.6
"""


def gate(outcome, name: str):
    return next(g for g in outcome.gates if g.gate == name)


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


def test_brittle_candidate_is_rejected_by_robustness_alone(registry, demo_policy):
    promote_version(MODEL, BASELINE, demo_policy)
    outcome = promote_version(MODEL, BRITTLE, demo_policy)
    assert outcome.outcome is Outcome.REJECTED
    assert outcome.decision.failing_gates == ("robustness",)
    assert gate(outcome, "evaluation").status.value == "passed"
    rob = gate(outcome, "robustness")
    cand, champ = rob.details["candidate"], rob.details["champion"]
    assert cand["white_box"]["pgd_linf"]["0.1"] < champ["white_box"]["pgd_linf"]["0.1"]
    for _attack in ("fgsm", "pgd_linf"):
        for eps in ("0.05", "0.1", "0.25"):
            assert cand["white_box"]["pgd_linf"][eps] <= cand["white_box"]["fgsm"][eps] + 0.005
    c = registry.client()
    files = {a.path for a in c.list_artifacts(outcome.ledger_run_id, "evidence/reports/robustness")}
    assert "evidence/reports/robustness/robustness.png" in files


@pytest.mark.parametrize("fmt", ["pt2", "pickle"])
def test_pytorch_flavour_models_get_white_box_attacks(registry, synthetic, fmt):
    frame, policy = synthetic
    name = f"torch-{fmt}"
    version = log_torch_model(name, frame, ["a", "b", "c"], "y", fmt)
    extra = (
        "tensor_input_columns: [a, b, c]\nmodel_output: {kind: logits}"
        if fmt == "pt2"
        else "model_output: {kind: logits}"
    )
    outcome = promote_version(name, version, policy(name, extra), dry_run=True)
    rob = gate(outcome, "robustness")
    assert rob.status.value in ("passed", "failed"), rob.summary
    white = rob.details["candidate"]["white_box"]
    assert set(white) == {"fgsm", "pgd_linf", "pgd_l2"}
    assert white["pgd_linf"]["0.1"] <= white["fgsm"]["0.1"] + 0.005 < rob.details["candidate"]["clean_accuracy"] + 0.005


def test_model_without_gradients_falls_back_to_black_box(registry, synthetic):
    frame, policy = synthetic
    version = log_python_model("frozen", FrozenTorchModel(), frame[["a", "b", "c"]].head(5))
    outcome = promote_version("frozen", version, policy("frozen"), dry_run=True)
    rob = gate(outcome, "robustness")
    assert rob.details["candidate"]["white_box"] == {}
    assert "no gradients through the model" in rob.summary
    assert {r["perturbation"] for r in rob.details["candidate"]["black_box"]} >= {"gaussian_noise"}


def test_non_numeric_inputs_only(registry, synthetic):
    frame, policy = synthetic
    version = log_python_model("colours", CategoryModel(), frame[["colour"]].head(5))
    outcome = promote_version("colours", version, policy("colours"), dry_run=True)
    rob = gate(outcome, "robustness")
    assert "exposes no torch module" in rob.summary
    kinds = {r["perturbation"] for r in rob.details["candidate"]["black_box"]}
    assert "gaussian_noise" not in kinds and {"category_swap", "missing_values"} <= kinds
