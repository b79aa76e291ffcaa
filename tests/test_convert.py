"""Conversion recipes proven on real weights: convert, load into the other framework, same outputs."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcount.conventions.flags import flags_layout
from lstmcount.convert import apply, recipe
from lstmcount.errors import UsageError
from lstmcount.model import LayerFlags

pytestmark = pytest.mark.filterwarnings("ignore")
STEPS, BATCH = 5, 3


def torch_module(f: LayerFlags):
    import torch

    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[f.type]
    extra = {"proj_size": f.proj_size} if f.proj_size else {}
    return cls(f.input, f.units, num_layers=f.num_layers, bias=f.bias, batch_first=True,
               bidirectional=f.bidirectional, **extra)


def torch_run(module, x):
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(x))[0].numpy()


def torch_arrays(module, name: str) -> dict[str, np.ndarray]:
    return {f"{name}/{n}": p.detach().numpy() for n, p in module.named_parameters()}


def keras_model(f: LayerFlags):
    """The Keras stack the flags describe (every layer returning sequences), named as in the layout."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    names = [layer.name for layer in flags_layout(f._replace(framework="keras")).layers]
    layers = []
    for name in names:
        cls = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[f.type]
        inner_name = {"lstm": "lstm", "gru": "gru", "rnn": "simple_rnn"}[f.type]
        extra = {"reset_after": f.reset_after} if f.reset_after is not None else {}
        inner = cls(f.units, use_bias=f.bias, return_sequences=True, name=inner_name if f.bidirectional else name,
                    **extra)
        layers.append(keras.layers.Bidirectional(inner, name=name) if f.bidirectional else inner)
    return keras.Sequential([keras.Input((STEPS, f.input)), *layers])


def keras_arrays(model) -> dict[str, np.ndarray]:
    from lstmcount.bridges.keras import weight_names

    return {f"{layer.name}/{name}": np.asarray(w.numpy()) for layer in model.layers
            for name, w in zip(weight_names(layer), layer.weights, strict=True)}


def keras_load(model, arrays: dict[str, np.ndarray]) -> None:
    from lstmcount.bridges.keras import weight_names

    for layer in model.layers:
        for name, w in zip(weight_names(layer), layer.weights, strict=True):
            w.assign(arrays[f"{layer.name}/{name}"].astype(np.float32))


def randomize(arrays: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(-0.5, 0.5, v.shape).astype(np.float32) for k, v in arrays.items()}


def random_torch(f: LayerFlags, seed: int):
    """A PyTorch module for the flags with random weights; also its arrays by lstmcount tensor name."""
    import torch

    module = torch_module(f)
    name = flags_layout(f._replace(framework="pytorch")).layers[0].name
    source = randomize(torch_arrays(module, name), seed)
    with torch.no_grad():
        for n, p in module.named_parameters():
            p.copy_(torch.from_numpy(source[f"{name}/{n}"]))
    return module, source


def random_keras(f: LayerFlags, seed: int):
    """A Keras stack for the flags with random weights; also its arrays by lstmcount tensor name."""
    model = keras_model(f)
    source = randomize(keras_arrays(model), seed)
    keras_load(model, source)
    return model, source


def inputs(f: LayerFlags, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(BATCH, STEPS, f.input)).astype(np.float32)


flag_sets = st.builds(
    lambda kind, units, inp, bidi, layers, bias: LayerFlags(kind, "pytorch", units, inp, bidi, layers, bias),
    st.sampled_from(["lstm", "gru", "rnn"]), st.integers(1, 6), st.integers(1, 5), st.booleans(), st.integers(1, 2),
    st.booleans())


@settings(max_examples=12, deadline=None)
@given(flag_sets, st.integers(0, 10**6))
def test_pytorch_to_keras_recipes_give_the_same_outputs(f, seed):
    module, source = random_torch(f, seed)
    rec = recipe(f, "keras")
    assert rec.exact
    model = keras_model(f)
    keras_load(model, apply(rec, source))
    x = inputs(f, seed)
    np.testing.assert_allclose(np.asarray(model(x)), torch_run(module, x), atol=2e-5)


