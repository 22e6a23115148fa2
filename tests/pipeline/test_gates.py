"""Gates and verdicts: pure functions, no kernels."""

from __future__ import annotations

import math

import pytest

from mmm_evidence.config import ElasticityGate, GateSettings, IdentificationGate
from mmm_evidence.pipeline.gates import (
    ELASTICITY_MEDIAN_ERROR,
    ELASTICITY_NO_MISSED_CHANNEL,
    ELASTICITY_NO_PHANTOM_CHANNEL,
    FAIL,
    HOLDOUT_R2,
    NOT_ASSESSABLE,
    PASS,
    count_gates,
    elasticity_median_error_gate,
    elasticity_no_missed_channel_gate,
    elasticity_no_phantom_channel_gate,
    elasticity_table,
    evaluate_gates,
    experiment_verdict,
    finite_number,
    flat_responses,
    holdout_r2_gate,
    tenant_verdict,
)

SETTINGS = GateSettings()
EL = ElasticityGate()  # max median error 0.25, min true share 0.02, zero 0.01 / 1e-4

TRUTH = {
    "elasticity": {"tv": 0.10, "search": 0.05, "social": 0.004},
    "contribution_share": {"tv": 0.20, "search": 0.08, "social": 0.01},
    "roi": {"tv": 1.5, "search": 2.5, "social": 0.4},
}


def scraps(r2: float | None = 0.9, elasticities: dict | None = None, truth: dict | None = None
           ) -> dict:
    out: dict = {"elasticities": elasticities if elasticities is not None
                 else {"tv": 0.11, "search": 0.052, "social": 0.0}}
    if r2 is not None:
        out["metrics"] = {"holdout": {"r2": r2, "mape": 0.1, "nrmse": 0.1}}
    if truth is not None:
        out["truth"] = truth
    return out


def by_name(gates: list[dict]) -> dict[str, dict]:
    return {g["name"]: g for g in gates}


# --------------------------------------------------------------------------- holdout R²


@pytest.mark.parametrize(("r2", "passed"), [(0.5, True), (0.93, True), (0.4999, False),
                                            (-3.0, False)])
def test_holdout_r2_gate_compares_with_min(r2: float, passed: bool) -> None:
    gate = holdout_r2_gate({"holdout": {"r2": r2}}, 0.5)
    assert gate == {"name": HOLDOUT_R2, "threshold": 0.5, "value": r2, "passed": passed,
                    "detail": gate["detail"]}
    assert set(gate) == {"name", "threshold", "value", "passed", "detail"}


def test_holdout_r2_detail_shows_the_cv_folds_beside_the_one_holdout() -> None:
    metrics = {"holdout": {"r2": 0.594}, "cv": {"folds": [{"r2": -0.11}, {"r2": -0.23},
                                                           {"r2": 0.35}, {"r2": 0.64}]}}
    gate = holdout_r2_gate(metrics, 0.5)
    assert gate["passed"] is True  # the gate is the holdout's; the folds are shown
    assert gate["detail"] == ("holdout R² 0.594 ≥ 0.5 (rolling-origin CV: mean R² 0.163 over "
                              "4 folds, lowest -0.230)")
    assert holdout_r2_gate({"holdout": {"r2": 0.6}}, 0.5)["detail"] == "holdout R² 0.600 ≥ 0.5"


@pytest.mark.parametrize("metrics", [None, {}, {"holdout": {}}, {"holdout": {"r2": None}},
                                     {"holdout": {"r2": float("nan")}},
                                     {"holdout": {"r2": "nan"}}, {"holdout": {"r2": True}}])
def test_holdout_r2_gate_is_null_without_a_finite_value(metrics: object) -> None:
    gate = holdout_r2_gate(metrics, 0.5)
    assert gate["value"] is None and gate["passed"] is None


# --------------------------------------------------------------------------- elasticities


def test_elasticity_table_marks_counted_channels_and_relative_errors() -> None:
    table = elasticity_table(scraps(truth=TRUTH), EL)
    assert table["tv"] == {"estimate": 0.11, "truth": 0.1, "relative_error": pytest.approx(0.1),
                           "true_share": 0.2, "counted": True, "counted_by": "share"}
    assert table["search"]["relative_error"] == pytest.approx(0.04)
    assert table["search"]["counted"] is True
    assert table["social"]["counted"] is False  # true share 1 % < 2 %
    assert table["social"]["relative_error"] == pytest.approx(1.0)


