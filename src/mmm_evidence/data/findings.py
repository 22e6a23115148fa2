"""Data findings: what in a tenant's data limits what any model can tell from it.

Not errors — the loader rejects data that breaks the schema (``data.schema``) — but facts a
reviewer must know before reading the estimates: a channel with no spend at all has no
estimable effect (its elasticity 0 is not an estimate), nor has one whose spend hardly
changes within any segment (the segment baselines absorb it), a channel whose spend starts inside
the holdout (or a cross-validation fold's test weeks) is never seen by that fit, a control
that never changes within a segment is absorbed by the segment intercept, two channels with
proportional spend cannot be told apart (nor a control proportional to another control or to
a channel's spend), weeks with a KPI of zero or below usually mean
an outage or missing data written as 0, and a fit on less than a year of weeks has no yearly
seasonality (``model.mmm.yearly_order``).

``data_findings(panel, holdout_weeks, folds)`` returns them as JSON-able dicts, in a fixed
order (kind, then channel / control order), so the same data give the same list. Given the
rolling-origin ``folds`` as (name, training weeks) pairs, it also names a channel that a
fold's fit never sees: one whose spend starts after that fold's training weeks end.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "no_training_spend": "a channel whose spend starts after the training weeks of the "
                         "holdout fit or of a cross-validation fold",
    "flat_spend": "a channel whose spend hardly changes within any segment: its effect cannot "
                  "be told from the segment baselines",
    "identical_spend": "two channels with proportional spend: their effects cannot be split",
    "identical_control": "a control proportional to another control or to a channel's spend: "
                         "their effects cannot be split",
    "constant_control": "a control that never changes within a segment",
    "kpi_not_positive": "segment-weeks with a KPI of zero or below",
    "short_history": "a fit on less than a year of weeks: its yearly seasonality is left out",
}

MAX_LISTED = 5

#: A channel whose weekly spend varies by less than this share of its mean in every segment
#: (standard deviation / mean over the weeks) has too little variation off the segment
#: baselines to estimate an effect from (measured on MMM v2: spend constant to the cent gets no
#: effect, ±1 % around a constant an elasticity of 0.45 for a channel without any).
FLAT_SPEND_CV = 0.02

#: What the validation notebook says when there is nothing to report.
NO_FINDINGS = ("No findings: every channel has spend in the training weeks that varies, no "
               "two channels' spend is proportional, no control is proportional to another input, "
               "every control varies, every KPI value is positive "
               "and every fit spans a year or more.")


def _finding(kind: str, subject: str, detail: str, **data) -> dict:
    return {"kind": kind, "subject": subject, "detail": detail, **data}


def _spend_findings(panel: Panel, holdout_weeks: int,
                    folds: Sequence[tuple[str, int]]) -> list[dict]:
    out = []
    train = max(panel.n_weeks - holdout_weeks, 0)
    splits = [("holdout", train), *folds]
    for i, channel in enumerate(panel.channels):
        spend = panel.spend[:, :, i]
        weekly = spend.sum(axis=0)
        weeks_with_spend = int((weekly > 0).sum())
        if weeks_with_spend == 0:
            out.append(_finding(
                "no_spend", channel,
                f"channel {channel!r} has no spend in any of the {panel.n_weeks} weeks: its "
                f"effect cannot be estimated, and its elasticity of 0 is not an estimate",
                weeks_with_spend=0))
            continue
        first = int(np.flatnonzero(weekly > 0)[0])
        blind = [name for name, end in splits if 0 < end < panel.n_weeks and first >= end]
        if not blind:
            continue
        start = panel.dates[first].date().isoformat()
        folds_blind = [name for name in blind if name != "holdout"]
        fold_fits = (f"the fit of {folds_blind[0]} never sees" if len(folds_blind) == 1
                     else f"the fits of {', '.join(folds_blind)} never see")
        if "holdout" in blind:
            detail = (f"channel {channel!r} has spend only in the last "
                      f"{panel.n_weeks - train} (holdout) weeks, from {start}: the holdout "
                      f"fit never sees it, and the full-history estimate rests on "
                      f"{weeks_with_spend} week(s)"
                      + (f"; {fold_fits} it either" if folds_blind else ""))
        else:
            detail = (f"channel {channel!r} has no spend before {start}: {fold_fits} it, so "
                      f"cross-validation scores its test weeks with a model that does not "
                      f"know the channel")
        out.append(_finding("no_training_spend", channel, detail,
                            weeks_with_spend=weeks_with_spend, splits=blind))
    return out


def _flat_spend(panel: Panel) -> list[dict]:
    out = []
    for i, channel in enumerate(panel.channels):
        spend = np.asarray(panel.spend[:, :, i], dtype=float)
        mean = spend.mean(axis=1)
        with_spend = mean > 0
        if not with_spend.any():
            continue  # no_spend
        cv = float((spend[with_spend].std(axis=1) / mean[with_spend]).max())
        if cv < FLAT_SPEND_CV:
            out.append(_finding(
                "flat_spend", channel,
                f"channel {channel!r}'s weekly spend varies by at most {cv:.2%} of its mean "
                f"within a segment: the segment baselines absorb a steady spend's effect, so "
                f"the channel's effect cannot be estimated from these data (its elasticity is "
                f"not an estimate)", variation=cv))
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


def _identical_controls(panel: Panel) -> list[dict]:
    """Pairs of a control and another control, or a control and a channel's spend, that are
    proportional (|correlation| >= IDENTICAL_SPEND_CORRELATION over segment-weeks): the fit
    cannot split their effects, and a control that moves with a channel takes that channel's
    effect, or gives it one it does not have."""
    out = []
    rows = panel.n_segments * panel.n_weeks
    controls = np.asarray(panel.controls).reshape(rows, len(panel.control_names))
    spend = np.asarray(panel.spend).reshape(rows, len(panel.channels))

    def varies(x: np.ndarray) -> bool:
        return bool(np.ptp(x) > 0)

    pairs = [(panel.control_names[i], controls[:, i], panel.control_names[j], controls[:, j],
              "control") for i, j in combinations(range(controls.shape[1]), 2)]
    pairs += [(name, controls[:, k], channel, spend[:, c], "channel")
              for k, name in enumerate(panel.control_names)
              for c, channel in enumerate(panel.channels)]
    for a, x, b, y, other in pairs:
        if not (varies(x) and varies(y)):
            continue
        r = float(np.corrcoef(x, y)[0, 1])
        if abs(r) >= IDENTICAL_SPEND_CORRELATION:
            what = (f"the spend of channel {b!r}" if other == "channel" else f"control {b!r}")
            out.append(_finding(
                "identical_control", f"{a}, {b}",
                f"control {a!r} is proportional to {what} (correlation {r:.4f} over "
                f"segment-weeks): no fit can tell their effects apart"
                + (f"; the elasticity of {b!r} is not identified" if other == "channel"
                   else ""),
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


def _short_history(panel: Panel, holdout_weeks: int, folds: Sequence[tuple[str, int]],
                   seasonality_min_weeks: int) -> list[dict]:
    fits = [("the full-history fit", panel.n_weeks),
            ("the holdout fit", max(panel.n_weeks - holdout_weeks, 0)),
            *((f"the fit of {name}", end) for name, end in folds)]
    short = [(name, weeks) for name, weeks in fits
             if 0 < weeks < seasonality_min_weeks]
    if not short:
        return []
    listed = ", ".join(f"{name} ({weeks} weeks)" for name, weeks in short)
    return [_finding(
        "short_history", "seasonality",
        f"{listed}: fewer than {seasonality_min_weeks} weeks, so no yearly seasonality is "
        f"fitted there (less than a year cannot tell it from the trend, and extrapolates it "
        f"wildly); a seasonal swing in the weeks it forecasts is left to the error",
        fits=[name for name, _ in short])]


def data_findings(panel: Panel, holdout_weeks: int,
                  folds: Sequence[tuple[str, int]] = (),
                  seasonality_min_weeks: int = 0) -> list[dict]:
    """Every finding on the panel (see the module docstring), in ``FINDING_KINDS`` order;
    ``folds``: (name, training weeks) of each rolling-origin fold; ``seasonality_min_weeks``:
    the model's ``ModelSettings.seasonality_min_weeks`` (0: no fit is short)."""
    found = [*_spend_findings(panel, holdout_weeks, folds), *_flat_spend(panel),
             *_identical_spend(panel),
             *_identical_controls(panel), *_constant_controls(panel), *_kpi_not_positive(panel),
             *_short_history(panel, holdout_weeks, folds, seasonality_min_weeks)]
    rank = {kind: i for i, kind in enumerate(FINDING_KINDS)}
    return sorted(found, key=lambda f: rank[f["kind"]])  # stable: channel order kept


def findings_markdown(findings: list[dict]) -> str:
    """The findings as a Markdown list (kind, subject, detail), or ``NO_FINDINGS``."""
    return "\n".join(f"- **{f['kind']}** ({f['subject']}): {f['detail']}"
                     for f in findings) or NO_FINDINGS
