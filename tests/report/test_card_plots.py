"""The model card's figures come from artifact dicts: valid, reproducible PNGs or None."""

from __future__ import annotations

import pytest

from mmm_evidence.report import card_plots

PNG = b"\x89PNG\r\n\x1a\n"

WEEKLY = {"dates": ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"],
          "actual": [10.0, 12.0, 11.0, 13.0], "predicted": [10.5, 11.5, None, 12.1],
          "train_weeks": 3, "kpi": "revenue"}
SECTION = {"elasticities": {"tv": {"estimate": 0.1, "truth": 0.12},
                            "search": {"estimate": 0.05, "truth": None}},
           "uncertainty": {"level": 0.9, "elasticity": {"tv": {"low": 0.08, "high": 0.13},
                                                        "search": {"low": 0.0, "high": 0.1}}}}
BASELINES = {"status": "ok", "mmm": {"holdout": {"mape": 0.03}, "cv_mean": {"mape": 0.04}},
             "baselines": {"linear": {"holdout": {"metrics": {"mape": 0.05}},
                                      "cv_mean": {"metrics": {"mape": 0.06}}}}}
ROBUSTNESS = {"status": "ok", "checks": [
    {"name": "noise", "comparison": "<=", "threshold": 0.1, "value": 0.05, "passed": True},
    {"name": "fit", "comparison": ">=", "threshold": 0.5, "value": 0.2, "passed": False},
    {"name": "exact", "comparison": "<=", "threshold": 0, "value": 0, "passed": True}]}


@pytest.mark.parametrize(("draw", "arg"), [
    (card_plots.actual_vs_predicted_png, WEEKLY), (card_plots.elasticities_png, SECTION),
    (card_plots.baselines_png, BASELINES), (card_plots.robustness_png, ROBUSTNESS)])
def test_figures_are_reproducible_pngs(draw, arg) -> None:
    first = draw(arg)
    assert first is not None and first.startswith(PNG) and len(first) > 2000
    assert draw(arg) == first
    assert b"Software" not in first[:400]  # no tool/version stamp in the PNG text chunks


@pytest.mark.parametrize(("draw", "arg"), [
    (card_plots.actual_vs_predicted_png, None),
    (card_plots.actual_vs_predicted_png, {**WEEKLY, "actual": [1.0]}),  # lengths differ
    (card_plots.elasticities_png, {"elasticities": {"tv": {"estimate": None}}}),
    (card_plots.baselines_png, {"status": "not run"}),
    (card_plots.robustness_png, {"status": "ok", "checks": [{"name": "x", "value": None}]}),
])
def test_nothing_to_draw_gives_none(draw, arg) -> None:
    assert draw(arg) is None


def test_figures_differ_when_the_data_differs() -> None:
    other = {**WEEKLY, "actual": [10.0, 15.0, 11.0, 13.0]}
    assert card_plots.actual_vs_predicted_png(other) != card_plots.actual_vs_predicted_png(
        WEEKLY)


def test_the_robustness_chart_caption_names_the_checks_it_does_not_draw() -> None:
    from mmm_evidence.report.document import Figure
    from mmm_evidence.report.model_card import _robustness_blocks

    figures = [b for b in _robustness_blocks(ROBUSTNESS, "acme") if isinstance(b, Figure)]
    assert len(figures) == 1
    assert figures[0].caption.endswith(
        "Not drawn (no margin: a threshold of 0, no value, or a value its check did not "
        "judge): exact.")
    # a value its check did not judge (a share its test cannot tell from noise) passes above
    # its threshold: drawn, it would sit right of the line in the passing colour
    unjudged = {"name": "baseline_form", "comparison": "<=", "threshold": 0.14, "value": 0.4,
                "passed": True, "judged": False}
    section = {**ROBUSTNESS, "checks": [*ROBUSTNESS["checks"], unjudged]}
    assert [c["name"] for c in card_plots.drawable_checks(section)] == ["noise", "fit"]
    figures = [b for b in _robustness_blocks(section, "acme") if isinstance(b, Figure)]
    assert figures[0].caption.endswith("judge): exact, baseline_form.")


def test_twenty_channels_get_twenty_colours_in_notebooks_and_card() -> None:
    from mmm_evidence.report import plots

    assert len(set(card_plots.PALETTE)) == len(card_plots.PALETTE) >= 20
    assert plots.PALETTE is card_plots.PALETTE
