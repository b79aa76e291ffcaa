"""Hostile PyTorch checkpoints (issue 14): whatever a .pt holds, `params` and `layout --save` end with exit 0
or 2, a refusal is one line naming the file, never a traceback, in bounded time and memory; nothing from
the file runs (torch.load(weights_only=True), and the pre-check reads the pickle with every global a stub).

Every file is built here, with torch.save where torch can write it and, where it cannot (a pickle that
declares more than its archive stores, a zip whose pickle inflates to 2 GiB, 300,000 tensors, which
torch.save takes 20 s to write), forged in torch's own format: `forge` writes what torch.save writes, and
a test shows torch.load reads a small forged file as the state_dict it stands for.
"""

from __future__ import annotations

import collections
import io
import pickle
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn

from lstmcount.api import analyze  # noqa: E402
from lstmcount.inputs.state_dict import MAX_PICKLE, MAX_TENSORS  # noqa: E402

from .hostile import SPAWN_MEMORY, SPAWN_TIMEOUT, Job, assert_clean, side_by_side  # noqa: E402

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


# --- forging torch's own formats ----------------------------------------------------------------------

class _Storage:
    """Stands for storage `key` (`numel` float32s) in a forged pickle: written as torch writes a storage."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles as torch pickles a tensor: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage: _Storage, size: tuple[int, ...]) -> None:
        self.storage, self.size = storage, size

    def __reduce__(self):  # type: ignore[no-untyped-def]
        stride, step = [], 1
        for d in reversed(self.size):
            stride.insert(0, step)
            step *= d
        return (torch._utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, tuple(stride), False, collections.OrderedDict()))


class _Pickler(pickle.Pickler):
    def __init__(self, fh, legacy: bool) -> None:  # type: ignore[no-untyped-def]
        super().__init__(fh, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):  # type: ignore[no-untyped-def]
        if isinstance(obj, _Storage):
            pid = ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def forge(path: Path, entries: dict[str, tuple[int, ...]], numel: int = 4, stored: int | None = None,
          legacy: bool = False, pad: int = 0, prefix: bytes = b"", **other: object) -> None:
    """A checkpoint whose tensors (key -> size) all view one float32 storage of `numel` elements declared,
    `stored` written (numel unless told), as torch.save writes it (a zip, or the legacy format); `pad` zero
    bytes after the pickle in data.pkl (the unpickler stops at STOP: torch ignores them); `prefix` opcodes
    before it (their values popped); `other` entries beside the tensors."""
    storage = _Storage("0", numel)
    sd = collections.OrderedDict((k, _Tensor(storage, size)) for k, size in entries.items())
    sd.update(other)
    buf = io.BytesIO()
    if legacy:
        for value in (LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True,
                                          "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(value, buf, protocol=2)
    _Pickler(buf, legacy).dump(sd)
    data = np.arange(numel if stored is None else stored, dtype=np.float32).tobytes()
    if legacy:
        pickle.dump(["0"], buf, protocol=2)
        buf.write((len(data) // 4).to_bytes(8, "little") + data)
        path.write_bytes(buf.getvalue())
        return
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        pkl = buf.getvalue()
        archive.writestr("archive/data.pkl", (pkl[:2] + prefix + pkl[2:] if prefix else pkl) + bytes(pad))
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", data)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/.data/serialization_id", "0")


def inflating(path: Path, size: int) -> None:
    """A real checkpoint whose data.pkl is deflated: its pickle followed by `size` zero bytes (a few MB on
    disk, `size` once inflated)."""
    torch.save({"w": torch.zeros(3)}, path)
    with zipfile.ZipFile(path) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            if not name.endswith("data.pkl"):
                archive.writestr(name, data)
                continue
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as fh:
                fh.write(data)
                chunk = bytes(1 << 24)
                for _ in range(size // len(chunk)):
                    fh.write(chunk)


def test_a_forged_checkpoint_is_what_torch_save_writes(tmp_path):
    """The forger writes torch's format: torch.load reads its files (zip and legacy) as the tensors they stand
    for, and lstmcount counts them as torch's own files of the same tensors."""
    entries = {"lstm.weight_ih_l0": (4, 1), "lstm.weight_hh_l0": (4, 1), "fc.weight": (2,)}
    for legacy in (False, True):
        path = tmp_path / f"forged{int(legacy)}.pt"
        forge(path, entries, numel=4, legacy=legacy)
        loaded = torch.load(path, weights_only=True)
        assert {k: tuple(v.shape) for k, v in loaded.items()} == entries
        assert loaded["fc.weight"].tolist() == [0.0, 1.0]
        real = tmp_path / f"real{int(legacy)}.pt"
        base = torch.arange(4.0)  # torch.save of views of one tensor: one storage, as forged
        torch.save({k: base[:v[0] * (v[1] if len(v) > 1 else 1)].reshape(v) for k, v in entries.items()},
                   real, _use_new_zipfile_serialization=not legacy)
        forged, saved = analyze(str(path)), analyze(str(real))
        assert forged.total == saved.total == 6  # the two LSTM tensors are one view of the storage: tied
        assert [(lay.name, lay.type) for lay in forged.layers] == [(lay.name, lay.type) for lay in saved.layers] \
            == [("lstm", "LSTM"), ("fc", "LayerNorm or GroupNorm or BatchNorm1d/2d/3d or PReLU")]
        assert [n.replace(str(path), "") for n in forged.notes] == [n.replace(str(real), "") for n in saved.notes]


