"""TensorFlow 1.x cells (tensorflow/python/keras/layers/legacy_rnn/rnn_cell_impl.py).

LSTMCell: `kernel` [I + h, 4H] with the input rows first and the recurrent rows after (h = num_proj
or H), gate order i, j, f, o (j is the candidate: cell); `bias` [4H]; `forget_bias` (1.0) is added
at run time, not stored. Peepholes `w_f_diag`, `w_i_diag`, `w_o_diag` [H] and
`projection/kernel` [H, P] are extras. GRUCell: `gates/kernel` [I + H, 2H] (r, u) with
`gates/bias`, `candidate/kernel` [I + H, H] with `candidate/bias`. BasicRNNCell: `kernel`
[I + H, H], `bias` [H]. Stacks are MultiRNNCell `cell_k/`; both directions `fw/` and `bw/`
(tf.contrib's stack_bidirectional_rnn: layer k > 0 reads both directions' outputs, as in Keras and
PyTorch; `static_bidirectional_rnn` over two MultiRNNCells instead keeps each direction's stack
apart, a different model).
"""

from __future__ import annotations

from ..layout import BIAS, KERNEL, PEEPHOLE, PROJECTION, RECURRENT, LayerLayout, Weight
from ..model import LayerFlags

CELL = {"lstm": "lstm_cell", "gru": "gru_cell", "rnn": "basic_rnn_cell"}
TYPE = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "BasicRNNCell"}


def _fused(name: str, in_dim: int, rec: int, gates: tuple[str, ...], units: int, direction: str | None,
           depth: int | None) -> list[Weight]:
    rows = ((KERNEL, in_dim), (RECURRENT, rec))
    g = len(gates) * units
    return [Weight(f"{name}kernel", (in_dim + rec, g), KERNEL, 1, gates, True, direction, depth, None, rows),
            Weight(f"{name}bias", (g,), BIAS, 0, gates, True, direction, depth, terms=("input+recurrent",))]


def cell_weights(f: LayerFlags, in_dim: int, prefix: str, direction: str | None, depth: int | None) -> list[Weight]:
    h = f.units
    name = f"{prefix}{CELL[f.type]}/"
    if f.type == "lstm":
        out = f.proj_size or h
        weights = _fused(name, in_dim, out, ("input", "cell", "forget", "output"), h, direction, depth)
        if f.peepholes:
            weights += [Weight(f"{name}w_{g}_diag", (h,), PEEPHOLE, None, (gate,), True, direction, depth)
                        for g, gate in (("f", "forget"), ("i", "input"), ("o", "output"))]
        if f.proj_size:
            weights.append(Weight(f"{name}projection/kernel", (h, f.proj_size), PROJECTION, 1, direction=direction,
                                  depth=depth))
        return weights
    if f.type == "gru":
        return (_fused(f"{name}gates/", in_dim, h, ("reset", "update"), h, direction, depth)
                + _fused(f"{name}candidate/", in_dim, h, ("candidate",), h, direction, depth))
    return _fused(name, in_dim, h, ("hidden",), h, direction, depth)


def from_flags(f: LayerFlags) -> list[LayerLayout]:
    dirs: tuple[str | None, ...] = ("forward", "backward") if f.bidirectional else (None,)
    out = (f.proj_size or f.units) if f.type == "lstm" else f.units
    weights: list[Weight] = []
    for k in range(f.num_layers):
        in_dim = f.input if k == 0 else out * len(dirs)
        for d in dirs:
            prefix = ("" if d is None else ("fw/" if d == "forward" else "bw/")) + \
                (f"cell_{k}/" if f.num_layers > 1 else "")
            weights += cell_weights(f, in_dim, prefix, d, k if f.num_layers > 1 else None)
    # GRUCell applies the reset gate before the recurrent product (Keras reset_after=False)
    return [LayerLayout(CELL[f.type], TYPE[f.type], tuple(weights), None, True,
                        "reset_before" if f.type == "gru" else None)]
