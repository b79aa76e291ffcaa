"""The one place that knows each framework's layers: `get(name)` returns its table."""

from __future__ import annotations

from ..layout import ModelLayout
from ..model import Model
from .base import Framework
from .graph import walk
from .keras import KERAS
from .pytorch import PYTORCH

FRAMEWORKS: dict[str, Framework] = {"keras": KERAS, "pytorch": PYTORCH}


def layout(model: Model) -> ModelLayout:
    """The model's weight layout in its own framework (raises SpecError listing every problem), with the
    model's notes and the framework's warnings for its arguments."""
    fw = FRAMEWORKS[model.framework]
    lay = walk(fw, model)
    notes = (*model.notes, *fw.notes(model))
    return lay._replace(notes=notes) if notes else lay


__all__ = ["FRAMEWORKS", "KERAS", "PYTORCH", "Framework", "layout"]
