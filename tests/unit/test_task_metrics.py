"""Multiclass and regression metrics equal scikit-learn's, and bootstrap weights behave like repeated rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from gates.bootstrap import resample_weights
from gates.policy import LOWER_IS_BETTER
from gates.task_metrics import (
    MULTICLASS_METRICS,
    REGRESSION_METRICS,
    MulticlassRows,
    RegressionRows,
    compute_task,
)

N = 400
TOP_K = 2
RESAMPLES_CHECKED = [0, 7, 16, 39]  # across the 16-row chunks of resample_weights
pytestmark = pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # sklearn, on purpose


def multiclass_case(k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and softmax probabilities where class k-1 is absent from y and class k-2 is never predicted."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k - 1, N)
    logits = rng.normal(size=(N, k)) + 1.5 * np.eye(k)[y]
    logits[:, k - 2] -= 20  # never the argmax
    logits[:, k - 1] += 0.5  # predicted now and then, never true
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    predicted = set(np.argmax(proba, axis=1).tolist())
    assert k - 2 not in predicted and k - 1 in predicted and k - 1 not in set(y.tolist())
    return y, proba


def sklearn_multiclass(name: str, y: np.ndarray, proba: np.ndarray) -> float:
    k = proba.shape[1]
    pred = np.argmax(proba, axis=1)
    reference = {
        "accuracy": lambda: skm.accuracy_score(y, pred),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred),
        "f1_macro": lambda: skm.f1_score(y, pred, average="macro", zero_division=0),
        "f1_weighted": lambda: skm.f1_score(y, pred, average="weighted", zero_division=0),
        "precision_macro": lambda: skm.precision_score(y, pred, average="macro", zero_division=0),
        "recall_macro": lambda: skm.recall_score(y, pred, average="macro", zero_division=0),
        "log_loss": lambda: skm.log_loss(y, proba, labels=range(k)),
        "top_k_accuracy": lambda: skm.top_k_accuracy_score(y, proba, k=TOP_K, labels=range(k)),
    }
    return float(reference[name]())


def regression_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets well away from zero (MAPE as scikit-learn computes it) and noisy predictions."""
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 5, N)
    y = np.where(np.abs(y) < 0.5, 0.5 + np.abs(y), y)
    return y, y + rng.normal(0.3, 2, N)


SKLEARN_REGRESSION = {
    "rmse": lambda y, p: np.sqrt(skm.mean_squared_error(y, p)),
    "mae": skm.mean_absolute_error,
    "r2": skm.r2_score,
    "mape": skm.mean_absolute_percentage_error,
    "mean_prediction": lambda y, p: np.mean(p),
    "max_error": skm.max_error,
}


def bootstrap_weights(seed: int) -> np.ndarray:
    return np.concatenate(list(resample_weights(N, 40, seed)))


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("name", MULTICLASS_METRICS)
def test_multiclass_matches_sklearn(k, name):
    y, proba = multiclass_case(k, seed=k)
    assert compute_task(name, MulticlassRows(y, proba, top_k=TOP_K)) == pytest.approx(
        sklearn_multiclass(name, y, proba), abs=1e-9
    )


@pytest.mark.parametrize("k", [3, 5])
def test_multiclass_resamples_equal_repeated_rows(k):
    y, proba = multiclass_case(k, seed=10 + k)
    weights = bootstrap_weights(seed=k)
    got = MulticlassRows(y, proba, top_k=TOP_K).values(list(MULTICLASS_METRICS), weights)
    assert all(values.shape == (40,) for values in got.values())
    for r in RESAMPLES_CHECKED:
        idx = np.repeat(np.arange(N), weights[r].astype(int))
        for name in MULTICLASS_METRICS:
            expected = sklearn_multiclass(name, y[idx], proba[idx])
            assert got[name][r] == pytest.approx(expected, abs=1e-9), (name, r)


