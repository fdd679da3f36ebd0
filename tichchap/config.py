"""Global settings, as ``keras.config``: the default float type of models built from now on, and
the number of threads tichchap's elementwise steps use."""

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


def get_num_threads():
    """How many threads tichchap's elementwise steps (ReLU, pooling, batch norm, im2col copies)
    use; matrix products use BLAS' own threads."""
    from .ops.parallel import get_num_threads as current

    return current()


def set_num_threads(n):
    """Use ``n`` threads for tichchap's elementwise steps (1: all inline). Results do not depend on it."""
    from .ops.parallel import set_num_threads as change

    change(n)
