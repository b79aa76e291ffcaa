"""Layer expressions on the command line: read with ast (never evaluated), the same Model and messages as
a YAML spec, counts that match the real frameworks running the very same code, and every command takes them."""

from __future__ import annotations

import inspect
import json
import os
import types
import typing

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount import conventions, inputs
from lstmcount.conventions.positional import POSITIONAL
from lstmcount.errors import SpecError, UsageError
from lstmcount.inputs.expression import loads

from .conftest import ROOT

# (expression, --input or None, total): the examples, and more, by hand:
# LSTM(75) on 28: 4 × ((28 + 75) × 75 + 75) = 31,200; Dense(10) on 75: 760
# Bidirectional(GRU(64, reset_after=False)) on 28: 2 × 3 × ((28 + 64) × 64 + 64) = 35,712
# nn.LSTM(28, 75, 2 layers, both ways): 2 × 4 × (75 × 28 + 75 × 75 + 150) + 2 × 4 × (75 × 150 + 75 × 75 + 150)
EXAMPLES = [
    ("LSTM(75, input_shape=(28, 28))", None, 31_200),
    ("Bidirectional(GRU(64, reset_after=False))", 28, 35_712),
    ("nn.LSTM(28, 75, num_layers=2, bidirectional=True)", None, 63_000 + 136_200),
    ("Sequential([Input((28, 28)), LSTM(75), Dense(10)])", None, 31_960),
    ("keras.Sequential([keras.Input(shape=(None, 28)), keras.layers.LSTM(75), keras.layers.Dense(10)])", None,
     31_960),
    ("tf.keras.layers.LSTM(75, input_shape=(None, 28))", None, 31_200),
    ("layers.GRU(75, input_shape=(28, 28))", None, 3 * (28 * 75 + 75 * 75 + 2 * 75)),
    ("torch.nn.GRU(28, 75)", None, 3 * (75 * 28 + 75 * 75 + 2 * 75)),
    ("nn.LSTM(hidden_size=75)", 28, 4 * (75 * 28 + 75 * 75 + 2 * 75)),
    ("nn.Sequential(nn.LSTM(28, 75), nn.Linear(75, 10))", None, 31_500 + 760),
    ("nn.RNN(28, 75, 1, 'relu')", None, 75 * 28 + 75 * 75 + 2 * 75),
    ("SimpleRNN(75, 'relu', False, input_shape=(28, 28))", None, 28 * 75 + 75 * 75),  # use_bias=False by position
    ("Sequential([LSTM(75, input_shape=(28, 28)), Dense(10)], name='m', trainable=False)", None, 31_960),
]


@pytest.mark.parametrize(("expression", "features", "total"), EXAMPLES, ids=[e for e, _, _ in EXAMPLES])
def test_expressions_count_as_derived_by_hand(cli, expression, features, total):
    args = ["params", expression, "--json", *(["--input", str(features)] if features else [])]
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["total"] == total


def test_a_frozen_sequential_freezes_every_layer(cli):
    data = json.loads(cli("params", EXAMPLES[-1][0], "--json").stdout)
    assert (data["name"], data["trainable"], data["non_trainable"]) == ("m", 0, 31_960)


def test_the_same_model_as_the_yaml_spec(cli):
    """The expression reader produces the mapping a YAML spec holds: the same report, to the byte."""
    spec = "input_shape: [28, 28]\nlayers:\n  - {type: LSTM, units: 75, return_sequences: true}\n" \
           "  - {type: Bidirectional, layer: {type: GRU, units: 8, reset_after: false}, merge_mode: sum}\n" \
           "  - {type: Dense, units: 10, activation: softmax}\n"
    expression = "Sequential([Input((28, 28)), LSTM(75, return_sequences=True), " \
                 "Bidirectional(GRU(8, reset_after=False), 'sum'), Dense(10, 'softmax')])"
    assert cli("params", expression, "--json").stdout == cli("params", "-", "--json", input=spec).stdout
    assert inputs.load(expression).layers[1].args == {"layer": {"type": "GRU", "units": 8, "reset_after": False},
                                                      "merge_mode": "sum"}


def test_identifiers_written_as_calls():
    model = loads("LSTM(4, kernel_initializer=keras.initializers.GlorotUniform(seed=1), input_shape=(2, 3))")
    assert model.layers[0].args["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": 1}}
    assert conventions.layout(model).params == 4 * (3 * 4 + 4 * 4 + 4)


