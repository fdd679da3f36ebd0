"""Models: Keras' parameter counts and names, the graph, training, saving, exact resume."""

import numpy as np
import pytest

import tichchap
from tichchap import Input, Model, Sequential, callbacks, layers, ops
from tichchap.errors import ConfigError, DataError, NotBuiltError, ShapeError, TrainingError


def small_cnn():
    return Sequential([
        Input((28, 28, 1)), layers.Conv2D(6, 1), layers.MaxPooling2D(), layers.BatchNormalization(),
        layers.Activation("relu"), layers.Conv2D(16, 5), layers.MaxPooling2D(), layers.BatchNormalization(),
        layers.Activation("relu"), layers.Flatten(), layers.Dense(10, activation="softmax")])


def synthetic_images(n=384, seed=0, classes=4):
    """Each class lights up a different bar: learnable by a small CNN in a few epochs."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(0, 0.3, size=(n, 12, 10, 1)).astype(np.float32)
    for c in range(classes):
        rows = y == c
        x[rows, 2 + 2 * c, 1:9, 0] += 2.0
    return x, y


def tiny_model(dropout=0.0):
    model = Sequential([Input((12, 10, 1)), layers.Conv2D(4, (3, 2), activation="relu"), layers.MaxPooling2D(),
                        layers.Flatten(), layers.Dropout(dropout), layers.Dense(4, activation="softmax")])
    return model


def test_keras_parameter_counts_mlp_and_small_cnn():
    mlp = Sequential([Input((784,)), layers.Dense(128, activation="relu"), layers.Dense(10, activation="softmax")])
    assert mlp.count_params() == 101_770
    model = small_cnn()
    assert model.count_params() == 6_526
    assert sum(w.size for w in model.trainable_weights) == 6_482
    assert sum(w.size for w in model.non_trainable_weights) == 44
    shapes = [l.output_shape[1:] for l in model.layers if type(l).__name__ != "BatchNormalization"
              and type(l).__name__ != "Activation"]
    assert shapes == [(28, 28, 6), (14, 14, 6), (10, 10, 16), (5, 5, 16), (400,), (10,)]


def test_summary_prints_keras_table_and_totals(capsys):
    small_cnn().summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out
    assert "conv2d_1 (Conv2D)" in out and "(None, 10, 10, 16)" in out and "2,416" in out
    assert " Total params: 6,526 (25.49 KB)" in out
    assert " Trainable params: 6,482 (25.32 KB)" in out
    assert " Non-trainable params: 44 (176.00 B)" in out


def test_names_follow_keras_and_sequential_hides_input_layer():
    model = small_cnn()
    names = [l.name for l in model.layers]
    assert names[:5] == ["conv2d", "max_pooling2d", "batch_normalization", "activation", "conv2d_1"]
    assert model.get_layer("dense") is model.layers[-1]
    inp = Input((4,))
    functional = Model(inp, layers.Dense(2)(inp))
    assert functional.name == "functional"
    assert [l.name for l in functional.layers] == ["input_layer_1", "dense_1"]
    with pytest.raises(ConfigError, match="no layer named 'nope'"):
        model.get_layer("nope")


def test_weights_in_keras_order_and_shapes():
    model = small_cnn()
    shapes = [w.shape for w in model.get_weights()]
    assert shapes[:6] == [(1, 1, 1, 6), (6,), (6,), (6,), (6,), (6,)]
    assert shapes[6:8] == [(5, 5, 6, 16), (16,)]
    new = [np.full(s, i, dtype=np.float32) for i, s in enumerate(shapes)]
    model.set_weights(new)
    assert model.get_layer("conv2d_1").kernel[0, 0, 0, 0] == 6
    before = model.get_weights()
    bad = list(new)
    bad[-1] = np.zeros(11)
    with pytest.raises(ShapeError, match=r"dense.*\(10,\).*\(11,\)"):
        model.set_weights(bad)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_sub_model_over_intermediate_outputs_shares_weights():
    model = small_cnn()
    names = ["conv2d", "activation", "dense"]
    features = Model(model.inputs, [model.get_layer(n).output for n in names])
    x = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype(np.float32)
    maps = features.predict(x, verbose=0)
    assert [m.shape for m in maps] == [(2, 28, 28, 6), (2, 14, 14, 6), (2, 10)]
    np.testing.assert_allclose(maps[2], model.predict(x, verbose=0), rtol=1e-6)
    model.get_layer("conv2d").kernel[...] = 0
    assert np.all(features.predict(x, verbose=0)[0] == model.get_layer("conv2d").bias)


def test_keras2_style_input_shape_and_lazy_build():
    model = Sequential([layers.Conv2D(2, 3, input_shape=(6, 5, 1)), layers.Flatten(), layers.Dense(3)])
    assert model.output_shape == (None, 3)
    lazy = Sequential([layers.Dense(3), layers.Dense(2)])
    with pytest.raises(NotBuiltError, match="no input shape"):
        lazy.summary()
    assert lazy.predict(np.zeros((4, 7)), verbose=0).shape == (4, 2)
    assert lazy.count_params() == 7 * 3 + 3 + 3 * 2 + 2


def test_training_learns_a_small_task_quickly():
    x, y = synthetic_images()
    model = tiny_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.95 and loss < 0.5


def test_history_has_validation_keys_and_validation_split_takes_the_tail():
    x, y = synthetic_images(200)
    model = tiny_model()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1]
    val_loss, val_acc = model.evaluate(x[150:], y[150:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert model.history is history


def test_one_hot_labels_categorical_crossentropy_and_train_on_batch():
    x, y = synthetic_images(64)
    model = tiny_model()
    model.compile("sgd", "categorical_crossentropy", ["accuracy"])
    loss, acc = model.train_on_batch(x, tichchap.utils.to_categorical(y, 4))
    assert np.isfinite(loss) and 0 <= acc <= 1


def test_same_seed_same_run_bit_for_bit():
    def run():
        tichchap.utils.clear_session()
        tichchap.utils.set_random_seed(7)
        x, y = synthetic_images(96)
        model = tiny_model(dropout=0.3)
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_saved_mid_training_resumes_to_identical_weights(tmp_path, optimizer, shuffle):
    def fresh():
        tichchap.utils.clear_session()
        tichchap.utils.set_random_seed(11)
        model = tiny_model(dropout=0.25)
        opt = tichchap.optimizers.Adam() if optimizer == "adam" else tichchap.optimizers.SGD(0.05, momentum=0.9)
        model.compile(opt, "sparse_categorical_crossentropy", ["accuracy"])
        return model

    x, y = synthetic_images(96)
    straight = fresh()
    straight.fit(x, y, batch_size=16, epochs=3, shuffle=shuffle, verbose=0)

    first = fresh()
    first.fit(x, y, batch_size=16, epochs=1, shuffle=shuffle, verbose=0)
    first.save(tmp_path / "model.npz")
    del first
    tichchap.utils.set_random_seed(999)  # the global stream must not matter after loading
    resumed = tichchap.load_model(tmp_path / "model.npz")
    assert resumed.completed_epochs == 1
    resumed.fit(x, y, batch_size=16, epochs=3, initial_epoch=resumed.completed_epochs, shuffle=shuffle, verbose=0)
    assert resumed.optimizer.iterations == straight.optimizer.iterations
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_functional_residual_model(tmp_path):
    inp = Input((8, 6, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    y = layers.SeparableConv2D(4, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    x = layers.Add()([x, y])
    x = layers.Concatenate()([x, layers.DepthwiseConv2D(3, padding="same")(x)])
    x = layers.GlobalAveragePooling2D()(layers.ZeroPadding2D(((1, 0), (0, 2)))(x))
    out = layers.Dense(3, activation="softmax")(x)
    model = Model(inp, out, name="residual")
    data = np.random.default_rng(1).normal(size=(5, 8, 6, 3)).astype(np.float32)
    model.save(tmp_path / "m.npz")
    loaded = tichchap.load_model(tmp_path / "m.npz")
    assert loaded.name == "residual" and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_float64_end_to_end():
    tichchap.config.set_floatx("float64")
    x, y = synthetic_images(64)
    model = tiny_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    assert all(w.dtype == np.float64 for w in model.weights)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float64
    assert all(w.dtype == np.float64 for w in model.weights)
    assert all(g.dtype == np.float64 for l in model.layers for g in l.grads.values())
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_float32_stays_float32_everywhere():
    x, y = synthetic_images(64)
    model = tiny_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x.astype(np.float64), y, epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.weights)
    assert all(g.dtype == np.float32 for l in model.layers for g in l.grads.values())
    assert all(s.dtype == np.float32 for slots in model.optimizer.get_state()["slots"] for s in slots)


def test_nan_loss_stops_with_terminate_on_nan_and_keeps_finite_weights(capsys):
    x, y = synthetic_images(64)
    model = tiny_model()
    model.compile(tichchap.optimizers.SGD(1e30), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert "invalid loss" in capsys.readouterr().out
    assert all(np.isfinite(w).all() for w in model.get_weights())
    model2 = tiny_model()
    model2.compile(tichchap.optimizers.SGD(1e30), "sparse_categorical_crossentropy")
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+"):
        model2.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert all(np.isfinite(w).all() for w in model2.get_weights())


def test_early_stopping_and_checkpoint_best_only(tmp_path):
    x, y = synthetic_images(128)
    model = tiny_model()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    path = tmp_path / "best.npz"
    history = model.fit(x, y, epochs=30, validation_split=0.25, verbose=0, callbacks=[
        callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0),
        callbacks.ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)])
    assert len(history.epoch) == 2  # no epoch improves loss by 10
    assert path.exists()
    assert tichchap.load_model(path).evaluate(x[96:], y[96:], verbose=0)[1] == pytest.approx(max(history.history["val_accuracy"]))


def test_clear_errors_for_bad_input():
    x, y = synthetic_images(32)
    model = tiny_model()
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    with pytest.raises(ShapeError, match=r"expects 1 channels .*received x of shape \(32, 12, 10, 3\)"):
        model.fit(np.repeat(x, 3, axis=-1), y, verbose=0)
    with pytest.raises(ShapeError, match=r"add the channel axis"):
        model.predict(x[..., 0], verbose=0)
    with pytest.raises(ShapeError, match="same number of samples"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(DataError, match=r"class label out of range.*\[0, 3\]"):
        model.fit(x, y + 4, verbose=0)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        model.predict(bad, verbose=0)
    with pytest.raises(ConfigError, match="unknown loss"):
        model.compile("adam", "categorical_crossentropyy")
    with pytest.raises(ConfigError, match="unknown optimizer"):
        model.compile("adamw", "mse")
    with pytest.raises(ConfigError, match="kernel_size"):
        layers.Conv2D(3, 0)
    with pytest.raises(ConfigError, match="padding"):
        layers.Conv2D(3, 3, padding="full")
    with pytest.raises(ConfigError, match="unknown activation"):
        layers.Dense(3, activation="relu6x")
    with pytest.raises(ConfigError, match="dilation_rate"):
        layers.Conv2D(3, 3, dilation_rate=2)
    conv = layers.Conv2D(3, 3)
    conv(np.zeros((1, 8, 8, 6)))
    with pytest.raises(ShapeError, match=r"conv2d_\d+: expected input with 6 channels, got \(32, 14, 14, 3\)"):
        conv(np.zeros((32, 14, 14, 3)))
    # The model still works after every refusal.
    assert model.fit(x, y, epochs=1, verbose=0).history["loss"][0] > 0


def test_inference_writes_over_activations_only_when_no_one_reads_them_again():
    """model(x) lets ReLU and batch norm overwrite an input array that is dead after them; the
    caller's array, its views and arrays other layers still read are never overwritten."""
    from tichchap import Input, Model, layers

    rng = np.random.default_rng(0)
    inp = Input((6, 6, 3))
    flat_view = layers.Reshape((6, 6, 3))(inp)  # a view of the caller's array
    relu_on_view = layers.Activation("relu")(flat_view)
    conv = layers.Conv2D(4, 3, padding="same")(relu_on_view)
    norm_layer = layers.BatchNormalization()
    normed = norm_layer(conv)  # conv's output is dead after this: may be overwritten
    branch = layers.Activation("relu")(normed)  # normed is read again below: must not be overwritten
    joined = layers.Concatenate()([branch, normed])
    dropped = layers.Dropout(0.5)(joined)  # inference: passes its input on
    out = layers.Activation("tanh")(dropped)  # keeps normed's negative values visible in the output
    model = Model(inp, out)
    norm_layer.set_weights([rng.random(4) + 0.5, rng.standard_normal(4), rng.standard_normal(4), rng.random(4) + 0.5])

    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    x_before = x.copy()
    expected = model.forward([x.copy()], training=False, keep_cache=True)[0]  # no overwriting
    got = model(x)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x, verbose=0), got)


