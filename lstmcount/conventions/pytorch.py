"""PyTorch (torch.nn): each module's arguments and parameters.

Gate orders, from torch.nn's documentation and kernels: LSTM rows of weight_ih are
[i, f, g, o] (input, forget, cell, output); GRU rows are [r, z, n] (reset, update, candidate).
Every gate has two biases, b_ih and b_hh. With proj_size > 0 an LSTM adds weight_hr
(proj_size, hidden_size) and its recurrent weight takes the projected state.
"""

from __future__ import annotations

from typing import Any

from ..layout import BIAS, GRU_GATES, KERNEL, LSTM_GATES, PROJECTION, RECURRENT, RNN_GATES, Weight
from ..model import MAX_DEPTH_LAYERS, Shape
from .base import REQUIRED, Arg, Ctx, Framework, Kind, LayerProblem

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


def _dropout(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    return [], None


RNN_ARGS: dict[str, Arg] = {
    "input_size": POS, "hidden_size": POS, "num_layers": Arg("int", 1, min=1, max=MAX_DEPTH_LAYERS),
    "bias": Arg("bool", True),
    "batch_first": Arg("bool", False), "dropout": Arg("float", 0.0, min=0.0, max=1.0),
    "bidirectional": Arg("bool", False), "device": DEVICE, "dtype": ANY,
}
CELL_ARGS: dict[str, Arg] = {"input_size": POS, "hidden_size": POS, "bias": Arg("bool", True),
                             "device": DEVICE, "dtype": ANY}
NONLIN = Arg("choice", "tanh", choices=("tanh", "relu"))

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
    Kind("Dropout", {"p": Arg("float", 0.5, min=0.0, max=1.0), "inplace": Arg("bool", False)}, _dropout),
    Kind("LayerNorm", {"normalized_shape": Arg("shape", REQUIRED), "eps": Arg("float", 1e-5),
                       "elementwise_affine": Arg("bool", True), "bias": Arg("bool", True),
                       "device": DEVICE, "dtype": ANY}, _layer_norm),
]}

PYTORCH = Framework("pytorch", KINDS, {"name": Arg("str", None, nullable=True)}, aliases=("torch.nn.", "nn."),
                    tracks_shapes=False, reject={"dtype": DTYPE_NOTE})