# --- the real frameworks run the same text ----------------------------------------------------------


def _keras_count(expression: str, features: int | None) -> int:
    """The expression run as Keras code: count_params() of the model it makes."""
    import keras
    from keras import layers  # noqa: F401 - for eval
    from keras.layers import GRU, LSTM, Bidirectional, Dense, Input, SimpleRNN  # noqa: F401 - for eval
    from keras.models import Sequential  # noqa: F401 - for eval

    tf = types.SimpleNamespace(keras=keras)  # noqa: F841 - `tf.keras.layers.X`: TensorFlow 2.16+'s Keras 3
    made = eval(expression)  # noqa: S307 - the test runs the code lstmcount only reads
    if isinstance(made, keras.Sequential):
        if not made.built:
            made.build()
        return int(made.count_params())
    model = keras.Sequential([keras.Input((None, features))] if features else [])
    model.add(made)
    model.build() if not model.built else None
    return int(model.count_params())


def _torch_count(expression: str, features: int | None) -> int:
    import torch
    from torch import nn  # noqa: F401 - for eval

    if features:  # what --input gives: the first module's input_size
        expression = expression.replace("hidden_size=", f"input_size={features}, hidden_size=")
    module = eval(expression)  # noqa: S307 - the test runs the code lstmcount only reads
    assert isinstance(module, torch.nn.Module)
    return sum(p.numel() for p in module.parameters())


@pytest.mark.keras
@pytest.mark.parametrize(("expression", "features", "total"), [e for e in EXAMPLES if "nn." not in e[0]],
                         ids=[e for e, _, _ in EXAMPLES if "nn." not in e])
def test_keras_runs_the_same_expression(expression, features, total):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    assert _keras_count(expression, features) == total


@pytest.mark.torch
@pytest.mark.parametrize(("expression", "features", "total"), [e for e in EXAMPLES if "nn." in e[0]],
                         ids=[e for e, _, _ in EXAMPLES if "nn." in e])
def test_pytorch_runs_the_same_expression(expression, features, total):
    assert _torch_count(expression, features) == total


# --- positional arguments: the classes' own order ---------------------------------------------------


