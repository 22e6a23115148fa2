"""Collect what executed notebooks glued: ``scrapbook.read_notebook(path).scraps``, as plain data.

Only ``scrap.data`` is used (never scrapbook's ``papermill_dataframe``, broken on pandas ≥ 2).
Scrapbook's JSON encoder sends non-finite floats through the kernel as the strings ``"nan"``,
``"inf"``, ``"-inf"``; they are read back as None. Scrapbook cannot glue ``None`` itself, so a
notebook without ground truth glues ``truth`` as ``{}`` (or leaves it out): both mean "no truth".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The notebook whose scraps make up ``validation_report.json``.
VALIDATION_NOTEBOOK = "validation"

#: Scraps the validation notebook must glue (``truth`` may be ``{}``).
VALIDATION_SCRAPS = ("tenant", "data_summary", "metrics", "elasticities", "contribution_shares",
                     "roi", "model", "fit")
OPTIONAL_VALIDATION_SCRAPS = ("truth", "oracle_elasticities")

#: The notebook whose scraps make up ``baseline_metrics.json`` and the beats_baselines gate.
BASELINES_NOTEBOOK = "baselines"
#: Scraps the baselines notebook must glue.
BASELINES_SCRAPS = ("tenant", "baselines", "splits", "metrics", "skill", "elasticities")

#: The notebook whose scraps make up ``robustness_report.json`` and the robustness gate.
ROBUSTNESS_NOTEBOOK = "robustness"
#: Scraps the robustness notebook must glue.
ROBUSTNESS_SCRAPS = ("tenant", "checks", "summary", "robustness_settings")

#: The notebook whose scraps make up ``feature_importance.csv`` and the importance gate.
IMPORTANCE_NOTEBOOK = "importance"
#: Scraps the importance notebook must glue.
IMPORTANCE_SCRAPS = ("tenant", "importance", "agreement", "surrogate", "summary")

#: The notebook whose scraps make up ``fairness_report.json`` and the fairness/privacy gates.
FAIRNESS_NOTEBOOK = "fairness"
#: Scraps the fairness notebook must glue.
FAIRNESS_SCRAPS = ("tenant", "fairness", "privacy")

#: Per notebook, the scraps it must glue (a notebook not listed has no contract).
REQUIRED_SCRAPS = {VALIDATION_NOTEBOOK: VALIDATION_SCRAPS, BASELINES_NOTEBOOK: BASELINES_SCRAPS,
                   ROBUSTNESS_NOTEBOOK: ROBUSTNESS_SCRAPS,
                   IMPORTANCE_NOTEBOOK: IMPORTANCE_SCRAPS,
                   FAIRNESS_NOTEBOOK: FAIRNESS_SCRAPS}

#: Per notebook, every scrap its artifact reads: what the shipped notebook glues. A scrap
#: glued beyond these (an analyst's addition), and every scrap of a notebook that has no
#: artifact of its own (an analyst's new notebook), goes to the report's ``extra_scraps``.
KNOWN_SCRAPS = {
    VALIDATION_NOTEBOOK: (*VALIDATION_SCRAPS, *OPTIONAL_VALIDATION_SCRAPS, "weekly_totals",
                          "uncertainty", "lift_tests"),
    BASELINES_NOTEBOOK: (*BASELINES_SCRAPS, "baseline_settings"),
    ROBUSTNESS_NOTEBOOK: (*ROBUSTNESS_SCRAPS, "thresholds", "reference"),
    IMPORTANCE_NOTEBOOK: IMPORTANCE_SCRAPS,
    FAIRNESS_NOTEBOOK: FAIRNESS_SCRAPS,
}

_NON_FINITE_STRINGS = frozenset({"nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"})

__all__ = ["VALIDATION_NOTEBOOK", "VALIDATION_SCRAPS", "BASELINES_NOTEBOOK", "BASELINES_SCRAPS",
           "REQUIRED_SCRAPS", "KNOWN_SCRAPS", "EXTRA_SCRAP_MAX_BYTES", "extra_scraps",
           "CollectError", "read_scraps", "missing_scraps",
           "clean_scrap_data", "ROBUSTNESS_NOTEBOOK", "ROBUSTNESS_SCRAPS",
           "IMPORTANCE_NOTEBOOK", "IMPORTANCE_SCRAPS", "FAIRNESS_NOTEBOOK", "FAIRNESS_SCRAPS"]


class CollectError(RuntimeError):
    """An executed notebook cannot be read back."""


def clean_scrap_data(value: Any) -> Any:
    """Scrap data as plain JSON data: scrapbook's "nan"/"inf" strings replaced by None,
    recursively; a table (what scrapbook's pandas encoder gives back, a DataFrame) as
    ``{"columns": [...], "index": [...], "data": [[...], ...]}``; any other object that JSON
    cannot hold as its text (an analyst's notebook may glue anything: it must not stop the
    run)."""
    if isinstance(value, str):
        return None if value in _NON_FINITE_STRINGS else value
    if isinstance(value, dict):
        return {str(key): clean_scrap_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_scrap_data(item) for item in value]
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "to_json") and hasattr(value, "columns"):  # a pandas DataFrame
        return clean_scrap_data(json.loads(value.to_json(orient="split", date_format="iso")))
    return str(value)


def read_scraps(path: str | Path) -> dict[str, Any]:
    """{scrap name: data} of one executed notebook (later glues of a name win)."""
    import scrapbook

    path = Path(path)
    if not path.is_file():
        raise CollectError(f"{path}: executed notebook not found")
    try:
        notebook = scrapbook.read_notebook(str(path))
        scraps = notebook.scraps
    except Exception as exc:  # scrapbook/nbformat raise many kinds; name the file
        raise CollectError(f"{path}: cannot read scraps: {type(exc).__name__}: {exc}") from exc
    return {name: clean_scrap_data(scrap.data) for name, scrap in scraps.items()}


def missing_scraps(scraps: dict[str, Any], required: Iterable[str] = VALIDATION_SCRAPS
                   ) -> list[str]:
    """The names in ``required`` that were not glued."""
    return [name for name in required if name not in scraps]


#: An extra scrap larger than this (as JSON) is named in the report, not copied into it: a
#: glued list of 200,000 numbers made validation_report.json 3.9 MB.
EXTRA_SCRAP_MAX_BYTES = 65536


def extra_scraps(notebook: str, scraps: dict[str, Any],
                 max_bytes: int = EXTRA_SCRAP_MAX_BYTES) -> dict[str, Any]:
    """The scraps of ``notebook`` that no artifact reads ({name: data}): those beyond its
    ``KNOWN_SCRAPS``, or all of them (``tenant`` aside) for a notebook without an artifact;
    one larger than ``max_bytes`` as JSON is replaced by a note of its size."""
    known = set(KNOWN_SCRAPS.get(notebook, ("tenant",)))
    out = {}
    for name, data in sorted(scraps.items()):
        if name in known:
            continue
        size = len(json.dumps(data, sort_keys=True, default=str).encode())
        out[name] = data if size <= max_bytes else {
            "omitted": f"{size:,} bytes of JSON, more than {max_bytes:,}: read it from the "
                       f"executed {notebook} notebook"}
    return out

