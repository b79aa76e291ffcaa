"""Keras model files as graphs: models built and saved with the real Keras 3 (`keras`) and Keras 2
(`tf_keras`), read back by lstmcount without a framework, and checked layer by layer against the
saving Keras's own `count_params()` and output shapes."""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import pytest

from lstmcount import analyze, conventions
from lstmcount.accounting import report
from lstmcount.errors import SpecError
from lstmcount.inputs import load
from lstmcount.model import Model

pytestmark = pytest.mark.filterwarnings("ignore")


# --- --layer on a graph: the layer named, not the entry at its position ---------------------------

GRAPH = """\
framework: keras
inputs:
  a: [null, 5]
layers:
  - {type: LSTM, name: enc, units: 4, return_sequences: true, inputs: a}
  - {type: GRU, name: dec, units: 3, inputs: enc}
  - {reuse: dec, inputs: enc}
outputs: [dec, dec#2]
"""


def _lstm(u: int, i: int) -> int:
    return 4 * (u * (i + u) + u)


def _gru(u: int, i: int) -> int:  # reset_after: two bias vectors per gate
    return 3 * (u * (i + u) + 2 * u)


def test_layer_options_find_a_graph_layer_by_name(cli, tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text(GRAPH)
    r = cli("solve", str(spec), "--layer", "enc", "--budget", "1000")
    assert r.exit_code == 0, r.stderr
    n = int(r.stdout.split("enc.units = ")[1].split(":")[0])
    assert _lstm(n, 5) + _gru(3, n) <= 1000 < _lstm(n + 1, 5) + _gru(3, n + 1)
    r = cli("compare", str(spec), "--layer", "dec", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["rows"][0]["params"] == _gru(3, 4)  # dec reads enc's 4 features
    r = cli("layout", str(spec), "--layer", "dec", "--json")
    assert r.exit_code == 0, r.stderr
    assert {w["layer"] for w in json.loads(r.stdout)["weights"]} == {"dec"}


# --- real models, saved once per session by Keras 3 and by Keras 2 ---------------------------------


def seq2seq(K):
    """The character-level seq2seq: the decoder starts from the encoder's states."""
    L = K.layers
    enc_in, dec_in = K.Input((None, 7), name="enc_in"), K.Input((None, 9), name="dec_in")
    _, h, c = L.LSTM(6, return_state=True, name="encoder")(enc_in)
    dec = L.LSTM(6, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    return K.Model([enc_in, dec_in], L.Dense(9, activation="softmax", name="head")(dec), name="seq2seq")


def two_in_two_out(K):
    L = K.layers
    series, meta = K.Input((12, 4), name="series"), K.Input((5,), name="meta")
    x = L.GRU(8, reset_after=False, name="gru")(series)
    y = L.SimpleRNN(3, name="rnn")(L.Dense(2, name="lift")(series))
    return K.Model([series, meta], [L.Dense(1, name="price")(x), L.Dense(2, name="kind")(meta), y], name="two")


def siamese(K):
    """One LSTM and one Dense called on two inputs: their weights count once."""
    L = K.layers
    left, right = K.Input((None, 6), name="left"), K.Input((None, 6), name="right")
    shared, proj = L.LSTM(5, name="shared_lstm"), L.Dense(3, name="shared_proj")
    return K.Model([left, right], [proj(shared(left)), proj(shared(right))], name="siamese")


def nested(K):
    """A Sequential encoder and a functional head used as layers, the head called twice."""
    L = K.layers
    encoder = K.Sequential([K.Input((None, 4)), L.LSTM(6, return_sequences=True, name="enc_lstm"),
                            L.GRU(3, name="enc_gru")], name="encoder")
    head_in = K.Input((3,), name="head_in")
    head = K.Model(head_in, L.Dense(2, name="head_dense")(head_in), name="head")
    frames = K.Input((None, 4), name="frames")
    x = encoder(frames)
    return K.Model(frames, [head(x), head(L.Dense(3, name="side")(x))], name="nested")


def bidirectional_states(K):
    """A Bidirectional's output and both directions' states; the forward states start another LSTM."""
    L = K.layers
    x = K.Input((None, 5), name="x")
    out, fh, fc, bh, bc = L.Bidirectional(L.LSTM(4, return_state=True), name="bi")(x)
    after = L.LSTM(4, name="after")(x, initial_state=[fh, fc])
    return K.Model(x, [out, after, bh, bc], name="bidirectional")


def masked(K):
    """Embedding with mask_zero: the mask flows into the recurrent layers."""
    L = K.layers
    tokens = K.Input((None,), dtype="int32", name="tokens")
    x = L.LSTM(6, return_sequences=True, name="lstm")(L.Embedding(50, 8, mask_zero=True, name="embed")(tokens))
    return K.Model(tokens, L.GRU(3, name="gru")(x), name="masked")


def time_distributed(K):
    L = K.layers
    x = K.Input((10, 6), name="x")
    y = L.LSTM(5, return_sequences=True, name="lstm")(x)
    return K.Model(x, L.TimeDistributed(L.Dense(3, name="per_step"), name="td")(y), name="td_model")


def dense_graph(K):
    """What Keras 2 configs can be counted with today: shared, nested and wrapped non-recurrent layers."""
    L = K.layers
    a, b = K.Input((7, 5), name="a"), K.Input((7, 5), name="b")
    shared = L.Dense(4, name="shared")
    head_in = K.Input((7, 4), name="head_in")
    head = K.Model(head_in, L.Dense(3, name="head_dense")(head_in), name="head")
    tail = K.Sequential([K.Input((7, 4)), L.Dense(2, name="tail_dense"), L.Flatten(name="flat")], name="tail")
    x1, x2 = shared(a), shared(b)
    return K.Model([a, b], [L.TimeDistributed(L.Dense(6, name="step"), name="td")(head(x1)), tail(x2),
                            L.Conv1D(3, 2, name="conv")(head(x2)), shared(L.Dense(5, name="lift")(x1))],
                   name="dense_graph")


BUILDERS = [seq2seq, two_in_two_out, siamese, nested, bidirectional_states, masked, time_distributed, dense_graph]
KERAS2_COUNTED = {"dense_graph"}  # the others hold recurrent layers, whose Keras 2 arguments come later


class Saved(NamedTuple):
    model: Any  # the live Keras model that saved them
    paths: tuple[str, ...]  # .keras archive, to_json() file


@pytest.fixture(scope="session")
def saved(tmp_path_factory) -> dict[tuple[int, str], Saved]:
    """Every builder's model, built and saved once by Keras 3 and once by Keras 2 (tf_keras)."""
    import keras
    import tf_keras

    out = {}
    root = tmp_path_factory.mktemp("keras_files")
    for version, K in ((3, keras), (2, tf_keras)):
        for build in BUILDERS:
            model = build(K)
            archive, config = root / f"{build.__name__}_{version}.keras", root / f"{build.__name__}_{version}.json"
            model.save(archive)
            config.write_text(model.to_json())
            out[version, build.__name__] = Saved(model, (str(archive), str(config)))
    return out


def _output_shape(layout, label: str):
    """The shape of a `name[node][tensor]` output of a layout."""
    name, node, k = label.replace("]", "").split("[")
    layer = next(lay for lay in layout.layers if lay.name == name)
    if int(node) == 0:
        return (layer.outputs or (layer.output_shape,))[int(k)]
    assert int(k) == 0, label  # a further call keeps its first output's shape
    return layer.calls[int(node)].output_shape


def _shape(tensor) -> tuple:
    return tuple(None if d is None else int(d) for d in tuple(tensor.shape)[1:])


def _is_model(K, layer) -> bool:
    return isinstance(layer, K.Model)


def check_against_keras(path: str, kmodel, K) -> None:
    """lstmcount's reading of a saved file against the Keras model that saved it: the totals, each
    layer's count (a nested model's layers too), the model's output shapes, and each call of a layer:
    its output shapes and what it reads (Keras's own node order)."""
    model = load(path)
    layout = conventions.layout(model)
    rep = report(layout)
    assert rep.total == kmodel.count_params(), path
    assert {lay.name: lay.params for lay in rep.layers} == {lay.name: lay.count_params() for lay in kmodel.layers}
    ours = {lay.name: lay for lay in layout.layers}
    for klayer in kmodel.layers:
        if _is_model(K, klayer):
            assert {sub.name: sub.params for sub in ours[klayer.name].layers} == \
                {sub.name: sub.count_params() for sub in klayer.layers if type(sub).__name__ != "InputLayer"}
    assert [_output_shape(layout, label) for label in layout.outputs] == [_shape(t) for t in kmodel.outputs]
    for klayer in kmodel.layers:
        if _is_model(K, klayer) or type(klayer).__name__ == "InputLayer":
            continue
        nodes = klayer._inbound_nodes
        assert len(ours[klayer.name].calls) == len(nodes), klayer.name
        for call, node in zip(ours[klayer.name].calls, nodes, strict=True):
            assert call.output_shape == _shape(_flatten(node.output_tensors)[0]), klayer.name
            reads = _flatten(node.input_tensors)
            assert sorted(call.inbound) == sorted(label for t in reads for label in _labels(K, t)), klayer.name


def _flatten(tensors) -> list:
    import tensorflow as tf

    return tf.nest.flatten(tensors)


def _labels(K, tensor) -> list[str]:
    """Keras's `name[node][tensor]` of a tensor, numbering a nested model's calls from 0; a tensor a
    Keras operation computes (the NotEqual of Embedding's mask) -> the tensors it is computed from."""
    layer, node, k = tensor._keras_history
    if not isinstance(layer, K.layers.Layer):
        return [label for t in _flatten(layer._inbound_nodes[node].input_tensors) for label in _labels(K, t)]
    if K.__name__ != "keras" and _is_model(K, layer) and layer._inbound_nodes and layer._inbound_nodes[0].is_input:
        node -= 1  # Keras 2 counts a nested model's own first node
    return [f"{layer.name}[{node}][{k}]"]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_keras3_files_count_as_keras_does(saved, build):
    import keras

    for path in saved[3, build.__name__].paths:
        check_against_keras(path, saved[3, build.__name__].model, keras)


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_keras2_files_are_the_same_graphs(saved, build):
    """A Keras 2 file reads as the same graph as the Keras 3 file of the same model; where its layers'
    Keras 2 arguments are not taken yet, the refusal names the layer and the argument."""
    import tf_keras

    want = _structure(load(saved[3, build.__name__].paths[0]), masks=False)
    for path in saved[2, build.__name__].paths:
        model = load(path)
        assert _structure(model, masks=False) == want, path
        if build.__name__ in KERAS2_COUNTED:
            check_against_keras(path, saved[2, build.__name__].model, tf_keras)
            continue
        with pytest.raises(SpecError) as exc:
            conventions.layout(model)
        for message in exc.value.problems:
            assert re.match(rf"{re.escape(path)}: layer \d+ \(\w+\): \w+ takes no argument "
                            r"'(time_major|implementation|input_length|batch_input_shape)'", message), message


def _structure(model: Model, masks: bool = True):
    """A model's graph without its layers' arguments or locations: what each entry is and reads."""
    def ref(r):
        return None if r is None else (r.name, r.output)

    def call(c):
        if c is None:
            return None
        return (tuple(map(ref, c.inputs or ())), c.listed, tuple(map(ref, c.initial_state)),
                ref(c.mask) if masks else None, tuple((k, ref(r)) for k, r in c.keywords if masks or k != "mask"))

    return (tuple((s.type, s.args.get("name"), s.reuse, call(s.call), s.model and _structure(s.model, masks))
                  for s in model.layers),
            tuple((i.name, i.shape, i.dtype) for i in model.inputs), model.input_shape, tuple(map(ref, model.outputs)))


def test_what_the_readers_give(saved):
    """Hand-checked: the seq2seq decoder's initial states, the siamese reuse, the mask from Keras's
    own NotEqual operation followed back to the tokens, nested models' own Models."""
    model = load(saved[3, "seq2seq"].paths[0])
    assert [i.name for i in model.inputs] == ["enc_in", "dec_in"] and model.inputs[0].shape == (None, 7)
    decoder = next(s for s in model.layers if s.args.get("name") == "decoder")
    assert [(r.name, r.output) for r in decoder.call.initial_state] == [("encoder", 1), ("encoder", 2)]
    assert [(r.name, r.output) for r in model.outputs] == [("head", 0)]
    model = load(saved[3, "siamese"].paths[1])
    again = [s for s in model.layers if s.reuse == "shared_lstm"]
    assert len(again) == 1 and [r.name for r in again[0].call.inputs] == ["right"]
    lstm = next(s for s in load(saved[3, "masked"].paths[0]).layers if s.args.get("name") == "lstm")
    assert (lstm.call.mask.name, lstm.call.mask.output) == ("tokens", 0)
    model = load(saved[2, "nested"].paths[0])
    encoder = next(s for s in model.layers if s.type == "Sequential")
    assert encoder.model.input_shape == (None, 4) and [s.type for s in encoder.model.layers] == ["LSTM", "GRU"]
    head_calls = [s for s in model.layers if s.args.get("name") == "head" or s.reuse == "head"]
    assert [s.reuse for s in head_calls] == [None, "head"] and head_calls[0].model.inputs[0].name == "head_in"


def test_sequential_files_keep_their_chain(saved, tmp_path):
    """A Sequential is still a chain: the same names and numbers as before graphs."""
    import keras

    L = keras.layers
    seq = keras.Sequential([keras.Input((28, 28)), L.LSTM(75, name="lstm"), L.Dense(10, name="dense")])
    seq.save(tmp_path / "s.keras")
    model = load(str(tmp_path / "s.keras"))
    assert not model.is_graph and model.input_shape == (28, 28)
    assert [(s.index, s.type, s.args["name"]) for s in model.layers] == [(1, "LSTM", "lstm"), (2, "Dense", "dense")]
    assert analyze(str(tmp_path / "s.keras")).total == seq.count_params() == 31_960
