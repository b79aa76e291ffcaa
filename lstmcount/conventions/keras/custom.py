"""A layer lstmcount has no table for, declared in a spec: `type: custom`, its Keras `class_name`, its
`weights` (name: shape, or name: {shape, trainable}) and its `output_shape` (without the batch axis;
by default the shape of its input). It then counts and flows like any other layer; it is shown as
`name (ClassName)` and its weights are counted as declared, never guessed.

A model file's custom layer is read as one (inputs/keras.py): its weights the ones the file stores,
`stored_in` saying where; its output shape, where no later layer's build shape says it, is unknown
(not its input's).
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import MAX_RANK, MAX_SIZE, Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import known_shape

MAX_WEIGHTS = 1_000


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_RANK or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_SIZE for d in value):
        raise LayerProblem(f"{where} must be a list of at most {MAX_RANK} positive sizes such as [128, 64] "
                           f"([] for a scalar), got {value!r:.80}", "weights")
    return tuple(value)


def _weights(declared: dict[str, Any]) -> list[Weight]:
    if len(declared) > MAX_WEIGHTS:
        raise LayerProblem(f"declares {len(declared):,} weights; at most {MAX_WEIGHTS:,}", "weights")
    out = []
    for name, value in declared.items():
        if not isinstance(name, str) or not name:
            raise LayerProblem(f"weight names must be strings, got {name!r:.40}", "weights")
        trainable = True
        if isinstance(value, dict):
            extra = set(value) - {"shape", "trainable"}
            if extra or "shape" not in value:
                raise LayerProblem(f"weight {name!r} takes shape and trainable, got {sorted(map(str, value))}",
                                   "weights")
            trainable = value.get("trainable", True)
            if not isinstance(trainable, bool):
                raise LayerProblem(f"weight {name!r}: trainable must be true or false", "weights")
            value = value["shape"]
        out.append(Weight(name, _shape(value, f"weight {name!r}'s shape"), trainable=trainable))
    return out


def _custom(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    weights = _weights(a["weights"] or {})
    out = a["output_shape"]
    if out is None and a["stored_in"] is not None:
        return weights, None
    return weights, tuple(out) if out is not None else known_shape(shape, None, "")


KINDS: list[Kind] = [
    Kind("custom", {"class_name": Arg("str", REQUIRED), "weights": Arg("mapping", None, nullable=True),
                    "output_shape": Arg("dims", None, nullable=True)}, _custom, label=lambda a: a["class_name"],
         kwargs={"stored_in": Arg("str", None, nullable=True)}),
]
