"""Keras's activation layers: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax.

Only PReLU has weights: one `alpha` per input position, shared (size 1) along its `shared_axes`
(keras/src/layers/activations/prelu.py). The others keep their input's shape.
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import ACTIVATIONS, ident, idents, keras_axes, known_shape, same_shape, shape_str
from .common import INITIALIZERS as _INITS


def _softmax(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    keras_axes(a["axis"], shape)  # any axis of the input, the batch axis (0) too
    return [], shape


def _prelu(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    shared = a["shared_axes"]
    axes = [] if shared is None else shared if isinstance(shared, list) else [shared]
    alpha: list[int | None] = list(shape)
    for axis in axes:
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise LayerProblem(f"must be an axis or a list of axes (1 is the first after the batch), got "
                               f"{shared!r}", "shared_axes")
        # Keras sets alpha_shape[axis - 1] = 1 with Python's indexing (so 0 and negative axes count from the end)
        if not -len(shape) <= axis - 1 < len(shape):
            raise LayerProblem(f"axis {axis} is out of range for an input of shape {shape_str(shape)}", "shared_axes")
        alpha[axis - 1] = 1
    if None in alpha:
        raise LayerProblem(f"PReLU keeps one alpha per input position, and its input {shape_str(shape)} has an "
                           "axis of unknown size that is not in shared_axes", "shared_axes")
    return [Weight("alpha", tuple(d for d in alpha if d is not None))], shape


KINDS: list[Kind] = [
    Kind("Activation", {"activation": Arg("ident", REQUIRED, choices=ACTIVATIONS)}, same_shape),
    Kind("ReLU", {"max_value": Arg("float", None, min=0.0, nullable=True), "negative_slope": Arg("float", 0.0, min=0.0),
                  "threshold": Arg("float", 0.0, min=0.0)}, same_shape),
    Kind("LeakyReLU", {"negative_slope": Arg("float", 0.3, min=0.0)}, same_shape,
         kwargs={"alpha": Arg("float", None, min=0.0, nullable=True)},
         warn={"alpha": "Argument `alpha` is deprecated. Use `negative_slope` instead."}),
    Kind("PReLU", {"alpha_initializer": ident(_INITS, "Zeros"), **idents("alpha_regularizer", "alpha_constraint"),
                   "shared_axes": Arg("any", None)}, _prelu),
    Kind("ELU", {"alpha": Arg("float", 1.0)}, same_shape),
    Kind("Softmax", {"axis": Arg("any", -1)}, _softmax),
]
