"""Reconcile the analytic report with the weights a real framework created.

The bridges (`bridges/keras.py`, `bridges/torch.py`) only build the model and list its actual
weights; the comparison here is a plain diff of names, shapes and trainability, never a second
formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .accounting import Report, check_expect


@dataclass(frozen=True)
class ActualWeight:
    name: str
    shape: tuple[int, ...]
    trainable: bool = True
    tied: str | None = None  # the framework holds it as the same tensor as this one (counted there)

    @property
    def params(self) -> int:
        if self.tied is not None:
            return 0
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class ActualLayer:
    name: str
    type: str
    weights: tuple[ActualWeight, ...]
    output_shape: tuple[int | None, ...] | None = None  # without the batch axis, where the framework says

    @property
    def params(self) -> int:
        return sum(w.params for w in self.weights)


@dataclass(frozen=True)
class Built:
    """What a bridge hands back: the framework's layers and, if asked, its own summary text."""

    layers: tuple[ActualLayer, ...]
    native_total: int  # the framework's own count (Keras count_params(), PyTorch numel() sum)
    summary: str | None = None
    notes: tuple[str, ...] = ()  # how the framework's own count was taken, where the user should know


@dataclass(frozen=True)
class WeightDiff:
    name: str
    expected: tuple[int, ...] | None  # None: the framework has a weight lstmcount did not predict
    actual: tuple[int, ...] | None  # None: lstmcount predicts a weight the framework lacks
    expected_trainable: bool | None = None
    actual_trainable: bool | None = None
    expected_tied: str | None = None
    actual_tied: str | None = None


@dataclass(frozen=True)
class LayerCheck:
    name: str
    type: str
    expected: int
    actual: int
    diffs: tuple[WeightDiff, ...] = ()
    expected_shape: tuple[int | None, ...] | None = None
    actual_shape: tuple[int | None, ...] | None = None

    @property
    def shape_match(self) -> bool:
        return self.expected_shape is None or self.actual_shape is None or self.expected_shape == self.actual_shape

    @property
    def match(self) -> bool:
        return self.expected == self.actual and not self.diffs and self.shape_match


@dataclass(frozen=True)
class FileResult:
    path: str
    framework: str
    report: Report
    layers: tuple[LayerCheck, ...]
    actual_total: int
    actual_trainable: int
    native_total: int
    expect_failures: tuple[str, ...] = ()
    summary: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (all(layer.match for layer in self.layers) and self.actual_total == self.report.total
                and self.native_total == self.report.total
                and self.actual_trainable == self.report.trainable and not self.expect_failures)


def reconcile(path: str, rep: Report, built: Built, expect: dict[str, Any] | None) -> FileResult:
    actual_by_name = {layer.name: layer for layer in built.layers}
    checks = []
    for layer in rep.layers:
        act = actual_by_name.pop(layer.name, None)
        if act is None:
            checks.append(LayerCheck(layer.name, layer.type, layer.params, 0,
                                     tuple(WeightDiff(w.name, w.shape, None) for w in layer.weights)))
            continue
        diffs = []
        actual_w = {w.name: w for w in act.weights}
        for w in layer.weights:
            a = actual_w.pop(w.name, None)
            if a is None:
                diffs.append(WeightDiff(w.name, w.shape, None))
            elif a.shape != w.shape or a.trainable != w.trainable or a.tied != w.tied:
                diffs.append(WeightDiff(w.name, w.shape, a.shape, w.trainable, a.trainable, w.tied, a.tied))
        diffs += [WeightDiff(a.name, None, a.shape) for a in actual_w.values()]
        checks.append(LayerCheck(layer.name, layer.type, layer.params, act.params, tuple(diffs),
                                 layer.output_shape, act.output_shape))
    for extra in actual_by_name.values():  # layers the framework has and the report lacks
        checks.append(LayerCheck(extra.name, extra.type, 0, extra.params,
                                 tuple(WeightDiff(w.name, None, w.shape) for w in extra.weights)))
    actual_total = sum(layer.params for layer in built.layers)
    actual_trainable = sum(w.params for layer in built.layers for w in layer.weights if w.trainable)
    return FileResult(path, rep.framework, rep, tuple(checks), actual_total, actual_trainable,
                      built.native_total, tuple(check_expect(rep, expect)), built.summary, built.notes)


def describe(diff: WeightDiff) -> str:
    if diff.actual is None:
        return f"{diff.name}: lstmcount expects shape {list(diff.expected or ())}, the framework has no such weight"
    if diff.expected is None:
        return f"{diff.name}: the framework has shape {list(diff.actual)}, lstmcount does not expect it"
    if diff.expected != diff.actual:
        return f"{diff.name}: lstmcount expects shape {list(diff.expected)}, the framework has {list(diff.actual)}"
    if diff.expected_tied != diff.actual_tied:
        def tie(name: str | None) -> str:
            return f"the same tensor as {name}" if name else "a tensor of its own"

        return f"{diff.name}: lstmcount expects {tie(diff.expected_tied)}, the framework has {tie(diff.actual_tied)}"
    return (f"{diff.name}: lstmcount expects trainable={diff.expected_trainable}, "
            f"the framework has trainable={diff.actual_trainable}")


def _shape(shape: tuple[int | None, ...] | None) -> list[int | None] | None:
    return None if shape is None else [None, *shape]


def shape_problem(check: LayerCheck) -> str:
    return (f"output shape: lstmcount expects {_shape(check.expected_shape)}, "
            f"the framework gives {_shape(check.actual_shape)}")


def result_dict(res: FileResult) -> dict[str, Any]:
    return {
        "path": res.path,
        "framework": res.framework,
        "ok": res.ok,
        "total": {"expected": res.report.total, "actual": res.actual_total, "native": res.native_total},
        "trainable": {"expected": res.report.trainable, "actual": res.actual_trainable},
        "non_trainable": {"expected": res.report.non_trainable,
                          "actual": res.actual_total - res.actual_trainable},
        "layers": [
            {"name": c.name, "type": c.type, "expected": c.expected, "actual": c.actual, "match": c.match,
             **({"output_shape": {"expected": _shape(c.expected_shape), "actual": _shape(c.actual_shape)}}
                if not c.shape_match else {}),
             **({"weights": [{"name": d.name, "expected": None if d.expected is None else list(d.expected),
                              "actual": None if d.actual is None else list(d.actual), "problem": describe(d)}
                             for d in c.diffs]} if c.diffs else {})}
            for c in res.layers
        ],
        "expect_failures": list(res.expect_failures),
    }
