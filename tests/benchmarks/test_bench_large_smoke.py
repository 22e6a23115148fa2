"""The large-tenant benchmark (benchmarks/bench_large.py): its tenants, its failed-run record."""

import sys

import pytest

from mmm_evidence.config import load_experiment, load_tenant
from tests.benchmarks import load_benchmark
from tests.paths import ROOT


def test_sizes_are_segments_weeks_channels():
    bench = load_benchmark("bench_large.py")
    assert bench.parse_size("100x260x12") == (100, 260, 12)
    with pytest.raises(SystemExit, match="SEGMENTSxWEEKSxCHANNELS"):
        bench.parse_size("100x260")


def test_the_experiment_holds_one_tenant_of_the_size_asked(tmp_path):
    bench = load_benchmark("bench_large.py")
    params = bench.large_experiment(ROOT / "params" / "mmm_v2.yaml", tmp_path, "big", 30, 80,
                                    10, timeout_seconds=60)
    exp = load_experiment(params)
    assert exp.tenants == ["big"] and exp.runner.timeout_seconds == 60
    assert exp.notebooks == load_experiment(ROOT / "params" / "mmm_v2.yaml").notebooks
    spec = load_tenant(tmp_path / "tenants" / "big.yaml").data.synthetic
    assert (spec.segments, spec.weeks, len(spec.channels)) == (30, 80, 10)


def test_a_fixed_channel_count_leaves_the_panel_as_it_was():
    load_benchmark("bench_large.py")  # puts benchmarks/ on the path
    from panel import CHANNEL_NAMES, random_tenant

    drawn = random_tenant(10_003, 1, 0.1)
    assert random_tenant(10_003, 1, 0.1, channels=len(drawn.channels)) == drawn
    assert len(random_tenant(10_003, 1, 0.1, channels=len(CHANNEL_NAMES)).channels) == 12
    with pytest.raises(ValueError, match="channels=13"):
        random_tenant(10_003, 1, 0.1, channels=13)


def test_a_failed_run_is_measured_only_when_allowed(tmp_path):
    bench = load_benchmark("bench_evidence.py")
    argv = [sys.executable, "-c", "import sys; sys.exit(3)"]
    assert bench.measure("fails", argv, tmp_path / "a.log", allow_failure=True).returncode == 3
    with pytest.raises(SystemExit, match="exited 3"):
        bench.measure("fails", argv, tmp_path / "b.log")