def _positional(function: typing.Any) -> tuple[str, ...]:
    return tuple(p.name for p in inspect.signature(function).parameters.values()
                 if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self")


@pytest.mark.keras
def test_keras_positional_orders_are_the_signatures():
    import keras

    missing = sorted(set(conventions.KERAS.kinds) - set(POSITIONAL["keras"]) - {"custom"})  # custom: no class
    assert not missing, f"add these classes to conventions/positional.py: {missing}"
    for name, order in POSITIONAL["keras"].items():
        real = keras.Input if name == "Input" else getattr(keras, name, None) or getattr(keras.layers, name)
        assert _positional(real if name == "Input" else real.__init__) == order, name


@pytest.mark.torch
def test_pytorch_positional_orders_are_the_signatures():
    """Explicit signatures as declared; the recurrent modules (`__init__(*args, **kwargs)`) by their typed
    overload, as far as RNNBase takes the positions the same way, and by building them positionally."""
    from torch import nn

    assert set(conventions.PYTORCH.kinds) <= set(POSITIONAL["pytorch"])
    for name, order in POSITIONAL["pytorch"].items():
        init = getattr(nn, name).__init__
        overloads = typing.get_overloads(init)
        declared = _positional(overloads[0]) if overloads else _positional(init)
        assert declared[:len(order)] == order, name
    values = {"input_size": 5, "hidden_size": 7, "num_layers": 3, "bias": False, "batch_first": True,
              "dropout": 0.25, "bidirectional": True, "proj_size": 2, "nonlinearity": "relu"}
    for name in ("LSTM", "GRU", "RNN"):
        order = [a for a in POSITIONAL["pytorch"][name] if a in values]
        module = getattr(nn, name)(*(values[a] for a in order))
        for arg in order:
            assert getattr(module, arg) == values[arg], (name, arg)
        assert loads(f"nn.{name}({', '.join(repr(values[a]) for a in order)})").layers[0].args == \
            {a: values[a] for a in order}


# --- the same messages as a spec, pointing at the column ---------------------------------------------


@pytest.mark.parametrize(("expression", "message"), [
    ("LSTM(75, unit_forget_bias=3, input_shape=(28, 28))",
     "<expression>:1:10: layer 1 (LSTM): argument 'unit_forget_bias' must be true or false, got 3\n"
     "  LSTM(75, unit_forget_bias=3, input_shape=(28, 28))\n"
     "           ^\n"),
    ("LSTM(75, unit=3, input_shape=(28, 28))",
     "<expression>:1:10: layer 1 (LSTM): LSTM takes no argument 'unit'; did you mean 'units'?\n"
     "  LSTM(75, unit=3, input_shape=(28, 28))\n"
     "           ^\n"),
    ("Sequential([Input((28, 28)), LSTM(75), Dense(7.5)])",
     "<expression>:1:46: layer 2 (Dense): argument 'units' must be an integer, got 7.5\n"
     "  Sequential([Input((28, 28)), LSTM(75), Dense(7.5)])\n"
     "                                               ^\n"),
    ("LSTM(75, activation=tanh, input_shape=(28, 28))",
     "<expression>:1:21: argument 'activation': tanh is a name, not a value: lstmcount reads literals only and "
     "evaluates nothing (a string? write 'tanh')\n"
     "  LSTM(75, activation=tanh, input_shape=(28, 28))\n"
     "                      ^\n"),
    ("LSTM(75, input_shape=(28, 28 * 2))",
     "<expression>:1:27: argument 'input_shape': '28 * 2' is code, not a value: lstmcount reads literals only and "
     "evaluates nothing (numbers, strings, True, False, None, tuples, lists)\n"
     "  LSTM(75, input_shape=(28, 28 * 2))\n"
     "                            ^\n"),
    ("LSTM(75, input_shape=(28, 28)",
     "<expression>:1:5: not a layer expression: '(' was never closed\n"
     "  LSTM(75, input_shape=(28, 28)\n"
     "      ^\n"),
    ("LSTM(75)",
     "<expression>:1:1: nothing gives the model's input: give the first layer input_shape=(timesteps, features) "
     "(e.g. LSTM(75, input_shape=(28, 28))), start a Sequential with Input((28, 28)), or give --input N (features "
     "per time step)\n  LSTM(75)\n  ^\n"),
    ("LTSM(75, input_shape=(28, 28))",
     "<expression>:1:1: layer 1: unknown keras layer type 'LTSM'; did you mean 'LSTM'?\n"),
    ("LSTM(75, 'tanh', 'sigmoid', True, 'glorot_uniform', 'orthogonal', 'zeros', True, None, None, None, None, "
     "None, None, None, 0.0, 0.0, None, False, False, False, False, False, 'auto', 1)",
     "<expression>:1:183: LSTM takes at most 24 arguments by position (units, activation, "),
    ("LSTM(75, units=4, input_shape=(2, 3))", "<expression>:1:10: LSTM got the argument 'units' twice"),
    ("LSTM(**{'units': 4})", "<expression>:1:6: **{'units': 4} cannot be read; write each argument of LSTM by name"),
    ("LSTM(*[4])", "<expression>:1:6: *[4] cannot be read; write each argument of LSTM"),
    ("foo.LSTM(4)", "<expression>:1:1: foo.LSTM: unknown module prefix 'foo.' (lstmcount reads keras.layers., "),
    ("Sequential([keras.layers.LSTM(4, input_shape=(2, 3)), nn.Linear(4, 2)])",
     "<expression>:1:55: nn.Linear is a PyTorch class, and this expression is Keras code (as keras.layers.LSTM "
     "says)"),
    ("[LSTM(4)]", "<expression>:1:1: a layer expression is a call of a layer class, e.g. "),
    ("LSTM(75, name='ß', input_shape=(28, 28), unit_forget_bias=3)",  # columns count characters, not bytes
     "<expression>:1:42: layer 1 'ß' (LSTM): argument 'unit_forget_bias' must be true or false, got 3\n"),
    ("LSTM(75,\n     unit_forget_bias=3, input_shape=(28, 28))",
     "<expression>:2:6: layer 1 (LSTM): argument 'unit_forget_bias' must be true or false, got 3\n"
     "       unit_forget_bias=3, input_shape=(28, 28))\n"
     "       ^\n"),
    ("   LSTM(75, unit=3, input_shape=(28, 28))", "<expression>:1:13: layer 1 (LSTM): LSTM takes no argument 'unit'"),
    ("Sequential([LSTM(4), Input((3, 2))])",
     "<expression>:1:22: Input(...) is a model's input: it goes first in a Sequential's list"),
    ("Sequential([Input(tensor=3)])", "<expression>:1:13: Input's tensor is a tensor"),
    ("Functional([LSTM(3)])", "a Functional model needs its inputs and outputs as variables"),
])
def test_problems_point_at_the_argument(cli, expression, message):
    r = cli("params", expression)
    assert r.exit_code == 2
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["nn.LSTM(28, 75)", "--input", "4"], "lstmcount: --input 4: the expression gives nn.LSTM its input_size "
                                          "already (28)\n"),
    (["nn.Embedding(10, 3)", "--input", "4"], "lstmcount: --input 4: gives a first module's input_size or "
                                              "in_features; nn.Embedding takes neither\n"),
    (["LSTM(75, input_shape=(28, 28))", "--input", "4"], "lstmcount: --input 4: the expression gives the model's "
                                                         "input already (shape [28, 28])\n"),
    (["nn.LSTM(28, 75)", "--units", "3"], "lstmcount: --units describe a layer from flags; a layer expression says "
                                          "it itself (only --input and -f go with one, for what it leaves out)\n"),
    (["LSTM(3, input_shape=(2, 2))", "-f", "onnx"], "lstmcount: a layer expression is Keras or PyTorch code; -f onnx "
                                                    "goes with a layer from flags (--units, --input)\n"),
])
def test_flags_beside_an_expression(cli, args, message):
    r = cli("params", *args)
    assert r.exit_code == 2 and r.stderr == message


