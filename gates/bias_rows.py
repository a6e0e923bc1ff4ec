"""The bias gate on a large eval set: equal rows collapsed into one weighted row (binary), or a stated sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.int_types import smallest_signed

CHUNK = 1 << 20  # rows per step of the integer coding: its temporaries stay a few MiB on any eval set


def _codes(values: pd.Series | NDArray) -> tuple[NDArray[np.signedinteger], int, object]:
    """(each row's code in sorted value order, missing values last, in the narrowest integer type; how many codes;
    what decodes them)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        categorical = pd.Series(values).cat
        raw = categorical.codes.to_numpy()
        width, decode = len(categorical.categories), categorical.categories
        codes = np.where(raw < 0, width, raw).astype(smallest_signed(0, width), copy=False)
        return codes, width + 1, decode
    if (plain := _as_integers(values)) is not None:
        return _integer_codes(plain, np.asarray(values).dtype.kind == "b")
    found, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), sort=True)
    width = len(uniques)
    found[found < 0] = width  # a missing value is a group of its own, after the others
    return found.astype(smallest_signed(0, width)), width + 1, uniques


def _integer_codes(plain: NDArray, boolean: bool) -> tuple[NDArray[np.signedinteger], int, object]:
    """Integer values' codes: which values occur, then each row's rank among them (chunk by chunk)."""
    low = int(plain.min())
    span = int(plain.max()) - low + 1
    seen = np.zeros(span, dtype=bool)
    for start in range(0, plain.size, CHUNK):
        seen[np.subtract(plain[start : start + CHUNK], low, dtype=np.int64)] = True
    present = np.flatnonzero(seen)  # the distinct values, ascending, as offsets
    kind = smallest_signed(0, present.size)
    remap = np.zeros(span, dtype=kind)
    remap[present] = np.arange(present.size, dtype=kind)
    codes = np.empty(plain.size, dtype=kind)
    for start in range(0, plain.size, CHUNK):
        codes[start : start + CHUNK] = remap[np.subtract(plain[start : start + CHUNK], low, dtype=np.int64)]
    decode = (present + low).astype(bool) if boolean else present + low
    return codes, present.size + 1, decode


def _as_integers(values: pd.Series | NDArray) -> NDArray | None:
    """Booleans and integers spanning under 2**20 values as integers (counted directly), else None."""
    plain = np.asarray(values)
    if plain.dtype.kind == "b":
        plain = plain.view(np.int8)
    if plain.dtype.kind not in "iu" or not plain.size or int(plain.max()) - int(plain.min()) >= 2**20:
        return None
    return plain


def _decoded(codes: NDArray[np.int64], width: int, decode: object, like: pd.Series | NDArray) -> pd.Series | NDArray:
    missing = codes == width - 1
    safe = np.where(missing, 0, codes)
    if isinstance(getattr(like, "dtype", None), pd.CategoricalDtype):
        return pd.Categorical.from_codes(np.where(missing, -1, codes), dtype=like.dtype)  # type: ignore[union-attr]
    values = np.asarray(decode)
    if values.size == 0:
        return np.full(codes.shape, np.nan)
    out = values[safe]
    if not missing.any():
        return out
    out = out.astype(np.float64 if out.dtype.kind == "f" else object)
    out[missing] = np.nan
    return out


def collapsed(
    columns: pd.DataFrame, y: NDArray, candidate: NDArray, champion: NDArray | None
) -> tuple[pd.DataFrame, NDArray, NDArray, NDArray | None, NDArray]:
    """Each distinct (sensitive values, label, candidate prediction, champion prediction) once, in sorted order, with
    how many eval rows it stands for: (columns, y, candidate, champion, weights). Group rates, fairlearn's
    MetricFrame and the bootstrap (multinomial counts of these rows) are then those of the rows themselves.

    Each key is coded as an integer (missing values a code of their own) and the codes combined into one, so one
    counting pass over the rows finds the distinct rows."""
    parts: list[pd.Series | NDArray] = [columns[c] for c in columns.columns]
    parts += [np.asarray(y), np.asarray(candidate)] + ([] if champion is None else [np.asarray(champion)])
    key: NDArray[np.signedinteger] = np.zeros(len(columns), dtype=np.int8)
    coded: list[tuple[int, object]] = []
    space = 1
    for part in parts:  # one key column's codes at a time: besides the key, one array of narrow codes
        codes, width, decode = _codes(part)
        space *= width
        kind = smallest_signed(0, space)  # the key as narrow as the combinations allow
        if np.dtype(kind).itemsize > key.itemsize:
            key = key.astype(kind)
        key *= width
        key += codes
        coded.append((width, decode))
        del codes
    if space <= CHUNK:  # bincount works in 8-byte integers: a chunk of the key at a time
        counts = np.zeros(space, dtype=np.int64)
        for start in range(0, key.size, CHUNK):
            counts += np.bincount(key[start : start + CHUNK], minlength=space)
        distinct = np.flatnonzero(counts)
        weights = counts[distinct]
    elif space <= 4 * len(key) + 1024:
        counts = np.bincount(key, minlength=space)
        distinct = np.flatnonzero(counts)
        weights = counts[distinct]
    else:
        distinct, weights = np.unique(key, return_counts=True)
        distinct = distinct.astype(np.int64)
    decoded = []
    rest = distinct.copy()
    for (width, decode), like in zip(reversed(coded), reversed(parts), strict=True):
        decoded.append(_decoded(rest % width, width, decode, like))
        rest //= width
    decoded.reverse()
    names = list(columns.columns)
    out = pd.DataFrame({c: decoded[i] for i, c in enumerate(names)})
    k = len(names)
    champ = None if champion is None else np.asarray(decoded[k + 2])
    return out, np.asarray(decoded[k]), np.asarray(decoded[k + 1]), champ, weights.astype(np.float64)


def sample_rows(rows: int, size: int, seed: int) -> NDArray:
    """A seeded sample of `size` row positions, ascending."""
    return np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))
