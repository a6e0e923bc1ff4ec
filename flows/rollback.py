"""The rollback flow: under the model's lock, reconcile, then move the champion one step back through the
ledger's champion history (or to `to`), ledger first."""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import State
from pydantic import BaseModel, ConfigDict

from gates.outcome import EXIT_CODES
from tasks.locks import promotion_lock
from tasks.policy_files import default_policy_path
from tasks.promotion_tasks import load_policy_task
from tasks.rollback_steps import move_back, reconcile_and_plan
from tasks.states import state_for


class RollbackOutcome(BaseModel):
    """What a rollback did."""

    model_config = ConfigDict(frozen=True)

    model: str
    champion_before: str
    champion_after: str | None
    outcome: str  # rolled_back, or stale when the champion moved before the alias could be set
    message: str
    ledger_run_id: str
    flow_run_id: str | None = None

    @property
    def exit_code(self) -> int:
        """0 rolled back, 3 the champion moved before the alias could be set (gates.outcome)."""
        return EXIT_CODES[self.outcome]


@flow(name="rollback-champion", flow_run_name="rollback {model}", log_prints=True, validate_parameters=True)
def rollback_champion(
    model: str,
    to: str | None = None,
    policy_path: str | None = None,
    trigger: str = "manual",
    requested_by: str | None = None,
    reason: str = "",
) -> RollbackOutcome:
    """Restore the champion before the current one in the ledger's history (each rollback goes one step
    further back; a rolled-back version is never a target), or `to`: a version that was champion and was
    not rolled back since. Ends RolledBack (Completed) or Stale (Cancelled); bad input raises BadInputError."""
    policy = load_policy_task(policy_path or default_policy_path(model), model)
    run_id = str(flow_run.id) if flow_run.id else None
    with promotion_lock(policy.model_name, policy.concurrency.lock_timeout_s):
        found, plan = reconcile_and_plan(policy, to, trigger)
        if found.changed:
            for line in found.lines():
                get_run_logger().warning("reconcile %s: %s", model, line)
        done = move_back(policy, plan, run_id or uuid.uuid4().hex, trigger, requested_by, reason)
    print(f"{model}: {done.message}")
    result = RollbackOutcome(
        model=model,
        champion_before=plan.current,
        champion_after=done.champion_after,
        outcome=done.outcome,
        message=done.message,
        ledger_run_id=done.ledger_run_id,
        flow_run_id=run_id,
    )
    return state_for(done.outcome, result, done.message)  # type: ignore[return-value]


def rollback(**parameters: Any) -> RollbackOutcome:
    """Run the flow and return its RollbackOutcome, whatever state type the outcome ends it in."""
    state: State = rollback_champion(**parameters, return_state=True)  # type: ignore[assignment]
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]
