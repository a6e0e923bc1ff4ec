"""The scheduled scan: reconcile each model, then start a promotion for each undecided version and return.

The scan never waits on a promotion (nor on a person): each run of the promote deployment is created and
left to the work pool, where the deployment's concurrency limit and the workers' slots decide how many run
at once. A promotion waiting for approval is suspended and holds no slot.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, ConfigDict

from gates.errors import BadInputError
from gates.names import PROMOTE_DEPLOYMENT
from tasks.policy_files import load_policy
from tasks.reconcile_tasks import reconcile_task
from tasks.scan_reads import AGREE
from tasks.scan_steps import find_undecided, promotions_in_flight, resume_overdue, scan_targets


class Triggered(BaseModel):
    """One promotion the scan started."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: str
    flow_run_id: str
    state: str


@flow(name="scan-registry", log_prints=True, validate_parameters=True)
def scan_registry(
    models: list[str] | None = None,
    policy_dir: str = "configs/policies",
    promote_deployment: str = PROMOTE_DEPLOYMENT,
    trigger: str = "schedule",
) -> list[Triggered]:
    """Start `promote_deployment` for every undecided version of the models (default: every registered model
    with a policy), without waiting for the runs.

    First, approvals past their deadline are resumed (so each records its policy's on_timeout) and each
    model's registry and ledger are reconciled: a few batched searches read every model's registry and ledger,
    and a model with anything to reconcile is reconciled under its promotion lock and then searched on its own.
    A version whose promotion is already in flight (queued, running, or waiting for approval), that has a final
    decision, or that was rolled back is not started again.
    """
    in_flight = promotions_in_flight(promote_deployment)  # read before the registry: a run ending meanwhile is seen
    scan = scan_targets(models, policy_dir)
    resume_overdue(in_flight)
    log = get_run_logger()
    agree = [m for m in scan.targets if m in scan.reads and scan.reads[m].undecided is not None]
    if agree:
        log.info("reconcile: %s for %d model(s): %s", AGREE, len(agree), ", ".join(agree))
    started: list[Triggered] = []
    failed: list[str] = []
    for model, policy_path in scan.targets.items():
        read = scan.reads.get(model)
        try:
            if read is None or read.undecided is None:
                reconcile_task(load_policy(policy_path), trigger)
                _, versions = find_undecided(policy_path)
            else:
                versions = read.undecided
        except Exception as exc:  # one model's trouble does not stop the scan of the others
            log.error("%s: not scanned: %s: %s", model, type(exc).__name__, exc)
            failed.append(model)
            continue
        waiting = [v for v in versions if (model, v) in in_flight]
        if waiting:
            log.info("%s: already in flight, not started again: %s", model, ", ".join(f"v{v}" for v in waiting))
        for version in (v for v in versions if (model, v) not in in_flight):
            started.append(_start(promote_deployment, model, version, policy_path, trigger))
    log.info("started: %s", ", ".join(f"{t.model} v{t.version}" for t in started) or "none")
    if failed:
        raise RuntimeError(f"the scan could not reconcile or search {', '.join(failed)} (see the log)")
    return started


def _start(deployment: str, model: str, version: str, policy_path: str, trigger: str) -> Triggered:
    """Create the promotion's flow run and return at once (not a subflow: it must be free to suspend)."""
    try:
        run = run_deployment(
            deployment,
            parameters={"model": model, "version": version, "policy_path": policy_path, "trigger": trigger},
            timeout=0,
            as_subflow=False,
        )
    except ObjectNotFound:
        raise BadInputError(f"deployment {deployment!r} not found on the Prefect server") from None
    state = run.state.type.value if run.state else "UNKNOWN"
    print(f"{model} v{version}: flow run {run.id} {state}")
    return Triggered(model=model, version=version, flow_run_id=str(run.id), state=state)
