"""Graph models against the real Keras: the canonical recurrent graphs, random DAGs, and what is refused.

Every spec here is counted by lstmcount and built in Keras 3 (functional API) by `verify`'s bridge,
then reconciled weight by weight (`real_check`); the random DAGs are also built with the Keras API
directly in the test and compared layer by layer with lstmcount's layout. Merge, attention and RNN
cell kinds are covered here (test_frameworks.py covers the chain kinds).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount import conventions
from lstmcount.accounting import report
from lstmcount.bridges import bridge
from lstmcount.errors import SpecError
from lstmcount.inputs import loads
from lstmcount.layout import ModelLayout
from lstmcount.model import Call, InputSpec, LayerSpec, Model, Ref
from lstmcount.reconcile import reconcile

from .frameworks import real_check

pytestmark = pytest.mark.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def keras() -> Any:
    """Keras, imported once (through the bridge, which keeps TensorFlow's start-up noise quiet)."""
    bridge("keras")
    import keras as k

    return k


def lstm(i: int, u: int) -> int:
    return 4 * ((i + u) * u + u)


def gru(i: int, u: int, reset_after: bool = True) -> int:
    return 3 * ((i + u) * u + (2 if reset_after else 1) * u)


def dense(i: int, u: int) -> int:
    return i * u + u


# --- the canonical recurrent graph models ---------------------------------------------------------

SEQ2SEQ = """
framework: keras
name: char_seq2seq
inputs:
  encoder_inputs: [null, 71]
  decoder_inputs: [null, 93]
layers:
  - {type: LSTM, name: encoder, units: 256, return_state: true, inputs: encoder_inputs}
  - type: LSTM
    name: decoder
    units: 256
    return_sequences: true
    return_state: true
    inputs: decoder_inputs
    initial_state: ["encoder[1]", "encoder[2]"]
  - {type: Dense, name: decoder_dense, units: 93, activation: softmax, inputs: decoder}
outputs: [decoder_dense]
"""

ATTENTION_DECODER = """
inputs:
  source: [12, 20]
  target: [null, 30]
layers:
  - {type: LSTM, name: encoder, units: 32, return_sequences: true, return_state: true, inputs: source}
  - type: GRU
    name: decoder
    units: 32
    return_sequences: true
    inputs: target
    initial_state: "encoder[1]"
  - {type: Attention, use_scale: true, score_mode: concat, inputs: [decoder, encoder]}
  - {type: AdditiveAttention, name: additive, inputs: [decoder, encoder, encoder]}
  - {type: Concatenate, inputs: [decoder, attention, additive]}
  - {type: TimeDistributed, layer: {type: Dense, units: 30, activation: softmax}}
"""

QUESTION_ANSWERING = """
inputs:
  story: {shape: [68], dtype: int32}
  question: {shape: [4], dtype: int32}
layers:
  - {type: Embedding, name: story_embedding, input_dim: 22, output_dim: 50, inputs: story}
  - {type: LSTM, name: story_lstm, units: 32}
  - {type: Embedding, name: question_embedding, input_dim: 22, output_dim: 50, inputs: question}
  - {type: LSTM, name: question_lstm, units: 32}
  - {type: Concatenate, inputs: [story_lstm, question_lstm]}
  - {type: Dropout, rate: 0.3}
  - {type: Dense, units: 22, activation: softmax}
"""

TWO_IN_TWO_OUT = """
inputs:
  title: [null, 16]
  tags: [12]
layers:
  - {type: GRU, name: title_features, units: 24, inputs: title}
  - {type: Dense, name: tag_features, units: 8, inputs: tags}
  - {type: Concatenate, name: features, inputs: [title_features, tag_features]}
  - {type: Dense, name: priority, units: 1, inputs: features}
  - {type: Dense, name: department, units: 4, activation: softmax, inputs: features}
outputs: [priority, department]
"""

SIAMESE = """
inputs:
  left: [null, 10]
  right: [null, 10]
layers:
  - {type: LSTM, name: shared_lstm, units: 16, inputs: left}
  - {reuse: shared_lstm, name: right_encoding, inputs: right}
  - {type: Subtract, inputs: [shared_lstm, right_encoding]}
  - {type: Dot, name: cosine, axes: 1, normalize: true, inputs: [shared_lstm, right_encoding]}
  - {type: Concatenate, inputs: [subtract, cosine]}
  - {type: Dense, units: 1, activation: sigmoid}
"""

NESTED_ENCODER = """
inputs:
  frames: [20, 8]
layers:
  - type: Sequential
    name: encoder
    layers:
      - {type: LSTM, units: 16, return_sequences: true}
      - {type: LSTM, units: 8}
    inputs: frames
  - {type: Dense, units: 3}
"""

SHARED_TOWER = """
inputs:
  a: [null, 6]
  b: [null, 6]
layers:
  - type: Functional
    name: tower
    layers:
      - {type: GRU, units: 5, return_sequences: true, inputs: input_layer}
      - {type: GlobalMaxPooling1D}
      - {type: Dense, name: projection, units: 4, inputs: global_max_pooling1d}
      - {type: Sequential, name: head, layers: [{type: Dense, units: 2}], trainable: false}
    outputs: [head]
    inputs: a
  - {reuse: tower, name: tower_b, inputs: b}
  - {type: Add, inputs: [tower, tower_b]}
"""

BIDIRECTIONAL_STATES = """
inputs:
  source: [null, 10]
  target: [null, 7]
layers:
  - type: Bidirectional
    name: encoder
    layer: {type: LSTM, units: 12, return_state: true}
    inputs: source
  - {type: Concatenate, name: state_h, inputs: ["encoder[1]", "encoder[3]"]}
  - {type: Concatenate, name: state_c, inputs: ["encoder[2]", "encoder[4]"]}
  - type: LSTM
    name: decoder
    units: 24
    return_sequences: true
    inputs: target
    initial_state: [state_h, state_c]
  - {type: Dense, units: 7, inputs: decoder}
"""

SELF_ATTENTION = """
inputs:
  tokens: [12, 8]
layers:
  - {type: LSTM, name: lstm, units: 16, return_sequences: true, inputs: tokens}
  - {type: MultiHeadAttention, name: mha, num_heads: 4, key_dim: 8, inputs: [lstm, lstm]}
  - {type: Add, inputs: [lstm, mha]}
  - {type: LayerNormalization}
  - {type: GlobalAveragePooling1D}
  - {type: Dense, units: 2}
"""

MHA_OPTIONS = """
inputs:
  query: [4, 6, 8]
  value: [4, 9, 5]
  key: [4, 9, 3]
layers:
  - type: MultiHeadAttention
    name: mha
    num_heads: 3
    key_dim: 4
    value_dim: 2
    output_shape: [3, 2]
    attention_axes: [2]
    use_gate: true
    inputs: [query, value, key]
  - {type: MultiHeadAttention, name: unbiased, num_heads: 2, key_dim: 3, use_bias: false, attention_axes: -2,
     inputs: [query, value]}
  - {type: Flatten, inputs: mha}
  - {type: Flatten, name: flat, inputs: unbiased}
  - {type: Concatenate, inputs: [flatten, flat]}
"""

RNN_CELLS = """
inputs:
  x: [null, 6]
  y: [5, 6]
layers:
  - {type: RNN, name: single, cell: {type: LSTMCell, units: 8}, return_sequences: true, inputs: x}
  - type: RNN
    name: stacked
    cell: {type: StackedRNNCells, cells: [{type: LSTMCell, units: 4}, {type: GRUCell, units: 3, reset_after: false}]}
    return_state: true
    inputs: single
  - type: RNN
    name: listed
    cell: [{type: LSTMCell, units: 4}, {type: GRUCell, units: 3}, {type: SimpleRNNCell, units: 2, use_bias: false}]
    go_backwards: true
    inputs: y
    initial_state: ["stacked[1]", "stacked[2]", "stacked[3]", y_state]
  - {type: Dense, name: y_state, units: 2, inputs: stacked}
  - {type: Bidirectional, layer: {type: RNN, cell: {type: GRUCell, units: 3}}, merge_mode: sum, inputs: x}
  - {type: Concatenate, inputs: [listed, bidirectional, stacked]}
"""

MERGES = """
inputs:
  a: [5, 8]
  b: [5, 8]
  v: [8]
  one: [1, 8]
layers:
  - {type: Add, inputs: [a, b, v]}
  - {type: Multiply, inputs: [a, one]}
  - {type: Average, inputs: [a, b]}
  - {type: Maximum, inputs: [add, multiply]}
  - {type: Minimum, inputs: [maximum, average, one]}
  - {type: Concatenate, name: time_joined, axis: 1, inputs: [minimum, a]}
  - {type: Dot, name: scores, axes: [2, 2], inputs: [time_joined, b]}
  - {type: Dense, units: 3}
"""

CANONICAL = {
    "seq2seq": SEQ2SEQ, "attention_decoder": ATTENTION_DECODER, "question_answering": QUESTION_ANSWERING,
    "two_in_two_out": TWO_IN_TWO_OUT, "siamese": SIAMESE, "nested_encoder": NESTED_ENCODER,
    "shared_tower": SHARED_TOWER,
    "bidirectional_states": BIDIRECTIONAL_STATES, "self_attention": SELF_ATTENTION, "mha_options": MHA_OPTIONS,
    "rnn_cells": RNN_CELLS, "merges": MERGES,
}


def _types(layers: list[dict[str, Any]]) -> set[str]:
    out: set[str] = set()
    for entry in layers:
        if "type" in entry:
            out.add(entry["type"])
        for key in ("layer", "cell"):
            if isinstance(entry.get(key), dict):
                out |= _types([entry[key]])
        for key in ("cell", "cells", "layers"):
            if isinstance(entry.get(key), list):
                out |= _types(entry[key])
        if isinstance(entry.get("cell"), dict) and "cells" in entry["cell"]:
            out |= _types(entry["cell"]["cells"])
    return out


GRAPH_TYPES = set().union(*(_types(yaml.safe_load(text)["layers"]) for text in CANONICAL.values()))


def layout_of(text: str) -> ModelLayout:
    return conventions.layout(loads(text, "<test>"))


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_graphs_verify_against_keras(keras, name):
    res = real_check(CANONICAL[name])
    graph = layout_of(CANONICAL[name])
    assert graph.graph
    assert [c.name for c in res.layers] == [layer.name for layer in graph.layers]  # InputLayers included
    assert all(c.actual_shape is not None for c in res.layers)  # every output shape was compared


def test_seq2seq_by_hand():
    lay = layout_of(SEQ2SEQ)
    assert [(layer.name, layer.params) for layer in lay.layers] == [
        ("encoder_inputs", 0), ("decoder_inputs", 0), ("encoder", lstm(71, 256)), ("decoder", lstm(93, 256)),
        ("decoder_dense", dense(256, 93))]
    assert lay.params == 718_173
    decoder = lay.layers[3]
    assert decoder.calls[0].inbound == ("decoder_inputs[0][0]", "encoder[0][1]", "encoder[0][2]")
    assert decoder.outputs == ((None, 256), (256,), (256,))


def test_attention_and_merge_weights_by_hand():
    lay = {layer.name: layer for layer in layout_of(ATTENTION_DECODER).layers}
    assert [(w.name, w.shape) for w in lay["attention"].weights] == [("scale", ()), ("concat_score_weight", ())]
    assert [(w.name, w.shape) for w in lay["additive"].weights] == [("scale", (32,))]
    assert lay["concatenate"].output_shape == (None, 96)
    assert lay["time_distributed"].params == dense(96, 30)
    merges = {layer.name: layer for layer in layout_of(MERGES).layers}
    assert merges["add"].output_shape == (5, 8) and merges["multiply"].output_shape == (5, 8)
    assert merges["time_joined"].output_shape == (10, 8)
    assert merges["scores"].output_shape == (10, 5)
    assert sum(layer.params for layer in merges.values()) == dense(5, 3)


def test_siamese_counts_its_lstm_once():
    lay = layout_of(SIAMESE)
    shared = next(layer for layer in lay.layers if layer.name == "shared_lstm")
    assert len(shared.calls) == 2 and shared.calls[1].inbound == ("right[0][0]",)
    assert lay.params == lstm(10, 16) + dense(17, 1)
    assert "right_encoding" not in {layer.name for layer in lay.layers}


def test_nested_models_hold_their_layers():
    lay = layout_of(SHARED_TOWER)
    tower = next(layer for layer in lay.layers if layer.name == "tower")
    assert tower.type == "Functional" and len(tower.calls) == 2
    assert [sub.name for sub in tower.layers] == ["gru", "global_max_pooling1d", "projection", "head"]
    assert [w.name for w in tower.weights][:3] == ["gru/kernel", "gru/recurrent_kernel", "gru/bias"]
    assert [(w.name, w.trainable) for w in tower.weights][-2:] == [("head/dense/kernel", False),
                                                                   ("head/dense/bias", False)]
    assert lay.params == gru(6, 5) + dense(5, 4) + dense(4, 2)
    # a frozen nested model's own layers are frozen too (the walk froze only the weights it listed)
    head = report(lay).layers[2].layers[3]
    assert (head.trainable, head.layers[0].trainable) == (0, 0)


NESTED_STATES = """
inputs:
  a: [5, 4]
layers:
  - type: Functional
    name: encoder
    layers:
      - {type: LSTM, name: lstm, units: 4, return_sequences: true, return_state: true, inputs: input_layer}
      - {reuse: lstm, name: again, inputs: lstm}
    outputs: ["again[1]", "again[2]"]
    inputs: a
  - {type: Concatenate, inputs: ["encoder[0]", "encoder[1]"]}
"""


def test_a_nested_model_hands_on_the_states_of_a_layers_second_call(keras):
    """The walk knew only the first output of a layer's later calls, so a nested model whose outputs
    were a second call's states had no shapes to hand on (fixed: each call keeps all its outputs)."""
    lay = layout_of(NESTED_STATES)
    assert [layer.output_shape for layer in lay.layers] == [(5, 4), None, (8,)]
    encoder = lay.layers[1]
    assert encoder.outputs == ((4,), (4,)) and encoder.layers[0].calls[1].outputs == ((5, 4), (4,), (4,))
    real_check(NESTED_STATES)


def test_what_only_a_layers_first_call_reads_leads_nowhere(cli, tmp_path):
    """A layer called again is kept by its later call, but Keras leaves out what only its first call
    read when that call leads to no output (the walk took a reuse as reaching the first call's inputs)."""
    path = tmp_path / "m.yaml"
    path.write_text("inputs: {a: [null, 2]}\nlayers:\n  - {type: Dense, name: first, units: 2, inputs: a}\n"
                    "  - {type: LSTM, name: lstm, units: 3, inputs: first}\n  - {reuse: lstm, name: again, inputs: a}\n"
                    "outputs: [again]\n")
    r = cli("params", str(path))
    assert (r.exit_code, r.stderr) == (2, f"{path}:3:6: layer 1 'first' (Dense): it leads to no output of the model "
                                          "(outputs: again); Keras would leave it out: list it under outputs:, or "
                                          "remove it\n")
    path.write_text(path.read_text().replace("outputs: [again]", "outputs: [again, lstm]"))
    assert cli("params", str(path)).exit_code == 0


def test_compare_layout_and_solve_take_a_graphs_layers(cli, tmp_path):
    """--layer names a graph's layer as on a chain (they looked it up by position, which a graph's
    InputLayers shift: a traceback, or another layer solved for)."""
    path = tmp_path / "s2s.yaml"
    path.write_text(SEQ2SEQ)
    r = cli("compare", str(path), "--layer", "decoder", "--json")
    assert r.exit_code == 0, r.stderr
    rows = {row["framework"]: row["params"] for row in json.loads(r.stdout)["rows"]}
    assert rows["keras"] == lstm(93, 256) and rows["pytorch"] == lstm(93, 256) + 4 * 256
    r = cli("layout", str(path), "--layer", "encoder", "--json")
    data = json.loads(r.stdout)
    assert data["params"] == lstm(71, 256) and data["weights"][0]["shape"] == [71, 1024]
    base = lstm(71, 256) + lstm(93, 256)
    units = (800_000 - base) // 257
    r = cli("solve", str(path), "--layer", "decoder_dense", "--budget", "800000")
    assert (r.exit_code, r.stdout) == (0, f"decoder_dense.units = {units}: {base + units * 257:,} parameters "
                                          f"(budget 800,000; {units + 1} would need {base + (units + 1) * 257:,})\n")


def test_multi_head_attention_by_hand():
    lay = {layer.name: layer for layer in layout_of(MHA_OPTIONS).layers}
    assert [(w.name, w.shape) for w in lay["mha"].weights] == [
        ("query/kernel", (8, 3, 4)), ("query/bias", (3, 4)), ("key/kernel", (3, 3, 4)), ("key/bias", (3, 4)),
        ("gate/kernel", (8, 3, 2)), ("gate/bias", (3, 2)), ("value/kernel", (5, 3, 2)), ("value/bias", (3, 2)),
        ("attention_output/kernel", (3, 2, 3, 2)), ("attention_output/bias", (3, 2))]
    assert lay["mha"].output_shape == (4, 6, 3, 2)
    assert [w.name for w in lay["unbiased"].weights] == ["query/kernel", "key/kernel", "value/kernel",
                                                         "attention_output/kernel"]
    assert lay["unbiased"].params == 8 * 2 * 3 + 5 * 2 * 3 + 5 * 2 * 3 + 2 * 3 * 8


def test_rnn_cells_by_hand_with_gates_per_cell():
    lay = {layer.name: layer for layer in layout_of(RNN_CELLS).layers}
    assert [w.name for w in lay["single"].weights] == ["kernel", "recurrent_kernel", "bias"]
    assert lay["single"].params == lstm(6, 8)
    stacked = lay["stacked"]
    assert [w.name for w in stacked.weights] == ["lstm_cell/kernel", "lstm_cell/recurrent_kernel", "lstm_cell/bias",
                                                 "gru_cell/kernel", "gru_cell/recurrent_kernel", "gru_cell/bias"]
    assert stacked.params == lstm(8, 4) + gru(4, 3, reset_after=False)
    assert stacked.outputs == ((3,), (4,), (4,), (3,)) and stacked.states == ((4,), (4,), (3,))
    assert stacked.variant == "reset_before"
    rows = report(ModelLayout("keras", None, None, (stacked,))).layers[0].gates
    assert [(g.depth, g.gate, g.params) for g in rows] == [
        (0, "input", 8 * 4 + 4 * 4 + 4), (0, "forget", 52), (0, "cell", 52), (0, "output", 52),
        (1, "update", 4 * 3 + 3 * 3 + 3), (1, "reset", 24), (1, "candidate", 24)]
    assert lay["listed"].params == lstm(6, 4) + gru(4, 3) + 3 * 2 + 2 * 2
    assert lay["bidirectional"].params == 2 * gru(6, 3)


def test_keyword_tensors_take_their_places():
    """A call that gives MultiHeadAttention's value and key by keyword (as a Keras file may) is the
    same layer as one given them in order; verify passes them to Keras by keyword."""
    inputs = (InputSpec("q", (5, 8)), InputSpec("v", (7, 4)), InputSpec("k", (7, 3)))
    call = Call((Ref("q"),), False, (), None, (("key", Ref("k")), ("value", Ref("v"))))
    model = Model("keras", (LayerSpec("MultiHeadAttention", {"num_heads": 2, "key_dim": 3}, 1, call=call),),
                  inputs=inputs, source="<keywords>")
    lay = conventions.layout(model)
    mha = lay.layers[-1]
    assert [(w.name, w.shape) for w in mha.weights][:6:2] == [("query/kernel", (8, 2, 3)), ("key/kernel", (3, 2, 3)),
                                                              ("value/kernel", (4, 2, 3))]
    assert mha.calls[0].inbound == ("q[0][0]", "v[0][0]", "k[0][0]")
    built = bridge("keras")(model, lay, False)
    assert reconcile("<keywords>", report(lay), built, None).ok


def test_verify_json_of_a_nested_model_lists_its_layers(cli, tmp_path):
    """As a user runs it (the cli fixture checks the JSON against the verify schema)."""
    path = tmp_path / "tower.yaml"
    path.write_text(SHARED_TOWER)
    r = cli("verify", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    tower = next(c for c in json.loads(r.stdout)["files"][0]["layers"] if c["name"] == "tower")
    assert [(c["name"], c["match"]) for c in tower["layers"]] == [
        ("gru", True), ("global_max_pooling1d", True), ("projection", True), ("head", True)]
    assert tower["layers"][3]["layers"] == [{"name": "dense", "type": "Dense", "expected": 10, "actual": 10,
                                             "match": True}]


def test_verify_summary_of_a_graph_is_kerass_own(keras):
    model = loads(NESTED_ENCODER, "<test>")
    lay = conventions.layout(model)
    built = bridge("keras")(model, lay, True)
    assert built.summary is not None
    assert "encoder (Sequential)" in built.summary and "lstm_1 (LSTM)" in built.summary  # expanded
    assert f"{lay.params:,}" in built.summary


def test_a_wrong_layout_of_a_graph_fails_verification(keras):
    """The reconciliation can fail: a nested layer's weight shape and a merge's output shape, changed."""
    model = loads(SHARED_TOWER, "<test>")
    lay = conventions.layout(model)
    built = bridge("keras")(model, lay, False)
    tower = next(k for k, layer in enumerate(lay.layers) if layer.name == "tower")
    sub = lay.layers[tower].layers[2]
    bent = sub._replace(weights=(sub.weights[0]._replace(shape=(5, 5)), sub.weights[1]))
    layers = list(lay.layers)
    layers[tower] = lay.layers[tower]._replace(layers=(*lay.layers[tower].layers[:2], bent,
                                                       *lay.layers[tower].layers[3:]))
    layers[-1] = layers[-1]._replace(output_shape=(3,))
    res = reconcile("<test>", report(lay._replace(layers=tuple(layers))), built, None)
    checks = {c.name: c for c in res.layers}
    assert not res.ok and not checks["tower"].match and not checks["add"].match
    assert not next(c for c in checks["tower"].layers if c.name == "projection").match


def test_every_key_of_kerass_configs_is_an_argument(keras):
    """What Keras 3 writes in a saved config of these layers, lstmcount takes (the Keras file reader
    hands config keys on as arguments)."""
    from lstmcount.conventions import KERAS
    from lstmcount.conventions.keras import attention, merge

    L = keras.layers
    made = [L.Add(), L.Subtract(), L.Multiply(), L.Average(), L.Maximum(), L.Minimum(), L.Concatenate(axis=1),
            L.Dot(axes=[1, 2], normalize=True), L.Attention(use_scale=True, score_mode="concat", dropout=0.1),
            L.AdditiveAttention(dropout=0.1), L.MultiHeadAttention(2, 3, value_dim=4, output_shape=(2,),
                                                                   attention_axes=(1,), use_gate=True),
            L.RNN(L.LSTMCell(3), return_state=True), L.LSTMCell(3), L.GRUCell(3, reset_after=False),
            L.SimpleRNNCell(3), L.StackedRNNCells([L.LSTMCell(3)])]
    assert {type(m).__name__ for m in made} == {k.name for k in (*merge.KINDS, *attention.KINDS)} | {
        "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells"}
    for m in made:
        allowed = KERAS.table(KERAS.kinds[type(m).__name__])[0]
        assert set(m.get_config()) <= set(allowed), type(m).__name__


# --- random DAGs of the supported kinds, against the Keras API directly -----------------------

RNN_TYPES = ["LSTM", "GRU", "SimpleRNN"]
N_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    """A random functional model: recurrent layers (with states fed to others' initial_state), Dense,
    merges of tensors that fit, attention between sequences, and layers called again. Each entry says
    its shape by this test's own bookkeeping, only to choose what fits."""
    steps = draw(st.sampled_from([None, 3, 5]))
    tensors: list[tuple[str, tuple[int | None, ...]]] = []
    inputs = {}
    for k in range(draw(st.integers(1, 2))):
        inputs[f"in{k}"] = [steps, draw(st.integers(1, 6))]
        tensors.append((f"in{k}", (steps, inputs[f"in{k}"][1])))
    entries: list[dict[str, Any]] = []
    firsts: dict[str, tuple[dict[str, Any], tuple[int | None, ...]]] = {}  # reusable layers and first input
    used: set[str] = set()

    def pick(pool: list[tuple[str, tuple[int | None, ...]]]) -> tuple[str, tuple[int | None, ...]]:
        return draw(st.sampled_from(pool))

    def add(entry: dict[str, Any], outputs: list[tuple[int | None, ...]]) -> None:
        entries.append(entry)
        name = entry["name"]
        tensors.append((name, outputs[0]))
        tensors.extend((f"{name}[{k}]", shape) for k, shape in enumerate(outputs[1:], 1))
        for ref in (entry.get("inputs"), *(entry.get("initial_state") or [])):
            for r in ref if isinstance(ref, list) else [ref]:
                if r is not None:
                    used.add(r.split("[")[0])

    for j in range(draw(st.integers(2, 8))):
        name = f"n{j}"
        seqs = [t for t in tensors if len(t[1]) == 2]
        op = draw(st.sampled_from(["rnn", "rnn", "dense", "merge", "concat", "attention", "mha", "reuse"]))
        if op == "rnn" and seqs:
            src, shape = pick(seqs)
            vectors = sorted({t[1][0] for t in tensors if len(t[1]) == 1 and t[1][0] is not None})
            kind = draw(st.sampled_from(RNN_TYPES))
            units = draw(st.sampled_from(vectors) if vectors and draw(st.booleans()) else st.integers(1, 6))
            entry = {"type": kind, "name": name, "units": units, "return_sequences": draw(st.booleans()),
                     "return_state": draw(st.booleans()), "inputs": src}
            states = [t for t in tensors if t[1] == (units,)]
            if states and draw(st.booleans()):
                entry["initial_state"] = [pick(states)[0] for _ in range(N_STATES[kind])]
            out = (shape[0], units) if entry["return_sequences"] else (units,)
            add(entry, [out] + ([(units,)] * N_STATES[kind] if entry["return_state"] else []))
            firsts[name] = (entry, shape)
        elif op == "dense":
            src, shape = pick(tensors)
            units = draw(st.integers(1, 6))
            add({"type": "Dense", "name": name, "units": units, "use_bias": draw(st.booleans()), "inputs": src},
                [(*shape[:-1], units)])
            firsts[name] = (entries[-1], shape)
        elif op == "merge":
            src, shape = pick(tensors)
            same = [t for t in tensors if t[1] == shape]
            kind = draw(st.sampled_from(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]))
            n = 2 if kind == "Subtract" else draw(st.integers(2, 3))
            add({"type": kind, "name": name, "inputs": [src] + [pick(same)[0] for _ in range(n - 1)]}, [shape])
        elif op == "concat":
            src, shape = pick(tensors)
            fits = [t for t in tensors if len(t[1]) == len(shape) and t[1][:-1] == shape[:-1]]
            others = [pick(fits) for _ in range(draw(st.integers(1, 2)))]
            last = shape[-1] + sum(s[-1] for _, s in others)  # type: ignore[operator]
            add({"type": "Concatenate", "name": name, "inputs": [src, *(r for r, _ in others)]},
                [(*shape[:-1], last)])
        elif op == "attention" and seqs:
            (q, qs), (v, vs) = pick(seqs), pick(seqs)
            if qs[-1] != vs[-1]:
                continue
            kind = draw(st.sampled_from(["Attention", "AdditiveAttention"]))
            entry = {"type": kind, "name": name, "inputs": [q, v], "use_scale": draw(st.booleans())}
            if kind == "Attention":
                entry["score_mode"] = draw(st.sampled_from(["dot", "concat"]))
            add(entry, [(*qs[:-1], vs[-1])])
        elif op == "mha" and seqs:
            (q, qs), (v, vs) = pick(seqs), pick(seqs)
            entry = {"type": "MultiHeadAttention", "name": name, "num_heads": draw(st.integers(1, 3)),
                     "key_dim": draw(st.integers(1, 4)), "use_bias": draw(st.booleans()), "inputs": [q, v]}
            if draw(st.booleans()):
                entry["value_dim"] = draw(st.integers(1, 4))
            add(entry, [qs])
        elif op == "reuse" and firsts:
            target = draw(st.sampled_from(sorted(firsts)))
            first, shape = firsts[target]
            fits = [t for t in tensors if t[1] == shape]
            src = pick(fits)[0]
            again = {"reuse": target, "name": name, "inputs": src}
            out = [t[1] for t in tensors if t[0] == target or t[0].startswith(f"{target}[")]
            if first["type"] in RNN_TYPES and first["return_sequences"]:
                out[0] = (shape[0], first["units"])
            entries.append(again)
            tensors.append((name, out[0]))
            tensors.extend((f"{name}[{k}]", s) for k, s in enumerate(out[1:], 1))
            used.add(src.split("[")[0])  # the first call is no output of the second: it must lead on itself
    for name in inputs:  # every input leads somewhere
        if name not in used:
            entries.append({"type": "Dense", "name": f"{name}_head", "units": 2, "inputs": name})
            used.add(name)
    outputs = [e["name"] for e in entries if e["name"] not in used]
    return {"framework": "keras", "inputs": inputs, "layers": entries, "outputs": outputs}


def _keras_layer(keras: Any, entry: dict[str, Any]) -> Any:
    args = {k: v for k, v in entry.items() if k not in ("type", "inputs", "initial_state")}
    return getattr(keras.layers, entry["type"])(**args)


def _keras_model(keras: Any, spec: dict[str, Any]) -> tuple[Any, dict[str, tuple[int | None, ...]]]:
    """The same model through the Keras API itself: the model, and each layer's first output shape."""
    tensors: dict[str, list[Any]] = {}
    inputs = [keras.Input(shape=tuple(shape), name=name) for name, shape in spec["inputs"].items()]
    for x in inputs:
        tensors[x.name] = [x]
    layers: dict[str, Any] = {}
    firsts: dict[str, tuple[int | None, ...]] = {}

    def get(ref: str) -> Any:
        name, _, rest = ref.partition("[")
        return tensors[name][int(rest[:-1]) if rest else 0]

    for entry in spec["layers"]:
        layer = layers[entry["reuse"]] if "reuse" in entry else _keras_layer(keras, entry)
        refs = entry["inputs"]
        if entry.get("type") == "MultiHeadAttention":
            out = layer(*[get(r) for r in refs])
        elif isinstance(refs, list):
            out = layer([get(r) for r in refs])
        elif "initial_state" in entry:
            out = layer(get(refs), initial_state=[get(r) for r in entry["initial_state"]])
        else:
            out = layer(get(refs))
        flat = keras.tree.flatten(out)
        tensors[entry["name"]] = flat
        if "reuse" not in entry:
            layers[entry["name"]] = layer
            firsts[entry["name"]] = tuple(flat[0].shape)[1:]
    model = keras.Model(inputs, [get(r) for r in spec["outputs"]])
    return model, firsts


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=dags())
def test_random_dags_match_keras_layer_by_layer(keras, spec):
    text = yaml.safe_dump(spec, sort_keys=False)
    lay = layout_of(text)
    model, firsts = _keras_model(keras, spec)
    ours = {layer.name: layer for layer in lay.layers if layer.type != "InputLayer"}
    theirs = {layer.name: layer for layer in model.layers if type(layer).__name__ != "InputLayer"}
    assert set(ours) == set(theirs), text
    for name, layer in ours.items():
        assert layer.params == theirs[name].count_params(), (name, text)
        assert layer.output_shape == firsts[name], (name, text)
    assert lay.params == model.count_params()
    real_check(text)  # and verify's own bridge agrees, weight by weight


