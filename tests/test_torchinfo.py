"""MACs against torchinfo, the closest peer, on live modules: where its convention is the matrix
products (bias-free recurrent modules) the numbers agree exactly; with biases torchinfo also counts
each bias as a mult-add at every step (README: "Other tools disagree"), and that difference is
exactly the biases times the steps."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")

from lstmcount import analyze  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.filterwarnings("ignore")]


@st.composite
def recurrent_modules(draw):
    kind = draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
    features, hidden = draw(st.integers(1, 12)), draw(st.integers(2, 12))
    args = {"num_layers": draw(st.integers(1, 3)), "bidirectional": draw(st.booleans()), "bias": draw(st.booleans())}
    if kind == "LSTM" and draw(st.booleans()):
        args["proj_size"] = draw(st.integers(1, hidden - 1))
    return getattr(torch.nn, kind)(features, hidden, **args), features, draw(st.integers(1, 40))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=recurrent_modules())
def test_macs_agree_with_torchinfo(case):
    module, features, steps = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = torchinfo.summary(module, input_size=(steps, 1, features), verbose=0)
    rep = analyze(module, timesteps=steps)
    assert rep.total == info.total_params == sum(p.numel() for p in module.parameters())
    biases = sum(p.numel() for name, p in module.named_parameters() if name.startswith("bias"))
    assert info.total_mult_adds == rep.macs + steps * biases
