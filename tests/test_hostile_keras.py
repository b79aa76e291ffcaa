"""Hostile Keras model files (issue 14): `.keras` archives, `model.to_json()` files and legacy `.h5`
files, each made at test time from a REAL file saved by Keras 3 and by Keras 2 (tf_keras), then broken:
corrupt deflate, bzip2 and LZMA streams, encrypted members, unknown compression methods, truncated
members, declared sizes that lie (a small config.json whose stream inflates past the cap), JSON
integers of 5,000 digits, nesting 700 deep, values that are not sizes, the spec limits, layer names
with control characters and lone surrogates, HDF5 files cut short or with attributes of the wrong
kind or size. The contract: exit 2 with one located line per problem (`model.keras: ...`), never a
traceback, in bounded time and memory; valid files in any compression still count as Keras does.

Most cases run in-process (the `cli` fixture); the ones that could exhaust memory or time also run as
real processes under a 1 GiB address-space limit and a time limit (tests/hostile.py)."""

from __future__ import annotations

import bz2
import copy
import io
import json
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .hostile import SPAWN_MEMORY, SPAWN_TIMEOUT, assert_clean, spawn_all

pytestmark = pytest.mark.filterwarnings("ignore")

CAP = 16 * 1024 * 1024  # model.MAX_BYTES


# --- real files, saved once per session by Keras 3 and by Keras 2 -----------------------------------


def functional(K):
    L = K.layers
    x = K.Input((None, 5), name="x")
    y = L.LSTM(4, return_sequences=True, name="lstm_1")(x)
    y = L.Bidirectional(L.GRU(3), name="bi")(y)
    return K.Model(x, L.Dense(2, name="head")(y), name="m")


def sequential(K):
    L = K.layers
    return K.Sequential([K.Input((6, 3)), L.LSTM(4, name="lstm_1"), L.Dense(2, name="head")], name="s")


class Real(NamedTuple):
    paths: dict[str, Path]  # "keras", "json", "h5"
    total: int  # the saving Keras's count_params()
    version: str  # the saving Keras's version (what `saved by` says)


@pytest.fixture(scope="session")
def real(tmp_path_factory) -> dict[tuple[int, str], Real]:
    """(Keras major version, builder name) -> the model saved as .keras, to_json() and legacy .h5."""
    import keras
    import tf_keras

    root = tmp_path_factory.mktemp("hostile_keras_real")
    out = {}
    for major, K in ((3, keras), (2, tf_keras)):
        for build in (functional, sequential):
            model = build(K)
            paths = {ext: root / f"{build.__name__}{major}.{ext}" for ext in ("keras", "json", "h5")}
            model.save(paths["keras"])
            paths["json"].write_text(model.to_json())
            model.save(paths["h5"])
            out[major, build.__name__] = Real(paths, model.count_params(), K.__version__)
    return out


# --- zip archives written member by member, every header field under the test's control -------------

LOCAL = struct.Struct("<4s5H3L2H")
CENTRAL = struct.Struct("<4s6H3L5HLL")
END = struct.Struct("<4s4H2LH")
END64, LOCATOR64 = struct.Struct("<4sQ2H2L4Q"), struct.Struct("<4sLQL")


@dataclass(frozen=True)
class Member:
    """One zip member as written: its name, the bytes after its local header, and what its headers declare."""

    name: str
    stored: bytes
    method: int
    size: int  # declared uncompressed size
    crc: int
    flags: int = 0
    csize: int | None = None  # declared compressed size (None: len(stored))
    shift: int = 0  # added to the offset the central directory gives for its local header


def members(path: Path) -> list[Member]:
    """A real archive's members, as its writer compressed them."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        return [Member(i.filename, _stored(raw, i), i.compress_type, i.file_size, i.CRC, i.flag_bits)
                for i in archive.infolist()]


def _stored(raw: bytes, info: zipfile.ZipInfo) -> bytes:
    start = info.header_offset + LOCAL.size + sum(struct.unpack("<HH", raw[info.header_offset + 26:
                                                                          info.header_offset + 30]))
    return raw[start:start + info.compress_size]


def packed(name: str, data: bytes, method: int) -> Member:
    """`data` compressed with `method` by zipfile itself (its LZMA header and flags included)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data, compress_type=method)
    raw = buf.getvalue()
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        info = archive.getinfo(name)
    return Member(name, _stored(raw, info), method, len(data), zlib.crc32(data), info.flag_bits)


