import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime
from scipy.stats import norm

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.model import mmm as mmm_module
from mmm_evidence.model.mmm import (
    FLAT_PRIOR,
    MMM,
    RETURNS_PRIOR,
    NotFittedError,
    delay_penalty,
    design_effect,
    hill_log_slope,
    media_design,
    profile_temperature,
    typical_spend,
    yearly_harmonics,
)
from mmm_evidence.model.transforms import delay_spend, hill
from tests.model.conftest import TRUE, model_form_panel


@pytest.fixture(scope="module")
def fitted():
    panel = model_form_panel()
    return panel, MMM(ModelSettings(), seed=3).fit(panel)


def test_recovers_known_parameters_on_a_noiseless_series(fitted):
    panel, model = fitted
    # sizes are normalised to mean 1 inside the panel; per-capita values scale with it
    size_scale = np.linspace(0.6, 1.4, 3).mean()
    np.testing.assert_allclose(model.decay, TRUE["decay"], atol=0.02)
    np.testing.assert_allclose(model.shape, TRUE["shape"], rtol=0.05)
    np.testing.assert_allclose(model.half_saturation * size_scale, TRUE["half_saturation"],
                               rtol=0.05)
    np.testing.assert_allclose(model.beta / size_scale, TRUE["beta"], rtol=0.05)
    assert model.diagnostics.bounds_hit == []
    fitted_kpi = model.predict(panel)
    assert np.max(np.abs(fitted_kpi - panel.kpi) / panel.kpi) < 1e-3


def test_elasticities_follow_the_definition(fitted):
    panel, model = fitted
    total = model.predict(panel).sum()
    spend = panel.spend.copy()
    spend[:, :, 1] *= 1.01
    manual = (model.predict(panel, spend).sum() - total) / total / 0.01
    assert model.elasticities(panel)["search"] == pytest.approx(manual)
    assert all(v > 0 for v in model.elasticities(panel).values())


def test_contributions_add_up_to_prediction(fitted):
    panel, model = fitted
    parts = model.contributions(panel)
    np.testing.assert_allclose(sum(parts.values()), model.predict(panel))
    shares = model.contribution_shares(panel)
    assert shares["tv"] == pytest.approx(parts["tv"].sum() / model.predict(panel).sum())


def test_media_design_times_beta_gives_the_contributions(fitted):
    panel, model = fitted
    z, dz = model.media_design(panel, derivatives=True)
    parts = model.contributions(panel)
    for c, name in enumerate(panel.channels):
        np.testing.assert_allclose(z[:, :, c] * model.beta[c], parts[name])
    assert dz.shape == z.shape + (3,)
    # the derivative by decay: one-sided difference of the design at decay + h
    h = 1e-6
    moved = MMM.from_dict(model.to_dict())
    moved.decay = moved.decay + h
    np.testing.assert_allclose((moved.media_design(panel) - z) / h, dz[..., 0],
                               rtol=1e-3, atol=1e-6)
    other = replace(panel, channels=tuple(reversed(panel.channels)))
    with pytest.raises(ValueError, match="channels"):
        model.media_design(other)


def test_json_round_trip_predicts_the_same(fitted):
    panel, model = fitted
    again = MMM.from_json(model.to_json())
    np.testing.assert_allclose(again.predict(panel), model.predict(panel))
    assert again.elasticities(panel) == model.elasticities(panel)
    assert json.loads(again.to_json()) == json.loads(model.to_json())
    assert again.diagnostics.n_nonlinear_parameters == 3 * len(panel.channels)
    # a model saved before the nonlinear parameter count was recorded gets it back
    old = json.loads(model.to_json())
    del old["diagnostics"]["n_nonlinear_parameters"]
    assert MMM.from_dict(old).diagnostics.residual_dof == model.diagnostics.residual_dof
    # ... and one saved before profile re-fits were counted: none recorded
    for key in ("profile_refits", "profile_refit_gain", "profile_below_fit"):
        del old["diagnostics"][key]
    assert MMM.from_dict(old).diagnostics.profile_refits == 0


def test_recovers_a_delayed_effect_on_a_noiseless_series():
    # tv's effect starts two weeks after its spend: the fit finds the delay, then the rest
    panel = model_form_panel(delays=(2, 0))
    model = MMM(ModelSettings(), seed=3).fit(panel)
    assert model.delay.tolist() == [2, 0]
    assert model.media_parameters()["tv"]["delay_weeks"] == 2
    np.testing.assert_allclose(model.decay, TRUE["decay"], atol=0.02)
    np.testing.assert_allclose(model.shape, TRUE["shape"], rtol=0.05)
    assert np.max(np.abs(model.predict(panel) - panel.kpi) / panel.kpi) < 1e-3
    assert model.diagnostics.n_nonlinear_parameters == 3 * 2 + 1  # the delay was chosen
    # the elasticity follows the definition through the delay
    total = model.predict(panel).sum()
    spend = panel.spend.copy()
    spend[:, :, 0] *= 1.01
    manual = (model.predict(panel, spend).sum() - total) / total / 0.01
    assert model.elasticities(panel)["tv"] == pytest.approx(manual)
    # without delays the same data are fitted worse, and tv's elasticity is off
    geometric = MMM(ModelSettings(max_delay_weeks=0), seed=3).fit(panel)
    assert geometric.delay.tolist() == [0, 0]
    assert geometric.diagnostics.objective > 100 * model.diagnostics.objective
    clean = MMM(ModelSettings(), seed=3).fit(model_form_panel())  # the same, undelayed
    true_tv = clean.elasticities(model_form_panel())["tv"]
    assert abs(model.elasticities(panel)["tv"] - true_tv) < 0.05 * true_tv
    assert abs(geometric.elasticities(panel)["tv"] - true_tv) > 0.1 * true_tv


def test_the_delays_do_not_depend_on_the_order_of_the_channels():
    panel = model_form_panel(noise=0.02, seed=8, delays=(2, 3))
    flipped = replace(panel, channels=panel.channels[::-1], spend=panel.spend[:, :, ::-1])
    one = MMM(ModelSettings(), seed=0).fit(panel)
    two = MMM(ModelSettings(), seed=0).fit(flipped)
    assert dict(zip(one.channels, one.delay.tolist(), strict=True)) == {"tv": 2, "search": 3}
    assert dict(zip(two.channels, two.delay.tolist(), strict=True)) == {"tv": 2, "search": 3}
    for channel, value in one.elasticities(panel).items():
        assert two.elasticities(flipped)[channel] == pytest.approx(value, rel=1e-4)


