"""The one input path: eval rows in, exactly what a version's predict() receives out, from its signature.

Every caller of a model goes through `prepare`: scoring, the clean-subprocess probe, robustness,
latency, and the JSON body sent to a scoring server. `input_problems` says, column by column, why a
frame cannot become that input (checked before any gate runs).

Casts follow the signature's widths: double -> float where the signature says float (MLflow refuses
that downcast itself), integral values -> integer/long, anything -> string for string columns, with
nulls kept where the type can hold them. Missing values in an integer column are data quality, judged by
the data validation gate, not a shape problem: such a column is left as numbers with NaN. A tensor
signature takes the policy's `tensor_input_columns`, in order, as one array of the signature's dtype and
shape.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

FLOAT_TYPES = {"float": np.float32, "double": np.float64}
INT_TYPES = {"integer": np.int32, "long": np.int64}
NUMERIC_TYPES = frozenset({*FLOAT_TYPES, *INT_TYPES})
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class InputColumn:
    """One named input of a column-based signature: MLflow type name, and whether it may be absent."""

    name: str
    type: str
    required: bool = True


@dataclass(frozen=True)
class TensorInput:
    """A single-tensor signature: dtype, shape (-1 for the batch), and the eval columns that form it."""

    dtype: str
    shape: tuple[int, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class InputSchema:
    """What predict() takes: named columns, or one tensor built from named eval columns.

    `signed` is False for a version logged without a signature: its columns and types are the eval data's."""

    columns: tuple[InputColumn, ...] = ()
    tensor: TensorInput | None = None
    signed: bool = True

    @property
    def names(self) -> list[str]:
        """The eval columns the model reads, in order."""
        return list(self.tensor.columns) if self.tensor else [c.name for c in self.columns]

    @property
    def numeric(self) -> list[str]:
        """Columns that enter the model as numbers."""
        if self.tensor:
            return list(self.tensor.columns)
        return [c.name for c in self.columns if c.type in NUMERIC_TYPES]

    @property
    def categorical(self) -> list[str]:
        """String columns."""
        return [] if self.tensor else [c.name for c in self.columns if c.type == "string"]

    def describe(self) -> str:
        """One line for reports."""
        if self.tensor:
            spec = self.tensor
            if list(spec.columns) == [f"input_{i}" for i in range(len(spec.columns))]:  # array eval data
                return (
                    f"tensor {spec.dtype}{list(spec.shape)} from the eval arrays ({len(spec.columns)} values per row)"
                )
            return f"tensor {spec.dtype}{list(spec.shape)} from columns {', '.join(spec.columns)}"
        listed = ", ".join(f"{c.name}: {c.type}{'' if c.required else ' (optional)'}" for c in self.columns)
        return listed if self.signed else f"no signature logged; the eval data's columns as they are: {listed}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (the judging side receives this)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSchema:
        """Inverse of to_dict."""
        tensor = data.get("tensor")
        return cls(
            signed=bool(data.get("signed", True)),
            columns=tuple(InputColumn(**c) for c in data.get("columns", ())),
            tensor=None
            if tensor is None
            else TensorInput(dtype=tensor["dtype"], shape=tuple(tensor["shape"]), columns=tuple(tensor["columns"])),
        )


def _column_type(series: pd.Series) -> str:
    """The MLflow type name of an eval column as pandas holds it."""
    if ptypes.is_bool_dtype(series):
        return "boolean"
    if ptypes.is_integer_dtype(series):
        return "long" if series.dtype.itemsize > 4 else "integer"
    if ptypes.is_float_dtype(series):
        return "double" if series.dtype.itemsize > 4 else "float"
    if ptypes.is_datetime64_any_dtype(series):
        return "datetime"
    return "string"


def schema_from_frame(frame: pd.DataFrame, columns: Sequence[str]) -> InputSchema:
    """The input of a version logged without a signature: these eval columns, with the types the data has."""
    return InputSchema(columns=tuple(InputColumn(c, _column_type(frame[c])) for c in columns), signed=False)


@dataclass
class _Report:
    problems: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.problems.append(text)


def _examples(values: pd.Series) -> str:
    shown = ", ".join(repr(v) for v in values.head(MAX_EXAMPLES).tolist())
    more = f" and {len(values) - MAX_EXAMPLES} more" if len(values) > MAX_EXAMPLES else ""
    return shown + more


