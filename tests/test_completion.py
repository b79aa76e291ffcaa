"""Shell completion: the script lstmcount generates, sourced in a real bash, completes commands, options
and their values by asking this checkout's lstmcount (a wrapper on PATH)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import checkout_command

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with an `lstmcount` that runs this checkout, and a HOME of its own (installing writes there)."""
    bin_dir = tmp_path / "bin"
    checkout_command(bin_dir)
    home = tmp_path / "home"
    home.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("_LSTMCOUNT")}
    # Typer's own switch for tests: the shell is named (`--show-completion bash`), not detected from the
    # processes above this one (a user's `lstmcount --show-completion` finds their shell)
    return {**clean, "PATH": f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}", "HOME": str(home),
            "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`script` in a bash that stays the command's parent, as an interactive shell does (bash -c would exec
    a lone command in its own place, and the shell lstmcount then finds is whatever ran the tests)."""
    return subprocess.run(["bash", "--norc", "--noprofile", "-c", f"{script}\nexit $?"], env=env,
                          capture_output=True, text=True, timeout=120)


def complete(words: list[str], env: dict[str, str], setup: str = "source <(lstmcount --show-completion bash)"
             ) -> list[str]:
    """What bash offers for the last of `words`: the completion function called as bash calls it."""
    quoted = " ".join(f"'{w}'" for w in words)
    script = (f"{setup}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
              f"_lstmcount_completion lstmcount '{words[-1]}' '{words[-2]}'\n"
              'printf "%s\\n" "${COMPREPLY[@]}"')
    r = _bash(script, env)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def test_the_bash_script_completes_commands(env):
    script = subprocess.run(["lstmcount", "--show-completion", "bash"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert script.returncode == 0 and "complete -o default -F _lstmcount_completion lstmcount" in script.stdout
    assert complete(["lstmcount", "pa"], env) == ["params"]
    assert complete(["lstmcount", ""], env) == ["params", "layout", "compare", "solve", "verify", "check", "schema"]
    assert complete(["lstmcount", "s"], env) == ["solve", "schema"]


def test_options_and_their_values(env):
    assert complete(["lstmcount", "params", "--fr"], env) == ["--framework"]
    assert complete(["lstmcount", "params", "-f", ""], env) == ["keras", "pytorch", "onnx", "tf1", "cudnn", "flax"]
    assert complete(["lstmcount", "params", "-f", "t"], env) == ["tf1"]
    assert complete(["lstmcount", "layout", "--to", "o"], env) == ["onnx"]
    assert complete(["lstmcount", "params", "--format", "y"], env) == ["yaml"]
    assert complete(["lstmcount", "schema", "re"], env) == ["recipe"]


def test_install_completion_writes_a_script_bash_sources(env):
    r = subprocess.run(["lstmcount", "--install-completion", "bash"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    home = Path(env["HOME"])
    installed = home / ".bash_completions" / "lstmcount.sh"
    assert installed.is_file() and f"source '{installed}'" in (home / ".bashrc").read_text()
    assert complete(["lstmcount", "comp"], env, setup=f"source '{installed}'") == ["compare"]


@pytest.mark.parametrize(("shell", "marker"), [("zsh", "#compdef lstmcount"), ("fish", "complete --command lstmcount")])
def test_other_shells_get_their_scripts(env, shell, marker):
    r = subprocess.run(["lstmcount", "--show-completion", shell], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and marker in r.stdout


def test_the_shell_is_detected_as_a_user_runs_it(env):
    """Without Typer's test switch: `lstmcount --show-completion` run from bash finds bash."""
    user = {k: v for k, v in env.items() if k != "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION"}
    r = _bash("lstmcount --show-completion", user)
    assert r.returncode == 0 and "complete -o default -F _lstmcount_completion lstmcount" in r.stdout, r.stderr
    assert complete(["lstmcount", "ver"], user, setup="source <(lstmcount --show-completion)") == ["verify"]
    shown = _bash("lstmcount --help", user)
    assert "--install-completion" in shown.stdout and "--show-completion" in shown.stdout