def test_delay_penalty_is_the_extended_bic_hand_computed():
    assert delay_penalty(0, 5, 4, 156) == 0.0
    assert delay_penalty(1, 5, 4, 156) == pytest.approx(math.log(156) + 2 * math.log(5 * 4))
    assert delay_penalty(2, 5, 4, 156) == pytest.approx(2 * math.log(156)
                                                        + 2 * math.log(10 * 4 ** 2))
    # one possible delay: plain BIC for one channel of one
    assert delay_penalty(1, 1, 1, 2000) == pytest.approx(math.log(2000))


def test_design_effect_of_residuals_shared_by_the_segments_of_a_week_hand_computed():
    # two segments moving together in every week: the pair counts once, not twice
    assert design_effect(np.array([[1.0, -1.0], [1.0, -1.0]])) == pytest.approx(2.0)
    assert design_effect(np.array([[1.0, 1.0], [1.0, -1.0]])) == pytest.approx(1.0)
    assert design_effect(np.array([[1.0, 1.0], [-1.0, -1.0]])) == 1.0  # opposed: floored
    assert design_effect(np.array([[1.0, -2.0, 3.0]])) == 1.0  # one segment
    assert design_effect(np.zeros((3, 4))) == 1.0


def test_profile_temperature_hand_computed_and_measured_on_ar1_residuals():
    # hand-computed: one segment, lag-1 products 1*2 + 2*1 = 4 over a sum of squares of 6
    rho = 4 / 6
    assert profile_temperature(np.array([[1.0, 2.0, 1.0]])) == pytest.approx(
        (1 + rho) / (1 - rho))
    assert profile_temperature(np.array([[1.0, -1.0, 1.0, -1.0]])) == 1.0  # floored at 0
    assert profile_temperature(np.zeros((2, 5))) == 1.0
    assert profile_temperature(np.array([[1.0, 2.0]])) == 1.0  # too short to tell
    # two segments moving together: the design effect (2) multiplies the time factor
    both = np.array([[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]])
    assert profile_temperature(both) == pytest.approx((1 + rho) / (1 - rho) * 2.0)
    # a near unit root is capped
    assert profile_temperature(np.arange(1.0, 200.0)[None, :]) == pytest.approx(
        (1 + mmm_module.PROFILE_MAX_RHO) / (1 - mmm_module.PROFILE_MAX_RHO))
    # measured: independent AR(1) series of 0.5 in 20 segments give (1.5 / 0.5) = 3
    rng = np.random.default_rng(0)
    e = rng.standard_normal((20, 2000))
    r = np.empty_like(e)
    r[:, 0] = e[:, 0]
    for t in range(1, r.shape[1]):
        r[:, t] = 0.5 * r[:, t - 1] + e[:, t]
    assert profile_temperature(r) == pytest.approx(3.0, rel=0.05)
    assert profile_temperature(e) == pytest.approx(1.0, abs=0.06)


def _shocked_with_a_national_placebo(seed: int) -> Panel:
    """10 segments of the model's own form, a shock common to every segment in each week, and
    a placebo channel without effect whose spend follows one national pattern."""
    panel = model_form_panel(noise=0.01, segments=10, seed=seed)
    rng = np.random.default_rng(100 + seed)
    shock = rng.standard_normal(panel.n_weeks) * 0.03 * panel.kpi.mean()
    placebo = np.outer(panel.size, 100 * rng.uniform(0.0, 2.0, panel.n_weeks))
    return replace(panel, kpi=panel.kpi + shock[None, :] * panel.size[:, None],
                   channels=("tv", "search", "placebo"),
                   spend=np.concatenate([panel.spend, placebo[:, :, None]], axis=2))


def test_a_shock_shared_by_every_segment_does_not_buy_a_placebo_a_delay(monkeypatch):
    panels = [_shocked_with_a_national_placebo(seed) for seed in range(10)]
    chosen = [MMM(ModelSettings(), seed=0).fit(p).delay.tolist() for p in panels]
    assert chosen == [[0, 0, 0]] * 10
    # counting the segments' rows as independent, the placebo is delayed on several of them
    monkeypatch.setattr(mmm_module, "design_effect", lambda residuals: 1.0)
    naive = [MMM(ModelSettings(), seed=0).fit(p).delay.tolist() for p in panels]
    assert sum(d[2] > 0 for d in naive) >= 3, naive


def test_no_delay_is_chosen_where_the_effect_starts_with_the_spend(fitted):
    assert fitted[1].delay.tolist() == [0, 0]
    for seed in range(3):
        panel = model_form_panel(noise=0.05, seed=seed)
        assert MMM(ModelSettings(), seed=0).fit(panel).delay.tolist() == [0, 0]


def test_a_warm_start_keeps_the_delays_and_json_round_trips_them():
    panel = model_form_panel(noise=0.02, seed=5, delays=(0, 3))
    model = MMM(ModelSettings(), seed=0).fit(panel)
    assert model.delay.tolist() == [0, 3]
    again = MMM.from_json(model.to_json())
    assert again.delay.tolist() == [0, 3]
    np.testing.assert_allclose(again.predict(panel), model.predict(panel))
    warm = MMM(ModelSettings(), seed=0).fit(model_form_panel(noise=0.02, seed=6, delays=(0, 3)),
                                            start=model)
    assert warm.delay.tolist() == [0, 3]
    # a model saved before delays were chosen had none
    old = json.loads(model.to_json())
    del old["delay"]
    assert MMM.from_dict(old).delay.tolist() == [0, 0]


def test_media_design_delays_each_channels_spend_before_the_adstock():
    panel = model_form_panel(noise=0.03, seed=4)
    problem = MMM(ModelSettings(), seed=0)._prepare(panel)
    theta = np.array([0.5, 0.1, 0.5, 0.2, -0.2, 0.1])
    delayed = problem.per_capita.copy()
    delayed[:, :, 1] = delay_spend(problem.per_capita[:, :, 1], 2)
    z, dz = media_design(problem.per_capita, theta, problem.size, problem.reference, True,
                         delays=[0, 2])
    z0, dz0 = media_design(delayed, theta, problem.size, problem.reference, True)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(dz, dz0)


def test_media_design_saturates_all_channels_as_one_channel_response_does():
    """media_design saturates every channel at once; a lift test's rows use one channel's
    channel_response: the two agree, and weeks without adstock give an exact zero response
    and zero (not NaN) derivatives."""
    panel = model_form_panel(noise=0.03, seed=4)
    problem = MMM(ModelSettings(), seed=0)._prepare(panel)
    per_capita = problem.per_capita.copy()
    per_capita[0, :30, 0] = 0.0  # the adstock starts at and stays 0 there
    theta = np.array([0.4, 0.3, 0.6, 0.0, -0.4, -0.2])
    z, dz = media_design(per_capita, theta, problem.size, problem.reference, True,
                         delays=[1, 0])
    for c in range(2):
        one, done = mmm_module.channel_response(per_capita[:, :, c], *theta[3 * c: 3 * c + 3],
                                                problem.size, problem.reference[c], True,
                                                delay=[1, 0][c])
        np.testing.assert_allclose(z[:, :, c], one, rtol=1e-14, atol=0)
        np.testing.assert_allclose(dz[:, :, c], done, rtol=1e-14, atol=0)
    assert np.isfinite(dz).all()
    assert (z[0, :30, 0] == 0).all() and (dz[0, :30, 0] == 0).all()
    np.testing.assert_array_equal(
        media_design(per_capita, theta, problem.size, problem.reference, delays=[1, 0]), z)


