"""Helpers for tests that build models in the real TensorFlow/Keras and PyTorch (never mocks)."""

from __future__ import annotations

from typing import Any

import yaml

from lstmcount import conventions
from lstmcount.accounting import report
from lstmcount.bridges import bridge
from lstmcount.inputs import loads
from lstmcount.reconcile import FileResult, LayerCheck, describe, missing_problem, reconcile, shape_problem


def real_check(spec: dict[str, Any] | str) -> FileResult:
    """Analytic report vs the real framework's weights; fails the test with every difference."""
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
    model = loads(text, "<test>")
    lay = conventions.layout(model)
    rep = report(lay)
    built = bridge(model.framework)(model, lay, False)
    res = reconcile("<test>", rep, built, None)
    diffs = _differences(res.layers)
    assert res.ok, (f"analytic {rep.total} vs framework {res.native_total} "
                    f"(weights {res.actual_total}); differences: {diffs}\n{text}")
    assert res.native_total == rep.total
    return res


def _differences(checks: tuple[LayerCheck, ...], prefix: str = "") -> list[str]:
    """Every difference a reconciliation found, a nested model's layers' too."""
    out = []
    for c in checks:
        out += [f"{prefix}{c.name}: {describe(d)}" for d in c.diffs]
        if not c.shape_match:
            out.append(f"{prefix}{c.name}: {shape_problem(c)}")
        if c.missing:
            out.append(f"{prefix}{missing_problem(c)}")
        if c.expected != c.actual:
            out.append(f"{prefix}{c.name}: lstmcount counts {c.expected}, the framework {c.actual}")
        out += _differences(c.layers, f"{prefix}{c.name}/")
    return out
