"""Where output goes, as real processes: -O files get the mode a shell's `>` gives, an existing file
keeps its mode, -O never overwrites the input, and a full, closed or broken stdout (or a closed
stdin) is one line and exit 2 (a broken pipe: a quiet exit 0)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from .conftest import ROOT

SEED = str(ROOT / "configs" / "mnist_lstm.yaml")


def run(*args: str, umask: int = 0o022, **kw: object) -> subprocess.CompletedProcess[str]:
    code = f"import os, sys; os.umask({umask}); sys.argv = ['lstmcount', *{list(args)!r}]\n" \
           "from lstmcount.cli import main\nmain()"
    streams = kw or {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True, timeout=60,
                          **streams)  # type: ignore[call-overload]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_output_file_gets_the_umask_mode(tmp_path, umask):
    out = tmp_path / "report.txt"
    r = run("params", SEED, "-O", str(out), umask=umask)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert "31,960" in out.read_text()


def test_a_replaced_output_file_keeps_its_mode(tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    out.chmod(0o640)
    r = run("params", SEED, "--json", "-O", str(out))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and '"total": 31960' in out.read_text()


def test_output_never_overwrites_the_input(tmp_path):
    spec = tmp_path / "m.yaml"
    text = "input_shape: [3, 4]\nlayers:\n- {type: LSTM, units: 2}\n"
    spec.write_text(text)
    link = tmp_path / "same.yaml"
    link.symlink_to(spec)
    for target in (spec, link):
        r = run("params", str(spec), "-O", str(target))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "refusing to overwrite it" in r.stderr
    assert spec.read_text() == text


def test_a_full_stdout_is_one_line_and_exit_2():
    with open("/dev/full", "w") as full:
        r = run("params", SEED, stdout=full, stderr=subprocess.PIPE)
    assert r.returncode == 2
    assert r.stderr == "lstmcount: cannot write to standard output (No space left on device)\n"


def test_a_closed_stdout_or_stdin_is_one_line_and_exit_2():
    r = subprocess.run(f"exec {sys.executable} -m lstmcount params {SEED} >&-", shell=True, cwd=ROOT,
                       capture_output=False, stderr=subprocess.PIPE, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (2, "lstmcount: standard output is closed; give --output FILE\n")
    r = subprocess.run(f"exec {sys.executable} -m lstmcount params - <&-", shell=True, cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stderr) == (2, "lstmcount: standard input is closed; give a spec file instead of -\n")


def test_a_broken_pipe_is_a_quiet_exit_0():
    # far more than a pipe holds, so the writes after `head` leaves do fail
    r = subprocess.run(f"{sys.executable} -m lstmcount params -u 3 -i 2 --num-layers 5000 -o csv | head -c 10"
                       " >/dev/null; echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", cwd=ROOT,
                       capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "80"})
    assert r.stdout.strip() == "0" and r.stderr == ""
