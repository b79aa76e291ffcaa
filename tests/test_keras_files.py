"""Keras model files as graphs: models built and saved with the real Keras 3 (`keras`) and Keras 2
(`tf_keras`), read back by lstmcount without a framework, and checked layer by layer against the
saving Keras's own `count_params()` and output shapes."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.filterwarnings("ignore")


# --- --layer on a graph: the layer named, not the entry at its position ---------------------------

GRAPH = """\
framework: keras
inputs:
  a: [null, 5]
layers:
  - {type: LSTM, name: enc, units: 4, return_sequences: true, inputs: a}
  - {type: GRU, name: dec, units: 3, inputs: enc}
  - {reuse: dec, inputs: enc}
outputs: [dec, dec#2]
"""


def _lstm(u: int, i: int) -> int:
    return 4 * (u * (i + u) + u)


def _gru(u: int, i: int) -> int:  # reset_after: two bias vectors per gate
    return 3 * (u * (i + u) + 2 * u)


def test_layer_options_find_a_graph_layer_by_name(cli, tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text(GRAPH)
    r = cli("solve", str(spec), "--layer", "enc", "--budget", "1000")
    assert r.exit_code == 0, r.stderr
    n = int(r.stdout.split("enc.units = ")[1].split(":")[0])
    assert _lstm(n, 5) + _gru(3, n) <= 1000 < _lstm(n + 1, 5) + _gru(3, n + 1)
    r = cli("compare", str(spec), "--layer", "dec", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["rows"][0]["params"] == _gru(3, 4)  # dec reads enc's 4 features
    r = cli("layout", str(spec), "--layer", "dec", "--json")
    assert r.exit_code == 0, r.stderr
    assert {w["layer"] for w in json.loads(r.stdout)["weights"]} == {"dec"}
