"""Writing a finished report: to stdout, or atomically to a file."""

from __future__ import annotations

import contextlib
import os
import stat
import sys

from .errors import UsageError


def write(text: str | bytes, path: str | None, option: str = "--output", inputs: tuple[str | None, ...] = ()
          ) -> None:
    """Write `text` (or bytes) to stdout, or replace `path` only with the complete text (temp file +
    rename). `option` names the flag in messages; `inputs` are the files the command read, which it
    refuses to overwrite.

    A path that is not a regular file (a FIFO, /dev/stdout, a terminal) is written into directly:
    it cannot be replaced, and renaming over it would destroy it. A new file gets the mode a shell's
    `>` would give it (0666 less the umask); a replaced file keeps its own.
    """
    if isinstance(text, str):
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (a name from a file): written as \udcff escapes, which
            data = text.encode("utf-8", "backslashreplace")  # inside a JSON string are JSON's own
            text = data.decode("utf-8")
    else:
        data = text
    if path is None or path == "-":
        _stdout(text, data)
        return
    if not path.strip():
        raise UsageError(f"{option} needs a file path (or - for standard output)")
    for source in inputs:
        if source and source != "-" and _same_file(source, path):
            raise UsageError(f"{option} {path}: is the input file {source}; refusing to overwrite it")
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
        os.fchmod(fd, stat.S_IMODE(mode) if mode is not None else 0o666 & ~_umask())
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _stdout(text: str | bytes, data: bytes) -> None:
    """Write to standard output; a closed or full one is a UsageError (a broken pipe is the CLI's to
    handle: it stays a quiet exit 0)."""
    out = sys.stdout
    if out is None:
        raise UsageError("standard output is closed; give --output FILE")
    try:
        if isinstance(text, bytes):
            out.flush()
            out.buffer.write(text)
            out.buffer.flush()
            return
        try:
            out.write(text)
        except UnicodeEncodeError:  # a terminal that is not UTF-8: send the bytes as they are
            out.flush()
            out.buffer.write(data)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        # what could not be written must not be flushed again at exit (a second error, a traceback)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaces stdout for the rest of the process
        raise UsageError(f"cannot write to standard output ({exc.strerror or exc})") from None
