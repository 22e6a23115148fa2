"""The tenant CSV schema: check a raw frame and return it in the canonical layout.

One row per (week, segment) with the columns ``date``, ``segment``, the KPI, one
``spend_<channel>`` per channel and the controls. Extra columns are ignored. A frame with no
``segment`` column at all (and none mapped) is national data: one segment named ``national``.

Every check raises :class:`DataError` with a message that names the file, the column, what was
expected and the first offending rows as CSV line numbers (the header is line 1, so the row
with frame index ``i`` is line ``i + 2``). Example::

    data/acme.csv: column 'spend_tv' (CSV column 'TV_Spend'): expected a number;
    2 offending rows, first: line 3: 'abc', line 7: 'n/a'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from mmm_evidence.config import TenantConfig

__all__ = ["DataError", "NATIONAL", "MIN_WEEKS", "canonical_columns", "validate_tenant_frame"]

NATIONAL = "national"
"""Segment name given to national data (a CSV without a segment column)."""

MIN_WEEKS = 2
"""Fewest weekly rows a segment may have."""

MAX_SHOWN = 5
"""How many offending rows (or segments, or dates) an error message shows."""

_ISO_DATE = "ISO8601"


class DataError(ValueError):
    """Tenant data is missing, unreadable or does not follow the schema."""


def canonical_columns(tenant: TenantConfig, *, national: bool = False) -> list[str]:
    """The canonical column names of a tenant's CSV, in order."""
    head = ["date"] if national else ["date", "segment"]
    return [*head, tenant.kpi, *tenant.spend_columns, *tenant.controls]


# --------------------------------------------------------------------------- formatting


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _show(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "<missing>"
    return repr(value) if isinstance(value, str) else str(value)


def _rows(lines: np.ndarray, mask: np.ndarray, show: Callable[[int], str]) -> str:
    """'N offending rows, first: line 3: 'x', ...' for the rows (positions) where mask is true.

    Only the shown rows are formatted, so this stays cheap on big frames.
    """
    where = np.flatnonzero(mask)
    shown = ", ".join(f"line {lines[i]}: {show(int(i))}" for i in where[:MAX_SHOWN])
    return f"{_plural(len(where), 'offending row')}, first: {shown}"


def _value_of(values: Sequence[object] | pd.Series) -> Callable[[int], str]:
    """A formatter showing the value at a position."""
    if isinstance(values, pd.Series):
        return lambda i: _show(values.iloc[i])
    return lambda i: _show(values[i])


def _missing(_: int) -> str:
    return "<missing>"


class _Names:
    """Canonical column name -> how a message names it (with the CSV's own name if mapped)."""

    def __init__(self, csv_names: dict[str, str]) -> None:
        self.csv_names = csv_names

    def __call__(self, name: str) -> str:
        csv_name = self.csv_names.get(name, name)
        if csv_name == name:
            return f"column '{name}'"
        return f"column '{name}' (CSV column '{csv_name}')"


# --------------------------------------------------------------------------- checks


def _check_separator(frame: pd.DataFrame, source: str) -> None:
    """A header read as one column holding another separator: the file is not comma-separated
    (a spreadsheet export with ';' or tabs)."""
    if len(frame.columns) != 1:
        return
    header = str(frame.columns[0])
    for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if sep in header:
            raise DataError(
                f"{source}: the header reads as one column {header!r}: the file looks "
                f"{name}-separated; expected a comma-separated CSV (export it with ',' "
                f"between columns and '.' as the decimal point)")


def _select_columns(
    frame: pd.DataFrame, tenant: TenantConfig, source: str, columns: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, str], bool]:
    """Pick the canonical columns out of the raw frame; return (frame, csv names, national)."""
    present = [str(c) for c in frame.columns]
    national = "segment" not in columns and "segment" not in present
    wanted = canonical_columns(tenant, national=national)
    allowed = canonical_columns(tenant)
    unknown = [key for key in columns if key not in allowed]
    if unknown:
        raise DataError(
            f"{source}: column mapping key(s) {', '.join(repr(k) for k in unknown)} are not "
            f"canonical column names; expected keys among {', '.join(allowed)} (columns the "
            f"model does not use are named by their own name: the privacy count by the "
            f"tenant's count_column, the segment size by segment_size)"
        )
    dangling = {key: col for key, col in columns.items() if col not in present}
    if dangling:
        listed = ", ".join(f"{key!r} -> {col!r}" for key, col in dangling.items())
        raise DataError(
            f"{source}: column mapping {listed}: the CSV has no such column; "
            f"columns present: {', '.join(present) or '(none)'}"
        )
    csv_names = {name: columns.get(name, name) for name in wanted}
    missing = [name for name in wanted if csv_names[name] not in present]
    if missing:
        names = _Names(csv_names)
        raise DataError(
            f"{source}: missing {_plural(len(missing), 'column')}: "
            f"{', '.join(names(m).removeprefix('column ') for m in missing)}; "
            f"columns present: {', '.join(present) or '(none)'}"
        )
    selected = pd.DataFrame({name: frame[csv_names[name]] for name in wanted})
    return selected, csv_names, national


