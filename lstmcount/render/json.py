"""The stable JSON report (documented in README.md)."""

from __future__ import annotations

import functools
import json
from typing import Any

from ..accounting import ExtraRow, GateRow, LayerReport, Report
from ..layout import Weight


def _head(layer: LayerReport) -> dict[str, Any]:
    """The fields that name and place a layer."""
    return {
        "name": layer.name,
        "type": layer.type,
        "params": layer.params,
        "trainable": layer.trainable,
        "non_trainable": layer.non_trainable,
        "output_shape": None if layer.output_shape is None else [None, *layer.output_shape],
    }


def _body(weights: tuple[Weight, ...], formula: str | None, macs: int | None, elementwise_flops: int | None,
          recurrent: bool, gates: tuple[GateRow, ...], extras: tuple[ExtraRow, ...]) -> dict[str, Any]:
    """The fields that describe a layer's weights: identical for identical layers."""
    d: dict[str, Any] = {
        "weights": [{"name": w.name, "shape": list(w.shape), "params": w.params, "trainable": w.trainable}
                    for w in weights],
        "formula": formula,
        "macs": macs,
        "elementwise_flops": elementwise_flops,
    }
    if recurrent:
        d["gates"] = []
        for g in gates:
            row: dict[str, Any] = {"gate": g.gate, "kernel": g.kernel, "recurrent_kernel": g.recurrent_kernel,
                                   "bias": g.bias, "params": g.params}
            if g.direction is not None:
                row["direction"] = g.direction
            if g.depth is not None:
                row["depth"] = g.depth
            d["gates"].append(row)
        d["extras"] = []
        for e in extras:
            extra: dict[str, Any] = {"name": e.name, "params": e.params}
            if e.direction is not None:
                extra["direction"] = e.direction
            if e.depth is not None:
                extra["depth"] = e.depth
            d["extras"].append(extra)
    return d


def _body_args(layer: LayerReport) -> tuple[Any, ...]:
    return (layer.weights, layer.formula, layer.macs, layer.elementwise_flops, layer.recurrent, layer.gates,
            layer.extras)


def layer_dict(layer: LayerReport) -> dict[str, Any]:
    return {**_head(layer), **_body(*_body_args(layer))}


def _fields(rep: Report) -> dict[str, Any]:
    """The report's own fields, before its layers."""
    return {
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
    }


def report_dict(rep: Report) -> dict[str, Any]:
    return {**_fields(rep), "layers": [layer_dict(layer) for layer in rep.layers]}


_ENCODER = json.JSONEncoder(ensure_ascii=False)  # separators ", " and ": "


@functools.lru_cache(maxsize=1024)
def _body_json(*args: Any) -> str:
    """`_body` encoded, memoized (bounded) by everything it is made of: a 10,000-layer model repeats its layers."""
    return _ENCODER.encode(_body(*args))


def layer_json(layer: LayerReport) -> str:
    """`layer_dict` encoded: the head encoded per layer, joined to the (memoized) body's encoding; with
    the encoder's separators this is exactly the encoding of the merged dict."""
    head = _ENCODER.encode(_head(layer))
    return head[:-1] + ", " + _body_json(*_body_args(layer))[1:]


def render(rep: Report, **_: Any) -> str:
    """The report's fields one per line, then one line per layer: readable, diff-friendly, and fast
    (each piece goes through the C encoder; an indented dump of a 10,000-layer model would not)."""
    encode = _ENCODER.encode
    head = ",\n".join(f" {encode(k)}: {encode(v)}" for k, v in _fields(rep).items())
    body = ",\n".join(f"  {layer_json(layer)}" for layer in rep.layers)
    return "{\n" + head + ',\n "layers": [\n' + body + ("\n ]\n}\n" if rep.layers else " ]\n}\n")
