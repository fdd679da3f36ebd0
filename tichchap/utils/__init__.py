"""Utilities as ``keras.utils``: seeding, one-hot labels, session reset, gradient checks."""

import numpy as np

from ..errors import DataError
from .gradient_check import gradient_check, numerical_gradient
from .naming import clear_session
from .random import set_random_seed


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer class labels -> one-hot rows, as ``keras.utils.to_categorical``."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and (not np.all(np.equal(np.mod(y, 1), 0)) or y.min() < 0):
        raise DataError("to_categorical: labels must be non-negative integers; received values outside that")
    y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and y.max() >= num_classes:
        raise DataError(f"to_categorical: label {int(y.max())} out of range for num_classes={num_classes}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


__all__ = ["to_categorical", "set_random_seed", "clear_session", "gradient_check", "numerical_gradient"]
