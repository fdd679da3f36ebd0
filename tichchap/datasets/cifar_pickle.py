"""Reader for the CIFAR-10 "python version" batches, with a restricted unpickler.

Each of ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` is a Python 2 pickle (protocol 2)
of a dict with (byte-string) keys:

- ``b"data"``: ``uint8`` array of shape ``(N, 3072)``; each row is a 32x32 image as three
  row-major planes, red (1024 values), then green, then blue;
- ``b"labels"``: list of ``N`` integers in ``0..9``;
- ``b"batch_label"``, ``b"filenames"``: descriptive, not used.

**Safety.** Unpickling can run arbitrary code: a pickle names functions that are called while it
loads. :class:`RestrictedUnpickler` therefore resolves only the few names the CIFAR batches need
-- numpy's array reconstructor (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``,
``numpy.dtype``, ``numpy.core.multiarray.scalar``) and ``_codecs.encode`` for Latin-1 only (how
Python 3 writes bytes at protocol 2) -- and refuses every other global. Dicts, lists, strings,
bytes and numbers need no globals. Any malformed pickle raises
:class:`tichchap.errors.FileFormatError` naming the file.

Example::

    >>> images, labels = read_batch("cifar-10-batches-py/test_batch")   # doctest: +SKIP
    >>> images.shape, labels.shape                                      # doctest: +SKIP
    ((10000, 32, 32, 3), (10000,))
"""

import _codecs
import io
import pickle

import numpy as np

from tichchap.errors import FileFormatError, describe

IMAGE_SIZE = 32
CHANNELS = 3
ROW_LENGTH = IMAGE_SIZE * IMAGE_SIZE * CHANNELS  # 3072
NUM_CLASSES = 10

_multiarray = getattr(np, "_core", None)
_multiarray = (_multiarray.multiarray if _multiarray is not None
               else np.core.multiarray)  # numpy < 2


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """``_codecs.encode`` limited to the one use pickle protocol 2 makes of it."""
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return _codecs.encode(text, "latin1", errors)


def _reconstruct_array(subtype, shape, dtype):
    """numpy's ``_reconstruct`` as pickles call it: a plain, empty ndarray, later filled.

    NumPy always pickles arrays as ``_reconstruct(ndarray, (0,), b'b')`` followed by their
    state; any other call is refused so a crafted file cannot make us allocate a huge array or
    build a subclass.
    """
    if subtype is not np.ndarray or tuple(shape) != (0,):
        raise pickle.UnpicklingError(
            f"array reconstruction with subtype {subtype!r} and shape {shape!r} is not allowed")
    return _multiarray._reconstruct(np.ndarray, (0,), dtype)


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct_array,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct_array,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can build dicts, lists, strings, numbers and numpy arrays, nothing else."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed in a CIFAR batch") from None


def unpickle_restricted(data, source):
    """Unpickle bytes with :class:`RestrictedUnpickler`; any failure is a FileFormatError."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # corrupt pickles raise almost any type: wrap them all at the edge
        raise FileFormatError(describe(
            f"{source}: not a readable CIFAR-10 python batch (pickle)",
            "a pickled dict of numpy arrays and lists",
            f"{type(err).__name__}: {err}")) from None


def _get(batch, key, source):
    for k in (key.encode("ascii"), key):  # Python 2 files give bytes keys, re-pickled ones str
        if k in batch:
            return batch[k]
    raise FileFormatError(describe(f"{source}: CIFAR batch lacks the key {key!r}",
                                   "keys b'data' and b'labels'",
                                   f"keys {sorted(map(repr, batch))[:8]}"))


def decode_batch(data, source):
    """Turn the bytes of one CIFAR-10 batch file into ``(images, labels)``.

    Returns:
        images: ``uint8`` array ``(N, 32, 32, 3)`` (channels last, C-contiguous);
        labels: ``uint8`` array ``(N,)`` with values in ``0..9``.
    """
    batch = unpickle_restricted(data, source)
    if not isinstance(batch, dict):
        raise FileFormatError(describe(f"{source}: CIFAR batch is not a dict",
                                       "dict", type(batch).__name__))
    pixels = _get(batch, "data", source)
    labels = _get(batch, "labels", source)
    if (not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2
            or pixels.shape[1] != ROW_LENGTH):
        received = (f"{type(pixels).__name__} {getattr(pixels, 'dtype', '')} "
                    f"{getattr(pixels, 'shape', '')}")
        raise FileFormatError(describe(f"{source}: CIFAR batch 'data' has the wrong type or shape",
                                       f"uint8 array of shape (N, {ROW_LENGTH})", received))
    if not isinstance(labels, (list, np.ndarray)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
        raise FileFormatError(describe(f"{source}: CIFAR batch 'labels' is not a list of integers",
                                       "list of ints", type(labels).__name__))
    if len(labels) != len(pixels):
        raise FileFormatError(describe(
            f"{source}: CIFAR batch has a different number of labels and images",
            f"{len(pixels)} labels", f"{len(labels)}"))
    labels = [int(v) for v in labels]
    if labels and not (0 <= min(labels) and max(labels) < NUM_CLASSES):
        raise FileFormatError(describe(f"{source}: CIFAR-10 label out of range",
                                       f"0..{NUM_CLASSES - 1}",
                                       f"values from {min(labels)} to {max(labels)}"))
    images = pixels.reshape(len(pixels), CHANNELS, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.uint8)


def read_batch(path):
    """Read one CIFAR-10 batch file from disk; see :func:`decode_batch`."""
    with open(path, "rb") as f:
        data = f.read()
    return decode_batch(data, path)
