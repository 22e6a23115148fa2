"""The model card: what a reviewer reads to decide whether MMM v2 may be promoted.

Built from the run's artifacts alone — ``validation_report.json`` and, when the run has them,
``run_manifest.json``, ``baseline_metrics.json``, ``robustness_report.json``,
``fairness_report.json`` and ``feature_importance.csv`` — as one document
(``build_model_card``) rendered twice: ``model_card.html`` (self-contained: inline CSS and
images, no script, nothing fetched; readable on a phone, printable) and ``model_card.md`` (the
same content for diffs and tickets; figures become their captions). Every text is escaped by
the renderer (see ``report.document``).

The card holds no wall-clock time but the run's date (UTC day, from the manifest), so an
identical rerun on the same day gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.files import write_text
from mmm_evidence.pipeline.gates import finite_number
from mmm_evidence.report import card_plots
from mmm_evidence.report.defects import collect_defects, defect_blocks, gate_notebook
from mmm_evidence.report.document import (
    Badge,
    Banner,
    Block,
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Inline,
    Link,
    Meta,
    Muted,
    Para,
    Pre,
    Section,
    Table,
    fmt_num,
    fmt_pct,
    fmt_signed_pct,
    gate_kind,
    gate_label,
    html_page,
    markdown_page,
    run_scope,
    verdict_kind,
)

MODEL_CARD_FILE = "model_card.html"
MODEL_CARD_MD_FILE = "model_card.md"

__all__ = ["MODEL_CARD_FILE", "MODEL_CARD_MD_FILE", "build_model_card", "render_model_card",
           "render_model_card_markdown", "write_model_card", "INTENDED_USE", "OUT_OF_SCOPE",
           "LIMITATIONS"]

METHOD = (
    "MMM v2 models each segment × week: KPI = segment baseline (intercept, linear trend, "
    "Fourier seasonality, controls) + Σ_c β_c · size_g · Hill(Adstock(spend_c,g / size_g)), "
    "with the media response (geometric adstock decay, Hill half-saturation and shape, β_c ≥ 0) "
    "shared across segments; a channel's spend may enter the adstock some weeks late, the delay "
    "chosen per channel by an extended BIC (shown beside the channel below). It is fitted by "
    "variable projection: for given nonlinear parameters the linear ones are an exact bounded "
    "least-squares solve; the nonlinear ones "
    "are optimised with scipy from several seeded starts under a weak prior, which also "
    "makes a claim of increasing returns at today's spend (an S-curve's convex part), or of a "
    "response saturated flat there (10 % more spend adding under 1 %), pay its way in the "
    "fit. Each decay is then reported as the settings' decay_estimate says: by "
    "default the median of its profile posterior (the fit profiled over the decay), since the "
    "optimum of a weakly identified decay over-states total media. Each β_c is reported as "
    "the settings' coefficient_estimate says: by default the median of its posterior given "
    "the fitted response (flat prior on β_c ≥ 0), so a channel the data cannot tell from "
    "none gets a small positive effect rather than exactly zero. Intervals come "
    "from a moving-block residual bootstrap (segments resampled too; the residuals scaled by "
    "√(n / (n − p)) for the p parameters the fit spent on them; with the profile median each "
    "refit's decays drawn from their profile posterior, flattened for residuals that are "
    "correlated over weeks or across segments; each refit's coefficients at the "
    "least-squares mode, so an interval reaches zero where the data cannot tell the channel "
    "from none). Elasticity of a channel: "
    "the % change of the total KPI over the history when its spend is multiplied by 1.01 in "
    "every week, divided by 1 %.")

INTENDED_USE = (
    "Decomposing a validated tenant's weekly KPI into baseline and paid-media contributions, "
    "at segment × week level.",
    "Comparing channels' elasticities, contribution shares and ROI — with their intervals — "
    "to inform budget discussions, for tenants whose verdict on this card is PASS.",
    "What-if questions for spend close to the range each channel was observed in.",
)

OUT_OF_SCOPE = (
    "Tenants, periods or channels not validated on this card, and any tenant whose verdict is "
    "not PASS.",
    "Spend far outside the observed range, or a channel without spend history: response "
    "curves are extrapolated there.",
    "Forecasting without known future spend and controls: holdout scores are conditional on "
    "the actual spend and controls of the holdout weeks.",
    "Causal claims where spend reacts to the KPI (e.g. budgets that follow demand) without "
    "lift tests to calibrate against.",
    "Decisions about individual people: the model works on aggregated segments only.",
)

LIMITATIONS = (
    "The evidence covers only the tenants on this card; a gate says nothing about a tenant "
    "that was not run.",
    "Truth-based gates (elasticity error, missed channel) need ground truth, which only "
    "synthetic tenants have; for real tenants they are not assessable, and elasticities are "
    "checked only by identification, lift tests, baselines and robustness.",
    "The media response is shared across segments: segment-specific media effects are not "
    "modelled.",
    "Bootstrap intervals are approximate: on the recovery benchmark the 90 % intervals cover "
    "the truth about as often as they should overall, but less often where the data say most "
    "(geo data at 5 % noise: under 80 %), since a bootstrap around the fit cannot see an error "
    "of the fit itself, such as a saturation shape pulled towards the prior (docs/model.md, "
    "benchmarks).",
    "Elasticities are only as precise as the data allow: on the recovery benchmark MMM v2's "
    "errors are well above those of a fit given the true media response, and close to what "
    "a Bayes estimator that knows the benchmark's own generating ranges reaches "
    "(benchmarks/recovery_bound.py). A channel the data cannot tell from none is reported "
    "with a small positive effect (the median of its posterior), not zero: a channel without "
    "any effect is often reported with one too (benchmarks/null_channel.py) — its interval "
    "reaches zero, and elasticity_identified flags it once its share is 2 % or more.",
    "The media form is assumed: geometric adstock (its start delayed by up to a few weeks "
    "where the data ask for it), then Hill saturation. Where the true response has another "
    "form (a lag kernel whose effect builds up to a peak, saturation of each week's spend "
    "before carryover, logistic saturation) elasticity errors are larger, and holdout "
    "accuracy hardly shows it; the robustness suite's carryover_form check flags part of "
    "such tenants (benchmarks/foreign.py).",
    "The baseline is assumed too: per segment an intercept, a linear trend, fixed yearly "
    "harmonics and the controls. A seasonal pattern that changes over the years, a sharper "
    "peak, a lasting level change or an unobserved demand shock that spend follows is "
    "absorbed partly by the media, whatever their own form; the robustness suite's "
    "baseline_form check flags most such geo tenants and does not judge national ones. "
    "Intervals and the "
    "identification gate describe noise, not confounding: only lift tests check that.",
)

_CATEGORY_LABELS = {"perturbation": "perturbation", "stability": "stability",
                    "sanity": "sanity", "identification": "identification",
                    "leakage_determinism": "leakage & determinism"}
_NUMERIC_SETTINGS_ORDER = ("fourier_order", "seasonality_min_weeks", "trend", "n_starts",
                           "max_decay", "shape_bounds", "half_saturation_bounds",
                           "prior_strength", "max_iterations")


# --------------------------------------------------------------------------- helpers


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _gates_not_passed(gates: Sequence[Mapping]) -> tuple[str, str]:
    """(the failed gates, the not-assessable ones) of a tenant as two texts — apart, since a
    failure is a finding and a gate without the data it needs is not; "all N" when no gate
    could be judged (a tenant whose data or notebooks errored)."""
    failed = [str(g.get("name")) for g in gates if g.get("passed") is False]
    unknown = [str(g.get("name")) for g in gates if g.get("passed") is None]
    if gates and len(unknown) == len(gates):
        return "–", f"all {len(gates)}"
    return ", ".join(failed) or "–", ", ".join(unknown) or "–"


def _verdict_badge(verdict: str | None) -> Badge:
    verdict = verdict or "NOT ASSESSABLE"
    return Badge(verdict, verdict_kind(verdict))


def _gate_badge(passed: bool | None) -> Badge:
    return Badge(gate_label(passed), gate_kind(passed))


def _status_badge(status: str | None) -> Badge:
    return Badge(status or "unknown", {"ok": "pass", "error": "fail"}.get(status or "", "na"))


def _tenant_order(report: Mapping) -> list[str]:
    tenants = report.get("tenants") or {}
    order = [t for t in report.get("tenant_order") or [] if t in tenants]
    return order + [t for t in sorted(tenants) if t not in order]


def _label(section: Mapping, name: str) -> str:
    return str(section.get("display_name") or name)


def _settings_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_settings_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- per-tenant blocks


def media_summary(section: Mapping) -> str | None:
    """One sentence on what the tenant's model attributes to media, in words a marketing team
    reads first: the share of the KPI credited to media, the largest channels, and whether any
    experiment (a lift test in the data) checks these figures. None without shares."""
    numbers = {str(c): finite_number(v)
               for c, v in (section.get("contribution_shares") or {}).items()}
    shares = {c: v for c, v in numbers.items() if v is not None}
    if not shares:
        return None
    kpi = ((section.get("data") or {}).get("kpi")) or "KPI"
    total = sum(shares.values())
    ranked = sorted(shares.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown = [f"{c} {100 * v:.1f} %" for c, v in ranked[:3] if abs(v) >= 0.0005]
    text = f"MMM v2 credits {100 * total:.1f} % of the {kpi} to media"
    text += f" (largest: {', '.join(shown)})." if shown else "."
    lift = section.get("lift_tests") or {}
    tests = [t for t in lift.get("tests") or [] if isinstance(t, Mapping)]
    if tests and lift.get("calibrated"):
        text += (f" The fit was calibrated with the data's {len(tests)} lift test(s), so none "
                 f"is left to check it independently.")
    elif tests:
        consistent = sum(1 for t in tests if t.get("consistent") is True)
        unknown = sum(1 for t in tests if t.get("consistent") is None)
        text += (f" {len(tests)} lift test(s) in the data check it: {consistent} consistent "
                 f"with the model" + (f", {unknown} not assessable" if unknown else "") + ".")
    else:
        text += (" No lift test in the data checks these figures: they rest on the "
                 "observational fit alone, which spend that follows demand can inflate.")
    return text


def _data_meta(data: Any) -> list[Block]:
    if not isinstance(data, Mapping):
        return []
    return [Meta([
        ("weeks", f"{data.get('weeks')} ({data.get('train_weeks')} train, "
                  f"{data.get('holdout_weeks')} holdout)"),
        ("period", f"{data.get('start')} – {data.get('end')}"),
        ("segments", str(data.get("segments"))),
        ("channels", ", ".join(map(str, data.get("channels") or [])) or "none"),
        ("controls", ", ".join(map(str, data.get("controls") or [])) or "none"),
    ])]


def _findings(section: Mapping) -> list[Mapping]:
    """The data findings of a tenant's report section (``data.findings``), if any."""
    found = _get(section, "data", "findings") or []
    return [f for f in found if isinstance(f, Mapping)]


