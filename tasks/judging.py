"""The acting side's handle on a judging process: start it with no tracking URI and no credentials,
send it requests with a time limit, and turn a hang or a crash into data instead of a stuck flow.

The acting side never unpickles model code: replies are JSON, arrays are read with allow_pickle=False.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.judging_guard import ACCESS_LOG_ENV, JUDGING_URI, read_attempts
from tasks.judging_processes import JudgeProcess, zygote

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Anything that could let model code reach the registry, the ledger, Prefect or a cloud account.
SECRET_NAME = re.compile(
    r"^(MLFLOW_|DATABRICKS|AWS_|AZURE|GOOGLE_|GCP_|GCS_|CLOUDSDK|PREFECT_API|PREFECT_SERVER|PG|MODELGATE_)"
    r"|TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|API_KEY|ACCESS_KEY|PRIVATE_KEY",
    re.IGNORECASE,
)
KEEP = ("MLFLOW_DISABLE_TELEMETRY", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "MODELGATE_JUDGING_SANDBOX")


def warm_up() -> None:
    """Start this process's judging zygote in the background while the inputs load."""
    zygote(judging_env).warm()


def judging_env(work_dir: Path) -> dict[str, str]:
    """The parent's environment minus every credential and server address, plus the refusing tracking URI.

    HOME points into the work folder, so ~/.mlflow/credentials, ~/.aws and ~/.databrickscfg are out of reach.
    """
    env = {k: v for k, v in os.environ.items() if k in KEEP or not SECRET_NAME.search(k)}
    env.update(
        {
            "MLFLOW_TRACKING_URI": JUDGING_URI,
            "MLFLOW_REGISTRY_URI": JUDGING_URI,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
            "HOME": str(work_dir),
            "MPLCONFIGDIR": str(work_dir / ".matplotlib"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            ACCESS_LOG_ENV: str(work_dir / "access.log"),
            # model code that calls a server by address fails fast instead of retrying for minutes
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
        }
    )
    # the candidate's and the champion's processes work side by side: half the cores each
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
    return env


@dataclass(frozen=True)
class Reply:
    """What a judging process answered, or why it did not."""

    ok: bool
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    timed_out: bool = False
    access_attempts: tuple[str, ...] = ()

    def problem(self, seconds: float) -> str:
        """One line for a gate's summary."""
        return f"timed out after {seconds:g} s" if self.timed_out else (self.error or "no answer")


def exit_reason(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Judge:
    """One model's judging process: loads a local copy of the artifacts and answers requests."""

    def __init__(self, label: str, work_dir: Path, config: dict[str, Any]) -> None:
        self.label = label
        self.work = work_dir
        self.config = config
        self.proc: JudgeProcess | None = None
        self._reply: Any = None
        self._buffer = b""
        self._seen_attempts = 0
        self._pending = 0
        (work_dir / "config.json").write_text(json.dumps(config))

    def _start(self) -> None:
        (self.work / "exit_status").unlink(missing_ok=True)
        self.proc = JudgeProcess(zygote(judging_env), self.work)
        self._reply = self.proc.replies
        self._buffer = b""
        self._pending = 0

    def log_tail(self, lines: int = 8) -> str:
        """The last lines the process wrote (model prints, tracebacks)."""
        try:
            text = (self.work / "judge.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def send(self, op: str, **args: Any) -> Reply | None:
        """Start the process if needed (replaying `load` after a restart) and send one request.

        Returns a Reply only when the request could not be sent (the process died)."""
        if self.proc is None or not self.proc.alive():
            if self.proc is not None:
                self.stop()
            self._start()
            if op != "load" and self.config.get("preload", True):
                self._write({"op": "load", **self.config.get("load_args", {})})
                self._pending += 1
        return self._write({"op": op, **args})

    def _write(self, request: dict[str, Any]) -> Reply | None:
        assert self.proc is not None
        try:
            self.proc.requests.write((json.dumps(request) + "\n").encode())
            self.proc.requests.flush()
        except (BrokenPipeError, OSError):
            return self._died()
        return None

    def receive(self, timeout: float) -> Reply:
        """The next reply within `timeout` seconds; a hang kills the process (restarted by the next send)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next_line(deadline)
            if not isinstance(reply, dict):
                return reply
            if self._pending:  # the replayed load after a restart
                self._pending -= 1
                if not reply.get("ok", False):
                    return Reply(ok=False, error=str(reply.get("error")), access_attempts=self._attempts())
                continue
            attempts = self._attempts()
            if not reply.pop("ok", False):
                return Reply(ok=False, error=str(reply.get("error", "failed")), data=reply, access_attempts=attempts)
            return Reply(ok=True, data=reply, access_attempts=attempts)

    def _next_line(self, deadline: float) -> dict[str, Any] | Reply:
        assert self.proc is not None
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                return Reply(ok=False, timed_out=True, access_attempts=self._attempts())
            ready, _, _ = select.select([self._reply], [], [], min(remaining, 1.0))
            if ready:
                chunk = os.read(self._reply, 1 << 16)
                if not chunk:
                    return self._died()
                self._buffer += chunk
            elif not self.proc.alive():
                return self._died()
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def answering(self) -> bool:
        """Whether a reply (or the process's exit) is there to be read now."""
        if b"\n" in self._buffer or self._reply is None or self.proc is None or not self.proc.alive():
            return True
        return bool(select.select([self._reply], [], [], 0)[0])

    def call(self, op: str, timeout: float, **args: Any) -> Reply:
        """Send one request and wait for its reply at most `timeout` seconds."""
        failed = self.send(op, **args)
        return failed if failed is not None else self.receive(timeout)

    def _died(self) -> Reply:
        assert self.proc is not None
        code = self.proc.exit_code(wait=10)
        tail = self.log_tail()
        reason = f"the judging process for the {self.label} {exit_reason(code)}"
        self.stop()
        return Reply(
            ok=False,
            error=reason + (f": {tail.splitlines()[-1]}" if tail else ""),
            data={"log": tail},
            access_attempts=self._attempts(),
        )

    def new_attempts(self) -> tuple[str, ...]:
        """Registry access attempts recorded since the last reply."""
        return self._attempts()

    def _attempts(self) -> tuple[str, ...]:
        found = read_attempts(str(self.work / "access.log"))
        new = tuple(found[self._seen_attempts :])
        self._seen_attempts = len(found)
        return new

    def array(self, name: str) -> np.ndarray:
        """An array the process saved (never unpickled)."""
        return np.load(self.work / name, allow_pickle=False)

    def put_array(self, name: str, values: np.ndarray) -> str:
        """Write an array for the process to read; returns its name."""
        np.save(self.work / name, np.asarray(values), allow_pickle=False)
        return name

    def stop(self) -> None:
        """Kill the judge's session (model threads and children included)."""
        if self.proc is not None:
            self.proc.kill()
        self.proc = None
        self._reply = None


def first_answer(judges: list[Judge], timeout: float) -> float:
    """Wait until one of the judges has a reply (or has exited), at most `timeout` seconds; returns the seconds
    waited."""
    start = time.monotonic()
    while judges and not any(j.answering() for j in judges) and time.monotonic() - start < timeout:
        time.sleep(0.05)
    return time.monotonic() - start


class JudgingSide:
    """The judging processes of one promotion attempt (candidate and champion), stopped on exit."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="modelgate-judging-"))
        self.judges: dict[str, Judge] = {}

    def add(
        self,
        label: str,
        model_dir: str,
        frame: pd.DataFrame,
        reference: pd.DataFrame | None,
        config: dict[str, Any],
    ) -> Judge:
        """Set up a judge for one model: its input columns as Parquet, and its config (local model copy)."""
        work = self.root / label
        work.mkdir()
        frame.to_parquet(work / "eval.parquet", index=False)
        if reference is not None:
            reference.to_parquet(work / "reference.parquet", index=False)
        judge = Judge(label, work, {**config, "model_dir": model_dir})
        self.judges[label] = judge
        return judge

    def close(self) -> None:
        """Stop every process and remove the work folders."""
        for judge in self.judges.values():
            judge.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> JudgingSide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
