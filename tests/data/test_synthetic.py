import json

import numpy as np
import pytest

from mmm_evidence.config import load_tenant
from mmm_evidence.data.schema import validate_tenant_frame
from mmm_evidence.data.synthetic import (
    _Process,
    read_synthetic_tenant,
    simulate_tenant,
    write_synthetic_tenant,
)
from tests.paths import DEFAULT_TENANTS, PARAMS


@pytest.fixture(scope="module", params=DEFAULT_TENANTS)
def tenant(request):
    return load_tenant(PARAMS / "tenants" / f"{request.param}.yaml")


def test_default_tenants_have_the_promised_character(tenant):
    spec = tenant.data.synthetic
    sim = simulate_tenant(tenant)
    assert spec.weeks == 156
    assert 8 <= spec.segments <= 20
    assert 3 <= len(tenant.channels) <= 6
    patterns = {c.pattern for c in spec.channels.values()}
    assert spec.noise >= 0.05
    assert sim.frame["segment"].nunique() == spec.segments
    assert len(sim.frame) == spec.weeks * spec.segments
    assert sim.truth["channels"].keys() == set(tenant.channels)
    assert patterns <= {"flighted", "always_on"}


def test_all_default_tenants_together_cover_both_spend_patterns():
    patterns = set()
    for name in DEFAULT_TENANTS:
        cfg = load_tenant(PARAMS / "tenants" / f"{name}.yaml")
        patterns |= {c.pattern for c in cfg.data.synthetic.channels.values()}
    assert patterns == {"flighted", "always_on"}


def test_truth_is_consistent_with_the_process(tenant):
    proc = _Process(tenant.data.synthetic, list(tenant.channels), list(tenant.controls))
    truth = proc.truth()
    total = proc.expected_kpi(proc.spend).sum()
    for c, name in enumerate(tenant.channels):
        spec = tenant.data.synthetic.channels[name]
        t = truth["channels"][name]
        assert t["contribution_share"] == pytest.approx(spec.share, rel=1e-9)
        bumped = proc.expected_kpi(proc.scaled_spend(1.01, c)).sum()
        assert t["elasticity"] == pytest.approx((bumped - total) / total / 0.01)
        assert 0 < t["elasticity"] < t["contribution_share"] * 1.5
    # the realised noise is at least 5 % of segment-week KPI
    resid = proc.kpi - proc.expected_kpi(proc.spend)
    assert np.std(resid / proc.expected_kpi(proc.spend)) >= 0.045


def test_generated_files_are_byte_identical_and_pass_the_schema(tenant, tmp_path):
    a = write_synthetic_tenant(tenant, tmp_path / "a")
    b = write_synthetic_tenant(tenant, tmp_path / "b")
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes()
    sim = simulate_tenant(tenant)
    validate_tenant_frame(sim.frame, tenant, "synthetic")
    panel = read_synthetic_tenant(tenant, tmp_path / "a")
    assert panel.truth["tenant"] == tenant.name
    assert panel.n_weeks == 156


def test_changed_spec_regenerates(tmp_path):
    cfg = load_tenant(PARAMS / "tenants" / "alpine_telecom.yaml")
    write_synthetic_tenant(cfg, tmp_path)
    first = (tmp_path / "alpine_telecom.csv").read_bytes()
    spec = cfg.data.synthetic.model_copy(update={"noise": 0.2})
    changed = cfg.model_copy(update={"data": cfg.data.model_copy(update={"synthetic": spec})})
    write_synthetic_tenant(changed, tmp_path)
    assert (tmp_path / "alpine_telecom.csv").read_bytes() != first
    assert json.loads((tmp_path / "truth.json").read_text())["noise_fraction"] == 0.2


def test_simulated_panel_matches_the_files_read_back(tmp_path):
    from mmm_evidence.data.synthetic import simulate_panel

    cfg = load_tenant(PARAMS / "tenants" / "alpine_telecom.yaml")
    direct = simulate_panel(cfg)
    read = read_synthetic_tenant(cfg, tmp_path)
    # same data; the loader orders segments by name, the simulation by generation
    order = [direct.segments.index(s) for s in read.segments]
    assert sorted(direct.segments) == list(read.segments) and (direct.dates == read.dates).all()
    np.testing.assert_allclose(direct.kpi[order], read.kpi)
    np.testing.assert_allclose(direct.spend[order], read.spend)
    np.testing.assert_allclose(direct.controls[order], read.controls)
    np.testing.assert_allclose(direct.size[order], read.size)
    assert direct.truth["channels"] == read.truth["channels"]


def test_true_media_comes_from_the_truth_or_is_none():
    from dataclasses import replace

    from mmm_evidence.data.synthetic import simulate_panel

    cfg = load_tenant(PARAMS / "tenants" / "alpine_telecom.yaml")
    panel = simulate_panel(cfg)
    decay, half, shape = panel.true_media()
    assert decay == [cfg.data.synthetic.channels[c].decay for c in panel.channels]
    assert shape == [cfg.data.synthetic.channels[c].shape for c in panel.channels]
    assert half == [panel.truth["channels"][c]["half_saturation_per_capita"]
                    for c in panel.channels]
    channels = panel.truth["channels"]
    first = panel.channels[0]
    for broken in ({**channels[first], "shape": None}, {**channels[first], "decay": float("nan")},
                   {k: v for k, v in channels[first].items() if k != "decay"}, 0.5):
        truth = {**panel.truth, "channels": {**channels, first: broken}}
        assert replace(panel, truth=truth).true_media() is None
    assert replace(panel, truth=None).true_media() is None
