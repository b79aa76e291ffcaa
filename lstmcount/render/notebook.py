"""Reports that display as tables in Jupyter: what the Python API returns.

`Report` lives in accounting, below the renderers, and knows nothing of them; this subclass, one floor
up, adds the display methods IPython looks for (HTML, and the Markdown format as a fallback).
"""

from __future__ import annotations

from ..accounting import Report


class ShownReport(Report):
    """A Report that a notebook shows as the Markdown format's table (as HTML, or as Markdown)."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        from .html import render

        return render(self)

    def _repr_markdown_(self) -> str:
        from .markdown import render

        return render(self)


def shown(rep: Report) -> ShownReport:
    """The same report, with its notebook display."""
    return ShownReport(*rep)
