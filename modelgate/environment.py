"""Embedded defaults for state and telemetry; set before prefect or mlflow is imported."""

from __future__ import annotations

import os
from pathlib import Path

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "GIT_PYTHON_REFRESH": "quiet",
}


# Prefect's temporary server keeps its state in SQLite. Its task-run recorder holds the write lock for seconds at a
# time, so every other write waits (the promotion lock took ~2 s to take) or fails with "database is locked".
# Nothing reads task runs from a server that ends with the process; flow runs, states, artifacts and events are
# still written.
TEMPORARY_SERVER = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false"}


def configure(home: str | Path | None = None) -> Path:
    """Point Prefect and MLflow at state under `home` unless the user already chose servers.

    `home` defaults to $MODELGATE_HOME or ./.modelgate. MLflow: a SQLite file plus an artifact folder
    there, unless MLFLOW_TRACKING_URI is set. Prefect: its temporary local server with PREFECT_HOME
    there, unless PREFECT_API_URL / PREFECT_HOME are set, without its task-run recorder. Telemetry is switched
    off.
    """
    root = Path(home or os.environ.get("MODELGATE_HOME") or ".modelgate").resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["MODELGATE_HOME"] = str(root)
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(root / "prefect"))
    if not os.environ.get("PREFECT_API_URL"):
        os.environ.update(TEMPORARY_SERVER)
    os.environ.setdefault("MPLCONFIGDIR", str(root / "matplotlib"))
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        os.environ.setdefault("MODELGATE_ARTIFACT_ROOT", (root / "artifacts").as_uri())
    return root
