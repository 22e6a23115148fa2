import numpy as np
import pytest

from mmm_evidence.evaluation.metrics import contribution_slope, mape, nrmse, r2, scores


def test_perfect_and_mean_predictions():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2(y, y) == 1.0
    assert r2(y, np.full(4, y.mean())) == pytest.approx(0.0)
    assert r2(y, y[::-1]) == pytest.approx(1 - 20 / 5)  # SSE 20, SST 5


def test_mape_and_nrmse_hand_computed():
    y = np.array([100.0, 200.0, 0.0])
    p = np.array([110.0, 180.0, 5.0])
    assert mape(y, p) == pytest.approx((0.1 + 0.1) / 2)  # the zero actual is skipped
    rmse = np.sqrt((100 + 400 + 25) / 3)
    assert nrmse(y, p) == pytest.approx(rmse / 200.0)


def test_degenerate_inputs():
    assert np.isnan(r2([5.0, 5.0], [5.0, 4.0]))
    assert np.isnan(mape([0.0, 0.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="3 values, predicted 2"):
        r2([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="no values"):
        r2([], [])


def test_scores_keys():
    assert set(scores([1.0, 2.0, 4.0], [1.0, 2.5, 3.0])) == {"r2", "mape", "nrmse", "rmse"}


def test_contribution_slope_is_elasticity_over_share():
    assert contribution_slope(0.05, 0.05) == 1.0  # a straight-line response
    assert contribution_slope(0.010084, 0.2341) == pytest.approx(0.0430756)
    assert contribution_slope(0.01, 0.0) is None and contribution_slope(0.0, -0.1) is None
