"""The runner end to end: real papermill, real kernels, real scrapbook, real nbconvert.

One experiment (tenants alpha = PASS, beta = no truth, gamma = notebook raises, baddata = bad
CSV) is run twice into two output folders; the tests read what the runs left behind.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from mmm_evidence.config import load_experiment
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline import RunResult, run_experiment
from mmm_evidence.pipeline.collect import read_scraps
from mmm_evidence.pipeline.runner import NotebookTask, execute_notebook_task
from tests.fixtures.pipeline import experiment as builder

pytestmark = pytest.mark.slow
TENANTS = ["alpha", "beta", "gamma", "baddata"]


@dataclass
class Run:
    result: RunResult
    paths: dict[str, Path]
    progress: list[str]

    @property
    def out(self) -> Path:
        return self.result.output_dir

    def report(self) -> dict:
        return json.loads(self.paths["validation_report"].read_text(encoding="utf-8"))


def _run(params: Path, output_dir: Path) -> Run:
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as env:  # the same recorded date, even across midnight
        env.setenv("SOURCE_DATE_EPOCH", "1796083200")
        result = run_experiment(load_experiment(params), output_dir=output_dir, workers=2,
                                progress=lines.append)
        return Run(result, write_run_artifacts(result), lines)


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return builder.build_experiment(tmp_path_factory.mktemp("exp"), TENANTS)


@pytest.fixture(scope="module")
def first(params: Path) -> Run:
    return _run(params, params.parent.parent / "outputs" / "first")


@pytest.fixture(scope="module")
def second(params: Path) -> Run:
    return _run(params, params.parent.parent / "outputs" / "second")


def test_run_writes_report_manifest_model_card_and_notebooks(first: Run) -> None:
    for name in ("validation_report.json", "run_manifest.json", "model_card.html"):
        assert (first.out / name).is_file(), name
    for tenant in ("alpha", "beta", "gamma"):
        folder = first.out / "tenants" / tenant
        assert (folder / "validation.ipynb").is_file() and (folder / "validation.html").is_file()
    assert not (first.out / "tenants" / "baddata").exists()


def test_executed_notebooks_carry_parameters_and_scraps(first: Run, params: Path) -> None:
    nb = nbformat.read(first.out / "tenants" / "alpha" / "validation.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert f"experiment_config = {str(params)!r}" in injected[0].source.replace('"', "'")
    assert 'tenant = "alpha"' in injected[0].source
    scraps = read_scraps(first.out / "tenants" / "alpha" / "validation.ipynb")
    assert scraps["tenant"] == "alpha"
    assert scraps["metrics"]["holdout"] == {"r2": 0.91, "mape": 0.05, "nrmse": None}
    assert scraps["fit"]["seed"] == 7
    # the kernel ran with the runner's environment
    assert scraps["fit"]["omp_threads"] == "1" and scraps["fit"]["hash_seed"] == "0"
    assert scraps["fit"]["mpl_backend"].endswith("backend_inline")


def test_verdicts_and_gates(first: Run) -> None:
    report = first.report()
    tenants = report["tenants"]
    assert {t: s["verdict"] for t, s in tenants.items()} == {
        "alpha": "PASS", "beta": "NOT ASSESSABLE", "gamma": "FAIL", "baddata": "FAIL"}
    assert report["verdict"] == "FAIL"
    gates = {g["name"]: g for g in tenants["alpha"]["gates"]}
    assert gates["holdout_r2"]["value"] == 0.91 and gates["holdout_r2"]["passed"] is True
    assert gates["elasticity_median_error"]["value"] == pytest.approx(0.07)
    assert tenants["alpha"]["display_name"] == builder.DISPLAY_NAMES["alpha"]
    assert tenants["alpha"]["data"]["channels"] == ["tv", "search", "social"]
    assert tenants["alpha"]["model"]["beta"] == [0.123456789, 2.0]
    assert gates["beats_baselines"]["passed"] is True
    assert gates["beats_baselines"]["value"] == pytest.approx(1 - 0.05 / 0.08)
    assert tenants["alpha"]["fit"]["objective"] == 12.3456789


def test_failing_notebook_is_recorded_and_others_continue(first: Run) -> None:
    report = first.report()
    assert report["errors"][0] == {
        "tenant": "gamma", "notebook": "validation",
        "error": "ValueError: fixture failure for tenant gamma\nsecond line of the message"}
    assert report["errors"][1]["tenant"] == "baddata"
    assert report["errors"][1]["notebook"] is None
    assert "spend_tv" in report["errors"][1]["error"] and "line 3" in report["errors"][1]["error"]
    gamma = report["tenants"]["gamma"]
    assert gamma["status"] == "error"
    assert gamma["notebooks"]["validation"]["status"] == "error"
    assert gamma["notebooks"]["validation"]["html"] == "tenants/gamma/validation.html"
    partial = (first.out / gamma["notebooks"]["validation"]["html"]).read_text(encoding="utf-8")
    assert "fixture failure for tenant gamma" in partial
    assert "data:image/png;base64," in partial  # the plot made before the failure is kept
    assert report["tenants"]["beta"]["status"] == "ok"
    assert report["tenants"]["baddata"]["notebooks"]["validation"]["status"] == "skipped"


def test_progress_lines(first: Run) -> None:
    done = [line for line in first.progress if line.startswith("[")]
    notebooks = first.result.exp.notebooks
    total = 3 * len(notebooks)  # alpha, beta, gamma x every notebook (baddata: data error)
    assert len(done) == total
    pattern = re.compile(rf"^\[\d+/{total}\] (alpha|beta|gamma) · ({'|'.join(notebooks)}) · "
                         r"(ok|ERROR: .+) · \d+\.\d s$")
    assert all(pattern.match(line) for line in done), done
    gamma = next(line for line in done if " gamma · validation " in line)
    assert "ERROR: ValueError: fixture failure for tenant gamma ·" in gamma  # first line only
    assert any(line.startswith("data · baddata · ERROR: ") for line in first.progress)


def test_html_exports_are_offline_and_embed_the_plot(first: Run) -> None:
    for tenant in ("alpha", "beta", "gamma"):
        html = (first.out / "tenants" / tenant / "validation.html").read_text(encoding="utf-8")
        assert builder.remote_fetches(html) == [], tenant
        assert re.search(r'<img[^>]+src="data:image/png;base64,', html), tenant
        # each export links back to the run's index and model card, and the links resolve
        folder = first.out / "tenants" / tenant
        hrefs = re.findall(r'<a href="(\.\./\.\./[^"]+)"', html)
        assert hrefs == ["../../index.html", "../../model_card.html"], tenant
        assert all((folder / href).is_file() for href in hrefs), tenant
    card = (first.out / "model_card.html").read_text(encoding="utf-8")
    assert builder.remote_fetches(card) == []
    assert '<a href="tenants/alpha/validation.html">' in card
    assert "<script" not in card


def test_manifest_has_timings_versions_kernel_and_hashes(first: Run) -> None:
    manifest = json.loads((first.out / "run_manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == first.report()["run_id"]
    assert manifest["workers"] == 2
    assert manifest["kernel"]["name"] == "mmm-evidence"
    assert manifest["kernel"]["argv"][0] == sys.executable
    assert [(t["tenant"], t["notebook"], t["status"]) for t in manifest["tasks"]] == [
        (tenant, nb, "error" if (tenant, nb) == ("gamma", "validation") else "ok")
        for tenant in ("alpha", "beta", "gamma") for nb in first.result.exp.notebooks]
    assert {"validation", "baselines", "robustness", "importance"} <= set(
        first.result.exp.notebooks)
    assert all(t["seconds"] > 0 for t in manifest["tasks"])
    assert set(manifest["data_hashes"]) == {"alpha", "beta", "gamma"}
    assert manifest["started"] <= manifest["finished"]
    assert manifest["packages"]["papermill"]


def test_identical_rerun_gives_identical_report_bytes(first: Run, second: Run) -> None:
    assert first.out != second.out
    assert first.paths["validation_report"].read_bytes() == \
        second.paths["validation_report"].read_bytes()
    assert first.paths["model_card"].read_bytes() == second.paths["model_card"].read_bytes()
    assert first.paths["baseline_metrics"].read_bytes() == \
        second.paths["baseline_metrics"].read_bytes()
    for key in ("robustness_report", "robustness_log", "feature_importance"):
        assert first.paths[key].read_bytes() == second.paths[key].read_bytes(), key
    text = first.paths["validation_report"].read_text(encoding="utf-8")
    assert str(first.out) not in text and "started" not in text
    assert len(first.report()["run_id"]) == 12


def test_a_validation_notebook_that_glues_nothing_is_an_error(tmp_path: Path) -> None:
    """The scraps contract is checked where the notebook ran (one kernel, no pool)."""
    source = builder.NOTEBOOKS_DIR / "extra.ipynb"  # glues only "extra"
    task = NotebookTask(
        tenant="alpha", notebook="validation", source=source,
        ipynb=tmp_path / "validation.ipynb", html=tmp_path / "validation.html",
        parameters={"experiment_config": "", "tenant": "alpha", "output_dir": str(tmp_path),
                    "seed": 1},
        kernel_name="mmm-evidence", timeout_seconds=60, cwd=tmp_path)
    before = dict(os.environ)
    result = execute_notebook_task(task)
    assert dict(os.environ) == before  # the kernel environment does not leak into the caller
    assert result.status == "error"
    assert result.error.startswith("notebook did not glue: tenant, data_summary, metrics")
    assert result.scraps == {"extra": {"tenant": "alpha", "seed": 1}}
    assert result.ipynb_exists and result.html_exists


def _one_off_task(tmp_path: Path, notebook: str, parameters: str, code: str,
                  timeout_seconds: int = 60) -> NotebookTask:
    """A task of a two-cell notebook: a ``parameters`` cell and ``code``."""
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    source = tmp_path / f"{notebook}.ipynb"
    nbformat.write(new_notebook(
        cells=[params, new_code_cell(code)],
        metadata={"kernelspec": {"name": "mmm-evidence", "display_name": "x",
                                 "language": "python"}}), source)
    return NotebookTask(
        tenant="alpha", notebook=notebook, source=source,
        ipynb=tmp_path / "out.ipynb", html=tmp_path / "out.html",
        parameters={"tenant": "alpha", "seed": 1},
        kernel_name="mmm-evidence", timeout_seconds=timeout_seconds, cwd=tmp_path)


def test_a_notebook_that_computes_another_tenant_is_an_error(tmp_path: Path) -> None:
    """An analyst's edit can leave the parameters cell untagged or renamed: the notebook then
    computes (and glues) the tenant it names itself, not the task's."""
    task = _one_off_task(tmp_path, "extra", 'tenant_id = "beta"\nseed = 0',
                         "import scrapbook as sb\ntenant = tenant_id\nsb.glue('tenant', tenant)")
    result = execute_notebook_task(task)
    assert result.status == "error"
    assert "glued results for tenant 'beta', but it ran for 'alpha'" in result.error


