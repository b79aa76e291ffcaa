"""Every input format, one module each, and the one way in.

- `yamlspec`: YAML model specs (chains and graphs), read with locations;
- `keras`: Keras model configs (`.keras` archives, `model.to_json()` files, legacy `.h5` files (h5py
  imported only there), live Keras objects), as graphs;
- `state_dict`: PyTorch state_dicts and checkpoints (torch imported only there);
- `torch_module`: live torch.nn.Module objects (read through the same grouping as state_dicts);
- `onnx`: ONNX models (onnx imported only there);
- `expression`: layer expressions (`LSTM(75, input_shape=(28, 28))`), read with `ast`, never evaluated;
- `flags`: a layer from the `params` flags.

Model descriptions (specs, Keras configs, flags) become a `Model`; tensor files (state_dicts, ONNX)
and live torch modules, which say what tensors they hold, become a layout directly. A file is
recognised by its content (`sniff`), whatever its name. Nothing outside this package reads a file format.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..model import MAX_BYTES, LayerFlags, Model
from . import files

if TYPE_CHECKING:
    from ..layout import ModelLayout

# A file is recognised by its first bytes; a name only where the content says nothing (ONNX's protobuf
# has no signature) or to keep a file's error in its format's words (a broken .pt is torch's to explain).
PYTORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar", ".pkl")
ONNX_SUFFIXES = (".onnx",)
KERAS_SUFFIXES = (".keras", ".json")
HDF5_SUFFIXES = (".h5", ".hdf5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
LEGACY_MAGIC = bytes.fromhex("6cfc9c46f9206aa85019")  # torch < 1.6 files: a pickle opening with this number
SNIFF_BYTES = 4096


# Formats lstmcount does not read, each recognised so its refusal names it: (test, what it is).
SAVE_KERAS = "save the model as .keras or .h5 (model.save('model.keras')) to count it"
_FOREIGN = "lstmcount counts models from YAML specs, Keras files, PyTorch checkpoints and ONNX"
TF_CHECKPOINT = re.compile(r"\.(index|data-\d{5}-of-\d{5})$")
SAVED_MODEL = ("saved_model.pb", "saved_model.pbtxt")


def foreign(path: str, head: bytes, names: list[str] | None = None) -> str | None:
    """What a file (or directory) in a format lstmcount does not read is, and what to do, or None.
    `head`: its first bytes; `names`: a zip's member names."""
    base = os.path.basename(path.rstrip("/\\")).lower()
    if os.path.isdir(path):
        if any(os.path.isfile(os.path.join(path, n)) for n in SAVED_MODEL):
            return f"a TensorFlow SavedModel directory: {SAVE_KERAS}"
        return None
    if base in SAVED_MODEL:
        return f"a TensorFlow SavedModel's graph ({base}): {SAVE_KERAS}"
    if TF_CHECKPOINT.search(base):
        return ("a TensorFlow checkpoint (tf.train.Checkpoint or save_weights): weights without the model's "
                f"configuration; {SAVE_KERAS}")
    if head[4:8] == b"TFL3":
        return f"a TensorFlow Lite model (a TFL3 flatbuffer), which lstmcount does not read; {_FOREIGN}"
    if head[:4] == b"GGUF":
        return f"a GGUF file (llama.cpp's tensors), which lstmcount does not read; {_FOREIGN}"
    if head[:6] == b"\x93NUMPY":
        return f"a NumPy array file (.npy): one array, not a model; {_FOREIGN}"
    if names and all(n.endswith(".npy") for n in names):
        return f"a NumPy .npz archive of arrays, not a model; {_FOREIGN}"
    if len(head) > 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= 100_000_000:
        return f"a safetensors file (tensors by name), which lstmcount does not count yet; {_FOREIGN}"
    if base.endswith(".pb"):
        return (f"a TensorFlow graph (.pb, e.g. a frozen GraphDef), which lstmcount does not read; {SAVE_KERAS}, or "
                "export ONNX")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") \
            and not base.endswith(PYTORCH_SUFFIXES):
        return ("a Python pickle that is not a PyTorch checkpoint; lstmcount never unpickles arbitrary objects "
                "(save a PyTorch model's state_dict with torch.save)")
    return None


