"""What older Keras code writes: Keras 1's argument names, and Keras 2's input arguments on a layer.

- Keras 1 names (`dropout_U`, `W_regularizer`, `border_mode`, `nb_filter`, `output_dim` on a
  recurrent layer, ...) stay errors, as Keras 2 and 3 refuse them, but each message names the
  argument it became (Keras 2's own conversion tables, keras/legacy/interfaces.py). A misspelt
  argument's "did you mean" must never point at a different concept (`dropout_U` is not `dropout`).
- Keras 2 gave a model its input through the first layer's arguments: `input_shape`, `input_dim`,
  `batch_input_shape` (with `batch_size`), a recurrent layer's `input_dim` and `input_length`, an
  Embedding's `input_length` (or, with nothing given, sequences of any length). `first_input`
  reads them as Keras 2 does; Keras 3 still takes `input_shape` and `input_dim` on a layer (with a
  warning, see KERAS's `warn`), the others it refuses, so they are taken out of the layer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import note, problem, show
from ...model import MAX_RANK, MAX_SIZE, LayerSpec, Shape
from ..base import Framework
from .common import shape_str

# Keras 3's own warning for a layer given input_shape or input_dim (keras/src/layers/layer.py).
INPUT_WARNING = ("Do not pass an `input_shape`/`input_dim` argument to a layer. When using Sequential models, "
                 "prefer using an `Input(shape)` object as the first layer in the model instead.")

RECURRENT = ("LSTM", "GRU", "SimpleRNN")  # the layers Keras 2's RNN base class read input_dim/input_length for

# --- Keras 1 names, family by family: old -> today's argument (Keras 2's conversions) ------------

_INITS = {"init": "kernel_initializer", "W_regularizer": "kernel_regularizer", "b_regularizer": "bias_regularizer",
          "W_constraint": "kernel_constraint", "b_constraint": "bias_constraint", "bias": "use_bias"}
_RECURRENT = {"output_dim": "units", "init": "kernel_initializer", "inner_init": "recurrent_initializer",
              "W_regularizer": "kernel_regularizer", "U_regularizer": "recurrent_regularizer",
              "b_regularizer": "bias_regularizer", "dropout_W": "dropout", "dropout_U": "recurrent_dropout"}
_GATED = {**_RECURRENT, "inner_activation": "recurrent_activation", "consume_less": "implementation"}
_FORMAT = {"dim_ordering": "data_format"}
_CONV = {"nb_filter": "filters", "subsample": "strides", "border_mode": "padding", "atrous_rate": "dilation_rate",
         **_FORMAT, **_INITS}
_CONV1 = {**_CONV, "filter_length": "kernel_size", "subsample_length": "strides"}
_POOL1 = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}
_POOL = {"border_mode": "padding", **_FORMAT}
_DROP = {"p": "rate"}

RENAMED_1: dict[str, dict[str, str]] = {
    "LSTM": _GATED, "GRU": _GATED, "SimpleRNN": _RECURRENT,
    **{f"ConvLSTM{r}D": {**{k: v for k, v in _GATED.items() if k not in ("output_dim", "consume_less")}, **_CONV}
       for r in (1, 2, 3)},
    "Dense": {"output_dim": "units", **_INITS},
    "Embedding": {"init": "embeddings_initializer", "W_regularizer": "embeddings_regularizer",
                  "W_constraint": "embeddings_constraint"},
    "Conv1D": _CONV1, "Conv2D": _CONV, "Conv3D": _CONV, "Conv2DTranspose": _CONV, "Conv3DTranspose": _CONV,
    "SeparableConv1D": {k: v for k, v in _CONV1.items() if k not in ("init", "W_regularizer", "W_constraint")},
    "SeparableConv2D": {k: v for k, v in _CONV.items() if k not in ("init", "W_regularizer", "W_constraint")},
    "DepthwiseConv2D": {k: v for k, v in _CONV.items() if k not in ("nb_filter", "init", "W_regularizer",
                                                                      "W_constraint")},
    "MaxPooling1D": _POOL1, "AveragePooling1D": _POOL1,
    **{f"{p}Pooling{r}D": _POOL for p in ("Max", "Average") for r in (2, 3)},
    **{f"Global{p}Pooling{r}D": _FORMAT for p in ("Max", "Average") for r in (1, 2, 3)},
    "UpSampling1D": {"length": "size"}, "UpSampling2D": _FORMAT, "UpSampling3D": _FORMAT,
    "ZeroPadding2D": _FORMAT, "ZeroPadding3D": _FORMAT, "Cropping2D": _FORMAT, "Cropping3D": _FORMAT,
    "Dropout": _DROP, "GaussianDropout": _DROP, "SpatialDropout1D": _DROP,
    "SpatialDropout2D": {**_DROP, **_FORMAT}, "SpatialDropout3D": {**_DROP, **_FORMAT},
    "GaussianNoise": {"sigma": "stddev"},
    "BatchNormalization": {"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"},
    "PReLU": {"init": "alpha_initializer"},
}

_NO_COUNT = "it changes nothing counted: remove it"
_KERAS2_INPUT = ("Keras 2's way to give the model's input on its first layer, which Keras 3 refuses; lstmcount "
                 "reads it on the first layer of a chain only (give the model's input_shape: instead)")
_KERNEL = "Keras 1's {}; today kernel_size: [{}]"
# Older arguments that are not one-for-one renames: what each became, as a phrase.
GONE: dict[str, dict[str, str]] = {
    "*": {"batch_input_shape": _KERAS2_INPUT, "batch_size": _KERAS2_INPUT,
          "weights": f"Keras 2's initial weight values, which Keras 3 takes on a few layers only; {_NO_COUNT}",
          "implementation": f"an argument Keras 2 took on every layer and Keras 3 only on LSTM and GRU; "
                            f"{_NO_COUNT}"},
    **{name: {"input_length": "Keras 2's input length of a recurrent layer (with input_dim), which Keras 3 "
                              "refuses; lstmcount reads it on the first layer of a chain only, as the model's input",
              "time_major": f"Keras 2's time-major input layout, which Keras 3 refuses; {_NO_COUNT}"}
       for name in RECURRENT},
    "LSTM": {"forget_bias_init": "Keras 1's forget_bias_init; today unit_forget_bias: true (its 'one')"},
    "SimpleRNN": {"inner_activation": "Keras 1's inner_activation, which a SimpleRNN no longer has",
                  "consume_less": f"Keras 1's consume_less, which a SimpleRNN no longer has; {_NO_COUNT}"},
    **{f"ConvLSTM{r}D": {"forget_bias_init": "Keras 1's forget_bias_init; today unit_forget_bias: true (its 'one')",
                         **{k: _KERNEL.format(k, "nb_row, nb_col") for k in ("nb_row", "nb_col")}} for r in (1, 2, 3)},
    "Embedding": {"dropout": "Keras 1's dropout of an Embedding, removed in Keras 2: a SpatialDropout1D layer "
                             "right after it does the same"},
    **{name: {k: _KERNEL.format(k, "nb_row, nb_col") for k in ("nb_row", "nb_col")}
       for name in ("Conv2D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D")},
    "Conv1D": {"input_length": "Keras 1's input length of a Convolution1D (with input_dim); give the model's "
                               "input_shape: [length, input_dim]"},
    "Conv2DTranspose": {"output_shape": "Keras 1's output_shape of a Deconvolution2D, removed in Keras 2 (the "
                                        "output shape follows from the other arguments)"},
    "Conv3D": {f"kernel_dim{k}": _KERNEL.format(f"kernel_dim{k}", "kernel_dim1, kernel_dim2, kernel_dim3")
               for k in (1, 2, 3)},
    "SeparableConv1D": {"init": "Keras 1's init; today depthwise_initializer and pointwise_initializer"},
    "SeparableConv2D": {"init": "Keras 1's init; today depthwise_initializer and pointwise_initializer"},
    "BatchNormalization": {"mode": "Keras 1's mode, removed in Keras 2 (mode 0 is what BatchNormalization does)"},
}


def renamed() -> dict[str, dict[str, str]]:
    """Class name (or "*") -> old argument -> what it is today, for Framework.renamed."""
    out = {name: {old: f"Keras 1's name for {new!r} (Keras 2 renamed it; Keras 3 refuses the old name)"
                  for old, new in table.items()} for name, table in RENAMED_1.items()}
    for name, table in GONE.items():
        out.setdefault(name, {}).update(table)
    return out


# --- Keras 2's input on the first layer ------------------------------------------------------------

_BATCH = ("batch_input_shape", "batch_size")
_SEQUENCE = ("input_dim", "input_length")  # a recurrent layer's, in Keras 2


def _dims(value: Any) -> Shape | None:
    if not isinstance(value, list) or not value or len(value) > MAX_RANK + 1:
        return None
    if not all(v is None or (isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIZE) for v in value):
        return None
    return tuple(value)


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SIZE else None


def first_input(fw: Framework, spec: LayerSpec, given: Shape | None,
                problems: list[str]) -> tuple[Shape | None, LayerSpec, list[str]]:
    """The input shape a chain's first layer gives, as Keras 2 reads it (None: it gives none); the layer
    without the arguments Keras 3 refuses; notes on what was read so. `given`: the model's own input shape,
    if it has one (Keras then ignores the layer's). Bad values are problems."""
    kind = fw.kind(spec.type, None)
    if kind is None:
        return None, spec, []
    args = spec.args
    where = f"layer {spec.index} ({kind.name})"
    recurrent = kind.name in RECURRENT
    bad = len(problems)
    found: dict[str, Shape] = {}  # argument -> the input shape it gives
    for arg in ("batch_input_shape", "input_shape"):
        if args.get(arg) is None:
            continue
        shape = _dims(args[arg])
        if shape is None or (arg == "batch_input_shape" and len(shape) < 2):
            want = "(the batch, then at least one axis)" if arg == "batch_input_shape" else "(one sample's shape)"
            problems.append(problem(spec.arg_loc(arg), where, f"argument {arg!r} must be a list of positive sizes "
                                                              f"or nulls {want}, got {show(args[arg])}"))
            continue
        found[arg] = shape[1:] if arg == "batch_input_shape" else shape
    own_dim = "input_dim" in kind.args  # Embedding's input_dim is its vocabulary, not its input
    sizes = {a: args[a] for a in ("input_dim", "input_length", "batch_size") if args.get(a) is not None
             and not (a == "input_dim" and own_dim) and (a != "input_length" or recurrent or kind.name == "Embedding")}
    for arg, value in sizes.items():
        if _size(value) is None:
            problems.append(problem(spec.arg_loc(arg), where, f"argument {arg!r} must be a positive integer, got "
                                                              f"{show(value)}"))
    if len(problems) > bad:
        return None, spec, []
    sequence = recurrent and ("input_dim" in sizes or "input_length" in sizes)
    if sequence:
        found["input_dim"] = (sizes.get("input_length"), sizes.get("input_dim"))
    elif "input_dim" in sizes:
        found["input_dim"] = (sizes["input_dim"],)
    if len(set(found.values())) > 1:
        each = ", ".join(f"{a} gives {shape_str(s)}" for a, s in found.items())
        problems.append(problem(spec.loc, where, f"gives its input twice, differently ({each}); which one counts "
                                                 "differs between Keras versions: keep one"))
        return None, spec, []
    shape = next(iter(found.values()), None)
    notes: list[str] = []
    if shape is None and kind.name == "Embedding" and given is None:
        length = sizes.get("input_length")
        shape = (length,)
        notes.append(note(spec.arg_loc("input_length") if length else spec.loc, where,
                             f"the model's input shape is {shape_str(shape)}, as Keras 2 reads a first Embedding "
                             + ("with input_length" if length else "without input_length (sequences of any length)")
                             + "; Keras 3 leaves such a model unbuilt (give input_shape: to say it)"))
    elif given is not None and shape is not None and shape != given:
        notes.append(note(spec.loc, where, f"its input arguments give {shape_str(shape)}, which Keras ignores: the "
                                              f"model's input_shape {shape_str(given)} comes first"))
    elif given is None and "batch_input_shape" in found:
        notes.append(note(spec.arg_loc("batch_input_shape"), where,
                             f"batch_input_shape is Keras 2's (Keras 3 refuses it on a layer): read as Keras 2 does, "
                             f"the model's input shape {shape_str(found['batch_input_shape'])}"))
    elif given is None and sequence and "input_shape" not in found:
        notes.append(note(spec.arg_loc("input_dim" if "input_dim" in sizes else "input_length"), where,
                             f"input_dim and input_length on a recurrent layer are Keras 2's (Keras 3 cannot build "
                             f"{kind.name} with them): read as Keras 2 does, the model's input shape "
                             f"{shape_str(shape or ())}"))
    if "batch_size" in sizes:
        notes.append(note(spec.arg_loc("batch_size"), where, "batch_size on a layer is Keras 2's (Keras 3 refuses "
                                                                "it); it sets only the batch axis, which no count "
                                                                "depends on"))
    drop = [a for a in (*_BATCH, *(_SEQUENCE if recurrent else ())) if a in args]
    if drop:
        spec = replace(spec, args={k: v for k, v in args.items() if k not in drop})
    return (shape if given is None else None), spec, notes


# --- Keras 2 layer configs, as files store them -------------------------------------------------------

TIME_MAJOR = ("time_major: true is Keras 2's time-major layout (time on axis 0, the batch on axis 1): counted as "
              "Keras 2 counts it (the same weights, and per sample the same shapes); Keras 3 has no time_major and "
              "reads the same tensors batch first")
_SPATIAL_DROPOUT = ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
# Keras 2's base Conv writes `groups` (always 1) in the configs of the classes that do not take it.
_NO_GROUPS = ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D",
              "DepthwiseConv1D", "DepthwiseConv2D")
