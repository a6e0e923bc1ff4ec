"""The judging side's tracking URI: an MLflow store plugin that refuses every use and records who asked.

Judging processes get `MLFLOW_TRACKING_URI=modelgate-judging://no-access` (registered for this scheme
through MLflow's `mlflow.tracking_store` and `mlflow.model_registry_store` entry points). Model code
that builds an MlflowClient there gets an MlflowException, and the attempt (with the client call that
made it) is appended to the file in $MODELGATE_ACCESS_LOG for the acting side to read.
"""

from __future__ import annotations

import json
import os
import time
import traceback

JUDGING_URI = "modelgate-judging://no-access"
ACCESS_LOG_ENV = "MODELGATE_ACCESS_LOG"


def _caller() -> str:
    """The MLflow call that asked for a store, and the line of model code that made it."""
    frames = traceback.extract_stack()[:-2]
    last_outside = max(
        (i for i, f in enumerate(frames) if "mlflow" not in f.filename and "judging_guard" not in f.filename),
        default=None,
    )
    if last_outside is None:
        return "an MLflow call"
    user = frames[last_outside]
    inner = frames[last_outside + 1].name if last_outside + 1 < len(frames) else "?"
    code = (user.line or "").strip()[:160] or f"{inner}()"
    return f"{code} at {user.filename.rsplit('/', 1)[-1]}:{user.lineno} in {user.name}"


def denied_store(store_uri: str | None = None, artifact_uri: str | None = None, tracking_uri: str | None = None):
    """Store builder that records the attempt and refuses."""
    from mlflow.exceptions import MlflowException

    caller = _caller()
    path = os.environ.get(ACCESS_LOG_ENV)
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"time": time.time(), "call": caller}) + "\n")
    raise MlflowException(
        f"model code tried to reach the tracking server or model registry ({caller}); "
        "the judging side has no access to them"
    )


def read_attempts(path: str) -> list[str]:
    """Every recorded attempt, oldest first."""
    try:
        with open(path) as fh:
            return [json.loads(line)["call"] for line in fh if line.strip()]
    except FileNotFoundError:
        return []
