"""Privacy checks of a tenant's inputs and of everything a run produces.

- **PII scan** of the input tables (data CSV, segment table, lift tests): column names that
  say personal data (``PrivacySettings.pii_column_patterns``; the tenant's declared model
  columns — date, segment, KPI, spend, controls — are numbers checked by the loader and
  exempt from the name check) and values that look like e-mail addresses, phone numbers,
  payment-card numbers (Luhn-valid) or IP addresses. Findings name the file, the column, the
  kind, how many rows and the first line — never the value.
- **k-anonymity** of the data's cells: every (week, segment) cell must aggregate at least k
  individuals, read from a count column of the data CSV (per cell) or else of the segment
  table (per segment, every week). Groups below k are suppressed in every per-segment table
  the run writes (fairness.py).
- **Leak scan** of the produced files (artifacts, executed notebooks, HTML exports): no input
  row may leave the run. A row counts as found in a file when at least ``min_values`` of its
  *distinctive* numbers (≥ 4 significant digits, shared by at most 5 input rows) appear close
  together (within a window of numbers as long as a few rows of the table), compared at 6
  significant digits, so a table printed with fewer decimals is still caught while one
  common number is not. A file that holds most of the values of ``min_values`` input columns,
  in any order or layout, is reported as a column dump. Embedded images (base64) are skipped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmm_evidence.config import ExperimentConfig, PrivacySettings, TenantConfig
from mmm_evidence.data.schema import DataError

__all__ = [
    "EMAIL", "PHONE", "CARD", "PrivacyAssessment", "input_files", "read_input_tables",
    "declared_columns", "pii_column_name", "luhn_valid", "value_kinds", "scan_pii",
    "cell_counts", "k_anonymity", "assess_privacy", "RawRows", "raw_rows", "numeric_keys",
    "find_raw_rows", "scan_files_for_raw_rows", "TEXT_SUFFIXES",
]

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w.])(?:\+|00)?\(?\d[\d ()./\-]{6,}\d(?![\w])")
CARD = re.compile(r"(?<![\d+])[1-9](?:[ \-]?\d){12,18}(?!\d)")  # no card starts with 0
_DATE_LIKE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                        r"(?:Z|[+\-]\d{2}:?\d{2})?\s*$")
_TOKEN = re.compile(r"[^\s,;|\"'<>()\[\]{}]+")
_SEPARATORS = re.compile(r"[^a-z0-9]+")

#: Suffixes of the produced files the leak scan reads (archives hold the same files).
TEXT_SUFFIXES = (".json", ".html", ".htm", ".md", ".log", ".ipynb", ".csv", ".txt", ".tsv",
                 ".xml", ".svg", ".yaml", ".yml")


# --------------------------------------------------------------------------- inputs


def input_files(exp: ExperimentConfig, tenant: str, output_dir: str | Path) -> dict[str, Path]:
    """The tenant's input tables: {"data": CSV, "segments": segment table, "lift_tests": ...}
    (those that exist; synthetic tenants' generated files inside the run's output folder)."""
    cfg = exp.tenant(tenant)
    if cfg.data.synthetic is not None:
        from mmm_evidence.data import tenant_data_dir
        from mmm_evidence.data.synthetic import synthetic_paths

        paths = synthetic_paths(cfg, tenant_data_dir(output_dir, tenant))
        files = {"data": paths["csv"], "segments": paths["segments_csv"],
                 "lift_tests": paths.get("lift_tests")}
    else:
        src = cfg.data.source
        files = {"data": src.csv, "segments": src.segments_csv, "lift_tests": src.lift_tests}
    return {role: Path(p) for role, p in files.items() if p is not None and Path(p).is_file()}


def read_input_tables(files: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """{role: the file read as text} — every cell a string, empty cells ""; the frame's
    ``attrs["file"]`` is the file name (never its folder)."""
    tables = {}
    for role, path in files.items():
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot read as CSV for the privacy checks: {exc}") from None
        frame.columns = [str(c) for c in frame.columns]
        frame.attrs["file"] = Path(path).name
        tables[role] = frame
    return tables


def declared_columns(cfg: TenantConfig) -> dict[str, str]:
    """{canonical name: column name in the data CSV} of the tenant's model columns."""
    names = ["date", "segment", cfg.kpi, *cfg.spend_columns, *cfg.controls]
    mapping = dict(cfg.data.source.columns) if cfg.data.source is not None else {}
    return {name: mapping.get(name, name) for name in names}


