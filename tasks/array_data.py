"""Array eval data (.npz, .npy): images or any fixed-shape tensor per row, read into the one frame the gates share.

Each row's array is flattened, in C order, into columns input_0, input_1, ...; the labels become the target
column. The per-row shape and dtype are kept in `frame.attrs` (ARRAY_SHAPE, ARRAY_DTYPE) for the tensor checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gates.errors import BadInputError
from gates.tensor_data import ARRAY_DTYPE, ARRAY_SHAPE, array_columns

ARRAY_FORMATS = ("npz", "npy")


def array_format(path: Path, fmt: str) -> str | None:
    """'npz' or 'npy' when the file is array data (by format, or by extension under auto), else None."""
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
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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
        raise BadInputError(f"cannot read array {key!r} of {path}: {str(exc).splitlines()[0]}") from None


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
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise BadInputError(f"eval data {path}: inputs must be an array of rows, got shape {list(inputs.shape)}")
    if inputs.dtype.kind not in "fiub":
        raise BadInputError(f"eval data {path}: inputs must be numbers, got dtype {inputs.dtype}")
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
