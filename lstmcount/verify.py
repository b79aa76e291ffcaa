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
from .model import LayerFlags
from .reconcile import FileResult, reconcile

PACKAGES = {"keras": "keras", "pytorch": "torch", "onnx": "onnxruntime"}


class Verified(NamedTuple):
    results: list[FileResult]
    versions: dict[str, str]  # framework -> the version that built the models


def run(paths: list[str], flags: LayerFlags | None, summary: bool, max_bytes: int,
        importing: Callable[[], AbstractContextManager[None]] = nullcontext) -> Verified:
    """Verify each file (and the layer the flags describe). `importing` wraps the frameworks' import
    (the CLI makes Ctrl-C end the process at once there)."""
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
    models = [inputs.load(path) for path in paths if path not in state_dicts and path not in onnx_files]
    if flags is not None:
        models.append(inputs.from_flags(flags))
    layouts = [conventions.layout(m) for m in models]
    reports = [report(lay) for lay in layouts]
    for model, rep in zip(models, reports, strict=True):
        if model.is_graph:  # until the Keras bridge builds functional models
            raise UsageError(f"{model.source}: verify builds models that are a chain of layers yet, and this one is "
                             "a graph (named inputs, layers called on other layers' outputs, shared or nested "
                             "layers); `lstmcount params` counts it")
        need = rep.total * 4
        if model.framework == "keras" and need > max_bytes:
            raise UsageError(f"{model.source}: building it would allocate {human_bytes(need)} of float32 "
                             f"weights ({rep.total:,} parameters), over the {human_bytes(max_bytes)} limit; "
                             f"raise it with --max-memory if you mean it")
    needed = [m.framework for m in models] + (["pytorch"] if state_dicts else []) + (["onnx"] if onnx_files else [])
    with importing():
        builders = {fw: bridge(fw) for fw in dict.fromkeys(needed)}  # each framework imported once
    results = []
    for path in state_dicts:
        from .bridges.torch import check_state_dict

        results.append(reconcile(path, report(inputs.read_tensor_file(path)), check_state_dict(path), None))
    for path in onnx_files:
        from .bridges.onnx import check_onnx

        results.append(reconcile(path, report(inputs.read_tensor_file(path)), check_onnx(path), None))
    for model, lay, rep in zip(models, layouts, reports, strict=True):
        build = builders[model.framework]
        assert build is not None  # specs are Keras or PyTorch models
        results.append(reconcile(model.source, rep, build(model, lay, summary), model.expect))
    return Verified(results, {fw: _version(fw) for fw in builders})


def _version(framework: str) -> str:
    try:
        return md.version(PACKAGES[framework])
    except md.PackageNotFoundError:  # pragma: no cover
        return ""


__all__ = ["Verified", "run"]
