"""A tiny document model with two renderers, so a report's HTML and Markdown cannot drift.

A report (model card, index, defects log, sign-off summary) is built once as a list of blocks
(``Heading``, ``Para``, ``Table``, ``Meta``, ``Figure``, ...), whose inline content is plain
text or a few spans (``Code``, ``Badge``, ``Link``, ``Strong``). ``to_html`` and
``to_markdown`` render the same blocks; every piece of text is escaped by the renderer (HTML
entities, or Markdown backslash escapes), so text from data — a tenant's display name, an error
message — always shows as text.

Markdown has no place for images: a ``Figure`` becomes its caption there, pointing at the HTML.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Union

__all__ = [
    "Code", "Badge", "Link", "Strong", "Muted", "Inline", "Heading", "Para", "Table", "Meta",
    "Figure", "Pre", "Bullets", "Banner", "Section", "Block", "Document", "to_html",
    "to_markdown", "html_page", "markdown_page", "md_escape", "inline_html", "inline_markdown",
    "fmt_num", "fmt_pct", "fmt_signed_pct", "verdict_kind", "gate_label", "gate_kind", "BASE_CSS",
    "run_scope",
]

# --------------------------------------------------------------------------- inline spans


@dataclass(frozen=True)
class Code:
    """Monospace text (a gate name, a path)."""

    text: str


@dataclass(frozen=True)
class Badge:
    """A coloured label; ``kind`` is pass, fail or na."""

    label: str
    kind: str = "na"


@dataclass(frozen=True)
class Link:
    """A relative link (``href`` is escaped, never trusted as markup)."""

    text: str
    href: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Muted:
    text: str


Span = Union[str, Code, Badge, Link, Strong, Muted]  # noqa: UP007 (a runtime alias)
#: Inline content: one span or a sequence of spans, rendered one after the other.
Inline = Union[Span, Sequence[Span]]  # noqa: UP007

# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class Heading:
    level: int
    text: Inline
    anchor: str | None = None


@dataclass(frozen=True)
class Para:
    text: Inline
    style: str | None = None  # "note" or "muted"


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[Inline]]
    numeric: frozenset[int] = frozenset()
    empty: str = "Nothing reported."


@dataclass(frozen=True)
class Meta:
    """Key/value pairs (a definition list in HTML, a bullet list in Markdown)."""

    items: Sequence[tuple[str, Inline]]


@dataclass(frozen=True)
class Figure:
    """A PNG image, embedded in HTML as a data URI; its caption stands in for it in Markdown."""

    png: bytes
    alt: str
    caption: str


@dataclass(frozen=True)
class Pre:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[Inline]


@dataclass(frozen=True)
class Banner:
    """The verdict banner: ``title`` large, ``detail`` below it."""

    title: str
    detail: str
    kind: str = "na"


@dataclass(frozen=True)
class Section:
    anchor: str
    blocks: Sequence[Block]


Block = Union[Heading, Para, Table, Meta, Figure, Pre, Bullets, Banner, Section]  # noqa: UP007


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)
    footer: str | None = None


# --------------------------------------------------------------------------- formatting


def fmt_num(value: Any, digits: int = 3) -> str:
    """A number for a table: ``digits`` decimals, general format for very large/small values."""
    if value is None or isinstance(value, bool):
        return "–"
    if isinstance(value, int):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "–"
    if number != 0 and (abs(number) >= 1e6 or abs(number) < 10 ** -digits):
        return f"{number:.{digits}g}"
    return f"{number:.{digits}f}"


def fmt_pct(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(number) else f"{100 * number:.1f} %"


def fmt_signed_pct(value: Any, digits: int = 1) -> str:
    """A relative change or error as a signed percentage: 0.2 -> '+20.0 %', -1 -> '−100 %'
    (digits 0); '–' when missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(number):
        return "–"
    return f"{100 * number:+.{digits}f} %".replace("-", "−")


