"""Word kernels against plain-loop references: Python-integer/Fraction loops for Fixed, a literal
per-pixel emulation of SEED_RTL.md for TruncatedFloat32, np.float32 loops for Float32."""

import math
from fractions import Fraction

import numpy as np
import pytest

from tichchap.errors import ConfigError, ShapeError
from tichchap.hardware.formats import Fixed, Float32, TruncatedFloat32
from tichchap.hardware.kernels import (SEED_CONV, SEED_DENSE, SEED_FIRST_CONV, ReductionPolicy,
                                       average_pool2d, conv2d, dense, max_pool2d, relu, trace_conv2d,
                                       trace_dense)

from .fixed_reference import reference_quantize, to_word, word_value


# ---------------------------------------------------------------- slow, obviously-right references
def keras_same_pad(size, k, s):
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, out


def reference_conv_fixed(x, k, b, fx, fw, fb, fo, strides, padding):
    """Exact sum of Fraction products per output value, then one ap_fixed quantisation."""
    n_, h_, w_, cin = x.shape
    kh, kw, _, cout = k.shape
    sh, sw = strides
    if padding == "same":
        top, ho = keras_same_pad(h_, kh, sh)
        left, wo = keras_same_pad(w_, kw, sw)
    else:
        top = left = 0
        ho, wo = (h_ - kh) // sh + 1, (w_ - kw) // sw + 1
    out = np.zeros((n_, ho, wo, cout), dtype=object)
    overflows = 0
    for n in range(n_):
        for oh in range(ho):
            for ow in range(wo):
                for co in range(cout):
                    total = Fraction(0)
                    for i in range(kh):
                        for j in range(kw):
                            r, c = oh * sh + i - top, ow * sw + j - left
                            if 0 <= r < h_ and 0 <= c < w_:
                                for ci in range(cin):
                                    total += (word_value(int(x[n, r, c, ci]), fx.width, fx.integer, fx.signed)
                                              * word_value(int(k[i, j, ci, co]), fw.width, fw.integer, fw.signed))
                    if b is not None:
                        total += word_value(int(b[co]), fb.width, fb.integer, fb.signed)
                    q, overflowed = reference_quantize(total, fo.width, fo.integer, fo.signed, fo.rounding, fo.overflow)
                    overflows += overflowed
                    out[n, oh, ow, co] = to_word(q, fo.width)
    return out, overflows


def random_words(rng, fmt, shape):
    return np.array([int(v) for v in rng.integers(0, 2**62, size=int(np.prod(shape)))],
                    dtype=object).reshape(shape) % (2**fmt.width)


FIXED_CASES = [
    # x format, w format, b format, out format, strides, padding, x shape, kernel shape
    (Fixed(8, 3), Fixed(6, 1), Fixed(10, 4), Fixed(8, 4, True, "RND", "SAT"), (1, 1), "same", (2, 5, 4, 3), (3, 3, 3, 2)),
    (Fixed(8, 8, False), Fixed(5, 2), Fixed(12, 8), Fixed(9, 5, True, "RND_CONV", "WRAP"), (2, 1), "valid", (1, 6, 5, 2), (3, 2, 2, 3)),
    (Fixed(7, 2), Fixed(7, 2), Fixed(7, 2), Fixed(6, 2, True, "TRN_ZERO", "SAT_SYM"), (2, 2), "same", (1, 5, 7, 2), (2, 3, 2, 2)),
    (Fixed(40, 10), Fixed(30, 5), Fixed(50, 20), Fixed(36, 14, True, "RND_INF", "SAT"), (1, 1), "same", (1, 3, 4, 2), (3, 3, 2, 2)),
]


@pytest.mark.parametrize("fx, fw, fb, fo, strides, padding, x_shape, k_shape", FIXED_CASES)
def test_fixed_conv2d_equals_python_integer_loops(fx, fw, fb, fo, strides, padding, x_shape, k_shape):
    rng = np.random.default_rng(sum(x_shape) + sum(k_shape))
    x, k = random_words(rng, fx, x_shape), random_words(rng, fw, k_shape)
    b = random_words(rng, fb, (k_shape[3],))
    if fx.width <= 64:
        x, k, b = x.astype(np.uint64), k.astype(np.uint64), b.astype(np.uint64)
    got, overflows = conv2d(x, k, b, fx, weight_format=fw, bias_format=fb, output_format=fo,
                            strides=strides, padding=padding, return_overflow=True)
    expected, expected_overflows = reference_conv_fixed(x, k, b, fx, fw, fb, fo, strides, padding)
    assert got.shape == expected.shape
    assert [int(v) for v in got.ravel()] == [int(v) for v in expected.ravel()]
    assert overflows == expected_overflows
    # the same words through the ordered (tree) path: the exact accumulator makes order irrelevant
    wide_acc = Fixed(120, 120 - (fx.fraction + fw.fraction) if fx.fraction + fw.fraction >= fb.fraction else 60)
    if fx.fraction + fw.fraction >= fb.fraction:
        ordered = conv2d(x, k, b, fx, weight_format=fw, bias_format=fb, output_format=fo, strides=strides,
                         padding=padding, accumulator_format=wide_acc)
        assert [int(v) for v in ordered.ravel()] == [int(v) for v in expected.ravel()]


