"""Read a tenant's own files (data CSV, segment table, truth JSON) into a validated Panel.

- The data CSV is read as text and checked by :func:`validate_tenant_frame`; segments are
  strings exactly as written. Blank lines (and rows whose fields are all empty) are ignored;
  line numbers in error messages are the file's own, with the header as line 1.
- A CSV with no ``segment`` column (and none mapped) is national data: one segment named
  ``national``.
- The segment table (optional) needs a ``segment`` column with unique values covering every
  segment of the data; it becomes ``Panel.attributes``, indexed by segment in panel order.
- Segment size is the ``tenant.segment_size`` attribute column if set, else each segment's
  mean KPI; either way normalised to mean 1.
- Truth (optional) is a JSON object with ``channels.<channel>.elasticity`` for every channel.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mmm_evidence.config import TenantConfig
from mmm_evidence.data.panel import Panel, kpi_size
from mmm_evidence.data.schema import MAX_SHOWN, DataError, validate_tenant_frame

__all__ = ["DataError", "read_tenant_csv", "read_tenant_files"]

# pandas < 3 parses floats with a fast, not always exact, converter unless told otherwise;
# pandas 3 is exact by default and deprecates the option.
_EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}


def _read_csv(path: Path, what: str, text_columns: list[str] | None = None) -> pd.DataFrame:
    """Read a CSV, keeping the file's line numbers (minus 2) in the index.

    ``text_columns`` are read as text and the rest typed by pandas (fast for big numeric
    files); ``None`` reads every column as text.
    """
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    dtype = str if text_columns is None else dict.fromkeys(text_columns, str)
    try:
        frame = pd.read_csv(path, dtype=dtype, skip_blank_lines=False, low_memory=False,
                            **_EXACT_FLOATS)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a header line and rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: not a readable CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    _refuse_duplicate_header(path, what)
    frame.columns = [str(c) for c in frame.columns]
    return frame.loc[frame.notna().any(axis=1)]


def _refuse_duplicate_header(path: Path, what: str) -> None:
    """A header that names a column twice: pandas would rename the second ``Sales.1`` and
    read the first, whichever was meant."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header, start=1):
        positions.setdefault(name.strip(), []).append(i)
    twice = {name: at for name, at in positions.items() if len(at) > 1 and name}
    if twice:
        listed = "; ".join(f"{name!r} in columns {', '.join(map(str, at))}"
                           for name, at in twice.items())
        raise DataError(f"{path}: line 1: the {what}'s header names a column more than once "
                        f"({listed}); every column needs its own name")


def _read_segments(path: Path, segments: tuple[str, ...], segment_column: str = "segment"
                   ) -> pd.DataFrame:
    """The segment attribute table indexed by segment (str), in the order of ``segments``. Its
    segment names are in column ``segment``, or in ``segment_column`` (the data file's own
    name for it, as the tenant's column mapping gives it)."""
    table = _read_csv(path, "segment table")
    if "segment" not in table.columns and segment_column in table.columns:
        table = table.rename(columns={segment_column: "segment"})
    if "segment" not in table.columns:
        named = ("'segment'" if segment_column == "segment"
                 else f"'segment' or {segment_column!r} (the data file's segment column)")
        raise DataError(f"{path}: missing column {named}; columns present: "
                        f"{', '.join(table.columns) or '(none)'}")
    lines = np.asarray(table.index, dtype=np.int64) + 2
    names = table["segment"]
    absent = names.isna().to_numpy()
    if absent.any():
        shown = ", ".join(f"line {n}" for n in lines[absent][:MAX_SHOWN])
        raise DataError(f"{path}: column 'segment': expected a segment name in every row; "
                        f"{int(absent.sum())} empty, first: {shown}")
    dup = names.duplicated(keep=False).to_numpy()
    if dup.any():
        shown = ", ".join(f"line {n}: {v!r}" for n, v in
                          zip(lines[dup][:MAX_SHOWN], names[dup].iloc[:MAX_SHOWN], strict=True))
        raise DataError(f"{path}: column 'segment': expected unique segment names; "
                        f"duplicated rows, first: {shown}")
    known = set(names)
    missing = [s for s in segments if s not in known]
    if missing:
        shown = ", ".join(repr(s) for s in missing[:MAX_SHOWN])
        more = f" and {len(missing) - MAX_SHOWN} more" if len(missing) > MAX_SHOWN else ""
        raise DataError(f"{path}: column 'segment': expected a row for every segment of the "
                        f"data; {len(missing)} missing: {shown}{more}")
    table = table.set_index("segment").loc[list(segments)]
    table.index = pd.Index([str(s) for s in segments], name="segment")
    for column in table.columns:  # numeric attributes become numbers, the rest stay text
        number = pd.to_numeric(table[column], errors="coerce")
        if number.notna().sum() == table[column].notna().sum():
            table[column] = number
    return table


