"""Act on a decision, ledger first, under the model's promotion lock: notice champion moves nobody decided,
open the attempt's ledger run, move the alias with compare-and-set, record the outcome, then check again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from gates.approval import ApprovalRecord
from gates.decision import Decision, Verdict
from gates.outcome import Outcome, PromotionOutcome
from gates.policy import policy_hash
from gates.result import GateResult
from tasks import ledger, registry
from tasks.fault_points import checkpoint
from tasks.inputs import PromotionInputs
from tasks.ledger_evidence import log_decision, log_judged
from tasks.links import prefect_run_link
from tasks.mlflow_store import client
from tasks.provenance_checks import files_changed_since_judged, stamp
from tasks.reconcile import ledger_champion, record_external_change, version_tags
from tasks.serving_evidence import write_manifest


@dataclass(frozen=True)
class Judged:
    """An attempt once its gates ran: what acting needs besides the decision."""

    inputs: PromotionInputs
    key: str
    results: list[GateResult]
    extra_files: list[str]
    trigger: str
    flow_run_id: str | None
    attempt_id: str
    force_reason: str = ""


@dataclass(frozen=True)
class Presentation:
    """How an outcome reads: markdown summary, one-page HTML report, MLflow description, and report link."""

    summary: str
    html: str
    note: str
    line: str
    report_link: str


Present = Callable[[PromotionOutcome, str | None], Presentation]


def _approval_tags(approval: ApprovalRecord | None) -> dict[str, str | None]:
    if approval is None:
        return {}
    answer = "approved" if approval.approved else "rejected"
    if approval.approved is None:
        answer = "timed out" if approval.timed_out else "no valid answer"
    return {
        "approver": approval.approver,
        "approval": answer,
        "approval_reason": approval.reason or None,
        "approval_time": approval.answered_at,
        "override": "true" if approval.override else None,
    }


def _open_tags(j: Judged, decision: Decision, approval: ApprovalRecord | None) -> dict[str, str | None]:
    inputs = j.inputs
    champion = inputs.champion
    return {
        "model": inputs.policy.model_name,
        "version": inputs.candidate.version,
        "decision": decision.verdict.value,
        "prior_champion": champion.version if champion else None,
        "policy_hash": policy_hash(inputs.policy),
        "trigger": j.trigger,
        "flow_run_id": j.flow_run_id,
        "candidate_digest": inputs.candidate.digest,
        "champion_digest": champion.digest if champion else None,
        "data_hash": inputs.data.sha256,
        "evaluation_key": j.key,
        "force_reason": j.force_reason or None,
        "prefect_run": prefect_run_link(j.flow_run_id),
        **_approval_tags(approval),
    }


def _self_move(j: Judged, judged: str | None) -> tuple[Decision, str]:
    """The candidate moved the alias to itself while being judged: record, put back, reject."""
    candidate = j.inputs.candidate.version
    record_external_change(
        j.inputs.policy,
        judged,
        candidate,
        j.trigger,
        revert=True,
        by=f"the candidate v{candidate} itself, while it was being judged",
    )
    reason = f"v{candidate} moved the champion alias to itself while being judged; the alias was put back"
    decision = Decision(verdict=Verdict.REJECT, reasons=(reason,), failing_gates=("isolation",))
    return decision, f"champion alias put back on {judged or 'none'} after v{candidate} moved it to itself"


def act(
    j: Judged,
    decision: Decision,
    approval: ApprovalRecord | None,
    present: Present,
) -> PromotionOutcome:
    """Record and carry out the decision; returns the outcome. The caller holds the model's promotion lock."""
    policy, inputs = j.inputs.policy, j.inputs
    c = client()
    name, candidate = policy.model_name, inputs.candidate
    judged = inputs.champion.version if inputs.champion else None
    warnings: list[str] = []
    checkpoint("acting")
    holder = registry.champion(c, name, policy.champion_alias)
    now = holder.version if holder else None
    stale_note = None
    if now != judged and now != ledger_champion(policy):  # a move another attempt recorded is not external
        if now == candidate.version:
            decision, note = _self_move(j, judged)
            warnings.append(note)
            now = judged
        else:
            revert = policy.on_external_change == "revert"
            _, after = record_external_change(policy, judged, now, j.trigger, revert=revert)
            warnings.append(
                f"the champion moved from {judged or 'none'} to {now or 'none'} outside modelgate"
                + (f"; put back on {judged}" if after == judged else "; left in place (flag)")
            )
            if after != judged:
                stale_note = warnings[-1]
            now = after
    run_id = ledger.open_entry(
        policy.ledger_experiment, j.attempt_id, _open_tags(j, decision, approval), f"{name} v{candidate.version}"
    )
    try:
        return _decide_and_record(j, run_id, decision, approval, present, judged, now, stale_note, warnings)
    except BaseException as exc:
        checkpoint("mark_failed")
        try:
            holder = registry.champion(client(), name, policy.champion_alias)
            if holder is None or holder.version != candidate.version:  # else moved: reconcile finishes it
                ledger.mark_failed(run_id, f"the attempt stopped while acting: {type(exc).__name__}: {exc}")
        except Exception:  # the server may be the reason; reconcile finishes it later
            pass
        raise


