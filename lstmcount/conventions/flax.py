"""Flax linen cells (flax/linen/recurrent.py, checked with flax 0.12.8): one Dense per gate and side.

LSTMCell (and OptimizedLSTMCell, same parameters): `ii, if, ig, io` kernels (I, H) without bias,
`hi, hf, hg, ho` kernels (H, H) with bias (H): 4H(I + H + 1). GRUCell: `ir, iz, in` kernels
(I, H) with bias, `hr, hz` kernels (H, H) without, `hn` kernel (H, H) with bias: 3H(I + H + 1) + H;
its candidate is tanh(in(x) + r * hn(h)), the reset gate after the recurrent product (reset_after).
SimpleCell: `i` kernel (I, H) with bias, `h` kernel (H, H) without. Kernels are stored in × out;
params are listed in Flax's own order (per gate, input side then hidden side).

Paths under variables["params"], as nn.RNN names them: `cell/ii/kernel`; nn.Bidirectional adds
`forward_rnn/` and `backward_rnn/`; a stack kept as a list attribute `layers` in setup() adds
`layers_k/`. Code that builds cells inline in an @nn.compact method gets `LSTMCell_k/` or
`RNN_k/cell/` instead: the prefix is the user's; the parameters under it are these.
"""

from __future__ import annotations

from ..layout import BIAS, KERNEL, RECURRENT, LayerLayout, Weight
from ..model import LayerFlags

# per gate: (input-side Dense, its bias?), (hidden-side Dense, its bias?)
GATES = {
    "lstm": (("input", ("ii", False), ("hi", True)), ("forget", ("if", False), ("hf", True)),
             ("cell", ("ig", False), ("hg", True)), ("output", ("io", False), ("ho", True))),
    "gru": (("reset", ("ir", True), ("hr", False)), ("update", ("iz", True), ("hz", False)),
            ("candidate", ("in", True), ("hn", True))),
    "rnn": (("hidden", ("i", True), ("h", False)),),
}
CLASS = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "SimpleCell"}


def _term(kind: str, name: str) -> str:
    """Which bias term a Flax bias holds: GRU's `in` is the input candidate bias and `hn` the recurrent
    one (inside the reset product); every other bias is added once, both terms folded in one."""
    return {"in": "input", "hn": "recurrent"}.get(name, "input+recurrent") if kind == "gru" else "input+recurrent"


def from_flags(f: LayerFlags) -> list[LayerLayout]:
    dirs: tuple[str | None, ...] = ("forward", "backward") if f.bidirectional else (None,)
    h = f.units
    weights: list[Weight] = []
    for k in range(f.num_layers):
        in_dim = f.input if k == 0 else h * len(dirs)
        depth = k if f.num_layers > 1 else None
        for d in dirs:
            prefix = (f"layers_{k}/" if f.num_layers > 1 else "") + ("" if d is None else f"{d}_rnn/") + "cell/"
            for gate, *sides in GATES[f.type]:
                for (name, bias), role, rows in zip(sides, (KERNEL, RECURRENT), (in_dim, h), strict=True):
                    weights.append(Weight(f"{prefix}{name}/kernel", (rows, h), role, None, (gate,), True, d, depth))
                    if bias:
                        weights.append(Weight(f"{prefix}{name}/bias", (h,), BIAS, None, (gate,), True, d, depth,
                                              terms=(_term(f.type, name),)))
    variant = "reset_after" if f.type == "gru" else None
    return [LayerLayout("params", CLASS[f.type], tuple(weights), None, True, variant)]