def test_f_picks_the_framework_of_unprefixed_names(cli):
    r = cli("params", "LSTM(28, 75)", "-f", "torch", "--json")
    assert json.loads(r.stdout)["total"] == 31_500
    r = cli("params", "keras.layers.LSTM(3, input_shape=(2, 2))", "-f", "torch")
    assert r.exit_code == 2 and "keras.layers.LSTM is a Keras class, and this expression is PyTorch code " \
                                "(-f pytorch)" in r.stderr


def test_an_expression_is_never_evaluated(cli, tmp_path):
    marker = tmp_path / "ran"
    for code in (f"__import__('os').system('touch {marker}')", f"LSTM(open('{marker}', 'w'))",
                 f"LSTM(75, input_shape=(28, [open('{marker}', 'w')]))", "(lambda: LSTM(4))()",
                 f"LSTM(__import__('pathlib').Path('{marker}').touch())"):
        r = cli("params", code)
        assert r.exit_code == 2 and "Traceback" not in r.stderr, (code, r.stderr)
    assert not marker.exists()


@pytest.mark.parametrize("expression", ["(" * 500 + ")" * 500, "LSTM(" + "[" * 300 + "]" * 300 + ")",
                                        "LSTM(" * 50 + ")" * 50, "Bidirectional(" * 20 + "LSTM(3)" + ")" * 20,
                                        "LSTM(4, input_shape=" + "(" * 60 + "1" + ",)" * 60 + ")",
                                        "LSTM('\x00')", "LSTM(1e999, input_shape=(2, 3))", "LSTM(-True)",
                                        "LSTM(b'x')", "LSTM(1j)", "LSTM(...)", "LSTM(4, input_shape={1: 2})"])
def test_hostile_expressions_are_refused_cleanly(cli, expression):
    r = cli("params", expression)
    assert r.exit_code == 2, r.stdout
    assert r.stderr.startswith(("<expression>:", "lstmcount: ")) and "Traceback" not in r.stderr, r.stderr


def test_an_existing_file_is_read_as_a_file(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "LSTM(4).yaml").write_text("input_shape: [null, 3]\nlayers: [{type: LSTM, units: 4}]\n")
    assert not inputs.is_expression("LSTM(4).yaml")
    assert json.loads(cli("params", "LSTM(4).yaml", "--json").stdout)["total"] == 4 * (3 * 4 + 4 * 4 + 4)
    assert inputs.is_expression("LSTM(4)")


