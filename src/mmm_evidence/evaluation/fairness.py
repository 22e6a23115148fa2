"""Fairness of MMM v2 across segments and segment attribute groups.

An MMM steers budgets across regions and audiences: if it over- or under-states some segments,
the money follows the error. This module measures, per segment and per group of a segment
attribute (region, income tier, urbanicity, ...):

- **errors** of the holdout model over the holdout weeks (it never saw them), per segment-week:
  R² (around each segment's own holdout mean, so pooling segments of different sizes does not
  inflate it), MAPE, bias (mean signed error, predicted − actual, KPI units) and normalised
  bias (Σ(predicted − actual) / Σ actual: scale-free, positive = over-predicted);
- **uplift**: the change of KPI over the whole history when every channel's spend is ×1.10,
  from the full-history model, beside the truth's (synthetic tenants), and its relative error
  predicted / true − 1 (positive = the model over-states the segment's uplift);
- **gaps** between the groups of each grouping: MAPE max / min − 1, normalised bias max − min,
  uplift error max − min. The gates (pipeline/gates.py) compare them with thresholds.

Per-group numbers come from fairlearn's ``MetricFrame`` (segment-weeks, or segments for the
uplift, split by the group). Gaps are scale-free on purpose: a gate must mean the same for a
tenant with 8 segments of 100 000 people and one with 200 of 5 000.

Design of the model side: MMM v2 is segment-level — each segment has its own baseline
(intercept, trend, seasonality, controls) and the media response (adstock, saturation, β) is
pooled across segments and scaled by segment size. So predictions and uplifts exist per
segment; a segment whose media works differently from the pooled response shows up here as
an uplift error, which is what the uplift gap gate judges.

Small cells: a group whose smallest (week) cell holds fewer than k individuals (privacy.py) is
suppressed in every table this module hands out (its values blanked); it still counts in the
gaps, which name it only as ``(suppressed)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mmm_evidence.data.panel import Panel

#: The spend change of the uplift comparison (the synthetic truth's ``uplift_10pct``).
UPLIFT_FACTOR = 1.10
#: The grouping by segment itself.
SEGMENT = "segment"
#: Shown instead of the name of a suppressed group.
SUPPRESSED = "(suppressed)"
#: The group of the segments without a value of an attribute.
NO_VALUE = "(no value)"

ERROR_COLUMNS = ("r2", "mape", "bias", "normalised_bias")
UPLIFT_COLUMNS = ("predicted_uplift", "true_uplift", "uplift_error", "predicted_relative",
                  "true_relative")
#: Gap of each judged metric: "relative" = max / min − 1, "difference" = max − min.
PARITY_GAPS = {"mape": "relative", "normalised_bias": "difference"}
UPLIFT_GAPS = {"uplift_error": "difference"}

__all__ = [
    "UPLIFT_FACTOR", "SEGMENT", "SUPPRESSED", "ERROR_COLUMNS", "UPLIFT_COLUMNS", "PARITY_GAPS",
    "UPLIFT_GAPS", "FairnessAssessment", "assess_fairness", "holdout_frame", "uplift_frame",
    "attribute_groupings", "error_table", "uplift_table", "uplift_gaps", "gap", "group_min_counts",
    "uplift_gap_note",
    "suppress", "r2_within", "mape", "mean_signed_error", "normalised_bias",
]


# --------------------------------------------------------------------------- metrics


def r2_within(y_true, y_pred, segment_mean) -> float:
    """1 − SSE / SST with SST around each row's own segment mean (NaN when SST is 0)."""
    y, p, m = (np.asarray(a, dtype=float) for a in (y_true, y_pred, segment_mean))
    sst = float(((y - m) ** 2).sum())
    return float("nan") if sst == 0.0 else 1.0 - float(((y - p) ** 2).sum()) / sst


def mape(y_true, y_pred) -> float:
    """Mean |predicted − actual| / |actual| over rows with a non-zero actual."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    keep = y != 0
    return float(np.mean(np.abs(p[keep] - y[keep]) / np.abs(y[keep]))) if keep.any() \
        else float("nan")


def mean_signed_error(y_true, y_pred) -> float:
    """Mean of predicted − actual (KPI units; positive = over-predicted)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    return float(np.mean(p - y)) if y.size else float("nan")


def normalised_bias(y_true, y_pred) -> float:
    """Σ(predicted − actual) / Σ actual (NaN when Σ actual is 0)."""
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    total = float(y.sum())
    return float("nan") if total == 0.0 else float((p - y).sum()) / total


def _sum_pred(y_true, y_pred) -> float:
    return float(np.sum(y_pred))


