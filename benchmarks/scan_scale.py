"""The registry scan at scale: 100 registered models x 100 versions against a real `mlflow server` on SQLite.

Set-up (not timed): `mlflow server` on 127.0.0.1 (a free port, a SQLite backend and artifacts in a temp folder, its
default 4 workers as a deployment runs it; --server-workers 1 as the tests run it), Prefect's temporary server, and a
registry in the steady state: one tiny shared model artifact; per model, every version but the newest 1 to 5 decided
(the `modelgate.outcome` and `modelgate.decision` tags and `modelgate.ledger_run_id` as a decision writes them, and a
FINISHED ledger run for each decision, four of them promotions in turn), the champion alias where the ledger's last
promotion put it, and the newest versions still to decide (no outcome tag, or `stale`). Ledger runs carry their tags
only, or with --evidence also the parameters (the policy, flattened), metrics and note a promotion logs. One policy
per model, the demo's (every gate configured), in a temp folder.

Timed: the real `scan_registry` flow over every model, as the schedule runs it (promotions in flight, the scan
targets with the batched registry and ledger reads, overdue approvals, reconcile where needed, the undecided
versions), with one step replaced: `_start`, which would create a run of the promote deployment for each undecided
version, only records the version. Each timed scan starts as a fresh scan process would: the policies are parsed and
the promotion locks' limits looked up again. A full scan first, not counted, starts the temporary Prefect server and
imports what the scan uses. Prints each scan's wall time, its steps, the CPU time of the MLflow server and of this
process with the Prefect server, the versions found undecided (they must be those set up), and the median wall time
against the target (<= 5 s).
Run: `.venv/bin/python benchmarks/scan_scale.py --repeat 3` (add --evidence for ledger runs with their evidence).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from modelgate.environment import configure

TARGET_S = 5.0
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) of the live processes in a process group, from /proc (Linux)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def mlflow_server(root: Path, workers: int) -> Iterator[tuple[str, int]]:
    """`mlflow server` on SQLite with proxied artifacts under `root`; yields its URL and process group."""
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    args = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db"]
    args += ["--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]
    log = root / "mlflow-server.log"
    proc = subprocess.Popen(
        [*args, "--workers", str(workers)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


STEPS = ("promotions_in_flight", "scan_targets", "resume_overdue", "reconcile_task", "find_undecided")  # flows.scan


def timed_scan(
    policy_dir: Path, models: list[str] | None = None
) -> tuple[float, dict[str, list[str]], dict[str, float]]:
    """One `scan_registry` run, `_start` recording instead of creating flow runs: (seconds, model -> versions
    found undecided, step -> seconds spent in it, Prefect's task-run overhead included)."""
    import flows.scan
    from tasks import locks, policy_files, scan_steps

    found: dict[str, list[str]] = {}
    spent: dict[str, float] = {}
    originals: dict[str, Callable[..., Any]] = {
        n: getattr(flows.scan, n) for n in ("_start", *STEPS) if hasattr(flows.scan, n)
    }

    def record(deployment: str, model: str, version: str, policy_path: str, trigger: str) -> Any:
        found.setdefault(model, []).append(version)
        return flows.scan.Triggered(model=model, version=version, flow_run_id="not-started", state="NOT_STARTED")

    def timed(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

        return call

    locks._KNOWN.clear()  # as in a fresh scan process: the locks' limits and the policies are read again
    policy_files._parsed.cache_clear()
    getattr(scan_steps, "_READ", {}).clear()  # (absent before the batched reads)
    flows.scan._start = record  # type: ignore[assignment]
    for name in STEPS:
        if name in originals:
            setattr(flows.scan, name, timed(name, originals[name]))
    try:
        start = time.perf_counter()
        flows.scan.scan_registry(models=models, policy_dir=str(policy_dir))
        return time.perf_counter() - start, found, spent
    finally:
        for name, original in originals.items():
            setattr(flows.scan, name, original)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=100, help="versions per model")
    parser.add_argument("--repeat", type=int, default=3, help="timed scans")
    parser.add_argument("--threads", type=int, default=8, help="set-up's REST calls in flight")
    parser.add_argument("--server-workers", type=int, default=4, help="mlflow server --workers (4: its default)")
    parser.add_argument(
        "--evidence", action="store_true", help="ledger runs carry a promotion's parameters, metrics and note"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelgate-scan-bench-"))
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # a line per ledger run made in set-up
    configure(home)
    sys.path.insert(0, str(ROOT))  # run as a script: benchmarks/ is not an installed package
    from benchmarks.scan_setup import register, write_policies

    try:
        with mlflow_server(home, args.server_workers) as (url, server):
            os.environ["MLFLOW_TRACKING_URI"] = url
            import mlflow

            mlflow.set_tracking_uri(url)
            start = time.perf_counter()
            expected = register(url, home / "mlflow.db", args.models, args.versions, args.threads, args.evidence)
            policy_dir = home / "policies"
            write_policies(policy_dir, sorted(expected))
            payload = "tags, parameters, metrics and a note" if args.evidence else "tags only"
            print(
                f"set-up: {args.models} models x {args.versions} versions, ledger runs ({payload}) included, "
                f"mlflow server --workers {args.server_workers}: {time.perf_counter() - start:.1f} s"
            )
            run(policy_dir, expected, args.repeat, server)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(policy_dir: Path, expected: dict[str, list[str]], repeat: int, server: int) -> None:
    """The warm-up and the timed scans, each checked against the versions set up."""
    from prefect.logging.handlers import PrefectConsoleHandler

    import flows.scan  # noqa: F401 - sets up Prefect's logging
    from modelgate.runtime import flow_settings

    for handler in logging.getLogger().handlers:  # INFO logs still go to the Prefect API, as in a deployment
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(logging.WARNING)
    want = sum(len(v) for v in expected.values())
    times = []
    with flow_settings():
        seconds, _, _ = timed_scan(policy_dir)
        print(f"warm-up scan (the temporary Prefect server starts, first imports; not counted): {seconds:.1f} s")
        for i in range(repeat):
            cpu = cpu_seconds(server), cpu_seconds(os.getpgrp())
            seconds, found, spent = timed_scan(policy_dir)
            cpu = cpu_seconds(server) - cpu[0], cpu_seconds(os.getpgrp()) - cpu[1]
            times.append(seconds)
            got = sum(len(v) for v in found.values())
            same = {m: sorted(v, key=int) for m, v in found.items()} == {m: v for m, v in expected.items() if v}
            print(
                f"scan {i + 1}: {seconds:.2f} s wall, {got} undecided versions found ({want} set up; "
                f"{'the same' if same else 'NOT the same'} versions); CPU: mlflow server {cpu[0]:.2f} s, "
                f"this process and the Prefect server {cpu[1]:.2f} s"
            )
            print("    in steps: " + ", ".join(f"{name} {s:.2f} s" for name, s in spent.items()))
    median = statistics.median(times)
    verdict = "PASS" if median <= TARGET_S else "FAIL"
    print(f"median wall time of {repeat}: {median:.2f} s (target <= {TARGET_S:g} s): {verdict}")


if __name__ == "__main__":
    main()