@settings(max_examples=12, deadline=None)
@given(flag_sets, st.integers(0, 10**6))
def test_keras_to_pytorch_recipes_give_the_same_outputs(f, seed):
    import torch

    f = f._replace(framework="keras")
    model, source = random_keras(f, seed)
    rec = recipe(f, "pytorch")
    assert rec.exact
    target = apply(rec, source)
    module = torch_module(f)
    name = flags_layout(f._replace(framework="pytorch")).layers[0].name
    with torch.no_grad():
        for n, p in module.named_parameters():
            p.copy_(torch.from_numpy(target[f"{name}/{n}"].astype(np.float32)))
    x = inputs(f, seed)
    np.testing.assert_allclose(torch_run(module, x), np.asarray(model(x)), atol=2e-5)


def test_reset_before_gru_is_not_exact_and_says_why():
    rec = recipe(LayerFlags("gru", "keras", 4, 3, reset_after=False), "pytorch")
    assert not rec.exact and "reset_before" in rec.notes[0]


def test_recipe_cli(cli):
    r = cli("layout", "-t", "lstm", "-u", "3", "-i", "2", "-f", "pytorch", "--to", "keras")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "pytorch -> keras (exact: the converted weights compute the same outputs)"
    assert "lstm/bias = lstm/bias_ih_l0 with" in r.stdout and " + lstm/bias_hh_l0 with" in r.stdout
    bad = cli("layout", "-u", "3", "-i", "2", "-f", "onnx", "--peepholes", "--to", "keras")
    assert bad.exit_code == 2 and "peepholes have no keras equivalent (onnx and tf1 have them)" in bad.stderr


# --- ONNX: recipes run in onnxruntime ----------------------------------------------------------------


def onnx_run(f: LayerFlags, arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Run the ONNX operators the flags describe (one node per stacked layer), weights from `arrays`;
    returns the last layer's output as (batch, steps, directions × units)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    layout = flags_layout(f._replace(framework="onnx"))
    d = 2 if f.bidirectional else 1
    nodes, inits, current = [], [], "X"
    for k, layer in enumerate(layout.layers):
        names = {w.name: f"{layer.name}/{w.name}" for w in layer.weights}
        inits += [numpy_helper.from_array(arrays[n].astype(np.float32), n) for n in names.values()]
        extra = {"linear_before_reset": int(f.reset_after is not False)} if f.type == "gru" else {}
        peepholes = ["", "", "", names["P"]] if "P" in names else []  # sequence_lens, initial_h, initial_c, P
        nodes.append(helper.make_node(layer.type, [current, names["W"], names["R"], names.get("B", ""), *peepholes],
                                      [f"Y{k}"], hidden_size=f.units,
                                      direction="bidirectional" if f.bidirectional else "forward", **extra))
        nodes.append(helper.make_node("Transpose", [f"Y{k}"], [f"T{k}"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"T{k}", "shape"], [f"S{k}"]))
        current = f"S{k}"
    inits.append(numpy_helper.from_array(np.array([STEPS, BATCH, d * f.units], dtype=np.int64), "shape"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT,
                                                                         [STEPS, BATCH, f.input])],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT,
                                                             [STEPS, BATCH, d * f.units])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"X": np.ascontiguousarray(x.transpose(1, 0, 2))})
    return y.transpose(1, 0, 2)


@settings(max_examples=12, deadline=None)
@given(flag_sets, st.integers(0, 10**6))
def test_pytorch_to_onnx_and_back(f, seed):
    module, source = random_torch(f, seed)
    x = inputs(f, seed)
    rec = recipe(f, "onnx")
    assert rec.exact
    np.testing.assert_allclose(onnx_run(f, apply(rec, source), x), torch_run(module, x), atol=2e-5)
    back = apply(recipe(f._replace(framework="onnx"), "pytorch"), apply(rec, source))
    for key, value in source.items():  # PyTorch and ONNX both keep two biases: the round trip is the identity
        np.testing.assert_allclose(back[key], value, atol=1e-7)


