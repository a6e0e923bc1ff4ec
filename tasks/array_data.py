"""Array eval data (.npz, .npy): images or any fixed-shape tensor per row, read into the one frame the gates share.

Each row's array is flattened, in C order, into columns input_0, input_1, ...; the labels become the target
column. The per-row shape and dtype are kept in `frame.attrs` (ARRAY_SHAPE, ARRAY_DTYPE) for the tensor checks.
"""

from __future__ import annotations

from pathlib import Path

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


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise BadInputError(f"cannot read {path} as a NumPy array: {type(exc).__name__}: {exc}") from None


def read_arrays(
    path: Path, fmt: str, target: str | None, inputs_key: str, labels_key: str, labels_path: Path | None
) -> pd.DataFrame:
    """The arrays as a frame: input columns, then the labels under `target` (when labels are given)."""
    labels: np.ndarray | None = None
    if fmt == "npz":
        archive = _load(path)
        keys = sorted(archive.files)
        if inputs_key not in keys:
            raise BadInputError(f"eval data {path} has no array {inputs_key!r} (arrays: {', '.join(keys)})")
        inputs = archive[inputs_key]
        if target is not None:
            if labels_key not in keys:
                raise BadInputError(f"eval data {path} has no array {labels_key!r} (arrays: {', '.join(keys)})")
            labels = archive[labels_key]
    else:
        inputs = _load(path)
        if target is not None:
            if labels_path is None:
                raise BadInputError(f"eval data {path} is one .npy array: name its labels with eval_data.labels_path")
            if not labels_path.is_file():
                raise BadInputError(f"labels not found: {labels_path}")
            labels = _load(labels_path)
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
