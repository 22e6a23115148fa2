"""Smoke test of the baseline-form benchmark (benchmarks/baseline_form.py): its own process is
the generator, the others change what they say and nothing else, and the quick run covers
every process x shape."""

import json

import numpy as np
import pytest

from mmm_evidence.data.synthetic import simulate_panel
from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("baseline_form.py")


def test_own_is_the_generator_and_each_process_changes_what_it_says(bench):
    task = bench.Task("own", "geo", 0)
    own = bench.simulate(task)
    cfg = bench.tenant_config(task)
    reference = simulate_panel(cfg)
    np.testing.assert_array_equal(own.kpi, reference.kpi)
    np.testing.assert_array_equal(own.spend, reference.spend)
    assert own.truth["channels"] == reference.truth["channels"]
    for process in ("ar_strong", "seasonality_drift", "level_shift"):  # KPI only
        panel = bench.simulate(bench.Task(process, "geo", 0))
        np.testing.assert_array_equal(panel.spend, own.spend)
        assert not np.allclose(panel.kpi, own.kpi, rtol=1e-3), process
    for process in ("hidden_demand", "peak_timed"):  # spend re-timed, same budgets
        panel = bench.simulate(bench.Task(process, "geo", 0))
        assert not np.allclose(panel.spend, own.spend, rtol=1e-2), process
        np.testing.assert_allclose(panel.spend.sum(axis=(0, 1)), own.spend.sum(axis=(0, 1)),
                                   rtol=1e-4)


def test_quick_run_covers_every_cell(bench, tmp_path, capsys):
    out = tmp_path / "baseline_form.json"
    assert bench.main(["--quick", "--workers", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data["summary"]) == {f"{s}/{p}" for s in bench.SHAPES for p in bench.PROCESSES}
    rows = data["tenants"]
    assert len(rows) == len(bench.SHAPES) * len(bench.PROCESSES) and not data["failures"]
    for row in rows:
        assert row["would_flag"] == (row["value"] > row["threshold"]
                                     and row["p_value"] < bench.BASELINE_FORM_ALPHA)
        assert row["flagged"] == (row["would_flag"] and row["segments"] > 5)
        assert row["judged"] or not row["flagged"]
    drift = next(r for r in rows if r["shape"] == "geo" and r["process"] == "seasonality_drift")
    own = next(r for r in rows if r["shape"] == "geo" and r["process"] == "own")
    assert drift["flagged"] and not own["flagged"]
    assert "flagged" in capsys.readouterr().out
