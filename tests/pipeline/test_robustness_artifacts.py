"""robustness_report.json, robustness_suite.log and the robustness gate, built from a RunResult
(no kernels; the fake run of test_artifacts)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

import mmm_evidence
from mmm_evidence.config import GateSettings
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline.artifacts import (
    ROBUSTNESS_FILE,
    build_robustness_report,
    build_validation_report,
    canonical_json,
)
from mmm_evidence.pipeline.gates import evaluate_gates, robustness_gate
from mmm_evidence.report.model_card import render_model_card
from mmm_evidence.report.robustness_log import ROBUSTNESS_LOG_FILE, render_robustness_log
from tests.pipeline.test_artifacts import SCRAPS_ALPHA, fake_result, robustness_scraps


def gates_of(report: dict, tenant: str) -> dict[str, dict]:
    return {g["name"]: g for g in report["tenants"][tenant]["gates"]}


# --------------------------------------------------------------------------- the gate


def test_gate_value_is_the_number_of_failed_checks() -> None:
    gate = robustness_gate(robustness_scraps("a"))
    assert gate == {"name": "robustness", "threshold": 0, "value": 0, "passed": True,
                    "detail": "3/3 checks passed"}
    gate = robustness_gate(robustness_scraps("a", failed=("seeds", "extra_noise")))
    assert gate["value"] == 2 and gate["passed"] is False
    assert gate["detail"] == "1/3 checks passed; failed: extra_noise, seeds"


def test_gate_is_null_without_scraps_or_with_unassessable_checks() -> None:
    assert robustness_gate(None, "the robustness notebook errored")["passed"] is None
    assert robustness_gate(None, "why")["detail"] == "why"
    assert robustness_gate({"checks": []})["passed"] is None
    scraps = robustness_scraps("a")
    scraps["checks"][1]["passed"] = None
    gate = robustness_gate(scraps)
    assert gate["passed"] is None and gate["value"] == 0
    assert "not assessable: seeds" in gate["detail"]
    scraps["checks"][0]["passed"] = False  # a failure outweighs the unknown
    assert robustness_gate(scraps)["passed"] is False


def test_evaluate_gates_has_the_robustness_gate_after_beats_baselines() -> None:
    gates = evaluate_gates(SCRAPS_ALPHA, GateSettings(),
                           robustness=robustness_scraps("alpha", failed=("seeds",)))
    names = [g["name"] for g in gates]
    robustness = gates[names.index("robustness")]
    assert names.index("robustness") == names.index("beats_baselines") + 1
    assert robustness["passed"] is False
    gates = evaluate_gates(SCRAPS_ALPHA, GateSettings())
    assert next(g for g in gates if g["name"] == "robustness")["detail"] == \
        "the robustness notebook did not run"


# --------------------------------------------------------------------------- the report


def test_robustness_report_shape(tmp_path: Path) -> None:
    data = build_robustness_report(fake_result(tmp_path, tmp_path / "out"))
    assert {k: data[k] for k in ("schema_version", "artifact", "experiment", "run_id",
                                 "package_version", "git_commit", "seed")} == {
        "schema_version": 1, "artifact": "robustness_report", "experiment": "fixture_exp",
        "run_id": "abcdef012345", "package_version": mmm_evidence.__version__,
        "git_commit": None, "seed": 7}
    assert data["settings"]["thresholds"]["extra_noise"] > 0
    assert data["tenant_order"] == ["alpha", "beta", "gamma", "baddata"]
    assert data["totals"] == {"total": 9, "passed": 9, "failed": 0, "not_assessable": 0}
    alpha = data["tenants"]["alpha"]
    assert alpha["status"] == "ok" and alpha["error"] is None and alpha["note"] is None
    assert alpha["summary"] == {"total": 3, "passed": 3, "failed": 0, "not_assessable": 0}
    assert alpha["gate"]["passed"] is True
    assert [c["name"] for c in alpha["checks"]] == ["extra_noise", "seeds", "determinism"]
    assert alpha["thresholds"]["set"] == "geo"  # which thresholds judged the tenant
    assert set(alpha["checks"][0]) == {"name", "category", "description", "comparison",
                                       "threshold", "value", "passed", "detail", "data"}
    baddata = data["tenants"]["baddata"]
    assert baddata["status"] == "not run" and baddata["checks"] == []
    assert baddata["gate"]["passed"] is None and "data errored" in baddata["gate"]["detail"]


def test_a_failed_check_fails_the_gate_and_the_tenant(tmp_path: Path) -> None:
    runs = {t: ("ok", robustness_scraps(t, failed=("seeds",) if t == "alpha" else ()))
            for t in ("alpha", "beta", "gamma")}
    result = fake_result(tmp_path, tmp_path / "out", robustness=runs)
    report = build_validation_report(result)
    gate = gates_of(report, "alpha")["robustness"]
    assert gate["passed"] is False and gate["value"] == 1 and gate["threshold"] == 0
    assert report["tenants"]["alpha"]["verdict"] == "FAIL"
    data = build_robustness_report(result)
    assert data["totals"]["failed"] == 1
    assert data["tenants"]["alpha"]["gate"] == gate


def test_an_errored_or_missing_robustness_notebook_gives_a_null_gate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = fake_result(tmp_path, out, robustness={"alpha": ("error", {})})
    report = build_validation_report(result)
    alpha = gates_of(report, "alpha")["robustness"]
    assert alpha["passed"] is None and "errored" in alpha["detail"]
    assert report["tenants"]["alpha"]["verdict"] == "FAIL"  # a notebook errored
    beta = gates_of(report, "beta")["robustness"]
    assert beta["passed"] is None and beta["detail"] == "the robustness notebook did not run"
    data = build_robustness_report(result)
    assert data["tenants"]["alpha"]["status"] == "error"
    assert data["tenants"]["alpha"]["error"] == "RuntimeError: robustness failed in x"
    assert data["tenants"]["beta"]["status"] == "not run"
    assert str(out) not in canonical_json(data)


def test_without_the_robustness_notebook_no_file_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    full = fake_result(tmp_path, out)
    paths = write_run_artifacts(full)
    assert paths["robustness_report"] == out / ROBUSTNESS_FILE
    assert paths["robustness_log"] == out / ROBUSTNESS_LOG_FILE
    result = dataclasses.replace(
        full, exp=full.exp.model_copy(update={"notebooks": ["validation", "baselines"]}),
        tasks=[t for t in full.tasks if t.notebook != "robustness"])
    paths = write_run_artifacts(result)
    assert "robustness_report" not in paths
    assert not (out / ROBUSTNESS_FILE).exists() and not (out / ROBUSTNESS_LOG_FILE).exists()
    report = json.loads(paths["validation_report"].read_text(encoding="utf-8"))
    gate = gates_of(report, "alpha")["robustness"]
    assert gate["passed"] is None and "not in this experiment" in gate["detail"]


def test_report_and_log_bytes_are_reproducible(tmp_path: Path) -> None:
    first = write_run_artifacts(fake_result(tmp_path, tmp_path / "a"))
    second = write_run_artifacts(fake_result(tmp_path, tmp_path / "b"))
    for key in ("robustness_report", "robustness_log"):
        assert first[key].read_bytes() == second[key].read_bytes(), key
        assert str(tmp_path) not in first[key].read_text(encoding="utf-8")


def test_log_is_made_from_the_report(tmp_path: Path) -> None:
    runs = {"alpha": ("ok", robustness_scraps("alpha", failed=("extra_noise",))),
            "beta": ("ok", robustness_scraps("beta"))}
    data = build_robustness_report(fake_result(tmp_path, tmp_path / "out", robustness=runs))
    text = render_robustness_log(data)
    lines = text.splitlines()
    assert lines[0].startswith("robustness suite · experiment fixture_exp · run abcdef012345")
    assert "alpha (Alpha & Co <script>alert(\"x\")</script>): 2/3 passed, 1 failed" in text
    assert "beta (Beta Brands): 3/3 passed" in lines
    assert lines[lines.index("beta (Beta Brands): 3/3 passed") + 1] == \
        "  judged by the geo thresholds (8 segments: more than 5), calibrated on geo tenants"
    row = next(line for line in lines if "extra_noise" in line and "alpha" not in line)
    assert row.split()[:4] == ["FAIL", "perturbation", "extra_noise", "0.5"]
    assert "<= 0.1" in row and row.endswith("extra_noise measured")
    assert sum(line.startswith("  PASS ") for line in lines) == 5
    assert "gamma (gamma): no checks — the robustness notebook did not run" in lines
    assert lines[-1] == "total: 5/6 passed, 1 failed over 4 tenant(s)"
    assert text.endswith("\n") and "\r" not in text
    # a value its check did not judge says so where the threshold would stand
    data["tenants"]["beta"]["checks"][0].update(value=0.45, judged=False)
    row = next(line for line in render_robustness_log(data).splitlines()
               if "beta" not in line and "0.45" in line)
    assert row.split()[0] == "PASS" and "not judged" in row and "<=" not in row


def test_model_card_shows_a_robustness_summary(tmp_path: Path) -> None:
    runs = {"alpha": ("ok", robustness_scraps("alpha", failed=("seeds",))),
            "beta": ("ok", robustness_scraps("beta"))}
    result = fake_result(tmp_path, tmp_path / "out", robustness=runs)
    html = render_model_card(build_validation_report(result),
                             robustness_report=build_robustness_report(result))
    alpha = html[html.index('id="tenant-alpha"'):html.index('id="tenant-beta"')]
    beta = html[html.index('id="tenant-beta"'):html.index('id="tenant-gamma"')]
    assert "<h3>Robustness suite</h3>" in alpha
    assert "2/3 checks passed, 1 failed, 0 not assessable" in alpha
    assert "Judged by the geo thresholds (8 segments: more than 5)" in alpha
    assert "<code>seeds</code>" in alpha and "seeds measured" in alpha  # the failed check
    # per category, failed and not-assessable checks in columns of their own
    assert "<th>failed</th><th>not assessable</th>" in alpha
    assert re.search(r"<td>seeds</td><td>–</td></tr>", alpha)
    assert "3/3 checks passed" in beta and "<code>seeds</code>" not in beta
    assert "leakage &amp; determinism" in beta
    gamma = html[html.index('id="tenant-gamma"'):html.index('id="tenant-baddata"')]
    assert "No robustness checks: the robustness notebook did not run." in gamma
    assert "Robustness suite" not in render_model_card(build_validation_report(result))


@pytest.mark.parametrize("value", [None, float("nan"), "x"])
def test_log_formats_missing_values_as_a_dash(value) -> None:
    from mmm_evidence.report.robustness_log import format_value

    assert format_value(value) == ("x" if value == "x" else "-")
    assert format_value(0.000123456) == "0.0001235" and format_value(3) == "3"
