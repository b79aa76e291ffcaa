"""The single description of a layer: its weight tensors, shapes, gate axis and gate order.

Every count, gate breakdown, formula and verification is derived from these objects.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from .model import Shape

# Roles a weight plays in a recurrent layer; everything else is an "extra".
KERNEL = "kernel"
RECURRENT = "recurrent_kernel"
BIAS = "bias"
EXTRA = "extra"
PEEPHOLE = "peephole"  # an extra: a gate's peephole weights (ONNX P, TF1 w_*_diag), one per unit
PROJECTION = "projection"  # an extra: the projection of the output (PyTorch weight_hr, TF1 num_proj)
EXTRA_ROLES = (EXTRA, PEEPHOLE, PROJECTION)  # weights of a recurrent layer that belong to no gate block
PLAIN = "plain"  # a weight of a non-recurrent layer

LSTM_GATES = ("input", "forget", "cell", "output")
GRU_GATES = ("update", "reset", "candidate")
RNN_GATES = ("hidden",)

# A tensor file may not say which of several classes a module is (a lone 2-D weight is an Embedding,
# a bias-free Linear or a bias-free LayerNorm): its type then names every class that fits.
ALTERNATIVE = " or "


def alternatives(type_name: str) -> tuple[str, ...]:
    """The classes a layer's type names: one, or every class that fits (`Embedding or Linear`)."""
    return tuple(type_name.split(ALTERNATIVE))


def tensor_key(layer: str, weight: str) -> str:
    """A weight's full name as a PyTorch state_dict keys it: `decoder.weight`; a root module's are bare."""
    return weight if layer == ROOT else f"{layer}.{weight}"


ROOT = "(root)"  # the layer name of a state_dict's root module (its keys have no module path)


class Slice(NamedTuple):
    gate: str
    start: int
    stop: int


class Weight(NamedTuple):
    """One weight tensor as the framework stores it (a NamedTuple: layouts are built by the thousand)."""

    name: str
    shape: tuple[int, ...]
    role: str = PLAIN
    gate_axis: int | None = None
    gates: tuple[str, ...] = ()  # storage order along gate_axis
    trainable: bool = True
    direction: str | None = None  # "forward" / "backward" where a layer has both
    depth: int | None = None  # stacked depth where a layer has several
    # ONNX keeps both directions in one tensor: forward then backward, evenly along this axis.
    direction_axis: int | None = None
    # TF1 stacks the input and recurrent kernels in one tensor: (role, rows) blocks along axis 0.
    row_roles: tuple[tuple[str, int], ...] = ()
    # A bias tensor's terms: one per row of a 2-D bias (Keras GRU: input, recurrent), or the one
    # term it holds (PyTorch: input or recurrent; Keras LSTM: input+recurrent, both folded in one).
    terms: tuple[str, ...] = ()
    # cuDNN: each gate block holds its (units, rows) matrix row by row, in this tensor's (rows, units)
    # block: reshaping the block to (units, rows) gives the matrix the layer multiplies by.
    packed: bool = False
    # The tensor this one is (the same storage, as a weight-tied decoder is its embedding): it is
    # counted there, once, as model.parameters() counts a shared Parameter. None: its own tensor.
    tied: str | None = None
    dtype: str | None = None  # the element type a file stores it in; None: not known (specs, flags)

    @property
    def size(self) -> int:
        """The elements it holds (what a product with it multiplies), tied or not."""
        return math.prod(self.shape)

    @property
    def params(self) -> int:
        """The parameters it adds to the count: its elements, or none when it is tied to another."""
        return 0 if self.tied is not None else math.prod(self.shape)

    @property
    def directions(self) -> int:
        """How many directions this one tensor holds (ONNX: its leading axis, 1 or 2)."""
        return self.shape[self.direction_axis] if self.direction_axis is not None else 1

    def shares(self) -> list[tuple[str | None, str, str | None, int]]:
        """(gate, role, direction, parameters) for every gate block of this tensor.

        A gated tensor is split evenly along its gate axis (a gate may appear twice, as in ONNX's
        [input biases | recurrent biases]); a direction axis and row roles split it further. A tensor
        without gates is one block with gate None.
        """
        if not self.gates:
            return [(None, self.role, self.direction, self.params)]
        dirs: tuple[str | None, ...] = ("forward", "backward") if self.directions == 2 else (self.direction,)
        per_row = self.params // self.shape[0]
        roles = [(r, rows * per_row) for r, rows in self.row_roles] or [(self.role, self.params)]
        out: list[tuple[str | None, str, str | None, int]] = []
        for d in dirs:
            for role, amount in roles:
                each = amount // (len(dirs) * len(self.gates))
                out += [(g, role, d, each) for g in self.gates]
        return out

    @property
    def slices(self) -> tuple[Slice, ...]:
        """Each gate's [start, stop) along the gate axis, in storage order."""
        if self.gate_axis is None or not self.gates:
            return ()
        block = self.shape[self.gate_axis] // len(self.gates)
        return tuple(Slice(g, k * block, (k + 1) * block) for k, g in enumerate(self.gates))

    @property
    def per_gate_shape(self) -> tuple[int, ...]:
        if self.gate_axis is None or not self.gates:
            return self.shape
        shape = list(self.shape)
        shape[self.gate_axis] //= len(self.gates)
        return tuple(shape)


