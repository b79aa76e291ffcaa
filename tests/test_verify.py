"""`lstmcount verify` against the real frameworks, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONFIGS, ROOT

pytestmark = pytest.mark.filterwarnings("ignore")


def run(*args: str, env: dict[str, str] | None = None, pre: str = "") -> subprocess.CompletedProcess[str]:
    """The real command in a fresh interpreter (`pre` runs first, e.g. to hide a framework)."""
    code = f"{pre}\nimport sys\nfrom lstmcount.cli import main\nsys.argv = ['lstmcount', *{list(args)!r}]\nmain()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_every_config_verifies_in_one_process():
    r = run("verify", *[str(p.relative_to(ROOT)) for p in CONFIGS], "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is True and len(data["files"]) == len(CONFIGS)
    for f in data["files"]:
        assert f["ok"] and f["total"]["expected"] == f["total"]["actual"] == f["total"]["native"]
        assert all(layer["match"] for layer in f["layers"])
    assert set(data["versions"]) == {"keras", "pytorch"}
    # TensorFlow's start-up noise stays out of the user's terminal; notes (a tied weight) are lstmcount's
    assert all(": note: " in line for line in r.stderr.splitlines()), r.stderr


def test_table_verdict_and_summary():
    r = run("verify", "configs/mnist_lstm.yaml", "--summary")
    assert r.returncode == 0, r.stderr
    assert "configs/mnist_lstm.yaml: OK: 31,960 parameters in 3 layers match Keras" in r.stdout
    assert "Keras's own summary:" in r.stdout and "31,200" in r.stdout.split("own summary:")[1]
    assert "\x1b[" not in r.stdout
    assert r.stderr == "1 of 1 file(s) verified\n"


def test_wrong_expectation_fails_and_names_what_differs(tmp_path):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text((ROOT / "configs" / "mnist_lstm.yaml").read_text()
                     .replace("total: 31960", "total: 32000").replace("lstm: 31200", "lstm: 31500"))
    r = run("verify", str(wrong))
    assert r.returncode == 1
    assert "expect: expected total 32,000, counted 31,960 (-40)" in r.stdout
    assert "expect: expected layer 'lstm' to have 31,500 parameters, counted 31,200 (-300)" in r.stdout
    assert f"{wrong}: FAILED:" in r.stdout
    j = run("verify", str(wrong), "--json")
    data = json.loads(j.stdout)
    assert j.returncode == 1 and data["ok"] is False and len(data["files"][0]["expect_failures"]) == 2


def test_pytorch_verify_with_module_listing():
    r = run("verify", "configs/torch_projection_cells.yaml", "--summary")
    assert r.returncode == 0, r.stderr
    assert "(encoder): LSTM(28, 75, proj_size=20)" in r.stdout
    assert "match PyTorch" in r.stdout


def test_framework_rejection_is_exit_2_with_its_message(tmp_path):
    spec = tmp_path / "bad.yaml"
    # lstmcount checks the initializer's name; only Keras knows what its config may hold
    spec.write_text("input_shape: [28, 28]\nlayers:\n  - type: LSTM\n    units: 5\n"
                    "    kernel_initializer: {class_name: RandomNormal, config: {bogus: 1}}\n")
    r = run("verify", str(spec))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"{spec}:3:5: layer 1 (LSTM): Keras rejected it: ")
    assert "RandomNormal" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_unknown_identifier_is_caught_without_keras(cli, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("input_shape: [28, 28]\nlayers:\n  - type: LSTM\n    units: 5\n    activation: tahn\n")
    r = cli("params", str(spec))
    assert (r.exit_code, r.stderr) == (2, f"{spec}:5:5: layer 1 (LSTM): argument 'activation' must name a known "
                                          "Keras object, got 'tahn'; did you mean 'tanh'?\n")


def test_memory_guard_refuses_before_building(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text("input_shape: [null, 28]\nlayers:\n  - type: LSTM\n    units: 100000\n")
    r = run("verify", str(spec), pre="import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None")
    assert r.returncode == 2
    assert "building it would allocate 149.05 GiB of weights (40,011,600,000 parameters), over the " \
           "1.00 GiB limit; raise it with --max-memory if you mean it" in r.stderr


@pytest.mark.parametrize(("hide", "config", "extra"), [
    ("keras", "configs/mnist_lstm.yaml", "keras"),
    ("torch", "configs/torch_mnist_lstm.yaml", "torch"),
])
def test_missing_framework_is_exit_3_with_install_command(hide, config, extra):
    r = run("verify", config, pre=f"import sys; sys.modules[{hide!r}] = None")
    assert r.returncode == 3
    assert r.stderr.endswith(f"install it with: pip install 'lstmcount[{extra}]'\n")


def test_verify_bad_spec_is_exit_2_before_any_framework(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text("input_shape: [28, 28]\nlayers:\n  - type: LSTM\n    unit: 75\n")
    r = run("verify", str(spec), pre="import sys; sys.modules['keras'] = None")
    assert r.returncode == 2
    assert r.stderr == f"{spec}:4:5: layer 1 (LSTM): LSTM takes no argument 'unit'; did you mean 'units'?\n"


def test_params_check_on_every_config(cli):
    for config in CONFIGS:
        r = cli("params", str(config), "--check", "--json")
        assert r.exit_code == 0, (config, r.stderr)
        assert "check ok" in r.stderr
        assert Path(config).read_text().count("expect:") == 1


def test_ctrl_c_during_verify_exits_130_with_one_line():
    """SIGINT while TensorFlow is importing (its fd-2 redirect in force): one line, exit 130, stderr restored."""
    import signal
    import time

    code = ("import sys\nfrom lstmcount.cli import main\n"
            "sys.argv = ['lstmcount', 'verify', 'configs/mnist_lstm.yaml']\nmain()")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(1.0)  # well inside the ~2 s import of TensorFlow
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err == "lstmcount: interrupted\n"
    assert out == ""


def test_verify_a_saved_keras_archive(tmp_path):
    """A .keras file saved by Keras itself: read without TensorFlow, then reconciled with Keras."""
    save = (f"import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\nimport keras\nL = keras.layers\n"
            f"m = keras.Sequential([keras.Input((None, 28)), L.Bidirectional(L.LSTM(8, return_sequences=True)),"
            f" L.TimeDistributed(L.Dense(3)), L.GRU(4, reset_after=False), L.Dense(2)])\n"
            f"m.save({str(tmp_path / 'm.keras')!r})\nopen({str(tmp_path / 'm.json')!r}, 'w').write(m.to_json())\n"
            f"print(m.count_params())")
    made = subprocess.run([sys.executable, "-c", save], capture_output=True, text=True, timeout=300)
    total = int(made.stdout.split()[-1])
    r = run("verify", str(tmp_path / "m.keras"), str(tmp_path / "m.json"), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert [f["total"]["native"] for f in data["files"]] == [total, total] == [2_525, 2_525]


# --- ONNX files: the checker, an ONNX Runtime session, and each recurrent node run on its own ------


def _gru_file(path: Path, hidden_size: int | None = None, linear_before_reset: int = 1,
              y_shape: tuple[int | str, ...] = (5, 1, 1, 3), initial_h: bool = False, **extra: Any) -> None:
    """A one-node ONNX GRU (W, R, B initializers for 3 units on 2 inputs), built with the onnx library."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    tensors = (("W", (1, 9, 2)), ("R", (1, 9, 3)), ("B", (1, 18))) + ((("H0", (1, 1, 3)),) if initial_h else ())
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n) for n, s in tensors]
    attrs = {"hidden_size": hidden_size, **extra} if hidden_size else extra
    inputs = ["X", "W", "R", "B"] + (["", "H0"] if initial_h else [])
    node = helper.make_node("GRU", inputs, ["Y"], name="gru", linear_before_reset=linear_before_reset, **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 2])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), str(path))