def test_fixed_narrow_accumulator_wraps_in_sequential_order():
    rng = np.random.default_rng(5)
    fx, acc, fo = Fixed(6, 3), Fixed(8, 5, True, "TRN", "WRAP"), Fixed(6, 3, True, "RND", "SAT")
    x = random_words(rng, fx, (1, 4, 3, 2)).astype(np.uint64)
    k = random_words(rng, fx, (2, 2, 2, 1)).astype(np.uint64)
    got, overflows = conv2d(x, k, None, fx, output_format=fo, accumulator_format=acc,
                            policy=ReductionPolicy("sequential"), return_overflow=True)
    events = 0
    for oh in range(3):
        for ow in range(2):
            value = None
            for i in range(2):
                for j in range(2):
                    for ci in range(2):
                        p = (word_value(int(x[0, oh + i, ow + j, ci]), 6, 3, True)
                             * word_value(int(k[i, j, ci, 0]), 6, 3, True))
                        q, o = reference_quantize(p, 8, 5, True, "TRN", "WRAP")
                        events += o
                        p = word_value(to_word(q, 8), 8, 5, True)
                        if value is not None:
                            q, o = reference_quantize(value + p, 8, 5, True, "TRN", "WRAP")
                            events += o
                            p = word_value(to_word(q, 8), 8, 5, True)
                        value = p
            q, o = reference_quantize(value, 6, 3, True, "RND", "SAT")
            events += o
            assert int(got[0, oh, ow, 0]) == to_word(q, 6)
    assert overflows == events and events > 0


def test_fixed_dense_equals_python_loops():
    rng = np.random.default_rng(8)
    fx, fw, fo = Fixed(10, 4), Fixed(8, 1), Fixed(9, 5, True, "RND", "SAT")
    x = random_words(rng, fx, (3, 13)).astype(np.uint64)
    k = random_words(rng, fw, (13, 4)).astype(np.uint64)
    b = random_words(rng, fx, (4,)).astype(np.uint64)
    got = dense(x, k, b, fx, weight_format=fw, output_format=fo)
    for n in range(3):
        for u in range(4):
            total = word_value(int(b[u]), 10, 4, True) + sum(
                word_value(int(x[n, i]), 10, 4, True) * word_value(int(k[i, u]), 8, 1, True) for i in range(13))
            q, _ = reference_quantize(total, 9, 5, True, "RND", "SAT")
            assert int(got[n, u]) == to_word(q, 9)


def test_fixed_pooling_and_relu():
    rng = np.random.default_rng(9)
    fmt = Fixed(8, 4)
    x = random_words(rng, fmt, (2, 5, 3, 2)).astype(np.uint64)
    values = np.vectorize(lambda w: word_value(int(w), 8, 4, True), otypes=[object])(x)
    pooled = max_pool2d(x, fmt, pool_size=(2, 2), padding="same")
    for n in range(2):
        for oh in range(3):
            for ow in range(2):
                for c in range(2):
                    window = values[n, 2 * oh:2 * oh + 2, 2 * ow:2 * ow + 2, c]
                    assert word_value(int(pooled[n, oh, ow, c]), 8, 4, True) == max(window.ravel())
    out_fmt = Fixed(9, 4, True, "RND_CONV", "SAT")
    averaged = average_pool2d(x, fmt, pool_size=(2, 2), padding="same", output_format=out_fmt)
    for n in range(2):
        for oh in range(3):
            for ow in range(2):
                for c in range(2):
                    window = list(values[n, 2 * oh:2 * oh + 2, 2 * ow:2 * ow + 2, c].ravel())
                    q, _ = reference_quantize(sum(window) / len(window), 9, 4, True, "RND_CONV", "SAT")
                    assert int(averaged[n, oh, ow, c]) == to_word(q, 9)
    rectified = relu(x, fmt)
    assert all(word_value(int(r), 8, 4, True) == max(v, 0) for r, v in zip(rectified.ravel(), values.ravel()))
    with pytest.raises(ConfigError):
        average_pool2d(np.zeros((1, 2, 2, 1), dtype=np.uint32), TruncatedFloat32())


