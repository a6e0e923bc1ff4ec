"""Gate results cached on the evaluation key where every worker can read them: an MLflow run per key, in
the evidence-cache experiment, holding the results and every report file. A re-run on another worker
downloads them, so its ledger entry carries every report."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from mlflow.entities import RunStatus

from gates.names import EVIDENCE_CACHE_EXPERIMENT, TAG_PREFIX
from gates.result import GateResult
from tasks.evidence import evidence_root
from tasks.gate_runner import GateRun
from tasks.mlflow_store import client, ensure_experiment
from tasks.retrying import retried

KEY_TAG = TAG_PREFIX + "evaluation_key"
STORE_TAG = TAG_PREFIX + "store_id"
RESULTS = "gates.json"


def report_artifacts(results: list[GateResult], extra_files: list[str]) -> list[tuple[str, str]]:
    """(artifact path, local path) for every report file; a Data Docs index brings its whole site."""
    pairs: list[tuple[str, str]] = []
    for r in results:
        for f in r.report_files:
            path = Path(f)
            if path.name == "index.html" and path.parent.name == "data-docs":
                pairs.append((f"reports/{r.gate}/data-docs", str(path.parent)))
            else:
                pairs.append((f"reports/{r.gate}/{path.name}", f))
    pairs += [(f"reports/classification/{Path(f).name}", f) for f in extra_files]
    return pairs


def _relative(results: list[GateResult], extra_files: list[str]) -> dict:
    def rel(gate: str, f: str) -> str:
        path = Path(f)
        if path.name == "index.html" and path.parent.name == "data-docs":
            return f"reports/{gate}/data-docs/index.html"
        return f"reports/{gate}/{path.name}"

    return {
        "results": [
            r.model_copy(update={"report_files": tuple(rel(r.gate, f) for f in r.report_files)}).model_dump(mode="json")
            for r in results
        ],
        "extra_files": [rel("classification", f) for f in extra_files],
    }


def _find(key: str) -> str | None:
    c = client()
    exp = retried(c.get_experiment_by_name, EVIDENCE_CACHE_EXPERIMENT)
    if exp is None:
        return None
    runs = retried(
        c.search_runs,
        [exp.experiment_id],
        filter_string=f"tags.`{KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def fetch(key: str) -> GateRun | None:
    """The cached results for this key with their report files on local disk, or None."""
    run_id = _find(key)
    if run_id is None:
        return None
    local = evidence_root() / "fetched" / key
    done = local / ".complete"
    if not done.is_file():
        local.mkdir(parents=True, exist_ok=True)
        retried(client().download_artifacts, run_id, "", str(local))
        done.write_text(run_id)
    data = json.loads((local / RESULTS).read_text())
    results = [
        GateResult.model_validate(r).model_copy(
            update={"report_files": tuple(str(local / f) for f in r.get("report_files", []))}
        )
        for r in data["results"]
    ]
    return GateRun(results, [str(local / f) for f in data["extra_files"]])


def _create_once(key: str, model: str) -> str:
    """The cache run for this store, created once: a creation re-sent after a lost answer is found by its
    token and the duplicate the server made is deleted."""
    c = client()
    experiment = ensure_experiment(EVIDENCE_CACHE_EXPERIMENT)
    token = uuid.uuid4().hex
    tags = {KEY_TAG: key, TAG_PREFIX + "model": model, STORE_TAG: token, "mlflow.runName": f"{model} {key[:12]}"}
    retried(c.create_run, experiment, tags=tags)
    runs = retried(
        c.search_runs,
        [experiment],
        filter_string=f"tags.`{STORE_TAG}` = '{token}'",
        order_by=["attributes.start_time ASC"],
    )
    for duplicate in runs[1:]:
        retried(c.delete_run, duplicate.info.run_id)
    return runs[0].info.run_id


def store(key: str, model: str, gate_run: GateRun, keep_errored: bool = False) -> None:
    """Keep the results and reports for this key (a run with errored results is not cached: they may be transient;
    `keep_errored` keeps it all the same, for results that are handed over rather than cached)."""
    if not keep_errored and any(r.status.value == "errored" for r in gate_run.results):
        return
    c = client()
    run_id = _create_once(key, model)
    for artifact, local in report_artifacts(gate_run.results, gate_run.extra_files):
        folder = os.path.dirname(artifact)
        if Path(local).is_dir():
            retried(c.log_artifacts, run_id, local, artifact)
        elif Path(local).is_file():
            retried(c.log_artifact, run_id, local, folder)
    retried(c.log_dict, run_id, _relative(gate_run.results, gate_run.extra_files), RESULTS)
    retried(c.set_terminated, run_id, RunStatus.to_string(RunStatus.FINISHED))
