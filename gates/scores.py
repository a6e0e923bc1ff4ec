"""Turn whatever a model's predict() returned into one positive-class score per row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.policy import ModelOutputSpec


class TaskMismatch(ValueError):
    """predict()'s output or the model's classes contradict the task: bad input, not a model failure."""


SCORE_COLUMNS = ("probability", "proba", "score", "prediction", "predictions", "label")
# A classifier graph's outputs as ONNX converters name them (skl2onnx, onnxmltools: `probabilities` and `label`,
# or `output_probability` and `output_label` with ZipMap); probabilities first, so ROC AUC can rank rows.
NAMED_OUTPUTS = ("probabilities", "output_probability", *SCORE_COLUMNS, "output_label")


def named_output(output: Any, spec: ModelOutputSpec) -> Any:
    """The output the gates read when predict() returns several by name; any other output as it is.

    mlflow.onnx's pyfunc returns a dict of the graph's named outputs (numpy arrays; the scoring server's JSON
    holds the same as lists): the entry `model_output.column` names, else the first of NAMED_OUTPUTS there,
    else the only one. Its rows become an array (ZipMap's per-row {class: probability} maps: 2-D, classes in
    the graph's order, as predict_proba's columns).
    """
    if not isinstance(output, Mapping):
        return output
    names = [str(k) for k in output]
    name = spec.column or next((c for c in NAMED_OUTPUTS if c in output), None)
    if name is None and len(names) == 1:
        name = names[0]
    if name is None or name not in output:
        raise ValueError(f"predict() returned outputs {names}; set model_output.column")
    return _per_row(output[name])


def _per_row(values: Any) -> NDArray:
    """One output as an array: per-row class maps (ZipMap) or per-row lists (a JSON body) become 2-D."""
    if isinstance(values, pd.DataFrame | pd.Series):
        return values.to_numpy()
    items = values if isinstance(values, list | tuple) else None
    if isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1:
        items = values.tolist()
    if items and isinstance(items[0], Mapping):
        keys = list(items[0])
        return np.array([[row[k] for k in keys] for row in items], dtype=np.float64)
    if items and isinstance(items[0], list | tuple | np.ndarray):
        return np.array([np.asarray(row, dtype=np.float64) for row in items])
    return np.asarray(values)


def _softmax_column(values: NDArray, index: int) -> NDArray:
    shifted = values - values.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, index] / exp.sum(axis=1)


def positive_scores(output: Any, spec: ModelOutputSpec, rows: int, positive_label: Any = 1) -> NDArray[np.float64]:
    """Positive-class scores in [0, 1]; ValueError with a one-line reason when the output can't be read.

    Class labels that are not numbers (e.g. "yes"/"no") score 1 where they equal `positive_label`.
    """
    output = named_output(output, spec)
    if isinstance(output, pd.DataFrame):
        column = spec.column or next((c for c in NAMED_OUTPUTS if c in output.columns), None)
        if column is None and output.shape[1] == 1:
            column = output.columns[0]
        numeric_block = all(pd.api.types.is_numeric_dtype(t) for t in output.dtypes)
        if column is None and spec.column is None and output.shape[1] > 1 and numeric_block:
            values = output.to_numpy()  # per-class columns, e.g. a torch model's logits
        elif column is None or column not in output.columns:
            raise ValueError(f"predict() returned columns {list(output.columns)}; set model_output.column")
        else:
            values = _per_row(output[column].to_numpy())
    elif isinstance(output, pd.Series):
        values = output.to_numpy()
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


def _values(output: Any, spec: ModelOutputSpec) -> NDArray:
    """predict()'s output as an array: a DataFrame's named column, or all its columns; a dict's named output."""
    output = named_output(output, spec)
    if isinstance(output, pd.DataFrame):
        if spec.column is not None:
            if spec.column not in output.columns:
                raise ValueError(f"predict() returned columns {list(output.columns)}; set model_output.column")
            return _per_row(output[spec.column].to_numpy())
        return output.to_numpy() if output.shape[1] > 1 else output.iloc[:, 0].to_numpy()
    if isinstance(output, pd.Series):
        return output.to_numpy()
    return np.asarray(output)


