"""The robustness gate: robust accuracy under white-box attacks and black-box perturbations,
judged against floors, the drop from clean accuracy, and the champion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.policy import RobustnessGatePolicy
from gates.result import GateResult, GateStatus, Measurement, failure_status, guarded, listing

GATE = "robustness"


@dataclass
class RobustnessProfile:
    """What one model did under attack and perturbation."""

    clean_accuracy: float
    white_box: dict[str, dict[str, float]] = field(default_factory=dict)  # attack -> str(eps) -> accuracy
    white_box_note: str = ""
    black_box: list[dict] = field(default_factory=list)  # {perturbation, level, accuracy, flip_rate}
    device: str = "cpu"
    noise_scales: dict[str, float] = field(default_factory=dict)  # numeric column -> unit of Gaussian noise
    task: str = "binary"  # regression: "accuracy" is -MAE in standard deviations of the target (see black_box)

    def to_dict(self) -> dict:
        return asdict(self)


def noise_scales(reference: pd.DataFrame, numeric: list[str]) -> dict[str, float]:
    """The unit of Gaussian noise per numeric column: its robust spread on the reference data, IQR / 1.349 (the
    standard deviation for normal data, but not blown up by heavy tails). A column whose IQR is zero (one value
    for most rows, e.g. amounts that are zero for most people) gets 0, no noise: moving a row off that spike
    makes a different record, not a noisy measurement, and for a model that logs amounts it is a huge step."""
    out: dict[str, float] = {}
    for col in numeric:
        if col not in reference:
            continue
        values = pd.to_numeric(reference[col], errors="coerce").dropna().to_numpy(dtype=np.float64)
        if len(values) == 0:
            out[col] = 0.0
            continue
        q1, q3 = np.percentile(values, [25, 75])
        out[col] = float((q3 - q1) / 1.349)
    return out


def perturbations(
    frame: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    scales: dict[str, float],
    categories: dict[str, list[str]],
    policy: RobustnessGatePolicy,
    nullable: tuple[str, ...] | list[str] = (),
) -> list[tuple[str, float, pd.DataFrame]]:
    """(name, level, perturbed copy) for each black-box perturbation the inputs allow.

    Gaussian noise is in units of `scales` (see noise_scales); columns with scale 0 are left alone.
    Missing values go only into the columns that may hold them (`nullable`: the data validation's allow_nulls,
    or nulls seen in the reference data): a model is not faulted for rejecting nulls its data cannot hold.
    """
    rng = np.random.default_rng(policy.seed)
    out: list[tuple[str, float, pd.DataFrame]] = []
    noisy_columns = [c for c in numeric if scales.get(c, 0.0) > 0]
    if noisy_columns:
        for level in policy.noise_levels:
            noisy = frame.copy()
            for col in noisy_columns:
                noise = rng.normal(0.0, level * scales[col], len(frame))
                values = noisy[col].to_numpy(dtype=np.float64) + noise
                if pd.api.types.is_integer_dtype(frame[col]):
                    values = np.round(values).astype(frame[col].dtype)
                noisy[col] = values
            out.append(("gaussian_noise", level, noisy))
    swappable = [c for c in categorical if len(categories.get(c, [])) > 1]
    if swappable:
        for rate in policy.category_swap_rates:
            swapped = frame.copy()
            for col in swappable:
                hit = rng.random(len(frame)) < rate
                choices = np.asarray(categories[col], dtype=object)
                swapped.loc[hit, col] = rng.choice(choices, int(hit.sum()))
            out.append(("category_swap", rate, swapped))
    holes = [c for c in frame.columns if c in nullable]
    if holes:
        for rate in policy.missing_rates:
            holed = frame.copy()
            for col in holes:
                hit = rng.random(len(frame)) < rate
                holed[col] = holed[col].astype(object) if col in categorical else holed[col].astype("float64")
                holed.loc[hit, col] = None if col in categorical else np.nan
            out.append(("missing_values", rate, holed))
    return out


REGRESSION_FLIP = 0.1  # regression: a prediction "flips" when it moves by more than this many target stds


def decisions(scores: NDArray, task: str, threshold: float) -> NDArray:
    """What a model decides from its scores: 0/1 (binary), a class index (multiclass), the value (regression)."""
    if task == "multiclass":
        return np.asarray(scores).argmax(axis=1)
    if task == "regression":
        return np.asarray(scores, dtype=np.float64)
    return (np.asarray(scores) >= threshold).astype(int)


def quality(pred: NDArray, y: NDArray, task: str, sigma: float) -> float:
    """Accuracy; for regression -MAE / sigma, so that a drop is the MAE's rise in target standard deviations."""
    if task == "regression":
        return -float(np.mean(np.abs(pred - y))) / sigma
    return float(np.mean(pred == y.astype(int)))


