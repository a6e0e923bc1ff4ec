"""The data gates' sections of the HTML report: Great Expectations results and evidently drift."""

from __future__ import annotations

from html import escape

from gates.policy import PromotionPolicy
from gates.result import GateResult
from tasks.report_tables import Names, finite, measurement_table, num, result_cell, table


def data_validation(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Expectation results, failing first; the ones met are folded away."""
    d = result.details
    stats = d.get("statistics") or {}
    rows = d.get("results") or []
    if stats:
        met, total = stats.get("successful_expectations"), stats.get("evaluated_expectations")
        out = [f'<p class="hint">{met} of {total} expectations met on {d.get("rows", "?")} rows.</p>']
    else:
        out = []
    failing = [r for r in rows if not r.get("success")]
    passing = [r for r in rows if r.get("success")]
    headers = ["expectation", "column", "result", "unexpected %", "examples / observed"]
    if failing:
        out.append(table(headers, [_expectation_row(r, key=True) for r in failing], "measurements"))
    if passing:
        body = table(headers, [_expectation_row(r, key=False) for r in passing], "compact")
        out.append(f"<details><summary>{len(passing)} expectations met</summary>{body}</details>")
    if not rows:
        out.append(measurement_table(result, names))
    return "".join(out)


def _expectation_row(r: dict, *, key: bool) -> str:
    name = f"{r.get('expectation')}({r.get('column')})" if r.get("column") else str(r.get("expectation"))
    value = r.get("unexpected_percent")
    number = num(f"data_validation.{name}.candidate" if key else None, value if finite(value) else None)
    shown = r.get("examples") or r.get("observed_value")
    text = escape(r.get("error") or ("" if shown is None or shown == [] else str(shown)))
    cells = [
        f"<td><code>{escape(str(r.get('expectation')))}</code></td>",
        f"<td>{escape(str(r.get('column') or ''))}</td>",
    ]
    cells += [result_cell(bool(r.get("success"))), f"<td>{number}</td>", f'<td class="note">{text}</td>']
    return f'<tr class="{"" if r.get("success") else "failed"}">{"".join(cells)}</tr>'


def drift(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Drifted columns first, each with its method's rule."""
    rules = {}
    for c in result.details.get("columns") or []:
        method, threshold = str(c.get("method", "")), c.get("threshold")
        key = f"drift.drift:{c.get('column')}.threshold"
        op = "p-value &lt;" if "p_value" in method else "score &gt;"
        rules[f"drift:{c.get('column')}"] = f"drifted if {op} {num(key, threshold, short=True)} ({escape(method)})"
    return measurement_table(result, names, rules=rules)
