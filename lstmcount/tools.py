"""Questions beyond the count: the same layer across frameworks, and the largest layer a budget fits.

Pure functions over layouts; every number comes from the framework tables in `conventions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

from . import conventions, inputs
from .accounting import check_expect, report
from .conventions.flags import RECURRENT, SUPPORT, closed_form, fewest_units, flags_layout
from .errors import LstmcountError, UsageError
from .layout import EXTRA_ROLES, LayerLayout, ModelLayout, tensor_key
from .model import LayerFlags, Model


class Row(NamedTuple):
    framework: str
    variant: str
    params: int | None  # None: this framework has no such layer
    in_general: str | None  # the count as a quadratic in the units u and input features i
    why: str


def variants(f: LayerFlags) -> list[tuple[str, LayerFlags]]:
    """The same layer in every framework and variant lstmcount knows, the flags' own first."""
    out: list[tuple[str, LayerFlags]] = [(_label(f), f)]
    for fw, support in SUPPORT.items():
        base = f._replace(framework=fw, reset_after=None, proj_size=None, peepholes=False)
        options = [base]
        if f.type in support.reset_after:
            options = [base._replace(reset_after=True), base._replace(reset_after=False)]
        if f.type in support.peepholes:
            options = [base, base._replace(peepholes=True)]
        if f.proj_size and f.type in support.proj:
            options.append(base._replace(proj_size=f.proj_size))
        out += [(_label(v), v) for v in options if v != f]
    return out


def _label(f: LayerFlags) -> str:
    parts = []
    if f.reset_after is not None and f.framework == "onnx":
        parts.append(f"linear_before_reset={int(f.reset_after)}")
    elif f.reset_after is not None:
        parts.append(f"reset_after={str(f.reset_after).lower()}")
    if f.peepholes:
        parts.append("peepholes")
    if f.proj_size:
        parts.append(f"{'num_proj' if f.framework == 'tf1' else 'proj_size'}={f.proj_size}")
    return ", ".join(parts) or "default"


def _parts(layout: ModelLayout) -> dict[str, int]:
    rep = report(layout)
    sums = {"kernel": 0, "recurrent": 0, "bias": 0, "extras": 0}
    for layer in rep.layers:
        for g in layer.gates:
            sums["kernel"] += g.kernel
            sums["recurrent"] += g.recurrent_kernel
            sums["bias"] += g.bias
        sums["extras"] += sum(e.params for e in layer.extras)
    return sums


