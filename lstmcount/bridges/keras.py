"""Build a Model with Keras 3 on the TensorFlow backend and list its real weights."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from typing import Any

from ..conventions import KERAS
from ..errors import FrameworkError, FrameworkMissing, problem
from ..layout import ModelLayout
from ..spec import LayerSpec, Model
from ..verify import ActualLayer, ActualWeight, Built

_keras: Any = None
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
    _keras = keras
    return keras


def _instantiate(spec_args: dict[str, Any], type_name: str, name: str) -> Any:
    kind = KERAS.kind(type_name, None)
    assert kind is not None  # the analytic layout accepted it
    args = {}
    for key, value in spec_args.items():
        if kind.args.get(key) is not None and kind.args[key].kind == "layer":
            inner = {k: v for k, v in value.items() if k != "type"}
            inner_kind = KERAS.kind(value["type"], None)
            assert inner_kind is not None
            inner_name = inner.pop("name", None) or _snake(inner_kind.name)
            value = _instantiate(inner, value["type"], inner_name)
        elif isinstance(value, list) and key in ("kernel_size", "strides", "dilation_rate", "pool_size",
                                                 "target_shape", "noise_shape", "axis"):
            value = tuple(value)
        args[key] = value
    args["name"] = name
    cls = getattr(_keras.layers, kind.name)
    return cls(**args)


def _snake(name: str) -> str:
    from ..conventions.base import snake

    return snake(name)


def _relative(path: str, layer_name: str) -> str:
    parts = path.split("/")
    if parts and parts[0] == layer_name:
        parts = parts[1:]
    return "/".join(p for p in parts if not _CELL.match(p))


def build(model: Model, layout: ModelLayout, summary: bool = False) -> Built:
    keras = _keras
    assert model.input_shape is not None
    dtype = model.input_dtype or ("int32" if model.layers[0].type.lower().endswith("embedding") else "float32")
    keras.backend.clear_session()
    try:
        x = inputs = keras.Input(shape=model.input_shape, dtype=dtype)
    except Exception as exc:
        raise FrameworkError(problem(model.locs.get("input_shape"), None, f"Keras rejected the input: {exc}")) \
            from None
    layers = []
    for spec, planned in zip(model.layers, layout.layers, strict=True):
        layer, x = _call(spec, planned.name, x)
        layers.append(layer)
    try:
        kmodel = keras.Model(inputs, x, name=(model.name or "model").replace(" ", "_"))
    except Exception as exc:
        raise FrameworkError(f"{model.source}: Keras could not assemble the model: {exc}") from None
    actual = tuple(
        ActualLayer(layer.name, type(layer).__name__,
                    tuple(ActualWeight(_relative(w.path, layer.name), tuple(int(d) for d in w.shape),
                                       bool(w.trainable)) for w in layer.weights))
        for layer in layers
    )
    text = None
    if summary:
        lines: list[str] = []
        kmodel.summary(print_fn=lambda line, **_: lines.append(line), line_length=80)
        text = "\n".join(lines)
    return Built(actual, int(kmodel.count_params()), text)


def _call(spec: LayerSpec, name: str, x: Any) -> tuple[Any, Any]:
    """Construct one layer and call it on x; Keras's own complaint becomes a located error."""
    try:
        layer = _instantiate(spec.args, spec.type, name)
        out = layer(x)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FrameworkError(problem(spec.loc, spec.where(), f"Keras rejected it: {first}")) from None
    if isinstance(out, (list, tuple)):  # return_state, or a Bidirectional with merge_mode null
        out = out[0]
    return layer, out
