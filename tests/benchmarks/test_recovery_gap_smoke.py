"""Smoke test of the oracle-gap diagnostic (benchmarks/recovery_gap.py)."""

import math
import sys

import numpy as np
import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def gap():
    return load_benchmark("recovery_gap.py")


def test_held_parameters_stay_at_their_values(gap):
    recovery = sys.modules["recovery"]
    task = recovery.Task("national", 0.05, 0, False)
    panel = recovery.panel_of(recovery.tenant_config(task))
    oracle = recovery.oracle_fit(panel, task.seed)
    held = gap.HeldMMM(oracle._theta(), (0,), task.seed).fit(panel, start=oracle)
    np.testing.assert_allclose(held.decay, oracle.decay, atol=2 * gap.HOLD)
    assert not np.allclose(held.shape, oracle.shape)  # the rest is fitted


def test_one_tenant_end_to_end(gap, monkeypatch):
    monkeypatch.setattr(gap, "BAG_REPLICATES", 3)
    rec = gap.run_tenant("national", 0.05, 1)
    assert set(rec["errors"]) == set(gap.FITS)
    assert all(len(v) == rec["n_channels"] for v in rec["errors"].values())
    assert all(math.isfinite(e) and e >= 0 for v in rec["errors"].values() for e in v)
    obj = rec["objective"]
    # the multi-start optimum is no worse than the truth (the objective the fit minimises)
    assert obj["mmm"] <= obj["truth"] + gap.TIE
    summary = gap.summarise([rec])["national 5%"]
    assert summary["tenants"] == 1 and summary["ratio_to_oracle"]["oracle"] == 1.0
    assert "national 5%" in gap.format_table({"national 5%": summary})
    rows = gap.breakdown([rec])
    assert sum(r["channels"] for r in rows) == rec["n_channels"]
    assert {r["kind"].split(",")[0] for r in rows} <= {"flighted", "always_on"}
    assert "kind of channel" in gap.format_breakdown(rows)
    # the signed total bias is the sum of the channels' over-estimates, split by decay
    true, est = rec["elasticity"]["true"], rec["elasticity"]["mmm"]
    assert rec["total_bias"]["mmm"] == pytest.approx(sum(est) / sum(true) - 1.0)
    over = summary["over_estimate"]
    assert over["net"] == pytest.approx(rec["total_bias"]["mmm"])
    assert sum(over["channels"][k] for k in ("decay_above", "decay_within", "decay_below")) \
        == rec["n_channels"]
    assert summary["total_error_median"]["mmm"] == pytest.approx(abs(rec["total_bias"]["mmm"]))
    assert "at bound" in gap.format_bias({"national 5%": summary})


def test_over_estimate_split_by_decay(gap):
    rec = {"elasticity": {"true": [0.1, 0.1, 0.2], "mmm": [0.2, 0.1, 0.1]},
           "decay": {"fitted": [0.9, 0.5, 0.1], "true": [0.3, 0.45, 0.6], "max": 0.9}}
    over = gap.over_estimate([rec])
    assert over["sum"] == pytest.approx({"decay_above": 0.25, "decay_within": 0.0,
                                         "decay_below": -0.25, "at_bound": 0.25})
    assert over["channels"] == {"decay_above": 1, "decay_within": 1, "decay_below": 1,
                                "at_bound": 1}
    assert over["net"] == pytest.approx(0.0)