def why(row: ModelLayout, first: ModelLayout, f: LayerFlags) -> str:
    """One line on where this row's count differs from the first row's."""
    a, b = _parts(row), _parts(first)
    variants = [{layer.variant for layer in lay.layers} for lay in (row, first)]
    other = "" if variants[0] == variants[1] else \
        f"; a different GRU: {'reset_before' if 'reset_before' in variants[0] else 'reset_after'}"
    if a == b:
        return "same count, same split per gate" + other
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[f.type]
    notes = []
    for part in ("kernel", "recurrent", "bias", "extras"):
        diff = a[part] - b[part]
        if not diff:
            continue
        text = f"{part} {diff:+,}"
        copies = f.units * (2 if f.bidirectional else 1) * f.num_layers
        if part == "bias" and diff % copies == 0:
            n = diff // copies  # bias vectors of `units` per direction and depth
            per_gate = n % gates == 0
            k = abs(n // gates) if per_gate else abs(n)
            text += f" ({k} {'more' if n > 0 else 'fewer'} bias vector{'s' if k > 1 else ''} of {f.units}" + \
                (" per gate)" if per_gate else ")")
        if part == "extras":
            names = sorted({w.name.rsplit("/", 1)[-1] for layer in row.layers for w in layer.weights
                            if w.role in EXTRA_ROLES} - {w.name.rsplit("/", 1)[-1] for layer in first.layers
                                                         for w in layer.weights if w.role in EXTRA_ROLES})
            if names:
                text += f" ({', '.join(names)})"
        notes.append(text)
    return "; ".join(notes) + other


def compare(f: LayerFlags) -> list[Row]:
    first = flags_layout(f)
    rows = []
    for label, v in variants(f):
        try:
            lay = flags_layout(v)
        except UsageError as exc:
            rows.append(Row(v.framework, label, None, None, f"not available: {exc}"))
            continue
        form = closed_form(v)
        rows.append(Row(v.framework, label, lay.params, None if form is None else str(form),
                        "reference row" if v == f else why(lay, first, f)))
    return rows


class Solution(NamedTuple):
    units: int
    params: int
    next_params: int  # what one more unit would cost


def largest(fits: Callable[[int], int | None], budget: int, what: str, lowest: int = 1,
            why: Callable[[], str] = str) -> Solution:
    """The largest size n >= lowest with count(n) <= budget; count is increasing in n. None = invalid n
    (`why()` then says what was wrong, for the message)."""
    first = fits(lowest)
    if first is None or first > budget:
        reason = why() if first is None else ""
        raise LstmcountError(f"even {what} = {lowest} needs {first:,} parameters, over the budget of {budget:,}"
                             if first is not None else f"{what} = {lowest} is not a valid layer"
                             + (f": {reason}" if reason else ""))
    lo, hi = lowest, 2 * lowest
    while (n := fits(hi)) is not None and n <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # count(lo) fits, count(hi) does not
        mid = (lo + hi) // 2
        n = fits(mid)
        if n is not None and n <= budget:
            lo = mid
        else:
            hi = mid
    params = fits(lo)
    assert params is not None
    return Solution(lo, params, fits(lo + 1) or 0)


def solve_flags(f: LayerFlags, budget: int, fixed: int = 0, what: str = "--units") -> Solution:
    """The largest units for which `fixed` plus the layer's parameters fit the budget."""
    def fits(units: int) -> int | None:
        if f.proj_size and f.proj_size >= units:
            return None
        return fixed + flags_layout(f._replace(units=units)).params
    lowest = fewest_units(f.proj_size)
    flags_layout(f._replace(units=lowest))  # check the other flags once
    return largest(fits, budget, what, lowest)


SIZE_ARGS = ("units", "hidden_size", "filters", "out_features", "output_dim", "embedding_dim")


def solve_model(model: Model, layer_name: str, budget: int) -> tuple[str, Solution]:
    """The largest size of one named layer (units, hidden_size, filters, ...) for the whole model's total."""
    model = conventions.flat(model)
    laid = [lay for lay in conventions.layout(model).layers if lay.entry is not None]
    names = [lay.name for lay in laid]
    if layer_name not in names:
        raise UsageError(f"--layer {layer_name!r}: no such layer (the model's layers are {', '.join(names)})")
    index = laid[names.index(layer_name)].entry - 1  # type: ignore[operator]
    spec = model.layers[index]
    arg = next((a for a in SIZE_ARGS if a in spec.args), None)
    if arg is None:
        raise UsageError(f"--layer {layer_name!r} ({spec.type}) has no size argument to solve for "
                         f"({', '.join(SIZE_ARGS)})")

    refused: list[str] = []

    def fits(size: int) -> int | None:
        layers = list(model.layers)
        layers[index] = replace(spec, args={**spec.args, arg: size})
        try:
            return conventions.layout(replace(model, layers=tuple(layers))).params
        except LstmcountError as exc:
            refused[:] = exc.messages()[:1]
            return None

    return arg, largest(fits, budget, f"{layer_name}.{arg}", why=lambda: "".join(refused))


KERAS_TYPES = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
CUDNN_TYPES = {"CuDNNLSTM": "lstm", "CuDNNGRU": "gru"}  # Keras 2 only: counted with the cudnn convention


class _NotMirrored(UsageError):
    """A Bidirectional whose backward layer differs from its forward one: no one set of flags is both."""


def _flags_at(model: Model, layer: LayerLayout) -> LayerFlags:
    """The flags of a spec's laid-out layer (UsageError if it is not an LSTM, GRU or RNN)."""
    if layer.entry is None:  # an InputLayer
        raise UsageError(f"--layer {layer.name!r} is an input; this takes an LSTM, GRU or RNN")
    spec = model.layers[layer.entry - 1]
    layer_name = layer.name
    args = dict(spec.args)
    if model.framework == "pytorch":
        kind = RECURRENT.get(layer.type)
        if kind is None:
            raise UsageError(f"--layer {layer_name!r} is a {layer.type}; this takes an LSTM, GRU or RNN")
        return LayerFlags(kind, "pytorch", args["hidden_size"], args["input_size"], bool(args.get("bidirectional")),
                          args.get("num_layers", 1), args.get("bias", True), None, args.get("proj_size") or None)
    bidirectional = layer.type == "Bidirectional"
    if bidirectional:
        args = {k: v for k, v in args["layer"].items()}
        kind_name = conventions.KERAS.kind(str(args.pop("type")), None)
        type_name = kind_name.name if kind_name else ""
    else:
        type_name = layer.type
    framework = "cudnn" if type_name in CUDNN_TYPES else "keras"  # Keras 2's CuDNNLSTM: the cudnn convention
    kind = KERAS_TYPES.get(type_name) or CUDNN_TYPES.get(type_name)
    if kind is None:
        raise UsageError(f"--layer {layer_name!r} is a {layer.type}; this takes an LSTM, GRU or SimpleRNN "
                         "(or a Bidirectional one)")
    shape = layer.input_shape
    assert shape is not None and shape[-1] is not None
    flags = LayerFlags(kind, framework, args["units"], shape[-1], bidirectional, 1, args.get("use_bias", True),
                       args.get("reset_after") if kind == "gru" and framework == "keras" else None)
    if bidirectional and spec.args.get("backward_layer") is not None and \
            [w.shape for w in flags_layout(flags).layers[0].weights] != [w.shape for w in layer.weights]:
        raise _NotMirrored(f"--layer {layer_name!r}: its backward_layer is not a mirror of its forward layer, and "
                         "this takes a layer both directions of which the same flags describe")
    return flags


class Picked(NamedTuple):
    """One recurrent layer of a spec or model file, as `params` flags and as the file lays it out."""

    flags: LayerFlags
    layer: LayerLayout
    layout: ModelLayout  # the whole file's
    tensor_file: bool  # a state_dict or ONNX file: its other tensors have fixed shapes

    def tensor_names(self) -> dict[str, str]:
        """The flags layout's `layer/weight` names -> the names this file gives the same tensors."""
        self.check_plain("convert it")
        planned = [f"{lay.name}/{w.name}" for lay in flags_layout(self.flags).layers for w in lay.weights]
        if self.layout.framework == "onnx":
            real = [w.name for w in self.layer.weights]
        elif self.tensor_file:  # state_dict keys
            real = [tensor_key(self.layer.name, w.name) for w in self.layer.weights]
        else:
            real = [f"{self.layer.name}/{w.name}" for w in self.layer.weights]
        return dict(zip(planned, real, strict=True))

    def check_plain(self, to: str) -> None:
        """UsageError unless the layer holds the plain layer's tensors: no parametrization's own (weight_norm's
        magnitudes), none tied to another layer's."""
        planned = [w.shape for lay in flags_layout(self.flags).layers for w in lay.weights]
        if planned == [w.shape for w in self.layer.weights] and not any(w.tied for w in self.layer.weights):
            return
        extra = [w.name for w in self.layer.weights if w.role in EXTRA_ROLES or w.tied]
        raise UsageError(f"{self.layer.name!r} ({self.layer.type}) does not hold its weights as the plain layer does "
                         f"({', '.join(extra) or 'other tensors'}: a parametrization such as weight_norm, or a tied "
                         f"tensor); to {to}, save the model with its plain weights (remove_parametrizations)")


def pick(path: str, layer_name: str | None, model: Model | None = None, key: str | None = None) -> Picked:
    """A recurrent layer by name (or the only one) of a YAML spec, Keras file, state_dict or ONNX file.

    `model`: the spec at `path` when the caller has loaded it already (standard input reads once);
    `key`: the entry of a PyTorch checkpoint to look in.
    """
    tensor = model is None and inputs.is_tensor_file(path)
    if tensor:
        layout, found = inputs.tensor_file(path, key)
    else:
        if model is None:
            model = inputs.load(path, key)
        model = conventions.flat(model)
        layout = conventions.layout(model)
        found = {}
        for layer in layout.layers:
            try:
                found[layer.name] = _flags_at(model, layer)
            except _NotMirrored as exc:
                if layer_name == layer.name:
                    raise UsageError(f"{path}: {exc}") from None
            except UsageError:
                continue
    if layer_name is None:
        if len(found) != 1:
            raise UsageError(f"{path}: name the recurrent layer with --layer NAME ("
                             + (f"the file's recurrent layers are {', '.join(found)})" if found
                                else "the file has no LSTM, GRU or RNN layer)"))
        layer_name = next(iter(found))
    if layer_name not in found:
        names = [layer.name for layer in layout.layers]
        what = "not an LSTM, GRU or RNN layer" if layer_name in names else "no such layer"
        raise UsageError(f"{path}: --layer {layer_name!r}: {what} (the file's recurrent layers are "
                         f"{', '.join(found) or 'none'})")
    layer = next(lay for lay in layout.layers if lay.name == layer_name)
    return Picked(found[layer_name], layer, layout, tensor)


class Checked(NamedTuple):
    """What `check` found in one file: what it checked (empty: nothing to check) and each failure."""

    source: str
    checked: tuple[str, ...]
    failures: tuple[str, ...] = ()


def check_file(path: str, budget: int | None = None) -> Checked:
    """A spec's expect: block, and the budget if one is given, against the file's count.

    Without a budget, only specs with an expect: block are checked (inputs.with_expect), so a
    repository's other YAML files pass a hook untouched. With one, every file is counted (specs,
    Keras files, tensor files, layer expressions).
    """
    expect: dict[str, Any] | None = None
    if inputs.is_tensor_file(path) or inputs.is_expression(path) or path.endswith(inputs.KERAS_SUFFIXES):
        if budget is None:
            return Checked(path, ())
        lay = inputs.read_tensor_file(path) if inputs.is_tensor_file(path) else conventions.layout(inputs.load(path))
        source = "<expression>" if inputs.is_expression(path) else path
    else:
        model = inputs.with_expect(path) if budget is None else inputs.load(path)
        if model is None or (budget is None and not model.expect):
            return Checked(path, ())
        lay, expect, source = conventions.layout(model), model.expect, model.source
    rep = report(lay)
    failures = check_expect(rep, expect)
    if budget is not None and rep.total > budget:
        failures.append(f"total {rep.total:,} is over the budget of {budget:,} (--budget) by {rep.total - budget:,}")
    return Checked(source, tuple(sorted(expect or {})) + (("budget",) if budget is not None else ()),
                   tuple(failures))
