"""Array eval data (.npz, .npy, or a Parquet tensor column): images or any fixed-shape tensor per row, read into
the one frame the gates share.

Each row's array is flattened, in C order, into columns input_0, input_1, ...; the labels become the target
column. The per-row shape and dtype are kept in `frame.attrs` (ARRAY_SHAPE, ARRAY_DTYPE) for the tensor checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gates.errors import BadInputError
from gates.tensor_data import ARRAY_DTYPE, ARRAY_SHAPE, array_columns

ARRAY_FORMATS = ("npz", "npy")


def array_format(path: Path, fmt: str, inputs_column: str | None = None) -> str | None:
    """'npz', 'npy' or 'parquet' (a tensor column) when the file is array data (by format, by inputs_column,
    or by extension under auto), else None."""
    if inputs_column is not None:
        return "parquet"
    if fmt in ARRAY_FORMATS:
        return fmt
    if fmt == "auto" and path.suffix in (".npz", ".npy"):
        return path.suffix[1:]
    return None


def _load(path: Path, fmt: str) -> Any:
    """The .npz archive or the .npy array; BadInputError when the file is not that (or holds objects)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:
        first = _first_line(exc) or type(exc).__name__
        if "pickled" in first:  # numpy's word for any file that is not an array it can read without pickle
            first = "not a NumPy file (or one holding Python objects)"
        raise BadInputError(f"cannot read {path} as {fmt}: {first}") from None
    if fmt == "npz" and not isinstance(loaded, np.lib.npyio.NpzFile):
        raise BadInputError(f"eval data {path} is a single .npy array, not an .npz archive of named arrays")
    if fmt == "npy" and not isinstance(loaded, np.ndarray):
        loaded.close()
        raise BadInputError(f"eval data {path} is an .npz archive, not one .npy array: set format: npz")
    return loaded


def _array(archive: Any, key: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except Exception as exc:  # an object array, which cannot be read without pickle
        raise BadInputError(f"cannot read array {key!r} of {path}: {_first_line(exc)}") from None


def read_arrays(
    path: Path, fmt: str, target: str | None, inputs_key: str, labels_key: str, labels_path: Path | None
) -> pd.DataFrame:
    """The arrays as a frame: input columns, then the labels under `target` (when labels are given)."""
    labels: np.ndarray | None = None
    if fmt == "npz":
        with _load(path, fmt) as archive:
            keys = sorted(archive.files)
            if inputs_key not in keys:
                raise BadInputError(f"eval data {path} has no array {inputs_key!r} (arrays: {', '.join(keys)})")
            inputs = _array(archive, inputs_key, path)
            if target is not None:
                if labels_key not in keys:
                    raise BadInputError(f"eval data {path} has no array {labels_key!r} (arrays: {', '.join(keys)})")
                labels = _array(archive, labels_key, path)
    else:
        inputs = _load(path, fmt)
        if target is not None:
            if labels_path is None:
                raise BadInputError(f"eval data {path} is one .npy array: name its labels with eval_data.labels_path")
            if not labels_path.is_file():
                raise BadInputError(f"labels not found: {labels_path}")
            labels = _load(labels_path, "npy")
    return _frame(path, inputs, labels, target, "inputs")


def _frame(path: Path, inputs: np.ndarray, labels: np.ndarray | None, target: str | None, what: str) -> pd.DataFrame:
    """Rows of `inputs` flattened into input columns, then the labels under `target`; `what` names the inputs."""
    if inputs.ndim < 2 or inputs.size == 0:
        raise BadInputError(f"eval data {path}: {what} must be an array of rows, got shape {list(inputs.shape)}")
    if inputs.dtype.kind not in "fiub":
        raise BadInputError(f"eval data {path}: {what} must be numbers, got dtype {inputs.dtype}")
    if target is not None and target in array_columns(int(np.prod(inputs.shape[1:]))):
        raise BadInputError(f"eval data {path}: the target {target!r} has the name of an input column; rename it")
    if labels is not None and (labels.ndim != 1 or len(labels) != len(inputs)):
        raise BadInputError(
            f"eval data {path}: labels must be one per input row, got shape {list(labels.shape)} "
            f"for {len(inputs)} inputs"
        )
    flat = inputs.reshape(len(inputs), -1)
    frame = pd.DataFrame(flat, columns=array_columns(flat.shape[1]))
    if labels is not None and target is not None:
        frame[target] = labels
    frame.attrs[ARRAY_SHAPE] = [int(d) for d in inputs.shape[1:]]
    frame.attrs[ARRAY_DTYPE] = str(inputs.dtype)
    return frame


def read_tensor_column(path: Path, column: str, target: str | None) -> pd.DataFrame:
    """A Parquet file's tensor column as the same frame as read_arrays, the labels from its `target` column.

    The column may be Arrow's fixed_shape_tensor, or (fixed-size) lists nested to any depth, every row the same
    shape; null numbers in float lists are NaN (pandas writes NaN as null), any other null is bad input."""
    try:
        names = [n for n in pq.read_schema(path).names if not n.startswith("__index_level_")]
    except Exception as exc:
        raise BadInputError(
            f"cannot read eval data {path} as parquet: {type(exc).__name__}: {_first_line(exc)}"
        ) from None
    for name, kind in ((column, "column"), (target, "target column")):
        if name is not None and name not in names:
            raise BadInputError(f"eval data {path} has no {kind} {name!r} (columns: {', '.join(names)})")
    where = f"eval data {path}: column {column!r}"
    try:
        table = pq.read_table(path, columns=[column] if target is None else [column, target])
        inputs = _tensor_rows(table.column(column).combine_chunks(), where)
        labels = None if target is None else table.column(target).to_pandas().to_numpy()
    except BadInputError:
        raise
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        raise BadInputError(f"cannot read {where}: {type(exc).__name__}: {_first_line(exc)}") from None
    return _frame(path, inputs, labels, target, f"column {column!r}")


def _tensor_rows(arr: pa.Array, where: str) -> np.ndarray:
    """(rows, *shape) from a tensor or nested-list column; BadInputError for what cannot be one."""
    if len(arr) == 0:
        raise BadInputError(f"{where} has no rows")
    if arr.null_count:
        raise BadInputError(f"{where} row {_first_null(arr)} is null")
    if isinstance(arr.type, pa.FixedShapeTensorType):
        permutation = arr.type.permutation
        if permutation is not None and list(permutation) != sorted(permutation):
            raise BadInputError(
                f"{where} is a tensor with permuted dimensions {list(permutation)}; store it in C order"
            )
        storage = arr.storage.flatten()
        _numbers(storage.type, where)
        if storage.null_count and not pa.types.is_floating(storage.type):
            raise BadInputError(f"{where} row {_first_null(storage) // arr.storage.type.list_size} holds a null")
        return storage.to_numpy(zero_copy_only=False).reshape(len(arr), *arr.type.shape)
    if _is_list(arr.type):
        return _nested(arr, where)
    raise BadInputError(f"{where} is {arr.type}, not a list or tensor per row")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _is_list(kind: pa.DataType) -> bool:
    return pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)


