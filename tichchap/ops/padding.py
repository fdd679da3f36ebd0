"""Output sizes and padding amounts for windowed ops (convolution, pooling), as Keras/TF compute them.

Keras' two padding modes:

* ``"valid"``: no padding; the window only visits positions where it fits entirely,
  ``out = floor((in - kernel) / stride) + 1``.
* ``"same"``: ``out = ceil(in / stride)``; the input is padded with just enough to make that many
  windows fit, ``total = max((out - 1) * stride + kernel - in, 0)``, split as
  ``before = total // 2`` and ``after = total - before``. When ``total`` is odd the extra row or
  column goes to the bottom/right (TensorFlow's rule; PyTorch's ``padding=`` can't express it).

>>> same_padding(28, 3, 2)       # out = 14, total = 13*2 + 3 - 28 = 1
(0, 1)
>>> conv_output_size(28, 5, 1, "valid")
24
"""

import numpy as np

from ..errors import ConfigError, ShapeError
from . import parallel

PADDING_MODES = ("valid", "same")


def _check_padding(padding):
    if padding not in PADDING_MODES:
        raise ConfigError(
            f"padding: unknown padding mode; expected one of {PADDING_MODES}; received {padding!r}"
        )


def _check_positive(name, value):
    if int(value) != value or value < 1:
        raise ConfigError(f"{name}: must be a positive integer; expected >= 1; received {value!r}")


def same_padding(in_size, kernel, stride):
    """``(before, after)`` padding of one spatial axis for Keras' ``"same"`` mode."""
    _check_positive("kernel", kernel)
    _check_positive("stride", stride)
    out = -(-in_size // stride)  # ceil(in / stride)
    total = max((out - 1) * stride + kernel - in_size, 0)
    before = total // 2
    return before, total - before


def conv_output_size(in_size, kernel, stride, padding):
    """Number of output positions along one spatial axis (``padding`` is "valid" or "same")."""
    _check_padding(padding)
    _check_positive("kernel", kernel)
    _check_positive("stride", stride)
    if padding == "same":
        out = -(-in_size // stride)
    else:
        out = (in_size - kernel) // stride + 1
    if out < 1:
        raise ShapeError(
            f"padding='{padding}': the input is too small for the window; expected an input size "
            f">= kernel size {kernel}; received input size {in_size} (stride {stride})"
        )
    return out


def resolve_padding(in_hw, kernel_hw, strides, padding):
    """``((top, bottom), (left, right))`` for an input of spatial size ``in_hw``.

    >>> resolve_padding((7, 6), (3, 2), (2, 2), "same")
    ((1, 1), (0, 0))
    """
    _check_padding(padding)
    if padding == "valid":
        for size, k, s in zip(in_hw, kernel_hw, strides):
            conv_output_size(size, k, s, padding)  # validates
        return (0, 0), (0, 0)
    return (
        same_padding(in_hw[0], kernel_hw[0], strides[0]),
        same_padding(in_hw[1], kernel_hw[1], strides[1]),
    )


def pad2d(x, pads, value=0):
    """Pad axes 1 and 2 (height, width) of an NHWC array; ``pads = ((top, bottom), (left, right))``.

    Returns ``x`` itself (no copy) when every pad is 0. The result keeps ``x``'s dtype; ``value``
    may be ``-np.inf`` (max pooling pads so that padding never wins). Blocks of rows are filled on
    separate threads.
    """
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    out = np.empty((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    parallel.for_blocks(lambda start, stop: fill_padded_rows(out, x, pads, start, stop, value),
                        out.shape[1], out.nbytes)
    return out


def fill_padded_rows(out, x, pads, start, stop, value=0, relu=False):
    """Write rows ``start:stop`` of ``out``, which is ``x`` padded by ``pads``: the padding value
    on the border, ``x`` inside; with ``relu``, ``max(x, 0)`` as the ReLU activation computes it
    (a ReLU the model moved into the convolution that pads). Only the border is filled, and the
    interior is written once, each element in one step."""
    (top, _), (left, _) = pads
    h, w = x.shape[1:3]
    first, last = max(start, top), min(stop, top + h)  # the rows of x in this range
    if first >= last:
        out[:, start:stop] = value
        return
    out[:, start:first] = value
    out[:, last:stop] = value
    out[:, first:last, :left] = value
    out[:, first:last, left + w :] = value
    src, dst = x[:, first - top : last - top], out[:, first:last, left : left + w]
    if relu:
        np.maximum(src, src.dtype.type(0), out=dst)
    else:
        np.copyto(dst, src)
