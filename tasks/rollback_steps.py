"""Rollback: plan the target from the ledger's champion history, then act ledger first (open the entry, move
the alias with compare-and-set, tag the demoted version, finalise). The flow holds the model's lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from gates.champion_history import ChampionMove, champion_moves, ever_champion, rollback_target
from gates.errors import BadInputError
from gates.policy import PromotionPolicy, policy_hash
from tasks import ledger, registry
from tasks.mlflow_store import client
from tasks.reconcile import Reconciled, model_since, reconcile

NOT_YET_RECORDED = "(not recorded yet: reconcile records it first)"


@dataclass(frozen=True)
class RollbackPlan:
    """The champion now and the version to restore."""

    model: str
    current: str
    target: str


@dataclass(frozen=True)
class RolledBack:
    """What the rollback did: outcome rolled_back, or stale when the champion moved before the alias was set."""

    outcome: str
    message: str
    champion_after: str | None
    ledger_run_id: str


def history_moves(policy: PromotionPolicy) -> list[ChampionMove]:
    """Champion moves from the ledger entries that count and are newer than the registered model."""
    entries = ledger.decisions(policy.model_name, policy.ledger_experiment, model_since(policy))
    return champion_moves(entries)


def plan_rollback(policy: PromotionPolicy, to: str | None) -> RollbackPlan:
    """Validate a rollback without writing. A champion move the ledger has not recorded yet is taken as
    reconcile will record it (and put back, when the policy says revert), so the plan matches the flow's."""
    c = client()
    name = policy.model_name
    registry.resolve_registered_model(c, name)
    holder = registry.champion(c, name, policy.champion_alias)
    current = holder.version if holder else None
    moves = history_moves(policy)
    of_record = moves[-1].after if moves else None
    if current != of_record:
        if policy.on_external_change == "revert" and of_record is not None:
            current = of_record
        else:
            moves.append(ChampionMove(datetime.now(UTC), of_record, current, "external_change", NOT_YET_RECORDED))
    target = rollback_target(moves, current, to)
    try:
        registry.resolve_version(c, name, target)
    except BadInputError as exc:
        if target in ever_champion(moves) and "has no version" in str(exc):
            raise BadInputError(f"version {target} of {name!r} was champion but has been deleted") from None
        raise
    assert current is not None  # rollback_target refuses a model without a champion
    return RollbackPlan(name, current, target)


@task(name="reconcile-and-plan-rollback", cache_policy=NO_CACHE)
def reconcile_and_plan(policy: PromotionPolicy, to: str | None, trigger: str) -> tuple[Reconciled, RollbackPlan]:
    """Registry and ledger made to agree, then the plan (the caller holds the model's lock)."""
    found = reconcile(policy, trigger)
    return found, plan_rollback(policy, to)


@task(name="move-champion-back", cache_policy=NO_CACHE)
def move_back(
    policy: PromotionPolicy,
    plan: RollbackPlan,
    attempt_id: str,
    trigger: str,
    requested_by: str | None,
    reason: str,
) -> RolledBack:
    """Ledger first: open the entry, compare-and-set the alias back, tag the demoted version, finalise."""
    c = client()
    tags = {
        "model": plan.model,
        "version": plan.target,
        "decision": "rollback",
        "prior_champion": plan.current,
        "policy_hash": policy_hash(policy),
        "trigger": trigger,
        "approver": requested_by,
        "approval_reason": reason.strip() or None,
        "flow_run_id": attempt_id,
    }
    run_id = ledger.open_entry(
        policy.ledger_experiment, attempt_id, tags, f"{plan.model} rollback v{plan.current} -> v{plan.target}"
    )
    moved = False
    try:
        move = registry.compare_and_set_champion(
            c, plan.model, plan.target, plan.current, policy.champion_alias, policy.previous_champion_alias
        )
        moved = move.moved
        outcome = "rolled_back" if move.moved else "stale"
        message = (
            f"champion rolled back from {plan.current} to {plan.target}"
            + (f" by {requested_by}" if requested_by else "")
            + (f": {reason.strip()}" if reason.strip() else "")
            if move.moved
            else f"not rolled back: {move.message}"
        )
        when = datetime.now(UTC).isoformat(timespec="seconds")
        decided = {**tags, "outcome": outcome, "champion_after": move.champion_after, "message": message}
        ledger.log_evidence(
            run_id,
            metrics={},
            params={},
            evidence={"evidence/decision.json": {**decided, "decided_at": when}},
            texts={},
            files=[],
        )
        if move.moved:
            demoted = registry.resolve_version(c, plan.model, plan.current)
            version_tags = {"decision": "rollback", "outcome": "rolled_back", "ledger_run_id": run_id}
            registry.replace_version_tags(c, demoted, version_tags)
            registry.set_decision_line(c, demoted, f"rolled back at {when} ({message}; ledger run {run_id})")
        ledger.finalise(run_id, {"outcome": outcome, "champion_after": move.champion_after, "message": message})
    except BaseException as exc:
        if not moved:  # nothing changed in the registry: the attempt is over
            try:
                ledger.mark_failed(run_id, f"the rollback stopped before the alias moved: {type(exc).__name__}: {exc}")
            except Exception:  # the server may be the reason; reconcile finishes it later
                pass
        raise  # after the alias moved, the entry stays RUNNING and reconcile finishes it from the registry
    return RolledBack(outcome, message, move.champion_after, run_id)
