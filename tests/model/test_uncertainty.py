import numpy as np
import pytest

from mmm_evidence.config import ModelSettings
from mmm_evidence.model import uncertainty
from mmm_evidence.model.mmm import MMM
from mmm_evidence.model.uncertainty import (
    block_bootstrap,
    block_indices,
    percentile_interval,
    residual_inflation,
)
from tests.model.conftest import model_form_panel


def test_block_indices_are_runs_of_consecutive_weeks():
    idx = block_indices(30, 7, np.random.default_rng(0))
    assert idx.size == 30 and idx.min() >= 0 and idx.max() < 30
    runs = np.split(idx, np.flatnonzero(np.diff(idx) != 1) + 1)
    assert all(len(r) <= 7 for r in runs[:-1]) and sum(map(len, runs)) == 30
    assert (np.diff(idx[:7]) == 1).all()


def test_percentile_interval_reads_interpolated_quantiles_and_skips_nan():
    draws = np.column_stack([np.arange(101.0), np.r_[np.arange(100.0), np.nan]])
    low, high = percentile_interval(draws, 0.9)
    np.testing.assert_allclose(low, [5.0, 4.95])
    np.testing.assert_allclose(high, [95.0, 94.05])


def test_bootstrap_panels_resample_residual_blocks_segments_and_draw_decays():
    panel = model_form_panel(noise=0.05, seed=3)
    model = MMM(ModelSettings(n_starts=1), seed=0).fit(panel)
    fitted = model.predict(panel)
    reps = list(uncertainty.bootstrap_panels(model, panel, 3, 13, np.random.default_rng(1),
                                             np.random.default_rng(2)))
    assert len(reps) == 3
    for boot, held in reps:
        assert boot.segments == panel.segments and np.array_equal(boot.spend, panel.spend)
        # every resampled residual, over the inflation, is one of the fit's own
        resid = (boot.kpi - fitted) / residual_inflation(model)
        own = np.round((panel.kpi - fitted), 6)
        assert np.isin(np.round(resid, 6), own).all()
        assert held is None or held.shape == (len(panel.channels),)
    # with resampled segments the rows carry their source segment's name and spend
    boot, _ = next(uncertainty.bootstrap_panels(model, panel, 1, 13, np.random.default_rng(1),
                                                np.random.default_rng(2), True))
    for i, name in enumerate(boot.segments):
        g = panel.segments.index(name.rsplit("#", 1)[0])
        assert name.endswith(f"#{i}") and np.array_equal(boot.spend[i], panel.spend[g])
    # a model without draw_decays (a robustness factory's) holds nothing
    plain = type("Plain", (), {"predict": model.predict, "diagnostics": model.diagnostics})()
    assert all(held is None for _, held in uncertainty.bootstrap_panels(
        plain, panel, 2, 13, np.random.default_rng(1), np.random.default_rng(2)))


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    panel = model_form_panel(noise=0.05, seed=3)
    model = MMM(ModelSettings(n_starts=2), seed=0).fit(panel)
    a = block_bootstrap(model, panel, replicates=8, seed=1)
    b = block_bootstrap(model, panel, replicates=8, seed=1)
    np.testing.assert_array_equal(a.draws["elasticity"], b.draws["elasticity"])
    iv = a.interval("elasticity")
    for ch, est in model.elasticities(panel).items():
        assert iv[ch]["low"] < iv[ch]["high"]
        assert iv[ch]["low"] - 2 * iv[ch]["sd"] <= est <= iv[ch]["high"] + 2 * iv[ch]["sd"]
    assert set(a.summary()) >= {"elasticity", "contribution_share", "roi", "level"}
    assert a.summary()["method"] == ("moving-block residual bootstrap with resampled segments;"
                                     " decays drawn from their profile posterior")
    national = block_bootstrap(model, panel, replicates=3, seed=1, resample_segments=False)
    assert national.method == ("moving-block residual bootstrap; decays drawn from their "
                               "profile posterior")
    optimum = MMM(ModelSettings(n_starts=2, decay_estimate="optimum"), seed=0).fit(panel)
    assert block_bootstrap(optimum, panel, replicates=2, seed=1,
                           resample_segments=False).method == "moving-block residual bootstrap"
    with pytest.raises(ValueError, match="replicates"):
        block_bootstrap(model, panel, replicates=1)


