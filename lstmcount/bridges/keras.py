"""Build a Model with Keras 3 on the TensorFlow backend and list its real weights."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import warnings
from typing import Any

from ..conventions import KERAS
from ..errors import FrameworkError, FrameworkMissing, problem
from ..layout import ModelLayout
from ..model import Model
from ..reconcile import ActualLayer, ActualWeight, Built

_keras: Any = None
_check_input: Any = None  # Keras's own input_spec check, where this Keras version has it
_CELL = re.compile(r"^(lstm|gru|simple_rnn|conv_lstm)_cell(_\d+)?$")


def load() -> Any:
    """Import Keras once, with TensorFlow's start-up log noise kept off the user's terminal."""
    global _keras
    if _keras is not None:
        return _keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    # TensorFlow's C++ logging writes to fd 2 before its log level is read; catch it in a file,
    # and show it only if the import fails.
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as noise:
        os.dup2(noise.fileno(), 2)
        try:
            import keras
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
    global _check_input
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
        if spec_arg is not None and spec_arg.kind == "layer" and isinstance(value, dict):
            inner = {k: v for k, v in value.items() if k != "type"}
            inner_kind = KERAS.kind(value["type"], None)
            assert inner_kind is not None
            inner_name = inner.pop("name", None) or _snake(inner_kind.name)
            value = _instantiate(inner, value["type"], inner_name)
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


def _snake(name: str) -> str:
    from ..conventions.base import snake

    return snake(name)


def _relative(path: str, layer_name: str) -> str:
    """A weight's path below its layer, without the RNN cell level: lstm/lstm_cell/kernel -> kernel."""
    parts = path.split("/")
    if layer_name in parts:  # a model may prefix its own name (sequential/lstm/...)
        parts = parts[parts.index(layer_name) + 1:]
    return "/".join(p for p in parts if not _CELL.match(p))


def build(model: Model, layout: ModelLayout, summary: bool = False) -> Built:
    """Create each layer's weights with `layer.build(shape)`: no tracing, no compile, no data.

    Each layer's input is checked against its `input_spec` as a call would, and its output shape
    is Keras's own `compute_output_shape`. With `summary`, the functional model is assembled too,
    for Keras's `model.summary()`.
    """
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
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FrameworkError(problem(spec.loc, spec.where(), f"Keras rejected it: {first}")) from None
        if isinstance(shape, list | tuple) and shape and isinstance(shape[0], list | tuple):
            shape = shape[0]  # return_state, or a Bidirectional with merge_mode null: the first output
        layers.append(layer)
        shapes.append(tuple(shape)[1:])
    actual = tuple(
        ActualLayer(layer.name, type(layer).__name__,
                    tuple(ActualWeight(_relative(w.path, layer.name), tuple(int(d) for d in w.shape),
                                       bool(w.trainable)) for w in layer.weights), out)
        for layer, out in zip(layers, shapes, strict=True)
    )
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
