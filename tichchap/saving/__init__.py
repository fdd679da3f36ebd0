"""Saving and loading models.

- tichchap's own format (:mod:`.native`): any file name but ``.keras``/``.h5``; NumPy only;
  holds the optimizer state and random states for exact resume.
- Keras' formats (:mod:`.keras_format`, needs h5py): ``.keras`` archives and legacy ``.h5``.
The file's content, not only its name, decides how it is read.
"""

import os

from ..errors import DataNotFoundError, FileFormatError


def _keras_format():
    try:
        from . import keras_format
    except ImportError as err:
        raise FileFormatError(f"reading or writing Keras files needs h5py (pip install h5py): {err}") from None
    return keras_format


def _sniff(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise DataNotFoundError(f"no such model file: {path}") from None
    except IsADirectoryError:
        raise FileFormatError(f"{path}: is a folder, not a model file") from None
    if head.startswith(b"\x89HDF"):
        return "h5"
    if head.startswith(b"PK"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
        except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError) as err:
            # A damaged directory also raises NotImplementedError ("zip file version 10.9": a
            # flipped bit), or OSError/EOFError/ValueError from offsets past the end.
            raise FileFormatError(f"{path}: the zip archive is truncated or corrupt ({type(err).__name__})") from None
        if "tichchap.json.npy" in names:
            return "native"
        if "config.json" in names:
            return "keras"
        raise FileFormatError(f"{path}: a zip archive that is neither a tichchap nor a Keras model file")
    raise FileFormatError(f"{path}: not a model file (expected a tichchap .npz, a Keras .keras or an .h5 file)")


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise FileFormatError(f"{path}: the file exists and overwrite=False")


def save_model(model, path, overwrite=True):
    path = os.fspath(path)
    _check_overwrite(path, overwrite)
    if path.endswith(".keras"):
        return _keras_format().save_keras_model(model, path)
    if path.endswith(".h5"):
        return _keras_format().save_legacy_h5_model(model, path)
    from . import native

    return native.save_model(model, path)


def load_model(path, compile=True):
    """Load a model saved by tichchap or by Keras (``.keras`` or legacy ``.h5``)."""
    path = os.fspath(path)
    kind = _sniff(path)
    if kind == "native":
        from . import native

        return native.load_model(path, compile=compile)
    return _keras_format().load_keras_model(path)


def save_weights(model, path, overwrite=True):
    path = os.fspath(path)
    _check_overwrite(path, overwrite)
    if path.endswith(".h5"):
        return _keras_format().save_weights(model, path)
    from . import native

    return native.save_weights(model, path)


def load_weights(model, path):
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise DataNotFoundError(f"no such weights file: {path}") from None
    if head.startswith(b"\x89HDF"):
        return _keras_format().load_weights(model, path)
    from . import native

    return native.load_weights(model, path)
