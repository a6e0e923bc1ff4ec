"""The data validation gate: a Great Expectations suite built from the policy, the model signature
and the training reference, run on the eval data before any model is scored."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from gates.model_input import InputColumn as ColumnSpec
from gates.policy import DataValidationGatePolicy
from gates.result import GateResult, Measurement, finish, guarded

GATE = "data_validation"
TYPE_LISTS = {
    "long": ["int64", "int32", "Int64", "Int32"],
    "integer": ["int64", "int32", "Int64", "Int32"],
    "double": ["float64", "float32", "int64", "int32", "Float64", "Int64"],
    "float": ["float64", "float32", "int64", "int32", "Float64", "Int64"],
    "string": ["object", "str", "string", "category"],
    "boolean": ["bool", "boolean"],
}
Expectation = dict[str, Any]


def expectation_class_name(snake: str) -> str:
    """expect_column_values_to_be_between -> ExpectColumnValuesToBeBetween."""
    return "".join(part.capitalize() for part in snake.split("_"))


def build_expectations(
    columns: Sequence[ColumnSpec],
    target: str,
    policy: DataValidationGatePolicy,
    reference: pd.DataFrame | None,
    extra: Sequence[Expectation] = (),
    eval_rows: int | None = None,
) -> list[Expectation]:
    """The suite as plain {type, kwargs} dicts: schema, nulls, row count, ranges and sets, then extras.

    `eval_rows` sizes the learned checks' allowance for new extremes (learned_share) when the policy sets none."""
    suite: list[Expectation] = [
        {
            "type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": policy.min_rows, "max_value": policy.max_rows},
        }
    ]
    nulls = null_allowance([c.name for c in columns], policy, reference)
    for col in [*columns, ColumnSpec(target, "any")]:
        suite.append({"type": "expect_column_to_exist", "kwargs": {"column": col.name}})
        if col.type in TYPE_LISTS:
            types = list(TYPE_LISTS[col.type])
            if col.name in nulls and col.type in ("long", "integer"):
                types.append("float64")  # pandas holds integers with missing values as floats
            suite.append(
                {"type": "expect_column_values_to_be_in_type_list", "kwargs": {"column": col.name, "type_list": types}}
            )
        share = nulls.get(col.name, 1.0)
        if share > 0:
            kwargs = {"column": col.name, **({"mostly": share} if share < 1 else {})}
            suite.append({"type": "expect_column_values_to_not_be_null", "kwargs": kwargs})
    learn = reference is not None and policy.learn_from_reference
    stated = {*policy.value_ranges, *policy.value_sets}
    checks = max(1, sum(c.name not in stated and c.name in reference.columns for c in columns)) if learn else 1
    for col in columns:
        mostly = {"mostly": policy.mostly} if policy.mostly < 1 else {}
        if col.name in policy.value_ranges:
            r = policy.value_ranges[col.name]
            suite.append(_between(col.name, r.min, r.max, mostly))
        elif col.name in policy.value_sets:
            suite.append(_in_set(col.name, policy.value_sets[col.name], mostly))
        elif learn and col.name in reference.columns:
            ref = reference[col.name].dropna()
            if ptypes.is_numeric_dtype(ref) and not ptypes.is_bool_dtype(ref) and not ref.empty:
                low, high = float(ref.min()), float(ref.max())
                margin = (high - low) * policy.range_margin
                share = learned_share(policy, len(ref), 2 / (len(ref) + 1), eval_rows, checks)
                suite.append(_between(col.name, low - margin, high + margin, _mostly(share)))
            elif not ref.empty and ref.nunique() <= policy.max_categories:
                counts = ref.astype(str).value_counts()
                unseen = (int((counts == 1).sum()) + 1) / (len(ref) + 1)  # Good-Turing: the share seen once
                share = learned_share(policy, len(ref), unseen, eval_rows, checks)
                suite.append(_in_set(col.name, sorted(counts.index.tolist()), _mostly(share)))
    suite.extend({"type": e["type"], "kwargs": dict(e["kwargs"])} for e in extra)
    return suite


LEARNED_CONFIDENCE = 0.999  # a sound sample passes all learned checks together with this probability
LEARNED_FLOOR = 0.95  # however small the reference, a learned check lets at most 5% of rows outside it


def learned_share(
    policy: DataValidationGatePolicy, reference_rows: int, p_new: float, eval_rows: int | None, checks: int
) -> float:
    """Share of eval rows that must satisfy one learned check: the policy's learned_mostly, else 1 minus the
    (1 - 0.001 / checks) quantile of Binomial(eval_rows, p_new) over eval_rows, where p_new bounds the chance
    that a new row falls outside what `reference_rows` values showed; at least LEARNED_FLOOR, never above the
    policy's `mostly`."""
    if policy.learned_mostly is not None:
        return min(policy.mostly, policy.learned_mostly)
    if not eval_rows:
        return policy.mostly
    from scipy.stats import binom

    allowed = float(binom.ppf(1 - (1 - LEARNED_CONFIDENCE) / checks, eval_rows, min(p_new, 1.0)))
    return min(policy.mostly, max(LEARNED_FLOOR, math.floor((1 - allowed / eval_rows) * 1e6) / 1e6))


def _mostly(share: float) -> dict:
    return {"mostly": share} if share < 1 else {}


