"""Each family of Keras layers over random arguments, against real Keras 3: lstmcount refuses exactly what
Keras refuses, and otherwise gives Keras's weights (names, shapes, trainability), count and output shape
(`agrees_with_keras`: Keras's own build, input_spec check, compute_output_shape and count_params)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .frameworks import agrees_with_keras

pytestmark = pytest.mark.filterwarnings("ignore")

FAMILY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = st.sampled_from([None, "channels_last", "channels_first"])


@pytest.fixture(scope="session", autouse=True)
def keras_loaded():
    """Keras imported once for the session (the first build pays for TensorFlow's start)."""
    from lstmcount.bridges import keras as bridge

    return bridge.load()


def _spec(shape, *layers):
    return {"framework": "keras", "input_shape": list(shape), "layers": list(layers)}


@st.composite
def frames(draw, rank, low=1, high=9, free=True):
    """An input of `rank` spatial axes and a channels axis (placed by data_format), sizes possibly free."""
    fmt = draw(FORMATS)
    size = st.integers(low, high)
    spatial = [draw(st.one_of(st.none(), size) if free else size) for _ in range(rank)]
    channels = draw(st.integers(1, 4))
    shape = [channels, *spatial] if fmt == "channels_first" else [*spatial, channels]
    return fmt, shape


def _maybe(draw, key, strategy, layer):
    if draw(st.booleans()):
        layer[key] = draw(strategy)


def _ints(draw, rank, low, high):
    values = [draw(st.integers(low, high)) for _ in range(rank)]
    return values[0] if rank == 1 or (draw(st.booleans()) and len(set(values)) == 1) else values


@st.composite
def time_distributed(draw, layer_and_shape):
    """Sometimes the same layer inside TimeDistributed, on a time axis in front."""
    layer, shape = layer_and_shape
    if draw(st.booleans()):
        return {"type": "TimeDistributed", "layer": layer}, [draw(st.one_of(st.none(), st.integers(1, 3))), *shape]
    return layer, shape


@st.composite
def convolutions(draw):
    kind = draw(st.sampled_from(["Conv", "Transpose", "Separable", "Depthwise"]))
    rank = draw(st.integers(1, 3 if kind in ("Conv", "Transpose") else 2))
    fmt, shape = draw(frames(rank))
    name = {"Conv": f"Conv{rank}D", "Transpose": f"Conv{rank}DTranspose", "Separable": f"SeparableConv{rank}D",
            "Depthwise": f"DepthwiseConv{rank}D"}[kind]
    layer: dict = {"type": name, "kernel_size": _ints(draw, rank, 1, 4), "use_bias": draw(st.booleans())}
    if fmt:
        layer["data_format"] = fmt
    if kind != "Depthwise":
        layer["filters"] = draw(st.integers(1, 6))
    paddings = ["valid", "same"] + (["causal"] if name == "Conv1D" else [])
    layer["padding"] = draw(st.sampled_from(paddings))
    if draw(st.booleans()):
        layer["strides"] = _ints(draw, rank, 1, 3)
    else:
        _maybe(draw, "dilation_rate", st.integers(1, 2), layer)
    if kind == "Conv" and draw(st.booleans()):
        layer["groups"] = draw(st.sampled_from([1, 2, 3]))
    if kind in ("Separable", "Depthwise"):
        _maybe(draw, "depth_multiplier", st.integers(1, 3), layer)
    if kind == "Transpose" and draw(st.booleans()):
        strides = layer.get("strides", 1)
        strides = strides if isinstance(strides, list) else [strides] * rank
        layer["output_padding"] = [draw(st.integers(0, s - 1)) for s in strides]
    return draw(time_distributed((layer, shape)))


@FAMILY
@given(convolutions())
def test_random_convolutions(case):
    layer, shape = case
    agrees_with_keras(_spec(shape, layer))


@st.composite
def poolings(draw):
    rank = draw(st.integers(1, 3))
    fmt, shape = draw(frames(rank))
    kind = draw(st.sampled_from(["MaxPooling", "AveragePooling", "GlobalMaxPooling", "GlobalAveragePooling"]))
    layer: dict = {"type": f"{kind}{rank}D"}
    if fmt:
        layer["data_format"] = fmt
    if kind.startswith("Global"):
        _maybe(draw, "keepdims", st.booleans(), layer)
    else:
        if kind == "AveragePooling" or draw(st.booleans()):
            layer["pool_size"] = _ints(draw, rank, 1, 4)
        _maybe(draw, "strides", st.integers(1, 3), layer)
        _maybe(draw, "padding", st.sampled_from(["valid", "same"]), layer)
    return draw(time_distributed((layer, shape)))


@FAMILY
@given(poolings())
def test_random_poolings(case):
    layer, shape = case
    agrees_with_keras(_spec(shape, layer))


@st.composite
def _pads(draw, rank, high):
    if rank == 1:
        return draw(st.one_of(st.integers(0, high), st.lists(st.integers(0, high), min_size=2, max_size=2)))
    entry = st.one_of(st.integers(0, high), st.lists(st.integers(0, high), min_size=2, max_size=2))
    return draw(st.one_of(st.integers(0, high), st.lists(entry, min_size=rank, max_size=rank)))


@st.composite
def reshapings(draw):
    kind = draw(st.sampled_from(["ZeroPadding", "Cropping", "UpSampling", "Permute"]))
    if kind == "Permute":
        rank = draw(st.integers(1, 4))
        shape = [draw(st.one_of(st.none(), st.integers(1, 5))) for _ in range(rank)]
        dims = draw(st.permutations(range(1, rank + 1)))
        return draw(time_distributed(({"type": "Permute", "dims": list(dims)}, shape)))
    rank = draw(st.integers(1, 3))
    fmt, shape = draw(frames(rank))
    layer: dict = {"type": f"{kind}{rank}D"}
    if fmt and not (kind == "Cropping" and rank == 1) and not (kind == "UpSampling" and rank == 1):
        layer["data_format"] = fmt
    if kind == "ZeroPadding":
        _maybe(draw, "padding", _pads(rank, 3), layer)
    elif kind == "Cropping":
        _maybe(draw, "cropping", _pads(rank, 3), layer)
    else:
        _maybe(draw, "size", st.integers(1, 3) if rank == 1 else st.one_of(
            st.integers(1, 3), st.lists(st.integers(1, 3), min_size=rank, max_size=rank)), layer)
        if rank == 2:
            _maybe(draw, "interpolation", st.sampled_from(["nearest", "bilinear", "bicubic"]), layer)
    return draw(time_distributed((layer, shape)))


@FAMILY
@given(reshapings())
def test_random_reshapings(case):
    layer, shape = case
    agrees_with_keras(_spec(shape, layer))


@st.composite
def activations_and_norms(draw):
    rank = draw(st.integers(1, 3))
    shape = [draw(st.integers(1, 6)) for _ in range(rank)]
    if draw(st.booleans()):  # a free axis: PReLU must share it, normalizations must not keep it
        shape[draw(st.integers(0, rank - 1))] = None
    axis = st.integers(-rank - 1, rank)
    kind = draw(st.sampled_from(["PReLU", "Softmax", "ReLU", "GroupNormalization", "UnitNormalization",
                                 "Normalization"]))
    layer: dict = {"type": kind}
    if kind == "PReLU":
        _maybe(draw, "shared_axes", st.one_of(axis, st.lists(st.integers(1, rank), max_size=rank, unique=True)),
               layer)
    elif kind in ("Softmax", "UnitNormalization"):
        # Keras's Softmax checks no axis before it runs: its axes stay in range here (a unit test shows it
        # fails on data); UnitNormalization checks them in compute_output_shape, as lstmcount does.
        some = axis if kind == "Softmax" else st.integers(-rank - 2, rank + 1)
        _maybe(draw, "axis", st.one_of(some, st.lists(some, min_size=1, max_size=rank, unique=True)), layer)
    elif kind == "ReLU":
        _maybe(draw, "max_value", st.floats(0, 6), layer)
        _maybe(draw, "negative_slope", st.floats(0, 1), layer)
    elif kind == "GroupNormalization":
        layer["groups"] = draw(st.sampled_from([-1, 1, 2, 3, 4, 6]))
        _maybe(draw, "axis", st.integers(-rank, rank), layer)
        _maybe(draw, "center", st.booleans(), layer)
        _maybe(draw, "scale", st.booleans(), layer)
    else:
        _maybe(draw, "axis", st.one_of(st.none(), st.integers(1, rank),
                                       st.lists(st.integers(1, rank), min_size=1, max_size=rank, unique=True)), layer)
        if draw(st.booleans()):
            layer["mean"], layer["variance"] = 0.5, 2.0
    return layer, shape


@FAMILY
@given(activations_and_norms())
def test_random_activations_and_normalizations(case):
    layer, shape = case
    agrees_with_keras(_spec(shape, layer))


@st.composite
def bidirectionals(draw):
    """A Bidirectional with an explicit backward layer: its own class, name and arguments."""
    sequences = draw(st.booleans())
    units = draw(st.integers(1, 8))

    def rnn(backwards, names):
        layer = {"type": draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN"])), "units": units,
                 "return_sequences": sequences, "use_bias": draw(st.booleans())}
        if backwards:
            layer["go_backwards"] = True
        if layer["type"] == "GRU":
            _maybe(draw, "reset_after", st.booleans(), layer)
        _maybe(draw, "name", st.sampled_from(names), layer)
        return layer

    # Keras's checks: the directions differ in go_backwards (a forward one running backwards is refused),
    # and agree in return_sequences (drawn apart now and then). A backward layer is never given the forward
    # copy's name (forward_<name>): lstmcount refuses two weights of one name, Keras builds them.
    forward = rnn(draw(st.integers(0, 4)) == 0, ["lstm", "forward_lstm", "backward_lstm", "enc"])
    backward = rnn(True, ["backward_lstm", "lstm_1", "dec"])
    if draw(st.integers(0, 4)) == 0:
        backward["return_sequences"] = not sequences
    merge = draw(st.sampled_from(["concat", "sum", "mul", "ave"]))
    return {"type": "Bidirectional", "layer": forward, "backward_layer": backward, "merge_mode": merge}, \
        [draw(st.one_of(st.none(), st.integers(1, 6))), draw(st.integers(1, 6))]


@FAMILY
@given(bidirectionals())
def test_random_bidirectional_with_backward_layer(case):
    layer, shape = case
    agrees_with_keras(_spec(shape, layer))


# --- what Keras builds, lstmcount refuses, and why -----------------------------------------------------

def _refusal(spec) -> str:
    import yaml

    from lstmcount import SpecError, conventions
    from lstmcount.inputs import loads

    with pytest.raises(SpecError) as exc:
        conventions.layout(loads(yaml.safe_dump(spec, sort_keys=False), "<test>"))
    return "\n".join(exc.value.problems)


def test_a_backward_layer_of_another_width_would_give_a_wrong_shape(keras_loaded):
    """Keras takes a Bidirectional's output shape from its forward layer alone: with a wider backward layer
    the shape it reports is not the one it computes, and what follows would be built on the wrong width."""
    import numpy as np

    layers = keras_loaded.layers
    both = layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(3, go_backwards=True))
    assert tuple(both.compute_output_shape((1, 4, 5))) == (1, 4)
    assert tuple(both(np.zeros((1, 4, 5), "float32")).shape) == (1, 5)
    spec = _spec([4, 5], {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2},
                          "backward_layer": {"type": "LSTM", "units": 3, "go_backwards": True}})
    assert "the backward layer's output (3,) is not the forward layer's (2,)" in _refusal(spec)


