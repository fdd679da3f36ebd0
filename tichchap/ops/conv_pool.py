"""Conv2D, its ReLU, and the MaxPooling2D that reads it, as one step.

Max and ReLU commute, max(relu(a), relu(b)) == relu(max(a, b)), and the first maximum of the
ReLU'd window is the first maximum of the window wherever the gradient is not zero. So the ReLU
runs after the pooling, on the pooled values only (a quarter of them for 2x2 windows), and so
does its derivative mask. Where the pooling's windows do not overlap (stride == pool size,
"valid"), the pooling also folds into the convolution, in one of these ways:

**Combined kernel.** A pooling window's ph x pw outputs read input windows that overlap: together
they read one (kh + sh*(ph-1)) x (kw + sw*(pw-1)) window. So the pair is ONE convolution with
that larger kernel, stride (sh*ph, sw*pw) and ph*pw*C_out output channels (the kernel copied to
each window position, zeros around it), followed by a max over groups of C_out channels::

    z = conv2d(x, combined kernel)  ->  (N, Hq, Wq, ph*pw*C_out);   y = max over the ph*pw groups

Its im2col matrix is a quarter of the rows with (KH*KW)/(kh*kw) times the columns: 36/100 of
the plain one for 5x5 kernels, 16/36 for 3x3. It costs that growth in multiplications (1.44x,
1.78x) in wider products (ph*pw*C_out columns), which pays where im2col's copy is the cost: few
input channels, enough outputs (the limits below). Its backward is the combined convolution's
own: the weight gradient summed over the window positions, and the input gradient (channel-major
at stride 2, see ops/conv.py) written straight into dX.

**Window-major rows**, for 1x1 kernels (growth 4x) and small layers: the im2col matrix's rows can
come in any order, since each row's output is computed alone and ``cols.T @ dZ`` sums over rows.
Ordered by the position inside the pooling window first, ``(pi, pj, n, yq, xq)``, the product
gives the ph*pw candidates of every pooled output as contiguous blocks: ``(ph*pw, N*Hq*Wq,
C_out)``. The input gradient is the plain convolution's, from dZ laid out as an image.

**In Winograd's output tiles**, for a layer Winograd's path takes (ops/winograd.py) whose output
is whole m x m tiles that the pooling windows tile (m = 4 for 5x5 kernels, 6 for 3x3): the
tiles come out of the output transform as (m, m, N, Ty, Tx, C), which is ONE m x m image of
N*Ty*Tx*C channels to the tiled max pooling of ops/pool.py. Only the pooled quarter is then put
in NHWC order, and backward routes dY into the tiles that the input and weight gradients spread
(no NHWC dZ, no gathering it into tiles). LeNet's conv2 + pool2, alternating in one process
against the two layers: inference step 5.83 -> 5.65 ms, training 18.57 -> 18.14 (27 and 24 of
30 pairs of windows faster).

**A one-channel input** (a network's first layer on grey images) takes the combined kernel with
im2col's rows in (y, x, n) order: the input copied once to (H, W, N), each kernel tap's slice
then copies runs of N floats instead of a row's few (LeNet's conv1: 0.25 -> 0.10 ms). The product
and the max over groups come out in that order too, and the pooled output is handed on as what it
is: an NHWC-shaped view of (H, W, N, C) memory (ops/conv.py's ``is_images_inner``), which every
NumPy operation reads as any other array. A Winograd convolution reading it gives its input
gradient back in the same layout, so the backward routing reads dY in order. LeNet, alternating
in one process against (n, y, x) rows and NHWC memory: training step 0.959 / 0.962 (24 and 25 of
30 pairs of windows faster), inference 0.967 / 0.978.

Anything else (overlapping or padded pooling windows, a Winograd layer whose output is not whole
tiles, the channel-major path of ops/conv.py) runs the convolution and the pooling as they are,
with the ReLU moved. A channel-major convolution's output is pooled as C*N planes (ops/pool.py),
in memory order. The combined kernel on that path measured 46 -> 38 ms forward (before its
argmax) and 87 -> 77 backward at food_net's 112x112 8 -> 8, but 50 -> 58 backward at 56x56
16 -> 16: about 5 % of a food_net step at best, for a second channel-major pooling path, so it is
not taken there.

Measured, forward / backward ms, against the layers run one by one (one-off A/B timings):
LeNet's conv1 + pool1 5.0 / 6.6 -> 3.5 / 2.2 with window-major rows, and combined 1.1x faster
than window-major forward (equal backward); small_cnn's conv2 1.41 -> 0.97 forward (combined
against window-major); food_net's 112x112 8 -> 8 layer 24.4 / 48.9 -> 20.0 / 45.5 (combined
against the layers one by one, 32 images).

The result is the three layers' result up to float rounding: OpenBLAS' sums for a row depend on
the matrix the row sits in (up to 2e-6 on LeNet's conv1 outputs), and the gradients add the same
products in another order.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import conv, parallel, winograd
from .conv import (
    _column_sums,
    _geometry,
    _input_gradient,
    _pair,
    _weights_with_bias,
    _winograd_applies,
    conv2d_backward,
    conv2d_forward,
)
from .padding import conv_output_size, pad2d
from .pool import (
    _index_dtype,
    _running_argmax,
    _split_by_index,
    pool2d_backward,
    pool2d_forward,
)

# The combined kernel is taken while it has at most this many times the original's taps: 5x5 and
# 3x3 kernels under 2x2 pooling (1.44x, 1.78x) were faster, 1x1 (4x) 2.2x slower than window-major.
# And for few input channels, where im2col's copy is what costs: at 32 channels it was no faster
# (16x16, 32 -> 32: 8.5 / 8.7 ms), and LeNet's conv2 at batch 1 took 2x longer, mostly building
# its 6x6x32x256 combined kernel. And for enough pooled outputs (N*Hq*Wq) to amortise building
# the kernel: LeNet's conv1 at batch 1 (144 outputs) took 0.27 ms against 0.23 window-major.
COMBINED_MAX_GROWTH = 2
COMBINED_MAX_C_IN = 16
COMBINED_MIN_OUTPUTS = 1024

# A Winograd convolution whose m x m output tiles hold whole pooling windows is pooled in its
# tiles, before they are put in place ("winograd"); False: as two layers (for benchmarks/bench_paths.py).
POOL_IN_WINOGRAD_TILES = True

# A one-channel input's combined convolution computes its rows in (y, x, n) order and returns the
# pooled output as an images-inner view (ops/conv.py's ``is_images_inner``); False: (n, y, x)
# order and NHWC memory (for benchmarks/bench_paths.py).
IMAGES_INNER_ONE_CHANNEL = True

# On one thread (a part of a split batch, ops/parallel.py), a one-channel combined product is
# computed this many bytes at a time, each piece maxed over its groups while still in the cache.
PRODUCT_PIECE_BYTES = 1 << 20


def method(x_shape, kernel_shape, strides, padding, pooling):
    """How :func:`conv2d_maxpool_forward` computes a convolution of an ``x_shape`` input with
    ``kernel_shape`` (kh, kw, C_in, C_out), read by a max pooling ``(pool_size, strides, padding)``:
    "combined", "window_major", "winograd" or "layers" (one after the other, the ReLU moved)."""
    (kh, kw, c_in, _), (sh, sw) = kernel_shape, _pair(strides, "strides")
    pool, pool_strides, pool_padding = _pair(pooling[0], "pool_size"), _pair(pooling[1], "strides"), pooling[2]
    (ph, pw) = pool
    ho, wo = (conv_output_size(size, k, s, padding) for size, k, s in zip(x_shape[1:3], (kh, kw), (sh, sw)))
    if pool_strides != pool or pool_padding != "valid":
        return "layers"
    if _winograd_applies(kernel_shape, (sh, sw), x_shape[0] * ho * wo):
        m = winograd.TILE + 1 - kh
        whole_tiles = ho % m == 0 and wo % m == 0 and m % ph == 0 and m % pw == 0
        return "winograd" if whole_tiles and POOL_IN_WINOGRAD_TILES else "layers"
    if conv._channel_major_applies(kernel_shape, x_shape[0] * ho * wo, 4):
        return "layers"
    growth = (kh + sh * (ph - 1)) * (kw + sw * (pw - 1)) / (kh * kw)
    if (c_in <= COMBINED_MAX_C_IN and growth <= COMBINED_MAX_GROWTH
            and x_shape[0] * (ho // ph) * (wo // pw) >= COMBINED_MIN_OUTPUTS):
        return "combined"
    if ho % ph == 0 and wo % pw == 0 and x_shape[0] * ho * wo * (kh * kw * c_in + 1) * 4 <= conv.KEEP_COLS_BYTES:
        return "window_major"
    return "layers"


def conv2d_maxpool_forward(x, kernel, bias, strides, padding, pooling, relu, keep_argmax):
    """``maxpool(relu(conv2d(x)))`` (``relu=False``: no ReLU); ``pooling`` is the max pooling's
    ``(pool_size, strides, padding)``. Returns ``(y, cache)``; ``keep_argmax=False`` (inference)
    keeps nothing a backward pass needs."""
    how = method(x.shape, kernel.shape, strides, padding, pooling)
    if how == "winograd":
        return _winograd_pooled_forward(x, kernel, bias, strides, padding, pooling, relu, keep_argmax)
    if how == "layers":
        z, conv_cache = conv2d_forward(x, kernel, bias, strides, padding)
        y, pool_cache = pool2d_forward(z, pooling[0], pooling[1], pooling[2], "max", keep_argmax=keep_argmax)
        if relu:
            parallel.ufunc(np.maximum, y, y.dtype.type(0), out=y)
        return y, {"method": how, "conv": conv_cache, "pool": pool_cache, "relu": relu, "y": y,
                   "keep_argmax": keep_argmax}
    (sh, sw), pads, (ho, wo) = _geometry(x, kernel, strides, padding, "conv2d")
    pool = _pair(pooling[0], "pool_size")
    cache = {"method": how, "kernel": kernel, "strides": (sh, sw), "pads": pads, "pool": pool, "relu": relu,
             "x_shape": x.shape, "out_nhw": (x.shape[0], ho, wo), "keep_argmax": keep_argmax}
    if how == "combined":
        combined, combined_bias = _combined_kernel(kernel, bias, (sh, sw), pool)
        z, cache["conv"] = conv2d_forward(x, combined, combined_bias, (sh * pool[0], sw * pool[1]), pads,
                                          images_inner=IMAGES_INNER_ONE_CHANNEL, product=not parallel.runs_inline())
        # A one-channel input's product comes with its rows in (y, x, n) order (ops/conv.py's
        # images-inner rows), and the pooled output then as an images-inner view too.
        cache["rows_images_inner"] = cache["conv"].get("rows_images_inner", False)
        if z is None:  # on one thread, the product a piece at a time, each maxed while in cache
            cache["y"], cache["argmax"] = _max_over_product_pieces(
                cache["conv"]["cols_t"], _weights_with_bias(combined, combined_bias), pool, relu, keep_argmax)
        else:
            rows = z.transpose(1, 2, 0, 3) if cache["rows_images_inner"] else z
            candidates = rows.reshape(-1, pool[0] * pool[1], kernel.shape[3])
            cache["y"], cache["argmax"] = _max_over_groups(candidates, 1, relu, keep_argmax)
    else:
        z = _window_major_product(x, kernel, bias, cache)
        candidates = z.reshape(pool[0] * pool[1], -1, kernel.shape[3])
        cache["y"], cache["argmax"] = _max_over_groups(candidates, 0, relu, keep_argmax)
    n, hq, wq = x.shape[0], ho // pool[0], wo // pool[1]
    if cache.get("rows_images_inner"):
        return cache["y"].reshape(hq, wq, n, kernel.shape[3]).transpose(2, 0, 1, 3), cache
    return cache["y"].reshape(n, hq, wq, kernel.shape[3]), cache


def conv2d_maxpool_backward(dy, cache, compute_dx=True):
    """``(dx, dkernel, dbias)`` of :func:`conv2d_maxpool_forward` for the upstream ``dy``."""
    if not cache["keep_argmax"]:
        raise RuntimeError("conv2d_maxpool_backward: the forward pass kept no argmax (keep_argmax=False)")
    if cache["method"] == "winograd":
        return _winograd_pooled_backward(dy, cache, compute_dx)
    if cache["method"] == "layers":
        if cache["relu"]:
            dy = parallel.ufunc(np.multiply, dy, cache["y"] > 0, out=np.empty_like(dy))
        return conv2d_backward(pool2d_backward(dy, cache["pool"]), cache["conv"], compute_dx)
    kernel, (ph, pw) = cache["kernel"], cache["pool"]
    kh, kw, c_in, c_out = kernel.shape
    n, ho, wo = cache["out_nhw"]
    hq, wq = ho // ph, wo // pw
    rows = n * hq * wq
    if cache["method"] == "combined":
        # The combined convolution's own backward, its weight gradient summed over the positions.
        dy_rows = dy.transpose(1, 2, 0, 3) if cache["rows_images_inner"] else dy
        dz = _route_to_maxima(dy_rows, cache, np.empty((rows, ph * pw, c_out), dtype=dy.dtype), 1)
        dz_image = (dz.reshape(hq, wq, n, -1).transpose(2, 0, 1, 3) if cache["rows_images_inner"]
                    else dz.reshape(n, hq, wq, -1))
        dx, d_combined, d_combined_bias = conv2d_backward(dz_image, cache["conv"], compute_dx)
        d_combined = d_combined.reshape(d_combined.shape[:3] + (ph, pw, c_out))
        (sh, sw) = cache["strides"]
        dkernel = np.zeros(kernel.shape, dtype=d_combined.dtype)
        for pi in range(ph):
            for pj in range(pw):
                dkernel += d_combined[pi * sh : pi * sh + kh, pj * sw : pj * sw + kw, :, pi, pj]
        dbias = None if d_combined_bias is None else d_combined_bias.reshape(ph * pw, c_out).sum(axis=0)
        return dx, dkernel, dbias
    dz = _route_to_maxima(dy, cache, np.empty((ph * pw, rows, c_out), dtype=dy.dtype), 0)
    dweights = cache["cols_t"] @ dz.reshape(-1, c_out)
    k = kh * kw * c_in
    dkernel = dweights[:k].reshape(kernel.shape)
    dbias = dweights[k] if cache["bias_in_cols"] else None
    if not compute_dx:
        return None, dkernel, dbias
    # The plain convolution's input gradient, from dZ as an image (zero where the pooling left rows
    # or columns over). Window-major layers keep their im2col matrix, so this fits at once too.
    dz_image = (np.zeros if (hq * ph, wq * pw) != (ho, wo) else np.empty)((n, ho, wo, c_out), dtype=dz.dtype)
    parallel.copy(dz_image[:, : hq * ph, : wq * pw].reshape(n, hq, ph, wq, pw, c_out),
                  dz.reshape(ph, pw, n, hq, wq, c_out).transpose(2, 3, 0, 4, 1, 5))
    dx = np.empty(cache["x_shape"], dtype=dz.dtype)
    return _input_gradient(dz_image, kernel, cache["strides"], cache["pads"], dx), \
        dkernel, dbias


def _winograd_pooled_forward(x, kernel, bias, strides, padding, pooling, relu, keep_argmax):
    """The "winograd" method: the max pooling taken on Winograd's output tiles, (m, m, N, Ty, Tx,
    C) as it computes them (ops/winograd.py), pooled as ONE m x m image of N*Ty*Tx*C channels
    (the windows tile it, since the pool divides m). Only the pooled quarter is put in place:
    no pass that puts the whole output in NHWC order, and the backward pass routes dY straight
    into the tiles that spread it."""
    _, pads, (ho, wo) = _geometry(x, kernel, strides, padding, "conv2d")
    conv_cache = {"kernel": kernel, "x_shape": x.shape, "pads": pads, "out_shape": (x.shape[0], ho, wo, kernel.shape[3]),
                  "dx_images_inner": conv.is_images_inner(x)}
    m = winograd.TILE + 1 - kernel.shape[0]
    conv_cache["winograd_tiles"] = winograd.input_tiles(pad2d(x, pads), m, ho, wo)
    tiles = winograd.correlate_tiles(conv_cache["winograd_tiles"], kernel, bias, (x.shape[0], ho, wo))
    pool = _pair(pooling[0], "pool_size")
    pooled, pool_cache = pool2d_forward(tiles.reshape(1, m, m, -1), pool, pool, "valid", "max", keep_argmax)
    y = np.empty((x.shape[0], ho // pool[0], wo // pool[1], kernel.shape[3]), dtype=pooled.dtype)
    in_place = _pooled_tiles_in_place(y, m // pool[0], m // pool[1])
    pooled = pooled.reshape(in_place.shape)
    if relu:
        np.maximum(pooled, pooled.dtype.type(0), out=in_place)
    else:
        np.copyto(in_place, pooled)
    cache = {"method": "winograd", "conv": conv_cache, "pool": pool_cache, "relu": relu, "y": y,
             "keep_argmax": keep_argmax, "has_bias": bias is not None}
    return y, cache


def _pooled_tiles_in_place(y, mq_h, mq_w):
    """NHWC ``y`` (N, Ty*mq_h, Tx*mq_w, C) viewed as its pooled tiles, (mq_h, mq_w, N, Ty, Tx, C)."""
    n, h, w, c = y.shape
    return y.reshape(n, h // mq_h, mq_h, w // mq_w, mq_w, c).transpose(2, 4, 0, 1, 3, 5)


def _winograd_pooled_backward(dy, cache, compute_dx):
    """:func:`_winograd_pooled_forward`'s backward: dY (masked by the ReLU) into the pooled tiles'
    layout, routed to each window's maximum in the m x m tiles, and those spread as
    :func:`winograd.output_gradient_tiles` spreads dY's tiles."""
    conv_cache = cache["conv"]
    m = winograd.TILE + 1 - conv_cache["kernel"].shape[0]
    if cache["relu"]:
        dy = dy * (cache["y"] > 0)
    (ph, pw), (n, ho, wo, c) = cache["pool"]["pool"], conv_cache["out_shape"]
    dy_tiles = np.empty((m // ph, m // pw, n, ho // m, wo // m, c), dtype=dy.dtype)
    np.copyto(dy_tiles, _pooled_tiles_in_place(dy, m // ph, m // pw))
    dz_tiles = pool2d_backward(dy_tiles.reshape(1, m // ph, m // pw, -1), cache["pool"])
    spread = winograd.spread_tiles(dz_tiles.reshape(m, m, n, ho // m, wo // m, c), conv_cache["kernel"].shape[0])
    # Each dY reaches exactly one output, so dY's sums are the output gradient's.
    dbias = _column_sums(dy.reshape(-1, c)) if cache["has_bias"] else None
    return conv._conv2d_winograd_backward(spread, dbias, conv_cache, compute_dx)


def _combined_kernel(kernel, bias, strides, pool):
    """The (kh + sh*(ph-1), kw + sw*(pw-1), C_in, ph*pw*C_out) kernel whose output channel group
    (pi, pj) is ``kernel`` placed at (pi*sh, pj*sw), and the bias repeated for every group."""
    (kh, kw, c_in, c_out), (sh, sw), (ph, pw) = kernel.shape, strides, pool
    combined = np.zeros((kh + sh * (ph - 1), kw + sw * (pw - 1), c_in, ph, pw, c_out), dtype=kernel.dtype)
    for pi in range(ph):
        for pj in range(pw):
            combined[pi * sh : pi * sh + kh, pj * sw : pj * sw + kw, :, pi, pj] = kernel
    combined_bias = None if bias is None else np.tile(bias.astype(kernel.dtype, copy=False), ph * pw)
    return combined.reshape(combined.shape[:3] + (ph * pw * c_out,)), combined_bias


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


def _window_major_product(x, kernel, bias, cache):
    """``cols @ W`` with im2col's rows in window-major order, (ph*pw*N*Hq*Wq, C_out); keeps the
    (transposed) matrix in ``cache`` for the weight gradient."""
    kh, kw, c_in, _ = kernel.shape
    (ph, pw), (n, ho, wo) = cache["pool"], cache["out_nhw"]
    rows, k = n * ho * wo, kh * kw * c_in
    windows = _window_major_view(pad2d(x, cache["pads"]), (kh, kw), cache["strides"], (ph, pw), (ho // ph, wo // pw),
                                 transposed=c_in == 1)
    weights = _weights_with_bias(kernel, bias)
    ones = bias is not None  # the bias rides in the product as a column of ones
    if c_in == 1:  # im2col transposed, (k [+1], rows): one channel's rows would be k scattered floats
        cols_t = np.empty((k + ones, rows), dtype=x.dtype)
        parallel.copy(cols_t[:k].reshape(windows.shape), windows)
        cols_t[k:] = 1
        z = cols_t.T @ weights
    else:
        cols = np.empty((rows, k + ones), dtype=x.dtype)
        cols[:, k:] = 1
        parallel.copy(cols[:, :k].reshape(windows.shape), windows)
        z = cols @ weights
        cols_t = cols.T  # a view: dW = cols.T @ dZ either way
    cache["cols_t"], cache["bias_in_cols"] = cols_t, ones
    return z


def _max_over_groups(candidates, group_axis, relu, keep_argmax):
    """The maximum over the ``group_axis`` (0 or 1) of (groups, rows, C) or (rows, groups, C)
    ``candidates``, the ReLU after it, and the index of each first maximum: ``(y, argmax)``."""
    groups, rows = candidates.shape[group_axis], candidates.shape[1 - group_axis]
    y = np.empty((rows, candidates.shape[2]), dtype=candidates.dtype)
    argmax = np.empty(y.shape, dtype=_index_dtype(groups)) if keep_argmax else None

    def block(r0, r1):
        part = candidates[:, r0:r1] if group_axis == 0 else candidates[r0:r1]
        _max_rows(part, group_axis, y, argmax, r0, r1, relu)

    parallel.for_blocks(block, rows, candidates.nbytes)
    return y, argmax


def _max_rows(candidates, group_axis, y, argmax, r0, r1, relu):
    """Rows r0..r1 of :func:`_max_over_groups`' ``y`` (and ``argmax``) from their
    ``candidates``, the ReLU after the max."""
    part_argmax = None if argmax is None else argmax[r0:r1]
    _running_argmax(candidates, group_axis, candidates.shape[group_axis], y[r0:r1], part_argmax)
    if relu:
        np.maximum(y[r0:r1], 0, out=y[r0:r1])


def _max_over_product_pieces(cols_t, weights, pool, relu, keep_argmax):
    """:func:`_max_over_groups` of the combined product ``cols_t.T @ weights``, computed
    :data:`PRODUCT_PIECE_BYTES` at a time into one buffer, each piece maxed while still in
    the cache."""
    rows, groups = cols_t.shape[1], pool[0] * pool[1]
    c_out = weights.shape[1] // groups
    y = np.empty((rows, c_out), dtype=np.result_type(cols_t, weights))
    argmax = np.empty(y.shape, dtype=_index_dtype(groups)) if keep_argmax else None
    pieces = parallel.blocks(rows, -(-rows * weights.shape[1] * y.itemsize // PRODUCT_PIECE_BYTES))
    buffer = np.empty((pieces[0][1], weights.shape[1]), dtype=y.dtype)
    for r0, r1 in pieces:
        z = np.matmul(cols_t[:, r0:r1].T, weights, out=buffer[: r1 - r0])
        _max_rows(z.reshape(-1, groups, c_out), 1, y, argmax, r0, r1, relu)
    return y, argmax


def _route_to_maxima(dy, cache, dz, group_axis):
    """Fill ``dz`` (laid out as the forward pass' candidates) with ``dy`` at each window's first
    maximum and 0 elsewhere, and 0 where the ReLU cut the output."""
    y, argmax = cache["y"], cache["argmax"]
    dy = dy.reshape(y.shape)
    groups = dz.shape[group_axis]

    def block(r0, r1):
        g = dy[r0:r1] * (y[r0:r1] > 0) if cache["relu"] else dy[r0:r1]
        outs = [dz[i, r0:r1] if group_axis == 0 else dz[r0:r1, i] for i in range(groups)]
        _split_by_index(g, argmax[r0:r1], groups, outs)

    parallel.for_blocks(block, y.shape[0], 2 * dz.nbytes)
    return dz