class Outputs(NamedTuple):
    """A layer's several output tensors (an RNN with return_state, a Bidirectional with merge_mode None).

    `main` is the one tensor a chain hands on to the next layer (None: the outputs cannot be taken as one).
    """

    shapes: tuple[Shape | None, ...]
    main: Shape | None
    states: tuple[Shape, ...] = ()  # a recurrent layer's states (what initial_state takes), returned or not


class Call(NamedTuple):
    """One call of a layer in a graph: the tensors it reads (Keras's "Connected to": `name[node][tensor]`),
    its first input's shape and its (first) output's shape."""

    inbound: tuple[str, ...]
    input_shape: Shape | None
    output_shape: Shape | None
    outputs: tuple[Shape | None, ...] = ()  # every output tensor of this call, when it has several


class LayerLayout(NamedTuple):
    """A layer as one framework stores it."""

    name: str
    type: str
    weights: tuple[Weight, ...]
    output_shape: Shape | None = None  # without the batch axis; None when not tracked
    recurrent: bool = False
    variant: str | None = None  # GRU: "reset_after" (PyTorch, Keras default) or "reset_before"
    input_shape: Shape | None = None  # what it is called on (its first input); None when not tracked
    outputs: tuple[Shape | None, ...] = ()  # every output tensor, when it has several
    calls: tuple[Call, ...] = ()  # graph models: each call (a shared layer has several); chains: none
    layers: tuple[LayerLayout, ...] = ()  # a nested model's own layers (its weights are theirs)
    states: tuple[Shape, ...] = ()  # a recurrent layer's states: what initial_state takes
    entry: int | None = None  # the 1-based position of its entry in the Model's layers, where it has one
    costed: bool = True  # whether its compute (--timesteps) is counted: not when it needs more than
    # the weights and output shapes (attention multiplies its inputs together)
    stored: str | None = None  # counted from the weights a file stores, there (model.weights.h5), not a table
    uncosted: str | None = None  # why its compute is left out, where its kind's is counted (LayerSpec's)

    @property
    def params(self) -> int:
        return sum(w.params for w in self.weights)


class ModelLayout(NamedTuple):
    framework: str
    name: str | None
    input_shape: Shape | None
    layers: tuple[LayerLayout, ...]
    graph: bool = False  # a graph model: its layers include its InputLayers and say what each call reads
    outputs: tuple[str, ...] = ()  # graph models: the output tensors, `name[node][tensor]`
    notes: tuple[str, ...] = ()  # what a reader wants the user to know (tied tensors, entries left out)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)
