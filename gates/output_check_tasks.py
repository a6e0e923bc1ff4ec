"""The output check for multiclass and regression models (gates/output_check.py judges binary scores).

- multiclass: one class predicted for every row is `constant_scores`; a class of the eval labels that is
  never predicted is `single_class`, a warning instead when the probabilities still rank that class
  (one-vs-rest ROC AUC at least INFORMATIVE_AUC);
- regression: one value predicted for every row is `constant_scores`.
NaN or infinite outputs never reach this gate: the judging side refuses them when it reads the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gates.metrics import compute
from gates.output_check import GATE, INFORMATIVE_AUC
from gates.policy import OutputCheckGatePolicy
from gates.result import GateResult, GateStatus, Measurement, finish, guarded


def check_task_outputs(
    task: str,
    candidate: NDArray,
    y: NDArray,
    classes: tuple[Any, ...],
    policy: OutputCheckGatePolicy,
    candidate_label: str = "candidate",
) -> GateResult:
    """Degenerate multiclass or regression outputs of the candidate."""
    if task == "multiclass":
        return guarded(GATE, policy.blocking, lambda: _multiclass(candidate, y, classes, policy, candidate_label))
    return guarded(GATE, policy.blocking, lambda: _regression(candidate, y, policy, candidate_label))


def _result(
    findings: list[tuple[str, str]],
    measurements: list[Measurement],
    sound: str,
    details: dict[str, Any],
    policy: OutputCheckGatePolicy,
) -> GateResult:
    """A 'fail' finding fails the gate (warned when not blocking), 'warn' findings alone warn, none passes with
    the `sound` summary."""
    ok = not any(meaning == "fail" for meaning, _ in findings)
    summary = "; ".join(text for _, text in findings) + "." if findings else sound
    details = {**details, "findings": [t for _, t in findings]}
    result = finish(GATE, ok=ok, blocking=policy.blocking, summary=summary, measurements=measurements, details=details)
    return result.model_copy(update={"status": GateStatus.WARNED}) if ok and findings else result


def _multiclass(
    proba: NDArray, y: NDArray, classes: tuple[Any, ...], policy: OutputCheckGatePolicy, label: str
) -> GateResult:
    pred = np.asarray(proba).argmax(axis=1)
    k = proba.shape[1]
    names = [str(c) for c in classes] if len(classes) == k else [str(i) for i in range(k)]
    counts = np.bincount(pred, minlength=k)
    findings: list[tuple[str, str]] = []
    measurements: list[Measurement] = []
    predicted = int(np.count_nonzero(counts))
    if predicted == 1:
        only = names[int(pred[0])]
        findings.append((policy.constant_scores, f"{label} predicts class {only} for every row"))
        measurements.append(Measurement(name="constant_scores", value=1.0, passed=False, note=findings[-1][1]))
    else:
        y = np.asarray(y, dtype=np.int64)
        for c in np.flatnonzero((counts == 0) & (np.bincount(y, minlength=k) > 0)):
            auc = compute("roc_auc", (y == c).astype(int), proba[:, c])
            ranks = bool(np.isfinite(auc) and auc >= INFORMATIVE_AUC)
            meaning = "warn" if ranks else policy.single_class
            text = f"{label} never predicts class {names[c]} ({int(np.sum(y == c))} eval rows hold it)"
            if ranks:
                text += f"; its probabilities still rank it (one-vs-rest ROC AUC {auc:.3f})"
            findings.append((meaning, text))
            measurements.append(Measurement(name=f"single_class.{names[c]}", value=0.0, passed=False, note=text))
    shares = {names[i]: float(counts[i] / len(pred)) for i in range(k)}
    sound = f"{label}'s outputs look sound: {len(pred):,} rows, every one of the {k} classes predicted."
    return _result(findings, measurements, sound, {"task": "multiclass", "predicted_share": shares}, policy)


def _regression(pred: NDArray, y: NDArray, policy: OutputCheckGatePolicy, label: str) -> GateResult:
    values = np.asarray(pred, dtype=np.float64)
    distinct = int(np.unique(values).size)
    findings: list[tuple[str, str]] = []
    measurements: list[Measurement] = []
    if distinct == 1:
        findings.append((policy.constant_scores, f"{label} predicts {values[0]:g} for every row"))
        measurements.append(Measurement(name="constant_scores", value=1.0, passed=False, note=findings[-1][1]))
    target = np.asarray(y, dtype=np.float64)
    sound = (
        f"{label}'s outputs look sound: {values.size:,} predictions, {distinct:,} distinct, range "
        f"[{values.min():.4g}, {values.max():.4g}] (eval target [{target.min():.4g}, {target.max():.4g}])."
    )
    details = {
        "task": "regression",
        "distinct_predictions": distinct,
        "prediction_range": [float(values.min()), float(values.max())],
    }
    return _result(findings, measurements, sound, details, policy)
