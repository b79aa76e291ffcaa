"""Keras's recurrent layers: LSTM, GRU, SimpleRNN, Bidirectional, ConvLSTM1D/2D/3D, and the generic
RNN wrapper with its cells (LSTMCell, GRUCell, SimpleRNNCell, StackedRNNCells or a list of cells).

Gate orders, from Keras's own cells: LSTM kernel columns are [i, f, c, o]; GRU columns are
[z, r, h] (update, reset, candidate); with `reset_after` the GRU bias is (2, 3u): row 0 for the
input projection, row 1 for the recurrent one.
"""

from __future__ import annotations

from typing import Any

from ...errors import show
from ...layout import BIAS, GRU_GATES, KERNEL, LSTM_GATES, RECURRENT, RNN_GATES, LayerLayout, Outputs, Weight
from ...model import MAX_DEPTH_LAYERS, Shape
from ..base import Arg, Ctx, Framework, Kind, LayerProblem, snake
from ..cudnn import cudnn_weights
from .common import (
    ACTIVATIONS,
    ANY,
    CONV_ARGS,
    INITS,
    NESTED,
    NO_VALUES,
    POS,
    RATE,
    SEED,
    conv_length,
    ident,
    idents,
    join_channels,
    known_shape,
    last_axis,
    shape_str,
    split_channels,
)

RNN_COMMON: dict[str, Arg] = {
    "units": POS,
    "activation": ident(ACTIVATIONS, "tanh"),
    "use_bias": Arg("bool", True),
    **idents(*INITS, "recurrent_initializer", "recurrent_regularizer", "recurrent_constraint"),
    "dropout": RATE, "recurrent_dropout": RATE, "seed": SEED,
    "return_sequences": Arg("bool", False), "return_state": Arg("bool", False),
    "go_backwards": Arg("bool", False), "stateful": Arg("bool", False), "unroll": Arg("bool", False),
}
# LSTM, GRU and their cells take Keras 2's `implementation` through **kwargs; it changes no weight.
IMPLEMENTATION = {"implementation": Arg("int", 2, min=0, max=2)}
GATED = {"recurrent_activation": ident(ACTIVATIONS, "sigmoid"),
         "use_cudnn": Arg("choice", "auto", choices=("auto", True, False))}


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


def _sequence(shape: Shape | None) -> tuple[int | None, int]:
    """(timesteps, features) of a recurrent layer's input."""
    if shape is None or len(shape) != 2:
        known_shape(shape, 2, "a sequence (timesteps, features)")  # raises, saying why
    steps, features = shape  # type: ignore[misc]
    if features is None:
        raise LayerProblem(f"the features axis of its input {shape_str((steps, features))} must be known")
    return steps, features


def _rnn(gates: tuple[str, ...]) -> Any:
    n_states = 2 if gates == LSTM_GATES else 1  # LSTM: [h, c]; GRU, SimpleRNN: [h]

    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
        steps, features = _sequence(shape)
        rows = 2 if a.get("reset_after") else 1
        weights = gated_weights(features, a["units"], gates, a["use_bias"], rows)
        out = (steps, a["units"]) if a["return_sequences"] else (a["units"],)
        return weights, with_states(out, ((a["units"],),) * n_states, a["return_state"])

    return build


def with_states(out: Shape, states: tuple[Shape, ...], returned: bool) -> Outputs:
    """A recurrent layer's output, and its states (returned after it with return_state)."""
    return Outputs((out, *states) if returned else (out,), out, states)


def _bidirectional(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None | Outputs]:
    forward, _, fargs = ctx.nested_args("layer", shape)
    if a["backward_layer"] is None:
        if fargs.get("go_backwards"):
            raise LayerProblem("its layer has go_backwards: true, and so would the backward copy Keras makes of it: "
                               "the two directions must differ (give a backward_layer, or drop go_backwards)", "layer")
        return mirror(forward, a)
    backward, _, bargs = ctx.nested_args("backward_layer", shape)
    ctx.inner_variant = forward.variant if forward.variant == backward.variant else None
    for layer, arg in ((forward, "layer"), (backward, "backward_layer")):
        _wraps_recurrent(layer, arg)
    if fargs["go_backwards"] == bargs["go_backwards"]:
        raise LayerProblem(f"the backward layer must run the other way: both have go_backwards: "
                           f"{str(fargs['go_backwards']).lower()}", "backward_layer")
    for same in ("stateful", "return_sequences", "return_state"):
        if fargs[same] != bargs[same]:
            raise LayerProblem(f"{same} must be the same in both directions: the forward layer has "
                               f"{str(fargs[same]).lower()}, the backward layer {str(bargs[same]).lower()}",
                               "backward_layer")
    if forward.output_shape != backward.output_shape:
        raise LayerProblem(f"the backward layer's output {shape_str(backward.output_shape or ())} is not the forward "
                           f"layer's {shape_str(forward.output_shape or ())}: Keras takes a Bidirectional's output "
                           "shape from its forward layer alone, so what follows would be built on the wrong shape",
                           "backward_layer")
    if backward.name == _forward_name(forward):
        raise LayerProblem(f"the backward layer's name {backward.name!r} is the forward copy's: rename it",
                           "backward_layer")
    return _join(forward, backward, backward.name, a)


