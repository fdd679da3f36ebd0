"""The array kernels in tichchap.ops, against three oracles:

1. the slow loop versions in tichchap.ops.reference, on a grid of shapes, kernels, strides and paddings;
2. central finite differences in float64 with a random upstream gradient;
3. PyTorch (CPU) forward and backward, float32 and float64 (skipped where torch is absent).

Shapes are non-square (H != W, kh != kw) on purpose: square shapes hide transposition bugs.
"""

import itertools
import zlib

import numpy as np
import pytest

from tichchap.errors import ConfigError, ShapeError
from tichchap.ops import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    conv_output_size,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    im2col,
    is_channel_major,
    pad2d,
    pool2d_backward,
    pool2d_forward,
    resolve_padding,
    same_padding,
)
import tichchap.ops.conv as conv_module
from tichchap.ops import conv_pool, reference, winograd
from tichchap.ops.conv import channel_major
from tichchap.utils import numerical_gradient

PADDINGS = ("valid", "same")


def seeded_rng(*case):
    """A generator seeded from the test case, the same in every run (``hash`` of str is not)."""
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


def assert_backward_matches(backward, dy, cache, expected, atol=1e-12):
    """``backward(dy, cache)`` gives ``expected`` (dx, dkernel, dbias-or-None), and with
    ``compute_dx=False`` no dx and the same dkernel."""
    for got, want in zip(backward(dy, cache), expected):
        if want is None:
            assert got is None
        else:
            np.testing.assert_allclose(got, want, atol=atol)
    dx, dk, _ = backward(dy, cache, compute_dx=False)
    assert dx is None
    np.testing.assert_allclose(dk, expected[1], atol=atol)


def distinct_values(rng, shape, dtype=np.float64):
    """Random values at least 0.01 apart, so no max-pool window has a tie (even after +-1e-6)."""
    size = int(np.prod(shape))
    values = (rng.permutation(size) - size / 2) * 0.02 + rng.uniform(0, 0.005, size)
    return values.reshape(shape).astype(dtype)


# ------------------------------------------------------------------------------------- padding


@pytest.mark.parametrize(
    "in_size, kernel, stride, expected",
    [
        (28, 3, 2, (0, 1)),  # total 1: the extra row goes to the bottom
        (7, 3, 2, (1, 1)),
        (6, 3, 2, (0, 1)),
        (5, 4, 1, (1, 2)),
        (8, 2, 2, (0, 0)),
        (5, 1, 3, (0, 0)),
        (10, 5, 1, (2, 2)),
        (4, 7, 1, (3, 3)),  # window bigger than the input
    ],
)
def test_same_padding_matches_tensorflow_rule(in_size, kernel, stride, expected):
    assert same_padding(in_size, kernel, stride) == expected


def test_conv_output_size():
    assert conv_output_size(28, 5, 1, "valid") == 24
    assert conv_output_size(28, 5, 1, "same") == 28
    assert conv_output_size(7, 3, 2, "valid") == 3
    assert conv_output_size(7, 3, 2, "same") == 4
    assert conv_output_size(7, 2, 3, "valid") == 2
    with pytest.raises(ShapeError, match="too small"):
        conv_output_size(3, 5, 1, "valid")
    with pytest.raises(ConfigError, match="padding"):
        conv_output_size(3, 5, 1, "full")
    with pytest.raises(ConfigError, match="stride"):
        conv_output_size(3, 1, 0, "valid")


def test_resolve_padding_and_pad2d():
    assert resolve_padding((7, 6), (3, 2), (2, 2), "same") == ((1, 1), (0, 0))
    assert resolve_padding((28, 28), (3, 3), (2, 2), "same") == ((0, 1), (0, 1))
    assert resolve_padding((7, 6), (3, 2), (2, 2), "valid") == ((0, 0), (0, 0))
    x = np.arange(2 * 3 * 2 * 1, dtype=np.float32).reshape(2, 3, 2, 1)
    assert pad2d(x, ((0, 0), (0, 0))) is x
    padded = pad2d(x, ((1, 2), (0, 1)), value=-np.inf)
    assert padded.dtype == np.float32 and padded.shape == (2, 6, 3, 1)
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0)), constant_values=-np.inf))


# ------------------------------------------------------------------------------ im2col / col2im


def test_im2col_is_a_view_with_the_window_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    cols = im2col(x, 3, 2, 2, 3)
    assert cols.shape == (2, 3, 2, 3, 2, 3)
    assert np.shares_memory(cols, x) and cols.dtype == np.float32
    for oh, ow, i, j in itertools.product(range(3), range(2), range(3), range(2)):
        np.testing.assert_array_equal(cols[:, oh, ow, i, j, :], x[:, oh * 2 + i, ow * 3 + j, :])


@pytest.mark.parametrize("kh, kw, sh, sw", [(3, 2, 1, 1), (3, 2, 2, 3), (2, 3, 3, 1), (1, 1, 2, 2)])
def test_col2im_is_the_adjoint_of_im2col(kh, kw, sh, sw):
    # <im2col(x), d> == <x, col2im(d)> for all x, d  defines col2im as im2col's transpose.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 7, 3))
    cols = im2col(x, kh, kw, sh, sw)
    d = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * d), np.sum(x * col2im(d, x.shape, kh, kw, sh, sw)), rtol=1e-12)


# ------------------------------------------------------------------ fast kernels vs. reference

KERNELS = [(1, 1), (3, 3), (3, 2), (2, 4)]
STRIDES = [(1, 1), (2, 2), (3, 3), (2, 1)]
# (shape, use_bias); C_in == 1 takes the transposed-im2col path with the bias folded in.
CONV_CASES = [((2, 7, 6, 3), True), ((3, 8, 9, 2), False), ((2, 8, 7, 1), True), ((1, 6, 9, 1), False)]


