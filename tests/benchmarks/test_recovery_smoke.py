"""Smoke test of the recovery benchmark's per-tenant function (benchmarks/recovery.py)."""

import json
import math

import pytest

from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def recovery():
    return load_benchmark("recovery.py")


def test_geo_tenants_have_10_to_20_segments_and_fixed_seeds(recovery):
    counts = [recovery.Task("geo", 0.1, i, False).segments for i in range(40)]
    assert min(counts) >= 10 and max(counts) <= 20 and len(set(counts)) > 5
    assert counts == [recovery.Task("geo", 0.2, i, False).segments for i in range(40)]
    assert recovery.Task("national", 0.05, 3, False).segments == 1


def test_one_small_tenant_end_to_end(recovery, monkeypatch):
    monkeypatch.setattr(recovery, "REPLICATES", 4)
    rec = recovery.run_tenant(recovery.Task("national", 0.1, 0, bootstrap=True))
    channels = list(rec["channels"])
    assert 3 <= len(channels) <= 8
    for name in recovery.MODELS:
        m = rec["models"][name]
        assert set(m["elasticity"]) == set(channels) == set(m["interval"])
        assert all(math.isfinite(v) for v in m["elasticity"].values())
        assert 0 < m["holdout_mape"] < 1
        assert all(low <= high for low, high in m["interval"].values())
    summary = recovery.summarise([rec])
    cell = summary["national 10%"]["mmm"]
    assert cell["tenants"] == 1 and cell["channels"] == len(channels)
    assert cell["coverage_n"] == len(channels)
    table = recovery.format_table(summary)
    assert "national 10%" in table and "Spearman" in table
    gates = recovery.targets(summary, [rec])
    assert {g["passed"] for g in gates} <= {True, False, None}
    assert any(g["name"].startswith("national 10%: MMM median") for g in gates)
    drawn = rec["models"]["mmm"]["decay_drawn"]
    assert set(drawn) == set(channels) and set(drawn.values()) <= {True, False}
    assert rec["models"]["mmm"]["profile_refits"] >= 0


def test_profile_refits_are_counted_per_cell_with_both_groups_errors(recovery):
    def rec(index, refits, below, mmm, oracle):
        return {"shape": "geo", "noise": 0.1, "index": index,
                "channels": {"a": {"true_elasticity": 0.1}},
                "models": {"mmm": {"elasticity": {"a": mmm}, "profile_refits": refits,
                                   "profile_refit_gain": 1.5 * refits,
                                   "profile_below_fit": below},
                           "oracle": {"elasticity": {"a": oracle}}}}

    rows = recovery.profile_refits([rec(0, 1, False, 0.15, 0.12), rec(1, 2, True, 0.05, 0.1),
                                    rec(2, 0, False, 0.11, 0.1)])
    assert len(rows) == 1
    row = rows[0]
    assert (row["tenants"], row["refitted"], row["below_fit"]) == (3, 2, 1)
    assert row["gain_median"] == pytest.approx(2.25)
    assert row["err_refitted"] == pytest.approx(0.5)  # errors 0.5 and 0.5
    assert row["oracle_err_refitted"] == pytest.approx(0.1)  # 0.2 and 0.0
    assert row["err_others"] == pytest.approx(0.1) and row["oracle_err_others"] == 0.0
    assert "still below" in recovery.format_profile_refits(rows)


