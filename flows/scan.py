"""The scheduled scan: find versions with no decision yet and run a promotion for each, a few at a time."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from pydantic import BaseModel, ConfigDict

from tasks.scan_steps import find_undecided, scan_targets

PROMOTE_DEPLOYMENT = "promote-model-version/promote-version"


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
    max_concurrent: int = 2,
    wait: bool = True,
    trigger: str = "schedule",
) -> list[Triggered]:
    """Run `promote_deployment` for every undecided version of the models (default: every model with a policy).

    At most `max_concurrent` promotions run at once when `wait` (each waits for its run to finish);
    without `wait` the runs are only created, for the work pool's workers to pick up.
    """
    if max_concurrent < 1:
        raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
    targets = scan_targets(models, policy_dir)
    todo = []
    for policy_path in targets.values():
        model, versions = find_undecided(policy_path)
        todo += [(model, version, policy_path) for version in versions]
    log = get_run_logger()
    log.info("undecided: %s", ", ".join(f"{m} v{v}" for m, v, _ in todo) or "none")

    def start(model: str, version: str, policy_path: str) -> Triggered:
        run = run_deployment(
            promote_deployment,
            parameters={"model": model, "version": version, "policy_path": policy_path, "trigger": trigger},
            timeout=None if wait else 0,
            poll_interval=2,
        )
        state = run.state.type.value if run.state else "UNKNOWN"
        print(f"{model} v{version}: flow run {run.id} {state}")
        return Triggered(model=model, version=version, flow_run_id=str(run.id), state=state)

    with ThreadPoolExecutor(max_workers=max_concurrent) as pool:
        futures = [pool.submit(contextvars.copy_context().run, start, *item) for item in todo]
        return [f.result() for f in futures]
