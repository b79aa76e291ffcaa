"""Conversion recipes between two frameworks' layouts of the same recurrent layer.

A recipe says, for every tensor of the target, which gate blocks of which source tensors fill it,
whether they are transposed, and how biases fold or split, and whether the result computes
exactly the same outputs. Everything is derived from the two layouts (gate names, gate axes, bias
terms); `apply` carries a recipe out on arrays (NumPy, imported only there).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from .conventions.flags import SUPPORT, flags_layout
from .errors import UsageError
from .layout import BIAS, KERNEL, PEEPHOLE, PROJECTION, RECURRENT, LayerLayout, ModelLayout, Weight
from .model import LayerFlags

CONVERTIBLE = ("keras", "pytorch", "onnx", "tf1", "cudnn", "flax")


class Move(NamedTuple):
    gate: str
    source: tuple[int, int]  # [start, stop) along the source view's gate axis
    target: tuple[int, int]  # [start, stop) along the target view's gate axis


class Part(NamedTuple):
    tensor: str
    at: tuple[int, ...]  # leading indices that select the view (ONNX direction, Keras GRU bias row)
    transpose: bool
    moves: tuple[Move, ...]
    rows: tuple[int, int] | None = None  # TF1: the input or the recurrent rows of a fused kernel
    # cuDNN's packed gate blocks (see Weight.packed): "unpack" reads each moved block as its
    # (units, rows) matrix, "pack" writes the matrix into the block row by row
    reshape: str = ""


class Step(NamedTuple):
    target: str
    full_shape: tuple[int, ...]  # of the whole target tensor
    at: tuple[int, ...]  # the target view written
    op: str  # "copy", "sum" (of the parts) or "zeros"
    parts: tuple[Part, ...]
    note: str = ""
    axis: int = 0  # the gate axis within the view
    rows: tuple[int, int] | None = None  # TF1: the rows of a fused kernel this step fills
    offsets: tuple[tuple[int, int, float], ...] = ()  # constants added to [start, stop) of the view
    term: str = ""  # a bias view's term (input, recurrent, input+recurrent)
    gates: tuple[tuple[int, int, str], ...] = ()  # a bias step: the gate blocks [start, stop) it fills


class Recipe(NamedTuple):
    source: str
    target: str
    exact: bool
    notes: tuple[str, ...]
    steps: tuple[Step, ...]


class View(NamedTuple):
    """One direction's (and, for a bias, one term's) part of a tensor, with its gate slices."""

    layer: LayerLayout
    weight: Weight
    direction: str | None
    term: str | None
    at: tuple[int, ...]
    slices: tuple[tuple[str, int, int], ...]
    role: str = ""
    rows: tuple[int, int] | None = None

    @property
    def axis(self) -> int:
        """The gate axis within the view (a tensor of one gate, as in Flax: its last, output axis)."""
        w = self.weight
        return (len(w.shape) - 1 if w.gate_axis is None else w.gate_axis) - len(self.at)

    @property
    def name(self) -> str:
        return f"{self.layer.name}/{self.weight.name}"


def _views(layer: LayerLayout, w: Weight) -> list[View]:
    dirs: list[tuple[str | None, tuple[int, ...]]] = [(w.direction, ())]
    if w.direction_axis is not None:
        dirs = [("forward", (0,)), ("backward", (1,))] if w.directions == 2 else [(w.direction, (0,))]
    slices = tuple((s.gate, s.start, s.stop) for s in w.slices)
    if w.gates and w.gate_axis is None:  # one gate's own tensor
        slices = ((w.gates[0], 0, w.shape[-1]),)
    elif w.role == PROJECTION and w.gate_axis is not None:  # one block, along its output axis
        slices = (("projection", 0, w.shape[w.gate_axis]),)
    out = []
    for direction, index in dirs:
        if w.row_roles:  # TF1: input rows, then recurrent rows, of one fused kernel
            start = 0
            for role, rows in w.row_roles:
                out.append(View(layer, w, direction, None, index, slices, role, (start, start + rows)))
                start += rows
        elif w.role != BIAS:
            out.append(View(layer, w, direction, None, index, slices))
        elif len(w.shape) - len(index) == 2:  # one row per term (Keras GRU reset_after)
            out += [View(layer, w, direction, t, (*index, r), slices) for r, t in enumerate(w.terms)]
        elif len(w.terms) == 2:  # two halves along the gates (ONNX B = [Wb | Rb], cuDNN)
            half = len(slices) // 2
            out += [View(layer, w, direction, w.terms[0], index, slices[:half]),
                    View(layer, w, direction, w.terms[1], index, slices[half:])]
        else:
            out.append(View(layer, w, direction, w.terms[0] if w.terms else "input+recurrent", index, slices))
    return out


def _positions(layout: ModelLayout) -> dict[tuple[int, str | None], list[View]]:
    """Views by (stack position, direction): a Keras stack's layer k is a PyTorch module's depth k."""
    out: dict[tuple[int, str | None], list[View]] = {}
    for number, layer in enumerate(layout.layers):
        for w in layer.weights:
            for view in _views(layer, w):
                out.setdefault((w.depth if w.depth is not None else number, view.direction), []).append(view)
    return out


def _role(view: View) -> str:
    return view.role or view.weight.role


def _parts(sources: list[View], target: View) -> tuple[Part, ...] | None:
    """The source blocks that fill every gate of the target view, or None if some gate has none."""
    parts, covered = [], set()
    for source in sources:
        src = {g: (a, b) for g, a, b in source.slices}
        moves = tuple(Move(g, src[g], (a, b)) for g, a, b in target.slices if g in src)
        if moves:
            two_d = len(source.weight.shape) - len(source.at) == 2
            reshape = "unpack" if source.weight.packed else "pack" if target.weight.packed else ""
            parts.append(Part(source.name, source.at, two_d and source.axis != target.axis, moves, source.rows,
                              reshape))
            covered |= {m.gate for m in moves}
    return tuple(parts) if covered >= {g for g, _, _ in target.slices} else None


def _forget_bias(step: Step, source: str, target: str, kind: str) -> Step:
    """TF1's LSTMCell keeps forget_bias (1.0) out of its stored bias; move it in or out (once: on the
    step that writes the target's forget block, unless that is a recurrent-only bias)."""
    if kind != "lstm" or "tf1" not in (source, target) or step.term == "recurrent":
        return step
    forget = [(a, b) for a, b, gate in step.gates if gate == "forget"]
    value = 1.0 if source == "tf1" else -1.0
    return step._replace(offsets=tuple((a, b, value) for a, b in forget))


