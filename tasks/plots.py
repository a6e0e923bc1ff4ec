"""Plots kept with the evidence."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def group_rates_plot(features: list[dict], path: Path) -> Path:
    """Per-group selection rate and TPR, candidate vs champion, one row of panels per audited feature."""
    rows = max(len(features), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.2 * rows), squeeze=False)
    for row, feature in enumerate(features):
        groups = feature["groups"]
        labels = [f"{g['group']}{'' if g['judged'] else ' *'}" for g in groups]
        x = np.arange(len(groups))
        for col, rate in enumerate(("selection_rate", "true_positive_rate")):
            ax = axes[row][col]
            cand = [g[rate] if g[rate] is not None else np.nan for g in groups]
            ax.bar(x - 0.2, cand, 0.4, label="candidate")
            if groups and f"champion_{rate}" in groups[0]:
                champ = [g[f"champion_{rate}"] if g[f"champion_{rate}"] is not None else np.nan for g in groups]
                ax.bar(x + 0.2, champ, 0.4, label="champion")
            ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=7)
            ax.set_title(f"{feature['feature']}: {rate.replace('_', ' ')}", fontsize=9)
            ax.set_ylim(0, 1)
            ax.legend(fontsize=7)
    fig.text(0.01, 0.005, "* group smaller than min_group_size: shown, not judged", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def robustness_plot(
    candidate: dict[str, dict[str, float]], champion: dict[str, dict[str, float]] | None, path: Path
) -> Path:
    """Robust accuracy vs epsilon per attack, candidate (solid) and champion (dashed)."""
    fig, axes = plt.subplots(1, len(candidate), figsize=(4.5 * len(candidate), 3.4), squeeze=False)
    for ax, (attack, by_eps) in zip(axes[0], candidate.items(), strict=True):
        eps = sorted(by_eps, key=float)
        ax.plot([float(e) for e in eps], [by_eps[e] for e in eps], "o-", label="candidate")
        if champion and attack in champion:
            ce = sorted(champion[attack], key=float)
            ax.plot([float(e) for e in ce], [champion[attack][e] for e in ce], "s--", label="champion")
        ax.set_title(attack, fontsize=9)
        ax.set_xlabel("epsilon (std units)")
        ax.set_ylabel("robust accuracy")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
