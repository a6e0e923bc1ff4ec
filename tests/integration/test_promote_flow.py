"""The promotion flow against a real MLflow registry (SQLite in tmp_path) and the Prefect test harness."""

from __future__ import annotations

import json
import math
import re

import pytest
import yaml

from gates.errors import BadInputError
from gates.outcome import Outcome
from tasks.publishing import NOTE_CUT
from tasks.serving_evidence import local_manifest_path
from tests.conftest import ROOT
from tests.integration.conftest import (
    BASELINE,
    FULL,
    MODEL,
    WORSE,
    absolute_paths,
    decided_description,
    decided_tags,
    demo_description,
    flow_run_state,
    gate,
    promote,
    read_artifact,
)
from tests.kserve_schema import problems

# The gates the demo policy runs (integration is off in the demo_policy fixture), in the registry's order.
DEMO_GATES = ["data_validation", "drift", "provenance", "output_check", "evaluation", "bias", "robustness", "latency"]
# How the full model fares against the baseline: every gate passes; the bias audit warns (an inconclusive
# comparison, which the demo policy's `inconclusive: warn` makes a warning).
FULL_AGAINST_BASELINE = dict.fromkeys(DEMO_GATES, "passed") | {"bias": "warned"}


def six_digits(value: float) -> float:
    """A number as the ledger keeps it: six significant digits."""
    return float(f"{value:.6g}")


def artifact_files(client, run_id: str, folder: str = "evidence") -> set[str]:
    """Every artifact file under a run's folder (recursively)."""
    found: set[str] = set()
    for info in client.list_artifacts(run_id, folder):
        found |= artifact_files(client, run_id, info.path) if info.is_dir else {info.path}
    return found


def test_first_passing_version_becomes_champion_then_better_one_replaces_it(registry, demo_policy, quick_policy):
    c = registry.client()
    first = promote(BASELINE, quick_policy)
    assert first.outcome is Outcome.PROMOTED and first.champion_before is None and first.champion_after == BASELINE
    assert gate(first, "evaluation").details["has_champion"] is False
    assert flow_run_state(first.flow_run_id) == ("COMPLETED", "Promoted")

    c.set_model_version_tag(MODEL, FULL, "modelgate.reasons", "left by an older modelgate")
    second = promote(FULL, demo_policy)
    assert second.outcome is Outcome.PROMOTED, second.decision.reasons
    assert second.champion_before == BASELINE and second.champion_after == FULL
    # Only race's small groups leave checks inconclusive (which of them depends on the trained weights).
    bias = gate(second, "bias")
    inconclusive = bias.details["inconclusive"]
    assert inconclusive and all(check.startswith("race: ") for check in inconclusive)
    assert bias.summary == f"No confident violation, but {len(inconclusive)} check(s) inconclusive: " + (
        "; ".join(inconclusive) + "."
    )
    assert {g.gate: g.status.value for g in second.gates} == FULL_AGAINST_BASELINE
    assert [g.gate for g in second.gates] == DEMO_GATES
    evaluation = gate(second, "evaluation")
    auc = next(m for m in evaluation.measurements if m.name == "roc_auc")
    assert auc.value > auc.champion_value and auc.interval_low > 0

    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == FULL
    assert str(c.get_model_version_by_alias(MODEL, "previous-champion").version) == BASELINE
    # Exactly the decision's tags (the older modelgate tag is gone; the demo's own tag stays), and the decision
    # line first in the description, above the owner's text.
    tags = c.get_model_version(MODEL, FULL).tags
    assert {k: v for k, v in tags.items() if k.startswith("modelgate.")} == decided_tags(second) | {
        "modelgate.files_sha256": gate(second, "provenance").details["facts"]["judged_digest"],  # stamped once
        "modelgate.files_first_seen": tags["modelgate.files_first_seen"],
    }
    assert tags["modelgate.decision"] == "promote" and tags["modelgate.outcome"] == "promoted"
    assert tags["demo_label"] == "full"
    assert registry.description(FULL) == decided_description(second, demo_description("full"))
    assert registry.description(FULL).startswith(f"**modelgate**: {MODEL} v{FULL}: promoted (champion before: v1). ")
    assert registry.modelgate_tags(BASELINE) == decided_tags(first)

    # The serving manifest of the new champion: in the ledger run, beside the local report, valid for KServe.
    manifest_text = c.download_artifacts(second.ledger_run_id, "evidence/inferenceservice.yaml")
    manifest = yaml.safe_load(open(manifest_text).read())
    assert problems(manifest) == []
    assert local_manifest_path(MODEL, FULL).read_text() == open(manifest_text).read()
    model = manifest["spec"]["predictor"]["model"]
    assert model["storageUri"] == c.get_model_version_download_uri(MODEL, FULL)
    assert manifest["metadata"]["annotations"]["serving.modelgate.io/model-uri"] == f"models:/{MODEL}/{FULL}"
    assert manifest["metadata"]["annotations"]["serving.modelgate.io/ledger-run"] == second.ledger_run_id
    peak = gate(second, "latency").details["host_memory_peak_mib"]
    assert 100 < peak < 4096  # the judging process, with torch, pandas and the model loaded
    assert model["resources"] == {
        "requests": {"cpu": "1", "memory": f"{math.ceil(peak)}Mi"},
        "limits": {"memory": f"{math.ceil(peak * 1.5)}Mi"},
    }