def _numbers(kind: pa.DataType, where: str) -> None:
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise BadInputError(f"{where} must hold numbers, got {kind}")


def _first_null(arr: pa.Array) -> int:
    return int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])


def _nested(top: pa.Array, where: str) -> np.ndarray:
    """(rows, *shape) from nested list rows; BadInputError naming the first row of another shape or with a null."""
    arr, dims, offsets, bad = top, [], [], []
    while _is_list(arr.type):
        if arr.null_count:
            raise BadInputError(f"{where} row {_row_of(_first_null(arr), offsets)} holds a null")
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
        other = np.flatnonzero(lengths != lengths[0]) if len(lengths) else lengths
        if len(other):
            bad.append(_row_of(int(other[0]), offsets))
        dims.append(int(lengths[0]) if len(lengths) else 0)
        offsets.append(np.concatenate([[0], np.cumsum(lengths)]))
        arr = arr.flatten()
    if bad:
        row = min(bad)
        this = _shape(top[row].as_py())
        shape = "is ragged (its nested lists differ in length)" if this is None else f"has shape {this}"
        than = f", row 0 has shape {_shape(top[0].as_py())}" if row else ""
        raise BadInputError(f"{where} row {row} {shape}{than}; every row must have the same shape")
    _numbers(arr.type, where)
    if arr.null_count and not pa.types.is_floating(arr.type):
        raise BadInputError(f"{where} row {_row_of(_first_null(arr), offsets)} holds a null")
    return arr.to_numpy(zero_copy_only=False).reshape(len(top), *dims)


def _row_of(index: int, offsets: list[np.ndarray]) -> int:
    """The row holding element `index` of the innermost level reached (offsets: each level's list starts)."""
    for starts in reversed(offsets):
        index = int(np.searchsorted(starts, index, side="right")) - 1
    return index


def _shape(value: Any) -> list[int] | None:
    """A row's nested-list shape, or None when its lists differ in length."""
    if not isinstance(value, list):
        return []
    inner = [_shape(v) for v in value]
    if any(s is None or s != inner[0] for s in inner):
        return None
    return [len(value), *(inner[0] if inner else [])]