def _metrics_blocks(metrics: Any) -> list[Block]:
    splits = [("holdout", _get(metrics, "holdout")), ("in-sample", _get(metrics, "in_sample"))]
    for fold in _get(metrics, "cv", "folds") or []:
        if isinstance(fold, Mapping):
            splits.append((f"CV {fold.get('name')} (weeks {fold.get('test_start', 0) + 1}–"
                           f"{fold.get('test_end')})", fold))
    splits.append(("CV mean", _get(metrics, "cv", "mean")))
    rows = [[label, fmt_num(m.get("r2")), fmt_pct(m.get("mape")), fmt_num(m.get("nrmse"))]
            for label, m in splits if isinstance(m, Mapping)]
    blocks: list[Block] = [Table(["split", "R²", "MAPE", "NRMSE"], rows,
                                 numeric=frozenset({1, 2, 3}))]
    ratio = _get(metrics, "holdout", "rmse_to_noise")
    if ratio is not None:
        blocks.append(Para(f"Holdout RMSE is {fmt_num(ratio, 2)}× the noise floor implied by "
                           "the fit's residuals (1 = forecast as well as the noise allows).",
                           "note"))
    return blocks


def _notebook_link(section: Mapping, notebook: str | None) -> Inline:
    entry = _get(section, "notebooks", notebook) if notebook else None
    if not isinstance(entry, Mapping):
        return Code(notebook) if notebook else "–"
    href = entry.get("reviewer_html") or entry.get("html")
    return Link(notebook, href) if href else Code(notebook)  # type: ignore[arg-type]


