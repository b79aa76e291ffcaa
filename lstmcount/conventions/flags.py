"""One recurrent layer (or a stack) described by flags, in any framework lstmcount can lay out.

Keras and PyTorch go through their full layer tables (the same build functions as a spec file);
ONNX, TF1, cuDNN (Keras 2) and Flax, which lstmcount knows only for recurrent layers, have a
module each. The table below says which options each framework has.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import UsageError, show
from ..layout import LayerLayout, ModelLayout
from ..model import MAX_DEPTH_LAYERS, MAX_SIZE, LayerFlags, Shape
from . import cudnn, flax, onnx, tf1
from .base import Framework
from .keras import KERAS
from .pytorch import PYTORCH

# ONNX operators and PyTorch modules share these names; the values are the flags' --type.
RECURRENT = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}
_KERAS_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
_TORCH_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def sizes_ok(layer_type: Any, units: Any, inp: Any, layers: Any, proj: Any) -> bool:
    """Whether the sizes in `params` flags are all valid, in one expression (`check_numbers` says what is not)."""
    return (layer_type in _KERAS_CLASS and type(units) is int and type(inp) is int and type(layers) is int
            and 0 < units <= MAX_SIZE and 0 < inp <= MAX_SIZE and 0 < layers <= MAX_DEPTH_LAYERS
            and (proj is None or (type(proj) is int and 0 <= proj < units)))


def check_numbers(f: LayerFlags) -> None:
    """The sizes in `params` flags: integers, positive (UsageError)."""
    if sizes_ok(f.type, f.units, f.input, f.num_layers, f.proj_size):
        return  # the common case in a sweep; the checks below say what is wrong
    if f.type not in _KERAS_CLASS:
        raise UsageError(f"--type must be one of {', '.join(_KERAS_CLASS)}, got {f.type!r}")
    for flag, value, most in (("--units", f.units, MAX_SIZE), ("--input", f.input, MAX_SIZE),
                              ("--num-layers", f.num_layers, MAX_DEPTH_LAYERS), ("--proj-size", f.proj_size or 0,
                                                                                 MAX_SIZE)):
        if type(value) is not int:
            raise UsageError(f"{flag} must be an integer, got {show(value)}")
        if value > most:
            raise UsageError(f"{flag} must be at most {most:,}, got {show(value)}")
    if f.units < 1:
        raise UsageError("--units must be a positive integer (the layer's hidden size)")
    if f.input < 1:
        raise UsageError("--input must be a positive integer (the number of input features)")
    if f.num_layers < 1:
        raise UsageError("--num-layers must be at least 1")
    if f.proj_size is not None and not 0 <= f.proj_size < f.units:
        raise UsageError(f"--proj-size must be at least 0 and smaller than --units ({f.units}), got {f.proj_size}")


def flag_layers(f: LayerFlags) -> list[tuple[str, dict[str, Any]]]:
    """Keras or PyTorch layers the (checked) flags describe, as (class name, arguments) as a spec gives them."""
    if f.framework == "pytorch":
        args: dict[str, Any] = {"input_size": f.input, "hidden_size": f.units}
        if f.num_layers != 1:
            args["num_layers"] = f.num_layers
        if f.bidirectional:
            args["bidirectional"] = True
        if not f.bias:
            args["bias"] = False
        if f.proj_size is not None:
            args["proj_size"] = f.proj_size
        return [(_TORCH_CLASS[f.type], args)]
    layers: list[tuple[str, dict[str, Any]]] = []
    for k in range(f.num_layers):
        inner: dict[str, Any] = {"units": f.units}
        if not f.bias:
            inner["use_bias"] = False
        if f.reset_after is not None:
            inner["reset_after"] = f.reset_after
        if k < f.num_layers - 1:
            inner["return_sequences"] = True
        if f.bidirectional:
            layers.append(("Bidirectional", {"layer": {"type": _KERAS_CLASS[f.type], **inner}}))
        else:
            layers.append((_KERAS_CLASS[f.type], inner))
    return layers


def flag_input_shape(f: LayerFlags) -> Shape | None:
    """The model input the flags' --input gives: a Keras sequence of features (PyTorch tracks no shapes)."""
    return (None, f.input) if f.framework == "keras" else None


class Support(NamedTuple):
    types: tuple[str, ...]
    no_bias: bool  # the layer can drop its biases
    proj: tuple[str, ...] = ()  # types with a projection (--proj-size)
    peepholes: tuple[str, ...] = ()  # types with peephole weights (--peepholes)
    reset_after: tuple[str, ...] = ()  # types with Keras's reset_after choice
    note: str = ""


SUPPORT: dict[str, Support] = {
    "keras": Support(("lstm", "gru", "rnn"), True, reset_after=("gru",)),
    "pytorch": Support(("lstm", "gru", "rnn"), True, proj=("lstm",)),
    "onnx": Support(("lstm", "gru", "rnn"), True, peepholes=("lstm",), reset_after=("gru",)),
    "tf1": Support(("lstm", "gru", "rnn"), False, proj=("lstm",), peepholes=("lstm",),
                   note="LSTMCell/GRUCell/BasicRNNCell always have a bias"),
    "cudnn": Support(("lstm", "gru"), False, note="CuDNNLSTM/CuDNNGRU always have both biases"),
    "flax": Support(("lstm", "gru", "rnn"), False, note="linen LSTMCell/GRUCell/SimpleCell have fixed biases"),
}
FLAG_FRAMEWORKS = tuple(SUPPORT)


