"""Declared custom layers (`type: custom`): counted from the weights the spec declares, shown by their
class name, flowing their declared output shape; bad declarations are located errors."""

from __future__ import annotations

import pytest

from lstmcount import SpecError, analyze

SPEC = """input_shape: [null, 8]
layers:
  - {type: LSTM, units: 4, return_sequences: true}
  - type: custom
    class_name: CTCLayer
    weights:
      kernel: [4, 5]
      scale: {shape: [], trainable: false}
    output_shape: [null, 5]
  - {type: Dense, units: 2}
"""


def test_custom_layer_counts_its_declared_weights():
    rep = analyze(SPEC)
    ctc = rep.layers[1]
    assert (ctc.name, ctc.type) == ("ctc_layer", "CTCLayer")  # Keras's naming rule, on the class name
    assert ctc.params == 4 * 5 + 1 and ctc.trainable == 20
    assert [(w.name, w.shape, w.trainable) for w in ctc.weights] == [("kernel", (4, 5), True),
                                                                      ("scale", (), False)]
    assert rep.layers[2].params == 5 * 2 + 2  # the Dense reads the declared (None, 5)
    assert rep.total == 4 * ((8 + 4) * 4 + 4) + 21 + 12


def test_custom_layer_without_output_shape_keeps_its_input_shape():
    rep = analyze(SPEC.replace("    output_shape: [null, 5]\n", ""))
    assert rep.layers[1].output_shape == (None, 4)
    assert rep.layers[2].params == 4 * 2 + 2


@pytest.mark.parametrize(("weights", "message"), [
    ("kernel: [4, -5]", "weight 'kernel''s shape must be a list of at most 8 positive sizes"),
    ("kernel: {shape: [4], trainable: maybe}", "weight 'kernel': trainable must be true or false"),
    ("kernel: {size: [4]}", "weight 'kernel' takes shape and trainable"),
])
def test_bad_declarations_are_located(weights, message):
    text = SPEC.replace("      kernel: [4, 5]\n      scale: {shape: [], trainable: false}\n", f"      {weights}\n")
    with pytest.raises(SpecError) as err:
        analyze(text)
    (problem,) = err.value.problems
    assert message in problem and "layer 2 (custom): argument 'weights'" in problem


def test_custom_needs_its_class_name():
    with pytest.raises(SpecError, match="custom needs the argument 'class_name'"):
        analyze(SPEC.replace("    class_name: CTCLayer\n", ""))
