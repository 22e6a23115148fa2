"""Canonical JSON, run id, and the report/manifest built from a RunResult (no kernels)."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import mmm_evidence
from mmm_evidence.config import load_experiment
from mmm_evidence.evidence import write_run_artifacts
from mmm_evidence.pipeline.artifacts import (
    build_run_manifest,
    build_validation_report,
    canonical,
    canonical_json,
    compute_run_id,
    write_canonical_json,
)
from mmm_evidence.pipeline.runner import RunResult, TaskResult
from tests.fixtures.pipeline import experiment as builder

# --------------------------------------------------------------------------- canonical JSON


def test_canonical_json_sorts_keys_indents_and_ends_with_newline() -> None:
    text = canonical_json({"b": 1, "a": {"d": 2, "c": 3}})
    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


def test_canonical_json_is_independent_of_insertion_order() -> None:
    one = {"x": [1, 2], "y": {"p": 0.1, "q": 0.2}}
    two = {"y": {"q": 0.2, "p": 0.1}, "x": [1, 2]}
    assert canonical_json(one) == canonical_json(two)


def test_canonical_floats_are_rounded_and_non_finite_become_null() -> None:
    data = canonical({"a": 0.1 + 0.2, "b": 1 / 3, "nan": float("nan"), "inf": math.inf,
                      "ninf": -math.inf, "neg0": -0.0, "tiny": 1.23456789012345e-9,
                      "big": 123456789012.3456})
    assert data["a"] == 0.3
    assert data["b"] == 0.3333333333
    assert data["nan"] is None and data["inf"] is None and data["ninf"] is None
    assert data["neg0"] == 0.0 and math.copysign(1, data["neg0"]) == 1.0
    assert data["tiny"] == 1.23456789e-9  # significant digits, not decimals
    assert data["big"] == 123456789000.0
    assert '"neg0": 0.0' in canonical_json({"neg0": -0.0})


def test_canonical_converts_numpy_paths_tuples_and_keeps_bools() -> None:
    data = canonical({"f": np.float64(0.5), "i": np.int64(3), "b": np.bool_(True),
                      "arr": np.array([[1.0, np.nan], [2.0, 3.0]]), "t": (1, 2),
                      "p": Path("a") / "b.html", "flag": False, 4: "int key"})
    assert data == {"f": 0.5, "i": 3, "b": True, "arr": [[1.0, None], [2.0, 3.0]],
                    "t": [1, 2], "p": "a/b.html", "flag": False, "4": "int key"}
    assert type(data["i"]) is int and type(data["b"]) is bool
    json.dumps(data, allow_nan=False)


def test_canonical_rejects_unknown_objects() -> None:
    with pytest.raises(TypeError, match="cannot serialise object"):
        canonical({"x": object()})


def test_write_canonical_json_gives_identical_bytes(tmp_path: Path) -> None:
    a = write_canonical_json({"v": 1 / 7, "s": "é"}, tmp_path / "a.json")
    b = write_canonical_json({"s": "é", "v": 1 / 7}, tmp_path / "sub" / "b.json")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes().endswith(b"}\n") and b"\r" not in a.read_bytes()
    assert "é" in a.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- run id


def test_run_id_is_stable_and_sensitive_to_every_input() -> None:
    data = {"alpha": {"/x/alpha.csv": "aa"}, "beta": {"/x/beta.csv": "bb"}}
    nbs = {"validation": b"{}"}
    base = compute_run_id("p", data, nbs, "0.1.0")
    assert len(base) == 12 and int(base, 16) >= 0
    assert compute_run_id("p", dict(reversed(data.items())), nbs, "0.1.0") == base
    # the same files somewhere else: same id
    moved = {"alpha": {"/elsewhere/alpha.csv": "aa"}, "beta": {"/y/beta.csv": "bb"}}
    assert compute_run_id("p", moved, nbs, "0.1.0") == base
    assert compute_run_id("q", data, nbs, "0.1.0") != base
    assert compute_run_id("p", {**data, "beta": {"/x/beta.csv": "bc"}}, nbs, "0.1.0") != base
    assert compute_run_id("p", data, {"validation": b"{ }"}, "0.1.0") != base
    assert compute_run_id("p", data, nbs, "0.1.1") != base
    # the git commit the artifacts carry: one id, one set of bytes
    with_commit = compute_run_id("p", data, nbs, "0.1.0", "f69a364")
    assert with_commit != base and with_commit != compute_run_id("p", data, nbs, "0.1.0", "ab")
    # and the environment the notebooks ran in (another numpy can give other bytes)
    env = {"libraries": {"numpy": "2.1"}, "kernel_spec_env": {}}
    with_env = compute_run_id("p", data, nbs, "0.1.0", "f69a364", env)
    assert with_env != with_commit
    assert with_env != compute_run_id("p", data, nbs, "0.1.0", "f69a364",
                                      {**env, "libraries": {"numpy": "2.2"}})


# --------------------------------------------------------------------------- report


SCRAPS_ALPHA = {
    "tenant": "alpha",
    "data_summary": {"weeks": 8, "train_weeks": 4, "holdout_weeks": 4, "segments": 2,
                     "channels": ["tv", "search", "social"], "controls": [],
                     "start": "2024-01-01", "end": "2024-02-19"},
    "metrics": {"holdout": {"r2": 0.91, "mape": 0.05, "nrmse": None},
                "in_sample": {"r2": 0.95, "mape": 0.03, "nrmse": 0.04}},
    "elasticities": {"tv": 0.11, "search": 0.052, "social": 0.0},
    "contribution_shares": {"tv": 0.21, "search": 0.07, "social": 0.0},
    "roi": {"tv": 1.4, "search": 2.7, "social": 0.0},
    "uncertainty": {"elasticity": {"tv": {"low": 0.09, "high": 0.13},
                                   "search": {"low": 0.04, "high": 0.06}}},
    "truth": {"elasticity": {"tv": 0.1, "search": 0.05, "social": 0.004},
              "contribution_share": {"tv": 0.2, "search": 0.08, "social": 0.01},
              "roi": {"tv": 1.5, "search": 2.5, "social": 0.4}},
    "model": {"beta": [0.123456789012345]},
    "fit": {"objective": 1.0},
}


def baseline_scraps(tenant: str, mmm_mape: float = 0.05) -> dict:
    """What the baselines notebook glues, with the MMM's holdout MAPE ``mmm_mape``."""
    mape = {"mmm": mmm_mape, "naive": 0.2, "seasonal_naive": 0.1, "no_media": 0.09,
            "linear": 0.08, "lightgbm": 0.04}
    metrics = {m: {s: {"r2": 0.5, "mape": v, "nrmse": 2 * v, "rmse": 100 * v}
                   for s in ("holdout", "fold1", "cv_mean")} for m, v in mape.items()}
    baselines = ["naive", "seasonal_naive", "no_media", "linear", "lightgbm"]
    return {
        "tenant": tenant, "baselines": baselines,
        "splits": [{"name": "holdout", "train_weeks": 4, "test_start": 4, "test_end": 8},
                   {"name": "fold1", "train_weeks": 6, "test_start": 6, "test_end": 8}],
        "metrics": metrics,
        "skill": {b: {s: {"mape": 1 - mmm_mape / mape[b], "nrmse": 1 - mmm_mape / mape[b]}
                      for s in ("holdout", "fold1", "cv_mean")} for b in baselines},
        "elasticities": {"channels": {"tv": {"truth": 0.1, "true_share": 0.2, "counted": True,
                                             "estimates": {"mmm": 0.11, "linear": 0.05,
                                                           "lightgbm": 0.0},
                                             "relative_errors": {"mmm": 0.1, "linear": 0.5,
                                                                 "lightgbm": 1.0}}},
                         "median_relative_error": {"mmm": 0.1, "linear": 0.5, "lightgbm": 1.0},
                         "min_true_share": 0.02, "has_truth": True},
        "baseline_settings": {"season_weeks": 52, "notes": []},
    }


