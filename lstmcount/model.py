"""The framework-neutral model description every source produces: the ground floor of the package.

A Model is a directed acyclic graph: named inputs, nodes (a layer with its arguments and what it
is called on), and outputs. A chain of layers, where each reads the one before it, is the special
case and needs no call information at all. Nothing here knows a framework or a file format; it
imports only `errors`.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import Loc, problem, show

# Limits that hold for every source (a YAML spec, flags, a model file).
MAX_BYTES = 16 * 1024 * 1024
MAX_LAYERS = 20_000
MAX_NESTING = 8
MAX_PROBLEMS = 50
MAX_RANK = 8  # axes of an input shape
MAX_SIZE = 10**12  # any one size (units, features, filters...): beyond what any framework could build
MAX_DEPTH_LAYERS = 10_000  # stacked layers in one flag set or one PyTorch module
MAX_INPUTS = 1_000  # named inputs of one model, and tensors one call reads

Shape = tuple[int | None, ...]

# Other names people write for a framework (a spec's `framework:`, `-f` on the command line).
FRAMEWORK_ALIASES = {"torch": "pytorch", "tf.keras": "keras", "tensorflow": "keras"}


def layer_where(index: int, name: Any, cls: str, within: str | None = None) -> str:
    """`layer 3 'lstm_1' (LSTM)`: where a layer stands in messages: its 1-based position, its name when
    it has one (escaped and bounded as `show` writes values: names come from files), its class; a layer
    nested in another (`within`: `layer 3 'bi' (Bidirectional): its layer`) is named after it."""
    named = f"{show(name)} " if isinstance(name, str) and name else ""
    cls = cls if len(cls) <= 100 else f"{cls[:60]}... ({len(cls):,} characters)"  # a class name from a file
    return f"{within} {named}({cls})" if within else f"layer {index} {named}({cls})"


def stopped(source: str, count: int) -> str:
    return f"{source}: stopping after {count} problems"


MAX_SUGGEST = 200  # longer words and options are not compared (difflib's time grows with their lengths' product)
MAX_SUGGEST_OPTIONS = 1_000  # options compared with a word: those nearest it in length


def suggest(word: str, options: Iterable[str]) -> str:
    """`; did you mean 'units'?` for the option nearest a misspelled word (or nothing), in bounded time:
    at most MAX_SUGGEST_OPTIONS options of at most MAX_SUGGEST characters are compared."""
    word = str(word)
    if len(word) > MAX_SUGGEST:
        return ""
    fit = [o for o in options if isinstance(o, str) and len(o) <= MAX_SUGGEST]
    if len(fit) > MAX_SUGGEST_OPTIONS:
        fit = heapq.nsmallest(MAX_SUGGEST_OPTIONS, fit, key=lambda o: abs(len(o) - len(word)))
    near = difflib.get_close_matches(word, fit, n=1, cutoff=0.6)
    return f"; did you mean {show(near[0])}?" if near else ""


def shape_text(shape: Shape | None, batch: bool = True) -> str:
    """(None, 28, 75): Keras's way of writing a shape with its batch axis ("" when unknown)."""
    if shape is None:
        return ""
    dims = (None, *shape) if batch else shape
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def kind_of(value: Any) -> str:
    """What a value is, in a user's words (for messages)."""
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


