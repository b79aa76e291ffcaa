"""PyTorch checkpoints as they come: saved by the real torch in every way people save them, read with
torch.load(weights_only=True), counted as model.parameters() plus buffers count them, and verified."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from lstmcount import analyze
from lstmcount.bridges import bridge
from lstmcount.bridges.torch import check_checkpoint
from lstmcount.inputs import checkpoint, sniff
from lstmcount.reconcile import describe, reconcile

from .conftest import ROOT

pytestmark = pytest.mark.filterwarnings("ignore")


def counted(module: nn.Module) -> int:
    """What a saved file holds: parameters once each (as model.parameters() gives them), plus buffers."""
    return sum(p.numel() for p in module.parameters()) + sum(b.numel() for b in module.buffers())


def verified(path, key=None):
    """lstmcount's report of a file, reconciled with the modules torch.nn builds from it."""
    bridge("pytorch")
    ck, lay = checkpoint(str(path), key)
    from lstmcount.accounting import report

    res = reconcile(str(path), report(lay), check_checkpoint(ck), None)
    assert res.ok, [f"{c.name}: {describe(d)}" for c in res.layers for d in c.diffs] + [res.native_total]
    return res


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.encoder = nn.LSTM(8, 16, num_layers=2, bidirectional=True, proj_size=4)
        self.cell = nn.GRUCell(8, 5)
        self.norm = nn.LayerNorm(8)
        self.bn = nn.BatchNorm1d(8)
        self.conv = nn.Conv1d(8, 4, 3)
        self.head = nn.Linear(8, 3)
        self.rnn = nn.RNN(3, 2, bias=False)


class WordLM(nn.Module):
    """The PyTorch examples' word language model, weight-tied (its --tied option)."""

    def __init__(self, ntoken: int = 1000, ninp: int = 50, nhid: int = 50, tie: bool = True) -> None:
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, 2, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie:
            self.decoder.weight = self.encoder.weight


class CRNN(nn.Module):
    """An OCR CRNN: convolutions, batch norms and pooling, then a bidirectional LSTM and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.rnn = nn.LSTM(16 * 4, 32, bidirectional=True)
        self.fc = nn.Linear(64, 37)


class AttnDecoderRNN(nn.Module):
    """The PyTorch seq2seq tutorial's attention decoder."""

    def __init__(self, hidden_size: int = 32, output_size: int = 40, max_length: int = 10) -> None:
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attn = nn.Linear(hidden_size * 2, max_length)
        self.attn_combine = nn.Linear(hidden_size * 2, hidden_size)
        self.dropout = nn.Dropout(0.1)
        self.gru = nn.GRU(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, output_size)


class WeightDrop(nn.Module):
    """AWD-LSTM's WeightDrop (salesforce/awd-lstm-lm): the weight lives on as <name>_raw in the module."""

    def __init__(self, module: nn.Module, weights: list[str]) -> None:
        super().__init__()
        self.module = module
        for name in weights:
            w = getattr(module, name)
            del module._parameters[name]
            module.register_parameter(name + "_raw", nn.Parameter(w.data))


