"""Forecast accuracy metrics on a series of actuals and predictions, and the contribution
slope of a channel's estimates."""

from __future__ import annotations

import numpy as np


def _pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(actual, dtype=float).reshape(-1)
    p = np.asarray(predicted, dtype=float).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"actual has {y.size} values, predicted {p.size}")
    if y.size == 0:
        raise ValueError("no values to score")
    return y, p


def r2(actual, predicted) -> float:
    """Coefficient of determination 1 − SSE/SST (can be negative; NaN if actuals are constant)."""
    y, p = _pair(actual, predicted)
    sst = float(((y - y.mean()) ** 2).sum())
    if sst == 0.0:
        return float("nan")
    return 1.0 - float(((y - p) ** 2).sum()) / sst


def mape(actual, predicted) -> float:
    """Mean absolute percentage error, as a fraction, over weeks with a non-zero actual."""
    y, p = _pair(actual, predicted)
    keep = y != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs((y[keep] - p[keep]) / y[keep])))


def nrmse(actual, predicted) -> float:
    """Root mean squared error divided by the range of the actuals (Robyn's convention)."""
    y, p = _pair(actual, predicted)
    span = float(y.max() - y.min())
    return rmse(y, p) / span if span > 0 else float("nan")


def rmse(actual, predicted) -> float:
    """Root mean squared error."""
    y, p = _pair(actual, predicted)
    return float(np.sqrt(np.mean((y - p) ** 2)))


def scores(actual, predicted) -> dict[str, float]:
    """{"r2", "mape", "nrmse", "rmse"} of a prediction."""
    return {"r2": r2(actual, predicted), "mape": mape(actual, predicted),
            "nrmse": nrmse(actual, predicted), "rmse": rmse(actual, predicted)}


def skill_score(model_error, baseline_error) -> float:
    """1 − model error / baseline error: above 0 when the model's error is the smaller one,
    1 for a perfect model; NaN when either error is missing or not finite, or the baseline's
    error is 0 or rounding noise next to the model's (below ``EXACT_FIT`` times it: a
    baseline that fits exactly leaves nothing to improve on, and the ratio would be a
    meaningless -1e13)."""
    try:
        m, b = float(model_error), float(baseline_error)
    except (TypeError, ValueError):
        return float("nan")
    if not (np.isfinite(m) and np.isfinite(b)) or b <= EXACT_FIT * abs(m) or b == 0.0:
        return float("nan")
    return 1.0 - m / b


#: A baseline error below this fraction of the model's is an exact fit (``skill_score``).
EXACT_FIT = 1e-9


def contribution_slope(elasticity: float, share: float) -> float | None:
    """A channel's elasticity / its contribution share: the % its contribution moves per 1 %
    of its spend (1 for a straight-line response, towards 0 for one saturated at today's
    spend); None for a share that is not positive (no contribution to move)."""
    return elasticity / share if share > 0 else None
