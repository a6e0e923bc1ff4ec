"""Read evaluation data from CSV or Parquet and check it against a model's inputs."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import pandas as pd

from gates.errors import BadInputError
from gates.model_input import InputSchema
from gates.policy import EvalDataSpec, ReferenceDataSpec
from gates.schema_check import eval_frame_problems
from tasks.array_data import array_format, read_arrays, read_tensor_column

SOURCE_ROWS = "modelgate.source_rows"  # kept on the cached frames only, never on a caller's copy


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_eval_frame(
    path: Path, spec: EvalDataSpec | ReferenceDataSpec, labels_path: Path | None = None
) -> pd.DataFrame:
    """The eval rows, sampled to max_rows when set; BadInputError when the file is missing or unreadable.

    Array files (npz, npy, a Parquet tensor column) become flattened input columns plus the labels
    (tasks.array_data). Equal file contents are parsed once per process (the CLI's preflight and the flow share
    them); each caller gets a copy."""
    frame = _cached(path, spec, labels_path).copy()
    frame.attrs.pop(SOURCE_ROWS, None)
    return frame


def source_rows(path: Path, spec: EvalDataSpec | ReferenceDataSpec, labels_path: Path | None = None) -> int:
    """Rows in the file before any max_rows sample (read_eval_frame's parse, cached)."""
    return int(_cached(path, spec, labels_path).attrs[SOURCE_ROWS])


def _cached(path: Path, spec: EvalDataSpec | ReferenceDataSpec, labels_path: Path | None) -> pd.DataFrame:
    if not path.is_file():
        raise BadInputError(f"eval data not found: {path}")
    arrays = array_format(path, spec.format, spec.inputs_column)
    if arrays is not None:
        target = spec.target if isinstance(spec, EvalDataSpec) else None
        labels_key = spec.labels_key if isinstance(spec, EvalDataSpec) else ""
        labels_file = str(labels_path) if labels_path else None
        labels_hash = file_sha256(labels_path) if labels_path and labels_path.is_file() else None
        key = (arrays, target, spec.inputs_key, labels_key, labels_file, labels_hash, spec.inputs_column)
        return _arrays(str(path), file_sha256(path), key, spec.max_rows)
    return _parsed(str(path), file_sha256(path), spec.format, spec.max_rows)


@lru_cache(maxsize=4)
def _arrays(name: str, _sha256: str, key: tuple, max_rows: int | None) -> pd.DataFrame:
    fmt, target, inputs_key, labels_key, labels_path, _labels_sha256, inputs_column = key
    if inputs_column is not None:
        frame = read_tensor_column(Path(name), inputs_column, target)
    else:
        labels = Path(labels_path) if labels_path else None
        frame = read_arrays(Path(name), fmt, target, inputs_key, labels_key, labels)
    frame.attrs[SOURCE_ROWS] = len(frame)
    if max_rows is not None and len(frame) > max_rows:
        attrs = dict(frame.attrs)
        frame = frame.sample(n=max_rows, random_state=0).reset_index(drop=True)
        frame.attrs.update(attrs)
    return frame


@lru_cache(maxsize=4)
def _parsed(name: str, _sha256: str, fmt: str, max_rows: int | None) -> pd.DataFrame:
    path = Path(name)
    if fmt == "auto":
        fmt = "parquet" if path.suffix in (".parquet", ".pq") else "csv"
    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise BadInputError(f"eval data {path} is empty") from None
    except Exception as exc:
        raise BadInputError(f"cannot read eval data {path} as {fmt}: {type(exc).__name__}: {exc}") from None
    rows = len(frame)
    if max_rows is not None and rows > max_rows:
        frame = frame.sample(n=max_rows, random_state=0).reset_index(drop=True)
    frame.attrs[SOURCE_ROWS] = rows
    return frame


def check_eval_frame(
    frame: pd.DataFrame, schema: InputSchema, spec: EvalDataSpec, source: str, binary: bool = True
) -> None:
    """BadInputError naming the first problem (and how many more) when the frame can't become the model's input."""
    problems = eval_frame_problems(frame, schema, spec.target)
    if not problems and binary and not frame[spec.target].isin([spec.positive_label]).any():
        labels = sorted(map(str, frame[spec.target].unique()))[:5]
        problems.append(f"no row has the positive label {spec.positive_label!r} in {spec.target!r} (seen {labels})")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadInputError(f"eval data {source}: {problems[0]}{more}")


def labels(frame: pd.DataFrame, spec: EvalDataSpec) -> pd.Series:
    """0/1 labels from the target column."""
    return frame[spec.target].eq(spec.positive_label).astype("int64")
