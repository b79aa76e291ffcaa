"""Write a corpus of hostile model files, one folder, with an index saying what each must give.

    python scripts/hostile_corpus.py DIR            # the small cases, and DIR/index.jsonl
    python scripts/hostile_corpus.py DIR --big      # also the big ones (sparse 2 GiB files, /dev/zero
                                                    # links, FIFOs, pipes, a million-initializer ONNX)

Every format lstmcount reads has its cases: YAML specs, Keras JSON, .keras archives, HDF5 (h5py),
PyTorch files (torch.save and hand-made pickles), ONNX (onnx.helper, and protobuf written by hand).
Cases that would run code if a reader ever executed what a file holds (a pickle's __reduce__, a Keras
Lambda's bytecode, class names such as os.system, ONNX external data outside the model's folder)
point at DIR/MARKER: it must never exist.

Each index line (JSON): id, file (relative to DIR, or null), args (the lstmcount command line,
"{f}" the file's path), shell (a bash command line instead, for process substitution), codes (the
exit codes allowed), fragment (text the one-line message holds, or null), needs (the Python module
writing the case needs). tests/test_hostile_corpus.py writes the corpus into a temporary folder with
these functions and runs every case as a real process under a memory and a time limit.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import marshal
import os
import socket
import struct
import sys
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MARKER = "MARKER"
GIB2 = 2 << 30


@dataclass
class Case:
    id: str
    file: str | None  # relative to the corpus folder
    args: list[str] = field(default_factory=lambda: ["params", "{f}"])
    codes: list[int] = field(default_factory=lambda: [2])
    fragment: str | None = None
    shell: str | None = None
    needs: str | None = None
    big: bool = False
    timeout: float = 10.0  # over 10: the case waits by design (a FIFO with no writer: 10 s), within this wall time
    build: Callable[[Path, Path], None] | None = field(default=None, repr=False)  # (path, marker)

    def index(self) -> dict[str, Any]:
        out = asdict(self)
        del out["build"]
        return out


# --- the payloads ---------------------------------------------------------------------------------

SPEC = "input_shape: [3, 4]\nlayers:\n  - {type: LSTM, units: 3, name: lstm}\n"


def keras_config(layers: list[dict[str, Any]] | None = None, name: str = "sequential") -> dict[str, Any]:
    """A Keras 3 Sequential config, as model.to_json() writes it (the layers given, or one LSTM)."""
    layers = layers if layers is not None else [keras_layer("LSTM", "lstm", units=3)]
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": name, "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, 3, 4], "dtype": "float32", "name": "input_layer"}},
                *layers]}}


def keras_layer(cls: str, name: str, module: str = "keras.layers", **config: Any) -> dict[str, Any]:
    return {"module": module, "class_name": cls, "registered_name": None, "config": {"name": name, **config}}


def lambda_layer(marker: Path) -> dict[str, Any]:
    """A Lambda whose marshalled bytecode writes the marker when it is called, or even unmarshalled and
    run by a careless reader."""
    code = compile(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]", "<corpus>", "eval")
    inner = next(c for c in code.co_consts if hasattr(c, "co_code"))
    blob = base64.b64encode(marshal.dumps(inner)).decode()
    return keras_layer("Lambda", "lam", function={"class_name": "__lambda__", "config": {
        "code": blob, "defaults": None, "closure": None}}, arguments={})


def keras_archive(config: Any, extra: dict[str, bytes] | None = None, raw: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", raw if raw is not None else json.dumps(config))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


def zip_with_directory(size: int, first: bytes = b"PK\x03\x04") -> Callable[[Path, Path], None]:
    """A sparse file of `size` bytes opening like a zip whose end record claims a directory of nearly
    the whole file (zipfile would read it all into memory)."""
    def build(path: Path, marker: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(first + b"\0" * 26)
            fh.truncate(size)
            fh.seek(size - 22)
            fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1000, 1000, size - 22 - 100, 100, 0))
    return build


def lying_zip(path: Path, marker: Path) -> None:
    """A .keras whose config.json says 100 bytes and inflates to 32 MiB of spaces."""
    body = b"{" + b" " * (32 << 20) + b"}"
    data = keras_archive(None, raw=body)
    at = data.index(b"PK\x01\x02")  # the central directory entry of metadata.json, then config.json
    at = data.index(b"PK\x01\x02", at + 4)
    data = data[:at + 24] + struct.pack("<L", 100) + data[at + 28:]
    local = data.index(b"PK\x03\x04", data.index(b"PK\x03\x04") + 4)
    data = data[:local + 22] + struct.pack("<L", 100) + data[local + 26:]
    path.write_bytes(data)


def zip_bomb(path: Path, marker: Path) -> None:
    """A .keras whose config.json honestly says 64 MiB (and compresses to ~64 KiB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("config.json", "w", force_zip64=True) as fh:
        chunk = b" " * (1 << 20)
        for _ in range(256):
            fh.write(chunk)
    path.write_bytes(buf.getvalue())


class _Reduce:
    """Pickled through __reduce__: unpickling it would call os.system."""

    def __init__(self, marker: Path) -> None:
        self.command = f"touch {marker}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def legacy_pickle(marker: Path) -> bytes:
    """A protocol-2 pickle that calls posix.system, opening with torch's legacy magic number."""
    import pickle

    return pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(_Reduce(marker), protocol=2)


def torch_file(obj_factory: Callable[[Path], Any]) -> Callable[[Path, Path], None]:
    def build(path: Path, marker: Path) -> None:
        import torch

        torch.save(obj_factory(marker), path)
    return build


def torch_state_dict(names: list[str]) -> Callable[[Path], Any]:
    def make(marker: Path) -> Any:
        import torch

        lstm = torch.nn.LSTM(4, 3)
        return {f"{prefix}.{k}": v for prefix in names for k, v in lstm.state_dict().items()}
    return make


def h5_file(attrs: dict[str, Any]) -> Callable[[Path, Path], None]:
    def build(path: Path, marker: Path) -> None:
        import h5py

        with h5py.File(path, "w") as fh:
            for key, value in attrs.items():
                fh.attrs[key] = value(marker) if callable(value) else value
    return build


def h5_heap_length(path: Path, marker: Path, weights_only: bool = False) -> None:
    """A Keras-like .h5 whose attribute strings sit in HDF5's global heap, one heap object's length
    (14) turned to 142 by one bit: HDF5 then loops reading the file's attributes (found by the
    mutation fuzzer on a tf_keras file). `weights_only`: a save_weights file (layer_names, and each
    layer's weight_names), which lstmcount reads weight by weight."""
    import h5py

    with h5py.File(path, "w") as fh:
        if weights_only:
            fh.attrs["layer_names"] = ["dense"]
            group = fh.create_group("dense")
            group.attrs["weight_names"] = ["dense/bias:0", "dense/kernel:0"]
            group.create_dataset("dense/bias:0", data=[0.0] * 3)
            group.create_dataset("dense/kernel:0", data=[[0.0] * 3] * 2)
        else:
            fh.attrs["model_config"] = json.dumps(keras_config())
            fh.attrs["keras_version"] = "2.21.0"
            fh.attrs["names"] = ["dense/bias:0", "dense/kernel:0"]
    raw = bytearray(path.read_bytes())
    at = raw.index(b"dense/kernel:0")
    assert raw[at - 8] == 14, "the heap object's length field"
    raw[at - 8] ^= 0x80
    path.write_bytes(bytes(raw))


def onnx_model(names: tuple[str, str] = ("lstm", "W"), external: str | None = None, dims: list[int] | None = None,
               ) -> Callable[[Path, Path], None]:
    """An ONNX LSTM (W, R, B initializers), its node and W named as given; W's data in an external file
    at `external` (relative to the model) or W's dims replaced."""
    def build(path: Path, marker: Path) -> None:
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper

        hidden, features = 3, 4
        w = numpy_helper.from_array(np.zeros((1, 4 * hidden, features), np.float32), names[1])
        r = numpy_helper.from_array(np.zeros((1, 4 * hidden, hidden), np.float32), "R")
        b = numpy_helper.from_array(np.zeros((1, 8 * hidden), np.float32), "B")
        if external is not None:
            w.ClearField("raw_data")
            w.data_location = TensorProto.EXTERNAL
            for key, value in (("location", external.replace("{marker}", str(marker))), ("offset", "0"),
                               ("length", "192")):
                entry = w.external_data.add()
                entry.key, entry.value = key, value
        if dims is not None:
            del w.dims[:]
            w.dims.extend(dims)
        node = helper.make_node("LSTM", ["X", names[1], "R", "B"], ["Y"], name=names[0], hidden_size=hidden)
        graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 4])],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [w, r, b])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        path.write_bytes(model.SerializeToString())
    return build


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def many_initializers(count: int) -> Callable[[Path, Path], None]:
    """An ONNX model of `count` one-element initializers and no nodes, as protobuf written by hand (the
    onnx package takes minutes to build a million)."""
    def build(path: Path, marker: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(b"\x08\x08")  # ir_version 8
            fh.write(_field(8, b"\x10\x0e"))  # opset_import {version: 14}
            def init(i: int) -> bytes:  # dims [1], float, name t<i>, raw_data 4 zero bytes (every length < 128)
                name = b"t%d" % i
                tensor = b"\x08\x01\x10\x01B" + bytes((len(name),)) + name + b"J\x04\0\0\0\0"
                return b"*" + bytes((len(tensor),)) + tensor  # graph field 5: initializer
            inits = b"".join(map(init, range(count)))
            fh.write(_field(7, inits + _field(2, b"g")))
    return build


def sparse(size: int, head: bytes = b"") -> Callable[[Path, Path], None]:
    def build(path: Path, marker: Path) -> None:
        with open(path, "wb") as fh:
            fh.write(head)
            fh.truncate(size)
    return build


def link(target: str) -> Callable[[Path, Path], None]:
    def build(path: Path, marker: Path) -> None:
        path.symlink_to(target)
    return build


def fifo(path: Path, marker: Path) -> None:
    os.mkfifo(path)


def unix_socket(path: Path, marker: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays


def directory(path: Path, marker: Path) -> None:
    path.mkdir()


def text(content: str | Callable[[Path], str]) -> Callable[[Path, Path], None]:
    def build(path: Path, marker: Path) -> None:
        path.write_text(content(marker) if callable(content) else content, encoding="utf-8", errors="surrogatepass")
    return build


def data(content: bytes | Callable[[Path], bytes]) -> Callable[[Path, Path], None]:
    def build(path: Path, marker: Path) -> None:
        path.write_bytes(content(marker) if callable(content) else content)
    return build


def keras_json(config: Any | Callable[[Path], Any]) -> Callable[[Path, Path], None]:
    return text(lambda marker: json.dumps(config(marker) if callable(config) else config))


def first_of(build: Callable[[Path, Path], None], keep: float) -> Callable[[Path, Path], None]:
    """The first `keep` (a fraction) of the file `build` writes: a truncated file."""
    def cut(path: Path, marker: Path) -> None:
        build(path, marker)
        raw = path.read_bytes()
        path.write_bytes(raw[:int(len(raw) * keep)])
    return cut


def _units(value: Any) -> Callable[[Path], Any]:
    return lambda marker: keras_config([keras_layer("LSTM", "lstm", units=value)])


# --- the cases ------------------------------------------------------------------------------------

CONTROL = "a\x1b[31mred\x1b[0m\rb\n[/]"  # escape sequences, a carriage return, a newline, rich markup
SUFFIXES = (".yaml", ".json", ".keras", ".h5", ".pt", ".onnx")


def cases() -> list[Case]:
    """Every case: small ones (written by `main`), then big ones (`big=True`: written at test time)."""
    out = [
        # -- YAML specs --
        Case("yaml-python-apply", "apply.yaml", fragment="not allowed",
             build=text(lambda m: f'!!python/object/apply:os.system ["touch {m}"]\n')),
        Case("yaml-control-names", "control.yaml", codes=[0],
             build=text(f"name: {json.dumps(CONTROL)}\n" + SPEC.replace("name: lstm", f"name: {json.dumps(CONTROL)}"))),
        Case("yaml-control-names-markdown", "control-md.yaml", args=["params", "-o", "markdown", "{f}"], codes=[0],
             build=text(SPEC.replace("name: lstm", f"name: {json.dumps(CONTROL)}"))),
        Case("yaml-control-names-layout", "control-layout.yaml", args=["layout", "{f}"], codes=[0],
             build=text(SPEC.replace("name: lstm", f"name: {json.dumps(CONTROL)}"))),
        Case("yaml-control-name-in-an-error", "control-error.yaml",
             build=text(SPEC.replace("units: 3", "units: -3").replace("name: lstm", f"name: {json.dumps(CONTROL)}"))),
        Case("yaml-surrogate-escape", "surrogate.yaml", build=text(SPEC.replace("name: lstm", 'name: "\\ud800"'))),
        Case("yaml-empty", "empty.yaml", build=data(b""), fragment="empty file"),
        Case("yaml-binary", "binary.yaml", build=data(bytes(range(256)) * 4), fragment="binary data"),
        Case("yaml-latin1", "latin1.yaml", build=data("name: caf\xe9\n".encode("latin-1") + SPEC.encode()),
             fragment="not UTF-8"),
        Case("path-undecodable-ok", os.fsdecode(b"\xff\x1b[31m-ok.yaml"), codes=[0], build=text(SPEC)),
        Case("path-undecodable-error", os.fsdecode(b"\xff\x1b[31m-bad.yaml"),
             build=text(SPEC.replace("units: 3", "units: 2.5"))),
        Case("path-undecodable-json", os.fsdecode(b"\xfe-out.yaml"), args=["params", "--json", "{f}"], codes=[0],
             build=text(SPEC)),
        # -- Keras JSON --
        Case("json-lambda-bytecode", "lambda.json", codes=[0, 2],
             build=keras_json(lambda m: keras_config([keras_layer("LSTM", "lstm", units=3), lambda_layer(m)]))),
        Case("json-class-os-system", "os-system.json",
             build=keras_json(keras_config([keras_layer("system", "x", module="os")]))),
        Case("json-registered-os-system", "registered.json", codes=[0, 2],
             build=keras_json(keras_config([{**keras_layer("LSTM", "x", units=3), "module": "os",
                                             "registered_name": "os>system"}]))),
        Case("json-model-class-os-system", "model-os.json",
             build=keras_json({**keras_config(), "module": "os", "class_name": "system"})),
        Case("json-control-names", "control.json", codes=[0, 2],
             build=keras_json(keras_config([keras_layer("LSTM", CONTROL, units=3)], name=CONTROL))),
        Case("json-lone-surrogate-name", "surrogate.json", args=["params", "--json", "{f}"], codes=[0, 2],
             build=text(lambda m: json.dumps(keras_config([keras_layer("LSTM", "lstm", units=3)]))
                        .replace('"name": "lstm"', '"name": "\\ud800"'))),
        Case("json-lone-surrogate-name-table", "surrogate-table.json", codes=[0, 2],
             build=text(lambda m: json.dumps(keras_config([keras_layer("LSTM", "lstm", units=3)]))
                        .replace('"name": "lstm"', '"name": "x\\udcff"'))),
        Case("json-units-2.5", "units-float.json", build=keras_json(_units(2.5))),
        Case("json-units-nan", "units-nan.json", build=keras_json(_units(float("nan")))),
        Case("json-units-infinity", "units-inf.json", build=keras_json(_units(float("inf")))),
        Case("json-units-negative", "units-neg.json", build=keras_json(_units(-1))),
        Case("json-units-true", "units-true.json", build=keras_json(_units(True))),
        Case("json-units-string", "units-str.json", build=keras_json(_units("x"))),
        Case("json-units-1e30", "units-big.json", build=keras_json(_units(10**30))),
        Case("json-units-5000-digits", "units-digits.json",
             build=text(lambda m: json.dumps(_units(0)(m)).replace('"units": 0', '"units": ' + "9" * 5000))),
        Case("json-deep-nesting", "deep.json", build=text('{"class_name": "Sequential", "config": '
                                                         + "[" * 100_000 + "]" * 100_000 + "}")),
        Case("json-huge-string-name", "huge-name.json", codes=[0, 2],
             build=keras_json(keras_config([keras_layer("LSTM", "n" * 1_000_000, units=3)]))),
        Case("json-truncated", "truncated.json", build=first_of(keras_json(keras_config()), 0.5)),
        # -- .keras archives --
        Case("keras-lambda-bytecode", "lambda.keras", codes=[0, 2],
             build=data(lambda m: keras_archive(keras_config([keras_layer("LSTM", "lstm", units=3),
                                                               lambda_layer(m)])))),
        Case("keras-no-config", "no-config.keras", build=data(lambda m: _zip({"metadata.json": b"{}"}))),
        Case("keras-not-a-zip", "not-zip.keras", build=data(b"PK\x03\x04" + b"\x01" * 100)),
        Case("keras-truncated", "truncated.keras",
             build=first_of(data(lambda m: keras_archive(keras_config(), {"model.weights.h5": b"\0" * 4096})), 0.6)),
        Case("keras-config-bomb", "bomb.keras", build=zip_bomb),
        Case("keras-config-lies-about-its-size", "lying.keras", build=lying_zip),
        Case("keras-zip-slip-names", "slip.keras", codes=[0, 2],
             build=data(lambda m: keras_archive(keras_config(), {"../../MARKER": b"x", "/etc/x": b"y"}))),
        Case("keras-config-not-utf8", "latin1.keras", build=data(lambda m: keras_archive(None, raw=b"\xff\xfe{"))),
        # -- HDF5 --
        Case("h5-lambda-bytecode", "lambda.h5", codes=[0, 2], needs="h5py",
             build=h5_file({"model_config": lambda m: json.dumps(keras_config([keras_layer("LSTM", "lstm", units=3),
                                                                                lambda_layer(m)]))})),
        Case("h5-config-not-json", "not-json.h5", needs="h5py", build=h5_file({"model_config": "{nope"})),
        Case("h5-config-a-number", "number.h5", needs="h5py", build=h5_file({"model_config": 5})),
        Case("h5-no-config", "no-config.h5", needs="h5py", build=h5_file({"x": 1}), fragment="no model_config"),
        Case("h5-truncated", "truncated.h5", needs="h5py",
             build=first_of(h5_file({"model_config": json.dumps(keras_config())}), 0.5)),
        Case("h5-global-heap-object-length", "heap.h5", needs="h5py", build=h5_heap_length),
        Case("h5-weights-global-heap-object-length", "heap_weights.h5", needs="h5py",
             build=lambda path, marker: h5_heap_length(path, marker, weights_only=True)),
        Case("h5-signature-only", "signature.h5", build=data(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)),
        # -- PyTorch --
        Case("pt-reduce-os-system", "reduce.pt", needs="torch", build=torch_file(lambda m: {"x": _Reduce(m)})),
        Case("pt-legacy-pickle-os-system", "legacy.pt", build=data(legacy_pickle)),
        Case("pt-plain-pickle-os-system", "plain.pkl", build=data(lambda m: __import__("pickle").dumps(_Reduce(m)))),
        Case("pt-control-keys", "control.pt", codes=[0, 2], needs="torch",
             build=torch_file(torch_state_dict([CONTROL]))),
        Case("pt-surrogate-keys", "surrogate.pt", args=["params", "--json", "{f}"], codes=[0, 2], needs="torch",
             build=torch_file(torch_state_dict(["x\ud800"]))),
        Case("pt-truncated", "truncated.pt", needs="torch", build=first_of(torch_file(torch_state_dict(["m"])), 0.5)),
        Case("pt-random-bytes", "random.pt", build=data(bytes((i * 7919) % 251 for i in range(4096)))),
        Case("pt-empty", "empty.pt", build=data(b"")),
        # -- ONNX --
        Case("onnx-external-data-outside", "outside.onnx", codes=[0, 2], needs="onnx",
             build=onnx_model(external="../{marker}")),
        Case("onnx-external-data-absolute", "absolute.onnx", codes=[0, 2], needs="onnx",
             build=onnx_model(external="/etc/passwd")),
        Case("onnx-external-data-marker", "marker.onnx", codes=[0, 2], needs="onnx",
             build=onnx_model(external="{marker}")),
        Case("onnx-control-names", "control.onnx", codes=[0, 2], needs="onnx", build=onnx_model((CONTROL, CONTROL))),
        Case("onnx-negative-dims", "negative.onnx", codes=[2], needs="onnx", build=onnx_model(dims=[1, -12, 4])),
        Case("onnx-huge-dims", "huge.onnx", codes=[0, 2], needs="onnx", build=onnx_model(dims=[1, 10**15, 4])),
        Case("onnx-truncated", "truncated.onnx", needs="onnx", build=first_of(onnx_model(), 0.5)),
        Case("onnx-random-bytes", "random.onnx", build=data(bytes((i * 7919) % 251 for i in range(4096)))),
        Case("onnx-empty", "empty.onnx", codes=[0, 2], build=data(b"")),
        # -- big, or not files at all: written at test time --
        Case("pipe-spec", "pipe-spec.yaml", args=[], shell="python -m lstmcount params <(cat {f})", codes=[0],
             build=text(SPEC), big=True),
        Case("pipe-keras-json", "pipe.json", args=[], shell="python -m lstmcount params <(cat {f})", codes=[0],
             build=keras_json(keras_config()), big=True),
        Case("pipe-checkpoint", "pipe.pt", args=[], shell="python -m lstmcount params <(cat {f})", needs="torch",
             build=torch_file(torch_state_dict(["m"])), fragment="a pipe", big=True),
        Case("stdin-spec", "stdin.yaml", args=[], shell="cat {f} | python -m lstmcount params -", codes=[0],
             build=text(SPEC), big=True),
        Case("stdin-dev-zero", None, args=[], shell="python -m lstmcount params - < /dev/zero",
             fragment="a character device", big=True),
        Case("fifo-without-writer", "fifo.keras", build=fifo, fragment="no data arrived", big=True, timeout=45.0),
        Case("socket", "socket.onnx", build=unix_socket, fragment="a socket", big=True),
        Case("directory", "dir.keras", build=directory, fragment="a directory", big=True),
        Case("onnx-million-initializers", "million.onnx", codes=[0, 2], build=many_initializers(1_000_000), big=True),
        Case("keras-zip-directory-2GiB", "bigcd.keras", build=zip_with_directory(GIB2), big=True),
        Case("pt-zip-directory-2GiB", "bigcd.pt", build=zip_with_directory(GIB2), big=True),
        Case("h5-sparse-2GiB-with-signature", "sparse-sig.h5", build=sparse(GIB2, b"\x89HDF\r\n\x1a\n"), big=True),
    ]
    for suffix in SUFFIXES:
        name = suffix[1:]
        out.append(Case(f"sparse-2GiB-{name}", f"sparse{suffix}", build=sparse(GIB2), big=True))
        out.append(Case(f"dev-zero-link-{name}", f"zero{suffix}", build=link("/dev/zero"), big=True,
                        fragment="a character device"))
    out.append(Case("dev-null-link", "null.keras", build=link("/dev/null"), big=True, fragment="a character device"))
    out.append(Case("dev-urandom-link", "urandom.pt", build=link("/dev/urandom"), big=True,
                    fragment="a character device"))
    return out


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, body in members.items():
            z.writestr(name, body)
    return buf.getvalue()


def write(folder: Path, chosen: list[Case]) -> list[Case]:
    """Write `chosen` into `folder` (its MARKER is the file no case may create); the cases written.
    A case whose writer needs a module that is missing is left out."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    done = []
    for case in chosen:
        if case.needs is not None:
            try:
                __import__(case.needs)
            except ImportError:
                continue
        if case.file is not None and case.build is not None:
            case.build(folder / case.file, marker)
        done.append(case)
    with open(folder / "index.jsonl", "a", encoding="utf-8") as fh:
        for case in done:
            fh.write(json.dumps(case.index()) + "\n")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--big", action="store_true", help="also the big cases (2 GiB sparse files, devices, pipes)")
    args = parser.parse_args(argv)
    (args.folder / "index.jsonl").unlink(missing_ok=True)
    done = write(args.folder, [c for c in cases() if args.big or not c.big])
    sys.stdout.write(f"{len(done)} cases in {args.folder} (index.jsonl)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
