"""Counts derived by hand (written out in each test), against the analytic engine alone."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcount import SpecError, UsageError, conventions, count, count_layer, formula
from lstmcount.accounting import report
from lstmcount.conventions.flags import FORM_MAX_LAYERS, SUPPORT, Quadratic, _closed_form, fit_quadratic, flags_layout
from lstmcount.inputs import loads
from lstmcount.inputs.flags import model_from_flags
from lstmcount.layout import Slice
from lstmcount.model import LayerFlags


def rep(text: str):
    return report(conventions.layout(loads(text)))


# --- Keras recurrent layers -------------------------------------------------------------------


def test_tutorial_lstm_and_model():
    # 4 gates × ((input + units) × units + units) = 4 × ((28 + 75) × 75 + 75)
    assert count("lstm", units=75, input=28) == 4 * ((28 + 75) * 75 + 75) == 31_200
    r = rep("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\n- {type: Dense, units: 10}\n"
            "- {type: Activation, activation: softmax}\n")
    # Dense(10) on 75 features: 75 × 10 + 10 = 760; softmax has none.
    assert [layer.params for layer in r.layers] == [31_200, 760, 0]
    assert r.total == 31_960 and r.trainable == 31_960 and r.non_trainable == 0
    assert r.bytes == 31_960 * 4


def test_lstm_formula_and_gates():
    r = rep("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\n")
    lstm = r.layers[0]
    assert lstm.formula == "4 × ((28 + 75) × 75 + 75) = 31,200"
    assert [g.gate for g in lstm.gates] == ["input", "forget", "cell", "output"]
    # each gate: kernel 28 × 75, recurrent 75 × 75, bias 75
    assert {(g.kernel, g.recurrent_kernel, g.bias) for g in lstm.gates} == {(2_100, 5_625, 75)}
    kernel = lstm.weights[0]
    assert kernel.name == "kernel" and kernel.shape == (28, 300) and kernel.gate_axis == 1
    assert kernel.slices == (Slice("input", 0, 75), Slice("forget", 75, 150), Slice("cell", 150, 225),
                             Slice("output", 225, 300))


@pytest.mark.parametrize(("reset_after", "expected", "bias_shape"), [
    (True, 3 * ((28 + 75) * 75 + 2 * 75), (2, 225)),   # two bias rows: input and recurrent
    (False, 3 * ((28 + 75) * 75 + 75), (225,)),
])
def test_keras_gru_reset_after(reset_after, expected, bias_shape):
    assert count("gru", units=75, input=28, reset_after=reset_after) == expected
    r = rep(f"input_shape: [28, 28]\nlayers:\n- {{type: GRU, units: 75, reset_after: {str(reset_after).lower()}}}\n")
    gru = r.layers[0]
    assert gru.weights[2].shape == bias_shape
    assert [g.gate for g in gru.gates] == ["update", "reset", "candidate"]
    assert all(g.bias == (150 if reset_after else 75) for g in gru.gates)


def test_gru_formulas():
    assert rep("input_shape: [28, 28]\nlayers:\n- {type: GRU, units: 75}\n").layers[0].formula == \
        "3 × ((28 + 75) × 75 + 2 × 75) = 23,625"
    r = rep("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75, use_bias: false}\n")
    assert r.layers[0].formula == "4 × (28 + 75) × 75 = 30,900"


def test_simple_rnn_and_no_bias():
    assert count("rnn", units=75, input=28) == (28 + 75) * 75 + 75 == 7_800
    assert count("lstm", units=75, input=28, bias=False) == 4 * (28 + 75) * 75 == 30_900
    r = rep("input_shape: [28, 28]\nlayers:\n- {type: SimpleRNN, units: 75}\n")
    assert r.layers[0].formula == "(28 + 75) × 75 + 75 = 7,800"
    assert [g.gate for g in r.layers[0].gates] == ["hidden"]


@pytest.mark.parametrize(("mode", "width"), [("concat", 150), ("sum", 75), ("mul", 75), ("ave", 75)])
def test_bidirectional_merge_modes(mode, width):
    r = rep(f"input_shape: [null, 28]\nlayers:\n- type: Bidirectional\n  merge_mode: {mode}\n"
            "  layer: {type: LSTM, units: 75}\n- {type: Dense, units: 1}\n")
    bi, dense = r.layers
    assert bi.params == 2 * 31_200
    assert bi.output_shape == (width,)
    assert dense.params == width + 1
    assert {g.direction for g in bi.gates} == {"forward", "backward"} and len(bi.gates) == 8
    assert [w.name for w in bi.weights[:3]] == ["forward_lstm/kernel", "forward_lstm/recurrent_kernel",
                                                "forward_lstm/bias"]
    assert bi.formula == "2 × 4 × ((28 + 75) × 75 + 75) = 62,400"


def test_bidirectional_merge_none_must_be_last():
    r = rep("input_shape: [null, 28]\nlayers:\n- type: Bidirectional\n  merge_mode: null\n"
            "  layer: {type: GRU, units: 8, return_sequences: true}\n")
    assert r.total == 2 * 3 * ((28 + 8) * 8 + 2 * 8)
    with pytest.raises(Exception, match="does not hand on a single tensor"):
        rep("input_shape: [null, 28]\nlayers:\n- type: Bidirectional\n  merge_mode: null\n"
            "  layer: {type: GRU, units: 8}\n- {type: Dense, units: 1}\n")


def test_stacked_flags_keras_and_sequences():
    # layer 2 takes layer 1's 75 outputs: 4 × ((75 + 75) × 75 + 75) = 45,300
    assert count("lstm", units=75, input=28, num_layers=2) == 31_200 + 4 * ((75 + 75) * 75 + 75)
    # bidirectional stack: layer 2 takes 150 features
    assert count("lstm", units=75, input=28, num_layers=2, bidirectional=True) == \
        2 * 31_200 + 2 * 4 * ((150 + 75) * 75 + 75)


@pytest.mark.parametrize(("rank", "shape", "kernel", "expected", "out"), [
    # kernel k^n × (in + f) × 4f + 4f bias
    (1, "[10, 8, 3]", 3, 3 * (3 + 4) * 16 + 16, (6, 4)),
    (2, "[10, 8, 8, 3]", 3, 3 * 3 * (3 + 4) * 16 + 16, (6, 6, 4)),
    (3, "[10, 8, 8, 8, 3]", 3, 3 * 3 * 3 * (3 + 4) * 16 + 16, (6, 6, 6, 4)),
])
def test_conv_lstm(rank, shape, kernel, expected, out):
    r = rep(f"input_shape: {shape}\nlayers:\n- {{type: ConvLSTM{rank}D, filters: 4, kernel_size: {kernel}}}\n")
    assert r.total == expected
    assert r.layers[0].output_shape == out
    assert len(r.layers[0].gates) == 4


def test_conv_lstm_same_padding_sequences_and_channels_first():
    r = rep("input_shape: [10, 3, 8, 8]\nlayers:\n- {type: ConvLSTM2D, filters: 4, kernel_size: [3, 5], "
            "padding: same, return_sequences: true, data_format: channels_first}\n")
    assert r.layers[0].output_shape == (10, 4, 8, 8)
    assert r.total == 3 * 5 * (3 + 4) * 16 + 16


# --- Keras non-recurrent layers -----------------------------------------------------------------


@pytest.mark.parametrize(("layer", "shape", "params", "out"), [
    ("{type: Dense, units: 10}", "[28, 28]", 28 * 10 + 10, (28, 10)),      # Dense on 3-D input
    ("{type: Dense, units: 10, use_bias: false}", "[28]", 280, (10,)),
    ("{type: TimeDistributed, layer: {type: Dense, units: 10}}", "[5, 28]", 290, (5, 10)),
    ("{type: Embedding, input_dim: 1000, output_dim: 16}", "[null]", 16_000, (None, 16)),
    ("{type: Masking}", "[5, 3]", 0, (5, 3)),
    ("{type: Dropout, rate: 0.5}", "[5, 3]", 0, (5, 3)),
    ("{type: Flatten}", "[28, 28]", 0, (784,)),
    ("{type: Flatten}", "[null, 28]", 0, (None,)),
    ("{type: Reshape, target_shape: [-1, 7]}", "[28, 28]", 0, (112, 7)),
    ("{type: RepeatVector, n: 5}", "[28]", 0, (5, 28)),
    ("{type: Conv1D, filters: 16, kernel_size: 3}", "[28, 28]", 3 * 28 * 16 + 16, (26, 16)),
    ("{type: Conv1D, filters: 16, kernel_size: 3, padding: causal, strides: 2}", "[28, 28]", 1360, (14, 16)),
    ("{type: Conv1D, filters: 16, kernel_size: 3, dilation_rate: 2}", "[28, 28]", 1360, (24, 16)),
    ("{type: Conv1D, filters: 16, kernel_size: 3, groups: 4}", "[28, 28]", 3 * 7 * 16 + 16, (26, 16)),
    ("{type: Conv2D, filters: 16, kernel_size: 3}", "[28, 28, 1]", 3 * 3 * 1 * 16 + 16, (26, 26, 16)),
    ("{type: Conv2D, filters: 8, kernel_size: [3, 5], strides: 2, padding: same}", "[28, 28, 2]",
     3 * 5 * 2 * 8 + 8, (14, 14, 8)),
    ("{type: MaxPooling1D}", "[28, 5]", 0, (14, 5)),
    ("{type: AveragePooling1D, pool_size: 3, strides: 2}", "[28, 5]", 0, (13, 5)),
    ("{type: MaxPooling2D, padding: same}", "[7, 7, 3]", 0, (4, 4, 3)),
    ("{type: AveragePooling2D, pool_size: [2, 3]}", "[8, 9, 3]", 0, (4, 3, 3)),
    ("{type: GlobalAveragePooling1D}", "[28, 5]", 0, (5,)),
    ("{type: GlobalMaxPooling1D, keepdims: true}", "[28, 5]", 0, (1, 5)),
    ("{type: LayerNormalization}", "[28, 5]", 10, (28, 5)),
    ("{type: LayerNormalization, axis: [1, 2]}", "[28, 5]", 2 * 28 * 5, (28, 5)),
    ("{type: Activation, activation: relu}", "[3]", 0, (3,)),
    # transposed: kernel (k, filters, in); valid length (n - 1) × stride + k = 9 × 2 + 3 = 21
    ("{type: Conv1DTranspose, filters: 4, kernel_size: 3, strides: 2}", "[10, 6]", 3 * 4 * 6 + 4, (21, 4)),
    # same: n × stride; with output_padding p: (n - 1) × stride + k % 2 + p = 4 × 2 + 1 + 1 = 10
    ("{type: Conv2DTranspose, filters: 2, kernel_size: 3, strides: 2, padding: same}", "[5, 5, 3]",
     3 * 3 * 2 * 3 + 2, (10, 10, 2)),
    ("{type: Conv2DTranspose, filters: 2, kernel_size: 3, strides: 2, padding: same, output_padding: 1}",
     "[5, 5, 3]", 3 * 3 * 2 * 3 + 2, (10, 10, 2)),
    ("{type: Conv3D, filters: 4, kernel_size: 2}", "[5, 5, 5, 3]", 2 * 2 * 2 * 3 * 4 + 4, (4, 4, 4, 4)),
    # separable: depthwise (k, k, in, mult) + pointwise (1, 1, in × mult, filters) + filters
    ("{type: SeparableConv2D, filters: 8, kernel_size: 3, depth_multiplier: 2}", "[9, 9, 3]",
     3 * 3 * 3 * 2 + 3 * 2 * 8 + 8, (7, 7, 8)),
    # depthwise: (k, in, mult) + in × mult; output channels in × mult
    ("{type: DepthwiseConv1D, kernel_size: 3, depth_multiplier: 2}", "[9, 3]", 3 * 3 * 2 + 6, (7, 6)),
    ("{type: MaxPooling3D}", "[4, 5, 6, 2]", 0, (2, 2, 3, 2)),
    ("{type: GlobalAveragePooling2D, data_format: channels_first}", "[3, 8, 8]", 0, (3,)),
    ("{type: PReLU}", "[4, 5]", 20, (4, 5)),                                  # one alpha per position
    ("{type: PReLU, shared_axes: [1]}", "[4, 5]", 5, (4, 5)),                 # shared along the steps
    ("{type: ZeroPadding2D, padding: [[1, 2], 3]}", "[4, 4, 1]", 0, (7, 10, 1)),
    ("{type: Cropping1D, cropping: [1, 2]}", "[9, 3]", 0, (6, 3)),
    ("{type: UpSampling2D, size: [2, 3]}", "[4, 4, 1]", 0, (8, 12, 1)),
    ("{type: Permute, dims: [2, 1]}", "[4, 5]", 0, (5, 4)),
    ("{type: GroupNormalization, groups: 4}", "[6, 8]", 2 * 8, (6, 8)),      # gamma and beta per channel
    ("{type: Normalization}", "[6, 8]", 2 * 8 + 1, (6, 8)),                   # mean, variance, count
    ("{type: Normalization, axis: [1, 2]}", "[6, 8]", 2 * 48 + 1, (6, 8)),
    ("{type: Normalization, mean: 0.5, variance: 2.0}", "[6, 8]", 0, (6, 8)), # constants, no weights
    ("{type: Lambda, function: f, output_shape: [3, null]}", "[6, 8]", 0, (3, None)),
    ("{type: TimeDistributed, layer: {type: Conv1D, filters: 2, kernel_size: 3}}", "[4, 9, 3]", 3 * 3 * 2 + 2,
     (4, 7, 2)),
])
def test_keras_plain_layers(layer, shape, params, out):
    r = rep(f"input_shape: {shape}\nlayers:\n- {layer}\n")
    assert r.total == params
    assert r.layers[0].output_shape == out


def test_normalization_statistics_are_non_trainable():
    r = rep("input_shape: [6, 8]\nlayers:\n- {type: Normalization}\n")
    assert (r.total, r.trainable) == (17, 0)
    assert [(w.name, w.shape) for w in r.layers[0].weights] == [("mean", (8,)), ("variance", (8,)), ("count", ())]


def test_bidirectional_backward_layer_keeps_its_own_name():
    r = rep("input_shape: [null, 5]\nlayers:\n- type: Bidirectional\n  layer: {type: LSTM, units: 3}\n"
            "  backward_layer: {type: GRU, units: 3, go_backwards: true, name: back}\n")
    # forward LSTM 4 × ((5 + 3) × 3 + 3); backward GRU (reset_after) 3 × ((5 + 3) × 3 + 2 × 3)
    assert r.total == 4 * (8 * 3 + 3) + 3 * (8 * 3 + 6)
    assert [w.name for w in r.layers[0].weights] == [
        "forward_lstm/kernel", "forward_lstm/recurrent_kernel", "forward_lstm/bias",
        "back/kernel", "back/recurrent_kernel", "back/bias"]
    assert r.layers[0].output_shape == (6,)


def test_batch_norm_statistics_are_non_trainable():
    r = rep("input_shape: [28, 28]\nlayers:\n- {type: BatchNormalization}\n")
    # gamma, beta (trainable) + moving mean, moving variance (not): 4 × 28
    assert (r.total, r.trainable, r.non_trainable) == (112, 56, 56)
    assert r.layers[0].formula == "4 × 28 = 112"


def test_trainable_false_freezes_a_layer():
    r = rep("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75, trainable: false}\n"
            "- {type: Dense, units: 10}\n")
    assert (r.total, r.trainable, r.non_trainable) == (31_960, 760, 31_200)


def test_repeated_layers_are_each_checked_and_counted():
    # identical layers are built once per model; a value equal in Python (1 == 1.0 == true) is not the same argument
    r = rep("input_shape: [null, 4]\nlayers:\n" + "- {type: LSTM, units: 2, return_sequences: true}\n" * 3
            + "- {type: LSTM, units: 2, return_sequences: true, trainable: false}\n")
    assert [layer.name for layer in r.layers] == ["lstm", "lstm_1", "lstm_2", "lstm_3"]
    assert [layer.params for layer in r.layers] == [4 * ((4 + 2) * 2 + 2)] + [4 * ((2 + 2) * 2 + 2)] * 3
    assert r.non_trainable == r.layers[3].params
    for bad, message in (("true", "must be an integer, got true"), ("1.0", "must be an integer, got 1.0")):
        with pytest.raises(SpecError, match=message):
            rep("input_shape: [null, 1]\nlayers:\n- {type: LSTM, units: 1, return_sequences: true}\n"
                f"- {{type: LSTM, units: {bad}, return_sequences: true}}\n")


def test_enormous_layers_are_exact():
    u = i = 10**6
    assert count("lstm", units=u, input=i) == 4 * ((i + u) * u + u) == 8_000_004_000_000


# --- PyTorch -----------------------------------------------------------------------------------


def test_pytorch_lstm_two_biases():
    # 4 × (75 × (28 + 75) + 2 × 75): b_ih and b_hh per gate, 300 more than Keras
    assert count("lstm", units=75, input=28, framework="pytorch") == 31_500
    r = report(conventions.layout(loads("framework: pytorch\nlayers:\n- {type: LSTM, input_size: 28, "
                                        "hidden_size: 75}\n")))
    lstm = r.layers[0]
    assert lstm.formula == "4 × (75 × (28 + 75) + 2 × 75) = 31,500"
    assert [w.name for w in lstm.weights] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert lstm.weights[0].shape == (300, 28) and lstm.weights[0].gate_axis == 0
    assert all(g.bias == 150 for g in lstm.gates)


def test_pytorch_gru_order_and_rnn():
    r = report(conventions.layout(loads("framework: pytorch\nlayers:\n- {type: GRU, input_size: 28, "
                                        "hidden_size: 75}\n")))
    assert [g.gate for g in r.layers[0].gates] == ["reset", "update", "candidate"]
    assert r.total == 3 * (75 * (28 + 75) + 2 * 75) == 23_625
    assert count("rnn", units=75, input=28, framework="pytorch") == 75 * 28 + 75 * 75 + 2 * 75


def test_pytorch_projection_stack():
    # per direction, depth 0: 4 × (75 × 28 + 75 × 20 + 2 × 75) + 20 × 75 = 16,500
    # depth 1 takes 2 × 20 = 40 features:  4 × (75 × 40 + 75 × 20 + 2 × 75) + 20 × 75 = 20,100
    n = count("lstm", units=75, input=28, framework="pytorch", num_layers=2, bidirectional=True, proj_size=20)
    assert n == 2 * 16_500 + 2 * 20_100 == 73_200
    r = report(conventions.layout(loads("framework: pytorch\nlayers:\n- {type: LSTM, input_size: 28, "
                                        "hidden_size: 75, proj_size: 20}\n")))
    lstm = r.layers[0]
    assert [e.name for e in lstm.extras] == ["weight_hr_l0"] and lstm.extras[0].params == 1_500
    assert lstm.weights[1].shape == (300, 20)
    assert lstm.params == sum(g.params for g in lstm.gates) + sum(e.params for e in lstm.extras)
    assert lstm.formula == "4 × (75 × (28 + 20) + 2 × 75) + 20 × 75 = 16,500"


@pytest.mark.parametrize(("args", "expected"), [
    (("pytorch", "LSTMCell"), 4 * (75 * 28 + 75 * 75 + 2 * 75)),
    (("pytorch", "GRUCell"), 3 * (75 * 28 + 75 * 75 + 2 * 75)),
    (("pytorch", "RNNCell"), 75 * 28 + 75 * 75 + 2 * 75),
])
def test_pytorch_cells(args, expected):
    assert count_layer(*args, input_size=28, hidden_size=75) == expected


def test_pytorch_plain_modules():
    assert count_layer("pytorch", "Linear", in_features=75, out_features=10) == 760
    assert count_layer("pytorch", "Linear", in_features=75, out_features=10, bias=False) == 750
    assert count_layer("pytorch", "Embedding", num_embeddings=1000, embedding_dim=16) == 16_000
    assert count_layer("pytorch", "LayerNorm", normalized_shape=[4, 5]) == 40
    assert count_layer("pytorch", "LayerNorm", normalized_shape=16, bias=False) == 16
    assert count_layer("pytorch", "Dropout", p=0.1) == 0
    assert count_layer("keras", "GRU", (None, 28), units=75, reset_after=False) == 23_400


# --- the API's fast path and the flags' spec path are one description ------------------------------




@st.composite
def flag_sets(draw):
    framework = draw(st.sampled_from(["keras", "pytorch"]))
    kind = draw(st.sampled_from(["lstm", "gru", "rnn"]))
    units = draw(st.integers(1, 300))
    proj = draw(st.one_of(st.none(), st.integers(0, units - 1))) if (framework, kind) == ("pytorch", "lstm") \
        else None
    reset_after = draw(st.one_of(st.none(), st.booleans())) if (framework, kind) == ("keras", "gru") else None
    return LayerFlags(kind, framework, units, draw(st.integers(1, 300)), draw(st.booleans()),
                      draw(st.integers(1, 4)), draw(st.booleans()), reset_after, proj)


@settings(max_examples=300, deadline=None)
@given(flag_sets())
def test_count_fast_path_equals_spec_path(flags):
    assert count(flags.type, units=flags.units, input=flags.input, framework=flags.framework,
                 bidirectional=flags.bidirectional, num_layers=flags.num_layers, bias=flags.bias,
                 reset_after=flags.reset_after, proj_size=flags.proj_size) == \
        conventions.layout(model_from_flags(flags)).params


@st.composite
def any_flags(draw):
    """Valid flags in any of the six frameworks, with every option that framework has."""
    framework = draw(st.sampled_from(list(SUPPORT)))
    support = SUPPORT[framework]
    kind = draw(st.sampled_from(support.types))
    units = draw(st.integers(1, 10**6))
    proj = draw(st.one_of(st.none(), st.integers(0, units - 1))) if kind in support.proj else None
    reset_after = draw(st.one_of(st.none(), st.booleans())) if kind in support.reset_after else None
    peepholes = draw(st.booleans()) if kind in support.peepholes else False
    bias = draw(st.booleans()) if support.no_bias else True
    return LayerFlags(kind, framework, units, draw(st.integers(1, 10**6)), draw(st.booleans()),
                      draw(st.integers(1, FORM_MAX_LAYERS)), bias, reset_after, proj, peepholes)


@settings(max_examples=300, deadline=None)
@given(any_flags())
def test_count_closed_form_equals_the_layout(flags):
    """count() evaluates a quadratic read off the layouts; every framework's options have one, and it
    gives what `params` lays out, far from the sizes it was read at."""
    options = (flags.type, flags.framework, flags.bidirectional, flags.num_layers, flags.bias, flags.reset_after,
               flags.proj_size, flags.peepholes)
    assert _closed_form(*options) is not None
    assert count(flags.type, units=flags.units, input=flags.input, framework=flags.framework,
                 bidirectional=flags.bidirectional, num_layers=flags.num_layers, bias=flags.bias,
                 reset_after=flags.reset_after, proj_size=flags.proj_size, peepholes=flags.peepholes) == \
        flags_layout(flags).params


def test_fit_quadratic_reads_a_quadratic_and_refuses_anything_else():
    assert fit_quadratic(lambda u, i: 4 * ((i + u) * u + u)) == Quadratic(0, 4, 0, 4, 4, 0)
    assert fit_quadratic(lambda u, i: 3 * (u * u + u * i) + 6 * u + 7, u0=21) == Quadratic(7, 6, 0, 3, 3, 0)
    assert fit_quadratic(lambda u, i: u ** 3) is None  # a cubic agrees nowhere past the fit
    assert fit_quadratic(lambda u, i: u * (u + 1) // 2 + i) is None  # not whole coefficients
    assert fit_quadratic(lambda u, i: 4 * u * u + (5 if u > 500 else 0)) is None  # a quadratic near the fit only
    assert fit_quadratic(lambda u, i: u * i * i) is None  # u·i²: matches at the six fitted sizes, not the checks


def test_formula_is_the_closed_form_with_the_flags_checks():
    # PyTorch LSTM: 4 gates × (i·u + u·u + 2u); 100 layers: the first reads i, the other 99 read u
    assert str(formula("lstm", framework="pytorch")) == "4u² + 4ui + 8u"
    deep = formula("lstm", framework="pytorch", num_layers=100)  # deeper than FORM_MAX_LAYERS: read on demand
    assert deep == Quadratic(0, 100 * 8, 0, 4, 99 * 8 + 4, 0)
    assert deep(7, 5) == count("lstm", units=7, input=5, framework="pytorch", num_layers=100)
    for kwargs, message in [({"framework": "cudnn", "type": "rnn"}, "--framework cudnn has no rnn layer"),
                            ({"proj_size": 3}, "--proj-size applies only to an LSTM in pytorch"),
                            ({"num_layers": 0}, "--num-layers must be at least 1"),
                            ({"reset_after": []}, "--reset-after/--no-reset-after applies only to a GRU")]:
        with pytest.raises(UsageError, match=re.escape(message)):
            formula(**kwargs)


def test_api_docstring_examples(monkeypatch):
    """The examples in lstmcount.api's docstrings run as written (from the repository root)."""
    import doctest

    import lstmcount.api

    from .conftest import ROOT

    monkeypatch.chdir(ROOT)
    result = doctest.testmod(lstmcount.api)
    assert result.attempted >= 5 and result.failed == 0


