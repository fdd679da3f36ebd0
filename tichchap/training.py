"""The training loop: batching, shuffling, losses, metrics, callbacks and History.

``Trainer`` is mixed into :class:`tichchap.Model`; it calls the graph's ``forward`` and
``backward`` and hands the gradients to the optimizer.
"""

import math

import numpy as np

from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .activations import Activation
from .callbacks import CallbackList, History, ProgbarLogger, TerminateOnNaN
from .errors import ConfigError, DataError, NotBuiltError, TrainingError
from .ops import parallel
from .summary import count_flops
from .utils.random import make_rng
from .validation import standardize_inputs, standardize_targets


# predict(), evaluate() and a training step split a batch over the threads, a whole forward (and
# backward) pass each (ops/parallel.py's split_batch), where every part carries at least this many
# FLOPs of the forward pass (summary.count_flops); a training step only when every layer is
# per_sample_in_training (no batch norm). Inference ms, the batch whole against split in two,
# alternating in one process (one-off A/B, OpenBLAS' Haswell kernels): LeNet (9.5 MFLOP a sample)
# at batch 128 7.35 / 5.95, 64 3.99 / 3.48, 32 1.78 / 1.67, 24 2.11 / 2.33, 16 1.30 / 1.44;
# small_cnn (0.5) at 1024 19.2 / 11.6, at 128 1.20 / 1.36; mlp (0.2) at 2048 2.80 / 2.59; food_net
# (57) at 32 46.5 / 37.1. LeNet's training step split / whole: 0.90 at batch 128, 0.96 at 32, 1.07
# at 16 (76 MFLOP a part). With OpenBLAS' own (SkylakeX) kernels the products take half the time and
# the split's fixed costs (the hand-off, the GIL) weigh more: LeNet split / whole at batch 32 (153
# MFLOP a part), 20 pairs of 20-step windows: inference 1.28 and 1.14, training 1.12 and 1.10 (1.01
# and 1.01 with the Haswell kernels); at 48, inference 1.09, training 0.96; at 128 inference
# 0.69-0.78. Hence 200 MFLOP, between LeNet at Keras' default batch of 32 (153) and mlp at 2048 (208).
SPLIT_MIN_FLOPS = 200_000_000
# ... and not for a model whose one sample costs more than this: its layers keep both cores busy on
# their own (Xception, 16.7 GFLOP a sample, split / whole at batch 8: 1.017, 3 of 8 pairs faster).
SPLIT_MAX_FLOPS_PER_SAMPLE = 1_000_000_000


def _batches(n, batch_size, order=None):
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        yield order[start:stop] if order is not None else slice(start, stop)


def _check_batch_size(batch_size, where):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"{where}: batch_size must be a positive int; received batch_size={batch_size!r}")
    return int(batch_size)


def _verbosity(verbose):
    return 1 if verbose == "auto" else int(verbose)


def training_samples(n, validation_split):
    """How many of ``n`` samples ``fit`` trains on with ``validation_split``: as Keras, the last
    fraction of the data validates, taken before any shuffling."""
    return int(n * (1 - validation_split)) if validation_split else n


