"""Rebuild the embedded Fashion-MNIST sample from the full data set, reproducibly.

    python -m tichchap.datasets.make_sample [SOURCE_FOLDER] [--out FOLDER]

SOURCE_FOLDER holds the four official idx files (default: wherever
``tichchap.datasets.fashion_mnist`` finds them, e.g. ``/usr/share/datasets/fashion-mnist``).
From each class it draws ``TRAIN_PER_CLASS`` training and ``TEST_PER_CLASS`` test images with
``numpy.random.default_rng(SEED)``, keeps them in their original order, and writes them as the
official gzip idx files (gzip header time 0, so equal inputs give equal bytes with one zlib).
"""

import argparse
import gzip
import io
import os

import numpy as np

from tichchap.datasets import _find, _mnist_like, fashion_mnist
from tichchap.datasets.idx import write_idx
from tichchap.utils.fileio import atomic_write

SEED = 20240607
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                          "fashion_mnist_sample")


def stratified_indices(labels, per_class, rng):
    """``per_class`` indices of each class, drawn without replacement, in ascending order."""
    chosen = [rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
              for c in range(_mnist_like.NUM_CLASSES)]
    return np.sort(np.concatenate(chosen))


def make_sample(full):
    """From ``((x_train, y_train), (x_test, y_test))`` draw the sample, same structure."""
    rng = np.random.default_rng(SEED)
    (x_train, y_train), (x_test, y_test) = full
    train = stratified_indices(y_train, TRAIN_PER_CLASS, rng)
    test = stratified_indices(y_test, TEST_PER_CLASS, rng)
    return (x_train[train], y_train[train]), (x_test[test], y_test[test])


def idx_gz_bytes(array):
    buffer = io.BytesIO()
    write_idx(buffer, array)
    return gzip.compress(buffer.getvalue(), compresslevel=9, mtime=0)


def write_sample(sample, folder):
    (x_train, y_train), (x_test, y_test) = sample
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    for key, base in _mnist_like.IDX_FILES:
        with atomic_write(os.path.join(folder, base + ".gz"), "wb") as f:
            f.write(idx_gz_bytes(arrays[key]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", help="folder with the full Fashion-MNIST idx files")
    parser.add_argument("--out", default=SAMPLE_DIR, help="where to write the sample")
    args = parser.parse_args(argv)
    found = _find.locate(fashion_mnist.SPEC, args.source, allow_download=False)
    full = _mnist_like.read_found(found)
    write_sample(make_sample(full), args.out)
    for _, base in _mnist_like.IDX_FILES:
        path = os.path.join(args.out, base + ".gz")
        print(f"{path}  {os.path.getsize(path)} bytes  sha256 {_find.file_digest(path, 'sha256')}")


if __name__ == "__main__":
    main()
