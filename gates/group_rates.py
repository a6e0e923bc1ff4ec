"""Per-group rates of binary predictions: fairlearn's MetricFrame for the point estimates, a paired bootstrap
for the intervals.

Point estimates: `metric_frame()` builds fairlearn's `MetricFrame` with selection rate, TPR, FPR, accuracy
and count per group, and `frame_metrics()` reads the fairness metrics from its `difference()`, `ratio()`
and `group_min()` exactly as fairlearn's scalar functions do. MetricFrame sees one row per distinct
(group, label, prediction), weighted by the eval rows it stands for: the same numbers, and a cost that
does not grow with the rows (fairlearn copies each column value by value, about 1 s per frame at 16k rows).

Intervals: `bootstrap_rates()` draws seeded resamples once and uses the same draws for every model (a
paired bootstrap); per-group counts are weights @ a sparse indicator matrix, and the rates follow
fairlearn's conventions (a group without positives has TPR 0, one without negatives FPR 0; a group
absent from a draw is left out).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from gates.bootstrap import resampled_sums
from gates.policy import BootstrapPolicy

if TYPE_CHECKING:
    from fairlearn.metrics import MetricFrame

RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")
INTERSECTION_SEP = " & "
PREFIXES = {"candidate": "", "champion": "champion_"}  # of a group row's keys


def group_count(y_true: NDArray, y_pred: NDArray, sample_weight: NDArray) -> float:
    """Eval rows in a group (each MetricFrame row is weighted by the eval rows it stands for)."""
    return float(np.sum(sample_weight))


def group_metrics() -> dict[str, Any]:
    """MetricFrame's metrics: fairlearn's rates and scikit-learn's accuracy (imported on first use: seconds)."""
    from fairlearn.metrics import false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score

    return {
        "selection_rate": selection_rate,
        "true_positive_rate": true_positive_rate,
        "false_positive_rate": false_positive_rate,
        "accuracy": accuracy_score,
        "count": group_count,
    }


def metric_frame(columns: pd.DataFrame, y: NDArray, pred: NDArray, weights: NDArray | None = None) -> MetricFrame:
    """fairlearn's MetricFrame of group_metrics() by the sensitive column(s), equal rows collapsed into weights
    (`weights`: how many eval rows each row already stands for)."""
    from fairlearn.metrics import MetricFrame

    metrics = group_metrics()
    keys = [columns[c] for c in columns.columns]
    keys += [pd.Series(y, index=columns.index), pd.Series(pred, index=columns.index)]
    ones = 1.0 if weights is None else np.asarray(weights, dtype=np.float64)
    weights = pd.Series(ones, index=columns.index).groupby(keys, sort=False).sum()
    index = weights.index
    sensitive = pd.DataFrame({c: index.get_level_values(i) for i, c in enumerate(columns.columns)})
    w = weights.to_numpy()
    return MetricFrame(
        metrics=metrics,
        y_true=index.get_level_values(-2).to_numpy(),
        y_pred=index.get_level_values(-1).to_numpy(),
        sensitive_features=sensitive,
        sample_params={name: {"sample_weight": w} for name in metrics},
    )


def frame_metrics(mf: MetricFrame) -> dict[str, float]:
    """The four fairness metrics from a MetricFrame, as fairlearn's scalar functions define them.

    demographic_parity_difference / _ratio: selection rate difference() / ratio() between groups;
    equalized_odds_difference: the larger TPR or FPR difference() (agg="worst_case");
    worst_group_accuracy: accuracy group_min().
    """
    diff = mf.difference()
    return {
        "demographic_parity_difference": float(diff["selection_rate"]),
        "demographic_parity_ratio": float(mf.ratio()["selection_rate"]),
        "equalized_odds_difference": float(max(diff["true_positive_rate"], diff["false_positive_rate"])),
        "worst_group_accuracy": float(mf.group_min()["accuracy"]),
    }


def group_label(index_value: Any) -> str:
    """A by_group index value as a group label; an intersection's values joined by INTERSECTION_SEP."""
    return INTERSECTION_SEP.join(index_value) if isinstance(index_value, tuple) else str(index_value)


def by_group(frames: list[MetricFrame]) -> pd.DataFrame:
    """The by_group tables of MetricFrames over disjoint groups, as one; empty intersections (all NaN) left out."""
    return pd.concat([mf.by_group for mf in frames]).dropna(how="all").sort_index()


def by_group_json(table: pd.DataFrame) -> dict[str, list]:
    """A by_group table as JSON, in pandas' 'split' layout (index_names, index, columns, data); NaN -> None."""
    return {
        "index_names": [str(n) for n in table.index.names],
        "index": [list(i) if isinstance(i, tuple) else [i] for i in table.index],
        "columns": [str(c) for c in table.columns],
        "data": [[finite_or_none(v) for v in row] for row in table.to_numpy()],
    }


def finite_or_none(value: float | NDArray) -> float | None:
    """A float for JSON: None when it is NaN or infinite."""
    v = float(value)
    return v if np.isfinite(v) else None


