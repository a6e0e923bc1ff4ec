"""The policy's `placement` section: gates judged in their own flow run on another Prefect work pool (one with
GPUs, say), and the pure rules around it: which gates go where, and what a placed run that delivers nothing means."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from gates.names import JUDGE_PLACED_FLOW
from gates.registry import GATES, section
from gates.result import GateResult, errored

# The gates that judge in their own judging processes and need only the scores (which a placed run makes itself).
PlaceableGate = Literal["robustness", "latency", "integration"]
PLACEABLE: tuple[str, ...] = ("robustness", "latency", "integration")
PoolName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^/%&<>]+$")]


class PlacementPolicy(BaseModel):
    """Gates run as their own flow run on a named Prefect work pool, started by the promotion and awaited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pools: dict[PlaceableGate, PoolName] = Field(
        default_factory=dict,
        description="Gate -> the Prefect work pool that judges it (robustness, latency, integration), e.g. {latency: "
        f"gpu, robustness: gpu}}. The gates placed on one pool run together in one flow run of the deployment "
        f"{JUDGE_PLACED_FLOW}/<pool> (deployments/prefect.yaml), which loads the same versions and data, scores both "
        "models and judges only those gates; the results, with the worker, host and device, join this promotion's "
        "decision. Unplaced gates run where the promotion runs.",
    )
    pickup_timeout_s: float = Field(
        600,
        gt=0,
        le=86400,
        description="A placed run that no worker of its pool has picked up after this long is cancelled, and its gates "
        "error (blocking as each gate's policy says).",
    )
    timeout_s: float = Field(
        3600,
        gt=0,
        le=7 * 86400,
        description="A placed run not finished this long after it was created is cancelled, and its gates error. "
        "Leave room for the worker's start, the model downloads, scoring, and the gates' own time limits.",
    )

    @field_validator("pools", mode="before")
    @classmethod
    def _placeable(cls, value: Any) -> Any:
        if isinstance(value, dict):
            wrong = sorted(str(k) for k in value if k not in PLACEABLE)
            if wrong:
                raise ValueError(
                    f"{', '.join(wrong)} cannot be placed on another work pool (placeable: {', '.join(PLACEABLE)})"
                )
        return value

    @model_validator(mode="after")
    def _pickup_first(self) -> PlacementPolicy:
        if self.pickup_timeout_s > self.timeout_s:
            raise ValueError(
                f"pickup_timeout_s ({self.pickup_timeout_s:g}) is longer than timeout_s ({self.timeout_s:g})"
            )
        return self


def deployment_for(pool: str) -> str:
    """The deployment that judges placed gates on a pool: judge-placed-gates/<pool>."""
    return f"{JUDGE_PLACED_FLOW}/{pool}"


def placed_groups(policy: Any) -> dict[str, tuple[str, ...]]:
    """Work pool -> the enabled gates placed on it, in run order (empty when nothing is placed)."""
    pools: dict[str, str] = policy.placement.pools
    groups: dict[str, list[str]] = {}
    for gate in GATES:
        if gate.name in pools and gate.enabled(policy):
            groups.setdefault(pools[gate.name], []).append(gate.name)
    return {pool: tuple(names) for pool, names in groups.items()}


def undelivered(policy: Any, gates: tuple[str, ...], problem: str, where: dict[str, Any]) -> list[GateResult]:
    """Errored results for placed gates whose run delivered nothing (blocking as each gate's policy says)."""
    return [
        where_judged(errored(name, problem, blocking=bool(section(policy, name).blocking)), where) for name in gates
    ]


def where_judged(result: GateResult, where: dict[str, Any]) -> GateResult:
    """The result with where it was judged (work pool, worker, host, device, flow run) in its details; what the
    details already say (the placed run's own account) stands."""
    known = {k: v for k, v in where.items() if v is not None}
    return result.model_copy(update={"details": {**known, **result.details}})


def in_run_order(results: list[GateResult]) -> list[GateResult]:
    """Results in the registry's run order; results of no registered gate (isolation) last, in the order given."""
    position = {g.name: i for i, g in enumerate(GATES)}
    return sorted(results, key=lambda r: position.get(r.gate, len(GATES)))
