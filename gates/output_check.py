"""The output check: do the candidate's scores look like a working classifier at all?

A model that never predicts the positive class can pass the bias gate (every group's rate is 0) and the
robustness gate (nothing flips). This gate names such failures plainly. Findings, each a Measurement:
- non_finite_scores: NaN or infinite scores;
- constant_scores: every finite score the same;
- single_class: no row predicted positive, or none negative, at the decision threshold (a row is
  positive when its score is at or above the threshold). Scores that still rank the classes (ROC AUC at
  least INFORMATIVE_AUC, e.g. a sound model of rare positives whose probabilities stay under 0.5) make it a
  warning about the threshold, not a degenerate model;
- positive_rate (off unless `max_positive_rate_ratio` is set): the predicted-positive rate is more than
  that many times the base rate, or less than the base rate divided by it.
The policy says what each finding means. Any "fail" finding fails the gate (`warned` when the gate is
not blocking); "warn" findings alone make it `warned`; no finding passes it. The champion's scores, when
given, are measured the same way for comparison and never change the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gates.policy import Meaning, OutputCheckGatePolicy
from gates.result import GateResult, GateStatus, Measurement, finish, guarded, skipped

GATE = "output_check"
INFORMATIVE_AUC = 0.6  # scores that rank the classes this well carry information, whatever the threshold


@dataclass(frozen=True)
class OutputStats:
    """What one model's scores look like at the decision threshold."""

    rows: int
    nan: int
    inf: int
    finite: int
    distinct: int
    first_score: float | None  # the first finite score (the only one, when constant)
    positive: int  # finite scores at or above the threshold
    negative: int

    @property
    def non_finite(self) -> int:
        """Rows whose score is NaN or infinite."""
        return self.nan + self.inf

    @property
    def positive_rate(self) -> float | None:
        """Share of the finite-scored rows predicted positive."""
        return self.positive / self.finite if self.finite else None

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready, for the details."""
        return {
            "rows": self.rows,
            "nan": self.nan,
            "inf": self.inf,
            "finite": self.finite,
            "distinct_scores": self.distinct,
            "predicted_positive": self.positive,
            "predicted_negative": self.negative,
            "positive_rate": self.positive_rate,
        }


def output_stats(scores: NDArray, threshold: float) -> OutputStats:
    """Counts of NaN, infinite, distinct, positive and negative scores."""
    nan, inf = int(np.count_nonzero(np.isnan(scores))), int(np.count_nonzero(np.isinf(scores)))
    finite = scores[np.isfinite(scores)] if nan or inf else scores
    positive = int(np.count_nonzero(finite >= threshold))
    ordered = np.sort(finite)  # one sorted copy (a vectorised sort: faster than hashing on millions of rows)
    distinct = int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if ordered.size else 0
    return OutputStats(
        rows=int(scores.size),
        nan=nan,
        inf=inf,
        finite=int(finite.size),
        distinct=distinct,
        first_score=float(finite[0]) if finite.size else None,
        positive=positive,
        negative=int(finite.size) - positive,
    )


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the outputs, and what the policy says it means."""

    check: str
    meaning: Meaning
    sentence: str


def check_outputs(
    candidate_scores: NDArray | None,
    champion_scores: NDArray | None,
    y: NDArray | None,
    threshold: float,
    policy: OutputCheckGatePolicy,
    *,
    candidate_label: str = "The candidate",
) -> GateResult:
    """Judge the candidate's positive-class scores (one per eval row) at the decision threshold.

    `candidate_label` starts the sentences (e.g. "v3"). `y` (0/1 labels) gives the base rate; the champion's
    scores are measured beside the candidate's. None scores mean the model could not be scored.
    """
    if not policy.enabled:
        return skipped(GATE, "the output check is disabled in the policy", blocking=policy.blocking)
    if candidate_scores is None:
        return skipped(
            GATE, f"{candidate_label} could not be scored, so its outputs were not checked", blocking=policy.blocking
        )
    return guarded(
        GATE,
        policy.blocking,
        lambda: _check(candidate_scores, champion_scores, y, threshold, policy, candidate_label),
    )


