"""read_tenant_files / read_tenant_csv: files -> Panel, and every file-level error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mmm_evidence.data.loader import read_tenant_csv, read_tenant_files
from mmm_evidence.data.panel import Panel
from mmm_evidence.data.schema import DataError


def _error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_tenant_files(*args, **kwargs)
    return str(info.value)


def _truth(**channels) -> dict:
    return {"channels": {name: {"elasticity": value} for name, value in channels.items()}}


# --------------------------------------------------------------------------- the panel


def test_reads_a_panel(frame, tenant, write_csv):
    panel = read_tenant_files(tenant, write_csv(frame))
    assert panel.tenant == "acme" and panel.kpi_name == "revenue"
    assert panel.segments == ("north", "south")
    assert panel.channels == ("tv", "search") and panel.control_names == ("price_index",)
    assert panel.kpi.shape == (2, 6) and panel.spend.shape == (2, 6, 2)
    assert panel.controls.shape == (2, 6, 1)
    assert panel.dates[0] == pd.Timestamp("2023-01-02") and panel.dates[-1] == pd.Timestamp(
        "2023-02-06")
    assert panel.kpi[1, 2] == 1102.0  # south, third week
    assert panel.spend[0, 3, 0] == 53.0 and panel.spend[1, 0, 1] == 21.0
    assert panel.controls[0, 5, 0] == pytest.approx(1.05)
    assert panel.attributes is None and panel.truth is None
    assert panel.source.endswith("acme.csv")
    assert panel.meta["national"] is False


def test_round_trip_through_csv(tenant, write_csv):
    rng = np.random.default_rng(7)
    g, t = 3, 9
    kpi = rng.uniform(500, 2000, (g, t))
    original = Panel(
        tenant="acme", dates=pd.date_range("2022-12-05", periods=t, freq="7D"),
        segments=("001", "010", "2"), channels=("tv", "search"), control_names=("price_index",),
        kpi=kpi, spend=rng.uniform(0, 100, (g, t, 2)), controls=rng.normal(1, 0.1, (g, t, 1)),
        size=kpi.mean(axis=1) / kpi.mean(),
    )
    panel = read_tenant_files(tenant, write_csv(original.to_frame()))
    assert panel.segments == original.segments
    assert panel.dates.equals(original.dates)
    np.testing.assert_array_equal(panel.kpi, original.kpi)
    np.testing.assert_array_equal(panel.spend, original.spend)
    np.testing.assert_array_equal(panel.controls, original.controls)
    np.testing.assert_allclose(panel.size, original.size, rtol=1e-12)


def test_rows_in_any_order(frame, tenant, write_csv):
    shuffled = frame.sample(frac=1.0, random_state=3)
    a = read_tenant_files(tenant, write_csv(frame, "a.csv"))
    b = read_tenant_files(tenant, write_csv(shuffled, "b.csv"))
    np.testing.assert_array_equal(a.kpi, b.kpi)
    np.testing.assert_array_equal(a.spend, b.spend)


def test_segments_are_read_as_strings(frame, tenant, write_csv):
    frame["segment"] = frame["segment"].map({"north": "007", "south": "12"})
    panel = read_tenant_files(tenant, write_csv(frame))
    assert panel.segments == ("007", "12")


def test_column_mapping(frame, tenant, write_csv):
    renamed = frame.rename(columns={"date": "Week", "segment": "Region", "revenue": "Sales",
                                    "spend_tv": "TV_Spend"})
    mapping = {"date": "Week", "segment": "Region", "revenue": "Sales", "spend_tv": "TV_Spend"}
    panel = read_tenant_files(tenant, write_csv(renamed), columns=mapping)
    reference = read_tenant_files(tenant, write_csv(frame, "reference.csv"))
    assert panel.segments == ("north", "south")
    np.testing.assert_array_equal(panel.kpi, reference.kpi)
    np.testing.assert_array_equal(panel.spend, reference.spend)


def test_mapping_to_a_column_the_csv_lacks(frame, tenant, write_csv):
    path = write_csv(frame)
    msg = _error(tenant, path, columns={"revenue": "Sales"})
    assert str(path) in msg and "'revenue' -> 'Sales'" in msg and "no such column" in msg


def test_mapped_column_error_names_csv_column_and_line(frame, tenant, write_csv):
    renamed = frame.rename(columns={"spend_tv": "TV_Spend"})
    renamed.loc[4, "TV_Spend"] = "n/a?"
    path = write_csv(renamed)
    msg = _error(tenant, path, columns={"spend_tv": "TV_Spend"})
    assert str(path) in msg and "(CSV column 'TV_Spend')" in msg and "line 6: 'n/a?'" in msg


def test_date_format(frame, tenant, write_csv):
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%m/%d/%Y")
    panel = read_tenant_files(tenant, write_csv(frame), date_format="%m/%d/%Y")
    assert panel.dates[1] == pd.Timestamp("2023-01-09")


def test_national_data_is_one_segment(frame_factory, tenant, write_csv):
    national = frame_factory(segments=["x"]).drop(columns="segment")
    panel = read_tenant_files(tenant, write_csv(national))
    assert panel.segments == ("national",) and panel.kpi.shape == (1, 6)
    assert panel.size.tolist() == [1.0]
    assert panel.meta["national"] is True


# --------------------------------------------------------------------------- file errors


def test_missing_data_file(tenant, tmp_path):
    path = tmp_path / "nope.csv"
    msg = _error(tenant, path)
    assert str(path) in msg and "not found" in msg


def test_empty_data_file(tenant, write_csv):
    path = write_csv("")
    msg = _error(tenant, path)
    assert str(path) in msg and "empty" in msg


def test_header_only_data_file(tenant, write_csv):
    path = write_csv("date,segment,revenue,spend_tv,spend_search,price_index\n")
    msg = _error(tenant, path)
    assert str(path) in msg and "no data rows" in msg


def test_ragged_csv(tenant, write_csv):
    path = write_csv("date,segment,revenue\n2023-01-02,a,1\n2023-01-09,a,1,5,6\n")
    msg = _error(tenant, path)
    assert str(path) in msg and "not a readable CSV" in msg


def test_a_header_naming_a_column_twice(frame, tenant, write_csv):
    doubled = frame.rename(columns={"spend_tv": "revenue"})
    path = write_csv(doubled.to_csv(index=False))
    msg = _error(tenant, path)
    assert str(path) in msg and "line 1" in msg
    assert "'revenue' in columns 3, 4" in msg and "more than once" in msg


@pytest.mark.parametrize(("sep", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_a_file_separated_by_something_else_than_commas(frame, tenant, write_csv, sep, name):
    path = write_csv(frame.to_csv(index=False, sep=sep))
    msg = _error(tenant, path)
    assert str(path) in msg and f"the file looks {name}-separated" in msg
    assert "expected a comma-separated CSV" in msg


def test_line_numbers_count_blank_lines(frame, tenant, write_csv):
    text = frame.to_csv(index=False).splitlines()
    text.insert(3, "")  # a blank line 4; the data row that was line 4 is now line 5
    lines = text[:5] + ["2023-01-09,south,oops,51.0,21.0,1.01,x"] + text[6:]
    path = write_csv("\n".join(lines) + "\n\n")
    msg = _error(tenant, path)
    assert str(path) in msg and "column 'revenue'" in msg and "line 6: 'oops'" in msg


def test_csv_errors_name_the_file(frame, tenant, write_csv):
    frame.loc[2, "spend_tv"] = "-3"
    path = write_csv(frame)
    msg = _error(tenant, path)
    assert msg.startswith(f"{path}: column 'spend_tv'") and "line 4: -3.0" in msg


# --------------------------------------------------------------------------- segment table


def _segments(write_csv, text: str):
    return write_csv(text, "segments.csv")


def test_segment_table_becomes_attributes(frame, tenant, write_csv):
    table = _segments(write_csv, "segment,population,region\nsouth,200,S\nnorth,100,N\n"
                      "west,5,W\n")
    panel = read_tenant_files(tenant, write_csv(frame), segments_csv=table)
    attrs = panel.attributes
    assert list(attrs.index) == ["north", "south"] and attrs.index.name == "segment"
    assert attrs["population"].tolist() == [100, 200]
    assert attrs.loc["south", "region"] == "S"


def test_segment_table_keeps_segment_strings(frame, tenant, write_csv):
    frame["segment"] = frame["segment"].map({"north": "01", "south": "02"})
    table = _segments(write_csv, "segment,population\n01,10\n02,20\n")
    panel = read_tenant_files(tenant, write_csv(frame), segments_csv=table)
    assert list(panel.attributes.index) == ["01", "02"]


def test_segment_table_missing_file(frame, tenant, write_csv, tmp_path):
    path = tmp_path / "segments.csv"
    msg = _error(tenant, write_csv(frame), segments_csv=path)
    assert str(path) in msg and "not found" in msg


def test_segment_table_without_segment_column(frame, tenant, write_csv):
    table = _segments(write_csv, "region,population\nnorth,1\nsouth,2\n")
    msg = _error(tenant, write_csv(frame), segments_csv=table)
    assert str(table) in msg and "missing column 'segment'" in msg and "region, population" in msg


def test_segment_table_may_name_the_segment_column_as_the_data_file_does(frame, tenant,
                                                                         write_csv):
    # a real tenant's data file calls it Region (mapped with columns: segment: Region); its
    # segment table does too
    renamed = frame.rename(columns={"segment": "Region"})
    table = _segments(write_csv, "Region,population\nnorth,1\nsouth,2\n")
    panel = read_tenant_files(tenant, write_csv(renamed), columns={"segment": "Region"},
                              segments_csv=table)
    assert panel.attributes["population"].tolist() == [1, 2]
    other = _segments(write_csv, "Area,population\nnorth,1\nsouth,2\n")
    msg = _error(tenant, write_csv(renamed), columns={"segment": "Region"}, segments_csv=other)
    assert "missing column 'segment' or 'Region' (the data file's segment column)" in msg


def test_segment_table_duplicates(frame, tenant, write_csv):
    table = _segments(write_csv, "segment,population\nnorth,1\nsouth,2\nnorth,3\n")
    msg = _error(tenant, write_csv(frame), segments_csv=table)
    assert str(table) in msg and "unique" in msg and "line 2: 'north'" in msg
    assert "line 4: 'north'" in msg


def test_segment_table_missing_segments(frame, tenant, write_csv):
    table = _segments(write_csv, "segment,population\nnorth,1\neast,3\n")
    msg = _error(tenant, write_csv(frame), segments_csv=table)
    assert str(table) in msg and "column 'segment'" in msg and "1 missing: 'south'" in msg


def test_segment_table_empty_segment_name(frame, tenant, write_csv):
    table = _segments(write_csv, "segment,population\nnorth,1\n,3\nsouth,2\n")
    msg = _error(tenant, write_csv(frame), segments_csv=table)
    assert str(table) in msg and "line 3" in msg


# --------------------------------------------------------------------------- segment size


def test_size_from_mean_kpi(frame, tenant, write_csv):
    panel = read_tenant_files(tenant, write_csv(frame))
    mean = panel.kpi.mean(axis=1)
    np.testing.assert_allclose(panel.size, mean / mean.mean())
    assert panel.size.mean() == pytest.approx(1.0)
    assert panel.size[1] > panel.size[0]


def test_size_from_attribute(frame, tenant_factory, write_csv):
    tenant = tenant_factory(segment_size="population")
    table = _segments(write_csv, "segment,population\nnorth,100\nsouth,300\n")
    panel = read_tenant_files(tenant, write_csv(frame), segments_csv=table)
    np.testing.assert_allclose(panel.size, [0.5, 1.5])


def test_size_attribute_without_segment_table(frame, tenant_factory, write_csv):
    path = write_csv(frame)
    msg = _error(tenant_factory(segment_size="population"), path)
    assert str(path) in msg and "segment_size" in msg and "population" in msg


def test_size_attribute_column_missing(frame, tenant_factory, write_csv):
    table = _segments(write_csv, "segment,households\nnorth,100\nsouth,300\n")
    msg = _error(tenant_factory(segment_size="population"), write_csv(frame), segments_csv=table)
    assert str(table) in msg and "missing column 'population'" in msg and "households" in msg


@pytest.mark.parametrize("bad", ["0", "-4", "many", ""])
def test_size_attribute_must_be_positive(frame, tenant_factory, write_csv, bad):
    table = _segments(write_csv, f"segment,population,region\nnorth,100,N\nsouth,{bad},S\n")
    msg = _error(tenant_factory(segment_size="population"), write_csv(frame), segments_csv=table)
    assert str(table) in msg and "column 'population'" in msg and "> 0" in msg
    assert "segment 'south'" in msg and "north" not in msg
    assert "np." not in msg  # values as written, not numpy reprs


def test_size_from_kpi_is_re_derived_from_the_weeks_kept(frame, tenant, write_csv):
    """A fit on the first weeks must not see the later weeks' KPI through the sizes."""
    panel = read_tenant_files(tenant, write_csv(frame))
    assert panel.size_from_kpi
    early = panel.weeks(None, 3)
    mean = panel.kpi[:, :3].mean(axis=1)
    np.testing.assert_allclose(early.size, mean / mean.mean())
    frame.loc[(frame["segment"] == "south") & (frame["date"] >= "2023-01-23"), "revenue"] = "9e6"
    changed = read_tenant_files(tenant, write_csv(frame))
    assert not np.allclose(changed.size, panel.size)  # the whole panel's sizes moved...
    np.testing.assert_array_equal(changed.weeks(None, 3).size, early.size)  # ...not the fit's
    np.testing.assert_array_equal(panel.weeks().size, panel.size)  # all weeks: the same bytes