def build_zip(items: list[Member]) -> bytes:
    out, central = bytearray(), bytearray()
    for m in items:
        csize = len(m.stored) if m.csize is None else m.csize
        name = m.name.encode()
        offset = len(out)
        out += LOCAL.pack(b"PK\x03\x04", 20, m.flags, m.method, 0, 33, m.crc, csize, m.size, len(name), 0)
        out += name + m.stored
        central += CENTRAL.pack(b"PK\x01\x02", 20, 20, m.flags, m.method, 0, 33, m.crc, csize, m.size, len(name),
                                0, 0, 0, 0, 0, offset + m.shift) + name
    count, start = len(items), len(out)
    out += central
    if count > 0xFFFF:  # zip64: the count in its own end record, located by the record after it
        at = len(out)
        out += END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), start)
        out += LOCATOR64.pack(b"PK\x06\x07", 0, at, 1)
    return bytes(out + END.pack(b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), len(central), start, 0))


def edit_member(name: str, change: Callable[[Member], Member]) -> Callable[..., list[Member]]:
    return lambda items, path=None: [change(m) if m.name == name else m for m in items]


def recompress(method: int, names: tuple[str, ...] = ("config.json", "metadata.json")) -> Callable[..., Any]:
    def edit(items: list[Member], path: Path) -> list[Member]:
        with zipfile.ZipFile(path) as archive:
            return [packed(m.name, archive.read(m.name), method) if m.name in names else m for m in items]
    return edit