def robustness_scraps(tenant: str, failed: tuple[str, ...] = ()) -> dict:
    """What the robustness notebook glues: three checks, those in ``failed`` failing."""
    checks = [{"name": name, "category": category, "description": f"{name} check",
               "comparison": "<=", "threshold": 0.1, "value": 0.5 if name in failed else 0.01,
               "passed": name not in failed, "detail": f"{name} measured", "data": {}}
              for name, category in (("extra_noise", "perturbation"), ("seeds", "stability"),
                                     ("determinism", "leakage_determinism"))]
    return {"tenant": tenant, "checks": checks,
            "summary": {"total": 3, "passed": 3 - len(failed), "failed": len(failed),
                        "not_assessable": 0},
            "thresholds": {"set": "geo", "segments": 8,
                           "note": "geo thresholds (8 segments: more than 5), calibrated on "
                                   "geo tenants"},
            "robustness_settings": {"seed": 7, "min_share": 0.02},
            "reference": {"elasticities": {"tv": 0.1}, "contribution_shares": {"tv": 0.2}}}


def importance_scraps(tenant: str, truth: bool = True, reverse: bool = False) -> dict:
    """What the importance notebook glues: three channels and one calendar feature; the MMM's
    shares rank the channels as the truth does (``reverse``: in reverse order)."""
    shares = {"tv": 0.2, "search": 0.07, "social": 0.01}
    mmm = dict(zip(shares, reversed(shares.values()), strict=True)) if reverse else shares
    rho = (-1.0 if reverse else 1.0) if truth else None
    ranks = {"tv": 1, "search": 2, "social": 3}
    rows = [{"tenant": tenant, "feature": c, "kind": "channel", "mean_abs_shap": 100.0 / r,
             "shap_rank_all": r + 1, "shap_rank": r, "mmm_mean_abs_shap": 90.0 / r,
             "mmm_shap_rank": r, "mmm_share": mmm[c], "mmm_rank": 4 - r if reverse else r,
             "true_share": shares[c] if truth else None, "true_rank": r if truth else None,
             "n_channels": 3, "spearman_lightgbm_mmm": 1.0, "spearman_mmm_truth": rho,
             "spearman_lightgbm_truth": rho} for c, r in ranks.items()]
    rows.append({**{k: None for k in rows[0]}, "tenant": tenant, "feature": "trend",
                 "kind": "calendar", "mean_abs_shap": 150.0, "shap_rank_all": 1,
                 "n_channels": 3, "spearman_lightgbm_mmm": 1.0, "spearman_mmm_truth": rho,
                 "spearman_lightgbm_truth": rho})
    return {"tenant": tenant, "importance": rows,
            "agreement": {"lightgbm_mmm": 1.0, "mmm_truth": rho, "lightgbm_truth": rho,
                          "n_channels": 3, "min_channels": 3, "has_truth": truth},
            "surrogate": {"model": "lightgbm", "surrogate_r2": 0.9}, "summary": "text"}


