"""PyTorch checkpoints -> a layout: state_dicts as they come, and checkpoint dicts holding them.

Loaded with `torch.load(weights_only=True)` (a zip file memory-mapped: its storages stay on disk): no
code from the file runs; torch is imported only here, when such a file is read. Before torch reads it,
`_inspect` bounds what it would read: the zip's records (how many, stored as torch.save stores them,
within the file), the pickle's size, and what the pickle declares, read with every global a stub (its
tensors, its values, each storage's bytes against the bytes the file has for it).

A file is a state_dict, or a dict of entries among which state_dicts (one model or several:
`{"encoder": ..., "decoder": ..., "optimizer": ...}`); every state_dict in it is a model, under its
entry's key, and every other entry (optimizer state, epoch, hyperparameters) is named and left out of
the count.

A module is recognised when the PyTorch table, given arguments read off its tensors' shapes, lays out
exactly the tensors it holds; where several classes fit (a lone 2-D weight is an Embedding, a bias-free
Linear or a bias-free LayerNorm) every one of them is named. Parametrized weights are the module's own:
WeightDrop's `weight_hh_l0_raw`, `parametrizations.weight_hh_l0.original0/1` (weight_norm) and the old
`weight_hh_l0_g`/`_v` stand for the weight they make, and a parametrization's other tensors are listed
beside the module's (extras). Tensors that share storage (tied weights) are one tensor, counted once.

Live modules (`torch_module.py`) go through the same grouping and layout, knowing their classes.
"""

from __future__ import annotations

import io
import os
import pickle
import re
import zipfile
from collections.abc import Collection
from typing import Any, NamedTuple

from ..accounting import DTYPE_BYTES
from ..conventions import PYTORCH
from ..conventions.flags import RECURRENT
from ..errors import FrameworkMissing, Loc, SpecError, UsageError, problem, show
from ..layout import ALTERNATIVE, EXTRA, PLAIN, ROOT, LayerLayout, ModelLayout, Weight, tensor_key
from ..model import MAX_DEPTH_LAYERS, MAX_LAYERS, MAX_NESTING, LayerFlags, LayerSpec, kind_of, suggest

BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
RECURRENT_KEY = re.compile(r"(weight|bias)_(ih|hh|hr)_l([0-9]+)(_reverse)?")  # nn.LSTM/GRU/RNN's tensors
CELL_KEY = re.compile(r"(weight|bias)_(ih|hh)")  # nn.LSTMCell/GRUCell/RNNCell's
PARAMETRIZATIONS = "parametrizations"
OPTIMIZER_KEYS = ("state", "param_groups")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise FrameworkMissing("PyTorch", "torch") from None
    return torch


class Group(NamedTuple):
    """One module's tensors, and the classes that lay them out.

    `tensors`: by the key under the module (its `leaf`: `weight`, `parametrizations.weight.original1`).
    `kinds`: the table's classes that lay them out exactly (several when the tensors cannot tell them
    apart; none: listed as stored), `args` the first one's arguments; `names` maps a table weight to
    the leaf that holds it where they differ (`weight_hh_l0` -> `weight_hh_l0_raw`), `how` says why
    (raw, weight_norm, old_weight_norm, parametrized); `extras` are a parametrization's own tensors.
    `trainable` by leaf where it is known (live modules); `cls` a live module's class name.
    """

    name: str
    tensors: dict[str, Any]
    kinds: tuple[str, ...] = ()
    args: dict[str, Any] = {}
    names: dict[str, str] = {}
    how: dict[str, str] = {}
    extras: tuple[str, ...] = ()
    trainable: dict[str, bool] | None = None
    cls: str | None = None

    @property
    def type(self) -> str:
        return label(self.kinds) if self.kinds else self.cls or "tensors"


class Checkpoint(NamedTuple):
    """What a file (or a live module) holds: its modules, which tensors are tied, and what was left out."""

    source: str
    groups: tuple[Group, ...]
    tied: dict[str, str]  # full key -> the full key it is the same tensor as (counted there)
    notes: tuple[str, ...] = ()


# --- reading a file -----------------------------------------------------------------------------


def read_checkpoint(path: str, key: str | None = None) -> Checkpoint:
    """Every model a PyTorch file holds (or the entry `key` names: `a.b` for a nested one)."""
    data = _load(path)
    if key is not None:
        data, where = _pick(data, key, path)
    else:
        where = ""
    models, notes = _models(data, path, where)
    return checkpoint(path, models, notes)


def _load(path: str) -> Any:
    loc = Loc(path)
    if os.path.isdir(path):
        raise SpecError([problem(loc, None, "is a directory, not a PyTorch checkpoint")])
    try:
        mmap = _inspect(path)  # a zip file is mapped, not read: its storages stay on disk until used
    except FileNotFoundError:
        raise SpecError([problem(loc, None, "no such file")]) from None
    except OSError as exc:
        raise SpecError([problem(loc, None, f"cannot be read ({exc.strerror or exc})")]) from None
    torch = _torch()
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # an unpickling refusal, a corrupt zip, not a torch file at all
        raise _unreadable(path, _torch_says(exc)) from None


