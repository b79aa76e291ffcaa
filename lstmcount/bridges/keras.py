"""Build a Model with Keras 3 on the backend the user configured (`backend()`: KERAS_BACKEND, else
the `backend` of keras.json in KERAS_HOME or ~/.keras, else TensorFlow) and list its real weights.
Weight shapes do not depend on the backend.

A chain is built layer by layer (`layer.build(shape)`, no graph); a graph as a Keras functional
model: a `keras.Input` per input, each entry called on its tensors in the walk's order, a `reuse:`
calling the same layer object again, nested models built as `keras.Sequential` / `keras.Model`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import warnings
from typing import Any

from ..conventions import KERAS
from ..conventions.graph import model_inputs, plan
from ..conventions.keras.recurrent import cell_names
from ..errors import FrameworkError, FrameworkMissing, Loc, UsageError, problem
from ..layout import ModelLayout
from ..model import LayerSpec, Model, Ref
from ..reconcile import ActualLayer, ActualWeight, Built

_keras: Any = None
_check_input: Any = None  # Keras's own input_spec check, where this Keras version has it
used = ""  # which backend built the models, and why (said on stderr)


# Keras 3's backends (keras/src/backend/) -> the package each one imports, and how to install it.
BACKENDS = {"tensorflow": ("tensorflow", "pip install 'lstmcount[keras]'"), "jax": ("jax", "pip install jax"),
            "torch": ("torch", "pip install 'lstmcount[torch]'"), "numpy": ("numpy", "pip install numpy"),
            "openvino": ("openvino", "pip install openvino")}


DEFAULT = "the default"


def backend() -> tuple[str, str]:
    """The Keras backend the user configured and where it is said ("from KERAS_BACKEND"), read as Keras reads it
    (keras/src/backend/config.py): KERAS_BACKEND, else keras.json's `backend` in KERAS_HOME (or ~/.keras,
    /tmp/.keras when home is not writable), else TensorFlow."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen, "from KERAS_BACKEND"
    if "KERAS_HOME" in os.environ:
        home = os.environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    path = os.path.expanduser(os.path.join(home, "keras.json"))
    try:
        with open(path, "rb") as fh:
            config = json.loads(fh.read(1 << 20))
    except (OSError, ValueError):  # no file, or one Keras itself ignores (it reads invalid JSON as {})
        return "tensorflow", DEFAULT
    name = config.get("backend") if isinstance(config, dict) else None
    return (name, f"from {path}") if isinstance(name, str) and name else ("tensorflow", DEFAULT)


def choose_backend() -> tuple[str, str]:
    """The configured backend, checked before Keras is imported: an unknown name is a usage error, a
    backend whose package is missing says how to install it."""
    name, source = backend()
    if name not in BACKENDS:
        raise UsageError(f"the Keras backend {name!r} ({source}) is not one Keras has; it takes "
                         f"{', '.join(BACKENDS)}")
    package, install = BACKENDS[name]
    if importlib.util.find_spec(package) is None:
        raise FrameworkMissing(f"{package} (the Keras backend {name!r}, {source})", "keras", install)
    return name, source


def load() -> Any:
    """Import Keras once, on the configured backend, with TensorFlow's start-up log noise kept off the
    user's terminal."""
    global _keras
    if _keras is not None:
        return _keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    name, source = choose_backend()
    os.environ["KERAS_BACKEND"] = name  # keras reads it at import
    # TensorFlow's C++ logging writes to fd 2 before its log level is read; catch it in a file,
    # and show it only if the import fails.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as noise:
        os.dup2(noise.fileno(), 2)
        try:
            import keras

            if os.environ["KERAS_BACKEND"] != "tensorflow" and importlib.util.find_spec("tensorflow") is not None:
                import tensorflow  # noqa: F401  (Keras imports it later anyway, to serialize: its noise goes here)
        except ImportError:
            raise FrameworkMissing("TensorFlow/Keras", "keras") from None
        except Exception as exc:  # a broken install: show what it said
            os.dup2(saved, 2)
            noise.seek(0)
            said = noise.read().decode("utf-8", "replace").strip().splitlines()
            raise FrameworkError(f"Keras failed to import: {exc}" + (f" ({said[-1]})" if said else "")) from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    global _check_input, used
    actual = keras.backend.backend()
    used = f"keras backend: {actual} ({source})" if actual == name else \
        f"keras backend: {actual} (Keras was imported before verify, so {name}, {source}, could not be used)"
    try:
        from keras.src.layers.input_spec import assert_input_compatibility as _found
    except ImportError:  # pragma: no cover - a Keras without it: shapes are still compared
        _found = None
    _check_input = _found
    _keras = keras
    return keras