@pytest.fixture(params=["per_offset", "channel_major_rows", "channel_major_images_innermost"])
def input_gradient_method(request, monkeypatch):
    """Run a test with each of conv2d_backward's ways to the input gradient: per kernel offset, or
    channel-major (chosen for few input channels), its blocks in rows or with the images innermost
    (chosen for small images)."""
    import tichchap.ops.conv as conv_module

    monkeypatch.setattr(conv_module, "CHANNEL_MAJOR_MAX_C_IN", 0 if request.param == "per_offset" else 10**6)
    monkeypatch.setattr(conv_module, "IMAGE_MINOR_MIN_WIDENING", 0 if request.param.endswith("innermost") else np.inf)
    calls = []
    original = conv_module._input_gradient_channel_major
    monkeypatch.setattr(conv_module, "_input_gradient_channel_major",
                        lambda *args: calls.append(1) or original(*args))
    yield request.param
    assert bool(calls) == (request.param != "per_offset"), "not the method under test"


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES)
@pytest.mark.parametrize("kernel_hw", KERNELS)
def test_conv2d_matches_reference(kernel_hw, strides, padding, input_gradient_method):
    rng = seeded_rng(kernel_hw, strides, padding)
    for x_shape, use_bias in CONV_CASES:
        x = rng.standard_normal(x_shape)
        kernel = rng.standard_normal((*kernel_hw, x_shape[3], 4))
        bias = rng.standard_normal(4) if use_bias else None
        y, cache = conv2d_forward(x, kernel, bias, strides, padding)
        np.testing.assert_allclose(y, reference.conv2d_reference(x, kernel, bias, strides, padding), atol=1e-12)
        dy = rng.standard_normal(y.shape)
        dx, dk, db = conv2d_backward(dy, cache)
        rdx, rdk, rdb = reference.conv2d_backward_reference(x, kernel, bias, strides, padding, dy)
        np.testing.assert_allclose(dx, rdx, atol=1e-12)
        np.testing.assert_allclose(dk, rdk, atol=1e-12)
        if use_bias:
            np.testing.assert_allclose(db, rdb, atol=1e-12)
        else:
            assert db is None


@pytest.mark.parametrize("strides", [(1, 1), (2, 3)])
def test_conv2d_takes_explicit_pads(strides, input_gradient_method):
    # ((top, bottom), (left, right)) pads: the convolution of the input padded so, "valid".
    rng = seeded_rng("explicit pads", strides)
    x, kernel = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 2, 3, 4))
    pads = ((1, 2), (0, 1))
    y, cache = conv2d_forward(x, kernel, None, strides, pads)
    xp = np.pad(x, ((0, 0), *pads, (0, 0)))
    np.testing.assert_allclose(y, reference.conv2d_reference(xp, kernel, None, strides, "valid"), atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dxp, dk, _ = reference.conv2d_backward_reference(xp, kernel, None, strides, "valid", dy)
    dx, got_dk, _ = conv2d_backward(dy, cache)
    np.testing.assert_allclose(dx, dxp[:, 1:8, 0:6], atol=1e-12)
    np.testing.assert_allclose(got_dk, dk, atol=1e-12)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", [(1, 1), (2, 3)])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("layout", ["nhwc", "channel_major"])
def test_conv2d_chunked_path_for_large_layers_matches_reference(monkeypatch, padding, strides, use_bias, layout,
                                                               input_gradient_method):
    # Layers too big to keep their im2col matrix run chunk by chunk over the images, NHWC or (few
    # channels) channel-major; force that path on a small layer, with chunks of 2 images and a
    # remainder chunk of 1.
    import tichchap.ops.conv as conv_module

    if layout == "nhwc":
        monkeypatch.setattr(conv_module, "CHANNEL_MAJOR_CONV_MAX_C_IN", 0)
    monkeypatch.setattr(conv_module, "DX_AS_CORRELATION_MIN_RATIO", np.inf)  # the next test: the correlation
    rng = seeded_rng("chunked", padding, strides, use_bias)
    x = rng.standard_normal((5, 7, 6, 3))
    kernel = rng.standard_normal((3, 2, 3, 4))
    bias = rng.standard_normal(4) if use_bias else None
    per_image = int(np.prod(im2col(pad2d(x[:1], resolve_padding((7, 6), (3, 2), strides, padding)), 3, 2, *strides).shape)) * 8
    monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0)
    monkeypatch.setattr(conv_module, "CHUNK_COLS_BYTES", 2 * per_image)
    y, cache = conv2d_forward(x, kernel, bias, strides, padding)
    assert "cols" not in cache and ("xc" in cache) == (layout == "channel_major") == is_channel_major(y)
    np.testing.assert_allclose(y, reference.conv2d_reference(x, kernel, bias, strides, padding), atol=1e-12)
    dy = rng.standard_normal(y.shape)
    assert_backward_matches(conv2d_backward, dy, cache,
                            reference.conv2d_backward_reference(x, kernel, bias, strides, padding, dy))


