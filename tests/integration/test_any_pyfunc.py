"""The pipeline works on any registered pyfunc with a signature, not only the demo's, and keeps model code
away from the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gates.errors import BadInputError
from gates.outcome import Outcome
from tasks import registry as reg
from tests.integration.conftest import decided_tags, flow_run_state, gate, promote
from tests.integration.models import RegistryReader, log_python_model, log_sklearn_model

POLICY = """
model_name: {name}
eval_data: {{path: {path}, target: y}}
model_output: {{kind: {kind}}}
gates:
  evaluation:
    metrics:
      accuracy: {{threshold: 0.6, min_absolute_change: 0.01}}
{extra}
"""
# Robustness, latency and integration of a scikit-learn model are in the conformance matrix.
EVALUATION_ONLY = "  robustness: {enabled: false}\n  latency: {enabled: false}\n  integration: {enabled: false}"


@pytest.fixture
def synthetic(registry, tmp_path):
    """(training rows, policy writer): three float columns, y from a and b; the eval half as Parquet."""
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=(n, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=n) > 0).astype("int64")
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": y})
    frame.iloc[:2000].to_parquet(tmp_path / "eval.parquet")

    def policy(name: str, kind: str, extra: str = "") -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(POLICY.format(name=name, path=tmp_path / "eval.parquet", kind=kind, extra=extra))
        return str(path)

    return frame.iloc[2000:], policy


def test_sklearn_labels_and_parquet(registry, synthetic):
    train, policy = synthetic
    weak = log_sklearn_model("synthetic-lr", train, ["c"], "y", 1.0)  # sees only noise
    strong = log_sklearn_model("synthetic-lr", train, ["a", "b", "c"], "y", 1.0)
    path = policy("synthetic-lr", "label", EVALUATION_ONLY)
    first = promote(weak, path, model="synthetic-lr")
    assert first.outcome is Outcome.REJECTED  # fails the absolute accuracy threshold
    assert first.decision.failing_gates == ("evaluation",)
    second = promote(strong, path, model="synthetic-lr")
    assert second.outcome is Outcome.PROMOTED, second.decision.reasons
    assert second.champion_before is None and second.champion_after == strong
    # predict() returns labels: the gates judge the estimator's probabilities, and say so.
    source = "predict_proba() of the LogisticRegression (predict() returns labels)"
    assert gate(second, "evaluation").details["score_sources"] == {"candidate": source}
    assert registry.modelgate_tags(strong, model="synthetic-lr") == decided_tags(second)


def test_a_version_logged_without_signature_gets_the_eval_columns(registry, synthetic):
    """The quickstart's log_model(model, name="model"): no signature, no input example. Its inputs are the
    eval columns but the target (or the policy's input_columns), with the data's own types; the integration
    probe notes what it could not check instead of failing."""
    train, policy = synthetic
    weak = log_sklearn_model("unsigned", train, ["a", "b", "c"], "y", 0.0001, signed=False)
    strong = log_sklearn_model("unsigned", train, ["a", "b", "c"], "y", 1.0, signed=False)
    probe_only = "  robustness: {enabled: false}\n  latency: {enabled: false}\n  integration: {serve: false}"
    path = policy("unsigned", "label", probe_only)
    assert promote(weak, path, model="unsigned").outcome is Outcome.PROMOTED
    second = promote(strong, path, model="unsigned")
    assert second.outcome is Outcome.PROMOTED, second.decision.reasons
    assert {g.gate: g.status.value for g in second.gates} == {
        "data_validation": "passed",
        "drift": "skipped",  # no reference data
        "provenance": "passed",  # no signature, input example, parameters or training data: reported, not required
        "output_check": "passed",
        "evaluation": "passed",
        "bias": "skipped",  # no sensitive features
        "integration": "passed",
    }
    integration = gate(second, "integration")
    assert [c["name"] for c in integration.details["checks"]] == [
        "loads in a clean process",
        "predicts the sample",
        "deterministic: equals the flow's predictions",
        "single rows agree with the batch",
    ]
    assert integration.details["notes"][:2] == [
        "No signature was logged: a scoring server cannot check what clients send.",
        "No input example was logged: clients have no example to copy.",
    ]

    wrong = Path(path).with_name("wrong-columns.yaml")
    wrong.write_text(Path(path).read_text() + "input_columns: [a, zzz]\n")
    before = registry.snapshot(model="unsigned")
    with pytest.raises(
        BadInputError, match="^input_columns named in the policy are not columns of the eval data: zzz$"
    ):
        promote(weak, str(wrong), model="unsigned")
    assert registry.snapshot(model="unsigned") == before


def test_model_code_that_reaches_for_the_registry_is_rejected(registry, synthetic):
    train, policy = synthetic
    version = log_python_model("reader", RegistryReader(), train[["a", "b", "c"]].head(5))
    path = policy("reader", "probability", EVALUATION_ONLY)
    outcome = promote(version, path, model="reader")
    assert outcome.outcome is Outcome.REJECTED and outcome.decision.failing_gates == ("isolation",)
    assert flow_run_state(outcome.flow_run_id) == ("FAILED", "Rejected")
    assert gate(outcome, "evaluation").status.value == "passed"  # it scores well: only its reach is refused
    isolation = gate(outcome, "isolation")
    assert isolation.status.value == "failed" and isolation.blocking
    assert isolation.summary.startswith(
        f"the candidate v{version}'s code tried to reach the model registry while being judged (1 attempt(s), "
        "first: mlflow.MlflowClient().search_registered_models(max_results=1) at models.py:"
    )
    assert isolation.summary.endswith(" in predict); it was refused")
    assert isolation.details["model"] == "candidate" and len(isolation.details["attempts"]) == 1
    assert registry.client().get_registered_model("reader").aliases == {}  # nothing promoted


def test_compare_and_set_refuses_when_champion_moved(registry):
    c = registry.client()
    c.set_registered_model_alias("adult-income", "champion", "1")
    # The flow compared against v1, but someone moved the champion to v3 meanwhile.
    c.set_registered_model_alias("adult-income", "champion", "3")
    move = reg.compare_and_set_champion(c, "adult-income", "2", "1", "champion", "previous-champion")
    assert not move.moved and move.champion_before == "3" and move.champion_after == "3"
    assert move.message == "champion moved from 1 to 3 during evaluation; not promoting on stale evidence"
    assert str(c.get_model_version_by_alias("adult-income", "champion").version) == "3"
    assert reg.champion(c, "adult-income", "previous-champion") is None

    move = reg.compare_and_set_champion(c, "adult-income", "2", "3", "champion", "previous-champion")
    assert move.moved and move.champion_before == "3" and move.champion_after == "2"
    assert move.message == "champion moved from 3 to 2"
    assert str(c.get_model_version_by_alias("adult-income", "previous-champion").version) == "3"