def test_size_from_an_attribute_is_kept_for_any_weeks(frame, tenant_factory, write_csv):
    table = _segments(write_csv, "segment,population\nnorth,100\nsouth,300\n")
    panel = read_tenant_files(tenant_factory(segment_size="population"), write_csv(frame),
                              segments_csv=table)
    assert not panel.size_from_kpi
    np.testing.assert_allclose(panel.weeks(2, 4).size, [0.5, 1.5])


def test_size_from_kpi_over_weeks_without_kpi_names_the_segment(frame, tenant, write_csv):
    frame.loc[(frame["segment"] == "south") & (frame["date"] < "2023-01-23"), "revenue"] = "0"
    panel = read_tenant_files(tenant, write_csv(frame))
    with pytest.raises(ValueError, match=r"'south'.*segment_size") as err:
        panel.weeks(None, 3)
    assert "2023-01-02 to 2023-01-16" in str(err.value)


def test_size_needs_positive_mean_kpi(frame, tenant, write_csv):
    frame.loc[frame["segment"] == "south", "revenue"] = "0"
    path = write_csv(frame)
    msg = _error(tenant, path)
    assert str(path) in msg and "column 'revenue'" in msg and "segment 'south'" in msg


# --------------------------------------------------------------------------- truth


def _write_truth(tmp_path, data) -> object:
    path = tmp_path / "truth.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_truth_is_parsed(frame, tenant, write_csv, tmp_path):
    data = _truth(tv=0.12, search=0)
    data["segments"] = {"north": {"uplift": 0.1}}
    panel = read_tenant_files(tenant, write_csv(frame), truth=_write_truth(tmp_path, data))
    assert panel.truth == data


