"""PyTorch (CPU) as the second oracle: forward values and every gradient on the same weights,
to 1e-5 in float32 and 1e-10 in float64. Skipped where torch is not installed."""

import numpy as np
import pytest

from tichchap import layers, losses, optimizers
from tichchap.ops.padding import resolve_padding

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]


def nchw(x):
    return torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)


def nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, **TOLERANCE[dtype])


def run_layer(layer, x, dy):
    y = layer(x, training=True)
    layer._need_input_grad = True
    return y, layer.backward(dy)


def torch_same_pad(t, hw, kernel, strides, padding):
    (top, bottom), (left, right) = resolve_padding(hw, kernel, strides, padding)
    return F.pad(t, (left, right, top, bottom))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,strides,padding", [((3, 2), (1, 1), "valid"), ((3, 3), (2, 2), "same"),
                                                     ((2, 3), (2, 1), "same"), ((5, 4), (3, 2), "same")])
def test_conv2d(dtype, kernel, strides, padding):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 8, 3)).astype(dtype)
    layer = layers.Conv2D(4, kernel, strides=strides, padding=padding, dtype=dtype)
    y = layer(x)
    dy = rng.normal(size=y.shape).astype(dtype)
    y, dx = run_layer(layer, x, dy)
    xt = nchw(x)
    w = torch.tensor(layer.kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b = torch.tensor(layer.bias.copy(), requires_grad=True)
    yt = F.conv2d(torch_same_pad(xt, x.shape[1:3], kernel, strides, padding), w, b, stride=strides)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    close(y, nhwc(yt), dtype)
    close(dx, nhwc(xt.grad), dtype)
    close(layer.grads["kernel"], w.grad.numpy().transpose(2, 3, 1, 0), dtype)
    close(layer.grads["bias"], b.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,padding", [(5, "valid"), (3, "same")])
def test_conv2d_on_the_winograd_path(dtype, kernel, padding):
    # 32 -> 64 channels at stride 1 is where Conv2D takes Winograd's algorithm by default.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 12, 11, 32)).astype(dtype)  # 16 * 12 * 11 outputs: Winograd's for both kernels
    layer = layers.Conv2D(64, kernel, padding=padding, dtype=dtype)
    dy = rng.normal(size=layer.compute_output_shape(x.shape)).astype(dtype)
    y, dx = run_layer(layer, x, dy)
    assert "winograd_tiles" in layer._cache
    xt = nchw(x)
    w = torch.tensor(layer.kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b = torch.tensor(layer.bias.copy(), requires_grad=True)
    yt = F.conv2d(torch_same_pad(xt, x.shape[1:3], (kernel, kernel), (1, 1), padding), w, b)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    pairs = [(y, nhwc(yt)), (dx, nhwc(xt.grad)), (layer.grads["kernel"], w.grad.numpy().transpose(2, 3, 1, 0)),
             (layer.grads["bias"], b.grad.numpy())]
    for actual, expected in pairs:
        if dtype == np.float32:  # Winograd's rounding: up to about 1e-5 of the largest value (ops/winograd.py)
            np.testing.assert_allclose(actual, expected, rtol=0, atol=3e-5 * np.abs(expected).max())
        else:
            close(actual, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("multiplier,strides,padding", [(1, 1, "valid"), (2, 2, "same"), (1, 2, "same")])
def test_depthwise_conv2d(dtype, multiplier, strides, padding):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 8, 7, 3)).astype(dtype)
    layer = layers.DepthwiseConv2D((3, 2), strides=strides, padding=padding, depth_multiplier=multiplier, dtype=dtype)
    dy = rng.normal(size=layer(x).shape).astype(dtype)
    y, dx = run_layer(layer, x, dy)
    xt = nchw(x)
    # Keras' (kh, kw, c_in, m) -> torch's grouped (c_in * m, 1, kh, kw), output channel c * m + k.
    kh, kw, c_in, m = layer.kernel.shape
    w = torch.tensor(layer.kernel.transpose(2, 3, 0, 1).reshape(c_in * m, 1, kh, kw).copy(), requires_grad=True)
    b = torch.tensor(layer.bias.copy(), requires_grad=True)
    s = (strides, strides)
    yt = F.conv2d(torch_same_pad(xt, x.shape[1:3], (3, 2), s, padding), w, b, stride=s, groups=c_in)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    close(y, nhwc(yt), dtype)
    close(dx, nhwc(xt.grad), dtype)
    close(layer.grads["kernel"], w.grad.numpy().reshape(c_in, m, kh, kw).transpose(2, 3, 0, 1), dtype)
    close(layer.grads["bias"], b.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_separable_conv2d_stride2_same(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 9, 8, 3)).astype(dtype)
    layer = layers.SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2, dtype=dtype)
    dy = rng.normal(size=layer(x).shape).astype(dtype)
    y, dx = run_layer(layer, x, dy)
    xt = nchw(x)
    kh, kw, c_in, m = layer.depthwise_kernel.shape
    wd = torch.tensor(layer.depthwise_kernel.transpose(2, 3, 0, 1).reshape(c_in * m, 1, kh, kw).copy(), requires_grad=True)
    wp = torch.tensor(layer.pointwise_kernel.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b = torch.tensor(layer.bias.copy(), requires_grad=True)
    mid = F.conv2d(torch_same_pad(xt, x.shape[1:3], (3, 3), (2, 2), "same"), wd, None, stride=2, groups=c_in)
    yt = F.conv2d(mid, wp, b)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    close(y, nhwc(yt), dtype)
    close(dx, nhwc(xt.grad), dtype)
    close(layer.grads["depthwise_kernel"], wd.grad.numpy().reshape(c_in, m, kh, kw).transpose(2, 3, 0, 1), dtype)
    close(layer.grads["pointwise_kernel"], wp.grad.numpy().transpose(2, 3, 1, 0), dtype)
    close(layer.grads["bias"], b.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode,pool,strides,padding", [("max", (2, 2), None, "valid"), ("max", (3, 2), (2, 1), "same"),
                                                       ("avg", (2, 2), None, "valid"), ("avg", (3, 3), (2, 2), "same")])
def test_pooling(dtype, mode, pool, strides, padding):
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 9 * 8 * 3).reshape(2, 9, 8, 3).astype(dtype) / 10
    layer = (layers.MaxPooling2D if mode == "max" else layers.AveragePooling2D)(pool, strides, padding, dtype=dtype)
    dy = rng.normal(size=layer(x).shape).astype(dtype)
    y, dx = run_layer(layer, x, dy)
    s = strides or pool
    xt = nchw(x)
    pads = resolve_padding(x.shape[1:3], pool, s, padding)
    (top, bottom), (left, right) = pads
    if mode == "max":
        yt = F.max_pool2d(F.pad(xt, (left, right, top, bottom), value=-np.inf), pool, s)
    else:
        # TF divides by the count of real inputs: sum over the zero-padded window / that count.
        ones = torch.ones((1, 1) + x.shape[1:3], dtype=xt.dtype)
        sums = F.avg_pool2d(F.pad(xt, (left, right, top, bottom)), pool, s, divisor_override=1)
        counts = F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), pool, s, divisor_override=1)
        yt = sums / counts
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    close(y, nhwc(yt), dtype)
    close(dx, nhwc(xt.grad), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization(dtype, training):
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(4, 5, 3, 6)) * 3 + 2).astype(dtype)
    layer = layers.BatchNormalization(momentum=0.9, epsilon=1e-3, dtype=dtype)
    layer(x[:1])
    layer.gamma[...] = rng.uniform(0.5, 2, 6)
    layer.beta[...] = rng.normal(size=6)
    layer.moving_mean[...] = rng.normal(size=6)
    layer.moving_variance[...] = rng.uniform(0.5, 2, 6)
    bn = torch.nn.BatchNorm2d(6, eps=1e-3, momentum=0.1).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(layer.gamma))
        bn.bias.copy_(torch.tensor(layer.beta))
        bn.running_mean.copy_(torch.tensor(layer.moving_mean))
        bn.running_var.copy_(torch.tensor(layer.moving_variance))
    bn.train(training)
    dy = rng.normal(size=x.shape).astype(dtype)
    y = layer.forward(x, training=training)
    dx = layer.backward(dy)
    xt = nchw(x)
    yt = bn(xt)
    yt.backward(torch.tensor(dy.transpose(0, 3, 1, 2).copy()))
    close(y, nhwc(yt), dtype)
    close(dx, nhwc(xt.grad), dtype)
    close(layer.grads["gamma"], bn.weight.grad.numpy(), dtype)
    close(layer.grads["beta"], bn.bias.grad.numpy(), dtype)
    close(layer.moving_mean, bn.running_mean.numpy(), dtype)
    if training:
        # Keras updates the moving variance with the biased batch variance, torch with the unbiased one.
        m = x.size // 6
        biased = x.reshape(-1, 6).var(axis=0)
        expected = bn.running_var.numpy() - 0.1 * biased * m / (m - 1) + 0.1 * biased
        close(layer.moving_variance, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_dense(dtype, activation):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 7)).astype(dtype)
    layer = layers.Dense(4, activation=activation, dtype=dtype)
    dy = rng.normal(size=layer(x).shape).astype(dtype)
    y, dx = run_layer(layer, x, dy)
    xt = torch.tensor(x, requires_grad=True)
    w = torch.tensor(layer.kernel.copy(), requires_grad=True)
    b = torch.tensor(layer.bias.copy(), requires_grad=True)
    z = xt @ w + b
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
           "softmax": lambda t: torch.softmax(t, -1), "linear": lambda t: t}[activation]
    yt = act(z)
    yt.backward(torch.tensor(dy))
    close(y, yt.detach().numpy(), dtype)
    close(dx, xt.grad.numpy(), dtype)
    close(layer.grads["kernel"], w.grad.numpy(), dtype)
    close(layer.grads["bias"], b.grad.numpy(), dtype)