# --- the hostile files, each run as a real process under 1 GiB and 10 s ------------------------------------

def _files(folder: Path) -> dict[str, tuple[tuple[str, ...], int, tuple[str, ...]]]:
    """id -> (lstmcount arguments, "{f}" the file; the exit code; fragments of stderr)."""
    t = torch.zeros
    cases = {}

    def saved(cid: str, obj, args=("params", "{f}"), code=2, *fragments: str, legacy: bool = False) -> None:
        torch.save(obj, folder / f"{cid}.pt", _use_new_zipfile_serialization=not legacy)
        cases[cid] = (args, code, fragments)

    def forged(cid: str, entries, args=("params", "{f}"), code=2, *fragments: str, **how) -> None:
        forge(folder / f"{cid}.pt", entries, **how)
        cases[cid] = (args, code, fragments)

    lstm = {"lstm.weight_ih_l0": t(4, 3), "lstm.weight_hh_l0": t(4, 1)}
    saved("rank-3-weight", {"lstm.weight_ih_l0": t(4, 3, 2), "lstm.weight_hh_l0": t(4, 1)}, ("params", "{f}"), 2,
          "{f}: tensor 'lstm.weight_ih_l0' has shape (4, 3, 2); the weight_ih_l0 of an LSTM is 2-D (4*hidden, input)")
    saved("rank-2-bias", {**lstm, "lstm.bias_ih_l0": t(4, 1), "lstm.bias_hh_l0": t(4)}, ("params", "{f}"), 2,
          "{f}: tensor 'lstm.bias_ih_l0' has shape (4, 1); the bias_ih_l0 of an LSTM is 1-D (4*hidden,)")
    saved("rank-3-gru-cell", {"c.weight_ih": t(6, 3), "c.weight_hh": t(6, 2), "c.bias_ih": t(6, 1)},
          ("layout", "{f}"), 2, "{f}: tensor 'c.bias_ih' has shape (6, 1); the bias_ih of an GRUCell is 1-D")
    saved("rank-0-recurrent", {"rnn.weight_ih_l0": t(()), "rnn.weight_hh_l0": t(3, 3)}, ("params", "{f}"), 2,
          "{f}: tensor 'rnn.weight_ih_l0' has shape (); the weight_ih_l0 of an RNN is 2-D (hidden, input)")
    saved("layer-99999999999", {**lstm, "lstm.weight_ih_l99999999999": t(4, 1)}, ("params", "{f}"), 2,
          "{f}: tensor 'lstm.weight_ih_l99999999999' names layer 99,999,999,999 of a stacked recurrent module; "
          "one has at most 10,000")
    saved("layer-of-5000-digits", {**lstm, "lstm.weight_hh_l" + "7" * 5000: t(4, 1)}, ("params", "{f}"), 2,
          "names layer number of 5,000 digits")
    # almost the names of an LSTM's tensors: other tensors, counted as stored
    for cid, extra in (("suffix-l0x", "lstm.weight_ih_l0x"),
                       ("suffix-reverse-reverse", "lstm.weight_hh_l0_reverse_reverse"),
                       ("suffix-superscript-digit", "lstm.weight_ih_l\u00b2"),
                       ("suffix-fullwidth-digit", "lstm.weight_ih_l\uff11")):
        saved(cid, {**lstm, extra: t(4, 1)}, ("params", "--json", "{f}"), 0)
    saved("lone-surrogates-and-escapes", {"a\ud800.weight": t(3), "b\x1b[31m\udfff.bias": t(2)},
          ("params", "--json", "{f}"), 0)
    saved("zero-groups-conv", {"c.weight": t(0, 2, 1), "c.bias": t(0)}, ("params", "{f}"), 0)
    saved("a-whole-pickled-module", nn.Linear(2, 2), ("params", "{f}"), 2,
          "{f}: not a readable PyTorch checkpoint (it pickles 'torch.nn.modules.linear.Linear', a Python object "
          "torch.load(weights_only=True) does not build; lstmcount runs no code from a file: save the model's "
          "state_dict() instead)")
    saved("legacy-pickled-module", nn.Linear(2, 2), ("params", "{f}"), 2, "{f}: not a readable PyTorch checkpoint (it "
          "pickles 'torch.nn.modules.linear.Linear'", legacy=True)
    # torch's loader refusals, in the user's terms
    whole = folder / "whole.pt"
    torch.save({"lstm.weight_ih_l0": torch.ones(64, 64), "lstm.weight_hh_l0": torch.ones(64, 16)}, whole)
    raw = whole.read_bytes()
    (folder / "truncated-zip.pt").write_bytes(raw[:len(raw) // 2])
    cases["truncated-zip"] = (("params", "{f}"), 2,
                              ("{f}: not a readable PyTorch checkpoint (truncated or damaged zip archive",))
    with zipfile.ZipFile(whole) as archive:
        pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        size = len(archive.read(pkl))
    at = raw.index(b"\x80\x02", raw.index(b"data.pkl"))  # the stored pickle, in place
    (folder / "bad-crc.pt").write_bytes(raw[:at + 2] + b"\xff" * (size - 2) + raw[at + size:])
    cases["bad-crc"] = (("params", "{f}"), 2, ("{f}: its whole/data.pkl is not a readable zip member (its CRC-32 "
                                               "does not match its data)",))
    with zipfile.ZipFile(whole) as archive, zipfile.ZipFile(folder / "corrupt-pickle.pt", "w") as out:
        for info in archive.infolist():
            data = archive.read(info)
            out.writestr(info, data[:2] + b"\xff" * (len(data) - 2) if info.filename == pkl else data)
    cases["corrupt-pickle"] = (("params", "{f}"), 2, ("{f}: not a readable PyTorch checkpoint (",))
    legacy = folder / "legacy-truncated.pt"
    torch.save(lstm, legacy, _use_new_zipfile_serialization=False)
    legacy.write_bytes(legacy.read_bytes()[:200])
    cases["legacy-truncated"] = (("params", "{f}"), 2, ("{f}: not a readable PyTorch checkpoint (",))
    (folder / "not-torch-at-all.pt").write_bytes(b"\x80\x04K\x05.")  # a pickle of the number 5
    cases["not-torch-at-all"] = (("params", "{f}"), 2, ("{f}: not a readable PyTorch checkpoint (neither a zip "
                                                       "archive nor a legacy torch pickle)",))
    # sizes: what a pickle declares against what the file holds
    forged("storage-larger-than-its-record", {"w": (10**6,)}, ("params", "{f}"), 2,
           "{f}: not a readable PyTorch checkpoint (storage '0' declares 4,000,000 bytes; the archive stores 16)",
           numel=10**6, stored=4)
    forged("legacy-storage-larger-than-the-file", {"w": (10**11,)}, ("params", "{f}"), 2,
           "{f}: not a readable PyTorch checkpoint (its storages declare 400,000,000,000 bytes; the file has ",
           numel=10**11, stored=4, legacy=True)
    many = {f"m{i}.weight": (1,) for i in range(300_000)}
    forged("300000-tensors", many, ("params", "{f}"), 2, f"{{f}}: holds more than {MAX_TENSORS:,} tensors, the limit")
    forged("legacy-300000-tensors", many, ("params", "{f}"), 2, f"{{f}}: holds more than {MAX_TENSORS:,} tensors",
           legacy=True)
    forged("pickle-over-the-limit", {"w": (4,)}, ("params", "{f}"), 2,
           f"{{f}}: its pickle (data.pkl) declares {MAX_PICKLE + 1024:,} bytes, over the {MAX_PICKLE >> 20} MiB limit",
           pad=MAX_PICKLE + 1024 - len(_pickled({"w": (4,)})))
    forged("pickle-of-3000000-values", {"w": (4,)}, ("params", "{f}"), 2,
           "{f}: its pickle holds more than 2,000,000 values, the limit", junk=[5] * 3_000_000)
    # a list of 30,000,000 references to one number (DUP), popped: the pre-check builds it (240 MB), torch
    # refuses the operation
    forged("pickle-of-30000000-references", {"w": (4,)}, ("params", "{f}"), 2,
           "{f}: not a readable PyTorch checkpoint (its pickle uses an operation (unsupported operand 50) "
           "torch.load(weights_only=True) does not run)", prefix=b"](K\x05" + b"2" * 30_000_000 + b"e0")
    inflating(folder / "inflates-to-2-GiB.pt", 2 << 30)
    cases["inflates-to-2-GiB"] = (("params", "{f}"), 2, ("{f}: not a readable PyTorch checkpoint (record ",
                                                         "data.pkl' is compressed; torch.save stores every record "
                                                         "as it is)"))
    # --save: the bytes converting writes, checked before they are
    saved("save-expanded-stride-0", {"lstm.weight_ih_l0": t(1).expand(40_000, 10_000),
                                     "lstm.weight_hh_l0": t(1).expand(40_000, 10_000)},
          ("layout", "{f}", "--to", "keras", "--save", "{f}.npz"), 2,
          "{f}: --save: converting layer lstm's weights takes about 14.90 GiB of memory", "over the 1.00 GiB limit; "
          "raise it with --max-memory if you mean it")
    saved("save-over-a-small-max-memory", lstm, ("layout", "{f}", "--to", "keras", "--save", "{f}.npz",
                                                 "--max-memory", "100"), 2, "over the 100 B limit")
    saved("count-expanded-stride-0", {"w": t(1).expand(10**9)}, ("params", "{f}"), 0)
    return cases


def _pickled(entries: dict[str, tuple[int, ...]]) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, False).dump(collections.OrderedDict((k, _Tensor(_Storage("0", 4), s)) for k, s in entries.items()))
    return buf.getvalue()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = _files(folder)
    jobs = {cid: Job(tuple(a.replace("{f}", str(folder / f"{cid}.pt")) for a in args), str(folder / f"{cid}.pt"))
            for cid, (args, _, _) in cases.items() if cid in SPAWNED}
    # 10 s of processor time each (the kernel ends a run there): torch's import alone takes 7 s of wall
    # time on a machine others share; the wall limit is a safety net
    return folder, cases, side_by_side(jobs, folder, timeout=120, at_once=2, cpu=SPAWN_TIMEOUT)


CASE_IDS = ["rank-3-weight", "rank-2-bias", "rank-3-gru-cell", "rank-0-recurrent", "layer-99999999999",
            "layer-of-5000-digits", "suffix-l0x", "suffix-reverse-reverse", "suffix-superscript-digit",
            "suffix-fullwidth-digit", "lone-surrogates-and-escapes", "zero-groups-conv", "a-whole-pickled-module",
            "legacy-pickled-module", "truncated-zip", "bad-crc", "corrupt-pickle", "legacy-truncated",
            "not-torch-at-all",
            "storage-larger-than-its-record", "legacy-storage-larger-than-the-file", "300000-tensors",
            "legacy-300000-tensors", "pickle-over-the-limit", "pickle-of-3000000-values",
           "pickle-of-30000000-references", "inflates-to-2-GiB", "save-expanded-stride-0",
            "save-over-a-small-max-memory", "count-expanded-stride-0"]


# run as real processes: those about time and memory, and torch's own refusals (the rest run in-process)
SPAWNED = {"a-whole-pickled-module", "legacy-pickled-module", "truncated-zip", "corrupt-pickle",
           "storage-larger-than-its-record", "legacy-storage-larger-than-the-file", "300000-tensors",
           "legacy-300000-tensors", "pickle-over-the-limit", "pickle-of-3000000-values",
           "pickle-of-30000000-references", "inflates-to-2-GiB", "save-expanded-stride-0",
           "count-expanded-stride-0"}


class _Ran:
    def __init__(self, r) -> None:  # type: ignore[no-untyped-def]
        self.code = self.exit_code = r.exit_code
        self.stderr, self.cpu, self.seconds = r.stderr, 0.0, 0.0


@pytest.mark.parametrize("cid", CASE_IDS)
def test_hostile_checkpoint(hostile, cli, cid):
    folder, cases, runs = hostile
    args, code, fragments = cases[cid]
    path = str(folder / f"{cid}.pt")
    r = runs[cid] if cid in SPAWNED else _Ran(cli(*(a.replace("{f}", path) for a in args)))
    assert r.code is not None, f"killed after {r.cpu:.1f} s of processor time ({r.seconds:.0f} s)"
    assert "MemoryError" not in r.stderr, f"needed more than {SPAWN_MEMORY >> 20} MiB"
    assert_clean(r, path, (code,))
    if code == 2:
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith(path + ": "), r.stderr
    for fragment in fragments:
        assert fragment.replace("{f}", path) in r.stderr, r.stderr


def test_every_case_is_run(hostile):
    assert sorted(hostile[1]) == sorted(CASE_IDS) and set(CASE_IDS) >= SPAWNED


def test_the_refusals_of_counts_come_before_torch_reads(hostile):
    """300,000 tensors (torch.load takes 47 s over them on a busy machine), a pickle over the limit and one that
    inflates to 2 GiB are refused by the pre-check, before torch is imported, in well under the limit."""
    runs = hostile[2]
    for cid in ("300000-tensors", "legacy-300000-tensors", "pickle-over-the-limit", "pickle-of-3000000-values",
                "inflates-to-2-GiB"):
        assert runs[cid].cpu < SPAWN_TIMEOUT * 0.5, (cid, runs[cid].cpu)


def test_almost_recurrent_names_are_counted_as_stored(tmp_path, cli):
    t = torch.zeros
    sd = {"lstm.weight_ih_l0": t(4, 3), "lstm.weight_hh_l0": t(4, 1), "lstm.weight_ih_l0x": t(4, 1)}
    torch.save(sd, tmp_path / "x.pt")
    rep = analyze(str(tmp_path / "x.pt"))
    assert rep.total == 20 and [(lay.name, lay.type) for lay in rep.layers] == [("lstm", "tensors")]
    del sd["lstm.weight_ih_l0x"]
    torch.save(sd, tmp_path / "y.pt")
    assert [(lay.name, lay.type) for lay in analyze(str(tmp_path / "y.pt")).layers] == [("lstm", "LSTM")]


def test_lone_surrogates_are_escaped_in_every_output(tmp_path, cli):
    torch.save({"a\ud800.weight": torch.zeros(3), "fc.weight": torch.zeros(2, 2)}, tmp_path / "s.pt")
    for args in (("params", "--json"), ("params",), ("layout",), ("layout", "--json")):
        r = cli(*args, str(tmp_path / "s.pt"))
        assert r.exit_code == 0 and "a\\ud800" in r.stdout.replace("\\\\", "\\"), (args, r.stderr)  # JSON doubles it
        assert "names that are not Unicode text (lone surrogates) are shown with \\u escapes: a\\ud800.weight" \
            in r.stderr
    assert analyze(str(tmp_path / "s.pt")).total == 7


def test_bfloat16_is_saved_as_float32_exactly(tmp_path, cli):
    lstm = nn.LSTM(3, 5).to(torch.bfloat16)
    torch.save(lstm.state_dict(), tmp_path / "bf.pt")
    out = tmp_path / "bf.npz"
    r = cli("layout", str(tmp_path / "bf.pt"), "--to", "keras", "--save", str(out))
    assert r.exit_code == 0, r.stderr
    assert f"{out}: note: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 stored " \
        "as bfloat16, which NumPy has not: written as float32 (exactly the same values)" in r.stderr
    saved = np.load(out)
    assert saved["lstm/kernel"].dtype == np.float32
    # PyTorch's i, f, g, o and Keras's i, f, c, o agree; Keras's kernel is the transpose, its bias the sum
    assert np.array_equal(saved["lstm/kernel"], lstm.weight_ih_l0.detach().float().numpy().T)
    assert np.array_equal(saved["lstm/recurrent_kernel"], lstm.weight_hh_l0.detach().float().numpy().T)
    assert np.array_equal(saved["lstm/bias"], (lstm.bias_ih_l0.float() + lstm.bias_hh_l0.float()).detach().numpy())


def test_save_reads_only_the_tensors_it_converts(tmp_path, cli):
    """An expanded tensor beside the layer is not materialised: only the recipe's sources are read."""
    sd = {**nn.LSTM(3, 5).state_dict(), "huge": torch.zeros(1).expand(10**10)}
    torch.save({f"rnn.{k}" if k != "huge" else "emb.weight": v for k, v in sd.items()}, tmp_path / "m.pt")
    r = cli("layout", str(tmp_path / "m.pt"), "--to", "keras", "--layer", "rnn", "--save", str(tmp_path / "m.npz"))
    assert r.exit_code == 0, r.stderr
    assert sorted(np.load(tmp_path / "m.npz")) == ["lstm/bias", "lstm/kernel", "lstm/recurrent_kernel"]


# --- random state_dicts -----------------------------------------------------------------------------

PREFIXES = ["lstm", "rnn.0", "enc.layers.1", "", "a\ud800", "b\x1b[2J", "m.module", "x.parametrizations"]
LEAVES = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l1", "weight_hh_l1", "weight_hr_l0",
          "weight_ih_l0_reverse", "weight_hh_l0_reverse", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight",
          "bias", "running_mean", "running_var", "num_batches_tracked", "weight_g", "weight_v", "weight_hh_l0_raw",
          "parametrizations.weight.original", "parametrizations.weight.original0", "parametrizations.weight.original1",
          "parametrizations.weight_hh_l0.original", "module.weight_hh_l0", "weight_ih_l0x", "weight_ih_l99999",
          "weight_hh_l0_reverse_reverse", "_extra_state", "weight_ih_l\u0663"]


