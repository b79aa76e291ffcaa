"""Every layer kind against the real Keras and PyTorch: names, shapes, counts, trainability.

These build real models (TensorFlow CPU and PyTorch CPU, installed by `make test`).
"""

from __future__ import annotations

import inspect

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount.conventions import KERAS, PYTORCH
from lstmcount.conventions.keras.legacy import KERAS2_ONLY

from .frameworks import keras_class, real_check

pytestmark = pytest.mark.filterwarnings("ignore")

KERAS_CASES: list[tuple[list[int | None], list[dict]]] = [
    ([28, 28], [{"type": "LSTM", "units": 75}, {"type": "Dense", "units": 10},
                {"type": "Activation", "activation": "softmax"}]),
    ([28, 28], [{"type": "GRU", "units": 75}]),
    ([28, 28], [{"type": "GRU", "units": 75, "reset_after": False}]),
    ([None, 28], [{"type": "SimpleRNN", "units": 7, "use_bias": False, "return_sequences": True}]),
    ([None, 5], [{"type": "Bidirectional", "merge_mode": "sum",
                  "layer": {"type": "GRU", "units": 6, "return_sequences": True}},
                 {"type": "Bidirectional", "merge_mode": None, "layer": {"type": "LSTM", "units": 4}}]),
    ([None, 5], [{"type": "Bidirectional", "merge_mode": "ave", "layer": {"type": "SimpleRNN", "units": 3}}]),
    ([4, 6, 3], [{"type": "ConvLSTM1D", "filters": 2, "kernel_size": 3, "return_sequences": True},
                 {"type": "ConvLSTM1D", "filters": 3, "kernel_size": 2, "padding": "same", "use_bias": False}]),
    ([3, 6, 6, 2], [{"type": "ConvLSTM2D", "filters": 2, "kernel_size": [3, 2], "strides": 2}]),
    ([3, 5, 5, 5, 1], [{"type": "ConvLSTM3D", "filters": 2, "kernel_size": 2}]),
    ([3, 5, 5, 5, 1], [{"type": "Bidirectional", "layer": {"type": "ConvLSTM3D", "filters": 2, "kernel_size": 2}}]),
    ([28, 28], [{"type": "Dense", "units": 10, "use_bias": False}, {"type": "Flatten"},
                {"type": "RepeatVector", "n": 3}, {"type": "Reshape", "target_shape": [-1, 10]}]),
    ([5, 28], [{"type": "TimeDistributed", "layer": {"type": "Dense", "units": 10}}]),
    ([None], [{"type": "Embedding", "input_dim": 50, "output_dim": 4, "mask_zero": True},
              {"type": "Masking"}, {"type": "Dropout", "rate": 0.1}, {"type": "LSTM", "units": 3}]),
    ([30, 4], [{"type": "Conv1D", "filters": 8, "kernel_size": 3, "groups": 2, "padding": "causal"},
               {"type": "MaxPooling1D", "pool_size": 3, "padding": "same"},
               {"type": "AveragePooling1D", "pool_size": 2}, {"type": "GlobalAveragePooling1D"}]),
    ([30, 4], [{"type": "Conv1D", "filters": 8, "kernel_size": 3}, {"type": "GlobalMaxPooling1D",
                                                                    "keepdims": True}]),
    ([9, 9, 2], [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "dilation_rate": 2},
                 {"type": "MaxPooling2D"}, {"type": "AveragePooling2D", "pool_size": 1}]),
    ([6, 7], [{"type": "BatchNormalization"}, {"type": "BatchNormalization", "axis": 1, "center": False},
              {"type": "LayerNormalization", "rms_scaling": True},
              {"type": "LayerNormalization", "axis": [1, 2]}, {"type": "LayerNormalization", "scale": False}]),
    ([28, 28], [{"type": "LSTM", "units": 5, "trainable": False}, {"type": "Dense", "units": 2}]),
    ([5, 4], [{"type": "ReLU", "max_value": 6.0, "threshold": 0.5}, {"type": "LeakyReLU", "negative_slope": 0.1},
              {"type": "PReLU"}, {"type": "PReLU", "shared_axes": [1]}, {"type": "ELU", "alpha": 0.5},
              {"type": "Softmax", "axis": 1}]),
    ([3, 4, 5], [{"type": "PReLU", "shared_axes": [1, 2], "alpha_initializer": "ones"},
                 {"type": "PReLU", "shared_axes": -1}]),
    ([8, 8, 8, 2], [{"type": "Conv3D", "filters": 3, "kernel_size": 3, "padding": "same"},
                    {"type": "MaxPooling3D"}, {"type": "AveragePooling3D", "pool_size": 2, "strides": 1},
                    {"type": "GlobalMaxPooling3D", "keepdims": True}]),
    ([6, 6, 6, 2], [{"type": "Conv3D", "filters": 4, "kernel_size": [2, 3, 1], "strides": 2, "groups": 2},
                    {"type": "GlobalAveragePooling3D"}]),
    ([7, 3], [{"type": "Conv1DTranspose", "filters": 4, "kernel_size": 3, "strides": 2, "output_padding": 1}]),
    ([5, 5, 2], [{"type": "Conv2DTranspose", "filters": 3, "kernel_size": [3, 2], "strides": 2, "padding": "same"}]),
    ([3, 3, 3, 2], [{"type": "Conv3DTranspose", "filters": 2, "kernel_size": 2, "use_bias": False,
                     "dilation_rate": 2}]),
    ([20, 4], [{"type": "SeparableConv1D", "filters": 6, "kernel_size": 3, "depth_multiplier": 2},
               {"type": "DepthwiseConv1D", "kernel_size": 3, "depth_multiplier": 3, "padding": "same"},
               {"type": "GlobalAveragePooling1D", "keepdims": True}]),
    ([9, 9, 3], [{"type": "SeparableConv2D", "filters": 5, "kernel_size": 3, "strides": 2},
                 {"type": "DepthwiseConv2D", "kernel_size": 2, "use_bias": False},
                 {"type": "GlobalAveragePooling2D", "keepdims": True}, {"type": "GlobalMaxPooling2D"}]),
    ([6, 4], [{"type": "ZeroPadding1D", "padding": [1, 2]}, {"type": "Cropping1D", "cropping": [2, 1]},
              {"type": "UpSampling1D", "size": 3}, {"type": "Permute", "dims": [2, 1]}]),
    ([6, 5, 3], [{"type": "ZeroPadding2D", "padding": [[1, 0], 2]}, {"type": "Cropping2D", "cropping": 1},
                 {"type": "UpSampling2D", "size": [2, 1], "interpolation": "bilinear"},
                 {"type": "Permute", "dims": [3, 1, 2]}]),
    ([4, 4, 4, 2], [{"type": "ZeroPadding3D", "padding": 1},
                    {"type": "Cropping3D", "cropping": [[1, 0], [0, 1], 1]}, {"type": "UpSampling3D", "size": 2}]),
    ([6, 4], [{"type": "SpatialDropout1D", "rate": 0.2}, {"type": "GaussianNoise", "stddev": 0.1},
              {"type": "GaussianDropout", "rate": 0.3}, {"type": "AlphaDropout", "rate": 0.1},
              {"type": "ActivityRegularization", "l1": 0.01}]),
    ([5, 5, 2], [{"type": "SpatialDropout2D", "rate": 0.1}]),
    ([3, 3, 3, 2], [{"type": "SpatialDropout3D", "rate": 0.1, "seed": 3}]),
    ([6, 8], [{"type": "GroupNormalization", "groups": 4}, {"type": "GroupNormalization", "groups": -1,
                                                             "center": False},
              {"type": "UnitNormalization", "axis": [1, 2]}]),
    ([6, 8], [{"type": "Rescaling", "scale": 0.5, "offset": -1.0}, {"type": "Normalization"},
              {"type": "Normalization", "axis": None}, {"type": "Normalization", "axis": [1, 2]},
              {"type": "Normalization", "mean": 0.5, "variance": 2.0}]),
    ([6, 8], [{"type": "Lambda", "function": "reverse", "output_shape": [6, 4]}, {"type": "Dense", "units": 2}]),
    ([3, 6, 4], [{"type": "TimeDistributed", "layer": {"type": "Conv1D", "filters": 2, "kernel_size": 3}},
                 {"type": "TimeDistributed", "layer": {"type": "ZeroPadding1D"}},
                 {"type": "TimeDistributed", "layer": {"type": "GlobalMaxPooling1D"}}]),
    ([3, 8, 8, 2], [{"type": "TimeDistributed", "layer": {"type": "Conv2D", "filters": 2, "kernel_size": 3}},
                    {"type": "TimeDistributed", "layer": {"type": "MaxPooling2D"}},
                    {"type": "TimeDistributed", "layer": {"type": "Flatten"}}, {"type": "LSTM", "units": 3}]),
    ([None, 5], [{"type": "Bidirectional",
                  "layer": {"type": "LSTM", "units": 4, "return_sequences": True},
                  "backward_layer": {"type": "LSTM", "units": 4, "go_backwards": True, "return_sequences": True,
                                     "name": "back"}},
                 {"type": "Bidirectional", "merge_mode": "sum",
                  "layer": {"type": "GRU", "units": 3, "name": "forward_gru"},
                  "backward_layer": {"type": "GRU", "units": 3, "go_backwards": True, "reset_after": False}}]),
    # Keras names a mirrored copy forward_<name> / backward_<name>, dropping a leading forward_ / backward_ only
    ([None, 5], [{"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2, "name": "forward_lstm",
                                                     "return_sequences": True}},
                 {"type": "Bidirectional", "layer": {"type": "GRU", "units": 2, "name": "backward_gru",
                                                     "return_sequences": True}},
                 {"type": "Bidirectional", "layer": {"type": "SimpleRNN", "units": 2, "name": "enc"}}]),
    ([10, 3], [{"type": "Convolution1D", "filters": 2, "kernel_size": 3}, {"type": "MaxPool1D"},
               {"type": "AvgPool1D", "pool_size": 2}, {"type": "LSTM", "units": 2, "implementation": 1}]),
]


