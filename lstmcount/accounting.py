"""From a Layout to numbers: per-layer and per-gate counts, totals, bytes, formulas, checks.

Pure functions over frozen dataclasses; nothing here prints or imports a framework.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from .layout import BIAS, EXTRA_ROLES, KERNEL, PEEPHOLE, PROJECTION, RECURRENT, Call, LayerLayout, ModelLayout, Weight
from .model import Shape

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


class GateRow(NamedTuple):
    gate: str
    kernel: int
    recurrent_kernel: int
    bias: int
    direction: str | None = None
    depth: int | None = None

    @property
    def params(self) -> int:
        return self.kernel + self.recurrent_kernel + self.bias


class ExtraRow(NamedTuple):
    name: str
    params: int
    direction: str | None = None
    depth: int | None = None


class LayerReport(NamedTuple):
    name: str
    type: str
    params: int
    trainable: int
    weights: tuple[Weight, ...]
    gates: tuple[GateRow, ...]
    extras: tuple[ExtraRow, ...]
    formula: str | None
    output_shape: Shape | None
    recurrent: bool
    macs: int | None = None  # with --timesteps: multiply-accumulates for one sample
    elementwise_flops: int | None = None  # with --timesteps: a recurrent layer's gate and state arithmetic
    layers: tuple[LayerReport, ...] = ()  # a nested model's own layers
    inbound: tuple[tuple[str, ...], ...] = ()  # graph models: what each call reads (`name[node][tensor]`)

    @property
    def non_trainable(self) -> int:
        return self.params - self.trainable


class Report(NamedTuple):
    framework: str
    name: str | None
    input_shape: Shape | None
    layers: tuple[LayerReport, ...]
    dtype: str = "float32"
    timesteps: int | None = None
    graph: bool = False  # a graph model: its layers include its InputLayers and say what each call reads
    outputs: tuple[str, ...] = ()

    @property
    def macs(self) -> int | None:
        return None if self.timesteps is None else sum(layer.macs or 0 for layer in self.layers)

    @property
    def elementwise_flops(self) -> int | None:
        return None if self.timesteps is None else sum(layer.elementwise_flops or 0 for layer in self.layers)

    @property
    def total(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable(self) -> int:
        return sum(layer.trainable for layer in self.layers)

    @property
    def non_trainable(self) -> int:
        return self.total - self.trainable

    @property
    def bytes(self) -> int:
        return self.total * DTYPE_BYTES[self.dtype]


def _groups(weights: tuple[Weight, ...]) -> list[list[Weight]]:
    """Weights split by (depth, direction), in first-seen order."""
    out: dict[tuple[int | None, str | None], list[Weight]] = {}
    for w in weights:
        out.setdefault((w.depth, w.direction), []).append(w)
    return list(out.values())


def gate_rows(weights: tuple[Weight, ...]) -> tuple[tuple[GateRow, ...], tuple[ExtraRow, ...]]:
    """Each gate's share of a recurrent layer's kernel, recurrent kernel and bias, per direction and depth.

    A gated weight is split evenly along its gate axis; weights without gates (a projection,
    peepholes) are extras. Gates are listed in the framework's storage order.
    """
    fast = _even_gates(weights)
    if fast is not None:
        return fast
    shares: dict[tuple[int | None, str | None, str], dict[str, int]] = {}
    extras: list[ExtraRow] = []
    for w in weights:
        if not w.gates or w.role not in (KERNEL, RECURRENT, BIAS):
            extras.append(ExtraRow(w.name, w.params, w.direction, w.depth))
            continue
        if not w.row_roles and w.direction_axis is None:  # the common case, kept cheap
            each = w.params // len(w.gates)
            for g in w.gates:
                row = shares.setdefault((w.depth, w.direction, g), {KERNEL: 0, RECURRENT: 0, BIAS: 0})
                row[w.role] += each
            continue
        for gate, role, direction, amount in w.shares():
            assert gate is not None
            row = shares.setdefault((w.depth, direction, gate), {KERNEL: 0, RECURRENT: 0, BIAS: 0})
            row[role] += amount
    ordered = sorted(shares.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] == "backward"))
    gates = tuple(GateRow(g, s[KERNEL], s[RECURRENT], s[BIAS], d, depth) for (depth, d, g), s in ordered)
    return gates, tuple(extras)


def _even_gates(weights: tuple[Weight, ...]) -> tuple[tuple[GateRow, ...], tuple[ExtraRow, ...]] | None:
    """The common case, kept cheap: within each direction and depth, every gated tensor carries the
    same gates, so each gate holds the same share. None when a layer is laid out otherwise."""
    groups: dict[tuple[int | None, str | None], list[Any]] = {}
    extras: list[ExtraRow] = []
    for w in weights:
        if not w.gates or w.role not in _ROLE_INDEX:
            extras.append(ExtraRow(w.name, w.params, w.direction, w.depth))
            continue
        if w.row_roles or w.direction_axis is not None:
            return None
        key = (w.depth, w.direction)
        group = groups.get(key)
        if group is None:
            group = groups[key] = [w.gates, 0, 0, 0]
        elif group[0] != w.gates:
            return None
        group[_ROLE_INDEX[w.role]] += w.params // len(w.gates)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] == "backward"))
    rows = tuple(GateRow(g, k, r, b, d, depth) for (depth, d), (gates, k, r, b) in ordered for g in gates)
    return rows, tuple(extras)


_ROLE_INDEX = {KERNEL: 1, RECURRENT: 2, BIAS: 3}


def _dims(shape: tuple[int, ...]) -> str:
    return " × ".join(str(d) for d in shape) if shape else "1"


def _times(factor: int, expr: str) -> str:
    if factor == 1:
        return expr
    return f"{factor} × ({expr})" if _top_level_sum(expr) else f"{factor} × {expr}"


def _top_level_sum(expr: str) -> bool:
    depth = 0
    for ch in expr:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "+" and depth == 0:
            return True
    return False


def _combine(terms: list[str]) -> str:
    """Join terms with +, writing n identical terms as `n × term`."""
    counts: dict[str, int] = {}
    for t in terms:
        counts[t] = counts.get(t, 0) + 1
    return " + ".join(_times(n, t) for t, n in counts.items())


def _matrices(kernel: Weight, recurrent: Weight) -> str:
    """One gate's kernel + recurrent block, factored where the shapes share all but the input axis."""
    k, r = kernel.per_gate_shape, recurrent.per_gate_shape
    axis = kernel.gate_axis - 1 if kernel.gate_axis else 1  # the input axis beside the gate axis
    if len(k) == len(r) and all(a == b for i, (a, b) in enumerate(zip(k, r, strict=True)) if i != axis):
        parts = [str(d) for d in k]
        parts[axis] = f"({k[axis]} + {r[axis]})"
        return " × ".join(parts)
    return f"{_dims(k)} + {_dims(r)}"


