"""What every framework table is made of: argument schemas and layer kinds.

A framework module defines, for each layer class it knows, the arguments the class accepts
(with the types and ranges the framework enforces) and a `build` function that turns the
checked arguments and the incoming shape into the layer's weight tensors and output shape.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import note, problem, show
from ..layout import LayerLayout, Outputs, Weight
from ..model import (
    MAX_NESTING,
    MAX_RANK,
    MAX_SIZE,
    LayerSpec,
    Model,
    Shape,
    layer_from_mapping,
    layer_where,
    suggest,
)

REQUIRED: Any = object()


class LayerProblem(Exception):
    """Raised by a build function: `arg` names the argument at fault, if any."""

    def __init__(self, text: str, arg: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.arg = arg


@dataclass(frozen=True)
class Arg:
    """One constructor argument: its kind, default and allowed range.

    kinds: int, float, bool, str, choice, ints (an int or a tuple of `n` ints), pads (a (before, after)
    pair per spatial axis: an int, or `n` entries that are each an int or a pair; with n = 1 the pair
    itself), shape (a list of ints, -1 allowed once), layer (a nested layer mapping), any (accepted as given).
    """

    kind: str
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_arg(arg: Arg, value: Any, n: int = 1) -> Any:
    """Return the normalized value or raise LayerProblem(text) saying what is allowed."""
    if value is None and (arg.nullable or arg.kind == "any"):
        return None
    k = arg.kind
    if k == "any":
        return value
    if k == "bool":
        if not isinstance(value, bool):
            raise LayerProblem(f"must be true or false, got {show(value)}")
        return value
    if k == "int":
        if not _is_int(value):
            raise LayerProblem(f"must be an integer, got {show(value)}")
        _range(arg, value)
        if abs(value) > MAX_SIZE:
            raise LayerProblem(f"must be at most {MAX_SIZE:,}, got {show(value)}")
        return value
    if k == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise LayerProblem(f"must be a number, got {show(value)}")
        _range(arg, value)
        return float(value)
    if k == "str":
        if not isinstance(value, str):
            raise LayerProblem(f"must be a string, got {show(value)}")
        return value
    if k == "ident":  # a Keras identifier: a registered name, or a serialized {class_name, config} mapping
        name = value.get("class_name") if isinstance(value, dict) else value
        if isinstance(value, dict) and (set(value) - {"class_name", "config", "module", "registered_name"}
                                        or not isinstance(value.get("config", {}), dict)):
            raise LayerProblem(f"as a mapping takes class_name and config, got {show(value)}")
        if not isinstance(name, str) or (arg.choices and name not in arg.choices):
            near = difflib.get_close_matches(str(name), [str(c) for c in arg.choices], n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f" (one of: {', '.join(map(str, arg.choices[:8]))}, ...)"
            raise LayerProblem(f"must name a known Keras object, got {show(value)}{hint}")
        return value
    if k == "mapping":
        if not isinstance(value, dict):
            raise LayerProblem(f"must be a mapping, got {show(value)}")
        return value
    if k == "dims":
        if not isinstance(value, list) or not all(v is None or (_is_int(v) and 0 < v <= MAX_SIZE) for v in value):
            raise LayerProblem(f"must be a list of positive integers or nulls, got {show(value)}")
        return tuple(value)
    if k == "choice":
        norm = value.lower() if isinstance(value, str) else value
        if norm not in arg.choices:
            allowed = ", ".join(show(c) for c in arg.choices)
            raise LayerProblem(f"must be one of {allowed}, got {show(value)}")
        return norm
    if k == "ints":
        items = value if isinstance(value, list) else [value] * n if _is_int(value) else None
        if items is None or len(items) != n or not all(_is_int(v) for v in items):
            want = "an integer" if n == 1 else f"an integer or a list of {n} integers"
            raise LayerProblem(f"must be {want}, got {show(value)}")
        for v in items:
            _range(arg, v)
            if abs(v) > MAX_SIZE:
                raise LayerProblem(f"must be at most {MAX_SIZE:,}, got {show(v)}")
        return tuple(items)
    if k == "pads":
        return _pads(arg, value, n)
    if k == "shape":
        items = [value] if _is_int(value) else value
        if not isinstance(items, list) or not items or not all(_is_int(v) for v in items):
            raise LayerProblem(f"must be a list of integers such as [28, 28], got {show(value)}")
        if any((v < 1 and v != -1) or v > MAX_SIZE for v in items) or items.count(-1) > 1 or len(items) > MAX_RANK:
            raise LayerProblem(f"must hold positive sizes (and at most one -1), got {items}")
        return tuple(items)
    raise AssertionError(f"unknown argument kind {k}")  # pragma: no cover


def _pads(arg: Arg, value: Any, n: int) -> tuple[tuple[int, int], ...]:
    """(before, after) per axis, as Keras's ZeroPadding/Cropping read them (`n` spatial axes)."""
    entries = [value] if n == 1 else [value] * n if _is_int(value) else value
    want = ("an integer or a list of 2 integers" if n == 1 else
            f"an integer, or a list of {n} entries that are each an integer or a list of 2 integers")
    if not isinstance(entries, list) or len(entries) != n:
        raise LayerProblem(f"must be {want}, got {show(value)}")
    pairs = []
    for entry in entries:
        pair = [entry, entry] if _is_int(entry) else entry
        if not isinstance(pair, list) or len(pair) != 2 or not all(_is_int(v) for v in pair):
            raise LayerProblem(f"must be {want}, got {show(value)}")
        for v in pair:
            _range(arg, v)
            if v > MAX_SIZE:
                raise LayerProblem(f"must be at most {MAX_SIZE:,}, got {show(v)}")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _range(arg: Arg, value: float) -> None:
    if arg.min is not None and value < arg.min:
        raise LayerProblem(f"must be at least {show(arg.min)}, got {show(value)}")
    if arg.max is not None and value > arg.max:
        raise LayerProblem(f"must be at most {show(arg.max)}, got {show(value)}")