def topological_order(deps: list[set[int]]) -> list[int]:
    """Entries 0..n-1 ordered so each comes after every entry it depends on (`deps[i]`), the smallest
    index first wherever several are ready (file order where the references allow it). Entries on a
    circle, and those waiting on one, are left out. Linear in entries + edges (and a heap)."""
    users: list[list[int]] = [[] for _ in deps]
    waiting = [len(d) for d in deps]
    for i, need in enumerate(deps):
        for j in need:
            users[j].append(i)
    ready = [i for i, n in enumerate(waiting) if n == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    return order


class LocDict(dict[Any, Any]):
    """A mapping that remembers where it and each of its keys stood in the file."""

    loc: Loc
    key_locs: dict[Any, Loc]


class LocList(list[Any]):
    """A sequence that remembers where each of its items stood."""

    locs: list[Loc]


class Ref(NamedTuple):
    """A tensor a call reads: output number `output` of the node (or model input) called `name`.

    `output` None is the name alone: the node's first output.
    """

    name: str
    output: int | None = None
    loc: Loc = Loc()

    def __str__(self) -> str:
        return self.name if self.output is None else f"{self.name}[{self.output}]"


@dataclass(frozen=True)
class Call:
    """What a graph node is called on. A chain's nodes have none: each reads the entry before it."""

    inputs: tuple[Ref, ...] | None = None  # None: the entry before it
    listed: bool = False  # `inputs` written as a list: the layer is called on a list of tensors
    initial_state: tuple[Ref, ...] = ()
    mask: Ref | None = None
    # keyword tensors of attention layers (MultiHeadAttention's key, Attention's value given apart)
    keywords: tuple[tuple[str, Ref], ...] = ()

    def refs(self) -> tuple[Ref, ...]:
        """Every tensor the call reads, in Keras's order (inputs, keywords, initial states, mask)."""
        out = list(self.inputs or ())
        out += [r for _, r in self.keywords]
        out += self.initial_state
        if self.mask is not None:
            out.append(self.mask)
        return tuple(out)


@dataclass(frozen=True)
class LayerSpec:
    """One layer entry: its class name as written, its arguments and where they stood.

    In a graph, `call` says what it reads; `reuse` names a layer defined earlier that this entry calls
    again (no new weights; `args` then holds only this call's `name`); `model` is a nested model's own
    description (a Sequential or functional model used as a layer).
    """

    type: str
    args: dict[str, Any]
    index: int  # 1-based position in `layers`
    loc: Loc = field(default_factory=Loc)
    arg_locs: dict[str, Loc] = field(default_factory=dict)
    call: Call | None = None
    reuse: str | None = None
    model: Model | None = None
    within: str | None = None  # a nested layer's wrapper and argument: `layer 3 'bi' (Bidirectional): its layer`
    uncosted: str | None = None  # why its compute (--timesteps) cannot be counted, where its kind's could

    def where(self) -> str:
        return layer_where(self.index, self.args.get("name"), self.type, self.within)

    def arg_loc(self, arg: str | None) -> Loc:
        return self.arg_locs.get(arg, self.loc) if arg else self.loc


@dataclass(frozen=True)
class InputSpec:
    """A named model input: one sample's shape (no batch axis) and dtype."""

    name: str
    shape: Shape
    dtype: str | None = None
    loc: Loc = field(default_factory=Loc)


@dataclass(frozen=True)
class Model:
    framework: str
    layers: tuple[LayerSpec, ...]
    input_shape: Shape | None = None  # a single input (a chain, or a graph with one unnamed input)
    input_dtype: str | None = None
    name: str | None = None
    expect: dict[str, Any] | None = None
    source: str = "<flags>"
    locs: dict[str, Loc] = field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()  # named inputs (a graph); empty: the single `input_shape`
    outputs: tuple[Ref, ...] = ()  # empty: the last entry
    # Warnings about the input that do not stop the count (one located line each), printed to stderr.
    notes: tuple[str, ...] = ()
    saved_by: str | None = None  # what saved a model file, when it says (e.g. "Keras 2.21.0")

    @property
    def is_graph(self) -> bool:
        """Whether this model needs the graph walk (named inputs, calls, reuses, nested models, outputs)."""
        return bool(self.inputs or self.outputs) or any(
            s.call is not None or s.reuse is not None or s.model is not None for s in self.layers)


def layer_from_mapping(entry: Any, index: int, fallback: Loc, problems: list[str]) -> LayerSpec | None:
    """One layer mapping (a `layers:` entry, or a nested `layer:` argument) -> LayerSpec, or None with
    a problem recorded. Only `type:` is read here; every other key is an argument."""
    loc = entry.loc if isinstance(entry, LocDict) else fallback
    if not isinstance(entry, dict):
        problems.append(problem(loc, f"layer {index}", f"must be a mapping with a `type:`, got {kind_of(entry)}"))
        return None
    ltype = entry.get("type")
    if not isinstance(ltype, str) or not ltype.strip():
        problems.append(problem(loc, f"layer {index}", "needs a `type:` naming the layer class (e.g. LSTM)"))
        return None
    args = {str(k): v for k, v in entry.items() if k != "type"}
    key_locs = entry.key_locs if isinstance(entry, LocDict) else {}
    arg_locs = {str(k): key_locs.get(k, loc) for k in entry if k != "type"}
    return LayerSpec(ltype.strip(), args, index, key_locs.get("type", loc), arg_locs)


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
