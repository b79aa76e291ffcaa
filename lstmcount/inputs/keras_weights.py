"""The weights a Keras file stores, read as names, shapes and dtypes (h5py's Dataset.shape and .dtype,
never an array): a custom layer's in a model file, and every layer's in a weights-only file.

Where Keras keeps them (keras/src/saving/saving_lib.py, tf_keras/src/saving/legacy/hdf5_format.py):

- a `.keras` archive's `model.weights.h5` member, and `model.save_weights("w.weights.h5")`: a layer's
  variables under `layers/<name>/vars/0, 1, ...` (a nested object's under `layers/<name>/<attr>/vars/`),
  each layer's `<name>` its class name in snake case, numbered in its model's layer order where it repeats
  (`dense`, `dense_1`; `_save_container_state`). Variable names are not stored, only their order, which
  is `trainable_variables + non_trainable_variables`: which are trainable is not stored.
- a legacy `.h5` model file's `model_weights` group, and tf_keras `save_weights("w.h5")` (the root): a
  group per layer name (the `layer_names` attribute), whose `weight_names` attribute lists its weights in
  `layer.weights` order (trainable first), each stored at `<group>/<weight name>` (`dense/kernel:0`).

h5py is imported here, when a file's weights are needed; a `.keras` archive's member is read in place
(Keras stores it uncompressed), through a view of the archive's bytes, never extracted.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from typing import Any, NamedTuple

from ..errors import FrameworkMissing, Loc, SpecError, problem, show
from ..layout import LayerLayout, ModelLayout, Weight
from .archive import data_offset, open_archive, read_member
from .files import in_child

WEIGHTS_MEMBER = "model.weights.h5"
MAX_NODES = 100_000  # groups and datasets visited in one file
# A compressed model.weights.h5 (Keras stores it uncompressed) is inflated into memory (archive.read_member,
# bounded whatever its header declares): only up to this size.
MAX_COMPRESSED = 64 * 1024 * 1024
UNKNOWN_TRAINABLE = ("the file does not say which weights of the layers counted from it are trainable (Keras "
                     "stores them in order, trainable ones first): they are counted as trainable")


class Stored(NamedTuple):
    """One stored weight: its name within its layer, its shape and its element type."""

    name: str
    shape: tuple[int, ...]
    dtype: str | None


HDF5_SECONDS = 5.0  # for h5py to read what lstmcount asks of a file (milliseconds; a damaged file: forever)


def bounded(loc: Loc, read: Callable[[], Any]) -> Any:
    """What `read` returns (plain JSON values), read by h5py in a forked child killed after HDF5_SECONDS:
    HDF5's C code loops forever on some damaged files (a global heap object's length), and nothing in
    the process can interrupt it. `read`'s SpecError reaches the caller as it was; what else it raises
    is one line saying h5py cannot read the file. h5py is imported before the fork (`h5py_for`)."""
    def work() -> str:
        try:
            return json.dumps({"ok": read()})
        except SpecError as exc:
            return json.dumps({"problems": exc.problems})
        except FileNotFoundError:
            return json.dumps({"problems": [problem(loc, None, "no such file")]})
        except Exception as exc:  # h5py's OSError, KeyError, RuntimeError, ValueError: HDF5 cannot read it
            text = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            return json.dumps({"problems": [problem(loc, None, f"h5py cannot open it as an HDF5 file ({text})")]})

    said = in_child(work, HDF5_SECONDS)
    if said is None:
        raise SpecError([problem(loc, None, f"h5py did not finish reading it within {HDF5_SECONDS:.0f} s and "
                                            "1 GiB: a damaged HDF5 file (its library loops or grows on it)")])
    out = json.loads(said)
    if "problems" in out:
        raise SpecError(out["problems"])
    return out["ok"]


def h5py_for(path: str, hdf5: bool = True) -> Any:
    """h5py, or exit 3 saying what needs it: `path` an HDF5 file, or (`hdf5` False) an archive holding one."""
    try:
        import h5py
    except ImportError:
        what = "an HDF5 file" if hdf5 else f"its stored weights ({WEIGHTS_MEMBER}) are HDF5"
        raise FrameworkMissing(f"{path}: {what}, but h5py", "h5") from None
    return h5py


def snake(cls: str) -> str:
    """A class name as Keras names its layer's group in a weights file (keras.src.utils.naming)."""
    name = re.sub(r"\W+", "", cls.rsplit(">", 1)[-1])
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def store_keys(classes: list[str]) -> list[str]:
    """Each layer's group name in a weights file, from its model's layer classes in order."""
    used: dict[str, int] = {}
    out = []
    for cls in classes:
        name = snake(cls)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append(name)
    return out


