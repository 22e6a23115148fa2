"""Data findings: each kind found on a panel that has it, none on a clean panel."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.config import EvaluationSettings, ModelSettings
from mmm_evidence.data.findings import (
    FINDING_KINDS,
    NO_FINDINGS,
    data_findings,
    findings_markdown,
)
from mmm_evidence.data.panel import Panel
from mmm_evidence.evaluation.splits import cv_splits
from mmm_evidence.evaluation.validation import tenant_findings

WEEKS, HOLDOUT = 60, 10


@pytest.fixture()
def panel() -> Panel:
    rng = np.random.default_rng(0)
    g, t = 3, WEEKS
    spend = rng.uniform(0.0, 100.0, size=(g, t, 3))
    spend[:, ::4, 1] = 0.0  # a flighted channel: zero weeks are fine
    return Panel(
        tenant="t", dates=pd.date_range("2024-01-01", periods=t, freq="7D"),
        segments=("a", "b", "c"), channels=("tv", "search", "social"),
        control_names=("price",), kpi=rng.uniform(50.0, 150.0, size=(g, t)), spend=spend,
        controls=rng.normal(size=(g, t, 1)), size=np.ones(g), kpi_name="revenue")


def kinds(found: list[dict]) -> list[tuple[str, str]]:
    return [(f["kind"], f["subject"]) for f in found]


def test_a_clean_panel_has_no_findings(panel: Panel) -> None:
    assert data_findings(panel, HOLDOUT) == []


def test_a_channel_without_spend(panel: Panel) -> None:
    spend = panel.spend.copy()
    spend[:, :, 2] = 0.0
    found = data_findings(panel.with_spend(spend), HOLDOUT)
    assert kinds(found) == [("no_spend", "social")]
    assert "'social' has no spend in any of the 60 weeks" in found[0]["detail"]


def test_a_channel_whose_spend_starts_in_the_holdout(panel: Panel) -> None:
    spend = panel.spend.copy()
    spend[:, : WEEKS - 4, 0] = 0.0  # spend in the last 4 weeks only
    found = data_findings(panel.with_spend(spend), HOLDOUT)
    assert kinds(found) == [("no_training_spend", "tv")]
    assert found[0]["weeks_with_spend"] == 4
    assert panel.dates[WEEKS - 4].date().isoformat() in found[0]["detail"]
    # one week of spend before the holdout is enough for the holdout fit to see it
    spend[0, WEEKS - HOLDOUT - 1, 0] = 1.0
    assert data_findings(panel.with_spend(spend), HOLDOUT) == []


def test_a_channel_that_a_cross_validation_fold_never_sees(panel: Panel) -> None:
    folds = [("fold1", 30), ("fold2", 40)]
    spend = panel.spend.copy()
    spend[:, :35, 0] = 0.0  # tv starts in week 35: after fold1's training weeks end
    found = data_findings(panel.with_spend(spend), HOLDOUT, folds)
    assert kinds(found) == [("no_training_spend", "tv")]
    assert found[0]["splits"] == ["fold1"] and found[0]["weeks_with_spend"] == WEEKS - 35
    assert f"no spend before {panel.dates[35].date().isoformat()}" in found[0]["detail"]
    assert "the fit of fold1 never sees it, so cross-validation" in found[0]["detail"]
    assert data_findings(panel.with_spend(spend), HOLDOUT) == []  # without the folds
    # spend from the holdout on: the holdout and both folds are blind to it
    spend[:, : WEEKS - 4, 0] = 0.0
    found = data_findings(panel.with_spend(spend), HOLDOUT, folds)
    assert found[0]["splits"] == ["holdout", "fold1", "fold2"]
    assert found[0]["detail"].endswith("; the fits of fold1, fold2 never see it either")
    # spend in fold1's last training week is enough for every fit to see it
    spend[:, 29, 0] = 1.0
    assert data_findings(panel.with_spend(spend), HOLDOUT, folds) == []


def test_tenant_findings_use_the_evaluation_splits(panel: Panel) -> None:
    evaluation = EvaluationSettings(holdout_weeks=HOLDOUT, cv_folds=2, cv_horizon_weeks=10,
                                    cv_min_train_weeks=20)
    assert [s.train_end for s in cv_splits(WEEKS, evaluation)] == [40, 50]
    spend = panel.spend.copy()
    spend[:, :45, 1] = 0.0
    found = tenant_findings(panel.with_spend(spend), evaluation)
    assert kinds(found) == [("no_training_spend", "search")] and found[0]["splits"] == ["fold1"]


def test_a_channel_whose_spend_hardly_changes_within_any_segment(panel: Panel) -> None:
    rng = np.random.default_rng(1)
    spend = panel.spend.copy()
    level = np.array([100.0, 300.0, 5000.0])[:, None]  # segments may differ from each other
    spend[:, :, 2] = level * (1 + 0.01 * rng.uniform(-1, 1, (3, WEEKS)))
    found = data_findings(panel.with_spend(spend), HOLDOUT)
    assert kinds(found) == [("flat_spend", "social")]
    assert found[0]["variation"] < 0.01
    assert "varies by at most 0.5" in found[0]["detail"]
    # one segment that varies is enough to estimate from; so is 5 % variation
    spend[1, :, 2] *= 1 + 0.5 * rng.uniform(-1, 1, WEEKS)
    assert data_findings(panel.with_spend(spend), HOLDOUT) == []
    spend[:, :, 2] = level * (1 + 0.09 * rng.uniform(-1, 1, (3, WEEKS)))
    assert data_findings(panel.with_spend(spend), HOLDOUT) == []


def test_two_channels_with_proportional_spend(panel: Panel) -> None:
    spend = panel.spend.copy()
    spend[:, :, 2] = 3.0 * spend[:, :, 0]
    found = data_findings(panel.with_spend(spend), HOLDOUT)
    assert kinds(found) == [("identical_spend", "tv, social")]
    assert found[0]["correlation"] == pytest.approx(1.0)


def test_a_control_proportional_to_another_control_or_to_spend(panel: Panel) -> None:
    rng = np.random.default_rng(1)
    price = panel.controls[:, :, 0]
    twin = np.stack([price, -2.0 * price + 5.0, rng.normal(size=price.shape)], axis=-1)
    found = data_findings(replace(panel, controls=twin,
                                  control_names=("price", "discount", "temp")), HOLDOUT)
    assert kinds(found) == [("identical_control", "price, discount")]
    assert found[0]["correlation"] == pytest.approx(-1.0)  # negative counts too
    promo = np.stack([price, 0.01 * panel.spend[:, :, 1]], axis=-1)
    found = data_findings(replace(panel, controls=promo, control_names=("price", "promo")),
                          HOLDOUT)
    assert kinds(found) == [("identical_control", "promo, search")]
    assert "proportional to the spend of channel 'search'" in found[0]["detail"]
    assert "the elasticity of 'search' is not identified" in found[0]["detail"]


def test_a_panel_without_controls(panel: Panel) -> None:
    g, t = panel.kpi.shape
    bare = replace(panel, controls=np.zeros((g, t, 0)), control_names=())
    assert data_findings(bare, HOLDOUT) == []


def test_a_control_constant_within_each_segment(panel: Panel) -> None:
    controls = np.repeat(np.array([1.0, 2.0, 3.0])[:, None, None], WEEKS, axis=1)
    found = data_findings(replace(panel, controls=controls), HOLDOUT)
    assert kinds(found) == [("constant_control", "price")]


def test_weeks_with_a_kpi_of_zero(panel: Panel) -> None:
    kpi = panel.kpi.copy()
    kpi[2, 5] = 0.0
    kpi[0, 7] = -1.0
    found = data_findings(replace(panel, kpi=kpi), HOLDOUT)
    assert kinds(found) == [("kpi_not_positive", "revenue")]
    assert found[0]["segment_weeks"] == 2
    first = f"c {panel.dates[5].date().isoformat()}, a {panel.dates[7].date().isoformat()}"
    assert f"(first: {first})" in found[0]["detail"]


def test_findings_come_in_kind_order(panel: Panel) -> None:
    spend, kpi = panel.spend.copy(), panel.kpi.copy()
    spend[:, :, 1] = 0.0
    kpi[0, 0] = 0.0
    spend[:, :, 2] = spend[:, :, 0]
    found = data_findings(replace(panel.with_spend(spend), kpi=kpi), HOLDOUT)
    assert [f["kind"] for f in found] == ["no_spend", "identical_spend", "kpi_not_positive"]
    assert all(f["kind"] in FINDING_KINDS for f in found)


def test_findings_as_markdown(panel: Panel) -> None:
    assert findings_markdown([]) == NO_FINDINGS
    spend = panel.spend.copy()
    spend[:, :, 2] = 0.0
    text = findings_markdown(data_findings(panel.with_spend(spend), HOLDOUT))
    assert text.startswith("- **no_spend** (social): channel 'social' has no spend")
    assert "\n" not in text  # one finding, one line


def test_fits_shorter_than_a_year_are_named(panel: Panel) -> None:
    # 60 weeks: the holdout fit trains on 50 and a fold on 40, fewer than 52 -> no seasonality
    found = data_findings(panel, HOLDOUT, [("fold1", 40)], seasonality_min_weeks=52)
    assert kinds(found) == [("short_history", "seasonality")]
    assert found[0]["fits"] == ["the holdout fit", "the fit of fold1"]
    assert found[0]["detail"].startswith(
        "the holdout fit (50 weeks), the fit of fold1 (40 weeks): fewer than 52 weeks")
    # the full history too when it is shorter than the rule
    assert data_findings(panel, HOLDOUT, seasonality_min_weeks=61)[0]["fits"] == [
        "the full-history fit", "the holdout fit"]
    assert data_findings(panel, HOLDOUT, seasonality_min_weeks=50) == []  # 50 is enough
    assert data_findings(panel, HOLDOUT) == []  # the rule off (its default here)
    evaluation = EvaluationSettings(holdout_weeks=HOLDOUT, cv_folds=2, cv_horizon_weeks=10,
                                    cv_min_train_weeks=20)
    assert tenant_findings(panel, evaluation) == []  # without the model settings
    found = tenant_findings(panel, evaluation, ModelSettings())  # the default rule: a year
    assert found[0]["fits"] == ["the holdout fit", "the fit of fold1", "the fit of fold2"]
