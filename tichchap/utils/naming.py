"""Keras' layer names: ``conv2d``, ``conv2d_1``, ... unique within a session."""

import re
from collections import defaultdict

_uids = defaultdict(int)


def to_snake_case(name):
    """``Conv2D`` -> ``conv2d``, ``MaxPooling2D`` -> ``max_pooling2d``, ``ReLU`` -> ``re_lu``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2``, ... as Keras names layers."""
    _uids[prefix] += 1
    count = _uids[prefix]
    return prefix if count == 1 else f"{prefix}_{count - 1}"


def clear_session():
    """Reset the name counters (as ``keras.backend.clear_session()``)."""
    _uids.clear()
