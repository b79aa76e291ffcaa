"""Every layer kind lstmcount knows, as Keras 2 (tf_keras) saves it: models built and saved once per
session with the real tf_keras as `to_json()`, legacy `.h5` and tf_keras `.keras` files, read back by
lstmcount without a framework. Each file must count as the saving Keras counts (`count_params()` of the
model as saved): the total, each layer, and each layer's output shape. Also what older Keras 2 wrote
(a Sequential without an InputLayer, its list-valued config, a GRU from before `reset_after`),
`time_major`, and CuDNNLSTM / CuDNNGRU (which tf_keras builds and saves on a CPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount import conventions
from lstmcount.accounting import report
from lstmcount.inputs import load

from .test_keras_files import check_against_keras

pytestmark = pytest.mark.filterwarnings("ignore")


def _cudnn(K: Any) -> tuple[Any, Any]:
    """tf_keras's CuDNNLSTM and CuDNNGRU (tf.compat.v1.keras.layers in TensorFlow 2)."""
    from tf_keras.src.layers.rnn.cudnn_gru import CuDNNGRU
    from tf_keras.src.layers.rnn.cudnn_lstm import CuDNNLSTM

    return CuDNNLSTM, CuDNNGRU


# Each family: (name, input shape of one sample, the layers of a chain, as tf_keras code writes them).
def families(K: Any) -> list[tuple[str, tuple[int, ...], list[Any]]]:
    L = K.layers
    CuDNNLSTM, CuDNNGRU = _cudnn(K)
    return [
        ("recurrent", (6, 5), [
            L.LSTM(3, return_sequences=True), L.GRU(4, reset_after=False, return_sequences=True),
            L.GRU(3, return_sequences=True, implementation=1), L.SimpleRNN(2, return_sequences=True),
            L.Bidirectional(L.LSTM(2, return_sequences=True)),
            L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="sum",
                            backward_layer=L.GRU(2, return_sequences=True, go_backwards=True)),
            L.RNN(L.LSTMCell(3), return_sequences=True), L.RNN([L.GRUCell(2), L.SimpleRNNCell(3)],
                                                                return_sequences=True), L.LSTM(2)]),
        ("masked", (6, 5), [L.Masking(), L.LSTM(2, return_sequences=True)]),
        ("time_major", (6, 5), [L.LSTM(2, return_sequences=True, time_major=True), L.GRU(3, time_major=True)]),
        ("cudnn", (6, 5), [CuDNNLSTM(3, return_sequences=True), CuDNNGRU(4, return_sequences=True),
                           L.Bidirectional(CuDNNLSTM(2, return_sequences=True)),
                           L.Bidirectional(CuDNNGRU(2), merge_mode="ave")]),
        ("core", (6, 5), [
            L.Dense(3), L.Dropout(0.1), L.AlphaDropout(0.1), L.GaussianDropout(0.1), L.GaussianNoise(0.1),
            L.ActivityRegularization(), L.Activation("relu"), L.LeakyReLU(), L.PReLU(), L.ELU(), L.ReLU(),
            L.Softmax(), L.LayerNormalization(), L.BatchNormalization(), L.UnitNormalization(), L.Flatten(),
            L.RepeatVector(2), L.Reshape((6, 6)), L.Permute((2, 1)), L.TimeDistributed(L.Dense(2)),
            L.Dense(4, use_bias=False), L.GlobalAveragePooling1D()]),
        ("sequence", (6,), [
            L.Embedding(10, 4, input_length=6), L.SpatialDropout1D(0.1), L.Conv1D(4, 2), L.Conv1D(4, 2, groups=2),
            L.Conv1DTranspose(2, 2), L.SeparableConv1D(3, 2), L.DepthwiseConv1D(2), L.MaxPooling1D(),
            L.AveragePooling1D(1), L.UpSampling1D(), L.ZeroPadding1D(), L.Cropping1D(1), L.GlobalMaxPooling1D()]),
        ("conv2d", (8, 8, 3), [
            L.Conv2D(3, 2), L.SpatialDropout2D(0.1), L.Conv2DTranspose(2, 2), L.SeparableConv2D(3, 2),
            L.DepthwiseConv2D(2, depth_multiplier=2), L.MaxPooling2D(), L.UpSampling2D(), L.AveragePooling2D(1),
            L.ZeroPadding2D(), L.Cropping2D(1), L.BatchNormalization(axis=1), L.GroupNormalization(2),
            L.GlobalAveragePooling2D()]),
        ("conv3d", (6, 6, 6, 2), [
            L.Conv3D(2, 2), L.SpatialDropout3D(0.1), L.Conv3DTranspose(2, 2), L.MaxPooling3D(), L.UpSampling3D(),
            L.AveragePooling3D(1), L.ZeroPadding3D(), L.Cropping3D(1), L.GlobalMaxPooling3D()]),
        ("convlstm", (3, 6, 6, 2), [L.ConvLSTM2D(2, 2, return_sequences=True), L.ConvLSTM2D(2, 2),
                                           L.GlobalMaxPooling2D()]),
        ("convlstm1d", (3, 6, 2), [L.ConvLSTM1D(2, 2)]),
        ("convlstm3d", (3, 4, 4, 4, 2), [L.ConvLSTM3D(2, 2), L.GlobalAveragePooling3D()]),
        ("preprocessing", (4,), [L.Rescaling(0.5), L.Normalization(mean=0.0, variance=1.0), L.Dense(2),
                                 L.Dense(3, dtype="mixed_float16"), L.BatchNormalization(axis=[1])]),
    ]


