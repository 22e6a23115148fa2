"""``mmm-evidence run`` / ``generate``: exit codes, messages, and what a run leaves behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmm_evidence.cli import main, run_exit_code, tenant_line
from tests.fixtures.pipeline import experiment as builder

# --------------------------------------------------------------------------- fast


def test_help_documents_the_exit_codes() -> None:
    proc = subprocess.run([sys.executable, "-m", "mmm_evidence.cli", "run", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for line in ("0  the run completed", "1  --strict and the verdict is not PASS",
                 "2  bad usage", "3  a notebook or a tenant's data errored"):
        assert line in proc.stdout
    assert "--tenants" in proc.stdout and "--output-dir" in proc.stdout


@pytest.mark.parametrize(("verdict", "errored", "strict", "code"), [
    ("PASS", False, False, 0), ("FAIL", False, False, 0), ("NOT ASSESSABLE", False, False, 0),
    ("PASS", False, True, 0), ("FAIL", False, True, 1), ("NOT ASSESSABLE", False, True, 1),
    ("FAIL", True, False, 3), ("FAIL", True, True, 3),
])
def test_run_exit_code(verdict: str, errored: bool, strict: bool, code: int) -> None:
    assert run_exit_code(verdict, errored, strict) == code


def test_tenant_line_counts_failed_and_not_assessable_gates_apart() -> None:
    def section(verdict: str, *passed: bool | None, status: str = "ok") -> dict:
        return {"verdict": verdict, "status": status,
                "gates": [{"name": f"g{i}", "passed": p} for i, p in enumerate(passed)]}

    assert tenant_line("a", section("PASS", True, True), 3) == "a    PASS"
    assert tenant_line("b", section("FAIL", True, False, None, False)) == \
        "b  FAIL · 2 gate(s) failed · 1 gate(s) not assessable"
    assert tenant_line("c", section("NOT ASSESSABLE", True, None)) == \
        "c  NOT ASSESSABLE · 1 gate(s) not assessable"
    assert tenant_line("d", section("FAIL", None, status="error")) == \
        "d  FAIL · 1 gate(s) not assessable · errored"


def test_missing_params_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml: parameter file not found" in err


def test_invalid_params_exit_2_naming_the_key(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    spec = yaml.safe_load(params.read_text())
    spec["gates"] = {"holdout_r2": {"minimum": 0.5}}
    params.write_text(yaml.safe_dump(spec))
    assert main(["run", str(params)]) == 2
    assert "gates.holdout_r2.minimum" in capsys.readouterr().err


def test_unknown_tenant_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    assert main(["run", str(params), "--tenants", "alpha,zeta"]) == 2
    assert "zeta not listed" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_written_exits_2_before_any_notebook(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    a_file = tmp_path / "afile"
    a_file.write_text("x", encoding="utf-8")
    for target in (a_file, a_file / "sub"):
        assert main(["run", str(params), "--output-dir", str(target)]) == 2
        err = capsys.readouterr().err
        assert f"{target}: cannot write into the output folder" in err
        assert "Traceback" not in err


def test_a_second_run_into_a_folder_in_use_exits_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    """Two runs (or a run and package) writing into one folder would leave files that
    contradict each other: the second is refused while the first holds the folder's lock."""
    from mmm_evidence.pipeline.files import output_folder_lock

    params = builder.build_experiment(tmp_path, ["alpha"])
    out = tmp_path / "busy"
    with output_folder_lock(out):
        assert main(["run", str(params), "--output-dir", str(out)]) == 2
        assert "another mmm-evidence run or package is writing into this folder" in \
            capsys.readouterr().err
        assert main(["package", "ignored", "--output-dir", str(out)]) == 2
        assert "another mmm-evidence run" in capsys.readouterr().err
    with output_folder_lock(out):  # released: it can be taken again
        pass


def test_a_subset_of_tenants_is_a_partial_run_of_the_experiment(tmp_path: Path) -> None:
    """--tenants runs part of the experiment: its artifacts say which tenants were left out,
    and its run id is not that of an experiment listing only those tenants."""
    from mmm_evidence.config import load_experiment
    from mmm_evidence.report.document import run_scope

    params = builder.build_experiment(tmp_path, ["alpha", "beta", "gamma"])
    subset = load_experiment(params, tenants=["beta"])
    assert subset.tenants == ["beta"] and subset.tenants_not_run == ["alpha", "gamma"]
    alone = builder.build_experiment(tmp_path / "alone", ["beta"])
    assert load_experiment(alone).params_hash() != subset.params_hash()
    assert load_experiment(params).tenants_not_run == []
    report = {"tenants": {"beta": {}}, "tenants_not_run": ["alpha", "gamma"]}
    assert run_scope(report) == "; partial run: 1 of 3 tenants, not run: alpha, gamma"
    assert run_scope({"tenants": {"beta": {}}, "tenants_not_run": []}) == ""


