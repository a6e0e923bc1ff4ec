"""Real servers for tests, on 127.0.0.1, each with its own state folder, always stopped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT

BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The test process's environment (telemetry off, state in temp folders) plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PREFECT_API_URL", None)
    env.update(extra)
    return env


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not healthy after {timeout} s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a process started in its own session, with its children."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def spawn(args: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


@contextmanager
def prefect_server(home: Path, database_url: str | None = None) -> Iterator[str]:
    """`prefect server start` on a free port; yields the API URL."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # The UI asks the server where the API is; off port 4200 it must be told, or it shows no runs.
    env = base_env(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_API_URL=api)
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    log = home / "server.log"
    proc = spawn([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, log)
    try:
        wait_healthy(f"{api}/health", proc, log)
        yield api
    finally:
        stop(proc)


@contextmanager
def prefect_worker(pool: str, env: dict[str, str], log: Path, name: str | None = None) -> Iterator[subprocess.Popen]:
    """`prefect worker start` for a process pool (named `name`, else Prefect names it), polling every 2 s (stopped
    with SIGINT, as workers prefer)."""
    env = {"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_PREFETCH_SECONDS": "2", **env}
    named = ["--name", name] if name else []
    proc = spawn([str(BIN / "prefect"), "worker", "start", "--pool", pool, "--limit", "2", *named], env, log)
    try:
        yield proc
    finally:
        stop(proc, signal.SIGINT, timeout=30)


@contextmanager
def postgres(root: Path) -> Iterator[str]:
    """A PostgreSQL 15 cluster on 127.0.0.1, stopped and removed after; yields 'user@127.0.0.1:port'.

    PostgreSQL refuses to run as root: then the cluster lives in its own temp folder owned by the
    `postgres` system user and its commands run as that user.
    """
    as_root = os.geteuid() == 0
    if as_root:
        import pwd

        owner = pwd.getpwnam("postgres")
        base = Path(tempfile.mkdtemp(prefix="modelgate-pg-"))
        os.chown(base, owner.pw_uid, owner.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    else:
        base = root
        base.mkdir(parents=True, exist_ok=True)
        run_as = []
    data = base / "pgdata"
    user = "modelgate"
    port = free_port()
    log = base / "postgres.log"

    def pg(tool: str, *args: str) -> None:
        subprocess.run([*run_as, str(PG_BIN / tool), *args], check=True, capture_output=True, cwd=base)

    try:
        pg("initdb", "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
        opts = f"-c listen_addresses=127.0.0.1 -c port={port} -k {base} -c fsync=off"
        pg("pg_ctl", "-D", str(data), "-l", str(log), "-o", opts, "-w", "start")
        try:
            for db in ("mlflow", "prefect"):
                pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, db)
            yield f"{user}@127.0.0.1:{port}"
        finally:
            subprocess.run(
                [*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                capture_output=True,
                cwd=base,
            )
    finally:
        if as_root:
            shutil.rmtree(base, ignore_errors=True)


@contextmanager
def mlflow_server(backend_uri: str, artifacts: Path, log: Path, **extra_env: str) -> Iterator[str]:
    """`mlflow server` (registry + proxied artifacts) on a free port, with `extra_env`; yields its URL."""
    port = free_port()
    env = base_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **extra_env)
    args = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    proc = spawn(args, env, log)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def has_postgres() -> bool:
    return (PG_BIN / "initdb").is_file() and (os.geteuid() != 0 or shutil.which("runuser") is not None)


def call(method: str, url: str, body: dict | None = None, attempts: int = 20):
    """One REST call; a 5xx (SQLite's 'database is locked' under load) is retried, as a client would."""
    for _ in range(attempts):
        response = httpx.request(method, url, json=body, timeout=10)
        if response.status_code < 500:
            response.raise_for_status()
            return response.json() if response.content else None
        time.sleep(0.5)
    raise AssertionError(f"{method} {url}: {response.status_code} {response.text[:500]}")
