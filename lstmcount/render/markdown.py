"""A GitHub-flavoured Markdown table, ready to paste into a README (and a notebook's display)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..accounting import Report
from .common import rows, summary_lines

HEADER = ("Layer", "Type", "Gate / part", "Output shape", "Kernel", "Recurrent", "Bias", "Params")
NUMERIC = 4  # the columns from here on are numbers (right-aligned)


def _num(v: object) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def cells(rep: Report) -> Iterator[tuple[str, ...]]:
    """Each row's cells as plain text, in HEADER's order; the layer name and the shape are code."""
    for r in rows(rep):
        first = r["kind"] == "layer"
        yield (str(r["layer"]) if first else "", str(r["type"]) if first else "", str(r["part"]), str(r["shape"]),
               *(_num(r[k]) for k in ("kernel", "recurrent", "bias", "params")))


def formulas(rep: Report) -> list[tuple[str, str]]:
    """(layer name, formula) of each recurrent layer: how its count comes about."""
    return [(layer.name, layer.formula) for layer in rep.layers if layer.formula and layer.recurrent]


def render(rep: Report, **_: Any) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * NUMERIC + "---:|" * (len(HEADER) - NUMERIC)]
    for layer, rtype, part, shape, *numbers in cells(rep):
        lines.append(f"| {f'`{layer}`' if layer else ''} | {rtype} | {part} | {f'`{shape}`' if shape else ''} | "
                     + " | ".join(numbers) + " |")
    lines.append(f"| **Total** | | | | | | | **{rep.total:,}** |")
    lines.append("")
    lines += [f"- {line}" for line in summary_lines(rep)]
    if formulas(rep):
        lines += ["", *(f"- `{name}`: {text}" for name, text in formulas(rep))]
    return "\n".join(lines) + "\n"
