"""Steps of the gates that judge data and scores (no model code runs here): data validation, drift, model
outputs, evaluation, bias, and the classification reports kept as evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from gates import bias, bias_rows, data_validation, evaluation, tensor_data
from gates.context import GateContext, ModelScores
from gates.result import GateResult, GateStatus, errored, skipped
from tasks.drift_run import classification_report, detect_drift
from tasks.evidence import cached_file, cached_gate, key_of
from tasks.inputs import gate_columns
from tasks.plots import group_rates_plot
from tasks.streamed_context import at_rows


def data_validation_step(ctx: GateContext, expectations: list[dict]) -> GateResult:
    """Great Expectations suite from policy + signature + reference, with Data Docs kept once per input."""
    from tasks.data_validation_run import validate

    gate = ctx.policy.gates.data_validation
    target = ctx.policy.eval_data.target
    shape = tensor_data.array_shape(ctx.frame)
    if shape is not None:  # array data: tensor checks instead of a column suite
        stated = ctx.policy.eval_data.value_range
        bounds = tensor_data.value_range(stated, ctx.reference, ctx.frame, shape)
        learned = tensor_data.learned_from_reference(stated, ctx.reference, shape)
        rows = len(ctx.reference) if learned and ctx.reference is not None else None
        return tensor_data.tensor_checks(ctx.frame, target, shape, bounds, stated is not None, gate, rows)
    columns = ctx.schema.columns or tuple(data_validation.ColumnSpec(name, "double") for name in ctx.schema.names)
    suite = data_validation.build_expectations(
        columns, target, gate, ctx.reference, expectations, eval_rows=len(ctx.frame)
    )
    key = key_of(ctx.data_hash, json.dumps(suite, sort_keys=True, default=str), gate.model_dump_json(), _sampled(ctx))
    if ctx.whole_rows is None:
        return cached_gate("data-validation", key, lambda out: validate(ctx.frame, suite, gate, out / "data-docs"))
    sampled, exact = data_validation.split_exact(suite)
    judged = cached_gate("data-validation", key, lambda out: validate(ctx.frame, sampled, gate, out / "data-docs"))
    found = data_validation.exact_rows(exact, ctx.whole_rows, ctx.whole_nulls or {})
    return data_validation.with_exact_counts(judged, found, ctx.whole_rows, len(ctx.frame), gate)


def _sampled(ctx: GateContext) -> str | None:
    """What a streamed data set's sample is drawn with (part of the data gates' cache keys); None when not streamed."""
    if ctx.whole_rows is None:
        return None
    return f"{ctx.whole_rows}:{len(ctx.frame)}:{ctx.policy.eval_data.streaming.model_dump_json()}"


def drift_step(ctx: GateContext) -> GateResult:
    """evidently drift against the reference; the HTML report is written once per data and reference hash."""
    gate = ctx.policy.gates.drift
    if ctx.reference is None:
        return skipped("drift", "no reference_data in the policy", blocking=gate.blocking)
    labels = (f"eval data ({len(ctx.frame):,} rows)", f"training reference ({len(ctx.reference):,} rows)")
    shape = tensor_data.array_shape(ctx.frame)
    if shape is not None:  # array data: per-row channel summaries, not thousands of raw values
        if tensor_data.array_shape(ctx.reference) != shape:
            return skipped("drift", "the reference data holds no arrays of the eval data's shape", gate.blocking)
        current, reference = tensor_data.summaries(ctx.frame, shape), tensor_data.summaries(ctx.reference, shape)
        cols = list(current.columns)
        key = key_of(ctx.data_hash, ctx.reference_hash, cols, gate.model_dump_json(), _sampled(ctx))
        return cached_gate(
            "drift",
            key,
            lambda out: noted(
                detect_drift(current, reference, cols, gate, out / "drift.html", labels), tensor_data.SUMMARY_NOTE
            ),
        )
    cols = gate_columns(ctx.policy, ctx.schema)
    key = key_of(ctx.data_hash, ctx.reference_hash, cols, gate.model_dump_json(), _sampled(ctx))
    result = cached_gate(
        "drift", key, lambda out: detect_drift(ctx.frame, ctx.reference, cols, gate, out / "drift.html", labels)
    )
    if ctx.whole_rows is None:
        return result
    return noted(result, f"eval data: a seeded sample of {len(ctx.frame):,} of its {ctx.whole_rows:,} rows")


def noted(result: GateResult, note: str) -> GateResult:
    """The result with a note on what it compared, in its summary and details."""
    return result.model_copy(
        update={"summary": f"{result.summary} ({note})", "details": {**result.details, "note": note}}
    )


def output_check_step(ctx: GateContext) -> GateResult:
    """Degenerate outputs of the candidate (constant, one class only, NaN)."""
    from gates import output_check

    assert ctx.candidate is not None
    if ctx.task_name != "binary":
        from gates.output_check_tasks import check_task_outputs

        return check_task_outputs(
            ctx.task_name,
            ctx.candidate.values,
            ctx.labels,
            ctx.task.classes,
            ctx.policy.gates.output_check,
            candidate_label=f"v{ctx.candidate.version}",
        )
    champion = ctx.champion.values if ctx.champion is not None and ctx.champion.usable else None
    return output_check.check_outputs(
        ctx.candidate.values,
        champion,
        ctx.labels,
        ctx.threshold,
        ctx.policy.gates.output_check,
        candidate_label=f"v{ctx.candidate.version}",
    )


def _scoring_failure(gate: str, blocking: bool, label: str, scores: ModelScores) -> GateResult:
    text = f"{label} v{scores.version} {scores.error}"
    if scores.timed_out:
        return GateResult(gate=gate, status=GateStatus.FAILED, blocking=blocking, summary=text)
    return errored(gate, text, blocking=blocking)


def evaluation_step(ctx: GateContext) -> GateResult:
    """Quality metrics against thresholds and the champion (pure maths in gates.evaluation)."""
    gate = ctx.policy.gates.evaluation
    assert ctx.candidate is not None
    if not ctx.candidate.usable:
        return _scoring_failure(evaluation.GATE, gate.blocking, "candidate", ctx.candidate)
    if ctx.champion is not None and not ctx.champion.usable:
        return _scoring_failure(evaluation.GATE, gate.blocking, "champion", ctx.champion)
    champion = None if ctx.champion is None else ctx.champion.values
    result = evaluation.evaluate(ctx.labels, ctx.candidate.values, champion, gate, ctx.task_name, ctx.task.classes)
    result = result.model_copy(update={"details": {**result.details, "task_reason": ctx.task.reason}})
    sources = {"candidate": ctx.candidate.source}
    if ctx.champion is not None:
        sources["champion"] = ctx.champion.source
    return result.model_copy(update={"details": {**result.details, "score_sources": sources}})


def bias_step(ctx: GateContext, out_dir: Path) -> GateResult:
    """fairlearn audit of thresholded predictions; a per-group plot joins the evidence."""
    gate = ctx.policy.gates.bias
    if len(ctx.labels) > gate.bootstrap.max_rows:
        return _large_bias(ctx, out_dir)
    cand = ctx.candidate_predictions()
    assert cand is not None
    if ctx.task_name == "multiclass":
        from gates.bias_tasks import audit_multiclass

        classes = [str(c) for c in ctx.task.classes]
        return audit_multiclass(ctx.frame, ctx.labels, cand, ctx.champion_predictions(), classes, gate)
    if ctx.task_name == "regression":
        from gates.bias_tasks import audit_regression

        return audit_regression(ctx.frame, ctx.labels, cand, ctx.champion_predictions(), gate)
    result = bias.audit_bias(ctx.frame, ctx.labels, cand, ctx.champion_predictions(), gate)
    features = result.details.get("features")
    if features:
        plot = group_rates_plot(features, out_dir / "bias-group-rates.png")
        result = result.model_copy(update={"report_files": (*result.report_files, str(plot))})
    return result


def _large_bias(ctx: GateContext, out_dir: Path) -> GateResult:
    """Bias on more rows than bootstrap.max_rows: binary on equal rows collapsed (exact), the other tasks on a
    seeded sample of bootstrap.max_rows rows (said in the summary)."""
    gate = ctx.policy.gates.bias
    if ctx.task_name == "binary" and gate.sensitive_features:
        columns = pd.DataFrame({c: ctx.frame[c] for c in gate.sensitive_features}, copy=False)  # no copy
        cand = ctx.candidate_predictions(np.int8)  # a byte a row: every row of a large set
        assert cand is not None
        champ = ctx.champion_predictions(np.int8)
        frame, y, c, h, weights = bias_rows.collapsed(columns, ctx.labels, cand, champ)
        del cand, champ
        result = bias.audit_bias(frame, y, c, h, gate, weights)
    else:
        rows = len(ctx.labels)
        idx = bias_rows.sample_rows(rows, gate.bootstrap.max_rows, gate.bootstrap.seed)
        sub = replace(
            ctx,
            frame=ctx.frame.iloc[idx].reset_index(drop=True),
            y=np.asarray(ctx.y)[idx],
            candidate=at_rows(ctx.candidate, idx),
            champion=at_rows(ctx.champion, idx),
        )
        result = bias_step(sub, out_dir)
        return noted(result, f"a seeded sample of {len(idx):,} of {rows:,} eval rows")
    features = result.details.get("features")
    if features:
        plot = group_rates_plot(features, out_dir / "bias-group-rates.png")
        result = result.model_copy(update={"report_files": (*result.report_files, str(plot))})
    return result


def classification_reports(ctx: GateContext, digests: dict[str, str | None], names: dict[str, str]) -> list[str]:
    """evidently classification-quality HTML for the candidate (against the champion) and for the champion."""
    drift = ctx.policy.gates.drift
    if not (drift.enabled and drift.classification_reports) or ctx.candidate is None or not ctx.candidate.usable:
        return []
    if ctx.task_name != "binary":
        return []  # evidently's classification report here reads binary scores
    champ = ctx.champion.values if ctx.champion is not None and ctx.champion.usable else None
    files = []
    pairs = [("candidate", ctx.candidate.values, champ)]
    if champ is not None:
        pairs.append(("champion", champ, None))
    target = ctx.policy.eval_data.target
    reference = f"v{names['champion']} (champion)"
    for label, scores, other in pairs:
        version = names[label]
        key = key_of(
            digests[label],
            ctx.data_hash,
            len(ctx.labels),
            ctx.threshold,
            None if other is None else digests["champion"],
            target,
        )
        current = f"v{version} ({label})"
        path = cached_file(
            "classification",
            key,
            f"classification-v{version}.html",
            lambda p, s=scores, o=other, c=current: classification_report(
                ctx.labels, s, ctx.threshold, p, o, target=target, current=c, reference=reference
            ),
        )
        files.append(str(path))
    return files
