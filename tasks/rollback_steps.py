"""Rollback: check the target against the ledger and registry, move the alias back, record it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from gates.champion_history import champion_moves, ever_champion, rollback_target
from gates.errors import BadInputError
from gates.policy import PromotionPolicy, policy_hash
from tasks import ledger, registry
from tasks.mlflow_store import client


@dataclass(frozen=True)
class RollbackPlan:
    """The champion now and the version to restore."""

    model: str
    current: str
    target: str


def plan_rollback(policy: PromotionPolicy, to: str | None) -> RollbackPlan:
    """Validate a rollback without writing: the target must have been champion and still exist, READY."""
    c = client()
    name = policy.model_name
    registry.resolve_registered_model(c, name)
    current = registry.champion(c, name, policy.champion_alias)
    moves = champion_moves(ledger.history(name, policy.ledger_experiment))
    target = rollback_target(moves, current.version if current else None, to)
    try:
        registry.resolve_version(c, name, target)
    except BadInputError as exc:
        if target in ever_champion(moves) and "has no version" in str(exc):
            raise BadInputError(f"version {target} of {name!r} was champion but has been deleted") from None
        raise
    return RollbackPlan(name, current.version, target)  # type: ignore[union-attr]


@task(name="move-champion-back", cache_policy=NO_CACHE)
def move_back(
    policy: PromotionPolicy, plan: RollbackPlan, trigger: str, requested_by: str | None, reason: str
) -> tuple[str, str, str | None, str]:
    """Compare-and-set the alias to the target, then record a ledger entry; returns (outcome, message, after, run)."""
    c = client()
    move = registry.compare_and_set_champion(
        c, plan.model, plan.target, plan.current, policy.champion_alias, policy.previous_champion_alias
    )
    outcome = "rolled_back" if move.moved else "stale"
    message = (
        f"champion rolled back from {plan.current} to {plan.target}" + (f": {reason}" if reason else "")
        if move.moved
        else move.message
    )
    when = datetime.now(UTC).isoformat(timespec="seconds")
    tags = {
        "model": plan.model,
        "version": plan.target,
        "decision": "rollback",
        "outcome": outcome,
        "prior_champion": plan.current,
        "champion_after": move.champion_after,
        "policy_hash": policy_hash(policy),
        "trigger": trigger,
        "approver": requested_by,
        "approval_reason": reason or None,
        "message": message,
    }
    run_id = ledger.record_attempt(
        policy.ledger_experiment,
        tags=tags,
        gate_statuses={},
        metrics={},
        evidence={"evidence/decision.json": {**tags, "decided_at": when}},
        texts={},
        run_name=f"{plan.model} rollback to v{plan.target}: {outcome}",
    )
    if move.moved:
        registry.set_version_tags(
            c,
            registry.resolve_version(c, plan.model, plan.current),
            {"rolled_back_at": when, "rolled_back_by": requested_by or trigger, "rollback_ledger_run_id": run_id},
        )
    return outcome, message, move.champion_after, run_id
