"""Keras 2's CuDNNLSTM / CuDNNGRU (tensorflow/python/keras/layers/cudnn_recurrent.py).

kernel (I, G·H), recurrent_kernel (H, G·H) shaped as in Keras, but each gate block goes to cuDNN
flattened row by row (`_canonical_to_params` reshapes it to -1, untransposed), so the block's
elements, read row by row, are cuDNN's (H, I) or (H, H) matrix ("packed"); Keras's own loader
(hdf5_format._convert_rnn_weights) converts them that way. One flat bias of both biases:
(8H,) = [input i, f, c, o | recurrent i, f, c, o] for LSTM, (6H,) = [input z, r, h | recurrent
z, r, h] for GRU (passed to cuDNN as r, z, h). Always biased. Both directions through
Bidirectional (forward_/backward_).
"""

from __future__ import annotations

from ..layout import BIAS, GRU_GATES, KERNEL, LSTM_GATES, RECURRENT, LayerLayout, Weight
from ..model import LayerFlags
from .base import snake

GATES = {"lstm": LSTM_GATES, "gru": GRU_GATES}
CLASS = {"lstm": "CuDNNLSTM", "gru": "CuDNNGRU"}


def cudnn_weights(in_dim: int, units: int, gates: tuple[str, ...], prefix: str = "",
                  direction: str | None = None) -> list[Weight]:
    """A CuDNNLSTM's or CuDNNGRU's kernel, recurrent_kernel and its one bias of both biases (Keras 2's
    cudnn_lstm.py / cudnn_gru.py build: bias (8H,) or (6H,), the input gates' then the recurrent ones')."""
    g = len(gates) * units
    return [Weight(f"{prefix}kernel", (in_dim, g), KERNEL, 1, gates, True, direction, packed=True),
            Weight(f"{prefix}recurrent_kernel", (units, g), RECURRENT, 1, gates, True, direction, packed=True),
            Weight(f"{prefix}bias", (2 * g,), BIAS, 0, gates + gates, True, direction, terms=("input", "recurrent"))]


def from_flags(f: LayerFlags) -> list[LayerLayout]:
    gates = GATES[f.type]
    base = snake(CLASS[f.type])
    dirs: tuple[str | None, ...] = ("forward", "backward") if f.bidirectional else (None,)
    layers = []
    for k in range(f.num_layers):
        in_dim = f.input if k == 0 else f.units * len(dirs)
        name = base if k == 0 else f"{base}_{k}"
        weights = []
        for d in dirs:
            weights += cudnn_weights(in_dim, f.units, gates, "" if d is None else f"{d}_{base}/", d)
        layers.append(LayerLayout(name if d is None else f"bidirectional_{k}" if k else "bidirectional",
                                  CLASS[f.type] if d is None else "Bidirectional", tuple(weights), None, True,
                                  "reset_after" if f.type == "gru" else None))  # cuDNN: r * (R h + Rb)
    return layers
