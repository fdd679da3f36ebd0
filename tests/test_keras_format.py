"""Keras files in and out without TensorFlow, checked against what real Keras computed.

The fixtures in tests/fixtures/keras/ were made by real Keras 3.15 / tf-keras 2.21
(tests/fixtures/make_keras_fixtures.py; versions in manifest.json): each holds a briefly trained
model as .keras and/or .h5 and an .npz with an input batch and Keras' output at every layer.
These tests need only h5py; the ones that load our files back into Keras skip where Keras is
not installed (the fixture script ran that check once and recorded it in the manifest).

Tolerance: |ours - Keras| <= 1e-5 + 1e-5 * |Keras|. The relative part matters only for large
activations: food_net's dense layer reaches 648, where one float32 step is 6.1e-5, and summing
12,544 products in another order moves the result by a few such steps.
"""

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

import tichchap
from tichchap import layers as L
from tichchap.errors import ConfigError, FileFormatError, ShapeError
from tichchap.saving import keras_format as kf
from tichchap.verify import (KerasUnavailableError, compare_arrays, compare_outputs, compare_with_keras,
                             ulp_difference)

h5py = pytest.importorskip("h5py")

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras")
with open(os.path.join(FIXTURES, "manifest.json")) as _f:
    MANIFEST = json.load(_f)
ATOL = RTOL = 1e-5

MODEL_FILES = [(name, fmt) for name, spec in sorted(MANIFEST["fixtures"].items())
               for fmt in ("keras", "h5") if fmt in spec["files"]]


def fixture_path(filename):
    return os.path.join(FIXTURES, filename)


def load_fixture(name, fmt):
    spec = MANIFEST["fixtures"][name]
    model = kf.load_keras_model(fixture_path(spec["files"][fmt]))
    reference = np.load(fixture_path(spec["files"]["npz"]))
    return spec, model, reference


# ---------------------------------------------------------------------------------------------
# Every fixture loads and computes what Keras computed, layer by layer
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fmt", MODEL_FILES, ids=[f"{n}.{f}" for n, f in MODEL_FILES])
def test_fixture_matches_keras_per_layer(name, fmt):
    spec, model, reference = load_fixture(name, fmt)
    result = compare_outputs(model, reference, reference["__input__"], atol=ATOL, rtol=RTOL,
                             reference_name=f"Keras ({name}.{fmt})")
    assert result.passed, str(result)
    # Every layer Keras recorded was compared, and each output has Keras' shape.
    compared = [layer.name for layer in result.layers]
    assert sorted(compared) == sorted(spec["layer_names"])
    for record in spec["layers"]:
        if record["output_shape"] is not None:
            assert list(result[record["name"]].shape) == record["output_shape"]


@pytest.mark.parametrize("name,fmt", MODEL_FILES, ids=[f"{n}.{f}" for n, f in MODEL_FILES])
def test_fixture_names_classes_and_parameter_counts_match_keras(name, fmt):
    spec, model, _ = load_fixture(name, fmt)
    ours = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    assert [layer.name for layer in ours] == spec["layer_names"]
    assert [type(layer).__name__ for layer in ours] == [r["class_name"] for r in spec["layers"]]
    assert model.count_params() == spec["count_params"]
    assert sum(w.size for w in model.trainable_weights) == spec["trainable_params"]
    assert sum(w.size for w in model.non_trainable_weights) == spec["non_trainable_params"]
    for layer, record in zip(ours, spec["layers"]):
        assert [list(w.shape) for w in layer.weights] == record["weight_shapes"], layer.name
        assert layer.count_params() == record["params"], layer.name


def test_reference_models_have_keras_parameter_counts():
    fixtures = MANIFEST["fixtures"]
    assert fixtures["mlp"]["count_params"] == 101_770
    assert (fixtures["small_cnn"]["count_params"], fixtures["small_cnn"]["trainable_params"]) == (6_526, 6_482)
    assert fixtures["food_net"]["count_params"] == 408_122
    assert fixtures["lenet"]["count_params"] == 1_087_106
    model = kf.load_keras_model(fixture_path("small_cnn.h5"))
    assert model.count_params() == 6_526


