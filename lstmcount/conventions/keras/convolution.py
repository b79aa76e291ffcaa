"""Keras's convolutions: Conv1D/2D/3D, their transposes, separable and depthwise convolutions.

Weights, from Keras's base classes (keras/src/layers/convolutional/base_*.py): a convolution's
kernel is (*kernel_size, in_channels // groups, filters); a transpose's (*kernel_size, filters,
in_channels); a depthwise kernel (*kernel_size, in_channels, depth_multiplier) with a bias of
depth_multiplier × in_channels; a separable convolution has that depthwise kernel, a pointwise
kernel (1, ..., depth_multiplier × in_channels, filters) and a bias of filters.
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import ACTIVATION, FMT, POS, conv_length, ident, idents, join_channels, known_shape, shape_str
from .common import INITIALIZERS as _INITS

_WINDOW = {"kernel_size": Arg("ints", REQUIRED, min=1), "strides": Arg("ints", 1, min=1), "data_format": FMT,
           "dilation_rate": Arg("ints", 1, min=1), "use_bias": Arg("bool", True), "activation": ACTIVATION}
_VALID_SAME = Arg("choice", "valid", choices=("valid", "same"))
_DEPTHWISE = {"depth_multiplier": Arg("int", 1, min=1), "depthwise_initializer": ident(_INITS, "glorot_uniform"),
              **idents("bias_initializer", "depthwise_regularizer", "bias_regularizer", "depthwise_constraint",
                       "bias_constraint")}


def _channels(shape: Shape | None, rank: int, data_format: str | None) -> tuple[Shape, int]:
    """(spatial axes, channels) of a convolution's input, which must have rank + 1 axes and known channels."""
    shape = known_shape(shape, rank + 1, f"an input of rank {rank + 1}")
    first = data_format == "channels_first"
    channels = shape[0] if first else shape[-1]
    if channels is None:
        raise LayerProblem(f"the channels axis of its input {shape_str(shape)} must be known")
    return (shape[1:] if first else shape[:-1]), channels


def _window_out(spatial: Shape, a: dict[str, Any]) -> Shape:
    return tuple(conv_length(n, k, s, a["padding"], d) for n, k, s, d in
                 zip(spatial, a["kernel_size"], a["strides"], a["dilation_rate"], strict=True))


def _no_strided_dilation(a: dict[str, Any]) -> None:
    if max(a["strides"]) > 1 and max(a["dilation_rate"]) > 1:
        raise LayerProblem("strides > 1 cannot be combined with dilation_rate > 1 (Keras refuses it)", "strides")


def _conv(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _channels(shape, rank, a["data_format"])
        groups, filters = a["groups"], a["filters"]
        if channels % groups or filters % groups:
            raise LayerProblem(f"{groups} groups must divide both the {channels} input channels and the "
                               f"{filters} filters", "groups")
        _no_strided_dilation(a)
        weights = [Weight("kernel", (*a["kernel_size"], channels // groups, filters))]
        if a["use_bias"]:
            weights.append(Weight("bias", (filters,)))
        return weights, join_channels(_window_out(spatial, a), filters, a["data_format"])

    return build


def transpose_length(n: int | None, k: int, stride: int, padding: str, output_padding: int | None,
                     dilation: int) -> int | None:
    """Keras's output length of a transposed convolution along one axis (backend_utils'
    `_get_output_shape_given_tf_padding`, its arithmetic as written)."""
    if n is None:
        return None
    span = (k - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return (n - 1) * stride + span + extra
    if output_padding is None:
        return n * stride
    return (n - 1) * stride + span % 2 + output_padding


def _transpose(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _channels(shape, rank, a["data_format"])
        pads = a["output_padding"] or (None,) * rank
        for p, s in zip(pads, a["strides"], strict=True):
            if p is not None and p >= s:
                raise LayerProblem(f"each output_padding must be less than its stride; got {list(pads)} with "
                                   f"strides {list(a['strides'])}", "output_padding")
        _no_strided_dilation(a)
        out = tuple(transpose_length(n, k, s, a["padding"], p, d) for n, k, s, p, d in
                    zip(spatial, a["kernel_size"], a["strides"], pads, a["dilation_rate"], strict=True))
        if any(d is not None and d < 1 for d in out):
            raise LayerProblem(f"its output would be {shape_str(join_channels(out, a['filters'], a['data_format']))}"
                               ", with an empty axis", "kernel_size")
        weights = [Weight("kernel", (*a["kernel_size"], a["filters"], channels))]
        if a["use_bias"]:
            weights.append(Weight("bias", (a["filters"],)))
        return weights, join_channels(out, a["filters"], a["data_format"])

    return build


def _depthwise(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _channels(shape, rank, a["data_format"])
        out_channels = a["depth_multiplier"] * channels
        weights = [Weight("kernel", (*a["kernel_size"], channels, a["depth_multiplier"]))]
        if a["use_bias"]:
            weights.append(Weight("bias", (out_channels,)))
        return weights, join_channels(_window_out(spatial, a), out_channels, a["data_format"])

    return build


def _separable(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _channels(shape, rank, a["data_format"])
        mult, filters = a["depth_multiplier"], a["filters"]
        weights = [Weight("depthwise_kernel", (*a["kernel_size"], channels, mult)),
                   Weight("pointwise_kernel", ((1,) * rank + (mult * channels, filters)))]
        if a["use_bias"]:
            weights.append(Weight("bias", (filters,)))
        return weights, join_channels(_window_out(spatial, a), filters, a["data_format"])

    return build


def _names(base: str) -> tuple[str, ...]:
    """Keras's other name for a class: Convolution2D for Conv2D, SeparableConvolution1D, ..."""
    return (base.replace("Conv", "Convolution", 1),)


def conv_kind(rank: int) -> Kind:
    padding = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    name = f"Conv{rank}D"
    return Kind(name, {"filters": POS, **_WINDOW, "padding": Arg("choice", "valid", choices=padding),
                       "groups": Arg("int", 1, min=1), **idents("kernel_initializer", "bias_initializer",
                                                                "kernel_regularizer", "bias_regularizer",
                                                                "kernel_constraint", "bias_constraint")},
                _conv(rank), rank=rank, also=_names(name))


def transpose_kind(rank: int) -> Kind:
    name = f"Conv{rank}DTranspose"
    return Kind(name, {"filters": POS, **_WINDOW, "padding": _VALID_SAME,
                       "output_padding": Arg("ints", None, min=0, nullable=True),
                       **idents("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                                "kernel_constraint", "bias_constraint")},
                _transpose(rank), rank=rank, also=_names(name))


def separable_kind(rank: int) -> Kind:
    name = f"SeparableConv{rank}D"
    return Kind(name, {"filters": POS, **_WINDOW, "padding": _VALID_SAME, **_DEPTHWISE,
                       "pointwise_initializer": ident(_INITS, "glorot_uniform"),
                       **idents("pointwise_regularizer", "pointwise_constraint")},
                _separable(rank), rank=rank, also=_names(name))


def depthwise_kind(rank: int) -> Kind:
    return Kind(f"DepthwiseConv{rank}D", {**_WINDOW, "padding": _VALID_SAME, **_DEPTHWISE}, _depthwise(rank),
                rank=rank)


KINDS: list[Kind] = [
    *(conv_kind(r) for r in (1, 2, 3)), *(transpose_kind(r) for r in (1, 2, 3)),
    *(separable_kind(r) for r in (1, 2)), *(depthwise_kind(r) for r in (1, 2)),
]
