"""The drift gate's verdict: evidently's per-column drift of the eval data against the training reference
(run by tasks.drift_run), judged on the share of drifted columns."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from gates.policy import DriftGatePolicy
from gates.result import GateResult, Measurement, finish, guarded

GATE = "drift"


def split_columns(frame: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns as evidently should treat them."""
    numeric = [c for c in columns if ptypes.is_numeric_dtype(frame[c]) and not ptypes.is_bool_dtype(frame[c])]
    return numeric, [c for c in columns if c not in numeric]


def judge_drift(
    per_column: list[dict[str, Any]],
    share: float | None,
    count: int | None,
    columns: list[str],
    policy: DriftGatePolicy,
    report_files: tuple[str, ...] = (),
) -> GateResult:
    """Fail when the share of drifted columns exceeds the policy's maximum.

    `per_column` rows: column, method, threshold, score, drifted (as evidently's per-column tests found them).
    """
    return guarded(GATE, policy.blocking, lambda: _judge(per_column, share, count, columns, policy, report_files))


def _judge(
    per_column: list[dict[str, Any]],
    share: float | None,
    count: int | None,
    columns: list[str],
    policy: DriftGatePolicy,
    report_files: tuple[str, ...],
) -> GateResult:
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
