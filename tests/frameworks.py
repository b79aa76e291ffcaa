"""Helpers for tests that build models in the real TensorFlow/Keras and PyTorch (never mocks)."""

from __future__ import annotations

from typing import Any

import yaml

from lstmcount import conventions
from lstmcount.accounting import report
from lstmcount.bridges import bridge
from lstmcount.errors import SpecError
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


def keras_refusal(spec: dict[str, Any]) -> str | None:
    """What real Keras says of a chain spec, built layer by layer as `verify` builds it (its input_spec
    check, `build`, `compute_output_shape`): None when every layer builds, else Keras's first line. An
    output with an empty axis counts as a refusal: Keras computes such shapes without complaint
    (a transposed convolution's, say), and nothing can be built on them."""
    from lstmcount.bridges import keras as bridge

    keras = bridge.load()
    shape: Any = (None, *spec["input_shape"])
    for index, entry in enumerate(spec["layers"]):
        args = {k: v for k, v in entry.items() if k != "type"}
        try:
            layer = bridge._instantiate(args, entry["type"], args.pop("name", None) or f"layer_{index}")
            if bridge._check_input is not None and layer.input_spec is not None:
                bridge._check_input(layer.input_spec, keras.KerasTensor(shape), layer.name)
            layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        except Exception as exc:  # noqa: BLE001 - any refusal is Keras's answer
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(d == 0 for d in shape[1:]):
            return f"an empty output {shape}"
    return None


def agrees_with_keras(spec: dict[str, Any]) -> None:
    """lstmcount refuses exactly what Keras refuses, and counts the rest as Keras does (real_check)."""
    try:
        conventions.layout(loads(yaml.safe_dump(spec, sort_keys=False), "<test>"))
        ours = None
    except SpecError as exc:
        ours = "; ".join(exc.problems)
    theirs = keras_refusal(spec)
    assert (ours is None) == (theirs is None), f"lstmcount: {ours or 'counts it'}; Keras: {theirs or 'builds it'}"
    if ours is None:
        real_check(spec)


def keras_class(name: str):
    """The real class of a Keras kind: Keras 3's, or tf_keras's for the Keras 2-only ones (CuDNNLSTM)."""
    import keras

    from lstmcount.conventions.keras.legacy import KERAS2_ONLY

    if name in KERAS2_ONLY:
        from tf_keras.src.layers.rnn import cudnn_gru, cudnn_lstm

        return {"CuDNNLSTM": cudnn_lstm.CuDNNLSTM, "CuDNNGRU": cudnn_gru.CuDNNGRU}[name]
    return getattr(keras.layers, name)
