"""MMM v2: a segment-level media mix model fitted by variable projection.

For segment g and week t::

    KPI[g,t] = baseline_g(t) + sum_c beta_c * size_g * Hill(Adstock(spend[g,:,c] / size_g)[t])

- baseline_g(t): per-segment intercept, linear trend, Fourier yearly seasonality (on a fit of
  at least ``seasonality_min_weeks``, a year: ``yearly_order``) and controls;
- the media response (decay, half-saturation, shape, beta >= 0) is shared by all segments and
  acts on per-capita spend, so national data is simply the one-segment case;
- geometric adstock is normalised (weights sum to one) and starts at a steady state equal to
  the mean of the first weeks' spend; the Hill half-saturation is kept in absolute per-capita
  spend units, so scaling spend changes the response as it should;
- a channel's spend may enter the adstock delayed by 0 to ``max_delay_weeks`` weeks (the
  weeks before the data at the steady-state level), chosen per channel by an extended BIC
  after the fit (``MMM._choose_delays``): an effect that peaks weeks after the spend, which
  a geometric adstock starting in the week of the spend cannot express, otherwise drives
  large channels' estimates towards zero (benchmarks/foreign.py, delayed adstock on geo
  data: median error of the gate's channels 0.79 without delays, 0.47 with them, 0.99 and 0.50
  with the optimum decays; on data of
  this form hardly any delay is chosen: none on recovery.py's 240 tenants, 1 of foreign.py's
  227 own-form channels).

Fit: for given nonlinear parameters (decay, half-saturation, shape per channel) the linear
ones are an exact least-squares solve — the per-segment baseline is projected out
(Frisch-Waugh-Lovell) and the media coefficients come from non-negative least squares.
The nonlinear parameters are optimised with scipy's bounded trust-region least squares
from several seeded starts, under a weak prior (documented in ``PRIOR``) that keeps shape
and half-saturation off their bounds when the data cannot tell, and a weak one-sided prior
against increasing returns at today's spend (``RETURNS_PRIOR``) and its mirror against a
response saturated flat there (``FLAT_PRIOR``). Rows are weighted by the
inverse of each segment's residual scale (feasible weighted least squares), so small and
large segments count by their information, not by their revenue. By default
(``decay_estimate: profile_median``) each channel's decay is then reported as the median of
its profile posterior instead of the optimum, and the rest of the media response refitted at
those decays (``MMM._summarise_decays``): the optimum of a weakly identified decay sits at the
steep end of a flat objective and over-states total media. The media coefficients are likewise
reported as the marginal medians of their posterior given the fitted response
(``coefficient_estimate: posterior_median``, ``positive_posterior_median``) instead of the
non-negative least-squares mode, which puts a channel the data cannot tell from none at
exactly zero.
"""

from __future__ import annotations

import copy
import json
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.lift import LiftTest
from mmm_evidence.data.panel import Panel
from mmm_evidence.model.elasticity import spend_elasticities
from mmm_evidence.model.linalg import column_basis, lstsq_columns
from mmm_evidence.model.transforms import (
    delay_spend,
    geometric_adstock,
    hill,
    hill_derivative,
    imported_on_first_call,
    steady_state_start,
)

# scipy's optimiser and filter, imported on their first call (see imported_on_first_call)
least_squares = imported_on_first_call("scipy.optimize", "least_squares", globals())
nnls = imported_on_first_call("scipy.optimize", "nnls", globals())
log_ndtr = imported_on_first_call("scipy.special", "log_ndtr", globals())
ndtri = imported_on_first_call("scipy.special", "ndtri", globals())
lfilter = imported_on_first_call("scipy.signal", "lfilter", globals())

MODEL_VERSION = "mmm_v2.1"

#: The weak prior on the nonlinear parameters, as (mean, sd) on the optimiser's scale:
#: decay in [0, max_decay]; log of half-saturation relative to the channel's mean per-capita
#: spend; log of the Hill shape. Each adds ((p - mean) / sd)^2 * prior_strength to the
#: weighted sum of squares, in which a data residual counts about one unit.
PRIOR: dict[str, tuple[float, float]] = {
    "decay": (0.35, 0.35),
    "log_half_saturation": (0.0, 1.0),
    "log_shape": (math.log(1.5), 0.6),
}

#: The weak one-sided prior against increasing returns at today's spend, as (threshold, sd):
#: e = d log Hill / d log spend at the channel's typical per-capita spend (its mean over the
#: segment-weeks with spend) is the response's log-slope there; e < 1 is diminishing returns,
#: e > 1 increasing ones (doubling spend would more than double the effect). Each channel adds
#: (max(e - threshold, 0) / sd)^2 * prior_strength, so an S-curve that claims increasing
#: returns at today's spend has to be paid for by the data. Measured on the random recovery
#: panel (never the default tenants; benchmarks/recovery.py): without it the fit claimed
#: increasing returns over a doubling for 33 of 272 channels whose true response saturates.
RETURNS_PRIOR: tuple[float, float] = (1.0, 0.25)

#: Its mirror, the weak one-sided prior against a flat response at today's spend, as
#: (threshold, sd) on the same log-slope e: each channel adds
#: (min(e - threshold, 0) / sd)^2 * prior_strength. Below e = 0.1, 10 % more spend adds under
#: 1 % to the channel's effect: its contribution is then a near-constant that the data cannot
#: tell from the segment baselines, and without this prior its level - the contribution share
#: and ROI - was whatever the optimiser happened to leave there (benchmarks/recovery.py: 8 of
#: 827 judged channels fitted that flat, their shares over-stated by a median 12 pp, though no
#: true response on that panel is; with it 2). A response the data shows flat still wins:
#: e = 0.05 costs one residual unit. The 0.1 is the same round a-priori bound as the
#: flat-response report's default (gates.identification.min_contribution_slope), not fitted to
#: any tenant.
FLAT_PRIOR: tuple[float, float] = (0.1, 0.05)

#: At most this many sweeps of the delay choice (``MMM._choose_delays``), each followed by a
#: refit of the media parameters; the decays each delay is also screened with
#: (``screen_delays``).
DELAY_SWEEPS = 3
DELAY_DECAYS = (0.0, 0.25, 0.5, 0.75)

#: ``decay_estimate: profile_median`` (``MMM._summarise_decays``): each channel's decay profile
#: is evaluated at this many decays evenly spaced over [0, max_decay], each with the other
#: media parameters re-optimised for at most ``DECAY_PROFILE_NFEV`` evaluations, walking
#: outwards from the fit (``_decay_profile``; 30 and 100 evaluations gave the same profiles on
#: the recovery panel, and so did solving each node from the fit instead of walking).
DECAY_PROFILE = 10
DECAY_PROFILE_NFEV = 30
#: A profile node's solve stops once a step lowers the objective by less than this (in
#: objective units; scipy's relative ``ftol`` is set from it and the fit's objective, within
#: [1e-8, 1e-4]): a node's density is then known to about 0.1 %, far finer than the grid moves
#: the median. Probe (2026-12-02, 6 random tenants of 3-12 channels, 1-20 segments): against
#: the fit's own ftol of 1e-8, 2.6-5.0 instead of 4.6-8.0 evaluations per node, fits 1.1-1.8 x
#: faster (the most with the most channels), no elasticity moved by more than 7e-5 relative
#: (0.01 moved one by 0.5 %).
DECAY_PROFILE_COST_TOLERANCE = 1e-3
#: A profile whose grid neighbours of the fitted decay are both at least this far above the
#: optimum (in objective units: exp(-2) of the density) is sharper than the grid can resolve:
#: the fitted decay is kept, since interpolating between such nodes would only move it off
#: the peak.
DECAY_PROFILE_SHARP = 2.0
#: A profile walk (``_decay_profile``) stops after the first node this far above the optimum
#: (in objective units: its density is exp(-8) = 3e-4 of the peak's; the nodes beyond carry
#: none, and a second basin beyond such a barrier is not looked for). An unrecorded probe on
#: 60 recovery tenants (10 per shape x noise, variants interleaved per tenant in one run):
#: against solving every node from the fit, the walk with this cutoff moved no elasticity by
#: more than 0.5 % (p99 0.14 %) and cut the fits' CPU by 22 % (a cutoff of 10: 18 %; 6: 26 %,
#: moving one by 0.7 %). What the barrier hides, measured on foreign.py and baseline_form.py:
#: docs/model.md, "the walk replaced solving every node from the fit".
DECAY_PROFILE_CUTOFF = 8.0
#: A profile node more than this below the fit's objective shows that the fit is not the
#: optimum (the multi-start missed a basin the walk reached): the fit is then re-optimised from
#: that node and profiled again, at most ``DECAY_PROFILE_REFITS`` times (``_summarise_decays``).
#: An unrecorded probe: 8 of 60 recovery tenants (10 per shape x noise) had such a node, 5 of
#: them more than 0.5 below.
DECAY_PROFILE_REFIT_TOLERANCE = 0.01
DECAY_PROFILE_REFITS = 2
#: ``profile_temperature``: the residuals' lag-1 autocorrelation is capped here (a factor of
#: 19 in time), so a near-unit-root residual series cannot flatten a profile without bound.
PROFILE_MAX_RHO = 0.9


