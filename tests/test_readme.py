"""The README's `console` examples are run, and their output must match to the character."""

from __future__ import annotations

import re
import shlex

import pytest

from .conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```console\n(.*?)```", README, re.S)


def examples() -> list[tuple[str, str]]:
    out = []
    for block in BLOCKS:
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, expected = chunk.partition("\n")
            out.append((command, expected))
    return out


def test_readme_has_examples():
    assert len(examples()) >= 6


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("command", "expected"), examples(), ids=[c for c, _ in examples()])
def test_readme_example(cli, command, expected, monkeypatch):
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)
    assert args[0] == "lstmcount"
    r = cli(*args[1:])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.rstrip("\n") == expected.rstrip("\n")


def test_readme_python_api_lines(monkeypatch):
    """Each `expression  # value` line of the README's Python block evaluates to that value."""
    monkeypatch.chdir(ROOT)
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    scope: dict[str, object] = {}
    checked = 0
    for line in block.splitlines():
        code, _, comment = line.partition("  # ")
        if comment.strip().isdigit():
            assert eval(code.strip(), scope) == int(comment), line  # noqa: S307 - the README's own code
            checked += 1
        elif code.strip():
            exec(code, scope)  # noqa: S102
    assert checked >= 3
