"""Figures for the notebooks and the model card (matplotlib, imported on first use)."""

from __future__ import annotations

import numpy as np

from mmm_evidence.evaluation.validation import TenantValidation

PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#8C8C8C", "#CCB974", "#64B5CD")


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _date_axis(ax) -> None:
    """Compact date ticks that do not overlap, whatever the axis width."""
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def actual_vs_predicted(v: TenantValidation):
    """Weekly total KPI: actual vs the holdout model's prediction, holdout shaded."""
    plt = _plt()
    dates = v.panel.dates
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(dates, v.panel.total_kpi(), color="#222222", lw=1.4, label="actual")
    ax.plot(dates, v.prediction.sum(axis=0), color=PALETTE[0], lw=1.4, label="MMM v2")
    ax.axvspan(dates[v.train_weeks], dates[-1], color="#F2C14E", alpha=0.25,
               label=f"holdout ({v.holdout_weeks} weeks, not seen by the fit)")
    h = v.metrics["holdout"]
    ax.set_title(f"{v.panel.tenant}: weekly total {v.panel.kpi_name} — holdout R² {h['r2']:.3f}, "
                 f"MAPE {100 * h['mape']:.1f} %", loc="left")
    ax.set_ylabel(v.panel.kpi_name)
    ax.legend(loc="upper left", frameon=False, ncol=3)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    fig.tight_layout()
    return fig


def residual_diagnostics(v: TenantValidation):
    """Residuals of the weekly total over time, their distribution and autocorrelation."""
    plt = _plt()
    resid = v.panel.total_kpi() - v.prediction.sum(axis=0)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    cut = v.train_weeks
    axes[0].plot(v.panel.dates[:cut], resid[:cut], color=PALETTE[0], lw=1, label="fit")
    axes[0].plot(v.panel.dates[cut:], resid[cut:], color=PALETTE[3], lw=1, label="holdout")
    axes[0].axhline(0, color="#444", lw=0.8)
    axes[0].set_title("residual (actual − predicted)", loc="left")
    axes[0].legend(frameon=False)
    _date_axis(axes[0])
    axes[1].hist(resid[:cut], bins=25, color=PALETTE[0], alpha=0.8)
    axes[1].set_title("distribution (fit weeks)", loc="left")
    r = resid[:cut] - resid[:cut].mean()
    lags = np.arange(1, min(14, r.size - 1))
    acf = [float(np.dot(r[:-k], r[k:]) / np.dot(r, r)) for k in lags]
    axes[2].bar(lags, acf, color=PALETTE[2])
    band = 1.96 / np.sqrt(r.size)
    axes[2].axhspan(-band, band, color="#999", alpha=0.2)
    axes[2].set_title("autocorrelation by lag (weeks)", loc="left")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def contribution_decomposition(v: TenantValidation):
    """Stacked weekly contributions of the baseline and each channel (full-history model)."""
    plt = _plt()
    parts = v.full_model.contributions(v.panel)
    dates = v.panel.dates
    fig, ax = plt.subplots(figsize=(10, 3.8))
    layers = [parts["baseline"].sum(axis=0)] + [parts[c].sum(axis=0) for c in v.panel.channels]
    labels = ["baseline"] + list(v.panel.channels)
    colors = ["#D0D0D0"] + [PALETTE[i % len(PALETTE)] for i in range(len(v.panel.channels))]
    ax.stackplot(dates, *layers, labels=labels, colors=colors, alpha=0.9)
    ax.plot(dates, v.panel.total_kpi(), color="#222222", lw=1, label="actual")
    ax.set_title("contribution decomposition of the weekly total", loc="left")
    ax.legend(loc="upper left", frameon=False, ncol=4, fontsize=8)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    fig.tight_layout()
    return fig


def response_curves(v: TenantValidation):
    """Weekly response to a constant weekly spend per channel; dot = today's mean spend."""
    plt = _plt()
    model = v.full_model
    n = len(model.channels)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for i, ch in enumerate(model.channels):
        ax = axes[i // cols][i % cols]
        curve = model.response_curve(ch)
        ax.plot(curve["weekly_spend"], curve["weekly_response"], color=PALETTE[i % len(PALETTE)])
        now = curve.iloc[(curve["multiplier"] - 1.0).abs().argmin()]
        ax.plot([now["weekly_spend"]], [now["weekly_response"]], "o", color="#222")
        ax.set_title(f"{ch}", loc="left")
        ax.set_xlabel("weekly spend")
        ax.set_ylabel("weekly response")
        ax.grid(alpha=0.3)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.tight_layout()
    return fig


def elasticities_vs_truth(v: TenantValidation):
    """Estimated elasticity per channel with its bootstrap interval, next to the truth."""
    plt = _plt()
    channels = list(v.panel.channels)
    est = np.array([v.elasticities[c] for c in channels])
    truth = v.truth()
    x = np.arange(len(channels))
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(channels)), 3.4))
    width = 0.38 if truth else 0.6
    yerr = None
    if v.uncertainty:
        iv = v.uncertainty.interval("elasticity")
        low = np.array([iv[c]["low"] for c in channels])
        high = np.array([iv[c]["high"] for c in channels])
        yerr = np.vstack([np.maximum(est - low, 0), np.maximum(high - est, 0)])
    label = "MMM v2" + (f" ({100 * v.uncertainty.level:.0f} % interval)" if v.uncertainty else "")
    ax.bar(x - (width / 2 if truth else 0), est, width, color=PALETTE[0], label=label,
           yerr=yerr, capsize=3, error_kw={"elinewidth": 1, "ecolor": "#333"})
    if truth:
        ax.bar(x + width / 2, [truth["elasticity"][c] for c in channels], width,
               color="#999999", label="truth")
    ax.set_xticks(x, channels)
    ax.set_ylabel("elasticity (total KPI, spend ×1.01)")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
