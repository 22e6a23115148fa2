"""The fairness and privacy gates (pipeline/gates.py) on hand-made scraps."""

from __future__ import annotations

import math

import pytest

from mmm_evidence.config import (
    AttributeParityThresholds,
    FairnessGate,
    GateSettings,
    ManySegmentAttributeThresholds,
    ManySegmentsParity,
    ManySegmentThresholds,
    ParityThresholds,
)
from mmm_evidence.pipeline import gates as g

SETTINGS = FairnessGate(segment=ParityThresholds(max_mape_gap=1.0, max_bias_gap=0.2,
                                                 max_uplift_error_gap=0.3),
                        attribute=AttributeParityThresholds(
                            max_mape_gap=0.5, max_bias_gap=0.1, max_uplift_error_gap=0.1))


def entry(value: float | None, hi: str = "a", lo: str = "b", groups: int = 2) -> dict:
    return {"gap": value, "groups": groups, "max_group": hi, "min_group": lo}


def fairness(**gaps: dict) -> dict:
    return {"groupings": list(gaps), "gaps": gaps, "has_uplift_truth": True}


def test_parity_checks_use_segment_and_attribute_thresholds() -> None:
    scraps = fairness(segment={"mape": entry(0.5), "normalised_bias": entry(0.1),
                               "uplift_error": entry(0.6)},
                      region={"mape": entry(0.4), "normalised_bias": entry(0.15),
                              "uplift_error": entry(0.05)},
                      urbanicity={"mape": entry(0.1, groups=1)})  # one group: left out
    checks = g.parity_checks(scraps, SETTINGS, ("mape", "normalised_bias"))
    # in the notebook's order of the groupings (scrapbook may sort the gaps' keys)
    assert g.parity_checks({**scraps, "groupings": ["urbanicity", "region", "segment"]},
                           SETTINGS, ("mape",))[0]["grouping"] == "region"
    assert [(c["grouping"], c["metric"], c["threshold"], c["passed"]) for c in checks] == [
        ("segment", "mape", 1.0, True), ("segment", "normalised_bias", 0.2, True),
        ("region", "mape", 0.5, True), ("region", "normalised_bias", 0.1, False)]
    assert checks[3]["share"] == pytest.approx(1.5) and checks[0]["level"] == "segment"
    assert checks[2]["level"] == "attribute"


def test_gaps_over_more_segments_than_calibrated_say_so() -> None:
    many = SETTINGS.calibrated_max_segments + 36
    for gate in (g.fairness_error_parity_gate, g.fairness_uplift_gap_gate):
        wide = gate(fairness(segment={"mape": entry(0.5, groups=many),
                                      "normalised_bias": entry(0.1, groups=many),
                                      "uplift_error": entry(0.1, groups=many)}), SETTINGS)
        assert (f"{many} segments, more than the 100 the segment thresholds were calibrated "
                "on") in wide["detail"]
        assert wide["passed"] is True  # said, not judged: the thresholds stay
        usual = gate(fairness(segment={"mape": entry(0.5, groups=24),
                                       "normalised_bias": entry(0.1, groups=24),
                                       "uplift_error": entry(0.1, groups=24)},
                              region={"mape": entry(0.1, groups=60)}), SETTINGS)
        # attribute groups are not segments
        assert "the segment thresholds were calibrated on" not in usual["detail"]
        assert "many-segment thresholds" not in usual["detail"]
        assert "136 segments: judged by the many-segment thresholds" in wide["detail"]


@pytest.mark.parametrize(("segments", "band"), [(2, "few"), (24, "few"), (25, "many"),
                                                (100, "many")])
def test_the_segment_count_picks_the_thresholds(segments: int, band: str) -> None:
    # a fair model's gaps over many segments: the segments' MAPE gap wider by chance, the
    # attribute groups' (pooling more segments) narrower; each band has its own thresholds
    settings = SETTINGS.model_copy(update={"many_segments": ManySegmentsParity(
        segment=ManySegmentThresholds(max_mape_gap=3.0, max_bias_gap=0.4,
                                      max_uplift_error_gap=0.2),
        attribute=ManySegmentAttributeThresholds(max_mape_gap=0.3, max_bias_gap=0.05,
                                                 max_uplift_error_gap=0.05))})
    scraps = fairness(segment={"mape": entry(2.0, groups=segments),
                               "normalised_bias": entry(0.1, groups=segments)},
                      region={"mape": entry(0.4, groups=4),
                              "normalised_bias": entry(0.02, groups=4)})
    checks = g.parity_checks(scraps, settings, ("mape", "normalised_bias"))
    assert g.fairness_segments(scraps) == segments
    assert {c["band"] for c in checks} == {band}
    limits = {(c["grouping"], c["metric"]): c["threshold"] for c in checks}
    expected = ({("segment", "mape"): 1.0, ("segment", "normalised_bias"): 0.2,
                 ("region", "mape"): 0.5, ("region", "normalised_bias"): 0.1} if band == "few"
                else {("segment", "mape"): 3.0, ("segment", "normalised_bias"): 0.4,
                      ("region", "mape"): 0.3, ("region", "normalised_bias"): 0.05})
    assert limits == expected
    parity = g.fairness_error_parity_gate(scraps, settings)
    # the segments' MAPE gap 2.0 fails the few-segment threshold; the region's 0.4 the many
    failed = "segment MAPE" if band == "few" else "region MAPE"
    assert parity["passed"] is False and f"over the threshold: {failed}" in parity["detail"]
    assert ("many-segment thresholds" in parity["detail"]) is (band == "many")