def profile_cdf(grid: np.ndarray, costs: np.ndarray, fitted: float, fitted_cost: float,
                upper: float) -> tuple[np.ndarray, np.ndarray] | None:
    """A one-parameter profile posterior on [0, ``upper``] as (points, unnormalised cdf):
    ``costs`` are the objective (-log density up to a constant) at the ``grid`` points and
    ``fitted_cost`` its value at the fit, ``fitted``; the objective is interpolated linearly
    between these nodes and the density exp(-objective) integrated by the trapezoid rule on a
    fine grid. None when the profile does not describe the parameter better than its fit:
    when the fit is the profile's lowest node and its grid neighbours (the nearest nodes on
    either side more than a tenth of a grid step from it) are all at least
    ``DECAY_PROFILE_SHARP`` above it (sharper than the grid resolves), or when a cost is not
    a number (a profile that cannot be read). A cost of +inf is a node a profile walk did not
    evaluate (``_decay_profile``: beyond its cutoff); it carries no density, nor does the
    stretch between it and the nearest evaluated node (no node evaluated at all: None)."""
    grid, costs = np.asarray(grid, dtype=float), np.asarray(costs, dtype=float)
    if np.isnan(costs).any() or not math.isfinite(fitted_cost):
        return None
    apart = 0.1 * (grid[-1] - grid[0]) / max(grid.size - 1, 1)  # a node this close IS the fit
    fine = np.linspace(0.0, upper, 20 * grid.size + 1)
    known = np.isfinite(costs)  # +inf: a node beyond a walk's cutoff (_decay_profile)
    if not known.any():  # no node evaluated: nothing to read but the fit
        return None
    grid, costs = grid[known], costs[known]
    floor = min(fitted_cost, float(costs.min(initial=math.inf)))
    below, above = grid < fitted - apart, grid > fitted + apart
    neighbours = ([costs[below][-1]] if below.any() else []) + (
        [costs[above][0]] if above.any() else [])
    if (fitted_cost <= floor and neighbours
            and min(neighbours) - fitted_cost >= DECAY_PROFILE_SHARP):
        return None
    nodes, values = np.append(grid, fitted), np.append(costs, fitted_cost) - floor
    order = np.argsort(nodes, kind="stable")
    nodes, values = nodes[order], values[order]
    fine = np.union1d(fine, nodes)
    density = np.exp(-np.interp(fine, nodes, values))
    density[(fine < nodes[0]) | (fine > nodes[-1])] = 0.0  # beyond a walk's cutoff
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(fine))])
    return fine, cdf


def profile_quantile(points: np.ndarray, cdf: np.ndarray, q: float) -> float:
    """The ``q`` quantile (0 < q < 1) of a ``profile_cdf``: linear between its points."""
    target = q * cdf[-1]
    i = min(max(int(np.searchsorted(cdf, target)), 1), cdf.size - 1)  # cdf[i-1] < t <= cdf[i]
    step = cdf[i] - cdf[i - 1]
    share = (target - cdf[i - 1]) / step if step > 0 else 0.0
    return float(points[i - 1] + share * (points[i] - points[i - 1]))


def profile_median(grid: np.ndarray, costs: np.ndarray, fitted: float, fitted_cost: float,
                   upper: float) -> float:
    """The median of the ``profile_cdf`` of these arguments; ``fitted`` when it is None (a
    profile sharper than the grid, or one that cannot be read, changes nothing)."""
    cdf = profile_cdf(grid, costs, fitted, fitted_cost, upper)
    return float(fitted) if cdf is None else profile_quantile(*cdf, 0.5)


#: ``coefficient_estimate: posterior_median`` (``positive_posterior_median``): the Gibbs
#: sampler's independent chains, and its sweeps per chain (burn-in, then kept). The chains
#: start from draws of the unconstrained posterior clipped to beta >= 0, so a short burn-in
#: suffices; with 128 x 20 kept draws the medians agree with exact rejection sampling to
#: within 5 % of a posterior sd (tests/model/test_coefficients.py). A fixed random stream
#: (``COEFFICIENT_STREAM``, whatever the fit's seed), so the same data and media response
#: always give the same medians.
COEFFICIENT_CHAINS = 128
COEFFICIENT_SWEEPS = (40, 20)
COEFFICIENT_STREAM = zlib.crc32(b"coefficient posterior")
#: Every unconstrained coefficient at least this many of its marginal posterior sds above
#: zero: the posterior medians are the unconstrained least-squares solution, exactly
#: (P(z < -5) = 3e-7 of each marginal lies outside the orthant).
COEFFICIENT_EXACT_Z = 5.0


def positive_posterior_median(a: np.ndarray, b: np.ndarray, mode: np.ndarray, dof: int,
                              rng: np.random.Generator, chains: int = COEFFICIENT_CHAINS,
                              sweeps: tuple[int, int] = COEFFICIENT_SWEEPS) -> np.ndarray:
    """The marginal posterior medians of beta in b = a beta + e, e ~ N(0, s^2), under a flat
    prior on beta >= 0: the posterior is the Gaussian of the unconstrained least squares
    truncated to the positive orthant, drawn by a Gibbs sampler (each coordinate a truncated
    normal given the others, inverse-CDF in log space), ``chains`` chains vectorised.

    ``mode`` is the constrained least-squares solution (NNLS: the posterior's mode) and s^2
    its residual sum of squares over ``dof`` - (live columns) degrees of freedom (``dof``: the
    rows less the parameters fitted before, e.g. a projected-out baseline). A zero column
    keeps its zero coefficient; without residual degrees of freedom, or with an exact fit,
    the posterior is the mode itself. Where the mode puts a coefficient at exactly zero — the
    data cannot tell the channel from none — the median is a fraction of its posterior sd
    above zero; a coefficient many sds from zero keeps its mode."""
    a = np.asarray(a, dtype=float)
    mode = np.asarray(mode, dtype=float)
    out = np.zeros_like(mode)
    live = np.flatnonzero((a**2).sum(axis=0) > 0)
    k = live.size
    if k == 0:
        return out
    resid = b - a @ mode
    df = dof - k
    s2 = float(resid @ resid) / df if df > 0 else 0.0
    if not (math.isfinite(s2) and s2 > 0.0):
        out[live] = mode[live]
        return out
    scale = np.sqrt((a[:, live] ** 2).sum(axis=0))  # unit-norm columns: any spend units
    al = a[:, live] / scale
    centre = lstsq_columns(al, b)  # a solution of the normal equations (minimum norm)
    # the coordinates in a canonical order (by their unconstrained value), so the draws do
    # not depend on the order the channels come in
    order = np.argsort(centre, kind="stable")
    al, centre = al[:, order], centre[order]
    prec = al.T @ al / s2
    d = np.diag(prec).copy()
    sd = 1.0 / np.sqrt(d)
    w, v = np.linalg.eigh(prec)
    ok = w > max(float(w[-1]), 0.0) * 1e-12
    result = np.empty(k)
    if ok.all():
        marginal_sd = np.sqrt(np.diag((v / w) @ v.T))
        if np.all(centre >= COEFFICIENT_EXACT_Z * marginal_sd):
            # the orthant holds all but ~1e-7 of each marginal: the truncation moves no
            # median measurably, which is then the unconstrained solution itself (exact, and
            # free of the sampler's Monte Carlo error)
            result[order] = centre
            out[live] = result / scale
            return out
        # starts drawn through the Cholesky factor (unique, unlike eigenvectors' signs)
        chol = np.linalg.cholesky(prec)
        x = centre + np.linalg.solve(chol.T, rng.standard_normal((k, chains))).T
    else:  # exactly collinear columns: the posterior is bounded by beta >= 0 alone there
        x = centre + (rng.standard_normal((chains, int(ok.sum()))) / np.sqrt(w[ok])) @ v[:, ok].T
    x = np.maximum(x, 0.0)  # in the scaled coefficients
    burn, keep = sweeps
    # the conditional means each kept update drew from: the marginal's CDF is their
    # conditionals' average (Rao-Blackwell), with far less Monte Carlo error than the draws'
    conditional = np.empty((keep, chains, k))
    for sweep in range(burn + keep):
        for c in range(k):
            # beta_c given the others: N(m, sd_c^2) from the quadratic form, truncated at 0
            m = centre[c] - ((x - centre) @ prec[c] - d[c] * (x[:, c] - centre[c])) / d[c]
            if sweep >= burn:
                conditional[sweep - burn, :, c] = m
            alpha = np.minimum(-m / sd[c], 35.0)  # beta_c >= 0 <=> z >= alpha
            log_u = np.log1p(-rng.random(chains))  # log of a uniform in (0, 1]
            p = np.clip(np.exp(log_u + log_ndtr(-alpha)), 1e-300, 1.0 - 1e-16)
            x[:, c] = np.maximum(m - sd[c] * ndtri(p), 0.0)
    for c in range(k):
        result[order[c]] = _truncated_mixture_median(conditional[:, :, c].ravel(), sd[c])
    out[live] = result / scale
    return out


def _truncated_mixture_median(means: np.ndarray, sd: float, iterations: int = 60) -> float:
    """The median of the equal mixture of N(mean_i, sd^2) truncated to [0, inf): bisection on
    its survival function, mean_i P(X > t | X >= 0) = Phi((m_i - t) / sd) / Phi(m_i / sd),
    taken in log space (a component far below zero keeps its mass just above it)."""
    log_mass = log_ndtr(means / sd)
    low, high = 0.0, max(float(means.max()), 0.0) + 12.0 * sd
    for _ in range(iterations):
        t = 0.5 * (low + high)
        if np.mean(np.exp(log_ndtr((means - t) / sd) - log_mass)) > 0.5:
            low = t
        else:
            high = t
    return 0.5 * (low + high)


def _with(theta: np.ndarray, index, values) -> np.ndarray:
    """A copy of ``theta`` with ``theta[index] = values``."""
    out = np.array(theta, dtype=float)
    out[index] = values
    return out


def _relative_ftol(cost_tolerance: float, cost: float) -> float:
    """scipy's relative ``ftol`` for a solve that should stop once a step lowers the objective
    (about ``cost``) by less than ``cost_tolerance`` objective units, within [1e-8, 1e-4]."""
    return min(max(cost_tolerance / max(cost, 1e-300), 1e-8), 1e-4)


