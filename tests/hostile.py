"""What every hostile-input test checks, and the runs that need a real process (a time limit and a
memory limit): shared by tests/test_hostile.py (YAML specs, flags), tests/test_hostile_keras.py
(Keras model files), tests/test_hostile_onnx.py (ONNX files) and tests/test_hostile_torch.py (PyTorch
checkpoints: side_by_side, a few at a time, under a processor-time limit)."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
    path: str = ""  # the input file (side_by_side)
    cpu: float = 0.0  # the processor time it took, user and system, in seconds (side_by_side)

    @property
    def exit_code(self) -> int | None:  # what assert_clean reads
        return self.code


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


def limits(cpu: float | None) -> Any:
    """What a child runs before lstmcount: the memory limit, and `cpu` seconds of processor time (the kernel
    ends it there: on a machine others share, wall time says more about them than about the run)."""
    def apply() -> None:  # pragma: no cover - runs in the child
        limit_memory()
        if cpu is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))
    return apply


@dataclass(frozen=True)
class Job:
    argv: tuple[str, ...]  # after `python -m lstmcount`
    path: str  # the input file (the messages name it)
    stdin: str | None = None  # a file to read standard input from


def side_by_side(jobs: dict[str, Job], folder: Path, timeout: float = SPAWN_TIMEOUT,
                 at_once: int | None = None, cpu: float | None = None) -> dict[str, Spawned]:
    """Run every job as `python -m lstmcount ...` (this checkout), each under SPAWN_MEMORY of address space
    (and `cpu` seconds of processor time), `at_once` of them at a time (all: None); kill each one that
    runs `timeout` seconds (all of them together when they all run at once). A killed one's code is None.
    (Its peak memory cannot be read here: Linux gives a child the peak of the process it was forked from.)"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    waiting = list(jobs)
    running: dict[str, tuple[Any, Any, float]] = {}
    out: dict[str, Spawned] = {}
    while waiting or running:
        while waiting and (at_once is None or len(running) < at_once):
            jid = waiting.pop(0)
            job = jobs[jid]
            err = open(folder / f"{jid}.err", "w+b")  # noqa: SIM115 - closed below
            with open(job.stdin or os.devnull, "rb") as stdin:
                proc = subprocess.Popen([sys.executable, "-m", "lstmcount", *job.argv], cwd=ROOT, env=env,
                                        stdin=stdin, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limits(cpu))
            running[jid] = (proc, err, time.monotonic())
        for jid, (proc, err, started) in list(running.items()):
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            code: int | None = os.waitstatus_to_exitcode(status) if pid else None
            code = None if code is not None and code < 0 else code  # ended by a signal: SIGXCPU, SIGKILL
            if not pid and time.monotonic() - started > timeout:
                proc.send_signal(signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
            if not pid:
                continue
            proc.returncode = code if code is not None else -9  # reaped here: Popen must not wait again
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
            err.close()
            out[jid] = Spawned(code, stderr, time.monotonic() - started, jobs[jid].path,
                               usage.ru_utime + usage.ru_stime)
            del running[jid]
        time.sleep(0.02)
    return {jid: out[jid] for jid in jobs}


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


@dataclass
class Ran:
    """What run_processes saw of one process."""

    code: int | None  # None: killed at the time limit
    stderr: str
    stdout: str
    seconds: float  # wall time
    path: str
    cpu: float  # user + system seconds


@dataclass
class Process:
    """One real `lstmcount` process for run_processes: argv after `python -m lstmcount`, its stdin, or a
    bash command line instead when it needs the shell (process substitution)."""

    id: str
    argv: tuple[str, ...] = ()
    stdin: bytes | None = None
    shell: str | None = None
    path: str = ""
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None  # this job's own wall-time limit


def run_processes(jobs: list[Process], folder: Path, timeout: float = SPAWN_TIMEOUT, parallel: int | None = None,
                  ) -> dict[str, Ran]:
    """Run every job as a real process (cwd the repo root, this checkout first on the path) under
    SPAWN_MEMORY of address space: `parallel` at a time (all at once by default), each killed after
    `timeout` seconds of wall time (or the job's own). Exit code, stderr, stdout, wall and CPU time of each."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    pending = list(jobs)
    running: dict[int, tuple[Process, subprocess.Popen[bytes], Any, Any, float]] = {}
    out: dict[str, Ran] = {}
    limit = parallel or len(jobs) or 1

    def start(job: Process) -> None:
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
        out[job.id] = Ran(code, err.read().decode("utf-8", "replace"), res.read().decode("utf-8", "replace"),
                          time.monotonic() - started, job.path, (usage.ru_utime + usage.ru_stime) if usage else 0.0)
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
