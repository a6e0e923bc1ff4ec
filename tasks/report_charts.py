"""Inline SVG charts for the HTML report: hand-built, no scripts, no fonts or files fetched."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

CANDIDATE = "#1d4ed8"
CHAMPION = "#c2410c"
FAIL = "#b91c1c"
PASS = "#15803d"
MUTED = "#6b7280"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


@dataclass(frozen=True)
class ForestRow:
    """One metric: candidate-minus-champion estimate, its interval, and the rule's line (if any)."""

    label: str
    estimate: float
    low: float | None
    high: float | None
    passed: bool | None
    rule_at: float | None = None  # where the rule's bound lies on the difference axis
    rule_label: str = ""


@dataclass(frozen=True)
class GroupPoint:
    """One group's rate for candidate and champion, with optional intervals."""

    label: str
    candidate: float | None
    champion: float | None = None
    candidate_interval: tuple[float, float] | None = None
    champion_interval: tuple[float, float] | None = None
    judged: bool = True


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "start", fill: str = "#111827", **kw) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
        f"{escape(text)}</text>"
    )


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg role="img" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" {FONT}><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def nice_step(span: float, count: int = 5) -> float:
    """A 1/2/2.5/5 x 10^k step that cuts span into about `count` parts."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def nice_range(values: Sequence[float], *, floor: float | None = None, ceiling: float | None = None) -> list[float]:
    """Tick positions covering the values, widened to round numbers, clipped to [floor, ceiling]."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-12:
        pad = abs(high) * 0.1 or 0.05
        low, high = low - pad, high + pad
    step = nice_step(high - low)
    start, stop = math.floor(low / step) * step, math.ceil(high / step) * step
    if floor is not None:
        start = max(start, floor)
    if ceiling is not None:
        stop = min(stop, ceiling)
    count = round((stop - start) / step)
    return [round(start + i * step, 10) for i in range(count + 1)] or [start, stop]


def _tick_label(value: float, step: float, percent: bool) -> str:
    if percent:
        decimals = max(0, -math.floor(math.log10(step * 100))) if step * 100 < 1 else 0
        return f"{value * 100:.{decimals}f}%"
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


def _x_axis(
    ticks: list[float], scale, top: float, bottom: float, percent: bool = False, grid: bool = True
) -> list[str]:
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    out = []
    for t in ticks:
        x = scale(t)
        if grid:
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top:.1f}" y2="{bottom:.1f}" stroke="#e5e7eb"/>')
        out.append(_text(x, bottom + 15, _tick_label(t, step, percent), size=11, anchor="middle", fill=MUTED))
    return out


def forest_plot(rows: Sequence[ForestRow], *, title: str, width: int = 920) -> str:
    """Differences with intervals, one row per metric; zero and each rule's bound marked."""
    label_w = max(140, 7.2 * max(len(r.label) for r in rows) + 16)
    value_w = 250
    row_h, top = 34, 28
    left, right = label_w, width - value_w
    bottom = top + row_h * len(rows)
    values = [0.0] + [v for r in rows for v in (r.estimate, r.low, r.high, r.rule_at) if v is not None]
    ticks = nice_range(values)
    lo, hi = ticks[0], ticks[-1]

    def scale(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    body = _x_axis(ticks, scale, top - 6, bottom)
    body.append(f'<line x1="{scale(0):.1f}" x2="{scale(0):.1f}" y1="{top - 8}" y2="{bottom}" stroke="#111827"/>')
    body.append(_text(scale(0), top - 12, "no difference", size=11, anchor="middle", fill=MUTED))
    body.append(_text(right + 12, top - 12, "difference [interval]", size=11, fill=MUTED))
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        colour = FAIL if r.passed is False else PASS if r.passed else CANDIDATE
        body.append(_text(label_w - 10, y + 4, r.label, anchor="end", size=13))
        if r.rule_at is not None:
            x = scale(r.rule_at)
            body.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 12:.1f}" y2="{y + 12:.1f}" stroke="{FAIL}" '
                'stroke-width="2" stroke-dasharray="3 2"/>'
            )
        if r.low is not None and r.high is not None:
            body.append(
                f'<line x1="{scale(r.low):.1f}" x2="{scale(r.high):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="3"/>'
            )
        body.append(f'<circle cx="{scale(r.estimate):.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>')
        interval = "" if r.low is None or r.high is None else f" [{r.low:+.4f}, {r.high:+.4f}]"
        body.append(_text(right + 12, y + 4, f"{r.estimate:+.4f}{interval}", size=12, fill=colour))
        if r.rule_label:
            body.append(_text(right + 12, y + 16, r.rule_label, size=10, fill=MUTED))
    body.append(_text(left, bottom + 32, "<- candidate lower", size=11, fill=MUTED))
    body.append(_text(right, bottom + 32, "candidate higher ->", size=11, anchor="end", fill=MUTED))
    return _svg(width, bottom + 40, body, title)


