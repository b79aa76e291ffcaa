"""`layout` and `compare` across keras, pytorch, onnx, tf1, cudnn and flax.

ONNX layouts are run in onnxruntime, TF1 layouts are built with TensorFlow's own legacy cells;
cuDNN (needs a GPU) and Flax (not installed here) are checked against counts derived by hand from
their sources (docs/conventions-research.md).
"""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount import count
from lstmcount.accounting import report
from lstmcount.conventions.flags import Quadratic, flags_layout
from lstmcount.model import LayerFlags
from lstmcount.tools import compare

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"framework": "onnx"}, 4 * 75 * (28 + 75 + 2)),                       # W, R, B = [Wb | Rb]
    ({"framework": "onnx", "peepholes": True}, 4 * 75 * (28 + 75 + 2) + 3 * 75),
    ({"framework": "tf1"}, 4 * 75 * (28 + 75 + 1)),                        # fused kernel [I + H, 4H]
    ({"framework": "tf1", "peepholes": True}, 4 * 75 * (28 + 75 + 1) + 3 * 75),
    ({"framework": "tf1", "peepholes": True, "proj_size": 40}, 4 * 75 * (28 + 40 + 1) + 3 * 75 + 75 * 40),
    ({"framework": "cudnn"}, 4 * 75 * (28 + 75 + 2)),                      # bias (8H,)
    ({"framework": "flax"}, 4 * 75 * (28 + 75 + 1)),                       # hi..ho carry the bias
])
def test_lstm_counts_by_hand(kwargs, expected):
    assert count("lstm", units=75, input=28, **kwargs) == expected


@pytest.mark.parametrize(("framework", "expected"), [
    ("onnx", 3 * 75 * (28 + 75 + 2)), ("tf1", 3 * 75 * (28 + 75 + 1)), ("cudnn", 3 * 75 * (28 + 75 + 2)),
    ("flax", 3 * 75 * (28 + 75 + 1) + 75),  # biases on ir, iz, in and hn
])
def test_gru_counts_by_hand(framework, expected):
    assert count("gru", units=75, input=28, framework=framework) == expected


def test_gate_orders_and_slices(cli):
    data = json.loads(cli("layout", "-u", "75", "-i", "28", "-f", "onnx", "--json").stdout)
    w = data["weights"][0]
    assert (w["name"], w["shape"], w["gate_axis"]) == ("W", [1, 300, 28], 1)
    assert [s["gate"] for s in w["slices"]] == ["input", "output", "forget", "cell"]
    b = data["weights"][2]
    assert [s["gate"] for s in b["slices"]] == ["input", "output", "forget", "cell"] * 2
    tf1 = json.loads(cli("layout", "-u", "75", "-i", "28", "-f", "tf1", "--json").stdout)["weights"][0]
    assert [s["gate"] for s in tf1["slices"]] == ["input", "cell", "forget", "output"]
    assert tf1["row_blocks"] == [{"role": "kernel", "start": 0, "stop": 28},
                                 {"role": "recurrent_kernel", "start": 28, "stop": 103}]
    torch_gru = json.loads(cli("layout", "-t", "gru", "-u", "4", "-i", "3", "-f", "pytorch", "--json").stdout)
    assert [s["gate"] for s in torch_gru["weights"][0]["slices"]] == ["reset", "update", "candidate"]
    assert torch_gru["weights"][0]["slices"][1] == {"gate": "update", "start": 4, "stop": 8}


def test_gates_add_up_in_every_framework():
    for fw, types in (("onnx", "lstm gru rnn"), ("tf1", "lstm gru rnn"), ("cudnn", "lstm gru"),
                      ("flax", "lstm gru rnn")):
        for t in types.split():
            rep = report(flags_layout(LayerFlags(t, fw, 6, 5, True, 2)))
            for layer in rep.layers:
                assert layer.params == sum(g.params for g in layer.gates) + sum(e.params for e in layer.extras)
                assert {g.direction for g in layer.gates} == {"forward", "backward"}


def test_compare_rows_and_reasons(cli):
    r = cli("compare", "-u", "75", "-i", "28", "--json")
    rows = json.loads(r.stdout)["rows"]
    assert rows[0] == {"framework": "keras", "variant": "default", "params": 31_200, "in_general": "4u² + 4ui + 4u",
                       "why": "reference row"}
    torch = next(x for x in rows if x["framework"] == "pytorch")
    assert torch["params"] == 31_500 and torch["why"] == "bias +300 (1 more bias vector of 75 per gate)"
    assert torch["in_general"] == "4u² + 4ui + 8u"  # 4 × (i·u + u·u + 2u): two bias vectors per gate
    tf1 = next(x for x in rows if x["framework"] == "tf1" and x["variant"] == "peepholes")
    assert tf1["why"] == "extras +225 (w_f_diag, w_i_diag, w_o_diag)"
    gru = json.loads(cli("compare", "-t", "gru", "-u", "75", "-i", "28", "--json").stdout)["rows"]
    assert [(x["variant"], x["params"]) for x in gru if x["framework"] == "keras"] == [
        ("default", 23_625), ("reset_after=true", 23_625), ("reset_after=false", 23_400)]