_RESET_BEFORE = ("has no reset_after, so it was saved by Keras 2 before 2.1, whose GRU has one bias vector "
                 "(reset_after: false); counted so. Keras 3 would read the same config with reset_after: true, "
                 "{} parameters more")

_BN_AXES = ("normalizes over the axes {}, as Keras 2 could: counted as Keras 2 counts it (one weight per position "
            "of those axes); Keras 3's BatchNormalization takes one axis")


def from_keras2(cls: str, config: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """A layer config as a file stores it, with what Keras 2 writes and Keras 3 refuses translated to
    today's arguments, counting as the saving Keras 2 counts (`notes`: a phrase for each change that
    Keras 3 would count or shape differently). Only what Keras 2's own get_config writes is read so."""
    args = dict(config)
    if isinstance(args.get("time_major"), bool) and args.pop("time_major"):
        notes.append(TIME_MAJOR)
    if cls in _SPATIAL_DROPOUT:  # Keras 2's Dropout base writes them; Keras 3's SpatialDropout takes neither
        for key in ("trainable", "noise_shape"):
            args.pop(key, None)
    if cls in _NO_GROUPS and args.get("groups") == 1:
        del args["groups"]
    if cls in ("SeparableConv1D", "SeparableConv2D"):  # written by Keras 2's base Conv; its depthwise_ and
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):  # pointwise_ ones count
            args.pop(key, None)
    if cls == "MultiHeadAttention":  # Keras 2 keeps the shapes it was built on (the call gives them) and
        for key in ("query_shape", "key_shape", "value_shape", "softmax_robust_masking"):  # a masking detail
            args.pop(key, None)
    axis = args.get("axis")
    if cls == "BatchNormalization" and isinstance(axis, list) and len(axis) == 1:
        args["axis"] = axis[0]  # Keras 2 keeps its axes as a list; one axis is Keras 3's integer axis
    elif cls == "BatchNormalization" and isinstance(axis, list) and len(axis) > 1:
        args["axis"] = tuple(axis)  # several axes: Keras 2's alone (a tuple: no spec writes one)
        notes.append(_BN_AXES.format(axis))
    if cls in ("GRU", "GRUCell") and "reset_after" not in args:
        args["reset_after"] = False
        units = args.get("units")
        if args.get("use_bias", True) is not False and isinstance(units, int) and not isinstance(units, bool):
            notes.append(_RESET_BEFORE.format(f"{3 * units:,}"))
    return args


