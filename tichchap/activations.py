"""Activation functions by name, each with its derivative written out.

``forward(z)`` gives ``a``; ``backward(dA, z, a)`` gives ``dZ = dA * f'(z)`` (softmax: the
Jacobian-vector product). All keep the input's dtype.
"""

import numpy as np

from .errors import ConfigError
from .ops import parallel


class Activation:
    name = None

    def forward(self, z):
        raise NotImplementedError

    def backward(self, dA, z, a):
        raise NotImplementedError

    def __repr__(self):
        return f"<activation {self.name}>"


class Linear(Activation):
    name = "linear"

    def forward(self, z):
        return z

    def backward(self, dA, z, a):
        return dA


class ReLU(Activation):
    name = "relu"

    def forward(self, z, out=None):
        """max(z, 0), into ``out`` when given (``out=z`` works in place)."""
        z = np.asarray(z)
        return parallel.ufunc(np.maximum, z, z.dtype.type(0), out=np.empty_like(z) if out is None else out)

    def backward(self, dA, z, a):
        # a > 0 exactly where z > 0, so the output alone carries the derivative.
        dA, a = np.asarray(dA), np.asarray(a)
        if dA.shape != a.shape or dA.ndim == 0:
            return dA * (a > 0)
        dZ = np.empty_like(dA, dtype=np.result_type(dA, a.dtype))  # in dA's layout (channel-major stays so)
        parallel.for_rows(lambda dz_rows, da_rows, a_rows: np.multiply(da_rows, a_rows > 0, out=dz_rows), dZ, dA, a)
        return dZ


class Sigmoid(Activation):
    name = "sigmoid"

    def forward(self, z):
        return sigmoid(z)

    def backward(self, dA, z, a):
        return dA * a * (1 - a)


class Tanh(Activation):
    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, dA, z, a):
        return dA * (1 - a * a)


class Softmax(Activation):
    """Softmax over the last axis; dZ_i = a_i (dA_i - sum_j dA_j a_j)."""

    name = "softmax"

    def forward(self, z):
        return softmax(z)

    def backward(self, dA, z, a):
        return a * (dA - np.sum(dA * a, axis=-1, keepdims=True))


def sigmoid(z):
    """Numerically stable logistic function (no overflow for large |z|)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def softmax(z, axis=-1):
    """Softmax with the max subtracted first, so exp never overflows."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


_ACTIVATIONS = {cls.name: cls for cls in (Linear, ReLU, Sigmoid, Tanh, Softmax)}


def get(identifier, owner=None):
    """The activation called ``identifier`` (``None`` means linear)."""
    if identifier is None:
        return Linear()
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _ACTIVATIONS:
        return _ACTIVATIONS[identifier.lower()]()
    where = f"{owner}: " if owner else ""
    raise ConfigError(
        f"{where}unknown activation; expected one of {sorted(_ACTIVATIONS)}; received activation={identifier!r}"
    )


def names():
    return sorted(_ACTIVATIONS)
