"""Reading a model spec: YAML (safely, with locations) or command-line flags -> Model.

Only the standard library is imported here; PyYAML (in `yamlfile`) only when a spec file is read.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import Loc, SpecError, UsageError, problem, show

MAX_BYTES = 16 * 1024 * 1024
MAX_LAYERS = 20_000
MAX_NESTING = 8
MAX_PROBLEMS = 50
MAX_RANK = 8  # axes of an input shape
MAX_SIZE = 10**12  # any one size (units, features, filters...): beyond what any framework could build
MAX_DEPTH_LAYERS = 10_000  # stacked layers in one flag set or one PyTorch module


def stopped(source: str, count: int) -> str:
    return f"{source}: stopping after {count} problems"


FRAMEWORKS = ("keras", "pytorch")
TOP_KEYS = ("name", "framework", "input_shape", "input_dtype", "layers", "expect")
EXPECT_KEYS = ("total", "trainable", "non_trainable", "max_total", "layers")


class LocDict(dict[Any, Any]):
    """A mapping that remembers where it and each of its keys stood in the file."""

    loc: Loc
    key_locs: dict[Any, Loc]


class LocList(list[Any]):
    """A sequence that remembers where each of its items stood."""

    locs: list[Loc]




@dataclass(frozen=True)
class LayerSpec:
    """One layer entry: its class name as written, its arguments and where they stood."""

    type: str
    args: dict[str, Any]
    index: int  # 1-based position in `layers`
    loc: Loc = field(default_factory=Loc)
    arg_locs: dict[str, Loc] = field(default_factory=dict)

    def where(self) -> str:
        return f"layer {self.index} ({self.type})"

    def arg_loc(self, arg: str | None) -> Loc:
        return self.arg_locs.get(arg, self.loc) if arg else self.loc


@dataclass(frozen=True)
class Model:
    framework: str
    layers: tuple[LayerSpec, ...]
    input_shape: tuple[int | None, ...] | None = None
    input_dtype: str | None = None
    name: str | None = None
    expect: dict[str, Any] | None = None
    source: str = "<flags>"
    locs: dict[str, Loc] = field(default_factory=dict)


def suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def read_text(path: str) -> tuple[str, str]:
    """Read a spec file (or `-` for standard input) -> (display name, text)."""
    if path == "-":
        raw = sys.stdin.buffer.read(MAX_BYTES + 1)
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
    """A model from a YAML spec, or from a Keras `.keras` archive or `model.to_json()` file."""
    if path != "-" and path.endswith((".keras", ".json")) and not os.path.isdir(path):
        from .readers import read_keras

        return read_keras(path)
    name, text = read_text(path)
    return loads(text, name)


def loads(text: str, name: str = "<string>") -> Model:
    from .yamlfile import parse_yaml

    return model_from_data(parse_yaml(text, name), name)


def _loc_of(data: Any, key: Any, fallback: Loc) -> Loc:
    if isinstance(data, LocDict):
        return data.key_locs.get(key, data.loc)
    return fallback


def layer_from_mapping(entry: Any, index: int, fallback: Loc, problems: list[str]) -> LayerSpec | None:
    """One `layers:` entry -> LayerSpec, or None (with a problem recorded)."""
    loc = entry.loc if isinstance(entry, LocDict) else fallback
    if not isinstance(entry, dict):
        problems.append(problem(loc, f"layer {index}", f"must be a mapping with a `type:`, got {_kind(entry)}"))
        return None
    ltype = entry.get("type")
    if not isinstance(ltype, str) or not ltype.strip():
        problems.append(problem(loc, f"layer {index}", "needs a `type:` naming the layer class (e.g. LSTM)"))
        return None
    args = {str(k): v for k, v in entry.items() if k != "type"}
    key_locs = entry.key_locs if isinstance(entry, LocDict) else {}
    arg_locs = {str(k): key_locs.get(k, loc) for k in entry if k != "type"}
    return LayerSpec(ltype.strip(), args, index, key_locs.get("type", loc), arg_locs)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {show(value)}"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (tuple, set)):
        return "an ordered map" if isinstance(value, tuple) else "a set"
    return f"a {type(value).__name__} value"


def model_from_data(data: Any, name: str) -> Model:
    root = Loc(name, 1, 1)
    if not isinstance(data, dict):
        raise SpecError([problem(root, None, f"a model spec must be a mapping with `layers:`, got {_kind(data)}")])
    problems: list[str] = []
    for key in data:
        if key not in TOP_KEYS and not str(key).startswith("x-"):  # x-...: a place for anchors
            problems.append(problem(_loc_of(data, key, root), None,
                                    f"unknown top-level key {show(key)}{suggest(str(key)[:100], TOP_KEYS)}"
                                    f" (allowed: {', '.join(TOP_KEYS)}, and x-... keys for YAML anchors)"))
    framework = data.get("framework", "keras")
    if isinstance(framework, str) and framework.lower() in ("torch", "pytorch"):
        framework = "pytorch"
    if not isinstance(framework, str) or framework.lower() not in FRAMEWORKS:
        problems.append(problem(_loc_of(data, "framework", root), None,
                                f"framework must be one of {', '.join(FRAMEWORKS)}, got {_kind(framework)}"))
        framework = "keras"
    framework = framework.lower()
    input_shape = _input_shape(data, root, problems)
    dtype = data.get("input_dtype")
    if dtype is not None and not isinstance(dtype, str):
        problems.append(problem(_loc_of(data, "input_dtype", root), None,
                                f"input_dtype must be a dtype name such as float32, got {_kind(dtype)}"))
        dtype = None
    mname = data.get("name")
    if mname is not None and not isinstance(mname, str):
        mname = str(mname)
    layers_raw = data.get("layers")
    layers: list[LayerSpec] = []
    if layers_raw is None:
        problems.append(problem(root, None, "no `layers:` list; a model spec needs at least one layer"))
    elif not isinstance(layers_raw, list) or not layers_raw:
        got = "an empty list" if isinstance(layers_raw, list) else _kind(layers_raw)
        problems.append(problem(_loc_of(data, "layers", root), None,
                                f"`layers:` must be a non-empty list of layers, got {got}"))
    elif len(layers_raw) > MAX_LAYERS:
        problems.append(problem(_loc_of(data, "layers", root), None,
                                f"{len(layers_raw):,} layers is more than the limit of {MAX_LAYERS:,}"))
    else:
        lloc = _loc_of(data, "layers", root)
        item_locs = layers_raw.locs if isinstance(layers_raw, LocList) else [lloc] * len(layers_raw)
        for i, (entry, loc) in enumerate(zip(layers_raw, item_locs, strict=True), 1):
            if len(problems) >= MAX_PROBLEMS:
                problems.append(stopped(name, len(problems)))
                break
            spec = layer_from_mapping(entry, i, loc, problems)
            if spec is not None:
                layers.append(spec)
    expect = _expect(data, root, problems)
    if problems:
        raise SpecError(problems)
    locs = {str(k): _loc_of(data, k, root) for k in data}
    return Model(framework, tuple(layers), input_shape, dtype, mname, expect, name, locs)


def _input_shape(data: dict[str, Any], root: Loc, problems: list[str]) -> tuple[int | None, ...] | None:
    if "input_shape" not in data:
        return None
    raw = data["input_shape"]
    loc = _loc_of(data, "input_shape", root)
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        problems.append(problem(loc, None, f"input_shape must be a list of sizes such as [28, 28], got {_kind(raw)}"))
        return None
    if len(raw) > MAX_RANK:
        problems.append(problem(loc, None, f"input_shape has {len(raw):,} axes; at most {MAX_RANK} are allowed"))
        return None
    item_locs = raw.locs if isinstance(raw, LocList) else [loc] * len(raw)
    shape: list[int | None] = []
    for dim, dim_loc in zip(raw, item_locs, strict=True):
        if dim is None:
            shape.append(None)
        elif isinstance(dim, int) and not isinstance(dim, bool) and 0 < dim <= MAX_SIZE:
            shape.append(dim)
        else:
            allowed = f"positive integers up to {MAX_SIZE:,} or null"
            problems.append(problem(dim_loc, None, f"input_shape entries must be {allowed}, got {_kind(dim)}"))
            return None
    return tuple(shape)


def _expect(data: dict[str, Any], root: Loc, problems: list[str]) -> dict[str, Any] | None:
    if "expect" not in data or data["expect"] is None:
        return None
    raw = data["expect"]
    loc = _loc_of(data, "expect", root)
    if not isinstance(raw, dict):
        problems.append(problem(loc, None, f"expect must be a mapping such as {{total: 31960}}, got {_kind(raw)}"))
        return None
    for key, value in raw.items():
        kloc = _loc_of(raw, key, loc)
        if key not in EXPECT_KEYS:
            problems.append(problem(kloc, None, f"unknown expect key {key!r}{suggest(str(key), EXPECT_KEYS)}"
                                                f" (allowed: {', '.join(EXPECT_KEYS)})"))
        elif key == "layers":
            if not isinstance(value, dict) or not all(_is_count(v) for v in value.values()):
                problems.append(problem(kloc, None,
                                        "expect.layers must map layer names to parameter counts, e.g. {lstm: 31200}"))
        elif not _is_count(value):
            problems.append(problem(kloc, None, f"expect.{key} must be a non-negative integer, got {_kind(value)}"))
    return dict(raw)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class LayerFlags(NamedTuple):
    """The `params` flags that describe one recurrent layer (or a stack of them)."""

    type: str = "lstm"
    framework: str = "keras"
    units: int = 0
    input: int = 0
    bidirectional: bool = False
    num_layers: int = 1
    bias: bool = True
    reset_after: bool | None = None
    proj_size: int | None = None
    peepholes: bool = False


_KERAS_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
_TORCH_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def sizes_ok(layer_type: Any, units: Any, inp: Any, layers: Any, proj: Any) -> bool:
    """Whether the sizes in `params` flags are all valid, in one expression (`check_numbers` says what is not)."""
    return (layer_type in _KERAS_CLASS and type(units) is int and type(inp) is int and type(layers) is int
            and 0 < units <= MAX_SIZE and 0 < inp <= MAX_SIZE and 0 < layers <= MAX_DEPTH_LAYERS
            and (proj is None or (type(proj) is int and 0 <= proj < units)))


def check_numbers(f: LayerFlags) -> None:
    """The sizes in `params` flags: integers, positive (UsageError)."""
    if sizes_ok(f.type, f.units, f.input, f.num_layers, f.proj_size):
        return  # the common case in a sweep; the checks below say what is wrong
    if f.type not in _KERAS_CLASS:
        raise UsageError(f"--type must be one of {', '.join(_KERAS_CLASS)}, got {f.type!r}")
    for flag, value, most in (("--units", f.units, MAX_SIZE), ("--input", f.input, MAX_SIZE),
                              ("--num-layers", f.num_layers, MAX_DEPTH_LAYERS), ("--proj-size", f.proj_size or 0,
                                                                                 MAX_SIZE)):
        if type(value) is not int:
            raise UsageError(f"{flag} must be an integer, got {show(value)}")
        if value > most:
            raise UsageError(f"{flag} must be at most {most:,}, got {show(value)}")
    if f.units < 1:
        raise UsageError("--units must be a positive integer (the layer's hidden size)")
    if f.input < 1:
        raise UsageError("--input must be a positive integer (the number of input features)")
    if f.num_layers < 1:
        raise UsageError("--num-layers must be at least 1")
    if f.proj_size is not None and not 0 <= f.proj_size < f.units:
        raise UsageError(f"--proj-size must be at least 0 and smaller than --units ({f.units}), got {f.proj_size}")


def flag_layers(f: LayerFlags) -> list[tuple[str, dict[str, Any]]]:
    """Keras or PyTorch layers the (checked) flags describe, as (class name, arguments) as a spec gives them."""
    if f.framework == "pytorch":
        args: dict[str, Any] = {"input_size": f.input, "hidden_size": f.units}
        if f.num_layers != 1:
            args["num_layers"] = f.num_layers
        if f.bidirectional:
            args["bidirectional"] = True
        if not f.bias:
            args["bias"] = False
        if f.proj_size is not None:
            args["proj_size"] = f.proj_size
        return [(_TORCH_CLASS[f.type], args)]
    layers: list[tuple[str, dict[str, Any]]] = []
    for k in range(f.num_layers):
        inner: dict[str, Any] = {"units": f.units}
        if not f.bias:
            inner["use_bias"] = False
        if f.reset_after is not None:
            inner["reset_after"] = f.reset_after
        if k < f.num_layers - 1:
            inner["return_sequences"] = True
        if f.bidirectional:
            layers.append(("Bidirectional", {"layer": {"type": _KERAS_CLASS[f.type], **inner}}))
        else:
            layers.append((_KERAS_CLASS[f.type], inner))
    return layers


# The arguments of `flag_layers`' layers that take --units and --input (a Keras layer takes its input
# size from the incoming shape instead).
def flag_input_shape(f: LayerFlags) -> tuple[int | None, ...] | None:
    """The model input the flags' --input gives: a Keras sequence of features (PyTorch tracks no shapes)."""
    return (None, f.input) if f.framework == "keras" else None


def model_from_flags(f: LayerFlags) -> Model:
    """Build the same Model a YAML spec would give, from `params` flags."""
    flags = Loc("<flags>")
    layers = tuple(LayerSpec(t, args, k, flags, {}) for k, (t, args) in enumerate(flag_layers(f), 1))
    return Model(f.framework, layers, flag_input_shape(f), None, None, None, "<flags>")