def _evaluate(formula: str, u: int, i: int) -> int:
    """'4u² + 4ui + 8u' at these sizes."""
    total = 0
    for sign, k, term in re.findall(r"(-|\+|^)\s*([\d,]*)(u²|ui|i²|u|i|)(?=\s|$)", formula):
        value = {"u²": u * u, "ui": u * i, "i²": i * i, "u": u, "i": i, "": 1}[term]
        total += (-1 if sign == "-" else 1) * int(k.replace(",", "") or 1) * value
    return total


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["lstm", "gru", "rnn"]), st.integers(1, 500), st.integers(1, 500), st.booleans(),
       st.integers(1, 3))
def test_compare_in_general_is_each_rows_count(kind, units, inp, bidirectional, layers):
    """The In general column, read back as text, gives each row's count at the row's sizes."""
    for row in compare(LayerFlags(kind, "keras", units, inp, bidirectional, layers)):
        if row.params is not None:
            assert _evaluate(row.in_general, units, inp) == row.params, row


def test_quadratic_text():
    assert str(Quadratic(-1, 1, 0, 0, 1, -2)) == "u² - 2i² + u - 1"
    assert str(Quadratic(0, 0, 0, 1_200, 0, 0)) == "1,200ui"
    assert str(Quadratic(0, 0, 0, 0, 0, 0)) == "0"


def test_unavailable_options_are_usage_errors(cli):
    r = cli("params", "-u", "5", "-i", "3", "-f", "cudnn", "-t", "rnn")
    assert (r.exit_code, r.stderr) == (2, "lstmcount: --framework cudnn has no rnn layer (it has: lstm, gru)\n")
    r = cli("layout", "-u", "5", "-i", "3", "-f", "flax", "--no-bias")
    assert (r.exit_code, r.stderr) == (2, "lstmcount: --no-bias: linen LSTMCell/GRUCell/SimpleCell have fixed biases\n")


# --- ONNX layouts run in onnxruntime ---------------------------------------------------------------


