"""ONNX model files -> a layout: each LSTM/GRU/RNN node laid out by the ONNX table.

Needs the `onnx` package (the `onnx` extra), imported only here. Counting reads the file once and
never its external data; `layout --save` reads external data only from files inside the model's own
folder (`onnx_arrays`). Every limit below is checked before the structures it bounds are built:

- the file must be a regular file (not a device, a FIFO or a link to one) of less than 2 GiB, the
  most a protobuf message can hold (larger ONNX models keep their weights in external data files);
- its top-level fields must be well framed, read header by header from the file (a file of zeros
  fails at its first byte, unread); then its bytes are read once and every message of every graph
  is counted, following the ONNX library's own descriptors, before protobuf builds any of them: at
  most MAX_NODES nodes, MAX_INITIALIZERS initializers, MAX_MESSAGES messages and MAX_PARTS fields;
- every initializer's dims go through the limits every source keeps (model.MAX_RANK axes, each
  at most model.MAX_SIZE, none negative), and a recurrent node's W, R, B and P must have the shapes
  the ONNX operator gives them.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Collection
from typing import IO, Any, NamedTuple

from ..conventions import onnx as onnx_table
from ..conventions.flags import RECURRENT
from ..errors import FrameworkMissing, Loc, SpecError, problem, show
from ..layout import LayerLayout, ModelLayout, Weight
from ..model import MAX_INPUTS, MAX_RANK, MAX_SIZE, LayerFlags

MAX_FILE_BYTES = 2**31 - 1  # protobuf's own limit on one message
MAX_NODES = 100_000  # in all the file's graphs: far beyond any exported model
MAX_INITIALIZERS = 100_000
MAX_MESSAGES = 1_000_000  # protobuf messages of any type (nodes, attributes, tensors, shapes, dims...)
MAX_PARTS = 2_000_000  # fields and packed numbers: some 100 MB once protobuf holds them, 2 s to count
MAX_DEPTH = 64  # messages in messages (graphs in nodes' attributes, types in types)
_INITIALIZER = 5  # GraphProto.initializer
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


def _fail(path: str, text: str) -> SpecError:
    return SpecError([problem(Loc(path), None, text)])


def proto_text(value: str | bytes) -> str:
    """A name as protobuf gives it: str, or bytes when the file's text is not UTF-8 (kept readable)."""
    return value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")


def onnx_model(path: str) -> Any:
    """The file's ModelProto, parsed once from a bounded read; external data is never loaded. The file's
    own checks come first: a regular file, at most 2 GiB, whose top-level fields are well framed (read
    from the file field by field, so a file of zeros fails at its first byte, unread); then, on its bytes
    in memory, every message of every graph is counted before protobuf builds them (`_count`)."""
    try:
        before = os.stat(path)  # before opening: opening a FIFO would wait for a writer
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(before.st_mode):
        raise _fail(path, "not a regular file (a directory, device or pipe); an ONNX model is a file")
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise _fail(path, "not a regular file; an ONNX model is a file")
            if size > MAX_FILE_BYTES:
                raise _fail(path, f"{size:,} bytes, more than the 2 GiB a protobuf message can hold (ONNX models "
                                  "that large keep their weights in external data files); not an ONNX model")
            _framed(fh, size, path)
            fh.seek(0)
            data = fh.read(size + 1)
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) != size:
        raise _fail(path, "changed while it was read")
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        raise FrameworkMissing("ONNX", "onnx") from None
    _count(data, path, onnx.ModelProto.DESCRIPTOR)
    try:
        return onnx.ModelProto.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        text = str(exc).splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise _fail(path, f"not a readable ONNX model ({text})") from None


class _Corrupt(Exception):
    def __init__(self, at: int, text: str) -> None:
        super().__init__(f"Error parsing message near byte {at:,}: {text}")


