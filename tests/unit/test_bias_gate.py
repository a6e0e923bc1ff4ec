"""The bias gate on tiny hand-made arrays, and a cross-check against fairlearn's own functions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from gates.bias import audit_bias
from gates.bootstrap import resample_weights
from gates.policy import BiasGatePolicy, BiasRule, BootstrapPolicy
from gates.result import GateStatus

ALL = ["demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference", "worst_group_accuracy"]


def policy(**kw) -> BiasGatePolicy:
    base = {"sensitive_features": ["g"], "min_group_size": 1, "bootstrap": BootstrapPolicy(resamples=200)}
    base["metrics"] = kw.pop("metrics", {m: BiasRule() for m in ALL})
    return BiasGatePolicy(**{**base, **kw})


def feature(result, name: str) -> dict:
    return next(f for f in result.details["features"] if f["feature"] == name)


def test_known_answers_on_eight_rows():
    # group a: 4 rows, predictions select 3 (rate .75); group b: 4 rows, select 1 (rate .25)
    frame = pd.DataFrame({"g": list("aaaabbbb")})
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    pred = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    result = audit_bias(frame, y, pred, None, policy())
    metrics = feature(result, "g")["metrics"]
    assert metrics["demographic_parity_difference"]["candidate"] == pytest.approx(0.5)
    assert metrics["demographic_parity_ratio"]["candidate"] == pytest.approx(1 / 3)
    # TPR a = 1, b = .5 ; FPR a = .5, b = 0 -> worst case .5
    assert metrics["equalized_odds_difference"]["candidate"] == pytest.approx(0.5)
    # accuracy a = 3/4, b = 3/4
    assert metrics["worst_group_accuracy"]["candidate"] == pytest.approx(0.75)
    groups = {g["group"]: g for g in feature(result, "g")["groups"]}
    assert groups["a"]["selection_rate"] == 0.75 and groups["b"]["true_positive_rate"] == 0.5


def test_matches_fairlearn_on_random_data_including_intersections():
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n, p=[0.35, 0.65]), "race": rng.choice(list("abcd"), n)})
    y = rng.integers(0, 2, n)
    pred = (rng.random(n) < 0.25 + 0.2 * (frame.sex == "M")).astype(int)
    result = audit_bias(frame, y, pred, None, policy(sensitive_features=["sex", "race"]))
    for name, sf in [("sex", frame.sex), ("race", frame.race), ("sex x race", frame[["sex", "race"]])]:
        m = feature(result, name)["metrics"]
        assert m["demographic_parity_difference"]["candidate"] == pytest.approx(
            demographic_parity_difference(y, pred, sensitive_features=sf)
        )
        assert m["demographic_parity_ratio"]["candidate"] == pytest.approx(
            demographic_parity_ratio(y, pred, sensitive_features=sf)
        )
        assert m["equalized_odds_difference"]["candidate"] == pytest.approx(
            equalized_odds_difference(y, pred, sensitive_features=sf)
        )
        group_min = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=pred, sensitive_features=sf).group_min()
        assert m["worst_group_accuracy"]["candidate"] == pytest.approx(group_min)


def _biased(n=4000, seed=2):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": rng.choice(["a", "b"], n)})
    y = rng.integers(0, 2, n)
    fair = np.where(rng.random(n) < 0.8, y, 1 - y)
    biased = np.where(frame.g.eq("b"), 0, fair)
    return frame, y, fair, biased


def test_confident_violation_fails_and_worsening_vs_champion_is_judged():
    frame, y, fair, biased = _biased()
    rules = {"demographic_parity_difference": BiasRule(limit=0.1, max_worsening=0.05)}
    result = audit_bias(frame, y, biased, fair, policy(metrics=rules))
    assert result.status is GateStatus.FAILED
    checks = feature(result, "g")["metrics"]["demographic_parity_difference"]["checks"]
    assert [c["verdict"] for c in checks] == ["fail", "fail"]
    assert audit_bias(frame, y, fair, biased, policy(metrics=rules)).status is GateStatus.PASSED


def test_small_noisy_groups_are_inconclusive_not_failed():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40})
    y = rng.integers(0, 2, 80)
    pred = rng.integers(0, 2, 80)
    point = demographic_parity_difference(y, pred, sensitive_features=frame.g)
    rules = {"demographic_parity_difference": BiasRule(limit=point)}  # the limit sits right on the estimate
    warn = audit_bias(frame, y, pred, None, policy(metrics=rules))
    assert warn.status is GateStatus.WARNED and warn.details["inconclusive"]
    assert audit_bias(frame, y, pred, None, policy(metrics=rules, inconclusive="fail")).status is GateStatus.FAILED
    assert audit_bias(frame, y, pred, None, policy(metrics=rules, inconclusive="pass")).status is GateStatus.PASSED


def test_groups_below_min_size_are_shown_not_judged():
    frame = pd.DataFrame({"g": ["a"] * 50 + ["b"] * 50 + ["c"] * 3})
    y = np.array([0, 1] * 51 + [1])
    pred = np.concatenate([y[:100], [0, 0, 0]])  # group c is all wrong, but tiny
    result = audit_bias(frame, y, pred, None, policy(min_group_size=10))
    f = feature(result, "g")
    assert f["not_judged"] == ["c"]
    assert [g["group"] for g in f["groups"]] == ["a", "b", "c"]
    assert f["metrics"]["worst_group_accuracy"]["candidate"] == 1.0


def test_one_group_only_is_skipped_with_reason():
    frame = pd.DataFrame({"g": ["a"] * 20})
    result = audit_bias(frame, np.zeros(20), np.zeros(20), None, policy())
    assert result.status is GateStatus.SKIPPED and "only one group (a)" in result.summary


def test_no_sensitive_features_is_skipped():
    result = audit_bias(pd.DataFrame({"g": ["a"]}), np.zeros(1), np.zeros(1), None, policy(sensitive_features=[]))
    assert result.status is GateStatus.SKIPPED and "no sensitive features" in result.summary


def test_bad_input_arrays_are_errored():
    result = audit_bias(pd.DataFrame({"g": ["a", "b"]}), np.zeros(3), np.zeros(2), None, policy())
    assert result.status is GateStatus.ERRORED


# --- point estimates are fairlearn's, exactly ------------------------------------------------------------

RAW_METRICS = {
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "accuracy": accuracy_score,
    "count": count,
}


def _population(n=2000, seed=7):
    """Two features; group race=d has no positive label (fairlearn gives it TPR 0)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n, p=[0.4, 0.6]), "race": rng.choice(list("abcd"), n)})
    y = np.where(frame.race.eq("d"), 0, rng.integers(0, 2, n))
    cand = (rng.random(n) < 0.3 + 0.2 * frame.sex.eq("M")).astype(int)
    champ = np.where(rng.random(n) < 0.8, y, 1 - y)
    return frame, y, cand, champ


