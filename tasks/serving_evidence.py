"""The serving manifest of a promotion: a KServe InferenceService for the new champion, logged to the ledger run
(evidence/inferenceservice.yaml) and copied beside the local report."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from mlflow.exceptions import MlflowException

from gates.errors import BadInputError
from gates.outcome import PromotionOutcome
from gates.policy import policy_hash
from gates.serving_manifest import inference_service
from tasks import ledger
from tasks.evidence import evidence_root
from tasks.inputs import PromotionInputs
from tasks.mlflow_store import client
from tasks.retrying import retried

ARTIFACT = "evidence/inferenceservice.yaml"


def local_manifest_path(model: str, version: str) -> Path:
    """Where the CLI leaves the manifest on this machine (the latest promotion of that version)."""
    return evidence_root() / "serving" / model / f"v{version}.inferenceservice.yaml"


def manifest_for(inputs: PromotionInputs, outcome: PromotionOutcome) -> dict[str, Any]:
    """The InferenceService for the promoted candidate, served from where the registry keeps its files."""
    name, version = outcome.model, outcome.version
    storage_uri = retried(client().get_model_version_download_uri, name, version)
    latency = next((g for g in outcome.gates if g.gate == "latency"), None)
    return inference_service(
        model_name=name,
        version=version,
        storage_uri=str(storage_uri),
        policy=inputs.policy.serving,
        latency=latency,
        ledger_run_id=outcome.ledger_run_id,
        policy_hash=policy_hash(inputs.policy),
    )


def write_manifest(inputs: PromotionInputs, outcome: PromotionOutcome) -> str | None:
    """Log the manifest to the ledger run and keep a local copy; returns a warning when it could not be written."""
    if not inputs.policy.serving.manifest or outcome.ledger_run_id is None:
        return None
    try:
        text = yaml.safe_dump(manifest_for(inputs, outcome), sort_keys=False)
        ledger.log_evidence(outcome.ledger_run_id, metrics={}, params={}, evidence={}, texts={ARTIFACT: text}, files=[])
        path = local_manifest_path(outcome.model, outcome.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except Exception as exc:  # the promotion stands; the missing evidence is said
        return f"serving manifest not written: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


def recorded_manifest(model: str, experiment: str, version: str | None = None) -> str:
    """The manifest logged when `version` (default: the champion of record) was last promoted; BadInputError
    when the ledger has none."""
    from gates.champion_history import champion_at, champion_moves

    entries = ledger.decisions(model, experiment)
    if version is None:
        move = champion_at(champion_moves(entries), datetime.now(UTC))
        if move is None or move.after is None:
            raise BadInputError(f"no champion of {model!r} recorded in experiment {experiment!r}")
        version = move.after
    promoted = [e for e in entries if e.outcome == "promoted" and e.version == version]
    if not promoted:
        raise BadInputError(f"{model} v{version} was never promoted (ledger experiment {experiment!r})")
    run_id = promoted[-1].run_id
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = retried(client().download_artifacts, run_id, ARTIFACT, tmp)
        except MlflowException:
            raise BadInputError(
                f"ledger run {run_id} ({model} v{version}) holds no {ARTIFACT} (serving.manifest was off, or the "
                "attempt's warnings say why it was not written)"
            ) from None
        return Path(path).read_text()
