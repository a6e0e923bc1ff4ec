"""Per-group metrics of multiclass and regression predictions, for the bias gate of those tasks
(gates/bias_tasks.py).

Multiclass (class indices 0..K-1): per group the accuracy and, one-vs-rest for each class, the selection rate,
true positive rate and false positive rate (fairlearn's conventions: a group without positives of the class has
TPR 0, one without negatives FPR 0). The point estimates come from fairlearn's `MetricFrame` of each group's
(weighted) confusion matrix, on rows collapsed into weights as `group_rates.metric_frame` does (at most
groups x K x K rows); one metric per class and rate would cost 3K + 2 MetricFrame metrics (2 s at K = 10).
Regression: per group the mean absolute error and the mean prediction. The point estimates are exact sums (the
bootstrap's own code with unit weights): MetricFrame copies every value of every column for every metric
(`np.stack`), about 0.2 s per frame at 16k rows, and rows with continuous predictions do not collapse.

Intervals: `bootstrap_values()` uses the same seeded draws for every model (a paired bootstrap); the weighted
sums of every group of every audited feature come from one product weights @ a sparse matrix per chunk of
draws. A group absent from a draw is NaN there, and `fairness()` leaves it out of that draw's max and min.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from gates.bootstrap import resampled_sums
from gates.group_rates import by_group, group_count
from gates.policy import BootstrapPolicy

if TYPE_CHECKING:
    from fairlearn.metrics import MetricFrame

Values = dict[str, NDArray]  # per-group metric key -> array, last axis = groups
CLASS_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")
REGRESSION_KEYS = ("mae", "mean_prediction")


def _ratio(num: NDArray, den: NDArray, present: NDArray) -> NDArray:
    """num / den; 0 where den is 0 in a group that is present (fairlearn's convention), NaN where absent."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.where(present, 0.0, np.nan))


def _spread(values: NDArray) -> NDArray:
    return np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)


def confusion(k: int, y_true: NDArray, y_pred: NDArray, sample_weight: NDArray) -> NDArray:
    """(K, K) weighted confusion matrix, rows the true class: scikit-learn's confusion_matrix(labels=range(k)),
    without its validation (milliseconds a call, once per group, model and feature)."""
    cells = np.asarray(y_true, dtype=np.int64) * k + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(cells, weights=sample_weight, minlength=k * k).reshape(k, k)


class MulticlassRates:
    """Accuracy and the one-vs-rest rates of each class; the fairness metrics take the worst class."""

    task = "multiclass"

    def __init__(self, classes: list[str]) -> None:
        self.classes = [str(c) for c in classes]
        self.keys = ["accuracy"] + [f"{r}[{c}]" for r in CLASS_RATES for c in self.classes]

    def frame(self, columns: pd.DataFrame, y: NDArray, pred: NDArray) -> MetricFrame:
        """fairlearn's MetricFrame of each group's (weighted) confusion matrix, equal rows collapsed into weights."""
        from fairlearn.metrics import MetricFrame

        metrics = {"count": group_count, "confusion_matrix": partial(confusion, len(self.classes))}
        keys = [columns[c] for c in columns.columns]
        keys += [pd.Series(y, index=columns.index), pd.Series(pred, index=columns.index)]
        weights = pd.Series(1.0, index=columns.index).groupby(keys, sort=False).sum()
        index = weights.index
        w = weights.to_numpy()
        return MetricFrame(
            metrics=metrics,
            y_true=index.get_level_values(-2).to_numpy(),
            y_pred=index.get_level_values(-1).to_numpy(),
            sensitive_features=pd.DataFrame({c: index.get_level_values(i) for i, c in enumerate(columns.columns)}),
            sample_params={name: {"sample_weight": w} for name in metrics},
        )

    def table(self, frames: list[MetricFrame]) -> pd.DataFrame:
        """The by_group table of MetricFrames over disjoint groups: count and each per-group metric, derived from
        each group's confusion matrix (rows: true class, columns: predicted class) by `values()`."""
        groups = by_group(frames)
        cms = np.stack(list(groups["confusion_matrix"]))  # (groups, K, K)
        sums = np.concatenate(
            [cms.sum(axis=(1, 2))[None], cms.sum(axis=2).T, cms.sum(axis=1).T, np.diagonal(cms, axis1=1, axis2=2).T]
        )
        return pd.DataFrame({"count": groups["count"], **self.values(sums, 1)[0]}, index=groups.index)

    def blocks(self, y: NDArray, preds: list[NDArray]) -> tuple[int, list[tuple[NDArray, NDArray]]]:
        """Column blocks: rows, each true class, then per model each predicted class and each class's hits."""
        k = len(self.classes)
        ones = np.ones(y.size)
        out = [(np.zeros(y.size, dtype=np.int64), ones), (1 + y, ones)]
        for m, pred in enumerate(preds):
            start = 1 + k + 2 * k * m
            out += [(start + pred, ones), (start + k + pred, (pred == y).astype(float))]
        return 1 + k + 2 * k * len(preds), out

    def values(self, sums: NDArray, models: int) -> list[Values]:
        """Per model, each per-group metric from the weighted sums (..., width, groups)."""
        k = len(self.classes)
        count, positives = sums[..., 0, :], sums[..., 1 : 1 + k, :]
        present = count > 0
        out = []
        for m in range(models):
            start = 1 + k + 2 * k * m
            selected, hits = sums[..., start : start + k, :], sums[..., start + k : start + 2 * k, :]
            rates = {
                "selection_rate": _ratio(selected, count[..., None, :], present[..., None, :]),
                "true_positive_rate": _ratio(hits, positives, present[..., None, :]),
                "false_positive_rate": _ratio(selected - hits, count[..., None, :] - positives, present[..., None, :]),
            }
            model = {"accuracy": _ratio(hits.sum(axis=-2), count, present)}
            for r in CLASS_RATES:
                for i, c in enumerate(self.classes):
                    model[f"{r}[{c}]"] = rates[r][..., i, :]
            out.append(model)
        return out

    def per_class(self, values: Values) -> dict[str, NDArray]:
        """Each class's spread between groups (..., K) for the two metrics that take the worst class."""
        spread = {r: np.stack([_spread(values[f"{r}[{c}]"]) for c in self.classes], axis=-1) for r in CLASS_RATES}
        return {
            "demographic_parity_difference": spread["selection_rate"],
            "equalized_odds_difference": np.maximum(spread["true_positive_rate"], spread["false_positive_rate"]),
        }

    def fairness(self, values: Values) -> dict[str, NDArray]:
        """The multiclass fairness metrics over the groups on the last axis (NaN groups left out)."""
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws give NaN, filtered later
            out = {name: np.nanmax(v, axis=-1) for name, v in self.per_class(values).items()}
            out["accuracy_difference"] = _spread(values["accuracy"])
            out["worst_group_accuracy"] = np.nanmin(values["accuracy"], axis=-1)
        return out