def test_a_backward_layer_named_as_the_forward_copy_is_refused(keras_loaded):
    """Keras builds both under one name, so a weight's name would mean two tensors."""
    layers = keras_loaded.layers
    both = layers.Bidirectional(layers.LSTM(2, name="x"),
                                backward_layer=layers.LSTM(2, go_backwards=True, name="forward_x"))
    both.build((None, 4, 5))
    paths = [w.path.split("/", 1)[1] for w in both.weights]
    assert len(set(paths)) < len(paths)
    spec = _spec([4, 5], {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2, "name": "x"},
                          "backward_layer": {"type": "LSTM", "units": 2, "go_backwards": True, "name": "forward_x"}})
    assert "the backward layer's name 'forward_x' is the forward copy's" in _refusal(spec)


def test_a_softmax_axis_out_of_range_fails_when_keras_runs_it(keras_loaded):
    """Keras checks a Softmax's axis only when it runs; lstmcount says so before."""
    import numpy as np

    softmax = keras_loaded.layers.Softmax(axis=3)
    assert tuple(softmax.compute_output_shape((1, 4, 5))) == (1, 4, 5)
    with pytest.raises(Exception):  # noqa: B017 - the backend's own error type
        softmax(np.zeros((1, 4, 5), "float32"))
    assert "axis 3 is out of range for an input of shape (4, 5)" in _refusal(
        _spec([4, 5], {"type": "Softmax", "axis": 3}))


