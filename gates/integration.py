"""The integration-test gate's judgement: every check must pass; failures carry the captured error."""

from __future__ import annotations

from typing import Any

from gates.policy import IntegrationGatePolicy
from gates.result import GateResult, Measurement, finish

GATE = "integration"


def judge_integration(
    checks: list[dict[str, Any]],
    policy: IntegrationGatePolicy,
    timings: dict[str, float],
    notes: list[str] | None = None,
) -> GateResult:
    """checks: [{name, passed, detail}] in the order they ran; timings: name -> seconds.

    `notes` are evidence for people who call the model (e.g. "clients must cast to float32"), not verdicts.
    """
    notes = list(notes or [])
    failed = [c for c in checks if not c["passed"]]
    measurements = [
        Measurement(
            name=c["name"],
            value=1.0 if c["passed"] else 0.0,
            passed=bool(c["passed"]),
            note=str(c.get("detail", ""))[:300],
        )
        for c in checks
    ] + [Measurement(name=k, value=v, note="seconds") for k, v in timings.items()]
    if not checks:
        summary = "no integration check ran."
        ok = False
    elif failed:
        first = failed[0]
        detail = str(first.get("detail", ""))[:300]
        summary = f"{len(failed)} of {len(checks)} integration checks failed: {first['name']}: {detail}"
        ok = False
    else:
        summary = f"All {len(checks)} integration checks pass."
        ok = True
    if notes:
        summary += " Note: " + " ".join(notes)
    return finish(
        GATE,
        ok=ok,
        blocking=policy.blocking,
        summary=summary,
        measurements=measurements,
        details={"checks": checks, "timings": timings, "notes": notes},
    )