def _bias_steps(biases: list[View], view: View) -> list[tuple[Step, str]]:
    """The steps that fill one target bias view, gate by gate: a bias of the same term, or the sum of
    an input and a recurrent bias, or a folded bias into the input bias; zeros where the source has
    no such bias. Gates filled the same way share one step."""
    def of(term: str, gate: tuple[str, int, int]) -> tuple[Part, ...] | None:
        return _parts([v for v in biases if v.term == term], view._replace(slices=(gate,)))

    plans: list[tuple[str, tuple[Part, ...], str, tuple[str, int, int]]] = []
    for gate in view.slices:
        same, inputs, recurrents = of(view.term or "", gate), of("input", gate), of("recurrent", gate)
        folded = of("input+recurrent", gate)
        if same is not None:
            plans.append(("copy", same, "", gate))
        elif view.term == "input+recurrent" and inputs is not None and recurrents is not None:
            plans.append(("sum", inputs + recurrents, NOTES["sum"], gate))
        elif view.term == "input" and folded is not None:
            plans.append(("copy", folded, NOTES["split"], gate))
        else:
            plans.append(("zeros", (), "", gate))
    out: list[tuple[Step, str]] = []
    for op, parts, note, gate in plans:
        block = (gate[1], gate[2], gate[0])
        last = out[-1][0] if out else None
        if last is not None and last.op == op and out[-1][1] == note:  # the same way: one step
            if [p[:3] for p in last.parts] == [p[:3] for p in parts]:  # from the same tensors: moves join
                merged = tuple(p._replace(moves=p.moves + q.moves) for p, q in zip(last.parts, parts, strict=True))
            else:
                merged = last.parts + parts
            out[-1] = (last._replace(parts=merged, gates=last.gates + (block,)), note)
            continue
        what = "the folded bias" if note == NOTES["split"] else "no such bias in the source" if op == "zeros" else ""
        out.append((Step(view.name, view.weight.shape, view.at, op, parts, what, view.axis, view.rows,
                         term=view.term or "", gates=(block,)), note))
    return out


def _note(notes: list[str], note: str, exact: bool) -> None:
    if exact and note and note not in notes:
        notes.append(note)


