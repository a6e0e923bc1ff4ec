"""Shared fixtures: isolated state, one Prefect harness and one set of trained demo models per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="modelgate-tests-"))
# State and telemetry must be settled before prefect or mlflow is imported anywhere.
os.environ["MODELGATE_HOME"] = str(_SESSION_TMP / "home")
os.environ["PREFECT_HOME"] = str(_SESSION_TMP / "prefect")
os.environ["MPLCONFIGDIR"] = str(_SESSION_TMP / "mpl")
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_SESSION_TMP / 'unused.db'}"
for key, value in {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "GIT_PYTHON_REFRESH": "quiet",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",  # as the CLI runs the temporary server
}.items():
    os.environ[key] = value
os.environ.pop("PREFECT_API_URL", None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture(scope="session")
def session_tmp() -> Path:
    """A temp folder for the whole session (removed at the end)."""
    return _SESSION_TMP


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API server and database for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    from modelgate.runtime import flow_settings

    with prefect_test_harness(server_startup_timeout=120), flow_settings():
        yield
