"""Smoke test of the pipeline on external data (benchmarks/external_evidence.py --quick): the
PyMC-Marketing example, brought as a user brings a CSV, with its truth file, through real
kernels. Skipped where ../shared is not beside the checkout."""

import json

import pytest

from tests.benchmarks import load_benchmark
from tests.paths import ROOT

SHARED = ROOT.parent / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "external" / "pymc-marketing").is_dir(),
                                reason="../shared/external is not beside the checkout")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("external_evidence.py")


def test_generated_tenant_files_map_the_columns_and_carry_the_truth(bench, tmp_path):
    names = bench.tenant_files(SHARED, tmp_path)
    assert names == ["pymc_example", *bench.UNTRUTHED]
    truth = json.loads((tmp_path / "pymc_example_truth.json").read_text(encoding="utf-8"))
    assert set(truth["channels"]) == {"x1", "x2"}
    params = bench.experiment_file(SHARED, tmp_path / "p", tmp_path / "out", quick=True)
    from mmm_evidence.config import load_experiment

    exp = load_experiment(params)
    assert exp.tenants == ["pymc_example"] and exp.notebooks == ["validation", "robustness"]
    assert exp.gates == load_experiment(ROOT / "params" / "mmm_v2.yaml").gates  # the defaults
    assert exp.tenant_configs["pymc_example"].data.source.truth == \
        (tmp_path / "p" / "tenants" / "pymc_example_truth.json").resolve()


def test_quick_run_judges_the_truth_based_gates_and_national_thresholds(bench, tmp_path,
                                                                        capsys):
    results = tmp_path / "summary.json"
    assert bench.main(["--quick", "--out", str(tmp_path / "run"), "--workers", "2",
                       "--results", str(results)]) == 0
    summary = json.loads(results.read_text(encoding="utf-8"))
    pymc = summary["tenants"]["pymc_example"]
    assert pymc["segments"] == 1 and pymc["robustness_thresholds"] == "national"
    gates = pymc["gates"]
    # the truth file makes the truth-based gates assessable on data from another generator
    assert gates["elasticity_median_error"]["passed"] is not None
    assert gates["elasticity_median_error"]["value"] is not None
    assert gates["holdout_r2"]["passed"] is True
    assert gates["beats_baselines"]["passed"] is None  # the baselines notebook did not run
    assert "verdict:" in capsys.readouterr().out
