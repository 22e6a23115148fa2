"""Executed notebook -> one self-contained HTML file that a reviewer can open offline.

nbconvert's ``lab`` template inlines its CSS and already embeds output images as data URIs, but
its page head loads require.js, MathJax and (on demand) mermaid and the widget manager from
CDNs. The template below extends ``lab/index.html.j2`` and empties exactly those blocks, so the
file makes no network request. Markdown images that are local files or attachments are embedded
too (``embed_images``). Trade-off: LaTeX in markdown shows as source text.

Outputs are sanitized before export (``sanitize_outputs``): a tenant's segment, channel or file
names reach tables and Markdown that notebooks display, and a name like
``<script>...</script>`` must show as text, never run in a reviewer's browser. Only what cells
output is cleaned (the notebook's own Markdown cells are the analysts' text): tags and
attributes outside a table-and-text allow-list are escaped (shown as text), ``style``
attributes keep only safe CSS properties; pandas Styler tables keep their ``<style>`` blocks.

Two exports per executed notebook: the full one (``<notebook>.html``, code and outputs) and
the reviewer one (``<notebook>.reviewer.html``: nbconvert's ``exclude_input``, so markdown,
tables, plots and errors without the code; a printed warning keeps its category and message,
not the source line that warned).
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
{%- block data_png scoped -%}
{%- set alt = output.metadata.get('mmm_evidence_alt') -%}
{%- if alt -%}{{ super() | replace('<img ', '<img alt="' ~ (alt | e) ~ '" ', 1) }}
{%- else -%}{{ super() }}{%- endif -%}
{%- endblock data_png -%}
{%- block body_header -%}
{{ super() }}
{%- if resources.evidence_links %}
<nav style="font: 13px/1.4 system-ui, sans-serif; padding: 6px 0 10px; color: #555;">
{%- for label, href in resources.evidence_links -%}
{% if not loop.first %} · {% endif %}<a href="{{ href | e }}">{{ label | e }}</a>
{%- endfor -%}
</nav>
{%- endif %}
{%- endblock body_header -%}
"""

#: The links an export written into a run's output folder carries at its top: back to the
#: run's entry page and model card (exports sit in ``tenants/<tenant>/``, two levels down).
EVIDENCE_LINKS = (("← evidence index", "../../index.html"), ("model card", "../../model_card.html"))

#: Suffix of the reviewer export: ``<notebook>.reviewer.html`` beside ``<notebook>.html``.
REVIEWER_SUFFIX = ".reviewer.html"