# A build function gets the checked arguments and the input shape (a tuple of shapes, one per tensor, for a
# kind called on several), and returns the weights and the output shape (or Outputs, for several).
BuildFn = Callable[["Ctx", dict[str, Any], Any], tuple[list[Weight], "Shape | None | Outputs"]]
# A framework's reading of a chain's first layer (Framework.first_input): the layer, the model's own input
# shape (if any), a list for problems -> (input shape, the layer as the framework takes it, notes).
FirstInput = Callable[["Framework", LayerSpec, "Shape | None", list[str]],
                      tuple["Shape | None", LayerSpec, list[str]]]


@dataclass(frozen=True)
class Kind:
    """One layer class of one framework."""

    name: str
    args: Mapping[str, Arg]
    build: BuildFn
    recurrent: bool = False
    rank: int = 1  # how many spatial dims `ints` arguments have (Conv2D: 2)
    # A wrapper (Bidirectional) says how it turns its built `layer:` into its own weights and shape.
    wrap: Callable[[LayerLayout, dict[str, Any]], tuple[list[Weight], Shape | None | Outputs]] | None = None
    # Taken through **kwargs (and written by the class's get_config) though not in its signature.
    kwargs: Mapping[str, Arg] = field(default_factory=dict)
    # The arithmetic variant its arguments choose, where two variants share a layout (GRU reset_after).
    variant: Callable[[dict[str, Any]], str] | None = None
    reject: Mapping[str, str] = field(default_factory=dict)  # accepted by the class, not modelled
    # Called on several tensors (merge layers, attention): the build gets one shape per tensor, and
    # `inputs` says how many it takes (at least, at most).
    many: bool = False
    inputs: tuple[int, int] = (1, 1)
    also: tuple[str, ...] = ()  # other names the framework resolves to this class (Keras's MaxPool1D)
    without: tuple[str, ...] = ()  # the framework's common arguments this class does not take
    # Arguments the class takes with a warning (deprecated ones): the framework's own words.
    warn: Mapping[str, str] = field(default_factory=dict)
    # A kind called on several tensors as separate call arguments, not one list, names them in order
    # (MultiHeadAttention: query, value, key): a call may give them by keyword.
    tensors: tuple[str, ...] = ()
    # Whether lstmcount counts this layer's compute (--timesteps); False where it would need more
    # than the layer's weights and output shape (attention's products of its inputs).
    costed: bool = True
    # The class name to show, where the arguments name it (a declared custom layer's class_name).
    label: Callable[[dict[str, Any]], str] | None = None


def finish(name: str, kind: Kind, weights: list[Weight], out: Shape | None | Outputs, variant: str | None,
           input_shape: Shape | None) -> LayerLayout:
    """The LayerLayout of a built layer: one output, or several (Outputs)."""
    if isinstance(out, Outputs):
        return LayerLayout(name, kind.name, tuple(weights), out.main, kind.recurrent, variant, input_shape,
                           out.shapes if len(out.shapes) > 1 else (), (), (), out.states, costed=kind.costed)
    return LayerLayout(name, kind.name, tuple(weights), out, kind.recurrent, variant, input_shape,
                       costed=kind.costed)


