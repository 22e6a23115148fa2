"""The model card's feature-importance section of one tenant, from ``feature_importance.csv``.

``importance_html`` and ``importance_markdown`` take the rows of the CSV (as
``read_feature_importance_csv`` gives them; other tenants' rows are ignored) and render the
same blocks (``report.document``, which escapes every text): the rank agreements, a table of
the channels by each measure, a bar chart (HTML only; PNG, reproducible bytes), the features
beyond the channels the surrogate leans on most, and the plain-language paragraph
(``importance_summary``) rebuilt from the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mmm_evidence.evaluation.importance import (
    AGREEMENTS,
    CHANNEL,
    MIN_CHANNELS,
    RANK_COLUMNS,
    agreement_strength,
    importance_summary,
)
from mmm_evidence.pipeline.gates import finite_number
from mmm_evidence.report.document import (
    Block,
    Code,
    Figure,
    Heading,
    Para,
    Table,
    fmt_num,
    fmt_pct,
    to_html,
    to_markdown,
)

__all__ = ["importance_blocks", "importance_html", "importance_markdown",
           "agreement_from_rows", "importance_png"]

#: (measure, column label, share-like?) in the order of the table and the chart.
MEASURES = (
    ("mean_abs_shap", "LightGBM mean |SHAP|", False),
    ("mmm_mean_abs_shap", "MMM mean |SHAP|", False),
    ("mmm_share", "MMM share", True),
    ("true_share", "true share", True),
)
_PAIR_LABELS = {
    "lightgbm_mmm": ("LightGBM vs MMM", "mean |SHAP| of each; reported"),
    "mmm_truth": ("MMM vs truth", "contribution shares; gate importance_agreement"),
    "lightgbm_truth": ("LightGBM vs truth", "mean |SHAP| vs true share; reported"),
}
_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#8C8C8C")


def _tenant_rows(rows: Sequence[Mapping], tenant: str) -> list[Mapping]:
    return [r for r in rows if str(r.get("tenant")) == tenant]


def agreement_from_rows(rows: Sequence[Mapping]) -> dict:
    """The agreement of one tenant as ``ImportanceResult.agreement`` gives it, rebuilt from its
    CSV rows: the three Spearman ρ, the channel count, truth or not, the top channel by each
    measure."""
    first = rows[0] if rows else {}
    channels = [r for r in rows if r.get("kind") == CHANNEL]
    top = {}
    for measure in RANK_COLUMNS:
        known = {str(r.get("feature")): finite_number(r.get(measure)) for r in channels}
        known = {k: v for k, v in known.items() if v is not None}
        top[measure] = max(known, key=lambda k: (known[k], k)) if known else None
    n = first.get("n_channels")
    return {**{pair: finite_number(first.get(f"spearman_{pair}")) for pair, *_ in AGREEMENTS},
            "method": "spearman", "n_channels": int(n) if n is not None else len(channels),
            "min_channels": MIN_CHANNELS,
            "has_truth": any(finite_number(r.get("true_share")) is not None for r in channels),
            "top": top}


def measure_shares(values: Sequence[float]) -> list[float]:
    """Each value as a share of the values' total size (sum of |values|): a channel that
    lowers the KPI keeps its sign, and no share passes 100 %; all 0 when the total is 0."""
    total = sum(abs(v) for v in values)
    return [v / total if total > 0 else 0.0 for v in values]


def importance_png(channels: Sequence[Mapping], title: str = "") -> bytes | None:
    """Per channel, each measure as a share of its total size over the channels (the sum of
    |values|: a true share below 0 draws left of 0 and no bar beyond 100 %; grouped bars);
    None when there is nothing to draw."""
    from mmm_evidence.report.card_plots import png_bytes

    measures = [(m, label) for m, label, _ in MEASURES
                if any(finite_number(r.get(m)) is not None for r in channels)]
    if not channels or not measures:
        return None
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(7.0, 0.2 * len(channels) * len(measures) + 1.3), dpi=110)
    ax = fig.add_subplot()
    height = 0.8 / len(measures)
    for i, (measure, label) in enumerate(measures):
        shares = measure_shares([finite_number(r.get(measure)) or 0.0 for r in channels])
        ax.barh([k - 0.4 + height * (i + 0.5) for k in range(len(channels))], shares, height,
                color=_COLORS[i], label=label)
    ax.set_yticks(range(len(channels)), [str(r.get("feature")) for r in channels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of the channels' total, per measure", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    if title:
        ax.set_title(title, loc="left", fontsize=9)
    ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return png_bytes(fig)


def _with_rank(value: str, rank: Any) -> str:
    return value if rank is None else f"{value} ({rank})"


def importance_blocks(rows: Sequence[Mapping], tenant: str, *, figure: bool = True,
                      label: str | None = None) -> list[Block]:
    """The section's blocks for ``tenant`` (``figure``: include the bar chart; ``label``: the
    tenant's display name in its caption)."""
    shown_as = label or tenant
    mine = _tenant_rows(rows, tenant)
    blocks: list[Block] = [Heading(3, "Feature importance: SHAP vs MMM vs truth")]
    if not mine:
        return blocks + [Para("No feature importance for this tenant: the importance notebook "
                              "did not run or errored.", "muted")]
    channels = sorted((r for r in mine if r.get("kind") == CHANNEL),
                      key=lambda r: (r.get("shap_rank") or math.inf, str(r.get("feature"))))
    agreement = agreement_from_rows(mine)
    blocks.append(Para(
        "Which channels matter, three ways: a LightGBM surrogate on the MMM's features "
        "explained with SHAP, the MMM's own exact SHAP values and contribution shares, and "
        "the true shares. Mean |SHAP| is in KPI per segment-week; it measures how far a "
        "channel moves the KPI from week to week, a share how much KPI it brings. Ranks in "
        "brackets (1 = most important).", "note"))
    agreement_rows = []
    for pair, *_ in AGREEMENTS:
        label, what = _PAIR_LABELS[pair]
        value = agreement.get(pair)
        agreement_rows.append([label, what, fmt_num(value, 2),
                               agreement_strength(value)])
    blocks.append(Table(["rank agreement (Spearman ρ)", "compares", "ρ", "reading"],
                        agreement_rows, numeric=frozenset({2})))
    table_rows = []
    for r in channels:
        cells: list = [Code(str(r.get("feature")))]
        for measure, _, share in MEASURES:
            value = finite_number(r.get(measure))
            text = fmt_pct(value) if share and value is not None else (
                fmt_num(value, 1) if value is not None else "–")
            cells.append(_with_rank(text, r.get(RANK_COLUMNS[measure])))
        table_rows.append(cells)
    blocks.append(Table(["channel", *(label for _, label, _ in MEASURES)], table_rows,
                        numeric=frozenset(range(1, len(MEASURES) + 1))))
    if figure:
        png = importance_png(channels)
        if png:
            blocks.append(Figure(png, f"channel importance by each method, {shown_as}",
                                 "Each measure as a share of its total over the channels: "
                                 "where the bars differ, the explanations disagree."))
    others = sorted((r for r in mine if r.get("kind") != CHANNEL),
                    key=lambda r: (r.get("shap_rank_all") or math.inf, str(r.get("feature"))))
    if others:
        leaders = ", ".join(f"{r.get('feature')} (rank {r.get('shap_rank_all')} of "
                            f"{len(mine)})" for r in others[:3])
        blocks.append(Para(f"Beyond the channels, the surrogate leans most on: {leaders}.",
                           "note"))
    blocks.append(Para(importance_summary(mine, agreement)))
    return blocks


def importance_html(rows: Sequence[Mapping], tenant: str) -> str:
    """The feature-importance section of ``tenant`` as an HTML fragment (text escaped)."""
    return to_html(importance_blocks(rows, tenant))


def importance_markdown(rows: Sequence[Mapping], tenant: str) -> str:
    """The same section as Markdown (the chart stands as its caption, as in the card)."""
    return to_markdown(importance_blocks(rows, tenant))
