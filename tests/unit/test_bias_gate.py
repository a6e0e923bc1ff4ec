"""The bias gate on tiny hand-made arrays, and a cross-check against fairlearn's own functions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
)
from sklearn.metrics import accuracy_score

from gates.bias import audit_bias
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
