"""The promotion flow: may this model version replace the champion?"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import State

from flows.approval import ask_for_approval
from gates.approval import apply_approval, approval_request
from gates.decision import Decision, Verdict, decide
from gates.names import PROMOTE_FLOW
from gates.outcome import Outcome, PromotionOutcome
from gates.policy import policy_hash
from tasks.acting import Judged
from tasks.evaluation_key import evaluation_key
from tasks.ledger import LedgerEntry
from tasks.policy_files import default_policy_path
from tasks.promotion_tasks import (
    AlreadyDecided,
    act_task,
    earlier_decision_task,
    judge_task,
    load_inputs_task,
    load_policy_task,
    publish_task,
    still_stands,
)
from tasks.publishing import presentation
from tasks.reconcile_tasks import reconcile_task
from tasks.states import final_state


@flow(name=PROMOTE_FLOW, flow_run_name="{model} v{version}", log_prints=True, validate_parameters=True)
def promote_version(
    model: str,
    version: str,
    policy_path: str | None = None,
    dry_run: bool = False,
    trigger: str = "manual",
    eval_data: str | None = None,
    force: bool = False,
    reason: str = "",
) -> PromotionOutcome:
    """Judge a registered version against the champion, then promote or reject it.

    `eval_data` overrides the policy's eval file. Gate results are cached on the evaluation key (artifact
    digests, policy, data, project version and gate code), and an attempt with the same key that was already
    rejected is not decided again; `force` re-runs the gates and records a new decision (with `reason`, it
    may also promote a version that was rolled back). The run ends in a state named after the outcome
    (Promoted, Rejected, Stale, Pending, DryRun): see gates.outcome.OUTCOME_TABLE for the state types.
    """
    outcome = _promote(model, str(version), policy_path, dry_run, trigger, eval_data, force, reason)
    return final_state(outcome)  # type: ignore[return-value]


def promote(**parameters: Any) -> PromotionOutcome:
    """Run the flow and return its PromotionOutcome, whatever state type the outcome ends it in."""
    state: State = promote_version(**parameters, return_state=True)  # type: ignore[assignment]
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]


def _promote(
    model: str,
    version: str,
    policy_path: str | None,
    dry_run: bool,
    trigger: str,
    eval_data: str | None,
    force: bool,
    reason: str,
) -> PromotionOutcome:
    policy_file = policy_path or default_policy_path(model)
    # 1. The policy, then registry and ledger made to agree, then every input once (bad input stops here).
    policy = load_policy_task(policy_file, model, judging=True)
    if not dry_run:
        reconcile_task(policy, trigger)
    inputs = load_inputs_task(policy_file, model, version, eval_data, force, reason)
    try:
        key = evaluation_key(inputs)
        run_id = str(flow_run.id) if flow_run.id else None
        attempt = run_id or uuid.uuid4().hex
        # 2. Judge (results cached on the key where every worker can read them).
        gate_run, _cached = judge_task(inputs, key, refresh=force, store=not dry_run, attempt=attempt)
        decision = decide(gate_run.results, require_approval_on_warning=policy.approval.mode == "on_warning")
        judged = Judged(inputs, key, gate_run.results, gate_run.extra_files, trigger, run_id, attempt, reason)
        if dry_run:
            return publish_task(inputs, _dry_run(judged, decision))
        prior = None if force else earlier_decision_task(policy, key)
        if prior is not None and still_stands(prior, gate_run.results):
            return publish_task(inputs, _reused(judged, decision, prior))
        # 3. A person, when the policy asks for one.
        approval = None
        kind = approval_request(decision, policy.approval)
        if kind is not None:
            waiting = _without_action(judged, decision, Outcome.PENDING, "awaiting approval")
            shown = presentation(inputs, waiting, None)
            approval = ask_for_approval(kind, shown.summary, policy.approval)
            decision = apply_approval(decision, approval, policy.approval)
        # 4. Act, ledger first, under the model's lock; then publish.
        try:
            outcome = act_task(judged, decision, approval, force)
        except AlreadyDecided as exc:
            return publish_task(inputs, _reused(judged, decision, exc.args[0]))
        return publish_task(inputs, outcome)
    finally:
        inputs.cleanup()


def _without_action(judged: Judged, decision: Decision, outcome: Outcome, message: str) -> PromotionOutcome:
    inputs = judged.inputs
    champion = inputs.champion.version if inputs.champion else None
    return PromotionOutcome(
        model=inputs.policy.model_name,
        version=inputs.candidate.version,
        champion_before=champion,
        champion_after=champion,
        decision=decision,
        outcome=outcome,
        message=message,
        gates=tuple(judged.results),
        policy_hash=policy_hash(inputs.policy),
        flow_run_id=judged.flow_run_id,
        evaluation_key=judged.key,
    )


def _dry_run(judged: Judged, decision: Decision) -> PromotionOutcome:
    from gates.approval import RequestKind

    if approval_request(decision, judged.inputs.policy.approval) is RequestKind.CONFIRM:
        decision = decision.model_copy(update={"verdict": Verdict.NEEDS_APPROVAL})  # would wait for a person
    return _without_action(judged, decision, Outcome.DRY_RUN, "dry run: nothing written to the registry")


def _reused(judged: Judged, decision: Decision, prior: LedgerEntry) -> PromotionOutcome:
    message = (
        f"already decided ({prior.outcome}) in ledger run {prior.run_id} at {prior.time:%Y-%m-%d %H:%M:%S} UTC "
        "with the same candidate, champion, policy, data and code; nothing written (force to re-evaluate)"
    )
    get_run_logger().info(message)
    done = _without_action(judged, decision, Outcome(prior.outcome), message)
    return done.model_copy(update={"ledger_run_id": prior.run_id, "reused": True})
