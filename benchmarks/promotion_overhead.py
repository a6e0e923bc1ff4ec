"""Promotion flow vs the same steps in a plain script, measured side by side in one run.

The plain script calls each task's own function (`task.fn`) in the flow's order, on the same data,
so the difference is what Prefect adds (task and flow runs, state, artifacts). Heavy reports are
cached per input hash in both, exactly as in the flow.

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
    """The flow's steps without Prefect: each task's own function (`.fn`), same data, dry run."""
    from gates.decision import decide
    from tasks import gate_steps as g
    from tasks import promotion_steps as p
    from tasks.evidence import evidence_root
    from tasks.latency_steps import latency_gate
    from tasks.robustness_steps import robustness_gate

    policy = p.load_policy_step.fn(policy_path, model)
    versions = p.resolve_versions.fn(policy, version)
    data = p.load_eval_data.fn(policy, policy_path)
    reference = g.load_reference.fn(policy, policy_path)
    extra = g.extra_expectations(policy, policy_path)
    candidate = p.load_model.fn(versions.candidate, policy)
    champion = p.load_model.fn(versions.champion, policy)
    data = p.check_eval_data.fn(data, [candidate, champion], reference, policy)
    out_dir = evidence_root() / "attempts" / "plain"
    results = [g.data_validation_gate.fn(data.frame, data.sha256, reference, candidate, policy, extra)]
    results.append(g.drift_gate.fn(data.frame, data.sha256, reference, candidate.columns, policy))
    cand = p.score_model.fn(candidate, data, policy)
    champ = p.score_model.fn(champion, data, policy)
    results.append(p.evaluation_gate.fn(data, cand, champ, policy))
    results.append(g.bias_gate.fn(data.frame, data.y, cand, champ, policy, str(out_dir)))
    results.append(
        robustness_gate.fn(data.frame, data.y, reference.frame, candidate, cand, champion, policy, str(out_dir))
    )
    results.append(latency_gate.fn(data.frame, reference.frame, candidate, cand, champion, policy))
    g.classification_reports.fn(data.y, candidate, cand, champion, champ, data.sha256, policy)
    return decide(results).verdict.value


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
    for label, config, description in DEMO_CANDIDATES:
        if label in ("baseline", "full"):
            log_adult_model(DEMO_MODEL, label, config, train, description)
    mlflow.MlflowClient().set_registered_model_alias(DEMO_MODEL, "champion", "1")
    # Every gate but the integration gate (its scoring server is a fixed ~10 s in both paths).
    text = DEMO_POLICY.read_text().replace("  integration:\n", "  integration:\n    enabled: false\n")
    configs = DEMO_POLICY.resolve().parent.parent
    text = text.replace("../../data/", f"{configs.parent / 'data'}/")
    text = text.replace("../expectations/", f"{configs}/expectations/")
    policy_file = home / "policy.yaml"
    policy_file.write_text(text)
    policy = str(policy_file)

    from flows.promote import promote_version
    from modelgate.runtime import flow_settings

    start = time.perf_counter()
    with flow_settings():
        cold = promote_version(DEMO_MODEL, "2", policy, dry_run=True)
    cold_s = time.perf_counter() - start
    plain_promotion(DEMO_MODEL, "2", policy)  # warm the plain path's imports and caches too

    times: dict[str, list[float]] = {"plain": [], "flow": [], "flow+heartbeat": [], "flow, cached gates": []}
    try:
        for _ in range(args.rounds):
            start = time.perf_counter()
            verdict = plain_promotion(DEMO_MODEL, "2", policy)
            times["plain"].append(time.perf_counter() - start)
            start = time.perf_counter()
            with flow_settings():  # force: every gate runs, as in the plain script
                outcome = promote_version(DEMO_MODEL, "2", policy, dry_run=True, force=True)
            times["flow"].append(time.perf_counter() - start)
            start = time.perf_counter()
            promote_version(DEMO_MODEL, "2", policy, dry_run=True, force=True)  # Prefect's default: heartbeats on
            times["flow+heartbeat"].append(time.perf_counter() - start)
            start = time.perf_counter()
            with flow_settings():  # a re-run: same candidate, champion, policy and data
                cached = promote_version(DEMO_MODEL, "2", policy, dry_run=True)
            times["flow, cached gates"].append(time.perf_counter() - start)
            assert outcome.decision.verdict.value == verdict == cold.decision.verdict.value
            assert cached.gates == outcome.gates or cached.decision == outcome.decision
    finally:
        policy_file.unlink(missing_ok=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    evaluation = next(g for g in cold.gates if g.gate == "evaluation")
    print(f"eval rows: {evaluation.details['rows']}; gates: {', '.join(g.gate for g in cold.gates)}")
    print(f"cold start (first flow call, temporary Prefect server included): {cold_s:.2f} s")
    for name, values in times.items():
        print(f"{name:>15}: median {med[name]:.3f} s of {args.rounds}  ({', '.join(f'{t:.3f}' for t in values)})")
    print(
        f"warm ratio flow/plain: {med['flow'] / med['plain']:.3f}  (target <= 1.15; CLI settings on the local server)"
    )
    print(
        f"warm ratio flow+heartbeat/plain: {med['flow+heartbeat'] / med['plain']:.3f} (heartbeats on, as with a server)"
    )
    print(f"cached re-run / forced flow: {med['flow, cached gates'] / med['flow']:.3f}")


if __name__ == "__main__":
    main()
