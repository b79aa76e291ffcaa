"""lstmcount benchmarks: ratios from one run, medians of alternating repetitions, peak memory.

Run with `make bench`. Nothing here asserts: it prints each measurement beside its target so a
person (or the README) can read them. Each command runs in a fresh process; its peak resident
memory comes from the kernel's accounting for that child (wait4).

What is measured: the `lstmcount` command installed next to this Python (what `make` installs and
users run), or, with BENCH_CHECKOUT=1, this checkout's code (`python -m lstmcount` from the
repository root: for comparing a branch before it is installed). The API throughput (section 4)
always imports this checkout.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PY = sys.executable
CHECKOUT = os.environ.get("BENCH_CHECKOUT") == "1"
LSTMCOUNT = [PY, "-m", "lstmcount"] if CHECKOUT else [str(BIN / "lstmcount")]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

KERAS_ROUTE = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\nimport keras\n"
               "m = keras.Sequential([keras.Input((None, 28)), keras.layers.LSTM(75)])\nprint(m.count_params())")
TORCH_ROUTE = "import torch\nprint(sum(p.numel() for p in torch.nn.LSTM(28, 75).parameters()))"


def run_once(cmd: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one command in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss / 1024


def compare(named: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median time and peak memory per command, running the commands alternately."""
    times: dict[str, list[float]] = {k: [] for k in named}
    peaks: dict[str, list[float]] = {k: [] for k in named}
    for cmd in named.values():  # one warm-up each (file cache)
        run_once(cmd)
    for _ in range(repeats):
        for name, cmd in named.items():
            t, m = run_once(cmd)
            times[name].append(t)
            peaks[name].append(m)
    return {k: (statistics.median(times[k]), max(peaks[k])) for k in named}


