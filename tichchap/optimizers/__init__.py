"""Gradient descent, Adam and RMSprop with Keras 3's update rules and defaults.

``apply(params, grads)`` updates each array in ``params`` in place. Slot variables (momentum,
moments) are created on the first step, one per parameter in the order given; the model always
passes its trainable weights in the same order, so ``get_state``/``set_state`` round-trip exactly.
"""

import math

import numpy as np

from ..errors import ArgumentTypeError, ConfigError, ShapeError
from ..ops import parallel
from . import schedules


class Optimizer:
    #: names of the per-parameter slot arrays, in the order they are saved
    slot_names = ()

    def __init__(self, learning_rate=0.001, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None):
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots = None  # list over params of {slot name: array}

    @property
    def learning_rate(self):
        """A positive number, a schedule (``tichchap.optimizers.schedules``) or a function of the
        step count. As in Keras, an optimizer made with a schedule does not take a number later."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        if isinstance(learning_rate, dict):  # a serialized schedule, from a saved or Keras config
            learning_rate = schedules.deserialize(learning_rate)
        if not callable(learning_rate):
            if isinstance(self._learning_rate, schedules.LearningRateSchedule):
                raise ArgumentTypeError(
                    f"{type(self).__name__}: the learning rate is set by the schedule "
                    f"{type(self._learning_rate).__name__} given to the optimizer, so it cannot be set to a number; "
                    f"make the optimizer with a number as learning_rate to set it later; received {learning_rate!r}"
                )
            learning_rate = float(learning_rate)
            if not learning_rate > 0 or not math.isfinite(learning_rate):
                raise ConfigError(
                    f"{type(self).__name__}: learning_rate must be a positive number; received learning_rate={learning_rate}"
                )
        self._learning_rate = learning_rate

    def current_learning_rate(self):
        """The rate for this step: a number, or a schedule called with the step count (0 first)."""
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    def _clip(self, grads):
        if self.clipvalue is not None:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [g * min(1.0, self.clipnorm / (float(np.sqrt(np.sum(g * g))) + 1e-12)) for g in grads]
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
            scale = min(1.0, self.global_clipnorm / (norm + 1e-12))
            grads = [g * scale for g in grads]
        return grads

    def apply(self, params, grads):
        """One update step of every parameter with its gradient (arrays updated in place)."""
        if self._slots is None:
            self._slots = [{name: np.zeros_like(p) for name in self.slot_names} for p in params]
        elif len(self._slots) != len(params):
            raise ShapeError(
                f"{self.name}: optimizer state is for {len(self._slots)} parameters; received {len(params)}"
            )
        grads = self._clip(grads)
        lr = self.current_learning_rate()
        for param, grad, slots in zip(params, grads, self._slots):
            self._update(param, grad, slots, lr)
        self.iterations += 1

    def _update(self, param, grad, slots, lr):
        raise NotImplementedError

    # -- state, for exact resume ---------------------------------------------------------------
    def get_state(self):
        """{"iterations": int, "slots": [[array per slot name] per parameter]} (copies)."""
        slots = [] if self._slots is None else [[s[n].copy() for n in self.slot_names] for s in self._slots]
        return {"iterations": self.iterations, "slots": slots}

    def set_state(self, state):
        self.iterations = int(state["iterations"])
        slots = state["slots"]
        self._slots = [dict(zip(self.slot_names, arrays)) for arrays in slots] if slots else None

    def get_config(self):
        lr = self.learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif callable(lr):  # a plain function cannot be written down: its current value is
            lr = self.current_learning_rate()
        config = {"name": self.name, "learning_rate": lr}
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config


class SGD(Optimizer):
    """w <- w - lr g; with momentum m <- momentum m - lr g, w <- w + m (Nesterov: w + momentum m - lr g)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ConfigError(f"SGD: momentum must be in [0, 1]; received momentum={momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum > 0 else ()

    def _update(self, w, g, slots, lr):
        if self.momentum == 0:
            w -= lr * g
            return
        m = slots["momentum"]
        m *= self.momentum
        m -= lr * g
        if self.nesterov:
            w += self.momentum * m - lr * g
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam as Keras 3 writes it: alpha = lr sqrt(1 - b2^t) / (1 - b1^t),
    m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), w -= alpha m / (sqrt(v) + eps)."""

    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if amsgrad:
            raise ConfigError("Adam: amsgrad=True is not supported; received amsgrad=True")
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _update(self, w, g, slots, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m, v = slots["m"], slots["v"]

        def block(wb, gb, mb, vb):
            scratch = np.subtract(gb, mb)
            scratch *= 1 - self.beta_1
            mb += scratch
            np.multiply(gb, gb, out=scratch)
            scratch -= vb
            scratch *= 1 - self.beta_2
            vb += scratch
            np.sqrt(vb, out=scratch)
            scratch += self.epsilon
            np.divide(mb, scratch, out=scratch)
            scratch *= alpha
            wb -= scratch

        parallel.for_rows(block, w, g, m, v)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """v <- rho v + (1 - rho) g^2; w -= lr g / sqrt(v + eps) (Keras 3's form), optional momentum."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)
        self.slot_names = ("velocity",) + (("average_gradient",) if centered else ()) + (("momentum",) if momentum > 0 else ())

    def _update(self, w, g, slots, lr):
        v = slots["velocity"]
        v *= self.rho
        v += (1 - self.rho) * g * g
        denominator = v + self.epsilon
        if self.centered:
            avg = slots["average_gradient"]
            avg *= self.rho
            avg += (1 - self.rho) * g
            denominator -= avg * avg
        increment = lr * g / np.sqrt(denominator)
        if self.momentum > 0:
            m = slots["momentum"]
            m *= self.momentum
            m += increment
            w -= m
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}
_BY_CLASS = {cls.__name__: cls for cls in _BY_NAME.values()}


def get(identifier):
    """An optimizer from a name (``"adam"``), a Keras config dict, or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_CLASS:
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ConfigError(
        f"compile: unknown optimizer; expected one of {sorted(_BY_NAME)} or an Optimizer object; received optimizer={identifier!r}"
    )


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    cls = _BY_CLASS[config["class_name"]]
    kwargs = dict(config.get("config") or {})
    kwargs.pop("name", None)
    known = set(cls.__init__.__code__.co_varnames) | {"clipnorm", "clipvalue", "global_clipnorm"}
    return cls(**{k: v for k, v in kwargs.items() if k in known})