def test_a_table_glued_by_an_analysts_notebook_is_read_as_data(tmp_path: Path) -> None:
    # scrapbook glues a DataFrame with its pandas encoder; the cache's json.dumps of it
    # stopped the whole run with a TypeError
    from mmm_evidence.pipeline.cache import TaskCache

    task = _one_off_task(tmp_path, "extra", 'tenant = "alpha"\nseed = 0',
                         "import pandas as pd\nimport scrapbook as sb\n"
                         "sb.glue('tenant', tenant)\n"
                         "sb.glue('table', pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']}))")
    result = execute_notebook_task(task)
    assert result.status == "ok", result.error
    assert result.scraps["table"] == {"columns": ["a", "b"], "index": [0, 1],
                                      "data": [[1, "x"], [2, "y"]]}
    assert TaskCache(tmp_path).store("k" * 64, result)


def test_a_cell_over_the_timeout_says_which_setting_to_raise(tmp_path: Path) -> None:
    task = _one_off_task(tmp_path, "slow", 'tenant = "alpha"\nseed = 0',
                         "import time\ntime.sleep(30)", timeout_seconds=3)
    result = execute_notebook_task(task)
    assert result.status == "error" and result.error.startswith("CellTimeoutError")
    assert "runner.timeout_seconds = 3: the longest any one cell" in result.error


