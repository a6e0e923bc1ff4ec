"""The promotion flow against a real MLflow registry (SQLite in tmp_path) and the Prefect test harness."""

from __future__ import annotations

import json

import pytest

from flows.promote import promote_version
from gates.errors import BadInputError
from gates.outcome import Outcome
from tests.integration.conftest import MODEL


def _promote(version: str, policy: str, **kwargs):
    return promote_version(MODEL, version, policy, **kwargs)


def test_first_passing_version_becomes_champion_then_better_one_replaces_it(registry, demo_policy):
    first = _promote("1", demo_policy)
    assert first.outcome is Outcome.PROMOTED and first.champion_before is None and first.champion_after == "1"
    assert first.gates[0].details["has_champion"] is False

    second = _promote("2", demo_policy)
    assert second.outcome is Outcome.PROMOTED, second.decision.reasons
    assert second.champion_before == "1" and second.champion_after == "2"
    evaluation = second.gates[0]
    auc = next(m for m in evaluation.measurements if m.name == "roc_auc")
    assert auc.value > auc.champion_value and auc.interval_low > 0

    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert str(c.get_model_version_by_alias(MODEL, "previous-champion").version) == "1"
    tags = c.get_model_version(MODEL, "2").tags
    assert tags["modelgate.decision"] == "promote"
    assert tags["modelgate.gate.evaluation"] == "passed"
    assert tags["modelgate.outcome"] == "promoted"
    assert len(tags["modelgate.policy_hash"]) == 64
    assert tags["modelgate.flow_run_id"] == second.flow_run_id


def test_worse_candidate_is_rejected_with_reasons_and_evidence(registry, demo_policy):
    _promote("2", demo_policy)
    outcome = _promote("3", demo_policy)
    assert outcome.outcome is Outcome.REJECTED and outcome.exit_code == 1
    assert outcome.decision.failing_gates == ("evaluation",)
    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == "2"
    tags = c.get_model_version(MODEL, "3").tags
    assert tags["modelgate.decision"] == "reject"
    assert "roc_auc" in tags["modelgate.reasons"]

    run = c.get_run(outcome.ledger_run_id)
    assert run.data.tags["modelgate.prior_champion"] == "2"
    assert run.data.tags["modelgate.decision"] == "reject"
    assert run.data.metrics["evaluation.roc_auc"] == pytest.approx(outcome.gates[0].measurements[0].value)
    files = {a.path for a in c.list_artifacts(run.info.run_id, "evidence")}
    assert {"evidence/decision.json", "evidence/summary.md", "evidence/policy.yaml"} <= files
    local = c.download_artifacts(run.info.run_id, "evidence/gates/evaluation.json", str(registry.root))
    with open(local) as fh:
        assert json.load(fh)["status"] == "failed"


def test_prefect_artifacts_hold_summary_and_gate_table(registry, demo_policy):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    _promote("1", demo_policy)

    async def read(key: str):
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))

    import asyncio

    summary = asyncio.run(read("promotion-adult-income-v1"))
    assert summary and "PROMOTE" in summary[0].data
    table = asyncio.run(read("gate-evaluation-adult-income-v1"))
    assert table and "roc_auc" in str(table[0].data)


def test_dry_run_decides_but_writes_nothing(registry, demo_policy):
    _promote("1", demo_policy)
    before = registry.snapshot()
    outcome = _promote("2", demo_policy, dry_run=True)
    assert outcome.outcome is Outcome.DRY_RUN and outcome.decision.verdict.value == "promote"
    assert outcome.exit_code == 0
    assert registry.snapshot() == before


def test_history_lists_every_attempt(registry, demo_policy):
    from tasks.ledger import history

    for version in ("1", "3", "2"):
        _promote(version, demo_policy)
    entries = history(MODEL, "model-promotions")
    assert [(e.version, e.outcome) for e in entries] == [("1", "promoted"), ("3", "rejected"), ("2", "promoted")]
    assert entries[2].prior_champion == "1" and entries[2].gates == {"evaluation": "passed"}


def test_candidate_that_raises_at_predict_time_is_rejected_not_crashed(registry, demo_policy, tmp_path):
    import mlflow

    from tests.integration.models import log_raising_model

    _promote("1", demo_policy)
    version = log_raising_model(MODEL)
    outcome = _promote(version, demo_policy)
    assert outcome.outcome is Outcome.REJECTED
    assert outcome.gates[0].status.value == "errored"
    assert "RuntimeError: scoring backend unavailable" in outcome.gates[0].details["error"]
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
        text = text.replace("../../data/", str(demo_policy).rsplit("configs", 1)[0] + "data/")
        open(policy, "w").write(text)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match=message):
        promote_version(model, version, policy)
    assert registry.snapshot() == before


def test_version_not_ready_is_bad_input(registry, demo_policy):
    registry.set_status("2", "PENDING_REGISTRATION")
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="PENDING_REGISTRATION, not READY"):
        _promote("2", demo_policy)
    assert registry.snapshot() == before


def test_policy_for_another_model_is_bad_input(registry, demo_policy, tmp_path):
    with pytest.raises(BadInputError, match="governs 'adult-income', not 'other'"):
        promote_version("other", "1", demo_policy)


def _policy_with_data(demo_policy: str, tmp_path, frame) -> str:
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    text = open(demo_policy).read().replace("../../data/uci-adult/adult_eval.csv.gz", str(data))
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
        _promote("1", policy)
    assert registry.snapshot() == before


def test_missing_eval_file_is_bad_input(registry, demo_policy, tmp_path):
    text = open(demo_policy).read().replace("../../data/uci-adult/adult_eval.csv.gz", str(tmp_path / "nope.csv"))
    (tmp_path / "p.yaml").write_text(text)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="eval data not found"):
        _promote("1", str(tmp_path / "p.yaml"))
    assert registry.snapshot() == before


def test_version_already_champion_is_bad_input(registry, demo_policy):
    _promote("1", demo_policy)
    with pytest.raises(BadInputError, match="already the champion"):
        _promote("1", demo_policy)