class _Member(io.RawIOBase):
    """A read-only view of bytes [start, start + size) of a file: an uncompressed zip member in place."""

    def __init__(self, fh: Any, start: int, size: int) -> None:
        self.fh, self.start, self.size, self.pos = fh, start, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        self.fh.seek(self.start + self.pos)
        data = self.fh.read(n)
        buffer[:len(data)] = data
        self.pos += len(data)
        return len(data)


def _dtype(ds: Any) -> str | None:
    kind, size = ds.dtype.kind, ds.dtype.itemsize
    names = {"f": f"float{size * 8}", "i": f"int{size * 8}", "u": f"uint{size * 8}", "b": "bool",
             "c": f"complex{size * 8}"}
    return names.get(kind)


def _datasets(group: Any, h5py: Any, loc: Loc, budget: list[int]) -> list[Stored]:
    """Every dataset under a group (depth first, in Keras's order: vars/0, vars/1, ...), named by its path."""
    out: list[Stored] = []

    def order(key: str) -> tuple[int, int | str]:
        return (0, int(key)) if key.isdigit() else (1, key)

    def visit(g: Any, prefix: str) -> None:
        for key in sorted(g.keys(), key=order):
            budget[0] -= 1
            if budget[0] < 0:
                raise SpecError([problem(loc, None, f"holds more than {MAX_NODES:,} weight groups and datasets")])
            item = g.get(key)
            if isinstance(item, h5py.Dataset):
                out.append(Stored(prefix + key, tuple(int(d) for d in item.shape), _dtype(item)))
            elif isinstance(item, h5py.Group):
                visit(item, f"{prefix}{key}/")

    visit(group, "")
    return out


def _names(value: Any, loc: Loc, what: str) -> list[str]:
    """An HDF5 attribute holding names (bytes or str, as h5py gives them), at most MAX_NODES of them."""
    if value is None:
        return []
    size = getattr(value, "size", None)
    if not isinstance(size, int) or size > MAX_NODES:
        raise SpecError([problem(loc, None, f"its {what} attribute is not a list of up to {MAX_NODES:,} names")])
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value.reshape(-1)]


def _short(weight: str, layer: str) -> str:
    """A legacy weight name within its layer: `kernel` for `dense/kernel:0` or `sequential/dense/kernel`."""
    parts = weight.removesuffix(":0").split("/")
    head = parts[:-1]
    if layer in head:
        parts = parts[len(head) - head[::-1].index(layer):]
    return "/".join(parts)


def _legacy(group: Any, layer: str, h5py: Any, loc: Loc, where: str, inner: str | None = None) -> list[Stored]:
    """A legacy layer group's weights, by its `weight_names` (`inner`: only a nested layer's)."""
    out = []
    for name in _names(group.attrs.get("weight_names"), loc, f"{where}: weight_names"):
        if inner is not None and inner not in name.split("/")[:-1]:
            continue
        ds = group.get(name)
        if not isinstance(ds, h5py.Dataset):
            raise SpecError([problem(loc, where, f"lists the weight {show(name)}, which the file does not hold")])
        out.append(Stored(_short(name, inner or layer), tuple(int(d) for d in ds.shape), _dtype(ds)))
    return out


