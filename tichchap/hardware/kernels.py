"""Layer kernels on word arrays (NHWC), in a chosen number format and reduction order.

Each kernel takes words (see :mod:`tichchap.hardware.formats`) and returns words:

- :func:`conv2d` (kernel ``(kh, kw, c_in, c_out)``, Keras cross-correlation, strides, 'valid' or
  'same' padding; 'same' feeds real zero words through the units as hardware does),
- :func:`dense` (kernel ``(in, out)``), :func:`max_pool2d`, :func:`average_pool2d` (Fixed only),
  :func:`relu`.

The order in which a float datapath adds its products changes the result, so it is an explicit
:class:`ReductionPolicy`:

- ``order="tree"``: for one output value and one input channel, the ``kh*kw`` products (taps in
  row-major order) are added by a pairwise adder tree; the per-channel sums are then added by a
  pairwise tree in channel order. A pairwise tree over ``n`` terms adds neighbours level by level,
  an odd last term passing to the next level -- equivalently ``add(tree(first 2**k), tree(rest))``
  with ``2**k`` the largest power of two below ``n``. For 9 taps this is SEED_RTL's
  ``add(add(add(p0,p1), add(p2,p3)), add(add(p4,p5), add(p6,p7)))`` then ``add(partial, p8)``.
- ``order="sequential"``: one accumulator, ``acc = add(acc, product)`` over the terms in kernel
  order ``(kh, kw, c_in)`` (c_in fastest; for dense, input order).
- ``bias="last"`` (``add(sum, bias)``) or ``"first"`` (``add(bias, sum)``; sequential: the
  accumulator starts at the bias).
- ``bgr_first_layer=True``: with exactly 3 input channels, SEED_RTL's first layer:
  ``add(add(c2, c1), add(c0, bias))``.

For :class:`~tichchap.hardware.formats.Fixed` the default accumulator is exact (as hls4ml's
``auto``), so the order does not matter and only the final cast to the output format rounds and
overflows. Give ``accumulator_format`` to model a narrower accumulator: every product and every
partial sum is then cast into it (its rounding and overflow) in the policy's order.

:func:`trace_conv2d` / :func:`trace_dense` list every product and partial sum of one output value.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ShapeError
from .formats import Fixed, NumberFormat, round_divide

__all__ = ["ReductionPolicy", "SEED_CONV", "SEED_FIRST_CONV", "SEED_DENSE", "conv2d", "dense",
           "max_pool2d", "average_pool2d", "relu", "trace_conv2d", "trace_dense", "format_trace",
           "same_padding"]


@dataclass(frozen=True)
class ReductionPolicy:
    """The order a datapath adds products and bias (see the module docstring)."""

    order: str = "tree"
    bias: str = "last"
    bgr_first_layer: bool = False

    def __post_init__(self):
        if self.order not in ("tree", "sequential"):
            raise ConfigError(f"ReductionPolicy: order must be 'tree' or 'sequential'; received {self.order!r}")
        if self.bias not in ("first", "last"):
            raise ConfigError(f"ReductionPolicy: bias must be 'first' or 'last'; received {self.bias!r}")


SEED_CONV = ReductionPolicy("tree", "last")
SEED_FIRST_CONV = ReductionPolicy("tree", "last", bgr_first_layer=True)
SEED_DENSE = ReductionPolicy("sequential", "first")


# ====================================================================== arithmetic units
class _FloatUnits:
    """Products and sums through a float format's own units; values are words."""

    def __init__(self, fmt):
        self.fmt = fmt
        self.display_format = fmt
        self.overflows = 0

    def product(self, x, w):
        return self.fmt.mul(x, w)

    def add(self, a, b):
        return self.fmt.add(a, b)

    def bias(self, b):
        return np.asarray(b).astype(np.uint32)

    def finish(self, acc):
        return np.asarray(acc).astype(np.uint32)

    def display_words(self, value):
        return value