def served_output(predictions: Any) -> Any:
    """A scoring server's JSON `predictions` as predict() returned them, for the functions above to read.

    Records (a DataFrame's rows) become a DataFrame; named outputs (a dict, e.g. an ONNX graph's) stay a
    dict; anything else (a list per row, or scores) becomes an array.
    """
    if isinstance(predictions, Mapping):
        return dict(predictions)
    if isinstance(predictions, list) and predictions and isinstance(predictions[0], Mapping):
        return pd.DataFrame(predictions)
    return np.asarray(predictions)


def class_probabilities(output: Any, spec: ModelOutputSpec, rows: int, classes: tuple[Any, ...]) -> NDArray:
    """(rows, classes) probabilities: a 2-D output per class column (softmax of logits), or one-hot of labels.

    A DataFrame whose columns are named after the classes is read in class order, whatever its column order."""
    if isinstance(output, pd.DataFrame) and spec.column is None and len(output.columns) == len(classes) > 1:
        by_name = {str(c): c for c in output.columns}
        if set(by_name) == {str(c) for c in classes}:
            output = output[[by_name[str(c)] for c in classes]]
    values = _values(output, spec)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape[0] != rows:
        raise ValueError(f"predict() returned {values.shape[0]} rows for {rows} inputs")
    k = len(classes)
    if values.ndim == 1:
        lookup = {str(c): i for i, c in enumerate(classes)}
        text = pd.Series(values).astype(str)
        if values.dtype.kind == "f" and np.all(values == np.round(values)):
            text = pd.Series(values.astype(np.int64)).astype(str)
        unknown = sorted(set(text.unique()) - set(lookup))
        if unknown:
            if values.dtype.kind == "f" and not np.all(values == np.round(values)):
                raise TaskMismatch(
                    "predict() returned one number per row that is not a class label: the model looks like a "
                    "regression model; set task: regression"
                )
            raise TaskMismatch(
                f"predict() returned label(s) {', '.join(unknown[:5])} outside the classes {classes[:10]}"
            )
        onehot = np.zeros((rows, k))
        onehot[np.arange(rows), text.map(lookup).to_numpy()] = 1.0
        return onehot
    if values.ndim != 2:
        raise ValueError(f"predict() returned an array of shape {values.shape}")
    if values.shape[1] != k:
        raise TaskMismatch(
            f"predict() returned {values.shape[1]} class columns but there are {k} classes "
            f"({', '.join(map(str, classes[:10]))}); set model_output.classes"
        )
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("predict() returned NaN or infinite scores")
    is_proba = np.all((values >= 0) & (values <= 1)) and np.allclose(values.sum(axis=1), 1.0, atol=1e-4)
    if spec.kind == "logits" or (spec.kind == "auto" and not is_proba):
        shifted = values - values.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)
    return values / values.sum(axis=1, keepdims=True)


def regression_values(output: Any, spec: ModelOutputSpec, rows: int) -> NDArray[np.float64]:
    """One predicted value per row; ValueError when the output holds several values per row."""
    values = _values(output, spec)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise TaskMismatch(
            f"a regression model must return one value per row, predict() returned shape {values.shape} "
            "(class scores?); set task, or model_output.column"
        )
    if values.shape[0] != rows:
        raise ValueError(f"predict() returned {values.shape[0]} rows for {rows} inputs")
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError):
        raise TaskMismatch("a regression model must return numbers; predict() returned text (class labels?)") from None
    if not np.all(np.isfinite(numbers)):
        raise ValueError("predict() returned NaN or infinite predictions")
    return numbers


def task_scores(
    output: Any, task: str, spec: ModelOutputSpec, rows: int, positive_label: Any, classes: tuple[Any, ...]
) -> NDArray[np.float64]:
    """What the gates judge for a task: positive-class scores, class probabilities, or predicted values."""
    if task == "multiclass":
        return class_probabilities(output, spec, rows, classes)
    if task == "regression":
        return regression_values(output, spec, rows)
    return positive_scores(output, spec, rows, positive_label)