def graph(K: Any) -> Any:
    """The layers called on several tensors: merges and attention, in a functional model."""
    L = K.layers
    a, b = K.Input((5, 4), name="a"), K.Input((5, 4), name="b")
    x = L.Dense(4, name="d")(a)
    merged = [L.Add()([x, b]), L.Subtract()([x, b]), L.Multiply()([x, b]), L.Average()([x, b]),
              L.Maximum()([x, b]), L.Minimum()([x, b])]
    att = [L.Attention()([x, b]), L.AdditiveAttention()([x, b]),
           L.MultiHeadAttention(num_heads=2, key_dim=3)(x, b)]
    cat = L.Concatenate()([*merged, *att])
    dot = L.Dot(axes=2)([x, b])
    return K.Model([a, b], [L.LSTM(3)(cat), L.Flatten()(dot)])


class File(NamedTuple):
    path: str
    model: Any  # the live tf_keras model that saved it


def _models(K: Any, shape: tuple[int, ...], make: Any) -> dict[str, Any]:
    """A chain (`make()`: new layers each time) three ways: a Sequential on an Input, a Sequential whose
    first layer takes the input (Keras 2 code's input_shape=), and a functional model."""
    seq = K.Sequential([K.Input(shape), *make()])
    first, *rest = make()
    first._batch_input_shape = (None, *shape)  # what input_shape= on the layer sets
    given = K.Sequential([first, *rest])
    x = inp = K.Input(shape)
    for layer in make():
        x = layer(x)
    return {"sequential": seq, "input_shape": given, "functional": K.Model(inp, x)}


@pytest.fixture(scope="session")
def keras2_files(tmp_path_factory) -> list[File]:
    """Every family, each way, saved by tf_keras as to_json() and .h5 (and the functional ones as .keras);
    and the merge graph."""
    import tf_keras as K

    root = tmp_path_factory.mktemp("keras2_layers")
    models = {f"{name}_{way}": m for k, (name, shape, _) in enumerate(families(K))
              for way, m in _models(K, shape, lambda k=k: families(K)[k][2]).items()}
    models["graph"] = graph(K)
    out = []
    for stem, model in models.items():
        config, h5, archive = (root / f"{stem}.{ext}" for ext in ("json", "h5", "keras"))
        config.write_text(model.to_json())
        model.save(h5)
        out += [File(str(p), model) for p in (config, h5)]
        if not stem.endswith(("_sequential", "_input_shape")):  # a .keras archive holds the same config
            model.save(archive)
            out.append(File(str(archive), model))
    return out


def _shape(shape: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tuple(shape)[1:])


