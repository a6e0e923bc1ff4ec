"""The promotion flow against a real MLflow registry (SQLite in tmp_path) and the Prefect test harness."""

from __future__ import annotations

import json

import pytest

from flows.promote import promote_version
from gates.errors import BadInputError
from gates.outcome import Outcome
from tests.conftest import ROOT
from tests.integration.conftest import BASELINE, FULL, MODEL, WORSE, absolute_paths, read_artifact


def gate(outcome, name: str):
    return next(g for g in outcome.gates if g.gate == name)


def _promote(version: str, policy: str, **kwargs):
    return promote_version(MODEL, version, policy, **kwargs)


def test_first_passing_version_becomes_champion_then_better_one_replaces_it(registry, demo_policy):
    first = _promote(BASELINE, demo_policy)
    assert first.outcome is Outcome.PROMOTED and first.champion_before is None and first.champion_after == BASELINE
    assert gate(first, "evaluation").details["has_champion"] is False

    second = _promote(FULL, demo_policy)
    assert second.outcome is Outcome.PROMOTED, second.decision.reasons
    assert second.champion_before == BASELINE and second.champion_after == FULL
    evaluation = gate(second, "evaluation")
    auc = next(m for m in evaluation.measurements if m.name == "roc_auc")
    assert auc.value > auc.champion_value and auc.interval_low > 0

    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == FULL
    assert str(c.get_model_version_by_alias(MODEL, "previous-champion").version) == BASELINE
    tags = c.get_model_version(MODEL, FULL).tags
    assert tags["modelgate.decision"] == "promote"
    assert tags["modelgate.gate.evaluation"] == "passed"
    assert tags["modelgate.outcome"] == "promoted"
    assert len(tags["modelgate.policy_hash"]) == 64
    assert tags["modelgate.flow_run_id"] == second.flow_run_id


def test_worse_candidate_is_rejected_with_reasons_and_evidence(registry, demo_policy):
    _promote(FULL, demo_policy)
    outcome = _promote(WORSE, demo_policy)
    assert outcome.outcome is Outcome.REJECTED and outcome.exit_code == 1
    assert outcome.decision.failing_gates == ("evaluation",)
    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == FULL
    tags = c.get_model_version(MODEL, WORSE).tags
    assert tags["modelgate.decision"] == "reject"
    assert "roc_auc" in tags["modelgate.reasons"]

    run = c.get_run(outcome.ledger_run_id)
    assert run.data.tags["modelgate.prior_champion"] == FULL
    assert run.data.tags["modelgate.decision"] == "reject"
    assert run.data.metrics["evaluation.roc_auc"] == pytest.approx(gate(outcome, "evaluation").measurements[0].value)
    files = {a.path for a in c.list_artifacts(run.info.run_id, "evidence")}
    assert {"evidence/decision.json", "evidence/summary.md", "evidence/policy.yaml"} <= files
    local = c.download_artifacts(run.info.run_id, "evidence/gates/evaluation.json", str(registry.root))
    with open(local) as fh:
        assert json.load(fh)["status"] == "failed"


def test_prefect_artifacts_hold_summary_and_gate_table(registry, demo_policy):
    outcome = _promote(BASELINE, demo_policy)
    summary = read_artifact("promotion-adult-income-v1", outcome.flow_run_id)
    assert summary and "PROMOTE" in summary.data
    table = read_artifact("gate-evaluation-adult-income-v1", outcome.flow_run_id)
    assert table and "roc_auc" in str(table.data)


def test_dry_run_decides_but_writes_nothing(registry, demo_policy):
    _promote(BASELINE, demo_policy)
    before = registry.snapshot()
    outcome = _promote(FULL, demo_policy, dry_run=True)
    assert outcome.outcome is Outcome.DRY_RUN and outcome.decision.verdict.value == "promote"
    assert outcome.exit_code == 0
    assert registry.snapshot() == before


