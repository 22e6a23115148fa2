"""The offline HTML export: images embedded, nothing fetched from the network (no kernel)."""

from __future__ import annotations

import base64
import importlib.util
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


def _builder():
    path = Path(__file__).resolve().parents[1] / "fixtures" / "pipeline" / "experiment.py"
    spec = importlib.util.spec_from_file_location("pipeline_fixture_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


remote_fetches = _builder().remote_fetches


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
