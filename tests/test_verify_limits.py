"""verify refuses, before it imports or builds anything, a model beyond its limits: the weights' memory
at each layer's own dtype (--max-memory) and the number of layers (--max-layers), naming the flag."""

from __future__ import annotations

import pytest

from lstmcount.render import human_bytes


def _spec(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(("dtype", "bytes_each"), [("float64", 8), ("float32", 4), ("float16", 2),
                                                   ("mixed_float16", 4), (None, 4)])
def test_memory_is_counted_at_each_layers_dtype(cli, tmp_path, dtype, bytes_each):
    params = 4 * ((8 + 2000) * 2000 + 2000)
    dt = f", dtype: {dtype}" if dtype else ""
    path = _spec(tmp_path, f"input_shape: [null, 8]\nlayers:\n- {{type: LSTM, units: 2000{dt}}}\n")
    limit = params * bytes_each  # exactly at the limit: allowed; one byte less: refused
    r = cli("verify", path, "--max-memory", str(limit - 1))
    assert r.exit_code == 2
    assert f"allocate {human_bytes(params * bytes_each)} of weights ({params:,} parameters), over the" in r.stderr
    assert "raise it with --max-memory" in r.stderr


def test_nested_models_count_their_own_layers_dtype(cli, tmp_path):
    path = _spec(tmp_path, "inputs: {x: [null, 8]}\nlayers:\n- type: Sequential\n  inputs: x\n  layers:\n"
                           "  - {type: Dense, units: 1000, dtype: float64}\n")
    r = cli("verify", path, "--max-memory", str(9000 * 8 - 1))
    assert r.exit_code == 2 and "70.31 KiB of weights (9,000 parameters)" in r.stderr


def test_layer_limit(cli, tmp_path):
    path = _spec(tmp_path, "input_shape: [4]\nlayers:\n" + "- {type: Dense, units: 4}\n" * 30)
    r = cli("verify", path, "--max-layers", "29")
    assert r.exit_code == 2
    assert r.stderr.strip().endswith("it has 30 layers, over the limit of 29 that verify builds; raise it with "
                                     "--max-layers if you mean it")