def test_a_truth_with_elasticities_only_is_judged_on_the_elastic_channels() -> None:
    # a user's truth file may give elasticities alone: the median gate then counts the
    # channels with a true elasticity >= zero_true_elasticity (0.01) instead of not judging
    truth = {"elasticity": TRUTH["elasticity"],
             "contribution_share": {"tv": None, "search": None, "social": None},
             "roi": {"tv": None, "search": None, "social": None}}
    table = elasticity_table(scraps(truth=truth), EL)
    assert [(c, row["counted"], row["counted_by"]) for c, row in table.items()] == [
        ("tv", True, "elasticity"), ("search", True, "elasticity"),
        ("social", False, "elasticity")]  # 0.004 < 0.01
    gate = elasticity_median_error_gate(table, True, EL)
    assert gate["passed"] is True and gate["value"] == pytest.approx((0.1 + 0.04) / 2)
    assert ("the truth gives no contribution share for search, social, tv: counted when the "
            "true elasticity is ≥ 0.01") in gate["detail"]
    # shares where the truth gives them, elasticities where it does not
    mixed = {**truth, "contribution_share": {"tv": 0.2, "search": None, "social": 0.01}}
    rows = elasticity_table(scraps(truth=mixed), EL)
    assert [rows[c]["counted_by"] for c in ("tv", "search", "social")] == [
        "share", "elasticity", "share"]
    assert "no contribution share for search:" in elasticity_median_error_gate(
        rows, True, EL)["detail"]
    assert "no contribution share" not in elasticity_median_error_gate(
        elasticity_table(scraps(truth=TRUTH), EL), True, EL)["detail"]


def test_a_channel_that_lowers_the_kpi_is_judged_by_the_size_of_its_effect() -> None:
    # a truth file may hold a harmful channel (negative elasticity and share): MMM v2 puts it
    # at zero, a 100 % error that the median gate must see, not skip as "no effect"
    harmful = {"elasticity": {"tv": 0.10, "search": -0.05, "social": 0.004},
               "contribution_share": {"tv": 0.20, "search": -0.04, "social": 0.01}}
    data = scraps(elasticities={"tv": 0.11, "search": 0.0, "social": 0.0}, truth=harmful)
    table = elasticity_table(data, EL)
    assert table["search"]["counted"] is True and table["search"]["relative_error"] == 1.0
    gates = by_name(evaluate_gates(data, SETTINGS))
    gate = gates[ELASTICITY_MEDIAN_ERROR]
    assert gate["value"] == pytest.approx((0.1 + 1.0) / 2) and gate["passed"] is False
    assert "search lowers the KPI (true elasticity below 0" in gate["detail"]
    assert gate["detail"].startswith("median over 2 channel(s) with |true share| ≥ 0.02")
    # estimated at zero, it is a missed effect, even where the other channels are exact and
    # the median error passes
    missed = gates[ELASTICITY_NO_MISSED_CHANNEL]
    assert missed["passed"] is False and missed["value"] == 1
    assert "search lowers the KPI: an effect MMM v2's non-negative media cannot" in \
        missed["detail"]
    exact = scraps(elasticities={"tv": 0.1, "search": 0.0, "social": 0.004}, truth={
        "elasticity": {"tv": 0.1, "search": -0.2, "social": 0.004, "promo": 0.0}})
    assert by_name(evaluate_gates(exact, SETTINGS))[ELASTICITY_NO_MISSED_CHANNEL][
        "passed"] is False
    # elasticities only: counted by the size of the elasticity too
    only = {"elasticity": harmful["elasticity"]}
    assert elasticity_table(scraps(truth=only), EL)["search"]["counted"] is True
    # a harmful channel estimated as helping is a phantom
    helped = scraps(elasticities={"tv": 0.11, "search": 0.02, "social": 0.0}, truth=harmful)
    phantom = by_name(evaluate_gates(helped, SETTINGS))[ELASTICITY_NO_PHANTOM_CHANNEL]
    assert phantom["passed"] is False
    assert phantom["detail"].startswith("1 channel(s) without a true positive effect")
    assert "lowers the KPI" not in elasticity_median_error_gate(
        elasticity_table(scraps(truth=TRUTH), EL), True, EL)["detail"]