def _sum_true(y_true, y_pred) -> float:
    return float(np.sum(y_true))


def _uplift_error(y_true, y_pred) -> float:
    """(predicted − true) / |true| uplift: relative to the size of the true effect, so a
    segment whose media lower its KPI (true uplift below 0) is judged too (it dropped out of
    the gap as NaN); NaN only when the true uplift is 0."""
    true = float(np.sum(y_true))
    return (float(np.sum(y_pred)) - true) / abs(true) if true != 0 else float("nan")


def _predicted_relative(y_true, y_pred, predicted_kpi) -> float:
    total = float(np.sum(predicted_kpi))
    return float(np.sum(y_pred)) / total if total else float("nan")


def _true_relative(y_true, y_pred, expected_kpi) -> float:
    total = float(np.sum(expected_kpi))
    return float(np.sum(y_true)) / total if total else float("nan")


# --------------------------------------------------------------------------- frames


def attribute_groupings(panel: Panel, attributes: Sequence[str]
                        ) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """({attribute: segment -> group label}, {attribute: why it is skipped}) for the
    requested segment attributes of the panel's segment table."""
    groupings: dict[str, pd.Series] = {}
    skipped: dict[str, str] = {}
    table = panel.attributes
    for name in attributes:
        if table is None:
            skipped[name] = "the tenant has no segment attribute table"
            continue
        if name not in table.columns:
            skipped[name] = (f"the segment table has no column {name!r} (columns: "
                             f"{', '.join(map(str, table.columns)) or 'none'})")
            continue
        column = table[name].reindex(list(panel.segments))
        # a segment without a value is its own group, judged like the others (skipping the
        # attribute for one blank cell would pass a gate the other groups fail)
        labels = column.astype(object).where(column.notna(), NO_VALUE).astype(str)
        if labels.nunique() < 2:
            skipped[name] = f"every segment has the same {name} ({labels.iloc[0]!r})"
            continue
        if labels.nunique() == len(labels):
            skipped[name] = (f"every segment has its own {name}: the same groups as the "
                             f"segments, judged there")
            continue
        groupings[name] = labels.rename(name)
    return groupings, skipped


def holdout_frame(panel: Panel, holdout_model: Any, holdout_weeks: int) -> pd.DataFrame:
    """One row per holdout segment-week: segment, date, actual, predicted (the holdout model
    over the whole panel, so carryover into the holdout is kept) and the segment's mean actual
    over the holdout."""
    if not 0 < holdout_weeks < panel.n_weeks:
        raise ValueError(f"tenant {panel.tenant!r}: holdout_weeks {holdout_weeks} must be "
                         f"between 1 and {panel.n_weeks - 1}")
    start = panel.n_weeks - holdout_weeks
    predicted = np.asarray(holdout_model.predict(panel), dtype=float)[:, start:]
    actual = panel.kpi[:, start:]
    g_n, h_n = actual.shape
    return pd.DataFrame({
        SEGMENT: np.repeat(np.array(panel.segments, dtype=object), h_n),
        "date": np.tile(panel.dates[start:], g_n),
        "actual": actual.reshape(-1),
        "predicted": predicted.reshape(-1),
        "segment_mean": np.repeat(actual.mean(axis=1), h_n),
    })


def uplift_frame(panel: Panel, full_model: Any) -> pd.DataFrame | None:
    """One row per segment: the full-history model's uplift of a +10 % spend change in every
    channel and week, its predicted KPI, and the truth's uplift and expected KPI — or None when
    the tenant's truth has no per-segment uplift."""
    truth = (panel.truth or {}).get("segments") if isinstance(panel.truth, Mapping) else None
    if not isinstance(truth, Mapping) or any(
            not isinstance(truth.get(s), Mapping) or truth[s].get("uplift_10pct") is None
            for s in panel.segments):
        return None
    predicted_kpi = np.asarray(full_model.predict(panel), dtype=float).sum(axis=1)
    uplift = full_model.segment_uplift(panel, UPLIFT_FACTOR)
    rows = []
    for g, seg in enumerate(panel.segments):
        true_up = float(truth[seg]["uplift_10pct"])
        rel = truth[seg].get("uplift_10pct_relative")
        expected = true_up / float(rel) if rel else float("nan")
        rows.append({SEGMENT: seg, "predicted_uplift": uplift[seg]["uplift"],
                     "true_uplift": true_up, "predicted_kpi": float(predicted_kpi[g]),
                     "expected_kpi": expected})
    return pd.DataFrame(rows)


