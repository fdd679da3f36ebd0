"""Property-based fuzzing of the data set file readers (issue 8).

Valid files in the official formats are truncated, bit-flipped, overwritten in part, or replaced
by random bytes; each reader must then either return well-formed arrays or raise
``tichchap.errors.FileFormatError`` -- never an IndexError, a numpy ValueError, an EOFError, an
UnpicklingError, a zlib or tarfile error, and never hang (every case runs under a 10 s alarm).

Cases per run (``max_examples``), recorded here and asserted at the end of each test:

======================================  =====
reader                                  cases
======================================  =====
idx file (plain and gzip)                 300
MNIST idx set, one file damaged           300
CIFAR-10 batch pickle (py3 and py2)       300
CIFAR-10 tar.gz archive                   300
Keras mnist.npz                           300
======================================  =====

1,500 cases in all, about 10 s on this machine. Each test prints how many cases parsed and how
many were rejected (``pytest -s``).
"""

import collections
import contextlib
import gzip
import io
import signal
import tarfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tichchap.datasets import _mnist_like, cifar10
from tichchap.datasets.cifar_pickle import decode_batch
from tichchap.datasets.idx import read_idx, write_idx
from tichchap.errors import FileFormatError

CASES = 300
FUZZ_SETTINGS = settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.function_scoped_fixture])
IDX_NAMES = [base for _, base in _mnist_like.IDX_FILES]


class Hang(Exception):
    pass


@contextlib.contextmanager
def no_hang(seconds=10):
    def on_alarm(signum, frame):
        raise Hang(f"reader still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutations(draw, seed):
    """A damaged copy of ``seed``: truncated, bit-flipped, partly overwritten, or random."""
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "random", "header"]))
    if kind == "truncate":
        return seed[: draw(st.integers(0, len(seed) - 1))]
    if kind == "random":
        return draw(st.binary(max_size=4096))
    data = bytearray(seed)
    if kind == "flip":
        for bit in draw(st.lists(st.integers(0, 8 * len(seed) - 1), min_size=1, max_size=16)):
            data[bit // 8] ^= 1 << (bit % 8)
    elif kind == "overwrite":
        start = draw(st.integers(0, len(seed) - 1))
        data[start:start + 16] = draw(st.binary(min_size=1, max_size=16))
    else:  # damage only the first 64 bytes, where headers, magic numbers and lengths live
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, min(63, len(seed) - 1)))] = draw(st.integers(0, 255))
    return bytes(data)


def idx_bytes(array):
    buffer = io.BytesIO()
    write_idx(buffer, np.asarray(array, dtype=np.uint8))
    return buffer.getvalue()


RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
LABELS = np.array([9, 0, 3], np.uint8)
IDX_SEEDS = {"images": idx_bytes(IMAGES), "labels": idx_bytes(LABELS)}


def check_outcome(outcomes, call):
    """Run ``call``; only FileFormatError may come out. Returns the result or None."""
    try:
        with no_hang():
            result = call()
    except FileFormatError as err:
        assert str(err)
        outcomes["rejected"] += 1
        return None
    outcomes["parsed"] += 1
    return result


def report(name, outcomes):
    total = outcomes["parsed"] + outcomes["rejected"]
    print(f"\n{name}: {total} cases, {outcomes['parsed']} parsed, {outcomes['rejected']} rejected")
    assert total >= CASES * 0.9, f"{name}: only {total} cases ran"
    assert outcomes["rejected"] > 0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def test_idx_reader_fuzz(workdir):
    outcomes = collections.Counter()
    path = str(workdir / "fuzz-idx")

    @FUZZ_SETTINGS
    @given(st.sampled_from(sorted(IDX_SEEDS)), st.data(),
           st.sampled_from(["plain", "gzip-then-damage", "damage-then-gzip"]))
    def run(which, data, packing):
        seed = IDX_SEEDS[which]
        if packing == "gzip-then-damage":
            blob = data.draw(mutations(gzip.compress(seed)))
        else:
            blob = data.draw(mutations(seed))
            if packing == "damage-then-gzip":
                blob = gzip.compress(blob)
        with open(path, "wb") as f:
            f.write(blob)
        array = check_outcome(outcomes, lambda: read_idx(path, expected_ndim=None))
        if array is not None:
            assert array.dtype == np.uint8 and array.ndim >= 1

    run()
    report("idx reader", outcomes)


