"""Slow, obviously-right loop versions of the kernels in ``conv.py`` and ``pool.py``.

They exist to be read and to check the fast kernels against (tests/test_ops.py): every loop
below is the textbook formula written out, one output element (or one output element's
contribution to the gradients) at a time. Never use them for real work.

Notation: ``x`` (N, H, W, C) NHWC input, ``xpad`` the input after "same" padding,
``(sh, sw)`` strides, ``y`` (N, Ho, Wo, C_out) output, ``dy`` the gradient of the loss with
respect to ``y``; ``dx``, ``dkernel``, ``dbias`` the gradients the backward pass returns.
"""

import numpy as np

from .padding import conv_output_size, resolve_padding


def _pair(value):
    return (value, value) if np.isscalar(value) else tuple(value)


def _zero_pad(x, pads):
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


# --------------------------------------------------------------------------------------------- conv


def conv2d_reference(x, kernel, bias, strides, padding):
    """Cross-correlation, one output element at a time::

        y[n, oh, ow, co] = bias[co] + sum_{i, j, ci} xpad[n, oh*sh + i, ow*sw + j, ci] * kernel[i, j, ci, co]
    """
    sh, sw = _pair(strides)
    kh, kw, c_in, c_out = kernel.shape
    n_images, h, w, _ = x.shape
    pads = resolve_padding((h, w), (kh, kw), (sh, sw), padding)
    xpad = _zero_pad(x, pads)
    ho, wo = conv_output_size(h, kh, sh, padding), conv_output_size(w, kw, sw, padding)

    y = np.zeros((n_images, ho, wo, c_out), dtype=x.dtype)
    for n in range(n_images):
        for oh in range(ho):
            for ow in range(wo):
                window = xpad[n, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw, :]  # (kh, kw, c_in)
                for co in range(c_out):
                    y[n, oh, ow, co] = np.sum(window * kernel[:, :, :, co])
                    if bias is not None:
                        y[n, oh, ow, co] += bias[co]
    return y


def conv2d_backward_reference(x, kernel, bias, strides, padding, dy):
    """Gradients of ``sum(y * dy)``: each output element hands its ``dy`` back along the products
    it was made of::

        dkernel[i, j, ci, co] += xpad[n, oh*sh + i, ow*sw + j, ci] * dy[n, oh, ow, co]
        dxpad[n, oh*sh + i, ow*sw + j, ci] += kernel[i, j, ci, co] * dy[n, oh, ow, co]
        dbias[co] += dy[n, oh, ow, co]

    and ``dx`` is ``dxpad`` with the padding cut off. Returns ``(dx, dkernel, dbias)``.
    """
    sh, sw = _pair(strides)
    kh, kw, c_in, c_out = kernel.shape
    n_images, h, w, _ = x.shape
    (top, _), (left, _) = pads = resolve_padding((h, w), (kh, kw), (sh, sw), padding)
    xpad = _zero_pad(x, pads)
    _, ho, wo, _ = dy.shape

    dxpad = np.zeros_like(xpad)
    dkernel = np.zeros_like(kernel)
    dbias = np.zeros(c_out, dtype=dy.dtype) if bias is not None else None
    for n in range(n_images):
        for oh in range(ho):
            for ow in range(wo):
                rows = slice(oh * sh, oh * sh + kh)
                cols = slice(ow * sw, ow * sw + kw)
                for co in range(c_out):
                    g = dy[n, oh, ow, co]
                    dkernel[:, :, :, co] += xpad[n, rows, cols, :] * g
                    dxpad[n, rows, cols, :] += kernel[:, :, :, co] * g
                    if bias is not None:
                        dbias[co] += g
    dx = dxpad[:, top : top + h, left : left + w, :]
    return dx, dkernel, dbias


def depthwise_conv2d_reference(x, kernel, bias, strides, padding):
    """Each input channel ``c`` convolved with its own ``dm`` filters; output channel ``c*dm + m``::

        y[n, oh, ow, c*dm + m] = bias[c*dm + m] + sum_{i, j} xpad[n, oh*sh + i, ow*sw + j, c] * kernel[i, j, c, m]
    """
    sh, sw = _pair(strides)
    kh, kw, c_in, dm = kernel.shape
    n_images, h, w, _ = x.shape
    pads = resolve_padding((h, w), (kh, kw), (sh, sw), padding)
    xpad = _zero_pad(x, pads)
    ho, wo = conv_output_size(h, kh, sh, padding), conv_output_size(w, kw, sw, padding)

    y = np.zeros((n_images, ho, wo, c_in * dm), dtype=x.dtype)
    for n in range(n_images):
        for oh in range(ho):
            for ow in range(wo):
                window = xpad[n, oh * sh : oh * sh + kh, ow * sw : ow * sw + kw, :]  # (kh, kw, c_in)
                for c in range(c_in):
                    for m in range(dm):
                        y[n, oh, ow, c * dm + m] = np.sum(window[:, :, c] * kernel[:, :, c, m])
                        if bias is not None:
                            y[n, oh, ow, c * dm + m] += bias[c * dm + m]
    return y


