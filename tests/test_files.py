"""Opening inputs safely (lstmcount/inputs/files.py) and showing names safely (errors.printable), in
process: what a path is before it is read, pipes read once and without hanging, caps, zip end
records; names with control characters, rich markup and lone surrogates in every output format."""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import threading
import time
import zipfile

import pytest

from lstmcount.errors import UsageError, printable
from lstmcount.inputs import files, sniff

from .hostile import assert_clean

SPEC = "input_shape: [3, 4]\nlayers:\n  - {type: LSTM, units: 3, name: lstm}\n"


# --- what a path is ---------------------------------------------------------------------------------

def test_a_link_to_dev_zero_is_a_character_device(tmp_path, cli):
    for suffix in (".yaml", ".json", ".keras", ".h5", ".pt", ".onnx", ""):
        path = tmp_path / f"zero{suffix}"
        path.symlink_to("/dev/zero")
        r = cli("params", str(path))
        assert r.exit_code == 2
        assert r.stderr == f"{path}: a character device, not a model file\n"


def test_directories_sockets_and_missing_files(tmp_path, cli):
    folder = tmp_path / "dir.keras"
    folder.mkdir()
    sock_path = tmp_path / "s.onnx"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        for path, text in ((folder, "a directory, not a model file"), (sock_path, "a socket, not a model file"),
                           (tmp_path / "missing.pt", "no such file")):
            r = cli("params", str(path))
            assert (r.exit_code, r.stderr) == (2, f"{path}: {text}\n")
    finally:
        sock.close()


def test_regular_file_refuses_pipes_and_what_is_over_the_cap(tmp_path):
    fifo = tmp_path / "f.pt"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="a pipe; lstmcount reads a PyTorch checkpoint from a regular file"):
        files.regular_file(str(fifo), "a PyTorch checkpoint")
    big = tmp_path / "big.onnx"
    with open(big, "wb") as fh:
        fh.truncate(3 << 20)
    with pytest.raises(UsageError, match=r"big.onnx: larger than 2 MiB; not an ONNX model"):
        files.regular_file(str(big), "an ONNX model", 2 << 20)
    assert files.regular_file(str(big), "an ONNX model", 3 << 20).st_size == 3 << 20


def test_a_sparse_spec_is_refused_unread(tmp_path, cli):
    path = tmp_path / "sparse.yaml"
    with open(path, "wb") as fh:
        fh.truncate(2 << 30)
    started = time.process_time()
    r = cli("params", str(path))
    assert (r.exit_code, r.stderr) == (2, f"{path}: larger than 16 MiB; not a model spec\n")
    assert time.process_time() - started < 1.0, "the 2 GiB were read"


# --- pipes ------------------------------------------------------------------------------------------

def _pipe_with(data: bytes) -> tuple[str, int]:
    """A pipe holding `data` (then closed by its writer), as process substitution's /dev/fd/N."""
    read, write = os.pipe()
    threading.Thread(target=lambda: (os.write(write, data), os.close(write)), daemon=True).start()
    return f"/dev/fd/{read}", read


def test_a_pipe_is_read_once_and_sniffed_from_what_was_read(cli):
    path, fd = _pipe_with(SPEC.encode())
    try:
        assert sniff(path) == "text"
        r = cli("params", "--json", path)  # sniffed again, then read: the same bytes
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["total"] == 96
    finally:
        os.close(fd)