# ---------------------------------------------------------------- SEED_RTL.md, literally
def t_mul(a, b):
    """SEED_RTL.md's multiplier, one word at a time, as the text states it."""
    if a == 0 or b == 0:
        return 0
    sign = (a >> 31) ^ (b >> 31)
    exponent = (((a >> 23) & 255) + ((b >> 23) & 255) - 127) % 256
    p = ((a & 0x7FFFFF) | 0x800000) * ((b & 0x7FFFFF) | 0x800000)
    if p >> 47 & 1:
        fraction, exponent = (p >> 24) & 0x7FFFFF, (exponent + 1) % 256
    else:
        fraction = (p >> 23) & 0x7FFFFF
    return sign << 31 | exponent << 23 | fraction


def t_add(a, b):
    """SEED_RTL.md's adder, one word at a time, as the text states it."""
    ea, eb = (a >> 23) & 255, (b >> 23) & 255
    ma, mb = (a & 0x7FFFFF) | 0x800000, (b & 0x7FFFFF) | 0x800000
    sa, sb = a >> 31, b >> 31
    if ea >= eb:
        big_m, big_s, small_m, d = ma, sa, mb, ea - eb
    else:
        big_m, big_s, small_m, d = mb, sb, ma, eb - ea
    small_m = 0 if d >= 24 else small_m >> d
    r = (big_m - small_m) % 2**25 if sa != sb else (big_m + small_m) % 2**25
    neg = bool(r >> 24 & 1) and sa != sb
    if neg:
        r = (-r) % 2**25
    sign = big_s ^ neg
    fraction = r >> 1
    exponent = (max(ea, eb) + 1) % 256
    for _ in range(24):
        if fraction >> 23 & 1:
            break
        fraction = (fraction << 1) & 0xFFFFFF
        exponent = (exponent - 1) % 256
    return sign << 31 | exponent << 23 | (fraction & 0x7FFFFF)


def seed_conv_pixel_by_pixel(x, k, b, first_layer):
    """3x3, stride 1, 'same', zero words through the units; trees exactly as SEED_RTL.md writes them."""
    _, h_, w_, cin = x.shape
    cout = k.shape[3]
    out = np.zeros((1, h_, w_, cout), dtype=np.uint32)
    for oh in range(h_):
        for ow in range(w_):
            for co in range(cout):
                partials = []
                for ci in range(cin):
                    p = []
                    for i in range(3):
                        for j in range(3):
                            r, c = oh + i - 1, ow + j - 1
                            pixel = int(x[0, r, c, ci]) if 0 <= r < h_ and 0 <= c < w_ else 0
                            p.append(t_mul(pixel, int(k[i, j, ci, co])))
                    partial = t_add(t_add(t_add(p[0], p[1]), t_add(p[2], p[3])),
                                    t_add(t_add(p[4], p[5]), t_add(p[6], p[7])))
                    partials.append(t_add(partial, p[8]))
                bias = int(b[co])
                if first_layer:
                    c0, c1, c2 = partials
                    total = t_add(t_add(c2, c1), t_add(c0, bias))
                else:                                   # 4 channels
                    total = t_add(t_add(t_add(partials[0], partials[1]), t_add(partials[2], partials[3])), bias)
                out[0, oh, ow, co] = 0 if total >> 31 else total        # ReLU
    return out


@pytest.mark.parametrize("cin, policy", [(3, SEED_FIRST_CONV), (4, SEED_CONV)])
def test_truncated_float32_conv_equals_seed_rtl_emulation(cin, policy):
    rng = np.random.default_rng(cin)
    fmt = TruncatedFloat32()
    x = fmt.to_words(np.maximum(rng.normal(size=(1, 5, 6, cin)), 0))     # zeros included, as after ReLU
    k = fmt.to_words(rng.normal(size=(3, 3, cin, 3)) * 0.3)
    b = fmt.to_words(rng.normal(size=3) * 0.1)
    got = relu(conv2d(x, k, b, fmt, padding="same", policy=policy), fmt)
    expected = seed_conv_pixel_by_pixel(x, k, b, first_layer=(cin == 3))
    assert np.array_equal(got, expected)
    # the same layer in IEEE float32 differs in many words: the order and the units matter
    assert np.count_nonzero(relu(conv2d(x, k, b, Float32(), padding="same", policy=policy), Float32()) != got) > 0
    pooled = max_pool2d(got, fmt)
    assert pooled[0, 1, 2, 1] == max(int(v) for v in got[0, 2:4, 4:6, 1].ravel())


