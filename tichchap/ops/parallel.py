"""Elementwise work on every core.

A matrix product already runs on all cores (BLAS), but a NumPy ufunc -- ReLU, a pooling step, a
batch-norm scale, the copy that builds an im2col matrix -- runs on one. :func:`for_blocks` splits
such a step into one contiguous block of rows per thread; NumPy releases the GIL inside a ufunc,
so the blocks run at the same time. Each element goes through the same operations whatever the
block it falls in, so the results are bit-identical for any number of threads.

Steps smaller than :data:`MIN_PARALLEL_BYTES` run inline: handing a block to the worker and
waiting for it costs about 55 us on the reference machine (a VM, whatever the worker's idle time),
and a step on data still in the cache runs at up to 70 GB/s. Of small_cnn's steps of 1-4 MiB
every one ran slower on two threads (batch norm's 1.2-2.3 MiB: 90-160 us against 27-55 inline).
Per training step, 1 MiB against 4 MiB (alternating in one process): small_cnn 5.21 / 4.75 ms,
LeNet 19.38 / 19.25, food_net 345 / 333, mlp 0.63 / 0.62; inference small_cnn 1.28 / 1.12,
LeNet 6.73 / 6.75, Xception batch 1 108.3 / 107.9.

The threads need the cores that OpenBLAS' idle threads would otherwise spin on, and memory that
is not faulted in afresh at every step: :mod:`tichchap._runtime` sees to both at import.

:func:`split_batch` is the other way to use the cores, for ``Model.predict``, ``evaluate`` and
training steps (``tichchap.training``): a whole forward (and backward) pass per thread, each on
its own part of the batch and alone on its core (its matrix products on one BLAS thread, its
elementwise steps inline). No step waits for the other thread, and each part's arrays are half the
size. LeNet at batch 128, in 24 pairs of alternating windows against the batch whole (``python
benchmarks/bench_paths.py --models lenet --paired "batch whole"``): inference 0.845x the time,
training 0.886x. Four parts of 32 images were slower than two (the weights read once per part).
The parts' matrix products are smaller ones, which OpenBLAS may sum in another order: a split
batch's results can differ from the whole batch's in the last bits (2e-7 relative in LeNet's
outputs), so where a batch splits, one thread and two agree to float rounding, not bit for bit.

The thread count: ``tichchap.config.set_num_threads(n)``, else the environment's
``TICHCHAP_NUM_THREADS``, else 1 if OpenBLAS' idle wait is the long one, else ``OMP_NUM_THREADS``,
else the CPUs this process may use.
"""

import ctypes
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._runtime import BLAS_WAITS_BRIEFLY
from ..errors import ConfigError

MIN_PARALLEL_BYTES = 4 << 20  # the memory a step touches, all its arrays together

_THREAD_PREFIX = "tichchap-worker"
_lock = threading.Lock()
_num_threads = None
_executor = None
_part = threading.local()  # .at_once: this thread computes one of that many parts running at once
_splitting = threading.Lock()  # held while a split batch runs (BLAS' thread count is the process')


def _env_threads(name):
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _default_num_threads():
    if _env_threads("TICHCHAP_NUM_THREADS"):
        return _env_threads("TICHCHAP_NUM_THREADS")
    if not BLAS_WAITS_BRIEFLY:
        return 1
    if _env_threads("OMP_NUM_THREADS"):
        return _env_threads("OMP_NUM_THREADS")
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads():
    """How many threads tichchap's elementwise steps use."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_num_threads()
    return _num_threads


def set_num_threads(n):
    """Use ``n`` threads (>= 1) for tichchap's elementwise steps; 1 runs everything inline."""
    global _num_threads, _executor
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"set_num_threads: expected an int >= 1; received {n!r}")
    with _lock:
        if _executor is not None:
            _executor.shutdown(wait=True)
            _executor = None
        _num_threads = n


def _forget_threads():
    """After fork the child has none of the parent's worker threads (and the locks may have been
    held by one of them): start afresh when needed."""
    global _executor, _lock, _splitting
    _executor = None
    _lock, _splitting = threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


def _get_executor(workers):
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=_THREAD_PREFIX)
        return _executor


