"""What the Keras layer tables share: identifier names, common arguments, shape helpers.

Shapes here exclude the batch axis.
"""

from __future__ import annotations

from typing import Any

from ...model import Shape
from ..base import REQUIRED, Arg, LayerProblem

ANY = Arg("any", None)
SEED = Arg("int", None, nullable=True)

# The names Keras 3 resolves by name alone (case-sensitive) for each kind of identifier argument; a
# test checks them against keras.{activations,initializers,regularizers,constraints} both ways.
# Left out: Constant (needs a value) and STFT (needs SciPy).
ACTIVATIONS = ("celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu", "hard_swish",
               "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu", "relu6", "selu",
               "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign", "sparse_plus", "sparse_sigmoid",
               "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink", "threshold")
INITIALIZERS = ("GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "Identity",
                "IdentityInitializer", "LecunNormal", "LecunUniform", "Ones", "Orthogonal", "OrthogonalInitializer",
                "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
                "Zeros", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "identity",
                "lecun_normal", "lecun_uniform", "normal", "one", "ones", "orthogonal", "random_normal",
                "random_uniform", "truncated_normal", "uniform", "variance_scaling", "zero", "zeros")
REGULARIZERS = ("L1", "L1L2", "L2", "OrthogonalRegularizer", "l1", "l1l2", "l2", "orthogonal_regularizer")
CONSTRAINTS = ("MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm", "min_max_norm", "non_neg", "unit_norm")


def ident(names: tuple[str, ...], default: str | None = None) -> Arg:
    """An identifier argument: one of `names`, a {class_name, config} mapping, or null."""
    return Arg("ident", default, choices=names, nullable=True)


ACTIVATION = ident(ACTIVATIONS)
INIT, REG, CON = ident(INITIALIZERS), ident(REGULARIZERS), ident(CONSTRAINTS)

COMMON_KERAS = {  # keras.layers.Layer's own arguments, taken by every layer
    "name": Arg("str", None, nullable=True),
    "trainable": Arg("bool", True),
    "dtype": Arg("str", None, nullable=True),
    "autocast": Arg("bool", True),
    "activity_regularizer": REG,
}
POS = Arg("int", REQUIRED, min=1)
RATE = Arg("float", 0.0, min=0.0, max=1.0)
INITS = ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
         "kernel_constraint", "bias_constraint")


def idents(*names: str) -> dict[str, Arg]:
    """Identifier arguments typed by their suffix: *_initializer, *_regularizer, *_constraint."""
    table = {"initializer": INIT, "regularizer": REG, "constraint": CON}
    return {n: table[n.rsplit("_", 1)[1]] for n in names}


def known_shape(shape: Shape | None, rank: int | None, what: str) -> Shape:
    if shape is None:
        raise LayerProblem("its input shape is unknown: the layer before it does not hand on a single tensor")
    if rank is not None and len(shape) != rank:
        raise LayerProblem(f"expects {what} (rank {rank} without the batch axis), got input shape {shape_str(shape)}")
    return shape


def same_shape(ctx: Any, a: dict[str, Any], shape: Shape | None) -> tuple[list[Any], Shape | None]:
    """The build of a layer without weights whose output has its input's shape."""
    return [], known_shape(shape, None, "")


def shape_str(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def last_axis(shape: Shape, who: str) -> int:
    if not shape:
        raise LayerProblem(f"{who} needs an input with at least one axis")
    last = shape[-1]
    if last is None:
        raise LayerProblem(f"the last axis of its input {shape_str(shape)} must be known (not null)")
    return last


def conv_length(n: int | None, k: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Keras's output length of a convolution or pooling window along one axis."""
    if n is None:
        return None
    if padding == "valid":
        span = dilation * (k - 1) + 1
        out = (n - span) // stride + 1
        if out < 1:
            raise LayerProblem(f"a window of {span} with padding 'valid' does not fit an axis of length {n}",
                               "kernel_size")
        return out
    return (n + stride - 1) // stride


def split_channels(shape: Shape, rank: int, data_format: str | None) -> tuple[tuple[int | None, ...], int | None]:
    """(spatial dims, channels) of a per-step input."""
    if data_format == "channels_first":
        return tuple(shape[1:]), shape[0]
    return tuple(shape[:-1]), shape[-1]


def join_channels(spatial: tuple[int | None, ...], channels: int | None, data_format: str | None) -> Shape:
    return (channels, *spatial) if data_format == "channels_first" else (*spatial, channels)


def batchless_axes(axis: Any, shape: Shape, arg: str = "axis") -> list[int]:
    """Keras axes count the batch axis as 0; return indexes into our batch-less shape."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, int):
            raise LayerProblem(f"must be an integer axis or a list of them, got {axis!r}", arg)
        full = ax if ax >= 0 else len(shape) + 1 + ax
        if not 1 <= full <= len(shape):
            raise LayerProblem(f"axis {ax} is out of range for an input of shape {shape_str(shape)}", arg)
        if shape[full - 1] is None:
            raise LayerProblem(f"normalizes over axis {ax}, which is not known in {shape_str(shape)}", arg)
        out.append(full - 1)
    return out


def keras_axes(axis: Any, shape: Shape, arg: str = "axis") -> list[int]:
    """Keras axes of an input with the batch axis (0) included, as layers that may name any axis
    take them (Softmax, UnitNormalization): an int or a list of ints, each in range."""
    axes = list(axis) if isinstance(axis, list) else [axis]
    rank = len(shape) + 1
    out = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, int):
            raise LayerProblem(f"must be an integer axis or a list of them, got {axis!r}", arg)
        if not -rank <= ax < rank:
            raise LayerProblem(f"axis {ax} is out of range for an input of shape {shape_str(shape)} "
                               "(with the batch as axis 0)", arg)
        out.append(ax % rank)
    return out


def axis_sizes(shape: Shape, axes: list[int]) -> tuple[int, ...]:
    """The sizes of the given axes (checked as known by `batchless_axes`)."""
    return tuple(d for d in (shape[i] for i in axes) if d is not None)


FMT = Arg("choice", None, choices=("channels_last", "channels_first"), nullable=True)
CONV_ARGS: dict[str, Arg] = {
    "filters": POS, "kernel_size": Arg("ints", REQUIRED, min=1), "strides": Arg("ints", 1, min=1),
    "padding": Arg("choice", "valid", choices=("valid", "same")), "data_format": FMT,
    "dilation_rate": Arg("ints", 1, min=1), "use_bias": Arg("bool", True),
    **idents(*INITS),
}


NESTED = Arg("layer", REQUIRED)
LORA = {"lora_rank": Arg("int", None, min=1, nullable=True), "lora_alpha": Arg("float", None, nullable=True),
        "quantization_config": ANY}
QUANTIZED = "quantized layers are not modelled by lstmcount yet"
NO_VALUES = "initial weight values cannot be given in a spec (they do not change the count)"