def test_inference_moves_a_relu_into_the_separable_convolution_that_alone_reads_it(monkeypatch):
    """Xception's pattern: Activation("relu") read only by a (depthwise or) separable convolution
    is skipped and taken in that convolution's padding copy. Bit-identical to the plain pass; not
    done when the ReLU's output is a model output or has another reader; never in training."""
    from tichchap import Input, Model, layers

    rng = np.random.default_rng(1)
    inp = Input((7, 5, 3))
    moved = layers.Activation("relu")(inp)  # read by the separable conv only: moved
    sep = layers.SeparableConv2D(4, (3, 2), padding="same", use_bias=False)(moved)
    residual = layers.Conv2D(4, 1)(inp)
    added = layers.Add()([sep, residual])  # inp is read twice: the moved ReLU must not touch it
    kept = layers.Activation("relu")(added)  # read by the depthwise conv and by Concatenate: kept
    depthwise = layers.DepthwiseConv2D(3, padding="same")(kept)
    joined = layers.Concatenate()([depthwise, kept])
    moved_too = layers.Activation("relu")(joined)  # read by the depthwise conv (valid padding) only
    out = layers.DepthwiseConv2D((2, 3))(moved_too)
    model = Model(inp, [out, kept])
    assert [t.layer.name for t in model._tensors if t.id in model._relus_moved_into_readers()] == \
        [moved.layer.name, moved_too.layer.name]

    calls = []
    for cls in (layers.SeparableConv2D, layers.DepthwiseConv2D):
        original = cls.forward_after_relu
        monkeypatch.setattr(cls, "forward_after_relu",
                            lambda self, x, original=original: calls.append(self.name) or original(self, x))
    x = rng.standard_normal((2, 7, 5, 3)).astype(np.float32)
    x_before = x.copy()
    expected = model.forward([x.copy()], training=False, keep_cache=True)  # every ReLU as a layer
    assert calls == []
    got = model(x)
    assert calls == [sep.layer.name, out.layer.name]
    np.testing.assert_array_equal(x, x_before)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    model.forward([x], training=True, keep_cache=True)
    assert calls == [sep.layer.name, out.layer.name]  # training runs every layer as written


