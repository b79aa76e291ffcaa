"""Check an ONNX file with the real ONNX tools and list its weights as ONNX Runtime accepts them.

The whole model must pass the ONNX checker and load into an ONNX Runtime session; each LSTM, GRU
and RNN node whose weights are initializers is then run on its own in ONNX Runtime, with its own
attributes and weights, so the runtime's shape checks (hidden_size, directions, gate blocks)
decide whether the weights fit the operator. Nothing here counts.
"""

from __future__ import annotations

from typing import Any

from ..errors import FrameworkError, FrameworkMissing, show
from ..inputs.onnx import external_data, onnx_groups, onnx_model, proto_text
from ..reconcile import ActualLayer, ActualWeight, Built

_modules: tuple[Any, Any] | None = None


def load() -> tuple[Any, Any]:
    global _modules
    if _modules is None:
        try:
            import onnx
            import onnxruntime
        except ImportError:
            raise FrameworkMissing("ONNX Runtime", "onnx") from None
        onnxruntime.set_default_logger_severity(4)  # fatal only: refusals come back as exceptions
        _modules = onnx, onnxruntime
    return _modules


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line.rpartition("Status Message: ")[2][:300]  # ONNX Runtime's own words, without its preamble


def _run_node(node: Any, model: Any, inits: dict[str, Any]) -> None:
    """Run one recurrent node alone in ONNX Runtime on a zero input (2 steps, batch 1)."""
    import numpy as np
    from onnx import helper

    _, ort = load()

    features = int(inits[proto_text(node.input[1])].dims[2])  # W: (directions, gates × units, input)
    layout = next((a.i for a in node.attribute if a.name == "layout"), 0)
    x_shape = [1, 2, features] if layout else [2, 1, features]
    inputs = ["X"] + [name if name in inits else "" for name in map(proto_text, node.input[1:])]
    while inputs[-1] == "":
        inputs.pop()
    single = helper.make_node(node.op_type, inputs, [o for o in node.output], domain=node.domain)
    single.attribute.extend(node.attribute)
    elem = inits[node.input[1]].data_type
    graph = helper.make_graph(
        [single], "check", [helper.make_tensor_value_info("X", elem, x_shape)],
        [helper.make_tensor_value_info(o, elem, None) for o in node.output if o],
        [inits[name] for name in inputs[1:] if name])
    check = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    session = ort.InferenceSession(check.SerializeToString(), providers=["CPUExecutionProvider"])
    session.run(None, {"X": np.zeros(x_shape, dtype=helper.tensor_dtype_to_np_dtype(elem))})


def check_onnx(path: str) -> Built:
    """The file's weights by node (grouped as lstmcount's reader groups them), as the ONNX library loads
    them, after the checks above."""
    onnx, ort = load()
    model = onnx_model(path)
    external_data(path, model)  # the checker and ONNX Runtime read it: only from the model's folder
    try:
        onnx.checker.check_model(path, full_check=True)
    except Exception as exc:
        raise FrameworkError(f"{path}: the ONNX checker refused it: {_first(exc)}") from None
    try:
        ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise FrameworkError(f"{path}: ONNX Runtime refused it: {_first(exc)}") from None
    inits = {proto_text(init.name): init for init in model.graph.initializer}
    layers = []
    for group in onnx_groups(model, path):
        if group.flags is not None:
            try:
                _run_node(group.node, model, inits)
            except Exception as exc:
                raise FrameworkError(f"{path}: node {show(group.name)} ({group.type}): ONNX Runtime refused its "
                                     f"weights: {_first(exc)}") from None
        layers.append(ActualLayer(group.name, group.type, tuple(ActualWeight(i, tuple(inits[i].dims))
                                                                for i in group.inputs)))
    native = sum(int(w.params) for layer in layers for w in layer.weights)
    return Built(tuple(layers), native)