def sniff(path: str) -> str:
    """What a file holds, from its content: `pytorch` (a torch >= 1.6 zip holding */data.pkl, or the
    legacy pickle format), `keras` (a zip holding config.json, or model.to_json() text), `hdf5`,
    `onnx` (by its .onnx name: protobuf has no signature), `foreign` (a format lstmcount does not read,
    which `foreign` names), or `text` (a YAML spec; also what cannot be read, for the text reader to
    explain)."""
    if path == "-":
        return "text"
    if os.path.isdir(path) and foreign(path, b""):
        return "foreign"
        return "text"
    head = files.head(path, SNIFF_BYTES)  # None for what cannot be read: the text reader says why
    if head is None:
        return "text"
    lower = path.lower()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        first = head[30:30 + int.from_bytes(head[26:28], "little")]  # the first member's name
        if first == b"data.pkl" or first.endswith(b"/data.pkl"):  # torch.save writes its pickle first
            return "pytorch"
        names = _zip_names(path)
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return "pytorch"
        if "config.json" in names:
            return "keras"
        if foreign(path, head, names):
            return "foreign"
    if head[:1] == b"\x80" and LEGACY_MAGIC in head[:32]:
        return "pytorch"
    if head.startswith(HDF5_SIGNATURE) or lower.endswith(HDF5_SUFFIXES):  # by name: h5py says what is wrong
        return "hdf5"
    if not head.startswith(b"PK") and foreign(path, head):
        return "foreign"
    if lower.endswith(ONNX_SUFFIXES):
        return "onnx"
    if lower.endswith(PYTORCH_SUFFIXES):
        return "pytorch"
    text = head.lstrip()
    if lower.endswith(KERAS_SUFFIXES) or (text.startswith(b"{") and b'"class_name"' in head):
        return "keras"
    return "text"


def _zip_names(path: str) -> list[str]:
    """A zip file's member names; none when it is not a zip, or when its directory is larger than any
    reader here reads (zipfile would make an object of each entry; the reader says what is wrong)."""
    import zipfile

    try:
        with files.zip_archive(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, UsageError):  # the format's reader says what is wrong
        return []


def is_state_dict(path: str) -> bool:
    return sniff(path) == "pytorch"


def is_onnx(path: str) -> bool:
    return sniff(path) == "onnx"


def is_tensor_file(path: str) -> bool:
    """A file that holds tensors rather than a model description: a PyTorch checkpoint, an ONNX model or
    a Keras weights-only HDF5 file (save_weights; h5py imported for HDF5 files only)."""
    what = sniff(path)
    return what in ("pytorch", "onnx") or (what == "hdf5" and _keras_weights(path))


def _keras_weights(path: str) -> bool:
    from .keras_weights import is_weights_file

    return is_weights_file(path)


def is_expression(arg: str) -> bool:
    """A layer expression (`LSTM(75, input_shape=(28, 28))`) rather than a file: it has a call's
    parenthesis and names no existing file."""
    return "(" in arg and not os.path.exists(arg)


