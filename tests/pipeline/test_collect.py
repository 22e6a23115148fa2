"""Reading scraps back from executed notebooks (hand-built outputs; no kernel)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from mmm_evidence.pipeline.collect import (
    CollectError,
    clean_scrap_data,
    missing_scraps,
    read_scraps,
)


def scrap_output(name: str, data: object, encoder: str = "json") -> nbformat.NotebookNode:
    """The display output ``scrapbook.glue(name, data)`` leaves in a notebook."""
    return new_output(
        "display_data",
        data={f"application/scrapbook.scrap.{encoder}+json":
              {"name": name, "data": data, "encoder": encoder, "version": 1}},
        metadata={"scrapbook": {"name": name, "data": True, "display": False}})


def write_notebook(path: Path, outputs: list) -> Path:
    cell = new_code_cell("sb.glue(...)")
    cell.outputs = outputs
    nbformat.write(new_notebook(cells=[cell]), path)
    return path


def test_read_scraps_returns_plain_data(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", [
        scrap_output("tenant", "alpha", "text"),
        scrap_output("metrics", {"holdout": {"r2": 0.9, "nrmse": "nan"}}),
        scrap_output("truth", {}),
        scrap_output("metrics", {"holdout": {"r2": 0.8}}),  # glued again: later wins
    ])
    scraps = read_scraps(path)
    assert scraps == {"tenant": "alpha", "metrics": {"holdout": {"r2": 0.8}}, "truth": {}}


def test_non_finite_strings_become_none() -> None:
    data = {"a": "nan", "b": ["inf", "-inf", 1.5], "c": {"d": "NaN"}, "e": "nano"}
    assert clean_scrap_data(data) == {"a": None, "b": [None, None, 1.5], "c": {"d": None},
                                      "e": "nano"}


def test_missing_notebook_is_a_collect_error(tmp_path: Path) -> None:
    with pytest.raises(CollectError, match="executed notebook not found"):
        read_scraps(tmp_path / "absent.ipynb")


def test_unreadable_notebook_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(CollectError, match=r"broken\.ipynb: cannot read scraps"):
        read_scraps(path)


def test_missing_scraps_lists_what_the_validation_notebook_did_not_glue() -> None:
    assert missing_scraps({"tenant": "a", "metrics": {}}) == [
        "data_summary", "elasticities", "contribution_shares", "roi", "model", "fit"]


def test_tables_and_other_objects_become_json_data() -> None:
    import json

    import pandas as pd

    table = pd.DataFrame({"channel": ["tv", "search"], "share": [0.2, float("nan")]})
    data = clean_scrap_data({"table": table, "when": pd.Timestamp("2024-01-01"), 3: (1, 2),
                             "x": float("inf")})
    assert data == {"table": {"columns": ["channel", "share"], "index": [0, 1],
                              "data": [["tv", 0.2], ["search", None]]},
                    "when": "2024-01-01 00:00:00", "3": [1, 2], "x": None}
    json.dumps(data, allow_nan=False)  # plain JSON: the cache and the report can hold it


def test_a_large_extra_scrap_is_named_not_copied() -> None:
    from mmm_evidence.pipeline.collect import extra_scraps

    scraps = {"tenant": "a", "small": [1, 2], "big": list(range(200_000))}
    out = extra_scraps("extra", scraps, max_bytes=1000)
    assert out["small"] == [1, 2]
    assert out["big"] == {"omitted": "1,488,890 bytes of JSON, more than 1,000: read it from "
                                     "the executed extra notebook"}
    assert "tenant" not in out
