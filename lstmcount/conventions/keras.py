"""Keras 3 (and tf.keras 2.16+): each layer class's arguments, weights and output shape.

Gate orders, from Keras's own cells: LSTM kernel columns are [i, f, c, o]; GRU columns are
[z, r, h] (update, reset, candidate); with `reset_after` the GRU bias is (2, 3u): row 0 for the
input projection, row 1 for the recurrent one. Shapes here exclude the batch axis.
"""

from __future__ import annotations

import math
from typing import Any

from ..layout import BIAS, GRU_GATES, KERNEL, LSTM_GATES, RECURRENT, RNN_GATES, LayerLayout, Weight
from ..model import Shape
from .base import REQUIRED, Arg, Ctx, Framework, Kind, LayerProblem

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


def _idents(*names: str) -> dict[str, Arg]:
    """Identifier arguments typed by their suffix: *_initializer, *_regularizer, *_constraint."""
    table = {"initializer": INIT, "regularizer": REG, "constraint": CON}
    return {n: table[n.rsplit("_", 1)[1]] for n in names}
RNN_COMMON: dict[str, Arg] = {
    "units": POS,
    "activation": ident(ACTIVATIONS, "tanh"),
    "use_bias": Arg("bool", True),
    **_idents(*INITS, "recurrent_initializer", "recurrent_regularizer", "recurrent_constraint"),
    "dropout": RATE, "recurrent_dropout": RATE, "seed": SEED,
    "return_sequences": Arg("bool", False), "return_state": Arg("bool", False),
    "go_backwards": Arg("bool", False), "stateful": Arg("bool", False), "unroll": Arg("bool", False),
}
GATED = {"recurrent_activation": ident(ACTIVATIONS, "sigmoid"),
         "use_cudnn": Arg("choice", "auto", choices=("auto", True, False))}


def _known(shape: Shape | None, rank: int | None, what: str) -> Shape:
    if shape is None:
        raise LayerProblem("its input shape is unknown: the layer before it does not hand on a single tensor")
    if rank is not None and len(shape) != rank:
        raise LayerProblem(f"expects {what} (rank {rank} without the batch axis), got input shape {_fmt(shape)}")
    return shape


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _last(shape: Shape, who: str) -> int:
    if not shape:
        raise LayerProblem(f"{who} needs an input with at least one axis")
    last = shape[-1]
    if last is None:
        raise LayerProblem(f"the last axis of its input {_fmt(shape)} must be known (not null)")
    return last


def gated_weights(in_dim: int, units: int, gates: tuple[str, ...], use_bias: bool, bias_rows: int = 1,
                  prefix: str = "", direction: str | None = None, spatial: tuple[int, ...] = ()) -> list[Weight]:
    """Keras's kernel / recurrent_kernel / bias triple; `spatial` is a ConvLSTM kernel size."""
    g = len(gates) * units
    axis = len(spatial) + 1
    weights = [  # positional arguments: layouts are built by the hundred thousand in sweeps
        Weight(prefix + "kernel", (*spatial, in_dim, g), KERNEL, axis, gates, True, direction),
        Weight(prefix + "recurrent_kernel", (*spatial, units, g), RECURRENT, axis, gates, True, direction),
    ]
    if use_bias:
        if bias_rows > 1:
            weights.append(Weight(prefix + "bias", (bias_rows, g), BIAS, 1, gates, True, direction, None, None, (),
                                  _SPLIT))
        else:
            weights.append(Weight(prefix + "bias", (g,), BIAS, 0, gates, True, direction, None, None, (), _FOLDED))
    return weights


_SPLIT, _FOLDED = ("input", "recurrent"), ("input+recurrent",)