# --- merge shapes against Keras's own rules, both ways ------------------------------------------

dims = st.one_of(st.none(), st.integers(1, 3))
shape_lists = st.lists(st.lists(dims, min_size=1, max_size=3), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(shapes=shape_lists, kind=st.sampled_from(["Add", "Subtract", "Multiply", "Maximum", "Concatenate", "Dot"]),
       axis=st.integers(-4, 4), pair=st.one_of(st.none(), st.tuples(st.integers(-4, 3), st.integers(-4, 3))),
       normalize=st.booleans())
def test_merge_shapes_are_kerass_and_refused_where_keras_refuses(keras, shapes, kind, axis, pair, normalize):
    """Keras accepts a merge symbolically exactly when lstmcount does, and gives the same shape. What
    Keras builds though no call can run it is refused: a Concatenate of tensors of different ranks, or
    of one tensor on an axis it does not have; a Dot over the batch axis."""
    if kind == "Dot":
        shapes = (shapes * 2)[:2]
        args: dict[str, Any] = {"axes": list(pair) if pair else axis, "normalize": normalize}
    else:
        args = {"axis": axis} if kind == "Concatenate" else {}
    spec = {"inputs": {f"x{k}": s for k, s in enumerate(shapes)},
            "layers": [{"type": kind, "inputs": [f"x{k}" for k in range(len(shapes))], **args}]}
    try:
        ours = layout_of(yaml.safe_dump(spec)).layers[-1].output_shape
    except SpecError:
        ours = None
    ranks = [len(s) + 1 for s in shapes]
    dot_axes = [] if kind != "Dot" else [axis % r for r in ranks] if axis < 0 and not pair else [
        a + r if a < 0 else a for a, r in zip(pair or (axis, axis), ranks, strict=True)]
    if kind == "Concatenate" and (len(set(ranks)) > 1 or not -ranks[0] <= axis < ranks[0]) or 0 in dot_axes:
        assert ours is None, spec
        return
    xs = [keras.Input(shape=tuple(s)) for s in shapes]
    try:
        theirs = tuple(getattr(keras.layers, kind)(**args)(xs).shape)[1:]
    except Exception:
        theirs = None
    assert ours == theirs, spec


# --- RNN cells and MultiHeadAttention options, at random ---------------------------------------

CELL_TYPES = {"LSTMCell": {}, "GRUCell": {"reset_after": st.booleans()}, "SimpleRNNCell": {}}


@st.composite
def rnn_wrappers(draw: st.DrawFn) -> dict[str, Any]:
    cells = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(sorted(CELL_TYPES)))
        cell = {"type": kind, "units": draw(st.integers(1, 7)), "use_bias": draw(st.booleans())}
        cell.update({arg: draw(s) for arg, s in CELL_TYPES[kind].items()})
        cells.append(cell)
    how = draw(st.sampled_from(["one", "list", "stacked"]))
    cell_arg: Any = cells[0] if how == "one" else cells if how == "list" else {"type": "StackedRNNCells",
                                                                                "cells": cells}
    layer = {"type": "RNN", "cell": cell_arg, "return_sequences": draw(st.booleans())}
    if draw(st.booleans()):
        layer = {"type": "Bidirectional", "layer": layer, "merge_mode": draw(st.sampled_from(["concat", "sum"]))}
    return {"input_shape": [draw(st.sampled_from([None, 4])), draw(st.integers(1, 6))], "layers": [layer]}


