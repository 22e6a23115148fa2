"""``feature_importance.csv``: one row per tenant × feature of the importance notebook.

Columns (``mmm_evidence.evaluation.importance.CSV_COLUMNS``): tenant, feature, kind
(channel / control / calendar / segment), LightGBM ``mean_abs_shap`` and its rank over all the
tenant's features (``shap_rank_all``) and over its channels (``shap_rank``); for channels the
MMM's mean |SHAP| (``mmm_mean_abs_shap``, ``mmm_shap_rank``), contribution share
(``mmm_share``, ``mmm_rank``) and the true share (``true_share``, ``true_rank``; empty without
ground truth); the tenant's channel count and its three Spearman rank agreements, repeated on
each of its rows. Empty = unknown / not applicable.

Deterministic bytes: rows sorted by tenant, kind (channels first) and feature; floats written
with 10 significant digits (``-0`` as ``0``), UTF-8, ``\\n`` line ends.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmm_evidence.evaluation.importance import CSV_COLUMNS, KINDS
from mmm_evidence.pipeline.collect import IMPORTANCE_NOTEBOOK

if TYPE_CHECKING:
    from mmm_evidence.pipeline.runner import RunResult

FEATURE_IMPORTANCE_FILE = "feature_importance.csv"
FLOAT_SIGNIFICANT_DIGITS = 10
TEXT_COLUMNS = ("tenant", "feature", "kind")
INT_COLUMNS = ("shap_rank_all", "shap_rank", "mmm_shap_rank", "mmm_rank", "true_rank",
               "n_channels")
FLOAT_COLUMNS = tuple(c for c in CSV_COLUMNS if c not in TEXT_COLUMNS + INT_COLUMNS)

__all__ = ["FEATURE_IMPORTANCE_FILE", "CSV_COLUMNS", "TEXT_COLUMNS", "INT_COLUMNS",
           "FLOAT_COLUMNS", "build_feature_importance_rows", "sort_rows",
           "render_feature_importance_csv", "write_feature_importance_csv",
           "read_feature_importance_csv", "FeatureImportanceError"]


class FeatureImportanceError(ValueError):
    """A ``feature_importance.csv`` (or the rows to write) is not in the expected shape."""


def _kind_order(kind: Any) -> int:
    return KINDS.index(kind) if kind in KINDS else len(KINDS)


def sort_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Rows sorted by tenant, kind (channel, control, calendar, segment) and feature."""
    return sorted((dict(r) for r in rows),
                  key=lambda r: (str(r.get("tenant")), _kind_order(r.get("kind")),
                                 str(r.get("feature"))))


def build_feature_importance_rows(result: RunResult) -> list[dict]:
    """Every tenant's rows as the importance notebook glued them, sorted; a tenant whose
    notebook did not run or errored has none (its gate says why)."""
    from mmm_evidence.pipeline.runner import notebook_scraps

    rows: list[dict] = []
    for tenant in result.exp.tenants:
        scraps, _ = notebook_scraps(result, tenant, IMPORTANCE_NOTEBOOK)
        for row in (scraps or {}).get("importance") or []:
            if isinstance(row, Mapping):
                rows.append({**{c: row.get(c) for c in CSV_COLUMNS}, "tenant": tenant})
    return sort_rows(rows)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in TEXT_COLUMNS:
        return str(value)
    if isinstance(value, bool):
        raise FeatureImportanceError(f"column {column!r}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FeatureImportanceError(f"column {column!r}: expected a number, got {value!r}"
                                     ) from None
    if not math.isfinite(number):
        return ""
    if column in INT_COLUMNS:
        if number != int(number):
            raise FeatureImportanceError(f"column {column!r}: expected a whole number, got "
                                         f"{value!r}")
        return str(int(number))
    text = format(number, f".{FLOAT_SIGNIFICANT_DIGITS}g")
    return "0" if float(text) == 0 else text


def render_feature_importance_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """The CSV text of ``rows`` (sorted, fixed float format, header ``CSV_COLUMNS``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in sort_rows(rows):
        writer.writerow([_cell(c, row.get(c)) for c in CSV_COLUMNS])
    return out.getvalue()


def write_feature_importance_csv(rows: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write ``render_feature_importance_csv(rows)`` to ``path``; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(render_feature_importance_csv(rows))
    return path


def read_feature_importance_csv(path: str | Path) -> list[dict]:
    """The rows of a ``feature_importance.csv`` with typed values: text columns str, ranks and
    ``n_channels`` int, the rest float; an empty cell is None. Errors name the file, the line
    and the column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FeatureImportanceError(f"{path}: file not found") from None
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise FeatureImportanceError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                                     f"{', '.join(CSV_COLUMNS)}")
    rows = []
    for line, raw in enumerate(reader, start=2):
        row: dict[str, Any] = {}
        for column in CSV_COLUMNS:
            cell = (raw.get(column) or "").strip()
            if not cell:
                row[column] = None
            elif column in TEXT_COLUMNS:
                row[column] = cell
            else:
                try:
                    row[column] = int(cell) if column in INT_COLUMNS else float(cell)
                except ValueError:
                    kind = "a whole number" if column in INT_COLUMNS else "a number"
                    raise FeatureImportanceError(f"{path}: line {line}, column {column!r}: "
                                                 f"expected {kind}, got {cell!r}") from None
        rows.append(row)
    return rows