def run_onnx(f: LayerFlags, weights=None, steps: int = 3, batch: int = 2) -> np.ndarray:
    """Run one ONNX recurrent operator whose W, R, B, P have lstmcount's shapes for `f`."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    layer = flags_layout(f).layers[0]
    weights = weights or layer.weights
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32), w.name)
             for w in weights]
    names = {w.name for w in weights}
    # operator inputs by position: X, W, R, B, sequence_lens, initial_h, initial_c, P
    inputs = ["X", "W", "R", "B" if "B" in names else ""]
    if "P" in names:
        inputs += ["", "", "", "P"]
    node = helper.make_node(layer.type, inputs, ["Y"], hidden_size=f.units,
                            direction="bidirectional" if f.bidirectional else "forward")
    d = 2 if f.bidirectional else 1
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                           [steps, batch, f.input])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [steps, d, batch, f.units])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"X": rng.normal(size=(steps, batch, f.input)).astype(np.float32)})
    return y


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["lstm", "gru", "rnn"]), st.integers(1, 12), st.integers(1, 12), st.booleans(), st.booleans(),
       st.booleans())
def test_onnx_layouts_run_in_onnxruntime(kind, units, inp, bidi, bias, peep):
    f = LayerFlags(kind, "onnx", units, inp, bidi, 1, bias, None, None, peep and kind == "lstm")
    y = run_onnx(f)
    assert y.shape == (3, 2 if bidi else 1, 2, units)


def test_onnx_rejects_a_wrong_layout():
    """The check above can fail: W with its last two axes swapped is refused."""
    f = LayerFlags("lstm", "onnx", 5, 3)
    layer = flags_layout(f).layers[0]
    w = layer.weights[0]
    with pytest.raises(Exception, match="(?i)shape|dimension|W"):
        run_onnx(f, (w._replace(shape=(1, 3, 20)), *layer.weights[1:]))


# --- TF1 layouts are TensorFlow's legacy cells ------------------------------------------------------


@pytest.mark.parametrize("flags", [
    LayerFlags("lstm", "tf1", 7, 5), LayerFlags("lstm", "tf1", 7, 5, peepholes=True),
    LayerFlags("lstm", "tf1", 7, 5, peepholes=True, proj_size=3), LayerFlags("lstm", "tf1", 7, 5, proj_size=2),
    LayerFlags("gru", "tf1", 6, 9), LayerFlags("rnn", "tf1", 4, 2),
], ids=str)
def test_tf1_layout_matches_tensorflow_cells(flags):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as cells

    if flags.type == "lstm":
        cell = cells.LSTMCell(flags.units, use_peepholes=flags.peepholes, num_proj=flags.proj_size)
    elif flags.type == "gru":
        cell = cells.GRUCell(flags.units)
    else:
        cell = cells.BasicRNNCell(flags.units)
    cell.build(tf.TensorShape([None, flags.input]))
    # TensorFlow numbers repeated scopes (lstm_cell_1/...): compare under the cell's base name
    real = [(re.sub(r"^(\w+?)(_\d+)?/", r"\1/", v.name.removesuffix(":0")), tuple(v.shape)) for v in cell.weights]
    ours = [(w.name, w.shape) for w in flags_layout(flags).layers[0].weights]
    assert ours == real


# --- ONNX files as input ----------------------------------------------------------------------------


def _onnx_file(path, f: LayerFlags) -> int:
    """An ONNX model (made with the onnx library, checked, run in onnxruntime) with one recurrent node
    whose initializers have arbitrary names, followed by a MatMul head; returns its parameter count."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    layer = flags_layout(f).layers[0]
    rng = np.random.default_rng(1)
    names = {w.name: f"onnx::{layer.type}_{w.name}_{i}" for i, w in enumerate(layer.weights)}
    inits = [numpy_helper.from_array(rng.uniform(-0.5, 0.5, w.shape).astype(np.float32), names[w.name])
             for w in layer.weights]
    d = 2 if f.bidirectional else 1
    head = numpy_helper.from_array(rng.normal(size=(d * f.units, 2)).astype(np.float32), "head.weight")
    inputs = ["X", names["W"], names["R"], names.get("B", "")]
    if "P" in names:
        inputs += ["", "", "", names["P"]]
    nodes = [helper.make_node(layer.type, inputs, ["Y"], name="encoder", hidden_size=f.units,
                              direction="bidirectional" if f.bidirectional else "forward"),
             helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["Yt", "shape"], ["Z"]),
             helper.make_node("MatMul", ["Z", "head.weight"], ["out"], name="head")]
    shape = numpy_helper.from_array(np.array([3, 2, d * f.units], dtype=np.int64), "shape")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3, 2, f.input])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3, 2, 2])],
                              [*inits, head, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model, full_check=True)
    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"X": rng.normal(size=(3, 2, f.input)).astype(np.float32)})
    onnx.save(model, path)
    return sum(int(np.prod(i.dims)) for i in graph.initializer)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["lstm", "gru", "rnn"]), st.integers(1, 8), st.integers(1, 8), st.booleans(), st.booleans(),
       st.booleans())
def test_onnx_files_are_read_per_gate(tmp_path_factory, kind, units, inp, bidi, bias, peep):
    from lstmcount.inputs.onnx import read_onnx

    f = LayerFlags(kind, "onnx", units, inp, bidi, 1, bias, None, None, peep and kind == "lstm")
    path = tmp_path_factory.mktemp("onnx") / "m.onnx"
    total = _onnx_file(str(path), f)
    rep = report(read_onnx(str(path)))
    assert rep.total == total
    encoder = rep.layers[0]
    assert (encoder.name, encoder.type) == ("encoder", kind.upper())
    assert encoder.params == flags_layout(f).params
    assert {w.name.split("_")[1] for w in encoder.weights} <= {"W", "R", "B", "P"}
    assert len(encoder.gates) == {"lstm": 4, "gru": 3, "rnn": 1}[kind] * (2 if bidi else 1)
    assert [layer.name for layer in rep.layers[1:]] == ["reshape_2", "head"]


