"""The bias gate for multiclass and regression on seeded synthetic data, cross-checked with pandas groupby."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gates.bias_tasks import audit_multiclass, audit_regression
from gates.policy import BiasGatePolicy
from gates.result import GateStatus

CLASSES = ["cat", "dog", "eel"]


def policy(metrics: dict, features: tuple[str, ...] = ("g", "h"), **kw) -> BiasGatePolicy:
    base = {"sensitive_features": list(features), "intersections": False, "bootstrap": {"resamples": 200}}
    return BiasGatePolicy(**{**base, "metrics": metrics, **kw})


def feature(result, name: str) -> dict:
    return next(f for f in result.details["features"] if f["feature"] == name)


def multiclass_data(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": rng.choice(["a", "b"], n), "h": rng.choice(["x", "y", "z"], n)})
    return frame, rng.integers(0, 3, n)


def noisy(y: np.ndarray, accuracy: float, rng: np.random.Generator) -> np.ndarray:
    """Right with probability `accuracy`, else another class."""
    wrong = rng.random(y.size) >= accuracy
    return np.where(wrong, (y + rng.integers(1, 3, y.size)) % 3, y)


def test_multiclass_accuracy_difference_passes_when_equal_and_fails_naming_the_feature_and_worst_class():
    frame, y = multiclass_data()
    rng = np.random.default_rng(1)
    rules = {"accuracy_difference": {"limit": 0.1}, "demographic_parity_difference": {"limit": 0.1}}
    fair = audit_multiclass(frame, y, noisy(y, 0.9, rng), None, CLASSES, policy(rules))
    assert fair.status == GateStatus.PASSED, fair.summary
    assert fair.details["task"] == "multiclass"
    assert feature(fair, "g")["metrics"]["accuracy_difference"]["checks"] == [{"check": "<= 0.1", "verdict": "pass"}]

    unfair = noisy(y, 0.9, rng)
    in_b = (frame["g"] == "b").to_numpy() & (rng.random(y.size) < 0.8)
    unfair[in_b] = 2  # most of group b predicted 'eel', mostly wrongly
    result = audit_multiclass(frame, y, unfair, None, CLASSES, policy(rules))
    assert result.status == GateStatus.FAILED
    failures = result.details["failures"]
    assert "g: accuracy_difference <= 0.1 (fail)" in failures
    assert "g: demographic_parity_difference (worst class eel) <= 0.1 (fail)" in failures
    assert not any(f.startswith("h:") for f in failures)
    dp = feature(result, "g")["metrics"]["demographic_parity_difference"]
    assert dp["worst_class"] == "eel" and dp["by_class"]["eel"] == max(dp["by_class"].values())
    json.dumps(result.model_dump(mode="json"), allow_nan=False)


def test_multiclass_point_estimates_equal_pandas_groupby():
    frame, y = multiclass_data(2000, seed=2)
    frame.loc[:59, "g"] = "c"
    y[:60] = np.arange(60) % 2  # group c has no 'eel' rows: its TPR for eel is 0 (fairlearn's convention)
    rng = np.random.default_rng(3)
    pred, champ = noisy(y, 0.7, rng), noisy(y, 0.8, rng)
    rules = {m: {} for m in ("accuracy_difference", "worst_group_accuracy", "demographic_parity_difference")}
    rules["equalized_odds_difference"] = {}
    result = audit_multiclass(frame, y, pred, champ, CLASSES, policy(rules, min_group_size=1))
    assert result.details["group_metrics"][0] == "accuracy"
    for name in ("g", "h"):
        entry = feature(result, name)
        groups = {row["group"]: row for row in entry["groups"]}
        for prefix, p in (("", pred), ("champion_", champ)):
            d = pd.DataFrame({"group": frame[name], "hit": y == p})
            expected = {"accuracy": d.groupby("group")["hit"].mean()}
            for k, c in enumerate(CLASSES):
                d = d.assign(pos=y == k, sel=p == k, tp=(y == k) & (p == k), fp=(y != k) & (p == k), neg=y != k)
                s = d.groupby("group")[["pos", "sel", "tp", "fp", "neg"]].sum()
                expected[f"selection_rate[{c}]"] = d.groupby("group")["sel"].mean()
                expected[f"true_positive_rate[{c}]"] = (s["tp"] / s["pos"]).fillna(0.0)
                expected[f"false_positive_rate[{c}]"] = (s["fp"] / s["neg"]).fillna(0.0)
            for key, series in expected.items():
                for group, value in series.items():
                    assert groups[group][prefix + key] == pytest.approx(value, abs=1e-12), (name, group, key)
            acc = expected["accuracy"]
            spread = max(expected[f"selection_rate[{c}]"].pipe(lambda s: s.max() - s.min()) for c in CLASSES)
            odds = max(
                max(expected[f"{r}[{c}]"].max() - expected[f"{r}[{c}]"].min() for r in ("true_positive_rate",
                    "false_positive_rate"))
                for c in CLASSES
            )  # fmt: skip
            field = "candidate" if prefix == "" else "champion"
            metrics = entry["metrics"]
            assert metrics["accuracy_difference"][field] == pytest.approx(acc.max() - acc.min(), abs=1e-12)
            assert metrics["worst_group_accuracy"][field] == pytest.approx(acc.min(), abs=1e-12)
            assert metrics["demographic_parity_difference"][field] == pytest.approx(spread, abs=1e-12)
            assert metrics["equalized_odds_difference"][field] == pytest.approx(odds, abs=1e-12)
    assert feature(result, "g")["groups"][2]["true_positive_rate[eel]"] == 0.0


def regression_data(n: int = 4000, seed: int = 4):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"g": rng.choice(["a", "b"], n), "h": rng.choice(["x", "y"], n)})
    y = 5.0 * rng.normal(size=n) + 20.0
    champion = y + rng.normal(size=n)  # the same error in every group
    scale = np.where(frame["g"] == "b", 2.0, 1.0)
    candidate = y + scale * rng.normal(size=n)  # twice the error in group b
    return frame, y, candidate, champion


def test_regression_group_dependent_error_fails_worsening_in_target_std():
    frame, y, candidate, champion = regression_data()
    result = audit_regression(frame, y, candidate, champion, policy({"mae_difference": {"max_worsening": 0.05}}))
    assert result.status == GateStatus.FAILED
    assert result.details["failures"] == ["g: mae_difference (in target std) worsening vs champion <= 0.05 (fail)"]
    assert result.details["task"] == "regression" and result.details["group_metrics"] == ["mae", "mean_prediction"]
    std = float(np.std(y))
    assert result.details["target_std"] == pytest.approx(std, rel=1e-12)
    for name in ("g", "h"):
        d = pd.DataFrame({"group": frame[name], "err": np.abs(y - candidate), "pred": candidate})
        mae = d.groupby("group")["err"].mean()
        mean_pred = d.groupby("group")["pred"].mean()
        groups = {row["group"]: row for row in feature(result, name)["groups"]}
        for group in mae.index:
            assert groups[group]["mae"] == pytest.approx(mae[group], abs=1e-12)
            assert groups[group]["mean_prediction"] == pytest.approx(mean_pred[group], abs=1e-12)
        m = feature(result, name)["metrics"]["mae_difference"]
        assert m["candidate_raw"] == pytest.approx(mae.max() - mae.min(), abs=1e-12)
        assert m["candidate"] == pytest.approx((mae.max() - mae.min()) / std, abs=1e-12)
        assert m["interval_raw"] == pytest.approx([v * std for v in m["interval"]], rel=1e-12)
    measurement = next(m for m in result.measurements if m.name == "g: mae_difference")
    assert measurement.passed is False and "target std" in measurement.note


def test_regression_other_metrics_and_constant_target():
    frame, y, candidate, _ = regression_data(1000)
    rules = {"worst_group_mae": {"limit": 0.5}, "mean_prediction_difference": {"limit": 0.5}}
    result = audit_regression(frame, y, candidate, None, policy(rules))
    d = pd.DataFrame({"group": frame["g"], "err": np.abs(y - candidate), "pred": candidate})
    metrics = feature(result, "g")["metrics"]
    worst = d.groupby("group")["err"].mean().max()
    assert metrics["worst_group_mae"]["candidate"] == pytest.approx(worst / np.std(y), abs=1e-12)
    means = d.groupby("group")["pred"].mean()
    assert metrics["mean_prediction_difference"]["candidate_raw"] == pytest.approx(means.max() - means.min(), abs=1e-12)

    flat = audit_regression(frame, np.full(y.size, 3.0), candidate, None, policy(rules))
    assert flat.details["unit"] == "target units" and "target units" in flat.summary


def test_without_champion_only_limits_are_judged():
    frame, y = multiclass_data(1500, seed=5)
    rules = {"accuracy_difference": {"limit": 0.2, "max_worsening": 0.01}, "worst_group_accuracy": {"limit": 0.5}}
    result = audit_multiclass(frame, y, noisy(y, 0.85, np.random.default_rng(6)), None, CLASSES, policy(rules))
    assert result.status == GateStatus.PASSED, result.summary
    for metric, m in feature(result, "g")["metrics"].items():
        assert [c["check"] for c in m["checks"]] == [f"{'>=' if metric == 'worst_group_accuracy' else '<='} " + str(
            rules[metric]["limit"])]  # fmt: skip
        assert "champion" not in m and "worsening_interval" not in m
    assert all(m.champion_value is None and m.difference is None for m in result.measurements)
    assert not any(k.startswith("champion_") for k in feature(result, "g")["groups"][0])


def test_constant_prediction_is_warned():
    frame, y = multiclass_data(1000, seed=7)
    rules = {"demographic_parity_difference": {"limit": 0.1}}
    result = audit_multiclass(frame, y, np.ones(y.size, dtype=int), None, CLASSES, policy(rules))
    assert result.status == GateStatus.WARNED
    assert "predicts class 'dog' for all 1,000 rows" in result.summary
    assert result.details["single_value_prediction"] is True

    frame, y, _, _ = regression_data(1000)
    rules = {"mean_prediction_difference": {"limit": 0.1}}
    result = audit_regression(frame, y, np.full(y.size, 20.0), None, policy(rules))
    assert result.status == GateStatus.WARNED
    assert "predicts 20 for all 1,000 rows" in result.summary


def test_same_seed_same_intervals_and_bad_input_errors():
    frame, y, candidate, champion = regression_data(1500)
    rules = {"mae_difference": {"max_worsening": 0.05}}
    runs = [audit_regression(frame, y, candidate, champion, policy(rules, bootstrap={"resamples": 200, "seed": s}))
            for s in (3, 3, 4)]  # fmt: skip
    features = [r.details["features"] for r in runs]
    assert features[0] == features[1]
    assert (
        features[0][0]["metrics"]["mae_difference"]["interval"]
        != features[2][0]["metrics"]["mae_difference"]["interval"]
    )

    mc_frame, mc_y = multiclass_data(500)
    bad = audit_multiclass(mc_frame, mc_y, mc_y + 1, None, CLASSES, policy(rules))
    assert bad.status == GateStatus.ERRORED and "do not apply" in bad.summary
    bad = audit_multiclass(mc_frame, mc_y, mc_y + 1, None, CLASSES, policy({"accuracy_difference": {"limit": 0.1}}))
    assert bad.status == GateStatus.ERRORED and "outside 0..2" in bad.summary
    assert audit_regression(frame, y, candidate, None, policy(rules, features=())).status == GateStatus.SKIPPED