def _keras_spec(shape, layers):
    return {"framework": "keras", "input_shape": shape, "layers": layers}


@pytest.mark.parametrize(("shape", "layers"), KERAS_CASES, ids=lambda v: str(v)[:60])
def test_keras_layers_match(shape, layers):
    real_check(_keras_spec(shape, layers))


def _types(layers):
    for layer in layers:
        yield layer["type"]
        for nested in ("layer", "backward_layer"):
            if isinstance(layer.get(nested), dict):
                yield from _types([layer[nested]])


def _one_output(layers):
    """Whether each layer hands on one tensor (TimeDistributed wraps only such layers)."""
    return not any(layer.get("merge_mode", "concat") is None or layer.get("return_state") or
                   (layer.get("layer") or {}).get("return_state") for layer in layers)


@pytest.mark.parametrize(("shape", "layers"), [c for c in KERAS_CASES if _one_output(c[1])], ids=lambda v: str(v)[:60])
def test_every_layer_inside_time_distributed(shape, layers):
    """Every case again with each layer inside TimeDistributed, on a time axis in front."""
    real_check(_keras_spec([2, *shape], [{"type": "TimeDistributed", "layer": layer} for layer in layers]))


def test_every_keras_kind_is_checked_against_keras():
    """Every kind but `custom`, whose weights are the spec's own declaration (tests/test_custom.py); the
    merge, attention and RNN cell kinds are checked in graph models (tests/test_graphs.py)."""
    from .test_graphs import GRAPH_TYPES

    covered = {t for _, layers in KERAS_CASES for t in _types(layers)} | GRAPH_TYPES
    covered |= set(KERAS2_ONLY)  # Keras 3 has none: checked against tf_keras in tests/test_keras2_layers.py
    assert set(KERAS.kinds) - covered == {"custom"}


