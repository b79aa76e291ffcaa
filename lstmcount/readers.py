"""Real Keras model files as input: a `.keras` archive or a `model.to_json()` file.

Only the stored configuration is read (zipfile + json): TensorFlow is never imported, and the
weights file is not needed to count. The result is the same Model a YAML spec gives.
"""

from __future__ import annotations

import json
import zipfile
from typing import Any, NamedTuple

from .errors import Loc, SpecError, problem
from .spec import MAX_BYTES, LayerFlags, LayerSpec, Model

# Serialization-only entries of a layer config that are not constructor arguments.
DROP = ("zero_output_for_mask", "build_config", "compile_config", "shared_object_id")


def read_keras(path: str) -> Model:
    loc = Loc(path)
    data = _config(path, loc)
    if not isinstance(data, dict) or data.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise SpecError([problem(loc, None, "not a Keras model file: expected a Sequential or Functional "
                                            "model configuration")])
    config = data.get("config") or {}
    entries = config.get("layers")
    if not isinstance(entries, list):
        raise SpecError([problem(loc, None, "the model configuration has no `layers` list")])
    if data["class_name"] != "Sequential":
        _check_chain(entries, config, loc)
    input_shape = config.get("build_input_shape")
    layers: list[LayerSpec] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            raise SpecError([problem(loc, None, f"a layer entry is not a Keras layer config: {str(entry)[:80]}")])
        if entry.get("class_name") == "InputLayer":
            input_shape = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
            continue
        layers.append(LayerSpec(str(entry.get("class_name")), _args(entry), len(layers) + 1, loc, {}))
    if not isinstance(input_shape, list) or not input_shape:
        raise SpecError([problem(loc, None, "the model configuration does not say its input shape "
                                            "(no InputLayer and no build_input_shape)")])
    return Model("keras", tuple(layers), tuple(input_shape[1:]), None, config.get("name"), None, path,
                 {"layers": loc, "input_shape": loc})


def _config(path: str, loc: Loc) -> Any:
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                info = archive.getinfo("config.json")
                if info.file_size > MAX_BYTES:
                    raise SpecError([problem(loc, None, "config.json is larger than 16 MiB")])
                return json.loads(archive.read(info))
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise SpecError([problem(loc, None, "larger than 16 MiB; not a model file")])
        return json.loads(raw)
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except KeyError:
        raise SpecError([problem(loc, None, "not a Keras archive: it has no config.json")]) from None
    except zipfile.BadZipFile:
        raise SpecError([problem(loc, None, "not a .keras archive (not a zip file)")]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError([problem(loc, None, f"not valid JSON ({exc})")]) from None
    except RecursionError:
        raise SpecError([problem(loc, None, "JSON nested too deeply")]) from None
    except OSError as exc:
        raise SpecError([problem(loc, None, f"cannot be read ({exc.strerror or exc})")]) from None


def _check_chain(entries: list[Any], config: dict[str, Any], loc: Loc) -> None:
    """A functional model is counted when it is a chain: each layer reads the one before it."""
    previous = None
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = (entry.get("config") or {}).get("name") or entry.get("name")
        nodes = entry.get("inbound_nodes") or []
        sources = [arg.get("config", {}).get("keras_history", [None])[0]
                   for node in nodes if isinstance(node, dict) for arg in node.get("args", [])
                   if isinstance(arg, dict)]
        if previous is not None and sources != [previous]:
            raise SpecError([problem(loc, None, f"layer {name!r} reads {sources or 'nothing'}, not just {previous!r}: "
                                                "only models that are a single chain of layers can be counted yet")])
        previous = name


def _args(entry: dict[str, Any]) -> dict[str, Any]:
    """A layer config as constructor arguments: dtype policies as names, nested layers as specs."""
    args: dict[str, Any] = {}
    for key, value in entry["config"].items():
        if key in DROP:
            continue
        if key == "dtype" and isinstance(value, dict):
            value = (value.get("config") or {}).get("name")
        elif key in ("layer", "backward_layer") and isinstance(value, dict) and "class_name" in value:
            value = {"type": value["class_name"], **_args(value)}
        elif isinstance(value, dict):
            value = _clean(value)
        args[key] = value
    backward = args.get("backward_layer")
    if isinstance(backward, dict) and _mirrors(backward, args.get("layer")):
        del args["backward_layer"]  # Keras 3 stores the mirrored backward layer it made itself
    return args


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) if isinstance(v, dict) else v for k, v in value.items() if k not in DROP}


def _mirrors(backward: dict[str, Any], forward: Any) -> bool:
    if not isinstance(forward, dict):
        return False
    ignore = {"name", "go_backwards"}
    return {k: v for k, v in backward.items() if k not in ignore} == \
        {k: v for k, v in forward.items() if k not in ignore}


# --- PyTorch state_dict files ---------------------------------------------------------------------

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def is_state_dict(path: str) -> bool:
    return path.endswith(STATE_DICT_SUFFIXES)


def state_dict_modules(path: str) -> list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]]:
    """The file's tensors by module: (module path, (class, arguments) if recognised, {name: tensor}).

    Loaded with `torch.load(weights_only=True)`: no code from the file runs. A module is recognised
    when the PyTorch table, given the inferred arguments, lays out exactly the tensors it holds.
    """
    from .bridges.torch import load as load_torch
    from .conventions import PYTORCH

    torch = load_torch()
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


def read_state_dict(path: str) -> Any:
    """A PyTorch state_dict (or a checkpoint holding one) as a layout: recognised modules described by
    the PyTorch table (per-gate breakdown), any other tensors listed as they are (buffers such as
    running statistics as non-trainable)."""
    return _state_dict_layout(state_dict_modules(path), path)


