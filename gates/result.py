"""The result of one gate: data, never an exception."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class GateStatus(StrEnum):
    """Outcome of a gate."""

    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    ERRORED = "errored"
    SKIPPED = "skipped"


class Measurement(BaseModel):
    """One number a gate judged, with what it was judged against."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: float | None
    threshold: float | None = None
    champion_value: float | None = None
    difference: float | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    passed: bool | None = None
    note: str = ""
    rule: str = ""  # the rule this number was judged by, in words (e.g. ">= 0.80; beat the champion by >= 0.002")
    relative: bool = False  # `difference` is relative (0.1 = +10%), not absolute


class GateResult(BaseModel):
    """What one gate found: status, a one-sentence summary, measurements and details."""

    model_config = ConfigDict(frozen=True)

    gate: str
    status: GateStatus
    blocking: bool = True
    summary: str
    measurements: tuple[Measurement, ...] = ()
    details: dict[str, Any] = Field(default_factory=dict)
    report_files: tuple[str, ...] = ()

    @property
    def blocks_promotion(self) -> bool:
        """True when this result alone must stop a promotion."""
        return self.blocking and self.status in (GateStatus.FAILED, GateStatus.ERRORED)


def finish(
    gate: str,
    *,
    ok: bool,
    blocking: bool,
    summary: str,
    measurements: list[Measurement],
    details: dict[str, Any] | None = None,
    report_files: tuple[str, ...] = (),
) -> GateResult:
    """Build a result whose failure is `failed` when blocking and `warned` otherwise."""
    return GateResult(
        gate=gate,
        status=GateStatus.PASSED if ok else failure_status(blocking),
        blocking=blocking,
        summary=summary,
        measurements=tuple(measurements),
        details=details or {},
        report_files=report_files,
    )


def failure_status(blocking: bool) -> GateStatus:
    """`failed` for a blocking gate, `warned` otherwise."""
    return GateStatus.FAILED if blocking else GateStatus.WARNED


def errored(gate: str, error: BaseException | str, *, blocking: bool = True) -> GateResult:
    """A gate that could not run to the end; the error text is kept."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return GateResult(
        gate=gate,
        status=GateStatus.ERRORED,
        blocking=blocking,
        summary=f"{gate} gate errored: {text.splitlines()[0] if text else 'unknown error'}",
        details={"error": text},
    )


def guarded(gate: str, blocking: bool, run: Callable[[], GateResult]) -> GateResult:
    """run(), or an errored result carrying the exception: a gate reports, never raises."""
    try:
        return run()
    except Exception as exc:
        return errored(gate, exc, blocking=blocking)


def skipped(gate: str, reason: str, *, blocking: bool = True) -> GateResult:
    """A gate that did not run, and why."""
    return GateResult(gate=gate, status=GateStatus.SKIPPED, blocking=blocking, summary=reason)


def listing(items: list[str], limit: int = 6) -> str:
    """Every item joined by '; ' (after `limit`, how many more), for summaries that name each failure."""
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")