def test_residuals_are_scaled_for_the_parameters_the_fit_spent(monkeypatch):
    panel = model_form_panel(noise=0.05, seed=3)
    model = MMM(ModelSettings(n_starts=1), seed=0).fit(panel)
    d = model.diagnostics
    c_n = len(panel.channels)
    # per segment: intercept, trend, 2 x 2 Fourier terms, controls; beta and 3 media
    # parameters per channel
    p = panel.n_segments * (6 + len(panel.control_names)) + 4 * c_n
    assert (d.n_linear_parameters, d.n_nonlinear_parameters) == (p - 3 * c_n, 3 * c_n)
    assert residual_inflation(model) == pytest.approx(np.sqrt(panel.kpi.size
                                                              / (panel.kpi.size - p)))
    oracle = MMM(ModelSettings(), seed=0).fit_fixed(panel, model.decay,
                                                    model.half_saturation, model.shape)
    assert oracle.diagnostics.n_nonlinear_parameters == 0
    assert 1.0 < residual_inflation(oracle) < residual_inflation(model)
    unc = block_bootstrap(model, panel, replicates=2, seed=1)
    assert unc.summary()["residual_inflation"] == residual_inflation(model)
    d.n_nonlinear_parameters = d.n_observations  # nothing left to resample
    with pytest.raises(ValueError, match="no residual degrees of freedom"):
        residual_inflation(model)
    # the same resamples of unscaled residuals give other draws
    d.n_nonlinear_parameters = 3 * c_n
    monkeypatch.setattr(uncertainty, "residual_inflation", lambda m: 1.0)
    raw = block_bootstrap(model, panel, replicates=2, seed=1)
    assert raw.summary()["residual_inflation"] == 1.0
    assert not np.allclose(raw.draws["elasticity"], unc.draws["elasticity"])


def test_a_profile_median_bootstrap_draws_decays_instead_of_profiling_each_refit(monkeypatch):
    panel = model_form_panel(noise=0.08, seed=3)
    settings = ModelSettings(n_starts=2, decay_estimate="profile_median")
    model = MMM(settings, seed=0).fit(panel)
    assert any(cdf is not None for cdf in model.profile_cdfs())
    a = block_bootstrap(model, panel, replicates=6, seed=1)
    b = block_bootstrap(model, panel, replicates=6, seed=1)
    np.testing.assert_array_equal(a.draws["elasticity"], b.draws["elasticity"])
    assert a.method.endswith("; decays drawn from their profile posterior")
    summarised = []
    monkeypatch.setattr(MMM, "_summarise_decays",
                        lambda self, *args: summarised.append(1) or (args[1], 0, 0.0, False))
    block_bootstrap(model, panel, replicates=3, seed=1)
    assert not summarised  # no refit profiles again
    monkeypatch.setattr(MMM, "draw_decays", lambda self, rng: None)
    block_bootstrap(model, panel, replicates=3, seed=1)
    assert len(summarised) == 3  # a fit without a recorded profile does, as before


def test_bootstrap_refits_stop_at_the_cost_tolerance(monkeypatch):
    """The refits stop at BOOTSTRAP_COST_TOLERANCE (passed to every one), and their intervals
    are within a few % of their width of the tight refits' (the tolerance at 0)."""
    panel = model_form_panel(noise=0.08, seed=5)
    model = MMM(ModelSettings(n_starts=2), seed=0).fit(panel)
    passed = []
    fit = MMM.fit

    def recording(self, *args, **kwargs):
        passed.append(kwargs.get("cost_tolerance"))
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MMM, "fit", recording)
    quick = block_bootstrap(model, panel, replicates=20, seed=2)
    assert passed == [uncertainty.BOOTSTRAP_COST_TOLERANCE] * 20
    assert uncertainty.BOOTSTRAP_COST_TOLERANCE > 0
    monkeypatch.setattr(uncertainty, "BOOTSTRAP_COST_TOLERANCE", 0.0)
    tight = block_bootstrap(model, panel, replicates=20, seed=2)
    for quantity in ("elasticity", "roi"):
        a, b = quick.interval(quantity), tight.interval(quantity)
        for channel in model.channels:
            width = b[channel]["high"] - b[channel]["low"]
            assert width > 0
            assert abs(a[channel]["low"] - b[channel]["low"]) <= 0.03 * width
            assert abs(a[channel]["high"] - b[channel]["high"]) <= 0.03 * width


@pytest.mark.slow
@pytest.mark.parametrize("decay_estimate", ["optimum", "profile_median"])
def test_bootstrap_coverage_on_a_small_panel(decay_estimate):
    """On data from the model's own form, 90 % intervals cover the truth most of the time.

    12 datasets x 2 channels = 24 intervals; with true coverage 0.9 the chance of fewer than
    17 covered is about 1 %, while intervals that ignore the sampling noise (or a bootstrap
    that reuses the original residual order) cover far fewer."""
    covered = total = 0
    for seed in range(12):
        clean = MMM(ModelSettings(n_starts=1), seed=0).fit(model_form_panel(seed=100 + seed))
        truth = clean.elasticities(model_form_panel(seed=100 + seed))
        panel = model_form_panel(noise=0.06, seed=100 + seed)
        model = MMM(ModelSettings(n_starts=1, decay_estimate=decay_estimate),
                    seed=0).fit(panel)
        iv = block_bootstrap(model, panel, replicates=30, seed=seed).interval("elasticity")
        for ch, true in truth.items():
            total += 1
            covered += iv[ch]["low"] <= true <= iv[ch]["high"]
    print(f"coverage {covered}/{total}")
    assert covered >= 17, f"coverage {covered}/{total}"
