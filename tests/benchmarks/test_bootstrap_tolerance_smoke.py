"""Smoke test of the bootstrap-tolerance benchmark (benchmarks/bootstrap_tolerance.py)."""

import json

from mmm_evidence.model import uncertainty
from tests.benchmarks import load_benchmark


def test_one_tenant_end_to_end(tmp_path):
    bench = load_benchmark("bootstrap_tolerance.py")
    default = uncertainty.BOOTSTRAP_COST_TOLERANCE
    out = tmp_path / "bootstrap_tolerance.json"
    assert bench.main(["--tenants", "1", "--replicates", "6", "--out", str(out)]) == 0
    # each bootstrap sets the tolerance back, whatever it asked for
    assert uncertainty.BOOTSTRAP_COST_TOLERANCE == default
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["settings"]["tolerance"] == default
    assert result["settings"]["replicates"] == 6
    (row,) = result["tenants"]
    assert (row["segments"], row["channels"]) == (1, 4)
    assert row["cpu_tight"] > 0 and row["cpu_default"] > 0 and row["ratio"] > 0
    # the intervals barely move: a small share of their width
    for quantity in bench.QUANTITIES:
        assert 0 <= row[f"shift_{quantity}"] < 0.2
    assert 0 <= row["zero_reach_flips"] <= row["channels"]
    summary = result["summary"]
    assert summary["tenants"] == 1 and summary["channels"] == row["channels"]
    assert summary["ratio_median"] == row["ratio"]