NOTES = {
    "sum": "the two biases fold into one by addition: exact for the outputs, but the split back is not unique",
    "split": "the one bias goes to the input bias and the recurrent bias is zero: exact for the outputs",
}


def recipe(f: LayerFlags, target: str, names: dict[str, str] | None = None) -> Recipe:
    """The recipe from the flags' framework to `target`; `names` renames source tensors (a file's own)."""
    if f.framework not in CONVERTIBLE or target not in CONVERTIBLE:
        raise UsageError(f"--to converts between {', '.join(CONVERTIBLE)} layouts for now "
                         f"(asked: {f.framework} to {target})")
    if f.proj_size and f.type not in SUPPORT[target].proj:
        raise UsageError(f"a projection (proj_size) has no {target} equivalent (pytorch proj_size and tf1 num_proj "
                         "have one); it cannot be converted")
    if f.peepholes and f.type not in SUPPORT[target].peepholes:
        raise UsageError(f"peepholes have no {target} equivalent (onnx and tf1 have them); they cannot be converted")
    src_layout = flags_layout(f)
    # Keras and ONNX have both GRU variants: a reset_before GRU goes to the same variant there
    before = target in ("keras", "onnx") and any(layer.variant == "reset_before" for layer in src_layout.layers)
    biased = f.bias or not SUPPORT[target].no_bias  # cuDNN and Flax always have biases (zero here)
    dst_layout = flags_layout(f._replace(framework=target, reset_after=False if before else None, bias=biased))
    notes: list[str] = []
    exact = True
    if len({layer.variant for layer in (*src_layout.layers, *dst_layout.layers)}) > 1:
        exact = False
        notes.append("the GRUs differ: reset_before (Keras reset_after=false) applies the reset gate before the "
                     "recurrent product, reset_after (PyTorch, Keras default, ONNX linear_before_reset=1) after "
                     "it; no weights make them equal")
    onnx_side = src_layout if f.framework == "onnx" else dst_layout if target == "onnx" else None
    if f.type == "gru" and onnx_side is not None:
        lbr = int(onnx_side.layers[0].variant == "reset_after")
        notes.append(f"the ONNX GRU node {'has' if f.framework == 'onnx' else 'must have'} linear_before_reset={lbr}")
    sources = _positions(src_layout)
    steps: list[Step] = []
    for key, views in _positions(dst_layout).items():
        src = sources[key]
        for view in views:
            full, role = view.weight.shape, _role(view)
            if role in (KERNEL, RECURRENT, PEEPHOLE, PROJECTION):
                parts = _parts([v for v in src if _role(v) == role], view)
                assert parts is not None, (view.name, role)
                steps.append(Step(view.name, full, view.at, "copy", parts, axis=view.axis, rows=view.rows))
                continue
            for step, note in _bias_steps([v for v in src if _role(v) == BIAS], view):
                _note(notes, note, exact)
                steps.append(_forget_bias(step, f.framework, target, f.type))
    if f.type == "lstm" and "tf1" in (f.framework, target):
        notes.append("TF1's LSTMCell adds forget_bias (1.0, its default) to the forget gate at run time: the "
                     "recipe adds it to (or takes it from) the stored forget bias")
    if names:
        steps = [s._replace(parts=tuple(p._replace(tensor=names.get(p.tensor, p.tensor)) for p in s.parts))
                 for s in steps]
    return Recipe(f.framework, target, exact, tuple(notes), tuple(steps))


def apply(rec: Recipe, arrays: dict[str, Any]) -> dict[str, Any]:
    """Carry out a recipe: source arrays by tensor name -> target arrays by tensor name (float64)."""
    import numpy as np

    out: dict[str, Any] = {}
    for step in rec.steps:
        full = out.setdefault(step.target, np.zeros(step.full_shape))
        view = full[step.at] if step.at else full
        if step.rows is not None:
            view = view[step.rows[0]:step.rows[1]]
        for part in step.parts:
            src = np.asarray(arrays[part.tensor], dtype=np.float64)
            src = src[part.at] if part.at else src
            if part.rows is not None:
                src = src[part.rows[0]:part.rows[1]]
            if part.reshape:
                _repack(part, src, view, step.axis)
                continue
            if part.transpose:  # then source and target views share the gate axis
                src = src.T
            for m in part.moves:
                index: list[slice] = [slice(None)] * view.ndim
                take: list[slice] = [slice(None)] * src.ndim
                index[step.axis], take[step.axis] = slice(*m.target), slice(*m.source)
                view[tuple(index)] += src[tuple(take)]
        for start, stop, value in step.offsets:
            index = [slice(None)] * view.ndim
            index[step.axis] = slice(start, stop)
            view[tuple(index)] += value
    return out