def check_chain(path: str, kmodel: Any) -> None:
    """A file against the Keras model that saved it: total, each layer's count and output shape."""
    model = load(path)
    layout = conventions.layout(model)
    rep = report(layout)
    assert rep.total == kmodel.count_params(), path
    assert {lay.name: lay.params for lay in rep.layers} == {lay.name: lay.count_params() for lay in kmodel.layers}
    ours = {lay.name: lay.output_shape for lay in layout.layers}
    for klayer in kmodel.layers:
        if getattr(klayer, "time_major", False) and not klayer.return_sequences:
            # Keras 2's time-major output keeps the batch on axis 0 of what it stores: (batch, units)
            assert ours[klayer.name] == (klayer.units,), path
            continue
        out = klayer.output_shape
        assert ours[klayer.name] == _shape(out[0] if isinstance(out, list) else out), (path, klayer.name)


def test_every_kind_counts_as_keras_2_saved_it(keras2_files):
    import tf_keras

    assert len(keras2_files) == 7 * len(families(tf_keras)) + 3
    for f in keras2_files:
        check_chain(f.path, f.model)
        if isinstance(f.model, tf_keras.Sequential) or any(getattr(lay, "time_major", False)
                                                            for lay in f.model.layers):
            continue
        if Path(f.path).stem == "graph":  # Keras 2 gives a MultiHeadAttention's value by keyword, which its
            _connected_as_keras_2(f)  # node's input_tensors leave out and its summary's Connected to shows
        else:
            check_against_keras(f.path, f.model, tf_keras)  # each call: what it reads, its output shape


def _connected_as_keras_2(f: File) -> None:
    """Each layer's Connected to as Keras 2's own summary lists it: every tensor of the call (keras_inputs)."""
    layout = conventions.layout(load(f.path))
    ours = {lay.name: lay for lay in layout.layers}
    for klayer in f.model.layers[2:]:
        (node,) = klayer._inbound_nodes
        labels = []
        for t in node.keras_inputs:
            layer, k, i = t._keras_history
            labels.append(f"{layer.name}[{k}][{i}]")
        assert sorted(ours[klayer.name].calls[0].inbound) == sorted(labels), klayer.name


def test_every_known_kind_is_in_the_files(keras2_files):
    """The families cover every Keras kind lstmcount knows that tf_keras has (no kind left untested)."""
    import tf_keras

    saved = {type(layer).__name__ for f in keras2_files for layer in _all_layers(f.model)}
    known = set(conventions.KERAS.kinds) - {"custom", "Lambda", "StackedRNNCells"}
    missing = {k for k in known - saved if hasattr(tf_keras.layers, k) or k in ("CuDNNLSTM", "CuDNNGRU")}
    # StackedRNNCells: an RNN given a list of cells holds one (checked below)
    assert not missing, missing
    rnn = next(layer for f in keras2_files for layer in f.model.layers if type(layer).__name__ == "RNN"
               and isinstance(layer.cell, tf_keras.layers.StackedRNNCells))
    assert rnn is not None


def _all_layers(model: Any) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        for attr in ("layer", "forward_layer", "backward_layer", "cell"):
            inner = getattr(layer, attr, None)
            if inner is not None:
                out.append(inner)
    return out


# --- what older Keras 2 wrote -------------------------------------------------------------------------

def _json(f: File) -> dict[str, Any]:
    return json.loads(Path(f.path).read_text())


def _file(keras2_files: list[File], stem: str) -> File:
    return next(f for f in keras2_files if Path(f.path).name == f"{stem}.json")


def test_a_sequential_without_an_input_layer(keras2_files, tmp_path):
    """Keras 2 before TF 2 wrote no InputLayer: the first layer's batch_input_shape is the model's input;
    before 2.2.5 a Sequential's config was the list of its layers."""
    for name, shape in {"recurrent": (6, 5), "core": (6, 5), "conv2d": (8, 8, 3)}.items():
        f = _file(keras2_files, f"{name}_input_shape")
        data = _json(f)
        layers = data["config"]["layers"]
        assert layers[0]["class_name"] == "InputLayer" and layers[1]["config"]["batch_input_shape"] == [None, *shape]
        for form, config in (("no_input", {**data["config"], "layers": layers[1:]}), ("list", layers[1:])):
            path = tmp_path / f"{name}_{form}.json"
            path.write_text(json.dumps({**data, "config": config}))
            model = load(str(path))
            assert model.input_shape == shape
            assert report(conventions.layout(model)).total == f.model.count_params(), (name, form)


