"""YAML model specs -> Model: a chain (`input_shape:` and `layers:`) or a graph (named `inputs:`,
layers that say what they are called on, `reuse:` of a layer, nested models, `outputs:`).

Only the standard library is imported here; PyYAML (in `yamlfile`) only when a spec is parsed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..errors import Loc, SpecError, problem, show
from ..model import (
    FRAMEWORK_ALIASES,
    MAX_INPUTS,
    MAX_LAYERS,
    MAX_NESTING,
    MAX_PROBLEMS,
    MAX_RANK,
    MAX_SIZE,
    Call,
    InputSpec,
    LayerSpec,
    LocDict,
    LocList,
    Model,
    Ref,
    Shape,
    kind_of,
    layer_from_mapping,
    layer_where,
    stopped,
    suggest,
)

FRAMEWORKS = ("keras", "pytorch")
TOP_KEYS = ("name", "framework", "input_shape", "input_dtype", "inputs", "layers", "outputs", "expect")
EXPECT_KEYS = ("total", "trainable", "non_trainable", "max_total", "layers")
# Keys of a layer entry that say how it is called, not what the layer is (graph models).
CALL_KEYS = ("inputs", "initial_state", "mask")
REUSE_KEYS = ("reuse", "name", *CALL_KEYS)
NESTED_TYPES = ("Sequential", "Functional", "Model")  # a model used as a layer
TORCH_PREFIXES = ("torch.nn.", "nn.")  # how PyTorch code names its Sequential


def _bare(type_name: str) -> str:
    """A nested model's class without the module path PyTorch code writes it with (nn.Sequential)."""
    for prefix in TORCH_PREFIXES:
        if type_name.startswith(prefix):
            return type_name[len(prefix):]
    return type_name


def loads(text: str, name: str = "<string>") -> Model:
    from .yamlfile import parse_yaml

    return model_from_data(parse_yaml(text, name), name)


def loc_of(data: Any, key: Any, fallback: Loc) -> Loc:
    if isinstance(data, LocDict):
        return data.key_locs.get(key, data.loc)
    return fallback


def _item_locs(items: list[Any], loc: Loc) -> list[Loc]:
    return items.locs if isinstance(items, LocList) else [loc] * len(items)


def model_from_data(data: Any, name: str) -> Model:
    root = Loc(name, 1, 1)
    if not isinstance(data, dict):
        raise SpecError([problem(root, None, f"a model spec must be a mapping with `layers:`, got {kind_of(data)}")])
    problems: list[str] = []
    for key in data:
        if key not in TOP_KEYS and not str(key).startswith("x-"):  # x-...: a place for anchors
            problems.append(problem(loc_of(data, key, root), None,
                                    f"unknown top-level key {show(key)}{suggest(str(key)[:100], TOP_KEYS)}"
                                    f" (allowed: {', '.join(TOP_KEYS)}, and x-... keys for YAML anchors)"))
    framework = data.get("framework", "keras")
    if isinstance(framework, str):
        framework = FRAMEWORK_ALIASES.get(framework.lower(), framework)
    if not isinstance(framework, str) or framework.lower() not in FRAMEWORKS:
        problems.append(problem(loc_of(data, "framework", root), None,
                                f"framework must be one of {', '.join(FRAMEWORKS)}, got {kind_of(framework)}"))
        framework = "keras"
    framework = framework.lower()
    dtype = data.get("input_dtype")
    if dtype is not None and not isinstance(dtype, str):
        problems.append(problem(loc_of(data, "input_dtype", root), None,
                                f"input_dtype must be a dtype name such as float32, got {kind_of(dtype)}"))
        dtype = None
    mname = data.get("name")
    if mname is not None and not isinstance(mname, str):
        mname = str(mname)
    body = _body(data, root, name, problems, 0)
    expect = _expect(data, root, problems)
    if framework != "keras" and (body.inputs or body.outputs or not _modules(body.layers, problems)):
        problems.append(problem(loc_of(data, "layers", root), None,
                                "graph models (inputs:, outputs:, reuse:, nested functional models) are Keras "
                                f"models; a {framework} spec is a list of modules (a Sequential of them too)"))
    notes: list[str] = []
    if not problems:
        body = _first_inputs(body, framework, problems, notes)
    if problems:
        raise SpecError(problems)
    locs = {str(k): loc_of(data, k, root) for k in data}
    return Model(framework, body.layers, body.input_shape, dtype or body.input_dtype, mname, expect, name, locs,
                 body.inputs, body.outputs, tuple(notes))


