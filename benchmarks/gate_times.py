"""Time of each gate inside the promotion flow on the demo's eval set, and its share of the flow.

Durations come from the Prefect API (each gate is one task run). Three kinds of run of a dry-run
promotion of the demo's full model against the baseline champion:
  cold    first flow run in the process (imports of GX, evidently, fairlearn; reports written)
  warm    later runs with the report cache emptied first (every gate computes and writes its reports)
  cached  later runs with the report cache kept (data validation and drift reuse their stored results)
Run: `.venv/bin/python benchmarks/gate_times.py --rounds 3`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from uuid import UUID

from modelgate.environment import configure

GATE_TASKS = [
    "data-validation-gate",
    "drift-gate",
    "bias-gate",
    "evaluation-gate",
    "robustness-gate",
    "classification-reports",
]


def task_seconds(flow_run_id: str) -> dict[str, float]:
    """Wall time of each task run of the flow run, by task name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            return await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
            )

    out: dict[str, float] = {}
    for run in asyncio.run(read()):
        name = run.name.rsplit("-", 1)[0]
        if run.start_time and run.end_time:
            out[name] = out.get(name, 0.0) + (run.end_time - run.start_time).total_seconds()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
    configure(home)
    import mlflow

    from demo.adult_data import load_train
    from flows.demo import BASELINE, DEMO_MODEL, DEMO_POLICY, FULL
    from flows.promote import promote_version
    from modelgate.runtime import flow_settings
    from tasks.demo_models import log_adult_model

    train = load_train()
    log_adult_model(DEMO_MODEL, "baseline", BASELINE, train, "baseline")
    log_adult_model(DEMO_MODEL, "full", FULL, train, "full")
    mlflow.MlflowClient().set_registered_model_alias(DEMO_MODEL, "champion", "1")
    cache = home / "evidence" / "cache"

    def one(clear: bool) -> tuple[float, dict[str, float], int]:
        if clear:
            shutil.rmtree(cache, ignore_errors=True)
        start = time.perf_counter()
        with flow_settings():
            outcome = promote_version(DEMO_MODEL, "2", str(DEMO_POLICY), dry_run=True)
        total = time.perf_counter() - start
        rows = next(g for g in outcome.gates if g.gate == "evaluation").details["rows"]
        return total, task_seconds(outcome.flow_run_id), rows

    runs = {"cold": [one(True)], "warm": [], "cached": []}
    for _ in range(args.rounds):
        runs["warm"].append(one(True))
        runs["cached"].append(one(False))
    rows = runs["cold"][0][2]
    print(f"eval rows: {rows}; dry-run promotion of v2 against champion v1; medians of {args.rounds} for warm/cached")
    header = f"{'':24}" + "".join(f"{k:>18}" for k in runs)
    print(header)
    totals = {k: statistics.median(t for t, _, _ in v) for k, v in runs.items()}
    for task in [*GATE_TASKS, "score-model"]:
        cells = []
        for kind, values in runs.items():
            sec = statistics.median(d.get(task, 0.0) for _, d, _ in values)
            cells.append(f"{sec:7.2f} s {sec / totals[kind]:6.1%}")
        print(f"{task:24}" + "".join(f"{c:>18}" for c in cells))
    for kind, values in runs.items():
        data_gates = statistics.median(
            sum(d.get(t, 0.0) for t in ("data-validation-gate", "drift-gate", "bias-gate")) for _, d, _ in values
        )
        print(
            f"{kind:>6}: flow {totals[kind]:.2f} s; data validation + drift + bias {data_gates:.2f} s "
            f"({data_gates / totals[kind]:.1%} of the flow)"
        )


if __name__ == "__main__":
    main()