def _gates_table(section: Mapping, notebooks: Sequence[str]) -> Table:
    rows = [[Code(str(g.get("name"))), fmt_num(g.get("value")), fmt_num(g.get("threshold")),
             _gate_badge(g.get("passed")), str(g.get("detail") or ""),
             _notebook_link(section, gate_notebook(g, notebooks))]
            for g in section.get("gates") or [] if isinstance(g, Mapping)]
    return Table(["gate", "value", "threshold", "result", "detail", "notebook"], rows,
                 numeric=frozenset({1, 2}), empty="No gates were evaluated.")


def _has_floor(section: Mapping) -> bool:
    """Whether the tenant's elasticity table carries the error floor (an oracle fit)."""
    return any("oracle_relative_error" in (row or {})
               for row in (section.get("elasticities") or {}).values())


def _elasticity_table(section: Mapping) -> Table:
    table = section.get("elasticities") or {}
    shares = section.get("contribution_shares") or {}
    roi = section.get("roi") or {}
    truth = section.get("truth") or {}
    intervals = _get(section, "uncertainty", "elasticity") or {}
    ident = section.get("identification") or {}
    rows = []
    floor = _has_floor(section)
    for channel in sorted(set(table) | set(shares) | set(roi)):
        row = table.get(channel) or {}
        iv = intervals.get(channel) or {}
        interval: list = [f"[{fmt_num(iv.get('low'))}, {fmt_num(iv.get('high'))}]" if iv
                          else "—"]
        if channel in ident and not ident[channel].get("identified"):
            interval += [" ", Badge("not identified", "na")]
        rows.append([
            channel, fmt_num(row.get("estimate")), interval, fmt_num(row.get("truth")),
            fmt_num(row.get("relative_error")),
            *([fmt_num(row.get("oracle_relative_error"))] if floor else []),
            "yes" if row.get("counted") else "no",
            fmt_pct(shares.get(channel)), fmt_pct(_get(truth, "contribution_share", channel)),
            fmt_num(roi.get(channel), 2), fmt_num(_get(truth, "roi", channel), 2),
        ])
    head = ["channel", "elasticity", "interval", "true elasticity", "relative error",
            *(["error floor"] if floor else []), "in median", "contribution share",
            "true share", "ROI", "true ROI"]
    return Table(head, rows, numeric=frozenset(range(1, len(head))))


def _lift_blocks(section: Mapping) -> list[Block]:
    lift = section.get("lift_tests") or {}
    tests = lift.get("tests") or []
    if not tests:
        return []
    rows = []
    for t in tests:
        ok = t.get("consistent")
        badge = Badge({True: "consistent", False: "inconsistent"}.get(ok, "NOT ASSESSABLE"),
                      gate_kind(ok))
        rows.append([str(t.get("channel")), f"{t.get('start')} – {t.get('end')}",
                     fmt_signed_pct(t.get("spend_change"), 0), fmt_num(t.get("lift"), 0),
                     fmt_num(t.get("lift_se"), 0), fmt_num(t.get("implied_lift"), 0),
                     fmt_num(t.get("z"), 2), badge])
    how = ("the fit was calibrated with these tests (in-sample comparison)"
           if lift.get("calibrated") else "not used in the fit (independent comparison)")
    return [Heading(3, "Lift tests"),
            Para(f"Measured lift vs the model's implied lift for the same spend change; "
                 f"{how}.", "note"),
            Table(["channel", "weeks", "spend change", "measured", "SE", "model", "z",
                   "|z| ≤ 2"], rows, numeric=frozenset(range(2, 7)))]


