"""Keras model configs as input: a `.keras` archive, a `model.to_json()` file, a legacy `.h5` /
`.hdf5` file, or a live Keras model or layer (read through its `get_config()`), saved by Keras 3
or by Keras 2 (tf_keras).

Only the configuration is read (zipfile + json; h5py for HDF5 files, its `model_config` attribute
and never a weight array): no framework is imported, and the weights are not needed to count (but for
custom layers, below). A file is hostile until read: an archive's config.json comes through
`archive.read_member` (sizes checked first, inflated to at most 16 MiB whatever its header says), JSON
integers have at most 20 digits and nest at most 200 deep, an HDF5 attribute is checked for kind and
stored size before it is read, and every failure of the container is one located problem. The result
is the Model a YAML spec gives:

- a Sequential is a chain (its InputLayer, or `build_input_shape`, gives `input_shape`);
- a functional model is a graph: its InputLayers are the named inputs, each layer's first inbound
  node is its call and each further node a `reuse:` of it, `output_layers` are its outputs; a
  Sequential or functional model used as a layer is a nested Model.

Keras 3 writes a node as `{"args": [...], "kwargs": {...}}`, each tensor a `__keras_tensor__` whose
`keras_history` is [layer, node, tensor]; Keras 2 as a list of `[layer, node, tensor, kwargs]`
entries, a recurrent layer's initial states after its input. Node numbers of a nested model count
its own first node (the one linking its inputs to its outputs) where the saving Keras does: Keras 2
everywhere, Keras 3 in `input_layers` / `output_layers` only (`_skips_first_node`).

A layer lstmcount has no table for (a custom layer) in a `.keras` or `.h5` file is a `custom` layer
whose weights are the ones the file stores (`keras_weights`: shapes only, h5py imported for it), its
output shape the build shape stored for the layer that reads it; where no stored shape says it, the
layers it leads to are counted from their stored weights too. A file's Lambda without output_shape
takes the same build shape. A model JSON stores no weights: its custom layers are refused.

Keras operations (`keras.ops.*` in Keras 3, TFOpLambda in Keras 2) are not layers: the masks Keras
computes with them (Embedding's mask_zero) are followed back to the tensors they are computed from;
anything else read through one is refused.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from ..conventions import KERAS
from ..conventions.keras.legacy import first_input, from_keras2
from ..errors import Loc, SpecError, note, problem, show
from ..model import (
    MAX_BYTES,
    MAX_INPUTS,
    MAX_LAYERS,
    MAX_NESTING,
    MAX_PROBLEMS,
    MAX_RANK,
    MAX_SIZE,
    Call,
    InputSpec,
    LayerSpec,
    Model,
    Ref,
    Shape,
    kind_of,
    layer_where,
    shape_text,
    stopped,
    suggest,
    topological_order,
)
from . import files, keras_weights
from .archive import open_archive, read_member

# Serialization-only entries of a layer config that are not constructor arguments.
DROP = ("zero_output_for_mask", "build_config", "compile_config", "shared_object_id")
MODELS = ("Sequential", "Functional", "Model")  # a model's class; nested, a model used as a layer
OPS_MODULES = ("keras.src.ops.", "keras.ops.")  # Keras 3 operations (ops.not_equal, ...) in a config
TF_OPS = ("TFOpLambda", "SlicingOpLambda")  # Keras 2's TensorFlow operations in a config
CONSTANT = "_CONSTANT_VALUE"  # Keras 2's node entry for a constant argument
# Call arguments that hold the tensors a layer is called on when given by keyword (Keras 3 RNNs call
# theirs `sequences`, attention layers `query` and `value`): they go with the positional ones.
KEYWORD_INPUTS = ("inputs", "sequences", "query", "value")
IGNORED_CALL_ARGS = ("training", "use_causal_mask")  # change what is computed, not weights or shapes
DEFAULT_CALL_ARGS = {"return_attention_scores": False}  # harmless at these values; others are refused
MAX_DEPTH = 32  # nesting of the lists inside one node
TIME_MAJOR_MACS = ("Keras 2's time-major layout keeps its time steps on the axis its stored shapes call the "
                   "batch, so its steps are not known")
# Arguments that hold layers: a wrapper's layer, an RNN's cell (or list of cells), StackedRNNCells' cells.
LAYER_ARGS = ("layer", "backward_layer", "cell", "cells")


def read_keras(path: str, hdf5: bool = False) -> Model:
    """A `.keras` archive's or `model.to_json()` file's model, or (`hdf5`) a legacy HDF5 file's."""
    loc = Loc(path)
    data, version = _hdf5(path, loc) if hdf5 else _config(path, loc)
    if version is None and isinstance(data, dict) and isinstance(data.get("keras_version"), str):
        version = data["keras_version"]  # Keras 2's to_json() says it
    store = keras_weights.Store(path, loc, hdf5) if hdf5 or path.lower().endswith(".keras") else None
    try:
        model = model_from_config(data, path, store, config_only=store is None)
    finally:
        if store is not None:
            store.close()
    return replace(model, saved_by=f"Keras {version}") if isinstance(version, str) and version else model


def from_object(obj: Any) -> Model:
    """A live Keras model or layer (Keras 3 or tf_keras), read through its `get_config()`: no weights
    are read and nothing is imported. A layer is counted on the input shape it was built with."""
    cls = type(obj).__name__
    name = getattr(obj, "name", None)
    source = f"<{cls} {show(name)}>" if isinstance(name, str) else f"<{cls}>"
    loc = Loc(source)
    try:
        config = obj.get_config()
    except Exception as exc:  # a subclassed model raises NotImplementedError, and user code anything
        raise SpecError([problem(loc, None, f"its get_config() failed ({type(exc).__name__}: {exc}); lstmcount "
                                            "reads Sequential and functional models and Keras layers")]) from None
    if not isinstance(config, dict):
        raise SpecError([problem(loc, None, f"its get_config() gave {type(config).__name__}, not a mapping")])
    try:
        config = _plain(config)
    except RecursionError:
        raise SpecError([problem(loc, None, "its config is nested too deeply")]) from None
    if "layers" in config or cls in MODELS or callable(getattr(obj, "compile", None)):  # a model
        if "layers" not in config:
            raise SpecError([problem(loc, None, f"a subclassed Keras model ({cls}) does not describe its layers in "
                                                "its config; lstmcount counts Sequential and functional models, "
                                                "and single layers")])
        kind = cls if cls in MODELS else ("Functional" if "output_layers" in config else "Sequential")
        return model_from_config({"class_name": kind, "config": config}, source)
    build = getattr(obj, "get_build_config", None)
    try:
        built = build() if callable(build) else None
    except Exception:  # user code; an unbuilt layer is said below
        built = None
    shape = _plain(built.get("input_shape")) if isinstance(built, dict) else None
    if not isinstance(shape, list) or not shape:
        raise SpecError([problem(loc, None, f"the {cls} is not built, so its input shape is unknown: build it "
                                            "(layer.build((None, 28, 28))) or call it on an input first")])
    reader = _Reader(source, loc)
    entry = {"class_name": cls, "config": config}
    reader.check_kind(entry, layer_where(1, name, cls))
    input_shape = reader.shape(shape, "its build input shape")
    reader.done()
    assert input_shape is not None
    return Model("keras", (LayerSpec(cls, _args(entry), 1, loc, {}),), input_shape, None, None, None, source,
                 {"layers": loc, "input_shape": loc})


