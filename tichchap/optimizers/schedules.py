"""Learning-rate schedules with Keras 3's formulas, names and configs (``keras.optimizers.schedules``).

A schedule is passed as an optimizer's ``learning_rate``; the optimizer calls it with its step
count (0 for the first update) and uses the result for that step::

    lr = schedules.CosineDecay(1e-3, decay_steps=10 * steps_per_epoch)
    model.compile(optimizer=tichchap.optimizers.Adam(learning_rate=lr), ...)

Every schedule has ``get_config``/``from_config``, and ``serialize``/``deserialize`` use Keras'
dict layout, so a saved model resumes with its schedule and a Keras optimizer config loads here.
"""

import math

from ..errors import ConfigError

KERAS_MODULE = "keras.optimizers.schedules"


class LearningRateSchedule:
    """Base class: ``schedule(step)`` is the learning rate for optimizer step ``step``."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _positive(owner, **values):
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
            raise ConfigError(f"{owner}: {key} must be a positive number; received {key}={value!r}")


class _DecayWithProgress(LearningRateSchedule):
    """The schedules that decay with the progress ``step / decay_steps``, rounded down with
    ``staircase`` so that the rate drops in steps every ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        _positive(type(self).__name__, decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.decay_rate, self.staircase, self.name = decay_rate, staircase, name

    def _progress(self, step):
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_DecayWithProgress):
    """``initial_learning_rate * decay_rate ** progress``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, and ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ConfigError(
                f"PiecewiseConstantDecay: values must have one more element than boundaries; "
                f"received {len(boundaries)} boundaries and {len(values)} values"
            )
        if any(b >= a for a, b in zip(boundaries[1:], boundaries)):
            raise ConfigError(f"PiecewiseConstantDecay: boundaries must increase; received {list(boundaries)}")
        self.boundaries, self.values, self.name = list(boundaries), list(values), name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps`` along
    ``(1 - step / decay_steps) ** power``, then constant; with ``cycle`` the decay restarts from
    the initial rate with a period that grows to the next multiple of ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        _positive(type(self).__name__, decay_steps=decay_steps)
        self.initial_learning_rate, self.decay_steps = initial_learning_rate, decay_steps
        self.end_learning_rate, self.power, self.cycle, self.name = end_learning_rate, power, cycle, name

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= max(1, math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        remaining = (1 - step / decay_steps) ** self.power
        return (self.initial_learning_rate - self.end_learning_rate) * remaining + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class InverseTimeDecay(_DecayWithProgress):
    """``initial_learning_rate / (1 + decay_rate * progress)``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


def _cosine(fraction, alpha):
    """Half a cosine from 1 at ``fraction`` 0 down to ``alpha`` at ``fraction`` 1."""
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + alpha


class CosineDecay(LearningRateSchedule):
    """Half a cosine from the start rate down to ``alpha`` times it over ``decay_steps``, then
    constant (Loshchilov & Hutter, SGDR). With ``warmup_target``, the rate first rises linearly
    from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps`` and the cosine starts
    from ``warmup_target``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        _positive(type(self).__name__, decay_steps=decay_steps)
        if warmup_steps < 0:
            raise ConfigError(f"CosineDecay: warmup_steps must be >= 0; received warmup_steps={warmup_steps!r}")
        if warmup_target is not None and warmup_steps == 0:
            raise ConfigError("CosineDecay: warmup_target needs warmup_steps > 0; received warmup_steps=0")
        self.initial_learning_rate, self.decay_steps, self.alpha, self.name = (
            initial_learning_rate, decay_steps, alpha, name)
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def __call__(self, step):
        if self.warmup_target is None:
            return self.initial_learning_rate * _cosine(min(step, self.decay_steps) / self.decay_steps, self.alpha)
        if step < self.warmup_steps:
            rise = self.warmup_target - self.initial_learning_rate
            return self.initial_learning_rate + rise * step / self.warmup_steps
        step = min(step - self.warmup_steps, self.decay_steps)
        return self.warmup_target * _cosine(step / self.decay_steps, self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay that restarts: the i-th period lasts ``first_decay_steps * t_mul ** i`` steps
    and starts from ``initial_learning_rate * m_mul ** i``."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        _positive(type(self).__name__, first_decay_steps=first_decay_steps, t_mul=t_mul)
        self.initial_learning_rate, self.first_decay_steps = initial_learning_rate, first_decay_steps
        self.t_mul, self.m_mul, self.alpha, self.name = t_mul, m_mul, alpha, name

    def __call__(self, step):
        fraction = step / self.first_decay_steps  # of the first period; periods grow by t_mul
        if self.t_mul == 1.0:
            restarts = math.floor(fraction)
            fraction -= restarts
        else:
            restarts = math.floor(math.log(1 - fraction * (1 - self.t_mul)) / math.log(self.t_mul))
            steps_before = (1 - self.t_mul ** restarts) / (1 - self.t_mul)
            fraction = (fraction - steps_before) / self.t_mul ** restarts
        peak = self.m_mul ** restarts
        return self.initial_learning_rate * ((1 - self.alpha) * peak * 0.5 * (1 + math.cos(math.pi * fraction))
                                             + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


_BY_CLASS = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay,
                                           InverseTimeDecay, CosineDecay, CosineDecayRestarts)}


def serialize(schedule):
    """Keras 3's dict for a schedule: module, class name, config."""
    return {"module": KERAS_MODULE, "class_name": type(schedule).__name__, "config": schedule.get_config(),
            "registered_name": None}


def deserialize(config):
    """The schedule a ``serialize`` dict (tichchap's or Keras') describes."""
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in _BY_CLASS:
        raise ConfigError(
            f"unknown learning-rate schedule; expected one of {sorted(_BY_CLASS)}; received {config!r}"
        )
    return _BY_CLASS[name].from_config(dict(config.get("config") or {}))
