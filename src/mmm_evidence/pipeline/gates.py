"""Gates and verdicts: pure functions from collected scraps and gate settings to pass/fail/null.

A gate is ``{"name", "threshold", "value", "passed", "detail"}`` with ``passed`` true, false or
None (= not assessable, e.g. a truth-based gate for a tenant without ground truth).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mmm_evidence.config import (
    BaselinesGate,
    ElasticityGate,
    FairnessGate,
    GateSettings,
    IdentificationGate,
    ImportanceGate,
    RoiGate,
)
from mmm_evidence.evaluation.metrics import EXACT_FIT, contribution_slope, skill_score

PASS = "PASS"
FAIL = "FAIL"
NOT_ASSESSABLE = "NOT ASSESSABLE"

HOLDOUT_R2 = "holdout_r2"
ELASTICITY_MEDIAN_ERROR = "elasticity_median_error"
ELASTICITY_NO_MISSED_CHANNEL = "elasticity_no_missed_channel"
ELASTICITY_NO_PHANTOM_CHANNEL = "elasticity_no_phantom_channel"
ELASTICITY_IDENTIFIED = "elasticity_identified"
ROI_MEDIAN_ERROR = "roi_median_error"
BEATS_BASELINES = "beats_baselines"
ROBUSTNESS = "robustness"
IMPORTANCE_AGREEMENT = "importance_agreement"
FAIRNESS_ERROR_PARITY = "fairness_error_parity"
FAIRNESS_UPLIFT_GAP = "fairness_uplift_gap"
PRIVACY_NO_PII = "privacy_no_pii"
PRIVACY_K_ANONYMITY = "privacy_k_anonymity"
PRIVACY_NO_RAW_ROWS = "privacy_no_raw_rows"

__all__ = [
    "PASS", "FAIL", "NOT_ASSESSABLE", "HOLDOUT_R2", "ELASTICITY_MEDIAN_ERROR",
    "ELASTICITY_NO_MISSED_CHANNEL", "ELASTICITY_NO_PHANTOM_CHANNEL", "ELASTICITY_IDENTIFIED",
    "ROI_MEDIAN_ERROR", "roi_median_error_gate",
    "BEATS_BASELINES", "gate",
    "holdout_r2_gate", "elasticity_table",
    "elasticity_median_error_gate", "elasticity_no_missed_channel_gate",
    "elasticity_no_phantom_channel_gate",
    "elasticity_identified_gate", "identification", "flat_responses", "beats_baselines_gate",
    "evaluate_gates",
    "tenant_verdict", "experiment_verdict", "count_gates", "ROBUSTNESS", "robustness_gate",
    "IMPORTANCE_AGREEMENT", "importance_agreement_gate",
    "FAIRNESS_ERROR_PARITY", "FAIRNESS_UPLIFT_GAP", "PRIVACY_NO_PII", "PRIVACY_K_ANONYMITY",
    "PRIVACY_NO_RAW_ROWS", "parity_checks", "fairness_segments", "fairness_error_parity_gate",
    "fairness_uplift_gap_gate", "privacy_no_pii_gate", "privacy_k_anonymity_gate",
    "privacy_no_raw_rows_gate", "finite_number",
]


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None when missing, non-numeric or NaN/inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def gate(name: str, threshold: float, value: float | None, passed: bool | None,
         detail: str) -> dict:
    return {"name": name, "threshold": threshold, "value": value, "passed": passed,
            "detail": detail}


def holdout_r2_gate(metrics: Any, min_r2: float) -> dict:
    """Holdout R² of the weekly total KPI must be at least ``min_r2``."""
    value = finite_number(_get(metrics, "holdout", "r2"))
    if value is None:
        return gate(HOLDOUT_R2, min_r2, None, None, "no holdout R² was reported")
    passed = value >= min_r2
    detail = f"holdout R² {value:.3f} {'≥' if passed else '<'} {min_r2:g}"
    folds = [finite_number(f.get("r2")) for f in _get(metrics, "cv", "folds") or []
             if isinstance(f, Mapping)]
    if folds and None not in folds:  # shown, not gated: one split can be lucky or unlucky
        detail += (f" (rolling-origin CV: mean R² {statistics.fmean(folds):.3f} over "
                    f"{len(folds)} fold{'s' if len(folds) > 1 else ''}, lowest {min(folds):.3f})")
    return gate(HOLDOUT_R2, min_r2, value, passed, detail)


def elasticity_table(scraps: Mapping[str, Any], settings: ElasticityGate) -> dict[str, dict]:
    """Per channel: estimate, truth, relative_error, true_share, counted (in the median gate:
    |true share| ≥ ``min_true_share``; a channel whose truth gives no contribution share — a
    truth file with elasticities only — is counted when its |true elasticity| is at least
    ``zero_true_elasticity``, and ``counted_by`` says which rule applied; a channel that
    lowers the KPI counts as much as one that raises it); with an
    ``oracle_elasticities`` scrap also oracle_estimate and oracle_relative_error (the model's
    form given the true media response: the floor of its error on these data)."""
    estimates = scraps.get("elasticities") or {}
    oracle = scraps.get("oracle_elasticities") or {}
    truth = scraps.get("truth") or {}
    true_el = truth.get("elasticity") or {} if isinstance(truth, Mapping) else {}
    true_share = truth.get("contribution_share") or {} if isinstance(truth, Mapping) else {}
    channels = list(estimates) + [c for c in true_el if c not in estimates]
    table: dict[str, dict] = {}
    for channel in channels:
        est = finite_number(estimates.get(channel))
        tru = finite_number(true_el.get(channel))
        share = finite_number(true_share.get(channel))
        rel = abs(est - tru) / abs(tru) if est is not None and tru not in (None, 0.0) else None
        if tru is None:
            counted_by, counted = None, False
        elif share is not None:
            counted_by = "share"
            counted = abs(share) >= settings.min_true_share and tru != 0.0
        else:
            counted_by = "elasticity"
            counted = abs(tru) >= settings.zero_true_elasticity
        table[channel] = {"estimate": est, "truth": tru, "relative_error": rel,
                          "true_share": share, "counted": counted, "counted_by": counted_by}
        if oracle:
            ora = finite_number(oracle.get(channel))
            table[channel].update({
                "oracle_estimate": ora,
                "oracle_relative_error": (abs(ora - tru) / abs(tru)
                                          if ora is not None and tru not in (None, 0.0)
                                          else None)})
    return table


def elasticity_median_error_gate(table: Mapping[str, Mapping], has_truth: bool,
                                 settings: ElasticityGate) -> dict:
    """Median relative elasticity error over channels with true share ≥ min_true_share."""
    threshold = settings.max_median_relative_error
    name = ELASTICITY_MEDIAN_ERROR
    if not has_truth:
        return gate(name, threshold, None, None, "no ground truth for this tenant")
    counted = {c: row for c, row in table.items() if row["counted"]}
    by_elasticity = sorted(c for c, row in table.items() if row.get("counted_by") == "elasticity")
    bars = "|" if any(row["truth"] is not None and row["truth"] < 0
                      for row in table.values() if row["counted"]) else ""
    rule = (f"{bars}true share{bars} ≥ {settings.min_true_share:g}" if not by_elasticity else
            f"{bars}true share{bars} ≥ {settings.min_true_share:g} (the truth gives no "
            f"contribution share for {', '.join(by_elasticity)}: counted when the "
            f"{bars}true elasticity{bars} is ≥ {settings.zero_true_elasticity:g})")
    if not counted:
        return gate(name, threshold, None, None, f"no channel with {rule}")
    missing = sorted(c for c, row in counted.items() if row["relative_error"] is None)
    errors = [row["relative_error"] for row in counted.values()
              if row["relative_error"] is not None]
    value = statistics.median(errors) if errors else None
    per_channel = ", ".join(f"{c} {row['relative_error']:.3f}" for c, row in counted.items()
                            if row["relative_error"] is not None)
    detail = f"median over {len(counted)} channel(s) with {rule}: {per_channel or '-'}"
    floor = [row.get("oracle_relative_error") for row in counted.values()]
    if floor and all(v is not None for v in floor):
        detail += (f"; given the true media response the same model form reaches "
                   f"{statistics.median(floor):.3f} (the error floor on these data)")
    harmful = sorted(c for c, row in counted.items() if row["truth"] < 0)
    if harmful:
        detail += (f"; {', '.join(harmful)} lower{'s' * (len(harmful) == 1)} the KPI (true "
                   f"elasticity below 0; counted by the size of the effect), which MMM v2's "
                   f"non-negative media effects cannot represent")
    if missing:
        return gate(name, threshold, value, False,
                    f"{detail}; no estimate for {', '.join(missing)}")
    return gate(name, threshold, value, value <= threshold, detail)


def roi_median_error_gate(scraps: Mapping[str, Any], has_truth: bool, settings: RoiGate
                          ) -> dict:
    """Median relative ROI error |estimate − truth| / |truth| over channels with |true
    contribution share| ≥ ``min_true_share`` and a true ROI; null without truth or without
    true ROIs (a truth file with elasticities only). A channel with a true ROI but none
    estimated (no spend in the data) is left out and named."""
    name, threshold = ROI_MEDIAN_ERROR, settings.max_median_relative_error
    if not has_truth:
        return gate(name, threshold, None, None, "no ground truth for this tenant")
    truth = scraps.get("truth") if isinstance(scraps.get("truth"), Mapping) else {}
    true_roi = truth.get("roi") if isinstance(truth.get("roi"), Mapping) else {}
    true_share = (truth.get("contribution_share")
                  if isinstance(truth.get("contribution_share"), Mapping) else {})
    estimates = scraps.get("roi") if isinstance(scraps.get("roi"), Mapping) else {}
    counted, left_out = {}, []
    for channel, value in true_roi.items():
        tru, share = finite_number(value), finite_number(true_share.get(channel))
        if tru in (None, 0.0) or share is None or abs(share) < settings.min_true_share:
            continue
        est = finite_number(estimates.get(channel))
        if est is None:
            left_out.append(str(channel))
            continue
        counted[str(channel)] = abs(est - tru) / abs(tru)
    rule = f"true share ≥ {settings.min_true_share:g} and a true ROI"
    if not counted:
        why = (f"no channel with {rule}" if true_roi else
               "the truth gives no ROI per channel")
        return gate(name, threshold, None, None,
                    why + (f" (no estimate for {', '.join(left_out)})" if left_out else ""))
    value = statistics.median(counted.values())
    detail = (f"median over {len(counted)} channel(s) with {rule}: "
              + ", ".join(f"{c} {e:.3f}" for c, e in counted.items()))
    if left_out:
        detail += f"; no estimated ROI for {', '.join(left_out)} (no spend)"
    return gate(name, threshold, value, value <= threshold, detail)


def elasticity_no_missed_channel_gate(table: Mapping[str, Mapping], has_truth: bool,
                                      settings: ElasticityGate) -> dict:
    """No channel with |true elasticity| ≥ zero_true_elasticity may be estimated at (about)
    zero: a channel that lowers the KPI by that much is an effect missed too (MMM v2 cannot
    represent it, and this gate says so)."""
    name = ELASTICITY_NO_MISSED_CHANNEL
    if not has_truth:
        return gate(name, 0, None, None, "no ground truth for this tenant")
    relevant = [c for c, row in table.items()
                if row["truth"] is not None and abs(row["truth"]) >= settings.zero_true_elasticity]
    harmful = sorted(c for c in relevant if table[c]["truth"] < 0)
    missed = sorted(c for c in relevant if table[c]["estimate"] is None
                    or abs(table[c]["estimate"]) <= settings.zero_estimate)
    size = "|true elasticity|" if harmful else "true elasticity"
    detail = (f"{len(relevant)} channel(s) with {size} ≥ "
              f"{settings.zero_true_elasticity:g}; estimated at ≤ {settings.zero_estimate:g}: "
              f"{', '.join(missed) or 'none'}")
    if harmful:
        detail += (f" ({', '.join(harmful)} lower{'s' * (len(harmful) == 1)} the KPI: an "
                   f"effect MMM v2's non-negative media cannot represent)")
    return gate(name, 0, len(missed), not missed, detail)


def elasticity_no_phantom_channel_gate(table: Mapping[str, Mapping], has_truth: bool,
                                       settings: ElasticityGate) -> dict:
    """The mirror of the missed-channel gate: no channel without a true effect (true
    elasticity ≤ zero_estimate) may be estimated at an elasticity ≥ zero_true_elasticity. The
    median-error gate does not see such a channel (its true share is below min_true_share)."""
    name = ELASTICITY_NO_PHANTOM_CHANNEL
    if not has_truth:
        return gate(name, 0, None, None, "no ground truth for this tenant")
    relevant = [c for c, row in table.items()
                if row["truth"] is not None and row["truth"] <= settings.zero_estimate]
    phantom = sorted(c for c in relevant if table[c]["estimate"] is not None
                     and table[c]["estimate"] >= settings.zero_true_elasticity)
    shown = ", ".join(f"{c} {table[c]['estimate']:.4g}" for c in phantom) or "none"
    positive = " positive" if any(table[c]["truth"] < -settings.zero_estimate
                                  for c in relevant) else ""
    detail = (f"{len(relevant)} channel(s) without a true{positive} effect (true elasticity ≤ "
              f"{settings.zero_estimate:g}); estimated at ≥ "
              f"{settings.zero_true_elasticity:g}: {shown}")
    return gate(name, 0, len(phantom), not phantom, detail)


def identification(scraps: Mapping[str, Any], settings: IdentificationGate) -> dict[str, dict]:
    """Per judged channel (estimated share ≥ min_share) with an interval: low, high,
    relative width and whether it is identified (interval above zero and not too wide)."""
    intervals = (scraps.get("uncertainty") or {}).get("elasticity") or {}
    estimates = scraps.get("elasticities") or {}
    shares = scraps.get("contribution_shares") or {}
    out: dict[str, dict] = {}
    for channel, iv in intervals.items():
        est, share = finite_number(estimates.get(channel)), finite_number(shares.get(channel))
        low, high = finite_number(iv.get("low")), finite_number(iv.get("high"))
        if None in (est, share, low, high) or share < settings.min_share:
            continue
        width = (high - low) / abs(est) if est else math.inf
        out[channel] = {"low": low, "high": high, "relative_width": width,
                        "identified": low > 0 and width <= settings.max_relative_width}
    return out


def flat_responses(scraps: Mapping[str, Any], settings: IdentificationGate) -> dict[str, dict]:
    """Per judged channel (estimated share ≥ min_share) with a finite elasticity: its
    contribution slope, elasticity / contribution share — the % its contribution moves per
    1 % of its spend (1 for a linear response, towards 0 for one saturated at today's
    spend) — and whether it is below ``min_contribution_slope`` (``flat``: the contribution
    is nearly constant over the spend the data hold, so its level, the share and the ROI,
    rests on the fitted curve's shape below that spend, not on the data)."""
    estimates = scraps.get("elasticities") or {}
    shares = scraps.get("contribution_shares") or {}
    out: dict[str, dict] = {}
    for channel, share in shares.items():
        est, share = finite_number(estimates.get(channel)), finite_number(share)
        if est is None or share is None or share < settings.min_share:
            continue
        slope = contribution_slope(est, share)
        if slope is None:
            continue
        out[channel] = {"contribution_slope": slope,
                        "flat": slope < settings.min_contribution_slope}
    return out


def elasticity_identified_gate(scraps: Mapping[str, Any], settings: IdentificationGate) -> dict:
    """Number of channels whose elasticity interval is too wide to tell (0 passes)."""
    table = identification(scraps, settings)
    if not table:
        intervals = (scraps.get("uncertainty") or {}).get("elasticity") or {}
        shares = {str(c): finite_number(v)
                  for c, v in (scraps.get("contribution_shares") or {}).items()}
        unusable = sorted(c for c, v in shares.items() if (v or 0.0) >= settings.min_share)
        if not intervals:
            why = "no elasticity intervals were reported (bootstrap off)"
        elif unusable:
            why = (f"no usable elasticity and interval for {', '.join(unusable)} (estimated "
                   f"share ≥ {settings.min_share:g}): one of them missing or not finite")
        else:
            largest = max((v for v in shares.values() if v is not None), default=None)
            why = (f"no channel to judge: none has an estimated contribution share ≥ "
                   f"{settings.min_share:g}"
                   + (f" (largest {100 * largest:.2f} %)" if largest is not None else ""))
        return gate(ELASTICITY_IDENTIFIED, 0, None, None, why)
    flagged = sorted(c for c, row in table.items() if not row["identified"])
    detail = (f"{len(table)} channel(s) with estimated share ≥ {settings.min_share:g}; not "
              f"identified (interval reaches 0 or wider than {settings.max_relative_width:g}× "
              f"the estimate): "
              + (", ".join(f"{c} [{table[c]['low']:.4g}, {table[c]['high']:.4g}]"
                           for c in flagged) or "none"))
    return gate(ELASTICITY_IDENTIFIED, 0, len(flagged), not flagged, detail)


def _format_error(metric: str, value: float) -> str:
    return f"{100 * value:.2f} %" if metric == "mape" else f"{value:.4g}"


def _fold_names(metrics: Any) -> list[str]:
    """The rolling-origin folds the MMM was scored on (every split but holdout and CV mean)."""
    mmm = _get(metrics, "mmm")
    return [k for k in mmm if k not in ("holdout", "cv_mean")] if isinstance(mmm, Mapping) \
        else []


def _mean_fold_errors(metrics: Any, model: str, folds: list[str], metric: str) -> list:
    return [finite_number(_get(metrics, model, f, metric)) for f in folds]


#: Relative difference of two errors below which the forecasts count as the same.
SAME_FORECAST = 1e-9


def _skill_part(label: str, metric: str, mmm: float, errors: dict[str, float],
                threshold: float) -> tuple[str, dict[str, float], dict[str, bool]]:
    """One split's detail text, skills and beaten flags (skill > threshold, written without
    the division: a perfect baseline cannot be beaten)."""
    skills = {b: skill_score(mmm, v) for b, v in errors.items()}
    # the same forecast to round-off (a fit that credits nothing to media against no_media)
    # is a tie, not a win
    same = {b: abs(mmm - v) <= SAME_FORECAST * abs(v) for b, v in errors.items()}
    beaten = {b: (threshold < 0.0) if same[b] else mmm < (1.0 - threshold) * v
              for b, v in errors.items()}  # a tie is a skill of 0, held against min_skill
    text = f"{label} {metric.upper()}: MMM {_format_error(metric, mmm)}; " + "; ".join(
        f"{b} {_format_error(metric, errors[b])} (skill {skills[b]:.3f}"
        f"{'' if beaten[b] else ', not beaten'}{': the same forecast' if same[b] else ''})"
        if math.isfinite(skills[b])
        else f"{b} {_format_error(metric, errors[b])} (not beaten"
        + (": it fits the holdout exactly - is the KPI among its inputs?)"
           if errors[b] <= EXACT_FIT * abs(mmm) else ")") for b in errors)
    return text, skills, beaten


def beats_baselines_gate(baselines: Mapping[str, Any] | None, settings: BaselinesGate,
                         unavailable: str = "the baselines notebook did not run") -> dict:
    """The MMM's error must be below each listed baseline's: skill 1 − MMM error / baseline
    error above ``min_skill`` for every one, on the holdout and (``cross_validation``) on the
    mean error over the rolling-origin folds — over the folds where both have a number, so a
    baseline that cannot fit an early fold is still judged on the others. The value is the
    smallest skill; null when ``baselines`` (the baselines notebook's scraps) is None or lacks
    a holdout number. Without any fold the gate judges the holdout and says so."""
    name, metric, threshold = BEATS_BASELINES, settings.metric, settings.min_skill
    if baselines is None:
        return gate(name, threshold, None, None, unavailable)
    metrics = baselines.get("metrics")
    mmm = finite_number(_get(metrics, "mmm", "holdout", metric))
    if mmm is None:
        return gate(name, threshold, None, None, f"no MMM holdout {metric} was reported")
    errors = {b: finite_number(_get(metrics, b, "holdout", metric)) for b in settings.baselines}
    missing = [b for b, v in errors.items() if v is None]
    if missing:
        return gate(name, threshold, None, None,
                    f"no holdout {metric} was reported for {', '.join(missing)}")
    text, skills, beaten = _skill_part("holdout", metric, mmm, errors, threshold)
    parts, all_skills, all_beaten = [text], list(skills.values()), list(beaten.values())
    if settings.cross_validation:
        folds = _fold_names(metrics)
        mmm_folds = _mean_fold_errors(metrics, "mmm", folds, metric)
        groups: dict[tuple[str, ...], dict[str, float]] = {}  # folds compared -> baselines
        left_out = []
        for b in settings.baselines:
            pairs = [(f, v) for f, m, v in zip(folds, mmm_folds, _mean_fold_errors(
                metrics, b, folds, metric), strict=True) if m is not None and v is not None]
            if pairs:
                groups.setdefault(tuple(f for f, _ in pairs), {})[b] = statistics.fmean(
                    v for _, v in pairs)
            else:
                left_out.append(b)
        for compared, cv_errors in groups.items():
            cv_mmm = statistics.fmean(m for f, m in zip(folds, mmm_folds, strict=True)
                                      if f in compared)
            label = (f"CV mean ({len(compared)} fold{'s' if len(compared) > 1 else ''})"
                     if len(compared) == len(folds)
                     else f"CV mean ({', '.join(compared)})")
            text, skills, beaten = _skill_part(label, metric, cv_mmm, cv_errors, threshold)
            parts.append(text)
            all_skills += skills.values()
            all_beaten += beaten.values()
        if left_out:
            parts.append(("no rolling-origin fold to compare" if not folds else
                          "no fold with a number") + f" for {', '.join(left_out)}: holdout only")
    finite = [s for s in all_skills if math.isfinite(s)]
    value = min(finite) if len(finite) == len(all_skills) else None
    return gate(name, threshold, value, all(all_beaten), ". ".join(parts))


def robustness_gate(robustness: Mapping[str, Any] | None,
                    unavailable: str = "the robustness notebook did not run") -> dict:
    """Every robustness check must pass: the value is the number of failed checks (threshold
    0). Null when ``robustness`` (the robustness notebook's scraps) is None or lists no
    checks, and when no check failed but some were not assessable."""
    if robustness is None:
        return gate(ROBUSTNESS, 0, None, None, unavailable)
    checks = [c for c in robustness.get("checks") or [] if isinstance(c, Mapping)]
    if not checks:
        return gate(ROBUSTNESS, 0, None, None, "the robustness notebook reported no checks")
    failed = [str(c.get("name")) for c in checks if c.get("passed") is False]
    unknown = [str(c.get("name")) for c in checks if c.get("passed") is None]
    passed = len(checks) - len(failed) - len(unknown)
    detail = f"{passed}/{len(checks)} checks passed"
    if failed:
        detail += f"; failed: {', '.join(failed)}"
    if unknown:
        detail += f"; not assessable: {', '.join(unknown)}"
    verdict = False if failed else (None if unknown else True)
    return gate(ROBUSTNESS, 0, len(failed), verdict, detail)


def importance_agreement_gate(importance: Mapping[str, Any] | None, settings: ImportanceGate,
                              unavailable: str = "the importance notebook did not run",
                              has_truth: bool = False) -> dict:
    """Spearman's ρ of the MMM's contribution shares against the true shares, over the
    channels the importance notebook reported, must be at least ``min_spearman``. Null when
    ``importance`` (the notebook's scraps) is None, without ground truth, with fewer than
    ``min_channels`` channels, or when the true shares are all equal; false when the MMM gives
    every channel the same share (it ranks nothing). ``has_truth``: the tenant has a truth file
    (then missing true shares are the file's, and the detail says so)."""
    from mmm_evidence.evaluation.importance import spearman

    name, threshold = IMPORTANCE_AGREEMENT, settings.min_spearman
    if importance is None:
        return gate(name, threshold, None, None, unavailable)
    rows = [r for r in importance.get("importance") or []
            if isinstance(r, Mapping) and r.get("kind") == "channel"]
    if not rows:
        return gate(name, threshold, None, None, "the importance notebook reported no channels")
    pairs = {str(r.get("feature")): (finite_number(r.get("mmm_share")),
                                     finite_number(r.get("true_share")))
             for r in rows}
    if all(t is None for _, t in pairs.values()):
        return gate(name, threshold, None, None,
                    "the truth file gives no contribution share "
                    "(channels.<channel>.contribution_share)" if has_truth
                    else "no ground truth for this tenant")
    paired = {c: v for c, v in pairs.items() if None not in v}
    if len(paired) < settings.min_channels:
        return gate(name, threshold, None, None,
                    f"{len(paired)} channel(s) with an MMM and a true share: a rank "
                    f"correlation needs at least {settings.min_channels}")
    mmm = [v[0] for v in paired.values()]
    true = [v[1] for v in paired.values()]
    if len(set(true)) == 1:
        return gate(name, threshold, None, None, "every channel has the same true share")
    if len(set(mmm)) == 1:
        return gate(name, threshold, None, False,
                    f"the MMM gives all {len(paired)} channels the same share: it ranks nothing")
    value = spearman(mmm, true)
    top_mmm = max(paired, key=lambda c: (paired[c][0], c))
    top_true = max(paired, key=lambda c: (paired[c][1], c))
    passed = value >= threshold
    detail = (f"Spearman ρ {value:.3f} {'≥' if passed else '<'} {threshold:g} of the MMM's "
              f"contribution shares vs the true shares over {len(paired)} channels; largest: "
              f"MMM {top_mmm}, truth {top_true}")
    return gate(name, threshold, value, passed, detail)


#: Threshold key (in ``ParityThresholds``) and label of each judged fairness gap.
_PARITY_METRICS = {"mape": ("max_mape_gap", "MAPE"),
                   "normalised_bias": ("max_bias_gap", "bias"),
                   "uplift_error": ("max_uplift_error_gap", "uplift error")}


def parity_checks(fairness: Mapping[str, Any] | None, settings: FairnessGate,
                  metrics: Iterable[str]) -> list[dict]:
    """Each gap of ``metrics`` per grouping (the fairness notebook's ``fairness`` scrap: segment
    and attribute groupings) beside its threshold (for the segments and for attribute groups,
    from the band of the tenant's segment count: ``FairnessGate.thresholds_for``): grouping,
    level, metric, gap, threshold, share (gap / threshold), passed, max_group, min_group,
    band. Gaps over fewer than two groups are left out."""
    out: list[dict] = []
    gaps = (fairness or {}).get("gaps") or {}
    order = [g for g in (fairness or {}).get("groupings") or [] if g in gaps]
    band, *limits_by_level = settings.thresholds_for(fairness_segments(fairness))
    thresholds = dict(zip(("segment", "attribute"), limits_by_level, strict=True))
    for grouping in order + sorted(g for g in gaps if g not in order):
        per_metric = gaps[grouping]
        level = "segment" if grouping == "segment" else "attribute"
        limits = thresholds[level]
        for metric in metrics:
            entry = (per_metric or {}).get(metric)
            if not isinstance(entry, Mapping) or not entry.get("groups") or entry["groups"] < 2:
                continue
            key, _ = _PARITY_METRICS[metric]
            threshold = float(getattr(limits, key))
            raw = entry.get("gap")
            value = math.inf if raw is None else finite_number(raw)
            if value is None:  # a non-finite gap (MAPE max / min with a zero min)
                value = math.inf
            out.append({"grouping": grouping, "level": level, "metric": metric, "gap": value,
                        "groups": int(entry["groups"]),
                        "threshold": threshold, "share": value / threshold,
                        "passed": value <= threshold, "max_group": entry.get("max_group"),
                        "min_group": entry.get("min_group"), "band": band})
    return out


def fairness_segments(fairness: Mapping[str, Any] | None) -> int:
    """The tenant's segment count in a ``fairness`` scrap: the groups of its segment grouping
    (its largest over the metrics; 0 when there is none)."""
    per_metric = ((fairness or {}).get("gaps") or {}).get("segment") or {}
    return max((int(e["groups"]) for e in per_metric.values()
                if isinstance(e, Mapping) and e.get("groups")), default=0)


def _parity_gate(name: str, checks: list[dict], what: str, settings: FairnessGate) -> dict:
    worst = max(c["share"] for c in checks)
    failed = [c for c in checks if not c["passed"]]
    parts = []
    for grouping in dict.fromkeys(c["grouping"] for c in checks):
        items = ", ".join(f"{_PARITY_METRICS[c['metric']][1]} {c['gap']:.3g} / "
                          f"{c['threshold']:g}" for c in checks if c["grouping"] == grouping)
        parts.append(f"{grouping}: {items}")
    detail = (f"{what}, gap / threshold per grouping — " + "; ".join(parts)
              + "; over the threshold: "
              + (", ".join(f"{c['grouping']} {_PARITY_METRICS[c['metric']][1]} "
                           f"({c['max_group']} vs {c['min_group']})" for c in failed)
                 or "none"))
    segments = max((c["groups"] for c in checks if c["level"] == "segment"), default=0)
    if settings.thresholds_for(segments)[0] == "many":
        detail += "; " + settings.threshold_note(segments)
    if segments > settings.calibrated_max_segments:
        detail += (f"; {segments} segments, more than the "
                   f"{settings.calibrated_max_segments} the segment thresholds were calibrated "
                   f"on: a gap over more segments is wider by chance, compare with the "
                   f"attribute groups' gaps")
    return gate(name, 1.0, worst if math.isfinite(worst) else None, not failed, detail)


def fairness_error_parity_gate(fairness: Mapping[str, Any] | None, settings: FairnessGate,
                               unavailable: str = "the fairness notebook did not run") -> dict:
    """Holdout errors alike across segments and attribute groups: every MAPE gap (max / min −
    1) and normalised-bias gap (max − min) within its threshold. The value is the largest
    gap / threshold (≤ 1 passes); null without the notebook or with nothing to compare."""
    if fairness is None:
        return gate(FAIRNESS_ERROR_PARITY, 1.0, None, None, unavailable)
    checks = parity_checks(fairness, settings, ("mape", "normalised_bias"))
    if not checks:
        return gate(FAIRNESS_ERROR_PARITY, 1.0, None, None,
                    "fewer than two segments and no attribute groups: nothing to compare")
    return _parity_gate(FAIRNESS_ERROR_PARITY, checks, "holdout MAPE (max/min − 1) and "
                        "normalised bias (max − min)", settings)


def fairness_uplift_gap_gate(fairness: Mapping[str, Any] | None, settings: FairnessGate,
                             unavailable: str = "the fairness notebook did not run") -> dict:
    """The +10 % spend uplift mis-stated alike for every segment and attribute group: the gap
    (max − min) of the uplift's relative error vs truth within its threshold. The value is
    the largest gap / threshold; null without truth (or without the notebook)."""
    if fairness is None:
        return gate(FAIRNESS_UPLIFT_GAP, 1.0, None, None, unavailable)
    if not fairness.get("has_uplift_truth"):
        return gate(FAIRNESS_UPLIFT_GAP, 1.0, None, None,
                    fairness.get("uplift_note") or "no ground truth for this tenant")
    if fairness.get("uplift_gap_note"):
        return gate(FAIRNESS_UPLIFT_GAP, 1.0, None, None, str(fairness["uplift_gap_note"]))
    checks = parity_checks(fairness, settings, ("uplift_error",))
    if not checks:
        return gate(FAIRNESS_UPLIFT_GAP, 1.0, None, None,
                    "fewer than two segments and no attribute groups: nothing to compare")
    result = _parity_gate(FAIRNESS_UPLIFT_GAP, checks,
                          "relative error of the +10 % spend uplift vs truth (max − min)",
                          settings)
    floors = _oracle_uplift_floors(fairness, checks)
    if floors:
        result["detail"] += ("; given the true media response the same pooled model form "
                             "reaches " + ", ".join(floors)
                             + " (the floor of a media response shared by all segments on "
                             "these data)")
    return result


def _oracle_uplift_floors(fairness: Mapping[str, Any], checks: list[dict]) -> list[str]:
    """'<grouping> <gap>' of the oracle's uplift-error gap for each judged grouping."""
    oracle = fairness.get("oracle_uplift_gaps") or {}
    out = []
    for grouping in dict.fromkeys(c["grouping"] for c in checks):
        entry = ((oracle.get(grouping) or {}).get("uplift_error") or {})
        value = finite_number(entry.get("gap")) if isinstance(entry, Mapping) else None
        if value is not None:
            out.append(f"{grouping} {value:.3g}")
    return out


def privacy_no_pii_gate(privacy: Mapping[str, Any] | None,
                        unavailable: str = "the fairness notebook did not run") -> dict:
    """No personal data in the inputs: the value is the number of input columns with a PII
    finding (threshold 0); the detail names them (never a value)."""
    if privacy is None:
        return gate(PRIVACY_NO_PII, 0, None, None, unavailable)
    findings = [f for f in privacy.get("pii") or [] if isinstance(f, Mapping)]
    columns: dict[str, list[str]] = {}
    for f in findings:
        columns.setdefault(f"{f.get('file')}: {f.get('column')}", []).append(
            f"{f.get('kind')}, {f.get('rows')} row(s)"
            + (f", first on line {f['first_line']}" if f.get("first_line") else ""))
    files = privacy.get("files") or []
    if not columns:
        return gate(PRIVACY_NO_PII, 0, 0, True,
                    f"no personal data found in {len(files)} input file(s): "
                    f"{', '.join(files) or '-'}")
    detail = "personal data in " + "; ".join(f"{c} ({'; '.join(kinds)})"
                                             for c, kinds in columns.items())
    return gate(PRIVACY_NO_PII, 0, len(columns), False, detail)


def privacy_k_anonymity_gate(privacy: Mapping[str, Any] | None,
                             unavailable: str = "the fairness notebook did not run") -> dict:
    """Every (week, segment) cell aggregates at least k individuals: the value is the smallest
    count (threshold k); null when the counts are unknown."""
    k_anon = (privacy or {}).get("k_anonymity")
    if privacy is None or not isinstance(k_anon, Mapping):
        return gate(PRIVACY_K_ANONYMITY, None, None, None, unavailable)
    k = k_anon.get("k")
    if k_anon.get("passed") is None:
        return gate(PRIVACY_K_ANONYMITY, k, None, None,
                    k_anon.get("note") or "the individuals per cell are unknown")
    below = k_anon.get("segments_below_k") or []
    detail = (f"{k_anon.get('cells')} cells from {k_anon.get('source')}; "
              f"{k_anon.get('cells_below_k')} below k = {k}"
              + (f" (segment(s) {', '.join(below)}: suppressed in the outputs)" if below else ""))
    return gate(PRIVACY_K_ANONYMITY, k, finite_number(k_anon.get("min_count")),
                bool(k_anon.get("passed")), detail)


def privacy_no_raw_rows_gate(findings: Sequence[Mapping[str, Any]] | None,
                             unavailable: str = "the leak scan did not run") -> dict:
    """No input row leaves the run: the value is the number of produced files in which rows
    (or whole columns) of the tenant's input data were found (threshold 0)."""
    if findings is None:
        return gate(PRIVACY_NO_RAW_ROWS, 0, None, None, unavailable)
    if not findings:
        return gate(PRIVACY_NO_RAW_ROWS, 0, 0, True,
                    "no input row found in any produced artifact or notebook export")
    shown = "; ".join(
        f"{f.get('file')}: {f.get('rows')} row(s) of {f.get('input')}"
        + (f" (lines {', '.join(map(str, f.get('lines') or []))})" if f.get("lines") else "")
        + (f", columns {', '.join(f.get('dumped_columns'))} dumped"
           if f.get("dumped_columns") else "")
        for f in list(findings)[:5])
    more = f"; and {len(findings) - 5} more file(s)" if len(findings) > 5 else ""
    return gate(PRIVACY_NO_RAW_ROWS, 0, len(findings), False,
                f"input rows found in {len(findings)} produced file(s): {shown}{more}")


def evaluate_gates(scraps: Mapping[str, Any], settings: GateSettings,
                   baselines: Mapping[str, Any] | None = None,
                   baselines_unavailable: str = "the baselines notebook did not run", *,
                   robustness: Mapping[str, Any] | None = None,
                   robustness_unavailable: str = "the robustness notebook did not run",
                   importance: Mapping[str, Any] | None = None,
                   importance_unavailable: str = "the importance notebook did not run",
                   fairness: Mapping[str, Any] | None = None,
                   fairness_unavailable: str = "the fairness notebook did not run",
                   leaks: Sequence[Mapping[str, Any]] | None = None,
                   leaks_unavailable: str = "the leak scan did not run",
                   validation_unavailable: str | None = None,
                   has_truth: bool | None = None
                   ) -> list[dict]:
    """All gates of one tenant, in a fixed order. ``scraps`` are the validation notebook's
    (``validation_unavailable``: why there are none — the notebook is not in the experiment,
    did not run or errored; its gates are then null with that reason), ``baselines`` the
    baselines notebook's (None when it did not run or errored: ``baselines_unavailable`` says
    why), ``robustness`` the robustness notebook's, ``importance`` the importance notebook's
    and ``fairness`` the fairness notebook's (likewise); ``leaks`` the leak scan's findings for
    the tenant (None: not scanned). ``has_truth``: whether the tenant has ground truth (None:
    as the validation scraps say)."""
    truth = scraps.get("truth")
    if has_truth is None:
        has_truth = isinstance(truth, Mapping) and bool(truth.get("elasticity"))
    if validation_unavailable:
        el = settings.elasticity
        validation = [gate(name, threshold, None, None, validation_unavailable)
                      for name, threshold in (
                          (HOLDOUT_R2, settings.holdout_r2.min),
                          (ELASTICITY_MEDIAN_ERROR, el.max_median_relative_error),
                          (ELASTICITY_NO_MISSED_CHANNEL, 0), (ELASTICITY_NO_PHANTOM_CHANNEL, 0),
                          (ROI_MEDIAN_ERROR, settings.roi.max_median_relative_error),
                          (ELASTICITY_IDENTIFIED, 0))]
    else:
        table = elasticity_table(scraps, settings.elasticity)
        validation = [
            holdout_r2_gate(scraps.get("metrics"), settings.holdout_r2.min),
            elasticity_median_error_gate(table, has_truth, settings.elasticity),
            elasticity_no_missed_channel_gate(table, has_truth, settings.elasticity),
            elasticity_no_phantom_channel_gate(table, has_truth, settings.elasticity),
            roi_median_error_gate(scraps, has_truth, settings.roi),
            elasticity_identified_gate(scraps, settings.identification),
        ]
    return [
        *validation,
        beats_baselines_gate(baselines, settings.beats_baselines, baselines_unavailable),
        robustness_gate(robustness, robustness_unavailable),
        importance_agreement_gate(importance, settings.importance_agreement,
                                  importance_unavailable, has_truth),
        fairness_error_parity_gate(None if fairness is None else fairness.get("fairness"),
                                   settings.fairness, fairness_unavailable),
        fairness_uplift_gap_gate(None if fairness is None else fairness.get("fairness"),
                                 settings.fairness, fairness_unavailable),
        privacy_no_pii_gate(None if fairness is None else fairness.get("privacy"),
                            fairness_unavailable),
        privacy_k_anonymity_gate(None if fairness is None else fairness.get("privacy"),
                                 fairness_unavailable),
        privacy_no_raw_rows_gate(leaks, leaks_unavailable),
    ]


def tenant_verdict(gates: Iterable[Mapping], *, errored: bool = False) -> str:
    """FAIL if errored or any gate failed; NOT ASSESSABLE if any gate is null; else PASS."""
    passed = [g["passed"] for g in gates]
    if errored or any(p is False for p in passed):
        return FAIL
    if any(p is None for p in passed) or not passed:
        return NOT_ASSESSABLE
    return PASS


def experiment_verdict(tenant_verdicts: Iterable[str], *, errored: bool = False) -> str:
    """The experiment's verdict: PASS only when every tenant passes and nothing errored."""
    verdicts = list(tenant_verdicts)
    if errored or FAIL in verdicts:
        return FAIL
    if not verdicts or NOT_ASSESSABLE in verdicts:
        return NOT_ASSESSABLE
    return PASS


def count_gates(gates: Iterable[Mapping]) -> dict[str, int]:
    passed = [g["passed"] for g in gates]
    return {"total": len(passed), "passed": sum(p is True for p in passed),
            "failed": sum(p is False for p in passed),
            "not_assessable": sum(p is None for p in passed)}
