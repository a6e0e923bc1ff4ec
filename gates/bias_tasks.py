"""The bias audit gate for multiclass classification and regression, judged as gates/bias.py judges binary.

Per audited feature (each sensitive column, and their intersection, as `gates.bias.audits`) the groups with at
least `min_group_size` rows are judged (gates/group_task_rates.py has the per-group metrics):
- multiclass (class indices; `classes` their labels): accuracy_difference (max - min group accuracy),
  worst_group_accuracy (min group accuracy), demographic_parity_difference (the largest, over classes, spread
  of the one-vs-rest selection rate between groups) and equalized_odds_difference (the largest, over classes,
  of the larger TPR or FPR spread). The class that attains the largest is named: the worst class.
- regression: mae_difference (max - min group MAE), worst_group_mae (max group MAE) and
  mean_prediction_difference (max - min group mean prediction), judged in standard deviations of the eval
  target, so that a limit of 0.05 means 0.05 target std (raw values in target units are reported too).
Limits are judged on the candidate's bootstrap interval, max_worsening on the interval of the paired
difference, exactly as bias.py: pass, fail, or inconclusive when the interval straddles the bound.

A candidate that predicts one class (or one value) for every row is `warned` with a sentence that says why,
whatever `blocking` says; a failed check still fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.bias import Audit, audits, bias_result, metric_entry, skip_reason
from gates.group_rates import PREFIXES, by_group_json, finite_or_none, group_label, group_rows
from gates.group_task_rates import (
    MulticlassRates,
    RegressionRates,
    TaskRates,
    Values,
    bootstrap_values,
    group_values,
)
from gates.policy import BIAS_TASK_METRICS, BiasGatePolicy, BiasRule
from gates.result import GateResult, guarded, skipped

GATE = "bias"


def audit_multiclass(
    frame: pd.DataFrame,
    y: NDArray,
    candidate: NDArray,
    champion: NDArray | None,
    classes: list[str],
    policy: BiasGatePolicy,
) -> GateResult:
    """Audit multiclass predictions (class indices 0..K-1, `classes` their labels) by each sensitive feature."""
    if not policy.sensitive_features:
        return skipped(GATE, "no sensitive features named in the policy", blocking=policy.blocking)
    return guarded(
        GATE, policy.blocking, lambda: _audit(MulticlassRates(classes), frame, y, candidate, champion, policy)
    )


def audit_regression(
    frame: pd.DataFrame, y: NDArray, candidate: NDArray, champion: NDArray | None, policy: BiasGatePolicy
) -> GateResult:
    """Audit predicted values by each sensitive feature; gaps judged in standard deviations of the eval target."""
    if not policy.sensitive_features:
        return skipped(GATE, "no sensitive features named in the policy", blocking=policy.blocking)
    return guarded(GATE, policy.blocking, lambda: _audit(RegressionRates(), frame, y, candidate, champion, policy))


def _checked(rates: TaskRates, values: Any, rows: int, what: str) -> NDArray:
    values = np.asarray(values)
    if values.shape != (rows,):
        raise ValueError(f"{what} has shape {values.shape} for {rows} eval rows")
    if isinstance(rates, RegressionRates):
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"{what} has {int((~np.isfinite(values)).sum())} missing or infinite values")
        return values
    k = len(rates.classes)
    if values.dtype.kind not in "iub" and not np.array_equal(values, np.round(values)):
        raise ValueError(f"{what} must be class indices 0..{k - 1}")
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= k):
        raise ValueError(f"{what} holds class indices outside 0..{k - 1} ({k} classes)")
    return values


def _audit(rates: TaskRates, frame: pd.DataFrame, y: Any, cand: Any, champ: Any, policy: BiasGatePolicy) -> GateResult:
    rows = len(frame)
    if rows == 0:
        raise ValueError("no eval rows to audit")
    rules = policy.rules_for(rates.task)
    wrong = sorted(set(rules) - BIAS_TASK_METRICS[rates.task])
    if wrong:
        raise ValueError(f"fairness metric(s) {', '.join(wrong)} do not apply to task {rates.task}")
    y = _checked(rates, y, rows, "y")
    preds = {"candidate": _checked(rates, cand, rows, "candidate predictions")}
    if champ is not None:
        preds["champion"] = _checked(rates, champ, rows, "champion predictions")
    found = audits(frame, policy)
    offsets = np.cumsum([0] + [a.labels.size for a in found])
    gids = np.column_stack([a.inverse + off for a, off in zip(found, offsets, strict=False)])
    args = (rates, y, list(preds.values()), gids, int(offsets[-1]))
    draws = dict(zip(preds, bootstrap_values(*args, policy.bootstrap), strict=True))
    regression = isinstance(rates, RegressionRates)
    sums = dict(zip(preds, group_values(*args) if regression else [{}] * len(preds), strict=True))
    std = float(np.std(y)) if regression else 1.0
    scale = std if std > 0 else 1.0
    features = []
    for a, start, end in zip(found, offsets[:-1], offsets[1:], strict=True):
        own = [{k: {r: v[..., start:end] for r, v in d.items()} for k, d in x.items()} for x in (draws, sums)]
        features.append(_feature(rates, a, y, preds, own[0], own[1], scale, rules, policy))
    details: dict[str, Any] = {"task": rates.task, "group_metrics": list(rates.keys)}
    if isinstance(rates, MulticlassRates):
        details["classes"] = rates.classes
    else:
        details |= {"target_std": std, "unit": "target std" if std > 0 else "target units"}
    flat = " The eval target is constant (std 0): the gaps are judged in target units." if std == 0 else ""
    degenerate = _degenerate(rates, preds["candidate"])
    details["single_value_prediction"] = degenerate is not None
    return bias_result(features, rules, policy, degenerate, details, flat, details.get("unit"))


def _feature(
    rates: TaskRates,
    audit: Audit,
    y: NDArray,
    preds: dict[str, NDArray],
    draws: dict[str, Values],
    sums: dict[str, Values],
    scale: float,
    rules: dict[str, BiasRule],
    policy: BiasGatePolicy,
) -> dict:
    """Group table (with bootstrap intervals), metrics and verdicts for one audited feature."""
    sizes = np.bincount(audit.inverse, minlength=audit.labels.size)
    judged = sizes >= policy.min_group_size
    tables = {k: _table(rates, audit, y, p, sums[k], sizes) for k, p in preds.items()}
    confidence = policy.bootstrap.confidence
    entry: dict = {
        "feature": audit.name,
        "groups": group_rows(rates.keys, audit.labels, sizes, judged, tables, draws, confidence),
        "by_group": {k: by_group_json(t) for k, t in tables.items()},
        "min_group_size": policy.min_group_size,
    }
    reason = skip_reason(audit, judged, policy.min_group_size)
    if reason:
        entry["skipped"] = reason
        return entry
    entry["not_judged"] = [str(g) for g, ok in zip(audit.labels, judged, strict=True) if not ok]
    labels = [group_label(i) for i in tables["candidate"].index]
    order = [labels.index(str(g)) for g in audit.labels[judged]]
    point_values = {k: {r: t[r].to_numpy(dtype=float)[order] for r in rates.keys} for k, t in tables.items()}
    point = {k: {m: float(v) / scale for m, v in rates.fairness(pv).items()} for k, pv in point_values.items()}
    samples = {k: {m: v / scale for m, v in rates.fairness({r: x[:, judged] for r, x in d.items()}).items()}
               for k, d in draws.items()}  # fmt: skip
    per_class = {k: rates.per_class(pv) for k, pv in point_values.items()}
    entry["metrics"] = {}
    for metric, rule in rules.items():
        m_entry = metric_entry(metric, rule, point, samples, confidence)
        if isinstance(rates, MulticlassRates) and metric in per_class["candidate"]:
            for k, prefix in PREFIXES.items():
                if k in per_class:
                    spread = per_class[k][metric]
                    m_entry[f"{prefix}worst_class"] = rates.classes[int(np.argmax(spread))]
                    m_entry[f"{prefix}by_class"] = dict(zip(rates.classes, map(finite_or_none, spread), strict=True))
        if isinstance(rates, RegressionRates):
            for field in ("candidate", "champion", "worsening", "interval", "worsening_interval"):
                if m_entry.get(field) is not None:
                    raw = m_entry[field]
                    m_entry[f"{field}_raw"] = [v * scale for v in raw] if isinstance(raw, list) else raw * scale
        entry["metrics"][metric] = m_entry
    return entry


def _table(rates: TaskRates, audit: Audit, y: NDArray, pred: NDArray, sums: Values, sizes: NDArray) -> pd.DataFrame:
    """One model's by_group table: from MetricFrame's confusion matrices (multiclass), else from the sums."""
    if isinstance(rates, MulticlassRates):
        return rates.table([rates.frame(audit.columns, y, pred)])
    first = np.unique(audit.inverse, return_index=True)[1]
    keys = audit.columns.iloc[first]
    index = pd.MultiIndex.from_frame(keys) if keys.shape[1] > 1 else pd.Index(keys.iloc[:, 0], name=keys.columns[0])
    return pd.DataFrame({"count": sizes.astype(float), **sums}, index=index).sort_index()


def _degenerate(rates: TaskRates, pred: NDArray) -> str | None:
    """A sentence when the candidate predicts one class (one value) for every row."""
    if np.unique(pred).size != 1:
        return None
    if isinstance(rates, MulticlassRates):
        label = rates.classes[int(pred[0])]
        return (
            f"The candidate predicts class {label!r} for all {pred.size:,} rows: every group's selection rate of "
            "each class is 0 or 1, so the fairness metrics say nothing about fairness."
        )
    return (
        f"The candidate predicts {float(pred[0]):g} for all {pred.size:,} rows: every group's mean prediction is "
        "the same and its errors only mirror the target's spread, so the fairness metrics say nothing about fairness."
    )
