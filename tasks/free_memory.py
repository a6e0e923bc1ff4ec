"""Hand memory that Python and numpy freed back to the system: glibc keeps freed heap pages for reuse, so after
a step that made large temporaries (a batch pass, a gate on every row) the process would hold them while idle."""

from __future__ import annotations

import ctypes
import gc


def release_free_memory() -> None:
    """Collect garbage, then ask glibc to return its free pages (a no-op where the C library is not glibc)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its allocator decides
        pass
