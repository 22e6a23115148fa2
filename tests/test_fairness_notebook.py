"""Smoke run of notebooks/fairness.ipynb in a real kernel on a tiny tenant; scraps read back."""

import pytest

from mmm_evidence.config import FairnessGate
from mmm_evidence.pipeline.collect import FAIRNESS_SCRAPS, extra_scraps, missing_scraps, read_scraps
from mmm_evidence.pipeline.gates import (
    fairness_error_parity_gate,
    fairness_uplift_gap_gate,
    privacy_k_anonymity_gate,
    privacy_no_pii_gate,
)
from tests.notebook_runs import execute_notebook
from tests.test_validation_notebook import write_tiny_experiment

pytestmark = pytest.mark.slow


def test_fairness_notebook_runs_and_glues_its_scraps(tmp_path):
    params = write_tiny_experiment(tmp_path)
    out = execute_notebook("fairness", params, "tiny_shop", tmp_path)
    scraps = read_scraps(out)  # as the pipeline reads them
    # every scrap it glues is one its artifact reads (else: extra_scraps)
    assert extra_scraps("fairness", scraps) == {}
    assert missing_scraps(scraps, FAIRNESS_SCRAPS) == []
    assert scraps["tenant"] == "tiny_shop"
    fairness, privacy = scraps["fairness"], scraps["privacy"]
    assert fairness["holdout_weeks"] == 13 and fairness["groupings"][0] == "segment"
    assert len(fairness["tables"]["segment"]) == 2
    assert set(fairness["gaps"]["segment"]) == {"mape", "normalised_bias", "uplift_error"}
    assert fairness["has_uplift_truth"] is True and fairness["k"] == 10
    assert privacy["files"] == ["tiny_shop.csv", "segments.csv"] and privacy["pii"] == []
    assert privacy["k_anonymity"]["passed"] is True
    assert "population" in privacy["k_anonymity"]["source"]
    for gate in (fairness_error_parity_gate(fairness, FairnessGate()),
                 fairness_uplift_gap_gate(fairness, FairnessGate()),
                 privacy_no_pii_gate(privacy), privacy_k_anonymity_gate(privacy)):
        assert gate["passed"] in (True, False), gate
    # the per-segment bars, the uplift scatter and the gap chart were rendered
    assert out.read_text().count('"image/png"') >= 3
