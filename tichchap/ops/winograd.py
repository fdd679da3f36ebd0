"""Stride-1 convolution by Winograd's minimal filtering (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", 2016): fewer multiplications than im2col, same result up to
float rounding.

In one dimension, ``F(m, r)`` gives m outputs of an r-tap correlation from n = m + r - 1 inputs
with n multiplications instead of m*r::

    y = AT @ ((G @ g) * (BT @ d))          g: r taps, d: n inputs, y: m outputs

AT (m x n), G (n x r) and BT (n x n) come from the Toom-Cook construction on n - 1 chosen points
and the point at infinity (:func:`transforms`). Nesting it gives 2-D tiles: an n x n input tile
``D`` and an r x r kernel ``g`` give the m x m outputs ``AT @ ((G g G^T) * (BT D BT^T)) @ AT^T``.
Summed over input channels, the elementwise product becomes one matrix product per tile position
(n*n of them), which is where BLAS does the work::

    V[a, b] (tiles, C_in) @ U[a, b] (C_in, C_out) -> M[a, b] (tiles, C_out)

Here every transform uses n = 8 (``TILE``): F(4, 5) for a 5x5 kernel makes 64 products where
im2col makes 16*25 = 400 for each 4x4 output tile, channel pair; F(6, 3) for a 3x3 kernel 64
against 324. The price is rounding: the transforms' large coefficients (up to 5.25) make float32
results differ from im2col's by about 10x im2col's own rounding error (relative 1e-6 to 1e-5).
``tichchap.config.set_winograd(False)`` turns it off.

The backward pass uses the same machinery. Both gradients start from dY's m x m tiles spread
onto 8 x 8 by AT^T (:func:`output_gradient_tiles`):

- input gradient: the forward pass run backwards (its adjoint): the spread tiles times U^T per
  position, brought back by BT^T to each 8 x 8 input tile, and the overlapping tiles added up
  (:func:`input_gradient`). (The full correlation of the padded dY with the kernel turned 180
  degrees was 2.7x slower: most of its tiles were padding.)
- weight gradient: ``dW`` is a correlation of ``x`` with ``dY`` as the filter, r outputs of an
  m-tap filter: F(r, m) on the same 8-input tiles. Its BT depends on the points only, so the
  forward pass' transformed input tiles ``V`` are reused, and its filter transform is the spread
  tiles scaled per position (:func:`_filter_scale`), so that transform is reused too.
"""

import functools
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import parallel
from .padding import pad2d

TILE = 8
KERNEL_SIZES = (3, 5)  # F(6, 3) and F(4, 5)
_enabled = True


def enabled():
    """Whether stride-1 3x3 and 5x5 convolutions may use Winograd's algorithm (on by default)."""
    return _enabled


def set_enabled(value):
    global _enabled
    _enabled = bool(value)


# The 7 finite interpolation points (the 8th is infinity). Small magnitudes keep the transforms'
# coefficients, and so the rounding error, small.
POINTS = (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2))


def _polynomial(roots):
    """Coefficients, lowest power first, of prod (x - root)."""
    coefficients = [Fraction(1)]
    for root in roots:
        shifted = [Fraction(0)] + coefficients  # x * p(x)
        for i, c in enumerate(coefficients):
            shifted[i] -= root * c
        coefficients = shifted
    return coefficients


@functools.cache
def transforms(m, r):
    """``(AT, G, BT)`` of F(m, r), m + r - 1 == TILE, as float64 arrays (computed exactly in
    fractions): ``AT @ ((G @ g) * (BT @ d))[i] == sum_k g[k] * d[i + k]`` for i < m."""
    n = m + r - 1
    if n != TILE or m < 1 or r < 1:
        raise ValueError(f"winograd transforms: need m + r - 1 == {TILE}; received m={m}, r={r}")
    points = [Fraction(p) for p in POINTS]
    at = [[Fraction(0)] * n for _ in range(m)]
    g = [[Fraction(0)] * r for _ in range(n)]
    bt = [[Fraction(0)] * n for _ in range(n)]
    for j, p in enumerate(points):
        others = [q for q in points if q != p]
        scale = Fraction(1)
        for q in others:
            scale *= p - q
        for i in range(m):
            at[i][j] = p**i
        for k in range(r):
            g[j][k] = p**k / scale
        bt[j][: n - 1] = _polynomial(others)
    # The point at infinity: the leading coefficients.
    at[m - 1][n - 1] = g[n - 1][r - 1] = Fraction(1)
    bt[n - 1] = _polynomial(points)
    return tuple(np.array([[float(v) for v in row] for row in mat]) for mat in (at, g, bt))


