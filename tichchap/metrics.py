"""Metrics as Keras names them; each accumulates over batches (``update_state``/``result``)."""

import numpy as np

from .errors import ConfigError


class Metric:
    name = None

    def __init__(self, name=None):
        if name:
            self.name = name
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0

    def update_state(self, y_true, y_pred):
        values = self.per_sample(np.asarray(y_true), np.asarray(y_pred))
        self.total += float(np.sum(values))
        self.count += values.size

    def result(self):
        return self.total / self.count if self.count else 0.0

    def per_sample(self, y_true, y_pred):
        raise NotImplementedError


class CategoricalAccuracy(Metric):
    name = "categorical_accuracy"

    def per_sample(self, y_true, y_pred):
        return np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)


class SparseCategoricalAccuracy(Metric):
    name = "sparse_categorical_accuracy"

    def per_sample(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        return y_true.astype(np.int64) == np.argmax(y_pred, axis=-1)


class BinaryAccuracy(Metric):
    name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def per_sample(self, y_true, y_pred):
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]
        return (y_pred > self.threshold) == (y_true > 0.5)


class MeanSquaredError(Metric):
    name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        return np.mean((y_pred - y_true.reshape(y_pred.shape)) ** 2, axis=-1)


class MeanAbsoluteError(Metric):
    name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true.reshape(y_pred.shape)), axis=-1)


_BY_NAME = {cls.name: cls for cls in (CategoricalAccuracy, SparseCategoricalAccuracy, BinaryAccuracy, MeanSquaredError, MeanAbsoluteError)}
_BY_NAME.update({"mse": MeanSquaredError, "mae": MeanAbsoluteError})


def get(identifier, loss=None):
    """A metric object. ``"accuracy"`` picks the variant that fits the loss, as Keras does."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier in ("accuracy", "acc"):
        loss_name = getattr(loss, "name", None)
        cls = {
            "sparse_categorical_crossentropy": SparseCategoricalAccuracy,
            "binary_crossentropy": BinaryAccuracy,
        }.get(loss_name, CategoricalAccuracy)
        return cls(name=identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier](name=identifier)
    raise ConfigError(
        f"compile: unknown metric; expected 'accuracy' or one of {sorted(_BY_NAME)}; received metrics entry {identifier!r}"
    )