def test_a_pipe_holding_a_checkpoint_is_refused_in_one_line(cli, tmp_path):
    path, fd = _pipe_with(b"PK\x03\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                          b"\x00\x00\x00\x00\x10\x00\x00\x00archive/data.pkl")
    try:
        r = cli("params", path)
        assert r.exit_code == 2
        assert r.stderr == (f"{path}: a pipe; lstmcount reads a PyTorch checkpoint from a regular file (save it to "
                            "one first)\n")
    finally:
        os.close(fd)


def test_a_fifo_nobody_writes_to_ends_in_one_line(tmp_path, cli, monkeypatch):
    monkeypatch.setattr(files, "PIPE_WAIT", 0.2)
    fifo = tmp_path / "model.keras"
    os.mkfifo(fifo)
    started = time.monotonic()
    r = cli("params", str(fifo))
    assert time.monotonic() - started < 5
    assert (r.exit_code, r.stderr) == (2, f"{fifo}: no data arrived within 0.2 s (a pipe nothing writes to)\n")


def test_a_fifo_with_a_writer_is_read(tmp_path, cli):
    fifo = tmp_path / "spec"
    os.mkfifo(fifo)

    def writer() -> None:
        with open(fifo, "wb") as fh:  # blocks until lstmcount opens the FIFO
            fh.write(SPEC.encode())

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    r = cli("params", "--json", str(fifo))
    thread.join(5)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["total"] == 96


def test_a_pipe_over_the_cap(monkeypatch):
    path, fd = _pipe_with(b"x" * 5000)
    try:
        with pytest.raises(UsageError, match=r"larger than 1,000 bytes; not a model spec"):
            files.read_bytes(path, 1000, "a model spec")
        # read again with a larger cap: the pipe was read only as far as the first cap
        with pytest.raises(UsageError, match=r"a pipe holding more than 1,000 bytes; save it to a file"):
            files.read_bytes(path, 10_000, "a model spec")
    finally:
        os.close(fd)


def test_stdin_each_run_reads_its_own(cli):
    assert cli("params", "-", input="").exit_code == 2
    r = cli("params", "--json", "-", input=SPEC)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["total"] == 96


# --- zip end records --------------------------------------------------------------------------------

def _end_record(entries: int, size: int, offset: int) -> bytes:
    return struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries & 0xFFFF, entries & 0xFFFF, size, offset, 0)


def test_a_zip_claiming_a_2_GiB_directory_is_refused_unread(tmp_path, cli):
    for suffix in (".keras", ".pt", ".zip"):
        path = tmp_path / f"bigcd{suffix}"
        size = 2 << 30
        with open(path, "wb") as fh:
            fh.write(b"PK\x03\x04" + b"\0" * 26)
            fh.truncate(size)
            fh.seek(size - 22)
            fh.write(_end_record(1000, size - 122, 100))
        started = time.process_time()
        r = cli("params", str(path))
        assert time.process_time() - started < 2.0, "the claimed directory was read"
        assert_clean(r, str(path), (2,))
        assert len(r.stderr.splitlines()) == 1, r.stderr
    with pytest.raises(UsageError, match=r"a zip archive whose directory claims 2,147,483,526 bytes \(over 16 MiB\)"):
        files.check_zip(str(path))


def test_a_zip64_end_record_is_read(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", "{}")
    raw = buf.getvalue()
    at = raw.rindex(b"PK\x05\x06")
    # a zip64 end record claiming 10**6 entries and a 1 TiB directory, its locator, then the end record
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 10**6, 10**6, 1 << 40, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    path = tmp_path / "z.keras"
    end = bytearray(raw[at:])
    end[8:16] = struct.pack("<HHL", 0xFFFF, 0xFFFF, 0xFFFFFFFF)  # "see the zip64 record"
    path.write_bytes(raw[:at] + record + locator + bytes(end))
    with pytest.raises(UsageError, match=r"directory claims 1,099,511,627,776 bytes"):
        files.check_zip(str(path))
    path.write_bytes(raw)
    files.check_zip(str(path))
    with files.zip_archive(str(path)) as z:
        assert z.namelist() == ["config.json"]


# --- names shown safely -----------------------------------------------------------------------------

def test_printable():
    assert printable("plain é ü 漢字 \u200b") == "plain é ü 漢字 \u200b"
    assert printable("a\x1b[31m\r\n\t\x00\x7f\x85") == "a\\x1b[31m\\r\\n\\t\\x00\\x7f\\x85"
    assert printable("\udcff.yaml \ud800") == "\\udcff.yaml \\ud800"
    assert printable("\u202eevil\u2066") == "\\u202eevil\\u2066"
    assert printable("x\u2028y") == "x\\u2028y"


NASTY = "a\x1b[31m[/]\r|b`"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "html", "latex", "json", "yaml"])
def test_names_with_control_characters_and_markup_in_every_format(tmp_path, cli, fmt):
    path = tmp_path / "nasty.yaml"
    path.write_text(f"name: {json.dumps(NASTY)}\n" + SPEC.replace("name: lstm", f"name: {json.dumps(NASTY)}"))
    r = cli("params", "-o", fmt, str(path))
    assert r.exit_code == 0, r.stderr
    assert "\x1b" not in r.stdout and "\r" not in r.stdout
    if fmt in ("json", "yaml"):  # the exact names, in the format's own escapes
        import yaml

        data = json.loads(r.stdout) if fmt == "json" else yaml.safe_load(r.stdout)
        assert data["name"] == NASTY and data["layers"][0]["name"] == NASTY
    elif fmt == "latex":  # the escape's backslash in LaTeX's words
        assert r"a\textbackslash{}x1b[31m[/]\textbackslash{}r" in r.stdout
    else:
        assert "a\\x1b[31m[/]\\r" in r.stdout
    if fmt == "markdown":
        assert "\\|b" in r.stdout  # a | would end the cell


