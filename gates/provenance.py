"""The provenance gate: where the version came from, and whether the files judged are the files registered.

Each requirement has a level in the policy: `require` (a miss fails the gate), `warn` (a miss is reported
and makes the gate warn) or `off`. The facts are gathered by tasks.provenance_checks; this module only judges.
"""

from __future__ import annotations

from dataclasses import dataclass

from gates.policy import ProvenanceGatePolicy
from gates.result import GateResult, GateStatus, Measurement, failure_status, guarded, listing

GATE = "provenance"
REQUIREMENTS = (
    "source_run",
    "parameters",
    "training_data",
    "signature",
    "input_example",
    "author",
    "files_unchanged",
)


@dataclass(frozen=True)
class ProvenanceFacts:
    """What the registry and the version's files say about one version."""

    run_id: str | None
    run_state: str  # FINISHED, RUNNING, FAILED, KILLED, SCHEDULED; "deleted", "missing", or "none" (no run)
    parameters: int
    datasets: tuple[str, ...]  # mlflow.data inputs of the run ("name (digest)")
    data_tags: tuple[str, ...]  # dataset-hash tags found on the run or the version ("tag=value")
    signature: bool
    input_example: bool
    author: str | None
    created_at: str | None
    judged_digest: str  # sha256 of the files judged
    stamped_digest: str | None  # sha256 stamped when modelgate first saw the version
    stamped_at: str | None
    stamps: bool = True  # this attempt stamps the files' digest when there is none yet (False in a dry run)


SOFT_RUN_STATES = ("none", "RUNNING")  # a model logged without a run; a run still open: reported, never failed


def _checks(facts: ProvenanceFacts) -> dict[str, tuple[bool, str]]:
    """Per requirement: (met, what was found)."""
    run = f"run {facts.run_id}" if facts.run_id else "no source run"
    data = [*facts.datasets, *facts.data_tags]
    if facts.stamped_digest is None:
        when = "stamped with this decision" if facts.stamps else "not stamped by a dry run"
        files = (True, f"sha256 {facts.judged_digest[:12]}: first seen now ({when})")
    elif facts.stamped_digest == facts.judged_digest:
        files = (True, f"sha256 {facts.judged_digest[:12]}, as first seen {facts.stamped_at or ''}".rstrip())
    else:
        files = (
            False,
            f"the files changed since modelgate first saw the version {facts.stamped_at or ''}: sha256 "
            f"{facts.stamped_digest[:12]} then, {facts.judged_digest[:12]} now",
        )
    return {
        "source_run": (facts.run_state == "FINISHED", f"{run}: {facts.run_state}" if facts.run_id else run),
        "parameters": (facts.parameters > 0, f"{facts.parameters} parameter(s) logged"),
        "training_data": (bool(data), "; ".join(data) if data else "no mlflow.data input and no dataset-hash tag"),
        "signature": (facts.signature, "signature logged" if facts.signature else "no signature"),
        "input_example": (facts.input_example, "input example logged" if facts.input_example else "no input example"),
        "author": (
            bool(facts.author and facts.created_at),
            f"by {facts.author or 'unknown'}, created {facts.created_at or 'at an unknown time'}",
        ),
        "files_unchanged": files,
    }


def judge_provenance(facts: ProvenanceFacts, policy: ProvenanceGatePolicy) -> GateResult:
    """Fail when a required item is missing, warn when a warned one is; list what was found and what is not
    recorded."""
    return guarded(GATE, policy.blocking, lambda: _judge(facts, policy))


def _judge(facts: ProvenanceFacts, policy: ProvenanceGatePolicy) -> GateResult:
    required: list[str] = []
    warned: list[str] = []
    reported: list[str] = []
    measurements: list[Measurement] = []
    checks = _checks(facts)
    for name, (met, found) in checks.items():
        level = getattr(policy, name)
        if level == "off":
            continue
        if name == "source_run" and facts.run_state in SOFT_RUN_STATES:
            level = "report"
        if not met and level in ("require", "warn"):
            (required if level == "require" else warned).append(f"{name.replace('_', ' ')}: {found}")
        elif not met:
            reported.append(f"{name.replace('_', ' ')}: {found}")
        measurements.append(
            Measurement(
                name=name,
                value=1.0 if met else 0.0,
                passed=met if level == "require" else None,
                rule={"require": "required", "warn": "warns when missing", "report": "reported"}[level],
                note=found,
            )
        )
    if required:
        status = failure_status(policy.blocking)
        summary = f"{len(required)} required provenance item(s) missing: {listing(required)}."
    elif warned:
        status = GateStatus.WARNED
        summary = f"Provenance incomplete (the policy warns): {listing(warned)}."
    else:
        status = GateStatus.PASSED
        files_ok = policy.files_unchanged != "off" and checks["files_unchanged"][0]
        summary = (
            "Provenance as required"
            + ("; files unchanged." if files_ok else ".")
            + (f" Not recorded (reported only): {listing(reported)}." if reported else "")
        )
    details = {
        "facts": facts.__dict__,
        "missing_required": required,
        "missing_warned": warned,
        "missing_reported": reported,
    }
    return GateResult(
        gate=GATE,
        status=status,
        blocking=policy.blocking,
        summary=summary,
        measurements=tuple(measurements),
        details=details,
    )


def files_changed(judged_digest: str, registry_digest: str, policy: ProvenanceGatePolicy) -> GateResult:
    """The result when the registry's files no longer match what was judged, just before the alias move."""
    summary = (
        f"The version's files changed after they were judged: sha256 {judged_digest[:12]} judged, "
        f"{registry_digest[:12]} in the registry before the champion alias was moved."
    )
    return GateResult(
        gate=GATE,
        status=failure_status(policy.blocking),
        blocking=policy.blocking,
        summary=summary,
        details={"judged_digest": judged_digest, "registry_digest": registry_digest},
    )
