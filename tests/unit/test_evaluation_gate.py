"""The evaluation gate: thresholds, MLflow change semantics, and the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from gates.bootstrap import paired_differences
from gates.evaluation import evaluate
from gates.policy import BootstrapPolicy, EvaluationGatePolicy, MetricRule
from gates.result import GateStatus


def _data(n: int, seed: int = 0, noise: float = 0.6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    good = np.clip(0.5 * y + noise * rng.random(n) + 0.2 * (1 - noise), 0, 1)
    return y, good, rng


def _policy(**rules) -> EvaluationGatePolicy:
    return EvaluationGatePolicy(
        metrics={k: MetricRule(**v) for k, v in rules.items()}, bootstrap=BootstrapPolicy(resamples=300)
    )


def test_absolute_threshold_without_champion():
    y, s, _ = _data(1000)
    result = evaluate(y, s, None, _policy(accuracy={"threshold": 0.99}))
    assert result.status is GateStatus.FAILED and "fails threshold >= 0.99" in result.summary
    result = evaluate(y, s, None, _policy(accuracy={"threshold": 0.5, "min_absolute_change": 0.01}))
    assert result.status is GateStatus.PASSED
    assert result.measurements[0].note == "no champion: judged on absolute thresholds only"


def test_clear_improvement_passes_and_interval_excludes_zero():
    y, good, rng = _data(4000)
    weak = np.clip(good + rng.normal(scale=0.35, size=y.shape), 0, 1)
    result = evaluate(y, good, weak, _policy(roc_auc={"min_absolute_change": 0.01}))
    assert result.status is GateStatus.PASSED, result.summary
    m = result.measurements[0]
    assert m.difference > 0.01 and 0 < m.interval_low < m.difference < m.interval_high


def test_improvement_within_noise_cannot_promote():
    # Two draws of the same noisy scorer on few rows: the point gain may clear min_absolute_change,
    # but the paired interval straddles zero, so the gate fails.
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    base = 0.3 * y + 0.7 * rng.random(120)
    cand = np.clip(base + rng.normal(scale=0.05, size=120), 0, 1)
    champ = np.clip(base + rng.normal(scale=0.05, size=120), 0, 1)
    gain = paired_differences(["roc_auc"], y, cand, champ, resamples=500, confidence=0.95, seed=0)["roc_auc"]
    assert gain.low < 0 < gain.high
    rule = {"min_absolute_change": min(abs(gain.estimate), 0.0001) or 0.0001}
    result = evaluate(
        y, cand if gain.estimate > 0 else champ, champ if gain.estimate > 0 else cand, _policy(roc_auc=rule)
    )
    assert result.status is GateStatus.FAILED
    assert "within noise" in result.summary or "within noise" in result.measurements[0].note


def test_min_relative_change_and_lower_is_better():
    y, good, rng = _data(3000)
    worse = np.clip(good + rng.normal(scale=0.3, size=y.shape), 0, 1)
    result = evaluate(y, worse, good, _policy(log_loss={"max_regression": 0.01}))
    assert result.status is GateStatus.FAILED and "log_loss may be worse" in result.summary
    result = evaluate(y, good, worse, _policy(log_loss={"min_relative_change": 0.05}))
    assert result.status is GateStatus.PASSED, result.summary


def test_non_inferiority_accepts_equal_model():
    y, good, _ = _data(3000)
    result = evaluate(y, good, good.copy(), _policy(accuracy={"max_regression": 0.005}))
    assert result.status is GateStatus.PASSED
    assert result.measurements[0].interval_low == 0 == result.measurements[0].interval_high


def test_non_blocking_failure_is_a_warning():
    y, s, _ = _data(500)
    policy = EvaluationGatePolicy(blocking=False, metrics={"accuracy": MetricRule(threshold=0.99)})
    assert evaluate(y, s, None, policy).status is GateStatus.WARNED


@pytest.mark.parametrize(
    ("scores", "error"),
    [(np.array([0.5, np.nan, 0.1]), "NaN"), (np.array([0.5, 0.2]), "2 candidate scores for 3 labels")],
)
def test_bad_scores_are_errored_not_raised(scores, error):
    result = evaluate(np.array([0, 1, 0]), scores, None, _policy(accuracy={"threshold": 0.5}))
    assert result.status is GateStatus.ERRORED and error in result.details["error"]


def test_bootstrap_is_seeded_and_paired():
    y, good, rng = _data(800)
    other = np.clip(good + rng.normal(scale=0.2, size=y.shape), 0, 1)
    a = paired_differences(["accuracy", "roc_auc"], y, good, other, resamples=200, confidence=0.9, seed=1)
    b = paired_differences(["accuracy", "roc_auc"], y, good, other, resamples=200, confidence=0.9, seed=1)
    assert a == b
    same = paired_differences(["roc_auc"], y, good, good, resamples=200, confidence=0.9, seed=1)["roc_auc"]
    assert same.low == same.high == same.estimate == 0.0
