"""The promotion ledger: one MLflow run per attempt, append-only, written ledger first.

An attempt's run is opened (RUNNING, `modelgate.state=deciding`, no outcome yet) before the champion alias
moves, gets its evidence, and is finalised (FINISHED, outcome set) after the registry was changed; an
attempt that could not finish is marked FAILED. Only FINISHED runs with an outcome count as decisions.
Each run carries a client-made attempt id, so a creation re-sent after a lost response is found, not doubled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus, RunTag

from gates.names import GATE_TAG_PREFIX, TAG_PREFIX
from tasks.fault_points import checkpoint
from tasks.mlflow_store import client, ensure_experiment, quoted
from tasks.retrying import retried

TAG = TAG_PREFIX
GATE_TAG = GATE_TAG_PREFIX
STATE = TAG + "state"
ATTEMPT = TAG + "attempt_id"
DECIDING, FINAL, FAILED = "deciding", "final", "failed"
FINAL_OUTCOMES = ("promoted", "rejected")
CHAMPION_MOVES = ("promoted", "rolled_back", "external_change")


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded attempt (a promotion, a rollback, or a champion move noticed from outside)."""

    run_id: str
    time: datetime
    model: str
    version: str
    decision: str
    outcome: str
    prior_champion: str | None
    champion_after: str | None
    policy_hash: str
    trigger: str
    approver: str | None
    gates: dict[str, str]
    approval_reason: str | None = None
    evaluation_key: str | None = None
    message: str | None = None
    status: str = "FINISHED"
    state: str = FINAL
    attempt_id: str | None = None
    override: bool = False

    @property
    def counts(self) -> bool:
        """A finished entry with an outcome: a decision (failed or unfinished runs never are)."""
        return self.status == "FINISHED" and self.state != FAILED and bool(self.outcome)


def find_attempt(experiment: str, attempt_id: str) -> list[LedgerEntry]:
    """Every run carrying this attempt id, oldest first (more than one only after a re-sent creation)."""
    return _search(experiment, f"tags.`{ATTEMPT}` = {quoted(attempt_id)}", ["attributes.start_time ASC"])


def open_entry(experiment: str, attempt_id: str, tags: dict[str, str | None], run_name: str) -> str:
    """The attempt's run, RUNNING and `deciding`, created once: a retried creation finds the first one and
    deletes any duplicate the server made."""
    found = find_attempt(experiment, attempt_id)
    if not found:
        c = client()
        run_tags = {TAG + k: str(v) for k, v in tags.items() if v is not None}
        run_tags.update({STATE: DECIDING, ATTEMPT: attempt_id, "mlflow.runName": run_name})
        retried(c.create_run, ensure_experiment(experiment), tags=run_tags, run_name=run_name)
        checkpoint("ledger_created")
        found = find_attempt(experiment, attempt_id)
    for duplicate in found[1:]:
        retried(client().delete_run, duplicate.run_id)
    return found[0].run_id


def log_evidence(
    run_id: str,
    *,
    metrics: dict[str, float],
    params: dict[str, str],
    evidence: dict[str, dict[str, Any]],
    texts: dict[str, str],
    files: list[tuple[str, str]],
    tags: dict[str, str] | None = None,
) -> None:
    """Metrics, parameters, JSON and text evidence, and report files; each write is idempotent and retried."""
    c = client()
    now = int(datetime.now(UTC).timestamp() * 1000)
    metric_list = [Metric(k, v, now, 0) for k, v in metrics.items()]
    param_list = [Param(k, v[:6000]) for k, v in params.items()]
    tag_list = [RunTag(k, v) for k, v in (tags or {}).items()]
    for start in range(0, max(len(metric_list), len(param_list), len(tag_list)), 100):
        retried(
            c.log_batch,
            run_id,
            metrics=metric_list[start : start + 100],
            params=param_list[start : start + 100],
            tags=tag_list[start : start + 100],
        )
    checkpoint("evidence_upload")
    for path, data in evidence.items():
        retried(c.log_dict, run_id, data, path)
    for path, text in texts.items():
        retried(c.log_text, run_id, text, path)
    for folder, local in files:
        if Path(local).is_dir():
            retried(c.log_artifacts, run_id, local, folder)
        elif Path(local).is_file():
            retried(c.log_artifact, run_id, local, folder)


