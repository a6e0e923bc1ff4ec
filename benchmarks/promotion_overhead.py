"""What Prefect, the judging split and the cache cost, measured side by side in one run.

- plain: the flow's steps without Prefect (load the inputs once, run the gate registry, decide), model code
  in judging processes as in the flow;
- flow: the promotion flow (dry run, `force`: every gate runs);
- in-process judging: the plain steps with every model loaded and run in this process (the split off);
- cached re-run: the flow again with the gate results already in the evidence cache.

Prints the cold start, the medians, and the ratios: flow / plain (target <= 1.10), the split's cost
(plain / in-process - 1, target < 10 %), and cached re-run / flow (target <= 0.08). Every gate but the
integration gate runs (its scoring server is a fixed ~6 s in every path).
Run: `make benchmark` (or `.venv/bin/python benchmarks/promotion_overhead.py --rounds 5`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from modelgate.environment import configure

ROOT = Path(__file__).resolve().parent.parent
MODEL = "adult-income"


class InProcessJudge:
    """A judge that runs the judging worker's code in this process (for the comparison only)."""

    def __init__(self, label: str, work: Path, config: dict[str, Any]) -> None:
        from tasks.judging_worker import ModelHost

        self.label, self.work, self.config = label, work, config
        self.host = ModelHost(work, config)
        self._reply: Any = None

    def send(self, op: str, **args: Any) -> None:
        from tasks.judging_worker import handle

        self._reply = handle(self.host, {"op": op, **args})

    def receive(self, timeout: float) -> Any:
        from tasks.judging import Reply

        data = dict(self._reply)
        ok = data.pop("ok", False)
        return Reply(ok=ok, data=data, error=None if ok else str(data.get("error")))

    def call(self, op: str, timeout: float, **args: Any) -> Any:
        self.send(op, **args)
        return self.receive(timeout)

    def array(self, name: str) -> Any:
        import numpy as np

        return np.load(self.work / name, allow_pickle=False)

    def put_array(self, name: str, values: Any) -> str:
        import numpy as np

        np.save(self.work / name, np.asarray(values), allow_pickle=False)
        return name

    def log_tail(self, lines: int = 8) -> str:
        return ""

    def new_attempts(self) -> tuple[str, ...]:
        return ()

    def stop(self) -> None:
        self.host = None  # type: ignore[assignment]


def plain_promotion(policy: str, *, in_process: bool = False, store: bool = False) -> str:
    """The flow's steps without Prefect, dry run; `in_process` loads and runs the models in this process."""
    from gates.decision import decide
    from tasks import evidence_store, judging
    from tasks.evaluation_key import evaluation_key
    from tasks.evidence import evidence_root
    from tasks.gate_runner import run_gates
    from tasks.inputs import load

    original = judging.JudgingSide.add
    if in_process:

        def add(self, label, model_dir, frame, reference, config):  # type: ignore[no-untyped-def]
            work = self.root / label
            work.mkdir()
            frame.to_parquet(work / "eval.parquet", index=False)
            if reference is not None:
                reference.to_parquet(work / "reference.parquet", index=False)
            judge = InProcessJudge(label, work, {**config, "model_dir": model_dir})
            self.judges[label] = judge
            return judge

        judging.JudgingSide.add = add  # type: ignore[method-assign]
    inputs = load(policy, MODEL, "2")
    try:
        gate_run = run_gates(inputs, evidence_root() / "attempts" / "plain")
        if store:
            evidence_store.store(evaluation_key(inputs), MODEL, gate_run)
        return decide(gate_run.results).verdict.value
    finally:
        judging.JudgingSide.add = original  # type: ignore[method-assign]
        inputs.cleanup()


def setup(home: Path) -> str:
    """Register the demo's baseline (champion) and full model; a policy with every gate but integration."""
    import mlflow

    from demo.adult_data import load_train
    from flows.demo import DEMO_CANDIDATES, DEMO_POLICY
    from tasks.demo_models import log_adult_model

    train = load_train()
    for label, config, description in DEMO_CANDIDATES:
        if label in ("baseline", "full"):
            log_adult_model(MODEL, label, config, train, description)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", "1")
    text = DEMO_POLICY.read_text().replace("  integration:\n", "  integration:\n    enabled: false\n")
    configs = DEMO_POLICY.resolve().parent.parent
    text = text.replace("../../data/", f"{configs.parent / 'data'}/").replace(
        "../expectations/", f"{configs}/expectations/"
    )
    policy_file = home / "policy.yaml"
    policy_file.write_text(text)
    return str(policy_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="warm rounds of each, interleaved")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
    configure(home)
    policy = setup(home)

    from flows.promote import promote
    from modelgate.runtime import flow_settings

    start = time.perf_counter()
    with flow_settings():
        cold = promote(model=MODEL, version="2", policy_path=policy, dry_run=True, force=True)
    cold_s = time.perf_counter() - start
    plain_promotion(policy, in_process=True)  # warm this process's imports for the in-process path
    plain_promotion(policy, store=True)  # and fill the evidence cache for the cached re-run

    times: dict[str, list[float]] = {"plain": [], "flow": [], "in-process judging": [], "cached re-run": []}
    runs = {
        "plain": lambda: plain_promotion(policy),
        "flow": lambda: promote(model=MODEL, version="2", policy_path=policy, dry_run=True, force=True),
        "in-process judging": lambda: plain_promotion(policy, in_process=True),
        "cached re-run": lambda: promote(model=MODEL, version="2", policy_path=policy, dry_run=True),
    }
    with flow_settings():
        for _ in range(args.rounds):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"gates: {', '.join(g.gate for g in cold.gates)}; verdict {cold.decision.verdict.value}")
    print(f"cold start (first flow call: temporary Prefect server, judging zygote, imports): {cold_s:.2f} s")
    for name, values in times.items():
        print(f"{name:>20}: median {med[name]:.3f} s of {args.rounds}  ({', '.join(f'{t:.3f}' for t in values)})")
    print(f"flow / plain: {med['flow'] / med['plain']:.3f}  (target <= 1.10)")
    print(
        f"judging split: plain / in-process judging - 1 = {med['plain'] / med['in-process judging'] - 1:+.1%} "
        "(target < 10 %)"
    )
    print(f"cached re-run / flow: {med['cached re-run'] / med['flow']:.3f}  (target <= 0.08)")


if __name__ == "__main__":
    main()