@pytest.mark.parametrize("padding", [*PADDINGS, ((2, 0), (1, 3))])
@pytest.mark.parametrize("kernel_hw", [(3, 3), (3, 2), (1, 1)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_channel_major_input_gradient_as_a_correlation_matches_reference(monkeypatch, padding, kernel_hw, use_bias):
    # At stride 1 the channel-major path takes dX as dY correlated with the flipped kernel, padded
    # by k - 1 - pad (a pad wider than the kernel makes that negative: dY rows never read).
    import tichchap.ops.conv as conv_module

    rng = seeded_rng("dx correlation", padding, kernel_hw, use_bias)
    x = rng.standard_normal((5, 7, 6, 3))
    kernel = rng.standard_normal((*kernel_hw, 3, 4))
    bias = rng.standard_normal(4) if use_bias else None
    monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0)
    monkeypatch.setattr(conv_module, "CHUNK_COLS_BYTES", 2 * 7 * 6 * 3 * int(np.prod(kernel_hw)) * 8)
    monkeypatch.setattr(conv_module, "DX_AS_CORRELATION_MIN_RATIO", 0)
    called = []
    original = conv_module._input_gradient
    monkeypatch.setattr(conv_module, "_input_gradient", lambda *args: called.append(1) or original(*args))
    y, cache = conv2d_forward(x, kernel, bias, 1, padding)
    assert "xc" in cache
    dy = rng.standard_normal(y.shape)
    if isinstance(padding, str):
        want = reference.conv2d_backward_reference(x, kernel, bias, 1, padding, dy)
    else:  # explicit pads: the reference on the input padded so, its gradient cropped
        (top, bottom), (left, right) = padding
        xp = np.pad(x, ((0, 0), *padding, (0, 0)))
        dxp, dk, db = reference.conv2d_backward_reference(xp, kernel, bias, 1, "valid", dy)
        want = (dxp[:, top : top + 7, left : left + 6], dk, db)
    assert_backward_matches(conv2d_backward, dy, cache, want)
    assert not called


# ------------------------------------------------------------------ Conv2D + ReLU + MaxPooling2D in one step

# (x shape, kernel hw, conv strides, conv padding, (pool, pool strides, pool padding), method)
CONV_POOL_CASES = [
    ((3, 8, 8, 3), (3, 3), (1, 1), "same", ((2, 2), (2, 2), "valid"), "combined"),
    ((2, 9, 8, 2), (3, 3), (1, 1), "valid", ((2, 2), (2, 2), "valid"), "combined"),  # a row left over
    ((2, 10, 9, 1), (5, 5), (1, 1), "valid", ((2, 2), (2, 2), "valid"), "combined"),  # one channel, a column over
    ((2, 13, 12, 2), (5, 5), (2, 2), "same", ((2, 2), (2, 2), "valid"), "combined"),  # a 7x7 combined kernel
    ((2, 9, 7, 1), (2, 2), (1, 1), "valid", ((2, 3), (2, 3), "valid"), "window_major"),  # im2col transposed
    ((2, 11, 9, 2), (3, 1), (2, 2), "same", ((3, 1), (3, 1), "valid"), "window_major"),
    ((1, 6, 6, 4), (1, 1), (1, 1), "valid", ((3, 3), (3, 3), "valid"), "window_major"),
    ((2, 9, 8, 2), (2, 2), (1, 1), "valid", ((2, 2), (2, 2), "valid"), "layers"),  # 2x2: a remainder, growth 2.25
    ((2, 8, 7, 3), (3, 2), (1, 1), "same", ((3, 2), (1, 2), "same"), "layers"),  # overlapping, -inf padded
]


@pytest.mark.parametrize("case", CONV_POOL_CASES)
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("one_thread", [False, True])
def test_conv2d_maxpool_matches_the_three_reference_steps(monkeypatch, case, relu, use_bias, one_thread):
    from tichchap.ops import parallel

    monkeypatch.setattr(conv_pool, "COMBINED_MIN_OUTPUTS", 1)  # these layers are small
    # One thread, as in a part of a split batch: a one-channel combined product in pieces of 5 rows
    # and a remainder; else 2 threads, the product whole.
    monkeypatch.setattr(parallel, "_num_threads", 1 if one_thread else 2)
    monkeypatch.setattr(conv_pool, "PRODUCT_PIECE_BYTES", 5 * 4 * 5 * 8 - 1)
    pieces = []
    monkeypatch.setattr(conv_pool, "_max_over_product_pieces",
                        lambda *args, _max=conv_pool._max_over_product_pieces: pieces.append(1) or _max(*args))
    x_shape, kernel_hw, strides, padding, pooling, how = case
    rng = seeded_rng("conv pool", case, relu, use_bias)
    x = rng.standard_normal(x_shape)
    kernel = rng.standard_normal((*kernel_hw, x_shape[3], 5))
    bias = rng.standard_normal(5) if use_bias else None
    y, cache = conv_pool.conv2d_maxpool_forward(x, kernel, bias, strides, padding, pooling, relu, keep_argmax=True)
    assert cache["method"] == how
    assert pieces == ([1] if parallel.runs_inline() and how == "combined" and x_shape[3] == 1 else [])
    z = reference.conv2d_reference(x, kernel, bias, strides, padding)
    a = np.maximum(z, 0) if relu else z
    np.testing.assert_allclose(y, reference.pool2d_reference(a, *pooling, "max"), atol=1e-12)
    dy = rng.standard_normal(y.shape)
    da = reference.pool2d_backward_reference(a, *pooling, "max", dy)
    dz = da * (z > 0) if relu else da
    assert_backward_matches(conv_pool.conv2d_maxpool_backward, dy, cache,
                            reference.conv2d_backward_reference(x, kernel, bias, strides, padding, dz))


@pytest.mark.parametrize("relu", [True, False])
def test_conv2d_maxpool_chunked_for_big_layers_matches_the_reference(monkeypatch, relu):
    # Big layers rebuild im2col and take the input gradient a few images at a time (food_net's
    # 112x112 pair): force it on a small one, chunks of 2 images and a remainder chunk of 1.
    import tichchap.ops.conv as conv_module

    rng = seeded_rng("chunked conv pool", relu)
    x = rng.standard_normal((5, 9, 8, 3))
    kernel = rng.standard_normal((3, 3, 3, 4))
    bias = rng.standard_normal(4)
    pooling = ((2, 2), (2, 2), "valid")
    monkeypatch.setattr(conv_module, "CHANNEL_MAJOR_CONV_MAX_C_IN", 0)  # test_conv2d_maxpool_channel_major: on
    monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0)
    monkeypatch.setattr(conv_module, "CHUNK_COLS_BYTES", 2 * 9 * 8 * 27 * 8)
    monkeypatch.setattr(conv_pool, "COMBINED_MIN_OUTPUTS", 1)
    y, cache = conv_pool.conv2d_maxpool_forward(x, kernel, bias, 1, "same", pooling, relu, keep_argmax=True)
    assert cache["method"] == "combined" and "cols" not in cache["conv"]
    z = reference.conv2d_reference(x, kernel, bias, 1, "same")
    a = np.maximum(z, 0) if relu else z
    np.testing.assert_allclose(y, reference.pool2d_reference(a, *pooling, "max"), atol=1e-12)
    dy = rng.standard_normal(y.shape)
    dz = reference.pool2d_backward_reference(a, *pooling, "max", dy) * ((z > 0) if relu else 1)
    for got, want in zip(conv_pool.conv2d_maxpool_backward(dy, cache),
                         reference.conv2d_backward_reference(x, kernel, bias, 1, "same", dz)):
        np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_major_is_exact_and_shares_a_channel_major_views_memory(dtype):
    rng = np.random.default_rng(5)
    for shape in [(3, 5, 4, 8), (2, 3, 3, 1), (1, 2, 7, 3)]:
        x = rng.standard_normal(shape).astype(dtype)
        x[0, 0, 0] = -0.0
        xc = channel_major(x)
        assert xc.shape == (shape[3],) + shape[:3] and xc.flags.c_contiguous and xc.dtype == dtype
        np.testing.assert_array_equal(xc, x.transpose(3, 0, 1, 2))  # bit for bit (BLAS: x*1 + zeros)
        view = xc.transpose(1, 2, 3, 0)
        assert is_channel_major(view) and not is_channel_major(x) or shape[3] == 1
        assert np.shares_memory(channel_major(view), xc)


