"""Keras's attention layers: Attention, AdditiveAttention, MultiHeadAttention.

Weights and output shapes as keras/src/layers/attention builds them. Attention and AdditiveAttention
are called on a list [query, value] or [query, value, key]; MultiHeadAttention takes query, value and
key as separate call arguments (`inputs: [query, value, key]` in a spec). Keras builds some of these
models symbolically though they could never run (a query whose width differs from the key's, inputs
of different ranks): those are refused here, saying which axes disagree.
"""

from __future__ import annotations

from typing import Any

from ...layout import Weight
from ...model import Shape
from ..base import Arg, Ctx, Kind, LayerProblem
from .common import INITS, POS, RATE, SEED, idents, known_shape, shape_str

Q_V_K = ("query", "value", "key")


def _show(shape: Shape) -> str:
    return shape_str((None, *shape))


def _qvk(shape: tuple[Shape | None, ...]) -> tuple[Shape, Shape, Shape]:
    shapes = [known_shape(s, None, "") for s in shape]
    query, value = shapes[0], shapes[1]
    return query, value, shapes[2] if len(shapes) > 2 else value


def _agree(a: int | None, b: int | None, broadcast: bool = False) -> bool:
    return a is None or b is None or a == b or (broadcast and 1 in (a, b))


def _scores_fit(kind: str, query: Shape, value: Shape, key: Shape, add: bool) -> None:
    """Attention's products: query·key (or query + key) over the features, then the weights times value."""
    if not len(query) == len(value) == len(key):
        raise LayerProblem(f"{kind} takes query, value and key of the same rank, got {_show(query)}, {_show(value)} "
                           f"and {_show(key)}")
    q_dim, k_dim = query[-1], key[-1]
    if not _agree(q_dim, k_dim, broadcast=add):
        how = "adds" if add else "multiplies"
        raise LayerProblem(f"{kind} {how} query and key along their last axis, so they must agree: query "
                           f"{_show(query)}, key {_show(key)}")
    if len(query) >= 2 and not _agree(key[-2], value[-2]):
        raise LayerProblem(f"{kind} weighs value by key, so they need the same number of steps: value "
                           f"{_show(value)}, key {_show(key)}")
    for i in range(len(query) - 2):  # leading axes broadcast, but the output keeps the query's
        if not all(s[i] in (1, None) or _agree(query[i], s[i]) for s in (value, key)):
            raise LayerProblem(f"{kind}'s value and key must have the query's size (or 1) on axis {i + 1}: query "
                               f"{_show(query)}, value {_show(value)}, key {_show(key)}")


def _attention(ctx: Ctx, a: dict[str, Any], shape: tuple[Shape | None, ...]) -> tuple[list[Weight], Shape]:
    query, value, key = _qvk(shape)
    _scores_fit(ctx.kind, query, value, key, add=a["score_mode"] == "concat")
    weights = []
    if a["use_scale"]:
        weights.append(Weight("scale", ()))
    if a["score_mode"] == "concat":
        weights.append(Weight("concat_score_weight", ()))
    return weights, (*query[:-1], value[-1])


def _additive(ctx: Ctx, a: dict[str, Any], shape: tuple[Shape | None, ...]) -> tuple[list[Weight], Shape]:
    query, value, key = _qvk(shape)
    _scores_fit(ctx.kind, query, value, key, add=True)
    weights = []
    if a["use_scale"]:
        if query[-1] is None:
            raise LayerProblem(f"its scale has one weight per query feature, so the last axis of the query "
                               f"{_show(query)} must be known")
        weights.append(Weight("scale", (query[-1],)))
    return weights, (*query[:-1], value[-1])


def _ints(value: Any, arg: str, what: str) -> tuple[int, ...] | None:
    """An int or a list of ints (Keras's output_shape, attention_axes), or None."""
    if value is None:
        return None
    items = [value] if isinstance(value, int) else value
    if isinstance(value, bool) or not isinstance(items, list) or not items or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise LayerProblem(f"must be {what}, got {value!r}", arg)
    return tuple(items)


def _attention_axes(a: dict[str, Any], rank: int) -> tuple[int, ...]:
    """MultiHeadAttention's attention axes as batch-less indexes, for inputs of `rank` axes without the
    batch. Keras counts them in the projected tensors (batch, ..., heads, key_dim): its default is every
    axis between the batch and the heads; `rank` itself is the heads' axis, which Keras accepts too."""
    axes = _ints(a["attention_axes"], "attention_axes", "an axis or a list of axes")
    if axes is None:
        return tuple(range(rank - 1))
    out = []
    for axis in axes:
        full = axis if axis >= 0 else rank + 1 + axis
        if full == 0:
            raise LayerProblem(f"attention over the batch axis ({axis}) would mix the samples of a batch",
                               "attention_axes")
        if not 1 <= full <= rank or full - 1 in out:
            raise LayerProblem(f"each axis must be one of 1 to {rank} (an axis between the batch and the "
                               f"features, or {rank} for the heads), once; got {list(axes)}", "attention_axes")
        out.append(full - 1)
    return tuple(out)