def _wraps_recurrent(layer: LayerLayout, arg: str) -> None:
    if not layer.recurrent:
        raise LayerProblem(f"wraps a recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM*), got {layer.type}", arg)


def _forward_name(layer: LayerLayout) -> str:
    return f"forward_{layer.name.removeprefix('forward_')}"


def mirror(inner: LayerLayout, a: dict[str, Any]) -> tuple[list[Weight], Shape | None | Outputs]:
    """Bidirectional: the wrapped layer twice (forward_<name>/, backward_<name>/), outputs merged.

    Keras names the copies "forward_" + name without a leading "forward_", and "backward_" + name
    without a leading "backward_" (so a layer called forward_lstm has a backward_forward_lstm twin).
    """
    _wraps_recurrent(inner, "layer")
    return _join(inner, inner, f"backward_{inner.name.removeprefix('backward_')}", a)


def _join(forward: LayerLayout, backward: LayerLayout, backward_name: str,
          a: dict[str, Any]) -> tuple[list[Weight], Shape | None | Outputs]:
    """A Bidirectional of these two directions: weights forward then backward, outputs merged.

    Its states are the forward layer's then the backward layer's; with return_state they follow the
    output (both outputs, with merge_mode None), as Keras returns them.
    """
    weights = [w._replace(name=f"{_forward_name(forward)}/{w.name}", direction="forward") for w in forward.weights]
    weights += [w._replace(name=f"{backward_name}/{w.name}", direction="backward") for w in backward.weights]
    out = forward.output_shape
    if out is None:
        return weights, None
    states = forward.states + backward.states
    returned = states if len(forward.outputs) > 1 else ()
    mode = a["merge_mode"]
    if mode is None:  # two tensors: nothing after it in a chain can take them as one input
        return weights, Outputs((out, out, *returned), None, states)
    if mode == "concat":
        last = out[-1]
        out = (*out[:-1], None if last is None else 2 * last)
    return weights, Outputs((out, *returned), out, states)


