"""The model card's fairness and privacy section of one tenant, from ``fairness_report.json``.

``fairness_html`` and ``fairness_markdown`` take the whole report (as written) and render the
same blocks (``report.document``, which escapes every text): the fairness and privacy gates,
the gaps against their thresholds (with a chart in HTML: PNG, reproducible bytes), the
per-segment and per-group errors and uplift vs truth (small cells stay suppressed: the report
holds no values for them), and the privacy findings (PII, k-anonymity, the leak scan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mmm_evidence.pipeline.gates import finite_number
from mmm_evidence.report.document import (
    Badge,
    Block,
    Bullets,
    Code,
    Figure,
    Heading,
    Para,
    Table,
    fmt_num,
    fmt_pct,
    fmt_signed_pct,
    gate_kind,
    gate_label,
    to_html,
    to_markdown,
)

__all__ = ["fairness_blocks", "fairness_html", "fairness_markdown", "parity_png",
           "MAX_TABLE_ROWS", "segments_to_show"]

#: At most this many segments are listed in the card (every one is in the report).
MAX_TABLE_ROWS = 30
_METRIC_LABELS = {"mape": "holdout MAPE, max/min − 1", "normalised_bias": "normalised bias, "
                  "max − min", "uplift_error": "uplift error vs truth, max − min"}


def parity_png(checks: Sequence[Mapping], title: str = "") -> bytes | None:
    """The gaps as a share of their thresholds (``fairness_plots.parity_gaps``) as PNG bytes;
    None when there is no gap to draw."""
    if not checks:
        return None
    import matplotlib.pyplot as plt

    from mmm_evidence.report.card_plots import png_bytes
    from mmm_evidence.report.fairness_plots import parity_gaps

    fig = parity_gaps(list(checks), title)
    try:
        return png_bytes(fig)
    finally:
        plt.close(fig)


def _gate_rows(gates: Sequence[Mapping]) -> list[list]:
    return [[Code(str(g.get("name"))), Badge(gate_label(g.get("passed")),
                                             gate_kind(g.get("passed"))),
             fmt_num(g.get("value")), fmt_num(g.get("threshold")), str(g.get("detail") or "")]
            for g in gates]


def _parity_rows(checks: Sequence[Mapping]) -> list[list]:
    rows = []
    for c in checks:
        gap = c.get("gap")
        rows.append([str(c.get("grouping")), _METRIC_LABELS.get(str(c.get("metric")),
                                                                str(c.get("metric"))),
                     "∞" if gap is None else fmt_num(gap), fmt_num(c.get("threshold")),
                     f"{c.get('max_group')} vs {c.get('min_group')}",
                     Badge(gate_label(c.get("passed")), gate_kind(c.get("passed")))])
    return rows


def _pct2(value: Any) -> str:
    number = finite_number(value)
    return "–" if number is None else f"{100 * number:.2f} %"


def segments_to_show(table: Mapping[str, Mapping], limit: int = MAX_TABLE_ROWS) -> list[str]:
    """The segments a card's table of at most ``limit`` rows shows, in the table's order: all
    of them when they fit; else the highest and lowest of each metric first (the ends of every
    gap a gate judges), then the largest errors (uplift error, |bias|, MAPE) up to ``limit``."""
    names = [str(name) for name in table]
    if len(names) <= limit:
        return names
    metrics = ("uplift_error", "normalised_bias", "mape")

    def value(name: str, metric: str) -> float | None:
        row = table[name]
        return None if row.get("suppressed") else finite_number(row.get(metric))

    chosen: list[str] = []
    for metric in metrics:
        ranked = sorted((n for n in names if value(n, metric) is not None),
                        key=lambda n: value(n, metric))
        for name in ranked[-1:] + ranked[:1]:
            if name not in chosen:
                chosen.append(name)
    for metric in metrics:
        for name in sorted((n for n in names if value(n, metric) is not None),
                           key=lambda n: -abs(value(n, metric))):
            if len(chosen) >= limit:
                break
            if name not in chosen:
                chosen.append(name)
    keep = set(chosen[:limit])
    return [name for name in names if name in keep]


def _group_rows(table: Mapping[str, Mapping], uplift: bool, counts: bool) -> list[list]:
    """Rows of a per-group table (``counts``: with the number of segments per group)."""
    rows = []
    for group, row in table.items():
        if row.get("suppressed"):
            blank = 3 + counts + (2 if uplift else 0)
            rows.append([str(group), "suppressed (fewer than k individuals)"]
                        + [""] * (blank - 1))
            continue
        cells = [str(group)] + ([fmt_num(row.get("segments"))] if counts else []) + [
            fmt_num(row.get("r2"), 2), fmt_pct(row.get("mape")),
            fmt_signed_pct(row.get("normalised_bias"))]
        if uplift:
            cells += [f"{_pct2(row.get('predicted_relative'))} / "
                      f"{_pct2(row.get('true_relative'))}",
                      fmt_signed_pct(row.get("uplift_error"))]
        rows.append(cells)
    return rows


def _privacy_blocks(privacy: Mapping) -> list[Block]:
    blocks: list[Block] = [Heading(4, "Privacy")]
    pii = [f for f in privacy.get("pii") or [] if isinstance(f, Mapping)]
    files = ", ".join(str(f) for f in privacy.get("files") or []) or "–"
    if pii:
        blocks.append(Para(f"Personal data found in the inputs ({files}) — the columns are "
                           f"named, never their values:"))
        blocks.append(Table(["file", "column", "kind", "rows", "first line"],
                            [[str(f.get("file")), Code(str(f.get("column"))),
                              str(f.get("kind")), fmt_num(f.get("rows")),
                              fmt_num(f.get("first_line"))] for f in pii],
                            numeric=frozenset({3, 4})))
    elif privacy.get("files") is not None:
        blocks.append(Para(f"No personal data found in the inputs ({files})."))
    k_anon = privacy.get("k_anonymity")
    items = []
    if isinstance(k_anon, Mapping):
        if k_anon.get("passed") is None:
            items.append(f"k-anonymity not assessable: {k_anon.get('note')}")
        else:
            below = k_anon.get("segments_below_k") or []
            items.append(f"k-anonymity (k = {k_anon.get('k')}): smallest cell "
                         f"{fmt_num(k_anon.get('min_count'), 0)} individuals, "
                         f"{k_anon.get('cells_below_k')} of {k_anon.get('cells')} cells below "
                         f"k (from {k_anon.get('source')})"
                         + (f"; suppressed: {', '.join(map(str, below))}" if below else ""))
    leak = privacy.get("leak_scan") or {}
    findings = leak.get("findings")
    if findings is None:
        items.append(f"leak scan: {leak.get('note') or 'not run'}")
    elif not findings:
        items.append("leak scan: no input row in any produced file (artifacts, executed "
                     "notebooks, HTML exports)")
    else:
        items.append(f"leak scan: input rows found in {len(findings)} produced file(s):")
        items.extend(f"{f.get('file')}: {f.get('rows')} row(s) of {f.get('input')}"
                     + (f" (lines {', '.join(map(str, f.get('lines') or []))})"
                        if f.get("lines") else "")
                     + (f"; columns dumped: {', '.join(f.get('dumped_columns'))}"
                        if f.get("dumped_columns") else "") for f in findings)
    if items:
        blocks.append(Bullets(items))
    return blocks


def fairness_blocks(report: Mapping[str, Any], tenant: str, *, figure: bool = True,
                    label: str | None = None) -> list[Block]:
    """The section's blocks for ``tenant`` of a ``fairness_report.json`` (``figure``: include
    the gap chart; ``label``: the tenant's display name in its caption)."""
    shown_as = label or tenant
    blocks: list[Block] = [Heading(3, "Fairness and privacy")]
    section = (report.get("tenants") or {}).get(tenant) if isinstance(report, Mapping) else None
    if not isinstance(section, Mapping):
        return blocks + [Para("No fairness report for this tenant.", "muted")]
    blocks.append(Para(
        "Does the model serve every segment alike? The holdout model's errors over the held-out "
        "weeks and the full model's uplift of +10 % spend (against the truth, where there is "
        "one) are compared across segments and across the groups of each segment attribute; "
        "each gap is judged against its threshold. Groups with fewer than k individuals are "
        "suppressed.", "note"))
    gates = [g for g in section.get("gates") or [] if isinstance(g, Mapping)]
    blocks.append(Table(["gate", "result", "value", "threshold", "detail"], _gate_rows(gates),
                        numeric=frozenset({2, 3})))
    fairness = section.get("fairness")
    if not isinstance(fairness, Mapping):
        note = section.get("note") or section.get("error") or "the fairness notebook did not run"
        blocks.append(Para(f"No fairness measurements: {note}.", "muted"))
    else:
        checks = [c for c in section.get("parity") or [] if isinstance(c, Mapping)]
        blocks.append(Heading(4, "Gaps against their thresholds"))
        blocks.append(Table(["grouping", "gap", "measured", "threshold", "largest vs smallest",
                             "result"], _parity_rows(checks), numeric=frozenset({2, 3}),
                            empty="No gap to judge: fewer than two segments and no attribute "
                                  "groups."))
        if figure:
            png = parity_png(checks)
            if png:
                blocks.append(Figure(png, f"fairness gaps, {shown_as}",
                                     "Each gap as a share of its threshold: left of the dashed "
                                     "line passes; red = over the threshold."))
        uplift = bool(fairness.get("has_uplift_truth"))
        if not uplift:
            blocks.append(Para(f"Uplift vs truth: not assessable — "
                               f"{fairness.get('uplift_note') or 'no ground truth'}.", "muted"))
        tables = fairness.get("tables") or {}
        metrics = ["holdout R²", "MAPE", "bias (norm.)"] + (
            ["uplift +10 % (of KPI): model / truth", "uplift error"] if uplift else [])
        headers = ["segment", *metrics]
        every_segment = tables.get("segment") or {}
        segment_table = {name: every_segment[name] for name in segments_to_show(every_segment)}
        blocks.append(Heading(4, "Per segment"))
        blocks.append(Table(headers, _group_rows(segment_table, uplift, counts=False),
                            numeric=frozenset(range(1, len(headers)))))
        total = len(tables.get("segment") or {})
        if total > MAX_TABLE_ROWS:
            blocks.append(Para(f"{MAX_TABLE_ROWS} of {total} segments: the highest and lowest "
                               f"of each metric (the ends of every gap), then the largest "
                               f"errors; every one is in fairness_report.json.", "muted"))
        for grouping in fairness.get("groupings") or []:
            if grouping == "segment":
                continue
            headers = [grouping, "segments", *metrics]
            blocks.append(Heading(4, f"By {grouping}"))
            blocks.append(Table(headers, _group_rows(tables.get(grouping) or {}, uplift,
                                                     counts=True),
                                numeric=frozenset(range(1, len(headers)))))
        skipped = fairness.get("skipped") or {}
        if skipped:
            blocks.append(Para("Not grouped by: " + "; ".join(
                f"{name} ({why})" for name, why in skipped.items()), "muted"))
    privacy = section.get("privacy")
    if isinstance(privacy, Mapping):
        blocks.extend(_privacy_blocks(privacy))
    return blocks


def fairness_html(report: Mapping[str, Any], tenant: str) -> str:
    """The fairness and privacy section of ``tenant`` as an HTML fragment (text escaped, the
    gap chart an inline PNG)."""
    return to_html(fairness_blocks(report, tenant))


def fairness_markdown(report: Mapping[str, Any], tenant: str) -> str:
    """The same section as Markdown (the chart stands as its caption, as in the card)."""
    return to_markdown(fairness_blocks(report, tenant))
