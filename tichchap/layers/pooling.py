"""Max and average pooling, local and global (NHWC)."""

import numpy as np

from ..errors import ShapeError, describe
from ..ops import pool as pool_ops
from ..ops.padding import conv_output_size
from .base import Layer, as_pair, check_padding, check_rank


class _Pooling2D(Layer):
    mode = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} (name={self.name})"
        self.pool_size = as_pair(pool_size, "pool_size", owner)
        self.strides = as_pair(strides, "strides", owner) if strides is not None else self.pool_size
        self.padding = check_padding(padding, owner)

    def _output_hw(self, input_shape):
        try:
            return tuple(conv_output_size(n, k, s, self.padding)
                         for n, k, s in zip(input_shape[1:3], self.pool_size, self.strides))
        except ShapeError:
            raise ShapeError(describe(f"{self.name}: the input is smaller than the pooling window",
                                      f"height and width at least {self.pool_size}",
                                      f"input of shape {tuple(input_shape)}")) from None

    def check_input_shape(self, input_shape):
        check_rank(self, input_shape, 4)
        self._output_hw(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._output_hw(input_shape) + (input_shape[3],)

    def forward(self, x, training=False):
        y, self._cache = pool_ops.pool2d_forward(x, self.pool_size, self.strides, self.padding, self.mode,
                                                 keep_argmax=bool(training))
        return y

    def backward(self, dy):
        return pool_ops.pool2d_backward(dy, self._cache)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class MaxPooling2D(_Pooling2D):
    """The maximum of each window; backward routes dY to the window's (first) maximum."""

    mode = "max"


class AveragePooling2D(_Pooling2D):
    """The mean of each window's real (non-padded) values, as Keras/TensorFlow."""

    mode = "avg"


class _GlobalPooling2D(Layer):
    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def check_input_shape(self, input_shape):
        check_rank(self, input_shape, 4)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1, input_shape[3])
        return (input_shape[0], input_shape[3])

    def _shape_out(self, y):
        return y if self.keepdims else y.reshape(y.shape[0], y.shape[3])

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    def forward(self, x, training=False):
        self._x_shape = x.shape
        return self._shape_out(x.mean(axis=(1, 2), keepdims=True))

    def backward(self, dy):
        n, h, w, c = self._x_shape
        share = dy.reshape(n, 1, 1, c) / (h * w)
        return np.broadcast_to(share, self._x_shape).copy()


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Maximum over height and width; backward routes dY to the (first) maximum."""

    def forward(self, x, training=False):
        n, h, w, c = x.shape
        flat = x.reshape(n, h * w, c)
        self._argmax = flat.argmax(axis=1)
        self._x_shape = x.shape
        return self._shape_out(flat.max(axis=1).reshape(n, 1, 1, c))

    def backward(self, dy):
        n, h, w, c = self._x_shape
        dx = np.zeros((n, h * w, c), dtype=dy.dtype)
        np.put_along_axis(dx, self._argmax[:, None, :], dy.reshape(n, 1, c), axis=1)
        return dx.reshape(self._x_shape)
