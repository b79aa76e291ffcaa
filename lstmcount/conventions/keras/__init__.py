"""Keras 3 (and tf.keras 2.16+): each layer class's arguments, weights and output shape(s).

One table, kept in a module per family of layers: `recurrent` (also the RNN wrapper and its cells),
`layers` (core: dense, embedding, lambda, wrappers), `merge` (Add, Concatenate, Dot...),
`attention`, `activations`, `convolution`, `pooling`, `reshaping`, `regularization`,
`normalization`, `preprocessing`, `custom` (a layer declared in a spec). `common` holds what they
share; `legacy` what older Keras code writes (Keras 1 names, Keras 2's input arguments on a layer).
"""

from __future__ import annotations

from ..base import Arg, Framework, Kind
from . import (
    activations,
    attention,
    convolution,
    custom,
    layers,
    legacy,
    merge,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    regularization,
    reshaping,
)
from .common import ACTIVATIONS, COMMON_KERAS, CONSTRAINTS, INITIALIZERS, REGULARIZERS
from .recurrent import gated_weights, mirror

FAMILIES = (recurrent, layers, merge, attention, activations, convolution, pooling, reshaping, regularization,
            normalization, preprocessing, custom)
KINDS: dict[str, Kind] = {k.name: k for family in FAMILIES for k in family.KINDS}

# Layer's **kwargs in Keras 3: a layer's input, which only the first layer of a Sequential uses (as its input)
INPUT_KWARGS = {"input_shape": Arg("dims", None, nullable=True), "input_dim": Arg("int", None, min=1, nullable=True)}

KERAS = Framework("keras", KINDS, COMMON_KERAS, aliases=("tf.keras.layers.", "keras.layers.", "layers."),
                  kwargs=INPUT_KWARGS, warn=dict.fromkeys(INPUT_KWARGS, legacy.INPUT_WARNING),
                  renamed=legacy.renamed(), first_input=legacy.first_input)

__all__ = ["ACTIVATIONS", "CONSTRAINTS", "INITIALIZERS", "KERAS", "KINDS", "REGULARIZERS", "gated_weights", "mirror"]
