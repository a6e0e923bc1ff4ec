"""The promotion ledger: one MLflow run per promotion attempt, append-only, with the evidence bundle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow.entities import RunStatus

from tasks.mlflow_store import client, ensure_experiment

TAG = "modelgate."
GATE_TAG = TAG + "gate."


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded promotion attempt."""

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


def record_attempt(
    experiment: str,
    *,
    tags: dict[str, str | None],
    gate_statuses: dict[str, str],
    metrics: dict[str, float],
    evidence: dict[str, dict[str, Any]],
    texts: dict[str, str],
    run_name: str,
    files: list[tuple[str, str]] | None = None,
) -> str:
    """Create a finished run holding the attempt's tags, metrics and evidence files; returns its id."""
    c = client()
    run_tags = {TAG + k: str(v) for k, v in tags.items() if v is not None}
    run_tags.update({GATE_TAG + k: v for k, v in gate_statuses.items()})
    run_tags["mlflow.runName"] = run_name
    run = c.create_run(ensure_experiment(experiment), tags=run_tags, run_name=run_name)
    run_id = run.info.run_id
    try:
        for name, value in metrics.items():
            c.log_metric(run_id, name, value)
        for path, data in evidence.items():
            c.log_dict(run_id, data, path)
        for path, text in texts.items():
            c.log_text(run_id, text, path)
        for folder, local in files or []:
            if Path(local).is_dir():
                c.log_artifacts(run_id, local, folder)
            elif Path(local).is_file():
                c.log_artifact(run_id, local, folder)
    except Exception:
        c.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        raise
    c.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def history(model: str, experiment: str) -> list[LedgerEntry]:
    """Every recorded attempt for the model, oldest first."""
    return _search(experiment, f"tags.`{TAG}model` = {_quoted(model)}", ["attributes.start_time ASC"])


def decided_before(model: str, experiment: str, evaluation_key: str) -> LedgerEntry | None:
    """The latest final decision for this evaluation key, if it was a rejection that still stands.

    A recorded promotion is not reused: the caller already refuses a candidate that is champion, so a
    promotion with this key no longer holds (the champion was rolled back) and the attempt is judged anew.
    """
    entries = _search(
        experiment,
        f"tags.`{TAG}model` = {_quoted(model)} and tags.`{TAG}evaluation_key` = {_quoted(evaluation_key)}",
        ["attributes.start_time DESC"],
    )
    latest = next((e for e in entries if e.outcome in FINAL_OUTCOMES), None)
    return latest if latest is not None and latest.outcome == "rejected" else None


FINAL_OUTCOMES = ("promoted", "rejected")


def _search(experiment: str, filter_string: str, order_by: list[str]) -> list[LedgerEntry]:
    c = client()
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return []
    runs = c.search_runs([exp.experiment_id], filter_string=filter_string, order_by=order_by, max_results=50000)
    entries = []
    for run in runs:
        t = run.data.tags
        entries.append(
            LedgerEntry(
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
            )
        )
    return entries