def _raw_by_group(y, pred, sf) -> pd.DataFrame:
    return MetricFrame(metrics=RAW_METRICS, y_true=y, y_pred=pred, sensitive_features=sf).by_group.dropna(how="all")


@pytest.mark.parametrize(("name", "columns"), [("race", ["race"]), ("sex x race", ["sex", "race"])])
def test_point_estimates_and_group_tables_equal_fairlearn_exactly(name, columns):
    frame, y, cand, champ = _population()
    result = audit_bias(frame, y, cand, champ, policy(sensitive_features=["sex", "race"]))
    f = feature(result, name)
    sf = frame[columns]
    for model, pred in (("candidate", cand), ("champion", champ)):
        m = {k: v[model] for k, v in f["metrics"].items()}
        assert m["demographic_parity_difference"] == demographic_parity_difference(y, pred, sensitive_features=sf)
        assert m["demographic_parity_ratio"] == demographic_parity_ratio(y, pred, sensitive_features=sf)
        assert m["equalized_odds_difference"] == equalized_odds_difference(y, pred, sensitive_features=sf)
        raw = _raw_by_group(y, pred, sf)
        assert m["worst_group_accuracy"] == raw["accuracy"].min()
        table = f["by_group"][model]
        assert table["index_names"] == columns
        assert table["columns"] == list(RAW_METRICS)
        assert table["index"] == [list(i) if isinstance(i, tuple) else [i] for i in raw.index]
        assert table["data"] == raw.to_numpy().tolist()
        prefix = "" if model == "candidate" else "champion_"
        rows = {g["group"]: g for g in f["groups"]}
        for index, expected in raw.iterrows():
            row = rows[" & ".join(index) if isinstance(index, tuple) else index]
            assert row["size"] == expected["count"]
            for rate in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"):
                assert row[prefix + rate] == expected[rate]
    assert {g["group"]: g["true_positive_rate"] for g in f["groups"]}.get("d", 0.0) == 0.0


