"""One source of randomness: ``set_random_seed(n)`` makes every initializer, shuffle and dropout
mask that follows repeatable bit for bit."""

import random as _py_random

import numpy as np

_global_rng = np.random.default_rng()


def set_random_seed(seed):
    """Seed tichchap's global generator (and Python's and NumPy's legacy ones, as Keras does)."""
    global _global_rng
    seed = int(seed)
    _global_rng = np.random.default_rng(seed)
    _py_random.seed(seed)
    np.random.seed(seed % 2**32)


def draw_seed(seed=None):
    """``seed`` itself when given, else the next seed from the global generator."""
    if seed is not None:
        return int(seed)
    return int(_global_rng.integers(0, 2**63 - 1))


def make_rng(seed=None):
    """A new ``numpy.random.Generator``: fixed by ``seed``, else drawn from the global stream."""
    return np.random.default_rng(draw_seed(seed))
