"""Learning-rate schedules: Keras' values and configs (fixture made by real Keras), their use by
the optimizers, and a schedule surviving save and resume."""

import json
import os

import numpy as np
import pytest

import tichchap
from tichchap.errors import ConfigError
from tichchap.optimizers import schedules

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "keras", "lr_schedules.json")

with open(FIXTURE) as f:
    KERAS = json.load(f)


@pytest.mark.parametrize("case", sorted(KERAS["cases"]))
def test_schedule_matches_keras_at_every_step(case):
    expected = KERAS["cases"][case]
    schedule = schedules.deserialize(expected["serialized"])
    values = [schedule(step) for step in KERAS["steps"]]
    # Keras computes in float32 (cos near -1 loses digits there); these are float64
    np.testing.assert_allclose(values, expected["values"], rtol=2e-6, atol=1e-6 * max(expected["values"]))


@pytest.mark.parametrize("case", sorted(KERAS["cases"]))
def test_schedule_serializes_as_keras_does(case):
    serialized = KERAS["cases"][case]["serialized"]
    assert schedules.serialize(schedules.deserialize(serialized)) == serialized


def test_keras_adam_config_with_schedule_loads():
    adam = tichchap.optimizers.deserialize({"class_name": "Adam", "config": KERAS["adam_config"]})
    assert isinstance(adam.learning_rate, schedules.CosineDecay)
    assert adam.get_config()["learning_rate"] == KERAS["adam_config"]["learning_rate"]


def test_optimizer_uses_the_rate_of_its_step_count():
    """SGD without momentum moves w by exactly lr * g: the schedule's value at steps 0, 1, 2."""
    schedule = schedules.PiecewiseConstantDecay([0, 1], [0.5, 0.25, 0.125])
    sgd = tichchap.optimizers.SGD(schedule)
    w = np.zeros(1, np.float32)
    moves = []
    for _ in range(3):
        before = w.copy()
        sgd.apply([w], [np.ones(1, np.float32)])
        moves.append(float(before[0] - w[0]))
    assert moves == [0.5, 0.25, 0.125]


def test_plain_function_as_rate_is_saved_as_its_current_value():
    sgd = tichchap.optimizers.SGD(lambda step: 0.1 / (1 + step))
    sgd.iterations = 4
    assert sgd.get_config()["learning_rate"] == pytest.approx(0.02)


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5]), "one more element"),
    (lambda: schedules.PiecewiseConstantDecay([20, 10], [1.0, 0.5, 0.1]), "increase"),
    (lambda: schedules.CosineDecay(1e-3, decay_steps=0), "decay_steps"),
    (lambda: schedules.ExponentialDecay(1e-3, decay_steps=-5, decay_rate=0.9), "decay_steps"),
    (lambda: schedules.CosineDecay(1e-3, 100, warmup_target=1e-2), "warmup_steps"),
    (lambda: schedules.deserialize({"class_name": "NoSuchDecay", "config": {}}), "unknown learning-rate schedule"),
])
def test_bad_schedule_arguments_are_refused(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_schedule_survives_save_and_resume(tmp_path):
    """A model saved mid-training resumes with its schedule at the saved step, to the same weights."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def fresh():
        tichchap.utils.set_random_seed(3)
        model = tichchap.Sequential([tichchap.layers.Input((6,)), tichchap.layers.Dense(3, activation="softmax")])
        rate = schedules.CosineDecay(0.05, decay_steps=16)
        model.compile(tichchap.optimizers.Adam(rate), "sparse_categorical_crossentropy")
        return model

    straight = fresh()
    straight.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
    halfway = fresh()
    halfway.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / "halfway.tichchap")
    halfway.save(path)
    resumed = tichchap.load_model(path)
    assert isinstance(resumed.optimizer.learning_rate, schedules.CosineDecay)
    assert resumed.optimizer.current_learning_rate() == pytest.approx(0.05 * 0.5)  # step 8 of 16
    resumed.fit(x, y, batch_size=16, epochs=4, initial_epoch=2, shuffle=False, verbose=0)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_optimizer_made_with_a_schedule_takes_no_number_later():
    """As in Keras: a number would silently end the schedule (LearningRateScheduler sets one)."""
    adam = tichchap.optimizers.Adam(schedules.CosineDecay(1e-3, 100))
    with pytest.raises(TypeError, match="set by the schedule CosineDecay"):
        adam.learning_rate = 0.01
    assert isinstance(adam.learning_rate, schedules.CosineDecay)

    model = tichchap.Sequential([tichchap.layers.Input((3,)), tichchap.layers.Dense(2, activation="softmax")])
    model.compile(adam, "sparse_categorical_crossentropy")
    scheduler = tichchap.callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)
    with pytest.raises(TypeError, match="cannot be set to a number"):
        model.fit(np.zeros((4, 3), np.float32), np.zeros(4, int), epochs=1, callbacks=[scheduler], verbose=0)


def test_a_number_rate_can_be_changed_and_is_checked():
    sgd = tichchap.optimizers.SGD(0.1)
    sgd.learning_rate = 0.05
    assert sgd.current_learning_rate() == 0.05
    sgd.learning_rate = schedules.ExponentialDecay(0.05, 10, 0.5)  # a schedule may replace a number
    assert sgd.current_learning_rate() == 0.05
    with pytest.raises(ConfigError, match="positive number"):
        tichchap.optimizers.SGD(0.1).learning_rate = -1.0


@pytest.mark.parametrize("case", sorted(KERAS["reduce_lr_on_plateau"]))
def test_reduce_lr_on_plateau_sets_the_rates_keras_sets(case):
    """The callback driven epoch by epoch with the monitored values Keras was given."""
    expected = KERAS["reduce_lr_on_plateau"][case]
    model = tichchap.Sequential([tichchap.layers.Input((1,)), tichchap.layers.Dense(1)])
    model.compile(tichchap.optimizers.SGD(1.0), "mse")
    callback = tichchap.callbacks.ReduceLROnPlateau(**expected["kwargs"])
    callback.set_model(model)
    callback.on_train_begin()
    monitor = expected["kwargs"].get("monitor", "val_loss")
    rates = []
    for epoch, value in enumerate(expected["values"]):
        logs, rate_during_epoch = {monitor: value}, model.optimizer.current_learning_rate()
        callback.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == rate_during_epoch  # logged as Keras does: the epoch's rate
        rates.append(model.optimizer.current_learning_rate())
    np.testing.assert_allclose(rates, expected["rates"], rtol=1e-6)  # Keras keeps the rate in float32


def test_reduce_lr_on_plateau_in_fit_lowers_the_rate_and_logs_it():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 3)).astype(np.float32), rng.integers(0, 2, 32)
    model = tichchap.Sequential([tichchap.layers.Input((3,)), tichchap.layers.Dense(2, activation="softmax")])
    model.compile(tichchap.optimizers.SGD(0.5), "sparse_categorical_crossentropy")
    # min_delta larger than any epoch's gain: every epoch counts as a plateau
    callback = tichchap.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    history = model.fit(x, y, epochs=3, batch_size=32, callbacks=[callback], verbose=0)
    assert history.history["learning_rate"] == [0.5, 0.5, 0.25]
    assert model.optimizer.current_learning_rate() == 0.125


@pytest.mark.parametrize("kwargs, match", [({"factor": 1.0}, "factor"), ({"mode": "up"}, "mode")])
def test_reduce_lr_on_plateau_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        tichchap.callbacks.ReduceLROnPlateau(**kwargs)
