"""The Python API: count a layer or a whole model without a framework.

    >>> import lstmcount
    >>> lstmcount.count("lstm", units=75, input=28)
    31200
    >>> lstmcount.analyze("configs/mnist_lstm.yaml").total
    31960
"""

from __future__ import annotations

from typing import Any

from . import conventions, inputs
from .accounting import Report, report
from .conventions.flags import Quadratic, count_params
from .conventions.flags import formula as flags_formula
from .errors import UsageError
from .layout import ModelLayout
from .model import LayerSpec, Model

__all__ = ["analyze", "count", "count_layer", "formula", "model_report"]


def model_report(model: Model, dtype: str = "float32") -> Report:
    """Report for a parsed Model (raises SpecError listing every problem); a notebook shows it as a table."""
    from .render.notebook import shown

    return shown(report(conventions.layout(model), dtype))


def analyze(source: Any, dtype: str | None = None, *, timesteps: int | None = None,
            per_step: tuple[str, ...] = (), key: str | None = None) -> Report:
    """Report for a YAML spec, a Keras .keras/.json file, a PyTorch checkpoint or an ONNX file (by path),
    a YAML string containing `layers:`, a layer expression such as "LSTM(75, input_shape=(28, 28))", a
    Model, a live torch.nn.Module, or a live Keras model or layer. In a notebook the report shows as a
    table (the Markdown format's).

    `dtype`: the element type for the size in bytes (None: as a checkpoint stores each tensor, float32
    otherwise); `timesteps`: also count MACs for one sample over this many steps, `per_step` naming
    modules applied at every step; `key`: a PyTorch checkpoint's entry (`a.b` for a nested one).
    """
    from .render.notebook import shown

    return shown(report(_layout(source, key), dtype, timesteps, per_step))


def _layout(source: Any, key: str | None) -> ModelLayout:
    live = _live(source)
    if live is not None:
        return live
    if isinstance(source, Model):
        return conventions.layout(source)
    if not isinstance(source, str):
        raise UsageError(f"analyze takes a path, a YAML spec's text, a layer expression, a Model or a "
                         f"torch.nn.Module, got a {type(source).__name__}")
    if "\n" in source and "layers" in source:
        return conventions.layout(inputs.loads(source))
    if inputs.is_tensor_file(source):  # a PyTorch checkpoint or an ONNX model
        return inputs.read_tensor_file(source, key)
    return conventions.layout(inputs.load(source, key))


def _live(obj: Any) -> ModelLayout | None:
    """The layout of a live torch.nn.Module (walking its modules: exact classes, constructor attributes)
    or of a live Keras model or layer (through its get_config(); a layer on the shape it was built with),
    or None for anything else. No framework is imported for it: the object brings its own."""
    if isinstance(obj, (str, Model)):
        return None
    if callable(getattr(obj, "get_config", None)):  # a Keras model or layer
        return conventions.layout(inputs.keras_object(obj))
    return inputs.live(obj)


def count(type: str = "lstm", *, units: int, input: int, framework: str = "keras", bidirectional: bool = False,
          num_layers: int = 1, bias: bool = True, reset_after: bool | None = None,
          proj_size: int | None = None, peepholes: bool = False) -> int:
    """Parameters of one recurrent layer (or a stack of them), exactly as the `params` flags count them.

    `framework`: keras, pytorch, onnx, tf1, cudnn or flax. The fast path for sweeps: each set of
    options is laid out once, at a few sizes, to read its count as a quadratic in `units` and `input`
    (checked at four more sizes); each call checks its values and evaluates that. Bad values raise
    UsageError.
    """
    return count_params(type, framework, units, input, bidirectional, num_layers, bias, reset_after, proj_size,
                        peepholes)


def formula(type: str = "lstm", *, framework: str = "keras", bidirectional: bool = False, num_layers: int = 1,
            bias: bool = True, reset_after: bool | None = None, proj_size: int | None = None,
            peepholes: bool = False) -> Quadratic:
    """The parameter count of these options as a quadratic in the units u and the input features i.

    The same options as `count`, without the sizes; what `count` evaluates and `compare` prints as
    "In general". The result prints as the formula, is called with the sizes, and its fields are
    the coefficients (c, cu, ci, cui, cuu, cii) for anything else (a budget solved by hand, a
    vectorized sweep).

    >>> f = formula("lstm", framework="pytorch")
    >>> str(f), f(75, 28), f.cuu
    ('4u² + 4ui + 8u', 31500, 4)
    >>> str(formula("gru", bidirectional=True, num_layers=2))
    '24u² + 6ui + 24u'
    """
    return flags_formula(type, framework, bidirectional, num_layers, bias, reset_after, proj_size, peepholes)


def count_layer(framework: str, type: str, input_shape: tuple[int | None, ...] | None = None,
                **args: Any) -> int:
    """Parameters of any one layer class with its own constructor arguments.

    >>> count_layer("keras", "GRU", (None, 28), units=75, reset_after=False)
    23400
    >>> count_layer("pytorch", "LSTM", input_size=28, hidden_size=75)
    31500
    """
    model = Model(framework, (LayerSpec(type, args, 1),), input_shape)
    return conventions.layout(model).params
