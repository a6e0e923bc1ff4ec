"""Human-readable renderings of gate results and decisions (markdown and table rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gates.decision import Decision
from gates.result import GateResult

ICONS = {"passed": "PASS", "warned": "WARN", "failed": "FAIL", "errored": "ERROR", "skipped": "SKIP"}


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _diff(estimate: float | None, low: float | None, high: float | None) -> str:
    if estimate is None:
        return ""
    if low is None or high is None:
        return f"{estimate:+.4f}"
    return f"{estimate:+.4f} [{low:+.4f}, {high:+.4f}]"


def measurement_rows(result: GateResult) -> list[dict[str, Any]]:
    """One row per measurement, for a Prefect table artifact."""
    return [
        {
            "metric": m.name,
            "candidate": _fmt(m.value),
            "champion": _fmt(m.champion_value),
            "threshold": _fmt(m.threshold),
            "difference": _diff(m.difference, m.interval_low, m.interval_high),
            "passed": "" if m.passed is None else ("yes" if m.passed else "no"),
            "note": m.note,
        }
        for m in result.measurements
    ]


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def gate_tables(result: GateResult) -> dict[str, list[dict[str, Any]]]:
    """Tables for a gate's Prefect artifacts: name suffix ('' for the main table) -> rows."""
    d = result.details
    if result.gate == "data_validation" and "results" in d:
        return {
            "": [
                {
                    "expectation": r["expectation"],
                    "column": r["column"],
                    "success": "yes" if r["success"] else "no",
                    "unexpected %": _round(r["unexpected_percent"]),
                    "examples": ", ".join(map(str, r["examples"]))[:120],
                }
                for r in d["results"]
            ]
        }
    if result.gate == "drift" and "columns" in d:
        return {
            "": [
                {
                    "column": c["column"],
                    "method": c["method"],
                    "score": _round(c["score"]),
                    "threshold": c["threshold"],
                    "drifted": "yes" if c["drifted"] else "no",
                }
                for c in d["columns"]
            ]
        }
    if result.gate == "bias" and "features" in d:
        tables: dict[str, list[dict[str, Any]]] = {"": measurement_rows(result)}
        for f in d["features"]:
            tables[f["feature"]] = [{k: _round(v) for k, v in g.items()} for g in f["groups"]]
        return tables
    rows = measurement_rows(result)
    return {"": rows} if rows else {}


def summary_markdown(
    *,
    model: str,
    version: str,
    champion: str | None,
    decision: Decision,
    results: Sequence[GateResult],
    outcome: str,
    links: dict[str, str],
) -> str:
    """The decision, each gate's status and summary, and where the evidence is."""
    lines = [
        f"# {model} v{version}: {decision.verdict.value.upper()}",
        "",
        f"- Champion compared against: {'v' + champion if champion else 'none (first champion)'}",
        f"- Outcome: {outcome}",
        "",
        "| gate | status | blocking | summary |",
        "|---|---|---|---|",
    ]
    for r in results:
        summary = r.summary.replace("|", "\\|")
        lines.append(f"| {r.gate} | {ICONS[r.status.value]} | {'yes' if r.blocking else 'no'} | {summary} |")
    lines += ["", "## Reasons", ""] + [f"- {reason}" for reason in decision.reasons]
    for r in results:
        rows = measurement_rows(r)
        if rows:
            lines += [
                "",
                f"## {r.gate}",
                "",
                "| metric | candidate | champion | difference [CI] | threshold | passed | note |",
            ]
            lines.append("|---|---|---|---|---|---|---|")
            lines += [
                f"| {x['metric']} | {x['candidate']} | {x['champion']} | {x['difference']} | {x['threshold']} "
                f"| {x['passed']} | {x['note']} |"
                for x in rows
            ]
    if links:
        lines += ["", "## Evidence", ""] + [f"- {name}: {target}" for name, target in links.items()]
    return "\n".join(lines) + "\n"
