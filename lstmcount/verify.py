"""`lstmcount verify`: read every file, refuse what is over the limits before anything is built, import
each framework once, build each model in it and reconcile (`reconcile.py`) weight by weight."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import NamedTuple

from . import conventions, inputs
from .accounting import report
from .conventions.flags import check as check_flags
from .errors import UsageError
from .layout import LayerLayout
from .model import LayerFlags, Model
from .reconcile import FileResult, reconcile

PACKAGES = {"keras": "keras", "pytorch": "torch", "onnx": "onnxruntime"}
MAX_LAYERS = 2_000  # layers verify builds in one model, nested ones included (--max-layers)
# Bytes of a Keras variable under a layer's dtype policy (mixed policies keep float32 variables).
VARIABLE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "mixed_float16": 4,
                  "mixed_bfloat16": 4}


class Verified(NamedTuple):
    results: list[FileResult]
    versions: dict[str, str]  # framework -> the version that built the models


def run(paths: list[str], flags: LayerFlags | None, summary: bool, max_bytes: int,
        importing: Callable[[], AbstractContextManager[None]] = nullcontext, max_layers: int = MAX_LAYERS,
        key: str | None = None, load: Callable[[str], Model] = inputs.load) -> Verified:
    """Verify each file or layer expression (and the layer the flags describe). `importing` wraps the
    frameworks' import (the CLI makes Ctrl-C end the process at once there); `load` reads a spec, Keras
    file or expression (the CLI's gives an expression its --input and -f). A model over `max_bytes` of
    weights (at each layer's own dtype) or `max_layers` layers is refused before anything is built. `key`
    picks an entry of each PyTorch checkpoint."""
    from .bridges import bridge
    from .render import human_bytes

    if flags is not None:
        if flags.framework not in ("keras", "pytorch"):
            raise UsageError(f"verify builds a layer from flags in keras or pytorch; the {flags.framework} "
                             "layouts are proven by lstmcount's tests (its README says how)")
        check_flags(flags)
    if paths.count("-") > 1:
        raise UsageError("standard input (-) can be read only once")
    state_dicts = [path for path in paths if inputs.is_state_dict(path)]
    onnx_files = [path for path in paths if inputs.is_onnx(path)]
    if key is not None and (len(state_dicts) != len(paths) or flags is not None):
        raise UsageError("--key picks an entry of a PyTorch checkpoint; give only checkpoints with it")
    models = [load(path) for path in paths if path not in state_dicts and path not in onnx_files]
    if flags is not None:
        models.append(inputs.from_flags(flags))
    for model in models:
        custom = _custom_layers(model)
        if custom:
            raise UsageError(f"{model.source}: verify builds the model in {model.framework}, and cannot build "
                             f"{', '.join(custom[:4])}{' ...' if len(custom) > 4 else ''}: a custom layer, counted "
                             "from its declaration or from the weights its file stores, needs its own class; "
                             "lstmcount params counts it")
    layouts = [conventions.layout(m) for m in models]
    reports = [report(lay) for lay in layouts]
    for model, lay, rep in zip(models, layouts, reports, strict=True):
        need = weight_bytes(conventions.flat(model), lay.layers)
        if model.framework == "keras" and need > max_bytes:  # PyTorch builds large models on the meta device
            raise UsageError(f"{model.source}: building it would allocate {human_bytes(need)} of weights "
                             f"({rep.total:,} parameters), over the {human_bytes(max_bytes)} limit; "
                             f"raise it with --max-memory if you mean it")
        layers = _count_layers(lay.layers)
        if layers > max_layers:
            raise UsageError(f"{model.source}: it has {layers:,} layers, over the limit of {max_layers:,} that "
                             "verify builds; raise it with --max-layers if you mean it")
    needed = [m.framework for m in models] + (["pytorch"] if state_dicts else []) + (["onnx"] if onnx_files else [])
    with importing():
        builders = {fw: bridge(fw) for fw in dict.fromkeys(needed)}  # each framework imported once
    results = []
    for path in state_dicts:
        from .bridges.torch import check_checkpoint

        ck, lay = inputs.checkpoint(path, key)
        results.append(reconcile(path, report(lay), check_checkpoint(ck), None))
    for path in onnx_files:
        from .bridges.onnx import check_onnx

        results.append(reconcile(path, report(inputs.read_tensor_file(path)), check_onnx(path), None))
    for model, lay, rep in zip(models, layouts, reports, strict=True):
        build = builders[model.framework]
        assert build is not None  # specs are Keras or PyTorch models
        results.append(reconcile(model.source, rep, build(model, lay, summary), model.expect))
    return Verified(results, {fw: _version(fw) for fw in builders})


def weight_bytes(model: Model, layers: tuple[LayerLayout, ...]) -> int:
    """The memory a framework allocates for these layers' weights: each at its layer's dtype (Keras's
    `dtype` policy; float32 otherwise), a nested model's layers at their own."""
    total = 0
    for layer in layers:
        spec = model.layers[layer.entry - 1] if layer.entry is not None else None
        if layer.layers and spec is not None and spec.model is not None:
            total += weight_bytes(spec.model, layer.layers)
            continue
        dtype = spec.args.get("dtype") if spec is not None else None
        total += layer.params * VARIABLE_BYTES.get(dtype if isinstance(dtype, str) else "float32", 4)
    return total


def _custom_layers(model: Model) -> list[str]:
    """The custom layers (`type: custom`, or a model file's layer counted from its stored weights), named."""
    out = []
    for spec in model.layers:
        if spec.model is not None:
            out += _custom_layers(spec.model)
        elif spec.type == "custom" and spec.reuse is None:
            name = spec.args.get("name")
            out.append(f"{name!r} ({spec.args.get('class_name')})" if isinstance(name, str)
                       else f"layer {spec.index} ({spec.args.get('class_name')})")
    return out


def _count_layers(layers: tuple[LayerLayout, ...]) -> int:
    return sum(1 + _count_layers(layer.layers) for layer in layers)


def _version(framework: str) -> str:
    try:
        return md.version(PACKAGES[framework])
    except md.PackageNotFoundError:  # pragma: no cover
        return ""


__all__ = ["Verified", "run"]
