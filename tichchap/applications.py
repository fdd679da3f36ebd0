"""Reference models, as ``keras.applications``: functions that return an uncompiled model with
the layer names and parameter counts Keras gives the same architecture.

======================  =============  ==========  ======================================
function                input          params      what it is
======================  =============  ==========  ======================================
``lenet()``             (28, 28, 1)    1,087,106   the Fashion-MNIST LeNet (two 5x5 convs)
``small_cnn()``         (28, 28, 1)    6,526       a tiny MNIST CNN with batch norm
``mlp()``               (784,)         101,770     784-128-10 dense network
``food_net()``          (112, 112, 3)  408,122     a CNN accelerator's reference network
``simple_binary_cnn()`` any            depends     one 7x7 conv and a sigmoid unit
``xception()``          (299, 299, 3)  22,910,480  Keras' Xception (Chollet, CVPR 2017)
======================  =============  ==========  ======================================

Layer names come from the per-process counter, as in Keras: call
``tichchap.utils.clear_session()`` first to get ``conv2d``, ``conv2d_1``, ... from zero.

    >>> from tichchap import applications
    >>> model = applications.get("small_cnn")()
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
"""

from . import layers
from .errors import ConfigError, describe
from .layers import Input
from .model import Model, Sequential


def lenet(input_shape=(28, 28, 1), classes=10, kernel_initializer="glorot_uniform"):
    """The Fashion-MNIST LeNet: Conv2D(32, 5) relu, MaxPooling2D(2, 2), Conv2D(64, 5) relu,
    MaxPooling2D(2), Flatten, Dense(1000) relu, Dense(classes) softmax.

    ``kernel_initializer`` reaches every Conv2D and Dense layer (Keras' default glorot_uniform
    unless changed); 1,087,106 parameters at the default input and 10 classes.
    """
    init = {"kernel_initializer": kernel_initializer}
    return Sequential([
        Input(input_shape),
        layers.Conv2D(32, (5, 5), strides=(1, 1), activation="relu", **init),
        layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)),
        layers.Conv2D(64, (5, 5), activation="relu", **init),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(1000, activation="relu", **init),
        layers.Dense(classes, activation="softmax", **init),
    ], name="lenet")


def small_cnn(input_shape=(28, 28, 1), classes=10):
    """A 6,526-parameter MNIST CNN (6,482 trainable; batch norm's moving statistics are the 44
    non-trainable ones). Output shapes (28,28,6), (14,14,6), (10,10,16), (5,5,16), (400), (10)."""
    return Sequential([
        Input(input_shape),
        layers.Conv2D(6, (1, 1)),
        layers.MaxPooling2D(),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Conv2D(16, (5, 5)),
        layers.MaxPooling2D(),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.Flatten(),
        layers.Dense(classes, activation="softmax"),
    ], name="small_cnn")


def mlp(input_shape=(784,), classes=10, hidden_units=128):
    """The 784-128-10 dense network (101,770 parameters). Its input is a flat vector, as in Keras'
    MNIST MLP: flatten images first (``x.reshape(len(x), -1)``; the CLI does it for you)."""
    return Sequential([
        Input(input_shape),
        layers.Dense(hidden_units, activation="relu"),
        layers.Dense(classes, activation="softmax"),
    ], name="mlp")


def food_net(input_shape=(112, 112, 3), classes=2):
    """A CNN accelerator's reference network (408,122 parameters): Conv2D(8, 3, same, relu) x2,
    MaxPooling2D(2) to 56x56, Conv2D(16, 3, same, relu) x3, MaxPooling2D(2) to 28x28, Flatten
    (12,544), Dense(32, relu), Dropout(0.5), Dense(2, softmax)."""
    conv = {"kernel_size": (3, 3), "padding": "same", "activation": "relu"}
    return Sequential([
        Input(input_shape),
        layers.Conv2D(8, **conv),
        layers.Conv2D(8, **conv),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(16, **conv),
        layers.Conv2D(16, **conv),
        layers.Conv2D(16, **conv),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(classes, activation="softmax"),
    ], name="food_net")


def simple_binary_cnn(input_shape=(28, 28, 1)):
    """ZeroPadding2D(3), Conv2D(32, 7, strides=2), ReLU, MaxPooling2D(2), Flatten, Dense(1, sigmoid):
    a one-convolution binary classifier (train it with ``binary_crossentropy``)."""
    return Sequential([
        Input(input_shape),
        layers.ZeroPadding2D(padding=(3, 3)),
        layers.Conv2D(32, (7, 7), strides=(2, 2)),
        layers.ReLU(),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(1, activation="sigmoid"),
    ], name="simple_binary_cnn")


