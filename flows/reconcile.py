"""The reconcile flow: make one model's registry and ledger agree."""

from __future__ import annotations

from prefect import flow

from gates.names import RECONCILE_FLOW
from tasks.policy_files import default_policy_path, policy_for
from tasks.reconcile import Reconciled
from tasks.reconcile_tasks import reconcile_task


@flow(name=RECONCILE_FLOW, flow_run_name="reconcile {model}", log_prints=True, validate_parameters=True)
def reconcile_model(model: str, policy_path: str | None = None, trigger: str = "reconcile") -> Reconciled:
    """Finish interrupted attempts and record champion moves nobody decided (reverted per the policy)."""
    policy = policy_for(policy_path or default_policy_path(model), model)
    found = reconcile_task(policy, trigger)
    for line in found.lines():
        print(f"{model}: {line}")
    return found