def changed(pred: NDArray, base: NDArray, task: str, sigma: float) -> float:
    """Share of rows whose decision changed (regression: moved by more than REGRESSION_FLIP stds)."""
    if task == "regression":
        return float(np.mean(np.abs(pred - base) > REGRESSION_FLIP * sigma))
    return float(np.mean(pred != base))


def black_box(
    predict: Callable[[pd.DataFrame], NDArray],
    frame: pd.DataFrame,
    y: NDArray,
    threshold: float,
    perturbed: list[tuple[str, float, pd.DataFrame]],
    task: str = "binary",
    sigma: float = 1.0,
) -> tuple[float, list[dict]]:
    """Clean quality and, per perturbation, quality and the share of changed predictions (`quality`, `changed`)."""
    base = decisions(predict(frame), task, threshold)
    clean = quality(base, y, task, sigma)
    rows = []
    for name, level, data in perturbed:
        try:
            pred = decisions(predict(data), task, threshold)
        except Exception as exc:  # a model that cannot take the perturbation is a finding, not a crash
            rows.append(
                {
                    "perturbation": name,
                    "level": level,
                    "accuracy": None,
                    "flip_rate": None,
                    "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}",
                }
            )
            continue
        rows.append(
            {
                "perturbation": name,
                "level": level,
                "accuracy": quality(pred, y, task, sigma),
                "flip_rate": changed(pred, base, task, sigma),
            }
        )
    return clean, rows


def _rule(policy: RobustnessGatePolicy, floor: float | None, champion: bool, flips: bool = False) -> str:
    parts = []
    if floor is not None:
        parts.append(f"robust accuracy >= {floor:g}")
    if policy.max_drop is not None:
        parts.append(f"drop from clean <= {policy.max_drop:g}")
    if champion and policy.max_worse_than_champion is not None:
        parts.append(f"drop <= the champion's drop + {policy.max_worse_than_champion:g}")
    if flips and policy.max_flip_rate is not None:
        parts.append(f"flip rate <= {policy.max_flip_rate:g}")
    return "; ".join(parts)


def judge(candidate: RobustnessProfile, champion: RobustnessProfile | None, policy: RobustnessGatePolicy) -> GateResult:
    """Floors per epsilon, the drop from clean accuracy, the champion comparison, and flip rates."""
    return guarded(GATE, policy.blocking, lambda: _judge(candidate, champion, policy))