def _framed(fh: IO[bytes], size: int, path: str) -> None:
    """The top-level fields' headers, read one by one from the file (their payloads are jumped over)."""
    at = 0

    def varint() -> int:
        nonlocal at
        result = shift = 0
        while True:
            b = fh.read(1)
            if not b:
                raise _Corrupt(at, "the file ends inside a field")
            at += 1
            result |= (b[0] & 0x7F) << shift
            if b[0] < 0x80:
                return result
            shift += 7
            if shift >= 70:
                raise _Corrupt(at, "a number longer than 10 bytes")

    try:
        while at < size:
            key = varint()
            if key >> 3 == 0:
                raise _Corrupt(at, "a field numbered 0")
            wire = key & 7
            skip = varint() if wire == 2 else 8 if wire == 1 else 4 if wire == 5 else None
            if wire == 0:
                varint()
            elif skip is None:
                raise _Corrupt(at, f"wire type {wire}, which ONNX never writes")
            elif at + skip > size:
                raise _Corrupt(at, "a field runs past the end of the file")
            else:
                at += skip
                fh.seek(at)
    except _Corrupt as exc:
        raise _fail(path, f"not a readable ONNX model ({exc})") from None


_VARINT_TYPES = frozenset({3, 4, 5, 8, 13, 14, 17, 18})  # FieldDescriptor TYPE_INT64 ... SINT64
_plans: dict[str, dict[int, Any]] = {}
_leaves: set[str] = set()
_VARINTS = object()  # a plan's mark for a repeated varint field (packed: one number ends at each byte < 0x80)


def _plan(message: Any) -> dict[int, Any]:
    """Field number -> the message type it holds, or _VARINTS for a repeated (packable) varint field:
    read off the ONNX library's own descriptors, so every message type of the format is followed."""
    name = message.full_name
    if name not in _plans:
        _plans[name] = {}  # before the fields: message types refer to themselves (GraphProto in a node)
        _plans[name].update({f.number: f.message_type if f.message_type is not None else _VARINTS
                             for f in message.fields if f.message_type is not None
                             or (f.type in _VARINT_TYPES and f.is_repeated)})
        if not any(f.is_repeated or f.message_type is not None for f in message.fields):
            _leaves.add(name)  # its fields are single values: protobuf keeps the last of repeats, so only its
            # bytes count (a Dimension, a StringStringEntryProto): it need not be read
    return _plans[name]


def _count(data: bytes, path: str, model: Any) -> tuple[int, int, int, int]:
    """Count the fields and packed numbers (parts), messages, nodes and initializers of every message in
    the file (following the descriptors) before protobuf builds any of them, and refuse a file over the
    limits: protobuf spends some hundred bytes on an empty message of two bytes, so a small file could
    otherwise fill memory."""
    parts = messages = nodes = inits = 0
    stack = [(0, len(data), model, 0)]
    try:
        while stack:
            at, end, message, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise _Corrupt(at, f"messages nested more than {MAX_DEPTH} deep")
            plan = _plan(message)
            is_graph = message.full_name == "onnx.GraphProto"
            while at < end:
                key = data[at]  # one-byte numbers (most keys and lengths) are read here, longer ones by _varint
                if key < 0x80:
                    at += 1
                else:
                    key, at = _varint(data, at, end)
                parts += 1
                number, wire = key >> 3, key & 7
                if number == 0:
                    raise _Corrupt(at, "a field numbered 0")
                if wire == 2:
                    length = data[at] if at < end else 0x80
                    if length < 0x80:
                        at += 1
                    else:
                        length, at = _varint(data, at, end)
                    if at + length > end:
                        raise _Corrupt(at, "a field runs past the end of its message")
                    inner = plan.get(number)
                    if inner is None:
                        pass
                    elif inner is _VARINTS:
                        chunk = data[at:at + length]
                        parts += length - len(chunk.translate(None, _LOW))  # one number ends at each low byte
                    else:
                        messages += 1
                        nodes += inner.full_name == "onnx.NodeProto"
                        inits += is_graph and number == _INITIALIZER
                        if nodes > MAX_NODES or inits > MAX_INITIALIZERS or messages > MAX_MESSAGES:
                            break
                        if _plan(inner) or inner.full_name not in _leaves:
                            stack.append((at, at + length, inner, depth + 1))
                    at += length
                elif wire == 0:
                    _, at = _varint(data, at, end)
                elif wire == 1 or wire == 5:
                    at += 8 if wire == 1 else 4
                else:
                    raise _Corrupt(at, f"wire type {wire}, which ONNX never writes")
                if at > end:
                    raise _Corrupt(end, "a field runs past the end of its message")
                if parts > MAX_PARTS:
                    break
            for what, n, most in (("nodes", nodes, MAX_NODES), ("initializers", inits, MAX_INITIALIZERS),
                                  ("messages", messages, MAX_MESSAGES), ("fields", parts, MAX_PARTS)):
                if n > most:
                    raise _fail(path, f"holds more than {most:,} {what}; lstmcount reads at most {most:,} (no "
                                      "exported model comes near)")
    except _Corrupt as exc:
        raise _fail(path, f"not a readable ONNX model ({exc})") from None
    return parts, messages, nodes, inits