def fairness_scraps(tenant: str, truth: bool = True, south_bias: float = 0.01) -> dict:
    """What the fairness notebook glues: two segments (north, south), no PII, every cell above
    k; ``south_bias`` is south's normalised bias (0.3 fails error parity)."""
    def gap(kind: str, hi: float, lo: float, hi_group: str, lo_group: str) -> dict:
        return {"kind": kind, "groups": 2, "max": hi, "min": lo, "max_group": hi_group,
                "min_group": lo_group, "difference": hi - lo, "ratio": None,
                "gap": hi / lo - 1 if kind == "relative" else hi - lo}

    row = {"r2": 0.8, "mape": 0.05, "bias": 10.0, "normalised_bias": 0.01, "segments": 1,
           "weeks": 4, "suppressed": False}
    gaps = {"segment": {"mape": gap("relative", 0.06, 0.05, "north", "south"),
                        "normalised_bias": gap("difference", south_bias, -0.01, "south",
                                               "north")}}
    if truth:
        gaps["segment"]["uplift_error"] = gap("difference", 0.05, -0.02, "north", "south")
    return {"tenant": tenant, "fairness": {
        "holdout_weeks": 4, "uplift_factor": 1.1, "groupings": ["segment"],
        "skipped": {"region": "the tenant has no segment attribute table"},
        "overall": {"r2": 0.8, "mape": 0.05, "bias": 10.0, "normalised_bias": 0.01},
        "tables": {"segment": {"north": row, "south": {**row, "normalised_bias": south_bias}}},
        "gaps": gaps, "has_uplift_truth": truth,
        "uplift_note": None if truth else "no ground truth for this tenant",
        "suppressed": {"segment": 0}, "k": 10, "suppression_note": None},
        "privacy": {"files": [f"{tenant}.csv"], "pii": [], "pii_columns": [],
                    "k_anonymity": {"k": 10, "source": "column 'population' of segments.csv",
                                    "note": None, "cells": 16, "cells_below_k": 0,
                                    "min_count": 5000.0, "segments_below_k": [],
                                    "passed": True}}}


