"""Hostile ONNX files (issue 14): every malformed, oversized or malicious `.onnx` is exit 2 with one
line naming the file (and the initializer and node), in bounded time and memory; nothing outside the
model's folder is read; legitimate models still count exactly.

The models are built with onnx.helper (checked with onnx.checker and, where the runtime takes them,
an ONNX Runtime session) and mutated at test time; the big ones are generated here, never committed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from lstmcount.inputs.onnx import MAX_INITIALIZERS, MAX_MESSAGES, MAX_NODES, MAX_PARTS

from .conftest import ROOT
from .hostile import SPAWN_MEMORY, SPAWN_TIMEOUT, assert_clean, spawn_all

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def recurrent(op: str = "LSTM", hidden: int = 3, inp: int = 2, directions: int = 1, bias: bool = True,
              peepholes: bool = False, initial_h: bool = False, hidden_attr: bool = True, name: str = "lstm_1",
              seed: int = 0) -> onnx.ModelProto:
    """One LSTM/GRU/RNN node whose W, R (B, P, initial_h) are initializers, then a MatMul head whose
    weight is an initializer too."""
    rng = np.random.default_rng(seed)
    g = GATES[op] * hidden
    shapes = {"W": (directions, g, inp), "R": (directions, g, hidden)}
    if bias:
        shapes["B"] = (directions, 2 * g)
    if initial_h:
        shapes["H0"] = (directions, 1, hidden)
    if peepholes:
        shapes["P"] = (directions, 3 * hidden)
    inits = [numpy_helper.from_array(rng.uniform(-1, 1, s).astype(np.float32), n) for n, s in shapes.items()]
    inputs = ["X", "W", "R", "B" if bias else "", "", "H0" if initial_h else ""]
    if peepholes:
        inputs += ["", "P"]
    while inputs[-1] == "":
        inputs.pop()
    attrs: dict[str, Any] = {"direction": "bidirectional" if directions == 2 else "forward"}
    if hidden_attr:
        attrs["hidden_size"] = hidden
    nodes = [helper.make_node(op, inputs, ["Y"], name=name, **attrs),
             helper.make_node("Reshape", ["Y", "shape"], ["Z"], name="flat"),
             helper.make_node("MatMul", ["Z", "head.weight"], ["out"], name="head")]
    head = numpy_helper.from_array(rng.normal(size=(directions * hidden, 2)).astype(np.float32), "head.weight")
    shape = numpy_helper.from_array(np.array([5, directions * hidden], dtype=np.int64), "shape")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, inp])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [5, 2])],
                              [*inits, head, shape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def init(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(i for i in model.graph.initializer if i.name == name)


def save(model: onnx.ModelProto, path: Path) -> str:
    path.write_bytes(model.SerializeToString())
    return str(path)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _many(field: int, item: bytes, count: int) -> bytes:
    """A ModelProto whose graph repeats one message `count` times in `field` (wire format written directly:
    a million initializers in a few milliseconds)."""
    one = bytes([field << 3 | 2]) + _varint(len(item)) + item
    graph = one * count
    return b"\x08\x08" + bytes([7 << 3 | 2]) + _varint(len(graph)) + graph  # ir_version 8, graph


def test_the_base_models_are_valid_and_count(cli, tmp_path):
    model = recurrent("LSTM", 3, 2, 2, peepholes=True)
    onnx.checker.check_model(model, full_check=True)
    path = save(model, tmp_path / "m.onnx")
    total = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    assert total == 2 * 4 * 3 * (2 + 3 + 2) + 2 * 3 * 3 + 6 * 2 + 2
    r = cli("params", path, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == total


# --- in-process: located one-line refusals --------------------------------------------------------


def _set_dims(name: str, dims: tuple[int, ...]) -> Any:
    def mutate(m: onnx.ModelProto) -> None:
        t = init(m, name)
        del t.dims[:]
        t.dims.extend(dims)
    return mutate


def _drop_attr(name: str) -> Any:
    def mutate(m: onnx.ModelProto) -> None:
        node = m.graph.node[0]
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept)
    return mutate


def _set_attr(name: str, value: Any) -> Any:
    def mutate(m: onnx.ModelProto) -> None:
        node = m.graph.node[0]
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend([*kept, helper.make_attribute(name, value)])
    return mutate


LSTM_W = "ONNX's LSTM keeps W as [num_directions, 4*hidden_size, input_size]"
REFUSALS = [
    ("negative-dim", _set_dims("W", (1, -8, 2)),
     "{f}: initializer 'W' (W) of node 'lstm_1' (LSTM): dimension -8 (axis 1 of (1, -8, 2)) must be positive"),
    ("negative-dim-unused", lambda m: m.graph.initializer.append(TensorProto(name="junk", data_type=1, dims=[-8])),
     "{f}: initializer 'junk' (read by no node): dimension -8 (axis 0 of (-8,)) must be at least 0"),
    ("zero-dim-in-R", _set_dims("R", (1, 12, 0)),
     "{f}: initializer 'R' (R) of node 'lstm_1' (LSTM): dimension 0 (axis 2 of (1, 12, 0)) must be positive"),
    ("huge-dim", _set_dims("head.weight", (3, 10**13)),
     "{f}: initializer 'head.weight' of node 'head' (MatMul): dimension 10000000000000 (axis 1) is more than "
     "1,000,000,000,000, beyond what any framework could build"),
    ("rank-9", _set_dims("head.weight", (1,) * 9),
     "{f}: initializer 'head.weight' of node 'head' (MatMul): 9 dimensions; lstmcount reads tensors of at most 8"),
    ("W-rank-2", _set_dims("W", (12, 2)), "{f}: initializer 'W' (W) of node 'lstm_1' (LSTM): shape (12, 2); " + LSTM_W),
    ("W-rank-4", _set_dims("W", (1, 12, 2, 1)),
     "{f}: initializer 'W' (W) of node 'lstm_1' (LSTM): shape (1, 12, 2, 1); " + LSTM_W),
    ("R-rank-2", _set_dims("R", (12, 3)),
     "{f}: initializer 'R' (R) of node 'lstm_1' (LSTM): shape (12, 3), not (1, 12, 3): ONNX's LSTM keeps R as "
     "[num_directions, 4*hidden_size, hidden_size]"),
    ("R-rank-2-no-hidden_size", lambda m: (_set_dims("R", (12, 3))(m), _drop_attr("hidden_size")(m)),
     "{f}: initializer 'R' (R) of node 'lstm_1' (LSTM): shape (12, 3); ONNX's LSTM keeps R as "
     "[num_directions, 4*hidden_size, hidden_size]"),
    ("W-gates-wrong", _set_dims("W", (1, 9, 2)),
     "{f}: initializer 'W' (W) of node 'lstm_1' (LSTM): shape (1, 9, 2), not (1, 12, 2): " + LSTM_W),
    ("B-single-bias", _set_dims("B", (1, 12)),
     "{f}: initializer 'B' (B) of node 'lstm_1' (LSTM): shape (1, 12), not (1, 24): ONNX's LSTM keeps B as "
     "[num_directions, 2*4*hidden_size]"),
    ("two-directions-in-a-forward-node", lambda m: [_set_dims(n, (2, *init(m, n).dims[1:]))(m) for n in "WRB"],
     "{f}: initializer 'W' (W) of node 'lstm_1' (LSTM): shape (2, 12, 2), not (1, 12, 2): "),
    ("hidden_size-disagrees", _set_attr("hidden_size", 4),
     "{f}: initializer 'W' (W) of node 'lstm_1' (LSTM): shape (1, 12, 2), not (1, 16, 2): " + LSTM_W
     + " (1 direction from direction, hidden_size 4 from hidden_size, input_size 2 from W)"),
    ("hidden_size-negative", _set_attr("hidden_size", -3),
     "{f}: node 'lstm_1' (LSTM): hidden_size -3 must be between 1 and 1,000,000,000,000"),
    ("direction-unknown", _set_attr("direction", "sideways"),
     "{f}: node 'lstm_1' (LSTM): direction 'sideways' is none of forward, reverse, bidirectional"),
    ("node-reading-1001-tensors", lambda m: m.graph.node[2].input.extend(["shape"] * 999),
     "{f}: node 'head' (MatMul) reads 1,001 tensors; lstmcount reads at most 1,000 per node"),
    ("initializer-defined-twice", lambda m: m.graph.initializer.append(numpy_helper.from_array(np.ones(2, np.float32),
                                                                                              "R")),
     "{f}: initializer 'R' is defined twice; an ONNX graph names each tensor once"),
    ("control-characters-in-names", lambda m: (setattr(m.graph.node[0], "name", "a\x1b[31m\nb\u2028c\x00"),
                                               _set_dims("W", (1, -1, 2))(m)),
     "{f}: initializer 'W' (W) of node 'a\\x1b[31m\\nb\\u2028c\\x00' (LSTM): dimension -1"),
]


@pytest.mark.parametrize(("mutate", "fragment"), [pytest.param(m, f, id=i) for i, m, f in REFUSALS])
def test_located_refusals(cli, tmp_path, mutate, fragment):
    model = recurrent()
    mutate(model)
    path = save(model, tmp_path / "m.onnx")
    for args in (("params", path), ("layout", path), ("layout", path, "--to", "keras", "--save",
                                                      str(tmp_path / "o.npz"))):
        r = cli(*args)
        assert_clean(r, path, (2,))
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert fragment.replace("{f}", path) in r.stderr, r.stderr
    assert not (tmp_path / "o.npz").exists()


def test_names_that_are_not_utf8_are_shown_escaped(cli, tmp_path):
    model = recurrent(name="NODENAME")
    init(model, "W").dims[1] = -1
    data = model.SerializeToString().replace(b"NODENAME", b"\xff\xfe\x1b\n\x00\x07ab")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    r = cli("params", str(path))
    assert_clean(r, str(path), (2,))
    assert r.stderr == (f"{path}: initializer 'W' (W) of node '\\\\xff\\\\xfe\\x1b\\n\\x00\\x07ab' (LSTM): dimension "
                        "-1 (axis 1 of (1, -1, 2)) must be positive\n")


def test_zero_sized_initializers_count_zero(cli, tmp_path):
    """An empty tensor (Resize's empty roi, say) is legitimate: 0 parameters, not a refusal."""
    model = recurrent()
    model.graph.initializer.append(helper.make_tensor("roi", TensorProto.FLOAT, [0], []))
    r = cli("params", save(model, tmp_path / "m.onnx"), "--json")
    assert r.exit_code == 0, r.stderr
    total = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    assert json.loads(r.stdout)["total"] == total


@pytest.mark.parametrize(("data", "fragment"), [
    (b"", None),  # an empty ModelProto parses: no graph, nothing to count
    (b"garbage", "not a readable ONNX model (Error parsing message near byte "),
    (b"\x00" * 4096, "not a readable ONNX model (Error parsing message near byte 1: a field numbered 0)"),
    (b"\x3a\xff\xff\xff\xff\x0f", "a field runs past the end of the file"),
    (b"\x08" + b"\xff" * 20, "a number longer than 10 bytes"),
    (b"\x3a\x02\x0a", "a field runs past the end of the file"),
    (b"\x3a\x02\x0a\x05", "a field runs past the end of its message"),
    (b"\x3a\x02\x0a\x80", "a message ends inside a field"),
    (b"\x3a" + _varint(200) + b"\x0a\x00" * 100, None),  # a graph of 100 empty nodes: nothing to count
    (b"\x3a\x02\x0b\x00", "wire type 3, which ONNX never writes"),
])
def test_broken_protobufs(cli, tmp_path, data, fragment):
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    r = cli("params", str(path))
    if fragment is None:
        assert r.exit_code == 0 and "Traceback" not in r.stderr
        return
    assert_clean(r, str(path), (2,))
    assert len(r.stderr.splitlines()) == 1 and fragment in r.stderr, r.stderr


def _walk(message: Any) -> tuple[int, int, int]:
    """(messages, nodes, initializers) below a parsed message, as protobuf built them."""
    messages = nodes = inits = 0
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for child in (value if field.is_repeated else [value]):
            m, n, i = _walk(child)
            messages += 1 + m
            nodes += n + (field.message_type.name == "NodeProto")
            inits += i + (field.name == "initializer")
    return messages, nodes, inits


def test_the_count_before_parsing_follows_every_message(tmp_path):
    """The scan that bounds what protobuf builds counts what protobuf then builds: on a model with a Loop
    whose body holds a graph with its own initializer, typed inputs and outputs, and metadata."""
    from lstmcount.inputs.onnx import _count

    model = recurrent(peepholes=True, initial_h=True)
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Add", ["c", "k"],
                                                                                                ["s"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("s", TensorProto.FLOAT, ["n", 3])],
                             [numpy_helper.from_array(np.ones(3, np.float32), "k")])
    model.graph.node.append(helper.make_node("Loop", ["", "cond"], ["s_final"], body=body, name="loop"))
    helper.set_model_props(model, {"author": "test"})
    parts, *counted = _count(model.SerializeToString(), "m.onnx", onnx.ModelProto.DESCRIPTOR)
    assert tuple(counted) == _walk(model)
    assert counted[1:] == [6, 8]  # LSTM, Reshape, MatMul, Loop + the body's 2; W, R, B, H0, P, head, shape + k
    assert parts > sum(counted)


