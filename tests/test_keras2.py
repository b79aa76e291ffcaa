"""YAML written the way Keras 2 code reads, and Keras 1's argument names: against real Keras 2 (tf_keras)
and Keras 3.

- A chain's first layer may give the model's input (input_shape, input_dim, batch_input_shape with
  batch_size, a recurrent layer's input_dim/input_length, an Embedding's input_length or nothing): the
  count is the one Keras 2 gives the same Sequential, and the same as with input_shape: at the top.
- Keras's own warnings for what it takes with a warning are printed, one stderr line each, word for word.
- Keras 1 names stay errors (Keras 3 refuses them) whose message names today's argument.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount import SpecError, conventions
from lstmcount.accounting import report
from lstmcount.conventions import KERAS
from lstmcount.conventions.base import REQUIRED
from lstmcount.conventions.keras import legacy
from lstmcount.inputs import loads

from .frameworks import real_check

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="session")
def tf_keras():
    """Keras 2 (tf_keras), imported once."""
    import tf_keras

    return tf_keras


def _report(spec: dict[str, Any]):
    return report(conventions.layout(loads(yaml.safe_dump(spec, sort_keys=False), "<test>")))


def _keras2_layer(tfk: Any, entry: dict[str, Any]) -> Any:
    args = {k: v for k, v in entry.items() if k != "type"}
    for nested in ("layer", "backward_layer"):
        if isinstance(args.get(nested), dict):
            args[nested] = _keras2_layer(tfk, args[nested])
    return getattr(tfk.layers, entry["type"])(**args)


def keras2_count(tfk: Any, layers: list[dict[str, Any]]) -> int:
    """What Keras 2 counts for a Sequential of these layers, written as the spec writes them."""
    return int(tfk.Sequential([_keras2_layer(tfk, entry) for entry in layers]).count_params())


# --- the input given on the first layer ----------------------------------------------------------------

@st.composite
def keras2_chains(draw):
    """(layers as Keras 2 code writes them, the model's input shape they give)."""
    features, steps = draw(st.integers(1, 12)), draw(st.one_of(st.none(), st.integers(1, 8)))
    units = draw(st.integers(1, 16))
    form = draw(st.sampled_from(["rnn_input_shape", "rnn_input_dim", "rnn_batch", "bidirectional", "dense",
                                 "embedding", "embedding_free", "conv", "time_distributed"]))
    rnn = {"type": draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN"])), "units": units,
           "return_sequences": draw(st.booleans())}
    if rnn["type"] != "SimpleRNN" and draw(st.booleans()):
        rnn["implementation"] = draw(st.sampled_from([1, 2]))
    if form == "rnn_input_shape":
        first, shape = {**rnn, "input_shape": [steps, features]}, (steps, features)
    elif form == "rnn_input_dim":
        first, shape = {**rnn, "input_dim": features}, (steps, features)
        if steps is not None:
            first["input_length"] = steps
    elif form == "rnn_batch":
        batch = draw(st.one_of(st.none(), st.integers(1, 64)))
        first, shape = {**rnn, "batch_input_shape": [batch, steps, features]}, (steps, features)
    elif form == "bidirectional":
        first, shape = {"type": "Bidirectional", "layer": rnn, "input_shape": [steps, features]}, (steps, features)
    elif form == "dense":
        first, shape = {"type": "Dense", "units": units, "input_dim": features}, (features,)
        if draw(st.booleans()):
            first["batch_size"] = draw(st.integers(1, 64))
    elif form in ("embedding", "embedding_free"):
        first = {"type": "Embedding", "input_dim": draw(st.integers(2, 100)), "output_dim": features}
        shape = (None,)
        if form == "embedding" and steps is not None:
            first["input_length"], shape = steps, (steps,)
        return [first, rnn], shape
    elif form == "conv":
        first, shape = {"type": "Conv1D", "filters": units, "kernel_size": 1, "input_shape": [steps, features]}, \
            (steps, features)
    else:
        first = {"type": "TimeDistributed", "layer": {"type": "Dense", "units": units},
                 "input_shape": [steps, features]}
        shape = (steps, features)
    then = [{"type": "Dense", "units": draw(st.integers(1, 8))}] if draw(st.booleans()) else []
    return [first, *then], shape


def _without_input(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    drop = {"input_shape", "batch_input_shape", "batch_size"}
    if layers[0]["type"] in legacy.RECURRENT:
        drop |= {"input_dim", "input_length"}
    elif layers[0]["type"] != "Embedding":
        drop.add("input_dim")
    return [{k: v for k, v in layers[0].items() if k not in drop}, *layers[1:]]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keras2_chains())
def test_the_first_layers_input_counts_as_keras_2_does(tf_keras, chain):
    layers, shape = chain
    rep = _report({"layers": layers})
    assert rep.input_shape == shape
    assert rep.total == keras2_count(tf_keras, layers)
    top = _report({"input_shape": list(shape), "layers": _without_input(layers)})
    assert [(lay.name, lay.params, lay.output_shape) for lay in rep.layers] == \
        [(lay.name, lay.params, lay.output_shape) for lay in top.layers]
    real_check({"layers": layers})  # and Keras 3 builds it (verify's bridge), weight for weight


def _column(path, line: int, key: str) -> int:
    """The 1-based column where `key` starts on a line of a file (where a message locates it)."""
    return path.read_text().splitlines()[line - 1].index(key) + 1


def test_tutorial_code_as_keras_2_reads_it(cli, tmp_path):
    """`LSTM(75, input_shape=(28, 28))` of the tutorial, and Keras's own warning for it, word for word."""
    import keras

    spec = tmp_path / "tutorial.yaml"
    spec.write_text("layers:\n  - {type: LSTM, units: 75, input_shape: [28, 28]}\n  - {type: Dense, units: 10}\n"
                    "  - {type: Activation, activation: softmax}\n")
    r = cli("params", str(spec), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 31_960
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        keras.layers.LSTM(75, input_shape=(28, 28))
    assert r.stderr == f"{spec}:2:{_column(spec, 2, 'input_shape')}: note: layer 1 (LSTM): {said[0].message}\n"


@pytest.mark.parametrize(("layer", "arg", "build"), [
    ("{type: Dense, units: 3, input_dim: 4}", "input_dim", lambda k: k.layers.Dense(3, input_dim=4)),
    ("{type: Embedding, input_dim: 9, output_dim: 4, input_length: 5}", "input_length",
     lambda k: k.layers.Embedding(9, 4, input_length=5)),
    ("{type: LeakyReLU, alpha: 0.2}", "alpha", lambda k: k.layers.LeakyReLU(alpha=0.2)),
])
def test_kerass_own_warnings(cli, tmp_path, layer, arg, build):
    import keras

    spec = tmp_path / "warned.yaml"
    spec.write_text(f"input_shape: [5]\nlayers:\n  - {layer}\n")
    r = cli("params", str(spec))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        build(keras)
    assert r.exit_code == 0
    lines = [line for line in r.stderr.splitlines() if str(said[0].message) in line]
    assert lines and lines[0].startswith(f"{spec}:3:{_column(spec, 3, arg)}: note: layer 1 (")


def test_the_notes_of_keras_2_inputs(cli, tmp_path):
    spec = tmp_path / "k2.yaml"
    spec.write_text("layers:\n  - {type: GRU, units: 8, input_dim: 5, input_length: 3}\n  - {type: Dense, units: 2}\n")
    r = cli("params", str(spec), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 3 * 8 * (5 + 8 + 2) + 8 * 2 + 2
    at = f"{spec}:2:{_column(spec, 2, 'input_dim')}"
    assert r.stderr == (f"{at}: note: layer 1 (GRU): input_dim and input_length on a recurrent layer are "
                        "Keras 2's (Keras 3 cannot build GRU with them): read as Keras 2 does, the model's input shape "
                        "(3, 5)\n")
    spec.write_text("layers:\n  - {type: LSTM, units: 8, batch_input_shape: [32, 10, 5]}\n")
    r = cli("params", str(spec))
    assert r.exit_code == 0 and "Total params: 448 " in r.stdout
    at = f"{spec}:2:{_column(spec, 2, 'batch_input_shape')}"
    assert r.stderr == (f"{at}: note: layer 1 (LSTM): batch_input_shape is Keras 2's (Keras 3 refuses it "
                        "on a layer): read as Keras 2 does, the model's input shape (10, 5)\n")
    spec.write_text("layers:\n  - {type: Embedding, input_dim: 100, output_dim: 8}\n  - {type: LSTM, units: 4}\n")
    r = cli("params", str(spec), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 800 + 4 * 4 * (8 + 4 + 1)
    assert "the model's input shape is (None,), as Keras 2 reads a first Embedding without input_length" in r.stderr


def test_the_examples_of_older_code(cli):
    from .conftest import ROOT

    seed = json.loads(cli("params", str(ROOT / "configs/mnist_lstm.yaml"), "--json").stdout)
    old = cli("params", str(ROOT / "examples/keras2_tutorial.yaml"), "--json")
    assert old.exit_code == 0 and json.loads(old.stdout)["layers"] == seed["layers"]
    assert old.stderr.count(": note: ") == 1
    r = cli("params", str(ROOT / "examples/keras1_names.yaml"))
    assert r.exit_code == 2
    assert [line.split(": that is Keras 1's name for ")[1].split()[0] for line in r.stderr.splitlines()[:-1]] == [
        "'units'", "'recurrent_dropout'", "'recurrent_initializer'", "'kernel_regularizer'"]


def test_a_layers_input_after_the_models_is_ignored_as_keras_does(tf_keras, cli, tmp_path):
    spec = tmp_path / "both.yaml"
    spec.write_text("input_shape: [7, 3]\nlayers:\n  - {type: LSTM, units: 4, input_shape: [7, 9]}\n"
                    "  - {type: Dense, units: 2, input_dim: 100}\n")
    r = cli("params", str(spec), "--json")
    keras2 = tf_keras.Sequential([tf_keras.Input((7, 3)), tf_keras.layers.LSTM(4, input_shape=(7, 9)),
                                  tf_keras.layers.Dense(2, input_dim=100)])
    assert json.loads(r.stdout)["total"] == keras2.count_params() == 4 * 4 * (3 + 4 + 1) + 10
    assert f"{spec}:3:6: note: layer 1 (LSTM): its input arguments give (7, 9), which Keras ignores: the " \
           "model's input_shape (7, 3) comes first" in r.stderr.splitlines()


@pytest.mark.parametrize(("layer", "where", "message"), [
    ("{type: LSTM, units: 4, input_shape: [5, 3], batch_input_shape: [1, 5, 4]}", (2, "type"),
     "layer 1 (LSTM): gives its input twice, differently (batch_input_shape gives (5, 4), input_shape "
     "gives (5, 3))"),
    ("{type: LSTM, units: 4, batch_input_shape: [5]}", (2, "batch_input_shape"),
     "layer 1 (LSTM): argument 'batch_input_shape' must be a list of positive sizes or nulls (the batch, then at "
     "least one axis), got [5]"),
    ("{type: Dense, units: 4, input_dim: 0}", (2, "input_dim"),
     "layer 1 (Dense): argument 'input_dim' must be a positive integer, got 0"),
    ("{type: Dense, units: 4, input_shape: [3]}\n  - {type: Dense, units: 2, batch_input_shape: [1, 4]}",
     (3, "batch_input_shape"),
     "layer 2 (Dense): Dense takes no argument 'batch_input_shape': that is Keras 2's way to give the model's input "
     "on its first layer, which Keras 3 refuses; lstmcount reads it on the first layer of a chain only"),
])
def test_bad_keras_2_inputs_are_located(cli, tmp_path, layer, where, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"layers:\n  - {layer}\n")
    r = cli("params", str(spec))
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    line, key = where
    assert f"{spec}:{line}:{_column(spec, line, key)}: {message}" in r.stderr


def test_verify_builds_keras_2_style_yaml_in_keras_3(cli, tmp_path):
    spec = tmp_path / "k2.yaml"
    spec.write_text("layers:\n  - {type: LSTM, units: 6, batch_input_shape: [8, 10, 3], implementation: 1}\n"
                    "  - {type: Dense, units: 2, input_dim: 6}\n")
    r = cli("verify", str(spec))
    assert r.exit_code == 0, r.stderr
    assert "1 of 1 file(s) verified" in r.stderr and "batch_input_shape is Keras 2's" in r.stderr


# --- Keras 1's names -----------------------------------------------------------------------------------

def _required(keras: Any, name: str) -> dict[str, Any]:
    """Values for a class's required arguments, to construct it in real Keras."""
    samples = {"int": 2, "ints": 2, "float": 0.5, "ident": "relu", "shape": (2,)}
    named = {"function": lambda x: x, "dims": (1,), "scale": 1.0, "layer": keras.layers.LSTM(2)}
    return {arg: named.get(arg, samples.get(spec.kind)) for arg, spec in KERAS.kinds[name].args.items()
            if spec.default is REQUIRED}


def _message(name: str, old: str) -> str:
    """The problem an old argument gets, on a layer after the first (where input arguments are not read)."""
    spec = f"input_shape: [4, 4, 4, 4]\nlayers:\n  - {{type: Activation, activation: linear}}\n  - type: {name}\n" \
           f"    {old}: 1\n"
    with pytest.raises(SpecError) as exc:
        conventions.layout(loads(spec, "k1.yaml"))
    (line,) = [p for p in exc.value.problems if f"no argument {old!r}" in p]
    return line


RENAMES = [(name, old, new) for name, table in legacy.RENAMED_1.items() for old, new in table.items()]
GONE = [(name, old) for name, table in legacy.GONE.items() if name != "*" for old in table]


@pytest.mark.parametrize(("name", "old", "new"), RENAMES)
def test_keras_1_names_name_todays_argument(name, old, new):
    import keras

    assert new in KERAS.table(KERAS.kinds[name])[0], f"{name} has no argument {new!r}"
    line = _message(name, old)
    assert line.startswith(f"k1.yaml:5:5: layer 2 ({name}): {name} takes no argument {old!r}: that is Keras 1's "
                           f"name for {new!r} ")
    assert "did you mean" not in line
    with pytest.raises((TypeError, ValueError)):  # Keras 3 refuses the old name too
        getattr(keras.layers, name)(**_required(keras, name), **{old: 1})


@pytest.mark.parametrize(("name", "old"), GONE + [(name, old) for name in ("Dense", "LSTM", "Conv2D")
                                                  for old in legacy.GONE["*"] if old not in KERAS.kinds[name].args
                                                  and old not in KERAS.kinds[name].kwargs])
def test_older_arguments_say_what_became_of_them(name, old):
    import keras

    line = _message(name, old)
    text = legacy.GONE.get(name, {}).get(old) or legacy.GONE["*"][old]
    assert line.endswith(f"{name} takes no argument {old!r}: that is {text}")
    assert "did you mean" not in line
    with pytest.raises((TypeError, ValueError)):
        getattr(keras.layers, name)(**_required(keras, name), **{old: 1})


@pytest.mark.parametrize("old", ["dropout_U", "dropout_u", "DROPOUT_U"])
def test_dropout_u_is_not_dropout(old):
    """The example of the issue: a near miss of another argument is not what Keras 1 meant (in any case)."""
    line = _message("LSTM", old)
    assert "'recurrent_dropout'" in line and "'dropout'" not in line