__all__ = ["offline_html_exporter", "notebook_to_html", "export_notebook_html", "sanitize_html",
           "sanitize_outputs", "strip_warning_sources", "describe_figures",
           "strip_style_comments", "REVIEWER_SUFFIX", "EVIDENCE_LINKS", "reviewer_html_path",
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


#: What cell outputs may keep as markup (pandas tables, Styler tables, Markdown text);
#: anything else is escaped and shows as text.
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p",
    "pre", "s", "small", "span", "strong", "style", "sub", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul"})
SAFE_ATTRIBUTES = {"*": ["class", "id", "style", "title"], "a": ["href", "title"],
                   "style": ["type", "scoped"], "table": ["border"],
                   "td": ["colspan", "rowspan"],
                   "th": ["colspan", "rowspan"]}
#: The MIME types of cell outputs that are rendered as markup in the HTML export.
MARKUP_MIME_TYPES = ("text/html", "text/markdown")


def sanitize_html(markup: str) -> str:
    """``markup`` with every tag or attribute outside ``SAFE_TAGS`` / ``SAFE_ATTRIBUTES``
    escaped (so ``<script>`` shows as text), links limited to http(s) and mailto, and style
    attributes limited to bleach's safe CSS properties. bleach is imported lazily."""
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    return bleach.clean(markup, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                        css_sanitizer=CSSSanitizer(), strip=False, strip_comments=True)


def sanitize_outputs(notebook) -> int:
    """Sanitize, in place, the HTML and Markdown of every code cell's outputs of an nbformat
    notebook (``sanitize_html``); return how many outputs changed."""
    changed = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            for mime in MARKUP_MIME_TYPES:
                if mime not in data:
                    continue
                text = data[mime] if isinstance(data[mime], str) else "".join(data[mime])
                clean = sanitize_html(text)
                if clean != text:
                    data[mime] = clean
                    changed += 1
    return changed


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MARKUP = re.compile(r"[*_`]|\[([^\]]*)\]\([^)]*\)")


def describe_figures(notebook) -> int:
    """In place: each PNG a code cell outputs gets a description for its ``alt`` text (read by
    screen readers, shown when an image cannot be): "Figure: <the heading above it>" — the
    last Markdown heading before the cell (else the first line of the Markdown cell before
    it). Returns how many images were described."""
    context = ""
    described = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            source = source if isinstance(source, str) else "".join(source)
            headings = _HEADING.findall(source)
            first = source.strip().splitlines()[0] if source.strip() else ""
            text = headings[-1] if headings else first.lstrip("#").strip()
            if text:
                context = _MARKUP.sub(lambda m: m.group(1) or "", text)[:120]
            continue
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if "image/png" in output.get("data", {}):
                output.setdefault("metadata", {})["mmm_evidence_alt"] = (
                    f"Figure: {context}" if context else "Figure")
                described += 1
    return described


#: A warning as Python prints it: ``<file>:<line>: <Category>: <message>`` and the
#: indented source line that warned (``warnings.formatwarning``).
_WARNING = re.compile(r"^\S[^\n]*?:\d+: (?P<category>\w*Warning): (?P<message>[^\n]*)\n"
                      r"(?:  [^\n]*\n)?", re.MULTILINE)


def strip_warning_sources(notebook) -> int:
    """In place: each warning printed to a code cell's stderr keeps its category and message
    but loses the file, line and source code it came from (the reviewer export shows no code,
    and a kernel's temporary file path means nothing to a reviewer). Returns how many
    outputs changed."""
    changed = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") != "stream" or output.get("name") != "stderr":
                continue
            text = output.get("text", "")
            text = text if isinstance(text, str) else "".join(text)
            clean = _WARNING.sub(lambda m: f"{m['category']}: {m['message']}\n", text)
            if clean != text:
                output["text"] = clean
                changed += 1
    return changed


def notebook_to_html(notebook_path: str | Path, exclude_input: bool = False,
                     title: str | None = None,
                     links: tuple[tuple[str, str], ...] = ()) -> str:
    """The offline HTML text of the notebook at ``notebook_path`` (without code cells'
    source when ``exclude_input``); the page's title is ``title`` (default: the notebook's
    name), with " (reviewer)" on the reviewer export; ``links`` ((label, relative href), ...)
    are shown at the top of the page."""
    import nbformat

    notebook_path = Path(notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)
    sanitize_outputs(notebook)
    describe_figures(notebook)
    if exclude_input:
        strip_warning_sources(notebook)
    name = (title or notebook_path.stem) + (" (reviewer)" if exclude_input else "")
    resources = {"metadata": {"name": name, "path": str(notebook_path.parent)},
                 "evidence_links": list(links)}
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


def export_notebook_html(notebook_path: str | Path, html_path: str | Path | None = None,
                         title: str | None = None,
                         links: tuple[tuple[str, str], ...] = ()) -> Path:
    """Write ``<notebook>.html`` beside the notebook (or to ``html_path``); return its path.
    ``title``: the page's title (default: the notebook's name); ``links``: shown at its top."""
    notebook_path = Path(notebook_path)
    html_path = Path(html_path) if html_path else notebook_path.with_suffix(".html")
    html_path.write_text(notebook_to_html(notebook_path, title=title, links=links),
                         encoding="utf-8")
    return html_path


def reviewer_html_path(html_path: str | Path) -> Path:
    """``<folder>/<notebook>.reviewer.html`` for the full export ``<folder>/<notebook>.html``."""
    html_path = Path(html_path)
    return html_path.with_name(html_path.name.removesuffix(".html") + REVIEWER_SUFFIX)


def export_reviewer_html(notebook_path: str | Path, html_path: str | Path | None = None,
                         title: str | None = None,
                         links: tuple[tuple[str, str], ...] = ()) -> Path:
    """Write the reviewer export (no code cells) of the notebook to ``html_path`` (default
    ``<notebook>.reviewer.html`` beside it); return its path."""
    notebook_path = Path(notebook_path)
    html_path = (Path(html_path) if html_path
                 else reviewer_html_path(notebook_path.with_suffix(".html")))
    html_path.write_text(notebook_to_html(notebook_path, exclude_input=True, title=title,
                                          links=links), encoding="utf-8")
    return html_path
