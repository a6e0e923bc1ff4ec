"""The narrowest integer type for a range of values (large eval sets keep codes and labels a byte a row)."""

from __future__ import annotations

import numpy as np


def smallest_signed(low: int, high: int) -> type[np.signedinteger]:
    """The smallest signed integer type that holds every value from low to high."""
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return kind
    return np.int64