# --------------------------------------------------------------------------- PII


def pii_column_name(column: str, patterns: Sequence[str]) -> bool:
    """True when the column's name (lower-cased, separators as ``_``) matches a pattern."""
    name = _SEPARATORS.sub("_", str(column).lower()).strip("_")
    return any(re.search(p, name) for p in patterns)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of payment-card numbers (digits only)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_ip(token: str) -> bool:
    if ("." not in token and ":" not in token) or len(token) < 7:
        return False
    try:
        ipaddress.ip_address(token.strip(".:"))
    except ValueError:
        return False
    return token.count(".") == 3 or ":" in token


def value_kinds(value: str) -> set[str]:
    """Which kinds of personal data a text value looks like: "email", "card_number" (13-19
    digits, Luhn-valid), "phone_number" (9-15 digits with +, spaces, dashes or brackets;
    ISO dates and times excluded), "ip_address"."""
    kinds: set[str] = set()
    text = str(value)
    if not text.strip():
        return kinds
    if EMAIL.search(text):
        kinds.add("email")
    if _DATE_LIKE.match(text):
        return kinds
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            kinds.add("card_number")
    if "card_number" not in kinds:
        for match in PHONE.finditer(text):
            digits = re.sub(r"\D", "", match.group())
            if 9 <= len(digits) <= 15 and not re.fullmatch(r"[\d.]+", match.group()):
                kinds.add("phone_number")
            elif 10 <= len(digits) <= 15 and match.group().isdigit():
                kinds.add("phone_number")
    if any(_is_ip(tok) for tok in _TOKEN.findall(text)):
        kinds.add("ip_address")
    return kinds


def _is_numeric(column: pd.Series) -> bool:
    filled = column[column.str.strip() != ""]
    return bool(filled.size) and pd.to_numeric(filled, errors="coerce").notna().all()


def scan_pii(tables: Mapping[str, pd.DataFrame], patterns: Sequence[str],
             exempt: Mapping[str, Iterable[str]] | None = None) -> list[dict]:
    """PII findings in the input ``tables`` (read as text): one per (file, column, kind) with
    the number of rows and the first line (the header is line 1) — never the value.
    ``exempt`` {role: columns} are not judged by their name (the declared model columns)."""
    findings = []
    exempt = {role: set(cols) for role, cols in (exempt or {}).items()}
    for role, frame in tables.items():
        label = frame.attrs.get("file", role)
        for column in frame.columns:
            values = frame[column].astype(str)
            if column not in exempt.get(role, set()) and pii_column_name(column, patterns):
                findings.append({"file": label, "column": column, "kind": "name_like_column",
                                 "rows": int((values.str.strip() != "").sum()),
                                 "first_line": None})
            if _is_numeric(values):
                digits = values.str.replace(r"\.0+$", "", regex=True).str.strip()
                long = digits[digits.str.fullmatch(r"\d{13,19}")]
                valid = long[long.map(luhn_valid)]
                if len(valid) and len(valid) >= 0.5 * (digits != "").sum():
                    findings.append({"file": label, "column": column, "kind": "card_number",
                                     "rows": int(len(valid)),
                                     "first_line": int(valid.index[0]) + 2})
                continue
            kinds_of = {v: value_kinds(v) for v in pd.unique(values)}
            hits: dict[str, list[int]] = defaultdict(list)
            for row, value in enumerate(values):
                for kind in kinds_of[value]:
                    hits[kind].append(row)
            for kind in sorted(hits):
                rows = hits[kind]
                findings.append({"file": label, "column": column, "kind": kind,
                                 "rows": len(rows), "first_line": int(rows[0]) + 2})
    return findings


# --------------------------------------------------------------------------- k-anonymity


