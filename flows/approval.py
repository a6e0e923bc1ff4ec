"""Asking a person in the Prefect UI: a typed form, each answer judged, asked again or given up.

A run with a deployment suspends (`suspend_flow_run`): its process exits and frees the worker's slot, and
Prefect runs the flow again from the top once resumed. The gates are cached in MLflow on the evaluation
key, so the re-run reaches this point again quickly; each request's pause key is its number, so there the
answered requests return their answers at once, in order, and only a new request suspends again. A plain
flow call (the CLI's `promote`) or a subflow cannot be rescheduled and blocks (`pause_flow_run`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout, ObjectNotFound
from prefect.flow_runs import pause_flow_run, suspend_flow_run
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
from tasks import approval_waits


class ApprovalForm(RunInput):
    """The form a waiting promotion shows in the Prefect UI."""

    approver: str = Field(description="Your name, as written in the policy's approvers list.")
    approve: bool = Field(description="Approve the promotion (or, for failed gates, override them).")
    reason: str = Field("", description="Why. Required to override failed blocking gates.")


@dataclass(frozen=True)
class Waited:
    """One request's result: the answer (None: resumed without one), or timed out."""

    given: ApprovalForm | None = None
    timed_out: bool = False
    answered_at: datetime | None = None  # known for a suspended run's answers (its state history)


Wait = Callable[[type[ApprovalForm], str, ApprovalPolicy], Waited]


def ask_for_approval(kind: RequestKind, summary_markdown: str, policy: ApprovalPolicy) -> ApprovalRecord:
    """Ask until an answer that counts, the policy's timeout (over all requests), or too many requests."""
    log = get_run_logger()
    wait = _suspended if _deployed() else _blocking(policy)
    ignored: list[str] = []
    note = ""
    requests = 0
    while True:
        requests += 1
        form = ApprovalForm.with_initial_data(
            description=approval_description(kind, summary_markdown, policy, note), approve=False
        )
        log.info("asking for approval (%s, request %s) from %s", kind.value, requests, ", ".join(policy.approvers))
        waited = wait(form, str(requests), policy)
        if waited.timed_out:
            log.warning("no approval within %s s", policy.timeout_s)
            return ApprovalRecord(kind=kind, requests=requests, timed_out=True, ignored=tuple(ignored))
        if waited.given is None:
            status, why = AnswerStatus.NOT_ALLOWED, "the run was resumed without an answer"
        else:
            given = waited.given
            answer = ApprovalAnswer(approver=given.approver, approve=given.approve, reason=given.reason)
            status, why = judge_answer(answer, kind, policy)
            if status is AnswerStatus.ACCEPTED:
                return ApprovalRecord(
                    kind=kind,
                    requests=requests,
                    approver=answer.approver.strip(),
                    approved=answer.approve,
                    reason=answer.reason.strip(),
                    answered_at=(waited.answered_at or datetime.now(UTC)).isoformat(timespec="seconds"),
                    override=kind is RequestKind.OVERRIDE and answer.approve,
                    ignored=tuple(ignored),
                )
        ignored.append(why)
        log.warning("answer does not count: %s", why)
        if gives_up(status, requests, policy):
            return ApprovalRecord(kind=kind, requests=requests, ignored=tuple(ignored))
        note = f"The previous answer did not count: {why}."


def _deployed() -> bool:
    """A run of a deployment, not a subflow: Prefect can suspend it and schedule it again."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    return bool(run and run.deployment_id and not run.parent_task_run_id)


def _suspended(form: type[ApprovalForm], key: str, policy: ApprovalPolicy) -> Waited:
    """A request of a deployed run: suspend (this process exits) unless the request was already answered,
    as on the re-run after a resume. An answer given after the deadline counts as none."""
    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None  # _deployed() checked it
    run_id = context.flow_run.id
    deadline = approval_waits.approval_deadline(run_id, policy.timeout_s)
    asked = approval_waits.request(run_id, key)
    if asked.asked_at is None and datetime.now(UTC) >= deadline:
        return Waited(timed_out=True)  # a new request after the deadline: nobody is asked again
    try:
        given = suspend_flow_run(wait_for_input=form, key=key)  # raises Pause for a new request
    except (ObjectNotFound, ValidationError):
        given = None
    answered = approval_waits.request(run_id, key).answered_at
    if answered is not None and answered > deadline:
        return Waited(timed_out=True)
    return Waited(given=given, answered_at=answered)


def _blocking(policy: ApprovalPolicy) -> Wait:
    """Requests of a plain flow call: pause and poll in this process, within one deadline for all."""
    deadline = time.monotonic() + policy.timeout_s

    def wait(form: type[ApprovalForm], key: str, policy: ApprovalPolicy) -> Waited:
        remaining = int(deadline - time.monotonic())
        if remaining < 1:
            return Waited(timed_out=True)
        try:
            given = pause_flow_run(
                wait_for_input=form, timeout=remaining, poll_interval=policy.poll_interval_s, key=key
            )
        except FlowPauseTimeout:
            _resume_after_timeout()
            return Waited(timed_out=True)
        except (ObjectNotFound, ValidationError):
            return Waited()
        return Waited(given=given)

    return wait


def _resume_after_timeout() -> None:
    """A timed-out pause leaves the run paused (and Prefect would fail it); the flow carries on instead."""
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Running(message="approval timed out"), force=True)
