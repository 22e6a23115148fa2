"""The robustness suite on MMM v2 end to end: the whole suite passes on a synthetic tenant, and
deliberately broken models make the checks that should catch them fail.

The tenant comes from the synthetic generator (not the model's own form), small enough for a
test run (4 segments, 104 weeks, 3 channels). Every broken model is injected through the
suite's model factory; each runs only the checks relevant to it, with the reference fit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mmm_evidence.config import ModelSettings, RobustnessSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.robustness import (
    CATEGORIES,
    CHECKS,
    baseline_below_zero,
    run_robustness_suite,
)
from mmm_evidence.model.mmm import MMM
from tests.modeling.conftest import SMALL_TENANT, synthetic_panel

SETTINGS = ModelSettings(n_starts=2)
ROBUSTNESS = RobustnessSettings()
SEED = 3
HOLDOUT = 26


@pytest.fixture(scope="module")
def panel() -> Panel:
    return synthetic_panel()


@pytest.fixture(scope="module")
def suite(panel: Panel):
    return run_robustness_suite(panel, SETTINGS, ROBUSTNESS, SEED, HOLDOUT)


def run(panel: Panel, factory, only):
    return run_robustness_suite(panel, SETTINGS, ROBUSTNESS, SEED, HOLDOUT, factory=factory,
                                only=only)


def by_name(result) -> dict:
    return {c.name: c for c in result.checks}


# --------------------------------------------------------------------------- the whole suite


def test_the_whole_suite_runs_and_every_check_passes_on_a_sound_model(suite) -> None:
    assert len(suite.checks) == len(CHECKS) >= 24
    assert {c.category for c in suite.checks} == set(CATEGORIES)
    not_passed = {c.name: (c.value, c.detail) for c in suite.checks if c.passed is not True}
    assert not not_passed, not_passed
    assert suite.summary() == {"total": len(CHECKS), "passed": len(CHECKS), "failed": 0,
                               "not_assessable": 0}
    assert suite.summary_line() == \
        f"small_shop: {len(CHECKS)}/{len(CHECKS)} passed (national thresholds)"
    # the tenant has ground truth: the true response's saturation is reported beside the model's
    saturation = suite.check("saturation").data
    assert set(saturation["oracle_ratios"]) == set(saturation["ratios"])
    assert all(1.0 < v < 2.0 for v in saturation["oracle_ratios"].values())


def test_every_check_is_a_measured_value_against_its_threshold(suite) -> None:
    # 4 segments: judged by the national thresholds (at most national_max_segments = 5)
    assert suite.threshold_set == "national"
    for c in suite.checks:
        assert c.value is not None and np.isfinite(c.value), c.name
        assert c.threshold == getattr(ROBUSTNESS.national_thresholds, c.name)
        assert c.comparison in ("<=", "<", ">=", ">")
        assert c.description and c.detail
    table = suite.table()
    assert list(table.index) == list(CHECKS)
    assert set(table["result"]) == {"pass"}


def test_scraps_are_plain_json(suite) -> None:
    import json

    scraps = suite.scraps()
    text = json.dumps(scraps, allow_nan=False)
    assert set(scraps) == {"tenant", "checks", "summary", "thresholds", "robustness_settings",
                           "reference"}
    assert scraps["thresholds"]["set"] == "national" and scraps["thresholds"]["segments"] == 4
    assert scraps["robustness_settings"]["seed"] == SEED
    assert len(json.loads(text)["checks"]) == len(CHECKS)


def test_the_suite_is_deterministic(panel: Panel, suite) -> None:
    again = run_robustness_suite(panel, SETTINGS, ROBUSTNESS, SEED, HOLDOUT,
                                 only=["extra_noise", "missing_weeks", "placebo_channel"])
    first = by_name(suite)
    for c in again.checks:
        assert c.value == first[c.name].value and c.detail == first[c.name].detail


# --------------------------------------------------------------------------- broken models


class DropsFirstChannelMMM(MMM):
    """Broken: fits with the first spend column zeroed (an off-by-one in the column
    handling), so it ignores whichever channel comes first."""

    def fit(self, panel: Panel, start=None, lift_tests=()):
        spend = panel.spend.copy()
        spend[:, :, 0] = 0.0
        return super().fit(panel.with_spend(spend), start=start, lift_tests=lift_tests)


def test_a_model_that_ignores_a_channel_fails_the_channel_order_check(panel: Panel) -> None:
    result = run(panel, lambda seed, data: DropsFirstChannelMMM(SETTINGS, seed),
                 ["channel_order", "zero_spend", "determinism"])
    checks = by_name(result)
    assert result.reference_elasticities[panel.channels[0]] == 0.0  # the channel is ignored
    assert checks["channel_order"].passed is False
    assert checks["channel_order"].value == pytest.approx(1.0)  # a channel dropped entirely
    # what it does not break stays green: the suite points at the right defect
    assert checks["zero_spend"].passed is True and checks["determinism"].passed is True


class PeekingMMM(MMM):
    """Broken: built for the whole panel, it fits on all of its weeks — holdout included —
    whatever it is asked to fit on (the set-up leaks the holdout)."""

    def __init__(self, settings: ModelSettings, seed: int, data: Panel):
        super().__init__(settings, seed=seed)
        self.data = data

    def fit(self, panel: Panel, start=None, lift_tests=()):
        return super().fit(self.data, start=start, lift_tests=lift_tests)


def test_a_model_fitted_with_leakage_fails_the_holdout_check(panel: Panel) -> None:
    result = run(panel, lambda seed, data: PeekingMMM(SETTINGS, seed, data),
                 ["holdout_leakage", "determinism"])
    checks = by_name(result)
    leak = checks["holdout_leakage"]
    assert leak.passed is False and leak.value > 0
    assert leak.data["identical_json"] is False
    assert leak.data["observations_fitted"]["a"] == panel.n_segments * panel.n_weeks
    assert leak.data["observations_expected"] == panel.n_segments * (panel.n_weeks - HOLDOUT)
    assert checks["determinism"].passed is True


class UnseededMMM(MMM):
    """Broken: ignores the seed it is given (starts drawn from fresh OS entropy)."""

    def __init__(self, settings: ModelSettings, seed: int):
        super().__init__(settings, seed=int(np.random.SeedSequence().entropy % 2**32))


def test_a_model_that_ignores_its_seed_fails_the_determinism_check(panel: Panel) -> None:
    result = run(panel, lambda seed, data: UnseededMMM(ModelSettings(n_starts=3), seed),
                 ["determinism"])
    check = result.check("determinism")
    assert check.passed is False and check.value > 0
    assert check.data["identical_json"] is False


class NegativeEffectMMM(MMM):
    """Broken: a sign error — the second channel's coefficient comes out negative."""

    def fit(self, panel: Panel, start=None, lift_tests=()):
        super().fit(panel, start=start, lift_tests=lift_tests)
        self.beta = self.beta.copy()
        self.beta[1] = -abs(self.beta[1])
        return self


