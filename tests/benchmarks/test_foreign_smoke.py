"""Smoke test of the foreign-process benchmark (benchmarks/foreign.py): its processes really
differ from MMM v2's own form, and the quick run covers every process x shape."""

import json

import numpy as np
import pytest

from mmm_evidence.data.synthetic import simulate_panel
from tests.benchmarks import load_benchmark


@pytest.fixture(scope="module")
def foreign():
    return load_benchmark("foreign.py")


def _elasticities(panel):
    return np.array([panel.truth["channels"][c]["elasticity"] for c in panel.channels])


def test_own_process_is_the_generator_and_the_others_are_not(foreign):
    task = foreign.Task("own", "geo", 0)
    cfg = foreign.tenant_config(task)
    own, _ = foreign.simulate(cfg, "own")
    reference = simulate_panel(cfg)
    np.testing.assert_array_equal(own.kpi, reference.kpi)
    np.testing.assert_array_equal(own.spend, reference.spend)
    assert own.truth["channels"] == reference.truth["channels"]
    assert own.true_media() is not None
    shares = np.array([cfg.data.synthetic.channels[c].share for c in cfg.channels])
    for process in foreign.PROCESSES[1:]:
        panel, proc = foreign.simulate(cfg, process)
        assert isinstance(proc, foreign.PROCESS_CLASSES[process])
        # the same tenant (spend, baseline) ...
        np.testing.assert_array_equal(panel.spend, own.spend)
        np.testing.assert_array_equal(proc.baseline, foreign._Process(
            cfg.data.synthetic, list(cfg.channels), list(cfg.controls)).baseline)
        # ... reaching the same contribution shares through another media response
        true_shares = [panel.truth["channels"][c]["contribution_share"] for c in cfg.channels]
        np.testing.assert_allclose(true_shares, shares, rtol=1e-6)
        assert not np.allclose(panel.kpi, own.kpi, rtol=1e-3)
        assert not np.allclose(_elasticities(panel), _elasticities(own), rtol=1e-3)
        # no oracle: the truth does not pretend to give MMM v2's media parameters
        assert panel.true_media() is None
        assert panel.truth["foreign"]["form"] == process
    # logistic keeps _Process's half-saturation; logistic_scaled re-bases it (higher)
    _, logistic = foreign.simulate(cfg, "logistic")
    _, scaled = foreign.simulate(cfg, "logistic_scaled")
    own_process = foreign._Process(cfg.data.synthetic, list(cfg.channels), list(cfg.controls))
    np.testing.assert_array_equal(logistic.half_saturation, own_process.half_saturation)
    assert np.all(scaled.half_saturation >= 0.99 * logistic.half_saturation)
    assert np.any(scaled.half_saturation > 1.1 * logistic.half_saturation)


def test_delayed_weights_peak_at_the_lag(foreign):
    w = foreign.delayed_weights(0.5, 3.0)
    assert w.shape == (foreign.MAX_LAG + 1,) and np.isclose(w.sum(), 1.0)
    assert int(np.argmax(w)) == 3
    assert int(np.argmax(foreign.delayed_weights(0.0, 1.6))) == 2


@pytest.mark.parametrize("shape", [0.5, 1.0, 2.5])
def test_weibull_kernel_has_the_target_mean_lag(foreign, shape):
    for target in (0.0, 0.4, 1.5, 3.0):
        w = foreign.weibull_weights(shape, foreign.weibull_scale(shape, target))
        assert w.shape == (foreign.MAX_LAG + 1,) and np.isclose(w.sum(), 1.0)
        assert foreign.mean_lag(w) == pytest.approx(target, abs=1e-3)
    w = foreign.weibull_weights(shape, foreign.weibull_scale(shape, 1.5))
    # the kernel's shape, not its mean, differs: front-loaded below 1, a bell above
    assert (int(np.argmax(w)) == 0) == (shape <= 1.0)
    # a mass, by hand: shape 1 is the exponential, F(x) = 1 - exp(-x / scale)
    if shape == 1.0:
        e = np.exp(-np.arange(foreign.MAX_LAG + 2) / 2.0)
        np.testing.assert_allclose(foreign.weibull_weights(1.0, 2.0),
                                   -np.diff(e) / (1 - e[-1]))


def test_quick_run_covers_every_process_and_shape(foreign, tmp_path, capsys):
    out = tmp_path / "foreign.json"
    assert foreign.main(["--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    summary = data["summary"]
    assert set(summary) == {f"{p} {s}" for p in foreign.PROCESSES for s in foreign.SHAPES}
    assert {"own", "delayed", "weibull", "logistic", "saturate_first"} <= set(foreign.PROCESSES)
    for key, cell in summary.items():
        assert cell["models"]["mmm"]["tenants"] == 2
        assert ("oracle" in cell["models"]) == key.startswith("own ")
        assert cell["models"]["loglog"]["err_median"] is not None
    assert len(data["tenants"]) == 2 * len(summary) and not data["failures"]
    printed = capsys.readouterr().out
    assert "saturate_first geo" in printed and "gate pass" in printed
    # the robustness suite's truth-free carryover check is measured on both MMM v2 fits
    models = ("mmm", "geometric")
    assert all(0 <= rec["models"][m]["carryover_form"]["value"] < 1
               for rec in data["tenants"] for m in models)
    assert "carryover_form check" in printed

    def geo(process: str, model: str, key: str) -> dict:
        return {r["index"]: r["models"][model][key] for r in data["tenants"]
                if r["process"] == process and r["shape"] == "geo"}

    # the same tenant with its effect delayed: the geometric fit leaves lagged residuals ...
    own, late = geo("own", "geometric", "carryover_form"), geo("delayed", "geometric",
                                                                "carryover_form")
    assert all(late[i]["value"] > own[i]["value"] for i in own)
    # ... which MMM v2 takes up by delaying channels; the geometric fit never delays one
    assert any(d > 0 for delays in geo("delayed", "mmm", "delay").values()
               for d in delays.values())
    assert all(d == 0 for process in foreign.PROCESSES
               for delays in geo(process, "geometric", "delay").values() for d in delays.values())
    assert all(geo("delayed", "mmm", "carryover_form")[i]["value"] < late[i]["value"]
               for i in own)
    # the table's share of delayed channels counts those delays
    assert summary["delayed geo"]["models"]["mmm"]["delayed_fraction"] > 0
    assert all(cell["models"]["geometric"]["delayed_fraction"] == 0 for cell in summary.values())


def test_decay_estimate_is_part_of_every_task_but_not_of_its_tenant(foreign):
    plain, optimum = foreign.tasks(1), foreign.tasks(1, "optimum")
    assert {t.decay_estimate for t in plain} == {"profile_median"}  # the product's default
    assert {t.decay_estimate for t in optimum} == {"optimum"}
    for a, b in zip(plain, optimum, strict=True):
        assert (a.process, a.shape, a.index, a.seed) == (b.process, b.shape, b.index, b.seed)
        assert foreign.tenant_config(a) == foreign.tenant_config(b)
