"""The walk from a Model to its layout, framework-neutral: the framework's table builds each layer.

A chain flows one shape from layer to layer. A graph is walked in topological order (file order where
the references allow it): each node's input shapes are the outputs it names, shapes flow as Keras
infers them, a layer called again (`reuse:`) adds a call but no weights, and a nested model is walked
on its own and becomes one layer holding its layers. Time and memory are linear in nodes + edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import Loc, SpecError, problem, show
from ..layout import Call as LayerCall
from ..layout import LayerLayout, ModelLayout
from ..model import (
    MAX_INPUTS,
    MAX_PROBLEMS,
    InputSpec,
    LayerSpec,
    Model,
    Ref,
    Shape,
    layer_where,
    shape_text,
    stopped,
    suggest,
    topological_order,
)
from .base import Framework, Kind, _same_layer, snake

INPUT_LAYER = "InputLayer"
NESTED = ("Sequential", "Functional", "Model")


@dataclass
class _Tensors:
    """What a name refers to: a model input, a layer's call, or a reuse of a layer (another call)."""

    outputs: tuple[Shape | None, ...] = ()
    main: Shape | None = None  # what a chain hands on (None: nothing single)
    layer: str = ""  # the layer's name, in Connected-to labels
    node: int = 0  # which call of the layer
    ok: bool = False  # built: its shapes are known


