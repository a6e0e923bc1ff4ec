"""The eval and reference data of one attempt: read (streamed when large), checked against the policy's size
guard, and labelled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gates.errors import BadInputError
from gates.policy import EvalDataSpec, PromotionPolicy
from tasks.data import file_sha256, labels, read_eval_frame, source_rows
from tasks.policy_files import resolve_data_path
from tasks.stream_data import (
    StreamedRows,
    check_schemas,
    files_sha256,
    is_parquet,
    parquet_files,
    read_streamed,
    row_count,
)


@dataclass(frozen=True)
class EvalData:
    """Eval rows, their labels (0/1, class indices or target values, by task), and the file's hash.

    Streamed data (tasks.stream_data): `frame` and `y` are the seeded sample, `full` what was kept of every row
    and `full_y` every row's labels."""

    frame: pd.DataFrame
    y: np.ndarray
    sha256: str
    path: str
    full: StreamedRows | None = None
    full_y: np.ndarray | None = None


@dataclass(frozen=True)
class Reference:
    """The training reference rows and their file hash."""

    frame: pd.DataFrame
    sha256: str
    path: str


def relabelled(data: EvalData, target: str, read: Callable[[pd.Series], np.ndarray]) -> EvalData:
    """The data with labels read from the target column (every row's too, for streamed data)."""
    whole = None if data.full is None else read(data.full.columns[target])
    return replace(data, y=read(data.frame[target]), full_y=whole)


def eval_data_path(policy: PromotionPolicy, policy_path: str, override: str | None) -> Path:
    """The eval file: the override when given (relative to the working directory), else the policy's."""
    return Path(override).resolve() if override else resolve_data_path(policy_path, policy.eval_data.path)


def read_eval_data(policy: PromotionPolicy, policy_path: str, override: str | None) -> EvalData:
    """The eval rows and their labels: streamed when the data is a Parquet folder, or a Parquet file with more
    rows than `streaming.above_rows` (and no max_rows sample asked for)."""
    path = eval_data_path(policy, policy_path, override)
    spec = policy.eval_data
    if path.exists() and is_parquet(path, spec.format) and spec.inputs_column is None:
        files = parquet_files(path)
        schema = check_schemas(files, path)
        check_size(row_count(files), spec, path)
        if path.is_dir() or (row_count(files) > spec.streaming.above_rows and spec.max_rows is None):
            keep = [spec.target] + (list(policy.gates.bias.sensitive_features) if policy.gates.bias.enabled else [])
            kept = tuple(dict.fromkeys(c for c in keep if c in schema.names))
            found = read_streamed(tuple(map(str, files)), kept, spec.streaming)
            frame = found.sample.copy()
            y = labels(frame, spec).to_numpy() if spec.target in frame.columns else np.empty(0)
            target = found.columns[spec.target] if spec.target in kept else None  # 0/1 in one byte a row:
            whole = None if target is None else target.eq(spec.positive_label).to_numpy(dtype=bool).view(np.int8)
            return EvalData(frame, y, files_sha256(files, path), str(path), found, whole)
    labels_path = spec.labels_path
    frame = read_eval_frame(path, spec, resolve_data_path(policy_path, labels_path) if labels_path else None)
    check_size(
        source_rows(path, spec, resolve_data_path(policy_path, labels_path) if labels_path else None), spec, path
    )
    y = labels(frame, spec).to_numpy() if spec.target in frame.columns else np.empty(0)
    return EvalData(frame=frame, y=y, sha256=file_sha256(path), path=str(path))


def check_size(rows: int, spec: EvalDataSpec, path: Path) -> None:
    """BadInputError when the eval data has more rows than the policy's max_eval_rows guard."""
    if spec.max_eval_rows is not None and rows > spec.max_eval_rows:
        raise BadInputError(
            f"eval data {path} has {rows:,} rows, more than the policy's eval_data.max_eval_rows "
            f"({spec.max_eval_rows:,}); raise the guard or point the policy at the right data"
        )


def read_reference(policy: PromotionPolicy, policy_path: str) -> Reference | None:
    """The policy's reference data, or None when it names none."""
    spec = policy.reference_data
    if spec is None:
        return None
    path = resolve_data_path(policy_path, spec.path)
    if not path.is_file():
        raise BadInputError(f"reference data not found: {path}")
    frame = read_eval_frame(path, spec)  # same readers and sampling as the eval data
    if frame.empty:
        raise BadInputError(f"reference data {path} has no rows")
    return Reference(frame=frame, sha256=file_sha256(path), path=str(path))