def formula(weights: tuple[Weight, ...], recurrent: bool) -> str | None:
    """The count written out with the layer's own numbers, derived from its weights."""
    if not weights:
        return None
    params = sum(w.params for w in weights)
    if not recurrent:
        return f"{_combine([_dims(w.shape) for w in weights])} = {params:,}"
    if any(w.row_roles or w.direction_axis is not None for w in weights):
        return f"{_combine([_dims(w.shape) for w in weights])} = {params:,}"
    terms = []
    for group in _groups(weights):
        kernels = [w for w in group if w.role == KERNEL]
        recurrents = [w for w in group if w.role == RECURRENT]
        if len(kernels) != 1 or len(recurrents) != 1:  # per-gate tensors (Flax): write them out
            return f"{_combine([_dims(w.shape) for w in weights])} = {params:,}"
        inner = [_matrices(kernels[0], recurrents[0])]
        biases = [_dims(w.per_gate_shape) for w in group if w.role == BIAS]
        if biases:
            inner.append(_combine(biases))
        gated = _times(len(kernels[0].gates), " + ".join(inner))
        extras = [_dims(w.shape) for w in group if w.role in EXTRA_ROLES]
        terms.append(" + ".join([gated, *extras]))
    return f"{_combine(terms)} = {params:,}"


class _Counts(NamedTuple):
    """Everything a layer's report derives from its weights alone."""

    params: int
    trainable: int
    gates: tuple[GateRow, ...]
    extras: tuple[ExtraRow, ...]
    formula: str | None


@functools.lru_cache(maxsize=1024)
def _counts(weights: tuple[Weight, ...], recurrent: bool) -> _Counts:
    """Counts, gate rows and formula of a layer with these weights. Memoized (bounded): large models
    repeat the same layer many times, and the key is the whole weight description, so equal keys
    always give equal results."""
    gates, extras = gate_rows(weights) if recurrent else ((), ())
    return _Counts(sum(w.params for w in weights), sum(w.params for w in weights if w.trainable), gates, extras,
                   formula(weights, recurrent))


def layer_report(layer: LayerLayout, timesteps: int | None = None) -> LayerReport:
    """The layer's counts; with `timesteps`, also its compute for one sample, summed over its calls.

    A recurrent layer runs over the time axis of what it is called on: a free (null) one takes
    `timesteps`, a fixed one keeps its own length, an untracked one (PyTorch) is `timesteps`.
    """
    c = _counts(layer.weights, layer.recurrent)
    subs = tuple(layer_report(sub, timesteps) for sub in layer.layers)
    macs = elementwise = None
    if timesteps is not None:
        calls = layer.calls or (Call((), layer.input_shape, layer.output_shape),)
        if subs:  # a nested model: its layers' work, on each call
            macs = len(calls) * sum(sub.macs or 0 for sub in subs)
            elementwise = len(calls) * sum(sub.elementwise_flops or 0 for sub in subs)
        elif layer.recurrent:
            macs = elementwise = 0
            for call in calls:
                shape = call.input_shape
                steps = timesteps if not shape or shape[0] is None else shape[0]
                m, e = compute(layer, c.gates, steps)
                macs += m
                elementwise += e or 0
        else:
            macs = sum(compute(layer, c.gates, _positions(call.output_shape, timesteps))[0] for call in calls)
    return LayerReport(layer.name, layer.type, c.params, c.trainable, layer.weights, c.gates, c.extras,
                       c.formula, layer.output_shape, layer.recurrent, macs, elementwise, subs,
                       tuple(call.inbound for call in layer.calls))