@dataclass
class _Walk:
    fw: Framework
    model: Model
    problems: list[str] = field(default_factory=list)

    def add(self, loc: Loc | None, where: str | None, text: str) -> None:
        """One problem; after MAX_PROBLEMS of them, one line that says the walk stops there."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem(loc, where, text))
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append(stopped(self.model.source, MAX_PROBLEMS))

    @property
    def full(self) -> bool:
        """Whether what is added now goes unsaid (a hint for it need not be worked out)."""
        return len(self.problems) >= MAX_PROBLEMS


def _fmt(shape: Shape | None) -> str:
    return shape_text(shape) or "an unknown shape"


def walk(fw: Framework, model: Model, call_shapes: tuple[Shape | None, ...] | None = None,
         depth: int = 0) -> ModelLayout:
    """The model's layout in `fw` (raises SpecError listing every problem found).

    `call_shapes`: for a nested model, the shapes it is called on, in place of its own inputs.
    After a layer fails, later layers still have their arguments checked, but are not built when
    their input shape depends on the failed one.
    """
    w = _Walk(fw, model)
    graph = model.is_graph or depth > 0
    inputs = model_inputs(model)
    if call_shapes is not None:  # a nested model takes the shapes it is called on
        inputs = _nested_inputs(w, model, inputs, call_shapes)
    tensors: dict[str, _Tensors] = {}
    for inp in inputs:
        tensors[inp.name] = _Tensors((inp.shape,), inp.shape, inp.name, 0, True)
    if fw.tracks_shapes and not inputs:
        w.add(model.locs.get("layers", Loc(model.source, 1, 1)), None,
              f"a {fw.name} model needs `input_shape:` (one sample's shape without the batch axis, e.g. [28, 28]; "
              "null for a free time axis)" + (" or named `inputs:`" if graph else ""))
    names = _names(w, tensors)
    index = {name: i for i, name in enumerate(names)}
    order = _order(w, names, tensors, inputs) if graph else list(range(len(model.layers)))
    layers: dict[int, LayerLayout] = {}
    specs = model.layers
    built: dict[tuple[Any, ...], LayerLayout] = {}  # layers already built, by _same_layer
    calls: dict[int, list[LayerCall]] = {}
    broken = w.problems != []
    previous: _Tensors | None = tensors[inputs[0].name] if inputs else None
    for i in order:
        if w.full:
            if len(w.problems) == MAX_PROBLEMS:
                w.problems.append(stopped(model.source, MAX_PROBLEMS))
            break
        spec, name = specs[i], names[i]
        if not graph:  # a chain: each layer reads the one before it
            src = previous if previous is not None and previous.ok and not broken else None
            shape_in: Any = src.main if src is not None else None
            labels: tuple[str, ...] = ()
            ready = src is not None or not fw.tracks_shapes
            states: tuple[Shape | None, ...] = ()
            listed = False
        else:
            slots = _slots(w, spec, index) if spec.call is not None and spec.call.keywords else ()
            ready, shape_in, labels, states, listed = _inputs(w, spec, i, names, tensors, slots)
        entry = _Tensors(layer=name)
        if spec.reuse is not None:
            _reuse(w, spec, index, layers, calls, entry, shape_in, labels, ready, listed)
        elif spec.model is not None:
            nested = _nested(w, spec, name, shape_in, listed, depth, ready)
            if nested is not None:
                layers[i] = nested
                entry.outputs, entry.main, entry.ok = _outs(nested), nested.output_shape, True
                calls[i] = [LayerCall(labels, _first(shape_in), nested.output_shape, nested.outputs)]
        else:
            kind = fw.kind(spec.type, w.problems, spec)
            if kind is None:
                broken = True
                tensors[name] = entry
                previous = entry
                continue
            if not ready and fw.tracks_shapes:
                fw.check_args(kind, spec, w.problems)
                broken = True
                tensors[name] = entry
                previous = entry
                continue
            if (graph or kind.many) and not _arity(w, spec, kind, shape_in, listed):
                tensors[name] = entry
                previous = entry
                continue
            key = _same_layer(kind, spec.args, shape_in)
            if key is not None and spec.uncosted:
                key = (*key, spec.uncosted)
            earlier = built.get(key) if key is not None else None
            if earlier is not None:  # the same class, arguments and input: the same weights and output
                layer: LayerLayout | None = earlier._replace(name=name, entry=i + 1)
            else:
                layer, _, _ = fw.build_layer(spec, shape_in, name, w.problems)
                if layer is not None and key is not None:
                    built[key] = layer
            if layer is not None and states and not _states_fit(w, spec, kind, layer, states):
                layer = None
            if layer is None:
                broken = True
            else:
                layers[i] = layer
                entry.outputs, entry.main, entry.ok = _outs(layer), layer.output_shape, True
                if graph:
                    calls[i] = [LayerCall(labels, _first(shape_in), layer.output_shape, layer.outputs)]
        tensors[name] = entry
        previous = entry
    outputs = _outputs(w, names, tensors, order) if graph else ()
    if w.problems:
        raise SpecError(w.problems)
    # a chain's layers know their entry already; a graph's also get their calls
    out_layers = [layers[i]._replace(calls=tuple(calls.get(i, ())), entry=i + 1) if graph or layers[i].entry is None
                  else layers[i] for i in sorted(layers)]
    if graph:
        out_layers = [LayerLayout(inp.name, INPUT_LAYER, (), inp.shape, calls=(LayerCall((), None, inp.shape),))
                      for inp in inputs] + out_layers
    return ModelLayout(fw.name, model.name, model.input_shape if call_shapes is None else _first_input(inputs),
                       tuple(out_layers), graph, outputs)


def model_inputs(model: Model, count: int = 0) -> list[InputSpec]:
    """The model's inputs as the walk names them: its named inputs, or its one `input_shape`
    (`input_layer`), or, for a nested model that declares neither, one per tensor it is called on
    (`input_layer`, `input_layer_1`, ...; their shapes are the tensors')."""
    if model.inputs:
        return list(model.inputs)
    if model.input_shape is not None:
        return [InputSpec("input_layer", model.input_shape, model.input_dtype,
                          model.locs.get("input_shape", Loc(model.source)))]
    return [InputSpec(f"input_layer_{k}" if k else "input_layer", ()) for k in range(count)]


def plan(fw: Framework, model: Model, inputs: list[InputSpec]) -> tuple[list[str], list[int]]:
    """Each entry's name and the order the walk takes the entries in, for a bridge that builds the same
    graph in the framework itself (of a model the walk has accepted; `inputs` as `model_inputs` gives)."""
    w = _Walk(fw, model)
    tensors = {inp.name: _Tensors() for inp in inputs}
    names = _names(w, tensors)
    return names, _order(w, names, tensors, inputs)


def _first(shape_in: Any) -> Shape | None:
    """The first input's shape of what a layer is called on (one shape, or a tuple of them)."""
    if isinstance(shape_in, list):
        return shape_in[0] if shape_in else None
    return shape_in  # type: ignore[no-any-return]


def _first_input(inputs: list[InputSpec]) -> Shape | None:
    return inputs[0].shape if len(inputs) == 1 else None


def _outs(layer: LayerLayout) -> tuple[Shape | None, ...]:
    return layer.outputs or (layer.output_shape,)


def _names(w: _Walk, tensors: dict[str, _Tensors]) -> list[str]:
    """Each entry's name: its own, or Keras's (the class in snake case, numbered from the second)."""
    used: dict[str, int] = {}
    taken = set(tensors)
    names: list[str] = []
    for k, spec in enumerate(w.model.layers):
        name = spec.args.get("name")
        if spec.reuse is not None:
            names.append(name if isinstance(name, str) and name else f"{spec.reuse}#{k}")
            if isinstance(name, str) and name in taken:
                w.add(spec.arg_loc("name"), spec.where(), f"{show(name)} is already the name of a layer or input")
            taken.add(names[-1])
            continue
        if not isinstance(name, str) or not name:
            kind = w.fw.kind(spec.type, None)
            label = spec.args.get("class_name") if kind is not None and kind.label is not None else None
            base = snake(label if isinstance(label, str) and label else kind.name if kind is not None else spec.type)
            n = used.get(base, 0)
            used[base] = n + 1
            name = base if n == 0 else f"{base}_{n}"
            if name in taken and w.model.is_graph:
                w.add(spec.loc, spec.where(), f"is named {show(name)} by Keras's rule, which another layer or input "
                                              "has already: give it a `name:`")
        elif name in taken:
            kind = w.fw.kind(spec.type, None)
            where = layer_where(spec.index, name, kind.name if kind else spec.type)
            w.add(spec.arg_loc("name"), where, f"argument 'name': {show(name)} is already the name of another "
                                               "layer" + (" or input" if w.model.inputs else ""))
        taken.add(name)
        names.append(name)
    return names


def _refs(spec: LayerSpec) -> tuple[Ref, ...]:
    return spec.call.refs() if spec.call is not None else ()


def _order(w: _Walk, names: list[str], tensors: dict[str, _Tensors], inputs: list[InputSpec]) -> list[int]:
    """Entries in topological order, in file order wherever the references allow; unknown names and
    cycles are problems (their entries are left out)."""
    specs = w.model.layers
    index = {name: i for i, name in enumerate(names)}
    known = set(index) | set(tensors)
    deps: list[set[int]] = []
    for i, spec in enumerate(specs):
        need: set[int] = set()
        if (spec.call is None or spec.call.inputs is None) and i > 0:
            need.add(i - 1)
        for ref in _refs(spec):
            if ref.name in index:
                need.add(index[ref.name])
            elif ref.name not in known:
                w.add(ref.loc, spec.where(), f"no layer or input is called {show(ref.name)}"
                                             f"{'' if w.full else suggest(ref.name, sorted(known))}")
        if spec.reuse is not None:
            target = index.get(spec.reuse)
            if target is None or specs[target].reuse is not None:
                what = "a reuse: entry, not a layer" if target is not None else "no layer by that name"
                layers_named = [] if w.full else sorted(n for n, k in index.items() if specs[k].reuse is None)
                w.add(spec.loc, spec.where(), f"reuse: {show(spec.reuse)}: {what}{suggest(spec.reuse, layers_named)}")
            else:
                need.add(target)
        deps.append(need)
    order = topological_order(deps)
    if len(order) < len(specs):
        placed = set(order)
        left = {i for i in range(len(specs)) if i not in placed}
        cycle = _cycle(left, deps)
        spec = specs[cycle[0]]
        w.add(spec.loc, spec.where(), "the layers read each other in a circle: "
                                      + " -> ".join(names[i] for i in [*cycle, cycle[0]]))
    return order


def _cycle(left: set[int], deps: list[set[int]]) -> list[int]:
    """One cycle among the entries that never became ready (each waits on another of them)."""
    start = min(left)
    seen: dict[int, int] = {}
    path: list[int] = []
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(j for j in deps[node] if j in left)
    return path[seen[node]:]


def _slots(w: _Walk, spec: LayerSpec, index: dict[str, int]) -> tuple[str, ...]:
    """The tensors the entry's layer (or the layer it calls again) takes as call arguments by name."""
    target = w.model.layers[index[spec.reuse]] if spec.reuse in index else spec
    kind = w.fw.kind(target.type, None) if target.model is None and target.reuse is None else None
    return kind.tensors if kind is not None else ()


def _inputs(w: _Walk, spec: LayerSpec, i: int, names: list[str], tensors: dict[str, _Tensors],
            slots: tuple[str, ...] = ()) -> tuple[bool, Any, tuple[str, ...], tuple[Shape | None, ...], bool]:
    """(ready, input shape (one, or a tuple of them for several tensors), Connected-to labels, initial
    states, whether it is called on several). Several positional tensors are a list; keyword tensors
    named in `slots` follow them in the slots' order (MultiHeadAttention(query, value, key=...))."""
    call = spec.call
    labels: list[str] = []
    ready = True

    def resolve(ref: Ref | None) -> Shape | None:
        nonlocal ready
        if ref is None:  # the entry before it (or the model's first input)
            src = tensors.get(names[i - 1]) if i > 0 else next(iter(tensors.values()), None)
            if src is None or not src.ok:
                ready = False
                return None
            labels.append(f"{src.layer}[{src.node}][0]")
            return src.main
        src = tensors.get(ref.name)
        if src is None or not src.ok:
            ready = False
            return None
        k = ref.output or 0
        if k >= len(src.outputs):
            n = len(src.outputs)
            w.add(ref.loc, spec.where(), f"{show(str(ref))}: {show(ref.name)} has {n} output{'s' if n > 1 else ''} "
                                         f"(0 to {n - 1})")
            ready = False
            return None
        labels.append(f"{src.layer}[{src.node}][{k}]")
        return src.outputs[k]

    if call is None or call.inputs is None:
        shape_in: Any = resolve(None)
    elif call.listed or len(call.inputs) > 1:
        shape_in = [resolve(r) for r in call.inputs]
    else:
        shape_in = resolve(call.inputs[0])
    named = dict(call.keywords) if call else {}
    if slots and named:
        given = shape_in if isinstance(shape_in, list) else [shape_in]
        for slot in slots[len(given):]:
            if slot not in named:
                break
            given.append(resolve(named.pop(slot)))
        shape_in = given
    for ref in named.values():
        resolve(ref)
    states = tuple(resolve(r) for r in call.initial_state) if call else ()
    if call is not None and call.mask is not None:
        resolve(call.mask)
    listed = isinstance(shape_in, list)
    if listed:
        shape_in = tuple(shape_in)
    return ready, shape_in, tuple(labels), states, listed


def _arity(w: _Walk, spec: LayerSpec, kind: Kind, shape_in: Any, listed: bool) -> bool:
    """Whether the layer is called on as many tensors as it takes (one, or a list)."""
    if kind.many and spec.call is not None and spec.call.mask is not None:
        w.add(spec.arg_loc("mask"), f"layer {spec.index} ({kind.name})",
              "takes no mask: (a layer called on several tensors gets each one's mask with it, as Keras passes "
              "masks along)")
        return False
    if kind.many:
        n = len(shape_in) if listed else 1
        least, most = kind.inputs
        if not listed or not least <= n <= most:
            what = f"{least}" if least == most else f"{least} or more" if most >= MAX_INPUTS else f"{least} to {most}"
            w.add(spec.arg_loc("inputs"), f"layer {spec.index} ({kind.name})",
                  f"is called on a list of {what} tensors (inputs: [a, b]), got "
                  + (f"{n}" if listed else "one tensor"))
            return False
        return True
    if listed and not spec.args.get("stored_in"):  # a layer counted from a file's stored weights takes any
        w.add(spec.arg_loc("inputs"), f"layer {spec.index} ({kind.name})",
              f"is called on one tensor, got a list of {len(shape_in)} (a merge layer such as Concatenate takes "
              "a list; name one tensor without brackets)")
        return False
    return True


def _states_fit(w: _Walk, spec: LayerSpec, kind: Kind, layer: LayerLayout, states: tuple[Shape | None, ...]) -> bool:
    where = layer_where(spec.index, spec.args.get("name"), kind.name)
    loc = spec.arg_loc("initial_state")
    if not layer.states:
        w.add(loc, where, "only a recurrent layer takes initial_state")
        return False
    if len(states) != len(layer.states):
        w.add(loc, where, f"initial_state needs {len(layer.states)} tensor{'s' if len(layer.states) > 1 else ''} "
                          f"of shape {_fmt(layer.states[0])}, got {len(states)}")
        return False
    for k, (given, want) in enumerate(zip(states, layer.states, strict=True)):
        if given != want and not (given is not None and len(given) == len(want)
                                  and all(a is None or b is None or a == b for a, b in zip(given, want, strict=True))):
            w.add(loc, where, f"initial_state[{k}] has shape {_fmt(given)}; this layer's states are {_fmt(want)}")
            return False
    return True


def _reuse(w: _Walk, spec: LayerSpec, index: dict[str, int], layers: dict[int, LayerLayout],
           calls: dict[int, list[LayerCall]], entry: _Tensors, shape_in: Any, labels: tuple[str, ...], ready: bool,
           listed: bool) -> None:
    """Another call of a layer defined earlier: its outputs on the new inputs, the same weights."""
    assert spec.reuse is not None
    target = index.get(spec.reuse, -1)
    first = layers.get(target)
    if first is None or not ready:
        return
    specs = w.model.layers
    kind = w.fw.kind(specs[target].type, None) if specs[target].model is None else None
    if kind is not None and not _arity(w, spec, kind, shape_in, listed):
        return
    entry.layer = first.name
    entry.node = len(calls[target])
    if specs[target].model is not None:
        again = _nested(w, specs[target], first.name, shape_in, listed, 0, True)
    else:
        problems: list[str] = []
        again, _, _ = w.fw.build_layer(specs[target], shape_in, first.name, problems)
        if again is None:
            w.add(spec.loc, spec.where(), f"calls {show(first.name)} ({first.type}) again on {_fmt(_first(shape_in))}, "
                                          "which it does not take: " + "; ".join(p.rsplit(": ", 1)[-1]
                                                                                 for p in problems[:1]))
            return
    if again is None:
        return
    if _weights(again) != _weights(first):
        w.add(spec.loc, spec.where(), f"calls {show(first.name)} ({first.type}) again on {_fmt(_first(shape_in))}, but "
                                      f"its first call was on {_fmt(first.input_shape)}: Keras makes a layer's "
                                      "weights on its first call, and these inputs would need other weights")
        return
    calls[target].append(LayerCall(labels, _first(shape_in), again.output_shape, again.outputs))
    entry.outputs, entry.main, entry.ok = _outs(again), again.output_shape, True


def _weights(layer: LayerLayout) -> tuple[tuple[str, tuple[int, ...]], ...]:
    return tuple((wt.name, wt.shape) for wt in layer.weights)


def _nested_inputs(w: _Walk, model: Model, inputs: list[InputSpec], shapes: tuple[Shape | None, ...]
                   ) -> list[InputSpec]:
    """A nested model's inputs, given the shapes it is called on (its own, if it declares them, must agree)."""
    if not inputs:
        return [replace(inp, shape=s or ()) for inp, s in zip(model_inputs(model, len(shapes)), shapes, strict=True)]
    if len(inputs) != len(shapes):
        w.add(inputs[0].loc, None, f"the model takes {len(inputs)} input{'s' if len(inputs) > 1 else ''}, and is "
                                   f"called on {len(shapes)}")
        return inputs
    out = []
    for spec, shape in zip(inputs, shapes, strict=True):
        if shape is not None and (len(shape) != len(spec.shape) or any(
                a is not None and b is not None and a != b for a, b in zip(shape, spec.shape, strict=True))):
            w.add(spec.loc, None, f"input {show(spec.name)} has shape {_fmt(spec.shape)}, and the model is called on "
                                  f"{_fmt(shape)}")
        out.append(replace(spec, shape=shape if shape is not None else spec.shape))
    return out


def _nested(w: _Walk, spec: LayerSpec, name: str, shape_in: Any, listed: bool, depth: int,
            ready: bool) -> LayerLayout | None:
    """A Sequential or functional model used as a layer: one layer holding its own layers."""
    if not ready:
        return None
    assert spec.model is not None
    shapes = tuple(shape_in) if listed else (shape_in,)
    nested_model = replace(spec.model, source=w.model.source, framework=w.model.framework, name=name)
    try:
        inner = walk(w.fw, nested_model, shapes, depth + 1)
    except SpecError as exc:
        w.problems.extend(f"{m} (in the nested model {show(name)})" for m in exc.problems)
        return None
    real = [layer for layer in inner.layers if layer.type != INPUT_LAYER]
    if spec.args.get("trainable", True) is False:  # Keras freezes every layer of a frozen model
        real = [_frozen(layer) for layer in real]
    weights = tuple(wt._replace(name=f"{layer.name}/{wt.name}") for layer in real for wt in layer.weights)
    out = [s for s in _output_shapes(inner)]
    kind = spec.type if spec.type in NESTED else "Functional"
    return LayerLayout(name, kind, weights, out[0] if len(out) == 1 else None, False, None, _first(shape_in),
                       tuple(out) if len(out) > 1 else (), (), tuple(real))


def _frozen(layer: LayerLayout) -> LayerLayout:
    """The layer with every weight non-trainable, a nested model's layers too."""
    return layer._replace(weights=tuple(wt._replace(trainable=False) for wt in layer.weights),
                          layers=tuple(_frozen(sub) for sub in layer.layers))


def _output_shapes(layout: ModelLayout) -> list[Shape | None]:
    by_label = {}
    for layer in layout.layers:
        for node, call in enumerate(layer.calls):
            for k, shape in enumerate(call.outputs or (call.output_shape,)):
                by_label[f"{layer.name}[{node}][{k}]"] = shape
    return [by_label.get(label) for label in layout.outputs]


def _outputs(w: _Walk, names: list[str], tensors: dict[str, _Tensors], order: list[int]) -> tuple[str, ...]:
    """The model's outputs (`outputs:`, or the last entry) as labels; every layer must lead to one."""
    model = w.model
    refs = model.outputs or ((Ref(names[-1], None, model.locs.get("layers", Loc(model.source))),) if names else ())
    labels = []
    for ref in refs:
        src = tensors.get(ref.name)
        if src is None and ref.name in names:
            continue  # a layer that could not be walked: its problem is reported already
        if src is None:
            known = sorted(set(tensors) | set(names))
            w.add(ref.loc, "outputs", f"no layer or input is called {show(ref.name)}"
                                      f"{'' if w.full else suggest(ref.name, known)}")
            continue
        k = ref.output or 0
        if src.ok and k >= len(src.outputs):
            w.add(ref.loc, "outputs", f"{show(str(ref))}: {show(ref.name)} has {len(src.outputs)} output(s)")
            continue
        labels.append(f"{src.layer}[{src.node}][{k}]")
    if w.problems:
        return tuple(labels)
    # every call and input must lead to an output: Keras leaves out what does not, so say so. A layer
    # called again is kept by that call, but what its first call read is not, unless that call leads on.
    index = {name: i for i, name in enumerate(names)}
    reach: set[str] = set()
    kept: set[str] = set()  # layers whose later call leads to an output
    stack = [r.name for r in refs]
    while stack:
        name = stack.pop()
        if name in reach:
            continue
        reach.add(name)
        i = index.get(name)
        if i is None:
            continue
        spec = model.layers[i]
        if spec.call is None or spec.call.inputs is None:
            stack.append(names[i - 1] if i > 0 else next(iter(tensors)))
        stack.extend(r.name for r in _refs(spec))
        if spec.reuse is not None:
            kept.add(spec.reuse)
    for i, name in enumerate(names):
        spec = model.layers[i]
        if name not in reach and name not in kept:
            named = spec.args.get("name")
            what = "it" if isinstance(named, str) and named else repr(name) if spec.reuse is None else \
                f"this call of {show(spec.reuse)}"  # `it`: the layer's where() names it
            w.add(spec.loc, spec.where(), f"{what} leads to no output of the model (outputs: "
                                          f"{', '.join(str(r) for r in refs)}); Keras would leave it out: list it "
                                          "under outputs:, or remove it")
    for inp in model.inputs:
        if inp.name not in reach:
            w.add(inp.loc, None, f"input {show(inp.name)} leads to no output of the model")
    return tuple(labels)

