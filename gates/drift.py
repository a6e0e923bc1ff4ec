"""The drift gate: evidently data drift of the eval data against the training reference,
plus evidently classification-quality reports for candidate and champion (evidence, not a verdict)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pandas.api import types as ptypes

from gates.policy import DriftGatePolicy
from gates.result import GateResult, Measurement, finish, guarded

GATE = "drift"


def _evidently():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import evidently
        import evidently.presets
    return evidently, evidently.presets


def split_columns(frame: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns as evidently should treat them."""
    numeric = [c for c in columns if ptypes.is_numeric_dtype(frame[c]) and not ptypes.is_bool_dtype(frame[c])]
    return numeric, [c for c in columns if c not in numeric]


def detect_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    columns: list[str],
    policy: DriftGatePolicy,
    html_path: Path | None = None,
) -> GateResult:
    """Per-column drift and the share of drifted columns; fail when the share exceeds the policy's maximum."""
    return guarded(GATE, policy.blocking, lambda: _detect(current, reference, columns, policy, html_path))


def _detect(
    current: pd.DataFrame, reference: pd.DataFrame, columns: list[str], policy: DriftGatePolicy, html_path: Path | None
) -> GateResult:
    evidently, presets = _evidently()
    numeric, categorical = split_columns(reference, columns)
    definition = evidently.DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    kwargs: dict[str, Any] = {"columns": columns, "drift_share": policy.max_drift_share}
    if policy.column_threshold is not None:
        kwargs["threshold"] = policy.column_threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = evidently.Report([presets.DataDriftPreset(**kwargs)], include_tests=True).run(
            evidently.Dataset.from_pandas(current[columns], data_definition=definition),
            evidently.Dataset.from_pandas(reference[columns], data_definition=definition),
        )
    data = snapshot.dict()
    by_id = {m["id"]: m for m in data["metrics"]}
    per_column: list[dict[str, Any]] = []
    share = count = None
    for metric in data["metrics"]:
        if metric["config"]["type"].endswith("DriftedColumnsCount"):
            share, count = float(metric["value"]["share"]), int(metric["value"]["count"])
    for test in data["tests"]:
        metric = by_id.get(test["metric_config"]["metric_id"])
        if metric is None or not metric["config"]["type"].endswith("ValueDrift"):
            continue
        status = getattr(test["status"], "value", str(test["status"]))
        per_column.append(
            {
                "column": metric["config"]["column"],
                "method": metric["config"]["method"],
                "threshold": float(metric["config"]["threshold"]),
                "score": float(metric["value"]),
                "drifted": status != "SUCCESS",
            }
        )
    report_files: tuple[str, ...] = ()
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))
        report_files = (str(html_path),)
    drifted = [c["column"] for c in per_column if c["drifted"]]
    share = share if share is not None else (len(drifted) / len(columns) if columns else 0.0)
    ok = share <= policy.max_drift_share
    measurements = [
        Measurement(name="drifted_share", value=share, threshold=policy.max_drift_share, passed=ok),
        *[
            Measurement(
                name=f"drift:{c['column']}",
                value=c["score"],
                threshold=c["threshold"],
                passed=not c["drifted"],
                note=c["method"],
            )
            for c in per_column
        ],
    ]
    listing = f" ({', '.join(drifted[:5])}{'...' if len(drifted) > 5 else ''})" if drifted else ""
    summary = (
        f"{len(drifted)} of {len(columns)} columns drifted{listing}: share {share:.2f} vs max {policy.max_drift_share}."
    )
    return finish(
        GATE,
        ok=ok,
        blocking=policy.blocking,
        summary=summary,
        measurements=measurements,
        details={"columns": per_column, "drifted": drifted, "share": share, "count": count},
        report_files=report_files,
    )


def classification_report(
    y: NDArray, scores: NDArray, threshold: float, html_path: Path, reference_scores: NDArray | None = None
) -> Path:
    """Save an evidently classification-quality report (against the champion's scores when given)."""
    evidently, presets = _evidently()
    definition = evidently.DataDefinition(
        classification=[
            evidently.BinaryClassification(target="target", prediction_labels="prediction", prediction_probas="proba")
        ]
    )

    def dataset(s: NDArray) -> Any:
        df = pd.DataFrame({"target": np.asarray(y).astype(int), "proba": s, "prediction": (s >= threshold).astype(int)})
        return evidently.Dataset.from_pandas(df, data_definition=definition)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = dataset(reference_scores) if reference_scores is not None else None
        snapshot = evidently.Report([presets.ClassificationPreset()]).run(dataset(scores), reference)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    return html_path
