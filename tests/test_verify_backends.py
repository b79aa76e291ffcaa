"""`lstmcount verify` on the Keras backend the user configured (KERAS_BACKEND, keras.json in KERAS_HOME,
else TensorFlow), said on stderr: the same models verified with TensorFlow and with JAX, each in its own
process (Keras picks its backend when it is imported). Weight shapes do not depend on the backend."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.filterwarnings("ignore")

SPECS = {
    "lstm.yaml": "framework: keras\ninput_shape: [7, 5]\nlayers:\n  - {type: LSTM, units: 4}\n",
    "gru.yaml": "framework: keras\ninput_shape: [7, 5]\nlayers:\n  - {type: GRU, units: 3, reset_after: false}\n"
                "  - {type: Dense, units: 2}\n",
    "bidirectional.yaml": "framework: keras\ninput_shape: [null, 6]\nlayers:\n"
                          "  - {type: Bidirectional, layer: {type: LSTM, units: 3, return_sequences: true}}\n"
                          "  - {type: GRU, units: 2}\n",
    "conv.yaml": "framework: keras\ninput_shape: [20, 4]\nlayers:\n  - {type: Conv1D, filters: 8, kernel_size: 3}\n"
                 "  - {type: MaxPooling1D}\n  - {type: LSTM, units: 5}\n",
    "seq2seq.yaml": """\
framework: keras
inputs:
  source: [null, 6]
  target: [null, 7]
layers:
  - {type: LSTM, name: encoder, units: 8, return_state: true, inputs: source}
  - {type: LSTM, name: decoder, units: 8, return_sequences: true, inputs: target,
     initial_state: ["encoder[1]", "encoder[2]"]}
  - {type: Dense, name: out, units: 7, inputs: decoder}
outputs: [out]
""",
}


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("backends")
    for name, text in SPECS.items():
        (root / name).write_text(text)
    return [str(root / name) for name in SPECS]


def verify(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """This checkout's `lstmcount verify` in a fresh interpreter, with these environment variables
    (KERAS_BACKEND left out unless given)."""
    base = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    return subprocess.run([sys.executable, "-m", "lstmcount", "verify", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**base, **env}, timeout=600)


def _verified(r: subprocess.CompletedProcess[str], n: int) -> dict[str, int]:
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is True and len(data["files"]) == n
    return {Path(f["path"]).name: f["total"]["native"] for f in data["files"]}


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_the_same_models_verify_on_each_backend(specs, backend):
    r = verify(*specs, "--json", KERAS_BACKEND=backend)
    totals = _verified(r, len(SPECS))
    assert r.stderr.splitlines()[0] == f"keras backend: {backend} (from KERAS_BACKEND)"
    # by hand: the counts do not depend on the backend
    assert totals == {"lstm.yaml": 4 * (4 * (5 + 4) + 4), "gru.yaml": 3 * (3 * (5 + 3) + 3) + 3 * 2 + 2,
                      "bidirectional.yaml": 2 * 4 * (3 * (6 + 3) + 3) + 3 * (2 * (6 + 2) + 2 * 2),
                      "conv.yaml": 3 * 4 * 8 + 8 + 4 * (5 * (8 + 5) + 5),
                      "seq2seq.yaml": 4 * (8 * (6 + 8) + 8) + 4 * (8 * (7 + 8) + 8) + 8 * 7 + 7}


def test_keras_json_in_keras_home(specs, tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    r = verify(specs[0], specs[-1], "--json", KERAS_HOME=str(tmp_path))
    _verified(r, 2)
    assert r.stderr.splitlines()[0] == f"keras backend: jax (from {tmp_path / 'keras.json'})"


def test_an_unknown_backend_is_named(specs, tmp_path):
    r = verify(specs[0], KERAS_BACKEND="mxnet")
    assert (r.returncode, r.stderr) == (2, "lstmcount: the Keras backend 'mxnet' (from KERAS_BACKEND) is not one "
                                           "Keras has; it takes tensorflow, jax, torch, numpy, openvino\n")
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "theano"}))
    r = verify(specs[0], KERAS_HOME=str(tmp_path))
    assert r.returncode == 2 and f"'theano' (from {tmp_path / 'keras.json'})" in r.stderr


@pytest.mark.skipif(importlib.util.find_spec("openvino") is not None, reason="openvino is installed")
def test_a_backend_not_installed_says_how_to_install_it(specs):
    r = verify(specs[0], KERAS_BACKEND="openvino")
    assert (r.returncode, r.stderr) == (3, "lstmcount: openvino (the Keras backend 'openvino', from KERAS_BACKEND) "
                                           "is not installed; install it with: pip install openvino\n")


def test_a_keras_2_file_verifies_on_jax_with_its_notes(tmp_path):
    """A Keras 2 .h5 (time_major layers) is built by today's Keras after the same translation; the notes
    say where Keras 3 reads the config differently."""
    code = """
import sys, tf_keras as K
L = K.layers
i = K.Input((6, 5)); x = L.LSTM(3, time_major=True, return_sequences=True)(i); x = L.GRU(2, time_major=True)(x)
m = K.Model(i, x); m.save(sys.argv[1]); print(m.count_params())
"""
    path = tmp_path / "k2.h5"
    made = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert made.returncode == 0, made.stderr
    r = verify(str(path), "--json", KERAS_BACKEND="jax")
    assert _verified(r, 1) == {"k2.h5": int(made.stdout.split()[-1])}
    assert sum("time_major: true is Keras 2's" in line for line in r.stderr.splitlines()) == 2


def test_a_cudnn_layer_is_not_built_as_something_else(tmp_path):
    """Keras 3 has no CuDNNLSTM: verify says so and how it relates, before importing anything."""
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 6, 5], "name": "in"}},
        {"class_name": "CuDNNLSTM", "config": {"name": "c", "trainable": True, "units": 3}}]}}
    path = tmp_path / "cudnn.json"
    path.write_text(json.dumps(config))
    r = verify(str(path), KERAS_BACKEND="jax")
    assert r.returncode == 2
    assert r.stderr == (f"{path}: layer 1 'c' (CuDNNLSTM): Keras 3 has no CuDNNLSTM (Keras 2's "
                        "cuDNN-only layer), so verify cannot build it; its count is Keras 2's own (a second bias "
                        "per gate, as cuDNN keeps it). A Keras 3 LSTM of the same units runs on cuDNN too and has "
                        "4 x 3 = 12 fewer parameters\n")