def _model_order(models: Iterable[str]) -> list[str]:
    """The MMM first, then the baselines in their usual order, then any others by name."""
    known = list(card_plots.MODEL_LABELS)
    return sorted(models, key=lambda m: (known.index(m) if m in known else len(known), m))


def _baseline_blocks(section: Mapping | None, tenant: str) -> list[Block]:
    if not isinstance(section, Mapping):
        return []
    blocks: list[Block] = [Heading(3, "Baselines on the same splits")]
    if section.get("status") != "ok":
        return blocks + [Para(f"No baseline comparison: {section.get('note')}.", "muted")]
    baselines = section.get("baselines") or {}
    models = _model_order(["mmm", *baselines])
    rows = []
    for model in models:
        splits = section.get("mmm") if model == "mmm" else {
            split: (entry or {}).get("metrics") for split, entry in baselines[model].items()}
        h, cv = _get(splits, "holdout") or {}, _get(splits, "cv_mean") or {}
        skill_h = _get(baselines, model, "holdout", "skill", "mape")
        skill_cv = _get(baselines, model, "cv_mean", "skill", "mape")
        rows.append([card_plots.MODEL_LABELS.get(model, model), fmt_num(h.get("r2")),
                     fmt_pct(h.get("mape")), fmt_num(h.get("nrmse")), fmt_pct(cv.get("mape")),
                     fmt_num(cv.get("nrmse")), "–" if model == "mmm" else fmt_num(skill_h),
                     "–" if model == "mmm" else fmt_num(skill_cv)])
    blocks += [
        Para("Weekly total KPI. Skill of the MMM against a baseline: 1 − MMM MAPE / baseline "
             "MAPE (above 0: the MMM forecasts better).", "note"),
        Table(["model", "holdout R²", "holdout MAPE", "holdout NRMSE", "CV MAPE", "CV NRMSE",
               "MMM skill (holdout)", "MMM skill (CV)"], rows, numeric=frozenset(range(1, 8))),
    ]
    png = card_plots.baselines_png(section, models)
    if png:
        blocks.append(Figure(png, f"forecast error of the MMM and the baselines, {tenant}",
                             "Holdout and rolling-origin (CV mean) MAPE of the weekly total "
                             "KPI per model; lower is better."))
    comparison = section.get("elasticities") or {}
    channels = comparison.get("channels") or {}
    if channels:
        el_models = _model_order({m for row in channels.values()
                                  for m in (row.get("estimates") or {})})
        has_truth = bool(comparison.get("has_truth"))
        el_rows: list[list[Inline]] = []
        for channel, row in channels.items():
            cells: list[Inline] = [channel]
            if has_truth:
                cells.append(fmt_num(row.get("truth"), 4))
            for m in el_models:
                value = fmt_num(_get(row, "estimates", m), 4)
                if has_truth:
                    rel = fmt_num(_get(row, "relative_errors", m), 2)
                    cells.append([value, " ", Muted(f"({rel})")])
                else:
                    cells.append(value)
            el_rows.append(cells)
        if has_truth:
            medians = comparison.get("median_relative_error") or {}
            el_rows.append(["median rel. error", ""]
                           + [fmt_num(medians.get(m), 3) for m in el_models])
        how = ("relative error to the truth in brackets; the median is over channels with a "
               f"true share ≥ {fmt_pct(comparison.get('min_true_share'))}" if has_truth
               else "no ground truth for this tenant")
        blocks += [
            Para(f"Elasticities (spend × 1.01, full-history fits); {how}.", "note"),
            Table(["channel"] + (["truth"] if has_truth else [])
                  + [card_plots.MODEL_LABELS.get(m, m) for m in el_models], el_rows,
                  numeric=frozenset(range(1, len(el_models) + 2))),
        ]
    return blocks


def _robustness_blocks(section: Mapping | None, tenant: str) -> list[Block]:
    if not isinstance(section, Mapping):
        return []
    blocks: list[Block] = [Heading(3, "Robustness suite")]
    if section.get("status") != "ok":
        why = section.get("error") or section.get("note")
        return blocks + [Para(f"No robustness checks: {why}.", "muted")]
    summary = section.get("summary") or {}
    checks = [c for c in section.get("checks") or [] if isinstance(c, Mapping)]
    blocks.append(Para(
        f"{summary.get('passed', 0)}/{summary.get('total', 0)} checks passed, "
        f"{summary.get('failed', 0)} failed, {summary.get('not_assessable', 0)} not assessable "
        "— each a measured value against its threshold; every check is in "
        "robustness_report.json and robustness_suite.log."
        + (f" Judged by the {note}." if (note := (section.get("thresholds") or {}).get("note"))
           else ""), "note"))
    rows = []
    for cat in dict.fromkeys(c.get("category") for c in checks):
        mine = [c for c in checks if c.get("category") == cat]
        failed = [str(c.get("name")) for c in mine if c.get("passed") is False]
        unknown = [str(c.get("name")) for c in mine if c.get("passed") is None]
        verdict = False if failed else (None if unknown else True)
        rows.append([_CATEGORY_LABELS.get(str(cat), str(cat)),
                     f"{sum(c.get('passed') is True for c in mine)}/{len(mine)}",
                     _gate_badge(verdict), ", ".join(failed) or "–", ", ".join(unknown) or "–"])
    blocks.append(Table(["category", "passed", "result", "failed", "not assessable"], rows,
                        numeric=frozenset({1})))
    bad = [c for c in checks if c.get("passed") is not True]
    if bad:
        blocks.append(Table(
            ["check", "value", "passes if", "result", "detail"],
            [[Code(str(c.get("name"))), fmt_num(c.get("value"), 4),
              f"{c.get('comparison', '')} {c.get('threshold')}", _gate_badge(c.get("passed")),
              str(c.get("detail") or "")] for c in bad], numeric=frozenset({1})))
    png = card_plots.robustness_png(section)
    if png:
        drawn = {id(c) for c in card_plots.drawable_checks(section)}
        undrawn = [str(c.get("name")) for c in checks if id(c) not in drawn]
        blocks.append(Figure(png, f"robustness margins, {tenant}",
                             "Each check's measured value relative to its threshold (log "
                             "scale): left of the dashed line passes; red = failed."
                             + (f" Not drawn (no margin: a threshold of 0, no value, or a "
                                f"value its check did not judge): {', '.join(undrawn)}."
                                if undrawn else "")))
    return blocks


