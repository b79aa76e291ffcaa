"""The hostile corpus (scripts/hostile_corpus.py), every case run as a real `lstmcount` process.

Each process runs under SPAWN_MEMORY of address space and is killed after its case's wall-time
limit; it must end with an allowed exit code, for exit 2 with exactly one line on stderr naming the
file, in under 10 s of CPU time; it must never write the corpus's MARKER (pickles with __reduce__,
Keras Lambda bytecode, class names such as os.system, ONNX external data outside the model's
folder point at it); and what it prints for exit 0 holds no raw control character.

Big cases (2 GiB sparse files, /dev/zero links, FIFOs, pipes) are written by the script's own
functions into a temporary folder here, never committed. Cases marked xfail wait for a reader's own
branch (the reason names it): the lead removes the marks after merging it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

from .conftest import ROOT
from .hostile import Process, assert_one_line, run_processes

_spec = importlib.util.spec_from_file_location("hostile_corpus", ROOT / "scripts" / "hostile_corpus.py")
assert _spec is not None and _spec.loader is not None
corpus = importlib.util.module_from_spec(_spec)
sys.modules["hostile_corpus"] = corpus  # dataclasses look their module up
_spec.loader.exec_module(corpus)

CPU_LIMIT = 10.0  # seconds of user + system time per process
WALL_LIMIT = 90.0  # seconds: a hang (a blocking open, an endless loop waiting on nothing)

# Cases that wait for a reader's branch: id -> reason. Each passes once that branch is merged.
WAITING = {
}


def _marks(case):
    reason = WAITING.get(case.id)
    return [pytest.mark.xfail(strict=False, reason=reason)] if reason else []


CASES = corpus.cases()


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Write the whole corpus (small and big) and run every case, three processes at a time."""
    folder = tmp_path_factory.mktemp("corpus")
    written = {c.id: c for c in corpus.write(folder, CASES)}
    jobs = []
    for case in written.values():
        path = str(folder / case.file) if case.file is not None else ""
        if case.shell is not None:
            import shlex

            command = case.shell.replace("python", shlex.quote(sys.executable), 1).replace("{f}", shlex.quote(path))
            jobs.append(Process(case.id, shell=command, path=path))
        else:
            jobs.append(Process(case.id, tuple(a.replace("{f}", path) for a in case.args), path=path))
        if case.id in WAITING:  # a known hang need not hold the run up
            jobs[-1].timeout = 30.0
    timeouts = {c.id: c.timeout for c in written.values()}
    slow = [j for j in jobs if timeouts[j.id] > 10]
    fast = [j for j in jobs if timeouts[j.id] <= 10]
    # The slow ones (a FIFO nobody writes to: 10 s by design) run beside the rest. The time limit
    # that matters is CPU time (CPU_LIMIT, asserted per case): wall time on a loaded machine says
    # little, so a process is killed only after WALL_LIMIT.
    results = run_processes(slow + fast, folder, timeout=WALL_LIMIT, parallel=len(slow) + 3)
    return folder, written, results


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_marks(c)) for c in CASES])
def test_corpus_case(ran, case):
    folder, written, results = ran
    if case.id not in written:
        pytest.skip(f"{case.needs} is not installed")
    r = results[case.id]
    assert r.code is not None, f"still running after {r.seconds:.0f} s (killed; {r.cpu:.1f} s of CPU)"
    if case.timeout > 10:  # waits by design: within its limit of wall time
        assert r.seconds < case.timeout, f"{r.seconds:.1f} s"
    assert "MemoryError" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert not (folder / corpus.MARKER).exists(), "the input ran code: the marker file was written"
    assert r.cpu < CPU_LIMIT, f"{r.cpu:.1f} s of CPU time"
    assert r.code in case.codes, (r.code, r.stderr[-3000:])
    if r.code == 2:
        name = r.path or "<stdin>"
        line = assert_one_line(r.stderr, _shown(name) if case.shell is None or "<(" not in case.shell else "/dev/fd/")
        if case.fragment:
            assert case.fragment in line, line
    if r.code == 0:
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", r.stdout), f"raw control characters: {r.stdout[:500]!r}"
        if "--json" in case.args:
            json.loads(r.stdout)


def _shown(path: str) -> str:
    """A path as messages show it: its undecodable bytes and control characters escaped."""
    from lstmcount.errors import printable

    return printable(path)


def test_the_index_says_what_the_script_wrote(tmp_path):
    """`python scripts/hostile_corpus.py DIR` writes the small cases and an index line for each."""
    small = [c for c in CASES if not c.big]
    assert corpus.main([str(tmp_path)]) == 0
    lines = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert {line["id"] for line in lines} == {c.id for c in small if c.needs is None or _has(c.needs)}
    for line in lines:
        assert set(line) == {"id", "file", "args", "codes", "fragment", "shell", "needs", "big", "timeout"}
        if line["file"] is not None:
            assert os.path.lexists(tmp_path / line["file"]), line["file"]
    assert not any(c.big for c in small)
    assert not (tmp_path / corpus.MARKER).exists()


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_every_format_has_cases():
    ids = " ".join(c.id for c in CASES)
    for prefix in ("yaml-", "json-", "keras-", "h5-", "pt-", "onnx-", "sparse-2GiB-", "dev-zero-link-", "pipe-",
                   "fifo-"):
        assert prefix in ids, prefix
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
    assert Path(corpus.__file__).is_relative_to(ROOT)