def test_error_parity_value_is_the_largest_gap_share_and_names_the_offender() -> None:
    ok = g.fairness_error_parity_gate(
        fairness(segment={"mape": entry(0.5), "normalised_bias": entry(0.1)}), SETTINGS)
    assert ok["passed"] is True and ok["value"] == pytest.approx(0.5) and ok["threshold"] == 1.0
    assert "segment: MAPE 0.5 / 1, bias 0.1 / 0.2" in ok["detail"]
    assert ok["detail"].endswith("over the threshold: none")
    bad = g.fairness_error_parity_gate(
        fairness(segment={"mape": entry(0.5), "normalised_bias": entry(0.3, "East-3", "W-1")}),
        SETTINGS)
    assert bad["passed"] is False and bad["value"] == pytest.approx(1.5)
    assert bad["detail"].endswith("over the threshold: segment bias (East-3 vs W-1)")
    # a zero MAPE beside a non-zero one: an infinite gap fails (value null, not a number)
    inf = g.fairness_error_parity_gate(fairness(segment={"mape": entry(math.inf)}), SETTINGS)
    assert inf["passed"] is False and inf["value"] is None
    assert g.fairness_error_parity_gate(fairness(segment={"mape": entry(None)}), SETTINGS)[
        "passed"] is False


def test_fairness_gates_are_null_without_scraps_or_something_to_compare() -> None:
    gate = g.fairness_error_parity_gate(None, SETTINGS, "the fairness notebook errored")
    assert gate["passed"] is None and gate["detail"] == "the fairness notebook errored"
    single = fairness(segment={"mape": entry(None, groups=1)})
    assert g.fairness_error_parity_gate(single, SETTINGS)["passed"] is None
    assert g.fairness_uplift_gap_gate(single, SETTINGS)["passed"] is None
    no_truth = {**fairness(segment={"mape": entry(0.1)}), "has_uplift_truth": False,
                "uplift_note": "no ground truth for this tenant"}
    gate = g.fairness_uplift_gap_gate(no_truth, SETTINGS)
    assert gate["passed"] is None and gate["detail"] == "no ground truth for this tenant"


def test_uplift_gap_gate() -> None:
    scraps = fairness(segment={"uplift_error": entry(0.2)},
                      income_tier={"uplift_error": entry(0.12, "low", "high")})
    gate = g.fairness_uplift_gap_gate(scraps, SETTINGS)
    assert gate["passed"] is False and gate["value"] == pytest.approx(1.2)
    assert "income_tier uplift error (low vs high)" in gate["detail"]


def test_privacy_gates() -> None:
    clean = {"files": ["a.csv", "segments.csv"], "pii": [],
             "k_anonymity": {"k": 10, "passed": True, "min_count": 5000.0, "cells": 8,
                             "cells_below_k": 0, "source": "column 'population' of s.csv",
                             "segments_below_k": []}}
    assert g.privacy_no_pii_gate(clean) == {
        "name": "privacy_no_pii", "threshold": 0, "value": 0, "passed": True,
        "detail": "no personal data found in 2 input file(s): a.csv, segments.csv"}
    dirty = {**clean, "pii": [
        {"file": "a.csv", "column": "contact", "kind": "email", "rows": 3, "first_line": 4},
        {"file": "a.csv", "column": "contact", "kind": "phone_number", "rows": 1,
         "first_line": 9},
        {"file": "a.csv", "column": "customer_name", "kind": "name_like_column", "rows": 12,
         "first_line": None}]}
    gate = g.privacy_no_pii_gate(dirty)
    assert gate["passed"] is False and gate["value"] == 2
    assert gate["detail"] == ("personal data in a.csv: contact (email, 3 row(s), first on line "
                              "4; phone_number, 1 row(s), first on line 9); a.csv: "
                              "customer_name (name_like_column, 12 row(s))")
    k = g.privacy_k_anonymity_gate(clean)
    assert (k["passed"], k["value"], k["threshold"]) == (True, 5000.0, 10)
    assert g.privacy_no_pii_gate(None)["passed"] is None
    assert g.privacy_k_anonymity_gate(None, "why")["detail"] == "why"


def test_raw_rows_gate() -> None:
    assert g.privacy_no_raw_rows_gate(None)["passed"] is None
    assert g.privacy_no_raw_rows_gate([])["passed"] is True
    gate = g.privacy_no_raw_rows_gate([
        {"file": "tenants/a/fairness.html", "input": "a.csv", "rows": 2, "lines": [3, 9],
         "columns": ["revenue", "spend_tv", "spend_search"], "dumped_columns": []}])
    assert gate["passed"] is False and gate["value"] == 1
    assert gate["detail"] == ("input rows found in 1 produced file(s): tenants/a/fairness.html: "
                              "2 row(s) of a.csv (lines 3, 9)")


def test_evaluate_gates_ends_with_the_fairness_and_privacy_gates() -> None:
    names = [x["name"] for x in g.evaluate_gates({}, GateSettings())]
    assert names[-5:] == ["fairness_error_parity", "fairness_uplift_gap", "privacy_no_pii",
                          "privacy_k_anonymity", "privacy_no_raw_rows"]
    gates = g.evaluate_gates({}, GateSettings(), fairness={
        "fairness": fairness(segment={"normalised_bias": entry(0.5)}),
        "privacy": {"files": [], "pii": []}}, leaks=[])
    by_name = {x["name"]: x for x in gates}
    assert by_name["fairness_error_parity"]["passed"] is False
    assert by_name["privacy_no_pii"]["passed"] is True
    assert by_name["privacy_no_raw_rows"]["passed"] is True
    assert by_name["privacy_k_anonymity"]["passed"] is None