def test_a_gru_from_before_reset_after(tmp_path, cli, monkeypatch):
    """Keras 2 before 2.1 had no reset_after (its GRU had one bias vector): a config without it counts as
    tf_keras counts reset_after=False, and the note says Keras 3 would count 3 x units more."""
    import tf_keras as K

    old = K.Sequential([K.Input((7, 5)), K.layers.GRU(4, reset_after=False, name="g")])
    data = json.loads(old.to_json())
    del data["config"]["layers"][1]["config"]["reset_after"]
    monkeypatch.chdir(tmp_path)  # a file named as users name it, without a folder
    path = "old_gru.json"
    Path(path).write_text(json.dumps(data))
    r = cli("params", path, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["total"] == old.count_params() == 3 * (4 * (5 + 4) + 4)
    assert f"{path}: note: layer 1 'g' (GRU): has no reset_after, so it was saved by Keras 2 before 2.1" in r.stderr
    assert r.stderr.count("note:") == 1, r.stderr  # the note says its file once
    assert "Keras 3 would read the same config with reset_after: true, 12 parameters more" in r.stderr
    new = K.Sequential([K.Input((7, 5)), K.layers.GRU(4)])
    assert new.count_params() - old.count_params() == 12


def test_time_major(keras2_files, cli):
    """time_major=True: the same weights (tf_keras's count), one note per layer naming it."""
    f = next(f for f in keras2_files if f.path.endswith("time_major_functional.h5"))
    r = cli("params", f.path, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["total"] == f.model.count_params()
    notes = [line for line in r.stderr.splitlines() if "time_major: true is Keras 2's" in line]
    assert len(notes) == 2 and all(" (LSTM): " in notes[0] or " (GRU): " in n for n in notes)


def test_time_major_macs_are_left_out_not_guessed(keras2_files, cli):
    """A time-major layer's steps sit on the axis the file's shapes call the batch (tf_keras saves the
    Input's first axis as its batch): its MACs are left out with a note rather than counted over that
    axis; the other layers' are counted."""
    import tf_keras as K

    f = next(f for f in keras2_files if f.path.endswith("time_major_functional.h5"))
    r = cli("params", f.path, "--json", "--timesteps", "7")
    assert r.exit_code == 0, r.stderr
    macs = {layer["name"]: layer.get("macs") for layer in json.loads(r.stdout)["layers"]}
    recurrent = [lay.name for lay in f.model.layers if getattr(lay, "time_major", False)]
    assert len(recurrent) == 2 and all(not macs[name] for name in recurrent)
    assert "MACs leave out" in r.stderr and "time-major layout keeps its time steps" in r.stderr
    plain = K.Sequential([K.Input((6, 5)), K.layers.LSTM(2, name="lstm")])
    path = Path(f.path).with_name("batch_first.h5")
    plain.save(path)
    r = cli("params", str(path), "--json", "--timesteps", "7")
    assert json.loads(r.stdout)["layers"][0]["macs"] == 6 * 4 * (5 + 2) * 2  # its own 6 steps, counted


# --- CuDNNLSTM / CuDNNGRU --------------------------------------------------------------------------------

def test_cudnn_weights_are_tf_keras_own(keras2_files):
    """Weight names and shapes as tf_keras builds them: a second bias per gate."""
    f = next(f for f in keras2_files if f.path.endswith("cudnn_functional.json"))
    layout = conventions.layout(load(f.path))
    ours = {f"{lay.name}/{w.name}": w.shape for lay in layout.layers for w in lay.weights}
    theirs = {w.name.removesuffix(":0"): tuple(w.shape) for w in f.model.weights}
    assert ours == theirs
    lstm = next(lay for lay in layout.layers if lay.type == "CuDNNLSTM")
    assert dict(w[:2] for w in ((w.name, w.shape) for w in lstm.weights)) == {
        "kernel": (5, 12), "recurrent_kernel": (3, 12), "bias": (24,)}
    gru = next(lay for lay in layout.layers if lay.type == "CuDNNGRU")
    assert [w.shape for w in gru.weights] == [(3, 12), (4, 12), (24,)]


def test_cudnn_per_gate_breakdown(cli, keras2_files):
    f = next(f for f in keras2_files if f.path.endswith("cudnn_sequential.h5"))
    r = cli("params", f.path)
    assert r.exit_code == 0, r.stderr
    assert "4 × ((5 + 3) × 3 + 2 × 3) = 120" in r.stdout  # each gate: kernel, recurrent, two biases
    assert "3 × ((3 + 4) × 4 + 2 × 4) = 108" in r.stdout


# --- hypothesis over arguments -------------------------------------------------------------------------

@st.composite
def keras2_layers(draw):
    """(input shape, one tf_keras layer's constructor and arguments)."""
    kind = draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "Conv1D", "SeparableConv1D",
                                 "Conv1DTranspose", "BatchNormalization", "Bidirectional"]))
    steps, features = draw(st.integers(3, 8)), draw(st.integers(1, 6))
    units = draw(st.integers(1, 6))
    seq = draw(st.booleans())
    if kind in ("LSTM", "GRU", "SimpleRNN"):
        args: dict[str, Any] = {"units": units, "return_sequences": seq, "use_bias": draw(st.booleans()),
                                "time_major": draw(st.booleans())}
        if kind == "GRU":
            args["reset_after"] = draw(st.booleans())
        if kind != "SimpleRNN":
            args["implementation"] = draw(st.sampled_from([1, 2]))
    elif kind.startswith("CuDNN"):
        args = {"units": units, "return_sequences": seq}
    elif kind == "Bidirectional":
        args = {"merge_mode": draw(st.sampled_from(["concat", "sum", "mul", "ave"])),
                "inner": draw(st.sampled_from(["LSTM", "GRU", "CuDNNLSTM"])), "units": units, "seq": seq}
    elif kind == "BatchNormalization":
        args = {"axis": draw(st.sampled_from([-1, 2, 1])), "center": draw(st.booleans()),
                "scale": draw(st.booleans())}
    else:
        args = {"filters": units * 2 if kind == "Conv1D" else units, "kernel_size": draw(st.integers(1, 3)),
                "padding": draw(st.sampled_from(["valid", "same"])), "use_bias": draw(st.booleans())}
        if kind == "SeparableConv1D":
            args["depth_multiplier"] = draw(st.integers(1, 3))
    return (steps, features), kind, args