def _fairness_blocks(fairness_report: Mapping | None, tenant: str, label: str
                     ) -> list[Block]:
    """The fairness and privacy section (``report.fairness_card``): the same blocks feed the
    HTML and the Markdown card."""
    if not isinstance(fairness_report, Mapping):
        return []
    from mmm_evidence.report.fairness_card import fairness_blocks

    return fairness_blocks(fairness_report, tenant, label=label)


def _importance_blocks(rows: Sequence[Mapping] | None, tenant: str, label: str
                       ) -> list[Block]:
    """The feature-importance section (``report.importance_card``), from the CSV's rows."""
    if rows is None:
        return []
    from mmm_evidence.report.importance_card import importance_blocks

    return importance_blocks([dict(r) for r in rows], tenant, label=label)


def _notebook_table(section: Mapping) -> Table:
    rows = []
    for name, nb in sorted((section.get("notebooks") or {}).items()):
        links: list = []
        for label, key in (("reviewer HTML", "reviewer_html"), ("full HTML", "html"),
                           ("ipynb", "ipynb")):
            if nb.get(key):
                links += ([" · "] if links else []) + [Link(label, nb[key])]
        rows.append([name, _status_badge(nb.get("status")), links or "–",
                     str(nb.get("error") or "")])
    return Table(["notebook", "status", "evidence", "error"], rows)


def _tenant_section(name: str, section: Mapping, notebooks: Sequence[str],
                    baselines: Mapping | None, robustness: Mapping | None,
                    fairness_report: Mapping | None, importance: Sequence[Mapping] | None
                    ) -> Section:
    label = _label(section, name)
    blocks: list[Block] = [
        Heading(2, [label, " ", _verdict_badge(section.get("verdict"))]),
        Para(["tenant ", Code(name), f" · status {section.get('status')}"], "muted"),
    ]
    summary = media_summary(section)
    if summary:
        blocks.append(Para(summary))
    if section.get("data_error"):
        blocks += [Heading(3, "Data error"), Pre(str(section["data_error"]))]
    blocks += _data_meta(section.get("data"))
    findings = _findings(section)
    if findings:
        blocks += [Heading(3, "Data findings"),
                   Para("What in this tenant's data limits any model fitted to it "
                        "(not errors: see the validation notebook).", "note"),
                   Bullets([f"{f.get('kind')}: {f.get('detail')}" for f in findings])]
    blocks.append(Heading(3, "Gates"))
    blocks.append(_gates_table(section, notebooks))
    if (not section.get("truth") and section.get("status") == "ok"
            and section.get("data")):  # without the validation notebook's data: unknown
        blocks.append(Para("No ground truth for this tenant: truth-based gates are not "
                           "assessable.", "muted"))
    blocks.append(Heading(3, "Metrics (weekly total KPI)"))
    blocks += _metrics_blocks(section.get("metrics"))
    weekly = section.get("weekly_totals")
    png = card_plots.actual_vs_predicted_png(weekly, f"{label}: weekly total, actual vs "
                                                     "predicted")
    if png:
        blocks.append(Figure(png, f"actual vs predicted weekly total KPI, {label}",
                             "Weekly total KPI, actual vs the holdout model's prediction; the "
                             "shaded weeks were not seen by that fit."))
    blocks.append(Heading(3, "Elasticities, contributions and ROI vs truth"))
    blocks.append(_elasticity_table(section))
    if _has_floor(section):
        blocks.append(Para("Error floor: the relative error of the same model form given the "
                           "true decay, half-saturation and shape (only its linear part "
                           "fitted): the error left on these data when the media response "
                           "need not be estimated. An estimate can beat it on a channel by "
                           "chance, rarely on the median.", "note"))
    png = card_plots.elasticities_png(section)
    if png:
        blocks.append(Figure(png, f"elasticities vs truth, {label}",
                             "Estimated elasticity per channel with its bootstrap interval, "
                             "beside the true elasticity where the tenant has one."))
    blocks += _lift_blocks(section)
    blocks += _baseline_blocks(baselines, label)
    blocks += _robustness_blocks(robustness, label)
    blocks += _fairness_blocks(fairness_report, name, label)
    blocks += _importance_blocks(importance, name, label)
    blocks += [Heading(3, "Notebooks"), _notebook_table(section)]
    extra = section.get("extra_scraps") or {}
    if extra:
        blocks.append(Para(
            "Also glued, read by no artifact (in validation_report.json under extra_scraps): "
            + "; ".join(f"{nb}: {', '.join(map(str, names))}" for nb, names in extra.items())
            + ".", "note"))
    return Section(f"tenant-{name}", blocks)


