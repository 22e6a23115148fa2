"""The model card's figures, drawn from the JSON artifacts alone (never from a model object).

Each function takes an artifact section (a dict) and returns PNG bytes, or None when the
section has nothing to draw. Figures are made with ``matplotlib.figure.Figure`` (no pyplot
state) and saved without the "Software" metadata, so the same artifacts give the same bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mmm_evidence.pipeline.gates import finite_number

__all__ = ["png_bytes", "actual_vs_predicted_png", "elasticities_png", "baselines_png",
           "robustness_png"]

#: Channel colours, one per channel up to 20 (the first 10 seaborn's "deep", then darker and
#: lighter companions): 12 channels on 10 colours gave two channels the same colour.
PALETTE = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3",
           "#8C8C8C", "#CCB974", "#64B5CD", "#1F3A68", "#8C4A12", "#1E5E34", "#7A1F24",
           "#4A3B80", "#A8C4E6", "#F2B88C", "#9ED6A4", "#E89A9C", "#C2B5E0")
_PASS, _FAIL, _NA = "#1b7f3b", "#b3261e", "#5f6368"
#: How the MMM and each baseline are named and coloured in the notebooks and the model card,
#: in the order they are listed.
MODEL_LABELS = {"mmm": "MMM v2", "naive": "naive", "seasonal_naive": "seasonal naive",
                "no_media": "no media (baseline terms)", "linear": "linear (OLS)",
                "lightgbm": "LightGBM"}
MODEL_COLORS = {"mmm": PALETTE[0], "naive": PALETTE[7], "seasonal_naive": PALETTE[1],
                "no_media": PALETTE[5], "linear": PALETTE[2], "lightgbm": PALETTE[4]}
DPI = 110


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (no timestamp, no software tag: reproducible)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _result_color(passed: bool | None) -> str:
    return {True: _PASS, False: _FAIL}.get(passed, _NA)  # type: ignore[arg-type]


def actual_vs_predicted_png(weekly: Mapping[str, Any] | None, title: str = "") -> bytes | None:
    """Weekly total KPI, actual vs the holdout model's prediction, the holdout weeks shaded.

    ``weekly``: ``{"dates": [...], "actual": [...], "predicted": [...], "train_weeks": n}``.
    """
    if not isinstance(weekly, Mapping):
        return None
    import numpy as np

    dates = list(weekly.get("dates") or [])
    actual = [finite_number(v) for v in weekly.get("actual") or []]
    predicted = [finite_number(v) for v in weekly.get("predicted") or []]
    if not dates or len(actual) != len(dates) or len(predicted) != len(dates):
        return None
    x = np.array(dates, dtype="datetime64[D]")
    a = np.array([np.nan if v is None else v for v in actual])
    p = np.array([np.nan if v is None else v for v in predicted])
    fig = _figure(9.5, 3.4)
    ax = fig.subplots()
    ax.plot(x, a, color="#222222", lw=1.3, label="actual")
    ax.plot(x, p, color=PALETTE[0], lw=1.3, label="MMM v2 (holdout fit)")
    train = weekly.get("train_weeks")
    if isinstance(train, int) and 0 < train < len(dates):
        ax.axvspan(x[train], x[-1], color="#F2C14E", alpha=0.25,
                   label=f"holdout ({len(dates) - train} weeks, unseen by the fit)")
    ax.set_title(title, loc="left", fontsize=10)
    ax.set_ylabel(str(weekly.get("kpi") or "KPI"))
    ax.legend(loc="upper left", frameon=False, ncol=3, fontsize=8)
    ax.grid(alpha=0.3)
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    fig.tight_layout()
    return png_bytes(fig)


def elasticities_png(section: Mapping[str, Any]) -> bytes | None:
    """Per channel: the estimated elasticity with its bootstrap interval, beside the truth."""
    import numpy as np

    table = section.get("elasticities") or {}
    channels = [c for c in table if finite_number((table[c] or {}).get("estimate")) is not None]
    if not channels:
        return None
    est = np.array([finite_number(table[c].get("estimate")) for c in channels])
    truth = [finite_number(table[c].get("truth")) for c in channels]
    has_truth = any(t is not None for t in truth)
    uncertainty = section.get("uncertainty") or {}
    intervals = uncertainty.get("elasticity") or {}
    x = np.arange(len(channels))
    width = 0.38 if has_truth else 0.6
    yerr = None
    if all(isinstance(intervals.get(c), Mapping) for c in channels):
        low = np.array([finite_number(intervals[c].get("low")) or 0.0 for c in channels])
        high = np.array([finite_number(intervals[c].get("high")) or 0.0 for c in channels])
        yerr = np.vstack([np.maximum(est - low, 0), np.maximum(high - est, 0)])
    level = finite_number(uncertainty.get("level"))
    label = "MMM v2" + (f" ({100 * level:.0f} % interval)" if yerr is not None and level
                        else "")
    fig = _figure(max(5.0, 1.3 * len(channels)), 3.2)
    ax = fig.subplots()
    ax.bar(x - (width / 2 if has_truth else 0), est, width, color=PALETTE[0], label=label,
           yerr=yerr, capsize=3, error_kw={"elinewidth": 1, "ecolor": "#333"})
    if has_truth:
        ax.bar(x + width / 2, [np.nan if t is None else t for t in truth], width,
               color="#999999", label="truth")
    ax.axhline(0, color="#444", lw=0.8)
    ax.set_xticks(x, channels)
    ax.set_ylabel("elasticity (spend ×1.01)")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return png_bytes(fig)


def baselines_png(section: Mapping[str, Any] | None, order: Sequence[str] = ()) -> bytes | None:
    """Holdout and CV-mean MAPE of the MMM and every baseline (lower is better)."""
    if not isinstance(section, Mapping) or section.get("status") != "ok":
        return None
    import numpy as np

    baselines = section.get("baselines") or {}
    models = list(order) or ["mmm", *baselines]
    rows = []
    for m in models:
        splits = (section.get("mmm") or {}) if m == "mmm" else {
            split: (entry or {}).get("metrics") for split, entry in
            (baselines.get(m) or {}).items()}
        h = finite_number((splits.get("holdout") or {}).get("mape"))
        cv = finite_number((splits.get("cv_mean") or {}).get("mape"))
        if h is not None or cv is not None:
            rows.append((m, h, cv))
    if not rows:
        return None
    x = np.arange(len(rows))
    colors = [MODEL_COLORS.get(m, PALETTE[i % len(PALETTE)]) for i, (m, *_) in enumerate(rows)]
    fig = _figure(max(5.0, 1.2 * len(rows) + 1.5), 3.2)
    ax = fig.subplots()
    ax.bar(x - 0.2, [np.nan if h is None else 100 * h for _, h, _ in rows], 0.4, color=colors,
           label="holdout")
    ax.bar(x + 0.2, [np.nan if c is None else 100 * c for *_, c in rows], 0.4, color=colors,
           alpha=0.45, hatch="//", label="CV mean")
    ax.set_xticks(x, [MODEL_LABELS.get(m, m) for m, *_ in rows], rotation=15, ha="right")
    ax.set_ylabel("MAPE of the weekly total (%)")
    ax.set_title("forecast error, lower is better", loc="left", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return png_bytes(fig)


def drawable_checks(section: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The robustness checks that have a margin to draw: a value held against a threshold
    above 0 (not one its check did not judge: ``judged: false``)."""
    return [c for c in section.get("checks") or [] if isinstance(c, Mapping)
            and finite_number(c.get("value")) is not None and c.get("judged") is not False
            and (finite_number(c.get("threshold")) or 0.0) > 0]


def robustness_png(section: Mapping[str, Any] | None) -> bytes | None:
    """Every check with a positive threshold as its distance from failing (value / threshold,
    or threshold / value for checks that must stay above it): left of 1 passes. Log scale."""
    if not isinstance(section, Mapping) or section.get("status") != "ok":
        return None
    import numpy as np

    rows = []
    for c in drawable_checks(section):
        value, threshold = finite_number(c.get("value")), finite_number(c.get("threshold"))
        if c.get("comparison") in ("<=", "<"):
            ratio = value / threshold
        else:
            ratio = threshold / value if value > 0 else math.inf
        rows.append((str(c.get("name")), float(np.clip(ratio, 1e-6, 1e3)), c.get("passed")))
    if not rows:
        return None
    fig = _figure(7.5, 0.28 * max(len(rows), 3) + 1.0)
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.barh(y, [v for _, v, _ in rows], color=[_result_color(p) for *_, p in rows])
    ax.axvline(1.0, color="#222", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y, [n for n, *_ in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("value / threshold (left of the dashed line passes)", fontsize=8)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return png_bytes(fig)
