"""Links a remote reviewer can follow: the ledger run, its one-page report, the Prefect flow run."""

from __future__ import annotations

import os

import mlflow

from tasks.mlflow_store import client

REPORT_ARTIFACT = "evidence/report.html"
# MLflow 3's UI picks its GenAI or model-training view from a global switch (GenAI unless changed), not from the
# experiment's mlflow.experimentKind tag; this query parameter opens a link in the model-training view.
MODEL_TRAINING_VIEW = "?workflowType=machine_learning"


def mlflow_run_link(run_id: str, experiment: str) -> str:
    """A browsable link to the ledger run when MLflow is a server, else a plain reference."""
    uri = mlflow.get_tracking_uri()
    exp = client().get_experiment_by_name(experiment)
    if uri.startswith("http") and exp is not None:
        return f"{uri.rstrip('/')}/#/experiments/{exp.experiment_id}/runs/{run_id}{MODEL_TRAINING_VIEW}"
    return f"mlflow run {run_id} (experiment {experiment!r}, {uri})"


def report_link(run_id: str) -> str:
    """Where the one-page report of a ledger run can be opened: the server's artifact URL, or the file."""
    uri = mlflow.get_tracking_uri()
    run = client().get_run(run_id)
    if uri.startswith("http"):  # MLflow's UI shows the page in its artifact viewer
        run_page = f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
        return f"{run_page}/artifactPath/{REPORT_ARTIFACT}{MODEL_TRAINING_VIEW}"
    artifact_uri = run.info.artifact_uri
    return f"{artifact_uri.rstrip('/')}/{REPORT_ARTIFACT}"


def prefect_run_link(flow_run_id: str | None) -> str | None:
    """The flow run in the Prefect UI when a server with a UI is configured."""
    api = os.environ.get("PREFECT_API_URL", "")
    if not flow_run_id or not api:
        return None
    ui = os.environ.get("PREFECT_UI_URL") or api.removesuffix("/").removesuffix("/api")
    return f"{ui}/runs/flow-run/{flow_run_id}"
