"""Time of each gate on the demo's eval set, and its share of the judging, in a dry run of the demo's full
model against the baseline champion (every gate of the demo policy, the integration gate's scoring server
included).
  cold    the first run in the process (imports, the judging zygote, reports written)
  warm    later runs with the report cache emptied first (every gate computes and writes its reports)
  cached  later runs with the report cache kept (data validation and drift reuse their stored results)
Run: `.venv/bin/python benchmarks/gate_times.py --rounds 3`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelgate.environment import configure

STEPS = (
    "data_validation_step",
    "drift_step",
    "output_check_step",
    "evaluation_step",
    "bias_step",
    "robustness_step",
    "latency_step",
    "integration_step",
    "classification_reports",
)


def timed(name: str, fn: Callable[..., Any], seconds: dict[str, float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds[name] += time.perf_counter() - start

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
    configure(home)
    import mlflow

    from demo.adult_data import load_train
    from flows.demo import BASELINE, DEMO_MODEL, DEMO_POLICY, FULL
    from tasks import gate_runner
    from tasks.demo_models import log_adult_model
    from tasks.evidence import evidence_root
    from tasks.inputs import load

    train = load_train()
    log_adult_model(DEMO_MODEL, "baseline", BASELINE, train, "baseline")
    log_adult_model(DEMO_MODEL, "full", FULL, train, "full")
    mlflow.MlflowClient().set_registered_model_alias(DEMO_MODEL, "champion", "1")
    cache = home / "evidence" / "cache"

    def one(clear: bool) -> tuple[float, dict[str, float]]:
        if clear:
            shutil.rmtree(cache, ignore_errors=True)
        seconds: dict[str, float] = defaultdict(float)
        originals = {name: getattr(gate_runner, name) for name in STEPS}
        for name, fn in originals.items():
            setattr(gate_runner, name, timed(name, fn, seconds))
        score_all = gate_runner.JudgingRun.score_all
        gate_runner.JudgingRun.score_all = timed("scoring (both models)", score_all, seconds)  # type: ignore[method-assign]
        inputs = load(str(DEMO_POLICY), DEMO_MODEL, "2")
        start = time.perf_counter()
        try:
            gate_runner.run_gates(inputs, evidence_root() / "attempts" / "bench")
        finally:
            total = time.perf_counter() - start
            for name, fn in originals.items():
                setattr(gate_runner, name, fn)
            gate_runner.JudgingRun.score_all = score_all  # type: ignore[method-assign]
            inputs.cleanup()
        return total, dict(seconds)

    runs = {"cold": [one(True)], "warm": [], "cached": []}
    for _ in range(args.rounds):
        runs["warm"].append(one(True))
        runs["cached"].append(one(False))
    totals = {k: statistics.median(t for t, _ in v) for k, v in runs.items()}
    print(f"dry-run judging of v2 against champion v1; medians of {args.rounds} for warm and cached")
    print(f"{'':28}" + "".join(f"{k:>20}" for k in runs))
    for step in ["scoring (both models)", *STEPS]:
        cells = []
        for kind, values in runs.items():
            sec = statistics.median(d.get(step, 0.0) for _, d in values)
            cells.append(f"{sec:7.2f} s {sec / totals[kind]:6.1%}")
        print(f"{step.removesuffix('_step'):28}" + "".join(f"{c:>20}" for c in cells))
    print(f"{'all gates':28}" + "".join(f"{totals[k]:7.2f} s {'':7}" for k in runs))


if __name__ == "__main__":
    main()