def _line_numbers(frame: pd.DataFrame) -> np.ndarray:
    """CSV line numbers of the frame's rows: index + 2 for an integer index, else position + 2."""
    if pd.api.types.is_integer_dtype(frame.index.dtype):
        return np.asarray(frame.index, dtype=np.int64) + 2
    return np.arange(len(frame), dtype=np.int64) + 2


def _check_present(
    frame: pd.DataFrame, names: list[str], label: _Names, lines: np.ndarray, source: str
) -> None:
    """Raise if any of the named columns has missing values."""
    problems = []
    for name in names:
        mask = frame[name].isna().to_numpy()
        if mask.any():
            problems.append(f"{source}: {label(name)}: expected a value in every row; "
                            f"{_rows(lines, mask, _missing)}")
    if problems:
        raise DataError("\n".join(problems))


def _parse_dates(
    raw: pd.Series, label: _Names, lines: np.ndarray, source: str, date_format: str | None
) -> pd.Series:
    """Parse the date column; raise naming the rows that are not dates."""
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = pd.Series(raw)
    else:
        text = raw.astype(str)
        try:
            parsed = pd.to_datetime(text, format=date_format or _ISO_DATE, errors="coerce")
        except ValueError as exc:
            if date_format and "directive" in str(exc):
                raise DataError(f"{source}: data.source.date_format {date_format!r} is not a "
                                f"date format ({exc}); use strftime codes such as %d/%m/%Y"
                                ) from None
            if "timezone" not in str(exc).lower():
                raise DataError(f"{source}: {label('date')}: dates could not be read: {exc}"
                                ) from None
            # offsets that change over the year (daylight saving time): each date's own
            # wall-clock time, as for a constant offset below
            parsed = pd.Series([_local_time(v, date_format) for v in text], index=text.index)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        parsed = parsed.dt.tz_localize(None)
    bad = (parsed.isna() | (parsed < pd.Timestamp.min) | (parsed > pd.Timestamp.max)).to_numpy()
    if bad.any():
        expected = f"a date in the format {date_format!r}" if date_format else \
            "an ISO date like 2024-01-01 (set data.source.date_format for other formats)"
        if not date_format and raw[bad].astype(str).map(_iso_out_of_range).all():
            expected = (f"a date between {pd.Timestamp.min:%Y} and {pd.Timestamp.max:%Y} "
                        "(what pandas can hold)")
        raise DataError(f"{source}: {label('date')}: expected {expected}; "
                        f"{_rows(lines, bad, _value_of(raw))}")
    return parsed.astype("datetime64[ns]")


_ISO_PREFIX = re.compile(r"^\s*(\d{4,})-(\d{1,2})-(\d{1,2})")


