"""GoldenModel on whole (tiny) networks, each against an independent reference:

- Float32: the float model and an exact float64 loop, within float32's summation error bound;
- Fixed: a pure-Python Fraction implementation of the network (one ap_fixed quantisation per layer);
- TruncatedFloat32: a literal per-pixel emulation of SEED_RTL.md (its units, trees and orders);
plus BatchNormalization folding, replay of one layer, traces, overflow counts and the memory-file
round trip of a whole network.
"""

import io
import math
import os
from fractions import Fraction

import numpy as np
import pytest

import tichchap
from tichchap import layers
from tichchap.errors import ConfigError, ShapeError
from tichchap.hardware import Fixed, Float32, GoldenModel, TruncatedFloat32, export_words, load_exported, read_dumps
from tichchap.hardware import kernels
from tichchap.hardware.kernels import SEED_CONV, SEED_DENSE, SEED_FIRST_CONV, ReductionPolicy

from .fixed_reference import reference_quantize, to_word, word_value
from .test_kernels import reference_conv_fixed, seed_conv_pixel_by_pixel, t_add, t_mul


def randomise(model, rng, scale=0.5):
    """Non-trivial weights everywhere (biases too), BN statistics away from the identity."""
    for layer in model.layers:
        weights = []
        for w in layer.get_weights():
            weights.append(rng.normal(0, scale, size=w.shape).astype(w.dtype))
        if type(layer).__name__ == "BatchNormalization":           # [gamma], [beta], mean, variance
            weights[-1] = np.abs(weights[-1]) + 0.5
            if layer.scale:
                weights[0] = weights[0] + 1.0
        layer.set_weights(weights)
    return model


