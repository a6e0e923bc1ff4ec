"""Run the gate registry in order on one attempt's inputs: data gates, then scoring on the judging side,
then the model gates; skips follow each gate's needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gates import provenance
from gates.context import GateContext
from gates.errors import BadInputError
from gates.registry import DATA_GATES, MODEL_GATES, skipped_because
from gates.result import GateResult, errored
from tasks.fault_points import checkpoint
from tasks.free_memory import release_free_memory
from tasks.gate_steps import (
    bias_step,
    classification_reports,
    data_validation_step,
    drift_step,
    evaluation_step,
    output_check_step,
)
from tasks.inputs import PromotionInputs
from tasks.integration_steps import integration_step
from tasks.judging_run import JudgingRun
from tasks.latency_steps import latency_step
from tasks.provenance_checks import gather
from tasks.robustness_steps import robustness_step
from tasks.scoring_server import EarlyServer
from tasks.streamed_context import at_sample, sample_counts, whole_context


@dataclass(frozen=True)
class GateRun:
    """Every gate's result, plus report files made outside a gate (classification reports)."""

    results: list[GateResult]
    extra_files: list[str]


WHOLE_ROW_GATES = frozenset({"output_check", "evaluation", "bias"})  # on streamed data: judge every row


def context_of(inputs: PromotionInputs) -> GateContext:
    """The gates' shared inputs, before any model is scored."""
    ctx = GateContext(
        policy=inputs.policy,
        frame=inputs.data.frame,
        y=inputs.data.y,
        reference=None if inputs.reference is None else inputs.reference.frame,
        schema=inputs.candidate.schema,
        data_hash=inputs.data.sha256,
        reference_hash=None if inputs.reference is None else inputs.reference.sha256,
        task=inputs.task,
    )
    return sample_counts(ctx, inputs.data)


def _model_step(
    name: str,
    ctx: GateContext,
    run: JudgingRun,
    out_dir: Path,
    early: EarlyServer | None = None,
    whole: GateContext | None = None,
) -> GateResult:
    """One model gate; `whole`: every row of streamed data (evaluation, bias and the output check judge it)."""
    if name == "output_check":
        return output_check_step(whole or ctx)
    if name == "evaluation":
        return evaluation_step(whole or ctx)
    if name == "bias":
        return bias_step(whole or ctx, out_dir)
    if name == "robustness":
        return robustness_step(ctx, run, out_dir)
    if name == "latency":
        if early is not None:
            early.ready()  # the server's start-up must not share the CPU with the timed calls
        return latency_step(ctx, run)
    if name == "integration":
        return integration_step(ctx, run, early)
    raise KeyError(f"no step for gate {name!r}")


def with_provenance(inputs: PromotionInputs, gate_run: GateRun, stamps: bool) -> GateRun:
    """The gate run with a fresh provenance result (never cached: a source run can be deleted at any time);
    `stamps`: whether this attempt will stamp the files' digest (not a dry run)."""
    gate = inputs.policy.gates.provenance
    results = [r for r in gate_run.results if r.gate != provenance.GATE]
    if gate.enabled:  # in registry order: after the data gates, first among the model gates
        at = sum(1 for r in results if r.gate in {g.name for g in DATA_GATES})
        try:
            found = provenance.judge_provenance(gather(inputs, stamps), gate)
        except Exception as exc:  # e.g. the source run's experiment is not readable with these credentials
            found = errored(
                provenance.GATE, f"the registry could not be read: {type(exc).__name__}: {exc}", blocking=gate.blocking
            )
        results.insert(at, found)
    return GateRun(results, gate_run.extra_files)


def run_gates(inputs: PromotionInputs, out_dir: Path, skip: frozenset[str] = frozenset()) -> GateRun:
    """All enabled gates but those in `skip` (judged elsewhere: placed on another work pool), in registry order.
    Model code runs only in the judging processes."""
    checkpoint("judging")
    policy = inputs.policy
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = context_of(inputs)
    # streamed data: every row is scored only for the gates that judge every row (a placed run judges the sample)
    every_row = inputs.data.full is not None and not WHOLE_ROW_GATES <= skip
    run = JudgingRun(inputs, out_dir, every_row)
    early: EarlyServer | None = None
    try:
        needs_models = any(g.enabled(policy) and g.name not in skip for g in MODEL_GATES)
        if needs_models:  # models load and score while the data gates run (closed unscored if the data fails)
            run.start_scoring(policy.gates.evaluation.timeout_s)
            if every_row:  # every row, on few cores: the slower model keeps a core to itself
                run.wait_for_first(policy.gates.evaluation.timeout_s)
        results: list[GateResult] = []
        for gate in DATA_GATES:
            if not gate.enabled(policy) or gate.name in skip:
                continue
            if gate.name == "data_validation":
                results.append(data_validation_step(ctx, inputs.expectations))
            elif gate.name == "drift":
                results.append(drift_step(ctx))
        streamed = inputs.data.full is not None
        if streamed:
            release_free_memory()  # the data gates' temporaries, before every row's scores arrive
        if any(r.blocks_promotion for r in results):
            return GateRun(
                results + skipped_because(policy, MODEL_GATES, "skipped: the eval data failed validation"), []
            )
        if not needs_models:
            return GateRun(results, [])
        digests = {
            "candidate": inputs.candidate.digest,
            "champion": inputs.champion.digest if inputs.champion else None,
        }
        versions = {
            "candidate": inputs.candidate.version,
            "champion": inputs.champion.version if inputs.champion else "",
        }
        # the classification reports go with the drift gate: none where it is not judged (a placed run); streamed
        # data: made from the sample's scores, which come first, while the models score every row
        reports = None
        sample = run.sample_scores(policy.gates.evaluation.timeout_s)
        if "candidate" in sample and "drift" not in skip:
            sampled = ctx.with_scores(sample["candidate"], sample.get("champion"))
            reports = classification_reports(sampled, digests, versions)
            release_free_memory()  # evidently's temporaries, before every row's scores arrive
        checkpoint("gates")
        scores = run.score_all(policy.gates.evaluation.timeout_s)
        whole = whole_context(ctx, inputs.data, scores) if every_row else None
        scores = at_sample(inputs.data, scores) if every_row else scores
        ctx = ctx.with_scores(scores["candidate"], scores.get("champion"))
        candidate = scores["candidate"]
        if candidate.bad_input:
            raise BadInputError(f"candidate v{candidate.version}: {candidate.error}")
        integration = policy.gates.integration
        if candidate.usable and integration.enabled and integration.serve and "integration" not in skip:
            early = EarlyServer(run.copies["candidate"], policy)  # boots while the other gates judge
        for gate in MODEL_GATES:
            if not gate.enabled(policy):
                continue
            if not candidate.usable and gate.name != "evaluation":
                reason = f"skipped: the candidate could not be scored ({candidate.error})"
                results += skipped_because(policy, (gate,), reason)
                continue
            if gate.name in skip:
                continue
            results.append(_model_step(gate.name, ctx, run, out_dir, early, whole))
            if not WHOLE_ROW_GATES & {g.name for g in MODEL_GATES[MODEL_GATES.index(gate) + 1 :]}:
                whole = None  # every row's scores: no gate still to come judges them
            if streamed:
                release_free_memory(collect=False)
        results += run.isolation_results()
        if reports is None or any(sample[label].usable != scores[label].usable for label in sample):
            reports = [] if "drift" in skip else classification_reports(ctx, digests, versions)
        return GateRun(results, reports)
    finally:
        if early is not None:
            early.close()  # stopped already when the integration gate ran; not otherwise
        run.close()
