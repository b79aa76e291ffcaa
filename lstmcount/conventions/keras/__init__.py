"""Keras 3 (and tf.keras 2.16+): each layer class's arguments, weights and output shape(s).

One table, kept in a module per family of layers: `recurrent`, `layers` (dense, convolution,
pooling, normalization, reshaping, wrappers). `common` holds what they share.
"""

from __future__ import annotations

from ..base import Framework, Kind
from . import custom, layers, recurrent
from .common import ACTIVATIONS, COMMON_KERAS, CONSTRAINTS, INITIALIZERS, REGULARIZERS
from .recurrent import gated_weights, mirror

KINDS: dict[str, Kind] = {k.name: k for k in [*recurrent.KINDS, *layers.KINDS, *custom.KINDS]}

KERAS = Framework("keras", KINDS, COMMON_KERAS, aliases=("tf.keras.layers.", "keras.layers.", "layers."))

__all__ = ["ACTIVATIONS", "CONSTRAINTS", "INITIALIZERS", "KERAS", "KINDS", "REGULARIZERS", "gated_weights", "mirror"]