def test_elasticity_table_and_median_gate_carry_the_oracle_floor() -> None:
    data = {**scraps(truth=TRUTH), "oracle_elasticities": {"tv": 0.102, "search": 0.05,
                                                           "social": 0.001}}
    table = elasticity_table(data, EL)
    assert table["tv"]["oracle_estimate"] == 0.102
    assert table["tv"]["oracle_relative_error"] == pytest.approx(0.02)
    assert table["search"]["oracle_relative_error"] == pytest.approx(0.0)
    gate = elasticity_median_error_gate(table, True, EL)
    assert gate["value"] == pytest.approx((0.1 + 0.04) / 2)  # judged on the model, not the floor
    # the floor is the median over the same counted channels (social is not counted)
    assert "true media response the same model form reaches 0.010" in gate["detail"]
    # an oracle without every counted channel gives no floor rather than a wrong one
    partial = elasticity_table({**data, "oracle_elasticities": {"tv": 0.102}}, EL)
    assert partial["search"]["oracle_relative_error"] is None
    assert "true media response" not in elasticity_median_error_gate(partial, True, EL)["detail"]


def test_elasticity_table_without_truth_has_estimates_only() -> None:
    table = elasticity_table(scraps(), EL)
    assert table["tv"] == {"estimate": 0.11, "truth": None, "relative_error": None,
                           "true_share": None, "counted": False, "counted_by": None}


def test_elasticity_table_lists_channels_only_in_truth() -> None:
    table = elasticity_table(scraps(elasticities={"tv": 0.1}, truth=TRUTH), EL)
    assert table["search"]["estimate"] is None and table["search"]["counted"] is True


def test_median_error_gate_passes_on_median_of_counted_channels() -> None:
    gates = by_name(evaluate_gates(scraps(truth=TRUTH), SETTINGS))
    gate = gates[ELASTICITY_MEDIAN_ERROR]
    assert gate["value"] == pytest.approx((0.1 + 0.04) / 2)  # social not counted
    assert gate["threshold"] == 0.25 and gate["passed"] is True
    assert "tv" in gate["detail"] and "social" not in gate["detail"]


def test_median_error_gate_fails_above_threshold() -> None:
    truth = {**TRUTH, "elasticity": {"tv": 0.1, "search": 0.05, "social": 0.004}}
    gate = by_name(evaluate_gates(scraps(elasticities={"tv": 0.2, "search": 0.1, "social": 0},
                                         truth=truth), SETTINGS))[ELASTICITY_MEDIAN_ERROR]
    assert gate["value"] == pytest.approx(1.0) and gate["passed"] is False


def test_median_error_gate_fails_when_a_counted_channel_has_no_estimate() -> None:
    table = elasticity_table(scraps(elasticities={"tv": 0.1}, truth=TRUTH), EL)
    gate = elasticity_median_error_gate(table, True, EL)
    assert gate["passed"] is False and "no estimate for search" in gate["detail"]


@pytest.mark.parametrize("truth", [None, {}, {"elasticity": {}}])
def test_truth_gates_are_null_without_truth(truth: dict | None) -> None:
    gates = by_name(evaluate_gates(scraps(truth=truth), SETTINGS))
    for name in (ELASTICITY_MEDIAN_ERROR, ELASTICITY_NO_MISSED_CHANNEL,
                 ELASTICITY_NO_PHANTOM_CHANNEL):
        assert gates[name]["passed"] is None and gates[name]["value"] is None
        assert "no ground truth" in gates[name]["detail"]


def test_median_error_gate_is_null_when_no_channel_is_large_enough() -> None:
    truth = {**TRUTH, "contribution_share": {"tv": 0.01, "search": 0.01, "social": 0.01}}
    table = elasticity_table(scraps(truth=truth), EL)
    gate = elasticity_median_error_gate(table, True, EL)
    assert gate["passed"] is None and gate["value"] is None


