"""The reconcile task on its own, so that the reconcile flow (started on every champion move) imports only
what reconciling needs, not the judging side."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from gates.errors import BadInputError
from gates.policy import PromotionPolicy
from tasks.locks import promotion_lock
from tasks.reconcile import Reconciled, reconcile

IO_RETRIES = 2  # on top of each call's own retries (tasks.retrying)


def not_bad_input(_task: object, _run: object, state: object) -> bool:
    """Retry a task unless it failed on bad input (retrying cannot change that)."""
    return not isinstance(state.result(raise_on_failure=False), BadInputError)  # type: ignore[attr-defined]


@task(
    name="reconcile",
    cache_policy=NO_CACHE,
    retries=IO_RETRIES,
    retry_delay_seconds=2,
    retry_condition_fn=not_bad_input,
)
def reconcile_task(policy: PromotionPolicy, trigger: str) -> Reconciled:
    """Registry and ledger agree before anything new is decided (under the model's lock)."""
    with promotion_lock(policy.model_name, policy.concurrency.lock_timeout_s):
        found = reconcile(policy, trigger)
    log = get_run_logger()
    for line in found.lines():
        (log.warning if found.changed else log.info)("reconcile %s: %s", policy.model_name, line)
    return found
