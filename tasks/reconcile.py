"""Make the registry and the ledger agree: finish attempts whose process died, record champion moves
nobody decided (`external_change`), put the alias back where the policy says, and repair version tags.
Run under the model's promotion lock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gates.champion_history import champion_of_record
from gates.policy import PromotionPolicy, policy_hash
from tasks import ledger, registry
from tasks.mlflow_store import client


@dataclass
class Reconciled:
    """What reconcile found and did."""

    model: str
    champion: str | None = None
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    repaired_tags: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Anything was written."""
        return bool(self.finished or self.failed or self.external or self.repaired_tags)

    def lines(self) -> list[str]:
        """One line per finding, for logs and the CLI."""
        out = [f"finished interrupted attempt: {x}" for x in self.finished]
        out += [f"marked failed (never a decision): {x}" for x in self.failed]
        out += [f"champion moved outside modelgate: {x}" for x in self.external]
        out += [f"put the champion back: {x}" for x in self.reverted]
        out += [f"rewrote version tags from the ledger: {x}" for x in self.repaired_tags]
        return out or ["registry and ledger agree"]


def model_since(policy: PromotionPolicy) -> datetime:
    """Ledger entries older than the registered model belong to an earlier model of the same name."""
    return registry.created_at(client(), policy.model_name)


def ledger_champion(policy: PromotionPolicy) -> str | None:
    """The champion the ledger's decisions, rollbacks and recorded external changes leave in place."""
    return champion_of_record(ledger.decisions(policy.model_name, policy.ledger_experiment, model_since(policy)))


def version_tags(entry: ledger.LedgerEntry, report: str | None = None) -> dict[str, str]:
    """The few tags a decided version carries."""
    tags = {"decision": entry.decision, "outcome": entry.outcome, "ledger_run_id": entry.run_id}
    if report:
        tags["report"] = report
    return tags


def _finish_interrupted(policy: PromotionPolicy, found: Reconciled) -> None:
    """Each RUNNING entry is finished from what the registry shows, or marked failed."""
    c = client()
    name = policy.model_name
    for entry in ledger.unfinished(name, policy.ledger_experiment):
        holder = registry.champion(c, name, policy.champion_alias)
        now = holder.version if holder else None
        outcome = {"promote": "promoted", "reject": "rejected", "rollback": "rolled_back"}.get(entry.decision)
        if entry.decision == "external_change":
            outcome = "external_change"
        happened = outcome in ("rejected", "external_change") or (outcome is not None and now == entry.version)
        where = f"ledger run {entry.run_id}"
        if not happened:
            ledger.mark_failed(
                entry.run_id, f"interrupted before the champion alias moved (it is on {now or 'no version'})"
            )
            found.failed.append(f"v{entry.version} {entry.decision or 'attempt'} ({where})")
            continue
        message = f"{outcome}: finished by reconcile from the registry's state (the attempt's process stopped)"
        if outcome == "promoted" and entry.prior_champion:  # the move may have stopped before this alias
            registry.set_champion(c, name, policy.previous_champion_alias, entry.prior_champion)
        ledger.finalise(entry.run_id, {"outcome": outcome, "champion_after": now, "message": message})
        if outcome in ("promoted", "rejected"):
            done = ledger.LedgerEntry(**{**entry.__dict__, "outcome": str(outcome)})
            registry.replace_version_tags(c, registry.resolve_version(c, name, entry.version), version_tags(done))
        if outcome == "rolled_back" and entry.prior_champion:
            demoted = registry.resolve_version(c, name, entry.prior_champion)
            rolled = {"decision": "rollback", "outcome": "rolled_back", "ledger_run_id": entry.run_id}
            registry.replace_version_tags(c, demoted, rolled)
        found.finished.append(f"v{entry.version} {outcome} ({where})")


def record_external_change(
    policy: PromotionPolicy, of_record: str | None, now: str | None, trigger: str, *, revert: bool, by: str = ""
) -> tuple[str, str | None]:
    """Ledger entry for a champion move nobody decided, put back on the champion of record when `revert`
    (and there is one). Returns (ledger run id, champion after)."""
    c = client()
    name = policy.model_name
    model = registry.registered_model(c, name)
    known = datetime.fromtimestamp(int(model.last_updated_timestamp) / 1000, tz=UTC).isoformat(timespec="seconds")
    who = by or "someone outside modelgate (MLflow does not record who sets an alias)"
    message = (
        f"champion alias moved from {of_record or 'none'} to {now or 'none'} by {who}; "
        f"the registry last changed the model at {known}"
    )
    tags = {
        "model": name,
        "version": now or "",
        "decision": "external_change",
        "prior_champion": of_record,
        "policy_hash": policy_hash(policy),
        "trigger": trigger,
        "message": message,
        "changed_by": who,
        "registry_last_updated": known,
    }
    run_id = ledger.open_entry(policy.ledger_experiment, uuid.uuid4().hex, tags, f"{name}: champion moved outside")
    after = now
    if revert and of_record is not None:
        after = registry.set_champion(c, name, policy.champion_alias, of_record)
        message += f"; put back on {of_record}"
    ledger.finalise(run_id, {"outcome": "external_change", "champion_after": after, "message": message})
    return run_id, after


def reconcile(policy: PromotionPolicy, trigger: str = "reconcile") -> Reconciled:
    """Finish interrupted attempts, then record (and, per policy, revert) any champion move nobody decided."""
    found = Reconciled(model=policy.model_name)
    registry.resolve_registered_model(client(), policy.model_name)
    _finish_interrupted(policy, found)
    of_record = ledger_champion(policy)
    holder = registry.champion(client(), policy.model_name, policy.champion_alias)
    now = holder.version if holder else None
    if now != of_record:
        revert = policy.on_external_change == "revert"
        run_id, after = record_external_change(policy, of_record, now, trigger, revert=revert)
        found.external.append(f"{of_record or 'none'} -> {now or 'none'} (ledger run {run_id})")
        if after != now:
            found.reverted.append(f"v{after}")
        now = after
    found.champion = now
    return found
