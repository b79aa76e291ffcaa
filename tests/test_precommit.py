"""`lstmcount check` and the pre-commit hooks: a real `pre-commit try-repo` of this repository in a
temporary git repository (offline: the system hook runs this checkout's lstmcount)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CONFIGS, ROOT, checkout_command

GOOD = (ROOT / "configs" / "mnist_lstm.yaml").read_text()
OVER = "input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\nexpect: {max_total: 30000}\n"
NO_EXPECT = "input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\n"
NOT_A_SPEC = "jobs:\n  test: {runs-on: ubuntu-latest}\n"


def test_check_skips_files_without_an_expect_block(cli, tmp_path):
    (tmp_path / "over.yaml").write_text(OVER)
    (tmp_path / "plain.yaml").write_text(NO_EXPECT)
    (tmp_path / "ci.yaml").write_text(NOT_A_SPEC)
    (tmp_path / "custom-tags.yaml").write_text("x: !Ref expect\n")  # YAML the spec reader refuses
    (tmp_path / "workflow.yml").write_text("on: push\njobs:\n  t: {steps: [{run: echo as expected}]}\n")
    (tmp_path / "empty.yaml").write_text("")
    others = ("plain.yaml", "ci.yaml", "custom-tags.yaml", "workflow.yml", "empty.yaml")
    r = cli("check", *map(str, CONFIGS))
    assert r.exit_code == 0 and r.stderr.endswith(f"{len(CONFIGS)} ok\n") and r.stdout == ""
    r = cli("check", str(CONFIGS[0]), *(str(tmp_path / n) for n in others), str(ROOT / ".pre-commit-hooks.yaml"))
    assert r.exit_code == 0 and r.stderr == f"{CONFIGS[0]}: check ok (layers, total)\n1 ok, 6 skipped\n"
    r = cli("check", str(tmp_path / "over.yaml"), str(tmp_path / "ci.yaml"))
    assert r.exit_code == 1
    assert r.stderr == (f"{tmp_path / 'over.yaml'}: total 31,200 is over max_total 30,000 by 1,200\n"
                        f"{tmp_path / 'over.yaml'}: check FAILED\n0 ok, 1 failed, 1 skipped\n")


def test_check_reports_every_file_and_exits_2_on_a_broken_spec(cli, tmp_path):
    (tmp_path / "broken.yaml").write_text("layers:\n- {type: LSTM, unit: 3}\nexpect: {total: 1}\ninput_shape: [2, 3]\n")
    (tmp_path / "over.yaml").write_text(OVER)
    (tmp_path / "unclosed.yaml").write_text("expect: {total: 3}\nlayers: [\n")  # a spec with expect:, broken
    r = cli("check", str(tmp_path / "unclosed.yaml"))
    assert r.exit_code == 2 and r.stderr.startswith(f"{tmp_path / 'unclosed.yaml'}:3:1: invalid YAML")
    r = cli("check", str(tmp_path / "broken.yaml"), str(tmp_path / "over.yaml"))
    assert r.exit_code == 2
    assert f"{tmp_path / 'broken.yaml'}:2:16: layer 1 (LSTM): LSTM takes no argument 'unit'; did you mean " \
           "'units'?\n" in r.stderr
    assert "over.yaml: check FAILED\n" in r.stderr and r.stderr.endswith("0 ok, 1 failed, 1 unreadable\n")


def test_check_with_a_budget_counts_every_model_file(cli, tmp_path):
    keras_json = str(ROOT / "examples" / "mnist_lstm.keras.json")
    r = cli("check", "--budget", "32k", keras_json, "LSTM(75, input_shape=(28, 28))",
            str(ROOT / "configs" / "mnist_lstm.yaml"))
    assert r.exit_code == 0, r.stderr
    assert r.stderr.splitlines()[:2] == [f"{keras_json}: check ok (budget)", "<expression>: check ok (budget)"]
    r = cli("check", "--budget", "31_959", keras_json)
    assert r.exit_code == 1 and f"{keras_json}: total 31,960 is over the budget of 31,959 (--budget) by 1\n" in r.stderr
    r = cli("check", "--budget", "1.5", keras_json)
    assert r.exit_code == 2 and "--budget '1.5' is 1.5 parameters; it must be a whole number" in r.stderr


def test_the_hook_manifest_is_valid():
    r = subprocess.run([sys.executable, "-m", "pre_commit", "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git repository with specs, and an environment whose PATH runs this checkout's lstmcount."""
    bin_dir = tmp_path / "bin"
    checkout_command(bin_dir)
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "dev@example.invalid")
    _git(repo, "config", "user.name", "dev")
    (repo / "models").mkdir()
    (repo / "models" / "mnist.yaml").write_text(GOOD)
    (repo / "models" / "plain.yaml").write_text(NO_EXPECT)
    (repo / "ci.yml").write_text(NOT_A_SPEC)
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", repo / "hooks.yaml")  # YAML that says expect: in its text
    (repo / "README.txt").write_text("not checked\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "GIT_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PRE_COMMIT_HOME=str(tmp_path / "cache"),
               TF_CPP_MIN_LOG_LEVEL="3")
    return repo, env


def _try_repo(repo: Path, env: dict[str, str], *files: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "lstmcount-check-system",
                           "--verbose", "--files", *files], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_try_repo_passes_and_fails_a_commit(project):
    repo, env = project
    _git(repo, "add", ".")
    files = ["models/mnist.yaml", "models/plain.yaml", "ci.yml", "hooks.yaml", "README.txt"]
    ok = _try_repo(repo, env, *files)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "lstmcount expect blocks" in ok.stdout and "Passed" in ok.stdout
    assert "models/mnist.yaml: check ok (layers, total)" in ok.stdout
    assert "1 ok, 3 skipped" in ok.stdout  # README.txt is not a YAML file: the hook never sees it
    (repo / "models" / "grown.yaml").write_text(OVER)
    _git(repo, "add", ".")
    failed = _try_repo(repo, env, *files, "models/grown.yaml")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Failed" in failed.stdout
    assert "models/grown.yaml: total 31,200 is over max_total 30,000 by 1,200" in failed.stdout
    assert "models/grown.yaml: check FAILED" in failed.stdout
