"""``SUMMARY.md``: the sign-off summary — verdict, every gate of every tenant, open defects,
where each artifact is, how to verify the bundle, and a sign-off block for the reviewer.

Made from ``validation_report.json`` (and the run's date from ``run_manifest.json``) plus the
list of the run's files, so it can be written before the bundle exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmm_evidence.pipeline.files import write_text
from mmm_evidence.report.defects import collect_defects, defect_blocks, tenant_order
from mmm_evidence.report.document import (
    Badge,
    Banner,
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
    gate_kind,
    gate_label,
    markdown_page,
    run_scope,
    verdict_kind,
)

SUMMARY_FILE = "SUMMARY.md"

__all__ = ["SUMMARY_FILE", "ARTIFACT_DESCRIPTIONS", "render_summary", "write_summary"]

#: What each top-level file of a run holds (files not listed are shown without a description).
ARTIFACT_DESCRIPTIONS = {
    "SUMMARY.md": "this sign-off summary",
    "index.html": "entry page: tenants × notebooks with status and links",
    "model_card.html": "the model card (self-contained HTML, plots embedded)",
    "model_card.md": "the model card as Markdown (same content, no images)",
    "defects.md": "one entry per failed or not-assessable gate and per errored notebook",
    "validation_report.json": "per tenant: metrics, elasticities vs truth, every gate, verdict",
    "run_manifest.json": "versions, git commit, input data hashes, parameters, timings",
    "baseline_metrics.json": "the MMM against naive, seasonal-naive, linear, LightGBM",
    "robustness_report.json": "every robustness check: value, threshold, pass/fail",
    "robustness_suite.log": "the robustness checks as text",
    "fairness_report.json": "segment parity, uplift gaps, privacy findings",
    "feature_importance.csv": "SHAP importance vs MMM decomposition vs truth",
}


def _gate_cell(gates: Sequence[Mapping], name: str) -> Inline:
    found = [g for g in gates if g.get("name") == name]
    if not found:
        return "–"
    return Badge(gate_label(found[0].get("passed")), gate_kind(found[0].get("passed")))


def build_summary(report: Mapping[str, Any], files: Sequence[str] = (),
                  date: str | None = None) -> Document:
    """The sign-off summary document; ``files``: the run's files (relative paths)."""
    tenants: Mapping[str, Mapping] = report.get("tenants") or {}
    order = tenant_order(report)
    verdict = report.get("verdict") or "NOT ASSESSABLE"
    counts = report.get("gate_counts") or {}
    errors = report.get("errors") or []
    run_id = str(report.get("run_id"))
    gate_names: list[str] = []
    for t in order:
        for g in tenants[t].get("gates") or []:
            if g.get("name") not in gate_names:
                gate_names.append(str(g.get("name")))
    blocks: list[Block] = [
        Banner(f"Verdict: {verdict}",
               f"{counts.get('passed', 0)} of {counts.get('total', 0)} gates passed, "
               f"{counts.get('failed', 0)} failed, {counts.get('not_assessable', 0)} not "
               f"assessable; {len(errors)} error(s){run_scope(report)}", verdict_kind(verdict)),
        Meta([("experiment", str(report.get("experiment"))), ("run id", Code(run_id)),
              ("date (UTC)", date or "not recorded"),
              ("package version", str(report.get("package_version"))),
              ("git commit", Code(str(report.get("git_commit"))) if report.get("git_commit")
               else "not in a git repository")]),
        Para("The verdict is PASS only when every gate of every tenant passes and nothing "
             "errored."),
        Heading(2, "Gates"),
        Table(["tenant", "verdict", *gate_names],
              [[Code(t), Badge(str(tenants[t].get("verdict") or "NOT ASSESSABLE"),
                               verdict_kind(tenants[t].get("verdict"))),
                *[_gate_cell(tenants[t].get("gates") or [], n) for n in gate_names]]
               for t in order], empty="No tenants in this run."),
        Heading(2, "Open defects"),
        *defect_blocks(collect_defects(report), details=False),
        Para(["Details: ", Link("defects.md", "defects.md"), "."]),
    ]
    listed = sorted(files)
    if listed:
        top = [f for f in listed if "/" not in f]
        nested = [f for f in listed if "/" in f]
        blocks += [Heading(2, "Artifacts"),
                   Para("Paths are relative to this file (in the bundle: under data/).",
                        "note"),
                   Table(["path", "what"], [[Link(f, f), ARTIFACT_DESCRIPTIONS.get(f, "")]
                                           for f in top]
                         + [[Link(f, f), _notebook_description(f)] for f in nested])]
    blocks += [
        Heading(2, "Verify the bundle"),
        Para("The bundle is a BagIt bag (RFC 8493): every file's SHA-256 is in "
             "manifest-sha256.txt. Check it with:"),
        Pre(f"mmm-evidence verify validation_bundle_{run_id}.tar.gz"),
        Para("or any BagIt validator on the extracted folder."),
        Heading(2, "Sign-off"),
        Pre("Reviewer:  ______________________\n"
            "Date:      ______________________\n"
            "Decision:  [ ] promote   [ ] do not promote\n"
            "Notes:     ______________________"),
    ]
    return Document(f"Sign-off summary · {report.get('experiment')} · run {run_id}", blocks,
                    footer="Generated by mmm-evidence from validation_report.json.")


def _notebook_description(path: str) -> str:
    name = Path(path).name
    if name.endswith(".reviewer.html"):
        return "reviewer export (no code cells)"
    if name.endswith(".html"):
        return "full HTML export"
    if name.endswith(".ipynb"):
        return "executed notebook"
    return ""


def render_summary(report: Mapping[str, Any], files: Sequence[str] = (),
                   date: str | None = None) -> str:
    """The ``SUMMARY.md`` text."""
    return markdown_page(build_summary(report, files, date))


def write_summary(report: Mapping[str, Any], path: str | Path, files: Sequence[str] = (),
                  date: str | None = None) -> Path:
    """Write ``render_summary(report, files, date)`` to ``path``; return the path."""
    return write_text(render_summary(report, files, date), path)
