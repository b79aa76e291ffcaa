"""Graph models without a framework: counts and shapes by hand, the YAML graph form, located errors,
and MACs that follow each call's own time axis. (tests/test_graphs.py checks graphs against Keras.)"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcount import SpecError, analyze, conventions
from lstmcount.accounting import report
from lstmcount.inputs import loads


def lstm(u: int, i: int) -> int:
    return 4 * ((i + u) * u + u)


SEQ2SEQ = """
inputs:
  enc_in: [null, 71]
  dec_in: {shape: [null, 93], dtype: float32}
layers:
  - {type: LSTM, name: encoder, units: 256, return_state: true, inputs: enc_in}
  - type: LSTM
    name: decoder
    units: 256
    return_sequences: true
    inputs: dec_in
    initial_state:
      - encoder[1]
      - encoder[2]
  - {type: Dense, units: 93, inputs: decoder}
outputs: [dense]
"""


def test_seq2seq_by_hand():
    lay = conventions.layout(loads(SEQ2SEQ))
    by = {layer.name: layer for layer in lay.layers}
    assert [layer.type for layer in lay.layers] == ["InputLayer", "InputLayer", "LSTM", "LSTM", "Dense"]
    assert by["encoder"].params == lstm(256, 71)
    assert by["decoder"].params == lstm(256, 93)
    assert by["dense"].params == 256 * 93 + 93
    assert lay.params == lstm(256, 71) + lstm(256, 93) + 256 * 93 + 93
    assert by["encoder"].outputs == ((256,), (256,), (256,))
    assert by["decoder"].output_shape == (None, 256)
    assert by["dense"].output_shape == (None, 93)
    assert by["decoder"].calls[0].inbound == ("dec_in[0][0]", "encoder[0][1]", "encoder[0][2]")
    assert lay.outputs == ("dense[0][0]",)


def test_a_chain_is_unchanged_by_the_graph_walk():
    """A chain spec and the same layers written as a graph count the same, layer by layer."""
    chain = "input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\n- {type: Dense, units: 10}\n"
    graph = ("inputs: {x: [28, 28]}\nlayers:\n- {type: LSTM, units: 75, inputs: x}\n"
             "- {type: Dense, units: 10, inputs: lstm}\n")
    a, b = conventions.layout(loads(chain)), conventions.layout(loads(graph))
    assert not a.graph and b.graph
    assert [(x.name, x.params, x.output_shape) for x in a.layers] == \
        [(x.name, x.params, x.output_shape) for x in b.layers if x.type != "InputLayer"]
    assert a.params == b.params == 31_960


def test_shared_layer_counts_once_and_each_call_is_listed():
    text = """
inputs: {left: [null, 8], right: [null, 8]}
layers:
  - {type: LSTM, name: shared, units: 4, inputs: left}
  - {reuse: shared, name: shared_right, inputs: right}
  - {type: Subtract_free_dense, units: 1}
"""
    with pytest.raises(SpecError, match="unknown keras layer type 'Subtract_free_dense'"):
        conventions.layout(loads(text))
    text = text.replace("Subtract_free_dense", "Dense").replace("units: 1}", "units: 1, inputs: shared_right}")
    text += "outputs: [shared, dense]\n"
    lay = conventions.layout(loads(text))
    shared = next(layer for layer in lay.layers if layer.name == "shared")
    assert [c.inbound for c in shared.calls] == [("left[0][0]",), ("right[0][0]",)]
    assert lay.params == lstm(4, 8) + 5
    assert next(layer for layer in lay.layers if layer.name == "dense").calls[0].inbound == ("shared[1][0]",)


def test_nested_sequential_is_one_layer_holding_its_layers():
    text = """
inputs: {x: [null, 6]}
layers:
  - type: Sequential
    name: encoder
    inputs: x
    layers:
      - {type: LSTM, units: 5, return_sequences: true}
      - {type: LSTM, units: 3}
  - {type: Dense, units: 2, inputs: encoder}
