"""Judge the gates a policy places on this flow run's work pool, for a promotion that runs elsewhere (deployment
judge-placed-gates/<pool>: the promotion starts it as a subflow run and waits for it)."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from gates.names import JUDGE_PLACED_FLOW
from tasks.placed_judging import judge_placed_task


@flow(name=JUDGE_PLACED_FLOW, log_prints=True, validate_parameters=True)
def judge_placed_gates(
    model: str,
    version: str,
    policy_path: str,
    gates: list[str],
    judged: dict[str, str | None],
    champion_version: str | None = None,
    eval_data: str | None = None,
) -> dict[str, str]:
    """Load the promotion's candidate and champion versions and data, check they are the inputs the promotion judges
    (`judged`: its evaluation key's parts), score both models, judge only `gates`, and keep the results in the
    evidence store under this run's key; returns each gate's status."""
    run_id = str(flow_run.id)
    results = judge_placed_task(model, str(version), champion_version, policy_path, eval_data, gates, judged, run_id)
    return {r.gate: r.status.value for r in results}
