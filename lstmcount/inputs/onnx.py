"""ONNX model files -> a layout: each LSTM/GRU/RNN node laid out by the ONNX table.

Needs the `onnx` package (the `onnx` extra), imported only here; external data is not loaded.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..conventions import onnx as onnx_table
from ..conventions.flags import RECURRENT
from ..errors import FrameworkMissing, Loc, SpecError, problem
from ..layout import LayerLayout, ModelLayout, Weight
from ..model import LayerFlags


def onnx_model(path: str) -> Any:
    try:
        import onnx
    except ImportError:
        raise FrameworkMissing("ONNX", "onnx") from None
    loc = Loc(path)
    try:
        return onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except Exception as exc:
        raise SpecError([problem(loc, None, f"not an ONNX model ({str(exc).splitlines()[0][:200]})")]) from None


class OnnxGroup(NamedTuple):
    """The initializers one node reads first: a recurrent node's W, R, B, P laid out by the ONNX table
    (`flags`, `layout`), or any other initializers as they are (`inputs` with their `shapes`)."""

    name: str
    type: str
    node: Any  # None for the initializers no node reads
    inputs: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    flags: LayerFlags | None = None
    layout: Any = None  # the LayerLayout of a recurrent node


def onnx_groups(model: Any) -> list[OnnxGroup]:
    """Every initializer under the first node that reads it. An LSTM/GRU/RNN node's weights are laid
    out by the ONNX table when their shapes are what it plans (units, input, directions, bias and
    peepholes read off W and R; GRU linear_before_reset from the node); its other initializer inputs
    (initial states, sequence lengths) form a group of their own. Initializers no node reads come last."""
    shapes = {init.name: tuple(int(d) for d in init.dims) for init in model.graph.initializer}
    used: set[str] = set()
    groups: list[OnnxGroup] = []
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type.lower()}_{index}"
        inputs = [i for i in node.input if i in shapes and i not in used]
        if not inputs:
            continue
        if node.op_type in RECURRENT and len(node.input) >= 3 and node.input[1] in shapes and node.input[2] in shapes:
            w, r = shapes[node.input[1]], shapes[node.input[2]]
            extra = list(node.input) + [""] * 8
            linear = any(a.name == "linear_before_reset" and a.i for a in node.attribute)  # default 0
            flags = LayerFlags(RECURRENT[node.op_type], "onnx", r[2], w[2], w[0] == 2, 1, extra[3] in shapes,
                               linear if node.op_type == "GRU" else None, None, extra[7] in shapes)
            (planned,) = onnx_table.from_flags(flags)
            real = dict(zip(("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"), node.input,
                            strict=False))
            weights = tuple(wt._replace(name=real[wt.name]) for wt in planned.weights)
            if all(wt.shape == shapes.get(wt.name) for wt in weights):
                groups.append(OnnxGroup(name, node.op_type, node, tuple(wt.name for wt in weights),
                                        tuple(wt.shape for wt in weights), flags,
                                        planned._replace(name=name, weights=weights)))
                used.update(wt.name for wt in weights)
                inputs = [i for i in inputs if i not in used]
                if not inputs:
                    continue
                name = f"{name} (other inputs)"
        groups.append(OnnxGroup(name, node.op_type, node, tuple(inputs), tuple(shapes[i] for i in inputs)))
        used.update(inputs)
    rest = tuple(n for n in shapes if n not in used)
    if rest:
        groups.append(OnnxGroup("(unused initializers)", "tensors", None, rest, tuple(shapes[n] for n in rest)))
    return groups


def read_onnx(path: str) -> ModelLayout:
    """An ONNX model as a layout: each LSTM/GRU/RNN node laid out by the ONNX table (gate blocks of W,
    R, B, peepholes P) under its own initializer names; every other initializer listed under the
    node that reads it. Needs the `onnx` package (the `onnx` extra); external data is not loaded."""
    return onnx_layout(onnx_groups(onnx_model(path)), path)


def onnx_layout(groups: list[OnnxGroup], path: str) -> ModelLayout:
    return ModelLayout("onnx", path, None, tuple(
        g.layout if g.layout is not None else
        LayerLayout(g.name, g.type, tuple(Weight(i, shape) for i, shape in zip(g.inputs, g.shapes, strict=True)))
        for g in groups))
