"""The report as YAML: the same structure as the JSON report, in YAML's block style."""

from __future__ import annotations

from typing import Any

from ..accounting import Report
from .json import report_dict


def render(rep: Report, **_: Any) -> str:
    """Mappings and lists of mappings in block style, lists of plain values (shapes) on one line."""
    import yaml  # only for this format

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(report_dict(rep), Dumper=dumper, sort_keys=False, default_flow_style=None,
                          allow_unicode=True, width=1000)
    return text
