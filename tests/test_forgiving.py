"""Forgiving where it is safe: framework aliases, budgets and sizes as people write them, an unknown
command answered with the near one, YAML output. Strict where it matters: every refusal names the flag."""

from __future__ import annotations

import json

import pytest
import yaml

from lstmcount.cli import parse_count, parse_size
from lstmcount.errors import UsageError

from .conftest import CONFIGS


@pytest.mark.parametrize(("alias", "name"), [("torch", "pytorch"), ("Torch", "pytorch"), ("tf.keras", "keras"),
                                             ("tensorflow", "keras"), ("PyTorch", "pytorch"), ("ONNX", "onnx")])
def test_framework_aliases(cli, alias, name):
    r = cli("params", "-f", alias, "-u", "75", "-i", "28", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == cli("params", "-f", name, "-u", "75", "-i", "28", "--json").stdout
    assert json.loads(r.stdout)["framework"] == name


def test_framework_alias_in_layout_to(cli):
    assert cli("layout", "-u", "4", "-i", "3", "--to", "torch").stdout == \
        cli("layout", "-u", "4", "-i", "3", "--to", "pytorch").stdout


def test_unknown_framework_lists_the_names(cli):
    r = cli("params", "-f", "jax", "-u", "3", "-i", "2")
    assert r.exit_code == 2
    assert "'jax' is not a framework lstmcount knows: keras, pytorch, onnx, tf1, cudnn, flax (or torch, " \
           "tf.keras, tensorflow)" in " ".join(r.stderr.replace("│", " ").split())


def test_framework_flag_with_a_spec_file_is_refused(cli):
    """A spec names its own framework; -f beside it would be silently ignored, so it is refused."""
    r = cli("params", str(CONFIGS[0]), "-f", "pytorch")
    assert r.exit_code == 2 and "--framework describe a layer from flags" in r.stderr


@pytest.mark.parametrize(("text", "count"), [("100000", 100_000), ("1M", 1_000_000), ("1m", 1_000_000),
                                             ("2.5e6", 2_500_000), ("1_000_000", 1_000_000), ("250k", 250_000),
                                             ("250K", 250_000), ("1.5k", 1_500), ("3G", 3 * 10**9), (" 7 ", 7),
                                             ("1e3", 1000), ("0.25M", 250_000), ("2 M", 2_000_000),
                                             ("2.5e-1k", 250),
                                             # beyond a float's (and decimal's default 28-digit) precision
                                             ("123456789012345678901234567.5k", 123456789012345678901234567500),
                                             ("9007199254740993", 2**53 + 1)])
def test_counts_in_human_form(text, count):
    assert parse_count(text, "--budget") == count


@pytest.mark.parametrize(("text", "size"), [("64KiB", 65_536), ("64kib", 65_536), ("64K", 64_000), ("64KB", 64_000),
                                            ("1M", 10**6), ("1MiB", 2**20), ("2.5e6", 2_500_000), ("1_024", 1024),
                                            ("1GiB", 2**30), ("0.5KiB", 512), ("3", 3), ("3B", 3),
                                            ("1.5TiB", 3 * 2**39)])
def test_sizes_in_human_form(text, size):
    assert parse_size(text, "--max-bytes") == size


@pytest.mark.parametrize(("text", "message"), [
    ("1.5", "--budget '1.5' is 1.5 parameters; it must be a whole number"),
    ("64KiB", "--budget '64KiB': give a count such as 100000, 250k, 1M or 2.5e6 (KiB is a size in bytes; this "
              "counts parameters)"),
    ("x", "--budget 'x': give a count such as 100000, 250k, 1M or 2.5e6"),
    ("0", "--budget '0': must be at least 1"),
    ("-5", "--budget '-5': must be at least 1"),
    ("nan", "--budget 'nan': give a count"),
    ("inf", "--budget 'inf': give a count"),
    ("0x10", "--budget '0x10': give a count"),
    ("٣", "--budget '٣': give a count"),
    ("1e40", "--budget '1e40': larger than any model (at most 10^30)"),
    ("1.0000000000000000000000000000000000001k", "--budget '1.0000000000000000000000000000000000001k' is "
                                                 "1000.0000000000000000000000000000000001 parameters; it must be a "
                                                 "whole number"),
])
def test_bad_counts_name_the_flag(text, message):
    with pytest.raises(UsageError) as exc:
        parse_count(text, "--budget")
    assert message in str(exc.value)


def test_size_errors_name_the_flag_given(cli):
    r = cli("solve", "--max-bytes", "0.5", "--input", "28")
    assert r.exit_code == 2 and r.stderr == "lstmcount: --max-bytes '0.5' is 0.5 bytes; it must be a whole number\n"
    r = cli("verify", str(CONFIGS[0]), "--max-memory", "lots")
    assert r.exit_code == 2
    assert r.stderr == "lstmcount: --max-memory 'lots': give a size such as 512MiB, 2GiB or 1e6\n"


def test_solve_takes_a_budget_in_human_form(cli):
    """4 × ((28 + u) × u + u) <= 1,000,000 -> u = 485 (997,160); 486 needs 1,001,160."""
    for budget in ("1M", "1e6", "1_000_000", "1000k"):
        r = json.loads(cli("solve", "--budget", budget, "--input", "28", "--json").stdout)
        assert (r["units"], r["params"], r["budget"], r["next_params"]) == (485, 997_160, 1_000_000, 1_001_160)
    # 1MiB of float16 weights: 524,288 parameters
    r = json.loads(cli("solve", "--max-bytes", "1MiB", "--dtype", "float16", "--input", "28", "--json").stdout)
    assert r["budget"] == 524_288 and r["params"] <= 524_288 < r["next_params"]


@pytest.mark.parametrize(("typed", "near"), [("count", "params"), ("parms", "params"), ("diff", "compare"),
                                             ("verfy", "verify"), ("fit", "solve")])
def test_unknown_command_suggests_the_near_one(cli, typed, near):
    r = cli(typed)
    assert r.exit_code == 2
    text = " ".join(r.stderr.replace("│", " ").split())
    assert f"No such command {typed!r}. Did you mean {near!r}? The commands: params, layout, compare, solve, " \
           "verify" in text


def test_unknown_command_without_a_near_one_lists_the_commands(cli):
    r = cli("frobnicate")
    text = " ".join(r.stderr.replace("│", " ").split())
    assert r.exit_code == 2 and "No such command 'frobnicate'. The commands: params, layout" in text
    assert "Did you mean" not in text


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_yaml_format_is_the_json_structure(cli, config):
    as_yaml = cli("params", str(config), "--format", "yaml")
    assert as_yaml.exit_code == 0, as_yaml.stderr
    assert yaml.safe_load(as_yaml.stdout) == json.loads(cli("params", str(config), "--json").stdout)


def test_yaml_format_from_flags_reads_as_written(cli):
    r = cli("params", "-u", "75", "-i", "28", "-o", "yaml", "--timesteps", "28")
    data = yaml.safe_load(r.stdout)
    assert data["total"] == 31_200 and data["input_shape"] == [None, 28]
    assert data["layers"][0]["gates"][1] == {"gate": "forget", "kernel": 2100, "recurrent_kernel": 5625, "bias": 75,
                                             "params": 7800}
    assert "output_shape: [null, 75]\n" in r.stdout  # shapes on one line
