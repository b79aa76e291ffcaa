"""Layer expressions -> Model: a layer or a small model as code writes it.

    LSTM(75, input_shape=(28, 28))
    Bidirectional(GRU(64, reset_after=False))              (with --input 28)
    nn.LSTM(28, 75, num_layers=2, bidirectional=True)
    Sequential([Input((28, 28)), LSTM(75), Dense(10)])

Read with Python's `ast`, never evaluated: literals only (numbers, strings, True, False, None, tuples,
lists, dicts, negative numbers), calls of layer classes (nested layers), keyword arguments, and
positional ones mapped by the class's signature (conventions/positional.py). Module prefixes pick the
framework (keras.layers., tf.keras.layers., layers., keras., torch.nn., nn.). What comes out is the
mapping a YAML spec holds, each key and item with its place in the expression, read by the spec reader:
the same checks and the same messages, pointing at the column of the bad argument.
"""

from __future__ import annotations

import ast
from typing import Any

from ..conventions import FRAMEWORKS
from ..conventions.positional import POSITIONAL
from ..errors import Loc, SpecError, UsageError, problem, show
from ..model import MAX_BYTES, MAX_LAYERS, MAX_NESTING, MAX_PROBLEMS, LocDict, LocList, Model
from .yamlspec import NESTED_TYPES, model_from_data

SOURCE = "<expression>"
PREFIXES = (("tf.keras.layers.", "keras"), ("keras.layers.", "keras"), ("tf.keras.", "keras"), ("keras.", "keras"),
            ("layers.", "keras"), ("torch.nn.", "pytorch"), ("nn.", "pytorch"))
LABEL = {"keras": "Keras", "pytorch": "PyTorch"}
INPUTS = ("Input", "InputLayer")  # a Keras model's input, first in a Sequential
SHAPE_ARGS = ("input_shape", "input_dim")  # any Keras layer takes them; the first layer's are the model's input
MAX_VALUE_DEPTH = 32
FIRST_INPUT_ARGS = ("input_size", "in_features")  # what --input gives a PyTorch model's first module


