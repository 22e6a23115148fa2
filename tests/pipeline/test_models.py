"""The tenant's fitted-model cache: loads what another notebook fitted, never a stale file, and
gives the same numbers as fitting directly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmm_evidence.config import EvaluationSettings, ModelSettings, RobustnessSettings
from mmm_evidence.data.lift import LiftTest
from mmm_evidence.evaluation.baselines import compare_baselines
from mmm_evidence.evaluation.robustness import run_robustness_suite
from mmm_evidence.evaluation.validation import validate_tenant
from mmm_evidence.model.mmm import MMM
from mmm_evidence.pipeline.models import FittedModels, panel_fingerprint, tenant_models
from tests.model.conftest import model_form_panel

SETTINGS = ModelSettings(n_starts=2, max_iterations=60)
EVALUATION = EvaluationSettings(holdout_weeks=20, cv_folds=2, cv_horizon_weeks=13,
                                cv_min_train_weeks=52, bootstrap_replicates=3,
                                bootstrap_block_weeks=13)


@pytest.fixture(scope="module")
def panel():
    return model_form_panel(noise=0.02, segments=2, weeks=104, seed=3)


def _models(panel, folder: Path | None, **kwargs) -> FittedModels:
    return FittedModels(panel, kwargs.pop("settings", SETTINGS), kwargs.pop("seed", 5),
                        cache_dir=folder, **kwargs)


def test_a_fit_is_written_once_and_loaded_by_the_next_notebook(panel, tmp_path: Path) -> None:
    first = _models(panel, tmp_path)
    model = first.fit(84)
    assert first.fitted == [84] and first.loaded == []
    files = list(tmp_path.glob("*.json"))
    assert [f.name for f in files] == [first.path(84).name]
    assert files[0].name.startswith("mmm-84w-")
    second = _models(panel, tmp_path)  # another notebook of the same tenant
    again = second.fit(84)
    assert second.loaded == [84] and second.fitted == []
    assert again.to_json() == model.to_json()
    assert second.fit(84) is again  # memoised within one notebook


def test_cached_fit_gives_the_numbers_of_a_direct_fit(panel, tmp_path: Path) -> None:
    direct = MMM(SETTINGS, seed=5).fit(panel.weeks(None, 84))
    _models(panel, tmp_path).fit(84)
    loaded = _models(panel, tmp_path).fit(84)
    assert loaded.to_json() == direct.to_json()
    np.testing.assert_array_equal(loaded.predict(panel), direct.predict(panel))
    assert loaded.elasticities(panel) == direct.elasticities(panel)


def test_the_key_changes_with_everything_the_fit_depends_on(panel) -> None:
    base = _models(panel, None)
    keys = {base.key(84)}
    keys.add(base.key(None))
    keys.add(_models(panel, None, seed=6).key(84))
    keys.add(_models(panel, None, settings=SETTINGS.model_copy(update={"n_starts": 3})
                     ).key(84))
    kpi = panel.kpi.copy()
    kpi[0, 3] += 1.0
    keys.add(_models(replace(panel, kpi=kpi), None).key(84))
    test = LiftTest(channel="tv", start=panel.dates[10], end=panel.dates[14], spend_change=0.5,
                    lift=100.0, lift_se=20.0)
    keys.add(_models(panel, None, lift_tests=[test]).key(84))
    assert len(keys) == 6
    assert _models(panel, None).key(84) == base.key(84)  # and only with that


def test_the_fingerprint_ignores_what_a_fit_does_not_read(panel) -> None:
    assert panel_fingerprint(replace(panel, truth={"x": 1}, source="elsewhere.csv")) == \
        panel_fingerprint(panel)
    spend = panel.spend.copy()
    spend[1, 2, 0] *= 1.5
    assert panel_fingerprint(replace(panel, spend=spend)) != panel_fingerprint(panel)


def test_an_unreadable_cache_file_is_refitted_and_replaced(panel, tmp_path: Path) -> None:
    first = _models(panel, tmp_path)
    good = first.fit(84).to_json()
    first.path(84).write_text("{not json", encoding="utf-8")
    again = _models(panel, tmp_path)
    assert again.fit(84).to_json() == good and again.fitted == [84]
    record = json.loads(first.path(84).read_text(encoding="utf-8"))
    assert record["model"] == good and json.loads(record["model"])["seed"] == 5


def test_a_cache_file_edited_after_it_was_written_is_refitted(panel, tmp_path: Path) -> None:
    first = _models(panel, tmp_path)
    good = first.fit(84).to_json()
    path = first.path(84)
    record = json.loads(path.read_text(encoding="utf-8"))
    model = json.loads(record["model"])
    model["seed"] = 6  # still a readable model, but not the one that was fitted
    edited = json.dumps(model)
    assert MMM.from_json(edited).to_json() != good
    path.write_text(json.dumps({**record, "model": edited}), encoding="utf-8")
    again = _models(panel, tmp_path)
    assert again.fit(84).to_json() == good and again.fitted == [84] and again.loaded == []
    # a file written under another key (a renamed file) is not used either
    other = _models(panel, tmp_path, seed=6)
    path.rename(other.path(84))
    assert other.fit(84) is not None and other.fitted == [84]
    assert json.loads(other.path(84).read_text(encoding="utf-8"))["key"] == other.key(84)


def test_without_a_cache_folder_every_fit_is_fitted(panel) -> None:
    models = _models(panel, None)
    models.fit(84)
    assert models.path(84) is None and models.fitted == [84]


def test_fits_outside_the_history_are_refused(panel) -> None:
    with pytest.raises(ValueError, match="first 105 of 104 weeks"):
        _models(panel, None).fit(105)


def test_tenant_models_follow_the_tenant_and_the_output_folder(tmp_path: Path) -> None:
    from mmm_evidence.config import load_experiment
    from mmm_evidence.data import load_tenant_panel
    from tests.paths import EXPERIMENT

    exp = load_experiment(EXPERIMENT, tenants=["alpine_telecom"])
    panel = load_tenant_panel(exp, "alpine_telecom", tmp_path)
    models = tenant_models(exp, "alpine_telecom", panel, tmp_path, 11)
    assert models.cache_dir == tmp_path / ".cache" / "models" / "alpine_telecom"
    assert models.settings == exp.model and models.seed == 11
    assert models.calibrated == exp.tenant("alpine_telecom").calibrate_with_lift_tests
    assert tenant_models(exp, "alpine_telecom", panel, tmp_path, 11, cache=False
                         ).cache_dir is None


def test_validation_with_cached_fits_equals_validation_fitting_itself(panel, tmp_path) -> None:
    direct = validate_tenant(panel, SETTINGS, EVALUATION, 5)
    fitted_here = validate_tenant(panel, SETTINGS, EVALUATION, 5,
                                  models=_models(panel, tmp_path))
    loaded = _models(panel, tmp_path)
    from_cache = validate_tenant(panel, SETTINGS, EVALUATION, 5, models=loaded)
    # holdout (104 - 20), the two folds (104 - 2 x 13, 104 - 13) and the full history
    assert sorted(loaded.loaded) == [78, 84, 91, 104] and loaded.fitted == []
    dumps = [json.dumps(v.scraps(), sort_keys=True, default=str)
             for v in (direct, fitted_here, from_cache)]
    assert dumps[0] == dumps[1] == dumps[2]


def test_baselines_with_cached_fits_equal_baselines_fitting_themselves(panel, tmp_path) -> None:
    validate_tenant(panel, SETTINGS, EVALUATION, 5, models=_models(panel, tmp_path))
    direct = compare_baselines(panel, SETTINGS, EVALUATION, 5,
                               baselines=("naive", "linear"))
    loaded = _models(panel, tmp_path)
    cached = compare_baselines(panel, SETTINGS, EVALUATION, 5, baselines=("naive", "linear"),
                               models=loaded)
    assert loaded.fitted == []  # every MMM fit came from the validation's
    assert json.dumps(cached.scraps(), sort_keys=True, default=str) == \
        json.dumps(direct.scraps(), sort_keys=True, default=str)


def test_fits_of_another_panel_or_setting_are_refused(panel) -> None:
    other = replace(panel, kpi=panel.kpi * 1.01)
    with pytest.raises(ValueError, match="another panel"):
        validate_tenant(panel, SETTINGS, EVALUATION, 5, models=_models(other, None))
    with pytest.raises(ValueError, match="seed 6, not 5"):
        compare_baselines(panel, SETTINGS, EVALUATION, 5, models=_models(panel, None, seed=6))
    with pytest.raises(ValueError, match="not calibrated"):
        validate_tenant(replace(panel, meta={"lift_tests": [LiftTest(
            channel="tv", start=panel.dates[10], end=panel.dates[14], spend_change=0.5,
            lift=100.0, lift_se=20.0)]}), SETTINGS, EVALUATION, 5, calibrate=True,
            models=_models(panel, None))


def test_robustness_uses_the_reference_it_is_given(panel, tmp_path) -> None:
    settings = RobustnessSettings()
    only = ["determinism", "zero_spend"]
    direct = run_robustness_suite(panel, SETTINGS, settings, 5, holdout_weeks=20, only=only)
    reference = _models(panel, tmp_path).full()
    given = run_robustness_suite(panel, SETTINGS, settings, 5, holdout_weeks=20, only=only,
                                 reference=reference)
    assert given.reference is reference
    assert json.dumps(given.scraps(), sort_keys=True, default=str).replace(
        '"seconds"', "") == json.dumps(direct.scraps(), sort_keys=True, default=str).replace(
        '"seconds"', "")
    assert given.check("determinism").value == 0.0
    with pytest.raises(ValueError, match="other settings, another seed"):
        run_robustness_suite(panel, SETTINGS, settings, 6, holdout_weeks=20, only=only,
                             reference=reference)
    with pytest.raises(ValueError, match="default factory"):
        run_robustness_suite(panel, SETTINGS, settings, 5, holdout_weeks=20, only=only,
                             reference=reference, factory=lambda seed, data: MMM(SETTINGS, seed))
