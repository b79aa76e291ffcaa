from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from lstmcount.cli import app

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# CI replays the same examples on every run (a landing should not depend on luck); developers'
# runs draw new ones, so the randomized tests keep finding new inputs.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/* from current output")


def checkout_command(bin_dir: Path) -> Path:
    """An `lstmcount` executable in `bin_dir` that runs this checkout (for tests that put it on PATH)."""
    bin_dir.mkdir(exist_ok=True)
    wrapper = bin_dir / "lstmcount"
    wrapper.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                       "from lstmcount.cli import main\nmain()\n")
    wrapper.chmod(0o755)
    return wrapper


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli() -> Callable[..., Run]:
    """Run the CLI in-process; stdout and stderr kept apart. Every JSON (and YAML) report a run writes is
    checked against the JSON Schema of its command, as shipped (lstmcount/schemas/)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Run:
        result = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        done = Run(result.exit_code, result.stdout, result.stderr)
        if done.exit_code in (0, 1):
            check_against_schema(list(args), done.stdout)
        return done

    return run


SCHEMAS = ROOT / "lstmcount" / "schemas"
checked: dict[str, int] = {}  # schema -> outputs checked in this run (tests/test_schema.py reads it)


@functools.cache
def validator(name: str) -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@functools.cache
def _value_options(command: str) -> frozenset[str]:
    """The options of a command that take a value (so a `--json` after one is that value)."""
    import typer.main

    group = typer.main.get_command(app)
    cmd = group.commands.get(command)  # type: ignore[attr-defined]
    if cmd is None:
        return frozenset()
    return frozenset(o for p in cmd.params if getattr(p, "is_flag", True) is False and not p.count
                     for o in [*p.opts, *p.secondary_opts] if getattr(p, "param_type_name", "") == "option")


def output_schema(args: list[str]) -> tuple[str, str] | None:
    """(schema, format) of what a command line writes to stdout, when it writes JSON or YAML."""
    if not args or any(a in ("--help", "--version", "-O", "--output") or a.startswith("--output=") for a in args):
        return None
    command, takes = args[0], _value_options(args[0])
    asked = [a for i, a in enumerate(args) if i == 0 or args[i - 1] not in takes]
    formats = [args[i + 1].lower() for i, a in enumerate(args[:-1]) if a in ("--format", "-o")
               and (i == 0 or args[i - 1] not in takes)]
    fmt = "json" if "--json" in asked else (formats[-1] if formats else "")
    if fmt not in ("json", "yaml") or command not in ("params", "layout", "compare", "solve", "verify"):
        return None
    if command == "layout" and "--to" in asked:
        return "recipe", fmt
    return command, fmt


def check_against_schema(args: list[str], stdout: str) -> None:
    found = output_schema(args)
    if found is None or not stdout.strip():
        return
    name, fmt = found
    if fmt == "yaml":
        import yaml

        data = yaml.safe_load(stdout)
    else:
        data = json.loads(stdout)
    errors = sorted(validator(name).iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, f"{args}: the output does not follow schemas/{name}.json: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in errors[:5])
    checked[name] = checked.get(name, 0) + 1
