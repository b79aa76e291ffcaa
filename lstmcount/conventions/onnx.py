"""ONNX LSTM / GRU / RNN operators (onnx/defs/rnn/defs.cc, opset 22).

W [D, G·H, I], R [D, G·H, H], B [D, 2·G·H] = [Wb | Rb]; D = num_directions (forward then
backward along axis 0). Gate orders: LSTM i, o, f, c; GRU z, r, h. LSTM peepholes P [D, 3H]
(i, o, f along axis 1) belong to no gate block of W/R/B and are counted as extras. GRU `linear_before_reset`
changes the arithmetic, not the count: 1 is reset_after (PyTorch's GRU, and what lstmcount assumes
unless told --no-reset-after), 0 (the operator's default) is reset_before. One operator per
stacked layer.
"""

from __future__ import annotations

from ..layout import BIAS, KERNEL, PEEPHOLE, RECURRENT, RNN_GATES, LayerLayout, Weight
from ..model import LayerFlags

GATES = {"lstm": ("input", "output", "forget", "cell"), "gru": ("update", "reset", "candidate"), "rnn": RNN_GATES}
OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
PEEPHOLES = ("input", "output", "forget")  # P's blocks: no gate block of W, R, B, so an extra
# Each weight's shape in the operator's own words ({g}: the gate count), for messages about files
SHAPES = {"W": "[num_directions, {g}*hidden_size, input_size]", "R": "[num_directions, {g}*hidden_size, hidden_size]",
          "B": "[num_directions, 2*{g}*hidden_size]", "P": "[num_directions, 3*hidden_size]"}


def from_flags(f: LayerFlags) -> list[LayerLayout]:
    gates = GATES[f.type]
    d = 2 if f.bidirectional else 1
    g = len(gates) * f.units
    axis = 0  # num_directions leads every tensor, 1 or 2
    layers = []
    for k in range(f.num_layers):
        in_dim = f.input if k == 0 else d * f.units
        weights = [Weight("W", (d, g, in_dim), KERNEL, 1, gates, direction_axis=axis),
                   Weight("R", (d, g, f.units), RECURRENT, 1, gates, direction_axis=axis)]
        if f.bias:
            weights.append(Weight("B", (d, 2 * g), BIAS, 1, gates + gates, direction_axis=axis,
                                  terms=("input", "recurrent")))
        if f.peepholes:
            weights.append(Weight("P", (d, 3 * f.units), PEEPHOLE, 1, PEEPHOLES, direction_axis=axis))
        name = f"{OP[f.type].lower()}" + (f"_{k}" if k else "")
        variant = None if f.type != "gru" else "reset_before" if f.reset_after is False else "reset_after"
        layers.append(LayerLayout(name, OP[f.type], tuple(weights), None, True, variant))
    return layers
