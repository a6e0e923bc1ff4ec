"""The gate registry: every gate's name, order, what it needs, and whether its failure blocks by default.

The flow runs gates in this order, the skip logic reads `needs`, the reports show gates in `report_order`
(failing ones first), and the tests iterate over it. Adding a gate means one entry here, its policy
section in gates.policy.GatesPolicy (same name), and its step in tasks.gate_runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gates.result import GateResult, GateStatus

NEEDS = frozenset({"data", "reference", "metadata", "scores", "judging"})


@dataclass(frozen=True)
class GateSpec:
    """One gate as the pipeline sees it."""

    name: str
    title: str
    needs: frozenset[str]
    default_blocking: bool
    runs_model_code: bool
    what: str

    def enabled(self, policy: Any) -> bool:
        """Whether the policy turns this gate on."""
        return bool(section(policy, self.name).enabled)

    def blocking(self, policy: Any) -> bool:
        """Whether a failure of this gate blocks promotion under the policy."""
        return bool(section(policy, self.name).blocking)


GATES: tuple[GateSpec, ...] = (
    GateSpec(
        "data_validation",
        "Data validation",
        frozenset({"data"}),
        True,
        False,
        "Great Expectations suite on the eval rows, before any model is scored",
    ),
    GateSpec("drift", "Drift", frozenset({"data", "reference"}), False, False, "evidently drift against the reference"),
    GateSpec(
        "provenance",
        "Provenance",
        frozenset({"metadata"}),
        True,
        False,
        "source run, parameters, training data, signature, input example, author; the files judged are the files "
        "registered",
    ),
    GateSpec(
        "output_check",
        "Model outputs",
        frozenset({"scores"}),
        True,
        False,
        "degenerate outputs: constant scores, a class never predicted, NaN",
    ),
    GateSpec(
        "evaluation",
        "Evaluation",
        frozenset({"scores"}),
        True,
        True,
        "quality metrics against thresholds and the champion (paired bootstrap)",
    ),
    GateSpec("bias", "Bias", frozenset({"scores"}), True, False, "fairlearn audit of sensitive groups"),
    GateSpec(
        "robustness",
        "Robustness",
        frozenset({"scores", "judging"}),
        True,
        True,
        "white-box attacks and black-box perturbations",
    ),
    GateSpec(
        "latency", "Latency", frozenset({"scores", "judging"}), True, True, "p95 latency against SLOs and the champion"
    ),
    GateSpec(
        "integration",
        "Integration",
        frozenset({"scores", "judging"}),
        True,
        True,
        "clean-process load, determinism, and a real scoring server",
    ),
)
BY_NAME = {g.name: g for g in GATES}
DATA_GATES = tuple(g for g in GATES if g.needs <= {"data", "reference"})
MODEL_GATES = tuple(g for g in GATES if "scores" in g.needs)


def section(policy: Any, name: str) -> Any:
    """The policy section of a gate (policy.gates.<name>)."""
    return getattr(policy.gates, name)


def enabled_gates(policy: Any) -> list[GateSpec]:
    """The gates the policy turns on, in run order."""
    return [g for g in GATES if g.enabled(policy)]


def skipped_because(policy: Any, gates: tuple[GateSpec, ...], reason: str) -> list[GateResult]:
    """The enabled gates among `gates`, reported as skipped for one reason."""
    return [
        GateResult(gate=g.name, status=GateStatus.SKIPPED, blocking=g.blocking(policy), summary=reason)
        for g in gates
        if g.enabled(policy)
    ]


SEVERITY = {
    GateStatus.ERRORED: 0,
    GateStatus.FAILED: 1,
    GateStatus.WARNED: 2,
    GateStatus.PASSED: 3,
    GateStatus.SKIPPED: 4,
}


def report_order(results: list[GateResult] | tuple[GateResult, ...]) -> list[GateResult]:
    """Results for reading: blocking failures and errors first, then warnings, passes, skips; run order within."""
    position = {g.name: i for i, g in enumerate(GATES)}

    def key(r: GateResult) -> tuple[int, int, int]:
        return (0 if r.blocks_promotion else 1, SEVERITY[r.status], position.get(r.gate, len(GATES)))

    return sorted(results, key=key)
