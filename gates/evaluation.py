"""The evaluation gate: quality metrics against absolute thresholds and against the champion."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from gates.bootstrap import Interval, Rows, paired_row_differences, whole_values
from gates.metrics import ScoredRows
from gates.policy import LOWER_IS_BETTER, EvaluationGatePolicy, MetricRule
from gates.result import GateResult, Measurement, finish, guarded, listing
from gates.task_metrics import MulticlassRows, RegressionRows

GATE = "evaluation"


def _oriented(metric: str, value: float) -> float:
    """Flip the sign of lower-is-better metrics so that positive always means better."""
    return -value if metric in LOWER_IS_BETTER else value


def check_threshold(metric: str, rule: MetricRule, value: float) -> bool | None:
    """Absolute bound (None when the rule has none)."""
    if rule.threshold is None:
        return None
    if math.isnan(value):
        return False
    return value <= rule.threshold if metric in LOWER_IS_BETTER else value >= rule.threshold


def check_against_champion(
    metric: str, rule: MetricRule, candidate: float, champion: float, interval: Interval
) -> tuple[bool | None, list[str]]:
    """MLflow MetricThreshold change semantics plus the bootstrap interval; returns (passed, reasons)."""
    if not rule.compares_with_champion:
        return None, []
    gain = _oriented(metric, candidate - champion)
    low, high = sorted((_oriented(metric, interval.low), _oriented(metric, interval.high)))
    reasons: list[str] = []
    if rule.min_absolute_change is not None and not gain >= rule.min_absolute_change:
        reasons.append(f"{metric} gain {gain:+.4f} < min_absolute_change {rule.min_absolute_change}")
    if rule.min_relative_change is not None:
        relative = gain / abs(champion) if champion else math.inf if gain > 0 else 0.0
        if not relative >= rule.min_relative_change:
            reasons.append(
                f"{metric} relative gain {relative:+.2%} < min_relative_change {rule.min_relative_change:.2%}"
            )
    if rule.requires_improvement and not low > 0:
        if high < 0:
            reasons.append(f"{metric} is confidently worse than the champion: {gain:+.4f} [{low:+.4f}, {high:+.4f}]")
        else:
            reasons.append(f"{metric} gain {gain:+.4f} is within noise (interval [{low:+.4f}, {high:+.4f}] includes 0)")
    if rule.max_regression is not None and not low >= -rule.max_regression:
        reasons.append(f"{metric} may be worse than the champion by {-low:.4f} > max_regression {rule.max_regression}")
    return not reasons, reasons


def rule_text(metric: str, rule: MetricRule, has_champion: bool) -> str:
    """The metric's rule in words (champion rules only when there is a champion)."""
    lower = metric in LOWER_IS_BETTER
    parts = []
    if rule.threshold is not None:
        parts.append(f"{'<=' if lower else '>='} {rule.threshold:g}")
    if has_champion:
        if rule.min_absolute_change is not None:
            parts.append(f"beat the champion by >= {rule.min_absolute_change:g}, interval above 0")
        if rule.min_relative_change is not None:
            parts.append(f"beat the champion by >= {rule.min_relative_change:.1%}, interval above 0")
        if rule.max_regression is not None:
            parts.append(f"never worse than the champion by more than {rule.max_regression:g} (whole interval)")
    return "; ".join(parts)


def prepared_rows(task: str, y: NDArray, values: NDArray, policy: EvaluationGatePolicy) -> Rows:
    """One model's scores prepared for the task's metrics."""
    if task == "multiclass":
        return MulticlassRows(np.asarray(y, dtype=np.int64), values, top_k=min(policy.top_k, values.shape[1]))
    if task == "regression":
        return RegressionRows(np.asarray(y, dtype=np.float64), values, mape_floor=policy.mape_floor)
    return ScoredRows(y, values, policy.decision_threshold)


def whole_sample(rows: Rows, metrics: list[str], n: int) -> dict[str, float]:
    """Each metric on all rows."""
    return whole_values(rows, metrics, n)


def champion_intervals(
    metrics: list[str],
    y: NDArray,
    scores: tuple[NDArray, NDArray],
    policy: EvaluationGatePolicy,
    task: str,
    rows: tuple[Rows, Rows],
    whole: dict[str, float],
) -> dict[str, Interval]:
    """The paired bootstrap interval of each candidate-minus-champion difference (`scores`, `rows`: candidate's and
    champion's; `whole`: each metric's difference on every row).

    Above `bootstrap.max_rows` rows the resamples are drawn from a seeded subsample of that many rows and each
    interval is moved by (whole-data difference - subsample difference): it is centred on the exact estimate,
    and its width is the subsample's, which is wider than the whole data's would be (a conservative interval
    at a cost that does not grow with the rows)."""
    b = policy.bootstrap
    n = y.shape[0]
    if n <= b.max_rows:
        return paired_row_differences(
            metrics, rows[0], rows[1], n, resamples=b.resamples, confidence=b.confidence, seed=b.seed
        )
    idx = np.sort(np.random.default_rng(b.seed).choice(n, b.max_rows, replace=False))
    sub = [prepared_rows(task, y[idx], s[idx], policy) for s in scores]
    found = paired_row_differences(
        metrics, sub[0], sub[1], b.max_rows, resamples=b.resamples, confidence=b.confidence, seed=b.seed
    )
    out = {}
    for m, iv in found.items():
        shift = float(whole[m]) - iv.estimate
        out[m] = Interval(float(whole[m]), iv.low + shift, iv.high + shift)
    return out


