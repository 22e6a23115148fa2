"""index.html, SUMMARY.md and the reviewer outputs written from a run folder alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mmm_evidence.report.index_page import render_index
from mmm_evidence.report.reviewer import (
    REVIEWER_OUTPUTS,
    ArtifactError,
    evidence_files,
    load_run_artifacts,
    write_reviewer_outputs,
)
from mmm_evidence.report.summary import render_summary
from tests.pipeline.test_artifacts import builder
from tests.run_folder import make_run_folder


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("run"))


@pytest.fixture
def out(run_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the run folder (tests may change it)."""
    return Path(shutil.copytree(run_folder, tmp_path / "out"))


def test_run_writes_every_reviewer_output(out: Path) -> None:
    for name in REVIEWER_OUTPUTS:
        assert (out / name).is_file(), name
    card = (out / "model_card.html").read_text(encoding="utf-8")
    assert "<script" not in card and builder.remote_fetches(card) == []
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in card  # alpha's display name
    assert (out / "model_card.md").read_text(encoding="utf-8").startswith(
        "# Model card · fixture_exp\n")


def test_evidence_files_are_the_artifacts_outputs_and_the_reports_notebooks(out: Path) -> None:
    (out / ".hidden").write_text("x")
    (out / "validation_bundle_old.tar.gz").write_text("x")
    (out / "tenants" / "alpha" / "stray.html").write_text("not in the report")
    files = evidence_files(load_run_artifacts(out))
    assert "tenants/alpha/validation.reviewer.html" in files
    assert "tenants/gamma/robustness.ipynb" in files
    assert {"validation_report.json", "run_manifest.json", "baseline_metrics.json",
            "robustness_report.json", "robustness_suite.log", *REVIEWER_OUTPUTS} <= set(files)
    assert not any(f.startswith(("data/", ".", "validation_bundle_")) for f in files)
    assert "tenants/alpha/stray.html" not in files and files == sorted(files)


def test_index_links_every_tenant_and_notebook(out: Path) -> None:
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in index and builder.remote_fetches(index) == []
    for tenant in ("alpha", "beta", "gamma", "baddata"):
        assert f'href="model_card.html#tenant-{tenant}"' in index
    assert ('<a href="tenants/alpha/validation.reviewer.html">reviewer</a> · '
            '<a href="tenants/alpha/validation.html">full</a> · '
            '<a href="tenants/alpha/validation.ipynb">ipynb</a>') in index
    assert '<span class="badge fail">error</span>' in index  # gamma's validation
    assert '<span class="badge na">skipped</span>' in index  # baddata's notebooks
    assert '<a href="defects.md">defects</a>' in index
    assert '<a href="validation_report.json">validation_report.json</a>' in index


def test_summary_has_verdict_gates_defects_artifacts_and_sign_off(out: Path) -> None:
    summary = (out / "SUMMARY.md").read_text(encoding="utf-8")
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert f"> **Verdict: {report['verdict']}**" in summary
    header = next(line for line in summary.splitlines() if line.startswith("| tenant |"))
    for g in report["tenants"]["alpha"]["gates"]:
        assert f" {g['name']} " in header
    assert "| `gamma` | **FAIL** |" in summary
    assert "open defect(s)" in summary and "[defects.md](<defects.md>)" in summary
    assert "| [tenants/alpha/validation.reviewer.html](<tenants/alpha/validation.reviewer.html>)" \
           " | reviewer export (no code cells) |" in summary
    assert f"mmm-evidence verify validation_bundle_{report['run_id']}.tar.gz" in summary
    assert "Reviewer:" in summary and "[ ] promote" in summary


def test_outputs_are_reproducible(out: Path) -> None:
    before = {n: (out / n).read_bytes() for n in REVIEWER_OUTPUTS}
    write_reviewer_outputs(out)
    assert {n: (out / n).read_bytes() for n in REVIEWER_OUTPUTS} == before


def test_stale_artifacts_are_left_out(out: Path) -> None:
    path = out / "baseline_metrics.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "run_id": "0ld0ld0ld0ld"}), encoding="utf-8")
    arts = load_run_artifacts(out)
    assert arts.stale == {"baseline_metrics.json": "0ld0ld0ld0ld"} and arts.baselines is None
    assert "baseline_metrics.json" not in evidence_files(arts)
    write_reviewer_outputs(out)
    assert "Baselines on the same splits" not in (out / "model_card.html").read_text("utf-8")


def test_missing_report_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"validation_report\.json: not found"):
        write_reviewer_outputs(tmp_path)
    (tmp_path / "validation_report.json").write_text("[1]")
    with pytest.raises(ArtifactError, match="expected a JSON object"):
        load_run_artifacts(tmp_path)


def test_index_and_summary_escape_text_from_data() -> None:
    report = {"experiment": "e<x>", "run_id": "r", "verdict": "PASS", "notebooks": ["nb"],
              "tenant_order": ["t"], "tenants": {"t": {
                  "display_name": "<script>alert(1)</script>", "verdict": "PASS",
                  "gates": [], "notebooks": {"nb": {"status": "ok", "html": "a\"b.html"}}}}}
    index = render_index(report)
    assert "<script" not in index and "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert 'href="a&quot;b.html"' in index
    assert "<script" not in render_summary(report).replace("\\<script\\>", "")
