"""Baselines: each on a series where its answer is known; skill scores; the comparison on the
validation splits; the beats_baselines gate (pass, fail, null)."""

from __future__ import annotations

import math
import subprocess
import sys
import typing
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.config import BaselineName, BaselinesGate, EvaluationSettings, ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.baselines import (
    BASELINES,
    CV_MEAN,
    LightGBMBaseline,
    LinearBaseline,
    NaiveBaseline,
    NoMediaBaseline,
    SeasonalNaiveBaseline,
    compare_baselines,
    elasticity_comparison,
    make_baseline,
    skill_scores,
)
from mmm_evidence.evaluation.metrics import mape, skill_score
from mmm_evidence.evaluation.splits import evaluation_splits
from mmm_evidence.evaluation.validation import validate_tenant
from mmm_evidence.model.elasticity import spend_elasticities
from mmm_evidence.pipeline.gates import BEATS_BASELINES, beats_baselines_gate
from tests.model.conftest import model_form_panel


def make_panel(kpi: np.ndarray, spend: np.ndarray | None = None,
               controls: np.ndarray | None = None, size: np.ndarray | None = None,
               start: str = "2023-01-02") -> Panel:
    g_n, t_n = kpi.shape
    spend = np.zeros((g_n, t_n, 1)) if spend is None else spend
    controls = np.zeros((g_n, t_n, 0)) if controls is None else controls
    return Panel(tenant="known", dates=pd.date_range(start, periods=t_n, freq="7D"),
                 segments=tuple(f"s{g}" for g in range(g_n)),
                 channels=tuple(f"c{c}" for c in range(spend.shape[2])),
                 control_names=tuple(f"k{k}" for k in range(controls.shape[2])),
                 kpi=np.asarray(kpi, float), spend=np.asarray(spend, float),
                 controls=np.asarray(controls, float),
                 size=np.ones(g_n) if size is None else np.asarray(size, float))


# --------------------------------------------------------------------------- naive


def test_naive_repeats_each_segments_last_value() -> None:
    kpi = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]])
    panel = make_panel(kpi)
    pred = NaiveBaseline().fit(panel.weeks(None, 4)).predict(panel)
    np.testing.assert_array_equal(pred[:, 4:], [[4.0, 4.0], [40.0, 40.0]])
    # in the fitted weeks: the previous week's value, none for the first week
    assert np.isnan(pred[:, 0]).all()
    np.testing.assert_array_equal(pred[:, 1:4], kpi[:, :3])


def test_naive_ignores_spend_and_checks_the_panel() -> None:
    panel = make_panel(np.arange(12.0).reshape(2, 6), spend=np.ones((2, 6, 1)))
    model = NaiveBaseline().fit(panel.weeks(None, 4))
    np.testing.assert_array_equal(model.predict(panel, panel.spend * 5), model.predict(panel))
    with pytest.raises(RuntimeError, match="fit must be called first"):
        NaiveBaseline().predict(panel)
    other = make_panel(np.arange(6.0).reshape(1, 6))
    with pytest.raises(ValueError, match="segments"):
        model.predict(other)
    shifted = make_panel(np.arange(12.0).reshape(2, 6), spend=np.ones((2, 6, 1)),
                         start="2023-01-04")
    with pytest.raises(ValueError, match="weekly calendar"):
        model.predict(shifted)


# --------------------------------------------------------------------------- seasonal naive


def yearly_pattern(weeks: int, segments: int = 2) -> np.ndarray:
    """A pure 52-week pattern per segment (no trend, no noise)."""
    t = np.arange(weeks)
    return np.stack([(100 + 10 * g) * (1 + 0.3 * np.sin(2 * np.pi * t / 52) + 0.1 * (t % 52 == 47))
                     for g in range(segments)])


def test_seasonal_naive_is_exact_on_a_pure_yearly_pattern() -> None:
    panel = make_panel(yearly_pattern(156))
    pred = SeasonalNaiveBaseline().fit(panel.weeks(None, 130)).predict(panel)
    np.testing.assert_allclose(pred[:, 130:], panel.kpi[:, 130:], rtol=1e-12)
    np.testing.assert_allclose(pred[:, 52:130], panel.kpi[:, 52:130], rtol=1e-12)
    assert np.isnan(pred[:, :52]).all()  # no year before the first one