@settings(max_examples=8, deadline=None)
@given(flag_sets, st.integers(0, 10**6))
def test_keras_to_onnx(f, seed):
    f = f._replace(framework="keras")
    model, source = random_keras(f, seed)
    rec = recipe(f, "onnx")
    assert rec.exact
    x = inputs(f, seed)
    np.testing.assert_allclose(onnx_run(f, apply(rec, source), x), np.asarray(model(x)), atol=2e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_reset_before_gru_goes_to_an_onnx_node_with_linear_before_reset_0(seed):
    f = LayerFlags("gru", "keras", 3, 2, reset_after=False)
    model, source = random_keras(f, seed)
    rec = recipe(f, "onnx")
    assert rec.exact and "the ONNX GRU node must have linear_before_reset=0" in rec.notes
    x = inputs(f, seed)
    np.testing.assert_allclose(onnx_run(f, apply(rec, source), x), np.asarray(model(x)), atol=2e-5)
    assert not recipe(f._replace(framework="onnx"), "pytorch").exact  # PyTorch's GRU is reset_after


# --- TF1: recipes run through TensorFlow's own legacy cells -----------------------------------------


def tf1_cell(f: LayerFlags):
    import tensorflow as tf
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as cells

    options = {"use_peepholes": f.peepholes, "num_proj": f.proj_size} if f.type == "lstm" else {}
    cell = {"lstm": cells.LSTMCell, "gru": cells.GRUCell, "rnn": cells.BasicRNNCell}[f.type](f.units, **options)
    cell.build(tf.TensorShape([None, f.input]))
    return cell


def tf1_arrays(cell, f: LayerFlags) -> dict[str, np.ndarray]:
    name = flags_layout(f._replace(framework="tf1")).layers[0].name
    return {f"{name}/" + re.sub(r"^(\w+?)(_\d+)?/", r"\1/", v.name.removesuffix(":0")): v.numpy()
            for v in cell.weights}


def tf1_load(cell, f: LayerFlags, arrays: dict[str, np.ndarray]) -> None:
    for key, v in zip(tf1_arrays(cell, f), cell.weights, strict=True):
        v.assign(arrays[key].astype(np.float32))


def tf1_run(cell, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    state = cell.zero_state(x.shape[0], tf.float32)
    out = []
    for t in range(x.shape[1]):
        y, state = cell(tf.constant(x[:, t]), state)
        out.append(np.asarray(y))
    return np.stack(out, 1)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("seed", [0, 1])
def test_tf1_to_keras_and_back(kind, seed):
    f = LayerFlags(kind, "tf1", 3, 2)
    cell = tf1_cell(f)
    source = randomize(tf1_arrays(cell, f), seed)
    tf1_load(cell, f, source)
    rec = recipe(f, "keras")
    assert rec.exact, rec.notes
    keras_flags = f._replace(framework="keras", reset_after=False if kind == "gru" else None)
    model = keras_model(keras_flags)
    keras_load(model, apply(rec, source))
    x = inputs(f, seed)
    np.testing.assert_allclose(np.asarray(model(x)), tf1_run(cell, x), atol=2e-5)
    back = apply(recipe(keras_flags, "tf1"), apply(rec, source))  # Keras -> TF1 restores the cell
    for key, value in source.items():
        np.testing.assert_allclose(back[key], value, atol=1e-6)


# --- A model file's own layer: recipes name the file's tensors ------------------------------------


class Encoder:
    """A PyTorch model with a recurrent encoder among other modules, saved as a state_dict."""

    @staticmethod
    def build(kind: str):
        import torch

        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[kind]
        torch.manual_seed(0)
        return torch.nn.ModuleDict({"emb": torch.nn.Embedding(10, 4),
                                    "enc": cls(4, 3, num_layers=2, bidirectional=True, batch_first=True),
                                    "head": torch.nn.Linear(6, 2)})


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_a_state_dicts_layer_converts_to_keras_by_its_own_tensor_names(kind, tmp_path, cli):
    import torch

    from lstmcount.tools import pick

    net = Encoder.build(kind)
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    picked = pick(str(path), "enc")
    assert picked.flags == LayerFlags(kind, "pytorch", 3, 4, True, 2, True)
    rec = recipe(picked.flags, "keras", picked.tensor_names())
    arrays = {k: v.numpy() for k, v in torch.load(path, weights_only=True).items()}
    model = keras_model(picked.flags._replace(framework="keras"))
    keras_load(model, apply(rec, arrays))
    x = inputs(picked.flags, 1)
    np.testing.assert_allclose(np.asarray(model(x)), torch_run(net["enc"], x), atol=2e-5)
    r = cli("layout", str(path), "--layer", "enc", "--to", "keras", "--save", str(tmp_path / "keras.npz"))
    assert r.exit_code == 0, r.stderr
    assert "transpose(enc.weight_ih_l0) with" in r.stdout and "enc.weight_hh_l1_reverse" in r.stdout
    saved = dict(np.load(tmp_path / "keras.npz"))  # the CLI's own conversion of the file's tensors
    assert all(v.dtype == np.float32 for v in saved.values())
    fresh = keras_model(picked.flags._replace(framework="keras"))
    keras_load(fresh, saved)
    np.testing.assert_allclose(np.asarray(fresh(x)), torch_run(net["enc"], x), atol=2e-5)


def test_an_onnx_export_converts_back_to_the_modules_own_weights(tmp_path, cli):
    """torch.onnx.export reorders PyTorch's gates into ONNX's; the recipe read off the exported file
    must undo it exactly, under the exporter's own initializer names."""
    import onnx
    import torch
    from onnx import numpy_helper

    from lstmcount.tools import pick

    torch.manual_seed(0)
    module = torch.nn.LSTM(4, 3, bidirectional=True)
    path = tmp_path / "lstm.onnx"
    torch.onnx.export(module, (torch.zeros(5, 1, 4),), str(path), dynamo=False)
    picked = pick(str(path), None)  # the only recurrent node
    assert picked.flags == LayerFlags("lstm", "onnx", 3, 4, True, 1, True)
    arrays = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    back = apply(recipe(picked.flags, "pytorch", picked.tensor_names()), arrays)
    name = flags_layout(picked.flags._replace(framework="pytorch")).layers[0].name
    for key, value in module.state_dict().items():
        np.testing.assert_allclose(back[f"{name}/{key}"], value.numpy(), atol=1e-7)
    r = cli("layout", str(path), "--to", "pytorch", "--json", "--save", str(tmp_path / "torch.npz"))
    assert r.exit_code == 0, r.stderr
    assert {p["tensor"] for s in json.loads(r.stdout)["steps"] for p in s["parts"]} <= set(arrays)
    saved = np.load(tmp_path / "torch.npz")
    for key, value in module.state_dict().items():
        np.testing.assert_array_equal(saved[f"{name}/{key}"], value.numpy())  # moved, not computed: bit for bit
    for args in (("-u", "3", "-i", "2", "--to", "keras", "--save", "x.npz"), (str(path), "--save", "x.npz")):
        r = cli("layout", *args)
        assert r.exit_code == 2 and "--save" in r.stderr


def test_file_layers_are_picked_by_name_or_refused_with_the_choices(tmp_path, cli):
    import torch

    path = tmp_path / "model.pt"
    net = Encoder.build("gru")
    net["cell"] = torch.nn.LSTMCell(4, 2)
    torch.save(net.state_dict(), path)
    r = cli("compare", str(path))
    assert r.exit_code == 2 and "name the recurrent layer with --layer NAME (the file's recurrent layers are " \
        "enc, cell)" in r.stderr
    r = cli("compare", str(path), "--layer", "head")
    assert r.exit_code == 2 and "--layer 'head': not an LSTM, GRU or RNN layer" in r.stderr
    r = cli("compare", str(path), "--layer", "nope")
    assert r.exit_code == 2 and "--layer 'nope': no such layer" in r.stderr
    r = cli("compare", str(path), "--layer", "cell", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["rows"][0]["params"] == 4 * (4 + 2 + 2) * 2
    r = cli("layout", str(path), "--layer", "cell", "--to", "keras")
    assert r.exit_code == 0 and "transpose(cell.weight_ih)" in r.stdout
    r = cli("layout", str(path), "--to", "keras")
    assert r.exit_code == 2 and "(the file's recurrent layers are enc, cell)" in r.stderr


def test_a_spec_layer_converts_under_its_own_name(cli):
    from .conftest import ROOT

    r = cli("layout", str(ROOT / "configs/text_bilstm.yaml"), "--layer", "bidirectional_1", "--to", "pytorch")
    assert r.exit_code == 0, r.stderr
    assert "lstm/weight_ih_l0_reverse = transpose(bidirectional_1/backward_lstm/kernel) with" in r.stdout
    r = cli("layout", "-u", "3", "-i", "2", "--layer", "lstm")
    assert r.exit_code == 2 and "--layer goes with a spec or model file" in r.stderr


@pytest.mark.parametrize("seed", [0, 1])
def test_tf1_peepholes_go_to_onnx_and_back(seed):
    f = LayerFlags("lstm", "tf1", 3, 2, peepholes=True)
    cell = tf1_cell(f)
    source = randomize(tf1_arrays(cell, f), seed)
    tf1_load(cell, f, source)
    rec = recipe(f, "onnx")
    assert rec.exact, rec.notes
    x = inputs(f, seed)
    np.testing.assert_allclose(onnx_run(f._replace(framework="onnx"), apply(rec, source), x), tf1_run(cell, x),
                               atol=2e-5)
    back = apply(recipe(f._replace(framework="onnx"), "tf1"), apply(rec, source))
    for key, value in source.items():
        np.testing.assert_allclose(back[key], value, atol=1e-6)
    with pytest.raises(UsageError, match="peepholes have no keras equivalent"):
        recipe(f, "keras")


@pytest.mark.parametrize(("units", "proj"), [(3, 2), (4, 1)])
def test_a_pytorch_projection_goes_to_tf1_num_proj(units, proj):
    f = LayerFlags("lstm", "pytorch", units, 2, proj_size=proj)
    module, source = random_torch(f, units)
    rec = recipe(f, "tf1")
    assert rec.exact, rec.notes
    tf1_flags = f._replace(framework="tf1")
    cell = tf1_cell(tf1_flags)
    tf1_load(cell, tf1_flags, apply(rec, source))
    x = inputs(f, 0)
    np.testing.assert_allclose(tf1_run(cell, x), torch_run(module, x), atol=2e-5)
    with pytest.raises(UsageError, match="a projection .* has no onnx equivalent"):
        recipe(f, "onnx")


def tf1_stack(f: LayerFlags, arrays: dict[str, np.ndarray] | None, x: np.ndarray):
    """Run a TF1 stack through TensorFlow's own RNN functions: `static_rnn` over a `MultiRNNCell`, or
    per layer `static_bidirectional_rnn` with both directions' outputs feeding the next layer (what
    tf.contrib's `stack_bidirectional_rnn` did). The cells' variables are loaded from `arrays` (by
    lstmcount's tf1 names) or, without arrays, returned as created. Returns (outputs, arrays)."""
    import tensorflow as tf
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as cells

    cls = {"lstm": cells.LSTMCell, "gru": cells.GRUCell, "rnn": cells.BasicRNNCell}[f.type]
    dirs = ("forward", "backward") if f.bidirectional else ("forward",)
    stack = {d: [cls(f.units) for _ in range(f.num_layers)] for d in dirs}
    steps = [tf.constant(x[:, t]) for t in range(x.shape[1])]

    def run():
        if not f.bidirectional:
            outputs, _ = tf.compat.v1.nn.static_rnn(cells.MultiRNNCell(stack["forward"]), steps, dtype=tf.float32)
            return outputs
        layer = steps
        for k in range(f.num_layers):
            layer, _, _ = tf.compat.v1.nn.static_bidirectional_rnn(stack["forward"][k], stack["backward"][k], layer,
                                                                   dtype=tf.float32)
        return layer

    first = run()  # creates the variables
    planned = [w for w in flags_layout(f).layers[0].weights]
    variables = [v for k in range(f.num_layers) for d in dirs for v in stack[d][k].weights]
    name = flags_layout(f).layers[0].name
    assert [w.shape for w in planned] == [tuple(v.shape) for v in variables]
    cell = {"lstm": "lstm_cell/", "gru": "gru_cell/", "rnn": "basic_rnn_cell/"}[f.type]
    assert all(v.name.endswith(f"/{cell}{w.name.split(cell)[1]}:0") for w, v in zip(planned, variables, strict=True))
    if arrays is None:
        return np.stack([np.asarray(y) for y in first], 1), {f"{name}/{w.name}": v.numpy()
                                                             for w, v in zip(planned, variables, strict=True)}
    for w, v in zip(planned, variables, strict=True):
        v.assign(arrays[f"{name}/{w.name}"].astype(np.float32))
    return np.stack([np.asarray(y) for y in run()], 1), arrays


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(("bidirectional", "layers"), [(False, 2), (True, 1), (True, 2)])
def test_tf1_stacks_to_keras_and_back(kind, bidirectional, layers):
    f = LayerFlags(kind, "tf1", 3, 2, bidirectional, layers)
    x = inputs(f, 0)
    _, created = tf1_stack(f, None, x)
    source = randomize(created, 7)
    expected, _ = tf1_stack(f, source, x)
    rec = recipe(f, "keras")
    assert rec.exact, rec.notes
    keras_flags = f._replace(framework="keras", reset_after=False if kind == "gru" else None)
    model = keras_model(keras_flags)
    keras_load(model, apply(rec, source))
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=2e-5)
    back = apply(recipe(keras_flags, "tf1"), apply(rec, source))
    for key, value in source.items():
        np.testing.assert_allclose(back[key], value, atol=1e-6)


# --- cuDNN (Keras 2 CuDNNLSTM/CuDNNGRU): proven against TensorFlow's own loader of their weights ----


def tf_cudnn_to_keras(kind: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """TensorFlow's conversion of CuDNNLSTM/CuDNNGRU weights for an LSTM / GRU(reset_after=True), as
    tf.keras's HDF5 loader does it (hdf5_format._convert_rnn_weights, given the real target layer)."""
    from tensorflow.python.keras.layers import recurrent
    from tensorflow.python.keras.saving import hdf5_format

    layer = recurrent.LSTM(2) if kind == "lstm" else recurrent.GRU(2, reset_after=True)
    return hdf5_format._convert_rnn_weights(layer, arrays)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(("units", "inp"), [(3, 2), (2, 5), (4, 4)])
def test_cudnn_recipes_agree_with_tensorflows_loader_and_run_in_keras_and_pytorch(kind, units, inp):
    import torch

    f = LayerFlags(kind, "cudnn", units, inp)
    layer = flags_layout(f).layers[0]
    names = [f"{layer.name}/{w.name}" for w in layer.weights]
    source = randomize({n: np.zeros(w.shape) for n, w in zip(names, layer.weights, strict=True)}, units * inp)
    # cuDNN -> Keras: the same arrays TensorFlow's own loader makes
    rec = recipe(f, "keras")
    assert rec.exact
    keras_flags = f._replace(framework="keras")
    ours = apply(rec, source)
    theirs = tf_cudnn_to_keras(kind, [source[n] for n in names])
    for mine, want in zip(ours.values(), theirs, strict=True):  # kernel, recurrent_kernel, bias
        np.testing.assert_allclose(mine, want, atol=1e-6)
    model = keras_model(keras_flags)
    keras_load(model, ours)
    # cuDNN -> PyTorch (PyTorch hands its weights to cuDNN as they are): the same outputs as that Keras
    module = torch_module(f._replace(framework="pytorch"))
    name = flags_layout(f._replace(framework="pytorch")).layers[0].name
    target = apply(recipe(f, "pytorch"), source)
    with torch.no_grad():
        for n, p in module.named_parameters():
            p.copy_(torch.from_numpy(target[f"{name}/{n}"].astype(np.float32)))
    x = inputs(f, 0)
    np.testing.assert_allclose(torch_run(module, x), np.asarray(model(x)), atol=2e-5)
    # Keras -> cuDNN -> (TensorFlow's loader) -> Keras gives the Keras weights back
    back = apply(recipe(keras_flags, "cudnn"), ours)
    again = tf_cudnn_to_keras(kind, [back[n] for n in names])
    for key, value in zip(ours, again, strict=True):
        np.testing.assert_allclose(value, ours[key], atol=1e-6)


# --- Flax: the layout is the tree flax.linen creates, and recipes run in flax.linen ----------------


def flax_model(f: LayerFlags):
    """nn.RNN over the flags' cell; nn.Bidirectional for both directions; a setup() list `layers`
    for a stack (each layer reads the previous layer's whole output, both directions concatenated)."""
    import flax.linen as nn

    cell = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.SimpleCell}[f.type]

    def layer():
        return nn.Bidirectional(nn.RNN(cell(f.units)), nn.RNN(cell(f.units))) if f.bidirectional \
            else nn.RNN(cell(f.units))

    if f.num_layers == 1:
        return layer()

    class Stack(nn.Module):
        def setup(self):
            self.layers = [layer() for _ in range(f.num_layers)]

        def __call__(self, x):
            for each in self.layers:
                x = each(x)
            return x

    return Stack()


def flax_shapes(f: LayerFlags) -> dict[str, tuple[int, ...]]:
    """The params flax creates for the model, by path (`params/...`), without computing them."""
    import jax
    from flax.traverse_util import flatten_dict

    tree = jax.eval_shape(flax_model(f).init, jax.random.key(0), np.zeros((BATCH, STEPS, f.input), np.float32))
    return {"/".join(k): tuple(v.shape) for k, v in flatten_dict(tree).items()}


def flax_run(f: LayerFlags, arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    import jax
    from flax.traverse_util import unflatten_dict

    tree = unflatten_dict({tuple(k.split("/")): v.astype(np.float32) for k, v in arrays.items()})
    return np.asarray(jax.jit(flax_model(f).apply)(tree, x))


flax_flags = st.builds(
    lambda kind, units, inp, bidi, layers: LayerFlags(kind, "flax", units, inp, bidi, layers),
    st.sampled_from(["lstm", "gru", "rnn"]), st.integers(1, 5), st.integers(1, 4), st.booleans(), st.integers(1, 2))


@settings(max_examples=10, deadline=None)
@given(flax_flags)
def test_flax_layout_is_the_param_tree_flax_creates(f):
    layer = flags_layout(f).layers[0]
    assert {f"{layer.name}/{w.name}": w.shape for w in layer.weights} == flax_shapes(f)


@settings(max_examples=6, deadline=None)
@given(flag_sets, st.integers(0, 10**6))
def test_pytorch_to_flax_gives_the_same_outputs(f, seed):
    module, source = random_torch(f, seed)
    rec = recipe(f, "flax")
    assert rec.exact, rec.notes
    x = inputs(f, seed)
    np.testing.assert_allclose(flax_run(f._replace(framework="flax"), apply(rec, source), x), torch_run(module, x),
                               atol=2e-5)


@settings(max_examples=6, deadline=None)
@given(flax_flags, st.integers(0, 10**6))
def test_flax_to_keras_and_back(f, seed):
    names = flax_shapes(f)
    source = randomize({k: np.zeros(s) for k, s in names.items()}, seed)
    x = inputs(f, seed)
    expected = flax_run(f, source, x)
    rec = recipe(f, "keras")
    assert rec.exact, rec.notes
    keras_flags = f._replace(framework="keras")
    model = keras_model(keras_flags)
    keras_load(model, apply(rec, source))
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=2e-5)
    back = apply(recipe(keras_flags, "flax"), apply(rec, source))  # Flax's biases survive the trip
    for key, value in source.items():
        np.testing.assert_allclose(back[key], value, atol=1e-6)


def test_a_reset_before_gru_has_no_flax_equivalent():
    rec = recipe(LayerFlags("gru", "keras", 3, 2, reset_after=False), "flax")
    assert not rec.exact and "reset_before" in rec.notes[0]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cudnn_stacks_convert_like_their_layers(kind):
    """A bidirectional cuDNN stack: straight to PyTorch equals going through Keras (each step proven above)."""
    f = LayerFlags(kind, "cudnn", 3, 2, True, 2)
    source = randomize({f"{layer.name}/{w.name}": np.zeros(w.shape) for layer in flags_layout(f).layers
                        for w in layer.weights}, 5)
    direct = apply(recipe(f, "pytorch"), source)
    via = apply(recipe(f._replace(framework="keras"), "pytorch"), apply(recipe(f, "keras"), source))
    assert direct.keys() == via.keys()
    for key, value in direct.items():
        if "bias" not in key:
            np.testing.assert_allclose(value, via[key], atol=1e-12)
        elif "bias_ih" in key:  # cuDNN keeps both biases as PyTorch does; through Keras they are folded
            other = key.replace("bias_ih", "bias_hh")
            np.testing.assert_allclose(value + direct[other], via[key] + via[other], atol=1e-12)
