"""2-D max and average pooling on NHWC arrays, with Keras/TF semantics.

``x`` is (N, H, W, C); ``y`` is (N, Ho, Wo, C) with ``Ho, Wo`` from
:func:`tichchap.ops.padding.conv_output_size`.

* ``"max"``: with ``padding="same"`` the border is padded with ``-inf``, so padding never wins.
  Backward sends each output's gradient to ONE input: the window's maximum; where several inputs
  tie for the maximum, the first in the window's row-major order (smallest i, then smallest j) gets
  it -- the rule ``np.argmax`` uses.
* ``"avg"``: each output is the mean of the REAL (non-padded) inputs in its window -- with
  ``padding="same"`` a border window is divided by the number of real inputs it covers
  (TensorFlow's rule; PyTorch's ``count_include_pad=False``).

Both run as one vectorised step per pool-window offset (i, j): a strided slice of the input
holding, for every output position, the input at offset (i, j) of its window. No Python loop over
images, pixels or channels.

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
>>> y, cache = pool2d_forward(x, (2, 2), (2, 2), "valid", "max")
>>> y[0, :, :, 0].tolist()
[[5.0, 7.0], [13.0, 15.0]]
"""

import sys

import numpy as np

from ..errors import ConfigError, ShapeError
from . import parallel
from .conv import _crop, _pair, channel_major, is_channel_major
from .padding import conv_output_size, pad2d, resolve_padding

POOL_MODES = ("max", "avg")


def _window_slice(i, j, sh, sw, ho, wo):
    """Index of the inputs at offset (i, j) of every window: shape (N, Ho, Wo, C) when applied."""
    return (slice(None), slice(i, i + sh * ho, sh), slice(j, j + sw * wo, sw), slice(None))


def _real_counts(in_size, k, s, out, before):
    """How many real (non-padded) inputs each window covers along one axis: shape (out,)."""
    starts = np.arange(out) * s - before
    return np.minimum(starts + k, in_size) - np.maximum(starts, 0)


def _index_dtype(count):
    return np.uint8 if count <= 256 else np.int32


def _running_argmax(x, axis, count, best, index):
    """Max over ``axis`` (of length ``count``) into ``best`` and, when ``index`` is not None, the
    index of the FIRST maximum into ``index`` (both shaped as ``x`` without that axis). Works on
    strided slices, one vectorised step per position along ``axis``."""
    def at(k):
        take = [slice(None)] * x.ndim
        take[axis] = k
        return x[tuple(take)]

    if index is None:  # the maxima only: the first two candidates in one step, no copy
        if count == 1:
            np.copyto(best, at(0))
        else:
            np.maximum(at(0), at(1), out=best)
        for k in range(2, count):
            np.maximum(best, at(k), out=best)
        return best
    np.copyto(best, at(0))
    index[...] = 0
    better = np.empty(best.shape, dtype=bool)
    for k in range(1, count):
        candidate = at(k)
        np.greater(candidate, best, out=better)  # strict: a tie keeps the earlier index
        _set_index_where(index, better, k)
        np.maximum(best, candidate, out=best)
    return best


def _set_index_where(index, better, k):
    """``index[better] = k``, given every entry of ``index`` is < k (np.copyto(where=) is 10x slower)."""
    if k == 1:
        np.logical_or(index, better, out=index, casting="unsafe")
    else:
        np.maximum(index, better * index.dtype.type(k), out=index)


def _max_pool_tiled(x, cache, keep_argmax):
    """Max pooling whose windows tile the input exactly (stride == pool, no padding, no remainder).

    Reshaping (N, H, W, C) to (N, Ho, ph, Wo, pw, C) puts each window on axes 2 and 4. The max is
    taken in two stages: over the pw columns of each window row (``col_index`` remembers which),
    then over the ph row maxima (``row_index``). The first maximum in row-major order wins: the
    earliest row holding the window's maximum, and the earliest column within that row.
    Without ``keep_argmax`` only the maxima are computed (inference).
    """
    ph, pw = cache["pool"]
    n, h, w, c = x.shape
    ho, wo = h // ph, w // pw
    y = np.empty((n, ho, wo, c), dtype=x.dtype)
    row_index = np.empty(y.shape, dtype=_index_dtype(ph)) if keep_argmax else None
    col_index = np.empty((n, h, wo, c), dtype=_index_dtype(pw)) if keep_argmax else None

    def block(r0, r1):  # output rows r0..r1 (blocks of rows, not images: batch 1 splits too)
        rows = (r1 - r0) * ph
        row_max = np.empty((n, rows, wo, c), dtype=x.dtype)
        _running_argmax(x[:, r0 * ph : r1 * ph].reshape(n, rows, wo, pw, c), 3, pw, row_max,
                        None if col_index is None else col_index[:, r0 * ph : r1 * ph])
        _running_argmax(row_max.reshape(n, r1 - r0, ph, wo, c), 2, ph, y[:, r0:r1],
                        None if row_index is None else row_index[:, r0:r1])

    parallel.for_blocks(block, ho, 2 * x.nbytes)
    cache["tiled"] = True
    if keep_argmax:
        cache["row_index"] = row_index
        cache["col_index"] = col_index.reshape(n, ho, ph, wo, c)
    else:
        cache["x"] = x  # backward after an inference pass finds the maxima again
    return y, cache