def test_worse_candidate_is_rejected_with_reasons_and_evidence(registry, demo_policy, quick_policy):
    promote(FULL, quick_policy)
    outcome = promote(WORSE, demo_policy)
    assert outcome.outcome is Outcome.REJECTED and outcome.exit_code == 1
    assert outcome.decision.failing_gates == ("evaluation",)
    assert flow_run_state(outcome.flow_run_id) == ("FAILED", "Rejected")
    c = registry.client()
    assert str(c.get_model_version_by_alias(MODEL, "champion").version) == FULL
    assert registry.modelgate_tags(WORSE) == decided_tags(outcome)
    description = registry.description(WORSE)
    assert description == decided_description(outcome, demo_description("relationship-only"))
    assert description.startswith(
        f"**modelgate**: {MODEL} v{WORSE}: rejected (champion before: v{FULL}) - failed: evaluation. "
    )
    assert "roc_auc" in description.split("\n", 1)[0]

    run = c.get_run(outcome.ledger_run_id)
    assert run.info.status == "FINISHED"
    assert "evidence/inferenceservice.yaml" not in artifact_files(c, outcome.ledger_run_id)  # promotions only
    assert run.data.tags["modelgate.prior_champion"] == FULL
    assert run.data.tags["modelgate.decision"] == "reject" and run.data.tags["modelgate.outcome"] == "rejected"
    assert run.data.tags["modelgate.evaluation_key"] == outcome.evaluation_key
    assert {k: v for k, v in run.data.tags.items() if k.startswith("modelgate.gate.")} == {
        f"modelgate.gate.{g.gate}": g.status.value for g in outcome.gates
    }
    for m in gate(outcome, "evaluation").measurements:  # all have a champion value here: v6 is champion
        assert run.data.metrics[f"evaluation.{m.name}.candidate"] == six_digits(m.value)
        assert run.data.metrics[f"evaluation.{m.name}.champion"] == six_digits(m.champion_value)
        assert run.data.metrics[f"evaluation.{m.name}.difference"] == six_digits(m.value - m.champion_value)
    assert run.data.params["model_name"] == MODEL
    assert run.data.params["gates.evaluation.metrics.roc_auc.threshold"] == "0.8"
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "adult_eval.csv.gz"
    assert [(t.key, t.value) for t in dataset.tags] == [("mlflow.data.context", "eval")]

    files = artifact_files(c, run.info.run_id)
    top = {f for f in files if f.count("/") == 1}
    assert top == {
        "evidence/decision.json",
        "evidence/summary.md",
        "evidence/policy.yaml",
        "evidence/report.html",
    }
    assert {f for f in files if f.startswith("evidence/gates/")} == {f"evidence/gates/{g}.json" for g in DEMO_GATES}
    assert {f.split("/")[2] for f in files if f.startswith("evidence/reports/")} == {
        "bias",
        "classification",
        "data_validation",
        "drift",
        "robustness",
    }
    local = c.download_artifacts(run.info.run_id, "evidence", str(registry.root))
    with open(f"{local}/gates/evaluation.json") as fh:
        assert json.load(fh)["status"] == "failed"
    with open(f"{local}/decision.json") as fh:
        decision = json.load(fh)
    recorded = outcome.model_dump(mode="json")
    assert decision["report_links"] == {"report": outcome.report_links["report"]}
    assert {k: v for k, v in decision.items() if k != "report_links"} == {
        k: v for k, v in recorded.items() if k != "report_links"
    }
    with open(f"{local}/policy.yaml") as fh:
        assert yaml.safe_load(fh)["model_name"] == MODEL
    with open(f"{local}/summary.md") as fh:
        summary = fh.read()
    assert summary.startswith(f"# {MODEL} v{WORSE}: REJECTED\n")
    note = run.data.tags["mlflow.note.content"]  # the run's description: the summary, cut to MLflow's limit
    assert note == (summary if len(summary) <= 8000 else summary[: 8000 - len(NOTE_CUT)] + NOTE_CUT)


def test_prefect_artifacts_hold_summary_and_gate_table(registry, quick_policy):
    outcome = promote(BASELINE, quick_policy)
    summary = read_artifact("promotion-adult-income-v1", outcome.flow_run_id)
    assert summary.data.startswith(f"# {MODEL} v{BASELINE}: PROMOTED\n")
    table = read_artifact("gate-evaluation-adult-income-v1", outcome.flow_run_id)
    assert "roc_auc" in str(table.data)