def _as_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The column as float64, and the original values that are not numbers (bools count as non-numbers)."""
    if ptypes.is_bool_dtype(series):
        return series.astype(np.float64), series.iloc[0:0]
    if ptypes.is_numeric_dtype(series):
        return series.astype(np.float64), series.iloc[0:0]
    numbers = pd.to_numeric(series, errors="coerce")
    bad = series[numbers.isna() & series.notna()]
    return numbers.astype(np.float64), bad


def _column_problems(series: pd.Series, col: InputColumn, report: _Report) -> None:
    name, kind = col.name, col.type
    if kind in NUMERIC_TYPES:
        numbers, bad = _as_numbers(series)
        if len(bad):
            report.add(f"column {name!r} holds text where the model expects {kind}: {_examples(bad)}")
            return
        if kind in INT_TYPES:  # missing values are the data validation gate's to judge (allow_nulls)
            numbers = numbers.dropna()
            fractional = numbers[numbers != np.round(numbers)]
            if len(fractional):
                report.add(
                    f"column {name!r} holds non-integer values where the model expects {kind}: {_examples(fractional)}"
                )
                return
            info = np.iinfo(INT_TYPES[kind])
            outside = numbers[(numbers < info.min) | (numbers > info.max)]
            if len(outside):
                report.add(f"column {name!r} holds values outside the {kind} range: {_examples(outside)}")
    elif kind == "boolean":
        values = series.dropna()
        if not ptypes.is_bool_dtype(values) and not values.isin([0, 1, True, False]).all():
            report.add(f"column {name!r} holds values that are not booleans: {_examples(values[~values.isin([0, 1])])}")
    elif kind == "datetime":
        parsed = pd.to_datetime(series, errors="coerce")
        bad = series[parsed.isna() & series.notna()]
        if len(bad):
            report.add(f"column {name!r} holds values that are not dates: {_examples(bad)}")


def input_problems(frame: pd.DataFrame, schema: InputSchema) -> list[str]:
    """Why `frame` cannot become the model's input, one line per problem, each naming its column."""
    report = _Report()
    if schema.tensor is not None:
        missing = [c for c in schema.tensor.columns if c not in frame.columns]
        if missing:
            report.add(f"tensor input column(s) missing from the eval data: {', '.join(missing)}")
        for name in (c for c in schema.tensor.columns if c in frame.columns):
            numbers, bad = _as_numbers(frame[name])
            if len(bad):
                report.add(f"column {name!r} holds text where the model's tensor expects numbers: {_examples(bad)}")
            elif numbers.isna().any():
                report.add(
                    f"column {name!r} has {int(numbers.isna().sum())} missing value(s); tensors cannot hold them"
                )
        width = schema.tensor.shape[1] if len(schema.tensor.shape) == 2 else None
        if width not in (None, -1) and width != len(schema.tensor.columns):
            report.add(
                f"the model's tensor input has shape {list(schema.tensor.shape)}; "
                f"tensor_input_columns names {len(schema.tensor.columns)} columns"
            )
        return report.problems
    for col in schema.columns:
        if col.name not in frame.columns:
            if col.required:
                report.add(f"model input column {col.name!r} ({col.type}) is missing from the eval data")
            continue
        _column_problems(frame[col.name], col, report)
    return report.problems


def _as_text(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cast(series: pd.Series, kind: str) -> pd.Series:
    """The column in the type the schema names (possibly the series itself: prepare copies it)."""
    if kind in FLOAT_TYPES:
        if series.dtype == FLOAT_TYPES[kind]:
            return series
        return _as_numbers(series)[0].astype(FLOAT_TYPES[kind])
    if kind in INT_TYPES:
        if series.dtype == INT_TYPES[kind]:  # a NumPy integer column holds no missing values
            return series
        numbers = _as_numbers(series)[0]
        # an integer column cannot hold missing values: left as numbers with NaN, for predict() to judge
        return numbers if numbers.isna().any() else numbers.astype(INT_TYPES[kind])
    if kind == "string":  # missing values stay as they are; 7.0 read from a file of codes becomes "7"
        if ptypes.is_object_dtype(series) and ptypes.infer_dtype(series, skipna=False) == "string":
            return series  # already text (the common case): no per-value conversion
        return series.astype(object).map(_as_text)
    if kind == "boolean":
        return series if series.isna().any() else series.astype(bool)
    if kind == "datetime":
        return pd.to_datetime(series)
    return series


def prepare(frame: pd.DataFrame, schema: InputSchema) -> pd.DataFrame | np.ndarray:
    """Exactly what predict() receives: the signature's columns in its order and widths, or one tensor.

    Call `input_problems` first; `prepare` assumes the frame can be converted.
    """
    if schema.tensor is not None:
        spec = schema.tensor
        array = frame[list(spec.columns)].to_numpy(dtype=np.dtype(spec.dtype), copy=True)
        tail = tuple(d for d in spec.shape[1:])
        if tail and all(d > 0 for d in tail) and int(np.prod(tail)) == array.shape[1] and len(tail) > 1:
            array = array.reshape((array.shape[0], *tail))
        return array
    out = {}
    for col in schema.columns:
        if col.name in frame.columns:
            out[col.name] = _cast(frame[col.name], col.type).to_numpy(copy=True)  # the model's own copy
    # one block per column: consolidating text columns into one block took most of this function's time
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), copy=False)


def json_body(prepared: pd.DataFrame | np.ndarray) -> dict[str, Any]:
    """The body an MLflow scoring server's /invocations takes for this input."""
    if isinstance(prepared, np.ndarray):
        return {"inputs": prepared.tolist()}
    return {"dataframe_split": json.loads(prepared.to_json(orient="split", index=False, date_format="iso"))}


def select_rows(frame: pd.DataFrame, rows: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """The given rows, re-indexed from 0 (what a caller hands to prepare for a sample)."""
    return frame.iloc[np.asarray(rows)].reset_index(drop=True)
