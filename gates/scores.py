"""Turn whatever a model's predict() returned into one positive-class score per row."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.policy import ModelOutputSpec

SCORE_COLUMNS = ("probability", "proba", "score", "prediction", "predictions", "label")


def _softmax_column(values: NDArray, index: int) -> NDArray:
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, index] / exp.sum(axis=1)


def positive_scores(output: Any, spec: ModelOutputSpec, rows: int, positive_label: Any = 1) -> NDArray[np.float64]:
    """Positive-class scores in [0, 1]; ValueError with a one-line reason when the output can't be read.

    Class labels that are not numbers (e.g. "yes"/"no") score 1 where they equal `positive_label`.
    """
    if isinstance(output, pd.DataFrame):
        column = spec.column or next((c for c in SCORE_COLUMNS if c in output.columns), None)
        if column is None and output.shape[1] == 1:
            column = output.columns[0]
        numeric_block = all(pd.api.types.is_numeric_dtype(t) for t in output.dtypes)
        if column is None and spec.column is None and output.shape[1] > 1 and numeric_block:
            values = output.to_numpy()  # per-class columns, e.g. a torch model's logits
        elif column is None or column not in output.columns:
            raise ValueError(f"predict() returned columns {list(output.columns)}; set model_output.column")
        else:
            values = output[column].to_numpy()
    elif isinstance(output, pd.Series):
        values = output.to_numpy()
    elif isinstance(output, dict):
        raise ValueError("predict() returned a dict; expected an array or a DataFrame")
    else:
        values = np.asarray(output)
    if values.dtype == object and values.ndim == 1:
        numbers = pd.to_numeric(pd.Series(values), errors="coerce")
        if numbers.notna().all():
            values = numbers.to_numpy()
    if values.dtype == object or values.dtype.kind in "US":
        if values.ndim != 1 or spec.kind not in ("auto", "label") or not isinstance(positive_label, str):
            raise ValueError("predict() returned non-numeric values")
        values = (values.astype(str) == str(positive_label)).astype(np.float64)
    values = values.astype(np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape[0] != rows:
        raise ValueError(f"predict() returned {values.shape[0]} rows for {rows} inputs")
    kind = spec.kind
    if values.ndim == 2:
        if spec.positive_index >= values.shape[1]:
            raise ValueError(f"positive_index {spec.positive_index} but predict() returned {values.shape[1]} columns")
        is_proba = np.all((values >= 0) & (values <= 1)) and np.allclose(values.sum(axis=1), 1.0, atol=1e-4)
        if kind == "logits" or (kind == "auto" and not is_proba):
            values = _softmax_column(values, spec.positive_index)
        else:
            values = values[:, spec.positive_index]
    elif values.ndim != 1:
        raise ValueError(f"predict() returned an array of shape {values.shape}")
    elif kind == "logits":
        values = 1.0 / (1.0 + np.exp(-values))
    if not np.all(np.isfinite(values)):
        raise ValueError("predict() returned NaN or infinite scores")
    if values.min() < 0 or values.max() > 1:
        raise ValueError("scores fall outside [0, 1]; set model_output.kind to logits")
    if kind == "label" and not np.isin(values, (0.0, 1.0)).all():
        raise ValueError("model_output.kind is label but predict() returned values other than 0 and 1")
    return values