def test_count_lays_out_deep_stacks_at_each_call():
    deep = FORM_MAX_LAYERS + 1
    assert _closed_form("gru", "pytorch", False, deep, True, None, None, False) is None
    assert count("gru", units=8, input=3, framework="pytorch", num_layers=deep) == \
        3 * (8 * 3 + 8 * 8 + 2 * 8) + (deep - 1) * 3 * (8 * 8 + 8 * 8 + 2 * 8)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"units": 0, "input": 3}, "--units must be a positive integer"),
    ({"units": 7.5, "input": 3}, "--units must be an integer, got 7.5"),
    ({"units": True, "input": 3}, "--units must be an integer, got true"),
    ({"units": 5, "input": 3, "framework": "jax"},
     "--framework must be one of keras, pytorch, onnx, tf1, cudnn, flax, got 'jax'"),
    ({"units": 5, "input": 3, "framework": "pytorch", "proj_size": 5}, "smaller than --units (5), got 5"),
])
def test_count_rejects_bad_values(kwargs, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        count("lstm", **kwargs)


def test_count_closed_forms_leave_checks_and_sizes_to_each_call():
    # a closed form is kept per set of options; every call still checks and evaluates its own sizes
    assert count("lstm", units=4, input=3, framework="pytorch", proj_size=1) == 4 * 4 * (3 + 1) + 2 * 16 + 4
    assert count("lstm", units=5, input=2, framework="pytorch", proj_size=2) == 4 * 5 * (2 + 2) + 2 * 20 + 10
    for kwargs, message in [({"units": 0}, "--units must be a positive integer"),
                            ({"proj_size": True}, "--proj-size must be an integer, got true"),
                            ({"num_layers": True}, "--num-layers must be an integer, got true"),
                            ({"framework": "keras"}, "--proj-size applies only to an LSTM in pytorch")]:
        with pytest.raises(UsageError, match=re.escape(message)):
            count("lstm", **{"units": 4, "input": 3, "framework": "pytorch", "proj_size": 1, **kwargs})
    with pytest.raises(UsageError, match=re.escape("--units must be a positive integer")):
        count("gru", units=0, input=3, reset_after=[])  # an unhashable option: the sizes are still checked first


# --- compute: --timesteps ------------------------------------------------------------------------


def _macs(text: str, timesteps: int):
    return report(conventions.layout(loads(text)), timesteps=timesteps)


def test_lstm_macs_and_elementwise_by_hand():
    from lstmcount.conventions.flags import flags_layout

    r = report(flags_layout(LayerFlags("lstm", "pytorch", 75, 28)), timesteps=10)
    # T × 4h(i + h) = 10 × 4 × 75 × 103; elementwise per step: 13h + 2 bias vectors × 4h
    assert r.macs == 10 * 4 * 75 * (28 + 75) == 309_000
    assert r.elementwise_flops == 10 * (13 * 75 + 2 * 4 * 75) == 15_750
    keras = report(flags_layout(LayerFlags("lstm", "keras", 75, 28)), timesteps=10)
    assert keras.macs == 309_000 and keras.elementwise_flops == 10 * (13 * 75 + 4 * 75)


def test_projection_and_directions_macs():
    from lstmcount.conventions.flags import flags_layout

    r = report(flags_layout(LayerFlags("lstm", "pytorch", 75, 28, True, 1, True, None, 20)), timesteps=3)
    # per direction per step: 4 × 75 × (28 + 20) products + the 20 × 75 projection
    assert r.macs == 3 * 2 * (4 * 75 * (28 + 20) + 20 * 75)


def test_peepholes_are_elementwise_work_in_onnx_and_tf1():
    from lstmcount.conventions.flags import flags_layout

    for framework, biases in (("onnx", 2), ("tf1", 1)):
        r = report(flags_layout(LayerFlags("lstm", framework, 75, 28, True, peepholes=True)), timesteps=10)
        # per direction per step: 4 × 75 × (28 + 75) products; elementwise 13h + bias vectors × 4h + a
        # multiply and an add for each of the 3 × 75 peephole weights
        assert r.macs == 10 * 2 * 4 * 75 * (28 + 75), framework
        assert r.elementwise_flops == 10 * 2 * (13 * 75 + biases * 4 * 75 + 2 * 3 * 75), framework


def test_fixed_time_axis_wins_and_dense_positions():
    r = _macs("input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75, return_sequences: true}\n"
              "- {type: Dense, units: 10}\n", 99)
    lstm, dense = r.layers
    assert lstm.macs == 28 * 4 * 75 * (28 + 75)  # the spec's own 28 steps, not 99
    assert dense.macs == 28 * 75 * 10  # Dense applied at each of the 28 steps


def test_conv_lstm_and_conv_macs_count_every_position():
    r = _macs("input_shape: [4, 8, 8, 3]\nlayers:\n- {type: ConvLSTM2D, filters: 2, kernel_size: 3, "
              "padding: same}\n- {type: Conv2D, filters: 5, kernel_size: 3}\n", 1)
    conv_lstm, conv = r.layers
    # 4 steps × 8 × 8 positions × (3·3·3·8 + 3·3·2·8) products
    assert conv_lstm.macs == 4 * 64 * (3 * 3 * 3 * 8 + 3 * 3 * 2 * 8)
    assert conv.macs == 6 * 6 * (3 * 3 * 2 * 5)


def test_embedding_costs_no_macs_and_no_timesteps_means_none():
    r = _macs("input_shape: [null]\nlayers:\n- {type: Embedding, input_dim: 100, output_dim: 8}\n"
              "- {type: GRU, units: 4}\n", 7)
    assert r.layers[0].macs == 0
    # GRU (reset_after): 7 × 3 × 4 × (8 + 4); elementwise 7 × (11 × 4 + 2 × 3 × 4)
    assert r.layers[1].macs == 7 * 3 * 4 * 12 and r.layers[1].elementwise_flops == 7 * (44 + 24)
    assert report(conventions.layout(loads("input_shape: [3, 2]\nlayers:\n- {type: GRU, units: 4}\n"))).macs is None
