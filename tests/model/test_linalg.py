"""Least squares whatever the columns' units (model/linalg.py)."""

import numpy as np
import pytest

from mmm_evidence.model.linalg import column_basis, column_norms, lstsq_columns


def _design(rows: int = 60) -> np.ndarray:
    t = np.arange(rows, dtype=float)
    rng = np.random.default_rng(0)
    return np.column_stack([np.ones(rows), t / rows, np.sin(t / 5), rng.normal(1, .1, rows)])


def _projector(basis: np.ndarray) -> np.ndarray:
    return basis @ basis.T


@pytest.mark.parametrize("scale", [1e-8, 1e9, 1e14])
def test_the_basis_spans_the_same_space_whatever_a_columns_units(scale):
    x = _design()
    big = x.copy()
    big[:, 3] *= scale
    assert column_basis(big).shape == (60, 4)
    np.testing.assert_allclose(_projector(column_basis(big)), _projector(column_basis(x)),
                               atol=1e-9)
    # an SVD cut on the raw columns loses the intercept and trend beside a 1e14 column
    if scale >= 1e14:
        s = np.linalg.svd(big, compute_uv=False)
        assert (s > 1e-10 * s[0]).sum() < 4


def test_exactly_dependent_and_zero_columns_are_dropped():
    x = _design()
    seconds = 1.67e9 + 604800.0 * np.arange(60)  # a timestamp: intercept + trend
    x = np.column_stack([x, seconds, np.zeros(60)])
    basis = column_basis(x)
    assert basis.shape == (60, 4)
    np.testing.assert_allclose(basis.T @ basis, np.eye(4), atol=1e-12)
    assert column_basis(np.zeros((5, 0))).shape == (5, 0)


def test_lstsq_columns_fits_in_the_columns_own_units():
    x = _design()
    x[:, 3] *= 1e9
    coef = np.array([2.0, -1.0, 0.5, 3e-9])
    y = x @ coef
    np.testing.assert_allclose(lstsq_columns(x, y), coef, rtol=1e-8)
    two = lstsq_columns(x, np.column_stack([y, 2 * y]))
    np.testing.assert_allclose(two[:, 1], 2 * coef, rtol=1e-8)
    assert column_norms(np.zeros((3, 2))).tolist() == [1.0, 1.0]
