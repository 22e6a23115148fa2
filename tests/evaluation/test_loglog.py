from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.config import ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.loglog import LogLogOLS
from mmm_evidence.model.mmm import NotFittedError

COEF = np.array([0.08, 0.03])


def loglog_panel(noise: float = 0.01, segments: int = 4, weeks: int = 156,
                 seed: int = 0) -> tuple[Panel, dict[str, float]]:
    """A panel generated exactly by the log-log form, and its true elasticities (DESIGN.md's
    definition, computed through the true process)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    size = np.linspace(0.5, 1.5, segments)
    size = size / size.mean()
    t = np.arange(weeks) / (weeks - 1)
    season = np.sin(2 * np.pi * (dates.day_of_year.to_numpy() - 1) / 365.25)
    spend = np.empty((segments, weeks, 2))
    spend[:, :, 0] = size[:, None] * 100 * rng.uniform(0.0, 2.0, (segments, weeks))
    spend[:, :, 0] *= rng.random((segments, weeks)) < 0.6  # flighted
    spend[:, :, 1] = size[:, None] * 30 * rng.uniform(0.3, 1.7, (segments, weeks))
    controls = rng.normal(1.0, 0.05, (segments, weeks, 1))
    scale = (spend / size[:, None, None]).mean(axis=(0, 1))

    def eta(s: np.ndarray) -> np.ndarray:
        media = np.log1p(s / size[:, None, None] / scale) @ COEF
        base = (np.log(1000 * size)[:, None] + 0.2 * t[None, :] + 0.1 * season[None, :]
                - 0.8 * (controls[:, :, 0] - 1.0))
        return base + media

    kpi = np.exp(eta(spend) + noise * rng.standard_normal((segments, weeks)))
    total = np.exp(eta(spend)).sum()
    truth = {}
    for c, ch in enumerate(("tv", "search")):
        bumped = spend.copy()
        bumped[:, :, c] *= 1.01
        truth[ch] = float((np.exp(eta(bumped)).sum() - total) / total / 0.01)
    panel = Panel(tenant="loglog", dates=dates, segments=tuple(f"s{g}" for g in range(segments)),
                  channels=("tv", "search"), control_names=("price_index",), kpi=kpi,
                  spend=spend, controls=controls, size=size)
    return panel, truth


def test_recovers_known_elasticities_of_a_loglog_process():
    panel, truth = loglog_panel()
    model = LogLogOLS(ModelSettings(fourier_order=1)).fit(panel)
    est = model.elasticities(panel)
    for ch, value in truth.items():
        assert est[ch] == pytest.approx(value, rel=0.05), ch
    assert model.media_coefficients()["tv"] == pytest.approx(COEF[0], rel=0.05)


def test_elasticity_is_by_prediction_not_the_coefficient():
    panel, truth = loglog_panel()
    model = LogLogOLS().fit(panel)
    # log(1 + x/s) has elasticity e * x / (s + x) < e: the prediction-based value is below
    assert model.elasticities(panel)["tv"] < 0.95 * model.media_coefficients()["tv"]


def test_noise_free_fit_is_exact_and_predictions_have_the_panel_shape():
    panel, truth = loglog_panel(noise=0.0)
    model = LogLogOLS(ModelSettings(fourier_order=1)).fit(panel)
    pred = model.predict(panel)
    assert pred.shape == panel.kpi.shape
    assert model.predict(panel.weeks(None, 26)).shape == (panel.n_segments, 26)
    np.testing.assert_allclose(pred, panel.kpi, rtol=1e-8)
    shares = model.contribution_shares(panel)
    assert set(shares) == {"tv", "search"} and all(0 < v < 1 for v in shares.values())


def test_more_spend_predicts_more_kpi_for_a_positive_coefficient():
    panel, _ = loglog_panel()
    model = LogLogOLS().fit(panel)
    assert (model.predict(panel, panel.spend * 1.5) > model.predict(panel)).all()


def test_rejects_a_non_positive_kpi_and_use_before_fit():
    panel, _ = loglog_panel()
    with pytest.raises(NotFittedError):
        LogLogOLS().predict(panel)
    kpi = panel.kpi.copy()
    kpi[1, 3] = 0.0
    with pytest.raises(ValueError, match="KPI > 0"):
        LogLogOLS().fit(replace(panel, kpi=kpi))
