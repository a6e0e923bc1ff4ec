"""The promotion flow: may this model version replace the champion?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run
from prefect.states import Completed

from flows.approval import ask_for_approval
from gates.approval import ApprovalRecord, RequestKind, apply_approval, approval_request
from gates.decision import Decision, Verdict, decide
from gates.outcome import Outcome, PromotionOutcome
from gates.policy import PromotionPolicy, policy_hash
from gates.result import GateResult
from tasks.evidence import evidence_root
from tasks.gate_steps import (
    Reference,
    bias_gate,
    classification_reports,
    data_validation_gate,
    drift_gate,
    extra_expectations,
    load_reference,
    skipped_model_gates,
)
from tasks.integration_steps import integration_gate
from tasks.latency_steps import latency_gate
from tasks.ledger import LedgerEntry
from tasks.locks import promotion_lock
from tasks.models import LoadedModel
from tasks.promotion_steps import (
    EvalData,
    Versions,
    act_on_decision,
    check_eval_data,
    default_policy_path,
    earlier_decision,
    evaluation_gate,
    evaluation_key,
    load_eval_data,
    load_model,
    load_policy_step,
    mlflow_run_link,
    publish_prefect_reports,
    record_ledger,
    resolve_versions,
    score_model,
    summary,
)
from tasks.robustness_steps import robustness_gate

GATE_CACHE_DAYS = 30


@dataclass(frozen=True)
class GateRun:
    """Every gate's result plus report files made outside a gate (classification reports)."""

    results: list[GateResult]
    extra_files: list[str]


def _gate_cache_key(_context: object, parameters: dict) -> str:
    return "modelgate-gates-" + parameters["key"]


@task(
    name="run-gates",
    cache_key_fn=_gate_cache_key,
    persist_result=True,
    cache_expiration=timedelta(days=GATE_CACHE_DAYS),
)
def run_gates(
    key: str,
    data: EvalData,
    reference: Reference | None,
    extra: list,
    candidate: LoadedModel,
    champion: LoadedModel | None,
    policy: PromotionPolicy,
    out_dir: str,
) -> GateRun:
    """All gates, in order; cached on `key` (candidate, champion, policy and data hashes)."""
    results: list[GateResult] = []
    gates = policy.gates
    # Data gates first: broken data stops the model gates before any model is scored.
    if gates.data_validation.enabled:
        results.append(data_validation_gate(data.frame, data.sha256, reference, candidate, policy, extra))
    data_ok = not any(r.blocks_promotion for r in results)
    if gates.drift.enabled:
        results.append(drift_gate(data.frame, data.sha256, reference, candidate.columns, policy))
    if not data_ok:
        return GateRun(results + skipped_model_gates(policy, "skipped: the eval data failed validation"), [])
    candidate_scores = score_model(candidate, data, policy)
    champion_scores = score_model(champion, data, policy) if champion else None
    if gates.evaluation.enabled:
        results.append(evaluation_gate(data, candidate_scores, champion_scores, policy))
    if gates.bias.enabled:
        results.append(bias_gate(data.frame, data.y, candidate_scores, champion_scores, policy, out_dir))
    reference_frame = reference.frame if reference else None
    if gates.robustness.enabled:
        results.append(
            robustness_gate(data.frame, data.y, reference_frame, candidate, candidate_scores, champion, policy, out_dir)
        )
    if gates.latency.enabled:
        results.append(latency_gate(data.frame, reference_frame, candidate, candidate_scores, champion, policy))
    if gates.integration.enabled:
        results.append(integration_gate(data.frame, candidate, candidate_scores, policy))
    extra_files = classification_reports(
        data.y, candidate, candidate_scores, champion, champion_scores, data.sha256, policy
    )
    return GateRun(results, extra_files)


STATE_NAMES = {
    Outcome.PROMOTED: "Promoted",
    Outcome.REJECTED: "Rejected",
    Outcome.STALE: "Stale",
    Outcome.PENDING: "Pending",
    Outcome.DRY_RUN: "DryRun",
}


@flow(name="promote-model-version", log_prints=True, validate_parameters=True)
def promote_version(
    model: str,
    version: str,
    policy_path: str | None = None,
    dry_run: bool = False,
    trigger: str = "manual",
    eval_data: str | None = None,
    force: bool = False,
) -> PromotionOutcome:
    """Judge a registered version against the champion, then promote or reject it.

    `eval_data` overrides the policy's eval file (e.g. a fresh extract in CI). Gate results are cached
    on the candidate, champion, policy and data hashes, and an attempt with the same hashes that was
    already decided is not decided again; `force` re-runs the gates and records a new decision.
    The run ends in a Completed state named after the outcome (Promoted, Rejected, Stale, Pending,
    DryRun), so the Prefect UI and API show it; called directly, the flow returns the PromotionOutcome.
    """
    outcome = _promote(model, version, policy_path, dry_run, trigger, eval_data, force)
    return Completed(data=outcome, name=STATE_NAMES[outcome.outcome], message=outcome.message[:500])  # type: ignore[return-value]