"""
    rep = report(conventions.layout(loads(text)), timesteps=7)
    enc = next(layer for layer in rep.layers if layer.name == "encoder")
    assert enc.type == "Sequential"
    assert [sub.name for sub in enc.layers] == ["lstm", "lstm_1"]
    assert enc.params == lstm(5, 6) + lstm(3, 5) == sum(sub.params for sub in enc.layers)
    assert [w.name for w in enc.weights][:3] == ["lstm/kernel", "lstm/recurrent_kernel", "lstm/bias"]
    assert enc.output_shape == (3,)
    # MACs: each LSTM of the nested model over the 7 free time steps
    assert enc.macs == 7 * 4 * (6 * 5 + 5 * 5) + 7 * 4 * (5 * 3 + 3 * 3)
    data = json.loads(_render("json", rep))
    nested = next(layer for layer in data["layers"] if layer["name"] == "encoder")
    assert [sub["name"] for sub in nested["layers"]] == ["lstm", "lstm_1"]
    assert nested["inbound"] == [["x[0][0]"]]


def _render(fmt: str, rep: object) -> str:
    from lstmcount.render import renderer

    return renderer(fmt)(rep)


def test_bidirectional_states_and_initial_state():
    text = """
inputs: {x: [null, 5], y: [null, 7]}
layers:
  - type: Bidirectional
    name: enc
    inputs: x
    layer: {type: LSTM, units: 4, return_state: true}
  - type: Bidirectional
    name: dec
    inputs: y
    layer: {type: LSTM, units: 4, return_sequences: true}
    initial_state:
      - enc[1]
      - enc[2]
      - enc[3]
      - enc[4]
outputs: [dec]
"""
    lay = conventions.layout(loads(text))
    enc = next(layer for layer in lay.layers if layer.name == "enc")
    assert enc.outputs == ((8,), (4,), (4,), (4,), (4,))
    assert lay.params == 2 * lstm(4, 5) + 2 * lstm(4, 7)
    with pytest.raises(SpecError, match=r"initial_state needs 4 tensors of shape \(None, 4\), got 2"):
        conventions.layout(loads(text.replace("      - enc[3]\n      - enc[4]\n", "")))


def test_forward_references_are_walked_in_topological_order():
    text = """
inputs: {x: [null, 3]}
layers:
  - {type: Dense, name: last, units: 2, inputs: first}
  - {type: LSTM, name: first, units: 4, inputs: x}
