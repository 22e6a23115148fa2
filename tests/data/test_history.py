"""A tenant too short for its holdout is a data error before any notebook runs."""

from __future__ import annotations

import pytest
import yaml

from mmm_evidence.config import load_experiment
from mmm_evidence.data import check_history, prepare_tenant_data
from mmm_evidence.data.schema import DataError
from tests.fixtures.pipeline import experiment as builder


@pytest.mark.parametrize(("weeks", "ok"), [(52, True), (51, False), (30, False), (20, False)])
def test_the_fit_needs_as_many_weeks_as_the_holdout(weeks, ok):
    if ok:
        check_history(weeks, 26, 13, "data.csv")
        return
    with pytest.raises(DataError) as info:
        check_history(weeks, 26, 13, "data.csv")
    msg = str(info.value)
    assert msg.startswith(f"data.csv: {weeks} weeks of data") and "bring at least 52" in msg
    assert "evaluation.holdout_weeks" in msg


def test_and_at_least_min_train_weeks():
    check_history(30, 8, 13, "x")  # 22 weeks before an 8-week holdout
    with pytest.raises(DataError, match="needs at least 13 weeks before them"):
        check_history(20, 8, 13, "x")


def test_prepare_refuses_a_csv_tenant_too_short_for_the_holdout(tmp_path):
    params = builder.build_experiment(tmp_path, ["alpha"], notebooks=("validation",))
    spec = yaml.safe_load(params.read_text(encoding="utf-8"))
    del spec["evaluation"]["min_train_weeks"]  # the default, 13: the fixture has 8 weeks
    params.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    exp = load_experiment(params)
    with pytest.raises(DataError) as info:
        prepare_tenant_data(exp, "alpha", tmp_path / "out")
    assert str(exp.tenant("alpha").data.source.csv) in str(info.value)
    assert "8 weeks of data" in str(info.value)
    spec["evaluation"]["min_train_weeks"] = 4
    params.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    assert prepare_tenant_data(load_experiment(params), "alpha", tmp_path / "out")
