"""``defects.md``: one entry per failed or not-assessable gate and per errored notebook.

Made from ``validation_report.json`` alone: every tenant's ``gates`` list (which holds the gates
of every notebook) and the report's ``errors``. Each entry names the tenant, the gate, its
value and threshold, and the notebook to look at (with links to its HTML exports); a run with
nothing open says "No open defects".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.files import write_text
from mmm_evidence.report.document import (
    Block,
    Code,
    Document,
    Heading,
    Inline,
    Link,
    Meta,
    Para,
    Pre,
    Table,
    fmt_num,
    markdown_page,
)

DEFECTS_FILE = "defects.md"
NO_OPEN_DEFECTS = "No open defects."

__all__ = ["DEFECTS_FILE", "NO_OPEN_DEFECTS", "Defect", "gate_notebook", "collect_defects",
           "defect_blocks", "render_defects", "write_defects", "tenant_order"]

#: The notebook whose evidence a gate is computed from (gates not listed: see gate_notebook).
GATE_NOTEBOOKS = {
    "holdout_r2": "validation",
    "elasticity_median_error": "validation",
    "elasticity_no_missed_channel": "validation",
    "elasticity_no_phantom_channel": "validation",
    "roi_median_error": "validation",
    "elasticity_identified": "validation",
    "beats_baselines": "baselines",
    "robustness": "robustness",
}
_PREFIX_NOTEBOOKS = (("fairness", "fairness"), ("privacy", "fairness"), ("segment", "fairness"),
                     ("importance", "importance"), ("shap", "importance"))


def gate_notebook(gate: Mapping[str, Any], notebooks: Sequence[str] = ()) -> str | None:
    """The notebook to look at for ``gate``: its own ``notebook`` key, the known gates, then a
    name prefix (fairness/privacy -> fairness, importance/shap -> importance); None if unknown
    or not one of ``notebooks`` (when given)."""
    name = str(gate.get("name") or "")
    found = gate.get("notebook") or GATE_NOTEBOOKS.get(name)
    if not found:
        found = next((nb for prefix, nb in _PREFIX_NOTEBOOKS if name.startswith(prefix)), None)
    if found and notebooks and found not in notebooks:
        return None
    return found


@dataclass(frozen=True)
class Defect:
    """One open item: a gate that did not pass (``kind`` "failed" / "not assessable"), a
    notebook that errored (``kind`` "notebook error") or a tenant whose data errored."""

    tenant: str
    display_name: str
    kind: str
    gate: str | None
    value: Any
    threshold: Any
    detail: str
    notebook: str | None
    html: str | None
    reviewer_html: str | None


def tenant_order(report: Mapping[str, Any]) -> list[str]:
    tenants = report.get("tenants") or {}
    order = [t for t in report.get("tenant_order") or [] if t in tenants]
    return order + [t for t in sorted(tenants) if t not in order]


def collect_defects(report: Mapping[str, Any]) -> list[Defect]:
    """Every open defect of a ``validation_report.json`` dict, tenant by tenant (report order):
    data error, errored notebooks, then failed and not-assessable gates in gate order."""
    tenants: Mapping[str, Mapping] = report.get("tenants") or {}
    notebooks = list(report.get("notebooks") or [])
    out: list[Defect] = []
    for name in tenant_order(report):
        section = tenants[name]
        label = str(section.get("display_name") or name)
        links = section.get("notebooks") or {}

        def where(nb: str | None, _links: Mapping = links) -> tuple[str | None, str | None]:
            entry = _links.get(nb) or {} if nb else {}
            return entry.get("html"), entry.get("reviewer_html")

        if section.get("data_error"):
            out.append(Defect(name, label, "data error", None, None, None,
                              str(section["data_error"]), None, None, None))
        for nb, entry in sorted(links.items()):
            if isinstance(entry, Mapping) and entry.get("status") == "error":
                out.append(Defect(name, label, "notebook error", None, None, None,
                                  str(entry.get("error") or "the notebook errored"), nb,
                                  *where(nb)))
        for g in section.get("gates") or []:
            if not isinstance(g, Mapping) or g.get("passed") is True:
                continue
            nb = gate_notebook(g, notebooks)
            out.append(Defect(name, label, "failed" if g.get("passed") is False
                              else "not assessable", str(g.get("name")), g.get("value"),
                              g.get("threshold"), str(g.get("detail") or ""), nb, *where(nb)))
    return out


def _look_at(d: Defect) -> Inline:
    spans: list = [Code(d.notebook)] if d.notebook else ["–"]
    if d.reviewer_html:
        spans += [" (", Link("reviewer HTML", d.reviewer_html)]
        spans += [", ", Link("full HTML", d.html), ")"] if d.html else [")"]
    elif d.html:
        spans += [" (", Link("full HTML", d.html), ")"]
    return spans


def defect_blocks(defects: Sequence[Defect], heading_level: int = 2, details: bool = True
                  ) -> list[Block]:
    """The defects as blocks: a summary table, then (with ``details``) one entry per defect."""
    if not defects:
        return [Para(NO_OPEN_DEFECTS)]
    counts: dict[str, int] = {}
    for d in defects:
        counts[d.kind] = counts.get(d.kind, 0) + 1
    blocks: list[Block] = [
        Para(f"{len(defects)} open defect(s): "
             + ", ".join(f"{n} {kind}" for kind, n in counts.items()) + "."),
        Table(["no.", "tenant", "kind", "gate", "value", "threshold", "look at"],
              [[str(i), Code(d.tenant), d.kind, Code(d.gate) if d.gate else "–",
                fmt_num(d.value, 4), fmt_num(d.threshold, 4), _look_at(d)]
               for i, d in enumerate(defects, start=1)], numeric=frozenset({0, 4, 5})),
    ]
    for i, d in enumerate(defects if details else (), start=1):
        what: Inline = Code(d.gate or d.notebook) if (d.gate or d.notebook) else "input data"
        blocks.append(Heading(heading_level + 1,
                              [f"Defect {i} · {d.display_name} (", Code(d.tenant),
                               f") · {d.kind} · ", what]))
        items: list[tuple[str, Inline]] = [("tenant", [d.display_name, " (", Code(d.tenant),
                                                        ")"])]
        if d.gate:
            items += [("gate", Code(d.gate)), ("value", fmt_num(d.value, 4)),
                      ("threshold", fmt_num(d.threshold, 4))]
        items.append(("look at", _look_at(d)))
        blocks.append(Meta(items))
        if d.kind in ("notebook error", "data error"):
            blocks.append(Pre(d.detail))
        elif d.detail:
            blocks.append(Para(d.detail))
    return blocks


def render_defects(report: Mapping[str, Any]) -> str:
    """The ``defects.md`` text of a ``validation_report.json`` dict."""
    defects = collect_defects(report)
    intro = Para([f"Experiment {report.get('experiment')} · run ", Code(str(report.get("run_id"))),
                  f" · verdict {report.get('verdict') or 'NOT ASSESSABLE'}. One entry per "
                  "failed or not-assessable gate and per errored notebook; links are relative "
                  "to this file."])
    doc = Document(f"Defects · {report.get('experiment')}", [intro, *defect_blocks(defects)],
                   footer="Generated by mmm-evidence from validation_report.json.")
    return markdown_page(doc)


def write_defects(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``render_defects(report)`` to ``path``; return the path."""
    return write_text(render_defects(report), path)