def config_of(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json")


def bomb(method: int, lie: int = 0) -> Callable[..., Any]:
    """config.json followed by 17 MiB of JSON whitespace, compressed with `method`, declaring the size
    and CRC of the real config alone (plus `lie` bytes)."""
    def edit(items: list[Member], path: Path) -> list[Member]:
        config = config_of(path)
        data = config + b" " * (lie or CAP + (1 << 20))
        if method == zipfile.ZIP_DEFLATED:
            squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
            stored = squeeze.compress(data) + squeeze.flush()
        else:
            stored = bz2.compress(data, 9)
        return [Member(m.name, stored, method, len(config), zlib.crc32(config)) if m.name == "config.json" else m
                for m in items]
    return edit


def with_config(text: Callable[[bytes], bytes]) -> Callable[..., Any]:
    def edit(items: list[Member], path: Path) -> list[Member]:
        data = text(config_of(path))
        return [packed(m.name, data, zipfile.ZIP_DEFLATED) if m.name == "config.json" else m for m in items]
    return edit


def _on_config(change: Callable[[Member], Member], method: int = zipfile.ZIP_DEFLATED) -> Callable[..., Any]:
    """config.json compressed with `method`, then changed."""
    def edit(items: list[Member], path: Path) -> list[Member]:
        items = recompress(method, ("config.json",))(items, path)
        return edit_member("config.json", change)(items)
    return edit


def _flip(at: int, value: int) -> Callable[[Member], Member]:
    return lambda m: replace(m, stored=m.stored[:at] + bytes([value]) + m.stored[at + 1:])


DEFLATE, BZIP2, LZMA, STORED = zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, zipfile.ZIP_STORED
MEMBER = "its config.json is not a readable zip member ("

VALID_ARCHIVES = [  # (id, edit): each must count as the saving Keras does, and say which Keras saved it
    ("stored", lambda items, path: items),
    ("deflate", recompress(DEFLATE)),
    ("bzip2", recompress(BZIP2)),
    ("lzma", recompress(LZMA)),
    ("lzma-everything", recompress(LZMA, ("config.json", "metadata.json", "model.weights.h5"))),
]

BROKEN_ARCHIVES = [  # (id, edit, what follows `FILE: `)
    ("corrupt-deflate", _on_config(_flip(0, 0x07)), MEMBER + "corrupt deflate data: "),
    ("corrupt-bzip2", _on_config(lambda m: replace(m, stored=m.stored[:4] + bytes(6) + m.stored[10:]), BZIP2),
     MEMBER + "corrupt bzip2 data: "),
    ("corrupt-lzma", _on_config(_flip(9, 0xFF), LZMA), MEMBER + "corrupt LZMA data: "),
    ("lzma-properties", _on_config(_flip(4, 0xFF), LZMA),
     MEMBER + "corrupt LZMA data: its LZMA properties are not LZMA1's five bytes)"),
    ("junk-as-deflate", _on_config(lambda m: replace(m, stored=bytes(range(256)) * 8)), MEMBER),
    ("junk-as-bzip2", _on_config(lambda m: replace(m, stored=b"BZh9" + bytes(range(256)) * 8), BZIP2),
     MEMBER + "corrupt bzip2 data: "),
    ("encrypted", _on_config(lambda m: replace(m, flags=m.flags | 0x1)), MEMBER + "it is encrypted)"),
    ("strong-encryption", _on_config(lambda m: replace(m, flags=m.flags | 0x41), STORED), MEMBER + "it is encrypted)"),
    ("patched-data", _on_config(lambda m: replace(m, flags=m.flags | 0x20)), MEMBER + "it is compressed patched data)"),
    ("method-99-aes", _on_config(lambda m: replace(m, method=99)),
     MEMBER + "compression method 99; lstmcount reads stored, deflate, bzip2, LZMA)"),
    ("method-9-deflate64", _on_config(lambda m: replace(m, method=9)), MEMBER + "compression method 9;"),
    ("method-93-zstandard", _on_config(lambda m: replace(m, method=93), STORED), MEMBER + "compression method 93;"),
    ("truncated-deflate", _on_config(lambda m: replace(m, stored=m.stored[:len(m.stored) // 2])),
     MEMBER + "its deflate data ends early (truncated))"),
    ("truncated-bzip2", _on_config(lambda m: replace(m, stored=m.stored[:len(m.stored) // 2]), BZIP2),
     MEMBER + "its bzip2 data ends early (truncated))"),
    ("truncated-lzma", _on_config(lambda m: replace(m, stored=m.stored[:len(m.stored) // 2]), LZMA),
     MEMBER + "its LZMA data ends early (truncated))"),
    ("truncated-stored", _on_config(lambda m: replace(m, stored=m.stored[:100]), STORED),
     MEMBER + "it holds 100 bytes, not the "),
    ("compressed-size-past-the-end", _on_config(lambda m: replace(m, csize=len(m.stored) + 10**6)),
     MEMBER + "truncated: "),
    ("no-local-header", _on_config(lambda m: replace(m, shift=1)),
     MEMBER + "no local header where the directory says it starts)"),
    ("crc", _on_config(lambda m: replace(m, crc=m.crc ^ 1)), MEMBER + "its CRC-32 does not match its data)"),
    ("declares-4-GiB", _on_config(lambda m: replace(m, size=2**32 - 1)),
     "its config.json is larger than 16 MiB (4,294,967,295 bytes)"),
    ("deflate-bomb-declared-small", bomb(DEFLATE), "its config.json inflates past 16 MiB (it declares "),
    ("bzip2-bomb-declared-small", bomb(BZIP2), "its config.json inflates past 16 MiB (it declares "),
    ("inflates-past-its-declared-size", bomb(DEFLATE, lie=100), MEMBER + "it holds "),
    ("no-config", edit_member("config.json", lambda m: replace(m, name="config.jsn")),
     "not a Keras archive: it has no config.json"),
    ("config-5000-digits", with_config(lambda c: c.replace(b'"units": 4', b'"units": ' + b"7" * 5000, 1)),
     "its config.json holds an integer of 5,000 digits; lstmcount reads integers of up to 20 digits"),
    ("config-not-utf8", with_config(lambda c: b"\xff\xfe" + c), "its config.json is not valid JSON ("),
    ("config-700-deep", with_config(lambda c: b"[" * 700 + b"]" * 700), "its config.json is JSON nested more than "),
    ("config-50000-deep", with_config(lambda c: b"[" * 50_000 + b"]" * 50_000), "its config.json is JSON nested "),
]


def write_archive(real: Real, edit: Callable[..., Any], path: Path) -> Path:
    items = members(real.paths["keras"])
    path.write_bytes(build_zip(edit(items, real.paths["keras"])))
    return path


@pytest.mark.parametrize("major", [3, 2])
@pytest.mark.parametrize(("what", "edit"), VALID_ARCHIVES, ids=[v[0] for v in VALID_ARCHIVES])
def test_archives_count_in_every_compression(real, cli, tmp_path, major, what, edit):
    for build in ("functional", "sequential"):
        saved = real[major, build]
        path = write_archive(saved, edit, tmp_path / f"{what}.keras")
        r = cli("params", str(path), "--json")
        assert (r.exit_code, r.stderr) == (0, f"{path}: saved by Keras {saved.version}\n"), r.stderr
        assert json.loads(r.stdout)["total"] == saved.total


@pytest.mark.parametrize(("what", "edit", "message"), BROKEN_ARCHIVES, ids=[b[0] for b in BROKEN_ARCHIVES])
def test_broken_archives_are_one_located_line(real, cli, tmp_path, what, edit, message):
    for major in (3, 2):
        path = write_archive(real[major, "functional"], edit, tmp_path / f"{what}{major}.keras")
        r = cli("params", str(path))
        assert_clean(r, str(path), (2,))
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"{path}: {message}"), r.stderr


def test_whole_archive_cut_short(real, cli, tmp_path):
    raw = real[3, "functional"].paths["keras"].read_bytes()
    for cut in (len(raw) - 10, len(raw) // 2, 100):
        path = tmp_path / f"cut{cut}.keras"
        path.write_bytes(raw[:cut])
        r = cli("params", str(path))
        assert_clean(r, str(path), (2,))
        assert r.stderr.startswith(f"{path}: not a .keras archive: not a readable zip file ("), r.stderr


def test_an_archive_of_too_many_members(real, cli, tmp_path):
    """zipfile reads a whole central directory and makes an object of each entry: its size is checked
    first (the end record says it)."""
    from lstmcount.inputs.archive import MAX_MEMBERS

    saved = real[3, "functional"]
    items = members(saved.paths["keras"])
    empty = Member("", b"", STORED, 0, 0)
    path = tmp_path / "many.keras"
    path.write_bytes(build_zip(items + [replace(empty, name=f"{k}") for k in range(MAX_MEMBERS)]))
    r = cli("params", str(path))
    assert (r.exit_code, r.stderr) == (2, f"{path}: its zip directory lists {MAX_MEMBERS + 3:,} members in "
                                          f"{_directory_size(path):,} bytes; "
                                          f"lstmcount reads archives of at most {MAX_MEMBERS:,} members\n")
    path.write_bytes(build_zip(items + [replace(empty, name=f"{k}") for k in range(1000)]))
    r = cli("params", str(path), "--json")  # a few more members than Keras writes: they are not read
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == saved.total


def _directory_size(path: Path) -> int:
    raw = path.read_bytes()
    return struct.unpack("<L", raw[-10:-6])[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_archives_never_crash(real, cli, data):
    """Any bytes of a real archive (any compression) changed, or the archive cut short: a count that is
    Keras's (a damaged config cannot pass its CRC-32) or one located exit 2."""
    major = data.draw(st.sampled_from([3, 2]))
    saved = real[major, "functional"]
    method = data.draw(st.sampled_from([STORED, DEFLATE, BZIP2, LZMA]))
    raw = bytearray(build_zip(recompress(method)(members(saved.paths["keras"]), saved.paths["keras"])))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "m.keras")
        path.write_bytes(bytes(raw))
        r = cli("params", str(path), "--json")
    assert_clean(r, str(path), (0, 2))
    if r.exit_code == 0:
        assert json.loads(r.stdout)["total"] == saved.total
    else:
        assert len(r.stderr.splitlines()) == 1, r.stderr


def test_a_broken_metadata_member_still_counts(real, cli, tmp_path):
    """metadata.json only says which Keras saved the file: the model counts without it."""
    saved = real[3, "functional"]
    edit = edit_member("metadata.json", lambda m: replace(m, method=99))
    path = write_archive(saved, edit, tmp_path / "meta.keras")
    r = cli("params", str(path), "--json")
    assert (r.exit_code, r.stderr) == (0, "")
    assert json.loads(r.stdout)["total"] == saved.total


# --- model configs: the same argument tables and limits as a YAML spec ------------------------------

def _lstm_config(data: dict[str, Any]) -> dict[str, Any]:
    return next(lay for lay in data["config"]["layers"] if lay["config"].get("name") == "lstm_1")["config"]


def _input_config(data: dict[str, Any]) -> dict[str, Any]:
    return data["config"]["layers"][0]["config"]


VALUES = [  # (JSON text of units / of one input axis, the message's ending for units)
    ("2.5", "must be an integer, got 2.5"),
    ("NaN", "must be an integer, got nan"),
    ("Infinity", "must be an integer, got inf"),
    ("-Infinity", "must be an integer, got -inf"),
    ("-5", "must be at least 1, got -5"),
    ("true", "must be an integer, got true"),
    ('"75"', "must be an integer, got '75'"),
    (str(10**15), "must be at most 1,000,000,000,000, got 1000000000000000"),
    ("0", "must be at least 1, got 0"),
    ("null", "must be an integer, got null"),
]


def _with(text: str, value: str) -> str:
    assert '"@@"' in text
    return text.replace('"@@"', value)


@pytest.mark.parametrize(("value", "ending"), VALUES, ids=[v[0] for v in VALUES])
def test_values_from_files_go_through_the_argument_tables(real, cli, tmp_path, value, ending):
    for major in (3, 2):
        for build, position in (("functional", 2), ("sequential", 1)):
            data = json.loads(real[major, build].paths["json"].read_text())
            _lstm_config(data)["units"] = "@@"
            path = tmp_path / f"{build}{major}.json"
            path.write_text(_with(json.dumps(data), value))
            r = cli("params", str(path))
            assert (r.exit_code, r.stderr) == (2, f"{path}: layer {position} 'lstm_1' (LSTM): argument 'units' "
                                                  f"{ending}\n")
            if build == "sequential":
                continue
            data = json.loads(real[major, build].paths["json"].read_text())
            key = "batch_shape" if major == 3 else "batch_input_shape"
            _input_config(data)[key] = [None, "@@", 5]
            path.write_text(_with(json.dumps(data), value))
            r = cli("params", str(path), "--json")
            if value == "null":  # an unknown size (the time axis, as saved): the model counts
                assert r.exit_code == 0 and json.loads(r.stdout)["total"] == real[major, build].total
                continue
            shown = {"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf", '"75"': "'75'"}.get(value, value)
            assert (r.exit_code, r.stderr) == (2, f"{path}: layer 1 'x' (InputLayer): input 'x': axis 1 is {shown}; "
                                                  "sizes must be positive integers up to 1,000,000,000,000 or null\n")


def _nest(depth: int) -> Any:
    value: Any = {"class_name": "GlorotUniform", "config": {"seed": None}}
    for _ in range(depth):
        value = {"class_name": "GlorotUniform", "config": {"seed": value}}
    return value


CONFIGS = [  # (id, edit of a real functional model's to_json(), the message after `FILE: `, or None: it counts)
    ("units-5000-digits", lambda d: _lstm_config(d).update(units="@@"),
     "it holds an integer of 5,000 digits; lstmcount reads integers of up to 20 digits", "7" * 5000),
    ("units-21-digits", lambda d: _lstm_config(d).update(units="@@"),
     "it holds an integer of 21 digits", "-" + "9" * 21),
    ("units-20-digits", lambda d: _lstm_config(d).update(units="@@"),
     "layer 2 'lstm_1' (LSTM): argument 'units' must be at most 1,000,000,000,000, got ", "9" * 20),
    ("initializer-700-deep", lambda d: _lstm_config(d).update(kernel_initializer=_nest(350)),
     "JSON nested more than 200 deep", None),
    ("initializer-90-deep", lambda d: _lstm_config(d).update(kernel_initializer=_nest(45)), None, None),
    ("config-a-list", lambda d: d.update(config=[]), "the model configuration is a list, not a mapping", None),
    ("config-a-string", lambda d: d.update(config="x"), "the model configuration is the string 'x', not a mapping",
     None),
    ("layers-a-mapping", lambda d: d["config"].update(layers={}), "the model configuration has no `layers` list", None),
    ("inbound-nodes-a-mapping", lambda d: d["config"]["layers"][1].update(inbound_nodes={"a": 1}),
     "layer 2 'lstm_1' (LSTM): inbound_nodes must be a list of the layer's calls, got a mapping", None),
    ("keras-history-short", lambda d: _first_tensor(d["config"]["layers"][2]).__setitem__(slice(None), ["lstm_1"]),
     "layer 3 'bi' (Bidirectional): inbound_nodes[0] ", None),
    ("keras-history-negative", lambda d: _first_tensor(d["config"]["layers"][2]).__setitem__(1, -1),
     "layer 3 'bi' (Bidirectional): inbound_nodes[0] ", None),
    ("bidirectional-layer-a-string", lambda d: d["config"]["layers"][2]["config"].update(layer="gru"),
     "layer 3 'bi' (Bidirectional): its layer is not a Keras layer config (a mapping with class_name and config)",
     None),
    ("bidirectional-layer-without-config", lambda d: d["config"]["layers"][2]["config"]["layer"].pop("config"),
     "layer 3 'bi' (Bidirectional): its layer is not a Keras layer config", None),
    ("wrapped-units-2.5", lambda d: d["config"]["layers"][2]["config"]["layer"]["config"].update(units=2.5,
                                                                                                   name="inner"),
     "layer 3 'bi' (Bidirectional): its layer 'inner' (GRU): argument 'units' must be an integer, got 2.5", None),
    ("dtype-policy-without-a-name", lambda d: _lstm_config(d).update(
        dtype={"module": "keras", "class_name": "DTypePolicy", "config": {}}), None, None),
    ("dtype-policy-a-number", lambda d: _lstm_config(d).update(dtype=5),
     "layer 2 'lstm_1' (LSTM): argument 'dtype' ", None),
    ("too-many-axes", lambda d: _input_config(d).update(batch_shape=[None, *[2] * 9],
                                                        batch_input_shape=[None, *[2] * 9]),
     "layer 1 'x' (InputLayer): input 'x' has 9 axes; at most 8 are allowed", None),
    ("name-with-control-characters", lambda d: _rename(d, "lstm_1", "lstm\x1b[31m\x00", units=2.5),
     r"layer 2 'lstm\x1b[31m\x00' (LSTM): argument 'units' must be an integer, got 2.5", None),
    ("name-a-lone-surrogate", lambda d: _rename(d, "lstm_1", "\ud800x", units=2.5),
     r"layer 2 '\ud800x' (LSTM): argument 'units' must be an integer, got 2.5", None),
    ("name-of-100000-characters", lambda d: _rename(d, "lstm_1", "n" * 100_000, units=2.5),
     f"layer 2 '{'n' * 27}...{'n' * 28}' (LSTM): argument 'units' must be an integer, got 2.5", None),
]


def _rename(data: Any, old: str, new: str, **config: Any) -> None:
    """A layer renamed everywhere the model says its name (its entry, its config, what reads it), and its
    config changed."""
    stack = [data]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in items:
            if value == old:
                node[key] = new
            elif isinstance(value, (dict, list)):
                stack.append(value)
            if isinstance(value, dict) and value.get("name") == old and isinstance(value.get("units"), int):
                value.update(config)


def _first_tensor(layer: dict[str, Any]) -> list[Any]:
    node = layer["inbound_nodes"][0]
    if isinstance(node, dict):  # Keras 3
        return node["args"][0]["config"]["keras_history"]
    return node[0]  # Keras 2: [layer, node, tensor, kwargs]


def _config_file(real: Real, edit: Callable[[Any], Any], raw: str | None, path: Path) -> Path:
    data = json.loads(real.paths["json"].read_text())
    edit(data)
    text = json.dumps(data)  # escapes control characters and lone surrogates as JSON does
    path.write_text(_with(text, raw) if raw is not None else text)
    return path


@pytest.mark.parametrize(("what", "edit", "message", "raw"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_malformed_configs_are_located_refusals(real, cli, tmp_path, what, edit, message, raw):
    for major in (3, 2):
        saved = real[major, "functional"]
        path = _config_file(saved, edit, raw, tmp_path / f"{what}{major}.json")
        r = cli("params", str(path), "--json")
        if message is None:
            assert r.exit_code == 0, r.stderr
            assert json.loads(r.stdout)["total"] == saved.total
            continue
        assert_clean(r, str(path), (2,))
        assert f"{path}: {message}" in r.stderr, r.stderr


def _sequential_layers(real: Real, n: int) -> dict[str, Any]:
    data = json.loads(real.paths["json"].read_text())
    layers = data["config"]["layers"]
    dense = layers[-1]
    data["config"]["layers"] = layers[:-1] + [dict(dense, config=dict(dense["config"], name=f"d{k}"))
                                              for k in range(n)]
    return data


def _nested(real: Real, depth: int) -> dict[str, Any]:
    """A Sequential used as the layer of a Sequential, `depth` times over."""
    data = json.loads(real.paths["json"].read_text())
    first = data["config"]["layers"][0]  # its InputLayer
    for k in range(depth):
        data = {"class_name": "Sequential", "config": {"name": f"s{k}", "layers": [first, data]}}
    return data


def _inputs(real: Real, n: int) -> dict[str, Any]:
    """A functional model whose Add joins n inputs (n InputLayers, all in input_layers)."""
    data = json.loads(real.paths["json"].read_text())
    first = data["config"]["layers"][0]
    inputs = [dict(first, name=f"in{k}", config=dict(first["config"], name=f"in{k}")) for k in range(n)]
    data["config"]["layers"] = inputs
    data["config"]["input_layers"] = [[f"in{k}", 0, 0] for k in range(n)]
    data["config"]["output_layers"] = [["in0", 0, 0]]
    return data


def test_the_spec_limits_hold_for_files(real, cli, tmp_path):
    """MAX_LAYERS, MAX_NESTING and MAX_INPUTS (model.py) bound what a file may hold, as they bound a spec;
    just under each limit the file counts."""
    from lstmcount.model import MAX_INPUTS, MAX_LAYERS, MAX_NESTING

    seq = real[3, "sequential"]
    cases = [
        (_sequential_layers(seq, MAX_LAYERS - 1), f"{MAX_LAYERS + 1:,} layers is more than the limit of "
                                                  f"{MAX_LAYERS:,}"),
        (_nested(seq, MAX_NESTING + 1), f"models nested more than {MAX_NESTING} deep"),
        (_inputs(real[3, "functional"], MAX_INPUTS + 1), f"{MAX_INPUTS + 1:,} inputs is more than the limit of "
                                                         f"{MAX_INPUTS:,}"),
    ]
    for k, (data, message) in enumerate(cases):
        path = tmp_path / f"limit{k}.json"
        path.write_text(json.dumps(data))
        r = cli("params", str(path))
        assert_clean(r, str(path), (2,))
        assert message in r.stderr, r.stderr
    path = tmp_path / "nested-at-the-limit.json"
    path.write_text(json.dumps(_nested(seq, MAX_NESTING - 1)))
    r = cli("params", str(path), "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["total"] == seq.total


# --- legacy HDF5 files -------------------------------------------------------------------------------

def _h5(real: Real, path: Path, change: Callable[[Any], None]) -> Path:
    import h5py

    path.write_bytes(real.paths["h5"].read_bytes())
    with h5py.File(path, "a", libver="latest") as fh:  # the latest format: attributes over 64 KiB
        change(fh)
    return path


def _attr(name: str, value: Any, dtype: Any = None) -> Callable[[Any], None]:
    def change(fh: Any) -> None:
        del fh.attrs[name]
        if dtype is None:
            fh.attrs[name] = value
        else:
            fh.attrs.create(name, value, dtype=dtype)
    return change


def _config_attr(edit: Callable[[str], str]) -> Callable[[Any], None]:
    def change(fh: Any) -> None:
        text = fh.attrs["model_config"]
        fh.attrs["model_config"] = edit(text.decode() if isinstance(text, bytes) else text)
    return change


def _units(value: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        data = json.loads(text)
        _lstm_config(data)["units"] = "@@"
        return _with(json.dumps(data), value)
    return edit


def _cut(fraction: float) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        raw = path.read_bytes()
        path.write_bytes(raw[:int(len(raw) * fraction)])
    return edit


def _fixed_config(path: Path, size: int) -> None:
    """A file (in HDF5's latest format, whose attributes may pass 64 KiB) whose model_config is one
    fixed-length string of `size` bytes: its stored size says it is too large before it is read."""
    import h5py
    import numpy

    with h5py.File(path, "w", libver="latest") as fh:
        fh.attrs.create("model_config", numpy.bytes_(b"{" + b" " * (size - 1)), dtype=f"S{size}")


def _superblock(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[8:48] = b"\xff" * 40
    path.write_bytes(bytes(raw))


HDF5 = [  # (id, change with h5py, change of the file, the message after `FILE: `, or None: it counts)
    ("cut-in-half", None, _cut(0.5), "h5py cannot open it as an HDF5 file ("),
    ("cut-after-the-superblock", None, _cut(0.01), "h5py cannot open it as an HDF5 file ("),
    ("superblock", None, _superblock, "h5py cannot open it as an HDF5 file ("),
    ("model-config-a-number", _attr("model_config", 5), None,
     "its model_config attribute is not one string (it holds 1 value of type int64)"),
    ("model-config-two-strings", _attr("model_config", ["a", "b"]), None,
     "its model_config attribute is not one string (it holds 2 values of type object)"),
    ("model-config-fixed-17-MiB", None, lambda path: _fixed_config(path, CAP + (1 << 20)),
     "its model_config attribute is larger than 16 MiB"),
    ("model-config-17-MiB", _attr("model_config", "{" + " " * (CAP + (1 << 20))), None,
     "its model_config attribute is larger than 16 MiB"),
    ("model-config-not-json", _attr("model_config", "{not json"), None, "its model_config is not valid JSON ("),
    ("model-config-5000-digits", _config_attr(_units("7" * 5000)), None,
     "its model_config holds an integer of 5,000 digits; lstmcount reads integers of up to 20 digits"),
    ("model-config-700-deep", _attr("model_config", "[" * 700 + "]" * 700), None,
     "its model_config is JSON nested more than 200 deep"),
    ("units-2.5", _config_attr(_units("2.5")), None, "layer 2 'lstm_1' (LSTM): argument 'units' must be an integer, "
                                                       "got 2.5"),
    ("keras-version-a-number", _attr("keras_version", 7), None, None),
]


@pytest.mark.parametrize(("what", "change", "cut", "message"), HDF5, ids=[h[0] for h in HDF5])
def test_broken_hdf5_files_are_one_located_line(real, cli, tmp_path, what, change, cut, message):
    for major in (3, 2):
        saved = real[major, "functional"]
        path = tmp_path / f"{what}{major}.h5"
        if change is not None:
            _h5(saved, path, change)
        else:
            path.write_bytes(saved.paths["h5"].read_bytes())
        if cut is not None:
            cut(path)
        r = cli("params", str(path), "--json")
        if message is None:
            assert (r.exit_code, r.stderr) == (0, ""), r.stderr
            assert json.loads(r.stdout)["total"] == saved.total
            continue
        assert_clean(r, str(path), (2,))
        assert len(r.stderr.splitlines()) == 1, r.stderr
        assert r.stderr.startswith(f"{path}: {message}"), r.stderr


# --- the dangerous ones, as real processes under a memory and a time limit ---------------------------

def _dangling(real: Real, n: int) -> dict[str, Any]:
    """A functional model of n Dense layers, each reading a layer that is not there."""
    data = json.loads(real.paths["json"].read_text())
    head = data["config"]["layers"][3]
    layers = [data["config"]["layers"][0]]
    for k in range(n):
        entry = copy.deepcopy(head)
        entry["name"] = entry["config"]["name"] = f"dense_{k}"
        _first_tensor(entry)[0] = f"gone_{k}"
        layers.append(entry)
    data["config"].update(layers=layers, output_layers=[["dense_0", 0, 0]])
    return data


SPAWNED_ARCHIVES = ("deflate-bomb-declared-small", "bzip2-bomb-declared-small", "corrupt-deflate",
                    "truncated-deflate", "encrypted", "method-99-aes", "config-50000-deep")
SPAWNED_CONFIGS = ("units-5000-digits", "initializer-700-deep", "name-a-lone-surrogate",
                   "name-with-control-characters")
SPAWNED_HDF5 = ("cut-in-half", "model-config-17-MiB", "model-config-5000-digits")


@pytest.fixture(scope="module")
def spawned(real, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_keras_spawned")
    files: dict[str, Path] = {}
    for what, edit, _ in (b for b in BROKEN_ARCHIVES if b[0] in SPAWNED_ARCHIVES):
        files[what] = write_archive(real[3, "functional"], edit, folder / f"{what}.keras")
    for what, edit, _, raw in (c for c in CONFIGS if c[0] in SPAWNED_CONFIGS):
        files[what] = _config_file(real[2, "functional"], edit, raw, folder / f"{what}.json")
    for what, change, cut, _ in (h for h in HDF5 if h[0] in SPAWNED_HDF5):
        path = folder / f"{what}.h5"
        _h5(real[3, "functional"], path, change) if change else path.write_bytes(
            real[3, "functional"].paths["h5"].read_bytes())
        if cut is not None:
            cut(path)
        files[what] = path
    files["dangling-references"] = folder / "dangling.json"
    files["dangling-references"].write_text(json.dumps(_dangling(real[3, "functional"], 3_000)))
    runs = spawn_all({what: (["params", str(path)], b"") for what, path in files.items()}, folder)
    return {what: (runs[what], files[what]) for what in files}


MESSAGES = {c[0]: c[-1] for c in BROKEN_ARCHIVES} | {c[0]: c[2] for c in CONFIGS} | {h[0]: h[3] for h in HDF5}


@pytest.mark.parametrize("what", SPAWNED_ARCHIVES + SPAWNED_CONFIGS + SPAWNED_HDF5)
def test_in_a_real_process(spawned, what):
    run, path = spawned[what]
    assert run.code is not None, f"still running after {SPAWN_TIMEOUT:.0f} s (killed)"
    assert "MemoryError" not in run.stderr, f"needed more than {SPAWN_MEMORY >> 20} MiB"

    class Result:
        exit_code = run.code
        stderr = run.stderr

    assert_clean(Result, str(path), (2,))
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}: "), run.stderr
    assert MESSAGES[what] in lines[0], run.stderr


def test_many_problems_in_a_real_process(spawned):
    """3,000 layers that each read a missing layer: 50 problems and a line that says so, in bounded time
    (each problem's hint compares a bounded number of names, and none is worked out past the 50th)."""
    run, path = spawned["dangling-references"]
    assert run.code is not None, f"still running after {SPAWN_TIMEOUT:.0f} s (killed)"

    class Result:
        exit_code = run.code
        stderr = run.stderr

    assert_clean(Result, str(path), (2,))
    lines = run.stderr.splitlines()
    assert lines[0] == (f"{path}: layer 2 'dense_0' (Dense): inbound_nodes[0]: reads 'gone_0' (keras_history "
                        "['gone_0', 0, 0]), which is not a layer of the model; did you mean 'dense_0'?")
    assert lines[-2:] == [f"{path}: stopping after 50 problems", "50 problems"], lines[-3:]
    assert len(lines) == 52


def test_names_of_any_length_from_a_file_give_bounded_lines(cli, tmp_path):
    """A class name or a layer reference of a million characters (the fuzzer's find) is quoted cut
    short: every message line stays bounded."""
    from lstmcount.cli import MAX_LINE

    base = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "x", "config": {"batch_shape": [None, 5, 4], "name": "x"},
         "inbound_nodes": []},
        {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2},
         "inbound_nodes": [[["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}}
    huge = "y" * 1_000_000
    for change in (lambda d: d["config"]["layers"][1].update(class_name=huge),
                   lambda d: d["config"]["layers"][1]["inbound_nodes"][0][0].__setitem__(0, huge),
                   lambda d: d["config"]["output_layers"][0].__setitem__(0, huge)):
        data = json.loads(json.dumps(base))
        change(data)
        path = tmp_path / "huge.json"
        path.write_text(json.dumps(data))
        r = cli("params", str(path))
        assert r.exit_code == 2 and r.stderr.startswith(f"{path}: "), r.stderr[:300]
        assert all(len(line) <= MAX_LINE + 100 for line in r.stderr.splitlines())
