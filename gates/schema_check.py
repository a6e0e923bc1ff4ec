"""Check an eval frame against a model's input columns before any model is scored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from pandas.api import types as ptypes

NUMERIC_TYPES = frozenset({"integer", "long", "float", "double"})
INTEGER_TYPES = frozenset({"integer", "long"})


@dataclass(frozen=True)
class ColumnSpec:
    """One model input column: its name, MLflow type name, and whether it may be missing."""

    name: str
    type: str
    required: bool = True


def _dtype_ok(series: pd.Series, mlflow_type: str) -> bool:
    if mlflow_type in INTEGER_TYPES:
        return ptypes.is_integer_dtype(series) or (
            ptypes.is_float_dtype(series) and bool(series.dropna().eq(series.dropna().round()).all())
        )
    if mlflow_type in NUMERIC_TYPES:
        return ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)
    if mlflow_type == "string":
        return ptypes.is_string_dtype(series) or ptypes.is_object_dtype(series)
    if mlflow_type == "boolean":
        return ptypes.is_bool_dtype(series)
    if mlflow_type == "datetime":
        return ptypes.is_datetime64_any_dtype(series)
    return True


def eval_frame_problems(frame: pd.DataFrame, columns: Sequence[ColumnSpec], target: str) -> list[str]:
    """Everything that stops this frame from being scored and judged; empty when it is usable."""
    problems: list[str] = []
    if frame.empty:
        problems.append("eval data has no rows")
    if target not in frame.columns:
        problems.append(f"target column {target!r} is missing")
    elif frame[target].isna().any():
        problems.append(f"target column {target!r} has {int(frame[target].isna().sum())} missing values")
    missing = [c.name for c in columns if c.required and c.name not in frame.columns]
    if missing:
        problems.append(f"model input column(s) missing: {', '.join(missing)}")
    for col in columns:
        if col.name in frame.columns and not _dtype_ok(frame[col.name], col.type):
            problems.append(f"column {col.name!r} has dtype {frame[col.name].dtype}, the model expects {col.type}")
    return problems