outputs: [last]
"""
    lay = conventions.layout(loads(text))
    assert [layer.name for layer in lay.layers] == ["x", "last", "first"]  # file order
    assert lay.params == 4 * 2 + 2 + lstm(4, 3)


@pytest.mark.parametrize(("body", "message"), [
    ("  - {type: LSTM, units: 4, inputs: xx}\n", "3:28: layer 1 (LSTM): no layer or input is called 'xx'; "
                                                 "did you mean 'x'?"),
    ("  - {type: LSTM, name: p, units: 4, inputs: q}\n  - {type: LSTM, name: q, units: 4, inputs: p, "
     "return_sequences: true}\n", "the layers read each other in a circle: p -> q -> p"),
    ("  - {type: LSTM, name: e, units: 4, inputs: x}\n  - {type: Dense, units: 4, inputs: 'e[1]'}\n",
     "'e[1]': 'e' has 1 output (0 to 0)"),
    ("  - {type: LSTM, name: e, units: 4, inputs: x, return_state: true}\n"
     "  - {type: LSTM, units: 5, inputs: x, initial_state: ['e[1]', 'e[2]']}\n",
     r"initial_state[0] has shape (None, 4); this layer's states are (None, 5)"),
    ("  - {type: LSTM, name: e, units: 4, inputs: x}\n  - {reuse: e, inputs: z}\n",
     "calls 'e' (LSTM) again on (None, None, 9), but its first call was on (None, None, 3)"),
    ("  - {type: Dense, units: 3, inputs: [x, z]}\n", "is called on one tensor, got a list of 2"),
    ("  - {type: LSTM, name: e, units: 4, inputs: x}\n  - {type: Dense, units: 3, inputs: e}\n"
     "  - {type: Dense, units: 1, inputs: z}\n", "'dense' leads to no output of the model"),
    ("  - {reuse: nothing, inputs: x}\n", "reuse: 'nothing': no layer by that name"),
    ("  - {type: Dense, units: 3, inputs: x, initial_state: [x]}\n", "only a recurrent layer takes initial_state"),
    ("  - {reuse: e, units: 3}\n", "a reuse: entry takes reuse, name, inputs, initial_state, mask, not 'units'"),
])
def test_graph_errors_are_located(body, message):
    text = "inputs: {x: [null, 3], z: [null, 9]}\nlayers:\n" + body
    with pytest.raises(SpecError) as err:
        conventions.layout(loads(text, "g.yaml"))
    assert any(message in m and m.startswith("g.yaml:") for m in err.value.problems), err.value.problems


def test_a_flow_list_reference_needs_quotes_and_the_message_says_so():
    with pytest.raises(SpecError, match=r"needs quotes: \['encoder\[1\]'"):
        loads("inputs: {x: [3]}\nlayers:\n- {type: LSTM, units: 2, inputs: x, initial_state: [encoder[1]]}\n")


def test_graph_keys_are_for_keras():
    with pytest.raises(SpecError, match="graph models .* are Keras models"):
        loads("framework: pytorch\nlayers:\n- {type: LSTM, input_size: 3, hidden_size: 4, inputs: x}\n")


def test_connected_to_in_every_tabular_format():
    rep = analyze(SEQ2SEQ)
    table, md, csv = (_render(f, rep) for f in ("table", "markdown", "csv"))
    assert "Connected to" in table and "dec_in[0][0], encoder[0][1]," in table
    assert "| Connected to |" in md and "| dec_in[0][0], encoder[0][1], encoder[0][2] |" in md
    assert csv.splitlines()[0].endswith(",connected")
    chain = analyze("input_shape: [3, 4]\nlayers:\n- {type: LSTM, units: 2}\n")
    assert "Connected to" not in _render("table", chain) and "connected" not in _render("csv", chain)


# A long graph is walked in one pass, linear in nodes + edges.
def test_residual_graph_of_thousands_of_nodes():
    lines = ["inputs: {x: [null, 8]}", "layers:"]
    prev = "x"
    for k in range(1500):
        lines.append(f"- {{type: GRU, name: g{k}, units: 8, return_sequences: true, inputs: {prev}}}")
        prev = f"g{k}"
    lay = conventions.layout(loads("\n".join(lines) + "\n"))
    assert lay.params == 1500 * 3 * ((8 + 8) * 8 + 2 * 8)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["LSTM", "GRU", "SimpleRNN"]), st.integers(1, 9)), min_size=1,
                max_size=6), st.integers(1, 9), st.integers(1, 50))
def test_chain_and_graph_agree_on_counts_and_macs(layers, features, steps):
    """The same stack as a chain and as a graph: the same parameters and MACs, layer by layer."""
    chain = [f"input_shape: [null, {features}]", "layers:"]
    graph = [f"inputs: {{x: [null, {features}]}}", "layers:"]
    prev = "x"
    for k, (kind, units) in enumerate(layers):
        seq = "true" if k < len(layers) - 1 else "false"
        chain.append(f"- {{type: {kind}, name: l{k}, units: {units}, return_sequences: {seq}}}")
        graph.append(f"- {{type: {kind}, name: l{k}, units: {units}, return_sequences: {seq}, inputs: {prev}}}")
        prev = f"l{k}"
    a = report(conventions.layout(loads("\n".join(chain))), timesteps=steps)
    b = report(conventions.layout(loads("\n".join(graph))), timesteps=steps)
    assert a.total == b.total and a.macs == b.macs
    assert [x.macs for x in a.layers] == [x.macs for x in b.layers if x.type != "InputLayer"]


# --- MACs follow each recurrent module's own time axis (issue 13: a shipped wrong number) -------------

def test_pytorch_stack_macs_use_the_given_time_axis():
    """The word-LM example: two LSTM modules over 35 steps. Each runs over --timesteps, not over the
    previous module's width (which gave 64,000,000)."""
    text = ("framework: pytorch\nlayers:\n- {type: LSTM, input_size: 200, hidden_size: 200}\n"
            "- {type: LSTM, input_size: 200, hidden_size: 200}\n")
    rep = report(conventions.layout(loads(text)), timesteps=35)
    per_module = 35 * 4 * (200 * 200 + 200 * 200)
    assert [layer.macs for layer in rep.layers] == [per_module, per_module]
    assert rep.macs == 22_400_000


