"""Reader for the idx format that MNIST and Fashion-MNIST ship in.

An idx file is a 4-byte magic number, one big-endian uint32 per dimension, then the values in
row-major (C) order. The magic number's two leading bytes are zero, the third is the value type
(``0x08``: unsigned byte, the only type MNIST uses) and the fourth the number of dimensions::

    images: 0x00000803, n, rows, cols, then n*rows*cols bytes     (train-images-idx3-ubyte)
    labels: 0x00000801, n, then n bytes                            (train-labels-idx1-ubyte)

Files may be gzip-compressed (the official ``.gz`` downloads) or plain; the gzip magic number,
not the file name, decides. Every way a file can be wrong -- bad gzip stream, bad magic number,
wrong number of dimensions, fewer or more bytes than the header promises -- raises
:class:`tichchap.errors.FileFormatError` naming the file.

Example::

    >>> images = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
    ... # doctest: +SKIP
    >>> images.shape, images.dtype                                    # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
"""

import gzip
import os
import struct
import zlib

import numpy as np

from tichchap.errors import FileFormatError, describe

IDX_UNSIGNED_BYTE = 0x08
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def _bad(path, what, expected=None, received=None):
    return FileFormatError(describe(f"{path}: {what}", expected, received))


def _open_maybe_gzip(path):
    with open(path, "rb") as raw:
        head = raw.read(2)
    if head == _GZIP_MAGIC:
        return gzip.open(path, "rb"), True
    return open(path, "rb"), False


def _read_exactly(stream, n, path, what):
    """Read exactly ``n`` bytes, in chunks so a lying header cannot make us allocate its claim."""
    parts = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(min(remaining, _CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    data = b"".join(parts)
    if len(data) != n:
        raise _bad(path, f"file is truncated in the {what}",
                   f"{n} bytes", f"{len(data)} bytes")
    return data


def read_idx(path, expected_ndim=None):
    """Read one idx file (plain or gzip) into a ``uint8`` array of the shape its header gives.

    Args:
        path: file name (str or path-like).
        expected_ndim: if given, the number of dimensions the file must have (3 for images,
            1 for labels).

    Returns:
        ``np.ndarray`` of dtype ``uint8``, shape ``(d0, d1, ...)`` from the header.

    Raises:
        FileFormatError: the file is not a well-formed idx file of unsigned bytes.
        FileNotFoundError: the file does not exist (callers check before reading).
    """
    path = os.fspath(path)
    stream, compressed = _open_maybe_gzip(path)
    kind = "gzip-compressed idx file" if compressed else "idx file"
    try:
        with stream:
            magic = _read_exactly(stream, 4, path, "magic number")
            zero, zero2, value_type, ndim = magic
            if zero != 0 or zero2 != 0 or value_type != IDX_UNSIGNED_BYTE:
                raise _bad(path, f"bad magic number for a {kind}",
                           "0x000008NN (unsigned bytes, NN dimensions)",
                           "0x" + magic.hex())
            if ndim == 0 or (expected_ndim is not None and ndim != expected_ndim):
                raise _bad(path, "wrong number of dimensions in the idx header",
                           f"{expected_ndim if expected_ndim is not None else 'at least 1'}",
                           ndim)
            dims = struct.unpack(">" + "I" * ndim, _read_exactly(stream, 4 * ndim, path,
                                                                 "dimension sizes"))
            size = 1
            for d in dims:
                size *= d
            data = _read_exactly(stream, size, path, f"data of shape {tuple(dims)}")
            if stream.read(1):
                raise _bad(path, f"file has bytes after the data of shape {tuple(dims)}",
                           f"{size} data bytes", "more")
    except (OSError, EOFError, zlib.error) as err:
        # gzip.BadGzipFile is an OSError; a cut gzip stream raises EOFError.
        raise _bad(path, f"cannot read the {kind}", "a complete gzip stream" if compressed
                   else "a readable file", f"{type(err).__name__}: {err}") from None
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def write_idx(fileobj, array):
    """Write a ``uint8`` array as an idx file (uncompressed) to an open binary file.

    Used to build the embedded sample and test files; the caller compresses if wanted.
    """
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise FileFormatError(describe("write_idx: only uint8 arrays can be written",
                                       "uint8 with 1..255 dimensions",
                                       f"{array.dtype} with {array.ndim} dimensions"))
    fileobj.write(bytes([0, 0, IDX_UNSIGNED_BYTE, array.ndim]))
    fileobj.write(struct.pack(">" + "I" * array.ndim, *array.shape))
    fileobj.write(array.tobytes())
