"""Every input format, one module each, and the one way in.

- `yamlspec`: YAML model specs (chains and graphs), read with locations;
- `keras`: Keras model configs (`.keras` archives, `model.to_json()` files, legacy `.h5` files (h5py
  imported only there), live Keras objects), as graphs;
- `state_dict`: PyTorch state_dicts and checkpoints (torch imported only there);
- `onnx`: ONNX models (onnx imported only there);
- `flags`: a layer from the `params` flags.

Model descriptions (specs, Keras configs, flags) become a `Model`; tensor files (state_dicts, ONNX),
which say only what tensors they hold, become a layout directly. Nothing outside this package reads
a file format.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..model import MAX_BYTES, LayerFlags, Model

if TYPE_CHECKING:
    from ..layout import ModelLayout

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")
KERAS_SUFFIXES = (".keras", ".json", ".h5", ".hdf5")


def is_state_dict(path: str) -> bool:
    return path.endswith(STATE_DICT_SUFFIXES)


def is_onnx(path: str) -> bool:
    return path.endswith(".onnx")


def is_tensor_file(path: str) -> bool:
    """A file that holds tensors rather than a model description: a PyTorch state_dict or an ONNX model."""
    return is_state_dict(path) or is_onnx(path)


def read_text(path: str) -> tuple[str, str]:
    """Read a spec file (or `-` for standard input) -> (display name, text)."""
    if path == "-":
        if sys.stdin is None:
            raise UsageError("standard input is closed; give a spec file instead of -")
        try:
            raw = sys.stdin.buffer.read(MAX_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"standard input cannot be read ({exc.strerror or exc})") from None
        name = "<stdin>"
    else:
        name = path
        if os.path.isdir(path):
            raise UsageError(f"{path}: is a directory, not a model spec file")
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            raise UsageError(f"{path}: no such file") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MiB; not a model spec")
    if b"\x00" in raw:
        raise UsageError(f"{name}: binary data, not a YAML model spec")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise UsageError(f"{name}: empty file; a model spec needs at least `layers:`")
    return name, text


def load(path: str) -> Model:
    """A model from a YAML spec (or - for standard input), or from a Keras `.keras` archive,
    `model.to_json()` file or legacy `.h5` / `.hdf5` file."""
    if path != "-" and path.endswith(KERAS_SUFFIXES) and not os.path.isdir(path):
        from .keras import read_keras

        return read_keras(path)
    name, text = read_text(path)
    return loads(text, name)


def keras_object(obj: Any) -> Model:
    """A live Keras model or layer (Keras 3 or tf_keras), read through its `get_config()`: no weights
    are read and Keras is not imported here (the object's own Keras is already loaded)."""
    from .keras import from_object

    return from_object(obj)


def loads(text: str, name: str = "<string>") -> Model:
    """A model from the text of a YAML spec."""
    from .yamlspec import loads as yaml_loads

    return yaml_loads(text, name)


def from_flags(f: LayerFlags) -> Model:
    from .flags import model_from_flags

    return model_from_flags(f)


def read_tensor_file(path: str) -> ModelLayout:
    """A state_dict's or ONNX file's layout."""
    return tensor_file(path)[0]


def tensor_file(path: str) -> tuple[ModelLayout, dict[str, LayerFlags]]:
    """A state_dict's or ONNX file's layout, and the `params` flags of its recognised LSTM/GRU/RNN
    layers by layer name, from one read of the file."""
    if is_onnx(path):
        from .onnx import onnx_groups, onnx_layout, onnx_model

        groups = onnx_groups(onnx_model(path))
        return onnx_layout(groups, path), {g.name: g.flags for g in groups if g.flags is not None}
    from .state_dict import state_dict_flags, state_dict_layout, state_dict_modules

    modules = state_dict_modules(path)
    return state_dict_layout(modules, path), state_dict_flags(modules)


def tensor_arrays(path: str) -> dict[str, Any]:
    """Every tensor of a state_dict or ONNX file as a NumPy array, by its key or initializer name."""
    if is_onnx(path):
        from onnx import numpy_helper

        from .onnx import onnx_model

        model = onnx_model(path)
        return {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    from .state_dict import state_dict_modules

    return {(f"{prefix}.{leaf}" if prefix else leaf): tensor.detach().cpu().numpy()
            for prefix, _, tensors in state_dict_modules(path) for leaf, tensor in tensors.items()}