def test_configs_come_through_with_keras_options():
    model = kf.load_keras_model(fixture_path("conv_same_s2_even.keras"))
    conv = model.get_layer("conv2d")
    config = conv.get_config()
    assert (config["filters"], tuple(config["kernel_size"]), tuple(config["strides"]), config["padding"]) == \
        (3, (4, 3), (2, 2), "same")
    bn = kf.load_keras_model(fixture_path("batchnorm.h5")).get_layer("batch_normalization")
    assert bn.momentum == pytest.approx(0.8) and bn.epsilon == pytest.approx(1e-3)
    # Trained moving statistics, not their 0 / 1 start.
    assert np.abs(bn.moving_mean).max() > 0.1 and np.abs(bn.moving_variance - 1).max() > 0.1
    bn2 = kf.load_keras_model(fixture_path("batchnorm.keras")).get_layer("batch_normalization_1")
    assert len(bn2.weights) == 2 and bn2.epsilon == pytest.approx(0.01)  # center=False, scale=False


def test_sequential_configs_without_input_layer(tmp_path):
    reference = np.load(fixture_path("mlp.npz"))

    def drop_input(config):  # a Keras 3 Sequential built by fit(), not by Input()
        config["config"]["layers"] = config["config"]["layers"][1:]
        assert config["config"]["build_input_shape"] == [None, 784]

    path = rewrite_archive(fixture_path("mlp.keras"), tmp_path / "built_late.keras", drop_input)
    model = kf.load_keras_model(path)
    assert compare_outputs(model, reference, reference["__input__"], atol=ATOL, rtol=RTOL).passed

    # Keras 1/2 style: the first layer carries batch_input_shape.
    path = tmp_path / "old_style.h5"
    shutil.copy(fixture_path("mlp.h5"), path)
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"] = config["config"]["layers"][1:]
        config["config"].pop("build_input_shape", None)
        config["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 784]
        h5.attrs["model_config"] = json.dumps(config)
    model = kf.load_keras_model(path)
    assert compare_outputs(model, reference, reference["__input__"], atol=ATOL, rtol=RTOL).passed


def test_files_with_optimizer_state_load_only_the_model():
    assert MANIFEST["fixtures"]["residual"]["includes_optimizer_state"]
    with zipfile.ZipFile(fixture_path("residual.keras")) as archive:
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
            assert "optimizer" in h5
    model = kf.load_keras_model(fixture_path("residual.keras"))
    assert model.count_params() == MANIFEST["fixtures"]["residual"]["count_params"]


# ---------------------------------------------------------------------------------------------
# Weights files
# ---------------------------------------------------------------------------------------------

def residual_in_tichchap(prefix=""):
    """The residual fixture's architecture built by hand, with names of our own."""
    inp = tichchap.Input((8, 7, 3))
    stem = L.Conv2D(6, 3, padding="same", activation="relu", name=prefix + "stem")(inp)
    x = L.Conv2D(6, 3, padding="same", use_bias=False, name=prefix + "c1")(stem)
    x = L.BatchNormalization(name=prefix + "bn")(x)
    x = L.Activation("relu", name=prefix + "act")(x)
    x = L.SeparableConv2D(6, 3, padding="same", name=prefix + "sep")(x)
    added = L.Add(name=prefix + "add")([stem, x])
    side = L.DepthwiseConv2D(3, padding="same", name=prefix + "dw")(stem)
    merged = L.Concatenate(name=prefix + "cat")([added, side])
    pooled = L.MaxPooling2D(padding="same", name=prefix + "pool")(merged)
    vec = L.GlobalAveragePooling2D(name=prefix + "gap")(pooled)
    out = L.Dense(4, activation="softmax", name=prefix + "out")(vec)
    return tichchap.Model(inp, out)


def test_load_keras3_weights_file_matches_by_structure_not_names():
    model = residual_in_tichchap("mine_")
    kf.load_weights(model, fixture_path("residual.weights.h5"))
    reference = np.load(fixture_path("residual.npz"))
    np.testing.assert_allclose(model.predict(reference["__input__"]), reference["dense"], atol=ATOL, rtol=RTOL)


def test_load_weights_from_keras_archive_and_legacy_whole_model_file():
    reference = np.load(fixture_path("residual.npz"))
    for filename in ("residual.keras", "residual.h5"):
        tichchap.utils.clear_session()
        model = residual_in_tichchap("x_")
        kf.load_weights(model, fixture_path(filename))
        np.testing.assert_allclose(model.predict(reference["__input__"]), reference["dense"], atol=ATOL, rtol=RTOL)


def test_load_legacy_keras2_weights_only_file():
    source = kf.load_keras_model(fixture_path("k2_sequential_cnn.h5"))
    tichchap.utils.clear_session()
    twin = tichchap.Sequential.from_config(source.get_config())
    for w in twin.weights:
        w[...] = 0
    kf.load_weights(twin, fixture_path("k2_sequential_cnn.legacy_weights.h5"))
    for a, b in zip(source.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_save_weights_then_load_weights_round_trip(tmp_path, suffix):
    model = kf.load_keras_model(fixture_path("residual.keras"))
    path = tmp_path / ("w" + suffix)
    kf.save_weights(model, path)
    tichchap.utils.clear_session()
    other = residual_in_tichchap("other_")
    kf.load_weights(other, path)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_refuses_unknown_suffix(tmp_path):
    model = kf.load_keras_model(fixture_path("mlp.h5"))
    with pytest.raises(ConfigError, match=r"\.weights\.h5"):
        kf.save_weights(model, tmp_path / "w.bin")


# ---------------------------------------------------------------------------------------------
# Writing .keras archives
# ---------------------------------------------------------------------------------------------

def trained_tichchap_model():
    tichchap.utils.set_random_seed(5)
    inp = tichchap.Input((9, 8, 2))
    a = L.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu")(inp)
    b = L.BatchNormalization()(a)
    b = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(b)
    b = L.SeparableConv2D(4, 1, activation="tanh")(b)
    s = L.Add()([a, b])
    c = L.Concatenate()([s, L.ZeroPadding2D(((0, 0), (0, 0)))(a)])
    g = L.GlobalAveragePooling2D()(L.AveragePooling2D(padding="same")(c))
    out = L.Dense(3, activation="softmax")(L.Dropout(0.2)(g))
    model = tichchap.Model(inp, out)
    rng = np.random.default_rng(0)
    x = rng.random((24, 9, 8, 2), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)]
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    return model, x


def test_saved_keras_archive_has_keras_layout(tmp_path):
    model, _ = trained_tichchap_model()
    path = tmp_path / "m.keras"
    kf.save_keras_model(model, path)
    with zipfile.ZipFile(path) as archive:
        assert set(archive.namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
        weights = archive.read("model.weights.h5")
    assert metadata["keras_version"].startswith("3.")
    assert config["class_name"] == "Functional" and set(config) >= {"module", "config", "build_config"}
    entries = config["config"]["layers"]
    assert entries[0]["class_name"] == "InputLayer" and entries[0]["config"]["batch_shape"] == [None, 9, 8, 2]
    conv = next(e for e in entries if e["class_name"] == "Conv2D")
    assert conv["module"] == "keras.layers"
    assert conv["config"]["padding"] == "same" and conv["config"]["strides"] == [2, 2]
    assert conv["config"]["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert conv["build_config"] == {"input_shape": [None, 9, 8, 2]}
    history = conv["inbound_nodes"][0]["args"][0]["config"]["keras_history"]
    assert history == [entries[0]["name"], 0, 0]
    with h5py.File(io.BytesIO(weights), "r") as h5:
        assert h5["layers/conv2d/vars"].attrs["name"] == "conv2d"
        np.testing.assert_array_equal(h5["layers/conv2d/vars/0"][()], model.get_layer("conv2d").kernel)
        assert [k for k in h5["layers/batch_normalization/vars"]] == ["0", "1", "2", "3"]


def test_saved_keras_archive_loads_back_identically(tmp_path):
    model, x = trained_tichchap_model()
    path = tmp_path / "m.keras"
    kf.save_keras_model(model, path)
    tichchap.utils.clear_session()
    loaded = kf.load_keras_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_saved_legacy_h5_loads_back_identically(tmp_path):
    model, x = trained_tichchap_model()
    path = tmp_path / "m.h5"
    kf.save_legacy_h5_model(model, path)
    with h5py.File(path, "r") as h5:
        config = json.loads(h5.attrs["model_config"])
        assert config["class_name"] == "Functional" and "model_weights" in h5
        assert "module" not in config["config"]["layers"][1]
    tichchap.utils.clear_session()
    loaded = kf.load_keras_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("name", ["small_cnn", "residual", "two_outputs", "k2_sequential_cnn"])
def test_fixture_resaved_by_tichchap_still_matches_keras(tmp_path, name):
    spec = MANIFEST["fixtures"][name]
    fmt = "keras" if "keras" in spec["files"] else "h5"
    model = kf.load_keras_model(fixture_path(spec["files"][fmt]))
    kf.save_keras_model(model, tmp_path / "again.keras")
    tichchap.utils.clear_session()
    again = kf.load_keras_model(tmp_path / "again.keras")
    reference = np.load(fixture_path(spec["files"]["npz"]))
    assert compare_outputs(again, reference, reference["__input__"], atol=ATOL, rtol=RTOL).passed


def test_failed_save_leaves_previous_file_untouched(tmp_path, monkeypatch):
    model, _ = trained_tichchap_model()
    path = tmp_path / "m.keras"
    kf.save_keras_model(model, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(kf, "_write_keras3_weights", broken)
    with pytest.raises(RuntimeError):
        kf.save_keras_model(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


# ---------------------------------------------------------------------------------------------
# What tichchap does not have: refused by name, nothing loaded
# ---------------------------------------------------------------------------------------------

def rewrite_archive(source, target, edit_config=None, weights=None, drop=()):
    """Copy a .keras archive, changing its config (a function on the dict) or weights bytes."""
    with zipfile.ZipFile(source) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    if edit_config is not None:
        config = json.loads(members["config.json"])
        edit_config(config)
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(target, "w") as archive:
        for n, data in members.items():
            if n not in drop:
                archive.writestr(n, data)
    return target


def layer_entry(config, name):
    return next(e for e in config["config"]["layers"] if e["config"].get("name") == name)


@pytest.mark.parametrize("filename", ["unsupported_dilation.keras", "unsupported_dilation.h5"])
def test_dilation_is_refused_naming_layer_class_and_option(filename):
    with pytest.raises(kf.UnsupportedKerasFeatureError) as info:
        kf.load_keras_model(fixture_path(filename))
    message = str(info.value)
    assert "dilated_conv" in message and "Conv2D" in message and "dilation_rate" in message
    assert filename in message
    assert (info.value.layer_name, info.value.class_name, info.value.option) == ("dilated_conv", "Conv2D", "dilation_rate")
    assert isinstance(info.value, ConfigError)


def test_custom_layer_is_refused_naming_it():
    with pytest.raises(ConfigError) as info:
        kf.load_keras_model(fixture_path("unsupported_custom_layer.keras"))
    assert "times_two" in str(info.value) and "TimesTwo" in str(info.value)
    assert info.value.class_name == "TimesTwo" and info.value.option is None


@pytest.mark.parametrize("layer,option,value", [
    ("conv2d", "groups", 2),
    ("conv2d", "data_format", "channels_first"),
    ("conv2d", "activation", "gelu_of_my_own"),
    ("batch_normalization", "axis", 1),
])
def test_unsupported_options_are_refused(tmp_path, layer, option, value):
    fixture = {"conv2d": "conv_same_s1", "batch_normalization": "batchnorm"}[layer]

    def edit(config):
        layer_entry(config, layer)["config"][option] = value

    path = rewrite_archive(fixture_path(f"{fixture}.keras"), tmp_path / "bad.keras", edit)
    try:
        kf.load_keras_model(path)
    except ConfigError as exc:
        assert layer in str(exc) and option in str(exc), str(exc)
    else:  # the engine computes this option: then it must agree with what Keras means by it
        pytest.skip(f"the engine supports {option}={value!r}")


def test_relu_options_are_kept(tmp_path):
    def edit(config):
        layer_entry(config, "re_lu")["config"].update(max_value=0.3, negative_slope=0.1, threshold=0.05)

    path = rewrite_archive(fixture_path("relu_and_activation_layers.keras"), tmp_path / "relu.keras", edit)
    model = kf.load_keras_model(path)
    reference = np.load(fixture_path("relu_and_activation_layers.npz"))
    x = reference["dense"]  # what feeds the ReLU layer
    keras_relu = np.where(x >= 0.3, 0.3, np.where(x >= 0.05, x, 0.1 * (x - 0.05)))
    ours = compare_outputs(model, {"re_lu": keras_relu}, reference["__input__"])
    assert ours.passed, str(ours)


def test_unknown_layer_class_and_nested_model_are_refused(tmp_path):
    def rename(config):
        layer_entry(config, "dense")["class_name"] = "EinsumDense"

    path = rewrite_archive(fixture_path("dense_nobias.keras"), tmp_path / "a.keras", rename)
    with pytest.raises(ConfigError, match="EinsumDense"):
        kf.load_keras_model(path)

    def nest(config):
        config["config"]["layers"].append({"module": "keras", "class_name": "Sequential",
                                          "config": {"name": "inner", "layers": []}})

    path = rewrite_archive(fixture_path("dense_nobias.keras"), tmp_path / "b.keras", nest)
    with pytest.raises(ConfigError, match="nested model"):
        kf.load_keras_model(path)


def test_regularizers_are_ignored_with_a_warning(tmp_path):
    def edit(config):
        layer_entry(config, "conv2d")["config"]["kernel_regularizer"] = {
            "module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}

    path = rewrite_archive(fixture_path("conv_same_s1.keras"), tmp_path / "r.keras", edit)
    with pytest.warns(UserWarning, match="kernel_regularizer"):
        model = kf.load_keras_model(path)
    reference = np.load(fixture_path("conv_same_s1.npz"))
    assert compare_outputs(model, reference, reference["__input__"], atol=ATOL, rtol=RTOL).passed


# ---------------------------------------------------------------------------------------------
# Broken files: clear errors naming the file
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("filename", ["lenet.keras", "mlp.h5", "small_cnn.keras", "small_cnn.h5"])
@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.97])
def test_truncated_files_raise_file_format_error(tmp_path, filename, fraction):
    data = open(fixture_path(filename), "rb").read()
    path = tmp_path / filename
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(FileFormatError) as info:
        kf.load_keras_model(path)
    assert str(path) in str(info.value)


def test_corrupt_bytes_inside_the_archive_raise_file_format_error(tmp_path):
    data = bytearray(open(fixture_path("small_cnn.keras"), "rb").read())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)
    path = tmp_path / "corrupt.keras"
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="corrupt.keras"):
        kf.load_keras_model(path)


@pytest.mark.parametrize("content,what", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a Keras file"),
    (b"hello, this is text\n" * 10, "not a Keras file"),
])
def test_wrong_file_types_raise_file_format_error(tmp_path, content, what):
    path = tmp_path / "model.keras"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=what) as info:
        kf.load_keras_model(path)
    assert "model.keras" in str(info.value)