def test_same_seed_gives_identical_fit():
    panel = model_form_panel(noise=0.05, seed=1)
    a = MMM(ModelSettings(n_starts=3), seed=7).fit(panel).to_json()
    b = MMM(ModelSettings(n_starts=3), seed=7).fit(panel).to_json()
    assert a == b


def test_noisy_fit_is_close_and_media_coefficients_are_non_negative():
    panel = model_form_panel(noise=0.05, seed=2)
    model = MMM(ModelSettings(), seed=0).fit(panel)
    clean = MMM(ModelSettings(), seed=0).fit(model_form_panel(seed=2))
    est, true = model.elasticities(panel), clean.elasticities(panel)
    for ch in est:
        assert abs(est[ch] - true[ch]) / true[ch] < 0.25
    assert (model.beta >= 0).all()


def test_analytic_jacobian_matches_finite_differences():
    panel = model_form_panel(noise=0.03, seed=4)
    model = MMM(ModelSettings(prior_strength=0.0), seed=0)
    problem = model._prepare(panel)
    theta = np.array([0.5, 0.1, 0.5, 0.2, -0.2, 0.1])
    z, dz = media_design(problem.per_capita, theta, problem.size, problem.reference, True)
    for j in range(theta.size):
        step = np.zeros_like(theta)
        step[j] = 1e-6
        fd = (media_design(problem.per_capita, theta + step, problem.size, problem.reference)
              - media_design(problem.per_capita, theta - step, problem.size,
                             problem.reference)) / 2e-6
        np.testing.assert_allclose(dz[:, :, j // 3, j % 3], fd[:, :, j // 3], rtol=1e-4,
                                   atol=1e-6 * np.abs(fd).max())
    weights = np.ones(panel.n_segments)
    # Kaufman's approximation: the gradient of the cost is exact at any theta
    _assert_gradient_exact(problem, theta, weights)



def test_remembered_solve_gives_the_same_residuals_and_jacobian():
    """The problem remembers its last linear solve (and, for a fit, the media design's
    derivatives): the residuals and Jacobian are the same bytes as a fresh problem's, at the
    point just evaluated and at any other."""
    panel = model_form_panel(noise=0.03, seed=4)
    weights = np.ones(panel.n_segments)
    one = np.array([0.5, 0.1, 0.5, 0.2, -0.2, 0.1])
    two = np.array([0.3, -0.1, 0.2, 0.4, 0.1, -0.1])

    def fresh(theta):
        problem = MMM(ModelSettings(), seed=0)._prepare(panel)
        return problem.residuals(theta, weights), problem.jacobian(theta, weights)

    for with_derivatives in (False, True):
        problem = MMM(ModelSettings(), seed=0)._prepare(
            panel, derivatives_with_residuals=with_derivatives)
        for residual_at, jacobian_at in ((one, one), (one, two), (two, two)):
            r = problem.residuals(residual_at, weights)
            jac = problem.jacobian(jacobian_at, weights)
            np.testing.assert_array_equal(r, fresh(residual_at)[0])
            np.testing.assert_array_equal(jac, fresh(jacobian_at)[1])
        # other weights at the same point are another solve
        np.testing.assert_array_equal(
            problem.residuals(two, 2.0 * weights),
            MMM(ModelSettings(), seed=0)._prepare(panel).residuals(two, 2.0 * weights))

def test_zero_spend_channel_contributes_nothing(fitted):
    panel, model = fitted
    spend = panel.spend.copy()
    spend[:, :, 0] = 0.0
    base, media = model._parts(panel, spend)
    assert np.all(media[:, :, 0] == 0.0)


def test_response_curve_is_monotone_from_zero(fitted):
    _, model = fitted
    curve = model.response_curve("tv")
    assert curve["weekly_response"].iloc[0] == 0.0
    assert (np.diff(curve["weekly_response"]) >= 0).all()
    assert (curve["marginal_roi"] >= 0).all()


def test_misuse_is_reported():
    panel = model_form_panel()
    with pytest.raises(NotFittedError):
        MMM().predict(panel)
    model = MMM(ModelSettings(n_starts=1)).fit(panel)
    other = model_form_panel(segments=2)
    with pytest.raises(ValueError, match="segments"):
        model.predict(other)
    with pytest.raises(ValueError, match="too few"):
        MMM().fit(panel.weeks(0, 3))  # (no seasonality on so few: 4 weeks at least)


def test_hill_log_slope_is_the_derivative_of_log_hill():
    level = np.array([0.3, 0.0, -0.5])  # log(a / reference)
    theta = np.array([0.2, 0.4, np.log(3.0), 0.5, -0.3, np.log(0.8), 0.0, 0.1, np.log(1.5)])
    e, de_dk, de_ds = hill_log_slope(level, theta)
    t = theta.reshape(-1, 3)
    for c in range(3):
        k, s, a = np.exp(t[c, 1]), np.exp(t[c, 2]), np.exp(level[c])
        step = np.log(1.0001)
        fd = (np.log(hill(a * 1.0001, k, s)) - np.log(hill(a / 1.0001, k, s))) / (2 * step)
        assert e[c] == pytest.approx(fd, rel=1e-6)
        for j, analytic in ((1, de_dk[c]), (2, de_ds[c])):
            up, down = theta.copy(), theta.copy()
            up[3 * c + j] += 1e-6
            down[3 * c + j] -= 1e-6
            fd_j = (hill_log_slope(level, up)[0][c] - hill_log_slope(level, down)[0][c]) / 2e-6
            assert analytic == pytest.approx(fd_j, rel=1e-5, abs=1e-9)
    # shape 3 at a level well below K: increasing returns; shape 0.8: diminishing everywhere
    assert e[0] > 1.0 and e[1] < 0.8


def _returns_prior_problem():
    """A two-channel problem (tv, search) for the returns priors' tests: panel, problem,
    channel count and unit weights."""
    panel = model_form_panel(noise=0.03, seed=4)
    problem = MMM(ModelSettings(), seed=0)._prepare(panel)
    return panel, problem, len(panel.channels), np.ones(panel.n_segments)


def _assert_gradient_exact(problem, theta, weights):
    """J^T r of the analytic Jacobian equals the finite-difference gradient of 0.5 |r|^2."""
    jac = problem.jacobian(theta, weights)
    grad = jac.T @ problem.residuals(theta, weights)
    fd_grad = approx_fprime(theta, lambda t: 0.5 * (problem.residuals(t, weights) ** 2).sum(),
                            1e-6)
    np.testing.assert_allclose(grad, fd_grad, rtol=1e-3, atol=1e-3 * np.abs(fd_grad).max())


def test_increasing_returns_prior_charges_only_convex_claims_and_its_jacobian_is_exact():
    panel, problem, c_n, weights = _returns_prior_problem()
    # tv: K far above today's spend and shape 3.5 (increasing returns); search: concave
    theta = np.array([0.5, np.log(5.0), np.log(3.5), 0.2, -0.2, np.log(1.0)])
    z = problem.residuals(theta, weights)[-c_n:]
    assert z[0] > 1.0 and z[1] == 0.0
    # the z-score is (e - threshold) / sd at the channel's mean spend over weeks with spend
    per_capita = panel.spend / problem.size[:, None, None]
    tv = per_capita[:, :, 0]
    assert typical_spend(per_capita)[0] == pytest.approx(tv[tv > 0].mean())
    e, _, _ = hill_log_slope(np.log(typical_spend(per_capita) / problem.reference), theta)
    assert z[0] == pytest.approx((e[0] - RETURNS_PRIOR[0]) / RETURNS_PRIOR[1])
    _assert_gradient_exact(problem, theta, weights)
    # prior_strength 0 switches it off with the other priors
    off = MMM(ModelSettings(prior_strength=0.0), seed=0)._prepare(panel)
    assert off.residuals(theta, weights).size == panel.kpi.size


def test_flat_response_prior_charges_only_saturated_claims_and_its_jacobian_is_exact():
    panel, problem, c_n, weights = _returns_prior_problem()
    # tv: K a fifth of today's spend and shape 4 - saturated flat; search: concave, e ~ 0.5
    theta = np.array([0.5, np.log(0.2), np.log(4.0), 0.2, -0.2, np.log(1.0)])
    z = problem.residuals(theta, weights)[-c_n:]
    e, _, _ = hill_log_slope(problem.log_typical, theta)
    assert e[0] < 0.01 and FLAT_PRIOR[0] < e[1] < RETURNS_PRIOR[0]
    assert z[0] == pytest.approx((e[0] - FLAT_PRIOR[0]) / FLAT_PRIOR[1]) and z[0] < -1.5
    assert z[1] == 0.0
    _assert_gradient_exact(problem, theta, weights)
    # prior_strength scales it with the others: 4 doubles the z-score
    strong = MMM(ModelSettings(prior_strength=4.0), seed=0)._prepare(panel)
    assert strong.residuals(theta, weights)[-c_n:][0] == pytest.approx(2.0 * z[0])


def test_a_fit_on_less_than_a_year_leaves_the_yearly_seasonality_out():
    from mmm_evidence.evaluation.baselines import LinearBaseline
    from mmm_evidence.evaluation.loglog import LogLogOLS
    from mmm_evidence.model.mmm import yearly_order

    assert [yearly_order(2, n, 52) for n in (51, 52, 156)] == [0, 2, 2]
    assert yearly_order(3, 10, 0) == 3  # 0: always fitted
    panel = model_form_panel(noise=0.02, weeks=60)
    settings = ModelSettings(n_starts=1)
    short = MMM(settings).fit(panel.weeks(None, 40))
    year = MMM(settings).fit(panel.weeks(None, 52))
    assert (short.fourier_order, year.fourier_order) == (0, 2)
    # the baseline design of the short fit has no Fourier columns, in the fit and after
    assert short.baseline_coef.shape[1] == year.baseline_coef.shape[1] - 4
    assert np.isfinite(short.predict(panel)).all()
    again = MMM.from_json(short.to_json())
    assert again.fourier_order == 0
    np.testing.assert_array_equal(again.predict(panel), short.predict(panel))
    legacy = short.to_dict()
    legacy.pop("fourier_order")  # saved before the order was recorded: the settings' order
    assert MMM.from_dict({**legacy, "baseline_coef": year.baseline_coef.tolist()}
                         ).fourier_order == 2
    assert MMM(settings.model_copy(update={"seasonality_min_weeks": 0})
               ).fit(panel.weeks(None, 40)).fourier_order == 2
    # the comparison models follow the same rule
    assert LinearBaseline(2, True, 52).fit(panel.weeks(None, 40)).fitted_order == 0
    assert LinearBaseline(2, True, 52).fit(panel.weeks(None, 52)).fitted_order == 2
    assert LogLogOLS(settings).fit(panel.weeks(None, 40)).fourier_order == 0


def _with_control(panel: Panel, column: np.ndarray) -> Panel:
    controls = np.concatenate([panel.controls, np.broadcast_to(
        column, panel.kpi.shape)[:, :, None]], axis=2)
    return replace(panel, controls=controls, control_names=(*panel.control_names, "extra"))


@pytest.mark.parametrize("scale", [1e-6, 1e9, 1e13])
def test_a_controls_units_do_not_change_the_fit(scale):
    # a control in large raw units (a competitor's spend in cents, GDP in dollars) pushed the
    # intercept and trend out of the baseline's rank cut: search's share went from 9 % to 177 %
    panel = model_form_panel(noise=0.03, seed=4)
    rng = np.random.default_rng(0)
    column = 1.0 + 0.3 * rng.standard_normal(panel.kpi.shape)
    settings = ModelSettings(n_starts=2)
    plain = MMM(settings, seed=1).fit(_with_control(panel, column))
    scaled = MMM(settings, seed=1).fit(_with_control(panel, column * scale))
    a = plain.elasticities(_with_control(panel, column))
    b = scaled.elasticities(_with_control(panel, column * scale))
    for channel in a:
        assert b[channel] == pytest.approx(a[channel], rel=1e-5)
    shares = scaled.contribution_shares(_with_control(panel, column * scale))
    assert all(0 < v < 1 for v in shares.values())


def test_a_control_linear_in_time_adds_nothing_to_intercept_and_trend():
    panel = model_form_panel(noise=0.03, seed=4)
    settings = ModelSettings(n_starts=2)
    seconds = panel.dates.to_numpy().astype("datetime64[s]").astype(float)  # 1.67e9 ...
    plain = MMM(settings, seed=1).fit(panel)
    timed = _with_control(panel, np.broadcast_to(seconds, panel.kpi.shape))
    model = MMM(settings, seed=1).fit(timed)
    base, with_time = plain.elasticities(panel), model.elasticities(timed)
    for channel in base:
        assert with_time[channel] == pytest.approx(base[channel], rel=1e-5)
    # it adds no parameter either (the residual degrees of freedom the intervals use)
    assert model.diagnostics.n_linear_parameters == plain.diagnostics.n_linear_parameters


@pytest.mark.parametrize("jitter", [0.0, 1e-6])
def test_a_channel_with_constant_spend_gets_no_effect(jitter):
    # constant spend is absorbed by the segment intercepts; its projected regressor is
    # round-off, which the NNLS had scaled into a coefficient of 1e18 (shares of 1e12)
    panel = model_form_panel(noise=0.03, seed=4)
    rng = np.random.default_rng(1)
    flat = np.round(5000.0 * (1 + jitter * rng.standard_normal(panel.kpi.shape)), 2)
    extra = replace(panel, spend=np.concatenate([panel.spend, flat[:, :, None]], axis=2),
                    channels=(*panel.channels, "sponsorship"))
    settings = ModelSettings(n_starts=2)
    model = MMM(settings, seed=1).fit(extra)
    assert model.beta[2] == 0.0
    assert model.elasticities(extra)["sponsorship"] == 0.0
    assert model.contribution_shares(extra)["sponsorship"] == 0.0
    base = MMM(settings, seed=1).fit(panel).elasticities(panel)
    for channel in base:
        assert model.elasticities(extra)[channel] == pytest.approx(base[channel], rel=1e-3)


def test_yearly_harmonics_by_hand() -> None:
    """sin/cos of 2πk × (day of year − 1) / 365.25, k by k: the baseline's yearly terms (and
    the linear baselines' and baseline_form's, which call the same function)."""
    dates = pd.DatetimeIndex(["2023-01-01", "2023-04-02", "2023-07-02"])  # days 1, 92, 183
    fraction = np.array([0.0, 91.0, 182.0]) / 365.25
    got = yearly_harmonics(dates, [1, 3])
    expected = [np.sin(2 * np.pi * fraction), np.cos(2 * np.pi * fraction),
                np.sin(6 * np.pi * fraction), np.cos(6 * np.pi * fraction)]
    assert len(got) == 4
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-12)
    assert got[0][0] == 0.0 and got[1][0] == 1.0 and got[0][1] == pytest.approx(0.99998, abs=1e-4)
    assert yearly_harmonics(dates, []) == []


