"""The one place that knows each framework's layers: `get(name)` returns its table."""

from __future__ import annotations

from ..layout import ModelLayout
from ..model import Model
from .base import Framework
from .graph import walk
from .keras import KERAS
from .pytorch import PYTORCH
from .pytorch import flatten as _flatten
from .pytorch import layout as _pytorch_layout

FRAMEWORKS: dict[str, Framework] = {"keras": KERAS, "pytorch": PYTORCH}


def layout(model: Model) -> ModelLayout:
    """The model's weight layout in its own framework (raises SpecError listing every problem)."""
    if model.framework == "pytorch":
        return _pytorch_layout(model)
    return walk(FRAMEWORKS[model.framework], model)


def flat(model: Model) -> Model:
    """The model as its layout lists its layers, one entry each: a PyTorch model's Sequentials
    replaced by their modules (`encoder.0`, ...); any other model as it is."""
    return _flatten(model) if model.framework == "pytorch" else model


__all__ = ["FRAMEWORKS", "KERAS", "PYTORCH", "Framework", "flat", "layout"]