def _layer(K: Any, kind: str, args: dict[str, Any]) -> Any:
    CuDNNLSTM, CuDNNGRU = _cudnn(K)
    classes = {"CuDNNLSTM": CuDNNLSTM, "CuDNNGRU": CuDNNGRU}
    if kind == "Bidirectional":
        cls = classes.get(args["inner"]) or getattr(K.layers, args["inner"])
        return K.layers.Bidirectional(cls(args["units"], return_sequences=args["seq"]), merge_mode=args["merge_mode"])
    return (classes.get(kind) or getattr(K.layers, kind))(**args)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=keras2_layers(), way=st.sampled_from(["sequential", "input_shape", "functional"]))
def test_random_keras2_layers(tmp_path, case, way):
    import tf_keras as K

    shape, kind, args = case
    model = _models(K, shape, lambda: [_layer(K, kind, args), K.layers.Dense(2)])[way]
    path = tmp_path / f"{kind}_{way}.json"
    path.write_text(model.to_json())
    check_chain(str(path), model)


def test_solve_and_compare_take_a_cudnn_layer(cli, keras2_files):
    """solve sizes a CuDNNLSTM by the cuDNN count (two biases per gate): the units it finds are the most
    whose model tf_keras counts within the budget; compare lays the layer beside the other conventions."""
    import re

    import tf_keras as K

    f = next(f for f in keras2_files if f.path.endswith("cudnn_sequential.h5"))
    name = f.model.layers[0].name
    r = cli("solve", f.path, "--layer", name, "--budget", "3000")
    assert r.exit_code == 0, r.stderr
    n = int(re.search(r"\.units = (\d+):", r.stdout).group(1))

    def total(units: int) -> int:
        CuDNNLSTM, _ = _cudnn(K)
        layers = next(layers for fam, _, layers in families(K) if fam == "cudnn")
        return K.Sequential([K.Input((6, 5)), CuDNNLSTM(units, return_sequences=True), *layers[1:]]).count_params()

    assert total(n) <= 3000 < total(n + 1)
    assert f"units = {n}: {total(n):,} parameters (budget 3,000; {n + 1} would need {total(n + 1):,})" in r.stdout
    r = cli("compare", f.path, "--layer", name, "--json")
    assert r.exit_code == 0, r.stderr
    rows = {(row["framework"], row["variant"]): row["params"] for row in json.loads(r.stdout)["rows"]}
    assert rows[("cudnn", "default")] == f.model.layers[0].count_params() == 4 * (3 * (5 + 3) + 2 * 3)
    assert rows[("keras", "default")] == rows[("cudnn", "default")] - 4 * 3  # one bias per gate