def _indicator_matrix(y: NDArray, preds: dict[str, NDArray], onehot: sparse.csr_array) -> sparse.csr_array:
    """Blocks of columns, one column per group: rows, positives, then each model's selected and true positives.

    weights @ it gives the weighted counts per group (every other count follows from these). It is sparse:
    a row has one 1 per audited feature in each block it belongs to.
    """
    yb = y.astype(bool)
    flags = [np.ones_like(yb), yb]
    for pred in preds.values():
        pb = pred.astype(bool)
        flags += [pb, yb & pb]
    return sparse.hstack([onehot.multiply(f[:, None]) for f in flags], format="csr")


def _ratio(num: NDArray, den: NDArray, present: NDArray) -> NDArray:
    """num / den; 0 where den is 0 in a group that is present (fairlearn's convention), NaN where absent."""
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, np.where(present, 0.0, np.nan))


def _rates(count: NDArray, positives: NDArray, selected: NDArray, true_pos: NDArray) -> dict[str, NDArray]:
    """Per-group rates from weighted counts (arrays of the same shape, last axis = groups)."""
    present = count > 0
    false_pos = selected - true_pos
    correct = count - positives - false_pos + true_pos
    return {
        "selection_rate": _ratio(selected, count, present),
        "true_positive_rate": _ratio(true_pos, positives, present),
        "false_positive_rate": _ratio(false_pos, count - positives, present),
        "accuracy": _ratio(correct, count, present),
    }


def bootstrap_rates(
    y: NDArray,
    preds: dict[str, NDArray],
    onehot: sparse.csr_array,
    policy: BootstrapPolicy,
    weights: NDArray | None = None,
) -> dict[str, dict[str, NDArray]]:
    """model -> rate -> (resamples, groups): per-group rates in paired draws (the same weights for every model).

    `onehot` (rows, groups) may hold the groups of several features side by side: one product per chunk
    of draws gives the counts of every group of every feature for every model. `weights`: how many eval rows
    each row stands for (bootstrap.resampled_sums draws them as multinomial counts).
    """
    matrix = _indicator_matrix(y, preds, onehot)
    counts = resampled_sums(matrix, policy.resamples, policy.seed, weights)
    blocks = np.split(counts, 2 + 2 * len(preds), axis=1)
    return {k: _rates(blocks[0], blocks[1], blocks[2 + 2 * i], blocks[3 + 2 * i]) for i, k in enumerate(preds)}


def _spread(values: NDArray) -> NDArray:
    return np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)


def fairness_metrics(rates: dict[str, NDArray]) -> dict[str, NDArray]:
    """The four fairness metrics from bootstrap per-group rates (last axis = groups), as frame_metrics()."""
    sel = rates["selection_rate"]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws give NaN, filtered later
        return {
            "demographic_parity_difference": _spread(sel),
            "demographic_parity_ratio": np.nanmin(sel, axis=-1) / np.nanmax(sel, axis=-1),
            "equalized_odds_difference": np.maximum(
                _spread(rates["true_positive_rate"]), _spread(rates["false_positive_rate"])
            ),
            "worst_group_accuracy": np.nanmin(rates["accuracy"], axis=-1),
        }


def percentile_interval(values: NDArray, confidence: float) -> tuple[NDArray, NDArray]:
    """Two-sided percentile interval of the finite values along the first axis (NaN where there are none)."""
    finite = np.where(np.isfinite(values), values, np.nan)
    alpha = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column without finite values gives NaN
        low, high = np.nanquantile(finite, [alpha, 1 - alpha], axis=0)
    return low, high


def interval(values: NDArray, confidence: float) -> tuple[NDArray, NDArray]:
    """group_rates.percentile_interval, with numpy's vectorised quantile for the columns without NaN (nanquantile
    loops over columns in Python)."""
    finite = np.isfinite(values).all(axis=0)
    if finite.all():
        alpha = (1 - confidence) / 2
        low, high = np.quantile(values, [alpha, 1 - alpha], axis=0)
        return low, high
    low, high = percentile_interval(values, confidence)
    if finite.any():
        low[finite], high[finite] = interval(values[:, finite], confidence)
    return low, high


def group_rows(
    keys: list[str],
    labels: NDArray,
    sizes: NDArray,
    judged: NDArray,
    tables: dict[str, pd.DataFrame],
    draws: dict[str, dict[str, NDArray]],
    confidence: float,
) -> list[dict]:
    """One row per group: size, judged, each per-group metric and its interval, for candidate and champion."""
    values = {k: {group_label(i): row for i, row in t.iterrows()} for k, t in tables.items()}
    bounds = {k: {r: interval(d[r], confidence) for r in keys} for k, d in draws.items()}
    rows = []
    for i, label in enumerate(labels):
        row: dict[str, Any] = {"group": str(label), "size": int(sizes[i]), "judged": bool(judged[i])}
        for r in keys:
            for k, prefix in PREFIXES.items():
                if k in tables:
                    row[f"{prefix}{r}"] = finite_or_none(values[k][str(label)][r])
        for r in keys:
            for k, prefix in PREFIXES.items():
                if k in tables:
                    low, high = bounds[k][r]
                    row[f"{prefix}{r}_interval"] = [finite_or_none(low[i]), finite_or_none(high[i])]
        rows.append(row)
    return rows
