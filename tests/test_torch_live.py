"""Live torch.nn.Module objects in the Python API: analyze(module) and summary(module), the same report
as the module's saved file gives, with exact classes where the file could only list candidates."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from torch import nn

import lstmcount
from lstmcount import analyze, summary

from .conftest import ROOT
from .test_state_dict import AWD, CRNN, AttnDecoderRNN, Net, WordLM, counted, saved_models

pytestmark = pytest.mark.filterwarnings("ignore")


def kinds(type_name: str) -> list[str]:
    """The classes a report's type names: `LayerNorm or BatchNorm1d/2d/3d` -> LayerNorm, BatchNorm1d, ..."""
    out = []
    for part in type_name.split(" or "):
        head, *more = part.split("/")
        out += [head, *(head[:-2] + m for m in more)]
    return out


def same_counts(live, saved) -> None:
    """The live module's report and its file's: every layer, weight by weight (types may be sharper live)."""
    assert [layer.name for layer in live.layers] == [layer.name for layer in saved.layers]
    for a, b in zip(live.layers, saved.layers, strict=True):
        assert (a.params, a.trainable, a.gates, a.extras) == (b.params, b.trainable, b.gates, b.extras), a.name
        assert [(w.name, w.shape, w.tied) for w in a.weights] == [(w.name, w.shape, w.tied) for w in b.weights]
        assert a.type in kinds(b.type) or b.type == "tensors", (a.type, b.type)
    assert (live.total, live.trainable, live.bytes) == (saved.total, saved.trainable, saved.bytes)


@pytest.mark.parametrize("make", [Net, WordLM, CRNN, AWD, AttnDecoderRNN], ids=lambda m: m.__name__)
def test_live_modules_give_their_saved_files_report(make, tmp_path):
    torch.manual_seed(0)
    model = make()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    live, saved = analyze(model), analyze(str(tmp_path / "m.pt"))
    same_counts(live, saved)
    assert live.total == counted(model) and live.name == make.__name__


def test_live_modules_know_their_exact_classes():
    rep = analyze(Net())
    assert {layer.name: layer.type for layer in rep.layers} == {
        "emb": "Embedding", "encoder": "LSTM", "cell": "GRUCell", "norm": "LayerNorm", "bn": "BatchNorm1d",
        "conv": "Conv1d", "head": "Linear", "rnn": "RNN"}
    awd = {layer.name: layer.type for layer in analyze(AWD()).layers}
    assert awd["normed"] == "GRU" and awd["rnns.1"] == "LSTM" and awd["decoder"] == "Linear"


class Custom(nn.Module):
    """A module lstmcount has no table for, a subclass of one it has, and a frozen layer."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3, 4))
        self.register_buffer("table", torch.zeros(5))
        self.register_buffer("scratch", torch.zeros(7), persistent=False)  # not in a saved file


class MyLSTM(nn.LSTM):
    pass


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.custom = Custom()
        self.mine = MyLSTM(3, 4)
        self.frozen = nn.Linear(4, 2)
        self.frozen.requires_grad_(False)


def test_modules_without_a_table_are_counted_from_their_own_tensors():
    rep = analyze(Mixed())
    layers = {layer.name: layer for layer in rep.layers}
    assert layers["custom"].type == "Custom" and layers["custom"].params == 12 + 5
    assert layers["custom"].trainable == 12  # a buffer is not trained: the object says so
    assert layers["mine"].type == "MyLSTM" and not layers["mine"].gates  # a subclass: not guessed to be an LSTM
    assert layers["mine"].params == 4 * 4 * (3 + 4) + 2 * 16
    assert layers["frozen"].type == "Linear" and layers["frozen"].trainable == 0
    assert rep.total == sum(p.numel() for p in Mixed().parameters()) + 5
    assert rep.notes == ("counted from their own tensors, as a saved file holds them (lstmcount has no table for "
                         "their class, or their tensors are not what the class's table lays out): custom (Custom), "
                         "mine (MyLSTM)",)


def test_a_model_on_the_meta_device_is_counted_without_its_memory():
    with torch.device("meta"):  # 4 GiB of float32 weights, never allocated
        model = WordLM(500_000, 1024, 1024)
    rep = analyze(model)
    assert rep.total == sum(p.numel() for p in model.parameters()) == 500_000 * 1024 + 2 * 4 * 1024 * 2050 + 500_000
    assert [w.tied for w in rep.layers[-1].weights] == ["encoder.weight", None]


def test_summary_prints_the_params_table_and_returns_the_report(tmp_path, cli):
    model = WordLM()
    out = io.StringIO()
    rep = summary(model, timesteps=35, file=out)
    text = out.getvalue()
    assert rep.total == counted(model) and rep.macs == 35 * 2 * 4 * 50 * (50 + 50) + 50 * 1000
    assert "rnn (LSTM)" in text and "encoder (Embedding)" in text
    assert "note: tied weights are one tensor, counted once" in text
    assert "note: MACs count decoder (Linear) once per sample" in text
    torch.save(model.state_dict(), tmp_path / "lm.pt")
    r = cli("params", str(tmp_path / "lm.pt"), "-T", "35")
    # the saved file's table, cell by cell, but for the Embedding the file cannot tell from a Linear (whose
    # cost it cannot know: no MACs)
    live_rows, file_rows = _cells(text), _cells(r.stdout)
    assert len(live_rows) == len(file_rows) > 10
    for live_row, file_row in zip(live_rows, file_rows, strict=True):
        if file_row[0] == "encoder (Embedding or Linear or LayerNorm)":
            assert (live_row, file_row[1:]) == (["encoder (Embedding)", "", "", "", "50,000", "0"],
                                                ["", "", "", "50,000", ""])
        else:
            assert live_row == file_row
    summary_lines = [line for line in text.splitlines() if line.startswith(("Total", "Trainable", "Non-"))]
    assert summary_lines == [line for line in r.stdout.splitlines() if line.startswith(("Total", "Trainable", "Non-"))]
    assert lstmcount.summary is summary


def _cells(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in table.splitlines() if line.startswith("│")]


def test_analyze_refuses_what_it_cannot_read():
    with pytest.raises(lstmcount.UsageError, match="analyze takes a path, a YAML spec's text, a layer expression, "
                                                   "a Model or a torch.nn.Module, got a int"):
        analyze(3)


def test_importing_lstmcount_imports_no_framework():
    code = ("import sys, lstmcount\nprint(sorted(m for m in ('torch', 'tensorflow', 'keras', 'numpy', 'onnx') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=saved_models())
def test_random_live_modules_equal_their_saved_files(case, tmp_path):
    model, _ = case
    torch.save(model.state_dict(), tmp_path / "m.pt")
    same_counts(analyze(model), analyze(str(tmp_path / "m.pt")))