def test_mnist_idx_set_fuzz(workdir):
    outcomes = collections.Counter()
    folder = workdir / "fuzz-mnist"
    folder.mkdir()
    arrays = [IMAGES, LABELS, IMAGES[:2], LABELS[:2]]
    good = {base: gzip.compress(idx_bytes(a)) for base, a in zip(IDX_NAMES, arrays)}

    @FUZZ_SETTINGS
    @given(st.sampled_from(IDX_NAMES), st.data())
    def run(damaged, data):
        for base, blob in good.items():
            if base == damaged:
                blob = gzip.compress(data.draw(mutations(gzip.decompress(blob))))
            (folder / (base + ".gz")).write_bytes(blob)
        found, _ = _mnist_like.find_idx_folder(str(folder))
        loaded = check_outcome(outcomes, lambda: _mnist_like.read_found(found))
        if loaded is not None:
            (x_train, y_train), (x_test, y_test) = loaded
            assert x_train.shape[1:] == (28, 28) and len(x_train) == len(y_train)
            assert x_test.shape[1:] == (28, 28) and len(x_test) == len(y_test)
            assert y_train.max(initial=0) < 10 and y_test.max(initial=0) < 10

    run()
    report("MNIST idx set", outcomes)


def _cifar_seed(py2_style):
    try:  # the official-format builders live beside the unit tests
        from test_datasets import cifar_batch_bytes
    except ImportError:
        from tests.test_datasets import cifar_batch_bytes
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    return cifar_batch_bytes(images, [3, 8], py2_style=py2_style)


def test_cifar_batch_fuzz():
    outcomes = collections.Counter()
    seeds = {False: _cifar_seed(False), True: _cifar_seed(True)}

    @FUZZ_SETTINGS
    @given(st.booleans(), st.data())
    def run(py2_style, data):
        blob = data.draw(mutations(seeds[py2_style]))
        result = check_outcome(outcomes, lambda: decode_batch(blob, "fuzzed_batch"))
        if result is not None:
            images, labels = result
            assert images.dtype == np.uint8 and images.shape[1:] == (32, 32, 3)
            assert labels.dtype == np.uint8 and len(labels) == len(images)

    run()
    report("CIFAR batch pickle", outcomes)


def test_cifar_archive_fuzz(workdir):
    outcomes = collections.Counter()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in cifar10.BATCH_FILES:
            blob = _cifar_seed(True)
            info = tarfile.TarInfo("cifar-10-batches-py/" + name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    seed_gz = buffer.getvalue()
    seed_tar = gzip.decompress(seed_gz)
    path = str(workdir / "cifar-10-python.tar.gz")

    @FUZZ_SETTINGS
    @given(st.booleans(), st.data())
    def run(damage_inside, data):
        if damage_inside:  # a well-formed gzip stream around a damaged tar
            blob = gzip.compress(data.draw(mutations(seed_tar)), compresslevel=1)
        else:
            blob = data.draw(mutations(seed_gz))
        with open(path, "wb") as f:
            f.write(blob)
        loaded = check_outcome(outcomes, lambda: cifar10.read_found(("tar", path)))
        if loaded is not None:
            (x_train, y_train), (x_test, y_test) = loaded
            assert x_train.shape[1:] == (32, 32, 3) and y_train.shape == (len(x_train), 1)

    run()
    report("CIFAR tar.gz", outcomes)


def test_npz_fuzz(workdir):
    outcomes = collections.Counter()
    buffer = io.BytesIO()
    np.savez(buffer, x_train=IMAGES, y_train=LABELS, x_test=IMAGES[:1], y_test=LABELS[:1])
    seed = buffer.getvalue()
    path = str(workdir / "mnist.npz")

    @FUZZ_SETTINGS
    @given(mutations(seed))
    def run(blob):
        with open(path, "wb") as f:
            f.write(blob)
        check_outcome(outcomes, lambda: _mnist_like.read_npz(path))

    run()
    report("mnist.npz", outcomes)