def test_truncated_models(cli, tmp_path):
    data = recurrent().SerializeToString()
    path = tmp_path / "m.onnx"
    for cut in range(1, len(data), max(1, len(data) // 60)):
        path.write_bytes(data[:cut])
        r = cli("params", str(path))
        assert_clean(r, str(path))
        assert len(r.stderr.splitlines()) <= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_bytes_are_read_or_refused_in_one_line(cli, tmp_path, data):
    """Random byte changes to a real model: `params` and `layout --save` count it or refuse it in one line."""
    raw = bytearray(recurrent(data.draw(st.sampled_from(["LSTM", "GRU", "RNN"])), 2, 2).SerializeToString())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, raw[at] ^ 0x08, raw[at] ^ 0x01]))
    path = tmp_path / "m.onnx"
    path.write_bytes(bytes(raw))
    for args in (("params", str(path)), ("layout", str(path), "--to", "pytorch", "--save", str(tmp_path / "o.npz"))):
        r = cli(*args)
        assert_clean(r, str(path))
        assert len(r.stderr.splitlines()) <= (1 if r.exit_code else 2), r.stderr


# --- --save: the arrays -----------------------------------------------------------------------------


def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_save_converts_bfloat16_and_float16_exactly(cli, tmp_path):
    base = recurrent("GRU", name="gru")
    save(base, tmp_path / "f32.onnx")
    assert cli("layout", str(tmp_path / "f32.onnx"), "--to", "pytorch", "--save", str(tmp_path / "f32.npz")) \
        .exit_code == 0
    for elem, np_type in ((TensorProto.BFLOAT16, None), (TensorProto.FLOAT16, np.float16)):
        for raw in (True, False):
            model = recurrent("GRU", name="gru")
            for t in list(model.graph.initializer)[:3]:  # W, R, B
                values = numpy_helper.to_array(t)
                if np_type is None:  # keep bfloat16's upper half of each float32
                    bits = (values.view(np.uint32) >> 16).astype(np.uint16)
                else:
                    bits = values.astype(np.float16).view(np.uint16)
                t.ClearField("raw_data")
                t.data_type = elem
                if raw:
                    t.raw_data = bits.tobytes()
                else:
                    t.int32_data.extend(int(b) for b in bits.ravel())
            path = save(model, tmp_path / f"{elem}-{raw}.onnx")
            out = tmp_path / f"{elem}-{raw}.npz"
            r = cli("layout", path, "--to", "pytorch", "--save", str(out))
            assert r.exit_code == 0, r.stderr
            got, want = _npz(out), _npz(tmp_path / "f32.npz")
            assert got.keys() == want.keys()
            for k in want:
                if np_type is None:  # the bfloat16 values, exactly, as float32: the float32s truncated
                    truncated = (want[k].view(np.uint32) & 0xFFFF0000).view(np.float32)
                    assert got[k].dtype == np.float32 and np.array_equal(got[k], truncated)
                else:
                    assert got[k].dtype == np.float16
                    np.testing.assert_array_equal(got[k], want[k].astype(np.float16))


