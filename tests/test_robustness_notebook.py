"""Smoke run of notebooks/robustness.ipynb in a real kernel on a tiny tenant; scraps read back."""

import json

import pytest

from mmm_evidence.evaluation.robustness import CATEGORIES, CHECKS
from mmm_evidence.pipeline.collect import (
    ROBUSTNESS_SCRAPS,
    extra_scraps,
    missing_scraps,
    read_scraps,
)
from mmm_evidence.pipeline.gates import robustness_gate
from tests.notebook_runs import execute_notebook
from tests.test_validation_notebook import write_tiny_experiment

pytestmark = pytest.mark.slow


def test_robustness_notebook_runs_and_glues_its_scraps(tmp_path):
    params = write_tiny_experiment(tmp_path)
    with open(params, "a", encoding="utf-8") as handle:  # a quick suite: fewer refits
        handle.write("robustness: {perturbations: {seeds: 2, bootstrap_replicates: 3}}\n")
    out = execute_notebook("robustness", params, "tiny_shop", tmp_path)
    scraps = read_scraps(out)  # as the pipeline reads them
    # every scrap it glues is one its artifact reads (else: extra_scraps)
    assert extra_scraps("robustness", scraps) == {}
    assert missing_scraps(scraps, ROBUSTNESS_SCRAPS) == []
    assert scraps["tenant"] == "tiny_shop"
    checks = scraps["checks"]
    assert [c["name"] for c in checks] == list(CHECKS)
    assert {c["category"] for c in checks} == set(CATEGORIES)
    assert all(c["passed"] in (True, False, None) for c in checks)
    assert scraps["summary"]["total"] == len(CHECKS)
    assert scraps["summary"]["passed"] == sum(c["passed"] is True for c in checks)
    assert scraps["robustness_settings"]["seed"] == 11
    assert scraps["robustness_settings"]["perturbations"]["bootstrap_replicates"] == 3
    json.dumps(scraps, allow_nan=False)  # plain JSON, as the report needs it
    # the exact checks are bit-identical on any tenant
    by_name = {c["name"]: c for c in checks}
    for name in ("determinism", "holdout_leakage", "additivity", "zero_spend"):
        assert by_name[name]["passed"] is True, by_name[name]
    gate = robustness_gate(scraps)
    assert gate["value"] == scraps["summary"]["failed"]
    # the table and both plots were rendered
    text = out.read_text(encoding="utf-8")
    assert text.count('"image/png"') >= 2
    assert "background-color: #d7f0dd" in text  # green rows of the styled table
