"""Callbacks with Keras' names and hooks: History, ProgbarLogger, EarlyStopping,
ModelCheckpoint, TerminateOnNaN, LearningRateScheduler, ReduceLROnPlateau, CSVLogger,
LambdaCallback."""

import math
import sys
import time

import numpy as np

from .errors import ConfigError


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call


class History(Callback):
    """Per-epoch logs: ``history.history["loss"]``, ``["val_accuracy"]``, ...; ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def on_train_end(self, logs=None):
        self.model.history = self


def _format_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float, np.floating)))


class ProgbarLogger(Callback):
    """Keras' text progress: verbose=1 a bar per epoch, verbose=2 one line per epoch."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self._last_draw = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.params.get("epochs", 1) > 1 or self.verbose:
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", file=self.stream)

    def _bar(self, step, total, logs, final):
        width = 20
        done = int(width * step / max(total, 1))
        elapsed = time.perf_counter() - self._start
        per_step = elapsed / max(step, 1)
        timing = f"{elapsed:.0f}s {per_step * 1000:.0f}ms/step" if final else f"{per_step * (total - step):.0f}s ETA"
        text = f"{step}/{total} " + "━" * done + "─" * (width - done) + f" {timing}"
        if logs:
            text += " - " + _format_logs(logs)
        return text

    def on_train_batch_end(self, batch, logs=None):
        if self.verbose != 1:
            return
        now = time.perf_counter()
        total = self.params.get("steps", 0)
        if now - self._last_draw > 0.2 and batch + 1 < total:
            self._last_draw = now
            self.stream.write("\r" + self._bar(batch + 1, total, logs, final=False))
            self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("steps", 0)
        if self.verbose == 1:
            self.stream.write("\r" + self._bar(total, total, logs, final=True) + "\n")
        else:
            elapsed = time.perf_counter() - self._start
            self.stream.write(f"{total}/{total} - {elapsed:.0f}s - {_format_logs(logs or {})}\n")
        self.stream.flush()


def _monitor_mode(monitor, mode, owner):
    if mode not in ("auto", "min", "max"):
        raise ConfigError(f"{owner}: mode must be 'auto', 'min' or 'max'; received mode={mode!r}")
    if mode == "auto":
        mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


def _improved(value, best, mode, min_delta):
    """Whether ``value`` beats ``best`` by more than ``min_delta`` in the direction of ``mode``."""
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.mode = _monitor_mode(monitor, mode, "EarlyStopping")
        self.min_delta = abs(min_delta)
        self.baseline, self.restore_best_weights, self.start_from_epoch = baseline, restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_weights, self.best_epoch = 0, 0, None, 0
        self.best = self.baseline if self.baseline is not None else (math.inf if self.mode == "min" else -math.inf)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None and self.stopped_epoch:
            self.model.set_weights(self.best_weights)
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(Callback):
    """Save the model (or weights) after each epoch; with ``save_best_only`` only when
    ``monitor`` improves. ``filepath`` may hold ``{epoch}`` and log keys (``{val_loss:.2f}``).
    Every write is atomic: a crash leaves the previous checkpoint intact."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch":
            raise ConfigError(f"ModelCheckpoint: only save_freq='epoch' is supported; received save_freq={save_freq!r}")
        self.filepath, self.monitor, self.verbose = str(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.mode = _monitor_mode(monitor, mode, "ModelCheckpoint")
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                return
            improved = value < self.best if self.mode == "min" else value > self.best
            if not improved:
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {value:.5f}, saving model to {path}")
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class TerminateOnNaN(Callback):
    """Stop training at the first NaN or infinite loss, and say where. The update of that batch
    is not applied, so the weights stay those of the last finite step."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            epoch = getattr(self.model, "_current_epoch", 0)
            print(f"Epoch {epoch + 1}, batch {batch + 1}: invalid loss ({loss}), terminating training")
            self.model.stop_training = True
            self.model.terminated_on = {"epoch": epoch, "batch": batch}


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at each epoch from ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.optimizer.current_learning_rate()))
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.current_learning_rate()


class ReduceLROnPlateau(Callback):
    """Multiply the optimizer's learning rate by ``factor`` (down to ``min_lr``) when ``monitor``
    has not improved by ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs
    before counting again. Keras' arguments and defaults."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0 < factor < 1:
            raise ConfigError(f"ReduceLROnPlateau: factor must be in (0, 1); received factor={factor!r}")
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), verbose
        self.mode = _monitor_mode(monitor, mode, "ReduceLROnPlateau")
        self.min_delta, self.cooldown, self.min_lr = abs(min_delta), int(cooldown), float(min_lr)

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = optimizer.current_learning_rate()
        value = logs.get(self.monitor)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            old_lr = optimizer.current_learning_rate()
            if self.wait >= self.patience and old_lr > np.float32(self.min_lr):
                optimizer.learning_rate = max(old_lr * self.factor, self.min_lr)
                if self.verbose:
                    print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{optimizer.learning_rate}.")
                self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Append each epoch's logs to a CSV file."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = str(filename), separator, append
        self._keys = None

    def on_train_begin(self, logs=None):
        if not self.append:
            open(self.filename, "w").close()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        import os

        if self._keys is None:
            self._keys = sorted(logs)
            if not self.append or os.path.getsize(self.filename) == 0:
                with open(self.filename, "a") as f:
                    f.write(self.separator.join(["epoch"] + self._keys) + "\n")
        with open(self.filename, "a") as f:
            f.write(self.separator.join([str(epoch)] + [f"{logs.get(k, '')}" for k in self._keys]) + "\n")


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise ConfigError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)