def cell_counts(tables: Mapping[str, pd.DataFrame], cfg: TenantConfig,
                count_column: str | None) -> tuple[pd.DataFrame | None, str]:
    """Individuals per (segment, week) cell: a segment x week frame (index: segment names as
    in the data) and where the counts come from — or (None, why not)."""
    if count_column is None:
        return None, ("no count column is configured (the experiment's privacy.count_column "
                      "or the tenant's count_column)")
    data = tables.get("data")
    if data is None:
        return None, "the tenant's data file is missing"
    columns = declared_columns(cfg)
    date_col, seg_col = columns["date"], columns["segment"]
    label = data.attrs.get("file", "data")
    segments = (data[seg_col].astype(str) if seg_col in data.columns
                else pd.Series("national", index=data.index))
    if count_column in data.columns:
        counts = _numbers(data[count_column], label, count_column)
        frame = pd.DataFrame({"segment": segments.to_numpy(), "date": data[date_col].to_numpy(),
                              "count": counts})
        table = frame.pivot_table(index="segment", columns="date", values="count",
                                  aggfunc="sum", sort=True)
        return table, f"column {count_column!r} of {label} (per week and segment)"
    seg_table = tables.get("segments")
    if seg_table is not None and count_column in seg_table.columns:
        seg_label = seg_table.attrs.get("file", "segments")
        per_segment = pd.Series(_numbers(seg_table[count_column], seg_label, count_column),
                                index=seg_table["segment"].astype(str).to_numpy())
        names = sorted(pd.unique(segments))
        dates = sorted(pd.unique(data[date_col])) if date_col in data.columns else ["all"]
        values = per_segment.reindex(names).to_numpy(dtype=float)
        table = pd.DataFrame(np.repeat(values[:, None], len(dates), axis=1), index=names,
                             columns=dates)
        table.index.name = "segment"
        return table, f"column {count_column!r} of {seg_label} (per segment, every week)"
    return None, (f"no column {count_column!r} in the data file or the segment table: the "
                  f"individuals per cell are unknown")


def _numbers(column: pd.Series, label: str, name: str) -> np.ndarray:
    values = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
    bad = values.isna() | (values < 0)
    if bad.any():
        lines = ", ".join(str(int(i) + 2) for i in np.flatnonzero(bad.to_numpy())[:5])
        raise DataError(f"{label}: column {name!r}: expected a count >= 0 of individuals in "
                        f"every row; offending lines: {lines}")
    return values.to_numpy(dtype=float)


def k_anonymity(counts: pd.DataFrame | None, k: int, source: str) -> dict:
    """Whether every cell aggregates at least ``k`` individuals: cells, cells below k, the
    smallest count, the segments with a cell below k; ``passed`` None without counts."""
    if counts is None:
        return {"k": k, "source": None, "note": source, "cells": None, "cells_below_k": None,
                "min_count": None, "segments_below_k": [], "passed": None}
    values = counts.to_numpy(dtype=float)
    below = ~(values >= k)  # a missing cell counts as below k
    segments = sorted(str(s) for s, row in zip(counts.index, below, strict=True) if row.any())
    finite = values[np.isfinite(values)]
    return {"k": k, "source": source, "note": None, "cells": int(values.size),
            "cells_below_k": int(below.sum()),
            "min_count": float(finite.min()) if finite.size else None,
            "segments_below_k": segments, "passed": not below.any()}


# --------------------------------------------------------------------------- assessment