@dataclass
class Ctx:
    """What a build function may need beyond its own arguments."""

    framework: Framework
    spec: LayerSpec
    name: str
    depth: int = 0  # nesting level (Bidirectional -> LSTM is depth 1)
    problems: list[str] = field(default_factory=list)
    inner_variant: str | None = None  # the nested layer's variant, for a wrapper
    kind: str = ""  # the class being built
    wrapper: str | None = None  # the class it is nested in (RNN for a cell), None at the top

    def nested(self, arg: str, shape: Shape | None, value: Any = REQUIRED, default_name: str | None = None
               ) -> LayerLayout:
        """Check and build a nested layer argument (Bidirectional.layer, TimeDistributed.layer), or
        `value`, one layer mapping inside it (a cell of RNN's list of cells), named `default_name`
        unless it has a name."""
        return self.nested_args(arg, shape, value, default_name)[0]

    def nested_args(self, arg: str, shape: Shape | None, value: Any = REQUIRED, default_name: str | None = None
                    ) -> tuple[LayerLayout, Kind, dict[str, Any]]:
        """A nested layer argument built, with its kind and its checked arguments (defaults filled)."""
        loc = self.spec.arg_loc(arg)
        if self.depth >= MAX_NESTING:
            raise LayerProblem(f"layers nested more than {MAX_NESTING} deep", arg)
        inner = layer_from_mapping(self.spec.args[arg] if value is REQUIRED else value, self.spec.index, loc,
                                   self.problems)
        if inner is None:
            raise Reported()
        outer = layer_where(self.spec.index, self.spec.args.get("name"), self.kind, self.spec.within)
        inner = replace(inner, within=f"{outer}: its {arg}")  # its problems say what it is nested in
        kind = self.framework.kind(inner.type, None)
        name = inner.args.get("name")
        if not isinstance(name, str) or not name:
            name = default_name or snake(kind.name if kind else inner.type)
        layer, built_kind, args = self.framework.build_layer(inner, shape, name, self.problems, self.depth + 1,
                                                             self.kind)
        if layer is None or built_kind is None:
            raise Reported()
        self.inner_variant = layer.variant
        return layer, built_kind, args


def _where(spec: LayerSpec, kind: Kind) -> str:
    """`layer 2 'enc' (LSTM)`: the layer's position, its name (when it has one) and its class as the
    framework names it."""
    return layer_where(spec.index, spec.args.get("name"), kind.name, spec.within)


_SCALARS = (str, int, float, bool, type(None))


def _same_layer(kind: Kind, args: dict[str, Any], shape: Shape | None) -> tuple[Any, ...] | None:
    """What a layer's build depends on, when every argument is a plain value (a layer with a list or
    a nested layer is built afresh): large models repeat a few layers many times. Each value's type
    is part of it: 1, 1.0 and true are equal in Python, not to a layer's argument checks. A layer's
    own name (a string) changes neither its weights nor its output, so named layers share builds too."""
    key: list[Any] = [kind.name, shape]
    for arg, value in args.items():
        kind_of_value = type(value)
        if kind_of_value not in _SCALARS:
            return None
        if arg == "name" and kind_of_value is str:
            continue
        key += (arg, kind_of_value, value)
    return tuple(key)


class Reported(Exception):
    """A nested build failed and has recorded its problems already."""


