"""Every bad input gets one clear sentence: the right exception (a ValueError or TypeError
subclass), naming the argument, layer or file and the values; and the model still works after."""

import numpy as np
import pytest

import tichchap
from tichchap import Input, Model, Sequential, layers, optimizers
from tichchap.errors import (ArgumentTypeError, ConfigError, DataError, DataNotFoundError, FileFormatError,
                             NotBuiltError, ShapeError, TichchapError)

rng = np.random.default_rng(0)
X = rng.normal(size=(24, 10, 8, 1)).astype(np.float32)
Y = rng.integers(0, 3, 24)


def model():
    m = Sequential([Input((10, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                    layers.Flatten(), layers.Dense(3, activation="softmax")], name="shared")
    m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return m


def with_x(change):
    x = X.copy()
    change(x)
    return x


def _text_file(tmp_path):
    path = tmp_path / "model.npz"
    path.write_text("not a model")
    return path


CASES = [
    # layer constructors
    ("Conv2D filters=0", lambda m, t: layers.Conv2D(0, 3), ConfigError, r"filters must be a positive int; received filters=0"),
    ("Conv2D filters str", lambda m, t: layers.Conv2D("3", 3), ConfigError, r"filters.*'3'"),
    ("Conv2D kernel_size=0", lambda m, t: layers.Conv2D(3, 0), ConfigError, r"kernel_size.*>= 1.*kernel_size=0"),
    ("Conv2D kernel_size triple", lambda m, t: layers.Conv2D(3, (3, 3, 3)), ConfigError, r"kernel_size.*pair"),
    ("Conv2D strides=0", lambda m, t: layers.Conv2D(3, 3, strides=0), ConfigError, r"strides.*>= 1"),
    ("Conv2D padding", lambda m, t: layers.Conv2D(3, 3, padding="full"), ConfigError, r"padding must be 'valid' or 'same'; received padding='full'"),
    ("Conv2D activation", lambda m, t: layers.Conv2D(3, 3, activation="relu7"), ConfigError, r"unknown activation.*relu7"),
    ("Conv2D initializer", lambda m, t: layers.Conv2D(3, 3, kernel_initializer="xavier"), ConfigError, r"unknown initializer.*xavier"),
    ("Conv2D dilation", lambda m, t: layers.Conv2D(3, 3, dilation_rate=2), ConfigError, r"dilation_rate=2 is not supported"),
    ("Conv2D unknown kwarg", lambda m, t: layers.Conv2D(3, 3, kernal_size=3), ArgumentTypeError, r"unexpected keyword argument 'kernal_size'"),
    ("DepthwiseConv2D multiplier", lambda m, t: layers.DepthwiseConv2D(3, depth_multiplier=0), ConfigError, r"depth_multiplier"),
    ("Dense units=0", lambda m, t: layers.Dense(0), ConfigError, r"units must be a positive int; received units=0"),
    ("Dense units float", lambda m, t: layers.Dense(3.5), ConfigError, r"units=3.5"),
    ("MaxPooling2D pool 0", lambda m, t: layers.MaxPooling2D(0), ConfigError, r"pool_size"),
    ("AveragePooling2D strides -1", lambda m, t: layers.AveragePooling2D(2, strides=-1), ConfigError, r"strides"),
    ("MaxPooling2D padding", lambda m, t: layers.MaxPooling2D(padding="causal"), ConfigError, r"padding.*causal"),
    ("Dropout rate 1", lambda m, t: layers.Dropout(1.0), ConfigError, r"rate must be a number in \[0, 1\); received rate=1.0"),
    ("Dropout rate str", lambda m, t: layers.Dropout("half"), ConfigError, r"rate=.half"),
    ("BatchNormalization momentum", lambda m, t: layers.BatchNormalization(momentum=1.5), ConfigError, r"momentum.*1.5"),
    ("BatchNormalization epsilon", lambda m, t: layers.BatchNormalization(epsilon=0), ConfigError, r"epsilon must be > 0"),
    ("ZeroPadding2D negative", lambda m, t: layers.ZeroPadding2D(-1), ConfigError, r"padding must be >= 0"),
    ("ZeroPadding2D triple", lambda m, t: layers.ZeroPadding2D((1, 2, 3)), ConfigError, r"int, a pair of ints or a pair of pairs"),
    ("Reshape zero", lambda m, t: layers.Reshape((0, 5)), ConfigError, r"target_shape"),
    ("Activation name", lambda m, t: layers.Activation("swishy"), ConfigError, r"unknown activation.*swishy"),
    ("Input zero dim", lambda m, t: Input((0, 5)), ConfigError, r"positive int.*\(0, 5\)"),
    ("Concatenate batch axis", lambda m, t: layers.Concatenate(axis=0), ConfigError, r"non-batch axis"),
    # graphs
    ("Conv2D on rank-2 input", lambda m, t: layers.Conv2D(2, 3)(Input((5,))), ShapeError, r"rank-4.*\(None, 5\)"),
    ("kernel larger than input", lambda m, t: layers.Conv2D(2, 7)(Input((5, 9, 1))), ShapeError, r"smaller than the 7x7 kernel"),
    ("Add of different shapes", lambda m, t: layers.Add()([Input((4, 4, 2)), Input((4, 4, 3))]), ShapeError, r"one shape"),
    ("Reshape impossible", lambda m, t: layers.Reshape((7, -1))(Input((4, 5))), ShapeError, r"cannot reshape"),
    ("disconnected graph", lambda m, t: Model(Input((3,)), layers.Dense(2)(Input((3,)))), ConfigError, r"graph disconnected"),
    # compile
    ("unknown loss", lambda m, t: m.compile("adam", "crossentropy"), ConfigError, r"unknown loss.*crossentropy"),
    ("unknown optimizer", lambda m, t: m.compile("adamw", "mse"), ConfigError, r"unknown optimizer.*adamw"),
    ("unknown metric", lambda m, t: m.compile("adam", "mse", ["precision@5"]), ConfigError, r"unknown metric.*precision@5"),
    ("negative learning rate", lambda m, t: optimizers.Adam(learning_rate=-1), ConfigError, r"learning_rate must be a positive number"),
    ("momentum > 1", lambda m, t: optimizers.SGD(momentum=2), ConfigError, r"momentum must be in \[0, 1\]"),
    # fit / evaluate / predict / train_on_batch
    ("wrong channels", lambda m, t: m.fit(np.repeat(X, 3, -1), Y, verbose=0), ShapeError, r"expects 1 channels.*\(24, 10, 8, 3\)"),
    ("wrong rank", lambda m, t: m.predict(X[:, :, :, 0], verbose=0), ShapeError, r"\(None, 10, 8, 1\).*\(24, 10, 8\).*channel axis"),
    ("wrong height", lambda m, t: m.evaluate(X[:, :9], Y, verbose=0), ShapeError, r"expects 10 size on axis 1"),
    ("NaN in x", lambda m, t: m.fit(with_x(lambda x: x.__setitem__((0, 0, 0, 0), np.nan)), Y, verbose=0), DataError, r"1 NaN or infinite"),
    ("inf in x", lambda m, t: m.predict(with_x(lambda x: x.__setitem__((3, 1, 1, 0), np.inf)), verbose=0), DataError, r"NaN or infinite"),
    ("empty x", lambda m, t: m.predict(X[:0], verbose=0), DataError, r"empty"),
    ("strings as x", lambda m, t: m.predict(np.array([["a"]]), verbose=0), ArgumentTypeError, r"must be numeric.*<U1"),
    ("ragged x", lambda m, t: m.predict([[1, 2], [3]], verbose=0), DataError, r"not a rectangular numeric array"),
    ("x and y lengths", lambda m, t: m.fit(X, Y[:-2], verbose=0), ShapeError, r"same number of samples.*24.*22"),
    ("label out of range", lambda m, t: m.fit(X, Y + 3, verbose=0), DataError, r"class label out of range; expected labels in \[0, 2\]"),
    ("negative label", lambda m, t: m.train_on_batch(X, Y - 1), DataError, r"out of range.*\[-1, 1\]"),
    ("fractional labels", lambda m, t: m.fit(X, Y + 0.5, verbose=0), DataError, r"integer class labels"),
    ("one-hot for sparse", lambda m, t: m.fit(X, np.eye(3)[Y], verbose=0), ShapeError, r"one-hot targets need loss='categorical_crossentropy'"),
    ("one-hot width", lambda m, t: (m.compile("adam", "categorical_crossentropy"), m.fit(X, np.eye(4)[Y], verbose=0)), ShapeError, r"\(N, 3\).*\(24, 4\)"),
    ("integer labels for categorical", lambda m, t: (m.compile("adam", "categorical_crossentropy"), m.fit(X, Y, verbose=0)), ShapeError, r"sparse_categorical_crossentropy.*to_categorical"),
    ("binary labels outside [0,1]", lambda m, t: (m.compile("adam", "binary_crossentropy"), m.fit(X, np.eye(3)[Y] * 2, verbose=0)), DataError, r"targets in \[0, 1\].*\[0.0, 2.0\]"),
    ("NaN labels", lambda m, t: (m.compile("adam", "mse"), m.fit(X, np.full((24, 3), np.nan), verbose=0)), DataError, r"targets contain NaN"),
    ("batch_size 0", lambda m, t: m.fit(X, Y, batch_size=0, verbose=0), ConfigError, r"batch_size must be a positive int; received batch_size=0"),
    ("epochs -1", lambda m, t: m.fit(X, Y, epochs=-1, verbose=0), ConfigError, r"epochs must be a non-negative int"),
    ("validation_split 1.5", lambda m, t: m.fit(X, Y, validation_split=1.5, verbose=0), ConfigError, r"validation_split must be in \(0, 1\)"),
    ("validation_data triple", lambda m, t: m.fit(X, Y, validation_data=(X, Y, Y), verbose=0), ConfigError, r"validation_data must be a pair"),
    ("x None", lambda m, t: m.predict(None, verbose=0), DataError, r"x is required"),
    ("y None", lambda m, t: m.fit(X, None, verbose=0), DataError, r"y is required"),
    ("fit before compile", lambda m, t: Sequential([Input((3,)), layers.Dense(1)]).fit(np.zeros((2, 3)), np.zeros(2), verbose=0), NotBuiltError, r"compile the model"),
    # weights and files
    ("set_weights count", lambda m, t: m.set_weights(m.get_weights()[:-1]), ShapeError, r"wrong number of arrays; expected 4; received 3"),
    ("set_weights shape", lambda m, t: m.set_weights([np.zeros((3, 3, 1, 5))] + m.get_weights()[1:]), ShapeError, r"conv2d.*\(3, 3, 1, 4\).*\(3, 3, 1, 5\)"),
    ("layer set_weights shape", lambda m, t: m.layers[-1].set_weights([np.zeros((2, 2)), np.zeros(3)]), ShapeError, r"weight 'kernel' has the wrong shape"),
    ("missing model file", lambda m, t: tichchap.load_model(t / "missing.npz"), DataNotFoundError, r"no such model file"),
    ("text file as model", lambda m, t: tichchap.load_model(_text_file(t)), FileFormatError, r"not a model file"),
    ("set_floatx", lambda m, t: tichchap.config.set_floatx("float16"), ConfigError, r"set_floatx.*float16"),
    ("to_categorical negative", lambda m, t: tichchap.utils.to_categorical([-1, 2]), DataError, r"non-negative integers"),
]


def test_there_are_at_least_forty_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


@pytest.fixture(scope="module")
def shared_model():
    return model()


@pytest.mark.parametrize("name,call,exc,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error_and_the_model_still_works(name, call, exc, pattern, shared_model, tmp_path):
    with pytest.raises(exc, match=pattern) as info:
        call(shared_model, tmp_path)
    assert isinstance(info.value, TichchapError)
    assert isinstance(info.value, (ValueError, TypeError))
    shared_model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    before = [w.copy() for w in shared_model.get_weights()]
    loss, _ = shared_model.train_on_batch(X[:8], Y[:8])
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, shared_model.get_weights()))


def test_a_sequential_that_refuses_a_layer_is_left_as_it_was():
    m = Sequential([Input((5, 5, 1)), layers.Conv2D(2, 3)])
    with pytest.raises(ShapeError):
        m.add(layers.Conv2D(2, 4))  # 3x3 output is smaller than a 4x4 kernel
    assert [l.name for l in m.layers] == ["conv2d"]
    m.add(layers.Flatten())
    assert m.output_shape == (None, 18)