_VERDICT_KIND = {"PASS": "pass", "FAIL": "fail", "NOT ASSESSABLE": "na"}


def run_scope(report: Mapping[str, Any]) -> str:
    """"" for a run of every tenant of the experiment; else the note a verdict banner carries:
    the verdict covers only the tenants run (``mmm-evidence run --tenants``)."""
    skipped = [str(t) for t in report.get("tenants_not_run") or []]
    if not skipped:
        return ""
    run = len(report.get("tenants") or {})
    return (f"; partial run: {run} of {run + len(skipped)} tenants, not run: "
            f"{', '.join(skipped)}")


def verdict_kind(verdict: str | None) -> str:
    return _VERDICT_KIND.get(verdict or "", "na")


def gate_label(passed: bool | None) -> str:
    return "PASS" if passed is True else "FAIL" if passed is False else "NOT ASSESSABLE"


def gate_kind(passed: bool | None) -> str:
    return verdict_kind(gate_label(passed))


# --------------------------------------------------------------------------- HTML

BASE_CSS = """
:root { --pass: #1b7f3b; --fail: #b3261e; --na: #5f6368; --line: #d0d4d9; --soft: #f5f6f8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 62rem; padding: 1rem; color: #1f2328; line-height: 1.45;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.5rem; padding-top: 0.6rem;
     border-top: 2px solid var(--line); }
h3 { font-size: 1.02rem; margin: 1.2rem 0 0.4rem; }
h4 { font-size: 0.95rem; margin: 1rem 0 0.3rem; }
.banner { color: #fff; border-radius: 8px; padding: 0.9rem 1rem; margin: 0.8rem 0 1rem;
          font-size: 1.25rem; font-weight: 700; }
.banner small { display: block; font-size: 0.85rem; font-weight: 400; opacity: 0.95; }
.banner.pass { background: var(--pass); } .banner.fail { background: var(--fail); }
.banner.na { background: var(--na); }
.badge { display: inline-block; border-radius: 999px; padding: 0.05rem 0.55rem; color: #fff;
         font-size: 0.8rem; font-weight: 600; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.na { background: var(--na); }
.note { color: #555; font-size: 0.88rem; margin: 0.2rem 0 0.8rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: 0.3rem 0 0.8rem; }
table { border-collapse: collapse; min-width: 100%; font-size: 0.92rem; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left;
         vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 0.8rem;
          margin: 0.4rem 0; font-size: 0.92rem; }
dl.meta dt { color: #57606a; } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.muted { color: #57606a; } ul li { margin: 0.2rem 0; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft); padding: 0.5rem;
      border-radius: 6px; font-size: 0.85rem; margin: 0.3rem 0; }
figure { margin: 0.6rem 0 1rem; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { color: #57606a; font-size: 0.85rem; margin-top: 0.2rem; }
a { color: #0b57d0; } td code { white-space: nowrap; } p code, li code { overflow-wrap: anywhere; }
@media (max-width: 40rem) { body { padding: 0.6rem; } th, td { padding: 0.25rem 0.4rem; }
  dl.meta { grid-template-columns: 1fr; } dl.meta dd { margin-bottom: 0.3rem; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .banner, .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .scroll { overflow: visible; } table { font-size: 8.5pt; }
  tr, figure, .banner, dl.meta { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
  section { break-before: page; page-break-before: always; }
  a { color: inherit; text-decoration: none; }
}
"""


def _e(text: Any) -> str:
    return escape("" if text is None else str(text), quote=True)


def _spans(content: Inline) -> Sequence[Span]:
    if isinstance(content, str | Code | Badge | Link | Strong | Muted):
        return (content,)
    return tuple(content)