#: A model that predicts at most this share of the true uplift in every segment misses it
#: everywhere: the uplift errors all sit near −100 %, and their gap says nothing.
NEAR_NONE = 0.1


def uplift_gap_note(frame: pd.DataFrame) -> str | None:
    """Why the gap of the uplift's relative error says nothing about an ``uplift_frame``, or
    None: the truth has no uplift in any segment (every relative error is undefined), or the
    model has none (every error is −100 %, a gap of 0 that would read as even-handed) or
    almost none (at most ``NEAR_NONE`` of the truth in every segment)."""
    true = frame["true_uplift"].to_numpy(dtype=float)
    predicted = frame["predicted_uplift"].to_numpy(dtype=float)
    if not np.any(true != 0):
        return ("the truth gives no media uplift in any segment, so the uplift's relative "
                "error is undefined")
    if not np.any(np.abs(predicted) > 1e-9 * np.abs(true).sum()):
        return ("the model predicts no media uplift in any segment (each segment's uplift "
                "error is −100 %): there is no disparity to judge — the elasticity gates "
                "judge the missing effect")
    judged = true != 0
    if np.all(np.abs(predicted[judged]) <= NEAR_NONE * np.abs(true[judged])):
        return (f"the model predicts at most {NEAR_NONE:.0%} of the true media uplift in every "
                f"segment: errors pressed against −100 % leave no disparity to judge — the "
                f"elasticity gates judge the missing effect")
    return None


# --------------------------------------------------------------------------- per group


def _metric_frame(metrics: dict, y_true, y_pred, groups, sample_params: dict | None = None):
    from fairlearn.metrics import MetricFrame

    return MetricFrame(metrics=metrics, y_true=np.asarray(y_true, dtype=float),
                       y_pred=np.asarray(y_pred, dtype=float),
                       sensitive_features=pd.Series(np.asarray(groups, dtype=object),
                                                    name="group"),
                       sample_params=sample_params)


def error_table(frame: pd.DataFrame, groups: pd.Series | None = None) -> pd.DataFrame:
    """Per group (of segment -> group ``groups``; by segment when None): R² (within
    segments), MAPE, bias, normalised bias of the holdout segment-weeks; segments, weeks."""
    labels = frame[SEGMENT] if groups is None else frame[SEGMENT].map(groups)
    mf = _metric_frame(
        {"r2": r2_within, "mape": mape, "bias": mean_signed_error,
         "normalised_bias": normalised_bias},
        frame["actual"], frame["predicted"], labels,
        {"r2": {"segment_mean": frame["segment_mean"].to_numpy(dtype=float)}})
    table = mf.by_group.astype(float)
    counts = frame.assign(group=labels.to_numpy()).groupby("group")
    table["segments"] = counts[SEGMENT].nunique()
    table["weeks"] = counts["date"].nunique()
    table.index = table.index.astype(str)
    table.index.name = "group"
    return table


def uplift_table(frame: pd.DataFrame, groups: pd.Series | None = None) -> pd.DataFrame:
    """Per group: predicted and true uplift (sums over the group's segments), the uplift's
    relative error predicted / true − 1, and predicted and true uplift relative to the KPI."""
    labels = frame[SEGMENT] if groups is None else frame[SEGMENT].map(groups)
    mf = _metric_frame(
        {"predicted_uplift": _sum_pred, "true_uplift": _sum_true, "uplift_error": _uplift_error,
         "predicted_relative": _predicted_relative, "true_relative": _true_relative},
        frame["true_uplift"], frame["predicted_uplift"], labels,
        {"predicted_relative": {"predicted_kpi": frame["predicted_kpi"].to_numpy(dtype=float)},
         "true_relative": {"expected_kpi": frame["expected_kpi"].to_numpy(dtype=float)}})
    table = mf.by_group.astype(float)
    table.index = table.index.astype(str)
    table.index.name = "group"
    return table