def _first_inputs(body: Model, framework: str, problems: list[str], notes: list[str]) -> Model:
    """The model (and each nested one) with the input its first layer gives, where it is a chain: Keras 2
    code gives a Sequential its input through the first layer's arguments (input_shape, ...)."""
    from ..conventions import FRAMEWORKS

    fw = FRAMEWORKS[framework]
    if fw.first_input is None:
        return body
    layers = [replace(s, model=_first_inputs(s.model, framework, problems, notes)) if s.model is not None else s
              for s in body.layers]
    shape, dtype = body.input_shape, body.input_dtype
    first = layers[0] if layers else None
    chain = first is not None and not body.inputs and first.call is None and first.reuse is None
    if chain and first is not None and first.type in INPUT_TYPES and framework == "keras":
        shape, dtype = _input_layer(first, shape, problems)
        layers.pop(0)
        first = layers[0] if layers else None
        if first is None:
            problems.append(problem(body.locs.get("layers", first_loc(body)), None,
                                    "the model has an input and no layer after it"))
    if chain and first is not None and first.call is None and first.reuse is None and first.model is None:
        found, layers[0], more = fw.first_input(fw, first, shape, problems)
        notes += more
        shape = found if found is not None else shape
    return replace(body, layers=tuple(layers), input_shape=shape, input_dtype=dtype)


INPUT_TYPES = ("InputLayer", "Input")  # a chain's first entry that is its input, as Keras writes it
_INPUT_ARGS = ("shape", "batch_shape", "input_shape", "batch_input_shape", "batch_size", "dtype", "name", "sparse",
               "ragged", "optional")


def first_loc(body: Model) -> Loc:
    return body.layers[0].loc if body.layers else Loc(body.source)


def _input_layer(spec: LayerSpec, given: Shape | None, problems: list[str]) -> tuple[Shape | None, str | None]:
    """The shape and dtype an InputLayer (or Input) entry gives a chain: `shape` (one sample's), or
    `batch_shape` with its batch axis first (Keras 2: `input_shape`, `batch_input_shape`)."""
    where = spec.where()
    for key in spec.args:
        if key not in _INPUT_ARGS:
            problems.append(problem(spec.arg_loc(key), where, f"{spec.type} takes no argument {show(key)} (it "
                                                              f"takes: {', '.join(_INPUT_ARGS)})"))
    for flag in ("sparse", "ragged", "optional"):
        if spec.args.get(flag) not in (None, False):
            problems.append(problem(spec.arg_loc(flag), where, f"argument {flag!r}: a {flag} input is not "
                                                               "modelled by lstmcount"))
    given_as = [k for k in ("shape", "batch_shape", "input_shape", "batch_input_shape") if k in spec.args]
    if len(given_as) != 1:
        problems.append(problem(spec.loc, where, "an input takes its shape once: shape: (one sample's, e.g. [28, "
                                                 f"28]) or batch_shape: (with the batch axis), got {len(given_as)}"))
        return given, None
    key = given_as[0]
    raw = spec.args[key]
    if key.startswith("batch"):
        if not isinstance(raw, list) or len(raw) < 2:
            problems.append(problem(spec.arg_loc(key), where, f"argument {key!r} holds the batch axis first and "
                                                              f"then one sample's shape, got {kind_of(raw)}"))
            return given, None
        raw = raw[1:]
    shape = _shape(raw, spec.arg_loc(key), f"argument {key!r}", problems)
    if given is not None:
        problems.append(problem(spec.loc, where, "the model's input is given twice: as input_shape: and by this "
                                                 f"{spec.type}; keep one"))
    dtype = spec.args.get("dtype")
    if dtype is not None and not isinstance(dtype, str):
        problems.append(problem(spec.arg_loc("dtype"), where, f"argument 'dtype' must be a dtype name such as "
                                                              f"float32, got {kind_of(dtype)}"))
        dtype = None
    return shape, dtype


def _modules(layers: tuple[LayerSpec, ...], problems: list[str]) -> bool:
    """Whether these PyTorch entries are modules in a chain, Sequentials of them included (a graph's
    calls and reuses are Keras's); a Sequential's own keys that torch has not are problems."""
    ok = True
    for spec in layers:
        if spec.call is not None or spec.reuse is not None:
            return False
        if spec.model is None:
            continue
        if _bare(spec.type) != "Sequential" or spec.model.inputs or spec.model.outputs:
            return False
        if spec.model.input_shape is not None or "trainable" in spec.args:
            key = "input_shape" if spec.model.input_shape is not None else "trainable"
            problems.append(problem(spec.arg_loc(key), spec.where(), f"a PyTorch Sequential takes name and "
                                                                     f"layers, not {key}"))
        ok = _modules(spec.model.layers, problems) and ok
    return ok


