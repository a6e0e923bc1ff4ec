"""Hand memory that Python and numpy freed back to the system: glibc keeps freed heap pages for reuse, so after
a step that made large temporaries (a batch pass, a gate on every row) the process would hold them while idle."""

from __future__ import annotations

import ctypes
import gc


def release_free_memory(collect: bool = True) -> None:
    """Ask glibc to return its free pages (a no-op where the C library is not glibc); `collect`: collect cyclic
    garbage first (a fraction of a second in a process with many objects)."""
    if collect:
        gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc (or no C library by that name): its allocator decides
        pass