def _plain(value: Any) -> Any:
    """A live config as its JSON would hold it: tuples as lists, NumPy values as Python ones."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    tolist = getattr(value, "tolist", None)
    return _plain(tolist()) if callable(tolist) else value


def model_from_config(data: Any, source: str, store: keras_weights.Store | None = None,
                      config_only: bool = False) -> Model:
    """A model config (`{"class_name": ..., "config": ...}`, as `to_json()` writes it) -> Model. `store`:
    the weights the model file stores, which its custom layers are counted from; `config_only`: a file
    that holds none (model.to_json())."""
    loc = Loc(source)
    if not isinstance(data, dict) or data.get("class_name") not in MODELS:
        raise SpecError([problem(loc, None, "not a Keras model file: expected a Sequential or Functional "
                                            "model configuration")])
    reader = _Reader(source, loc, store, config_only)
    model = reader.model(data, "", 0, None)
    reader.done()
    assert model is not None
    notes = tuple(dict.fromkeys(reader.notes))
    if reader.stored_notes:
        notes += (*reader.stored_notes, keras_weights.UNKNOWN_TRAINABLE)
    return replace(model, notes=model.notes + notes) if notes else model


def _config(path: str, loc: Loc) -> tuple[Any, str | None]:
    """The model config of a `.keras` archive (and the Keras version its metadata names) or JSON file."""
    try:
        if path.lower().endswith(".keras"):
            with open_archive(path, loc) as archive:
                raw = read_member(archive, "config.json", MAX_BYTES, loc)
                if raw is None:
                    raise SpecError([problem(loc, None, "not a Keras archive: it has no config.json")])
                data = _loads(raw, loc, "its config.json")
                return data, _archive_version(archive, loc)
        raw = files.read_bytes(path, MAX_BYTES)  # a file, or a pipe read once (`<(cat model.json)`)
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except zipfile.BadZipFile as exc:
        raise SpecError([problem(loc, None, f"not a .keras archive: not a readable zip file ({exc})")]) from None
    except (OSError, EOFError, ValueError, RuntimeError, NotImplementedError, OverflowError) as exc:
        # what zipfile raises for a directory it cannot follow (and the system for a file it cannot read)
        text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__
        raise SpecError([problem(loc, None, f"cannot be read ({text})")]) from None
    return _loads(raw, loc, None), None


def _archive_version(archive: zipfile.ZipFile, loc: Loc) -> str | None:
    """The Keras version a `.keras` archive's metadata.json names (None when it names none, or when the
    member cannot be read: the version is only said, and the model counts without it)."""
    try:
        raw = read_member(archive, "metadata.json", MAX_BYTES, loc)
        meta = _loads(raw, loc, "its metadata.json") if raw is not None else None
    except SpecError:
        return None
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


MAX_DIGITS = 20  # of a JSON integer: a uint64 seed has 20; every size lstmcount counts has fewer
MAX_JSON_DEPTH = 200  # lists and mappings inside each other: Keras nests a config a few dozen deep


class _Digits(Exception):
    """A JSON integer longer than MAX_DIGITS."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Digits(len(text.lstrip("-")))
    return int(text)


def _loads(raw: bytes | str, loc: Loc, what: str | None) -> Any:
    """JSON text -> its value; a located SpecError for text that is not JSON, an integer of more than
    MAX_DIGITS digits (Python refuses 4,300), or nesting deeper than MAX_JSON_DEPTH."""
    head = f"{what} is " if what else ""
    try:
        data = json.loads(raw, parse_int=_int)
    except _Digits as exc:
        raise SpecError([problem(loc, None, f"{what or 'it'} holds an integer of {exc.args[0]:,} digits; lstmcount "
                                            f"reads integers of up to {MAX_DIGITS} digits")]) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpecError([problem(loc, None, f"{head}not valid JSON ({exc})")]) from None
    except RecursionError:
        raise SpecError([problem(loc, None, f"{head}JSON nested too deeply")]) from None
    except ValueError as exc:  # anything else json refuses (integers beyond Python's limit)
        raise SpecError([problem(loc, None, f"{head}not valid JSON ({exc})")]) from None
    level, depth = [data], 0  # the containers at one depth, one depth after another
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise SpecError([problem(loc, None, f"{head}JSON nested more than {MAX_JSON_DEPTH} deep")])
        inner: list[Any] = []
        for value in level:
            if type(value) is dict:
                inner += [v for v in value.values() if type(v) is dict or type(v) is list]
            elif type(value) is list:
                inner += [v for v in value if type(v) is dict or type(v) is list]
        level = inner
    return data


def _hdf5(path: str, loc: Loc) -> tuple[Any, str | None]:
    """The `model_config` attribute of a legacy HDF5 file, and its `keras_version` (weights are not read)."""
    h5py = keras_weights.h5py_for(path)

    def read() -> tuple[str | None, bool, str | None, bool]:  # in a child (keras_weights.bounded)
        with h5py.File(path, "r") as fh:
            raw = _attribute(fh, "model_config", loc)
            try:
                version = _attribute(fh, "keras_version", loc)
            except SpecError:  # only said: the model counts without it
                version = None
            weights = "layers" in fh or "model_weights" in fh or "layer_names" in fh.attrs
        return _text(raw), isinstance(raw, bytes), _text(version), weights

    text, was_bytes, version, weights = keras_weights.bounded(loc, read)
    raw = text.encode("latin-1") if was_bytes and text is not None else text
    if raw is None:
        what = "weights only (model.save_weights), with" if weights else "an HDF5 file with"
        raise SpecError([problem(loc, None, f"{what} no model_config: it does not say what the model is ("
                                            "`lstmcount params` counts the weights it stores); save the model "
                                            "itself (model.save) for this")])
    return _loads(raw, loc, "its model_config"), version or None


def _uncosted(entry: Any) -> str | None:
    """Why a layer's compute cannot be counted from what the file stores: a Keras 2 time-major layer (or a
    wrapper around one) keeps its steps on the axis the file's shapes call the batch."""
    config = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(config, dict):
        return None
    if config.get("time_major") is True or any(_is_layer(config.get(k)) and _uncosted(config.get(k))
                                               for k in LAYER_ARGS):
        return TIME_MAJOR_MACS
    return None


