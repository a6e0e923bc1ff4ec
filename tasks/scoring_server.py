"""MLflow's scoring server for a version under judgement: started on 127.0.0.1 without the flow's credentials,
early (it boots while the other gates judge), and always stopped."""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gates.policy import PromotionPolicy
from tasks.judging import judging_env
from tasks.judging_guard import read_attempts
from tasks.model_copies import ModelCopy


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class ScoringServer:
    """MLflow's scoring server for one version on 127.0.0.1, always stopped on exit.

    It is the app `mlflow models serve --env-manager local` runs (mlflow.pyfunc.scoring_server under uvicorn,
    command and settings from MLflow's own `get_cmd`), started directly: `mlflow models serve` is a second
    interpreter that only waits for it."""

    def __init__(self, uri: str, port: int, log_path: Path, request_timeout_s: float = 60) -> None:
        self.uri, self.port, self.log_path = uri, port, log_path
        self.request_timeout_s = request_timeout_s
        self.proc: subprocess.Popen | None = None
        self.start_error = ""
        self.base = f"http://127.0.0.1:{port}"

    def __enter__(self) -> ScoringServer:
        self.started = time.perf_counter()
        self._log = self.log_path.open("w")
        try:
            command, settings = self.launch()
            self.proc = subprocess.Popen(
                command,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env={**judging_env(self.log_path.parent), **settings},
                cwd=self.log_path.parent,
                start_new_session=True,
            )
        except Exception as exc:  # reported as the health check's failure, never a crashed promotion
            self.start_error = f"could not start the server: {type(exc).__name__}: {exc}"
        return self

    def launch(self) -> tuple[list[str], dict[str, str]]:
        """MLflow's command for its scoring server, run by this interpreter's uvicorn, and the two settings the
        app reads: the model's path and the request timeout (judging_env passes on none of this process's own
        MLflow settings or credentials)."""
        from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
        from mlflow.pyfunc import scoring_server

        command, env = scoring_server.get_cmd(
            self.uri, port=self.port, host="127.0.0.1", timeout=math.ceil(self.request_timeout_s), nworkers=1
        )
        program, *args = shlex.split(command)
        if program != "uvicorn":
            raise RuntimeError(f"MLflow's scoring server command is not uvicorn's: {command}")
        keys = (scoring_server._SERVER_MODEL_PATH, MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.name)
        return [sys.executable, "-m", "uvicorn", *args], {key: env[key] for key in keys}

    def wait_healthy(self, timeout: float) -> tuple[bool, str]:
        if self.start_error:
            return False, self.start_error
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False, f"server exited with code {self.proc.returncode}\n{self.log()}"
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return True, "healthy"
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        return False, f"not healthy after {timeout:g} s\n{self.log()}"

    def log(self) -> str:
        """The server's ERROR lines (the cause, e.g. a port in use, comes before the traceback), then its tail."""
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        errors = [line.strip() for line in text.splitlines() if line.startswith("ERROR")][:3]
        return "\n".join([*errors, _tail(text)])

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass  # killed; a process the kernel has not reaped yet must not fail the gates
        self._log.close()


class EarlyServer:
    """The candidate's scoring server, started as soon as its model copy is local, so that it boots while the
    other gates judge; it is ready (or not) before the latency gate times anything, and stopped by `close`."""

    def __init__(self, copy: ModelCopy, policy: PromotionPolicy) -> None:
        gate = policy.gates.integration
        self.port = gate.port or free_port()
        self.timeout = gate.server_startup_timeout_s
        self.folder = Path(tempfile.mkdtemp(prefix="modelgate-serve-"))
        self.schema = copy.schema
        self.server = ScoringServer(
            copy.local_dir, self.port, self.folder / "server.log", gate.request_timeout_s
        ).__enter__()
        self.health: tuple[bool, str] | None = None
        self.seconds = 0.0
        self.attempts: list[str] = []

    def ready(self) -> tuple[bool, str]:
        """Wait (once) until the server answers /health or its time is up."""
        if self.health is None:
            self.health = self.server.wait_healthy(self.timeout)
            self.seconds = time.perf_counter() - self.server.started
        return self.health

    def close(self) -> None:
        """Stop the server; keep the registry calls its model attempted (its access log) in `attempts`."""
        self.server.__exit__(None, None, None)
        if self.folder.is_dir():
            self.attempts += read_attempts(str(self.folder / "access.log"))
        shutil.rmtree(self.folder, ignore_errors=True)
