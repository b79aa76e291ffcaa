"""Rendering `compare` rows."""

from __future__ import annotations

import io
import json

from ..model import LayerFlags
from ..tools import Row, Solution
from .common import SCHEMA_VERSION


def compare_json(rows: list[Row]) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION, "rows": [r._asdict() for r in rows]}, indent=2,
                      ensure_ascii=False) + "\n"


def solve_json(sol: Solution, argument: str, budget: int) -> str:
    """One line: the size found, the argument it is, its count, the budget, what one more would need."""
    return json.dumps({"schema_version": SCHEMA_VERSION, "units": sol.units, "argument": argument,
                       "params": sol.params, "budget": budget, "next_params": sol.next_params}) + "\n"


def compare_table(rows: list[Row], f: LayerFlags, color: bool = False, width: int = 140) -> str:
    from rich.console import Console
    from rich.table import Table

    desc = f"{f.type.upper()}(units={f.units}, input={f.input}" + (", bidirectional" if f.bidirectional else "") + \
        (f", {f.num_layers} layers" if f.num_layers > 1 else "") + ("" if f.bias else ", no bias") + ")"
    table = Table(title=f"{desc} in every framework", title_justify="left")
    table.add_column("Framework")
    table.add_column("Variant")
    table.add_column("Params", justify="right")
    table.add_column("In general")
    table.add_column("Why it differs from the first row")
    for r in rows:
        table.add_row(r.framework, r.variant, "-" if r.params is None else f"{r.params:,}", r.in_general or "-", r.why)
    buf = io.StringIO()
    Console(file=buf, width=width, color_system="standard" if color else None, force_terminal=color,
            highlight=False).print(table)
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())
