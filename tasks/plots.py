"""PNG plots kept with the evidence (the HTML report draws its own SVG charts)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

CANDIDATE = "#1d4ed8"
CHAMPION = "#c2410c"
RATES = (("selection_rate", "selection rate"), ("true_positive_rate", "true positive rate"))
FONT = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10}


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported when a plot is drawn (it costs seconds at start-up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=None)


def _value(row: dict, key: str) -> float:
    v = row.get(key)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else float("nan")


def _errors(groups: list[dict], key: str, values: list[float]) -> np.ndarray | None:
    """Asymmetric error bars from `<key>_interval` pairs, when every group has one."""
    pairs = [g.get(f"{key}_interval") for g in groups]
    if not all(isinstance(p, (list, tuple)) and len(p) == 2 and None not in p for p in pairs):
        return None
    low = [max(v - p[0], 0.0) for v, p in zip(values, pairs, strict=True)]
    high = [max(p[1] - v, 0.0) for v, p in zip(values, pairs, strict=True)]
    return np.array([low, high])


def _upper(values: list[float]) -> float:
    """A round upper limit a little above the data (rates of a few % get a scale of a few %)."""
    top = max([v for v in values if math.isfinite(v)] or [0.0])
    if top <= 0:
        return 0.05
    step = 10 ** math.floor(math.log10(top))
    return min(1.0, math.ceil(top * 1.1 / step) * step) if top < 1 else 1.0


def group_rates_plot(features: list[dict], path: Path) -> Path:
    """Per-group selection rate and TPR, candidate vs champion, one row of panels per audited feature.

    Horizontal bars with their values written beside them; a zero rate is drawn as a tick at 0 with
    "0.0%", and the axis stops a little above the largest rate (or interval) in the panel.
    """
    rows = max(len(features), 1)
    heights = [1.2 + 0.55 * max(len(f["groups"]), 1) for f in features] or [2.0]
    plt = _pyplot()
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(rows, 2, figsize=(14, sum(heights) + 0.6), squeeze=False, height_ratios=heights)
        for row, feature in enumerate(features):
            groups = feature["groups"]
            labels = [f"{g['group']} (n={g.get('size', '?')}){'' if g.get('judged', True) else ' *'}" for g in groups]
            y = np.arange(len(groups))
            has_champion = any(f"champion_{RATES[0][0]}" in g for g in groups)
            for col, (key, title) in enumerate(RATES):
                ax = axes[row][col]
                series = [("candidate", key, CANDIDATE)]
                if has_champion:
                    series.append(("champion", f"champion_{key}", CHAMPION))
                height = 0.8 / len(series)
                limits = []
                for i, (name, k, colour) in enumerate(series):
                    values = [_value(g, k) for g in groups]
                    errors = _errors(groups, k, values)
                    pos = y - 0.4 + height * (i + 0.5)
                    ax.barh(pos, np.nan_to_num(values), height * 0.9, color=colour, label=name,
                            xerr=errors, error_kw={"ecolor": "#374151", "capsize": 3, "lw": 1})  # fmt: skip
                    ends = values if errors is None else [v + e for v, e in zip(values, errors[1], strict=True)]
                    limits += values + ends
                    for p, v, end in zip(pos, values, ends, strict=True):
                        if math.isnan(v):
                            ax.text(0, p, " n/a", va="center", fontsize=10, color="#6b7280")
                            continue
                        if v == 0:
                            ax.plot([0, 0], [p - height * 0.45, p + height * 0.45], color=colour, lw=3)
                        ax.text(max(v, end), p, f"  {v:.1%}", va="center", fontsize=10, color=colour)
                upper = _upper(limits)
                ax.set_xlim(-upper * 0.015, upper * 1.22)  # a zero rate's tick stands clear of the axis
                ax.set_xticks([t for t in ax.get_xticks() if -1e-9 <= t <= 1.0 + 1e-9])
                ax.xaxis.set_major_formatter(_percent())
                ax.set_yticks(y, labels)
                ax.invert_yaxis()
                ax.set_title(f"{feature['feature']}: {title}", loc="left")
                ax.grid(axis="x", color="#e5e7eb")
                ax.set_axisbelow(True)
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="upper left", ncols=2, frameon=False)
        fig.text(0.01, 0.005, "* group smaller than min_group_size: shown, not judged", fontsize=10)
        fig.tight_layout(rect=(0, 0.02, 1, 1 - 0.35 / (sum(heights) + 0.6)))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return path


def robustness_plot(
    candidate: dict[str, dict[str, float]], champion: dict[str, dict[str, float]] | None, path: Path
) -> Path:
    """Robust accuracy vs epsilon per attack: champion hollow squares (dashed) under candidate dots (solid).

    Every point carries its value; one epsilon is drawn at the middle of its own axis; the y axis fits the data.
    """
    plt = _pyplot()
    with plt.rc_context(FONT):
        fig, axes = plt.subplots(1, len(candidate), figsize=(5 * len(candidate), 4.2), squeeze=False)
        for ax, (attack, by_eps) in zip(axes[0], candidate.items(), strict=True):
            other = (champion or {}).get(attack, {})
            eps = sorted(set(by_eps) | set(other), key=float)
            x = {e: i for i, e in enumerate(eps)}  # evenly spaced, so one epsilon still gets a readable axis
            values = [*by_eps.values(), *other.values()]
            if other:
                ce = [e for e in eps if e in other]
                ax.plot([x[e] for e in ce], [other[e] for e in ce], "s--", color=CHAMPION, mfc="white", ms=12,
                        mew=2, lw=2, label="champion", zorder=2)  # fmt: skip
            ke = [e for e in eps if e in by_eps]
            ax.plot([x[e] for e in ke], [by_eps[e] for e in ke], "o-", color=CANDIDATE, ms=7, lw=2,
                    label="candidate", zorder=3)  # fmt: skip
            for e in eps:
                cand, champ = by_eps.get(e), other.get(e)
                cand_above = champ is None or (cand is not None and cand >= champ)
                for value, colour, up in ((cand, CANDIDATE, cand_above), (champ, CHAMPION, not cand_above)):
                    if value is not None:
                        ax.annotate(f"{value:.3f}", (x[e], value), xytext=(0, 12 if up or cand is None else -18),
                                    textcoords="offset points", ha="center", color=colour, fontsize=10)  # fmt: skip
            low, high = min(values), max(values)
            pad = max((high - low) * 0.25, 0.02)
            ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))
            ax.set_xlim(-0.6, len(eps) - 0.4)
            ax.set_xticks(range(len(eps)), [f"eps {e}" for e in eps])
            ax.set_title(attack, loc="left")
            ax.set_xlabel("epsilon (std units)")
            ax.set_ylabel("robust accuracy")
            ax.grid(axis="y", color="#e5e7eb")
            handles, names = ax.get_legend_handles_labels()
            ax.legend(handles[::-1], names[::-1], loc="best")  # candidate first
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return path