def _segment_size(
    tenant: TenantConfig, kpi: np.ndarray, segments: tuple[str, ...], csv: Path,
    attributes: pd.DataFrame | None, segments_csv: Path | None, dates: pd.DatetimeIndex,
) -> np.ndarray:
    """Segment size from the attribute column ``tenant.segment_size`` or the mean KPI; mean 1."""
    column = tenant.segment_size
    if column is not None:
        if attributes is None or segments_csv is None:
            raise DataError(f"{csv}: tenant {tenant.name!r} key 'segment_size' names the "
                            f"attribute column {column!r}, but no segments_csv is given")
        if column not in attributes.columns:
            raise DataError(f"{segments_csv}: missing column {column!r} (the tenant's "
                            f"segment_size); columns present: segment, "
                            f"{', '.join(attributes.columns)}")
        size = pd.to_numeric(attributes[column], errors="coerce").to_numpy(dtype=float,
                                                                          na_value=np.nan)
        bad = ~(np.isfinite(size) & (size > 0))
        if bad.any():
            raw = attributes[column]
            shown = ", ".join(
                f"segment {segments[i]!r}: "
                + ("<missing>" if pd.isna(raw.iloc[i]) else repr(_plain_value(raw.iloc[i])))
                for i in np.flatnonzero(bad)[:MAX_SHOWN].tolist())
            raise DataError(f"{segments_csv}: column {column!r}: expected a number > 0 "
                            f"(segment size); offending segments: {shown}")
    else:
        try:  # the one definition, also Panel.weeks' for the weeks a fit keeps
            return kpi_size(kpi, segments, dates)
        except ValueError as exc:
            raise DataError(f"{csv}: column {tenant.kpi!r}: {exc}") from None
    return size / size.mean()


def _plain_value(value: object) -> object:
    """A numpy scalar as the Python value it holds (shown as 0, not np.int64(0))."""
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _read_truth(path: Path, channels: list[str]) -> dict:
    """Parse and check the truth JSON: ``channels.<c>.elasticity`` numeric for every channel."""
    if not path.is_file():
        raise DataError(f"{path}: truth file not found")
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(truth, dict):
        raise DataError(f"{path}: expected a JSON object at the top level, got "
                        f"{type(truth).__name__}")
    per_channel = truth.get("channels")
    if not isinstance(per_channel, dict):
        got = "nothing" if per_channel is None else type(per_channel).__name__
        raise DataError(f"{path}: key 'channels': expected an object with one entry per "
                        f"channel ({', '.join(channels)}), got {got}")
    for channel in channels:
        entry = per_channel.get(channel)
        if not isinstance(entry, dict):
            raise DataError(f"{path}: key 'channels.{channel}': expected an object with a "
                            f"numeric 'elasticity', got "
                            f"{'nothing' if entry is None else type(entry).__name__}")
        if not _is_number(entry.get("elasticity")):
            raise DataError(f"{path}: key 'channels.{channel}.elasticity': expected a finite "
                            f"number, got {entry.get('elasticity')!r}")
        for key, (low, high, what) in _TRUTH_RANGES.items():
            value = entry.get(key)
            if value is None:
                continue
            if not _is_number(value) or not low <= float(value) < high or (
                    key in _POSITIVE and float(value) <= 0):
                raise DataError(f"{path}: key 'channels.{channel}.{key}': expected {what}, "
                                f"got {value!r}")
        share, elasticity = entry.get("contribution_share"), float(entry["elasticity"])
        if share is not None and float(share) * elasticity < 0:
            raise DataError(f"{path}: key 'channels.{channel}': contribution_share {share!r} "
                            f"and elasticity {elasticity!r} disagree in sign (a channel that "
                            f"lowers the KPI has both below 0)")
    extra = [c for c in per_channel if c not in channels]
    if extra:
        raise DataError(f"{path}: key 'channels': {', '.join(map(repr, extra))} is not a "
                        f"channel of the tenant ({', '.join(channels)}); a truth file "
                        f"describes the tenant's channels only")
    shares = [per_channel[c].get("contribution_share") for c in channels]
    total = sum(float(v) for v in shares if _is_number(v))
    if total > 1.0 + 1e-6:
        raise DataError(f"{path}: key 'channels.*.contribution_share': the channels' shares "
                        f"add up to {total:.4g}, more than the whole KPI")
    for segment, entry in (truth.get("segments") or {}).items():
        if not isinstance(entry, dict):
            raise DataError(f"{path}: key 'segments.{segment}': expected an object, got "
                            f"{type(entry).__name__}")
        for key in ("uplift_10pct", "uplift_10pct_relative"):
            if entry.get(key) is not None and not _is_number(entry[key]):
                raise DataError(f"{path}: key 'segments.{segment}.{key}': expected a finite "
                                f"number, got {entry[key]!r}")
    return truth