def test_filling_padded_rows_with_relu_pads_the_rectified_input():
    from tichchap.ops.padding import fill_padded_rows

    x = np.random.default_rng(2).standard_normal((2, 4, 3, 5)).astype(np.float32)
    for pads in (((1, 2), (0, 1)), ((0, 0), (0, 0))):
        got = np.empty((2, 4 + sum(pads[0]), 3 + sum(pads[1]), 5), np.float32)
        for start, stop in ((0, 2), (2, got.shape[1])):  # in two pieces, as two blocks would
            fill_padded_rows(got, x, pads, start, stop, relu=True)
        np.testing.assert_array_equal(got, np.pad(np.maximum(x, 0), ((0, 0), *pads, (0, 0))))


def test_a_convolution_read_only_by_a_max_pooling_computes_the_pooling_too(monkeypatch):
    """LeNet's pattern: Conv2D(relu) -> MaxPooling2D runs as one step (ops/conv_pool.py), in
    training and inference, overlapping windows included; not where the convolution's output is a
    model output or has another reader, or the activation is not ReLU."""
    tichchap.config.set_floatx("float64")
    try:
        inp = Input((12, 10, 2))
        fused = layers.Conv2D(3, (2, 3), activation="relu", padding="same")(inp)
        pooled = layers.MaxPooling2D(2)(fused)
        tanh = layers.Conv2D(3, 2, activation="tanh")(pooled)  # not ReLU: kept
        kept = layers.MaxPooling2D(2)(tanh)
        linear = layers.Conv2D(4, 1)(kept)  # no activation: fused; the pooling's windows tile it
        fused_too = layers.MaxPooling2D(1)(linear)
        read_twice = layers.Conv2D(2, 1, activation="relu")(fused_too)  # two readers: kept
        overlapping = layers.MaxPooling2D(2, strides=1)(layers.Conv2D(2, 1, activation="relu")(read_twice))  # fused
        out = layers.Concatenate()([layers.Flatten()(read_twice), layers.Flatten()(overlapping)])
        model = Model(inp, layers.Dense(3, activation="softmax")(out))
        side = Model(inp, [fused, pooled])  # the convolution's output is a model output: kept
    finally:
        tichchap.config.set_floatx("float32")
    pooled = model._convolutions_read_by_a_pooling()
    assert {t.layer.name for t in model._tensors if t.id in pooled} == {
        fused.layer.name, tanh.layer.name, linear.layer.name, overlapping.inputs[0].layer.name}
    assert side._convolutions_read_by_a_pooling() == {}

    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 12, 10, 2))
    y = rng.integers(0, 3, 4)
    fused_run = _prediction_and_grads(model, x, y, monkeypatch, fuse=True)
    assert sorted(t.layer.name for t in model._fused_pools.values()) == \
        sorted([fused.layer.name, linear.layer.name, overlapping.inputs[0].layer.name])
    layers_run = _prediction_and_grads(model, x, y, monkeypatch, fuse=False)
    assert model._fused_pools == {}
    _assert_same_run(fused_run, layers_run, prediction_rtol=1e-12, grads_rtol=1e-10, grads_atol=1e-12)


