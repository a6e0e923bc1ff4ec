"""MLflow client access and experiments created with the project's artifact root."""

from __future__ import annotations

import os

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from gates.errors import BadInputError
from tasks.retrying import retried


def client() -> MlflowClient:
    """A client for the current tracking URI (registry follows it)."""
    return MlflowClient(tracking_uri=mlflow.get_tracking_uri())


def quoted(value: str) -> str:
    """A string literal in an MLflow search filter. MLflow reads no escapes (a doubled quote stays two quotes), so a
    value holding a single quote is written in double quotes; one holding both cannot be written."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise BadInputError(f"{value!r} holds both quote characters: an MLflow search cannot name it")


KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"  # MLflow's UI opens the experiment in its model-training view


def ensure_experiment(name: str) -> str:
    """Id of the named experiment, created (with $MODELGATE_ARTIFACT_ROOT/<name> as location) if missing."""
    c = client()
    existing = retried(c.get_experiment_by_name, name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            retried(c.restore_experiment, existing.experiment_id)
        if existing.tags.get(KIND_TAG) != MODEL_TRAINING:
            retried(c.set_experiment_tag, existing.experiment_id, KIND_TAG, MODEL_TRAINING)
        return existing.experiment_id
    root = os.environ.get("MODELGATE_ARTIFACT_ROOT")
    location = f"{root.rstrip('/')}/{name}" if root else None
    try:
        return retried(c.create_experiment, name, artifact_location=location, tags={KIND_TAG: MODEL_TRAINING})
    except MlflowException as exc:  # created by a promotion that started at the same moment
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return retried(c.get_experiment_by_name, name).experiment_id