def test_seasonal_naive_repeats_the_last_year_beyond_a_year_ahead() -> None:
    panel = make_panel(yearly_pattern(160))
    model = SeasonalNaiveBaseline().fit(panel.weeks(None, 60))
    pred = model.predict(panel)
    np.testing.assert_allclose(pred[:, 60:], panel.kpi[:, 60:], rtol=1e-12)  # 100 weeks ahead
    # the source week of a forecast 53 weeks ahead is the last observed year's same week
    assert model._source_weeks(np.array([60 + 52]))[0] == 60 - 52


def test_seasonal_naive_needs_a_year_of_training_weeks() -> None:
    panel = make_panel(yearly_pattern(60))
    with pytest.raises(ValueError, match="'known'.*at least 52 training weeks, got 40"):
        SeasonalNaiveBaseline().fit(panel.weeks(None, 40))


# --------------------------------------------------------------------------- linear


def linear_truth_panel(weeks: int = 130, segments: int = 3, seed: int = 0) -> tuple[Panel, list]:
    """KPI exactly linear in spend, trend, Fourier terms and a control (per-segment baseline)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    trend = np.arange(weeks) / (weeks - 1)
    year = (dates.day_of_year.to_numpy() - 1) / 365.25
    spend = rng.uniform(0, 100, (segments, weeks, 2))
    controls = rng.normal(1.0, 0.1, (segments, weeks, 1))
    beta = [3.0, 0.5]
    kpi = np.zeros((segments, weeks))
    for g in range(segments):
        kpi[g] = (1000 * (g + 1) + 200 * trend + 50 * np.sin(2 * np.pi * year)
                  - 30 * np.cos(4 * np.pi * year) - 400 * controls[g, :, 0]
                  + spend[g] @ np.array(beta))
    return make_panel(kpi, spend, controls), beta


def test_linear_recovers_a_linear_truth() -> None:
    panel, beta = linear_truth_panel()
    model = LinearBaseline(fourier_order=2, trend=True).fit(panel.weeks(None, 104))
    np.testing.assert_allclose(model.spend_coef, beta, rtol=1e-8)
    assert model.coefficients() == pytest.approx({"c0": beta[0], "c1": beta[1]}, rel=1e-8)
    # the forecast of weeks it never saw is exact too (trend extrapolated, same calendar)
    np.testing.assert_allclose(model.predict(panel), panel.kpi, rtol=1e-8)


def test_no_media_is_the_linear_baseline_without_spend() -> None:
    panel, _ = linear_truth_panel()
    no_spend = panel.with_spend(np.zeros_like(panel.spend))
    model = NoMediaBaseline(fourier_order=2, trend=True).fit(panel.weeks(None, 104))
    reference = LinearBaseline(fourier_order=2, trend=True).fit(no_spend.weeks(None, 104))
    np.testing.assert_allclose(model.predict(panel), reference.predict(no_spend), rtol=1e-10)
    assert model.coefficients() == {"c0": 0.0, "c1": 0.0}
    # spend has no effect on its forecast
    np.testing.assert_array_equal(model.predict(panel, 2 * panel.spend), model.predict(panel))
    # and it cannot explain the spend part of a KPI that has one
    assert mape(panel.kpi[:, 104:], model.predict(panel)[:, 104:]) > 0.01
    assert make_baseline("no_media").name == "no_media"


def test_linear_elasticity_is_the_coefficient_times_spend_over_kpi() -> None:
    panel, beta = linear_truth_panel()
    model = LinearBaseline().fit(panel)
    el = spend_elasticities(model, panel)
    total = panel.kpi.sum()
    for c, b in enumerate(beta):
        assert el[f"c{c}"] == pytest.approx(b * panel.spend[:, :, c].sum() / total, rel=1e-6)


# --------------------------------------------------------------------------- LightGBM


def step_panel(weeks: int = 120, segments: int = 2, seed: int = 1) -> Panel:
    """Per-capita KPI is a step function of this week's per-capita spend."""
    rng = np.random.default_rng(seed)
    size = np.array([0.5, 1.5])[:segments]
    per_capita = rng.uniform(0, 100, (segments, weeks, 1))
    kpi = np.where(per_capita[:, :, 0] > 50, 300.0, 100.0) * size[:, None]
    return make_panel(kpi, per_capita * size[:, None, None], size=size)


