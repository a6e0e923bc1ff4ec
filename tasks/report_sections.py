"""The body of each gate's section in the HTML report: its chart(s), then its measurements.

Details are read defensively (`.get`), so a result from an older or newer gate still renders.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from gates.policy import BIAS_HIGHER_IS_BETTER, LOWER_IS_BETTER, MetricRule, PromotionPolicy
from gates.result import GateResult, Measurement
from tasks.report_charts import ForestRow, GroupPoint, epsilon_plot, forest_plot, group_plot, latency_plot
from tasks.report_data_sections import data_validation, drift
from tasks.report_tables import Names, bound, finite, measurement_table, num, table

RATES = (("selection_rate", "selection rate"), ("true_positive_rate", "true positive rate"))


def _interval(value: Any) -> tuple[float, float] | None:
    """A [low, high] pair of finite numbers, else None."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(finite(v) for v in value):
        return float(value[0]), float(value[1])
    return None


def _legend(names: Names) -> str:
    champ = f'<span class="key champion">champion {escape(names.champion)}</span>' if names.champion else ""
    return f'<p class="legend"><span class="key candidate">candidate {escape(names.candidate)}</span>{champ}</p>'


def _evaluation_rule(m: Measurement, rule: MetricRule | None) -> tuple[str, float | None, str]:
    """The rule as text (threshold and champion comparison), and where its bound sits on the difference axis."""
    parts = [bound("evaluation", m)] if m.threshold is not None else []
    if rule is None:
        return "; ".join(parts), None, ""
    sign, better, side = (-1, "fall", "below") if m.name in LOWER_IS_BETTER else (1, "gain", "above")
    at, label = None, ""
    if rule.min_absolute_change is not None:
        at, label = sign * rule.min_absolute_change, f"must {better} {rule.min_absolute_change:g}"
        parts.append(f"{better} &ge; {rule.min_absolute_change:g} with the interval {side} 0")
    if rule.min_relative_change is not None:
        parts.append(f"relative {better} &ge; {rule.min_relative_change:.1%} with the interval {side} 0")
    if rule.max_regression is not None:
        if at is None:
            at, label = -sign * rule.max_regression, f"may lose at most {rule.max_regression:g}"
        parts.append(f"whole interval {side} {-sign * rule.max_regression:+g} (non-inferiority)")
    return "; ".join(parts), at, label


