"""Sections to ``report.md`` (figures as SVG files beside it) and to one self-contained ``report.html``
(figures inline, no script, no network)."""
from __future__ import annotations

import html
import re
from pathlib import Path

from mmpriv_tasks.report.blocks import Figure, Rate, Table, Text, fmt

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.scroll{max-width:100%;overflow-x:auto}table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
small.ci{display:block;color:#666;font-size:.8em;white-space:nowrap}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 1em 1em 0;display:inline-block;vertical-align:top}figure svg{max-width:100%;height:auto}figcaption{font-size:.85em;color:#555}
code{background:#f5f5f5;padding:0 .2em;border-radius:3px}nav a{margin-right:1em}
"""


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _inline_html(text: str) -> str:
    escaped = html.escape(text)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", escaped)


def _md_table(table: Table) -> str:
    lines = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(fmt(cell).replace("|", "\\|") for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _html_cell(cell) -> str:
    if isinstance(cell, Rate) and cell.value is not None:
        detail = " ".join(p for p in (cell.interval, "" if cell.n is None else f"n={cell.n}") if p)
        return f'<td class="num">{cell.value:.3f}<small class="ci">{html.escape(detail)}</small></td>'
    if isinstance(cell, (int, float, Rate)) and not isinstance(cell, bool):
        return f'<td class="num">{html.escape(fmt(cell))}</td>'
    return f"<td>{_inline_html(fmt(cell))}</td>"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{_inline_html(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>" for row in table.rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def write_markdown(sections, out: Path) -> str:
    """``out/report.md`` (figures in ``out/figures/``); returns the Markdown."""
    figures = out / "figures"
    for stale in figures.glob("[0-9][0-9]-*.svg"):  # a previous report's figures
        stale.unlink()
    parts = ["# mmpriv report\n"]
    count = 0
    for section in sections:
        parts.append(f"## {section.title}\n")
        for block in section.blocks:
            if isinstance(block, Text):
                parts.append(block.text + "\n")
            elif isinstance(block, Table):
                parts.append(_md_table(block) + "\n")
            elif isinstance(block, Figure):
                count += 1
                block.name = block.name or f"{count:02d}-{_slug(block.title)[:60]}.svg"
                figures.mkdir(parents=True, exist_ok=True)
                (figures / block.name).write_text(block.svg, encoding="utf-8")
                parts.append(f"![{block.title}](figures/{block.name})\n")
    text = "\n".join(parts)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text, encoding="utf-8")
    return text


def _svg_body(svg: str) -> str:
    """The ``<svg>`` element of a matplotlib SVG file (XML prolog and doctype dropped)."""
    return svg[svg.index("<svg"):]


def write_html(sections, out: Path, title: str) -> Path:
    """``out/report.html``: one file, figures as inline SVG."""
    nav = "".join(f'<a href="#{_slug(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    body = [f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>"]
    for section in sections:
        body.append(f'<h2 id="{_slug(section.title)}">{html.escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Text):
                body.append(f"<p>{_inline_html(block.text)}</p>")
            elif isinstance(block, Table):
                body.append(_html_table(block))
            elif isinstance(block, Figure):
                body.append(f"<figure>{_svg_body(block.svg)}<figcaption>{html.escape(block.title)}</figcaption></figure>")
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