def test_a_model_with_a_negative_effect_fails_the_sanity_checks(panel: Panel) -> None:
    result = run(panel, lambda seed, data: NegativeEffectMMM(SETTINGS, seed),
                 ["contributions_non_negative", "response_curves", "additivity",
                  "prediction_positive"])
    checks = by_name(result)
    assert checks["contributions_non_negative"].passed is False
    assert checks["contributions_non_negative"].data["negative_cells"]["search"] > 0
    assert checks["response_curves"].passed is False
    assert checks["response_curves"].data["channels"]["search"]["monotone"] is False
    # the decomposition still adds up and the KPI stays positive: those checks stay green
    assert checks["additivity"].passed is True
    assert checks["prediction_positive"].passed is True


class OverCreditingMMM(MMM):
    """Broken: the same predictions, but the decomposition gives media four times its
    contribution and takes the difference out of the baseline."""

    def _parts(self, panel: Panel, spend=None):
        base, media = super()._parts(panel, spend)
        return base - 3.0 * media.sum(axis=2), 4.0 * media


def test_a_model_crediting_media_with_more_than_the_kpi_fails_the_baseline_check(
        panel: Panel) -> None:
    sound = run(panel, None, ["baseline_non_negative"]).check("baseline_non_negative")
    assert sound.passed is True and sound.value == 0
    assert all(0.0 < v < 1.0 for v in sound.data["baseline_share"].values())
    # the helper the check and benchmarks/external.py share, by hand on the broken model
    model = OverCreditingMMM(SETTINGS, SEED).fit(panel)
    base, negative, share = baseline_below_zero(model, panel)
    parts = model.contributions(panel)
    np.testing.assert_allclose(base, parts["baseline"])
    assert negative.sum() == (parts["baseline"] < 0).sum() > 0
    np.testing.assert_allclose(share, base.sum(axis=1) / model.predict(panel).sum(axis=1))
    result = run(panel, lambda seed, data: OverCreditingMMM(SETTINGS, seed),
                 ["baseline_non_negative", "prediction_positive", "additivity"])
    checks = by_name(result)
    check = checks["baseline_non_negative"]
    assert check.passed is False and check.value > 0
    assert check.data["minimum"] < 0 and check.data["segments"]
    assert "segment-weeks below 0" in check.detail
    # the predictions are untouched: the checks on them stay green
    assert checks["prediction_positive"].passed is True
    assert checks["additivity"].passed is True