# --------------------------------------------------------------------------- run-level blocks


def _gate_matrix(report: Mapping, order: Sequence[str]) -> Table:
    tenants = report.get("tenants") or {}
    names: list[str] = []
    for t in order:
        for g in tenants[t].get("gates") or []:
            if isinstance(g, Mapping) and g.get("name") not in names:
                names.append(str(g.get("name")))
    rows = []
    for gate_name in names:
        row: list[Inline] = [Code(gate_name)]
        for t in order:
            found = [g for g in tenants[t].get("gates") or []
                     if isinstance(g, Mapping) and g.get("name") == gate_name]
            row.append(_gate_badge(found[0].get("passed")) if found else "–")
        rows.append(row)
    return Table(["gate", *order], rows, empty="No gates were evaluated.")


def _channels_text(tenant: Mapping, channels: Sequence[str]) -> str:
    """The tenant's channels, each delayed one with its fitted delay: 'tv (+2 weeks), search'."""
    texts = []
    for channel in channels:
        delay = _get(tenant, "model", "media", str(channel), "delay_weeks")
        texts.append(f"{channel} (+{delay} week{'s' if delay != 1 else ''})"
                     if isinstance(delay, int) and delay > 0 else str(channel))
    return ", ".join(texts) or "–"


def _model_details(report: Mapping, manifest: Mapping | None, order: Sequence[str]
                   ) -> list[Block]:
    tenants = report.get("tenants") or {}
    versions = sorted({str(_get(tenants[t], "model", "version")) for t in order
                       if _get(tenants[t], "model", "version")})
    items: list[tuple[str, Inline]] = [
        ("model", ", ".join(versions) or "MMM v2"),
        ("package", f"mmm-evidence {report.get('package_version')}"),
        ("notebooks", ", ".join(map(str, report.get("notebooks") or [])) or "none"),
    ]
    blocks: list[Block] = [Heading(2, "Model details", "model"), Meta(items), Para(METHOD)]
    features = []
    for t in order:
        data = tenants[t].get("data") or {}
        features.append([Code(t), _channels_text(tenants[t], data.get("channels") or []),
                         (", ".join(map(str, data.get("controls") or [])) or "none") if data
                         else "–",
                         str(data.get("segments") if data.get("segments") is not None
                             else "–")])
    blocks += [Heading(3, "Features"),
               Para("Paid media spend per channel (adstock + saturation), controls in the "
                    "segment baselines, trend and seasonality; segments are the rows' grouping.",
                    "note"),
               Table(["tenant", "media channels", "controls", "segments"], features,
                     numeric=frozenset({3}))]
    parameters = _get(manifest, "parameters") or {}
    model = parameters.get("model") or {}
    evaluation = parameters.get("evaluation") or {}
    if model or evaluation:
        keys = [k for k in _NUMERIC_SETTINGS_ORDER if k in model] + sorted(
            k for k in model if k not in _NUMERIC_SETTINGS_ORDER)
        rows = [[Code(f"model.{k}"), _settings_text(model[k])] for k in keys]
        rows += [[Code(f"evaluation.{k}"), _settings_text(v)] for k, v in sorted(
            evaluation.items())]
        rows.append([Code("seed"), str(parameters.get("seed"))])
        blocks += [Heading(3, "Settings"), Table(["setting", "value"], rows)]
    return blocks


def _data_blocks(report: Mapping, manifest: Mapping | None, order: Sequence[str]
                 ) -> list[Block]:
    tenants = report.get("tenants") or {}
    rows = []
    for t in order:
        section = tenants[t]
        data = section.get("data") or {}
        rows.append([Code(t), _label(section, t),
                     f"{data.get('start')} – {data.get('end')}" if data else "–",
                     str(data.get("weeks", "–")), str(data.get("holdout_weeks", "–")),
                     str(data.get("segments", "–")),
                     str(len(data.get("channels") or [])) if data else "–",
                     ("yes" if section.get("truth") else "no") if data else "–"])
    blocks: list[Block] = [
        Heading(2, "Data", "data"),
        Table(["tenant", "name", "period", "weeks", "holdout weeks", "segments", "channels",
               "ground truth"], rows, numeric=frozenset({3, 4, 5, 6})),
    ]
    unknown = [t for t in order if not tenants[t].get("data")]
    if unknown:
        blocks.append(Para(f"–: not known for {', '.join(unknown)}; the validation notebook "
                           "reports a tenant's data, and it did not run for "
                           f"{'it' if len(unknown) == 1 else 'them'} or errored.", "note"))
    hashes = _get(manifest, "data_hashes") or {}
    hash_rows = [[Code(t), Code(Path(str(path)).name), Code(str(sha))]
                 for t in order for path, sha in sorted((hashes.get(t) or {}).items(),
                                                         key=lambda kv: Path(kv[0]).name)]
    if hash_rows:
        blocks += [Heading(3, "Input data (SHA-256)"),
                   Para("The run id is a hash of these, the resolved parameters, the notebooks "
                        "and the package version.", "note"),
                   Table(["tenant", "file", "sha256"], hash_rows)]
    return blocks