def _text(value: bytes | str | None) -> str | None:
    """An attribute's value as text that JSON carries (bytes one to one as Latin-1)."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _attribute(fh: Any, name: str, loc: Loc) -> bytes | str | None:
    """A string attribute of an HDF5 file's root (None when absent), its stored size checked before it
    is read (a variable-length string's text lies in the file: it is no larger than the file); a located
    SpecError when it is not one string."""
    if name not in fh.attrs:
        return None
    attr = fh.attrs.get_id(name)
    count, dtype = attr.get_space().get_simple_extent_npoints(), attr.dtype
    if count != 1 or dtype.kind not in ("S", "O", "U"):
        raise SpecError([problem(loc, None, f"its {name} attribute is not one string (it holds {count:,} "
                                            f"value{'s' if count != 1 else ''} of type {dtype})")])
    if attr.get_storage_size() > MAX_BYTES:
        raise SpecError([problem(loc, None, f"its {name} attribute is larger than 16 MiB")])
    value = fh.attrs[name]
    if getattr(value, "shape", ()) != ():
        value = value.reshape(-1)[0]
    if not isinstance(value, (bytes, str)):
        raise SpecError([problem(loc, None, f"its {name} attribute is not a string (it holds "
                                            f"{type(value).__name__})")])
    if len(value) > MAX_BYTES:
        raise SpecError([problem(loc, None, f"its {name} attribute is larger than 16 MiB")])
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


class _Keys:
    """Each layer's group in a `.keras` weights file (its class in snake case, numbered where it repeats),
    worked out when first asked for: most files need none."""

    def __init__(self, entries: list[Any]) -> None:
        self.entries = entries
        self.keys: list[str] | None = None

    def __getitem__(self, at: int) -> str:
        if self.keys is None:
            self.keys = keras_weights.store_keys([str(e.get("class_name")) if isinstance(e, dict) else ""
                                                  for e in self.entries])
        return self.keys[at]


class _After(NamedTuple):
    """The shape a layer's output has where the layers after it say it (their stored build shapes)."""

    shape: Shape | None  # None: no layer after it says it
    needed: bool  # whether a layer reads it
    why: str  # why it is unknown, when it is needed; else the layer whose unknown output leads to this one


def _readers(built: list[tuple[_Entry, int, Call | None]]) -> dict[str, list[tuple[_Entry | dict[str, Any],
                                                                                 int | None, bool]]]:
    """Which calls read each call's first output: (the reading entry, its position among several inputs,
    whether it is that layer's first call)."""
    out: dict[str, list[tuple[_Entry | dict[str, Any], int | None, bool]]] = {}
    for e, k, call in built:
        if call is None:
            continue
        many = call.listed or len(call.inputs or ()) > 1
        for pos, ref in enumerate(call.inputs or ()):
            if not ref.output:
                out.setdefault(ref.name, []).append((e, pos if many else None, k == 0))
        for ref in call.refs()[len(call.inputs or ()):]:  # initial states, masks: read, not built on
            if not ref.output:
                out.setdefault(ref.name, []).append((e, None, False))
    return out


class _T(NamedTuple):
    """A tensor a node reads, as Keras records it: [layer, node, tensor]."""

    layer: str
    node: int
    tensor: int


class _Bad(Exception):
    """A node that is not what Keras writes (the text says what is wrong)."""


@dataclass
class _Entry:
    """One entry of a functional config's `layers`."""

    pos: int  # 1-based, in the config's `layers`
    name: str
    cls: str
    raw: dict[str, Any]
    role: str  # input, op, nested, layer
    where: str
    recurrent: bool = False
    nodes: list[tuple[list[Any], dict[str, Any]]] = field(default_factory=list)  # each call's (args, kwargs)
    calls: list[str] = field(default_factory=list)  # the Model entry name of each call
    skip: int = 0  # node numbers before its first call in inbound references (a nested model's own node)
    skip_io: int = 0  # the same in input_layers / output_layers
    broken: bool = False  # its inbound_nodes are not Keras's (said once; nothing that reads it is checked)
    stored: bool = False  # a class lstmcount has no table for, counted from the weights the file stores


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _flat(value: Any) -> list[Any]:
    """The leaves of a (nested) list of call arguments."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in _flat(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value, key=str) for leaf in _flat(value[key])]
    return [value]


class _Reader:
    """Reads one model config (and the models nested in it), collecting every problem found."""

    def __init__(self, source: str, loc: Loc, store: keras_weights.Store | None = None,
                 config_only: bool = False) -> None:
        self.source = source
        self.loc = loc
        self.problems: list[str] = []
        self.store = store  # the file's stored weights, for the layers counted from them
        self.config_only = config_only
        self.scope: list[tuple[_Keys, int, str]] = []  # the enclosing models: (their groups, position, name)
        self.stored_notes: list[str] = []  # one per layer counted from stored weights
        # what reads each enclosing model's output (its last layer's output shape); whether the model just
        # read has an output shape the file does not say
        self.outer: list[Callable[[], _After]] = []
        self.out_unknown = False
        self.notes: list[str] = []  # what Keras 2 writes that Keras 3 would read otherwise

    def add(self, where: str | None, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem(self.loc, where or None, text))
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append(stopped(self.source, MAX_PROBLEMS))

    @property
    def full(self) -> bool:
        """Whether what is added now goes unsaid (a hint for it need not be worked out)."""
        return len(self.problems) >= MAX_PROBLEMS

    def args(self, entry: dict[str, Any], where: str) -> dict[str, Any]:
        """A layer's constructor arguments (_args), its notes kept located."""
        said: list[tuple[str, str]] = []
        args = _args(entry, said, where)
        self.notes += [note(self.loc, at, text) for at, text in said]
        return args

    def done(self) -> None:
        if self.problems:
            raise SpecError(self.problems)

    # --- models ----------------------------------------------------------------------------------

    def model(self, data: dict[str, Any], prefix: str, depth: int, version: int | None) -> Model | None:
        """A Sequential or functional model's config (`prefix` locates a nested one in messages)."""
        config = data.get("config")
        if isinstance(config, list) and data["class_name"] == "Sequential":
            config = {"layers": config}  # Keras 2 before 2.2.5 stored a Sequential's config as its layers
        if not isinstance(config, dict):
            self.add(_at(prefix), f"the model configuration is {kind_of(config)}, not a mapping")
            return None
        if data["class_name"] == "Sequential":
            return self.sequential(config, prefix, depth, version)
        return self.functional(config, prefix, depth, version)

    def sequential(self, config: dict[str, Any], prefix: str, depth: int, version: int | None) -> Model | None:
        entries = config.get("layers")
        if not isinstance(entries, list):
            self.add(_at(prefix), "the model configuration has no `layers` list")
            return None
        if len(entries) > MAX_LAYERS:
            self.add(_at(prefix), f"{len(entries):,} layers is more than the limit of {MAX_LAYERS:,}")
            return None
        shape_raw = config.get("build_input_shape")
        layers: list[LayerSpec] = []
        keys = _Keys(entries)
        unknown: str | None = None  # the layer whose output shape is unknown: those after it count as stored
        for at, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
                self.add(_at(prefix), f"a layer entry is not a Keras layer config: {str(entry)[:80]}")
                continue
            if entry.get("class_name") == "InputLayer":
                shape_raw = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
                continue
            index = len(layers) + 1
            cls = str(entry.get("class_name"))
            name = entry["config"].get("name")
            where = prefix + layer_where(index, name, cls)
            following = self.following(entries, at, where)
            if unknown is not None and self.store is not None:
                spec = self.stored_spec(entry, str(name), index, where, keys[at], _After(None, False, unknown))
                if spec is not None:
                    layers.append(spec)
                continue
            if cls in MODELS:
                spec, inner_unknown = self.nested(entry, index, where, depth, version, None, keys, at, following)
                if spec is not None:
                    layers.append(spec)
                if inner_unknown:
                    unknown = where
                continue
            if self.check_kind(entry, where, top=True):
                found = following()
                spec = self.stored_spec(entry, str(name), index, where, keys[at], found)
                if spec is not None:
                    layers.append(spec)
                if found.needed and found.shape is None:
                    unknown = where
                continue
            args = self.args(entry, where)
            if cls == "Lambda" and args.get("output_shape") is None:
                self.lambda_shape(args, following(), where)
            layers.append(LayerSpec(cls, args, index, self.loc, {}, uncosted=_uncosted(entry)))
        self.out_unknown = unknown is not None
        input_shape: Shape | None = None
        if shape_raw is not None:
            input_shape = self.shape(shape_raw, "the input shape", prefix)
        if layers and layers[0].model is None:  # Keras 2 keeps the input argument on the first layer
            first, layers[0], notes = first_input(KERAS, layers[0], input_shape, self.problems)
            self.notes += notes
            input_shape = first if input_shape is None else input_shape
        if input_shape is None and shape_raw is None and depth == 0:
            self.add(None, "the model configuration does not say its input shape (no InputLayer, no "
                           "build_input_shape and no batch_input_shape on its first layer)")
        return Model("keras", tuple(layers), input_shape, None, _name(config), None, self.source,
                     {"layers": self.loc, "input_shape": self.loc})

    def following(self, entries: list[Any], at: int, where: str) -> Callable[[], _After]:
        """What a Sequential's layer hands its output to: the next layer, or what reads the model."""
        if at + 1 < len(entries) or not self.outer:
            return lambda: self.after([(a, None, True) for a in entries[at + 1:at + 2]], where)
        return self.outer[-1]

    def nested(self, entry: dict[str, Any], index: int, where: str, depth: int, version: int | None,
               call: Call | None, keys: _Keys, at: int, after: Callable[[], _After]
               ) -> tuple[LayerSpec | None, bool]:
        """A Sequential or functional model used as a layer: a LayerSpec holding its own Model (`keys[at]`:
        its group in a `.keras` weights file; `after`: what reads its output), and whether its output shape
        is one the file does not say."""
        if depth + 1 > MAX_NESTING:
            self.add(where, f"models nested more than {MAX_NESTING} deep")
            return None, False
        self.scope.append((keys, at, str(entry["config"].get("name", entry.get("name")))))
        self.outer.append(after)
        self.out_unknown = False
        try:
            inner = self.model(entry, f"{where}: ", depth + 1, version)
            unknown = self.out_unknown
        finally:
            self.scope.pop()
            self.outer.pop()
            self.out_unknown = False
        if inner is None:
            return None, unknown
        config = entry["config"]
        args: dict[str, Any] = {}
        name = entry.get("name") or config.get("name")
        if isinstance(name, str) and name:
            args["name"] = name
        if isinstance(config.get("trainable"), bool):
            args["trainable"] = config["trainable"]
        return LayerSpec(str(entry["class_name"]), args, index, self.loc, {}, call, None, inner), unknown

    def functional(self, config: dict[str, Any], prefix: str, depth: int, version: int | None) -> Model | None:
        where0 = _at(prefix)
        raw_layers = config.get("layers")
        if not isinstance(raw_layers, list) or not raw_layers:
            self.add(where0, "the model configuration has no `layers` list")
            return None
        if len(raw_layers) > MAX_LAYERS:
            self.add(where0, f"{len(raw_layers):,} layers is more than the limit of {MAX_LAYERS:,}")
            return None
        entries = self.entries(raw_layers, prefix)
        if entries is None:
            return None
        keys = _Keys(raw_layers)
        by_name = {e.name: e for e in entries}
        version = self.version(entries, version, where0)
        calls = 0
        for e in entries:
            if e.role in ("layer", "nested", "op"):
                self.nodes(e)
                calls += len(e.nodes)
        if calls > MAX_LAYERS:
            self.add(where0, f"{calls:,} layer calls is more than the limit of {MAX_LAYERS:,}")
            return None
        for e in entries:
            e.skip_io = int(_skips_first_node(e, version, io=True))
            e.skip = int(_skips_first_node(e, version, io=False))
        self.name_calls(entries)
        inputs = self.inputs(config, by_name, where0)
        graph = _Graph(self, by_name)
        built: list[tuple[_Entry, int, Call | None]] = []
        for e in entries:
            if e.role not in ("layer", "nested"):
                continue
            if not e.nodes and not e.broken:
                self.add(e.where, "is called on nothing (its inbound_nodes list is empty), so it is not part of the "
                                  "model's graph")
            for k, (node_args, node_kwargs) in enumerate(e.nodes):
                built.append((e, k, graph.call(e, k, node_args, node_kwargs)))
        outputs = tuple(graph.outputs(config.get("output_layers"), where0))
        layers: list[LayerSpec] = []
        read: list[dict[str, list[tuple[_Entry | dict[str, Any], int | None, bool]]]] = []

        def following(e: _Entry) -> Callable[[], _After]:
            """What reads a layer's first output: the layers after it, or what reads the model."""
            def find() -> _After:
                if not read:
                    read.append(_readers(built))
                found = read[0].get(e.name, [])
                if not found and self.outer and [r.name for r in outputs] == [e.name]:
                    return self.outer[-1]()
                return self.after(found, e.where)
            return find

        unknown: dict[str, str] = {}  # calls whose output shape is unknown -> the layer it comes from
        for e, k, call in _in_order(built):
            source = next((unknown[r.name] for r in (call.refs() if call else ()) if r.name in unknown), None)
            if source is not None:
                unknown[e.calls[k]] = source
                if k == 0:
                    spec = self.stored_spec(e.raw, e.name, e.pos, e.where, keys[e.pos - 1],
                                            _After(None, False, source), call)
                    if spec is not None:
                        layers.append(spec)
                    e.stored = True
                    continue
            if k == 0:
                if e.role == "nested":
                    spec, inner_unknown = self.nested(e.raw, e.pos, e.where, depth, version, call, keys, e.pos - 1,
                                                      following(e))
                    if spec is not None:
                        layers.append(spec)
                    if inner_unknown:
                        unknown.update((name, e.where) for name in e.calls)
                    continue
                if e.stored:
                    found = following(e)()
                    spec = self.stored_spec(e.raw, e.name, e.pos, e.where, keys[e.pos - 1], found, call)
                    if spec is not None:
                        layers.append(spec)
                    if found.needed and found.shape is None:
                        unknown.update((name, e.where) for name in e.calls)
                    continue
                args = self.args(e.raw, e.where)
                args["name"] = e.name
                if e.cls == "Lambda" and args.get("output_shape") is None:
                    self.lambda_shape(args, following(e)(), e.where)
                layers.append(LayerSpec(e.cls, args, e.pos, self.loc, {}, call, uncosted=_uncosted(e.raw)))
            else:
                layers.append(LayerSpec("custom" if e.stored else e.cls, {"name": e.calls[k]}, e.pos, self.loc, {},
                                        call, e.name))
        self.out_unknown = any(r.name in unknown for r in outputs)
        return Model("keras", tuple(layers), None, None, _name(config), None, self.source, {"layers": self.loc},
                     inputs, outputs)

    def entries(self, raw_layers: list[Any], prefix: str) -> list[_Entry] | None:
        """Each `layers` entry with its name, class and role; problems for entries Keras would not read."""
        out: list[_Entry] = []
        names: set[str] = set()
        stored = False
        for pos, raw in enumerate(raw_layers, 1):
            head = f"{prefix}layer {pos}"
            if not isinstance(raw, dict) or not isinstance(raw.get("class_name"), str):
                self.add(head, f"is not a Keras layer config (a mapping with a class_name): {str(raw)[:80]}")
                continue
            cls = raw["class_name"]
            config = raw.get("config")
            if not isinstance(config, dict):
                self.add(f"{head} ({cls})", f"its config is {kind_of(config)}, not a mapping")
                continue
            name = raw.get("name", config.get("name"))
            if not isinstance(name, str) or not name:
                self.add(f"{head} ({cls})", f"has no name (got {show(name)}); each layer of a functional model "
                                            "is named")
                continue
            where = prefix + layer_where(pos, name, cls)
            if name in names:
                self.add(where, f"{show(name)} is the name of an earlier layer too; Keras names each layer once")
                continue
            names.add(name)
            module = raw.get("module")
            if cls == "InputLayer":
                role = "input"
            elif cls in MODELS:
                role = "nested"
            elif cls in TF_OPS or (isinstance(module, str) and module.startswith(OPS_MODULES)) or \
                    (module is None and "trainable" not in config):  # legacy configs name no module; every
                role = "op"  # layer's config says `trainable`, an operation's (Keras 3's NotEqual) does not
            else:
                role = "layer"
                stored = self.check_kind(raw, where, top=True)
            kind = KERAS.kind(cls, None) if role == "layer" else None
            out.append(_Entry(pos, name, cls, raw, role, where, kind is not None and kind.recurrent,
                              stored=role == "layer" and stored))
        return out if len(out) == len(raw_layers) else None

    def version(self, entries: list[_Entry], given: int | None, where: str | None) -> int | None:
        """Which Keras wrote the nodes: 3 (mappings), 2 (lists); a nested model's are its outer model's."""
        found = set()
        for e in entries:
            nodes = e.raw.get("inbound_nodes", [])
            if isinstance(nodes, list):
                found |= {3 if isinstance(n, dict) else 2 for n in nodes if isinstance(n, (dict, list))}
        if len(found) > 1:
            self.add(where, "its inbound_nodes mix the Keras 3 form ({args, kwargs}) and the Keras 2 form (lists)")
        elif given is not None and found and found != {given}:
            self.add(where, f"its inbound_nodes are in the Keras {5 - given} form, its outer model's in the "
                            f"Keras {given} form")
        if given is not None:
            return given
        return next(iter(found)) if len(found) == 1 else None

    def nodes(self, e: _Entry) -> None:
        """Each call of a layer (or operation) as its (args, kwargs), in either Keras's form."""
        raw = e.raw.get("inbound_nodes", [])
        if not isinstance(raw, list):
            self.add(e.where, f"inbound_nodes must be a list of the layer's calls, got {kind_of(raw)}")
            e.broken = True
            return
        for k, node in enumerate(raw):
            try:
                if isinstance(node, dict):
                    e.nodes.append(_node3(node))
                elif isinstance(node, list):
                    e.nodes.append(_node2(node))
                else:
                    raise _Bad(f"is {kind_of(node)}, not a Keras node")
            except _Bad as exc:
                self.add(e.where, f"inbound_nodes[{k}] {exc}")
                e.nodes.clear()
                e.broken = True
                return

    def name_calls(self, entries: list[_Entry]) -> None:
        """The Model entry name of each call: the layer's name, then `name#k` (kept apart from every name)."""
        taken = {e.name for e in entries}
        for e in entries:
            e.calls = [e.name]
            for k in range(1, len(e.nodes)):
                name = f"{e.name}#{k}"
                while name in taken:
                    name += "#"
                taken.add(name)
                e.calls.append(name)

    def inputs(self, config: dict[str, Any], by_name: dict[str, _Entry], where: str | None) -> tuple[InputSpec, ...]:
        out: list[InputSpec] = []
        seen: set[str] = set()
        raw = config.get("input_layers")
        leaves = _io_leaves(raw)
        if leaves is None or not leaves:
            self.add(where, f"input_layers must list the model's inputs as [layer, node, tensor] triples, got "
                            f"{show(raw)}")
            return ()
        if len(leaves) > MAX_INPUTS:
            self.add(where, f"{len(leaves):,} inputs is more than the limit of {MAX_INPUTS:,}")
            return ()
        for name, node, tensor in leaves:
            e = by_name.get(name)
            if e is None or e.role != "input":
                what = f"not a layer of the model{'' if self.full else suggest(name, by_name)}" if e is None else \
                    f"a {e.cls}, not an InputLayer"
                self.add(where, f"input_layers: {show(name)} is {what}")
                continue
            if node != 0 or tensor != 0:
                self.add(where, f"input_layers: [{show(name)}, {node}, {tensor}]: an InputLayer has one tensor, "
                                "[name, 0, 0]")
                continue
            if name in seen:
                continue
            seen.add(name)
            ic = e.raw["config"]
            shape = self.shape(ic.get("batch_shape", ic.get("batch_input_shape")), f"input {show(name)}", "", e.where)
            dtype = ic.get("dtype")
            if isinstance(dtype, dict) and isinstance(dtype.get("config"), dict):
                dtype = dtype["config"].get("name")
            if shape is not None:
                out.append(InputSpec(name, shape, dtype if isinstance(dtype, str) else None, self.loc))
        for e in by_name.values():
            if e.role == "input" and e.name not in seen:
                self.add(e.where, "is not one of the model's inputs (input_layers)")
        return tuple(out)

    # --- layers counted from the file: stored weights, output shapes from the next layer's build -------

    def stored_spec(self, entry: dict[str, Any], name: str, index: int, where: str, key: str, after: _After,
                    call: Call | None = None) -> LayerSpec | None:
        """A layer lstmcount has no table for as a declared `custom` layer: the weights the file stores for
        it (shapes only), its output shape the next layer's stored build shape (unknown if none reads it)."""
        assert self.store is not None
        cls = str(entry.get("class_name")).rsplit(">", 1)[-1]
        path = tuple(p for keys, at, _ in self.scope for p in ("layers", keys[at])) + ("layers", key)
        stored = self.store.layer(path, (*(n for _, _, n in self.scope), name), where)
        if stored is None:
            self.add(where, f"lstmcount has no table for {show(cls)} and the file stores no weights for it ("
                            f"{self.store.what} has no {'/'.join(path) if not self.store.hdf5 else repr(name)})")
            return None
        shown = ", ".join(f"{w.name} {shape_text(w.shape, batch=False)}" for w in stored) or "none"
        if after.shape is None and after.needed:
            why = (f"; its output shape is unknown ({after.why}), so the layers after it are counted from the "
                   "weights the file stores too")
        elif not after.needed and after.why:
            why = f"; its input shape is unknown, as the output shape of {after.why} is"
        else:
            why = ""
        self.stored_notes.append(f"{where}: counted from the weights the file stores ({self.store.what}: {shown}){why}")
        args: dict[str, Any] = {"class_name": cls, "name": name, "stored_in": self.store.what,
                                "weights": {w.name: list(w.shape) for w in stored},
                                "output_shape": None if after.shape is None else list(after.shape)}
        if isinstance(entry["config"].get("trainable"), bool):
            args["trainable"] = entry["config"]["trainable"]
        return LayerSpec("custom", args, index, self.loc, {}, call)

    def after(self, readers: list[tuple[_Entry | dict[str, Any], int | None, bool]], where: str) -> _After:
        """A layer's output shape as the layers that read it were built on (Keras 3 and `.keras` files store
        each layer's `build_config` input shape): `readers` are (entry, position among its inputs or None
        for its one input, whether that call is its first, the one it was built on)."""
        if not readers:
            return _After(None, False, "")
        names = []
        for reader, pos, first in readers:
            raw = reader.raw if isinstance(reader, _Entry) else reader
            built = raw.get("build_config")
            shape = built.get("input_shape") if isinstance(built, dict) and first else None
            if pos is not None and isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
                shape = shape[pos] if pos < len(shape) else None
            if isinstance(shape, list) and shape and not any(isinstance(d, list) for d in shape):
                found = self.shape(shape, "the build input shape of the layer after it", "", where)
                return _After(found, True, "")
            names.append(reader.where if isinstance(reader, _Entry) else repr(_name(raw.get("config") or {})))
        return _After(None, True, f"lstmcount never runs a layer's code, and the file stores no build shape for "
                                  f"{names[0]}, which reads it: .h5 model files store none, .keras files do")

    def lambda_shape(self, args: dict[str, Any], after: _After, where: str) -> None:
        """A file's Lambda without `output_shape`: the one the layer after it was built on."""
        if after.shape is not None:
            args["output_shape"] = list(after.shape)
        elif not after.needed:
            self.add(where, "a Lambda's output shape comes from running its function, which lstmcount never does, "
                            "and the file does not say it: it has no output_shape, and no layer reads it to "
                            "store the shape it was built on")
        else:
            self.add(where, f"a Lambda's output shape comes from running its function, and it has no output_shape: "
                            f"{after.why}")

    # --- checks ----------------------------------------------------------------------------------

    def check_kind(self, entry: dict[str, Any], where: str, top: bool = False) -> bool:
        """Whether the layer is a class lstmcount has no table for that is counted from the weights the
        file stores (a model's own layer, `top`, in a `.keras` or `.h5` file); else a located refusal
        for such a class (also inside a wrapper)."""
        cls = str(entry.get("class_name"))
        kind = KERAS.kind(cls, None)
        if kind is None or kind.name == "custom":  # `custom` is a spec's declaration, not a Keras class
            if top and self.store is not None:
                return True
            module, registered = entry.get("module"), entry.get("registered_name")
            custom = True
            if isinstance(registered, str) and ">" in registered:
                why = f": a custom layer (registered as {show(registered)}), which lstmcount has no table for"
            elif ">" in cls:  # Keras 2's .h5 writes a registered class as its registered name
                why = f": a custom layer (registered as {show(cls)}), which lstmcount has no table for"
            elif isinstance(module, str) and module != "keras" and not module.startswith(("keras.", "tf_keras.")):
                why = f": a custom layer (from module {show(module)}), which lstmcount has no table for"
            else:
                custom = False
                why = suggest(cls, [k for k in KERAS.kinds if k != "custom"]) or \
                    f": lstmcount has no table for it ({len(KERAS.kinds)} keras layer kinds are known)"
            if self.config_only and (custom or not why.startswith(";")):
                why += ("; a model JSON stores no weights to count it from: count the model's .keras or .h5 file "
                        "(model.save), which stores them")
            elif self.store is not None:
                why += "; lstmcount counts such a layer from the weights the file stores only as a model's own layer"
            self.add(where, f"unknown keras layer type {show(cls)}{why}")
            return False
        config = entry.get("config")
        for arg in LAYER_ARGS:
            held = config.get(arg) if isinstance(config, dict) else None
            for k, inner in enumerate(held if isinstance(held, list) else [] if held is None else [held]):
                what = f"{arg}[{k}]" if isinstance(held, list) else arg
                if not _is_layer(inner):
                    self.add(where, f"its {what} is not a Keras layer config (a mapping with class_name and config)")
                    continue
                name = inner["config"].get("name")
                self.check_kind(inner, layer_where(0, name, str(inner["class_name"]), f"{where}: its {what}"))
        return False

    def shape(self, raw: Any, what: str, prefix: str = "", where: str | None = None) -> Shape | None:
        """A stored batch shape -> one sample's shape (the batch axis dropped)."""
        at = where or _at(prefix)
        if not isinstance(raw, (list, tuple)) or not raw:
            self.add(at, f"{what} is not stored as a batch shape such as [null, 28, 28] (got {show(raw)})")
            return None
        if len(raw) - 1 > MAX_RANK:
            self.add(at, f"{what} has {len(raw) - 1} axes; at most {MAX_RANK} are allowed")
            return None
        dims = list(raw[1:])
        bad = [(k, d) for k, d in enumerate(dims, 1) if not (d is None or (_is_int(d) and 0 < d <= MAX_SIZE))]
        if bad:
            self.add(at, f"{what}: axis {bad[0][0]} is {show(bad[0][1])}; sizes must be positive integers up to "
                         f"{MAX_SIZE:,} or null")
            return None
        return tuple(dims)


class _Graph:
    """Turns one functional model's nodes into Calls, resolving [layer, node, tensor] to Refs."""

    def __init__(self, reader: _Reader, by_name: dict[str, _Entry]) -> None:
        self.r = reader
        self.by_name = by_name
        self.refused_ops: set[str] = set()

    def call(self, e: _Entry, k: int, args: list[Any], kwargs: dict[str, Any]) -> Call | None:
        where = f"{e.where}: inbound_nodes[{k}]"
        kwargs = dict(kwargs)
        positional = list(args)
        for key in KEYWORD_INPUTS:
            value = kwargs.pop(key, None)
            if value is not None:
                positional.append(value)
        if e.recurrent:  # its input, then its initial states (Keras 2 lists them after the input)
            first = _flat(positional[0]) if positional else []
            main, states = first[:1], first[1:] + _flat(positional[1:]) + _flat(kwargs.pop("initial_state", None))
            listed = False
        else:
            main = _flat(positional)
            listed = not (len(positional) == 1 and isinstance(positional[0], _T))
            states = _flat(kwargs.pop("initial_state", None))
        ok = True
        for value in main + states:
            if not isinstance(value, _T) and value is not None:
                self.r.add(where, f"is called on {show(value)}, which is not a tensor; lstmcount follows only "
                                  "the tensors of the graph")
                ok = False
        if not any(isinstance(v, _T) for v in main):
            self.r.add(where, "is called on no tensor")
            return None
        inputs = self.refs([v for v in main if isinstance(v, _T)], where, e.where)
        initial = self.refs([v for v in states if isinstance(v, _T)], where, e.where)
        masks = [r for v in _flat(kwargs.pop("mask", None)) if isinstance(v, _T)
                 for r in self.ref(v, where, e.where, mask=True)]
        keywords: list[tuple[str, Ref]] = []
        for key, value in kwargs.items():
            tensors = [v for v in _flat(value) if isinstance(v, _T)]
            if tensors:
                found = self.refs(tensors, where, e.where)
                keywords += [(key, ref) for ref in found or ()]
                ok = ok and found is not None
            elif not (key in IGNORED_CALL_ARGS or value is None
                      or (key in DEFAULT_CALL_ARGS and DEFAULT_CALL_ARGS[key] == value)):
                self.r.add(where, f"the call argument {show(key)} = {show(value)} changes what the layer returns, "
                                  "which lstmcount does not model yet")
                ok = False
        masks = list(dict.fromkeys(masks))
        keywords += [("mask", ref) for ref in masks[1:]]  # a list of masks (attention): each one is read
        if not ok or inputs is None or initial is None:
            return None
        return Call(tuple(inputs), listed, tuple(initial), masks[0] if masks else None, tuple(keywords))

    def refs(self, tensors: list[_T], where: str, reader: str) -> list[Ref] | None:
        out: list[Ref] = []
        ok = True
        for t in tensors:
            found = self.ref(t, where, reader)
            ok = ok and bool(found)
            out += found
        return out if ok else None

    def ref(self, t: _T, where: str, reader: str, mask: bool = False, io: bool = False,
            seen: frozenset[str] = frozenset()) -> list[Ref]:
        """The Ref of a tensor that `reader` reads (`io`: listed in input_layers / output_layers); a mask
        computed by Keras operations -> the tensors it is computed from."""
        e = self.by_name.get(t.layer)
        if e is None:
            self.r.add(where, f"reads {show(t.layer)} (keras_history {show(list(t))}), which is not a layer of "
                              f"the model{'' if self.r.full else suggest(t.layer, self.by_name)}")
            return []
        if e.broken:
            return []
        node = t.node - (e.skip_io if io else e.skip)
        count = 1 if e.role == "input" else len(e.nodes)
        if not 0 <= node < count:
            self.r.add(where, f"reads call {t.node} of {show(t.layer)} (keras_history {show(list(t))}), which "
                              + (f"is called {count} time{'s' if count != 1 else ''}" if e.role != "input"
                                 else "is an input (node 0)"))
            return []
        if e.role == "op":
            if not mask:
                self.refuse_op(e, reader)
                return []
            if e.name in seen:
                return []
            args, kwargs = e.nodes[node]
            return [r for v in _flat([args, kwargs]) if isinstance(v, _T)
                    for r in self.ref(v, where, reader, True, False, seen | {e.name})]
        return [Ref(e.name if e.role == "input" else e.calls[node], t.tensor, self.r.loc)]

    def refuse_op(self, e: _Entry, reader: str) -> None:
        if e.name in self.refused_ops:
            return
        self.refused_ops.add(e.name)
        module = e.raw.get("module")
        if e.cls in TF_OPS:
            what = f"the TensorFlow operation {show(e.raw['config'].get('function'))}"
        elif module is not None:
            what = f"a Keras operation ({module}), not a layer"
        else:  # a legacy config: no module, and no `trainable` in its config as every Keras layer has
            what = "a Keras operation (its config has none of a layer's keys such as `trainable`)"
        self.r.add(e.where, f"is {what}; lstmcount follows shapes only through layers, and {reader} reads it")

    def outputs(self, raw: Any, where: str | None) -> list[Ref]:
        """The model's outputs (`output_layers`) as Refs."""
        leaves = _io_leaves(raw)
        at = f"{where}: output_layers" if where else "output_layers"
        if not leaves:
            self.r.add(where, f"output_layers must list the model's outputs as [layer, node, tensor] triples, got "
                              f"{show(raw)}")
            return []
        out: list[Ref] = []
        for t in leaves:
            out += self.ref(_T(*t), at, "the model's output_layers", io=True)
        return out


def _skips_first_node(e: _Entry, version: int | None, io: bool) -> bool:
    """Whether Keras numbers this layer's calls from 1: a nested model's first node links its own inputs
    to its outputs. Keras 2 skips it for functional models and for Sequentials built on an InputLayer,
    in every reference; Keras 3 for functional models, in input_layers / output_layers only."""
    if e.role != "nested":
        return False
    if version == 2:
        if e.cls != "Sequential":
            return True
        layers = e.raw["config"].get("layers")
        return isinstance(layers, list) and bool(layers) and isinstance(layers[0], dict) \
            and layers[0].get("class_name") == "InputLayer"
    return io and e.cls != "Sequential"


def _node3(node: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """A Keras 3 node: {"args": [...], "kwargs": {...}} with `__keras_tensor__` entries."""
    args, kwargs = node.get("args", []), node.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        raise _Bad("is not {args: [...], kwargs: {...}}")
    return [_value3(a, 0) for a in args], {str(k): _value3(v, 0) for k, v in kwargs.items()}


def _value3(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Bad("nests its arguments too deeply")
    if isinstance(value, list):
        return [_value3(v, depth + 1) for v in value]
    if isinstance(value, dict):
        cls = value.get("class_name")
        config = value.get("config")
        if cls == "__keras_tensor__":
            history = config.get("keras_history") if isinstance(config, dict) else None
            return _history(history)
        if cls == "__tuple__" and isinstance(config, dict) and isinstance(config.get("value"), list):
            return [_value3(v, depth + 1) for v in config["value"]]
        if "class_name" in value:
            return value  # another serialized object: a constant
        return {str(k): _value3(v, depth + 1) for k, v in value.items()}
    return value


def _history(history: Any) -> _T:
    if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str) and history[0]
            and _is_int(history[1]) and _is_int(history[2]) and history[1] >= 0 and history[2] >= 0):
        raise _Bad(f"has a tensor whose keras_history is {show(history)}, not [layer, node, tensor]")
    return _T(history[0], history[1], history[2])


def _is_entry2(x: Any) -> bool:
    return isinstance(x, list) and len(x) in (3, 4) and isinstance(x[0], str) and _is_int(x[1]) \
        and (x[0] == CONSTANT or _is_int(x[2]))


def _node2(node: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """A Keras 2 node: [[layer, node, tensor, kwargs], ...]; called on the one tensor, or on the list."""
    kwargs: dict[str, Any] = {}

    def walk(x: Any, depth: int) -> Any:
        nonlocal kwargs
        if depth > MAX_DEPTH:
            raise _Bad("nests its tensors too deeply")
        if _is_entry2(x):
            if len(x) == 4:
                if not isinstance(x[3], dict):
                    raise _Bad(f"has an entry whose call arguments are {kind_of(x[3])}, not a mapping")
                kwargs = x[3]  # the same in every entry; Keras keeps the last
            if x[0] == CONSTANT:
                return {"constant": x[2]}
            if x[1] < 0 or x[2] < 0:
                raise _Bad(f"has the entry {show(x)}: node and tensor numbers are 0 or more")
            return _T(x[0], x[1], x[2])
        if isinstance(x, list) and x and all(isinstance(v, list) for v in x):
            return [walk(v, depth + 1) for v in x]
        raise _Bad(f"has {show(x)} where a [layer, node, tensor, kwargs] entry belongs")

    structure = walk(node, 0)
    arg = structure[0] if isinstance(structure, list) and len(structure) == 1 else structure
    return [arg], {str(k): _kwarg2(v, 0) for k, v in kwargs.items()}


def _kwarg2(value: Any, depth: int) -> Any:
    """Keras 2 call arguments: a tensor is a [layer, node, tensor] triple."""
    if depth > MAX_DEPTH:
        raise _Bad("nests its call arguments too deeply")
    if isinstance(value, list):
        if len(value) == 3 and isinstance(value[0], str) and _is_int(value[1]) and _is_int(value[2]):
            return _history(value)
        return [_kwarg2(v, depth + 1) for v in value]
    return value


def _io_leaves(raw: Any) -> list[tuple[str, int, int]] | None:
    """input_layers / output_layers: one [name, node, tensor] triple, or (nested) lists or mappings of them."""
    out: list[tuple[str, int, int]] = []

    def walk(x: Any, depth: int) -> bool:
        if depth > MAX_DEPTH:
            return False
        if isinstance(x, list) and len(x) == 3 and isinstance(x[0], str):
            if not (_is_int(x[1]) and _is_int(x[2]) and x[1] >= 0 and x[2] >= 0):
                return False
            out.append((x[0], x[1], x[2]))
            return True
        if isinstance(x, list):
            return all(walk(v, depth + 1) for v in x)
        if isinstance(x, dict):  # Keras orders a mapping's tensors by key
            return all(walk(x[k], depth + 1) for k in sorted(x, key=str))
        return False

    return out if walk(raw, 0) else None


def _in_order(built: list[tuple[_Entry, int, Call | None]]) -> list[tuple[_Entry, int, Call | None]]:
    """The calls in an order the walk keeps as it is (each after what it reads, a layer's calls in
    Keras's node order), so the walk numbers each layer's calls as Keras does; file order where the
    references allow it. What cannot be ordered (a circle) follows in file order, for the walk to report."""
    index = {(e.name if k == 0 else e.calls[k]): i for i, (e, k, _) in enumerate(built)}
    deps: list[set[int]] = []
    for i, (_, k, call) in enumerate(built):
        need = {index[r.name] for r in (call.refs() if call else ()) if r.name in index}
        if k > 0:
            need.add(i - 1)  # the layer's previous call: `built` holds its calls one after another
        need.discard(i)
        deps.append(need)
    order = topological_order(deps)
    placed = set(order)
    order += [i for i in range(len(built)) if i not in placed]
    return [built[i] for i in order]


def _at(prefix: str) -> str | None:
    """Where a nested model's own problems are (its `layer k 'name' (Class)`), or None at the top."""
    return prefix.removesuffix(": ") or None


def _name(config: dict[str, Any]) -> str | None:
    name = config.get("name")
    return name if isinstance(name, str) else None


def _args(entry: dict[str, Any], notes: list[tuple[str, str]] | None = None, where: str = "") -> dict[str, Any]:
    """A layer config as constructor arguments: dtype policies as names, nested layers as specs, Keras 2's
    own spellings as today's (legacy.from_keras2; a located phrase in `notes` where Keras 3 would differ)."""
    said: list[str] = []
    config = from_keras2(str(entry.get("class_name")), entry["config"], said)
    if notes is not None:
        notes += [(where, text) for text in said]
    args: dict[str, Any] = {}
    for key, value in config.items():
        if key in DROP:
            continue
        if key == "batch_input_shape" and entry.get("inbound_nodes"):
            continue  # Keras 2 keeps a layer's own input argument in a functional model, whose inputs say it
        if key == "dtype" and isinstance(value, dict) and isinstance(value.get("config"), dict):
            value = value["config"].get("name")  # a dtype policy, by its name
        elif key in LAYER_ARGS and _is_layer(value):
            value = {"type": value["class_name"], **_args(value, notes, _inner(where, key, value))}
        elif key in LAYER_ARGS and isinstance(value, list):  # a list of cells
            value = [{"type": v["class_name"], **_args(v, notes, _inner(where, f"{key}[{k}]", v))}
                     if _is_layer(v) else v for k, v in enumerate(value)]
        elif isinstance(value, dict):
            value = _clean(value)
        args[key] = value
    return args  # a Bidirectional's stored backward_layer (also the mirror Keras made) names its weights


def _inner(where: str, arg: str, value: dict[str, Any]) -> str:
    """Where a layer held in an argument is, as check_kind says it: `layer 2 'b' (Bidirectional): its layer`."""
    return layer_where(0, value["config"].get("name"), str(value["class_name"]), f"{where}: its {arg}")


def _is_layer(value: Any) -> bool:
    """A serialized layer: a class name and its config mapping."""
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and isinstance(value.get("config"),
                                                                                                 dict)


def _clean(value: dict[str, Any]) -> dict[str, Any]:
    return {k: _clean(v) if isinstance(v, dict) else v for k, v in value.items() if k not in DROP}


