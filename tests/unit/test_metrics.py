"""Weighted metrics equal scikit-learn's, and weights behave like repeated rows."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from gates.metrics import METRICS, compute

RNG = np.random.default_rng(7)
Y = RNG.integers(0, 2, 2000)
SCORES = np.clip(0.35 * Y + 0.65 * RNG.random(2000), 0, 1)
TIED = np.round(SCORES, 1)  # many ties

REFERENCE = {
    "accuracy": lambda y, s: skm.accuracy_score(y, s >= 0.5),
    "precision": lambda y, s: skm.precision_score(y, s >= 0.5, zero_division=0),
    "recall": lambda y, s: skm.recall_score(y, s >= 0.5, zero_division=0),
    "f1": lambda y, s: skm.f1_score(y, s >= 0.5, zero_division=0),
    "roc_auc": skm.roc_auc_score,
    "log_loss": skm.log_loss,
}


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("scores", [SCORES, TIED], ids=["distinct", "tied"])
def test_matches_sklearn(name, scores):
    assert compute(name, Y, scores) == pytest.approx(REFERENCE[name](Y, scores), abs=1e-12)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_integer_weights_equal_repeated_rows(name):
    weights = RNG.integers(0, 4, Y.shape[0]).astype(float)
    repeated = np.repeat(np.arange(Y.shape[0]), weights.astype(int))
    weighted = float(METRICS[name](Y, TIED, weights, 0.5))
    assert weighted == pytest.approx(compute(name, Y[repeated], TIED[repeated]), abs=1e-12)


def test_batched_weights_give_one_value_per_row():
    w = np.ones((3, Y.shape[0]))
    assert METRICS["roc_auc"](Y, SCORES, w, 0.5).shape == (3,)


def test_known_small_answers():
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.6, 0.4, 0.9])
    assert compute("accuracy", y, s) == 0.5
    assert compute("roc_auc", y, s) == 0.75  # 3 of 4 positive/negative pairs ordered correctly
    assert compute("precision", y, np.zeros(4)) == 0.0  # nothing predicted positive
    assert np.isnan(compute("roc_auc", np.ones(4), s))  # one class only


@pytest.mark.parametrize("scores", [SCORES, TIED], ids=["distinct", "tied"])
def test_scored_rows_give_every_metric_as_the_functions_do(scores):
    """The bootstrap's prepared path: one value per weights row, equal to each metric function's."""
    from gates.metrics import ScoredRows

    weights = np.random.default_rng(1).integers(0, 3, (5, len(Y))).astype(float)
    got = ScoredRows(Y, scores, 0.5).values(sorted(METRICS), weights)
    for name, fn in METRICS.items():
        np.testing.assert_allclose(got[name], fn(Y, scores, weights, 0.5), rtol=0, atol=1e-12)


@pytest.mark.parametrize("scores", [SCORES, TIED], ids=["distinct", "tied"])
def test_whole_data_counts_equal_the_unit_weighted_metrics(scores):
    """Every row counted once (the large-eval path: counts and a sorted-class AUC) equals the weighted path."""
    from gates.metrics import ScoredRows, roc_auc_unweighted

    rows = ScoredRows(Y, scores, 0.5)
    got = rows.whole(sorted(METRICS))
    want = rows.values(sorted(METRICS), np.ones((1, len(Y))))
    assert got == pytest.approx({name: float(v[0]) for name, v in want.items()}, abs=1e-12)
    assert roc_auc_unweighted(Y, scores) == pytest.approx(skm.roc_auc_score(Y, scores), abs=1e-12)
    assert np.isnan(roc_auc_unweighted(np.zeros(4), scores[:4]))
    assert ScoredRows(np.array([1, 0]), np.array([0.9, 0.9]), 0.5).whole(["precision", "recall", "roc_auc"]) == {
        "precision": 0.5,
        "recall": 1.0,
        "roc_auc": 0.5,
    }


@pytest.mark.parametrize("scores", [SCORES, TIED], ids=["distinct", "tied"])
def test_whole_data_metrics_chunk_by_chunk_equal_the_unit_weighted_ones(scores, monkeypatch):
    """The log loss and the AUC's binary searches a chunk of rows at a time (chunks smaller than the rows here)."""
    from gates import metrics
    from gates.metrics import ScoredRows, roc_auc_unweighted

    monkeypatch.setattr(metrics, "CHUNK", 7)
    rows = ScoredRows(Y, scores, 0.5)
    want = rows.values(sorted(METRICS), np.ones((1, len(Y))))
    assert rows.whole(sorted(METRICS)) == pytest.approx({name: float(v[0]) for name, v in want.items()}, abs=1e-12)
    assert roc_auc_unweighted(Y, scores) == pytest.approx(skm.roc_auc_score(Y, scores), abs=1e-12)


@pytest.mark.parametrize("positive_share", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("decimals", [2, 12])
def test_whole_data_auc_sorting_only_the_smaller_class_equals_sklearns(
    monkeypatch: pytest.MonkeyPatch, positive_share: float, decimals: int
) -> None:
    """Either class the smaller one, with many ties (2 decimals) or almost none, over several chunks of rows."""
    from gates import metrics

    monkeypatch.setattr(metrics, "CHUNK", 97)
    rng = np.random.default_rng(3)
    y = (rng.random(2_000) < positive_share).astype(np.int8)
    scores = np.round(np.clip(0.3 * y + 0.7 * rng.random(2_000), 0, 1), decimals)
    assert metrics.roc_auc_unweighted(y, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
