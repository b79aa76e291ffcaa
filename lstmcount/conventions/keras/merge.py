"""Keras's merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

None has weights; each is called on a list of tensors and its output shape follows Keras's own
rules (keras/src/layers/merging): the elementwise ones broadcast their shapes aligned on the right,
Concatenate joins along one axis, Dot sums over one axis of each input. What Keras refuses, or
accepts symbolically though the model could never run (a dot product over the batch axis, tensors of
different ranks joined), is refused here with the shapes that do not fit.
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import MAX_INPUTS, Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import known_shape, shape_str


def _shapes(shapes: tuple[Shape | None, ...]) -> list[Shape]:
    return [known_shape(s, None, "") for s in shapes]


def _listing(shapes: list[Shape]) -> str:
    return ", ".join(shape_str((None, *s)) for s in shapes)


def broadcast(first: Shape, second: Shape) -> Shape:
    """Keras's elementwise output shape of two inputs (Merge._compute_elemwise_op_output_shape): the
    shorter is aligned on the right; an axis of 1 takes the other's size, an unknown one stays unknown."""
    if len(first) < len(second):
        first, second = second, first
    if not second:
        return first
    out = list(first[: len(first) - len(second)])
    for a, b in zip(first[len(first) - len(second):], second, strict=True):
        if a is None or b is None:
            out.append(None)
        elif a == 1 or b == 1:
            out.append(b if a == 1 else a)
        elif a != b:
            raise ValueError
        else:
            out.append(a)
    return tuple(out)


def _elementwise(ctx: Ctx, a: dict[str, Any], shape: tuple[Shape | None, ...]) -> tuple[list[Weight], Shape]:
    shapes = _shapes(shape)
    out = shapes[0]
    for s in shapes[1:]:
        try:
            out = broadcast(out, s)
        except ValueError:
            raise LayerProblem(f"{ctx.kind} takes tensors of the same shape (or shapes that broadcast: an axis of "
                               f"1, or a missing leading axis), got {_listing(shapes)}") from None
    return [], out


def _full_axis(axis: int, rank: int, arg: str) -> int:
    """A Keras axis (the batch axis is 0) as a non-negative index into the full shape of `rank` axes."""
    full = axis if axis >= 0 else rank + axis
    if not 0 <= full < rank:
        raise LayerProblem(f"axis {axis} is out of range for inputs of {rank} axes (the batch axis included)", arg)
    return full


def _concatenate(ctx: Ctx, a: dict[str, Any], shape: tuple[Shape | None, ...]) -> tuple[list[Weight], Shape]:
    shapes = _shapes(shape)
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1:
        raise LayerProblem(f"joins tensors of the same rank, got {_listing(shapes)}")
    rank = len(shapes[0]) + 1
    full = _full_axis(a["axis"], rank, "axis")
    if full == 0:  # the batch axis: every other axis must agree, and the output looks like the first
        return [], shapes[0]
    k = full - 1
    for i in range(len(shapes[0])):
        sizes = {s[i] for s in shapes if s[i] is not None}
        if i != k and len(sizes) > 1:
            raise LayerProblem(f"joins along axis {a['axis']}, so every other axis must agree, got "
                               f"{_listing(shapes)} (axis {i + 1} differs)")
    parts = [s[k] for s in shapes]
    joined = None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
    out = list(shapes[0])
    out[k] = joined
    return [], tuple(out)


def _dot_axes(a: dict[str, Any], ranks: tuple[int, int]) -> tuple[int, int]:
    """Dot's two axes as indexes into the full shapes (batch axis 0), refused where Keras fails."""
    axes = a["axes"]
    if isinstance(axes, bool) or not (isinstance(axes, int) or (
            isinstance(axes, list) and len(axes) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                              for x in axes))):
        raise LayerProblem(f"must be an integer axis or a list of two, got {axes!r}", "axes")
    if isinstance(axes, int) and axes < 0:  # Keras takes one negative axis modulo each rank
        full = (axes % ranks[0], axes % ranks[1])
    else:
        pair = (axes, axes) if isinstance(axes, int) else (axes[0], axes[1])
        full = (_full_axis(pair[0], ranks[0], "axes"), _full_axis(pair[1], ranks[1], "axes"))
    if 0 in full:
        raise LayerProblem("the batch axis (0) cannot be summed over", "axes")
    return full


def _dot(ctx: Ctx, a: dict[str, Any], shape: tuple[Shape | None, ...]) -> tuple[list[Weight], Shape]:
    first, second = _shapes(shape)
    f0, f1 = _dot_axes(a, (len(first) + 1, len(second) + 1))
    d0, d1 = first[f0 - 1], second[f1 - 1]
    if d0 != d1:  # Keras compares them as they are: an unknown size does not match a known one
        raise LayerProblem(f"sums over axis {f0} of {shape_str((None, *first))} ({d0}) and axis {f1} of "
                           f"{shape_str((None, *second))} ({d1}), which must be the same size", "axes")
    out = first[: f0 - 1] + first[f0:] + second[: f1 - 1] + second[f1:]
    return [], out or (1,)


KINDS: list[Kind] = [
    *(Kind(name, {}, _elementwise, many=True, inputs=(1, MAX_INPUTS))
      for name in ("Add", "Multiply", "Average", "Maximum", "Minimum")),
    Kind("Subtract", {}, _elementwise, many=True, inputs=(2, 2)),
    Kind("Concatenate", {"axis": Arg("int", -1)}, _concatenate, many=True, inputs=(1, MAX_INPUTS)),
    Kind("Dot", {"axes": Arg("any", REQUIRED), "normalize": Arg("bool", False)}, _dot, many=True, inputs=(2, 2),
         costed=False),
]
