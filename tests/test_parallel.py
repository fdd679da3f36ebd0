"""tichchap.ops.parallel: elementwise steps split over threads give bit-identical results, and
the kernels that use it agree with themselves run on one thread."""

import threading

import numpy as np
import pytest

import tichchap
from tichchap import applications
from tichchap.activations import ReLU
from tichchap.errors import ConfigError
from tichchap.ops import conv as conv_module, parallel, pool2d_backward, pool2d_forward, reference


@pytest.fixture
def threads():
    """Run a test body at a given thread count, with blocks small enough to always go parallel."""
    before = parallel.get_num_threads()
    min_bytes = parallel.MIN_PARALLEL_BYTES

    def use(n):
        parallel.set_num_threads(n)
        parallel.MIN_PARALLEL_BYTES = 0

    yield use
    parallel.set_num_threads(before)
    parallel.MIN_PARALLEL_BYTES = min_bytes


@pytest.mark.parametrize("n, parts", [(10, 3), (2, 5), (1, 1), (7, 7), (128, 2), (0, 2)])
def test_blocks_cover_the_range_in_order_with_balanced_sizes(n, parts):
    ranges = parallel.blocks(n, parts)
    assert [i for start, stop in ranges for i in range(start, stop)] == list(range(n))
    sizes = [stop - start for start, stop in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_for_blocks_runs_blocks_on_several_threads_and_waits_for_all(threads):
    threads(3)
    seen, names = np.zeros(9, dtype=int), set()

    def work(start, stop):
        names.add(threading.current_thread().name)
        seen[start:stop] += 1

    parallel.for_blocks(work, 9, nbytes=1)
    np.testing.assert_array_equal(seen, 1)
    assert "MainThread" in names and len(names) >= 2  # the pool may reuse one worker for two blocks


def test_a_block_that_splits_work_itself_runs_it_inline_instead_of_deadlocking(threads):
    threads(2)  # one worker thread: had it waited on blocks queued behind itself, this would hang
    total = np.zeros((2, 8))

    def outer(start, stop):
        for row in range(start, stop):
            def inner(s, e, row=row):
                total[row, s:e] += 1

            parallel.for_blocks(inner, 8, nbytes=1)

    parallel.for_blocks(outer, 2, nbytes=1)
    np.testing.assert_array_equal(total, 1)


def test_for_blocks_raises_a_blocks_error_after_every_block_finished(threads):
    threads(2)
    finished = []

    def work(start, stop):
        if start > 0:
            raise ValueError("second block failed")
        finished.append(start)

    with pytest.raises(ValueError, match="second block failed"):
        parallel.for_blocks(work, 4, nbytes=1)
    assert finished == [0]


def test_set_num_threads_refuses_nonsense():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError):
            parallel.set_num_threads(bad)
    assert tichchap.config.get_num_threads() >= 1


def test_ufunc_splits_rows_and_broadcasts_the_rest(threads):
    threads(2)
    rng = np.random.default_rng(0)
    x, bias = rng.standard_normal((6, 4, 3)), rng.standard_normal(3)
    out = np.empty_like(x)
    np.testing.assert_array_equal(parallel.ufunc(np.add, x, bias, out=out), x + bias)
    np.testing.assert_array_equal(parallel.ufunc(np.maximum, x, 0.0, out=np.empty_like(x)), np.maximum(x, 0))
    parallel.ufunc(np.maximum, x, 0.0, out=x)  # in place
    assert (x >= 0).all()