def test_tenants_option_naming_no_tenant_exits_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    assert main(["run", str(params), "--tenants", ","]) == 2
    assert "--tenants names no tenant" in capsys.readouterr().err


@pytest.mark.parametrize("epoch", ["abc", "1.7e9", "-5", "99999999999999", "²"])
def test_a_bad_source_date_epoch_exits_2_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
        epoch: str) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    assert main(["run", str(params), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"SOURCE_DATE_EPOCH={epoch!r}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bad_usage_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    assert main(["run", str(params), "--workers", "0"]) == 2
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == 2
    # a mistyped option is told with the command's usage, not the top level's
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["run", str(params), "--strcit"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: mmm-evidence run ") and "unrecognized arguments: --strcit" in err


def test_generic_kernel_name_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"])
    spec = yaml.safe_load(params.read_text())
    spec["runner"]["kernel_name"] = "python3"
    params.write_text(yaml.safe_dump(spec))
    assert main(["run", str(params)]) == 2
    assert "refusing to use the generic 'python3' kernel" in capsys.readouterr().err


def test_generate_rejects_a_csv_tenant(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    tenant = builder.write_csv_tenant(tmp_path / "tenants", "alpha")
    assert main(["generate", str(tenant), "--out", str(tmp_path / "gen")]) == 2
    assert "is not synthetic" in capsys.readouterr().err


def test_generate_writes_a_synthetic_tenant(tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    tenant = tmp_path / "syn.yaml"
    tenant.write_text(yaml.safe_dump({
        "name": "syn", "channels": ["tv", "search"], "controls": [],
        "data": {"synthetic": {"seed": 3, "weeks": 30, "segments": 2, "burn_in_weeks": 4,
                               "channels": {"tv": {"weekly_spend": 1000.0, "share": 0.1},
                                            "search": {"weekly_spend": 500.0,
                                                       "share": 0.05}}}}}, sort_keys=False))
    out = tmp_path / "gen"
    assert main(["generate", str(tenant), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["segments.csv", "syn.csv", "truth.json"]
    assert f"wrote {out / 'syn.csv'}" in capsys.readouterr().out


# --------------------------------------------------------------------------- slow: real runs


@pytest.mark.slow
def test_run_with_a_failing_notebook_exits_3_and_keeps_the_evidence(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha", "gamma"])
    out = tmp_path / "evidence"
    code = main(["run", str(params), "--workers", "2", "--output-dir", str(out)])
    stdout = capsys.readouterr().out
    assert code == 3
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "FAIL"
    assert [(e["tenant"], e["notebook"]) for e in report["errors"]] == [("gamma", "validation")]
    for tenant in ("alpha", "gamma"):
        assert (out / "tenants" / tenant / "validation.html").is_file()
    assert (out / "run_manifest.json").is_file() and (out / "model_card.html").is_file()
    assert "alpha  PASS" in stdout
    assert "gamma  FAIL · 6 gate(s) not assessable · errored" in stdout
    assert f"verdict: FAIL  (run {report['run_id']})" in stdout
    assert "error: gamma · validation · ValueError: fixture failure for tenant gamma" in stdout
    assert f"wrote validation_report: {out / 'validation_report.json'}" in stdout


@pytest.mark.slow
def test_a_tenant_file_that_does_not_load_is_that_tenants_data_error(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One tenant's bad YAML (an unknown key) never stops the other tenants' evidence."""
    params = builder.build_experiment(tmp_path, ["alpha", "broken"], notebooks=("validation",))
    tenant_file = params.parent / "tenants" / "broken.yaml"
    tenant_file.write_text(tenant_file.read_text(encoding="utf-8") + "colour: blue\n",
                           encoding="utf-8")
    out = tmp_path / "evidence"
    code = main(["run", str(params), "--workers", "2", "--output-dir", str(out)])
    stdout = capsys.readouterr().out
    assert code == 3
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["tenants"]["alpha"]["status"] == "ok"
    assert report["tenants"]["alpha"]["notebooks"]["validation"]["status"] == "ok"
    broken = report["tenants"]["broken"]
    assert broken["verdict"] == "FAIL" and broken["display_name"] == "broken"
    assert "broken.yaml: key 'colour': unknown key" in broken["data_error"]
    assert (out / "tenants" / "alpha" / "validation.html").is_file()
    assert not (out / "tenants" / "broken").exists()
    assert "data · broken · ERROR: " in stdout and "key 'colour'" in stdout
    assert "broken" in (out / "defects.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_reader_that_closes_the_pipe_does_not_stop_the_run(tmp_path: Path) -> None:
    """`mmm-evidence run ... | head -1`: the run goes on and writes its evidence."""
    import subprocess

    params = builder.build_experiment(tmp_path, ["alpha"], notebooks=("validation",))
    out = tmp_path / "evidence"
    proc = subprocess.Popen([sys.executable, "-m", "mmm_evidence.cli", "run", str(params),
                             "--workers", "1", "--output-dir", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as head -1 does
    _, stderr = proc.communicate(timeout=300)
    assert b"BrokenPipeError" not in stderr and b"Traceback" not in stderr
    assert proc.returncode in (0, 3)
    assert (out / "validation_report.json").is_file() and (out / "model_card.html").is_file()


@pytest.mark.slow
def test_strict_run_exits_1_when_the_verdict_is_fail(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha", "beta", "delta"],
                                      notebooks=("validation", "extra"))
    code = main(["run", str(params), "--strict", "--tenants", "alpha",
                 "--tenants", "delta"])  # beta left out: repeatable --tenants
    capsys.readouterr()
    assert code == 1
    out = tmp_path / "outputs" / "fixture_exp"  # the experiment's own output_dir
    report = json.loads((out / "validation_report.json").read_text(encoding="utf-8"))
    assert report["errors"] == [] and report["verdict"] == "FAIL"
    assert list(report["tenants"]) == ["alpha", "delta"]
    delta = {g["name"]: g for g in report["tenants"]["delta"]["gates"]}
    assert delta["holdout_r2"]["passed"] is False
    assert delta["elasticity_no_missed_channel"]["value"] == 1
    for tenant in ("alpha", "delta"):  # every notebook × tenant ran
        for notebook in ("validation", "extra"):
            assert (out / "tenants" / tenant / f"{notebook}.html").is_file()
        assert report["tenants"][tenant]["notebooks"]["extra"]["status"] == "ok"
    assert not (out / "tenants" / "beta").exists()


def test_scheduler_without_the_dask_executor_exits_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"], notebooks=("validation",))
    code = main(["run", str(params), "--scheduler", "tcp://127.0.0.1:8786"])
    assert code == 2
    assert "--scheduler needs --executor dask" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", str(params), "--executor", "spark"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_a_rerun_reuses_the_cache_and_no_cache_executes_again(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    params = builder.build_experiment(tmp_path, ["alpha"], notebooks=("validation",))
    out = tmp_path / "evidence"
    assert main(["run", str(params), "--output-dir", str(out)]) == 0
    first = (out / "validation_report.json").read_bytes()
    capsys.readouterr()
    assert main(["run", str(params), "--output-dir", str(out)]) == 0
    assert "[1/1] alpha · validation · ok · cached" in capsys.readouterr().out
    assert (out / "validation_report.json").read_bytes() == first
    assert main(["run", str(params), "--output-dir", str(out), "--no-cache"]) == 0
    stdout = capsys.readouterr().out
    assert "(0 cached)" in stdout and " · ok · cached" not in stdout
    assert (out / "validation_report.json").read_bytes() == first


def test_a_folder_holding_another_experiments_evidence_is_not_overwritten(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # a parameter file copied under a new experiment name keeps its output_dir
    params = builder.build_experiment(tmp_path, ["alpha"])
    out = tmp_path / "out"
    out.mkdir()
    report = out / "validation_report.json"
    report.write_text(json.dumps({"experiment": "mmm_v2", "verdict": "FAIL"}),
                      encoding="utf-8")
    before = report.read_bytes()
    assert main(["run", str(params), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds the evidence of experiment 'mmm_v2'" in err and "fixture_exp" in err
    assert report.read_bytes() == before


def test_run_takes_an_experiment_name_as_package_does(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "no_such_experiment"]) == 2
    assert "params/no_such_experiment.yaml" in capsys.readouterr().err
    # a path without its .yaml is a path, not a name under params/
    assert main(["run", "params/mmm_v2"]) == 2
    assert "params/params" not in capsys.readouterr().err
