"""One exception hierarchy; only the CLI turns these into messages and exit codes."""

from __future__ import annotations

import re
import reprlib
from typing import Any, NamedTuple


class Loc(NamedTuple):
    """Where something stands in an input: file, 1-based line and column."""

    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class LstmcountError(Exception):
    """Base class; `exit_code` is what the CLI exits with."""

    exit_code = 2

    def messages(self) -> list[str]:
        return [str(self)]


class UsageError(LstmcountError):
    """Bad flags or option combinations (exit 2)."""


class SpecError(LstmcountError):
    """One or more problems in a model spec (exit 2), each a complete sentence."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)

    def messages(self) -> list[str]:
        return list(self.problems)


class FrameworkError(LstmcountError):
    """The real framework rejected a model that lstmcount accepted (exit 2)."""


class FrameworkMissing(LstmcountError):
    """An optional framework is needed but not installed (exit 3)."""

    exit_code = 3

    def __init__(self, framework: str, extra: str, install: str | None = None) -> None:
        install = install or f"pip install 'lstmcount[{extra}]'"
        super().__init__(f"{framework} is not installed; install it with: {install}")


class CheckFailed(LstmcountError):
    """A check (expect block, verification) did not hold (exit 1)."""

    exit_code = 1


def problem(loc: Loc | None, where: str | None, text: str) -> str:
    """Format one problem as `file:line:col: layer 2 (LSTM): text`."""
    head = f"{loc}: " if loc is not None else ""
    mid = f"{where}: " if where else ""
    return f"{head}{mid}{text}"


def note(loc: Loc | None, where: str | None, text: str) -> str:
    """Format one located note (the input is still counted) as `file:line:col: note: layer 2 (LSTM): text`."""
    head = f"{loc}: " if loc is not None else ""
    mid = f"{where}: " if where else ""
    return f"{head}note: {mid}{text}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = 4
_REPR.maxlevel = 2
_REPR.maxlong = 40


def show(value: Any) -> str:
    """A value as a user wrote it, bounded in length (values may be huge strings, numbers or aliases)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value.bit_length() > 160:
        return f"an integer of {len(hex(value)) - 2} hex digits"
    return _REPR.repr(value)


# What must not reach a terminal or a one-line message as it is: control characters (C0, DEL, C1), lone
# surrogates (a path's undecodable bytes, a JSON name's "\ud800"), line and paragraph separators and the
# bidirectional overrides that reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    ch = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def printable(text: str) -> str:
    """`text` with every control character, lone surrogate and bidirectional override written as its
    Python escape (`\\x1b`, `\\n`, `\\udcff`): safe to print on one line of a terminal, and encodable."""
    return _UNSAFE.sub(_escaped, text) if _UNSAFE.search(text) else text
