"""What MNIST and Fashion-MNIST share: four idx files (or Keras' ``mnist.npz``), 28x28 images."""

import os
import zipfile

import numpy as np

from tichchap.datasets._find import describe_missing
from tichchap.datasets.idx import read_idx
from tichchap.errors import FileFormatError, describe

#: The official file names (without ``.gz``), in Keras' return order.
IDX_FILES = (
    ("x_train", "train-images-idx3-ubyte"),
    ("y_train", "train-labels-idx1-ubyte"),
    ("x_test", "t10k-images-idx3-ubyte"),
    ("y_test", "t10k-labels-idx1-ubyte"),
)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

FILES_HINT = ("the four idx files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (gzip or uncompressed)")


def _idx_candidates(folder, base):
    # official .gz name, the uncompressed name, and the "train-images.idx3-ubyte" spelling
    # that some unpacking tools produce
    dotted = base.replace("-idx", ".idx")
    return [os.path.join(folder, n) for n in (base + ".gz", base, dotted + ".gz", dotted)]


def find_idx_folder(folder, npz_name=None):
    """Look for the data set in ``folder`` (or ``folder`` itself if it is an ``.npz`` file).

    Returns ``(("idx", {key: file}), None)``, ``(("npz", file), None)`` or ``(None, why)``.
    """
    if os.path.isfile(folder):
        if folder.endswith(".npz"):
            return ("npz", folder), None
        if any(os.path.basename(folder).startswith(base) for _, base in IDX_FILES):
            folder = os.path.dirname(folder)  # an idx file given: use the folder it is in
        else:
            return None, "not a folder, an idx file or an .npz file"
    files, missing = {}, []
    for key, base in IDX_FILES:
        hits = [c for c in _idx_candidates(folder, base) if os.path.isfile(c)]
        if hits:
            files[key] = hits[0]
        else:
            missing.append(base + ".gz")
    if not missing:
        return ("idx", files), None
    if npz_name and os.path.isfile(os.path.join(folder, npz_name)):
        return ("npz", os.path.join(folder, npz_name)), None
    return None, describe_missing(folder, files, missing)


def _check_pair(images, labels, image_source, label_source):
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise FileFormatError(describe(f"{image_source}: images have the wrong shape",
                                       f"(N, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]})", images.shape))
    if labels.ndim != 1:
        raise FileFormatError(describe(f"{label_source}: labels have the wrong shape",
                                       "(N,)", labels.shape))
    if len(images) != len(labels):
        raise FileFormatError(describe(
            f"{image_source} and {label_source}: different numbers of images and labels",
            "equal counts", f"{len(images)} images, {len(labels)} labels"))
    if labels.size and labels.max() >= NUM_CLASSES:
        raise FileFormatError(describe(f"{label_source}: label out of range",
                                       f"0..{NUM_CLASSES - 1}", int(labels.max())))


def read_idx_set(files):
    """Read the four idx files ``{key: path}`` into ``((x_train, y_train), (x_test, y_test))``."""
    arrays = {key: read_idx(files[key], expected_ndim=3 if key.startswith("x") else 1)
              for key, _ in IDX_FILES}
    for split in ("train", "test"):
        _check_pair(arrays["x_" + split], arrays["y_" + split],
                    files["x_" + split], files["y_" + split])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_npz(path):
    """Read Keras' ``mnist.npz`` (keys x_train, y_train, x_test, y_test; never unpickles)."""
    try:
        # the file is opened here so it is closed even when np.load fails on a damaged zip
        with open(path, "rb") as raw, np.load(raw, allow_pickle=False) as archive:
            missing = [k for k in NPZ_KEYS if k not in archive.files]
            if missing:
                raise FileFormatError(describe(f"{path}: .npz lacks arrays",
                                               ", ".join(NPZ_KEYS), sorted(archive.files)))
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except FileFormatError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise FileFormatError(describe(f"{path}: not a readable .npz file",
                                       "a NumPy .npz archive with uint8 arrays",
                                       f"{type(err).__name__}: {err}")) from None
    for key, array in arrays.items():
        if array.dtype != np.uint8:
            raise FileFormatError(describe(f"{path}: array {key!r} has the wrong dtype",
                                           "uint8", array.dtype))
    for split in ("train", "test"):
        _check_pair(arrays["x_" + split], arrays["y_" + split], f"{path}[x_{split}]",
                    f"{path}[y_{split}]")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_found(found):
    """Read what :func:`find_idx_folder` found."""
    kind, where = found
    return read_idx_set(where) if kind == "idx" else read_npz(where)
