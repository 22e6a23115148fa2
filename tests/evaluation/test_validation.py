import numpy as np
import pandas as pd
import pytest

from mmm_evidence.config import EvaluationSettings, GateSettings, ModelSettings
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.validation import validate_tenant
from mmm_evidence.pipeline.gates import evaluate_gates, tenant_verdict
from mmm_evidence.report import plots
from tests.model.conftest import model_form_panel

SETTINGS = ModelSettings(n_starts=2)
EVAL = EvaluationSettings(holdout_weeks=26, cv_folds=2, bootstrap_replicates=0)


def noise_panel(weeks: int = 104, segments: int = 3, seed: int = 0) -> Panel:
    rng = np.random.default_rng(seed)
    return Panel(
        tenant="pure_noise", dates=pd.date_range("2024-01-01", periods=weeks, freq="7D"),
        segments=tuple(f"g{i}" for i in range(segments)), channels=("a", "b"),
        control_names=(), kpi=1000 + 100 * rng.standard_normal((segments, weeks)),
        spend=rng.uniform(0, 100, (segments, weeks, 2)), controls=np.zeros((segments, weeks, 0)),
        size=np.ones(segments))


def test_pure_noise_tenant_gets_fail():
    v = validate_tenant(noise_panel(), SETTINGS, EVAL, seed=0)
    gates = evaluate_gates(v.scraps(), GateSettings())
    r2_gate = next(g for g in gates if g["name"] == "holdout_r2")
    assert r2_gate["passed"] is False and r2_gate["value"] < 0.5
    # no truth: the truth-based gates are not assessable, never passed
    assert all(g["passed"] is None for g in gates if g["name"].startswith("elasticity"))
    assert tenant_verdict(gates) == "FAIL"


def test_model_form_tenant_passes_with_truth():
    panel = model_form_panel(noise=0.03, seed=5)
    clean = validate_tenant(model_form_panel(seed=5), SETTINGS, EVAL, 0)
    truth = {"channels": {c: {"elasticity": e, "contribution_share": clean.contribution_shares[c],
                              "roi": clean.roi[c]} for c, e in clean.elasticities.items()}}
    panel = Panel(**{**panel.__dict__, "truth": truth})
    v = validate_tenant(panel, SETTINGS, EVAL, 0)
    gates = evaluate_gates(v.scraps(), GateSettings())
    assert {g["name"]: g["passed"] for g in gates} == {
        "holdout_r2": True, "elasticity_median_error": True, "elasticity_no_missed_channel": True,
        "elasticity_no_phantom_channel": True, "roi_median_error": True,
        "elasticity_identified": None,  # no bootstrap here: not assessable
        "beats_baselines": None,  # no baselines notebook scraps: not assessable
        "robustness": None,  # no robustness notebook scraps: not assessable
        "importance_agreement": None,  # likewise, no importance notebook scraps
        # no fairness notebook scraps, no leak scan: not assessable
        "fairness_error_parity": None, "fairness_uplift_gap": None, "privacy_no_pii": None,
        "privacy_k_anonymity": None, "privacy_no_raw_rows": None}
    assert v.elasticity_table().loc["tv", "relative_error"] < 0.25
    table = v.elasticity_table()
    assert table.loc["tv", "contribution_slope"] == pytest.approx(
        v.elasticities["tv"] / v.contribution_shares["tv"])
    d = v.full_model.diagnostics
    assert v.fit_note() == (f"full-history fit from {d.n_starts} start(s), converged; no decay "
                            "profile found a lower objective than the fit.")
    assert v.scraps()["fit"]["profile_refits"] == 0
    # a fit the profile re-fitted, and one it could not settle, say so
    d.profile_refits, d.profile_refit_gain = 1, 0.873
    assert ("the multi-start missed the optimum: a decay profile found one 0.87 lower in "
            "objective and the fit was re-optimised from it (1×).") in v.fit_note()
    d.profile_refits, d.profile_below_fit, d.converged = 2, True, False
    assert "**did not converge**" in v.fit_note()
    assert "**not the optimum**: after 2 re-fit(s)" in v.fit_note()


def test_oracle_elasticities_need_the_true_media_response():
    from tests.model.conftest import TRUE

    clean = validate_tenant(model_form_panel(seed=5), SETTINGS, EVAL, 0)
    media = {c: {"decay": TRUE["decay"][i], "half_saturation_per_capita":
                 TRUE["half_saturation"][i], "shape": TRUE["shape"][i]}
             for i, c in enumerate(("tv", "search"))}
    truth = {"channels": {c: {"elasticity": e, "contribution_share": clean.contribution_shares[c],
                              "roi": clean.roi[c], **media[c]}
                          for c, e in clean.elasticities.items()}}
    panel = model_form_panel(noise=0.03, seed=5)
    v = validate_tenant(Panel(**{**panel.__dict__, "truth": truth}), SETTINGS, EVAL, 0)
    # given the true response only the linear part is fitted: close to the truth
    for c, e in clean.elasticities.items():
        assert v.oracle_elasticities[c] == pytest.approx(e, rel=0.1)
    assert v.scraps()["oracle_elasticities"] == v.oracle_elasticities
    table = v.elasticity_table()
    assert table.loc["tv", "oracle_relative_error"] == pytest.approx(
        abs(v.oracle_elasticities["tv"] - clean.elasticities["tv"]) / clean.elasticities["tv"])
    assert ORACLE_LABEL in _legend(plots.elasticities_vs_truth(v))
    # a truth without the media parameters (a real tenant's truth file): no oracle
    bare = {"channels": {c: {k: row[k] for k in ("elasticity", "contribution_share", "roi")}
                         for c, row in truth["channels"].items()}}
    v = validate_tenant(Panel(**{**panel.__dict__, "truth": bare}), SETTINGS, EVAL, 0)
    assert v.oracle_elasticities is None and v.scraps()["oracle_elasticities"] == {}
    assert "oracle_relative_error" not in v.elasticity_table()
    assert _legend(plots.elasticities_vs_truth(v)) == ["MMM v2", "truth"]