def test_truncated_float32_dense_is_sequential_bias_first():
    rng = np.random.default_rng(12)
    fmt = TruncatedFloat32()
    x, k, b = fmt.to_words(rng.normal(size=(2, 9))), fmt.to_words(rng.normal(size=(9, 3))), fmt.to_words(rng.normal(size=3))
    got = dense(x, k, b, fmt, policy=SEED_DENSE)
    for n in range(2):
        for u in range(3):
            acc = int(b[u])
            for i in range(9):
                acc = t_add(acc, t_mul(int(x[n, i]), int(k[i, u])))
            assert int(got[n, u]) == acc


def test_float32_sequential_conv_equals_float32_loops():
    rng = np.random.default_rng(13)
    fmt = Float32()
    xf = rng.normal(size=(1, 4, 5, 2)).astype(np.float32)
    kf = rng.normal(size=(2, 3, 2, 2)).astype(np.float32)
    bf = rng.normal(size=2).astype(np.float32)
    got = conv2d(fmt.to_words(xf), fmt.to_words(kf), fmt.to_words(bf), fmt, strides=(1, 2),
                 policy=ReductionPolicy("sequential", "first")).view(np.float32)
    for oh in range(3):
        for ow in range(2):
            for co in range(2):
                acc = bf[co]
                for i in range(2):
                    for j in range(3):
                        for ci in range(2):
                            acc = np.float32(acc + np.float32(xf[0, oh + i, 2 * ow + j, ci] * kf[i, j, ci, co]))
                assert got[0, oh, ow, co] == acc


# ---------------------------------------------------------------- trace
def test_trace_lists_every_product_and_sum_and_ends_at_the_output():
    rng = np.random.default_rng(14)
    fmt = TruncatedFloat32()
    x = fmt.to_words(rng.normal(size=(1, 4, 4, 3)))
    k, b = fmt.to_words(rng.normal(size=(3, 3, 3, 2))), fmt.to_words(rng.normal(size=2))
    full = conv2d(x, k, b, fmt, padding="same", policy=SEED_FIRST_CONV)
    trace = trace_conv2d(x, k, b, fmt, (0, 0, 3, 1), padding="same", policy=SEED_FIRST_CONV)
    assert trace["output"] == int(full[0, 0, 3, 1])
    ops = [s["op"] for s in trace["steps"]]
    assert ops.count("mul") == 27 and ops.count("add") == 27 and ops.count("bias") == 1   # 26 sums + bias
    assert "x[0,-1,2,0]" in trace["text"]                    # a padding word goes through the units
    last_add = [s for s in trace["steps"] if s["op"] == "add"][-1]
    assert last_add["hex"] == f"0x{int(full[0, 0, 3, 1]):08x}"
    assert last_add["bin"] == f"0b{int(full[0, 0, 3, 1]):032b}"

    fx = Fixed(8, 3)
    xw, kw_ = fx.to_words(rng.normal(size=(1, 3, 3, 2))), fx.to_words(rng.normal(size=(2, 2, 2, 2)))
    dense_trace = trace_dense(xw.reshape(1, 18), kw_.reshape(8, 2).repeat(3, axis=0)[:18], None, fx, (0, 1))
    expected = dense(xw.reshape(1, 18), kw_.reshape(8, 2).repeat(3, axis=0)[:18], None, fx)
    assert dense_trace["output"] == int(expected[0, 1])
    assert sum(s["op"] == "mul" for s in dense_trace["steps"]) == 18


def test_bad_arguments_are_refused_with_clear_errors():
    fmt = Fixed(8, 3)
    x = np.zeros((1, 4, 4, 2), dtype=np.uint64)
    with pytest.raises(ShapeError, match="equal C"):
        conv2d(x, np.zeros((3, 3, 3, 1), dtype=np.uint64), None, fmt)
    with pytest.raises(ConfigError, match="padding"):
        conv2d(x, np.zeros((3, 3, 2, 1), dtype=np.uint64), None, fmt, padding="full")
    with pytest.raises(ConfigError, match="dtype float64"):
        conv2d(x.astype(np.float64), np.zeros((3, 3, 2, 1), dtype=np.uint64), None, fmt)
    with pytest.raises(ConfigError):
        ReductionPolicy("random")
    with pytest.raises(ConfigError, match="one format"):
        conv2d(x.astype(np.uint32), np.zeros((3, 3, 2, 1), dtype=np.uint32), None, Float32(), output_format=fmt)