class _FixedUnits:
    """Integer products and sums; values are exact integers at scale ``2**-acc_fraction``."""

    def __init__(self, x_format, w_format, b_format, out_format, acc_format, n_terms):
        self.x_format, self.w_format, self.b_format = x_format, w_format, b_format
        self.out_format, self.acc_format = out_format, acc_format
        product_fraction = x_format.fraction + w_format.fraction
        self.product_fraction = product_fraction
        self.overflows = 0
        if acc_format is None:
            fraction = max(product_fraction, b_format.fraction if b_format is not None else product_fraction)
            product_bits = x_format.width + w_format.width + (fraction - product_fraction)
            bias_bits = (b_format.width + fraction - b_format.fraction) if b_format is not None else 0
            bits = max(product_bits, bias_bits) + int(n_terms + 1).bit_length() + 1
            self.acc_fraction = fraction
            self.exact_bits = bits
            self.display_format = Fixed(bits, bits - fraction, True)
            self.wide = bits > 62
        else:
            self.acc_fraction = acc_format.fraction
            self.display_format = acc_format
            self.wide = acc_format.width > 62

    def _ints(self, fmt, words):
        ints = fmt.words_to_ints(words)
        return ints.astype(object) if self.wide or ints.dtype == object else ints

    def _to_acc(self, ints, fraction):
        if self.acc_format is None:
            return ints << (self.acc_fraction - fraction)
        words, count = self.acc_format.cast_ints(ints, fraction, return_overflow=True)
        self.overflows += count
        return self._ints(self.acc_format, words)

    def product(self, x, w):
        p = self._ints(self.x_format, x) * self._ints(self.w_format, w)
        return self._to_acc(p, self.product_fraction)

    def add(self, a, b):
        total = a + b
        if self.acc_format is None:
            return total
        return self._to_acc(total, self.acc_fraction)

    def bias(self, b):
        return self._to_acc(self._ints(self.b_format, b), self.b_format.fraction)

    def finish(self, acc):
        words, count = self.out_format.cast_ints(np.asarray(acc), self.acc_fraction, return_overflow=True)
        self.overflows += count
        return words

    def display_words(self, value):
        return self.display_format.ints_to_words(np.asarray(value))


def _units(number_format, weight_format, bias_format, output_format, accumulator_format, n_terms, has_bias):
    if not isinstance(number_format, NumberFormat):
        raise ConfigError(f"number_format must be a Float32, TruncatedFloat32 or Fixed; received {number_format!r}")
    if isinstance(number_format, Fixed):
        w = weight_format or number_format
        b = (bias_format or number_format) if has_bias else None
        return _FixedUnits(number_format, w, b, output_format or number_format, accumulator_format, n_terms)
    for name, other in (("weight_format", weight_format), ("bias_format", bias_format),
                        ("output_format", output_format), ("accumulator_format", accumulator_format)):
        if other is not None and other != number_format:
            raise ConfigError(f"{name}: a float datapath uses one format; expected {number_format!r} or None; "
                              f"received {other!r}")
    return _FloatUnits(number_format)


# ====================================================================== reduction
def _pairwise_tree(n, leaf, add, start=0):
    """add(tree(first 2**k), tree(rest)), 2**k the largest power of two below n: level-wise pairing."""
    if n == 1:
        return leaf(start)
    half = 1 << ((n - 1).bit_length() - 1)
    left = _pairwise_tree(half, leaf, add, start)
    right = _pairwise_tree(n - half, leaf, add, start + half)
    return add(left, right)


def _reduce(groups, group_size, term, bias, units, policy):
    """Sum ``term(g, t)`` over groups g (channels) and terms t (taps) in the policy's order.

    ``bias`` is a value or None. Returns the accumulator value.
    """
    if policy.order == "sequential":
        acc = bias if (bias is not None and policy.bias == "first") else None
        for t in range(group_size):               # kernel order (kh, kw, c_in), c_in fastest
            for g in range(groups):
                p = term(g, t)
                acc = p if acc is None else units.add(acc, p)
        if bias is not None and policy.bias == "last":
            acc = units.add(acc, bias)
        return acc

    def group_sum(g):
        return _pairwise_tree(group_size, lambda t: term(g, t), units.add)

    if policy.bgr_first_layer and groups == 3 and bias is not None:
        c2, c1, c0 = group_sum(2), group_sum(1), group_sum(0)
        return units.add(units.add(c2, c1), units.add(c0, bias))
    total = _pairwise_tree(groups, group_sum, units.add)
    if bias is None:
        return total
    return units.add(bias, total) if policy.bias == "first" else units.add(total, bias)


