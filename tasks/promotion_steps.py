"""Prefect tasks for the promotion flow: each step's I/O, calling pure gates for the judgement."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml
from prefect import get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from gates.approval import ApprovalRecord
from gates.decision import Decision, Verdict
from gates.errors import BadInputError
from gates.evaluation import GATE as EVALUATION
from gates.evaluation import evaluate
from gates.outcome import Outcome
from gates.policy import PromotionPolicy, load_policy, policy_hash, resolve_data_path
from gates.report_format import gate_tables, summary_markdown
from gates.result import GateResult, errored
from tasks import ledger, registry
from tasks.data import check_eval_frame, file_sha256, labels, read_eval_frame
from tasks.gate_steps import Reference, check_gate_inputs, extra_expectations, read_reference
from tasks.mlflow_store import client
from tasks.models import LoadedModel, Scores, load_version, registered_input_columns, score


@dataclass(frozen=True)
class Versions:
    """Candidate and the champion it is judged against."""

    candidate: registry.VersionRef
    champion: registry.VersionRef | None


@dataclass(frozen=True)
class EvalData:
    """Eval rows, their 0/1 labels, and the file's hash."""

    frame: pd.DataFrame
    y: np.ndarray
    sha256: str
    path: str


def policy_for(policy_path: str, model: str) -> PromotionPolicy:
    """Validate the policy file; it must govern the requested model."""
    policy = load_policy(policy_path)
    if policy.model_name != model:
        raise BadInputError(f"policy {policy_path} governs {policy.model_name!r}, not {model!r}")
    return policy


def find_versions(policy: PromotionPolicy, version: str) -> Versions:
    """The candidate (must exist and be READY) and the current champion, if any."""
    c = client()
    candidate = registry.resolve_version(c, policy.model_name, version)
    champ = registry.champion(c, policy.model_name, policy.champion_alias)
    if champ is not None and champ.version == candidate.version:
        raise BadInputError(
            f"version {candidate.version} is already the {policy.champion_alias} of {policy.model_name!r}"
        )
    return Versions(candidate, champ)


def eval_data_path(policy: PromotionPolicy, policy_path: str, override: str | None) -> Path:
    """The eval file: the override when given (relative to the working directory), else the policy's."""
    return Path(override).resolve() if override else resolve_data_path(policy_path, policy.eval_data.path)


def preflight(policy_path: str, model: str, version: str, eval_data: str | None = None) -> PromotionPolicy:
    """Every bad-input check that needs no model load: policy, versions, eval data against signatures.

    Raises BadInputError; reads only. The flow repeats these checks (it may be started without the CLI).
    """
    policy = policy_for(policy_path, model)
    versions = find_versions(policy, version)
    path = eval_data_path(policy, policy_path, eval_data)
    frame = read_eval_frame(path, policy.eval_data)
    reference = read_reference(policy, policy_path)
    extra_expectations(policy, policy_path)
    for ref in (versions.candidate, versions.champion):
        if ref is not None:
            columns = registered_input_columns(ref, policy.tensor_input_columns)
            check_eval_frame(frame, columns, policy.eval_data, f"{path} for v{ref.version}")
            check_gate_inputs(policy, frame, reference, columns)
    return policy


@task(name="load-policy", cache_policy=NO_CACHE)
def load_policy_step(policy_path: str, model: str) -> PromotionPolicy:
    """Validate the policy file; it must govern the requested model."""
    return policy_for(policy_path, model)


@task(name="resolve-versions", cache_policy=NO_CACHE)
def resolve_versions(policy: PromotionPolicy, version: str) -> Versions:
    """The candidate (must exist and be READY) and the current champion, if any."""
    return find_versions(policy, version)


@task(name="load-eval-data", cache_policy=NO_CACHE)
def load_eval_data(policy: PromotionPolicy, policy_path: str, override: str | None = None) -> EvalData:
    """Read the eval file named in the policy (or the override)."""
    path = eval_data_path(policy, policy_path, override)
    frame = read_eval_frame(path, policy.eval_data)
    return EvalData(frame=frame, y=np.empty(0), sha256=file_sha256(path), path=str(path))


@task(name="load-model", cache_policy=NO_CACHE)
def load_model(ref: registry.VersionRef, policy: PromotionPolicy) -> LoadedModel:
    """Download, hash and load one version as pyfunc."""
    return load_version(ref, policy.tensor_input_columns)


@task(name="check-eval-data", cache_policy=NO_CACHE)
def check_eval_data(
    data: EvalData, models: list[LoadedModel], reference: Reference | None, policy: PromotionPolicy
) -> EvalData:
    """The eval rows must hold the target and every input column of every model, with usable dtypes,
    and the columns the gates need (sensitive features; model inputs in the reference)."""
    for loaded in models:
        check_eval_frame(data.frame, loaded.columns, policy.eval_data, f"{data.path} for v{loaded.ref.version}")
        check_gate_inputs(policy, data.frame, reference, loaded.columns)
    y = labels(data.frame, policy.eval_data).to_numpy()
    return EvalData(frame=data.frame, y=y, sha256=data.sha256, path=data.path)


