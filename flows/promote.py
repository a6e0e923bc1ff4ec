"""The promotion flow: may this model version replace the champion?"""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from gates.decision import decide
from gates.outcome import Outcome, PromotionOutcome
from gates.policy import policy_hash
from tasks.promotion_steps import (
    act_on_decision,
    check_eval_data,
    default_policy_path,
    evaluation_gate,
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


@flow(name="promote-model-version", log_prints=True, validate_parameters=True)
def promote_version(
    model: str,
    version: str,
    policy_path: str | None = None,
    dry_run: bool = False,
    trigger: str = "manual",
) -> PromotionOutcome:
    """Evaluate a registered version against the champion and promote or reject it."""
    policy_file = policy_path or default_policy_path(model)
    # 1. Policy, versions and data: any bad input stops here, before anything is written.
    policy = load_policy_step(policy_file, model)
    versions = resolve_versions(policy, str(version))
    data = load_eval_data(policy, policy_file)
    candidate = load_model(versions.candidate)
    champion = load_model(versions.champion) if versions.champion else None
    data = check_eval_data(data, [m for m in (candidate, champion) if m is not None], policy)

    # 2. Gates.
    candidate_scores = score_model(candidate, data, policy)
    champion_scores = score_model(champion, data, policy) if champion else None
    results = []
    if policy.gates.evaluation.enabled:
        results.append(evaluation_gate(data, candidate_scores, champion_scores, policy))

    # 3. Decide, act, record.
    decision = decide(results)
    run_id = str(flow_run.id) if flow_run.id else None
    if dry_run:
        outcome, message, after = (
            Outcome.DRY_RUN,
            "dry run: nothing written to the registry",
            (versions.champion.version if versions.champion else None),
        )
        ledger_run_id = None
        links: dict[str, str] = {}
    else:
        outcome, message, after = act_on_decision(policy, versions, decision)
        digests = {
            "candidate": candidate.digest,
            "champion": champion.digest if champion else None,
            "data": data.sha256,
        }
        ledger_md = summary(policy, versions, decision, results, f"{outcome.value}: {message}", {})
        ledger_run_id = record_ledger(
            policy, versions, decision, results, outcome, message, after, digests, ledger_md, trigger, run_id
        )
        links = {"mlflow": mlflow_run_link(ledger_run_id, policy.ledger_experiment)}
    if run_id:
        links["prefect"] = f"flow run {run_id}"
    markdown = summary(policy, versions, decision, results, f"{outcome.value}: {message}", links)
    publish_prefect_reports(markdown, results, policy.model_name, versions.candidate.version, links)
    print(f"{policy.model_name} v{versions.candidate.version}: {decision.verdict.value} -> {outcome.value}: {message}")
    return PromotionOutcome(
        model=policy.model_name,
        version=versions.candidate.version,
        champion_before=versions.champion.version if versions.champion else None,
        champion_after=after,
        decision=decision,
        outcome=outcome,
        message=message,
        gates=tuple(results),
        policy_hash=policy_hash(policy),
        ledger_run_id=ledger_run_id,
        flow_run_id=run_id,
        report_links=links,
    )
