"""The JSON Schemas of every --json output: shipped in the package, printed by `lstmcount schema NAME`,
and every JSON the test suite produces is checked against its command's schema (tests/conftest.py's
`cli` does it on each run; here runs over every config, flag set, tensor file and command)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import zipfile

import pytest

from lstmcount.render.schema import SCHEMAS

from . import conftest
from .conftest import CONFIGS, ROOT
from .test_graph_walk import SEQ2SEQ
from .test_notebook import NESTED


def test_schema_prints_the_shipped_files(cli):
    listing = cli("schema")
    assert listing.exit_code == 0 and [line.split()[0] for line in listing.stdout.splitlines()] == list(SCHEMAS)
    for name in SCHEMAS:
        r = cli("schema", name)
        assert r.exit_code == 0
        assert r.stdout == (ROOT / "lstmcount" / "schemas" / f"{name}.json").read_text()
        schema = json.loads(r.stdout)
        assert schema["properties"]["schema_version"] == {"const": 1}
        conftest.validator(name)  # a valid draft 2020-12 schema (check_schema)
    bad = cli("schema", "nope")
    assert bad.exit_code == 2


def test_the_schemas_are_in_the_wheel(tmp_path):
    """A built wheel (what pip installs) holds every schema: they are package data."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    (wheel,) = tmp_path.glob("lstmcount-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"lstmcount/schemas/{name}.json" for name in SCHEMAS} <= set(names)


# --- every command's JSON follows its schema ------------------------------------------------------

FLAG_SETS = [
    ["-u", "75", "-i", "28"],
    ["-t", "gru", "-u", "8", "-i", "3", "--no-reset-after"],
    ["-t", "rnn", "-u", "2", "-i", "3", "-f", "pytorch", "--bidirectional", "--num-layers", "3"],
    ["-u", "6", "-i", "4", "-f", "pytorch", "--proj-size", "2", "--bidirectional"],
    ["-u", "4", "-i", "3", "-f", "onnx", "--peepholes", "--bidirectional"],
    ["-t", "gru", "-u", "4", "-i", "3", "-f", "onnx", "--no-reset-after"],
    ["-u", "4", "-i", "3", "-f", "tf1", "--peepholes", "--proj-size", "2"],
    ["-t", "gru", "-u", "4", "-i", "3", "-f", "cudnn", "--bidirectional"],
    ["-t", "gru", "-u", "4", "-i", "3", "-f", "flax", "--num-layers", "2"],
    ["-u", "4", "-i", "3", "--no-bias", "--num-layers", "2", "--bidirectional"],
]
SOURCES = [str(c) for c in CONFIGS] + ["LSTM(75, input_shape=(28, 28))", "nn.LSTM(28, 75, num_layers=2)",
                                       "Sequential([Input((None, 8)), Bidirectional(GRU(4, return_sequences=True)), "
                                       "TimeDistributed(Dense(2))])"]


def _count(name: str) -> int:
    return conftest.checked.get(name, 0)


def _ok(r: conftest.Run) -> conftest.Run:
    assert r.exit_code == 0, r.stderr
    return r


@pytest.mark.parametrize("flags", FLAG_SETS, ids=" ".join)
def test_every_output_from_flags(cli, flags):
    before = {name: _count(name) for name in SCHEMAS}
    _ok(cli("params", *flags, "--json"))
    _ok(cli("params", *flags, "--json", "--timesteps", "5", "--dtype", "float16"))
    _ok(cli("params", *flags, "--format", "yaml"))
    _ok(cli("layout", *flags, "--json"))
    _ok(cli("compare", *flags, "--json"))
    _ok(cli("solve", *[f for f in flags if f not in ("-u", flags[flags.index("-u") + 1])], "--budget", "1M",
            "--json"))
    framework = flags[flags.index("-f") + 1] if "-f" in flags else "keras"
    for target in ("keras", "pytorch", "onnx", "tf1", "cudnn", "flax"):
        r = cli("layout", *flags, "--to", target, "--json")
        assert r.exit_code in (0, 2), r.stderr  # some conversions are refused (peepholes, projections)
        assert r.exit_code == 0 or target != framework
    after = {name: _count(name) for name in SCHEMAS}
    assert after["params"] - before["params"] == 3 and after["layout"] - before["layout"] == 1
    assert after["compare"] > before["compare"] and after["solve"] > before["solve"]
    assert after["recipe"] > before["recipe"]


@pytest.mark.parametrize("source", SOURCES + [SEQ2SEQ, NESTED],
                         ids=[s.rsplit("/", 1)[-1] for s in SOURCES] + ["seq2seq", "nested"])