def test_onnx_file_cli_and_missing_onnx(tmp_path, cli):
    import subprocess
    import sys

    from .conftest import ROOT

    path = tmp_path / "m.onnx"
    total = _onnx_file(str(path), LayerFlags("lstm", "onnx", 4, 3, True))
    r = cli("params", str(path), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == total
    assert cli("layout", str(path)).exit_code == 0
    code = (f"import sys; sys.modules['onnx'] = None\nfrom lstmcount.cli import main\n"
            f"sys.argv = ['lstmcount', 'params', {str(path)!r}]\nmain()")
    hidden = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert hidden.returncode == 3 and "pip install 'lstmcount[onnx]'" in hidden.stderr
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    bad = cli("params", str(tmp_path / "bad.onnx"))
    assert bad.exit_code == 2 and "bad.onnx: not a readable ONNX model (Error parsing message" in bad.stderr


def test_compare_a_spec_layer(cli):
    from .conftest import ROOT

    rows = json.loads(cli("compare", str(ROOT / "configs/text_bilstm.yaml"), "--layer", "bidirectional_1",
                          "--json").stdout)["rows"]
    assert rows[0]["params"] == 41_216  # the spec's own count for that layer
    assert next(r for r in rows if r["framework"] == "pytorch")["params"] == 2 * 4 * 32 * (128 + 32 + 2)
    torch_rows = json.loads(cli("compare", str(ROOT / "configs/torch_projection_cells.yaml"), "--layer", "encoder",
                                "--json").stdout)["rows"]
    assert torch_rows[0] == {"framework": "pytorch", "variant": "proj_size=20", "params": 16_500,
                             "in_general": "4ui + 108u", "why": "reference row"}
    r = cli("compare", str(ROOT / "configs/mnist_lstm.yaml"), "--layer", "dense")
    assert r.exit_code == 2 and "--layer 'dense': not an LSTM, GRU or RNN layer (the file's recurrent layers " \
        "are lstm)" in r.stderr
    only = json.loads(cli("compare", str(ROOT / "configs/mnist_lstm.yaml"), "--json").stdout)["rows"]
    assert only[0]["params"] == 31_200  # the one recurrent layer needs no --layer
    r = cli("compare", str(ROOT / "configs/text_bilstm.yaml"))
    assert r.exit_code == 2 and "--layer NAME (the file's recurrent layers are bidirectional, " \
        "bidirectional_1)" in r.stderr


COMMAND_FLAGS = {
    "--type": ["lstm", "gru", "rnn", "x"], "--framework": ["keras", "pytorch", "onnx", "tf1", "cudnn", "flax", "jax"],
    "--units": ["0", "1", "7", "-3", "x", "10" + "0" * 20], "--input": ["1", "5", "0", ""],
    "--num-layers": ["1", "2", "0", "20000"], "--proj-size": ["0", "1", "3", "9"], "--budget": ["1", "500", "0", "x"],
    "--max-bytes": ["1KiB", "3", "0", "2QB"], "--to": ["keras", "pytorch", "onnx", "tf1", "cudnn", "flax"],
    "--layer": ["lstm", "nope"], "--save": ["/tmp/lstmcount-fuzz.npz"],
    "--dtype": ["float16", "int4"], "--timesteps": ["3", "0"],
}
SWITCH_FLAGS = ["--bidirectional", "--no-bias", "--reset-after", "--no-reset-after", "--peepholes", "--json"]


@settings(max_examples=int(os.environ.get("LSTMCOUNT_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["layout", "compare", "solve", "params"]),
       st.lists(st.one_of(st.sampled_from(SWITCH_FLAGS),
                          st.sampled_from(sorted(COMMAND_FLAGS)).flatmap(
                              lambda k: st.sampled_from(COMMAND_FLAGS[k]).map(lambda v, k=k: [k, v]))),
                max_size=6))
def test_every_command_answers_any_flags_with_0_or_2(cli, command, flags):
    args = [command]
    for item in flags:
        args += item if isinstance(item, list) else [item]
    r = cli(*args)
    assert r.exit_code in (0, 2), (args, r.stderr[-500:])
    assert "Traceback" not in r.stderr


def test_solve_by_hand(cli):
    # Keras LSTM on 28 inputs: 4 × ((28 + u) × u + u) <= 100,000 -> u = 144 (99,648); 145 needs 100,920
    r = json.loads(cli("solve", "--budget", "100000", "--input", "28", "--json").stdout)
    assert (r["units"], r["params"], r["next_params"]) == (144, 99_648, 100_920)
    # a projection of 3 needs at least 4 units: 4 × (4 × 2 + 4 × 3 + 2 × 4) + 3 × 4 = 124
    r = json.loads(cli("solve", "--budget", "124", "-i", "2", "-f", "pytorch", "--proj-size", "3", "--json").stdout)
    assert (r["units"], r["params"]) == (4, 124)
    small = cli("solve", "--budget", "10", "-i", "2", "-f", "pytorch", "--proj-size", "3")
    assert small.exit_code == 2 and "even --units = 4 needs 124 parameters, over the budget of 10" in small.stderr


def test_solve_a_spec_from_standard_input(cli):
    """Standard input can be read once: its only recurrent layer is found in the spec already loaded."""
    from .conftest import ROOT

    text = (ROOT / "configs/mnist_lstm.yaml").read_text()
    r = cli("solve", "-", "--budget", "50000", "--json", input=text)
    assert r.exit_code == 0, r.stderr
    # LSTM(u) on 28 inputs plus Dense(10) on u: 4 × ((28 + u) × u + u) + 10 × u + 10; u = 97 gives 49,868
    assert json.loads(r.stdout) == {"schema_version": 1, "units": 97, "argument": "units", "params": 49_868,
                                    "budget": 50_000, "next_params": 4 * ((28 + 98) * 98 + 98) + 10 * 98 + 10}
    assert 4 * ((28 + 97) * 97 + 97) + 10 * 97 + 10 == 49_868
