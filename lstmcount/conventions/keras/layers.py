"""Keras's core layers: Dense, Embedding, Masking, Lambda, and the TimeDistributed wrapper."""

from __future__ import annotations

from typing import Any

from ...errors import show
from ...layout import Outputs, Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import (
    ACTIVATION,
    ANY,
    INITS,
    LORA,
    NESTED,
    NO_VALUES,
    POS,
    QUANTIZED,
    idents,
    known_shape,
    last_axis,
    same_shape,
    shape_str,
)


def _time_distributed(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    if len(shape) < 2:
        raise LayerProblem(f"needs an input of rank 2 or more (timesteps, ...), got {shape_str(shape)}")
    inner = ctx.nested("layer", shape[1:])
    if inner.outputs:  # Keras's compute_output_shape takes the wrapped layer's output as one shape
        raise LayerProblem(f"wraps a layer with one output; {inner.type} {inner.name!r} gives "
                           f"{len(inner.outputs)} here", "layer")
    weights = [w._replace(name=f"{inner.name}/{w.name}") for w in inner.weights]
    out = None if inner.output_shape is None else (shape[0], *inner.output_shape)
    return weights, out


def _dense(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    last = last_axis(shape, "Dense")
    weights = [Weight("kernel", (last, a["units"]))]
    if a["use_bias"]:
        weights.append(Weight("bias", (a["units"],)))
    return weights, (*shape[:-1], a["units"])


def _embedding(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    return [Weight("embeddings", (a["input_dim"], a["output_dim"]))], (*shape, a["output_dim"])


def _shape_list(value: Any) -> bool:
    return isinstance(value, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                                           for d in value)


def _lambda(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None | Outputs]:
    """No weights; the output shape is its `output_shape` (per sample), since lstmcount never runs code."""
    known_shape(shape, None, "")
    out = a["output_shape"]
    if out is None:
        raise LayerProblem("a Lambda's output shape comes from running its function, which lstmcount never "
                           "does: give output_shape, one sample's shape without the batch axis (e.g. [10, 4])")
    if _shape_list(out):
        return [], tuple(out)
    if isinstance(out, list) and out and all(_shape_list(s) for s in out):  # several outputs
        return [], Outputs(tuple(tuple(s) for s in out), None)
    what = "a function" if isinstance(out, dict) else show(out)
    raise LayerProblem(f"must be one sample's shape (a list of sizes or nulls, e.g. [10, 4]) or a list of them, "
                       f"got {what}: lstmcount never runs code", "output_shape")


KINDS: list[Kind] = [
    Kind("Dense", {"units": POS, "activation": ACTIVATION, "use_bias": Arg("bool", True), **idents(*INITS),
                   **LORA}, _dense, reject={"quantization_config": QUANTIZED}),
    Kind("TimeDistributed", {"layer": NESTED}, _time_distributed),
    Kind("Embedding", {"input_dim": POS, "output_dim": POS,
                       **idents("embeddings_initializer", "embeddings_regularizer", "embeddings_constraint"),
                       "mask_zero": Arg("bool", False), "weights": ANY, **LORA}, _embedding,
         reject={"weights": NO_VALUES, "quantization_config": QUANTIZED},
         kwargs={"input_length": Arg("int", None, min=1, nullable=True)},
         warn={"input_length": "Argument `input_length` is deprecated. Just remove it."}),
    Kind("Masking", {"mask_value": Arg("float", 0.0)}, same_shape),
    Kind("Lambda", {"function": Arg("any", REQUIRED), "output_shape": ANY, "mask": ANY, "arguments": ANY},
         _lambda),
]
