"""2-D convolution (cross-correlation, as Keras/TF and PyTorch compute it) on NHWC arrays.

Shapes: ``x`` is ``(N, H, W, C_in)``; a Conv2D ``kernel`` is ``(kh, kw, C_in, C_out)`` exactly as
Keras stores it; ``y`` is ``(N, Ho, Wo, C_out)`` with ``Ho, Wo`` from
:func:`tichchap.ops.padding.conv_output_size`.

The forward pass is ``im2col`` (every kh x kw window of the padded input laid out as one row)
followed by ONE matrix product::

    cols (N*Ho*Wo, kh*kw*C_in)  @  kernel.reshape(kh*kw*C_in, C_out)  ->  y (N*Ho*Wo, C_out) = NHWC

The row order of ``cols`` (i, j, c) matches the memory order of the Keras kernel, so neither side
needs a transposed copy and the product is already NHWC. The backward pass is the same product
transposed::

    dW    = cols.T @ dY                      (kh*kw*C_in, C_out)
    db    = dY summed over N, Ho, Wo
    dcols = dY @ W.T, then col2im scatters each row back onto the window it came from  -> dX

In the code the bias rides in the products: ``cols`` gets a last column of ones and the weights
the bias as a last row, so ``[cols | 1] @ [W; b]`` is ``y`` with its bias and the last row of
``[cols | 1].T @ dY`` is ``db`` (no separate pass over ``y`` or ``dY``).

No Python loop runs over images, pixels or channels; col2im loops over the kh*kw kernel offsets.
Every array keeps the input's dtype (float32 stays float32).

Faster paths build on this one: stride-1 3x3 and 5x5 convolutions with many channels take
Winograd's algorithm (:mod:`tichchap.ops.winograd`, chosen in :func:`conv2d_forward`); big
convolutions with few channels run channel-major, im2col transposed from (C, N, H, W) memory,
and return their output as an NHWC-shaped view of (C_out, N, Ho, Wo) memory
(:func:`channel_major`, CHANNEL_MAJOR_CONV_MAX_C_IN); and a model computes a convolution whose
only reader is a max pooling together with it (:mod:`tichchap.ops.conv_pool`).
``tichchap.config.set_winograd(False)`` keeps every convolution off Winograd's path (the pooled
one too).

>>> import numpy as np
>>> x = np.ones((1, 4, 5, 2), np.float32); k = np.ones((3, 3, 2, 4), np.float32)
>>> y, cache = conv2d_forward(x, k, None, (1, 1), "valid")
>>> y.shape, y.dtype, float(y[0, 0, 0, 0])
((1, 2, 3, 4), dtype('float32'), 18.0)
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..errors import ShapeError
from . import parallel, winograd
from .padding import conv_output_size, fill_padded_rows, pad2d, resolve_padding


def _pair(value, name):
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2:
        raise ShapeError(f"{name}: expected an int or a pair of ints; received {value!r}")
    return value


def _check_input(x, kernel, name):
    if x.ndim != 4:
        raise ShapeError(f"{name}: expected a 4-D NHWC input; received shape {x.shape}")
    if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ShapeError(
            f"{name}: kernel does not fit the input; expected kernel (kh, kw, {x.shape[3]}, ...) "
            f"for input {x.shape}; received kernel shape {kernel.shape}"
        )


def _geometry(x, kernel, strides, padding, name):
    """Check ``x`` against ``kernel``; return the strides, the (top, bottom), (left, right) pads
    and the output height and width. ``padding`` is "valid", "same", or the pads themselves (a
    convolution standing for another one, as ops/conv_pool.py's combined kernel, pads as that one)."""
    _check_input(x, kernel, name)
    sh, sw = _pair(strides, "strides")
    kh, kw = kernel.shape[:2]
    h, w = x.shape[1:3]
    if isinstance(padding, str):
        pads = resolve_padding((h, w), (kh, kw), (sh, sw), padding)
        return (sh, sw), pads, (conv_output_size(h, kh, sh, padding), conv_output_size(w, kw, sw, padding))
    (top, bottom), (left, right) = padding
    return (sh, sw), tuple(padding), (conv_output_size(h + top + bottom, kh, sh, "valid"),
                                      conv_output_size(w + left + right, kw, sw, "valid"))


def im2col(x, kh, kw, sh, sw):
    """Every kh x kw window of an (already padded) NHWC ``x``, as a strided VIEW (no copy).

    Returns ``cols`` of shape ``(N, Ho, Wo, kh, kw, C)`` with
    ``cols[n, oh, ow, i, j, c] == x[n, oh*sh + i, ow*sw + j, c]`` and
    ``Ho = (H - kh) // sh + 1``, ``Wo = (W - kw) // sw + 1``. The view shares memory with ``x``
    (writing to it would write to ``x``), so it is returned read-only.
    """
    n, h, w, c = x.shape
    ho = (h - kh) // sh + 1
    wo = (w - kw) // sw + 1
    s_n, s_h, s_w, s_c = x.strides
    return as_strided(
        x,
        shape=(n, ho, wo, kh, kw, c),
        strides=(s_n, s_h * sh, s_w * sw, s_h, s_w, s_c),
        writeable=False,
    )


def col2im(dcols, x_shape, kh, kw, sh, sw):
    """Adjoint of :func:`im2col`: add each window's gradient back onto the input positions it read.

    ``dcols`` is ``(N, Ho, Wo, kh, kw, C)``; returns ``dx`` of shape ``x_shape`` (N, H, W, C), where
    ``dx[n, oh*sh + i, ow*sw + j, c]`` receives the sum of ``dcols[n, oh, ow, i, j, c]`` over all
    windows covering it. One strided add per kernel offset (i, j).
    """
    n, ho, wo = dcols.shape[:3]
    dx = np.zeros(x_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            dx[:, i : i + sh * ho : sh, j : j + sw * wo : sw, :] += dcols[:, :, :, i, j, :]
    return dx


# im2col matrices up to this size are built once and kept for the backward pass (LeNet's largest
# is 26 MB at batch 128). Bigger ones (food_net's 112x112 layers: 460 MB) are built a few images
# at a time into a buffer that stays in the CPU cache, and rebuilt in the backward pass: measured
# 1.5x faster than one huge product, and the cache holds the input instead of 9x its size.
# food_net training step by chunk size: 2 MB 565-580 ms, 4 MB 504, 8 MB 476-493, 16 MB 560-573.
# A part of a split batch (ops/parallel.py) shares the cache with the others running at once and
# takes its share of the chunk size: food_net split in two, 4 MiB chunks against 8 (python
# benchmarks/bench_paths.py --models food_net --paired "chunks unshared" --pairs 16 --steps 2):
# training 0.812 and inference 0.810 of the time with OpenBLAS' SkylakeX kernels, 0.877 and 0.845
# with its Haswell ones (10 pairs); 16 MiB a part 1.28 and 1.22. The batch whole at 4 MiB: 1.066
# and 1.107, hence the share only in a part.
KEEP_COLS_BYTES = 48 * 2**20
CHUNK_COLS_BYTES = 8 * 2**20


def _chunk_cols_bytes():
    """This thread's im2col chunk size: CHUNK_COLS_BYTES shared among the parts running at once."""
    return CHUNK_COLS_BYTES // parallel.parts_at_once()


def _col2im_per_offset(dy2d, kernel, out_nhw, strides, dxp):
    """Add ``col2im(dy2d @ W.T)`` into the padded input gradient ``dxp``, one kernel offset at a time.

    Same result as ``col2im((dy2d @ kernel.reshape(-1, C_out).T).reshape(N, Ho, Wo, kh, kw, C_in))``,
    but each offset's block ``dy2d @ kernel[i, j].T`` comes out contiguous (N, Ho, Wo, C_in), so the
    strided add into ``dxp`` reads its source sequentially (about 3x faster than slicing a 6-D dcols).
    """
    kh, kw, c_in, c_out = kernel.shape
    n, ho, wo = out_nhw
    sh, sw = strides
    # (kh*kw, C_out, C_in): transposed views, BLAS reads them without a copy.
    weights_t = kernel.reshape(kh * kw, c_in, c_out).transpose(0, 2, 1)
    block = np.empty((n * ho * wo, c_in), dtype=dxp.dtype)
    for i in range(kh):
        for j in range(kw):
            np.matmul(dy2d, weights_t[i * kw + j], out=block)
            target = dxp[:, i : i + sh * ho : sh, j : j + sw * wo : sw, :]
            target += block.reshape(n, ho, wo, c_in)
    return dxp


# Up to this many input channels, the input gradient is computed channel-major (see
# _input_gradient_channel_major). Per layer shape, per-offset against channel-major (ms, one-off
# A/B, batch 128 or food_net's chunk): 6 channels 1.97 / 1.12-1.30 (small_cnn conv2), 8 channels
# 1.05 / 0.77 and 1.28 / 0.82 (food_net), 16 channels 1.15 / 0.85-0.93, 32 channels 6.2 / 9.7-12
# (LeNet conv2). Whole food_net step with 16 channels included: 434 -> 411 ms. Stride 2 (the
# combined kernels of ops/conv_pool.py, and a 3x3 8 -> 16 layer): 6 channels 2.15 / 1.28, 8
# channels 2.30 / 1.11 and 2.31 / 1.48, 16 channels 2.25 / 1.75.
CHANNEL_MAJOR_MAX_C_IN = 16


def _input_gradient(dy, kernel, strides, pads, out):
    """Write ``dX``, ``col2im(dY @ W.T)`` cropped to the unpadded input, into ``out``
    (N, H, W, C_in), by the faster of the two methods for this shape. ``dy`` (N, Ho, Wo, C_out) and
    ``out`` may be NHWC or channel-major views (see :func:`channel_major`). Returns ``out``."""
    c_in = kernel.shape[2]
    (top, bottom), (left, right) = pads
    h, w = out.shape[1:3]
    padded_shape = (dy.shape[0], h + top + bottom, w + left + right, c_in)
    if c_in <= CHANNEL_MAJOR_MAX_C_IN:
        return _input_gradient_channel_major(dy, kernel, strides, padded_shape, pads, out)
    dy2d, out_nhw = dy.reshape(-1, dy.shape[3]), dy.shape[:3]
    if padded_shape == out.shape:
        out.fill(0)
        return _col2im_per_offset(dy2d, kernel, out_nhw, strides, out)
    dxp = np.zeros(padded_shape, dtype=out.dtype)
    _col2im_per_offset(dy2d, kernel, out_nhw, strides, dxp)
    return parallel.copy(out, _crop(dxp, pads, h, w))


# Where widening dY's rows from Wo to Wq would add this much work or more (small images), the
# channel-major input gradient puts the images innermost instead. ms, rows of Wq against images
# innermost: small_cnn's conv2, combined (5x5 -> 14x14 at stride 2, Wq/Wo = 1.4) 1.16 / 0.88, the
# plain one (10x10 -> 14x14) 1.32 / 1.01; 28x28x16 "same" (1.07) 17.1 / 20.1; food_net's 56x56x16
# (4 images, 1.04) 0.54 / 0.93; 24x24 -> 28x28x1 (1.17) 1.9 / 9.9.
IMAGE_MINOR_MIN_WIDENING = 1.25


def _input_gradient_channel_major(dy, kernel, strides, padded_shape, pads, out):
    """``dX`` for few input channels, where the per-offset products (C_in output columns) run far
    below BLAS' peak.

    One product ``W (kh*kw*C_in, C_out) @ dY.T`` gives every offset's contribution at once,
    channel-major: ``B[i, j, c, n, oh, ow]``, which lands on the padded input at
    ``(oh*sh + i, ow*sw + j)``. The padded plane is kept as sh*sw interleaved sub-planes, one per
    (row, column) phase (stride 1: one, the plane itself): offset (i, j) lands on sub-plane
    ``(i % sh, j % sw)`` at ``(oh + i // sh, ow + j // sw)``, a stride-1 position. ``dY`` is first
    widened with zero columns from Wo to the sub-plane width Wq, so that for each image and channel
    the block lands on ONE contiguous run of the flattened sub-plane, starting at
    ``(i // sh)*Wq + j // sw``. The zero columns add 0.0 to the positions they wrap onto (one spare
    row per sub-plane keeps the last run in bounds). The adds run kh*kw times over runs Ho*Wq long
    (instead of C_in), split over channels between threads; transposing copies interleave the
    sub-planes into ``out`` (NHWC or channel-major). For small images (IMAGE_MINOR_MIN_WIDENING),
    the images go innermost instead: ``B[i, j, c, oh, ow, n]``, whose rows land on runs of Wo*N
    floats with no widening.
    """
    kh, kw, c_in, c_out = kernel.shape
    n, ho, wo, _ = dy.shape
    sh, sw = strides
    _, hp, wp, _ = padded_shape
    hq, wq = -(-hp // sh), -(-wp // sw)
    weights = kernel.reshape(kh * kw * c_in, c_out)
    if wq >= IMAGE_MINOR_MIN_WIDENING * wo and not is_channel_major(out):
        # Images innermost, (c, y, x, n): each offset's block lands on runs of Wo*N floats, no
        # widening needed. dY is copied to (C_out, Ho, Wo, N) for the product.
        dy_t = np.empty((c_out, ho, wo, n), dtype=dy.dtype)
        np.copyto(dy_t, dy.transpose(3, 1, 2, 0))
        contributions = (weights @ dy_t.reshape(c_out, -1)).reshape(kh * kw, c_in, ho, wo * n)
        planes = np.zeros((sh, sw, c_in, hq, wq * n), dtype=out.dtype)

        def add_offsets(c0, c1):
            for i in range(kh):
                for j in range(kw):
                    r, k = i // sh, (j // sw) * n
                    planes[i % sh, j % sw, c0:c1, r : r + ho, k : k + wo * n] += contributions[i * kw + j, c0:c1]

        parallel.for_blocks(add_offsets, c_in, 2 * contributions.nbytes)
        phase = planes.reshape(sh, sw, c_in, hq, wq, n).transpose(0, 1, 5, 3, 4, 2)  # (sh, sw, n, y, x, c)
    else:
        run = ho * wq
        dy_wide = _zeros_in_layout_of(dy, (n, ho, wq, c_out))
        dy_wide[:, :, :wo] = dy
        # dY as (C_out, N*Ho*Wq) rows: a view in either layout (n, ho, wq merge), which BLAS reads as is.
        contributions = (weights @ dy_wide.transpose(3, 0, 1, 2).reshape(c_out, -1)).reshape(kh * kw, c_in, n, run)
        planes = np.zeros((sh, sw, c_in, n, (hq + 1) * wq), dtype=out.dtype)

        def add_offsets(c0, c1):
            for i in range(kh):
                for j in range(kw):
                    start = (i // sh) * wq + j // sw
                    planes[i % sh, j % sw, c0:c1, :, start : start + run] += contributions[i * kw + j, c0:c1]

        parallel.for_blocks(add_offsets, c_in, 2 * contributions.nbytes)
        phase = planes.reshape(sh, sw, c_in, n, hq + 1, wq).transpose(0, 1, 3, 4, 5, 2)  # (sh, sw, n, y, x, c)
    (top, _), (left, _) = pads
    h, w = out.shape[1:3]
    for p in range(sh):  # out row y is padded row y + top: sub-plane row (y + top) // sh
        for q in range(sw):
            y0, x0 = (p - top) % sh, (q - left) % sw  # the first out row / column in this phase
            rows, cols = len(range(y0, h, sh)), len(range(x0, w, sw))
            r0, k0 = (y0 + top) // sh, (x0 + left) // sw
            parallel.copy(out[:, y0::sh, x0::sw], phase[p, q, :, r0 : r0 + rows, k0 : k0 + cols])
    return out


def _crop(xp, pads, h, w):
    (top, _), (left, _) = pads
    if xp.shape[1] == h and xp.shape[2] == w:
        return xp
    return xp[:, top : top + h, left : left + w, :]


def _chunks(n, per_image_bytes):
    """Image ranges [n0, n1) whose im2col matrices are about :func:`_chunk_cols_bytes` each."""
    step = max(1, _chunk_cols_bytes() // max(per_image_bytes, 1))
    return [(n0, min(n0 + step, n)) for n0 in range(0, n, step)]


def _im2col_matrix(x, pads, kernel_hw, strides, ones_column, buffer=None):
    """The im2col matrix of ``x``: one row per output position, columns (i, j, c) in the Keras
    kernel's order, plus a last column of ones when ``ones_column`` (the bias then rides in the
    product: ``[cols | 1] @ [W; b]``, and in backward ``[cols | 1].T @ dY`` ends with dbias).
    ``buffer`` is reused when its shape fits; its ones column is written only when it is made."""
    windows = im2col(pad2d(x, pads), *kernel_hw, *strides)
    n, ho, wo = windows.shape[:3]
    k = windows[0, 0, 0].size
    if buffer is None or buffer.shape != (n * ho * wo, k + ones_column):
        buffer = np.empty((n * ho * wo, k + ones_column), dtype=x.dtype)
        if ones_column:
            buffer[:, k] = 1
    # A view of the first k columns shaped as the windows (both reshapes split evenly strided axes).
    parallel.copy(buffer.reshape(n, ho, wo, k + ones_column)[..., :k].reshape(windows.shape), windows)
    return buffer


def _weights_with_bias(kernel, bias):
    """The kernel as a (kh*kw*C_in, C_out) matrix, with ``bias`` as a last row when given: the
    bias then rides in the product with im2col's column of ones, ``[cols | 1] @ [W; b]``."""
    weights = kernel.reshape(-1, kernel.shape[3])
    if bias is None:
        return weights
    return np.concatenate([weights, bias.reshape(1, -1).astype(weights.dtype)])


def _column_sums(rows):
    """Sums over the rows of a tall 2-D array (a bias gradient), as a matrix-vector product: 10x
    faster than ``rows.sum(axis=0)``."""
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


def is_channel_major(a):
    """Whether the NHWC-shaped ``a`` is a view of a C-contiguous (C, N, H, W) array, as the
    channel-major convolution returns its output."""
    return a.ndim == 4 and a.transpose(3, 0, 1, 2).flags.c_contiguous


def is_images_inner(a):
    """Whether the NHWC-shaped ``a`` is a view of a C-contiguous (H, W, N, C) array (and not
    C-contiguous itself), as a one-channel Conv2D + MaxPooling2D step returns its output
    (ops/conv_pool.py): the batch's images are the inner axis of each pixel."""
    return a.ndim == 4 and not a.flags.c_contiguous and a.transpose(1, 2, 0, 3).flags.c_contiguous


def channel_major(a):
    """The NHWC-shaped ``a`` as a C-contiguous (C, N, H, W) array: ``a``'s own memory when it is a
    channel-major view, else a transposed copy. The copy is made by BLAS, a product with the
    identity, 2-3x faster than NumPy's transposing copy (128x112x112x8: 4.5 against 10.2 ms). It
    is exact for finite values (each is x*1 plus zeros; -0.0 comes back as 0.0); a non-finite value
    turns its pixel's other channels to NaN, as it would every output of a convolution reading it."""
    if is_channel_major(a):
        return a.transpose(3, 0, 1, 2)
    c = a.shape[3]
    out = np.empty((c,) + a.shape[:3], dtype=a.dtype)
    if c == 1:
        np.copyto(out[0], a[..., 0])
    else:
        np.matmul(np.eye(c, dtype=a.dtype), np.ascontiguousarray(a).reshape(-1, c).T, out=out.reshape(c, -1))
    return out


def _zeros_in_layout_of(a, shape):
    """Zeros of NHWC ``shape``, channel-major or images-inner when ``a`` is (so copies between
    them run in order)."""
    if is_channel_major(a):
        return np.zeros((shape[3],) + tuple(shape[:3]), dtype=a.dtype).transpose(1, 2, 3, 0)
    if is_images_inner(a):
        return np.zeros((shape[1], shape[2], shape[0], shape[3]), dtype=a.dtype).transpose(2, 0, 1, 3)
    return np.zeros(shape, dtype=a.dtype)


def _inside(out_size, offset, stride, before, size):
    """The output positions [first, last) whose kernel tap ``offset`` reads a real input (not padding)
    along one axis, and the input position the first of them reads."""
    first = max(0, -(-(before - offset) // stride))
    last = min(out_size, (size - 1 + before - offset) // stride + 1)
    return first, max(first, last), first * stride + offset - before


def _channel_major_cols(xc, kernel_hw, strides, pads, out_hw, ones_row):
    """im2col transposed, from a channel-major input ``xc`` (C, N, H, W), a few images at a time:
    yields ``(n0, n1, cols_t)`` with ``cols_t`` (kh*kw*C [+1], (n1-n0)*Ho*Wo), row (i, j, c) in the
    Keras kernel's order and a last row of ones when ``ones_row``. Each tap (i, j) fills its C rows
    with ONE strided copy whose inner runs are image rows (Wo floats), where NHWC im2col copies
    runs of C floats. Padding is never materialised: the positions where a tap reads padding stay
    zero from the buffer's creation, as every chunk writes the same region of it."""
    c, n, h, w = xc.shape
    (kh, kw), (sh, sw), ((top, _), (left, _)), (ho, wo) = kernel_hw, strides, pads, out_hw
    rows = kh * kw * c + ones_row
    step = max(1, min(n, _chunk_cols_bytes() // (rows * ho * wo * xc.itemsize)))
    buffer = np.zeros((rows, step, ho, wo), dtype=xc.dtype)
    if ones_row:
        buffer[-1] = 1
    taps = [(i, j, _inside(ho, i, sh, top, h), _inside(wo, j, sw, left, w)) for i in range(kh) for j in range(kw)]
    for n0 in range(0, n, step):
        n1 = min(n0 + step, n)
        cols = buffer[:, : n1 - n0]

        def fill(t0, t1):
            for i, j, (a, b, y0), (p, q, x0) in taps[t0:t1]:
                tap = (i * kw + j) * c
                cols[tap : tap + c, :, a:b, p:q] = xc[:, n0:n1, y0 : y0 + sh * (b - a) : sh, x0 : x0 + sw * (q - p) : sw]

        parallel.for_blocks(fill, len(taps), 2 * cols.nbytes)
        yield n0, n1, cols.reshape(rows, -1)


# Convolutions with few channels on big images (their im2col matrix over KEEP_COLS_BYTES) run
# channel-major: the input as (C, N, H, W), im2col transposed (_channel_major_cols) and the
# output as (C_out, N, Ho, Wo) = W.T @ cols_t, returned as an NHWC-shaped view of that memory.
# The next such layer then reads its input without a copy, and NumPy's elementwise operations
# (ReLU, its mask) keep the layout. food_net's layers, batch 128, NHWC im2col against
# channel-major (input already channel-major), ms forward / backward (weights and input):
#   112x112, 3 -> 8      29.5 / 55.8      12.6 / 32.4
#   112x112, 8 -> 8      40.0 / 81.1      29.8 / 68.1
#   56x56, 8 -> 16       11.8 / 27.9       9.0 / 23.4
#   56x56, 16 -> 16      18.1 / 40.6      17.2 / 41.6
# and the transposing copies between layers are gone. Whole food_net step: 444 -> 367 ms.
CHANNEL_MAJOR_CONV_MAX_C_IN = 16
CHANNEL_MAJOR_CONV_MAX_C_OUT = 16
# At stride 1, the channel-major input gradient is a correlation of dY (im2col of dY, one product
# with C_in rows) from C_in >= C_out / 2, else the product-and-adds of _input_gradient_channel_major.
# Backward ms (weights and input), correlation against adds, batch 128: 56x56 8 -> 16 22.0 / 22.9,
# 16 -> 16 33.5 / 38.8; 112x112 8 -> 8 52.9 / 62.1, 3 -> 8 38.8 / 33.4. food_net's training step
# 332 -> 320 ms (8 alternating rounds in one process).
DX_AS_CORRELATION_MIN_RATIO = 0.5


def _channel_major_applies(kernel_shape, outputs, itemsize):
    """Whether a convolution with ``outputs`` output positions (N*Ho*Wo) runs channel-major."""
    kh, kw, c_in, c_out = kernel_shape
    return (c_in <= CHANNEL_MAJOR_CONV_MAX_C_IN and c_out <= CHANNEL_MAJOR_CONV_MAX_C_OUT
            and outputs * kh * kw * c_in * itemsize > KEEP_COLS_BYTES)


def _correlate_channel_major(xc, weights_t, kernel_hw, strides, pads, out_hw, ones_row):
    """``weights_t`` (C_out, kh*kw*C [+1]) over every window of the channel-major ``xc``
    (C, N, H, W), a chunk of im2col at a time: the channel-major output (C_out, N, Ho, Wo)."""
    c_out = weights_t.shape[0]
    y = np.empty((c_out, xc.shape[1]) + tuple(out_hw), dtype=np.result_type(xc, weights_t))
    for n0, n1, cols_t in _channel_major_cols(xc, kernel_hw, strides, pads, out_hw, ones_row):
        np.matmul(weights_t, cols_t, out=y[:, n0:n1].reshape(c_out, -1))
    return y


def _conv2d_channel_major_forward(x, kernel, bias, out_hw, cache):
    """Conv2D channel-major (see CHANNEL_MAJOR_CONV_MAX_C_IN); keeps the channel-major input for
    the backward pass, which rebuilds im2col from it."""
    xc = channel_major(x)
    y = _correlate_channel_major(xc, _weights_with_bias(kernel, bias).T, kernel.shape[:2], cache["strides"],
                                 cache["pads"], out_hw, bias is not None)
    cache["xc"], cache["bias_in_cols"] = xc, bias is not None
    return y.transpose(1, 2, 3, 0)


def _conv2d_channel_major_backward(dy, cache, compute_dx):
    """Backward of :func:`_conv2d_channel_major_forward`: dW from im2col rebuilt chunk by chunk;
    dX channel-major (a view of (C_in, N, H, W) memory, as the forward pass' output), at stride 1
    as a correlation of dY (DX_AS_CORRELATION_MIN_RATIO), else by :func:`_input_gradient`."""
    kernel = cache["kernel"]
    kh, kw, c_in, c_out = kernel.shape
    xc, bias_in_cols = cache["xc"], cache["bias_in_cols"]
    dyc = channel_major(dy)
    # (K, L) @ (L, C_out) against (C_out, L) @ (L, K), ms for food_net's layers (one-off A/B):
    # 8 -> 8 29.9 / 33.0, 16 -> 16 17.7 / 20.8, 8 -> 16 10.6 / 10.7, 3 -> 8 16.3 / 14.9 and 27.0 / 28.5.
    dweights = np.zeros((kh * kw * c_in + bias_in_cols, c_out), dtype=np.result_type(dy, kernel))
    for n0, n1, cols_t in _channel_major_cols(xc, (kh, kw), cache["strides"], cache["pads"], dy.shape[1:3],
                                              bias_in_cols):
        dweights += cols_t @ dyc[:, n0:n1].reshape(c_out, -1).T
    dkernel = dweights[: kh * kw * c_in].reshape(kernel.shape)
    dbias = dweights[-1] if bias_in_cols else None
    if not compute_dx:
        return None, dkernel, dbias
    if cache["strides"] == (1, 1) and c_in >= c_out * DX_AS_CORRELATION_MIN_RATIO:
        # dX = dY correlated with the kernel flipped and its channel axes swapped, padded by
        # k - 1 - pad on each side: the forward pass' machinery, C_in output rows.
        flipped_t = kernel[::-1, ::-1].transpose(2, 0, 1, 3).reshape(c_in, -1)
        ((top, bottom), (left, right)) = cache["pads"]
        full_pads = ((kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right))
        dxc = _correlate_channel_major(dyc, flipped_t, (kh, kw), (1, 1), full_pads, xc.shape[2:], False)
        return dxc.transpose(1, 2, 3, 0), dkernel, dbias
    dy = dyc.transpose(1, 2, 3, 0)
    dx = np.empty(xc.shape, dtype=dweights.dtype).transpose(1, 2, 3, 0)
    for n0, n1 in _chunks(dy.shape[0], dy.shape[1] * dy.shape[2] * kh * kw * c_in * dy.itemsize):
        _input_gradient(dy[n0:n1], kernel, cache["strides"], cache["pads"], dx[n0:n1])
    return dx, dkernel, dbias


def _single_channel_cols(x, kernel_hw, ones, out_hw, cache, images_inner=False):
    """Conv2D with C_in == 1 (a network's first layer on grey images), im2col TRANSPOSED.

    With one channel, im2col's rows would be kh*kw single floats gathered from kh*kw places: slow
    to copy. Its transpose ``cols_t`` (kh*kw, N*Ho*Wo) is a strided slice of the input per kernel
    offset (4x faster to fill; all of them in one copy, 0.068 -> 0.053 ms for LeNet's 6x6
    combined kernel on 64 images), and BLAS reads ``cols_t.T`` without a copy. A row of ones appended
    to ``cols_t`` and the bias appended to the weights fold the bias into the same product
    (y = [cols | 1] @ [W; b]) and, in backward, give dbias as row K of ``cols_t @ dY``.

    Returns ``cols_t`` (kept in ``cache``), with ``ones``: the row of ones. Its columns (the
    product's rows) are in (n, y, x) order, or with ``images_inner`` in (y, x, n) order: the
    input is first copied to (H, W, N), so that each slice copies runs of N floats instead of Wo
    (LeNet's 6x6 combined kernel at batch 128: 0.25 -> 0.10 ms).
    """
    kh, kw = kernel_hw
    sh, sw = cache["strides"]
    ho, wo = out_hw
    n = x.shape[0]
    xp = pad2d(x, cache["pads"])[..., 0]
    rows = kh * kw + ones
    # Every kernel tap's strided slice of the input at once: (kh, kw, Ho, Wo, N) or (kh, kw, N, Ho, Wo).
    if images_inner:
        xp = np.ascontiguousarray(xp.transpose(1, 2, 0))
        s_h, s_w, s_n = xp.strides
        taps = as_strided(xp, (kh, kw, ho, wo, n), (s_h, s_w, sh * s_h, sw * s_w, s_n), writeable=False)
    else:
        s_n, s_h, s_w = xp.strides
        taps = as_strided(xp, (kh, kw, n, ho, wo), (s_h, s_w, s_n, sh * s_h, sw * s_w), writeable=False)
    cols_t = np.empty((rows,) + taps.shape[2:], dtype=x.dtype)
    filled = cols_t[: kh * kw].reshape(taps.shape)

    def fill(r0, r1):  # output rows r0..r1 with images_inner, else images r0..r1
        np.copyto(filled[:, :, r0:r1], taps[:, :, r0:r1])
        if ones:
            cols_t[kh * kw, r0:r1] = 1

    parallel.for_blocks(fill, taps.shape[2], cols_t.nbytes)
    cols_t = cols_t.reshape(rows, n * ho * wo)
    cache["cols_t"], cache["bias_in_cols"] = cols_t, ones
    return cols_t


# Stride-1 square 3x3 and 5x5 kernels take Winograd's algorithm (ops/winograd.py), when it is on,
# from this many input and output channels: below them its tile products are too thin for BLAS,
# and its transforms (memory-bound passes over 8x8 tiles) cost more than they save. Forward /
# backward ms, Winograd against im2col, batch 128 unless said (one-off A/B in one process):
#   12x12, 32 -> 64, 5x5 (LeNet conv2)     3.2 / 6.9       5.8 / 11.3
#   147x147, 32 -> 64, 3x3, batch 1        3.8 / 5.8       7.9 / 9.2   (Xception block1_conv2)
#   16x16, 64 -> 64, 3x3                   12.1 / 12.1     22.8 / 28.1
#   8x8, 128 -> 128, 3x3                   13.3 / 14.5     25.2 / 27.2
#   32x32, 32 -> 32, 3x3                   25.7 / 16.2     51.3 / 37.2
#   28x28, 16 -> 32, 5x5                   18.4 / 16.5     36.0 / 44.7
#   56x56, 16 -> 16, 3x3 (food_net)        43.1 / 36.6     92.9 / 68.5
#   14x14, 6 -> 16, 5x5 (small_cnn conv2)  1.7 / 1.3       2.9 / 2.5
# Small layers (batch 1, say) have too few output positions (N*Ho*Wo) for the transforms' dozen
# NumPy calls to pay. 32 -> 64 channels, forward ms against im2col: 5x5 at 64 positions 0.112 /
# 0.079, at 128 0.106 / 0.117, at 1024 0.35 / 0.52; 3x3 at 1024 0.25 / 0.20, at 4096 0.67 / 0.74.
WINOGRAD_MIN_C_IN = 32
WINOGRAD_MIN_C_OUT = 64
WINOGRAD_MIN_OUTPUTS = {5: 128, 3: 2048}


def _winograd_applies(kernel_shape, strides, outputs):
    """Whether a convolution with ``outputs`` output positions (N*Ho*Wo) takes Winograd's path."""
    kh, kw, c_in, c_out = kernel_shape
    return (winograd.enabled() and strides == (1, 1) and kh == kw and kh in winograd.KERNEL_SIZES
            and c_in >= WINOGRAD_MIN_C_IN and c_out >= WINOGRAD_MIN_C_OUT and outputs >= WINOGRAD_MIN_OUTPUTS[kh])


def _conv2d_winograd_forward(x, kernel, bias, out_hw, cache):
    """Conv2D by Winograd's F(m, r); keeps the transformed input tiles for the weight gradient."""
    xp = pad2d(x, cache["pads"])
    tiles = winograd.input_tiles(xp, winograd.TILE + 1 - kernel.shape[0], *out_hw)
    y = winograd.correlate(tiles, kernel, bias, (x.shape[0], *out_hw))
    cache["winograd_tiles"], cache["dx_images_inner"] = tiles, is_images_inner(x)
    return y


def _conv2d_winograd_backward(spread, dbias, cache, compute_dx):
    """``(dx, dkernel, dbias)`` of a Winograd convolution from dY's spread tiles
    (:func:`winograd.output_gradient_tiles`) and the bias gradient, computed by the caller."""
    kernel = cache["kernel"]
    dkernel = winograd.weight_gradient(cache["winograd_tiles"], spread, kernel.shape[0])
    if not compute_dx:
        return None, dkernel, dbias
    dx = winograd.input_gradient(spread, kernel, cache["out_shape"], cache["x_shape"], cache["pads"],
                                 cache["dx_images_inner"])
    return dx, dkernel, dbias


def conv2d_forward(x, kernel, bias, strides, padding, images_inner=False, product=True):
    """Conv2D forward pass. Returns ``(y, cache)``; pass ``cache`` to :func:`conv2d_backward`.

    ``x`` (N, H, W, C_in); ``kernel`` (kh, kw, C_in, C_out); ``bias`` (C_out,) or None;
    ``strides`` int or (sh, sw); ``padding`` "valid", "same" or explicit ((top, bottom), (left,
    right)) pads. ``y`` is (N, Ho, Wo, C_out). ``images_inner``: a one-channel input's output
    may come as an images-inner view (:func:`is_images_inner`), rows computed in that order.
    ``product=False``: where a one-channel input builds its transposed im2col matrix, ``y`` is
    None and the caller computes ``cache["cols_t"].T @ [W; b]`` itself (ops/conv_pool.py, a
    piece at a time).
    """
    (sh, sw), pads, (ho, wo) = _geometry(x, kernel, strides, padding, "conv2d")
    kh, kw, c_in, c_out = kernel.shape
    n = x.shape[0]
    cache = {
        "kernel": kernel,
        "has_bias": bias is not None,
        "x_shape": x.shape,
        "out_shape": (n, ho, wo, c_out),
        "pads": pads,
        "strides": (sh, sw),
    }
    if _winograd_applies(kernel.shape, (sh, sw), n * ho * wo):
        return _conv2d_winograd_forward(x, kernel, bias, (ho, wo), cache), cache
    if _channel_major_applies(kernel.shape, n * ho * wo, x.itemsize):
        return _conv2d_channel_major_forward(x, kernel, bias, (ho, wo), cache), cache
    per_image_bytes = ho * wo * kh * kw * c_in * x.itemsize
    if c_in == 1 and n * per_image_bytes <= KEEP_COLS_BYTES:
        cols_t = _single_channel_cols(x, (kh, kw), bias is not None, (ho, wo), cache, images_inner)
        if images_inner:
            cache["rows_images_inner"] = True
        if not product:
            return None, cache
        y = cols_t.T @ _weights_with_bias(kernel, bias)
        if images_inner:
            return y.reshape(ho, wo, n, c_out).transpose(2, 0, 1, 3), cache
        return y.reshape(n, ho, wo, c_out), cache
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and x.flags.c_contiguous:
        # A 1x1 convolution (a pointwise one): the im2col matrix is the input itself.
        cols = x.reshape(n * ho * wo, c_in)
        y = cols @ _weights_with_bias(kernel, None)
        cache["cols"], cache["bias_in_cols"] = cols, False
        if bias is not None:
            parallel.ufunc(np.add, y, bias, out=y)
        return y.reshape(n, ho, wo, c_out), cache
    # The bias rides in the product (a column of ones): no pass over y to add it.
    cache["bias_in_cols"] = bias is not None
    weights = _weights_with_bias(kernel, bias)
    if n * per_image_bytes <= KEEP_COLS_BYTES:
        # Copying the strided view into the matrix is the one copy im2col costs.
        cols = _im2col_matrix(x, pads, (kh, kw), (sh, sw), bias is not None)
        y = cols @ weights
        cache["cols"] = cols
    else:
        y = np.empty((n * ho * wo, c_out), dtype=np.result_type(x, kernel))
        rows_per_image = ho * wo
        cols = None
        for n0, n1 in _chunks(n, per_image_bytes):
            cols = _im2col_matrix(x[n0:n1], pads, (kh, kw), (sh, sw), bias is not None, cols)
            np.matmul(cols, weights, out=y[n0 * rows_per_image : n1 * rows_per_image])
        cache["x"] = x
    return y.reshape(n, ho, wo, c_out), cache


def conv2d_backward(dy, cache, compute_dx=True):
    """Conv2D backward pass: ``(dx, dkernel, dbias)`` for upstream gradient ``dy`` (N, Ho, Wo, C_out).

    ``dbias`` is None when the forward pass had no bias. ``compute_dx=False`` skips the input
    gradient (``dx`` is None): a network's first layer needs none. ``dy`` is never modified.
    """
    if "xc" in cache:  # before dy2d: reshaping a channel-major dY would copy it
        return _conv2d_channel_major_backward(dy, cache, compute_dx)
    kernel = cache["kernel"]
    kh, kw, c_in, c_out = kernel.shape
    sh, sw = cache["strides"]
    pads = cache["pads"]
    n, ho, wo, _ = dy.shape
    x_shape = cache["x_shape"]
    # The rows of dY in the order the forward pass computed them (a view when dY has that layout).
    dy2d = (dy.transpose(1, 2, 0, 3) if cache.get("rows_images_inner") else dy).reshape(n * ho * wo, c_out)
    dtype = np.result_type(dy, kernel)

    k = kh * kw * c_in
    if "winograd_tiles" in cache:
        dbias = _column_sums(dy2d) if cache["has_bias"] else None
        return _conv2d_winograd_backward(winograd.output_gradient_tiles(dy, kh), dbias, cache, compute_dx)
    if "cols" in cache or "cols_t" in cache:  # the im2col matrix was kept (cols_t: transposed, C_in == 1)
        dweights = cache["cols_t"] @ dy2d if "cols_t" in cache else cache["cols"].T @ dy2d  # (K [+1], C_out)
        dkernel = dweights[:k].reshape(kernel.shape)
        if cache["bias_in_cols"]:
            dbias = dweights[k]
        elif cache["has_bias"]:  # a 1x1 convolution, whose matrix is the input itself
            dbias = _column_sums(dy2d)
        else:
            dbias = None
        if not compute_dx:
            return None, dkernel, dbias
        return _input_gradient(dy, kernel, (sh, sw), pads, np.empty(x_shape, dtype)), dkernel, dbias

    # Large layer: rebuild each chunk's im2col matrix (cache-sized) instead of having kept it.
    x = cache["x"]
    bias_in_cols = cache["bias_in_cols"]
    dweights = np.zeros((k + bias_in_cols, c_out), dtype=dtype)
    dx = np.empty(x.shape, dtype=dtype) if compute_dx else None
    rows_per_image = ho * wo
    cols = None
    for n0, n1 in _chunks(n, rows_per_image * k * x.itemsize):
        cols = _im2col_matrix(x[n0:n1], pads, (kh, kw), (sh, sw), bias_in_cols, cols)
        dy_chunk = dy2d[n0 * rows_per_image : n1 * rows_per_image]
        dweights += cols.T @ dy_chunk
        if compute_dx:
            _input_gradient(dy[n0:n1], kernel, (sh, sw), pads, dx[n0:n1])
    return dx, dweights[:k].reshape(kernel.shape), (dweights[k] if bias_in_cols else None)


def depthwise_conv2d_forward(x, kernel, bias, strides, padding, relu_input=False):
    """DepthwiseConv2D forward: each input channel convolved with its own ``depth_multiplier`` filters.

    ``kernel`` is (kh, kw, C_in, dm); ``bias`` (C_in*dm,) or None. Output channel ``c*dm + m`` is
    input channel ``c`` convolved with ``kernel[:, :, c, m]`` (Keras/TF order)::

        y[n, oh, ow, c*dm + m] = sum_{i,j} xpad[n, oh*sh + i, ow*sw + j, c] * kernel[i, j, c, m]

    Computed by einsum over the strided im2col view, one multiplier m at a time. With
    ``relu_input`` the input is ``max(x, 0)``, taken while padding (inference: a ReLU moved here).
    """
    (sh, sw), pads, (ho, wo) = _geometry(x, kernel, strides, padding, "depthwise_conv2d")
    kh, kw, c_in, dm = kernel.shape
    n, h, w, _ = x.shape

    (top, bottom), (left, right) = pads
    padded = relu_input or top or bottom or left or right
    xp = np.empty((n, h + top + bottom, w + left + right, c_in), dtype=x.dtype) if padded else x
    windows = im2col(xp, kh, kw, sh, sw)  # (N, Ho, Wo, kh, kw, C), a view
    y = np.empty((n, ho, wo, c_in, dm), dtype=np.result_type(x, kernel))
    # Blocks of output rows run on separate threads (einsum is single-threaded); each first pads the
    # input rows it reads, so padding costs no hand-off of its own. Neighbouring blocks both write
    # the kh - sh rows they share, with the same values, each element in one step (a transform
    # done in place in stages would race). One multiplier m at a time: einsum over a trailing axis
    # of length dm was 3x slower.
    def rows(r0, r1):
        if padded:
            stop = xp.shape[1] if r1 == ho else (r1 - 1) * sh + kh
            fill_padded_rows(xp, x, pads, 0 if r0 == 0 else r0 * sh, stop, relu=relu_input)
        for m in range(dm):
            np.einsum("nhwijc,ijc->nhwc", windows[:, r0:r1], kernel[..., m], out=y[:, r0:r1, :, :, m])

    parallel.for_blocks(rows, ho, y.nbytes * kh * kw)
    y = y.reshape(n, ho, wo, c_in * dm)
    if bias is not None:
        y += bias
    cache = {
        "xp": xp,
        "kernel": kernel,
        "has_bias": bias is not None,
        "x_shape": x.shape,
        "pads": pads,
        "strides": (sh, sw),
    }
    return y, cache


def depthwise_conv2d_backward(dy, cache):
    """DepthwiseConv2D backward: ``(dx, dkernel, dbias)``; ``dbias`` None when there was no bias."""
    xp, kernel = cache["xp"], cache["kernel"]
    kh, kw, c_in, dm = kernel.shape
    sh, sw = cache["strides"]
    n, ho, wo, _ = dy.shape
    dy5 = dy.reshape(n, ho, wo, c_in, dm)
    windows = im2col(xp, kh, kw, sh, sw)

    dtype = np.result_type(dy, kernel)
    dkernel = np.empty(kernel.shape, dtype=dtype)
    dxp = np.zeros(xp.shape, dtype=dtype)
    for m in range(dm):
        dy_m = np.ascontiguousarray(dy5[..., m])  # (N, Ho, Wo, C)
        # dK[i, j, c, m] = sum over n, oh, ow of xpad[n, oh*sh+i, ow*sw+j, c] * dY[n, oh, ow, c, m]
        np.einsum("nhwijc,nhwc->ijc", windows, dy_m, out=dkernel[..., m])
        for i in range(kh):
            for j in range(kw):
                target = dxp[:, i : i + sh * ho : sh, j : j + sw * wo : sw, :]
                target += dy_m * kernel[i, j, :, m]
    dbias = dy.sum(axis=(0, 1, 2)) if cache["has_bias"] else None
    h, w = cache["x_shape"][1:3]
    return _crop(dxp, cache["pads"], h, w), dkernel, dbias