ORACLE_LABEL = "same model given the true response"


def _legend(fig) -> list[str]:
    import matplotlib.pyplot as plt

    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    plt.close(fig)
    return labels


def test_no_holdout_week_reaches_the_fit():
    panel = model_form_panel(noise=0.02, seed=6)
    v1 = validate_tenant(panel, SETTINGS, EVAL, 0)
    kpi = panel.kpi.copy()
    kpi[:, -26:] *= 5.0  # wreck the holdout weeks only
    v2 = validate_tenant(Panel(**{**panel.__dict__, "kpi": kpi}), SETTINGS, EVAL, 0)
    np.testing.assert_array_equal(v1.prediction, v2.prediction)
    assert v1.holdout_model.to_json() == v2.holdout_model.to_json()
    assert v1.holdout_model.diagnostics.n_observations == panel.n_segments * (panel.n_weeks - 26)
    assert v2.metrics["holdout"]["r2"] < v1.metrics["holdout"]["r2"]


def test_bad_holdout_is_reported():
    with pytest.raises(ValueError, match="pure_noise.*holdout_weeks=200"):
        validate_tenant(noise_panel(), SETTINGS, EvaluationSettings(holdout_weeks=200), seed=0)


def test_cross_validation_folds_never_see_their_test_weeks():
    panel = model_form_panel(noise=0.02, seed=7)
    v = validate_tenant(panel, SETTINGS, EVAL, 0)
    folds = v.metrics["cv"]["folds"]
    assert [f["train_weeks"] for f in folds] == [130, 143]
    kpi = panel.kpi.copy()
    kpi[:, 130:143] *= 3.0  # wreck fold 1's test weeks: its score changes, its fit does not
    v2 = validate_tenant(Panel(**{**panel.__dict__, "kpi": kpi}), SETTINGS, EVAL, 0)
    assert v2.metrics["cv"]["folds"][0]["r2"] < folds[0]["r2"]
    from mmm_evidence.evaluation.splits import Split
    from mmm_evidence.evaluation.validation import forecast_split
    split = Split("fold1", 130, 143)
    _, p1 = forecast_split(panel, split, SETTINGS, 0)
    _, p2 = forecast_split(Panel(**{**panel.__dict__, "kpi": kpi}), split, SETTINGS, 0)
    np.testing.assert_array_equal(p1, p2)
    assert 0.5 < v.metrics["holdout"]["rmse_to_noise"] < 2.0


def test_the_noise_floor_counts_every_parameter_the_fit_spent():
    panel = model_form_panel(noise=0.05, seed=7)
    v = validate_tenant(panel, SETTINGS, EVAL, 0)
    d = v.holdout_model.diagnostics
    cut = v.train_weeks
    g_n, c_n = panel.n_segments, len(panel.channels)
    p = d.n_linear_parameters + 3 * c_n  # baselines and beta, decay/half-sat/shape
    in_sample = v.metrics["in_sample"]["rmse"]
    expected = in_sample * np.sqrt(cut / (cut - p / g_n))
    assert v.metrics["noise_floor"]["rmse"] == pytest.approx(expected)
    assert v.metrics["holdout"]["rmse_to_noise"] == pytest.approx(
        v.metrics["holdout"]["rmse"] / expected)


def test_lift_tests_are_compared_and_can_calibrate():
    from dataclasses import replace

    from mmm_evidence.data.lift import LiftTest

    panel = model_form_panel(noise=0.05, seed=8)
    test = LiftTest(channel="tv", start=panel.dates[40], end=panel.dates[45], spend_change=1.0,
                    lift=1500.0, lift_se=100.0, label="geo")
    panel = replace(panel, meta={"lift_tests": [test]})
    plain = validate_tenant(panel, SETTINGS, EVAL, 0)
    [row] = plain.scraps()["lift_tests"]["tests"]
    assert plain.scraps()["lift_tests"]["calibrated"] is False
    assert row["implied_lift"] == pytest.approx(plain.full_model.lift(panel, test))
    calibrated = validate_tenant(panel, SETTINGS, EVAL, 0, calibrate=True)
    assert calibrated.full_model.diagnostics.calibration == ["geo"]
    assert calibrated.holdout_model.diagnostics.calibration == ["geo"]  # inside its weeks
    assert abs(calibrated.lift_tests[0]["z"]) < abs(row["z"])
    assert validate_tenant(model_form_panel(seed=8), SETTINGS, EVAL, 0).scraps()[
        "lift_tests"] == {}


def test_the_holdout_train_weeks_name_the_tenant_and_the_setting_when_data_are_short() -> None:
    from mmm_evidence.evaluation.validation import holdout_train_weeks

    panel = noise_panel()
    assert holdout_train_weeks(panel, EVAL) == panel.n_weeks - 26
    with pytest.raises(ValueError, match=r"tenant 'pure_noise': evaluation\.holdout_weeks=200 "
                                         r"must be between 1 and the \d+ weeks of data"):
        holdout_train_weeks(panel, EvaluationSettings(holdout_weeks=200))
