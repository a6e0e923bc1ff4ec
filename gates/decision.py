"""decide(): gate results plus policy in, promote / reject / needs_approval out. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from gates.result import GateResult, GateStatus


class Verdict(StrEnum):
    """What happens to the candidate."""

    PROMOTE = "promote"
    REJECT = "reject"
    NEEDS_APPROVAL = "needs_approval"


class Decision(BaseModel):
    """The verdict, why, and which gates stood in the way."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    reasons: tuple[str, ...]
    failing_gates: tuple[str, ...] = ()
    warning_gates: tuple[str, ...] = ()


def decide(results: Sequence[GateResult], *, require_approval_on_warning: bool = False) -> Decision:
    """Reject on any blocking failure or error, or when no gate ran; otherwise promote.

    Skipped gates neither pass nor block (the gate says why it skipped).

    With `require_approval_on_warning`, a run with warnings but no blocking failure needs approval.
    """
    if not results:
        return Decision(verdict=Verdict.REJECT, reasons=("no gate ran",))
    failing = [r for r in results if r.blocks_promotion]
    warnings = [
        r for r in results if r.status is GateStatus.WARNED or (r.status is GateStatus.ERRORED and not r.blocking)
    ]
    if failing:
        return Decision(
            verdict=Verdict.REJECT,
            reasons=tuple(f"{r.gate}: {r.summary}" for r in failing),
            failing_gates=tuple(r.gate for r in failing),
            warning_gates=tuple(r.gate for r in warnings),
        )
    ran = [r for r in results if r.status is not GateStatus.SKIPPED and r.gate != "provenance"]
    if not ran:  # provenance says where a model came from, not whether it is good
        return Decision(verdict=Verdict.REJECT, reasons=("every gate was skipped",))
    if warnings and require_approval_on_warning:
        return Decision(
            verdict=Verdict.NEEDS_APPROVAL,
            reasons=tuple(f"{r.gate}: {r.summary}" for r in warnings),
            warning_gates=tuple(r.gate for r in warnings),
        )
    reasons = ("all blocking gates passed",) + tuple(f"warning: {r.gate}: {r.summary}" for r in warnings)
    return Decision(verdict=Verdict.PROMOTE, reasons=reasons, warning_gates=tuple(r.gate for r in warnings))
