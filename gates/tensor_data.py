"""Array eval data (images, fixed-shape tensors): the tensor checks of the data validation gate, the per-row
summaries the drift gate compares, and the image perturbations of the robustness gate's black-box checks.

Rows are held flattened (C order) in columns input_0, input_1, ...; `ARRAY_SHAPE` in the frame's attrs is each
row's shape. The channel axis is the first of a 3-D row shape (C, H, W) unless only the last is small enough
to be one (H, W, C with C <= 4); 1-D and 2-D rows have one channel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.data_validation import learned_share
from gates.policy import DataValidationGatePolicy, RobustnessGatePolicy
from gates.result import GateResult, Measurement, finish, guarded

ARRAY_SHAPE = "modelgate.array_shape"
ARRAY_DTYPE = "modelgate.array_dtype"
PREFIX = "input_"
SUMMARY_NOTE = "array data: compared per-row summaries (mean and standard deviation of each channel), not raw values"


def array_columns(width: int) -> list[str]:
    """Names of the flattened input columns."""
    return [f"{PREFIX}{i}" for i in range(width)]


def array_shape(frame: pd.DataFrame) -> tuple[int, ...] | None:
    """Each row's array shape when the frame holds array data, else None."""
    shape = frame.attrs.get(ARRAY_SHAPE)
    return None if shape is None else tuple(int(d) for d in shape)


def values(frame: pd.DataFrame, shape: tuple[int, ...]) -> NDArray:
    """The flattened inputs as float64, (rows, prod(shape))."""
    return frame[array_columns(int(np.prod(shape)))].to_numpy(dtype=np.float64)


def channel_axis(shape: tuple[int, ...]) -> int | None:
    """Index of the channel axis within a row's shape, or None for one channel."""
    if len(shape) == 3:
        return 2 if shape[0] > 4 and shape[2] <= 4 else 0
    return None


def _channels(flat: NDArray, shape: tuple[int, ...]) -> NDArray:
    """(rows, channels, values per channel)."""
    rows = flat.reshape((len(flat), *shape))
    axis = channel_axis(shape)
    if axis is None:
        return rows.reshape(len(flat), 1, -1)
    return np.moveaxis(rows, axis + 1, 1).reshape(len(flat), shape[axis], -1)


def summaries(frame: pd.DataFrame, shape: tuple[int, ...]) -> pd.DataFrame:
    """Per row: mean and standard deviation of each channel (what the drift gate compares for array data)."""
    grouped = _channels(values(frame, shape), shape)
    out: dict[str, NDArray] = {}
    for c in range(grouped.shape[1]):
        out[f"channel_{c}_mean"] = grouped[:, c].mean(axis=1)
        out[f"channel_{c}_std"] = grouped[:, c].std(axis=1)
    return pd.DataFrame(out)


def learned_from_reference(
    stated: tuple[float, float] | None, reference: pd.DataFrame | None, shape: tuple[int, ...]
) -> bool:
    """Whether value_range learns the range from the reference (no stated range, reference arrays of this shape)."""
    return stated is None and reference is not None and array_shape(reference) == shape


def value_range(
    stated: tuple[float, float] | None, reference: pd.DataFrame | None, frame: pd.DataFrame, shape: tuple[int, ...]
) -> tuple[float, float]:
    """The valid input range: the policy's, else the reference data's min and max, else the eval data's."""
    if stated is not None:
        return float(stated[0]), float(stated[1])
    source = reference if learned_from_reference(stated, reference, shape) else frame
    flat = values(source, shape)
    finite = flat[np.isfinite(flat)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)


def tensor_checks(
    frame: pd.DataFrame,
    target: str,
    shape: tuple[int, ...],
    bounds: tuple[float, float],
    stated: bool,
    policy: DataValidationGatePolicy,
    reference_rows: int | None = None,
) -> GateResult:
    """Row count, NaN and infinite values, values inside the valid range, labels present.

    A stated range is a contract: no row may leave it. A range learned from `reference_rows` reference arrays
    allows the rows a sound fresh sample would put outside it (data_validation.learned_share)."""
    return guarded(
        "data_validation",
        policy.blocking,
        lambda: _checks(frame, target, shape, bounds, stated, policy, reference_rows),
    )