def report(layout: ModelLayout, dtype: str = "float32", timesteps: int | None = None) -> Report:
    """The report; with `timesteps`, also each layer's compute for one sample over the sequence."""
    layers = tuple(layer_report(layer, timesteps) for layer in layout.layers)
    return Report(layout.framework, layout.name, layout.input_shape, layers, dtype, timesteps, layout.graph,
                  layout.outputs)


# Elementwise work per step and unit, besides the bias additions: LSTM adds the two products (4),
# applies 3 sigmoids and 2 tanh, and updates c = f*c + i*g and h = o*tanh(c) (4); GRU adds (3),
# applies 2 sigmoids and a tanh, multiplies by the reset gate (1) and updates h = z*h + (1-z)*n (4);
# a plain RNN adds (1) and applies its activation (1).
ELEMENTWISE_PER_UNIT = {4: 13, 3: 11, 1: 2}


def _positions(output_shape: Shape | None, timesteps: int) -> int:
    """How often a non-recurrent layer's kernel is applied: every output position but the last axis."""
    if output_shape is None:  # PyTorch modules: once per call
        return 1
    n = 1
    for d in output_shape[:-1]:
        n *= timesteps if d is None else d
    return n


def compute(layer: LayerLayout, gates: tuple[GateRow, ...], steps: int) -> tuple[int, int | None]:
    """(MACs, elementwise FLOPs) for one sample.

    Recurrent: steps × (every kernel and recurrent product, plus a projection), over all directions
    and depths; a ConvLSTM's products are repeated at every output position. Others: the products of
    their matrices at every output position (a lookup table such as Embedding costs none).
    """
    if not layer.recurrent:
        if layer.type.lower() == "embedding":
            return 0, None
        return steps * sum(w.params for w in layer.weights if len(w.shape) >= 2), None
    positions = 1
    kernel = next((w for w in layer.weights if w.role == KERNEL), None)
    if kernel is not None and len(kernel.shape) > 2 and kernel.direction_axis is None and layer.output_shape:
        rank = len(kernel.shape) - 2  # ConvLSTM: (k..., in, 4f); positions of one output frame
        frame = layer.output_shape[-(rank + 1):]
        filters = kernel.shape[-1] // len(kernel.gates)
        positions = 1
        for d in frame:
            positions *= d or 1
        positions //= filters
    products = sum(w.params for w in layer.weights if w.role in (KERNEL, RECURRENT, PROJECTION))
    macs = steps * positions * products
    per_group: dict[tuple[int | None, str | None], list[GateRow]] = {}
    for g in gates:
        per_group.setdefault((g.depth, g.direction), []).append(g)
    elementwise = 0
    units = _units(layer)
    for group in per_group.values():
        count = len(group)
        biases = group[0].bias // units if units else 0  # bias vectors per gate
        elementwise += ELEMENTWISE_PER_UNIT.get(count, 0) * units + biases * count * units
    peepholes = sum(w.params for w in layer.weights if w.role == PEEPHOLE)
    elementwise += 2 * peepholes  # a multiply and an add per peephole weight
    return macs, steps * positions * elementwise


def _units(layer: LayerLayout) -> int:
    """The units of a recurrent layer: one gate block's width (TF1 fuses both kernels in one)."""
    for w in layer.weights:
        if w.gates and (w.role == RECURRENT or w.row_roles):
            if w.gate_axis is None:
                return w.shape[-1]
            return w.shape[w.gate_axis] // len(w.gates)
    return 0


def check_expect(rep: Report, expect: dict[str, Any] | None) -> list[str]:
    """Every way the report misses the spec's `expect:` block, as sentences (empty when all hold)."""
    if not expect:
        return []
    failures = []
    actual = {"total": rep.total, "trainable": rep.trainable, "non_trainable": rep.non_trainable}
    for key in ("total", "trainable", "non_trainable"):
        if key in expect and expect[key] != actual[key]:
            diff = actual[key] - expect[key]
            failures.append(f"expected {key} {expect[key]:,}, counted {actual[key]:,} ({diff:+,})")
    if "max_total" in expect and rep.total > expect["max_total"]:
        failures.append(f"total {rep.total:,} is over max_total {expect['max_total']:,} "
                        f"by {rep.total - expect['max_total']:,}")
    by_name = {layer.name: layer for layer in rep.layers}
    for name, want in (expect.get("layers") or {}).items():
        layer = by_name.get(str(name))
        if layer is None:
            failures.append(f"expected a layer named {name!r}; the model's layers are "
                            f"{', '.join(by_name)}")
        elif layer.params != want:
            failures.append(f"expected layer {name!r} to have {want:,} parameters, counted {layer.params:,} "
                            f"({layer.params - want:+,})")
    return failures