def inline_html(content: Inline) -> str:
    """The escaped HTML of inline content."""
    out = []
    for span in _spans(content):
        if isinstance(span, Code):
            out.append(f"<code>{_e(span.text)}</code>")
        elif isinstance(span, Badge):
            out.append(f'<span class="badge {_e(span.kind)}">{_e(span.label)}</span>')
        elif isinstance(span, Link):
            out.append(f'<a href="{_e(span.href)}">{_e(span.text)}</a>')
        elif isinstance(span, Strong):
            out.append(f"<strong>{_e(span.text)}</strong>")
        elif isinstance(span, Muted):
            out.append(f'<span class="muted">{_e(span.text)}</span>')
        else:
            out.append(_e(span))
    return "".join(out)


def _table_html(table: Table) -> str:
    if not table.rows:
        return f'<p class="muted">{_e(table.empty)}</p>'
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{inline_html(c)}</td>' if i in table.numeric
                         else f"<td>{inline_html(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in table.rows)
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table></div>")


def _block_html(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{_e(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{inline_html(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        style = f' class="{_e(block.style)}"' if block.style else ""
        return f"<p{style}>{inline_html(block.text)}</p>"
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Meta):
        return ('<dl class="meta">' + "".join(f"<dt>{_e(k)}</dt><dd>{inline_html(v)}</dd>"
                                              for k, v in block.items) + "</dl>")
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{_e(block.alt)}">'
                f"<figcaption>{_e(block.caption)}</figcaption></figure>")
    if isinstance(block, Pre):
        return f"<pre>{_e(block.text)}</pre>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Banner):
        return (f'<div class="banner {_e(block.kind)}">{_e(block.title)}'
                f"<small>{_e(block.detail)}</small></div>")
    if isinstance(block, Section):
        return "\n".join([f'<section id="{_e(block.anchor)}">',
                          *(_block_html(b) for b in block.blocks), "</section>"])
    raise TypeError(f"not a block: {type(block).__name__}")


def to_html(blocks: Iterable[Block]) -> str:
    """The HTML of a sequence of blocks (a page body fragment)."""
    return "\n".join(_block_html(b) for b in blocks)


def html_page(doc: Document, css: str = BASE_CSS) -> str:
    """A self-contained HTML page: inline CSS, no script, nothing fetched."""
    body = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(doc.title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(doc.title)}</h1>",
        to_html(doc.blocks),
    ]
    if doc.footer:
        body.append(f'<p class="muted">{_e(doc.footer)}</p>')
    body.extend(["</body>", "</html>", ""])
    return "\n".join(body)


# --------------------------------------------------------------------------- Markdown

# CommonMark lets a backslash escape any ASCII punctuation. Escaped: what can open markup
# inline or end a table cell (``|``), raw HTML (``<``), an entity (``&name;``), headings and
# quotes (``#``, ``>``), and ``_`` unless inside a word (where it cannot make emphasis); at the
# start, list markers and rules (``- ``, ``+ ``, ``1. ``, ``---``, ``===``).
_MD_SPECIAL = re.compile(r"[\\`*\[\]<>|~#]|&(?=#?\w+;)|(?<!\w)_|_(?!\w)")
_MD_START = re.compile(r"^(\s*)([+=-])(?=[\s+=-]|$)")
_MD_ORDERED = re.compile(r"^(\s*\d+)([.)])(?=\s|$)")


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown text: markup characters backslash-escaped, one line."""
    flat = re.sub(r"\s+", " ", str("" if text is None else text))
    flat = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), flat)
    flat = _MD_START.sub(r"\1\\\2", flat)
    return _MD_ORDERED.sub(r"\1\\\2", flat)


def gates_markdown(gates: Iterable[Mapping[str, Any]]) -> str:
    """Gates as a Markdown list a notebook shows in full (a table cuts long details), every
    text from data escaped: ``- Gate `name` **fails** (value 2.31, threshold 2): detail``."""
    verdicts = {True: "passes", False: "fails", None: "is not assessable"}
    lines = []
    for g in gates:
        value = g.get("value")
        finite = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value))
        measured = f"value {value:.4g}, " if finite else ""
        lines.append(f"- Gate `{md_escape(g.get('name')).replace('`', '')}` "
                     f"**{verdicts.get(g.get('passed'), '?')}** ({measured}threshold "
                     f"{md_escape(g.get('threshold'))}): {md_escape(g.get('detail'))}")
    return "\n".join(lines)


def _md_code(text: str) -> str:
    flat = " ".join(str(text).split())
    longest = max((len(m) for m in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    # a pipe ends a table cell even inside a code span (GFM): escape it there too
    return f"{fence}{pad}{flat.replace('|', chr(92) + '|')}{pad}{fence}"


def _md_href(href: str) -> str:
    return "<" + re.sub(r"[<>\s]", lambda m: f"%{ord(m.group(0)):02X}", href) + ">"


def inline_markdown(content: Inline) -> str:
    """The escaped Markdown of inline content."""
    out = []
    for span in _spans(content):
        if isinstance(span, Code):
            out.append(_md_code(span.text))
        elif isinstance(span, Badge):
            out.append(f"**{md_escape(span.label)}**")
        elif isinstance(span, Link):
            out.append(f"[{md_escape(span.text)}]({_md_href(span.href)})")
        elif isinstance(span, Strong):
            out.append(f"**{md_escape(span.text)}**")
        elif isinstance(span, Muted):
            out.append(f"*{md_escape(span.text)}*")
        else:
            out.append(md_escape(span))
    return "".join(out)


def _table_markdown(table: Table) -> str:
    if not table.rows:
        return f"*{md_escape(table.empty)}*"
    head = "| " + " | ".join(md_escape(h) for h in table.headers) + " |"
    rule = "| " + " | ".join("---:" if i in table.numeric else "---"
                             for i in range(len(table.headers))) + " |"
    rows = ["| " + " | ".join(inline_markdown(c) or " " for c in row) + " |"
            for row in table.rows]
    return "\n".join([head, rule, *rows])


def _md_anchor(anchor: str | None) -> str:
    """An HTML anchor line that links to ``#anchor`` reach in rendered Markdown (a heading's
    own id is the renderer's slug of its text, which our links cannot know)."""
    return f'<a id="{_e(anchor)}"></a>\n\n' if anchor else ""


def _block_markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return (_md_anchor(block.anchor) + "#" * block.level + " "
                + inline_markdown(block.text))
    if isinstance(block, Para):
        text = inline_markdown(block.text)
        return f"*{text}*" if block.style == "muted" and text else text
    if isinstance(block, Table):
        return _table_markdown(block)
    if isinstance(block, Meta):
        return "\n".join(f"- **{md_escape(k)}**: {inline_markdown(v)}" for k, v in block.items)
    if isinstance(block, Figure):
        return f"*Figure: {md_escape(block.caption)} (embedded in the HTML model card)*"
    if isinstance(block, Pre):
        longest = max((len(m) for m in re.findall(r"`{3,}", block.text)), default=2)
        fence = "`" * (longest + 1)
        return f"{fence}text\n{block.text.rstrip()}\n{fence}"
    if isinstance(block, Bullets):
        return "\n".join(f"- {inline_markdown(i)}" for i in block.items)
    if isinstance(block, Banner):
        return f"> **{md_escape(block.title)}**  \n> {md_escape(block.detail)}"
    if isinstance(block, Section):
        return _md_anchor(block.anchor) + to_markdown(block.blocks)
    raise TypeError(f"not a block: {type(block).__name__}")


def to_markdown(blocks: Iterable[Block]) -> str:
    """The Markdown of a sequence of blocks, separated by blank lines."""
    parts = [_block_markdown(b) for b in blocks]
    return "\n\n".join(p for p in parts if p)


def markdown_page(doc: Document) -> str:
    """The Markdown document: title, blocks, footer; LF line endings, trailing newline."""
    parts = [f"# {md_escape(doc.title)}", to_markdown(doc.blocks)]
    if doc.footer:
        parts.append(f"*{md_escape(doc.footer)}*")
    return "\n\n".join(p for p in parts if p) + "\n"

