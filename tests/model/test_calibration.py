import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.lift import LiftTest
from mmm_evidence.evaluation.lift import compare_lift_tests
from mmm_evidence.model.mmm import MMM
from tests.model.conftest import model_form_panel


def tv_test(panel, lift, se):
    return LiftTest(channel="tv", start=panel.dates[60], end=panel.dates[67], spend_change=1.0,
                    lift=lift, lift_se=se, segments=(panel.segments[0],), cooldown_weeks=4,
                    label="tv geo test")


@pytest.fixture(scope="module")
def setting():
    clean = model_form_panel(seed=9)
    truth_model = MMM(ModelSettings(n_starts=1), seed=0).fit(clean)
    panel = model_form_panel(noise=0.08, seed=9)
    true_lift = truth_model.lift(clean, tv_test(clean, 0.0, 1.0))
    return panel, true_lift


def test_implied_lift_is_the_prediction_difference_over_the_measured_weeks(setting):
    panel, true_lift = setting
    model = MMM(ModelSettings(n_starts=1), seed=0).fit(panel)
    test = tv_test(panel, true_lift, 0.1 * true_lift)
    changed = test.changed_spend(panel.spend, panel.dates, panel.segments, panel.channels)
    assert (changed[1:] == panel.spend[1:]).all()  # only the tested segment changes
    assert np.allclose(changed[0, 60:68, 0], 2 * panel.spend[0, 60:68, 0])
    diff = model.predict(panel, changed) - model.predict(panel)
    assert model.lift(panel, test) == pytest.approx(diff[:, 60:72].sum())
    [row] = compare_lift_tests(model, panel, [test])
    assert row["implied_lift"] == pytest.approx(model.lift(panel, test))
    assert row["z"] == pytest.approx((row["implied_lift"] - true_lift) / (0.1 * true_lift))


def test_calibration_pulls_the_model_toward_the_measured_lift(setting):
    panel, true_lift = setting
    plain = MMM(ModelSettings(n_starts=2), seed=0).fit(panel)
    for measured in (0.5 * true_lift, 2.0 * true_lift):
        test = tv_test(panel, measured, 0.02 * abs(measured))
        calibrated = MMM(ModelSettings(n_starts=2), seed=0).fit(panel, lift_tests=[test])
        assert calibrated.diagnostics.calibration == ["tv geo test"]
        before = abs(plain.lift(panel, test) - measured)
        after = abs(calibrated.lift(panel, test) - measured)
        assert after < 0.5 * before


def test_calibration_rows_have_exact_gradients(setting):
    panel, true_lift = setting
    model = MMM(ModelSettings(prior_strength=0.0), seed=0)
    problem = model._prepare(panel, [tv_test(panel, true_lift, 0.05 * true_lift)])
    theta = np.array([0.5, 0.1, 0.5, 0.2, -0.2, 0.1])
    w = np.ones(panel.n_segments)
    grad = problem.jacobian(theta, w).T @ problem.residuals(theta, w)
    fd = approx_fprime(theta, lambda t: 0.5 * (problem.residuals(t, w) ** 2).sum(), 1e-6)
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-3 * np.abs(fd).max())
    # as a fit evaluates it (derivatives with the residuals, the last solve remembered)
    remembering = MMM(ModelSettings(prior_strength=0.0), seed=0)._prepare(
        panel, [tv_test(panel, true_lift, 0.05 * true_lift)], derivatives_with_residuals=True)
    r = remembering.residuals(theta, w)
    np.testing.assert_array_equal(r, problem.residuals(theta, w))
    np.testing.assert_array_equal(remembering.jacobian(theta, w), problem.jacobian(theta, w))


def test_calibration_needs_a_standard_error_and_skips_tests_outside_the_panel(setting):
    panel, true_lift = setting
    with pytest.raises(ValueError, match="lift_se"):
        MMM(ModelSettings(n_starts=1)).fit(panel, lift_tests=[tv_test(panel, 1.0, None)])
    late = LiftTest(channel="search", start=panel.dates[-3], end=panel.dates[-1],
                    spend_change=-1.0, lift=-10.0, lift_se=5.0, label="late")
    model = MMM(ModelSettings(n_starts=1)).fit(panel.weeks(None, 100), lift_tests=[late])
    assert model.diagnostics.calibration == []
    assert late.window(pd.DatetimeIndex(panel.dates)) == (153, 156, 156)