def blocks(n, parts):
    """``parts`` contiguous ``(start, stop)`` ranges covering ``range(n)``, sizes differing by <= 1."""
    parts = max(1, min(parts, n))
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + base + (k < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def for_blocks(work, n, nbytes):
    """Call ``work(start, stop)`` on blocks of ``range(n)``, one per thread, and wait for all.

    ``nbytes`` is about how much memory the whole step touches; below :data:`MIN_PARALLEL_BYTES`
    (or with one thread, ``n == 1``, or inside a block or a split batch's part: :func:`runs_inline`)
    it runs as ``work(0, n)``. ``work`` must write only its own
    block's rows. The first exception raised by a block is raised here, after all have finished.
    """
    # (Inline also inside a block: a block waiting on blocks could deadlock.)
    if runs_inline() or n < 2 or nbytes < MIN_PARALLEL_BYTES:
        work(0, n)
        return
    threads = get_num_threads()
    ranges = blocks(n, threads)
    executor = _get_executor(threads - 1)
    futures = [executor.submit(work, start, stop) for start, stop in ranges[1:]]
    try:
        work(*ranges[0])
    finally:
        for future in futures:
            future.exception()  # wait for every block before anything is raised
    for future in futures:
        future.result()


def for_rows(work, out, *operands, nbytes=None):
    """Call ``work(out_block, *operand_blocks)`` on blocks of ``out``'s rows, one per thread.

    An operand whose first axis matches ``out``'s is split with it; scalars and operands that
    broadcast (a bias of shape (C,), say) go to every block whole. Contiguous arrays of more than
    two axes are first viewed as rows of their last axis, so a batch of one image splits too.
    ``work`` may write into ``out_block`` and into its own blocks of the operands. ``nbytes``
    (default: ``out`` and the array operands together) decides whether threads are worth waking.
    """
    def split_with_out(op):  # an operand with out's rank is split with it; the rest broadcast
        return getattr(op, "ndim", 0) == out.ndim

    arrays = [op for op in operands if split_with_out(op)]
    if nbytes is None:
        nbytes = out.nbytes * (1 + len(arrays))
    if out.ndim > 2 and out.flags.c_contiguous and all(op.shape == out.shape and op.flags.c_contiguous for op in arrays):
        shape = (-1, out.shape[-1])
        operands = [op.reshape(shape) if split_with_out(op) else op for op in operands]
        out = out.reshape(shape)
        arrays = [op for op in operands if split_with_out(op)]
    rows = out.shape[0] if out.ndim else 1
    if out.ndim == 0 or any(op.shape[0] not in (rows, 1) for op in arrays):
        work(out, *operands)
        return

    def block(start, stop):
        work(out[start:stop], *(op[start:stop] if split_with_out(op) and op.shape[0] == rows else op for op in operands))

    for_blocks(block, rows, nbytes)


def copy(dst, src):
    """``dst[...] = src`` for two arrays of the same shape (2 axes or more), blocks of axis 1 (an
    NHWC array's image rows) on separate threads, so a batch of one image splits too. Returns
    ``dst``."""
    for_blocks(lambda r0, r1: np.copyto(dst[:, r0:r1], src[:, r0:r1]), dst.shape[1], dst.nbytes)
    return dst


def ufunc(func, *operands, out):
    """``func(*operands, out=out)`` for a NumPy ufunc, split over rows as :func:`for_rows` does.
    Returns ``out``."""
    for_rows(lambda out_block, *blocks: func(*blocks, out=out_block), out, *operands)
    return out


@functools.cache
def _openblas_threads():
    """``(get, set)`` of the thread count of the OpenBLAS this process loaded (NumPy's), or None
    where there is none to find (another BLAS, or no /proc/self/maps)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split(None, 5)[5].strip() for line in maps
                            if line.count(" ") >= 5 and "openblas" in os.path.basename(line.rstrip()).lower()})
    except (OSError, IndexError):
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("", "64_"):  # NumPy's own build prefixes its symbols, scipy_openblas_...64_
            for prefix in ("openblas_", "scipy_openblas_"):
                get, set_ = (getattr(lib, f"{prefix}{name}_num_threads{suffix}", None) for name in ("get", "set"))
                if get is not None and set_ is not None:
                    return get, set_
    return None


def runs_inline():
    """Whether :func:`for_blocks` runs every step inline here, whatever its size: one thread, or
    this thread computing a block or a part of a split batch."""
    return (get_num_threads() == 1 or parts_at_once() > 1
            or threading.current_thread().name.startswith(_THREAD_PREFIX))


def parts_at_once():
    """How many parts of a split batch run at once, this thread's among them (1 outside a split):
    each then has that share of the cores' common cache (ops/conv.py's im2col chunks)."""
    return getattr(_part, "at_once", 1)


def can_split_batch():
    """Whether :func:`split_batch` runs its parts at the same time: several threads, a BLAS whose
    thread count it can set (OpenBLAS), and not called from a block or a part itself."""
    return not runs_inline() and _openblas_threads() is not None


def split_batch(work, n, parts):
    """``[work(start, stop) for (start, stop) in blocks(n, parts)]``, the parts dealt out in
    contiguous runs to up to :func:`get_num_threads` threads, each thread alone on a core: BLAS
    runs on one thread (its thread count is set for the process while the parts run, and
    restored) and tichchap's own elementwise steps inline. Without :func:`can_split_batch`, the
    parts run one after the other, as they do while another thread's split batch is running. The
    first exception raised by a part is raised here, after all have finished."""
    ranges = blocks(n, parts)
    if len(ranges) < 2 or not can_split_batch() or not _splitting.acquire(blocking=False):
        return [work(start, stop) for start, stop in ranges]
    try:
        return _run_split(work, ranges)
    finally:
        _splitting.release()


def _run_split(work, ranges):
    get_blas_threads, set_blas_threads = _openblas_threads()
    runs = blocks(len(ranges), get_num_threads())

    def run(first, last):  # parts first..last-1, on this thread
        _part.at_once = len(runs)
        try:
            return [work(*ranges[i]) for i in range(first, last)]
        finally:
            _part.at_once = 1

    blas_threads = get_blas_threads()
    set_blas_threads(1)
    try:
        executor = _get_executor(get_num_threads() - 1)
        futures = [executor.submit(run, first, last) for first, last in runs[1:]]
        try:
            results = run(*runs[0])
        finally:
            for future in futures:
                future.exception()
    finally:
        set_blas_threads(blas_threads)
    for future in futures:
        results += future.result()
    return results
