"""Batch normalization over the channel axis (NHWC: the last one)."""

import numpy as np

from .. import initializers
from ..errors import ConfigError
from .base import Layer


class BatchNormalization(Layer):
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta, per channel.

    Training uses the batch's mean and (biased) variance and updates the moving statistics as
    Keras does: moving = moving * momentum + batch * (1 - momentum). Inference, and a layer with
    ``trainable=False`` (as in Keras 3), use the moving statistics. gamma and beta are trainable;
    moving_mean and moving_variance are non-trainable weights.

    Backward in training mode, with m values per channel and x_hat the normalised input:
      dgamma = sum(dy * x_hat), dbeta = sum(dy),
      dx = gamma / (m * std) * (m * dy - sum(dy) - x_hat * sum(dy * x_hat)).
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, 3, [-1], [3]):
            raise ConfigError(f"{self.name}: only the channel axis (-1) can be normalised in NHWC; received axis={axis!r}")
        if not 0 <= momentum <= 1:
            raise ConfigError(f"{self.name}: momentum must be in [0, 1]; received momentum={momentum}")
        if not epsilon > 0:
            raise ConfigError(f"{self.name}: epsilon must be > 0; received epsilon={epsilon}")
        self.axis = -1
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer, owner=self.name)
        self.gamma_initializer = initializers.get(gamma_initializer, owner=self.name)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer, owner=self.name)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer, owner=self.name)

    def build(self, input_shape):
        channels = (input_shape[-1],)
        if self.scale:
            self.add_weight("gamma", channels, self.gamma_initializer)
        if self.center:
            self.add_weight("beta", channels, self.beta_initializer)
        self.add_weight("moving_mean", channels, self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", channels, self.moving_variance_initializer, trainable=False)

    def _gamma(self):
        return self.gamma if self.scale else 1

    def forward(self, x, training=False):
        axes = tuple(range(x.ndim - 1))
        self._training = bool(training) and self.trainable
        if self._training:
            mean = x.mean(axis=axes)
            centred = x - mean
            var = np.mean(centred * centred, axis=axes)
            self.moving_mean *= self.momentum
            self.moving_mean += (1 - self.momentum) * mean
            self.moving_variance *= self.momentum
            self.moving_variance += (1 - self.momentum) * var
        else:
            centred = x - self.moving_mean
            var = self.moving_variance
        inv_std = (1 / np.sqrt(var + self.epsilon)).astype(x.dtype, copy=False)
        x_hat = centred * inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        y = x_hat * self._gamma() if self.scale else x_hat.copy()
        if self.center:
            y += self.beta
        return y

    def backward(self, dy):
        axes = tuple(range(dy.ndim - 1))
        x_hat, inv_std = self._x_hat, self._inv_std
        self.grads = {}
        if self.scale:
            self.grads["gamma"] = np.sum(dy * x_hat, axis=axes)
        if self.center:
            self.grads["beta"] = np.sum(dy, axis=axes)
        dx_hat = dy * self._gamma()
        if not self._training:
            return dx_hat * inv_std
        m = dy.size // dy.shape[-1]
        mean_dx_hat = dx_hat.mean(axis=axes)
        mean_dx_hat_x_hat = np.mean(dx_hat * x_hat, axis=axes)
        return (dx_hat - mean_dx_hat - x_hat * mean_dx_hat_x_hat) * inv_std

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer)}
