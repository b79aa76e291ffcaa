"""Keras model files as graphs: models built and saved with the real Keras 3 (`keras`) and Keras 2
(`tf_keras`), read back by lstmcount without a framework, and checked layer by layer against the
saving Keras's own `count_params()` and output shapes."""

from __future__ import annotations

import copy
import json
import re
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    """Shared, nested and wrapped non-recurrent layers in one graph."""
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


def explicit_mask(K):
    """A mask given as its own input: the LSTM reads it, and it leads to the output."""
    L = K.layers
    x, mask = K.Input((6, 3), name="x"), K.Input((6,), dtype="bool", name="mask")
    return K.Model([x, mask], L.LSTM(3, name="lstm")(x, mask=mask), name="explicit_mask")


def calls_out_of_order(K):
    """A layer's second call reads a layer made after it, its third an input: Keras numbers the calls
    in the order they were made, and so must the walk."""
    L = K.layers
    x, y = K.Input((7, 5), name="x"), K.Input((7, 5), name="y")
    again = L.Dense(4, name="again")
    later = L.Dense(5, name="later")(again(x))
    return K.Model([x, y], [again(later), again(y)], name="order")


BUILDERS = [seq2seq, two_in_two_out, siamese, nested, bidirectional_states, masked, explicit_mask, time_distributed,
            dense_graph, calls_out_of_order]
# every model: Keras 2 files count as the Keras 2 that saved them (time_major=False is its only layout)
# explicit_mask: counted, but Keras 2 lists a call's mask among its inbound tensors in another order, so
# Connected to differs from Keras 2's (the count is checked; the labels not yet)
KERAS2_COUNTED = {b.__name__ for b in BUILDERS} - {"explicit_mask"}


class Saved(NamedTuple):
    model: Any  # the live Keras model that saved them
    paths: tuple[str, ...]  # .keras archive, to_json() file, legacy .h5 file


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
            archive, config, h5 = (root / f"{build.__name__}_{version}.{ext}" for ext in ("keras", "json", "h5"))
            model.save(archive)
            config.write_text(model.to_json())
            model.save(h5)
            out[version, build.__name__] = Saved(model, (str(archive), str(config), str(h5)))
    return out


def _output_shape(layout, label: str):
    """The shape of a `name[node][tensor]` output of a layout."""
    name, node, k = label.replace("]", "").split("[")
    layer = next(lay for lay in layout.layers if lay.name == name)
    if int(node) == 0 or (int(k) > 0 and layer.recurrent):  # a recurrent layer's states: the same on each call
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
        return list(dict.fromkeys(label for t in _flatten(layer._inbound_nodes[node].input_tensors)
                                  for label in _labels(K, t)))  # each tensor a mask is computed from, once
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
        try:  # counted exactly, or refused naming a Keras 2 argument: never a wrong count
            counted = conventions.layout(model).params
        except SpecError as exc:
            for message in exc.value.problems:
                assert re.match(rf"{re.escape(path)}: layer \d+ \(\w+\): \w+ takes no argument "
                                r"'(time_major|implementation|input_length|batch_input_shape)'", message), message
        else:
            assert counted == saved[2, build.__name__].model.count_params(), path


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


# --- random functional models: recurrent, dense, wrapped, shared and nested layers ------------------

RNNS = ("LSTM", "GRU", "SimpleRNN")


class Op(NamedTuple):
    """One step of a random model: what it makes, what it reads (tensor numbers), its sizes."""

    kind: str  # rnn, bi, dense, td, share, nest
    src: int
    cls: str = "LSTM"
    units: int = 1
    sequences: bool = False
    state: bool = False
    initial: tuple[int, ...] = ()
    merge: str | None = "concat"
    target: int = -1  # share: the op whose layer is called again
    width: int = 1  # the features of what it reads (a nested model's input)
    inner: str = "Dense"  # a nested model's last layer


class Recipe(NamedTuple):
    inputs: tuple[tuple[int | None, int], ...]  # (steps, features)
    ops: tuple[Op, ...]


