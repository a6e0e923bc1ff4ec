"""Gates a policy places on another Prefect work pool, from the promotion's side: checked before any work, started
as subflow runs of the deployment judge-placed-gates/<pool> while the other gates run here, awaited, cancelled when
no worker takes them or they overrun, and their results read back from the evidence store in MLflow (a worker's
own result storage is not readable from here)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_logger
from prefect.settings import PREFECT_API_URL

from gates.errors import BadInputError
from gates.placement import deployment_for, in_run_order, placed_groups, undelivered, where_judged
from gates.policy import PromotionPolicy
from gates.result import GateResult
from tasks import evidence_store
from tasks.evaluation_key import key_parts
from tasks.gate_runner import GateRun, run_gates
from tasks.inputs import PromotionInputs
from tasks.judging_run import ISOLATION
from tasks.policy_files import resolve_data_path

POLL_S = 2.0
WORKER_LABEL = "prefect.worker.name"  # set on a flow run by the worker that submits it
log = get_logger("modelgate.placement")


@dataclass(frozen=True)
class PlacedRun:
    """One placed group's flow run: its pool, its gates, and when it was created (time.monotonic())."""

    pool: str
    gates: tuple[str, ...]
    flow_run_id: UUID
    created: float


def placed_key(flow_run_id: UUID | str) -> str:
    """The evidence-store key a placed run keeps its results under."""
    return f"placed-{flow_run_id}"


def _server() -> str:
    url = PREFECT_API_URL.value()
    return f"the Prefect server at {url}" if url else "Prefect's temporary local server (PREFECT_API_URL is not set)"


def check_placement(policy: PromotionPolicy) -> None:
    """Every work pool the policy names exists, with its judge-placed-gates/<pool> deployment on it; BadInputError."""
    pools = sorted(set(policy.placement.pools.values()))
    if not pools:
        return
    with get_client(sync_client=True) as client:
        for pool in pools:
            name = deployment_for(pool)
            try:
                client.read_work_pool(pool)
            except ObjectNotFound:
                raise BadInputError(f"placement: work pool {pool!r} does not exist on {_server()}") from None
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                raise BadInputError(
                    f"placement: no deployment {name!r} for work pool {pool!r} on {_server()} "
                    "(deploy it from deployments/prefect.yaml)"
                ) from None
            if deployment.work_pool_name != pool:
                raise BadInputError(
                    f"placement: deployment {name!r} runs on work pool {deployment.work_pool_name!r}, not {pool!r}"
                )


def judge(inputs: PromotionInputs, out_dir: Path) -> GateRun:
    """Every gate: the placed groups start first, as subflow runs on their pools, and the rest run here meanwhile;
    then the placed results join the others in run order."""
    placed = start(inputs)
    try:
        local = run_gates(inputs, out_dir, skip=frozenset(g for run in placed for g in run.gates))
        return collect(inputs.policy, placed, local)
    except BaseException:
        cancel(placed, "the promotion stopped judging")
        raise


def start(inputs: PromotionInputs) -> list[PlacedRun]:
    """A flow run of judge-placed-gates/<pool> per placed group, linked to this run; nothing when nothing is placed."""
    policy = inputs.policy
    groups = placed_groups(policy)
    if not groups:
        return []
    judged = {k: v for k, v in key_parts(inputs).items() if k != "registry"}  # a worker may name the server otherwise
    policy_eval = str(resolve_data_path(inputs.policy_path, policy.eval_data.path))
    runs: list[PlacedRun] = []
    try:
        for pool, gates in groups.items():
            parameters: dict[str, Any] = {
                "model": policy.model_name,
                "version": inputs.candidate.version,
                "champion_version": inputs.champion.version if inputs.champion else None,
                "policy_path": inputs.policy_path,
                "eval_data": None if inputs.data.path == policy_eval else inputs.data.path,
                "gates": list(gates),
                "judged": judged,
            }
            name = f"{policy.model_name} v{inputs.candidate.version}: {', '.join(gates)}"
            flow_run = run_deployment(
                deployment_for(pool), parameters=parameters, timeout=0, as_subflow=True, flow_run_name=name
            )
            runs.append(PlacedRun(pool, gates, flow_run.id, time.monotonic()))
            log.info("%s placed on work pool %r: flow run %s", ", ".join(gates), pool, flow_run.id)
    except BaseException:
        cancel(runs, "the promotion could not start every placed run")
        raise
    return runs