def _rnn(gates: tuple[str, ...]) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        if shape is None or len(shape) != 2:
            _known(shape, 2, "a sequence (timesteps, features)")  # raises, saying why
        steps, features = shape  # type: ignore[misc]
        if features is None:
            raise LayerProblem(f"the features axis of its input {_fmt((steps, features))} must be known")
        rows = 2 if a.get("reset_after") else 1
        weights = gated_weights(features, a["units"], gates, a["use_bias"], rows)
        out = (steps, a["units"]) if a["return_sequences"] else (a["units"],)
        return weights, out

    return build


def _bidirectional(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    return mirror(ctx.nested("layer", shape), a)


def mirror(inner: LayerLayout, a: dict[str, Any]) -> tuple[list[Weight], Shape | None]:
    """Bidirectional: the wrapped layer twice (forward_<name>/, backward_<name>/), outputs merged."""
    if not inner.recurrent:
        raise LayerProblem(f"wraps a recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM*), got {inner.type}", "layer")
    # Keras names the copies "forward_" + name without a leading "forward_", and "backward_" + name
    # without a leading "backward_" (so a saved forward_lstm has a backward_forward_lstm twin)
    weights = [w._replace(name=f"{d}_{inner.name.removeprefix(d + '_')}/{w.name}", direction=d)
               for d in ("forward", "backward") for w in inner.weights]
    out = inner.output_shape
    mode = a["merge_mode"]
    if mode is None or out is None:
        return weights, None  # two tensors: nothing after it can take them as one input
    if mode == "concat":
        last = out[-1]
        out = (*out[:-1], None if last is None else 2 * last)
    return weights, out


def _time_distributed(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
    if len(shape) < 2:
        raise LayerProblem(f"needs an input of rank 2 or more (timesteps, ...), got {_fmt(shape)}")
    inner = ctx.nested("layer", shape[1:])
    weights = [w._replace(name=f"{inner.name}/{w.name}") for w in inner.weights]
    out = None if inner.output_shape is None else (shape[0], *inner.output_shape)
    return weights, out


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


def _split(shape: Shape, rank: int, data_format: str | None) -> tuple[tuple[int | None, ...], int | None]:
    """(spatial dims, channels) of a per-step input."""
    if data_format == "channels_first":
        return tuple(shape[1:]), shape[0]
    return tuple(shape[:-1]), shape[-1]


def _join(spatial: tuple[int | None, ...], channels: int | None, data_format: str | None) -> Shape:
    return (channels, *spatial) if data_format == "channels_first" else (*spatial, channels)


def _conv(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = _known(shape, rank + 1, f"an input of rank {rank + 1}")
        spatial, channels = _split(shape, rank, a["data_format"])
        if channels is None:
            raise LayerProblem(f"the channels axis of its input {_fmt(shape)} must be known")
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
        return weights, _join(out, filters, a["data_format"])

    return build


def _conv_lstm(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = _known(shape, rank + 2, f"a sequence of rank-{rank + 1} frames (timesteps, ...)")
        spatial, channels = _split(shape[1:], rank, a["data_format"])
        if channels is None:
            raise LayerProblem(f"the channels axis of its input {_fmt(shape)} must be known")
        if max(a["strides"]) > 1 and max(a["dilation_rate"]) > 1:
            raise LayerProblem("strides > 1 cannot be combined with dilation_rate > 1", "strides")
        out = tuple(conv_length(n, k, s, a["padding"], d) for n, k, s, d in
                    zip(spatial, a["kernel_size"], a["strides"], a["dilation_rate"], strict=True))
        weights = gated_weights(channels, a["filters"], LSTM_GATES, a["use_bias"], spatial=a["kernel_size"])
        frame = _join(out, a["filters"], a["data_format"])
        return weights, (shape[0], *frame) if a["return_sequences"] else frame

    return build


def _pool(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = _known(shape, rank + 1, f"an input of rank {rank + 1}")
        spatial, channels = _split(shape, rank, a["data_format"])
        strides = a["strides"] if a["strides"] is not None else a["pool_size"]
        try:
            out = tuple(conv_length(n, k, s, a["padding"])
                        for n, k, s in zip(spatial, a["pool_size"], strides, strict=True))
        except LayerProblem as exc:
            raise LayerProblem(exc.text, "pool_size") from None
        return [], _join(out, channels, a["data_format"])

    return build


def _global_pool(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, 2, "a sequence (timesteps, features)")
    first = a["data_format"] == "channels_first"
    channels = shape[0] if first else shape[1]
    if a["keepdims"]:
        return [], (channels, 1) if first else (1, channels)
    return [], (channels,)


def _dense(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
    last = _last(shape, "Dense")
    weights = [Weight("kernel", (last, a["units"]))]
    if a["use_bias"]:
        weights.append(Weight("bias", (a["units"],)))
    return weights, (*shape[:-1], a["units"])


def _embedding(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
    return [Weight("embeddings", (a["input_dim"], a["output_dim"]))], (*shape, a["output_dim"])


def _identity(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    return [], _known(shape, None, "")


def _flatten(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
    size = None if any(d is None for d in shape) else math.prod(d for d in shape if d is not None)
    return [], (size,)


def _reshape(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
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
        raise LayerProblem(f"its input {_fmt(shape)} holds {size} values, {list(target)} holds {known}",
                           "target_shape")
    return [], tuple(target)


def _repeat(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, 1, "a flat vector (features,)")
    return [], (a["n"], shape[0])


def _axes(axis: Any, shape: Shape, arg: str = "axis") -> list[int]:
    """Keras axes count the batch axis as 0; return indexes into our batch-less shape."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, int):
            raise LayerProblem(f"must be an integer axis or a list of them, got {axis!r}", arg)
        full = ax if ax >= 0 else len(shape) + 1 + ax
        if not 1 <= full <= len(shape):
            raise LayerProblem(f"axis {ax} is out of range for an input of shape {_fmt(shape)}", arg)
        if shape[full - 1] is None:
            raise LayerProblem(f"normalizes over axis {ax}, which is not known in {_fmt(shape)}", arg)
        out.append(full - 1)
    return out


def _sizes(shape: Shape, axes: list[int]) -> tuple[int, ...]:
    """The sizes of the given axes (checked as known by `_axes`)."""
    return tuple(d for d in (shape[i] for i in axes) if d is not None)


def _batch_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
    if isinstance(a["axis"], (list, tuple)):
        raise LayerProblem(f"must be one integer axis, got {a['axis']!r}", "axis")
    dims = _sizes(shape, [_axes(a["axis"], shape)[0]])
    weights = []
    if a["scale"]:
        weights.append(Weight("gamma", dims))
    if a["center"]:
        weights.append(Weight("beta", dims))
    weights += [Weight("moving_mean", dims, trainable=False), Weight("moving_variance", dims, trainable=False)]
    return weights, shape


def _layer_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = _known(shape, None, "")
    dims = _sizes(shape, _axes(a["axis"], shape))
    weights = []
    if a["scale"] or a["rms_scaling"]:  # the deprecated rms_scaling keeps gamma and drops beta
        weights.append(Weight("gamma", dims))
    if a["center"] and not a["rms_scaling"]:
        weights.append(Weight("beta", dims))
    return weights, shape


FMT = Arg("choice", None, choices=("channels_last", "channels_first"), nullable=True)
CONV_ARGS: dict[str, Arg] = {
    "filters": POS, "kernel_size": Arg("ints", REQUIRED, min=1), "strides": Arg("ints", 1, min=1),
    "padding": Arg("choice", "valid", choices=("valid", "same")), "data_format": FMT,
    "dilation_rate": Arg("ints", 1, min=1), "use_bias": Arg("bool", True),
    **_idents(*INITS),
}


def _conv_kind(name: str, rank: int) -> Kind:
    padding = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
    return Kind(name, {**CONV_ARGS, "padding": Arg("choice", "valid", choices=padding),
                       "groups": Arg("int", 1, min=1), "activation": ACTIVATION}, _conv(rank), rank=rank)


def _conv_lstm_kind(name: str, rank: int) -> Kind:
    args = {**CONV_ARGS, **{k: v for k, v in RNN_COMMON.items() if k not in ("units", "unroll")},
            **GATED, "unit_forget_bias": Arg("bool", True)}
    del args["use_cudnn"]
    return Kind(name, args, _conv_lstm(rank), recurrent=True, rank=rank,
                kwargs={"unroll": Arg("bool", False)})  # in ConvLSTM configs, though not in the signature


def _pool_kind(name: str, rank: int, default: Any) -> Kind:
    return Kind(name, {"pool_size": Arg("ints", default, min=1), "strides": Arg("ints", None, min=1, nullable=True),
                       "padding": Arg("choice", "valid", choices=("valid", "same")), "data_format": FMT},
                _pool(rank), rank=rank)


NESTED = Arg("layer", REQUIRED)
GLOBAL_POOL = {"data_format": FMT, "keepdims": Arg("bool", False)}
LORA = {"lora_rank": Arg("int", None, min=1, nullable=True), "lora_alpha": Arg("float", None, nullable=True),
        "quantization_config": ANY}
QUANTIZED = "quantized layers are not modelled by lstmcount yet"
NO_VALUES = "initial weight values cannot be given in a spec (they do not change the count)"

KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("LSTM", {**RNN_COMMON, **GATED, "unit_forget_bias": Arg("bool", True)}, _rnn(LSTM_GATES), recurrent=True),
    Kind("GRU", {**RNN_COMMON, **GATED, "reset_after": Arg("bool", True)}, _rnn(GRU_GATES), recurrent=True,
         variant=lambda a: "reset_after" if a["reset_after"] else "reset_before"),
    Kind("SimpleRNN", RNN_COMMON, _rnn(RNN_GATES), recurrent=True),
    Kind("Bidirectional", {"layer": NESTED, "weights": ANY, "backward_layer": ANY,
                           "merge_mode": Arg("choice", "concat", choices=("concat", "sum", "mul", "ave"),
                                             nullable=True)},
         _bidirectional, recurrent=True, wrap=mirror,
         reject={"backward_layer": "a separate backward layer is not modelled by lstmcount yet; "
                                   "remove it to count the mirrored forward layer", "weights": NO_VALUES}),
    _conv_lstm_kind("ConvLSTM1D", 1), _conv_lstm_kind("ConvLSTM2D", 2), _conv_lstm_kind("ConvLSTM3D", 3),
    Kind("Dense", {"units": POS, "activation": ACTIVATION, "use_bias": Arg("bool", True), **_idents(*INITS),
                   **LORA}, _dense, reject={"quantization_config": QUANTIZED}),
    Kind("TimeDistributed", {"layer": NESTED}, _time_distributed),
    Kind("Embedding", {"input_dim": POS, "output_dim": POS,
                       **_idents("embeddings_initializer", "embeddings_regularizer", "embeddings_constraint"),
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
                                **_idents("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                          "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                                          "beta_constraint", "gamma_constraint"),
                                "renorm": Arg("bool", False),
                                "renorm_clipping": Arg("mapping", None, nullable=True),
                                "renorm_momentum": Arg("float", 0.99), "synchronized": Arg("bool", False)},
         _batch_norm, reject={"renorm": "batch renormalization's extra statistics are not modelled by "
                                        "lstmcount yet"}),
    Kind("LayerNormalization", {"axis": Arg("any", -1), "epsilon": Arg("float", 1e-3),
                                "center": Arg("bool", True), "scale": Arg("bool", True),
                                **_idents("beta_initializer", "gamma_initializer", "beta_regularizer",
                                          "gamma_regularizer", "beta_constraint", "gamma_constraint")},
         _layer_norm, kwargs={"rms_scaling": Arg("bool", False)}),
]}

KERAS = Framework("keras", KINDS, COMMON_KERAS, aliases=("tf.keras.layers.", "keras.layers.", "layers."))