def _prediction_and_grads(model, x, y, monkeypatch, fuse):
    """``model(x)``, then one training step's forward and backward (softmax cross-entropy on the
    labels ``y``), every weight as it was before; ``fuse=False``: each Conv2D a MaxPooling2D reads
    runs as its own layer. Returns the prediction and every layer's gradients."""
    weights = model.get_weights()
    with monkeypatch.context() as patch:
        if not fuse:
            patch.setattr(layers.Conv2D, "forward_pooled", lambda self, *args, **kwargs: None)
        prediction = model(x)
        out = model.forward([x], training=True)[0]
        model.backward([out - np.eye(out.shape[1])[y]], fused=True)
    model.set_weights(weights)  # batch norm's moving statistics as they were
    return prediction, {l.name: dict(l.grads) for l in model.layers if getattr(l, "grads", None)}


def _assert_same_run(got, want, prediction_rtol, grads_rtol, grads_atol):
    """Two :func:`_prediction_and_grads` results agree."""
    np.testing.assert_allclose(got[0], want[0], rtol=prediction_rtol)
    assert got[1].keys() == want[1].keys()
    for name in got[1]:
        for key in got[1][name]:
            np.testing.assert_allclose(got[1][name][key], want[1][name][key], rtol=grads_rtol, atol=grads_atol)