def _retype(name: str, how: str) -> Any:
    def mutate(m: onnx.ModelProto) -> None:
        t = init(m, name)
        if how == "short":
            t.raw_data = t.raw_data[:12]
        elif how == "string":
            t.ClearField("raw_data")
            t.data_type = TensorProto.STRING
            t.string_data.extend([b"x"] * int(np.prod(t.dims)))
        elif how == "few-values":
            t.ClearField("raw_data")
            t.float_data.extend([1.0] * 5)
        elif how == "segment":
            t.segment.begin, t.segment.end = 0, 4
        elif how == "float8":
            t.data_type = TensorProto.FLOAT8E4M3FN
            t.raw_data = t.raw_data[:int(np.prod(t.dims))]
    return mutate


@pytest.mark.parametrize(("mutate", "message"), [
    (_retype("W", "short"), "{f}: initializer 'W' holds 12 bytes; its dims (1, 12, 2) need 96"),
    (_retype("R", "string"), "{f}: initializer 'R' holds STRING values; --save converts numbers stored as float, "
                             "double, float16, bfloat16, integers or booleans"),
    (_retype("B", "few-values"), "{f}: initializer 'B' holds 5 values; its dims (1, 24) need 24"),
    (_retype("W", "float8"), "{f}: initializer 'W' holds FLOAT8E4M3FN values; --save converts numbers stored as "
                             "float, double, float16, bfloat16, integers or booleans"),
    (_retype("R", "segment"), "{f}: initializer 'R' is one segment of a tensor; --save reads whole tensors"),
], ids=["short-raw-data", "string", "few-values", "float8", "segment"])
def test_save_refuses_arrays_it_cannot_read(cli, tmp_path, mutate, message):
    model = recurrent()
    mutate(model)
    path = save(model, tmp_path / "m.onnx")
    assert cli("params", path).exit_code == 0  # counting reads dims only
    r = cli("layout", path, "--to", "keras", "--save", str(tmp_path / "o.npz"))
    assert_clean(r, path, (2,))
    assert r.stderr == message.replace("{f}", path) + "\n"
    assert not (tmp_path / "o.npz").exists()


