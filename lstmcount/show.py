"""`lstmcount.summary(obj)`: the table `lstmcount params` prints, from Python (a notebook, a script).

Above the API (it renders): analyze() reads the object, render/ draws the table.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from .accounting import Report
from .api import analyze


def summary(obj: Any, dtype: str | None = None, *, timesteps: int | None = None, per_step: tuple[str, ...] = (),
            key: str | None = None, file: IO[str] | None = None) -> Report:
    """Print the table `lstmcount params` prints for `obj` (a live torch.nn.Module, or anything
    `analyze` takes), then its notes (tied tensors, what MACs assume), and return the report.

    The arguments are analyze()'s; `file` is where to print (standard output by default).
    """
    from .render import renderer

    rep = analyze(obj, dtype, timesteps=timesteps, per_step=per_step, key=key)
    out = file if file is not None else sys.stdout
    out.write(renderer("table")(rep))
    for note in rep.notes:
        out.write(f"note: {note}\n")
    return rep


__all__ = ["summary"]
