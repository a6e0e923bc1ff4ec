"""The latency gate's step: candidate and champion timed in their own judging processes, in alternating
blocks of calls, as served (predict() through the input path) and, for torch models, as modules."""

from __future__ import annotations

import time

import numpy as np

from gates import latency
from gates.context import GateContext
from gates.latency_stats import LatencyStats, summarise
from gates.policy import LatencyGatePolicy
from gates.result import GateResult, GateStatus, errored
from tasks.judging_run import JudgingRun

BLOCK = 10  # calls per model before the other model's turn
TARGETS = {
    "served": "predict() on the model's input (DataFrame rows, or the signature's tensor) through the input path",
    "module": "torch module on encoded tensors",
}


class _Timeout(Exception):
    """A model's judging process did not answer in time (args: label)."""


class _Failed(Exception):
    """A model's judging process answered with an error (args: label, error)."""


def latency_step(ctx: GateContext, run: JudgingRun) -> GateResult:
    """Time every usable model over the policy's batch sizes; judge the target the SLO applies to."""
    gate = ctx.policy.gates.latency
    labels = [label for label in run.copies if label == "candidate" or (ctx.champion and ctx.champion.usable)]
    deadline = time.monotonic() + gate.timeout_s
    rows = np.random.default_rng(0).choice(len(ctx.frame), min(len(ctx.frame), 512), replace=False)
    setups = {}
    for label in labels:
        judge = run.judge(label)
        reply = run.note(
            label,
            judge.call(
                "latency_setup",
                max(deadline - time.monotonic(), 1),
                rows=judge.put_array("latency-rows.npy", rows),
                device=gate.device,
                mode=gate.mode,
                threads=gate.threads,
            ),
        )
        if not reply.ok:
            return _failure(gate, label, run, reply.problem(gate.timeout_s), reply.timed_out)
        setups[label] = reply.data
    device = setups["candidate"]["device"]
    note = ""
    if device != "cuda":
        final, note = latency.without_gpu(gate)
        if final is not None:
            return final
    targets = [t for t in TARGETS if all(t in setups[label]["targets"] for label in labels)]
    try:
        stats = {t: _time_target(run, labels, t, gate, deadline) for t in targets}
    except _Timeout as exc:
        return _failure(gate, str(exc), run, f"timed out after {gate.timeout_s:g} s", True)
    except _Failed as exc:
        return _failure(gate, exc.args[0], run, exc.args[1], False)
    described = run.note("candidate", run.judge("candidate").call("environment", 60, device=device)).data
    env = described.get("environment", {"device": device})
    judged = gate.slo_applies_to if gate.slo_applies_to in stats else "served"
    if gate.slo_applies_to == "module" and judged != "module":
        note = (note + " " if note else "") + "No torch module to time on every model: the SLO applies as served."
    env = env | {
        "timed": TARGETS[judged],
        "threads": gate.threads,
        "module_device": setups["candidate"]["module_device"],
    }
    result = latency.judge_latency(stats[judged]["candidate"], stats[judged].get("champion"), gate, env, note)
    if gate.confirm_failures and result.status in (GateStatus.FAILED, GateStatus.WARNED):
        result, stats[judged] = _confirm(result, run, labels, judged, gate, env, note, stats[judged])
    both = {t: {label: [s.to_dict() for s in by_label[label]] for label in by_label} for t, by_label in stats.items()}
    views = {label: setups[label]["module_view"] for label in labels}
    details = {
        **result.details,
        "judged_target": judged,
        "targets": both,
        "module_views": views,
        "host_memory_peak_mib": described.get("peak_rss_mib"),
    }
    return result.model_copy(update={"details": details})


def _confirm(
    first: GateResult,
    run: JudgingRun,
    labels: list[str],
    target: str,
    gate: LatencyGatePolicy,
    env: dict,
    note: str,
    stats: dict[str, list[LatencyStats]],
) -> tuple[GateResult, dict[str, list[LatencyStats]]]:
    """Time the judged target again after a failing sweep; the second sweep decides (latency.confirmed)."""
    try:  # its own time limit: a loaded machine, the case it is for, may have used most of the first's
        again = _time_target(run, labels, target, gate, time.monotonic() + gate.timeout_s)
    except _Timeout as exc:
        return latency.confirmed(first, errored(latency.GATE, f"the {exc} timed out")), stats
    except _Failed as exc:
        return latency.confirmed(first, errored(latency.GATE, f"the {exc.args[0]}: {exc.args[1]}")), stats
    second = latency.judge_latency(again["candidate"], again.get("champion"), gate, env, note)
    return latency.confirmed(first, second), again


def _time_target(
    run: JudgingRun, labels: list[str], target: str, gate: LatencyGatePolicy, deadline: float
) -> dict[str, list[LatencyStats]]:
    out: dict[str, list[LatencyStats]] = {label: [] for label in labels}
    for batch in gate.batch_sizes:
        times: dict[str, list[float]] = {label: [] for label in labels}
        waited: dict[str, list[float]] = {label: [] for label in labels}
        measured = True
        peaks: dict[str, float | None] = {label: None for label in labels}
        remaining, turn = gate.iterations, 0
        while remaining > 0:
            calls = min(BLOCK, remaining)
            order = labels[turn % len(labels) :] + labels[: turn % len(labels)]
            for label in order:
                left = deadline - time.monotonic()
                reply = (
                    run.note(
                        label,
                        run.judge(label).call(
                            "latency_block",
                            left,
                            target=target,
                            batch=batch,
                            calls=calls,
                            warmup=gate.warmup if turn == 0 else 0,
                            peak_memory=remaining <= BLOCK,
                            subtract_wait=gate.subtract_run_queue_wait,
                        ),
                    )
                    if left > 0
                    else None
                )
                if reply is None or reply.timed_out:
                    raise _Timeout(label)
                if not reply.ok:
                    raise _Failed(label, reply.error or "failed")
                times[label] += reply.data["times"]
                waited[label] += reply.data.get("waited") or [0.0] * len(reply.data["times"])
                measured = measured and bool(reply.data.get("wait_measured"))
                peaks[label] = reply.data.get("peak_memory_mb") or peaks[label]
            remaining -= calls
            turn += 1
        for label in labels:
            wall = np.asarray(times[label])
            if measured:  # both models' waits taken out, or neither's: the comparison stays like for like
                out[label].append(summarise(batch, wall - np.asarray(waited[label]), peaks[label], wall=wall))
            else:
                out[label].append(summarise(batch, wall, peaks[label]))
    return out


def _failure(gate: LatencyGatePolicy, label: str, run: JudgingRun, problem: str, timed_out: bool) -> GateResult:
    version = run.copies[label].version
    text = f"the {label} v{version}'s latency sweep {problem}"
    blocking = gate.blocking
    if timed_out:
        return GateResult(gate=latency.GATE, status=GateStatus.FAILED, blocking=blocking, summary=text)
    return errored(latency.GATE, text, blocking=blocking)
