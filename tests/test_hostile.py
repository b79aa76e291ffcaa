"""Hostile and broken input for `lstmcount params`.

The contract: whatever it is given, `params` ends with exit 0 or 2 (1 only for a failed
`--check`), prints one clear message per problem on stderr naming file:line:column, the layer
and the argument, never a Python traceback, never runs code from YAML, and finishes in bounded
time and memory.

Tests marked `xfail(strict=True)` document a known gap: each reason says what goes wrong today.
When the gap is fixed the test XPASSes, which fails the run: drop the mark then.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from .conftest import CONFIGS, ROOT
from .hostile import SPAWN_MEMORY, SPAWN_TIMEOUT, Spawned, assert_clean, spawn_all


def located_problems(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r".+:\d+:\d+: ", line)]


# --- 1. the corpus --------------------------------------------------------------------------------

DIRECTORY = object()  # the "file" is a directory
MISSING = object()  # the file does not exist


def _bomb_anchors(prefix: str = "b", width: int = 9, depth: int = 9) -> list[str]:
    """`&b0 [lol × 9]`, `&b1 [*b0 × 9]`, ... `&b9`: 9**10 "lol"s once expanded."""
    out = [f"&{prefix}0 [" + ", ".join(["lol"] * width) + "]"]
    out += [f"&{prefix}{i} [" + ", ".join([f"*{prefix}{i - 1}"] * width) + "]" for i in range(1, depth + 1)]
    return out


def _sixty(entry: Callable[[int], str]) -> str:
    return "input_shape: [3, 4]\nlayers:\n" + "".join(f"  - {entry(i)}\n" for i in range(60))


def _case(id: str, content: Any, code: int | tuple[int, ...], *fragments: str, xfail: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    codes = code if isinstance(code, tuple) else (code,)
    return pytest.param(content, codes, fragments, id=id, marks=marks)


SHAPE = "input_shape: [3, 4]\n"
LSTM = "layers: [{type: LSTM, units: 3}]\n"

CORPUS = [
    # -- code execution and tags --
    _case("python-object-apply", '!!python/object/apply:os.system ["touch {tmp}/pwned"]\n', 2,
          "{f}:1:1: invalid YAML:", "python/object/apply:os.system", "not allowed"),
    _case("python-object-apply-in-layer",
          SHAPE + 'layers:\n  - type: LSTM\n    units: !!python/object/apply:os.system ["touch {tmp}/pwned"]\n',
          2, "{f}:4:12: invalid YAML:", "python/object/apply:os.system"),
    _case("python-name", "a: !!python/name:os.system\n", 2, "{f}:1:4: invalid YAML:", "python/name:os.system"),
    _case("python-object-new", SHAPE + "layers:\n  - type: LSTM\n    units: !!python/object/new:builtins.int [3]\n",
          2, "{f}:4:12: invalid YAML:", "python/object/new:builtins.int"),
    _case("python-module", "layers: !!python/module:os\n", 2, "{f}:1:9: invalid YAML:", "python/module:os"),
    _case("unknown-tag", SHAPE + "layers: !foo [1]\n", 2, "{f}:2:9: invalid YAML:", "'!foo' is not allowed"),
    _case("unknown-verbatim-tag", SHAPE + "layers: !<tag:example.com,2000:x> [1]\n", 2, "{f}:2:9: invalid YAML:"),
    _case("str-tag-on-units", SHAPE + "layers:\n  - type: LSTM\n    units: !!str 3\n", 2,
          "{f}:4:5: layer 1 (LSTM): argument 'units' must be an integer, got '3'"),
    _case("binary-tag-on-units", SHAPE + "layers:\n  - type: LSTM\n    units: !!binary aGk=\n", 2,
          "{f}:4:5: layer 1 (LSTM): argument 'units' must be an integer"),
    _case("date-as-units", SHAPE + "layers:\n  - type: LSTM\n    units: 2001-12-14\n", 2,
          "{f}:4:5: layer 1 (LSTM): argument 'units' must be an integer"),
    _case("omap-as-layers", SHAPE + "layers: !!omap [{a: 1}]\n", 2, "{f}:", "layer 1: must be a mapping"),
    _case("set-as-input-shape", "input_shape: !!set {3: null}\n" + LSTM, 2, "{f}:1:1: input_shape must be a list"),
    # Tagged scalars whose text the standard constructors cannot convert: the constructors raise
    # plain Python errors (not yaml.YAMLError); the loader reports them as located YAML errors.
    _case("bad-bool-tag", SHAPE + "layers:\n  - type: LSTM\n    units: !!bool maybe\n", 2, "{f}:4:12:"),
    _case("bad-int-tag", SHAPE + "layers:\n  - type: LSTM\n    units: !!int abc\n", 2, "{f}:4:12:"),
    _case("bad-float-tag", SHAPE + "layers:\n  - type: LSTM\n    units: !!float abc\n", 2, "{f}:4:12:"),
    _case("bad-timestamp-tag", SHAPE + "layers:\n  - type: LSTM\n    units: !!timestamp xx\n", 2, "{f}:4:12:"),
    _case("impossible-date", SHAPE + "layers:\n  - type: LSTM\n    units: 2001-02-30\n", 2, "{f}:4:12:"),
    _case("impossible-datetime", SHAPE + "layers:\n  - type: LSTM\n    units: 2001-13-01 10:00:00\n", 2, "{f}:4:12:"),
    _case("map-tag-on-a-sequence", SHAPE + "layers: !!map [1]\n", 2, "{f}:2:9:"),
    _case("seq-tag-on-a-mapping", SHAPE + "layers: !!seq {a: 1}\n", 2, "{f}:2:9: invalid YAML:"),
    # -- aliases --
    _case("recursive-alias", "a: &a [*a]\n", 2, "{f}:1:", "invalid YAML:", "recursive"),
    _case("recursive-alias-in-layer", SHAPE + "layers: &a\n  - type: LSTM\n    units: *a\n", 2,
          "{f}:", "invalid YAML:", "recursive"),
    _case("recursive-mapping", "a: &a {b: *a}\n", 2, "{f}:1:", "recursive"),
    _case("self-merge", "a: &a {<<: *a}\n", 2, "{f}:1:", "recursive"),
    _case("undefined-alias", SHAPE + "layers:\n  - <<: *nope\n    type: LSTM\n", 2,
          "{f}:3:9: invalid YAML: found undefined alias"),
    _case("alias-bomb-under-the-limit-as-units",  # 9**6 values: under any sane expansion limit, but the
          # message must still be one short line
          SHAPE + "layers:\n  - type: LSTM\n    kernel_initializer: [" + ", ".join(_bomb_anchors(depth=5))
          + "]\n    units: *b5\n", 2, "{f}:5:5: layer 1 (LSTM): argument 'units' must be an integer"),
    _case("alias-bomb-under-the-limit-as-model-name",
          "name: [" + ", ".join(_bomb_anchors(depth=5)) + "]\n" + SHAPE + LSTM, (0, 2)),
    _case("merge-of-a-scalar", SHAPE + "layers:\n  - <<: 5\n    type: LSTM\n", 2, "{f}:3:9: invalid YAML:"),
    # -- size, depth and encoding --
    _case("deep-flow-sequences", "[" * 10_000 + "]" * 10_000 + "\n", 2, "{f}:1:", "nest"),
    _case("deep-flow-sequences-under-layers", "layers: " + "[" * 10_000 + "]" * 10_000 + "\n", 2, "{f}:1:", "nest"),
    _case("deep-flow-mappings", "layers: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", 2, "{f}:1:", "nest"),
    _case("deep-block-sequences", "layers:\n" + "".join("  " * i + "-\n" for i in range(3_000)), 2, "{f}:"),
    _case("nested-bidirectional-20-deep",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: "
          + "{type: Bidirectional, layer: " * 20 + "{type: LSTM, units: 2}" + "}" * 20 + "\n",
          2, "{f}:4:", "layer 1 (Bidirectional)", "nested more than"),
    _case("empty-file", b"", 2, "{f}: empty file"),
    _case("whitespace-only", b"  \n\t\n   \n", 2, "{f}: empty file"),
    _case("comment-only", "# nothing here\n", 2, "{f}:1:1: a model spec must be a mapping with `layers:`"),
    _case("document-marker-only", "---\n...\n", 2, "{f}:1:1: a model spec must be a mapping"),
    _case("two-documents", "---\n" + SHAPE + "---\n" + LSTM, 2, "{f}:3:1: invalid YAML:"),
    _case("nul-bytes", b"layers:\x00\x01\x02\n", 2, "{f}: binary data"),
    _case("utf16", (SHAPE + LSTM).encode("utf-16"), 2, "{f}:"),
    _case("latin-1", "name: caf\xe9\n".encode("latin-1") + (SHAPE + LSTM).encode(), 2,
          "{f}: not UTF-8 text (bad byte at offset 9)"),
    _case("utf8-bom-is-fine", ("\ufeff" + SHAPE + LSTM).encode("utf-8"), 0),
    _case("control-character", SHAPE + "layers:\n  - type: LSTM\n    units: 3\x07\n", 2, "{f}:4:13:"),
    _case("escape-character", "name: a\x1bb\n" + SHAPE + LSTM, 2, "{f}:1:8:"),
    _case("tab-indentation", SHAPE + "layers:\n\t- type: LSTM\n", 2, "{f}:3:1: invalid YAML:"),
    _case("unclosed-bracket", "input_shape: [3, 4\n" + LSTM, 2, "{f}:2:", "invalid YAML:"),
    _case("directory", DIRECTORY, 2, "{f}: a directory, not a model file"),
    _case("missing-file", MISSING, 2, "{f}: no such file"),
    # -- the wrong shape of document --
    _case("top-level-list", "- 1\n- 2\n", 2, "{f}:1:1: a model spec must be a mapping with `layers:`, got a list"),
    _case("top-level-string", "hello\n", 2, "{f}:1:1:", "got the string 'hello'"),
    _case("top-level-number", "42\n", 2, "{f}:1:1:", "got the number 42"),
    _case("layers-missing", SHAPE, 2, "{f}:1:1: no `layers:` list"),
    _case("layers-empty", SHAPE + "layers: []\n", 2, "{f}:2:1: `layers:` must be a non-empty list"),
    _case("layers-null", SHAPE + "layers:\n", 2, "{f}:", "layers"),
    _case("layers-a-string", SHAPE + "layers: LSTM\n", 2, "{f}:2:1:", "got the string 'LSTM'"),
    _case("layers-a-mapping", SHAPE + "layers: {type: LSTM, units: 3}\n", 2, "{f}:2:1:", "got a mapping"),
    _case("layers-contains-a-string", SHAPE + "layers: [LSTM]\n", 2,
          "{f}:2:", "layer 1: must be a mapping with a `type:`, got the string 'LSTM'"),
    _case("second-entry-a-string-is-located",
          SHAPE + "layers:\n  - {type: LSTM, units: 3, return_sequences: true}\n  - LSTM\n", 2,
          "{f}:4:5: layer 2: must be a mapping"),
    _case("null-entry", SHAPE + "layers:\n  - {type: LSTM, units: 3}\n  -\n", 2, "{f}:", "layer 2:", "got nothing"),
    _case("layer-without-type", SHAPE + "layers:\n  - units: 3\n", 2, "{f}:3:5: layer 1: needs a `type:`"),
    _case("type-null", SHAPE + "layers:\n  - type: null\n    units: 3\n", 2, "{f}:3:5: layer 1: needs a `type:`"),
    _case("type-empty", SHAPE + "layers:\n  - type: ''\n", 2, "{f}:3:5: layer 1: needs a `type:`"),
    _case("type-a-list", SHAPE + "layers:\n  - type: [LSTM]\n", 2, "{f}:3:5: layer 1: needs a `type:`"),
    _case("unknown-type", SHAPE + "layers:\n  - type: Denes\n    units: 3\n", 2,
          "{f}:3:5: layer 1: unknown keras layer type 'Denes'; did you mean 'Dense'?"),
    _case("unknown-top-level-key", SHAPE + "layer: [{type: LSTM, units: 3}]\n", 2,
          "{f}:2:1: unknown top-level key 'layer'; did you mean 'layers'?"),
    _case("integer-top-level-key", "5: x\n" + SHAPE + LSTM, 2, "{f}:1:1: unknown top-level key 5"),
    _case("list-as-a-key", "? [a]\n: 1\n" + LSTM, 2, "{f}:1:3: invalid YAML:", "key"),
    _case("duplicate-top-level-key", SHAPE + SHAPE + LSTM, 2, "{f}:2:1: invalid YAML: duplicate key 'input_shape'"),
    _case("duplicate-layer-key", SHAPE + "layers:\n  - type: LSTM\n    units: 3\n    units: 4\n", 2,
          "{f}:5:5: invalid YAML: duplicate key 'units'"),
    _case("integer-argument-name", SHAPE + "layers:\n  - {type: LSTM, units: 3, 5: 6}\n", 2,
          "{f}:3:28: layer 1 (LSTM): LSTM takes no argument '5'"),
    _case("layer-name-with-control-characters",  # shown escaped, as Python writes a string
          SHAPE + 'layers:\n  - {type: LSTM, name: "en\\x1bc\\u202e", units: 2.5}\n', 2,
          "{f}:3:41: layer 1 'en\\x1bc\\u202e' (LSTM): argument 'units' must be an integer, got 2.5\n"),
    _case("duplicate-layer-names",
          SHAPE + "layers:\n  - {type: LSTM, units: 3, return_sequences: true, name: a}\n"
          "  - {type: LSTM, units: 3, name: a}\n", 2,
          "{f}:4:", "layer 2 'a' (LSTM): argument 'name': 'a' is already the name of another layer"),
    # -- argument types and ranges --
    *[_case(f"units-{tag}", SHAPE + f"layers:\n  - type: LSTM\n    units: {value}\n", 2,
            f"{{f}}:4:5: layer 1 (LSTM): argument 'units' must be {want}")
      for tag, value, want in [("true", "true", "an integer, got true"), ("7.5", "7.5", "an integer, got 7.5"),
                               ("quoted", '"75"', "an integer, got '75'"), ("-3", "-3", "at least 1, got -3"),
                               ("0", "0", "at least 1, got 0"), ("null", "null", "an integer, got null"),
                               ("list", "[75]", "an integer, got [75]"), ("inf", ".inf", "an integer"),
                               ("nan", ".nan", "an integer")]],
    _case("units-missing", SHAPE + "layers:\n  - type: LSTM\n", 2,
          "{f}:3:5: layer 1 (LSTM): LSTM needs the argument 'units'"),
    _case("units-5000-digits", SHAPE + "layers:\n  - type: LSTM\n    units: 1" + "0" * 5000 + "\n", 2, "{f}:4:"),
    _case("units-4000-hex-digits", SHAPE + "layers:\n  - type: LSTM\n    units: 0x" + "f" * 4000 + "\n", (0, 2)),
    _case("negative-4000-hex-digits", SHAPE + "layers:\n  - type: LSTM\n    units: -0x" + "f" * 4000 + "\n", 2,
          "{f}:4:5: layer 1 (LSTM): argument 'units'"),
    _case("input-shape-4000-hex-digits", "input_shape: [3, 0x" + "f" * 4000 + "]\n" + LSTM, (0, 2)),
    _case("input-shape-bad-entry", 'input_shape: [28, "a"]\n' + LSTM, 2,
          "{f}:1:19: input_shape entries must be positive integers up to 1,000,000,000,000 or null, "
          "got the string 'a'"),
    _case("input-shape-a-string", "input_shape: 28x28\n" + LSTM, 2, "{f}:1:1: input_shape must be a list"),
    _case("input-shape-empty", "input_shape: []\n" + LSTM, 2, "{f}:1:1: input_shape must be a list"),
    _case("input-shape-zero", "input_shape: [0, 5]\n" + LSTM, 2, "{f}:1:15: input_shape entries must be positive"),
    _case("input-shape-bool", "input_shape: [true, 5]\n" + LSTM, 2, "{f}:1:15:", "got the boolean true"),
    _case("input-shape-missing", LSTM, 2, "{f}:1:1: a keras model needs `input_shape:`"),
    _case("input-dtype-a-number", "input_dtype: 5\n" + SHAPE + LSTM, 2, "{f}:1:1: input_dtype must be"),
    # -- layer semantics --
    _case("reset-after-on-lstm", SHAPE + "layers:\n  - type: LSTM\n    units: 3\n    reset_after: true\n", 2,
          "{f}:5:5: layer 1 (LSTM): LSTM takes no argument 'reset_after' (it is an argument of GRU, GRUCell)"),
    _case("proj-size-equal-hidden",
          "framework: pytorch\nlayers:\n  - type: LSTM\n    input_size: 3\n    hidden_size: 4\n    proj_size: 4\n",
          2, "{f}:6:5: layer 1 (LSTM): argument 'proj_size'", "smaller than hidden_size (4), got 4"),
    _case("proj-size-above-hidden",
          "framework: pytorch\nlayers:\n  - {type: nn.LSTM, input_size: 3, hidden_size: 4, proj_size: 9}\n",
          2, "{f}:3:", "layer 1 (LSTM): argument 'proj_size'", "smaller than hidden_size (4), got 9"),
    _case("conv1d-kernel-bigger-than-input",
          "input_shape: [5, 3]\nlayers:\n  - type: Conv1D\n    filters: 4\n    kernel_size: 9\n", 2,
          "{f}:5:5: layer 1 (Conv1D): argument 'kernel_size'", "does not fit an axis of length 5"),
    _case("convlstm2d-rank3-input",
          "input_shape: [5, 8, 3]\nlayers:\n  - type: ConvLSTM2D\n    filters: 4\n    kernel_size: 3\n", 2,
          "{f}:3:5: layer 1 (ConvLSTM2D):", "(5, 8, 3)"),
    _case("bidirectional-dense",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: {type: Dense, units: 3}\n", 2,
          "{f}:4:5: layer 1 (Bidirectional): argument 'layer'", "Dense"),
    _case("bidirectional-layer-a-string",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: LSTM\n", 2,
          "{f}:4:", "layer 1", "must be a mapping"),
    _case("bidirectional-merge-null-then-dense",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    merge_mode: null\n"
          "    layer: {type: LSTM, units: 3}\n  - type: Dense\n    units: 2\n", 2,
          "{f}:6:5: layer 2 (Dense):", "input shape is unknown"),
    _case("bidirectional-of-bidirectional-merge-null",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer:\n      type: Bidirectional\n"
          "      merge_mode: null\n      layer: {type: LSTM, units: 3}\n", (0, 2)),
    _case("bidirectional-backward-layer-same-way",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: {type: LSTM, units: 3}\n"
          "    backward_layer: {type: LSTM, units: 3}\n", 2,
          "{f}:5:5: layer 1 (Bidirectional): argument 'backward_layer': the backward layer must run the other way"),
    _case("bidirectional-backward-layer-other-width",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: {type: LSTM, units: 3}\n"
          "    backward_layer: {type: GRU, units: 4, go_backwards: true}\n", 2,
          "{f}:5:5: layer 1 (Bidirectional): argument 'backward_layer': the backward layer's output (4,)"),
    _case("bidirectional-backward-layer-not-recurrent",
          "input_shape: [5, 3]\nlayers:\n  - type: Bidirectional\n    layer: {type: LSTM, units: 3}\n"
          "    backward_layer: {type: Dense, units: 3}\n", 2,
          "{f}:5:5: layer 1 (Bidirectional): argument 'backward_layer': wraps a recurrent layer"),
    _case("reshape-impossible", "input_shape: [5, 3]\nlayers:\n  - type: Reshape\n    target_shape: [4, 4]\n", 2,
          "{f}:4:5: layer 1 (Reshape): argument 'target_shape'", "15"),
    _case("reshape-two-wildcards", "input_shape: [5, 3]\nlayers:\n  - type: Reshape\n    target_shape: [-1, -1]\n",
          2, "{f}:4:5: layer 1 (Reshape): argument 'target_shape'"),
    _case("reshape-indivisible", "input_shape: [5, 3]\nlayers:\n  - type: Reshape\n    target_shape: [-1, 4]\n",
          2, "{f}:4:5: layer 1 (Reshape): argument 'target_shape'"),
    _case("unknown-framework", "framework: mxnet\n" + SHAPE + LSTM, 2,
          "{f}:1:1: framework must be one of keras, pytorch, got the string 'mxnet'"),
    _case("framework-a-number", "framework: 5\n" + SHAPE + LSTM, 2, "{f}:1:1: framework must be one of"),
    _case("keras-layer-in-pytorch", "framework: pytorch\n" + LSTM, 2,
          "{f}:2:", "layer 1 (LSTM): LSTM needs the argument"),
    _case("expect-total-a-string", SHAPE + LSTM + 'expect: {total: "x"}\n', 2,
          "{f}:3:10: expect.total must be a non-negative integer, got the string 'x'"),
    _case("expect-a-list", SHAPE + LSTM + "expect: [1]\n", 2, "{f}:3:1: expect must be a mapping"),
    _case("expect-unknown-key", SHAPE + LSTM + "expect: {totl: 5}\n", 2,
          "{f}:3:10: unknown expect key 'totl'; did you mean 'total'?"),
    _case("expect-layers-a-list", SHAPE + LSTM + "expect: {layers: [1]}\n", 2, "{f}:3:10: expect.layers must map"),
    # -- long strings: a message quotes what it must, not 100,000 characters of it --
    _case("long-value", SHAPE + "layers: [{type: LSTM, units: " + "x" * 100_000 + "}]\n", 2,
          "{f}:2:", "argument 'units' must be an integer"),
    *[_case(f"long-{tag}", text, 2, "{f}:")
      for tag, what, text in [
          ("type", "layer type", SHAPE + "layers: [{type: " + "x" * 100_000 + "}]\n"),
          ("framework", "framework", "framework: " + "x" * 100_000 + "\n" + SHAPE + LSTM),
          ("input-shape-entry", "input_shape entry", "input_shape: [3, " + "x" * 100_000 + "]\n" + LSTM),
          ("top-level-key", "top-level key", "? " + "x" * 100_000 + "\n: 1\n" + SHAPE + LSTM),
          ("argument-name", "argument name",
           SHAPE + "layers:\n  - type: LSTM\n    units: 3\n    ? " + "x" * 100_000 + "\n    : 1\n"),
          ("duplicate-layer-name", "layer name",
           SHAPE + "layers:\n  - {type: LSTM, units: 3, return_sequences: true, name: " + "x" * 100_000
           + "}\n  - {type: LSTM, units: 3, name: " + "x" * 100_000 + "}\n"),
      ]],
    # -- many problems at once --
    _case("sixty-misspelled-arguments", _sixty(lambda i: f"{{type: LSTM, unitz: {i + 1}}}"), 2,
          "{f}:3:", "LSTM takes no argument 'unitz'; did you mean 'units'?", "stopping after 50 problems"),
    _case("sixty-unknown-types", _sixty(lambda i: f"{{type: Bogus{i}}}"), 2,
          "unknown keras layer type 'Bogus0'", "stopping after 50 problems"),
    _case("sixty-string-entries", _sixty(lambda i: "LSTM"), 2, "stopping after"),
]


@pytest.mark.parametrize(("content", "codes", "fragments"), CORPUS)
def test_corpus(cli, tmp_path, content, codes, fragments):
    path = tmp_path / "spec.yaml"
    if content is DIRECTORY:
        path.mkdir()
    elif content is MISSING:
        pass
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    r = cli("params", str(path))
    assert not (tmp_path / "pwned").exists(), "code from the YAML ran"
    assert_clean(r, str(path), codes)
    for fragment in fragments:
        assert fragment.replace("{f}", str(path)) in r.stderr, r.stderr[-3000:]
    if "stopping after" in "".join(fragments):
        assert len(located_problems(r.stderr)) <= 55, "the run should stop after about 50 problems"


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "<stdin>: empty file"),
    ("!!python/object/apply:os.system [true]\n", "<stdin>:1:1: invalid YAML:"),
    ("a: &a [*a]\n", "<stdin>:1:"),
    ("- 1\n", "<stdin>:1:1: a model spec must be a mapping"),
    (SHAPE + "layers:\n  - type: LSTM\n    units: 7.5\n", "<stdin>:4:5: layer 1 (LSTM): argument 'units'"),
])
def test_stdin_corpus(cli, text, fragment):
    r = cli("params", "-", input=text)
    assert_clean(r, "<stdin>", (2,))
    assert fragment in r.stderr


def test_many_problems_are_capped_and_counted(cli, tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(_sixty(lambda i: f"{{type: LSTM, unitz: {i + 1}}}"))
    r = cli("params", str(path))
    assert r.exit_code == 2
    problems = located_problems(r.stderr)
    assert 45 <= len(problems) <= 50
    assert problems[0].startswith(f"{path}:3:")  # in file order
    assert f"{path}: stopping after" in r.stderr


# --- --output targets -------------------------------------------------------------------------------


def test_output_empty_path(cli, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    r = cli("params", "-u", "3", "-i", "4", "-O", "")
    assert_clean(r, None, (2,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_output_trailing_slash(cli, tmp_path):
    r = cli("params", "-u", "3", "-i", "4", "-O", f"{tmp_path}/new.json/")
    assert_clean(r, None, (2,))
    assert [p.name for p in tmp_path.iterdir()] == []


def test_output_to_a_fifo_keeps_the_fifo(cli, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that a writer never blocks
    try:
        r = cli("params", "-u", "3", "-i", "4", "--json", "-O", str(fifo))
        assert_clean(r, None)
        assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a regular file"
    finally:
        os.close(reader)


# --- runs that need a real process: a time limit and a memory limit ----------------------------------

@dataclass(frozen=True)
class Spawn:
    id: str
    args: tuple[str, ...]  # "{f}" is the spec file written from `content`
    content: str | bytes | None = None
    stdin: bytes | None = None
    codes: tuple[int, ...] = (2,)
    fragments: tuple[str, ...] = ()
    xfail: str | None = None


def _bomb_file(use: str, layer_extra: str = "") -> str:
    anchors = ", ".join(_bomb_anchors())
    return (SHAPE + "layers:\n  - type: LSTM\n    kernel_initializer: [" + anchors + "]\n"
            + use + layer_extra)


_CLASSIC_BOMB = "".join(f"lol{i}: {a}\n" for i, a in enumerate(_bomb_anchors())) + SHAPE + LSTM
_X_BOMB = "".join(f"x-lol{i}: {a}\n" for i, a in enumerate(_bomb_anchors())) + SHAPE + LSTM
_HUGE = b"# " + b"x" * (16 * 1024 * 1024 + 16) + b"\n" + (SHAPE + LSTM).encode()

SPAWNS = [
    Spawn("billion-laughs-top-level", ("params", "{f}"), _CLASSIC_BOMB, codes=(2,),
          fragments=("{f}:",)),
    Spawn("billion-laughs-x-keys", ("params", "--json", "{f}"), _X_BOMB, codes=(0, 2)),
    Spawn("billion-laughs-in-an-any-argument", ("params", "--json", "{f}"), _bomb_file("    units: 3\n"),
          codes=(0, 2), fragments=()),
    Spawn("billion-laughs-as-units", ("params", "{f}"), _bomb_file("    units: *b9\n"), fragments=("{f}:",)),
    Spawn("billion-laughs-as-layer-name", ("params", "{f}"), _bomb_file("    units: 3\n    name: *b9\n"),
          fragments=("{f}:",)),
    Spawn("billion-laughs-as-model-name", ("params", "{f}"),
          "name: [" + ", ".join(_bomb_anchors()) + "]\n" + SHAPE + LSTM, fragments=("{f}:",)),
    Spawn("file-over-16-MiB", ("params", "{f}"), _HUGE, fragments=("{f}: larger than 16 MiB",)),
    Spawn("stdin-over-16-MiB", ("params", "-"), stdin=_HUGE, fragments=("<stdin>: larger than 16 MiB",)),
    Spawn("deep-nesting-in-a-process", ("params", "{f}"), "layers: " + "[" * 10_000 + "]" * 10_000 + "\n",
          fragments=("{f}:1:",)),
    Spawn("pytorch-num-layers-1e9", ("params", "--json", "{f}"),
          "framework: pytorch\nlayers:\n  - {type: LSTM, input_size: 1, hidden_size: 1, num_layers: 1000000000}\n",
          codes=(0, 2)),
    Spawn("flag-num-layers-1e8", ("params", "-u", "3", "-i", "4", "--num-layers", "100000000"), codes=(0, 2)),
    Spawn("max-layers-table", ("params", "{f}"), SHAPE.replace("[3, 4]", "[3]") + "layers:\n"
          + "  - {type: Dense, units: 3}\n" * 20_000, codes=(0,)),
    Spawn("dangling-references", ("params", "{f}"), "framework: keras\ninputs:\n  a: [null, 3]\nlayers:\n"
          + "".join(f"  - {{type: Dense, name: d{k}, units: 3, inputs: x{k}}}\n" for k in range(1_000))
          + "outputs: [d0]\n", fragments=("{f}:5:39: layer 1 'd0' (Dense): no layer or input is called 'x0'\n",
                                           "{f}: stopping after 50 problems\n50 problems\n")),
    Spawn("near-16-MiB-input-shape", ("params", "--json", "{f}"),
          "input_shape: [" + ", ".join(["1"] * 5_000_000) + "]\nlayers: [{type: Dropout, rate: 0.1}]\n",
          codes=(0, 2)),
]


@pytest.fixture(scope="module")
def spawned(tmp_path_factory) -> dict[str, tuple[Spawned, str]]:
    """Every Spawn, run at once (each with its spec file written from `content`) -> (run, spec path)."""
    folder = tmp_path_factory.mktemp("spawned")
    jobs, paths = {}, {}
    for case in SPAWNS:
        path = folder / f"{case.id}.yaml"
        if case.content is not None:
            path.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode())
        jobs[case.id] = ([a.replace("{f}", str(path)) for a in case.args], case.stdin or b"")
        paths[case.id] = str(path)
    return {cid: (run, paths[cid]) for cid, run in spawn_all(jobs, folder).items()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                                               if c.xfail else []) for c in SPAWNS])
def test_spawned(spawned, case):
    r, path = spawned[case.id]
    assert r.code is not None, f"still running after {SPAWN_TIMEOUT:.0f} s (killed)"
    assert "MemoryError" not in r.stderr, f"needed more than {SPAWN_MEMORY >> 20} MiB"

    class Result:
        exit_code = r.code
        stderr = r.stderr

    name = path if case.content is not None else ("<stdin>" if case.stdin is not None else None)
    assert_clean(Result, name, case.codes)
    for fragment in case.fragments:
        assert fragment.replace("{f}", path) in r.stderr, r.stderr[-3000:]


# --- 2. fuzzing -------------------------------------------------------------------------------------

try:
    from lstmcount.conventions import FRAMEWORKS

    KIND_ARGS = {fw: {name: tuple(kind.args) + tuple(table.common) for name, kind in table.kinds.items()}
                 for fw, table in FRAMEWORKS.items()}
except Exception:  # pragma: no cover - the tables moved; fall back to a fixed list
    KIND_ARGS = {"keras": {"LSTM": ("units", "return_sequences")}, "pytorch": {"LSTM": ("input_size", "hidden_size")}}

CLASS_NAMES = sorted({name for kinds in KIND_ARGS.values() for name in kinds})
ARG_NAMES = sorted({arg for kinds in KIND_ARGS.values() for args in kinds.values() for arg in args})
CHOICES = ["valid", "same", "causal", "concat", "sum", "mul", "ave", "channels_first", "channels_last", "tanh",
           "relu", "sigmoid", "softmax", "float32", "int32", "glorot_uniform", "CONCAT", "Same"]
JUNK_NAMES = ["", " ", "Denes", "lstm", "LSTM ", "nn.LSTM", "torch.nn.GRU", "keras.layers.Dense", "layers.LSTM",
              "tf.keras.layers.SimpleRNN", "nn.", "__class__", "type", "x" * 50, "ŁSTM", "\u200bLSTM"]

small_int = st.integers(-2, 12)
ints = st.one_of(small_int, st.integers(-100, 300), st.sampled_from([2**31, 10**15, -(10**9)]))
scalars = st.one_of(
    small_int, ints, st.booleans(), st.none(), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(CHOICES), st.sampled_from(JUNK_NAMES), st.text(max_size=8),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=8)
plausible = st.one_of(st.integers(1, 9), st.booleans(), st.sampled_from(CHOICES), st.none(),
                      st.lists(st.integers(1, 4), min_size=1, max_size=3), st.floats(0, 1))
type_names = st.one_of(st.sampled_from(CLASS_NAMES), st.sampled_from(JUNK_NAMES),
                       st.sampled_from(CLASS_NAMES).map(str.lower), values)


def _tame(args: dict[Any, Any]) -> dict[Any, Any]:
    """Keep the fuzz quick: num_layers is bounded (10,000) but deep stacks cost time, not coverage."""
    n = args.get("num_layers")
    if isinstance(n, int) and not isinstance(n, bool) and n > 64:
        args["num_layers"] = 64
    return args


@st.composite
def layers(draw: st.DrawFn, depth: int = 0) -> Any:
    how = draw(st.integers(0, 9))
    if how == 0:
        return draw(values)  # not a mapping at all
    fw = draw(st.sampled_from(sorted(KIND_ARGS)))
    kind = draw(st.sampled_from(sorted(KIND_ARGS[fw])))
    if how <= 6:  # the class's own arguments, mostly sensible values
        names = draw(st.lists(st.sampled_from(KIND_ARGS[fw][kind]), max_size=5, unique=True))
        args: dict[Any, Any] = {n: draw(plausible) for n in names}
        for required in ("units", "filters", "input_size", "hidden_size", "in_features", "out_features",
                         "kernel_size", "rate", "target_shape", "n", "input_dim", "output_dim"):
            if required in KIND_ARGS[fw][kind] and draw(st.booleans()):
                args[required] = draw(st.integers(1, 6))
    else:  # anything in any argument
        keys = st.one_of(st.sampled_from(ARG_NAMES), st.text(max_size=6), small_int)
        args = draw(st.dictionaries(keys, values, max_size=5))
    if "layer" in KIND_ARGS[fw][kind] and depth < 3 and draw(st.booleans()):
        args["layer"] = draw(layers(depth + 1))
    if draw(st.integers(0, 4)):
        args["type"] = kind if how <= 6 else draw(type_names)
    return _tame(args)


shapes = st.one_of(st.lists(st.one_of(st.integers(1, 8), st.none()), min_size=1, max_size=4),
                   st.lists(st.integers(1, 8), min_size=1, max_size=4), values)


@st.composite
def specs(draw: st.DrawFn) -> dict[Any, Any]:
    spec: dict[Any, Any] = {}
    if draw(st.booleans()):
        spec["framework"] = draw(st.one_of(st.sampled_from(["keras", "pytorch", "torch", "Keras", "tensorflow"]),
                                           values))
    if draw(st.integers(0, 5)):
        spec["input_shape"] = draw(shapes)
    if draw(st.integers(0, 9)):
        spec["layers"] = draw(st.one_of(st.lists(layers(), min_size=1, max_size=5), values))
    for key, strategy in [("name", values), ("input_dtype", values),
                          ("expect", st.dictionaries(st.sampled_from(["total", "trainable", "max_total", "layers",
                                                                      "totl"]), values, max_size=2)),
                          ("layer", values), ("", values)]:
        if not draw(st.integers(0, 7)):
            spec[key] = draw(strategy)
    return spec


RECURRENT = {"LSTM": {}, "GRU": {"reset_after": st.booleans()}, "SimpleRNN": {}}


@st.composite
def keras_models(draw: st.DrawFn) -> dict[Any, Any]:
    """Mostly valid Keras stacks, so that the counts themselves get fuzzed too."""
    out: list[dict[str, Any]] = []
    n = draw(st.integers(1, 4))
    for k in range(n):
        kind = draw(st.sampled_from(sorted(RECURRENT)))
        layer: dict[str, Any] = {"type": kind, "units": draw(st.integers(1, 9)), "return_sequences": k < n - 1}
        if draw(st.booleans()):
            layer["use_bias"] = draw(st.booleans())
        for arg, strategy in RECURRENT[kind].items():
            if draw(st.booleans()):
                layer[arg] = draw(strategy)
        if draw(st.booleans()):
            layer = {"type": "Bidirectional", "layer": layer,
                     "merge_mode": draw(st.sampled_from(["concat", "sum", "mul", "ave"]))}
        out.append(layer)
    if draw(st.booleans()):
        out.append({"type": "Dense", "units": draw(st.integers(1, 9))})
    steps = draw(st.one_of(st.none(), st.integers(1, 30)))
    return {"framework": "keras", "input_shape": [steps, draw(st.integers(1, 30))], "layers": out}


@st.composite
def torch_models(draw: st.DrawFn) -> dict[Any, Any]:
    out: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "nn.LSTM"]))
        hidden = draw(st.integers(1, 12))
        layer: dict[str, Any] = {"type": kind, "input_size": draw(st.integers(1, 12)), "hidden_size": hidden}
        if draw(st.booleans()):
            layer["bias"] = draw(st.booleans())
        if "Cell" not in kind:
            layer["num_layers"] = draw(st.integers(1, 3))
            layer["bidirectional"] = draw(st.booleans())
            if kind.endswith("LSTM") and hidden > 1 and draw(st.booleans()):
                layer["proj_size"] = draw(st.integers(1, hidden - 1))
        out.append(layer)
    return {"framework": "pytorch", "layers": out}


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[Any, Any]]) -> dict[Any, Any]:
    """A mostly valid model with, sometimes, one value or key replaced by junk."""
    spec = draw(base)
    if draw(st.integers(0, 2)) == 0:
        layer = draw(st.sampled_from(spec["layers"]))
        target = layer.get("layer", layer) if draw(st.booleans()) else layer
        key = draw(st.one_of(st.sampled_from(sorted(target)), st.sampled_from(ARG_NAMES)))
        target[key] = draw(values)
    return spec


def check_report(data: dict[str, Any]) -> None:
    assert data["total"] == sum(layer["params"] for layer in data["layers"])
    assert data["trainable"] + data["non_trainable"] == data["total"]
    for layer in data["layers"]:
        assert layer["params"] == sum(w["params"] for w in layer["weights"]), layer["name"]
        for w in layer["weights"]:
            assert w["params"] == math.prod(w["shape"]), (layer["name"], w)
        if "gates" in layer:
            gates = sum(g["params"] for g in layer["gates"])
            extras = sum(e["params"] for e in layer["extras"])
            assert layer["params"] == gates + extras, layer["name"]
            for g in layer["gates"]:
                assert g["params"] == g["kernel"] + g["recurrent_kernel"] + g["bias"], (layer["name"], g)


FUZZ_EXAMPLES = int(os.environ.get("LSTMCOUNT_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])


@FUZZ
@given(spec=st.one_of(specs(), mutated(keras_models()), mutated(torch_models())))
def test_fuzz_spec(cli, spec):
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    r = cli("params", "-", "--json", input=text)
    event(f"exit {r.exit_code}")
    assert_clean(r, "<stdin>")
    if r.exit_code == 0:
        check_report(json.loads(r.stdout))
    else:
        assert r.stdout == ""


@settings(max_examples=int(os.environ.get("LSTMCOUNT_FUZZ_REAL", "30")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=st.one_of(mutated(keras_models()), mutated(torch_models())))
def test_fuzz_counts_agree_with_the_real_frameworks(cli, spec):
    """A sample of the fuzzed specs that lstmcount accepts, built in the real Keras or PyTorch."""
    from .frameworks import real_check

    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    r = cli("params", "-", "--json", input=text)
    assert_clean(r, "<stdin>")
    event(f"exit {r.exit_code}")
    if r.exit_code == 0:
        total = json.loads(r.stdout)["total"]
        # beyond this no framework here can even describe the tensors (PyTorch's meta device overflows its
        # storage size): lstmcount's count stands, and verify refuses such a model by its memory limit
        assume(max((w["params"] for layer in json.loads(r.stdout)["layers"] for w in layer["weights"]),
                   default=0) < 2**40)
        res = real_check(text)
        assert res.native_total == total


NUMBERS = st.one_of(st.integers(-3, 200).map(str), st.sampled_from(["0", "1", "10" + "0" * 30, "-0", "0x10", "1.5",
                                                                    "", " ", "abc", "1e3", "--json", "٣"]))
CHOICE_FLAGS = {
    "--type": ["lstm", "gru", "rnn", "LSTM", "Gru", "simplernn", "", "x"],
    "-t": ["lstm", "gru", "rnn", "cnn"],
    "--framework": ["keras", "pytorch", "PyTorch", "torch", "tensorflow", ""],
    "-f": ["keras", "pytorch", "jax"],
    "--dtype": ["float64", "float32", "float16", "bfloat16", "int8", "FLOAT16", "int4", ""],
    "--format": ["table", "json", "markdown", "csv", "JSON", "yaml", ""],
    "-o": ["table", "json", "markdown", "csv", "html"],
}
NUMBER_FLAGS = ["--units", "-u", "--input", "-i", "--proj-size"]
SWITCHES = ["--bidirectional", "--no-bias", "--reset-after", "--no-reset-after", "--json", "--check", "--version",
            "--help", "--bogus"]


@st.composite
def flag_lists(draw: st.DrawFn, out_dir: Path) -> list[str]:
    args: list[str] = []
    if draw(st.booleans()):  # a valid layer to start from, so that the other flags matter
        args += ["-u", str(draw(st.integers(1, 99))), "-i", str(draw(st.integers(1, 99)))]
    for _ in range(draw(st.integers(0, 6))):
        which = draw(st.integers(0, 5))
        if which == 0:
            flag = draw(st.sampled_from(sorted(CHOICE_FLAGS)))
            args += [flag, draw(st.one_of(st.sampled_from(CHOICE_FLAGS[flag]), st.text(max_size=4)))]
        elif which <= 2:
            args += [draw(st.sampled_from(NUMBER_FLAGS)), draw(NUMBERS)]
        elif which == 3:
            # bounded: a huge --num-layers is the known unbounded loop (see test_spawned)
            args += ["--num-layers", draw(st.one_of(st.integers(-2, 40).map(str), st.sampled_from(["x", "1.0"])))]
        elif which == 4:
            args.append(draw(st.sampled_from(SWITCHES)))
        else:
            args += ["-O", str(out_dir / draw(st.sampled_from(["out.txt", "sub/out.txt", "."])))]
    if draw(st.integers(0, 3)) == 0:
        where = draw(st.integers(0, len(args)))
        config = draw(st.sampled_from([str(CONFIGS[0]), "-", "missing.yaml", str(ROOT / "configs")]))
        args.insert(where, config)
    return ["params", *args]


@settings(FUZZ, max_examples=FUZZ_EXAMPLES * 3 // 4)
@given(data=st.data())
def test_fuzz_flags(cli, tmp_path, data):
    args = data.draw(flag_lists(tmp_path))
    r = cli(*args)
    codes = (0, 1, 2) if "--check" in args else (0, 2)
    event(f"exit {r.exit_code}")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.exit_code in codes, (args, r.exit_code, r.stderr[-2000:])
    # "--json" asks for JSON unless it was taken as the value of the flag before it (`--input --json`)
    value_flags = {*NUMBER_FLAGS, *CHOICE_FLAGS, "-O"}
    asks_json = any(a == "--json" and (i == 0 or args[i - 1] not in value_flags) for i, a in enumerate(args))
    if r.exit_code == 0 and asks_json and "-O" not in args and "--help" not in args and "--version" not in args:
        check_report(json.loads(r.stdout))


def test_reading_a_spec_leaves_the_collector_as_it_was():
    """Reading pauses Python's cycle collector (it doubled the time of a large spec) and puts it back,
    also when the file is refused."""
    import gc

    from lstmcount import SpecError
    from lstmcount.inputs import loads

    good, bad = "input_shape: [null, 3]\nlayers: [{type: LSTM, units: 4}]\n", "layers: [unclosed\n"
    assert gc.isenabled()
    assert loads(good).layers[0].args == {"units": 4}
    assert gc.isenabled()
    with pytest.raises(SpecError):
        loads(bad)
    assert gc.isenabled()
    gc.disable()
    try:
        loads(good)
        with pytest.raises(SpecError):
            loads(bad)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(("layer", "said"), [
    ("{type: Bidirectional, name: bi, layer: {type: GRU, units: 2.5, name: inner}}",
     "layer 1 'bi' (Bidirectional): its layer 'inner' (GRU): argument 'units' must be an integer, got 2.5"),
    ("{type: TimeDistributed, layer: {type: Dense, units: -1}}",
     "layer 1 (TimeDistributed): its layer (Dense): argument 'units' must be at least 1, got -1"),
    ("{type: RNN, cell: {type: LSTMCell, units: 0}}",
     "layer 1 (RNN): its cell (LSTMCell): argument 'units' must be at least 1, got 0"),
    ("{type: Bidirectional, name: outer, layer: {type: RNN, cell: {type: GRUCell, units: 1.5}}}",
     "layer 1 'outer' (Bidirectional): its layer (RNN): its cell (GRUCell): argument 'units' must be an "
     "integer, got 1.5"),
])
def test_a_nested_layers_problem_names_its_wrapper(cli, tmp_path, layer, said):
    """A problem inside a wrapper's layer (Bidirectional, TimeDistributed, RNN's cell) says which layer
    it is nested in, and under which argument, however deep."""
    spec = tmp_path / "nested.yaml"
    spec.write_text(f"input_shape: [5, 3]\nlayers:\n  - {layer}\n")
    r = cli("params", str(spec))
    assert r.exit_code == 2
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"{spec}:3:") and line.split(": ", 1)[1] == said, line
