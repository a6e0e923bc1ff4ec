"""The bias gate on a large eval set: equal rows collapsed into one weighted row (binary), or a stated sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def collapsed(
    columns: pd.DataFrame, y: NDArray, candidate: NDArray, champion: NDArray | None
) -> tuple[pd.DataFrame, NDArray, NDArray, NDArray | None, NDArray]:
    """Each distinct (sensitive values, label, candidate prediction, champion prediction) once, with how many eval
    rows it stands for: (columns, y, candidate, champion, weights). Group rates, fairlearn's MetricFrame and the
    bootstrap (multinomial counts of these rows) are then those of the rows themselves."""
    names = list(columns.columns)
    keys = pd.DataFrame({f"c{i}": columns[c].reset_index(drop=True) for i, c in enumerate(names)})
    keys["y"], keys["candidate"] = np.asarray(y), np.asarray(candidate)
    if champion is not None:
        keys["champion"] = np.asarray(champion)
    counts = keys.groupby(list(keys.columns), observed=True, dropna=False, sort=True).size()
    found = counts.index.to_frame(index=False)
    out = pd.DataFrame({c: found[f"c{i}"] for i, c in enumerate(names)})
    champ = None if champion is None else found["champion"].to_numpy()
    return out, found["y"].to_numpy(), found["candidate"].to_numpy(), champ, counts.to_numpy(dtype=np.float64)


def sample_rows(rows: int, size: int, seed: int) -> NDArray:
    """A seeded sample of `size` row positions, ascending."""
    return np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))