def line(label: str, value: str, target: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else ("  [meets target]" if ok else "  [MISSES target]")
    print(f"  {label:<58} {value:>22}  {target}{mark}")


def big_spec(path: Path, layers: int) -> None:
    parts = ["name: ten-thousand\ninput_shape: [null, 16]\nlayers:\n"]
    for k in range(layers):
        last = k == layers - 1
        parts.append(f"  - type: LSTM\n    units: {16 + k % 7}\n    return_sequences: {str(not last).lower()}\n")
    path.write_text("".join(parts))


# (type, framework, bidirectional) for the sweep over every framework: what each framework has
SWEEP = [(t, fw, bi) for fw, types in (("keras", "lstm gru rnn"), ("pytorch", "lstm gru rnn"), ("onnx", "lstm gru rnn"),
                                       ("tf1", "lstm gru rnn"), ("cudnn", "lstm gru"), ("flax", "lstm gru rnn"))
         for t in types.split() for bi in (False, True)]


def api_throughput(n: int = 200_000, sweep: bool = False) -> float:
    """lstmcount.count() calls per second over `n` single-layer specs (97 × 31 different sizes, in turn):
    Keras LSTMs, or with `sweep` each call in the next of the SWEEP's 34 options in turn (fresh
    interpreter: the first call of each set of options pays for reading its closed form)."""
    sys.path.insert(0, str(ROOT))
    import lstmcount

    count: Callable[..., int] = lstmcount.count
    options = SWEEP if sweep else [("lstm", "keras", False)]
    m = len(options)
    start = time.perf_counter()
    total = 0
    for k in range(n):
        t, fw, bi = options[k % m]
        total += count(t, units=1 + k % 97, input=1 + k % 31, framework=fw, bidirectional=bi)
    elapsed = time.perf_counter() - start
    assert total > 0
    return n / elapsed


def one_layer(repeats: int) -> None:
    print("1. One layer, analytic path (`params --units 75 --input 28 --json`)")
    res = compare({
        "lstmcount": [*LSTMCOUNT, "params", "--units", "75", "--input", "28", "--json"],
        "floor": [PY, "-c", "import typer, rich.table, yaml"],
        "keras": [PY, "-c", KERAS_ROUTE],
        "torch": [PY, "-c", TORCH_ROUTE],
    }, max(3, repeats // 2))
    (t_l, m_l), (t_f, m_f), (t_k, m_k), (t_t, m_t) = (res[k] for k in ("lstmcount", "floor", "keras", "torch"))
    line("lstmcount params", f"{t_l * 1000:.0f} ms, {m_l:.1f} MiB")
    line("dependency floor: import typer, rich.table, yaml", f"{t_f * 1000:.0f} ms, {m_f:.1f} MiB")
    line("Keras route: build LSTM(75), count_params()", f"{t_k * 1000:.0f} ms, {m_k:.1f} MiB")
    line("PyTorch route: nn.LSTM(28, 75), sum numel()", f"{t_t * 1000:.0f} ms, {m_t:.1f} MiB")
    line("lstmcount / floor", f"{t_l / t_f:.2f}x", "target <= 1.3x", t_l / t_f <= 1.3)
    line("Keras route / lstmcount", f"{t_k / t_l:.1f}x faster", "target >= 25x", t_k / t_l >= 25)
    line("PyTorch route / lstmcount", f"{t_t / t_l:.1f}x faster")
    line("lstmcount peak memory", f"{m_l:.1f} MiB", "target < 40 MiB", m_l < 40)


def big_model(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "big.yaml"
        big_spec(spec, 10_000)
        print(f"2. A 10,000-layer spec ({spec.stat().st_size / 1024:.0f} KiB of YAML)")
        parse = f"yaml.load(open({str(spec)!r}), Loader=yaml.CSafeLoader)"
        res = compare({
            "lstmcount": [*LSTMCOUNT, "params", str(spec), "--json"],
            "parse": [PY, "-c", f"import typer, rich.table, yaml\n{parse}"],
            # lstmcount pauses the cycle collector while it reads a spec: the same parse, paused, shows
            # what lstmcount's own work costs on top of it
            "paused": [PY, "-c", f"import gc, typer, rich.table, yaml\ngc.disable()\n{parse}"],
        }, max(3, repeats // 2))
    (t_b, m_b), (t_p, m_p), (t_g, m_g) = res["lstmcount"], res["parse"], res["paused"]
    line("lstmcount params big.yaml --json", f"{t_b * 1000:.0f} ms, {m_b:.1f} MiB")
    line("floor + CSafeLoader parse alone", f"{t_p * 1000:.0f} ms, {m_p:.1f} MiB")
    line("the same parse with the cycle collector paused", f"{t_g * 1000:.0f} ms, {m_g:.1f} MiB")
    line("lstmcount / parse", f"{t_b / t_p:.2f}x", "target <= 1.5x", t_b / t_p <= 1.5)
    line("lstmcount / parse with the collector paused", f"{t_b / t_g:.2f}x")


def graph_spec(path: Path, nodes: int) -> None:
    """Residual GRU blocks: each GRU reads the running sum, an Add adds its output back (two nodes a block)."""
    parts = ["name: residual-gru\ninputs: {x: [null, 16]}\nlayers:\n"]
    prev = "x"
    for k in range(nodes // 2):
        parts.append(f"  - {{type: GRU, name: g{k}, units: 16, return_sequences: true, inputs: {prev}}}\n"
                     f"  - {{type: Add, name: a{k}, inputs: [{prev}, g{k}]}}\n")
        prev = f"a{k}"
    parts.append(f"outputs: [{prev}]\n")
    path.write_text("".join(parts))


def big_graph(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "graph.yaml"
        graph_spec(spec, 10_000)
        size = spec.stat().st_size / 1024
        print(f"2b. A 10,000-node graph spec: residual GRU blocks with Add skips ({size:.0f} KiB of YAML)")
        parse = f"yaml.load(open({str(spec)!r}), Loader=yaml.CSafeLoader)"
        res = compare({
            "lstmcount": [*LSTMCOUNT, "params", str(spec), "--json"],
            "parse": [PY, "-c", f"import typer, rich.table, yaml\n{parse}"],
        }, max(3, repeats // 2))
    (t_b, m_b), (t_p, m_p) = res["lstmcount"], res["parse"]
    line("lstmcount params graph.yaml --json", f"{t_b * 1000:.0f} ms, {m_b:.1f} MiB")
    line("floor + CSafeLoader parse alone", f"{t_p * 1000:.0f} ms, {m_p:.1f} MiB")
    line("lstmcount / parse", f"{t_b / t_p:.2f}x", "target <= 1.5x", t_b / t_p <= 1.5)


def verify(repeats: int) -> None:
    print("3. verify: one config vs twenty, per framework (each run imports its framework once)")
    for framework in ("keras", "pytorch"):
        configs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").glob("*.yaml")
                         if ("framework: pytorch" in p.read_text()) == (framework == "pytorch"))
        twenty = (configs * 20)[:20]
        res = compare({"one": [*LSTMCOUNT, "verify", configs[0]], "twenty": [*LSTMCOUNT, "verify", *twenty]},
                      max(2, repeats // 3))
        (t_1, m_1), (t_20, m_20) = res["one"], res["twenty"]
        line(f"{framework}: verify 1 config", f"{t_1:.2f} s, {m_1:.0f} MiB")
        line(f"{framework}: verify 20 configs ({len(configs)} distinct)", f"{t_20:.2f} s, {m_20:.0f} MiB")
        line(f"{framework}: twenty / one", f"{t_20 / t_1:.2f}x", "target <= 1.5x", t_20 / t_1 <= 1.5)


def api(repeats: int) -> None:
    print("4. Python API throughput (this checkout's lstmcount.count, in a fresh interpreter; median of 3)")
    for sweep, label in ((False, "single-layer specs per second (Keras LSTM)"),
                         (True, f"the same, cycling through {len(SWEEP)} option sets (all six)")):
        code = (f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import bench; "
                f"print(bench.api_throughput(sweep={sweep}))")
        rates = [float(subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True, env=ENV,
                                      cwd=ROOT).stdout) for _ in range(3)]
        rate = statistics.median(rates)
        line(label, f"{rate:,.0f}/s", "target >= 200,000/s", rate >= 200_000)


# Keras model files, saved by Keras 3 in a fresh process: the same configs with an Embedding of 1,000,000 x 125
# float32 weights (500 MB) and of 10 x 125, plain and with a custom layer (counted from its stored shapes)
WEIGHT_FILES = """
import os, sys; os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
@keras.saving.register_keras_serializable(package="bench")
class Gain(keras.layers.Layer):
    def build(self, input_shape):
        self.g = self.add_weight(shape=(input_shape[-1],), name="g")
    def call(self, x):
        return x * self.g
root = sys.argv[1]
for rows, size in ((1_000_000, "big"), (10, "tiny")):
    for custom in (False, True):
        layers = [keras.Input((20,), dtype="int32"), keras.layers.Embedding(rows, 125)]
        layers += [Gain()] if custom else []
        model = keras.Sequential(layers + [keras.layers.LSTM(16), keras.layers.Dense(2)])
        for ext in ("keras", "h5"):
            model.save(f"{root}/{size}{'_custom' if custom else ''}.{ext}")
"""


def weight_files(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([PY, "-c", WEIGHT_FILES, tmp], check=True, env=ENV, cwd=ROOT, capture_output=True)
        big = (Path(tmp) / "big.keras").stat().st_size / 1e6
        print(f"5. Keras model files with {big:.0f} MB of weights (an Embedding of 1,000,000 x 125) against the same "
              "configs with tiny weights (10 x 125): `params FILE --json`; a custom layer is counted from its stored "
              "weights' shapes")
        for what, stem in (("plain", ""), ("with a custom layer", "_custom")):
            for ext in ("keras", "h5"):
                res = compare({size: [*LSTMCOUNT, "params", str(Path(tmp) / f"{size}{stem}.{ext}"), "--json"]
                               for size in ("big", "tiny")}, max(3, repeats // 2))
                (t_b, m_b), (t_t, m_t) = res["big"], res["tiny"]
                line(f".{ext} {what}: 500 MB weights / tiny weights", f"{t_b / t_t:.2f}x",
                     "target <= 1.3x", t_b / t_t <= 1.3)
                line(f"  ({t_b * 1000:.0f} ms, {m_b:.0f} MiB / {t_t * 1000:.0f} ms, {m_t:.0f} MiB)", "")


SECTIONS = {"1": one_layer, "2": big_model, "g": big_graph, "3": verify, "4": api, "w": weight_files}


def main() -> None:
    """BENCH_REPEATS (default 7) sets the repetitions; BENCH_SECTIONS (default 12g34w) picks sections."""
    repeats = int(os.environ.get("BENCH_REPEATS", "7"))
    chosen = [SECTIONS[k] for k in os.environ.get("BENCH_SECTIONS", "12g34w") if k in SECTIONS]
    print(f"lstmcount benchmark on {platform.node() or 'this machine'}: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; medians of {repeats} alternating runs")
    print(f"measuring {'this checkout (python -m lstmcount)' if CHECKOUT else LSTMCOUNT[0]}")
    for section in chosen:
        print()
        section(repeats)


if __name__ == "__main__":
    main()