def test_thin_big_convolutions_return_channel_major_views_and_take_them(monkeypatch):
    """A stack of thin convolutions with pooling between them, each big enough (forced here) for
    the channel-major path: activations stay channel-major from layer to layer, and forward and
    backward match the NHWC path."""
    import tichchap.ops.conv as conv_module

    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 10, 8, 3))
    kernels = [rng.standard_normal((3, 3, 3, 4)), rng.standard_normal((3, 2, 4, 5))]
    biases = [rng.standard_normal(4), rng.standard_normal(5)]

    def run(big):
        monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0 if big else 2**40)
        a, caches = x, []
        for kernel, bias in zip(kernels, biases):
            z, conv_cache = conv2d_forward(a, kernel, bias, 1, "same")
            r = np.maximum(z, 0)
            a, pool_cache = pool2d_forward(r, 2, 2, "valid", "max")
            caches.append((conv_cache, r, pool_cache))
            assert is_channel_major(z) == is_channel_major(r) == is_channel_major(a) == big
        grads, g = [], rng.standard_normal(a.shape)
        for conv_cache, r, pool_cache in reversed(caches):
            dz = pool2d_backward(g, pool_cache) * (r > 0)
            g, dk, db = conv2d_backward(dz, conv_cache)
            assert is_channel_major(g) == big
            grads += [dk, db]
        return a, grads + [g]

    state = rng.bit_generator.state
    got = run(big=True)
    rng.bit_generator.state = state
    want = run(big=False)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12, atol=1e-12)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_conv2d_maxpool_method_by_shape(monkeypatch):
    import tichchap.ops.conv as conv_module

    two = ((2, 2), (2, 2), "valid")
    assert conv_pool.method((128, 28, 28, 1), (5, 5, 1, 32), 1, "valid", two) == "combined"  # LeNet's conv1
    assert conv_pool.method((1, 28, 28, 1), (5, 5, 1, 32), 1, "valid", two) == "window_major"  # at batch 1
    assert conv_pool.method((128, 12, 12, 32), (5, 5, 32, 64), 1, "valid", two) == "winograd"  # LeNet's conv2
    assert conv_pool.method((128, 14, 14, 32), (5, 5, 32, 64), 1, "valid", two) == "layers"  # 10x10: not whole tiles
    assert conv_pool.method((128, 12, 12, 32), (5, 5, 32, 64), 1, "valid", ((3, 3), (3, 3), "valid")) == "layers"
    assert conv_pool.method((1, 12, 12, 32), (5, 5, 32, 64), 1, "valid", two) == "window_major"  # 32 channels
    assert conv_pool.method((128, 112, 112, 8), (3, 3, 8, 8), 1, "same", two) == "layers"  # food_net's: channel-major
    assert conv_pool.method((128, 112, 112, 8), (3, 3, 8, 32), 1, "same", two) == "combined"  # 32 channels out
    assert conv_pool.method((128, 28, 28, 6), (3, 3, 6, 8), 2, "same", two) == "window_major"  # combined 5x5: 2.8x
    assert conv_pool.method((128, 28, 28, 1), (1, 1, 1, 6), 1, "valid", two) == "window_major"  # small_cnn's conv1
    assert conv_pool.method((128, 27, 28, 1), (1, 1, 1, 6), 1, "valid", two) == "layers"  # a row left over
    assert conv_pool.method((128, 28, 28, 1), (1, 1, 1, 6), 1, "valid", ((2, 2), 1, "valid")) == "layers"
    monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0)
    assert conv_pool.method((1, 28, 28, 1), (1, 1, 1, 6), 1, "valid", two) == "layers"


@pytest.mark.parametrize("pooling", [((2, 2), (2, 2), "valid"), ((3, 3), (1, 1), "same")])
def test_conv2d_maxpool_backward_needs_the_argmax(pooling):
    x, kernel = np.ones((1, 4, 4, 2)), np.ones((1, 1, 2, 3))
    y, cache = conv_pool.conv2d_maxpool_forward(x, kernel, None, 1, "valid", pooling, True, keep_argmax=False)
    with pytest.raises(RuntimeError, match="keep_argmax"):
        conv_pool.conv2d_maxpool_backward(np.ones_like(y), cache)


# (x shape, kernel size, padding, pool): output tiles the pooling windows fall inside, F(4, 5)'s
# 4x4 and F(6, 3)'s 6x6, one tile and several, 2x2 and 3x3 pools.
WINOGRAD_POOL_CASES = [
    ((2, 12, 12, 3), 5, "valid", (2, 2)),
    ((1, 8, 4, 2), 5, "same", (2, 2)),
    ((2, 12, 6, 2), 3, "same", (3, 3)),
    ((1, 8, 14, 1), 3, "valid", (2, 2)),
]


@pytest.mark.parametrize("case", WINOGRAD_POOL_CASES)
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_maxpool_in_winograd_tiles_matches_the_three_reference_steps(winograd_forced, case, relu, use_bias):
    x_shape, r, padding, pool = case
    rng = seeded_rng("winograd pool", case, relu, use_bias)
    x = rng.standard_normal(x_shape)
    kernel = rng.standard_normal((r, r, x_shape[3], 5))
    bias = rng.standard_normal(5) if use_bias else None
    pooling = (pool, pool, "valid")
    y, cache = conv_pool.conv2d_maxpool_forward(x, kernel, bias, 1, padding, pooling, relu, keep_argmax=True)
    assert cache["method"] == "winograd" and y.flags.c_contiguous
    z = reference.conv2d_reference(x, kernel, bias, 1, padding)
    a = np.maximum(z, 0) if relu else z
    np.testing.assert_allclose(y, reference.pool2d_reference(a, *pooling, "max"), atol=1e-10)
    inference, _ = conv_pool.conv2d_maxpool_forward(x, kernel, bias, 1, padding, pooling, relu, keep_argmax=False)
    np.testing.assert_array_equal(inference, y)
    dy = rng.standard_normal(y.shape)
    dz = reference.pool2d_backward_reference(a, *pooling, "max", dy) * ((z > 0) if relu else 1)
    assert_backward_matches(conv_pool.conv2d_maxpool_backward, dy, cache,
                            reference.conv2d_backward_reference(x, kernel, bias, 1, padding, dz), atol=1e-10)