def evaluation(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Forest plot of candidate-minus-champion with bootstrap intervals, then the metric table."""
    d = result.details
    policy_rules = policy.gates.evaluation.metrics if policy else {}
    rows, rules = [], {}
    for m in result.measurements:
        text, rule_at, rule_label = _evaluation_rule(m, policy_rules.get(m.name))
        if text:
            rules[m.name] = text
        if m.difference is not None:
            label = f"{m.name} (lower is better)" if m.name in LOWER_IS_BETTER else m.name
            rows.append(ForestRow(label, m.difference, m.interval_low, m.interval_high, m.passed, rule_at, rule_label))
    out = []
    if rows:
        confidence = d.get("confidence")
        level = f"{confidence:.0%} " if finite(confidence) else ""
        title = f"Candidate {names.candidate} minus champion {names.champion}: {level}bootstrap intervals"
        out.append(f"<h3>{escape(title)}</h3>")
        out.append(f'<div class="chart">{forest_plot(rows, title=title)}</div>')
        out.append('<p class="hint">Dot: difference on all rows; bar: interval; red dashes: the rule\'s bound.</p>')
    elif not d.get("has_champion", names.champion is not None):
        out.append('<p class="hint">No champion to compare against: judged on absolute thresholds only.</p>')
    facts = [f"{d['rows']:,} rows" if finite(d.get("rows")) else ""]
    if d.get("task"):
        facts.append(f"task {d['task']} ({d.get('task_reason') or 'binary'})")
    if isinstance(d.get("per_class_recall"), dict):
        recall = ", ".join(f"{k} {v:.3f}" for k, v in d["per_class_recall"].items() if finite(v))
        facts.append(f"recall per class: {recall}")
    if finite(d.get("mape_rows_left_out")) and d.get("mape_rows_left_out"):
        facts.append(f"{d['mape_rows_left_out']:,} rows with a target near zero left out of mape")
    if finite(d.get("resamples")) and d.get("resamples"):
        facts.append(f"{d['resamples']:,} paired bootstrap resamples")
    if finite(d.get("decision_threshold")):
        facts.append(f"decision threshold {d['decision_threshold']:g}")
    out.append(f'<p class="hint">{escape("; ".join(f for f in facts if f))}</p>')
    out.append(measurement_table(result, names, rules=rules))
    return "".join(out)


def bias(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Per audited feature: group rates (candidate above champion, intervals when given), then the checks."""
    out = [_legend(names)]
    for feature in result.details.get("features") or []:
        groups = feature.get("groups") or []
        out.append(f"<h3>{escape(str(feature.get('feature', '?')))}</h3>")
        if feature.get("skipped"):
            out.append(f'<p class="hint">Not judged: {escape(str(feature["skipped"]))}</p>')
        if feature.get("not_judged"):
            small = ", ".join(map(str, feature["not_judged"]))
            size = feature.get("min_group_size", "min_group_size")
            out.append(f'<p class="hint">Shown, not judged (fewer than {escape(str(size))} rows): {escape(small)}</p>')
        charts = []
        task_metrics = result.details.get("group_metrics")
        shown = RATES if not task_metrics else [(k, str(k).replace("_", " ")) for k in task_metrics[:2]]
        for key, label in shown:
            points = [
                GroupPoint(
                    label=f"{g.get('group')} (n={g.get('size', '?')})",
                    candidate=g.get(key) if finite(g.get(key)) else None,
                    champion=g.get(f"champion_{key}") if finite(g.get(f"champion_{key}")) else None,
                    candidate_interval=_interval(g.get(f"{key}_interval")),
                    champion_interval=_interval(g.get(f"champion_{key}_interval")),
                    judged=bool(g.get("judged", True)),
                )
                for g in groups
            ]
            if points:
                charts.append(group_plot(points, title=label, names=(names.candidate, names.champion or "")))
        out.append(f'<div class="charts">{"".join(charts)}</div>')
        out.append(_group_table(groups, names, result.details.get("group_metrics")))
    rules, verdicts = {}, {}
    ops = {m.name: ">=" if m.name.rsplit(": ", 1)[-1] in BIAS_HIGHER_IS_BETTER else "<=" for m in result.measurements}
    for feature in result.details.get("features") or []:
        for metric, entry in (feature.get("metrics") or {}).items():
            name = f"{feature.get('feature')}: {metric}"
            checks = entry.get("checks") or []
            words = [str(c.get("verdict")) for c in checks]
            verdicts[name] = next((w for w in ("fail", "inconclusive") if w in words), "pass").replace("fail", "FAIL")
            m = next((m for m in result.measurements if m.name == name), None)
            limit = [bound("bias", m, ops[name])] if m is not None and m.threshold is not None else []
            others = [escape(str(c.get("check"))) for c in checks if not str(c.get("check")).startswith(("<", ">"))]
            rules[name] = "; ".join(limit + others) or '<span class="na">-</span>'
    out.append("<h3>Fairness checks</h3>")
    label = "worsening vs champion (+ = worse) [interval]"
    out.append(
        measurement_table(
            result,
            names,
            rules=rules,
            verdicts=verdicts,
            difference_label=label,
            relative_label="relative worsening (%)",
        )
    )
    return "".join(out)


def _group_table(groups: list[dict], names: Names, metrics: list[str] | None = None) -> str:
    headers = ["group", "rows", "judged"]
    cols = tuple(metrics or ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"))
    for c in cols:
        headers += [f"{c.replace('_', ' ')} {names.candidate}"] + ([names.champion] if names.champion else [])
    rows = []
    for g in groups:
        cells = [escape(str(g.get("group"))), escape(str(g.get("size", ""))), "yes" if g.get("judged", True) else "no"]
        for c in cols:
            for key in (c, f"champion_{c}") if names.champion else (c,):
                cells.append(num(None, g[key]) if finite(g.get(key)) else "-")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<details><summary>Every group's rates</summary>{table(headers, rows, 'compact')}</details>"


def robustness(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Robust accuracy against epsilon per attack (candidate on top of champion), then every check."""
    d = result.details
    cand = d.get("candidate") or {}
    champ = d.get("champion") or {}
    floors: dict[str, dict[str, float]] = {}
    for m in result.measurements:
        attack, _, eps = m.name.partition("@")
        if m.threshold is not None:
            floors.setdefault(attack, {})[eps] = m.threshold
    out = [_legend(names)]
    clean = [f"candidate {names.candidate} {cand['clean_accuracy']:.3f}" if finite(cand.get("clean_accuracy")) else ""]
    if finite(champ.get("clean_accuracy")):
        clean.append(f"champion {names.champion} {champ['clean_accuracy']:.3f}")
    out.append(f'<p class="hint">Clean accuracy: {escape(", ".join(c for c in clean if c))}. '
               f'{escape(str(cand.get("white_box_note") or ""))}</p>')  # fmt: skip
    panels = [
        epsilon_plot(
            attack,
            by_eps,
            (champ.get("white_box") or {}).get(attack),
            floors.get(attack, {}),
            names=(names.candidate, names.champion or ""),
        )
        for attack, by_eps in (cand.get("white_box") or {}).items()
        if by_eps
    ]
    if panels:
        out.append(f'<div class="charts">{"".join(panels)}</div>')
    rules = {}
    if policy is not None:
        p = policy.gates.robustness
        for m in result.measurements:
            parts = [bound("robustness", m)] if m.threshold is not None else []
            if p.max_drop is not None:
                parts.append(f"drop from clean &le; {p.max_drop:g}")
            if p.max_worse_than_champion is not None and names.champion:
                parts.append(f"at most {p.max_worse_than_champion:g} below the champion")
            if p.max_flip_rate is not None and "flip rate" in m.note:
                parts.append(f"flip rate &le; {p.max_flip_rate:g}")
            rules[m.name] = "; ".join(parts)
    out.append(measurement_table(result, names, rules=rules))
    return "".join(out)


def latency(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """p95 per batch size, candidate against champion and the SLO, then the table."""
    d = result.details
    env = d.get("environment") or {}
    device = f"{env.get('device', '?')} ({env.get('device_name', '?')})"
    extra = ", ".join(f"{k} {env[k]}" for k in ("torch", "threads", "timed") if env.get(k) is not None)
    text = f"Timed in {d.get('mode', '?')} mode on {device}; {extra}. {d.get('note') or ''}"
    out = [_legend(names), f'<p class="hint">{escape(text)}</p>']
    champ = {s.get("batch_size"): s for s in d.get("champion") or []}
    slo = {m.name: m.threshold for m in result.measurements}
    plots = []
    for s in d.get("candidate") or []:
        batch = s.get("batch_size")
        other = champ.get(batch, {}).get("p95_ms")
        if finite(s.get("p95_ms")):
            limit = slo.get(f"p95_ms@batch{batch}")
            plots.append(latency_plot(batch, s["p95_ms"], other, limit, names=(names.candidate, names.champion or "")))
    if plots:
        out.append(f'<div class="charts">{"".join(plots)}</div>')
    rules = {}
    if policy is not None and policy.gates.latency.max_regression is not None and names.champion:
        allowed = policy.gates.latency.max_regression
        for m in result.measurements:
            slo_text = bound("latency", m, unit=" ms")
            rules[m.name] = "; ".join(p for p in (slo_text, f"at most {allowed:+.0%} vs the champion") if p)
    label = "difference (candidate - champion, ms)"
    out.append(measurement_table(result, names, rules=rules, unit=" (p95 ms)", difference_label=label))
    return "".join(out)


def integration(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Each check with its captured detail, then the timings."""
    checks = [m for m in result.measurements if m.passed is not None]
    timings = [m for m in result.measurements if m.passed is None]
    rows = []
    for m in sorted(checks, key=lambda m: bool(m.passed)):
        key = escape(f"integration.{m.name}.candidate")
        word, cls = ("pass", "pass") if m.passed else ("FAIL", "fail")
        mark = f'<span data-metric="{key}" data-value="{m.value!r}" data-format="passfail">{word}</span>'
        cells = f'<td><code>{escape(m.name)}</code></td><td class="result {cls}">{mark}</td>'
        rows.append(f'<tr>{cells}<td class="note">{escape(m.note)}</td></tr>')
    out = [table(["check", "result", "detail"], rows, "measurements")] if rows else []
    if timings:
        cells = [f"<tr><td><code>{escape(m.name)}</code></td><td>{num(f'integration.{m.name}.candidate', m.value)} s"
                 "</td></tr>" for m in timings]  # fmt: skip
        out.append(table(["step", "seconds"], cells, "compact"))
    return "".join(out)


def generic(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """Any other gate: its measurements."""
    return measurement_table(result, names) if result.measurements else ""


SECTIONS: dict[str, Callable[[GateResult, Names, PromotionPolicy | None], str]] = {
    "evaluation": evaluation,
    "bias": bias,
    "robustness": robustness,
    "latency": latency,
    "data_validation": data_validation,
    "drift": drift,
    "integration": integration,
}


def section_body(result: GateResult, names: Names, policy: PromotionPolicy | None) -> str:
    """The gate's own rendering, or the generic one; a rendering fault shows the measurements and says so
    (the report must never stop a decision from being recorded)."""
    try:
        return SECTIONS.get(result.gate, generic)(result, names, policy)
    except Exception as exc:
        note = f"The charts of this gate could not be drawn ({type(exc).__name__}: {exc}); its measurements follow."
        return f'<p class="hint">{escape(note)}</p>' + generic(result, names, policy)