_LOW = bytes(range(128))


def _varint(data: bytes, at: int, end: int) -> tuple[int, int]:
    b = data[at] if at < end else -1
    if 0 <= b < 0x80:
        return b, at + 1
    result = shift = 0
    while True:
        if at >= end:
            raise _Corrupt(at, "a message ends inside a field")
        b = data[at]
        at += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, at
        shift += 7
        if shift >= 70:
            raise _Corrupt(at, "a number longer than 10 bytes")


class OnnxGroup(NamedTuple):
    """The initializers one node reads first: a recurrent node's W, R, B, P laid out by the ONNX table
    (`flags`, `layout`), or any other initializers as they are (`inputs` with their `shapes`)."""

    name: str
    type: str
    node: Any  # None for the initializers no node reads
    inputs: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    flags: LayerFlags | None = None
    layout: Any = None  # the LayerLayout of a recurrent node


def _checked(path: str, name: str, dims: tuple[int, ...], where: str, positive: bool = False) -> tuple[int, ...]:
    """An initializer's dims through the limits every source keeps."""
    if len(dims) <= MAX_RANK and all(0 < d <= MAX_SIZE if positive else 0 <= d <= MAX_SIZE for d in dims):
        return dims
    head = f"initializer {show(name)} {where}"
    if len(dims) > MAX_RANK:
        raise _fail(path, f"{head}: {len(dims)} dimensions; lstmcount reads tensors of at most {MAX_RANK}")
    axis, d = next((a, d) for a, d in enumerate(dims) if d < 0 or (positive and d == 0) or d > MAX_SIZE)
    if d > MAX_SIZE:
        raise _fail(path, f"{head}: dimension {show(d)} (axis {axis}) is more than {MAX_SIZE:,}, beyond what any "
                          "framework could build")
    raise _fail(path, f"{head}: dimension {d} (axis {axis} of {show(dims)}) must be "
                      f"{'positive' if positive else 'at least 0'}")


def _attribute(node: Any, name: str) -> Any:
    return next((a for a in node.attribute if proto_text(a.name) == name), None)


# Operator inputs by position (onnx/defs/rnn/defs.cc): W, R, B, then (LSTM) P at 7.
_SLOTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")


