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