def gap(values: pd.Series, kind: str, hidden: Sequence[str] = ()) -> dict:
    """The gap between the largest and the smallest finite value: ``kind`` "relative" = max /
    min − 1 (infinite when the min is 0 and the max is not), "difference" = max − min; also
    max, min, their groups (``hidden`` groups shown as ``(suppressed)``), the group count and
    fairlearn's ratio min / max (for non-negative values only).
    ``gap`` is None with fewer than two groups."""
    if kind not in ("relative", "difference"):
        raise ValueError(f"gap kind must be 'relative' or 'difference', got {kind!r}")
    finite = values[np.isfinite(values.to_numpy(dtype=float))].astype(float)
    out: dict[str, Any] = {"kind": kind, "groups": int(finite.size), "max": None, "min": None,
                           "max_group": None, "min_group": None, "difference": None,
                           "ratio": None, "gap": None}
    if finite.size < 2:
        return out
    hi, lo = finite.idxmax(), finite.idxmin()
    vmax, vmin = float(finite[hi]), float(finite[lo])
    out.update({"max": vmax, "min": vmin,
                "max_group": SUPPRESSED if hi in hidden else str(hi),
                "min_group": SUPPRESSED if lo in hidden else str(lo),
                "difference": vmax - vmin,
                "ratio": vmin / vmax if vmax > 0 and vmin >= 0 else None})
    if kind == "difference":
        out["gap"] = vmax - vmin
    elif vmin > 0:
        out["gap"] = vmax / vmin - 1.0
    else:
        out["gap"] = float("inf") if vmax > vmin else 0.0
    return out


def group_min_counts(counts: pd.DataFrame, groups: pd.Series | None = None) -> pd.Series:
    """Smallest cell count per group: ``counts`` is segment x week; a group's cell of a week
    sums its segments'."""
    if groups is None:
        return counts.min(axis=1).rename("min_count")
    summed = counts.groupby(groups.reindex(counts.index).to_numpy()).sum()
    summed.index = summed.index.astype(str)
    return summed.min(axis=1).rename("min_count")


def suppress(table: pd.DataFrame, hidden: Sequence[str],
             keep: Sequence[str] = ("segments", "weeks")) -> pd.DataFrame:
    """``table`` with every value of the ``hidden`` groups blanked (NaN, except the ``keep``
    columns) and a boolean column ``suppressed``."""
    out = table.copy()
    mask = out.index.isin(list(hidden))
    blank = [c for c in out.columns if c not in keep]
    out[blank] = out[blank].astype(float)
    out.loc[mask, blank] = np.nan
    out["suppressed"] = mask
    return out


def uplift_gaps(table: pd.DataFrame, hidden: Sequence[str] = ()) -> dict[str, dict]:
    """The gap of each uplift metric (``UPLIFT_GAPS``) over an ``uplift_table``'s groups."""
    return {m: gap(table[m], kind, hidden) for m, kind in UPLIFT_GAPS.items()}


# --------------------------------------------------------------------------- assessment


@dataclass
class FairnessAssessment:
    """Per grouping (``segment`` and each usable attribute): error and uplift tables, the
    groups to suppress, the gaps; ``scraps()`` is what the notebook glues."""

    tenant: str
    holdout_weeks: int
    groupings: dict[str, pd.Series | None]
    skipped: dict[str, str]
    errors: dict[str, pd.DataFrame]
    uplift: dict[str, pd.DataFrame] | None
    uplift_note: str | None
    overall: dict[str, float]
    hidden: dict[str, list[str]] = field(default_factory=dict)
    k: int | None = None
    suppression_note: str | None = None
    #: why the uplift gap cannot be judged although there is truth (``uplift_gap_note``)
    uplift_gap_note: str | None = None
    #: per grouping, the uplift-error gap of the same model form given the true media
    #: response (``validation.oracle_fit``): the floor of a pooled response on these data
    oracle_uplift_gaps: dict[str, dict] | None = None

    def table(self, grouping: str = SEGMENT) -> pd.DataFrame:
        """Errors and (when there is truth) uplift of one grouping, small cells suppressed."""
        table = self.errors[grouping]
        if self.uplift is not None:
            table = table.join(self.uplift[grouping], how="left")
        return suppress(table, self.hidden.get(grouping, []))

    def gaps(self) -> dict[str, dict[str, dict]]:
        """{grouping: {metric: gap}} over every group, suppressed ones included (named
        ``(suppressed)``)."""
        out: dict[str, dict[str, dict]] = {}
        for grouping in self.groupings:
            hidden = self.hidden.get(grouping, [])
            out[grouping] = {m: gap(self.errors[grouping][m], kind, hidden)
                             for m, kind in PARITY_GAPS.items()}
            if self.uplift is not None:
                out[grouping].update(uplift_gaps(self.uplift[grouping], hidden))
        return out

    def suppressed_count(self) -> int:
        return sum(len(v) for v in self.hidden.values())

    def scraps(self) -> dict:
        """{"tenant", "fairness"}: JSON-able; per-group tables with small cells suppressed."""
        tables = {}
        for grouping in self.groupings:
            table = self.table(grouping)
            tables[grouping] = {str(group): {col: _plain(row[col]) for col in table.columns}
                                for group, row in table.iterrows()}
        return {"tenant": self.tenant, "fairness": {
            "holdout_weeks": self.holdout_weeks,
            "uplift_factor": UPLIFT_FACTOR,
            "groupings": list(self.groupings),
            "skipped": dict(self.skipped),
            "overall": dict(self.overall),
            "tables": tables,
            "gaps": self.gaps(),
            "has_uplift_truth": self.uplift is not None,
            "uplift_note": self.uplift_note,
            "uplift_gap_note": self.uplift_gap_note,
            "suppressed": {g: len(v) for g, v in self.hidden.items()},
            "k": self.k,
            "suppression_note": self.suppression_note,
            "oracle_uplift_gaps": self.oracle_uplift_gaps,
        }}


