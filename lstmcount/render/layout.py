"""Rendering a layout: every tensor with its shape, gate axis and gate slices in storage order."""

from __future__ import annotations

import io
import json
from typing import Any

from ..convert import Recipe, describe
from ..errors import printable
from ..layout import ModelLayout, Weight
from .common import SCHEMA_VERSION


def weight_dict(layer: str, w: Weight) -> dict[str, Any]:
    d: dict[str, Any] = {"layer": layer, "name": w.name, "shape": list(w.shape), "params": w.params,
                         "gate_axis": w.gate_axis if w.gates else None,
                         "slices": [{"gate": s.gate, "start": s.start, "stop": s.stop} for s in w.slices]}
    if w.tied:  # the same tensor as another weight, counted there
        d["tied"] = w.tied
    if w.gates and w.gate_axis is None:  # one tensor per gate (Flax)
        d["gate"] = w.gates[0]
    if w.direction_axis is not None and w.directions == 2:
        n = w.shape[w.direction_axis] // 2
        d["direction_axis"] = w.direction_axis
        d["directions"] = [{"direction": "forward", "start": 0, "stop": n},
                           {"direction": "backward", "start": n, "stop": 2 * n}]
    if w.row_roles:
        start, blocks = 0, []
        for role, rows in w.row_roles:
            blocks.append({"role": role, "start": start, "stop": start + rows})
            start += rows
        d["row_axis"] = 0
        d["row_blocks"] = blocks
    if w.direction is not None:
        d["direction"] = w.direction
    if w.depth is not None:
        d["depth"] = w.depth
    return d


def render_json(lay: ModelLayout) -> str:
    weights = [weight_dict(layer.name, w) for layer in lay.layers for w in layer.weights]
    return json.dumps({"schema_version": SCHEMA_VERSION, "framework": lay.framework, "params": lay.params,
                       "weights": weights},
                      indent=2, ensure_ascii=False) + "\n"


def _slices(w: Weight) -> str:
    if w.gates and w.gate_axis is None:
        return f"all: {w.gates[0]}"
    parts = [f"{s.gate} [{s.start}:{s.stop})" for s in w.slices]
    if w.direction_axis is not None and w.directions == 2:
        parts.insert(0, f"axis {w.direction_axis}: forward [0:1) backward [1:2); axis {w.gate_axis}:")
    if w.row_roles:
        start, rows = 0, []
        for role, n in w.row_roles:
            rows.append(f"{role} [{start}:{start + n})")
            start += n
        parts.insert(0, f"rows: {', '.join(rows)}; columns:")
    return " ".join(parts) if parts else "(no gates)"


def render_table(lay: ModelLayout, color: bool = False, width: int = 140) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{lay.framework} layout", title_justify="left")
    for col, justify in (("Layer", "left"), ("Weight", "left"), ("Shape", "left"), ("Params", "right"),
                         ("Gate axis", "right"), ("Gate slices (storage order)", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for layer in lay.layers:
        for i, w in enumerate(layer.weights):
            table.add_row(Text(printable(f"{layer.name} ({layer.type})") if i == 0 else ""), Text(printable(w.name)),
                          str(tuple(w.shape)),
                          f"{w.params:,}", "" if w.gate_axis is None or not w.gates else str(w.gate_axis),
                          Text(printable(_slices(w))),
                          end_section=i + 1 == len(layer.weights))
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None, force_terminal=color,
                      highlight=False)
    console.print(table)
    console.print(f"Total params: {lay.params:,}")
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def recipe_json(rec: Recipe) -> str:
    steps = [{"target": s.target, "at": list(s.at), "rows": list(s.rows) if s.rows else None, "op": s.op,
              "note": s.note, "axis": s.axis,
              "add": [{"start": a, "stop": b, "value": v} for a, b, v in s.offsets],
              "parts": [{"tensor": p.tensor, "at": list(p.at), "rows": list(p.rows) if p.rows else None,
                         "transpose": p.transpose, "reshape": p.reshape or None,
                         "moves": [{"gate": m.gate, "from": list(m.source), "to": list(m.target)} for m in p.moves]}
                        for p in s.parts]} for s in rec.steps]
    return json.dumps({"schema_version": SCHEMA_VERSION, "from": rec.source, "to": rec.target, "exact": rec.exact,
                       "notes": list(rec.notes),
                       "steps": steps}, indent=2) + "\n"


def recipe_text(rec: Recipe) -> str:
    verdict = "exact: the converted weights compute the same outputs" if rec.exact else \
        "NOT exact: the converted layer computes something else"
    lines = [f"{rec.source} -> {rec.target} ({verdict})", *(f"- {n}" for n in rec.notes), "",
             *describe(rec)]
    return "".join(printable(line) + "\n" for line in lines)