def test_one_channel_convolution_and_pooling_hand_on_images_inner_views(monkeypatch):
    """LeNet's first step (one input channel, Conv2D(relu) + MaxPooling2D with the combined
    kernel) returns its output as an images-inner view ((H, W, N, C) memory, NHWC shape). Every
    reader takes it as any NHWC array: a Winograd convolution (which gives its input gradient back
    in the same layout), a plain one, batch norm, Flatten; predictions and gradients are those of
    the two layers run one by one."""
    import tichchap.ops.conv as conv_module
    from tichchap.ops import conv_pool

    monkeypatch.setattr(conv_pool, "COMBINED_MIN_OUTPUTS", 1)
    for name in ("WINOGRAD_MIN_C_IN", "WINOGRAD_MIN_C_OUT"):
        monkeypatch.setattr(conv_module, name, 1)
    monkeypatch.setattr(conv_module, "WINOGRAD_MIN_OUTPUTS", {3: 1, 5: 1})
    tichchap.config.set_floatx("float64")
    try:
        inp = Input((11, 13, 1))
        pooled = layers.MaxPooling2D(2)(layers.Conv2D(4, 4, activation="relu")(inp))  # (4, 5, 4); 4x4: no Winograd
        winograd = layers.Conv2D(3, 3, padding="same", activation="relu")(pooled)
        plain = layers.Conv2D(2, 2)(pooled)
        normed = layers.BatchNormalization()(pooled)
        out = layers.Concatenate()([layers.Flatten()(t) for t in (winograd, plain, normed, pooled)])
        model = Model(inp, layers.Dense(3, activation="softmax")(out))
    finally:
        tichchap.config.set_floatx("float32")
    layouts = []
    forward = conv_pool.conv2d_maxpool_forward

    def spy(*args, **kwargs):
        y, cache = forward(*args, **kwargs)
        layouts.append(conv_module.is_images_inner(y))
        return y, cache

    monkeypatch.setattr(conv_pool, "conv2d_maxpool_forward", spy)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 11, 13, 1))
    y = rng.integers(0, 3, 5)
    fused_run = _prediction_and_grads(model, x, y, monkeypatch, fuse=True)
    assert layouts == [True, True]
    layers_run = _prediction_and_grads(model, x, y, monkeypatch, fuse=False)
    _assert_same_run(fused_run, layers_run, prediction_rtol=1e-10, grads_rtol=1e-9, grads_atol=1e-11)