# ====================================================================== helpers
def _pair(value, name):
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ConfigError(f"{name} must be a positive int or a pair of them; received {value!r}")
    return value


def same_padding(size, kernel, stride):
    """Keras 'same' padding for one axis: (before, after), the extra one after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad(x, kernel_size, strides, padding, fill):
    if padding == "valid":
        return x
    if padding != "same":
        raise ConfigError(f"padding must be 'valid' or 'same'; received {padding!r}")
    (kh, kw), (sh, sw) = kernel_size, strides
    top, bottom = same_padding(x.shape[1], kh, sh)
    left, right = same_padding(x.shape[2], kw, sw)
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)


def _padding_mask(x_shape, kernel_size, strides, padding):
    """Ones for real pixels, zeros for padding, padded like x (for pooling's 'same')."""
    ones = np.ones((1,) + tuple(x_shape[1:3]) + (1,), dtype=np.int64)
    return _pad(ones, kernel_size, strides, padding, 0)


def _windows(xp, kernel_size, strides):
    """A function (i, j) -> the strided slice of xp that tap (i, j) sees, shape (N, Ho, Wo, C)."""
    (kh, kw), (sh, sw) = kernel_size, strides
    ho = (xp.shape[1] - kh) // sh + 1
    wo = (xp.shape[2] - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ShapeError(f"input of spatial size {xp.shape[1:3]} is smaller than the window {kernel_size}")

    def tap(i, j):
        return xp[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
    return tap, ho, wo


def _words(a, fmt):
    a = np.asarray(a)
    if a.dtype == object or a.dtype.kind in "ui":
        return a
    raise ConfigError(f"expected integer words in {fmt!r}; received an array of dtype {a.dtype} "
                      f"(convert floats with number_format.to_words first)")


# ====================================================================== kernels
def conv2d(x, kernel, bias, number_format, *, strides=(1, 1), padding="valid", policy=None,
           weight_format=None, bias_format=None, output_format=None, accumulator_format=None,
           return_overflow=False):
    """2-D cross-correlation (Keras Conv2D) on words.

    Args:
        x: words, shape (N, H, W, C_in). kernel: words (kh, kw, C_in, C_out). bias: words (C_out,) or None.
        number_format: the input's format (and, for floats, the whole datapath's).
        weight_format, bias_format, output_format, accumulator_format: Fixed only; default to
            ``number_format`` (accumulator: exact).
        policy: a :class:`ReductionPolicy` (default tree, bias last).
        return_overflow: also return the number of wrap/saturation events (values overflowing
            the output format, plus accumulator additions if an accumulator format is given).

    Returns words (N, Ho, Wo, C_out) in the output format.
    """
    x, kernel = _words(x, number_format), _words(kernel, number_format)
    if x.ndim != 4 or kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ShapeError(f"conv2d: expected x (N, H, W, C) and kernel (kh, kw, C, C_out) with equal C; "
                         f"received x {x.shape}, kernel {kernel.shape}")
    if bias is not None and np.shape(bias) != (kernel.shape[3],):
        raise ShapeError(f"conv2d: expected bias of shape ({kernel.shape[3]},); received {np.shape(bias)}")
    policy = policy or ReductionPolicy()
    kh, kw, c_in, _ = kernel.shape
    strides = _pair(strides, "strides")
    units = _units(number_format, weight_format, bias_format, output_format, accumulator_format,
                   kh * kw * c_in, bias is not None)
    xp = _pad(x, (kh, kw), strides, padding, number_format.zero_word())
    if isinstance(units, _FixedUnits) and units.acc_format is None:
        out = _conv_exact(xp, kernel, bias, strides, units)
    else:
        out = _conv_in_order(xp, kernel, bias, strides, units, policy)
    return (out, units.overflows) if return_overflow else out


def _conv_in_order(xp, kernel, bias, strides, units, policy):
    kh, kw, c_in, _ = kernel.shape
    tap, _, _ = _windows(xp, (kh, kw), strides)
    taps = [(i, j) for i in range(kh) for j in range(kw)]

    def term(ci, t):
        i, j = taps[t]
        return units.product(tap(i, j)[..., ci:ci + 1], kernel[i, j, ci, :])

    b = units.bias(bias) if bias is not None else None
    return units.finish(_reduce(c_in, len(taps), term, b, units, policy))


def _conv_exact(xp, kernel, bias, strides, units):
    """Exact integer convolution (order-free): one integer matrix product per tap."""
    kh, kw, _, _ = kernel.shape
    x_ints = units._ints(units.x_format, xp)
    w_ints = units._ints(units.w_format, kernel)
    tap, _, _ = _windows(x_ints, (kh, kw), strides)
    acc = None
    for i in range(kh):
        for j in range(kw):
            part = np.matmul(tap(i, j), w_ints[i, j])
            acc = part if acc is None else acc + part
    acc = acc << (units.acc_fraction - units.product_fraction)
    if bias is not None:
        acc = acc + units.bias(bias)
    return units.finish(acc)


def dense(x, kernel, bias, number_format, *, policy=None, weight_format=None, bias_format=None,
          output_format=None, accumulator_format=None, return_overflow=False):
    """Fully connected layer on words: x (N, in), kernel (in, out), bias (out,) or None."""
    x, kernel = _words(x, number_format), _words(kernel, number_format)
    if x.ndim != 2 or kernel.ndim != 2 or kernel.shape[0] != x.shape[1]:
        raise ShapeError(f"dense: expected x (N, in) and kernel (in, out); received x {x.shape}, kernel {kernel.shape}")
    if bias is not None and np.shape(bias) != (kernel.shape[1],):
        raise ShapeError(f"dense: expected bias of shape ({kernel.shape[1]},); received {np.shape(bias)}")
    policy = policy or ReductionPolicy()
    units = _units(number_format, weight_format, bias_format, output_format, accumulator_format,
                   kernel.shape[0], bias is not None)
    if isinstance(units, _FixedUnits) and units.acc_format is None:
        acc = np.matmul(units._ints(units.x_format, x), units._ints(units.w_format, kernel))
        acc = acc << (units.acc_fraction - units.product_fraction)
        if bias is not None:
            acc = acc + units.bias(bias)
        out = units.finish(acc)
    else:
        out = _dense_in_order(x, kernel, bias, units, policy)
    return (out, units.overflows) if return_overflow else out


def _dense_in_order(x, kernel, bias, units, policy):
    def term(_, i):
        return units.product(x[:, i:i + 1], kernel[i, :])
    b = units.bias(bias) if bias is not None else None
    sequential = ReductionPolicy("sequential", policy.bias) if policy.order == "sequential" else policy
    return units.finish(_reduce(1, kernel.shape[0], term, b, units, sequential))


def relu(words, number_format):
    """ReLU on words: a negative value becomes the zero word (floats: any word with the sign bit)."""
    return number_format.relu(words)


def max_pool2d(x, number_format, pool_size=(2, 2), strides=None, padding="valid"):
    """Max pooling with the format's comparator (TruncatedFloat32: unsigned word compare, as the RTL).

    'same' padding pads with the format's lowest word, which never wins.
    """
    pool = _pair(pool_size, "pool_size")
    strides = _pair(strides if strides is not None else pool, "strides")
    x = _words(x, number_format)
    xp = _pad(x, pool, strides, padding, number_format.lowest_word())
    tap, _, _ = _windows(xp, pool, strides)
    out = None
    for i in range(pool[0]):
        for j in range(pool[1]):
            window = tap(i, j)
            out = window.copy() if out is None else number_format.maximum(out, window)
    return np.asarray(out).astype(x.dtype)


def average_pool2d(x, number_format, pool_size=(2, 2), strides=None, padding="valid", output_format=None,
                   return_overflow=False):
    """Average pooling for Fixed: the exact window sum divided by the number of real pixels
    (Keras excludes padding), rounded once into ``output_format`` (default the input's)."""
    if not isinstance(number_format, Fixed):
        raise ConfigError(f"average_pool2d: needs a Fixed format (a float datapath has no divider "
                          f"specified); received {number_format!r}")
    out_format = output_format or number_format
    pool = _pair(pool_size, "pool_size")
    strides = _pair(strides if strides is not None else pool, "strides")
    ints = number_format.words_to_ints(_words(x, number_format))
    xp = _pad(ints, pool, strides, padding, 0)
    mask = _padding_mask(ints.shape, pool, strides, padding)
    tap, _, _ = _windows(xp, pool, strides)
    mask_tap, _, _ = _windows(mask, pool, strides)
    total, count = None, None
    for i in range(pool[0]):
        for j in range(pool[1]):
            total = tap(i, j) if total is None else total + tap(i, j)
            count = mask_tap(i, j) if count is None else count + mask_tap(i, j)
    shift = out_format.fraction - number_format.fraction
    numerator, denominator = total, np.broadcast_to(count, total.shape)
    if total.dtype == object or number_format.width + abs(shift) + 8 > 62:
        numerator, denominator = numerator.astype(object), denominator.astype(object)
    if shift >= 0:
        numerator = numerator << shift
    else:
        denominator = denominator << -shift
    q = round_divide(numerator, denominator, out_format.rounding)
    words, overflows = out_format._finish(q, True)
    return (words, overflows) if return_overflow else words


# ====================================================================== trace
class _TracingUnits:
    """Wraps units; values are (array, name) and every operation is recorded."""

    def __init__(self, base, x_format, w_format, b_format):
        self.base, self.steps = base, []
        self.x_format, self.w_format, self.b_format = x_format, w_format, b_format
        self.display_format = base.display_format
        self.labels = None

    def _record(self, op, name, text, operands, value):
        shown = self.display_format.format_word(int(np.asarray(self.base.display_words(value)).ravel()[0]))
        self.steps.append({"step": len(self.steps), "op": op, "name": name, "text": text,
                           "operands": operands, "value": shown[0], "hex": shown[1], "bin": shown[2]})

    def product(self, x, w):
        label = self.labels.pop(0)
        value = self.base.product(x, w)
        name = f"p{len(self.steps)}"
        operands = [(label[0],) + self.x_format.format_word(int(np.asarray(x).ravel()[0])),
                    (label[1],) + self.w_format.format_word(int(np.asarray(w).ravel()[0]))]
        self._record("mul", name, f"{label[0]} * {label[1]}", operands, value)
        return value, name

    def add(self, a, b):
        value = self.base.add(a[0], b[0])
        name = f"s{len(self.steps)}"
        self._record("add", name, f"{a[1]} + {b[1]}", [], value)
        return value, name

    def bias(self, b):
        value = self.base.bias(b)
        operands = [("bias",) + self.b_format.format_word(int(np.asarray(b).ravel()[0]))]
        self._record("bias", "bias", "bias", operands, value)
        return value, "bias"

    def finish(self, acc):
        out = self.base.finish(acc[0])
        self.output_word = int(np.asarray(out).ravel()[0])
        self.steps.append({"step": len(self.steps), "op": "output", "name": "out", "text": f"cast({acc[1]})",
                           "operands": [], "overflows": self.base.overflows})
        return out


def _trace_formats(units, number_format, weight_format, bias_format, output_format):
    if isinstance(units, _FixedUnits):
        return units.x_format, units.w_format, units.b_format, units.out_format
    return number_format, number_format, number_format, number_format


def trace_conv2d(x, kernel, bias, number_format, index, *, strides=(1, 1), padding="valid", policy=None,
                 weight_format=None, bias_format=None, output_format=None, accumulator_format=None):
    """Every product and partial sum of one output value ``index = (n, h, w, c)`` of :func:`conv2d`.

    Returns a dict: ``steps`` (list of records with op, name, text, operands, value, hex, bin),
    ``output`` (the output word, equal to ``conv2d(...)[index]``) and ``text`` (a printable table).
    Products and sums follow the policy's order (for an exact Fixed accumulator any order gives
    the same result; the tree order is shown).
    """
    x, kernel = _words(x, number_format), _words(kernel, number_format)
    policy = policy or ReductionPolicy()
    kh, kw, c_in, _ = kernel.shape
    sh, sw = _pair(strides, "strides")
    n, h, w, c = index
    xp = _pad(x, (kh, kw), (sh, sw), padding, number_format.zero_word())
    top = same_padding(x.shape[1], kh, sh)[0] if padding == "same" else 0
    left = same_padding(x.shape[2], kw, sw)[0] if padding == "same" else 0
    crop = xp[n:n + 1, h * sh:h * sh + kh, w * sw:w * sw + kw, :]
    units = _units(number_format, weight_format, bias_format, output_format, accumulator_format,
                   kh * kw * c_in, bias is not None)
    formats = _trace_formats(units, number_format, weight_format, bias_format, output_format)
    tracer = _TracingUnits(units, *formats[:3])
    order = ([(i, j, ci) for i in range(kh) for j in range(kw) for ci in range(c_in)]
             if policy.order == "sequential" else
             _tree_visit_order(c_in, kh * kw, policy, bias is not None, kw))
    tracer.labels = [(f"x[{n},{h * sh + i - top},{w * sw + j - left},{ci}]", f"k[{i},{j},{ci},{c}]")
                     for i, j, ci in order]
    b = None if bias is None else np.asarray(bias)[c:c + 1]
    _conv_in_order(crop, kernel[..., c:c + 1], b, (1, 1), tracer, policy)
    steps = tracer.steps
    return {"steps": steps, "output": tracer.output_word, "output_format": formats[3],
            "text": format_trace(steps, tracer.output_word, formats[3])}


def _tree_visit_order(groups, group_size, policy, has_bias, kw):
    """The (i, j, ci) order in which the tree policy evaluates its products."""
    visited = []

    def term(g, t):
        visited.append((t // kw, t % kw, g))

    probe = type("Probe", (), {"add": staticmethod(lambda a, b: None)})()
    _reduce(groups, group_size, term, 0 if has_bias else None, probe, policy)
    return visited


def trace_dense(x, kernel, bias, number_format, index, *, policy=None, weight_format=None,
                bias_format=None, output_format=None, accumulator_format=None):
    """As :func:`trace_conv2d` for :func:`dense`; ``index = (n, unit)``."""
    x, kernel = _words(x, number_format), _words(kernel, number_format)
    policy = policy or ReductionPolicy()
    n, u = index
    units = _units(number_format, weight_format, bias_format, output_format, accumulator_format,
                   kernel.shape[0], bias is not None)
    formats = _trace_formats(units, number_format, weight_format, bias_format, output_format)
    tracer = _TracingUnits(units, *formats[:3])
    if policy.order == "sequential":
        order = list(range(kernel.shape[0]))
    else:
        order = [t for (t, _, _) in _tree_visit_order(1, kernel.shape[0], policy, bias is not None, 1)]
    tracer.labels = [(f"x[{n},{i}]", f"k[{i},{u}]") for i in order]
    b = None if bias is None else np.asarray(bias)[u:u + 1]
    _dense_in_order(x[n:n + 1], kernel[:, u:u + 1], b, tracer, policy)
    return {"steps": tracer.steps, "output": tracer.output_word, "output_format": formats[3],
            "text": format_trace(tracer.steps, tracer.output_word, formats[3])}


def format_trace(steps, output_word, output_format):
    """A printable table of a trace: one line per product, operand, partial sum and the output."""
    lines = []
    for s in steps:
        if s["op"] == "output":
            value, hx, bn = output_format.format_word(output_word)
            lines.append(f"{s['step']:>4}  out  = {s['text']:<28} {value:>24}  {hx}  {bn}"
                         f"   (overflows so far: {s['overflows']})")
            continue
        lines.append(f"{s['step']:>4}  {s['name']:<4} = {s['text']:<28} {s['value']:>24}  {s['hex']}  {s['bin']}")
        for label, value, hx, bn in s["operands"]:
            lines.append(f"{'':>6}{label:>30} {value:>24}  {hx}  {bn}")
    return "\n".join(lines)