@pytest.mark.parametrize(("shape", "layer", "message", "keras_too"), [
    ([3, 4], {"type": "Lambda", "function": "f"}, "a Lambda's output shape comes from running its function, which "
                                                  "lstmcount never does: give output_shape", None),
    ([3, 4], {"type": "Lambda", "function": "f", "output_shape": {"class_name": "__lambda__", "config": {}}},
     "argument 'output_shape': must be one sample's shape (a list of sizes or nulls, e.g. [10, 4]) or a list of "
     "them, got a function: lstmcount never runs code", None),
    ([3, 4, 5], {"type": "TimeDistributed", "layer": {"type": "LSTM", "units": 2, "return_state": True}},
     "argument 'layer': wraps a layer with one output; LSTM 'lstm' gives 3 here", None),
    ([4, 5], {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2, "go_backwards": True}},
     "argument 'layer': its layer has go_backwards: true, and so would the backward copy Keras makes of it", True),
    ([4, 5], {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2},
              "backward_layer": {"type": "LSTM", "units": 2, "go_backwards": True, "return_sequences": True}},
     "argument 'backward_layer': return_sequences must be the same in both directions", True),
])
def test_refusals_say_why(shape, layer, message, keras_too):
    """Each refusal's reason; where Keras itself refuses (keras_too), it does."""
    from .frameworks import keras_refusal

    spec = _spec(shape, layer)
    assert message in _refusal(spec)
    if keras_too:
        assert keras_refusal(spec) is not None


def test_time_distributed_of_several_outputs_fails_in_keras(keras_loaded):
    """Keras's own output shape for it is nonsense, and a model cannot be built with it."""
    wrapped = keras_loaded.layers.TimeDistributed(keras_loaded.layers.LSTM(2, return_state=True))
    wrapped.build((None, 3, 4, 5))
    assert wrapped.compute_output_shape((None, 3, 4, 5))[1] == 3  # a length where a shape belongs
    with pytest.raises(Exception):  # noqa: B017 - Keras's own error type
        wrapped(keras_loaded.Input((3, 4, 5)))
