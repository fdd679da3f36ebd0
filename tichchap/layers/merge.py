"""Layers that join branches: Add and Concatenate (residual blocks, Inception-style blocks)."""

import numpy as np

from ..errors import ConfigError, ShapeError, describe
from .base import Layer


class _Merge(Layer):
    n_inputs = None

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ShapeError(f"{self.name}: {type(self).__name__} needs a list of at least 2 inputs; received {input_shape!r}")


class Add(_Merge):
    """Elementwise sum; each input receives the whole upstream gradient."""

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        shapes = {tuple(s[1:]) for s in input_shape}
        if len(shapes) != 1:
            raise ShapeError(describe(f"{self.name}: Add needs inputs of one shape", "equal shapes",
                                      [tuple(s) for s in input_shape]))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def forward(self, xs, training=False):
        self._n = len(xs)
        out = xs[0] + xs[1]
        for x in xs[2:]:
            out += x
        return out

    def backward(self, dy):
        return [dy] * self._n


class Concatenate(_Merge):
    """Join inputs along ``axis`` (default: channels); backward splits dY the same way."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ConfigError(f"{self.name}: axis must be a non-batch axis; received axis={axis!r}")
        self.axis = int(axis)

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        rank = len(input_shape[0])
        axis = self.axis % rank
        others = {tuple(d for i, d in enumerate(s) if i != axis) for s in input_shape}
        if any(len(s) != rank for s in input_shape) or len(others) != 1:
            raise ShapeError(describe(f"{self.name}: Concatenate needs inputs that agree on every axis but {self.axis}",
                                      "matching shapes", [tuple(s) for s in input_shape]))

    def compute_output_shape(self, input_shape):
        axis = self.axis % len(input_shape[0])
        shape = list(input_shape[0])
        shape[axis] = sum(s[axis] for s in input_shape)
        return tuple(shape)

    def forward(self, xs, training=False):
        self._sizes = [x.shape[self.axis] for x in xs]
        return np.concatenate(xs, axis=self.axis)

    def backward(self, dy):
        return np.split(dy, np.cumsum(self._sizes)[:-1], axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
