"""Fault injection against a real `mlflow server` on 127.0.0.1 (SQLite, one worker), shared by the fault tests:
the server is killed with SIGKILL at each fault point of a promotion (tasks/fault_points.py) run as a user runs
it (the CLI in a subprocess, against a real Prefect server), restarted on the same port and database, and then
`reconcile` and the promotion again must leave the registry and the ledger agreeing: one champion, no decision
lost or doubled, nothing RUNNING, no duplicated attempt."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import tracking_server
from tests.integration.conftest import MODEL, write_policy
from tests.integration.servers import BIN, base_env, free_port, spawn, wait_healthy

CHAMPION, GOOD, WORSE = "1", "2", "3"
EXTRA_GOOD, EXTRA_WORSE = 4, 4  # more copies for the concurrency test: v4-v7 good, v8-v11 worse
EXPERIMENT = "model-promotions"
PAUSE_S = 240  # how long a test waits for the promotion to reach a fault point


class Tracking:
    """`mlflow server` over one SQLite file and artifact folder, on a port that stays the same across restarts
    (MLflow's server command run in one process: tests/integration/tracking_server.py)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        args = [*tracking_server.COMMAND, "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"]
        args += ["--artifacts-destination", str(self.root / "artifacts"), "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--workers", "1"]
        log = self.root / f"server-{self.starts}.log"
        self.proc = spawn(args, base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"), log)
        wait_healthy(f"{self.url}/health", self.proc, log)

    def kill(self) -> None:
        """SIGKILL the server and its workers, as a crashed host would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@contextmanager
def tracking(root: Path) -> Iterator[Tracking]:
    server = Tracking(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def tracking_uri(url: str) -> Iterator[None]:
    """Point this process's MLflow client (and tasks.*) at `url` for a while; the server places artifacts."""
    import mlflow

    before, env = mlflow.get_tracking_uri(), os.environ.get("MLFLOW_TRACKING_URI")
    artifact_root = os.environ.pop("MODELGATE_ARTIFACT_ROOT", None)
    mlflow.set_tracking_uri(url)
    os.environ["MLFLOW_TRACKING_URI"] = url
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)
        os.environ["MLFLOW_TRACKING_URI"] = env or before
        if artifact_root is not None:
            os.environ["MODELGATE_ARTIFACT_ROOT"] = artifact_root


def cli_env(url: str, api: str, home: Path, **extra: str) -> dict[str, str]:
    """A user's environment: MLflow and Prefect servers, short retries and time limits."""
    settings = {
        "MLFLOW_TRACKING_URI": url,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(home / "prefect-client"),
        "MODELGATE_HOME": str(home / "modelgate"),
        "MODELGATE_PAUSE_DIR": str(home / "pause"),
        "MODELGATE_RETRY_SECONDS": "3",
        "MODELGATE_TRACKING_TIMEOUT_S": "5",
        # MLflow's own HTTP retries (7, about 4 minutes per call by default) left to modelgate's retries.
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    env = base_env(**{**settings, **extra})
    env.pop("MODELGATE_ARTIFACT_ROOT", None)  # the server decides where artifacts go
    return env


def modelgate(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "modelgate"), *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    """Exit code and the process's output (stdout then stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # never left running into the next test's folders
        out, err = proc.communicate()
        raise AssertionError(f"still running after {timeout:g} s: {(out + err)[-3000:]}") from None
    return proc.returncode, out + err


def promote_args(version: str, policy: str) -> list[str]:
    return ["promote", "--model", MODEL, "--version", version, "--policy", policy, "--trigger", "fault-test"]


def register_models(url: str, counts: dict[str, int]) -> None:
    """Train each demo config once and register it `count` times (each copy its own artifacts and digest)."""
    import tasks.demo_models as demo_models
    from demo.adult_data import load_train
    from demo.adult_model import TrainConfig
    from flows.demo import BASELINE
    from flows.demo import WORSE as WORSE_CONFIG

    # "better": all columns on 8k rows for 3 epochs, clearly above the baseline and seconds to train
    better = TrainConfig(hidden=(16,), epochs=3, train_rows=8000)
    configs = {"baseline": BASELINE, "better": better, "worse": WORSE_CONFIG}
    trained: dict[str, object] = {}
    original = demo_models.train

    def train_once(frame, config):
        key = repr(config)
        if key not in trained:
            trained[key] = original(frame, config)
        return trained[key]

    frame = load_train()
    demo_models.train = train_once
    try:
        with tracking_uri(url):
            for label, count in counts.items():
                for _ in range(count):
                    demo_models.log_adult_model(MODEL, label, configs[label], frame, f"{label} model")
    finally:
        demo_models.train = original


@dataclass(frozen=True)
class Template:
    """A registry (SQLite + artifacts) with v1 champion (promoted by modelgate), v2 better, v3 worse."""

    root: Path
    policy: str

    def copy(self, dest: Path) -> Path:
        shutil.copytree(self.root, dest, ignore=shutil.ignore_patterns("server-*.log"))
        return dest


def fast_policy(path: Path) -> str:
    """The demo policy judged by the evaluation gate alone, on 200 bootstrap resamples (seconds per attempt)."""
    import yaml

    data = yaml.safe_load(Path(write_policy(path)).read_text())
    data["gates"]["evaluation"]["bootstrap"]["resamples"] = 200
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def template_at(root: Path) -> Template:
    """The template build_template made in root."""
    return Template(root / "mlflow", str(root / "policy.yaml"))


def build_template(root: Path, prefect_api: str) -> Template:
    """v1 baseline (promoted by modelgate through the CLI), v2 better, v3 worse, in root/mlflow."""
    template = template_at(root)
    template.root.mkdir(parents=True)
    policy = fast_policy(Path(template.policy))
    with tracking(template.root) as server:
        register_models(server.url, {"baseline": 1, "better": 1, "worse": 1})
        env = cli_env(server.url, prefect_api, root)
        code, out = finish(modelgate(promote_args(CHAMPION, policy), env, root))
        assert code == 0, out[-3000:]
    return template


def build_crowd(template: Template, dest: Path) -> Template:
    """The template plus more good and worse copies (v4-v7 good, v8-v11 worse)."""
    root = template.copy(dest)
    with tracking(root) as server:
        register_models(server.url, {"better": EXTRA_GOOD, "worse": EXTRA_WORSE})
    return Template(root, template.policy)


def ledger_state(url: str) -> dict:
    """What the test checks, read with the project's own ledger and registry code."""
    from mlflow import MlflowClient

    from gates.champion_history import champion_of_record
    from tasks import ledger

    with tracking_uri(url):
        entries = ledger.history(MODEL, EXPERIMENT)
        c = MlflowClient(url)
        versions = {str(mv.version): mv for mv in c.search_model_versions(f"name='{MODEL}'")}
        aliases = {alias: str(v) for alias, v in c.get_registered_model(MODEL).aliases.items()}
    decisions = [e for e in entries if e.counts]
    return {
        "entries": entries,
        "decisions": decisions,
        "of_record": champion_of_record(decisions),
        "aliases": aliases,
        "tags": {v: dict(mv.tags) for v, mv in versions.items()},
    }


def assert_agree(url: str, champion: str, previous: str) -> dict:
    """Registry and ledger agree: one champion, the ledger's; nothing RUNNING; no attempt twice; one decision
    per promoted version; the champion's tags point at its deciding ledger run."""
    state = ledger_state(url)
    entries = state["entries"]
    assert [e.run_id for e in entries if e.status == "RUNNING"] == []
    attempts = [e.attempt_id for e in entries]
    assert len(attempts) == len(set(attempts)), attempts
    assert state["aliases"] == {"champion": champion, "previous-champion": previous}
    assert state["of_record"] == champion
    assert [e.outcome for e in entries if e.counts and e.outcome == "external_change"] == []
    promoted = [e for e in state["decisions"] if e.version == champion and e.outcome == "promoted"]
    assert len(promoted) == 1, [(e.version, e.outcome, e.status) for e in entries]
    tags = state["tags"][champion]
    assert tags["modelgate.outcome"] == "promoted" and tags["modelgate.ledger_run_id"] == promoted[0].run_id
    return state


def whole_ledger(state: dict) -> list[tuple[str, str, str]]:
    """(version, run status, outcome) of every ledger entry, oldest first."""
    return [(e.version, e.status, e.outcome) for e in state["entries"]]


@dataclass(frozen=True)
class Fault:
    """Kill the server at `point` and start it again; then `recover` (the promotion again, or `reconcile` where
    the alias had moved, as the re-run is refused for a version that is already champion). `history`: the
    candidate's ledger entries at the end, (status, outcome), oldest first. `back_after_s`: the server is back
    that soon (an outage the retries ride out); `restart_at`: back when the promotion reaches that point."""

    point: str
    first_exit: int
    recover: str | None
    history: tuple[tuple[str, str], ...]
    back_after_s: float | None = None
    restart_at: str | None = None
    retry_s: str = "3"


DECIDED = (("FINISHED", "promoted"),)
FAILED_THEN_DECIDED = (("FAILED", ""), ("FINISHED", "promoted"))
FAULTS = {
    "a-during-gates": Fault("gates", 5, "promote", DECIDED),
    "b-after-decision": Fault("acting", 5, "promote", DECIDED),
    "b-before-alias-move": Fault("alias_move", 5, "promote", FAILED_THEN_DECIDED),
    "c-alias-set-previous-not": Fault("alias_moved", 5, "reconcile", DECIDED),
    "c-before-read-back": Fault("alias_readback", 5, "reconcile", DECIDED),
    "d-ledger-run-created": Fault("ledger_created", 5, "promote", FAILED_THEN_DECIDED),
    "e-evidence-upload": Fault("evidence_upload", 5, "promote", FAILED_THEN_DECIDED),
    "f-version-tags": Fault("version_tags", 5, "reconcile", DECIDED),
    "f-back-before-mark-failed": Fault("version_tags", 5, "reconcile", DECIDED, restart_at="mark_failed"),
    "finalise": Fault("finalise", 5, "reconcile", DECIDED),
    "g-short-outage": Fault("ledger_created", 0, None, DECIDED, back_after_s=2, retry_s="60"),
}


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = PAUSE_S) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the promotion ended before {path.name}: {finish(proc)[1][-3000:]}")
        assert time.monotonic() < deadline, f"{path.name} not reached in {timeout} s"
        time.sleep(0.1)


CASES_WITH_A_TEST: list[str] = []  # filled by fault_test as the test files are imported


def fault_test(cases: list[str]) -> Callable[..., None]:
    """The test of FAULTS `cases`, one parametrised test per case (the cases are spread over several files so
    that pytest-xdist runs them on several workers at once)."""
    CASES_WITH_A_TEST.extend(cases)

    @pytest.mark.slow
    @pytest.mark.parametrize("case", cases)
    def test_server_killed_at_a_fault_point(case: str, template: Template, prefect_server_api: str, tmp_path: Path):
        kill_at_a_fault_point(case, template, prefect_server_api, tmp_path)

    return test_server_killed_at_a_fault_point


def kill_at_a_fault_point(case: str, template: Template, prefect_server_api: str, tmp_path: Path) -> None:
    """Run one FAULTS case: the promotion, the kill (and restart), the recovery, and the agreement checks."""
    fault = FAULTS[case]
    server = Tracking(template.copy(tmp_path / "mlflow"))
    server.start()
    clock = Clock()
    try:
        points = ",".join(p for p in (fault.point, fault.restart_at) if p)
        env = cli_env(server.url, prefect_server_api, tmp_path, MODELGATE_RETRY_SECONDS=fault.retry_s)
        pause = Path(env["MODELGATE_PAUSE_DIR"])
        first = modelgate(promote_args(GOOD, template.policy), {**env, "MODELGATE_PAUSE_AT": points}, tmp_path)
        wait_for(pause / f"{fault.point}.reached", first)
        clock.lap("to the point")
        server.kill()
        (pause / f"{fault.point}.go").touch()
        if fault.back_after_s is not None:
            time.sleep(fault.back_after_s)
            server.start()
            clock.lap("outage")
        if fault.restart_at is not None:
            wait_for(pause / f"{fault.restart_at}.reached", first)
            server.start()
            (pause / f"{fault.restart_at}.go").touch()
        code, out = finish(first)
        clock.lap("promotion ended")
        assert code == fault.first_exit, out[-3000:]
        if server.proc is None:
            server.start()
        if fault.recover == "promote":
            code, out = finish(modelgate(promote_args(GOOD, template.policy), env, tmp_path))
            assert code == 0, out[-3000:]
        elif fault.recover == "reconcile":
            args = ["reconcile", "--model", MODEL, "--policy", template.policy]
            code, out = finish(modelgate(args, env, tmp_path))
            assert code == 0 and f"finished interrupted attempt: v{GOOD} promoted" in out, out[-3000:]
        clock.lap("restart and recovery")
        state = assert_agree(server.url, champion=GOOD, previous=CHAMPION)
        assert whole_ledger(state) == [(CHAMPION, "FINISHED", "promoted"), *((GOOD, *h) for h in fault.history)]
    finally:
        server.stop()
    print(f"fault {case}: {clock}")


class Clock:
    """Seconds per phase of a scenario, for the README's figures (printed with -s)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.laps: list[str] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps.append(f"{name} {now - self.last:.1f} s")
        self.last = now

    def __str__(self) -> str:
        return f"{time.monotonic() - self.start:.1f} s ({', '.join(self.laps)})"


@contextmanager
def answer_lost(target: str) -> Iterator[str]:
    """An HTTP proxy in front of the tracking server: it forwards every request, but the first creation of a
    modelgate run in each experiment is answered 502 after the server made the run (the answer was lost, so
    the client sends the creation again). Yields the proxy's URL."""
    import http.server
    import json
    import threading

    import httpx

    lost: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            skip = ("host", "content-length", "connection", "accept-encoding")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            answer = httpx.request(self.command, target + self.path, content=body, headers=headers, timeout=60)
            if self.path.startswith("/api/2.0/mlflow/runs/create") and b"modelgate." in body:
                experiment = str(json.loads(body).get("experiment_id"))
                if experiment not in lost:
                    lost.add(experiment)
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

        def log_message(self, *args: object) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert len(lost) == 2, lost  # the evidence cache's run and the ledger's run each lost one answer


def silent_socket() -> tuple[socket.socket, int]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]