def test_a_baselines_notebook_that_glues_nothing_is_an_error(tmp_path: Path) -> None:
    task = NotebookTask(
        tenant="alpha", notebook="baselines", source=builder.NOTEBOOKS_DIR / "extra.ipynb",
        ipynb=tmp_path / "baselines.ipynb", html=tmp_path / "baselines.html",
        parameters={"experiment_config": "", "tenant": "alpha", "output_dir": str(tmp_path),
                    "seed": 1},
        kernel_name="mmm-evidence", timeout_seconds=60, cwd=tmp_path)
    result = execute_notebook_task(task)
    assert result.status == "error"
    assert result.error == ("notebook did not glue: tenant, baselines, splits, metrics, skill, "
                            "elasticities")


def test_baseline_metrics_are_written_from_the_baselines_notebooks(first: Run) -> None:
    data = json.loads(first.paths["baseline_metrics"].read_text(encoding="utf-8"))
    assert data["artifact"] == "baseline_metrics" and data["run_id"] == first.report()["run_id"]
    alpha = data["tenants"]["alpha"]
    assert alpha["status"] == "ok" and alpha["gate"]["passed"] is True
    assert alpha["baselines"]["seasonal_naive"]["holdout"]["metrics"]["mape"] == 0.1
    assert data["tenants"]["baddata"]["status"] == "not run"
    card = first.paths["model_card"].read_text(encoding="utf-8")
    assert card.count("<h3>Baselines on the same splits</h3>") == 4


