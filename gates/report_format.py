"""Human-readable renderings of gate results and decisions: the decision line, the markdown summary
(decision first, failing gates first) and the table rows of Prefect artifacts."""

from __future__ import annotations

from typing import Any

from gates.outcome import PromotionOutcome
from gates.registry import report_order
from gates.result import GateResult, Measurement

ICONS = {"passed": "PASS", "warned": "WARN", "failed": "FAIL", "errored": "ERROR", "skipped": "SKIP"}


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def difference_text(m: Measurement) -> str:
    """The candidate-minus-champion difference, labelled absolute or relative, with its interval."""
    if m.difference is None:
        return ""
    if m.relative:
        return f"{m.difference:+.1%} (relative)"
    text = f"{m.difference:+.4f}"
    if m.interval_low is not None and m.interval_high is not None:
        text += f" [{m.interval_low:+.4f}, {m.interval_high:+.4f}]"
    return text + " (absolute)"


def _code(text: str) -> str:
    """Inline code, so names such as fgsm@0.05 are never turned into links."""
    return "`" + text.replace("`", "'") + "`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def measurement_rows(result: GateResult) -> list[dict[str, Any]]:
    """One row per measurement (failing first), for a Prefect table artifact."""
    ordered = sorted(result.measurements, key=lambda m: 0 if m.passed is False else 1)
    return [
        {
            "check": m.name,
            "result": "" if m.passed is None else ("pass" if m.passed else "FAIL"),
            "candidate": _fmt(m.value),
            "champion": _fmt(m.champion_value),
            "difference": difference_text(m),
            "rule": m.rule or ("" if m.threshold is None else f"threshold {m.threshold:g}"),
            "note": m.note,
        }
        for m in ordered
    ]


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (list, tuple)) and all(isinstance(v, (float, type(None))) for v in value):
        return "[" + ", ".join("" if v is None else f"{v:.3f}" for v in value) + "]"
    return value


def gate_tables(result: GateResult) -> dict[str, list[dict[str, Any]]]:
    """Tables for a gate's Prefect artifacts: name suffix ('' for the main table) -> rows."""
    d = result.details
    if result.gate == "data_validation" and "results" in d:
        rows = sorted(d["results"], key=lambda r: r["success"])
        return {
            "": [
                {
                    "expectation": r["expectation"],
                    "column": r["column"],
                    "result": "pass" if r["success"] else "FAIL",
                    "unexpected %": _round(r["unexpected_percent"]),
                    "examples": ", ".join(map(str, r["examples"]))[:120],
                }
                for r in rows
            ]
        }
    if result.gate == "drift" and "columns" in d:
        rows = sorted(d["columns"], key=lambda c: not c["drifted"])
        return {
            "": [
                {
                    "column": c["column"],
                    "drifted": "DRIFT" if c["drifted"] else "no",
                    "score": _round(c["score"]),
                    "rule": f"{c['method']}: drift when past {c['threshold']:g}",
                }
                for c in rows
            ]
        }
    tables: dict[str, list[dict[str, Any]]] = {}
    rows = measurement_rows(result)
    if rows:
        tables[""] = rows
    if result.gate == "bias":
        for f in d.get("features", []):
            keep = (
                "group",
                "size",
                "judged",
                "selection_rate",
                "champion_selection_rate",
                "true_positive_rate",
                "false_positive_rate",
                "accuracy",
            )
            tables[f["feature"]] = [{k: _round(g[k]) for k in keep if k in g} for g in f["groups"]]
    return tables


def decision_line(outcome: PromotionOutcome) -> str:
    """One line: what happened and the first reason."""
    head = f"{outcome.model} v{outcome.version}: {outcome.outcome.value.replace('_', ' ')}"
    champion = f" (champion before: v{outcome.champion_before})" if outcome.champion_before else " (no champion yet)"
    failing = list(outcome.decision.failing_gates)
    why = f" - failed: {', '.join(failing)}" if failing else ""
    first = outcome.decision.reasons[0] if outcome.decision.reasons else outcome.message
    return f"{head}{champion}{why}. {first}"[:1500]


def summary_markdown(outcome: PromotionOutcome, links: dict[str, str]) -> str:
    """Decision first, every reason, the gate table (failing first), then each gate's checks with their rules."""
    ordered = report_order(list(outcome.gates))
    lines = [
        f"# {outcome.model} v{outcome.version}: {outcome.outcome.value.replace('_', ' ').upper()}",
        "",
        f"**Decision:** {outcome.decision.verdict.value} - {_cell(outcome.message)}",
        "",
        f"- Champion before: {'v' + outcome.champion_before if outcome.champion_before else 'none (first champion)'}"
        f"; after: {'v' + outcome.champion_after if outcome.champion_after else 'none'}",
        *[f"- Warning: {w}" for w in outcome.warnings],
        "",
        "## Why",
        "",
        *[f"- {_cell(reason)}" for reason in outcome.decision.reasons],
        "",
        "| gate | status | blocking | summary |",
        "|---|---|---|---|",
    ]
    for r in ordered:
        lines.append(f"| {r.gate} | {ICONS[r.status.value]} | {'yes' if r.blocking else 'no'} | {_cell(r.summary)} |")
    for r in ordered:
        rows = measurement_rows(r)
        if not rows:
            continue
        lines += [
            "",
            f"## {r.gate}: {ICONS[r.status.value]}",
            "",
            "| check | result | candidate | champion | difference | rule | note |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_code(x['check'])} | {x['result']} | {x['candidate']} | {x['champion']} | {x['difference']} "
            f"| {_cell(x['rule'])} | {_cell(x['note'])} |"
            for x in rows
        ]
    if links:
        lines += ["", "## Evidence", ""] + [
            f"- [{name}]({target})" if target.startswith("http") else f"- {name}: {target}"
            for name, target in links.items()
        ]
    return "\n".join(lines) + "\n"