@pytest.mark.parametrize("pooled", [False, True])
def test_winograd_gives_an_images_inner_input_its_gradient_in_that_layout(winograd_forced, pooled):
    # LeNet's conv2 reads conv1 + pool1's images-inner view ((H, W, N, C) memory): its input
    # gradient comes back in that layout, for conv1's backward to read in order; same values.
    rng = seeded_rng("winograd images inner", pooled)
    x = rng.standard_normal((3, 12, 8, 2))
    x_inner = np.ascontiguousarray(x.transpose(1, 2, 0, 3)).transpose(2, 0, 1, 3)
    assert conv_module.is_images_inner(x_inner) and not conv_module.is_images_inner(x)
    kernel, bias = rng.standard_normal((5, 5, 2, 3)), rng.standard_normal(3)
    results = []
    for a in (x, x_inner):
        if pooled:
            y, cache = conv_pool.conv2d_maxpool_forward(a, kernel, bias, 1, "valid", ((2, 2), (2, 2), "valid"), True, True)
            assert cache["method"] == "winograd"
            dx, dk, db = conv_pool.conv2d_maxpool_backward(np.ones_like(y), cache)
        else:
            y, cache = conv2d_forward(a, kernel, bias, 1, "same")
            dx, dk, db = conv2d_backward(np.ones_like(y), cache)
        assert conv_module.is_images_inner(dx) == (a is x_inner)
        results.append((y, dx, dk, db))
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _float32_conv_relu_pool(seed, x_shape, kernel_shape, scale):
    """Conv2D (valid) + ReLU + 2x2 max pooling on random float32 data, in one step and as separate
    layers: ``(y, cache, dy, layers_y, layers_grads)``, the gradients ``(dx, dkernel, dbias)``."""
    rng = seeded_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    kernel = (rng.standard_normal(kernel_shape) / scale).astype(np.float32)
    bias = rng.standard_normal(kernel_shape[3]).astype(np.float32)
    pooling = ((2, 2), (2, 2), "valid")
    y, cache = conv_pool.conv2d_maxpool_forward(x, kernel, bias, 1, "valid", pooling, True, keep_argmax=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    z, conv_cache = conv2d_forward(x, kernel, bias, 1, "valid")
    pooled, pool_cache = pool2d_forward(z, *pooling, "max")
    grads = conv2d_backward(pool2d_backward(dy * (pooled > 0), pool_cache), conv_cache)
    return y, cache, dy, np.maximum(pooled, 0), grads


def test_conv2d_maxpool_one_channel_combined_returns_an_images_inner_view():
    # Its rows computed in (y, x, n) order (im2col's copies then run over the batch): the pooled
    # output is an NHWC-shaped view of (H, W, N, C) memory, with the NHWC path's values.
    y, cache, dy, want_y, want_grads = _float32_conv_relu_pool("one channel images inner", (128, 28, 28, 1),
                                                                (5, 5, 1, 32), 5)
    assert cache["method"] == "combined" and conv_module.is_images_inner(y)
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-5)
    for images_inner_dy in (False, True):  # dY as conv2's input gradient gives it, or plain NHWC
        d = np.ascontiguousarray(dy.transpose(1, 2, 0, 3)).transpose(2, 0, 1, 3) if images_inner_dy else dy
        for g, w in zip(conv_pool.conv2d_maxpool_backward(d, cache, compute_dx=True), want_grads):
            np.testing.assert_allclose(g, w, rtol=0, atol=2e-5 * np.abs(w).max())


def test_conv2d_maxpool_in_winograd_tiles_is_the_layers_result_in_float32():
    # LeNet's conv2 as it runs: the same products and transforms as conv2d_forward's, so the same
    # float32 outputs bit for bit; the gradients add the same products, dbias in another order.
    y, cache, dy, want_y, want_grads = _float32_conv_relu_pool("winograd pool float32", (32, 12, 12, 32),
                                                                (5, 5, 32, 64), 40)
    assert cache["method"] == "winograd"
    np.testing.assert_array_equal(y, want_y)
    for g, w in zip(conv_pool.conv2d_maxpool_backward(dy, cache), want_grads):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6 * np.abs(w).max())


# ------------------------------------------------------------------ Winograd


@pytest.mark.parametrize("m, r", [(4, 5), (6, 3), (5, 4), (3, 6), (8, 1), (1, 8)])
def test_winograd_transforms_compute_a_correlation(m, r):
    at, g, bt = winograd.transforms(m, r)
    rng = seeded_rng("transforms", m, r)
    taps, inputs = rng.standard_normal(r), rng.standard_normal(winograd.TILE)
    expected = [sum(taps[k] * inputs[i + k] for k in range(r)) for i in range(m)]
    np.testing.assert_allclose(at @ ((g @ taps) * (bt @ inputs)), expected, atol=1e-12)


@pytest.mark.parametrize("m, r", [(4, 5), (6, 3)])
def test_winograd_bias_position_reaches_every_output_once(m, r):
    # correlate() adds the bias to the products at one position: AT's column there must be all ones.
    at = winograd.transforms(m, r)[0]
    row, column = divmod(winograd._ONES_POSITION, winograd.TILE)
    assert row == column
    np.testing.assert_array_equal(at[:, column], np.ones(m))


def test_winograd_transforms_share_bt_across_tile_splits():
    # The weight gradient reuses the forward pass' transformed tiles: F(4, 5) and F(5, 4) must agree.
    np.testing.assert_array_equal(winograd.transforms(4, 5)[2], winograd.transforms(5, 4)[2])
    with pytest.raises(ValueError, match="m \\+ r - 1"):
        winograd.transforms(4, 4)


@pytest.fixture
def winograd_forced(monkeypatch):
    """Winograd for every stride-1 3x3 and 5x5 convolution, however few its channels and outputs."""
    import tichchap.ops.conv as conv_module

    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_C_IN", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_C_OUT", 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_OUTPUTS", dict.fromkeys(winograd.KERNEL_SIZES, 1))