def _decide_and_record(
    j: Judged,
    run_id: str,
    decision: Decision,
    approval: ApprovalRecord | None,
    present: Present,
    judged: str | None,
    current: str | None,
    stale_note: str | None,
    warnings: list[str],
) -> PromotionOutcome:
    policy, inputs = j.inputs.policy, j.inputs
    c = client()
    name, candidate = policy.model_name, inputs.candidate
    if policy.gates.provenance.enabled:
        stamp(candidate.ref, candidate.digest)
    log_judged(run_id, inputs, j.results, j.extra_files)
    after = current
    results = list(j.results)
    if stale_note is not None:
        outcome, message = Outcome.STALE, f"{stale_note}; not promoting on stale evidence (re-run to judge again)"
    elif decision.verdict is Verdict.NEEDS_APPROVAL:
        outcome, message = Outcome.PENDING, "; ".join(decision.reasons)
    elif decision.verdict is not Verdict.PROMOTE:
        outcome, message = Outcome.REJECTED, "; ".join(decision.reasons)
    else:
        checkpoint("alias_move")
        changed = files_changed_since_judged(inputs, run_id)
        if changed is not None and changed.blocks_promotion:
            results = [changed if r.gate == changed.gate else r for r in results]
            decision = Decision(verdict=Verdict.REJECT, reasons=(changed.summary,), failing_gates=(changed.gate,))
            outcome, message = Outcome.REJECTED, changed.summary
        else:
            if changed is not None:  # the policy only warns about, or reports, changed files
                warnings.append(changed.summary)
            move = registry.compare_and_set_champion(
                c, name, candidate.version, judged, policy.champion_alias, policy.previous_champion_alias
            )
            outcome = Outcome.PROMOTED if move.moved else Outcome.STALE
            message, after = move.message, move.champion_after
    result = PromotionOutcome(
        model=name,
        version=candidate.version,
        champion_before=judged,
        champion_after=after,
        decision=decision,
        outcome=outcome,
        message=message,
        gates=tuple(results),
        policy_hash=policy_hash(policy),
        ledger_run_id=run_id,
        flow_run_id=j.flow_run_id,
        approval=approval,
        evaluation_key=j.key,
        decided_at=datetime.now(UTC).isoformat(timespec="seconds"),
        warnings=tuple(warnings),
    )
    if outcome is Outcome.PROMOTED:
        note = write_manifest(inputs, result)
        result = result if note is None else result.model_copy(update={"warnings": (*result.warnings, note)})
    shown = present(result, run_id)
    result = result.model_copy(update={"report_links": {**result.report_links, "report": shown.report_link}})
    log_decision(run_id, result, shown.summary, shown.html, shown.note)
    entry = ledger.LedgerEntry(
        run_id=run_id,
        time=datetime.now(UTC),
        model=name,
        version=candidate.version,
        decision=decision.verdict.value,
        outcome=outcome.value,
        prior_champion=judged,
        champion_after=after,
        policy_hash=result.policy_hash,
        trigger=j.trigger,
        approver=None,
        gates={},
    )
    registry.replace_version_tags(c, candidate.ref, version_tags(entry, shown.report_link))
    registry.set_decision_line(c, candidate.ref, shown.line)
    ledger.finalise(
        run_id,
        {
            "decision": decision.verdict.value,
            "outcome": outcome.value,
            "champion_after": after,
            "message": message[:5000],
        },
        {r.gate: r.status.value for r in results},
    )
    return _check_after(j, result)


def _check_after(j: Judged, result: PromotionOutcome) -> PromotionOutcome:
    """Right after acting, the alias must be where this attempt left it; a move nobody decided is recorded."""
    policy = j.inputs.policy
    holder = registry.champion(client(), policy.model_name, policy.champion_alias)
    now = holder.version if holder else None
    if now == result.champion_after:
        return result
    revert = policy.on_external_change == "revert"
    _, after = record_external_change(policy, result.champion_after, now, j.trigger, revert=revert)
    note = f"right after acting, the champion was moved from {result.champion_after} to {now} outside modelgate" + (
        f"; put back on {after}" if after == result.champion_after else "; left in place (flag)"
    )
    return result.model_copy(update={"warnings": (*result.warnings, note)})
