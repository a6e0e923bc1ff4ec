"""Promotion flow vs the same gate functions in a plain script, measured side by side in one run.

Prints the cold start (first flow call: temporary Prefect server start + first run) and the warm
ratio: median flow wall time / median plain-script wall time, interleaved (target <= 1.15).
Run: `make benchmark` (or `.venv/bin/python benchmarks/promotion_overhead.py --rounds 5`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from modelgate.environment import configure

ROOT = Path(__file__).resolve().parent.parent


def plain_promotion(model: str, version: str, policy_path: str) -> str:
    """The flow's work without Prefect: same functions, same data, dry run."""
    from gates.decision import decide
    from gates.evaluation import evaluate
    from gates.policy import resolve_data_path
    from tasks.data import check_eval_frame, labels, read_eval_frame
    from tasks.models import load_version, score
    from tasks.promotion_steps import find_versions, policy_for

    policy = policy_for(policy_path, model)
    versions = find_versions(policy, version)
    frame = read_eval_frame(resolve_data_path(policy_path, policy.eval_data.path), policy.eval_data)
    candidate = load_version(versions.candidate, policy.tensor_input_columns)
    champion = load_version(versions.champion, policy.tensor_input_columns)
    for m in (candidate, champion):
        check_eval_frame(frame, m.columns, policy.eval_data, "eval")
    y = labels(frame, policy.eval_data).to_numpy()
    cand = score(candidate, frame, policy.model_output)
    champ = score(champion, frame, policy.model_output)
    result = evaluate(y, cand.values, champ.values, policy.gates.evaluation)
    return decide([result]).verdict.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="warm rounds of each, interleaved")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
    configure(home)

    import mlflow

    from demo.adult_data import load_train
    from flows.demo import DEMO_CANDIDATES, DEMO_MODEL, DEMO_POLICY
    from tasks.demo_models import log_adult_model

    train = load_train()
    for label, config, description in DEMO_CANDIDATES[:2]:
        log_adult_model(DEMO_MODEL, label, config, train, description)
    mlflow.MlflowClient().set_registered_model_alias(DEMO_MODEL, "champion", "1")
    policy = str(DEMO_POLICY)

    from flows.promote import promote_version
    from modelgate.runtime import flow_settings

    start = time.perf_counter()
    with flow_settings():
        cold = promote_version(DEMO_MODEL, "2", policy, dry_run=True)
    cold_s = time.perf_counter() - start
    plain_promotion(DEMO_MODEL, "2", policy)  # warm the plain path's imports and caches too

    times: dict[str, list[float]] = {"plain": [], "flow": [], "flow+heartbeat": []}
    for _ in range(args.rounds):
        start = time.perf_counter()
        verdict = plain_promotion(DEMO_MODEL, "2", policy)
        times["plain"].append(time.perf_counter() - start)
        start = time.perf_counter()
        with flow_settings():
            outcome = promote_version(DEMO_MODEL, "2", policy, dry_run=True)
        times["flow"].append(time.perf_counter() - start)
        start = time.perf_counter()
        promote_version(DEMO_MODEL, "2", policy, dry_run=True)  # Prefect's default: heartbeat thread on
        times["flow+heartbeat"].append(time.perf_counter() - start)
        assert outcome.decision.verdict.value == verdict == cold.decision.verdict.value
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"eval rows: {cold.gates[0].details['rows']}, bootstrap resamples: {cold.gates[0].details['resamples']}")
    print(f"cold start (first flow call, temporary Prefect server included): {cold_s:.2f} s")
    for name, values in times.items():
        print(f"{name:>15}: median {med[name]:.3f} s of {args.rounds}  ({', '.join(f'{t:.3f}' for t in values)})")
    print(
        f"warm ratio flow/plain: {med['flow'] / med['plain']:.3f}  (target <= 1.15; CLI settings on the local server)"
    )
    print(
        f"warm ratio flow+heartbeat/plain: {med['flow+heartbeat'] / med['plain']:.3f} (heartbeats on, as with a server)"
    )


if __name__ == "__main__":
    main()