@st.composite
def state_dicts(draw):
    n = draw(st.integers(1, 6))
    out = {}
    for _ in range(n):
        prefix = draw(st.sampled_from(PREFIXES))
        leaf = draw(st.one_of(st.sampled_from(LEAVES), st.text(min_size=1, max_size=12)))
        shape = tuple(draw(st.lists(st.integers(0, 6), max_size=4)))
        out[f"{prefix}.{leaf}" if prefix else leaf] = shape
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(entries=state_dicts(), legacy=st.booleans())
def test_random_state_dicts_count_or_refuse_in_one_line(tmp_path, cli, entries, legacy):
    path = tmp_path / "random.pt"
    tensors = {k: torch.zeros(s) for k, s in entries.items()}
    torch.save(tensors, path, _use_new_zipfile_serialization=not legacy)
    for args in (("params", "--json"), ("layout", "--json")):
        r = cli(*args, str(path))
        assert_clean(r, str(path))
        if r.exit_code == 2:
            assert len(r.stderr.splitlines()) == 1, r.stderr
    if r.exit_code == 0:  # every tensor counted once, as stored: a table's layout is the tensors it holds
        assert analyze(str(path)).total == sum(t.numel() for t in tensors.values())


@st.composite
def recurrent_modules(draw):
    kind = draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
    hidden = draw(st.integers(1, 9))
    args = {"num_layers": draw(st.integers(1, 4)), "bias": draw(st.booleans()),
            "bidirectional": draw(st.booleans())}
    if kind == "LSTM" and hidden > 1:
        args["proj_size"] = draw(st.integers(0, hidden - 1))
    if kind == "RNN":
        args["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return getattr(nn, kind)(draw(st.integers(1, 9)), hidden, **args), draw(st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=recurrent_modules())
def test_real_recurrent_modules_count_exactly(tmp_path, case):
    module, with_linear = case
    model = nn.ModuleDict({"rnn": module, **({"fc": nn.Linear(3, 2)} if with_linear else {})})
    torch.save(model.state_dict(), tmp_path / "m.pt", _use_new_zipfile_serialization=True)
    rep = analyze(str(tmp_path / "m.pt"))
    assert rep.total == sum(p.numel() for p in model.parameters())
    assert rep.layers[0].name == "rnn" and rep.layers[0].type == type(module).__name__
    assert rep.layers[0].params == sum(p.numel() for p in module.parameters())


def test_pickled_torch_module_names_no_python(tmp_path):
    """The pre-check's stubs build nothing from the file: a pickle that calls os.system is refused by torch
    and nothing runs (no file appears)."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            import os

            return (os.system, (f"touch {marker}",))

    torch.save({"w": torch.zeros(2), "evil": Evil()}, tmp_path / "evil.pt")
    import subprocess

    r = subprocess.run([sys.executable, "-m", "lstmcount", "params", str(tmp_path / "evil.pt")], capture_output=True,
                       text=True, timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 2 and not marker.exists(), r.stderr
    assert "it pickles 'posix.system'" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
