"""Human approval, judged purely: when a person is asked, whether an answer counts, what it decides."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from gates.decision import Decision, Verdict
from gates.policy import ApprovalPolicy


class RequestKind(StrEnum):
    """What the approver is asked."""

    CONFIRM = "confirm"  # the gates would promote (or warned): confirm or reject
    OVERRIDE = "override"  # blocking gates failed: promote anyway (with a reason) or confirm the rejection


class ApprovalAnswer(BaseModel):
    """One answer as given in the Prefect form."""

    model_config = ConfigDict(frozen=True)

    approver: str
    approve: bool
    reason: str = ""


class AnswerStatus(StrEnum):
    """How one answer was taken."""

    ACCEPTED = "accepted"
    NOT_ALLOWED = "not_allowed"  # approver not on the allow-list
    NEEDS_REASON = "needs_reason"  # an override without a written reason


class ApprovalRecord(BaseModel):
    """What the approval step produced, for the ledger, the version's tags and the report."""

    model_config = ConfigDict(frozen=True)

    kind: RequestKind
    requests: int = Field(description="How many times the run asked.")
    approver: str | None = None
    approved: bool | None = None
    reason: str = ""
    answered_at: str | None = None
    timed_out: bool = False
    override: bool = False
    ignored: tuple[str, ...] = Field((), description="Answers that did not count, with why.")


def approval_request(decision: Decision, policy: ApprovalPolicy) -> RequestKind | None:
    """Whether this decision waits for a person, and for what."""
    if policy.mode == "never":
        return None
    if decision.verdict is Verdict.REJECT:
        return RequestKind.OVERRIDE if policy.allow_override and decision.failing_gates else None
    if decision.verdict is Verdict.NEEDS_APPROVAL or policy.mode == "always":
        return RequestKind.CONFIRM
    return None


def is_allowed(approver: str, policy: ApprovalPolicy) -> bool:
    """Whether the name is on the allow-list (case-insensitive, surrounding spaces ignored)."""
    name = approver.strip().casefold()
    return bool(name) and name in {a.strip().casefold() for a in policy.approvers}


def judge_answer(answer: ApprovalAnswer, kind: RequestKind, policy: ApprovalPolicy) -> tuple[AnswerStatus, str]:
    """Whether an answer counts; when it does not, the one-line reason."""
    if not is_allowed(answer.approver, policy):
        return AnswerStatus.NOT_ALLOWED, f"{answer.approver.strip() or '(no name)'} is not on the approvers list"
    if kind is RequestKind.OVERRIDE and answer.approve and not answer.reason.strip():
        return AnswerStatus.NEEDS_REASON, f"{answer.approver.strip()} overrode failed gates without a written reason"
    return AnswerStatus.ACCEPTED, ""


def gives_up(status: AnswerStatus, requests: int, policy: ApprovalPolicy) -> bool:
    """After an answer that did not count: stop asking (and reject) rather than ask again."""
    if status is AnswerStatus.NOT_ALLOWED and policy.on_unlisted_approver == "reject":
        return True
    return requests >= policy.max_requests


def apply_approval(decision: Decision, record: ApprovalRecord, policy: ApprovalPolicy) -> Decision:
    """The decision after the approval step: promote, reject, or still needs_approval (left pending)."""
    if record.approved is True:
        verb = "override by" if record.override else "approved by"
        reasons = (f"{verb} {record.approver}: {record.reason or 'no reason given'}", *decision.reasons)
        return decision.model_copy(update={"verdict": Verdict.PROMOTE, "reasons": reasons})
    if record.approved is False:
        reasons = (f"rejected by {record.approver}: {record.reason or 'no reason given'}", *decision.reasons)
        return decision.model_copy(update={"verdict": Verdict.REJECT, "reasons": reasons})
    if record.timed_out and policy.on_timeout == "pending":
        reasons = (f"no approval within {policy.timeout_s} s: left pending", *decision.reasons)
        return decision.model_copy(update={"verdict": Verdict.NEEDS_APPROVAL, "reasons": reasons})
    why = f"no approval within {policy.timeout_s} s" if record.timed_out else "no valid approval"
    if record.ignored:
        why += f" ({'; '.join(record.ignored)})"
    return decision.model_copy(update={"verdict": Verdict.REJECT, "reasons": (why, *decision.reasons)})


def approval_description(kind: RequestKind, summary_markdown: str, policy: ApprovalPolicy, note: str = "") -> str:
    """Markdown shown above the approval form in the Prefect UI."""
    ask = (
        "Blocking gates failed. Approve only to **override** them, and say why in `reason`."
        if kind is RequestKind.OVERRIDE
        else "The gates allow this promotion. Approve to move the champion alias, or reject."
    )
    who = ", ".join(policy.approvers)
    head = f"**Approval needed.** {ask} Answers count from: {who}."
    return "\n\n".join(part for part in (head, f"> {note}" if note else "", summary_markdown) if part)