def test_save_reads_only_what_the_recipe_needs(cli, tmp_path):
    """A string initializer the recipe does not convert (the head's) is never read."""
    model = recurrent()
    _retype("head.weight", "string")(model)
    r = cli("layout", save(model, tmp_path / "m.onnx"), "--to", "keras", "--save", str(tmp_path / "o.npz"))
    assert r.exit_code == 0, r.stderr
    assert sorted(_npz(tmp_path / "o.npz")) == ["lstm/bias", "lstm/kernel", "lstm/recurrent_kernel"]


# --- external data ------------------------------------------------------------------------------------


def _external(model: onnx.ModelProto, name: str, location: str, offset: int | None = None,
              length: int | None = None) -> bytes:
    """Point an initializer at external data; returns the bytes it held."""
    t = init(model, name)
    data = t.raw_data
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", offset), ("length", length)):
        if value is not None:
            entry = t.external_data.add()
            entry.key, entry.value = key, str(value)
    return data


def test_external_data_is_read_from_the_models_folder_only(cli, tmp_path, monkeypatch):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    model = recurrent()
    weights = _external(model, "W", "weights.bin", 16)
    (a / "weights.bin").write_bytes(b"\x01" * 16 + weights)
    (b / "weights.bin").write_bytes(b"\x02" * (16 + len(weights)))  # the same name where the user stands
    path = save(model, a / "m.onnx")
    monkeypatch.chdir(b)
    r = cli("params", path, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == sum(int(np.prod(i.dims))
                                                                       for i in model.graph.initializer)
    out = tmp_path / "o.npz"
    r = cli("layout", path, "--to", "keras", "--save", str(out))
    assert r.exit_code == 0, r.stderr
    kernel = np.frombuffer(weights, dtype=np.float32).reshape(12, 2).T  # Keras: (input, 4 × units)
    np.testing.assert_array_equal(_npz(out)["lstm/kernel"][:, :3], kernel[:, :3])  # the input gate, from A's file


@pytest.mark.parametrize(("location", "offset", "length", "fragment"), [
    ("../B/secret.txt", None, None, "external data location '../B/secret.txt' is not a file name inside the "
                                    "model's folder; lstmcount reads external data only from there"),
    ("{abs}", None, None, "is not a file name inside the model's folder"),
    ("link.bin", None, None, "external data 'link.bin' leads outside the model's folder"),
    ("weights.bin", 10**12, None, "external data offset 1000000000000 and length null do not fit 'weights.bin' "
                                  "(96 bytes)"),
    ("weights.bin", 0, 10**12, "do not fit 'weights.bin' (96 bytes)"),
    ("weights.bin", 8, None, "initializer 'W' has 88 bytes of external data; its dims need 96"),
    ("weights.bin", -1, None, "external data offset -1 and length null do not fit"),
    ("weights.bin", "x", None, "external data offset or length is not a number"),
    ("missing.bin", None, None, "its external data file 'missing.bin' is not in the model's folder"),
    ("fifo", None, None, "external data 'fifo' is not a regular file"),
])
def test_external_data_refusals(cli, tmp_path, location, offset, length, fragment):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    (b / "secret.txt").write_bytes(b"S" * 96)
    (a / "link.bin").symlink_to(b / "secret.txt")
    os.mkfifo(a / "fifo")
    model = recurrent()
    (a / "weights.bin").write_bytes(_external(model, "W", location.replace("{abs}", str(b / "secret.txt")),
                                              offset, length))  # type: ignore[arg-type]
    path = save(model, a / "m.onnx")
    assert cli("params", path).exit_code == 0  # counting never reads external data
    r = cli("layout", path, "--to", "keras", "--save", str(tmp_path / "o.npz"))
    assert_clean(r, path, (2,))
    assert len(r.stderr.splitlines()) == 1 and fragment in r.stderr, r.stderr
    assert r.stderr.startswith(f"{path}: initializer 'W'")
    assert not (tmp_path / "o.npz").exists()


def test_verify_refuses_external_data_outside_the_folder(tmp_path):
    a = tmp_path / "A"
    a.mkdir()
    (tmp_path / "secret.txt").write_bytes(b"S" * 96)
    model = recurrent()
    _external(model, "W", "../secret.txt")
    path = save(model, a / "m.onnx")
    r = subprocess.run([sys.executable, "-m", "lstmcount", "verify", path], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 2 and r.stderr == (f"{path}: initializer 'W': external data location '../secret.txt' is "
                                              "not a file name inside the model's folder; lstmcount reads external "
                                              "data only from there\n")


# --- real processes: size, time and memory ---------------------------------------------------------


SECRET = b"TOP-SECRET-" * 9  # 99 bytes: cut to what W needs below


@pytest.fixture(scope="module")
def spawned(tmp_path_factory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("onnx-spawned")
    runs: dict[str, tuple[list[str], bytes, Path]] = {}
    expect: dict[str, tuple[str, tuple[int, ...], str]] = {}  # the file, the exit codes, a fragment of stderr

    def add(rid: str, path: Path, fragment: str, codes: tuple[int, ...] = (2,), args: tuple[str, ...] = ("params",),
            cwd: Path = ROOT) -> None:
        runs[rid] = ([*args[:1], str(path), *args[1:]], b"", cwd)
        expect[rid] = (str(path), codes, fragment)

    tensor = helper.make_tensor("t", TensorProto.FLOAT, [1], [0.0]).SerializeToString()
    (folder / "million-initializers.onnx").write_bytes(_many(5, tensor, 1_000_000))
    add("million-initializers", folder / "million-initializers.onnx",
        f"{folder / 'million-initializers.onnx'}: holds more than {MAX_INITIALIZERS:,} initializers; lstmcount reads "
        f"at most {MAX_INITIALIZERS:,} (no exported model comes near)")
    node = helper.make_node("Relu", ["x"], ["x"]).SerializeToString()
    (folder / "million-nodes.onnx").write_bytes(_many(1, node, 1_000_000))
    add("million-nodes", folder / "million-nodes.onnx", f"holds more than {MAX_NODES:,} nodes")
    # protobuf spends some hundred bytes on each empty message of two bytes: 5 million nodes in a Loop's body
    # (10 MB) would take 800 MB; 3 million empty dims of a declared output, 200 MB per million
    body = b"\x0a\x00" * 5_000_000
    attr = _ld(1, b"body") + _ld(6, body) + b"\xa0\x01\x05"  # name, g, type GRAPH
    (folder / "nested-nodes.onnx").write_bytes(b"\x08\x08" + _ld(7, _ld(1, _ld(4, b"Loop") + _ld(5, attr))))
    add("nested-empty-nodes", folder / "nested-nodes.onnx", f"holds more than {MAX_NODES:,} nodes")
    dims = b"\x0a\x00" * 3_000_000  # TensorShapeProto: 3 million empty dims (TensorShapeProto.dim is field 1)
    value = _ld(1, b"y") + _ld(2, _ld(1, b"\x08\x01" + _ld(2, dims)))
    (folder / "empty-dims.onnx").write_bytes(b"\x08\x08" + _ld(7, _ld(12, value)))
    add("empty-dims", folder / "empty-dims.onnx", f"holds more than {MAX_MESSAGES:,} messages")
    many = _ld(1, _ld(1, b"x") * 3_000_000 + _ld(4, b"Concat"))  # a node reading 3 million tensors
    (folder / "many-inputs.onnx").write_bytes(b"\x08\x08" + _ld(7, many))
    add("three-million-node-inputs", folder / "many-inputs.onnx", f"holds more than {MAX_PARTS:,} fields")
    # `params` sends files that are not regular to the text reader (inputs.sniff); the ONNX reader refuses
    # them itself, before it opens them
    read = ("import sys\nfrom lstmcount.errors import LstmcountError\nfrom lstmcount.inputs.onnx import read_onnx\n"
            "try:\n    read_onnx(sys.argv[1])\nexcept LstmcountError as exc:\n"
            "    sys.stderr.write('\\n'.join(exc.messages()) + '\\n')\n    sys.exit(exc.exit_code)\n")
    (folder / "zero.onnx").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.onnx")
    for rid, name in (("link-to-dev-zero", "zero.onnx"), ("fifo", "fifo.onnx")):
        runs[rid] = (["-c", read, str(folder / name)], b"", ROOT)
        expect[rid] = (str(folder / name), (2,), "not a regular file (a directory, device or pipe); an ONNX model is "
                                                 "a file")
    with open(folder / "sparse-2GiB.onnx", "wb") as fh:
        fh.truncate(2**31)
    add("sparse-2-GiB", folder / "sparse-2GiB.onnx", "2,147,483,648 bytes, more than the 2 GiB a protobuf message "
                                                     "can hold")
    with open(folder / "sparse-1.5GiB.onnx", "wb") as fh:  # under the cap: the framing scan fails at byte 1
        fh.truncate(3 << 29)
    add("sparse-1.5-GiB", folder / "sparse-1.5GiB.onnx", "not a readable ONNX model (Error parsing message near "
                                                         "byte 1: a field numbered 0)")
    padded = recurrent()  # a valid model, then 1.5 GiB of zeros: the scan stops at the first zero after it
    with open(folder / "padded.onnx", "wb") as fh:
        fh.write(padded.SerializeToString())
        fh.truncate((3 << 29) + fh.tell())
    add("valid-then-sparse-zeros", folder / "padded.onnx", "a field numbered 0")
    # the leak: a model in A whose W lives in "secret.txt", run from B, which holds a secret.txt of that size
    a, b = folder / "A", folder / "B"
    a.mkdir()
    b.mkdir()
    model = recurrent()
    need = len(_external(model, "W", "secret.txt"))
    (b / "secret.txt").write_bytes((SECRET * 2)[:need])
    save(model, a / "m.onnx")
    add("external-data-from-the-cwd", a / "m.onnx", "its external data file 'secret.txt' is not in the model's folder",
        args=("layout", "--to", "keras", "--save", str(b / "out.npz")), cwd=b)
    done = spawn_all(runs, folder, batch=2)  # two cores: each run gets its own 10 s
    return {rid: (done[rid], *expect[rid]) for rid in runs} | {"_folder": folder}


SPAWNED = ["million-initializers", "million-nodes", "nested-empty-nodes", "empty-dims", "three-million-node-inputs",
           "link-to-dev-zero", "fifo", "sparse-2-GiB", "sparse-1.5-GiB", "valid-then-sparse-zeros",
           "external-data-from-the-cwd"]


@pytest.mark.parametrize("rid", SPAWNED)
def test_spawned(spawned, rid):
    r, path, codes, fragment = spawned[rid]
    assert r.code is not None, f"still running after {SPAWN_TIMEOUT:.0f} s (killed)"
    assert "MemoryError" not in r.stderr, f"needed more than {SPAWN_MEMORY >> 20} MiB"
    assert_clean(SimpleNamespace(exit_code=r.code, stderr=r.stderr), path, codes)
    if r.code:
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(f"{path}: "), r.stderr
    assert fragment in r.stderr, r.stderr
    if rid == "external-data-from-the-cwd":
        assert not (spawned["_folder"] / "B" / "out.npz").exists()  # so B's secret is in no .npz



def test_a_model_at_the_caps_counts(tmp_path):
    """MAX_INITIALIZERS initializers (each of one value) are read; one more is refused."""
    from lstmcount.accounting import report
    from lstmcount.errors import SpecError
    from lstmcount.inputs.onnx import read_onnx

    tensor = helper.make_tensor("t", TensorProto.FLOAT, [1], [0.0]).SerializeToString()
    at_cap = onnx.ModelProto.FromString(_many(5, tensor, MAX_INITIALIZERS + 1))
    for i, t in enumerate(at_cap.graph.initializer):
        t.name = f"t{i}"
    over = save(at_cap, tmp_path / "over.onnx")
    del at_cap.graph.initializer[-1]
    assert report(read_onnx(save(at_cap, tmp_path / "at.onnx"))).total == MAX_INITIALIZERS
    with pytest.raises(SpecError, match=f"{over}: holds more than {MAX_INITIALIZERS:,} initializers"):
        read_onnx(over)


# --- hypothesis: legitimate models count exactly --------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["LSTM", "GRU", "RNN"]), st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 2]),
       st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_helper_built_models_count_their_initializers(tmp_path_factory, op, hidden, inp, directions, bias, peep,
                                                      h0, hidden_attr):
    import onnxruntime as ort

    from lstmcount.accounting import report
    from lstmcount.inputs.onnx import read_onnx

    peep = peep and op == "LSTM"
    model = recurrent(op, hidden, inp, directions, bias, peep, h0, hidden_attr, name="rec")
    onnx.checker.check_model(model, full_check=True)
    if hidden_attr:  # ONNX Runtime's kernels need hidden_size (the operator's spec makes it optional)
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    path = save(model, tmp_path_factory.mktemp("onnx") / "m.onnx")
    rep = report(read_onnx(path))
    assert rep.total == sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    g = GATES[op] * hidden
    by_hand = directions * (g * inp + g * hidden + (2 * g if bias else 0) + (3 * hidden if peep else 0))
    assert rep.layers[0].name == "rec" and rep.layers[0].params == by_hand
    if h0:
        assert (rep.layers[1].name, rep.layers[1].params) == ("rec (other inputs)", directions * hidden)


def test_a_torch_export_counts_and_saves(cli, tmp_path):
    import torch

    module = torch.nn.GRU(4, 3, bidirectional=True)
    path = tmp_path / "gru.onnx"
    torch.onnx.export(module, (torch.zeros(5, 1, 4),), str(path), dynamo=False)
    r = cli("params", str(path), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == sum(p.numel() for p in module.parameters())
    out = tmp_path / "back.npz"
    assert cli("layout", str(path), "--to", "pytorch", "--save", str(out)).exit_code == 0
    back = _npz(out)
    for name, p in module.state_dict().items():
        np.testing.assert_array_equal(back[f"gru/{name}"], p.numpy())


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_the_shapes_in_messages_are_the_operators_own(op):
    """The shapes the refusals quote (conventions.onnx.SHAPES) are the ones ONNX's operator schema states."""
    from lstmcount.conventions import onnx as table

    schema = onnx.defs.get_schema(op)
    docs = {i.name: i.description for i in schema.inputs}
    g = len(table.GATES[op.lower()])
    for slot in ("W", "R", "B") + (("P",) if op == "LSTM" else ()):
        text = table.SHAPES[slot].format(g=g).replace(f"2*{g}*", f"{2 * g}*").replace("[num_directions, 1*",
                                                                                      "[num_directions, ")
        assert f"`{text}`" in docs[slot], (slot, text, docs[slot])


@pytest.mark.parametrize("raw", [True, False], ids=["raw_data", "typed-field"])
def test_arrays_agree_with_onnx_own_reader(tmp_path, raw):
    """Every type --save reads, stored either way, comes out as onnx.numpy_helper reads it (bfloat16 as
    float32 holding the same values)."""
    import ml_dtypes

    from lstmcount.inputs.onnx import _ARRAY_TYPES, onnx_arrays

    rng = np.random.default_rng(3)
    tensors = []
    for elem in _ARRAY_TYPES:
        np_type = helper.tensor_dtype_to_np_dtype(elem)
        values = (rng.uniform(-4, 4, (2, 3)) * (1 if np_type.kind == "f" else 30)).astype(np_type) \
            if np_type.kind != "b" else rng.uniform(size=(2, 3)) > 0.5
        if np_type.kind == "u":
            values = np.abs(values)
        name = helper.tensor_dtype_to_string(elem)
        t = numpy_helper.from_array(values, name) if raw else helper.make_tensor(name, elem, [2, 3], values.ravel())
        assert t.HasField("raw_data") == raw
        tensors.append(t)
    model = helper.make_model(helper.make_graph([], "g", [], [], tensors))
    got = onnx_arrays(save(model, tmp_path / "m.onnx"))
    for t in tensors:
        want = numpy_helper.to_array(t)
        if want.dtype == ml_dtypes.bfloat16:
            want = want.astype(np.float32)
        assert got[t.name].dtype == want.dtype and np.array_equal(got[t.name], want), t.name