def _body(data: dict[str, Any], root: Loc, name: str, problems: list[str], depth: int) -> Model:
    """The layers, inputs and outputs of a model mapping (the spec, or a nested model's entry)."""
    input_shape = _input_shape(data, root, problems)
    inputs = _named_inputs(data, root, problems) if isinstance(data.get("inputs"), dict) else ()
    if depth == 0 and "inputs" in data and not isinstance(data["inputs"], dict):
        problems.append(problem(loc_of(data, "inputs", root), None,
                                "the top-level inputs: names the model's inputs as a mapping, e.g. "
                                f"{{enc_in: [null, 71]}}, got {kind_of(data['inputs'])}"))
    if inputs and "input_shape" in data:
        problems.append(problem(loc_of(data, "inputs", root), None,
                                "give either input_shape: (one input) or inputs: (named inputs), not both"))
    layers_raw = data.get("layers")
    layers: list[LayerSpec] = []
    if layers_raw is None:
        problems.append(problem(loc_of(data, "type", root) if depth else root, None,
                                "no `layers:` list; a model spec needs at least one layer"))
    elif not isinstance(layers_raw, list) or not layers_raw:
        got = "an empty list" if isinstance(layers_raw, list) else kind_of(layers_raw)
        problems.append(problem(loc_of(data, "layers", root), None,
                                f"`layers:` must be a non-empty list of layers, got {got}"))
    elif len(layers_raw) > MAX_LAYERS:
        problems.append(problem(loc_of(data, "layers", root), None,
                                f"{len(layers_raw):,} layers is more than the limit of {MAX_LAYERS:,}"))
    else:
        lloc = loc_of(data, "layers", root)
        for i, (entry, loc) in enumerate(zip(layers_raw, _item_locs(layers_raw, lloc), strict=True), 1):
            if len(problems) >= MAX_PROBLEMS:
                problems.append(stopped(name, len(problems)))
                break
            spec = _entry(entry, i, loc, name, problems, depth)
            if spec is not None:
                layers.append(spec)
    outputs: tuple[Ref, ...] = ()
    if "outputs" in data:
        outputs = _refs(data["outputs"], loc_of(data, "outputs", root), "outputs", problems)
    return Model("keras", tuple(layers), input_shape, inputs=inputs, outputs=outputs)


def _entry(entry: Any, index: int, loc: Loc, name: str, problems: list[str], depth: int) -> LayerSpec | None:
    """One `layers:` entry: a layer (with how it is called), a `reuse:` of one, or a nested model."""
    if isinstance(entry, dict) and "reuse" in entry:
        return _reuse(entry, index, loc, problems)
    spec = layer_from_mapping(entry, index, loc, problems)
    if spec is None:
        return None
    assert isinstance(entry, dict)
    eloc = entry.loc if isinstance(entry, LocDict) else loc
    nested = _bare(spec.type) in NESTED_TYPES
    own_inputs = nested and isinstance(entry.get("inputs"), dict)  # a nested functional model's own inputs
    call = _call(entry, eloc, problems, skip_inputs=own_inputs)
    if call is None and not nested:  # a chain's entry (no call keys): the layer as read
        return spec
    model = None
    if nested:
        if depth >= MAX_NESTING:
            problems.append(problem(eloc, spec.where(), f"models nested more than {MAX_NESTING} deep"))
            return None
        if spec.type == "Sequential" and own_inputs:
            problems.append(problem(loc_of(entry, "inputs", eloc), spec.where(),
                                    "a Sequential has no named inputs; give input_shape: or call it with inputs:"))
        if spec.type == "Sequential" and "outputs" in entry:
            problems.append(problem(loc_of(entry, "outputs", eloc), spec.where(),
                                    "a Sequential's output is its last layer; outputs: is for a functional model"))
        inner = {k: v for k, v in entry.items() if k in ("layers", "input_shape", "outputs")
                 or (k == "inputs" and own_inputs)}
        if isinstance(entry, LocDict):
            inner = LocDict(inner)
            inner.loc, inner.key_locs = entry.loc, entry.key_locs
        model = _body(inner, eloc, name, problems, depth + 1)
        other = [k for k in entry if k not in ("type", "name", "layers", "input_shape", "outputs", "trainable",
                                               *CALL_KEYS)]
        for key in other:
            problems.append(problem(loc_of(entry, key, eloc), spec.where(),
                                    f"a nested model takes name, layers, input_shape, inputs, outputs and "
                                    f"trainable, not {show(key)}"))
        args = {k: v for k, v in spec.args.items() if k in ("name", "trainable")}
    else:
        args = {k: v for k, v in spec.args.items() if k not in CALL_KEYS}
    return LayerSpec(spec.type, args, index, spec.loc, spec.arg_locs, call, None, model)


