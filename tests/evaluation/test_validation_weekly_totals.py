"""The weekly totals the validation notebook glues (the model card's actual-vs-predicted plot)."""

import json

import numpy as np
import pytest

from mmm_evidence.evaluation.validation import validate_tenant
from tests.evaluation.test_validation import EVAL, SETTINGS, noise_panel


def test_weekly_totals_are_the_panel_total_and_the_holdout_models_prediction():
    panel = noise_panel(weeks=80)
    v = validate_tenant(panel, SETTINGS, EVAL, seed=0)
    weekly = v.scraps()["weekly_totals"]
    assert weekly["dates"][0] == "2024-01-01" and len(weekly["dates"]) == 80
    assert weekly["actual"] == pytest.approx(list(panel.total_kpi()))
    assert weekly["predicted"] == pytest.approx(list(v.prediction.sum(axis=0)))
    assert weekly["train_weeks"] == 80 - EVAL.holdout_weeks and weekly["kpi"] == panel.kpi_name
    # the holdout R² the report states is the one these series give
    h = slice(weekly["train_weeks"], None)
    a, p = np.array(weekly["actual"])[h], np.array(weekly["predicted"])[h]
    r2 = 1 - np.sum((a - p) ** 2) / np.sum((a - a.mean()) ** 2)
    assert r2 == pytest.approx(v.metrics["holdout"]["r2"])
    json.dumps(weekly, allow_nan=False)  # plain JSON for scrapbook