@settings(max_examples=30, deadline=None)
@given(spec=rnn_wrappers())
def test_random_rnn_wrappers_match_keras(keras, spec):
    real_check(spec)


@st.composite
def attention_heads(draw: st.DrawFn, valid: bool = True) -> dict[str, Any]:
    """MultiHeadAttention at random; `valid`: query and value agree on every axis attention does not run
    over (otherwise any sizes, and any axes)."""
    rank = draw(st.integers(1, 3) if not valid else st.integers(2, 3))
    axes = draw(st.one_of(st.none(), st.lists(st.integers(-rank - 2, rank + 1), min_size=1, max_size=2)
                          if not valid else st.sampled_from([[1], [rank - 1], [rank], -2, -1])))
    over = set(range(rank - 1)) if axes is None else {
        (a if a >= 0 else rank + 1 + a) - 1 for a in ([axes] if isinstance(axes, int) else axes)}
    value = [draw(st.integers(1, 4)) for _ in range(rank)]
    query = [value[i] if i not in over and valid else draw(st.integers(1, 4)) for i in range(rank)]
    key = [*value[:-1], draw(st.integers(1, 5))] if valid else [draw(st.integers(1, 4)) for _ in range(rank)]
    layer: dict[str, Any] = {"type": "MultiHeadAttention", "num_heads": draw(st.integers(1, 3)),
                             "key_dim": draw(st.integers(1, 4)), "use_bias": draw(st.booleans()),
                             "use_gate": draw(st.booleans())}
    if draw(st.booleans()):
        layer["value_dim"] = draw(st.integers(1, 4))
    if not valid and draw(st.booleans()):
        layer["dropout"] = 0.1  # Keras then takes its einsum path for inputs of rank 2 too
    if draw(st.booleans()):
        layer["output_shape"] = draw(st.one_of(st.integers(1, 4), st.lists(st.integers(1, 3), min_size=1,
                                                                           max_size=2)))
    if axes is not None:
        layer["attention_axes"] = axes
    with_key = draw(st.booleans())
    layer["inputs"] = ["q", "v", "k"] if with_key else ["q", "v"]
    inputs = {"q": query, "v": value, **({"k": key} if with_key else {})}
    return {"inputs": inputs, "layers": [layer]}