def _derived_limitations(report: Mapping, order: Sequence[str]) -> list[str]:
    tenants = report.get("tenants") or {}
    out = []
    no_truth = [t for t in order if tenants[t].get("status") == "ok"
                and tenants[t].get("data") and not tenants[t].get("truth")]
    if no_truth:
        out.append(f"No ground truth for {', '.join(no_truth)}: their truth-based gates are "
                   "not assessable.")
    for t in order:
        out += [f"{t}: {f.get('detail')}." for f in _findings(tenants[t])]
        ident = tenants[t].get("identification") or {}
        weak = sorted(c for c, row in ident.items()
                      if isinstance(row, Mapping) and row.get("identified") is False)
        if weak:
            out.append(f"{t}: elasticity not identified for {', '.join(weak)} (the interval "
                       "reaches zero or is too wide): treat these channels' numbers as "
                       "unreliable.")
        flat = tenants[t].get("flat_responses") or {}
        flat = {c: row for c, row in sorted(flat.items())
                if isinstance(row, Mapping) and row.get("flat")}
        if flat:
            slopes = ", ".join(f"{c} {row.get('contribution_slope', 0):.2f}"
                               for c, row in flat.items())
            out.append(f"{t}: the fitted response is flat at today's spend for "
                       f"{', '.join(flat)} (elasticity / contribution share: {slopes}, "
                       "below gates.identification.min_contribution_slope — the % the "
                       "contribution moves per 1 % of spend): their "
                       "contribution is nearly constant, so the data cannot tell it from the "
                       "baseline — do not read their contribution shares or ROI.")
        fit = tenants[t].get("fit") or {}
        if fit and fit.get("converged") is False:
            out.append(f"{t}: the full-history fit did not converge.")
        if fit.get("bounds_hit"):
            out.append(f"{t}: fitted parameters at their bounds: "
                       f"{', '.join(map(str, fit['bounds_hit']))}.")
        if fit.get("profile_below_fit"):
            out.append(f"{t}: the full-history fit is not the optimum: after "
                       f"{fit.get('profile_refits')} re-fits a decay profile still found a "
                       "lower objective; the optimisation is unstable on this data.")
        elif fit.get("profile_refits"):
            out.append(f"{t}: the multi-start missed the optimum; a decay profile found one "
                       f"{fit.get('profile_refit_gain', 0):.2f} lower in objective and the fit "
                       f"was re-optimised from it ({fit['profile_refits']}x).")
    return out


def _provenance(report: Mapping, manifest: Mapping | None) -> list[Block]:
    m = manifest or {}
    git = m.get("git") or {}
    commit = report.get("git_commit") or git.get("commit")
    dirty = git.get("dirty")
    commit_text: Inline = (
        [Code(str(commit)), " (uncommitted changes present)" if dirty else ""] if commit
        else "not in a git repository")
    python = m.get("python") or {}
    kernel = m.get("kernel") or {}
    date = str(m.get("finished") or m.get("started") or "")[:10] or "not recorded"
    items: list[tuple[str, Inline]] = [
        ("run id", Code(str(report.get("run_id")))),
        ("date (UTC)", date),
        ("experiment", str(report.get("experiment"))),
        ("package version", f"mmm-evidence {report.get('package_version')}"),
        ("git commit", commit_text),
        ("python", f"{python.get('implementation', '')} {python.get('version', '')}".strip()
         or "not recorded"),
        ("platform", str(m.get("platform") or "not recorded")),
        ("kernel", f"{kernel.get('name')} ({kernel.get('display_name')})" if kernel
         else "not recorded"),
        ("parameters hash", Code(str(m.get("params_hash"))) if m.get("params_hash")
         else "not recorded"),
        ("schema version", str(report.get("schema_version"))),
    ]
    blocks: list[Block] = [Heading(2, "Provenance", "provenance"), Meta(items)]
    packages = m.get("packages") or {}
    if packages:
        blocks.append(Table(["library", "version"],
                            [[Code(k), str(v or "not installed")]
                             for k, v in sorted(packages.items())]))
    env = m.get("environment") or {}
    notebooks = m.get("notebook_hashes") or {}
    if notebooks:
        blocks.append(Table(["notebook", "sha256"], [[Code(k), Code(str(v))]
                                                     for k, v in sorted(notebooks.items())]))
    if env:
        blocks.append(Para(["Kernel environment: "]
                           + [s for k, v in sorted(env.items())
                              for s in (Code(f"{k}={v}"), " ")], "note"))
    if not manifest:
        blocks.append(Para("run_manifest.json was not available: timings, environment and "
                           "input hashes are not shown.", "muted"))
    return blocks


