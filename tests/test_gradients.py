"""Finite differences in float64 for every layer's input and weight gradients (oracle 1).

Shapes have height != width and kernel height != kernel width; the upstream gradient is random.
"""

import itertools

import numpy as np
import pytest

from tichchap import layers, Input, Model
from tichchap.utils import gradient_check
from conftest import spaced_values

TOL = 1e-6


def assert_gradients(layer, x, training=True):
    errors = gradient_check(layer, x, training=training)
    assert errors, "no gradients were checked"
    worst = max(errors, key=errors.get)
    assert errors[worst] < TOL, f"{worst}: relative error {errors[worst]:.2e} ({errors})"
    return errors


CONV_CASES = list(itertools.product([(1, 1), (2, 3), (3, 2), (3, 3)], [1, 2, 3], ["valid", "same"], [(7, 6), (8, 5)]))


@pytest.mark.parametrize("kernel,stride,padding,hw", CONV_CASES)
def test_conv2d(kernel, stride, padding, hw):
    rng = np.random.default_rng(hash((kernel, stride, padding, hw)) % 2**32)
    layer = layers.Conv2D(3, kernel, strides=stride, padding=padding, activation="tanh")
    errors = assert_gradients(layer, rng.normal(size=(2,) + hw + (2,)))
    assert set(errors) == {"input", "kernel", "bias"}


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_by_winograd(monkeypatch, kernel, padding):
    import tichchap.ops.conv as conv_module

    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_C_IN", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_C_OUT", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_OUTPUTS", {3: 1, 5: 1})
    rng = np.random.default_rng(kernel)
    layer = layers.Conv2D(3, kernel, padding=padding, activation="tanh")
    errors = assert_gradients(layer, rng.normal(size=(2, 11, 9, 2)))
    assert set(errors) == {"input", "kernel", "bias"} and "winograd_tiles" in layer._cache


@pytest.mark.parametrize("stride,padding", [(1, "valid"), (2, "same"), (3, "same"), ((2, 1), "valid")])
def test_conv2d_without_bias_and_with_relu(stride, padding):
    rng = np.random.default_rng(1)
    layer = layers.Conv2D(4, (3, 2), strides=stride, padding=padding, use_bias=False, activation="relu")
    layer(np.zeros((1, 9, 7, 3)))
    # Keep pre-activations away from ReLU's kink: scale inputs so no output sits near zero.
    x = rng.normal(size=(2, 9, 7, 3))
    errors = gradient_check(layer, x)
    assert set(errors) == {"input", "kernel"}
    assert max(errors.values()) < TOL


@pytest.mark.parametrize("kernel,stride,padding,multiplier", [
    ((3, 2), 1, "valid", 1), ((2, 3), 2, "same", 2), ((3, 3), 3, "same", 1), ((1, 2), 2, "valid", 3)])
def test_depthwise_conv2d(kernel, stride, padding, multiplier):
    rng = np.random.default_rng(2)
    layer = layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, depth_multiplier=multiplier, activation="sigmoid")
    assert_gradients(layer, rng.normal(size=(2, 7, 6, 3)))


@pytest.mark.parametrize("kernel,stride,padding,multiplier,use_bias", [
    ((3, 2), 1, "same", 1, True), ((2, 3), 2, "same", 2, False), ((3, 3), 2, "valid", 1, True)])
def test_separable_conv2d(kernel, stride, padding, multiplier, use_bias):
    rng = np.random.default_rng(3)
    layer = layers.SeparableConv2D(4, kernel, strides=stride, padding=padding, depth_multiplier=multiplier,
                                   use_bias=use_bias, activation="tanh")
    errors = assert_gradients(layer, rng.normal(size=(2, 7, 6, 3)))
    assert {"depthwise_kernel", "pointwise_kernel"} <= set(errors)


POOL_CASES = list(itertools.product(["max", "avg"], [(2, 2), (3, 2), (2, 3)], [None, 1, 2, 3], ["valid", "same"]))


@pytest.mark.parametrize("mode,pool,stride,padding", POOL_CASES)
def test_pooling(mode, pool, stride, padding):
    rng = np.random.default_rng(4)
    cls = layers.MaxPooling2D if mode == "max" else layers.AveragePooling2D
    layer = cls(pool, strides=stride, padding=padding)
    assert_gradients(layer, spaced_values(rng, (2, 7, 6, 3)))


@pytest.mark.parametrize("cls", [layers.GlobalMaxPooling2D, layers.GlobalAveragePooling2D])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(cls, keepdims):
    assert_gradients(cls(keepdims=keepdims), spaced_values(np.random.default_rng(5), (2, 5, 4, 3)))


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax"])
def test_dense(activation):
    rng = np.random.default_rng(6)
    layer = layers.Dense(5, activation=activation)
    layer(np.zeros((1, 7)))
    assert_gradients(layer, rng.normal(size=(4, 7)))


