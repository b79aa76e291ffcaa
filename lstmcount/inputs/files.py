"""Opening an input safely: what a path is before anything reads it, every read with a cap, pipes read
without hanging and only once.

- `regular_file(path, what, cap)`: the path's `os.stat` (links followed: a link to /dev/zero is a
  character device) when it is a regular file of at most `cap` bytes; otherwise one line naming it
  (missing, a directory, a device, a socket, a pipe). A reader that hands the path to a library that
  opens, seeks or maps it (zipfile, h5py, torch.load, onnx.load) calls this first.
- `read_bytes(path, cap, what)`: at most `cap` bytes of a file, of a pipe (process substitution's
  /dev/fd/N, a FIFO) or of standard input (`-`). A pipe is opened without blocking and waited for
  with a time limit (a FIFO nobody writes to ends with one line); what it held is kept, so `sniff`
  and the reader after it see the same bytes.
- `head(path, n)`: the first bytes, for recognising a file by its content; None for what cannot be
  read (the reader then says why).
- `zip_archive(path, what)`: a zipfile.ZipFile of a file or a pipe's bytes, once the zip's end record
  says its directory is within archive's bounds (zipfile reads the whole directory an end record
  claims), for sniff; the readers open members with archive.open_archive / read_member.
- `in_child(work, seconds)`: a read run in a forked child with a time limit, for C code that can loop
  forever on a damaged file (HDF5's).
"""

from __future__ import annotations

import io
import os
import select
import signal
import stat
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    import zipfile

PIPE_WAIT = 10.0  # seconds a pipe may stay silent (before its first byte, and between two reads)
CHUNK = 1 << 16

# A pipe's bytes, read once (at most its cap + 1), by path and the pipe's inode (a new pipe at the same
# /dev/fd/N is another); standard input's with the stdin object they came from.
_PIPES: dict[tuple[str, int, int], tuple[bytes, int]] = {}  # -> (bytes, the cap they were read with)
_STDIN: list[tuple[object, tuple[bytes, int]]] = []


def display(path: str) -> str:
    """How messages name an input: its path, `<stdin>` for `-`."""
    return "<stdin>" if path == "-" else path


def what_is(mode: int) -> str | None:
    """What a file that is not a regular one or a pipe is ("a directory", "a character device", ...)."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode) or stat.S_ISFIFO(mode):
        return None
    return "not a regular file"


def size_text(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 else f"{n:,} bytes"


def _stat(path: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise UsageError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None


def _not_this(path: str, mode: int) -> UsageError | None:
    kind = what_is(mode)
    return None if kind is None else UsageError(f"{display(path)}: {kind}, not a model file")


def regular_file(path: str, what: str = "a model file", cap: int | None = None) -> os.stat_result:
    """`os.stat(path)` when `path` names a regular file (through any links) of at most `cap` bytes; a
    UsageError naming the path otherwise. For the readers whose library opens the path itself: a pipe
    cannot be read twice nor seeked, so it is refused here (a text input from a pipe goes through
    `read_bytes`)."""
    if path == "-":
        raise UsageError(f"standard input holds {what} only as text; give the file itself")
    st = _stat(path)
    if stat.S_ISFIFO(st.st_mode):
        raise UsageError(f"{path}: a pipe; lstmcount reads {what} from a regular file (save it to one first)")
    refused = _not_this(path, st.st_mode)
    if refused is not None:
        raise refused
    if cap is not None and st.st_size > cap:
        raise UsageError(f"{path}: larger than {size_text(cap)}; not {what}")
    return st


def is_pipe(path: str) -> bool:
    """A pipe or FIFO (process substitution's /dev/fd/N), or standard input when it is not a terminal."""
    if path == "-":
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_bytes(path: str, cap: int, what: str = "a model file") -> bytes:
    """At most `cap` bytes of the file, pipe or standard input (`-`) at `path`; a UsageError naming it
    when it holds more, cannot be read, is a directory or a device, or is a pipe that stays silent for
    PIPE_WAIT seconds."""
    raw = _read(path, cap, what)
    if len(raw) > cap:
        raise UsageError(f"{display(path)}: larger than {size_text(cap)}; not {what}")
    return raw


def head(path: str, n: int) -> bytes | None:
    """The first `n` bytes of a regular file or a pipe, for recognising it by content; None when a file
    cannot be read or is not a file (what it is, the reader then says). A pipe is read once, up to the
    text cap: one that stays silent is a UsageError here (waiting twice would double the wait)."""
    from ..model import MAX_BYTES

    if path == "-" or is_pipe(path):
        return _read(path, max(n, MAX_BYTES), "a model file")[:n]
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, ValueError):
        return None


