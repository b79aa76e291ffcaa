"""Bridges to the real frameworks, imported only by `verify`.

Each bridge has one job: build the model a Model describes and list the weights the framework
actually created (`Built`). Nothing here counts.
"""

from __future__ import annotations

from collections.abc import Callable

from ..layout import ModelLayout
from ..model import Model
from ..reconcile import Built

BuildFn = Callable[[Model, ModelLayout, bool], Built]


def bridge(framework: str) -> BuildFn | None:
    """Import the framework (once) and return its build function (None for ONNX, whose files are
    checked as they are rather than built from a spec); FrameworkMissing if absent."""
    if framework == "keras":
        from . import keras as mod
    elif framework == "onnx":
        from . import onnx as mod  # type: ignore[no-redef]
    else:
        from . import torch as mod  # type: ignore[no-redef]
    mod.load()
    build: BuildFn | None = getattr(mod, "build", None)
    return build
