"""What a ledger run holds: per-metric candidate/champion/difference, the policy as parameters, the eval data
set, gate JSON and report files (logged while deciding), then the decision, the summary and the one-page
report (logged once the outcome is known)."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd
import yaml

from gates.outcome import PromotionOutcome
from gates.policy import PromotionPolicy
from gates.result import GateResult
from tasks import ledger
from tasks.evidence_store import report_artifacts
from tasks.inputs import PromotionInputs
from tasks.mlflow_store import client
from tasks.retrying import retried

DIGITS = 6
NOTE_LIMIT = 8000  # MLflow keeps 8,000 characters of a tag value (MAX_TAG_VAL_LENGTH)


def _fit(text: str, limit: int) -> str:
    """Text cut at the last line that fits, saying so."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 80].rsplit("\n", 1)[0]
    return cut + "\n\n(continued in evidence/summary.md and evidence/report.html)\n"


def _slug(text: str) -> str:
    """A metric name part: 'sex x race: worst_group_accuracy' -> 'sex_x_race.worst_group_accuracy'."""
    dotted = re.sub(r"\s*:\s*", ".", text).replace("@", "_at_")
    return re.sub(r"[^A-Za-z0-9_\-.]+", "_", dotted).strip("_.")[:120]


def metric_base(gate: str, measurement: str) -> str:
    """'<gate>.<measurement>', without repeating the gate ('drift:age' -> 'drift.age', not 'drift.drift.age')."""
    name = _slug(measurement)
    return name if name.startswith(f"{gate}.") else f"{gate}.{name}"


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{DIGITS}g}")


def metrics_of(results: list[GateResult]) -> dict[str, float]:
    """`<gate>.<measurement>.candidate|champion|difference` (candidate - champion, whatever way the gate orients
    its own difference) and `.relative_difference` where the gate judged a ratio; six significant digits."""
    out: dict[str, float] = {}
    for r in results:
        for m in r.measurements:
            base = metric_base(r.gate, m.name)
            both = m.value is not None and m.champion_value is not None
            difference = m.value - m.champion_value if both else None if m.relative else m.difference
            values = (
                ("candidate", m.value),
                ("champion", m.champion_value),
                ("difference", difference),
                ("relative_difference", m.difference if m.relative else None),
            )
            for suffix, value in values:
                rounded = _round(value)
                if rounded is not None:
                    out[f"{base}.{suffix}"] = rounded
    return out


def params_of(policy: PromotionPolicy) -> dict[str, str]:
    """The policy, flattened: `gates.evaluation.metrics.roc_auc.threshold` -> '0.8'."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[_slug(prefix) if len(prefix) > 240 else prefix] = str(value)

    walk("", policy.model_dump(mode="json"))
    return out


def log_judged(run_id: str, inputs: PromotionInputs, results: list[GateResult], extra_files: list[str]) -> None:
    """The evidence known before acting: metrics, the policy, the data set, gate JSON and report files."""
    ledger.log_evidence(
        run_id,
        metrics=metrics_of(results),
        params=params_of(inputs.policy),
        evidence={f"evidence/gates/{r.gate}.json": r.model_dump(mode="json") for r in results},
        texts={"evidence/policy.yaml": yaml.safe_dump(inputs.policy.model_dump(mode="json"), sort_keys=False)},
        files=_folders(results, extra_files),
    )
    _log_dataset(run_id, inputs)


def _folders(results: list[GateResult], extra_files: list[str]) -> list[tuple[str, str]]:
    """(artifact folder, local path): files go into their gate's folder, a Data Docs site as a whole."""
    out = []
    for artifact, local in report_artifacts(results, extra_files):
        folder = artifact if artifact.endswith("data-docs") else artifact.rsplit("/", 1)[0]
        out.append((f"evidence/{folder}", local))
    return out


def _log_dataset(run_id: str, inputs: PromotionInputs) -> None:
    """The eval data as an MLflow dataset input (name, source file, digest, schema, target)."""
    import warnings

    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    frame = inputs.data.frame
    with warnings.catch_warnings():  # source-type and integer-column hints are about logging, not this data
        warnings.simplefilter("ignore")
        data = mlflow.data.from_pandas(
            frame,
            source=inputs.data.path,
            targets=inputs.policy.eval_data.target,
            name=inputs.data.path.rsplit("/", 1)[-1],
            digest=inputs.data.sha256[:8],  # the file's own hash; MLflow would hash every row again
        )
        data.schema = _schema(frame)  # MLflow infers it from every value: seconds on a large frame
        entity = DatasetInput(dataset=data._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "eval")])
    retried(client().log_inputs, run_id, datasets=[entity])


def _schema(frame: pd.DataFrame) -> Any:
    """The data set's MLflow schema: column types from a sample of rows, required where no value is missing."""
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema

    sample = frame.head(1000).dropna(axis=1, how="all")
    inferred = {c.name: c.type for c in infer_signature(sample).inputs.inputs}
    present = frame.notna().all()
    return Schema([ColSpec(inferred[c], c, required=bool(present[c])) for c in frame.columns if c in inferred])


def log_decision(run_id: str, outcome: PromotionOutcome, summary_md: str, report_html: str, note: str) -> None:
    """The decision (as the CLI and the report show it), the summary, the one-page report, a description."""
    ledger.log_evidence(
        run_id,
        metrics={},
        params={},
        evidence={"evidence/decision.json": outcome.model_dump(mode="json")},
        texts={"evidence/summary.md": summary_md, "evidence/report.html": report_html},
        files=[],
        tags={"mlflow.note.content": _fit(note, NOTE_LIMIT)},
    )
