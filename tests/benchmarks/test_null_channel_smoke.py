"""Smoke test of the null-channel benchmark (benchmarks/null_channel.py)."""

import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def null_channel():
    return load_benchmark("null_channel.py")


def test_one_tenant_end_to_end(null_channel):
    rec = null_channel.run_tenant(null_channel.Task("national", 0.1, 0, bootstrap=False))
    assert rec["source"] in ("tv", "search", "social", "display", "radio", "video", "print",
                             "ooh")
    mode, median = (rec["estimates"][e] for e in null_channel.ESTIMATES)
    # the mode can put the null channel at exactly 0; the posterior median never does
    assert mode["null_elasticity"] >= 0 and median["null_elasticity"] > 0
    assert len(mode["errors"]) == len(median["errors"]) >= 3
    rows = null_channel.summarise([rec])
    assert [r["estimate"] for r in rows] == list(null_channel.ESTIMATES)
    assert {r["cell"] for r in rows} == {"national 10%"}
    for r in rows:
        assert 0 <= r["null_at_zero"] <= 1 and 0 <= r["null_at_or_above_phantom"] <= 1
    table = null_channel.format_table(rows)
    assert "posterior_median" in table and "null>=0.01" in table


def test_the_phantom_threshold_is_the_gate_default(null_channel):
    from mmm_evidence.config import ElasticityGate

    assert null_channel.PHANTOM == ElasticityGate().zero_true_elasticity == 0.01
