"""Conv2D, its ReLU, and the MaxPooling2D that reads it, as one step.

Max and ReLU commute, max(relu(a), relu(b)) == relu(max(a, b)), and the first maximum of the
ReLU'd window is the first maximum of the window wherever the gradient is not zero. So the ReLU
can run after the pooling, on the pooled values only (a quarter of them for 2x2 windows), and its
derivative mask too. Every Conv2D -> MaxPooling2D pair gets that; where the pooling's windows tile
the convolution's output (stride == pool size, "valid", no remainder), the im2col matrix is kept,
and Winograd's path would not be taken, the pooling also folds into the product's row order:

The im2col matrix's rows can come in any order: the forward product computes each row's output
independently, and the weight gradient ``cols.T @ dZ`` sums over rows. Here they are ordered by
the position inside the pooling window first, ``(pi, pj, n, yq, xq)``, so the product gives the
ph*pw candidates of every pooled output as ph*pw contiguous blocks::

    Z = cols @ W  ->  (ph*pw, N*Hq*Wq, C_out);   y = max over the first axis  ->  (N, Hq, Wq, C_out)

The maximum of contiguous blocks is a plain elementwise step (no strided windows), and the
convolution's full-size output is never laid out as an image. The result is the three layers'
result; only float rounding can differ, because OpenBLAS' sums for a row depend on the matrix it
sits in (measured: up to 2e-6 on LeNet's conv1 outputs) and the weight gradient adds its rows in
another order.

In LeNet's training step (conv1, its ReLU and pool1: 1 input channel, 24x24x32 before pooling)
this took the three layers from 5.0 ms forward and 6.6 ms backward to 3.5 and 2.2 ms.

Backward routes dY to the window's first maximum (zero where the ReLU cut it), block by block,
then ``dW = cols.T @ dZ`` in the same row order. The input gradient needs dZ as an image: it is
put back into NHWC order and handed to the convolution's own input gradient.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import conv, parallel
from .conv import _geometry, _input_gradient, _pair, _winograd_applies
from .conv import conv2d_backward, conv2d_forward
from .padding import conv_output_size, pad2d
from .pool import _index_dtype, _running_argmax, _split_by_index, pool2d_backward, pool2d_forward


def window_major_applies(x_shape, kernel_shape, strides, padding, pool):
    """Whether :func:`conv2d_maxpool_forward` orders im2col's rows by window position for a
    convolution of an ``x_shape`` input whose output a ``pool``-sized max pooling (stride == pool,
    "valid") reads: the windows tile the output exactly, the im2col matrix is small enough to keep
    (conv.KEEP_COLS_BYTES), and the convolution would not take Winograd's faster path."""
    kh, kw, c_in, _ = kernel_shape
    ho, wo = (conv_output_size(size, k, s, padding) for size, k, s in zip(x_shape[1:3], (kh, kw), strides))
    rows = x_shape[0] * ho * wo
    return (ho % pool[0] == 0 and wo % pool[1] == 0 and rows * (kh * kw * c_in + 1) * 4 <= conv.KEEP_COLS_BYTES
            and not _winograd_applies(kernel_shape, tuple(strides)))


def _window_major_view(xp, kernel_hw, strides, pool, pooled_hw, transposed):
    """Every convolution window of the padded ``xp``, rows ordered (pi, pj, n, yq, xq):
    ``view[pi, pj, n, yq, xq, i, j, c] == xp[n, (yq*ph + pi)*sh + i, (xq*pw + pj)*sw + j, c]``.
    ``transposed`` (one input channel): ``(i, j, pi, pj, n, yq, xq)``, channel dropped."""
    (kh, kw), (sh, sw), (ph, pw), (hq, wq) = kernel_hw, strides, pool, pooled_hw
    s_n, s_h, s_w, s_c = xp.strides
    shape = [ph, pw, xp.shape[0], hq, wq, kh, kw, xp.shape[3]]
    steps = [sh * s_h, sw * s_w, s_n, ph * sh * s_h, pw * sw * s_w, s_h, s_w, s_c]
    if transposed:
        shape, steps = shape[5:7] + shape[:5], steps[5:7] + steps[:5]
    return as_strided(xp, shape, steps, writeable=False)


def conv2d_maxpool_forward(x, kernel, bias, strides, padding, pooling, relu, keep_argmax):
    """``maxpool(relu(conv2d(x)))`` (``relu=False``: no ReLU); ``pooling`` is the max pooling's
    ``(pool_size, strides, padding)``. Returns ``(y, cache)``; ``keep_argmax=False`` (inference)
    keeps nothing a backward pass needs."""
    pool, pool_strides, pool_padding = (_pair(pooling[0], "pool_size"), _pair(pooling[1], "strides"), pooling[2])
    strides = _pair(strides, "strides")
    if pool_strides == pool and pool_padding == "valid" and window_major_applies(x.shape, kernel.shape, strides,
                                                                                 padding, pool):
        return _window_major_forward(x, kernel, bias, strides, padding, pool, relu, keep_argmax)
    z, conv_cache = conv2d_forward(x, kernel, bias, strides, padding)
    y, pool_cache = pool2d_forward(z, pool, pool_strides, pool_padding, "max", keep_argmax=keep_argmax)
    if relu:
        parallel.ufunc(np.maximum, y, y.dtype.type(0), out=y)
    return y, {"conv": conv_cache, "pool": pool_cache, "relu": relu, "y": y, "argmax": keep_argmax or None}


