"""Keras's pooling layers: max and average pooling over windows, and global pooling (1D to 3D).

None has weights; each changes the spatial axes only (keras/src/ops/operation_utils.py's
`compute_pooling_output_shape`; global pooling's `base_global_pooling.py`).
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import REQUIRED, Arg, Ctx, Kind, LayerProblem
from .common import FMT, conv_length, join_channels, known_shape, split_channels


def _pool(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = known_shape(shape, rank + 1, f"an input of rank {rank + 1}")
        spatial, channels = split_channels(shape, rank, a["data_format"])
        strides = a["strides"] if a["strides"] is not None else a["pool_size"]
        try:
            out = tuple(conv_length(n, k, s, a["padding"])
                        for n, k, s in zip(spatial, a["pool_size"], strides, strict=True))
        except LayerProblem as exc:
            raise LayerProblem(exc.text, "pool_size") from None
        return [], join_channels(out, channels, a["data_format"])

    return build


def _global_pool(rank: int) -> Any:
    def build(ctx: Ctx, a: dict[str, Any], shape: Shape | None) -> tuple[list[Weight], Shape | None]:
        shape = known_shape(shape, rank + 1, f"an input of rank {rank + 1}")
        first = a["data_format"] == "channels_first"
        channels = shape[0] if first else shape[-1]
        if a["keepdims"]:
            return [], (channels, *(1,) * rank) if first else (*(1,) * rank, channels)
        return [], (channels,)

    return build


def _pool_kind(name: str, short: str, rank: int, default: Any) -> Kind:
    return Kind(name, {"pool_size": Arg("ints", default, min=1), "strides": Arg("ints", None, min=1, nullable=True),
                       "padding": Arg("choice", "valid", choices=("valid", "same")), "data_format": FMT},
                _pool(rank), rank=rank, also=(short,))


def _global_kind(name: str, short: str, rank: int) -> Kind:
    return Kind(name, {"data_format": FMT, "keepdims": Arg("bool", False)}, _global_pool(rank), rank=rank,
                also=(short,))


KINDS: list[Kind] = [
    *(_pool_kind(f"MaxPooling{r}D", f"MaxPool{r}D", r, 2) for r in (1, 2, 3)),
    *(_pool_kind(f"AveragePooling{r}D", f"AvgPool{r}D", r, REQUIRED) for r in (1, 2, 3)),
    *(_global_kind(f"GlobalMaxPooling{r}D", f"GlobalMaxPool{r}D", r) for r in (1, 2, 3)),
    *(_global_kind(f"GlobalAveragePooling{r}D", f"GlobalAvgPool{r}D", r) for r in (1, 2, 3)),
]
