"""The rollback flow: move the champion alias back to an earlier champion, under the model's lock."""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed
from pydantic import BaseModel, ConfigDict

from tasks.locks import promotion_lock
from tasks.policy_files import default_policy_path, policy_for
from tasks.rollback_steps import move_back, plan_rollback


class RollbackOutcome(BaseModel):
    """What a rollback did."""

    model_config = ConfigDict(frozen=True)

    model: str
    champion_before: str
    champion_after: str | None
    outcome: str  # rolled_back, or stale when the champion moved meanwhile
    message: str
    ledger_run_id: str

    @property
    def exit_code(self) -> int:
        """0 rolled back, 3 the champion moved before the alias could be set."""
        return 0 if self.outcome == "rolled_back" else 3


@flow(name="rollback-champion", log_prints=True, validate_parameters=True)
def rollback_champion(
    model: str,
    to: str | None = None,
    policy_path: str | None = None,
    trigger: str = "manual",
    requested_by: str | None = None,
    reason: str = "",
) -> RollbackOutcome:
    """Restore `to` (default: the champion the current one replaced); it must have been champion before."""
    policy = policy_for(policy_path or default_policy_path(model), model)
    with promotion_lock(policy.model_name, policy.concurrency.lock_timeout_s):
        plan = plan_rollback(policy, to)
        outcome, message, after, run_id = move_back(policy, plan, trigger, requested_by, reason)
    print(f"{model}: {message}")
    result = RollbackOutcome(
        model=model,
        champion_before=plan.current,
        champion_after=after,
        outcome=outcome,
        message=message,
        ledger_run_id=run_id,
    )
    name = "RolledBack" if outcome == "rolled_back" else "Stale"
    return Completed(data=result, name=name, message=message[:500])  # type: ignore[return-value]
