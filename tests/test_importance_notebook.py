"""Smoke run of notebooks/importance.ipynb in a real kernel on a tiny tenant; scraps read back
as the pipeline reads them, the CSV rows and the gate made from them."""

import json

import pytest

from mmm_evidence.config import ImportanceGate, load_experiment
from mmm_evidence.data import load_tenant_panel
from mmm_evidence.evaluation.importance import CSV_COLUMNS
from mmm_evidence.pipeline.collect import (
    IMPORTANCE_SCRAPS,
    extra_scraps,
    missing_scraps,
    read_scraps,
)
from mmm_evidence.pipeline.feature_importance import render_feature_importance_csv
from mmm_evidence.pipeline.gates import importance_agreement_gate
from mmm_evidence.pipeline.models import tenant_models
from tests.notebook_runs import execute_notebook
from tests.test_validation_notebook import write_tiny_experiment

pytestmark = pytest.mark.slow


def test_importance_notebook_runs_and_glues_its_scraps(tmp_path):
    params = write_tiny_experiment(tmp_path)
    tenant_file = tmp_path / "tenants" / "tiny_shop.yaml"
    text = tenant_file.read_text(encoding="utf-8")  # a third channel: rank correlations exist
    text = text.replace("channels: [tv, search]", "channels: [tv, search, social]").replace(
        "      search: {pattern: always_on, weekly_spend: 3000, decay: 0.1, share: 0.08}\n",
        "      search: {pattern: always_on, weekly_spend: 3000, decay: 0.1, share: 0.08}\n"
        "      social: {pattern: always_on, weekly_spend: 2000, decay: 0.2, share: 0.03}\n")
    assert "social" in text
    tenant_file.write_text(text, encoding="utf-8")
    out = execute_notebook("importance", params, "tiny_shop", tmp_path)
    scraps = read_scraps(out)  # as the pipeline reads them
    # every scrap it glues is one its artifact reads (else: extra_scraps)
    assert extra_scraps("importance", scraps) == {}
    assert missing_scraps(scraps, IMPORTANCE_SCRAPS) == []
    assert scraps["tenant"] == "tiny_shop"
    rows = scraps["importance"]
    assert [r["feature"] for r in rows if r["kind"] == "channel"] == ["tv", "search", "social"]
    assert all(set(r) == set(CSV_COLUMNS) for r in rows)
    assert all(r["true_share"] is not None for r in rows if r["kind"] == "channel")
    agreement = scraps["agreement"]
    assert agreement["n_channels"] == 3 and agreement["has_truth"] is True
    assert agreement["lightgbm_mmm"] is not None and agreement["mmm_truth"] is not None
    surrogate = scraps["surrogate"]
    # the full-history model on all weeks: the shares are the ones the validation notebook
    # reports (its cached full fit), over the window the true shares are measured on
    assert surrogate["params"]["seed"] == 11 and surrogate["weeks"] == 78
    exp = load_experiment(params, tenants=["tiny_shop"])
    panel = load_tenant_panel(exp, "tiny_shop", tmp_path / "out")
    full = tenant_models(exp, "tiny_shop", panel, tmp_path / "out", 11).full()
    reported = full.contribution_shares(panel)
    assert {r["feature"]: r["mmm_share"] for r in rows if r["kind"] == "channel"} == \
        pytest.approx(reported, rel=1e-9)
    assert surrogate["additivity_error"]["mmm"] < 1e-9
    assert surrogate["additivity_error"]["surrogate"] < 1e-5
    assert "LightGBM and the MMM" in scraps["summary"]
    json.dumps(scraps, allow_nan=False)  # plain JSON
    gate = importance_agreement_gate(scraps, ImportanceGate())
    assert gate["value"] == pytest.approx(agreement["mmm_truth"])
    assert render_feature_importance_csv(rows).count("\n") == len(rows) + 1
    # the plots were rendered, the summary shown, and no warning or progress bar leaked
    nb = json.loads(out.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5
    assert not [o for o in outputs if o.get("name") == "stderr"]
    assert any("Gate `importance_agreement`" in "".join(o.get("data", {}).get(
        "text/markdown", "")) for o in outputs)