class RegressionRates:
    """Mean absolute error and mean prediction per group, in target units (bias_tasks.py standardises)."""

    task = "regression"
    keys = list(REGRESSION_KEYS)

    def blocks(self, y: NDArray, preds: list[NDArray]) -> tuple[int, list[tuple[NDArray, NDArray]]]:
        """Column blocks: rows, then per model the absolute error and the prediction."""
        out = [(np.zeros(y.size, dtype=np.int64), np.ones(y.size))]
        for m, pred in enumerate(preds):
            out += [(np.full(y.size, 1 + 2 * m), np.abs(y - pred)), (np.full(y.size, 2 + 2 * m), pred)]
        return 1 + 2 * len(preds), out

    def values(self, sums: NDArray, models: int) -> list[Values]:
        count = sums[..., 0, :]
        present = count > 0
        return [
            {
                "mae": _ratio(sums[..., 1 + 2 * m, :], count, present),
                "mean_prediction": _ratio(sums[..., 2 + 2 * m, :], count, present),
            }
            for m in range(models)
        ]

    def per_class(self, values: Values) -> dict[str, NDArray]:
        return {}

    def fairness(self, values: Values) -> dict[str, NDArray]:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {
                "mae_difference": _spread(values["mae"]),
                "worst_group_mae": np.nanmax(values["mae"], axis=-1),
                "mean_prediction_difference": _spread(values["mean_prediction"]),
            }


TaskRates = MulticlassRates | RegressionRates


def _matrix(rates: TaskRates, y: NDArray, preds: list[NDArray], gids: NDArray, groups: int) -> sparse.csr_array:
    """(rows, width x groups): a row's value of each block, in the column of the block and of each of its groups."""
    width, blocks = rates.blocks(y, preds)
    rows, cols, vals = [], [], []
    for block, value in blocks:
        keep = np.nonzero(value)[0]
        for j in range(gids.shape[1]):
            rows.append(keep)
            cols.append(block[keep] * groups + gids[keep, j])
            vals.append(value[keep])
    data = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    return sparse.csr_array(data, shape=(y.size, width * groups))


def group_values(rates: TaskRates, y: NDArray, preds: list[NDArray], gids: NDArray, groups: int) -> list[Values]:
    """Per model, each per-group metric (groups,) on all rows: the bootstrap's sums with unit weights."""
    sums = np.ones(y.size) @ _matrix(rates, y, preds, gids, groups)
    return rates.values(sums.reshape(-1, groups), len(preds))


def bootstrap_values(
    rates: TaskRates, y: NDArray, preds: list[NDArray], gids: NDArray, groups: int, policy: BootstrapPolicy
) -> list[Values]:
    """Per model, each per-group metric in paired draws (resamples, groups): the same weights for every model.

    `gids` (rows, features) holds each row's group in every audited feature, numbered across features.
    """
    matrix = _matrix(rates, y, preds, gids, groups)
    sums = resampled_sums(matrix, policy.resamples, policy.seed)
    return rates.values(sums.reshape(sums.shape[0], -1, groups), len(preds))
