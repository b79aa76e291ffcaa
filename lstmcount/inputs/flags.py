"""A layer (or a stack) from the `params` flags -> the same Model a YAML spec would give."""

from __future__ import annotations

from ..conventions.flags import flag_input_shape, flag_layers
from ..errors import Loc
from ..model import LayerFlags, LayerSpec, Model


def model_from_flags(f: LayerFlags) -> Model:
    flags = Loc("<flags>")
    layers = tuple(LayerSpec(t, args, k, flags, {}) for k, (t, args) in enumerate(flag_layers(f), 1))
    return Model(f.framework, layers, flag_input_shape(f), None, None, None, "<flags>")