def test_truth_may_hold_a_channel_that_lowers_the_kpi(frame, tenant, write_csv, tmp_path):
    data = {"channels": {"tv": {"elasticity": 0.12, "contribution_share": 0.2},
                         "search": {"elasticity": -0.03, "contribution_share": -0.05,
                                    "roi": -0.4}}}
    panel = read_tenant_files(tenant, write_csv(frame), truth=_write_truth(tmp_path, data))
    assert panel.truth == data


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ("[1, 2]", "top level"),
        ({"elasticity": 1}, "'channels'"),
        ({"channels": [1]}, "'channels'"),
        ({"channels": {"tv": {"elasticity": 0.1}}}, "'channels.search'"),
        ({"channels": {"tv": {"elasticity": 0.1}, "search": 3}}, "'channels.search'"),
        ({"channels": {"tv": {"roi": 2}, "search": {"elasticity": 0.1}}},
         "'channels.tv.elasticity'"),
        ({"channels": {"tv": {"elasticity": "0.1"}, "search": {"elasticity": 0.1}}},
         "'channels.tv.elasticity'"),
        ({"channels": {"tv": {"elasticity": True}, "search": {"elasticity": 0.1}}},
         "'channels.tv.elasticity'"),
        ({"channels": {"tv": {"elasticity": 0.1, "contribution_share": "big"},
                       "search": {"elasticity": 0.1}}}, "'channels.tv.contribution_share'"),
        ({"channels": {"tv": {"elasticity": 0.1, "roi": "n/a"},
                       "search": {"elasticity": 0.1}}}, "'channels.tv.roi'"),
        ({"channels": {"tv": {"elasticity": 0.1, "decay": 1.5},
                       "search": {"elasticity": 0.1}}}, "'channels.tv.decay'"),
        ({"channels": {"tv": {"elasticity": 0.1, "shape": -2},
                       "search": {"elasticity": 0.1}}}, "'channels.tv.shape'"),
        ({"channels": {"tv": {"elasticity": 0.1}, "search": {"elasticity": 0.1}},
          "segments": {"north": {"uplift_10pct": "big"}}}, "'segments.north.uplift_10pct'"),
        ({"channels": {"tv": {"elasticity": 0.1}, "search": {"elasticity": 0.1},
                       "radio": {"elasticity": 0.1}}}, "'radio' is not a channel"),
        ({"channels": {"tv": {"elasticity": 0.1, "contribution_share": 0.7},
                       "search": {"elasticity": 0.1, "contribution_share": 0.6}}},
         "shares add up to 1.3"),
        ({"channels": {"tv": {"elasticity": -0.1, "contribution_share": 0.1},
                       "search": {"elasticity": 0.1}}}, "disagree in sign"),
        ({"channels": {"tv": {"elasticity": -0.1, "contribution_share": -1.5},
                       "search": {"elasticity": 0.1}}}, "'channels.tv.contribution_share'"),
    ],
)
def test_truth_errors_name_file_and_key(frame, tenant, write_csv, tmp_path, data, key):
    path = _write_truth(tmp_path, data)
    msg = _error(tenant, write_csv(frame), truth=path)
    assert str(path) in msg and key in msg