def _mha_shapes(a: dict[str, Any], query: Shape, value: Shape, key: Shape) -> None:
    if value[:-1] != key[:-1]:  # Keras compares them exactly, unknown sizes included
        raise LayerProblem(f"value and key must have the same shape but for the last axis, got value "
                           f"{_show(value)} and key {_show(key)}")
    if len(query) != len(value):
        raise LayerProblem(f"query and value must have the same rank, got {_show(query)} and {_show(value)}")
    axes = _attention_axes(a, len(query))
    if not axes:
        raise LayerProblem(f"needs inputs with a time (or other attention) axis and features, such as (None, 10, 64); "
                           f"got a query of shape {_show(query)}")
    for what, s in (("query", query), ("value", value), ("key", key)):
        if s[-1] is None:
            raise LayerProblem(f"the last axis of the {what} {_show(s)} must be known: its projection's "
                               "kernel has one row per feature")
    if len(query) == 2 and not a["dropout"]:
        return  # Keras runs these as plain dot-product attention over the time axis, whatever the axes say
    for i in range(len(query) - 1):  # Keras's einsum over the others: they must match
        if i not in axes and not _agree(query[i], key[i]):
            raise LayerProblem(f"query and key must agree on axis {i + 1}, which is not an attention axis: query "
                               f"{_show(query)}, key {_show(key)}", "attention_axes")


def _multi_head(ctx: Ctx, a: dict[str, Any], shape: tuple[Shape | None, ...]) -> tuple[list[Weight], Shape]:
    query, value, key = _qvk(shape)
    _mha_shapes(a, query, value, key)
    if a["flash_attention"] and a["dropout"] > 0:
        raise LayerProblem("flash attention does not support dropout: set dropout to 0", "flash_attention")
    heads, key_dim = a["num_heads"], a["key_dim"]
    value_dim = a["value_dim"] or key_dim
    given = _ints(a["output_shape"], "output_shape", "a size or a list of sizes") if a["output_shape"] else None
    if given is not None and min(given) < 1:
        raise LayerProblem(f"sizes must be positive, got {list(given)}", "output_shape")
    assert query[-1] is not None  # checked in _mha_shapes
    out: tuple[int, ...] = given or (query[-1],)
    projections = [("query", query[-1], key_dim), ("key", key[-1], key_dim)]
    if a["use_gate"]:
        projections.append(("gate", query[-1], value_dim))
    projections += [("value", value[-1], value_dim)]
    weights: list[Weight] = []
    for name, rows, width in projections:
        assert rows is not None  # checked in _mha_shapes
        weights.append(Weight(f"{name}/kernel", (rows, heads, width)))
        if a["use_bias"]:
            weights.append(Weight(f"{name}/bias", (heads, width)))
    weights.append(Weight("attention_output/kernel", (heads, value_dim, *out)))
    if a["use_bias"]:
        weights.append(Weight("attention_output/bias", out))
    return weights, (*query[:-1], *out)


ATTENTION_ARGS = {"use_scale": Arg("bool", False), "score_mode": Arg("choice", "dot", choices=("dot", "concat")),
                  "dropout": RATE, "seed": SEED}

KINDS: list[Kind] = [
    Kind("Attention", ATTENTION_ARGS, _attention, many=True, inputs=(2, 3), costed=False),
    Kind("AdditiveAttention", {"use_scale": Arg("bool", True), "dropout": RATE}, _additive, many=True,
         inputs=(2, 3), costed=False, kwargs={"seed": SEED}),
    Kind("MultiHeadAttention", {
        "num_heads": POS, "key_dim": POS, "value_dim": Arg("int", None, min=1, nullable=True), "dropout": RATE,
        "use_bias": Arg("bool", True), "output_shape": Arg("any", None), "attention_axes": Arg("any", None),
        "sliding_window": Arg("int", None, min=1, nullable=True), "flash_attention": Arg("bool", None, nullable=True),
        **idents(*INITS), "use_gate": Arg("bool", False), "seed": SEED,
    }, _multi_head, many=True, inputs=(2, 3), tensors=Q_V_K, costed=False),
]