@pytest.mark.parametrize("shape", [(8, 3, 3, 2), (1, 6, 5, 4), (9, 4)])
def test_for_rows_really_splits_contiguous_arrays_even_a_batch_of_one(threads, shape):
    threads(2)
    out, x = np.empty(shape), np.arange(np.prod(shape), dtype=float).reshape(shape)
    seen = []

    def work(out_rows, x_rows, bias):
        seen.append(out_rows.shape)
        np.add(x_rows, bias, out=out_rows)

    parallel.for_rows(work, out, x, 1.0)
    assert len(seen) == 2  # two blocks: the work was split, not run inline
    assert sum(rows for rows, _ in seen) == np.prod(shape[:-1])
    np.testing.assert_array_equal(out, x + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_is_the_same_on_one_and_on_three_threads(threads, dtype):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((7, 5, 5, 4)).astype(dtype)
    dA = rng.standard_normal(z.shape).astype(dtype)
    relu = ReLU()
    threads(1)
    a1, dz1 = relu.forward(z), relu.backward(dA, z, relu.forward(z))
    threads(3)
    a3, dz3 = relu.forward(z), relu.backward(dA, z, relu.forward(z))
    np.testing.assert_array_equal(a1, a3)
    np.testing.assert_array_equal(dz1, dz3)
    assert a3.dtype == dz3.dtype == dtype


@pytest.mark.parametrize("pool_size, strides, padding", [(2, 2, "valid"), (3, 2, "same"), ((2, 3), (2, 3), "valid"),
                                                        (3, 1, "valid")])
def test_max_pool_after_an_inference_pass_gives_the_training_gradient(threads, pool_size, strides, padding):
    """keep_argmax=False skips recording the maxima; a later backward finds them from the input."""
    threads(2)
    rng = np.random.default_rng(2)
    # Integers after ReLU: many exact ties, so the first-maximum rule is exercised.
    x = np.maximum(rng.integers(-3, 3, size=(5, 6, 12, 3)), 0).astype(np.float64)
    y_train, cache_train = pool2d_forward(x, pool_size, strides, padding, "max")
    y_infer, cache_infer = pool2d_forward(x, pool_size, strides, padding, "max", keep_argmax=False)
    np.testing.assert_array_equal(y_infer, y_train)
    dy = rng.standard_normal(y_train.shape)
    expected = reference.pool2d_backward_reference(x, pool_size, strides, padding, "max", dy)
    np.testing.assert_array_equal(pool2d_backward(dy, cache_infer), pool2d_backward(dy, cache_train))
    np.testing.assert_allclose(pool2d_backward(dy, cache_train), expected, atol=1e-14)


def test_a_training_step_and_predict_are_bit_identical_on_one_and_two_threads(threads):
    """(At batch 16 predict keeps LeNet's batch whole; a split batch agrees to float rounding, below.)"""
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 16)
    results = []
    for n in (1, 2):
        threads(n)
        tichchap.utils.set_random_seed(5)
        model = applications.lenet()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)
        results.append((model.get_weights(), model.predict(x, verbose=0)))
    (w1, p1), (w2, p2) = results
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(p1, p2)


def _fresh_import(code, **env):
    """Run ``code`` in a new interpreter (import order matters here) and return what it prints."""
    import json
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items()
                   if k not in ("OPENBLAS_THREAD_TIMEOUT", "TICHCHAP_NUM_THREADS", "TICHCHAP_MALLOC_TUNING")}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


REPORT = ("import json, os, tichchap; from tichchap import _runtime; print(json.dumps(["
          "os.environ.get('OPENBLAS_THREAD_TIMEOUT'), _runtime.FREED_MEMORY_KEPT, tichchap.config.get_num_threads()]))")


def test_import_shortens_openblas_idle_wait_and_keeps_freed_memory_when_numpy_is_not_loaded():
    timeout, kept, threads = _fresh_import(REPORT, OMP_NUM_THREADS="2")
    assert timeout == "12"
    assert kept is True
    assert threads == 2


def test_numpy_loaded_first_keeps_the_elementwise_steps_on_one_thread():
    timeout, _, threads = _fresh_import("import numpy; " + REPORT, OMP_NUM_THREADS="2")
    assert timeout is None and threads == 1
    # ... unless the user asks for threads
    assert _fresh_import("import numpy; " + REPORT, TICHCHAP_NUM_THREADS="3")[2] == 3


def test_user_settings_win():
    timeout, kept, _ = _fresh_import(REPORT, OPENBLAS_THREAD_TIMEOUT="20", TICHCHAP_MALLOC_TUNING="0")
    assert timeout == "20" and kept is False
    assert _fresh_import(REPORT, MALLOC_TRIM_THRESHOLD_="1000000")[1] is False


