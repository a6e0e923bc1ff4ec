"""Everything a promotion is judged on, loaded once: policy, versions, eval and reference data, extra
expectations, and local copies of both models. Any bad input stops here, before anything is written."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from gates.errors import BadInputError
from gates.model_input import InputSchema, prepare
from gates.model_task import BINARY, OutputShape, Task, class_indices, class_labels, infer_task, regression_targets
from gates.policy import BIAS_TASK_METRICS, TASK_METRICS, PromotionPolicy
from tasks import registry
from tasks.data import check_eval_frame
from tasks.data_validation_run import check_expectation_types
from tasks.eval_data import EvalData, Reference, read_eval_data, read_reference, relabelled
from tasks.input_schemas import enforce_signature, schema_for, tensor_columns, unsigned_schema
from tasks.mlflow_store import client
from tasks.model_copies import ModelCopy, download_copy, registered_output
from tasks.policy_files import policy_for, resolve_data_path


@dataclass(frozen=True)
class Versions:
    """Candidate and the champion it is judged against."""

    candidate: registry.VersionRef
    champion: registry.VersionRef | None


@dataclass(frozen=True)
class PromotionInputs:
    """One attempt's inputs; `workspace` holds the model copies until `cleanup()`."""

    policy: PromotionPolicy
    policy_path: str
    versions: Versions
    candidate: ModelCopy
    champion: ModelCopy | None
    data: EvalData
    reference: Reference | None
    expectations: list[dict]
    workspace: str
    task: Task = BINARY

    @property
    def models(self) -> list[ModelCopy]:
        """Candidate, then the champion when there is one."""
        return [m for m in (self.candidate, self.champion) if m is not None]

    def cleanup(self) -> None:
        """Remove the local model copies."""
        shutil.rmtree(self.workspace, ignore_errors=True)


def find_versions(policy: PromotionPolicy, version: str) -> Versions:
    """The candidate (must exist and be READY, and not be champion already) and the current champion."""
    c = client()
    candidate = registry.resolve_version(c, policy.model_name, version)
    champ = registry.champion(c, policy.model_name, policy.champion_alias)
    if champ is not None and champ.version == candidate.version:
        raise BadInputError(
            f"version {candidate.version} is already the {policy.champion_alias} of {policy.model_name!r}"
        )
    return Versions(candidate, champ)


def judged_task(policy: PromotionPolicy, data: EvalData, output: OutputShape | None) -> tuple[Task, EvalData]:
    """The task the gates judge (the policy's, or inferred) and the eval data with that task's labels."""
    target_name = policy.eval_data.target
    if target_name not in data.frame.columns:
        return Task("binary", "no target column"), data
    target = data.frame[target_name] if data.full is None else data.full.columns[target_name]
    task = infer_task(target, policy.task, policy.max_classes, output)
    source = f"eval data {data.path}"
    check_task_rules(policy, task)
    if task.name == "regression":
        return task, relabelled(data, target_name, lambda t: regression_targets(t, source))
    if task.name == "multiclass":
        classes = class_labels(target, policy.model_output.classes)
        task = replace(task, classes=classes)
        return task, relabelled(data, target_name, lambda t: class_indices(t, classes, source))
    negative = next((v for v in target.dropna().unique() if str(v) != str(policy.eval_data.positive_label)), None)
    return replace(task, classes=(negative, policy.eval_data.positive_label)), data


def check_task_rules(policy: PromotionPolicy, task: Task) -> None:
    """The policy's metrics must be the task's; BadInputError naming the first that is not."""
    wanted = {
        "gates.evaluation.metrics": (set(policy.gates.evaluation.rules_for(task.name)), TASK_METRICS[task.name]),
        "gates.bias.metrics": (set(policy.gates.bias.rules_for(task.name)), BIAS_TASK_METRICS[task.name]),
    }
    for where, (named, allowed) in wanted.items():
        wrong = sorted(named - allowed)
        bias_judged = policy.gates.bias.enabled and bool(policy.gates.bias.sensitive_features)
        if wrong and (where.startswith("gates.evaluation") or bias_judged):
            raise BadInputError(
                f"policy {where}: {', '.join(wrong)} do not apply to a {task.name} model ({task.reason}); "
                f"use {', '.join(sorted(allowed))}, or set task"
            )


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
    unknown = check_expectation_types(extra)
    if unknown:
        raise BadInputError(f"unknown Great Expectations expectation type(s): {', '.join(unknown)}")
    return extra


def gate_columns(policy: PromotionPolicy, schema: InputSchema) -> list[str]:
    """The drift gate's columns: the policy's, or the model's input columns."""
    return list(policy.gates.drift.columns or schema.names)


