"""The bias audit gate: per-group rates and fairness metrics from fairlearn's MetricFrame, judged on
paired bootstrap intervals (gates/group_rates.py).

Per audited feature (each sensitive column, and their intersection) and model, the group table is
MetricFrame's `by_group` (selection rate, TPR, FPR, accuracy, count) with a bootstrap interval per rate.
The fairness metrics cover the groups large enough to judge and are MetricFrame's own aggregates, as in
fairlearn's scalar functions:
- demographic_parity_difference: selection rate `difference()` (max - min);
- demographic_parity_ratio: selection rate `ratio()` (min / max);
- equalized_odds_difference: the larger of the TPR and FPR `difference()` (fairlearn's worst_case);
- worst_group_accuracy: accuracy `group_min()`.
Each limit is judged on the metric's bootstrap interval, each worsening against the champion on the
interval of the paired difference: pass, fail, or inconclusive when the interval straddles the bound.

A candidate that predicts one class for every row never passes: every rate is then 0 (or 1) and the
fairness metrics say nothing. Such a result is `warned`, with a sentence that says so, whatever
`blocking` says (the output_check gate is the one that blocks a degenerate model); a failed check
still fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from gates.group_rates import (
    INTERSECTION_SEP,
    RATES,
    bootstrap_rates,
    by_group,
    by_group_json,
    fairness_metrics,
    finite_or_none,
    frame_metrics,
    group_rows,
    metric_frame,
    percentile_interval,
)
from gates.policy import BIAS_HIGHER_IS_BETTER, BiasGatePolicy, BiasRule
from gates.result import GateResult, GateStatus, Measurement, failure_status, guarded, listing, skipped

GATE = "bias"


@dataclass(frozen=True)
class Audit:
    """One audited feature: a sensitive column, or the intersection of several."""

    name: str
    columns: pd.DataFrame  # the sensitive column(s), as strings
    labels: NDArray  # the sorted group labels; an intersection's values are joined by INTERSECTION_SEP
    inverse: NDArray  # each row's index into labels

    def onehot(self) -> sparse.csr_array:
        """(rows, groups) sparse matrix: 1 where the row belongs to the group."""
        rows = np.arange(self.inverse.size)
        ones = np.ones(self.inverse.size)
        return sparse.csr_array((ones, (rows, self.inverse)), shape=(self.inverse.size, self.labels.size))

    @classmethod
    def of(cls, name: str, columns: pd.DataFrame, groups: pd.Series) -> Audit:
        """The audit of `columns`, whose rows carry the group labels `groups`."""
        labels, inverse = np.unique(groups.to_numpy(), return_inverse=True)
        return cls(name, columns, labels, inverse)


def audits(frame: pd.DataFrame, policy: BiasGatePolicy) -> list[Audit]:
    """One audit per sensitive feature, plus their intersection when asked and there are several."""
    cols = policy.sensitive_features
    text = frame[cols].astype(str)
    out = [Audit.of(c, text[[c]], text[c]) for c in cols]
    if policy.intersections and len(cols) > 1:
        joined = text[cols[0]].str.cat([text[c] for c in cols[1:]], sep=INTERSECTION_SEP)
        out.append(Audit.of(" x ".join(cols), text, joined))
    return out


def _judge(metric: str, low: float, high: float, bound: float, *, worsening: bool) -> str:
    """'pass', 'fail' or 'inconclusive' for an interval against a bound.

    For a limit on a higher-is-better metric the interval must stay above the bound; otherwise (a limit on
    a difference, or a worsening) it must stay below.
    """
    above_is_good = metric in BIAS_HIGHER_IS_BETTER and not worsening
    if above_is_good:
        return "pass" if low >= bound else "fail" if high < bound else "inconclusive"
    return "pass" if high <= bound else "fail" if low > bound else "inconclusive"


def skip_reason(audit: Audit, judged: NDArray, min_group_size: int) -> str | None:
    """Why a feature cannot be judged (one group, or fewer than two large enough), or None."""
    if audit.labels.size < 2:
        return f"only one group ({audit.labels[0] if audit.labels.size else 'none'}) in {audit.name!r}"
    if judged.sum() < 2:
        return f"fewer than two groups of {audit.name!r} have at least {min_group_size} rows; nothing judged"
    return None


def audit_feature(
    audit: Audit,
    y: NDArray,
    preds: dict[str, NDArray],
    draws: dict[str, dict[str, NDArray]],
    policy: BiasGatePolicy,
    weights: NDArray | None = None,
) -> dict:
    """Group table (MetricFrame by_group, with bootstrap intervals), metrics and verdicts for one feature.

    `preds` holds the candidate's predictions (and the champion's), `draws` their bootstrap per-group rates
    for this feature's groups. Each model gets one MetricFrame over the judged groups and one over the
    groups too small to judge, so that the fairness metrics cover exactly the judged groups. `weights`: how many
    eval rows each row stands for (equal rows collapsed), None for one each.
    """
    sizes = np.bincount(audit.inverse, weights=weights, minlength=audit.labels.size).round().astype(np.int64)
    judged = sizes >= policy.min_group_size
    in_judged = judged[audit.inverse]
    frames = {
        k: {
            part: metric_frame(audit.columns[mask], y[mask], p[mask], None if weights is None else weights[mask])
            for part, mask in (("judged", in_judged), ("small", ~in_judged))
            if mask.any()
        }
        for k, p in preds.items()
    }
    tables = {k: by_group(list(f.values())) for k, f in frames.items()}
    confidence = policy.bootstrap.confidence
    entry: dict = {
        "feature": audit.name,
        "groups": group_rows(list(RATES), audit.labels, sizes, judged, tables, draws, confidence),
        "by_group": {k: by_group_json(t) for k, t in tables.items()},
        "min_group_size": policy.min_group_size,
    }
    reason = skip_reason(audit, judged, policy.min_group_size)
    if reason:
        entry["skipped"] = reason
        return entry
    entry["not_judged"] = [str(g) for g, ok in zip(audit.labels, judged, strict=True) if not ok]
    point = {k: frame_metrics(f["judged"]) for k, f in frames.items()}
    samples = {k: fairness_metrics({r: v[:, judged] for r, v in d.items()}) for k, d in draws.items()}
    entry["metrics"] = {
        metric: metric_entry(metric, rule, point, samples, confidence) for metric, rule in policy.metrics.items()
    }
    return entry


def metric_entry(
    metric: str,
    rule: BiasRule,
    point: dict[str, dict[str, float]],
    samples: dict[str, dict[str, NDArray]],
    confidence: float,
) -> dict:
    cand_samples = samples["candidate"][metric]
    low, high = (float(v) for v in percentile_interval(cand_samples, confidence))
    m_entry: dict = {"candidate": finite_or_none(point["candidate"][metric]), "interval": [low, high], "checks": []}
    if rule.limit is not None:
        op = ">=" if metric in BIAS_HIGHER_IS_BETTER else "<="
        verdict = _judge(metric, low, high, rule.limit, worsening=False)
        m_entry["checks"].append({"check": f"{op} {rule.limit}", "verdict": verdict})
    if "champion" in samples:
        sign = -1.0 if metric in BIAS_HIGHER_IS_BETTER else 1.0
        worsening = sign * (cand_samples - samples["champion"][metric])
        w_low, w_high = (float(v) for v in percentile_interval(worsening, confidence))
        m_entry["champion"] = finite_or_none(point["champion"][metric])
        m_entry["worsening"] = finite_or_none(sign * (point["candidate"][metric] - point["champion"][metric]))
        m_entry["worsening_interval"] = [w_low, w_high]
        if rule.max_worsening is not None:
            verdict = _judge(metric, w_low, w_high, rule.max_worsening, worsening=True)
            m_entry["checks"].append({"check": f"worsening vs champion <= {rule.max_worsening}", "verdict": verdict})
    return m_entry


def single_class_note(pred: NDArray, rows: int | None = None) -> str | None:
    """A sentence when the candidate predicts one class for every row (the fairness metrics then say nothing)."""
    rows = pred.size if rows is None else rows
    classes = np.unique(pred)
    if classes.size != 1:
        return None
    positive = bool(classes[0])
    never = "negative" if positive else "positive"
    return (
        f"The candidate never predicts the {never} class (all {rows:,} rows predicted {int(positive)}): "
        f"every group's selection rate is {int(positive)}, so the fairness metrics say nothing about fairness."
    )


def audit_bias(
    frame: pd.DataFrame,
    y: NDArray,
    candidate_pred: NDArray,
    champion_pred: NDArray | None,
    policy: BiasGatePolicy,
    weights: NDArray | None = None,
) -> GateResult:
    """Audit each sensitive feature (and their intersection); fail on any confident violation.

    `weights`: how many eval rows each row stands for, when equal (group, label, predictions) rows were collapsed
    into one (a large eval set); point estimates and the bootstrap are then those of the uncollapsed rows."""
    if not policy.sensitive_features:
        return skipped(GATE, "no sensitive features named in the policy", blocking=policy.blocking)
    return guarded(
        GATE,
        policy.blocking,
        lambda: _audit(frame, np.asarray(y), np.asarray(candidate_pred), champion_pred, policy, weights),
    )


def _binary(values: NDArray, rows: int, what: str) -> NDArray:
    values = np.asarray(values)
    if values.shape != (rows,):
        raise ValueError(f"{what} has shape {values.shape} for {rows} eval rows")
    return values.astype(bool).astype(np.int8)


def _audit(
    frame: pd.DataFrame,
    y: NDArray,
    cand: NDArray,
    champ: NDArray | None,
    policy: BiasGatePolicy,
    weights: NDArray | None = None,
) -> GateResult:
    rows = len(frame)
    if rows == 0:
        raise ValueError("no eval rows to audit")
    preds = {"candidate": _binary(cand, rows, "candidate predictions")}
    if champ is not None:
        preds["champion"] = _binary(champ, rows, "champion predictions")
    features = audit_features(frame, _binary(y, rows, "y"), preds, policy, weights)
    degenerate = single_class_note(preds["candidate"], None if weights is None else int(round(weights.sum())))
    extra = {"single_class_prediction": None if degenerate is None else int(preds["candidate"][0])}
    return bias_result(features, dict(policy.metrics), policy, degenerate, extra)


def bias_result(
    features: list[dict],
    rules: dict[str, BiasRule],
    policy: BiasGatePolicy,
    degenerate: str | None,
    extra: dict,
    remark: str = "",
    unit: str | None = None,
) -> GateResult:
    """The gate's result from the audited features: failed, inconclusive (per `policy.inconclusive`), warned
    for a degenerate candidate, or passed; `extra` joins the details, `remark` ends the summary."""
    failures, inconclusive, measurements = verdicts(features, rules, unit)
    judged = [f for f in features if "metrics" in f]
    notes = [f["skipped"] for f in features if "skipped" in f]
    details = {
        **extra,
        "features": features,
        "failures": failures,
        "inconclusive": inconclusive,
        "notes": notes,
        "confidence": policy.bootstrap.confidence,
        "min_group_size": policy.min_group_size,
    }
    lead = f"{degenerate} " if degenerate else ""
    if not judged:
        return GateResult(
            gate=GATE,
            status=GateStatus.SKIPPED,
            blocking=policy.blocking,
            summary=lead + "nothing could be judged: " + "; ".join(notes) + remark,
            details=details,
        )
    treat_inconclusive_as_failure = policy.inconclusive == "fail" and inconclusive
    if failures or treat_inconclusive_as_failure:
        status = failure_status(policy.blocking)
        failed = failures + (inconclusive if treat_inconclusive_as_failure else [])
        summary = f"{len(failed)} fairness check(s) failed: {listing(failed)}."
    elif inconclusive and policy.inconclusive == "warn":
        status = GateStatus.WARNED
        summary = f"No confident violation, but {len(inconclusive)} check(s) inconclusive: {listing(inconclusive)}."
    elif degenerate:
        status = GateStatus.WARNED
        summary = f"The fairness checks pass on {len(judged)} audited feature(s), but that means nothing here."
    else:
        status = GateStatus.PASSED
        summary = f"All fairness checks pass on {len(judged)} audited feature(s)."
    if notes:
        summary += f" Not judged: {'; '.join(notes)}."
    return GateResult(
        gate=GATE,
        status=status,
        blocking=policy.blocking,
        summary=lead + summary + remark,
        measurements=tuple(measurements),
        details=details,
    )


def audit_features(
    frame: pd.DataFrame,
    y: NDArray,
    preds: dict[str, NDArray],
    policy: BiasGatePolicy,
    weights: NDArray | None = None,
) -> list[dict]:
    """audit_feature() for every audited feature, with one bootstrap over the groups of all of them."""
    found = audits(frame, policy)
    onehot = sparse.hstack([a.onehot() for a in found], format="csr")
    draws = bootstrap_rates(y, preds, onehot, policy.bootstrap, weights)
    out, start = [], 0
    for a in found:
        end = start + a.labels.size
        own = {k: {r: v[:, start:end] for r, v in d.items()} for k, d in draws.items()}
        out.append(audit_feature(a, y, preds, own, policy, weights))
        start = end
    return out


def verdicts(
    features: list[dict], rules: dict[str, BiasRule], unit: str | None = None
) -> tuple[list[str], list[str], list[Measurement]]:
    """The failed and inconclusive checks, in words, and one measurement per judged metric. A metric entry's
    `worst_class` (multiclass) and `candidate_raw` (regression, in target units; `unit` the judged unit) are
    named too."""
    failures, inconclusive, measurements = [], [], []
    for f in features:
        for metric, m in f.get("metrics", {}).items():
            worst = f" (worst class {m['worst_class']})" if "worst_class" in m else ""
            where = f" (in {unit})" if unit else ""
            for c in m["checks"]:
                text = f"{f['feature']}: {metric}{worst}{where} {c['check']} ({c['verdict']})"
                if c["verdict"] == "fail":
                    failures.append(text)
                elif c["verdict"] == "inconclusive":
                    inconclusive.append(text)
            found = [c["verdict"] for c in m["checks"]]
            lo, hi = m["interval"]
            extra = f"worst class {m['worst_class']}; " if worst else ""
            if m.get("candidate_raw") is not None:
                extra += f"in {unit}; {m['candidate_raw']:.4g} in target units; "
            w_interval = m.get("worsening_interval") or [None, None]
            measurements.append(
                Measurement(
                    name=f"{f['feature']}: {metric}",
                    value=m["candidate"],
                    threshold=rules[metric].limit,
                    champion_value=m.get("champion"),
                    difference=m.get("worsening"),
                    interval_low=w_interval[0],
                    interval_high=w_interval[1],
                    passed=None if not found else ("fail" not in found and "inconclusive" not in found),
                    note=f"{extra}candidate interval [{lo:.3f}, {hi:.3f}]; "
                    + ", ".join(f"{c['check']}: {c['verdict']}" for c in m["checks"]),
                    rule="; ".join(c["check"] for c in m["checks"]),
                )
            )
    return failures, inconclusive, measurements
