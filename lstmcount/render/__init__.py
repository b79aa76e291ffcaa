"""Renderers: each turns a Report into a string; the CLI decides where it goes."""

from __future__ import annotations

from collections.abc import Callable

from ..model import shape_text
from .common import gate_label, human_bytes, rows, summary_lines

FORMATS = ("table", "json", "yaml", "markdown", "html", "csv", "latex")


def renderer(fmt: str) -> Callable[..., str]:
    """The render function for a format, importing only that renderer (rich only for tables)."""
    if fmt == "json":
        from .json import render
    elif fmt == "yaml":
        from .yaml import render
    elif fmt == "markdown":
        from .markdown import render
    elif fmt == "html":
        from .html import render
    elif fmt == "csv":
        from .csv import render
    elif fmt == "latex":
        from .latex import render
    elif fmt == "table":
        from .table import render
    else:  # pragma: no cover - the CLI restricts the choice
        raise ValueError(fmt)
    return render


__all__ = ["FORMATS", "gate_label", "human_bytes", "renderer", "rows", "shape_text", "summary_lines"]
