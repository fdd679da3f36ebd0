"""Conv2D, DepthwiseConv2D, SeparableConv2D and ZeroPadding2D (NHWC, Keras' kernel layouts).

The arithmetic lives in :mod:`tichchap.ops.conv`; these classes own the weights and the config.
"""

import numpy as np

from .. import activations, initializers
from ..errors import ConfigError, ShapeError, describe
from ..ops import conv as conv_ops
from ..ops import conv_pool
from ..ops.padding import conv_output_size
from .base import ActivationMixin, Layer, as_pair, check_padding, check_rank


class _ConvBase(ActivationMixin, Layer):
    def __init__(self, kernel_size, strides=(1, 1), padding="valid", activation=None, use_bias=True,
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} (name={self.name})"
        self.kernel_size = as_pair(kernel_size, "kernel_size", owner)
        self.strides = as_pair(strides, "strides", owner)
        self.padding = check_padding(padding, owner)
        self.activation = activations.get(activation, owner=self.name)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer, owner=self.name)

    @property
    def activation_name(self):
        return self.activation.name

    def _output_hw(self, input_shape):
        try:
            return tuple(conv_output_size(n, k, s, self.padding)
                         for n, k, s in zip(input_shape[1:3], self.kernel_size, self.strides))
        except ShapeError:
            raise ShapeError(describe(
                f"{self.name}: the input is smaller than the {self.kernel_size[0]}x{self.kernel_size[1]} kernel "
                f"with padding='{self.padding}'", "height and width at least the kernel's",
                f"input of shape {tuple(input_shape)}")) from None

    def check_input_shape(self, input_shape):
        check_rank(self, input_shape, 4)
        self._output_hw(input_shape)
        expected = getattr(self, "_input_channels", None)
        if expected is not None and input_shape[-1] != expected:
            raise ShapeError(f"{self.name}: expected input with {expected} channels, got {tuple(input_shape)}")

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "activation": self.activation.name, "use_bias": self.use_bias,
                "bias_initializer": initializers.serialize(self.bias_initializer)}


class Conv2D(_ConvBase):
    """2-D cross-correlation, as Keras: kernel (kh, kw, c_in, filters), bias (filters,).

    Forward: Z[n, i, j, f] = sum_{u, v, c} X_pad[n, i*sh + u, j*sw + v, c] W[u, v, c, f] + b[f].
    Backward: dW = sum over positions of the input patch times dZ; db = sum dZ; dX scatters
    dZ W^T back onto the patches (col2im).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, activation, use_bias, bias_initializer, **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ConfigError(f"Conv2D (name={self.name}): filters must be a positive int; received filters={filters!r}")
        self.filters = int(filters)
        self.kernel_initializer = initializers.get(kernel_initializer, owner=self.name)

    def build(self, input_shape):
        self._input_channels = input_shape[-1]
        self.add_weight("kernel", self.kernel_size + (input_shape[-1], self.filters), self.kernel_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._output_hw(input_shape) + (self.filters,)

    def forward(self, x, training=False):
        z, self._cache = conv_ops.conv2d_forward(x, self.kernel, self.bias if self.use_bias else None,
                                                 self.strides, self.padding)
        return self._activate(z)

    def backward_linear(self, dZ):
        dX, dW, db = conv_ops.conv2d_backward(dZ, self._cache, compute_dx=self._need_input_grad)
        return self._keep_grads(dX, dW, db)

    def _keep_grads(self, dX, dW, db):
        self.grads = {"kernel": dW}
        if self.use_bias:
            self.grads["bias"] = db
        return dX

    def forward_pooled(self, x, pooling, keep_argmax):
        """This layer, its ReLU (or no activation) and ``pooling``, a MaxPooling2D layer reading
        only this layer's output, in one step (ops/conv_pool.py): the pooling's output, or None
        for other activations. Pair with :meth:`backward_pooled`."""
        if self.activation.name not in ("relu", "linear"):
            return None
        y, self._cache = conv_pool.conv2d_maxpool_forward(
            x, self.kernel, self.bias if self.use_bias else None, self.strides, self.padding,
            (pooling.pool_size, pooling.strides, pooling.padding), relu=self.activation.name == "relu",
            keep_argmax=keep_argmax)
        return y

    def backward_pooled(self, dy):
        """Backward of :meth:`forward_pooled` from the pooling's output gradient ``dy``."""
        return self._keep_grads(*conv_pool.conv2d_maxpool_backward(dy, self._cache, compute_dx=self._need_input_grad))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_initializer": initializers.serialize(self.kernel_initializer)}


