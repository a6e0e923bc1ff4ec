"""MLflow client access and experiments created with the project's artifact root."""

from __future__ import annotations

import os

import mlflow
from mlflow import MlflowClient


def client() -> MlflowClient:
    """A client for the current tracking URI (registry follows it)."""
    return MlflowClient(tracking_uri=mlflow.get_tracking_uri())


def ensure_experiment(name: str) -> str:
    """Id of the named experiment, created (with $MODELGATE_ARTIFACT_ROOT/<name> as location) if missing."""
    c = client()
    existing = c.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            c.restore_experiment(existing.experiment_id)
        return existing.experiment_id
    root = os.environ.get("MODELGATE_ARTIFACT_ROOT")
    location = f"{root.rstrip('/')}/{name}" if root else None
    return c.create_experiment(name, artifact_location=location)