def test_macro_averages_skip_classes_neither_true_nor_predicted():
    """Class 2 has no rows and no predictions: it is left out of the macro averages, as in scikit-learn."""
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    rows = MulticlassRows(y, proba)
    assert compute_task("recall_macro", rows) == 0.5
    assert compute_task("f1_macro", rows) == 0.5
    assert compute_task("top_k_accuracy", rows) == 1.0
    np.testing.assert_array_equal(rows.per_class_recall(), [0.5, 0.5, 0.0])


def test_top_k_ties_go_to_the_lower_class_index():
    y = np.array([0, 2])
    proba = np.array([[0.2, 0.4, 0.4], [0.2, 0.4, 0.4]])  # classes 1 and 2 tie for first place
    assert compute_task("top_k_accuracy", MulticlassRows(y, proba, top_k=1)) == 0.0
    assert compute_task("accuracy", MulticlassRows(y, proba)) == 0.0


@pytest.mark.parametrize("k", [3, 5])
def test_per_class_recall_matches_sklearn(k):
    y, proba = multiclass_case(k, seed=k)
    expected = skm.recall_score(y, np.argmax(proba, axis=1), labels=range(k), average=None, zero_division=0)
    np.testing.assert_allclose(MulticlassRows(y, proba).per_class_recall(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", REGRESSION_METRICS)
def test_regression_matches_sklearn(name):
    y, pred = regression_case(seed=3)
    expected = float(SKLEARN_REGRESSION[name](y, pred))
    assert compute_task(name, RegressionRows(y, pred)) == pytest.approx(expected, abs=1e-9)


def test_regression_resamples_equal_repeated_rows():
    y, pred = regression_case(seed=4)
    weights = bootstrap_weights(seed=4)
    got = RegressionRows(y, pred).values(list(REGRESSION_METRICS), weights)
    assert all(values.shape == (40,) for values in got.values())
    for r in RESAMPLES_CHECKED:
        idx = np.repeat(np.arange(N), weights[r].astype(int))
        for name in REGRESSION_METRICS:
            expected = float(SKLEARN_REGRESSION[name](y[idx], pred[idx]))
            assert got[name][r] == pytest.approx(expected, abs=1e-9), (name, r)


def test_mape_leaves_out_near_zero_targets():
    y = np.array([0.0, 1e-10, 2.0, -4.0])
    pred = np.array([1.0, 1.0, 3.0, -5.0])
    assert compute_task("mape", RegressionRows(y, pred)) == (0.5 + 0.25) / 2
    assert compute_task("mape", RegressionRows(y, pred, mape_floor=3.0)) == 0.25
    assert np.isnan(compute_task("mape", RegressionRows(y, pred, mape_floor=10.0)))  # no row qualifies
    # With no floor, only scikit-learn's own guard is left, and the values agree.
    unguarded = compute_task("mape", RegressionRows(y, pred, mape_floor=0.0))
    assert unguarded == pytest.approx(skm.mean_absolute_percentage_error(y, pred), rel=1e-12)


def test_max_error_and_r2_over_drawn_rows():
    y = np.array([1.0, 2.0, 3.0, 3.0])
    pred = np.array([5.0, 2.5, 3.0, 2.0])
    w = np.array([[0.0, 1.0, 1.0, 0.0], [0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    got = RegressionRows(y, pred).values(["max_error", "r2"], w)
    np.testing.assert_array_equal(got["max_error"][:2], [0.5, 1.0])
    assert np.isnan(got["max_error"][2])
    assert got["r2"][0] == pytest.approx(skm.r2_score([2.0, 3.0], [2.5, 3.0]), abs=1e-12)
    assert np.isnan(got["r2"][1]) and np.isnan(got["r2"][2])  # constant y over the drawn rows; nothing drawn


def test_unknown_metric_raises_key_error():
    y, proba = multiclass_case(3, seed=0)
    with pytest.raises(KeyError):
        MulticlassRows(y, proba).values(["roc_auc"], np.ones((1, N)))
    with pytest.raises(KeyError):
        compute_task("accuracy", RegressionRows(np.ones(3), np.ones(3)))


def test_lower_is_better_names_are_metrics():
    assert LOWER_IS_BETTER <= set(MULTICLASS_METRICS) | set(REGRESSION_METRICS)