def _split_by_index(g, index, count, outs):
    """Write ``g * (index == k)`` into ``outs[k]`` for k < count: ``g`` routed by ``index``."""
    if count == 2:
        # index is 0 or 1: g * index, and g minus that (no comparisons, no boolean temporaries).
        np.multiply(g, index, out=outs[1])
        np.subtract(g, outs[1], out=outs[0])
    else:
        for k in range(count):
            np.multiply(g, index == k, out=outs[k])


def _max_pool_tiled_backward(dy, cache):
    ph, pw = cache["pool"]
    n, h, w, c = cache["x_shape"]
    ho, wo = h // ph, w // pw
    if "row_index" not in cache:
        _max_pool_tiled(cache.pop("x"), cache, keep_argmax=True)
    row_index, col_index = cache["row_index"], cache["col_index"]
    dx = np.empty((n, ho, ph, wo, pw, c), dtype=dy.dtype)  # every element is written below
    if (c, pw, dx.dtype) == (1, 2, np.float32):
        return _max_pool_pairs_backward(dy, row_index, col_index, dx).reshape(n, h, w, c)

    def block(r0, r1):
        g, rows, cols, d = dy[:, r0:r1], row_index[:, r0:r1], col_index[:, r0:r1], dx[:, r0:r1]
        dy_rows = np.empty((ph, *g.shape), dtype=dy.dtype)
        _split_by_index(g, rows, ph, dy_rows)  # dy_rows[i]: dy where the max is in window row i
        for i in range(ph):
            _split_by_index(dy_rows[i], cols[:, :, i], pw, [d[:, :, i, :, j] for j in range(pw)])

    parallel.for_blocks(block, ho, 2 * dx.nbytes)
    return dx.reshape(n, h, w, c)


# Which of a pair of float32s in one uint64 its higher 32 bits hold: the second on a
# little-endian machine.
_SECOND_OF_PAIR_IS_HIGH = sys.byteorder == "little"


def _max_pool_pairs_backward(dy, row_index, col_index, dx):
    """The tiled max pooling's backward for one channel of float32 (the C*N planes a channel-major
    input is pooled as) and windows two columns wide: each window row's two inputs are adjacent,
    ONE uint64. dY's bits go into place by a single shift per window row: by 0 or 32 bits to the
    maximum's column, or by 64 or more (to nothing: NumPy's shifts past the width give 0) in the
    rows that do not hold it. One pass of contiguous 8-byte writes per window row, where the
    general path writes every other float twice; bit-exact, its zeros +0.0."""
    n, ho, ph, wo = dx.shape[:4]
    pairs = dx.reshape(n, ho, ph, wo * 2).view(np.uint64)  # (n, ho, ph, wo)
    bits = dy[..., 0].view(np.uint32)
    columns = col_index[..., 0] if _SECOND_OF_PAIR_IS_HIGH else 1 - col_index[..., 0]  # (n, ho, ph, wo)

    def block(r0, r1):
        for i in range(ph):
            shift = np.left_shift(columns[:, r0:r1, i], 5)  # uint8: 0 or 32
            elsewhere = np.not_equal(row_index[:, r0:r1, :, 0], i).view(np.uint8)
            shift |= np.left_shift(elsewhere, 6, out=elsewhere)  # + 64 where the maximum is in another row
            np.left_shift(bits[:, r0:r1], shift, out=pairs[:, r0:r1, i], dtype=np.uint64)

    parallel.for_blocks(block, ho, 2 * dx.nbytes)
    return dx


def _max_pool_windows(x, cache, keep_argmax):
    """Max pooling in general (any stride, "same" padding with -inf): one step per window offset."""
    ph, pw = cache["pool"]
    sh, sw = cache["strides"]
    n, ho, wo = x.shape[0], cache["out_hw"][0], cache["out_hw"][1]
    xp = pad2d(x, cache["pads"], value=-np.inf)
    y = np.empty((n, ho, wo, x.shape[3]), dtype=x.dtype)
    # Index (i*pw + j) of the window's maximum; strict '>' keeps the first of tied maxima.
    argmax = np.zeros(y.shape, dtype=_index_dtype(ph * pw)) if keep_argmax else None

    def block(r0, r1):  # output rows r0..r1
        yb = y[:, r0:r1]
        xb = xp[:, r0 * sh :]  # window row i of output row r0 + k is xb row k*sh + i
        np.copyto(yb, xb[_window_slice(0, 0, sh, sw, r1 - r0, wo)])
        better = np.empty(yb.shape, dtype=bool) if keep_argmax else None
        for i in range(ph):
            for j in range(pw):
                if i == j == 0:
                    continue
                candidate = xb[_window_slice(i, j, sh, sw, r1 - r0, wo)]
                if keep_argmax:
                    np.greater(candidate, yb, out=better)
                    _set_index_where(argmax[:, r0:r1], better, i * pw + j)
                np.maximum(yb, candidate, out=yb)

    parallel.for_blocks(block, ho, 2 * xp.nbytes)
    cache["padded_shape"] = xp.shape
    if keep_argmax:
        cache["argmax"] = argmax
    else:
        cache["x"] = x
    return y, cache