def _torch_says(exc: Exception) -> str:
    """torch.load's refusal in a user's terms (its own messages run to many lines of advice)."""
    text = str(exc)
    found = re.search(r"GLOBAL ([\w.]+)", text)  # "Unsupported global: GLOBAL x", "unsupported GLOBAL x whose..."
    if found:
        return (f"it pickles {show(found.group(1))}, a Python object torch.load(weights_only=True) does not build; "
                "lstmcount runs no code from a file: save the model's state_dict() instead")
    if "central directory" in text or "failed reading zip archive" in text:
        return "truncated or damaged zip archive"
    advice = ("Weights only load failed", "Check the documentation", "Please file an issue", "In PyTorch 2.6")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith(advice)]
    said = lines[0] if lines else type(exc).__name__
    if said.startswith("Unsupported operand"):
        said = f"its pickle uses an operation ({said.lower()}) torch.load(weights_only=True) does not run"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in said[:200])


# --- before torch reads a file: its size, its records and what its pickle declares ----------------

MAX_PICKLE = 32 * 1024 * 1024  # a checkpoint's pickle holds only its structure (100,000 tensors: about 10 MiB)
MAX_TENSORS = 100_000  # tensors in one file (a 70B-parameter LLM holds about 1,000)
MAX_RECORDS = MAX_TENSORS + 16  # zip members: a storage each, and a few of torch's own
MAX_OBJECTS = 2_000_000  # values in a pickle's structure (torch's weights_only reader walks each in Python)
MAX_LEGACY = 2 * 1024 * 1024 * 1024  # a legacy (pre-1.6) file is read whole into memory
ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
ITEM_BYTES = {"Double": 8, "Float": 4, "Half": 2, "BFloat16": 2, "Long": 8, "Int": 4, "Short": 2, "Char": 1,
              "Byte": 1, "Bool": 1, "ComplexDouble": 16, "ComplexFloat": 8, "UInt16": 2, "UInt32": 4, "UInt64": 8}


def _unreadable(path: str, why: str) -> SpecError:
    return SpecError([problem(Loc(path), None, f"not a readable PyTorch checkpoint ({why})")])


def _limit(path: str, text: str) -> SpecError:
    return SpecError([problem(Loc(path), None, text)])


