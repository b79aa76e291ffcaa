"""A GitHub-flavoured Markdown table, ready to paste into a README."""

from __future__ import annotations

from typing import Any

from ..accounting import Report
from .common import rows, summary_lines


def _num(v: object) -> str:
    return f"{v:,}" if isinstance(v, int) else str(v)


def render(rep: Report, **_: Any) -> str:
    graph = rep.graph
    lines = ["| Layer | Type | Gate / part | Output shape | Kernel | Recurrent | Bias | Params |"
             + (" Connected to |" if graph else ""),
             "|---|---|---|---|---:|---:|---:|---:|" + ("---|" if graph else "")]
    for r in rows(rep):
        layer = f"`{r['layer']}`" if r["kind"] == "layer" else ""
        rtype = str(r["type"]) if r["kind"] == "layer" else ""
        shape = f"`{r['shape']}`" if r["shape"] else ""
        link = f" {r['connected']} |" if graph else ""
        lines.append(f"| {layer} | {rtype} | {r['part']} | {shape} | {_num(r['kernel'])} | {_num(r['recurrent'])} "
                     f"| {_num(r['bias'])} | {_num(r['params'])} |{link}")
    lines.append(f"| **Total** | | | | | | | **{rep.total:,}** |" + (" |" if graph else ""))
    lines.append("")
    lines += [f"- {line}" for line in summary_lines(rep)]
    formulas = [f"- `{layer.name}`: {layer.formula}" for layer in rep.layers if layer.formula and layer.recurrent]
    if formulas:
        lines += ["", *formulas]
    return "\n".join(lines) + "\n"