def test_a_forked_child_starts_its_own_threads(threads):
    import os

    threads(2)
    parallel.for_blocks(lambda s, e: None, 4, nbytes=1)  # the parent's worker exists now
    pid = os.fork()
    if pid == 0:  # child: its copy of the pool has no threads behind it; a hang here fails the test
        seen = np.zeros(4)

        def work(start, stop):
            seen[start:stop] += 1

        parallel.for_blocks(work, 4, nbytes=1)
        os._exit(0 if (seen == 1).all() else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("kernel_hw, strides, padding, relu_input", [
    ((3, 3), (1, 1), "same", False), ((3, 2), (2, 2), "same", True), ((2, 3), (3, 1), "valid", False),
    ((1, 1), (3, 2), "valid", True), ((3, 3), (1, 1), "valid", True)])
def test_depthwise_blocks_pad_their_own_rows(threads, kernel_hw, strides, padding, relu_input):
    """Each block of output rows pads the input rows it reads (neighbours share a halo, and both
    write it, each in one step): the same result and the same backward as padding first on one
    thread, on 1 to 4 blocks, several times over (a race shows only sometimes)."""
    from tichchap.ops import depthwise_conv2d_backward, depthwise_conv2d_forward

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 23, 7, 3))
    kernel = rng.standard_normal((*kernel_hw, 3, 2))
    relu_x = np.maximum(x, 0) if relu_input else x
    expected = reference.depthwise_conv2d_reference(relu_x, kernel, None, strides, padding)
    dy = rng.standard_normal(expected.shape)
    expected_grads = reference.depthwise_conv2d_backward_reference(relu_x, kernel, None, strides, padding, dy)
    for n in (1, 2, 3, 4) * 5:
        threads(n)
        y, cache = depthwise_conv2d_forward(x, kernel, None, strides, padding, relu_input=relu_input)
        np.testing.assert_allclose(y, expected, atol=1e-12)
        dx, dk, _ = depthwise_conv2d_backward(dy, cache)
        np.testing.assert_allclose(dx, expected_grads[0], atol=1e-12)  # the gradient w.r.t. max(x, 0)
        np.testing.assert_allclose(dk, expected_grads[1], atol=1e-12)


# -- a batch split over the threads (predict) ----------------------------------------------------

def _blas_threads():
    get_blas_threads, _ = parallel._openblas_threads()
    return get_blas_threads()


needs_openblas = pytest.mark.skipif(parallel._openblas_threads() is None, reason="NumPy's BLAS is not OpenBLAS")