def test_the_readme_keras2_example_is_what_tf_keras_counts(cli):
    """examples/imdb_keras2.json is tf_keras's to_json() of a Keras 2 tutorial model (Embedding with
    input_length, a Bidirectional CuDNNLSTM, a GRU): the same code writes the same config today, and
    lstmcount counts it as tf_keras does, layer by layer."""
    import tf_keras as K

    from .conftest import ROOT

    CuDNNLSTM, _ = _cudnn(K)
    L = K.layers
    model = K.Sequential([L.Embedding(20000, 128, input_length=80, name="embedding"),
                          L.Bidirectional(CuDNNLSTM(64, return_sequences=True, name="lstm"), name="bilstm"),
                          L.GRU(32, name="gru"), L.Dense(1, activation="sigmoid", name="sentiment")],
                         name="imdb_sentiment")
    model.build((None, 80))
    path = ROOT / "examples" / "imdb_keras2.json"
    written = json.loads(path.read_text())
    assert written["config"] == json.loads(model.to_json())["config"]
    r = cli("params", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["total"] == model.count_params() == 2_674_913
    assert [layer["params"] for layer in data["layers"]] == [layer.count_params() for layer in model.layers]


@pytest.mark.parametrize("axis", [[1, 3], [-1, 2], [1, 2, 3]])
def test_batch_normalization_over_several_axes_counts_as_keras_2(tmp_path, cli, axis):
    """Keras 2's BatchNormalization takes a list of axes: its weights keep one value per position of
    those axes, shaped with every axis of the input (1 elsewhere). Keras 3 takes one axis: the note says
    so, and verify refuses it rather than build something else."""
    import tf_keras as K

    model = K.Sequential([K.Input((4, 5, 6)), K.layers.BatchNormalization(axis=axis, name="bn")])
    path = tmp_path / "bn.h5"
    model.save(path)
    r = cli("params", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    (layer,) = json.loads(r.stdout)["layers"]
    assert layer["params"] == model.count_params()
    assert [(w["name"], tuple(w["shape"])) for w in layer["weights"]] == \
        [(w.name.split("/")[-1].split(":")[0], tuple(w.shape)) for w in model.layers[0].weights]
    assert "Keras 3's BatchNormalization takes one axis" in r.stderr
    v = cli("verify", str(path))
    assert v.exit_code == 2 and "normalizes over one axis" in v.stderr, v.stderr


def test_a_spec_batch_normalization_takes_one_axis(cli, tmp_path):
    """A spec is Keras 3's: a list of axes is refused, saying why."""
    spec = tmp_path / "bn.yaml"
    spec.write_text("input_shape: [4, 5, 6]\nlayers:\n  - {type: BatchNormalization, axis: [1, 3]}\n")
    r = cli("params", str(spec))
    assert r.exit_code == 2 and "Keras 3 normalizes over one axis" in r.stderr, r.stderr