def depthwise_conv2d_backward_reference(x, kernel, bias, strides, padding, dy):
    """Gradients of ``sum(y * dy)`` for :func:`depthwise_conv2d_reference`::

        dkernel[i, j, c, m] += xpad[n, oh*sh + i, ow*sw + j, c] * dy[n, oh, ow, c*dm + m]
        dxpad[n, oh*sh + i, ow*sw + j, c] += kernel[i, j, c, m] * dy[n, oh, ow, c*dm + m]
        dbias[c*dm + m] += dy[n, oh, ow, c*dm + m]
    """
    sh, sw = _pair(strides)
    kh, kw, c_in, dm = kernel.shape
    n_images, h, w, _ = x.shape
    (top, _), (left, _) = pads = resolve_padding((h, w), (kh, kw), (sh, sw), padding)
    xpad = _zero_pad(x, pads)
    _, ho, wo, _ = dy.shape

    dxpad = np.zeros_like(xpad)
    dkernel = np.zeros_like(kernel)
    dbias = np.zeros(c_in * dm, dtype=dy.dtype) if bias is not None else None
    for n in range(n_images):
        for oh in range(ho):
            for ow in range(wo):
                rows = slice(oh * sh, oh * sh + kh)
                cols = slice(ow * sw, ow * sw + kw)
                for c in range(c_in):
                    for m in range(dm):
                        g = dy[n, oh, ow, c * dm + m]
                        dkernel[:, :, c, m] += xpad[n, rows, cols, c] * g
                        dxpad[n, rows, cols, c] += kernel[:, :, c, m] * g
                        if bias is not None:
                            dbias[c * dm + m] += g
    dx = dxpad[:, top : top + h, left : left + w, :]
    return dx, dkernel, dbias


# ---------------------------------------------------------------------------------------- pooling


def _window_bounds(o, stride, before, k, size):
    """The real input range [start, stop) of output position ``o``'s window (padding cut away)."""
    start = o * stride - before
    return max(start, 0), min(start + k, size)


def pool2d_reference(x, pool_size, strides, padding, mode):
    """Pooling, one output element at a time, over the REAL inputs of each window (padding is
    never part of a window: max ignores it, average divides by the number of real inputs)::

        y[n, oh, ow, c] = max  / mean  of  x[n, r0:r1, c0:c1, c]
    """
    ph, pw = _pair(pool_size)
    sh, sw = _pair(strides)
    n_images, h, w, channels = x.shape
    (top, _), (left, _) = resolve_padding((h, w), (ph, pw), (sh, sw), padding)
    ho, wo = conv_output_size(h, ph, sh, padding), conv_output_size(w, pw, sw, padding)

    y = np.zeros((n_images, ho, wo, channels), dtype=x.dtype)
    for n in range(n_images):
        for oh in range(ho):
            r0, r1 = _window_bounds(oh, sh, top, ph, h)
            for ow in range(wo):
                c0, c1 = _window_bounds(ow, sw, left, pw, w)
                for c in range(channels):
                    window = x[n, r0:r1, c0:c1, c]
                    y[n, oh, ow, c] = window.max() if mode == "max" else window.mean()
    return y


def pool2d_backward_reference(x, pool_size, strides, padding, mode, dy):
    """Gradient of ``sum(y * dy)`` for :func:`pool2d_reference`.

    Max: ``dy[n, oh, ow, c]`` goes to the window's maximum; of tied maxima, the first in row-major
    order (``np.argmax``'s rule). Average: ``dy / (number of real inputs)`` goes to each real input.
    """
    ph, pw = _pair(pool_size)
    sh, sw = _pair(strides)
    n_images, h, w, channels = x.shape
    (top, _), (left, _) = resolve_padding((h, w), (ph, pw), (sh, sw), padding)
    _, ho, wo, _ = dy.shape

    dx = np.zeros_like(x)
    for n in range(n_images):
        for oh in range(ho):
            r0, r1 = _window_bounds(oh, sh, top, ph, h)
            for ow in range(wo):
                c0, c1 = _window_bounds(ow, sw, left, pw, w)
                for c in range(channels):
                    g = dy[n, oh, ow, c]
                    window = x[n, r0:r1, c0:c1, c]
                    if mode == "max":
                        i, j = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, r0 + i, c0 + j, c] += g
                    else:
                        dx[n, r0:r1, c0:c1, c] += g / window.size
    return dx
