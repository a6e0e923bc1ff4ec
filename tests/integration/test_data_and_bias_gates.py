"""Data validation, drift and bias gates through the promotion flow, on a real MLflow registry."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from demo.adult_data import load_eval, load_train
from gates.errors import BadInputError
from gates.outcome import Outcome
from tests.conftest import ROOT
from tests.integration.conftest import (
    BASELINE,
    BIASED,
    FULL,
    MODEL,
    absolute_paths,
    flow_run_state,
    gate,
    promote,
    read_artifact,
)

pytestmark = pytest.mark.slow  # several full promotions each: the full suite, not the fast tier

EVAL = str(ROOT / "data/uci-adult/adult_eval.csv.gz")
TRAIN = str(ROOT / "data/uci-adult/adult_train.csv.gz")


def write_policy(tmp_path: Path, demo_policy: str, replace: dict[str, str] | None = None) -> str:
    text = absolute_paths(open(demo_policy).read(), demo_policy)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def test_biased_candidate_is_rejected_by_the_bias_gate_and_fair_one_promoted(registry, demo_policy, quick_policy):
    promote(BASELINE, quick_policy)
    biased = promote(BIASED, demo_policy)
    assert biased.outcome is Outcome.REJECTED
    assert flow_run_state(biased.flow_run_id) == ("FAILED", "Rejected")
    assert gate(biased, "evaluation").status.value == "passed"  # it scores well overall
    assert biased.decision.failing_gates == ("bias",)
    sex = next(f for f in gate(biased, "bias").details["features"] if f["feature"] == "sex")
    eod = sex["metrics"]["equalized_odds_difference"]
    assert eod["candidate"] > eod["champion"] + 0.1
    assert any(c["verdict"] == "fail" for c in eod["checks"])

    fair = promote(FULL, demo_policy)
    assert fair.outcome is Outcome.PROMOTED, fair.decision.reasons
    assert gate(fair, "bias").status.value == "warned"  # FULL_AGAINST_BASELINE in test_promote_flow

    c = registry.client()
    run = c.get_run(biased.ledger_run_id)
    assert run.data.tags["modelgate.gate.bias"] == "failed"
    reports = {a.path for a in c.list_artifacts(run.info.run_id, "evidence/reports/bias")}
    assert "evidence/reports/bias/bias-group-rates.png" in reports
    classification = {a.path for a in c.list_artifacts(run.info.run_id, "evidence/reports/classification")}
    assert f"evidence/reports/classification/classification-v{BIASED}.html" in classification
    drift = {a.path for a in c.list_artifacts(run.info.run_id, "evidence/reports/drift")}
    assert "evidence/reports/drift/drift.html" in drift
    docs = {a.path for a in c.list_artifacts(run.info.run_id, "evidence/reports/data_validation/data-docs")}
    assert "evidence/reports/data_validation/data-docs/index.html" in docs


def test_prefect_table_per_sensitive_feature(registry, demo_policy):
    outcome = promote(BASELINE, demo_policy)
    for key in (
        "gate-bias-sex-adult-income-v1",
        "gate-bias-race-adult-income-v1",
        "gate-bias-sex-x-race-adult-income-v1",
        "gate-drift-adult-income-v1",
        "gate-data-validation-adult-income-v1",
    ):
        assert read_artifact(key, outcome.flow_run_id), key


def test_broken_eval_file_is_rejected_before_any_model_runs(registry, demo_policy, quick_policy, tmp_path):
    promote(BASELINE, quick_policy)
    broken = load_eval()
    broken.loc[::40, "age"] = -1
    path = tmp_path / "broken.csv"
    broken.to_csv(path, index=False)
    outcome = promote(FULL, demo_policy, eval_data=str(path))
    assert outcome.outcome is Outcome.REJECTED and outcome.decision.failing_gates == ("data_validation",)
    dv = gate(outcome, "data_validation")
    failing = [r for r in dv.details["results"] if not r["success"]]
    assert any(r["column"] == "age" and -1 in r["examples"] for r in failing)
    skipped = {g.gate: g.summary for g in outcome.gates if g.status.value == "skipped"}
    model_gates = ("output_check", "evaluation", "bias", "robustness", "latency")
    assert skipped == {name: "skipped: the eval data failed validation" for name in model_gates}
    assert gate(outcome, "evaluation").measurements == ()  # nothing was scored
    assert str(registry.client().get_model_version_by_alias(MODEL, "champion").version) == BASELINE


def test_drift_warns_by_default_and_blocks_when_the_policy_says(registry, demo_policy, tmp_path):
    shifted = load_eval()
    rng = np.random.default_rng(0)
    shifted["hours_per_week"] = np.clip(shifted["hours_per_week"] + rng.integers(5, 15, len(shifted)), 1, 99)
    shifted["capital_gain"] = (shifted["capital_gain"] * 1.05).round().astype("int64")
    shifted["age"] = np.clip(shifted["age"] + 8, 17, 90)
    data = tmp_path / "shifted.csv"
    shifted.to_csv(data, index=False)
    # The shifted ages also move robustness' margins; this test is about drift alone.
    only_drift = {
        "max_drift_share: 0.3": "max_drift_share: 0.1",
        "  robustness:\n": "  robustness:\n    enabled: false\n",
    }
    policy = write_policy(tmp_path, demo_policy, only_drift)
    outcome = promote(BASELINE, policy, dry_run=True, eval_data=str(data))
    drift = gate(outcome, "drift")
    assert drift.status.value == "warned" and "age" in drift.details["drifted"]
    assert outcome.decision.verdict.value == "promote", outcome.decision.reasons
    assert "drift" in outcome.decision.warning_gates

    blocking = write_policy(tmp_path, demo_policy, {**only_drift, "blocking: false": "blocking: true"})
    outcome = promote(BASELINE, blocking, dry_run=True, eval_data=str(data))
    assert outcome.decision.verdict.value == "reject" and outcome.decision.failing_gates == ("drift",)


def test_heavy_reports_are_written_once_per_input_hash(registry, demo_policy):
    first = promote(BASELINE, demo_policy, dry_run=True)
    html = Path(gate(first, "drift").report_files[0])
    stamp = html.stat().st_mtime_ns
    second = promote(BASELINE, demo_policy, dry_run=True)
    assert gate(second, "drift").report_files == gate(first, "drift").report_files
    assert html.stat().st_mtime_ns == stamp
    assert str(html).startswith(os.environ["MODELGATE_HOME"])


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            {"sensitive_features: [sex, race]": "sensitive_features: [sex, religion]"},
            "sensitive feature\\(s\\) named in the policy are not columns of the eval data: religion",
        ),
        ({"suite_files: [": "suite_files: [missing.json, "}, "expectation suite file not found"),
        (
            {"min_rows: 1000": "min_rows: 1000\n    expectations: [{type: expect_moon_to_be_cheese}]"},
            "unknown Great Expectations expectation type\\(s\\): expect_moon_to_be_cheese",
        ),
    ],
)
def test_bad_gate_config_is_bad_input(registry, demo_policy, tmp_path, replace, message):
    policy = write_policy(tmp_path, demo_policy, replace)
    before = registry.snapshot()
    with pytest.raises(BadInputError, match=message):
        promote(BASELINE, policy)
    assert registry.snapshot() == before


def test_several_bad_inputs_report_the_first_in_the_load_order(registry, demo_policy, tmp_path):
    """The eval data is read beside the registry lookups and the suite's check: with both wrong, the data's error
    (read first, as listed) is the one reported, whichever finished first."""
    unknown = {"min_rows: 1000": "min_rows: 1000\n    expectations: [{type: expect_moon_to_be_cheese}]"}
    policy = write_policy(tmp_path, demo_policy, unknown)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="is empty"):
        promote(BASELINE, policy, eval_data=str(empty))
    with pytest.raises(BadInputError, match="unknown Great Expectations expectation type"):
        promote(BASELINE, policy)
    assert registry.snapshot() == before


def test_reference_with_different_columns_is_bad_input(registry, demo_policy, tmp_path):
    ref = tmp_path / "ref.csv"
    load_train().drop(columns=["age", "sex"]).to_csv(ref, index=False)
    policy = write_policy(tmp_path, demo_policy, {TRAIN: str(ref)})
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="lacks column\\(s\\): age, sex"):
        promote(BASELINE, policy)
    assert registry.snapshot() == before


def test_empty_eval_file_is_bad_input(registry, demo_policy, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    before = registry.snapshot()
    with pytest.raises(BadInputError, match="is empty"):
        promote(BASELINE, demo_policy, eval_data=str(empty))
    assert registry.snapshot() == before


def test_single_group_column_is_skipped_with_reason(registry, demo_policy, tmp_path):
    men = load_eval().query("sex == 'Male'")
    data = tmp_path / "men.csv"
    men.to_csv(data, index=False)
    policy = write_policy(tmp_path, demo_policy, {"sensitive_features: [sex, race]": "sensitive_features: [sex]"})
    outcome = promote(BASELINE, policy, dry_run=True, eval_data=str(data))
    bias = gate(outcome, "bias")
    assert bias.status.value == "skipped" and "only one group (Male) in 'sex'" in bias.summary
