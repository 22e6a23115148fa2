"""Lift-test results a tenant brings (geo or time experiments on one channel).

CSV columns: ``channel``, ``start`` and ``end`` (first and last week of the changed spend,
ISO dates of week starts), ``spend_change`` (relative: 0.5 = +50 %, -1 = switched off),
``lift`` (measured incremental KPI over the measured weeks), optional ``lift_se`` (its standard
error; required for calibration), ``segments`` (``;``-separated; empty = every segment) and
``cooldown_weeks`` (weeks after ``end`` that were measured too, for carryover; default 0).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mmm_evidence.data.panel import Panel
from mmm_evidence.data.schema import DataError

REQUIRED = ("channel", "start", "end", "spend_change", "lift")
OPTIONAL = ("lift_se", "segments", "cooldown_weeks")


@dataclass(frozen=True)
class LiftTest:
    channel: str
    start: pd.Timestamp
    end: pd.Timestamp
    spend_change: float
    lift: float
    lift_se: float | None = None
    segments: tuple[str, ...] | None = None
    cooldown_weeks: int = 0
    label: str = ""

    def window(self, dates: pd.DatetimeIndex) -> tuple[int, int, int]:
        """(first changed week, last changed week + 1, end of the measured weeks) as indices."""
        t0 = int(dates.searchsorted(self.start))
        t_end = int(dates.searchsorted(self.end, side="right"))
        return t0, t_end, min(t_end + self.cooldown_weeks, len(dates))

    def changed_spend(self, spend: np.ndarray, dates: pd.DatetimeIndex,
                      segments: tuple[str, ...], channels: tuple[str, ...]) -> np.ndarray:
        """A copy of `spend` (G, T, C) with this test's change applied."""
        out = np.array(spend, dtype=float, copy=True)
        t0, t_end, _ = self.window(dates)
        rows = (np.arange(len(segments)) if self.segments is None
                else np.array([segments.index(s) for s in self.segments]))
        c = channels.index(self.channel)
        out[np.ix_(rows, np.arange(t0, t_end), [c])] *= 1.0 + self.spend_change
        return out

    def as_dict(self) -> dict:
        return {"label": self.label, "channel": self.channel,
                "start": self.start.date().isoformat(), "end": self.end.date().isoformat(),
                "spend_change": self.spend_change, "lift": self.lift, "lift_se": self.lift_se,
                "segments": list(self.segments) if self.segments else None,
                "cooldown_weeks": self.cooldown_weeks}


def _fail(path: Path, column: str, expected: str, lines: list[int], values: list) -> DataError:
    shown = ", ".join(f"line {ln}: {v!r}" for ln, v in list(zip(lines, values, strict=True))[:5])
    return DataError(f"{path}: column {column!r}: expected {expected}; "
                     f"{len(lines)} offending row(s), first: {shown}")


