"""The reviewer export: the same offline page without code cells (no kernel)."""

from __future__ import annotations

from pathlib import Path

from mmm_evidence.pipeline.export import (
    EVIDENCE_LINKS,
    export_notebook_html,
    export_reviewer_html,
    reviewer_html_path,
)
from tests.pipeline.test_html_export import executed_notebook, png_base64, remote_fetches


def test_reviewer_path_sits_beside_the_full_export() -> None:
    assert reviewer_html_path(Path("t/a/validation.html")) == Path(
        "t/a/validation.reviewer.html")


def test_reviewer_export_drops_code_but_keeps_narrative_outputs_and_errors(
        tmp_path: Path) -> None:
    png = png_base64()
    notebook = executed_notebook(tmp_path / "nb.ipynb", png)
    full = export_notebook_html(notebook).read_text(encoding="utf-8")
    path = export_reviewer_html(notebook)
    assert path == tmp_path / "nb.reviewer.html"
    html = path.read_text(encoding="utf-8")
    body, full_body = html[html.index("<body"):], full[full.index("<body"):]
    # the code (highlighted source in input editors) and the prompts: full export only
    for code in ("jp-InputArea-editor", ">plt<", ">raise<", "jp-InputPrompt"):
        assert code in full_body and code not in body, code
    # narrative, plot, table and the error stay
    assert "<h1" in body and "Evidence" in body
    assert f"data:image/png;base64,{png}" in body
    assert "<td>1</td>" in body and "ValueError" in body
    assert remote_fetches(html) == [] and "<title>nb (reviewer)</title>" in html
    assert "evidence index" not in html  # no links unless asked
    # the runner titles each page with its tenant, to tell many open tabs apart, and links it
    # back to the run's index and model card
    titled = export_reviewer_html(notebook, title="acme · validation",
                                  links=EVIDENCE_LINKS).read_text(encoding="utf-8")
    assert "<title>acme · validation (reviewer)</title>" in titled
    assert ('<a href="../../index.html">← evidence index</a> · '
            '<a href="../../model_card.html">model card</a>') in titled
    assert remote_fetches(titled) == []
    assert "<title>acme · validation</title>" in export_notebook_html(
        notebook, title="acme · validation").read_text(encoding="utf-8")


def test_a_warning_shows_its_category_and_message_without_code_or_kernel_paths(
        tmp_path: Path) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('warnings.warn("analyst warning: something is off")')
    cell.outputs = [nbformat.v4.new_output(
        "stream", name="stderr",
        text=("/tmp/ipykernel_3764/3395250442.py:3: UserWarning: analyst warning: something "
              "is off\n  warnings.warn(\"analyst warning: something is off\")\n"
              "plain text on stderr\n"
              "progress.log:12: Note: fold 3 done\n  (an indented continuation)\n"))]
    notebook.cells = [cell]
    path = tmp_path / "w.ipynb"
    nbformat.write(notebook, path)
    html = export_reviewer_html(path).read_text(encoding="utf-8")
    assert "UserWarning: analyst warning: something is off" in html
    assert "plain text on stderr" in html
    # what only looks like a warning (no *Warning category) is left as printed
    assert "progress.log:12: Note: fold 3 done" in html and "(an indented continuation)" in html
    assert "ipykernel_3764" not in html and "warnings.warn(" not in html
    # the full export keeps what the kernel printed
    assert "ipykernel_3764" in export_notebook_html(path).read_text(encoding="utf-8")