def check_inputs(
    policy: PromotionPolicy,
    data: EvalData,
    reference: Reference | None,
    schema: InputSchema,
    version: str,
    task: Task = BINARY,
) -> None:
    """The eval rows must become the model's input, hold the target and a positive row, and the columns the
    gates need (sensitive features; drift columns in both data sets). MLflow's own schema enforcement has the
    last word on what the input path makes, so predict() cannot refuse it."""
    source = f"{data.path} for v{version}"
    binary = task.name == "binary"
    check_eval_frame(data.frame, schema, policy.eval_data, source, binary and data.full_y is None)
    if binary and data.full_y is not None and not data.full_y.any():  # streamed: every row, not the sample
        spec = policy.eval_data
        raise BadInputError(
            f"eval data {source}: no row has the positive label {spec.positive_label!r} in {spec.target!r}"
        )
    complete = data.frame.dropna(subset=[c.name for c in schema.columns if c.name in data.frame])
    enforce_signature(prepare(complete, schema), schema, f"{data.path} for v{version}")  # nulls: data validation
    missing = [c for c in policy.gates.bias.sensitive_features if c not in data.frame.columns]
    if policy.gates.bias.enabled and missing:
        raise BadInputError(
            f"sensitive feature(s) named in the policy are not columns of the eval data: {', '.join(missing)}"
        )
    if reference is not None and policy.gates.drift.enabled:
        wanted = gate_columns(policy, schema)
        absent = [c for c in wanted if c not in reference.frame.columns]
        if absent:
            raise BadInputError(f"reference data {reference.path} lacks column(s): {', '.join(absent)}")
        absent_eval = [c for c in wanted if c not in data.frame.columns]
        if absent_eval:
            raise BadInputError(f"drift column(s) not in the eval data: {', '.join(absent_eval)}")


def preflight(policy_path: str, model: str, version: str, eval_data: str | None = None) -> PromotionPolicy:
    """Every bad-input check that needs no model download: policy, versions, data against signatures.

    Raises BadInputError; reads only. The flow repeats the checks (it may be started without the CLI).
    """
    policy = policy_for(policy_path, model)
    versions = find_versions(policy, version)
    data = read_eval_data(policy, policy_path, eval_data)
    reference = read_reference(policy, policy_path)
    extra_expectations(policy, policy_path)
    unsigned = unsigned_schema(policy, data)
    task, data = judged_task(policy, data, registered_output(versions.candidate))
    for ref in (versions.candidate, versions.champion):
        if ref is not None:
            schema = schema_for(ref, tensor_columns(policy, data), unsigned, data)
            check_inputs(policy, data, reference, schema, ref.version, task)
    return policy


def _outcome(step: Callable[[], Any]) -> Any:
    """A step's value, or the exception it raised (raised by the caller, in order)."""
    try:
        return step()
    except Exception as exc:
        return exc


def load(
    policy_path: str,
    model: str,
    version: str,
    eval_data: str | None = None,
    versions: Versions | None = None,
    check_versions: Callable[[Versions], None] | None = None,
) -> PromotionInputs:
    """Load and check everything once (`versions` when the caller resolved them; `check_versions`: a further check
    of the versions found, raising BadInputError); the model copies live in a temporary workspace."""
    policy = policy_for(policy_path, model)

    def found() -> Versions:
        out = versions or find_versions(policy, version)
        if check_versions is not None:
            check_versions(out)
        return out

    # The eval data is read (Arrow's decoding, mostly outside the GIL) while this thread asks the registry and
    # imports Great Expectations for the suite's check; errors are raised in the order the steps are listed.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="eval-data") as pool:
        reading = pool.submit(read_eval_data, policy, policy_path, eval_data)
        found_versions = _outcome(found)
        found_reference = _outcome(lambda: read_reference(policy, policy_path))
        found_expectations = _outcome(lambda: extra_expectations(policy, policy_path))
        found_data = _outcome(reading.result)
    for value in (found_versions, found_data, found_reference, found_expectations):
        if isinstance(value, Exception):
            raise value
    versions, data = cast(Versions, found_versions), cast(EvalData, found_data)
    reference, expectations = cast(Reference | None, found_reference), cast(list[dict], found_expectations)
    unsigned = unsigned_schema(policy, data)
    workspace = Path(tempfile.mkdtemp(prefix="modelgate-models-"))
    try:
        copies = {
            label: download_copy(ref, workspace / label, tensor_columns(policy, data), unsigned)
            for label, ref in (("candidate", versions.candidate), ("champion", versions.champion))
            if ref is not None
        }
        task, data = judged_task(policy, data, copies["candidate"].output)
        for copy in copies.values():
            check_inputs(policy, data, reference, copy.schema, copy.version, task)
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    return PromotionInputs(
        policy=policy,
        policy_path=policy_path,
        versions=versions,
        candidate=copies["candidate"],
        champion=copies.get("champion"),
        data=data,
        reference=reference,
        expectations=expectations,
        workspace=str(workspace),
        task=task,
    )