def read_lift_tests(path: str | Path, channels: tuple[str, ...], segments: tuple[str, ...],
                    dates: pd.DatetimeIndex) -> list[LiftTest]:
    """Read and check a lift-test CSV against the tenant's channels, segments and weeks."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: lift-test file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                        f"{', '.join(REQUIRED)} (+ optional {', '.join(OPTIONAL)}); found "
                        f"{', '.join(frame.columns)}")
    lines = list(range(2, len(frame) + 2))
    bad = [i for i, c in enumerate(frame["channel"]) if c not in channels]
    if bad:
        raise _fail(path, "channel", f"one of {', '.join(channels)}", [lines[i] for i in bad],
                    [frame["channel"][i] for i in bad])
    parsed = {}
    for col in ("start", "end"):
        values = pd.to_datetime(frame[col], format="ISO8601", errors="coerce")
        bad = [i for i, v in enumerate(values) if pd.isna(v) or v not in dates]
        if bad:
            raise _fail(path, col, f"a week start between {dates[0].date()} and "
                        f"{dates[-1].date()} that is in the data", [lines[i] for i in bad],
                        [frame[col][i] for i in bad])
        parsed[col] = values
    numbers = {}
    for col in ("spend_change", "lift", "lift_se", "cooldown_weeks"):
        if col not in frame.columns:
            continue
        raw = frame[col].str.strip()
        values = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
        bad = [i for i, (r, v) in enumerate(zip(raw, values, strict=True))
               if (r != "" and not np.isfinite(v))
               or (col in ("spend_change", "lift") and r == "")
               or (col == "spend_change" and v < -1)
               or (col == "lift_se" and r != "" and v <= 0)
               or (col == "cooldown_weeks" and r != "" and (v < 0 or v != int(v)))]
        if bad:
            expected = {"spend_change": "a number >= -1", "lift": "a number",
                        "lift_se": "a positive number (or empty)",
                        "cooldown_weeks": "a whole number >= 0 (or empty)"}[col]
            raise _fail(path, col, expected, [lines[i] for i in bad], [frame[col][i]
                                                                       for i in bad])
        numbers[col] = values
    tests = []
    for i in range(len(frame)):
        if parsed["end"][i] < parsed["start"][i]:
            raise _fail(path, "end", "a week on or after 'start'", [lines[i]], [frame["end"][i]])
        segs = None
        if "segments" in frame.columns and frame["segments"][i].strip():
            segs = tuple(s.strip() for s in frame["segments"][i].split(";") if s.strip())
            unknown = [s for s in segs if s not in segments]
            if unknown:
                raise _fail(path, "segments", f"segments of the data ({', '.join(segments)})",
                            [lines[i]], [";".join(unknown)])
        se = numbers.get("lift_se", pd.Series([np.nan] * len(frame)))[i]
        cool = numbers.get("cooldown_weeks", pd.Series([np.nan] * len(frame)))[i]
        tests.append(LiftTest(
            channel=frame["channel"][i], start=parsed["start"][i], end=parsed["end"][i],
            spend_change=float(numbers["spend_change"][i]), lift=float(numbers["lift"][i]),
            lift_se=None if np.isnan(se) else float(se), segments=segs,
            cooldown_weeks=0 if np.isnan(cool) else int(cool), label=f"line {lines[i]}"))
    return tests


def attach_lift_tests(panel: Panel, path: str | Path | None, calibrate: bool = False
                      ) -> Panel:
    """The panel with its lift tests (read from `path`, checked against the panel's data:
    ``check_lift_tests``) in ``meta["lift_tests"]``; ``calibrate``: the tenant calibrates
    with them, so each needs its standard error."""
    if path is None:
        return panel
    tests = read_lift_tests(path, panel.channels, panel.segments, panel.dates)
    check_lift_tests(tests, panel, Path(path), calibrate)
    return replace(panel, meta={**panel.meta, "lift_tests": tests})


#: A lift test's standard error below this fraction of the KPI its cells hold is taken for a
#: typo: as a calibration prior it would override every other week of the data.
MIN_RELATIVE_SE = 1e-6


def check_lift_tests(tests: list[LiftTest], panel: Panel, path: Path,
                     calibrate: bool = False) -> None:
    """Refuse lift tests the data cannot hold, naming the file and the test's line: a change
    of 0 (it measures nothing), measured weeks past the data's last week (the implied lift
    would be cut short), a lift larger than all the KPI of its segment-weeks, a standard
    error below ``MIN_RELATIVE_SE`` of that KPI, the same test twice, and (``calibrate``) a
    test without a standard error."""
    if calibrate and not tests:
        raise DataError(f"{path}: calibrate_with_lift_tests is set, but the file holds no "
                        f"lift test")
    seen: dict[tuple, str] = {}
    for test in tests:
        where = f"{path}: lift test {test.label}"
        if test.spend_change == 0:
            raise DataError(f"{where}: spend_change is 0: the test changes nothing")
        t0, t_end, t_meas = test.window(panel.dates)
        if t_end + test.cooldown_weeks > panel.n_weeks:
            raise DataError(f"{where}: its measured weeks (to {test.end.date()} plus "
                            f"{test.cooldown_weeks} cooldown week(s)) run past the data's last "
                            f"week {panel.dates[-1].date()}; the model's lift would be cut short")
        rows = (list(range(panel.n_segments)) if test.segments is None
                else [panel.segments.index(s) for s in test.segments])
        held = float(np.abs(panel.kpi[np.ix_(rows, range(t0, t_meas))]).sum())
        if abs(test.lift) > held:
            raise DataError(f"{where}: lift {test.lift:g} is larger than all the KPI of its "
                            f"segment-weeks ({held:g}): not a lift of this data")
        if test.lift_se is not None and test.lift_se < MIN_RELATIVE_SE * held:
            raise DataError(f"{where}: lift_se {test.lift_se:g} is below {MIN_RELATIVE_SE:g} "
                            f"of the KPI of its segment-weeks ({held:g}): a typo? As a "
                            f"calibration prior it would outweigh every other week")
        if calibrate and test.lift_se is None:
            raise DataError(f"{where}: calibrate_with_lift_tests needs each test's standard "
                            f"error (lift_se)")
        key = (test.channel, test.start, test.end, test.spend_change, test.segments,
               test.cooldown_weeks)
        if key in seen:
            raise DataError(f"{where}: the same test as {seen[key]}")
        seen[key] = test.label
