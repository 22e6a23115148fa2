"""The model card's feature-importance section (HTML and Markdown) from feature_importance.csv
rows: content, escaping, other tenants ignored, no truth, no rows, reproducible figure."""

from __future__ import annotations

import re

import pytest

from mmm_evidence.pipeline.feature_importance import (
    read_feature_importance_csv,
    write_feature_importance_csv,
)
from mmm_evidence.report.importance_card import (
    agreement_from_rows,
    importance_html,
    importance_markdown,
    importance_png,
)
from tests.pipeline.test_artifacts import importance_scraps

EVIL = '<script>alert("x")</script>'


@pytest.fixture
def rows(tmp_path):
    """Two tenants' rows as the model card gets them: written and read back."""
    data = importance_scraps("alpha")["importance"] + importance_scraps(
        "beta", truth=False)["importance"]
    return read_feature_importance_csv(write_feature_importance_csv(data, tmp_path / "f.csv"))


def test_html_has_agreements_table_figure_and_summary(rows) -> None:
    html = importance_html(rows, "alpha")
    assert html.startswith("<h3>Feature importance: SHAP vs MMM vs truth</h3>")
    for header in ("rank agreement (Spearman ρ)", "LightGBM mean |SHAP|", "MMM mean |SHAP|",
                   "MMM share", "true share"):
        assert header in html
    assert "MMM vs truth" in html and "gate importance_agreement" in html
    assert "1.00" in html and "strong agreement" in html
    # tv: LightGBM 100 (rank 1), share 20.0 % (rank 1); channels listed by LightGBM rank
    assert "<code>tv</code>" in html and "100.0 (1)" in html and "20.0 % (1)" in html
    assert html.index("<code>tv</code>") < html.index("<code>search</code>") < \
        html.index("<code>social</code>")
    assert html.count('<img src="data:image/png;base64,') == 1
    assert "Beyond the channels, the surrogate leans most on: trend (rank 1 of 4)" in html
    assert "names the true largest channel, tv, first" in html
    assert "beta" not in html  # the other tenant's rows are ignored


def test_without_truth_the_truth_columns_are_dashes(rows) -> None:
    html = importance_html(rows, "beta")
    assert "not computable" in html and "no ground truth" in html
    tv_row = re.search(r"<tr><td><code>tv</code></td>(.*?)</tr>", html).group(1)
    assert tv_row.endswith('<td class="num">–</td>')


def test_a_tenant_without_rows_gets_a_note(rows) -> None:
    html = importance_html(rows, "gamma")
    assert "No feature importance for this tenant" in html and "<table>" not in html
    assert "No feature importance for this tenant" in importance_markdown([], "gamma")


def test_every_text_is_escaped(rows) -> None:
    evil = [{**r, "tenant": EVIL, "feature": f"{r['feature']}{EVIL}"}
            for r in rows if r["tenant"] == "alpha"]
    html = importance_html(evil, EVIL)
    assert "<script>" not in html and "&lt;script&gt;" in html
    md = importance_markdown(evil, EVIL)
    outside_code = re.sub(r"`[^`]*`", "", md)  # a code span shows markup as text
    assert "<script>" not in outside_code and "\\<script" in outside_code


def test_markdown_has_the_same_tables_and_a_caption_for_the_figure(rows) -> None:
    md = importance_markdown(rows, "alpha")
    assert md.startswith("### Feature importance: SHAP vs MMM vs truth")
    assert "| rank agreement (Spearman ρ) | compares | ρ | reading |" in md
    assert "| `tv` | 100.0 (1) | 90.0 (1) | 20.0 % (1) | 20.0 % (1) |" in md
    assert "*Figure: Each measure as a share of its total" in md
    assert "<img" not in md and "base64" not in md


def test_agreement_is_rebuilt_from_the_rows(rows) -> None:
    alpha = agreement_from_rows([r for r in rows if r["tenant"] == "alpha"])
    assert alpha["mmm_truth"] == 1.0 and alpha["has_truth"] is True
    assert alpha["n_channels"] == 3 and alpha["top"]["true_share"] == "tv"
    beta = agreement_from_rows([r for r in rows if r["tenant"] == "beta"])
    assert beta["has_truth"] is False and beta["mmm_truth"] is None
    assert beta["top"]["true_share"] is None and beta["top"]["mmm_share"] == "tv"


def test_the_figure_is_a_reproducible_png(rows) -> None:
    channels = [r for r in rows if r["tenant"] == "alpha" and r["kind"] == "channel"]
    png = importance_png(channels)
    assert png.startswith(b"\x89PNG") and png == importance_png(channels)
    assert importance_png([]) is None


def test_the_charts_description_names_the_tenant_by_its_display_name(rows) -> None:
    from mmm_evidence.report.document import Figure
    from mmm_evidence.report.importance_card import importance_blocks

    figures = [b for b in importance_blocks(rows, "alpha", label="Alpha Retail")
               if isinstance(b, Figure)]
    assert [f.alt for f in figures] == ["channel importance by each method, Alpha Retail"]


def test_a_negative_true_share_is_drawn_below_zero_and_nothing_beyond_the_whole() -> None:
    from mmm_evidence.report.importance_card import measure_shares

    assert measure_shares([0.2, 0.1, -0.15]) == pytest.approx([0.2 / 0.45, 0.1 / 0.45,
                                                              -0.15 / 0.45])
    assert measure_shares([0.1, -0.1]) == pytest.approx([0.5, -0.5])  # summing to 0
    assert measure_shares([0.0, 0.0]) == [0.0, 0.0]