def _reuse(entry: dict[str, Any], index: int, loc: Loc, problems: list[str]) -> LayerSpec | None:
    eloc = entry.loc if isinstance(entry, LocDict) else loc
    target = entry["reuse"]
    name = entry.get("name")
    where = layer_where(index, name if isinstance(name, str) else None,
                        f"reuse of {show(target)}" if isinstance(target, str) and target else "reuse")
    ok = True
    if not isinstance(target, str) or not target:
        problems.append(problem(loc_of(entry, "reuse", eloc), where,
                                f"reuse: names a layer defined earlier, got {kind_of(target)}"))
        ok = False
    for key in entry:
        if key not in REUSE_KEYS:
            hint = " (a reused layer keeps the arguments of its first call)" if key != "type" else ""
            problems.append(problem(loc_of(entry, key, eloc), where,
                                    f"a reuse: entry takes {', '.join(REUSE_KEYS)}, not {show(key)}{hint}"))
            ok = False
    call_name = entry.get("name")
    if call_name is not None and not isinstance(call_name, str):
        problems.append(problem(loc_of(entry, "name", eloc), where, f"name must be a string, got {kind_of(call_name)}"))
        ok = False
    call = _call(entry, eloc, problems) or Call()
    if not ok:
        return None
    args = {"name": call_name} if call_name else {}
    key_locs = entry.key_locs if isinstance(entry, LocDict) else {}
    arg_locs = {str(k): key_locs.get(k, eloc) for k in entry}
    return LayerSpec("reuse", args, index, loc_of(entry, "reuse", eloc), arg_locs, call, str(target))


def _call(entry: dict[str, Any], loc: Loc, problems: list[str], skip_inputs: bool = False) -> Call | None:
    """How an entry is called (its `inputs:`, `initial_state:`, `mask:`), or None for a chain entry."""
    if not any(k in entry for k in CALL_KEYS) or (skip_inputs and not any(k in entry for k in CALL_KEYS[1:])):
        return None
    inputs: tuple[Ref, ...] | None = None
    listed = False
    if "inputs" in entry and not skip_inputs:
        raw = entry["inputs"]
        listed = isinstance(raw, list)
        inputs = _refs(raw, loc_of(entry, "inputs", loc), "inputs", problems)
    states = _refs(entry["initial_state"], loc_of(entry, "initial_state", loc), "initial_state", problems) \
        if "initial_state" in entry else ()
    mask = None
    if "mask" in entry:
        masks = _refs(entry["mask"], loc_of(entry, "mask", loc), "mask", problems)
        if len(masks) > 1:
            problems.append(problem(loc_of(entry, "mask", loc), None, "mask: names one tensor"))
        mask = masks[0] if masks else None
    return Call(inputs, listed, states, mask)


_REF = re.compile(r"^(.*\S)\s*\[\s*(-?\d+)\s*\]$")


