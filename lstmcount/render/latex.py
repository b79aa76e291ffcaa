"""A LaTeX `tabular` (booktabs), ready for a paper: one row per layer, gates indented beneath."""

from __future__ import annotations

from typing import Any

from ..accounting import Report
from .common import rows

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def _num(v: object) -> str:
    return f"{v:,}".replace(",", "{,}") if isinstance(v, int) else escape(str(v))


def render(rep: Report, **_: Any) -> str:
    lines = [r"\begin{tabular}{llrrrr}", r"\toprule",
             r"Layer & Gate / part & Kernel & Recurrent & Bias & Params \\", r"\midrule"]
    for r in rows(rep):
        if r["kind"] == "layer":
            label = rf"\texttt{{{escape(str(r['layer']))}}} ({escape(str(r['type']))})"
            part = ""
        else:
            label, part = "", escape(str(r["part"]))
        lines.append(f"{label} & {part} & {_num(r['kernel'])} & {_num(r['recurrent'])} & {_num(r['bias'])} & "
                     rf"{_num(r['params'])} \\")
    lines += [r"\midrule", rf"\textbf{{Total}} & & & & & \textbf{{{_num(rep.total)}}} \\", r"\bottomrule",
              r"\end{tabular}"]
    return "\n".join(lines) + "\n"
