"""Files in formats lstmcount does not read are named, with what to do (exit 2, one line), whatever their
name where their content says what they are: files written by the real TensorFlow (a SavedModel, a
TensorFlow checkpoint, a frozen graph, a TFLite model), NumPy (.npy, .npz) and pickle, and by the
safetensors and GGUF layouts as their specifications write them (neither package is installed)."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore")

SAVE = "save the model as .keras or .h5 (model.save('model.keras')) to count it"
READS = "lstmcount counts models from YAML specs, Keras files, PyTorch checkpoints and ONNX"


@pytest.fixture(scope="session")
def foreign(tmp_path_factory) -> dict[str, Path]:
    import numpy as np
    import tensorflow as tf
    import tf_keras

    root = tmp_path_factory.mktemp("foreign")
    out: dict[str, Path] = {}
    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
    model.save(root / "savedmodel", save_format="tf")
    out["savedmodel"] = root / "savedmodel"
    out["saved_model.pb"] = root / "savedmodel" / "saved_model.pb"
    prefix = tf.train.Checkpoint(model=model).write(str(root / "ckpt"))
    out["index"], out["data"] = Path(prefix + ".index"), Path(prefix + ".data-00000-of-00001")
    graph = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec((None, 4))).graph.as_graph_def()
    tf.io.write_graph(graph, str(root), "frozen.pb", as_text=False)
    out["frozen.pb"] = root / "frozen.pb"
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    for name in ("model.tflite", "tflite_named.bin"):  # known by content: the second is not a checkpoint
        (root / name).write_bytes(tflite)
        out[name] = root / name
    np.save(root / "array.npy", np.zeros(3))
    np.savez(root / "arrays.npz", w=np.zeros(2), b=np.ones(2))
    out["npy"], out["npz"] = root / "array.npy", root / "arrays.npz"
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}).encode()
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(24))
    (root / "model.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))  # v3, no tensors, no metadata
    (root / "objects.pickle").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    out.update({k: root / n for k, n in (("safetensors", "model.safetensors"), ("gguf", "model.gguf"),
                                         ("pickle", "objects.pickle"))})
    return out


CASES = {
    "savedmodel": f"a TensorFlow SavedModel directory: {SAVE}",
    "saved_model.pb": f"a TensorFlow SavedModel's graph (saved_model.pb): {SAVE}",
    "index": f"a TensorFlow checkpoint (tf.train.Checkpoint or save_weights): weights without the model's "
             f"configuration; {SAVE}",
    "data": f"a TensorFlow checkpoint (tf.train.Checkpoint or save_weights): weights without the model's "
            f"configuration; {SAVE}",
    "frozen.pb": f"a TensorFlow graph (.pb, e.g. a frozen GraphDef), which lstmcount does not read; {SAVE}, or "
                 "export ONNX",
    "model.tflite": f"a TensorFlow Lite model (a TFL3 flatbuffer), which lstmcount does not read; {READS}",
    "npy": f"a NumPy array file (.npy): one array, not a model; {READS}",
    "npz": f"a NumPy .npz archive of arrays, not a model; {READS}",
    "safetensors": f"a safetensors file (tensors by name), which lstmcount does not count yet; {READS}",
    "gguf": f"a GGUF file (llama.cpp's tensors), which lstmcount does not read; {READS}",
    "pickle": "a Python pickle that is not a PyTorch checkpoint; lstmcount never unpickles arbitrary objects "
              "(save a PyTorch model's state_dict with torch.save)",
}


@pytest.mark.parametrize("command", ["params", "layout", "compare"])
def test_each_format_is_named(cli, foreign, command):
    for key, text in CASES.items():
        r = cli(command, str(foreign[key]))
        assert (r.exit_code, r.stderr) == (2, f"{foreign[key]}: {text}\n"), key


def test_known_by_content_whatever_the_name(cli, foreign):
    """A TFLite flatbuffer named .bin (a checkpoint's name) is known by its content."""
    path = foreign["tflite_named.bin"]
    r = cli("params", str(path))
    assert (r.exit_code, r.stderr) == (2, f"{path}: {CASES['model.tflite']}\n")


def test_verify_and_solve_name_them_too(cli, foreign):
    for command in (("verify",), ("solve", "--budget", "1000")):
        r = cli(*command, str(foreign["savedmodel"]))
        assert (r.exit_code, r.stderr) == (2, f"{foreign['savedmodel']}: {CASES['savedmodel']}\n"), command
