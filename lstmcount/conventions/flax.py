"""Flax linen cells (flax/linen/recurrent.py): one Dense per gate and source.

LSTMCell (and OptimizedLSTMCell, same parameters): `ii, if, ig, io` kernels (I, H) without bias,
`hi, hf, hg, ho` kernels (H, H) with bias (H): 4H(I + H + 1). GRUCell: `ir, iz, in` kernels
(I, H) with bias, `hr, hz` kernels (H, H) without, `hn` kernel (H, H) with bias: 3H(I + H + 1) + H.
Kernels are stored in × out. Stacks `layers_k/`, directions `forward_rnn/` and `backward_rnn/`.
"""

from __future__ import annotations

from ..layout import BIAS, KERNEL, RECURRENT, LayerLayout, Weight
from ..spec import LayerFlags

# (param name, gate, has bias) for the input-side and the hidden-side Dense layers
LSTM = ((("ii", "input", False), ("if", "forget", False), ("ig", "cell", False), ("io", "output", False)),
        (("hi", "input", True), ("hf", "forget", True), ("hg", "cell", True), ("ho", "output", True)))
GRU = ((("ir", "reset", True), ("iz", "update", True), ("in", "candidate", True)),
       (("hr", "reset", False), ("hz", "update", False), ("hn", "candidate", True)))
CLASS = {"lstm": "LSTMCell", "gru": "GRUCell"}


def _term(kind: str, name: str) -> str:
    """Which bias term a Flax bias holds: GRU's `in` is the input candidate bias and `hn` the recurrent
    one (inside the reset product); every other bias is added once, both terms folded in one."""
    return {"in": "input", "hn": "recurrent"}.get(name, "input+recurrent") if kind == "gru" else "input+recurrent"


def from_flags(f: LayerFlags) -> list[LayerLayout]:
    table = LSTM if f.type == "lstm" else GRU
    dirs: tuple[str | None, ...] = ("forward", "backward") if f.bidirectional else (None,)
    h = f.units
    weights: list[Weight] = []
    for k in range(f.num_layers):
        in_dim = f.input if k == 0 else h * len(dirs)
        depth = k if f.num_layers > 1 else None
        for d in dirs:
            prefix = (f"layers_{k}/" if f.num_layers > 1 else "") + ("" if d is None else f"{d}_rnn/")
            for (side, role, rows) in ((table[0], KERNEL, in_dim), (table[1], RECURRENT, h)):
                for name, gate, bias in side:
                    weights.append(Weight(f"{prefix}{name}/kernel", (rows, h), role, None, (gate,), True, d, depth))
                    if bias:
                        weights.append(Weight(f"{prefix}{name}/bias", (h,), BIAS, None, (gate,), True, d, depth,
                                              terms=(_term(f.type, name),)))
    # GRUCell: n = tanh(in(x) + r * hn(h)), the reset gate after the recurrent product
    return [LayerLayout("cell", CLASS[f.type], tuple(weights), None, True, "reset_after" if f.type == "gru" else None)]