def test_coverage_apart_for_drawn_and_free_decays(recovery):
    def rec(shape, interval, drawn):
        return {"shape": shape, "channels": {"a": {"true_elasticity": 0.1},
                                             "b": {"true_elasticity": 0.2}},
                "models": {"mmm": {"interval": interval, "decay_drawn": drawn}}}

    records = [rec("geo", {"a": [0.05, 0.15], "b": [0.0, 0.1]}, {"a": True, "b": False}),
               rec("geo", {"a": [0.2, 0.3], "b": [0.1, 0.3]}, {"a": True, "b": False}),
               {"shape": "geo", "channels": {"a": {"true_elasticity": 0.1}},
                "models": {"mmm": {}}}]  # no bootstrap: not counted
    rows = {(r["shape"], r["decay"]): r for r in recovery.coverage_by_decay_draw(records)}
    assert set(rows) == {("geo", "drawn"), ("geo", "free")}
    assert rows["geo", "drawn"]["coverage"] == 0.5 and rows["geo", "drawn"]["channels"] == 2
    assert rows["geo", "free"]["coverage"] == 0.5
    assert rows["geo", "drawn"]["width_over_truth_median"] == pytest.approx(1.0)
    assert rows["geo", "free"]["width_over_truth_median"] == pytest.approx(0.75)
    assert "drawn" in recovery.format_coverage_by_decay_draw(list(rows.values()))


def test_decay_estimate_reaches_the_mmm_fits_only(recovery):
    tasks = recovery.tasks(2, 1, shapes=("national",), noises=(0.1,),
                           decay_estimate="optimum")
    assert {t.decay_estimate for t in tasks} == {"optimum"}
    # the default is the product's
    assert recovery.Task("national", 0.1, 0, False).decay_estimate == "profile_median"
    panel = recovery.panel_of(recovery.tenant_config(tasks[0]))
    optimum = recovery.fit_model("mmm", panel, tasks[0].seed, "optimum")
    assert optimum.settings.decay_estimate == "optimum"
    assert recovery.fit_model("mmm", panel,
                              tasks[0].seed).settings.decay_estimate == "profile_median"


def test_total_media_bias_is_signed_and_its_size_the_total_error(recovery):
    assert recovery.total_media_bias([0.03, 0.01], [0.02, 0.02]) == pytest.approx(0.0)
    assert recovery.total_media_bias([0.03, 0.03], [0.02, 0.02]) == pytest.approx(0.5)
    assert recovery.total_media_bias([0.01, 0.0], [0.02, 0.02]) == pytest.approx(-0.75)


def test_a_run_with_another_decay_estimate_writes_beside_the_results(recovery, tmp_path):
    default = tmp_path / "recovery.json"
    assert recovery.results_path(default, recovery.DECAY_ESTIMATE) == default
    assert recovery.results_path(default, "optimum") == tmp_path / "recovery_optimum.json"


