"""Prefect task for the integration-test gate: a clean subprocess, then a real MLflow scoring server."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from gates.context import GateContext
from gates.integration import judge_integration
from gates.model_input import json_body, prepare
from gates.model_task import BINARY, Task
from gates.policy import IntegrationGatePolicy, PromotionPolicy
from gates.result import GateResult
from gates.scores import served_output, task_scores
from tasks.judging import Judge
from tasks.judging_guard import read_attempts
from tasks.judging_run import JudgingRun
from tasks.model_copies import ModelCopy
from tasks.scoring_server import EarlyServer

RESULT_MARK = "@@RESULT@@"


def run_probe(
    copy: ModelCopy,
    sample: pd.DataFrame,
    expected: np.ndarray,
    policy: PromotionPolicy,
    workdir: Path,
    task: Task = BINARY,
) -> dict:
    """The clean-process checks, with the policy's time limit; a crash or timeout is a failed check."""
    gate = policy.gates.integration
    sample.to_parquet(workdir / "sample.parquet")
    np.save(workdir / "expected.npy", expected)
    args = {
        "model_dir": copy.local_dir,
        "schema": copy.schema.to_dict(),
        "sample": str(workdir / "sample.parquet"),
        "expected": str(workdir / "expected.npy"),
        "model_output": policy.model_output.model_dump(),
        "positive_label": policy.eval_data.positive_label,
        "task": task.name,
        "classes": list(task.classes) if task.name == "multiclass" else [],
        "tolerance": gate.tolerance,
        "single_rows": gate.single_rows,
    }
    config = {
        "preload": False,  # a fresh fork that never loaded the model
        "schema": copy.schema.to_dict(),
        "model_output": policy.model_output.model_dump(),
        "positive_label": policy.eval_data.positive_label,
        "model_dir": copy.local_dir,
    }
    probe = Judge("integration probe", workdir, config)
    try:
        reply = probe.call("probe", gate.probe_timeout_s, args=args)
    finally:
        probe.stop()
    if reply.timed_out:
        detail = f"timed out after {gate.probe_timeout_s:g} s (a hanging model?)\n{probe.log_tail()}"
        return {"checks": [{"name": "clean process", "passed": False, "detail": detail}], "timings": {}}
    if not reply.ok:
        return {"checks": [{"name": "clean process", "passed": False, "detail": reply.error}], "timings": {}}
    return reply.data["result"]


def serving_checks(
    early: EarlyServer,
    sample: pd.DataFrame,
    expected: np.ndarray,
    policy: PromotionPolicy,
    task: Task = BINARY,
) -> tuple[list[dict], dict[str, float]]:
    """On the candidate's server: a request as clients send it and a malformed one, compared; then stop it."""
    gate: IntegrationGatePolicy = policy.gates.integration
    checks: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    server, port = early.server, early.port
    try:
        healthy, detail = early.ready()
        timings["server_startup_seconds"] = early.seconds
        checks.append({"name": "scoring server becomes healthy", "passed": healthy, "detail": f"port {port}: {detail}"})
        if not healthy:
            return checks, timings
        rows = sample.head(50)
        payload = json_body(prepare(rows, early.schema))
        latencies = []
        try:
            for _ in range(5):
                t0 = time.perf_counter()
                response = httpx.post(f"{server.base}/invocations", json=payload, timeout=gate.request_timeout_s)
                latencies.append(time.perf_counter() - t0)
            ok = response.status_code == 200
            detail = f"HTTP {response.status_code}"
            if ok:
                got = task_scores(
                    served_output(response.json()["predictions"]),
                    task.name,
                    policy.model_output,
                    len(rows),
                    policy.eval_data.positive_label,
                    task.classes,
                )
                diff = float(np.max(np.abs(got - expected[: len(rows)])))
                ok = diff <= max(gate.tolerance, 1e-5)
                detail += f"; max |difference| from the flow's scores {diff:.3g}"
            else:
                detail += f": {response.text[:300]}"
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}\n{server.log()}"
        checks.append({"name": f"HTTP {next(iter(payload))} answers match", "passed": ok, "detail": detail})
        if latencies:
            timings["request_latency_median_seconds"] = statistics.median(latencies)
        try:
            bad = httpx.post(f"{server.base}/invocations", json={"not_a_field": [1, 2]}, timeout=gate.request_timeout_s)
            alive = httpx.get(f"{server.base}/health", timeout=5).status_code == 200
            ok = 400 <= bad.status_code < 500 and alive
            detail = f"HTTP {bad.status_code}; server {'still healthy' if alive else 'down'} afterwards"
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}\n{server.log()}"
        checks.append({"name": "malformed request gets a client error", "passed": ok, "detail": detail})
    finally:
        early.close()
    return checks, timings


def integration_step(ctx: GateContext, run: JudgingRun, early: EarlyServer | None = None) -> GateResult:
    """Clean-process checks and (policy permitting) a real scoring server, against the flow's served predictions.

    `early`: the candidate's server, started before the other gates (else it is started here)."""
    gate = ctx.policy.gates.integration
    candidate = ctx.candidate
    assert candidate is not None and candidate.served is not None
    copy = run.copies["candidate"]
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(ctx.frame), min(gate.sample_rows, len(ctx.frame)), replace=False))
    names = [c for c in copy.schema.names if c in ctx.frame.columns]
    sample = ctx.frame.iloc[idx][names].reset_index(drop=True)
    expected = np.asarray(candidate.served)[idx]
    with tempfile.TemporaryDirectory(prefix="modelgate-integration-") as tmp:
        workdir = Path(tmp)
        probe = run_probe(copy, sample, expected, ctx.policy, workdir, ctx.task)
        checks, timings = list(probe["checks"]), dict(probe.get("timings", {}))
        if gate.serve:
            early = early or EarlyServer(copy, ctx.policy)
            served, served_timings = serving_checks(early, sample, expected, ctx.policy, ctx.task)
            checks += served
            timings.update(served_timings)
        run.attempts["candidate"].extend(read_attempts(str(workdir / "access.log")))
        if gate.serve and early is not None:
            run.attempts["candidate"].extend(early.attempts)  # the scoring server's model, loaded in its own folder
    return judge_integration(checks, gate, timings, probe.get("notes", []))