def check(f: LayerFlags) -> None:
    """Every flag rule: sizes, then whether this framework has the options asked for."""
    support = SUPPORT.get(f.framework)
    if support is None:
        raise UsageError(f"--framework must be one of {', '.join(SUPPORT)}, got {f.framework!r}")
    check_numbers(f)
    _check_options(f, support)


def _check_options(f: LayerFlags, support: Support) -> None:
    """Whether the framework has the type and options asked for (the sizes aside)."""
    if f.type not in support.types:
        raise UsageError(f"--framework {f.framework} has no {f.type} layer (it has: {', '.join(support.types)})")
    if not f.bias and not support.no_bias:
        raise UsageError(f"--no-bias: {support.note}")
    if f.reset_after is not None and f.type not in support.reset_after:
        raise UsageError("--reset-after/--no-reset-after applies only to a GRU in keras (reset_after) or onnx "
                         "(linear_before_reset)")
    if f.proj_size is not None and f.type not in support.proj:
        raise UsageError("--proj-size applies only to an LSTM in pytorch (proj_size) or tf1 (num_proj)")
    if f.peepholes and f.type not in support.peepholes:
        raise UsageError("--peepholes applies only to an LSTM in onnx or tf1")


def _table_layers(table: Framework) -> Callable[[LayerFlags], list[LayerLayout]]:
    def build(f: LayerFlags) -> list[LayerLayout]:
        shape = flag_input_shape(f)
        layers = []
        for type_name, args in flag_layers(f):
            layer = table.quick(type_name, args, shape)
            layers.append(layer)
            shape = layer.output_shape
        return layers

    return build


def _named(layers: list[LayerLayout]) -> tuple[LayerLayout, ...]:
    """Keras's names for a stack: lstm, lstm_1, lstm_2."""
    used: dict[str, int] = {}
    out = []
    for layer in layers:
        n = used.get(layer.name, 0)
        used[layer.name] = n + 1
        out.append(layer if n == 0 else layer._replace(name=f"{layer.name}_{n}"))
    return tuple(out)


BUILDERS: dict[str, Callable[[LayerFlags], list[LayerLayout]]] = {
    "keras": _table_layers(KERAS), "pytorch": _table_layers(PYTORCH),
    "onnx": onnx.from_flags, "tf1": tf1.from_flags, "cudnn": cudnn.from_flags, "flax": flax.from_flags,
}


def flag_layouts(f: LayerFlags) -> list[LayerLayout]:
    """The layers the flags describe (checked first; UsageError for an option the framework lacks)."""
    check(f)
    return BUILDERS[f.framework](f)


def count_params(layer_type: str, framework: str, units: int, inp: int, bidirectional: bool = False,
                 num_layers: int = 1, bias: bool = True, reset_after: bool | None = None,
                 proj_size: int | None = None, peepholes: bool = False) -> int:
    """The parameters of the layers these flags describe, checked as `flag_layouts` checks them (UsageError).

    The fast path of `count()`: each set of options has a closed form in the two sizes, read once off the
    layers the flags lay out (`_closed_form`); a call checks its sizes and evaluates the form.
    """
    try:
        form = _closed_form(layer_type, framework, bidirectional, num_layers, bias, reset_after, proj_size, peepholes)
    except TypeError:  # an unhashable value: `check` says what is wrong with it
        form = None
    if form is None or not sizes_ok(layer_type, units, inp, num_layers, proj_size):
        f = LayerFlags(layer_type, framework, units, inp, bidirectional, num_layers, bias, reset_after, proj_size,
                       peepholes)
        return sum(layer.params for layer in flag_layouts(f))
    return form(units, inp)


FORM_MAX_LAYERS = 64  # a closed form costs ten layouts of the stack: deeper ones are laid out at each call


class Quadratic(NamedTuple):
    """c + cu·u + ci·i + cui·u·i + cuu·u² + cii·i²: a count in the units u and input features i."""

    c: int
    cu: int
    ci: int
    cui: int
    cuu: int
    cii: int

    def __call__(self, u: int, i: int) -> int:
        return self.c + self.cu * u + self.ci * i + self.cui * u * i + self.cuu * u * u + self.cii * i * i

    def __str__(self) -> str:
        """'4u² + 4ui + 8u' (u the units, i the input features)."""
        text = ""
        for k, term in ((self.cuu, "u²"), (self.cui, "ui"), (self.cii, "i²"), (self.cu, "u"), (self.ci, "i"),
                        (self.c, "")):
            if k:
                size = f"{abs(k):,}" if abs(k) != 1 or not term else ""
                text += (" - " if k < 0 else " + ") + size + term if text else ("-" if k < 0 else "") + size + term
        return text or "0"