class _Reader:
    """One expression's reading: its text (for columns), its framework, the problems found."""

    def __init__(self, text: str, framework: str, why: str) -> None:
        self.lines = text.splitlines() or [""]
        self.framework = framework
        self.why = why  # what chose the framework, for messages
        self.problems: list[str] = []
        self.layers = 0

    def loc(self, node: ast.AST) -> Loc:
        """Line and column (in characters, 1-based) of a node; ast counts columns in UTF-8 bytes."""
        line = getattr(node, "lineno", 1)
        offset = getattr(node, "col_offset", 0)
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        return Loc(SOURCE, line, len(text.encode()[:offset].decode(errors="replace")) + 1)

    def fail(self, node: ast.AST, text: str) -> None:
        self.problems.append(problem(self.loc(node), None, text))

    def source(self, node: ast.AST) -> str:
        return show(ast.unparse(node))

    # --- names -----------------------------------------------------------------------------------

    def class_name(self, call: ast.Call) -> str | None:
        """The class a call names, without its module prefix (which must agree with the framework)."""
        dotted = _dotted(call.func)
        if dotted is None:
            self.fail(call, f"{self.source(call.func)} is not a layer class; a layer expression calls a class "
                            "by its name, e.g. LSTM(75) or nn.LSTM(28, 75)")
            return None
        for prefix, framework in PREFIXES:
            if dotted.startswith(prefix):
                if framework != self.framework:
                    self.fail(call, f"{dotted} is a {LABEL[framework]} class, and this expression is "
                                    f"{LABEL[self.framework]} code ({self.why})")
                    return None
                dotted = dotted[len(prefix):]
                break
        if "." in dotted:
            self.fail(call, f"{dotted}: unknown module prefix {dotted.rsplit('.', 1)[0] + '.'!r} (lstmcount "
                            "reads keras.layers., tf.keras.layers., layers., keras., torch.nn. and nn.)")
            return None
        return dotted

    # --- values ----------------------------------------------------------------------------------

    def value(self, node: ast.AST, depth: int = 0) -> Any:
        """A literal's value: lists and dicts remember where their items stood. Raises _Bad."""
        if depth > MAX_VALUE_DEPTH:
            raise _Bad(node, f"values nested more than {MAX_VALUE_DEPTH} deep")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) and \
                isinstance(node.operand, ast.Constant):
            number = node.operand.value
            if type(number) in (int, float):  # not a bool
                assert isinstance(number, (int, float))
                return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, (ast.Tuple, ast.List)):
            items = LocList(self.value(item, depth + 1) for item in node.elts)
            items.locs = [self.loc(item) for item in node.elts]
            return items
        if isinstance(node, ast.Dict):
            out = LocDict()
            out.loc, out.key_locs = self.loc(node), {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise _Bad(item, "**mappings cannot be read; write each entry")
                name = self.value(key, depth + 1)
                if not isinstance(name, str):
                    raise _Bad(key, f"a mapping's keys are strings here, got {self.source(key)}")
                out[name] = self.value(item, depth + 1)
                out.key_locs[name] = self.loc(key)
            return out
        if isinstance(node, ast.Name):
            raise _Bad(node, f"{node.id} is a name, not a value: lstmcount reads literals only and evaluates "
                             f"nothing (a string? write {node.id!r})")
        if isinstance(node, ast.Call):
            raise _Bad(node, f"{self.source(node)} is a call where a value belongs (layers go where a layer "
                             "argument or a Sequential's list of layers is)")
        raise _Bad(node, f"{self.source(node)} is code, not a value: lstmcount reads literals only and evaluates "
                         "nothing (numbers, strings, True, False, None, tuples, lists)")

    def argument(self, node: ast.AST, kind: str | None, depth: int) -> Any:
        """An argument's value: a nested layer where the class takes one, an identifier's mapping for a
        call such as GlorotUniform(seed=1), else a literal ("raw": read by the caller from its node)."""
        if kind == "raw":
            return None
        if isinstance(node, ast.Call) and kind == "layer":
            return self.layer(node, depth + 1)
        if isinstance(node, ast.Call) and kind == "ident":
            name = _dotted(node.func)
            if node.args:
                raise _Bad(node.args[0], f"write the arguments of {name} by name")
            config = {}
            for kw in node.keywords:
                if kw.arg is None:
                    raise _Bad(kw, "**kwargs cannot be read; write each argument by name")
                config[kw.arg] = self.value(kw.value, 1)
            return {"class_name": (name or "").rsplit(".", 1)[-1], "config": config}
        return self.value(node)

    # --- layers ----------------------------------------------------------------------------------

    def call_args(self, call: ast.Call, cls: str, order: tuple[str, ...] | None, kinds: dict[str, str],
                  depth: int, positional: bool = True) -> tuple[LocDict, dict[str, ast.AST]] | None:
        """The call's arguments by name (positional ones by the class's signature), each with its place.
        `positional` False: leave them out (an unknown class, which the spec reader names)."""
        args = LocDict()
        args.loc, args.key_locs = self.loc(call), {}
        nodes: dict[str, ast.AST] = {}
        named: list[tuple[str, ast.AST, ast.AST]] = []
        for k, node in enumerate(call.args if positional else ()):
            if isinstance(node, ast.Starred):
                self.fail(node, f"*{ast.unparse(node.value)[:60]} cannot be read; write each argument of {cls}")
                return None
            if order is None:
                self.fail(node, f"{cls}'s arguments are read by name only here; write {cls}(name=value, ...)")
                return None
            if k >= len(order):
                self.fail(node, f"{cls} takes at most {len(order)} arguments by position ({', '.join(order)}); "
                                "write the others by name")
                return None
            named.append((order[k], node, node))
        for kw in call.keywords:
            if kw.arg is None:
                self.fail(kw, f"**{ast.unparse(kw.value)[:60]} cannot be read; write each argument of {cls} by "
                              "name")
                return None
            named.append((kw.arg, kw.value, kw))
        ok = True
        for name, value, at in named:
            if name in args:
                self.fail(at, f"{cls} got the argument {name!r} twice")
                ok = False
                continue
            try:
                args[name] = self.argument(value, kinds.get(name), depth)
            except _Bad as bad:
                self.fail(bad.node, f"argument {name!r}: {bad.text}")
                ok = False
                continue
            args.key_locs[name] = self.loc(at)
            nodes[name] = value
        return (args, nodes) if ok else None

    def layer(self, call: ast.Call, depth: int) -> LocDict | None:
        """A layer call -> a layer mapping ({type: LSTM, units: 75, ...}), or a nested model's mapping."""
        if depth > MAX_NESTING:
            raise _Bad(call, f"layers nested more than {MAX_NESTING} deep")
        self.layers += 1
        if self.layers > MAX_LAYERS:
            raise _Bad(call, f"more than {MAX_LAYERS:,} layers")
        cls = self.class_name(call)
        if cls is None:
            return None
        if cls in NESTED_TYPES:
            return self.model(call, cls, depth)
        if cls in INPUTS:
            self.fail(call, f"{cls}(...) is a model's input: it goes first in a Sequential's list")
            return None
        fw = FRAMEWORKS[self.framework]
        kind = fw.kind(cls, None)
        order = POSITIONAL[self.framework].get(kind.name) if kind is not None else None
        kinds = {name: arg.kind for name, arg in fw.table(kind)[0].items()} if kind is not None else {}
        read = self.call_args(call, cls, order, kinds, depth, positional=kind is not None)
        if read is None:
            return None
        args, _ = read
        entry = LocDict({"type": cls, **args})
        entry.loc, entry.key_locs = self.loc(call), {"type": self.loc(call.func), **args.key_locs}
        return entry

    def model(self, call: ast.Call, cls: str, depth: int) -> LocDict | None:
        """Sequential([...]) (Keras) or nn.Sequential(a, b, ...) (PyTorch) -> a model mapping: its layers,
        and (Keras) the input its Input or first layer gives."""
        if self.framework == "pytorch":
            if cls != "Sequential" or call.keywords or depth > 0:
                self.fail(call, "a PyTorch model here is nn.Sequential(module, module, ...) at the top")
                return None
            items: list[ast.AST] = list(call.args)
            if len(items) == 1 and isinstance(items[0], (ast.List, ast.Tuple)):
                self.fail(items[0], "nn.Sequential takes its modules one by one, not as a list: "
                                    "nn.Sequential(nn.LSTM(28, 75), nn.Linear(75, 10)) (or is this Keras "
                                    "code? its prefixed names say PyTorch)")
                return None
            data = LocDict()
            data.loc, data.key_locs = self.loc(call), {"layers": self.loc(call)}
        else:
            if cls != "Sequential":
                self.fail(call, f"a {cls} model needs its inputs and outputs as variables; a layer expression "
                                "holds a Sequential([...]) (or write the model as a YAML spec)")
                return None
            read = self.call_args(call, cls, POSITIONAL["keras"]["Sequential"], {"layers": "raw"}, depth)
            if read is None:
                return None
            data, nodes = read
            listed = nodes.get("layers")
            if not isinstance(listed, (ast.List, ast.Tuple)) or not listed.elts:
                self.fail(listed or call, "a Sequential takes a list of layers, e.g. "
                                          "Sequential([Input((28, 28)), LSTM(75)])")
                return None
            items = list(listed.elts)
            data.key_locs["layers"] = self.loc(listed)
        layers = LocList()
        layers.locs = []
        for k, item in enumerate(items):
            if len(self.problems) >= MAX_PROBLEMS:
                break
            if not isinstance(item, ast.Call):
                self.fail(item, f"{self.source(item)} is not a layer (a Sequential holds layer calls)")
                continue
            if k == 0 and self.framework == "keras" and _bare(_dotted(item.func)) in INPUTS:
                self.model_input(item, data)
                continue
            try:
                entry = self.layer(item, depth + 1)
            except _Bad as bad:
                self.fail(bad.node, bad.text)
                continue
            if entry is not None:
                layers.append(entry)
                layers.locs.append(entry.loc)
        data["layers"] = layers
        trainable = data.pop("trainable", True) if depth == 0 else True
        if trainable is not True:  # a frozen model: each of its layers is
            for entry in layers:
                entry["trainable"] = trainable
                entry.key_locs["trainable"] = data.key_locs["trainable"]
        if depth > 0:
            data["type"] = cls
            data.key_locs["type"] = self.loc(call.func)
        return data

    def model_input(self, call: ast.Call, data: LocDict) -> None:
        """Input((28, 28)) / InputLayer(shape=...) first in a Sequential: the model's input shape and dtype."""
        cls = self.class_name(call) or "Input"
        read = self.call_args(call, cls, POSITIONAL["keras"][cls], {}, 0)
        if read is None:
            return
        args, _ = read
        for name in ("tensor", "input_tensor"):
            if args.get(name) is not None:
                self.fail(call, f"{cls}'s {name} is a tensor, which an expression cannot hold")
        shape = args.get("shape")
        at = args.key_locs.get("shape")
        if shape is None and isinstance(args.get("batch_shape"), list) and args["batch_shape"]:
            shape = LocList(args["batch_shape"][1:])
            shape.locs = args["batch_shape"].locs[1:]
            at = args.key_locs["batch_shape"]
        if shape is None:
            self.fail(call, f"{cls} needs the shape of one sample, e.g. {cls}((28, 28))")
            return
        data["input_shape"] = shape
        data.key_locs["input_shape"] = at or self.loc(call)
        if args.get("dtype") is not None:
            data["input_dtype"] = args["dtype"]
            data.key_locs["input_dtype"] = args.key_locs["dtype"]


class _Bad(Exception):
    """A value that cannot be read, and where it stands."""

    def __init__(self, node: ast.AST, text: str) -> None:
        super().__init__(text)
        self.node, self.text = node, text


def _dotted(node: ast.AST) -> str | None:
    """`keras.layers.LSTM` for a chain of attributes ending in a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _bare(dotted: str | None) -> str | None:
    """A class name without its module prefix."""
    for prefix, _ in PREFIXES:
        if dotted and dotted.startswith(prefix):
            return dotted[len(prefix):]
    return dotted


def _framework(tree: ast.AST, given: str | None) -> tuple[str, str]:
    """The framework -f names, else the one the first prefixed class names, else Keras; and what chose it."""
    if given is not None:
        return given, f"-f {given}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            dotted = _dotted(node.func) or ""
            for prefix, framework in PREFIXES:
                if dotted.startswith(prefix):
                    return framework, f"as {dotted} says"
    return "keras", "Keras, as class names without a module prefix are"


def loads(text: str, features: int | None = None, framework: str | None = None) -> Model:
    """A Model from a layer expression; `features` and `framework` are the --input and -f flags (the input
    features where the expression gives none; the framework of names without a module prefix)."""
    if framework is not None and framework not in LABEL:
        raise UsageError(f"a layer expression is Keras or PyTorch code; -f {framework} goes with a layer from flags "
                         "(--units, --input)")
    if len(text.encode()) > MAX_BYTES:
        raise UsageError(f"the layer expression is larger than {MAX_BYTES // (1024 * 1024)} MiB")
    stripped = text.lstrip(" \t")
    indent = len(text) - len(stripped)
    try:
        tree = ast.parse(stripped, SOURCE, mode="eval")
    except SyntaxError as exc:
        line, column = exc.lineno or 1, (exc.offset or 1) + (indent if (exc.lineno or 1) == 1 else 0)
        raise SpecError([problem(Loc(SOURCE, line, column), None, f"not a layer expression: {exc.msg}")]) from None
    except (RecursionError, MemoryError, ValueError) as exc:
        what = "nested too deeply" if not isinstance(exc, ValueError) else str(exc)
        raise SpecError([problem(Loc(SOURCE, 1, 1), None, f"not a layer expression: {what}")]) from None
    if indent:
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) == 1 and hasattr(node, "col_offset"):
                node.col_offset += indent
    reader = _Reader(text, *_framework(tree, framework))
    data = _read(reader, tree.body)
    if reader.problems or data is None:
        raise SpecError(reader.problems or [problem(Loc(SOURCE, 1, 1), None, "not a layer expression")])
    data["framework"] = reader.framework
    _give_input(reader, data, features, tree.body)
    return model_from_data(data, SOURCE)


def _read(reader: _Reader, body: ast.AST) -> LocDict | None:
    """The expression's model mapping: a Sequential's, or one layer's as a model of one layer."""
    if not isinstance(body, ast.Call):
        reader.fail(body, "a layer expression is a call of a layer class, e.g. LSTM(75, input_shape=(28, 28)), "
                          "nn.LSTM(28, 75) or Sequential([Input((28, 28)), LSTM(75)])")
        return None
    try:
        cls = reader.class_name(body)
        if cls is None:
            return None
        if cls in NESTED_TYPES:
            data = reader.model(body, cls, 0)
        else:
            entry = reader.layer(body, 0)
            if entry is None:
                return None
            data = LocDict({"layers": LocList([entry])})
            data["layers"].locs = [entry.loc]
            data.loc, data.key_locs = entry.loc, {"layers": entry.loc}
    except _Bad as bad:
        reader.fail(bad.node, bad.text)
        return None
    if data is not None and reader.framework == "keras":
        _first_layer_input(data)
    return data


def _first_layer_input(data: LocDict) -> None:
    """Keras: the first layer's input_shape (or input_dim) is the model's input when no Input gives it, and
    every layer's is taken off (Keras reads only the first one's)."""
    layers = data.get("layers") or []
    for k, entry in enumerate(layers):
        if "layers" in entry:  # a nested Sequential: its own first layer
            _first_layer_input(entry)
        for name in SHAPE_ARGS:
            if name not in entry:
                continue
            value = entry.pop(name)
            at = entry.key_locs.pop(name)
            if k == 0 and "input_shape" not in data:
                data["input_shape"] = LocList([value]) if name == "input_dim" else value
                if name == "input_dim":
                    data["input_shape"].locs = [at]
                data.key_locs["input_shape"] = at


def _give_input(reader: _Reader, data: LocDict, features: int | None, body: ast.AST) -> None:
    """--input N: a Keras model's input (None, N), or a PyTorch first module's input size, where the
    expression leaves it out; refused where the expression gives it."""
    layers = data.get("layers") or []
    if reader.framework == "keras":
        if features is None:
            if "input_shape" not in data:
                raise SpecError([problem(reader.loc(body), None, "nothing gives the model's input: give the first "
                                         "layer input_shape=(timesteps, features) (e.g. LSTM(75, input_shape=(28, "
                                         "28))), start a Sequential with Input((28, 28)), or give --input N (features "
                                         "per time step)")])
            return
        if "input_shape" in data:
            raise UsageError(f"--input {features}: the expression gives the model's input already "
                             f"(shape {show(list(data['input_shape']))})")
        data["input_shape"] = [None, features]
        return
    if features is None or not layers:
        return
    first = layers[0]
    kind = FRAMEWORKS["pytorch"].kind(str(first.get("type")), None)
    takes = [name for name in FIRST_INPUT_ARGS if kind is not None and name in kind.args]
    if not takes:
        raise UsageError(f"--input {features}: gives a first module's input_size or in_features; "
                         f"nn.{first.get('type')} takes neither")
    if takes[0] in first:
        raise UsageError(f"--input {features}: the expression gives nn.{first['type']} its {takes[0]} already "
                         f"({show(first[takes[0]])})")
    first[takes[0]] = features
