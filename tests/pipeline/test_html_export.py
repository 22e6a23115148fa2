"""The offline HTML export: images embedded, nothing fetched from the network (no kernel)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import nbformat
from matplotlib.figure import Figure
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mmm_evidence.pipeline.export import (
    export_notebook_html,
    notebook_to_html,
    strip_style_comments,
)
from tests.fixtures.pipeline import experiment as builder

remote_fetches = builder.remote_fetches


def png_base64() -> str:
    fig = Figure(figsize=(2, 1))
    fig.subplots().plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def executed_notebook(path: Path, png: str) -> Path:
    plot = new_code_cell("plt.plot([0, 1])", execution_count=1)
    plot.outputs = [new_output("display_data", data={"image/png": png,
                                                     "text/plain": "<Figure>"})]
    table = new_code_cell("df", execution_count=2)
    table.outputs = [new_output("execute_result", execution_count=2,
                                data={"text/html": "<table><tr><td>1</td></tr></table>",
                                      "text/plain": "df"})]
    boom = new_code_cell("raise ValueError('x')", execution_count=3)
    boom.outputs = [new_output("error", ename="ValueError", evalue="x <b>bold</b>",
                               traceback=["ValueError: x"])]
    nb = new_notebook(cells=[
        new_markdown_cell("# Evidence\n\nInline math $\\beta_c \\ge 0$ and "
                          "[a link](https://example.org)."),
        plot, table, boom,
    ], metadata={"kernelspec": {"name": "mmm-evidence", "display_name": "x",
                                "language": "python"}})
    nbformat.write(nb, path)
    return path


def test_export_embeds_images_and_fetches_nothing(tmp_path: Path) -> None:
    png = png_base64()
    html_path = export_notebook_html(executed_notebook(tmp_path / "nb.ipynb", png))
    assert html_path == tmp_path / "nb.html"
    html = html_path.read_text(encoding="utf-8")
    assert f"data:image/png;base64,{png}" in html
    # the figure is described by the heading above it (nbconvert's default alt says nothing)
    assert re.search(r'<img alt="Figure: Evidence"[^>]*src="data:image/png;base64,', html)
    assert "No description has been provided" not in html
    assert remote_fetches(html) == []
    assert "<script src" not in html
    assert "cdnjs" not in html and "unpkg" not in html and "require.js" not in html
    assert "ValueError" in html and "<title>nb</title>" in html
    assert 'name="viewport"' in html
    # the only URL left is the notebook's own markdown link (CSS comments citing sites: gone)
    assert re.findall(r"https?://[^\s\"'<>)]+", html) == ["https://example.org"]


def test_strip_style_comments_only_touches_style_blocks() -> None:
    html = ("<style>a{color:red}/* see https://x.org */b{}</style>"
            "<pre>int x; /* C comment */</pre><STYLE media='all'>/*x*/c{}</STYLE>")
    assert strip_style_comments(html) == ("<style>a{color:red}b{}</style>"
                                          "<pre>int x; /* C comment */</pre>"
                                          "<STYLE media='all'>c{}</STYLE>")


def test_default_nbconvert_export_would_fetch_from_cdns(tmp_path: Path) -> None:
    """The check above can fail: nbconvert's stock lab template loads scripts from CDNs."""
    from nbconvert import HTMLExporter

    path = executed_notebook(tmp_path / "nb.ipynb", png_base64())
    body, _ = HTMLExporter(template_name="lab").from_filename(str(path))
    assert any("https://" in found for found in remote_fetches(body))
    assert remote_fetches(notebook_to_html(path)) == []


def test_names_from_data_show_as_text_in_outputs_never_as_markup(tmp_path):
    """A segment or channel named like markup (the tenant's own data) reaches the tables and
    Markdown a notebook displays; the export shows it as text. A Styler table keeps its CSS."""
    import pandas as pd

    hostile = 'South<script>alert(1)</script><img src=x onerror="alert(2)">'
    styled = (pd.DataFrame({"segment": [hostile, "North"], "mape": [0.1, 0.2]})
              .style.format(precision=3).highlight_max(subset=["mape"], color="#fdd"))
    table = new_code_cell("styled", execution_count=1)
    table.outputs = [new_output("execute_result", execution_count=1,
                                data={"text/html": styled.to_html(), "text/plain": "s"})]
    note = new_code_cell("display(Markdown(...))", execution_count=2)
    note.outputs = [new_output("display_data", data={
        "text/markdown": f"**{hostile}** — <a href=\"javascript:alert(3)\">x</a> "
                         "[ok](https://example.org)", "text/plain": "md"})]
    own = "Analysts' text\n\n<details><summary>more</summary>kept</details>\n"
    nb = new_notebook(cells=[new_markdown_cell(own), table, note])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    html = notebook_to_html(path)
    body = html[html.index("<body"):]
    assert "<script" not in body.lower()
    assert "<img" not in body  # the only images are plots, and this notebook has none
    assert not re.search(r"<[^>]*\son\w+=", body)  # no event handler attribute in any tag
    assert not re.search(r"href=.javascript:", body)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # shown, as text
    assert body.count("&lt;script&gt;alert(1)") == 2  # in the table and in the Markdown
    assert re.search(r"<style[^>]*>[^<]*background-color: #fdd", body)  # Styler CSS kept
    assert 'href="https://example.org"' in body
    # the notebook's own Markdown cells are not touched (details is not an output tag)
    assert "<details><summary>more</summary>kept</details>" in body


def test_sanitize_outputs_counts_what_it_changed():
    from mmm_evidence.pipeline.export import sanitize_outputs

    safe = new_code_cell("x", execution_count=1)
    safe.outputs = [new_output("execute_result", execution_count=1,
                               data={"text/html": "<table><tbody><tr><td>1</td></tr>"
                                                  "</tbody></table>"})]
    unsafe = new_code_cell("y", execution_count=2)
    unsafe.outputs = [new_output("display_data", data={"text/html": "<b onclick=x()>1</b>"})]
    nb = new_notebook(cells=[safe, unsafe])
    assert sanitize_outputs(nb) == 1
    assert nb.cells[1].outputs[0].data["text/html"] == "<b>1</b>"
    safe_html = "<table><tbody><tr><td>1</td></tr></tbody></table>"
    assert nb.cells[0].outputs[0].data["text/html"] == safe_html


def test_figures_are_described_by_the_heading_or_the_text_above_them() -> None:
    from mmm_evidence.pipeline.export import describe_figures

    def figure():
        cell = new_code_cell("plot()")
        cell.outputs = [new_output("display_data", data={"image/png": "x", "text/plain": "f"})]
        return cell

    nb = new_notebook(cells=[
        figure(),  # nothing above it
        new_markdown_cell("## Response curves\n\nWeekly response to a constant spend."),
        figure(),
        new_markdown_cell("Per channel, with **intervals** from [the bootstrap](#x)."),
        new_code_cell("x = 1"), figure()])
    assert describe_figures(nb) == 3
    alts = [o.metadata["mmm_evidence_alt"] for c in nb.cells if c.cell_type == "code"
            for o in c.outputs]
    assert alts == ["Figure", "Figure: Response curves",
                    "Figure: Per channel, with intervals from the bootstrap."]
