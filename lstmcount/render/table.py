"""The rich terminal table (plain text, no colour codes, when not writing to a terminal)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..accounting import Report
from ..errors import printable
from .common import rows, summary_lines, title


def _num(v: object) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


RICH_ROWS = 2_000  # beyond this, rich's layout costs seconds: an aligned plain table instead


def label(r: dict[str, object]) -> str:
    """A row's first cell: `name (Type)` for a layer, its part indented below it; a nested model's
    layers one level further in."""
    indent = "  " * int(r["depth"])  # type: ignore[call-overload]
    if r["kind"] == "layer":
        return f"{indent}{str(r['layer']).rsplit('/', 1)[-1]} ({r['type']})"
    return f"{indent}  {r['part']}"


def _plain(rep: Report, all_rows: list[dict[str, object]]) -> str:
    shapes = rep.framework == "keras"
    head = ["Layer (type)", *(["Output shape"] if shapes else []), "Kernel", "Recurrent", "Bias", "Params",
            *(["Connected to"] if rep.graph else [])]
    body = [[label(r), *([str(r["shape"])] if shapes else []),
             *(_num(r[k]) for k in ("kernel", "recurrent", "bias", "params")),
             *([str(r["connected"])] if rep.graph else [])] for r in all_rows]
    widths = [max(len(row[i]) for row in [head, *body]) for i in range(len(head))]
    left = 2 if shapes else 1

    right = len(head) - (1 if rep.graph else 0)  # the number columns

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < left or i >= right else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    lines = [f"{title(rep)}: {len(rep.layers):,} layers", fmt(head),
             "  ".join("-" * w for w in widths), *(fmt(row) for row in body), *summary_lines(rep)]
    return "".join(line.rstrip() + "\n" for line in lines)


def render(rep: Report, color: bool = False, width: int = 120, **_: Any) -> str:
    # every cell a Text: a name is never read as rich markup ("[/]" would raise, "[red]" would colour)
    table = Table(title=Text(title(rep)), title_justify="left", show_lines=False, header_style="bold" if color else "")
    all_rows = rows(rep)
    if len(all_rows) > RICH_ROWS:
        return _plain(rep, all_rows)
    shapes = rep.framework == "keras"
    table.add_column("Layer (type)", no_wrap=True)
    if shapes:
        table.add_column("Output shape", no_wrap=True)
    numbers = ("kernel", "recurrent", "bias", "params", *(("macs",) if rep.timesteps is not None else ()))
    for col in numbers:
        table.add_column(col.capitalize() if col != "macs" else "MACs", justify="right", no_wrap=True)
    if rep.graph:
        table.add_column("Connected to", overflow="fold")
    for i, r in enumerate(all_rows):
        is_layer = r["kind"] == "layer"
        style = ("bold" if is_layer else "dim") if color else None
        end = i + 1 == len(all_rows) or (all_rows[i + 1]["kind"] == "layer" and all_rows[i + 1]["depth"] == 0)
        cells = [label(r), *([str(r["shape"])] if shapes else []), *(_num(r[k]) for k in numbers),
                 *([str(r["connected"])] if rep.graph else [])]
        table.add_row(*map(Text, cells), style=style, end_section=end)
    buf = io.StringIO()
    # as wide as the table needs, from `width` up: a shape or a count is never cut short
    needed = Console(width=100_000).measure(table).maximum
    console = Console(file=buf, width=max(width, needed), color_system="standard" if color else None,
                      force_terminal=color, highlight=False, soft_wrap=False)
    console.print(table)
    for line in summary_lines(rep):
        console.print(line)
    formulas = [(layer.name, layer.formula) for layer in rep.layers if layer.formula and layer.recurrent]
    if formulas:
        console.print()
        for name, text in formulas:
            console.print(Text(f"{printable(name)}: {text}"), soft_wrap=True)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
