"""Keras's normalization layers: BatchNormalization, LayerNormalization, GroupNormalization, UnitNormalization.

Axes are Keras's, with the batch as axis 0. BatchNormalization keeps moving statistics as
non-trainable weights; GroupNormalization one gamma and beta per channel of its axis (its groups
only split them); UnitNormalization has no weights.
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import Arg, Ctx, Kind, LayerProblem
from .common import axis_sizes, batchless_axes, idents, keras_axes, known_shape

SCALE_CENTER = {"epsilon": Arg("float", 1e-3), "center": Arg("bool", True), "scale": Arg("bool", True),
                **idents("beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                         "beta_constraint", "gamma_constraint")}


def _batch_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    if isinstance(a["axis"], tuple):  # several axes, as only a Keras 2 file gives them (legacy.from_keras2):
        # Keras 2 keeps one weight per position of those axes, shaped with every axis (the batch as 1)
        axes = set(batchless_axes(a["axis"], shape))
        dims = (1, *(d if i in axes and d is not None else 1 for i, d in enumerate(shape)))
    elif isinstance(a["axis"], list):
        raise LayerProblem(f"must be one integer axis, got {a['axis']!r} (Keras 3 normalizes over one axis; Keras 2 "
                           "took a list)", "axis")
    else:
        dims = axis_sizes(shape, [batchless_axes(a["axis"], shape)[0]])
    weights = []
    if a["scale"]:
        weights.append(Weight("gamma", dims))
    if a["center"]:
        weights.append(Weight("beta", dims))
    weights += [Weight("moving_mean", dims, trainable=False), Weight("moving_variance", dims, trainable=False)]
    return weights, shape


def _layer_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    dims = axis_sizes(shape, batchless_axes(a["axis"], shape))
    weights = []
    if a["scale"] or a["rms_scaling"]:  # the deprecated rms_scaling keeps gamma and drops beta
        weights.append(Weight("gamma", dims))
    if a["center"] and not a["rms_scaling"]:
        weights.append(Weight("beta", dims))
    return weights, shape


def _group_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    groups = a["groups"]
    if groups == 0:
        raise LayerProblem("must be a positive number of groups, or -1 (one group per channel)", "groups")
    (axis,) = batchless_axes(a["axis"], shape)
    dim = shape[axis]
    assert dim is not None  # batchless_axes checks the axis is known
    if groups == -1:
        groups = dim
    if dim < groups or dim % groups:
        raise LayerProblem(f"{groups} groups must divide the {dim} channels of axis {a['axis']}", "groups")
    weights = []
    if a["scale"]:
        weights.append(Weight("gamma", (dim,)))
    if a["center"]:
        weights.append(Weight("beta", (dim,)))
    return weights, shape


def _unit_norm(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    keras_axes(a["axis"], shape)
    return [], shape


KINDS: list[Kind] = [
    Kind("BatchNormalization", {"axis": Arg("any", -1), "momentum": Arg("float", 0.99), **SCALE_CENTER,
                                **idents("moving_mean_initializer", "moving_variance_initializer"),
                                "renorm": Arg("bool", False),
                                "renorm_clipping": Arg("mapping", None, nullable=True),
                                "renorm_momentum": Arg("float", 0.99), "synchronized": Arg("bool", False)},
         _batch_norm, reject={"renorm": "batch renormalization's extra statistics are not modelled by "
                                        "lstmcount yet"}),
    Kind("LayerNormalization", {"axis": Arg("any", -1), **SCALE_CENTER}, _layer_norm,
         kwargs={"rms_scaling": Arg("bool", False)}),
    Kind("GroupNormalization", {"groups": Arg("int", 32, min=-1), "axis": Arg("int", -1), **SCALE_CENTER},
         _group_norm),
    Kind("UnitNormalization", {"axis": Arg("any", -1)}, _unit_norm),
]
