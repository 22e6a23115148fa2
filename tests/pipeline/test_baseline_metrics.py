"""baseline_metrics.json and the beats_baselines gate, built from a RunResult (no kernels)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import mmm_evidence
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline.artifacts import (
    BASELINES_FILE,
    build_baseline_metrics,
    build_validation_report,
    canonical_json,
)
from mmm_evidence.report.model_card import render_model_card
from tests.pipeline.test_artifacts import baseline_scraps, fake_result


def gates_of(report: dict, tenant: str) -> dict[str, dict]:
    return {g["name"]: g for g in report["tenants"][tenant]["gates"]}


def test_baseline_metrics_shape(tmp_path: Path) -> None:
    data = build_baseline_metrics(fake_result(tmp_path, tmp_path / "out"))
    assert {k: data[k] for k in ("schema_version", "artifact", "experiment", "run_id",
                                 "package_version", "git_commit")} == {
        "schema_version": 1, "artifact": "baseline_metrics", "experiment": "fixture_exp",
        "run_id": "abcdef012345", "package_version": mmm_evidence.__version__,
        "git_commit": None}
    assert data["gate_settings"] == {"baselines": ["seasonal_naive", "no_media", "linear"],
                                     "metric": "mape", "min_skill": 0.0,
                                     "cross_validation": True}
    assert data["tenant_order"] == ["alpha", "beta", "gamma", "baddata"]
    alpha = data["tenants"]["alpha"]
    assert alpha["status"] == "ok" and alpha["error"] is None
    # per baseline, per split, the metrics and the MMM's skill; the MMM beside them
    assert set(alpha["baselines"]) == {"naive", "seasonal_naive", "no_media", "linear",
                                       "lightgbm"}
    assert set(alpha["baselines"]["linear"]) == {"holdout", "fold1", "cv_mean"}
    assert alpha["baselines"]["linear"]["holdout"]["metrics"]["mape"] == 0.08
    assert alpha["baselines"]["linear"]["holdout"]["skill"]["mape"] == 0.375
    assert alpha["mmm"]["holdout"]["mape"] == 0.05
    assert [s["name"] for s in alpha["splits"]] == ["holdout", "fold1"]
    assert alpha["elasticities"]["channels"]["tv"]["estimates"]["linear"] == 0.05
    assert alpha["gate"]["name"] == "beats_baselines" and alpha["gate"]["passed"] is True
    baddata = data["tenants"]["baddata"]
    assert baddata["status"] == "not run" and "baselines" not in baddata
    assert baddata["gate"]["passed"] is None and "data errored" in baddata["gate"]["detail"]


def test_the_gate_is_in_the_validation_report(tmp_path: Path) -> None:
    report = build_validation_report(fake_result(tmp_path, tmp_path / "out"))
    gate = gates_of(report, "alpha")["beats_baselines"]
    assert gate["passed"] is True and gate["value"] == 0.375 and gate["threshold"] == 0.0
    assert gate["detail"] == (
        "holdout MAPE: MMM 5.00 %; seasonal_naive 10.00 % (skill 0.500); no_media 9.00 % "
        "(skill 0.444); linear 8.00 % (skill 0.375). CV mean (1 fold) MAPE: MMM 5.00 %; "
        "seasonal_naive 10.00 % (skill 0.500); no_media 9.00 % (skill 0.444); linear 8.00 % "
        "(skill 0.375)")
    assert gates_of(report, "baddata")["beats_baselines"]["passed"] is None


def test_the_mmm_losing_to_a_listed_baseline_fails_the_tenant(tmp_path: Path) -> None:
    runs = {"alpha": ("ok", baseline_scraps("alpha", mmm_mape=0.09))}
    report = build_validation_report(fake_result(tmp_path, tmp_path / "out", runs))
    gate = gates_of(report, "alpha")["beats_baselines"]
    assert gate["passed"] is False and "linear 8.00 % (skill -0.125, not beaten)" in gate["detail"]
    assert report["tenants"]["alpha"]["verdict"] == "FAIL"


def test_an_errored_or_missing_baselines_notebook_gives_a_null_gate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = fake_result(tmp_path, out, {"alpha": ("error", {}), "beta": ("ok", {})})
    report = build_validation_report(result)
    alpha = gates_of(report, "alpha")["beats_baselines"]
    assert alpha["passed"] is None and "errored" in alpha["detail"]
    assert report["tenants"]["alpha"]["verdict"] == "FAIL"  # a notebook errored
    assert {"tenant": "alpha", "notebook": "baselines",
            "error": "RuntimeError: baselines failed in x"} in report["errors"]
    beta = gates_of(report, "beta")["beats_baselines"]  # ran, but glued no metrics
    assert beta["passed"] is None and "no MMM holdout mape" in beta["detail"]
    gamma = gates_of(report, "gamma")["beats_baselines"]  # never ran
    assert gamma["passed"] is None and gamma["detail"] == "the baselines notebook did not run"
    data = build_baseline_metrics(result)
    assert data["tenants"]["alpha"]["status"] == "error"
    assert data["tenants"]["alpha"]["error"] == "RuntimeError: baselines failed in x"
    assert data["tenants"]["gamma"]["status"] == "not run"
    assert str(out) not in canonical_json(data)


def test_without_the_baselines_notebook_the_gate_is_null_and_no_file_is_written(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    full = fake_result(tmp_path, out)
    write_run_artifacts(full)
    assert (out / BASELINES_FILE).is_file()
    result = dataclasses.replace(
        full, exp=full.exp.model_copy(update={"notebooks": ["validation"]}),
        tasks=[t for t in full.tasks if t.notebook == "validation"])
    paths = write_run_artifacts(result)
    assert "baseline_metrics" not in paths and not (out / BASELINES_FILE).exists()  # stale: gone
    report = json.loads(paths["validation_report"].read_text(encoding="utf-8"))
    gate = gates_of(report, "alpha")["beats_baselines"]
    assert gate["passed"] is None and "not in this experiment" in gate["detail"]
    assert report["tenants"]["alpha"]["verdict"] == "NOT ASSESSABLE"


def test_baseline_metrics_bytes_are_reproducible(tmp_path: Path) -> None:
    first = write_run_artifacts(fake_result(tmp_path, tmp_path / "a"))["baseline_metrics"]
    second = write_run_artifacts(fake_result(tmp_path, tmp_path / "b"))["baseline_metrics"]
    assert first.name == "baseline_metrics.json"
    assert first.read_bytes() == second.read_bytes()
    assert str(tmp_path) not in first.read_text(encoding="utf-8")


def test_model_card_shows_the_baseline_comparison(tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out")
    html = render_model_card(build_validation_report(result), build_baseline_metrics(result))
    alpha = html[html.index('id="tenant-alpha"'):html.index('id="tenant-beta"')]
    assert "<h3>Baselines on the same splits</h3>" in alpha
    assert ('<td>linear (OLS)</td><td class="num">0.500</td><td class="num">8.0 %</td>'
            in alpha)
    assert '<td class="num">0.375</td>' in alpha  # the MMM's holdout skill against linear
    assert "<code>beats_baselines</code>" in alpha  # the gate row of the gate table
    assert "median rel. error" in alpha
    baddata = html[html.index('id="tenant-baddata"'):]
    assert "No baseline comparison: the tenant&#x27;s data errored" in baddata
    assert "Baselines on the same splits" not in render_model_card(
        build_validation_report(result))