class Store:
    """The weights a Keras model file stores, opened when a layer's are first asked for."""

    def __init__(self, path: str, loc: Loc, hdf5: bool) -> None:
        self.path, self.loc, self.hdf5 = path, loc, hdf5
        self.file: Any = None
        self.raw: Any = None
        self.budget = [MAX_NODES]
        self.what = "model_weights" if hdf5 else WEIGHTS_MEMBER  # where: the .h5 group, the archive member

    def _open(self) -> Any:
        if self.file is not None:
            return self.file
        h5py = h5py_for(self.path, self.hdf5)
        try:
            if self.hdf5:
                self.file = h5py.File(self.path, "r")
                return self.file
            with zipfile.ZipFile(self.path) as archive:
                info = archive.getinfo(WEIGHTS_MEMBER)
            self.raw = open(self.path, "rb")  # noqa: SIM115 (kept open while h5py reads; closed by close())
            if info.compress_type == zipfile.ZIP_STORED:  # Keras's own: read in place
                start = data_offset(self.raw, info)
                if start is None:
                    raise zipfile.BadZipFile(f"bad local header for {WEIGHTS_MEMBER}")
                fileobj: Any = io.BufferedReader(_Member(self.raw, start, info.file_size), 1 << 16)
            elif info.file_size > MAX_COMPRESSED:
                raise SpecError([problem(self.loc, None, f"its {WEIGHTS_MEMBER} is compressed and "
                                                         f"{info.file_size / 2**20:,.0f} MiB; lstmcount reads "
                                                         f"compressed weights up to {MAX_COMPRESSED // 2**20} MiB "
                                                         "(Keras stores them uncompressed: save the model again)")])
            else:  # a recompressed archive: inflated into memory, bounded whatever its header says
                self.raw.close()
                with open_archive(self.path, self.loc) as archive:
                    fileobj = io.BytesIO(read_member(archive, WEIGHTS_MEMBER, MAX_COMPRESSED, self.loc) or b"")
            self.file = h5py.File(fileobj, "r")
            return self.file
        except KeyError:
            raise SpecError([problem(self.loc, None, f"has no {WEIGHTS_MEMBER}, which holds its weights")]) from None
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            self.close()
            raise SpecError([problem(self.loc, None, f"its weights ({self.what}) cannot be read ({exc})")]) from None

    def layer(self, path: tuple[str, ...], names: tuple[str, ...], where: str) -> list[Stored] | None:
        """One layer's stored weights (None: the file stores none for it). `path`: its groups in a
        `.keras` archive (`layers/<key>` at each level); `names`: the layer names of its enclosing models
        and its own (a legacy `.h5` keeps a nested model's weights in the outer layer's group). Read in a
        child (`bounded`): the file is opened there, each time."""
        h5py_for(self.path, self.hdf5)

        def read() -> tuple[list[Stored] | None, int]:
            try:
                return self._layer(path, names, where), self.budget[0]
            finally:
                self.close()

        stored, self.budget[0] = bounded(self.loc, read)
        return None if stored is None else [Stored(n, tuple(shape), dtype) for n, shape, dtype in stored]

    def _layer(self, path: tuple[str, ...], names: tuple[str, ...], where: str) -> list[Stored] | None:
        h5py = h5py_for(self.path, self.hdf5)
        fh = self._open()
        try:
            if self.hdf5:
                top = fh.get("model_weights")
                group = top.get(names[0]) if isinstance(top, h5py.Group) else None
                if not isinstance(group, h5py.Group):
                    return None
                return _legacy(group, names[0], h5py, self.loc, where, names[-1] if len(names) > 1 else None)
            group = fh.get("/".join(path))
            if not isinstance(group, h5py.Group):
                return None
            named = _layer_name(group, "")  # Keras 3 writes the layer's name beside its variables: check it
            if named and named != names[-1]:
                raise SpecError([problem(self.loc, where, f"{WEIGHTS_MEMBER} holds {'/'.join(path)} for the layer "
                                                          f"{show(named)}, not for this one: its weights are not where "
                                                          "Keras puts them")])
            return _datasets(group, h5py, self.loc, self.budget)
        except (OSError, ValueError, KeyError) as exc:
            raise SpecError([problem(self.loc, where, f"its stored weights cannot be read ({exc})")]) from None

    def close(self) -> None:
        for each in (self.file, self.raw):
            try:
                if each is not None:
                    each.close()
            except Exception:  # closing what failed to open
                pass
        self.file = self.raw = None


