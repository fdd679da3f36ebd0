"""Global settings, as ``keras.config``: the default float type of models built from now on, the
number of threads tichchap's elementwise steps use, and whether convolutions may use Winograd's
algorithm."""

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


def winograd():
    """Whether stride-1 3x3 and 5x5 convolutions with at least 32 input and 64 output channels use
    Winograd's algorithm (True unless changed): about 2x faster than im2col at LeNet's second
    layer, with about 10x im2col's float32 rounding error (relative 1e-6 to 1e-5; see
    tichchap/ops/winograd.py)."""
    from .ops.winograd import enabled

    return enabled()


def set_winograd(enabled):
    """Turn Winograd's algorithm on or off for convolutions computed from now on (off: every
    convolution is im2col and one matrix product, as the textbook derives it)."""
    from .ops.winograd import set_enabled

    set_enabled(enabled)
