"""What one promotion attempt produced, and the one outcome table: exit code, Prefect state, help text."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class OutcomeRow:
    """How one outcome shows to CI (exit code), in Prefect (state name and type) and in the CLI's help."""

    key: str
    exit_code: int
    state_name: str | None
    state_type: str | None
    help: str


# Rejected ends the flow run FAILED, so a rejection is red in Prefect's runs list and counted on its dashboard
# with the failed runs (and `prefect deployment run --watch` exits non-zero); an attempt that decided nothing
# (stale evidence, nobody approved) ends CANCELLED (grey); promotions, rollbacks and dry runs end COMPLETED.
OUTCOME_TABLE: tuple[OutcomeRow, ...] = (
    OutcomeRow("promoted", 0, "Promoted", "COMPLETED", "promoted (or, with --dry-run, would be promoted)"),
    OutcomeRow("rejected", 1, "Rejected", "FAILED", "rejected (or, with --dry-run, would be rejected)"),
    OutcomeRow(
        "bad_input",
        2,
        None,
        None,
        "bad input: unknown model/version, version not READY, bad policy or eval data; nothing was written",
    ),
    OutcomeRow(
        "stale",
        3,
        "Stale",
        "CANCELLED",
        "not promoted: the champion moved while the candidate was being evaluated (re-run to judge again)",
    ),
    OutcomeRow(
        "pending", 4, "Pending", "CANCELLED", "pending: waiting for a person's approval (or a dry run that would ask)"
    ),
    OutcomeRow(
        "error",
        5,
        None,
        None,
        "error: the tracking server is unreachable, or the promotion lock could not be taken in time",
    ),
    OutcomeRow("rolled_back", 0, "RolledBack", "COMPLETED", "rolled back"),
    OutcomeRow("dry_run", 0, "DryRun", "COMPLETED", "dry run (exit code as the decision would be)"),
)
ROWS = {row.key: row for row in OUTCOME_TABLE}
EXIT_CODES = {row.key: row.exit_code for row in OUTCOME_TABLE}
STATE_EXIT_CODES = {row.state_name: row.exit_code for row in OUTCOME_TABLE if row.state_name and row.key != "dry_run"}


def exit_help() -> str:
    """The exit-code section of the CLI's help."""
    lines = ["exit codes:"]
    seen: set[int] = set()
    for row in OUTCOME_TABLE:
        if row.exit_code in seen or row.key in ("rolled_back", "dry_run"):
            continue
        seen.add(row.exit_code)
        lines.append(f"  {row.exit_code}  {row.help}")
    return "\n".join(lines) + "\n"


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
    decided_at: str | None = None
    warnings: tuple[str, ...] = ()  # e.g. a champion move nobody decided, noticed while acting

    @property
    def exit_code(self) -> int:
        """The outcome table's exit code (a dry run exits as its decision would)."""
        if self.outcome is Outcome.DRY_RUN:
            return {Verdict.PROMOTE: EXIT_CODES["promoted"], Verdict.NEEDS_APPROVAL: EXIT_CODES["pending"]}.get(
                self.decision.verdict, EXIT_CODES["rejected"]
            )
        return EXIT_CODES[self.outcome.value]

    @property
    def state(self) -> OutcomeRow:
        """The Prefect state this outcome ends the flow run in."""
        return ROWS[self.outcome.value]
