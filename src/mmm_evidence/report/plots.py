"""Figures for the notebooks and the model card (matplotlib, imported on first use)."""

from __future__ import annotations

import numpy as np

from mmm_evidence.evaluation.baselines import BaselineComparison
from mmm_evidence.evaluation.robustness import RobustnessResult
from mmm_evidence.evaluation.validation import TenantValidation
from mmm_evidence.report.card_plots import (  # one palette for notebooks and card
    MODEL_COLORS,
    MODEL_LABELS,
    PALETTE,
)


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
    from matplotlib.ticker import EngFormatter, MaxNLocator

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
        for axis in (ax.xaxis, ax.yaxis):  # 250 k, not 250000 running into its neighbour
            axis.set_major_locator(MaxNLocator(5))
            axis.set_major_formatter(EngFormatter(sep=""))
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
    if truth and v.oracle_elasticities:
        ax.scatter(x - width / 2, [v.oracle_elasticities[c] for c in channels], marker="D",
                   s=22, facecolor="white", edgecolor="#333", zorder=3,
                   label="same model given the true response")
    ax.set_xticks(x, channels)
    ax.set_ylabel("elasticity (total KPI, spend ×1.01)")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- baselines



def _model_label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


def baseline_forecasts(c: BaselineComparison, context_weeks: int = 52):
    """Weekly total KPI: the last ``context_weeks`` training weeks and the holdout, with every
    model's forecast of the holdout (each fitted on the training weeks only)."""
    plt = _plt()
    h = c.holdout
    start = max(h.train_end - context_weeks, 0)
    dates = c.panel.dates
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(dates[start:h.test_end], c.panel.total_kpi()[start:h.test_end], color="#222222",
            lw=1.6, label="actual")
    for i, m in enumerate(c.models):
        mape = c.metrics[m]["holdout"]["mape"]
        ax.plot(dates[h.train_end:h.test_end], c.holdout_forecasts[m],
                color=MODEL_COLORS.get(m, PALETTE[i % len(PALETTE)]),
                lw=2.0 if m == "mmm" else 1.2, ls="-" if m == "mmm" else "--",
                label=f"{_model_label(m)} (MAPE {100 * mape:.1f} %)")
    ax.axvspan(dates[h.train_end], dates[h.test_end - 1], color="#F2C14E", alpha=0.2,
               label=f"holdout ({h.test_weeks} weeks)")
    ax.set_title(f"{c.panel.tenant}: holdout forecasts of the weekly total {c.panel.kpi_name}",
                 loc="left")
    ax.set_ylabel(c.panel.kpi_name)
    ax.legend(loc="upper left", frameon=False, ncol=2, fontsize=8)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    fig.tight_layout()
    return fig