def test_layout_and_errors_escape_names(tmp_path, cli):
    path = tmp_path / "nasty.yaml"
    path.write_text(SPEC.replace("name: lstm", f"name: {json.dumps(NASTY)}"))
    r = cli("layout", str(path))
    assert r.exit_code == 0 and "\x1b" not in r.stdout and "a\\x1b[31m[/]" in r.stdout
    path.write_text(SPEC.replace("units: 3", "units: -3").replace("name: lstm", f"name: {json.dumps(NASTY)}"))
    r = cli("params", str(path))
    assert_clean(r, str(path), (2,))
    assert "\x1b" not in r.stderr and "\r" not in r.stderr


def test_an_undecodable_path_is_escaped_and_the_json_stays_valid(tmp_path, cli):
    path = os.path.join(os.fsdecode(bytes(tmp_path)), os.fsdecode(b"\xff\x1b.yaml"))
    with open(path, "w") as fh:
        fh.write(SPEC.replace("units: 3", "units: 2.5"))
    r = cli("params", path)
    assert r.exit_code == 2
    assert r.stderr.startswith(printable(path) + ":3:"), r.stderr
    model = os.path.join(os.fsdecode(bytes(tmp_path)), "m.json")
    config = {"class_name": "Sequential", "config": {"name": "m\udcff", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 3, 4], "name": "x\ud800"}},
        {"class_name": "LSTM", "config": {"units": 3, "name": "lstm\udcff\x1b"}}]}}
    with open(model, "w") as fh:
        fh.write(json.dumps(config))  # ensure_ascii: the lone surrogates as JSON escapes
    r = cli("params", "--json", model)
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)  # "\udcff": JSON's own escape for the lone surrogate
    assert data["name"] == "m\udcff" and data["layers"][0]["name"] == "lstm\udcff\x1b"
    r = cli("params", model)
    assert r.exit_code == 0 and "lstm\\udcff\\x1b" in r.stdout


def test_in_child_returns_what_the_child_read_and_gives_up_on_a_loop():
    """files.in_child: the text the work returns comes back whole (also past a pipe's buffer, and with
    lone surrogates), a work that never ends is killed at its limit (None), and a child that dies says
    nothing (None)."""
    from lstmcount.inputs.files import in_child

    big = "x" * 300_000 + "\udcff"
    assert in_child(lambda: big, 10) == big
    start = time.monotonic()
    assert in_child(lambda: str(time.sleep(60)), 0.5) is None  # stands for C code that loops forever
    assert time.monotonic() - start < 5
    assert in_child(lambda: str(1 / 0), 10) is None


def test_in_child_bounds_what_the_child_allocates():
    """A child that allocates past its memory allowance ends (None), as a runaway library's would; one
    within it returns."""
    from lstmcount.inputs.files import in_child

    assert in_child(lambda: str(len(bytearray(400 << 20))), 10, memory=64 << 20) is None
    assert in_child(lambda: str(len(bytearray(16 << 20))), 10, memory=64 << 20) == str(16 << 20)
