"""A deployed promotion's approval requests, as the Prefect server records them.

A deployed run suspends while it waits for a person (its process exits), and Prefect runs it again from
the top once resumed. Its approval deadline is fixed at the first request and kept as a flow-run input, so
the re-run and the registry scan read the same one; when each request was asked and answered comes from
the run's state history. An answer given after the deadline counts as no answer (the policy's on_timeout).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound

DEADLINE_KEY = "modelgate-approval-deadline"
TIMED_OUT_APPROVER = "modelgate-scan"


@dataclass(frozen=True)
class Request:
    """One approval request of a run: when it was asked and, once resumed, answered."""

    asked_at: datetime | None
    answered_at: datetime | None


def _as_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().strip('"'))


def read_deadline(flow_run_id: UUID) -> datetime | None:
    """The run's approval deadline, if it has asked for approval."""
    with get_client(sync_client=True) as client:
        try:
            return _as_datetime(client.read_flow_run_input(flow_run_id, DEADLINE_KEY))
        except ObjectNotFound:
            return None
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 404:
                return None
            raise


def approval_deadline(flow_run_id: UUID, timeout_s: float) -> datetime:
    """The run's approval deadline: set to now + timeout at the first request, read back after that."""
    found = read_deadline(flow_run_id)
    if found is not None:
        return found
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    with get_client(sync_client=True) as client:
        client.create_flow_run_input(flow_run_id, DEADLINE_KEY, deadline.isoformat())
    return deadline


def request(flow_run_id: UUID, pause_key: str) -> Request:
    """When the request with this pause key was asked (None: not yet) and answered (None: still waiting)."""
    with get_client(sync_client=True) as client:
        states = sorted(client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp)
    for i, state in enumerate(states):
        if state.type is StateType.PAUSED and state.state_details.pause_key == pause_key:
            answered = states[i + 1].timestamp if i + 1 < len(states) else None
            return Request(state.timestamp, answered)
    return Request(None, None)


def overdue(paused_run_ids: list[str], now: datetime | None = None) -> list[str]:
    """The paused runs among these whose approval deadline has passed."""
    now = now or datetime.now(UTC)
    late = []
    for run_id in paused_run_ids:
        deadline = read_deadline(UUID(run_id))
        if deadline is not None and deadline < now:
            late.append(run_id)
    return late


def resume_as_timed_out(run_id: str) -> bool:
    """Resume an overdue run so it can record the policy's on_timeout (its re-run sees an answer given after
    the deadline, which counts as none). False when the server refused (e.g. it was resumed meanwhile)."""
    answer = {"approver": TIMED_OUT_APPROVER, "approve": False, "reason": "no answer before the approval deadline"}
    with get_client(sync_client=True) as client:
        result = client.resume_flow_run(UUID(run_id), run_input=answer)
    return str(result.status.value) == "ACCEPT"