def _state_dict_layout(modules: list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]],
                       path: str) -> Any:
    from .conventions import PYTORCH
    from .layout import LayerLayout, ModelLayout, Weight

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


def _state_dict_flags(modules: list[tuple[str, tuple[str, dict[str, Any]] | None, dict[str, Any]]]
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


# --- ONNX files ------------------------------------------------------------------------------------

# ONNX operators and PyTorch modules share these names
RECURRENT = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}


def is_onnx(path: str) -> bool:
    return path.endswith(".onnx")


def onnx_model(path: str) -> Any:
    try:
        import onnx
    except ImportError:
        from .errors import FrameworkMissing

        raise FrameworkMissing("ONNX", "onnx") from None
    loc = Loc(path)
    try:
        return onnx.load(path, load_external_data=False)
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except Exception as exc:
        raise SpecError([problem(loc, None, f"not an ONNX model ({str(exc).splitlines()[0][:200]})")]) from None


class OnnxGroup(NamedTuple):
    """The initializers one node reads first: a recurrent node's W, R, B, P laid out by the ONNX table
    (`flags`, `layout`), or any other initializers as they are (`inputs` with their `shapes`)."""

    name: str
    type: str
    node: Any  # None for the initializers no node reads
    inputs: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    flags: LayerFlags | None = None
    layout: Any = None  # the LayerLayout of a recurrent node


def onnx_groups(model: Any) -> list[OnnxGroup]:
    """Every initializer under the first node that reads it. An LSTM/GRU/RNN node's weights are laid
    out by the ONNX table when their shapes are what it plans (units, input, directions, bias and
    peepholes read off W and R; GRU linear_before_reset from the node); its other initializer inputs
    (initial states, sequence lengths) form a group of their own. Initializers no node reads come last."""
    from .conventions import onnx as onnx_table

    shapes = {init.name: tuple(int(d) for d in init.dims) for init in model.graph.initializer}
    used: set[str] = set()
    groups: list[OnnxGroup] = []
    for index, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type.lower()}_{index}"
        inputs = [i for i in node.input if i in shapes and i not in used]
        if not inputs:
            continue
        if node.op_type in RECURRENT and len(node.input) >= 3 and node.input[1] in shapes and node.input[2] in shapes:
            w, r = shapes[node.input[1]], shapes[node.input[2]]
            extra = list(node.input) + [""] * 8
            linear = any(a.name == "linear_before_reset" and a.i for a in node.attribute)  # default 0
            flags = LayerFlags(RECURRENT[node.op_type], "onnx", r[2], w[2], w[0] == 2, 1, extra[3] in shapes,
                               linear if node.op_type == "GRU" else None, None, extra[7] in shapes)
            (planned,) = onnx_table.from_flags(flags)
            real = dict(zip(("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"), node.input,
                            strict=False))
            weights = tuple(wt._replace(name=real[wt.name]) for wt in planned.weights)
            if all(wt.shape == shapes.get(wt.name) for wt in weights):
                groups.append(OnnxGroup(name, node.op_type, node, tuple(wt.name for wt in weights),
                                        tuple(wt.shape for wt in weights), flags,
                                        planned._replace(name=name, weights=weights)))
                used.update(wt.name for wt in weights)
                inputs = [i for i in inputs if i not in used]
                if not inputs:
                    continue
                name = f"{name} (other inputs)"
        groups.append(OnnxGroup(name, node.op_type, node, tuple(inputs), tuple(shapes[i] for i in inputs)))
        used.update(inputs)
    rest = tuple(n for n in shapes if n not in used)
    if rest:
        groups.append(OnnxGroup("(unused initializers)", "tensors", None, rest, tuple(shapes[n] for n in rest)))
    return groups


def read_onnx(path: str) -> Any:
    """An ONNX model as a layout: each LSTM/GRU/RNN node laid out by the ONNX table (gate blocks of W,
    R, B, peepholes P) under its own initializer names; every other initializer listed under the
    node that reads it. Needs the `onnx` package (the `onnx` extra); external data is not loaded."""
    return _onnx_layout(onnx_groups(onnx_model(path)), path)


def _onnx_layout(groups: list[OnnxGroup], path: str) -> Any:
    from .layout import LayerLayout, ModelLayout, Weight

    return ModelLayout("onnx", path, None, tuple(
        g.layout if g.layout is not None else
        LayerLayout(g.name, g.type, tuple(Weight(i, shape) for i, shape in zip(g.inputs, g.shapes, strict=True)))
        for g in groups))


def tensor_file(path: str) -> tuple[Any, dict[str, LayerFlags]]:
    """A state_dict's or ONNX file's layout, and the `params` flags of its recognised LSTM/GRU/RNN
    layers by layer name, from one read of the file."""
    if is_onnx(path):
        groups = onnx_groups(onnx_model(path))
        return _onnx_layout(groups, path), {g.name: g.flags for g in groups if g.flags is not None}
    modules = state_dict_modules(path)
    return _state_dict_layout(modules, path), _state_dict_flags(modules)


def tensor_arrays(path: str) -> dict[str, Any]:
    """Every tensor of a state_dict or ONNX file as a NumPy array, by its key or initializer name."""
    if is_onnx(path):
        from onnx import numpy_helper

        model = onnx_model(path)
        return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    return {(f"{prefix}.{leaf}" if prefix else leaf): tensor.detach().cpu().numpy()
            for prefix, _, tensors in state_dict_modules(path) for leaf, tensor in tensors.items()}


def is_tensor_file(path: str) -> bool:
    """A file that holds tensors rather than a model description: a PyTorch state_dict or an ONNX model."""
    return is_state_dict(path) or is_onnx(path)


def read_tensor_file(path: str) -> Any:
    return read_onnx(path) if is_onnx(path) else read_state_dict(path)