def read_text(path: str) -> tuple[str, str]:
    """Read a spec file (or `-` for standard input, or a pipe) -> (display name, text)."""
    name = files.display(path)
    raw = files.read_bytes(path, MAX_BYTES, "a model spec")
    if b"\x00" in raw:
        raise UsageError(f"{name}: binary data, not a YAML model spec (nor a file lstmcount recognises by its "
                         "content: a PyTorch checkpoint, a Keras .keras archive, HDF5; ONNX files are named .onnx)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise UsageError(f"{name}: empty file; a model spec needs at least `layers:`")
    return name, text


def load(path: str, key: str | None = None, features: int | None = None, framework: str | None = None) -> Model:
    """A model from a YAML spec (or - for standard input), a Keras `.keras` archive, `model.to_json()`
    file or legacy HDF5 (`.h5`) file, or a layer expression. `features` and `framework` (--input and -f)
    are for an expression: the input features where it gives none, the framework of class names without
    a module prefix. `key` (a checkpoint's entry) is refused: a model description has none."""
    if is_expression(path):
        from .expression import loads as expression_loads

        return expression_loads(path, features, framework)
    if features is not None or framework is not None:
        raise UsageError(f"{path}: --input and -f describe a layer expression or a layer from flags; a model "
                         "file says its own input and framework")
    if key is not None:
        raise UsageError(f"{path}: --key picks an entry of a PyTorch checkpoint; this is a model description")
    what = sniff(path)
    if what == "foreign":
        said = foreign(path, files.head(path, SNIFF_BYTES) or b"", _zip_names(path))
        raise UsageError(f"{path}: {said}")
    if what == "keras":
        if path.lower().endswith(".keras") or not _zip_names(path):
            from .keras import read_keras

            if path.lower().endswith(".keras"):
                files.regular_file(path, "a Keras archive")
            return read_keras(path)
        raise UsageError(f"{path}: a Keras archive (a zip holding config.json); lstmcount reads it when its name "
                         "ends in .keras")
    if what == "hdf5":  # a legacy Keras model file (h5py imported there)
        from .keras import read_keras

        files.regular_file(path, "an HDF5 file")
        return read_keras(path, hdf5=True)
    if what in ("pytorch", "onnx"):
        raise UsageError(f"{path}: a {'PyTorch checkpoint' if what == 'pytorch' else 'ONNX model'} holds tensors, "
                         "not a model description")
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


def with_expect(path: str) -> Model | None:
    """The spec at `path` if it is one with a top-level `expect:` block, else None. For checking a
    repository's files: YAML that is not such a spec (a CI workflow, an empty file, YAML with tags the
    spec reader refuses) is passed over; a file whose text never says `expect` is not even parsed."""
    raw = files.read_bytes(path, MAX_BYTES, "a model spec")
    if not raw.strip():
        return None  # an empty file
    name, text = read_text(path)
    if "expect" not in text:
        return None
    from ..errors import SpecError
    from .yamlfile import parse_yaml
    from .yamlspec import model_from_data

    try:
        data = parse_yaml(text, name)
    except SpecError:
        if re.search(r"(?m)^expect\s*:", text):  # a spec with an expect: block, and broken: say so
            raise
        return None
    if not isinstance(data, dict) or "expect" not in data:
        return None
    return model_from_data(data, name)


def from_flags(f: LayerFlags) -> Model:
    from .flags import model_from_flags

    return model_from_flags(f)


def read_tensor_file(path: str, key: str | None = None) -> ModelLayout:
    """A PyTorch checkpoint's, ONNX file's or Keras weights file's layout (`key`: one entry of a checkpoint)."""
    return tensor_file(path, key)[0]


def tensor_file(path: str, key: str | None = None) -> tuple[ModelLayout, dict[str, LayerFlags]]:
    """A PyTorch checkpoint's, ONNX file's or Keras weights file's layout, and the `params` flags of its
    recognised LSTM/GRU/RNN layers by layer name (none in a Keras weights file, which does not say what its
    layers are), from one read of the file."""
    what = _tensor_source(path)
    if what == "hdf5":
        if key is not None:
            raise UsageError(f"{path}: --key picks an entry of a PyTorch checkpoint; a Keras weights file has none")
        from .keras_weights import weights_layout

        return weights_layout(path), {}
    if what == "onnx":
        _no_key(path, key)
        from .onnx import onnx_groups, onnx_layout, onnx_model

        groups = onnx_groups(onnx_model(path), path)
        return onnx_layout(groups, path), {g.name: g.flags for g in groups if g.flags is not None}
    from .state_dict import checkpoint_flags, checkpoint_layout, read_checkpoint

    ck = read_checkpoint(path, key)
    return checkpoint_layout(ck), checkpoint_flags(ck)


def checkpoint(path: str, key: str | None = None) -> tuple[Any, ModelLayout]:
    """A PyTorch file's modules and tied tensors (a `state_dict.Checkpoint`: what verify builds), and
    its layout."""
    from .state_dict import checkpoint_layout, read_checkpoint

    _tensor_source(path)
    ck = read_checkpoint(path, key)
    return ck, checkpoint_layout(ck)


def tensor_arrays(path: str, key: str | None = None, names: Collection[str] | None = None) -> dict[str, Any]:
    """Every tensor of a checkpoint or ONNX file as a NumPy array, by its full key or initializer name
    (of an ONNX file only `names`, when given: its other initializers are not read)."""
    if _tensor_source(path) == "onnx":
        _no_key(path, key)
        from .onnx import onnx_arrays

        return onnx_arrays(path, names)
    from .state_dict import checkpoint_arrays, read_checkpoint

    return checkpoint_arrays(read_checkpoint(path, key), names)


def _tensor_source(path: str) -> str:
    """What a tensor file holds (`onnx`, `hdf5` for a Keras weights file, or `pytorch`), once it is known
    to be a regular file that its reader may open (not a pipe: sniff has read it already)."""
    what = sniff(path)
    files.regular_file(path, {"onnx": "an ONNX model", "hdf5": "a Keras weights file"}.get(what, "a PyTorch "
                                                                                            "checkpoint"))
    return what


def _no_key(path: str, key: str | None) -> None:
    if key is not None:
        raise UsageError(f"{path}: --key picks an entry of a PyTorch checkpoint; an ONNX model has none")


def live(obj: Any) -> ModelLayout | None:
    """A live model object's layout (a torch.nn.Module), or None when it is not one lstmcount reads.
    Only the object's own framework is touched: torch is looked up, never imported."""
    torch = sys.modules.get("torch")
    nn = getattr(torch, "nn", None)
    if nn is None or not isinstance(obj, nn.Module):
        return None
    from .torch_module import module_layout

    return module_layout(obj)