# --------------------------------------------------------------------------- decay profile


def test_profile_median_of_hand_made_profiles():
    grid = np.linspace(0.0, 0.9, 10)
    # a flat profile: the density is uniform on [0, 0.9], its median the middle
    assert mmm_module.profile_median(grid, np.zeros(10), 0.9, 0.0, 0.9) == pytest.approx(0.45)
    # objective k * d (density exp(-k d) on [0, U]): median -log((1 + exp(-k U)) / 2) / k
    k, upper = 3.0, 0.9
    expected = -math.log((1 + math.exp(-k * upper)) / 2) / k
    got = mmm_module.profile_median(grid, k * grid, 0.0, 0.0, upper)
    assert got == pytest.approx(expected, abs=2e-3)
    # the mirror image: cheap at the upper end, median above the middle
    mirrored = mmm_module.profile_median(grid, k * (upper - grid), upper, 0.0, upper)
    assert mirrored == pytest.approx(upper - expected, abs=2e-3)
    # a profile sharper than the grid keeps the fitted value (off any grid point)
    sharp = 1e4 * (grid - 0.52) ** 2
    assert min(sharp[5], sharp[6]) >= mmm_module.DECAY_PROFILE_SHARP
    assert mmm_module.profile_median(grid, sharp, 0.52, 0.0, upper) == 0.52
    # a fit below every grid node is a node of the profile: the median moves towards it
    near_fit = mmm_module.profile_median(grid, 0.5 + np.zeros(10), 0.85, 0.0, upper)
    assert near_fit > 0.45 + 0.01
    # a grid node well below the fit (another basin): the fit is not kept however sharp
    basin = np.full(10, 3.0)
    basin[0] = -1.0
    assert mmm_module.profile_median(grid, basin, 0.45, 0.0, upper) < 0.3
    # costs that are not numbers change nothing
    assert mmm_module.profile_median(grid, np.where(grid > 0.5, np.nan, 0.0), 0.33, 0.0,
                                     upper) == 0.33
    assert mmm_module.profile_median(grid, np.zeros(10), 0.33, math.nan, upper) == 0.33
    # a fit at either bound, on a flat profile: the middle still
    for fitted in (0.0, upper):
        assert mmm_module.profile_median(grid, np.zeros(10), fitted, 0.0, upper) == \
            pytest.approx(0.45)


