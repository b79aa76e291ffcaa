"""What every renderer shares: the rows of the tabular formats, labels, shapes, sizes."""

from __future__ import annotations

from ..accounting import GateRow, LayerReport, Report
from ..errors import printable
from ..model import shape_text

SCHEMA_VERSION = 1  # of every --json output (lstmcount/schemas/): changes when a field changes meaning or goes


def title(rep: Report) -> str:
    """`name (framework)`: a report's heading, its name shown safely."""
    return f"{printable(rep.name or 'model')} ({rep.framework})"


def gate_label(row: GateRow) -> str:
    """`input`, `backward input`, `l1 backward input`: gate name with its depth and direction."""
    parts = []
    if row.depth is not None:
        parts.append(f"l{row.depth}")
    if row.direction is not None:
        parts.append(row.direction)
    parts.append(row.gate)
    return " ".join(parts)


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{n:,} B" if unit == "B" else f"{size:,.2f} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def summary_lines(rep: Report) -> list[str]:
    lines = [
        f"Total params: {rep.total:,} ({human_bytes(rep.bytes)} at {rep.dtype})",
        f"Trainable params: {rep.trainable:,}",
        f"Non-trainable params: {rep.non_trainable:,}",
    ]
    if rep.timesteps is not None:
        lines.append(f"MACs per sample over {rep.timesteps:,} time steps: {rep.macs:,} "
                     f"(+ {rep.elementwise_flops:,} elementwise gate FLOPs)")
    return lines


def rows(rep: Report) -> list[dict[str, object]]:
    """The table every tabular format shares: one row per layer, then its gates and extras; a nested
    model's layers follow it, one level deeper (`depth`), named by their path (`encoder/lstm`).

    Each row: kind (layer|gate|extra), layer, type, part, shape, kernel, recurrent, bias, params, macs,
    depth, and for graph models `connected` (what each call reads, Keras's "Connected to"). Names are
    shown safely (`printable`: control characters and lone surrogates escaped), for every text format.
    """
    out: list[dict[str, object]] = []
    shapes = rep.framework == "keras"
    for layer in rep.layers:
        _layer_rows(out, layer, "", 0, shapes, rep.graph)
    return out


def connected(layer: LayerReport) -> str:
    """Keras's "Connected to": every call's inputs, `name[node][tensor]`; `-` for none."""
    return printable(", ".join(label for call in layer.inbound for label in call)) or "-"


def _layer_rows(out: list[dict[str, object]], layer: LayerReport, prefix: str, depth: int, shapes: bool,
                graph: bool) -> None:
    name = prefix + printable(layer.name)
    sums: dict[str, object] = {"kernel": "", "recurrent": "", "bias": ""}
    if layer.gates:
        sums = {"kernel": sum(g.kernel for g in layer.gates),
                "recurrent": sum(g.recurrent_kernel for g in layer.gates),
                "bias": sum(g.bias for g in layer.gates)}
    kind = printable(layer.type)
    row: dict[str, object] = {"kind": "layer", "layer": name, "type": kind, "part": "",
                              "shape": shape_text(layer.output_shape) if shapes else "",
                              **sums, "params": layer.params, "macs": "" if layer.macs is None else layer.macs,
                              "depth": depth}
    if graph:
        row["connected"] = connected(layer) if depth == 0 else ""
    out.append(row)
    extra: dict[str, object] = {"depth": depth, **({"connected": ""} if graph else {})}
    for g in layer.gates:
        out.append({"kind": "gate", "layer": name, "type": kind, "part": printable(gate_label(g)), "shape": "",
                    "kernel": g.kernel, "recurrent": g.recurrent_kernel, "bias": g.bias, "params": g.params,
                    "macs": "", **extra})
    for e in layer.extras:
        label = " ".join(str(p) for p in (f"l{e.depth}" if e.depth is not None else None, e.direction, e.name) if p)
        out.append({"kind": "extra", "layer": name, "type": kind, "part": printable(label), "shape": "",
                    "kernel": "", "recurrent": "", "bias": "", "params": e.params, "macs": "", **extra})
    for sub in layer.layers:
        _layer_rows(out, sub, f"{name}/", depth + 1, shapes, graph)