def test_missed_channel_gate_counts_channels_estimated_at_zero() -> None:
    est = {"tv": 0.3, "search": 0.0, "social": 0.0}  # search (true 0.05) missed
    table = elasticity_table(scraps(elasticities=est, truth=TRUTH), EL)
    gate = elasticity_no_missed_channel_gate(table, True, EL)
    assert gate["value"] == 1 and gate["threshold"] == 0 and gate["passed"] is False
    assert "search" in gate["detail"] and "social" not in gate["detail"].split(":")[-1]


def test_missed_channel_gate_uses_zero_estimate_threshold() -> None:
    est = {"tv": 0.1, "search": 5e-5, "social": 0.0}  # 5e-5 <= 1e-4 counts as zero
    table = elasticity_table(scraps(elasticities=est, truth=TRUTH), EL)
    assert elasticity_no_missed_channel_gate(table, True, EL)["value"] == 1
    est["search"] = 2e-4
    table = elasticity_table(scraps(elasticities=est, truth=TRUTH), EL)
    gate = elasticity_no_missed_channel_gate(table, True, EL)
    assert gate["value"] == 0 and gate["passed"] is True


def test_phantom_channel_gate_counts_channels_without_effect_estimated_as_elastic() -> None:
    truth = {**TRUTH, "elasticity": {"tv": 0.10, "search": 0.05, "social": 0.0}}
    est = {"tv": 0.1, "search": 0.05, "social": 0.04}  # social has no effect: 0.04 invented
    gate = elasticity_no_phantom_channel_gate(
        elasticity_table(scraps(elasticities=est, truth=truth), EL), True, EL)
    assert gate["value"] == 1 and gate["threshold"] == 0 and gate["passed"] is False
    assert gate["detail"].endswith("estimated at ≥ 0.01: social 0.04")
    # the median error does not see it: social's true share is below 2 %
    table = elasticity_table(scraps(elasticities=est, truth=truth), EL)
    assert elasticity_median_error_gate(table, True, EL)["passed"] is True
    est["social"] = 0.009  # below zero_true_elasticity: not a phantom
    gate = elasticity_no_phantom_channel_gate(
        elasticity_table(scraps(elasticities=est, truth=truth), EL), True, EL)
    assert gate["value"] == 0 and gate["passed"] is True


def test_phantom_channel_gate_only_judges_channels_without_a_true_effect() -> None:
    est = {"tv": 0.5, "search": 0.5, "social": 0.5}  # TRUTH's social is 0.004: it has an effect
    gate = elasticity_no_phantom_channel_gate(
        elasticity_table(scraps(elasticities=est, truth=TRUTH), EL), True, EL)
    assert gate["passed"] is True and gate["detail"].startswith("0 channel(s) without")


def test_gate_thresholds_come_from_settings() -> None:
    settings = GateSettings.model_validate({"holdout_r2": {"min": 0.95},
                                            "elasticity": {"max_median_relative_error": 0.01}})
    gates = by_name(evaluate_gates(scraps(truth=TRUTH), settings))
    assert gates[HOLDOUT_R2]["threshold"] == 0.95 and gates[HOLDOUT_R2]["passed"] is False
    assert gates[ELASTICITY_MEDIAN_ERROR]["passed"] is False


# --------------------------------------------------------------------------- verdicts


def G(passed: bool | None) -> dict:  # noqa: N802 - a tiny gate factory
    return {"name": "g", "threshold": 0, "value": 0, "passed": passed, "detail": ""}


@pytest.mark.parametrize(("passed", "errored", "verdict"), [
    ([True, True, True], False, PASS),
    ([True, False, True], False, FAIL),
    ([True, None, True], False, NOT_ASSESSABLE),
    ([False, None, None], False, FAIL),
    ([True, True, True], True, FAIL),
    ([None, None, None], True, FAIL),
    ([], False, NOT_ASSESSABLE),
])
def test_tenant_verdict(passed: list, errored: bool, verdict: str) -> None:
    assert tenant_verdict([G(p) for p in passed], errored=errored) == verdict