def test_every_output_from_specs_and_expressions(cli, source):
    spec = source.startswith("\n")
    args, stdin = (["-"], source) if spec else ([source], None)
    before = _count("params")
    _ok(cli("params", *args, "--json", input=stdin))
    _ok(cli("params", *args, "--json", "--timesteps", "3", input=stdin))
    _ok(cli("params", *args, "-o", "yaml", input=stdin))
    assert _count("params") == before + 3
    _ok(cli("layout", *args, "--json", input=stdin))
    compare = cli("compare", *args, "--json", input=stdin)
    if compare.exit_code == 0:  # a model with one recurrent layer
        _ok(cli("layout", *args, "--to", "pytorch", "--json", input=stdin))
        solved = cli("solve", *args, "--max-bytes", "1MiB", "--json", input=stdin)
        # JSON, or a one-line refusal (a budget too small, a wrapper with no size of its own)
        assert solved.exit_code == 0 or (solved.exit_code == 2 and solved.stderr.count("\n") == 1), solved.stderr
    else:
        assert "--layer" in compare.stderr


def test_every_output_from_tensor_files(cli, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"emb": torch.nn.Embedding(20, 4), "enc": torch.nn.GRU(4, 5, bidirectional=True),
                               "head": torch.nn.Linear(10, 2)})
    torch.save(net.state_dict(), tmp_path / "net.pt")
    module = torch.nn.LSTM(4, 3, bidirectional=True)
    torch.onnx.export(module, (torch.zeros(5, 1, 4),), str(tmp_path / "lstm.onnx"), dynamo=False)
    before = {name: _count(name) for name in SCHEMAS}
    for path, layer in ((tmp_path / "net.pt", ["--layer", "enc"]), (tmp_path / "lstm.onnx", [])):
        _ok(cli("params", str(path), "--json"))
        _ok(cli("layout", str(path), "--json"))
        _ok(cli("layout", str(path), *layer, "--to", "keras", "--json"))
        _ok(cli("compare", str(path), *layer, "--json"))
        _ok(cli("solve", str(path), *layer, "--budget", "5k", "--json"))
    verified = cli("verify", str(tmp_path / "net.pt"), str(tmp_path / "lstm.onnx"), "--json")
    assert verified.exit_code == 0, verified.stderr
    assert json.loads(verified.stdout)["schema_version"] == 1
    after = {name: _count(name) for name in SCHEMAS}
    assert all(after[name] - before[name] >= 1 for name in SCHEMAS), (before, after)


@pytest.mark.keras
def test_verify_outputs_follow_the_schema(cli, tmp_path):
    spec = tmp_path / "wrong.yaml"
    spec.write_text("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\nexpect: {total: 31201}\n")
    before = _count("verify")
    ok = cli("verify", str(CONFIGS[0]), "LSTM(4, input_shape=(None, 3))", "--json", "--summary")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["files"][0]["summary"]
    failed = cli("verify", str(spec), "--json")
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["files"][0]["expect_failures"] == ["expected total 31,201, counted 31,200 (-1)"]
    assert _count("verify") == before + 2


# --- the schemas are strict: they refuse what the outputs must not be --------------------------------


def test_the_schemas_refuse_what_is_wrong(cli):
    validator = conftest.validator("params")
    good = json.loads(cli("params", str(ROOT / "configs/mnist_lstm.yaml"), "--json").stdout)
    assert not list(validator.iter_errors(good))
    for break_it in (lambda d: d.pop("total"), lambda d: d.update(total="31960"), lambda d: d.update(extra=1),
                     lambda d: d.update(schema_version=2), lambda d: d["layers"][0].update(params=-1),
                     lambda d: d["layers"][0]["gates"][0].pop("bias"), lambda d: d.update(framework="jax"),
                     lambda d: d["layers"][0]["weights"][0].update(shape=[-1, 3]),
                     lambda d: d["layers"][0].pop("extras")):
        bad = copy.deepcopy(good)
        break_it(bad)
        assert list(validator.iter_errors(bad)), bad
    with pytest.raises(AssertionError, match="does not follow schemas/solve.json"):
        conftest.check_against_schema(["solve", "--json"], '{"schema_version": 1, "units": 0}')


def test_which_outputs_are_checked():
    assert conftest.output_schema(["params", "x.yaml", "--json"]) == ("params", "json")
    assert conftest.output_schema(["params", "x.yaml", "-o", "yaml"]) == ("params", "yaml")
    assert conftest.output_schema(["layout", "-u", "3", "--to", "onnx", "--json"]) == ("recipe", "json")
    assert conftest.output_schema(["params", "--input", "--json"]) is None  # --json is --input's value there
    assert conftest.output_schema(["params", "x.yaml", "--json", "-O", "out.json"]) is None
    assert conftest.output_schema(["params", "x.yaml"]) is None
