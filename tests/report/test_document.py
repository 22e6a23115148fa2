"""The two renderers of report.document: same blocks, escaped text, no markup from data."""

from __future__ import annotations

import html as html_lib
import re

import mistune
import pytest

from mmm_evidence.report.document import (
    Badge,
    Banner,
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Link,
    Meta,
    Para,
    Pre,
    Section,
    Table,
    fmt_num,
    fmt_pct,
    html_page,
    inline_html,
    inline_markdown,
    markdown_page,
    md_escape,
    to_html,
    to_markdown,
)

EVIL = "<script>alert(1)</script>"


def md_to_html(text: str) -> str:
    """CommonMark + tables, raw HTML passed through (as GitHub would render before sanitising)."""
    return mistune.create_markdown(escape=False, plugins=["table"])(text)


@pytest.mark.parametrize("text", [
    EVIL, "<img src=x onerror=alert(1)>", "*bold* _it_ `code` [a](http://x) ![i](y)",
    "a | b", "&lt;script&gt;", "# not a heading", "1. not a list", "> not a quote",
    "~~strike~~", "back\\slash",
])
def test_md_escape_renders_as_the_literal_text(text: str) -> None:
    html = md_to_html(md_escape(text))
    assert "<script" not in html and "<img" not in html and "<em>" not in html
    assert "<a " not in html and "<h1" not in html and "<ol" not in html
    assert "<del>" not in html and "<blockquote" not in html
    # the rendered text, unescaped, is the original text
    plain = html_lib.unescape(re.sub(r"<[^>]+>", "", html)).strip()
    assert plain == text


def test_md_escape_keeps_words_with_underscores_readable() -> None:
    assert md_escape("elasticity_median_error mmm_v2") == "elasticity_median_error mmm_v2"
    assert md_escape("_leading and trailing_") == "\\_leading and trailing\\_"


def test_inline_spans_render_in_both_formats() -> None:
    spans = ["x < y ", Code("a|b`c"), " ", Badge("FAIL", "fail"), " ",
             Link("<b>", "tenants/a b/<x>.html")]
    html = inline_html(spans)
    assert html == ('x &lt; y <code>a|b`c</code> <span class="badge fail">FAIL</span> '
                    '<a href="tenants/a b/&lt;x&gt;.html">&lt;b&gt;</a>')
    md = inline_markdown(spans)
    assert md == "x \\< y ``a\\|b`c`` **FAIL** [\\<b\\>](<tenants/a%20b/%3Cx%3E.html>)"


def test_table_renders_numeric_columns_and_escapes_cells() -> None:
    table = Table(["name", "value"], [[EVIL, "1.0"], [Code("g"), "–"]],
                  numeric=frozenset({1}))
    html = to_html([table])
    assert "<script" not in html and "&lt;script&gt;" in html
    assert '<td class="num">1.0</td>' in html
    md = to_markdown([table])
    assert md.splitlines()[:2] == ["| name | value |", "| --- | ---: |"]
    rendered = md_to_html(md)
    assert "<table>" in rendered and "<script" not in rendered and "&lt;script&gt;" in rendered


def test_empty_table_says_so() -> None:
    table = Table(["a"], [], empty="Nothing here.")
    assert to_html([table]) == '<p class="muted">Nothing here.</p>'
    assert to_markdown([table]) == "*Nothing here.*"


def test_figure_is_inline_in_html_and_a_caption_in_markdown() -> None:
    fig = Figure(b"\x89PNG fake", "alt <text>", "caption & more")
    html = to_html([fig])
    assert html.startswith('<figure><img src="data:image/png;base64,iVBORyBmYWtl"')
    assert 'alt="alt &lt;text&gt;"' in html and "<figcaption>caption &amp; more" in html
    assert to_markdown([fig]) == "*Figure: caption & more (embedded in the HTML model card)*"


def test_pre_fences_cannot_be_broken_out_of() -> None:
    text = "line\n```\n<script>x</script>"
    md = to_markdown([Pre(text)])
    assert md.startswith("````text\n") and md.endswith("\n````")
    assert "<script" not in md_to_html(md)
    assert to_html([Pre(text)]) == "<pre>line\n```\n&lt;script&gt;x&lt;/script&gt;</pre>"


def test_page_is_self_contained_and_both_pages_share_the_blocks() -> None:
    doc = Document(f"Card {EVIL}", [
        Banner("Verdict: FAIL", "1 of 2 gates passed", "fail"),
        Meta([("run id", Code("abc")), ("name", EVIL)]),
        Section("tenant-x", [Heading(2, ["X ", Badge("PASS", "pass")]), Para("hello", "note"),
                             Bullets(["one", EVIL])]),
    ], footer="footer")
    html = html_page(doc)
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media print" in html and '<section id="tenant-x">' in html
    assert '<div class="banner fail">Verdict: FAIL<small>1 of 2 gates passed</small></div>' \
        in html
    md = markdown_page(doc)
    assert md.startswith("# Card \\<script\\>alert(1)\\</script\\>\n")
    assert "> **Verdict: FAIL**" in md and "- **run id**: `abc`" in md
    assert "## X **PASS**" in md and md.endswith("*footer*\n")
    assert "<script" not in md_to_html(md)


def test_number_formats() -> None:
    assert fmt_num(0.87) == "0.870" and fmt_num(3) == "3" and fmt_num(None) == "–"
    assert fmt_num(float("nan")) == "–" and fmt_num(True) == "–"
    assert fmt_num(1.5e7) == "1.5e+07" and fmt_num(0.00012) == "0.00012"
    assert fmt_pct(0.041) == "4.1 %" and fmt_pct(None) == "–"


def test_gates_markdown_shows_every_detail_in_full() -> None:
    from mmm_evidence.pipeline.gates import gate
    from mmm_evidence.report.document import gates_markdown

    detail = "relative error of the +10 % spend uplift vs truth: " + "x" * 300 + " South-17"
    text = gates_markdown([gate("fairness_uplift_gap", 0.15, 0.231, False, detail),
                           gate("privacy_no_pii", 0, None, True, "no PII"),
                           gate("elasticity_median_error", 0.25, None, None, "no truth")])
    assert text.splitlines() == [
        f"- Gate `fairness_uplift_gap` **fails** (value 0.231, threshold 0.15): {detail}",
        "- Gate `privacy_no_pii` **passes** (threshold 0): no PII",
        "- Gate `elasticity_median_error` **is not assessable** (threshold 0.25): no truth"]
    # a detail from data is text, not markup: no italics, no second bullet
    odd = gates_markdown([gate("g", 0, 1, True, "North*East vs South*West\n- not a bullet")])
    assert odd == ("- Gate `g` **passes** (value 1, threshold 0): "
                   "North\\*East vs South\\*West - not a bullet")


def test_signed_percentages() -> None:
    from mmm_evidence.report.document import fmt_signed_pct

    assert fmt_signed_pct(0.2) == "+20.0 %" and fmt_signed_pct(-0.0123) == "−1.2 %"
    assert fmt_signed_pct(-1, 0) == "−100 %" and fmt_signed_pct(1.0, 0) == "+100 %"
    assert fmt_signed_pct(None) == "–" and fmt_signed_pct(float("nan")) == "–"