def _tiles_needed(out_size, m):
    return -(-out_size // m)


def _pad_to(x, height, width):
    """``x`` with zero rows and columns appended at the bottom and right up to ``height`` x
    ``width`` (``x`` itself when it is that big already)."""
    return pad2d(x, ((0, max(0, height - x.shape[1])), (0, max(0, width - x.shape[2]))))


def _tile_view(x, size, step, tiles_hw):
    """A read-only view (size, size, N, Ty, Tx, C) of NHWC ``x``: tile (ty, tx) of image n is the
    size x size block at row ty*step, column tx*step; the position within the tile comes first."""
    s_n, s_h, s_w, s_c = x.strides
    shape = (size, size, x.shape[0], *tiles_hw, x.shape[3])
    return as_strided(x, shape, (s_h, s_w, s_n, step * s_h, step * s_w, s_c), writeable=False)


def _output_tiles(dy, m):
    """dY (N, Ho, Wo, C) as m x m tiles (m, m, N, Ty, Tx, C), zero-padded to whole tiles."""
    tiles_hw = (_tiles_needed(dy.shape[1], m), _tiles_needed(dy.shape[2], m))
    return _tile_view(_pad_to(dy, tiles_hw[0] * m, tiles_hw[1] * m), m, m, tiles_hw)


def _both_sides(mat, arr, reuse=False):
    """``mat @ T @ mat.T`` over the first two axes (a, b) of ``arr`` (a, b, ...): one product for
    each axis, the rest flattened into the columns. ``reuse``: the result is written over ``arr``
    (contiguous, no smaller than the result), which is read only by the first product."""
    rows, cols = mat.shape
    rest = arr.shape[2:]
    first = (mat @ arr.reshape(cols, -1)).reshape(rows, cols, -1)
    size = rows * rows * first.shape[2]
    out = arr.reshape(-1)[:size].reshape(rows, rows, -1) if reuse else None
    return np.matmul(mat, first, out=out).reshape((rows, rows) + rest)


def input_tiles(xp, m, ho, wo):
    """The transformed input tiles ``V`` (64, P, C) of a padded NHWC ``xp`` for outputs in m x m
    tiles covering ``ho`` x ``wo``: tile (ty, tx) of image n reads rows ty*m .. ty*m + 7 and the
    same columns; P = N * Ty * Tx, in that order."""
    ty, tx = _tiles_needed(ho, m), _tiles_needed(wo, m)
    xp = _pad_to(xp, (ty - 1) * m + TILE, (tx - 1) * m + TILE)
    n, c = xp.shape[0], xp.shape[3]
    windows = _tile_view(xp, TILE, m, (ty, tx))
    gathered = np.empty(windows.shape, dtype=xp.dtype)
    parallel.copy(gathered, windows)
    _, _, bt = transforms(m, TILE + 1 - m)
    return _both_sides(bt.astype(xp.dtype), gathered, reuse=True).reshape(TILE * TILE, n * ty * tx, c)


def _untile(mats, n, ho, wo):
    """(m, m, N, Ty, Tx, K) output tiles -> (N, ho, wo, K) NHWC, cropping the last tiles' overhang."""
    m, _, _, ty, tx, k = mats.shape
    out = np.empty((n, ho, wo, k), dtype=mats.dtype)
    whole = mats.transpose(2, 3, 0, 4, 1, 5).reshape(n, ty * m, tx * m, k)
    return parallel.copy(out, whole[:, :ho, :wo])


def kernel_tiles(kernel):
    """``U`` (64, C_in, C_out): G g G^T of every (C_in, C_out) pair of a (r, r, C_in, C_out) kernel."""
    r = kernel.shape[0]
    _, g, _ = transforms(TILE + 1 - r, r)
    return _both_sides(g.astype(kernel.dtype), kernel).reshape(TILE * TILE, *kernel.shape[2:])


# Where POINTS has 1, AT's column is all ones (1**i): a constant added to the products at that
# position on both axes is added to every output. The bias goes there, onto P * C_out sums,
# instead of a pass over the output.
_ONES_POSITION = POINTS.index(1) * (TILE + 1)


def correlate(tiles, kernel, bias, out_nhw):
    """Valid, stride-1 correlation of a padded NHWC input, given as its :func:`input_tiles`, with
    a square (r, r, C_in, C_out) ``kernel``, plus ``bias`` (or None): ``(N, Ho, Wo, C_out)`` for
    ``out_nhw`` (N, Ho, Wo)."""
    return _untile(correlate_tiles(tiles, kernel, bias, out_nhw), *out_nhw)


def correlate_tiles(tiles, kernel, bias, out_nhw):
    """:func:`correlate`'s output as the m x m tiles it is computed in, before they are put in
    place: (m, m, N, Ty, Tx, C_out), a whole tile's overhang included."""
    r = kernel.shape[0]
    m = TILE + 1 - r
    products = np.matmul(tiles, kernel_tiles(kernel))  # (64, P, C_out)
    if bias is not None:
        products[_ONES_POSITION] += bias.astype(products.dtype, copy=False)
    at, _, _ = transforms(m, r)
    n, ho, wo = out_nhw
    ty, tx = _tiles_needed(ho, m), _tiles_needed(wo, m)
    return _both_sides(at.astype(products.dtype), products.reshape(TILE, TILE, n, ty, tx, -1))


def output_gradient_tiles(dy, r):
    """dY (N, Ho, Wo, C_out) of an r x r Winograd convolution, each m x m tile spread onto the
    8 x 8 positions by AT^T (the adjoint of the forward pass' output transform): (64, P, C_out).
    Both gradients start from it."""
    return spread_tiles(_output_tiles(dy, TILE + 1 - r), r)


def spread_tiles(dy_tiles, r):
    """:func:`output_gradient_tiles` of dY given as (m, m, N, Ty, Tx, C_out) tiles, laid out as
    :func:`correlate_tiles` gives the output."""
    at, _, _ = transforms(TILE + 1 - r, r)
    return _both_sides(at.T.astype(dy_tiles.dtype), dy_tiles).reshape(TILE * TILE, -1, dy_tiles.shape[-1])


def input_gradient(spread, kernel, dy_shape, x_shape, pads, images_inner=False):
    """dX (N, H, W, C_in) of a stride-1 convolution, as the forward pass run backwards (its adjoint):
    the spread dY tiles (:func:`output_gradient_tiles`) multiplied by U^T and brought back by BT^T
    to the gradient of the 8 x 8 input tile each came from; the tiles overlap by r - 1 rows and
    columns and are added onto the padded input's gradient, which is then cropped.
    ``images_inner``: dX in (H, W, N, C_in) memory, as such an input was (ops/conv.py's
    ``is_images_inner``), so the layer below reads it in order."""
    r = kernel.shape[0]
    m = TILE + 1 - r
    n, ho, wo, _ = dy_shape
    c_in = kernel.shape[2]
    ty, tx = _tiles_needed(ho, m), _tiles_needed(wo, m)
    _, _, bt = transforms(m, r)
    products = np.matmul(spread, kernel_tiles(kernel).transpose(0, 2, 1))  # (64, P, C_in)
    tile_grads = _both_sides(bt.T.astype(spread.dtype), products.reshape(TILE, TILE, n, ty, tx, c_in), reuse=True)
    # Tiles start every m rows and are TILE long: every `step`-th one is clear of the others, so
    # each group of them is added in one strided step.
    (top, _), (left, _) = pads
    h, w = x_shape[1:3]
    padded_hw = (max((ty - 1) * m + TILE, top + h), max((tx - 1) * m + TILE, left + w))
    if images_inner:
        dxp = np.zeros(padded_hw + (n, c_in), dtype=spread.dtype).transpose(2, 0, 1, 3)
    else:
        dxp = np.zeros((n, *padded_hw, c_in), dtype=spread.dtype)
    step = _tiles_needed(TILE, m)
    s_n, s_h, s_w, s_c = dxp.strides
    for qy in range(min(step, ty)):
        for qx in range(min(step, tx)):
            group = tile_grads[:, :, :, qy::step, qx::step]
            target = as_strided(dxp[:, qy * m :, qx * m :], (n, group.shape[3], TILE, group.shape[4], TILE, c_in),
                                (s_n, step * m * s_h, s_h, step * m * s_w, s_w, s_c))
            target += group.transpose(2, 3, 0, 4, 1, 5)
    dx = dxp[:, top : top + h, left : left + w]
    if dx.shape == dxp.shape:
        return dx
    out = np.empty((h, w, n, c_in), dx.dtype).transpose(2, 0, 1, 3) if images_inner else np.empty(dx.shape, dx.dtype)
    return parallel.copy(out, dx)


@functools.cache
def _filter_scale(r, m):
    """``d`` with G of F(r, m) == diag(d) @ AT(F(m, r)).T: both are the points' powers, G's rows
    divided by prod(p_j - p_l). So F(r, m)'s transformed dY filters are the spread tiles scaled
    by d_a * d_b, a scaling taken after the products, on the (64, C_in, C_out) sums."""
    at_t, g = transforms(m, r)[0].T, transforms(r, m)[1]
    rows, column = np.arange(TILE), np.abs(at_t).argmax(axis=1)  # a nonzero entry of each row
    d = g[rows, column] / at_t[rows, column]
    assert np.allclose(g, d[:, None] * at_t, rtol=0, atol=1e-12)
    return np.outer(d, d).reshape(TILE * TILE, 1, 1)


def weight_gradient(tiles, spread, r):
    """dW (r, r, C_in, C_out) from the forward pass' transformed input tiles ``V`` (64, P, C_in)
    and the spread dY tiles (:func:`output_gradient_tiles`): F(r, m), each m x m tile of dY the
    filter, whose transform G dY G^T is the spread tile scaled (:func:`_filter_scale`)."""
    m = TILE + 1 - r
    at, _, _ = transforms(r, m)
    sums = np.matmul(tiles.transpose(0, 2, 1), spread)  # (64, C_in, C_out)
    sums *= _filter_scale(r, m).astype(sums.dtype)
    return _both_sides(at.astype(sums.dtype), sums.reshape(TILE, TILE, *sums.shape[1:]))
