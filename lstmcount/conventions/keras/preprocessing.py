"""Keras's preprocessing layers that models carry: Rescaling and Normalization.

Normalization (keras/src/layers/preprocessing/normalization.py) keeps, unless it is given `mean`
and `variance`, three non-trainable weights that `adapt()` fills: `mean` and `variance`, one per
position of its kept axes, and a scalar `count`. Given the values, it keeps them as constants:
no weights at all.
"""

from __future__ import annotations

from typing import Any

from ...errors import show
from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import known_shape, shape_str


def _values_shape(value: Any, arg: str) -> tuple[int, ...]:
    """The shape of a number or a nested list of numbers (as NumPy reads it), or LayerProblem."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ()
    if isinstance(value, list) and value:
        inner = {_values_shape(v, arg) for v in value}
        if len(inner) == 1:
            return (len(value), *inner.pop())
    raise LayerProblem(f"must be a number or a (nested) list of numbers with equal lengths, got {show(value)}", arg)


def _rescaling(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    _values_shape(a["scale"], "scale")
    _values_shape(a["offset"], "offset")
    return [], known_shape(shape, None, "")


def _normalization(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    full = (None, *shape)  # Keras's axes count the batch as 0
    axis = a["axis"]
    axes = [] if axis is None else axis if isinstance(axis, list) else [axis]
    keep: list[int] = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, int):
            raise LayerProblem(f"must be an axis, a list of axes or null, got {show(axis)}", "axis")
        if not -len(full) <= ax < len(full):
            raise LayerProblem(f"axis {ax} is out of range for an input of shape {shape_str(shape)}", "axis")
        d = ax % len(full)
        if d in keep:
            raise LayerProblem(f"names axis {d} twice", "axis")
        if full[d] is None:
            raise LayerProblem(f"keeps axis {ax}, whose size is not known" + (" (the batch)" if d == 0 else ""), "axis")
        keep.append(d)
    keep.sort()
    sizes = tuple(n for n in (full[d] for d in keep) if n is not None)  # all known, as checked above
    if (a["mean"] is None) != (a["variance"] is None):
        raise LayerProblem("takes both mean and variance, or neither", "mean" if a["mean"] is None else "variance")
    if a["mean"] is None:
        return [Weight("mean", sizes, trainable=False), Weight("variance", sizes, trainable=False),
                Weight("count", (), trainable=False)], shape
    mean, variance = _values_shape(a["mean"], "mean"), _values_shape(a["variance"], "variance")
    if mean != variance:
        raise LayerProblem(f"mean has shape {list(mean)} and variance {list(variance)}: they must match", "variance")
    if len(mean) > len(keep):
        raise LayerProblem(f"mean has {len(mean)} axes, more than the {len(keep)} axes it keeps", "mean")
    for size, want in zip(reversed(mean), reversed(sizes), strict=False):  # broadcast onto the kept axes
        if size not in (1, want):
            raise LayerProblem(f"mean of shape {list(mean)} does not broadcast to the kept axes' sizes "
                               f"{list(sizes)}", "mean")
    return [], shape


KINDS: list[Kind] = [
    Kind("Rescaling", {"scale": Arg("any", REQUIRED), "offset": Arg("any", 0.0)}, _rescaling),
    Kind("Normalization", {"axis": Arg("any", -1), "mean": Arg("any", None), "variance": Arg("any", None),
                           "invert": Arg("bool", False)}, _normalization),
]