def _refs(raw: Any, loc: Loc, key: str, problems: list[str]) -> tuple[Ref, ...]:
    """`name`, `name[k]`, or a list of them -> Refs (with a problem recorded for anything else)."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        problems.append(problem(loc, None, f"{key}: needs at least one tensor (a layer or input name)"))
        return ()
    if len(items) > MAX_INPUTS:
        problems.append(problem(loc, None, f"{key}: {len(items):,} tensors is more than the limit of {MAX_INPUTS:,}"))
        return ()
    out = []
    for item, iloc in zip(items, _item_locs(items, loc) if isinstance(raw, list) else [loc], strict=True):
        if not isinstance(item, str) or not item.strip():
            problems.append(problem(iloc, None, f"{key}: each tensor is a layer or input name, or name[k] for "
                                                f"output k of a layer with several, got {kind_of(item)}"))
            continue
        m = _REF.match(item.strip())
        if m is None:
            out.append(Ref(item.strip(), None, iloc))
            continue
        k = int(m.group(2))
        if k < 0 or k > MAX_INPUTS:
            problems.append(problem(iloc, None, f"{key}: output index {k} in {show(item)} must be 0 or more"))
            continue
        out.append(Ref(m.group(1), k, iloc))
    return tuple(out)


def _named_inputs(data: dict[str, Any], root: Loc, problems: list[str]) -> tuple[InputSpec, ...]:
    raw = data["inputs"]
    loc = loc_of(data, "inputs", root)
    if not raw:
        problems.append(problem(loc, None, "inputs: needs at least one named input, e.g. {enc_in: [null, 71]}"))
        return ()
    if len(raw) > MAX_INPUTS:
        problems.append(problem(loc, None, f"{len(raw):,} inputs is more than the limit of {MAX_INPUTS:,}"))
        return ()
    out = []
    for key, value in raw.items():
        kloc = loc_of(raw, key, loc)
        if not isinstance(key, str) or not key:
            problems.append(problem(kloc, None, f"an input's name must be a string, got {kind_of(key)}"))
            continue
        dtype = None
        shape_raw = value
        if isinstance(value, dict):
            for k in value:
                if k not in ("shape", "dtype"):
                    problems.append(problem(loc_of(value, k, kloc), None,
                                            f"input {key!r} takes shape and dtype, not {show(k)}"))
            shape_raw = value.get("shape")
            dtype = value.get("dtype")
            if dtype is not None and not isinstance(dtype, str):
                problems.append(problem(loc_of(value, "dtype", kloc), None,
                                        f"input {key!r}: dtype must be a name such as float32, got {kind_of(dtype)}"))
                dtype = None
        shape = _shape(shape_raw, loc_of(value, "shape", kloc) if isinstance(value, dict) else kloc,
                       f"input {key!r}", problems)
        if shape is not None:
            out.append(InputSpec(key, shape, dtype, kloc))
    return tuple(out)


def _input_shape(data: dict[str, Any], root: Loc, problems: list[str]) -> Shape | None:
    if "input_shape" not in data:
        return None
    return _shape(data["input_shape"], loc_of(data, "input_shape", root), "input_shape", problems)


def _shape(raw: Any, loc: Loc, what: str, problems: list[str]) -> Shape | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        problems.append(problem(loc, None, f"{what} must be a list of sizes such as [28, 28], got {kind_of(raw)}"))
        return None
    if len(raw) > MAX_RANK:
        problems.append(problem(loc, None, f"{what} has {len(raw):,} axes; at most {MAX_RANK} are allowed"))
        return None
    shape: list[int | None] = []
    for dim, dim_loc in zip(raw, _item_locs(raw, loc), strict=True):
        if dim is None:
            shape.append(None)
        elif isinstance(dim, int) and not isinstance(dim, bool) and 0 < dim <= MAX_SIZE:
            shape.append(dim)
        else:
            allowed = f"positive integers up to {MAX_SIZE:,} or null"
            problems.append(problem(dim_loc, None, f"{what} entries must be {allowed}, got {kind_of(dim)}"))
            return None
    return tuple(shape)


def _expect(data: dict[str, Any], root: Loc, problems: list[str]) -> dict[str, Any] | None:
    if "expect" not in data or data["expect"] is None:
        return None
    raw = data["expect"]
    loc = loc_of(data, "expect", root)
    if not isinstance(raw, dict):
        problems.append(problem(loc, None, f"expect must be a mapping such as {{total: 31960}}, got {kind_of(raw)}"))
        return None
    for key, value in raw.items():
        kloc = loc_of(raw, key, loc)
        if key not in EXPECT_KEYS:
            problems.append(problem(kloc, None, f"unknown expect key {key!r}{suggest(str(key), EXPECT_KEYS)}"
                                                f" (allowed: {', '.join(EXPECT_KEYS)})"))
        elif key == "layers":
            if not isinstance(value, dict) or not all(_is_count(v) for v in value.values()):
                problems.append(problem(kloc, None,
                                        "expect.layers must map layer names to parameter counts, e.g. {lstm: 31200}"))
        elif not _is_count(value):
            problems.append(problem(kloc, None, f"expect.{key} must be a non-negative integer, got {kind_of(value)}"))
    return dict(raw)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