def test_broken_archive_members_raise_file_format_error(tmp_path):
    source = fixture_path("small_cnn.keras")
    cases = {
        "no_config.keras": dict(drop=("config.json",)),
        "no_weights.keras": dict(drop=("model.weights.h5",)),
        "garbage_weights.keras": dict(weights=b"\x89HDF\r\n\x1a\n" + bytes(500)),
        "text_weights.keras": dict(weights=b"not hdf5"),
    }
    for filename, change in cases.items():
        path = rewrite_archive(source, tmp_path / filename, **change)
        with pytest.raises(FileFormatError, match=filename):
            kf.load_keras_model(path)
    with zipfile.ZipFile(tmp_path / "bad_json.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("model.weights.h5", b"")
    with pytest.raises(FileFormatError, match="bad_json.keras"):
        kf.load_keras_model(tmp_path / "bad_json.keras")


def test_weights_only_file_given_to_load_model_says_what_to_use():
    with pytest.raises(FileFormatError, match="load_weights"):
        kf.load_keras_model(fixture_path("k2_sequential_cnn.legacy_weights.h5"))


def test_missing_file_is_reported():
    with pytest.raises(FileNotFoundError, match="no_such_model.keras"):
        kf.load_keras_model(fixture_path("no_such_model.keras"))


def test_weights_that_do_not_fit_raise_shape_error_naming_layer_and_shapes(tmp_path):
    # conv_same_s1's architecture with conv_valid_s1's weights: same layer keys, other shapes.
    with zipfile.ZipFile(fixture_path("conv_valid_s1.keras")) as archive:
        other_weights = archive.read("model.weights.h5")
    path = rewrite_archive(fixture_path("conv_same_s1.keras"), tmp_path / "mixed.keras", weights=other_weights)
    with pytest.raises(ShapeError) as info:
        kf.load_keras_model(path)
    message = str(info.value)
    assert "conv2d" in message and "(3, 5, 2, 3)" in message and "(3, 2, 3, 4)" in message


def test_load_weights_mismatch_changes_nothing(tmp_path):
    model = kf.load_keras_model(fixture_path("residual.keras"))
    before = model.get_weights()
    # small_cnn's weights into the residual model: structure and shapes differ.
    with pytest.raises(ShapeError):
        kf.load_weights(model, fixture_path("small_cnn.keras"))
    with pytest.raises(ShapeError, match="layers"):
        kf.load_weights(model, fixture_path("small_cnn.h5"))
    # Same structure, one array of another shape (the last layer): nothing may change.
    tichchap.utils.clear_session()
    wider = residual_in_tichchap()
    wider_out = tichchap.Model(wider.inputs, L.Dense(5, name="wider")(wider.get_layer("gap").output))
    kf.save_weights(wider_out, tmp_path / "wider.weights.h5")
    with pytest.raises(ShapeError, match=r"\(12, 4\).*\(12, 5\)"):
        kf.load_weights(model, tmp_path / "wider.weights.h5")
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# tichchap.verify
# ---------------------------------------------------------------------------------------------

def test_ulp_difference_counts_representable_floats():
    one = np.float32(1.0)
    assert ulp_difference(one, np.nextafter(one, np.float32(2))) == 1
    assert ulp_difference(np.float32(0.0), np.float32(-0.0)) == 0
    tiny = np.nextafter(np.float32(0), np.float32(1))
    assert ulp_difference(-tiny, tiny) == 2
    assert ulp_difference(np.float32(1.0), np.float32(1.0) + 4 * np.finfo(np.float32).eps) == 4
    assert ulp_difference(np.float64(1.0), np.nextafter(1.0, 2.0)) == 1


def test_compare_outputs_names_the_first_failing_position():
    spec, model, reference = load_fixture("residual", "keras")
    model.get_layer("separable_conv2d").bias[2] += 1e-3
    result = compare_outputs(model, reference, reference["__input__"])
    assert not result.passed
    assert [layer.name for layer in result.layers if not layer.passed][0] == "separable_conv2d"
    failing = result.first_failing_layer
    assert failing.first_failure[0][-1] == 2  # the channel whose bias moved
    assert failing.max_abs_difference == pytest.approx(1e-3, rel=1e-2)
    assert result["conv2d"].passed and "separable_conv2d" in result.first_failure
    assert "FAIL" in str(result)


def test_compare_arrays_shapes_must_agree():
    with pytest.raises(ShapeError):
        compare_arrays("x", "Dense", np.zeros((2, 3)), np.zeros((2, 4)))
    nan = compare_arrays("x", "Dense", np.array([[np.nan]], np.float32), np.array([[0.0]], np.float32))
    assert not nan.passed


def test_compare_with_keras_without_keras_says_so(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "keras", None)  # makes "import keras" fail
    with pytest.raises(KerasUnavailableError, match="needs Keras") as info:
        compare_with_keras(fixture_path("mlp.keras"), np.zeros((1, 784), np.float32))
    assert isinstance(info.value, ImportError)


def test_roundtrip_check_recorded_by_fixture_script():
    check = MANIFEST["roundtrip_check"]
    assert check["status"] == "passed", check
    assert all(r["passed"] and r["max_abs_difference"] <= 1e-5 for r in check["models"].values())


# ---------------------------------------------------------------------------------------------
# With real Keras (skipped where it is not installed)
# ---------------------------------------------------------------------------------------------

def test_keras_loads_what_tichchap_trained(tmp_path):
    keras = pytest.importorskip("keras")
    model, x = trained_tichchap_model()
    path = tmp_path / "trained.keras"
    kf.save_keras_model(model, path)
    theirs = keras.saving.load_model(str(path)).predict(x, verbose=0)
    np.testing.assert_allclose(theirs, model.predict(x), atol=1e-6)


def test_keras_loads_tichchap_legacy_h5_and_weights_files(tmp_path):
    keras = pytest.importorskip("keras")
    model, x = trained_tichchap_model()
    kf.save_legacy_h5_model(model, tmp_path / "trained.h5")
    keras_model = keras.saving.load_model(str(tmp_path / "trained.h5"), compile=False)
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), model.predict(x), atol=1e-6)
    # Weights alone, into Keras' copy with its weights zeroed.
    for suffix in (".weights.h5", ".h5"):
        kf.save_weights(model, tmp_path / ("w" + suffix))
        keras_model.set_weights([np.zeros_like(w) for w in keras_model.get_weights()])
        keras_model.load_weights(str(tmp_path / ("w" + suffix)))
        np.testing.assert_allclose(keras_model.predict(x, verbose=0), model.predict(x), atol=1e-6)


@pytest.mark.parametrize("name", ["residual", "small_cnn", "k2_functional_residual"])
def test_compare_with_keras_on_fixtures(name):
    pytest.importorskip("keras")
    spec = MANIFEST["fixtures"][name]
    fmt = "keras" if "keras" in spec["files"] else "h5"
    reference = np.load(fixture_path(spec["files"]["npz"]))
    result = compare_with_keras(fixture_path(spec["files"][fmt]), reference["__input__"])
    assert result.passed, str(result)