def _window_major_forward(x, kernel, bias, strides, padding, pool, relu, keep_argmax):
    (sh, sw), pads, (ho, wo) = _geometry(x, kernel, strides, padding, "conv2d")
    kh, kw, c_in, c_out = kernel.shape
    ph, pw = pool
    n, hq, wq = x.shape[0], ho // ph, wo // pw
    rows, k = n * ho * wo, kh * kw * c_in
    windows = _window_major_view(pad2d(x, pads), (kh, kw), (sh, sw), pool, (hq, wq), transposed=c_in == 1)
    weights = kernel.reshape(k, c_out)
    ones = bias is not None  # the bias rides in the product as a column of ones (see ops/conv.py)
    if ones:
        weights = np.concatenate([weights, bias.reshape(1, c_out).astype(weights.dtype)])
    if c_in == 1:  # im2col transposed, (k [+1], rows): one channel's rows would be k scattered floats
        cols_t = np.empty((k + ones, rows), dtype=x.dtype)
        parallel.copy(cols_t[:k].reshape(windows.shape), windows)
        cols_t[k:] = 1
        z = cols_t.T @ weights
    else:
        cols_t = np.empty((rows, k + ones), dtype=x.dtype)
        cols_t[:, k:] = 1
        parallel.copy(cols_t[:, :k].reshape(windows.shape), windows)
        z = cols_t @ weights
        cols_t = cols_t.T  # a view: dW = cols.T @ dZ either way
    candidates = z.reshape(ph * pw, n * hq * wq, c_out)
    y = np.empty(candidates.shape[1:], dtype=z.dtype)
    argmax = np.empty(y.shape, dtype=_index_dtype(ph * pw)) if keep_argmax else None

    def block(r0, r1):
        _running_argmax(candidates[:, r0:r1], 0, ph * pw, y[r0:r1], None if argmax is None else argmax[r0:r1])
        if relu:
            np.maximum(y[r0:r1], 0, out=y[r0:r1])

    parallel.for_blocks(block, y.shape[0], z.nbytes)
    cache = {"kernel": kernel, "cols_t": cols_t, "bias_in_cols": ones, "argmax": argmax, "relu": relu, "y": y,
             "pool": (ph, pw), "x_shape": x.shape, "pads": pads, "strides": (sh, sw), "out_nhw": (n, ho, wo)}
    return y.reshape(n, hq, wq, c_out), cache


def conv2d_maxpool_backward(dy, cache, compute_dx=True):
    """``(dx, dkernel, dbias)`` of :func:`conv2d_maxpool_forward` for the upstream ``dy``."""
    if cache["argmax"] is None:
        raise RuntimeError("conv2d_maxpool_backward: the forward pass kept no argmax (keep_argmax=False)")
    if "conv" in cache:  # the three steps, the ReLU's mask taken on the pooled values
        if cache["relu"]:
            dy = parallel.ufunc(np.multiply, dy, cache["y"] > 0, out=np.empty_like(dy))
        return conv2d_backward(pool2d_backward(dy, cache["pool"]), cache["conv"], compute_dx)
    kernel, argmax, y = cache["kernel"], cache["argmax"], cache["y"]
    kh, kw, c_in, c_out = kernel.shape
    ph, pw = cache["pool"]
    dy = dy.reshape(y.shape)
    dz = np.empty((ph * pw,) + y.shape, dtype=np.result_type(dy, kernel))

    def block(r0, r1):
        g = dy[r0:r1]
        if cache["relu"]:
            g = g * (y[r0:r1] > 0)
        _split_by_index(g, argmax[r0:r1], ph * pw, [dz[i, r0:r1] for i in range(ph * pw)])

    parallel.for_blocks(block, y.shape[0], 2 * dz.nbytes)
    dz2d = dz.reshape(-1, c_out)
    dweights = cache["cols_t"] @ dz2d
    k = kh * kw * c_in
    dkernel = dweights[:k].reshape(kernel.shape)
    dbias = dweights[k] if cache["bias_in_cols"] else None
    if not compute_dx:
        return None, dkernel, dbias
    n, ho, wo = cache["out_nhw"]
    dz_image = np.empty((n, ho, wo, c_out), dtype=dz.dtype)
    parallel.copy(dz_image.reshape(n, ho // ph, ph, wo // pw, pw, c_out),
                  dz.reshape(ph, pw, n, ho // ph, wo // pw, c_out).transpose(2, 3, 0, 4, 1, 5))
    dx = np.empty(cache["x_shape"], dtype=dz.dtype)
    return _input_gradient(dz_image.reshape(-1, c_out), kernel, (n, ho, wo), cache["strides"], cache["pads"], dx), \
        dkernel, dbias