class CappedSpendMMM(MMM):
    """Broken: winsorises spend at an absolute amount before fitting (a currency-dependent
    preprocessing step), and predicts with the same cap."""

    CAP = 1e6

    def fit(self, panel: Panel, start=None, lift_tests=()):
        return super().fit(panel.with_spend(np.minimum(panel.spend, self.CAP)), start=start,
                           lift_tests=lift_tests)

    def predict(self, panel: Panel, spend=None):
        spend = panel.spend if spend is None else spend
        return super().predict(panel, np.minimum(spend, self.CAP))


def test_a_currency_dependent_model_fails_the_spend_scale_check(panel: Panel) -> None:
    assert panel.spend.max() < CappedSpendMMM.CAP  # the cap does not bite on the data as is
    result = run(panel, lambda seed, data: CappedSpendMMM(SETTINGS, seed),
                 ["spend_scale", "kpi_scale"])
    checks = by_name(result)
    assert checks["spend_scale"].passed is False and checks["spend_scale"].value > 0.5
    assert checks["kpi_scale"].passed is True


class ExplodingMMM(MMM):
    """Broken: cannot fit a panel with more channels than it was designed for."""

    def fit(self, panel: Panel, start=None, lift_tests=()):
        if len(panel.channels) > 3:
            raise RuntimeError("too many channels")
        return super().fit(panel, start=start, lift_tests=lift_tests)


def test_a_check_the_model_cannot_get_through_fails_with_the_error(panel: Panel) -> None:
    result = run(panel, lambda seed, data: ExplodingMMM(SETTINGS, seed),
                 ["placebo_channel", "duplicate_channel"])
    checks = by_name(result)
    assert checks["placebo_channel"].passed is False
    assert checks["placebo_channel"].value is None
    assert checks["placebo_channel"].detail == "raised RuntimeError: too many channels"
    assert checks["duplicate_channel"].passed is True


@pytest.mark.parametrize("weeks_later", [1, 2, 3])
def test_an_effect_that_comes_weeks_after_the_spend_fails_the_carryover_check(
        panel, suite, weeks_later: int) -> None:
    # the same tenant with tv's effect arriving weeks after its spend: a model that can only
    # start the adstock in the week of the spend (no delays) cannot say so, and the lagged
    # regressors explain the residuals
    delayed = _tv_later(panel, suite, weeks_later)
    geometric = SETTINGS.model_copy(update={"max_delay_weeks": 0})
    check = by_name(run_robustness_suite(delayed, geometric, ROBUSTNESS, SEED, HOLDOUT,
                                         only=["carryover_form"]))["carryover_form"]
    sound = by_name(suite)["carryover_form"]
    assert sound.passed is True and check.passed is False, (sound.detail, check.detail)
    # the lag it was given
    assert check.detail.endswith(f"largest tv (most at lag {weeks_later})")
    assert check.data["channels"]["tv"]["best_lag"] == weeks_later
    assert check.data["channels"]["tv"]["p_value"] < 1e-6
    assert check.value > 5 * sound.value


@pytest.mark.parametrize("weeks_later", [1, 2, 3])
def test_mmm_v2_delays_the_channel_and_then_passes_the_carryover_check(
        panel, suite, weeks_later: int) -> None:
    delayed = _tv_later(panel, suite, weeks_later)
    result = run_robustness_suite(delayed, SETTINGS, ROBUSTNESS, SEED, HOLDOUT,
                                  only=["carryover_form"])
    assert dict(zip(result.reference.channels, result.reference.delay.tolist(),
                    strict=True)) == {"tv": weeks_later, "search": 0, "social": 0}
    check = by_name(result)["carryover_form"]
    assert check.passed is True, check.detail


@pytest.fixture(scope="module")
def geo_panel() -> Panel:
    """The small tenant with 8 segments: more than national_max_segments, so baseline_form
    judges it."""
    spec = {**SMALL_TENANT, "data": {"synthetic": {**SMALL_TENANT["data"]["synthetic"],
                                                   "segments": 8}}}
    return synthetic_panel(spec)