def test_dry_run_decides_but_writes_nothing(registry, demo_policy, quick_policy):
    promote(BASELINE, quick_policy)
    before = registry.snapshot()
    outcome = promote(FULL, demo_policy, dry_run=True)
    assert outcome.outcome is Outcome.DRY_RUN and outcome.decision.verdict.value == "promote"
    assert outcome.exit_code == 0 and outcome.ledger_run_id is None
    assert flow_run_state(outcome.flow_run_id) == ("COMPLETED", "DryRun")
    assert registry.snapshot() == before  # no tag, alias, ledger run, or cached gate result


def test_history_lists_every_attempt(registry, demo_policy, quick_policy):
    from tasks.ledger import history

    outcomes = [promote(BASELINE, quick_policy), promote(WORSE, quick_policy), promote(FULL, demo_policy)]
    entries = history(MODEL, "model-promotions")
    assert [(e.version, e.outcome, e.status) for e in entries] == [
        (BASELINE, "promoted", "FINISHED"),
        (WORSE, "rejected", "FINISHED"),
        (FULL, "promoted", "FINISHED"),
    ]
    assert [e.run_id for e in entries] == [o.ledger_run_id for o in outcomes]
    assert entries[2].prior_champion == BASELINE and entries[2].champion_after == FULL
    assert [e.gates for e in entries] == [{"evaluation": "passed"}, {"evaluation": "failed"}, FULL_AGAINST_BASELINE]


def test_candidate_that_raises_at_predict_time_is_rejected_not_crashed(registry, demo_policy, quick_policy):
    from tests.integration.models import log_raising_model

    promote(BASELINE, quick_policy)
    version = log_raising_model(MODEL)
    outcome = promote(version, demo_policy)
    assert outcome.outcome is Outcome.REJECTED and outcome.decision.failing_gates == ("evaluation",)
    evaluation = gate(outcome, "evaluation")
    assert evaluation.status.value == "errored"
    assert evaluation.details["error"] == (
        f"candidate v{version} raised at predict time: RuntimeError: scoring backend unavailable"
    )
    skipped = {g.gate: g.summary for g in outcome.gates if g.status.value == "skipped"}
    reason = (
        "skipped: the candidate could not be scored (raised at predict time: RuntimeError: scoring backend unavailable)"
    )
    assert skipped == {name: reason for name in ("output_check", "bias", "robustness", "latency")}
    run = registry.client().get_run(outcome.ledger_run_id)
    assert run.data.tags["modelgate.gate.evaluation"] == "errored"
    assert registry.modelgate_tags(version) == decided_tags(outcome)


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
        promote(version, policy, model=model)
    assert registry.snapshot() == before


def test_version_not_ready_is_bad_input(registry, demo_policy):
    registry.set_status(FULL, "PENDING_REGISTRATION")
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="PENDING_REGISTRATION, not READY"):
        promote(FULL, demo_policy)
    assert registry.snapshot() == before


def test_policy_for_another_model_is_bad_input(registry, demo_policy):
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="governs 'adult-income', not 'other'"):
        promote("1", demo_policy, model="other")
    assert registry.snapshot() == before


def _policy_with_data(demo_policy: str, tmp_path, frame) -> str:
    data = tmp_path / "eval.csv"
    frame.to_csv(data, index=False)
    text = absolute_paths(open(demo_policy).read(), demo_policy)
    text = text.replace(str(ROOT / "data/uci-adult/adult_eval.csv.gz"), str(data))
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda f: f.drop(columns=["income_gt_50k"]), "target column 'income_gt_50k' is missing"),
        (lambda f: f.drop(columns=["age"]), "model input column 'age' (long) is missing from the eval data"),
        (
            lambda f: f.assign(age="old"),
            "column 'age' holds text where the model expects long: 'old', 'old', 'old' and 497 more",
        ),
        (lambda f: f.head(0), "eval data has no rows"),
    ],
)
def test_bad_eval_data_is_bad_input(registry, demo_policy, tmp_path, mutate, problem):
    from demo.adult_data import load_eval

    policy = _policy_with_data(demo_policy, tmp_path, mutate(load_eval().head(500)))
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="^" + re.escape(f"eval data {tmp_path / 'eval.csv'} for v1: {problem}")):
        promote(BASELINE, policy)
    assert registry.snapshot() == before


def test_missing_eval_file_is_bad_input(registry, demo_policy, tmp_path):
    text = absolute_paths(open(demo_policy).read(), demo_policy)
    text = text.replace(str(ROOT / "data/uci-adult/adult_eval.csv.gz"), str(tmp_path / "nope.csv"))
    (tmp_path / "p.yaml").write_text(text)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="eval data not found"):
        promote(BASELINE, str(tmp_path / "p.yaml"))
    assert registry.snapshot() == before


def test_version_already_champion_is_bad_input(registry, demo_policy, quick_policy):
    promote(BASELINE, quick_policy)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="version 1 is already the champion of 'adult-income'"):
        promote(BASELINE, demo_policy)
    assert registry.snapshot() == before