def test_profile_quantiles_of_hand_made_profiles():
    grid, upper = np.linspace(0.0, 0.9, 10), 0.9
    flat = mmm_module.profile_cdf(grid, np.zeros(10), 0.9, 0.0, upper)
    for q in (0.05, 0.25, 0.5, 0.9):
        assert mmm_module.profile_quantile(*flat, q) == pytest.approx(q * upper)
    # objective k * d: the q quantile of exp(-k d) truncated to [0, U] in closed form
    k = 3.0
    tilted = mmm_module.profile_cdf(grid, k * grid, 0.0, 0.0, upper)
    for q in (0.1, 0.5, 0.95):
        expected = -math.log(1 - q * (1 - math.exp(-k * upper))) / k
        assert mmm_module.profile_quantile(*tilted, q) == pytest.approx(expected, abs=2e-3)
    # the median is the 0.5 quantile, to the byte what profile_median gave before it was
    # built on profile_cdf (values of the implementation at commit dddcebc); no cdf where the
    # median keeps the fit
    assert mmm_module.profile_median(grid, k * grid, 0.0, 0.0, upper) == 0.20937545225535742
    assert mmm_module.profile_median(grid, 20 * (grid - 0.3) ** 2, 0.31, 0.0, upper) == \
        0.30599937783586073
    assert mmm_module.profile_quantile(*tilted, 0.5) == 0.20937545225535742
    # the tails: q near 0 and 1 stay inside [0, upper] and in order
    ends = [mmm_module.profile_quantile(*tilted, q) for q in (1e-300, 1e-9, 1 - 1e-9, 1.0)]
    assert 0.0 <= ends[0] <= ends[1] < ends[2] <= ends[3] <= upper
    sharp = 1e4 * (grid - 0.52) ** 2
    assert mmm_module.profile_cdf(grid, sharp, 0.52, 0.0, upper) is None
    assert mmm_module.profile_cdf(grid, np.full(10, math.nan), 0.52, 0.0, upper) is None


