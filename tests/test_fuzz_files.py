"""A mutation fuzzer over real model files: Keras 3 `.keras`, `to_json()` and `.h5`, Keras 2 (tf_keras)
`.h5`, a torch.save'd LSTM model's state_dict and an ONNX LSTM model, each saved once per session by
the real framework, then truncated, bit-flipped, their zip members swapped, duplicated or dropped,
and their JSON values replaced (2.5, NaN, -1, true, "x", 10**30, deep nesting, huge strings).

Whatever the mutation, `params` (and `layout`) end with exit 0 (valid JSON out, checked against its
schema by the `cli` fixture) or exit 2 with located lines naming the file; no exception escapes.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .hostile import assert_clean

FUZZ = settings(max_examples=60, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

DEEP = "[" * 5_000 + "]" * 5_000
SUBSTITUTES: list[Any] = [2.5, float("nan"), float("inf"), -1, 0, True, None, "x", "", 10**30, [], {}, [1, 2],
                          {"class_name": "LSTM"}, "x" * 1_000_000, DEEP, "\ud800", "a\x1b[31m\r\n"]


class Originals(dict[str, bytes]):
    """The real files by name; shown short in hypothesis's reports."""

    def __repr__(self) -> str:
        return f"<originals {', '.join(self)}>"


@pytest.fixture(scope="session")
def originals(tmp_path_factory) -> Originals:
    """The real files, saved once: name -> bytes."""
    folder = tmp_path_factory.mktemp("originals")
    out = Originals()
    import keras

    def build(K: Any) -> Any:
        inp = K.Input((5, 4), name="x")
        h = K.layers.LSTM(3, return_sequences=True, name="lstm")(inp)
        h = K.layers.Bidirectional(K.layers.GRU(2), name="bi")(h)
        return K.Model(inp, K.layers.Dense(2, name="dense")(h), name="fuzzed")

    model = build(keras)
    model.save(folder / "k3.keras")
    model.save(folder / "k3.h5")
    (folder / "k3.json").write_text(model.to_json())
    import tf_keras

    build(tf_keras).save(folder / "k2.h5")
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(4, 3, num_layers=2, bidirectional=True)
            self.head = torch.nn.Linear(6, 2)

    torch.save(Net().state_dict(), folder / "net.pt")
    out["onnx.onnx"] = _onnx_lstm()
    for name in ("k3.keras", "k3.h5", "k3.json", "k2.h5", "net.pt"):
        out[name] = (folder / name).read_bytes()
    return out


def _onnx_lstm() -> bytes:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    hidden, features = 3, 4
    inits = [numpy_helper.from_array(np.ones((1, 4 * hidden, features), np.float32), "W"),
             numpy_helper.from_array(np.ones((1, 4 * hidden, hidden), np.float32), "R"),
             numpy_helper.from_array(np.ones((1, 8 * hidden), np.float32), "B")]
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=hidden)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 4])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [5, 1, 1, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString()


# --- mutations ------------------------------------------------------------------------------------

@st.composite
def truncated(draw: st.DrawFn, raw: bytes) -> bytes:
    return raw[:draw(st.integers(0, max(0, len(raw) - 1)))]


@st.composite
def flipped(draw: st.DrawFn, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] ^= 1 << draw(st.integers(0, 7))
    return bytes(out)


def _members(raw: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return [(info, z.read(info)) for info in z.infolist()]


def _zipped(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in members:
            z.writestr(name, body)
    return buf.getvalue()


@st.composite
def member_ops(draw: st.DrawFn, raw: bytes) -> bytes:
    """A zip's members dropped, duplicated, swapped (one's name on another's body) or emptied."""
    members = [(info.filename, body) for info, body in _members(raw)]
    i = draw(st.integers(0, len(members) - 1))
    op = draw(st.sampled_from(["drop", "duplicate", "swap", "empty", "garbage"]))
    if op == "drop":
        del members[i]
    elif op == "duplicate":
        members.insert(draw(st.integers(0, len(members))), members[i])
    elif op == "swap":
        j = draw(st.integers(0, len(members) - 1))
        members[i], members[j] = (members[i][0], members[j][1]), (members[j][0], members[i][1])
    elif op == "empty":
        members[i] = (members[i][0], b"")
    else:
        members[i] = (members[i][0], draw(st.binary(max_size=64)))
    return _zipped(members)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def substituted_json(draw: st.DrawFn, text: str) -> str:
    """The JSON with one value (at a random path) replaced; deep nesting as raw text."""
    data = json.loads(text)
    paths = _paths(data)[1:]
    where = draw(st.sampled_from(paths))
    value = draw(st.sampled_from(SUBSTITUTES))
    holder = data
    for key in where[:-1]:
        holder = holder[key]
    holder[where[-1]] = "@@DEEP@@" if value is DEEP else value
    return json.dumps(data).replace('"@@DEEP@@"', DEEP)


@st.composite
def keras_archive(draw: st.DrawFn, raw: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "members", "config"]))
    if kind == "truncate":
        return draw(truncated(raw))
    if kind == "flip":
        return draw(flipped(raw))
    if kind == "members":
        return draw(member_ops(raw))
    members = [(info.filename, body) for info, body in _members(raw)]
    return _zipped([(n, draw(substituted_json(b.decode())).encode("utf-8", "surrogatepass") if n == "config.json"
                     else b) for n, b in members])


@st.composite
def text_file(draw: st.DrawFn, raw: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "substitute", "substitute"]))
    if kind == "truncate":
        return draw(truncated(raw))
    if kind == "flip":
        return draw(flipped(raw))
    return draw(substituted_json(raw.decode())).encode("utf-8", "surrogatepass")