def _read(path: str, cap: int, what: str) -> bytes:
    """Up to cap + 1 bytes (one more says there was more)."""
    if path == "-":
        if _STDIN and _STDIN[0][0] is sys.stdin:
            return _kept(path, *_STDIN[0][1], cap)
        return _stdin(cap, what)
    st = _stat(path)
    if stat.S_ISFIFO(st.st_mode):
        key = (path, st.st_dev, st.st_ino)
        if key in _PIPES:
            return _kept(path, *_PIPES[key], cap)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO without a writer would block open()
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        try:
            raw = _drain(fd, cap, path)
        finally:
            os.close(fd)
        _PIPES[key] = (raw, cap)
        return raw
    refused = _not_this(path, st.st_mode)
    if refused is not None:
        raise refused
    if st.st_size > cap:  # a sparse or huge file: not read at all
        raise UsageError(f"{path}: larger than {size_text(cap)}; not {what}")
    try:
        with open(path, "rb") as fh:
            return fh.read(cap + 1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _kept(path: str, raw: bytes, read_cap: int, cap: int) -> bytes:
    """What was read from a pipe before, for a read with `cap`: a pipe cannot be read again for more."""
    if len(raw) > read_cap and cap > read_cap:
        raise UsageError(f"{display(path)}: a pipe holding more than {size_text(read_cap)}; save it to a file")
    return raw[:cap + 1]


def _stdin(cap: int, what: str) -> bytes:
    stdin = sys.stdin
    if stdin is None:
        raise UsageError("standard input is closed; give a spec file instead of -")
    try:
        fd = stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):  # not a real file (a test's captured input): read it
        fd = mode = None
    try:
        if mode is not None and stat.S_ISFIFO(mode):
            raw = _drain(fd, cap, "<stdin>")
        elif mode is not None and not stat.S_ISREG(mode) and not os.isatty(fd):
            raise UsageError(f"<stdin>: {what_is(mode) or 'not a regular file'}, not a model file")
        else:  # a file, a terminal (someone typing), or a test's captured input
            raw = stdin.buffer.read(cap + 1)
    except OSError as exc:
        raise UsageError(f"standard input cannot be read ({exc.strerror or exc})") from None
    _STDIN[:] = [(stdin, (raw, cap))]
    return raw


def _drain(fd: int, cap: int, name: str) -> bytes:
    """Up to cap + 1 bytes of a pipe, waiting at most PIPE_WAIT seconds for each read."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    parts: list[bytes] = []
    got = 0
    while got <= cap:
        if not poller.poll(int(PIPE_WAIT * 1000)):
            raise UsageError(f"{name}: no data arrived within {PIPE_WAIT:g} s (a pipe nothing writes to)")
        try:
            chunk = os.read(fd, min(CHUNK, cap + 1 - got))
        except BlockingIOError:  # woken without data
            continue
        except OSError as exc:
            raise UsageError(f"{name}: cannot be read ({exc.strerror or exc})") from None
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def zip_archive(path: str, what: str = "a zip archive", cap: int | None = None) -> zipfile.ZipFile:
    """A zipfile.ZipFile of the regular file or pipe at `path`, once its end record says the directory
    is within archive.MAX_DIRECTORY bytes and archive.MAX_MEMBERS entries (zipfile reads the whole
    directory the end record claims into memory: 2 GiB for a crafted sparse file). A pipe's bytes are
    the ones already read."""
    import zipfile

    from ..model import MAX_BYTES

    if is_pipe(path):
        raw = read_bytes(path, MAX_BYTES if cap is None else cap, what)
        return zipfile.ZipFile(io.BytesIO(raw))
    regular_file(path, what, cap)
    check_zip(path)
    return zipfile.ZipFile(path)


def check_zip(path: str) -> None:
    """Refuse the regular file at `path` when it is a zip archive whose end record claims a directory
    over archive.MAX_DIRECTORY bytes or archive.MAX_MEMBERS entries: before zipfile or a library that
    opens the zip itself (torch.load) reads it. Anything else is left to the reader."""
    from .archive import MAX_DIRECTORY, MAX_MEMBERS, directory_size

    try:
        declared = directory_size(path)
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if declared is None:
        return
    members, size = declared
    if size > MAX_DIRECTORY:
        raise UsageError(f"{display(path)}: a zip archive whose directory claims {size:,} bytes (over "
                         f"{size_text(MAX_DIRECTORY)}); not a model file")
    if members > MAX_MEMBERS:
        raise UsageError(f"{display(path)}: a zip archive of {members:,} members (over {MAX_MEMBERS:,}); not a "
                         "model file")


CHILD_MEMORY = 1 << 30  # bytes a child of in_child may allocate beyond what it was forked with


def in_child(work: Callable[[], str], seconds: float, memory: int = CHILD_MEMORY) -> str | None:
    """What `work` returns, run in a forked child that is killed after `seconds` and may grow by at most
    `memory` bytes: for a library whose C code can loop forever or allocate without bound on a damaged
    file (HDF5), which no in-process limit interrupts. None when the child ran past a limit, or died; an
    exception in `work` reaches the parent as the text it returns (the caller's `work` turns its own
    errors into text). The child writes only this one string back. Where there is no fork (Windows),
    `work` runs in this process, unbounded."""
    if not hasattr(os, "fork"):  # pragma: no cover - POSIX here
        return work()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, whose coverage is not collected
        os.close(read_fd)
        try:
            _limit_growth(memory)
            data = work().encode("utf-8", "surrogatepass")
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_fd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                return None
            chunk = os.read(read_fd, CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "surrogatepass") if chunks else None


def _limit_growth(memory: int) -> None:
    """Limit this process's address space to what it has now plus `memory` bytes (where it can)."""
    try:
        import resource

        with open("/proc/self/statm") as fh:
            now = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = now + memory
        if soft == resource.RLIM_INFINITY or soft > want:
            resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (OSError, ValueError, ImportError):  # no /proc, no resource: the time limit still holds
        pass
