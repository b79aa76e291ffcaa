"""Keras's other layers: dense, embedding, convolution, pooling, normalization, reshaping, wrappers."""

from __future__ import annotations

import math
from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import (
    ACTIVATION,
    ACTIVATIONS,
    ANY,
    CONV_ARGS,
    FMT,
    GLOBAL_POOL,
    INITS,
    LORA,
    NESTED,
    NO_VALUES,
    POS,
    QUANTIZED,
    SEED,
    axis_sizes,
    batchless_axes,
    conv_length,
    idents,
    join_channels,
    known_shape,
    last_axis,
    shape_str,
    split_channels,
)


def _time_distributed(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    if len(shape) < 2:
        raise LayerProblem(f"needs an input of rank 2 or more (timesteps, ...), got {shape_str(shape)}")
    inner = ctx.nested("layer", shape[1:])
    weights = [w._replace(name=f"{inner.name}/{w.name}") for w in inner.weights]
    out = None if inner.output_shape is None else (shape[0], *inner.output_shape)
    return weights, out


def _conv(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = known_shape(shape, rank + 1, f"an input of rank {rank + 1}")
        spatial, channels = split_channels(shape, rank, a["data_format"])
        if channels is None:
            raise LayerProblem(f"the channels axis of its input {shape_str(shape)} must be known")
        groups, filters = a["groups"], a["filters"]
        if channels % groups or filters % groups:
            raise LayerProblem(f"{groups} groups must divide both the {channels} input channels and the "
                               f"{filters} filters", "groups")
        if a["padding"] == "causal" and rank != 1:
            raise LayerProblem("'causal' padding is only for Conv1D", "padding")
        out = tuple(conv_length(n, k, s, a["padding"], d) for n, k, s, d in
                    zip(spatial, a["kernel_size"], a["strides"], a["dilation_rate"], strict=True))
        weights = [Weight("kernel", (*a["kernel_size"], channels // groups, filters))]
        if a["use_bias"]:
            weights.append(Weight("bias", (filters,)))
        return weights, join_channels(out, filters, a["data_format"])

    return build


def _pool(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = known_shape(shape, rank + 1, f"an input of rank {rank + 1}")
        spatial, channels = split_channels(shape, rank, a["data_format"])
        strides = a["strides"] if a["strides"] is not None else a["pool_size"]
        try:
            out = tuple(conv_length(n, k, s, a["padding"])
                        for n, k, s in zip(spatial, a["pool_size"], strides, strict=True))
        except LayerProblem as exc:
            raise LayerProblem(exc.text, "pool_size") from None
        return [], join_channels(out, channels, a["data_format"])

    return build


def _global_pool(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, 2, "a sequence (timesteps, features)")
    first = a["data_format"] == "channels_first"
    channels = shape[0] if first else shape[1]
    if a["keepdims"]:
        return [], (channels, 1) if first else (1, channels)
    return [], (channels,)


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


def _identity(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    return [], known_shape(shape, None, "")


def _flatten(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    size = None if any(d is None for d in shape) else math.prod(d for d in shape if d is not None)
    return [], (size,)


def _reshape(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    target = a["target_shape"]
    size = None if any(d is None for d in shape) else math.prod(d for d in shape if d is not None)
    known = math.prod(d for d in target if d != -1)
    if size is None:
        return [], tuple(None if d == -1 else d for d in target)
    if -1 in target:
        if size % known:
            raise LayerProblem(f"cannot reshape {size} values into {list(target)}", "target_shape")
        return [], tuple(size // known if d == -1 else d for d in target)
    if known != size:
        raise LayerProblem(f"its input {shape_str(shape)} holds {size} values, {list(target)} holds {known}",
                           "target_shape")
    return [], tuple(target)


def _repeat(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, 1, "a flat vector (features,)")
    return [], (a["n"], shape[0])


def _batch_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    if isinstance(a["axis"], (list, tuple)):
        raise LayerProblem(f"must be one integer axis, got {a['axis']!r}", "axis")
    dims = axis_sizes(shape, [batchless_axes(a["axis"], shape)[0]])
    weights = []
    if a["scale"]:
        weights.append(Weight("gamma", dims))
    if a["center"]:
        weights.append(Weight("beta", dims))
    weights += [Weight("moving_mean", dims, trainable=False), Weight("moving_variance", dims, trainable=False)]
    return weights, shape


def _layer_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    dims = axis_sizes(shape, batchless_axes(a["axis"], shape))
    weights = []
    if a["scale"] or a["rms_scaling"]:  # the deprecated rms_scaling keeps gamma and drops beta
        weights.append(Weight("gamma", dims))
    if a["center"] and not a["rms_scaling"]:
        weights.append(Weight("beta", dims))
    return weights, shape


def _conv_kind(name: str, rank: int) -> Kind:
    padding = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    return Kind(name, {**CONV_ARGS, "padding": Arg("choice", "valid", choices=padding),
                       "groups": Arg("int", 1, min=1), "activation": ACTIVATION}, _conv(rank), rank=rank)


def _pool_kind(name: str, rank: int, default: Any) -> Kind:
    return Kind(name, {"pool_size": Arg("ints", default, min=1), "strides": Arg("ints", None, min=1, nullable=True),
                       "padding": Arg("choice", "valid", choices=("valid", "same")), "data_format": FMT},
                _pool(rank), rank=rank)


KINDS: list[Kind] = [
    Kind("Dense", {"units": POS, "activation": ACTIVATION, "use_bias": Arg("bool", True), **idents(*INITS),
                   **LORA}, _dense, reject={"quantization_config": QUANTIZED}),
    Kind("TimeDistributed", {"layer": NESTED}, _time_distributed),
    Kind("Embedding", {"input_dim": POS, "output_dim": POS,
                       **idents("embeddings_initializer", "embeddings_regularizer", "embeddings_constraint"),
                       "mask_zero": Arg("bool", False), "weights": ANY, **LORA}, _embedding,
         reject={"weights": NO_VALUES, "quantization_config": QUANTIZED}),
    Kind("Masking", {"mask_value": Arg("float", 0.0)}, _identity),
    Kind("Dropout", {"rate": Arg("float", REQUIRED, min=0.0, max=1.0),
                     "noise_shape": Arg("dims", None, nullable=True), "seed": SEED}, _identity),
    Kind("Activation", {"activation": Arg("ident", REQUIRED, choices=ACTIVATIONS)}, _identity),
    Kind("Flatten", {"data_format": FMT}, _flatten),
    Kind("Reshape", {"target_shape": Arg("shape", REQUIRED)}, _reshape),
    Kind("RepeatVector", {"n": POS}, _repeat),
    _conv_kind("Conv1D", 1), _conv_kind("Conv2D", 2),
    _pool_kind("MaxPooling1D", 1, 2), _pool_kind("MaxPooling2D", 2, 2),
    _pool_kind("AveragePooling1D", 1, REQUIRED), _pool_kind("AveragePooling2D", 2, REQUIRED),
    Kind("GlobalAveragePooling1D", GLOBAL_POOL, _global_pool),
    Kind("GlobalMaxPooling1D", GLOBAL_POOL, _global_pool),
    Kind("BatchNormalization", {"axis": Arg("any", -1), "momentum": Arg("float", 0.99), "epsilon": Arg("float", 1e-3),
                                "center": Arg("bool", True), "scale": Arg("bool", True),
                                **idents("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                          "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                                          "beta_constraint", "gamma_constraint"),
                                "renorm": Arg("bool", False),
                                "renorm_clipping": Arg("mapping", None, nullable=True),
                                "renorm_momentum": Arg("float", 0.99), "synchronized": Arg("bool", False)},
         _batch_norm, reject={"renorm": "batch renormalization's extra statistics are not modelled by "
                                        "lstmcount yet"}),
    Kind("LayerNormalization", {"axis": Arg("any", -1), "epsilon": Arg("float", 1e-3),
                                "center": Arg("bool", True), "scale": Arg("bool", True),
                                **idents("beta_initializer", "gamma_initializer", "beta_regularizer",
                                          "gamma_regularizer", "beta_constraint", "gamma_constraint")},
         _layer_norm, kwargs={"rms_scaling": Arg("bool", False)}),
]
