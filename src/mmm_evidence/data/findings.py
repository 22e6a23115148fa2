"""Data findings: what in a tenant's data limits what any model can tell from it.

Not errors — the loader rejects data that breaks the schema (``data.schema``) — but facts a
reviewer must know before reading the estimates: a channel with no spend at all has no
estimable effect (its elasticity 0 is not an estimate), a channel whose spend starts inside
the holdout is never seen by the holdout fit, a control that never changes within a segment is
absorbed by the segment intercept, two channels with proportional spend cannot be told apart,
and weeks with a KPI of zero or below usually mean an outage or missing data written as 0.

``data_findings(panel, holdout_weeks)`` returns them as JSON-able dicts, in a fixed order
(kind, then channel / control order), so the same data give the same list.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from mmm_evidence.data.panel import Panel

__all__ = ["FINDING_KINDS", "IDENTICAL_SPEND_CORRELATION", "NO_FINDINGS", "data_findings",
           "findings_markdown"]

#: Spend of two channels correlating at least this much over segment-weeks is proportional up
#: to round-off: no fit can split their effects.
IDENTICAL_SPEND_CORRELATION = 0.999

#: What each kind of finding means, in the order they are listed.
FINDING_KINDS = {
    "no_spend": "a channel without spend in any week: its effect cannot be estimated",
    "no_training_spend": "a channel whose spend lies only in the holdout weeks",
    "identical_spend": "two channels with proportional spend: their effects cannot be split",
    "constant_control": "a control that never changes within a segment",
    "kpi_not_positive": "segment-weeks with a KPI of zero or below",
}

MAX_LISTED = 5

#: What the validation notebook says when there is nothing to report.
NO_FINDINGS = ("No findings: every channel has spend in the training weeks, no two channels' "
               "spend is proportional, every control varies and every KPI value is positive.")


def _finding(kind: str, subject: str, detail: str, **data) -> dict:
    return {"kind": kind, "subject": subject, "detail": detail, **data}


def _spend_findings(panel: Panel, holdout_weeks: int) -> list[dict]:
    out = []
    train = max(panel.n_weeks - holdout_weeks, 0)
    for i, channel in enumerate(panel.channels):
        spend = panel.spend[:, :, i]
        weeks_with_spend = int((spend.sum(axis=0) > 0).sum())
        if weeks_with_spend == 0:
            out.append(_finding(
                "no_spend", channel,
                f"channel {channel!r} has no spend in any of the {panel.n_weeks} weeks: its "
                f"effect cannot be estimated, and its elasticity of 0 is not an estimate",
                weeks_with_spend=0))
        elif 0 < train < panel.n_weeks and spend[:, :train].sum() == 0:
            first = int(np.flatnonzero(spend.sum(axis=0) > 0)[0])
            out.append(_finding(
                "no_training_spend", channel,
                f"channel {channel!r} has spend only in the last {panel.n_weeks - train} "
                f"(holdout) weeks, from {panel.dates[first].date().isoformat()}: the holdout "
                f"fit never sees it, and the full-history estimate rests on "
                f"{weeks_with_spend} week(s)", weeks_with_spend=weeks_with_spend))
    return out


def _identical_spend(panel: Panel) -> list[dict]:
    out = []
    flat = panel.spend.reshape(-1, len(panel.channels))
    varying = [i for i in range(flat.shape[1]) if np.ptp(flat[:, i]) > 0]
    for i, j in combinations(varying, 2):
        r = float(np.corrcoef(flat[:, i], flat[:, j])[0, 1])
        if r >= IDENTICAL_SPEND_CORRELATION:
            a, b = panel.channels[i], panel.channels[j]
            out.append(_finding(
                "identical_spend", f"{a}, {b}",
                f"channels {a!r} and {b!r} have proportional spend (correlation {r:.4f} "
                f"over segment-weeks): no fit can tell their effects apart",
                correlation=r))
    return out


def _constant_controls(panel: Panel) -> list[dict]:
    out = []
    for k, control in enumerate(panel.control_names):
        values = panel.controls[:, :, k]
        if np.all(np.ptp(values, axis=1) == 0):
            out.append(_finding(
                "constant_control", control,
                f"control {control!r} never changes within a segment: each segment's "
                f"intercept absorbs it, so its effect is not identified"))
    return out


def _kpi_not_positive(panel: Panel) -> list[dict]:
    bad = panel.kpi <= 0
    n = int(bad.sum())
    if n == 0:
        return []
    g, t = np.nonzero(bad)
    order = np.lexsort((g, t))[:MAX_LISTED]  # earliest weeks first
    shown = ", ".join(f"{panel.segments[g[i]]} {panel.dates[t[i]].date().isoformat()}"
                      for i in order)
    more = ", ..." if n > MAX_LISTED else ""
    return [_finding(
        "kpi_not_positive", panel.kpi_name,
        f"{n} of {panel.kpi.size} segment-weeks have {panel.kpi_name} ≤ 0 (first: "
        f"{shown}{more}): an outage or missing data written as 0? The fit takes them as "
        f"real", segment_weeks=n)]


def data_findings(panel: Panel, holdout_weeks: int) -> list[dict]:
    """Every finding on the panel (see the module docstring), in ``FINDING_KINDS`` order."""
    found = [*_spend_findings(panel, holdout_weeks), *_identical_spend(panel),
             *_constant_controls(panel), *_kpi_not_positive(panel)]
    rank = {kind: i for i, kind in enumerate(FINDING_KINDS)}
    return sorted(found, key=lambda f: rank[f["kind"]])  # stable: channel order kept


def findings_markdown(findings: list[dict]) -> str:
    """The findings as a Markdown list (kind, subject, detail), or ``NO_FINDINGS``."""
    return "\n".join(f"- **{f['kind']}** ({f['subject']}): {f['detail']}"
                     for f in findings) or NO_FINDINGS
