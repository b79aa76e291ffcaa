"""Keras's recurrent layers: LSTM, GRU, SimpleRNN, Bidirectional, ConvLSTM1D/2D/3D.

Gate orders, from Keras's own cells: LSTM kernel columns are [i, f, c, o]; GRU columns are
[z, r, h] (update, reset, candidate); with `reset_after` the GRU bias is (2, 3u): row 0 for the
input projection, row 1 for the recurrent one.
"""

from __future__ import annotations

from typing import Any

from ...layout import BIAS, GRU_GATES, KERNEL, LSTM_GATES, RECURRENT, RNN_GATES, LayerLayout, Outputs, Weight
from ...model import Shape
from ..base import Arg, Ctx, Kind, LayerProblem
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


def _rnn(gates: tuple[str, ...]) -> Any:
    n_states = 2 if gates == LSTM_GATES else 1  # LSTM: [h, c]; GRU, SimpleRNN: [h]

    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Outputs]:
        if shape is None or len(shape) != 2:
            known_shape(shape, 2, "a sequence (timesteps, features)")  # raises, saying why
        steps, features = shape  # type: ignore[misc]
        if features is None:
            raise LayerProblem(f"the features axis of its input {shape_str((steps, features))} must be known")
        rows = 2 if a.get("reset_after") else 1
        weights = gated_weights(features, a["units"], gates, a["use_bias"], rows)
        out = (steps, a["units"]) if a["return_sequences"] else (a["units"],)
        return weights, with_states(out, ((a["units"],),) * n_states, a["return_state"])

    return build


def with_states(out: Shape, states: tuple[Shape, ...], returned: bool) -> Outputs:
    """A recurrent layer's output, and its states (returned after it with return_state)."""
    return Outputs((out, *states) if returned else (out,), out, states)


def _bidirectional(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None | Outputs]:
    return mirror(ctx.nested("layer", shape), a)


def mirror(inner: LayerLayout, a: dict[str, Any]) -> tuple[list[Weight], Shape | None | Outputs]:
    """Bidirectional: the wrapped layer twice (forward_<name>/, backward_<name>/), outputs merged.

    Its states are the forward layer's then the backward layer's; with the wrapped layer's
    return_state they follow the output (both outputs, with merge_mode None), as Keras returns them.
    """
    if not inner.recurrent:
        raise LayerProblem(f"wraps a recurrent layer (LSTM, GRU, SimpleRNN, ConvLSTM*), got {inner.type}", "layer")
    # Keras names the copies "forward_" + name without a leading "forward_", and "backward_" + name
    # without a leading "backward_" (so a saved forward_lstm has a backward_forward_lstm twin)
    weights = [w._replace(name=f"{d}_{inner.name.removeprefix(d + '_')}/{w.name}", direction=d)
               for d in ("forward", "backward") for w in inner.weights]
    out = inner.output_shape
    if out is None:
        return weights, None
    states = inner.states * 2
    returned = states if len(inner.outputs) > 1 else ()
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


KINDS: list[Kind] = [
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
]