def _instantiate(spec_args: dict[str, Any], type_name: str, name: str | None) -> Any:
    """The Keras layer a spec layer describes. A layer's input arguments (input_shape, input_dim) are left
    out: each layer is built on the shape the model gives it. A Lambda gets a stand-in function: its output
    shape is its output_shape, and lstmcount never runs the function a spec or file names."""
    kind = KERAS.kind(type_name, None)
    assert kind is not None  # the analytic layout accepted it
    args = {}
    for key, value in spec_args.items():
        spec_arg = kind.args.get(key)
        if key in KERAS.kwargs and spec_arg is None:
            continue
        if spec_arg is not None and spec_arg.kind == "layer" and isinstance(value, (dict, list)):
            if isinstance(value, list):  # RNN's or StackedRNNCells' cells
                value = [_instantiate(_without(cell, "type", "name"), cell["type"], cell_name)
                         for cell, cell_name in zip(value, cell_names(KERAS, value), strict=True)]
            else:
                inner_kind = KERAS.kind(value["type"], None)
                assert inner_kind is not None
                value = _instantiate(_without(value, "type", "name"), value["type"],
                                     value.get("name") or _snake(inner_kind.name))
        elif isinstance(value, list) and key in ("kernel_size", "strides", "dilation_rate", "pool_size",
                                                 "target_shape", "noise_shape", "axis"):
            value = tuple(value)
        args[key] = value
    if kind.name == "Lambda":
        args["function"] = _same
        shape = args.get("output_shape")
        if isinstance(shape, list):  # one shape, or one per output
            args["output_shape"] = [tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape)
    args["name"] = name
    cls = getattr(_keras.layers, kind.name)
    with warnings.catch_warnings():  # Keras's deprecation warnings: lstmcount has given them already
        warnings.simplefilter("ignore")
        return cls(**args)


def _same(x: Any) -> Any:
    return x


def _without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


def _snake(name: str) -> str:
    from ..conventions.base import snake

    return snake(name)


def weight_names(layer: Any) -> list[str]:
    """The names lstmcount gives `layer.weights`, in order: each one's path below the layer without the
    levels lstmcount does not name (lstm/lstm_cell/kernel -> kernel; rnn/stacked_rnn_cells/gru_cell/bias
    -> gru_cell/bias)."""
    hidden = _hidden(layer)
    out = []
    for w in layer.weights:
        parts = w.path.split("/")
        if layer.name in parts:  # a model may prefix its own name (sequential/lstm/...)
            parts = parts[parts.index(layer.name) + 1:]
        out.append("/".join(p for p in parts if p not in hidden))
    return out


def _weights(layer: Any) -> tuple[ActualWeight, ...]:
    return tuple(ActualWeight(name, tuple(int(d) for d in w.shape), bool(w.trainable))
                 for name, w in zip(weight_names(layer), layer.weights, strict=True))


def _hidden(layer: Any) -> set[str]:
    """The names of a recurrent layer's cell (LSTM's lstm_cell, an RNN's single cell or its
    StackedRNNCells), in the layer or in the layers it wraps: their weights are the layer's own."""
    rnn = load().layers.RNN
    return {sub.cell.name for sub in layer._flatten_layers() if isinstance(sub, rnn)}


def _fail(spec: LayerSpec, exc: Exception) -> FrameworkError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return FrameworkError(problem(spec.loc, spec.where(), f"Keras rejected it: {first}"))