def _promote(
    model: str,
    version: str,
    policy_path: str | None,
    dry_run: bool,
    trigger: str,
    eval_data: str | None,
    force: bool,
) -> PromotionOutcome:
    policy_file = policy_path or default_policy_path(model)
    # 1. Inputs. Any bad input stops here, before anything is written.
    policy = load_policy_step(policy_file, model)
    versions = resolve_versions(policy, str(version))
    data = load_eval_data(policy, policy_file, eval_data)
    reference = load_reference(policy, policy_file)
    extra = extra_expectations(policy, policy_file)
    candidate = load_model(versions.candidate, policy)
    champion = load_model(versions.champion, policy) if versions.champion else None
    data = check_eval_data(data, [m for m in (candidate, champion) if m is not None], reference, policy)
    run_id = str(flow_run.id) if flow_run.id else None
    out_dir = evidence_root() / "attempts" / policy.model_name / f"v{versions.candidate.version}" / (run_id or "local")
    key = evaluation_key(policy, candidate, champion, data.sha256, reference.sha256 if reference else None)

    # 2. Gates (cached per evaluation key).
    gate_task = run_gates.with_options(refresh_cache=True) if force else run_gates
    gate_run = gate_task(key, data, reference, extra, candidate, champion, policy, str(out_dir))
    results, extra_files = gate_run.results, gate_run.extra_files
    decision = decide(results, require_approval_on_warning=policy.approval.mode == "on_warning")
    digests = {
        "candidate": candidate.digest,
        "champion": champion.digest if champion else None,
        "data": data.sha256,
        "reference": reference.sha256 if reference else None,
    }
    attempt = _Attempt(policy, versions, results, extra_files, key, run_id, out_dir, trigger, digests)

    if dry_run:
        if approval_request(decision, policy.approval) is RequestKind.CONFIRM:
            decision = decision.model_copy(update={"verdict": Verdict.NEEDS_APPROVAL})  # would wait for a person
        after = versions.champion.version if versions.champion else None
        return attempt.finish(decision, Outcome.DRY_RUN, "dry run: nothing written to the registry", after)
    prior = None if force else earlier_decision(policy, key)
    if prior is not None:
        return attempt.reuse(decision, prior)

    # 3. A person, when the policy asks for one.
    approval = None
    kind = approval_request(decision, policy.approval)
    if kind is not None:
        waiting = summary(policy, versions, decision, results, "awaiting approval", attempt.links(None))
        publish_prefect_reports(waiting, results, policy.model_name, versions.candidate.version, attempt.links(None))
        approval = ask_for_approval(kind, waiting, policy.approval)
        decision = apply_approval(decision, approval, policy.approval)

    # 4. Decide and act, one promotion of this model at a time; the champion is re-read under the lock.
    with promotion_lock(policy.model_name, policy.concurrency.lock_timeout_s):
        prior = None if force else earlier_decision(policy, key)
        if prior is not None:
            return attempt.reuse(decision, prior)
        outcome, message, after = act_on_decision(policy, versions, decision)
        ledger_md = summary(policy, versions, decision, results, f"{outcome.value}: {message}", {})
        ledger_run_id = record_ledger(
            policy,
            versions,
            decision,
            results,
            outcome,
            message,
            after,
            digests,
            ledger_md,
            trigger,
            run_id,
            extra_files,
            approval=approval,
            evaluation_key=key,
        )
    return attempt.finish(decision, outcome, message, after, ledger_run_id, approval)


@dataclass(frozen=True)
class _Attempt:
    """What the flow knows once the gates ran; builds the report and the returned outcome."""

    policy: PromotionPolicy
    versions: Versions
    results: list[GateResult]
    extra_files: list[str]
    key: str
    run_id: str | None
    out_dir: Path
    trigger: str
    digests: dict[str, str | None]

    def links(self, ledger_run_id: str | None) -> dict[str, str]:
        links: dict[str, str] = {}
        if ledger_run_id:
            links["mlflow"] = mlflow_run_link(ledger_run_id, self.policy.ledger_experiment)
        if self.run_id:
            links["prefect"] = f"flow run {self.run_id}"
        files = [f for r in self.results for f in r.report_files] + self.extra_files
        if files:
            links["local reports"] = str(Path(files[0]).parent if len(files) == 1 else self.out_dir.parent)
        return links

    def reuse(self, decision: Decision, prior: LedgerEntry) -> PromotionOutcome:
        message = (
            f"already decided ({prior.outcome}) in ledger run {prior.run_id} at {prior.time:%Y-%m-%d %H:%M:%S} UTC "
            "with the same candidate, champion, policy and data; nothing written (force to re-evaluate)"
        )
        get_run_logger().info(message)
        champion = self.versions.champion.version if self.versions.champion else None
        return self.finish(decision, Outcome(prior.outcome), message, champion, prior.run_id, reused=True)

    def finish(
        self,
        decision: Decision,
        outcome: Outcome,
        message: str,
        after: str | None,
        ledger_run_id: str | None = None,
        approval: ApprovalRecord | None = None,
        reused: bool = False,
    ) -> PromotionOutcome:
        policy, versions = self.policy, self.versions
        links = self.links(ledger_run_id)
        markdown = summary(policy, versions, decision, self.results, f"{outcome.value}: {message}", links)
        publish_prefect_reports(markdown, self.results, policy.model_name, versions.candidate.version, links)
        head = f"{policy.model_name} v{versions.candidate.version}"
        print(f"{head}: {decision.verdict.value} -> {outcome.value}: {message}")
        return PromotionOutcome(
            model=policy.model_name,
            version=versions.candidate.version,
            champion_before=versions.champion.version if versions.champion else None,
            champion_after=after,
            decision=decision,
            outcome=outcome,
            message=message,
            gates=tuple(self.results),
            policy_hash=policy_hash(policy),
            ledger_run_id=ledger_run_id,
            flow_run_id=self.run_id,
            report_links=links,
            approval=approval,
            evaluation_key=self.key,
            reused=reused,
        )