def fake_result(tmp_path: Path, output_dir: Path, baselines: dict | None = None,
                robustness: dict | None = None, importance: dict | None = None,
                fairness: dict | None = None) -> RunResult:
    """alpha, beta (no truth) and gamma (validation errored) ran every notebook; baddata's data
    errored. ``baselines`` replaces the baselines tasks: {tenant: (status, scraps)};
    ``robustness``, ``importance`` and ``fairness`` their tasks likewise."""
    params = builder.build_experiment(tmp_path, ["alpha", "beta", "gamma", "baddata"])
    exp = load_experiment(params)
    folder = output_dir / "tenants"
    tasks = [
        TaskResult("alpha", "validation", folder / "alpha/validation.ipynb",
                   folder / "alpha/validation.html", "ok", None, 3.2, 2.0, SCRAPS_ALPHA),
        TaskResult("beta", "validation", folder / "beta/validation.ipynb",
                   folder / "beta/validation.html", "ok", None, 3.1, 2.0,
                   {**SCRAPS_ALPHA, "tenant": "beta", "truth": {}}),
        TaskResult("gamma", "validation", folder / "gamma/validation.ipynb",
                   folder / "gamma/validation.html", "error",
                   f"ValueError: cannot read {output_dir}/data/gamma/x.csv", 1.0, 1.0, {}),
    ]
    if baselines is None:
        baselines = {t: ("ok", baseline_scraps(t)) for t in ("alpha", "beta", "gamma")}
    for tenant, (status, scraps) in baselines.items():
        tasks.append(TaskResult(
            tenant, "baselines", folder / f"{tenant}/baselines.ipynb",
            folder / f"{tenant}/baselines.html", status,
            None if status == "ok" else f"RuntimeError: baselines failed in {output_dir}/x",
            2.0, 1.5, scraps))
    if robustness is None:
        robustness = {t: ("ok", robustness_scraps(t)) for t in ("alpha", "beta", "gamma")}
    for tenant, (status, scraps) in robustness.items():
        tasks.append(TaskResult(
            tenant, "robustness", folder / f"{tenant}/robustness.ipynb",
            folder / f"{tenant}/robustness.html", status,
            None if status == "ok" else f"RuntimeError: robustness failed in {output_dir}/x",
            4.0, 3.5, scraps))
    if importance is None:
        importance = {t: ("ok", importance_scraps(t, truth=t != "beta"))
                      for t in ("alpha", "beta", "gamma")}
    for tenant, (status, scraps) in importance.items():
        tasks.append(TaskResult(
            tenant, "importance", folder / f"{tenant}/importance.ipynb",
            folder / f"{tenant}/importance.html", status,
            None if status == "ok" else f"RuntimeError: importance failed in {output_dir}/x",
            5.0, 4.5, scraps))
    if fairness is None:
        fairness = {t: ("ok", fairness_scraps(t, truth=t != "beta"))
                    for t in ("alpha", "beta", "gamma")}
    for tenant, (status, scraps) in fairness.items():
        tasks.append(TaskResult(
            tenant, "fairness", folder / f"{tenant}/fairness.ipynb",
            folder / f"{tenant}/fairness.html", status,
            None if status == "ok" else f"RuntimeError: fairness failed in {output_dir}/x",
            3.0, 2.5, scraps))
    for t in tasks:
        t.ipynb.parent.mkdir(parents=True, exist_ok=True)
        t.ipynb.write_text("{}")
        t.html.write_text("<html></html>")
    return RunResult(
        exp=exp, output_dir=output_dir, run_id="abcdef012345", git_commit=None,
        kernel={"name": "mmm-evidence", "argv": ["python"]}, workers=2,
        started="2024-01-01T00:00:00+00:00", finished="2024-01-01T00:00:09+00:00", seconds=9.0,
        data_hashes={t: {f"{tmp_path}/params/tenants/{t}.csv": "00"} for t in
                     ("alpha", "beta", "gamma")},
        data_errors={"baddata": "baddata.csv: column 'spend_tv': expected spend >= 0"},
        data_seconds={"alpha": 0.1},
        notebook_bytes={"validation": b"{}", "baselines": b"{}", "robustness": b"{}",
                        "importance": b"{}", "fairness": b"{}"},
        tasks=tasks)


