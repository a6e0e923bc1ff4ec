"""One self-contained HTML page per promotion attempt: the decision and why first, then each gate's evidence.

No network: inline CSS, inline SVG charts, no scripts, and a Content-Security-Policy that blocks any fetch.
"""

from __future__ import annotations

from html import escape

from gates.outcome import Outcome, PromotionOutcome
from gates.policy import PromotionPolicy
from gates.result import GateResult, GateStatus
from tasks.report_sections import section_body
from tasks.report_tables import Names

STATUS_ORDER = {"failed": 0, "errored": 0, "warned": 1, "passed": 2, "skipped": 3}
VERDICT_CLASS = {"promote": "ok", "reject": "bad", "needs_approval": "wait"}
GATE_LINK_WORDS = {
    "data_validation": ("data docs", "data_docs", "great expectations", "gx", "data_validation", "data validation"),
    "drift": ("evidently", "drift"),
    "evaluation": ("classification", "evaluation"),
}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111827;margin:0;background:#f9fafb;
 font-size:15px;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:20px 24px 60px}
.banner{border-radius:10px;padding:18px 22px;margin-bottom:18px;color:#fff}
.banner.ok{background:#166534}.banner.bad{background:#991b1b}.banner.wait{background:#92400e}
.banner.dry{outline:4px dashed #111827;outline-offset:-4px}
.banner .verdict{font-size:30px;font-weight:800;letter-spacing:.02em}.banner h1{font-size:19px;margin:4px 0 0}
.banner .tag{background:#111827;color:#fff;border-radius:4px;padding:2px 8px;font-size:13px;margin-left:10px;
 vertical-align:middle}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px 20px;margin:14px 0}
section.gate.failed,section.gate.errored{border-left:6px solid #b91c1c}
section.gate.warned{border-left:6px solid #b45309}
section.gate.passed{border-left:6px solid #15803d}section.gate.skipped{border-left:6px solid #9ca3af}
h2{font-size:19px;margin:4px 0 8px}h3{font-size:15px;margin:16px 0 6px}
ol.reasons li{margin:4px 0}ol.reasons li.fails{font-weight:600}ul.checks{font-weight:400;margin:2px 0 6px}
dl.facts{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:3px 18px;margin:0}
dl.facts dt{color:#4b5563}
dl.facts dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13.5px}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f3f4f6;font-weight:600}tr.failed td{background:#fef2f2}
td.result{font-weight:700;white-space:nowrap}td.pass{color:#15803d}td.fail{color:#b91c1c}td.na{color:#6b7280;font-weight:400}
td.note{color:#374151;min-width:14em}.num{font-variant-numeric:tabular-nums;white-space:nowrap}.na{color:#9ca3af}
.interval{color:#4b5563;white-space:nowrap}
.badge{display:inline-block;border-radius:4px;padding:1px 8px;font-size:12.5px;font-weight:700;color:#fff;
 text-transform:uppercase;margin-right:6px}
.badge.failed,.badge.errored{background:#b91c1c}.badge.warned{background:#b45309}.badge.passed{background:#15803d}
.badge.skipped{background:#6b7280}
small.blocking{color:#6b7280;font-weight:400;font-size:13px}p.summary{font-weight:600;margin:4px 0 8px}
pre.error{background:#fef2f2;border:1px solid #fecaca;padding:10px;white-space:pre-wrap;overflow-wrap:anywhere}
.charts{display:flex;flex-wrap:wrap;gap:10px 28px}.chart{overflow-x:auto}.hint{color:#4b5563;margin:4px 0}
.legend .key{margin-right:18px;font-weight:600}.legend .key:before{content:'';display:inline-block;width:11px;
 height:11px;margin-right:6px;vertical-align:-1px}
.legend .candidate{color:#1d4ed8}.legend .candidate:before{background:#1d4ed8;border-radius:50%}
.legend .champion{color:#c2410c}.legend .champion:before{background:#c2410c}
table.compact{font-size:12.5px}details{margin:6px 0}summary{cursor:pointer;color:#1d4ed8}
footer{color:#6b7280;font-size:12.5px;text-align:center}
"""


def render_report(
    outcome: PromotionOutcome,
    *,
    decided_at: str,
    links: dict[str, str],
    data_summary: dict | None = None,
    policy: PromotionPolicy | None = None,
) -> str:
    """The whole page as one string. With `policy`, each rule is spelled out in the threshold columns."""
    names = Names(f"v{outcome.version}", f"v{outcome.champion_before}" if outcome.champion_before else None)
    gates = sorted(outcome.gates, key=lambda g: STATUS_ORDER.get(g.status.value, 9))
    every_link = {**outcome.report_links, **links}
    title = f"{outcome.model} {names.candidate}: {outcome.outcome.value.replace('_', ' ')}"
    parts = [
        _banner(outcome, names),
        _reasons(outcome),
        _gate_table(gates),
        _links(every_link, "Evidence", "evidence"),
        *(_gate_section(g, names, policy, every_link) for g in gates),
        _facts(outcome, names, decided_at, data_summary or {}),  # reference facts after the evidence
        f"<footer>{escape(title)} - decided {escape(decided_at)} - policy {escape(outcome.policy_hash[:12])}</footer>",
    ]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body><main>{''.join(parts)}</main></body></html>"
    )


def headline(outcome: PromotionOutcome, names: Names) -> str:
    """The first words a reviewer reads."""
    verdict = outcome.decision.verdict.value.replace("_", " ")
    return {
        Outcome.PROMOTED: f"PROMOTED: {names.candidate} is the champion now",
        Outcome.REJECTED: f"REJECTED: the champion stays {names.champion}" if names.champion else "REJECTED",
        Outcome.STALE: "STALE: the champion moved while the gates ran; nothing changed",
        Outcome.PENDING: "PENDING: waiting for a person to approve",
        Outcome.ROLLED_BACK: "ROLLED BACK",
        Outcome.DRY_RUN: f"DRY RUN: would {verdict}",
    }.get(outcome.outcome, outcome.outcome.value.upper())


def _banner(outcome: PromotionOutcome, names: Names) -> str:
    dry = outcome.outcome is Outcome.DRY_RUN
    cls = VERDICT_CLASS.get(outcome.decision.verdict.value, "wait") + (" dry" if dry else "")
    tag = '<span class="tag">dry run: nothing written to the registry</span>' if dry else ""
    against = f"against champion {names.champion}" if names.champion else "with no champion (first champion)"
    return (
        f'<header class="banner {cls}" id="decision" data-verdict="{outcome.decision.verdict.value}" '
        f'data-outcome="{outcome.outcome.value}"><div class="verdict">{escape(headline(outcome, names))}{tag}</div>'
        f"<h1>{escape(outcome.model)} {names.candidate} {escape(against)}</h1></header>"
    )


def _gate_of(reason: str) -> str:
    text = reason.removeprefix("warning: ")
    return text.split(":", 1)[0] if ":" in text else ""


def _reasons(outcome: PromotionOutcome) -> str:
    d = outcome.decision
    rank = {g: 0 for g in d.failing_gates} | {g: 1 for g in d.warning_gates if g not in d.failing_gates}
    reasons = sorted(d.reasons, key=lambda r: rank.get(_gate_of(r), 2))
    by_gate = {g.gate: g for g in outcome.gates}
    items = []
    for reason in reasons:
        gate = by_gate.get(_gate_of(reason))
        cls = ' class="fails"' if gate is not None and gate.gate in d.failing_gates else ""
        link = f' <a href="#gate-{escape(gate.gate)}">evidence</a>' if gate is not None else ""
        items.append(f"<li{cls}>{escape(reason)}{link}{_failed_checks(gate, reason)}</li>")
    message = ""
    if outcome.message and not all(r in outcome.message for r in d.reasons):
        message = f'<p class="summary">{escape(outcome.message)}</p>'
    return f'<section id="why"><h2>Why</h2>{message}<ol class="reasons">{"".join(items)}</ol></section>'


def _failed_checks(gate: GateResult | None, reason: str) -> str:
    """The gate's failed checks that the reason does not already name or spell out."""
    failed = [m for m in gate.measurements if m.passed is False] if gate is not None else []
    unsaid = [m for m in failed if m.name not in reason and not (m.note and m.note in reason)]
    if not unsaid:
        return ""
    items = "".join(f"<li><code>{escape(m.name)}</code>: {escape(m.note or 'failed')}</li>" for m in unsaid)
    return f'<ul class="checks">{items}</ul>'


def _facts(outcome: PromotionOutcome, names: Names, decided_at: str, data_summary: dict) -> str:
    d = outcome.decision
    facts: list[tuple[str, str]] = [
        ("model", outcome.model),
        ("candidate", names.candidate),
        ("champion judged against", names.champion or "none (first champion)"),
        ("champion after", f"v{outcome.champion_after}" if outcome.champion_after else "none"),
        ("verdict / outcome", f"{d.verdict.value} / {outcome.outcome.value}"),
        ("decided at", decided_at),
        ("failing gates", ", ".join(d.failing_gates) or "none"),
        ("warning gates", ", ".join(d.warning_gates) or "none"),
    ]
    if outcome.approval is not None:
        a = outcome.approval
        answer = "timed out" if a.timed_out else f"{'approved' if a.approved else 'refused'} by {a.approver}"
        facts.append(("approval", f"{a.kind.value}: {answer}{f' ({a.reason})' if a.reason else ''}"))
    if outcome.reused:
        facts.append(("re-run", "an earlier attempt with the same evidence already decided; nothing written"))
    facts += [(f"data: {k}", str(v)) for k, v in data_summary.items()]
    facts += [
        ("policy hash", outcome.policy_hash),
        ("evaluation key", outcome.evaluation_key or "-"),
        ("ledger run", outcome.ledger_run_id or "-"),
        ("flow run", outcome.flow_run_id or "-"),
    ]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f'<section id="facts"><h2>Attempt</h2><dl class="facts">{rows}</dl></section>'


def _badge(status: GateStatus) -> str:
    return f'<span class="badge {status.value}">{status.value}</span>'


def _gate_table(gates: list[GateResult]) -> str:
    rows = "".join(
        f'<tr data-gate="{escape(g.gate)}" data-status="{g.status.value}"><td><a href="#gate-{escape(g.gate)}">'
        f"{escape(g.gate)}</a></td><td>{_badge(g.status)}</td><td>{'yes' if g.blocking else 'no'}</td>"
        f"<td>{escape(g.summary)}</td></tr>"
        for g in gates
    )
    head = "<tr><th>gate</th><th>status</th><th>blocking</th><th>summary</th></tr>"
    return f'<section id="gates"><h2>Gates</h2><table><thead>{head}</thead><tbody>{rows}</tbody></table></section>'


def _href(target: str) -> str | None:
    """Targets a browser can open from the report: URLs and paths relative to it (not paths on a worker)."""
    if target.startswith(("http://", "https://", "file://")):
        return target
    if "://" not in target and not target.startswith("/") and " " not in target and "." in target:
        return target
    return None


def _links(links: dict[str, str], heading: str, section_id: str | None = None) -> str:
    if not links:
        return ""
    items = []
    for name, target in links.items():
        href = _href(target)
        shown = f'<a href="{escape(href)}">{escape(target)}</a>' if href else f"<code>{escape(target)}</code>"
        items.append(f"<li>{escape(name)}: {shown}</li>")
    attr = f' id="{section_id}"' if section_id else ""
    body = f"<ul>{''.join(items)}</ul>"
    return f"<section{attr}><h2>{heading}</h2>{body}</section>" if section_id else f"<h3>{heading}</h3>{body}"


def _gate_links(gate: str, links: dict[str, str]) -> dict[str, str]:
    words = GATE_LINK_WORDS.get(gate, (gate,))
    return {k: v for k, v in links.items() if any(w in k.lower() for w in words)}


def _gate_section(result: GateResult, names: Names, policy: PromotionPolicy | None, links: dict[str, str]) -> str:
    g, status = escape(result.gate), result.status.value
    blocking = "blocking" if result.blocking else "not blocking (a failure warns)"
    parts = [f'<h2>{_badge(result.status)}{g} <small class="blocking">{blocking}</small></h2>']
    parts.append(f'<p class="summary">{escape(result.summary)}</p>')
    if result.status is GateStatus.ERRORED and result.details.get("error"):
        parts.append(f'<pre class="error">{escape(str(result.details["error"]))}</pre>')
    if result.measurements or (result.details and result.status is not GateStatus.ERRORED):
        parts.append(section_body(result, names, policy))
    parts.append(_links(_gate_links(result.gate, links), "Reports"))
    attrs = f'class="gate {status}" id="gate-{g}" data-gate="{g}" data-status="{status}"'
    return f"<section {attrs}>{''.join(parts)}</section>"