@st.composite
def recipes(draw):
    """A random functional model, as data: each tensor's rank and width are tracked so every step fits."""
    inputs = tuple((draw(st.sampled_from([None, 3, 5])), draw(st.integers(1, 5)))
                   for _ in range(draw(st.integers(1, 2))))
    tensors: list[tuple[int, int]] = [(2, f) for _, f in inputs]  # (rank, width) of each tensor made
    made: list[tuple[Op, int, int, list[tuple[int, int]]]] = []  # (op, input rank, width, outputs) per layer
    ops: list[Op] = []
    kinds = ["rnn", "bi", "dense", "td", "share", "nest"]
    for step in range(draw(st.integers(len(inputs), len(inputs) + 5))):
        # the first steps read each input in turn, so every input leads to an output
        kind = draw(st.sampled_from(kinds)) if step >= len(inputs) else draw(st.sampled_from(kinds[:-2]))
        seqs = [i for i, (rank, _) in enumerate(tensors) if rank == 2]
        src = step if step < len(inputs) else draw(st.sampled_from(range(len(tensors))))
        if kind in ("rnn", "bi", "td", "nest") and tensors[src][0] != 2:
            src = draw(st.sampled_from(seqs))
        units = draw(st.integers(1, 4))
        rank, width = tensors[src]
        if kind == "share":
            fits = [m for m in made if (m[1], m[2]) == (rank, width)]
            if not fits:
                kind = "dense"
            else:
                op, _, _, outs = draw(st.sampled_from(fits))
                ops.append(Op("share", src, target=ops.index(op)))
                tensors += outs
                continue
        if kind == "rnn":
            cls = draw(st.sampled_from(RNNS))
            op = Op("rnn", src, cls, units, draw(st.booleans()), draw(st.booleans()))
            need = 2 if cls == "LSTM" else 1
            states = [i for i, (r, w) in enumerate(tensors) if (r, w) == (1, units)]
            if len(states) >= need and draw(st.booleans()):
                op = op._replace(initial=tuple(draw(st.permutations(states)))[:need])
            out = (2, units) if op.sequences else (1, units)
            outs = [out] + [(1, units)] * (need if op.state else 0)
        elif kind == "bi":
            cls = draw(st.sampled_from(RNNS))
            merge = draw(st.sampled_from(["concat", "sum", "mul", "ave"]))
            op = Op("bi", src, cls, units, draw(st.booleans()), draw(st.booleans()), merge=merge)
            width_out = 2 * units if merge == "concat" else units
            need = 2 if cls == "LSTM" else 1
            outs = [(2 if op.sequences else 1, width_out)] + [(1, units)] * (2 * need if op.state else 0)
        elif kind == "nest":
            op = Op("nest", src, draw(st.sampled_from(["Sequential", "Functional"])), units, draw(st.booleans()),
                    width=width, inner=draw(st.sampled_from(RNNS)))
            outs = [(2 if op.sequences or op.inner == "Dense" else 1, units)]
        else:  # dense on anything, td on a sequence
            op = Op(kind, src, units=units)
            outs = [(rank, units)]
        ops.append(op)
        made.append((op, rank, width, outs))
        tensors += outs
    return Recipe(inputs, tuple(ops))


def build_recipe(K, recipe: Recipe):
    """The Keras model of a recipe; its outputs are every tensor nothing else reads."""
    L = K.layers
    inputs = [K.Input((steps, f)) for steps, f in recipe.inputs]
    tensors = list(inputs)
    layers: list[Any] = []
    read: set[int] = set()

    def rnn(cls, op):
        return getattr(L, cls)(op.units, return_sequences=op.sequences, return_state=op.state)

    for op in recipe.ops:
        read |= {op.src, *op.initial}
        x = tensors[op.src]
        if op.kind == "share":
            layer = layers[op.target]
        elif op.kind == "rnn":
            layer = rnn(op.cls, op)
        elif op.kind == "bi":
            layer = L.Bidirectional(rnn(op.cls, op), merge_mode=op.merge)
        elif op.kind == "dense":
            layer = L.Dense(op.units)
        elif op.kind == "td":
            layer = L.TimeDistributed(L.Dense(op.units))
        else:  # a nested model
            last = L.Dense(op.units) if op.inner == "Dense" else getattr(L, op.inner)(op.units,
                                                                                     return_sequences=op.sequences)
            if op.cls == "Sequential":
                layer = K.Sequential([K.Input((None, op.width)), last])
            else:
                inner = K.Input((None, op.width))
                layer = K.Model(inner, last(L.Dense(2)(inner)))
        layers.append(layer)
        out = layer(x, initial_state=[tensors[i] for i in op.initial]) if op.initial else layer(x)
        tensors += list(out) if isinstance(out, (list, tuple)) else [out]
    outputs = [t for i, t in enumerate(tensors) if i not in read]
    return K.Model(inputs, outputs)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recipes())