def test_pytorch_cells_are_applied_once_per_step():
    """Two LSTMCells over 20 steps (the time-sequence example: 1 -> 51 -> 51)."""
    text = ("framework: pytorch\nlayers:\n- {type: LSTMCell, input_size: 1, hidden_size: 51}\n"
            "- {type: LSTMCell, input_size: 51, hidden_size: 51}\n")
    rep = report(conventions.layout(loads(text)), timesteps=20)
    assert rep.layers[1].macs == 20 * 4 * (51 * 51 + 51 * 51) == 416_160
    assert rep.layers[0].macs == 20 * 4 * (1 * 51 + 51 * 51)


# --- compare, solve and layout take a graph's layers as they take a chain's --------------------------

def test_compare_solve_and_layout_on_a_graph_layer(cli, tmp_path):
    spec = tmp_path / "s2s.yaml"
    spec.write_text(SEQ2SEQ)
    r = cli("compare", str(spec), "--layer", "decoder", "--json")
    assert r.exit_code == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert rows[0]["params"] == lstm(256, 93)  # its input is dec_in's 93 features
    r = cli("layout", str(spec), "--layer", "encoder", "--json")
    assert r.exit_code == 0 and "encoder" in r.stdout
    # the decoder's states come from the encoder: neither size can change alone, and solve says why
    r = cli("solve", str(spec), "--layer", "decoder", "--budget", "1000000")
    assert r.exit_code == 2 and "initial_state[0] has shape (None, 256); this layer's states are (None, 1)" in r.stderr
    free = SEQ2SEQ.replace("    initial_state:\n      - encoder[1]\n      - encoder[2]\n", "")
    free = free.replace("outputs: [dense]", "outputs: [dense, encoder]")
    spec.write_text(free)
    r = cli("solve", str(spec), "--layer", "decoder", "--budget", "700000", "--json")
    assert r.exit_code == 0, r.stderr
    sol = json.loads(r.stdout)
    fixed = lstm(256, 71)
    u = sol["units"]
    assert sol["params"] == fixed + lstm(u, 93) + u * 93 + 93 <= 700_000 < fixed + lstm(u + 1, 93) + (u + 1) * 93 + 93


# --- InputLayer / Input as a chain's first entry, as Keras's Sequential configs write it -------------

@pytest.mark.parametrize("first", ["{type: InputLayer, shape: [28, 28]}", "{type: Input, shape: [28, 28]}",
                                   "{type: InputLayer, batch_shape: [null, 28, 28]}",
                                   "{type: InputLayer, batch_input_shape: [null, 28, 28], dtype: float32}"])
def test_an_input_layer_gives_a_chain_its_input(first):
    text = f"layers:\n- {first}\n- {{type: LSTM, units: 75}}\n- {{type: Dense, units: 10}}\n"
    lay = conventions.layout(loads(text))
    assert lay.input_shape == (28, 28) and [x.type for x in lay.layers] == ["LSTM", "Dense"]
    assert lay.params == 31_960


@pytest.mark.parametrize(("first", "message"), [
    ("{type: InputLayer, shape: [28, 28], batch_shape: [null, 28, 28]}", "an input takes its shape once"),
    ("{type: InputLayer, shape: [28, 0]}", "argument 'shape' entries must be positive integers"),
    ("{type: InputLayer, shape: [28, 28], sparse: true}", "a sparse input is not modelled"),
    ("{type: InputLayer, units: 3, shape: [3]}", "InputLayer takes no argument 'units'"),
])
def test_input_layer_errors(first, message):
    with pytest.raises(SpecError) as err:
        loads(f"layers:\n- {first}\n- {{type: LSTM, units: 75}}\n")
    assert any(message in p for p in err.value.problems), err.value.problems


def test_an_input_layer_and_input_shape_is_the_input_twice():
    with pytest.raises(SpecError, match="the model's input is given twice"):
        loads("input_shape: [28, 28]\nlayers:\n- {type: InputLayer, shape: [28, 28]}\n- {type: LSTM, units: 7}\n")


@pytest.mark.keras
def test_an_input_layer_chain_verifies_in_keras():
    from .frameworks import real_check

    real_check("layers:\n- {type: InputLayer, shape: [null, 5], dtype: float32}\n- {type: GRU, units: 4}\n")
