"""Figures of the importance notebook: SHAP beeswarm and bar plots (shap's own), dependence
plots with the MMM's curve beside the surrogate's SHAP values, and the three-way comparison.

shap and matplotlib are imported on first use. SHAP values are shown in KPI per segment-week
(the per-capita values times the row's segment size) — the unit of the importance table —
except in the dependence plots, which stay per capita so the MMM's response is one curve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mmm_evidence.evaluation.importance import (
    CHANNEL,
    ImportanceResult,
    import_shap,
    mmm_channel_curve,
)

__all__ = ["COMPARISON_MEASURES", "shap_explanation", "shap_beeswarm", "shap_bar",
           "dependence_plots", "importance_comparison"]

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#8C8C8C")
#: The measures of the comparison plot, with their labels (and the importance card's).
COMPARISON_MEASURES = (
    ("mean_abs_shap", "LightGBM mean |SHAP|"),
    ("mmm_mean_abs_shap", "MMM mean |SHAP|"),
    ("mmm_share", "MMM contribution share"),
    ("true_share", "true contribution share"),
)


def _plt():
    import matplotlib.pyplot as plt

    return plt


def shap_explanation(result: ImportanceResult, model: str = "lightgbm"):
    """A ``shap.Explanation`` in KPI per segment-week: the LightGBM surrogate's (every feature)
    or the MMM's (channels and its baseline as one term)."""
    shap = import_shap()
    weights = result.features.weights[:, None]
    if model == "lightgbm":
        return shap.Explanation(values=result.shap_values * weights,
                                base_values=np.full(len(weights), result.shap_base),
                                data=result.features.matrix,
                                feature_names=list(result.features.names))
    if model == "mmm":
        channels = [result.features.names.index(c) for c in result.channels]
        data = np.column_stack([result.features.matrix[:, channels],
                                result.mmm_term_values[:, -1]])
        return shap.Explanation(values=result.mmm_shap_values * weights,
                                base_values=np.full(len(weights), result.mmm_base),
                                data=data, feature_names=list(result.mmm_terms))
    raise ValueError(f"model must be 'lightgbm' or 'mmm', got {model!r}")


def shap_beeswarm(result: ImportanceResult, model: str = "lightgbm", max_display: int = 16):
    """shap's beeswarm (summary) plot of one model's SHAP values."""
    shap = import_shap()
    plt = _plt()
    explanation = shap_explanation(result, model)
    shown = min(max_display, explanation.values.shape[1])
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * shown + 1.6))
    shap.plots.beeswarm(explanation, max_display=max_display, ax=ax, show=False,
                        plot_size=None, color_bar_label="feature value (low → high)")
    label = ("LightGBM surrogate, every feature" if model == "lightgbm"
             else "MMM v2, exact SHAP: channels and baseline")
    ax.set_title(f"{result.tenant} — {label}", loc="left", fontsize=10)
    ax.set_xlabel("SHAP value (KPI per segment-week)")
    fig.tight_layout()
    return fig


def shap_bar(result: ImportanceResult, model: str = "lightgbm", max_display: int = 16):
    """shap's bar plot: mean |SHAP| per feature (KPI per segment-week)."""
    shap = import_shap()
    plt = _plt()
    explanation = shap_explanation(result, model)
    shown = min(max_display, explanation.values.shape[1])
    fig, ax = plt.subplots(figsize=(8.5, 0.38 * shown + 1.4))
    shap.plots.bar(explanation, max_display=max_display, ax=ax, show=False)
    ax.set_title(f"{result.tenant} — mean |SHAP| of the "
                 f"{'LightGBM surrogate' if model == 'lightgbm' else 'MMM'}", loc="left",
                 fontsize=10)
    ax.set_xlabel("mean |SHAP value| (KPI per segment-week)")
    fig.tight_layout()
    return fig


def _top_channels(result: ImportanceResult, n: int) -> list[str]:
    shap_by_channel = {r["feature"]: r["mean_abs_shap"] for r in result.rows()
                       if r["kind"] == CHANNEL}
    return sorted(shap_by_channel, key=lambda c: (-shap_by_channel[c], c))[:n]


def dependence_plots(result: ImportanceResult, model, channels: Sequence[str] | None = None,
                     top: int = 3):
    """Per channel (default: the ``top`` by LightGBM mean |SHAP|): the surrogate's SHAP value
    of every segment-week against the adstocked per-capita spend, coloured by segment size, and
    the MMM's exact SHAP curve β·Hill(adstock) − its background mean (per capita)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    plt = _plt()
    channels = list(channels) if channels is not None else _top_channels(result, top)
    cols = max(len(channels), 1)
    fig, axes = plt.subplots(1, cols, figsize=(4.2 * cols + 1.0, 3.6), squeeze=False,
                             layout="constrained")
    size = result.features.weights
    for ax, channel in zip(axes.flat, channels, strict=False):
        j = result.features.names.index(channel)
        c = result.mmm_terms.index(channel)
        x = result.features.matrix[:, j]
        points = ax.scatter(x, result.shap_values[:, j], c=size, s=7, alpha=0.6,
                            cmap="viridis", label="LightGBM SHAP (segment-weeks)")
        grid = np.linspace(0.0, float(x.max()) * 1.02, 200)
        offset = float(np.mean(result.mmm_shap_values[:, c]
                               - mmm_channel_curve(model, channel, x)))
        ax.plot(grid, mmm_channel_curve(model, channel, grid) + offset, color="#C44E52", lw=2,
                label="MMM: β·Hill(adstock) − mean")
        ax.axhline(0.0, color="#444", lw=0.7)
        ax.set_title(channel, loc="left", fontsize=10)
        ax.set_xlabel("adstocked spend per capita")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.grid(alpha=0.3)
    if channels:
        axes.flat[0].set_ylabel("SHAP value (KPI per capita)")
        axes.flat[0].legend(frameon=False, fontsize=7, loc="lower right")
        fig.colorbar(points, ax=list(axes.flat), label="segment size (mean 1)", shrink=0.8)
    return fig


def importance_comparison(result: ImportanceResult):
    """Per channel, each importance measure as a share of its total over the channels: where
    the bars differ, the explanations disagree."""
    plt = _plt()
    rows = sorted((r for r in result.rows() if r["kind"] == CHANNEL),
                  key=lambda r: (-(r["mean_abs_shap"] or 0.0), r["feature"]))
    measures = [(m, label) for m, label in COMPARISON_MEASURES
                if any(r[m] is not None for r in rows)]
    fig, ax = plt.subplots(figsize=(8.5, 0.2 * len(rows) * len(measures) + 1.4))
    y = np.arange(len(rows))
    height = 0.8 / max(len(measures), 1)
    for i, (measure, label) in enumerate(measures):
        values = np.array([r[measure] or 0.0 for r in rows], float)
        total = values.sum()
        ax.barh(y - 0.4 + height * (i + 0.5), values / total if total > 0 else values, height,
                color=PALETTE[i], label=label)
    ax.set_yticks(y, [r["feature"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel("share of the channels' total, per measure")
    ax.set_title(f"{result.tenant} — channel importance by each method", loc="left",
                 fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
