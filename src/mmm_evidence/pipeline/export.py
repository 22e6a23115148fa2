"""Executed notebook -> one self-contained HTML file that a reviewer can open offline.

nbconvert's ``lab`` template inlines its CSS and already embeds output images as data URIs, but
its page head loads require.js, MathJax and (on demand) mermaid and the widget manager from
CDNs. The template below extends ``lab/index.html.j2`` and empties exactly those blocks, so the
file makes no network request. Markdown images that are local files or attachments are embedded
too (``embed_images``). Trade-off: LaTeX in markdown shows as source text.

Two exports per executed notebook: the full one (``<notebook>.html``, code and outputs) and
the reviewer one (``<notebook>.reviewer.html``: nbconvert's ``exclude_input``, so markdown,
tables, plots and errors without the code).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

OFFLINE_TEMPLATE_NAME = "mmm_evidence_offline.html.j2"

OFFLINE_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{#- mmm-evidence: the lab page without anything fetched from the network. -#}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""

#: Suffix of the reviewer export: ``<notebook>.reviewer.html`` beside ``<notebook>.html``.
REVIEWER_SUFFIX = ".reviewer.html"

__all__ = ["offline_html_exporter", "notebook_to_html", "export_notebook_html",
           "strip_style_comments", "REVIEWER_SUFFIX", "reviewer_html_path",
           "export_reviewer_html"]


def offline_html_exporter(exclude_input: bool = False):  # -> nbconvert.HTMLExporter
    """An nbconvert HTMLExporter whose output loads nothing from the network; with
    ``exclude_input``, code cells' source and all prompts are left out (the reviewer export:
    narrative, tables, plots and errors only). nbconvert is imported lazily: a slow import."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file=OFFLINE_TEMPLATE_NAME,
        extra_loaders=[DictLoader({OFFLINE_TEMPLATE_NAME: OFFLINE_TEMPLATE})],
        embed_images=True,
        theme="light",
        exclude_input=exclude_input,
        exclude_input_prompt=exclude_input,
        exclude_output_prompt=exclude_input,
    )


def notebook_to_html(notebook_path: str | Path, exclude_input: bool = False) -> str:
    """The offline HTML text of the notebook at ``notebook_path`` (without code cells'
    source when ``exclude_input``)."""
    import nbformat

    notebook_path = Path(notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)
    name = notebook_path.stem + (" (reviewer)" if exclude_input else "")
    resources = {"metadata": {"name": name, "path": str(notebook_path.parent)}}
    with warnings.catch_warnings():
        # scrapbook's scrap outputs have no visible representation, by design
        warnings.filterwarnings("ignore", message=r".*mimetype.*not able to be represented")
        body, _ = offline_html_exporter(exclude_input).from_notebook_node(
            notebook, resources=resources)
    return strip_style_comments(body)


_STYLE_BLOCK = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.DOTALL | re.IGNORECASE)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


def strip_style_comments(html: str) -> str:
    """``html`` without comments inside its ``<style>`` blocks.

    The lab theme's CSS comments cite web pages; they fetch nothing, but a reviewer grepping
    the file for ``https://`` should only find what the notebook itself links to.
    """
    return _STYLE_BLOCK.sub(
        lambda m: m.group(1) + _CSS_COMMENT.sub("", m.group(2)) + m.group(3), html)


def export_notebook_html(notebook_path: str | Path, html_path: str | Path | None = None) -> Path:
    """Write ``<notebook>.html`` beside the notebook (or to ``html_path``); return its path."""
    notebook_path = Path(notebook_path)
    html_path = Path(html_path) if html_path else notebook_path.with_suffix(".html")
    html_path.write_text(notebook_to_html(notebook_path), encoding="utf-8")
    return html_path


def reviewer_html_path(html_path: str | Path) -> Path:
    """``<folder>/<notebook>.reviewer.html`` for the full export ``<folder>/<notebook>.html``."""
    html_path = Path(html_path)
    return html_path.with_name(html_path.name.removesuffix(".html") + REVIEWER_SUFFIX)


def export_reviewer_html(notebook_path: str | Path, html_path: str | Path | None = None
                         ) -> Path:
    """Write the reviewer export (no code cells) of the notebook to ``html_path`` (default
    ``<notebook>.reviewer.html`` beside it); return its path."""
    notebook_path = Path(notebook_path)
    html_path = (Path(html_path) if html_path
                 else reviewer_html_path(notebook_path.with_suffix(".html")))
    html_path.write_text(notebook_to_html(notebook_path, exclude_input=True), encoding="utf-8")
    return html_path