def evaluate(
    y_true: NDArray,
    candidate_scores: NDArray,
    champion_scores: NDArray | None,
    policy: EvaluationGatePolicy,
    task: str = "binary",
    classes: tuple = (),
) -> GateResult:
    """Judge the candidate's scores (and the champion's, when there is one) on labelled rows."""
    return guarded(
        GATE,
        policy.blocking,
        lambda: _evaluate(
            np.asarray(y_true), np.asarray(candidate_scores, dtype=np.float64), champion_scores, policy, task, classes
        ),
    )


def _evaluate(
    y: NDArray,
    cand: NDArray,
    champion_scores: NDArray | None,
    policy: EvaluationGatePolicy,
    task: str,
    classes: tuple,
) -> GateResult:
    if y.shape[0] != cand.shape[0]:
        raise ValueError(f"{cand.shape[0]} candidate scores for {y.shape[0]} labels")
    if not np.all(np.isfinite(cand)):
        raise ValueError("candidate scores contain NaN or infinite values")
    champ = None if champion_scores is None else np.asarray(champion_scores, dtype=np.float64)
    rules = policy.rules_for(task)
    metrics = list(rules)
    thr = policy.decision_threshold
    n = y.shape[0]
    cand_rows = prepared_rows(task, y, cand, policy)
    champ_rows = None if champ is None else prepared_rows(task, y, champ, policy)
    cand_values = whole_sample(cand_rows, metrics, n)
    champ_values = {} if champ_rows is None else whole_sample(champ_rows, metrics, n)
    intervals: dict[str, Interval] = {}
    if champ_rows is not None:
        compared = [m for m, r in rules.items() if r.compares_with_champion] or metrics
        whole = {m: cand_values[m] - champ_values[m] for m in compared}
        intervals = champion_intervals(compared, y, (cand, champ), policy, task, (cand_rows, champ_rows), whole)
    measurements: list[Measurement] = []
    failures: list[str] = []
    details: dict[str, dict[str, float | bool | None | list[str]]] = {}
    for metric, rule in rules.items():
        value = cand_values[metric]
        abs_ok = check_threshold(metric, rule, value)
        champ_value: float | None = None
        cmp_ok: bool | None = None
        reasons: list[str] = []
        iv: Interval | None = None
        if abs_ok is False:
            op = "<=" if metric in LOWER_IS_BETTER else ">="
            reasons.append(f"{metric} {value:.4f} fails threshold {op} {rule.threshold}")
            failures.append(reasons[-1])
        entry: dict[str, float | bool | None | list[str]] = {"candidate": value}
        if champ is not None:
            champ_value = champ_values[metric]
            entry["champion"] = champ_value
            if metric in intervals:
                iv = intervals[metric]
                entry.update(difference=iv.estimate, interval_low=iv.low, interval_high=iv.high)
                cmp_ok, cmp_reasons = check_against_champion(metric, rule, value, champ_value, iv)
                reasons.extend(cmp_reasons)
                failures.extend(cmp_reasons)
        elif rule.compares_with_champion:
            reasons.append("no champion: judged on absolute thresholds only")
        checks = [c for c in (abs_ok, cmp_ok) if c is not None]
        passed = all(checks) if checks else None
        entry["passed"] = passed
        entry["notes"] = reasons
        details[metric] = entry
        measurements.append(
            Measurement(
                name=metric,
                value=value,
                threshold=rule.threshold,
                champion_value=champ_value,
                difference=iv.estimate if iv else None,
                interval_low=iv.low if iv else None,
                interval_high=iv.high if iv else None,
                passed=passed,
                note="; ".join(reasons),
                rule=rule_text(metric, rule, champ is not None),
            )
        )
    ok = not failures
    against = "against the champion" if champ is not None else "with no champion (absolute thresholds only)"
    if ok:
        summary = f"All {len(metrics)} metrics pass {against}."
    else:
        summary = f"{len(failures)} check(s) failed {against}: {listing(failures)}."
    if champ is not None and n > policy.bootstrap.max_rows:
        summary += (
            f" Metrics on all {n:,} rows; intervals from a seeded subsample of {policy.bootstrap.max_rows:,} rows, "
            "centred on the all-rows difference."
        )
    extra: dict = {"task": task}
    if task == "binary":
        extra["decision_threshold"] = thr
    if isinstance(cand_rows, MulticlassRows):
        extra["per_class_recall"] = {
            str(c): float(r)
            for c, r in zip(classes or range(cand.shape[1]), cand_rows.per_class_recall(), strict=False)
        }
    if isinstance(cand_rows, RegressionRows) and "mape" in metrics:
        extra["mape_rows_left_out"] = int(np.sum(np.abs(y.astype(np.float64)) < policy.mape_floor))
    return finish(
        GATE,
        ok=ok,
        blocking=policy.blocking,
        summary=summary,
        measurements=measurements,
        details={
            "rows": int(n),
            **extra,
            "confidence": policy.bootstrap.confidence,
            "resamples": policy.bootstrap.resamples if champ is not None else 0,
            "interval_rows": min(int(n), policy.bootstrap.max_rows) if champ is not None else 0,
            "has_champion": champ is not None,
            "failures": failures,
            "metrics": details,
        },
    )