# Keras 2's layers that Keras 3 does not have: the layer of today that does the same, and its gates.
KERAS2_ONLY = {"CuDNNLSTM": ("LSTM", 4), "CuDNNGRU": ("GRU", 3)}


def keras3_has_none(spec: LayerSpec) -> str | None:
    """Why Keras 3 cannot build this layer (a Keras 2-only class, also inside a wrapper), or None."""
    if spec.type == "BatchNormalization" and isinstance(spec.args.get("axis"), tuple):
        return "Keras 3's BatchNormalization normalizes over one axis, so verify cannot build Keras 2's over several"
    for layer in (spec.args, *(v for k in ("layer", "backward_layer") if isinstance(v := spec.args.get(k), dict))):
        cls = spec.type if layer is spec.args else str(layer.get("type"))
        if cls in KERAS2_ONLY:
            today, gates = KERAS2_ONLY[cls]
            units = layer.get("units")
            fewer = f"{gates} x {units} = {gates * units:,}" if isinstance(units, int) else f"{gates} x units"
            return (f"Keras 3 has no {cls} (Keras 2's cuDNN-only layer), so verify cannot build it; its count is "
                    f"Keras 2's own (a second bias per gate, as cuDNN keeps it). A Keras 3 {today} of the same units "
                    f"runs on cuDNN too and has {fewer} fewer parameters")
    return None
