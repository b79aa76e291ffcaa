"""An HTML table: the Markdown report's content (the same cells, totals and formulas), for notebooks."""

from __future__ import annotations

from html import escape
from typing import Any

from ..accounting import Report
from ..errors import printable
from .common import summary_lines, title
from .markdown import CODE, NUMERIC, cells, formulas, header

_RIGHT = ' style="text-align: right"'


def _cell(tag: str, text: str, k: int, code: bool = False) -> str:
    body = f"<code>{escape(text)}</code>" if code and text else escape(text)
    return f"<{tag}{_RIGHT if k in NUMERIC else ''}>{body}</{tag}>"


def render(rep: Report, **_: Any) -> str:
    head = header(rep)
    names = "".join(_cell("th", h, k) for k, h in enumerate(head))
    body = ["<tr>" + "".join(_cell("td", text, k, code=k in CODE) for k, text in enumerate(row)) + "</tr>"
            for row in cells(rep)]
    total = ("<tr><td><b>Total</b></td>" + "<td></td>" * 6 + f"<td{_RIGHT}><b>{rep.total:,}</b></td>"
             + "<td></td>" * (len(head) - 8) + "</tr>")
    notes = "".join(f"<li>{escape(line)}</li>" for line in summary_lines(rep))
    parts = [f"<table>\n<caption>{escape(title(rep))}</caption>\n<thead><tr>{names}</tr></thead>\n<tbody>\n",
             "\n".join(body), f"\n{total}\n</tbody>\n</table>\n<ul>{notes}</ul>\n"]
    if formulas(rep):
        items = "".join(f"<li><code>{escape(printable(name))}</code>: {escape(text)}</li>"
                        for name, text in formulas(rep))
        parts.append(f"<ul>{items}</ul>\n")
    return "".join(parts)