@dataclass
class PrivacyAssessment:
    """A tenant's PII findings, k-anonymity and cell counts; ``scraps()`` is JSON-able."""

    tenant: str
    files: list[str]
    pii: list[dict]
    k_anonymity: dict
    counts: pd.DataFrame | None = field(default=None, repr=False)
    count_source: str = ""

    def pii_table(self) -> pd.DataFrame:
        cols = ["file", "column", "kind", "rows", "first_line"]
        return pd.DataFrame(self.pii, columns=cols)

    def k_anonymity_markdown(self) -> str:
        """The k-anonymity result in a sentence or two of Markdown."""
        k = self.k_anonymity
        if k.get("passed") is None:
            return f"k-anonymity (k = {k.get('k')}) is not assessable: {k.get('note')}."
        below = k.get("segments_below_k") or []
        smallest = k.get("min_count")
        text = (f"k-anonymity (k = {k['k']}): **{'passes' if k['passed'] else 'fails'}** — "
                f"{k['cells_below_k']:,} of {k['cells']:,} (week, segment) cells below k; the "
                f"smallest holds "
                + (f"{smallest:,.0f}" if smallest is not None else "no")
                + f" individuals (from {k.get('source')}).")
        if below:
            text += f" Segments with a cell below k: {', '.join(below)}."
        return text

    def scraps(self) -> dict:
        return {"privacy": {"files": list(self.files), "pii": list(self.pii),
                            "pii_columns": sorted({f"{f['file']}: {f['column']}"
                                                   for f in self.pii}),
                            "k_anonymity": dict(self.k_anonymity)}}


def assess_privacy(exp: ExperimentConfig, tenant: str, output_dir: str | Path,
                   settings: PrivacySettings | None = None) -> PrivacyAssessment:
    """PII scan and k-anonymity of one tenant's input tables."""
    settings = settings or exp.privacy
    cfg = exp.tenant(tenant)
    tables = read_input_tables(input_files(exp, tenant, output_dir))
    exempt = {"data": set(declared_columns(cfg).values())}
    pii = scan_pii(tables, settings.pii_column_patterns, exempt)
    counts, source = cell_counts(tables, cfg, cfg.count_column or settings.count_column)
    return PrivacyAssessment(
        tenant=tenant, files=[t.attrs.get("file", r) for r, t in tables.items()], pii=pii,
        k_anonymity=k_anonymity(counts, settings.k, source), counts=counts,
        count_source=source)


# --------------------------------------------------------------------------- leak scan

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{64,}={0,2}")
_MAX_ROWS_PER_VALUE = 5
_MIN_DIGITS = 4
_KEY_DIGITS = 6
_COLUMN_DUMP_SHARE = 0.5
_COLUMN_DUMP_MIN_ROWS = 10


def _key(number: float) -> str:
    return f"{number:.{_KEY_DIGITS}g}"


def _significant_digits(text: str) -> int:
    mantissa = re.split(r"[eE]", text.strip().lstrip("+-"))[0]
    digits = mantissa.replace(".", "").lstrip("0")
    if "." in mantissa:
        digits = digits.rstrip("0")
    return len(digits)


@dataclass
class RawRows:
    """The distinctive numbers of one input table's rows, keyed for the leak scan."""

    label: str
    columns: list[str]
    keys: dict[str, list[tuple[int, int]]]  # value key -> [(row, column index)]
    per_row: np.ndarray  # distinctive values per row
    per_column: np.ndarray  # rows with a distinctive value per column

    @property
    def rows(self) -> int:
        return int(self.per_row.size)


def raw_rows(frame: pd.DataFrame, label: str | None = None) -> RawRows:
    """Index the distinctive numbers of ``frame`` (read as text): ≥ 4 significant digits and
    shared by at most 5 rows, keyed at 6 significant digits."""
    label = label or frame.attrs.get("file", "input")
    candidates: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for c, column in enumerate(frame.columns):
        values = frame[column].astype(str).str.strip()
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        texts = values.tolist()
        for row in np.flatnonzero(np.isfinite(numbers)).tolist():
            if _significant_digits(texts[row]) >= _MIN_DIGITS:
                candidates[_key(numbers[row])].append((row, c))
    keys = {k: v for k, v in candidates.items()
            if len({r for r, _ in v}) <= _MAX_ROWS_PER_VALUE}
    per_row = np.zeros(len(frame), dtype=int)
    per_column = np.zeros(len(frame.columns), dtype=int)
    for entries in keys.values():
        for row, col in entries:
            per_row[row] += 1
            per_column[col] += 1
    return RawRows(label=label, columns=list(frame.columns), keys=keys, per_row=per_row,
                   per_column=per_column)


