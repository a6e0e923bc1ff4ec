"""The bias gate on a large eval set: equal rows collapsed into one weighted row (binary), or a stated sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def _codes(values: pd.Series | NDArray) -> tuple[NDArray[np.int64], int, object]:
    """(each row's code in sorted value order, missing values last; how many codes; what decodes them)."""
    if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
        categorical = pd.Series(values).cat
        codes = categorical.codes.to_numpy().astype(np.int64)
        width, decode = len(categorical.categories), categorical.categories
    elif (plain := _as_integers(values)) is not None:
        low = plain.min()
        offsets = (plain - low).astype(np.int64)
        present = np.flatnonzero(np.bincount(offsets))  # the distinct values, ascending, as offsets
        remap = np.zeros(int(present[-1]) + 1, dtype=np.int64)
        remap[present] = np.arange(present.size)
        codes, width = remap[offsets], present.size
        decode = (present + low).astype(bool) if np.asarray(values).dtype.kind == "b" else present + low
    else:
        found, uniques = pd.factorize(pd.Series(values).reset_index(drop=True), sort=True)
        codes, width, decode = found.astype(np.int64), len(uniques), uniques
    codes[codes < 0] = width  # a missing value is a group of its own, after the others
    return codes, width + 1, decode


def _as_integers(values: pd.Series | NDArray) -> NDArray | None:
    """Booleans and integers spanning under 2**20 values as integers (counted directly), else None."""
    plain = np.asarray(values)
    if plain.dtype.kind == "b":
        plain = plain.astype(np.int8)
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
    key = np.zeros(len(columns), dtype=np.int64)
    coded: list[tuple[int, object]] = []
    for part in parts:  # one key column's codes at a time: a large eval set holds one int64 array besides the key
        codes, width, decode = _codes(part)
        key *= width
        key += codes
        coded.append((width, decode))
        del codes
    space = int(np.prod([width for width, _ in coded], dtype=np.float64))
    if space <= 4 * len(key) + 1024:
        counts = np.bincount(key, minlength=space)
        distinct = np.flatnonzero(counts)
        weights = counts[distinct]
    else:
        distinct, weights = np.unique(key, return_counts=True)
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