def build(model: Model, layout: ModelLayout, summary: bool = False) -> Built:
    """Create each layer's weights with `layer.build(shape)`: no tracing, no compile, no data.

    Each layer's input is checked against its `input_spec` as a call would, and its output shape
    is Keras's own `compute_output_shape`. With `summary`, the functional model is assembled too,
    for Keras's `model.summary()`.
    """
    if model.is_graph:
        return _build_graph(model, summary)
    keras = _keras
    assert model.input_shape is not None
    shape: Any = (None, *model.input_shape)
    layers = []
    shapes = []
    for spec, planned in zip(model.layers, layout.layers, strict=True):
        try:
            layer = _instantiate(spec.args, spec.type, planned.name)
            if _check_input is not None and layer.input_spec is not None:
                _check_input(layer.input_spec, keras.KerasTensor(shape), layer.name)
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        except Exception as exc:
            raise _fail(spec, exc) from None
        if isinstance(shape, list | tuple) and shape and isinstance(shape[0], list | tuple):
            shape = shape[0]  # return_state, or a Bidirectional with merge_mode null: the first output
        layers.append(layer)
        shapes.append(tuple(shape)[1:])
    actual = tuple(ActualLayer(layer.name, type(layer).__name__, _weights(layer), out)
                   for layer, out in zip(layers, shapes, strict=True))
    native = sum(int(layer.count_params()) for layer in layers)
    return Built(actual, native, _summary(model, layout) if summary else None)


def _summary(model: Model, layout: ModelLayout) -> str:
    """Keras's own model.summary() of the same model, assembled with the functional API."""
    keras = _keras
    assert model.input_shape is not None
    dtype = model.input_dtype or ("int32" if model.layers[0].type.lower().endswith("embedding") else "float32")
    x = inputs = keras.Input(shape=model.input_shape, dtype=dtype)
    for spec, planned in zip(model.layers, layout.layers, strict=True):
        x = _instantiate(spec.args, spec.type, planned.name)(x)
        if isinstance(x, list | tuple):
            x = x[0]
    kmodel = keras.Model(inputs, x, name=(model.name or "model").replace(" ", "_"))
    lines: list[str] = []
    kmodel.summary(print_fn=lambda line, **_: lines.append(line), line_length=80)
    return "\n".join(lines)


def _build_graph(model: Model, summary: bool) -> Built:
    """The graph as a Keras functional model; each layer as Keras made it, the first call's output."""
    keras = _keras
    inputs = [keras.Input(shape=inp.shape, dtype=inp.dtype or "float32", name=inp.name)
              for inp in model_inputs(model)]
    outputs = _graph(model, inputs)
    try:
        kmodel = keras.Model(inputs, outputs, name=(model.name or "model").replace(" ", "_"))
    except Exception as exc:
        raise FrameworkError(problem(Loc(model.source), None, f"Keras rejected the model: {exc}")) from None
    actual = tuple(_actual(layer) for layer in kmodel.layers)
    text = None
    if summary:
        lines: list[str] = []
        kmodel.summary(print_fn=lambda line, **_: lines.append(line), expand_nested=True)
        text = "\n".join(lines)
    return Built(actual, int(kmodel.count_params()), text)


def _graph(model: Model, inputs: list[Any]) -> list[Any]:
    """Call each entry of `model` on its tensors, starting from the Keras tensors `inputs`; the
    model's output tensors."""
    specs = model.layers
    first = model_inputs(model, len(inputs))
    names, order = plan(KERAS, model, first)
    tensors: dict[str, list[Any]] = {inp.name: [x] for inp, x in zip(first, inputs, strict=True)}
    objects: dict[str, Any] = {}
    index = {name: i for i, name in enumerate(names)}
    for i in order:
        spec = specs[i]
        target = specs[index[spec.reuse]] if spec.reuse is not None else spec
        try:
            args, kwargs = _arguments(spec, target, tensors, names[i - 1] if i else first[0].name)
            if spec.reuse is not None:
                layer = objects[spec.reuse]
            elif spec.model is not None:
                layer = _nested(spec, names[i], args[0] if isinstance(args[0], list) else args)
            else:
                layer = _instantiate(spec.args, spec.type, names[i])
            if "initial_state" in kwargs and isinstance(layer, _keras.layers.RNN):
                kwargs["initial_state"] = _keras.tree.pack_sequence_as(layer.state_size, kwargs["initial_state"])
            out = layer(*args, **kwargs)
        except FrameworkError:
            raise
        except Exception as exc:
            raise _fail(spec, exc) from None
        tensors[names[i]] = _keras.tree.flatten(out)
        if spec.reuse is None:
            objects[names[i]] = layer
    refs = model.outputs or (Ref(names[-1]),)
    return [tensors[ref.name][ref.output or 0] for ref in refs]