def test_profile_cdf_of_a_walk_cut_off_in_its_tails():
    """Nodes a profile walk did not evaluate (+inf, beyond its cutoff) carry no density; the
    quantiles are those of the full profile up to the mass beyond the cutoff."""
    grid, upper = np.linspace(0.0, 0.9, 10), 0.9
    costs = 40 * (grid - 0.45) ** 2  # 0 at the middle, 8.1 at either end
    full = mmm_module.profile_cdf(grid, costs, 0.45, 0.0, upper)
    cut = np.where(np.abs(grid - 0.45) > 0.4, math.inf, costs)  # the end nodes not evaluated
    walked = mmm_module.profile_cdf(grid, cut, 0.45, 0.0, upper)
    points, cdf = walked
    step = upper / 200  # the fine grid's: no density beyond a fine step from the walk
    assert cdf[points < grid[1]].max() == 0.0 and np.ptp(cdf[points > grid[-2] + step]) == 0
    for q in (0.05, 0.5, 0.95):
        assert mmm_module.profile_quantile(*walked, q) == pytest.approx(
            mmm_module.profile_quantile(*full, q), abs=2e-3)
    assert mmm_module.profile_quantile(*walked, 0.5) == pytest.approx(0.45, abs=1e-9)
    # every node evaluated: byte-identical to a profile without any +inf
    assert np.array_equal(mmm_module.profile_cdf(grid, costs, 0.45, 0.0, upper)[1], full[1])
    # the sharp rule reads the nearest evaluated nodes
    sharp = np.where(np.abs(grid - 0.5) > 0.1, math.inf, 1e4 * (grid - 0.52) ** 2)
    assert mmm_module.profile_cdf(grid, sharp, 0.52, 0.0, upper) is None
    # no node evaluated: no profile to read (the median keeps the fit), not a point mass at 0
    assert mmm_module.profile_cdf(grid, np.full(10, math.inf), 0.52, 0.0, upper) is None
    assert mmm_module.profile_median(grid, np.full(10, math.inf), 0.52, 0.0, upper) == 0.52


def test_decay_profile_walk_matches_independent_solves_and_stops_at_the_cutoff():
    """The continuation walk gives the same objective at each node as a solve started from
    the fit (to well within what moves the median), and stops one node past the cutoff."""
    panel = model_form_panel(noise=0.03, seed=2)
    settings = ModelSettings(max_delay_weeks=0, n_starts=2)
    captured = {}
    original = MMM._summarise_decays

    def capture(self, problem, fitted, weights, lower, upper, optimise):
        captured.update(problem=problem, fitted=fitted, weights=weights, lower=lower,
                        upper=upper, optimise=optimise)
        return original(self, problem, fitted, weights, lower, upper, optimise)

    model = MMM(settings, seed=3)
    model._summarise_decays = capture.__get__(model)
    model.fit(panel)
    problem, fitted = captured["problem"], captured["fitted"]
    # the multi-start found the optimum: no re-fit (no node below it, asserted further down)
    d = model.diagnostics
    assert (d.profile_refits, d.profile_refit_gain, d.profile_below_fit) == (0, 0.0, False)
    grid = np.asarray(model.decay_profile["grid"])
    for c in range(len(model.channels)):
        walked, lowest = mmm_module._decay_profile(problem, fitted, c, grid,
                                                   captured["weights"], captured["lower"],
                                                   captured["upper"])
        assert lowest.cost == walked[np.isfinite(walked)].min()
        assert lowest.x[3 * c] in grid
        assert model.decay_profile["objective"][c] == [
            None if math.isinf(v) else v for v in walked]
        excess = walked - fitted.cost
        evaluated = np.flatnonzero(np.isfinite(walked))
        # contiguous, and every node past the cutoff is the last one of its walk
        assert np.array_equal(evaluated, np.arange(evaluated[0], evaluated[-1] + 1))
        inner = excess[evaluated[1:-1]]
        assert (inner <= mmm_module.DECAY_PROFILE_CUTOFF).all()
        for i in (evaluated[0], evaluated[-1]):
            if 0 < i < grid.size - 1:
                assert excess[i] > mmm_module.DECAY_PROFILE_CUTOFF
        for i in evaluated:
            alone = mmm_module._least_squares_holding(
                problem, mmm_module._with(fitted.x, 3 * c, grid[i]), captured["weights"],
                np.array([3 * c]), captured["lower"], captured["upper"], 100)
            assert walked[i] == pytest.approx(alone.cost, abs=0.05)
    assert any(v is None for costs in model.decay_profile["objective"] for v in costs)
    again = MMM.from_json(model.to_json())
    np.testing.assert_array_equal(again.draw_decays(np.random.default_rng(5)),
                                  model.draw_decays(np.random.default_rng(5)))
    # a fit that is not the optimum (one decay held far off): its profile reaches a node
    # below it, so the fit is re-optimised from there and profiled again, ending at the
    # optimum's objective with no node below it
    assert min(v for costs in model.decay_profile["objective"] for v in costs
               if v is not None) >= fitted.cost - mmm_module.DECAY_PROFILE_REFIT_TOLERANCE
    far = int(np.argmax(np.abs(grid - fitted.x[0])))
    worse = mmm_module._least_squares_holding(
        problem, mmm_module._with(fitted.x, 0, grid[far]), captured["weights"], np.array([0]),
        captured["lower"], captured["upper"], 100)
    assert worse.cost > fitted.cost + 1.0
    again = MMM(settings, seed=3)
    again.channels = model.channels
    _, refits, gain, below = again._summarise_decays(
        problem, worse, captured["weights"], captured["lower"], captured["upper"],
        captured["optimise"])
    # the re-fits are counted, and their gain is the fall from the held fit to the optimum
    assert 1 <= refits <= mmm_module.DECAY_PROFILE_REFITS and not below
    assert gain == pytest.approx(worse.cost - fitted.cost, abs=0.01)
    profile = again.decay_profile
    assert profile["fitted_objective"] == pytest.approx(fitted.cost, abs=0.01)
    assert profile["fitted"][0] == pytest.approx(fitted.x[0], abs=0.01)
    for costs in profile["objective"]:
        assert min(v for v in costs if v is not None) >= (
            profile["fitted_objective"] - mmm_module.DECAY_PROFILE_REFIT_TOLERANCE)