def group_plot(points: Sequence[GroupPoint], *, title: str, names: tuple[str, str], plot_width: int = 240) -> str:
    """Per-group rate as dots (candidate above, champion below) with intervals; the axis fits the data."""
    label_w = max(90, 6.8 * max(len(p.label) for p in points) + 14)
    width = label_w + plot_width + 92
    row_h, top = 40, 34
    left, right = label_w, width - 92
    bottom = top + row_h * len(points)
    values = [v for p in points for v in (p.candidate, p.champion) if v is not None]
    values += [v for p in points for iv in (p.candidate_interval, p.champion_interval) if iv for v in iv]
    rates = not values or max(values) <= 1.0
    ticks = nice_range(
        [0.0, *values] if values and max(values) > 0 else [0.0, 0.1], floor=0.0, ceiling=1.0 if rates else None
    )
    lo, hi = ticks[0], ticks[-1]

    def scale(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * (right - left)

    body = [_text(4, 16, title, size=13, font_weight="600")]
    body += _x_axis(ticks, scale, top - 4, bottom, percent=rates)
    body.append(f'<line x1="{left}" x2="{left}" y1="{top - 4}" y2="{bottom}" stroke="#9ca3af"/>')
    for i, p in enumerate(points):
        y = top + row_h * i + row_h / 2
        body.append(_text(label_w - 8, y + 4, p.label, anchor="end", size=12, fill="#111827" if p.judged else MUTED))
        if i:
            body.append(f'<line x1="4" x2="{width - 4}" y1="{y - row_h / 2:.1f}" y2="{y - row_h / 2:.1f}" '
                        'stroke="#f3f4f6"/>')  # fmt: skip
        for offset, value, interval, colour, name in (
            (-7, p.candidate, p.candidate_interval, CANDIDATE, names[0]),
            (7, p.champion, p.champion_interval, CHAMPION, names[1]),
        ):
            if value is None and offset > 0:
                continue
            yy = y + offset
            if interval:
                body.append(
                    f'<line x1="{scale(interval[0]):.1f}" x2="{scale(interval[1]):.1f}" y1="{yy:.1f}" y2="{yy:.1f}" '
                    f'stroke="{colour}" stroke-width="2.5" opacity="0.55"/>'
                )
            if value is None:
                body.append(_text(left + 4, yy + 4, f"{name}: n/a", size=11, fill=MUTED))
                continue
            mark = (
                f'<circle cx="{scale(value):.1f}" cy="{yy:.1f}" r="5" fill="{colour}"/>'
                if offset < 0
                else f'<rect x="{scale(value) - 4.5:.1f}" y="{yy - 4.5:.1f}" width="9" height="9" fill="{colour}"/>'
            )
            body.append(mark)
            body.append(
                _text(
                    right + 8,
                    yy + 4,
                    f"{name} {value * 100:.1f}%" if rates else f"{name} {value:.4g}",
                    size=11,
                    fill=colour,
                )
            )
    return _svg(width, bottom + 22, body, title)


def epsilon_plot(
    attack: str,
    candidate: dict[str, float],
    champion: dict[str, float] | None,
    floors: dict[str, float],
    *,
    names: tuple[str, str],
    width: int = 340,
) -> str:
    """Robust accuracy per epsilon: champion drawn first (hollow, dashed), candidate on top (filled)."""
    eps = sorted(set(candidate) | set(champion or {}), key=float)
    top, bottom, left, right = 30, 230, 46, width - 14
    values = [*candidate.values(), *(champion or {}).values(), *floors.values()]
    ticks = nice_range(values, floor=0.0, ceiling=1.0)
    lo, hi = ticks[0], ticks[-1]

    def y_of(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    def x_of(e: str) -> float:
        return left + (right - left) * (eps.index(e) + 0.5) / len(eps)

    step = ticks[1] - ticks[0] if len(ticks) > 1 else 0.1
    body = [_text(left, 16, attack, size=13, font_weight="600")]
    for t in ticks:
        body.append(f'<line x1="{left}" x2="{right}" y1="{y_of(t):.1f}" y2="{y_of(t):.1f}" stroke="#e5e7eb"/>')
        body.append(_text(left - 6, y_of(t) + 4, _tick_label(t, step, False), size=11, anchor="end", fill=MUTED))
    for e in eps:
        body.append(_text(x_of(e), bottom + 16, f"eps {e}", size=11, anchor="middle", fill=MUTED))
        if e in floors:
            y = y_of(floors[e])
            body.append(f'<line x1="{x_of(e) - 22:.1f}" x2="{x_of(e) + 22:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                        f'stroke="{FAIL}" stroke-width="2" stroke-dasharray="4 2"/>')  # fmt: skip
            body.append(_text(x_of(e) + 24, y + 4, f"floor {floors[e]:g}", size=10, fill=FAIL))
    series = [(champion or {}, CHAMPION, names[1], False), (candidate, CANDIDATE, names[0], True)]
    for data, colour, _name, filled in series:
        pts = [(x_of(e), y_of(data[e])) for e in eps if e in data]
        if len(pts) > 1:
            dash = "" if filled else ' stroke-dasharray="6 4"'
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
    for e in eps:
        cand, champ = candidate.get(e), (champion or {}).get(e)
        if champ is not None:
            y = y_of(champ)
            body.append(f'<rect x="{x_of(e) - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="white" '
                        f'stroke="{CHAMPION}" stroke-width="2"/>')  # fmt: skip
        if cand is not None:
            body.append(f'<circle cx="{x_of(e):.1f}" cy="{y_of(cand):.1f}" r="4.5" fill="{CANDIDATE}"/>')
        above = cand if champ is None or (cand is not None and cand >= champ) else champ
        for value, colour, name in ((cand, CANDIDATE, names[0]), (champ, CHAMPION, names[1])):
            if value is None:
                continue
            dy = -12 if value == above else 20
            body.append(_text(x_of(e), y_of(value) + dy, f"{name} {value:.3f}", size=11, anchor="middle", fill=colour))
    return _svg(width, bottom + 26, body, f"{attack}: robust accuracy against epsilon")


def latency_plot(
    batch: int, candidate_ms: float, champion_ms: float | None, slo_ms: float | None, *, names: tuple[str, str]
) -> str:
    """p95 latency at one batch size: candidate and champion bars, the SLO as a dashed line."""
    width, left, right, top = 300, 70, 230, 30
    bars = [(names[0], candidate_ms, CANDIDATE)] + ([(names[1], champion_ms, CHAMPION)] if champion_ms else [])
    bottom = top + 30 * len(bars)
    ticks = nice_range([0.0, candidate_ms, champion_ms or 0.0, slo_ms or 0.0], floor=0.0)
    hi = ticks[-1]

    def scale(v: float) -> float:
        return left + v / hi * (right - left)

    body = [_text(4, 16, f"batch {batch}: p95 ms", size=13, font_weight="600")]
    body += _x_axis(ticks[:: max(1, len(ticks) // 4)], scale, top - 4, bottom)
    for i, (name, value, colour) in enumerate(bars):
        y = top + 30 * i + 4
        body.append(_text(left - 6, y + 15, name, anchor="end", size=12))
        body.append(
            f'<rect x="{left}" y="{y}" width="{max(scale(value) - left, 1.5):.1f}" height="20" fill="{colour}"/>'
        )
        body.append(_text(scale(value) + 4, y + 15, f"{value:.3f}", size=11, fill=colour))
    if slo_ms:
        x = scale(slo_ms)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{bottom}" stroke="{FAIL}" '
                    'stroke-width="2" stroke-dasharray="4 2"/>')  # fmt: skip
        body.append(_text(x, bottom + 30, f"SLO {slo_ms:g} ms", size=11, anchor="middle", fill=FAIL))
    return _svg(width, bottom + 36, body, f"batch {batch}: p95 latency")