def _checks(
    frame: pd.DataFrame,
    target: str,
    shape: tuple[int, ...],
    bounds: tuple[float, float],
    stated: bool,
    policy: DataValidationGatePolicy,
    reference_rows: int | None,
) -> GateResult:
    flat = values(frame, shape)
    rows = len(frame)
    low, high = bounds
    if not stated:  # a range learned from the reference gets the policy's margin, as tabular ranges do
        pad = (high - low) * policy.range_margin
        low, high = low - pad, high + pad
    finite = np.isfinite(flat)
    with np.errstate(invalid="ignore"):
        outside_rows = int((((flat < low) | (flat > high)) & finite).any(axis=1).sum())
    nan_rows = int(np.isnan(flat).any(axis=1).sum())
    inf_rows = int(np.isinf(flat).any(axis=1).sum())
    missing_labels = int(frame[target].isna().sum()) if target in frame.columns else rows
    source = "value_range" if stated else f"the reference's range widened by {policy.range_margin:g}"
    allowed = 0
    if not stated and reference_rows:
        share = learned_share(policy, reference_rows, 2 / (reference_rows + 1), rows, 1)
        allowed = math.floor((1 - share) * rows + 1e-9)
        source += f"; up to {allowed} rows outside, as a sound fresh sample may have" if allowed else ""
    checks: list[tuple[str, float, float | None, bool, str]] = [
        ("rows", rows, policy.min_rows, rows >= policy.min_rows, f"at least {policy.min_rows}"),
        ("rows_with_nan", nan_rows, 0, nan_rows == 0, "no NaN in any input"),
        ("rows_with_inf", inf_rows, 0, inf_rows == 0, "no infinite value in any input"),
        (
            "rows_outside_range",
            outside_rows,
            allowed,
            outside_rows <= allowed,
            f"values within [{low:g}, {high:g}] ({source})",
        ),
        ("missing_labels", missing_labels, 0, missing_labels == 0, f"every row has a {target!r} label"),
    ]
    measurements = [Measurement(name=n, value=v, threshold=t, passed=ok, note=note) for n, v, t, ok, note in checks]
    failed = [m for m in measurements if not m.passed]
    dims = "x".join(map(str, shape))
    summary = (
        f"All {len(checks)} tensor checks met on {rows:,} arrays of shape {dims} (dtype "
        f"{frame.attrs.get(ARRAY_DTYPE, '?')}, values in [{low:g}, {high:g}])."
        if not failed
        else f"{len(failed)} of {len(checks)} tensor checks failed: "
        + "; ".join(f"{m.name} = {m.value:g} ({m.note})" for m in failed)
        + "."
    )
    results = [
        {
            "expectation": name,
            "column": "",
            "success": ok,
            "unexpected_count": None,
            "unexpected_percent": None,
            "observed_value": value,
            "examples": [],
            "rule": rule,
        }
        for name, value, _, ok, rule in checks
    ]
    stats = {"evaluated_expectations": len(checks), "successful_expectations": len(checks) - len(failed)}
    return finish(
        "data_validation",
        ok=not failed,
        blocking=policy.blocking,
        summary=summary,
        measurements=measurements,
        details={
            "statistics": stats,
            "results": results,
            "rows": rows,
            "array_shape": list(shape),
            "value_range": [low, high],
        },
    )


def image_perturbations(
    frame: pd.DataFrame, shape: tuple[int, ...], bounds: tuple[float, float], policy: RobustnessGatePolicy
) -> list[tuple[str, float, pd.DataFrame]]:
    """(name, level, perturbed copy) for the black-box checks of array data: Gaussian noise (in units of the
    range's width), blur (sigma in pixels, over the last two axes), brightness shift, contrast, occlusion;
    every result is clipped to the valid range."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(policy.seed)
    flat = values(frame, shape)
    rows = flat.reshape((len(flat), *shape))
    low, high = bounds
    width = high - low
    spatial = _spatial_axes(shape)
    out: list[tuple[str, float, NDArray]] = []
    for level in policy.noise_levels:
        out.append(("gaussian_noise", level, rows + rng.normal(0.0, level * width, rows.shape)))
    for sigma in policy.blur_sigmas if spatial else []:
        sigmas = [0.0] * rows.ndim
        for axis in spatial:
            sigmas[axis + 1] = sigma
        out.append(("blur", sigma, gaussian_filter(rows, sigma=sigmas, mode="nearest")))
    for shift in policy.brightness_shifts:
        out.append(("brightness", shift, rows + shift * width))
    axes = tuple(range(1, rows.ndim))
    for factor in policy.contrast_factors:
        mean = rows.mean(axis=axes, keepdims=True)
        out.append(("contrast", factor, mean + (rows - mean) * factor))
    for size in policy.occlusion_sizes if spatial else []:
        out.append(("occlusion", size, _occlude(rows, spatial, size, low, rng)))
    dtype = frame[array_columns(flat.shape[1])].dtypes.iloc[0]
    return [(name, level, _as_frame(frame, arr, bounds, dtype)) for name, level, arr in out]


def _spatial_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The two image axes of a row's shape (none for 1-D rows)."""
    if len(shape) < 2:
        return ()
    if len(shape) == 3:
        return (0, 1) if channel_axis(shape) == 2 else (1, 2)
    return (len(shape) - 2, len(shape) - 1)


def _occlude(rows: NDArray, spatial: tuple[int, ...], size: float, fill: float, rng: np.random.Generator) -> NDArray:
    out = rows.copy()
    h, w = rows.shape[spatial[0] + 1], rows.shape[spatial[1] + 1]
    ph, pw = max(1, round(h * size)), max(1, round(w * size))
    tops, lefts = rng.integers(0, h - ph + 1, len(rows)), rng.integers(0, w - pw + 1, len(rows))
    for i, (top, left) in enumerate(zip(tops, lefts, strict=True)):
        index: list[Any] = [slice(None)] * (rows.ndim - 1)
        index[spatial[0]] = slice(top, top + ph)
        index[spatial[1]] = slice(left, left + pw)
        out[(i, *index)] = fill
    return out


def _as_frame(frame: pd.DataFrame, arr: NDArray, bounds: tuple[float, float], dtype: Any) -> pd.DataFrame:
    flat = np.clip(arr.reshape(len(arr), -1), *bounds)
    if np.issubdtype(dtype, np.integer):
        flat = np.round(flat)
    copy = frame.copy()
    copy[array_columns(flat.shape[1])] = flat.astype(dtype)
    return copy
