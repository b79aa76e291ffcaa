"""MACs of PyTorch models by hand: every recurrent module (and every cell) runs over --timesteps, a
projection at every step; a module the model cannot say is applied at every step is counted once per
sample and named, and --per-step counts it at every step. Specs, saved files and live modules agree."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lstmcount import analyze
from lstmcount.accounting import report
from lstmcount.conventions.flags import flags_layout
from lstmcount.model import LayerFlags

from .test_state_dict import WordLM

pytestmark = pytest.mark.filterwarnings("ignore")


def lstm_step(units: int, inputs: int, recurrent: int | None = None) -> int:
    """One LSTM step of one direction: 4 gates, each a (units x inputs) and a (units x recurrent) product."""
    return 4 * units * (inputs + (recurrent if recurrent is not None else units))


class TimeSequence(nn.Module):
    """The PyTorch examples' time-sequence prediction: two LSTMCells and a Linear, one step at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)


def all_three(model: nn.Module, spec: str, tmp_path, timesteps: int, per_step=()):
    """The report of a spec, of the module's saved file and of the live module, over `timesteps` steps."""
    torch.save(model.state_dict(), tmp_path / "m.pt")
    return [analyze(spec, timesteps=timesteps, per_step=per_step),
            analyze(str(tmp_path / "m.pt"), timesteps=timesteps, per_step=per_step),
            analyze(model, timesteps=timesteps, per_step=per_step)]


WORD_LM = """framework: pytorch
layers:
- {type: Embedding, num_embeddings: 10000, embedding_dim: 200, name: encoder}
- {type: LSTM, input_size: 200, hidden_size: 200, num_layers: 2, dropout: 0.2, name: rnn}
- {type: Linear, in_features: 200, out_features: 10000, name: decoder, tie: {weight: encoder.weight}}
"""


def test_word_language_model_over_35_steps(tmp_path):
    for rep in all_three(WordLM(10000, 200, 200), WORD_LM, tmp_path, 35):
        rnn = next(layer for layer in rep.layers if layer.name == "rnn")
        assert rnn.macs == 35 * 2 * lstm_step(200, 200) == 22_400_000  # the number, both depths
        decoder = next(layer for layer in rep.layers if layer.name == "decoder")
        assert decoder.macs == 200 * 10000  # once per sample (its weight is tied: it still multiplies)
        assert any(note.startswith("MACs count decoder (Linear) once per sample") for note in rep.notes)
    spec, saved, live = all_three(WordLM(10000, 200, 200), WORD_LM, tmp_path, 35, ("decoder",))
    for rep in (spec, saved, live):
        assert next(la for la in rep.layers if la.name == "decoder").macs == 35 * 200 * 10000
        assert not any("once per sample" in note for note in rep.notes)
    assert spec.macs == live.macs == 22_400_000 + 35 * 200 * 10000  # the Embedding is a lookup: none
    assert saved.macs == 22_400_000 + 35 * 200 * 10000  # the file's lone 2-D weight: left out, and said so
    assert any(note.startswith("MACs leave out encoder (Embedding or Linear or LayerNorm)") for note in saved.notes)


def test_second_lstm_cell_over_20_steps(tmp_path):
    spec = ("framework: pytorch\nlayers:\n- {type: LSTMCell, input_size: 1, hidden_size: 51, name: lstm1}\n"
            "- {type: LSTMCell, input_size: 51, hidden_size: 51, name: lstm2}\n"
            "- {type: Linear, in_features: 51, out_features: 1, name: linear}\n")
    for rep in all_three(TimeSequence(), spec, tmp_path, 20, ("linear",)):
        macs = {layer.name: layer.macs for layer in rep.layers}
        assert macs == {"lstm1": 20 * lstm_step(51, 1), "lstm2": 20 * lstm_step(51, 51), "linear": 20 * 51}
        assert macs["lstm2"] == 416_160  # the number: each cell is applied once per step
        # elementwise per step and unit: 13 for an LSTM plus its 2 bias additions per gate
        lstm2 = next(layer for layer in rep.layers if layer.name == "lstm2")
        assert lstm2.elementwise_flops == 20 * (13 * 51 + 2 * 4 * 51)