def fewest_units(proj_size: int | None) -> int:
    """The smallest --units the options allow: a projection must be smaller than the layer."""
    return (proj_size if type(proj_size) is int else 0) + 1


# Sizes (from the smallest the options allow) at which a fitted form must match the real count.
CHECK_AT = ((3, 7), (50, 2), (1000, 1001), (4097, 12345))


def fit_quadratic(count: Callable[[int, int], int], u0: int = 1, i0: int = 1) -> Quadratic | None:
    """The quadratic `count` is, read off six of its values from (u0, i0) and checked at four more; None
    when `count` is not one (a coefficient is not a whole number, or a check differs)."""
    f00, f10, f20 = count(u0, i0), count(u0 + 1, i0), count(u0 + 2, i0)
    f01, f02, f11 = count(u0, i0 + 1), count(u0, i0 + 2), count(u0 + 1, i0 + 1)
    cuu2, cii2 = f20 - 2 * f10 + f00, f02 - 2 * f01 + f00
    if cuu2 % 2 or cii2 % 2:
        return None
    cuu, cii, cui = cuu2 // 2, cii2 // 2, f11 - f10 - f01 + f00
    cu = f10 - f00 - cuu * (2 * u0 + 1) - cui * i0
    ci = f01 - f00 - cii * (2 * i0 + 1) - cui * u0
    c = f00 - cu * u0 - ci * i0 - cui * u0 * i0 - cuu * u0 * u0 - cii * i0 * i0
    form = Quadratic(c, cu, ci, cui, cuu, cii)
    if all(form(u0 + du, i0 + di) == count(u0 + du, i0 + di) for du, di in CHECK_AT):
        return form
    return None


def closed_form(f: LayerFlags) -> Quadratic | None:
    """The count of flags with these options as a quadratic in --units and --input (`_closed_form`)."""
    return _closed_form(f.type, f.framework, f.bidirectional, f.num_layers, f.bias, f.reset_after, f.proj_size,
                        f.peepholes)


@functools.lru_cache(maxsize=256, typed=True)
def _closed_form(layer_type: str, framework: str, bidirectional: bool, num_layers: int, bias: bool,
                 reset_after: bool | None, proj_size: int | None, peepholes: bool) -> Quadratic | None:
    """`_fit_form` kept per set of options, for stacks up to FORM_MAX_LAYERS (deeper ones: None)."""
    if type(num_layers) is not int or not 0 < num_layers <= FORM_MAX_LAYERS:
        return None
    return _fit_form(layer_type, framework, bidirectional, num_layers, bias, reset_after, proj_size, peepholes)


def _fit_form(layer_type: str, framework: str, bidirectional: bool, num_layers: int, bias: bool,
              reset_after: bool | None, proj_size: int | None, peepholes: bool) -> Quadratic | None:
    """The count of flags with these options as a quadratic in --units and --input.

    Every tensor of these layers has at most two axes that grow with the sizes, each an affine function
    of the units and the input features with whole coefficients (4·u, i + u, 2·u for a layer after a
    bidirectional one), so the count is a quadratic in the two with whole coefficients.
    `fit_quadratic` reads it off the layers the flags lay out (`flag_layouts`, the path `params`
    takes) and checks it at four more sizes. None where the options are not valid (`check` says why).
    """
    def laid_out(units: int, inp: int) -> int:
        f = LayerFlags(layer_type, framework, units, inp, bidirectional, num_layers, bias, reset_after, proj_size,
                       peepholes)
        return sum(layer.params for layer in flag_layouts(f))

    try:
        return fit_quadratic(laid_out, fewest_units(proj_size))
    except UsageError:
        return None


def formula(layer_type: str, framework: str, bidirectional: bool = False, num_layers: int = 1, bias: bool = True,
            reset_after: bool | None = None, proj_size: int | None = None, peepholes: bool = False) -> Quadratic:
    """The count of flags with these options as a quadratic in --units and --input (UsageError for
    options the framework does not have)."""
    options = (layer_type, framework, bidirectional, num_layers, bias, reset_after, proj_size, peepholes)
    try:
        form = _closed_form(*options)
    except TypeError:  # an unhashable value: `check` says what is wrong with it
        form = None
    if form is None:
        check(LayerFlags(layer_type, framework, fewest_units(proj_size), 1, bidirectional, num_layers, bias,
                         reset_after, proj_size, peepholes))  # raises for options this framework does not have
        form = _fit_form(*options)  # a stack deeper than FORM_MAX_LAYERS: read now, not kept
        if form is None:  # pragma: no cover - every layer lstmcount lays out from flags has one (tested)
            raise UsageError("these options have no closed form")
    return form


def flags_layout(f: LayerFlags) -> ModelLayout:
    """The named model layout the flags describe, in the flags' framework."""
    return ModelLayout(f.framework, None, flag_input_shape(f), _named(flag_layouts(f)))


__all__ = ["FLAG_FRAMEWORKS", "RECURRENT", "SUPPORT", "Quadratic", "check", "closed_form", "count_params",
           "fewest_units", "fit_quadratic", "flag_input_shape", "flag_layers", "flag_layouts", "flags_layout",
           "formula", "sizes_ok"]
