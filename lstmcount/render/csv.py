"""CSV: one row per layer, gate and extra, then a total row, for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
from typing import Any

from ..accounting import Report
from .common import rows

COLUMNS = ("kind", "layer", "type", "part", "shape", "kernel", "recurrent", "bias", "params", "macs")


def render(rep: Report, **_: Any) -> str:
    """One row per layer, gate and extra (a nested model's layers by their path, `encoder/lstm`); graph
    models also have a `connected` column (what each call reads)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, (*COLUMNS, *(("connected",) if rep.graph else ())), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows(rep))
    writer.writerow({"kind": "total", "layer": "", "type": "", "part": "", "shape": "", "kernel": "",
                     "recurrent": "", "bias": "", "params": rep.total,
                     "macs": "" if rep.macs is None else rep.macs})
    return buf.getvalue()
