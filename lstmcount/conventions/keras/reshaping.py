"""Keras's reshaping layers: Flatten, Reshape, RepeatVector, Permute, ZeroPadding, Cropping, UpSampling.

None has weights; the output shapes are those of each class's `compute_output_shape`
(keras/src/layers/reshaping/).
"""

from __future__ import annotations

import math
from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import FMT, POS, join_channels, known_shape, shape_str, split_channels


def _flatten(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    size = None if any(d is None for d in shape) else math.prod(d for d in shape if d is not None)
    return [], (size,)


def _reshape(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, None, "")
    target = a["target_shape"]
    size = None if any(d is None for d in shape) else math.prod(d for d in shape if d is not None)
    known = math.prod(d for d in target if d != -1)
    if size is None:
        return [], tuple(None if d == -1 else d for d in target)
    if -1 in target:
        if size % known:
            raise LayerProblem(f"cannot reshape {size} values into {list(target)}", "target_shape")
        return [], tuple(size // known if d == -1 else d for d in target)
    if known != size:
        raise LayerProblem(f"its input {shape_str(shape)} holds {size} values, {list(target)} holds {known}",
                           "target_shape")
    return [], tuple(target)


def _repeat(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    shape = known_shape(shape, 1, "a flat vector (features,)")
    return [], (a["n"], shape[0])


def _permute(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
    dims = a["dims"]
    if not isinstance(dims, list) or sorted(d if isinstance(d, int) and not isinstance(d, bool) else 0
                                            for d in dims) != list(range(1, len(dims) + 1)):
        raise LayerProblem(f"must list the axes 1 to N once each, in their new order (axis 0 is the batch), "
                           f"got {dims!r}", "dims")
    shape = known_shape(shape, len(dims), f"an input with {len(dims)} axes besides the batch, as dims lists")
    return [], tuple(shape[d - 1] for d in dims)


def _spatial(rank: int, shape: Shape | None, a: dict[str, Any]) -> tuple[Shape, int | None]:
    shape = known_shape(shape, rank + 1, f"an input of rank {rank + 1}")
    spatial, channels = split_channels(shape, rank, a.get("data_format"))
    return spatial, channels


def _zero_padding(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _spatial(rank, shape, a)
        out = tuple(None if n is None else n + before + after for n, (before, after) in
                    zip(spatial, a["padding"], strict=True))
        return [], join_channels(out, channels, a["data_format"])

    return build


def _cropping(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _spatial(rank, shape, a)
        for n, (before, after) in zip(spatial, a["cropping"], strict=True):
            if n is not None and before + after >= n:
                raise LayerProblem(f"crops {before} + {after} from an axis of length {n}, which leaves nothing",
                                   "cropping")
        out = tuple(None if n is None else n - before - after for n, (before, after) in
                    zip(spatial, a["cropping"], strict=True))
        return [], join_channels(out, channels, a.get("data_format"))

    return build


def _up_sampling(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        spatial, channels = _spatial(rank, shape, a)
        sizes = a["size"] if rank > 1 else (a["size"],)
        out = tuple(None if n is None else n * k for n, k in zip(spatial, sizes, strict=True))
        return [], join_channels(out, channels, a.get("data_format"))

    return build


PAD = Arg("pads", 1, min=0)
# Keras's resize methods (every backend's list together; UpSampling2D lower-cases its argument)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5")

KINDS: list[Kind] = [
    Kind("Flatten", {"data_format": FMT}, _flatten),
    Kind("Reshape", {"target_shape": Arg("shape", REQUIRED)}, _reshape),
    Kind("RepeatVector", {"n": POS}, _repeat),
    Kind("Permute", {"dims": Arg("any", REQUIRED)}, _permute),
    Kind("ZeroPadding1D", {"padding": PAD, "data_format": FMT}, _zero_padding(1)),
    *(Kind(f"ZeroPadding{r}D", {"padding": PAD, "data_format": FMT}, _zero_padding(r), rank=r) for r in (2, 3)),
    Kind("Cropping1D", {"cropping": PAD}, _cropping(1)),
    Kind("Cropping2D", {"cropping": Arg("pads", 0, min=0), "data_format": FMT}, _cropping(2), rank=2),
    Kind("Cropping3D", {"cropping": PAD, "data_format": FMT}, _cropping(3), rank=3),
    Kind("UpSampling1D", {"size": Arg("int", 2, min=1)}, _up_sampling(1)),
    Kind("UpSampling2D", {"size": Arg("ints", 2, min=1), "data_format": FMT,
                          "interpolation": Arg("choice", "nearest", choices=INTERPOLATIONS)}, _up_sampling(2), rank=2),
    Kind("UpSampling3D", {"size": Arg("ints", 2, min=1), "data_format": FMT}, _up_sampling(3), rank=3),
]