@pytest.mark.parametrize(("verdicts", "errored", "verdict"), [
    ([PASS, PASS], False, PASS),
    ([PASS, NOT_ASSESSABLE], False, NOT_ASSESSABLE),
    ([PASS, NOT_ASSESSABLE, FAIL], False, FAIL),
    ([PASS, PASS], True, FAIL),
    ([], False, NOT_ASSESSABLE),
])
def test_experiment_verdict(verdicts: list, errored: bool, verdict: str) -> None:
    assert experiment_verdict(verdicts, errored=errored) == verdict


def test_pure_noise_tenant_fails_through_r2_even_without_truth() -> None:
    gates = evaluate_gates(scraps(r2=-0.4, elasticities={"tv": 0.0}, truth={}), SETTINGS)
    assert by_name(gates)[HOLDOUT_R2]["passed"] is False
    assert tenant_verdict(gates) == FAIL


def test_real_tenant_without_truth_is_not_assessable_never_pass() -> None:
    gates = evaluate_gates(scraps(r2=0.99, truth={}), SETTINGS)
    assert tenant_verdict(gates) == NOT_ASSESSABLE


def test_count_gates() -> None:
    assert count_gates([G(True), G(False), G(None), G(None)]) == {
        "total": 4, "passed": 1, "failed": 1, "not_assessable": 2}


def test_values_are_finite_or_none() -> None:
    gates = evaluate_gates(scraps(r2=float("inf"), truth=TRUTH), SETTINGS)
    assert all(g["value"] is None or math.isfinite(g["value"]) for g in gates)


def test_roi_gate_judges_the_average_effect_beside_the_marginal_one() -> None:
    from mmm_evidence.config import RoiGate
    from mmm_evidence.pipeline.gates import ROI_MEDIAN_ERROR, roi_median_error_gate

    # search's elasticity can be right while its contribution (and ROI) is a third of the truth
    good = {**scraps(truth=TRUTH), "roi": {"tv": 1.4, "search": 2.7, "social": 0.0}}
    gate = roi_median_error_gate(good, True, RoiGate())
    assert gate["name"] == ROI_MEDIAN_ERROR and gate["passed"] is True
    # social's true share is 1 % < 2 %: not counted; tv 0.067, search 0.08
    assert gate["value"] == pytest.approx((0.1 / 1.5 + 0.2 / 2.5) / 2)
    assert gate["detail"] == ("median over 2 channel(s) with true share ≥ 0.02 and a true ROI: "
                              "tv 0.067, search 0.080")
    bad = roi_median_error_gate({**good, "roi": {"tv": 0.5, "search": 0.8}}, True, RoiGate())
    assert bad["passed"] is False and bad["value"] == pytest.approx((1 / 1.5 + 1.7 / 2.5) / 2)
    # a channel without spend has no estimated ROI: named, not counted
    part = roi_median_error_gate({**good, "roi": {"tv": 1.4}}, True, RoiGate())
    assert part["passed"] is True and "no estimated ROI for search (no spend)" in part["detail"]
    assert roi_median_error_gate(good, False, RoiGate())["passed"] is None
    no_roi = {**good, "truth": {k: v for k, v in TRUTH.items() if k != "roi"}}
    gate = roi_median_error_gate(no_roi, True, RoiGate())
    assert gate["passed"] is None and gate["detail"] == "the truth gives no ROI per channel"
    assert by_name(evaluate_gates(good, SETTINGS))[ROI_MEDIAN_ERROR]["passed"] is True


def test_flat_responses_flag_a_contribution_the_spend_barely_moves():
    """elasticity / contribution share is the % a channel's contribution moves per 1 % of
    its spend: a channel saturated at today's spend (coastal_grocery's radio in the default
    run: elasticity 0.010, share 0.234) is flat; a linear one (slope 1) is not."""
    scraps = {"elasticities": {"radio": 0.010084, "tv": 0.05, "tiny": 0.0001, "off": 0.0,
                               "bad": float("nan")},
              "contribution_shares": {"radio": 0.2341, "tv": 0.05, "tiny": 0.01, "off": 0.0,
                                      "bad": 0.1}}
    rows = flat_responses(scraps, IdentificationGate())
    assert set(rows) == {"radio", "tv"}  # below min_share, zero or not finite: not judged
    assert rows["radio"]["contribution_slope"] == pytest.approx(0.010084 / 0.2341)
    assert rows["radio"]["flat"] is True and rows["tv"] == {"contribution_slope": 1.0,
                                                           "flat": False}
    lenient = IdentificationGate(min_contribution_slope=0.04)
    assert flat_responses(scraps, lenient)["radio"]["flat"] is False
    assert flat_responses({}, IdentificationGate()) == {}


