"""``model_card.html``: the reviewer's one-page summary, rendered from the validation report
(and, when the run has one, ``baseline_metrics.json`` for the baseline comparison).

Self-contained (inline CSS, no scripts, no external resources), every text html-escaped,
readable on a phone (viewport meta, tables scroll sideways inside their own box).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

MODEL_CARD_FILE = "model_card.html"

__all__ = ["MODEL_CARD_FILE", "render_model_card", "write_model_card"]

_VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "NOT ASSESSABLE": "na"}

_CSS = """
:root { --pass: #1b7f3b; --fail: #b3261e; --na: #5f6368; --line: #d0d4d9; --soft: #f5f6f8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 62rem; padding: 1rem; color: #1f2328; line-height: 1.45;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; padding-top: 0.6rem;
     border-top: 2px solid var(--line); }
h3 { font-size: 1.02rem; margin: 1.2rem 0 0.4rem; }
.banner { color: #fff; border-radius: 8px; padding: 0.9rem 1rem; margin: 0.8rem 0 1rem;
          font-size: 1.25rem; font-weight: 700; }
.banner small { display: block; font-size: 0.85rem; font-weight: 400; opacity: 0.95; }
.banner.pass { background: var(--pass); } .banner.fail { background: var(--fail); }
.banner.na { background: var(--na); }
.badge { display: inline-block; border-radius: 999px; padding: 0.05rem 0.55rem; color: #fff;
         font-size: 0.8rem; font-weight: 600; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.na { background: var(--na); }
.note { color: #555; font-size: 0.88rem; margin: 0.2rem 0 0.8rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: 0.3rem 0 0.8rem; }
table { border-collapse: collapse; min-width: 100%; font-size: 0.92rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left;
         vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 0.8rem;
          margin: 0.4rem 0; font-size: 0.92rem; }
dl.meta dt { color: #57606a; } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.errors li { margin: 0.3rem 0; } .muted { color: #57606a; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft); padding: 0.5rem;
      border-radius: 6px; font-size: 0.85rem; margin: 0.3rem 0; }
a { color: #0b57d0; }
@media (max-width: 40rem) { body { padding: 0.6rem; } th, td { padding: 0.25rem 0.4rem; } }
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None or isinstance(value, bool):
        return "–"
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if not math.isfinite(number):
        return "–"
    if number != 0 and (abs(number) >= 1e6 or abs(number) < 10 ** -digits):
        return f"{number:.{digits}g}"
    return f"{number:.{digits}f}"


def _pct(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(number) else f"{100 * number:.1f} %"


def _badge(verdict: str | None) -> str:
    verdict = verdict or "NOT ASSESSABLE"
    return f'<span class="badge {_VERDICT_CLASS.get(verdict, "na")}">{_e(verdict)}</span>'


def _gate_badge(passed: bool | None) -> str:
    return _badge("PASS" if passed is True else "FAIL" if passed is False else "NOT ASSESSABLE")


def _status_badge(status: str | None) -> str:
    cls = {"ok": "pass", "error": "fail"}.get(status or "", "na")
    return f'<span class="badge {cls}">{_e(status or "unknown")}</span>'


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: Iterable[int] = ()
           ) -> str:
    """An HTML table; ``rows`` hold already-escaped cell HTML."""
    numeric = set(numeric)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                         for i, c in enumerate(row)) + "</tr>"
        for row in rows)
    if not body:
        return '<p class="muted">Nothing reported.</p>'
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>' \
           f"</table></div>"


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _metrics_table(metrics: Any) -> str:
    rows = []
    splits = [("holdout", _get(metrics, "holdout")), ("in-sample", _get(metrics, "in_sample"))]
    for fold in _get(metrics, "cv", "folds") or []:
        if isinstance(fold, Mapping):
            splits.append((f"CV {fold.get('name')} (weeks {fold.get('test_start', 0) + 1}–"
                           f"{fold.get('test_end')})", fold))
    splits.append(("CV mean", _get(metrics, "cv", "mean")))
    for label, m in splits:
        if isinstance(m, Mapping):
            rows.append([_e(label), _num(m.get("r2")), _pct(m.get("mape")), _num(m.get("nrmse"))])
    table = _table(["split", "R²", "MAPE", "NRMSE"], rows, numeric=(1, 2, 3))
    ratio = _get(metrics, "holdout", "rmse_to_noise")
    if ratio is not None:
        table += (f"<p class=\"note\">Holdout RMSE is {_num(ratio, 2)}× the noise floor implied "
                  f"by the fit's residuals (1 = forecast as well as the noise allows).</p>")
    return table


def _gates_table(gates: Any) -> str:
    rows = []
    for g in gates or []:
        rows.append([f"<code>{_e(g.get('name'))}</code>", _num(g.get("value")),
                     _num(g.get("threshold")), _gate_badge(g.get("passed")), _e(g.get("detail"))])
    return _table(["gate", "value", "threshold", "result", "detail"], rows, numeric=(1, 2))


def _elasticity_table(section: Mapping) -> str:
    table = section.get("elasticities") or {}
    shares = section.get("contribution_shares") or {}
    roi = section.get("roi") or {}
    truth = section.get("truth") or {}
    intervals = _get(section, "uncertainty", "elasticity") or {}
    ident = section.get("identification") or {}
    rows = []
    for channel in sorted(set(table) | set(shares) | set(roi)):
        row = table.get(channel) or {}
        iv = intervals.get(channel) or {}
        interval = (f"[{_num(iv.get('low'))}, {_num(iv.get('high'))}]" if iv else "—")
        if channel in ident and not ident[channel].get("identified"):
            interval += " <span class=\"badge na\">not identified</span>"
        rows.append([
            _e(channel), _num(row.get("estimate")), interval, _num(row.get("truth")),
            _num(row.get("relative_error")), "yes" if row.get("counted") else "no",
            _pct(shares.get(channel)), _pct(_get(truth, "contribution_share", channel)),
            _num(roi.get(channel), 2), _num(_get(truth, "roi", channel), 2),
        ])
    return _table(["channel", "elasticity", "interval", "true elasticity", "relative error",
                   "in median", "contribution share", "true share", "ROI", "true ROI"],
                  rows, numeric=range(1, 10))


def _lift_table(section: Mapping) -> str:
    lift = section.get("lift_tests") or {}
    tests = lift.get("tests") or []
    if not tests:
        return ""
    rows = []
    for t in tests:
        verdict = t.get("consistent")
        rows.append([_e(t.get("channel")), _e(f"{t.get('start')} – {t.get('end')}"),
                     _num(t.get("spend_change"), 2), _num(t.get("lift"), 0),
                     _num(t.get("lift_se"), 0), _num(t.get("implied_lift"), 0),
                     _num(t.get("z"), 2), _gate_badge(verdict).replace(
                         "PASS", "consistent").replace("FAIL", "inconsistent")])
    how = ("the fit was calibrated with these tests (in-sample comparison)"
           if lift.get("calibrated") else "not used in the fit (independent comparison)")
    return (f"<h3>Lift tests</h3><p class=\"note\">Measured lift vs the model's implied lift "
            f"for the same spend change; {_e(how)}.</p>"
            + _table(["channel", "weeks", "spend change", "measured", "SE", "model", "z",
                      "|z| ≤ 2"], rows, numeric=range(2, 7)))


def _data_summary(data: Any) -> str:
    if not isinstance(data, Mapping):
        return ""
    items = [
        ("weeks", f"{_e(data.get('weeks'))} ({_e(data.get('train_weeks'))} train, "
                  f"{_e(data.get('holdout_weeks'))} holdout)"),
        ("period", f"{_e(data.get('start'))} – {_e(data.get('end'))}"),
        ("segments", _e(data.get("segments"))),
        ("channels", _e(", ".join(map(str, data.get("channels") or [])))),
        ("controls", _e(", ".join(map(str, data.get("controls") or [])) or "none")),
    ]
    return '<dl class="meta">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def _notebook_links(notebooks: Any) -> str:
    rows = []
    for name, nb in sorted((notebooks or {}).items()):
        links = []
        if nb.get("html"):
            links.append(f'<a href="{_e(nb["html"])}">HTML</a>')
        if nb.get("ipynb"):
            links.append(f'<a href="{_e(nb["ipynb"])}">ipynb</a>')
        rows.append([_e(name), _status_badge(nb.get("status")), " · ".join(links) or "–",
                     _e(nb.get("error") or "")])
    return _table(["notebook", "status", "evidence", "error"], rows)


_BASELINE_LABELS = {"mmm": "MMM v2", "naive": "naive", "seasonal_naive": "seasonal naive",
                    "linear": "linear (OLS)", "lightgbm": "LightGBM"}


def _model_order(models: Iterable[str]) -> list[str]:
    """The MMM first, then the baselines in their usual order, then any others by name."""
    known = list(_BASELINE_LABELS)
    return sorted(models, key=lambda m: (known.index(m) if m in known else len(known), m))


def _baselines_html(section: Mapping | None) -> str:
    """The baseline comparison of one tenant (its ``baseline_metrics.json`` section)."""
    if not isinstance(section, Mapping):
        return ""
    parts = ["<h3>Baselines on the same splits</h3>"]
    if section.get("status") != "ok":
        parts.append(f'<p class="muted">No baseline comparison: {_e(section.get("note"))}.</p>')
        return "".join(parts)
    baselines = section.get("baselines") or {}
    rows = []
    for model in _model_order(["mmm", *baselines]):
        splits = section.get("mmm") if model == "mmm" else {
            split: (entry or {}).get("metrics") for split, entry in baselines[model].items()}
        h, cv = _get(splits, "holdout") or {}, _get(splits, "cv_mean") or {}
        skill_h = _get(baselines, model, "holdout", "skill", "mape")
        skill_cv = _get(baselines, model, "cv_mean", "skill", "mape")
        rows.append([_e(_BASELINE_LABELS.get(model, model)), _num(h.get("r2")),
                     _pct(h.get("mape")), _num(h.get("nrmse")), _pct(cv.get("mape")),
                     _num(cv.get("nrmse")), "–" if model == "mmm" else _num(skill_h),
                     "–" if model == "mmm" else _num(skill_cv)])
    parts.append('<p class="note">Weekly total KPI. Skill of the MMM against a baseline: '
                 "1 − MMM MAPE / baseline MAPE (above 0: the MMM forecasts better).</p>")
    parts.append(_table(["model", "holdout R²", "holdout MAPE", "holdout NRMSE", "CV MAPE",
                         "CV NRMSE", "MMM skill (holdout)", "MMM skill (CV)"], rows,
                        numeric=range(1, 8)))
    comparison = section.get("elasticities") or {}
    channels = comparison.get("channels") or {}
    if channels:
        models = _model_order({m for row in channels.values()
                               for m in (row.get("estimates") or {})})
        has_truth = bool(comparison.get("has_truth"))
        rows = [[_e(channel)] + ([_num(row.get("truth"), 4)] if has_truth else [])
                + [_num(_get(row, "estimates", m), 4)
                   + (f' <span class="muted">({_num(_get(row, "relative_errors", m), 2)})</span>'
                      if has_truth else "") for m in models]
                for channel, row in channels.items()]
        if has_truth:
            medians = comparison.get("median_relative_error") or {}
            rows.append(["<em>median rel. error</em>", ""]
                        + [_num(medians.get(m), 3) for m in models])
        how = ("relative error to the truth in brackets; the median is over channels with a "
               f"true share ≥ {_pct(comparison.get('min_true_share'))}" if has_truth
               else "no ground truth for this tenant")
        parts.append(f'<p class="note">Elasticities (spend × 1.01, full-history fits); '
                     f"{_e(how)}.</p>")
        parts.append(_table(["channel"] + (["truth"] if has_truth else [])
                            + [_BASELINE_LABELS.get(m, m) for m in models], rows,
                            numeric=range(1, len(models) + 2)))
    return "".join(parts)


_CATEGORY_LABELS = {"perturbation": "perturbation", "stability": "stability",
                    "sanity": "sanity", "identification": "identification",
                    "leakage_determinism": "leakage & determinism"}


def _robustness_html(section: Mapping | None) -> str:
    """The robustness summary of one tenant (its ``robustness_report.json`` section): totals,
    per category, and every check that did not pass."""
    if not isinstance(section, Mapping):
        return ""
    parts = ["<h3>Robustness suite</h3>"]
    if section.get("status") != "ok":
        why = section.get("error") or section.get("note")
        parts.append(f'<p class="muted">No robustness checks: {_e(why)}.</p>')
        return "".join(parts)
    summary = section.get("summary") or {}
    checks = [c for c in section.get("checks") or [] if isinstance(c, Mapping)]
    parts.append(f'<p class="note">{_e(summary.get("passed", 0))}/{_e(summary.get("total", 0))}'
                 f" checks passed, {_e(summary.get('failed', 0))} failed, "
                 f"{_e(summary.get('not_assessable', 0))} not assessable — each a measured value "
                 "against its threshold; every check is in robustness_report.json and "
                 "robustness_suite.log.</p>")
    categories = list(dict.fromkeys(c.get("category") for c in checks))
    rows = []
    for cat in categories:
        mine = [c for c in checks if c.get("category") == cat]
        failed = [c.get("name") for c in mine if c.get("passed") is False]
        unknown = [c.get("name") for c in mine if c.get("passed") is None]
        verdict = False if failed else (None if unknown else True)
        rows.append([_e(_CATEGORY_LABELS.get(cat, cat)),
                     f"{sum(c.get('passed') is True for c in mine)}/{len(mine)}",
                     _gate_badge(verdict), _e(", ".join(map(str, failed + unknown)) or "–")])
    parts.append(_table(["category", "passed", "result", "not passed"], rows, numeric=(1,)))
    bad = [c for c in checks if c.get("passed") is not True]
    if bad:
        parts.append(_table(
            ["check", "value", "passes if", "result", "detail"],
            [[f"<code>{_e(c.get('name'))}</code>", _num(c.get("value"), 4),
              _e(f"{c.get('comparison', '')} {c.get('threshold')}"),
              _gate_badge(c.get("passed")), _e(c.get("detail"))] for c in bad],
            numeric=(1,)))
    return "".join(parts)


def _tenant_section(name: str, section: Mapping, baselines: Mapping | None = None,
                    robustness: Mapping | None = None) -> str:
    title = section.get("display_name") or name
    parts = [f'<section id="tenant-{_e(name)}">',
             f"<h2>{_e(title)} {_badge(section.get('verdict'))}</h2>",
             f'<p class="muted">tenant <code>{_e(name)}</code> · status {_e(section.get("status"))}'
             f"</p>"]
    if section.get("data_error"):
        parts.append(f"<h3>Data error</h3><pre>{_e(section['data_error'])}</pre>")
    parts.append(_data_summary(section.get("data")))
    parts.append("<h3>Metrics (weekly total KPI)</h3>" + _metrics_table(section.get("metrics")))
    parts.append("<h3>Gates</h3>" + _gates_table(section.get("gates")))
    if not section.get("truth") and section.get("status") == "ok":
        parts.append('<p class="muted">No ground truth for this tenant: truth-based gates are '
                     "not assessable.</p>")
    parts.append("<h3>Elasticities, contributions and ROI vs truth</h3>"
                 + _elasticity_table(section) + _lift_table(section))
    parts.append(_baselines_html(baselines))
    parts.append(_robustness_html(robustness))
    parts.append("<h3>Notebooks</h3>" + _notebook_links(section.get("notebooks")))
    parts.append("</section>")
    return "\n".join(parts)


def render_model_card(report: Mapping[str, Any],
                      baseline_metrics: Mapping[str, Any] | None = None,
                      robustness_report: Mapping[str, Any] | None = None) -> str:
    """The model card HTML for a ``validation_report.json`` dict (and, optionally, the run's
    ``baseline_metrics.json`` dict: a baseline comparison per tenant, and its
    ``robustness_report.json`` dict: a robustness summary per tenant)."""
    baseline_tenants = (baseline_metrics or {}).get("tenants") or {}
    robustness_tenants = (robustness_report or {}).get("tenants") or {}
    verdict = report.get("verdict") or "NOT ASSESSABLE"
    tenants: Mapping[str, Mapping] = report.get("tenants") or {}
    order = [t for t in report.get("tenant_order") or [] if t in tenants]
    order += [t for t in sorted(tenants) if t not in order]
    counts = report.get("gate_counts") or {}
    experiment = report.get("experiment")
    summary_rows = [
        [f'<a href="#tenant-{_e(t)}">{_e(tenants[t].get("display_name") or t)}</a>',
         _badge(tenants[t].get("verdict")),
         _num(_get(tenants[t], "metrics", "holdout", "r2")), _e(tenants[t].get("status"))]
        for t in order]
    errors = report.get("errors") or []
    error_items = "".join(
        f"<li><strong>{_e(e.get('tenant'))}</strong> · {_e(e.get('notebook') or 'data')}"
        f"<pre>{_e(e.get('error'))}</pre></li>" for e in errors)
    meta = [("experiment", experiment), ("run id", report.get("run_id")),
            ("package version", report.get("package_version")),
            ("git commit", report.get("git_commit") or "not in a git repository"),
            ("notebooks", ", ".join(report.get("notebooks") or [])),
            ("schema version", report.get("schema_version"))]
    body = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Model card · {_e(experiment)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>Model card · {_e(experiment)}</h1>",
        f'<div class="banner {_VERDICT_CLASS.get(verdict, "na")}">Verdict: {_e(verdict)}'
        f"<small>{_e(counts.get('passed', 0))} of {_e(counts.get('total', 0))} gates passed, "
        f"{_e(counts.get('failed', 0))} failed, {_e(counts.get('not_assessable', 0))} not "
        f"assessable; {len(errors)} error(s)</small></div>",
        '<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in meta)
        + "</dl>",
        "<h2>Tenants</h2>",
        _table(["tenant", "verdict", "holdout R²", "status"], summary_rows, numeric=(2,)),
    ]
    if errors:
        body.append(f'<h2>Errors</h2><ul class="errors">{error_items}</ul>')
    body.extend(_tenant_section(t, tenants[t], baseline_tenants.get(t),
                                robustness_tenants.get(t)) for t in order)
    body.append('<p class="muted">Generated by mmm-evidence from validation_report.json. '
                "PASS only when every gate of every tenant passes and nothing errored; "
                "NOT ASSESSABLE when a gate lacks the data it needs (e.g. ground truth).</p>")
    body.extend(["</body>", "</html>", ""])
    return "\n".join(body)


def write_model_card(report: Mapping[str, Any], path: str | Path,
                     baseline_metrics: Mapping[str, Any] | None = None,
                     robustness_report: Mapping[str, Any] | None = None) -> Path:
    """Write ``render_model_card(report, baseline_metrics, robustness_report)`` to ``path``;
    return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(render_model_card(report, baseline_metrics, robustness_report))
    return path
