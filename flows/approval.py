"""Asking a person in the Prefect UI: pause with a typed form, judge each answer, ask again or give up."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout, ObjectNotFound
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from prefect.states import Running
from pydantic import Field, ValidationError

from gates.approval import (
    AnswerStatus,
    ApprovalAnswer,
    ApprovalRecord,
    RequestKind,
    approval_description,
    gives_up,
    judge_answer,
)
from gates.policy import ApprovalPolicy


class ApprovalForm(RunInput):
    """The form a paused promotion shows in the Prefect UI."""

    approver: str = Field(description="Your name, as written in the policy's approvers list.")
    approve: bool = Field(description="Approve the promotion (or, for failed gates, override them).")
    reason: str = Field("", description="Why. Required to override failed blocking gates.")


def ask_for_approval(kind: RequestKind, summary_markdown: str, policy: ApprovalPolicy) -> ApprovalRecord:
    """Pause until an answer that counts, the policy's timeout (over all requests), or too many requests."""
    log = get_run_logger()
    deadline = time.monotonic() + policy.timeout_s
    ignored: list[str] = []
    note = ""
    requests = 0
    while True:
        requests += 1
        remaining = max(1, int(deadline - time.monotonic()))
        form = ApprovalForm.with_initial_data(
            description=approval_description(kind, summary_markdown, policy, note), approve=False
        )
        log.info("waiting up to %s s for approval (%s) from %s", remaining, kind.value, ", ".join(policy.approvers))
        try:
            given = pause_flow_run(wait_for_input=form, timeout=remaining, poll_interval=policy.poll_interval_s)
        except FlowPauseTimeout:
            _resume_after_timeout()
            log.warning("no approval within %s s", policy.timeout_s)
            return ApprovalRecord(kind=kind, requests=requests, timed_out=True, ignored=tuple(ignored))
        except (ObjectNotFound, ValidationError):
            given = None
        if given is None:
            status, why = AnswerStatus.NOT_ALLOWED, "the run was resumed without an answer"
        else:
            answer = ApprovalAnswer(approver=given.approver, approve=given.approve, reason=given.reason)
            status, why = judge_answer(answer, kind, policy)
            if status is AnswerStatus.ACCEPTED:
                return ApprovalRecord(
                    kind=kind,
                    requests=requests,
                    approver=answer.approver.strip(),
                    approved=answer.approve,
                    reason=answer.reason.strip(),
                    answered_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    override=kind is RequestKind.OVERRIDE and answer.approve,
                    ignored=tuple(ignored),
                )
        ignored.append(why)
        log.warning("answer does not count: %s", why)
        if gives_up(status, requests, policy) or time.monotonic() >= deadline:
            return ApprovalRecord(kind=kind, requests=requests, ignored=tuple(ignored))
        note = f"The previous answer did not count: {why}."


def _resume_after_timeout() -> None:
    """A timed-out pause leaves the run paused (and Prefect would fail it); the flow carries on instead."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Running(message="approval timed out"), force=True)