class Trainer:
    def __init__(self):
        self.optimizer = None
        self.loss = None
        self.compiled_metrics = []
        self.stop_training = False
        self.history = None
        self.completed_epochs = 0
        # The generator behind shuffling; saved with the model so training resumes exactly.
        self.rng = make_rng()

    # -- compile -----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Choose the optimizer, loss and metrics, as ``keras.Model.compile``."""
        unsupported = {k: v for k, v in kwargs.items() if v not in (None, False, "auto")}
        if unsupported:
            raise ConfigError(f"compile: unsupported arguments {sorted(unsupported)}")
        optimizer = optimizers_module.get(optimizer)
        loss = losses_module.get(loss) if loss is not None else None
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        compiled = [metrics_module.get(m, loss) for m in (metrics or [])]
        self.optimizer, self.loss, self.compiled_metrics = optimizer, loss, compiled
        self._compile_config = {"optimizer": optimizers_module.serialize(optimizer),
                                "loss": losses_module.serialize(loss) if loss else None,
                                "metrics": [m.name for m in compiled]}

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.compiled_metrics]

    def _require_compiled(self, where):
        if self.optimizer is None or self.loss is None:
            raise NotBuiltError(f"{where}: compile the model with a loss first, e.g. model.compile(optimizer='adam', "
                                "loss='categorical_crossentropy', metrics=['accuracy'])")
        if len(self.outputs) != 1:
            raise ConfigError(f"{where}: training a model with {len(self.outputs)} outputs is not supported; "
                              "models with several outputs serve feature extraction")

    def _fused(self):
        """True when the output layer's activation is the one the loss can take logits for."""
        layer = self.outputs[0].layer
        act = getattr(layer, "activation", None)
        return (isinstance(act, Activation) and self.loss.fuses_with is not None and not self.loss.from_logits
                and act.name == self.loss.fuses_with)

    def _trainable(self):
        """(layer, weight name) pairs of the trainable weights, in a fixed order."""
        if getattr(self, "_param_cache", None) is None:
            self._param_cache = [(layer, name) for layer in self.layers for name in layer.trainable_weight_names]
        return self._param_cache

    # -- one step ----------------------------------------------------------------------------
    def _loss_and_output_grad(self, y, pred, fused):
        if fused:
            return self.loss.value_and_grad_from_logits(y, self.outputs[0].layer.logits)
        return self.loss(y, pred), self.loss.gradient(y, pred)

    def _train_step(self, x, y, fused):
        """Forward, loss, backward and one optimizer update. Returns (loss, predictions).
        A non-finite loss skips the update, so the weights stay those of the last good step."""
        parts = self._batch_parts(x.shape[0]) if all(layer.per_sample_in_training for layer in self.layers) else 1
        pairs = self._trainable()
        if parts > 1:
            loss, pred, grads = self._split_step(x, y, fused, parts)
        else:
            pred = self.forward([x], training=True)[0]
            loss, grad = self._loss_and_output_grad(y, pred, fused)
            loss = float(loss)
            if math.isfinite(loss):
                self.backward([grad], fused=fused, input_grads=False)
                grads = [layer.grads[name] for layer, name in pairs]
        if not math.isfinite(loss):
            return loss, pred
        self.optimizer.apply([getattr(layer, name) for layer, name in pairs], grads)
        # Freed now, the next step's forward does not hold two steps' im2col matrices at once.
        for layer in self.layers:
            layer.clear_cache()
        return loss, pred

    def _split_step(self, x, y, fused, parts):
        """Forward, loss and backward of ``parts`` parts of the batch at once (:meth:`_in_parts`).
        Each part's loss and output gradient are weighted by its share of the batch, so the
        summed gradients are the whole batch's up to float rounding. Returns (loss, predictions,
        gradients)."""
        rows = x.shape[0]
        # Dropout's masks, drawn for the whole batch in the order the whole pass would draw them.
        noise = {t.id: drawn for t in self._tensors if t.inputs and (drawn := t.layer.draw_batch_noise(
            (rows,) + tuple(t.inputs[0].shape[1:]), np.dtype(t.inputs[0].dtype))) is not None}

        def part(replica, start, stop):
            for t in replica._tensors:
                if t.id in noise:
                    t.layer.batch_noise = noise[t.id][start:stop]
            pred = replica.forward([x[start:stop]], training=True)[0]
            loss, grad = replica._loss_and_output_grad(y[start:stop], pred, fused)
            share = self._loss_share(start, stop, rows)
            grad *= grad.dtype.type(share)
            replica.backward([grad], fused=fused, input_grads=False)
            return float(loss) * share, pred, replica

        results = self._in_parts(part, rows, parts)
        first, *others = (replica for _, _, replica in results)
        grads = [layer.grads[name] for layer, name in first._trainable()]
        for replica in others:
            for total, (layer, name) in zip(grads, replica._trainable()):
                total += layer.grads[name]
        for original, copy in zip(self._all_layers, first._all_layers):  # layer.grads as backward leaves it
            if hasattr(copy, "grads"):
                original.grads = copy.grads
        return sum(loss for loss, _, _ in results), np.concatenate([pred for _, pred, _ in results]), grads

    def _in_parts(self, work, rows, parts):
        """``[work(model, start, stop)]`` over ``parts`` parts of a batch of ``rows``: the model
        itself when that is one part; else each part at once on its own thread
        (ops/parallel.py's ``split_batch``) and its own replica of the model (``Model._replica``:
        the same weights, caches and outputs of its own)."""
        if parts == 1:
            return [work(self, 0, rows)]
        return parallel.split_batch(lambda start, stop: work(self._replica(), start, stop), rows, parts)

    def _loss_share(self, start, stop, rows):
        """The weight of the loss of rows start..stop in the loss of ``rows``: their share of the
        batch for a mean, 1 for a sum."""
        return 1.0 if self.loss.reduction == "sum" else (stop - start) / rows

    def _reset_metrics(self):
        for m in self.compiled_metrics:
            m.reset_state()

    def _logs(self, loss_total, count):
        logs = {"loss": loss_total / count if count else float("nan")}
        for m in self.compiled_metrics:
            logs[m.name] = m.result()
        return logs

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, validation_batch_size=None):
        """Train for ``epochs`` epochs; returns a :class:`History` (as ``keras.Model.fit``)."""
        if hasattr(self, "_build_from_data") and x is not None:
            self._build_from_data(x)
        self._require_graph("be trained")
        self._require_compiled("fit")
        batch_size = _check_batch_size(batch_size, "fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ConfigError(f"fit: epochs must be a non-negative int; received epochs={epochs!r}")
        [x] = standardize_inputs(self, x, "fit")
        y = standardize_targets(self, y, x.shape[0], "fit")
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ConfigError(f"fit: validation_split must be in (0, 1); received validation_split={validation_split}")
            split = training_samples(x.shape[0], validation_split)
            if split == 0 or split == x.shape[0]:
                raise DataError(f"fit: validation_split={validation_split} leaves no training or no validation samples "
                                f"out of {x.shape[0]}")
            validation_data = (x[split:], y[split:])
            x, y = x[:split], y[:split]
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ConfigError("fit: validation_data must be a pair (x_val, y_val)")
            [vx] = standardize_inputs(self, validation_data[0], "fit (validation_data)")
            vy = standardize_targets(self, validation_data[1], vx.shape[0], "fit (validation_data)")
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        verbose = _verbosity(verbose)
        callbacks = list(callbacks or [])
        history = History()
        extra = [ProgbarLogger(verbose)] if verbose else []
        cbs = CallbackList(callbacks + extra + [history], self,
                           {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size})
        terminate_on_nan = any(isinstance(cb, TerminateOnNaN) for cb in callbacks)
        fused = self._fused()
        self.stop_training = False
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self._current_epoch = epoch
            self._reset_metrics()
            cbs.on_epoch_begin(epoch)
            order = self.rng.permutation(n) if shuffle else None
            loss_total, count = 0.0, 0
            for step, index in enumerate(_batches(n, batch_size, order)):
                cbs.on_train_batch_begin(step)
                xb, yb = x[index], y[index]
                loss, pred = self._train_step(xb, yb, fused)
                loss_total += loss * len(xb)
                count += len(xb)
                for m in self.compiled_metrics:
                    m.update_state(yb, pred)
                logs = self._logs(loss_total, count)
                cbs.on_train_batch_end(step, {**logs, "loss": loss} if not math.isfinite(loss) else logs)
                if not math.isfinite(loss):
                    if terminate_on_nan:
                        break
                    raise TrainingError(
                        f"fit: the loss became {loss} at epoch {epoch + 1}, batch {step + 1}; that update was not applied "
                        "and the weights are those of the last finite step. Lower the learning rate, check the data, "
                        "or pass callbacks=[tichchap.callbacks.TerminateOnNaN()] to stop quietly")
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None and not self.stop_training:
                val = self._evaluate_arrays(vx, vy, validation_batch_size or batch_size)
                epoch_logs.update({"val_" + k: v for k, v in val.items()})
            if not (self.stop_training and terminate_on_nan and not math.isfinite(logs.get("loss", 0.0))):
                self.completed_epochs = epoch + 1
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        return history

    # -- evaluate / predict ------------------------------------------------------------------
    def _evaluate_arrays(self, x, y, batch_size):
        self._reset_metrics()
        fused = self._fused()
        loss_total, count = 0.0, 0
        for index in _batches(x.shape[0], batch_size):
            xb, yb = x[index], y[index]

            def part(model, start, stop):
                pred = model.forward([xb[start:stop]], training=False, keep_cache=False)[0]
                if fused:
                    loss = self.loss.value_and_grad_from_logits(yb[start:stop], model.outputs[0].layer.logits)[0]
                else:
                    loss = self.loss(yb[start:stop], pred)
                return float(loss) * self._loss_share(start, stop, len(xb)), pred

            results = self._in_parts(part, len(xb), self._batch_parts(len(xb)))
            loss, pred = sum(loss for loss, _ in results), np.concatenate([pred for _, pred in results])
            loss_total += loss * len(xb)
            count += len(xb)
            for m in self.compiled_metrics:
                m.update_state(yb, pred)
        return self._logs(loss_total, count)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss and metrics on (x, y): a scalar without metrics, else [loss, *metrics] (or a dict)."""
        if hasattr(self, "_build_from_data") and x is not None:
            self._build_from_data(x)
        self._require_graph("be evaluated")
        self._require_compiled("evaluate")
        batch_size = _check_batch_size(batch_size, "evaluate")
        [x] = standardize_inputs(self, x, "evaluate")
        y = standardize_targets(self, y, x.shape[0], "evaluate")
        logs = self._evaluate_arrays(x, y, batch_size)
        if _verbosity(verbose):
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto"):
        """Outputs for ``x``, batch by batch, in inference mode (dropout off, moving statistics)."""
        if hasattr(self, "_build_from_data"):
            self._build_from_data(x)
        self._require_graph("predict")
        batch_size = _check_batch_size(batch_size, "predict")
        xs = standardize_inputs(self, x, "predict")
        n = xs[0].shape[0]
        chunks = [[] for _ in self.outputs]
        for index in _batches(n, batch_size):
            batch = [a[index] for a in xs]
            for outs in self._predict_parts(batch):
                for store, out in zip(chunks, outs):
                    store.append(out)
        results = [np.concatenate(c, axis=0) for c in chunks]
        return results if self._outputs_were_list else results[0]

    def _batch_parts(self, rows):
        """Into how many parts predict and a training step split a batch of ``rows``: one per
        thread (ops/parallel.py's ``split_batch``) where each carries at least
        :data:`SPLIT_MIN_FLOPS` of the forward pass and a sample at most
        :data:`SPLIT_MAX_FLOPS_PER_SAMPLE`, else 1."""
        flops = count_flops(self)[0]
        if flops > SPLIT_MAX_FLOPS_PER_SAMPLE or not parallel.can_split_batch():
            return 1
        return max(1, min(parallel.get_num_threads(), int(rows * flops // SPLIT_MIN_FLOPS)))

    def _predict_parts(self, batch):
        """The inference outputs of ``batch``, in :meth:`_batch_parts` parts of its rows."""
        rows = batch[0].shape[0]
        return self._in_parts(lambda model, start, stop: model.forward(
            [a[start:stop] for a in batch], training=False, keep_cache=False), rows, self._batch_parts(rows))

    def train_on_batch(self, x, y, return_dict=False):
        """One update on one batch; returns the loss (and metrics) of that batch."""
        if hasattr(self, "_build_from_data"):
            self._build_from_data(x)
        self._require_graph("be trained")
        self._require_compiled("train_on_batch")
        [x] = standardize_inputs(self, x, "train_on_batch")
        y = standardize_targets(self, y, x.shape[0], "train_on_batch")
        self._reset_metrics()
        loss, pred = self._train_step(x, y, self._fused())
        if not math.isfinite(loss):
            raise TrainingError(f"train_on_batch: the loss is {loss}; the update was not applied")
        for m in self.compiled_metrics:
            m.update_state(y, pred)
        logs = self._logs(loss * len(x), len(x))
        if return_dict:
            return logs
        values = [logs[k] for k in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def test_on_batch(self, x, y, return_dict=False):
        return self.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=return_dict)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(x), verbose=0)

    # -- saving (the formats live in tichchap.saving) ----------------------------------------
    def save(self, filepath, overwrite=True):
        """Save architecture, weights and optimizer state in one file (written atomically).
        ``.keras``/``.h5`` write Keras' formats; any other name tichchap's own (NumPy .npz)."""
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    def save_weights(self, filepath, overwrite=True):
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        from .saving import load_weights

        load_weights(self, filepath)