@needs_openblas
@pytest.mark.parametrize("n, parts", [(10, 2), (9, 3), (7, 4)])
def test_split_batch_returns_every_parts_result_in_order_each_part_alone_on_a_core(threads, n, parts):
    threads(2)
    blas_before = _blas_threads()
    seen = []

    def work(start, stop):
        inner = set()
        parallel.for_blocks(lambda s, e: inner.add(threading.current_thread().name), 8, nbytes=1)
        seen.append((threading.current_thread().name, _blas_threads(), inner, parallel.parts_at_once(),
                     conv_module._chunk_cols_bytes()))
        return start, stop

    assert parallel.split_batch(work, n, parts) == parallel.blocks(n, parts)
    names = {name for name, *_ in seen}
    assert "MainThread" in names and len(names) == 2
    assert all(blas == 1 and inner == {name} for name, blas, inner, _, _ in seen)  # BLAS and blocks on its own thread
    # Two parts at once, each with half the im2col chunk (the cache is the cores' in common).
    assert all(at_once == 2 and chunk == conv_module.CHUNK_COLS_BYTES // 2 for *_, at_once, chunk in seen)
    assert _blas_threads() == blas_before
    assert parallel.parts_at_once() == 1 and conv_module._chunk_cols_bytes() == conv_module.CHUNK_COLS_BYTES


@needs_openblas
def test_split_batch_raises_a_parts_error_after_every_part_finished_and_restores_blas(threads):
    threads(2)
    blas_before, finished = _blas_threads(), []

    def work(start, stop):
        if start > 0:
            raise ValueError("second part failed")
        finished.append(start)

    with pytest.raises(ValueError, match="second part failed"):
        parallel.split_batch(work, 4, 2)
    assert finished == [0] and _blas_threads() == blas_before


@needs_openblas
def test_split_batches_from_two_threads_at_once_give_their_results_and_restore_blas(threads):
    """BLAS' thread count is the process': while one split runs, another runs its parts in turn,
    so the count set back at the end is the one from before either."""
    threads(2)
    blas_before, results = _blas_threads(), {}

    def caller(name):
        results[name] = [parallel.split_batch(lambda s, e: (s, e), 6, 2) for _ in range(200)]

    callers = [threading.Thread(target=caller, args=(k,)) for k in range(2)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert all(r == [(0, 3), (3, 6)] for runs in results.values() for r in runs)
    assert _blas_threads() == blas_before  # without the lock: often 1 (read while the other had set it)


def test_split_batch_on_one_thread_or_inside_a_part_runs_the_parts_in_turn(threads):
    threads(1)
    names = []
    parallel.split_batch(lambda s, e: names.append(threading.current_thread().name), 6, 3)
    assert names == ["MainThread"] * 3
    threads(2)  # a part that splits again: its parts run on its own thread, no deadlock
    inner = parallel.split_batch(lambda s, e: parallel.split_batch(lambda a, b: threading.current_thread().name, 4, 2), 2, 2)
    assert all(len(set(part)) == 1 for part in inner)


def _two_output_model():
    from tichchap import Model, layers

    inp = layers.Input((12, 12, 3))
    h = layers.Conv2D(8, 3, activation="relu")(inp)
    h = layers.BatchNormalization()(h)
    h = layers.MaxPooling2D()(layers.Conv2D(8, 3, activation="relu")(h))
    h = layers.Activation("relu")(layers.Flatten()(h))
    return Model(inp, [layers.Dense(5, activation="softmax")(h), layers.Dense(3, activation="sigmoid")(h)])


@needs_openblas
@pytest.mark.parametrize("batch_size", [64, 37])
def test_predict_splits_big_batches_over_the_threads_with_the_whole_batchs_outputs(threads, monkeypatch, batch_size):
    """Each thread runs the whole model on its part of the batch, the layers shared: the outputs
    (every output of a two-output model) are the whole batch's up to float rounding, in order."""
    from tichchap import training

    threads(2)
    tichchap.utils.set_random_seed(1)
    model = _two_output_model()
    x = np.random.default_rng(2).random((100, 12, 12, 3), dtype=np.float32)
    whole = [np.concatenate(outs) for outs in zip(*(model.forward([x[i : i + batch_size]], training=False, keep_cache=False)
                                                    for i in range(0, 100, batch_size)))]
    splits = []
    monkeypatch.setattr(parallel, "split_batch", lambda work, n, parts, split=parallel.split_batch:
                        splits.append(parts) or split(work, n, parts))
    monkeypatch.setattr(training, "SPLIT_MIN_FLOPS", 1)
    for _ in range(3):
        outs = model.predict(x, batch_size=batch_size, verbose=0)
        for got, want in zip(outs, whole):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert splits and set(splits) == {2}


def test_predict_keeps_small_batches_whole(threads, monkeypatch):
    """LeNet (9.5 MFLOP a sample) at batch 8: 76 MFLOP, too little to split."""
    threads(2)
    parts = []
    monkeypatch.setattr(parallel, "split_batch", lambda work, n, count, split=parallel.split_batch:
                        parts.append(count) or split(work, n, count))
    model = applications.lenet()
    model.predict(np.zeros((8, 28, 28, 1), np.float32), verbose=0)
    assert parts == [] and model._batch_parts(8) == 1


def test_count_flops_counts_twice_the_multiply_adds_of_convolutions_and_dense_layers():
    from tichchap.summary import count_flops

    macs = 24 * 24 * 25 * 32 + 8 * 8 * 25 * 32 * 64 + 1024 * 1000 + 1000 * 10  # LeNet's four layers
    first = 2 * 24 * 24 * 25 * 32  # no input gradient for the first layer
    assert count_flops(applications.lenet()) == (2 * macs, 3 * 2 * macs - first)


def _small_cnn(output_activation="softmax", extra=None):
    from tichchap import Sequential, layers

    return Sequential([layers.Input((10, 10, 2)), layers.Conv2D(6, 3, activation="relu"), layers.MaxPooling2D(),
                       layers.Flatten(), *(extra or []), layers.Dense(4, activation=output_activation)])


def _steps(model, x, y, loss, split, monkeypatch, steps=2):
    from tichchap import training

    monkeypatch.setattr(training, "SPLIT_MIN_FLOPS", 1 if split else 10**30)
    model.compile(optimizer=tichchap.optimizers.SGD(0.1), loss=loss)
    losses = [model.train_on_batch(x, y) for _ in range(steps)]
    return losses, model.get_weights()


def _whole_then_split(make_model, x, y, loss, monkeypatch, seed, steps=2):
    """``[(losses, weights, model)]`` after ``steps`` steps from the same start: the batches
    whole, then split in two."""
    runs = []
    for split in (False, True):
        tichchap.utils.set_random_seed(seed)
        model = make_model()
        runs.append((*_steps(model, x, y, loss, split, monkeypatch, steps), model))
    return runs


def _assert_same_training(runs):
    (whole_losses, whole_weights, _), (split_losses, split_weights, _) = runs
    np.testing.assert_allclose(split_losses, whole_losses, rtol=1e-5)
    for a, b in zip(split_weights, whole_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@needs_openblas
def test_a_split_training_step_draws_dropouts_masks_for_the_whole_batch(threads, monkeypatch):
    """The masks are drawn before the parts run, as the whole pass draws them, and each part gets
    its rows: the same masks, so the same step, up to float rounding."""
    threads(2)
    rng = np.random.default_rng(8)
    x, y = rng.random((17, 10, 10, 2), dtype=np.float32), rng.integers(0, 4, 17)
    runs = _whole_then_split(lambda: _small_cnn(extra=[tichchap.layers.Dense(12, activation="relu"),
                                                     tichchap.layers.Dropout(0.5)]),
                             x, y, "sparse_categorical_crossentropy", monkeypatch, seed=9, steps=3)
    _assert_same_training(runs)
    assert runs[1][2].layers[-2].batch_noise is None  # only the parts' copies held their rows


@needs_openblas
@pytest.mark.parametrize("output_activation, loss", [
    ("softmax", "sparse_categorical_crossentropy"),  # the fused path: dL/dz from the logits
    ("linear", tichchap.losses.MeanSquaredError()),
    ("linear", tichchap.losses.MeanSquaredError(reduction="sum"))])
def test_a_training_step_split_over_the_threads_is_the_whole_batchs_step(threads, monkeypatch, output_activation, loss):
    """Each part runs forward and backward on its own replica of the model, its loss and output
    gradient weighted by its share of the batch (1 for a summed loss): the summed gradients, so
    the losses and weights after two steps, are the whole batch's up to float rounding."""
    threads(2)
    rng = np.random.default_rng(4)
    x = rng.random((21, 10, 10, 2), dtype=np.float32)
    y = rng.integers(0, 4, 21) if output_activation == "softmax" else rng.random((21, 4), dtype=np.float32)
    parts = []
    monkeypatch.setattr(parallel, "split_batch", lambda work, n, count, split=parallel.split_batch:
                        parts.append(count) or split(work, n, count))
    runs = _whole_then_split(lambda: _small_cnn(output_activation), x, y, loss, monkeypatch, seed=6)
    _assert_same_training(runs)
    assert parts == [2, 2]


@needs_openblas
def test_after_a_split_step_the_layers_hold_the_summed_gradients(threads, monkeypatch):
    threads(2)
    rng = np.random.default_rng(5)
    x, y = rng.random((9, 10, 10, 2), dtype=np.float32), rng.integers(0, 4, 9)
    runs = _whole_then_split(_small_cnn, x, y, "sparse_categorical_crossentropy", monkeypatch, seed=3, steps=1)
    whole, split = ([layer.grads[name] for layer, name in model._trainable()] for _, _, model in runs)
    for a, b in zip(split, whole):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@needs_openblas
def test_a_training_step_keeps_the_batch_whole_for_batch_statistics(threads, monkeypatch):
    threads(2)
    parts = []
    monkeypatch.setattr(parallel, "split_batch", lambda work, n, count, split=parallel.split_batch:
                        parts.append(count) or split(work, n, count))
    model = _small_cnn(extra=[tichchap.layers.BatchNormalization()])
    _steps(model, np.ones((8, 10, 10, 2), np.float32), np.zeros(8, int), "sparse_categorical_crossentropy", True,
           monkeypatch, steps=1)
    assert parts == []  # the training step never asked for parts
    model.predict(np.ones((8, 10, 10, 2), np.float32), verbose=0)
    assert parts == [2]  # inference (moving statistics, no dropout) still splits


@needs_openblas
def test_a_split_step_with_a_non_finite_loss_leaves_the_weights(threads, monkeypatch):
    from tichchap import training

    threads(2)
    monkeypatch.setattr(training, "SPLIT_MIN_FLOPS", 1)
    tichchap.utils.set_random_seed(2)
    model = _small_cnn()
    model.compile(optimizer=tichchap.optimizers.SGD(1e30), loss="sparse_categorical_crossentropy")
    x, y = np.random.default_rng(3).random((6, 10, 10, 2), dtype=np.float32), np.arange(6) % 4
    model.train_on_batch(x, y)  # finite; the weights it leaves make the next step's loss overflow
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(tichchap.errors.TrainingError, match="not applied"):
        model.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_a_replica_shares_the_weights_and_has_layers_of_its_own():
    model = applications.lenet()
    replica = model._replica()
    for original, copy in zip(model.layers, replica.layers):
        assert copy is not original and copy.name == original.name
        assert all(getattr(copy, name) is getattr(original, name) for name in original.weight_names)
    assert replica.outputs[0].layer is replica.layers[-1] and model.outputs[0].layer is model.layers[-1]


def test_a_model_whose_one_sample_costs_more_than_the_cap_keeps_its_batches_whole(threads, monkeypatch):
    from tichchap import training

    threads(2)
    model = applications.lenet()  # 9.5 MFLOP a sample: capped here at 9 MFLOP
    monkeypatch.setattr(training, "SPLIT_MAX_FLOPS_PER_SAMPLE", 9_000_000)
    assert model._batch_parts(1024) == 1
    monkeypatch.setattr(training, "SPLIT_MAX_FLOPS_PER_SAMPLE", 10_000_000)
    assert model._batch_parts(1024) == (2 if parallel.can_split_batch() else 1)


@needs_openblas
@pytest.mark.parametrize("output_activation, loss", [
    ("softmax", "sparse_categorical_crossentropy"), ("linear", tichchap.losses.MeanSquaredError(reduction="sum"))])
def test_evaluate_splits_its_batches_with_the_whole_batchs_loss_and_metrics(threads, monkeypatch, output_activation, loss):
    """Each part's loss from its own replica's logits (the fused path), weighted by its share."""
    from tichchap import training

    threads(2)
    rng = np.random.default_rng(11)
    x = rng.random((45, 10, 10, 2), dtype=np.float32)
    y = rng.integers(0, 4, 45) if output_activation == "softmax" else rng.random((45, 4), dtype=np.float32)
    tichchap.utils.set_random_seed(12)
    model = _small_cnn(output_activation)
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"] if output_activation == "softmax" else ["mae"])
    results = []
    for split_min_flops in (10**30, 1):
        monkeypatch.setattr(training, "SPLIT_MIN_FLOPS", split_min_flops)
        results.append(model.evaluate(x, y, batch_size=20, verbose=0, return_dict=True))
    whole, split = results
    assert whole.keys() == split.keys()
    for key in whole:
        np.testing.assert_allclose(split[key], whole[key], rtol=1e-5)
    assert model._batch_parts(20) == 2
