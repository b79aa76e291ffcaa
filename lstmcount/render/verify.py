"""Rendering verification results: a table per file with a verdict, or JSON."""

from __future__ import annotations

import io
import json
from typing import Any

from ..errors import printable
from ..reconcile import FileResult, describe, result_dict, shape_problem
from .common import SCHEMA_VERSION

FRAMEWORK_LABEL = {"keras": "Keras", "pytorch": "PyTorch", "onnx": "ONNX Runtime"}


def verdict(res: FileResult, version: str = "") -> str:
    who = f"{FRAMEWORK_LABEL[res.framework]} {version}".strip()
    if res.ok:
        return (f"{res.path}: OK: {res.report.total:,} parameters in {len(res.layers)} layers match {who} "
                "weight by weight")
    bad = [c.name for c in res.layers if not c.match]
    parts = []
    if bad:
        parts.append(f"{len(bad)} layer(s) differ from {who} ({', '.join(bad)})")
    if res.actual_total != res.report.total or res.native_total != res.report.total:
        parts.append(f"total {res.report.total:,} vs {who}'s {res.native_total:,}")
    parts += list(res.expect_failures)
    return f"{res.path}: FAILED: " + "; ".join(parts)


def render_table(results: list[FileResult], versions: dict[str, str], color: bool = False,
                 width: int = 100) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system="standard" if color else None,
                      force_terminal=color, highlight=False, soft_wrap=False)
    for res in results:
        label = FRAMEWORK_LABEL[res.framework]
        heading = f"{res.path} ({label} {versions.get(res.framework, '')})".replace(" )", ")")
        table = Table(title=Text(printable(heading)),
                      title_justify="left")
        table.add_column("Layer (type)")
        table.add_column("lstmcount", justify="right")
        table.add_column(label, justify="right")
        table.add_column("Diff", justify="right")
        table.add_column("")
        for c in res.layers:
            mark = "ok" if c.match else "MISMATCH"
            style = None if c.match or not color else "red"
            table.add_row(Text(printable(f"{c.name} ({c.type})")), f"{c.expected:,}", f"{c.actual:,}",
                          f"{c.actual - c.expected:+,}", mark, style=style)
            for d in c.diffs:
                table.add_row(Text(printable(f"  {describe(d)}")), "", "", "", "", style=style)
            if not c.shape_match:
                table.add_row(Text(printable(f"  {shape_problem(c)}")), "", "", "", "", style=style)
        table.add_section()
        total_ok = res.native_total == res.actual_total == res.report.total
        table.add_row("Total", f"{res.report.total:,}", f"{res.native_total:,}",
                      f"{res.native_total - res.report.total:+,}", "ok" if total_ok else "MISMATCH")
        table.add_row("Trainable", f"{res.report.trainable:,}", f"{res.actual_trainable:,}",
                      f"{res.actual_trainable - res.report.trainable:+,}",
                      "ok" if res.actual_trainable == res.report.trainable else "MISMATCH")
        console.print(table)
        for failure in res.expect_failures:
            console.print(Text(printable(f"expect: {failure}")), soft_wrap=True)
        if res.summary:
            console.print(f"{label}'s own summary:")
            console.print(res.summary, markup=False, soft_wrap=True)
        console.print(Text(printable(verdict(res, versions.get(res.framework, "")))), soft_wrap=True)
        console.print()
    return "".join(line.rstrip() + "\n" for line in buf.getvalue().splitlines())


def render_json(results: list[FileResult], versions: dict[str, str]) -> str:
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "ok": all(r.ok for r in results), "versions": versions,
                           "files": [result_dict(r) for r in results]}
    for res, entry in zip(results, out["files"], strict=True):
        if res.summary:
            entry["summary"] = res.summary
    return json.dumps(out, indent=2) + "\n"
