"""The CLI as a user drives it: outputs, formats, exit codes and messages."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from lstmcount.cli import app

from .conftest import CONFIGS, ROOT

GOLDEN = Path(__file__).parent / "golden"
SEED = str(ROOT / "configs" / "mnist_lstm.yaml")


def test_tutorial_numbers_in_the_table(cli):
    r = cli("params", "--units", "75", "--input", "28")
    assert r.exit_code == 0, r.stderr
    assert "4 × ((28 + 75) × 75 + 75) = 31,200" in r.stdout
    assert "Total params: 31,200" in r.stdout
    assert "\x1b[" not in r.stdout  # no colour codes when not writing to a terminal


def test_seed_model_table(cli):
    r = cli("params", SEED)
    assert r.exit_code == 0
    assert re.search(r"lstm \(LSTM\)\s+│ \(None, 75\)\s+│\s+8,400 │\s+22,500 │\s+300 │\s+31,200", r.stdout)
    assert "Total params: 31,960 (124.84 KiB at float32)" in r.stdout


GOLDEN_CASES = {
    "seed_table": ["params", "configs/mnist_lstm.yaml"],
    "seed_markdown": ["params", "configs/mnist_lstm.yaml", "--format", "markdown"],
    "seed_csv": ["params", "configs/mnist_lstm.yaml", "-o", "csv"],
    "seed_json": ["params", "configs/mnist_lstm.yaml", "--json"],
    "torch_proj_table": ["params", "-f", "pytorch", "-u", "75", "-i", "28", "--num-layers", "2",
                         "--bidirectional", "--proj-size", "20"],
    "gru_v1_table": ["params", "-t", "gru", "-u", "75", "-i", "28", "--no-reset-after"],
    "convlstm_table": ["params", "configs/convlstm2d.yaml"],
    "seed_latex": ["params", "configs/mnist_lstm.yaml", "-o", "latex"],
    "video_macs_table": ["params", "configs/cnn_lstm_video.yaml", "--timesteps", "5"],
    "onnx_layout": ["layout", "-u", "4", "-i", "3", "-f", "onnx", "--bidirectional", "--peepholes"],
    "tf1_layout_json": ["layout", "-t", "gru", "-u", "4", "-i", "3", "-f", "tf1", "--json"],
    "gru_compare": ["compare", "-t", "gru", "-u", "75", "-i", "28"],
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_outputs(cli, name, request, monkeypatch):
    """Exact output for each format; regenerate with `pytest --update-golden` and review the diff."""
    monkeypatch.chdir(ROOT)
    r = cli(*GOLDEN_CASES[name])
    assert r.exit_code == 0, r.stderr
    path = GOLDEN / f"{name}.out"
    if request.config.getoption("--update-golden"):
        path.write_text(r.stdout)
    assert r.stdout == path.read_text()


# --- every rendered output adds up ----------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_json_invariants(cli, config):
    data = json.loads(cli("params", str(config), "--json").stdout)
    assert data["total"] == sum(layer["params"] for layer in data["layers"])
    assert data["trainable"] + data["non_trainable"] == data["total"]
    for layer in data["layers"]:
        assert layer["params"] == sum(w["params"] for w in layer["weights"])
        for w in layer["weights"]:
            n = 1
            for d in w["shape"]:
                n *= d
            assert w["params"] == (0 if w.get("tied") else n)  # a tied weight is counted where it is first
        if "gates" in layer:
            assert layer["params"] == sum(g["params"] for g in layer["gates"]) + sum(
                e["params"] for e in layer["extras"])
            for g in layer["gates"]:
                assert g["params"] == g["kernel"] + g["recurrent_kernel"] + g["bias"]


def _num(text: str) -> int:
    return int(text.replace(",", "").replace("*", "") or 0)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_csv_and_markdown_rows_add_up(cli, config):
    rows = list(csv.DictReader(io.StringIO(cli("params", str(config), "-o", "csv").stdout)))
    layers = [r for r in rows if r["kind"] == "layer"]
    total = next(r for r in rows if r["kind"] == "total")
    assert sum(int(r["params"]) for r in layers) == int(total["params"])
    for layer in layers:
        parts = [r for r in rows if r["layer"] == layer["layer"] and r["kind"] in ("gate", "extra")]
        if parts:
            assert sum(int(r["params"]) for r in parts) == int(layer["params"])
    md = cli("params", str(config), "-o", "markdown").stdout.splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in md if line.startswith("| ")][1:]
    layer_rows = [c for c in cells if c[0].startswith("`")]
    total_row = next(c for c in cells if c[0] == "**Total**")
    assert sum(_num(c[7]) for c in layer_rows) == _num(total_row[7])


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_table_rows_add_up(cli, config):
    out = cli("params", str(config)).stdout
    total = _num(re.search(r"Total params: ([\d,]+)", out).group(1))
    layer_params = [_num(m.group(1)) for m in re.finditer(r"^│ \S+ \(\w+\)\s.*│\s+([\d,]+) │$", out, re.M)]
    assert len(layer_params) == len(json.loads(cli("params", str(config), "--json").stdout)["layers"])
    assert sum(layer_params) == total


# --- flags and formats ------------------------------------------------------------------------------


def test_json_shortcut_equals_format_json(cli):
    a = cli("params", "-u", "75", "-i", "28", "--json").stdout
    b = cli("params", "-u", "75", "-i", "28", "--format", "json").stdout
    assert a == b and json.loads(a)["total"] == 31_200


def test_stdin_spec(cli):
    text = Path(SEED).read_text()
    r = cli("params", "-", "--json", input=text)
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == 31_960


def test_dtype_sets_bytes(cli):
    data = json.loads(cli("params", "-u", "75", "-i", "28", "--json", "--dtype", "bfloat16").stdout)
    assert data["bytes"] == 31_200 * 2 and data["dtype"] == "bfloat16"


def test_output_file_is_written_whole(cli, tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    r = cli("params", SEED, "--json", "-O", str(target))
    assert r.exit_code == 0 and r.stdout == ""
    assert json.loads(target.read_text())["total"] == 31_960
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left


def test_failed_run_leaves_existing_output_untouched(cli, tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    bad = tmp_path / "bad.yaml"
    bad.write_text("input_shape: [28, 28]\nlayers:\n  - type: LSTM\n    unit: 75\n")
    r = cli("params", str(bad), "-O", str(target))
    assert r.exit_code == 2 and target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "report.json"]


def test_check_passes_and_fails(cli, tmp_path):
    ok = cli("params", SEED, "--check", "-o", "csv")
    assert ok.exit_code == 0 and "check ok" in ok.stderr
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(Path(SEED).read_text().replace("total: 31960", "total: 31000"))
    r = cli("params", str(wrong), "--check", "-o", "csv")
    assert r.exit_code == 1
    assert "expected total 31,000, counted 31,960 (+960)" in r.stderr


def test_check_needs_an_expect_block(cli, tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [3, 4]\nlayers:\n- {type: LSTM, units: 2}\n")
    r = cli("params", str(spec), "--check")
    assert r.exit_code == 2 and "--check needs an expect: block" in r.stderr


def test_max_total_budget(cli, tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\nexpect: {max_total: 30000}\n")
    r = cli("params", str(spec), "--check", "--json")
    assert r.exit_code == 1 and "total 31,200 is over max_total 30,000 by 1,200" in r.stderr


def test_every_command_has_help_and_is_documented(cli):
    readme = (ROOT / "README.md").read_text()
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        r = cli(name, "--help")
        assert r.exit_code == 0 and command.callback.__doc__.split("\n")[0].strip() in " ".join(r.stdout.split())
        assert f"lstmcount {name}" in readme


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.startswith("lstmcount 0.")


# --- messages users see, verbatim ------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["params"], "lstmcount: give a model spec file (lstmcount params model.yaml) or a layer from flags "
                 "(lstmcount params --units 75 --input 28)\n"),
    (["params", "--units", "75"], "lstmcount: give a model spec file (lstmcount params model.yaml) or a layer "
                                  "from flags (lstmcount params --units 75 --input 28)\n"),
    (["params", "-u", "0", "-i", "3"], "lstmcount: --units must be a positive integer (the layer's hidden size)\n"),
    (["params", "-u", "7", "-i", "3", "--proj-size", "2"],
     "lstmcount: --proj-size applies only to an LSTM in pytorch (proj_size) or tf1 (num_proj)\n"),
    (["params", "-u", "7", "-i", "3", "-t", "lstm", "--reset-after"],
     "lstmcount: --reset-after/--no-reset-after applies only to a GRU in keras (reset_after) or onnx "
     "(linear_before_reset)\n"),
    (["params", SEED, "-u", "3"], f"lstmcount: --units describe a layer from flags; they cannot be combined "
                                  f"with a model spec file ({SEED})\n"),
    (["params", "missing.yaml"], "missing.yaml: no such file\n"),
])
def test_usage_messages(cli, args, message):
    r = cli(*args)
    assert (r.exit_code, r.stderr) == (2, message)


def test_spec_messages_name_file_line_layer_argument(cli, tmp_path):
    spec = tmp_path / "typos.yaml"
    spec.write_text("input_shape: [28, 28]\nlayers:\n  - type: LSTM\n    unit: 75\n  - type: Dense\n"
                    "    units: 7.5\n  - type: LSTM\n    units: 4\n    reset_after: false\n  - type: Denes\n")
    r = cli("params", str(spec))
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"{spec}:4:5: layer 1 (LSTM): LSTM takes no argument 'unit'; did you mean 'units'?",
        f"{spec}:6:5: layer 2 (Dense): argument 'units' must be an integer, got 7.5",
        f"{spec}:9:5: layer 3 (LSTM): LSTM takes no argument 'reset_after' (it is an argument of GRU)",
        f"{spec}:10:5: layer 4: unknown keras layer type 'Denes'; did you mean 'Dense'?",
        "4 problems",
    ]


def test_layer_limit_and_large_tables(cli, tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("input_shape: [3]\nlayers:\n" + "  - {type: Dense, units: 3}\n" * 20_001)
    r = cli("params", str(big), "--json")
    assert r.exit_code == 2 and "20,001 layers is more than the limit of 20,000" in r.stderr
    many = tmp_path / "many.yaml"
    many.write_text("input_shape: [3]\nlayers:\n" + "  - {type: Dense, units: 3}\n" * 2_500)
    out = cli("params", str(many)).stdout  # past 2,000 rows: an aligned plain table, same numbers
    lines = out.splitlines()
    assert lines[0] == "model (keras): 2,500 layers"
    assert sum(_num(line.split()[-1]) for line in lines[3:3 + 2_500]) == 2_500 * 12
    assert "Total params: 30,000 (117.19 KiB at float32)" in out


def test_format_choices_are_the_renderers():
    from lstmcount.cli import Format
    from lstmcount.render import FORMATS, renderer

    assert {f.value for f in Format} == set(FORMATS)
    assert all(callable(renderer(f)) for f in FORMATS)


@pytest.mark.parametrize("timesteps", [None, 7])
def test_json_layer_lines_are_the_layer_dicts_encoded(timesteps):
    """The JSON renderer joins a per-layer head to a memoized body; each line must be exactly the
    encoding of the layer's dict, also when a model repeats layers and across models."""
    from lstmcount import conventions, inputs
    from lstmcount.accounting import report
    from lstmcount.render.json import layer_dict, render, report_dict

    for config in [*CONFIGS, *CONFIGS]:
        rep = report(conventions.layout(inputs.load(str(config))), timesteps=timesteps)
        out = render(rep)
        assert json.loads(out) == report_dict(rep)
        head = out.splitlines().index(' "layers": [') + 1
        lines = out.splitlines()[head:head + len(rep.layers)]
        assert [line.strip().rstrip(",") for line in lines] == [
            json.dumps(layer_dict(layer), ensure_ascii=False) for layer in rep.layers]
