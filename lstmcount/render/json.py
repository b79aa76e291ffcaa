"""The stable JSON report (documented in README.md)."""

from __future__ import annotations

import functools
import json
from typing import Any

from ..accounting import LayerReport, Report
from .common import SCHEMA_VERSION


def layer_dict(layer: LayerReport) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": layer.name,
        "type": layer.type,
        "params": layer.params,
        "trainable": layer.trainable,
        "non_trainable": layer.non_trainable,
        "output_shape": None if layer.output_shape is None else [None, *layer.output_shape],
        "weights": [{"name": w.name, "shape": list(w.shape), "params": w.params, "trainable": w.trainable,
                     **({"tied": w.tied} if w.tied else {})} for w in layer.weights],
        "formula": layer.formula,
        "macs": layer.macs,
        "elementwise_flops": layer.elementwise_flops,
    }
    if layer.stored:  # counted from the weights a file stores (which are trainable is not stored)
        d["stored"] = layer.stored
    if layer.layers:  # a nested model: its own layers
        d["layers"] = [layer_dict(sub) for sub in layer.layers]
    if layer.recurrent:
        d["gates"] = []
        for g in layer.gates:
            row: dict[str, Any] = {"gate": g.gate, "kernel": g.kernel, "recurrent_kernel": g.recurrent_kernel,
                                   "bias": g.bias, "params": g.params}
            if g.direction is not None:
                row["direction"] = g.direction
            if g.depth is not None:
                row["depth"] = g.depth
            d["gates"].append(row)
        d["extras"] = []
        for e in layer.extras:
            extra: dict[str, Any] = {"name": e.name, "params": e.params}
            if e.direction is not None:
                extra["direction"] = e.direction
            if e.depth is not None:
                extra["depth"] = e.depth
            d["extras"].append(extra)
    if layer.inbound:  # a graph model's layer: what each call reads (last: see layer_json)
        d["inbound"] = [list(call) for call in layer.inbound]
    return d


def _fields(rep: Report) -> dict[str, Any]:
    """The report's own fields, before its layers."""
    return {
        "schema_version": SCHEMA_VERSION,
        "framework": rep.framework,
        "name": rep.name,
        "input_shape": None if rep.input_shape is None else list(rep.input_shape),
        "total": rep.total,
        "trainable": rep.trainable,
        "non_trainable": rep.non_trainable,
        "dtype": rep.dtype,
        "bytes": rep.bytes,
        "timesteps": rep.timesteps,
        "macs": rep.macs,
        "elementwise_flops": rep.elementwise_flops,
        **({"outputs": list(rep.outputs)} if rep.graph else {}),
    }


def report_dict(rep: Report) -> dict[str, Any]:
    return {**_fields(rep), "layers": [layer_dict(layer) for layer in rep.layers]}


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # separators ", " and ": "


@functools.lru_cache(maxsize=1024)
def _unnamed_json(rest: tuple[Any, ...]) -> str:
    """The encoding of a layer without its name (`rest` is every field after the name). Memoized,
    bounded, by all of those fields: a model of thousands of layers repeats a few of them."""
    return _ENCODER.encode(layer_dict(LayerReport("", *rest)))


_UNNAMED_HEAD = '{"name": ""'


def layer_json(layer: LayerReport) -> str:
    """`layer_dict` encoded: the name, then the rest as memoized (the name is the dict's first key), then
    a graph layer's own `inbound` (its last key: every call reads other tensors, so it is not memoized)."""
    inbound = layer.inbound
    unnamed = _unnamed_json(layer[1:-1] + ((),)) if inbound else _unnamed_json(layer[1:])
    assert unnamed.startswith(_UNNAMED_HEAD)
    body = unnamed[len(_UNNAMED_HEAD):]
    if inbound:
        body = body[:-1] + ', "inbound": ' + _ENCODER.encode([list(call) for call in inbound]) + "}"
    return '{"name": ' + _ENCODER.encode(layer.name) + body


def render(rep: Report, **_: Any) -> str:
    """The report's fields one per line, then one line per layer: readable, diff-friendly, and fast
    (each piece goes through the C encoder; an indented dump of a 10,000-layer model would not)."""
    encode = _ENCODER.encode
    head = ",\n".join(f" {encode(k)}: {encode(v)}" for k, v in _fields(rep).items())
    body = ",\n".join(f"  {layer_json(layer)}" for layer in rep.layers)
    return "{\n" + head + ',\n "layers": [\n' + body + ("\n ]\n}\n" if rep.layers else " ]\n}\n")