def is_weights_file(path: str) -> bool:
    """An HDF5 file of weights only (`save_weights`): it has no `model_config` attribute."""
    h5py = h5py_for(path)

    def read() -> bool:
        try:
            with h5py.File(path, "r") as fh:
                return "model_config" not in fh.attrs and ("layers" in fh or "layer_names" in fh.attrs)
        except Exception:  # not an HDF5 file h5py reads: the model reader says what is wrong
            return False

    return bool(bounded(Loc(path), read))


def weights_layout(path: str) -> ModelLayout:
    """A weights-only HDF5 file (`save_weights`, either Keras) as a layout: each layer's stored weights,
    by the names the file gives them."""
    h5py = h5py_for(path)
    loc = Loc(path)

    def read() -> list[tuple[str, list[Stored]]]:  # in a child (bounded): (layer name, its weights)
        budget = [MAX_NODES]
        found: list[tuple[str, list[Stored]]] = []
        with h5py.File(path, "r") as fh:
            if "layer_names" in fh.attrs:  # tf_keras's legacy weights file: a group per layer name
                for name in _names(fh.attrs["layer_names"], loc, "layer_names"):
                    group = fh.get(name)
                    if not isinstance(group, h5py.Group):
                        raise SpecError([problem(loc, None, f"lists the layer {show(name)}, which the file does not "
                                                            "hold")])
                    stored = _legacy(group, name, h5py, loc, f"layer {show(name)}")
                    found.append((name, stored))
                    budget[0] -= 1 + len(stored)
                    if budget[0] < 0:
                        raise SpecError([problem(loc, None, f"holds more than {MAX_NODES:,} layers and weights")])
            else:  # Keras's weights file: layers/<key>/vars/k
                group = fh.get("layers")
                for key in (group.keys() if isinstance(group, h5py.Group) else ()):
                    item = group.get(key)
                    if isinstance(item, h5py.Group):
                        found.append((_layer_name(item, key), _datasets(item, h5py, loc, budget)))
                top = fh.get("vars")
                if isinstance(top, h5py.Group):
                    found.append(("(model)", [s._replace(name=f"vars/{s.name}")
                                              for s in _datasets(top, h5py, loc, budget)]))
        return found

    layers = [_layer(name, [Stored(n, tuple(shape), dtype) for n, shape, dtype in stored])
              for name, stored in bounded(loc, read) if stored]
    if not layers:
        raise SpecError([problem(loc, None, "a Keras weights file that stores no weights")])
    return ModelLayout("keras", path, None, tuple(layers), notes=(
        "a weights-only file (save_weights): each layer is counted from the weights it stores; the file does "
        "not say what the layers are, nor which weights are trainable (counted as trainable)",))


def _layer_name(group: Any, key: str) -> str:
    """A layer's name: Keras 3 writes it on its `vars` group; tf_keras names the group by class only."""
    vars_group = group.get("vars")
    name = vars_group.attrs.get("name") if vars_group is not None else None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return name if isinstance(name, str) and name else key


STORED_TYPE = "stored weights"  # the type of a weights-only file's layer: the file does not name its class


def _layer(name: str, stored: list[Stored]) -> LayerLayout:
    """A weights-only file's layer; empty datasets (an axis of 0) hold no parameters and are left out."""
    return LayerLayout(name, STORED_TYPE, tuple(Weight(s.name, s.shape, dtype=s.dtype) for s in stored if all(s.shape)),
                       stored="weights file")
