"""Large Parquet eval data (a file, or a folder of files with one schema), read in row batches: never one frame.

One pass keeps what the gates need of every row (the target and the sensitive features, as categories), exact
row and null counts, and a seeded sample of every column for the gates that judge a sample."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gates.errors import BadInputError
from gates.int_types import smallest_signed
from gates.policy import StreamingSpec

PARQUET_SUFFIXES = (".parquet", ".pq")
# Rows per batch of the acting side's own pass (a few tens of MiB of Arrow memory): each batch's Python steps wait
# for the GIL while the main thread imports and asks the registry, so fewer, larger batches finish sooner.
PASS_ROWS = 1 << 18


@dataclass(frozen=True)
class StreamedRows:
    """What one pass over the files kept: every row's kept columns, exact counts, and the sample."""

    files: tuple[str, ...]
    rows: int
    nulls: dict[str, int]  # column -> null count over every row
    columns: pd.DataFrame  # the kept columns of every row
    sample: pd.DataFrame  # every column of the sampled rows
    sample_index: np.ndarray  # the sampled rows' positions, ascending


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a path: the file itself, or a folder's files (recursively, sorted by path)."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in PARQUET_SUFFIXES)
    if not files:
        raise BadInputError(f"eval data folder {path} holds no Parquet files (*.parquet, *.pq)")
    return files


def is_parquet(path: Path, fmt: str) -> bool:
    """Whether the eval data is Parquet (a folder always is)."""
    return path.is_dir() or fmt == "parquet" or (fmt == "auto" and path.suffix in PARQUET_SUFFIXES)


def _schema(file: Path) -> pa.Schema:
    try:
        return pq.read_schema(file)
    except Exception as exc:
        raise BadInputError(f"cannot read eval data {file} as parquet: {type(exc).__name__}: {exc}") from None


def _difference(a: pa.Schema, b: pa.Schema) -> str:
    missing = [n for n in a.names if n not in b.names]
    extra = [n for n in b.names if n not in a.names]
    if missing or extra:
        parts = ([f"lacks {', '.join(missing[:3])}"] if missing else []) + (
            [f"adds {', '.join(extra[:3])}"] if extra else []
        )
        return " and ".join(parts)
    changed = [
        f"{n} is {b.field(n).type}, not {a.field(n).type}" for n in a.names if a.field(n).type != b.field(n).type
    ]
    return changed[0] if changed else "its columns are in another order"


def _fields(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Names and types (nullability and metadata differ between writers of the same data)."""
    return [(f.name, f.type) for f in schema]


def check_schemas(files: list[Path], root: Path) -> pa.Schema:
    """The files' common schema; BadInputError naming the first file whose schema differs from the first's."""
    first = _schema(files[0])
    for file in files[1:]:
        other = _schema(file)
        if _fields(other) != _fields(first):
            raise BadInputError(
                f"eval data {root}: {file.relative_to(root) if root.is_dir() else file} does not have the schema "
                f"of {files[0].relative_to(root) if root.is_dir() else files[0]}: {_difference(first, other)}"
            )
    return first


def row_count(files: list[Path]) -> int:
    """Rows in the files, from their footers."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def files_sha256(files: list[Path], root: Path) -> str:
    """sha256 of a file's bytes; for a folder, of each file's relative path and sha256."""
    from tasks.data import file_sha256

    if not root.is_dir():
        return file_sha256(root)
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(root).as_posix()}\0{file_sha256(file)}\n".encode())
    return digest.hexdigest()


def iter_batches(files: tuple[str, ...], batch_rows: int, columns: list[str] | None = None):  # type: ignore[no-untyped-def]
    """The files' record batches in order (file by file, row group by row group)."""
    for file in files:
        yield from pq.ParquetFile(file).iter_batches(batch_size=batch_rows, columns=columns)


def _compact(column: pa.Array) -> pa.Array:
    """Text as dictionary codes (a few bytes a row); numbers and booleans as they are."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pc.dictionary_encode(column)
    return column


def _kept(chunks: list[pa.Array]) -> pd.Series:
    """A kept column of every row; integers in the narrowest type that holds their range (a 0/1 target: a byte a
    row, not eight)."""
    column = pa.chunked_array(chunks)
    if pa.types.is_integer(column.type) and column.null_count == 0 and len(column):
        bounds = pc.min_max(column).as_py()
        kind = np.dtype(smallest_signed(bounds["min"], bounds["max"]))
        if kind.itemsize * 8 < column.type.bit_width:
            column = column.cast(pa.from_numpy_dtype(kind))
    return column.to_pandas()


def read_streamed(files: tuple[str, ...], keep: tuple[str, ...], spec: StreamingSpec) -> StreamedRows:
    """One pass over the files (cached for the last set read: the CLI's checks and the flow share it)."""
    return _read(files, tuple(Path(f).stat().st_mtime_ns for f in files), keep, spec)


@lru_cache(maxsize=1)
def _read(files: tuple[str, ...], _stamps: tuple[int, ...], keep: tuple[str, ...], spec: StreamingSpec) -> StreamedRows:
    total = row_count([Path(f) for f in files])
    if total == 0:
        raise BadInputError(f"eval data {Path(files[0]).parent if len(files) > 1 else files[0]} has no rows")
    index = np.sort(np.random.default_rng(spec.seed).choice(total, min(spec.sample_rows, total), replace=False))
    schema = _schema(Path(files[0]))
    nulls = dict.fromkeys(schema.names, 0)
    kept: dict[str, list[pa.Array]] = {c: [] for c in keep}
    sampled: list[pa.Table] = []
    offset = 0
    for batch in iter_batches(files, max(spec.batch_rows, PASS_ROWS)):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            nulls[name] += column.null_count
            if pa.types.is_floating(column.type):  # NaN is missing to pandas, not to Arrow's null count
                nulls[name] += int(pc.sum(pc.is_nan(column)).as_py() or 0)
        for name in keep:
            kept[name].append(_compact(batch.column(name)))
        lo, hi = np.searchsorted(index, [offset, offset + batch.num_rows])
        if hi > lo:
            sampled.append(pa.Table.from_batches([batch.take(pa.array(index[lo:hi] - offset))]).cast(schema))
        offset += batch.num_rows
    sample = (pa.concat_tables(sampled) if sampled else schema.empty_table()).to_pandas()
    columns = pd.DataFrame({name: _kept(kept[name]) for name in keep}, index=pd.RangeIndex(total))
    return StreamedRows(files, total, nulls, columns, sample, index)
