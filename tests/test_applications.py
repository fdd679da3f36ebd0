"""The reference models: Keras' parameter counts, layer names and output shapes.

The expected numbers are Keras' own (Keras 3.15 built the same models for
tests/fixtures/keras/manifest.json; Xception's are keras.applications.Xception's).
"""

import json
import os

import numpy as np
import pytest

import tichchap
from tichchap import applications
from tichchap.errors import ConfigError

MANIFEST = os.path.join(os.path.dirname(__file__), "fixtures", "keras", "manifest.json")


@pytest.fixture(autouse=True)
def fresh_names():
    tichchap.utils.clear_session()
    yield
    tichchap.utils.clear_session()


def counts(model):
    trainable = int(sum(w.size for w in model.trainable_weights))
    non_trainable = int(sum(w.size for w in model.non_trainable_weights))
    return model.count_params(), trainable, non_trainable


@pytest.mark.parametrize("name, total, trainable, output_shape", [
    ("lenet", 1_087_106, 1_087_106, (None, 10)),
    ("small_cnn", 6_526, 6_482, (None, 10)),
    ("mlp", 101_770, 101_770, (None, 10)),
    ("food_net", 408_122, 408_122, (None, 2)),
])
def test_parameter_counts_are_keras(name, total, trainable, output_shape):
    model = applications.get(name)()
    assert counts(model) == (total, trainable, total - trainable)
    assert model.output_shape == output_shape


@pytest.mark.parametrize("name", ["lenet", "small_cnn", "mlp", "food_net"])
def test_layers_match_keras_built_model(name):
    """Layer names, classes, output shapes and per-layer parameter counts as Keras built them."""
    with open(MANIFEST) as f:
        reference = json.load(f)["fixtures"][name]
    model = applications.get(name)()
    assert model.input_shape == (None,) + tuple(reference["input_shape"])
    got = [(layer.name, type(layer).__name__, tuple(layer.output_shape[1:]), layer.count_params(),
            [list(w.shape) for w in layer.weights]) for layer in model.layers]
    expected = [(l["name"], l["class_name"], tuple(l["output_shape"]), l["params"], l["weight_shapes"])
                for l in reference["layers"]]
    assert got == expected


def test_small_cnn_output_shapes_as_issue_states():
    model = applications.small_cnn()
    shapes = [layer.output_shape[1:] for layer in model.layers if type(layer).__name__ in
              ("Conv2D", "MaxPooling2D", "Flatten", "Dense")]
    assert shapes == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,), (10,)]


def test_lenet_initializer_reaches_every_kernel():
    tichchap.utils.set_random_seed(0)
    model = applications.lenet(kernel_initializer="zeros")
    kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
    assert len(kernels) == 4 and all(not k.any() for k in kernels)


def test_simple_binary_cnn():
    model = applications.simple_binary_cnn((28, 28, 1))
    assert [type(l).__name__ for l in model.layers] == [
        "ZeroPadding2D", "Conv2D", "ReLU", "MaxPooling2D", "Flatten", "Dense"]
    assert [l.output_shape for l in model.layers] == [
        (None, 34, 34, 1), (None, 14, 14, 32), (None, 14, 14, 32), (None, 7, 7, 32), (None, 1568), (None, 1)]
    # conv 7*7*1*32 + 32, dense 1568 + 1
    assert counts(model) == (1_600 + 1_569, 3_169, 0)
    out = model.predict(np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32), verbose=0)
    assert out.shape == (3, 1) and np.all((out > 0) & (out < 1))


def test_xception_counts_and_names():
    model = applications.xception()
    assert counts(model) == (22_910_480, 22_855_952, 54_528)
    assert model.input_shape == (None, 299, 299, 3)
    assert model.output_shape == (None, 1000)
    names = [layer.name for layer in model.layers]
    assert names[:12] == ["input_layer", "block1_conv1", "block1_conv1_bn", "block1_conv1_act", "block1_conv2",
                          "block1_conv2_bn", "block1_conv2_act", "conv2d", "batch_normalization",
                          "block2_sepconv1", "block2_sepconv1_bn", "block2_sepconv2_act"]
    assert names[-3:] == ["block14_sepconv2_act", "avg_pool", "predictions"]
    # 3 entry-flow + 8 middle + 1 exit-flow residual additions; 4 projection shortcuts
    assert [n for n in names if n.startswith("add")] == ["add"] + [f"add_{i}" for i in range(1, 12)]
    assert [n for n in names if n.startswith("conv2d")] == ["conv2d", "conv2d_1", "conv2d_2", "conv2d_3"]
    # block 1: 6; blocks 2-4 and 13: 9, 10, 10, 10; middle flow 8 x 10; block 14: 6; top: 2; + input
    assert len(names) == 1 + 6 + 9 + 10 + 10 + 80 + 10 + 6 + 2
    assert model.get_layer("block13_sepconv2").output_shape == (None, 19, 19, 1024)
    assert model.get_layer("block14_sepconv2_act").output_shape == (None, 10, 10, 2048)
    sep = model.get_layer("block5_sepconv1")
    assert [w.shape for w in sep.weights] == [(3, 3, 728, 1), (1, 1, 728, 728)]  # no bias
    shortcut = model.get_layer("conv2d_3")
    assert shortcut.kernel.shape == (1, 1, 728, 1024) and shortcut.strides == (2, 2) and shortcut.padding == "same"
    add = model.get_layer("add")
    assert [l.name for l in model.inbound_layers(add)] == ["block2_pool", "batch_normalization"]


def test_xception_headless_pooling():
    assert applications.xception(include_top=False).output_shape == (None, 10, 10, 2048)
    assert applications.xception(include_top=False, pooling="avg").count_params() == 22_910_480 - 2_049_000
    assert applications.xception((150, 150, 3), include_top=False, pooling="max").output_shape == (None, 2048)


def test_xception_forward_at_smallest_input():
    tichchap.utils.set_random_seed(1)
    model = applications.xception((71, 71, 3), classes=7)
    x = np.random.default_rng(0).random((2, 71, 71, 3), dtype=np.float32)
    out = model.predict(x, verbose=0)
    assert out.shape == (2, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    # Freshly initialised, the softmax is near uniform; the pooled features tell the images apart.
    features = tichchap.Model(model.inputs, model.get_layer("avg_pool").output).predict(x, verbose=0)
    assert features.shape == (2, 2048) and np.all(np.isfinite(features)) and np.all(features >= 0)
    assert np.abs(features[0] - features[1]).max() > 1e-2 * np.abs(features).max()
    # The last feature map at 71x71 is 3x3: the strided shortcuts line up with the pools.
    assert model.get_layer("block14_sepconv2_act").output_shape == (None, 3, 3, 2048)


def test_xception_rejects_small_input():
    with pytest.raises(ConfigError, match="at least 71"):
        applications.xception((70, 71, 3))
    with pytest.raises(ConfigError, match="pooling"):
        applications.xception(include_top=False, pooling="mean")


def test_get_by_name():
    assert applications.get("small-cnn") is applications.small_cnn
    assert applications.get("LeNet") is applications.lenet
    with pytest.raises(ConfigError, match="unknown model name.*lenet"):
        applications.get("resnet50")


def test_models_are_uncompiled_and_train():
    model = applications.small_cnn()
    assert model.optimizer is None
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    loss = model.train_on_batch(x, np.arange(8) % 10)[0]
    assert np.isfinite(loss) and loss > 0
