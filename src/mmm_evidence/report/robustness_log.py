"""``robustness_suite.log``: the human-readable summary of ``robustness_report.json``.

Made from the report alone (no clock, no path), so the same report gives the same bytes: one
line per check (result, category, name, measured value, what passes, detail), the totals per
tenant (``26/26 passed``) and over the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.files import write_text

ROBUSTNESS_LOG_FILE = "robustness_suite.log"

__all__ = ["ROBUSTNESS_LOG_FILE", "render_robustness_log", "write_robustness_log",
           "format_value"]

_MARK = {True: "PASS", False: "FAIL", None: "N/A"}


def format_value(value: Any) -> str:
    """A measured value or threshold for the log: 4 significant digits, '-' when missing."""
    if value is None or isinstance(value, bool):
        return "-"
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "-"
    return f"{number:.4g}"


def _totals(summary: Mapping[str, Any]) -> str:
    text = f"{summary.get('passed', 0)}/{summary.get('total', 0)} passed"
    if summary.get("failed"):
        text += f", {summary['failed']} failed"
    if summary.get("not_assessable"):
        text += f", {summary['not_assessable']} not assessable"
    return text


def render_robustness_log(report: Mapping[str, Any]) -> str:
    """The log text of a ``robustness_report.json`` dict."""
    tenants: Mapping[str, Mapping] = report.get("tenants") or {}
    order = [t for t in report.get("tenant_order") or [] if t in tenants]
    order += [t for t in sorted(tenants) if t not in order]
    lines = [f"robustness suite · experiment {report.get('experiment')} · run "
             f"{report.get('run_id')} · package {report.get('package_version')} · commit "
             f"{report.get('git_commit') or 'none'}",
             "a check passes when: value <comparison> threshold (thresholds from params "
             "robustness:)", ""]
    width = max([len(c.get("name", "")) for t in order
                 for c in tenants[t].get("checks") or []] + [10])
    cat_width = max([len(c.get("category", "")) for t in order
                     for c in tenants[t].get("checks") or []] + [8])
    for name in order:
        section = tenants[name]
        label = section.get("display_name") or name
        if section.get("status") != "ok":
            why = section.get("error") or section.get("note") or "the robustness notebook " \
                                                                  "did not run"
            lines.append(f"{name} ({label}): no checks — {why}")
            lines.append("")
            continue
        lines.append(f"{name} ({label}): {_totals(section.get('summary') or {})}")
        note = (section.get("thresholds") or {}).get("note")
        if note:
            lines.append(f"  judged by the {note}")
        for c in section.get("checks") or []:
            passes = (f"{c.get('comparison', '')} {format_value(c.get('threshold'))}"
                      if c.get("judged") is not False else "not judged")
            lines.append(f"  {_MARK.get(c.get('passed'), 'N/A'):<4}  "
                         f"{c.get('category', ''):<{cat_width}}  {c.get('name', ''):<{width}}  "
                         f"{format_value(c.get('value')):>10}  {passes:<9}  "
                         f"{' '.join(str(c.get('detail') or '').split())}")
        lines.append("")
    lines.append(f"total: {_totals(report.get('totals') or {})} over {len(order)} tenant(s)")
    return "\n".join(lines) + "\n"


def write_robustness_log(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``render_robustness_log(report)`` to ``path`` (UTF-8, LF); return the path."""
    return write_text(render_robustness_log(report), path)
