"""fairness_report.json, the fairness and privacy gates in validation_report.json, and the
run's leak scan, built from a RunResult (no kernels; the fake run of test_artifacts)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

import mmm_evidence
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline.artifacts import (
    FAIRNESS_FILE,
    REPORT_FILE,
    build_fairness_report,
    build_validation_report,
    canonical_json,
    leak_findings,
)
from tests.pipeline.test_artifacts import fairness_scraps, fake_result

FAIRNESS_GATES = ["fairness_error_parity", "fairness_uplift_gap", "privacy_no_pii",
                  "privacy_k_anonymity", "privacy_no_raw_rows"]


def gates_of(section: dict) -> dict[str, dict]:
    return {g["name"]: g for g in section["gates"]}


def distinctive_csv(tmp_path: Path, tenant: str = "alpha") -> pd.DataFrame:
    """Replace ``tenant``'s input CSV by one whose rows hold distinctive numbers."""
    rng = np.random.default_rng(3)
    rows = 16
    frame = pd.DataFrame({
        "date": [f"2024-{1 + i // 8:02d}-{1 + i % 8:02d}" for i in range(rows)],
        "segment": ["north", "south"] * (rows // 2),
        "revenue": np.round(rng.uniform(100_000, 200_000, rows), 2),
        "spend_tv": np.round(rng.uniform(10_000, 20_000, rows), 2),
        "spend_search": np.round(rng.uniform(3_000, 9_000, rows), 2),
        "spend_social": np.round(rng.uniform(1_000, 2_000, rows), 2),
    })
    frame.to_csv(tmp_path / "params" / "tenants" / f"{tenant}.csv", index=False)
    return frame


def test_fairness_report_shape(tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out")
    data = build_fairness_report(result)
    assert {k: data[k] for k in ("schema_version", "artifact", "experiment", "run_id",
                                 "package_version", "git_commit")} == {
        "schema_version": 1, "artifact": "fairness_report", "experiment": "fixture_exp",
        "run_id": "abcdef012345", "package_version": mmm_evidence.__version__,
        "git_commit": None}
    assert data["tenant_order"] == ["alpha", "beta", "gamma", "baddata"]
    assert data["settings"]["privacy"]["k"] == 10
    assert data["settings"]["gates"]["segment"]["max_bias_gap"] > 0
    assert data["leak_scan"]["files"] > 0 and data["leak_scan"]["min_values"] == 3
    alpha = data["tenants"]["alpha"]
    assert alpha["status"] == "ok" and alpha["note"] is None
    assert [g["name"] for g in alpha["gates"]] == FAIRNESS_GATES
    assert all(g["passed"] is True for g in alpha["gates"])
    assert [(c["grouping"], c["metric"]) for c in alpha["parity"]] == [
        ("segment", "mape"), ("segment", "normalised_bias"), ("segment", "uplift_error")]
    assert alpha["fairness"]["tables"]["segment"]["south"]["normalised_bias"] == 0.01
    assert alpha["privacy"]["leak_scan"] == {"findings": [], "note": None}
    beta = gates_of(data["tenants"]["beta"])
    assert beta["fairness_uplift_gap"]["passed"] is None
    assert beta["fairness_error_parity"]["passed"] is True
    baddata = data["tenants"]["baddata"]
    assert baddata["status"] == "not run" and baddata["fairness"] is None
    assert "data errored" in baddata["note"]
    assert all(g["passed"] is None for g in baddata["gates"])
    assert str(tmp_path) not in canonical_json(data)


def test_fairness_gates_feed_the_validation_report(tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out", fairness={
        "alpha": ("ok", fairness_scraps("alpha", south_bias=0.5)),
        "beta": ("error", {}), "gamma": ("ok", fairness_scraps("gamma"))})
    report = build_validation_report(result)
    alpha = gates_of(report["tenants"]["alpha"])
    assert alpha["fairness_error_parity"]["passed"] is False
    assert "segment bias (south vs north)" in alpha["fairness_error_parity"]["detail"]
    assert report["tenants"]["alpha"]["verdict"] == "FAIL"
    beta = gates_of(report["tenants"]["beta"])
    assert beta["privacy_no_pii"]["passed"] is None
    assert beta["privacy_no_pii"]["detail"] == "the fairness notebook errored (see errors)"
    assert beta["privacy_no_raw_rows"]["passed"] is True  # the scan does not need the notebook
    report_again = build_fairness_report(result)
    assert report_again["tenants"]["beta"]["status"] == "error"
    assert report_again["tenants"]["beta"]["error"] == "RuntimeError: fairness failed in x"


def test_without_the_fairness_notebook_the_gates_are_null_and_no_file_is_left(
        tmp_path: Path) -> None:
    full = fake_result(tmp_path, tmp_path / "out")
    out = Path(full.output_dir)
    write_run_artifacts(full)
    assert (out / FAIRNESS_FILE).is_file()
    exp = full.exp.model_copy(update={"notebooks": [n for n in full.exp.notebooks
                                                    if n != "fairness"]})
    result = dataclasses.replace(full, exp=exp,
                                 tasks=[t for t in full.tasks if t.notebook != "fairness"])
    assert leak_findings(result) is None
    paths = write_run_artifacts(result)
    assert "fairness_report" not in paths and not (out / FAIRNESS_FILE).exists()
    report = json.loads((out / REPORT_FILE).read_text(encoding="utf-8"))
    alpha = gates_of(report["tenants"]["alpha"])
    for name in FAIRNESS_GATES:
        assert alpha[name]["passed"] is None, name
    assert alpha["privacy_no_pii"]["detail"] == (
        "the fairness notebook is not in this experiment's notebooks")
    assert "no leak scan" in alpha["privacy_no_raw_rows"]["detail"]


def test_the_leak_scan_finds_a_row_planted_in_a_notebook_export(tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out")
    frame = distinctive_csv(tmp_path)
    row = frame.iloc[5]
    html = Path(result.output_dir) / "tenants" / "alpha" / "robustness.html"
    html.write_text("<html><table><tr>" + "".join(
        f"<td>{row[c]}</td>" for c in frame.columns) + "</tr></table></html>")
    paths = write_run_artifacts(result)
    data = json.loads(paths["fairness_report"].read_text(encoding="utf-8"))
    findings = data["tenants"]["alpha"]["privacy"]["leak_scan"]["findings"]
    assert findings == [{"file": "tenants/alpha/robustness.html", "input": "alpha.csv",
                         "rows": 1, "lines": [7], "columns": [
                             "revenue", "spend_search", "spend_social", "spend_tv"],
                         "dumped_columns": []}]
    report = json.loads(paths["validation_report"].read_text(encoding="utf-8"))
    gate = gates_of(report["tenants"]["alpha"])["privacy_no_raw_rows"]
    assert gate["passed"] is False and "tenants/alpha/robustness.html" in gate["detail"]
    assert report["tenants"]["alpha"]["verdict"] == "FAIL"
    # no value of the row is repeated in the findings
    assert str(row["revenue"]) not in paths["fairness_report"].read_text(encoding="utf-8")
    assert gates_of(report["tenants"]["gamma"])["privacy_no_raw_rows"]["passed"] is True


def test_a_row_that_leaks_into_an_artifact_itself_is_found_by_the_second_scan(
        tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out")
    frame = distinctive_csv(tmp_path)
    row = {c: float(frame.iloc[2][c]) for c in ("revenue", "spend_tv", "spend_search")}
    task = result.task("alpha", "fairness")
    task.scraps["fairness"]["overall"] = {**task.scraps["fairness"]["overall"],
                                          "example_row": row}  # a notebook glued a raw row
    assert leak_findings(result)["tenants"]["alpha"] == []  # no notebook file shows it
    paths = write_run_artifacts(result)
    text = paths["fairness_report"].read_text(encoding="utf-8")
    data = json.loads(text)
    files = [f["file"] for f in data["tenants"]["alpha"]["privacy"]["leak_scan"]["findings"]]
    assert "fairness_report.json" in files and all(f["lines"] == [4] for f in
                                                   data["tenants"]["alpha"]["privacy"][
                                                       "leak_scan"]["findings"])
    report = json.loads(paths["validation_report"].read_text(encoding="utf-8"))
    assert gates_of(report["tenants"]["alpha"])["privacy_no_raw_rows"]["passed"] is False
    # the same inputs give the same bytes
    again = write_run_artifacts(result)
    assert again["fairness_report"].read_text(encoding="utf-8") == text