def _targets(name, rng, n, c, dtype):
    if name == "sparse_categorical_crossentropy":
        return rng.integers(0, c, n)
    if name == "categorical_crossentropy":
        return np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
    if name == "binary_crossentropy":
        return rng.integers(0, 2, (n, c)).astype(dtype)
    return rng.normal(size=(n, c)).astype(dtype)


def _torch_loss(name, logits_or_pred, target, from_logits):
    t = logits_or_pred
    # Keras first rescales probabilities to sum to one (p / sum p); the formula here does too.
    if name == "sparse_categorical_crossentropy":
        return F.cross_entropy(t, torch.tensor(target)) if from_logits else F.nll_loss(torch.log(t / t.sum(-1, keepdim=True)), torch.tensor(target))
    if name == "categorical_crossentropy":
        if from_logits:
            return F.cross_entropy(t, torch.tensor(target))
        return -(torch.tensor(target) * torch.log(t / t.sum(-1, keepdim=True))).sum(-1).mean()
    if name == "binary_crossentropy":
        fn = F.binary_cross_entropy_with_logits if from_logits else F.binary_cross_entropy
        return fn(t, torch.tensor(target))
    return F.mse_loss(t, torch.tensor(target))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy",
                                  "binary_crossentropy", "mean_squared_error"])
