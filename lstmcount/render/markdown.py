"""A GitHub-flavoured Markdown table, ready to paste into a README (and a notebook's display)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..accounting import Report
from ..errors import printable
from .common import rows, summary_lines

HEADER = ("Layer", "Type", "Gate / part", "Output shape", "Kernel", "Recurrent", "Bias", "Params")
GRAPH_HEADER = (*HEADER, "Connected to")  # a graph model's table: what each call reads
NUMERIC = range(4, 8)  # the number columns (right-aligned)
CODE = (0, 3)  # the columns written as code: the layer's name, its output shape


def _num(v: object) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def header(rep: Report) -> tuple[str, ...]:
    return GRAPH_HEADER if rep.graph else HEADER


def cells(rep: Report) -> Iterator[tuple[str, ...]]:
    """Each row's cells as plain text, in header(rep)'s order."""
    for r in rows(rep):
        first = r["kind"] == "layer"
        yield (str(r["layer"]) if first else "", str(r["type"]) if first else "", str(r["part"]), str(r["shape"]),
               *(_num(r[k]) for k in ("kernel", "recurrent", "bias", "params")),
               *((str(r["connected"]),) if rep.graph else ()))


def formulas(rep: Report) -> list[tuple[str, str]]:
    """(layer name, formula) of each recurrent layer: how its count comes about (the name shown safely)."""
    return [(printable(layer.name), layer.formula) for layer in rep.layers if layer.formula and layer.recurrent]


def _md(text: str, code: bool) -> str:
    """A cell's text in a Markdown table: a `|` would end the cell; a code span is fenced by more
    backticks than it holds."""
    text = text.replace("|", "\\|")
    if not code or not text:
        return text
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def render(rep: Report, **_: Any) -> str:
    head = header(rep)
    lines = ["| " + " | ".join(head) + " |", "|" + "".join("---:|" if k in NUMERIC else "---|"
                                                          for k in range(len(head)))]
    for row in cells(rep):
        shown = [_md(text, k in CODE) for k, text in enumerate(row)]
        lines.append("| " + " | ".join(shown) + " |")
    lines.append(f"| **Total** | | | | | | | **{rep.total:,}** |" + (" |" if rep.graph else ""))
    lines.append("")
    lines += [f"- {line}" for line in summary_lines(rep)]
    if formulas(rep):
        lines += ["", *(f"- {_md(name, True)}: {text}" for name, text in formulas(rep))]
    return "\n".join(lines) + "\n"