PYTORCH_CASES: list[list[dict]] = [
    [{"type": "LSTM", "input_size": 28, "hidden_size": 75}],
    [{"type": "LSTM", "input_size": 28, "hidden_size": 75, "num_layers": 2, "bidirectional": True,
      "proj_size": 20, "batch_first": True}],
    [{"type": "LSTM", "input_size": 3, "hidden_size": 4, "bias": False, "num_layers": 3, "dropout": 0.1}],
    [{"type": "GRU", "input_size": 28, "hidden_size": 75, "bidirectional": True, "num_layers": 2}],
    [{"type": "RNN", "input_size": 5, "hidden_size": 6, "nonlinearity": "relu", "bias": False}],
    [{"type": "LSTMCell", "input_size": 5, "hidden_size": 6}, {"type": "GRUCell", "input_size": 6,
                                                                "hidden_size": 2, "bias": False},
     {"type": "RNNCell", "input_size": 2, "hidden_size": 3, "nonlinearity": "relu"}],
    [{"type": "Linear", "in_features": 7, "out_features": 3}, {"type": "Linear", "in_features": 3,
                                                                "out_features": 1, "bias": False}],
    [{"type": "Embedding", "num_embeddings": 100, "embedding_dim": 8, "padding_idx": 0},
     {"type": "Embedding", "num_embeddings": 10, "embedding_dim": 2, "_freeze": True}],
    [{"type": "Dropout", "p": 0.3}, {"type": "LayerNorm", "normalized_shape": [4, 5]},
     {"type": "LayerNorm", "normalized_shape": 6, "bias": False},
     {"type": "LayerNorm", "normalized_shape": 6, "elementwise_affine": False}],
    [{"type": "Conv1d", "in_channels": 4, "out_channels": 6, "kernel_size": 3, "padding": "same", "groups": 2},
     {"type": "Conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": [3, 2], "stride": 2, "bias": False,
      "padding_mode": "reflect", "padding": [1, 0]},
     {"type": "Conv3d", "in_channels": 2, "out_channels": 4, "kernel_size": 2, "dilation": [1, 2, 1]}],
    [{"type": "ConvTranspose1d", "in_channels": 6, "out_channels": 4, "kernel_size": 3, "groups": 2,
      "output_padding": 1, "stride": 2},
     {"type": "ConvTranspose2d", "in_channels": 3, "out_channels": 5, "kernel_size": [2, 3], "bias": False},
     {"type": "ConvTranspose3d", "in_channels": 2, "out_channels": 2, "kernel_size": 1}],
    [{"type": "BatchNorm1d", "num_features": 7}, {"type": "BatchNorm2d", "num_features": 3, "affine": False},
     {"type": "BatchNorm3d", "num_features": 2, "track_running_stats": False, "bias": False},
     {"type": "GroupNorm", "num_groups": 2, "num_channels": 6}, {"type": "GroupNorm", "num_groups": 3,
                                                                  "num_channels": 3, "affine": False}],
    [{"type": "MaxPool1d", "kernel_size": 2}, {"type": "MaxPool2d", "kernel_size": [2, 3], "stride": 1},
     {"type": "AvgPool1d", "kernel_size": 3, "count_include_pad": False},
     {"type": "AvgPool2d", "kernel_size": 2, "divisor_override": 3},
     {"type": "AdaptiveAvgPool1d", "output_size": 5}, {"type": "AdaptiveAvgPool2d", "output_size": [None, 4]},
     {"type": "AdaptiveMaxPool1d", "output_size": 2}, {"type": "AdaptiveMaxPool2d", "output_size": 3},
     {"type": "Flatten", "start_dim": 2}, {"type": "Identity"}],
    [{"type": "Dropout1d"}, {"type": "Dropout2d", "p": 0.1}, {"type": "Dropout3d"}, {"type": "AlphaDropout"},
     {"type": "ReLU"}, {"type": "ReLU6", "inplace": True}, {"type": "GELU", "approximate": "tanh"}, {"type": "Tanh"},
     {"type": "Sigmoid"}, {"type": "LeakyReLU", "negative_slope": 0.2}, {"type": "ELU"}, {"type": "CELU"},
     {"type": "SELU"}, {"type": "SiLU"}, {"type": "Mish"}, {"type": "Softplus", "beta": 2},
     {"type": "Hardtanh", "min_val": -2}, {"type": "Hardswish"}, {"type": "Hardsigmoid"}, {"type": "Softsign"},
     {"type": "Tanhshrink"}, {"type": "LogSigmoid"}, {"type": "Softmax", "dim": -1}, {"type": "LogSoftmax", "dim": 1},
     {"type": "Softmin", "dim": 0}, {"type": "PReLU"}, {"type": "PReLU", "num_parameters": 16, "init": 0.1}],
    [{"type": "Embedding", "num_embeddings": 50, "embedding_dim": 6, "name": "encoder"},
     {"type": "Sequential", "name": "body", "layers": [
         {"type": "Conv1d", "in_channels": 6, "out_channels": 6, "kernel_size": 3, "padding": 1},
         {"type": "BatchNorm1d", "num_features": 6}, {"type": "ReLU"},
         {"type": "Sequential", "layers": [{"type": "LSTM", "input_size": 6, "hidden_size": 6}]}]},
     {"type": "Linear", "in_features": 6, "out_features": 50, "name": "decoder", "tie": {"weight": "encoder.weight"}}],
]