def test_thin_convolutions_run_channel_major_in_a_model_as_they_run_nhwc(monkeypatch):
    """food_net's shape of model (thin 'same' convolutions, ReLU, poolings, Dense), with the
    channel-major path forced on every convolution: its activations stay channel-major views from
    layer to layer, and predictions and gradients are the NHWC path's."""
    import tichchap.ops.conv as conv_module

    tichchap.config.set_floatx("float64")
    try:
        tichchap.utils.set_random_seed(4)
        model = Sequential([
            Input((8, 8, 3)),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.Conv2D(4, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(5, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ])
    finally:
        tichchap.config.set_floatx("float32")
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((5, 8, 8, 3)), rng.integers(0, 3, 5)

    def run(channel_major):
        monkeypatch.setattr(conv_module, "KEEP_COLS_BYTES", 0)
        monkeypatch.setattr(conv_module, "CHANNEL_MAJOR_CONV_MAX_C_IN", 16 if channel_major else 0)
        first = model.layers[0]
        out = model.forward([x], training=True)[0]
        assert ops.is_channel_major(first._a) == channel_major
        model.backward([out - np.eye(3)[y]], fused=True)
        prediction = model.predict(x, verbose=0)
        monkeypatch.undo()
        return prediction, {l.name: dict(l.grads) for l in model.layers if getattr(l, "grads", None)}

    prediction, grads = run(channel_major=True)
    expected_prediction, expected_grads = run(channel_major=False)
    np.testing.assert_allclose(prediction, expected_prediction, rtol=1e-12)
    for name in expected_grads:
        for key in expected_grads[name]:
            np.testing.assert_allclose(grads[name][key], expected_grads[name][key], rtol=1e-10, atol=1e-12)
