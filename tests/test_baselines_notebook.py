"""Smoke run of notebooks/baselines.ipynb in a real kernel on a tiny tenant; scraps read back."""

import math

import pytest

from mmm_evidence.config import BaselinesGate
from mmm_evidence.pipeline.collect import (
    BASELINES_SCRAPS,
    extra_scraps,
    missing_scraps,
    read_scraps,
)
from mmm_evidence.pipeline.gates import beats_baselines_gate
from tests.notebook_runs import execute_notebook
from tests.test_validation_notebook import write_tiny_experiment

pytestmark = pytest.mark.slow

MODELS = {"mmm", "naive", "seasonal_naive", "no_media", "linear", "lightgbm"}


def test_baselines_notebook_runs_and_glues_its_scraps(tmp_path):
    params = write_tiny_experiment(tmp_path)
    out = execute_notebook("baselines", params, "tiny_shop", tmp_path)
    scraps = read_scraps(out)  # as the pipeline reads them
    # every scrap it glues is one its artifact reads (else: extra_scraps)
    assert extra_scraps("baselines", scraps) == {}
    assert missing_scraps(scraps, BASELINES_SCRAPS) == []
    assert scraps["tenant"] == "tiny_shop"
    assert scraps["baselines"] == ["naive", "seasonal_naive", "no_media", "linear", "lightgbm"]
    # 78 weeks, 13-week holdout; folds keep >= 52 training weeks: 52 and 65
    assert [(s["name"], s["train_weeks"]) for s in scraps["splits"]] == [
        ("holdout", 65), ("fold1", 52), ("fold2", 65)]
    assert set(scraps["metrics"]) == MODELS
    for model in MODELS:
        for split in ("holdout", "fold1", "fold2", "cv_mean"):
            values = scraps["metrics"][model][split]
            assert {"r2", "mape", "nrmse", "rmse"} <= set(values)
            assert math.isfinite(values["mape"]) and values["mape"] >= 0, (model, split)
    assert set(scraps["skill"]) == MODELS - {"mmm"}
    assert scraps["skill"]["linear"]["holdout"]["mape"] == pytest.approx(
        1 - scraps["metrics"]["mmm"]["holdout"]["mape"]
        / scraps["metrics"]["linear"]["holdout"]["mape"])
    el = scraps["elasticities"]
    assert el["has_truth"] is True and set(el["channels"]) == {"tv", "search"}
    assert set(el["channels"]["tv"]["estimates"]) == {"mmm", "linear", "lightgbm"}
    assert el["channels"]["tv"]["truth"] > 0
    assert scraps["baseline_settings"]["lightgbm"]["seed"] == 11
    assert beats_baselines_gate(scraps, BaselinesGate())["passed"] in (True, False)
    # the forecast plot, the error bars and the elasticity bars were rendered
    assert out.read_text().count('"image/png"') >= 3