@settings(max_examples=30, deadline=None)
@given(spec=attention_heads())
def test_random_multi_head_attention_matches_keras(keras, spec):
    real_check(spec)


@st.composite
def attentions(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        return draw(attention_heads(valid=False))
    rank = draw(st.integers(1, 3))
    shapes = {name: [draw(st.integers(1, 3)) for _ in range(rank if draw(st.integers(0, 4)) else rank + 1)]
              for name in ("q", "v", "k")}
    kind = draw(st.sampled_from(["Attention", "AdditiveAttention"]))
    layer: dict[str, Any] = {"type": kind, "inputs": ["q", "v", "k"] if draw(st.booleans()) else ["q", "v"]}
    if kind == "Attention":
        layer["score_mode"] = draw(st.sampled_from(["dot", "concat"]))
    return {"inputs": {n: shapes[n] for n in layer["inputs"]}, "layers": [layer]}


@settings(max_examples=40, deadline=None)
@given(spec=attentions())
def test_attention_is_refused_exactly_where_keras_cannot_run_it(keras, spec):
    """Keras builds attention between tensors that do not fit (it infers shapes without computing):
    lstmcount refuses a model exactly when running it in Keras fails or gives another shape than Keras
    inferred, and otherwise gives that shape. Two things Keras may run are refused though, as no model
    means them: tensors of different ranks (broadcast by batch entry), and attention axes that are no
    axes of the inputs (the batch, key_dim, beyond: Keras's fast path ignores them for inputs of rank 2)."""
    import numpy as np

    try:
        ours = layout_of(yaml.safe_dump(spec)).layers[-1].output_shape
    except SpecError:
        ours = None
    layer = spec["layers"][0]
    axes = layer.get("attention_axes")
    rank = len(spec["inputs"]["q"])
    full = [a if a >= 0 else rank + 1 + a for a in ([axes] if isinstance(axes, int) else axes or [])]
    if len({len(spec["inputs"][n]) for n in layer["inputs"]}) > 1 or len(set(full)) < len(full) or any(
            not 1 <= a <= rank for a in full):
        assert ours is None
        return
    xs = [keras.Input(shape=tuple(spec["inputs"][n])) for n in layer["inputs"]]
    args = {k: v for k, v in layer.items() if k not in ("type", "inputs")}
    try:
        made = getattr(keras.layers, layer["type"])(**args)
        out = made(*xs) if layer["type"] == "MultiHeadAttention" else made(xs)
        data = [np.ones((2, *spec["inputs"][n]), "float32") for n in layer["inputs"]]
        ran = tuple(np.asarray(keras.Model(xs, out)(data)).shape)[1:]
        theirs = ran if ran == tuple(out.shape)[1:] else None
    except Exception:
        theirs = None
    assert ours == theirs, spec


# --- what is refused, and where -----------------------------------------------------------------

REFUSED = [
    ("inputs: {a: [5, 8], b: [6, 8]}\nlayers:\n  - {type: Concatenate, inputs: [a, b]}\n",
     "3:6: layer 1 (Concatenate): joins along axis -1, so every other axis must agree, got (None, 5, 8), "
     "(None, 6, 8) (axis 1 differs)"),
    ("inputs: {a: [5, 8], b: [5, 7]}\nlayers:\n  - {type: Add, inputs: [a, b]}\n",
     "3:6: layer 1 (Add): Add takes tensors of the same shape (or shapes that broadcast: an axis of 1, or a "
     "missing leading axis), got (None, 5, 8), (None, 5, 7)"),
    ("inputs: {a: [5, 8], b: [5, 8]}\nlayers:\n  - type: Dense\n    units: 3\n    inputs: [a, b]\n",
     "5:5: layer 1 (Dense): is called on one tensor, got a list of 2 (a merge layer such as Concatenate takes a "
     "list; name one tensor without brackets)"),
    ("inputs: {a: [5, 8]}\nlayers:\n  - {type: Subtract, inputs: [a, a, a]}\n",
     "3:22: layer 1 (Subtract): is called on a list of 2 tensors (inputs: [a, b]), got 3"),
    ("input_shape: [5, 8]\nlayers:\n  - {type: LSTM, units: 4, return_sequences: true}\n  - {type: Concatenate}\n",
     "4:6: layer 2 (Concatenate): is called on a list of 1 or more tensors (inputs: [a, b]), got one tensor"),
    ("inputs: {a: [5, 8], b: [5, 8]}\nlayers:\n  - {type: Dot, axes: 0, inputs: [a, b]}\n",
     "3:17: layer 1 (Dot): argument 'axes': the batch axis (0) cannot be summed over"),
    ("inputs: {a: [5, 8], b: [6, 8]}\nlayers:\n  - {type: Dot, axes: 1, inputs: [a, b]}\n",
     "3:17: layer 1 (Dot): argument 'axes': sums over axis 1 of (None, 5, 8) (5) and axis 1 of (None, 6, 8) "
     "(6), which must be the same size"),
    ("inputs: {a: [5, 8], b: [5, 8]}\nlayers:\n  - {type: Add, inputs: [a, b], mask: a}\n",
     "3:33: layer 1 (Add): takes no mask: (a layer called on several tensors gets each one's mask with it, as "
     "Keras passes masks along)"),
    ("inputs: {q: [5, 8], v: [6, 4]}\nlayers:\n  - {type: Attention, inputs: [q, v]}\n",
     "3:6: layer 1 (Attention): Attention multiplies query and key along their last axis, so they must agree: "
     "query (None, 5, 8), key (None, 6, 4)"),
    ("inputs: {q: [5, 8], v: [6, 4], k: [7, 4]}\nlayers:\n"
     "  - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, inputs: [q, v, k]}\n",
     "3:6: layer 1 (MultiHeadAttention): value and key must have the same shape but for the last axis, got value "
     "(None, 6, 4) and key (None, 7, 4)"),
    ("inputs: {q: [5, 8]}\nlayers:\n  - {type: MultiHeadAttention, num_heads: 2, key_dim: 3, attention_axes: [3],"
     " inputs: [q, q]}\n",
     "3:58: layer 1 (MultiHeadAttention): argument 'attention_axes': each axis must be one of 1 to 2 (an axis "
     "between the batch and the features, or 2 for the heads), once; got [3]"),
    ("input_shape: [5, 3]\nlayers:\n  - {type: LSTMCell, units: 3}\n",
     "3:6: layer 1 (LSTMCell): LSTMCell is the step of a recurrent layer, not a layer of its own: wrap it in RNN "
     "(type: RNN, cell: {type: LSTMCell, ...}), or use LSTM"),
    ("input_shape: [5, 3]\nlayers:\n  - {type: RNN, cell: {type: GRU, units: 3}}\n",
     "3:17: layer 1 (RNN): argument 'cell': must be a list of cells, or one of LSTMCell, GRUCell, SimpleRNNCell, "
     "StackedRNNCells, got GRU"),
    ("input_shape: [null, 3]\nlayers:\n  - {type: RNN, cell: {type: GRUCell, units: 3}, unroll: true}\n",
     "3:50: layer 1 (RNN): argument 'unroll': an RNN is unrolled over a known number of timesteps; its input's "
     "time axis is free in (None, 3)"),
    ("inputs: {a: [5, 8]}\nlayers:\n  - {type: GRU, name: r, units: 2, inputs: a}\n  - {type: RNN, inputs: a, "
     "cell: [{type: LSTMCell, units: 2}, {type: GRUCell, units: 2}], initial_state: [r, r]}\n",
     "4:91: layer 2 (RNN): initial_state needs 3 tensors of shape (None, 2), got 2"),
    ("inputs: {a: [5, 8], b: [5, 8]}\nlayers:\n  - {type: Add, name: plus, inputs: [a, b]}\n"
     "  - {reuse: plus, inputs: a}\n",
     "4:19: layer 2 (Add): is called on a list of 1 or more tensors (inputs: [a, b]), got one tensor"),
]


@pytest.mark.parametrize(("spec", "message"), REFUSED, ids=[m.split(": ", 2)[1][:40] for _, m in REFUSED])
def test_what_does_not_fit_is_refused_where_it_stands(cli, tmp_path, spec, message):
    path = tmp_path / "m.yaml"
    path.write_text(spec)
    r = cli("params", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"{path}:{message}"), r.stderr


def test_timesteps_leaves_out_what_it_does_not_count_and_says_so(cli, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(SELF_ATTENTION)
    r = cli("params", str(path), "--timesteps", "10", "--json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    macs = {layer["name"]: layer["macs"] for layer in data["layers"]}
    assert macs["mha"] is None and macs["lstm"] == 12 * 4 * 16 * (8 + 16) and macs["dense"] == 16 * 2
    assert data["macs"] == 12 * 4 * 16 * (8 + 16) + 16 * 2
    assert r.stderr == (f"{path}: note: MACs leave out mha (MultiHeadAttention): lstmcount does not count yet what "
                        "a layer multiplies its inputs by each other for (attention scores, Dot)\n")


def test_stacked_cells_compute_each_at_its_width(cli, tmp_path):
    """MACs and elementwise FLOPs of a stack of cells of different widths: each cell at its own."""
    path = tmp_path / "m.yaml"
    path.write_text("input_shape: [10, 6]\nlayers:\n  - type: RNN\n"
                    "    cell: [{type: LSTMCell, units: 8}, {type: GRUCell, units: 3}]\n")
    r = cli("params", str(path), "--timesteps", "10", "--json")
    assert r.exit_code == 0, r.stderr
    import json

    layer = json.loads(r.stdout)["layers"][0]
    assert layer["macs"] == 10 * (4 * 8 * (6 + 8) + 3 * 3 * (8 + 3))
    assert layer["elementwise_flops"] == 10 * ((13 + 4) * 8 + (11 + 2 * 3) * 3)


def test_a_reuse_entrys_problems_name_it_and_what_it_reuses(cli, tmp_path):
    spec = tmp_path / "reuse.yaml"
    spec.write_text("inputs: {x: [5, 3]}\nlayers:\n"
                    "  - {type: LSTM, name: enc, units: 4, inputs: x, return_sequences: true}\n"
                    "  - {reuse: enc, name: again, inputs: enc, units: 3}\noutputs: [again]\n")
    r = cli("params", str(spec))
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0].startswith(f"{spec}:4:44: layer 2 'again' (reuse of 'enc'): a reuse: entry "
                                               "takes reuse, name, inputs"), r.stderr
