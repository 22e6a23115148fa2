"""Smoke test of the estimator-bound diagnostic (benchmarks/recovery_bound.py)."""

import importlib.util
import math
import sys

import numpy as np
import pytest

from tests.paths import ROOT


@pytest.fixture(scope="module")
def bound():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("recovery_bound_benchmark",
                                                  ROOT / "benchmarks" / "recovery_bound.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
    summary = bound.summarise([rec])
    assert summary["national 5%"]["ratio_to_oracle"]["oracle"] == pytest.approx(1.0)
