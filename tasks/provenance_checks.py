"""The provenance gate's facts, read from the registry (acting side: model code never runs here), the stamp of
a version's files the first time modelgate decides on it, and the re-check just before the alias moves."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import mlflow.artifacts
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from gates import provenance
from gates.provenance import ProvenanceFacts
from gates.result import GateResult, GateStatus
from tasks import ledger
from tasks.inputs import PromotionInputs
from tasks.mlflow_store import client
from tasks.model_copies import ModelCopy, directory_sha256
from tasks.registry import STAMP, STAMPED_AT, VersionRef
from tasks.retrying import retried


def _when(millis: int | None) -> str | None:
    return None if not millis else datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")


def _run_facts(c: MlflowClient, run_id: str | None) -> tuple[str, int, tuple[str, ...], dict[str, str], str | None]:
    """(state, parameter count, datasets, tags, user) of the source run."""
    if not run_id:
        return "none", 0, (), {}, None
    try:
        run = retried(c.get_run, run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return "missing", 0, (), {}, None
        raise
    state = "deleted" if run.info.lifecycle_stage == "deleted" else str(run.info.status)
    inputs = run.inputs.dataset_inputs if run.inputs else []
    datasets = tuple(f"{d.dataset.name} ({d.dataset.digest})" for d in inputs)
    user = run.data.tags.get("mlflow.user") or run.info.user_id or None
    return state, len(run.data.params), datasets, dict(run.data.tags), user


def gather(inputs: PromotionInputs, stamps: bool = True) -> ProvenanceFacts:
    """What the registry says about the candidate, and what its judged files hash to."""
    c = client()
    copy: ModelCopy = inputs.candidate
    mv = retried(c.get_model_version, copy.ref.name, copy.ref.version)
    state, params, datasets, run_tags, user = _run_facts(c, mv.run_id)
    version_params = len(getattr(mv, "params", None) or {})  # a logged model's own parameters (MLflow 3)
    wanted = inputs.policy.gates.provenance.data_tags
    tags = {**run_tags, **(mv.tags or {})}
    return ProvenanceFacts(
        run_id=mv.run_id,
        run_state=state,
        parameters=max(params, version_params),
        datasets=datasets,
        data_tags=tuple(f"{k}={tags[k]}" for k in wanted if tags.get(k)),
        signature=copy.signed,
        input_example=copy.has_input_example,
        author=mv.user_id or user,
        created_at=_when(mv.creation_timestamp),
        judged_digest=copy.digest,
        stamped_digest=(mv.tags or {}).get(STAMP),
        stamped_at=(mv.tags or {}).get(STAMPED_AT),
        stamps=stamps,
    )


def stamp(ref: VersionRef, digest: str) -> None:
    """Record the files' digest the first time modelgate decides on the version (never overwritten)."""
    c = client()
    tags = retried(c.get_model_version, ref.name, ref.version).tags or {}
    if STAMP not in tags:
        retried(c.set_model_version_tag, ref.name, ref.version, STAMP, digest)
        retried(
            c.set_model_version_tag, ref.name, ref.version, STAMPED_AT, datetime.now(UTC).isoformat(timespec="seconds")
        )


def registry_digest(ref: VersionRef) -> str:
    """The digest of the version's files as the registry serves them now (downloaded afresh)."""
    with tempfile.TemporaryDirectory(prefix="modelgate-verify-") as tmp:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=tmp))
        return directory_sha256(local)


def files_changed_since_judged(inputs: PromotionInputs, run_id: str) -> GateResult | None:
    """Just before the alias moves, the registry's files must still be the files judged. None when they are;
    otherwise the provenance result that says so: failed (and written over the ledger run's
    gates/provenance.json) when the policy requires unchanged files; warned (a warning of the outcome, the
    promotion goes on) when it only warns or reports."""
    gate = inputs.policy.gates.provenance
    if not gate.enabled or gate.files_unchanged == "off":
        return None
    now = registry_digest(inputs.candidate.ref)
    if now == inputs.candidate.digest:
        return None
    changed = provenance.files_changed(inputs.candidate.digest, now, gate)
    if gate.files_unchanged in ("warn", "report"):
        return changed.model_copy(update={"status": GateStatus.WARNED})
    path = f"evidence/gates/{changed.gate}.json"
    ledger.log_evidence(
        run_id, metrics={}, params={}, evidence={path: changed.model_dump(mode="json")}, texts={}, files=[]
    )
    return changed