def test_validation_report_shape_and_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = build_validation_report(fake_result(tmp_path, out))
    assert report["schema_version"] == 1 and report["artifact"] == "validation_report"
    assert report["experiment"] == "fixture_exp" and report["run_id"] == "abcdef012345"
    assert report["package_version"] == mmm_evidence.__version__
    assert report["git_commit"] is None
    assert report["verdict"] == "FAIL"
    assert report["tenant_order"] == ["alpha", "beta", "gamma", "baddata"]
    verdicts = {name: t["verdict"] for name, t in report["tenants"].items()}
    assert verdicts == {"alpha": "PASS", "beta": "NOT ASSESSABLE", "gamma": "FAIL",
                        "baddata": "FAIL"}
    # 4 tenants x 14 gates: alpha passes all 14; beta (no truth) passes R², identification,
    # beats_baselines, robustness and 4 fairness/privacy gates (not the uplift gap);
    # gamma (validation errored) beats_baselines, robustness, importance and the 5 fairness
    assert report["gate_counts"] == {"total": 56, "passed": 30, "failed": 0,
                                     "not_assessable": 26}
    alpha = report["tenants"]["alpha"]
    assert alpha["display_name"] == builder.DISPLAY_NAMES["alpha"]
    assert alpha["status"] == "ok" and alpha["data_error"] is None
    assert alpha["metrics"]["holdout"]["r2"] == 0.91
    assert alpha["model"] == {"beta": [0.123456789]}
    assert alpha["elasticities"]["tv"]["counted"] is True
    assert [g["name"] for g in alpha["gates"]] == [
        "holdout_r2", "elasticity_median_error", "elasticity_no_missed_channel",
        "elasticity_no_phantom_channel", "roi_median_error", "elasticity_identified",
        "beats_baselines",
        "robustness", "importance_agreement", "fairness_error_parity", "fairness_uplift_gap",
        "privacy_no_pii", "privacy_k_anonymity", "privacy_no_raw_rows"]
    assert alpha["identification"]["tv"]["identified"] is True
    # tv: elasticity 0.11 over share 0.21; search 0.052 / 0.07; social's share 0: not judged
    assert alpha["flat_responses"] == {
        "tv": {"contribution_slope": pytest.approx(0.11 / 0.21), "flat": False},
        "search": {"contribution_slope": pytest.approx(0.052 / 0.07), "flat": False}}
    assert alpha["notebooks"]["validation"] == {
        "status": "ok", "ipynb": "tenants/alpha/validation.ipynb",
        "html": "tenants/alpha/validation.html", "reviewer_html": None, "error": None}
    assert report["tenants"]["baddata"]["notebooks"]["validation"]["status"] == "skipped"
    assert report["tenants"]["baddata"]["status"] == "error"
    # gamma's validation notebook errored: its gates say so (not "no holdout R² reported",
    # "no ground truth" or "bootstrap off")
    gamma = {g["name"]: g for g in report["tenants"]["gamma"]["gates"]}
    assert {gamma[n]["detail"] for n in ("holdout_r2", "elasticity_median_error",
                                         "roi_median_error", "elasticity_identified")} == {
        "the validation notebook errored (see errors)"}


def test_report_errors_name_tenant_notebook_and_hide_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = build_validation_report(fake_result(tmp_path, out))
    assert report["errors"] == [
        {"tenant": "gamma", "notebook": "validation",
         "error": "ValueError: cannot read data/gamma/x.csv"},
        {"tenant": "baddata", "notebook": None,
         "error": "data: baddata.csv: column 'spend_tv': expected spend >= 0"},
    ]
    assert str(out) not in canonical_json(report)


