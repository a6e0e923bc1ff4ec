"""The promotion flow: may this model version replace the champion?"""

from __future__ import annotations

from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

from gates.decision import decide
from gates.outcome import Outcome, PromotionOutcome
from gates.policy import policy_hash
from gates.result import GateResult
from tasks.evidence import evidence_root
from tasks.gate_steps import (
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
from tasks.robustness_steps import robustness_gate


@flow(name="promote-model-version", log_prints=True, validate_parameters=True)
def promote_version(
    model: str,
    version: str,
    policy_path: str | None = None,
    dry_run: bool = False,
    trigger: str = "manual",
    eval_data: str | None = None,
) -> PromotionOutcome:
    """Judge a registered version against the champion, then promote or reject it.

    `eval_data` overrides the policy's eval file (e.g. a fresh extract in CI).
    """
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

    # 2. Data gates first: broken data stops the model gates before any model is scored.
    results: list[GateResult] = []
    gates = policy.gates
    if gates.data_validation.enabled:
        results.append(data_validation_gate(data.frame, data.sha256, reference, candidate, policy, extra))
    data_ok = not any(r.blocks_promotion for r in results)
    if gates.drift.enabled:
        results.append(drift_gate(data.frame, data.sha256, reference, candidate.columns, policy))

    # 3. Model gates.
    extra_files: list[str] = []
    if not data_ok:
        results += skipped_model_gates(policy, "skipped: the eval data failed validation")
    else:
        candidate_scores = score_model(candidate, data, policy)
        champion_scores = score_model(champion, data, policy) if champion else None
        if gates.evaluation.enabled:
            results.append(evaluation_gate(data, candidate_scores, champion_scores, policy))
        if gates.bias.enabled:
            results.append(bias_gate(data.frame, data.y, candidate_scores, champion_scores, policy, str(out_dir)))
        if gates.robustness.enabled:
            results.append(
                robustness_gate(
                    data.frame,
                    data.y,
                    reference.frame if reference else None,
                    candidate,
                    candidate_scores,
                    champion,
                    policy,
                    str(out_dir),
                )
            )
        if gates.latency.enabled:
            results.append(
                latency_gate(
                    data.frame, reference.frame if reference else None, candidate, candidate_scores, champion, policy
                )
            )
        if gates.integration.enabled:
            results.append(integration_gate(data.frame, candidate, candidate_scores, policy))
        extra_files = classification_reports(
            data.y, candidate, candidate_scores, champion, champion_scores, data.sha256, policy
        )

    # 4. Decide, act, record.
    decision = decide(results)
    links: dict[str, str] = {}
    if dry_run:
        outcome, message = Outcome.DRY_RUN, "dry run: nothing written to the registry"
        after = versions.champion.version if versions.champion else None
        ledger_run_id = None
    else:
        outcome, message, after = act_on_decision(policy, versions, decision)
        digests = {
            "candidate": candidate.digest,
            "champion": champion.digest if champion else None,
            "data": data.sha256,
            "reference": reference.sha256 if reference else None,
        }
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
        )
        links["mlflow"] = mlflow_run_link(ledger_run_id, policy.ledger_experiment)
    if run_id:
        links["prefect"] = f"flow run {run_id}"
    files = [f for r in results for f in r.report_files] + extra_files
    if files:
        links["local reports"] = str(Path(files[0]).parent if len(files) == 1 else out_dir.parent)
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
