"""defects.md: one entry per failed / not-assessable gate and per errored notebook."""

from __future__ import annotations

from pathlib import Path

import mistune

from mmm_evidence.report.defects import (
    NO_OPEN_DEFECTS,
    collect_defects,
    gate_notebook,
    render_defects,
    write_defects,
)


def gate(name: str, passed: bool | None, value=0.1, threshold=0.5) -> dict:
    return {"name": name, "value": value, "threshold": threshold, "passed": passed,
            "detail": f"why {name}"}


def report() -> dict:
    links = {"validation": {"status": "ok", "html": "tenants/a/validation.html",
                            "reviewer_html": "tenants/a/validation.reviewer.html",
                            "ipynb": "tenants/a/validation.ipynb", "error": None},
             "baselines": {"status": "error", "html": "tenants/a/baselines.html",
                           "reviewer_html": None, "ipynb": "tenants/a/baselines.ipynb",
                           "error": "ValueError: <b>boom</b>"}}
    return {
        "experiment": "exp", "run_id": "r1", "verdict": "FAIL",
        "notebooks": ["validation", "baselines", "robustness", "fairness"],
        "tenant_order": ["a", "ok", "bad"],
        "tenants": {
            "a": {"display_name": "<script>alert(1)</script>", "notebooks": links,
                  "gates": [gate("holdout_r2", True, 0.9), gate("elasticity_median_error", False),
                            gate("beats_baselines", None, None),
                            gate("fairness_segment_gap", False),
                            gate("mystery_gate", None)]},
            "ok": {"display_name": "OK", "notebooks": {}, "gates": [gate("holdout_r2", True)]},
            "bad": {"display_name": "Bad", "data_error": "bad.csv: column 'x': expected >= 0",
                    "notebooks": {}, "gates": [gate("holdout_r2", None, None)]},
        },
    }


def test_one_defect_per_failed_or_not_assessable_gate_and_errored_notebook() -> None:
    defects = collect_defects(report())
    assert [(d.tenant, d.kind, d.gate, d.notebook) for d in defects] == [
        ("a", "notebook error", None, "baselines"),
        ("a", "failed", "elasticity_median_error", "validation"),
        ("a", "not assessable", "beats_baselines", "baselines"),
        ("a", "failed", "fairness_segment_gap", "fairness"),
        ("a", "not assessable", "mystery_gate", None),
        ("bad", "data error", None, None),
        ("bad", "not assessable", "holdout_r2", "validation"),
    ]
    median = defects[1]
    assert (median.value, median.threshold) == (0.1, 0.5)
    assert median.reviewer_html == "tenants/a/validation.reviewer.html"


def test_gate_notebook_mapping() -> None:
    assert gate_notebook({"name": "robustness"}) == "robustness"
    assert gate_notebook({"name": "privacy_min_cell"}) == "fairness"
    assert gate_notebook({"name": "importance_rank_agreement"}) == "importance"
    assert gate_notebook({"name": "x", "notebook": "custom"}) == "custom"
    assert gate_notebook({"name": "robustness"}, ["validation"]) is None  # not in this run


def test_markdown_names_tenant_gate_value_threshold_and_notebook(tmp_path: Path) -> None:
    path = write_defects(report(), tmp_path / "defects.md")
    md = path.read_text(encoding="utf-8")
    assert md.startswith("# Defects · exp\n") and md.endswith("\n")
    assert "7 open defect(s): 1 notebook error, 2 failed, 3 not assessable, 1 data error." in md
    assert ("| 2 | `a` | failed | `elasticity_median_error` | 0.1000 | 0.5000 | `validation` "
            "([reviewer HTML](<tenants/a/validation.reviewer.html>), "
            "[full HTML](<tenants/a/validation.html>)) |") in md
    assert ("### Defect 1 · \\<script\\>alert(1)\\</script\\> (`a`) · notebook error · "
            "`baselines`\n") in md
    assert "### Defect 6 · Bad (`bad`) · data error · input data\n" in md
    assert "ValueError: <b>boom</b>" in md  # inside a fenced block: shown as text
    html = mistune.create_markdown(escape=False, plugins=["table"])(md)
    assert "<script" not in html and "<b>boom" not in html


def test_no_open_defects() -> None:
    data = report()
    data["tenants"] = {"ok": data["tenants"]["ok"]}
    assert collect_defects(data) == []
    assert f"\n{NO_OPEN_DEFECTS}\n" in render_defects(data)
