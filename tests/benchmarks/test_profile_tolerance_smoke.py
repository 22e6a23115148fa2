"""Smoke test of the profile-tolerance benchmark (benchmarks/profile_tolerance.py)."""

import json

from mmm_evidence.model import mmm as mmm_module
from tests.benchmarks import load_benchmark


def test_one_tenant_end_to_end(tmp_path):
    bench = load_benchmark("profile_tolerance.py")
    default = mmm_module.DECAY_PROFILE_COST_TOLERANCE
    out = tmp_path / "profile_tolerance.json"
    assert bench.main(["--tenants", "1", "--out", str(out)]) == 0
    # each fit sets the tolerance back, whatever it asked for
    assert mmm_module.DECAY_PROFILE_COST_TOLERANCE == default
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["settings"]["tolerance"] == default
    (row,) = result["tenants"]
    assert (row["segments"], row["channels"]) == (1, bench.CHANNELS[0])
    assert row["cpu_tight"] > 0 and row["cpu_default"] > 0 and row["ratio"] > 0
    # the same nodes are walked; a node solved less exactly is never far below the tight one
    assert row["nodes"] > 0 and row["lower"] == 0
    assert 0 <= row["max_elasticity_change"] < 0.01
    summary = result["summary"]
    assert summary["tenants"] == 1 and summary["nodes"] == row["nodes"]
    assert summary["ratio_median"] == row["ratio"]
