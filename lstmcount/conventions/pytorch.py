"""PyTorch (torch.nn): each module's arguments and parameters.

Gate orders, from torch.nn's documentation and kernels: LSTM rows of weight_ih are
[i, f, g, o] (input, forget, cell, output); GRU rows are [r, z, n] (reset, update, candidate).
Every gate has two biases, b_ih and b_hh. With proj_size > 0 an LSTM adds weight_hr
(proj_size, hidden_size) and its recurrent weight takes the projected state.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import SpecError, problem, show
from ..layout import (
    BIAS,
    GRU_GATES,
    KERNEL,
    LSTM_GATES,
    PROJECTION,
    RECURRENT,
    RNN_GATES,
    LayerLayout,
    ModelLayout,
    Weight,
)
from ..model import MAX_DEPTH_LAYERS, LayerSpec, Model, Shape, suggest
from .base import REQUIRED, Arg, Ctx, Framework, Kind, LayerProblem
from .graph import walk

POS = Arg("int", REQUIRED, min=1)
ANY = Arg("any", None)
DEVICE = Arg("str", None, nullable=True)
DTYPE_NOTE = "a torch dtype cannot be written in a spec (and does not change the count); leave it out"
TORCH_GATES = {"LSTM": ("input", "forget", "cell", "output"), "GRU": ("reset", "update", "candidate"),
               "RNN": RNN_GATES}
assert set(TORCH_GATES["LSTM"]) == set(LSTM_GATES) and set(TORCH_GATES["GRU"]) == set(GRU_GATES)


def cell_weights(in_dim: int, hidden: int, gates: tuple[str, ...], bias: bool, suffix: str = "",
                 recurrent_in: int | None = None, proj: int = 0, direction: str | None = None,
                 depth: int | None = None) -> list[Weight]:
    """weight_ih, weight_hh, bias_ih, bias_hh (and weight_hr) of one direction of one depth."""
    g = len(gates) * hidden
    common: dict[str, Any] = {"gate_axis": 0, "gates": gates, "direction": direction, "depth": depth}
    weights = [Weight(f"weight_ih{suffix}", (g, in_dim), KERNEL, **common),
               Weight(f"weight_hh{suffix}", (g, recurrent_in or hidden), RECURRENT, **common)]
    if bias:
        weights += [Weight(f"bias_ih{suffix}", (g,), BIAS, terms=("input",), **common),
                    Weight(f"bias_hh{suffix}", (g,), BIAS, terms=("recurrent",), **common)]
    if proj:
        # (proj, hidden): its output along axis 0, as a gate axis would be
        weights.append(Weight(f"weight_hr{suffix}", (proj, hidden), PROJECTION, 0, direction=direction, depth=depth))
    return weights


def _rnn(type_name: str) -> Any:
    gates = TORCH_GATES[type_name]

    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        hidden, proj, layers = a["hidden_size"], a.get("proj_size", 0), a["num_layers"]
        if proj and proj >= hidden:
            raise LayerProblem(f"must be smaller than hidden_size ({hidden}), got {proj}", "proj_size")
        dirs = ("forward", "backward") if a["bidirectional"] else (None,)
        out_h = proj or hidden
        weights: list[Weight] = []
        for k in range(layers):
            in_dim = a["input_size"] if k == 0 else out_h * len(dirs)
            for d in dirs:
                suffix = f"_l{k}" + ("_reverse" if d == "backward" else "")
                weights += cell_weights(in_dim, hidden, gates, a["bias"], suffix, out_h, proj,
                                        direction=d, depth=k if layers > 1 else None)
        return weights, (out_h * len(dirs),)

    return build


def _cell(type_name: str) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        return cell_weights(a["input_size"], a["hidden_size"], TORCH_GATES[type_name], a["bias"]), \
            (a["hidden_size"],)

    return build


def _linear(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    weights = [Weight("weight", (a["out_features"], a["in_features"]))]
    if a["bias"]:
        weights.append(Weight("bias", (a["out_features"],)))
    return weights, (a["out_features"],)


def _embedding(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    n = a["num_embeddings"]
    pad = a["padding_idx"]
    if pad is not None and not -n <= pad < n:
        raise LayerProblem(f"must be within num_embeddings (-{n} to {n - 1}), got {pad}", "padding_idx")
    return [Weight("weight", (n, a["embedding_dim"]), trainable=not a["_freeze"])], (a["embedding_dim"],)


def _layer_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    dims: tuple[int, ...] = a["normalized_shape"]
    if -1 in dims:
        raise LayerProblem(f"must hold positive sizes, got {list(dims)}", "normalized_shape")
    weights = []
    if a["elementwise_affine"]:
        weights.append(Weight("weight", dims))
        if a["bias"]:
            weights.append(Weight("bias", dims))
    return weights, None


def _none(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    """A module without parameters (dropout, pooling, an activation, Flatten, Identity)."""
    return [], None


def _conv(rank: int, transposed: bool) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        cin, cout, groups = a["in_channels"], a["out_channels"], a["groups"]
        if cin % groups:
            raise LayerProblem(f"in_channels ({cin}) must be divisible by groups ({groups})", "groups")
        if cout % groups:
            raise LayerProblem(f"out_channels ({cout}) must be divisible by groups ({groups})", "groups")
        padding = a["padding"]
        if isinstance(padding, str) and not transposed:
            if padding not in ("same", "valid"):
                raise LayerProblem(f"must be 'same', 'valid', an integer or a list of {rank}, got {padding!r}",
                                   "padding")
            if padding == "same" and any(s != 1 for s in a["stride"]):
                raise LayerProblem("padding='same' is not supported for strided convolutions", "padding")
        else:
            _ints(padding, rank, "padding", 0)
        if transposed:
            _ints(a["output_padding"], rank, "output_padding", 0)
            if a["padding_mode"] != "zeros":
                raise LayerProblem(f"a transposed convolution takes only 'zeros', got {a['padding_mode']!r}",
                                   "padding_mode")
        kernel = a["kernel_size"]
        shape_w = (cin, cout // groups, *kernel) if transposed else (cout, cin // groups, *kernel)
        weights = [Weight("weight", shape_w)]
        if a["bias"]:
            weights.append(Weight("bias", (cout,)))
        return weights, None

    return build


def _ints(value: Any, n: int, arg: str, least: int) -> None:
    items = value if isinstance(value, list) else [value]
    if not (len(items) in (1, n) and all(isinstance(v, int) and not isinstance(v, bool) and v >= least
                                         for v in items)):
        raise LayerProblem(f"must be an integer of at least {least} or a list of {n}, got {value!r}", arg)


def _batch_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    """weight and bias (affine), then the running statistics (buffers: not trained) and the batch counter."""
    n = a["num_features"]
    weights = []
    if a["affine"]:
        weights.append(Weight("weight", (n,)))
        if a["bias"]:
            weights.append(Weight("bias", (n,)))
    if a["track_running_stats"]:
        weights += [Weight("running_mean", (n,), trainable=False), Weight("running_var", (n,), trainable=False),
                    Weight("num_batches_tracked", (), trainable=False)]
    return weights, None


def _group_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    groups, channels = a["num_groups"], a["num_channels"]
    if channels % groups:
        raise LayerProblem(f"num_channels ({channels}) must be divisible by num_groups ({groups})", "num_groups")
    weights = []
    if a["affine"]:
        weights.append(Weight("weight", (channels,)))
        if a["bias"]:
            weights.append(Weight("bias", (channels,)))
    return weights, None


def _prelu(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    return [Weight("weight", (a["num_parameters"],))], None


def _adaptive(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        size = a["output_size"]
        items = size if isinstance(size, list) else [size]
        if not (len(items) in (1, rank) and all(v is None or (isinstance(v, int) and not isinstance(v, bool)
                                                              and v >= 1) for v in items)
                and (rank > 1 or items[0] is not None)):
            raise LayerProblem(f"must be a positive integer{' or a list of ' + str(rank) if rank > 1 else ''}"
                               f"{' (null keeps an axis)' if rank > 1 else ''}, got {size!r}", "output_size")
        return [], None

    return build


RNN_ARGS: dict[str, Arg] = {
    "input_size": POS, "hidden_size": POS, "num_layers": Arg("int", 1, min=1, max=MAX_DEPTH_LAYERS),
    "bias": Arg("bool", True),
    "batch_first": Arg("bool", False), "dropout": Arg("float", 0.0, min=0.0, max=1.0),
    "bidirectional": Arg("bool", False), "device": DEVICE, "dtype": ANY,
}
CELL_ARGS: dict[str, Arg] = {"input_size": POS, "hidden_size": POS, "bias": Arg("bool", True),
                             "device": DEVICE, "dtype": ANY}
NONLIN = Arg("choice", "tanh", choices=("tanh", "relu"))

CONV_ARGS: dict[str, Arg] = {
    "in_channels": POS, "out_channels": POS, "kernel_size": Arg("ints", REQUIRED, min=1),
    "stride": Arg("ints", 1, min=1), "padding": Arg("any", 0), "dilation": Arg("ints", 1, min=1),
    "groups": Arg("int", 1, min=1), "bias": Arg("bool", True),
    "padding_mode": Arg("choice", "zeros", choices=("zeros", "reflect", "replicate", "circular")),
    "device": DEVICE, "dtype": ANY}
TRANSPOSED_ARGS: dict[str, Arg] = {**CONV_ARGS, "output_padding": Arg("any", 0)}
BATCH_NORM_ARGS: dict[str, Arg] = {
    "num_features": POS, "eps": Arg("float", 1e-5), "momentum": Arg("float", 0.1, nullable=True),
    "affine": Arg("bool", True), "track_running_stats": Arg("bool", True), "bias": Arg("bool", True),
    "device": DEVICE, "dtype": ANY}
INPLACE = {"inplace": Arg("bool", False)}
DROPOUT_ARGS: dict[str, Arg] = {"p": Arg("float", 0.5, min=0.0, max=1.0), **INPLACE}
MAX_POOL_ARGS: dict[str, Arg] = {
    "kernel_size": Arg("ints", REQUIRED, min=1), "stride": Arg("ints", None, min=1, nullable=True),
    "padding": Arg("ints", 0, min=0), "dilation": Arg("ints", 1, min=1), "return_indices": Arg("bool", False),
    "ceil_mode": Arg("bool", False)}
AVG_POOL_ARGS: dict[str, Arg] = {
    "kernel_size": Arg("ints", REQUIRED, min=1), "stride": Arg("ints", None, min=1, nullable=True),
    "padding": Arg("ints", 0, min=0), "ceil_mode": Arg("bool", False), "count_include_pad": Arg("bool", True)}
DIM = {"dim": Arg("int", None, nullable=True)}

# Activation modules: their arguments (none of them holds a parameter but PReLU).
ACTIVATIONS: dict[str, dict[str, Arg]] = {
    "ReLU": INPLACE, "ReLU6": INPLACE, "SELU": INPLACE, "SiLU": INPLACE, "Mish": INPLACE, "Hardswish": INPLACE,
    "Hardsigmoid": INPLACE, "Tanh": {}, "Sigmoid": {}, "Softsign": {}, "Tanhshrink": {}, "LogSigmoid": {},
    "GELU": {"approximate": Arg("choice", "none", choices=("none", "tanh"))},
    "LeakyReLU": {"negative_slope": Arg("float", 0.01), **INPLACE},
    "ELU": {"alpha": Arg("float", 1.0), **INPLACE}, "CELU": {"alpha": Arg("float", 1.0), **INPLACE},
    "Softplus": {"beta": Arg("float", 1.0), "threshold": Arg("float", 20.0)},
    "Hardtanh": {"min_val": Arg("float", -1.0), "max_val": Arg("float", 1.0), **INPLACE,
                 "min_value": Arg("float", None, nullable=True), "max_value": Arg("float", None, nullable=True)},
    "Softmax": DIM, "LogSoftmax": DIM, "Softmin": DIM,
}

KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("LSTM", {**RNN_ARGS, "proj_size": Arg("int", 0, min=0)}, _rnn("LSTM"), recurrent=True),
    Kind("GRU", RNN_ARGS, _rnn("GRU"), recurrent=True, variant=lambda a: "reset_after"),
    Kind("RNN", {**RNN_ARGS, "nonlinearity": NONLIN}, _rnn("RNN"), recurrent=True),
    Kind("LSTMCell", CELL_ARGS, _cell("LSTM"), recurrent=True),
    Kind("GRUCell", CELL_ARGS, _cell("GRU"), recurrent=True, variant=lambda a: "reset_after"),
    Kind("RNNCell", {**CELL_ARGS, "nonlinearity": NONLIN}, _cell("RNN"), recurrent=True),
    Kind("Linear", {"in_features": POS, "out_features": POS, "bias": Arg("bool", True),
                    "device": DEVICE, "dtype": ANY}, _linear),
    Kind("Embedding", {"num_embeddings": POS, "embedding_dim": POS,
                       "padding_idx": Arg("int", None, nullable=True),
                       "max_norm": Arg("float", None, nullable=True), "norm_type": Arg("float", 2.0),
                       "scale_grad_by_freq": Arg("bool", False), "sparse": Arg("bool", False),
                       "_weight": ANY, "_freeze": Arg("bool", False), "device": DEVICE, "dtype": ANY}, _embedding,
         reject={"_weight": "takes a tensor, which a spec cannot hold; give num_embeddings and embedding_dim"}),
    Kind("LayerNorm", {"normalized_shape": Arg("shape", REQUIRED), "eps": Arg("float", 1e-5),
                       "elementwise_affine": Arg("bool", True), "bias": Arg("bool", True),
                       "device": DEVICE, "dtype": ANY}, _layer_norm),
    Kind("GroupNorm", {"num_groups": POS, "num_channels": POS, "eps": Arg("float", 1e-5),
                       "affine": Arg("bool", True), "device": DEVICE, "dtype": ANY, "bias": Arg("bool", True)},
         _group_norm),
    *(Kind(f"BatchNorm{r}d", BATCH_NORM_ARGS, _batch_norm) for r in (1, 2, 3)),
    *(Kind(f"Conv{r}d", CONV_ARGS, _conv(r, False), rank=r) for r in (1, 2, 3)),
    *(Kind(f"ConvTranspose{r}d", TRANSPOSED_ARGS, _conv(r, True), rank=r) for r in (1, 2, 3)),
    *(Kind(f"MaxPool{r}d", MAX_POOL_ARGS, _none, rank=r) for r in (1, 2)),
    *(Kind(f"AvgPool{r}d", AVG_POOL_ARGS if r == 1 else {**AVG_POOL_ARGS, "divisor_override":
                                                         Arg("int", None, min=1, nullable=True)}, _none, rank=r)
      for r in (1, 2)),
    *(Kind(f"AdaptiveAvgPool{r}d", {"output_size": Arg("any", REQUIRED)}, _adaptive(r), rank=r) for r in (1, 2)),
    *(Kind(f"AdaptiveMaxPool{r}d", {"output_size": Arg("any", REQUIRED), "return_indices": Arg("bool", False)},
           _adaptive(r), rank=r) for r in (1, 2)),
    Kind("Flatten", {"start_dim": Arg("int", 1), "end_dim": Arg("int", -1)}, _none),
    Kind("Identity", {}, _none),
    *(Kind(name, DROPOUT_ARGS, _none) for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
                                                    "AlphaDropout")),
    *(Kind(name, args, _none) for name, args in ACTIVATIONS.items()),
    Kind("PReLU", {"num_parameters": Arg("int", 1, min=1), "init": Arg("float", 0.25), "device": DEVICE,
                   "dtype": ANY}, _prelu),
]}

PYTORCH = Framework("pytorch", KINDS, {"name": Arg("str", None, nullable=True),
                                       "tie": Arg("mapping", None, nullable=True)},
                    aliases=("torch.nn.", "nn."), tracks_shapes=False, reject={"dtype": DTYPE_NOTE})

SEQUENTIAL = "Sequential"


def layout(model: Model) -> ModelLayout:
    """A PyTorch model's layout: its Sequentials laid out as torch names their modules, its tied
    weights counted once (raises SpecError listing every problem)."""
    flat = flatten(model)
    laid = walk(PYTORCH, flat)
    return laid._replace(layers=_tie(flat, laid.layers))


def flatten(model: Model) -> Model:
    """The model with each nested Sequential replaced by its modules, named as torch names them in a
    state_dict: `encoder.0`, `encoder.1` (a module's own `name:` in place of its index, as an
    OrderedDict gives one). Every other entry is kept as it is."""
    if not any(spec.model is not None for spec in model.layers):
        return model
    return replace(model, layers=tuple(_flat(model.layers, "")))


def _flat(specs: tuple[LayerSpec, ...], prefix: str) -> list[LayerSpec]:
    out: list[LayerSpec] = []
    unnamed = 0
    for k, spec in enumerate(specs):
        name = spec.args.get("name")
        if spec.model is None:
            if prefix:  # a Sequential's module: its index, or its own name
                own = name if isinstance(name, str) and name else str(k)
                spec = replace(spec, args={**spec.args, "name": prefix + own},
                               arg_locs={**spec.arg_locs, "name": spec.arg_loc("name")})
            out.append(spec)
            continue
        if not isinstance(name, str) or not name:
            name = str(k) if prefix else SEQUENTIAL.lower() + (f"_{unnamed}" if unnamed else "")
            unnamed += 0 if prefix else 1
        out += _flat(spec.model.layers, f"{prefix}{name}.")
    return out


def _tie(model: Model, layers: tuple[LayerLayout, ...]) -> tuple[LayerLayout, ...]:
    """Apply the spec's `tie: {weight: other.weight}`: the tied weights are one tensor, counted at the
    first of them in the model's order (as model.parameters() counts a shared Parameter once)."""
    if not any(spec.args.get("tie") for spec in model.layers):
        return layers
    index = {f"{layer.name}.{w.name}": (i, j) for i, layer in enumerate(layers) for j, w in enumerate(layer.weights)}
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def root(at: tuple[int, int]) -> tuple[int, int]:
        while parent.get(at, at) != at:
            at = parent[at]
        return at

    problems: list[str] = []
    for i, (spec, layer) in enumerate(zip(model.layers, layers, strict=True)):
        ties = spec.args.get("tie") or {}
        where, loc = f"layer {spec.index} ({layer.type})", spec.arg_loc("tie")
        own_names = [w.name for w in layer.weights]
        for own, other in ties.items():
            if own not in own_names:
                problems.append(problem(loc, where, f"tie: {layer.type} {layer.name!r} has no weight {show(own)} "
                                                    f"(its weights: {', '.join(own_names) or 'none'})"))
                continue
            target = index.get(other) if isinstance(other, str) else None
            if target is None:
                problems.append(problem(loc, where, f"tie: {show(own)} names {show(other)}, which is no module's "
                                                    f"weight{suggest(str(other), list(index))} (write module.weight)"))
                continue
            mine = (i, own_names.index(own))
            a, b = layers[mine[0]].weights[mine[1]], layers[target[0]].weights[target[1]]
            if target == mine or a.shape != b.shape:
                why = "itself" if target == mine else f"{other} of shape {list(b.shape)}, and {own} has {list(a.shape)}"
                problems.append(problem(loc, where, f"tie: {show(own)} cannot be tied to {why}"))
                continue
            first, second = sorted((root(mine), root(target)))
            parent[second] = first
    if problems:
        raise SpecError(problems)
    out = [list(layer.weights) for layer in layers]
    for at in parent:
        i, j = at
        r = root(at)
        if r != at:
            counted = layers[r[0]]
            out[i][j] = out[i][j]._replace(tied=f"{counted.name}.{counted.weights[r[1]].name}")
    return tuple(layer._replace(weights=tuple(ws)) for layer, ws in zip(layers, out, strict=True))
