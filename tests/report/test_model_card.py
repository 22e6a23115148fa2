"""model_card.html from a report dict: verdict banner, tables, escaping, self-contained."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from mmm_evidence.report.model_card import render_model_card, write_model_card


def _builder():
    path = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline" / "experiment.py"
    spec = importlib.util.spec_from_file_location("pipeline_fixture_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


remote_fetches = _builder().remote_fetches

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


def test_gate_tables_show_value_threshold_and_result() -> None:
    html = render_model_card(report())
    row = re.search(r"<tr><td><code>holdout_r2</code></td>(.*?)</tr>", html).group(1)
    assert '<td class="num">0.870</td><td class="num">0.500</td>' in row
    assert "badge pass" in row
    noisy = html[html.index('id="tenant-noisy"'):]
    assert 'badge fail">FAIL' in noisy and 'badge na">NOT ASSESSABLE' in noisy
    missed = re.search(r"<code>elasticity_no_missed_channel</code></td>(.*?)</tr>",
                       html).group(1)
    assert missed.startswith('<td class="num">0</td><td class="num">0</td>')


def test_metrics_elasticities_errors_and_relative_links() -> None:
    html = render_model_card(report())
    assert "<td>holdout</td><td class=\"num\">0.870</td><td class=\"num\">4.1 %</td>" in html
    # estimate, interval (none in this report), truth, relative error, counted
    assert re.search(r"<td>tv</td><td class=\"num\">0.110</td><td class=\"num\">—</td>"
                     r"<td class=\"num\">0.100</td><td class=\"num\">0.100</td>"
                     r"<td class=\"num\">yes</td>", html)
    assert '<a href="tenants/acme/validation.html">HTML</a>' in html
    assert '<a href="tenants/noisy/validation.html">HTML</a>' in html
    assert "<h2>Errors</h2>" in html and "ValueError: bad" in html


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