def test_metrics_cover_only_the_judged_groups_as_fairlearn_would_on_their_rows():
    frame = pd.DataFrame({"g": ["a"] * 60 + ["b"] * 50 + ["c"] * 8})
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 118)
    pred = np.where(frame.g.eq("c"), 1 - y, np.where(rng.random(118) < 0.8, y, 1 - y))
    result = audit_bias(frame, y, pred, None, policy(min_group_size=30))
    f = feature(result, "g")
    assert f["not_judged"] == ["c"]
    keep = frame.g.ne("c").to_numpy()
    sf = frame.g[keep]
    assert f["metrics"]["equalized_odds_difference"]["candidate"] == equalized_odds_difference(
        y[keep], pred[keep], sensitive_features=sf
    )
    assert f["metrics"]["worst_group_accuracy"]["candidate"] == (
        MetricFrame(metrics=accuracy_score, y_true=y[keep], y_pred=pred[keep], sensitive_features=sf).group_min()
    )
    assert f["by_group"]["candidate"]["index"] == [["a"], ["b"], ["c"]]  # the table still shows every group


# --- per-group intervals from the paired bootstrap -------------------------------------------------------


def test_group_intervals_are_percentiles_of_the_seeded_paired_draws():
    frame, y, cand, champ = _population(n=600)
    result = audit_bias(frame, y, cand, champ, policy(sensitive_features=["sex"]))
    rows = {g["group"]: g for g in feature(result, "sex")["groups"]}
    weights = np.concatenate(list(resample_weights(600, 200, 0)))
    in_f = frame.sex.eq("F").to_numpy()
    for prefix, pred in (("", cand), ("champion_", champ)):
        rates = (weights @ (in_f * pred)) / (weights @ in_f)
        assert rows["F"][f"{prefix}selection_rate_interval"] == pytest.approx(
            np.quantile(rates, [0.025, 0.975]).tolist(), abs=1e-12
        )
    for g in rows.values():
        for prefix in ("", "champion_"):
            for rate in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"):
                low, high = g[f"{prefix}{rate}_interval"]
                assert low <= g[prefix + rate] <= high


def test_identical_models_have_zero_width_worsening_intervals():
    frame, y, cand, _ = _population(n=500)
    result = audit_bias(frame, y, cand, cand.copy(), policy(sensitive_features=["sex", "race"]))
    for f in result.details["features"]:
        for m in f["metrics"].values():
            assert m["worsening_interval"] == [0.0, 0.0]


def test_details_are_json():
    frame, y, cand, champ = _population(n=300)
    result = audit_bias(frame, y, cand, champ, policy(sensitive_features=["sex", "race"]))
    text = json.dumps(result.model_dump(mode="json"), allow_nan=False)
    assert '"by_group"' in text and '"champion_accuracy_interval"' in text


# --- a candidate that predicts one class -----------------------------------------------------------------


def test_a_candidate_that_never_predicts_positive_is_a_warning_not_a_pass():
    frame, y, _, champ = _population(n=400)
    rules = {"demographic_parity_difference": BiasRule(limit=0.1)}  # 0 in every draw: passes
    result = audit_bias(frame, y, np.zeros(400, dtype=int), champ, policy(sensitive_features=["sex"], metrics=rules))
    assert feature(result, "sex")["metrics"]["demographic_parity_difference"]["checks"][0]["verdict"] == "pass"
    assert result.status is GateStatus.WARNED
    assert result.summary == (
        "The candidate never predicts the positive class (all 400 rows predicted 0): every group's selection rate "
        "is 0, so the fairness metrics say nothing about fairness. "
        "The fairness checks pass on 1 audited feature(s), but that means nothing here."
    )
    assert result.details["single_class_prediction"] == 0


def test_a_candidate_that_always_predicts_positive_and_fails_a_check_fails_and_says_why():
    frame, y, _, champ = _population(n=400)
    rules = {"worst_group_accuracy": BiasRule(limit=0.9)}
    result = audit_bias(frame, y, np.ones(400, dtype=int), champ, policy(sensitive_features=["sex"], metrics=rules))
    assert result.status is GateStatus.FAILED
    assert result.summary.startswith(
        "The candidate never predicts the negative class (all 400 rows predicted 1): every group's selection rate "
        "is 1, so the fairness metrics say nothing about fairness. 1 fairness check(s) failed: sex: "
        "worst_group_accuracy >= 0.9 (fail)."
    )
    assert result.details["single_class_prediction"] == 1


def test_a_model_predicting_both_classes_has_no_single_class_note():
    frame, y, cand, _ = _population(n=400)
    result = audit_bias(frame, y, cand, None, policy(sensitive_features=["sex"]))
    assert result.details["single_class_prediction"] is None and "never predicts" not in result.summary
