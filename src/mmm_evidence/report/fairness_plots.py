"""Figures of the fairness notebook and the fairness section of the model card (matplotlib,
imported on first use). Suppressed (small-cell) groups are never drawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mmm_evidence.evaluation.fairness import SEGMENT, FairnessAssessment

_PASS, _FAIL, _NA = "#1b7f3b", "#b3261e", "#5f6368"
_OVER, _UNDER, _NEUTRAL = "#C44E52", "#4C72B0", "#8C8C8C"
_LABELS = {"mape": "holdout MAPE", "normalised_bias": "normalised bias",
           "uplift_error": "uplift error vs truth"}
_GAP_LABELS = {"mape": "MAPE max/min − 1", "normalised_bias": "bias max − min",
               "uplift_error": "uplift error max − min"}

__all__ = ["group_metrics", "uplift_vs_truth", "parity_gaps", "labelled_points", "MAX_LABELS"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _shown(a: FairnessAssessment, grouping: str):
    table = a.table(grouping)
    return table[~table["suppressed"]]


def group_metrics(a: FairnessAssessment, grouping: str = SEGMENT):
    """One row of panels for a grouping: holdout MAPE, normalised bias and (with truth) the
    uplift's relative error per group, the gap in each title; suppressed groups left out."""
    plt = _plt()
    table = _shown(a, grouping)
    metrics = ["mape", "normalised_bias"] + (["uplift_error"] if a.uplift is not None else [])
    gaps = a.gaps()[grouping]
    height = 0.28 * max(len(table), 3) + 1.3
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), height),
                             squeeze=False, sharey=True)
    y = np.arange(len(table))
    for ax, metric in zip(axes[0], metrics, strict=True):
        values = table[metric].to_numpy(dtype=float)
        if metric == "mape":
            colors = [_NEUTRAL] * len(values)
            shown = 100 * values
        else:
            colors = [_OVER if v > 0 else _UNDER for v in values]
            shown = 100 * values
            ax.axvline(0, color="#222", lw=0.8)
        ax.barh(y, shown, color=colors)
        g = gaps.get(metric) or {}
        gap = g.get("gap")
        title = _LABELS[metric] + (f"\n{_GAP_LABELS[metric]}: {gap:.3g}" if gap is not None
                                   and np.isfinite(gap) else "")
        ax.set_title(title, loc="left", fontsize=9)
        ax.set_xlabel("%")
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].set_yticks(y, list(table.index), fontsize=8)
    axes[0][0].invert_yaxis()
    hidden = len(a.hidden.get(grouping, []))
    note = f" ({hidden} suppressed: fewer than k = {a.k} individuals)" if hidden else ""
    fig.suptitle(f"{a.tenant}: by {grouping}{note}; red = over-predicted / over-stated, "
                 f"blue = under", x=0.01, ha="left", fontsize=10)
    # keep the top 0.55 inch for the title: tight_layout alone let it run into the panels'
    # titles on a tall figure (100 segments)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / height))
    return fig


#: Above this many segments the uplift scatter labels only the largest errors (more labels
#: pile on each other).
MAX_LABELS = 12


def labelled_points(errors, limit: int = MAX_LABELS) -> list[int]:
    """Indices of the points to label: every one up to ``limit``, else the ``limit`` with the
    largest |error| (the highest and lowest error, the ends of the gap, among them), in
    their order."""
    errors = np.asarray(errors, dtype=float)
    if errors.size <= limit:
        return list(range(errors.size))
    magnitude = np.where(np.isfinite(errors), np.abs(errors), -np.inf)
    ends = [int(np.nanargmax(np.where(np.isfinite(errors), errors, -np.inf))),
            int(np.nanargmin(np.where(np.isfinite(errors), errors, np.inf)))]
    ranked = [int(i) for i in np.argsort(-magnitude, kind="stable")]
    chosen = list(dict.fromkeys(ends + ranked))[:limit]
    return sorted(chosen)


def uplift_vs_truth(a: FairnessAssessment):
    """Per segment: the model's uplift of +10 % spend (relative to its KPI) against the
    truth's; on the diagonal the model states the segment's uplift right."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 5.0))
    if a.uplift is None:
        ax.axis("off")
        ax.text(0.0, 0.5, f"no uplift truth: {a.uplift_note}", va="center")
        return fig
    table = _shown(a, SEGMENT)
    x = 100 * table["true_relative"].to_numpy(dtype=float)
    y = 100 * table["predicted_relative"].to_numpy(dtype=float)
    err = table["uplift_error"].to_numpy(dtype=float)
    ax.scatter(x, y, c=[_OVER if e > 0 else _UNDER for e in err], s=36, zorder=3)
    labelled = labelled_points(err, MAX_LABELS)
    for i in labelled:
        ax.annotate(str(table.index[i]), (x[i], y[i]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    both = np.concatenate([x, y])
    lo, hi = (float(np.nanmin(both)), float(np.nanmax(both))) if both.size else (0.0, 1.0)
    pad = 0.08 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#222", lw=0.8, ls="--")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("true uplift of +10 % spend (% of KPI)")
    ax.set_ylabel("model's uplift (% of KPI)")
    gap = a.gaps()[SEGMENT].get("uplift_error", {}).get("gap")
    ax.set_title(f"{a.tenant}: segment uplift vs truth" + (
        f"\nuplift error gap (max − min) {gap:.3g}" if gap is not None else "")
        + (f"; labelled: the {len(labelled)} largest errors" if len(labelled) < len(err)
           else ""), loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def parity_gaps(checks: Sequence[Mapping[str, Any]], title: str = ""):
    """Every judged gap as a share of its threshold (``gates.parity_checks`` rows): bars left
    of the dashed line at 1 pass. Used by the notebook and the model card."""
    plt = _plt()
    rows = [c for c in checks if c.get("threshold")]
    fig, ax = plt.subplots(figsize=(7.2, 0.3 * max(len(rows), 3) + 1.1))
    if not rows:
        ax.axis("off")
        ax.text(0.0, 0.5, "no gap to judge (fewer than two groups)", va="center")
        return fig
    shares = []
    for c in rows:
        gap = c.get("gap")
        share = np.inf if gap is None else float(gap) / float(c["threshold"])
        shares.append(min(share, 3.0))
    colors = [_PASS if c.get("passed") else _FAIL for c in rows]
    y = np.arange(len(rows))
    ax.barh(y, shares, color=colors)
    ax.axvline(1.0, color="#222", lw=1, ls="--")
    ax.set_yticks(y, [f"{c['grouping']} · {_GAP_LABELS.get(c['metric'], c['metric'])}"
                      for c in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(3.0 if max(shares) >= 3.0 else 0, max(shares) * 1.1, 1.2))
    ax.set_xlabel("gap / threshold (left of the dashed line passes; clipped at 3)")
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
