import numpy as np
import pytest

from mmm_evidence.model.transforms import (
    delay_spend,
    geometric_adstock,
    hill,
    hill_derivative,
    steady_state_start,
)


def test_adstock_hand_computed_from_zero_start():
    # a_t = 0.5 a_{t-1} + 0.5 x_t, a_{-1} = 0
    out = geometric_adstock(np.array([1.0, 0.0, 0.0, 2.0]), 0.5, start=0.0)
    np.testing.assert_allclose(out, [0.5, 0.25, 0.125, 1.0625])


def test_adstock_hand_computed_with_start_level():
    # a_0 = 0.8 * 10 + 0.2 * 0 = 8; a_1 = 0.8 * 8 + 0.2 * 5 = 7.4
    out = geometric_adstock(np.array([0.0, 5.0]), 0.8, start=10.0)
    np.testing.assert_allclose(out, [8.0, 7.4])


def test_adstock_default_start_is_steady_state_of_first_weeks():
    x = np.full(30, 7.0)
    np.testing.assert_allclose(geometric_adstock(x, 0.7), x)
    x2 = np.r_[np.full(13, 4.0), np.zeros(5)]
    assert steady_state_start(x2) == pytest.approx(4.0)
    assert geometric_adstock(x2, 0.5)[0] == pytest.approx(4.0)


def test_adstock_zero_decay_is_identity_and_rows_are_independent():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 9.0]])
    np.testing.assert_allclose(geometric_adstock(x, 0.0), x)
    both = geometric_adstock(x, 0.6, start=np.array([1.0, 2.0]))
    np.testing.assert_allclose(both[1], geometric_adstock(x[1], 0.6, start=2.0))


def test_adstock_rejects_bad_decay():
    with pytest.raises(ValueError, match="decay"):
        geometric_adstock(np.ones(3), 1.0)


def test_hill_hand_computed():
    assert hill(np.array([0.0]), 1.0, 2.0)[0] == 0.0
    assert hill(np.array([3.0]), 3.0, 1.7)[0] == pytest.approx(0.5)
    assert hill(np.array([2.0]), 1.0, 2.0)[0] == pytest.approx(0.8)  # 4 / (4 + 1)
    assert hill(np.array([1.0]), 2.0, 1.0)[0] == pytest.approx(1.0 / 3.0)


def test_hill_derivative_matches_finite_difference():
    a = np.array([0.3, 1.0, 2.5])
    eps = 1e-6
    fd = (hill(a + eps, 1.2, 2.3) - hill(a - eps, 1.2, 2.3)) / (2 * eps)
    np.testing.assert_allclose(hill_derivative(a, 1.2, 2.3), fd, rtol=1e-5)


def test_hill_rejects_bad_parameters():
    with pytest.raises(ValueError):
        hill(np.ones(2), 0.0, 1.0)


def test_delay_hand_computed_with_the_steady_state_before_the_data():
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 0.0, 2.0, 0.0, 2.0]])
    # week t gets week t - 2; the two weeks before the data get the mean of the first weeks
    np.testing.assert_array_equal(delay_spend(x, 2), [[3.0, 3.0, 1.0, 2.0, 3.0],
                                                      [1.2, 1.2, 2.0, 0.0, 2.0]])
    assert delay_spend(x, 0) is x
    np.testing.assert_array_equal(delay_spend(x, 7), [[3.0] * 5, [1.2] * 5])
    with pytest.raises(ValueError, match="delay must be >= 0 weeks, got -1"):
        delay_spend(x, -1)