def test_decay_profile_nodes_stop_at_the_cost_tolerance(monkeypatch):
    """A profile node's solve stops once a step lowers the objective by less than
    DECAY_PROFILE_COST_TOLERANCE: fewer evaluations than solving every node to the fit's own
    tolerance, the same nodes walked, each node's objective within a few tolerances of that
    solve's, and the reported decays and elasticities all but unchanged."""
    panel = model_form_panel(noise=0.03, seed=2)
    settings = ModelSettings(max_delay_weeks=0, n_starts=2)
    original = mmm_module._least_squares_holding
    tolerance = mmm_module.DECAY_PROFILE_COST_TOLERANCE

    def fit(value: float):
        monkeypatch.setattr(mmm_module, "DECAY_PROFILE_COST_TOLERANCE", value)
        evaluations = []

        def counting(*args, **kwargs):
            result = original(*args, **kwargs)
            if len(args) > 7:  # a profile node (_decay_profile passes its ftol)
                evaluations.append(result.nfev)
            return result

        monkeypatch.setattr(mmm_module, "_least_squares_holding", counting)
        model = MMM(settings, seed=3).fit(panel)
        monkeypatch.setattr(mmm_module, "_least_squares_holding", original)
        return model, evaluations

    tight, tight_evaluations = fit(1e-300)  # every node to ftol 1e-8, the fit's own
    quick, quick_evaluations = fit(tolerance)
    assert len(quick_evaluations) == len(tight_evaluations) > 0
    assert sum(quick_evaluations) < sum(tight_evaluations)
    for a, b in zip(quick.decay_profile["objective"], tight.decay_profile["objective"],
                    strict=True):
        assert [v is None for v in a] == [v is None for v in b]
        known = [(u, v) for u, v in zip(a, b, strict=True) if v is not None]
        assert all(abs(u - v) <= 10 * tolerance for u, v in known)
    np.testing.assert_allclose(quick.decay, tight.decay, atol=1e-3)
    np.testing.assert_allclose(list(quick.elasticities(panel).values()),
                               list(tight.elasticities(panel).values()), rtol=1e-3)


def test_a_warm_started_fit_stops_at_its_cost_tolerance(monkeypatch):
    """A bootstrap-style refit (warm start, decays held) with ``cost_tolerance`` stops its
    solves once a step lowers the objective by less than that: fewer evaluations than the
    tight refit, an objective within a few tolerances of its, and elasticities all but the
    same; 0 is the tight refit itself, and a tolerance without a start or below 0 is refused."""
    panel = model_form_panel(noise=0.05, seed=4)
    reference = MMM(ModelSettings(max_delay_weeks=0, n_starts=2), seed=1).fit(panel)
    # a resample-like panel: the KPI nudged, so the refit has somewhere to go
    shifted = replace(panel, kpi=panel.kpi * (1 + 0.02 * np.sin(np.arange(panel.n_weeks))))
    held = np.array([0.45, np.nan])
    mmm_module.least_squares(lambda x: x, np.ones(1))  # the lazy import, before counting
    original = mmm_module.least_squares
    evaluations = []

    def counting(*args, **kwargs):
        result = original(*args, **kwargs)
        evaluations.append(result.nfev)
        return result

    def refit(tolerance: float):
        evaluations.clear()
        monkeypatch.setattr(mmm_module, "least_squares", counting)
        model = MMM(reference.settings, seed=1).fit(shifted, start=reference,
                                                    hold_decays=held,
                                                    cost_tolerance=tolerance)
        monkeypatch.setattr(mmm_module, "least_squares", original)
        return model, sum(evaluations)

    tight, tight_evaluations = refit(0.0)
    quick, quick_evaluations = refit(1e-3)
    assert 0 < quick_evaluations < tight_evaluations
    assert tight.diagnostics.objective <= quick.diagnostics.objective + 1e-9
    assert quick.diagnostics.objective - tight.diagnostics.objective <= 1e-2
    assert quick.decay[0] == pytest.approx(0.45)  # still held
    np.testing.assert_allclose(list(quick.elasticities(shifted).values()),
                               list(tight.elasticities(shifted).values()), rtol=1e-3)
    again, _ = refit(0.0)
    np.testing.assert_array_equal(again.decay, tight.decay)
    with pytest.raises(ValueError, match="cost_tolerance needs a start"):
        MMM(reference.settings, seed=1).fit(panel, cost_tolerance=1e-3)
    with pytest.raises(ValueError, match="cost_tolerance=-1"):
        MMM(reference.settings, seed=1).fit(panel, start=reference, cost_tolerance=-1.0)


def test_a_fit_records_its_profile_refits_and_a_node_still_below_it(monkeypatch):
    """A tolerance no node can meet makes every profile "find" a better optimum: the fit
    re-fits as often as allowed, says so in its diagnostics (and its JSON), and records that
    a node still lay below it."""
    monkeypatch.setattr(mmm_module, "DECAY_PROFILE_REFIT_TOLERANCE", -math.inf)
    model = MMM(ModelSettings(max_delay_weeks=0, n_starts=2), seed=3).fit(
        model_form_panel(noise=0.03, seed=2))
    d = model.diagnostics
    assert d.profile_refits == mmm_module.DECAY_PROFILE_REFITS and d.profile_below_fit
    assert d.profile_refit_gain > -1e-6  # a re-fit from a node never ends above the fit
    assert json.loads(model.to_json())["diagnostics"]["profile_refits"] == d.profile_refits


def test_profile_median_decay_keeps_a_sharp_fit_and_moves_a_flat_one():
    # coefficients at the mode: the placebo's is then exactly 0 (the profile, on the
    # least-squares objective, is the same under either coefficient_estimate)
    settings = ModelSettings(max_delay_weeks=0, decay_estimate="optimum",
                             coefficient_estimate="mode")
    profiled = settings.model_copy(update={"decay_estimate": "profile_median"})
    assert ModelSettings().decay_estimate == "profile_median"  # the default
    # noiseless: every decay is sharply identified, the profile keeps the optimum
    panel = model_form_panel()
    optimum = MMM(settings, seed=3).fit(panel)
    model = MMM(profiled, seed=3).fit(panel)
    np.testing.assert_allclose(model.decay, optimum.decay, atol=1e-6)
    assert np.max(np.abs(model.predict(panel) - panel.kpi) / panel.kpi) < 1e-3
    # a third channel with no effect at all: the data leave its profile flat, so its decay
    # is the median of the decay prior on [0, max_decay] (PRIOR: normal, truncated there),
    # not wherever the optimiser stopped
    rng = np.random.default_rng(4)
    extra = rng.uniform(20, 80, panel.spend.shape[:2])[:, :, None]
    noisy = model_form_panel(noise=0.03, seed=2)
    noisy = replace(noisy, spend=np.concatenate([noisy.spend, extra], axis=2),
                    channels=(*noisy.channels, "placebo"))
    first = MMM(profiled, seed=3).fit(noisy)
    again = MMM(profiled, seed=3).fit(noisy)
    assert first.to_json() == again.to_json()  # deterministic
    assert MMM.from_json(first.to_json()).to_json() == first.to_json()
    mean, sd = mmm_module.PRIOR["decay"]
    a, b = norm.cdf(-mean / sd), norm.cdf((settings.max_decay - mean) / sd)
    assert first.beta[2] == 0
    assert first.decay[2] == pytest.approx(mean + sd * norm.ppf((a + b) / 2), abs=0.01)
    assert MMM(settings, seed=3).fit(noisy).decay[2] != pytest.approx(first.decay[2], abs=0.01)
    lo, hi = 0.0, settings.max_decay
    assert all(lo <= d <= hi for d in first.decay)
    assert first.settings.decay_estimate == "profile_median"