@functools.lru_cache(maxsize=256)
def snake(name: str) -> str:
    """Keras's own class-name-to-layer-name rule (SimpleRNN -> simple_rnn)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass
class Framework:
    """A framework's table of layer kinds, and the walk that turns a Model into a Layout."""

    name: str
    kinds: dict[str, Kind]
    common: Mapping[str, Arg]
    aliases: tuple[str, ...] = ()  # prefixes accepted before a class name (nn., keras.layers.)
    tracks_shapes: bool = True
    reject: Mapping[str, str] = field(default_factory=dict)  # taken by every class, not modelled
    # Taken by every class through **kwargs, changing nothing counted (Keras's input_shape), and the
    # framework's warning for an argument taken that way.
    kwargs: Mapping[str, Arg] = field(default_factory=dict)
    warn: Mapping[str, str] = field(default_factory=dict)
    # Older names the framework refuses today: class name (or "*": every class) -> old argument -> what
    # it is now, as a phrase ("Keras 1's name for 'recurrent_dropout'").
    renamed: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The input shape a chain's first layer gives through its own arguments (Keras 2's input_shape on a
    # layer): (shape or None, the layer with the arguments the framework no longer takes removed, notes).
    first_input: FirstInput | None = None
    _lower: dict[str, Kind] = field(default_factory=dict)
    _tables: dict[str, tuple[dict[str, Arg], dict[str, Any], tuple[str, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lower = {k.lower(): v for k, v in self.kinds.items()}
        self._lower.update({alias.lower(): k for k in self.kinds.values() for alias in k.also})
        self._quick_ctx = Ctx(self, LayerSpec("", {}, 0), "")  # what build functions get from `quick`
        # old names matched whatever their case (dropout_u is a slip for dropout_U, not for dropout)
        self._renamed = {kind: {old.lower(): text for old, text in table.items()}
                         for kind, table in self.renamed.items()}
        # the arguments `notes` looks at: those warned about, and nested layers (which may have them)
        self._noted = set(self.warn).union(*(k.warn for k in self.kinds.values()), *(
            (a for a, v in k.args.items() if v.kind == "layer") for k in self.kinds.values()))

    def quick(self, type_name: str, args: dict[str, Any], shape: Shape | None) -> LayerLayout:
        """Build a layer from arguments already known to be valid (layers from `params` flags).

        Same tables and build functions as `layout`, without locations or problem collection.
        """
        kind = self.kinds[type_name]
        full = {**self.table(kind)[1], **args}
        if kind.wrap is not None:
            inner = dict(args["layer"])
            inner_layout = self.quick(inner.pop("type"), inner, shape)
            weights, out = kind.wrap(inner_layout, full)
            variant = inner_layout.variant
        else:
            weights, out = kind.build(self._quick_ctx, full, shape)
            variant = kind.variant(full) if kind.variant else None
        return finish(snake(kind.name), kind, weights, out, variant, shape if self.tracks_shapes else None)

    def kind(self, type_name: str, problems: list[str] | None, spec: LayerSpec | None = None) -> Kind | None:
        key = type_name
        for prefix in self.aliases:
            if key.startswith(prefix):
                key = key[len(prefix):]
        found = self._lower.get(key.lower())
        if found is None and problems is not None and spec is not None:
            near = suggest(type_name, [k for k in self.kinds if k != "custom"]
                           + [alias for k in self.kinds.values() for alias in k.also])
            declare = "; a layer it does not know can be declared as `type: custom` with its class_name, " \
                      "weights and output_shape" if "custom" in self.kinds and not near else ""
            problems.append(problem(spec.loc, f"layer {spec.index}",
                                    f"unknown {self.name} layer type {show(type_name)}{near or ''}"
                                    + ("" if near else f": lstmcount has no table for it ({len(self.kinds)} "
                                                       f"{self.name} layer kinds are known){declare}")))
        return found

    def table(self, kind: Kind) -> tuple[dict[str, Arg], dict[str, Any], tuple[str, ...]]:
        """(every accepted argument, the defaults filled in, the required ones) for a kind; built once."""
        cached = self._tables.get(kind.name)
        if cached is None:
            every = {**self.common, **self.kwargs}
            allowed = {**{a: v for a, v in every.items() if a not in kind.without}, **kind.args, **kind.kwargs}
            defaults: dict[str, Any] = {}
            for arg, spec_arg in allowed.items():
                if spec_arg.kind in ("ints", "pads") and spec_arg.default not in (None, REQUIRED):
                    defaults[arg] = check_arg(spec_arg, spec_arg.default, kind.rank)
                elif not spec_arg.required:
                    defaults[arg] = spec_arg.default
            required = tuple(a for a, spec_arg in allowed.items() if spec_arg.required)
            cached = self._tables[kind.name] = (allowed, defaults, required)
        return cached

    def check_args(self, kind: Kind, spec: LayerSpec, problems: list[str]) -> dict[str, Any] | None:
        """Check every argument against the class's signature; return them with defaults filled."""
        allowed, defaults, required = self.table(kind)
        where = _where(spec, kind)
        out = dict(defaults)
        ok = True
        meant: set[str] = set()  # required arguments a misspelled key was probably meant to be
        for arg, value in spec.args.items():
            spec_arg = allowed.get(arg)
            if spec_arg is None:
                loc = spec.arg_loc(arg)
                key = arg.lower()
                old = self._renamed.get(kind.name, {}).get(key) or self._renamed.get("*", {}).get(key)
                other = sorted(k.name for k in self.kinds.values() if arg in k.args)
                near = difflib.get_close_matches(arg, list(allowed), n=1, cutoff=0.6)
                if old:
                    hint = f": that is {old}"
                    meant.update(a for a in required if repr(a) in old)  # no second line for units
                elif other:
                    hint = f" (it is an argument of {', '.join(other[:4])})"
                elif near:
                    hint = f"; did you mean {near[0]!r}?"
                    meant.add(near[0])
                else:
                    hint = f" (it takes: {', '.join(sorted(kind.args))})"
                problems.append(problem(loc, where, f"{kind.name} takes no argument {show(arg)}{hint}"))
                ok = False
            elif (reason := kind.reject.get(arg) or self.reject.get(arg)) and value != spec_arg.default:
                problems.append(problem(spec.arg_loc(arg), where, f"argument {show(arg)}: {reason}"))
                ok = False
            elif spec_arg.kind == "layer":
                out[arg] = value
            else:
                try:
                    out[arg] = check_arg(spec_arg, value, kind.rank)
                except LayerProblem as exc:
                    problems.append(problem(spec.arg_loc(arg), where, f"argument {show(arg)} {exc.text}"))
                    ok = False
        for arg in required:
            if arg not in spec.args and arg not in meant:
                problems.append(problem(spec.loc, where, f"{kind.name} needs the argument {arg!r}"))
                ok = False
        return out if ok else None

    def notes(self, model: Model) -> list[str]:
        """The framework's own warnings for the arguments a model's layers give (deprecated ones), one
        line each, nested layers and models included. Arguments are checked by the walk, not here."""
        out: list[str] = []
        for spec in model.layers:
            if spec.model is not None:
                out += self.notes(spec.model)
            elif spec.reuse is None and not self._noted.isdisjoint(spec.args):
                self._spec_notes(spec, out)
        return out

    def _spec_notes(self, spec: LayerSpec, out: list[str]) -> None:
        kind = self.kind(spec.type, None)
        if kind is None:
            return
        said: set[str] = set()
        for arg, value in spec.args.items():
            spec_arg = kind.args.get(arg)
            if spec_arg is not None and spec_arg.kind == "layer" and isinstance(value, dict):
                inner = layer_from_mapping(value, spec.index, spec.arg_loc(arg), [])
                if inner is not None:
                    self._spec_notes(inner, out)
            if arg not in self._noted or value is None:
                continue
            text = kind.warn.get(arg) or (self.warn.get(arg) if spec_arg is None else None)
            if text and text not in said:
                said.add(text)
                out.append(note(spec.arg_loc(arg), _where(spec, kind), text))

    def build_layer(self, spec: LayerSpec, shape: Any, name: str, problems: list[str], depth: int = 0,
                    wrapper: str | None = None) -> tuple[LayerLayout | None, Kind | None, dict[str, Any]]:
        """Check and build one layer on its input shape (a tuple of shapes for a kind called on several);
        `wrapper` is the class it is nested in."""
        kind = self.kind(spec.type, problems, spec)
        if kind is None:
            return None, None, {}
        args = self.check_args(kind, spec, problems)
        if args is None:
            return None, kind, {}
        where = _where(spec, kind)
        ctx = Ctx(self, spec, name, depth, problems, kind=kind.name, wrapper=wrapper)
        try:
            weights, out = kind.build(ctx, args, shape)
        except Reported:
            return None, kind, args
        except LayerProblem as exc:
            problems.append(problem(spec.arg_loc(exc.arg), where,
                                    f"argument {exc.arg!r}: {exc.text}" if exc.arg else exc.text))
            return None, kind, args
        if args.get("trainable") is False:
            weights = [w._replace(trainable=False) for w in weights]
        variant = kind.variant(args) if kind.variant else ctx.inner_variant  # a wrapper's: its layer's
        # its first input: a layer counted from a file's stored weights may be called on several too
        first = shape[0] if shape and (kind.many or args.get("stored_in") and isinstance(shape[0], tuple)) else shape
        layer = finish(name, kind, weights, out, variant, first if self.tracks_shapes else None)
        if kind.label is not None:
            layer = layer._replace(type=kind.label(args))
        if args.get("stored_in"):  # a model file's custom layer, counted from the weights the file stores
            layer = layer._replace(stored=args["stored_in"])
        if spec.uncosted:
            layer = layer._replace(uncosted=spec.uncosted)
        return layer, kind, args