def _plain(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def _complementary_suppression(hidden: dict[str, list[str]],
                               groupings: dict[str, pd.Series | None],
                               counts: pd.DataFrame, k: int) -> dict[str, list[str]]:
    """``hidden`` with every attribute group also hidden whose suppressed segments, together,
    have a cell below ``k``: the group's published sums minus its other segments' published
    rows would give them back exactly (complementary suppression)."""
    small = set(hidden.get(SEGMENT, []))
    if not small:
        return hidden
    out = {name: list(v) for name, v in hidden.items()}
    for name, groups in groupings.items():
        if groups is None:
            continue
        for group in sorted(set(groups.astype(str))):
            if group in out[name]:
                continue
            members = [str(s) for s, g in groups.items() if str(g) == group]
            inside = [m for m in members if m in small]
            if inside and not counts.loc[inside].sum(axis=0).min() >= k:
                out[name] = sorted([*out[name], group])
    return out


def assess_fairness(panel: Panel, holdout_model: Any, full_model: Any, holdout_weeks: int,
                    attributes: Sequence[str] = ("region", "income_tier", "urbanicity"), *,
                    counts: pd.DataFrame | None = None, k: int | None = None,
                    counts_note: str | None = None,
                    oracle_model: Any | None = None) -> FairnessAssessment:
    """Errors per segment and attribute group of the holdout model over the holdout weeks,
    uplift vs truth of the full-history model, their gaps; groups whose smallest cell (of the
    segment x week ``counts``) is below ``k`` are suppressed in the tables. With
    ``oracle_model`` (the same form given the true media response) also its uplift-error
    gaps: what a pooled media response reaches on these data when nothing is misestimated."""
    frame = holdout_frame(panel, holdout_model, holdout_weeks)
    attr_groups, skipped = attribute_groupings(panel, attributes)
    groupings: dict[str, pd.Series | None] = {SEGMENT: None, **attr_groups}
    errors = {name: error_table(frame, groups) for name, groups in groupings.items()}
    up = uplift_frame(panel, full_model)
    uplift = None if up is None else {name: uplift_table(up, groups)
                                      for name, groups in groupings.items()}
    note = None if up is not None else (
        "no ground truth for this tenant" if not panel.truth
        else "the tenant's truth has no per-segment uplift")
    overall = {"r2": r2_within(frame["actual"], frame["predicted"], frame["segment_mean"]),
               "mape": mape(frame["actual"], frame["predicted"]),
               "bias": mean_signed_error(frame["actual"], frame["predicted"]),
               "normalised_bias": normalised_bias(frame["actual"], frame["predicted"])}
    hidden: dict[str, list[str]] = {}
    suppression_note = counts_note
    if counts is not None and k is not None:
        counts = counts.reindex([str(s) for s in panel.segments])
        for name, groups in groupings.items():
            mins = group_min_counts(counts, groups)
            hidden[name] = sorted(str(g) for g, v in mins.items() if not v >= k)
        hidden = _complementary_suppression(hidden, groupings, counts, k)
    elif suppression_note is None:
        suppression_note = "no individual counts: small cells cannot be suppressed"
    oracle_gaps = None
    oracle_up = (uplift_frame(panel, oracle_model)
                 if oracle_model is not None and up is not None else None)
    if oracle_up is not None:
        oracle_gaps = {name: uplift_gaps(uplift_table(oracle_up, groups), hidden.get(name, []))
                       for name, groups in groupings.items()}
    return FairnessAssessment(
        tenant=panel.tenant, holdout_weeks=holdout_weeks, groupings=groupings, skipped=skipped,
        errors=errors, uplift=uplift, uplift_note=note,
        uplift_gap_note=None if up is None else uplift_gap_note(up),
        overall={k_: _plain(v) for k_, v in overall.items()}, hidden=hidden, k=k,
        suppression_note=suppression_note, oracle_uplift_gaps=oracle_gaps)
