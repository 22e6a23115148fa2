"""The bootstrap-replicates benchmark (benchmarks/bootstrap_replicates.py): its measures on
draws whose answer is known, and one small tenant end to end."""

import numpy as np
import pytest

from mmm_evidence.config import IdentificationGate
from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bootstrap_replicates.py")


def _record(draws, truth=(1.0, 0.1), estimate=(1.0, 0.1), share=(0.1, 0.05)):
    channels = ["clear", "borderline"]
    return {"shape": "geo", "noise": 0.1, "index": 0, "channels": channels,
            "estimate": dict(zip(channels, estimate, strict=True)),
            "share": dict(zip(channels, share, strict=True)),
            "truth": dict(zip(channels, truth, strict=True)),
            "draws": [d.tolist() for d in draws]}


def _draws(rng, n=200):
    # "clear": far from zero; "borderline": a non-negative estimate at zero in ~5 % of draws
    clear = rng.normal(1.0, 0.1, n)
    borderline = np.maximum(rng.normal(0.1, 0.061, n), 0.0)
    return np.column_stack([clear, borderline])


def test_runs_are_disjoint_and_counted(bench):
    a, b = np.arange(10), np.arange(10, 20)
    runs = bench.runs_of([a, b], 4)
    assert [r.tolist() for r in runs] == [[0, 1, 2, 3], [4, 5, 6, 7], [10, 11, 12, 13],
                                          [14, 15, 16, 17]]


def test_monte_carlo_error_falls_with_more_refits(bench):
    rng = np.random.default_rng(3)
    summary = bench.summarise([_record([_draws(rng), _draws(rng)])], IdentificationGate())
    cells = summary["geo"]
    mc = [cells[str(r)]["endpoint_mc_sd_to_width"] for r in bench.CANDIDATES]
    assert mc[0] > mc[-1] > 0
    assert cells["40"]["runs_per_tenant"] == 10 and cells["200"]["runs_per_tenant"] == 2
    # the truth at the centre of both channels' draws is covered by nearly every run
    assert cells["40"]["coverage"] >= 0.9
    # only the borderline channel's verdict can flip between runs
    assert 0 < cells["40"]["flag_disagreement"] <= 0.5
    # ... and so, from resampled runs: the clear channel never flips, the borderline one
    # sometimes (expected disagreement its 2 p (1 - p), halved over the two channels)
    for r in bench.CANDIDATES:
        assert 0 < cells[str(r)]["flag_disagreement_expected"] <= 0.25
        assert cells[str(r)]["unsettled"] in (0.0, 0.5)
    assert cells["40"]["unsettled"] == 0.5
    assert cells["40"]["flag_disagreement_expected_free"] == cells["40"][
        "flag_disagreement_expected"] and cells["40"]["flag_disagreement_expected_drawn"] is None


def test_verdict_probability_reads_the_gate_on_resampled_runs(bench):
    rng = np.random.default_rng(4)
    record = _record([_draws(rng), _draws(rng)])
    pooled = np.concatenate([np.asarray(d) for d in record["draws"]])
    p = bench.verdict_probability(record, pooled, 40, IdentificationGate(), [1, 2])
    assert p["clear"] == 1.0 and 0 < p["borderline"] < 1
    assert p == bench.verdict_probability(record, pooled, 40, IdentificationGate(), [1, 2])
    # all the borderline channel's refits at zero: never identified
    pooled[:, 1] = 0.0
    assert bench.verdict_probability(record, pooled, 40, IdentificationGate(),
                                     [1, 2])["borderline"] == 0.0


def test_choose_takes_the_smallest_count_meeting_the_rule_in_every_shape(bench):
    def cell(values):
        return {str(r): {"endpoint_mc_sd_to_width": v}
                for r, v in zip(bench.CANDIDATES, values, strict=True)}

    assert bench.choose({"geo": cell([0.1, 0.04, 0.03]),
                         "national": cell([0.1, 0.06, 0.03])}) == 200
    assert bench.choose({"geo": cell([0.04, 0.03, 0.02])}) == 40
    assert bench.choose({"geo": cell([0.1, 0.08, 0.06])}) is None


def test_one_small_tenant_end_to_end(bench, monkeypatch):
    monkeypatch.setattr(bench, "MAX_REPLICATES", 8)
    monkeypatch.setattr(bench, "CANDIDATES", (4, 8))
    rec = bench.run_tenant(bench.Task("national", 0.1, 0, True))
    assert [np.asarray(d).shape for d in rec["draws"]] == [(8, len(rec["channels"]))] * 2
    assert rec["draws"][0] != rec["draws"][1]  # independent bootstraps
    summary = bench.summarise([rec], IdentificationGate())
    assert set(summary["national"]) == {"4", "8"}
    assert "national" in bench.format_table(summary)