def test_a_robustness_notebook_that_glues_nothing_is_an_error(tmp_path: Path) -> None:
    task = NotebookTask(
        tenant="alpha", notebook="robustness", source=builder.NOTEBOOKS_DIR / "extra.ipynb",
        ipynb=tmp_path / "robustness.ipynb", html=tmp_path / "robustness.html",
        parameters={"experiment_config": "", "tenant": "alpha", "output_dir": str(tmp_path),
                    "seed": 1},
        kernel_name="mmm-evidence", timeout_seconds=60, cwd=tmp_path)
    result = execute_notebook_task(task)
    assert result.status == "error"
    assert result.error == ("notebook did not glue: tenant, checks, summary, "
                            "robustness_settings")


def test_robustness_report_and_log_are_written_from_the_robustness_notebooks(first: Run
                                                                            ) -> None:
    data = json.loads(first.paths["robustness_report"].read_text(encoding="utf-8"))
    assert data["artifact"] == "robustness_report" and data["run_id"] == first.report()["run_id"]
    alpha = data["tenants"]["alpha"]
    assert alpha["status"] == "ok" and alpha["summary"]["passed"] == 3
    assert alpha["gate"]["passed"] is True and alpha["checks"][1]["name"] == "placebo_channel"
    assert data["tenants"]["baddata"]["status"] == "not run"
    gates = {g["name"]: g for g in first.report()["tenants"]["alpha"]["gates"]}
    assert gates["robustness"]["passed"] is True and gates["robustness"]["value"] == 0
    log = first.paths["robustness_log"].read_text(encoding="utf-8")
    assert "alpha (" in log and ": 3/3 passed" in log and log.endswith("total: 9/9 passed over "
                                                                      "4 tenant(s)\n")
    card = first.paths["model_card"].read_text(encoding="utf-8")
    assert card.count("<h3>Robustness suite</h3>") == 4