# -- Xception -------------------------------------------------------------------------------------
def _separable_bn(x, filters, name):
    """SeparableConv2D(filters, 3x3, same, no bias) named ``name``, then its batch norm ``name_bn``."""
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(name=name + "_bn")(x)


def _shortcut(x, filters):
    """The strided 1x1 projection a down-sampling block adds back (Keras leaves it unnamed)."""
    shortcut = layers.Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return layers.BatchNormalization()(shortcut)


def _downsampling_block(x, block, filters, relu_first=True):
    """Two separable convolutions (``filters`` = their two widths), a 3x3 stride-2 max pool and
    the projected shortcut added back: blocks 2, 3, 4 of the entry flow and block 13 of the exit
    flow. Block 2 starts without a ReLU because block 1 ends with one."""
    shortcut = _shortcut(x, filters[1])
    for i, width in enumerate(filters, start=1):
        if relu_first or i > 1:
            x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _separable_bn(x, width, f"block{block}_sepconv{i}")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.Add()([x, shortcut])


def _middle_block(x, block, filters=728):
    """Three ReLU + separable convolution + batch norm steps and the identity shortcut."""
    shortcut = x
    for i in (1, 2, 3):
        x = layers.Activation("relu", name=f"block{block}_sepconv{i}_act")(x)
        x = _separable_bn(x, filters, f"block{block}_sepconv{i}")
    return layers.Add()([x, shortcut])


def xception(input_shape=(299, 299, 3), classes=1000, include_top=True, pooling=None,
             classifier_activation="softmax"):
    """Keras' Xception architecture (randomly initialised; no ImageNet weights are downloaded).

    Entry flow (blocks 1-4), middle flow (blocks 5-12, eight identity-residual blocks of 728
    channels), exit flow (blocks 13-14), then global average pooling and a ``predictions`` Dense
    layer when ``include_top``. 22,910,480 parameters (22,855,952 trainable) at 1000 classes.
    ``pooling`` ("avg", "max" or None) applies when ``include_top=False``. Height and width must
    be at least 71, as in Keras.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or min(input_shape[:2]) < 71:
        raise ConfigError(describe("xception: input_shape must be (height, width, channels) with height and "
                                   "width of at least 71", "e.g. (299, 299, 3) or (71, 71, 3)", input_shape))
    if pooling not in (None, "avg", "max"):
        raise ConfigError(describe("xception: unknown pooling", "None, 'avg' or 'max'", repr(pooling)))
    inputs = Input(input_shape)
    # Entry flow.
    x = inputs
    for i, filters, strides in ((1, 32, (2, 2)), (2, 64, (1, 1))):
        x = layers.Conv2D(filters, (3, 3), strides=strides, use_bias=False, name=f"block1_conv{i}")(x)
        x = layers.BatchNormalization(name=f"block1_conv{i}_bn")(x)
        x = layers.Activation("relu", name=f"block1_conv{i}_act")(x)
    x = _downsampling_block(x, 2, (128, 128), relu_first=False)
    x = _downsampling_block(x, 3, (256, 256))
    x = _downsampling_block(x, 4, (728, 728))
    # Middle flow.
    for block in range(5, 13):
        x = _middle_block(x, block)
    # Exit flow.
    x = _downsampling_block(x, 13, (728, 1024))
    for i, filters in ((1, 1536), (2, 2048)):
        x = _separable_bn(x, filters, f"block14_sepconv{i}")
        x = layers.Activation("relu", name=f"block14_sepconv{i}_act")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation or "linear", name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    return Model(inputs, x, name="xception")


#: Models the command line can build by name.
MODELS = {
    "lenet": lenet,
    "small_cnn": small_cnn,
    "mlp": mlp,
    "food_net": food_net,
    "simple_binary_cnn": simple_binary_cnn,
    "xception": xception,
}


def get(name):
    """The model function called ``name`` (``"lenet"``, ``"small_cnn"``, ...)."""
    key = name.replace("-", "_").lower() if isinstance(name, str) else name
    if key not in MODELS:
        raise ConfigError(describe("tichchap.applications: unknown model name",
                                   "one of " + ", ".join(sorted(MODELS)), repr(name)))
    return MODELS[key]


__all__ = ["lenet", "small_cnn", "mlp", "food_net", "simple_binary_cnn", "xception", "get", "MODELS"]