@pytest.fixture(scope="module")
def geo_reference(geo_panel: Panel) -> MMM:
    return MMM(SETTINGS, seed=SEED).fit(geo_panel)


def baseline_form(panel: Panel, reference: MMM | None = None):
    return by_name(run_robustness_suite(panel, SETTINGS, ROBUSTNESS, SEED, HOLDOUT,
                                        reference=reference, only=["baseline_form"])
                   )["baseline_form"]


@pytest.mark.parametrize(("departure", "named"), [
    ("level", "a lasting change of level"),
    ("drift", "a seasonal pattern that changes over the years"),
])
def test_a_baseline_the_model_cannot_express_fails_the_baseline_form_check(
        geo_panel, geo_reference, departure: str, named: str) -> None:
    # every segment's KPI moves by the same share of its level: +20 % from the 52nd week on,
    # or a yearly wave whose amplitude grows from 0 to 40 % of the level over the weeks
    weeks = np.arange(geo_panel.n_weeks)
    year = (geo_panel.dates.day_of_year.to_numpy() - 1) / 365.25
    shape = ((weeks >= 52).astype(float) if departure == "level"
             else weeks / weeks[-1] * np.sin(2 * np.pi * year))
    level = geo_panel.kpi.mean(axis=1, keepdims=True)
    size = 0.2 if departure == "level" else 0.4
    changed = replace(geo_panel, kpi=geo_panel.kpi + size * level * shape[None, :])
    check = baseline_form(changed)
    sound = baseline_form(geo_panel, geo_reference)
    assert sound.passed is True and check.passed is False, (sound.detail, check.detail)
    assert check.judged and check.detail.endswith(f"most by {named}")
    assert check.data["p_value"] < 1e-6 and check.value > 5 * max(sound.value, 0.01)
    assert check.value == pytest.approx(check.data["partial_r2"] - check.data["chance"])
    assert "judged" not in check.as_dict()


def test_baseline_form_is_about_zero_and_rarely_significant_on_white_noise(
        geo_panel, geo_reference) -> None:
    # the reference fit kept, its prediction plus white noise of each segment's scale as the
    # KPI: the residuals are that noise, and the departures explain what chance does
    from mmm_evidence.evaluation.robustness import baseline_residual_fit

    predicted = geo_reference.predict(geo_panel)
    values, p_values = [], []
    for seed in range(20):
        noise = np.random.default_rng(seed).standard_normal(predicted.shape)
        noisy = replace(geo_panel, kpi=predicted + geo_reference.residual_scale[:, None] * noise)
        fit = baseline_residual_fit(geo_reference, noisy)
        values.append(fit["partial_r2"] - fit["chance"])
        p_values.append(fit["p_value"])
    # chance = 13 departures over the residuals' degrees of freedom: 8 segments x 103
    # pre-whitened weeks, less 7 baseline columns per segment (intercept, trend, 4 yearly
    # terms, price) and the 12 fitted directions (3 channels x regressor, decay, K, shape)
    assert fit["dof"] == 8 * 103 - 8 * 7 - 12 and fit["chance"] == 13 / fit["dof"]
    spread = float(np.std(values)) / np.sqrt(len(values))
    assert abs(float(np.mean(values))) < 3 * spread + 1e-4, (np.mean(values), spread)
    assert sum(p < 0.05 for p in p_values) <= 4  # ~1 of 20 expected
    assert min(p_values) > 1e-4


def test_baseline_form_reports_but_does_not_judge_few_series(panel, suite) -> None:
    # 4 segments (national band): on so few series slow noise passes for a departure, so
    # even a strong level step is reported, not judged, and the check passes saying so
    weeks = np.arange(panel.n_weeks)
    changed = replace(panel, kpi=panel.kpi * (1 + 0.3 * (weeks >= 52))[None, :])
    check = baseline_form(changed)
    assert check.value > check.threshold and check.data["p_value"] < 0.01
    assert check.passed is True and check.judged is False
    assert "not judged: 4 segment(s)" in check.detail
    assert check.as_dict()["judged"] is False
    sound = by_name(suite)["baseline_form"]
    assert sound.passed is True and sound.judged is False


def _tv_later(panel: Panel, suite, weeks_later: int) -> Panel:
    """The panel with tv's fitted contribution arriving ``weeks_later`` weeks later."""
    tv = suite.reference.contributions(panel)["tv"]
    later = np.concatenate([np.repeat(tv[:, :1], weeks_later, axis=1),
                            tv[:, :-weeks_later]], axis=1)
    return replace(panel, kpi=panel.kpi - tv + later)