class WeightDropout(nn.Module):
    """fastai's WeightDropout: the raw weight on the wrapper, the rest in the wrapped module."""

    def __init__(self, module: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.module = module
        for name in names:
            w = getattr(module, name)
            delattr(module, name)
            self.register_parameter(f"{name}_raw", nn.Parameter(w.data))
            setattr(module, name, w.clone())


class AWD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Embedding(60, 10)
        self.rnns = nn.ModuleList([WeightDrop(nn.LSTM(10, 12), ["weight_hh_l0"]),
                                   WeightDropout(nn.LSTM(12, 10), ["weight_hh_l0"])])
        self.normed = nn.GRU(10, 6, num_layers=2)
        nn.utils.parametrizations.weight_norm(self.normed, "weight_hh_l1")
        self.old = nn.LSTM(6, 4)
        nn.utils.weight_norm(self.old, "weight_ih_l0")
        self.head = nn.utils.parametrizations.spectral_norm(nn.Linear(4, 60))
        self.decoder = nn.utils.parametrizations.weight_norm(nn.Linear(4, 60, bias=False))


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sd")
    torch.manual_seed(0)
    net, lm, crnn, awd = Net(), WordLM(), CRNN(), AWD()
    torch.save(net.state_dict(), folder / "net.pt")
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, folder / "checkpoint.pth")
    torch.save(net, folder / "pickled.pt")
    (folder / "garbage.pt").write_bytes(b"\x00not a torch file")
    # the PyTorch examples' ImageNet checkpoint, under the name they give it
    torch.save({"epoch": 2, "arch": "lm", "state_dict": lm.state_dict(), "best_acc1": torch.tensor(0.5),
                "optimizer": torch.optim.SGD(lm.parameters(), 0.1, momentum=0.9).state_dict()},
               folder / "checkpoint.pth.tar")
    torch.save(lm.state_dict(), folder / "lm_legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(lm.state_dict(), folder / "lm_no_extension")
    torch.save(lm.state_dict(), folder / "lm.tar")
    torch.save(nn.DataParallel(crnn).state_dict(), folder / "crnn_dataparallel.pt")
    torch.save({"state_dict": {f"model.{k}": v for k, v in crnn.state_dict().items()}, "epoch": 1, "global_step": 9,
                "pytorch-lightning_version": "2.4.0", "optimizer_states": [torch.optim.Adam(crnn.parameters())
                                                                           .state_dict()],
                "callbacks": {"ModelCheckpoint": {"best_model_score": torch.tensor(0.25),
                                                  "best_k_models": {"/ckpt/e1.ckpt": torch.tensor(0.25)}}},
                "hyper_parameters": {"lr": 0.001}}, folder / "lightning.ckpt")
    torch.save(torch.compile(crnn).state_dict(), folder / "compiled.pt")
    torch.save(awd.state_dict(), folder / "awd.pt")
    enc, dec = nn.GRU(10, 20), WordLM(30, 20, 20, tie=False)
    torch.save({"encoder": enc.state_dict(), "decoder": dec.state_dict(), "epoch": 4,
                "encoder_optimizer": torch.optim.Adam(enc.parameters()).state_dict(),
                "decoder_optimizer": torch.optim.Adam(dec.parameters()).state_dict()}, folder / "seq2seq.tar")
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        torch.save(WordLM().to(dtype).state_dict(), folder / f"lm_{str(dtype)[6:]}.pt")
    quantized = {k: (v * 100).to(torch.int8) for k, v in WordLM(tie=False).state_dict().items()}
    torch.save(quantized, folder / "lm_int8.pt")
    return folder, {"net": net, "lm": lm, "crnn": crnn, "awd": awd, "enc": enc, "dec": dec}


def test_recognises_modules_and_counts_like_torch(saved):
    folder, models = saved
    net = models["net"]
    for name in ("net.pt", "checkpoint.pth"):
        rep = analyze(str(folder / name))
        assert rep.trainable == sum(p.numel() for p in net.parameters())
        assert rep.non_trainable == sum(b.numel() for b in net.buffers())  # BatchNorm's running statistics
        types = {layer.name: layer.type for layer in rep.layers}
        assert types == {"emb": "Embedding or Linear or LayerNorm", "encoder": "LSTM", "cell": "GRUCell",
                         "norm": "LayerNorm or GroupNorm or BatchNorm1d/2d/3d", "bn": "BatchNorm1d/2d/3d",
                         "conv": "Conv1d", "head": "Linear", "rnn": "RNN"}
        encoder = next(layer for layer in rep.layers if layer.name == "encoder")
        assert encoder.params == sum(p.numel() for p in net.encoder.parameters())
        assert len(encoder.gates) == 2 * 2 * 4 and len(encoder.extras) == 4  # weight_hr per direction, depth
        assert encoder.params == sum(g.params for g in encoder.gates) + sum(e.params for e in encoder.extras)
        # by hand: layer 0 forward input gate: weight_ih rows 16 x 8 inputs, weight_hh 16 x 4 (projected), 2 biases
        first = encoder.gates[0]
        assert (first.gate, first.depth, first.direction) == ("input", 0, "forward")
        assert (first.kernel, first.recurrent_kernel, first.bias) == (16 * 8, 16 * 4, 2 * 16)
        verified(folder / name)


def test_a_file_is_known_by_its_content_not_its_name(saved, cli):
    folder, models = saved
    lm = counted(models["lm"])
    for name in ("checkpoint.pth.tar", "lm_legacy.pt", "lm_no_extension", "lm.tar", "seq2seq.tar"):
        assert sniff(str(folder / name)) == "pytorch", name
    for name in ("lm_legacy.pt", "lm_no_extension", "lm.tar"):
        r = cli("params", str(folder / name), "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["total"] == lm
        verified(folder / name)
    (folder / "spec").write_text("framework: pytorch\nlayers:\n- {type: GRU, input_size: 3, hidden_size: 4}\n")
    assert sniff(str(folder / "spec")) == "text" and analyze(str(folder / "spec")).total == 3 * (4 * 7 + 8)


def test_other_formats_are_known_by_their_content_too(tmp_path, cli):
    import zipfile

    with zipfile.ZipFile(tmp_path / "model.zip", "w") as archive:  # a .keras archive under another name
        archive.writestr("config.json", "{}")
    (tmp_path / "weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "model.txt").write_text('{"class_name": "Sequential", "config": {"layers": []}}')
    assert [sniff(str(tmp_path / n)) for n in ("model.zip", "weights.h5", "model.txt")] == ["keras", "hdf5", "keras"]
    r = cli("params", str(tmp_path / "model.zip"))
    assert r.exit_code == 2 and "a Keras archive (a zip holding config.json); lstmcount reads it when its name " \
                                "ends in .keras" in r.stderr
    r = cli("params", str(tmp_path / "weights.h5"))
    assert r.exit_code == 2 and "weights.h5: h5py cannot open it as an HDF5 file (" in r.stderr  # read as Keras's
    r = cli("params", str(tmp_path / "model.txt"))  # read as a Keras model config, not as YAML
    assert r.exit_code == 2 and "model configuration" in r.stderr, r.stderr


def test_checkpoint_dicts_count_the_model_and_name_what_they_leave_out(saved, cli):
    folder, models = saved
    r = cli("params", str(folder / "checkpoint.pth.tar"), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["total"] == counted(models["lm"])
    notes = r.stderr.splitlines()
    path = folder / "checkpoint.pth.tar"
    assert f"{path}: note: the model is the state_dict under 'state_dict'" in notes
    assert (f"{path}: note: left out of the count (not a model's tensors): 'epoch', 'arch', 'best_acc1', "
            "'optimizer' (optimizer state)") in notes
    assert f"{path}: note: tied weights are one tensor, counted once (as model.parameters() counts it): " \
           "decoder.weight is encoder.weight" in notes
    r = cli("params", str(folder / "lightning.ckpt"), "--json")
    data = json.loads(r.stdout)
    assert data["total"] == counted(models["crnn"])
    assert {layer["name"] for layer in data["layers"]} == {"model.cnn.0", "model.cnn.1", "model.cnn.4",
                                                           "model.cnn.5", "model.rnn", "model.fc"}
    left = next(line for line in r.stderr.splitlines() if "left out" in line)
    for entry in ("'epoch'", "'optimizer_states'", "'callbacks.ModelCheckpoint.best_model_score'",
                  "'callbacks.ModelCheckpoint.best_k_models./ckpt/e1.ckpt'", "'hyper_parameters.lr'"):
        assert entry in left, entry
    verified(folder / "lightning.ckpt")


def test_several_models_each_under_its_key_and_key_picks_one(saved, cli):
    folder, models = saved
    path = folder / "seq2seq.tar"
    rep = analyze(str(path))
    assert rep.total == counted(models["enc"]) + counted(models["dec"])
    assert [layer.name for layer in rep.layers] == ["encoder", "decoder.encoder", "decoder.rnn", "decoder.decoder"]
    assert rep.notes[0] == "holds 2 models, each counted under its key: 'encoder', 'decoder'; --key NAME counts one"
    assert "'encoder_optimizer' (optimizer state)" in rep.notes[1] and "'epoch'" in rep.notes[1]
    assert analyze(str(path), key="encoder").total == counted(models["enc"])
    decoder = analyze(str(path), key="decoder")
    assert decoder.total == counted(models["dec"]) and [la.name for la in decoder.layers] == ["encoder", "rnn",
                                                                                              "decoder"]
    assert analyze(str(path), key="decoder.rnn").total == counted(models["dec"].rnn)  # a module inside it
    r = cli("params", str(path), "--key", "decoder_optimizer")
    assert r.exit_code == 2 and r.stderr == f"{path}: --key 'decoder_optimizer' is optimizer state " \
                                            "(state, param_groups), not a model\n"
    r = cli("params", str(path), "--key", "decodr")
    assert r.exit_code == 2 and "no entry 'decodr' (the entries: 'encoder', 'decoder', 'epoch'" in r.stderr
    assert "did you mean 'decoder'?" in r.stderr
    r = cli("params", str(path), "--key", "epoch")
    assert r.exit_code == 2 and "--key 'epoch' is the number 4, not a model's state_dict" in r.stderr
    r = cli("params", "configs/torch_mnist_lstm.yaml", "--key", "x")
    assert r.exit_code == 2 and "--key picks an entry of a PyTorch checkpoint" in r.stderr
    r = cli("compare", str(path), "--key", "encoder")
    assert r.exit_code == 0 and "pytorch" in r.stdout
    verified(path)
    verified(path, "decoder")


def test_prefixes_are_names_and_hide_no_module(saved):
    folder, models = saved
    crnn = models["crnn"]
    for name, prefix in (("crnn_dataparallel.pt", "module."), ("compiled.pt", "_orig_mod.")):
        rep = analyze(str(folder / name))
        assert rep.total == counted(crnn)
        types = {layer.name: layer.type for layer in rep.layers}
        assert types[f"{prefix}rnn"] == "LSTM" and types[f"{prefix}fc"] == "Linear"
        assert types[f"{prefix}cnn.0"] == "Conv2d or ConvTranspose2d"
        assert types[f"{prefix}cnn.4"] == "Conv2d or ConvTranspose2d or LayerNorm"  # bias-free: a 4-D weight
        assert types[f"{prefix}cnn.1"] == "BatchNorm1d/2d/3d"
        bn = next(layer for layer in rep.layers if layer.name == f"{prefix}cnn.1")
        assert (bn.trainable, bn.non_trainable) == (16, 17)  # running mean and var, the batch counter
        verified(folder / name)


def test_tied_weights_count_once_and_verify_says_so(saved, cli):
    folder, models = saved
    lm = models["lm"]
    untied = sum(t.numel() for t in lm.state_dict().values())
    assert untied - counted(lm) == 1000 * 50  # the decoder's weight is the encoder's
    r = cli("params", str(folder / "lm_legacy.pt"), "--json")
    data = json.loads(r.stdout)
    assert data["total"] == counted(lm)
    decoder = next(layer for layer in data["layers"] if layer["name"] == "decoder")
    assert decoder["params"] == 1000  # its bias: its weight is counted at encoder.weight
    assert decoder["weights"][0] == {"name": "weight", "shape": [1000, 50], "params": 0, "trainable": True,
                                     "tied": "encoder.weight"}
    r = cli("layout", str(folder / "lm_legacy.pt"), "--json", "--layer", "decoder")
    assert json.loads(r.stdout)["weights"][0]["tied"] == "encoder.weight"
    r = cli("verify", str(folder / "lm_legacy.pt"))
    assert r.exit_code == 0
    assert "PyTorch's own count is model.parameters() of the modules built as one model" in r.stderr
    assert "decoder.weight is encoder.weight" in r.stderr
    res = verified(folder / "lm_legacy.pt")
    assert res.native_total == counted(lm)


def test_bytes_are_what_the_file_stores(saved, cli):
    folder, _ = saved
    total = counted(WordLM())
    for dtype, size in (("float16", 2), ("bfloat16", 2), ("float64", 8)):
        r = cli("params", str(folder / f"lm_{dtype}.pt"), "--json")
        data = json.loads(r.stdout)
        assert (data["total"], data["dtype"], data["bytes"]) == (total, dtype, total * size)
        r = cli("params", str(folder / f"lm_{dtype}.pt"), "--json", "--dtype", "int8")  # what if
        assert json.loads(r.stdout)["bytes"] == total
    r = cli("params", str(folder / "lm_int8.pt"), "--json")
    data = json.loads(r.stdout)
    assert (data["dtype"], data["bytes"]) == ("int8", data["total"]) and data["total"] == total + 1000 * 50
    r = cli("params", str(folder / "crnn_dataparallel.pt"), "--json")
    data = json.loads(r.stdout)  # BatchNorm's batch counters are int64
    assert data["dtype"] == "float32 + int64" and data["bytes"] == (data["total"] - 2) * 4 + 2 * 8
    r = cli("params", str(folder / "crnn_dataparallel.pt"))
    assert "at float32 + int64)" in r.stdout


def test_parametrized_and_weight_dropped_recurrent_weights(saved, cli):
    folder, models = saved
    awd = models["awd"]
    rep = analyze(str(folder / "awd.pt"))
    assert rep.total == counted(awd) and rep.trainable == sum(p.numel() for p in awd.parameters())
    layers = {layer.name: layer for layer in rep.layers}
    assert {name: layer.type for name, layer in layers.items()} == {
        "encoder": "Embedding or Linear or LayerNorm", "rnns.0.module": "LSTM", "rnns.1": "LSTM", "normed": "GRU",
        "old": "LSTM", "head": "Linear", "decoder": "Embedding or Linear or LayerNorm"}
    dropped = layers["rnns.0.module"]  # weight_hh_l0_raw is the recurrent kernel
    assert [g.recurrent_kernel for g in dropped.gates] == [12 * 12] * 4 and not dropped.extras
    assert [w.name for w in dropped.weights] == ["weight_ih_l0", "weight_hh_l0_raw", "bias_ih_l0", "bias_hh_l0"]
    fastai = layers["rnns.1"]
    assert [w.name for w in fastai.weights] == ["module.weight_ih_l0", "weight_hh_l0_raw", "module.bias_ih_l0",
                                                "module.bias_hh_l0"]
    normed = layers["normed"]  # weight_norm: v is the recurrent kernel of depth 1, g (one per row) an extra
    assert [e.name for e in normed.extras] == ["parametrizations.weight_hh_l1.original0"]
    assert normed.extras[0].params == 3 * 6
    assert [g.recurrent_kernel for g in normed.gates if g.depth == 1] == [6 * 6] * 3
    old = layers["old"]
    assert [e.name for e in old.extras] == ["weight_ih_l0_g"] and old.gates[0].kernel == 4 * 6
    head = layers["head"]  # spectral_norm's _u and _v are buffers
    assert head.non_trainable == 60 + 4 and head.params == 60 * 4 + 60 + 64
    assert ("weights held through a parametrization are counted as stored, laid out as the weight they make: "
            "rnns.0.module.weight_hh_l0 (WeightDrop's _raw weight), rnns.1.weight_hh_l0 (WeightDrop's _raw weight), "
            "normed.weight_hh_l1 (weight_norm), old.weight_ih_l0 (weight_norm's _g and _v), head.weight "
            "(a parametrization's original), decoder.weight (weight_norm)") in rep.notes
    verified(folder / "awd.pt")
    r = cli("layout", str(folder / "awd.pt"), "--to", "keras", "--layer", "normed")
    assert r.exit_code == 2 and "does not hold its weights as the plain layer does" in r.stderr
    r = cli("layout", str(folder / "awd.pt"), "--to", "keras", "--layer", "rnns.0.module")
    assert r.exit_code == 0 and "weight_hh_l0_raw" in r.stdout  # WeightDrop's raw weight is the weight
    r = cli("solve", str(folder / "awd.pt"), "--layer", "old", "--budget", "100000")
    assert r.exit_code == 2 and "weight_ih_l0_g" in r.stderr


def test_an_unrecognised_module_is_listed_as_stored(saved, tmp_path, cli):
    folder, models = saved
    state = models["net"].state_dict()
    state["encoder.weight_hh_l1"] = torch.zeros(64, 5)  # not what an LSTM with these other tensors holds
    torch.save(state, tmp_path / "broken.pt")
    r = cli("params", str(tmp_path / "broken.pt"), "--json")
    types = {layer["name"]: layer["type"] for layer in json.loads(r.stdout)["layers"]}
    assert types["encoder"] == "tensors"
    assert cli("verify", str(tmp_path / "broken.pt")).exit_code == 0
    torch.save({"x.weight_ih_l0": torch.zeros(3), "x.weight_hh_l0": torch.zeros(2, 2)}, tmp_path / "rank.pt")
    r = cli("params", str(tmp_path / "rank.pt"))  # no module holds it: refused (tests/test_hostile_torch.py)
    assert r.exit_code == 2 and r.stderr == f"{tmp_path / 'rank.pt'}: tensor 'x.weight_ih_l0' has shape (3,); the " \
        "weight_ih_l0 of an RNN is 2-D (hidden, input)\n"
    for bad in ({"w": torch.zeros(3)}, {"x.weight_ih_l0": torch.zeros(8, 2), "x.weight_hh_l0": torch.zeros(3, 3)},
                {"x.weight_ih_lx": torch.zeros(8, 2), "x.weight_hh_l0": torch.zeros(2, 2)},
                {"x.parametrizations.weight.original7": torch.zeros(2, 2)}):
        torch.save(bad, tmp_path / "odd.pt")
        r = cli("params", str(tmp_path / "odd.pt"), "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["total"] == sum(t.numel() for t in bad.values())
        assert json.loads(r.stdout)["layers"][0]["type"] == "tensors"


def test_files_that_hold_no_model(saved, tmp_path, cli):
    folder, _ = saved
    for bad in ("pickled.pt", "garbage.pt"):
        r = cli("params", str(folder / bad))
        assert r.exit_code == 2 and "not a readable PyTorch checkpoint (" in r.stderr, r.stderr
    for obj, message in ((torch.zeros(3), "holds a tensor of shape [3], not a state_dict or a checkpoint dict"),
                         ({"epoch": 3, "lr": 0.1}, "holds no state_dict (no mapping of names to tensors); its "
                                                   "entries: 'epoch', 'lr'"),
                         ([torch.zeros(2)], "holds a list, not a state_dict")):
        torch.save(obj, tmp_path / "x.pth")
        r = cli("params", str(tmp_path / "x.pth"))
        assert r.exit_code == 2 and message in r.stderr, r.stderr
    (tmp_path / "blob").write_bytes(b"\x00\x01binary")
    r = cli("params", str(tmp_path / "blob"))
    assert r.exit_code == 2 and "binary data, not a YAML model spec (nor a file lstmcount recognises" in r.stderr


def test_state_dict_without_torch_is_exit_3(saved):
    folder, _ = saved
    for name in ("net.pt", "lm_no_extension"):
        code = (f"import sys; sys.modules['torch'] = None\nfrom lstmcount.cli import main\n"
                f"sys.argv = ['lstmcount', 'params', {str(folder / name)!r}]\nmain()")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 3 and "pip install 'lstmcount[torch]'" in r.stderr


def test_solve_sizes_a_files_recurrent_layer_with_its_other_tensors_fixed(saved, cli, tmp_path):
    folder, models = saved
    net = models["net"]
    r = cli("solve", str(folder / "net.pt"), "--layer", "rnn", "--budget", "6000", "--json")
    data = json.loads(r.stdout)
    # by hand: every other tensor stays; RNN(3, h) without bias holds h(3 + h)
    fixed = sum(t.numel() for k, t in net.state_dict().items() if not k.startswith("rnn."))
    h = max(n for n in range(1, 100) if fixed + n * (3 + n) <= 6000)
    assert r.exit_code == 0, r.stderr
    assert (data["units"], data["argument"], data["params"]) == (h, "hidden_size", fixed + h * (3 + h))
    assert data["next_params"] == fixed + (h + 1) * (4 + h)
    torch.save(nn.GRU(10, 20).state_dict(), tmp_path / "gru.pt")  # the only recurrent layer: no --layer
    r = cli("solve", str(tmp_path / "gru.pt"), "--budget", "5000")
    # 3 (h (10 + h) + 2h) <= 5000: h = 35 gives 4,935, h = 36 gives 5,184
    assert r.exit_code == 0 and r.stdout == "(root).hidden_size = 35: 4,935 parameters (budget 5,000; 36 would " \
        "need 5,184)\n"
    r = cli("solve", str(folder / "net.pt"), "--budget", "4000")
    assert r.exit_code == 2 and "the file's recurrent layers are encoder, cell, rnn" in r.stderr


# --- any model, saved any way -------------------------------------------------------------------

def _module(draw, width: int) -> tuple[nn.Module, int]:
    """One module that takes `width` features, and the width it gives."""
    kind = draw(st.sampled_from(["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "Linear", "Embedding",
                                 "Conv1d", "ConvTranspose1d", "Conv2d", "BatchNorm1d", "LayerNorm", "GroupNorm",
                                 "PReLU"]))
    size = draw(st.integers(1, 12))
    bias = draw(st.booleans())
    if kind in ("LSTM", "GRU", "RNN"):
        proj = draw(st.integers(0, size - 1)) if kind == "LSTM" and size > 1 else 0
        bi = draw(st.booleans())
        args = {"proj_size": proj} if proj else {}
        m = getattr(nn, kind)(width, size, num_layers=draw(st.integers(1, 3)), bias=bias, bidirectional=bi, **args)
        return m, (proj or size) * (2 if bi else 1)
    if kind.endswith("Cell"):
        return getattr(nn, kind)(width, size, bias=bias), size
    if kind == "Linear":
        return nn.Linear(width, size, bias=bias), size
    if kind == "Embedding":
        return nn.Embedding(draw(st.integers(1, 40)), width), width
    if kind in ("Conv1d", "ConvTranspose1d", "Conv2d"):
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if width % g == 0]))
        out = size * groups
        return getattr(nn, kind)(width, out, draw(st.integers(1, 3)), groups=groups, bias=bias), out
    if kind == "BatchNorm1d":
        return nn.BatchNorm1d(width, affine=draw(st.booleans()), track_running_stats=draw(st.booleans())), width
    if kind == "LayerNorm":
        return nn.LayerNorm(width, elementwise_affine=draw(st.booleans()), bias=bias), width
    if kind == "GroupNorm":
        return nn.GroupNorm(draw(st.sampled_from([g for g in (1, 2, 4) if width % g == 0])), width), width
    return nn.PReLU(draw(st.sampled_from([1, width]))), width


@st.composite
def saved_models(draw):
    width = draw(st.integers(1, 12))
    modules = []
    for _ in range(draw(st.integers(1, 4))):
        m, width = _module(draw, width)
        modules.append(m)
    model = nn.Sequential(*modules)
    wrap = draw(st.sampled_from(["plain", "dataparallel", "checkpoint", "lightning", "several"]))
    how = {"legacy": draw(st.booleans()), "dtype": draw(st.sampled_from([None, torch.float16, torch.float64])),
           "wrap": wrap, "suffix": draw(st.sampled_from([".pt", ".pth.tar", "", ".bin"]))}
    return model, how


def _save(model: nn.Module, how: dict, path) -> int:
    """Save the model the way `how` says; return what the file holds by torch's own count."""
    if how["dtype"] is not None:
        model = model.to(how["dtype"])
    sd = model.state_dict()
    total = counted(model)
    if how["wrap"] == "dataparallel":
        sd = nn.DataParallel(model).state_dict()
    elif how["wrap"] == "checkpoint":
        sd = {"model": sd, "epoch": 1, "optimizer": torch.optim.SGD(model.parameters(), 0.1).state_dict()}
    elif how["wrap"] == "lightning":
        sd = {"state_dict": {f"model.{k}": v for k, v in sd.items()}, "global_step": 3}
    elif how["wrap"] == "several":
        sd = {"student": sd, "teacher": model.state_dict()}  # the same tensors twice: one storage each
    torch.save(sd, path, _use_new_zipfile_serialization=not how["legacy"])
    return total


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=saved_models().filter(lambda case: len(case[0].state_dict()) > 0))  # a model of no tensors saves
def test_random_models_saved_any_way_count_as_torch_does(case, tmp_path):        # nothing to read (a refusal)
    model, how = case
    path = tmp_path / f"model{how['suffix']}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total = _save(model, how, path)
    rep = analyze(str(path))
    assert rep.total == total  # "several" saves the same tensors under two keys: counted once
    assert rep.trainable == sum(p.numel() for p in model.parameters())
    for layer in rep.layers:
        if layer.recurrent:
            assert layer.gates and layer.params == sum(g.params for g in layer.gates) + sum(
                e.params for e in layer.extras)
    size = {None: 4, torch.float16: 2, torch.float64: 8}[how["dtype"]]
    batches = sum(b.numel() for name, b in model.named_buffers() if name.endswith("num_batches_tracked"))
    assert rep.bytes == (total - batches) * size + batches * 8
    verified(path)
