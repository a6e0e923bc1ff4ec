"""The scoring server's command and settings: MLflow's own uvicorn command, the model path and the policy's request
timeout, none of the flow's credentials; a server that cannot start is a failed health check, not a crash."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tasks.judging import JUDGING_URI
from tasks.scoring_server import ScoringServer


def test_command_is_mlflows_uvicorn_app_under_this_interpreter(tmp_path: Path) -> None:
    server = ScoringServer(str(tmp_path / "model"), 5123, tmp_path / "server.log", request_timeout_s=12.5)
    assert server.launch()[0] == [
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        "--port",
        "5123",
        "--workers",
        "1",
        "mlflow.pyfunc.scoring_server.app:app",
    ]


def test_settings_are_the_model_path_and_the_policys_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT", "not-a-number")  # the user's, not the policy's
    server = ScoringServer(str(tmp_path / "model"), 5123, tmp_path / "server.log", request_timeout_s=12.5)
    assert server.launch()[1] == {
        "__pyfunc_model_path__": (tmp_path / "model").as_uri(),
        "MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT": "13",
    }


def test_the_served_process_gets_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "secret-token")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    with ScoringServer(str(tmp_path), 5123, tmp_path / "server.log") as server:
        assert server.proc is not None
        env = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    server.__exit__(None, None, None)
    assert b"MLFLOW_TRACKING_TOKEN=secret-token" not in env
    assert f"MLFLOW_TRACKING_URI={JUDGING_URI}".encode() in env
    assert f"__pyfunc_model_path__={tmp_path.as_uri()}".encode() in env


def test_a_server_that_cannot_start_fails_its_health_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    server = ScoringServer(str(tmp_path), 5123, tmp_path / "server.log").__enter__()
    assert server.proc is None
    assert server.wait_healthy(5) == (
        False,
        f"could not start the server: FileNotFoundError: [Errno 2] No such file or directory: "
        f"'{tmp_path / 'no-python'}'",
    )
    server.__exit__(None, None, None)
