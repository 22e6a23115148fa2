"""validate_tenant_frame: the canonical frame, and one test per schema error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.data.schema import DataError, validate_tenant_frame

SRC = "data/acme.csv"


def _error(frame: pd.DataFrame, tenant, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        validate_tenant_frame(frame, tenant, SRC, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- valid data


def test_valid_frame_becomes_canonical_sorted_by_segment_then_date(frame, tenant):
    out = validate_tenant_frame(frame, tenant, SRC)
    assert list(out.columns) == ["date", "segment", "revenue", "spend_tv", "spend_search",
                                 "price_index"]
    assert pd.api.types.is_datetime64_any_dtype(out["date"])
    assert out["segment"].tolist() == ["north"] * 6 + ["south"] * 6
    assert out["date"].is_monotonic_increasing is False  # dates restart per segment
    assert out["date"].iloc[:6].is_monotonic_increasing
    assert out["date"].iloc[0] == pd.Timestamp("2023-01-02")
    for column in ["revenue", "spend_tv", "spend_search", "price_index"]:
        assert out[column].dtype == np.float64
    # south, week 2 was row 5 of the input (revenue 1000 + 100 + 2)
    assert out.loc[(out["segment"] == "south"), "revenue"].iloc[2] == 1102.0
    assert list(out.index) == list(range(12))


def test_extra_columns_are_ignored(frame, tenant):
    frame["unrelated"] = "x"
    out = validate_tenant_frame(frame, tenant, SRC)
    assert "unrelated" not in out.columns and "notes" not in out.columns


def test_in_memory_numeric_frame_with_datetimes(frame, tenant):
    typed = frame.assign(
        date=pd.to_datetime(frame["date"]),
        revenue=frame["revenue"].astype(float),
        spend_tv=frame["spend_tv"].astype(float).astype(int),
    )
    out = validate_tenant_frame(typed, tenant, SRC)
    assert out["spend_tv"].iloc[0] == 50.0
    assert out["date"].iloc[1] == pd.Timestamp("2023-01-09")


def test_segments_are_strings(frame, tenant):
    frame["segment"] = frame["segment"].map({"north": "01", "south": "2"})
    out = validate_tenant_frame(frame, tenant, SRC)
    assert sorted(set(out["segment"])) == ["01", "2"]


def test_custom_date_format(frame, tenant):
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%d/%m/%Y")
    out = validate_tenant_frame(frame, tenant, SRC, date_format="%d/%m/%Y")
    assert out["date"].iloc[1] == pd.Timestamp("2023-01-09")


def test_national_frame_without_segment_column(frame_factory, tenant):
    national = frame_factory(segments=["only"]).drop(columns="segment")
    out = validate_tenant_frame(national, tenant, SRC)
    assert set(out["segment"]) == {"national"}
    assert len(out) == 6


def test_column_mapping(frame, tenant):
    mapping = {"date": "Week", "revenue": "Sales", "spend_tv": "TV_Spend"}
    renamed = frame.rename(columns=mapping)
    out = validate_tenant_frame(renamed, tenant, SRC, columns=mapping)
    assert out["spend_tv"].iloc[0] == 50.0


# --------------------------------------------------------------------------- errors


def test_empty_frame(tenant):
    msg = _error(pd.DataFrame(), tenant)
    assert SRC in msg and "empty" in msg and "revenue" in msg


def test_header_only(frame, tenant):
    msg = _error(frame.iloc[:0], tenant)
    assert SRC in msg and "no data rows" in msg


def test_missing_columns_lists_all_missing_and_present(frame, tenant):
    msg = _error(frame.drop(columns=["spend_tv", "price_index"]), tenant)
    assert SRC in msg
    assert "missing 2 columns: 'spend_tv', 'price_index'" in msg
    assert "columns present: date, segment, revenue, spend_search, notes" in msg


def test_missing_mapped_column_shows_csv_name(frame, tenant):
    renamed = frame.rename(columns={"revenue": "Sales"}).drop(columns=["spend_tv"])
    msg = _error(renamed, tenant, columns={"revenue": "Sales", "spend_tv": "TV_Spend"})
    assert SRC in msg and "'spend_tv' -> 'TV_Spend'" in msg and "no such column" in msg


def test_unknown_mapping_key(frame, tenant):
    msg = _error(frame, tenant, columns={"spend_radio": "Radio"})
    assert SRC in msg and "'spend_radio'" in msg and "canonical" in msg


def test_missing_date_value(frame, tenant):
    frame.loc[4, "date"] = np.nan
    msg = _error(frame, tenant)
    assert SRC in msg and "column 'date'" in msg and "line 6: <missing>" in msg


def test_missing_segment_value(frame, tenant):
    frame.loc[7, "segment"] = np.nan
    msg = _error(frame, tenant)
    assert SRC in msg and "column 'segment'" in msg and "line 9" in msg


def test_unparseable_date(frame, tenant):
    frame.loc[3, "date"] = "2023-13-45"
    msg = _error(frame, tenant)
    assert SRC in msg and "column 'date'" in msg and "ISO date" in msg
    assert "1 offending row, first: line 5: '2023-13-45'" in msg


def test_date_not_in_given_format(frame, tenant):
    msg = _error(frame, tenant, date_format="%d/%m/%Y")
    assert "expected a date in the format '%d/%m/%Y'" in msg and "line 2: '2023-01-02'" in msg


def test_dates_not_on_the_same_weekday(frame, tenant):
    frame.loc[4, "date"] = "2023-01-17"  # a Tuesday among Mondays
    msg = _error(frame, tenant)
    assert SRC in msg and "column 'date'" in msg and "same weekday (Monday" in msg
    assert "line 6: 2023-01-17 (Tuesday)" in msg


def test_daily_data_is_not_weekly(frame_factory, tenant):
    days = [f"2023-01-0{d}" for d in range(2, 8)]
    msg = _error(frame_factory(dates=days), tenant)
    assert SRC in msg and "column 'date'" in msg and "expected weekly data" in msg
    assert "1 day apart (median), which looks daily: aggregate to weeks first" in msg


def test_data_a_few_days_apart_is_not_weekly(frame_factory, tenant):
    every_third = [f"{d:%Y-%m-%d}" for d in pd.date_range("2023-01-02", periods=6, freq="3D")]
    msg = _error(frame_factory(dates=every_third), tenant)
    assert "the dates are 3 days apart (median): aggregate to weeks first" in msg


def test_monthly_data_is_not_weekly(frame_factory, tenant):
    months = [f"{d:%Y-%m-%d}" for d in pd.date_range("2023-01-01", periods=6, freq="MS")]
    msg = _error(frame_factory(dates=months), tenant)
    assert "expected weekly data" in msg and "looks monthly" in msg


def test_offsets_that_change_with_daylight_saving_keep_the_local_dates(frame, tenant):
    reference = validate_tenant_frame(frame.copy(), tenant, SRC)
    summer = frame["date"] >= "2023-01-23"  # a zone whose offset changes mid-series
    frame["date"] = frame["date"] + np.where(summer, "T00:00:00+02:00", "T00:00:00+01:00")
    out = validate_tenant_frame(frame, tenant, SRC)
    pd.testing.assert_series_equal(out["date"], reference["date"])


def test_a_date_format_that_is_not_one(frame, tenant):
    msg = _error(frame, tenant, date_format="%Q")
    assert SRC in msg and "data.source.date_format '%Q' is not a date format" in msg


def test_an_iso_date_out_of_range(frame, tenant):
    frame.loc[3, "date"] = "3023-01-09"
    msg = _error(frame, tenant)
    assert "expected a date between 1677 and 2262" in msg and "line 5: '3023-01-09'" in msg


def test_fortnightly_data_is_not_weekly(frame_factory, tenant):
    fortnights = [f"{d:%Y-%m-%d}" for d in pd.date_range("2023-01-02", periods=6, freq="14D")]
    msg = _error(frame_factory(dates=fortnights), tenant)
    assert SRC in msg and "column 'date'" in msg and "14 days apart" in msg
    assert "line 2: 2023-01-02, line 4: 2023-01-16" in msg


@pytest.mark.parametrize("column", ["revenue", "spend_tv", "spend_search", "price_index"])
def test_non_numeric_value(frame, tenant, column):
    frame.loc[2, column] = "abc"
    frame.loc[9, column] = "1,5"
    msg = _error(frame, tenant)
    assert SRC in msg and f"column '{column}': expected a finite number" in msg
    assert "2 offending rows, first: line 4: 'abc', line 11: '1,5'" in msg


@pytest.mark.parametrize("value", ["2,754,371.67", "$120", "€ 1.234,50", "3,5", "1 234 567"])
def test_formatted_numbers_get_a_hint(frame, tenant, value):
    frame.loc[2, "revenue"] = value
    msg = _error(frame, tenant)
    assert f"line 4: '{value}'" in msg
    assert "look like formatted numbers" in msg and "e.g. 1234567.89" in msg


def test_a_word_is_not_taken_for_a_formatted_number(frame, tenant):
    frame.loc[2, "revenue"] = "n/a,1"
    assert "formatted numbers" not in _error(frame, tenant)


def test_infinite_value_is_not_a_number(frame, tenant):
    frame.loc[0, "spend_tv"] = "inf"
    msg = _error(frame, tenant)
    assert "column 'spend_tv'" in msg and "line 2: 'inf'" in msg


@pytest.mark.parametrize("column", ["revenue", "spend_tv", "price_index"])
def test_missing_numeric_value(frame, tenant, column):
    frame.loc[5, column] = np.nan
    msg = _error(frame, tenant)
    assert SRC in msg and f"column '{column}'" in msg and "missing" in msg
    assert "line 7: <missing>" in msg


def test_negative_spend(frame, tenant):
    frame.loc[6, "spend_search"] = "-5"
    msg = _error(frame, tenant)
    assert SRC in msg and "column 'spend_search': expected spend >= 0" in msg
    assert "line 8: -5.0" in msg


def test_negative_kpi_and_control_are_allowed(frame, tenant):
    frame.loc[6, "price_index"] = "-0.5"
    frame.loc[6, "revenue"] = "-10"
    assert len(validate_tenant_frame(frame, tenant, SRC)) == 12


def test_duplicate_date_segment(frame, tenant):
    frame.loc[3, "date"] = "2023-01-02"  # row 3 (south) now repeats row 1 (line 3)
    msg = _error(frame, tenant)
    assert SRC in msg and "column 'date' and column 'segment'" in msg
    assert "one row per (date, segment)" in msg
    assert "line 5: 2023-01-02, 'south' (same as line 3)" in msg


def test_segment_missing_a_week(frame, tenant):
    msg = _error(frame.drop(index=5), tenant)  # (2023-01-16, south)
    assert SRC in msg and "column 'date' and column 'segment'" in msg
    assert "from 2023-01-02 to 2023-02-06 (6 weeks)" in msg
    assert "segment 'south' is missing 1 week: 2023-01-16" in msg
    assert "north" not in msg


def test_week_missing_for_every_segment(frame, tenant):
    msg = _error(frame.drop(index=[6, 7]), tenant)  # 2023-01-23 for both
    assert SRC in msg and "1 week missing for every segment: 2023-01-23" in msg


def test_segment_starting_late_is_a_gap(frame, tenant):
    msg = _error(frame.drop(index=[1, 3]), tenant)
    assert "segment 'south' is missing 2 weeks: 2023-01-02, 2023-01-09" in msg


def test_segment_with_too_few_rows(frame, tenant):
    extra = frame.iloc[[0]].assign(segment="east")
    msg = _error(pd.concat([frame, extra], ignore_index=True), tenant)
    assert SRC in msg and "column 'segment'" in msg and "at least 2" in msg
    assert "segment 'east' has 1 row (line 14)" in msg


def test_single_week_is_too_short(frame_factory, tenant):
    msg = _error(frame_factory(dates=["2023-01-02"]), tenant)
    assert "segment 'north' has 1 row (line 2)" in msg


def test_at_most_five_offending_rows_are_shown(frame, tenant):
    frame["spend_tv"] = "x"
    msg = _error(frame, tenant)
    assert "12 offending rows" in msg and "line 6:" in msg and "line 7:" not in msg


def test_mapped_column_errors_name_the_csv_column(frame, tenant):
    renamed = frame.rename(columns={"spend_tv": "TV_Spend"})
    renamed.loc[1, "TV_Spend"] = "lots"
    msg = _error(renamed, tenant, columns={"spend_tv": "TV_Spend"})
    assert "column 'spend_tv' (CSV column 'TV_Spend')" in msg and "line 3: 'lots'" in msg


def test_line_numbers_follow_the_index(frame, tenant):
    shifted = frame.set_axis(frame.index + 10)  # e.g. rows after dropped blank lines
    shifted.loc[12, "spend_tv"] = "?"
    assert "line 14: '?'" in _error(shifted, tenant)