def _recurrent(path: str, node: Any, label: str, shapes: dict[str, tuple[int, ...]]) -> tuple[LayerFlags, Any]:
    """The flags and layout of an LSTM/GRU/RNN node whose W and R are initializers, from its attributes
    (direction, hidden_size, linear_before_reset) and W and R; every weight must have the operator's shape."""
    op = proto_text(node.op_type)
    kind = RECURRENT[op]
    real = dict(zip(_SLOTS, (proto_text(i) for i in node.input), strict=False))
    where = {slot: f"({slot}) of node {label}" for slot in _SLOTS}
    for slot in ("W", "R", "B", "P"):
        if slot in real and real[slot] in shapes:
            _checked(path, real[slot], shapes[real[slot]], where[slot], positive=True)
    w, r = shapes[real["W"]], shapes[real["R"]]
    gates = len(onnx_table.GATES[kind])
    direction = _attribute(node, "direction")
    text = proto_text(direction.s) if direction is not None else "forward"
    if text not in ("forward", "reverse", "bidirectional"):
        raise _fail(path, f"node {label}: direction {show(text)} is none of forward, reverse, bidirectional")
    directions = 2 if text == "bidirectional" else 1
    hidden = _attribute(node, "hidden_size")
    if hidden is not None and not 0 < hidden.i <= MAX_SIZE:
        raise _fail(path, f"node {label}: hidden_size {show(hidden.i)} must be between 1 and {MAX_SIZE:,}")
    units = hidden.i if hidden is not None else r[2] if len(r) == 3 else None
    features = w[2] if len(w) == 3 else None
    if units is None or features is None:
        slot = "R" if units is None else "W"
        raise _fail(path, f"initializer {show(real[slot])} {where[slot]}: shape {show(shapes[real[slot]])}; ONNX's "
                          f"{op} keeps {slot} as {onnx_table.SHAPES[slot].format(g=gates)}")
    linear = _attribute(node, "linear_before_reset")
    present = {slot: slot in real and real[slot] in shapes for slot in ("B", "P")}
    reset_after = (linear is not None and bool(linear.i)) if kind == "gru" else None  # the operator's default: 0
    flags = LayerFlags(kind, "onnx", units, features, directions == 2, 1, present["B"], reset_after, None,
                       present["P"] and kind == "lstm")
    (planned,) = onnx_table.from_flags(flags)
    for wt in planned.weights:
        if shapes[real[wt.name]] != wt.shape:
            given = "hidden_size" if hidden is not None else "R"
            plural = "s" * (directions - 1)
            raise _fail(path, f"initializer {show(real[wt.name])} {where[wt.name]}: shape "
                              f"{show(shapes[real[wt.name]])}, not {show(wt.shape)}: ONNX's {op} keeps {wt.name} as "
                              f"{onnx_table.SHAPES[wt.name].format(g=gates)} ({directions} direction{plural} from "
                              f"direction, hidden_size {units} from {given}, input_size {features} from W)")
    weights = tuple(wt._replace(name=real[wt.name]) for wt in planned.weights)
    return flags, planned._replace(weights=weights)


def onnx_groups(model: Any, path: str = "<onnx>") -> list[OnnxGroup]:
    """Every initializer under the first node that reads it. An LSTM/GRU/RNN node whose W and R are
    initializers is laid out by the ONNX table (directions, hidden_size and GRU linear_before_reset from
    the node, input_size off W; W, R, B and P must have the operator's shapes, else a located refusal);
    its other initializer inputs (initial states, sequence lengths) form a group of their own.
    Initializers no node reads come last. Dims go through the limits of every source."""
    graph = model.graph
    if len(graph.initializer) > MAX_INITIALIZERS or len(graph.node) > MAX_NODES:  # a model not from onnx_model
        raise _fail(path, f"more than {MAX_INITIALIZERS:,} initializers or {MAX_NODES:,} nodes")
    shapes = {proto_text(init.name): tuple(init.dims) for init in graph.initializer}
    if len(shapes) != len(graph.initializer):
        twice = next(n for n, k in Counter(proto_text(i.name) for i in graph.initializer).items() if k > 1)
        raise _fail(path, f"initializer {show(twice)} is defined twice; an ONNX graph names each tensor once")
    used: set[str] = set()
    groups: list[OnnxGroup] = []
    for index, node in enumerate(graph.node):
        op = proto_text(node.op_type)
        name = proto_text(node.name) or f"{op.lower()}_{index}"
        label = f"{show(name)} ({show(op) if not op.isidentifier() else op})"
        if len(node.input) > MAX_INPUTS:
            raise _fail(path, f"node {label} reads {len(node.input):,} tensors; lstmcount reads at most "
                              f"{MAX_INPUTS:,} per node")
        names = [proto_text(i) for i in node.input]
        inputs = [i for i in dict.fromkeys(names) if i in shapes and i not in used]
        if not inputs:
            continue
        if op in RECURRENT and node.domain in ("", "ai.onnx") and len(names) >= 3 and names[1] in shapes \
                and names[2] in shapes:
            flags, planned = _recurrent(path, node, label, shapes)
            groups.append(OnnxGroup(name, op, node, tuple(wt.name for wt in planned.weights),
                                    tuple(wt.shape for wt in planned.weights), flags, planned._replace(name=name)))
            used.update(wt.name for wt in planned.weights)
            inputs = [i for i in inputs if i not in used]
            if not inputs:
                continue
            name = f"{name} (other inputs)"
        for i in inputs:
            _checked(path, i, shapes[i], f"of node {label}")
        groups.append(OnnxGroup(name, op, node, tuple(inputs), tuple(shapes[i] for i in inputs)))
        used.update(inputs)
    rest = tuple(n for n in shapes if n not in used)
    for n in rest:
        _checked(path, n, shapes[n], "(read by no node)")
    if rest:
        groups.append(OnnxGroup("(unused initializers)", "tensors", None, rest, tuple(shapes[n] for n in rest)))
    return groups


