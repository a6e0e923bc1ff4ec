"""What one promotion attempt produced, as the flow returns it and the CLI prints it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from gates.approval import ApprovalRecord
from gates.decision import Decision, Verdict
from gates.result import GateResult


class Outcome(StrEnum):
    """What happened in the registry."""

    PROMOTED = "promoted"
    REJECTED = "rejected"
    STALE = "stale"
    PENDING = "pending"  # waits for a person (approval timed out with on_timeout: pending)
    ROLLED_BACK = "rolled_back"
    DRY_RUN = "dry_run"


EXIT_CODES = {
    "promoted": 0,
    "rejected": 1,
    "bad_input": 2,
    "stale": 3,
    "pending": 4,
    "rolled_back": 0,
    "error": 5,
}


class PromotionOutcome(BaseModel):
    """The decision, the gate results, what was done, and where the evidence lives."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: str
    champion_before: str | None
    champion_after: str | None
    decision: Decision
    outcome: Outcome
    message: str
    gates: tuple[GateResult, ...]
    policy_hash: str
    ledger_run_id: str | None = None
    flow_run_id: str | None = None
    report_links: dict[str, str] = {}
    approval: ApprovalRecord | None = None
    evaluation_key: str | None = None
    reused: bool = False  # an earlier attempt with the same evaluation key already decided; nothing written

    @property
    def exit_code(self) -> int:
        """0 promoted (or a dry run that would promote), 1 rejected, 3 stale evidence, 4 pending approval."""
        if self.outcome is Outcome.DRY_RUN:
            return {Verdict.PROMOTE: 0, Verdict.NEEDS_APPROVAL: EXIT_CODES["pending"]}.get(
                self.decision.verdict, EXIT_CODES["rejected"]
            )
        return EXIT_CODES[self.outcome.value]
