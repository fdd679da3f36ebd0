"""tichchap ("tích chập": convolution) — a CNN framework written from scratch on NumPy, with the
Keras API: Sequential and functional models, compile/fit/evaluate/predict, summary, save/load.

    >>> import tichchap
    >>> from tichchap import layers
    >>> model = tichchap.Sequential([tichchap.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"),
    ...                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])
    >>> model.count_params()
    13610
"""

from . import _runtime  # noqa: F401  first: its OpenBLAS setting must precede NumPy's import
from . import activations, callbacks, config, errors, initializers, layers, losses, metrics, optimizers, utils
from .layers import Input
from .model import Model, Sequential
from .saving import load_model

__version__ = "0.1.0"

__all__ = ["Sequential", "Model", "Input", "load_model", "layers", "losses", "optimizers", "initializers",
           "callbacks", "utils", "config", "activations", "metrics", "errors"]
