"""Weight initializers with Keras' names, formulas and defaults.

Each is called as ``init(shape, dtype)``. With ``seed=`` an initializer gives the same values on
every call (as in Keras 3); without one it draws from the global stream set by
``tichchap.utils.set_random_seed``.
"""

import math

import numpy as np

from .errors import ConfigError
from .utils.random import make_rng


def compute_fans(shape):
    """Keras' fan-in and fan-out: for a conv kernel (kh, kw, c_in, c_out) the receptive field
    kh*kw multiplies c_in and c_out."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __init__(self, seed=None):
        self.seed = seed

    def _rng(self):
        return make_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}

    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError


class Zeros(Initializer):
    def __init__(self):
        super().__init__(None)

    def get_config(self):
        return {}

    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


class Ones(Zeros):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = value

    def get_config(self):
        return {"value": self.value}

    def __call__(self, shape, dtype="float32"):
        return np.full(shape, self.value, dtype=dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}

    def __call__(self, shape, dtype="float32"):
        return self._rng().uniform(self.minval, self.maxval, size=shape).astype(dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}

    def __call__(self, shape, dtype="float32"):
        return self._rng().normal(self.mean, self.stddev, size=shape).astype(dtype)


def _truncated_normal(rng, stddev, shape):
    """Normal samples redrawn until within two standard deviations, as TensorFlow's."""
    values = rng.standard_normal(size=shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(size=int(outside.sum()))
        outside = np.abs(values) > 2
    return values * stddev


class VarianceScaling(Initializer):
    """The family behind Glorot, He and LeCun: variance ``scale / n``, n chosen by ``mode``."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ConfigError(f"VarianceScaling: unknown mode; expected fan_in, fan_out or fan_avg; received mode={mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform", "normal"):
            raise ConfigError(
                "VarianceScaling: unknown distribution; expected truncated_normal, untruncated_normal or "
                f"uniform; received distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}

    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        elif self.distribution == "truncated_normal":
            # 0.8796... is the standard deviation of a unit normal truncated to [-2, 2].
            values = _truncated_normal(rng, math.sqrt(variance) / 0.87962566103423978, shape)
        else:
            values = rng.normal(0.0, math.sqrt(variance), size=shape)
        return values.astype(dtype)


class GlorotUniform(VarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)) (Keras' default)."""

    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    """Truncated normal with standard deviation sqrt(2 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    """Uniform in [-limit, limit], limit = sqrt(6 / fan_in)."""

    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "random_normal": RandomNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier, owner=None):
    """An initializer from a name (``"he_normal"``), a Keras config dict, or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict):
        cls = _BY_CLASS.get(identifier.get("class_name"))
        if cls is not None:
            return cls(**(identifier.get("config") or {}))
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        if identifier in _BY_CLASS:
            return _BY_CLASS[identifier]()
    where = f"{owner}: " if owner else ""
    raise ConfigError(f"{where}unknown initializer; expected one of {sorted(_BY_NAME)}; received {identifier!r}")


def serialize(initializer):
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}