def _scores(values: NDArray, what: str, rows: int | None = None) -> NDArray:
    scores = np.asarray(values, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0 or (rows is not None and scores.size != rows):
        expected = f"{rows} rows" if rows is not None else "a non-empty 1-D array"
        raise ValueError(f"{what} have shape {scores.shape}; expected {expected}")
    return scores


def _check(
    candidate_scores: NDArray,
    champion_scores: NDArray | None,
    y: NDArray | None,
    threshold: float,
    policy: OutputCheckGatePolicy,
    label: str,
) -> GateResult:
    cand = output_stats(_scores(candidate_scores, "candidate scores"), threshold)
    champ = None
    if champion_scores is not None:
        champ = output_stats(_scores(champion_scores, "champion scores", cand.rows), threshold)
    base_rate = ranking = None
    if y is not None:
        labels = np.asarray(y)
        if labels.shape != (cand.rows,):
            raise ValueError(f"labels have shape {labels.shape} for {cand.rows} scores")
        base_rate = float(np.mean(labels.astype(bool)))
        ranking = _ranking_auc(np.asarray(candidate_scores, dtype=np.float64), labels.astype(bool))
    measurements, findings = _judge(cand, champ, base_rate, threshold, policy, label, ranking)
    fails = [f for f in findings if f.meaning == "fail"]
    warns = [f for f in findings if f.meaning == "warn"]
    if findings:
        summary = "; ".join(f.sentence for f in fails + warns) + "."
    else:
        summary = _sound_summary(cand, base_rate, threshold, label)
    details = {
        "threshold": threshold,
        "base_rate": base_rate,
        "candidate": cand.as_dict(),
        "champion": None if champ is None else champ.as_dict(),
        "findings": [{"check": f.check, "meaning": f.meaning, "message": f.sentence} for f in fails + warns],
    }
    result = finish(
        GATE, ok=not fails, blocking=policy.blocking, summary=summary, measurements=measurements, details=details
    )
    if not fails and warns:
        return result.model_copy(update={"status": GateStatus.WARNED})
    return result


def _judge(
    cand: OutputStats,
    champ: OutputStats | None,
    base_rate: float | None,
    threshold: float,
    policy: OutputCheckGatePolicy,
    label: str,
    ranking: float | None = None,
) -> tuple[list[Measurement], list[Finding]]:
    """One measurement per check, and a finding for each check that is not passed."""
    measurements: list[Measurement] = []
    findings: list[Finding] = []

    def record(check: str, meaning: Meaning, measurement: Measurement, sentence: Callable[[], str]) -> None:
        measurements.append(measurement)
        if measurement.passed is False:
            findings.append(Finding(check, meaning, sentence()))

    def champion(attribute: str) -> float | None:
        return None if champ is None else getattr(champ, attribute)

    record(
        "non_finite_scores",
        policy.non_finite_scores,
        Measurement(
            name="non-finite scores",
            value=cand.non_finite,
            threshold=0,
            champion_value=champion("non_finite"),
            passed=cand.non_finite == 0,
            note=f"rule: no NaN or infinite score ({policy.non_finite_scores} otherwise); "
            f"{cand.nan:,} NaN, {cand.inf:,} infinite of {cand.rows:,} rows",
        ),
        lambda: (
            f"{label} returns a NaN or infinite score for {cand.non_finite:,} of {cand.rows:,} rows "
            f"({cand.nan:,} NaN, {cand.inf:,} infinite)"
        ),
    )
    judged = cand.finite >= 2
    record(
        "constant_scores",
        policy.constant_scores,
        Measurement(
            name="distinct scores",
            value=cand.distinct,
            threshold=2,
            champion_value=champion("distinct"),
            passed=cand.distinct >= 2 if judged else None,
            note=f"rule: at least 2 distinct finite scores ({policy.constant_scores} otherwise)"
            + ("" if judged else "; not judged: fewer than 2 finite scores"),
        ),
        lambda: (
            f"{label} gives all {cand.finite:,} rows{' with a finite score' if cand.non_finite else ''} "
            f"the same score ({cand.first_score:.6g})"
        ),
    )
    informative = ranking is not None and ranking >= INFORMATIVE_AUC and cand.distinct >= 2
    ranks = (
        f", but its scores rank the classes (ROC AUC {ranking:.3f}): the threshold may not suit this data"
        if informative
        else ""
    )
    for cls, count in (("positive", cand.positive), ("negative", cand.negative)):
        record(
            "single_class",
            "warn" if informative else policy.single_class,
            Measurement(
                name=f"rows predicted {cls}",
                value=count,
                threshold=1,
                champion_value=champion(cls),
                passed=count >= 1 if cand.finite else None,
                note=f"rule: at least 1 row predicted {cls} at threshold {threshold:g} "
                f"({policy.single_class} otherwise)" + ("" if cand.finite else "; not judged: no finite score"),
            ),
            lambda cls=cls, count=count: (
                f"{label} never predicts the {cls} class at threshold {threshold:g} "
                f"({count:,} of {cand.finite:,} rows predicted {cls}){ranks}"
            ),
        )
    measurement, sentence = _positive_rate(cand, champ, base_rate, policy, label)
    record("positive_rate", policy.positive_rate, measurement, lambda: sentence)
    return measurements, findings


def _positive_rate(
    cand: OutputStats, champ: OutputStats | None, base_rate: float | None, policy: OutputCheckGatePolicy, label: str
) -> tuple[Measurement, str]:
    """Predicted-positive rate against the base rate, as how many times too high or too low (1 = equal)."""
    ratio = policy.max_positive_rate_ratio
    rate = cand.positive_rate
    rule = (
        f"rule: within {ratio:g}x of the base rate ({policy.positive_rate} otherwise)"
        if ratio is not None
        else "not judged: max_positive_rate_ratio unset"
    )
    if rate is None or base_rate is None or base_rate == 0:
        why = "no finite score" if rate is None else "no labels" if base_rate is None else "no positive label"
        note = f"{rule}; no base rate comparison: {why}"
        return Measurement(name="positive rate vs base rate (x)", value=None, threshold=ratio, note=note), ""
    factor = _times_off(rate, base_rate)
    champ_rate = None if champ is None else champ.positive_rate
    champ_factor = None if champ_rate is None else _times_off(champ_rate, base_rate)
    direction = "higher" if rate > base_rate else "lower"
    times = "infinitely" if not np.isfinite(factor) else f"{factor:.1f}x"
    measurement = Measurement(
        name="positive rate vs base rate (x)",
        value=factor if np.isfinite(factor) else None,
        threshold=ratio,
        champion_value=champ_factor if champ_factor is not None and np.isfinite(champ_factor) else None,
        passed=None if ratio is None else bool(factor <= ratio),
        note=f"{rule}; predicted positive {rate:.1%}, base rate {base_rate:.1%}",
    )
    if ratio is None:
        return measurement, ""
    sentence = (
        f"{label} predicts positive for {rate:.1%} of rows against a base rate of {base_rate:.1%} "
        f"({times} {direction}; at most {ratio:g}x allowed)"
    )
    return measurement, sentence


def _ranking_auc(scores: NDArray, y: NDArray) -> float | None:
    """ROC AUC of the finite scores against the labels, or None when one class is absent."""
    from gates.metrics import compute

    finite = np.isfinite(scores)
    if not finite.all():  # copies only when some scores are not finite
        scores, y = scores[finite], y[finite]
    if scores.size < 2 or y.all() or not y.any():
        return None
    return compute("roc_auc", y, scores)


def _times_off(rate: float, base_rate: float) -> float:
    """How many times the rate is above or below the base rate (>= 1; infinite for a rate of 0)."""
    if rate == 0:
        return float("inf")
    return max(rate / base_rate, base_rate / rate)


def _sound_summary(cand: OutputStats, base_rate: float | None, threshold: float, label: str) -> str:
    base = "" if base_rate is None else f" (base rate {base_rate:.1%})"
    return (
        f"{label}'s outputs look sound: {cand.rows:,} finite scores, {cand.distinct:,} distinct, "
        f"{cand.positive_rate:.1%} predicted positive at threshold {threshold:g}{base}."
    )