def _iso_out_of_range(value: str) -> bool:
    """An ISO calendar date (valid month and day) whose year pandas cannot hold."""
    match = _ISO_PREFIX.match(value)
    if not match:
        return False
    year, month, day = (int(g) for g in match.groups())
    in_range = pd.Timestamp.min.year < year < pd.Timestamp.max.year
    return not in_range and 1 <= month <= 12 and 1 <= day <= 31


def _local_time(value: str, date_format: str | None) -> pd.Timestamp:
    """``value`` parsed alone, its UTC offset dropped (the local wall-clock time); NaT when it
    is not a date."""
    try:
        stamp = pd.Timestamp(pd.to_datetime(value, format=date_format or _ISO_DATE))
    except (ValueError, TypeError, OverflowError):
        return pd.NaT
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


#: A number written for people rather than machines: a currency sign, thousands separators,
#: or a decimal comma.
_FORMATTED_NUMBER = re.compile(r"^\s*[-+]?\s*[$€£¥]?\s*\d{1,3}([,.' \u00a0]\d{3})+([.,]\d+)?\s*$"
                               r"|^\s*[-+]?\s*[$€£¥]\s*[\d.,]+\s*$|^\s*[-+]?\d+,\d+\s*$")


def _number_format_hint(values: pd.Series) -> str:
    """A hint when the offending values look like formatted numbers ('1,234.5', '$12',
    '3,5'): the file must hold plain numbers."""
    if any(isinstance(v, str) and _FORMATTED_NUMBER.match(v) for v in values.iloc[:MAX_SHOWN]):
        return (" — these look like formatted numbers (a currency sign, thousands separators "
                "or a decimal comma): write plain numbers with a '.' decimal point, e.g. "
                "1234567.89")
    return ""


def _parse_numbers(
    frame: pd.DataFrame, names: list[str], label: _Names, lines: np.ndarray, source: str
) -> dict[str, np.ndarray]:
    """Parse numeric columns; raise naming the non-numeric and the missing values."""
    values: dict[str, np.ndarray] = {}
    not_numbers, missing = [], []
    for name in names:
        raw = frame[name]
        absent = raw.isna().to_numpy()
        if pd.api.types.is_bool_dtype(raw.dtype):
            raw = raw.astype(float)
        number = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(number) & ~absent
        if bad.any():
            not_numbers.append(f"{source}: {label(name)}: expected a finite number; "
                               f"{_rows(lines, bad, _value_of(raw))}"
                               f"{_number_format_hint(raw[bad])}")
        if absent.any():
            missing.append(f"{source}: {label(name)}: expected a number in every row, found "
                           f"missing values; {_rows(lines, absent, _missing)}")
        values[name] = number
    if not_numbers or missing:
        raise DataError("\n".join(not_numbers or missing))
    return values


def _check_non_negative(
    values: dict[str, np.ndarray], names: list[str], label: _Names, lines: np.ndarray,
    source: str,
) -> None:
    problems = []
    for name in names:
        mask = values[name] < 0
        if mask.any():
            problems.append(f"{source}: {label(name)}: expected spend >= 0; "
                            f"{_rows(lines, mask, _value_of(values[name]))}")
    if problems:
        raise DataError("\n".join(problems))


def _check_cadence(dates: pd.Series, label: _Names, source: str) -> None:
    """Raise when the distinct dates are typically days or months apart: daily or monthly
    data, not weekly (said before the weekday check, whose message would not say so). Weekly
    data has one weekday for most dates; only when no weekday holds half of them is the
    cadence looked at (a few dates off the usual weekday are the weekday check's)."""
    distinct = np.unique(dates.to_numpy(dtype="datetime64[ns]"))
    weekdays = np.bincount(pd.DatetimeIndex(distinct).day_of_week, minlength=7)
    if len(distinct) < 3 or weekdays.max() >= 0.5 * len(distinct):
        return
    step = float(np.median(np.diff(distinct) / np.timedelta64(1, "D")))
    cadence = (", which looks daily" if step < 2 else "" if step < 6 else
               ", which looks monthly" if 27 <= step <= 32 else
               ", which looks quarterly" if 88 <= step <= 93 else None)
    if cadence is not None:
        days = f"{step:g} day" + ("" if step == 1 else "s")
        raise DataError(f"{source}: {label('date')}: expected weekly data (one row per week "
                        f"and segment, dates 7 days apart); the dates are {days} apart "
                        f"(median){cadence}: aggregate to weeks first")