def sources(rec: Recipe) -> set[str]:
    """The tensors a recipe reads."""
    return {part.tensor for step in rec.steps for part in step.parts}


def npz_bytes(rec: Recipe, arrays: dict[str, Any]) -> int:
    """About the memory `npz` takes: the target tensors at float64 while they are built and again packed
    in the .npz (at most float64), and the largest source tensor copied at float64. What it counts is
    the number of elements, so a tensor that repeats one stored value (an expanded, stride-0 tensor) counts
    at its full size: that is what converting it writes."""
    total = 0
    for shape in {step.target: step.full_shape for step in rec.steps}.values():
        n = 1
        for d in shape:
            n *= d
        total += n
    largest = max((int(arrays[name].size) for name in sources(rec)), default=0)
    return 16 * total + 8 * largest


def npz(rec: Recipe, arrays: dict[str, Any]) -> bytes:
    """Carry out a recipe and pack the converted tensors as a NumPy .npz (target tensor names as keys),
    in the sources' floating-point type."""
    import io

    import numpy as np

    used = [np.asarray(arrays[p.tensor]) for step in rec.steps for p in step.parts]
    dtype = np.result_type(*[a.dtype for a in used]) if used else np.float32
    buf = io.BytesIO()
    np.savez(buf, **{k: v.astype(dtype) for k, v in apply(rec, arrays).items()})
    return buf.getvalue()


def _repack(part: Part, src: Any, view: Any, axis: int) -> None:
    """Move gate blocks into or out of cuDNN's packed blocks. A packed block (rows, units) holds the
    (units, rows) matrix row by row; an ordinary block is that matrix (gates on axis 0) or its
    transpose (gates on axis 1)."""
    source_axis = 1 - axis if part.transpose else axis
    for m in part.moves:
        block = src[:, m.source[0]:m.source[1]] if source_axis == 1 else src[m.source[0]:m.source[1]]
        if part.reshape == "unpack":
            matrix = block.reshape(block.shape[1], block.shape[0])  # (units, rows)
            out = matrix.T if axis == 1 else matrix
        else:
            matrix = block.T if source_axis == 1 else block  # (units, rows)
            out = matrix.reshape(matrix.shape[1], matrix.shape[0])
        if axis == 1:
            view[:, m.target[0]:m.target[1]] += out
        else:
            view[m.target[0]:m.target[1]] += out


def describe(rec: Recipe) -> list[str]:
    """The recipe as sentences, one per target view."""
    lines = []
    for step in rec.steps:
        target = step.target + "".join(f"[{i}]" for i in step.at) + \
            (f"[{step.rows[0]}:{step.rows[1]}]" if step.rows else "")
        if step.op == "zeros":
            spans: list[list[int]] = []
            for start, stop, _ in sorted(step.gates):
                if spans and spans[-1][1] == start:
                    spans[-1][1] = stop
                else:
                    spans.append([start, stop])
            length = step.full_shape[len(step.at) + step.axis]
            where = "" if spans == [[0, length]] else " on " + ", ".join(f"[{a}:{b})" for a, b in spans)
            lines.append(f"{target} = zeros{where} ({step.note})")
            continue
        sources = []
        for part in step.parts:
            src = part.tensor + "".join(f"[{i}]" for i in part.at) + \
                (f"[{part.rows[0]}:{part.rows[1]}]" if part.rows else "")
            src = f"transpose({src})" if part.transpose and not part.reshape else src
            if part.reshape == "unpack":
                src += " (each block read row by row as a (units, rows) matrix)"
            elif part.reshape == "pack":
                src += " (each block's (units, rows) matrix written row by row)"
            order = ", ".join(f"{m.gate} [{m.source[0]}:{m.source[1]})->[{m.target[0]}:{m.target[1]})"
                              for m in part.moves)
            sources.append(f"{src} with {order}")
        offsets = "".join(f" {v:+g} on [{a}:{b})" for a, b, v in step.offsets)
        lines.append(f"{target} = {(' + ' if step.op == 'sum' else '; ').join(sources)}{offsets}")
    return lines
