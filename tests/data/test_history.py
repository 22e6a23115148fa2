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


def test_a_segment_without_kpi_in_a_splits_training_weeks_is_named_before_any_fit():
    """Sized by its mean KPI (no segment_size), a segment that starts selling late has size 0
    in an early split's training weeks: one data error naming it and the split, up front."""
    import numpy as np

    from mmm_evidence.config import EvaluationSettings
    from mmm_evidence.evaluation.splits import check_split_sizes
    from tests.evaluation.test_baselines import make_panel

    kpi = np.full((2, 156), 100.0)
    kpi[1, :110] = 0.0  # the second segment opens in week 110
    panel = make_panel(kpi)
    evaluation = EvaluationSettings()  # holdout 26, 4 folds of 13 from >= 52 weeks
    check_split_sizes(panel, evaluation, "shop.csv", "revenue")  # sizes given: nothing to check
    from dataclasses import replace

    by_kpi = replace(panel, size_from_kpi=True)
    with pytest.raises(DataError) as info:
        check_split_sizes(by_kpi, evaluation, "shop.csv", "revenue")
    msg = str(info.value)
    assert msg.startswith("shop.csv: column 'revenue': the fold1 split trains on the first 104 "
                          "weeks") and "'s1'" in msg and "segment_size" in msg
    kpi[1, :60] = 0.0
    kpi[1, 60:] = 100.0  # selling from week 60: every split's training weeks hold some
    check_split_sizes(replace(by_kpi, kpi=kpi), evaluation, "shop.csv", "revenue")


def test_the_run_records_a_segment_without_kpi_in_training_weeks_as_the_tenants_data_error(
        tmp_path):
    from mmm_evidence.pipeline.runner import _prepare_data

    params = builder.build_experiment(tmp_path, ["alpha", "beta"], notebooks=("validation",))
    exp = load_experiment(params)
    csv = exp.tenant("alpha").data.source.csv
    lines = csv.read_text(encoding="utf-8").splitlines()
    # south sells nothing in the 4 training weeks of the holdout split (8 weeks, holdout 4)
    lines = [",".join([*row[:2], "0", *row[3:]]) if row[1] == "south"
             and row[0] < "2024-01-29" else line
             for line, row in ((line, line.split(",")) for line in lines)]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hashes, errors, _ = _prepare_data(exp, tmp_path / "out", [].append, cache=False)
    assert set(errors) == {"alpha"} and "beta" in hashes  # the other tenant is kept
    assert errors["alpha"].startswith(f"{csv}: column 'revenue': the holdout split trains on "
                                      f"the first 4 weeks")
    assert "'south'" in errors["alpha"] and "segment_size" in errors["alpha"]
