"""The latency gate: p95 against SLOs and against the champion, from the timing core's numbers."""

from __future__ import annotations

from gates.latency_stats import LatencyStats
from gates.policy import LatencyGatePolicy
from gates.result import GateResult, GateStatus, Measurement, failure_status, finish, guarded, listing, skipped

GATE = "latency"


def regression(candidate_ms: float, champion_ms: float) -> float:
    """Relative increase of the candidate's latency over the champion's (0.1 = 10% slower)."""
    return candidate_ms / champion_ms - 1.0 if champion_ms > 0 else 0.0


def without_gpu(policy: LatencyGatePolicy) -> tuple[GateResult | None, str]:
    """What a missing GPU means under the policy: a final result (skipped or failed), or a note for the report."""
    if policy.require_gpu:
        reason = "no GPU present and the policy requires one"
        if policy.no_gpu == "skip":
            return skipped(GATE, reason, blocking=policy.blocking), ""
        summary = f"{reason} (no_gpu: fail)."
        return GateResult(
            gate=GATE, status=failure_status(policy.blocking), blocking=policy.blocking, summary=summary
        ), ""
    return None, "No GPU present: timed on CPU." if policy.device in ("auto", "cuda") else ""


def judge_latency(
    candidate: list[LatencyStats],
    champion: list[LatencyStats] | None,
    policy: LatencyGatePolicy,
    environment: dict,
    note: str = "",
) -> GateResult:
    """Fail when a p95 exceeds its SLO or regresses past max_regression against the champion."""
    return guarded(GATE, policy.blocking, lambda: _judge(candidate, champion, policy, environment, note))


def _judge(
    candidate: list[LatencyStats],
    champion: list[LatencyStats] | None,
    policy: LatencyGatePolicy,
    environment: dict,
    note: str,
) -> GateResult:
    by_batch = {s.batch_size: s for s in champion or []}
    failures, measurements = [], []
    for stats in candidate:
        notes, ok = [], True
        slo = policy.slo_p95_ms.get(stats.batch_size)
        if slo is not None and stats.p95_ms > slo:
            ok = False
            notes.append(f"p95 {stats.p95_ms:.3f} ms > SLO {slo} ms")
        champ = by_batch.get(stats.batch_size)
        change = None
        if champ is not None:
            change = regression(stats.p95_ms, champ.p95_ms)
            slower_ms = stats.p95_ms - champ.p95_ms
            if policy.max_regression is not None and change > policy.max_regression:
                if slower_ms >= policy.min_regression_ms:
                    ok = False
                    notes.append(f"p95 {change:+.0%} vs the champion (max +{policy.max_regression:.0%})")
                else:
                    notes.append(f"p95 {change:+.0%} vs the champion, but only {slower_ms:.3f} ms: within noise")
        if not ok:
            failures.append(f"batch {stats.batch_size}: {'; '.join(notes)}")
        measurements.append(
            Measurement(
                name=f"p95_ms@batch{stats.batch_size}",
                value=stats.p95_ms,
                threshold=slo,
                champion_value=None if champ is None else champ.p95_ms,
                difference=change,
                relative=True,
                passed=ok,
                rule="; ".join(
                    part
                    for part in (
                        f"p95 <= {slo:g} ms" if slo is not None else "",
                        f"p95 <= +{policy.max_regression:.0%} vs the champion (or < {policy.min_regression_ms:g} ms "
                        "slower)"
                        if champ is not None and policy.max_regression is not None
                        else "",
                    )
                    if part
                ),
                note=f"p50 {stats.p50_ms:.3f} ms, p99 {stats.p99_ms:.3f} ms, {stats.throughput:,.0f} samples/s"
                + _waits(stats)
                + (f"; {'; '.join(notes)}" if notes else ""),
            )
        )
    where = f"on {environment.get('device_name', environment.get('device'))} ({environment.get('device')})"
    suffix = f" {note}" if note else ""
    if failures:
        summary = f"{len(failures)} latency check(s) failed {where}: {listing(failures)}.{suffix}"
    else:
        summary = f"Latency within limits at batch sizes {policy.batch_sizes} {where}.{suffix}"
    return finish(
        GATE,
        ok=not failures,
        blocking=policy.blocking,
        summary=summary,
        measurements=measurements,
        details={
            "environment": environment,
            "candidate": [s.to_dict() for s in candidate],
            "champion": [s.to_dict() for s in champion] if champion else None,
            "failures": failures,
            "note": note,
            "mode": policy.mode,
        },
    )


def _waits(stats: LatencyStats) -> str:
    """What taking the OS's run-queue wait out of the calls changed, for the measurement's note."""
    if stats.wall_p95_ms is None or stats.waited_calls == 0:
        return ""
    return (
        f"; wall-clock p95 {stats.wall_p95_ms:.3f} ms: {stats.waited_calls} of {stats.iterations} calls waited "
        "while the OS ran other processes, and that wait is not counted"
    )


def confirmed(first: GateResult, second: GateResult) -> GateResult:
    """The verdict after a failing sweep was timed again: the second sweep's, with the first's failures kept."""
    if first.status not in (GateStatus.FAILED, GateStatus.WARNED):
        return first
    failures = first.details.get("failures", [])
    if second.status == GateStatus.PASSED:
        lead = f"A first sweep failed ({listing(failures)}) and a second passed: judged on the second."
    elif second.status in (GateStatus.FAILED, GateStatus.WARNED):
        lead = "Confirmed by a second sweep."
    else:
        return first.model_copy(
            update={"summary": f"{first.summary} A second sweep could not confirm it: {second.summary}"}
        )
    details = {
        **second.details,
        "first_sweep": {
            "failures": failures,
            "candidate": first.details.get("candidate"),
            "champion": first.details.get("champion"),
        },
    }
    return second.model_copy(update={"summary": f"{second.summary} {lead}", "details": details})