def read_onnx(path: str) -> ModelLayout:
    """An ONNX model as a layout: each LSTM/GRU/RNN node laid out by the ONNX table (gate blocks of W,
    R, B, peepholes P) under its own initializer names; every other initializer listed under the
    node that reads it. Needs the `onnx` package (the `onnx` extra); external data is not loaded."""
    return onnx_layout(onnx_groups(onnx_model(path), path), path)


def onnx_layout(groups: list[OnnxGroup], path: str) -> ModelLayout:
    return ModelLayout("onnx", path, None, tuple(
        g.layout if g.layout is not None else
        LayerLayout(g.name, g.type, tuple(Weight(i, shape) for i, shape in zip(g.inputs, g.shapes, strict=True)))
        for g in groups))


# TensorProto data types --save reads: (NumPy type of the stored bytes, the typed field that holds the values
# when there are no raw bytes). FLOAT16 and BFLOAT16 keep their bit patterns in int32_data; BFLOAT16 (no NumPy
# type) becomes float32 exactly: its bits are a float32's upper half.
_ARRAY_TYPES = {1: ("<f4", "float_data"), 2: ("u1", "int32_data"), 3: ("i1", "int32_data"),
                4: ("<u2", "int32_data"), 5: ("<i2", "int32_data"), 6: ("<i4", "int32_data"),
                7: ("<i8", "int64_data"), 9: ("?", "int32_data"), 10: ("<f2", "int32_data"),
                11: ("<f8", "double_data"), 12: ("<u4", "uint64_data"), 13: ("<u8", "uint64_data"),
                16: ("<u2", "int32_data")}
_BFLOAT16 = 16


def onnx_arrays(path: str, names: Collection[str] | None = None) -> dict[str, Any]:
    """Initializers as NumPy arrays by name (only `names` when given), for `layout --save`. Each array's
    bytes must be what its dims need; external data is read only from a regular file inside the model's
    own folder (no absolute location, no `..`, no link leading outside), within that file's size."""
    import numpy as np

    model = onnx_model(path)
    shapes = {g: s for group in onnx_groups(model, path) for g, s in zip(group.inputs, group.shapes, strict=True)}
    folder = os.path.dirname(os.path.abspath(path))
    out: dict[str, Any] = {}
    for init in model.graph.initializer:
        name = proto_text(init.name)
        if (names is not None and name not in names) or name in out:
            continue
        head = f"initializer {show(name)}"
        if init.data_type not in _ARRAY_TYPES:
            kind = _type_name(init.data_type)
            raise _fail(path, f"{head} holds {kind} values; --save converts numbers stored as float, double, "
                              "float16, bfloat16, integers or booleans")
        if init.HasField("segment"):
            raise _fail(path, f"{head} is one segment of a tensor; --save reads whole tensors")
        stored, field = _ARRAY_TYPES[init.data_type]
        dims = shapes[name]
        count = 1
        for d in dims:
            count *= d
        item = np.dtype(stored).itemsize
        if init.data_location == _EXTERNAL:
            raw: bytes | None = _external(path, folder, init, head, count * item)
        elif init.HasField("raw_data"):
            raw = init.raw_data
        else:
            raw = None
        if raw is not None:
            if len(raw) != count * item:
                raise _fail(path, f"{head} holds {len(raw):,} bytes; its dims {show(dims)} need {count * item:,}")
            array = np.frombuffer(raw, dtype=stored)
        else:
            values = getattr(init, field)
            if len(values) != count:
                raise _fail(path, f"{head} holds {len(values):,} values; its dims {show(dims)} need {count:,}")
            array = np.asarray(values, dtype=np.int64 if field == "int32_data" else None)
            array = array.astype(np.uint16).view(stored) if stored in ("<f2", "<u2") else array.astype(stored)
        if init.data_type == _BFLOAT16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        out[name] = array.reshape(dims)
    return out


