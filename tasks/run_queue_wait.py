"""The calling thread's run-queue wait (Linux): time it was ready to run while the OS ran something else.

Read from /proc/thread-self/schedstat (its second field, nanoseconds); the latency gate takes it out of each call
it times on CPU, so a neighbour's load on a shared machine is not counted as the model's latency.
"""

from __future__ import annotations

import os

SCHEDSTAT = "/proc/thread-self/schedstat"


class RunQueueWait:
    """A reader bound to the thread that opened it (gates.latency_core.WaitClock)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def read(self) -> bytes:
        return os.pread(self._fd, 64, 0)

    def nanoseconds(self, reading: bytes) -> int:
        return int(reading.split()[1])

    def close(self) -> None:
        os.close(self._fd)


def open_for_this_thread() -> RunQueueWait | None:
    """A reader for the calling thread, or None where the kernel does not report run-queue wait."""
    try:
        fd = os.open(SCHEDSTAT, os.O_RDONLY)
    except OSError:
        return None
    clock = RunQueueWait(fd)
    try:
        clock.nanoseconds(clock.read())
    except (OSError, ValueError, IndexError):
        clock.close()
        return None
    return clock