def test_decay_estimate_choices_are_the_settings(recovery):
    import argparse

    parser = argparse.ArgumentParser()
    recovery.add_decay_estimate_options(parser, recovery.RESULTS, "its fits")
    assert parser.parse_args([]).decay_estimate == recovery.DECAY_ESTIMATE
    assert set(recovery.DECAY_ESTIMATES) == {"optimum", "profile_median"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--decay-estimate", "mean"])


def test_targets_against_the_bound_say_which_an_estimator_reaches(recovery):
    def cell(mmm, oracle, loglog):
        return {"mmm": {"err_median": mmm}, "oracle": {"err_median": oracle},
                "loglog": {"err_median": loglog}}

    # a run's oracle error unrounded, the bound's as its JSON holds it
    summary = {"geo 10%": cell(0.30, 0.2000000123, 0.50), "national 10%": cell(0.9, 0.6, 0.8),
               "geo 5%": cell(0.2, 0.1, 0.4)}
    bound = {"geo 10%": {"err_median": {"oracle": 0.20, "v2_posterior_median": 0.23,
                                        "panel_posterior_mean": 0.22,
                                        "panel_posterior_median": 0.25}},
             "national 10%": {"err_median": {"oracle": 0.6, "v2_posterior_median": 0.85,
                                             "panel_posterior_mean": 0.71,
                                             "panel_posterior_median": 0.8}},
             "geo 5%": {"err_median": {"oracle": 0.11}}}  # other tenants: left out
    rows = {r["cell"]: r for r in recovery.against_bound(summary, bound)}
    assert set(rows) == {"geo 10%", "national 10%"}
    geo, national = rows["geo 10%"], rows["national 10%"]
    assert geo["over_oracle"]["mmm"] == pytest.approx(1.5, rel=1e-6)
    assert geo["oracle_1.2"] == {"mmm": False, "without_panel_box": True,
                                 "with_panel_box": True}
    assert geo["loglog_0.75"]["mmm"] is True  # 0.30 / 0.50
    # only an estimator that knows the panel's box reaches 1.2 x oracle (0.71 / 0.6)
    assert national["oracle_1.2"] == {"mmm": False, "without_panel_box": False,
                                      "with_panel_box": True}
    assert national["loglog_0.75"] == {"mmm": False, "without_panel_box": False,
                                       "with_panel_box": False}
    assert "reachable w/o box" in recovery.format_against_bound(list(rows.values()))
    assert recovery.against_bound(summary, None) == []


def test_flat_responses_count_judged_channels_below_the_slope_and_their_share_error(recovery):
    def rec(index, elasticity, share, true_elasticity=0.02, true_share=0.05):
        return {"shape": "national", "noise": 0.1, "index": index,
                "channels": {"a": {"true_elasticity": true_elasticity,
                                   "true_share": true_share}},
                "models": {"mmm": {"elasticity": {"a": elasticity}, "share": {"a": share}}}}

    records = [rec(0, 0.01, 0.20),  # slope 0.05: flat, share +15 pp
               rec(1, 0.03, 0.06),  # slope 0.5, +1 pp
               rec(2, 0.0001, 0.01),  # share below 0.02: not judged
               rec(3, 0.002, 0.03, true_elasticity=0.001, true_share=0.02)]  # both flat
    rows = recovery.flat_responses(records)
    assert len(rows) == 1
    row = rows[0]
    assert (row["judged"], row["flat"], row["true_flat"]) == (3, 2, 1)
    assert row["share_error_pp_flat"] == pytest.approx((15.0 + 1.0) / 2)
    assert row["share_error_pp_others"] == pytest.approx(1.0)
    # the pipeline's threshold decides: at 0.04 only the truly flat one is
    from mmm_evidence.config import IdentificationGate

    strict = recovery.flat_responses(records, IdentificationGate(min_contribution_slope=0.04))
    assert strict[0]["flat"] == 0  # 0.05 and 0.0667 are above 0.04
    assert "truly flat" in recovery.format_flat_responses(rows)


def test_summarise_only_rewrites_the_tables_from_the_stored_records(recovery, tmp_path, capsys):
    out = tmp_path / "recovery.json"
    with pytest.raises(SystemExit):
        recovery.main(["--summarise-only", "--out", str(out)])  # nothing stored yet
    assert "does not exist" in capsys.readouterr().err
    record = {"shape": "national", "noise": 0.1, "index": 0, "cpu_seconds": 1.0,
              "n_channels": 1, "segments": 1,
              "channels": {"a": {"true_elasticity": 0.02, "true_share": 0.05,
                                 "pattern": "flighted", "decay": 0.2, "shape": 1.0,
                                 "half_saturation": 1.0}},
              "models": {m: {"elasticity": {"a": 0.01}, "share": {"a": 0.2},
                             "holdout_mape": 0.1, "fit_cpu_seconds": 0.5,
                             "fit_wall_seconds": 0.5, "media": 0.01}
                         for m in recovery.MODELS}}
    settings = {"tenants_per_cell": 1, "coverage_tenants_per_cell": 0, "weeks": 156,
                "replicates": 200, "workers": 2, "decay_estimate": "profile_median"}
    out.write_text(json.dumps({"tenants": [record], "failures": [], "settings": settings,
                               "runtime_seconds": 3.0, "load_average_before": 0.5,
                               "worker_cpu_seconds": 1.0, "flat_responses": "stale"}))
    assert recovery.main(["--summarise-only", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["flat_responses"][0]["flat"] == 1 and data["tenants"] == [record]
    assert data["settings"] == settings and data["runtime_seconds"] == 3.0
    assert "Flat responses" in capsys.readouterr().out
