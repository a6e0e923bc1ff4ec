"""Run evidently: data drift of the eval rows against the reference (judged by gates.drift), and
classification-quality reports for candidate and champion (evidence, not a verdict)."""

from __future__ import annotations

import warnings
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gates.drift import GATE, judge_drift, split_columns
from gates.policy import DriftGatePolicy
from gates.result import GateResult, errored


def _evidently() -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import evidently
        import evidently.presets
    return evidently, evidently.presets


def drift_rows(snapshot_data: dict[str, Any]) -> tuple[list[dict[str, Any]], float | None, int | None]:
    """Per-column rows (column, method, threshold, score, drifted), the drifted share and count."""
    by_id = {m["id"]: m for m in snapshot_data["metrics"]}
    per_column: list[dict[str, Any]] = []
    share = count = None
    for metric in snapshot_data["metrics"]:
        if metric["config"]["type"].endswith("DriftedColumnsCount"):
            share, count = float(metric["value"]["share"]), int(metric["value"]["count"])
    for test in snapshot_data["tests"]:
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
    return per_column, share, count


def detect_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    columns: list[str],
    policy: DriftGatePolicy,
    html_path: Path | None = None,
    labels: tuple[str, str] = ("the eval data", "the training reference"),
) -> GateResult:
    """Per-column drift and the share of drifted columns, with evidently's HTML report kept."""
    try:
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
        per_column, share, count = drift_rows(snapshot.dict())
        files: tuple[str, ...] = ()
        if html_path is not None:
            html_path.parent.mkdir(parents=True, exist_ok=True)
            snapshot.save_html(str(html_path))
            label_report(html_path, f"Data drift: Current = {labels[0]}; Reference = {labels[1]}")
            files = (str(html_path),)
    except Exception as exc:
        return errored(GATE, exc, blocking=policy.blocking)
    return judge_drift(per_column, share, count, columns, policy, files)


def label_report(html_path: Path, text: str) -> None:
    """Put a line naming what evidently calls Current and Reference at the top of its HTML page."""
    page = html_path.read_text()
    banner = (
        '<div style="font:15px system-ui,sans-serif;padding:10px 16px;background:#eef2ff;border-bottom:1px solid '
        f'#c7d2fe">{escape(text)}</div>'
    )
    html_path.write_text(page.replace("<body>", "<body>" + banner, 1))


def classification_report(
    y: NDArray,
    scores: NDArray,
    threshold: float,
    html_path: Path,
    reference_scores: NDArray | None = None,
    *,
    target: str = "target",
    current: str = "candidate",
    reference: str = "champion",
) -> Path:
    """Save an evidently classification-quality report (against the champion's scores when given), labelled
    with the versions and the target's name."""
    evidently, presets = _evidently()
    definition = evidently.DataDefinition(
        classification=[
            evidently.BinaryClassification(target=target, prediction_labels="prediction", prediction_probas="proba")
        ]
    )

    def dataset(s: NDArray) -> Any:
        df = pd.DataFrame({target: np.asarray(y).astype(int), "proba": s, "prediction": (s >= threshold).astype(int)})
        return evidently.Dataset.from_pandas(df, data_definition=definition)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference_label = reference
        ref_data = dataset(reference_scores) if reference_scores is not None else None
        snapshot = evidently.Report([presets.ClassificationPreset()]).run(dataset(scores), ref_data)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(html_path))
    against = f"; Reference = {reference_label}" if reference_scores is not None else ""
    label_report(html_path, f"Classification quality of {target}: Current = {current}{against}")
    return html_path
