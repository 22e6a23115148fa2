"""The fairness and privacy section of the model card (report/fairness_card.py)."""

from __future__ import annotations

import base64
import copy
import re

from mmm_evidence.config import FairnessGate
from mmm_evidence.pipeline.gates import (
    fairness_error_parity_gate,
    fairness_uplift_gap_gate,
    parity_checks,
    privacy_k_anonymity_gate,
    privacy_no_pii_gate,
    privacy_no_raw_rows_gate,
)
from mmm_evidence.report.fairness_card import fairness_html, fairness_markdown

ROW = {"r2": 0.81, "mape": 0.052, "bias": 12.0, "normalised_bias": 0.013, "segments": 1,
       "weeks": 26, "predicted_uplift": 120.0, "true_uplift": 100.0, "uplift_error": 0.2,
       "predicted_relative": 0.018, "true_relative": 0.015, "suppressed": False}
HIDDEN = {**{k: None for k in ROW}, "segments": 1, "weeks": 26, "suppressed": True}


def gap(kind: str, value: float, hi: str, lo: str) -> dict:
    return {"kind": kind, "groups": 3, "max_group": hi, "min_group": lo, "gap": value,
            "max": None, "min": None, "difference": None, "ratio": None}


def report() -> dict:
    fairness = {
        "holdout_weeks": 26, "uplift_factor": 1.1, "groupings": ["segment", "region"],
        "skipped": {"urbanicity": "no column 'urbanicity' in the segment table"},
        "overall": {"r2": 0.8}, "has_uplift_truth": True, "uplift_note": None,
        "tables": {"segment": {"<b>North</b>": ROW, "South": {**ROW, "uplift_error": -0.1},
                               "Tiny": HIDDEN},
                   "region": {"N": ROW, "S": ROW}},
        "gaps": {"segment": {"mape": gap("relative", 0.4, "South", "<b>North</b>"),
                             "normalised_bias": gap("difference", 0.3, "(suppressed)", "South"),
                             "uplift_error": gap("difference", 0.3, "<b>North</b>", "South")},
                 "region": {"mape": gap("relative", 0.1, "N", "S"),
                            "normalised_bias": gap("difference", 0.01, "N", "S"),
                            "uplift_error": gap("difference", 0.02, "N", "S")}},
        "suppressed": {"segment": 1, "region": 0}, "k": 10, "suppression_note": None}
    privacy = {"files": ["acme.csv", "segments.csv"], "pii": [
        {"file": "acme.csv", "column": "e<mail>", "kind": "email", "rows": 4,
         "first_line": 7}],
        "k_anonymity": {"k": 10, "source": "column 'population' of segments.csv", "note": None,
                        "cells": 78, "cells_below_k": 26, "min_count": 4.0,
                        "segments_below_k": ["Tiny"], "passed": False}}
    leaks = [{"file": "tenants/acme/fairness.html", "input": "acme.csv", "rows": 2,
              "lines": [3, 8], "columns": ["revenue", "spend_tv", "spend_search"],
              "dumped_columns": []}]
    settings = FairnessGate()
    section = {
        "display_name": "ACME", "status": "ok", "error": None, "note": None,
        "fairness": fairness,
        "parity": parity_checks(fairness, settings, ("mape", "normalised_bias",
                                                     "uplift_error")),
        "privacy": {**privacy, "leak_scan": {"findings": leaks, "note": None}},
        "gates": [fairness_error_parity_gate(fairness, settings),
                  fairness_uplift_gap_gate(fairness, settings), privacy_no_pii_gate(privacy),
                  privacy_k_anonymity_gate(privacy), privacy_no_raw_rows_gate(leaks)]}
    return {"artifact": "fairness_report", "leak_scan": {"files": 12, "min_values": 3},
            "tenants": {"acme": section}}


def test_html_section_shows_gates_gaps_tables_and_privacy_escaped() -> None:
    html = fairness_html(report(), "acme")
    assert html.startswith("<h3") and "Fairness and privacy" in html
    for name in ("fairness_error_parity", "fairness_uplift_gap", "privacy_no_pii",
                 "privacy_k_anonymity", "privacy_no_raw_rows"):
        assert f"<code>{name}</code>" in html
    assert html.count('badge fail">FAIL') >= 4  # parity, uplift, PII, k-anonymity, leaks
    assert "&lt;b&gt;North&lt;/b&gt;" in html and "<b>North</b>" not in html
    assert "e&lt;mail&gt;" in html and "<mail>" not in html
    assert "suppressed (fewer than k individuals)" in html
    assert "+20.0 %" in html and "1.80 % / 1.50 %" in html
    assert "Not grouped by: urbanicity (no column" in html
    assert "tenants/acme/fairness.html: 2 row(s) of acme.csv (lines 3, 8)" in html
    assert "suppressed: Tiny" in html
    # the gap chart: an inline PNG
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match and base64.b64decode(match.group(1)).startswith(b"\x89PNG")
    assert fairness_html(report(), "acme") == html  # reproducible bytes


def test_markdown_section_has_the_same_content_without_the_image() -> None:
    md = fairness_markdown(report(), "acme")
    assert "Fairness and privacy" in md and "data:image" not in md
    assert "privacy\\_no\\_pii" in md or "privacy_no_pii" in md
    assert "suppressed (fewer than k individuals)" in md
    assert "Each gap as a share of its threshold" in md  # the chart's caption


def test_missing_or_unrun_tenants_are_explained() -> None:
    assert "No fairness report for this tenant." in fairness_html(report(), "other")
    data = copy.deepcopy(report())
    section = data["tenants"]["acme"]
    section.update({"fairness": None, "parity": [], "note": "the fairness notebook errored"})
    html = fairness_html(data, "acme")
    assert "No fairness measurements: the fairness notebook errored." in html
    no_truth = copy.deepcopy(report())
    no_truth["tenants"]["acme"]["fairness"].update(
        {"has_uplift_truth": False, "uplift_note": "no ground truth for this tenant"})
    html = fairness_html(no_truth, "acme")
    assert "Uplift vs truth: not assessable — no ground truth for this tenant." in html
    assert "uplift error" not in html.split("Per segment")[1].split("</tr>")[0]


def test_the_charts_description_names_the_tenant_by_its_display_name() -> None:
    from mmm_evidence.report.document import Figure
    from mmm_evidence.report.fairness_card import fairness_blocks

    figures = [b for b in fairness_blocks(report(), "acme", label="Acme Corp")
               if isinstance(b, Figure)]
    assert [f.alt for f in figures] == ["fairness gaps, Acme Corp"]


def test_a_long_segment_table_shows_the_segments_at_the_ends_of_each_gap() -> None:
    # at 100 segments the card showed the first 30 by name, leaving out the two segments the
    # failing uplift gate named
    from mmm_evidence.report.fairness_card import segments_to_show

    table = {f"Central-{i:03d}": {"mape": 0.05, "normalised_bias": 0.0, "uplift_error": 0.01}
             for i in range(100)}
    table["Central-091"] = {"mape": 0.05, "normalised_bias": 0.0, "uplift_error": 0.9}
    table["Central-012"]["uplift_error"] = -0.8
    table["Central-077"]["mape"] = 0.4
    table["Central-050"] = {"suppressed": True}
    shown = segments_to_show(table, limit=30)
    assert len(shown) == 30 and shown == sorted(shown)  # in the table's own order
    assert {"Central-091", "Central-012", "Central-077"} <= set(shown)
    assert "Central-050" not in shown
    assert segments_to_show({"a": {}, "b": {}}, limit=30) == ["a", "b"]
