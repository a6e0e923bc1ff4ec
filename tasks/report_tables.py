"""HTML tables and number cells for the report; every number from a result carries its JSON path.

A number taken from a gate's measurement is rendered as
`<span data-metric="<gate>.<measurement>.<field>" data-value="<exact JSON value>">rounded</span>`, so a
browser test can compare the page with `outcome.model_dump(mode="json")`. Derived numbers carry no
data-metric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from gates.policy import LOWER_IS_BETTER
from gates.result import GateResult, Measurement

FIELDS = ("value", "champion_value", "difference", "interval_low", "interval_high", "threshold")
FIELD_KEYS = {"value": "candidate", "champion_value": "champion"}  # data-metric suffix per Measurement field


@dataclass(frozen=True)
class Names:
    """How the page names the two versions (e.g. v3 and v1; champion None when there is none)."""

    candidate: str
    champion: str | None


def finite(value: Any) -> bool:
    """A real, finite number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_key(gate: str, name: str, field: str) -> str:
    """data-metric of a measurement field, e.g. evaluation.roc_auc.candidate."""
    return f"{gate}.{name}.{FIELD_KEYS.get(field, field)}"


def fmt(value: float, *, signed: bool = False) -> str:
    """Rounded for reading: four decimals below 1, fewer as values grow."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    size = abs(value)
    decimals = 4 if size < 1 else 3 if size < 10 else 2 if size < 100 else 1 if size < 1000 else 0
    return f"{value:{'+' if signed else ''},.{decimals}f}"


def pct(value: float) -> str:
    """A relative change with its sign and a % sign."""
    return "n/a" if not math.isfinite(value) else f"{value * 100:+.1f}%"


def num(
    key: str | None, value: float | None, *, signed: bool = False, percent: bool = False, short: bool = False
) -> str:
    """One number (short: as few digits as it needs, for rules); with a key it carries data-metric and its value."""
    if value is None:
        return '<span class="na">-</span>'
    text = pct(value) if percent else f"{value:g}" if short else fmt(value, signed=signed)
    if key is None:
        return f'<span class="num">{text}</span>'
    kind = "percent" if percent else "number"
    return f'<span class="num" data-metric="{escape(key)}" data-value="{value!r}" data-format="{kind}">{text}</span>'


def result_cell(passed: bool | None, word: str | None = None) -> str:
    """pass / FAIL / not judged, or the gate's own verdict word (e.g. inconclusive)."""
    if passed is None:
        return '<td class="result na">not judged</td>'
    cls = "pass" if passed else "fail"
    return f'<td class="result {cls}">{escape(word or ("pass" if passed else "FAIL"))}</td>'


def table(headers: list[str], rows: list[str], cls: str = "") -> str:
    """A table with a header row and pre-rendered <tr> rows."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def failing_first(measurements: tuple[Measurement, ...] | list[Measurement]) -> list[Measurement]:
    """Failed measurements first, the rest in their original order."""
    return sorted(measurements, key=lambda m: 0 if m.passed is False else 1)


def difference_kind(m: Measurement) -> str | None:
    """What `difference` holds: 'absolute' (candidate - champion), 'relative' (ratio - 1) or 'other'."""
    if m.difference is None:
        return None
    if m.value is None or m.champion_value is None:
        return "absolute"
    if math.isclose(m.difference, m.value - m.champion_value, rel_tol=1e-9, abs_tol=1e-12):
        return "absolute"
    if m.champion_value and math.isclose(m.difference, m.value / m.champion_value - 1, rel_tol=1e-9, abs_tol=1e-12):
        return "relative"
    return "other"


def bound(gate: str, m: Measurement, op: str | None = None, unit: str = "") -> str:
    """'>= 0.8000' with the threshold's data-metric; '' when the measurement has no threshold."""
    if m.threshold is None:
        return ""
    op = op or ("<=" if gate in ("latency", "drift") or m.name in LOWER_IS_BETTER else ">=")
    return f"{escape(op)} {num(metric_key(gate, m.name, 'threshold'), m.threshold, short=True)}{unit}"


def threshold_rule(gate: str, m: Measurement, rules: dict[str, str]) -> str:
    """The threshold column: the section's rule (HTML), else the gate's own words and the bound."""
    if m.name in rules:
        return rules[m.name]
    own = getattr(m, "rule", None)
    parts = [p for p in (bound(gate, m, unit=" ms" if gate == "latency" else ""), escape(own) if own else "") if p]
    return "; ".join(parts) or '<span class="na">-</span>'


def measurement_table(
    result: GateResult,
    names: Names,
    *,
    rules: dict[str, str] | None = None,
    verdicts: dict[str, str] | None = None,
    difference_label: str = "difference (candidate - champion) [interval]",
    relative_label: str = "relative (%)",
    unit: str = "",
) -> str:
    """Every measurement of a gate, failing first: values, differences (absolute and %), rule, note."""
    gate, rules, verdicts = result.gate, rules or {}, verdicts or {}
    ms = failing_first(result.measurements)
    compared = any(m.champion_value is not None or m.difference is not None for m in ms)
    headers = ["check", "result", f"candidate {names.candidate}{unit}"]
    if compared:
        headers += [f"champion {names.champion or ''}{unit}".replace("  ", " "), difference_label, relative_label]
    headers += ["rule (threshold)", "note"]
    rows = []
    for m in ms:
        cells = [f"<td><code>{escape(m.name)}</code></td>", result_cell(m.passed, verdicts.get(m.name))]
        cells.append(f"<td>{num(metric_key(gate, m.name, 'value'), m.value)}</td>")
        if compared:
            cells += [f"<td>{num(metric_key(gate, m.name, 'champion_value'), m.champion_value)}</td>", *_diffs(gate, m)]
        cells += [f"<td>{threshold_rule(gate, m, rules)}</td>", f'<td class="note">{escape(m.note)}</td>']
        cls = ' class="failed"' if m.passed is False else ""
        rows.append(f'<tr{cls} data-measurement="{escape(m.name)}">{"".join(cells)}</tr>')
    return table(headers, rows, "measurements")


def _diffs(gate: str, m: Measurement) -> list[str]:
    """The absolute and relative difference cells; the JSON's `difference` keeps its data-metric."""
    both = m.value is not None and m.champion_value is not None
    absolute = m.value - m.champion_value if both else None
    relative = absolute / abs(m.champion_value) if both and m.champion_value else None
    kind = difference_kind(m)
    key = metric_key(gate, m.name, "difference")
    if kind == "relative":
        return [f"<td>{num(None, absolute, signed=True)}</td>", f"<td>{num(key, m.difference, percent=True)}</td>"]
    if kind is None:
        return [f"<td>{num(None, absolute, signed=True)}</td>", f"<td>{num(None, relative, percent=True)}</td>"]
    interval = ""
    if m.interval_low is not None or m.interval_high is not None:
        low = num(metric_key(gate, m.name, "interval_low"), m.interval_low, signed=True)
        high = num(metric_key(gate, m.name, "interval_high"), m.interval_high, signed=True)
        interval = f' <span class="interval">[{low}, {high}]</span>'
    cell = f"<td>{num(key, m.difference, signed=True)}{interval}</td>"
    if kind == "other":  # the gate's own oriented difference (e.g. a worsening): relative to the champion
        relative = m.difference / abs(m.champion_value) if m.champion_value else None
    return [cell, f"<td>{num(None, relative, percent=True)}</td>"]
