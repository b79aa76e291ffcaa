"""From a Layout to numbers: per-layer and per-gate counts, totals, bytes, formulas, checks.

Pure functions over frozen dataclasses; nothing here prints or imports a framework.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from .errors import UsageError
from .layout import (
    BIAS,
    EXTRA_ROLES,
    KERNEL,
    PEEPHOLE,
    PROJECTION,
    RECURRENT,
    Call,
    LayerLayout,
    ModelLayout,
    Weight,
    alternatives,
    tensor_key,
)
from .model import Shape

# Bytes per element: the dtypes `--dtype` offers first, then those a file may store.
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1,
               "complex128": 16, "complex64": 8, "complex32": 4, "int64": 8, "int32": 4, "int16": 2, "uint64": 8,
               "uint32": 4, "uint16": 2, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e4m3fnuz": 1,
               "float8_e5m2": 1, "float8_e5m2fnuz": 1, "float8_e8m0fnu": 1}
UNSTATED = "float32"  # what a weight whose source states no dtype (a spec, flags) is stored as


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
    stored: str | None = None  # counted from the weights a file stores, there (LayerLayout.stored)
    inbound: tuple[tuple[str, ...], ...] = ()  # graph models: what each call reads (`name[node][tensor]`); last

    @property
    def non_trainable(self) -> int:
        return self.params - self.trainable


class Report(NamedTuple):
    framework: str
    name: str | None
    input_shape: Shape | None
    layers: tuple[LayerReport, ...]
    # What the bytes are counted at: the dtype asked for, or (as_stored) the one the weights are stored
    # in, or every one of them, most parameters first ("float16 + int64").
    dtype: str = "float32"
    timesteps: int | None = None
    graph: bool = False  # a graph model: its layers include its InputLayers and say what each call reads
    outputs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # sentences the user should read beside the numbers (CLI: on stderr)
    as_stored: bool = False  # bytes at each weight's stored dtype (float32 where its source does not say)

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
        if not self.as_stored:
            return self.total * DTYPE_BYTES[self.dtype]
        return sum(params * DTYPE_BYTES[dtype] for dtype, params in stored_dtypes(self.layers).items())


def stored_dtypes(layers: tuple[LayerReport, ...]) -> dict[str, int]:
    """Parameters per stored dtype (float32 for weights whose source states none), most first."""
    out: dict[str, int] = {}
    for layer in layers:
        for key, params in _dtype_params(layer.weights):
            out[key] = out.get(key, 0) + params
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


@functools.lru_cache(maxsize=1024)
def _dtype_params(weights: tuple[Weight, ...]) -> tuple[tuple[str, int], ...]:
    """One layer's parameters per stored dtype. Memoized (bounded) by the whole weight description:
    a large model repeats a few layers many times."""
    out: dict[str, int] = {}
    for w in weights:
        if w.params:
            key = w.dtype or UNSTATED
            out[key] = out.get(key, 0) + w.params
    return tuple(out.items())


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
    weights = tuple(w for w in weights if w.tied is None)  # a tied tensor is counted where it is stored
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
        gates = len(kernels[0].gates)  # a bias may hold several per gate (cuDNN's input and recurrent ones)
        biases = [_times(max(1, len(w.gates) // gates), _dims(w.per_gate_shape)) for w in group if w.role == BIAS]
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


def layer_report(layer: LayerLayout, timesteps: int | None = None, per_step: bool = False) -> LayerReport:
    """The layer's counts; with `timesteps`, also its compute for one sample, summed over its calls.

    A recurrent layer runs over the time axis of what it is called on: a free (null) one takes
    `timesteps`, a fixed one keeps its own length, an untracked one (PyTorch) is `timesteps`.
    Another layer is applied at every position of its output; where shapes are not tracked (PyTorch,
    tensor files) once per sample, or at every step with `per_step`. There a layer whose positions
    cannot be known (a convolution's output size) or whose kind decides its cost (an Embedding or a
    Linear) is left out: its MACs are None, as are those of a layer whose work lstmcount does not
    count (attention's products of its inputs).
    """
    c = _counts(layer.weights, layer.recurrent)
    subs = tuple(layer_report(sub, timesteps) for sub in layer.layers)
    macs = elementwise = None
    if timesteps is not None and layer.costed and not layer.uncosted:
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
        elif untracked(layer):
            if per_step or not _unknown_cost(layer):
                macs = compute(layer, c.gates, timesteps if per_step else 1)[0]
        else:
            macs = sum(compute(layer, c.gates, _positions(call.output_shape, timesteps))[0] for call in calls)
    return LayerReport(layer.name, layer.type, c.params, c.trainable, layer.weights, c.gates, c.extras,
                       c.formula, layer.output_shape, layer.recurrent, macs, elementwise, subs, layer.stored,
                       tuple(call.inbound for call in layer.calls))


def untracked(layer: LayerLayout) -> bool:
    """A layer whose input is not tracked (PyTorch specs, tensor files): how often it is applied per
    sample is not known from the model."""
    return layer.input_shape is None and not layer.recurrent and not layer.layers and not layer.calls


def _unknown_cost(layer: LayerLayout) -> bool:
    """An untracked layer whose MACs per application are not known: a kernel of rank 3 or more (a
    convolution: applied at every output position, which nothing here gives) or a weight that may be
    a lookup table or a matrix (an Embedding or a Linear: the file cannot say which)."""
    kinds = alternatives(layer.type)
    return any(len(w.shape) > 2 for w in layer.weights) or (len(kinds) > 1 and "Embedding" in kinds)


def report(layout: ModelLayout, dtype: str | None = "float32", timesteps: int | None = None,
           per_step: tuple[str, ...] = ()) -> Report:
    """The report; with `timesteps`, also each layer's compute for one sample over the sequence.

    `dtype` None: the bytes at each weight's stored dtype (float32 where the source states none).
    `per_step`: names of layers applied at every time step where the model cannot say so (a Linear
    after a PyTorch LSTM); each must be such a layer.
    """
    if per_step and timesteps is None:
        raise UsageError("--per-step counts a module at every time step: give the steps with --timesteps")
    chosen = set(per_step)
    for name in per_step:
        _check_per_step(layout, name)
    layers = tuple(layer_report(layer, timesteps, layer.name in chosen) for layer in layout.layers)
    stored = dtype is None
    if dtype is None:
        dtype = " + ".join(stored_dtypes(layers)) or UNSTATED
    notes = layout.notes + _tie_notes(layout) + (_mac_notes(layers, layout, timesteps, chosen)
                                                 if timesteps is not None else ())
    return Report(layout.framework, layout.name, layout.input_shape, layers, dtype, timesteps, layout.graph,
                  layout.outputs, notes, stored)


def _tie_notes(layout: ModelLayout) -> tuple[str, ...]:
    tied = [f"{tensor_key(layer.name, w.name)} is {w.tied}" for layer in layout.layers for w in layer.weights
            if w.tied]
    if not tied:
        return ()
    return (f"tied weights are one tensor, counted once (as model.parameters() counts it): {_listed(tied)}",)


def _check_per_step(layout: ModelLayout, name: str) -> None:
    layer = next((lay for lay in layout.layers if lay.name == name), None)
    if layer is None:
        raise UsageError(f"--per-step {name!r}: no such layer (the model's layers are "
                         f"{', '.join(lay.name for lay in layout.layers)})")
    if layer.recurrent:
        raise UsageError(f"--per-step {name!r}: a recurrent layer ({layer.type}) runs at every step already")
    if not untracked(layer):
        raise UsageError(f"--per-step {name!r}: the model gives this {layer.type}'s input shape, and so how often "
                         "it is applied; --per-step is for modules whose input the model does not give (PyTorch)")


def _mac_notes(layers: tuple[LayerReport, ...], layout: ModelLayout, timesteps: int, per_step: set[str]
               ) -> tuple[str, ...]:
    """What the MACs assume where the model cannot say: modules counted once per sample, modules left out."""
    by_name = {lay.name: lay for lay in layout.layers}
    once: list[str] = []
    convs: list[str] = []
    either: list[str] = []
    for rep in layers:
        layer = by_name.get(rep.name)
        if layer is None or not untracked(layer) or rep.name in per_step:
            continue
        label = f"{rep.name} ({rep.type})"
        if rep.macs is None:
            (convs if any(len(w.shape) > 2 for w in layer.weights) else either).append(label)
        elif rep.macs:
            once.append(label)
    notes = []
    uncosted = _uncosted(layout.layers)
    if uncosted:
        notes.append(f"MACs leave out {_listed(uncosted)}: lstmcount does not count yet what a layer multiplies "
                     "its inputs by each other for (attention scores, Dot)")
    why: dict[str, list[str]] = {}
    for layer in _flat(layout.layers):
        if layer.uncosted:
            why.setdefault(layer.uncosted, []).append(f"{layer.name} ({layer.type})")
    notes += [f"MACs leave out {_listed(names)}: {reason}" for reason, names in why.items()]
    if once:
        notes.append(f"MACs count {_listed(once)} once per sample; a module applied at every step (a Linear on "
                     f"each of an LSTM's outputs) costs {timesteps:,} times that: --per-step NAME counts it so")
    if convs:
        notes.append(f"MACs leave out {_listed(convs)}: a convolution is applied at every output position, and "
                     "the model does not give its input size")
    if either:
        notes.append(f"MACs leave out {_listed(either)}: its weight may be a lookup table (no MACs) or a matrix "
                     "(a product per application), and the file does not say which; --per-step NAME counts it as "
                     "a matrix at every step")
    return tuple(notes)


def _flat(layers: tuple[LayerLayout, ...]) -> list[LayerLayout]:
    """The layers and, depth first, a nested model's own."""
    return [each for layer in layers for each in (layer, *_flat(layer.layers))]


def _uncosted(layers: tuple[LayerLayout, ...]) -> list[str]:
    """The layers (a nested model's too) whose compute is not counted, as `name (type)`."""
    return [label for layer in layers
            for label in ([f"{layer.name} ({layer.type})"] if not layer.costed else _uncosted(layer.layers))]


def _listed(items: list[str], most: int = 6) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most:,} more" if len(items) > most else "")


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
        if layer.type.lower() == "embedding" or any("Norm" in k for k in alternatives(layer.type)):
            return 0, None  # a lookup, or a normalization's elementwise scale (its weight may be 2-D)
        return steps * sum(w.size for w in layer.weights if len(w.shape) >= 2), None
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
    products = sum(w.size for w in layer.weights if w.role in (KERNEL, RECURRENT, PROJECTION))
    macs = steps * positions * products
    per_group: dict[tuple[int | None, str | None], list[GateRow]] = {}
    for g in gates:
        per_group.setdefault((g.depth, g.direction), []).append(g)
    elementwise = 0
    for key, group in per_group.items():
        count = len(group)
        units = _units(layer, key)  # stacked cells of an RNN may differ in width
        biases = group[0].bias // units if units else 0  # bias vectors per gate
        elementwise += ELEMENTWISE_PER_UNIT.get(count, 0) * units + biases * count * units
    peepholes = sum(w.size for w in layer.weights if w.role == PEEPHOLE)
    elementwise += 2 * peepholes  # a multiply and an add per peephole weight
    return macs, steps * positions * elementwise


def _units(layer: LayerLayout, group: tuple[int | None, str | None]) -> int:
    """The units of one depth and direction of a recurrent layer: one gate block's width (TF1 fuses both
    kernels in one; ONNX keeps both directions in one tensor, marked with neither)."""
    for w in layer.weights:
        if w.gates and (w.role == RECURRENT or w.row_roles) and (w.depth, w.direction) in (group, (None, None)):
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