def test_profile_draws_and_refits_holding_drawn_decays():
    """A profile_median fit records its decay profiles (kept by the JSON round trip); draws
    from a flat profile spread over [0, max_decay] around its median, a sharp one gives none;
    a refit with ``hold_decays`` keeps exactly the held decays and frees the rest."""
    settings = ModelSettings(max_delay_weeks=0, n_starts=2, decay_estimate="optimum")
    profiled = settings.model_copy(update={"decay_estimate": "profile_median"})
    rng = np.random.default_rng(4)
    noisy = model_form_panel(noise=0.03, seed=2)
    extra = rng.uniform(20, 80, noisy.spend.shape[:2])[:, :, None]
    noisy = replace(noisy, spend=np.concatenate([noisy.spend, extra], axis=2),
                    channels=(*noisy.channels, "placebo"))
    model = MMM(profiled, seed=3).fit(noisy)
    optimum = MMM(settings, seed=3).fit(noisy)
    assert "decay_profile" not in optimum.to_dict()  # the default fit's JSON is unchanged
    assert optimum.draw_decays(np.random.default_rng(0)) is None
    assert len(model.to_dict()["decay_profile"]["objective"]) == 3
    cdfs = model.profile_cdfs()
    assert cdfs[0] is None and cdfs[2] is not None  # a sharp profile; the placebo's is flat
    draws = np.array([model.draw_decays(np.random.default_rng(s)) for s in range(400)])
    assert np.isnan(draws[:, 0]).all()  # the sharp one's decay stays free
    placebo = draws[:, 2]
    assert 0.0 <= placebo.min() and placebo.max() <= settings.max_decay
    assert np.median(placebo) == pytest.approx(model.decay[2], abs=0.06)
    assert np.quantile(placebo, 0.9) - np.quantile(placebo, 0.1) > 0.3
    again = MMM.from_json(model.to_json())
    np.testing.assert_array_equal(again.draw_decays(np.random.default_rng(7)),
                                  model.draw_decays(np.random.default_rng(7)))
    # the draws come from the profile flattened by the residuals' temperature: the same
    # profile read at temperature 1 and at twice the fitted one differs as its objective
    assert model.decay_profile["temperature"] >= 1.0
    profile = model.decay_profile
    objective = np.array([math.inf if v is None else v for v in profile["objective"][2]])
    for t in (1.0, 2 * profile["temperature"]):
        tempered = MMM.from_json(model.to_json())
        tempered.decay_profile["temperature"] = t
        expected = mmm_module.profile_cdf(np.asarray(profile["grid"]), objective / t,
                                          profile["fitted"][2],
                                          profile["fitted_objective"] / t, settings.max_decay)
        np.testing.assert_array_equal(tempered.profile_cdfs()[2][1], expected[1])
        np.testing.assert_array_equal(model.profile_cdfs(temperature=t)[2][1], expected[1])
    np.testing.assert_array_equal(  # by default the fit's own temperature
        model.profile_cdfs()[2][1], model.profile_cdfs(temperature=profile["temperature"])[2][1])
    spread = {}
    for t in (1.0, 4.0):
        tempered.decay_profile["temperature"] = t
        d = np.array([tempered.draw_decays(np.random.default_rng(s))[2] for s in range(400)])
        spread[t] = np.quantile(d, 0.9) - np.quantile(d, 0.1)
    assert spread[4.0] > spread[1.0]
    # a model read from another's dict shares nothing with it
    saved = model.decay_profile["temperature"]
    copied = MMM.from_dict(model.to_dict())
    copied.decay_profile["temperature"] = 3.0
    model.to_dict()["decay_profile"]["temperature"] = 4.0
    assert model.decay_profile["temperature"] == saved
    # a model saved before the temperature was recorded reads its profile at 1
    old_profile = model.to_dict()
    del old_profile["decay_profile"]["temperature"]
    untempered = MMM.from_dict(old_profile)
    np.testing.assert_array_equal(untempered.profile_cdfs()[2][1],
                                  model.profile_cdfs(temperature=1.0)[2][1])
    held = np.array([np.nan, np.nan, 0.8])
    refit = MMM(profiled, seed=3).fit(noisy, start=model, hold_decays=held)
    assert refit.decay[2] == 0.8
    assert refit.decay_profile is None and "decay_profile" not in refit.to_dict()
    assert refit.decay[0] == pytest.approx(model.decay[0], abs=0.05)
    with pytest.raises(ValueError, match="hold_decays needs a start"):
        MMM(profiled, seed=3).fit(noisy, hold_decays=held)
    with pytest.raises(ValueError, match="2 values for 3 channels"):
        MMM(profiled, seed=3).fit(noisy, start=model, hold_decays=held[:2])
    # a model saved before decay_estimate existed took its decays at the optimum
    old = optimum.to_dict()
    del old["settings"]["decay_estimate"]
    assert MMM.from_dict(old).settings.decay_estimate == "optimum"
    # an oracle fit after a profiled one keeps no stale profile
    model.fit_fixed(noisy, model.decay, model.half_saturation, model.shape)
    assert model.decay_profile is None and model.draw_decays(np.random.default_rng(0)) is None


def test_every_profile_sharp_draws_nothing_and_refits_profile_nothing(monkeypatch):
    """On noiseless data every decay is sharply identified: draw_decays gives all NaN (not
    None), so a bootstrap refit frees every decay and profiles nothing again."""
    panel = model_form_panel()
    model = MMM(ModelSettings(max_delay_weeks=0, n_starts=2), seed=3).fit(panel)
    assert model.decay_profile is not None and all(c is None for c in model.profile_cdfs())
    held = model.draw_decays(np.random.default_rng(0))
    assert held is not None and np.isnan(held).all()
    calls = []
    monkeypatch.setattr(MMM, "_summarise_decays",
                        lambda self, *args: calls.append(1) or args[1])
    from mmm_evidence.model.uncertainty import block_bootstrap
    unc = block_bootstrap(model, panel, replicates=2, seed=1)
    assert not calls and not unc.method.endswith("profile posterior")