def numeric_keys(text: str) -> list[str]:
    """The keys (6 significant digits) of the numbers in ``text`` with at least 4 significant
    digits, in order; base64 runs (embedded images) and JSON escapes are skipped first."""
    text = text.replace("\\n", " ").replace("\\t", " ").replace("\\r", " ")
    text = _BASE64.sub(" ", text)
    out = []
    for token in _NUMBER.findall(text):
        if _significant_digits(token) >= _MIN_DIGITS:
            try:
                out.append(_key(float(token)))
            except (ValueError, OverflowError):
                continue
    return out


def find_raw_rows(keys: Sequence[str], rows: RawRows, min_values: int = 3,
                  window: int | None = None) -> dict | None:
    """Input rows of ``rows`` found in a file whose numbers are ``keys``: a row is found when
    min(min_values, its distinctive values) ≥ 2 of its columns appear within ``window``
    consecutive numbers (default: 3 rows' worth). Also the column dump: at least
    ``min_values`` columns with half or more of their distinctive values present anywhere.
    None when nothing is found; else {"rows", "lines" (first 10), "columns", "dumped_columns"}.
    """
    window = window or 3 * max(len(rows.columns), 4) + 8
    hits: dict[int, list[tuple[int, int]]] = defaultdict(list)
    seen_per_column: dict[int, set[int]] = defaultdict(set)
    for pos, key in enumerate(keys):
        for row, col in rows.keys.get(key, ()):
            hits[row].append((pos, col))
            seen_per_column[col].add(row)
    found: list[int] = []
    columns: set[int] = set()
    for row, entries in hits.items():
        need = min(min_values, int(rows.per_row[row]))
        if need < 2 or len({c for _, c in entries}) < need:
            continue
        entries.sort()
        lo = 0
        for hi in range(len(entries)):
            while entries[hi][0] - entries[lo][0] >= window:
                lo += 1
            cols = {c for _, c in entries[lo:hi + 1]}
            if len(cols) >= need:
                found.append(row)
                start = entries[lo][0]
                columns |= {c for p, c in entries if start <= p < start + window}
                break
    dumped = sorted(
        rows.columns[c] for c, seen in seen_per_column.items()
        if rows.per_column[c] >= _COLUMN_DUMP_MIN_ROWS
        and len(seen) >= _COLUMN_DUMP_SHARE * rows.per_column[c])
    if len(dumped) < min_values:
        dumped = []
    if not found and not dumped:
        return None
    found.sort()
    return {"rows": len(found), "lines": [r + 2 for r in found[:10]],
            "columns": sorted(rows.columns[c] for c in columns),
            "dumped_columns": dumped}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


def scan_files_for_raw_rows(paths: Iterable[Path], inputs: Mapping[str, RawRows], root: Path,
                            min_values: int = 3, texts: Mapping[str, str] | None = None,
                            memo: dict[bytes, list[str]] | None = None
                            ) -> dict[str, list[dict]]:
    """{tenant: findings} of the leak scan over ``paths`` (and in-memory ``texts`` {name:
    text}) for the tenants' indexed input tables ``inputs``. A finding: {"file" (relative to
    ``root``), "input" (file name), "rows", "lines", "columns", "dumped_columns"}.

    ``memo``: {content digest: numeric keys}, filled and reused, so scans of a folder that
    has changed in a few files read the numbers of the others only once."""
    out: dict[str, list[dict]] = {tenant: [] for tenant in inputs}
    sources: list[tuple[str, Any]] = [(_relative(Path(p), root), Path(p)) for p in paths]
    sources += list((texts or {}).items())
    for name, source in sorted(sources, key=lambda item: item[0]):
        if isinstance(source, Path):
            try:
                data = source.read_bytes()
            except OSError:
                continue
        else:
            data = source.encode("utf-8", errors="replace")
        digest = hashlib.blake2b(data, digest_size=16).digest() if memo is not None else b""
        keys = memo.get(digest) if memo is not None else None
        if keys is None:
            keys = numeric_keys(data.decode("utf-8", errors="replace"))
            if memo is not None:
                memo[digest] = keys
        for tenant, rows in inputs.items():
            finding = find_raw_rows(keys, rows, min_values)
            if finding is not None:
                out[tenant].append({"file": name, "input": rows.label, **finding})
    return out