class DepthwiseConv2D(_ConvBase):
    """Each input channel convolved with its own ``depth_multiplier`` kernels; output channel
    c * depth_multiplier + m. Kernel (kh, kw, c_in, depth_multiplier)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, activation, use_bias, bias_initializer, **kwargs)
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, (int, np.integer)) or depth_multiplier < 1:
            raise ConfigError(f"DepthwiseConv2D (name={self.name}): depth_multiplier must be a positive int; "
                              f"received depth_multiplier={depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer, owner=self.name)

    def build(self, input_shape):
        self._input_channels = input_shape[-1]
        self.add_weight("kernel", self.kernel_size + (input_shape[-1], self.depth_multiplier), self.depthwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (input_shape[-1] * self.depth_multiplier,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._output_hw(input_shape) + (input_shape[-1] * self.depth_multiplier,)

    def forward(self, x, training=False, relu_input=False):
        z, self._cache = conv_ops.depthwise_conv2d_forward(x, self.kernel, self.bias if self.use_bias else None,
                                                           self.strides, self.padding, relu_input)
        return self._activate(z)

    def forward_after_relu(self, x):
        """Inference: ``forward(max(x, 0))``, the ReLU taken in the padding copy (one pass, not two)."""
        return self.forward(x, relu_input=True)

    def backward_linear(self, dZ):
        dX, dW, db = conv_ops.depthwise_conv2d_backward(dZ, self._cache)
        self.grads = {"kernel": dW}
        if self.use_bias:
            self.grads["bias"] = db
        return dX

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer)}


class SeparableConv2D(_ConvBase):
    """A depthwise convolution followed by a 1x1 (pointwise) convolution, bias and activation
    last. Weights: depthwise_kernel (kh, kw, c_in, dm), pointwise_kernel (1, 1, c_in*dm, filters), bias."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, activation=None,
                 use_bias=True, depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(kernel_size, strides, padding, activation, use_bias, bias_initializer, **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ConfigError(f"SeparableConv2D (name={self.name}): filters must be a positive int; received filters={filters!r}")
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, (int, np.integer)) or depth_multiplier < 1:
            raise ConfigError(f"SeparableConv2D (name={self.name}): depth_multiplier must be a positive int; "
                              f"received depth_multiplier={depth_multiplier!r}")
        self.filters = int(filters)
        self.depth_multiplier = int(depth_multiplier)
        self.depthwise_initializer = initializers.get(depthwise_initializer, owner=self.name)
        self.pointwise_initializer = initializers.get(pointwise_initializer, owner=self.name)

    def build(self, input_shape):
        c_in = input_shape[-1]
        self._input_channels = c_in
        self.add_weight("depthwise_kernel", self.kernel_size + (c_in, self.depth_multiplier), self.depthwise_initializer)
        self.add_weight("pointwise_kernel", (1, 1, c_in * self.depth_multiplier, self.filters), self.pointwise_initializer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._output_hw(input_shape) + (self.filters,)

    def forward(self, x, training=False, relu_input=False):
        mid, self._depthwise_cache = conv_ops.depthwise_conv2d_forward(x, self.depthwise_kernel, None,
                                                                       self.strides, self.padding, relu_input)
        z, self._pointwise_cache = conv_ops.conv2d_forward(mid, self.pointwise_kernel,
                                                           self.bias if self.use_bias else None, (1, 1), "valid")
        return self._activate(z)

    def forward_after_relu(self, x):
        """Inference: ``forward(max(x, 0))``, the ReLU taken in the depthwise padding copy."""
        return self.forward(x, relu_input=True)

    def backward_linear(self, dZ):
        dMid, dPointwise, db = conv_ops.conv2d_backward(dZ, self._pointwise_cache)
        dX, dDepthwise, _ = conv_ops.depthwise_conv2d_backward(dMid, self._depthwise_cache)
        self.grads = {"depthwise_kernel": dDepthwise, "pointwise_kernel": dPointwise}
        if self.use_bias:
            self.grads["bias"] = db
        return dX

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "depth_multiplier": self.depth_multiplier,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer)}


def _as_padding_pairs(padding, owner):
    """Keras' ZeroPadding2D argument: int, (sym_h, sym_w) or ((top, bottom), (left, right))."""
    try:
        if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
            pairs = ((int(padding),) * 2, (int(padding),) * 2)
        elif len(padding) == 2 and all(isinstance(p, (int, np.integer)) for p in padding):
            pairs = ((int(padding[0]),) * 2, (int(padding[1]),) * 2)
        elif len(padding) == 2 and all(len(p) == 2 for p in padding):
            pairs = tuple((int(p[0]), int(p[1])) for p in padding)
        else:
            raise TypeError
    except (TypeError, ValueError):
        raise ConfigError(f"{owner}: padding must be an int, a pair of ints or a pair of pairs; received padding={padding!r}") from None
    if min(min(p) for p in pairs) < 0:
        raise ConfigError(f"{owner}: padding must be >= 0; received padding={padding!r}")
    return pairs


class ZeroPadding2D(Layer):
    """Pad height and width with zeros: ((top, bottom), (left, right))."""

    def __init__(self, padding=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = _as_padding_pairs(padding, f"ZeroPadding2D (name={self.name})")

    def check_input_shape(self, input_shape):
        check_rank(self, input_shape, 4)

    def compute_output_shape(self, input_shape):
        (t, b), (l, r) = self.padding
        return (input_shape[0], input_shape[1] + t + b, input_shape[2] + l + r, input_shape[3])

    def forward(self, x, training=False):
        (t, b), (l, r) = self.padding
        self._hw = x.shape[1:3]
        return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)))

    def backward(self, dy):
        (t, _), (l, _) = self.padding
        h, w = self._hw
        return dy[:, t:t + h, l:l + w, :]

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
