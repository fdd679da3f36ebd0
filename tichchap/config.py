"""Global settings, as ``keras.config``: the default float type of models built from now on."""

import numpy as np

from .errors import ConfigError

_FLOATX = "float32"
_ALLOWED = ("float32", "float64")


def floatx():
    """The name of the default float type ("float32" unless changed)."""
    return _FLOATX


def set_floatx(value):
    """Make models built afterwards hold weights and compute in ``value`` ("float32"/"float64")."""
    global _FLOATX
    name = np.dtype(value).name if not isinstance(value, str) else value
    if name not in _ALLOWED:
        raise ConfigError(f"set_floatx: unknown float type; expected one of {_ALLOWED}; received {value!r}")
    _FLOATX = name


def epsilon():
    """The fuzz factor Keras uses in losses (1e-7)."""
    return 1e-7
