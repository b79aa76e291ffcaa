"""CSV: one row per layer, gate and extra, then a total row, for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
from typing import Any

from ..accounting import Report
from .common import rows

COLUMNS = ("kind", "layer", "type", "part", "shape", "kernel", "recurrent", "bias", "params", "macs")


def render(rep: Report, **_: Any) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(rep))
    writer.writerow({"kind": "total", "layer": "", "type": "", "part": "", "shape": "", "kernel": "",
                     "recurrent": "", "bias": "", "params": rep.total,
                     "macs": "" if rep.macs is None else rep.macs})
    return buf.getvalue()