def pool2d_forward(x, pool_size, strides, padding, mode, keep_argmax=True):
    """Pooling forward pass. Returns ``(y, cache)``; pass ``cache`` to :func:`pool2d_backward`.

    ``pool_size`` and ``strides`` are ints or pairs; ``padding`` "valid" or "same"; ``mode``
    "max" or "avg". ``keep_argmax=False`` (inference) skips recording where each maximum was;
    a backward pass after it finds them again from the input.
    """
    if mode not in POOL_MODES:
        raise ConfigError(f"pool2d: unknown mode; expected one of {POOL_MODES}; received {mode!r}")
    if x.ndim != 4:
        raise ShapeError(f"pool2d: expected a 4-D NHWC input; received shape {x.shape}")
    ph, pw = _pair(pool_size, "pool_size")
    sh, sw = _pair(strides, "strides")
    n, h, w, c = x.shape
    if c > 1 and is_channel_major(x):
        # A channel-major input (a thin convolution's output) is C*N planes of one channel each:
        # pooled as such, memory is read in order, and the output is channel-major too.
        y, planes_cache = pool2d_forward(x.transpose(3, 0, 1, 2).reshape(c * n, h, w, 1), pool_size, strides, padding,
                                         mode, keep_argmax)
        return y.reshape(c, n, *y.shape[1:3]).transpose(1, 2, 3, 0), {"planes_of": x.shape, "planes": planes_cache}
    pads = resolve_padding((h, w), (ph, pw), (sh, sw), padding)
    ho = conv_output_size(h, ph, sh, padding)
    wo = conv_output_size(w, pw, sw, padding)
    cache = {
        "mode": mode,
        "x_shape": x.shape,
        "pads": pads,
        "pool": (ph, pw),
        "strides": (sh, sw),
        "out_hw": (ho, wo),
    }

    if mode == "max":
        if pads == ((0, 0), (0, 0)) and (sh, sw) == (ph, pw) and (h, w) == (ho * ph, wo * pw):
            return _max_pool_tiled(x, cache, keep_argmax)
        return _max_pool_windows(x, cache, keep_argmax)

    xp = pad2d(x, pads, value=0)
    y = np.zeros((n, ho, wo, c), dtype=x.dtype)
    for i in range(ph):
        for j in range(pw):
            y += xp[_window_slice(i, j, sh, sw, ho, wo)]
    (top, _), (left, _) = pads
    counts = np.outer(_real_counts(h, ph, sh, ho, top), _real_counts(w, pw, sw, wo, left))
    divisor = counts.astype(x.dtype)[None, :, :, None]
    y /= divisor
    cache["divisor"] = divisor
    cache["padded_shape"] = xp.shape
    return y, cache


def pool2d_backward(dy, cache):
    """Pooling backward pass: ``dx`` (N, H, W, C) for upstream gradient ``dy`` (N, Ho, Wo, C).

    Max: each ``dy`` goes to the (first) argmax of its window. Avg: each ``dy / count`` goes to
    every real input of its window. ``dy`` is never modified.
    """
    if "planes_of" in cache:  # pooled as channel planes (a channel-major input)
        n, h, w, c = cache["planes_of"]
        planes = channel_major(dy).reshape(c * n, *dy.shape[1:3], 1)
        return pool2d_backward(planes, cache["planes"]).reshape(c, n, h, w).transpose(1, 2, 3, 0)
    if cache.get("tiled"):
        return _max_pool_tiled_backward(dy, cache)
    ph, pw = cache["pool"]
    sh, sw = cache["strides"]
    n, ho, wo, c = dy.shape
    dxp = np.zeros(cache["padded_shape"], dtype=dy.dtype)
    if cache["mode"] == "max":
        if "argmax" not in cache:
            _max_pool_windows(cache.pop("x"), cache, keep_argmax=True)
        argmax = cache["argmax"]
        for i in range(ph):
            for j in range(pw):
                target = dxp[_window_slice(i, j, sh, sw, ho, wo)]
                target += dy * (argmax == i * pw + j)
    else:
        share = dy / cache["divisor"]
        for i in range(ph):
            for j in range(pw):
                dxp[_window_slice(i, j, sh, sw, ho, wo)] += share
    h, w = cache["x_shape"][1:3]
    return _crop(dxp, cache["pads"], h, w)