def test_identification_gate_flags_wide_or_zero_intervals():
    from mmm_evidence.config import IdentificationGate
    from mmm_evidence.pipeline.gates import elasticity_identified_gate, identification

    scraps = {
        "elasticities": {"tv": 0.05, "radio": 0.02, "tiny": 0.001, "search": 0.03},
        "contribution_shares": {"tv": 0.1, "radio": 0.04, "tiny": 0.005, "search": 0.05},
        "uncertainty": {"elasticity": {
            "tv": {"low": 0.04, "high": 0.06},      # width 0.4x: identified
            "radio": {"low": 0.0, "high": 0.03},    # reaches zero: not identified
            "tiny": {"low": 0.0, "high": 0.01},     # share below min_share: not judged
            "search": {"low": 0.01, "high": 0.08},  # width 2.33x > 2: not identified
        }},
    }
    settings = IdentificationGate(max_relative_width=2.0, min_share=0.02)
    table = identification(scraps, settings)
    assert set(table) == {"tv", "radio", "search"}
    assert [c for c, r in table.items() if r["identified"]] == ["tv"]
    g = elasticity_identified_gate(scraps, settings)
    assert (g["value"], g["passed"]) == (2, False)
    assert "radio" in g["detail"] and "search" in g["detail"]
    off = elasticity_identified_gate({**scraps, "uncertainty": {}}, settings)
    assert off["passed"] is None and "bootstrap off" in off["detail"]
    # intervals reported, but the model gives no channel a share worth judging: say so
    none = elasticity_identified_gate(
        {**scraps, "contribution_shares": {c: 0.001 for c in scraps["elasticities"]}}, settings)
    assert none["passed"] is None and "bootstrap off" not in none["detail"]
    assert none["detail"] == ("no channel to judge: none has an estimated contribution share "
                              "≥ 0.02 (largest 0.10 %)")
    # intervals reported, but not for the channels that matter
    bad = {**scraps, "uncertainty": {"elasticity": {
        c: {"low": None, "high": float("nan")} for c in scraps["elasticities"]}}}
    gate = elasticity_identified_gate(bad, settings)
    assert gate["passed"] is None
    assert gate["detail"] == ("no usable elasticity and interval for radio, search, tv "
                              "(estimated share ≥ 0.02): one of them missing or not finite")


@pytest.mark.parametrize(("value", "expected"), [
    (0.5, 0.5), (3, 3.0), ("0.25", 0.25), (None, None), (True, None), ("n/a", None),
    (float("nan"), None), (float("inf"), None), ([1], None)])
def test_finite_number_keeps_finite_numbers_only(value, expected) -> None:
    assert finite_number(value) == expected


def test_without_the_validation_notebook_its_gates_say_why_and_truth_comes_from_config() -> None:
    why = "the validation notebook is not in this experiment's notebooks"
    importance = {"importance": [{"kind": "channel", "feature": c, "mmm_share": s,
                                  "true_share": None} for c, s in (("tv", .2), ("a", .1),
                                                                   ("b", .05))]}
    gates = by_name(evaluate_gates({}, SETTINGS, validation_unavailable=why, has_truth=True,
                                   importance=importance))
    validation = [HOLDOUT_R2, ELASTICITY_MEDIAN_ERROR, ELASTICITY_NO_MISSED_CHANNEL,
                  ELASTICITY_NO_PHANTOM_CHANNEL, "elasticity_identified"]
    assert [(gates[n]["passed"], gates[n]["detail"]) for n in validation] == [(None, why)] * 5
    assert gates[ELASTICITY_MEDIAN_ERROR]["threshold"] == 0.25
    # the tenant has a truth file without shares, not "no ground truth"
    assert "the truth file gives no contribution share" in gates["importance_agreement"][
        "detail"]
    # with the validation scraps the gates are judged as before
    assert by_name(evaluate_gates(scraps(truth=TRUTH), SETTINGS))[HOLDOUT_R2]["passed"] is True
