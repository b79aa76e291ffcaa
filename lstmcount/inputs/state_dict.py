"""PyTorch state_dict files (or checkpoints holding one) -> a layout.

Loaded with `torch.load(weights_only=True)`: no code from the file runs. torch is imported only
here, when such a file is read.
"""

from __future__ import annotations

from typing import Any

from ..conventions import PYTORCH
from ..conventions.flags import RECURRENT
from ..errors import FrameworkMissing, Loc, SpecError, problem
from ..layout import LayerLayout, ModelLayout, Weight
from ..model import LayerFlags, LayerSpec


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise FrameworkMissing("PyTorch", "torch") from None
    return torch


BUFFERS = ("running_mean", "running_var", "num_batches_tracked")



def state_dict_modules(path: str) -> list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]]:
    """The file's tensors by module: (module path, (class, arguments) if recognised, {name: tensor}).

    Loaded with `torch.load(weights_only=True)`: no code from the file runs. A module is recognised
    when the PyTorch table, given the inferred arguments, lays out exactly the tensors it holds.
    """
    torch = _torch()
    loc = Loc(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except Exception as exc:  # an unpickling refusal, a corrupt zip, not a torch file at all
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError([problem(loc, None, f"not a PyTorch state_dict torch.load(weights_only=True) "
                                            f"accepts ({first[:200]})")]) from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    groups: dict[str, dict[str, Any]] = {}
    for key, tensor in (data.items() if isinstance(data, dict) else []):
        if hasattr(tensor, "shape"):
            prefix, _, leaf = str(key).rpartition(".")
            groups.setdefault(prefix, {})[leaf] = tensor
    if not groups:
        raise SpecError([problem(loc, None, "holds no tensors: not a state_dict")])
    out: list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]] = []
    for prefix, tensors in groups.items():
        shapes = {leaf: tuple(int(d) for d in t.shape) for leaf, t in tensors.items()}
        spec = _recognise(shapes, prefix)
        if spec is not None:
            built, _, _ = PYTORCH.build_layer(LayerSpec(spec[0], spec[1], len(out) + 1, loc, {}), None, "m", [])
            if built is None or {w.name: w.shape for w in built.weights} != shapes:
                spec = None
        out.append((prefix, spec, tensors))
    return out


def read_state_dict(path: str) -> ModelLayout:
    """A PyTorch state_dict (or a checkpoint holding one) as a layout: recognised modules described by
    the PyTorch table (per-gate breakdown), any other tensors listed as they are (buffers such as
    running statistics as non-trainable)."""
    return state_dict_layout(state_dict_modules(path), path)


def state_dict_layout(modules: list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]],
                      path: str) -> ModelLayout:
    layers: list[LayerLayout] = []
    for prefix, spec, tensors in modules:
        name = prefix or "(root)"
        if spec is not None:
            built, _, _ = PYTORCH.build_layer(LayerSpec(spec[0], spec[1], len(layers) + 1, Loc(path), {}), None,
                                             name, [])
            assert built is not None
            layers.append(built)
        else:
            layers.append(LayerLayout(name, "tensors", tuple(
                Weight(leaf, tuple(int(d) for d in t.shape), trainable=leaf not in BUFFERS)
                for leaf, t in tensors.items())))
    return ModelLayout("pytorch", path, None, tuple(layers))


def state_dict_flags(modules: list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]]
                      ) -> dict[str, LayerFlags]:
    """The `params` flags of each recognised LSTM/GRU/RNN (or cell) module, by module name."""
    out = {}
    for prefix, spec, _ in modules:
        kind = RECURRENT.get(spec[0].removesuffix("Cell")) if spec is not None else None
        if spec is None or kind is None:
            continue
        args = spec[1]
        out[prefix or "(root)"] = LayerFlags(kind, "pytorch", args["hidden_size"], args["input_size"],
                                             bool(args.get("bidirectional")), args.get("num_layers", 1),
                                             args["bias"], None, args.get("proj_size") or None)
    return out


def _recognise(params: dict[str, tuple[int, ...]], prefix: str = "") -> tuple[str, dict[str, Any]] | None:
    """(class, arguments) of the PyTorch module these tensors look like, or None."""
    if "weight_ih_l0" in params and "weight_hh_l0" in params:
        rows, inputs = params["weight_ih_l0"]
        hidden = params["weight_hr_l0"][1] if "weight_hr_l0" in params else params["weight_hh_l0"][1]
        gates = rows // hidden if hidden else 0
        kind = {4: "LSTM", 3: "GRU", 1: "RNN"}.get(gates)
        if kind is None:
            return None
        layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in params if "_l" in k)
        args: dict[str, Any] = {"input_size": inputs, "hidden_size": hidden, "num_layers": layers,
                                "bias": "bias_ih_l0" in params,
                                "bidirectional": any(k.endswith("_reverse") for k in params)}
        if "weight_hr_l0" in params:
            args["proj_size"] = params["weight_hr_l0"][0]
        return kind, args
    if "weight_ih" in params and "weight_hh" in params:
        rows, inputs = params["weight_ih"]
        hidden = params["weight_hh"][1]
        kind = {4: "LSTMCell", 3: "GRUCell", 1: "RNNCell"}.get(rows // hidden if hidden else 0)
        return (kind, {"input_size": inputs, "hidden_size": hidden, "bias": "bias_ih" in params}) if kind else None
    weight = params.get("weight")
    if set(params) <= {"weight", "bias"} and weight is not None:
        bias = params.get("bias")
        if len(weight) == 2 and bias is None and "emb" in prefix.rsplit(".", 1)[-1].lower():
            # a lone 2-D weight is an Embedding or a bias-free Linear (same count); the name decides
            return "Embedding", {"num_embeddings": weight[0], "embedding_dim": weight[1]}
        if len(weight) == 2 and (bias is None or bias == (weight[0],)):
            return "Linear", {"in_features": weight[1], "out_features": weight[0], "bias": bias is not None}
        if len(weight) == 1 and (bias is None or bias == weight):
            return "LayerNorm", {"normalized_shape": list(weight), "bias": bias is not None}
    return None