def _type_name(data_type: int) -> str:
    from onnx import TensorProto

    try:
        return str(TensorProto.DataType.Name(data_type))
    except ValueError:
        return f"an unknown type ({show(data_type)})"


def external_data(path: str, model: Any) -> None:
    """Refuse a model any of whose initializers keeps its external data outside the model's folder (for
    the tools that open the file themselves: the ONNX checker and ONNX Runtime)."""
    folder = os.path.dirname(os.path.abspath(path))
    for init in model.graph.initializer:
        if init.data_location == _EXTERNAL:
            _external_file(path, folder, init, f"initializer {show(proto_text(init.name))}")


def _external_file(path: str, folder: str, init: Any, head: str) -> tuple[str, str, dict[str, str]]:
    """(resolved file, location as written, external_data entries) of an initializer whose location is a
    file inside the model's folder, as the ONNX checker asks (onnx/checker.cc: relative, no `..`), and
    whose resolved path (links followed) stays inside that folder."""
    info = {proto_text(e.key): proto_text(e.value) for e in init.external_data}
    location = info.get("location", "")
    if info.get("basepath"):
        raise _fail(path, f"{head}: its external data names a basepath; lstmcount reads external data only "
                          "from the model's own folder")
    parts = location.replace("\\", "/").split("/")
    if not location or os.path.isabs(location) or location.startswith(("/", "\\")) or ".." in parts \
            or "\x00" in location or (len(location) > 1 and location[1] == ":"):
        raise _fail(path, f"{head}: external data location {show(location)} is not a file name inside the "
                          "model's folder; lstmcount reads external data only from there")
    target = os.path.realpath(os.path.join(folder, location))
    home = os.path.realpath(folder)
    if os.path.commonpath([home, target]) != home:
        raise _fail(path, f"{head}: external data {show(location)} leads outside the model's folder; lstmcount "
                          "reads external data only from there")
    return target, location, info


def _external(path: str, folder: str, init: Any, head: str, need: int) -> bytes:
    """An initializer's external bytes, from a regular file inside the model's folder only, within its size."""
    target, location, info = _external_file(path, folder, init, head)
    try:
        offset = int(info.get("offset") or 0)
        length = int(info["length"]) if info.get("length") else None
    except ValueError:
        raise _fail(path, f"{head}: external data offset or length is not a number") from None
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):  # before opening: a FIFO would wait for a writer
            raise _fail(path, f"{head}: external data {show(location)} is not a regular file")
        with open(target, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise _fail(path, f"{head}: external data {show(location)} is not a regular file")
            if offset < 0 or (length is not None and length < 0) or offset > size \
                    or (length is not None and offset + length > size):
                raise _fail(path, f"{head}: external data offset {show(offset)} and length {show(length)} do not "
                                  f"fit {show(location)} ({size:,} bytes)")
            stored = length if length is not None else size - offset
            if stored != need:
                raise _fail(path, f"{head} has {stored:,} bytes of external data; its dims need {need:,}")
            fh.seek(offset)
            data = fh.read(need)
    except FileNotFoundError:
        raise _fail(path, f"{head}: its external data file {show(location)} is not in the model's folder") from None
    except OSError as exc:
        raise _fail(path, f"{head}: external data {show(location)} cannot be read ({exc.strerror or exc})") from None
    if len(data) != need:
        raise _fail(path, f"{head}: external data {show(location)} changed while it was read")
    return data