def test_dense_on_rank3_input_acts_on_last_axis():
    assert_gradients(layers.Dense(3, activation="tanh"), np.random.default_rng(7).normal(size=(2, 4, 5)))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_activation_layer(name):
    assert_gradients(layers.Activation(name), spaced_values(np.random.default_rng(8), (3, 4, 5)))


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 0.5}, {"negative_slope": 0.1}, {"threshold": 0.2, "negative_slope": 0.3}])
def test_relu_layer(kwargs):
    x = spaced_values(np.random.default_rng(9), (2, 3, 4, 2), spacing=0.037)
    assert_gradients(layers.ReLU(**kwargs), x)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4, 3)])
def test_batch_normalization(training, shape):
    rng = np.random.default_rng(10)
    layer = layers.BatchNormalization()
    layer(np.zeros((1,) + shape[1:]))
    layer.gamma[...] = rng.uniform(0.5, 1.5, layer.gamma.shape)
    layer.beta[...] = rng.normal(size=layer.beta.shape)
    layer.moving_mean[...] = rng.normal(size=layer.beta.shape)
    layer.moving_variance[...] = rng.uniform(0.5, 2, layer.beta.shape)
    errors = assert_gradients(layer, rng.normal(size=shape) * 2 + 1, training=training)
    assert set(errors) == {"input", "gamma", "beta"}


def test_batch_normalization_without_scale_and_center():
    layer = layers.BatchNormalization(center=False, scale=False)
    errors = assert_gradients(layer, np.random.default_rng(11).normal(size=(5, 4)))
    assert set(errors) == {"input"}


def test_dropout_in_training_uses_one_mask():
    layer = layers.Dropout(0.4, seed=3)
    assert_gradients(layer, np.random.default_rng(12).normal(size=(4, 6)), training=True)


@pytest.mark.parametrize("layer", [
    layers.Flatten(), layers.Reshape((3, -1)), layers.ZeroPadding2D(((1, 2), (0, 3))), layers.ZeroPadding2D(2)])
def test_shape_layers(layer):
    assert_gradients(layer, np.random.default_rng(13).normal(size=(2, 3, 4, 2)))


def test_add_and_concatenate():
    rng = np.random.default_rng(14)
    xs = [rng.normal(size=(2, 3, 4, 2)) for _ in range(3)]
    errors = gradient_check(layers.Add(), xs)
    assert set(errors) == {"input_0", "input_1", "input_2"} and max(errors.values()) < TOL
    errors = gradient_check(layers.Concatenate(), [xs[0], rng.normal(size=(2, 3, 4, 5))])
    assert max(errors.values()) < TOL
    errors = gradient_check(layers.Concatenate(axis=1), [xs[0], rng.normal(size=(2, 2, 4, 2))])
    assert max(errors.values()) < TOL


def test_residual_model_adds_gradients_of_a_tensor_that_feeds_two_layers():
    inp = Input((6, 5, 3))
    trunk = layers.Conv2D(4, (3, 2), padding="same", activation="tanh")(inp)
    branch = layers.Conv2D(4, (1, 1))(trunk)
    branch = layers.BatchNormalization()(branch)
    merged = layers.Add()([trunk, branch])
    out = layers.Dense(3, activation="softmax")(layers.Flatten()(layers.AveragePooling2D((2, 2), padding="same")(merged)))
    model = Model(inp, out)
    errors = gradient_check(model, np.random.default_rng(15).normal(size=(3, 6, 5, 3)))
    assert len(errors) == 1 + 2 + 2 + 2 + 2  # input; kernel and bias of conv2d, conv2d_1; bn gamma, beta; dense
    assert max(errors.values()) < TOL, errors


def test_gradient_check_catches_a_wrong_backward():
    """The oracle itself: a backward that returns zeros must fail."""
    layer = layers.BatchNormalization()
    layer(np.zeros((1, 4)))

    def backward_returning_zeros(dy):
        layer.grads = {"gamma": np.sum(dy * layer._x_hat, axis=0), "beta": np.sum(dy, axis=0)}
        return np.zeros_like(dy)

    layer.backward = backward_returning_zeros
    errors = gradient_check(layer, np.random.default_rng(16).normal(size=(5, 4)))
    assert errors["input"] > 0.5


def test_gradient_check_restores_weights_and_dtype():
    layer = layers.Conv2D(2, 3)
    layer(np.zeros((1, 5, 5, 1), dtype=np.float32))
    before = layer.get_weights()
    gradient_check(layer, np.random.default_rng(17).normal(size=(1, 5, 5, 1)))
    assert layer.kernel.dtype == np.float32
    for a, b in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(a, b)
