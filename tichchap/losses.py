"""Losses with Keras' names and formulas, each with its gradient written out.

A loss object is called as ``loss(y_true, y_pred)`` and returns the batch mean, as Keras'
``sum_over_batch_size`` reduction does. ``gradient(y_true, y_pred)`` is d(mean loss)/d(y_pred).

When the model's last step is a softmax (sigmoid) and the loss is a cross-entropy on
probabilities, the model hands the loss the *logits* instead (``value_and_grad_from_logits``):
the log-sum-exp form cannot overflow, and the gradient is the textbook dL/dz = (y - Y) / N.
Keras' TensorFlow backend does the same through the output's ``_keras_logits``.
"""

import numpy as np

from . import config
from .activations import log_softmax, sigmoid, softmax
from .errors import ConfigError, DataError, ShapeError


def _as_float(y, dtype):
    return np.asarray(y, dtype=dtype)


class Loss:
    name = None
    #: the activation whose logits this loss can take directly (fused path), or None
    fuses_with = None

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "mean", "sum"):
            raise ConfigError(
                f"{type(self).__name__}: unsupported reduction; expected 'sum_over_batch_size' or 'sum'; "
                f"received reduction={reduction!r}"
            )
        self.from_logits = bool(from_logits)
        self.reduction = reduction
        if name is not None:
            self.name = name

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits, "reduction": self.reduction}

    # -- per-sample losses and their gradients; subclasses implement these two ---------------
    def per_sample(self, y_true, y_pred):
        raise NotImplementedError

    def per_sample_gradient(self, y_true, y_pred):
        """d(sum of per-sample losses)/d(y_pred)."""
        raise NotImplementedError

    def _scale(self, n):
        return 1.0 if self.reduction == "sum" else 1.0 / n

    def __call__(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        if not np.issubdtype(y_pred.dtype, np.floating):
            y_pred = y_pred.astype(config.floatx())
        losses = self.per_sample(self.prepare_targets(y_true, y_pred), y_pred)
        return (np.sum(losses) * self._scale(losses.size)).astype(y_pred.dtype)

    def gradient(self, y_true, y_pred):
        y_true = self.prepare_targets(y_true, y_pred)
        n = self.per_sample(y_true, y_pred).size
        return (self.per_sample_gradient(y_true, y_pred) * self._scale(n)).astype(y_pred.dtype, copy=False)

    def value_and_grad_from_logits(self, y_true, logits):
        """Loss and d(loss)/d(logits) for the fused softmax/sigmoid path: this loss's own
        ``from_logits=True`` formulas, which give dL/dz = (y - Y) / N."""
        on_logits = type(self)(from_logits=True, reduction=self.reduction)
        return on_logits(y_true, logits), on_logits.gradient(y_true, logits)

    def prepare_targets(self, y_true, y_pred):
        """Targets as the loss needs them (float one-hot, integer indices), in y_pred's dtype."""
        return _as_float(y_true, y_pred.dtype)

    def check_targets(self, y_true, output_shape, owner="loss"):
        """Raise a clear error when targets cannot fit this loss and the model's output."""
        y_true = np.asarray(y_true)
        if not (np.issubdtype(y_true.dtype, np.number) or y_true.dtype == bool):
            raise DataError(f"{owner}: targets must be numbers; received y with dtype {y_true.dtype}")
        if np.issubdtype(y_true.dtype, np.floating) and not np.all(np.isfinite(y_true)):
            raise DataError(f"{owner}: targets contain NaN or infinite values")


class CategoricalCrossentropy(Loss):
    """-sum_k Y_k log p_k over one-hot (or soft) targets Y."""

    name = "categorical_crossentropy"
    fuses_with = "softmax"

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            return -np.sum(y_true * log_softmax(y_pred), axis=-1)
        eps = config.epsilon()
        q = np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), eps, 1 - eps)
        return -np.sum(y_true * np.log(q), axis=-1)

    def per_sample_gradient(self, y_true, y_pred):
        if self.from_logits:
            return softmax(y_pred) * np.sum(y_true, axis=-1, keepdims=True) - y_true
        # p is first normalised, q = p / s, then clipped; L = -sum Y log q.
        eps = config.epsilon()
        s = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / s
        dq = np.where((q > eps) & (q < 1 - eps), -y_true / np.clip(q, eps, 1 - eps), 0)
        return (dq - np.sum(dq * q, axis=-1, keepdims=True)) / s

    def check_targets(self, y_true, output_shape, owner="loss"):
        super().check_targets(y_true, output_shape, owner)
        y_true = np.asarray(y_true)
        if y_true.shape[1:] != tuple(output_shape[1:]):
            hint = ""
            if y_true.ndim == 1 or (y_true.ndim == 2 and y_true.shape[1] == 1):
                hint = " (integer class labels need loss='sparse_categorical_crossentropy' or to_categorical(y))"
            raise ShapeError(
                f"{owner}: categorical_crossentropy needs one-hot targets of the output's shape; expected "
                f"y of shape (N, {', '.join(map(str, output_shape[1:]))}); received {y_true.shape}{hint}"
            )


