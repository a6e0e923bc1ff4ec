"""Prefect tasks for the data validation, drift and bias gates (judgement in gates/, files here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from gates import bias, data_validation, drift
from gates.errors import BadInputError
from gates.policy import PromotionPolicy, resolve_data_path
from gates.result import GateResult, skipped
from gates.schema_check import ColumnSpec
from tasks.data import file_sha256, read_eval_frame
from tasks.evidence import cached_file, cached_gate, key_of
from tasks.models import LoadedModel, Scores
from tasks.plots import group_rates_plot


@dataclass(frozen=True)
class Reference:
    """The training reference rows and their file hash."""

    frame: pd.DataFrame
    sha256: str
    path: str


def read_reference(policy: PromotionPolicy, policy_path: str) -> Reference | None:
    """The policy's reference data, or None when it names none."""
    spec = policy.reference_data
    if spec is None:
        return None
    path = resolve_data_path(policy_path, spec.path)
    if not path.is_file():
        raise BadInputError(f"reference data not found: {path}")
    frame = read_eval_frame(path, spec)  # same readers and sampling as the eval data
    return Reference(frame=frame, sha256=file_sha256(path), path=str(path))


def extra_expectations(policy: PromotionPolicy, policy_path: str) -> list[dict]:
    """Expectations listed in the policy plus those in its suite files; BadInputError on unknown types."""
    gate = policy.gates.data_validation
    extra = [e.model_dump() for e in gate.expectations]
    for name in gate.suite_files:
        path = resolve_data_path(policy_path, name)
        try:
            suite = json.loads(path.read_text())
            extra += [{"type": e["type"], "kwargs": e.get("kwargs", {})} for e in suite["expectations"]]
        except FileNotFoundError:
            raise BadInputError(f"expectation suite file not found: {path}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInputError(f"expectation suite {path} is not a GX suite JSON: {exc}") from None
    unknown = data_validation.check_expectation_types(extra)
    if unknown:
        raise BadInputError(f"unknown Great Expectations expectation type(s): {', '.join(unknown)}")
    return extra


def check_gate_inputs(
    policy: PromotionPolicy, eval_frame: pd.DataFrame, reference: Reference | None, columns: list[ColumnSpec]
) -> None:
    """Columns the gates need must exist: sensitive features in the eval data, model inputs in the reference."""
    missing = [c for c in policy.gates.bias.sensitive_features if c not in eval_frame.columns]
    if policy.gates.bias.enabled and missing:
        raise BadInputError(
            f"sensitive feature(s) named in the policy are not columns of the eval data: {', '.join(missing)}"
        )
    if reference is not None:
        if reference.frame.empty:
            raise BadInputError(f"reference data {reference.path} has no rows")
        wanted = drift_columns(policy, columns)
        absent = [c for c in wanted if c not in reference.frame.columns]
        if absent:
            raise BadInputError(f"reference data {reference.path} lacks column(s): {', '.join(absent)}")
        absent_eval = [c for c in wanted if c not in eval_frame.columns]
        if absent_eval:
            raise BadInputError(f"drift column(s) not in the eval data: {', '.join(absent_eval)}")


def drift_columns(policy: PromotionPolicy, columns: list[ColumnSpec]) -> list[str]:
    """The policy's drift columns, or the model's input columns."""
    return list(policy.gates.drift.columns or [c.name for c in columns])


@task(name="load-reference-data", cache_policy=NO_CACHE)
def load_reference(policy: PromotionPolicy, policy_path: str) -> Reference | None:
    """Read the training reference named in the policy (if any)."""
    return read_reference(policy, policy_path)


@task(name="data-validation-gate", cache_policy=NO_CACHE)
def data_validation_gate(
    frame: pd.DataFrame,
    data_sha256: str,
    reference: Reference | None,
    candidate: LoadedModel,
    policy: PromotionPolicy,
    extra: list[dict],
) -> GateResult:
    """Great Expectations suite from policy + signature + reference, with Data Docs kept once per input."""
    gate = policy.gates.data_validation
    target = policy.eval_data.target
    suite = data_validation.build_expectations(
        candidate.columns, target, gate, None if reference is None else reference.frame, extra
    )
    key = key_of(data_sha256, json.dumps(suite, sort_keys=True, default=str), gate.model_dump_json())
    return cached_gate(
        "data-validation", key, lambda out: data_validation.validate(frame, suite, gate, out / "data-docs")
    )


@task(name="drift-gate", cache_policy=NO_CACHE)
def drift_gate(
    frame: pd.DataFrame,
    data_sha256: str,
    reference: Reference | None,
    columns: list[ColumnSpec],
    policy: PromotionPolicy,
) -> GateResult:
    """evidently drift vs the reference; the HTML report is written once per data and reference hash."""
    gate = policy.gates.drift
    if reference is None:
        return skipped(drift.GATE, "no reference_data in the policy", blocking=gate.blocking)
    cols = drift_columns(policy, columns)
    key = key_of(data_sha256, reference.sha256, cols, gate.model_dump_json())
    return cached_gate(
        "drift", key, lambda out: drift.detect_drift(frame, reference.frame, cols, gate, out / "drift.html")
    )


@task(name="bias-gate", cache_policy=NO_CACHE)
def bias_gate(
    frame: pd.DataFrame,
    y: np.ndarray,
    candidate: Scores,
    champion: Scores | None,
    policy: PromotionPolicy,
    out_dir: str,
) -> GateResult:
    """fairlearn audit of thresholded predictions; a per-group plot joins the evidence."""
    gate = policy.gates.bias
    if candidate.error or candidate.values is None:
        return skipped(bias.GATE, f"candidate could not be scored: {candidate.error}", blocking=gate.blocking)
    threshold = policy.gates.evaluation.decision_threshold
    cand_pred = (candidate.values >= threshold).astype(int)
    champ_pred = None
    if champion is not None and champion.values is not None:
        champ_pred = (champion.values >= threshold).astype(int)
    result = bias.audit_bias(frame, y, cand_pred, champ_pred, gate)
    features = result.details.get("features")
    if features:
        plot = group_rates_plot(features, Path(out_dir) / "bias-group-rates.png")
        result = result.model_copy(update={"report_files": (*result.report_files, str(plot))})
    return result


@task(name="classification-reports", cache_policy=NO_CACHE)
def classification_reports(
    y: np.ndarray,
    candidate: LoadedModel,
    candidate_scores: Scores,
    champion: LoadedModel | None,
    champion_scores: Scores | None,
    data_sha256: str,
    policy: PromotionPolicy,
) -> list[str]:
    """evidently classification-quality HTML for the candidate (vs the champion) and the champion."""
    if not policy.gates.drift.classification_reports or candidate_scores.values is None:
        return []
    threshold = policy.gates.evaluation.decision_threshold
    champ_values = None if champion_scores is None else champion_scores.values
    files = []
    for loaded, scores, other in ((candidate, candidate_scores.values, champ_values), (champion, champ_values, None)):
        if loaded is None or scores is None:
            continue
        key = key_of(loaded.digest, data_sha256, threshold, None if other is None else champion.digest)
        name = f"classification-v{loaded.ref.version}.html"
        path = cached_file(
            "classification",
            key,
            name,
            lambda p, s=scores, o=other: drift.classification_report(y, s, threshold, p, o),
        )
        files.append(str(path))
    return files


def skipped_model_gates(policy: PromotionPolicy, reason: str) -> list[GateResult]:
    """The model gates, reported as skipped because the data did not validate."""
    out = []
    if policy.gates.evaluation.enabled:
        out.append(skipped("evaluation", reason, blocking=policy.gates.evaluation.blocking))
    if policy.gates.bias.enabled:
        out.append(skipped(bias.GATE, reason, blocking=policy.gates.bias.blocking))
    if policy.gates.robustness.enabled:
        out.append(skipped("robustness", reason, blocking=policy.gates.robustness.blocking))
    if policy.gates.latency.enabled:
        out.append(skipped("latency", reason, blocking=policy.gates.latency.blocking))
    if policy.gates.integration.enabled:
        out.append(skipped("integration", reason, blocking=policy.gates.integration.blocking))
    return out