def test_lightgbm_learns_a_step_response_and_is_deterministic() -> None:
    panel = step_panel()
    one = LightGBMBaseline(seed=3).fit(panel.weeks(None, 100)).predict(panel)
    two = LightGBMBaseline(seed=3).fit(panel.weeks(None, 100)).predict(panel)
    np.testing.assert_array_equal(one, two)
    # every holdout week on the right side of the step, and close to its level
    mid = 200.0 * panel.size[:, None]
    np.testing.assert_array_equal(one[:, 100:] > mid, panel.kpi[:, 100:] > mid)
    assert mape(panel.kpi[:, 100:], one[:, 100:]) < 0.03


def test_lightgbm_features_and_spend_override() -> None:
    panel = step_panel()
    model = LightGBMBaseline(seed=0).fit(panel)
    assert model.feature_names() == ["spend_c0", "spend_c0_lag1", "spend_c0_lag2",
                                     "spend_c0_lag3", "spend_c0_lag4", "week_of_year",
                                     "weeks_since_start", "segment"]
    assert model.params["deterministic"] and model.params["num_threads"] == 1
    # all spend above (below) the step: every week predicts about the high (low) level
    for per_capita, level in ((90.0, 300.0), (10.0, 100.0)):
        pred = model.predict(panel, np.full_like(panel.spend, per_capita)
                             * panel.size[:, None, None])
        np.testing.assert_allclose(pred, level * panel.size[:, None] * np.ones((1, 120)),
                                   rtol=0.06)


def test_lightgbm_forecast_does_not_see_the_holdout_kpi_through_sizes() -> None:
    """Sizes from the KPI (no segment_size): the forecast panel's own sizes include the weeks
    being forecast; the model keeps the sizes it was fitted with."""
    panel = replace(step_panel(), size_from_kpi=True)
    changed = panel.kpi.copy()
    changed[1, 100:] *= 3.0
    other = replace(panel, kpi=changed)
    assert not np.allclose(other.weeks().size, panel.weeks().size)
    one = LightGBMBaseline(seed=0).fit(panel.weeks(None, 100)).predict(panel.weeks())
    two = LightGBMBaseline(seed=0).fit(other.weeks(None, 100)).predict(other.weeks())
    np.testing.assert_array_equal(one, two)


def test_lightgbm_is_imported_only_when_used() -> None:
    code = ("import sys, mmm_evidence.evaluation.baselines, mmm_evidence.report.plots; "
            "print('lightgbm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_make_baseline_names() -> None:
    assert [make_baseline(b).name for b in BASELINES] == list(BASELINES)
    assert set(typing.get_args(BaselineName)) == set(BASELINES)  # config accepts exactly these
    with pytest.raises(ValueError, match="unknown baseline 'arima'"):
        make_baseline("arima")


# --------------------------------------------------------------------------- skill, elasticities


def test_skill_score() -> None:
    assert skill_score(0.05, 0.1) == pytest.approx(0.5)
    assert skill_score(0.0, 0.1) == 1.0
    assert skill_score(0.2, 0.1) == pytest.approx(-1.0)  # the baseline is better
    for model, base in ((0.1, 0.0), (0.1, None), (None, 0.1), (0.1, float("nan")),
                        (float("inf"), 0.1), (0.0278, 3.8e-16)):  # the last: rounding noise
        assert math.isnan(skill_score(model, base))
    assert skill_scores({"mape": 0.05, "nrmse": 0.3}, {"mape": 0.1, "nrmse": 0.2}) == \
        pytest.approx({"mape": 0.5, "nrmse": -0.5})


def test_elasticity_comparison_with_and_without_truth() -> None:
    estimates = {"mmm": {"tv": 0.11, "search": 0.05, "social": 0.0},
                 "linear": {"tv": 0.05, "search": 0.10, "social": 0.02}}
    truth = {"elasticity": {"tv": 0.1, "search": 0.05, "social": 0.004},
             "contribution_share": {"tv": 0.2, "search": 0.08, "social": 0.01}}
    comp = elasticity_comparison(estimates, truth, min_true_share=0.02)
    assert comp["has_truth"] is True
    tv = comp["channels"]["tv"]
    assert tv["estimates"] == {"mmm": 0.11, "linear": 0.05}
    assert tv["relative_errors"] == pytest.approx({"mmm": 0.1, "linear": 0.5})
    assert comp["channels"]["social"]["counted"] is False  # share 1 % < 2 %
    assert comp["median_relative_error"] == pytest.approx({"mmm": 0.05, "linear": 0.75})
    bare = elasticity_comparison(estimates, None)
    assert bare["has_truth"] is False
    assert bare["median_relative_error"] == {"mmm": None, "linear": None}
    assert bare["channels"]["tv"]["relative_errors"] == {"mmm": None, "linear": None}


# --------------------------------------------------------------------------- the comparison

SETTINGS = ModelSettings(n_starts=2)
EVAL = EvaluationSettings(holdout_weeks=26, cv_folds=2, bootstrap_replicates=0)


@pytest.fixture(scope="module")
def comparison():
    panel = model_form_panel(noise=0.03, seed=5)
    truth = {"channels": {"tv": {"elasticity": 0.05, "contribution_share": 0.1},
                          "search": {"elasticity": 0.02, "contribution_share": 0.05}}}
    return compare_baselines(Panel(**{**panel.__dict__, "truth": truth}), SETTINGS, EVAL, 0)


def test_comparison_uses_the_validation_splits_and_its_mmm(comparison) -> None:
    panel = comparison.panel
    assert [s.as_dict() for s in comparison.splits] == \
        [s.as_dict() for s in evaluation_splits(panel.n_weeks, EVAL)]
    v = validate_tenant(panel, SETTINGS, EVAL, 0)
    # the same splits and the same MMM fits: the validation notebook's numbers exactly
    assert comparison.metrics["mmm"]["holdout"] == pytest.approx(
        {k: v.metrics["holdout"][k] for k in ("r2", "mape", "nrmse", "rmse")}, rel=1e-12)
    for fold in v.metrics["cv"]["folds"]:
        assert comparison.metrics["mmm"][fold["name"]]["mape"] == pytest.approx(fold["mape"],
                                                                               rel=1e-12)
    assert comparison.metrics["mmm"][CV_MEAN]["mape"] == pytest.approx(
        v.metrics["cv"]["mean"]["mape"], rel=1e-12)
    assert comparison.elasticities["mmm"] == pytest.approx(v.elasticities, rel=1e-12)


def test_comparison_scores_every_baseline_on_every_split(comparison) -> None:
    assert comparison.models == ["mmm", *BASELINES]
    names = ["holdout", "fold1", "fold2", CV_MEAN]
    for model in comparison.models:
        assert list(comparison.metrics[model]) == names
        assert all(math.isfinite(comparison.metrics[model][n]["mape"]) for n in names)
    for b in BASELINES:
        for n in names:
            assert comparison.skill[b][n]["mape"] == pytest.approx(
                1 - comparison.metrics["mmm"][n]["mape"] / comparison.metrics[b][n]["mape"])
    # the seasonal naive forecast is the actual total of 52 weeks earlier
    h = comparison.holdout
    np.testing.assert_allclose(comparison.holdout_forecasts["seasonal_naive"],
                               comparison.panel.total_kpi()[h.train_end - 52:h.test_end - 52])
    assert set(comparison.elasticities) == {"mmm", "linear", "lightgbm"}
    table = comparison.forecast_table()
    assert list(table.columns) == ["actual", "mmm", *BASELINES] and len(table) == 26
    assert comparison.metrics_table().shape == (6, 8)
    assert comparison.elasticity_table().loc["tv", "truth"] == 0.05


def test_comparison_scraps_feed_the_gate(comparison) -> None:
    scraps = comparison.scraps()
    assert set(scraps) == {"tenant", "baselines", "splits", "metrics", "skill", "elasticities",
                           "baseline_settings"}
    assert scraps["baselines"] == list(BASELINES)
    assert scraps["elasticities"]["has_truth"] is True
    gate = beats_baselines_gate(scraps, BaselinesGate())
    mmm = comparison.metrics["mmm"]["holdout"]["mape"]
    expected = all(comparison.metrics["mmm"][split]["mape"]
                   < comparison.metrics[b][split]["mape"]
                   for b in ("seasonal_naive", "no_media", "linear")
                   for split in ("holdout", CV_MEAN))
    assert gate["passed"] is expected
    assert f"MMM {100 * mmm:.2f} %" in gate["detail"] and "CV mean (2 folds)" in gate["detail"]


def test_a_baseline_that_cannot_fit_a_split_scores_nan_with_a_note() -> None:
    panel = model_form_panel(noise=0.03, weeks=70, seed=2)
    c = compare_baselines(panel, SETTINGS, EvaluationSettings(
        holdout_weeks=13, cv_folds=2, cv_horizon_weeks=13, cv_min_train_weeks=40,
        bootstrap_replicates=0), 0, baselines=("seasonal_naive",))
    assert math.isfinite(c.metrics["seasonal_naive"]["holdout"]["mape"])  # 57 training weeks
    assert math.isnan(c.metrics["seasonal_naive"]["fold1"]["mape"])  # 44 training weeks
    assert c.notes and "fold1" in c.notes[0] and "52 training weeks" in c.notes[0]


def test_unknown_baseline_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown baseline"):
        compare_baselines(model_form_panel(), SETTINGS, EVAL, 0, baselines=("prophet",))


# --------------------------------------------------------------------------- the gate


def baseline_scraps(mmm: float = 0.05, folds: dict[str, list] | None = None,
                    **errors: float) -> dict:
    """Holdout MAPE (NRMSE twice it) per model; ``folds``: model -> MAPE per CV fold."""
    mape = {"naive": 0.2, "seasonal_naive": 0.1, "no_media": 0.09, "linear": 0.08,
            "lightgbm": 0.04, **errors}
    out = {m: {"holdout": {"mape": v, "nrmse": 2 * v}} for m, v in {"mmm": mmm, **mape}.items()}
    for m, values in (folds or {}).items():
        for i, v in enumerate(values, start=1):
            out[m][f"fold{i}"] = {"mape": v, "nrmse": 2 * v}
    return {"metrics": out}


FOLDS = {"mmm": [0.05, 0.07], "seasonal_naive": [0.1, 0.1], "no_media": [0.08, 0.08],
         "linear": [0.07, 0.09]}


def test_gate_passes_when_the_mmm_beats_the_listed_baselines() -> None:
    gate = beats_baselines_gate(baseline_scraps(), BaselinesGate())
    assert gate["name"] == BEATS_BASELINES and gate["passed"] is True
    assert gate["threshold"] == 0.0
    assert gate["value"] == pytest.approx(1 - 0.05 / 0.08)  # the smallest skill: vs linear
    # lightgbm (4 %) beats the MMM (5 %) but is not a listed baseline
    assert "lightgbm" not in gate["detail"]
    assert "MMM 5.00 %" in gate["detail"] and "linear 8.00 % (skill 0.375)" in gate["detail"]


def test_gate_fails_when_a_listed_baseline_is_better_or_equal() -> None:
    gate = beats_baselines_gate(baseline_scraps(mmm=0.09), BaselinesGate())
    assert gate["passed"] is False and gate["value"] == pytest.approx(1 - 0.09 / 0.08)
    assert "linear 8.00 % (skill -0.125, not beaten)" in gate["detail"]
    tie = beats_baselines_gate(baseline_scraps(mmm=0.08), BaselinesGate())
    assert tie["passed"] is False  # lower, not equal
    perfect = beats_baselines_gate(baseline_scraps(mmm=0.01, linear=0.0), BaselinesGate())
    assert perfect["passed"] is False and perfect["value"] is None
    # a baseline exact to rounding (a KPI among its inputs): no skill of -7e13, a reason
    leak = beats_baselines_gate(baseline_scraps(mmm=0.0278, linear=3.8e-16), BaselinesGate())
    assert leak["passed"] is False and leak["value"] is None
    assert "linear 0.00 % (not beaten: it fits the holdout exactly" in leak["detail"]
    assert "skill -" not in leak["detail"]


def test_gate_judges_the_mean_over_the_cv_folds_too() -> None:
    gate = beats_baselines_gate(baseline_scraps(folds=FOLDS), BaselinesGate())
    assert gate["passed"] is True
    assert "CV mean (2 folds) MAPE: MMM 6.00 %" in gate["detail"]
    assert "linear 8.00 % (skill 0.250)" in gate["detail"]
    # holdout beaten, CV mean not: the MMM loses to no_media on the folds
    worse = {**FOLDS, "mmm": [0.09, 0.09]}
    gate = beats_baselines_gate(baseline_scraps(folds=worse), BaselinesGate())
    assert gate["passed"] is False and gate["value"] == pytest.approx(1 - 0.09 / 0.08)
    assert "no_media 8.00 % (skill -0.125, not beaten)" in gate["detail"]
    holdout_only = beats_baselines_gate(baseline_scraps(folds=worse),
                                        BaselinesGate(cross_validation=False))
    assert holdout_only["passed"] is True and "CV" not in holdout_only["detail"]


def test_a_forecast_equal_to_no_medias_to_round_off_is_a_tie_not_a_win() -> None:
    # a fit that credits nothing to media forecasts exactly what no_media does
    gate = beats_baselines_gate(baseline_scraps(mmm=0.0342, no_media=0.0342 * (1 + 1e-13)),
                                BaselinesGate(cross_validation=False))
    assert gate["passed"] is False
    assert "no_media 3.42 % (skill 0.000, not beaten: the same forecast)" in gate["detail"]
    # a tie is a skill of 0: it passes a negative minimum skill, as a slightly worse MMM does
    lenient = BaselinesGate(baselines=["no_media"], min_skill=-0.1, cross_validation=False)
    assert beats_baselines_gate(baseline_scraps(mmm=0.0342, no_media=0.0342), lenient)["passed"]
    assert beats_baselines_gate(baseline_scraps(mmm=0.0343, no_media=0.0342), lenient)["passed"]


def test_gate_compares_cv_over_the_folds_a_baseline_could_fit() -> None:
    folds = {**FOLDS, "seasonal_naive": [float("nan"), 0.1]}  # < a year before fold1
    gate = beats_baselines_gate(baseline_scraps(folds=folds), BaselinesGate())
    assert gate["passed"] is True
    assert "CV mean (fold2) MAPE: MMM 7.00 %; seasonal_naive 10.00 % (skill 0.300)" \
        in gate["detail"]
    folds = {**FOLDS, "seasonal_naive": [float("nan"), float("nan")]}
    gate = beats_baselines_gate(baseline_scraps(folds=folds), BaselinesGate())
    assert "no fold with a number for seasonal_naive: holdout only" in gate["detail"]
    gate = beats_baselines_gate(baseline_scraps(), BaselinesGate())  # cv_folds: 0
    assert gate["passed"] is True
    assert "no rolling-origin fold to compare for seasonal_naive, no_media, linear: holdout " \
        "only" in gate["detail"]


def test_gate_settings_choose_baselines_metric_and_minimum_skill() -> None:
    settings = BaselinesGate(baselines=["lightgbm"], metric="nrmse")
    assert beats_baselines_gate(baseline_scraps(), settings)["passed"] is False
    strict = BaselinesGate(min_skill=0.5)  # skill vs linear is 0.375
    gate = beats_baselines_gate(baseline_scraps(), strict)
    assert gate["passed"] is False and gate["threshold"] == 0.5


@pytest.mark.parametrize(("scraps", "reason"), [
    (None, "the baselines notebook did not run"),
    ({}, "no MMM holdout mape"),
    (baseline_scraps(linear=float("nan")), "no holdout mape was reported for linear"),
    ({"metrics": {"mmm": {"holdout": {"mape": 0.05}}}},
     "no holdout mape was reported for seasonal_naive, no_media, linear"),
])
def test_gate_is_null_without_numbers(scraps: dict | None, reason: str) -> None:
    gate = beats_baselines_gate(scraps, BaselinesGate())
    assert gate["passed"] is None and gate["value"] is None
    assert reason in gate["detail"]


def test_gate_names_why_it_is_not_assessable() -> None:
    gate = beats_baselines_gate(None, BaselinesGate(), "the baselines notebook errored")
    assert gate["detail"] == "the baselines notebook errored"


def test_gate_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="at least one baseline"):
        BaselinesGate(baselines=[])
    with pytest.raises(ValueError):
        BaselinesGate(baselines=["arima"])
    with pytest.raises(ValueError, match="duplicate"):
        BaselinesGate(baselines=["linear", "linear"])
