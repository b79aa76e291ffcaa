"""One recurrent layer (or a stack) described by flags, in any framework lstmcount can lay out.

Keras and PyTorch go through their full layer tables (the same build functions as a spec file);
ONNX, TF1, cuDNN (Keras 2) and Flax, which lstmcount knows only for recurrent layers, have a
module each. The table below says which options each framework has.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from math import prod
from typing import Any, NamedTuple

from ..errors import UsageError
from ..layout import LayerLayout, ModelLayout
from ..spec import FLAG_SIZE_ARGS, LayerFlags, check_numbers, flag_input_shape, flag_layers, input_shape_of, sizes_ok
from . import cudnn, flax, onnx, tf1
from .base import BuildFn, Framework
from .keras import KERAS
from .pytorch import PYTORCH


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


TABLES: dict[str, Framework] = {"keras": KERAS, "pytorch": PYTORCH}


def count_params(layer_type: str, framework: str, units: int, inp: int, bidirectional: bool = False,
                 num_layers: int = 1, bias: bool = True, reset_after: bool | None = None,
                 proj_size: int | None = None, peepholes: bool = False) -> int:
    """The parameters of the layers these flags describe, checked as `flag_layouts` checks them (UsageError):
    the same tables and build functions, summed as the weights are built (the fast path of `count()`)."""
    try:
        plan = _plan(layer_type, framework, bidirectional, num_layers, bias, reset_after, proj_size, peepholes)
    except TypeError:  # an unhashable value: `check` says what is wrong with it
        plan = None
    if plan is None or not sizes_ok(layer_type, units, inp, num_layers, proj_size):
        f = LayerFlags(layer_type, framework, units, inp, bidirectional, num_layers, bias, reset_after, proj_size,
                       peepholes)
        return sum(layer.params for layer in flag_layouts(f))
    ctx = TABLES[framework].quick_ctx
    units_arg, input_arg = FLAG_SIZE_ARGS[framework]
    shape = input_shape_of(framework, inp)
    total = 0
    for build, template in plan:
        args = dict(template)
        args[units_arg] = units
        if input_arg is not None:
            args[input_arg] = inp
        weights, shape = build(ctx, args, shape)
        for w in weights:
            total += prod(w.shape)
    return total


PLAN_MAX_LAYERS = 16  # a plan keeps a dict per layer: deeper stacks are built layer by layer


@functools.lru_cache(maxsize=256, typed=True)
def _plan(layer_type: str, framework: str, bidirectional: bool, num_layers: int, bias: bool, reset_after: bool | None,
          proj_size: int | None, peepholes: bool) -> tuple[tuple[BuildFn, dict[str, Any]], ...] | None:
    """A build plan for flags with these options: the layers `flag_layers` gives, each as its kind's build
    function and its arguments with the defaults filled in, all but the sizes (FLAG_SIZE_ARGS), which
    each call sets.

    None where there is no plan: options this framework does not have (`check` will say so), a
    framework without a layer table, a deep stack, or a wrapper (Keras Bidirectional builds its
    nested layer).
    """
    f = LayerFlags(layer_type, framework, 1, 1, bidirectional, num_layers, bias, reset_after, proj_size, peepholes)
    support, table = SUPPORT.get(framework), TABLES.get(framework)
    if support is None or table is None or type(num_layers) is not int or not 0 < num_layers <= PLAN_MAX_LAYERS:
        return None
    try:
        _check_options(f, support)
    except UsageError:
        return None
    plan = [table.quick_args(type_name, args) for type_name, args in flag_layers(f)]
    if any(kind.wrap is not None for kind, _ in plan):
        return None
    return tuple((kind.build, args) for kind, args in plan)


def flags_layout(f: LayerFlags) -> ModelLayout:
    """The named model layout the flags describe, in the flags' framework."""
    return ModelLayout(f.framework, None, flag_input_shape(f), _named(flag_layouts(f)))


__all__ = ["FLAG_FRAMEWORKS", "SUPPORT", "check", "count_params", "flag_layouts", "flags_layout"]