def conv_float64(x, k, b, strides, padding):
    """Exact-enough reference: float64 sums of the products and of their magnitudes (NHWC)."""
    kh, kw = k.shape[:2]
    sh, sw = strides
    if padding == "same":
        pads = []
        for size, kk, s in ((x.shape[1], kh, sh), (x.shape[2], kw, sw)):
            out = -(-size // s)
            total = max((out - 1) * s + kk - size, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    value = np.zeros((x.shape[0], ho, wo, k.shape[3]))
    magnitude = np.zeros_like(value)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw, :]
            value += patch @ k[i, j]
            magnitude += np.abs(patch) @ np.abs(k[i, j])
    if b is not None:
        value += b
        magnitude += np.abs(b)
    return value, magnitude


# ============================================================================ Float32
def small_float_net():
    return tichchap.Sequential([
        tichchap.Input((7, 6, 2)),
        layers.Conv2D(3, (3, 2), padding="same", activation="relu"),
        layers.ZeroPadding2D(((1, 0), (0, 1))),
        layers.Conv2D(4, (3, 3), strides=(2, 1)),
        layers.ReLU(),
        layers.MaxPooling2D((2, 2), padding="same"),
        layers.Flatten(),
        layers.Dense(5, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(3, activation="softmax"),
    ])


def test_float32_golden_equals_the_float_model_within_float32_rounding():
    """Same IEEE float32 arithmetic, another summation order: per layer, both results lie within
    the float32 summation bound gamma_n * sum|x*w| (n terms, gamma_n = n*u/(1-n*u), u = 2**-24)
    of the exact float64 value computed from the same float32 inputs; whole-network outputs agree
    to a few ULPs of the layer's scale and the class probabilities to 1e-6."""
    rng = np.random.default_rng(0)
    model = randomise(small_float_net(), rng)
    golden = GoldenModel(model, Float32())
    x = rng.normal(size=(2, 7, 6, 2))
    words = golden.run(x)
    floats = golden.float_outputs(x)
    assert list(words) == ["input_layer", "conv2d", "zero_padding2d", "conv2d_1", "re_lu", "max_pooling2d",
                           "flatten", "dense", "dropout", "dense_1"]
    u = 2.0 ** -24
    for name in golden.layer_names[1:]:
        step = golden.step(name)
        layer = model.get_layer(name)
        previous = floats[step.inputs[0]].astype(np.float32)          # the float model's own input
        replayed = Float32().from_words(golden.run_layer(name, previous.view(np.uint32)))
        if step.kind in ("conv2d", "dense"):
            k = np.asarray(layer.kernel, np.float64)
            b = np.asarray(layer.bias, np.float64)
            x64 = previous.astype(np.float64)
            if step.kind == "dense":
                exact, magnitude = x64 @ k + b, np.abs(x64) @ np.abs(k) + np.abs(b)
                n = k.shape[0] + 1
            else:
                exact, magnitude = conv_float64(x64, k, b, layer.strides, layer.padding)
                n = k.shape[0] * k.shape[1] * k.shape[2] + 1
            if step.relu:
                exact = np.maximum(exact, 0)
            bound = n * u / (1 - n * u) * magnitude
            float_model = floats[name]                              # dense_1: its logits (softmax is software)
            assert np.all(np.abs(replayed - exact) <= bound + 1e-45), name
            assert np.all(np.abs(float_model.astype(np.float64) - exact) <= bound + 1e-45), name
        else:                                                           # data movement: bit-exact
            assert np.array_equal(replayed, floats[name].astype(np.float64)), name
        whole = Float32().from_words(words[name])
        scale = max(float(np.abs(floats[name]).max()), 1e-30)
        assert np.max(np.abs(whole - floats[name])) <= 64 * u * scale, name
    assert np.allclose(golden.predict(x), model.predict(x.astype(np.float32), verbose=0), atol=1e-6)
    assert golden.step("dense_1").software_activation == "softmax"
    assert np.allclose(golden.predict(x).sum(axis=1), 1.0)


# ============================================================================ Fixed
def reference_fixed_network(x, model, fmt_in, fmt_w, fmt_conv, fmt):
    """Conv2D(relu, same) -> MaxPooling2D(2) -> Flatten -> Dense(relu) -> Dense(linear), computed
    with Fractions: every weight and the input quantised by the UG1399 definition, exact sums, one
    quantisation per layer. Returns ({name: words}, {name: overflow count})."""
    conv, pool, flat, dense, dense_1 = model.layers

    def quantise(values, f):
        out = np.empty(np.shape(values), dtype=object)
        overflows = 0
        for idx, v in np.ndenumerate(np.asarray(values, dtype=np.float64)):
            q, o = reference_quantize(Fraction(float(v)), f.width, f.integer, f.signed, f.rounding, f.overflow)
            out[idx] = to_word(q, f.width)
            overflows += o
        return out, overflows

    def value(word, f):
        return word_value(int(word), f.width, f.integer, f.signed)

    words, overflows = {}, {}
    xw, overflows["input_layer"] = quantise(x, fmt_in)
    words["input_layer"] = xw
    kw, _ = quantise(conv.kernel, fmt_w)
    bw, _ = quantise(conv.bias, fmt_w)
    out, overflows[conv.name] = reference_conv_fixed(xw, kw, bw, fmt_in, fmt_w, fmt_w, fmt_conv, (1, 1), "same")
    out = np.vectorize(lambda w: 0 if value(w, fmt_conv) < 0 else int(w), otypes=[object])(out)   # ReLU
    words[conv.name] = out
    n, h, w, c = out.shape
    pooled = np.empty((n, h // 2, w // 2, c), dtype=object)
    for idx in np.ndindex(pooled.shape):
        b_, i, j, ch = idx
        window = [out[b_, 2 * i + di, 2 * j + dj, ch] for di in range(2) for dj in range(2)]
        pooled[idx] = max(window, key=lambda wd: value(wd, fmt_conv))
    words[pool.name] = pooled
    words[flat.name] = pooled.reshape(n, -1)
    current, current_fmt = words[flat.name], fmt_conv
    for layer, relu in ((dense, True), (dense_1, False)):
        kw, _ = quantise(layer.kernel, fmt)
        bw, _ = quantise(layer.bias, fmt)
        result = np.empty((n, kw.shape[1]), dtype=object)
        count = 0
        for b_ in range(n):
            for unit in range(kw.shape[1]):
                total = value(bw[unit], fmt) + sum(value(current[b_, i], current_fmt) * value(kw[i, unit], fmt)
                                                   for i in range(kw.shape[0]))
                q, o = reference_quantize(total, fmt.width, fmt.integer, fmt.signed, fmt.rounding, fmt.overflow)
                count += o
                q = max(q, 0) if relu else q
                result[b_, unit] = to_word(q, fmt.width)
        words[layer.name], overflows[layer.name] = result, count
        current, current_fmt = result, fmt
    return words, overflows


def tiny_fixed_net():
    return tichchap.Sequential([
        tichchap.Input((4, 6, 2)),
        layers.Conv2D(3, (3, 3), padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(4, activation="relu"),
        layers.Dense(2, activation="softmax"),
    ])


def test_fixed_golden_equals_a_pure_python_fraction_network_with_per_layer_formats_and_overflows():
    rng = np.random.default_rng(1)
    model = randomise(tiny_fixed_net(), rng, scale=1.5)
    fmt = Fixed(12, 5, rounding="RND", overflow="SAT")
    fmt_in = Fixed(8, 3, rounding="RND_CONV", overflow="SAT")
    fmt_w = Fixed(8, 2, rounding="RND", overflow="SAT")
    fmt_conv = Fixed(9, 3, rounding="RND", overflow="SAT")            # narrow: the conv saturates
    golden = GoldenModel(model, fmt, layer_formats={
        "input_layer": {"output": fmt_in}, "conv2d": {"weight": fmt_w, "bias": fmt_w, "output": fmt_conv}})
    x = rng.normal(0, 2.5, size=(2, 4, 6, 2))
    words = golden.run(x)
    expected, expected_overflows = reference_fixed_network(x, model, fmt_in, fmt_w, fmt_conv, fmt)
    for name, ref in expected.items():
        assert [int(v) for v in np.ravel(words[name])] == [int(v) for v in ref.ravel()], name
        assert golden.output_format(name) == (fmt_in if name == "input_layer" else fmt_conv
                                              if name in ("conv2d", "max_pooling2d", "flatten") else fmt)
    assert golden.overflows["conv2d"] == expected_overflows["conv2d"] > 0
    assert golden.overflows["input_layer"] == expected_overflows["input_layer"] > 0
    assert golden.overflows["dense"] == expected_overflows["dense"]
    assert golden.overflows["max_pooling2d"] == 0
    # the exact accumulator: any reduction order gives the same words
    other = GoldenModel(model, fmt, layer_formats=golden._layer_format_specs, policy=ReductionPolicy("sequential", "first"))
    assert all(np.array_equal(other.run(x)[k], v) for k, v in words.items())
    rows = {row["name"]: row for row in golden.describe()}
    assert rows["conv2d"]["accumulator"] == "exact" and rows["conv2d"]["weight_format"] == str(fmt_w)


def test_overflow_counts_on_a_layer_made_to_overflow():
    model = tichchap.Sequential([tichchap.Input((6,)), layers.Dense(4)])
    model.layers[0].set_weights([np.full((6, 4), 1.5, np.float32) * np.array([1, -1, 0.1, 1], np.float32),
                                 np.zeros(4, np.float32)])
    x = np.array([[3.0, 3.0, 3.0, 3.0, 3.0, 3.0], [0.5, 0, 0, 0, 0, 0]])
    for overflow, big, small in (("SAT", 0x7F, 0x80), ("WRAP", None, None)):
        fmt = Fixed(8, 4, rounding="TRN", overflow=overflow)          # range [-8, 7.9375]
        golden = GoldenModel(model, fmt)
        out = golden.run(x)["dense"]
        # the weight 0.15 is quantised to 0.125 (TRN). Row 0: sums 27, -27, 2.25, 27 -> three
        # overflow; row 1: 0.75, -0.75, 0.0625, 0.75 -> none
        assert golden.overflows["dense"] == 3
        values = fmt.from_words(out)
        if overflow == "SAT":
            assert [int(v) for v in out[0]] == [big, small, int(fmt.to_words(2.25)), big]
        else:
            assert values[0, 0] == 27 - 32 and values[0, 1] == -27 + 32
        assert values[1].tolist() == [0.75, -0.75, 0.0625, 0.75]


# ============================================================================ TruncatedFloat32
def food_like_net():
    return tichchap.Sequential([
        tichchap.Input((6, 4, 3)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(3, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(2, activation="softmax"),
    ])


def test_truncated_float32_golden_equals_a_literal_seed_rtl_emulation():
    rng = np.random.default_rng(2)
    model = randomise(food_like_net(), rng, scale=0.4)
    golden = GoldenModel(model, TruncatedFloat32())
    assert golden.step("conv2d").policy == SEED_FIRST_CONV          # 3 channels, B, G, R order
    assert golden.step("conv2d_1").policy == SEED_CONV
    assert golden.step("dense").policy == SEED_DENSE
    x = rng.random((1, 6, 4, 3))
    words = golden.run(x)

    def bits(a):
        return np.asarray(a, dtype=np.float32).view(np.uint32)

    xw = bits(x)
    conv, conv_1, pool, flat, dense, dropout, dense_1 = model.layers
    a = seed_conv_pixel_by_pixel(xw, bits(conv.kernel), bits(conv.bias), first_layer=True)
    b = seed_conv_pixel_by_pixel(a, bits(conv_1.kernel), bits(conv_1.bias), first_layer=False)
    pooled = np.zeros((1, 3, 2, 4), dtype=np.uint32)
    for idx in np.ndindex(pooled.shape):
        _, i, j, c = idx
        pooled[idx] = max(int(b[0, 2 * i + di, 2 * j + dj, c]) for di in range(2) for dj in range(2))
    flat_words = pooled.reshape(1, -1)                                # NHWC order

    def seed_dense(inputs, layer, relu):
        k, bias = bits(layer.kernel), bits(layer.bias)
        out = []
        for u in range(k.shape[1]):
            acc = int(bias[u])
            for i in range(k.shape[0]):
                acc = t_add(acc, t_mul(int(inputs[0, i]), int(k[i, u])))
            out.append(0 if relu and acc >> 31 else acc)
        return np.array([out], dtype=np.uint32)

    hidden = seed_dense(flat_words, dense, relu=True)
    logits = seed_dense(hidden, dense_1, relu=False)
    for name, expected in (("input_layer", xw), ("conv2d", a), ("conv2d_1", b), ("max_pooling2d", pooled),
                           ("flatten", flat_words), ("dense", hidden), ("dropout", hidden), ("dense_1", logits)):
        assert np.array_equal(words[name], expected), name
    assert np.count_nonzero(a) > a.size // 3                           # ReLU did not zero everything
    # softmax in software, on the linear words
    z = np.asarray(logits, np.uint32).view(np.float32).astype(np.float64)
    assert np.allclose(golden.predict(x), np.exp(z) / np.exp(z).sum())
    # IEEE float32 differs from the truncating units in some words of the first conv layer
    assert np.count_nonzero(GoldenModel(model, Float32()).run(x)["conv2d"] != a) > 0


# ============================================================================ BatchNormalization folding
def bn_net():
    inputs = tichchap.Input((6, 5, 3))
    y = layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    y = layers.BatchNormalization(epsilon=1e-3)(y)
    y = layers.Activation("relu")(y)
    y = layers.DepthwiseConv2D(3, depth_multiplier=2)(y)
    y = layers.BatchNormalization()(y)
    y = layers.GlobalMaxPooling2D()(y)
    y = layers.Dense(5)(y)
    y = layers.BatchNormalization(center=False)(y)
    y = layers.ReLU()(y)
    outputs = layers.Dense(2, activation="sigmoid")(y)
    return tichchap.Model(inputs, outputs)


def test_batch_norm_is_folded_and_matches_the_unfolded_float_model():
    rng = np.random.default_rng(3)
    model = randomise(bn_net(), rng)
    golden = GoldenModel(model, Float32())
    assert "conv2d" not in golden.layer_names and golden.aliases["conv2d"] == "batch_normalization"
    assert golden.step("depthwise_conv2d").covers == ["depthwise_conv2d", "batch_normalization_1"]
    x = rng.normal(size=(2, 6, 5, 3))
    words, floats = golden.run(x), golden.float_outputs(x)
    for name in golden.layer_names:
        got = Float32().from_words(words[name])
        scale = max(float(np.abs(floats[name]).max()), 1e-6)
        assert np.max(np.abs(got - floats[name])) <= 2e-5 * scale, name
    assert np.allclose(golden.predict(x), model.predict(x.astype(np.float32), verbose=0), atol=1e-5)
    # folded in float64, then quantised: the words of the folded kernel are the float32 of W*g
    bn = model.get_layer("batch_normalization")
    g = np.asarray(bn.gamma, np.float64) / np.sqrt(np.asarray(bn.moving_variance, np.float64) + 1e-3)
    kernel = np.asarray(model.get_layer("conv2d").kernel, np.float64) * g
    assert np.array_equal(golden.step("conv2d").kernel, kernel.astype(np.float32).view(np.uint32))
    # in Fixed, within a few LSBs of the unfolded float model
    fmt = Fixed(20, 8, rounding="RND", overflow="SAT")
    fixed = GoldenModel(model, fmt)
    got = fmt.from_words(fixed.run(x)["batch_normalization"])
    assert np.max(np.abs(got - floats["batch_normalization"])) < 40 * 2.0 ** -12


def test_unsupported_layers_and_bad_options_are_refused_by_name():
    inputs = tichchap.Input((6, 5, 3))
    y = layers.Conv2D(4, 3, activation="relu")(inputs)
    y = layers.BatchNormalization(name="bn_after_relu")(y)
    with pytest.raises(ConfigError, match="bn_after_relu.*BatchNormalization.*linear activation"):
        GoldenModel(tichchap.Model(inputs, y), Float32())
    inputs = tichchap.Input((6, 5, 3))
    y = layers.SeparableConv2D(4, 3, name="sep")(inputs)
    with pytest.raises(ConfigError, match=r"sep \(SeparableConv2D\).*no golden"):
        GoldenModel(tichchap.Model(inputs, y), Fixed(16, 6))
    hidden_tanh = tichchap.Sequential([tichchap.Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(2)])
    with pytest.raises(ConfigError, match="dense.*tanh"):
        GoldenModel(hidden_tanh, Fixed(16, 6))
    model = tiny_fixed_net()
    with pytest.raises(ConfigError, match="not in the model"):
        GoldenModel(model, Fixed(16, 6), layer_formats={"nope": Fixed(8, 4)})
    with pytest.raises(ConfigError, match="float datapath"):
        GoldenModel(model, Float32(), layer_formats={model.layers[0].name: Fixed(8, 4)})
    pool = tichchap.Sequential([tichchap.Input((4, 4, 1)), layers.AveragePooling2D(name="avg")])
    with pytest.raises(ConfigError, match=r"avg \(AveragePooling2D\)"):
        GoldenModel(pool, TruncatedFloat32())
    golden = GoldenModel(model, Fixed(16, 6))
    with pytest.raises(ShapeError, match="expected"):
        golden.run(np.zeros((1, 5, 6, 2)))


# ============================================================================ replay, trace
def test_run_layer_replays_one_layer_on_any_words():
    rng = np.random.default_rng(4)
    model = randomise(tiny_fixed_net(), rng)
    fmt = Fixed(16, 6, rounding="RND", overflow="SAT")
    golden = GoldenModel(model, fmt)
    x = rng.normal(size=(1, 4, 6, 2))
    words = golden.run(x)
    for step in golden.steps:                                        # fed the golden's own input: same words
        assert np.array_equal(golden.run_layer(step.name, words[step.inputs[0]]), words[step.name])
    # an "RTL" input that differs: replay gives exactly the kernel's answer on that input
    rtl_input = words["input_layer"].copy()
    rtl_input[0, 1, 2, 1] ^= np.uint64(0x35)
    replayed = golden.run_layer("conv2d", rtl_input)
    step = golden.step("conv2d")
    direct = kernels.relu(kernels.conv2d(rtl_input, step.kernel, step.bias, fmt, padding="same"), fmt)
    assert np.array_equal(replayed, direct) and not np.array_equal(replayed, words["conv2d"])
    with pytest.raises(ConfigError, match="no layer named"):
        golden.run_layer("conv9", rtl_input)


def test_trace_pixel_prints_the_computation_and_ends_at_runs_word():
    rng = np.random.default_rng(5)
    model = randomise(food_like_net(), rng, scale=0.4)
    golden = GoldenModel(model, TruncatedFloat32())
    x = rng.random((1, 6, 4, 3))
    words = golden.run(x)
    out = io.StringIO()
    trace = golden.trace_pixel("conv2d", (0, 0, 3, 2), file=out)
    assert trace["output"] == int(words["conv2d"][0, 0, 3, 2])
    assert sum(s["op"] == "mul" for s in trace["steps"]) == 27
    printed = out.getvalue()
    assert f"0x{trace['output']:08x}" in printed and "x[0,-1,2,0]" in printed   # padding words traced
    assert "relu" in printed
    for layer, index in (("conv2d_1", (0, 5, 0, 1)), ("max_pooling2d", (0, 2, 1, 3)), ("dense", (0, 2)),
                         ("dense_1", (0, 1)), ("flatten", (0, 7))):
        trace = golden.trace_pixel(layer, index, file=None)
        assert trace["output"] == int(words[layer][index]), layer
    assert "softmax follows in software" in golden.trace_pixel("dense_1", (0, 0), file=None)["text"]
    fixed = GoldenModel(model, Fixed(10, 4, rounding="RND", overflow="SAT"))
    fixed_words = fixed.run(x)
    trace = fixed.trace_pixel("conv2d_1", (0, 2, 2, 0), x=x, file=None)
    assert trace["output"] == int(fixed_words["conv2d_1"][0, 2, 2, 0])


# ============================================================================ memory files
@pytest.mark.parametrize("file_format, layout", [("hex", "NHWC"), ("seed", "per_channel"), ("npy", "NCHW")])
def test_export_then_import_round_trips_a_whole_network(tmp_path, file_format, layout):
    rng = np.random.default_rng(6)
    model = randomise(food_like_net(), rng, scale=0.4)
    golden = GoldenModel(model, Fixed(16, 6, rounding="RND", overflow="SAT"))
    x = rng.random((1, 6, 4, 3))
    manifest = golden.export(str(tmp_path), x, file_format=file_format, layout=layout, source={"test": 1})
    words = golden.run(x)
    loaded, read_manifest = load_exported(str(tmp_path))
    assert read_manifest == manifest
    assert np.array_equal(loaded["input"], words["input_layer"])
    for step in golden.steps:
        assert np.array_equal(loaded[step.name], words[step.name]), step.name
        if step.kernel is not None:
            assert np.array_equal(loaded[step.name + "/kernel"], step.kernel)
            assert np.array_equal(loaded[step.name + "/bias"], step.bias)
    entry = next(e for e in manifest["layers"] if e["name"] == "conv2d")
    assert entry["expected"]["layout"] == layout and entry["expected"]["shape"] == [1, 6, 4, 4]
    # the expected folder reads back as a dump folder
    dumps = read_dumps(str(tmp_path / "expected"), golden)
    assert sorted(dumps) == sorted(s.name for s in golden.steps)
    assert all(np.array_equal(dumps[k], words[k]) for k in dumps)


def test_read_dumps_takes_seed_per_channel_files_and_checks_frames(tmp_path):
    rng = np.random.default_rng(7)
    model = randomise(food_like_net(), rng, scale=0.4)
    golden = GoldenModel(model, TruncatedFloat32())
    words = golden.run(rng.random((1, 6, 4, 3)))
    two_frames = np.concatenate([words["conv2d_1"], words["conv2d_1"] ^ np.uint32(1)], axis=1)   # 2 frames
    export_words(str(tmp_path / "conv2d_1.txt"), two_frames[0], 32, file_format="seed", layout="per_channel",
                 manifest=False)
    with pytest.raises(Exception, match="frame"):
        read_dumps(str(tmp_path), golden)
    dumps = read_dumps(str(tmp_path), golden, frame=0)
    assert list(dumps) == ["conv2d_1"] and np.array_equal(dumps["conv2d_1"], words["conv2d_1"])
    second = read_dumps(str(tmp_path), golden, frame=1)["conv2d_1"]
    assert np.array_equal(second, words["conv2d_1"] ^ np.uint32(1))
    assert math.isclose(np.count_nonzero(second != words["conv2d_1"]) / second.size, 1.0)
    assert os.path.exists(tmp_path / "conv2d_1_c3.txt")


def test_merge_average_pooling_and_reshape_layers_follow_the_float_model():
    rng = np.random.default_rng(8)
    inputs = tichchap.Input((6, 4, 2))
    a = layers.Conv2D(2, 3, padding="same")(inputs)
    y = layers.Add()([inputs, a])
    y = layers.Concatenate()([y, layers.AveragePooling2D(1)(a)])
    y = layers.AveragePooling2D((2, 2), strides=(1, 2), padding="same")(y)
    g = layers.GlobalAveragePooling2D()(y)
    y = layers.Reshape((4, 3, 4))(y)
    y = layers.GlobalMaxPooling2D()(y)
    outputs = layers.Dense(2)(layers.Concatenate()([y, g]))
    model = randomise(tichchap.Model(inputs, outputs), rng)
    x = rng.normal(size=(2, 6, 4, 2))
    fmt = Fixed(24, 8, rounding="RND", overflow="SAT")
    golden = GoldenModel(model, fmt)
    words, floats = golden.run(x), golden.float_outputs(x)
    for name in golden.layer_names:
        error = np.max(np.abs(golden.output_format(name).from_words(words[name]) - floats[name]))
        assert error < 64 * 2.0 ** -16, name
    # Add in Fixed: the exact sum of the two inputs' values, cast once
    add = golden.step("add")
    exact = golden.output_format("input_layer").from_words(words["input_layer"]) + fmt.from_words(words["conv2d"])
    assert np.array_equal(add.formats.output.from_words(words["add"]), exact)
    assert golden.overflows["add"] == 0
    # and in float32 through the format's adder (a sub-model: float formats have no average pooling)
    f32 = GoldenModel(tichchap.Model(model.inputs, model.get_layer("add").output), Float32())
    f32_words = f32.run(x)
    assert np.array_equal(f32_words["add"], (x.astype(np.float32) + f32_words["conv2d"].view(np.float32)).view(np.uint32))
