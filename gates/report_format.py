"""Human-readable renderings of gate results and decisions: the decision line, the markdown summary
(decision first, failing gates first) and the table rows of Prefect artifacts.

Prefect's UI draws markdown table cells on one line (no wrapping), so the summary's tables hold only short
values (check, result, numbers) and the rules and notes follow each table as a list, which wraps. In free
text, names such as gaussian_noise@0.05 become inline code, which neither Prefect's renderer nor MLflow's
turns into a mailto link (a backslash escape works in Prefect's but shows in MLflow's)."""

from __future__ import annotations

import re
from typing import Any

from gates.outcome import PromotionOutcome
from gates.registry import report_order
from gates.result import GateResult, GateStatus, Measurement

ICONS = {"passed": "PASS", "warned": "WARN", "failed": "FAIL", "errored": "ERROR", "skipped": "SKIP"}
_ADDRESS_LIKE = re.compile(r"(?<![`\w.+-])([\w.+-]+@[\w.-]*\w)")  # what markdown autolinks as an e-mail address


def _fmt(value: float | None) -> str:
    """A value as few digits as it needs; counts with thousands separators (16,281, not 1.628e+04)."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def difference_text(m: Measurement, *, labelled: bool = True) -> str:
    """The candidate-minus-champion difference with its interval; relative ones as a % (labelled on request)."""
    if m.difference is None:
        return ""
    if m.relative:
        return f"{m.difference:+.1%}" + (" (relative)" if labelled else "")
    text = f"{m.difference:+.4f}"
    if m.interval_low is not None and m.interval_high is not None:
        text += f" [{m.interval_low:+.4f}, {m.interval_high:+.4f}]"
    return text + (" (absolute)" if labelled else "")


def markdown_text(text: str) -> str:
    """Free text for one line of markdown: names with an @ as inline code (never a mailto link), no raw HTML."""
    one_line = " ".join(text.splitlines()).replace("<", "&lt;")
    return _ADDRESS_LIKE.sub(lambda found: _code(found.group(1)), one_line)


def _code(text: str) -> str:
    """Inline code, so names such as fgsm@0.05 are never turned into links."""
    return "`" + text.replace("`", "'") + "`"


def _artifact_cell(value: Any) -> Any:
    """A table artifact's cell: Prefect renders each one as markdown, where '>= 0.8' would be a block quote."""
    if not isinstance(value, str):
        return value
    text = " ".join(value.splitlines()).replace("<", "&lt;").replace("@", "\\@")
    return "\\" + text if text[:1] in (">", "#") or re.match(r"[-+*] |\d+[.)] ", text) else text


def check_result(result: GateResult, m: Measurement) -> str:
    """pass, FAIL, WARN (a check that failed in a gate that only warns, e.g. inconclusive), or '' (not judged)."""
    if m.passed is None:
        return ""
    if m.passed:
        return "pass"
    return "WARN" if result.status is GateStatus.WARNED else "FAIL"


def measurement_rows(result: GateResult) -> list[dict[str, Any]]:
    """One row per measurement (failing first), for a Prefect table artifact."""
    ordered = sorted(result.measurements, key=lambda m: 0 if m.passed is False else 1)
    return [
        {
            "check": m.name,
            "result": check_result(result, m),
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
    """Tables for a gate's Prefect artifacts: name suffix ('' for the main table) -> rows (cells escaped)."""
    return {
        suffix: [{k: _artifact_cell(v) for k, v in row.items()} for row in rows]
        for suffix, rows in _gate_tables(result).items()
    }


def _gate_tables(result: GateResult) -> dict[str, list[dict[str, Any]]]:
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
                ("group", "size", "judged", *(d.get("group_metrics") or ()))
                if d.get("group_metrics")
                else (
                    "group",
                    "size",
                    "judged",
                    "selection_rate",
                    "champion_selection_rate",
                    "true_positive_rate",
                    "false_positive_rate",
                    "accuracy",
                )
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
    return markdown_text(f"{head}{champion}{why}. {first}")[:1500]


def _version(version: str | None, none: str) -> str:
    return f"v{version}" if version else none


def summary_markdown(outcome: PromotionOutcome, links: dict[str, str]) -> str:
    """Decision first, every reason, the gates (failing first), then each gate's checks, rules and notes."""
    ordered = report_order(list(outcome.gates))
    reasons = list(outcome.decision.reasons)
    before = _version(outcome.champion_before, "none (first champion)")
    lines = [
        f"# {outcome.model} v{outcome.version}: {outcome.outcome.value.replace('_', ' ').upper()}",
        "",
        f"**Decision:** {outcome.decision.verdict.value}. Champion before: {before}; "
        f"after: {_version(outcome.champion_after, 'none')}.",
        "",
    ]
    if outcome.message and outcome.message != "; ".join(reasons):  # a rejection's message is its reasons
        lines += [markdown_text(outcome.message), ""]
    lines += [*[f"- Warning: {markdown_text(w)}" for w in outcome.warnings], "", "## Why", ""]
    lines += [f"- {markdown_text(reason)}" for reason in reasons]
    lines += ["", "## Gates", ""]
    for r in ordered:
        said = any(reason.endswith(f"{r.gate}: {r.summary}") for reason in reasons)
        blocking = "blocking" if r.blocking else "not blocking"
        lines.append(
            f"- **{r.gate}**: {ICONS[r.status.value]} ({blocking}): {'see Why' if said else markdown_text(r.summary)}"
        )
    for r in ordered:
        lines += _gate_section(r)
    if links:
        lines += ["", "## Evidence", ""] + [
            f"- [{name}]({target})" if target.startswith("http") else f"- {name}: {markdown_text(target)}"
            for name, target in links.items()
        ]
    return "\n".join(lines) + "\n"


def _gate_section(r: GateResult) -> list[str]:
    """A gate's checks as a narrow table (values only), then its rules and notes as a list."""
    ordered = sorted(r.measurements, key=lambda m: 0 if m.passed is False else 1)
    if not ordered:
        return []
    compared = any(m.champion_value is not None or m.difference is not None for m in ordered)
    headers = ["check", "result", "candidate", *(["champion", "difference [interval]"] if compared else [])]
    lines = ["", f"## {r.gate}: {ICONS[r.status.value]}", "", "| " + " | ".join(headers) + " |"]
    lines.append("|" + "---|" * len(headers))
    for m in ordered:
        cells = [_code(m.name), check_result(r, m), _fmt(m.value)]
        if compared:
            cells += [_fmt(m.champion_value), difference_text(m, labelled=False)]
        lines.append("| " + " | ".join(cells) + " |")
    if compared:
        lines += ["", "Difference: candidate - champion, absolute (a % is relative to the champion)."]
    notes = _rules_and_notes(ordered)
    if notes:
        lines += ["", "Rules and notes:", "", *notes]
    return lines


def _rules_and_notes(measurements: list[Measurement]) -> list[str]:
    """One list item per distinct rule and note, naming every check it applies to."""
    groups: dict[tuple[str, str], list[str]] = {}
    for m in measurements:
        rule = m.rule or ("" if m.threshold is None else f"threshold {m.threshold:g}")
        if rule or m.note:
            groups.setdefault((rule, m.note), []).append(m.name)
    return [
        f"- {', '.join(_code(n) for n in names)}: "
        + "; ".join(part for part in (f"rule {markdown_text(rule)}" if rule else "", markdown_text(note)) if part)
        for (rule, note), names in groups.items()
    ]