def test_report_has_no_wall_clock_and_manifest_has_it(tmp_path: Path) -> None:
    result = fake_result(tmp_path, tmp_path / "out")
    report_text = canonical_json(build_validation_report(result))
    for key in ("started", "finished", "seconds", "2024-01-01T00"):
        assert key not in report_text
    manifest = build_run_manifest(result)
    assert manifest["run_id"] == "abcdef012345"
    assert manifest["started"].startswith("2024-01-01T00:00:00")
    assert [t["seconds"] for t in manifest["tasks"]] == [3.2, 3.1, 1.0, 2.0, 2.0, 2.0, 4.0,
                                                         4.0, 4.0, 5.0, 5.0, 5.0, 3.0, 3.0,
                                                         3.0]
    assert manifest["tasks"][2] == {
        "tenant": "gamma", "notebook": "validation", "status": "error", "seconds": 1.0,
        "execute_seconds": 1.0, "error": result.tasks[2].error,
        "ipynb": "tenants/gamma/validation.ipynb", "html": "tenants/gamma/validation.html",
        "reviewer_html": None, "cached": False, "cache_key": None, "cache_rejected": None,
        "sha256": {rel: hashlib.sha256((tmp_path / "out" / rel).read_bytes()).hexdigest()
                   for rel in ("tenants/gamma/validation.html",
                               "tenants/gamma/validation.ipynb")}}
    assert manifest["cache"] == {"enabled": False} and manifest["executor"] == {"name": "local"}
    for package in ("numpy", "pandas", "scipy", "papermill", "scrapbook", "nbconvert",
                    "ipykernel", "matplotlib", "pydantic"):
        assert manifest["packages"][package], package
    assert manifest["python"]["version"].count(".") == 2
    assert manifest["git"] == {"commit": None, "dirty": None}
    assert manifest["parameters"]["experiment"] == "fixture_exp"
    assert manifest["environment"]["OMP_NUM_THREADS"] == "1"


def test_write_run_artifacts_writes_every_artifact(tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = write_run_artifacts(fake_result(tmp_path, out))
    assert {k: p.name for k, p in paths.items()} == {
        "validation_report": "validation_report.json", "run_manifest": "run_manifest.json",
        "model_card": "model_card.html", "baseline_metrics": "baseline_metrics.json",
        "robustness_report": "robustness_report.json",
        "robustness_log": "robustness_suite.log", "model_card_md": "model_card.md",
        "feature_importance": "feature_importance.csv",
        "fairness_report": "fairness_report.json",
        "index": "index.html", "defects": "defects.md", "summary": "SUMMARY.md"}
    assert all(p.parent == out and p.is_file() for p in paths.values())
    first = paths["validation_report"].read_bytes()
    write_run_artifacts(fake_result(tmp_path, out))
    assert paths["validation_report"].read_bytes() == first


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="giving a checkout to another user needs root")
def test_git_commit_is_read_from_a_checkout_owned_by_another_user(tmp_path: Path) -> None:
    # git refuses "dubious ownership" (a mounted checkout in CI): the commit was then null in
    # every JSON artifact under the same run id
    import shutil
    import subprocess

    from mmm_evidence.pipeline.files import git_commit

    if shutil.which("git") is None:
        pytest.skip("no git")
    repo = tmp_path / "repo"
    repo.mkdir()
    run = {"cwd": repo, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (repo / "params.yaml").write_text("x: 1\n", encoding="utf-8")
    subprocess.run(["git", "add", "."], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
                   **run)
    head = subprocess.run(["git", "rev-parse", "HEAD"], text=True, **run).stdout.strip()
    for path in [repo, *repo.rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)  # nobody
    assert git_commit(repo / "params.yaml") == head
    assert git_commit(tmp_path) is None  # outside git


def test_scraps_no_artifact_reads_are_kept_in_the_report(tmp_path: Path) -> None:
    # an analyst's scrap in a shipped notebook, and a new notebook's scraps, were dropped
    out = tmp_path / "out"
    result = fake_result(tmp_path, out)
    alpha = result.task("alpha", "validation")
    alpha.scraps = {**alpha.scraps, "analyst_note": {"checked": True, "share": 0.123456789}}
    folder = out / "tenants" / "alpha"
    result.tasks.append(TaskResult("alpha", "extra", folder / "extra.ipynb",
                                   folder / "extra.html", "ok", None, 1.0, 1.0,
                                   {"tenant": "alpha", "my_metric": 4.2, "my_table": [1, 2]}))
    report = build_validation_report(result)
    assert report["tenants"]["alpha"]["extra_scraps"] == {
        "extra": {"my_metric": 4.2, "my_table": [1, 2]},
        "validation": {"analyst_note": {"checked": True, "share": 0.123456789}}}
    assert report["tenants"]["beta"]["extra_scraps"] == {}
    from mmm_evidence.report.model_card import render_model_card

    html = render_model_card(report)
    assert ("read by no artifact (in validation_report.json under extra_scraps): extra: "
            "my_metric, my_table; validation: analyst_note.") in html