@task(name="score-model", cache_policy=NO_CACHE)
def score_model(loaded: LoadedModel, data: EvalData, policy: PromotionPolicy) -> Scores:
    """Positive-class scores on the eval rows; a model that raises gives Scores.error."""
    result = score(loaded, data.frame, policy.model_output)
    if result.error:
        get_run_logger().warning("v%s failed to predict: %s", loaded.ref.version, result.error)
    return result


@task(name="evaluation-gate", cache_policy=NO_CACHE)
def evaluation_gate(data: EvalData, candidate: Scores, champion: Scores | None, policy: PromotionPolicy) -> GateResult:
    """Quality metrics against thresholds and the champion (pure maths in gates.evaluation)."""
    gate_policy = policy.gates.evaluation
    if candidate.error:
        return errored(
            EVALUATION,
            f"candidate v{candidate.version} raised at predict time: {candidate.error}",
            blocking=gate_policy.blocking,
        )
    if champion is not None and champion.error:
        return errored(
            EVALUATION,
            f"champion v{champion.version} raised at predict time: {champion.error}",
            blocking=gate_policy.blocking,
        )
    return evaluate(data.y, candidate.values, None if champion is None else champion.values, gate_policy)


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes)."""
    raw = "-".join(parts).lower()
    return "".join(ch if ch.isalnum() and ch.isascii() else "-" for ch in raw).strip("-")[:100]


def mlflow_run_link(run_id: str, experiment: str) -> str:
    """A browsable link to the ledger run when MLflow is a server, else a plain reference."""
    uri = mlflow.get_tracking_uri()
    exp = client().get_experiment_by_name(experiment)
    if uri.startswith("http") and exp is not None:
        return f"{uri.rstrip('/')}/#/experiments/{exp.experiment_id}/runs/{run_id}"
    return f"mlflow run {run_id} (experiment {experiment!r}, {uri})"


@task(name="publish-prefect-reports", cache_policy=NO_CACHE)
def publish_prefect_reports(
    markdown: str, results: list[GateResult], model: str, version: str, links: dict[str, str]
) -> list[str]:
    """One summary markdown artifact, a table per gate, and a link to the MLflow evidence."""
    keys = [artifact_key("promotion", model, "v" + version)]
    create_markdown_artifact(key=keys[0], markdown=markdown, description=f"Promotion decision for {model} v{version}")
    for result in results:
        for suffix, rows in gate_tables(result).items():
            if not rows:
                continue
            key = artifact_key("gate", result.gate, *([suffix] if suffix else []), model, "v" + version)
            title = f"{result.gate}{' / ' + suffix if suffix else ''}: {result.status.value}: {result.summary}"
            create_table_artifact(key=key, table=rows, description=title)
            keys.append(key)
    target = links.get("mlflow")
    if target and target.startswith("http"):
        key = artifact_key("evidence", model, "v" + version)
        create_link_artifact(key=key, link=target, link_text=f"MLflow evidence for {model} v{version}")
        keys.append(key)
    return keys


@task(name="act-on-decision", cache_policy=NO_CACHE)
def act_on_decision(policy: PromotionPolicy, versions: Versions, decision: Decision) -> tuple[Outcome, str, str | None]:
    """Promote with compare-and-set, or leave the champion alone; returns (outcome, message, champion after)."""
    before = versions.champion.version if versions.champion else None
    if decision.verdict is Verdict.NEEDS_APPROVAL:
        return Outcome.PENDING, "; ".join(decision.reasons), before
    if decision.verdict is not Verdict.PROMOTE:
        return Outcome.REJECTED, "; ".join(decision.reasons), before
    move = registry.compare_and_set_champion(
        client(),
        policy.model_name,
        versions.candidate.version,
        before,
        policy.champion_alias,
        policy.previous_champion_alias,
    )
    if not move.moved:
        return Outcome.STALE, move.message, move.champion_after
    return Outcome.PROMOTED, move.message, move.champion_after


@task(name="record-ledger", cache_policy=NO_CACHE)
def record_ledger(
    policy: PromotionPolicy,
    versions: Versions,
    decision: Decision,
    results: list[GateResult],
    outcome: Outcome,
    message: str,
    champion_after: str | None,
    digests: dict[str, str | None],
    summary_md: str,
    trigger: str,
    flow_run_id: str | None,
    extra_files: list[str] | None = None,
    approval: ApprovalRecord | None = None,
    evaluation_key: str | None = None,
) -> str:
    """Append the attempt to the ledger (one MLflow run, evidence as JSON), then tag the version."""
    p_hash = policy_hash(policy)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    candidate = versions.candidate
    prior = versions.champion.version if versions.champion else None
    approval_tags = _approval_tags(approval)
    tags = {
        "model": policy.model_name,
        "version": candidate.version,
        "decision": decision.verdict.value,
        "outcome": outcome.value,
        "prior_champion": prior,
        "champion_after": champion_after,
        "policy_hash": p_hash,
        "trigger": trigger,
        "flow_run_id": flow_run_id,
        "candidate_digest": digests.get("candidate"),
        "champion_digest": digests.get("champion"),
        "data_hash": digests.get("data"),
        "evaluation_key": evaluation_key,
        "message": message[:MAX_MESSAGE],
        **approval_tags,
    }
    metrics = {
        metric_name(f"{r.gate}.{m.name}"): float(m.value)
        for r in results
        for m in r.measurements
        if m.value is not None and np.isfinite(m.value)
    }
    evidence = {
        "evidence/decision.json": {
            "decision": decision.model_dump(mode="json"),
            "outcome": outcome.value,
            "message": message,
            "decided_at": when,
            **{k: v for k, v in tags.items() if k not in ("decision", "outcome")},
            "approval": approval.model_dump(mode="json") if approval else None,
        },
        **{f"evidence/gates/{r.gate}.json": r.model_dump(mode="json") for r in results},
    }
    texts = {
        "evidence/summary.md": summary_md,
        "evidence/policy.yaml": yaml.safe_dump(policy.model_dump(mode="json"), sort_keys=False),
    }
    run_id = ledger.record_attempt(
        policy.ledger_experiment,
        tags=tags,
        gate_statuses={r.gate: r.status.value for r in results},
        metrics=metrics,
        evidence=evidence,
        texts=texts,
        files=[(dest, src) for dest, src in _pairs(results, extra_files)],
        run_name=f"{policy.model_name} v{candidate.version}: {outcome.value}",
    )
    version_tags = {
        "decision": decision.verdict.value,
        "outcome": outcome.value,
        "policy_hash": p_hash,
        "flow_run_id": flow_run_id or "",
        "ledger_run_id": run_id,
        "decided_at": when,
        **{f"gate.{r.gate}": r.status.value for r in results},
        **{k: v for k, v in approval_tags.items() if v is not None},
    }
    if outcome is not Outcome.PROMOTED:
        version_tags["reasons"] = message
    registry.set_version_tags(client(), candidate, version_tags)
    return run_id


MAX_MESSAGE = 4000


def _approval_tags(approval: ApprovalRecord | None) -> dict[str, str | None]:
    """Who approved, why and when; empty when nobody was asked."""
    if approval is None:
        return {}
    return {
        "approver": approval.approver,
        "approval": ("timed out" if approval.timed_out else "no valid answer")
        if approval.approved is None
        else ("approved" if approval.approved else "rejected"),
        "approval_reason": approval.reason or None,
        "approval_time": approval.answered_at,
        "override": "true" if approval.override else None,
    }


def evaluation_key(
    policy: PromotionPolicy, candidate: LoadedModel, champion: LoadedModel | None, data_hash: str, ref_hash: str | None
) -> str:
    """What makes two attempts the same: candidate, champion, policy, data (and registry, for the cache)."""
    parts = {
        "registry": mlflow.get_tracking_uri(),
        "model": policy.model_name,
        "candidate": candidate.digest,
        "champion": champion.digest if champion else None,
        "policy": policy_hash(policy),
        "data": data_hash,
        "reference": ref_hash,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


@task(name="find-earlier-decision", cache_policy=NO_CACHE)
def earlier_decision(policy: PromotionPolicy, key: str) -> ledger.LedgerEntry | None:
    """A promoted/rejected ledger entry with the same evaluation key, if any."""
    return ledger.decided_before(policy.model_name, policy.ledger_experiment, key)


def metric_name(raw: str) -> str:
    """An MLflow-legal metric name (alphanumerics, _ - . space : /)."""
    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", raw)[:250]


def _pairs(results: list[GateResult], extra_files: list[str] | None) -> list[tuple[str, str]]:
    """(artifact folder, local path) for every report file; a Data Docs index brings its whole site."""
    pairs = []
    for r in results:
        for f in r.report_files:
            path = Path(f)
            if path.name == "index.html" and path.parent.name == "data-docs":
                pairs.append((f"evidence/reports/{r.gate}/data-docs", str(path.parent)))
            else:
                pairs.append((f"evidence/reports/{r.gate}", f))
    pairs += [("evidence/reports/classification", f) for f in extra_files or []]
    return pairs


def summary(
    policy: PromotionPolicy,
    versions: Versions,
    decision: Decision,
    results: list[GateResult],
    outcome: str,
    links: dict[str, str],
) -> str:
    """Markdown summary of the attempt."""
    return summary_markdown(
        model=policy.model_name,
        version=versions.candidate.version,
        champion=versions.champion.version if versions.champion else None,
        decision=decision,
        results=results,
        outcome=outcome,
        links=links,
    )


def default_policy_path(model: str, policy_dir: str | Path = "configs/policies") -> str:
    """configs/policies/<model>.yaml (relative to the working directory)."""
    return str(Path(policy_dir) / f"{model}.yaml")