class SparseCategoricalCrossentropy(Loss):
    """-log p_y for integer class labels y."""

    name = "sparse_categorical_crossentropy"
    fuses_with = "softmax"

    def prepare_targets(self, y_true, y_pred):
        labels = np.asarray(y_true)
        if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
            labels = labels[..., 0]
        return labels.astype(np.int64, copy=False)

    def _one_hot(self, labels, like):
        onehot = np.zeros(like.shape, dtype=like.dtype)
        np.put_along_axis(onehot, labels[..., None], 1, axis=-1)
        return onehot

    def per_sample(self, labels, y_pred):
        return CategoricalCrossentropy(self.from_logits).per_sample(self._one_hot(labels, y_pred), y_pred)

    def per_sample_gradient(self, labels, y_pred):
        return CategoricalCrossentropy(self.from_logits).per_sample_gradient(self._one_hot(labels, y_pred), y_pred)

    def check_targets(self, y_true, output_shape, owner="loss"):
        super().check_targets(y_true, output_shape, owner)
        y_true = np.asarray(y_true)
        expected_ndim = len(output_shape) - 1
        if y_true.ndim == expected_ndim + 1 and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        if y_true.ndim != expected_ndim:
            raise ShapeError(
                f"{owner}: sparse_categorical_crossentropy needs integer class labels of shape (N,); "
                f"received y of shape {np.asarray(y_true).shape} (one-hot targets need "
                "loss='categorical_crossentropy')"
            )
        if y_true.size and not np.all(np.equal(np.mod(y_true, 1), 0)):
            raise DataError(f"{owner}: sparse_categorical_crossentropy needs integer class labels; received non-integer values")
        classes = output_shape[-1]
        if y_true.size and (y_true.min() < 0 or y_true.max() >= classes):
            raise DataError(
                f"{owner}: class label out of range; expected labels in [0, {classes - 1}] for a model with "
                f"{classes} outputs; received labels in [{y_true.min()}, {y_true.max()}]"
            )


class BinaryCrossentropy(Loss):
    """-(y log p + (1 - y) log(1 - p)), averaged over the last axis as Keras does."""

    name = "binary_crossentropy"
    fuses_with = "sigmoid"

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            z = y_pred
            return np.mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))), axis=-1)
        eps = config.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        return -np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p), axis=-1)

    def per_sample_gradient(self, y_true, y_pred):
        d = y_pred.shape[-1]
        if self.from_logits:
            return (sigmoid(y_pred) - y_true) / d
        eps = config.epsilon()
        p = np.clip(y_pred, eps, 1 - eps)
        inside = (y_pred > eps) & (y_pred < 1 - eps)
        return np.where(inside, (p - y_true) / (p * (1 - p)), 0) / d

    def check_targets(self, y_true, output_shape, owner="loss"):
        super().check_targets(y_true, output_shape, owner)
        y_true = np.asarray(y_true)
        if y_true.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            y_true = y_true[..., None]
        if y_true.shape[1:] != tuple(output_shape[1:]):
            raise ShapeError(
                f"{owner}: binary_crossentropy targets must match the output's shape; expected "
                f"(N, {', '.join(map(str, output_shape[1:]))}); received {np.asarray(y_true).shape}"
            )
        if y_true.size and (y_true.min() < 0 or y_true.max() > 1):
            raise DataError(
                f"{owner}: binary_crossentropy needs targets in [0, 1]; received values in "
                f"[{y_true.min()}, {y_true.max()}]"
            )

    def prepare_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true, dtype=y_pred.dtype)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        return y_true


class MeanSquaredError(Loss):
    """mean over the last axis of (y - p)^2."""

    name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        return np.mean((y_pred - y_true) ** 2, axis=-1)

    def per_sample_gradient(self, y_true, y_pred):
        return 2 * (y_pred - y_true) / y_pred.shape[-1]

    def prepare_targets(self, y_true, y_pred):
        y_true = np.asarray(y_true, dtype=y_pred.dtype)
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1:
            y_true = y_true[..., None]
        return y_true

    def check_targets(self, y_true, output_shape, owner="loss"):
        super().check_targets(y_true, output_shape, owner)
        y_true = np.asarray(y_true)
        if y_true.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
            y_true = y_true[..., None]
        if y_true.shape[1:] != tuple(output_shape[1:]):
            raise ShapeError(
                f"{owner}: {self.name} targets must match the output's shape; expected "
                f"(N, {', '.join(map(str, output_shape[1:]))}); received {np.asarray(y_true).shape}"
            )


class MeanAbsoluteError(MeanSquaredError):
    name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true), axis=-1)

    def per_sample_gradient(self, y_true, y_pred):
        return np.sign(y_pred - y_true) / y_pred.shape[-1]


_CLASSES = (CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError, MeanAbsoluteError)
_BY_NAME = {cls.name: cls for cls in _CLASSES}
_BY_NAME.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError})
_BY_CLASS = {cls.__name__: cls for cls in _CLASSES}


def get(identifier):
    """A loss object from a name (``"categorical_crossentropy"``), a class name, or an instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return _BY_CLASS[identifier["class_name"]](**{k: v for k, v in (identifier.get("config") or {}).items() if k in ("from_logits", "reduction")})
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower()) or _BY_CLASS.get(identifier)
        if cls is not None:
            return cls()
    raise ConfigError(f"compile: unknown loss; expected one of {sorted(_BY_NAME)} or a Loss object; received loss={identifier!r}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _function(cls):
    def per_sample_loss(y_true, y_pred, from_logits=False):
        y_pred = np.asarray(y_pred)
        loss = cls(from_logits=from_logits)
        return loss.per_sample(loss.prepare_targets(y_true, y_pred), y_pred)

    per_sample_loss.__name__ = cls.name
    per_sample_loss.__doc__ = f"Per-sample {cls.name} (no reduction over the batch), as ``keras.losses.{cls.name}``."
    return per_sample_loss


categorical_crossentropy = _function(CategoricalCrossentropy)
sparse_categorical_crossentropy = _function(SparseCategoricalCrossentropy)
binary_crossentropy = _function(BinaryCrossentropy)
mean_squared_error = mse = _function(MeanSquaredError)
mean_absolute_error = mae = _function(MeanAbsoluteError)