#: Optional numeric keys of a truth file's channel entry: (low, high, what is expected).
_TRUTH_RANGES = {
    "contribution_share": (-1.0, 1.0 + 1e-9, "a share between -1 and 1 (below 0 for a "
                           "channel that lowers the KPI)"),
    "roi": (-math.inf, math.inf, "a finite number"),
    "decay": (0.0, 1.0, "a decay in [0, 1)"),
    "half_saturation_per_capita": (0.0, math.inf, "a positive number"),
    "shape": (0.0, math.inf, "a positive number"),
}
_POSITIVE = ("half_saturation_per_capita", "shape")


def read_tenant_files(
    tenant: TenantConfig,
    csv: Path,
    *,
    columns: dict[str, str] | None = None,
    segments_csv: Path | None = None,
    truth: Path | None = None,
    date_format: str | None = None,
) -> Panel:
    """Read, validate and assemble one tenant's files into a Panel (segments sorted)."""
    csv = Path(csv)
    columns = dict(columns or {})
    raw = _read_csv(csv, "data file", [columns.get(key, key) for key in ("date", "segment")])
    national = "segment" not in columns and "segment" not in raw.columns
    frame = validate_tenant_frame(raw, tenant, str(csv), columns=columns,
                                  date_format=date_format)
    segments = tuple(pd.unique(frame["segment"]).tolist())
    dates = pd.DatetimeIndex(pd.unique(frame["date"]), name="date")
    g, t = len(segments), len(dates)
    kpi = frame[tenant.kpi].to_numpy(dtype=float).reshape(g, t)
    spend = frame[tenant.spend_columns].to_numpy(dtype=float).reshape(g, t, len(tenant.channels))
    controls = frame[list(tenant.controls)].to_numpy(dtype=float).reshape(
        g, t, len(tenant.controls))
    attributes = (_read_segments(Path(segments_csv), segments,
                                 columns.get("segment", "segment")) if segments_csv else None)
    size = _segment_size(tenant, kpi, segments, csv, attributes,
                         Path(segments_csv) if segments_csv else None, dates)
    truth_data = _read_truth(Path(truth), tenant.channels) if truth else None
    return Panel(
        tenant=tenant.name, dates=dates, segments=segments, channels=tuple(tenant.channels),
        control_names=tuple(tenant.controls), kpi=kpi, spend=spend, controls=controls,
        size=size, kpi_name=tenant.kpi, attributes=attributes, truth=truth_data,
        source=str(csv), meta={"national": national},
        size_from_kpi=tenant.segment_size is None,
    )


def read_tenant_csv(tenant: TenantConfig) -> Panel:
    """Read a CSV tenant's files as configured in its ``data.source``."""
    src = tenant.data.source
    if src is None:
        where = tenant.path or f"tenant {tenant.name!r}"
        raise DataError(f"{where}: key 'data.source': tenant {tenant.name!r} has no CSV source "
                        f"(it is synthetic); use the synthetic reader")
    return read_tenant_files(tenant, src.csv, columns=src.columns,
                             segments_csv=src.segments_csv, truth=src.truth,
                             date_format=src.date_format)
