"""Keras's regularization layers: Dropout and its spatial, Gaussian and alpha variants, GaussianNoise,
ActivityRegularization. None has weights or changes its input's shape.

SpatialDropout1D/2D/3D take only (rate, [data_format,] seed, name, dtype): no **kwargs, so neither
`trainable` nor any other Layer argument (keras/src/layers/regularization/spatial_dropout.py).
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind
from .common import FMT, SEED, known_shape, same_shape

RATE = Arg("float", REQUIRED, min=0.0, max=1.0)
NOISE_SHAPE = Arg("dims", None, nullable=True)


def _spatial(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        return [], known_shape(shape, rank + 1, f"an input of rank {rank + 1}")

    return build


# SpatialDropout's signature names only `name` and `dtype` of the Layer arguments.
ONLY_NAME_DTYPE = ("trainable", "autocast", "activity_regularizer", "input_shape", "input_dim")

KINDS: list[Kind] = [
    Kind("Dropout", {"rate": RATE, "noise_shape": NOISE_SHAPE, "seed": SEED}, same_shape),
    Kind("SpatialDropout1D", {"rate": RATE, "seed": SEED}, _spatial(1), without=ONLY_NAME_DTYPE),
    *(Kind(f"SpatialDropout{r}D", {"rate": RATE, "data_format": FMT, "seed": SEED}, _spatial(r),
           without=ONLY_NAME_DTYPE) for r in (2, 3)),
    Kind("GaussianNoise", {"stddev": RATE, "seed": SEED}, same_shape),
    Kind("GaussianDropout", {"rate": RATE, "seed": SEED}, same_shape),
    Kind("AlphaDropout", {"rate": RATE, "noise_shape": NOISE_SHAPE, "seed": SEED}, same_shape),
    # It passes its own activity_regularizer (L1L2(l1, l2)) to Layer: a second one is a TypeError.
    Kind("ActivityRegularization", {"l1": Arg("float", 0.0, min=0.0), "l2": Arg("float", 0.0, min=0.0)}, same_shape,
         without=("activity_regularizer",)),
]
