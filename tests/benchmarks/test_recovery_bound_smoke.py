"""Smoke test of the estimator-bound diagnostic (benchmarks/recovery_bound.py)."""

import argparse
import math
from types import SimpleNamespace

import numpy as np
import pytest

from tests.benchmarks import load_benchmark
from tests.test_validation_notebook import write_tiny_experiment


@pytest.fixture(scope="module")
def bound():
    return load_benchmark("recovery_bound.py")


def test_metropolis_samples_a_known_gaussian(bound):
    # a correlated 2-d Gaussian: the draws' mean and covariance come back
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    precision = np.linalg.inv(cov)

    def log_post(x):
        return -0.5 * float(x @ precision @ x)

    draws, acceptance = bound.metropolis(log_post, np.array([2.0, -2.0]), np.eye(2), 30_000,
                                         np.random.default_rng(0))
    assert 0.2 < acceptance < 0.8
    np.testing.assert_allclose(draws.mean(axis=0), [0.0, 0.0], atol=0.25)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.35)


def test_metropolis_never_leaves_the_support(bound):
    def log_post(x):
        return 0.0 if np.all((x >= 0) & (x <= 1)) else -math.inf

    draws, _ = bound.metropolis(log_post, np.array([0.5, 0.5, 0.5]), np.eye(3) * 0.1, 3000,
                                np.random.default_rng(1))
    assert draws.min() >= 0 and draws.max() <= 1
    np.testing.assert_allclose(draws.mean(axis=0), 0.5, atol=0.1)  # uniform: mean 1/2


def test_panel_box_is_the_generators_range(bound):
    lo, hi = bound.panel_box(2)
    assert lo.shape == hi.shape == (6,)
    assert np.exp(lo[1]) == pytest.approx(bound.HALF_SATURATION_RANGE[0])
    assert np.exp(hi[2]) == pytest.approx(bound.SHAPE_RANGE[1])
    assert (lo[0], hi[0]) == bound.DECAY_RANGE


def test_one_tenant_end_to_end(bound):
    rec = bound.run_tenant("national", 0.05, 0, 150)
    assert set(rec["errors"]) == set(bound.FITS)
    assert all(len(v) == rec["n_channels"] for v in rec["errors"].values())
    assert all(e >= 0 for v in rec["errors"].values() for e in v)
    assert set(rec["acceptance"]) == {"v2", "panel"}
    assert set(rec["total_media_error"]) == set(bound.FITS)
    assert all(e >= 0 for e in rec["total_media_error"].values())
    summary = bound.summarise([rec])
    assert summary["national 5%"]["ratio_to_oracle"]["oracle"] == pytest.approx(1.0)
    assert summary["national 5%"]["total_media_error_median"] == pytest.approx(
        rec["total_media_error"])
    assert "total media elasticity" in bound.format_table(summary)


def test_total_media_error_is_the_error_of_the_summed_elasticities(bound):
    truth = {"channels": {"tv": {"elasticity": 0.03}, "search": {"elasticity": 0.01}}}
    panel = SimpleNamespace(channels=("tv", "search"), truth=truth)
    # the channels' errors cancel in the total: 0.02 + 0.02 against 0.04
    assert bound.total_media_error(np.array([0.02, 0.02]), panel) == pytest.approx(0.0)
    assert bound.total_media_error(np.array([0.03, 0.03]), panel) == pytest.approx(0.5)


def test_cells_parse_and_reject_with_the_offending_item(bound):
    assert bound._cells("national:0.05, geo:0.1") == (("national", 0.05), ("geo", 0.1))
    with pytest.raises(argparse.ArgumentTypeError, match="'regional:0.1'"):
        bound._cells("geo:0.1,regional:0.1")
    with pytest.raises(argparse.ArgumentTypeError, match="'ten'"):
        bound._cells("geo:ten")


def test_experiment_tenant_gate_values(bound, tmp_path):
    params = write_tiny_experiment(tmp_path)
    records = [bound.run_experiment_tenant(params, "tiny_shop", 150, chain)
               for chain in (0, 1)]
    rec = records[0]
    assert set(rec["gate_value"]) == set(bound.FITS) and rec["threshold"] == 0.25
    # the gate value is the median relative error over channels with true share >= 2 %
    for fit, value in rec["gate_value"].items():
        assert value == pytest.approx(float(np.median(list(rec["errors"][fit].values()))))
    # MMM and oracle do not depend on the chain; the posterior summaries do
    assert records[1]["gate_value"]["mmm"] == rec["gate_value"]["mmm"]
    assert records[1]["gate_value"]["panel_posterior_mean"] != rec["gate_value"][
        "panel_posterior_mean"]
    summary = bound.summarise_tenants(records)["tiny_shop"]
    assert summary["chains"] == 2
    values = [r["gate_value"]["panel_posterior_mean"] for r in records]
    assert summary["gate_value"]["panel_posterior_mean"]["min"] == min(values)
    tv = summary["channels"]["tv"]
    assert tv["mmm"] == rec["estimates"]["mmm"]["tv"] and tv["truth"] == rec["truth"]["tv"]
    means = [r["estimates"]["panel_posterior_mean"]["tv"] for r in records]
    assert tv["panel_posterior_mean"] == pytest.approx(float(np.median(means)))
    assert "tiny_shop" in bound.format_tenant_table(bound.summarise_tenants(records))