def finalise(run_id: str, tags: dict[str, str | None], gate_statuses: dict[str, str] | None = None) -> None:
    """Set the outcome tags and end the run FINISHED: from now on it is a decision."""
    c = client()
    run_tags = [RunTag(TAG + k, str(v)) for k, v in tags.items() if v is not None]
    run_tags += [RunTag(GATE_TAG + k, v) for k, v in (gate_statuses or {}).items()]
    run_tags.append(RunTag(STATE, FINAL))
    retried(c.log_batch, run_id, tags=run_tags)
    checkpoint("finalise")
    retried(c.set_terminated, run_id, RunStatus.to_string(RunStatus.FINISHED))


def mark_failed(run_id: str, message: str) -> None:
    """End an attempt that could not finish: FAILED, never a decision."""
    c = client()
    retried(c.log_batch, run_id, tags=[RunTag(STATE, FAILED), RunTag(TAG + "message", message[:5000])])
    retried(c.set_terminated, run_id, RunStatus.to_string(RunStatus.FAILED))


def history(model: str, experiment: str, since: datetime | None = None) -> list[LedgerEntry]:
    """Every recorded attempt for the model (finished or not), oldest first; `since` drops older ones."""
    entries = _search(experiment, f"tags.`{TAG}model` = {quoted(model)}", ["attributes.start_time ASC"])
    return [e for e in entries if since is None or e.time >= since]


def decisions(model: str, experiment: str, since: datetime | None = None) -> list[LedgerEntry]:
    """The entries that count: finished, with an outcome, oldest first."""
    return [e for e in history(model, experiment, since) if e.counts]


def unfinished(model: str, experiment: str) -> list[LedgerEntry]:
    """Attempts left RUNNING (their process died before finalising)."""
    return [e for e in history(model, experiment) if e.status == "RUNNING"]


def decided_before(model: str, experiment: str, evaluation_key: str) -> LedgerEntry | None:
    """The latest final decision for this evaluation key, if it was a rejection that still stands.

    A recorded promotion is not reused: the caller refuses a candidate that is champion, so a promotion with
    this key no longer holds (the champion was rolled back) and the attempt is judged anew.
    """
    entries = _search(
        experiment,
        f"tags.`{TAG}model` = {quoted(model)} and tags.`{TAG}evaluation_key` = {quoted(evaluation_key)}",
        ["attributes.start_time DESC"],
    )
    latest = next((e for e in entries if e.counts and e.outcome in FINAL_OUTCOMES), None)
    return latest if latest is not None and latest.outcome == "rejected" else None


def _search(experiment: str, filter_string: str, order_by: list[str]) -> list[LedgerEntry]:
    c = client()
    exp = retried(c.get_experiment_by_name, experiment)
    if exp is None:
        return []
    runs = retried(
        c.search_runs, [exp.experiment_id], filter_string=filter_string, order_by=order_by, max_results=50000
    )
    return [entry_of(run) for run in runs]


def entry_of(run: Any) -> LedgerEntry:
    """The ledger's reading of one of its runs."""
    t = run.data.tags
    return LedgerEntry(
        run_id=run.info.run_id,
        time=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        model=t.get(TAG + "model", ""),
        version=t.get(TAG + "version", ""),
        decision=t.get(TAG + "decision", ""),
        outcome=t.get(TAG + "outcome", ""),
        prior_champion=t.get(TAG + "prior_champion"),
        champion_after=t.get(TAG + "champion_after"),
        policy_hash=t.get(TAG + "policy_hash", ""),
        trigger=t.get(TAG + "trigger", ""),
        approver=t.get(TAG + "approver"),
        gates={k.removeprefix(GATE_TAG): v for k, v in t.items() if k.startswith(GATE_TAG)},
        approval_reason=t.get(TAG + "approval_reason"),
        evaluation_key=t.get(TAG + "evaluation_key"),
        message=t.get(TAG + "message"),
        status=str(run.info.status),
        state=t.get(STATE, FINAL),
        attempt_id=t.get(ATTEMPT),
        override=t.get(TAG + "override") == "true",
    )
