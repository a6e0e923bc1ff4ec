"""The bias audit gate: per-group rates with fairlearn's definitions, judged on bootstrap intervals.

Metrics (over the groups large enough to judge):
- demographic_parity_difference: max - min selection rate;
- demographic_parity_ratio: min / max selection rate;
- equalized_odds_difference: the larger of the TPR and FPR between-group differences (fairlearn's worst_case);
- worst_group_accuracy: the lowest group accuracy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.bootstrap import resample_weights
from gates.policy import BIAS_HIGHER_IS_BETTER, BiasGatePolicy, BiasRule
from gates.result import GateResult, GateStatus, Measurement, failure_status, guarded, skipped

GATE = "bias"
STATS = ("count", "selected", "positives", "true_positives", "false_positives", "correct")
INTERSECTION_SEP = " & "


@dataclass(frozen=True)
class Audit:
    """Group labels of one audited feature (a sensitive column, or the intersection of several)."""

    name: str
    groups: NDArray  # one label per row


def audits(frame: pd.DataFrame, policy: BiasGatePolicy) -> list[Audit]:
    """One audit per sensitive feature, plus their intersection when asked and there are several."""
    out = [Audit(col, frame[col].astype(str).to_numpy()) for col in policy.sensitive_features]
    if policy.intersections and len(policy.sensitive_features) > 1:
        combined = frame[policy.sensitive_features].astype(str).agg(INTERSECTION_SEP.join, axis=1)
        out.append(Audit(" x ".join(policy.sensitive_features), combined.to_numpy()))
    return out


def _stat_matrix(y: NDArray, pred: NDArray, onehot: NDArray) -> NDArray:
    """(rows, len(STATS) * groups) indicator matrix; weights @ it gives weighted counts per group."""
    yb, pb = y.astype(bool), pred.astype(bool)
    cols = [np.ones_like(yb), pb, yb, yb & pb, ~yb & pb, yb == pb]
    return np.concatenate([onehot * c[:, None] for c in cols], axis=1).astype(np.float64)


def _rates(counts: NDArray, groups: int) -> dict[str, NDArray]:
    """Per-group rates from weighted counts of shape (..., len(STATS) * groups)."""
    parts = {name: counts[..., i * groups : (i + 1) * groups] for i, name in enumerate(STATS)}
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "count": parts["count"],
            "selection_rate": parts["selected"] / parts["count"],
            "true_positive_rate": parts["true_positives"] / parts["positives"],
            "false_positive_rate": parts["false_positives"] / (parts["count"] - parts["positives"]),
            "accuracy": parts["correct"] / parts["count"],
        }


def _spread(values: NDArray) -> NDArray:
    return np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)


def fairness_metrics(rates: dict[str, NDArray]) -> dict[str, NDArray]:
    """The four fairness metrics from per-group rates (last axis = groups)."""
    sel = rates["selection_rate"]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN resamples give NaN, filtered later
        return {
            "demographic_parity_difference": _spread(sel),
            "demographic_parity_ratio": np.nanmin(sel, axis=-1) / np.nanmax(sel, axis=-1),
            "equalized_odds_difference": np.maximum(
                _spread(rates["true_positive_rate"]), _spread(rates["false_positive_rate"])
            ),
            "worst_group_accuracy": np.nanmin(rates["accuracy"], axis=-1),
        }


def _judge(metric: str, low: float, high: float, bound: float, *, worsening: bool) -> str:
    """'pass', 'fail' or 'inconclusive' for an interval against a bound.

    For a limit on a higher-is-better metric the interval must stay above the bound; otherwise (a limit on
    a difference, or a worsening) it must stay below.
    """
    above_is_good = metric in BIAS_HIGHER_IS_BETTER and not worsening
    if above_is_good:
        return "pass" if low >= bound else "fail" if high < bound else "inconclusive"
    return "pass" if high <= bound else "fail" if low > bound else "inconclusive"


def _interval(values: NDArray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def audit_feature(
    audit: Audit, y: NDArray, cand_pred: NDArray, champ_pred: NDArray | None, policy: BiasGatePolicy
) -> dict:
    """Group table, metrics, intervals and verdicts for one audited feature."""
    labels, inverse = np.unique(audit.groups, return_inverse=True)
    sizes = np.bincount(inverse, minlength=labels.size)
    judged = sizes >= policy.min_group_size
    table_rows = []
    onehot = np.eye(labels.size, dtype=bool)[inverse]
    cand_counts = np.ones(y.shape[0]) @ _stat_matrix(y, cand_pred, onehot)
    cand_rates = _rates(cand_counts, labels.size)
    champ_rates = None
    if champ_pred is not None:
        champ_rates = _rates(np.ones(y.shape[0]) @ _stat_matrix(y, champ_pred, onehot), labels.size)
    for i, label in enumerate(labels):
        row = {"group": str(label), "size": int(sizes[i]), "judged": bool(judged[i])}
        for name in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"):
            row[name] = _num(cand_rates[name][i])
            if champ_rates is not None:
                row[f"champion_{name}"] = _num(champ_rates[name][i])
        table_rows.append(row)
    entry: dict = {"feature": audit.name, "groups": table_rows, "min_group_size": policy.min_group_size}
    if labels.size < 2:
        entry["skipped"] = f"only one group ({labels[0] if labels.size else 'none'}) in {audit.name!r}"
        return entry
    if judged.sum() < 2:
        entry["skipped"] = (
            f"fewer than two groups of {audit.name!r} have at least {policy.min_group_size} rows; nothing judged"
        )
        return entry
    small = [str(g) for g, ok in zip(labels, judged, strict=True) if not ok]
    entry["not_judged"] = small
    keep = np.flatnonzero(judged)
    onehot_j = onehot[:, keep]
    mats = {"candidate": _stat_matrix(y, cand_pred, onehot_j)}
    if champ_pred is not None:
        mats["champion"] = _stat_matrix(y, champ_pred, onehot_j)
    g = keep.size
    point = {k: fairness_metrics(_rates(np.ones(y.shape[0]) @ m, g)) for k, m in mats.items()}
    samples: dict[str, dict[str, list[NDArray]]] = {k: {m: [] for m in policy.metrics} for k in mats}
    b = policy.bootstrap
    for weights in resample_weights(y.shape[0], b.resamples, b.seed):
        for k, m in mats.items():
            values = fairness_metrics(_rates(weights @ m, g))
            for metric in policy.metrics:
                samples[k][metric].append(values[metric])
    metrics = {}
    for metric, rule in policy.metrics.items():
        cand_samples = np.concatenate(samples["candidate"][metric])
        low, high = _interval(cand_samples, b.confidence)
        m_entry = {"candidate": _num(point["candidate"][metric]), "interval": [low, high], "checks": []}
        _check_limit(m_entry, metric, rule, low, high)
        if champ_pred is not None:
            champ_samples = np.concatenate(samples["champion"][metric])
            sign = -1.0 if metric in BIAS_HIGHER_IS_BETTER else 1.0
            worsening = sign * (cand_samples - champ_samples)
            w_low, w_high = _interval(worsening, b.confidence)
            m_entry["champion"] = _num(point["champion"][metric])
            m_entry["worsening"] = _num(sign * (point["candidate"][metric] - point["champion"][metric]))
            m_entry["worsening_interval"] = [w_low, w_high]
            if rule.max_worsening is not None:
                verdict = _judge(metric, w_low, w_high, rule.max_worsening, worsening=True)
                m_entry["checks"].append(
                    {"check": f"worsening vs champion <= {rule.max_worsening}", "verdict": verdict}
                )
        metrics[metric] = m_entry
    entry["metrics"] = metrics
    return entry


def _check_limit(m_entry: dict, metric: str, rule: BiasRule, low: float, high: float) -> None:
    if rule.limit is None:
        return
    op = ">=" if metric in BIAS_HIGHER_IS_BETTER else "<="
    verdict = _judge(metric, low, high, rule.limit, worsening=False)
    m_entry["checks"].append({"check": f"{op} {rule.limit}", "verdict": verdict})


def _num(value: float | NDArray) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None


def audit_bias(
    frame: pd.DataFrame,
    y: NDArray,
    candidate_pred: NDArray,
    champion_pred: NDArray | None,
    policy: BiasGatePolicy,
) -> GateResult:
    """Audit each sensitive feature (and their intersection); fail on any confident violation."""
    if not policy.sensitive_features:
        return skipped(GATE, "no sensitive features named in the policy", blocking=policy.blocking)
    return guarded(
        GATE, policy.blocking, lambda: _audit(frame, np.asarray(y), np.asarray(candidate_pred), champion_pred, policy)
    )


def _audit(frame: pd.DataFrame, y: NDArray, cand: NDArray, champ: NDArray | None, policy: BiasGatePolicy) -> GateResult:
    features = [
        audit_feature(a, y, cand, None if champ is None else np.asarray(champ), policy) for a in audits(frame, policy)
    ]
    failures, inconclusive, measurements = [], [], []
    for f in features:
        for metric, m in f.get("metrics", {}).items():
            verdicts = [c["verdict"] for c in m["checks"]]
            for c in m["checks"]:
                text = f"{f['feature']}: {metric} {c['check']} ({c['verdict']})"
                if c["verdict"] == "fail":
                    failures.append(text)
                elif c["verdict"] == "inconclusive":
                    inconclusive.append(text)
            lo, hi = m["interval"]
            passed = None if not verdicts else ("fail" not in verdicts and "inconclusive" not in verdicts)
            measurements.append(
                Measurement(
                    name=f"{f['feature']}: {metric}",
                    value=m["candidate"],
                    threshold=policy.metrics[metric].limit,
                    champion_value=m.get("champion"),
                    difference=m.get("worsening"),
                    interval_low=(m.get("worsening_interval") or [None])[0],
                    interval_high=(m.get("worsening_interval") or [None, None])[1],
                    passed=passed,
                    note=f"candidate interval [{lo:.3f}, {hi:.3f}]; "
                    + ", ".join(f"{c['check']}: {c['verdict']}" for c in m["checks"]),
                )
            )
    judged = [f for f in features if "metrics" in f]
    notes = [f["skipped"] for f in features if "skipped" in f]
    details = {
        "features": features,
        "failures": failures,
        "inconclusive": inconclusive,
        "notes": notes,
        "confidence": policy.bootstrap.confidence,
        "min_group_size": policy.min_group_size,
    }
    if not judged:
        return GateResult(
            gate=GATE,
            status=GateStatus.SKIPPED,
            blocking=policy.blocking,
            summary="nothing could be judged: " + "; ".join(notes),
            details=details,
        )
    treat_inconclusive_as_failure = policy.inconclusive == "fail" and inconclusive
    if failures or treat_inconclusive_as_failure:
        status = failure_status(policy.blocking)
        first = (failures or inconclusive)[0]
        count = len(failures) + (len(inconclusive) if treat_inconclusive_as_failure else 0)
        summary = f"{count} fairness check(s) failed: {first}."
    elif inconclusive and policy.inconclusive == "warn":
        status = GateStatus.WARNED
        summary = f"No confident violation, but {len(inconclusive)} check(s) inconclusive: {inconclusive[0]}."
    else:
        status = GateStatus.PASSED
        summary = f"All fairness checks pass on {len(judged)} audited feature(s)."
    if notes:
        summary += f" Not judged: {'; '.join(notes)}."
    return GateResult(
        gate=GATE,
        status=status,
        blocking=policy.blocking,
        summary=summary,
        measurements=tuple(measurements),
        details=details,
    )
