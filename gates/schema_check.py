"""Check an eval frame before any model is scored: the target, and every model input (one input path)."""

from __future__ import annotations

import pandas as pd

from gates.model_input import InputColumn, InputSchema, input_problems

ColumnSpec = InputColumn  # one model input column: name, MLflow type name, required


def target_problems(frame: pd.DataFrame, target: str) -> list[str]:
    """Why the frame cannot be judged: no rows, or a missing or incomplete target column."""
    problems: list[str] = []
    if frame.empty:
        problems.append("eval data has no rows")
    if target not in frame.columns:
        problems.append(f"target column {target!r} is missing")
    elif frame[target].isna().any():
        problems.append(f"target column {target!r} has {int(frame[target].isna().sum())} missing values")
    return problems


def eval_frame_problems(frame: pd.DataFrame, schema: InputSchema, target: str) -> list[str]:
    """Everything that stops this frame from being scored and judged; empty when it is usable."""
    return target_problems(frame, target) + input_problems(frame, schema)
