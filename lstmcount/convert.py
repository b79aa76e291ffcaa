"""Conversion recipes between two frameworks' layouts of the same recurrent layer.

A recipe says, for every tensor of the target, which gate blocks of which source tensors fill it,
whether they are transposed, and how biases fold or split, and whether the result computes
exactly the same outputs. Everything is derived from the two layouts (gate names, gate axes, bias
terms); `apply` carries a recipe out on arrays (NumPy, imported only there).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .conventions.flags import flags_layout
from .errors import UsageError
from .layout import BIAS, KERNEL, RECURRENT, LayerLayout, ModelLayout, Weight
from .spec import LayerFlags

CONVERTIBLE = ("keras", "pytorch")


class Move(NamedTuple):
    gate: str
    source: tuple[int, int]  # [start, stop) along the source tensor's gate axis
    target: tuple[int, int]  # [start, stop) along the target tensor's gate axis


class Part(NamedTuple):
    tensor: str
    row: int | None  # a row of a 2-D bias
    transpose: bool
    moves: tuple[Move, ...]


class Step(NamedTuple):
    target: str
    shape: tuple[int, ...]  # of the block written (one row of a 2-D bias)
    row: int | None  # the target row of a 2-D bias
    op: str  # "copy", "sum" (of the parts) or "zeros"
    parts: tuple[Part, ...]
    note: str = ""
    axis: int = 0  # the target's gate axis
    rows: tuple[str, ...] = ()  # a 2-D bias's row terms


class Recipe(NamedTuple):
    source: str
    target: str
    exact: bool
    notes: tuple[str, ...]
    steps: tuple[Step, ...]


def _positions(layout: ModelLayout) -> dict[tuple[int, str | None], list[tuple[LayerLayout, Weight]]]:
    """Weights by (stack position, direction): a Keras stack's layer k is a PyTorch module's depth k."""
    out: dict[tuple[int, str | None], list[tuple[LayerLayout, Weight]]] = {}
    for index, layer in enumerate(layout.layers):
        for w in layer.weights:
            key = (w.depth if w.depth is not None else index, w.direction)
            out.setdefault(key, []).append((layer, w))
    return out


def _blocks(source: Weight, target: Weight) -> tuple[Move, ...]:
    src = {s.gate: (s.start, s.stop) for s in source.slices}
    return tuple(Move(s.gate, src[s.gate], (s.start, s.stop)) for s in target.slices)


def recipe(f: LayerFlags, target: str) -> Recipe:
    if f.framework not in CONVERTIBLE or target not in CONVERTIBLE:
        raise UsageError(f"--to converts between {' and '.join(CONVERTIBLE)} layouts for now "
                         f"(asked: {f.framework} to {target})")
    src_layout = flags_layout(f)
    dst_flags = f._replace(framework=target, reset_after=None, proj_size=None)
    if f.proj_size:
        raise UsageError("a projection (proj_size) has no Keras equivalent; it cannot be converted")
    dst_layout = flags_layout(dst_flags)
    notes: list[str] = []
    exact = True
    variants = {layer.variant for layer in (*src_layout.layers, *dst_layout.layers)}
    if len(variants) > 1:
        exact = False
        notes.append("the GRUs differ: reset_before (Keras reset_after=false) applies the reset gate before the "
                     "recurrent product, reset_after (PyTorch, Keras default) after it; no weights make them equal")
    sources = _positions(src_layout)
    steps: list[Step] = []
    for key, entries in _positions(dst_layout).items():
        src = sources[key]
        for layer, w in entries:
            name = f"{layer.name}/{w.name}"
            if w.role in (KERNEL, RECURRENT):
                s_layer, s = next((sl, sw) for sl, sw in src if sw.role == w.role)
                part = Part(f"{s_layer.name}/{s.name}", None, s.gate_axis != w.gate_axis, _blocks(s, w))
                steps.append(Step(name, w.shape, None, "copy", (part,), axis=w.gate_axis or 0))
            elif w.role == BIAS:
                biases = [(sl, sw) for sl, sw in src if sw.role == BIAS]
                rows: list[int | None] = list(range(len(w.terms))) if len(w.shape) == 2 else [None]
                for row, term in zip(rows, w.terms, strict=True):
                    step, note = _bias_step(name, w, row, term, biases)
                    steps.append(step)
                    if note and exact and note not in notes:
                        notes.append(note)
    return Recipe(f.framework, target, exact, tuple(notes), tuple(steps))


def _bias_step(name: str, w: Weight, row: int | None, term: str,
               biases: list[tuple[LayerLayout, Weight]]) -> tuple[Step, str]:
    shape = (w.shape[-1],)
    rows = w.terms if len(w.shape) == 2 else ()
    parts = {t: Part(f"{sl.name}/{sw.name}", i if len(sw.shape) == 2 else None, False, _blocks(sw, w))
             for sl, sw in biases for i, t in enumerate(sw.terms)}
    if term in parts:
        return Step(name, shape, row, "copy", (parts[term],), rows=rows), ""
    if term == "input+recurrent":
        return (Step(name, shape, row, "sum", (parts["input"], parts["recurrent"]), rows=rows),
                "the two biases fold into one by addition: exact for the outputs, but the split back is not unique")
    if term == "input" and "input+recurrent" in parts:
        return (Step(name, shape, row, "copy", (parts["input+recurrent"],), "the folded bias", rows=rows),
                "the one bias goes to the input bias and the recurrent bias is zero: exact for the outputs")
    return Step(name, shape, row, "zeros", (), "no such bias in the source", rows=rows), ""


def apply(rec: Recipe, arrays: dict[str, Any]) -> dict[str, Any]:
    """Carry out a recipe: source arrays by tensor name -> target arrays by tensor name (float64)."""
    import numpy as np

    out: dict[str, Any] = {}
    for step in rec.steps:
        block = np.zeros(step.shape)
        axis = step.axis if step.row is None else 0
        for part in step.parts:
            src = np.asarray(arrays[part.tensor], dtype=np.float64)
            if part.row is not None:
                src = src[part.row]
            if part.transpose:  # then source and target share the gate axis
                src = src.T
            for m in part.moves:
                index: list[slice] = [slice(None)] * block.ndim
                take: list[slice] = [slice(None)] * src.ndim
                index[axis], take[axis] = slice(*m.target), slice(*m.source)
                block[tuple(index)] += src[tuple(take)]
        if step.row is None:
            out[step.target] = block
        else:
            out.setdefault(step.target, np.zeros((len(step.rows), *step.shape)))[step.row] = block
    return out


def describe(rec: Recipe) -> list[str]:
    """The recipe as sentences, one per target tensor (or bias row)."""
    lines = []
    for step in rec.steps:
        target = step.target + (f"[{step.row}]" if step.row is not None else "")
        if step.op == "zeros":
            lines.append(f"{target} {list(step.shape)} = zeros ({step.note})")
            continue
        sources = []
        for part in step.parts:
            src = part.tensor + (f"[{part.row}]" if part.row is not None else "")
            src = f"transpose({src})" if part.transpose else src
            order = ", ".join(f"{m.gate} [{m.source[0]}:{m.source[1]})->[{m.target[0]}:{m.target[1]})"
                              for m in part.moves)
            sources.append(f"{src} with {order}")
        joiner = " + " if step.op == "sum" else ""
        lines.append(f"{target} {list(step.shape)} = {joiner.join(sources)}")
    return lines
