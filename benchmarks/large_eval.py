"""A promotion on 10 million eval rows, streamed: peak memory and time against just reading and scoring the data.

Writes a synthetic Parquet set with the demo's columns (rows drawn from the UCI Adult eval split, numeric columns
jittered within their ranges; 10 files), registers the demo's baseline (champion) and full model (candidate) in
a fresh registry, and runs, each in its own process, one after the other:

- promotion: a dry run of the candidate against the champion on the whole set (every gate but integration, as
  `benchmarks/promotion_overhead.py`), against a `prefect server` on 127.0.0.1 started before the clock does (as
  production runs Prefect's server: a service, not part of a promotion); peak memory is sampled over the whole
  process tree (the flow, the judging zygote and both judges) every 0.2 s, as the sum of RSS and the sum of PSS
  (shared pages counted once);
- read + forward: read the set batch by batch and run both models' predict() over every row, nothing else.

Prints both, side by side, and the targets: peak RSS of the promotion < 2 GiB, promotion <= 2 x read + forward.
Run: `.venv/bin/python benchmarks/large_eval.py [--rows 10000000] [--data DIR]` (the set is kept in DIR).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODEL = "adult-income"
FILES = 10


def write_set(folder: Path, rows: int) -> None:
    """`rows` synthetic rows of the demo's columns as FILES Parquet files (skipped when already there)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (folder / "complete").is_file() and (folder / "complete").read_text() == str(rows):
        return
    folder.mkdir(parents=True, exist_ok=True)
    base = pd.read_csv(ROOT / "data" / "uci-adult" / "adult_eval.csv.gz")
    rng = np.random.default_rng(0)
    jitter = {"age": 2, "fnlwgt": 5000, "hours_per_week": 3, "education_num": 0}
    per_file = -(-rows // FILES)
    for i in range(FILES):
        n = min(per_file, rows - i * per_file)
        part = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
        for column, width in jitter.items():
            if width:
                low, high = base[column].min(), base[column].max()
                part[column] = np.clip(part[column] + rng.integers(-width, width + 1, n), low, high).astype("int64")
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / f"part-{i:02d}.parquet")
    (folder / "complete").write_text(str(rows))


def tree_memory(pid: int) -> tuple[int, int, int]:
    """(sum of RSS, sum of PSS, RSS of `pid` alone) in bytes of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    rss = pss = own = 0
    for p in tree - _servers(tree):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                    own += int(line.split()[1]) * 1024 if p == pid else 0
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss, own


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on a free 127.0.0.1 port with its state under `home`; yields the API URL, then stops
    it."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "server.log").open("w")
    command = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port"]
    proc = subprocess.Popen(
        [*command, str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"prefect server did not start: see {home / 'server.log'}")
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield api
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _servers(pids: set[int]) -> set[int]:
    """A temporary Prefect server's processes, should a child start one (production runs Prefect's server as its
    own service)."""
    found = set()
    for p in pids:
        try:
            command = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"uvicorn" in command and b"prefect" in command:
            found.add(p)
    return found


def measured(args: list[str], env: dict[str, str]) -> tuple[float, list[int], str]:
    """(wall s, [peak tree RSS, peak tree PSS, peak RSS of the child alone], last stdout line) of a child run of
    this script."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, text=True)
    peak = [0, 0, 0]

    def sample() -> None:
        while proc.poll() is None:
            peak[:] = [max(a, b) for a, b in zip(peak, tree_memory(proc.pid), strict=True)]
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed with exit code {proc.returncode}")
    return wall, peak, out.strip().splitlines()[-1]


def child_promote(policy: str) -> None:
    from flows.promote import promote
    from modelgate.runtime import flow_settings

    with flow_settings():
        outcome = promote(model=MODEL, version="2", policy_path=policy, dry_run=True, force=True)
    gates = {g.gate: g.status.value for g in outcome.gates}
    print(json.dumps({"verdict": outcome.decision.verdict.value, "gates": gates}))


def child_forward(data: str, batch_rows: int) -> None:
    import mlflow.pyfunc

    from tasks.stream_data import iter_batches, parquet_files

    models = [mlflow.pyfunc.load_model(f"models:/{MODEL}/{v}") for v in ("1", "2")]
    files = tuple(str(f) for f in parquet_files(Path(data)))
    columns = list(models[0].metadata.get_input_schema().input_names())
    start = time.perf_counter()
    rows = 0
    for batch in iter_batches(files, batch_rows, columns):
        frame = batch.to_pandas()
        for model in models:
            model.predict(frame)
        rows += len(frame)
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--data", default=None, help="folder for the Parquet set (kept; default: a temp folder)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--policy", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from modelgate.environment import configure

    if args.child == "promote":
        configure(os.environ["MODELGATE_HOME"])
        return child_promote(args.policy)
    if args.child == "forward":
        configure(os.environ["MODELGATE_HOME"])
        return child_forward(args.data, 65_536)

    home = Path(tempfile.mkdtemp(prefix="modelgate-large-eval-"))
    data = Path(args.data) if args.data else home / "eval-set"
    start = time.perf_counter()
    write_set(data, args.rows)
    size = sum(f.stat().st_size for f in data.glob("*.parquet")) / 2**20
    wrote = time.perf_counter() - start
    print(f"data: {args.rows:,} rows in {FILES} Parquet files, {size:.0f} MiB ({wrote:.0f} s to write or find)")
    configure(home)
    from benchmarks.promotion_overhead import setup

    policy = Path(setup(home))
    text = policy.read_text()
    first = text.index("eval_data:\n  path: ")
    end = text.index("\n", first + len("eval_data:\n  path: "))
    policy.write_text(text[:first] + f"eval_data:\n  path: {data}" + text[end:])
    with prefect_server(home / "prefect-server") as api:
        env = {**os.environ, "PREFECT_API_URL": api}
        prom_s, (rss, pss, flow_rss), verdict = measured(["--child", "promote", "--policy", str(policy)], env)
    env = {**os.environ}
    fwd_s, (fwd_rss, _, _), forward = measured(["--child", "forward", "--data", str(data)], env)
    forward_s = json.loads(forward)["seconds"]
    gib = 2**30
    print(
        f"promotion (dry run, streamed, against a running prefect server): {prom_s:.1f} s wall; "
        f"peak memory of the process tree: RSS {rss / gib:.2f} "
        f"GiB, PSS {pss / gib:.2f} GiB (the flow's process alone: RSS {flow_rss / gib:.2f} GiB)"
    )
    print(f"  {verdict}")
    print(
        f"read + both forward passes: {forward_s:.1f} s (process {fwd_s:.1f} s incl. imports and model loads), "
        f"peak RSS {fwd_rss / gib:.2f} GiB"
    )
    print(f"peak RSS of the promotion: {rss / gib:.2f} GiB (target < 2 GiB): {'PASS' if rss < 2 * gib else 'FAIL'}")
    ratio = prom_s / forward_s
    print(f"promotion / (read + forward): {ratio:.2f} (target <= 2): {'PASS' if ratio <= 2 else 'FAIL'}")
    print(
        f"  as whole processes (each with its start-up, imports and model loads): {prom_s / fwd_s:.2f} "
        "(for context; the target is judged on the line above)"
    )


if __name__ == "__main__":
    main()