def _arguments(spec: LayerSpec, target: LayerSpec, tensors: dict[str, list[Any]], before: str
               ) -> tuple[list[Any], dict[str, Any]]:
    """The call's positional and keyword arguments: one tensor, a list of them (merge layers, Attention),
    or several (MultiHeadAttention's query, value, key); initial_state, mask, keyword tensors."""
    call = spec.call

    def get(ref: Ref) -> Any:
        return tensors[ref.name][ref.output or 0]

    if call is None or call.inputs is None:
        xs, several = [tensors[before][0]], False
    else:
        xs, several = [get(r) for r in call.inputs], call.listed or len(call.inputs) > 1
    kind = KERAS.kind(target.type, None) if target.model is None else None
    kwargs = {key: get(ref) for key, ref in call.keywords} if call is not None else {}
    if call is not None and call.initial_state:
        kwargs["initial_state"] = [get(r) for r in call.initial_state]
    if call is not None and call.mask is not None:
        kwargs["mask"] = get(call.mask)
    if several and not (kind is not None and kind.tensors):
        return [xs], kwargs
    return xs, kwargs


def _nested(spec: LayerSpec, name: str, xs: list[Any]) -> Any:
    """A nested model, built on Keras inputs shaped as the tensors it is called on: a Sequential as
    `keras.Sequential` (when its layers are a chain), otherwise a functional `keras.Model`."""
    keras = _keras
    sub = spec.model
    assert sub is not None
    inputs = [keras.Input(shape=tuple(x.shape)[1:], dtype=x.dtype, name=f"{name}_{inp.name}")
              for inp, x in zip(model_inputs(sub, len(xs)), xs, strict=True)]
    chain = not sub.inputs and not sub.outputs and all(s.call is None and s.reuse is None for s in sub.layers)
    if spec.type == "Sequential" and chain and len(inputs) == 1:
        seq = keras.Sequential([inputs[0]], name=name)
        names, _ = plan(KERAS, sub, model_inputs(sub, 1))
        for entry, entry_name in zip(sub.layers, names, strict=True):
            try:
                seq.add(_nested(entry, entry_name, seq.outputs) if entry.model is not None
                        else _instantiate(entry.args, entry.type, entry_name))
            except FrameworkError:
                raise
            except Exception as exc:
                raise _fail(entry, exc) from None
        built = seq
    else:
        outputs = _graph(sub, inputs)
        built = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                            name=name)
    if spec.args.get("trainable") is False:
        built.trainable = False
    return built


def _actual(layer: Any) -> ActualLayer:
    """A layer as Keras made it: its weights (a nested model's are its layers', `sublayer/weight`),
    its first call's (first) output shape, and a nested model's layers."""
    keras = _keras
    nodes = layer._inbound_nodes
    outs = nodes[0].outputs if nodes else []
    shape = tuple(outs[0].shape)[1:] if outs else None
    if isinstance(layer, keras.Model):
        subs = tuple(_actual(sub) for sub in layer.layers if not isinstance(sub, keras.layers.InputLayer))
        weights = tuple(ActualWeight(f"{sub.name}/{w.name}", w.shape, w.trainable) for sub in subs for w in sub.weights)
        return ActualLayer(layer.name, type(layer).__name__, weights, shape, subs)
    return ActualLayer(layer.name, type(layer).__name__, _weights(layer), shape)
