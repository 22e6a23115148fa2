"""MMM v2's media coefficients as the marginal medians of their posterior given the fitted
response (``coefficient_estimate: posterior_median``, ``positive_posterior_median``)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from mmm_evidence.config import ModelSettings
from mmm_evidence.model import mmm as mmm_module
from mmm_evidence.model.mmm import MMM, positive_posterior_median
from mmm_evidence.model.uncertainty import block_bootstrap
from tests.model.conftest import model_form_panel


def _problem(beta: np.ndarray, rho: float, n: int = 200, noise: float = 1.0, seed: int = 0):
    """b = a beta + noise with correlated columns; returns a, b and the NNLS mode."""
    from scipy.optimize import nnls

    rng = np.random.default_rng(seed)
    k = beta.size
    cov = np.full((k, k), rho) + (1 - rho) * np.eye(k)
    a = rng.standard_normal((n, k)) @ np.linalg.cholesky(cov).T
    b = a @ beta + noise * rng.standard_normal(n)
    return a, b, nnls(a, b)[0]


def _rejection_medians(a: np.ndarray, b: np.ndarray, mode: np.ndarray, dof: int,
                       draws: int = 400_000) -> tuple[np.ndarray, np.ndarray]:
    """The truncated posterior's marginal medians by plain rejection from the unconstrained
    Gaussian (exact, slow), and the marginal posterior sds of the kept draws."""
    resid = b - a @ mode
    s2 = resid @ resid / (dof - a.shape[1])
    cov = s2 * np.linalg.inv(a.T @ a)
    centre = np.linalg.lstsq(a, b, rcond=None)[0]
    x = np.random.default_rng(99).multivariate_normal(centre, cov, size=draws)
    kept = x[(x >= 0).all(axis=1)]
    assert len(kept) > 20_000
    return np.median(kept, axis=0), kept.std(axis=0)


@pytest.mark.parametrize("beta, rho, seed", [([0.02, 0.3, -0.05], 0.6, 0),
                                             ([-0.1, 0.1, 0.2], -0.4, 0),
                                             ([0.0, -0.02, 0.3], -0.3, 2),
                                             ([-0.05, -0.05, 0.3], 0.2, 1)])
def test_the_gibbs_medians_match_rejection_sampling(beta, rho, seed):
    a, b, mode = _problem(np.array(beta), rho, seed=seed)
    got = positive_posterior_median(a, b, mode, a.shape[0], np.random.default_rng(0))
    want, sd = _rejection_medians(a, b, mode, a.shape[0])
    assert (got >= 0).all()
    # measured: within 0.025 of the largest posterior sd (Monte Carlo error of both)
    np.testing.assert_allclose(got, want, atol=0.05 * sd.max())
    # the mode puts a channel the data cannot tell from none at exactly 0; the median does not
    assert (mode == 0).any() and (got > 0).all()


def test_a_coefficient_far_from_zero_gets_the_least_squares_solution_exactly():
    a, b, mode = _problem(np.array([2.0, 3.0]), 0.3)
    got = positive_posterior_median(a, b, mode, a.shape[0], np.random.default_rng(0))
    np.testing.assert_allclose(got, np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-10)
    # and in any units: a column x 1e6 gets its coefficient / 1e6
    scaled = a * np.array([1e6, 1.0])
    np.testing.assert_allclose(
        positive_posterior_median(scaled, b, mode / np.array([1e6, 1.0]), a.shape[0],
                                  np.random.default_rng(0)),
        got / np.array([1e6, 1.0]), rtol=1e-8)


def test_zero_columns_no_residual_dof_and_exact_fits_keep_the_mode():
    a, b, mode = _problem(np.array([0.05, 0.0]), 0.5)
    a0 = np.column_stack([a, np.zeros(len(a))])
    got = positive_posterior_median(a0, b, np.append(mode, 0.0), a.shape[0],
                                    np.random.default_rng(0))
    assert got[2] == 0.0 and got[1] > 0.0
    assert (positive_posterior_median(a, b, mode, 2, np.random.default_rng(0)) == mode).all()
    exact = a @ np.array([0.5, 0.0])  # an exact fit: s^2 = 0, the posterior is the mode
    np.testing.assert_array_equal(
        positive_posterior_median(a, exact, np.array([0.5, 0.0]), a.shape[0],
                                  np.random.default_rng(0)), [0.5, 0.0])


def _with_placebo(noise: float = 0.03) -> object:
    panel = model_form_panel(noise=noise, seed=2)
    extra = np.random.default_rng(4).uniform(20, 80, panel.spend.shape[:2])[:, :, None]
    return replace(panel, spend=np.concatenate([panel.spend, extra], axis=2),
                   channels=(*panel.channels, "placebo"))


def test_a_fit_reports_posterior_medians_and_a_bootstrap_refit_the_mode():
    assert ModelSettings().coefficient_estimate == "posterior_median"  # the default
    panel = _with_placebo()
    settings = ModelSettings(max_delay_weeks=0, n_starts=2)
    model = MMM(settings, seed=3).fit(panel)
    mode = MMM(settings.model_copy(update={"coefficient_estimate": "mode"}), seed=3).fit(panel)
    # the same media response; the placebo, at 0 in the mode, gets a positive median
    np.testing.assert_allclose(model.decay, mode.decay)
    assert mode.beta[2] == 0 and model.beta[2] > 0
    # the real channels are many sds from zero: their medians are near the mode (moved by
    # their correlation with the placebo's truncated posterior, and Monte Carlo error)
    np.testing.assert_allclose(model.beta[:2], mode.beta[:2], rtol=0.02)
    # the baselines are refitted under the reported coefficients: residuals stay centred
    resid = panel.kpi - model.predict(panel)
    assert abs(resid.mean()) < 1e-6 * panel.kpi.mean()
    assert MMM(settings, seed=3).fit(panel).to_json() == model.to_json()  # deterministic
    assert MMM.from_json(model.to_json()).to_json() == model.to_json()
    # a warm-started refit (a bootstrap replicate's) reports the mode, whatever the settings
    refit = MMM(settings, seed=3).fit(panel, start=model)
    assert refit.beta[2] == 0
    # fit_fixed summarises as its settings say, or as it is told
    media = (mode.decay, mode.half_saturation, mode.shape)
    assert MMM(settings, seed=3).fit_fixed(panel, *media).beta[2] > 0
    assert MMM(settings, seed=3).fit_fixed(panel, *media, coefficients="mode").beta[2] == 0
    with pytest.raises(ValueError, match="coefficients='median'"):
        MMM(settings, seed=3).fit_fixed(panel, *media, coefficients="median")


def test_bootstrap_intervals_reach_zero_where_the_mode_does():
    panel = _with_placebo()
    model = MMM(ModelSettings(max_delay_weeks=0, n_starts=1), seed=3).fit(panel)
    unc = block_bootstrap(model, panel, replicates=20, seed=1)
    placebo = unc.interval("elasticity")["placebo"]
    assert placebo["low"] == 0.0  # "not identified": the interval reaches zero
    assert model.elasticities(panel)["placebo"] <= placebo["high"]


def test_a_model_saved_before_the_setting_read_back_at_the_mode():
    model = MMM(ModelSettings(max_delay_weeks=0, n_starts=1), seed=0).fit(model_form_panel())
    old = json.loads(model.to_json())
    del old["settings"]["coefficient_estimate"]
    assert MMM.from_dict(old).settings.coefficient_estimate == "mode"


def test_the_sampler_stream_is_fixed_whatever_the_fit_seed(monkeypatch):
    """The coefficient draws integrate, they do not search: fits of the same data and media
    response report the same medians whatever their seed, and the stream constant is what
    fixes them (another one moves a sampled coefficient)."""
    panel = _with_placebo(noise=0.05)
    settings = ModelSettings(max_delay_weeks=0, n_starts=1)
    media = MMM(settings, seed=3).fit(panel)
    response = (media.decay, media.half_saturation, media.shape)
    first = MMM(settings, seed=3).fit_fixed(panel, *response).beta
    assert first[2] > 0  # the placebo is sampled, not exact
    np.testing.assert_array_equal(MMM(settings, seed=11).fit_fixed(panel, *response).beta, first)
    monkeypatch.setattr(mmm_module, "COEFFICIENT_STREAM", mmm_module.COEFFICIENT_STREAM + 1)
    assert MMM(settings, seed=3).fit_fixed(panel, *response).beta[2] != first[2]


def test_the_draws_do_not_depend_on_the_order_of_the_columns():
    a, b, mode = _problem(np.array([0.02, 0.3, -0.05]), 0.6)
    got = positive_posterior_median(a, b, mode, a.shape[0], np.random.default_rng(0))
    for perm in ([2, 0, 1], [1, 2, 0], [2, 1, 0]):
        shuffled = positive_posterior_median(a[:, perm], b, mode[perm], a.shape[0],
                                             np.random.default_rng(0))
        np.testing.assert_allclose(shuffled, got[perm], rtol=1e-9)
