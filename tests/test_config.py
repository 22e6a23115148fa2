"""mmm_evidence.config: a valid experiment loads; every bad file gives a ConfigError naming
the file and the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from mmm_evidence.config import ConfigError, ExperimentConfig, load_experiment, load_tenant

EXPERIMENT = {
    "experiment": "exp_test",
    "description": "a tiny experiment",
    "seed": 7,
    "output_dir": "../outputs/exp_test",
    "notebooks_dir": "../notebooks",
    "tenants_dir": "tenants",
    "tenants": ["acme"],
    "notebooks": ["validation"],
    "evaluation": {"holdout_weeks": 8},
    "model": {"fourier_order": 1, "n_starts": 2, "shape_bounds": [0.5, 3.0]},
    "gates": {"holdout_r2": {"min": 0.4}, "elasticity": {"max_median_relative_error": 0.3}},
    "runner": {"workers": 2, "timeout_seconds": 60},
}

TENANT = {
    "name": "acme",
    "display_name": "Acme",
    "channels": ["tv", "search"],
    "controls": ["price_index"],
    "segment_size": "population",
    "data": {
        "synthetic": {
            "seed": 11,
            "weeks": 52,
            "segments": 3,
            "channels": {
                "tv": {"weekly_spend": 1000, "pattern": "flighted", "share": 0.1},
                "search": {"weekly_spend": 500},
            },
            "controls": {"price_index": {"kind": "price", "effect": -1.0}},
        }
    },
}

CSV_TENANT = {
    "name": "beta",
    "channels": ["tv"],
    "data": {"source": {"csv": "../data/beta.csv", "columns": {"revenue": "Sales"},
                        "segments_csv": "../data/segments.csv"}},
}


def _write(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False),
                    encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A valid experiment + tenant pair: tmp/params/exp.yaml, tmp/params/tenants/acme.yaml."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "validation.ipynb").write_text("", encoding="utf-8")
    return {
        "experiment": _write(tmp_path / "params" / "exp.yaml", EXPERIMENT),
        "tenant": _write(tmp_path / "params" / "tenants" / "acme.yaml", TENANT),
        "root": tmp_path,
    }


def _config_error(call, *args) -> str:
    with pytest.raises(ConfigError) as info:
        call(*args)
    return str(info.value)


def _tenant_error(files) -> str:
    """The error of the fixture's tenant file: recorded by load_experiment (the run makes it
    that tenant's data error), raised when the tenant's config is asked for."""
    exp = load_experiment(files["experiment"])
    assert "acme" in exp.tenant_errors
    return _config_error(exp.tenant, "acme")


def _with(base: dict, **changes) -> dict:
    data = copy.deepcopy(base)
    data.update(changes)
    return data


# --------------------------------------------------------------------------- valid


def test_valid_pair_loads(files):
    cfg = load_experiment(files["experiment"])
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.experiment == "exp_test" and cfg.seed == 7
    assert cfg.path == files["experiment"].resolve()
    assert cfg.output_dir == (files["root"] / "outputs" / "exp_test").resolve()
    assert cfg.notebook_path("validation") == (files["root"] / "notebooks" /
                                               "validation.ipynb").resolve()
    assert cfg.evaluation.holdout_weeks == 8
    assert cfg.model.shape_bounds == (0.5, 3.0) and cfg.model.trend is True
    assert cfg.gates.holdout_r2.min == 0.4 and cfg.runner.workers == 2
    tenant = cfg.tenant("acme")
    assert tenant.label == "Acme" and tenant.kpi == "revenue"
    assert tenant.spend_columns == ["spend_tv", "spend_search"]
    assert tenant.data.synthetic.channels["tv"].pattern == "flighted"
    assert tenant.data.synthetic.channels["search"].decay == 0.3  # default


def test_params_hash_is_stable_and_sensitive(files):
    first = load_experiment(files["experiment"]).params_hash()
    assert load_experiment(files["experiment"]).params_hash() == first
    # the runner settings that cannot change a result do not change it; the kernel does
    runner = {"workers": 3, "timeout_seconds": 60, "cache_max_mb": 0}
    _write(files["experiment"], _with(EXPERIMENT, runner=runner))
    assert load_experiment(files["experiment"]).params_hash() == first
    _write(files["experiment"], _with(EXPERIMENT, runner={"kernel_name": "other"}))
    assert load_experiment(files["experiment"]).params_hash() != first
    _write(files["experiment"], _with(EXPERIMENT, seed=8))
    assert load_experiment(files["experiment"]).params_hash() != first


def test_csv_tenant_paths_are_resolved_against_the_tenant_file(files):
    path = _write(files["tenant"].parent / "beta.yaml", CSV_TENANT)
    tenant = load_tenant(path)
    source = tenant.data.source
    assert source.csv == (files["root"] / "params" / "data" / "beta.csv").resolve()
    assert source.segments_csv == (files["root"] / "params" / "data" / "segments.csv").resolve()
    assert source.columns == {"revenue": "Sales"} and source.truth is None


def test_unknown_tenant_requested(files):
    msg = _config_error(load_experiment, files["experiment"], ["ghost"])
    assert str(files["experiment"]) in msg and "'tenants'" in msg and "ghost" in msg


def test_tenant_lookup_of_unlisted_name(files):
    cfg = load_experiment(files["experiment"])
    msg = _config_error(cfg.tenant, "ghost")
    assert str(files["experiment"]) in msg and "ghost" in msg


# --------------------------------------------------------------------------- errors


def test_unknown_key_in_experiment(files):
    _write(files["experiment"], _with(EXPERIMENT, colour="blue"))
    msg = _config_error(load_experiment, files["experiment"])
    assert str(files["experiment"]) in msg and "key 'colour': unknown key" in msg


def test_unknown_nested_key_in_tenant(files):
    data = _with(TENANT)
    data["data"]["synthetic"]["channels"]["tv"]["speed"] = 3
    _write(files["tenant"], data)
    msg = _tenant_error(files)
    assert str(files["tenant"]) in msg
    assert "key 'data.synthetic.channels.tv.speed': unknown key" in msg


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"seed": "seven"}, "'seed'"),
        ({"tenants": "acme"}, "'tenants'"),
        ({"evaluation": {"holdout_weeks": 2}}, "'evaluation.holdout_weeks'"),
        ({"model": {"n_starts": "many"}}, "'model.n_starts'"),
        ({"model": {"shape_bounds": [3.0, 1.0]}}, "'model'"),
    ],
)
def test_wrong_type_or_value_in_experiment(files, change, key):
    _write(files["experiment"], _with(EXPERIMENT, **change))
    msg = _config_error(load_experiment, files["experiment"])
    assert str(files["experiment"]) in msg and f"key {key}" in msg


def test_wrong_type_in_tenant(files):
    data = _with(TENANT)
    data["data"]["synthetic"]["channels"]["tv"]["weekly_spend"] = "lots"
    _write(files["tenant"], data)
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "'data.synthetic.channels.tv.weekly_spend'" in msg
    assert "'lots'" in msg


@pytest.mark.parametrize("key", ["experiment", "tenants"])
def test_missing_required_key_in_experiment(files, key):
    data = _with(EXPERIMENT)
    del data[key]
    _write(files["experiment"], data)
    msg = _config_error(load_experiment, files["experiment"])
    assert str(files["experiment"]) in msg and f"key '{key}': required key is missing" in msg


@pytest.mark.parametrize("key", ["channels", "data"])
def test_missing_required_key_in_tenant(files, key):
    data = _with(TENANT)
    del data[key]
    _write(files["tenant"], data)
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and f"key '{key}': required key is missing" in msg


def test_a_tenant_file_that_does_not_load_is_recorded_not_raised(files):
    """One tenant's error is that tenant's (the runner records it as its data error)."""
    _write(files["tenant"], _with(TENANT, colour="blue"))
    cfg = load_experiment(files["experiment"])
    assert cfg.tenants == ["acme"] and "acme" not in cfg.tenant_configs
    assert "key 'colour': unknown key" in cfg.tenant_errors["acme"]
    assert cfg.label("acme") == "acme"
    msg = _config_error(cfg.tenant, "acme")
    assert str(files["tenant"]) in msg and "colour" in msg
    before = cfg.params_hash()
    _write(files["tenant"], _with(TENANT, colour="red"))
    assert load_experiment(files["experiment"]).params_hash() != before  # the file's bytes


def test_missing_tenant_file(files):
    files["tenant"].unlink()
    msg = _tenant_error(files)
    assert str(files["experiment"]) in msg and "key 'tenants'" in msg
    assert str(files["tenant"]) in msg


def test_missing_experiment_file(tmp_path):
    path = tmp_path / "nope.yaml"
    msg = _config_error(load_experiment, path)
    assert str(path) in msg and "not found" in msg


def test_missing_notebook_file(files):
    _write(files["experiment"], _with(EXPERIMENT, notebooks=["validation", "fairness"]))
    msg = _config_error(load_experiment, files["experiment"])
    assert str(files["experiment"]) in msg and "key 'notebooks'" in msg and "fairness" in msg


def test_invalid_yaml(files):
    _write(files["experiment"], "experiment: exp_test\ntenants: [acme\n")
    msg = _config_error(load_experiment, files["experiment"])
    assert str(files["experiment"]) in msg and "not valid YAML" in msg


def test_file_that_is_not_utf8(files):
    files["experiment"].write_bytes(b"experiment: \xff\xfe\n")
    msg = _config_error(load_experiment, files["experiment"])
    assert str(files["experiment"]) in msg and "not UTF-8" in msg


def test_yaml_that_is_not_a_mapping(files):
    _write(files["tenant"], "- just\n- a list\n")
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "mapping" in msg


def test_tenant_name_must_match_file_name(files):
    _write(files["tenant"], _with(TENANT, name="acme2"))
    msg = _tenant_error(files)
    assert str(files["tenant"]) in msg and "key 'name'" in msg and "'acme2'" in msg


def test_synthetic_channels_must_match_channels(files):
    _write(files["tenant"], _with(TENANT, channels=["search", "tv"]))
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "data.synthetic.channels" in msg
    assert "must match channels" in msg


def test_synthetic_controls_must_match_controls(files):
    _write(files["tenant"], _with(TENANT, controls=[]))
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "data.synthetic.controls" in msg


def test_tenant_needs_exactly_one_data_source(files):
    data = _with(TENANT)
    data["data"]["source"] = {"csv": "x.csv"}
    _write(files["tenant"], data)
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "key 'data'" in msg and "exactly one" in msg


def test_duplicate_channels(files):
    _write(files["tenant"], _with(TENANT, channels=["tv", "tv"]))
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "key 'channels'" in msg and "duplicate" in msg


def test_a_key_given_twice_is_refused_with_both_lines(files):
    text = files["tenant"].read_text(encoding="utf-8")
    _write(files["tenant"], text.replace("channels:", "kpi: revenue\nkpi: sales\nchannels:", 1))
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "key 'kpi' appears twice" in msg
    first = text.splitlines().index(next(line for line in text.splitlines()
                                         if line.startswith("channels:"))) + 1
    assert f"lines {first} and {first + 1}" in msg  # both places, as the file numbers them


def test_a_csv_column_mapped_twice_is_refused(files):
    data = _with(TENANT)
    data["data"] = {"source": {"csv": "x.csv", "columns": {"revenue": "Sales",
                                                           "spend_tv": "Sales"}}}
    _write(files["tenant"], data)
    msg = _config_error(load_tenant, files["tenant"])
    assert "key 'data.source.columns'" in msg
    assert "'Sales' is mapped to both 'revenue' and 'spend_tv'" in msg


@pytest.mark.parametrize(("controls", "says"), [
    (["price", "revenue"], "'revenue' is the KPI"),
    (["spend_tv"], "'spend_tv' is the spend column of channel 'tv'"),
    (["date"], "'date' is the date column"),
    (["price", "price"], "duplicate control names"),
])
def test_a_control_must_be_another_input(files, controls, says):
    _write(files["tenant"], _with(TENANT, controls=controls))
    msg = _config_error(load_tenant, files["tenant"])
    assert str(files["tenant"]) in msg and "key 'controls'" in msg and says in msg


def test_the_kpi_is_not_named_like_a_spend_column(files):
    _write(files["tenant"], _with(TENANT, kpi="spend_tv"))
    msg = _config_error(load_tenant, files["tenant"])
    assert "key 'channels'" in msg and "KPI 'spend_tv'" in msg


def test_national_robustness_thresholds_left_out_keep_their_national_defaults(files):
    data = _with(EXPERIMENT, robustness={"national_max_segments": 3,
                                         "national_thresholds": {"outliers": 0.9}})
    _write(files["experiment"], data)
    robustness = load_experiment(files["experiment"]).robustness
    assert robustness.national_thresholds.outliers == 0.9  # from the file
    assert robustness.national_thresholds.missing_weeks == 0.25  # left out: national default
    assert robustness.thresholds.missing_weeks == 0.20  # the geo thresholds are untouched
    assert robustness.thresholds_for(3) == ("national", robustness.national_thresholds)
    assert robustness.thresholds_for(4) == ("geo", robustness.thresholds)


def test_unknown_national_robustness_threshold(files):
    data = _with(EXPERIMENT, robustness={"national_thresholds": {"outlier": 0.7}})
    _write(files["experiment"], data)
    message = _config_error(load_experiment, files["experiment"])
    assert "exp.yaml" in message and "robustness.national_thresholds.outlier" in message


def test_fairness_thresholds_left_out_keep_their_own_defaults(files):
    # a partial `attribute:` or `many_segments:` keeps the defaults of its own level and band,
    # not the segment thresholds' (the attribute ones once fell back to those)
    data = _with(EXPERIMENT, gates={"fairness": {
        "attribute": {"max_mape_gap": 0.8},
        "many_segments": {"above": 30, "segment": {"max_bias_gap": 0.5},
                          "attribute": {"max_uplift_error_gap": 0.07}}}})
    _write(files["experiment"], data)
    fairness = load_experiment(files["experiment"]).gates.fairness
    assert fairness.attribute.max_mape_gap == 0.8  # from the file
    assert fairness.attribute.max_bias_gap == 0.20  # left out: the attribute default
    assert fairness.segment.max_bias_gap == 0.35
    many = fairness.many_segments
    assert (many.segment.max_bias_gap, many.segment.max_mape_gap) == (0.5, 2.9)
    assert (many.attribute.max_uplift_error_gap, many.attribute.max_mape_gap) == (0.07, 0.40)
    assert fairness.thresholds_for(30) == ("few", fairness.segment, fairness.attribute)
    assert fairness.thresholds_for(31) == ("many", many.segment, many.attribute)


def test_unknown_many_segment_fairness_threshold(files):
    data = _with(EXPERIMENT, gates={"fairness": {"many_segments": {"segment": {"mape": 3}}}})
    _write(files["experiment"], data)
    message = _config_error(load_experiment, files["experiment"])
    assert "exp.yaml" in message and "gates.fairness.many_segments.segment.mape" in message