@pytest.mark.parametrize("from_logits", [True, False])
def test_losses(dtype, name, from_logits):
    if name == "mean_squared_error" and from_logits:
        pytest.skip("mean squared error has no logits form")
    rng = np.random.default_rng(6)
    n, c = 8, 5
    target = _targets(name, rng, n, c, dtype)
    z = rng.normal(size=(n, c)).astype(dtype) * 2
    if from_logits or name == "mean_squared_error":
        pred = z
    elif name == "binary_crossentropy":
        pred = (1 / (1 + np.exp(-z))).astype(dtype)
    else:
        pred = (np.exp(z) / np.exp(z).sum(-1, keepdims=True)).astype(dtype)
    loss = losses.get(name)
    loss.from_logits = from_logits
    value = loss(target, pred)
    grad = loss.gradient(target, pred)
    pt = torch.tensor(pred, requires_grad=True)
    expected = _torch_loss(name, pt, target, from_logits)
    expected.backward()
    assert value.dtype == dtype
    close(value, expected.detach().numpy(), dtype)
    close(grad, pt.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"])
def test_fused_logits_path_gives_y_minus_Y(dtype, name):
    """Softmax (sigmoid) + cross-entropy from the logits: dL/dz = (y - Y) / N, as torch computes it."""
    rng = np.random.default_rng(7)
    n, c = 8, 5
    target = _targets(name, rng, n, c, dtype)
    z = rng.normal(size=(n, c)).astype(dtype) * 3
    value, dz = losses.get(name).value_and_grad_from_logits(target, z)
    zt = torch.tensor(z, requires_grad=True)
    expected = _torch_loss(name, zt, target, from_logits=True)
    expected.backward()
    close(value, expected.detach().numpy(), dtype)
    close(dz, zt.grad.numpy(), dtype)
    if name != "binary_crossentropy":
        onehot = target if target.ndim == 2 else np.eye(c)[target]
        e = np.exp(z - z.max(-1, keepdims=True))
        close(dz, (e / e.sum(-1, keepdims=True) - onehot) / n, dtype)


def _run_optimizer(ours, theirs, steps=5, dtype=np.float64):
    rng = np.random.default_rng(8)
    w0 = rng.normal(size=(4, 3)).astype(dtype)
    grads = [rng.normal(size=w0.shape).astype(dtype) for _ in range(steps)]
    w = w0.copy()
    wt = torch.tensor(w0.copy(), requires_grad=True)
    opt = theirs([wt])
    for g in grads:
        ours.apply([w], [g])
        wt.grad = torch.tensor(g)
        opt.step()
    return w, wt.detach().numpy()


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd(momentum, nesterov):
    w, expected = _run_optimizer(optimizers.SGD(0.1, momentum=momentum, nesterov=nesterov),
                                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=momentum, nesterov=nesterov))
    close(w, expected, np.float64)


def test_adam_matches_torch_when_epsilon_is_negligible():
    # Keras adds epsilon to sqrt(v) before the bias correction, torch after it; with a tiny
    # epsilon the two agree to rounding.
    w, expected = _run_optimizer(optimizers.Adam(0.01, epsilon=1e-14), lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-14))
    close(w, expected, np.float64)


def test_rmsprop_matches_torch_when_epsilon_is_negligible():
    w, expected = _run_optimizer(optimizers.RMSprop(0.01, epsilon=1e-14),
                                 lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-14))
    np.testing.assert_allclose(w, expected, rtol=1e-9, atol=1e-9)