def baseline_errors(c: BaselineComparison, metrics: tuple[str, ...] = ("mape", "nrmse")):
    """Bar chart per error metric: every model's holdout and CV-mean error (lower is better)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 3.4), squeeze=False)
    x = np.arange(len(c.models))
    colors = [MODEL_COLORS.get(m, PALETTE[i % len(PALETTE)]) for i, m in enumerate(c.models)]
    for ax, metric in zip(axes[0], metrics, strict=True):
        scale = 100.0 if metric == "mape" else 1.0
        holdout = [scale * c.metrics[m]["holdout"][metric] for m in c.models]
        cv = [scale * c.metrics[m]["cv_mean"][metric] for m in c.models]
        ax.bar(x - 0.2, holdout, 0.4, color=colors, label="holdout")
        ax.bar(x + 0.2, cv, 0.4, color=colors, alpha=0.45, hatch="//", label="CV mean")
        ax.set_xticks(x, [_model_label(m) for m in c.models], rotation=20, ha="right")
        ax.set_title(f"{metric.upper()}{' (%)' if metric == 'mape' else ''} — lower is better",
                     loc="left")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def baseline_elasticities(c: BaselineComparison):
    """Elasticity per channel implied by the MMM and the spend baselines, beside the truth."""
    plt = _plt()
    channels = list(c.panel.channels)
    truth = c.truth()
    series = ([("truth", [truth["elasticity"][ch] for ch in channels], "#999999")]
              if truth else [])
    series += [(_model_label(m), [c.elasticities[m][ch] for ch in channels],
                MODEL_COLORS.get(m, PALETTE[0])) for m in c.elasticities]
    x = np.arange(len(channels))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 * len(channels)), 3.4))
    for i, (label, values, color) in enumerate(series):
        ax.bar(x - 0.4 + width * (i + 0.5), values, width, color=color, label=label)
    ax.axhline(0, color="#444", lw=0.8)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.2 * (high - low))  # room for the legend above the bars
    ax.set_xticks(x, channels)
    ax.set_ylabel("elasticity (total KPI, spend ×1.01)")
    ax.legend(frameon=False, fontsize=8, ncol=len(series), loc="upper center")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- robustness

_PASS_COLOR, _FAIL_COLOR, _NA_COLOR = "#1b7f3b", "#b3261e", "#5f6368"


def _result_color(passed: bool | None) -> str:
    return {True: _PASS_COLOR, False: _FAIL_COLOR}.get(passed, _NA_COLOR)


def robustness_perturbations(r: RobustnessResult, names: list[str] | None = None):
    """One panel per refit check: each judged channel's elasticity in the perturbed refit beside
    the reference's on the same weeks; the title gives the measured value and the threshold."""
    plt = _plt()
    checks = [c for c in r.checks if "elasticity" in c.data and "reference_elasticity" in c.data
              and (names is None or c.name in names)]
    if not checks:
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.0, 0.5, "no refit check ran", va="center")
        return fig
    cols = min(3, len(checks))
    rows = int(np.ceil(len(checks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.0 * rows), squeeze=False)
    for ax, c in zip(axes.flat, checks, strict=False):
        channels = list(c.data["reference_elasticity"])
        x = np.arange(len(channels))
        ref = [c.data["reference_elasticity"][ch] for ch in channels]
        new = [np.nan if c.data["elasticity"].get(ch) is None else c.data["elasticity"][ch]
               for ch in channels]
        ax.bar(x - 0.2, ref, 0.4, color="#999999", label="reference")
        ax.bar(x + 0.2, new, 0.4, color=_result_color(c.passed), label="perturbed refit")
        ax.set_xticks(x, channels, rotation=30, ha="right", fontsize=8)
        value = "–" if c.value is None else f"{c.value:.3g}"
        ax.set_title(f"{c.name}: {value} ({c.comparison} {c.threshold:g})", loc="left",
                     fontsize=9, color=_result_color(c.passed))
        ax.grid(alpha=0.3, axis="y")
    axes.flat[0].set_ylabel("elasticity")
    axes.flat[0].legend(frameon=False, fontsize=7)
    for ax in list(axes.flat)[len(checks):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def robustness_margins(r: RobustnessResult):
    """Every check with a positive threshold as its distance from failing: value / threshold
    (threshold / value for checks that must stay above it); below 1 passes. Log scale."""
    plt = _plt()
    rows = []
    for c in r.checks:
        if c.threshold <= 0 or c.value is None:
            continue
        if c.comparison in ("<=", "<"):
            ratio = c.value / c.threshold
        else:
            ratio = c.threshold / c.value if c.value > 0 else np.inf
        rows.append((c.name, float(np.clip(ratio, 1e-6, 1e3)), c.passed))
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(rows), 3) + 1.0))
    y = np.arange(len(rows))
    ax.barh(y, [v for _, v, _ in rows], color=[_result_color(p) for *_, p in rows], left=0)
    ax.axvline(1.0, color="#222", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y, [n for n, *_ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("value / threshold (left of the dashed line passes; clipped to 1e-6)")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig
