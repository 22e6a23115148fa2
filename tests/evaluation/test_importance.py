"""Feature importance: the surrogate's features are the MMM's, SHAP values add up, the additive
model's SHAP values match shap's Additive explainer, ranks and Spearman, a channel that
dominates by construction comes first by every method, the rows' columns and types, and the
plain-language paragraph."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy import stats

from mmm_evidence.config import ModelSettings, TenantConfig
from mmm_evidence.data.synthetic import simulate_panel
from mmm_evidence.evaluation.importance import (
    AGREEMENTS,
    BASELINE_TERM,
    CHANNEL,
    CSV_COLUMNS,
    KINDS,
    SEGMENT_FEATURE,
    additive_shap_values,
    adstocked_spend,
    agreement_strength,
    background_rows,
    explain_importance,
    explained_rows,
    fit_surrogate,
    import_shap,
    importance_ranks,
    importance_summary,
    mmm_channel_curve,
    mmm_shap_values,
    rank_agreement,
    spearman,
    surrogate_features,
    tree_inputs,
    tree_shap_values,
    true_shares,
)
from mmm_evidence.model.mmm import MMM

SEED = 5
#: tv is flighted with a 45 % share; search and social are small, always on: tv dominates by
#: construction, in level and in week-to-week variation.
DOMINANT = {
    "name": "one_big_channel",
    "channels": ["tv", "search", "social"],
    "controls": ["holiday"],
    "segment_size": "population",
    "data": {"synthetic": {
        "seed": 17, "weeks": 104, "segments": 3, "noise": 0.03, "trend": 0.05,
        "seasonality": 0.05, "spend_correlation": 0.2,
        "channels": {
            "tv": {"pattern": "flighted", "weekly_spend": 60000, "decay": 0.4,
                   "half_saturation": 1.0, "shape": 1.5, "share": 0.45},
            "search": {"pattern": "always_on", "weekly_spend": 10000, "decay": 0.1,
                       "half_saturation": 0.8, "shape": 1.2, "share": 0.03},
            "social": {"pattern": "always_on", "weekly_spend": 8000, "decay": 0.2,
                       "half_saturation": 1.0, "shape": 1.2, "share": 0.02},
        },
        "controls": {"holiday": {"kind": "holiday", "effect": 0.2}},
    }},
}
SETTINGS = ModelSettings(n_starts=2)


@pytest.fixture(scope="module")
def panel():
    return simulate_panel(TenantConfig.model_validate(DOMINANT))


@pytest.fixture(scope="module")
def model(panel):
    return MMM(SETTINGS, seed=SEED).fit(panel)


@pytest.fixture(scope="module")
def result(panel, model):
    return explain_importance(panel, model, SEED)


# --------------------------------------------------------------------------- features


def test_features_are_the_mmms_inputs_in_order(panel, model) -> None:
    f = surrogate_features(panel, model)
    assert f.names == ("tv", "search", "social", "holiday", "trend", "season_sin1",
                       "season_cos1", "season_sin2", "season_cos2", SEGMENT_FEATURE)
    assert f.kinds == (CHANNEL,) * 3 + ("control",) + ("calendar",) * 5 + ("segment",)
    assert f.channels == ("tv", "search", "social")
    g_n, t_n = panel.n_segments, panel.n_weeks
    assert f.matrix.shape == (g_n * t_n, 10) and f.target.shape == (g_n * t_n,)
    # rows are segment-major; the target is per-capita KPI; weights are segment sizes
    assert f.target[t_n] == pytest.approx(panel.kpi[1, 0] / panel.size[1])
    assert f.weights[t_n] == pytest.approx(panel.size[1])
    assert np.all(f.matrix[:t_n, -1] == panel.size[0])
    assert np.array_equal(f.matrix[:, 3], panel.controls[:, :, 0].reshape(-1))
    assert list(f.frame().columns) == list(f.names)


@pytest.mark.parametrize("delayed", [False, True])
def test_channel_features_are_what_the_mmm_feeds_its_hill_curves(panel, model,
                                                                  delayed: bool) -> None:
    """β · Hill(feature) is exactly the MMM's per-capita contribution of the channel (also
    with a channel's spend delayed before the adstock)."""
    if delayed:
        model = MMM.from_dict({**model.to_dict(), "delay": [2] + [0] * (len(model.channels) - 1)})
    f = surrogate_features(panel, model)
    parts = model.contributions(panel)
    for c, channel in enumerate(panel.channels):
        per_capita = (parts[channel] / model.size[:, None]).reshape(-1)
        np.testing.assert_allclose(mmm_channel_curve(model, channel, f.matrix[:, c]),
                                   per_capita, rtol=1e-12, atol=1e-12)
    assert adstocked_spend(model, panel).shape == panel.spend.shape


def test_features_follow_the_model_settings(panel) -> None:
    model = MMM(ModelSettings(n_starts=1, fourier_order=1, trend=False), seed=SEED).fit(panel)
    names = surrogate_features(panel, model).names
    assert "trend" not in names and "season_sin2" not in names and "season_cos1" in names


def test_a_panel_that_does_not_match_the_model_is_refused(panel, model) -> None:
    other = {**DOMINANT, "channels": ["tv", "search", "radio"], "data": copy.deepcopy(
        DOMINANT["data"])}
    spec = other["data"]["synthetic"]["channels"]
    spec["radio"] = spec.pop("social")
    mismatched = simulate_panel(TenantConfig.model_validate(other))
    with pytest.raises(ValueError, match=r"panel channels .*radio.* differ"):
        surrogate_features(mismatched, model)
    with pytest.raises(ValueError, match="must be fitted"):
        surrogate_features(panel, MMM(SETTINGS))


def test_a_feature_name_used_twice_is_refused(panel) -> None:
    spec = copy.deepcopy(DOMINANT)
    spec["controls"] = ["trend"]
    spec["data"]["synthetic"]["controls"] = {"trend": {"kind": "holiday", "effect": 0.2}}
    clash = simulate_panel(TenantConfig.model_validate(spec))
    fitted = MMM(ModelSettings(n_starts=1), seed=SEED).fit(clash)
    with pytest.raises(ValueError, match="feature name.*trend.*used twice"):
        surrogate_features(clash, fitted)


def test_background_is_a_seeded_sorted_sample() -> None:
    a = background_rows(1000, seed=3, size=50)
    assert len(a) == 50 and len(set(a)) == 50 and np.all(np.diff(a) > 0)
    assert np.array_equal(a, background_rows(1000, seed=3, size=50))
    assert not np.array_equal(a, background_rows(1000, seed=4, size=50))
    assert np.array_equal(background_rows(30, seed=3, size=50), np.arange(30))


# --------------------------------------------------------------------------- SHAP values


def test_additive_shap_values_on_a_known_model() -> None:
    terms = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])
    values, base = additive_shap_values(terms)
    np.testing.assert_allclose(values, [[-2.0, -20.0], [0.0, -10.0], [2.0, 30.0]])
    assert base == pytest.approx(33.0)
    values, base = additive_shap_values(terms, background=np.array([0, 1]))
    np.testing.assert_allclose(values[2], [3.0, 45.0])
    assert base == pytest.approx(17.0)


def test_mmm_shap_values_sum_to_prediction_minus_base(panel, model) -> None:
    background = background_rows(panel.kpi.size, SEED, 100)
    values, base, names, _ = mmm_shap_values(model, panel, background)
    assert names == (*panel.channels, BASELINE_TERM)
    prediction = (model.predict(panel) / model.size[:, None]).reshape(-1)
    np.testing.assert_allclose(values.sum(axis=1), prediction - base, rtol=1e-10,
                               atol=1e-9 * abs(base))
    assert base == pytest.approx(prediction[background].mean(), rel=1e-12)


def test_mmm_shap_values_agree_with_shaps_additive_explainer(panel, model) -> None:
    shap = import_shap()
    background = background_rows(panel.kpi.size, SEED, 60)
    values, base, _, terms = mmm_shap_values(model, panel, background)
    f = surrogate_features(panel, model)
    c_n = len(panel.channels)
    x = np.column_stack([f.matrix[:, :c_n], terms[:, -1]])  # channel features + baseline

    def mmm_per_capita(data: np.ndarray) -> np.ndarray:
        out = np.array(data[:, -1], dtype=float)
        for c, channel in enumerate(panel.channels):
            out = out + mmm_channel_curve(model, channel, data[:, c])
        return out

    masker = shap.maskers.Independent(x[background], max_samples=len(background))
    explainer = shap.explainers.Additive(mmm_per_capita, masker)
    rows = np.arange(0, len(x), 7)
    explained = explainer(x[rows], silent=True)
    np.testing.assert_allclose(explained.values, values[rows], rtol=1e-9,
                               atol=1e-9 * abs(base))
    np.testing.assert_allclose(explained.base_values, base, rtol=1e-9)


def test_tree_shap_values_add_up_to_the_surrogates_prediction(panel, model) -> None:
    f = surrogate_features(panel, model)
    booster = fit_surrogate(f, SEED, rounds=30)
    background = background_rows(len(f.target), SEED, 50)
    values, base = tree_shap_values(booster, f.matrix, background)
    prediction = booster.predict(f.matrix, num_threads=1)
    assert values.shape == f.matrix.shape
    np.testing.assert_allclose(values.sum(axis=1) + base, prediction, rtol=1e-6)
    assert base == pytest.approx(prediction[background].mean(), rel=1e-6)


# --------------------------------------------------------------------------- ranks, Spearman


def test_importance_ranks_largest_first_ties_share_the_best_rank() -> None:
    assert importance_ranks({"a": 0.1, "b": 0.5, "c": 0.5, "d": None, "e": 0.0}) == {
        "a": 3, "b": 1, "c": 1, "d": None, "e": 4}
    assert importance_ranks({}) == {}


@pytest.mark.parametrize(("a", "b"), [
    ([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]),
    ([0.1, 0.4, 0.4, 0.2], [3, 1, 2, 4]),
    ([3.0, 1.0, 2.0], [1.0, 2.0, 3.0]),
])
def test_spearman_matches_scipy(a, b) -> None:
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)


def test_spearman_is_none_when_a_side_is_constant_and_checks_lengths() -> None:
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1, 2, 3], [2, 2, 2]) is None
    assert spearman([1], [1]) is None
    with pytest.raises(ValueError, match="3 values against 2"):
        spearman([1, 2, 3], [1, 2])


def test_rank_agreement_needs_enough_channels() -> None:
    a = {"tv": 0.3, "search": 0.2, "social": 0.1, "radio": None}
    b = {"tv": 0.25, "search": 0.05, "social": 0.1, "radio": 0.02}
    assert rank_agreement(a, b) == pytest.approx(0.5)  # radio unknown on one side
    assert rank_agreement(a, b, min_channels=4) is None
    assert rank_agreement({"tv": 1.0, "search": 2.0}, {"tv": 1.0, "search": 2.0}) is None
    assert rank_agreement(a, {k: 1.0 for k in a}) is None


def test_agreement_strength_words() -> None:
    assert [agreement_strength(v) for v in (0.9, 0.7, 0.5, 0.1, -0.3, None, math.nan)] == [
        "strong agreement", "strong agreement", "moderate agreement", "weak agreement",
        "disagreement", "not computable", "not computable"]


def test_true_shares_from_the_panels_truth(panel) -> None:
    shares = true_shares(panel)
    assert set(shares) == set(panel.channels)
    assert shares["tv"] == pytest.approx(panel.truth["channels"]["tv"]["contribution_share"])
    from dataclasses import replace

    assert true_shares(replace(panel, truth=None)) is None
    assert true_shares(replace(panel, truth={"channels": {}})) is None


# --------------------------------------------------------------------------- the result


def test_the_dominant_channel_comes_first_by_every_method(result) -> None:
    tv = next(r for r in result.rows() if r["feature"] == "tv")
    assert (tv["shap_rank"], tv["mmm_shap_rank"], tv["mmm_rank"], tv["true_rank"]) == \
        (1, 1, 1, 1)
    assert set(result.agreement()["top"].values()) == {"tv"}
    assert "agree on the channel that moves the KPI most: tv" in result.summary()
    assert "names the true largest channel, tv, first" in result.summary()


def test_both_models_shap_values_add_up(result) -> None:
    errors = result.additivity_error()
    assert errors["mmm"] < 1e-12 and errors["surrogate"] < 1e-6
    quality = result.fit_quality()
    assert 0.5 < quality["mmm_r2"] <= 1.0 and 0.5 < quality["surrogate_r2"] <= 1.0


def test_rows_have_the_csv_columns_and_types(result) -> None:
    rows = result.rows()
    assert [r["feature"] for r in rows] == list(result.features.names)
    for row in rows:
        assert tuple(row) == CSV_COLUMNS
        assert row["tenant"] == "one_big_channel" and row["kind"] in KINDS
        assert isinstance(row["mean_abs_shap"], float) and row["mean_abs_shap"] >= 0
        assert isinstance(row["shap_rank_all"], int)
        assert row["n_channels"] == 3
        for pair, *_ in AGREEMENTS:
            value = row[f"spearman_{pair}"]
            assert value is None or (isinstance(value, float) and -1 <= value <= 1)
        channel_only = ("shap_rank", "mmm_mean_abs_shap", "mmm_shap_rank", "mmm_share",
                        "mmm_rank", "true_share", "true_rank")
        if row["kind"] == CHANNEL:
            for col in channel_only:
                expected = int if col.endswith("rank") else float
                assert isinstance(row[col], expected), col
        else:
            assert all(row[col] is None for col in channel_only)
    assert sorted(r["shap_rank_all"] for r in rows) == list(range(1, len(rows) + 1))


def test_mean_abs_shap_is_size_weighted_in_kpi_units(result) -> None:
    rows = {r["feature"]: r for r in result.rows()}
    j = result.features.names.index("search")
    expected = np.mean(np.abs(result.shap_values[:, j]) * result.features.weights)
    assert rows["search"]["mean_abs_shap"] == pytest.approx(expected)
    shares = result.mmm_shares
    assert rows["tv"]["mmm_share"] == pytest.approx(shares["tv"])


def test_scraps_are_plain_json_with_the_required_names(result) -> None:
    import json

    from mmm_evidence.pipeline.collect import IMPORTANCE_SCRAPS

    scraps = result.scraps()
    assert set(IMPORTANCE_SCRAPS) <= set(scraps)
    json.dumps(scraps, allow_nan=False)
    assert scraps["surrogate"]["feature_perturbation"] == "interventional"
    assert scraps["surrogate"]["background_rows"] == 200
    assert scraps["agreement"]["has_truth"] is True


def test_explaining_is_deterministic(panel, model, result) -> None:
    again = explain_importance(panel, model, SEED)
    assert again.rows() == result.rows()


def test_without_truth_the_truth_columns_are_empty(panel, model) -> None:
    from dataclasses import replace

    bare = replace(panel, truth=None)
    r = explain_importance(bare, model, SEED, background_size=40, rounds=20)
    rows = [row for row in r.rows() if row["kind"] == CHANNEL]
    assert all(row["true_share"] is None and row["true_rank"] is None for row in rows)
    agreement = r.agreement()
    assert agreement["has_truth"] is False and agreement["mmm_truth"] is None
    assert agreement["lightgbm_truth"] is None and agreement["lightgbm_mmm"] is not None
    assert "no ground truth" in r.summary()


def test_tables_for_the_notebook(result) -> None:
    table = result.comparison_table()
    assert list(table.index)[0] == "tv" and len(table) == 3
    assert list(result.agreement_table().index) == [p for p, *_ in AGREEMENTS]
    features = result.feature_table()
    assert len(features) == len(result.features.names)
    assert list(features["rank"]) == sorted(features["rank"])


# --------------------------------------------------------------------------- plain language


def _rows(ranks: dict[str, tuple[int, int]]) -> list[dict]:
    return [{"feature": c, "kind": CHANNEL, "mmm_rank": m, "true_rank": t}
            for c, (m, t) in ranks.items()]


def test_summary_names_disagreement_and_the_largest_rank_gap() -> None:
    agreement = {"lightgbm_mmm": 0.4, "mmm_truth": 0.5, "lightgbm_truth": -0.5,
                 "n_channels": 3, "min_channels": 3, "has_truth": True,
                 "top": {"mean_abs_shap": "search", "mmm_mean_abs_shap": "tv",
                         "mmm_share": "radio", "true_share": "tv"}}
    text = importance_summary(_rows({"tv": (2, 1), "search": (3, 3), "radio": (1, 2)}),
                              agreement)
    assert "disagree on the channel that moves the KPI most: LightGBM puts search first, " \
           "the MMM tv" in text
    assert "correlate at ρ = 0.40 (moderate agreement)" in text
    assert "ρ = 0.50 (moderate agreement) and the MMM puts radio first where the truth has " \
           "tv" in text
    assert "The largest disagreement is radio: rank 1 by the MMM's share, 2 in truth." in text
    assert "ρ = -0.50 (disagreement)" in text


def test_summary_with_too_few_channels_computes_no_correlation() -> None:
    agreement = {"lightgbm_mmm": None, "mmm_truth": None, "lightgbm_truth": None,
                 "n_channels": 2, "min_channels": 3, "has_truth": True,
                 "top": {"mean_abs_shap": "tv", "mmm_mean_abs_shap": "tv",
                         "mmm_share": "tv", "true_share": "tv"}}
    text = importance_summary(_rows({"tv": (1, 1), "search": (2, 2)}), agreement)
    assert "With 2 channel(s) a rank correlation says nothing" in text
    assert "ρ =" not in text and "largest disagreement" not in text
    assert "names the true largest channel, tv, first" in text



def test_with_two_channels_no_rank_correlation_is_computed() -> None:
    spec = copy.deepcopy(DOMINANT)
    spec["channels"] = ["tv", "search"]
    del spec["data"]["synthetic"]["channels"]["social"]
    two = simulate_panel(TenantConfig.model_validate(spec))
    fitted = MMM(ModelSettings(n_starts=1), seed=SEED).fit(two)
    r = explain_importance(two, fitted, SEED, background_size=40, rounds=20)
    agreement = r.agreement()
    assert agreement["n_channels"] == 2
    assert all(agreement[pair] is None for pair, *_ in AGREEMENTS)
    assert all(row["spearman_mmm_truth"] is None for row in r.rows())
    assert "With 2 channel(s) a rank correlation says nothing" in r.summary()


def test_surrogate_table_shows_the_summary(result) -> None:
    table = result.surrogate_table()
    s = result.surrogate_summary()
    assert table.loc["rows (segment-weeks)", "value"] == f"{s['rows']:,}"
    assert table.loc["MMM R² (per-capita KPI)", "value"] == f"{s['mmm_r2']:.3f}"
    assert len(table) == 7


def test_a_large_tenant_is_explained_on_a_seeded_sample_of_rows(panel, model, result) -> None:
    n = panel.n_segments * panel.n_weeks
    sample = explain_importance(panel, model, SEED, background_size=40, rounds=20,
                                max_rows=n // 3)
    rows = explained_rows(n, SEED, n // 3)
    assert len(rows) == n // 3 and np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(rows, explained_rows(n, SEED, n // 3))  # seeded
    assert sample.shap_values.shape[0] == sample.mmm_shap_values.shape[0] == n // 3
    assert sample.features.matrix.shape[0] == sample.features.target.shape[0] == n // 3
    # the sampled rows are the same segment-weeks in both models' values: the MMM's terms
    every = explain_importance(panel, model, SEED, background_size=40, rounds=20)
    np.testing.assert_allclose(sample.mmm_term_values, every.mmm_term_values[rows])
    np.testing.assert_allclose(sample.features.matrix, every.features.matrix[rows])
    s = sample.surrogate_summary()
    assert (s["rows"], s["rows_total"]) == (n // 3, n)
    assert sample.surrogate_table().loc["rows (segment-weeks)", "value"].startswith(
        f"{n // 3:,} of {n:,} (a seeded sample")
    assert max(sample.additivity_error().values()) < 1e-6  # still exact on the sample
    # the importance order of the channels survives the sampling
    top = sample.agreement()["top"]
    assert top["mean_abs_shap"] == every.agreement()["top"]["mean_abs_shap"]
    assert result.surrogate_summary()["rows"] == result.surrogate_summary()["rows_total"]


def test_shap_follows_lightgbm_where_later_weeks_repeat_earlier_spend() -> None:
    """A national tenant whose last two years repeat its first two years' spend: fitted on
    float64 features, TreeSHAP (float32 inside) took other paths than LightGBM and its
    additivity check failed. The features are float32 numbers, so it cannot."""
    from dataclasses import replace

    from tests.model.conftest import model_form_panel

    panel = model_form_panel(noise=0.05, segments=1, weeks=208, seed=0)
    spend = panel.spend.copy()
    spend[:, 104:] = spend[:, :104]
    panel = replace(panel, spend=spend)
    model = MMM(ModelSettings(), seed=1).fit(panel)
    rounded = tree_inputs(surrogate_features(panel, model).matrix)
    np.testing.assert_array_equal(rounded, rounded.astype(np.float32))
    result = explain_importance(panel, model, 1)  # raised shap's ExplainerError before
    np.testing.assert_allclose(result.shap_values.sum(axis=1) + result.shap_base,
                               result.surrogate_prediction, rtol=1e-6)


def test_tree_inputs_keep_six_significant_digits_in_float32() -> None:
    """Values one float32 step apart become one value (no threshold can fall between them and
    round onto one); distinct values at six digits stay distinct; zero, signs and non-finite
    values are kept."""
    x = np.float32(0.7341234)
    near = float(np.nextafter(x, np.float32(1.0)))
    out = tree_inputs(np.array([[float(x), near, 123456.7, -0.00123456789, 0.0, np.nan]]))
    assert out[0, 0] == out[0, 1]
    np.testing.assert_array_equal(out[0, 2:5], np.float32([123457.0, -0.00123457, 0.0]))
    assert np.isnan(out[0, 5])
    np.testing.assert_array_equal(out, out.astype(np.float32))
    assert tree_inputs(np.array([[1.00001, 1.00002]]))[0, 0] != \
        tree_inputs(np.array([[1.00001, 1.00002]]))[0, 1]
    # below float32's smallest normal number (a long-stopped channel's adstock) no NaN: the
    # value goes to float32 as it is; infinities stay
    tiny = tree_inputs(np.array([[1e-304, 5e-324, -1e-40, np.inf, -np.inf, 3e38]]))
    assert not np.isnan(tiny).any()
    np.testing.assert_array_equal(tiny[0, :5], np.float32([0.0, 0.0, -1e-40, np.inf, -np.inf]))
