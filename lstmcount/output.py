"""Writing a finished report: to stdout, or atomically to a file."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from .errors import UsageError


def write(text: str, path: str | None) -> None:
    """Write `text` to stdout, or replace `path` only with the complete text (temp file + rename)."""
    if path is None or path == "-":
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:  # a terminal that is not UTF-8: send the bytes as they are
            sys.stdout.flush()
            sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.flush()
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--output {path}: is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".lstmcount-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"--output {path}: cannot write in {folder} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