def _check_weekday(dates: pd.Series, label: _Names, lines: np.ndarray, source: str) -> None:
    weekday = dates.dt.day_of_week.to_numpy()
    counts = np.bincount(weekday, minlength=7)
    usual = int(np.argmax(counts))
    off = weekday != usual
    at_midnight = (dates == dates.dt.normalize()).to_numpy()
    off |= ~at_midnight
    if off.any():
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=usual)  # 2024-01-01 is a Monday

        def shown(i: int) -> str:
            d = dates.iloc[i]
            return f"{d:%Y-%m-%d %H:%M}".removesuffix(" 00:00") + f" ({d:%A})"

        raise DataError(
            f"{source}: {label('date')}: expected weekly data with every date on the same "
            f"weekday ({day:%A}, the weekday of most rows) at midnight; "
            f"{_rows(lines, off, shown)}"
        )


def _check_weekly_step(weeks: np.ndarray, dates: pd.Series, label: _Names, lines: np.ndarray,
                       source: str) -> None:
    """Raise if the distinct dates step by a multiple of a week larger than one week."""
    distinct = np.unique(weeks)
    if len(distinct) < 2:
        return
    step = int(np.gcd.reduce(np.diff(distinct)))
    if step > 1:
        first = [int(np.flatnonzero(weeks == w)[0]) for w in distinct[:2]]
        shown = ", ".join(f"line {lines[i]}: {_show(dates.iloc[i])}" for i in first)
        raise DataError(f"{source}: {label('date')}: expected weekly dates; the dates are "
                        f"{7 * step} days apart (first two: {shown})")


def _check_duplicates(frame: pd.DataFrame, label: _Names, lines: np.ndarray,
                      source: str) -> None:
    keys = ["date", "segment"]
    dup = frame.duplicated(keys, keep="first").to_numpy()
    if not dup.any():
        return
    first_line = pd.Series(lines, index=frame.index).groupby(
        [frame["date"], frame["segment"]], sort=False).transform("first").to_numpy()

    def shown(i: int) -> str:
        return (f"{frame['date'].iloc[i]:%Y-%m-%d}, {frame['segment'].iloc[i]!r} "
                f"(same as line {first_line[i]})")

    raise DataError(f"{source}: {label('date')} and {label('segment')}: expected one row per "
                    f"(date, segment); {_rows(lines, dup, shown)}")


def _check_rows_per_segment(frame: pd.DataFrame, label: _Names, lines: np.ndarray,
                            source: str) -> None:
    counts = frame.groupby("segment", sort=True)["date"].size()
    short = counts[counts < MIN_WEEKS]
    if short.empty:
        return
    first_line = pd.Series(lines, index=frame.index).groupby(frame["segment"]).min()
    shown = "; ".join(
        f"segment {seg!r} has {_plural(int(n), 'row')} (line {first_line[seg]})"
        for seg, n in short.iloc[:MAX_SHOWN].items()
    )
    raise DataError(f"{source}: {label('segment')}: expected at least {MIN_WEEKS} weekly rows "
                    f"per segment; {_plural(len(short), 'segment')} too short: {shown}")