def test_the_library_raises_the_errors():
    with pytest.raises(SpecError) as exc:
        conventions.layout(loads("LSTM(75, unit=1, input_shape=(2, 3))"))
    assert exc.value.problems == ["<expression>:1:10: layer 1 (LSTM): LSTM takes no argument 'unit'; did you mean "
                                  "'units'?"]
    with pytest.raises(UsageError):
        loads("LSTM(3)", framework="flax")


# --- every command takes them ---------------------------------------------------------------------


def test_layout_compare_solve_take_expressions(cli):
    lay = json.loads(cli("layout", "nn.LSTM(28, 75)", "--json").stdout)
    assert lay["params"] == 31_500 and [w["name"] for w in lay["weights"]] == \
        ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert cli("layout", "LSTM(4, input_shape=(None, 3))", "--to", "torch").stdout == \
        cli("layout", "-u", "4", "-i", "3", "--to", "torch").stdout
    rows = json.loads(cli("compare", "GRU(75, input_shape=(28, 28))", "--json").stdout)["rows"]
    assert rows == json.loads(cli("compare", "-t", "gru", "-u", "75", "-i", "28", "--json").stdout)["rows"]
    sol = json.loads(cli("solve", "Sequential([Input((28, 28)), LSTM(75), Dense(10)])", "--budget", "1M",
                         "--json").stdout)
    assert sol["argument"] == "units" and sol["params"] <= 1_000_000 < sol["next_params"]
    r = cli("compare", "Sequential([Input((28, 28)), LSTM(7, return_sequences=True), LSTM(7)])")
    assert r.exit_code == 2 and r.stderr.startswith("<expression>: name the recurrent layer with --layer")


@pytest.mark.keras
def test_verify_builds_a_keras_expression_in_keras(cli):
    r = cli("verify", "Bidirectional(GRU(64, reset_after=False))", "--input", "28", "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] and data["files"][0]["total"] == {"expected": 35_712, "actual": 35_712, "native": 35_712}


@pytest.mark.torch
def test_verify_builds_a_pytorch_expression_in_pytorch(cli):
    r = cli("verify", "nn.LSTM(28, 75, num_layers=2, bidirectional=True)", str(ROOT / "configs/torch_mnist_lstm.yaml"))
    assert r.exit_code == 0, r.stderr
    assert "<expression>: OK: 199,200 parameters" in r.stdout


# --- fuzzing: any text is an answer or one clean refusal ---------------------------------------------

_NAMES = st.sampled_from(["LSTM", "GRU", "SimpleRNN", "Dense", "Bidirectional", "Sequential", "Input", "nn.LSTM",
                          "nn.GRU", "nn.Linear", "keras.layers.LSTM", "layers.Dense", "TimeDistributed", "foo.X",
                          "LTSM", "custom", "nn.Sequential", "Embedding"])
_ARGS = st.sampled_from(["units", "input_shape", "return_sequences", "layer", "hidden_size", "input_size",
                         "reset_after", "activation", "name", "bogus", "shape", "trainable"])
_LITERALS = st.one_of(st.integers(-3, 40).map(str), st.sampled_from(["True", "None", "'tanh'", "2.5", "(28, 28)",
                                                                     "(None, 8)", "[]", "x", "1 + 1", "-0", "{}"]))


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    args = []
    for _ in range(draw(st.integers(0, 3))):
        value = draw(expressions(depth + 1)) if depth < 2 and draw(st.booleans()) else draw(_LITERALS)
        if draw(st.booleans()):
            value = f"{draw(_ARGS)}={value}"
        args.append(value)
    if depth == 0 and draw(st.booleans()):
        return f"Sequential([{', '.join(args)}])"
    return f"{draw(_NAMES)}({', '.join(args)})"


@settings(max_examples=int(os.environ.get("LSTMCOUNT_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expressions(), st.sampled_from([[], ["--input", "7"], ["-f", "torch"], ["--json"]]))
def test_fuzzed_expressions_are_answered_or_refused_cleanly(cli, expression, flags):
    r = cli("params", expression, *flags)
    assert r.exit_code in (0, 2), (expression, r.stderr)
    assert "Traceback" not in r.stderr
    if r.exit_code == 2:
        assert r.stderr.startswith(("<expression>:", "lstmcount: ")), r.stderr