def null_allowance(
    columns: Sequence[str], policy: DataValidationGatePolicy, reference: pd.DataFrame | None
) -> dict[str, float]:
    """Column -> share of rows that must not be null, for the columns that may hold some: 0 for allow_nulls (any
    number), and for a column with nulls in the reference data, 1 - (twice its null share there + 1%)."""
    out: dict[str, float] = {c: 0.0 for c in columns if c in policy.allow_nulls}
    if reference is not None and policy.learn_from_reference:
        for c in columns:
            if c in out or c not in reference.columns or len(reference) == 0:
                continue
            share = float(reference[c].isna().mean())
            if share > 0:
                out[c] = max(0.0, round(1.0 - (2 * share + 0.01), 6))
    return out


def nullable_columns(
    columns: Sequence[str], policy: DataValidationGatePolicy, reference: pd.DataFrame | None
) -> list[str]:
    """The model input columns that may hold nulls (allow_nulls, or learned from the reference)."""
    return list(null_allowance(columns, policy, reference))


def _between(column: str, low: float | None, high: float | None, mostly: dict) -> Expectation:
    return {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": column, "min_value": low, "max_value": high, **mostly},
    }


def _in_set(column: str, values: list, mostly: dict) -> Expectation:
    return {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": column, "value_set": values, **mostly}}


def judge_validation(
    rows: list[dict[str, Any]],
    statistics: dict[str, Any],
    row_count: int,
    policy: DataValidationGatePolicy,
    report_files: tuple[str, ...] = (),
) -> GateResult:
    """The gate's verdict from Great Expectations' per-expectation rows: any unmet expectation fails it."""
    return guarded(GATE, policy.blocking, lambda: _judge(rows, statistics, row_count, policy, report_files))


def _judge(
    rows: list[dict[str, Any]],
    stats: dict[str, Any],
    row_count: int,
    policy: DataValidationGatePolicy,
    report_files: tuple[str, ...],
) -> GateResult:
    failed = [row for row in rows if not row["success"]]
    measurements = [
        Measurement(
            name=f"{row['expectation']}({row['column']})" if row["column"] else row["expectation"],
            value=row["unexpected_percent"] if row["unexpected_percent"] is not None else None,
            passed=row["success"],
            note=(f"e.g. {row['examples']}" if row["examples"] else str(row.get("observed_value") or ""))[:200],
        )
        for row in failed
    ]
    ok = not failed
    if ok:
        summary = f"All {stats['evaluated_expectations']} expectations met on {row_count} rows."
    else:
        first = failed[0]
        where = f" on {first['column']!r}" if first["column"] else ""
        sample = f" (e.g. {first['examples'][:3]})" if first["examples"] else ""
        total = stats["evaluated_expectations"]
        summary = f"{len(failed)} of {total} expectations failed: {first['expectation']}{where}{sample}."
    return finish(
        GATE,
        ok=ok,
        blocking=policy.blocking,
        summary=summary,
        measurements=measurements,
        details={"statistics": dict(stats), "results": rows, "rows": row_count},
        report_files=report_files,
    )


def plain(value: Any) -> Any:
    """JSON-friendly version of a GX observed value (numpy scalars become Python numbers)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return str(value)


EXACT_TYPES = ("expect_table_row_count_to_be_between", "expect_column_values_to_not_be_null")


def split_exact(suite: Sequence[Expectation]) -> tuple[list[Expectation], list[Expectation]]:
    """(the expectations judged on a sample, the row-count and not-null ones judged on exact whole-data counts)."""
    return [e for e in suite if e["type"] not in EXACT_TYPES], [e for e in suite if e["type"] in EXACT_TYPES]


def exact_rows(exact: Sequence[Expectation], rows: int, nulls: dict[str, int]) -> list[dict[str, Any]]:
    """Result rows (the shape of Great Expectations' rows here) for the row-count and not-null expectations,
    judged on the whole data's row count and per-column null counts."""
    out: list[dict[str, Any]] = []
    for e in exact:
        kw = e["kwargs"]
        if e["type"] == "expect_table_row_count_to_be_between":
            low, high = kw.get("min_value"), kw.get("max_value")
            ok = (low is None or rows >= low) and (high is None or rows <= high)
            out.append(_row(e["type"], "", ok, None, None, rows))
            continue
        column = kw["column"]
        if column not in nulls:
            out.append({**_row(e["type"], column, False, None, None, None), "error": f"no column {column!r}"})
            continue
        count = nulls[column]
        share = count / rows if rows else 0.0
        ok = (1 - share) >= kw.get("mostly", 1.0)
        out.append(_row(e["type"], column, ok, count, 100 * share, None))
    return out


def _row(kind: str, column: str, ok: bool, count: int | None, percent: float | None, observed: Any) -> dict[str, Any]:
    return {
        "expectation": kind,
        "column": column,
        "success": ok,
        "unexpected_count": count,
        "unexpected_percent": percent,
        "observed_value": observed,
        "examples": [],
    }


def with_exact_counts(
    sampled: GateResult, exact: list[dict[str, Any]], rows: int, sample_rows: int, policy: DataValidationGatePolicy
) -> GateResult:
    """The sample's verdict joined with the exact row-count and null checks; the summary says what was sampled."""
    if sampled.status.value == "errored":
        return sampled
    results = exact + list(sampled.details.get("results", []))
    stats = dict(sampled.details.get("statistics", {}))
    stats["evaluated_expectations"] = int(stats.get("evaluated_expectations", 0)) + len(exact)
    judged = judge_validation(results, stats, rows, policy, sampled.report_files)
    note = (
        f"row count and null counts over all {rows:,} rows; the other expectations on a seeded sample of "
        f"{sample_rows:,} rows"
    )
    details = {**judged.details, "sampled_rows": sample_rows, "note": note}
    return judged.model_copy(update={"summary": f"{judged.summary} ({note})", "details": details})
