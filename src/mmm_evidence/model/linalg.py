"""Least squares on designs whose columns come in any units.

A baseline design holds an intercept, a trend, Fourier terms and the tenant's controls as they
come: a price index near 1 beside a competitor's spend in cents (~5e8) or GDP in dollars
(~1e13). A rank cut relative to the largest singular value (SVD, ``lstsq``) then drops the
small columns' directions — the intercept or the trend — and the fit silently loses its
baseline (measured: a control ×1e9 turned a channel's contribution share from 9 % into 177 %).
Equilibrating the columns to unit norm first makes the cut see only real dependence; the
column space, and so every projection, is the same for any units.
"""

from __future__ import annotations

import numpy as np

#: A direction is dropped when its singular value is below this share of the largest, after
#: the columns are scaled to unit norm (exact dependence leaves round-off, ~1e-15).
RANK_RTOL = 1e-10

__all__ = ["RANK_RTOL", "column_basis", "column_norms", "lstsq_columns"]


def column_norms(x: np.ndarray) -> np.ndarray:
    """Each column's Euclidean norm over the rows of ``x`` (..., N, K); 1 for a zero column
    (so dividing by it leaves the column zero)."""
    norms = np.sqrt((np.asarray(x, dtype=float) ** 2).sum(axis=-2))
    return np.where(norms > 0, norms, 1.0)


def column_basis(x: np.ndarray, rtol: float = RANK_RTOL) -> np.ndarray:
    """An orthonormal basis (N, rank) of the column space of ``x`` (N, K): the columns are
    scaled to unit norm before the rank is cut at ``rtol`` × the largest singular value, so
    zero columns and exactly dependent ones are dropped whatever their units."""
    x = np.asarray(x, dtype=float)
    if x.shape[1] == 0:
        return x[:, :0]
    u, s, _ = np.linalg.svd(x / column_norms(x), full_matrices=False)
    keep = s > rtol * max(float(s[0]), 1e-300) if s.size else np.zeros(0, bool)
    return u[:, keep]


def lstsq_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``np.linalg.lstsq(x, y)``'s minimum-norm solution computed on unit-norm columns (the
    same fit, with the rank cut at ``RANK_RTOL`` independent of the columns' units); the
    coefficients are in ``x``'s own units."""
    x = np.asarray(x, dtype=float)
    norms = column_norms(x)
    coef, *_ = np.linalg.lstsq(x / norms, y, rcond=RANK_RTOL)
    return coef / (norms[:, None] if np.ndim(coef) == 2 else norms)