def test_history_lists_every_attempt(registry, demo_policy):
    from tasks.ledger import history

    for version in (BASELINE, WORSE, FULL):
        _promote(version, demo_policy)
    entries = history(MODEL, "model-promotions")
    assert [(e.version, e.outcome) for e in entries] == [
        (BASELINE, "promoted"),
        (WORSE, "rejected"),
        (FULL, "promoted"),
    ]
    assert entries[2].prior_champion == BASELINE
    assert entries[2].gates["evaluation"] == "passed" and entries[2].gates["data_validation"] == "passed"


def test_candidate_that_raises_at_predict_time_is_rejected_not_crashed(registry, demo_policy, tmp_path):
    import mlflow

    from tests.integration.models import log_raising_model

    _promote(BASELINE, demo_policy)
    version = log_raising_model(MODEL)
    outcome = _promote(version, demo_policy)
    assert outcome.outcome is Outcome.REJECTED
    assert gate(outcome, "evaluation").status.value == "errored"
    assert "RuntimeError: scoring backend unavailable" in gate(outcome, "evaluation").details["error"]
    assert mlflow.MlflowClient().get_model_version(MODEL, version).tags["modelgate.gate.evaluation"] == "errored"


@pytest.mark.parametrize(
    ("model", "version", "message"),
    [
        ("no-such-model", "1", "registered model 'no-such-model' not found"),
        (MODEL, "42", "has no version 42"),
        (MODEL, "abc", "version must be a positive integer"),
    ],
)
def test_unknown_model_or_version_is_bad_input(registry, demo_policy, tmp_path, model, version, message):
    policy = demo_policy
    if model != MODEL:
        policy = str(tmp_path / f"{model}.yaml")
        text = open(demo_policy).read().replace(f"model_name: {MODEL}", f"model_name: {model}")
        text = absolute_paths(text, demo_policy)
        open(policy, "w").write(text)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match=message):
        promote_version(model, version, policy)
    assert registry.snapshot() == before


def test_version_not_ready_is_bad_input(registry, demo_policy):
    registry.set_status(FULL, "PENDING_REGISTRATION")
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="PENDING_REGISTRATION, not READY"):
        _promote(FULL, demo_policy)
    assert registry.snapshot() == before


def test_policy_for_another_model_is_bad_input(registry, demo_policy, tmp_path):
    with pytest.raises(BadInputError, match="governs 'adult-income', not 'other'"):
        promote_version("other", "1", demo_policy)


def _policy_with_data(demo_policy: str, tmp_path, frame) -> str:
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    text = absolute_paths(open(demo_policy).read(), demo_policy)
    text = text.replace(str(ROOT / "data/uci-adult/adult_eval.csv.gz"), str(data))
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["income_gt_50k"]), "target column 'income_gt_50k' is missing"),
        (lambda f: f.drop(columns=["age"]), "model input column\\(s\\) missing: age"),
        (lambda f: f.assign(age="old"), "column 'age' has dtype object, the model expects long"),
        (lambda f: f.head(0), "eval data has no rows"),
    ],
)
def test_bad_eval_data_is_bad_input(registry, demo_policy, tmp_path, mutate, message):
    from demo.adult_data import load_eval

    policy = _policy_with_data(demo_policy, tmp_path, mutate(load_eval().head(500)))
    before = registry.snapshot()
    with pytest.raises(BadInputError, match=message):
        _promote(BASELINE, policy)
    assert registry.snapshot() == before


def test_missing_eval_file_is_bad_input(registry, demo_policy, tmp_path):
    text = absolute_paths(open(demo_policy).read(), demo_policy)
    text = text.replace(str(ROOT / "data/uci-adult/adult_eval.csv.gz"), str(tmp_path / "nope.csv"))
    (tmp_path / "p.yaml").write_text(text)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="eval data not found"):
        _promote(BASELINE, str(tmp_path / "p.yaml"))
    assert registry.snapshot() == before


def test_version_already_champion_is_bad_input(registry, demo_policy):
    _promote(BASELINE, demo_policy)
    with pytest.raises(BadInputError, match="already the champion"):
        _promote(BASELINE, demo_policy)