@st.composite
def binary_file(draw: st.DrawFn, raw: bytes, zipped: bool = False) -> bytes:
    kinds = ["truncate", "flip", *(["members"] if zipped else [])]
    kind = draw(st.sampled_from(kinds))
    if kind == "truncate":
        return draw(truncated(raw))
    if kind == "flip":
        return draw(flipped(raw))
    return draw(member_ops(raw))


def _h5_config(raw: bytes, folder: Path, text: str) -> bytes:
    """The .h5 file with its model_config attribute replaced."""
    import h5py

    path = folder / "attr.h5"
    path.write_bytes(raw)
    with h5py.File(path, "r+") as fh:
        fh.attrs["model_config"] = text.encode("utf-8", "surrogatepass")
    return path.read_bytes()


# --- the runs -------------------------------------------------------------------------------------

def _run(cli: Any, path: Path, data: bytes, commands: tuple[str, ...] = ("params",)) -> None:
    path.write_bytes(data)
    for command in commands:
        r = cli(command, "--json", str(path))
        assert_clean(r, str(path))
        if r.exit_code == 0:
            json.loads(r.stdout)


def _in_child(check: Any, timeout: float = 20.0) -> None:
    """Run `check()` in a forked child, killed after `timeout` seconds: HDF5 can loop forever inside one
    C call on a corrupt file, which no in-process limit interrupts. A failure in the child fails here."""
    import os
    import select
    import signal
    import traceback

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            check()
            text = ""
        except BaseException:
            text = traceback.format_exc()
        os.write(write, text.encode("utf-8", "backslashreplace")[-20000:] or b"ok")
        os._exit(0)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"still reading after {timeout:.0f} s (killed)")
        text = os.read(read, 20000).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert text == "ok", text


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzzed")


@FUZZ
@given(st.data())
def test_fuzz_keras_archive(cli, originals, work, data):
    _run(cli, work / "m.keras", data.draw(keras_archive(originals["k3.keras"])), ("params", "layout"))


@FUZZ
@given(st.data())
def test_fuzz_keras_json(cli, originals, work, data):
    _run(cli, work / "m.json", data.draw(text_file(originals["k3.json"])), ("params", "layout"))


@FUZZ
@given(st.data(), st.sampled_from(["k3.h5", "k2.h5"]))
def test_fuzz_keras_h5(cli, originals, work, data, which):
    raw = originals[which]
    if data.draw(st.booleans(), label="replace model_config"):
        import h5py

        with h5py.File(io.BytesIO(raw), "r") as fh:
            text = fh.attrs["model_config"]
        mutated = _h5_config(raw, work, data.draw(substituted_json(text.decode() if isinstance(text, bytes) else text)))
    else:
        mutated = data.draw(binary_file(raw))
    _in_child(lambda: _run(cli, work / "m.h5", mutated))


@FUZZ
@given(st.data())
def test_fuzz_checkpoint(cli, originals, work, data):
    _run(cli, work / "m.pt", data.draw(binary_file(originals["net.pt"], zipped=True)), ("params", "layout"))


@FUZZ
@given(st.data())
def test_fuzz_onnx(cli, originals, work, data):
    _run(cli, work / "m.onnx", data.draw(binary_file(originals["onnx.onnx"])), ("params", "layout"))


def test_the_originals_count(cli, originals, work):
    """The unmutated files are read and counted: the fuzzer starts from files lstmcount accepts. Counts
    by hand: LSTM(3) on 4 features 4*((4+3)*3+3) = 96; Bidirectional GRU(2) on 3 (reset_after:
    3*((3+2)*2+2*2) per direction) = 2*42 = 84; Dense 4*2+2 = 10: 190. The PyTorch 2-layer
    bidirectional LSTM(4, 3): layer 1 2*4*3*(4+3+2) = 216, layer 2 2*4*3*(6+3+2) = 264, Linear 6*2+2 = 14:
    494. The ONNX LSTM: W 48 + R 36 + B 24 = 108."""
    totals = {"k3.keras": 190, "k3.json": 190, "k3.h5": 190, "k2.h5": 190, "net.pt": 494, "onnx.onnx": 108}
    for name, total in totals.items():
        path = work / name
        path.write_bytes(originals[name])
        r = cli("params", "--json", str(path))
        assert r.exit_code == 0, (name, r.stderr)
        assert json.loads(r.stdout)["total"] == total, name
