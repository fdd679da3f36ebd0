"""Dense, Flatten, Reshape, Activation, ReLU and Dropout."""

import math

import numpy as np

from .. import activations, initializers
from ..errors import ConfigError, ShapeError, describe
from ..utils.random import draw_seed
from .base import ActivationMixin, Layer


def _check_units(value, owner, name="units"):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{owner}: {name} must be a positive int; received {name}={value!r}")
    return int(value)


class Dense(ActivationMixin, Layer):
    """y = activation(x W + b) on the last axis. Kernel W: (in, units).

    Backward (Z = X W + b):  dW = X^T dZ,  db = sum_n dZ,  dX = dZ W^T.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = _check_units(units, f"Dense (name={self.name})")
        self.activation = activations.get(activation, owner=self.name)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, owner=self.name)
        self.bias_initializer = initializers.get(bias_initializer, owner=self.name)

    @property
    def activation_name(self):
        return self.activation.name

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"{self.name}: Dense needs inputs with a feature axis; received shape {tuple(input_shape)}")
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ShapeError(describe(f"{self.name}: wrong number of input features",
                                      f"{self.kernel.shape[0]} features", f"input of shape {tuple(input_shape)}"))

    def build(self, input_shape):
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, training=False):
        self._x_shape = x.shape
        X = x.reshape(-1, x.shape[-1])
        Z = X @ self.kernel
        if self.use_bias:
            Z += self.bias
        self._X = X
        return self._activate(Z).reshape(x.shape[:-1] + (self.units,))

    def backward(self, dy):
        return ActivationMixin.backward(self, dy.reshape(-1, self.units))

    def backward_linear(self, dZ):
        dZ = dZ.reshape(-1, self.units)
        self.grads = {"kernel": self._X.T @ dZ}
        if self.use_bias:
            self.grads["bias"] = dZ.sum(axis=0)
        if not self._need_input_grad:
            return None
        return (dZ @ self.kernel.T).reshape(self._x_shape)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation.name,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Flatten(Layer):
    """(N, H, W, C) -> (N, H*W*C), in NHWC order as Keras with channels_last."""

    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            raise ShapeError(f"{self.name}: Flatten needs a fully known input shape; received {tuple(input_shape)}")
        return (input_shape[0], math.prod(input_shape[1:]))

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ShapeError(f"{self.name}: Flatten needs at least a batch and one more axis; received shape {tuple(input_shape)}")

    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._x_shape)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in target_shape) > 1 or any(d == 0 or d < -1 for d in target_shape):
            raise ConfigError(f"{self.name}: target_shape may hold one -1 and positive sizes; received target_shape={target_shape}")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        shape = tuple(size // known if d == -1 else d for d in self.target_shape)
        if math.prod(shape) != size or (-1 in self.target_shape and size % known):
            raise ShapeError(describe(f"{self.name}: cannot reshape", f"a target shape with {size} values per sample",
                                      f"input {tuple(input_shape)} to target_shape={self.target_shape}"))
        return (input_shape[0],) + shape

    def check_input_shape(self, input_shape):
        self.compute_output_shape(input_shape)

    def forward(self, x, training=False):
        self._x_shape = x.shape
        return x.reshape((x.shape[0],) + self.compute_output_shape(x.shape)[1:])

    def backward(self, dy):
        return dy.reshape(self._x_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Activation(ActivationMixin, Layer):
    """Apply an activation by name: ``Activation("relu")``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, owner=self.name)

    @property
    def activation_name(self):
        return self.activation.name

    def forward(self, x, training=False):
        if self.activation.name == "relu":  # one pass (a copy, then max in place, is two)
            self._z, self._a = None, self.activation.forward(x)
            return self._a
        return self._activate(x)

    def forward_into_input(self, x):
        if self.activation.name == "relu" and x.flags.writeable:
            self._z, self._a = None, None
            return self.activation.forward(x, out=x)
        return self.forward(x)

    def backward_linear(self, dZ):
        return dZ

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


class ReLU(Layer):
    """max(x, 0) with Keras' options: ``max_value`` caps, ``negative_slope`` leaks below ``threshold``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ConfigError(f"{self.name}: max_value must be >= 0; received max_value={max_value}")
        if negative_slope < 0:
            raise ConfigError(f"{self.name}: negative_slope must be >= 0; received negative_slope={negative_slope}")
        self.max_value, self.negative_slope, self.threshold = max_value, float(negative_slope), float(threshold)

    activation_name = "relu"

    def forward(self, x, training=False):
        above = x >= self.threshold if self.negative_slope else x > self.threshold
        y = np.where(above, x, self.negative_slope * (x - self.threshold) if self.negative_slope else 0).astype(x.dtype, copy=False)
        slope = np.where(above, 1, self.negative_slope).astype(x.dtype)
        if self.max_value is not None:
            capped = y >= self.max_value
            y = np.where(capped, x.dtype.type(self.max_value), y)
            slope = np.where(capped, 0, slope).astype(x.dtype)
        self._slope = slope
        return y

    def backward(self, dy):
        return dy * self._slope

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class Dropout(Layer):
    """Inverted dropout: in training each value is zeroed with probability ``rate`` and the rest
    scaled by 1 / (1 - rate); at inference it is the identity."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(noise_shape=noise_shape, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 <= rate < 1:
            raise ConfigError(f"{self.name}: rate must be a number in [0, 1); received rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.rng = np.random.default_rng(draw_seed(seed))
        self._mask = None

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self.batch_noise if self.batch_noise is not None else self.draw_batch_noise(x.shape, x.dtype)
        self._mask = keep * x.dtype.type(1 / (1 - self.rate))
        return x * self._mask

    def draw_batch_noise(self, input_shape, dtype):
        """The kept values' mask."""
        if self.rate == 0:
            return None
        return self.rng.random(input_shape, dtype=np.float64 if dtype == np.float64 else np.float32) >= self.rate

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