def build_model_card(report: Mapping[str, Any], *,
                     baseline_metrics: Mapping[str, Any] | None = None,
                     robustness_report: Mapping[str, Any] | None = None,
                     run_manifest: Mapping[str, Any] | None = None,
                     fairness_report: Mapping[str, Any] | None = None,
                     feature_importance: Sequence[Mapping[str, Any]] | None = None
                     ) -> Document:
    """The model card as one document (see ``report.document``), from the artifacts' dicts;
    ``feature_importance`` is the rows of ``feature_importance.csv``."""
    baseline_tenants = (baseline_metrics or {}).get("tenants") or {}
    robustness_tenants = (robustness_report or {}).get("tenants") or {}
    verdict = report.get("verdict") or "NOT ASSESSABLE"
    tenants: Mapping[str, Mapping] = report.get("tenants") or {}
    order = _tenant_order(report)
    notebooks = list(report.get("notebooks") or [])
    counts = report.get("gate_counts") or {}
    errors = report.get("errors") or []
    experiment = report.get("experiment")
    date = str((run_manifest or {}).get("finished") or "")[:10]

    blocks: list[Block] = [
        Banner(f"Verdict: {verdict}",
               f"{counts.get('passed', 0)} of {counts.get('total', 0)} gates passed, "
               f"{counts.get('failed', 0)} failed, {counts.get('not_assessable', 0)} not "
               f"assessable; {len(errors)} error(s){run_scope(report)}", verdict_kind(verdict)),
        Meta([("experiment", str(experiment)), ("run id", Code(str(report.get("run_id")))),
              ("date (UTC)", date or "not recorded"),
              ("package version", str(report.get("package_version"))),
              ("git commit", Code(str(report.get("git_commit"))) if report.get("git_commit")
               else "not in a git repository")]),
        Para("PASS only when every gate of every tenant passes and nothing errored; NOT "
             "ASSESSABLE when a gate lacks the data it needs (e.g. ground truth). "
             "Every tenant's gates, metrics and plots are below; each notebook's evidence is "
             "linked (reviewer HTML without code, full HTML, executed notebook).", "note"),
        Heading(2, "Tenants", "tenants"),
        Table(["tenant", "verdict", "gates passed", "failed", "not assessable", "holdout R²",
               "status"],
              [[Link(_label(tenants[t], t), f"#tenant-{t}"),
                _verdict_badge(tenants[t].get("verdict")),
                f"{sum(g.get('passed') is True for g in tenants[t].get('gates') or [])}/"
                f"{len(tenants[t].get('gates') or [])}",
                *_gates_not_passed(tenants[t].get("gates") or []),
                fmt_num(_get(tenants[t], "metrics", "holdout", "r2")),
                str(tenants[t].get("status"))] for t in order],
              numeric=frozenset({2, 5})),
        Heading(3, "Gates by tenant"),
        _gate_matrix(report, order),
    ]
    if errors:
        blocks.append(Heading(2, "Errors", "errors"))
        blocks += [b for e in errors for b in (
            Para([Code(str(e.get("tenant"))), f" · {e.get('notebook') or 'data'}"]),
            Pre(str(e.get("error"))))]
    blocks += _model_details(report, run_manifest, order)
    blocks += [Heading(2, "Intended use", "intended-use"), Bullets(list(INTENDED_USE)),
               Heading(3, "Out of scope"), Bullets(list(OUT_OF_SCOPE))]
    blocks += _data_blocks(report, run_manifest, order)
    for t in order:
        blocks.append(_tenant_section(
            t, tenants[t], notebooks, baseline_tenants.get(t), robustness_tenants.get(t),
            fairness_report,
            None if feature_importance is None else
            [r for r in feature_importance if str(r.get("tenant")) == t]))
    blocks += [Heading(2, "Limitations", "limitations"),
               Bullets(list(LIMITATIONS) + _derived_limitations(report, order)),
               Heading(2, "Open defects", "defects"),
               Para("Every failed or not-assessable gate and every errored notebook; "
                    "defects.md has each entry with its detail.", "note"),
               *defect_blocks(collect_defects(report), details=False)]
    blocks += _provenance(report, run_manifest)
    return Document(f"Model card · {experiment}", blocks,
                    footer="Generated by mmm-evidence from the run's artifacts "
                           "(validation_report.json, run_manifest.json and the per-notebook "
                           "reports).")


def _card(report: Mapping[str, Any], baseline_metrics: Mapping[str, Any] | None,
          robustness_report: Mapping[str, Any] | None, **extra: Any) -> Document:
    return build_model_card(report, baseline_metrics=baseline_metrics,
                            robustness_report=robustness_report, **extra)


def render_model_card(report: Mapping[str, Any],
                      baseline_metrics: Mapping[str, Any] | None = None,
                      robustness_report: Mapping[str, Any] | None = None,
                      **artifacts: Any) -> str:
    """The model card HTML (``artifacts``: run_manifest, fairness_report, feature_importance,
    as for ``build_model_card``)."""
    return html_page(_card(report, baseline_metrics, robustness_report, **artifacts))


def render_model_card_markdown(report: Mapping[str, Any],
                               baseline_metrics: Mapping[str, Any] | None = None,
                               robustness_report: Mapping[str, Any] | None = None,
                               **artifacts: Any) -> str:
    """The model card Markdown: the same document as the HTML, figures as captions."""
    return markdown_page(_card(report, baseline_metrics, robustness_report, **artifacts))


def write_model_card(report: Mapping[str, Any], path: str | Path,
                     baseline_metrics: Mapping[str, Any] | None = None,
                     robustness_report: Mapping[str, Any] | None = None, *,
                     run_manifest: Mapping[str, Any] | None = None,
                     fairness_report: Mapping[str, Any] | None = None,
                     feature_importance: Sequence[Mapping[str, Any]] | None = None,
                     markdown_path: str | Path | None = None) -> Path:
    """Write the model card HTML to ``path`` and its Markdown to ``markdown_path`` (default:
    ``path`` with suffix ``.md``), both from one document; return the HTML path."""
    path = Path(path)
    doc = build_model_card(report, baseline_metrics=baseline_metrics,
                           robustness_report=robustness_report, run_manifest=run_manifest,
                           fairness_report=fairness_report,
                           feature_importance=feature_importance)
    write_text(html_page(doc), path)
    write_text(markdown_page(doc), markdown_path or path.with_suffix(".md"))
    return path
