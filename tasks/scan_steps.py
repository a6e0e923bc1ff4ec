"""Registry scan: which models have policies, which of their versions have no decision yet, and which
promotions are already in flight on the Prefect server (queued, running, or waiting for a person)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound

from gates.errors import BadInputError, PolicyError
from gates.policy import PromotionPolicy
from tasks import approval_waits
from tasks.ledger import FINAL_OUTCOMES
from tasks.mlflow_store import client
from tasks.policy_files import load_policy
from tasks.registry import TAG_PREFIX, champion, resolve_registered_model

PAGE = 1000
RUNS_PAGE = 200  # the Prefect server's default page limit
NOT_AGAIN = (*FINAL_OUTCOMES, "rolled_back")  # version outcomes the scan never promotes (again)
IN_FLIGHT = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]


def policies_in(policy_dir: str) -> dict[str, str]:
    """Model name -> policy file, for every policy YAML in the folder (an invalid one is an error)."""
    folder = Path(policy_dir)
    if not folder.is_dir():
        raise BadInputError(f"policy folder not found: {policy_dir}")
    found: dict[str, str] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        policy = load_policy(path)
        if policy.model_name in found:
            raise PolicyError(f"{path}: a second policy for {policy.model_name!r} (first: {found[policy.model_name]})")
        found[policy.model_name] = str(path)
    return found


@task(name="scan-targets", cache_policy=NO_CACHE)
def scan_targets(models: list[str] | None, policy_dir: str) -> dict[str, str]:
    """The models to scan with their policy files; a named model without a policy is an error."""
    available = policies_in(policy_dir)
    if models is None:
        registered = {m.name for m in client().search_registered_models(max_results=PAGE)}
        unmanaged = sorted(registered - set(available))
        if unmanaged:
            get_run_logger().info("registered models without a policy (not scanned): %s", ", ".join(unmanaged))
        return {m: p for m, p in available.items() if m in registered}
    missing = [m for m in models if m not in available]
    if missing:
        raise BadInputError(f"no policy for model {missing[0]!r} in {policy_dir} (policies: {', '.join(available)})")
    for model in models:
        resolve_registered_model(client(), model)
    return {m: available[m] for m in models}


def undecided_versions(policy: PromotionPolicy) -> list[str]:
    """READY versions that are not champion, have no final decision and were not rolled back, by one paged
    registry search."""
    c = client()
    name = policy.model_name.replace("'", "''")
    versions = []
    token = None
    while True:
        page = c.search_model_versions(f"name='{name}'", max_results=PAGE, page_token=token)
        versions.extend(page)
        token = page.token
        if not token:
            break
    current = champion(c, policy.model_name, policy.champion_alias)
    undecided = [
        str(mv.version)
        for mv in versions
        if str(mv.status) == "READY"
        and (current is None or str(mv.version) != current.version)
        and (mv.tags or {}).get(TAG_PREFIX + "outcome") not in NOT_AGAIN
    ]
    return sorted(undecided, key=int)


@task(name="find-undecided-versions", cache_policy=NO_CACHE)
def find_undecided(policy_path: str) -> tuple[str, list[str]]:
    """(model, versions without a decision) for one policy."""
    policy = load_policy(policy_path)
    return policy.model_name, undecided_versions(policy)


@dataclass(frozen=True)
class InFlight:
    """A run of the promote deployment that has not finished."""

    flow_run_id: str
    state: str  # Prefect state type: SCHEDULED, PENDING, RUNNING, PAUSED or CANCELLING


@task(name="find-promotions-in-flight", cache_policy=NO_CACHE)
def promotions_in_flight(deployment: str) -> dict[tuple[str, str], InFlight]:
    """(model, version) -> its run of the promote deployment that has not finished (queued, running, or
    waiting for approval), so the scan never starts a second one."""
    runs: list[FlowRun] = []
    with get_client(sync_client=True) as prefect:
        try:
            found = prefect.read_deployment_by_name(deployment)
        except ObjectNotFound:
            return {}  # not deployed: nothing of it can be in flight (starting a run says so)
        while True:
            page = prefect.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=IN_FLIGHT))),
                sort=FlowRunSort.ID_DESC,
                limit=RUNS_PAGE,
                offset=len(runs),
            )
            runs += page
            if len(page) < RUNS_PAGE:
                break
    return {
        (str(r.parameters.get("model")), str(r.parameters.get("version"))): InFlight(
            str(r.id), r.state.type.value if r.state else "UNKNOWN"
        )
        for r in runs
    }


@task(name="resume-overdue-approvals", cache_policy=NO_CACHE)
def resume_overdue(in_flight: dict[tuple[str, str], InFlight]) -> list[str]:
    """Resume the runs waiting for approval past their deadline: each runs again and records its policy's
    on_timeout. Returns the flow run ids resumed."""
    paused = {run.flow_run_id: key for key, run in in_flight.items() if run.state == StateType.PAUSED.value}
    resumed = [run_id for run_id in approval_waits.overdue(list(paused)) if approval_waits.resume_as_timed_out(run_id)]
    for run_id in resumed:
        model, version = paused[run_id]
        get_run_logger().warning(
            "%s v%s: approval deadline passed; resumed flow run %s to record the policy's on_timeout",
            model,
            version,
            run_id,
        )
    return resumed