def test_verify_onnx_files_exported_by_pytorch_and_built_by_hand(tmp_path):
    import torch

    net = torch.nn.ModuleDict({"rnn": torch.nn.LSTM(4, 3, num_layers=2, bidirectional=True),
                               "head": torch.nn.Linear(6, 2)})

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net["head"](self.net["rnn"](x)[0])

    torch.onnx.export(Model(), (torch.zeros(5, 1, 4),), str(tmp_path / "lstm.onnx"), dynamo=False)
    _gru_file(tmp_path / "gru.onnx", hidden_size=3, linear_before_reset=0)
    r = run("verify", str(tmp_path / "lstm.onnx"), str(tmp_path / "gru.onnx"), "configs/mnist_lstm.yaml", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert set(data["versions"]) == {"onnx", "keras"}
    lstm, gru = data["files"][:2]
    recurrent = [layer for layer in lstm["layers"] if layer["type"] == "LSTM"]
    assert [layer["expected"] for layer in recurrent] == [2 * 4 * 3 * (4 + 3 + 2), 2 * 4 * 3 * (6 + 3 + 2)]
    assert gru["total"] == {"expected": 3 * 3 * (2 + 3 + 2), "actual": 63, "native": 63}
    rep = json.loads(run("params", str(tmp_path / "gru.onnx"), "--json").stdout)
    assert rep["total"] == 63
    r = run("layout", str(tmp_path / "gru.onnx"), "--to", "pytorch")
    assert "NOT exact" in r.stdout and "the ONNX GRU node has linear_before_reset=0" in r.stdout


def test_an_onnx_nodes_initial_state_is_listed_apart_and_verifies(tmp_path):
    _gru_file(tmp_path / "h0.onnx", hidden_size=3, initial_h=True)
    rep = json.loads(run("params", str(tmp_path / "h0.onnx"), "--json").stdout)
    assert [(layer["name"], layer["params"]) for layer in rep["layers"]] == [("gru", 63), ("gru (other inputs)", 3)]
    r = run("verify", str(tmp_path / "h0.onnx"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["files"][0]["total"]["actual"] == 66, r.stdout + r.stderr


def test_verify_onnx_refusals(tmp_path):
    _gru_file(tmp_path / "declared.onnx", y_shape=(5, 1, 3))  # Y is declared with the wrong rank
    _gru_file(tmp_path / "symbolic.onnx", hidden_size=3, y_shape=("s", "d", "b", "h"),
              activations=["Sigmoid", "Nope"])  # the weights fit; the runtime knows no activation 'Nope'
    _gru_file(tmp_path / "hidden.onnx", hidden_size=4)  # R holds 3 units: lstmcount's own reader refuses it
    r = run("verify", str(tmp_path / "hidden.onnx"))
    assert r.returncode == 2 and r.stderr == (
        f"{tmp_path / 'hidden.onnx'}: initializer 'W' (W) of node 'gru' (GRU): shape (1, 9, 2), not (1, 12, 2): "
        "ONNX's GRU keeps W as [num_directions, 3*hidden_size, input_size] (1 direction from direction, "
        "hidden_size 4 from hidden_size, input_size 2 from W)\n")
    for name, who in (("declared.onnx", "the ONNX checker refused it: "),
                      ("symbolic.onnx", "ONNX Runtime refused it: ")):
        r = run("verify", str(tmp_path / name))
        assert r.returncode == 2
        assert r.stderr.startswith(f"{tmp_path / name}: {who}"), r.stderr
        assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
    _gru_file(tmp_path / "gru.onnx")
    r = run("verify", str(tmp_path / "gru.onnx"), pre="import sys; sys.modules['onnxruntime'] = None")
    assert r.returncode == 3 and "pip install 'lstmcount[onnx]'" in r.stderr


def test_verify_a_layer_from_flags():
    r = run("verify", "-u", "75", "-i", "28", "-t", "gru", "--bidirectional", "--json")
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["ok"], r.stderr
    assert data["files"][0]["total"] == {"expected": 2 * 3 * 75 * (28 + 75 + 2), "actual": 47_250, "native": 47_250}
    r = run("verify", "-u", "5", "-i", "3", "-f", "pytorch", "--proj-size", "2", "--num-layers", "2", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["files"][0]["total"]["native"] == \
        4 * 5 * (3 + 2 + 2) + 2 * 5 + 4 * 5 * (2 + 2 + 2) + 2 * 5  # weight_hr_l{k} (2, 5) per layer
    r = run("verify", "-u", "5", "-i", "3", "-f", "tf1")
    assert r.returncode == 2 and "verify builds a layer from flags in keras or pytorch" in r.stderr