def test_feature_importance_csv_is_written_from_the_importance_notebooks(first: Run) -> None:
    from mmm_evidence.pipeline.feature_importance import read_feature_importance_csv

    rows = read_feature_importance_csv(first.paths["feature_importance"])
    assert sorted({r["tenant"] for r in rows}) == ["alpha", "beta", "gamma"]
    assert [r["feature"] for r in rows if r["tenant"] == "alpha"] == [
        "search", "social", "tv", "trend", "segment_size"]
    gates = {t: {g["name"]: g for g in s["gates"]} for t, s in first.report()["tenants"].items()}
    assert gates["alpha"]["importance_agreement"]["passed"] is True
    assert gates["beta"]["importance_agreement"]["detail"] == "no ground truth for this tenant"
    assert gates["baddata"]["importance_agreement"]["passed"] is None


def test_fairness_report_is_written_from_the_fairness_notebooks(first: Run,
                                                                second: Run) -> None:
    data = json.loads(first.paths["fairness_report"].read_text(encoding="utf-8"))
    assert data["artifact"] == "fairness_report" and data["leak_scan"]["files"] > 0
    gates = {t: {g["name"]: g for g in s["gates"]} for t, s in data["tenants"].items()}
    assert all(g["passed"] is True for g in gates["alpha"].values())
    assert gates["beta"]["fairness_uplift_gap"]["detail"] == "no ground truth for this tenant"
    assert all(g["passed"] is None for g in gates["baddata"].values())
    assert data["tenants"]["alpha"]["privacy"]["leak_scan"] == {"findings": [], "note": None}
    report = {t: {g["name"]: g for g in s["gates"]} for t, s in first.report()["tenants"].items()}
    assert report["alpha"]["privacy_no_raw_rows"] == gates["alpha"]["privacy_no_raw_rows"]
    assert first.paths["fairness_report"].read_bytes() == \
        second.paths["fairness_report"].read_bytes()


def test_reviewer_exports_outputs_and_a_verifiable_bundle(first: Run, second: Run,
                                                          tmp_path: Path) -> None:
    from mmm_evidence.bundle import verify_bundle, write_bundle

    report = first.report()
    for tenant in ("alpha", "beta", "gamma"):
        entry = report["tenants"][tenant]["notebooks"]["validation"]
        assert entry["reviewer_html"] == f"tenants/{tenant}/validation.reviewer.html"
        html = (first.out / entry["reviewer_html"]).read_text(encoding="utf-8")
        body = html[html.index("<body"):]
        assert "jp-InputArea-editor" not in body and builder.remote_fetches(html) == []
        full = (first.out / entry["html"]).read_text(encoding="utf-8")
        assert "jp-InputArea-editor" in full[full.index("<body"):]  # the code: full only
    manifest = json.loads((first.out / "run_manifest.json").read_text(encoding="utf-8"))
    assert manifest["tasks"][0]["reviewer_html"] == "tenants/alpha/validation.reviewer.html"
    for name in ("model_card.md", "index.html", "defects.md", "SUMMARY.md"):
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes(), name
    bundle = write_bundle(first.out, tmp_path)
    assert verify_bundle(bundle.path).ok and bundle.payload_files >= 3 * 3 * 4


def test_source_date_epoch_fixes_the_recorded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmm_evidence.pipeline.runner import _now

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796083200")
    assert _now() == "2026-12-01T00:00:00+00:00"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "tomorrow")
    with pytest.raises(ValueError, match="SOURCE_DATE_EPOCH='tomorrow'"):
        _now()
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert _now().endswith("+00:00")