def test_stacked_bidirectional_projected_lstm_by_hand():
    # layer 0 reads 10 features; layer 1 reads both directions' projected outputs, 2 x 5; each step also
    # projects the 20 units down to 5 (weight_hr, 5 x 20), per direction and depth
    rep = report(flags_layout(LayerFlags("lstm", "pytorch", 20, 10, True, 2, True, None, 5)), timesteps=7)
    per_step = 2 * (lstm_step(20, 10, 5) + 5 * 20) + 2 * (lstm_step(20, 10, 5) + 5 * 20)
    assert rep.macs == 7 * per_step
    gru = report(flags_layout(LayerFlags("gru", "pytorch", 8, 3, True, 3)), timesteps=4)
    assert gru.macs == 4 * 2 * (3 * 8 * (3 + 8) + 2 * 3 * 8 * (16 + 8))


def test_mixed_model_names_what_it_counts_once_and_leaves_out(tmp_path, cli):
    spec = tmp_path / "mixed.yaml"
    spec.write_text("framework: pytorch\nlayers:\n"
                    "- {type: Embedding, num_embeddings: 50, embedding_dim: 8, name: emb}\n"
                    "- {type: Conv1d, in_channels: 8, out_channels: 16, kernel_size: 3, padding: 1, name: conv}\n"
                    "- {type: BatchNorm1d, num_features: 16, name: bn}\n- {type: ReLU}\n"
                    "- {type: GRU, input_size: 16, hidden_size: 12, bidirectional: true, name: gru}\n"
                    "- {type: Linear, in_features: 24, out_features: 5, name: head}\n")
    r = cli("params", str(spec), "-T", "9", "--json")
    assert r.exit_code == 0, r.stderr
    macs = {layer["name"]: layer["macs"] for layer in json.loads(r.stdout)["layers"]}
    gru = 9 * 2 * 3 * 12 * (16 + 12)
    assert macs == {"emb": 0, "conv": None, "bn": 0, "re_lu": 0, "gru": gru, "head": 24 * 5}
    assert json.loads(r.stdout)["macs"] == gru + 24 * 5
    notes = [line.split(": note: ", 1)[1] for line in r.stderr.splitlines()]
    assert notes == ["MACs count head (Linear) once per sample; a module applied at every step (a Linear on each of "
                     "an LSTM's outputs) costs 9 times that: --per-step NAME counts it so",
                     "MACs leave out conv (Conv1d): a convolution is applied at every output position, and the "
                     "model does not give its input size"]
    r = cli("params", str(spec), "-T", "9", "--json", "--per-step", "head", "--per-step", "conv")
    macs = {layer["name"]: layer["macs"] for layer in json.loads(r.stdout)["layers"]}
    assert macs["head"] == 9 * 24 * 5 and macs["conv"] == 9 * 16 * 8 * 3 and r.stderr == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--per-step", "head"], "--per-step counts a module at every time step: give the steps with --timesteps"),
    (["-T", "3", "--per-step", "haed"], "--per-step 'haed': no such layer (the model's layers are lstm, head)"),
    (["-T", "3", "--per-step", "lstm"], "--per-step 'lstm': a recurrent layer (LSTM) runs at every step already"),
])
def test_per_step_refusals(args, message, tmp_path, cli):
    spec = tmp_path / "s.yaml"
    spec.write_text("framework: pytorch\nlayers:\n- {type: LSTM, input_size: 3, hidden_size: 4}\n"
                    "- {type: Linear, in_features: 4, out_features: 2, name: head}\n")
    r = cli("params", str(spec), *args)
    assert r.exit_code == 2 and r.stderr == f"lstmcount: {message}\n"


def test_per_step_is_for_modules_whose_input_the_model_does_not_give(cli):
    r = cli("params", "configs/mnist_lstm.yaml", "-T", "3", "--per-step", "dense")
    assert r.exit_code == 2 and "the model gives this Dense's input shape" in r.stderr
