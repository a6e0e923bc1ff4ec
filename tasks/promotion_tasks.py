"""The promotion flow's Prefect tasks: each wraps one job of tasks/ (inputs, reconcile, judge, act, publish)."""

from __future__ import annotations

import mlflow
from prefect import task
from prefect.cache_policies import NO_CACHE

from gates.approval import ApprovalRecord
from gates.decision import Decision
from gates.errors import BadInputError
from gates.outcome import PromotionOutcome
from gates.policy import PromotionPolicy
from gates.result import GateResult
from tasks import evidence_store, ledger, registry
from tasks.acting import Judged, act
from tasks.evidence import evidence_root
from tasks.gate_runner import GateRun, with_provenance
from tasks.inputs import PromotionInputs, load
from tasks.judging import warm_up
from tasks.locks import promotion_lock
from tasks.mlflow_store import client
from tasks.placement import check_placement, judge
from tasks.policy_files import policy_for
from tasks.publishing import (
    emit_decision_event,
    links_for,
    name_and_tag_run,
    presentation,
    publish_prefect,
    write_local_report,
)
from tasks.reconcile_tasks import IO_RETRIES, not_bad_input
from tasks.retrying import check_reachable


@task(name="load-policy", cache_policy=NO_CACHE)
def load_policy_task(policy_path: str, model: str, judging: bool = False) -> PromotionPolicy:
    """Validate the policy file (it must govern the model) and check the tracking server answers; `judging`: check
    the work pools it places gates on, and start the judging processes' libraries loading while registry, data and
    models are read."""
    policy = policy_for(policy_path, model)
    check_reachable(mlflow.get_tracking_uri())
    if judging:
        check_placement(policy)
        warm_up()
    return policy


def check_rolled_back(policy: PromotionPolicy, version: str, force: bool, reason: str) -> None:
    """A rolled-back version is promoted again only with force and a written reason."""
    tags = registry.version_tags_of(client(), policy.model_name, version)
    if tags.get("outcome") == "rolled_back" and not (force and reason.strip()):
        raise BadInputError(
            f"version {version} of {policy.model_name!r} was rolled back; promote it again only with "
            "--force and --reason (recorded in the ledger)"
        )


@task(name="load-inputs", cache_policy=NO_CACHE)
def load_inputs_task(
    policy_path: str, model: str, version: str, eval_data: str | None, force: bool, reason: str
) -> PromotionInputs:
    """Policy, versions, data, reference, expectations and local model copies, loaded and checked once (the eval
    data is read while the registry is asked)."""
    policy = policy_for(policy_path, model)
    return load(
        policy_path,
        model,
        str(version),
        eval_data,
        check_versions=lambda _: check_rolled_back(policy, str(version), force, reason),
    )


@task(name="judge", cache_policy=NO_CACHE)
def judge_task(inputs: PromotionInputs, key: str, refresh: bool, store: bool, attempt: str) -> tuple[GateRun, bool]:
    """Every gate (placed ones on their work pools), or the results cached on the evaluation key; returns (results,
    whether they were cached)."""
    if not refresh:
        cached = evidence_store.fetch(key)
        if cached is not None:
            return with_provenance(inputs, cached, store), True
    out_dir = evidence_root() / "attempts" / inputs.policy.model_name / f"v{inputs.candidate.version}" / attempt
    gate_run = judge(inputs, out_dir)
    if store:
        evidence_store.store(key, inputs.policy.model_name, gate_run)
    return with_provenance(inputs, gate_run, store), False


@task(
    name="find-earlier-decision",
    cache_policy=NO_CACHE,
    retries=IO_RETRIES,
    retry_delay_seconds=2,
    retry_condition_fn=not_bad_input,
)
def earlier_decision_task(policy: PromotionPolicy, key: str) -> ledger.LedgerEntry | None:
    """A standing rejection with the same evaluation key, if any."""
    return ledger.decided_before(policy.model_name, policy.ledger_experiment, key)


def still_stands(prior: ledger.LedgerEntry, results: list[GateResult]) -> bool:
    """Whether an earlier rejection with the same evaluation key is reused: not when provenance (judged afresh on
    every attempt, outside the key) failed then and passes now (say, a deleted source run was restored); the
    attempt is then decided anew, whichever other gates failed."""
    was = prior.gates.get("provenance") in ("failed", "errored")
    now = next((r for r in results if r.gate == "provenance"), None)
    return not was or (now is not None and now.blocks_promotion)


@task(name="act", cache_policy=NO_CACHE)
def act_task(judged: Judged, decision: Decision, approval: ApprovalRecord | None, force: bool) -> PromotionOutcome:
    """Ledger first, under the model's lock: open the entry, move the alias (compare-and-set), finalise."""
    policy = judged.inputs.policy
    with promotion_lock(policy.model_name, policy.concurrency.lock_timeout_s):
        prior = None if force else earlier_decision_task.fn(policy, judged.key)
        if prior is not None and still_stands(prior, judged.results):
            raise AlreadyDecided(prior)
        return act(judged, decision, approval, lambda outcome, run_id: presentation(judged.inputs, outcome, run_id))


class AlreadyDecided(Exception):
    """An attempt with the same evaluation key was decided while this one ran (args: the ledger entry)."""


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(inputs: PromotionInputs, outcome: PromotionOutcome) -> PromotionOutcome:
    """Prefect artifacts (decision first), the run's name and tags, a decision event, a local report copy."""
    links = links_for(outcome, inputs.policy.ledger_experiment)
    shown = presentation(inputs, outcome, outcome.ledger_run_id)
    local = write_local_report(outcome, shown.html)
    outcome = outcome.model_copy(update={"report_links": {**outcome.report_links, **links, "local report": str(local)}})
    publish_prefect(outcome, shown.summary, links)
    name_and_tag_run(outcome)
    emit_decision_event(outcome, links)
    return outcome
