"""The comparison itself: given what a framework built, every kind of difference is caught and named.

These feed `reconcile` hand-made framework listings (the bridges that produce real ones are
tested against the real frameworks in test_frameworks.py and test_verify.py).
"""

from __future__ import annotations

from lstmcount import conventions
from lstmcount.accounting import report
from lstmcount.inputs import loads
from lstmcount.reconcile import ActualLayer, ActualWeight, Built, describe, reconcile, result_dict

SPEC = "input_shape: [28, 28]\nlayers:\n- {type: LSTM, units: 75}\n- {type: Dense, units: 10}\n"
REP = report(conventions.layout(loads(SPEC)))
GOOD = (ActualLayer("lstm", "LSTM", (ActualWeight("kernel", (28, 300)), ActualWeight("recurrent_kernel", (75, 300)),
                                     ActualWeight("bias", (300,))), (75,)),
        ActualLayer("dense", "Dense", (ActualWeight("kernel", (75, 10)), ActualWeight("bias", (10,))), (10,)))


def test_identical_listing_is_ok():
    assert reconcile("m", REP, Built(GOOD, 31_960), None).ok


def test_a_different_native_total_fails():
    assert not reconcile("m", REP, Built(GOOD, 31_961), None).ok


def test_shape_missing_extra_and_trainability_differences_are_named():
    lstm = ActualLayer("lstm", "LSTM", (ActualWeight("kernel", (28, 300)), ActualWeight("recurrent_kernel", (75, 225)),
                                        ActualWeight("bias", (300,), trainable=False),
                                        ActualWeight("peephole", (75,))), (75,))
    res = reconcile("m", REP, Built((lstm, GOOD[1]), 0), None)
    assert not res.ok
    check = res.layers[0]
    assert not check.match and res.layers[1].match
    assert [describe(d) for d in check.diffs] == [
        "recurrent_kernel: lstmcount expects shape [75, 300], the framework has [75, 225]",
        "bias: lstmcount expects trainable=True, the framework has trainable=False",
        "peephole: the framework has shape [75], lstmcount does not expect it",
    ]
    assert result_dict(res)["layers"][0]["match"] is False


def test_missing_layer_and_unexpected_layer():
    extra = ActualLayer("dropout", "Dropout", (ActualWeight("w", (3,)),))
    res = reconcile("m", REP, Built((GOOD[0], extra), 31_203), None)
    names = [(c.name, c.match) for c in res.layers]
    assert names == [("lstm", True), ("dense", False), ("dropout", False)]
    assert describe(res.layers[1].diffs[0]) == \
        "kernel: lstmcount expects shape [75, 10], the framework has no such weight"


def test_output_shape_difference_fails_the_layer():
    dense = ActualLayer("dense", "Dense", GOOD[1].weights, (11,))
    res = reconcile("m", REP, Built((GOOD[0], dense), 31_960), None)
    assert not res.ok and not res.layers[1].shape_match
    assert result_dict(res)["layers"][1]["output_shape"] == {"expected": [None, 10], "actual": [None, 11]}


def test_expect_failures_make_the_file_fail():
    res = reconcile("m", REP, Built(GOOD, 31_960), {"total": 1})
    assert not res.ok and res.expect_failures == ("expected total 1, counted 31,960 (+31,959)",)


def test_a_layer_without_weights_on_one_side_only_fails():
    """A graph's InputLayer or merge layer has no weights, so only its name can be missing: that fails too."""
    rep = report(conventions.layout(loads("inputs: {a: [4], b: [4]}\nlayers:\n- {type: Add, inputs: [a, b]}\n")))
    inputs = (ActualLayer("a", "InputLayer", (), (4,)), ActualLayer("b", "InputLayer", (), (4,)))
    res = reconcile("m", rep, Built(inputs, 0), None)
    assert not res.ok and [(c.name, c.match) for c in res.layers] == [("a", True), ("b", True), ("add", False)]
    assert result_dict(res)["layers"][2]["problem"] == "the framework has no layer named 'add'"
    extra = reconcile("m", rep, Built((*inputs, ActualLayer("add", "Add", ()), ActualLayer("lambda", "Lambda", ())),
                                      0), None)
    assert not extra.ok and result_dict(extra)["layers"][3]["problem"] == "lstmcount has no layer named 'lambda'"
    from .conftest import validator

    for one in (res, extra):  # the verify --json schema takes them
        assert not list(validator("verify").iter_errors({"schema_version": 1, "ok": False, "versions": {},
                                                         "files": [result_dict(one)]}))
    assert reconcile("m", rep, Built((*inputs, ActualLayer("add", "Add", (), (4,))), 0), None).ok