def collect(policy: PromotionPolicy, placed: list[PlacedRun], local: GateRun) -> GateRun:
    """The local results plus each placed run's (awaited); a group already judged here (skipped: the data failed
    validation, or the candidate could not be scored) has its run cancelled instead."""
    here = {r.gate for r in local.results}
    results = list(local.results)
    for run in placed:
        if here & set(run.gates):
            cancel([run], "its gates were skipped")
            continue
        results += _await(policy, run)
    return GateRun(in_run_order(results), local.extra_files)


def _await(policy: PromotionPolicy, run: PlacedRun) -> list[GateResult]:
    placement = policy.placement
    where: dict[str, Any] = {"work_pool": run.pool, "flow_run_id": str(run.flow_run_id)}
    with get_client(sync_client=True) as client:
        while True:
            flow_run = client.read_flow_run(run.flow_run_id)
            state = flow_run.state
            where["worker"] = flow_run.labels.get(WORKER_LABEL)
            where["placed_state"] = state.name if state is not None else None
            waited = time.monotonic() - run.created
            if state is not None and state.is_final():
                break
            problem = _overdue(run, state, waited, placement.pickup_timeout_s, placement.timeout_s, where["worker"])
            if problem:
                cancel([run], problem)
                return undelivered(policy, run.gates, problem, where)
            time.sleep(POLL_S)
    log.info("placed run %s on work pool %r ended %s after %.1f s", run.flow_run_id, run.pool, state.name, waited)
    if not state.is_completed():
        message = (state.message or "").strip().splitlines()
        problem = f"the run on work pool {run.pool!r} ended {state.name}" + (f": {message[0]}" if message else "")
        return undelivered(policy, run.gates, problem, where)
    fetched = evidence_store.fetch(placed_key(run.flow_run_id))
    if fetched is None:
        problem = f"the run on work pool {run.pool!r} completed but left no results in the evidence store"
        return undelivered(policy, run.gates, problem, where)
    where["placed_run"] = _timing(flow_run)
    wanted = set(run.gates) | {ISOLATION}
    return [where_judged(r, where) for r in fetched.results if r.gate in wanted]


def _timing(flow_run: FlowRun) -> dict[str, float | None]:
    """Seconds the placed run waited for a worker (created to started) and ran (started to ended), per the server."""

    def seconds(start: Any, end: Any) -> float | None:
        return None if start is None or end is None else round((end - start).total_seconds(), 1)

    return {
        "waited_s": seconds(flow_run.created, flow_run.start_time),
        "ran_s": seconds(flow_run.start_time, flow_run.end_time),
    }


def _overdue(run: PlacedRun, state: State | None, waited: float, pickup_s: float, limit_s: float, worker: Any) -> str:
    """Why a placed run still going is given up on, or '' while it may go on."""
    if (state is None or state.type is StateType.SCHEDULED) and waited >= pickup_s:
        return f"no worker on work pool {run.pool!r} picked up the run within {pickup_s:g} s"
    if waited >= limit_s:
        by = f", worker {worker}" if worker else ""
        return f"the run on work pool {run.pool!r}{by} did not finish within {limit_s:g} s"
    return ""


def cancel(runs: list[PlacedRun], why: str) -> None:
    """Ask the server to cancel each run (a scheduled one is cancelled at once; a running one by its worker)."""
    if not runs:
        return
    with get_client(sync_client=True) as client:
        for run in runs:
            try:
                client.set_flow_run_state(run.flow_run_id, State(type=StateType.CANCELLING, message=why))
            except Exception as exc:  # best effort: a run that already ended cannot be cancelled
                log.warning("could not cancel placed run %s: %s", run.flow_run_id, exc)