# Output sizes below one tile, at one, and over one with a partial last tile.
WINOGRAD_SHAPES = [((2, 7, 6, 3), True), ((1, 13, 14, 2), False), ((2, 5, 5, 2), True), ((1, 17, 9, 1), True)]


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("kernel_size", winograd.KERNEL_SIZES)
def test_conv2d_winograd_matches_reference(winograd_forced, kernel_size, padding):
    rng = seeded_rng("winograd", kernel_size, padding)
    for x_shape, use_bias in WINOGRAD_SHAPES:
        x = rng.standard_normal(x_shape)
        kernel = rng.standard_normal((kernel_size, kernel_size, x_shape[3], 4))
        bias = rng.standard_normal(4) if use_bias else None
        y, cache = conv2d_forward(x, kernel, bias, 1, padding)
        assert "winograd_tiles" in cache and "cols" not in cache
        np.testing.assert_allclose(y, reference.conv2d_reference(x, kernel, bias, 1, padding), atol=1e-10)
        dy = rng.standard_normal(y.shape)
        assert_backward_matches(conv2d_backward, dy, cache,
                                reference.conv2d_backward_reference(x, kernel, bias, 1, padding, dy), atol=1e-10)


@pytest.mark.parametrize("kernel_size, padding, channels", [(5, "valid", 32), (3, "same", 64)])
def test_conv2d_winograd_float32_rounding_is_bounded(kernel_size, padding, channels):
    # Winograd's transforms round more than im2col's sums: measured 3e-6 to 1e-5 of the largest
    # value at these shapes (im2col: 2e-7 to 6e-7). The bound is the documented price.
    rng = seeded_rng("winograd float32", kernel_size, padding)
    x = rng.standard_normal((16, 12, 12, channels))  # 16 * 12 * 12 outputs: Winograd's by default
    kernel = rng.standard_normal((kernel_size, kernel_size, channels, 64)) / np.sqrt(kernel_size**2 * channels)
    y, cache = conv2d_forward(x.astype(np.float32), kernel.astype(np.float32), None, 1, padding)
    assert "winograd_tiles" in cache and y.dtype == np.float32
    dy = rng.standard_normal(y.shape)
    got = (y,) + conv2d_backward(dy.astype(np.float32), cache)[:2]
    want = (reference.conv2d_reference(x, kernel, None, 1, padding),)
    want += reference.conv2d_backward_reference(x, kernel, None, 1, padding, dy)[:2]
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        assert np.abs(g - w).max() <= 3e-5 * np.abs(w).max()


def test_winograd_can_be_turned_off():
    from tichchap import config

    x = np.ones((32, 8, 8, 32), np.float32)
    kernel = np.ones((3, 3, 32, 64), np.float32)
    assert config.winograd()
    try:
        config.set_winograd(False)
        assert not config.winograd()
        assert "cols" in conv2d_forward(x, kernel, None, 1, "same")[1]
    finally:
        config.set_winograd(True)
    assert "winograd_tiles" in conv2d_forward(x, kernel, None, 1, "same")[1]
    assert "cols" in conv2d_forward(x[:1], kernel, None, 1, "same")[1]  # 64 outputs: too few to pay


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", STRIDES)
@pytest.mark.parametrize("kernel_hw", [(3, 3), (3, 2), (1, 2)])
@pytest.mark.parametrize("depth_multiplier", [1, 2])
def test_depthwise_conv2d_matches_reference(kernel_hw, strides, padding, depth_multiplier):
    rng = seeded_rng(kernel_hw, strides, padding, depth_multiplier)
    x = rng.standard_normal((2, 7, 6, 3))
    kernel = rng.standard_normal((*kernel_hw, 3, depth_multiplier))
    bias = rng.standard_normal(3 * depth_multiplier)
    y, cache = depthwise_conv2d_forward(x, kernel, bias, strides, padding)
    np.testing.assert_allclose(
        y, reference.depthwise_conv2d_reference(x, kernel, bias, strides, padding), atol=1e-12
    )
    dy = rng.standard_normal(y.shape)
    got = depthwise_conv2d_backward(dy, cache)
    expected = reference.depthwise_conv2d_backward_reference(x, kernel, bias, strides, padding, dy)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-12)


POOLS = [(2, 2), (3, 3), (2, 3), (3, 1)]
POOL_STRIDES = [(1, 1), (2, 2), (3, 3), (1, 2), "pool"]  # "pool": stride = pool size (Keras' default)


def in_layout(x, layout):
    """``x`` as it is ("nhwc") or as a channel-major view of a copy, as thin convolutions return."""
    return x if layout == "nhwc" else np.ascontiguousarray(x.transpose(3, 0, 1, 2)).transpose(1, 2, 3, 0)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("strides", POOL_STRIDES)
@pytest.mark.parametrize("pool_size", POOLS)
@pytest.mark.parametrize("layout", ["nhwc", "channel_major"])
def test_pool2d_matches_reference(pool_size, strides, padding, mode, layout):
    rng = seeded_rng(pool_size, strides, padding, mode)
    strides = pool_size if strides == "pool" else strides
    # (2, 6, 12, 3) is tiled exactly by every pool size here: the reshape fast path.
    for x_shape in [(2, 7, 6, 3), (1, 8, 9, 2), (2, 6, 12, 3)]:
        x = in_layout(rng.standard_normal(x_shape), layout)
        y, cache = pool2d_forward(x, pool_size, strides, padding, mode)
        assert is_channel_major(y) == (layout == "channel_major")
        np.testing.assert_allclose(y, reference.pool2d_reference(x, pool_size, strides, padding, mode), atol=1e-12)
        dy = rng.standard_normal(y.shape)
        np.testing.assert_allclose(
            pool2d_backward(dy, cache),
            reference.pool2d_backward_reference(x, pool_size, strides, padding, mode, dy),
            atol=1e-12,
        )


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_only():
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 5.0  # a tie in the first window: (0, 1) comes first row-major
    y, cache = pool2d_forward(x, 2, 2, "valid", "max")
    dx = pool2d_backward(np.ones_like(y), cache)
    assert dx[0, 0, 1, 0] == 1.0 and dx[0, 1, 0, 0] == 0.0
    assert dx.sum() == 4.0  # all-zero windows: exactly one element each gets the gradient
    np.testing.assert_array_equal(dx, reference.pool2d_backward_reference(x, 2, 2, "valid", "max", np.ones_like(y)))


@pytest.mark.parametrize("pool_size, strides, padding", [((2, 2), (2, 2), "valid"), ((3, 2), (3, 2), "same"),
                                                        ((2, 2), (1, 1), "same"), ((3, 3), (2, 2), "valid")])
