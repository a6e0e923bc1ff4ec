"""Registry scan: which models have policies, which of their versions have no decision yet, and which
promotions are already in flight on the Prefect server (queued, running, or waiting for a person)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
from tasks.mlflow_store import client
from tasks.policy_files import load_policy
from tasks.registry import champion, resolve_registered_model
from tasks.scan_reads import NOT_AGAIN as NOT_AGAIN  # version outcomes the scan never promotes (again)
from tasks.scan_reads import (
    ModelReads,
    VersionPrefetch,
    ledger_state,
    model_reads,
    quoted,
    registered_models,
    undecided_in,
)
from tasks.version_rows import VersionRow, search_rows

T = TypeVar("T")

PAGE = 1000
RUNS_PAGE = 200  # the Prefect server's default page limit
IN_FLIGHT = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
_READ: dict[str, tuple[str, PromotionPolicy]] = {}  # policy file -> (its text, the policy), for scanned_policy


def scanned_policy(path: str | Path) -> PromotionPolicy:
    """load_policy, remembered for every policy file a scan reads (a scan reads each one twice, and load_policy
    keeps only the last 16); parsed again when the file's text changed."""
    try:
        text = Path(path).read_text()
    except OSError:
        return load_policy(path)  # says what is wrong with the path
    seen = _READ.get(str(path))
    if seen is None or seen[0] != text:
        seen = _READ[str(path)] = (text, load_policy(path))
    return seen[1]


def policies_in(policy_dir: str) -> dict[str, str]:
    """Model name -> policy file, for every policy YAML in the folder (an invalid one is an error)."""
    folder = Path(policy_dir)
    if not folder.is_dir():
        raise BadInputError(f"policy folder not found: {policy_dir}")
    found: dict[str, str] = {}
    for path in _policy_files(policy_dir):
        policy = scanned_policy(path)
        if policy.model_name in found:
            raise PolicyError(f"{path}: a second policy for {policy.model_name!r} (first: {found[policy.model_name]})")
        found[policy.model_name] = str(path)
    return found


@dataclass(frozen=True)
class ScanTargets:
    """The models to scan and what the batched reads found for each (a model missing from `reads` is reconciled and
    searched on its own)."""

    targets: dict[str, str]  # model -> policy file
    reads: dict[str, ModelReads]


@task(name="scan-targets", cache_policy=NO_CACHE)
def scan_targets(models: list[str] | None, policy_dir: str) -> ScanTargets:
    """The models to scan with their policy files (a named model without a policy, or not registered, is an error),
    and what a few batched registry and ledger reads found for each: their versions are listed while the policies
    are parsed, and the ledger is read before the registered models' aliases (tasks.scan_reads)."""
    c = client()
    guesses = models if models is not None else [p.stem for p in _policy_files(policy_dir)]
    prefetch = VersionPrefetch(c, guesses)
    try:
        available = policies_in(policy_dir)
        missing = [m for m in models or [] if m not in available]
        if missing:
            raise BadInputError(
                f"no policy for model {missing[0]!r} in {policy_dir} (policies: {', '.join(available)})"
            )
        policies = {m: scanned_policy(available[m]) for m in (available if models is None else models)}
        state = _attempt(ledger_state, c, policies.values())
        registered = registered_models(c, models)
        if models is None:
            unmanaged = sorted(set(registered) - set(available))
            if unmanaged:
                get_run_logger().info("registered models without a policy (not scanned): %s", ", ".join(unmanaged))
        for model in [m for m in models or [] if m not in registered]:
            resolve_registered_model(c, model)  # not registered: BadInputError (a name no search can find passes)
        targets = {m: available[m] for m in policies if models is not None or m in registered}
        versions = _attempt(prefetch.versions, targets) if state is not None else None
        if state is None or versions is None:
            return ScanTargets(targets, {})
        return ScanTargets(targets, model_reads({m: policies[m] for m in targets}, state, registered, versions))
    finally:
        prefetch.close()


def _policy_files(policy_dir: str) -> list[Path]:
    folder = Path(policy_dir)
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def _attempt(read: Callable[..., T], *args: Any) -> T | None:
    """A batched read, or None when it fails (every model then takes the one-by-one path)."""
    try:
        return read(*args)
    except Exception as exc:
        get_run_logger().warning("batched read failed, scanning model by model: %s: %s", type(exc).__name__, exc)
        return None


def undecided_versions(policy: PromotionPolicy) -> list[str]:
    """READY versions that are not champion, have no final decision and were not rolled back, by one paged
    registry search."""
    c = client()
    versions: list[VersionRow] = []
    token = None
    while True:
        page, token = search_rows(c, f"name = {quoted(policy.model_name)}", ["version_number ASC"], PAGE, token)
        versions.extend(page)
        if not token:
            break
    current = champion(c, policy.model_name, policy.champion_alias)
    return undecided_in(versions, current.version if current else None)


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