def _least_squares_holding(problem: _Problem, theta: np.ndarray, weights: np.ndarray,
                           fixed: np.ndarray, lower: np.ndarray, upper: np.ndarray, nfev: int,
                           ftol: float = 1e-8):
    """Optimise the media parameters other than ``theta[fixed]`` (held at their values in
    ``theta``) from ``theta``, for at most ``nfev`` evaluations, until a step lowers the
    objective by less than ``ftol`` of it; the result in the form of ``least_squares``' (its
    ``x`` the full theta)."""
    free = np.setdiff1d(np.arange(theta.size), fixed)

    def full(u: np.ndarray) -> np.ndarray:
        return _with(theta, free, u)

    result = least_squares(
        lambda u: problem.residuals(full(u), weights),
        np.clip(theta[free], lower[free] + 1e-6, upper[free] - 1e-6),
        jac=lambda u: problem.jacobian(full(u), weights)[:, free],
        bounds=(lower[free], upper[free]), method="trf", x_scale=1.0,
        ftol=ftol, xtol=1e-8, gtol=1e-8, max_nfev=nfev)
    result.x = full(result.x)
    return result


def _decay_profile(problem: _Problem, fitted, channel: int, grid: np.ndarray,
                   weights: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """The objective at each ``grid`` decay of ``channel`` with the other media parameters
    re-optimised (``DECAY_PROFILE_NFEV``, to within ``DECAY_PROFILE_COST_TOLERANCE``), and the
    lowest node's solve (``least_squares``' result, its ``x`` the full theta). The nodes are
    walked outwards from the one nearest the fitted decay, each solve started from the
    previous node's optimum (continuation: a near start, fewer evaluations); a walk stops
    after the first node more than ``DECAY_PROFILE_CUTOFF`` above the fit, and the nodes
    beyond it are +inf (not evaluated: their density is below exp(-cutoff) of the peak's)."""
    x0 = np.asarray(fitted.x, dtype=float)
    ftol = _relative_ftol(DECAY_PROFILE_COST_TOLERANCE, float(fitted.cost))
    costs = np.full(grid.size, np.inf)
    lowest = None
    first = int(np.argmin(np.abs(grid - x0[3 * channel])))
    for walk in (range(first, grid.size), range(first - 1, -1, -1)):
        theta = x0
        for i in walk:
            result = _least_squares_holding(problem, _with(theta, 3 * channel, grid[i]),
                                            weights, np.array([3 * channel]), lower, upper,
                                            DECAY_PROFILE_NFEV, ftol)
            costs[i], theta = result.cost, result.x
            if lowest is None or result.cost < lowest.cost:
                lowest = result
            if result.cost - fitted.cost > DECAY_PROFILE_CUTOFF:
                break
    return costs, lowest


class NotFittedError(RuntimeError):
    """The model was used before ``fit``."""


@dataclass
class FitDiagnostics:
    objective: float
    n_starts: int
    start_objectives: list[float]
    converged: bool
    bounds_hit: list[str]
    n_observations: int
    n_linear_parameters: int
    residual_scale: list[float] = field(default_factory=list)
    calibration: list[str] = field(default_factory=list)
    #: decay, half-saturation and shape per channel when they were fitted; 0 for fit_fixed
    n_nonlinear_parameters: int = 0
    #: times a decay profile found a node below the fit and the fit was re-optimised from it
    #: (``MMM._summarise_decays``): the multi-start had missed a better optimum
    profile_refits: int = 0
    #: how far those re-fits lowered the optimum's objective (0 without a re-fit)
    profile_refit_gain: float = 0.0
    #: after the last re-fit allowed (``DECAY_PROFILE_REFITS``) a profile node still lay more
    #: than ``DECAY_PROFILE_REFIT_TOLERANCE`` below the fit: the fit is not the optimum
    profile_below_fit: bool = False

    @property
    def residual_dof(self) -> int:
        """Observations left after every fitted parameter (n - p)."""
        return self.n_observations - self.n_linear_parameters - self.n_nonlinear_parameters


def yearly_order(fourier_order: int, n_weeks: int, min_weeks: int) -> int:
    """The Fourier order of the yearly seasonality a fit on ``n_weeks`` weeks uses:
    ``fourier_order``, or 0 below ``min_weeks`` (``ModelSettings.seasonality_min_weeks``,
    a year by default). Less than one yearly
    cycle cannot tell the seasonal terms from the trend and the intercept, and a fit that
    estimates them anyway extrapolates them wildly (Robyn's simulated data cut to 34 training
    weeks: holdout R² -22 with order 2, 0.34 without)."""
    return fourier_order if n_weeks >= min_weeks else 0


def yearly_harmonics(dates: pd.DatetimeIndex, orders: Iterable[int]) -> list[np.ndarray]:
    """sin and cos of 2π k × the fraction of the year of each date, for each k of ``orders``
    (the yearly terms of the baseline; day of year − 1 over 365.25)."""
    year_fraction = (pd.DatetimeIndex(dates).day_of_year.to_numpy() - 1) / 365.25
    return [f(2 * np.pi * k * year_fraction) for k in orders for f in (np.sin, np.cos)]


def baseline_design(dates: pd.DatetimeIndex, controls: np.ndarray, origin: pd.Timestamp,
                    scale_weeks: float, fourier_order: int, trend: bool) -> np.ndarray:
    """Per-segment baseline design (G, T, p): intercept, trend, Fourier terms, controls."""
    g_n, t_n, k_n = controls.shape
    cols = [np.ones(t_n)]
    if trend:
        cols.append(((dates - origin).days.to_numpy() / 7.0) / scale_weeks)
    cols += yearly_harmonics(dates, range(1, fourier_order + 1))
    common = np.stack(cols, axis=-1)  # (T, q)
    common = np.broadcast_to(common, (g_n, t_n, common.shape[1]))
    return np.concatenate([common, controls], axis=-1)


def typical_spend(per_capita: np.ndarray) -> np.ndarray:
    """Per channel, the mean per-capita spend over the segment-weeks that have spend (C,);
    1.0 for a channel without any (per_capita is (G, T, C))."""
    positive = per_capita > 0
    count = positive.sum(axis=(0, 1))
    total = np.where(positive, per_capita, 0.0).sum(axis=(0, 1))
    return np.where(count > 0, total / np.maximum(count, 1), 1.0)


def hill_log_slope(log_level: np.ndarray, theta: np.ndarray):
    """Log-slope e = d log Hill(a) / d log a = shape / (1 + (a / K)^shape) per channel at
    the level a with log(a / reference) = ``log_level`` (C,), for the optimiser's theta
    ([decay, log(K / reference), log(shape)] per channel); also de / d log(K / reference)
    and de / d log(shape), each (C,)."""
    t = np.asarray(theta, dtype=float).reshape(-1, 3)
    shape = np.exp(t[:, 2])
    u = np.asarray(log_level, dtype=float) - t[:, 1]  # log(a / K)
    r = np.exp(np.clip(shape * u, -60.0, 60.0))
    e = shape / (1.0 + r)
    de_dk = shape * shape * r / (1.0 + r) ** 2
    de_ds = shape * (1.0 / (1.0 + r) - shape * u * r / (1.0 + r) ** 2)
    return e, de_dk, de_ds


def _orthonormal_basis(x: np.ndarray) -> np.ndarray:
    """Per segment, an orthonormal basis of the column space of x[g] (padded with zeros),
    whatever the units of its columns (``linalg.column_basis``)."""
    g_n, t_n, p = x.shape
    q = np.zeros((g_n, t_n, min(t_n, p)))
    for g in range(g_n):
        basis = column_basis(x[g])
        q[g, :, : basis.shape[1]] = basis
    return q



def _adstock(x: np.ndarray, decay: float, delay: int, derivatives: bool):
    """One channel's adstock of per-capita spend x (G, T) delayed by ``delay`` weeks, and with
    ``derivatives`` its derivative by the decay (else None)."""
    x = delay_spend(x, delay)
    start = steady_state_start(x)
    a = geometric_adstock(x, decay, start)
    if not derivatives:
        return a, None
    # a_t = decay*a_{t-1} + (1-decay)*x_t, so da_t = a_{t-1} - x_t + decay*da_{t-1}
    step = np.empty_like(a)
    step[:, 0] = start
    step[:, 1:] = a[:, :-1]
    step -= x
    return a, (lfilter([1.0], [1.0, -decay], step, axis=-1) if decay > 0 else step)


def _hill_response(a: np.ndarray, da: np.ndarray | None, log_k, log_s, reference,
                   size: np.ndarray):
    """size * Hill(a) for adstock levels a, the half-saturation exp(log_k) * reference and the
    shape exp(log_s) (scalars, or arrays along a's last axis); with the adstock's derivative
    by the decay ``da`` (else None) also the derivative by (decay, log K/reference, log shape)
    stacked on a new last axis. ``size`` broadcasts against a."""
    shape = np.exp(log_s)
    ratio = np.maximum(a, 0.0) / (np.exp(log_k) * reference)
    with np.errstate(divide="ignore"):
        log_ratio = np.log(ratio)  # -inf where a = 0, where the response is exactly 0
    r = np.exp(shape * log_ratio)  # (a / K)^shape
    below = 1.0 / (1.0 + r)  # 1 - Hill
    hill = r * below
    out = size * hill
    if da is None:
        return out
    # Hill = r / (1 + r) with log r = shape * (log a - log K): d Hill = Hill (1 - Hill) d log r
    slope = size * shape * hill * below  # d (size Hill) / d log a
    positive = ratio > 0
    grad = np.zeros(a.shape + (3,))
    np.divide(slope * da, a, out=grad[..., 0], where=positive)
    np.negative(slope, out=grad[..., 1])
    np.multiply(slope, log_ratio, out=grad[..., 2], where=positive)
    return out, grad


def channel_response(x: np.ndarray, decay: float, log_k: float, log_s: float,
                     size: np.ndarray, reference: float, derivatives: bool = False,
                     delay: int = 0):
    """One channel's regressor size_g * Hill(adstock(x delayed by ``delay`` weeks)) (G, T) for
    per-capita spend x (G, T); with ``derivatives`` also its derivative by (decay,
    log K/reference, log shape), (G, T, 3)."""
    a, da = _adstock(x, decay, delay, derivatives)
    return _hill_response(a, da, log_k, log_s, reference, size[:, None])


def media_design(per_capita: np.ndarray, theta: np.ndarray, size: np.ndarray,
                 reference: np.ndarray, derivatives: bool = False,
                 delays: Sequence[int] | np.ndarray | None = None):
    """Media regressors size_g * Hill(adstock(per-capita spend)) (G, T, C) for the stacked
    parameters theta = [decay, log(K / reference), log(shape)] per channel, each channel's
    spend delayed by its ``delays`` weeks (None: none); with ``derivatives`` also
    d regressor / d theta, (G, T, C, 3). The adstock runs per channel, the saturation on
    all channels at once."""
    g_n, t_n, c_n = per_capita.shape
    t = np.asarray(theta, dtype=float).reshape(c_n, 3)
    a = np.empty((g_n, t_n, c_n))
    da = np.empty((g_n, t_n, c_n)) if derivatives else None
    for c in range(c_n):
        a[:, :, c], dac = _adstock(per_capita[:, :, c], float(t[c, 0]),
                                   0 if delays is None else int(delays[c]), derivatives)
        if derivatives:
            da[:, :, c] = dac
    return _hill_response(a, da, t[:, 1], t[:, 2], np.asarray(reference, dtype=float),
                          size[:, None, None])


@dataclass(frozen=True)
class LiftRow:
    """A lift test in model coordinates: channel index, the channel's per-capita spend with
    the test's change applied (G, T), the measured weeks [t0, t1), measured lift and its SE."""

    channel: int
    changed: np.ndarray
    t0: int
    t1: int
    lift: float
    se: float
    label: str = ""


#: A media regressor whose part off the baseline is at most this share of its size is taken
#: as no information (``_Problem._weighted``): what is left is round-off or the rounding of
#: spend recorded to the cent (measured: 5000.00 every week with cents' noise gave an
#: elasticity of 4593), not variation a coefficient can be estimated from.
MEDIA_RTOL = 1e-6


class _Problem:
    """The weighted, baseline-projected least-squares problem of one fit (variable projection).

    Residuals r(theta) = w_g * (M y - M Z(theta) beta(theta)) with M the per-segment projection
    off the baseline design and beta(theta) >= 0 the exact NNLS solution, plus the prior's
    z-scores. The Jacobian is the Kaufman variable-projection approximation, analytic.
    """

    def __init__(self, x, y, per_capita, size, reference, prior_mean, prior_sd,
                 lift_rows: tuple[LiftRow, ...] = (), returns_scale: float | None = None,
                 derivatives_with_residuals: bool = False):
        self.x, self.y, self.per_capita = x, y, per_capita
        self.size, self.reference = size, reference
        self.prior_mean, self.prior_sd = prior_mean, prior_sd
        # sqrt(prior_strength) for the returns priors (``_returns``); None: off
        self.returns_scale = returns_scale
        self.log_typical = np.log(typical_spend(per_capita) / reference)
        self.lift_rows = tuple(lift_rows)
        self.g_n, self.t_n, self.c_n = per_capita.shape
        #: per channel, the weeks its spend is delayed before the adstock (``set_delays``)
        self.delays = np.zeros(self.c_n, dtype=int)
        self.q = _orthonormal_basis(x)
        self.y_res = self._project_out(y[..., None])[..., 0]
        # an optimiser asks for the Jacobian at most points whose residuals it evaluated: then
        # the media design's derivatives are computed with the residuals (one adstock pass)
        self.derivatives_with_residuals = derivatives_with_residuals
        self._last: tuple[bytes, tuple] | None = None  # the last linear solve (see _linear)

    def _project_out(self, z: np.ndarray) -> np.ndarray:
        """z minus its per-segment projection on the baseline design; z is (G, T, ...)."""
        shape = z.shape
        flat = z.reshape(self.q.shape[0], self.q.shape[1], -1)
        coef = np.matmul(self.q.transpose(0, 2, 1), flat)  # batched BLAS: einsum's loops
        return (flat - np.matmul(self.q, coef)).reshape(shape)  # cost 10x more here

    def media(self, theta: np.ndarray) -> np.ndarray:
        return media_design(self.per_capita, theta, self.size, self.reference,
                            delays=self.delays)

    def set_delays(self, delays: Sequence[int] | np.ndarray) -> None:
        self.delays = np.asarray(delays, dtype=int).copy()
        self._last = None

    def _media_res(self, z: np.ndarray) -> np.ndarray:
        return self._project_out(z)

    def _lift(self, theta: np.ndarray, derivatives: bool = False):
        """Calibration rows: model lift per unit beta of each test's channel, divided by the
        test's SE (K, C); targets lift / SE (K,); with ``derivatives`` d rows / d theta."""
        k_n = len(self.lift_rows)
        rows, target = np.zeros((k_n, self.c_n)), np.zeros(k_n)
        drows = np.zeros((k_n, self.c_n, 3)) if derivatives else None
        for k, row in enumerate(self.lift_rows):
            c = row.channel
            params = [float(v) for v in theta[3 * c : 3 * c + 3]]
            pieces = [channel_response(x, *params, self.size, self.reference[c], derivatives,
                                       int(self.delays[c]))
                      for x in (row.changed, self.per_capita[:, :, c])]
            window = slice(row.t0, row.t1)
            if derivatives:
                (new, dnew), (old, dold) = pieces
                drows[k, c] = (dnew[:, window] - dold[:, window]).sum(axis=(0, 1)) / row.se
            else:
                new, old = pieces
            rows[k, c] = (new[:, window] - old[:, window]).sum() / row.se
            target[k] = row.lift / row.se
        return (rows, target, drows) if derivatives else (rows, target)

    def _weighted(self, theta: np.ndarray, weights: np.ndarray, z: np.ndarray):
        a = (self._media_res(z) * weights[:, None, None]).reshape(-1, self.c_n)
        # a regressor (almost) in the baseline's span - constant spend within each segment, or
        # a response saturated flat - leaves round-off after the projection; scaled up by the
        # NNLS it became a coefficient of 1e18 on the unprojected regressor (contribution
        # shares of 1e12). Such a column carries no information: it gets no coefficient.
        level = np.sqrt(((z * weights[:, None, None]) ** 2).sum(axis=(0, 1)))
        flat = np.sqrt((a**2).sum(axis=0)) <= MEDIA_RTOL * level
        if flat.any():
            a[:, flat] = 0.0
        b = (self.y_res * weights[:, None]).reshape(-1)
        if self.lift_rows:
            rows, target = self._lift(theta)
            a, b = np.vstack([a, rows]), np.concatenate([b, target])
        return a, b

    @staticmethod
    def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        scale = np.sqrt((a**2).sum(axis=0))
        scale = np.where(scale > 0, scale, 1.0)
        beta_scaled, _ = nnls(a / scale, b, maxiter=50 * a.shape[1])
        return beta_scaled / scale

    def _linear(self, theta: np.ndarray, weights: np.ndarray):
        """(a, b, beta, dz): the weighted projected media design and target at theta, their
        NNLS solution, and the media design's derivatives by theta (None unless
        ``derivatives_with_residuals``). The last one is remembered: an optimiser asks for the
        Jacobian at the point whose residuals it has just evaluated, which then needs no second
        media design, projection or solve."""
        key = (theta.tobytes() + np.asarray(weights, dtype=float).tobytes()
               + self.delays.tobytes())
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        if self.derivatives_with_residuals:
            z, dz = media_design(self.per_capita, theta, self.size, self.reference,
                                 derivatives=True, delays=self.delays)
        else:
            z, dz = self.media(theta), None
        a, b = self._weighted(theta, weights, z)
        solved = (a, b, self._nnls(a, b), dz)
        self._last = (key, solved)
        return solved

    def solve(self, theta: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact linear part for theta: (beta >= 0, weighted projected residual)."""
        a, b, beta, _ = self._linear(theta, weights)
        return beta, b - a @ beta

    def _returns(self, theta: np.ndarray):
        """The returns priors' z-scores (C,) and their derivative by theta: increasing returns
        (``RETURNS_PRIOR``) above its threshold, a flat response (``FLAT_PRIOR``) below its
        own; zero between."""
        e, de_dk, de_ds = hill_log_slope(self.log_typical, theta)
        over = e > RETURNS_PRIOR[0]
        under = e < FLAT_PRIOR[0]
        scale = np.where(over, 1.0 / RETURNS_PRIOR[1], np.where(under, 1.0 / FLAT_PRIOR[1], 0.0))
        scale = scale * self.returns_scale
        z = np.where(over, e - RETURNS_PRIOR[0], np.where(under, e - FLAT_PRIOR[0], 0.0)) * scale
        jac = np.zeros((self.c_n, theta.size))
        idx = np.arange(self.c_n)
        jac[idx, 3 * idx + 1] = de_dk * scale
        jac[idx, 3 * idx + 2] = de_ds * scale
        return z, jac

    def residuals(self, theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
        _, r = self.solve(theta, weights)
        parts = [r]
        if self.prior_sd is not None:
            parts.append((theta - self.prior_mean) / self.prior_sd)
        if self.returns_scale is not None:
            parts.append(self._returns(theta)[0])
        return np.concatenate(parts)

    def jacobian(self, theta: np.ndarray, weights: np.ndarray) -> np.ndarray:
        a, _, beta, dz = self._linear(theta, weights)
        if dz is None:
            _, dz = media_design(self.per_capita, theta, self.size, self.reference,
                                 derivatives=True, delays=self.delays)
        dz_res = self._media_res(dz) * weights[:, None, None, None]  # (G, T, C, 3)
        cols = (dz_res * beta[None, None, :, None]).reshape(-1, 3 * self.c_n)
        if self.lift_rows:
            _, _, drows = self._lift(theta, derivatives=True)
            cols = np.vstack([cols, (drows * beta[None, :, None]).reshape(len(drows), -1)])
        active = beta > 0
        if active.any():
            qa, _ = np.linalg.qr(a[:, active])
            cols = cols - qa @ (qa.T @ cols)
        parts = [-cols]
        if self.prior_sd is not None:
            parts.append(np.diag(1.0 / self.prior_sd))
        if self.returns_scale is not None:
            parts.append(self._returns(theta)[1])
        return np.vstack(parts)

    def segment_ranks(self) -> np.ndarray:
        """Per segment, the rank of its baseline design (the basis columns kept): a control
        that the intercept, trend or seasonality already spans adds no parameter."""
        return (np.abs(self.q).sum(axis=1) > 0).sum(axis=1)

    def baseline_rank(self) -> int:
        """The baseline's fitted parameters over all segments."""
        return int(self.segment_ranks().sum())

    def segment_scale(self, theta: np.ndarray) -> np.ndarray:
        """Each segment's residual standard deviation at theta (unweighted fit)."""
        _, r = self.solve(theta, np.ones(self.g_n))
        r = r[: self.g_n * self.t_n].reshape(self.g_n, self.t_n)
        dof = np.maximum(self.t_n - self.segment_ranks() - 1, 1)
        sd = np.sqrt((r**2).sum(axis=1) / dof)
        floor = max(float(np.median(sd)) * 1e-3, 1e-12)
        return np.maximum(sd, floor)


def delay_penalty(delayed: int, channels: int, max_delay: int, n: int) -> float:
    """The extended BIC's penalty (Chen & Chen 2008, gamma = 1) for ``delayed`` of
    ``channels`` channels given one of ``max_delay`` delays each, on ``n`` rows:
    k log n + 2 log(number of such models) = k log n + 2 log(C(channels, k) · max_delay^k).
    Plain BIC (k log n) ignores how many delay patterns were searched: with 4 delays for each
    of 3-8 channels, on 156 weeks of one series (the own form of benchmarks/foreign.py and
    recovery.py's national tenants, whose effects start with the spend) it delayed a channel
    on 12 of 120 recovery tenants, whose errors grew (national 10 %, with the optimum decays:
    median 0.876 to 0.949);
    gamma = 0.5 still delayed 2 of foreign.py's 20 own-form national tenants where gamma = 1
    delayed none (measured with a first-improvement sweep; ``screen_delays``' steepest descent
    delays one there). On geo data, where a delay's evidence grows with the rows, the choice
    hardly matters."""
    if delayed == 0:
        return 0.0
    return (delayed * math.log(n) + 2.0 * math.log(math.comb(channels, delayed))
            + 2.0 * delayed * math.log(max_delay))


def design_effect(residuals: np.ndarray) -> float:
    """How much residuals (G, T) shared by the segments of a week inflate a sum-of-squares gain
    over what independent ones give: 1 + (G − 1) rho, with rho the mean correlation of two
    segments' residuals in the same week (floored at 0). A shock common to every segment in a
    week (Meridian's simulated geo data has one: rho 0.90, 20 geos) makes a regressor that
    follows it look informative far beyond its worth: there the robustness suite's placebo
    channel (a channel's spend shuffled in time), given a delay, took a quarter to two thirds of
    the source channel's elasticity (0 without delays). At 1 the segments are as independent as
    BIC assumes. Residuals that run in streaks in time are left to the penalty: on own-form
    tenants with AR(1) noise of 0.6 no delay was chosen (0 of 20 geo, 0 of 20 national), at 0.85
    on 2 of 20 national ones; inflating the penalty for it too, by (1 + rho_t) / (1 − rho_t),
    cost the delayed geo tenants of foreign.py more (gate value 0.50 -> 0.59 on 20, with the
    optimum decays) than it
    saved."""
    r = np.asarray(residuals, dtype=float)
    g_n = r.shape[0]
    total = float((r**2).sum())
    if g_n < 2 or total <= 0:
        return 1.0
    within = float((r.sum(axis=0) ** 2).sum()) - total
    return 1.0 + (g_n - 1) * max(within / ((g_n - 1) * total), 0.0)


def profile_temperature(residuals: np.ndarray) -> float:
    """How much flatter a decay's profile posterior is than the profile read with every row
    independent (``_summarise_decays``), from the fit's weighted residuals (G, T): the
    variance inflation of a smooth score under residuals that run in streaks in time,
    (1 + rho) / (1 - rho) with rho their lag-1 autocorrelation pooled over the segments
    (floored at 0, capped at ``PROFILE_MAX_RHO``), times their ``design_effect`` across
    segments. A decay's score (how the fit changes with it) is a slow series, shared by the
    segments: as rho goes to 1 its variance under AR(1) residuals goes to this factor, so it
    is the factor's upper end for such a score. Dividing the profile's objective by it is the
    usual curvature adjustment of a likelihood that takes dependent rows as independent
    (quasi-likelihood); the profile median, the reported decay, is read off the profile as it
    is, and the bootstrap draws its decays from the adjusted one (``profile_cdfs``). The
    profile stores the objective whole, so the weak prior's terms are divided too: the
    draws see a slightly weaker prior than the fit."""
    r = np.asarray(residuals, dtype=float)
    total = float((r**2).sum())
    if r.ndim != 2 or r.shape[1] < 3 or total <= 0:
        return 1.0
    rho = float((r[:, 1:] * r[:, :-1]).sum()) / total
    rho = min(max(rho, 0.0), PROFILE_MAX_RHO)
    return (1.0 + rho) / (1.0 - rho) * design_effect(r)


def screen_delays(problem: _Problem, theta: np.ndarray, weights: np.ndarray, max_delay: int,
                  max_decay: float, inflation: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Steepest descent over the channels' delays, the other media parameters held: from the
    current delays, try every delay 0..``max_delay`` of every channel with spend, each with the
    channel's fitted decay and with each of ``DELAY_DECAYS`` (a geometric fit stretches the
    decay to reach a late effect, which a delay then makes unnecessary), scored by the weighted
    residual sum of squares of the exact linear solve (the residuals are weighted to unit
    scale) plus ``delay_penalty`` times ``inflation`` (the residuals' ``design_effect``). A
    channel's gain is its best score at another delay against its best at the current delay
    over the same decays, so a delay is not credited with what a decay change alone buys. Take
    the largest gain of all channels, not the first that helps (the result does not depend on
    the channels' order), and repeat until no channel gains. Returns (delays, theta);
    ``problem.delays`` is left at the last trial."""
    channels = np.flatnonzero(np.any(problem.per_capita > 0, axis=(0, 1)))
    n = problem.g_n * problem.t_n
    delays, theta = problem.delays.copy(), np.asarray(theta, dtype=float).copy()

    def criterion(trial_delays: np.ndarray, trial_theta: np.ndarray) -> float:
        problem.set_delays(trial_delays)
        _, r = problem.solve(trial_theta, weights)
        return float(r @ r) + inflation * delay_penalty(int(np.count_nonzero(trial_delays)),
                                                        len(channels), max_delay, n)

    for _ in range(2 * len(channels)):
        step = None  # (gain, delays, theta) of the best change so far
        for c in channels:
            stay, move = None, None  # best (score, delays, theta) at the current / another delay
            for lag in range(max_delay + 1):
                for decay in sorted({float(theta[3 * c]),
                                     *(d for d in DELAY_DECAYS if d <= max_decay)}):
                    trial_delays, trial_theta = delays.copy(), theta.copy()
                    trial_delays[c], trial_theta[3 * c] = lag, decay
                    scored = (criterion(trial_delays, trial_theta), trial_delays, trial_theta)
                    if lag == delays[c]:
                        stay = scored if stay is None or scored[0] < stay[0] else stay
                    elif move is None or scored[0] < move[0]:
                        move = scored
            gain = stay[0] - move[0]
            if gain > 1e-9 and (step is None or gain > step[0]):
                step = (gain, move[1], move[2])
        if step is None:
            break
        _, delays, theta = step
    return delays, theta


class MMM:
    """MMM v2. ``fit(panel)``, then ``predict``, ``contributions``, ``elasticities``,
    ``response_curve``; ``to_dict``/``from_dict`` (and JSON) round-trip the fitted model."""

    def __init__(self, settings: ModelSettings | None = None, seed: int = 0):
        self.settings = settings or ModelSettings()
        self.seed = int(seed)
        self._fitted = False
        #: a profile_median fit's decay profiles (``_summarise_decays``); None otherwise
        self.decay_profile: dict | None = None

    # ------------------------------------------------------------------ fitting

    def fit(self, panel: Panel, start: MMM | None = None,
            lift_tests: Sequence[LiftTest] = (), hold_decays: np.ndarray | None = None,
            cost_tolerance: float = 0.0) -> MMM:
        """Fit to the panel; with ``start`` (a fitted model of the same channels), run one
        optimisation warm-started from its media parameters instead of the multi-start.
        ``hold_decays`` (with ``start``; per channel, NaN for a free one) holds those
        channels' decays at the given values: a bootstrap refit of a ``profile_median`` fit
        with decays drawn from its profile posterior (``draw_decays``); such a refit
        summarises no profile of its own. A warm-started refit also reports its media
        coefficients at the mode (NNLS), whatever ``coefficient_estimate`` says: the
        bootstrap's intervals are the spread of those. ``cost_tolerance`` (with ``start``)
        stops each of its solves once a step lowers the objective by less than that, in
        objective units (a bootstrap refit's: ``uncertainty.BOOTSTRAP_COST_TOLERANCE``); 0,
        the default, solves to the fit's own relative ``ftol`` of 1e-8.

        ``lift_tests`` (with ``lift_se``) calibrate the fit: each adds the squared z-score of
        (model-implied lift − measured lift) / SE to the objective. Tests whose weeks are not
        all inside the panel are left out (``diagnostics.calibration`` lists the ones used).
        """
        s = self.settings
        order = yearly_order(s.fourier_order, panel.n_weeks, s.seasonality_min_weeks)
        if panel.n_weeks < 2 * order + 4:
            raise ValueError(f"tenant {panel.tenant!r}: {panel.n_weeks} weeks are too few to fit "
                             f"(need at least {2 * order + 4})")
        if hold_decays is not None and start is None:
            raise ValueError("hold_decays needs a start (a bootstrap refit's reference fit)")
        if not (math.isfinite(cost_tolerance) and cost_tolerance >= 0):
            raise ValueError(f"cost_tolerance={cost_tolerance}: expected a finite number >= 0")
        if cost_tolerance and start is None:
            raise ValueError("cost_tolerance needs a start (a bootstrap refit's reference fit)")
        problem = self._prepare(panel, lift_tests, derivatives_with_residuals=True)
        if start is not None:  # a warm start keeps the start's delays (chosen by its fit)
            problem.set_delays(start.delay)
        lower, upper = self._bounds()
        held = np.zeros(0, dtype=int)
        prior_mean, prior_sd = self._prior_vectors()
        if start is not None:
            theta0 = np.column_stack([start.decay,
                                      np.log(start.half_saturation / self.reference_spend),
                                      np.log(start.shape)]).reshape(-1)
            theta0 = np.clip(theta0, lower + 1e-6, upper - 1e-6)
            if hold_decays is not None:
                hold = np.asarray(hold_decays, dtype=float)
                if hold.shape != (len(self.channels),):
                    raise ValueError(f"hold_decays has {hold.size} values for "
                                     f"{len(self.channels)} channels")
                held = 3 * np.flatnonzero(~np.isnan(hold))
                theta0[held] = np.clip(hold[~np.isnan(hold)], lower[held], upper[held])
            starts = [theta0]
        else:
            theta0 = np.clip(prior_mean, lower + 1e-6, upper - 1e-6)
            rng = np.random.default_rng(self.seed)
            starts = [theta0]
            for _ in range(s.n_starts - 1):
                draw = prior_mean + prior_sd * rng.standard_normal(prior_mean.size)
                starts.append(np.clip(draw, lower + 1e-6, upper - 1e-6))
        weights = 1.0 / problem.segment_scale(theta0)
        ftol = 1e-8
        if cost_tolerance:  # relative to the objective at the warm start (near the optimum)
            ftol = _relative_ftol(cost_tolerance,
                                  0.5 * float(np.sum(problem.residuals(theta0, weights) ** 2)))

        def optimise(start: np.ndarray, w: np.ndarray):
            if held.size:
                return _least_squares_holding(problem, start, w, held, lower, upper,
                                              s.max_iterations, ftol)
            return least_squares(problem.residuals, start, jac=problem.jacobian, args=(w,),
                                 bounds=(lower, upper), method="trf", x_scale=1.0,
                                 ftol=ftol, xtol=1e-8, gtol=1e-8, max_nfev=s.max_iterations)

        results = [optimise(st, weights) for st in starts]
        best = min(results, key=lambda r: (r.cost, tuple(r.x)))
        # feasible weighted least squares: re-estimate each segment's residual scale at the
        # best fit, then polish every start's optimum under those same weights and keep the
        # lowest — so the result does not hinge on which start found a near-tied basin first
        sigma = problem.segment_scale(best.x)
        distinct = {tuple(np.round(r.x, 6)): r.x for r in results}
        polished = [optimise(x, 1.0 / sigma) for x in distinct.values()]
        final = min(polished, key=lambda r: (r.cost, tuple(r.x)))
        if start is None and s.max_delay_weeks > 0:
            final, sigma = self._choose_delays(problem, final, sigma, optimise,
                                               (lower + 1e-6, upper - 1e-6))
        self.decay_profile = None
        refits, gain, below = 0, 0.0, False
        if s.decay_estimate == "profile_median" and hold_decays is None:
            final, refits, gain, below = self._summarise_decays(problem, final, 1.0 / sigma,
                                                                lower, upper, optimise)
        # a warm-started refit (a bootstrap replicate's) reports its coefficients at the mode:
        # the intervals read the spread of the least-squares solutions, which reach zero
        # where the data cannot tell a channel from none (uncertainty.block_bootstrap)
        self._finish(problem, final.x, 1.0 / sigma,
                     coefficients="mode" if start is not None else None)
        self.diagnostics = FitDiagnostics(
            objective=float(final.cost),
            n_starts=len(starts),
            start_objectives=[float(r.cost) for r in results],
            converged=bool(final.status > 0),
            bounds_hit=self._bounds_hit(final.x, lower, upper),
            n_observations=int(panel.kpi.size),
            n_linear_parameters=problem.baseline_rank() + len(self.channels),
            residual_scale=[float(v) for v in sigma],
            calibration=[row.label for row in problem.lift_rows],
            n_nonlinear_parameters=int(final.x.size + np.count_nonzero(problem.delays)),
            profile_refits=int(refits),
            profile_refit_gain=float(gain),
            profile_below_fit=bool(below),
        )
        self._fitted = True
        return self

    def _summarise_decays(self, problem: _Problem, fitted, weights: np.ndarray,
                          lower: np.ndarray, upper: np.ndarray, optimise):
        """``decay_estimate: profile_median``: replace each channel's fitted decay by the
        median of its profile posterior, then re-optimise the other media parameters at those
        decays; the result in the form of ``least_squares``' (its ``x`` the full theta), the
        number of re-fits (below), how far they lowered the optimum's objective, and whether a
        profile node still lies below the fit after the last re-fit allowed.

        A channel's decay is weakly identified: a smooth, long-carryover response is largely
        absorbed by the baseline's intercept, trend and seasonality, so the objective can be
        nearly flat in the decay while the channel's elasticity climbs steeply with it, and
        noise puts the optimum anywhere on the flat stretch, often at ``max_decay``
        (``benchmarks/recovery_gap.py``). The objective is 0.5 x the weighted residual sum of
        squares (each segment's residual scale plugged in, rows taken as independent) plus the
        prior's squared z-scores: -log(likelihood x prior) up to a constant, with the linear
        parameters maximised out (a profile, not a marginal posterior), so exp(-objective
        difference) is the profile posterior's relative density. Residuals correlated over
        weeks or across segments make it too sharp, which errs towards the optimum. The
        profile is evaluated on ``DECAY_PROFILE`` decays plus the fit itself (walking out from
        the fit, a walk stopped past ``DECAY_PROFILE_CUTOFF``: ``_decay_profile``; a node not
        evaluated is null in the JSON and carries no density), the objective
        interpolated linearly between them, and the decay set to the median of the density
        (``profile_median``): the median, unlike the mean, is the same whether read on the
        decay or on anything monotone in it along the profile. A profile sharper than the
        grid (``DECAY_PROFILE_SHARP``) keeps the fitted decay. A profile node well below the
        fit (``DECAY_PROFILE_REFIT_TOLERANCE``) means the multi-start missed a better optimum:
        the fit is re-optimised from the lowest such node (``optimise``, fit's) and profiled
        again, at most ``DECAY_PROFILE_REFITS`` times (``diagnostics.profile_refits``,
        ``profile_refit_gain``, ``profile_below_fit``). The fit's ``diagnostics``
        then describe the refit at the summarised decays (its objective is above the
        optimum's; the decays still count as fitted parameters). Deterministic (no draws).
        The profiles are kept (``decay_profile``, in the JSON too): a bootstrap draws each
        refit's decays from them (``draw_decays``) instead of profiling every refit again,
        flattened by the residuals' ``profile_temperature`` (kept as ``temperature``), which
        corrects the spread, not the median, for rows that are not independent."""
        s = self.settings
        grid = np.linspace(0.0, s.max_decay, DECAY_PROFILE)
        first_cost = float(fitted.cost)
        decay_index = np.arange(0, len(fitted.x), 3)
        for refits in range(DECAY_PROFILE_REFITS + 1):
            x0 = np.asarray(fitted.x, dtype=float)
            decays = x0[decay_index].copy()
            objective: list[list[float] | None] = [None] * decays.size
            lowest = None
            for c in np.flatnonzero(np.any(problem.per_capita > 0, axis=(0, 1))):
                costs, node = _decay_profile(problem, fitted, c, grid, weights, lower, upper)
                objective[c] = [None if math.isinf(v) else float(v) for v in costs]
                decays[c] = profile_median(grid, costs, float(x0[3 * c]), float(fitted.cost),
                                           s.max_decay)
                if node is not None and (lowest is None or node.cost < lowest.cost):
                    lowest = node
            below = (lowest is not None
                     and lowest.cost < fitted.cost - DECAY_PROFILE_REFIT_TOLERANCE)
            if not below or refits == DECAY_PROFILE_REFITS:
                break
            fitted = optimise(lowest.x, weights)  # a better optimum: profile around it
        self.decay_profile = {"grid": [float(v) for v in grid],
                              "fitted": [float(v) for v in x0[decay_index]],
                              "fitted_objective": float(fitted.cost), "objective": objective}
        summarised = _least_squares_holding(problem, _with(x0, decay_index, decays), weights,
                                            decay_index, lower, upper, s.max_iterations)
        _, residuals = problem.solve(summarised.x, weights)
        self.decay_profile["temperature"] = profile_temperature(
            residuals[: problem.g_n * problem.t_n].reshape(problem.g_n, problem.t_n))
        return summarised, refits, first_cost - float(fitted.cost), below

    def profile_cdfs(self, temperature: float | None = None
                     ) -> list[tuple[np.ndarray, np.ndarray] | None]:
        """Per channel, the decay's profile posterior (``profile_cdf``) recorded by a
        ``profile_median`` fit, its objective divided by ``temperature`` (default the fit's
        ``profile_temperature``, what the bootstrap draws from; 1 for a fit saved before it
        was recorded; 1.0 reads every row as independent); None for a channel whose profile
        so read is sharper than the grid, could not be read or was not evaluated (no spend),
        and for every channel of a fit that recorded none."""
        profile = self.decay_profile
        if not profile:
            return [None] * len(self.channels)
        if temperature is None:
            temperature = float(profile.get("temperature", 1.0))
        return [None if costs is None else
                profile_cdf(np.asarray(profile["grid"]),
                            np.array([math.inf if v is None else v for v in costs])
                            / temperature,
                            profile["fitted"][c], profile["fitted_objective"] / temperature,
                            self.settings.max_decay)
                for c, costs in enumerate(profile["objective"])]

    def draw_decays(self, rng: np.random.Generator) -> np.ndarray | None:
        """One draw per channel from its decay's profile posterior (``profile_cdfs``), NaN
        for a channel without one (its decay stays free in a refit, as a sharp profile's
        optimum does); None for a fit that recorded no profile. A bootstrap refit
        (``fit(..., hold_decays=...)``) holds the drawn decays, so the decays' uncertainty
        is the profile posterior's and the rest of the media response is refitted on the
        resampled data: the profile is evaluated once, on the data, instead of in every
        refit (about 8 x a warm-started refit's time) — also when every channel's profile
        was sharp (all NaN: every decay free, no profile in the refit)."""
        if not self.decay_profile:
            return None
        cdfs = self.profile_cdfs()
        u = rng.random(len(cdfs))
        return np.array([np.nan if cdf is None else profile_quantile(*cdf, float(u[c]))
                         for c, cdf in enumerate(cdfs)])

    def _choose_delays(self, problem: _Problem, fitted, sigma: np.ndarray, optimise, bounds):
        """Per channel, the delay (0 to ``max_delay_weeks`` weeks) of its spend before the
        adstock, chosen by an extended BIC (``delay_penalty``): ``screen_delays`` at the fit,
        then, if a delay changed, a refit of the media parameters from the screened ones (and of
        the segment weights), at most ``DELAY_SWEEPS`` times. A geometric adstock peaks in the
        week of the spend; a response that peaks weeks later (a delayed adstock, as other MMMs
        write it) otherwise drives large channels' estimates towards zero. Returns the final
        optimiser result and the segments' residual scale; the delays are left in
        ``problem.delays``."""
        s = self.settings
        _, r = problem.solve(fitted.x, 1.0 / sigma)
        inflation = design_effect(r[: problem.g_n * problem.t_n].reshape(problem.g_n,
                                                                         problem.t_n))
        for _ in range(DELAY_SWEEPS):
            current = problem.delays.copy()
            delays, theta = screen_delays(problem, fitted.x, 1.0 / sigma, s.max_delay_weeks,
                                          s.max_decay, inflation)
            problem.set_delays(delays)
            if np.array_equal(delays, current):
                break
            fitted = optimise(np.clip(theta, *bounds), 1.0 / sigma)
            sigma = problem.segment_scale(fitted.x)
            fitted = optimise(fitted.x, 1.0 / sigma)
        return fitted, sigma

    def fit_fixed(self, panel: Panel, decay, half_saturation, shape,
                  coefficients: str | None = None) -> MMM:
        """Fit only the linear part for given media parameters (per channel; half-saturation
        in per-capita spend units) — the 'oracle' fit when the true ones are given. Its
        coefficients are summarised as the settings' ``coefficient_estimate`` says, or as
        ``coefficients`` ("mode" for a bootstrap refit, like ``fit``'s warm-started ones)."""
        problem = self._prepare(panel)
        self.decay_profile = None  # the given decays are not a profile's
        theta = np.column_stack([
            np.asarray(decay, float),
            np.log(np.asarray(half_saturation, float) / self.reference_spend),
            np.log(np.asarray(shape, float)),
        ]).reshape(-1)
        sigma = problem.segment_scale(theta)
        self._finish(problem, theta, 1.0 / sigma, coefficients)
        self.diagnostics = FitDiagnostics(
            objective=float(0.5 * (problem.residuals(theta, 1.0 / sigma) ** 2).sum()),
            n_starts=0, start_objectives=[], converged=True, bounds_hit=[],
            n_observations=int(panel.kpi.size),
            n_linear_parameters=problem.baseline_rank() + len(self.channels),
            residual_scale=[float(v) for v in sigma])
        self._fitted = True
        return self

    def _prepare(self, panel: Panel, lift_tests: Sequence[LiftTest] = (),
                 derivatives_with_residuals: bool = False) -> _Problem:
        """Record the data-derived constants of a fit and build its least-squares problem
        (``derivatives_with_residuals``: see ``_Problem``; for a fit by least_squares)."""
        self.channels = tuple(panel.channels)
        self.delay = np.zeros(len(self.channels), dtype=int)
        self.segments = tuple(panel.segments)
        self.control_names = tuple(panel.control_names)
        self.size = np.asarray(panel.size, dtype=float).copy()
        self.origin = pd.Timestamp(panel.dates[0])
        self.scale_weeks = float(max(panel.n_weeks - 1, 1))
        self.fourier_order = yearly_order(self.settings.fourier_order, panel.n_weeks,
                                          self.settings.seasonality_min_weeks)
        per_capita = panel.spend / self.size[:, None, None]
        ref = per_capita.mean(axis=(0, 1))
        self.reference_spend = np.where(ref > 0, ref, 1.0)
        totals = panel.spend.sum(axis=1)  # (G, C)
        col = totals.sum(axis=0)
        self.segment_spend_share = np.where(col > 0, totals / np.where(col > 0, col, 1.0),
                                            1.0 / panel.n_segments)
        self.mean_weekly_spend = panel.spend.sum(axis=0).mean(axis=0)
        x = baseline_design(panel.dates, panel.controls, self.origin, self.scale_weeks,
                            self.fourier_order, self.settings.trend)
        prior_mean, prior_sd = self._prior_vectors()
        rows = []
        for test in lift_tests:
            if test.lift_se is None:
                raise ValueError(f"lift test {test.label or test.channel}: calibration needs "
                                 f"its standard error (lift_se)")
            if test.start < panel.dates[0] or test.end > panel.dates[-1]:
                continue
            _, _, t1 = test.window(panel.dates)
            t0 = test.window(panel.dates)[0]
            changed = test.changed_spend(panel.spend, panel.dates, panel.segments,
                                         panel.channels)
            c = panel.channels.index(test.channel)
            rows.append(LiftRow(channel=c, changed=changed[:, :, c] / self.size[:, None],
                                t0=t0, t1=t1, lift=test.lift, se=test.lift_se,
                                label=test.label or test.channel))
        strength = self.settings.prior_strength
        return _Problem(x=x, y=panel.kpi.astype(float), per_capita=per_capita, size=self.size,
                        reference=self.reference_spend, prior_mean=prior_mean,
                        prior_sd=prior_sd / math.sqrt(strength) if strength > 0 else None,
                        lift_rows=tuple(rows),
                        returns_scale=math.sqrt(strength) if strength > 0 else None,
                        derivatives_with_residuals=derivatives_with_residuals)

    def _finish(self, problem: _Problem, theta: np.ndarray, weights: np.ndarray,
                coefficients: str | None = None) -> None:
        """Record the fit at theta: the delays, the media coefficients (``coefficients``,
        default the settings' ``coefficient_estimate``: the posterior median given theta, or
        the mode, NNLS), the baselines refitted under them, and the media parameters."""
        self.delay = problem.delays.copy()
        beta, _ = problem.solve(theta, weights)
        estimate = coefficients or self.settings.coefficient_estimate
        if estimate not in ("mode", "posterior_median"):
            raise ValueError(f"coefficients={estimate!r}: expected 'mode' or 'posterior_median'")
        if estimate == "posterior_median":
            a, b, _, _ = problem._linear(theta, weights)
            # a fixed stream, not the fit's seed: the same data and media response give the
            # same medians from any fit (the draws integrate, they do not search)
            rng = np.random.default_rng(COEFFICIENT_STREAM)
            beta = positive_posterior_median(a, b, beta, a.shape[0] - problem.baseline_rank(),
                                             rng)
        z = problem.media(theta)
        base_target = problem.y - np.einsum("gtc,c->gt", z, beta)
        self.baseline_coef = np.stack([lstsq_columns(problem.x[g], base_target[g])
                                       for g in range(problem.y.shape[0])])
        self._set_theta(theta)
        self.beta = beta
        self.residual_scale = 1.0 / weights

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.settings
        c_n = len(self.channels)
        lo = np.tile([0.0, math.log(s.half_saturation_bounds[0]), math.log(s.shape_bounds[0])],
                     c_n)
        hi = np.tile([s.max_decay, math.log(s.half_saturation_bounds[1]),
                      math.log(s.shape_bounds[1])], c_n)
        return lo, hi

    def _prior_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        c_n = len(self.channels)
        mean = np.tile([PRIOR[k][0] for k in ("decay", "log_half_saturation", "log_shape")], c_n)
        sd = np.tile([PRIOR[k][1] for k in ("decay", "log_half_saturation", "log_shape")], c_n)
        return mean, sd

    def _bounds_hit(self, theta: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[str]:
        names = ("decay", "half_saturation", "shape")
        hits = []
        for i, value in enumerate(theta):
            span = hi[i] - lo[i]
            if value - lo[i] < 1e-3 * span and not (i % 3 == 0 and lo[i] == 0.0):
                hits.append(f"{self.channels[i // 3]}.{names[i % 3]}=lower")
            if hi[i] - value < 1e-3 * span:
                hits.append(f"{self.channels[i // 3]}.{names[i % 3]}=upper")
        return hits

    def _media_design(self, per_capita: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Media regressors size_g * Hill(adstock(delayed spend)) for nonlinear parameters
        theta, (G, T, C)."""
        return media_design(per_capita, theta, self.size, self.reference_spend,
                            delays=self.delay)

    def media_design(self, panel: Panel, derivatives: bool = False):
        """The fitted media regressors size_g * Hill(adstock(delayed per-capita spend)) of
        ``panel``'s spend, (G, T, C), before the coefficients beta; with ``derivatives`` also
        their derivatives by each channel's [decay, log(K / reference), log(shape)],
        (G, T, C, 3)."""
        self._check(panel)
        return media_design(panel.spend / self.size[:, None, None], self._theta(), self.size,
                            self.reference_spend, derivatives=derivatives, delays=self.delay)

    def _set_theta(self, theta: np.ndarray) -> None:
        t = np.asarray(theta, dtype=float).reshape(-1, 3)
        self.decay = t[:, 0].copy()
        self.half_saturation = np.exp(t[:, 1]) * self.reference_spend
        self.shape = np.exp(t[:, 2])

    def _theta(self) -> np.ndarray:
        return np.column_stack([self.decay, np.log(self.half_saturation / self.reference_spend),
                                np.log(self.shape)]).reshape(-1)

    # ------------------------------------------------------------------ using the fit

    def _check(self, panel: Panel) -> None:
        if not self._fitted:
            raise NotFittedError("MMM.fit must be called first")
        if tuple(panel.channels) != self.channels:
            raise ValueError(f"panel channels {panel.channels} differ from the fitted "
                             f"{self.channels}")
        if tuple(panel.segments) != self.segments:
            raise ValueError(f"panel segments {panel.segments} differ from the fitted "
                             f"{self.segments}")
        if tuple(panel.control_names) != self.control_names:
            raise ValueError(f"panel controls {panel.control_names} differ from the fitted "
                             f"{self.control_names}")

    def _parts(self, panel: Panel, spend: np.ndarray | None = None):
        self._check(panel)
        spend = panel.spend if spend is None else spend
        x = baseline_design(panel.dates, panel.controls, self.origin, self.scale_weeks,
                            self.fourier_order, self.settings.trend)
        base = np.einsum("gtp,gp->gt", x, self.baseline_coef)
        z = self._media_design(spend / self.size[:, None, None], self._theta())
        return base, z * self.beta[None, None, :]

    def predict(self, panel: Panel, spend: np.ndarray | None = None) -> np.ndarray:
        """Predicted KPI (G, T) for the panel's weeks (optionally with another spend array)."""
        base, media = self._parts(panel, spend)
        return base + media.sum(axis=2)

    def contributions(self, panel: Panel) -> dict[str, np.ndarray]:
        """Additive decomposition: {"baseline": (G, T), channel: (G, T), ...}."""
        base, media = self._parts(panel)
        out = {"baseline": base}
        for c, name in enumerate(self.channels):
            out[name] = media[:, :, c]
        return out

    def contribution_shares(self, panel: Panel) -> dict[str, float]:
        """Each channel's contribution over the panel divided by total predicted KPI."""
        base, media = self._parts(panel)
        total = base.sum() + media.sum()
        return {ch: float(media[:, :, c].sum() / total) for c, ch in enumerate(self.channels)}

    def roi(self, panel: Panel) -> dict[str, float | None]:
        """Contribution per unit of spend over the panel (None for a channel with no spend)."""
        _, media = self._parts(panel)
        spend = panel.spend.sum(axis=(0, 1))
        return {ch: (float(media[:, :, c].sum() / spend[c]) if spend[c] > 0 else None)
                for c, ch in enumerate(self.channels)}

    def elasticities(self, panel: Panel, step: float = 0.01) -> dict[str, float]:
        """% change of total predicted KPI when a channel's spend is x(1+step) in every week,
        divided by step in % (DESIGN.md's definition, the same as the generator's truth)."""
        self._check(panel)
        return spend_elasticities(self, panel, step)

    def lift(self, panel: Panel, test: LiftTest) -> float:
        """The model's incremental KPI for a lift test's spend change, over its measured weeks."""
        changed = test.changed_spend(panel.spend, panel.dates, panel.segments, panel.channels)
        t0, _, t1 = test.window(panel.dates)
        diff = self.predict(panel, changed) - self.predict(panel)
        return float(diff[:, t0:t1].sum())

    def segment_uplift(self, panel: Panel, factor: float = 1.10) -> dict[str, dict[str, float]]:
        """Per segment: change of predicted KPI when every channel's spend is x factor."""
        now = self.predict(panel)
        up = self.predict(panel, panel.spend * factor) - now
        return {seg: {"uplift": float(up[g].sum()),
                      "uplift_relative": float(up[g].sum() / now[g].sum())}
                for g, seg in enumerate(self.segments)}

    def response_curve(self, channel: str, multipliers: np.ndarray | None = None) -> pd.DataFrame:
        """Steady-state weekly response of total KPI to a constant weekly national spend.

        Spend is split across segments as in the fitted data; columns: ``multiplier`` (of the
        mean weekly spend), ``weekly_spend``, ``weekly_response``, ``marginal_roi``.
        """
        if not self._fitted:
            raise NotFittedError("MMM.fit must be called first")
        c = self.channels.index(channel)
        m = np.linspace(0.0, 3.0, 61) if multipliers is None else np.asarray(multipliers, float)
        weekly = m * self.mean_weekly_spend[c]
        per_capita = weekly[:, None] * self.segment_spend_share[None, :, c] / self.size[None, :]
        k, sh = self.half_saturation[c], self.shape[c]
        response = (self.beta[c] * self.size[None, :] * hill(per_capita, k, sh)).sum(axis=1)
        # d response / d weekly spend = sum_g beta * share_g * Hill'(per-capita)
        marginal = (self.beta[c] * self.segment_spend_share[None, :, c]
                    * hill_derivative(per_capita, k, sh)).sum(axis=1)
        return pd.DataFrame({"multiplier": m, "weekly_spend": weekly,
                             "weekly_response": response, "marginal_roi": marginal})

    def media_parameters(self) -> dict[str, dict[str, float]]:
        """Fitted media response per channel."""
        if not self._fitted:
            raise NotFittedError("MMM.fit must be called first")
        return {ch: {"decay": float(self.decay[c]),
                     "half_saturation_per_capita": float(self.half_saturation[c]),
                     "half_saturation_relative": float(self.half_saturation[c]
                                                       / self.reference_spend[c]),
                     "shape": float(self.shape[c]), "beta": float(self.beta[c]),
                     "delay_weeks": int(self.delay[c])}
                for c, ch in enumerate(self.channels)}

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        if not self._fitted:
            raise NotFittedError("MMM.fit must be called first")
        return {
            "model_version": MODEL_VERSION,
            "settings": self.settings.model_dump(mode="json"),
            "seed": self.seed,
            "channels": list(self.channels),
            "segments": list(self.segments),
            "controls": list(self.control_names),
            "size": self.size.tolist(),
            "origin": self.origin.date().isoformat(),
            "scale_weeks": self.scale_weeks,
            "fourier_order": self.fourier_order,
            "reference_spend": self.reference_spend.tolist(),
            "segment_spend_share": self.segment_spend_share.tolist(),
            "mean_weekly_spend": self.mean_weekly_spend.tolist(),
            "decay": self.decay.tolist(),
            "delay": [int(v) for v in self.delay],
            "half_saturation": self.half_saturation.tolist(),
            "shape": self.shape.tolist(),
            "beta": self.beta.tolist(),
            "baseline_coef": self.baseline_coef.tolist(),
            "residual_scale": self.residual_scale.tolist(),
            "diagnostics": self.diagnostics.__dict__,
            # a profile_median fit's decay profiles (draw_decays); absent from other fits
            **({"decay_profile": copy.deepcopy(self.decay_profile)}
               if self.decay_profile else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MMM:
        if data.get("model_version") != MODEL_VERSION:
            raise ValueError(f"model_version {data.get('model_version')!r} is not "
                             f"{MODEL_VERSION!r}")
        settings = dict(data["settings"])
        # a model saved before decay_estimate existed took every decay at the optimum, and
        # one saved before coefficient_estimate existed its coefficients at the mode
        settings.setdefault("decay_estimate", "optimum")
        settings.setdefault("coefficient_estimate", "mode")
        model = cls(ModelSettings.model_validate(settings), seed=data["seed"])
        model.channels = tuple(data["channels"])
        model.segments = tuple(data["segments"])
        model.control_names = tuple(data["controls"])
        model.origin = pd.Timestamp(data["origin"])
        model.scale_weeks = float(data["scale_weeks"])
        # a model saved before the fitted order was recorded used the settings' order
        model.fourier_order = int(data.get("fourier_order", model.settings.fourier_order))
        # a model saved before delays were chosen had none
        model.delay = np.asarray(data.get("delay", [0] * len(model.channels)), dtype=int)
        for key in ("size", "reference_spend", "segment_spend_share", "mean_weekly_spend",
                    "decay", "half_saturation", "shape", "beta", "baseline_coef",
                    "residual_scale"):
            setattr(model, key, np.asarray(data[key], dtype=float))
        diagnostics = dict(data["diagnostics"])
        # a model saved before the count was recorded: a multi-start fit spent 3 per channel
        diagnostics.setdefault("n_nonlinear_parameters",
                               3 * len(model.channels) if diagnostics.get("n_starts") else 0)
        model.diagnostics = FitDiagnostics(**diagnostics)
        # a copy: a model read from another's to_dict() must not share its profile
        model.decay_profile = copy.deepcopy(data.get("decay_profile"))
        model._fitted = True
        return model

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MMM:
        return cls.from_dict(json.loads(text))
