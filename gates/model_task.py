"""What a model predicts (binary, multiclass, regression), from the policy, the eval target and the signature."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.errors import BadInputError


@dataclass(frozen=True)
class OutputShape:
    """What the signature says predict() returns: values per row, and whether they are floats."""

    width: int | None  # values per row (None: unknown)
    floating: bool | None  # None: unknown


@dataclass(frozen=True)
class Task:
    """The task the gates judge, how it was chosen, and the class labels of a classification."""

    name: str
    reason: str
    classes: tuple[Any, ...] = ()  # multiclass: the label of each class index; binary: (negative, positive)


BINARY = Task("binary", "default")


def _whole_numbers(values: pd.Series | np.ndarray) -> bool:
    numbers = np.asarray(values, dtype=np.float64)
    return bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))


def infer_task(target: pd.Series, declared: str, max_classes: int, output: OutputShape | None) -> Task:
    """The policy's task, or one inferred from the target's values and the signature's output."""
    values = target.dropna()
    distinct = values.unique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if declared != "auto":
        return Task(declared, "set in the policy")
    if not numeric:
        name = "binary" if len(distinct) <= 2 else "multiclass"
        return Task(name, f"inferred: the target holds {len(distinct)} text labels")
    if not _whole_numbers(distinct):  # each distinct value once: the same answer on millions of rows
        return Task("regression", "inferred: the target holds numbers that are not whole")
    if len(distinct) > max_classes:
        return Task("regression", f"inferred: the target holds {len(distinct)} whole numbers (> max_classes)")
    if output is not None and output.width is not None and output.width > 2:
        return Task("multiclass", f"inferred: the model returns {output.width} values per row")
    if len(distinct) > 2 and output is not None and output.width == 1 and output.floating:
        return Task("regression", "inferred: one floating-point prediction per row for a numeric target")
    if len(distinct) <= 2:
        return Task("binary", "inferred: the target holds two classes")
    return Task("multiclass", f"inferred: the target holds {len(distinct)} classes")


def class_labels(target: pd.Series, declared: list[Any] | None) -> tuple[Any, ...]:
    """The multiclass labels in class-index order: the policy's, else the target's sorted values."""
    if declared:
        return tuple(declared)
    values = target.dropna().unique().tolist()
    try:
        return tuple(sorted(values))
    except TypeError:
        return tuple(sorted(values, key=str))


def class_indices(target: pd.Series, classes: tuple[Any, ...], source: str) -> NDArray[np.int64]:
    """Each row's class index; BadInputError naming labels that are not among the classes."""
    lookup = {str(c): i for i, c in enumerate(classes)}
    text = target.astype(str)
    unknown = sorted(set(text.unique()) - set(lookup))
    if unknown:
        raise BadInputError(
            f"{source}: label(s) {', '.join(unknown[:5])} are not among the model's classes "
            f"({', '.join(map(str, classes[:10]))})"
        )
    return text.map(lookup).to_numpy(dtype=np.int64)


def regression_targets(target: pd.Series, source: str) -> NDArray[np.float64]:
    """The target as floats; BadInputError when it is not numeric."""
    numbers = pd.to_numeric(target, errors="coerce")
    bad = target[numbers.isna() & target.notna()]
    if len(bad):
        raise BadInputError(f"{source}: regression target holds non-numeric values, e.g. {bad.iloc[0]!r}")
    return numbers.to_numpy(dtype=np.float64)
