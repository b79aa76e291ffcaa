"""PyTorch state_dict files: saved by the real torch, read with torch.load(weights_only=True)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from lstmcount.accounting import report
from lstmcount.inputs.state_dict import read_state_dict

from .conftest import ROOT


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(100, 8)
        self.encoder = torch.nn.LSTM(8, 16, num_layers=2, bidirectional=True, proj_size=4)
        self.cell = torch.nn.GRUCell(8, 5)
        self.norm = torch.nn.LayerNorm(8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.conv = torch.nn.Conv1d(8, 4, 3)
        self.head = torch.nn.Linear(8, 3)
        self.rnn = torch.nn.RNN(3, 2, bias=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sd")
    net = Net()
    torch.save(net.state_dict(), folder / "net.pt")
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, folder / "checkpoint.pth")
    torch.save(net, folder / "pickled.pt")
    (folder / "garbage.pt").write_bytes(b"\x00not a torch file")
    return folder, net


def test_recognises_modules_and_counts_like_torch(saved):
    folder, net = saved
    for name in ("net.pt", "checkpoint.pth"):
        rep = report(read_state_dict(str(folder / name)))
        assert rep.trainable == sum(p.numel() for p in net.parameters())
        assert rep.non_trainable == sum(b.numel() for b in net.buffers())  # BatchNorm's running statistics
        types = {layer.name: layer.type for layer in rep.layers}
        assert types == {"emb": "Embedding", "encoder": "LSTM", "cell": "GRUCell", "norm": "LayerNorm",
                         "bn": "tensors", "conv": "tensors", "head": "Linear", "rnn": "RNN"}
        encoder = next(layer for layer in rep.layers if layer.name == "encoder")
        assert encoder.params == sum(p.numel() for p in net.encoder.parameters())
        assert len(encoder.gates) == 2 * 2 * 4 and len(encoder.extras) == 4  # weight_hr per direction, depth
        assert encoder.params == sum(g.params for g in encoder.gates) + sum(e.params for e in encoder.extras)


def test_cli_on_state_dicts(cli, saved):
    folder, _ = saved
    r = cli("params", str(folder / "net.pt"), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["framework"] == "pytorch"
    r = cli("layout", str(folder / "net.pt"), "--json")
    assert r.exit_code == 0 and any(w["name"] == "weight_hr_l1_reverse" for w in json.loads(r.stdout)["weights"])
    for bad in ("pickled.pt", "garbage.pt"):
        r = cli("params", str(folder / bad))
        assert r.exit_code == 2 and "not a PyTorch state_dict torch.load(weights_only=True) accepts" in r.stderr
    r = cli("verify", str(folder / "net.pt"), "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["ok"], r.stdout
    assert {layer["name"]: layer["type"] for layer in data["files"][0]["layers"]}["encoder"] == "LSTM"


def test_tensors_of_an_unrecognised_module_are_listed_as_stored(saved, tmp_path, cli):
    folder, net = saved
    state = net.state_dict()
    state["encoder.weight_hh_l1"] = torch.zeros(64, 5)  # not what an LSTM with these other tensors holds
    torch.save(state, tmp_path / "broken.pt")
    r = cli("params", str(tmp_path / "broken.pt"), "--json")
    types = {layer["name"]: layer["type"] for layer in json.loads(r.stdout)["layers"]}
    assert types["encoder"] == "tensors"  # no longer recognised: listed as stored
    assert cli("verify", str(tmp_path / "broken.pt")).exit_code == 0


def test_state_dict_without_torch_is_exit_3(saved):
    folder, _ = saved
    code = (f"import sys; sys.modules['torch'] = None\nfrom lstmcount.cli import main\n"
            f"sys.argv = ['lstmcount', 'params', {str(folder / 'net.pt')!r}]\nmain()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 3 and "pip install 'lstmcount[torch]'" in r.stderr


def test_api_analyze_reads_state_dicts(saved):
    from lstmcount import analyze

    folder, net = saved
    assert analyze(str(folder / "net.pt")).trainable == sum(p.numel() for p in net.parameters())


def test_solve_sizes_a_files_recurrent_layer_with_its_other_tensors_fixed(saved, cli, tmp_path):
    folder, net = saved
    r = cli("solve", str(folder / "net.pt"), "--layer", "rnn", "--budget", "6000", "--json")
    data = json.loads(r.stdout)
    # by hand: every other tensor stays; RNN(3, h) without bias holds h(3 + h)
    fixed = sum(t.numel() for k, t in net.state_dict().items() if not k.startswith("rnn."))
    h = max(n for n in range(1, 100) if fixed + n * (3 + n) <= 6000)
    assert r.exit_code == 0, r.stderr
    assert (data["units"], data["argument"], data["params"]) == (h, "hidden_size", fixed + h * (3 + h))
    assert data["next_params"] == fixed + (h + 1) * (4 + h)
    torch.save(torch.nn.GRU(10, 20).state_dict(), tmp_path / "gru.pt")  # the only recurrent layer: no --layer
    r = cli("solve", str(tmp_path / "gru.pt"), "--budget", "5000")
    # 3 (h (10 + h) + 2h) <= 5000: h = 35 gives 4,935, h = 36 gives 5,184
    assert r.exit_code == 0 and r.stdout == "(root).hidden_size = 35: 4,935 parameters (budget 5,000; 36 would " \
        "need 5,184)\n"
    r = cli("solve", str(folder / "net.pt"), "--budget", "4000")
    assert r.exit_code == 2 and "the file's recurrent layers are encoder, cell, rnn" in r.stderr
