"""model_card.html from a report dict: verdict banner, tables, escaping, self-contained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmm_evidence.report.model_card import (
    media_summary,
    render_model_card,
    render_model_card_markdown,
    write_model_card,
)
from tests.fixtures.pipeline import experiment as builder

remote_fetches = builder.remote_fetches

EVIL = '<script>alert("pwned")</script>'


def gate(name: str, value: float | None, threshold: float, passed: bool | None) -> dict:
    return {"name": name, "value": value, "threshold": threshold, "passed": passed,
            "detail": f"detail of {name}"}


def report(verdict: str = "FAIL") -> dict:
    return {
        "schema_version": 1, "artifact": "validation_report", "experiment": "mmm_v2",
        "run_id": "0123456789ab", "package_version": "0.1.0", "git_commit": None,
        "verdict": verdict,
        "gate_counts": {"total": 6, "passed": 3, "failed": 1, "not_assessable": 2},
        "notebooks": ["validation"], "tenant_order": ["acme", "noisy"],
        "errors": [{"tenant": "noisy", "notebook": "validation",
                    "error": f"ValueError: bad {EVIL}"}],
        "tenants": {
            "acme": {
                "display_name": f"Acme {EVIL}", "status": "ok", "verdict": "PASS",
                "data_error": None,
                "data": {"weeks": 156, "train_weeks": 130, "holdout_weeks": 26, "segments": 10,
                         "channels": ["tv", "search"], "controls": ["price_index"],
                         "start": "2023-01-02", "end": "2025-12-22"},
                "metrics": {"holdout": {"r2": 0.87, "mape": 0.041, "nrmse": 0.07},
                            "in_sample": {"r2": 0.93, "mape": 0.03, "nrmse": 0.05}},
                "elasticities": {
                    "tv": {"estimate": 0.11, "truth": 0.1, "relative_error": 0.1,
                           "true_share": 0.2, "counted": True},
                    "search": {"estimate": 0.05, "truth": 0.05, "relative_error": 0.0,
                               "true_share": 0.08, "counted": True}},
                "contribution_shares": {"tv": 0.21, "search": 0.07},
                "roi": {"tv": 1.4, "search": 2.7},
                "truth": {"contribution_share": {"tv": 0.2, "search": 0.08},
                          "roi": {"tv": 1.5, "search": 2.5}},
                "model": {}, "fit": {},
                "gates": [gate("holdout_r2", 0.87, 0.5, True),
                          gate("elasticity_median_error", 0.05, 0.25, True),
                          gate("elasticity_no_missed_channel", 0, 0, True)],
                "notebooks": {"validation": {"status": "ok",
                                             "ipynb": "tenants/acme/validation.ipynb",
                                             "html": "tenants/acme/validation.html",
                                             "error": None}},
            },
            "noisy": {
                "display_name": "Noisy", "status": "error", "verdict": "FAIL",
                "data_error": None, "data": None, "metrics": None, "elasticities": {},
                "contribution_shares": None, "roi": None, "truth": None, "model": None,
                "fit": None,
                "gates": [gate("holdout_r2", -0.2, 0.5, False),
                          gate("elasticity_median_error", None, 0.25, None),
                          gate("elasticity_no_missed_channel", None, 0, None)],
                "notebooks": {"validation": {"status": "error",
                                             "ipynb": "tenants/noisy/validation.ipynb",
                                             "html": "tenants/noisy/validation.html",
                                             "error": f"ValueError: bad {EVIL}"}},
            },
        },
    }


def test_all_text_is_escaped() -> None:
    html = render_model_card(report())
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html
    assert "Acme &lt;script&gt;" in html


def test_self_contained_and_phone_friendly() -> None:
    html = render_model_card(report())
    assert remote_fetches(html) == []
    assert "<link" not in html and "http://" not in html and "https://" not in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<style>" in html and "overflow-x: auto" in html


@pytest.mark.parametrize(("verdict", "css"), [("PASS", "pass"), ("FAIL", "fail"),
                                              ("NOT ASSESSABLE", "na")])
def test_verdict_banner_colour(verdict: str, css: str) -> None:
    html = render_model_card(report(verdict))
    assert re.search(rf'<div class="banner {css}">Verdict: {verdict}<small>', html)


def tenant_html(html: str, tenant: str) -> str:
    start = html.index(f'<section id="tenant-{tenant}">')
    return html[start:html.index("</section>", start)]


def test_gate_tables_show_value_threshold_and_result() -> None:
    html = tenant_html(render_model_card(report()), "acme")
    row = re.search(r"<tr><td><code>holdout_r2</code></td>(.*?)</tr>", html).group(1)
    assert '<td class="num">0.870</td><td class="num">0.500</td>' in row
    assert "badge pass" in row
    assert row.endswith('<td><a href="tenants/acme/validation.html">validation</a></td>')
    html = render_model_card(report())
    noisy = tenant_html(html, "noisy")
    assert 'badge fail">FAIL' in noisy and 'badge na">NOT ASSESSABLE' in noisy
    missed = re.search(r"<code>elasticity_no_missed_channel</code></td>(.*?)</tr>",
                       tenant_html(html, "acme")).group(1)
    assert missed.startswith('<td class="num">0</td><td class="num">0</td>')


def test_metrics_elasticities_errors_and_relative_links() -> None:
    html = render_model_card(report())
    assert "<td>holdout</td><td class=\"num\">0.870</td><td class=\"num\">4.1 %</td>" in html
    # estimate, interval (none in this report), truth, relative error, counted
    assert re.search(r"<td>tv</td><td class=\"num\">0.110</td><td class=\"num\">—</td>"
                     r"<td class=\"num\">0.100</td><td class=\"num\">0.100</td>"
                     r"<td class=\"num\">yes</td>", html)
    assert '<a href="tenants/acme/validation.html">full HTML</a>' in html
    assert '<a href="tenants/noisy/validation.html">full HTML</a>' in html
    assert '<h2 id="errors">Errors</h2>' in html and "ValueError: bad" in html


def test_error_floor_column_only_with_an_oracle() -> None:
    assert "error floor" not in render_model_card(report())
    data = report()
    data["tenants"]["acme"]["elasticities"]["tv"].update(
        {"oracle_estimate": 0.098, "oracle_relative_error": 0.02})
    acme = tenant_html(render_model_card(data), "acme")
    assert "<th>error floor</th>" in acme or ">error floor<" in acme
    # estimate, interval, truth, relative error, error floor, counted
    assert re.search(r"<td>tv</td><td class=\"num\">0.110</td><td class=\"num\">—</td>"
                     r"<td class=\"num\">0.100</td><td class=\"num\">0.100</td>"
                     r"<td class=\"num\">0.020</td><td class=\"num\">yes</td>", acme)
    assert "need not be estimated" in acme


def test_minimal_report_renders(tmp_path: Path) -> None:
    path = write_model_card({"verdict": "NOT ASSESSABLE"}, tmp_path / "card" / "m.html")
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "banner na" in html


def test_intervals_cv_and_not_identified_channels_are_shown() -> None:
    data = report()
    section = data["tenants"]["acme"]
    section["uncertainty"] = {"elasticity": {"tv": {"low": 0.09, "high": 0.13}}}
    section["identification"] = {"tv": {"identified": False}}
    section["metrics"]["cv"] = {"folds": [{"name": "fold1", "test_start": 130, "test_end": 143,
                                           "r2": 0.8, "mape": 0.05, "nrmse": 0.1}],
                                "mean": {"r2": 0.8, "mape": 0.05, "nrmse": 0.1}}
    section["metrics"]["holdout"]["rmse_to_noise"] = 1.07
    html = render_model_card(data)
    assert "[0.090, 0.130] <span class=\"badge na\">not identified</span>" in html
    assert "<td>CV fold1 (weeks 131–143)</td>" in html and "<td>CV mean</td>" in html
    assert "1.07× the noise floor" in html


def test_lift_tests_are_shown_with_their_consistency() -> None:
    data = report()
    data["tenants"]["acme"]["lift_tests"] = {"calibrated": False, "tests": [
        {"channel": "tv", "start": "2024-03-04", "end": "2024-04-08", "spend_change": 1.0,
         "lift": 1200.0, "lift_se": 150.0, "implied_lift": 900.0, "z": -2.0,
         "consistent": True}]}
    html = render_model_card(data)
    assert "<h3>Lift tests</h3>" in html and "independent comparison" in html
    assert "2024-03-04 – 2024-04-08" in html and "consistent" in html
    assert '<td class="num">+100 %</td>' in html  # a change in %, not "1.00"
    data["tenants"]["acme"]["lift_tests"]["tests"][0]["spend_change"] = -1
    assert '<td class="num">−100 %</td>' in render_model_card(data)


def test_each_tenant_opens_with_what_its_model_credits_to_media() -> None:
    data = report()
    acme = data["tenants"]["acme"]
    acme["data"]["kpi"] = "revenue"
    assert media_summary(acme) == (
        "MMM v2 credits 28.0 % of the revenue to media (largest: tv 21.0 %, search 7.0 %). "
        "No lift test in the data checks these figures: they rest on the observational fit "
        "alone, which spend that follows demand can inflate.")
    assert media_summary(acme) in render_model_card(data)
    acme["lift_tests"] = {"tests": [{"channel": "tv", "consistent": True},
                                    {"channel": "search", "consistent": False}]}
    assert media_summary(acme).endswith("2 lift test(s) in the data check it: 1 consistent "
                                        "with the model.")
    acme["lift_tests"]["tests"].append({"channel": "tv", "consistent": None})
    assert media_summary(acme).endswith("3 lift test(s) in the data check it: 1 consistent "
                                        "with the model, 1 not assessable.")
    acme["lift_tests"]["calibrated"] = True  # fitted to them: no independent check left
    assert media_summary(acme).endswith("The fit was calibrated with the data's 3 lift "
                                        "test(s), so none is left to check it independently.")
    acme["contribution_shares"] = {"tv": 0.0, "search": 0.0}
    assert media_summary(acme).startswith("MMM v2 credits 0.0 % of the revenue to media.")
    assert media_summary(data["tenants"]["noisy"]) is None  # no shares: no sentence


# --------------------------------------------------------------------------- the full card

SCRIPT_NAME = "<script>alert(1)</script>"


def manifest() -> dict:
    return {
        "run_id": "0123456789ab", "started": "2026-03-01T10:00:00+00:00",
        "finished": "2026-03-01T10:04:00+00:00",
        "python": {"version": "3.11.7", "implementation": "CPython",
                   "executable": "/abs/python"},
        "platform": "Linux-6-x86_64", "packages": {"numpy": "2.0.0", "papermill": "2.6.0"},
        "git": {"commit": "f" * 40, "dirty": True},
        "kernel": {"name": "mmm-evidence", "display_name": "Python (mmm-evidence)"},
        "params_hash": "beef" * 16, "notebook_hashes": {"validation": "ab" * 32},
        "environment": {"OMP_NUM_THREADS": "1"},
        "parameters": {"seed": 7, "model": {"fourier_order": 2, "max_decay": 0.9},
                       "evaluation": {"holdout_weeks": 26}},
        "data_hashes": {"acme": {"/abs/outputs/data/acme/acme.csv": "c" * 64}},
    }


def full_report() -> dict:
    data = report()
    acme = data["tenants"]["acme"]
    acme["display_name"] = SCRIPT_NAME
    acme["model"] = {"version": "mmm_v2.0"}
    acme["uncertainty"] = {"level": 0.9, "elasticity": {"tv": {"low": 0.09, "high": 0.13},
                                                        "search": {"low": 0.0, "high": 0.2}}}
    acme["identification"] = {"search": {"identified": False}, "tv": {"identified": True}}
    acme["weekly_totals"] = {"dates": ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"],
                             "actual": [10.0, 12.0, 11.0, 13.0],
                             "predicted": [10.5, 11.5, 11.2, 12.1], "train_weeks": 3,
                             "kpi": "revenue"}
    acme["notebooks"]["validation"]["reviewer_html"] = "tenants/acme/validation.reviewer.html"
    return data


def test_script_display_name_is_shown_as_text_in_html_and_markdown() -> None:
    import html as html_lib

    import mistune

    html = render_model_card(full_report(), run_manifest=manifest())
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = render_model_card_markdown(full_report(), run_manifest=manifest())
    assert "\\<script\\>alert(1)\\</script\\>" in md and SCRIPT_NAME not in md
    rendered = mistune.create_markdown(escape=False, plugins=["table"])(md)
    assert "<script" not in rendered.lower()
    assert SCRIPT_NAME in html_lib.unescape(re.sub(r"<[^>]+>", "", rendered))


def test_markdown_carries_the_same_verdict_tenants_and_gate_rows() -> None:
    md = render_model_card_markdown(full_report(), run_manifest=manifest())
    assert md.startswith("# Model card · mmm_v2\n")
    assert "> **Verdict: FAIL**" in md
    assert ("| `holdout_r2` | 0.870 | 0.500 | **PASS** | detail of holdout_r2 | "
            "[validation](<tenants/acme/validation.reviewer.html>) |") in md
    assert "| `holdout_r2` | -0.200 | 0.500 | **FAIL** |" in md
    assert "**NOT ASSESSABLE**" in md and "## Noisy **FAIL**" in md
    assert "data:image/png" not in md and md.count("*Figure: ") == 2  # weekly + elasticities
    for heading in ("## Model details", "## Intended use", "### Out of scope", "## Data",
                    "## Limitations", "## Open defects", "## Provenance"):
        assert f"\n{heading}\n" in md, heading
    # every in-page link reaches an anchor in the Markdown too (the tenants table links to
    # each tenant's section; a renderer's heading slug is not our anchor)
    links = set(re.findall(r"\]\(<?#([^)>]+)>?\)", md))
    assert {"tenant-acme", "tenant-noisy"} <= links
    assert all(f'<a id="{anchor}"></a>' in md for anchor in links), links


def test_every_section_of_the_card_is_there() -> None:
    html = render_model_card(full_report(), run_manifest=manifest())
    for anchor in ("tenants", "model", "intended-use", "data", "limitations", "defects",
                   "provenance"):
        assert f'<h2 id="{anchor}">' in html, anchor
    assert "<dd>mmm_v2.0</dd>" in html and "variable projection" in html  # model details
    assert "<h3>Out of scope</h3>" in html
    # data: input hashes by file name only (no absolute path), provenance from the manifest
    assert "<td><code>acme.csv</code></td><td><code>" + "c" * 64 in html
    assert "/abs/" not in html
    for text in ("<dd>2026-03-01</dd>", "mmm-evidence 0.1.0", "f" * 40,
                 "uncommitted changes present", "CPython 3.11.7", "Linux-6-x86_64",
                 "<code>papermill</code></td><td>2.6.0", "OMP_NUM_THREADS=1",
                 "<code>model.max_decay</code></td><td>0.9</td>"):
        assert text in html, text


def test_figures_are_drawn_from_the_artifacts_and_embedded() -> None:
    html = render_model_card(full_report())
    acme = tenant_html(html, "acme")
    assert acme.count('<img src="data:image/png;base64,') == 2
    assert "actual vs predicted weekly total KPI" in acme and "elasticities vs truth" in acme
    # noisy has no weekly totals and no elasticities: no figure, no error
    assert "<img" not in tenant_html(html, "noisy")
    assert remote_fetches(html) == []


def test_card_is_reproducible_and_written_as_html_and_markdown(tmp_path: Path) -> None:
    path = write_model_card(full_report(), tmp_path / "model_card.html",
                            run_manifest=manifest())
    md = tmp_path / "model_card.md"
    assert md.is_file() and md.read_text(encoding="utf-8").startswith("# Model card")
    again = write_model_card(full_report(), tmp_path / "b" / "model_card.html",
                             run_manifest=manifest())
    assert path.read_bytes() == again.read_bytes()
    assert md.read_bytes() == (tmp_path / "b" / "model_card.md").read_bytes()


def test_notebook_links_reviewer_and_full_exports() -> None:
    html = tenant_html(render_model_card(full_report()), "acme")
    assert ('<a href="tenants/acme/validation.reviewer.html">reviewer HTML</a> · '
            '<a href="tenants/acme/validation.html">full HTML</a> · '
            '<a href="tenants/acme/validation.ipynb">ipynb</a>') in html
    # the gate table points at the notebook's reviewer export
    assert '<a href="tenants/acme/validation.reviewer.html">validation</a>' in html


def test_limitations_name_weak_channels_and_defects_list_what_did_not_pass() -> None:
    html = render_model_card(full_report())
    limits = html[html.index('<h2 id="limitations">'):html.index('<h2 id="defects">')]
    assert "acme: elasticity not identified for search" in limits
    defects = html[html.index('<h2 id="defects">'):html.index('<h2 id="provenance">')]
    assert "4 open defect(s): 1 notebook error, 1 failed, 2 not assessable." in defects
    assert "<code>elasticity_median_error</code>" in defects
    passing = full_report()
    passing["tenants"].pop("noisy")
    passing["tenant_order"] = ["acme"]
    passing["errors"] = []
    html = render_model_card(passing)
    assert "<p>No open defects.</p>" in html


def test_limitations_name_channels_whose_response_is_flat_at_today_s_spend() -> None:
    data = full_report()
    acme = data["tenants"]["acme"]
    acme["flat_responses"] = {"tv": {"contribution_slope": 0.95, "flat": False},
                              "radio": {"contribution_slope": 0.0431, "flat": True}}
    html = render_model_card(data)
    limits = html[html.index('<h2 id="limitations">'):html.index('<h2 id="defects">')]
    assert ("acme: the fitted response is flat at today&#x27;s spend for radio (elasticity / "
            "contribution share: radio 0.04, below gates.identification.min_contribution_slope") \
        in limits
    assert "do not read their contribution shares or ROI" in limits and "tv 0.95" not in limits
    acme["flat_responses"]["radio"]["flat"] = False
    assert "flat at today" not in render_model_card(data)


def test_limitations_say_when_the_profile_refitted_or_the_fit_is_not_the_optimum() -> None:
    data = full_report()
    acme = data["tenants"]["acme"]

    def limits() -> str:
        html = render_model_card(data)
        return html[html.index('<h2 id="limitations">'):html.index('<h2 id="defects">')]

    acme["fit"] = {"profile_refits": 0, "profile_refit_gain": 0.0, "profile_below_fit": False}
    assert "re-optimised" not in limits() and "not the optimum" not in limits()
    acme["fit"] = {"profile_refits": 1, "profile_refit_gain": 2.345, "profile_below_fit": False}
    assert ("acme: the multi-start missed the optimum; a decay profile found one 2.35 lower "
            "in objective and the fit was re-optimised from it (1x).") in limits()
    acme["fit"] = {"profile_refits": 2, "profile_refit_gain": 3.0, "profile_below_fit": True}
    assert ("acme: the full-history fit is not the optimum: after 2 re-fits a decay profile "
            "still found a lower objective") in limits()
    assert "re-optimised" not in limits()


def test_data_findings_are_listed_in_the_tenant_section_and_the_limitations() -> None:
    data = report()
    data["tenants"]["acme"]["data"]["findings"] = [
        {"kind": "no_spend", "subject": "search",
         "detail": f"channel 'search' has no spend in any of the 156 weeks {EVIL}"}]
    html = render_model_card(data)
    section = html[html.index('id="tenant-acme"'):html.index('id="tenant-noisy"')]
    assert "<h3>Data findings</h3>" in section
    assert "<li>no_spend: channel &#x27;search&#x27; has no spend in any of the 156 weeks" \
        in section
    assert EVIL not in html
    limits = html[html.index('<h2 id="limitations">'):html.index('<h2 id="defects">')]
    assert "acme: channel" in limits and "has no spend in any of the 156 weeks" in limits
    assert "Data findings" not in render_model_card(report())


def test_the_tenants_table_tells_failed_gates_from_not_assessable_ones() -> None:
    from mmm_evidence.report.model_card import _gates_not_passed

    html = render_model_card(report())
    tenants = html[html.index('id="tenants"'):html.index("Gates by tenant")]
    assert "<th>failed</th><th>not assessable</th>" in tenants
    noisy = re.search(r'href="#tenant-noisy">Noisy</a></td>(.*?)</tr>', tenants).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", noisy)
    assert cells[2:4] == ["holdout_r2", "elasticity_median_error, elasticity_no_missed_channel"]
    assert _gates_not_passed([gate("a", None, 1, None), gate("b", None, 1, None)]) == (
        "–", "all 2")  # nothing could be judged: no list of every gate
    assert _gates_not_passed([gate("a", 1, 1, True)]) == ("–", "–")


def test_the_features_table_shows_each_channels_fitted_delay() -> None:
    data = full_report()
    data["tenants"]["acme"]["model"]["media"] = {"tv": {"delay_weeks": 2},
                                                 "search": {"delay_weeks": 0}}
    html = render_model_card(data, run_manifest=manifest())
    assert "<td>tv (+2 weeks), search</td>" in html
    data["tenants"]["acme"]["model"]["media"]["tv"]["delay_weeks"] = 1
    assert "<td>tv (+1 week), search</td>" in render_model_card(data, run_manifest=manifest())
    # a report from a model without delays lists the channels as they are
    assert "<td>tv, search</td>" in render_model_card(full_report(), run_manifest=manifest())


def test_a_tenant_without_the_validation_notebooks_data_is_not_described_as_empty() -> None:
    # an experiment without the validation notebook (or where it errored) does not know the
    # tenant's channels, controls or truth: '–', never '0 channels', 'none', 'no ground truth'
    data = report()
    data["tenants"]["noisy"]["status"] = "ok"
    data["errors"] = []
    html = render_model_card(data, run_manifest=manifest())
    rows = dict(re.findall(r'<tr><td><code>(\w+)</code></td>(.*?)</tr>',
                           html[html.index('id="data"'):html.index("Input data")]))
    assert re.findall(r"<td[^>]*>(.*?)</td>", rows["noisy"])[-2:] == ["–", "–"]
    assert re.findall(r"<td[^>]*>(.*?)</td>", rows["acme"])[-2:] == ["2", "yes"]
    assert "–: not known for noisy; the validation notebook reports" in html
    assert "No ground truth for noisy" not in html
    assert "No ground truth for this tenant" not in html
    features = html[html.index("<h3>Features</h3>"):]
    assert re.search(r"<td><code>noisy</code></td><td>–</td><td>–</td><td[^>]*>–</td>",
                     features)