def _inspect(path: str) -> bool:
    """Refuse, before torch reads it, a file whose records or pickle are more than a checkpoint holds:
    a pickle over MAX_PICKLE, more than MAX_TENSORS tensors, storages larger than the bytes the file
    has for them, compressed or encrypted zip members (torch.save writes none). True for a zip file."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(len(ZIP_MAGIC))
        if head == ZIP_MAGIC:
            _inspect_zip(path, size)
            return True
        if size > MAX_LEGACY:
            raise _limit(path, f"a legacy (pre-1.6, not zip) PyTorch file of {size:,} bytes, over the "
                               f"{MAX_LEGACY >> 30} GiB lstmcount reads (torch reads it whole); re-save it with "
                               "torch.save, which writes a zip archive")
        fh.seek(0)
        _inspect_legacy(path, fh, size)
    return False


def _inspect_zip(path: str, size: int) -> None:
    from .archive import open_archive, read_member

    try:
        with open_archive(path, Loc(path), MAX_RECORDS) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_RECORDS:
                raise _limit(path, f"a zip archive of {len(infos):,} records; a PyTorch checkpoint of at most "
                                   f"{MAX_TENSORS:,} tensors has at most {MAX_RECORDS:,}")
            for info in infos:
                if info.flag_bits & 0x1:
                    raise _unreadable(path, f"record {show(info.filename)} is encrypted")
                if info.compress_type != zipfile.ZIP_STORED:
                    raise _unreadable(path, f"record {show(info.filename)} is compressed; torch.save "
                                            "stores every record as it is")
                if info.header_offset + info.file_size > size:
                    raise _unreadable(path, f"record {show(info.filename)} declares {info.file_size:,} bytes, "
                                            f"more than the file's {size:,} (a truncated or forged archive)")
            pickles = [i for i in infos if i.filename == "data.pkl" or i.filename.endswith("/data.pkl")]
            if not pickles:
                raise _unreadable(path, "a zip archive without the data.pkl torch.save writes")
            pkl = pickles[0]
            if pkl.file_size > MAX_PICKLE:
                raise _limit(path, f"its pickle (data.pkl) declares {pkl.file_size:,} bytes, over the "
                                   f"{MAX_PICKLE >> 20} MiB limit (a checkpoint's pickle holds only names and "
                                   "shapes)")
            records = {i.filename: i.file_size for i in infos}
            base = pkl.filename[:-len("data.pkl")]
            data = read_member(archive, pkl.filename, MAX_PICKLE, Loc(path))
            storages = _scan(path, io.BytesIO(data or b""), 1)
    except zipfile.BadZipFile as exc:
        raise _unreadable(path, f"truncated or damaged zip archive: {exc}") from None
    except (OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise _unreadable(path, f"damaged zip archive: {exc}") from None
    for key, nbytes in storages.items():
        stored = records.get(f"{base}data/{key}")
        if stored is None:
            raise _unreadable(path, f"its pickle names a storage {show(key)} the archive does not hold")
        if nbytes > stored:
            raise _unreadable(path, f"storage {show(key)} declares {nbytes:,} bytes; the archive stores "
                                    f"{stored:,}")


def _inspect_legacy(path: str, fh: Any, size: int) -> None:
    storages = _scan(path, fh, 5)
    total = sum(storages.values())
    if total > size:
        raise _unreadable(path, f"its storages declare {total:,} bytes; the file has {size:,}")


class _Bounded(io.RawIOBase):
    """A file read at most MAX_PICKLE bytes far (the pickles of a legacy file have no declared size)."""

    def __init__(self, fh: Any, path: str) -> None:
        self.fh, self.path, self.done = fh, path, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.done >= MAX_PICKLE:
            raise _limit(self.path, f"its pickle is over {MAX_PICKLE >> 20} MiB, the limit (a checkpoint's "
                                    "pickle holds only names and shapes)")
        n = self.fh.readinto(memoryview(buffer)[:MAX_PICKLE - self.done + 1])
        self.done += n
        return int(n)


class _Stub:
    """Whatever a pickle names, when lstmcount counts what it declares: built and filled, never run."""

    args: tuple[Any, ...] = ()  # NEWOBJ makes one without calling __init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        pass


class _Dict(dict):  # type: ignore[type-arg]  # an OrderedDict (a state_dict, with its _metadata)
    pass


class _StorageType(NamedTuple):
    name: str


class _Tensor(NamedTuple):
    pass


def _scan(path: str, fh: Any, pickles: int) -> dict[str, int]:
    """Read the file's pickles (1 in a zip's data.pkl; a legacy file's magic number, protocol, system
    information, structure and storage keys) with every global a stub, counting its tensors and values:
    the bytes each storage declares, by key. Refuses more than MAX_TENSORS tensors or MAX_OBJECTS values."""
    storages: dict[str, int] = {}
    tensors = 0

    def rebuild(*args: Any, **kwargs: Any) -> _Tensor:
        nonlocal tensors
        if not any(isinstance(a, _Tensor) or isinstance(a, tuple) and any(isinstance(b, _Tensor) for b in a)
                   for a in args):  # a Parameter (or a subclass) rebuilds a tensor already counted
            tensors += 1
        if tensors > MAX_TENSORS:
            raise _limit(path, f"holds more than {MAX_TENSORS:,} tensors, the limit")
        return _Tensor()

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module in ("torch._utils", "torch._tensor") and name.startswith("_rebuild_"):
                return rebuild
            if module == "collections" and name == "OrderedDict":
                return _Dict
            if module == "torch" and name.endswith("Storage"):
                return _StorageType(name.removesuffix("Storage"))
            return _Stub

        def persistent_load(self, pid: Any) -> Any:
            if isinstance(pid, tuple) and len(pid) >= 2 and pid[0] == "module":  # a legacy file's class
                return _Stub
            if isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage":
                kind, key, numel = pid[1], str(pid[2]), pid[4]
                item = ITEM_BYTES.get(kind.name, 1) if isinstance(kind, _StorageType) else 1
                if isinstance(numel, int) and numel >= 0:
                    storages[key] = max(storages.get(key, 0), numel * item)
            return _Stub()

    reader = Unpickler(io.BufferedReader(_Bounded(fh, path)) if pickles > 1 else fh)
    values: list[Any] = []
    try:
        while len(values) < pickles:
            values.append(reader.load())
            if pickles > 1 and values[0] != LEGACY_MAGIC:
                raise _unreadable(path, "neither a zip archive nor a legacy torch pickle")
    except SpecError:
        raise
    except MemoryError:
        raise _limit(path, "its pickle builds more values than fit in memory") from None
    except Exception as exc:  # the C unpickler's refusal of a damaged pickle
        if pickles > 1 and not values:
            raise _unreadable(path, "neither a zip archive nor a legacy torch pickle") from None
        raise _unreadable(path, f"a damaged pickle: {str(exc)[:200] or type(exc).__name__}") from None
    seen: set[int] = set()
    stack: list[Any] = [values]
    count = 0
    while stack:  # every reference counts (torch's reader takes a step for each), a container opens once
        value = stack.pop()
        count += 1
        if count > MAX_OBJECTS:
            raise _limit(path, f"its pickle holds more than {MAX_OBJECTS:,} values, the limit")
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, dict):
            stack += value.values()
            stack += value.keys()
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack += value
        elif isinstance(value, _Stub):
            stack += value.args
    return storages


def _is_tensor(value: Any) -> bool:
    return isinstance(value, _torch().Tensor)


def _state_dict(value: Any, top: bool = False) -> dict[str, Any] | None:
    """The tensors of a mapping that is (or holds) a state_dict: string keys to tensors, at least one
    with an axis (a checkpoint's scalars, such as a callback's best scores, are not a model); the
    file's own mapping is one also when it holds nothing but scalar tensors (a model's learned scalars)."""
    if not isinstance(value, dict):
        return None
    tensors = {k: v for k, v in value.items() if isinstance(k, str) and _is_tensor(v)}
    if tensors and (any(t.dim() > 0 for t in tensors.values()) or (top and len(tensors) == len(value))):
        return tensors
    return None


def _optimizer(value: Any) -> bool:
    return isinstance(value, dict) and all(k in value for k in OPTIMIZER_KEYS)


def _pick(data: Any, key: str, path: str) -> tuple[Any, str]:
    """The entry `key` names (`a.b`: b inside a; within a state_dict, the module a.b's tensors)."""
    rest, here, taken = key, data, ""
    while rest:
        if not isinstance(here, dict):
            raise UsageError(f"{path}: --key {key!r}: {taken!r} is {_what(here)}, which holds no entries")
        found = next((k for k in sorted((k for k in here if isinstance(k, str)), key=len, reverse=True)
                      if rest == k or rest.startswith(k + ".")), None)
        sd = _state_dict(here)
        if found is None and sd is not None:  # a module inside a state_dict: its tensors, under their own keys
            sub = {k[len(rest) + 1:]: v for k, v in sd.items() if k.startswith(rest + ".")}
            if sub:
                return sub, key
        if found is None:
            names = [str(k) for k in here]
            modules = sorted({k.rpartition(".")[0] for k in sd or () if "." in k})
            raise UsageError(f"{path}: --key {key!r}: no entry {rest!r}{' in ' + repr(taken) if taken else ''} "
                             f"(the entries: {_names(names)}){suggest(rest, names + modules)}")
        here = here[found]
        taken = f"{taken}.{found}" if taken else found
        rest = rest[len(found) + 1:]
    if _optimizer(here):
        raise UsageError(f"{path}: --key {key!r} is optimizer state (state, param_groups), not a model")
    if not isinstance(here, dict):
        raise UsageError(f"{path}: --key {key!r} is {_what(here)}, not a model's state_dict")
    return here, key


def _text(name: str) -> str:
    """A name as text every output can hold: a lone surrogate (a pickle keeps one) as its \\u escape."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name


def _names(names: list[str], most: int = 8) -> str:
    shown = ", ".join(show(n) for n in names[:most])
    return shown + (f" and {len(names) - most:,} more" if len(names) > most else "")


def _what(value: Any) -> str:
    if _is_tensor(value):
        return f"a tensor of shape {list(value.shape)}"
    if _optimizer(value):
        return "optimizer state"
    return kind_of(value)


def _models(data: Any, path: str, where: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """(entry key, state_dict) of every model in the file, and a note on the entries left out."""
    loc = Loc(path)
    if not isinstance(data, dict):
        raise SpecError([problem(loc, None, f"holds {_what(data)}, not a state_dict or a checkpoint dict")])
    models: list[tuple[str, dict[str, Any]]] = []
    left: list[str] = []

    def visit(value: dict[Any, Any], key: str, depth: int) -> None:
        sd = _state_dict(value, depth == 0)
        if sd is not None:
            models.append((key, sd))
        for k, v in value.items():
            name = f"{key}.{k}" if key else str(k)
            if sd is not None and k in sd:
                continue
            if _optimizer(v):
                left.append(f"{show(name)} (optimizer state)")
            elif isinstance(v, dict) and v and depth < MAX_NESTING:
                visit(v, name, depth + 1)
            elif sd is None or not str(k).endswith("_extra_state"):
                left.append(show(name))

    if not data:  # a model without parameters or buffers saves an empty state_dict
        return [(where, {})], ["holds an empty state_dict: a model without parameters or buffers"]
    visit(data, where, 0)
    if not models:
        raise SpecError([problem(loc, None, "holds no state_dict (no mapping of names to tensors)"
                                 + (f"; its entries: {', '.join(left[:8])}" if left else ""))])
    notes = []
    escaped = [key for _, sd in models for key in sd if _text(key) != key]
    if escaped or any(_text(entry) != entry for entry, _ in models):
        models = [(_text(entry), {_text(k): v for k, v in sd.items()}) for entry, sd in models]
        notes.append("names that are not Unicode text (lone surrogates) are shown with \\u escapes"
                     + (f": {', '.join(_text(k)[:80] for k in escaped[:8])}" if escaped else "")
                     + (f" and {len(escaped) - 8:,} more" if len(escaped) > 8 else ""))
    if len(models) > 1:
        notes.append(f"holds {len(models)} models, each counted under its key: "
                     f"{', '.join(show(k) for k, _ in models[:8])}{' ...' if len(models) > 8 else ''}; "
                     "--key NAME counts one")
    elif models[0][0] and not where:
        notes.append(f"the model is the state_dict under {show(models[0][0])}")
    if left:
        notes.append(f"left out of the count (not a model's tensors): {', '.join(left[:8])}"
                     + (f" and {len(left) - 8:,} more" if len(left) > 8 else ""))
    return models, notes


# --- from tensors to modules ----------------------------------------------------------------------


def checkpoint(source: str, models: list[tuple[str, dict[str, Any]]], notes: list[str],
               classes: Any = None, same: Any = None) -> Checkpoint:
    """The modules of these state_dicts (by entry key), their tied tensors, and the notes.

    For a live module: `classes(prefix, leaves)` gives the (class, arguments) candidates of the module
    at a prefix (its exact class), in place of reading them off the shapes, and `same(tensor)` what
    two names of one tensor share (the object itself) in place of its storage (`identity`).
    """
    same = same or identity
    several = len(models) > 1
    groups: list[Group] = []
    seen: dict[tuple[Any, ...], str] = {}
    tied: dict[str, str] = {}
    for entry, sd in models:
        for prefix, leaves in group_tensors(sd):
            name = ".".join(p for p in (entry if several else "", prefix) if p) or ROOT
            if classes is None:
                check_recurrent(source, name, leaves)
            found = classes(prefix, leaves) if classes is not None else None
            groups.append(fit(name, leaves, found))
            for leaf, tensor in leaves.items():
                full = tensor_key(name, leaf)
                ident = same(tensor)
                if ident is not None and ident in seen:
                    tied[full] = seen[ident]
                elif ident is not None:
                    seen[ident] = full
        if len(groups) > MAX_LAYERS:
            raise SpecError([problem(Loc(source), None, f"holds more than {MAX_LAYERS:,} modules, the limit")])
    for group in groups:
        for leaf, tensor in group.tensors.items():
            dtype = dtype_name(tensor)
            if dtype not in DTYPE_BYTES:
                raise SpecError([problem(Loc(source), None, f"tensor {show(tensor_key(group.name, leaf))} is "
                                                            f"stored as {dtype}, which lstmcount does not size")])
    return Checkpoint(source, tuple(groups), tied, tuple(notes))


GATES = {"LSTM": "4*hidden", "GRU": "3*hidden", "RNN": "hidden"}


def check_recurrent(source: str, name: str, tensors: dict[str, Any]) -> None:
    """Refuse a file's tensor named as an LSTM/GRU/RNN (or cell) tensor whose rank is not that tensor's,
    or that names a layer beyond MAX_DEPTH_LAYERS: no module holds it, and no table could lay it out.
    A name that only resembles one (`weight_ih_l0x`, `weight_hh_l0_reverse_reverse`) is another tensor."""
    leaves = {leaf: tuple(int(d) for d in t.shape) for leaf, t in tensors.items()}
    read = canonical(leaves)
    if read is None:
        return
    shapes, names = read[0], read[1]
    hh = next((s for w, s in shapes.items() if w.startswith("weight_hh") and len(s) == 2 and s[1]), None)
    ratio = hh[0] // hh[1] if hh and hh[0] % hh[1] == 0 else 0
    for weight, shape in shapes.items():
        stack, cell = RECURRENT_KEY.fullmatch(weight), CELL_KEY.fullmatch(weight)
        if stack is None and cell is None:
            continue
        key = tensor_key(name, names.get(weight, weight))
        if stack is not None and (len(stack.group(3)) > 5 or int(stack.group(3)) >= MAX_DEPTH_LAYERS):
            digits = stack.group(3)
            number = f"{int(digits):,}" if len(digits) <= 40 else f"number of {len(digits):,} digits"
            raise SpecError([problem(Loc(source), None, f"tensor {show(key)} names layer {number} of a stacked "
                                                        f"recurrent module; one has at most {MAX_DEPTH_LAYERS:,}")])
        kind, what = (stack or cell).group(1, 2)  # type: ignore[union-attr]
        rank = 2 if kind == "weight" else 1
        if len(shape) == rank:
            continue
        cls = {4: "LSTM", 3: "GRU", 1: "RNN"}.get(ratio)
        gates = GATES.get(cls or "", "gates*hidden")
        expected = {"ih": f"({gates}, input)", "hh": f"({gates}, hidden)", "hr": "(proj, hidden)"}[what]
        if kind == "bias":
            expected = f"({gates},)"
        cell_ = "Cell" if cell is not None else ""
        module = f"an {cls}{cell_}" if cls else f"an LSTM{cell_}, GRU{cell_} or RNN{cell_}"
        raise SpecError([problem(Loc(source), None, f"tensor {show(key)} has shape {tuple(shape)}; the "
                                                    f"{weight} of {module} is {rank}-D {expected}")])


def identity(tensor: Any) -> tuple[Any, ...] | None:
    """What two names of one tensor share (torch.save keeps a tied tensor's storage once): its storage,
    offset, shape, strides and dtype. Views of one storage that differ (a flattened cuDNN LSTM's
    weights) are different tensors. None for an empty tensor, which has no storage to share."""
    if tensor.numel() == 0:
        return None
    return (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
            tuple(tensor.stride()), str(tensor.dtype))


def dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def group_tensors(sd: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A state_dict's tensors by the module that owns them, in file order: (module path, {leaf: tensor}).

    A key's module is its path before the last dot, but a parametrization's tensors
    (`lstm.parametrizations.weight_hh_l0.original0`) are their module's (`lstm`); a wrapper that holds
    only `*_raw` weights (fastai's WeightDropout) and the module it wraps (`.module`) are one module.
    """
    groups: dict[str, dict[str, Any]] = {}
    for key, tensor in sd.items():
        parts = key.split(".")
        cut = parts.index(PARAMETRIZATIONS) if PARAMETRIZATIONS in parts[:-2] else len(parts) - 1
        groups.setdefault(".".join(parts[:cut]), {})[".".join(parts[cut:])] = tensor
    for prefix in list(groups):
        inner = f"{prefix}.module" if prefix else "module"
        leaves = groups.get(prefix)
        if leaves and inner in groups and all(leaf.endswith("_raw") for leaf in leaves):
            leaves.update({f"module.{leaf}": t for leaf, t in groups.pop(inner).items()})
    return list(groups.items())


def canonical(leaves: dict[str, tuple[int, ...]]
              ) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict[str, str], tuple[str, ...]] | None:
    """The tensors a module's class would hold, from what it stores: (shapes by weight name, weight
    name -> leaf where they differ, weight name -> how it is parametrized, the extra leaves). None when
    the stored names cannot be read so (an unknown parametrization)."""
    shapes: dict[str, tuple[int, ...]] = {}
    names: dict[str, str] = {}
    how: dict[str, str] = {}
    extras: list[str] = []
    params: dict[str, dict[str, tuple[int, ...]]] = {}
    for leaf, shape in leaves.items():
        if leaf.startswith(PARAMETRIZATIONS + "."):
            _, weight, rest = leaf.split(".", 2)
            params.setdefault(weight, {})[rest] = shape
        else:
            shapes[leaf.removeprefix("module.")] = shape
            if leaf.startswith("module."):
                names[leaf.removeprefix("module.")] = leaf
    for weight, parts in params.items():
        originals = sorted(p for p in parts if p.startswith("original"))
        if originals == ["original"]:
            chosen, kind = "original", "parametrized"
        elif originals == ["original0", "original1"]:  # weight_norm: (g, v); v has the weight's shape
            chosen, kind = "original1", "weight_norm"
        else:
            return None
        shapes[weight], names[weight], how[weight] = parts[chosen], f"{PARAMETRIZATIONS}.{weight}.{chosen}", kind
        extras += [f"{PARAMETRIZATIONS}.{weight}.{p}" for p in parts if p != chosen]
    for weight in [w for w in shapes if w.endswith("_v") and w[:-2] + "_g" in shapes and w[:-2] not in shapes]:
        base = weight[:-2]  # the old torch.nn.utils.weight_norm: weight_g and weight_v for weight
        shapes[base] = shapes.pop(weight)
        names[base], how[base] = names.pop(weight, weight), "old_weight_norm"
        shapes.pop(base + "_g")
        extras.append(names.pop(base + "_g", base + "_g"))
    for weight in [w for w in shapes if w.endswith("_raw")]:
        base = weight[:-4]  # WeightDrop keeps the weight as <name>_raw and drops out of it at each call
        if base in shapes:
            shapes.pop(weight)
            extras.append(names.pop(weight, weight))
        else:
            shapes[base] = shapes.pop(weight)
            names[base], how[base] = names.pop(weight, weight), "raw"
    return shapes, names, how, tuple(extras)


def fit(name: str, tensors: dict[str, Any], candidates: list[tuple[str, dict[str, Any]]] | None = None) -> Group:
    """The group of these tensors, with every candidate class whose table lays them out exactly
    (candidates read off the shapes when none are given)."""
    leaves = {leaf: tuple(int(d) for d in t.shape) for leaf, t in tensors.items()}
    read = canonical(leaves)
    if read is None:
        return Group(name, tensors)
    shapes, names, how, extras = read
    kinds: list[str] = []
    args: dict[str, Any] = {}
    for kind, arguments in (candidates if candidates is not None else _candidates(shapes)):
        built = _build(kind, arguments)
        if built is not None and {w.name: w.shape for w in built.weights} == shapes and kind not in kinds:
            kinds.append(kind)
            args = args or arguments
    if not kinds:
        return Group(name, tensors)
    return Group(name, tensors, tuple(kinds), args, names, how, extras)


def _candidates(s: dict[str, tuple[int, ...]]) -> list[tuple[str, dict[str, Any]]]:
    """Every (class, arguments) these shapes could be; the table then checks each one exactly."""
    def rank(key: str, n: int | None = None) -> bool:
        return key in s and (len(s[key]) == n if n is not None else len(s[key]) > 0)

    out: list[tuple[str, dict[str, Any]]] = []
    if rank("weight_ih_l0", 2) and rank("weight_hh_l0", 2):
        rows, inputs = s["weight_ih_l0"]
        proj = s["weight_hr_l0"] if rank("weight_hr_l0", 2) else None
        hidden = proj[1] if proj else s["weight_hh_l0"][1]
        kind = {4: "LSTM", 3: "GRU", 1: "RNN"}.get(rows // hidden if hidden and rows % hidden == 0 else 0)
        depths = [int(m.group(3)) for m in map(RECURRENT_KEY.fullmatch, s)
                  if m and m.group(1, 2) == ("weight", "ih") and len(m.group(3)) <= 5]
        if kind is not None and depths:
            args: dict[str, Any] = {"input_size": inputs, "hidden_size": hidden, "num_layers": 1 + max(depths),
                                    "bias": "bias_ih_l0" in s, "bidirectional": "weight_ih_l0_reverse" in s}
            if proj:
                args["proj_size"] = proj[0]
            out.append((kind, args))
        return out
    if rank("weight_ih", 2) and rank("weight_hh", 2):
        (rows, inputs), hidden = s["weight_ih"], s["weight_hh"][1]
        kind = {4: "LSTMCell", 3: "GRUCell", 1: "RNNCell"}.get(rows // hidden if hidden and rows % hidden == 0 else 0)
        return [(kind, {"input_size": inputs, "hidden_size": hidden, "bias": "bias_ih" in s})] if kind else []
    weight, bias = s.get("weight"), s.get("bias")
    has_bias = bias is not None
    if all(k in s for k in BUFFERS) and len(s["running_mean"]) == 1:
        n = s["running_mean"][0]
        return [(f"BatchNorm{r}d", {"num_features": n, "affine": weight is not None, "bias": has_bias})
                for r in (1, 2, 3)]
    if weight is None or not weight:
        return out
    if len(weight) == 2 and not has_bias:
        out += [("Embedding", {"num_embeddings": weight[0], "embedding_dim": weight[1]}),
                ("Linear", {"in_features": weight[1], "out_features": weight[0], "bias": False})]
    if len(weight) == 2 and bias == weight[:1]:
        out.append(("Linear", {"in_features": weight[1], "out_features": weight[0]}))
    if 3 <= len(weight) <= 5 and (bias is None or len(bias) == 1):
        r, (a, b), kernel = len(weight) - 2, weight[:2], list(weight[2:])
        if bias is None or bias[0] == a:  # Conv: (out, in / groups, k...); any groups, one count: groups 1
            out.append((f"Conv{r}d", {"in_channels": b, "out_channels": a, "kernel_size": kernel, "bias": has_bias}))
        groups = bias[0] // b if bias is not None and b and bias[0] and bias[0] % b == 0 else 1
        if a % groups == 0:  # ConvTranspose: (in, out / groups, k...); bias (out,)
            out.append((f"ConvTranspose{r}d", {"in_channels": a, "out_channels": b * groups, "kernel_size": kernel,
                                               "groups": groups, "bias": has_bias}))
    if bias is None or bias == weight:
        out.append(("LayerNorm", {"normalized_shape": list(weight), "bias": has_bias}))
    if len(weight) == 1 and (bias is None or bias == weight):
        n = weight[0]
        out += [("GroupNorm", {"num_groups": 1, "num_channels": n, "bias": has_bias}),
                *((f"BatchNorm{r}d", {"num_features": n, "bias": has_bias, "track_running_stats": False})
                  for r in (1, 2, 3))]
        if not has_bias:
            out.append(("PReLU", {"num_parameters": n}))
    return out


def label(kinds: tuple[str, ...]) -> str:
    """The classes that fit, as one type: `Embedding or Linear`, `BatchNorm1d/2d/3d`."""
    out: list[str] = []
    for kind in kinds:
        base = kind[:-2] if kind[-2:] in ("1d", "2d", "3d") else None
        if base and out and out[-1].startswith(base) and out[-1][len(base):len(base) + 1].isdigit():
            out[-1] += "/" + kind[-2:]
        else:
            out.append(kind)
    return ALTERNATIVE.join(out)


# --- the layout -----------------------------------------------------------------------------------


def checkpoint_layout(ck: Checkpoint, name: str | None = None) -> ModelLayout:
    """The layout: recognised modules as the PyTorch table describes them (per gate), under the names
    the file gives their tensors; parametrizations' own tensors as extras; any other module's tensors
    listed as stored; tied tensors counted once; each at the dtype it is stored in."""
    return ModelLayout("pytorch", name or ck.source, None, tuple(group_layout(g, ck.tied) for g in ck.groups),
                       notes=ck.notes + _parametrized_note(ck))


def group_layout(g: Group, tied: dict[str, str]) -> LayerLayout:
    def stored(w: Weight, leaf: str) -> Weight:
        tensor = g.tensors[leaf]
        trainable = w.trainable if g.trainable is None else g.trainable[leaf]
        return w._replace(name=leaf, trainable=trainable, tied=tied.get(tensor_key(g.name, leaf)),
                          dtype=dtype_name(tensor))

    if not g.kinds:
        return LayerLayout(g.name, g.type, tuple(
            stored(Weight(leaf, tuple(int(d) for d in t.shape), trainable=stored_trainable(leaf)), leaf)
            for leaf, t in g.tensors.items()))
    built = _build(g.kinds[0], g.args)
    assert built is not None  # `fit` built it from these arguments
    weights = [stored(w, g.names.get(w.name, w.name)) for w in built.weights]
    role = EXTRA if built.recurrent else PLAIN
    weights += [stored(Weight(leaf, tuple(int(d) for d in g.tensors[leaf].shape), role,
                              trainable=stored_trainable(leaf)), leaf) for leaf in g.extras]
    return built._replace(name=g.name, type=g.type, weights=tuple(weights))


_BUILT: dict[Any, LayerLayout | None] = {}


def _build(kind: str, args: dict[str, Any]) -> LayerLayout | None:
    """The table's layout of a module (None: the table refuses these arguments). Remembered by class and
    arguments: a large model repeats a few modules many times."""
    key = (kind, *((k, tuple(v) if isinstance(v, list) else v, type(v)) for k, v in args.items()))
    try:
        return _BUILT[key]
    except KeyError:
        pass
    except TypeError:  # an argument that is no plain value: built afresh
        return PYTORCH.build_layer(LayerSpec(kind, args, 1), None, "", [])[0]
    if len(_BUILT) > 4096:
        _BUILT.clear()
    built = _BUILT[key] = PYTORCH.build_layer(LayerSpec(kind, args, 1), None, "", [])[0]
    return built


def stored_trainable(leaf: str) -> bool:
    """Whether a stored tensor is trained, as far as its name says: running statistics and a
    parametrization's own state (spectral_norm's _u and _v, orthogonal's base) are buffers."""
    parts = leaf.split(".")
    return parts[-1] not in BUFFERS and not (parts[0] == PARAMETRIZATIONS and len(parts) > 3 and parts[2].isdigit())


HOW = {"raw": "WeightDrop's _raw weight", "weight_norm": "weight_norm", "old_weight_norm": "weight_norm's _g and _v",
       "parametrized": "a parametrization's original"}


def _parametrized_note(ck: Checkpoint) -> tuple[str, ...]:
    found = [f"{tensor_key(g.name, weight)} ({HOW[how]})" for g in ck.groups for weight, how in g.how.items()]
    if not found:
        return ()
    return (f"weights held through a parametrization are counted as stored, laid out as the weight they make: "
            f"{', '.join(found[:6])}{' ...' if len(found) > 6 else ''}",)


def checkpoint_flags(ck: Checkpoint) -> dict[str, LayerFlags]:
    """The `params` flags of each recognised LSTM/GRU/RNN (or cell) module, by module name."""
    out = {}
    for g in ck.groups:
        kind = RECURRENT.get(g.kinds[0].removesuffix("Cell")) if len(g.kinds) == 1 else None
        if kind is None:
            continue
        a = g.args
        out[g.name] = LayerFlags(kind, "pytorch", a["hidden_size"], a["input_size"], bool(a.get("bidirectional")),
                                 a.get("num_layers", 1), a["bias"], None, a.get("proj_size") or None)
    return out


def checkpoint_arrays(ck: Checkpoint, names: Collection[str] | None = None) -> dict[str, Any]:
    """Every tensor (or those `names` names) as a NumPy array, by its full key (`layer.leaf`): a view of
    the file's mapped storage where it can be, bfloat16 (which NumPy has not) as float32, exactly."""
    torch = _torch()
    out = {}
    for g in ck.groups:
        for leaf, tensor in g.tensors.items():
            if names is not None and tensor_key(g.name, leaf) not in names:
                continue
            t = tensor.detach().cpu()
            out[tensor_key(g.name, leaf)] = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
    return out