@pytest.mark.parametrize("layout", ["nhwc", "channel_major"])
def test_max_pool_ties_after_relu_follow_the_first_maximum_rule(pool_size, strides, padding, layout):
    # ReLU outputs are full of exact zeros: whole windows tie. Small integers add more ties.
    rng = np.random.default_rng(11)
    x = in_layout(np.maximum(rng.integers(-3, 3, size=(2, 6, 8, 3)), 0).astype(np.float64), layout)
    y, cache = pool2d_forward(x, pool_size, strides, padding, "max")
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(y, reference.pool2d_reference(x, pool_size, strides, padding, "max"))
    np.testing.assert_allclose(
        pool2d_backward(dy, cache),
        reference.pool2d_backward_reference(x, pool_size, strides, padding, "max", dy),
        atol=1e-14,
    )


@pytest.mark.parametrize("pool_size", [(2, 2), (3, 2), (1, 2)])
def test_max_pool_backward_by_uint64_pairs_is_bit_exact(pool_size):
    """One float32 channel, windows two wide (channel-major planes): dY moves into place as bits,
    one uint64 per window row. Each window's dY, -0.0, inf and NaN included, lands bit for bit on
    its first maximum (ReLU zeros make whole windows tie); every other position is +0.0."""
    ph, pw = pool_size
    rng = np.random.default_rng(21)
    x = np.maximum(rng.integers(-2, 3, size=(3, 4 * ph, 8, 1)), 0).astype(np.float32)
    y, cache = pool2d_forward(x, pool_size, pool_size, "valid", "max")
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dy.flat[:4] = [-0.0, np.inf, -np.inf, np.nan]
    expected = np.zeros(x.shape, np.float32)
    for n, i, j in itertools.product(*map(range, y.shape[:3])):
        window = x[n, i * ph : (i + 1) * ph, j * pw : (j + 1) * pw, 0]
        a, b = np.unravel_index(np.argmax(window), window.shape)  # the first maximum, row-major
        expected[n, i * ph + a, j * pw + b, 0] = dy[n, i, j, 0]
    np.testing.assert_array_equal(pool2d_backward(dy, cache).view(np.uint32), expected.view(np.uint32))


def test_numpy_shifts_past_the_width_give_zero():
    # The pairs backward above relies on it (a shift by 64-96 bits clears a window row).
    a = np.array([5, 0xFFFFFFFF, 1], np.uint32)
    np.testing.assert_array_equal(np.left_shift(a, np.array([64, 96, 32], np.uint8), dtype=np.uint64),
                                  np.array([0, 0, 1 << 32], np.uint64))


def test_same_pooling_padding_never_wins_and_averages_real_inputs_only():
    x = -np.ones((1, 3, 3, 1))  # all negative: a zero pad would win a max
    y, _ = pool2d_forward(x, 2, 2, "same", "max")
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 1)))
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y, _ = pool2d_forward(x, 2, 2, "same", "avg")
    # windows: [0,1,3,4] [2,5] [6,7] [8] -- padded at the bottom/right only
    np.testing.assert_allclose(y[0, :, :, 0], [[2.0, 3.5], [6.5, 8.0]])


# --------------------------------------------------------------------- finite-difference checks


def assert_gradient_close(analytic, numeric, tol=1e-7):
    scale = max(np.abs(numeric).max(), 1.0)
    assert np.abs(analytic - numeric).max() / scale < tol


@pytest.mark.parametrize(
    "kernel_hw, strides, padding",
    [((3, 2), (1, 1), "valid"), ((3, 2), (2, 2), "same"), ((2, 3), (3, 2), "same"), ((4, 3), (2, 3), "valid")],
)
@pytest.mark.parametrize("c_in", [1, 3])
def test_conv2d_finite_differences(kernel_hw, strides, padding, c_in):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 6, c_in))
    kernel = rng.standard_normal((*kernel_hw, c_in, 2))
    bias = rng.standard_normal(2)
    y, cache = conv2d_forward(x, kernel, bias, strides, padding)
    dy = rng.standard_normal(y.shape)  # random upstream gradient, never all ones
    dx, dk, db = conv2d_backward(dy, cache)

    def loss():
        return np.sum(conv2d_forward(x, kernel, bias, strides, padding)[0] * dy)

    assert_gradient_close(dx, numerical_gradient(loss, x))
    assert_gradient_close(dk, numerical_gradient(loss, kernel))
    assert_gradient_close(db, numerical_gradient(loss, bias))


@pytest.mark.parametrize("strides, padding, dm", [((1, 1), "same", 2), ((2, 2), "same", 1), ((2, 1), "valid", 3)])
def test_depthwise_conv2d_finite_differences(strides, padding, dm):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 7, 2))
    kernel = rng.standard_normal((3, 2, 2, dm))
    bias = rng.standard_normal(2 * dm)
    y, cache = depthwise_conv2d_forward(x, kernel, bias, strides, padding)
    dy = rng.standard_normal(y.shape)
    dx, dk, db = depthwise_conv2d_backward(dy, cache)

    def loss():
        return np.sum(depthwise_conv2d_forward(x, kernel, bias, strides, padding)[0] * dy)

    assert_gradient_close(dx, numerical_gradient(loss, x))
    assert_gradient_close(dk, numerical_gradient(loss, kernel))
    assert_gradient_close(db, numerical_gradient(loss, bias))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    "pool_size, strides, padding",
    [((2, 2), (2, 2), "valid"), ((3, 2), (2, 2), "same"), ((3, 3), (1, 2), "same"), ((3, 2), (3, 2), "same")],
)
def test_pool2d_finite_differences(pool_size, strides, padding, mode):
    rng = np.random.default_rng(5)
    x = distinct_values(rng, (2, 9, 6, 2))  # away from max ties
    y, cache = pool2d_forward(x, pool_size, strides, padding, mode)
    dy = rng.standard_normal(y.shape)
    dx = pool2d_backward(dy, cache)

    def loss():
        return np.sum(pool2d_forward(x, pool_size, strides, padding, mode)[0] * dy)

    assert_gradient_close(dx, numerical_gradient(loss, x))


