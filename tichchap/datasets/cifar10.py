"""CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes.

``load_data()`` returns what ``keras.datasets.cifar10.load_data()`` returns (channels last)::

    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    # x_train: uint8 (50000, 32, 32, 3), y_train: uint8 (50000, 1), values 0..9
    # x_test:  uint8 (10000, 32, 32, 3), y_test:  uint8 (10000, 1)

Note the labels' shape ``(N, 1)``: that is Keras' (MNIST's are ``(N,)``).

Files: the "CIFAR-10 python version": ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``
(Python pickles, read with a restricted unpickler that can build only dicts, lists, strings and
numpy arrays -- see :mod:`tichchap.datasets.cifar_pickle`), either in a folder
(``cifar-10-batches-py/``) or inside the official archive ``cifar-10-python.tar.gz``, which is
read as a stream without being extracted to disk.

Where they are looked for, in order:

1. ``path=``: the archive, the ``cifar-10-batches-py`` folder or a folder containing either
   (the only place looked when given);
2. ``$TICHCHAP_DATA/cifar10/`` (or ``cifar-10``);
3. ``~/.cache/tichchap/datasets/cifar10/`` (the tichchap cache, ``$XDG_CACHE_HOME`` aware);
4. ``~/.keras/datasets/`` (Keras' cache, ``$KERAS_HOME`` aware): ``cifar-10-batches-py/``,
   ``cifar-10-batches-py_extracted/cifar-10-batches-py/`` (newer Keras), or the archive as
   ``cifar-10-batches-py.tar.gz`` / ``cifar-10-python.tar.gz``;
5. ``/usr/share/datasets/cifar10/`` (or ``cifar-10``);
6. a download of ``cifar-10-python.tar.gz`` (163 MB) from the data set's home page, checked
   against its sha256 and written atomically into the tichchap cache.

When none works, :class:`tichchap.errors.DataNotFoundError` lists each place and where to put
the files; a corrupt file raises :class:`tichchap.errors.FileFormatError` naming it.
"""

import os
import tarfile
import zlib

import numpy as np

from tichchap.datasets import _find
from tichchap.datasets.cifar_pickle import decode_batch
from tichchap.errors import FileFormatError, describe

NAME = "cifar10"

#: Label index -> class name, as in the data set's ``batches.meta``.
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCH_FILES = TRAIN_BATCHES + (TEST_BATCH,)
BATCH_FOLDER = "cifar-10-batches-py"
ARCHIVE_NAMES = ("cifar-10-python.tar.gz", "cifar-10-batches-py.tar.gz")
# An official batch is 30 MB; refuse archive members claiming far more before reading them.
_MAX_MEMBER_BYTES = 1 << 30

_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"

FILES_HINT = ("cifar-10-python.tar.gz, or a folder cifar-10-batches-py/ with data_batch_1 .. "
              "data_batch_5 and test_batch")


def find(candidate):
    """Return ``(("dir", folder) | ("tar", archive), None)`` or ``(None, why_not)``."""
    if os.path.isfile(candidate):
        if os.path.basename(candidate) not in BATCH_FILES:
            return ("tar", candidate), None
        candidate = os.path.dirname(candidate)  # one batch file given: use its folder
    folders = [candidate, os.path.join(candidate, BATCH_FOLDER),
               os.path.join(candidate, BATCH_FOLDER + "_extracted", BATCH_FOLDER)]
    partial = None
    for folder in folders:
        present = [n for n in BATCH_FILES if os.path.isfile(os.path.join(folder, n))]
        if len(present) == len(BATCH_FILES):
            return ("dir", folder), None
        if present and partial is None:
            missing = [n for n in BATCH_FILES if n not in present]
            partial = _find.describe_missing(folder, present, missing)
    for name in ARCHIVE_NAMES:
        archive = os.path.join(candidate, name)
        if os.path.isfile(archive):
            return ("tar", archive), None
    if partial:
        return None, f"{partial}"
    return None, _find.describe_missing(candidate, [], BATCH_FILES)


SPEC = _find.DatasetSpec(
    name=NAME,
    folder_names=("cifar10", "cifar-10"),
    keras_entries=("",),  # the datasets folder itself; find() knows Keras' names inside it
    find=find,
    downloads=((_find.RemoteFile(ARCHIVE_NAMES[0], _URL, "sha256", _SHA256),),),
    files_hint=FILES_HINT,
)


def _read_archive(archive):
    """Decode the six batches from a (gzip) tar archive in one streaming pass."""
    batches = {}
    try:
        # opened here, not by tarfile, so the file is closed even when tarfile.open fails
        with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if name not in BATCH_FILES or not member.isfile() or name in batches:
                    continue
                if member.size > _MAX_MEMBER_BYTES:
                    raise FileFormatError(describe(
                        f"{archive}: member {member.name} is too large for a CIFAR batch",
                        f"at most {_MAX_MEMBER_BYTES} bytes", member.size))
                data = tar.extractfile(member).read()
                if len(data) != member.size:
                    raise FileFormatError(describe(f"{archive}: member {member.name} is truncated",
                                                   f"{member.size} bytes", len(data)))
                batches[name] = decode_batch(data, f"{archive}:{member.name}")
    except FileFormatError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as err:
        raise FileFormatError(describe(f"{archive}: not a readable CIFAR-10 archive",
                                       "a tar.gz file (cifar-10-python.tar.gz)",
                                       f"{type(err).__name__}: {err}")) from None
    missing = [n for n in BATCH_FILES if n not in batches]
    if missing:
        raise FileFormatError(describe(f"{archive}: archive lacks CIFAR-10 batches",
                                       ", ".join(BATCH_FILES), "missing " + ", ".join(missing)))
    return batches


def _read_folder(folder):
    batches = {}
    for name in BATCH_FILES:
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            batches[name] = decode_batch(f.read(), path)
    return batches


def read_found(found):
    """Read what :func:`find` found into Keras' ``((x_train, y_train), (x_test, y_test))``."""
    kind, where = found
    batches = _read_archive(where) if kind == "tar" else _read_folder(where)
    x_train = np.concatenate([batches[n][0] for n in TRAIN_BATCHES])
    y_train = np.concatenate([batches[n][1] for n in TRAIN_BATCHES]).reshape(-1, 1)
    x_test, y_test = batches[TEST_BATCH]
    return (x_train, y_train), (x_test, y_test.reshape(-1, 1))


def load_data(path=None, *, download=True):
    """Load CIFAR-10 as ``((x_train, y_train), (x_test, y_test))``, Keras' shapes and dtypes.

    Args:
        path: the archive or a folder holding the batches (optional; see the module docstring
            for the search order when it is ``None``).
        download: set ``False`` to never touch the network (raise DataNotFoundError instead).

    Returns:
        x_train ``uint8 (50000, 32, 32, 3)``, y_train ``uint8 (50000, 1)``,
        x_test ``uint8 (10000, 32, 32, 3)``, y_test ``uint8 (10000, 1)``.
    """
    return read_found(_find.locate(SPEC, path, allow_download=download))