def test_random_keras3_graphs(recipe):
    import keras

    _saved_and_checked(keras, recipe)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(recipes())
def test_random_keras2_graphs(recipe):
    """Keras 2 graphs, recurrent layers included (their time_major=False is read as Keras 2 meant it)."""
    import tf_keras

    _saved_and_checked(tf_keras, recipe)


def _saved_and_checked(K, recipe) -> None:
    """The recipe's model built and saved by this Keras (.keras archive and to_json), each file read
    back and checked against the model layer by layer."""
    model = build_recipe(K, recipe)
    with tempfile.TemporaryDirectory() as tmp:
        archive, config = Path(tmp, "m.keras"), Path(tmp, "m.json")
        model.save(archive)
        config.write_text(model.to_json())
        for path in (archive, config):
            check_against_keras(str(path), model, K)


# --- configs Keras would not write: located refusals, never a traceback ------------------------------


def _history(layer: dict, k: int = 0) -> list:
    """The keras_history of a Keras 3 node's first positional tensor."""
    return layer["inbound_nodes"][k]["args"][0]["config"]["keras_history"]


def _set(path: tuple, value):
    def edit(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _custom(data):
    head = data["config"]["layers"][4]
    head.update(class_name="CTCLayer", module="__main__", registered_name=None)


def _wrap_unknown(data):
    head = data["config"]["layers"][4]
    head.update(class_name="TimeDistributed")
    head["config"].update(layer={"class_name": "Dense2", "config": {"units": 3}})


BROKEN = [  # (what, edit of the seq2seq config, the message after `file: `)
    ("config-a-list", lambda d: d.update(config=[]), "the model configuration is a list, not a mapping"),
    ("config-a-string", lambda d: d.update(config="x"),
     "the model configuration is the string 'x', not a mapping"),
    ("not-a-model", lambda d: d.update(class_name="Dense"),
     "not a Keras model file: expected a Sequential or Functional model configuration"),
    ("layer-config-a-list", _set(("config", "layers", 3, "config"), [1]),
     "layer 4 (LSTM): its config is a list, not a mapping"),
    ("inbound-nodes-a-string", _set(("config", "layers", 2, "inbound_nodes"), "enc_in"),
     "layer 3 'encoder' (LSTM): inbound_nodes must be a list of the layer's calls, got the string 'enc_in'"),
    ("node-a-number", _set(("config", "layers", 2, "inbound_nodes"), [7]),
     "layer 3 'encoder' (LSTM): inbound_nodes[0] is the number 7, not a Keras node"),
    ("history-not-a-triple", lambda d: _history(d["config"]["layers"][4]).__setitem__(1, "0"),
     "layer 5 'head' (Dense): inbound_nodes[0] has a tensor whose keras_history is ['decoder', '0', 0], not "
     "[layer, node, tensor]"),
    ("unknown-layer", lambda d: _history(d["config"]["layers"][4]).__setitem__(0, "decodr"),
     "layer 5 'head' (Dense): inbound_nodes[0]: reads 'decodr' (keras_history ['decodr', 0, 0]), which is not a "
     "layer of the model; did you mean 'decoder'?"),
    ("node-out-of-range", lambda d: _history(d["config"]["layers"][4]).__setitem__(1, 3),
     "layer 5 'head' (Dense): inbound_nodes[0]: reads call 3 of 'decoder' (keras_history ['decoder', 3, 0]), "
     "which is called 1 time"),
    ("input-node-out-of-range", lambda d: _history(d["config"]["layers"][2]).__setitem__(1, 1),
     "layer 3 'encoder' (LSTM): inbound_nodes[0]: reads call 1 of 'enc_in' (keras_history ['enc_in', 1, 0]), "
     "which is an input (node 0)"),
    ("tensor-out-of-range", lambda d: _history(d["config"]["layers"][4]).__setitem__(2, 7),
     "layer 5 'head' (Dense): 'decoder[7]': 'decoder' has 1 output (0 to 0)"),
    ("custom-layer", _custom,
     "layer 5 'head' (CTCLayer): unknown keras layer type 'CTCLayer': a custom layer (from module '__main__'), "
     "which lstmcount has no table for; a model JSON stores no weights to count it from: count the model's .keras "
     "or .h5 file (model.save), which stores them\n"),
    ("unknown-wrapped", _wrap_unknown,
     "layer 5 'head' (TimeDistributed): its layer (Dense2): unknown keras layer type 'Dense2'; did you mean "
     "'Dense'?\n"),
    ("unknown-kind", _set(("config", "layers", 4, "class_name"), "Warp"),
     "layer 5 'head' (Warp): unknown keras layer type 'Warp': lstmcount has no table for it ("),
    ("custom-declaration", _set(("config", "layers", 4, "class_name"), "Custom"),
     "layer 5 'head' (Custom): unknown keras layer type 'Custom': lstmcount has no table for it ("),
    ("circle", lambda d: _history(d["config"]["layers"][2]).__setitem__(0, "head"),
     "layer 3 'encoder' (LSTM): the layers read each other in a circle: encoder -> head -> decoder -> encoder"),
    ("call-argument", lambda d: d["config"]["layers"][2]["inbound_nodes"][0]["kwargs"].update(foo=3),
     "layer 3 'encoder' (LSTM): inbound_nodes[0]: the call argument 'foo' = 3 changes what the layer returns, "
     "which lstmcount does not model yet"),
    ("constant-argument", lambda d: d["config"]["layers"][4]["inbound_nodes"][0]["args"].append(5),
     "layer 5 'head' (Dense): inbound_nodes[0]: is called on 5, which is not a tensor"),
    ("output-layers-a-string", _set(("config", "output_layers"), "head"),
     "output_layers must list the model's outputs as [layer, node, tensor] triples, got 'head'"),
    ("output-unknown", _set(("config", "output_layers"), [["haed", 0, 0]]),
     "output_layers: reads 'haed' (keras_history ['haed', 0, 0]), which is not a layer of the model; did you "
     "mean 'head'?"),
    ("input-layers-a-layer", _set(("config", "input_layers"), [["enc_in", 0, 0], ["encoder", 0, 0]]),
     "input_layers: 'encoder' is a LSTM, not an InputLayer"),
    ("duplicate-name", _set(("config", "layers", 4, "name"), "decoder"),
     "layer 5 'decoder' (Dense): 'decoder' is the name of an earlier layer too; Keras names each layer once"),
    ("input-shape", _set(("config", "layers", 0, "config", "batch_shape"), [None, 0, 7]),
     "layer 1 'enc_in' (InputLayer): input 'enc_in': axis 1 is 0; sizes must be positive integers"),
    ("uncalled-layer", _set(("config", "layers", 4, "inbound_nodes"), []),
     "layer 5 'head' (Dense): is called on nothing (its inbound_nodes list is empty)"),
    ("keras2-entry", _set(("config", "layers", 4, "inbound_nodes"), [[["decoder", 0]]]),
     "layer 5 'head' (Dense): inbound_nodes[0] has ['decoder', 0] where a [layer, node, tensor, kwargs] entry "
     "belongs"),
]


@pytest.mark.parametrize(("what", "edit", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_configs_are_located_refusals(saved, cli, tmp_path, what, edit, message):
    data = json.loads(Path(saved[3, "seq2seq"].paths[1]).read_text())
    edit(data)
    path = tmp_path / f"{what}.json"
    path.write_text(json.dumps(data))
    r = cli("params", str(path))
    assert r.exit_code == 2, r.stdout
    assert f"{path}: {message}" in r.stderr, r.stderr


def test_a_circle_is_one_message(cli, tmp_path):
    """The walk leaves a circle's layers out; an output naming one of them is not 'unknown' too."""
    spec = tmp_path / "circle.yaml"
    spec.write_text("framework: keras\ninputs:\n  x: [null, 3]\nlayers:\n"
                    "  - {type: Dense, name: a, units: 3, inputs: b}\n  - {type: Dense, name: b, units: 3, inputs: a}\n"
                    "  - {type: Dense, name: c, units: 3, inputs: x}\noutputs: [b, c]\n")
    r = cli("params", str(spec))
    assert (r.exit_code, r.stderr) == (2, f"{spec}:5:6: layer 1 'a' (Dense): the layers read each other in a circle: "
                                          "a -> b -> a\n")


JUNK = [None, -1, 0, 2**70, "x", "", [], {}, [1, 2, 3], ["encoder", 0, 0], {"class_name": "__keras_tensor__"}, True]


def _places(data, path=()):
    """Every (path, value) of a config, for mutations."""
    yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _places(v, (*path, k))
    elif isinstance(data, list):
        for k, v in enumerate(data):
            yield from _places(v, (*path, k))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_configs_never_crash(saved, cli, data):
    """Any value of a real Keras 3 or Keras 2 config replaced by junk: a count or a located exit 2."""
    source = data.draw(st.sampled_from([saved[v, b].paths[1] for v in (3, 2) for b in ("nested", "siamese")]))
    config = json.loads(Path(source).read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        places = [p for p in _places(config) if p]
        where = data.draw(st.sampled_from(places))
        _set(where, copy.deepcopy(data.draw(st.sampled_from(JUNK))))(config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "m.json")
        path.write_text(json.dumps(config))
        r = cli("params", str(path))
    assert r.exit_code in (0, 2), r.stderr
    if r.exit_code == 2:
        assert all(line.startswith(f"{path}") or line.endswith("problems") for line in r.stderr.splitlines()), \
            r.stderr


def test_operations_are_refused_unless_they_make_a_mask(cli, tmp_path):
    """A Keras operation (keras.ops.add, tf.math.add) between layers: lstmcount cannot follow its shapes."""
    import keras
    import tensorflow as tf
    import tf_keras

    a, b = keras.Input((4, 3), name="a"), keras.Input((4, 3), name="b")
    path = tmp_path / "ops3.json"
    path.write_text(keras.Model([a, b], keras.layers.LSTM(2, name="lstm")(keras.ops.add(a, b))).to_json())
    r = cli("params", str(path))
    # Keras numbers an operation's name by how many it made this session: add, add_1, ...
    assert r.exit_code == 2 and re.fullmatch(
        re.escape(f"{path}: layer 3 'add") + r"(_\d+)?" + re.escape(
            "' (Add): is a Keras operation (keras.src.ops.numpy), not a layer; lstmcount follows shapes only through "
            "layers, and layer 4 'lstm' (LSTM) reads it\n"), r.stderr), r.stderr
    a, b = tf_keras.Input((4, 3), name="a"), tf_keras.Input((4, 3), name="b")
    path = tmp_path / "ops2.json"
    path.write_text(tf_keras.Model([a, b], tf_keras.layers.Dense(2, name="d")(tf.math.add(a, b))).to_json())
    r = cli("params", str(path))
    assert r.exit_code == 2 and re.fullmatch(
        re.escape(f"{path}: layer 3 'tf.math.add") + r"(_\d+)?" + re.escape(
            "' (TFOpLambda): is the TensorFlow operation 'math.add'; lstmcount follows shapes only through layers, "
            "and layer 4 'd' (Dense) reads it\n"), r.stderr), r.stderr


def test_a_custom_layer_is_named(cli, tmp_path):
    """The OCR model's CTC loss layer, a custom layer called on two tensors: counted from what the file stores."""
    import keras

    @keras.saving.register_keras_serializable(package="ocr")
    class CTCLayer(keras.layers.Layer):
        def call(self, labels, predictions):
            return predictions

    x, labels = keras.Input((10, 5), name="image"), keras.Input((10, 5), name="label")
    out = CTCLayer(name="ctc_loss")(labels, keras.layers.Bidirectional(keras.layers.LSTM(3), name="bi")(x))
    model = keras.Model([x, labels], out)
    model.save(tmp_path / "ocr.keras")
    r = cli("params", str(tmp_path / "ocr.keras"))  # counted from what the file stores (tests/test_keras_custom.py)
    assert r.exit_code == 0, r.stderr
    assert f"Total params: {model.count_params():,} " in r.stdout
    assert "layer 4 'ctc_loss' (CTCLayer): counted from the weights the file stores (model.weights.h5: none)" \
        in r.stderr


# --- live Keras objects -------------------------------------------------------------------------------


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_live_keras3_models(saved, build):
    """analyze() of the live model: the same report as its saved file."""
    live, file = analyze(saved[3, build.__name__].model), analyze(saved[3, build.__name__].paths[0])
    assert live.total == file.total == saved[3, build.__name__].model.count_params()
    assert [(lay.name, lay.params) for lay in live.layers] == [(lay.name, lay.params) for lay in file.layers]


def test_live_keras2_models_and_layers(saved):
    import keras
    import tf_keras

    for name in KERAS2_COUNTED:
        assert analyze(saved[2, name].model).total == saved[2, name].model.count_params()
    layers = [keras.layers.LSTM(5), keras.layers.Bidirectional(keras.layers.GRU(3, reset_after=False)),
              keras.layers.TimeDistributed(keras.layers.Dense(4)), tf_keras.layers.Dense(3)]
    for layer, shape in zip(layers, [(None, 28, 28), (None, 5, 2), (None, 7, 6), (None, 4)], strict=True):
        layer.build(shape)
        rep = analyze(layer)
        assert rep.total == layer.count_params() and rep.layers[0].name == layer.name, layer


def test_live_objects_that_cannot_be_counted():
    import keras

    with pytest.raises(SpecError, match=r"<LSTM 'lstm\w*'>: the LSTM is not built, so its input shape is unknown"):
        analyze(keras.layers.LSTM(5, name="lstm"))

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(keras.ops.zeros((1, 4)))
    with pytest.raises(SpecError, match=r"a subclassed Keras model \(Subclassed\) does not describe its layers"):
        analyze(model)


def test_importing_lstmcount_imports_no_framework():
    import subprocess
    import sys

    code = "import sys, lstmcount; print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tf_keras', " \
           "'tensorflow', 'torch', 'numpy', 'h5py'}))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=Path(__file__).parent.parent)
    assert r.stdout.strip() == "[]"


# --- a Keras file's layer with --layer: solve and compare -----------------------------------------------


def test_solve_a_keras_file_layer_against_keras(saved, cli):
    import keras

    path = saved[3, "siamese"].paths[0]
    r = cli("solve", path, "--layer", "shared_lstm", "--budget", "5000")
    assert r.exit_code == 0, r.stderr
    n = int(r.stdout.split("shared_lstm.units = ")[1].split(":")[0])

    def total(units: int) -> int:
        L = keras.layers
        left, right = keras.Input((None, 6)), keras.Input((None, 6))
        shared, proj = L.LSTM(units), L.Dense(3)
        return keras.Model([left, right], [proj(shared(left)), proj(shared(right))]).count_params()

    assert total(n) <= 5000 < total(n + 1)
    r = cli("compare", path, "--layer", "shared_lstm", "--json")
    lstm = saved[3, "siamese"].model.get_layer("shared_lstm")
    assert json.loads(r.stdout)["rows"][0]["params"] == lstm.count_params()


@pytest.mark.parametrize("name", [b.__name__ for b in BUILDERS])
def test_verify_builds_every_saved_graph_in_keras(saved, cli, name):
    """Each functional file, Keras 3's and the Keras 2 ones lstmcount reads, is built by verify as a Keras
    functional model (shared layers shared, nested models nested) and reconciled weight by weight; all
    the files of one model in one run, importing Keras once."""
    paths = list(saved[3, name].paths)
    if name in KERAS2_COUNTED:
        paths += saved[2, name].paths
    r = cli("verify", *paths, "--json")
    assert r.exit_code == 0, r.stdout[-3000:] + r.stderr[-2000:]
    results = json.loads(r.stdout)["files"]
    assert [res["ok"] for res in results] == [True] * len(paths)
    assert {res["total"]["native"] for res in results} == {saved[3, name].model.count_params()}


# --- legacy HDF5 files: the model_config attribute, read with h5py -----------------------------------


def test_hdf5_files_say_what_saved_them(saved, cli, tmp_path):
    import keras
    import tf_keras

    for version, package in ((2, tf_keras), (3, keras)):
        path = saved[version, "dense_graph"].paths[2]
        r = cli("params", path, "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["total"] == saved[version, "dense_graph"].model.count_params()
        assert r.stderr == f"{path}: saved by Keras {package.__version__}\n"
    r = cli("params", saved[3, "dense_graph"].paths[1])  # Keras 3's to_json() does not say
    assert r.exit_code == 0 and r.stderr == ""
    unnamed = tmp_path / "model"  # known by its content
    unnamed.write_bytes(Path(saved[2, "dense_graph"].paths[2]).read_bytes())
    assert analyze(str(unnamed)).total == saved[2, "dense_graph"].model.count_params()
    L = tf_keras.layers
    seq = tf_keras.Sequential([tf_keras.Input((7, 4)), L.Dense(3, name="d"), L.Flatten(name="f"), L.Dense(2, name="e")])
    seq.save(tmp_path / "seq.h5")
    model = load(str(tmp_path / "seq.h5"))
    assert not model.is_graph and model.input_shape == (7, 4) and model.saved_by == f"Keras {tf_keras.__version__}"
    assert [(lay.name, lay.params) for lay in analyze(model).layers] == [(lay.name, lay.count_params())
                                                                         for lay in seq.layers]


def test_hdf5_files_that_hold_no_model(saved, cli, tmp_path):
    weights3, weights2, text = tmp_path / "w.weights.h5", tmp_path / "w2.h5", tmp_path / "t.h5"
    saved[3, "siamese"].model.save_weights(weights3)
    saved[2, "siamese"].model.save_weights(weights2)
    text.write_text("layers: []\n")
    for path, keras_version in ((weights3, 3), (weights2, 2)):  # counted: tests/test_keras_custom.py
        r = cli("verify", str(path))
        assert (r.exit_code, r.stderr) == (2, f"{path}: weights only (model.save_weights), with no model_config: it "
                                              "does not say what the model is (`lstmcount params` counts the weights "
                                              "it stores); save the model itself (model.save) for this\n")
        assert analyze(str(path)).total == saved[keras_version, "siamese"].model.count_params()
    r = cli("params", str(text))
    assert r.exit_code == 2 and r.stderr.startswith(f"{text}: h5py cannot open it as an HDF5 file ("), r.stderr


def _probe(*args: str, pre: str = "") -> tuple[int, str, set[str]]:
    """Run the CLI in a fresh interpreter: exit code, stderr, the top-level modules it imported."""
    import subprocess
    import sys

    code = (f"{pre}\nimport json, sys\nfrom lstmcount.cli import main\nsys.argv = ['lstmcount', *{list(args)!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\nelse:\n    code = 0\n"
            "sys.stderr.write('\\nMODULES ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})) + ' ' + "
            "str(code))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).parent.parent)
    err, _, tail = r.stderr.rpartition("\nMODULES ")
    names, code_text = tail.rsplit(" ", 1)
    return int(code_text), err, set(json.loads(names))


def test_hdf5_needs_only_h5py(saved):
    """h5py (and the NumPy it needs) only for an HDF5 file; never a framework; exit 3 without h5py."""
    code, _, mods = _probe("params", saved[2, "dense_graph"].paths[2])
    assert code == 0 and "h5py" in mods and mods.isdisjoint({"tensorflow", "keras", "tf_keras", "torch", "jax"})
    code, _, mods = _probe("params", saved[3, "seq2seq"].paths[0])
    assert code == 0 and mods.isdisjoint({"h5py", "numpy", "tensorflow", "keras", "torch"})
    code, err, _ = _probe("params", saved[3, "seq2seq"].paths[2], pre="import sys; sys.modules['h5py'] = None")
    assert (code, err.strip()) == (3, "lstmcount: h5py is not installed; install it with: pip install 'lstmcount[h5]'")


def test_cells_are_layer_specs():
    """An RNN's cell and a StackedRNNCells' cells are handed on as layers (type and arguments), as a
    wrapper's layer is."""
    import keras

    L = keras.layers
    x = keras.Input((5, 3))
    y = L.RNN(L.StackedRNNCells([L.GRUCell(3, name="g"), L.SimpleRNNCell(2, name="s")]), name="stacked")(
        L.RNN(L.LSTMCell(4, name="c"), return_sequences=True, name="one")(x))
    from lstmcount.inputs.keras import _args  # (counted once the RNN kinds are in the table)

    config = json.loads(keras.Model(x, y).to_json())["config"]
    specs = {entry["name"]: _args(entry) for entry in config["layers"]}
    one, stacked = specs["one"]["cell"], specs["stacked"]["cell"]
    assert (one["type"], one["name"], one["units"]) == ("LSTMCell", "c", 4)
    assert stacked["type"] == "StackedRNNCells"
    assert [(c["type"], c["name"], c["units"]) for c in stacked["cells"]] == [("GRUCell", "g", 3),
                                                                           ("SimpleRNNCell", "s", 2)]


# --- merge, attention and RNN-cell layers (their kinds come with the kinds branch) ----------------------


def attention_seq2seq(K):
    """Masked embeddings, the decoder started from the encoder's states, Attention over the encoder."""
    L = K.layers
    enc_tokens, dec_tokens = K.Input((None,), dtype="int32", name="enc_tokens"), K.Input((None,), dtype="int32",
                                                                                          name="dec_tokens")
    enc, h, c = L.LSTM(6, return_sequences=True, return_state=True, name="encoder")(
        L.Embedding(30, 8, mask_zero=True, name="enc_embed")(enc_tokens))
    dec = L.LSTM(6, return_sequences=True, name="decoder")(L.Embedding(30, 8, mask_zero=True, name="dec_embed")(
        dec_tokens), initial_state=[h, c])
    joined = L.Concatenate(name="joined")([dec, L.Attention(name="attention")([dec, enc])])
    return K.Model([enc_tokens, dec_tokens], L.Dense(30, name="out")(joined), name="attention_seq2seq")


def multi_head(K):
    """MultiHeadAttention called twice: (query, value) by position, then query, value and key by keyword."""
    L = K.layers
    x = K.Input((7, 4), name="x")
    q = L.Dense(4, name="q")(x)
    mha = L.MultiHeadAttention(2, 3, name="mha")
    both = L.Add(name="add")([mha(q, x), mha(query=q, value=x, key=q)])
    return K.Model(x, [both, L.Dot(axes=(2, 2), name="dot")([both, x])], name="multi_head")


def cells(K):
    L = K.layers
    s = K.Input((5, 3), name="s")
    one = L.RNN(L.LSTMCell(4), return_sequences=True, name="one")(s)
    stacked = L.RNN(L.StackedRNNCells([L.GRUCell(3), L.SimpleRNNCell(2)]), name="stacked")(one)
    return K.Model(s, L.Average(name="avg")([L.Dense(2, name="a")(stacked), L.Dense(2, name="b")(stacked)]))


def masked_merge(K):
    L = K.layers
    t = K.Input((None,), dtype="int32", name="t")
    e = L.Embedding(20, 4, mask_zero=True, name="e")(t)
    both = L.Add(name="both")([L.LSTM(3, return_sequences=True, name="l")(e), L.GRU(3, return_sequences=True,
                                                                                   name="g")(e)])
    return K.Model(t, L.LSTM(2, name="last")(both), name="masked_merge")


@pytest.mark.skipif("Attention" not in conventions.KERAS.kinds, reason="merge and attention kinds: kinds branch")
@pytest.mark.parametrize("build", [attention_seq2seq, multi_head, cells, masked_merge], ids=lambda b: b.__name__)
def test_merge_attention_and_cells(build, tmp_path):
    import keras

    model = build(keras)
    archive, config, h5 = (tmp_path / f"m.{ext}" for ext in ("keras", "json", "h5"))
    model.save(archive)
    config.write_text(model.to_json())
    model.save(h5)
    for path in (archive, config, h5):
        check_against_keras(str(path), model, keras)


@pytest.mark.parametrize("inner", [None, "enc", "forward_lstm"])
def test_a_files_bidirectional_weights_have_keras_names(tmp_path, inner):
    """The backward copy's weights are named as Keras names them (backward_lstm/..., not the mirror of the
    stored forward name, backward_forward_lstm/...): the file's stored backward layer says it."""
    import keras

    from lstmcount.bridges.keras import load as load_keras
    from lstmcount.bridges.keras import weight_names

    load_keras()
    lstm = keras.layers.LSTM(3, name=inner) if inner else keras.layers.LSTM(3)
    bi = keras.layers.Bidirectional(lstm, name="bi")
    model = keras.Sequential([keras.Input((None, 5)), bi])
    for path, save in ((tmp_path / "m.keras", model.save), (tmp_path / "m.json", None)):
        if save is not None:
            save(path)
        else:
            path.write_text(model.to_json())
        names = [w.name for w in conventions.layout(load(str(path))).layers[0].weights]
        assert names == weight_names(bi), path