def _check_calendar(frame: pd.DataFrame, weeks: np.ndarray, label: _Names,
                    source: str) -> None:
    """Raise unless every segment has every week between the first and the last date."""
    codes, segments = pd.factorize(frame["segment"], sort=True)
    n_weeks = int(weeks.max()) + 1
    present = np.zeros((len(segments), n_weeks), dtype=bool)
    present[codes, weeks] = True
    if present.all():
        return
    start = frame["date"].min()
    calendar = pd.date_range(start, periods=n_weeks, freq="7D")
    nowhere = ~present.any(axis=0)
    parts = []
    if nowhere.any():
        gone = calendar[nowhere]
        shown = ", ".join(f"{d:%Y-%m-%d}" for d in gone[:MAX_SHOWN])
        parts.append(f"{_plural(len(gone), 'week')} missing for every segment: {shown}")
    gaps = ~present & ~nowhere
    bad_segments = np.flatnonzero(gaps.any(axis=1))
    for g in bad_segments[:MAX_SHOWN]:
        gone = calendar[gaps[g]]
        shown = ", ".join(f"{d:%Y-%m-%d}" for d in gone[:MAX_SHOWN])
        parts.append(f"segment {segments[g]!r} is missing {_plural(len(gone), 'week')}: {shown}")
    if len(bad_segments) > MAX_SHOWN:
        parts.append(f"and {len(bad_segments) - MAX_SHOWN} more segments")
    raise DataError(
        f"{source}: {label('date')} and {label('segment')}: expected every segment to have "
        f"every week from {calendar[0]:%Y-%m-%d} to {calendar[-1]:%Y-%m-%d} "
        f"({n_weeks} weeks); " + "; ".join(parts)
    )


# --------------------------------------------------------------------------- entry point


def validate_tenant_frame(
    frame: pd.DataFrame,
    tenant: TenantConfig,
    source: str,
    *,
    columns: dict[str, str] | None = None,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Check a tenant's raw frame and return it canonical, sorted by segment then date.

    ``columns`` maps canonical names to the frame's own column names; ``date_format`` is a
    ``strftime`` format for the date column (default: ISO 8601). The result has the columns
    ``date`` (datetime64[ns]), ``segment`` (str), the KPI, ``spend_<channel>`` and the controls
    (float), a fresh integer index, and no other columns. Without a ``segment`` column the
    data is national: one segment named ``national``.
    """
    columns = dict(columns or {})
    if len(frame.columns) == 0:
        raise DataError(f"{source}: the file is empty; expected a header line with the columns "
                        f"{', '.join(canonical_columns(tenant))}")
    if len(frame) == 0:
        raise DataError(f"{source}: no data rows; expected one row per week and segment "
                        f"below the header")
    _check_separator(frame, source)
    selected, csv_names, national = _select_columns(frame, tenant, source, columns)
    label = _Names(csv_names)
    lines = _line_numbers(frame)

    keys = ["date"] if national else ["date", "segment"]
    _check_present(selected, keys, label, lines, source)
    dates = _parse_dates(selected["date"], label, lines, source, date_format)
    numeric = [tenant.kpi, *tenant.spend_columns, *tenant.controls]
    values = _parse_numbers(selected, numeric, label, lines, source)
    _check_non_negative(values, tenant.spend_columns, label, lines, source)
    _check_cadence(dates, label, source)
    _check_weekday(dates, label, lines, source)

    segment = (pd.Series(NATIONAL, index=selected.index, dtype=object) if national
               else selected["segment"].astype(str))
    canonical = pd.DataFrame({"date": dates.to_numpy(), "segment": segment.to_numpy(),
                              **values}, index=selected.index)
    canonical["segment"] = canonical["segment"].astype(str)
    day0 = canonical["date"].min()
    weeks = ((canonical["date"] - day0) // pd.Timedelta(days=7)).to_numpy(dtype=np.int64)
    _check_weekly_step(weeks, canonical["date"], label, lines, source)
    _check_duplicates(canonical, label, lines, source)
    _check_rows_per_segment(canonical, label, lines, source)
    _check_calendar(canonical, weeks, label, source)

    ordered = canonical.sort_values(["segment", "date"], kind="stable")
    return ordered.reset_index(drop=True)