@pytest.mark.parametrize("layers", PYTORCH_CASES, ids=lambda v: str(v)[:60])
def test_pytorch_modules_match(layers):
    real_check({"framework": "pytorch", "layers": layers})


def test_every_pytorch_kind_is_checked_against_pytorch():
    covered = {t for layers in PYTORCH_CASES for t in _types(layers)}
    assert set(PYTORCH.kinds) - covered == set()


# --- the argument tables are the frameworks' own signatures ------------------------------------


def test_keras_argument_tables_are_keras_signatures():
    """Each kind takes its class's own arguments, and the Layer arguments exactly when the class passes
    them on: a class without **kwargs (SpatialDropout1D) takes only those its signature names."""

    base = {"name", "trainable", "dtype", "autocast", "activity_regularizer"}
    for name, kind in KERAS.kinds.items():
        if name == "custom":  # a declaration in a spec, no Keras class
            continue
        params = inspect.signature(keras_class(name).__init__).parameters
        real = {p for p, v in params.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
        assert set(kind.args) - base == real - base, name
        required = {p for p in real if params[p].default is inspect.Parameter.empty}
        assert {a for a, spec in kind.args.items() if spec.required} == required, name
        passes_on = any(v.kind == v.VAR_KEYWORD for v in params.values())
        taken = set(KERAS.table(kind)[0]) - set(kind.args) - set(kind.kwargs)
        every = (base | set(KERAS.kwargs)) - set(kind.without) - set(kind.args)
        assert taken == (every if passes_on else real & base), name
    assert set(KERAS.common) == base


REQUIRED_SAMPLES = {"rate": 0.5}  # the required arguments of the kinds with `without`


@pytest.mark.parametrize("name", sorted(n for n, k in KERAS.kinds.items() if k.without))
def test_arguments_a_class_does_not_take_are_refused_by_keras(name):
    import keras

    samples = {"trainable": False, "autocast": False, "activity_regularizer": "l1", "input_shape": (3, 4),
               "input_dim": 3}
    for arg in KERAS.kinds[name].without:
        with pytest.raises((TypeError, ValueError)):
            getattr(keras.layers, name)(**REQUIRED_SAMPLES if name != "ActivityRegularization" else {},
                                        **{arg: samples[arg]})


def test_keras_aliases_are_kerass_own():
    """Every other name keras.layers gives a class lstmcount knows resolves to it, and no more."""
    import keras

    found = {alias: cls.__name__ for alias, cls in vars(keras.layers).items()
             if inspect.isclass(cls) and cls.__name__ != alias and cls.__name__ in KERAS.kinds}
    assert {alias: kind.name for kind in KERAS.kinds.values() for alias in kind.also} == found
    for alias, name in found.items():
        assert KERAS.kind(alias, None) is KERAS.kinds[name]
        assert KERAS.kind(f"keras.layers.{alias}", None) is KERAS.kinds[name]


def test_pytorch_argument_tables_are_pytorch_signatures():
    import torch

    rnn = {p for p in inspect.signature(torch.nn.RNNBase.__init__).parameters if p not in ("self", "mode")}
    expected = {"LSTM": rnn, "GRU": rnn - {"proj_size"}, "RNN": (rnn - {"proj_size"}) | {"nonlinearity"}}
    for name, kind in PYTORCH.kinds.items():
        if name in expected:
            real = expected[name]
        else:
            params = inspect.signature(getattr(torch.nn, name).__init__).parameters
            real = {p for p, v in params.items() if p != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
        assert set(kind.args) == real, name


# --- randomized shapes ----------------------------------------------------------------------------

RNN = st.sampled_from(["LSTM", "GRU", "SimpleRNN"])


@st.composite
def keras_stacks(draw):
    depth = draw(st.integers(1, 3))
    layers = []
    for k in range(depth):
        last = k == depth - 1
        kind = draw(RNN)
        inner = {"type": kind, "units": draw(st.integers(1, 48)), "use_bias": draw(st.booleans()),
                 "return_sequences": draw(st.booleans()) if last else True}
        if kind == "GRU":
            inner["reset_after"] = draw(st.booleans())
        if draw(st.booleans()):
            modes = ["concat", "sum", "mul", "ave"] + ([None] if last else [])
            layers.append({"type": "Bidirectional", "layer": inner, "merge_mode": draw(st.sampled_from(modes))})
        else:
            layers.append(inner)
    if draw(st.booleans()) and layers[-1].get("merge_mode", "concat") is not None:
        layers.append({"type": "Dense", "units": draw(st.integers(1, 16))})
    steps = draw(st.one_of(st.none(), st.integers(1, 12)))
    return _keras_spec([steps, draw(st.integers(1, 48))], layers)


SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(keras_stacks())
def test_random_keras_recurrent_stacks(spec):
    real_check(spec)


@st.composite
def conv_lstms(draw):
    rank = draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(rank)]
    spatial = [draw(st.integers(k, 7)) for k in kernel]
    layer = {"type": f"ConvLSTM{rank}D", "filters": draw(st.integers(1, 6)), "kernel_size": kernel,
             "padding": draw(st.sampled_from(["valid", "same"])), "use_bias": draw(st.booleans())}
    return _keras_spec([draw(st.integers(1, 3)), *spatial, draw(st.integers(1, 4))], [layer])


@settings(max_examples=15, deadline=None)
@given(conv_lstms())
def test_random_conv_lstm(spec):
    real_check(spec)


@st.composite
def torch_recurrent(draw):
    kind = draw(st.sampled_from(["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"]))
    hidden = draw(st.integers(1, 48))
    layer = {"type": kind, "input_size": draw(st.integers(1, 48)), "hidden_size": hidden,
             "bias": draw(st.booleans())}
    if not kind.endswith("Cell"):
        layer["num_layers"] = draw(st.integers(1, 3))
        layer["bidirectional"] = draw(st.booleans())
    if kind == "LSTM" and hidden > 1 and draw(st.booleans()):
        layer["proj_size"] = draw(st.integers(1, hidden - 1))
    return {"framework": "pytorch", "layers": [layer]}


@settings(max_examples=60, deadline=None)
@given(torch_recurrent())
def test_random_pytorch_recurrent(spec):
    real_check(spec)


def test_identifier_names_are_kerass_own():
    """Every activation/initializer/regularizer/constraint name lstmcount accepts resolves in Keras,
    and every concrete one Keras registers is accepted."""
    from keras.src import activations, constraints, initializers, regularizers

    from lstmcount.conventions import keras as table

    abstract = {"Initializer", "initializer", "Regularizer", "regularizer", "Constraint", "constraint",
                "Constant", "constant", "STFT", "stft", "STFTInitializer"}  # need arguments (or SciPy)
    for ours, module in ((table.ACTIVATIONS, activations), (table.INITIALIZERS, initializers),
                         (table.REGULARIZERS, regularizers), (table.CONSTRAINTS, constraints)):
        assert set(ours) == set(module.ALL_OBJECTS_DICT) - abstract, module.__name__
        for name in ours:
            assert module.get(name) is not None, name


# --- real Keras model files: .keras archives and model.to_json() ---------------------------------


def _keras_model(shape, layers):
    """The real Keras model for a case, built from its spec with the verify bridge's constructor."""
    import keras

    from lstmcount.bridges import keras as bridge

    bridge.load()
    x = inputs = keras.Input(shape=tuple(shape), dtype="int32" if layers[0]["type"] == "Embedding" else "float32")
    for spec in layers:
        args = {k: v for k, v in spec.items() if k != "type"}
        out = bridge._instantiate(args, spec["type"], None)(x)
        x = out[0] if isinstance(out, (list, tuple)) else out
    return keras.Model(inputs, x) if len(layers) % 2 else keras.Sequential([keras.Input(shape=tuple(shape)),
                                                                             *keras.Model(inputs, x).layers[1:]])


@pytest.mark.parametrize(("shape", "layers"), KERAS_CASES, ids=lambda v: str(v)[:60])
def test_keras_files_are_read_without_tensorflow(tmp_path, shape, layers):
    from lstmcount import analyze
    from lstmcount.inputs import load

    model = _keras_model(shape, layers)
    archive, config = tmp_path / "m.keras", tmp_path / "m.json"
    model.save(archive)
    config.write_text(model.to_json())
    for path in (archive, config):
        rep = analyze(load(str(path)))
        assert rep.total == model.count_params(), path
        # layer by layer, as Keras lists them: a functional model's InputLayers too, a Sequential's not
        assert [(layer.name, layer.params) for layer in rep.layers] == \
            [(layer.name, layer.count_params()) for layer in model.layers]
