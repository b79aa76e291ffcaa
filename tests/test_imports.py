"""The analytic path never pays for a framework: a fresh interpreter runs it and lists sys.modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

HEAVY = ("tensorflow", "keras", "torch", "numpy", "onnx", "jax")

PROBE = """
import json, sys
from lstmcount.cli import main
sys.argv = ["lstmcount", *{args!r}]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})) + " " + str(code))
"""


def modules_after(*args: str) -> tuple[set[str], int]:
    r = subprocess.run([sys.executable, "-c", PROBE.format(args=list(args))], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    line = r.stderr.rsplit("\nMODULES ", 1)[1]
    names, code = line.rsplit(" ", 1)
    return set(json.loads(names)), int(code)


@pytest.mark.parametrize("args", [
    ["params", "--units", "75", "--input", "28"],
    ["params", "--units", "75", "--input", "28", "--json"],
    ["params", "configs/text_bilstm.yaml", "-o", "markdown"],
    ["params", "configs/torch_projection_cells.yaml", "-o", "csv", "--check"],
    ["params", "configs/torch_crnn.yaml", "-T", "5", "--per-step", "fc"],
    ["params", "configs/does_not_exist.yaml"],
    ["params", "Sequential([Input((28, 28)), LSTM(75), Dense(10)])", "-o", "markdown"],
    ["params", "nn.LSTM(28, 75, num_layers=2, bidirectional=True)", "--json"],
])
def test_params_imports_no_framework(args):
    mods, code = modules_after(*args)
    assert code in (0, 2)
    assert mods.isdisjoint(HEAVY), mods & set(HEAVY)


@pytest.mark.parametrize("args", [
    ["layout", "--units", "75", "--input", "28", "-f", "onnx", "--peepholes", "--json"],
    ["layout", "--units", "4", "--input", "3", "-t", "gru", "-f", "pytorch", "--to", "flax"],
    ["layout", "configs/text_bilstm.yaml", "--layer", "bidirectional", "--to", "cudnn", "--json"],
    ["compare", "configs/text_bilstm.yaml", "--layer", "bidirectional_1"],
    ["solve", "--budget", "100000", "--input", "28", "--json"],
    ["solve", "configs/mnist_lstm.yaml", "--max-bytes", "256KiB"],
])
def test_layout_compare_solve_import_no_framework(args):
    mods, code = modules_after(*args)
    assert code == 0
    assert mods.isdisjoint(HEAVY), mods & set(HEAVY)


def test_a_checkpoint_imports_torch_and_no_other_framework(tmp_path):
    """The one reader a checkpoint needs is torch (which brings NumPy): not TensorFlow, Keras, ONNX or JAX."""
    import torch

    torch.save({"model": torch.nn.GRU(3, 4).state_dict(), "epoch": 1}, tmp_path / "checkpoint.pth.tar")
    for command in ("params", "layout", "compare", "solve"):
        mods, code = modules_after(command, str(tmp_path / "checkpoint.pth.tar"),
                                   *(["--budget", "1000"] if command == "solve" else []))
        assert code == 0 and "torch" in mods, command
        assert mods.isdisjoint({"tensorflow", "keras", "onnx", "jax"}), (command, mods)


def test_json_output_does_not_import_rich():
    mods, code = modules_after("params", "configs/mnist_lstm.yaml", "--json")
    assert code == 0
    assert "rich" not in mods


def test_the_guard_can_fail():
    """The probe sees a framework when one is imported: verify does import Keras."""
    mods, code = modules_after("verify", "configs/masked_variable_length.yaml")
    assert code == 0 and "keras" in mods


@pytest.mark.parametrize("args", [["params", "--units", "75", "--input", "28", "--json"],
                                  ["params", "LSTM(75, input_shape=(28, 28))", "--json"]])
def test_flags_import_no_yaml(args):
    """A layer from flags or an expression needs no YAML reader, and JSON output no Rich."""
    mods, code = modules_after(*args)
    assert code == 0
    assert mods.isdisjoint({"yaml", "rich"}), mods & {"yaml", "rich"}
