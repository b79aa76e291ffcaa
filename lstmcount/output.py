"""Writing a finished report: to stdout, or atomically to a file."""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from .errors import UsageError


def write(text: str | bytes, path: str | None, option: str = "--output") -> None:
    """Write `text` (or bytes) to stdout, or replace `path` only with the complete text (temp file +
    rename). `option` names the flag in messages.

    A path that is not a regular file (a FIFO, /dev/stdout, a terminal) is written into directly:
    it cannot be replaced, and renaming over it would destroy it.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if path is None or path == "-":
        if isinstance(text, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
            return
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # a terminal that is not UTF-8: send the bytes as they are
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    if not path.strip():
        raise UsageError(f"{option} needs a file path (or - for standard output)")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UsageError(f"{option} {path}: is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        try:
            with open(path, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
        return
    folder = os.path.dirname(os.path.abspath(path))
    if path.endswith(("/", os.sep)) or not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    import tempfile  # only when writing a file: it costs the stdout path ~7 ms of imports

    try:
        fd, tmp = tempfile.mkstemp(prefix=".lstmcount-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
