"""What every hostile-input test checks, and the runs that need a real process (a time limit and a
memory limit): shared by tests/test_hostile.py (YAML specs, flags), tests/test_hostile_keras.py
(Keras model files) and tests/test_hostile_onnx.py (ONNX files)."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import ROOT

MAX_LINE = 5000  # one message per line; a message longer than this is not "clear"
SUMMARY = re.compile(r"\d+ problems")
SPAWN_TIMEOUT = 10.0  # seconds, for all of one group together (they run side by side)
SPAWN_MEMORY = 1 << 30  # address space per process


def assert_clean(r: Any, name: str | None, codes: tuple[int, ...] = (0, 2)) -> None:
    """The parts of the contract every run must keep, whatever the input."""
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


def limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (SPAWN_MEMORY, SPAWN_MEMORY))


@dataclass
class Spawned:
    code: int | None  # None: killed at the time limit
    stderr: str
    seconds: float


def spawn_all(jobs: dict[str, tuple[Any, ...]], folder: Path, batch: int | None = None) -> dict[str, Spawned]:
    """Run `python -m lstmcount ARGS` for every job (id -> (args, stdin[, cwd])) from this checkout (from
    `cwd`, the repository root unless given), under the memory limit; args starting with "-c" run
    `python -c CODE ...` instead (one function of the checkout). The jobs start `batch` at a time (all at
    once by default); each batch is waited for together, and whatever runs past the time limit is killed."""
    items = list(jobs.items())
    size = batch or len(items) or 1
    out: dict[str, Spawned] = {}
    for first in range(0, len(items), size):
        out.update(_spawn_batch(dict(items[first:first + size]), folder))
    return out


def _spawn_batch(jobs: dict[str, tuple[Any, ...]], folder: Path) -> dict[str, Spawned]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    running = {}
    for cid, (args, stdin_bytes, *where) in jobs.items():
        stdin_path = folder / f"{cid}.stdin"
        stdin_path.write_bytes(stdin_bytes)
        err = open(folder / f"{cid}.err", "w+b")  # noqa: SIM115 - closed below
        head = [] if args[:1] == ["-c"] else ["-m", "lstmcount"]
        with open(stdin_path, "rb") as stdin:
            proc = subprocess.Popen([sys.executable, *head, *args], cwd=where[0] if where else ROOT, env=env,
                                    stdin=stdin, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit_memory)
        running[cid] = (proc, err, time.monotonic())
    deadline = time.monotonic() + SPAWN_TIMEOUT
    out = {}
    for cid, (proc, err, started) in running.items():
        try:
            code: int | None = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        seconds = time.monotonic() - started
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        err.close()
        out[cid] = Spawned(code, stderr, seconds)
    return out
