"""Custom layers in Keras model files, counted from the weights the file stores (issue 12), weights-only
files (save_weights), and a file's Lambda shaped by the layer after it: real models built and saved once
per session by Keras 3 and by Keras 2 (tf_keras), every count checked against Keras's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmcount import analyze
from lstmcount.inputs import keras_weights

from .test_imports import modules_after


def _custom_class(K: Any, package: str) -> Any:
    """A custom layer with weights of several shapes, trainable and not (add_weight)."""

    @K.saving.register_keras_serializable(package=package)
    class Scale(K.layers.Layer):
        def __init__(self, units: int = 3, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape: Any) -> None:
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.b = self.add_weight(shape=(self.units,), name="b")
            self.stat = self.add_weight(shape=(2, 3, 4), name="stat", trainable=False)
            self.g = self.add_weight(shape=(), name="g")
            super().build(input_shape)

        def call(self, x: Any) -> Any:
            return x @ self.w + self.b

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "units": self.units}

    return Scale


class Saved(NamedTuple):
    model: Any
    files: dict[str, str]  # keras, h5, json, weights (save_weights), by what they are


def _save(model: Any, root: Path, stem: str, version: int) -> Saved:
    files = {"keras": root / f"{stem}.keras", "h5": root / f"{stem}.h5", "json": root / f"{stem}.json",
             "weights": root / f"{stem}.weights.h5"}
    model.save(files["keras"])
    model.save(files["h5"])
    files["json"].write_text(model.to_json())
    model.save_weights(files["weights"])
    if version == 2:  # tf_keras's own legacy weights file too
        files["weights2"] = root / f"{stem}_w.h5"
        model.save_weights(files["weights2"])
    return Saved(model, {k: str(v) for k, v in files.items()})


@pytest.fixture(scope="session")
def saved(tmp_path_factory) -> dict[tuple[int, str], Saved]:
    """An LSTM, a custom layer and a Dense, Sequential and functional, saved by either Keras."""
    import keras
    import tf_keras

    root = tmp_path_factory.mktemp("keras_custom")
    out = {}
    for version, K in ((3, keras), (2, tf_keras)):
        Scale = _custom_class(K, f"lstmcount_test{version}")
        L = K.layers
        seq = K.Sequential([K.Input((5, 4)), L.LSTM(6, return_sequences=True, name="lstm"), Scale(3, name="scale"),
                            L.Dense(2, name="head")])
        x = K.Input((5, 4), name="x")
        h = L.LSTM(6, return_sequences=True, name="enc")(x)
        h = Scale(5, name="mix")(h)
        h = Scale(2, name="mix2")(h)
        fun = K.Model(x, L.Dense(3, name="out")(h))
        last = K.Sequential([K.Input((5, 4)), L.LSTM(6, name="lstm"), Scale(4, name="tail")])
        for stem, model in (("seq", seq), ("fun", fun), ("last", last)):
            out[version, stem] = _save(model, root, f"{stem}{version}", version)
    return out


CASES = [(v, stem, ext) for v in (3, 2) for stem in ("seq", "fun", "last") for ext in ("keras", "h5")]


@pytest.mark.parametrize(("version", "stem", "ext"), CASES)
def test_custom_layers_count_from_stored_weights(saved, version, stem, ext):
    s = saved[version, stem]
    rep = analyze(s.files[ext])
    assert rep.total == s.model.count_params()
    assert rep.trainable == rep.total  # which stored weights are trainable is not stored: said in a note
    lay = {layer.name: layer for layer in analyze(s.files[ext]).layers}
    from lstmcount import conventions, inputs

    layout = {layer.name: layer for layer in conventions.layout(inputs.load(s.files[ext])).layers}
    for real in s.model.layers:
        if real.__class__.__name__ == "InputLayer":
            continue
        assert lay[real.name].params == real.count_params(), real.name
        if real.__class__.__name__ == "Scale":  # stored in Keras's order: trainable first
            ordered = list(real.trainable_weights) + list(real.non_trainable_weights)
            assert [w.shape for w in layout[real.name].weights] == [tuple(v.shape) for v in ordered]
            names = [w.name for w in layout[real.name].weights]
            assert names == (["vars/0", "vars/1", "vars/2", "vars/3"] if ext == "keras" else ["w", "b", "g", "stat"])
    customs = [r.name for r in s.model.layers if r.__class__.__name__ == "Scale"]
    counted = [n for n in rep.notes if "counted from the weights the file stores" in n]
    assert [n.split("'")[1] for n in counted][:len(customs)] == customs
    assert keras_weights.UNKNOWN_TRAINABLE in rep.notes
    where = "model.weights.h5" if ext == "keras" else "model_weights"
    assert {layer.name for layer in rep.layers if layer.stored == where} >= set(customs)
    assert all(layer.stored in (None, where) for layer in rep.layers)


@pytest.mark.parametrize("version", [3, 2])
def test_output_shapes_come_from_the_next_layers_build_shape(saved, version):
    """A .keras file stores each layer's build input shape: the custom layer's output shape is the next
    layer's, and the layers after it are counted by lstmcount's tables (gates and all)."""
    s = saved[version, "fun"]
    rep = analyze(s.files["keras"])
    by_name = {layer.name: layer for layer in rep.layers}
    assert by_name["mix"].output_shape == (5, 5) and by_name["mix2"].output_shape == (5, 2)
    assert by_name["out"].output_shape == (5, 3)
    assert not any("'out'" in n for n in rep.notes)  # the Dense is counted by its table
    # an .h5 model file stores no build shapes: what follows the custom layer counts from its stored weights
    notes = analyze(s.files["h5"]).notes
    assert any(n.startswith("layer 4 'mix2'") and "its input shape is unknown" in n for n in notes), notes
    assert any(n.startswith("layer 5 'out' (Dense): counted from the weights the file stores") for n in notes)


@pytest.mark.parametrize("version", [3, 2])
def test_a_last_custom_layer_has_an_unknown_output_shape(saved, version):
    rep = analyze(saved[version, "last"].files["keras"])
    assert rep.layers[-1].name == "tail" and rep.layers[-1].output_shape is None
    assert rep.total == saved[version, "last"].model.count_params()


@pytest.mark.parametrize("version", [3, 2])
def test_a_json_custom_layer_points_at_the_files_that_store_weights(saved, cli, version):
    path = saved[version, "seq"].files["json"]
    r = cli("params", path)
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.startswith(f"{path}: layer 2 'scale' (")
    assert "unknown keras layer type" in r.stderr and "Scale" in r.stderr
    assert r.stderr.endswith("a model JSON stores no weights to count it from: count the model's .keras or .h5 "
                             "file (model.save), which stores them\n"), r.stderr


def test_the_table_and_notes_say_what_was_counted_from_the_file(saved, cli):
    path = saved[3, "seq"].files["keras"]
    r = cli("params", path)
    assert r.exit_code == 0
    assert "scale (Scale)" in r.stdout and "Total params: 318 " in r.stdout  # 264 + 46 + 8
    assert (f"{path}: note: layer 2 'scale' (Scale): counted from the weights the file stores (model.weights.h5: "
            "vars/0 (6, 3), vars/1 (3,), vars/2 (), vars/3 (2, 3, 4))\n") in r.stderr
    r = cli("layout", path, "--layer", "scale")
    assert r.exit_code == 0 and "vars/3" in r.stdout and "(2, 3, 4)" in r.stdout


@pytest.mark.parametrize(("version", "which"), [(3, "weights"), (2, "weights"), (2, "weights2")])
@pytest.mark.parametrize("stem", ["seq", "fun"])
def test_weights_only_files_count_per_layer(saved, cli, version, which, stem):
    s = saved[version, stem]
    path = s.files[which]
    rep = analyze(path)
    assert rep.total == s.model.count_params()
    real = sorted(layer.count_params() for layer in s.model.layers if layer.count_params())
    assert sorted(layer.params for layer in rep.layers) == real
    if version == 3 or which == "weights2":  # Keras 3 and tf_keras's legacy file store the layers' names
        assert {layer.name: layer.params for layer in rep.layers} == {
            layer.name: layer.count_params() for layer in s.model.layers if layer.count_params()}
    r = cli("params", path, "--json")  # the cli fixture checks it against its schema
    assert r.exit_code == 0, r.stderr
    assert "a weights-only file (save_weights)" in r.stderr
    import json

    assert {layer["stored"] for layer in json.loads(r.stdout)["layers"]} == {"weights file"}


def test_weights_only_shapes_and_names(saved):
    from lstmcount import inputs

    s = saved[2, "seq"]
    lay = {layer.name: layer for layer in inputs.read_tensor_file(s.files["weights2"]).layers}
    assert [(w.name, w.shape) for w in lay["lstm"].weights] == [
        (v.name.split("/", 1)[1].removesuffix(":0"), tuple(v.shape)) for v in s.model.layers[0].weights]
    lay3 = {layer.name: layer for layer in inputs.read_tensor_file(saved[3, "seq"].files["weights"]).layers}
    assert [(w.name, w.shape) for w in lay3["lstm"].weights] == [
        (f"cell/vars/{k}", tuple(v.shape)) for k, v in enumerate(saved[3, "seq"].model.layers[0].weights)]


# --- Lambda --------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def lambdas(tmp_path_factory) -> dict[str, tuple[Any, str]]:
    import keras

    root = tmp_path_factory.mktemp("keras_lambda")
    L = keras.layers
    followed = keras.Sequential([keras.Input((7, 8)), L.Lambda(lambda x: x[:, :, :5], name="cut"),
                                 L.LSTM(3, name="lstm")])
    last = keras.Sequential([keras.Input((7, 8)), L.LSTM(3, return_sequences=True, name="lstm"),
                             L.Lambda(lambda x: x[:, :, :2], name="cut")])
    x = keras.Input((7, 8), name="x")
    graph = keras.Model(x, L.GRU(4, name="gru")(L.Lambda(lambda t: t[:, :, :3], name="cut")(x)))
    out = {}
    for name, model in (("followed", followed), ("last", last), ("graph", graph)):
        path = root / f"{name}.keras"
        model.save(path)
        out[name] = (model, str(path))
    return out


@pytest.mark.parametrize("name", ["followed", "graph"])
def test_a_lambda_takes_the_next_layers_build_shape(lambdas, name):
    model, path = lambdas[name]
    rep = analyze(path)
    assert rep.total == model.count_params()
    cut = next(layer for layer in rep.layers if layer.name == "cut")
    assert cut.output_shape == tuple(model.get_layer("cut").output.shape[1:])


def test_a_lambda_nothing_reads_is_refused_with_the_reason(lambdas, cli):
    _, path = lambdas["last"]
    r = cli("params", path)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (f"{path}: layer 2 'cut' (Lambda): a Lambda's output shape comes from running its function, "
                        "which lstmcount never does, and the file does not say it: it has no output_shape, and no "
                        "layer reads it to store the shape it was built on\n")


# --- generated custom layers ---------------------------------------------------------------------------

SHAPES = st.lists(st.tuples(st.lists(st.integers(1, 4), max_size=3), st.booleans()), min_size=0, max_size=4)


@pytest.fixture(scope="session")
def shaped_class() -> Any:
    import keras

    @keras.saving.register_keras_serializable(package="lstmcount_hypothesis")
    class Shaped(keras.layers.Layer):
        """A layer holding weights of the shapes it is given (trainable or not); it returns its input."""

        def __init__(self, shapes: Any = (), **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.shapes = [(list(s), bool(t)) for s, t in shapes]

        def build(self, input_shape: Any) -> None:
            for k, (shape, trainable) in enumerate(self.shapes):
                self.add_weight(shape=tuple(shape), name=f"v{k}", trainable=trainable)
            super().build(input_shape)

        def call(self, x: Any) -> Any:
            return x

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "shapes": self.shapes}

    return Shaped


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=SHAPES, h5=st.booleans())
def test_generated_custom_layers(shaped_class, tmp_path, shapes, h5):
    import keras

    layer = shaped_class(shapes, name="shaped")
    model = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(2, return_sequences=True), layer,
                              keras.layers.Dense(2)])
    path = tmp_path / ("g.h5" if h5 else "g.keras")
    model.save(path)
    rep = analyze(str(path))
    assert rep.total == model.count_params()
    got = next(lay for lay in rep.layers if lay.name == "shaped")
    assert got.params == layer.count_params()
    from lstmcount import conventions, inputs

    weights = next(lay for lay in conventions.layout(inputs.load(str(path))).layers if lay.name == "shaped").weights
    ordered = list(layer.trainable_weights) + list(layer.non_trainable_weights)
    assert [w.shape for w in weights] == [tuple(v.shape) for v in ordered]


# --- imports ---------------------------------------------------------------------------------------------

def test_h5py_is_imported_only_for_stored_weights(saved, tmp_path):
    import keras

    plain = tmp_path / "plain.keras"
    keras.Sequential([keras.Input((5, 4)), keras.layers.LSTM(3), keras.layers.Dense(2)]).save(plain)
    mods, code = modules_after("params", str(plain))
    assert code == 0 and "h5py" not in mods
    mods, code = modules_after("params", saved[3, "seq"].files["keras"])
    assert code == 0 and "h5py" in mods and "keras" not in mods and "tensorflow" not in mods


# --- nested models, recompressed archives ----------------------------------------------------------------

@pytest.fixture(scope="session")
def nested(tmp_path_factory) -> dict[int, Saved]:
    """Custom layers inside nested Sequentials: one followed by a Dense, one last (read by the outer Dense)."""
    import keras
    import tf_keras

    root = tmp_path_factory.mktemp("keras_nested")
    out = {}
    for version, K in ((3, keras), (2, tf_keras)):
        Scale = _custom_class(K, f"lstmcount_nested{version}")
        L = K.layers
        inner = K.Sequential([K.Input((5, 6)), Scale(3, name="mix"), L.Dense(4, name="d")], name="inner")
        inner2 = K.Sequential([K.Input((5, 4)), Scale(2, name="mix2")], name="inner2")
        x = K.Input((5, 4), name="x")
        model = K.Model(x, L.Dense(2, name="out")(inner2(inner(L.LSTM(6, return_sequences=True, name="enc")(x)))))
        out[version] = _save(model, root, f"nested{version}", version)
    return out


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("version", [3, 2])
def test_custom_layers_in_nested_models(nested, version, ext):
    s = nested[version]
    rep = analyze(s.files[ext])
    assert rep.total == s.model.count_params()
    assert [(lay.name, lay.params) for lay in rep.layers if lay.type != "InputLayer"] == [
        (lay.name, lay.count_params()) for lay in s.model.layers if lay.__class__.__name__ != "InputLayer"]
    inner = next(lay for lay in rep.layers if lay.name == "inner")
    if ext == "keras":  # the shapes each layer was built on: the outer Dense's is the nested model's output
        assert [sub.output_shape for sub in inner.layers] == [(5, 3), (5, 4)]
        assert next(lay for lay in rep.layers if lay.name == "inner2").output_shape == (5, 2)


def test_a_recompressed_archive(saved, tmp_path):
    import zipfile

    src = saved[3, "seq"].files["keras"]
    small, large = tmp_path / "small.keras", tmp_path / "large.keras"
    with zipfile.ZipFile(src) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(small, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    assert analyze(str(small)).total == saved[3, "seq"].model.count_params()
    with zipfile.ZipFile(large, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data + bytes(65 * 2**20) if name == "model.weights.h5" else data)
    from lstmcount.errors import SpecError

    with pytest.raises(SpecError) as err:
        analyze(str(large))
    assert str(err.value).endswith("its model.weights.h5 is compressed and 65 MiB; lstmcount reads compressed weights "
                                   "up to 64 MiB (Keras stores them uncompressed: save the model again)")


def test_verify_refuses_a_custom_layer_it_cannot_build(saved, cli):
    path = saved[3, "seq"].files["keras"]
    r = cli("verify", path)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr == (f"{path}: verify builds the model in keras, and cannot build 'scale' (Scale): a custom layer, "
                        "counted from its declaration or from the weights its file stores, needs its own class; "
                        "lstmcount params counts it\n")


@pytest.mark.parametrize("which", ["keras", "weights"])
def test_layout_json_of_stored_weights(saved, cli, which):
    r = cli("layout", saved[2, "fun"].files[which], "--json")  # the cli fixture checks it against its schema
    assert r.exit_code == 0, r.stderr
    import json

    weights = {(w["layer"], w["name"]): w["shape"] for w in json.loads(r.stdout)["weights"]}
    mix = "mix" if which == "keras" else "scale"  # tf_keras's weights file names a layer by its class only
    assert weights[(mix, "vars/3")] == [2, 3, 4] and weights[(mix, "vars/0")] == [6, 5]
    assert json.loads(r.stdout)["params"] == saved[2, "fun"].model.count_params()


def test_broken_weight_files_are_one_line_refusals(saved, cli, tmp_path):
    import zipfile

    import h5py
    import numpy as np

    ghost = tmp_path / "ghost.h5"
    with h5py.File(ghost, "w") as fh:
        fh.attrs["layer_names"] = np.array([b"ghost"])
    missing = tmp_path / "missing.h5"
    with h5py.File(missing, "w") as fh:
        fh.attrs["layer_names"] = np.array([b"d"])
        fh.create_group("d").attrs["weight_names"] = np.array([b"d/kernel:0"])
    no_weights = tmp_path / "no_weights.keras"
    with zipfile.ZipFile(saved[3, "seq"].files["keras"]) as archive, zipfile.ZipFile(no_weights, "w") as out:
        for name in archive.namelist():
            if name != "model.weights.h5":
                out.writestr(name, archive.read(name))
    for path, message in ((ghost, "lists the layer 'ghost', which the file does not hold"),
                          (missing, "layer 'd': lists the weight 'd/kernel:0', which the file does not hold"),
                          (no_weights, "has no model.weights.h5, which holds its weights")):
        r = cli("params", str(path))
        assert (r.exit_code, r.stderr) == (2, f"{path}: {message}\n")


@pytest.fixture(scope="session")
def shared(tmp_path_factory) -> dict[int, Saved]:
    """A frozen custom layer called on two inputs (shared), a weightless one called on a Concatenate."""
    import keras
    import tf_keras

    root = tmp_path_factory.mktemp("keras_shared")
    out = {}
    for version, K in ((3, keras), (2, tf_keras)):
        @K.saving.register_keras_serializable(package=f"lstmcount_shared{version}")
        class Gain(K.layers.Layer):
            def build(self, input_shape: Any) -> None:
                self.g = self.add_weight(shape=(input_shape[-1],), name="g")

            def call(self, x: Any) -> Any:
                return x * self.g

        @K.saving.register_keras_serializable(package=f"lstmcount_shared{version}")
        class Pair(K.layers.Layer):  # called on two tensors, as the OCR example's CTC layer is
            def call(self, a: Any, b: Any) -> Any:
                return a + b

        L = K.layers
        a, b = K.Input((5, 4), name="a"), K.Input((5, 4), name="b")
        gain = Gain(name="gain", trainable=False)
        y = Pair(name="pair")(L.Concatenate(name="cat")([gain(a), gain(b)]), L.Dense(8, name="d")(a))
        out[version] = _save(K.Model([a, b], L.LSTM(3, name="lstm")(y)), root, f"shared{version}", version)
    return out


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("version", [3, 2])
def test_shared_frozen_and_two_input_custom_layers(shared, version, ext):
    s = shared[version]
    rep = analyze(s.files[ext])
    assert (rep.total, rep.trainable) == (s.model.count_params(), s.model.count_params() - 4)  # gain is frozen
    by_name = {lay.name: lay for lay in rep.layers}
    assert by_name["gain"].inbound == (("a[0][0]",), ("b[0][0]",))  # one layer, called twice
    assert by_name["pair"].inbound == (("cat[0][0]", "d[0][0]"),)
    assert {name: by_name[name].params for name in ("gain", "pair", "lstm")} == {
        name: s.model.get_layer(name).count_params() for name in ("gain", "pair", "lstm")}
    if ext == "keras":  # the shapes the layers after them were built on
        assert by_name["pair"].output_shape == (5, 8) and by_name["lstm"].stored is None
    else:  # an .h5 stores no build shapes: what follows the first custom layer counts from stored weights
        assert by_name["lstm"].stored == "model_weights"


def test_weights_stored_for_another_layer_are_refused(saved, cli, tmp_path):
    """Keras 3 writes each layer's name beside its variables: a group holding another layer's is refused."""
    import zipfile

    import h5py

    src = saved[3, "seq"].files["keras"]
    member, moved = tmp_path / "model.weights.h5", tmp_path / "moved.keras"
    with zipfile.ZipFile(src) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    member.write_bytes(members["model.weights.h5"])
    with h5py.File(member, "r+") as fh:
        fh["layers/scale/vars"].attrs["name"] = "elsewhere"
    members["model.weights.h5"] = member.read_bytes()
    with zipfile.ZipFile(moved, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    r = cli("params", str(moved))
    assert (r.exit_code, r.stderr) == (2, f"{moved}: layer 2 'scale' (Scale): model.weights.h5 holds layers/scale for "
                                          "the layer 'elsewhere', not for this one: its weights are not where Keras "
                                          "puts them\n")