def _conv_lstm(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
        shape = known_shape(shape, rank + 2, f"a sequence of rank-{rank + 1} frames (timesteps, ...)")
        spatial, channels = split_channels(shape[1:], rank, a["data_format"])
        if channels is None:
            raise LayerProblem(f"the channels axis of its input {shape_str(shape)} must be known")
        if max(a["strides"]) > 1 and max(a["dilation_rate"]) > 1:
            raise LayerProblem("strides > 1 cannot be combined with dilation_rate > 1", "strides")
        out = tuple(conv_length(n, k, s, a["padding"], d) for n, k, s, d in
                    zip(spatial, a["kernel_size"], a["strides"], a["dilation_rate"], strict=True))
        weights = gated_weights(channels, a["filters"], LSTM_GATES, a["use_bias"], spatial=a["kernel_size"])
        frame = join_channels(out, a["filters"], a["data_format"])
        return weights, with_states((shape[0], *frame) if a["return_sequences"] else frame, (frame, frame),
                                    a["return_state"])

    return build


def _conv_lstm_kind(name: str, rank: int) -> Kind:
    args = {**CONV_ARGS, **{k: v for k, v in RNN_COMMON.items() if k not in ("units", "unroll")},
            **GATED, "unit_forget_bias": Arg("bool", True)}
    del args["use_cudnn"]
    return Kind(name, args, _conv_lstm(rank), recurrent=True, rank=rank,
                kwargs={"unroll": Arg("bool", False)})  # in ConvLSTM configs, though not in the signature


CELLS = ("LSTMCell", "GRUCell", "SimpleRNNCell")
CELL_TAKERS = ("RNN", "StackedRNNCells")


def _within_rnn(ctx: Ctx) -> None:
    if ctx.wrapper not in CELL_TAKERS:
        layer = {"LSTMCell": "LSTM", "GRUCell": "GRU", "SimpleRNNCell": "SimpleRNN"}.get(ctx.kind)
        raise LayerProblem(f"{ctx.kind} is the step of a recurrent layer, not a layer of its own: wrap it in RNN "
                           f"(type: RNN, cell: {{type: {ctx.kind}, ...}})" + (f", or use {layer}" if layer else ""))


def _cell(gates: tuple[str, ...]) -> Any:
    """A cell: the weights of one step, built on one step's input (features,). Its states are
    [h, c] for LSTMCell, [h] for the others; its output is h."""
    n_states = 2 if gates == LSTM_GATES else 1

    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
        _within_rnn(ctx)
        features = last_axis(known_shape(shape, None, ""), ctx.kind)
        rows = 2 if a.get("reset_after") else 1
        units = a["units"]
        return gated_weights(features, units, gates, a["use_bias"], rows), Outputs(((units,),), (units,),
                                                                                  ((units,),) * n_states)

    return build


def cell_names(fw: Framework, cells: list[Any]) -> list[str]:
    """The name of each cell of a stack: its own, or its class's in snake case, numbered from the
    second of that class in the stack (lstm_cell, lstm_cell_1, gru_cell), as a fresh Keras names them."""
    used: dict[str, int] = {}
    out = []
    for cell in cells:
        name = cell.get("name") if isinstance(cell, dict) else None
        if not isinstance(name, str) or not name:
            kind = fw.kind(str(cell.get("type", "")), None) if isinstance(cell, dict) else None
            base = snake(kind.name) if kind is not None else "cell"
            n = used.get(base, 0)
            used[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
        out.append(name)
    return out


def _stack(ctx: Ctx, arg: str, cells: Any, shape: Shape | None) -> tuple[list[Weight], Outputs]:
    """Cells one after another (StackedRNNCells): each reads the output of the one before it. Their
    weights are named by cell (`lstm_cell/kernel`, `gru_cell/kernel`, as Keras names the cells, numbered
    within the stack), at depth 0, 1, ...; their states follow each other, flat."""
    if not isinstance(cells, list) or not cells:
        raise LayerProblem(f"must be a non-empty list of cells ({', '.join(CELLS)}), got {show(cells)}", arg)
    if len(cells) > MAX_DEPTH_LAYERS:
        raise LayerProblem(f"{len(cells):,} cells is more than the limit of {MAX_DEPTH_LAYERS:,}", arg)
    weights: list[Weight] = []
    states: tuple[Shape, ...] = ()
    names: set[str] = set()
    variants: set[str | None] = set()
    out: Shape | None = shape
    for k, (cell, name) in enumerate(zip(cells, cell_names(ctx.framework, cells), strict=True)):
        _a_cell(ctx, arg, cell, CELLS, "each cell of a stack is one of")
        layer = ctx.nested(arg, out, cell, name)
        if layer.name in names:
            raise LayerProblem(f"two cells are named {layer.name!r}: each cell's weights are named after it", arg)
        names.add(layer.name)
        if layer.type == "GRUCell":
            variants.add(layer.variant)
        depth = k if len(cells) > 1 else None
        weights += [w._replace(name=f"{layer.name}/{w.name}", depth=depth) for w in layer.weights]
        states += layer.states
        out = layer.output_shape
    ctx.inner_variant = variants.pop() if len(variants) == 1 else None
    assert out is not None
    return weights, Outputs((out,), out, states)


def _a_cell(ctx: Ctx, arg: str, mapping: Any, allowed: tuple[str, ...], must: str) -> None:
    """Refuse a layer given where a cell goes (an unknown class is left to the build to name)."""
    kind = ctx.framework.kind(str(mapping.get("type")), None) if isinstance(mapping, dict) else None
    if kind is not None and kind.name not in allowed:
        raise LayerProblem(f"{must} {', '.join(allowed)}, got {kind.name}", arg)


def _stacked_cells(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
    _within_rnn(ctx)
    return _stack(ctx, "cells", a["cells"], shape)


def _rnn_wrapper(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
    """RNN(cell): the cell run over the time axis. A single cell's weights are named as an LSTM's
    (kernel, recurrent_kernel, bias); a list of cells is a StackedRNNCells."""
    steps, features = _sequence(shape)
    if a["unroll"] and steps is None:
        raise LayerProblem("an RNN is unrolled over a known number of timesteps; its input's time axis is "
                           f"free in {shape_str((steps, features))}", "unroll")
    cell = a["cell"]
    if isinstance(cell, list):
        weights, cells = _stack(ctx, "cell", cell, (features,))
        units, states = cells.main, cells.states
    else:
        _a_cell(ctx, "cell", cell, (*CELLS, "StackedRNNCells"), "must be a list of cells, or one of")
        inner = ctx.nested("cell", (features,))
        weights, units, states = list(inner.weights), inner.output_shape, inner.states
    assert units is not None
    out = (steps, *units) if a["return_sequences"] else units
    return weights, with_states(out, states, a["return_state"])


def _cudnn(gates: tuple[str, ...]) -> Any:
    """Keras 2's CuDNNLSTM / CuDNNGRU: an LSTM's or GRU's outputs, and cuDNN's weights (its second bias
    per gate: conventions/cudnn.py). Always biased; no activations to choose."""
    n_states = 2 if gates == LSTM_GATES else 1

    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
        steps, features = _sequence(shape)
        out = (steps, a["units"]) if a["return_sequences"] else (a["units"],)
        return cudnn_weights(features, a["units"], gates), with_states(out, ((a["units"],),) * n_states,
                                                                      a["return_state"])

    return build


# CuDNNLSTM / CuDNNGRU's own arguments (tf_keras/src/layers/rnn/cudnn_lstm.py, cudnn_gru.py).
CUDNN_ARGS: dict[str, Arg] = {
    "units": POS, **idents(*INITS, "recurrent_initializer", "recurrent_regularizer", "recurrent_constraint"),
    **{k: RNN_COMMON[k] for k in ("return_sequences", "return_state", "go_backwards", "stateful")},
}

CELL_ARGS: dict[str, Arg] = {k: v for k, v in RNN_COMMON.items()
                             if k not in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")}

KINDS: list[Kind] = [
    Kind("LSTM", {**RNN_COMMON, **GATED, "unit_forget_bias": Arg("bool", True)}, _rnn(LSTM_GATES), recurrent=True,
         kwargs=IMPLEMENTATION),
    Kind("GRU", {**RNN_COMMON, **GATED, "reset_after": Arg("bool", True)}, _rnn(GRU_GATES), recurrent=True,
         variant=lambda a: "reset_after" if a["reset_after"] else "reset_before", kwargs=IMPLEMENTATION),
    Kind("SimpleRNN", RNN_COMMON, _rnn(RNN_GATES), recurrent=True),
    Kind("Bidirectional", {"layer": NESTED, "weights": ANY, "backward_layer": Arg("layer", None, nullable=True),
                           "merge_mode": Arg("choice", "concat", choices=("concat", "sum", "mul", "ave"),
                                             nullable=True)},
         _bidirectional, recurrent=True, wrap=mirror, reject={"weights": NO_VALUES}),
    _conv_lstm_kind("ConvLSTM1D", 1), _conv_lstm_kind("ConvLSTM2D", 2), _conv_lstm_kind("ConvLSTM3D", 3),
    Kind("RNN", {"cell": NESTED, "return_sequences": Arg("bool", False), "return_state": Arg("bool", False),
                 "go_backwards": Arg("bool", False), "stateful": Arg("bool", False), "unroll": Arg("bool", False),
                 "zero_output_for_mask": Arg("bool", False)}, _rnn_wrapper, recurrent=True),
    Kind("LSTMCell", {**CELL_ARGS, "recurrent_activation": GATED["recurrent_activation"],
                      "unit_forget_bias": Arg("bool", True)}, _cell(LSTM_GATES), kwargs=IMPLEMENTATION),
    Kind("GRUCell", {**CELL_ARGS, "recurrent_activation": GATED["recurrent_activation"],
                     "reset_after": Arg("bool", True)}, _cell(GRU_GATES), kwargs=IMPLEMENTATION,
         variant=lambda a: "reset_after" if a["reset_after"] else "reset_before"),
    Kind("SimpleRNNCell", CELL_ARGS, _cell(RNN_GATES)),
    Kind("StackedRNNCells", {"cells": NESTED}, _stacked_cells),
    Kind("CuDNNLSTM", {**CUDNN_ARGS, "unit_forget_bias": Arg("bool", True)}, _cudnn(LSTM_GATES), recurrent=True),
    Kind("CuDNNGRU", CUDNN_ARGS, _cudnn(GRU_GATES), recurrent=True, variant=lambda a: "reset_after"),
]