def _judge(cand: RobustnessProfile, champ: RobustnessProfile | None, policy: RobustnessGatePolicy) -> GateResult:
    failures: list[str] = []
    measurements: list[Measurement] = []
    floors = {str(k): v for k, v in policy.min_robust_accuracy.items()}
    for attack, by_eps in cand.white_box.items():
        for eps, acc in by_eps.items():
            notes, ok = [], True
            floor = floors.get(eps) if attack != "pgd_l2" else None
            if floor is not None and acc < floor:
                ok = False
                notes.append(f"below floor {floor}")
            drop = cand.clean_accuracy - acc
            if policy.max_drop is not None and drop > policy.max_drop:
                ok = False
                notes.append(f"drop {drop:.3f} > max_drop {policy.max_drop}")
            champ_acc = None
            if champ is not None and attack in champ.white_box and eps in champ.white_box[attack]:
                champ_acc = champ.white_box[attack][eps]
                extra = drop - (champ.clean_accuracy - champ_acc)
                if policy.max_worse_than_champion is not None and extra > policy.max_worse_than_champion:
                    ok = False
                    notes.append(
                        f"drop {drop:.3f} is {extra:.3f} more than the champion's "
                        f"{champ.clean_accuracy - champ_acc:.3f} (max {policy.max_worse_than_champion})"
                    )
            if not ok:
                failures.append(f"{attack} eps={float(eps):.4g}: robust accuracy {acc:.3f}: {'; '.join(notes)}")
            measurements.append(
                Measurement(
                    name=f"{attack}@{float(eps):.4g}",
                    value=acc,
                    threshold=floor,
                    champion_value=champ_acc,
                    difference=None if champ_acc is None else acc - champ_acc,
                    passed=ok,
                    note="; ".join(notes),
                    rule=_rule(policy, floor, champ_acc is not None),
                )
            )
    champ_bb = {(r["perturbation"], r["level"]): r for r in (champ.black_box if champ else [])}
    still = sorted(c for c, scale in cand.noise_scales.items() if scale <= 0)
    unperturbed = f"; no noise on {', '.join(still)} (IQR 0: one value for most rows)" if still else ""
    for row in cand.black_box:
        name = f"{row['perturbation']}@{row['level']}"
        if row.get("error"):
            failures.append(f"{name}: the model failed on the perturbed rows: {row['error']}")
            measurements.append(Measurement(name=name, value=None, passed=False, note=row["error"]))
            continue
        notes, ok = [], True
        if policy.max_flip_rate is not None and row["flip_rate"] > policy.max_flip_rate:
            ok = False
            notes.append(f"flip rate {row['flip_rate']:.3f} > {policy.max_flip_rate}")
        drop = cand.clean_accuracy - row["accuracy"]
        if policy.max_drop is not None and drop > policy.max_drop:
            ok = False
            notes.append(f"drop {drop:.3f} > max_drop {policy.max_drop}")
        other = champ_bb.get((row["perturbation"], row["level"]))
        champ_acc = other["accuracy"] if other and other.get("accuracy") is not None else None
        if champ_acc is not None and champ is not None and policy.max_worse_than_champion is not None:
            extra = drop - (champ.clean_accuracy - champ_acc)
            if extra > policy.max_worse_than_champion:
                ok = False
                notes.append(f"drop {drop:.3f} is {extra:.3f} more than the champion's")
        if not ok:
            failures.append(f"{name}: {'; '.join(notes)}")
        measurements.append(
            Measurement(
                name=name,
                value=row["accuracy"],
                champion_value=champ_acc,
                difference=None if champ_acc is None else row["accuracy"] - champ_acc,
                passed=ok,
                note=f"flip rate {row['flip_rate']:.3f}"
                + (unperturbed if row["perturbation"] == "gaussian_noise" else "")
                + (f"; {'; '.join(notes)}" if notes else ""),
                rule=_rule(policy, None, champ_acc is not None, flips=True),
            )
        )
    details = {"candidate": cand.to_dict(), "champion": champ.to_dict() if champ else None, "failures": failures}
    if not measurements:
        return GateResult(
            gate=GATE,
            status=GateStatus.SKIPPED,
            blocking=policy.blocking,
            summary=f"nothing to attack or perturb: {cand.white_box_note}",
            details=details,
        )
    where = "" if not cand.white_box_note else f" ({cand.white_box_note})"
    if cand.task == "regression":
        where += (
            "; regression: 'accuracy' is minus the mean absolute error in standard deviations of the target, a drop "
            f"is the error's rise, a flip a prediction moved by more than {REGRESSION_FLIP:g} std"
        )
    if failures:
        status = failure_status(policy.blocking)
        summary = f"{len(failures)} robustness check(s) failed: {listing(failures)}{where}."
    else:
        status = GateStatus.PASSED
        clean = (
            f"clean MAE {-cand.clean_accuracy:.3f} target std"
            if cand.task == "regression"
            else f"clean accuracy {cand.clean_accuracy:.3f}"
        )
        summary = f"All {len(measurements)} robustness checks pass ({clean}){where}."
    return GateResult(
        gate=GATE,
        status=status,
        blocking=policy.blocking,
        summary=summary,
        measurements=tuple(measurements),
        details=details,
    )
