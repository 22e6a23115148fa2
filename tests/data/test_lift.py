import textwrap

import pandas as pd
import pytest

from mmm_evidence.config import load_tenant
from mmm_evidence.data.lift import read_lift_tests
from mmm_evidence.data.schema import DataError
from mmm_evidence.data.synthetic import _Process, read_synthetic_tenant, simulate_tenant
from tests.paths import PARAMS

DATES = pd.date_range("2024-01-01", periods=20, freq="7D")
CHANNELS = ("tv", "search")
SEGMENTS = ("north", "south")
HEADER = "channel,start,end,spend_change,lift,lift_se,segments,cooldown_weeks\n"


def write(tmp_path, body):
    path = tmp_path / "lift.csv"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def test_reads_a_valid_file(tmp_path):
    path = write(tmp_path, """\
        tv,2024-01-29,2024-02-19,1.0,5000,800,north,3
        search,2024-03-04,2024-03-11,-1,-1200,,,
        """)
    tv, search = read_lift_tests(path, CHANNELS, SEGMENTS, DATES)
    assert (tv.segments, tv.cooldown_weeks, tv.lift_se) == (("north",), 3, 800.0)
    assert tv.window(DATES) == (4, 8, 11)
    assert (search.segments, search.lift_se, search.cooldown_weeks) == (None, None, 0)
    assert search.spend_change == -1.0 and search.label == "line 3"


@pytest.mark.parametrize("row, column, shown", [
    ("radio,2024-01-29,2024-02-19,1,5,1,,", "channel", "'radio'"),
    ("tv,2024-01-30,2024-02-19,1,5,1,,", "start", "'2024-01-30'"),
    ("tv,2024-01-29,2026-02-19,1,5,1,,", "end", "'2026-02-19'"),
    ("tv,2024-01-29,2024-02-19,-2,5,1,,", "spend_change", "'-2'"),
    ("tv,2024-01-29,2024-02-19,1,,1,,", "lift", "''"),
    ("tv,2024-01-29,2024-02-19,1,5,0,,", "lift_se", "'0'"),
    ("tv,2024-01-29,2024-02-19,1,5,1,east,", "segments", "'east'"),
    ("tv,2024-02-19,2024-01-29,1,5,1,,", "end", "'2024-01-29'"),
])
def test_bad_rows_name_file_column_and_line(tmp_path, row, column, shown):
    path = write(tmp_path, row + "\n")
    with pytest.raises(DataError) as err:
        read_lift_tests(path, CHANNELS, SEGMENTS, DATES)
    message = str(err.value)
    assert str(path) in message and f"column {column!r}" in message
    assert f"line 2: {shown}" in message


def test_missing_columns_and_file(tmp_path):
    path = tmp_path / "lift.csv"
    path.write_text("channel,start\ntv,2024-01-01\n")
    with pytest.raises(DataError, match="missing column.*end, spend_change, lift"):
        read_lift_tests(path, CHANNELS, SEGMENTS, DATES)
    with pytest.raises(DataError, match="not found"):
        read_lift_tests(tmp_path / "nope.csv", CHANNELS, SEGMENTS, DATES)


def test_synthetic_lift_tests_measure_the_true_process(tmp_path):
    cfg = load_tenant(PARAMS / "tenants" / "alpine_telecom.yaml")
    sim = simulate_tenant(cfg)
    [truth] = sim.truth["lift_tests"]
    spec = cfg.data.synthetic.lift_tests[0]
    assert truth["true_lift"] > 0  # doubling TV raises revenue
    # measured = true + noise of the stated SE
    assert abs(truth["lift"] - truth["true_lift"]) < 4 * truth["lift_se"]
    assert truth["lift_se"] == pytest.approx(spec.se_fraction * truth["true_lift"], rel=1e-6)
    # the true lift is the process's own difference over the measured weeks
    proc = _Process(cfg.data.synthetic, list(cfg.channels), list(cfg.controls))
    assert proc.lift_tests()[0]["true_lift"] == pytest.approx(truth["true_lift"])
    panel = read_synthetic_tenant(cfg, tmp_path)
    [test] = panel.meta["lift_tests"]
    assert test.channel == "tv" and len(test.segments) == 4 and test.cooldown_weeks == 6


def _panel(kpi: float = 100.0):
    import numpy as np

    from mmm_evidence.data.panel import Panel

    g, t = len(SEGMENTS), len(DATES)
    return Panel(tenant="t", dates=DATES, segments=SEGMENTS, channels=CHANNELS,
                 control_names=(), kpi=np.full((g, t), kpi), spend=np.ones((g, t, 2)),
                 controls=np.zeros((g, t, 0)), size=np.ones(g), kpi_name="revenue")


@pytest.mark.parametrize("row, says", [
    ("tv,2024-01-29,2024-02-19,0,5,1,,", "spend_change is 0: the test changes nothing"),
    ("tv,2024-04-29,2024-05-13,1,5,1,,3", "run past the data's last week 2024-05-13"),
    # 4 changed weeks x 1 segment x KPI 100 = 400 in the measured cells
    ("tv,2024-01-29,2024-02-19,1,401,1,north,", "larger than all the KPI of its"),
    ("tv,2024-01-29,2024-02-19,1,50,1e-300,north,", "lift_se 1e-300 is below 1e-06"),
])
def test_lift_tests_the_data_cannot_hold_are_refused(tmp_path, row, says):
    from mmm_evidence.data.lift import attach_lift_tests

    path = write(tmp_path, row + "\n")
    with pytest.raises(DataError) as err:
        attach_lift_tests(_panel(), path)
    assert str(err.value).startswith(f"{path}: lift test line 2: ") and says in str(err.value)


def test_calibration_needs_every_standard_error_and_a_test_is_given_once(tmp_path):
    from mmm_evidence.data.lift import attach_lift_tests

    path = write(tmp_path, "tv,2024-01-29,2024-02-19,1,50,,north,\n")
    assert attach_lift_tests(_panel(), path).meta["lift_tests"]  # fine without calibrating
    with pytest.raises(DataError, match=r"line 2: calibrate_with_lift_tests needs"):
        attach_lift_tests(_panel(), path, calibrate=True)
    with pytest.raises(DataError, match=r"calibrate_with_lift_tests is set, but the file "
                                        r"holds no lift test"):
        attach_lift_tests(_panel(), write(tmp_path, ""), calibrate=True)
    twice = write(tmp_path, "tv,2024-01-29,2024-02-19,1,50,5,north,\n"
                            "tv,2024-01-29,2024-02-19,1,60,5,north,\n")
    with pytest.raises(DataError, match=r"lift test line 3: the same test as line 2"):
        attach_lift_tests(_panel(), twice)