# ---------------------------------------------------------------------- dtype and purity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_and_inputs_are_untouched(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 7, 6, 3)).astype(dtype)
    kernel = rng.standard_normal((3, 2, 3, 4)).astype(dtype)
    dw_kernel = rng.standard_normal((3, 2, 3, 2)).astype(dtype)
    bias = rng.standard_normal(4).astype(dtype)
    dw_bias = rng.standard_normal(6).astype(dtype)
    originals = [a.copy() for a in (x, kernel, dw_kernel, bias, dw_bias)]

    runs = [
        (conv2d_forward, conv2d_backward, (x, kernel, bias, (2, 2), "same")),
        (conv2d_forward, conv2d_backward, (x[..., :1], kernel[:, :, :1], bias, (1, 1), "valid")),
        (depthwise_conv2d_forward, depthwise_conv2d_backward, (x, dw_kernel, dw_bias, (1, 2), "same")),
        (pool2d_forward, pool2d_backward, (x, (3, 2), (2, 2), "same", "max")),
        (pool2d_forward, pool2d_backward, (x, (3, 2), (2, 1), "same", "avg")),
    ]
    for forward, backward, args in runs:
        y, cache = forward(*args)
        assert y.dtype == dtype
        dy = rng.standard_normal(y.shape).astype(dtype)
        dy_before = dy.copy()
        grads = backward(dy, cache)
        for g in grads if isinstance(grads, tuple) else (grads,):
            assert g.dtype == dtype
        np.testing.assert_array_equal(dy, dy_before)
    for a, original in zip((x, kernel, dw_kernel, bias, dw_bias), originals):
        np.testing.assert_array_equal(a, original)


# ---------------------------------------------------------------------------------- PyTorch


TORCH_TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _torch_pad(x_nchw, pads, value=0.0):
    import torch.nn.functional as F

    (top, bottom), (left, right) = pads
    return F.pad(x_nchw, (left, right, top, bottom), value=value)


def _to_torch(torch, a):
    return torch.tensor(a, requires_grad=True)


def _nchw(torch, x):
    return x.permute(0, 3, 1, 2)


def _nhwc_numpy(t):
    return t.permute(0, 2, 3, 1).detach().numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c_in", [1, 3])
@pytest.mark.parametrize(
    "kernel_hw, strides, padding",
    [((5, 5), (1, 1), "valid"), ((3, 2), (2, 2), "same"), ((3, 3), (2, 2), "same"), ((2, 3), (3, 1), "same")],
)
def test_conv2d_matches_torch(kernel_hw, strides, padding, c_in, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 10, 9, c_in)).astype(dtype)
    kernel = (rng.standard_normal((*kernel_hw, c_in, 5)) * 0.3).astype(dtype)
    bias = rng.standard_normal(5).astype(dtype)
    y, cache = conv2d_forward(x, kernel, bias, strides, padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dk, db = conv2d_backward(dy, cache)

    tx, tk, tb = _to_torch(torch, x), _to_torch(torch, kernel), _to_torch(torch, bias)
    pads = resolve_padding(x.shape[1:3], kernel_hw, strides, padding)
    ty = F.conv2d(_torch_pad(_nchw(torch, tx), pads), tk.permute(3, 2, 0, 1), tb, stride=strides)
    ty.backward(torch.tensor(dy).permute(0, 3, 1, 2))
    tol = TORCH_TOL[dtype]
    np.testing.assert_allclose(y, _nhwc_numpy(ty), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(dk, tk.grad.numpy(), **tol)
    np.testing.assert_allclose(db, tb.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides, padding, dm", [((1, 1), "same", 1), ((2, 2), "same", 2), ((2, 1), "valid", 3)])
def test_depthwise_conv2d_matches_torch(strides, padding, dm, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 9, 8, 4)).astype(dtype)
    kernel = rng.standard_normal((3, 2, 4, dm)).astype(dtype)
    bias = rng.standard_normal(4 * dm).astype(dtype)
    y, cache = depthwise_conv2d_forward(x, kernel, bias, strides, padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx, dk, db = depthwise_conv2d_backward(dy, cache)

    tx, tk, tb = _to_torch(torch, x), _to_torch(torch, kernel), _to_torch(torch, bias)
    pads = resolve_padding(x.shape[1:3], (3, 2), strides, padding)
    # groups=C_in: torch's output channel o belongs to input channel o // dm, i.e. o = c*dm + m.
    t_weight = tk.reshape(3, 2, 4 * dm).permute(2, 0, 1).unsqueeze(1)
    ty = F.conv2d(_torch_pad(_nchw(torch, tx), pads), t_weight, tb, stride=strides, groups=4)
    ty.backward(torch.tensor(dy).permute(0, 3, 1, 2))
    tol = TORCH_TOL[dtype]
    np.testing.assert_allclose(y, _nhwc_numpy(ty), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(dk, tk.grad.numpy(), **tol)
    np.testing.assert_allclose(db, tb.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize(
    "pool_size, strides, padding",
    [
        ((2, 2), (2, 2), "valid"),
        ((3, 2), (3, 2), "valid"),  # tiles the 9x8 input exactly: the reshape fast path
        ((3, 3), (2, 2), "same"),
        ((2, 3), (1, 2), "same"),
        ((3, 2), (3, 3), "valid"),
    ],
)
def test_pool2d_matches_torch(pool_size, strides, padding, mode, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    x = distinct_values(rng, (3, 9, 8, 2), dtype)
    y, cache = pool2d_forward(x, pool_size, strides, padding, mode)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = pool2d_backward(dy, cache)

    tx = _to_torch(torch, x)
    pads = resolve_padding(x.shape[1:3], pool_size, strides, padding)
    x_nchw = _nchw(torch, tx)
    if mode == "max":
        ty = F.max_pool2d(_torch_pad(x_nchw, pads, -float("inf")), pool_size, strides)
    else:
        # Sum over the window divided by the number of real inputs in it (TF's "same" average).
        window_sum = F.avg_pool2d(_torch_pad(x_nchw, pads), pool_size, strides, divisor_override=1)
        real = _torch_pad(torch.ones_like(x_nchw), pads)
        ty = window_sum / F.avg_pool2d(real, pool_size, strides, divisor_override=1)
    ty.backward(torch.tensor(dy).permute(0, 3, 1, 2))
    tol = TORCH_TOL[dtype]
    np.testing.assert_allclose(y, _nhwc_numpy(ty), **tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol)
