"""Where data set files are looked for, and how missing ones are downloaded.

Search order (the same for every data set; ``<name>`` is ``mnist``, ``fashion_mnist`` or
``cifar10``):

1. ``path=`` given to ``load_data`` -- a file or a folder. When given, it is the only place
   looked: a mistyped path should fail loudly, not quietly load or download another copy.
2. ``$TICHCHAP_DATA/<name>/`` (also the spelling with a hyphen, e.g. ``fashion-mnist``).
3. The tichchap cache, ``~/.cache/tichchap/datasets/<name>/`` (``$XDG_CACHE_HOME`` replaces
   ``~/.cache`` when set). Downloads are written here.
4. Keras' cache, ``~/.keras/datasets/`` (``$KERAS_HOME/datasets`` when set), with the names Keras
   gives its downloads, so files a Keras user already has are reused.
5. Debian's ``/usr/share/datasets/<name with hyphen>/`` (``apt-get install dataset-fashion-mnist``).
6. A download from the data set's own hosting, checked against the published checksum and
   written atomically into the tichchap cache (a cut download never leaves a file behind).

If all of that fails, :class:`tichchap.errors.DataNotFoundError` lists every place looked, why each
failed, and where the files can be put.
"""

import dataclasses
import hashlib
import io
import os
import sys
import urllib.request
from typing import Callable, Optional, Tuple

from tichchap.errors import DataNotFoundError, FileFormatError, describe
from tichchap.utils.fileio import atomic_write

#: Debian's folder for data set packages; a module attribute so tests can point it elsewhere.
DEBIAN_DATASETS = "/usr/share/datasets"
#: Seconds a download may wait for the server before it counts as offline.
DOWNLOAD_TIMEOUT = 30
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One file of a data set on its official hosting, with the checksum published for it."""

    filename: str  # name given to it in the cache folder
    url: str
    algorithm: str  # "sha256" or "md5"
    digest: str


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What the search needs to know about one data set."""

    name: str  # "fashion_mnist"
    folder_names: Tuple[str, ...]  # folder names under $TICHCHAP_DATA and /usr/share/datasets
    keras_entries: Tuple[str, ...]  # paths relative to ~/.keras/datasets
    # find(candidate) -> (location, None) when the data set is there, else (None, why_not)
    find: Callable[[str], Tuple[Optional[object], Optional[str]]]
    # alternative download sources, tried in order; each is a complete set of files
    downloads: Tuple[Tuple[RemoteFile, ...], ...]
    files_hint: str  # which files make up the data set, for error messages


def tichchap_cache_dir(name):
    """``~/.cache/tichchap/datasets/<name>`` (or under ``$XDG_CACHE_HOME``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tichchap", "datasets", name)


def keras_datasets_dir():
    """Keras' download folder: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, "datasets")


def search_places(spec):
    """The places looked after an explicit path, in order: a list of ``(label, path)``."""
    places = []
    data_root = os.environ.get("TICHCHAP_DATA")
    if data_root:
        for folder in spec.folder_names:
            places.append(("$TICHCHAP_DATA", os.path.join(data_root, folder)))
    places.append(("tichchap cache", tichchap_cache_dir(spec.name)))
    for entry in spec.keras_entries:
        places.append(("Keras cache", os.path.join(keras_datasets_dir(), entry)))
    for folder in spec.folder_names:
        places.append(("Debian", os.path.join(DEBIAN_DATASETS, folder)))
    return places


def _fetch(url):
    """Open ``url`` for reading (a module attribute so tests can replace it; urllib only).

    May return a binary file-like object or ``bytes``.
    """
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT)


def file_digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(remote, folder):
    """Download one file into ``folder``, verifying its checksum before it gets its name.

    Raises FileFormatError on a checksum mismatch (no file is left), and whatever urllib raises
    (``OSError`` subclasses) when the server cannot be reached.
    """
    target = os.path.join(folder, remote.filename)
    print(f"Downloading data from {remote.url}", file=sys.stderr)
    h = hashlib.new(remote.algorithm)
    response = _fetch(remote.url)
    if isinstance(response, (bytes, bytearray)):
        response = io.BytesIO(response)
    with response, atomic_write(target, "wb") as out:
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            h.update(chunk)
            out.write(chunk)
        if h.hexdigest() != remote.digest.lower():
            # raised inside atomic_write: the temporary file is removed, nothing is cached
            raise FileFormatError(describe(
                f"{remote.url}: downloaded file fails its {remote.algorithm} checksum "
                f"(not saved to {target})", remote.digest, h.hexdigest()))
    return target


def download(spec, folder):
    """Fetch one complete source of ``spec`` into ``folder``; returns a list of failures."""
    failures = []
    mismatches = []
    for source in spec.downloads:
        try:
            for remote in source:
                target = os.path.join(folder, remote.filename)
                if (os.path.isfile(target)
                        and file_digest(target, remote.algorithm) == remote.digest.lower()):
                    continue  # a verified file from an earlier, interrupted set
                download_file(remote, folder)
            return None
        except FileFormatError as err:
            mismatches.append(str(err))
            failures.append(str(err))
        except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts are OSErrors
            failures.append(f"{remote.url}: {type(err).__name__}: {err}")
    if failures and len(mismatches) == len(failures):
        # every server answered, with the wrong bytes: a corrupt file, not a missing one
        raise FileFormatError(" | ".join(mismatches))
    return failures


def locate(spec, path=None, allow_download=True):
    """Find the data set ``spec`` and return what ``spec.find`` gives for it.

    Raises DataNotFoundError (every place looked and why it failed, and where to put files) or
    FileFormatError (a download whose checksum did not match, a file that is there but corrupt).
    """
    if path is not None:
        path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        found, why = spec.find(path)
        if found is not None:
            return found
        raise DataNotFoundError(describe(
            f"{spec.name}: data set not found at path={path!r}",
            spec.files_hint, why))

    looked = []
    for label, candidate in search_places(spec):
        found, why = spec.find(candidate)
        if found is not None:
            return found
        looked.append(f"{label} {candidate} ({why})")

    cache = tichchap_cache_dir(spec.name)
    if allow_download:
        failures = download(spec, cache)
        if failures is None:
            found, why = spec.find(cache)
            if found is not None:
                return found
            failures = [f"downloaded files in {cache} are incomplete ({why})"]
        looked.append("download: " + "; ".join(failures))
    else:
        looked.append("download: not attempted (download=False)")

    where = os.environ.get("TICHCHAP_DATA")
    where = os.path.join(where, spec.folder_names[0]) if where else "$TICHCHAP_DATA/" + spec.name
    raise DataNotFoundError(
        f"{spec.name}: data set not found; expected {spec.files_hint}; looked in order at:\n"
        + "\n".join(f"  {i + 1}. {entry}" for i, entry in enumerate(looked))
        + f"\nPut the files in {cache} or {where}, or pass path= to load_data.")


def describe_missing(folder, present, missing):
    """A short reason for a folder that holds some but not all of a data set's files."""
    if not os.path.exists(folder):
        return "does not exist"
    if not present:
        return "no data set files there"
    return "incomplete: lacks " + ", ".join(missing)