def test_truth_invalid_json(frame, tenant, write_csv, tmp_path):
    path = _write_truth(tmp_path, '{"channels": ')
    msg = _error(tenant, write_csv(frame), truth=path)
    assert str(path) in msg and "not valid JSON" in msg


def test_truth_missing_file(frame, tenant, write_csv, tmp_path):
    path = tmp_path / "truth.json"
    msg = _error(tenant, write_csv(frame), truth=path)
    assert str(path) in msg and "not found" in msg


# --------------------------------------------------------------------------- read_tenant_csv


def test_read_tenant_csv_uses_the_data_source(frame, tenant_factory, write_csv, tmp_path):
    renamed = frame.rename(columns={"revenue": "Sales"})
    csv = write_csv(renamed)
    table = _segments(write_csv, "segment,population\nnorth,1\nsouth,3\n")
    truth = _write_truth(tmp_path, _truth(tv=0.1, search=0.05))
    tenant = tenant_factory(segment_size="population", data={"source": {
        "csv": str(csv), "columns": {"revenue": "Sales"}, "segments_csv": str(table),
        "truth": str(truth)}})
    panel = read_tenant_csv(tenant)
    assert panel.kpi[1, 2] == 1102.0
    np.testing.assert_allclose(panel.size, [0.5, 1.5])
    assert panel.truth["channels"]["tv"]["elasticity"] == 0.1


def test_read_tenant_csv_needs_a_csv_source(tenant_factory):
    synthetic = tenant_factory(data={"synthetic": {"seed": 1, "channels": {
        "tv": {"weekly_spend": 10}, "search": {"weekly_spend": 5}}}}, controls=[])
    with pytest.raises(DataError, match="data.source"):
        read_tenant_csv(synthetic)
