"""What the hostile-input tests share: the contract every run keeps (`assert_clean`), and real
`lstmcount` processes run under a memory and a time limit (`Spawn`, `spawn_all`).

Imported by tests/test_hostile.py, tests/test_hostile_corpus.py and tests/test_fuzz_files.py.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conftest import ROOT

MAX_LINE = 5000  # one message per line; a message longer than this is not "clear"
SUMMARY = re.compile(r"\d+ problems")

SPAWN_TIMEOUT = 10.0  # seconds
SPAWN_MEMORY = 1 << 30  # address space per process (torch, onnx and h5py import within it)


def assert_clean(r: Any, name: str | None, codes: tuple[int, ...] = (0, 2)) -> None:
    """The parts of the contract every run must keep, whatever the input: no traceback, an expected
    exit code, and for a failure only non-blank, bounded lines that name `name` (or start with
    `lstmcount: ` when None)."""
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.exit_code in codes, (r.exit_code, r.stderr[-3000:])
    if r.exit_code == 0:
        return
    lines = r.stderr.splitlines()
    assert lines, "a failed run must say why on stderr"
    for line in lines:
        assert line.strip(), f"blank line in stderr: {r.stderr!r}"
        assert len(line) <= MAX_LINE, f"a {len(line):,}-character message"
        if SUMMARY.fullmatch(line) or line.endswith("check FAILED"):
            continue
        if name is not None:
            assert name in line, f"message does not name {name!r}: {line!r}"
        else:
            assert line.startswith("lstmcount: ") or line.startswith("<flags>"), line


def assert_one_line(stderr: str, name: str) -> str:
    """A refusal is exactly one line, naming the input first (`path: ...`) or starting `lstmcount: `
    (a relative path the CLI prefixes); control characters never reach it raw. Returns the line."""
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr: {stderr[-3000:]!r}"
    line = lines[0]
    assert line.startswith((name, f"lstmcount: {name}", "lstmcount: ")), line
    assert len(line) <= MAX_LINE, f"a {len(line):,}-character message"
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]", line), f"raw control characters: {line!r}"
    return line


def located_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r".+:\d+:\d+: ", line)]


@dataclass(frozen=True)
class Spawn:
    id: str
    args: tuple[str, ...]  # "{f}" is the spec file written from `content`
    content: str | bytes | None = None
    stdin: bytes | None = None
    codes: tuple[int, ...] = (2,)
    fragments: tuple[str, ...] = ()
    xfail: str | None = None


@dataclass
class Spawned:
    code: int | None  # None: killed at the time limit
    stderr: str
    seconds: float  # wall time
    path: str
    cpu: float = 0.0  # user + system seconds
    max_rss: int = 0  # bytes
    stdout: str = ""


def limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (SPAWN_MEMORY, SPAWN_MEMORY))


_limit_memory = limit_memory


@dataclass
class Job:
    """One real `lstmcount` process to run: argv after `python -m lstmcount`, its stdin (bytes or a
    file), and a shell command line instead when it needs the shell (process substitution)."""

    id: str
    argv: tuple[str, ...] = ()
    stdin: bytes | None = None
    shell: str | None = None
    path: str = ""
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # this job's own wall-time limit


def spawn_all(jobs: list[Job], folder: Path, timeout: float = SPAWN_TIMEOUT, parallel: int | None = None,
              ) -> dict[str, Spawned]:
    """Run every job as a real process (cwd the repo root, this checkout first on the path) under
    SPAWN_MEMORY of address space: `parallel` at a time (all at once by default), each killed after
    `timeout` seconds of wall time. Exit code, stderr, wall and CPU time and peak memory of each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    pending = list(jobs)
    running: dict[int, tuple[Job, subprocess.Popen[bytes], Any, Any, float]] = {}
    out: dict[str, Spawned] = {}
    limit = parallel or len(jobs) or 1

    def start(job: Job) -> None:
        err = open(folder / f"{job.id}.err", "w+b")  # noqa: SIM115 - closed when the job ends
        res = open(folder / f"{job.id}.out", "w+b")  # noqa: SIM115
        stdin_path = folder / f"{job.id}.stdin"
        stdin_path.write_bytes(job.stdin or b"")
        with open(stdin_path, "rb") as stdin:
            if job.shell is not None:
                proc = subprocess.Popen(["bash", "-c", job.shell], cwd=ROOT, env={**env, **job.env}, stdin=stdin,
                                        stdout=res, stderr=err, preexec_fn=limit_memory)
            else:
                proc = subprocess.Popen([sys.executable, "-m", "lstmcount", *job.argv], cwd=ROOT,
                                        env={**env, **job.env}, stdin=stdin, stdout=res, stderr=err,
                                        preexec_fn=limit_memory)
        running[proc.pid] = (job, proc, err, res, time.monotonic())

    def finish(pid: int, status: int | None, usage: Any) -> None:
        job, proc, err, res, started = running.pop(pid)
        code = None if status is None else os.waitstatus_to_exitcode(status)
        proc.returncode = code if code is not None else -9
        err.seek(0)
        res.seek(0)
        out[job.id] = Spawned(code, err.read().decode("utf-8", "replace"), time.monotonic() - started, job.path,
                              cpu=(usage.ru_utime + usage.ru_stime) if usage else 0.0,
                              max_rss=(usage.ru_maxrss * 1024) if usage else 0,
                              stdout=res.read().decode("utf-8", "replace"))
        err.close()
        res.close()

    while pending or running:
        while pending and len(running) < limit:
            start(pending.pop(0))
        for pid, (_, proc, _, _, started) in list(running.items()):
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                finish(pid, status, usage)
            elif time.monotonic() - started > (running[pid][0].timeout or timeout):
                proc.kill()
                _, _, usage = os.wait4(pid, 0)
                finish(pid, None, usage)
        time.sleep(0.02)
    return out
