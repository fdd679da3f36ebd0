"""Tests of tichchap.datasets on small files built here in the exact official formats.

- idx: 4-byte magic 0x00000803 (images) / 0x00000801 (labels), big-endian uint32 dimensions,
  then bytes; gzip-compressed as the official ``*-ubyte.gz`` files (also uncompressed).
- CIFAR-10 python batches: a pickled dict {b'data': uint8 (N, 3072) rows of R, G, B planes,
  b'labels': list of ints}, protocol 2 -- both as Python 3 writes it and with the Python 2 string
  opcodes of the official files -- in a folder and inside a tar.gz.
- Keras' mnist.npz.
No test touches the network: the download function ``_find._fetch`` is replaced in every test.
The real Fashion-MNIST is checked when installed (``apt-get install dataset-fashion-mnist``).
"""

import gzip
import io
import os
import pickle
import struct
import tarfile
import urllib.error
import warnings

import numpy as np
import pytest

from tichchap import datasets
from tichchap.datasets import _find, cifar10, fashion_mnist, fashion_mnist_sample, mnist
from tichchap.datasets import make_sample
from tichchap.datasets.cifar_pickle import RestrictedUnpickler, decode_batch
from tichchap.datasets.idx import read_idx, write_idx
from tichchap.errors import ConfigError, DataNotFoundError, FileFormatError

REAL_FASHION = "/usr/share/datasets/fashion-mnist"
IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ----------------------------------------------------------------------------- file builders

def idx_bytes(array):
    buffer = io.BytesIO()
    write_idx(buffer, np.asarray(array, dtype=np.uint8))
    return buffer.getvalue()


def small_mnist(n_train=7, n_test=3, seed=0, first_label=None):
    """Random 28x28 uint8 images and labels; ``first_label`` marks which copy was loaded."""
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, n_train, dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, n_test, dtype=np.uint8)
    if first_label is not None:
        y_train[0] = first_label
    return (x_train, y_train), (x_test, y_test)


def write_idx_set(folder, data, compress=True, dotted=False):
    (x_train, y_train), (x_test, y_test) = data
    os.makedirs(folder, exist_ok=True)
    for base, array in zip(IDX_NAMES, (x_train, y_train, x_test, y_test)):
        raw = idx_bytes(array)
        name = base.replace("-idx", ".idx") if dotted else base
        if compress:
            with open(os.path.join(folder, name + ".gz"), "wb") as f:
                f.write(gzip.compress(raw))
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(raw)
    return folder


def write_npz(path, data):
    (x_train, y_train), (x_test, y_test) = data
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def assert_same(loaded, expected):
    for got_split, want_split in zip(loaded, expected):
        for got, want in zip(got_split, want_split):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


class Py2StylePickler(pickle._Pickler):
    """Writes bytes and text with the Python 2 ``str`` opcodes (SHORT_BINSTRING/BINSTRING), as
    the official CIFAR files (pickled by Python 2's cPickle) have them."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str_as_py2_str(self, obj):  # Python 2 wrote text (dtype codes, '|') as str too
        self.save_py2_str(obj.encode("latin1"))

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_str_as_py2_str


def cifar_batch_bytes(images, labels, py2_style=False, extra=None):
    """One batch as the official files hold it: images (N, 32, 32, 3) -> rows of R, G, B planes."""
    rows = np.asarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in labels],
             b"data": rows, b"filenames": [b"img_%d.png" % i for i in range(len(labels))]}
    if extra:
        batch.update(extra)
    if not py2_style:
        return pickle.dumps(batch, protocol=2)
    buffer = io.BytesIO()
    Py2StylePickler(buffer, protocol=2).dump(batch)
    # Python 2 numpy named its reconstructor's module numpy.core.multiarray
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def small_cifar(per_batch=4, n_test=3, seed=1):
    rng = np.random.default_rng(seed)
    train = [(rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8),
              rng.integers(0, 10, per_batch, dtype=np.uint8)) for _ in range(5)]
    test = (rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, n_test, dtype=np.uint8))
    return train, test


def cifar_files(data, py2_style=False):
    train, test = data
    files = {f"data_batch_{i + 1}": cifar_batch_bytes(*train[i], py2_style=py2_style)
             for i in range(5)}
    files["test_batch"] = cifar_batch_bytes(*test, py2_style=py2_style)
    return files


def write_cifar_folder(folder, data, py2_style=False):
    os.makedirs(folder, exist_ok=True)
    for name, blob in cifar_files(data, py2_style).items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(blob)
    return folder


def write_cifar_tar(path, files, prefix="cifar-10-batches-py/"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def expected_cifar(data):
    train, test = data
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train]).reshape(-1, 1)
    return (x_train, y_train), (test[0], test[1].reshape(-1, 1))


# ----------------------------------------------------------------------------- isolation

@pytest.fixture
def places(tmp_path, monkeypatch):
    """Point every search place into tmp_path and make the network unreachable."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv("TICHCHAP_DATA", raising=False)
    debian = tmp_path / "usr_share_datasets"
    monkeypatch.setattr(_find, "DEBIAN_DATASETS", str(debian))
    calls = []

    def offline(url):
        calls.append(url)
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(_find, "_fetch", offline)
    return {"home": home, "debian": debian, "data": tmp_path / "tichchap_data",
            "cache": home / ".cache" / "tichchap" / "datasets",
            "keras": home / ".keras" / "datasets",
            "fetch_calls": calls, "tmp": tmp_path}


# ----------------------------------------------------------------------------- idx / MNIST

def test_idx_header_is_the_official_one(tmp_path):
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert raw[:16] == bytes.fromhex("00000803" "00000002" "0000001c" "0000001c")
    assert idx_bytes(np.array([9, 0], np.uint8)) == bytes.fromhex("00000801" "00000002" "0900")


@pytest.mark.parametrize("compress,dotted", [(True, False), (False, False), (False, True)])
def test_mnist_reads_idx_files(places, compress, dotted):
    data = small_mnist()
    folder = write_idx_set(str(places["tmp"] / "m"), data, compress=compress, dotted=dotted)
    loaded = mnist.load_data(path=folder)
    assert_same(loaded, data)
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (7, 28, 28) and y_train.shape == (7,)
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,)
    assert places["fetch_calls"] == []


def test_fashion_mnist_reads_idx_files_and_an_idx_file_path(places):
    data = small_mnist(seed=3)
    folder = write_idx_set(str(places["tmp"] / "f"), data)
    assert_same(fashion_mnist.load_data(path=folder), data)
    assert_same(fashion_mnist.load_data(path=os.path.join(folder, IDX_NAMES[0] + ".gz")), data)


def test_mnist_reads_keras_npz_as_file_folder_and_from_keras_cache(places):
    data = small_mnist(seed=5)
    npz = write_npz(str(places["tmp"] / "k" / "mnist.npz"), data)
    assert_same(mnist.load_data(path=npz), data)
    assert_same(mnist.load_data(path=os.path.dirname(npz)), data)
    write_npz(str(places["keras"] / "mnist.npz"), data)
    assert_same(mnist.load_data(), data)
    assert places["fetch_calls"] == []


def test_keras_home_is_honoured(places, monkeypatch):
    data = small_mnist(seed=6)
    write_npz(str(places["tmp"] / "kh" / "datasets" / "mnist.npz"), data)
    monkeypatch.setenv("KERAS_HOME", str(places["tmp"] / "kh"))
    assert_same(mnist.load_data(), data)


# ----------------------------------------------------------------------------- CIFAR-10

def test_cifar_pixel_layout_is_rgb_planes_row_major():
    rows = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072) % 251
    batch = pickle.dumps({b"data": rows.astype(np.uint8), b"labels": [3, 7]}, protocol=2)
    images, labels = decode_batch(batch, "mem")
    assert images.shape == (2, 32, 32, 3) and images.flags["C_CONTIGUOUS"]
    for n, i, j, c in [(0, 0, 0, 0), (0, 0, 1, 0), (0, 1, 0, 0), (1, 5, 7, 1), (1, 31, 31, 2)]:
        assert images[n, i, j, c] == rows[n, c * 1024 + i * 32 + j]
    np.testing.assert_array_equal(labels, [3, 7])


@pytest.mark.parametrize("py2_style", [False, True])
def test_cifar10_reads_batch_folder(places, py2_style):
    data = small_cifar()
    folder = write_cifar_folder(str(places["tmp"] / "cifar-10-batches-py"), data, py2_style)
    loaded = cifar10.load_data(path=folder)
    assert_same(loaded, expected_cifar(data))
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (20, 1) and y_train.dtype == np.uint8  # Keras' (N, 1)
    assert x_test.shape == (3, 32, 32, 3) and y_test.shape == (3, 1)
    # the parent folder, and one of the batch files, work too
    assert_same(cifar10.load_data(path=str(places["tmp"])), expected_cifar(data))
    assert_same(cifar10.load_data(path=os.path.join(folder, "test_batch")), expected_cifar(data))


def test_py2_style_pickle_really_uses_python2_opcodes():
    blob = cifar_batch_bytes(np.zeros((1, 32, 32, 3), np.uint8), [1], py2_style=True)
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in blob
    assert b"_codecs" not in blob and pickle.SHORT_BINSTRING + b"\x04data" in blob
    assert pickle.BINUNICODE not in blob  # no Python 3 text opcodes at all


def test_cifar10_reads_tar_gz_without_extracting(places):
    data = small_cifar(seed=2)
    archive = write_cifar_tar(str(places["tmp"] / "a" / "cifar-10-python.tar.gz"),
                              cifar_files(data, py2_style=True))
    before = set(os.listdir(os.path.dirname(archive)))
    assert_same(cifar10.load_data(path=archive), expected_cifar(data))
    assert_same(cifar10.load_data(path=os.path.dirname(archive)), expected_cifar(data))
    assert set(os.listdir(os.path.dirname(archive))) == before  # nothing extracted


@pytest.mark.parametrize("layout", ["cifar-10-batches-py",
                                    "cifar-10-batches-py_extracted/cifar-10-batches-py",
                                    "cifar-10-batches-py.tar.gz"])
def test_cifar10_finds_keras_cache_layouts(places, layout):
    data = small_cifar(seed=4)
    target = str(places["keras"] / layout)
    if layout.endswith(".tar.gz"):
        write_cifar_tar(target, cifar_files(data))
    else:
        write_cifar_folder(target, data)
    assert_same(cifar10.load_data(), expected_cifar(data))
    assert places["fetch_calls"] == []


def test_restricted_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    blob = pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)
    with pytest.raises(FileFormatError, match=r"evil_batch.*not allowed"):
        decode_batch(blob, "evil_batch")
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(print)), encoding="bytes").load()


# ----------------------------------------------------------------------------- search order

def test_search_order_explicit_env_cache_keras_debian(places, monkeypatch):
    copies = {"debian": places["debian"] / "fashion-mnist",
              "keras": places["keras"] / "fashion-mnist",
              "cache": places["cache"] / "fashion_mnist",
              "env": places["data"] / "fashion-mnist",
              "explicit": places["tmp"] / "explicit"}
    for label, (where, folder) in enumerate(copies.items()):
        write_idx_set(str(folder), small_mnist(first_label=label))
    monkeypatch.setenv("TICHCHAP_DATA", str(places["data"]))

    def first_label(**kw):
        return int(fashion_mnist.load_data(**kw)[0][1][0])

    assert first_label(path=str(copies["explicit"])) == 4
    assert first_label() == 3  # $TICHCHAP_DATA
    monkeypatch.delenv("TICHCHAP_DATA")
    assert first_label() == 2  # tichchap cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(places["tmp"] / "elsewhere"))
    assert first_label() == 1  # Keras cache (the tichchap cache moved away)
    monkeypatch.setenv("KERAS_HOME", str(places["tmp"] / "nokeras"))
    assert first_label() == 0  # Debian
    assert places["fetch_calls"] == []


def test_explicit_path_is_the_only_place_looked(places):
    write_idx_set(str(places["cache"] / "fashion_mnist"), small_mnist())
    missing = str(places["tmp"] / "typo")
    words = r"fashion_mnist: data set not found at path=.*typo"
    with pytest.raises(DataNotFoundError, match=words):
        fashion_mnist.load_data(path=missing)
    assert places["fetch_calls"] == []


def test_incomplete_folder_is_reported_and_skipped(places):
    folder = write_idx_set(str(places["cache"] / "fashion_mnist"), small_mnist())
    os.remove(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert "incomplete: lacks t10k-labels-idx1-ubyte.gz" in message
    write_idx_set(str(places["debian"] / "fashion-mnist"), small_mnist(first_label=8))
    assert fashion_mnist.load_data()[0][1][0] == 8


def test_offline_error_lists_every_place_and_where_to_put_files(places, monkeypatch):
    monkeypatch.setenv("TICHCHAP_DATA", str(places["data"]))
    with pytest.raises(DataNotFoundError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FileNotFoundError)
    for place in [str(places["data"] / "fashion_mnist"), str(places["data"] / "fashion-mnist"),
                  str(places["cache"] / "fashion_mnist"), str(places["keras"] / "fashion-mnist"),
                  str(places["debian"] / "fashion-mnist")]:
        assert place in message
    assert "fashion-mnist.s3-website.eu-central-1.amazonaws.com" in message  # the URL tried
    assert "no network in tests" in message
    assert "Put the files in" in message and "train-images-idx3-ubyte.gz" in message
    # both sources (Zalando's, then Keras' mirror) were tried, first file of each
    assert len(places["fetch_calls"]) == 2
    assert not os.path.exists(places["cache"] / "fashion_mnist" / "train-images-idx3-ubyte.gz")


def test_download_false_never_fetches(places):
    with pytest.raises(DataNotFoundError, match="not attempted"):
        cifar10.load_data(download=False)
    with pytest.raises(DataNotFoundError, match="not attempted"):
        datasets.load("mnist", download=False)
    assert places["fetch_calls"] == []


# ----------------------------------------------------------------------------- downloads

def served_fashion(data, algorithm="sha256", corrupt=None):
    """Gzip idx bytes per official name, and a spec whose checksums match them."""
    import hashlib
    (x_train, y_train), (x_test, y_test) = data
    blobs = {base + ".gz": gzip.compress(idx_bytes(a))
             for base, a in zip(IDX_NAMES, (x_train, y_train, x_test, y_test))}
    source = tuple(_find.RemoteFile(name, "https://example.invalid/fm/" + name, algorithm,
                                    hashlib.new(algorithm, blob).hexdigest())
                   for name, blob in blobs.items())
    if corrupt:
        blobs[corrupt] = blobs[corrupt][:-1] + bytes([blobs[corrupt][-1] ^ 1])
    return blobs, source


def test_download_success_is_cached_and_read(places, monkeypatch):
    data = small_mnist(seed=9)
    blobs, source = served_fashion(data, "md5")
    fetched = []

    def serve(url):
        fetched.append(url)
        return io.BytesIO(blobs[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(_find, "_fetch", serve)
    monkeypatch.setattr(fashion_mnist, "SPEC", fashion_mnist.SPEC.__class__(
        **{**fashion_mnist.SPEC.__dict__, "downloads": (source,)}))
    assert_same(fashion_mnist.load_data(), data)
    cache = places["cache"] / "fashion_mnist"
    assert sorted(os.listdir(cache)) == sorted(blobs)
    assert all((cache / n).read_bytes() == b for n, b in blobs.items())
    assert len(fetched) == 4
    assert_same(fashion_mnist.load_data(), data)  # now from the cache: no second download
    assert len(fetched) == 4


def test_download_falls_back_to_second_source(places, monkeypatch):
    data = small_mnist(seed=10)
    blobs, source = served_fashion(data)
    dead = tuple(_find.RemoteFile(r.filename, "https://dead.invalid/" + r.filename, r.algorithm,
                                  r.digest) for r in source)

    def serve(url):
        if "dead.invalid" in url:
            raise urllib.error.HTTPError(url, 403, "Forbidden", None, None)
        return blobs[url.rsplit("/", 1)[1]]  # bytes are accepted too

    monkeypatch.setattr(_find, "_fetch", serve)
    monkeypatch.setattr(fashion_mnist, "SPEC", fashion_mnist.SPEC.__class__(
        **{**fashion_mnist.SPEC.__dict__, "downloads": (dead, source)}))
    assert_same(fashion_mnist.load_data(), data)


def test_checksum_mismatch_raises_and_leaves_nothing(places, monkeypatch):
    data = small_mnist(seed=11)
    blobs, source = served_fashion(data, corrupt="train-labels-idx1-ubyte.gz")
    monkeypatch.setattr(_find, "_fetch", lambda url: io.BytesIO(blobs[url.rsplit("/", 1)[1]]))
    monkeypatch.setattr(fashion_mnist, "SPEC", fashion_mnist.SPEC.__class__(
        **{**fashion_mnist.SPEC.__dict__, "downloads": (source,)}))
    with pytest.raises(FileFormatError,
                       match=r"train-labels-idx1-ubyte.gz: downloaded file fails its sha256"):
        fashion_mnist.load_data()
    cache = places["cache"] / "fashion_mnist"
    # the file before it was verified and kept; the bad one and any temporary file are gone
    assert sorted(os.listdir(cache)) == ["train-images-idx3-ubyte.gz"]


def test_connection_cut_mid_download_leaves_nothing(places, monkeypatch):
    class CutStream(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(100)

    monkeypatch.setattr(_find, "_fetch", lambda url: CutStream(b"x" * 1000))
    with pytest.raises(DataNotFoundError, match="connection reset"):
        cifar10.load_data()
    cache = places["cache"] / "cifar10"
    assert not cache.exists() or os.listdir(cache) == []


def test_real_specs_name_official_urls_and_checksums():
    for spec in (mnist.SPEC, fashion_mnist.SPEC, cifar10.SPEC):
        for source in spec.downloads:
            for remote in source:
                assert remote.url.startswith(("http://", "https://"))
                assert remote.url.endswith(remote.filename) or remote.filename.endswith(".npz")
                assert len(remote.digest) == {"md5": 32, "sha256": 64}[remote.algorithm]
    official = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert cifar10.SPEC.downloads[0][0].url == official


# ----------------------------------------------------------------------------- corrupt files

def _corrupt_idx_cases():
    good_images = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    good_labels = idx_bytes(np.array([1, 2, 3], np.uint8))
    return {
        "bad magic": ("train-images-idx3-ubyte", b"\x00\x00\x09\x03" + good_images[4:],
                      "bad magic number"),
        "labels file as images": ("train-images-idx3-ubyte", good_labels,
                                  "wrong number of dimensions"),
        "short read": ("train-images-idx3-ubyte", good_images[:-5], "truncated"),
        "short header": ("train-labels-idx1-ubyte", good_labels[:6], "truncated"),
        "extra bytes": ("train-labels-idx1-ubyte", good_labels + b"\x00", "bytes after the data"),
        "count mismatch": ("train-labels-idx1-ubyte", idx_bytes(np.array([1, 2], np.uint8)),
                           "different numbers of images and labels"),
        "label out of range": ("train-labels-idx1-ubyte", idx_bytes(np.array([1, 10, 3],
                                                                             np.uint8)),
                               "label out of range"),
        "wrong image size": ("train-images-idx3-ubyte",
                             idx_bytes(np.zeros((3, 27, 28), np.uint8)), "wrong shape"),
        "empty file": ("train-images-idx3-ubyte", b"", "truncated"),
    }


@pytest.mark.parametrize("case", list(_corrupt_idx_cases()))
@pytest.mark.parametrize("compress", [True, False])
def test_corrupt_idx_files_raise_file_format_error(places, case, compress):
    base, content, words = _corrupt_idx_cases()[case]
    data = ((np.zeros((3, 28, 28), np.uint8), np.array([1, 2, 3], np.uint8)),
            (np.zeros((2, 28, 28), np.uint8), np.array([0, 9], np.uint8)))
    folder = write_idx_set(str(places["tmp"] / "bad"), data, compress=compress)
    target = os.path.join(folder, base + (".gz" if compress else ""))
    with open(target, "wb") as f:
        f.write(gzip.compress(content) if compress else content)
    with pytest.raises(FileFormatError, match=words) as info:
        mnist.load_data(path=folder)
    assert base in str(info.value)  # the message names the file


@pytest.mark.parametrize("blob,words", [
    (b"\x1f\x8b\x08\x00garbage after a gzip magic", "cannot read the gzip"),
    (gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8)))[:-12], "cannot read the gzip"),
])
def test_bad_gzip_raises_file_format_error(tmp_path, blob, words):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(blob)
    with pytest.raises(FileFormatError, match=words) as info:
        read_idx(path, expected_ndim=3)
    assert str(path) in str(info.value)


def test_corrupt_npz_raises_file_format_error(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FileFormatError, match=r"mnist.npz: not a readable .npz"):
        mnist.load_data(path=str(path))
    np.savez(path, x_train=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(FileFormatError, match=r"lacks arrays"):
        mnist.load_data(path=str(path))
    np.savez(path, x_train=np.zeros((1, 28, 28), np.float32), y_train=np.zeros(1, np.uint8),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))
    with pytest.raises(FileFormatError, match=r"'x_train' has the wrong dtype"):
        mnist.load_data(path=str(path))
    np.savez(path, x_train=np.array([None, 1], dtype=object), y_train=np.zeros(1, np.uint8),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))
    with pytest.raises(FileFormatError, match=r"mnist.npz"):  # pickled arrays are refused
        mnist.load_data(path=str(path))


def _bad_batches():
    images = np.zeros((2, 32, 32, 3), np.uint8)
    good = cifar_batch_bytes(images, [1, 2])
    rows = np.zeros((2, 3072), np.uint8)
    return {
        "garbage": (b"this is not a pickle", "not a readable CIFAR-10 python batch"),
        "truncated": (good[: len(good) // 2], "not a readable CIFAR-10 python batch"),
        "empty": (b"", "not a readable CIFAR-10 python batch"),
        "not a dict": (pickle.dumps([1, 2], protocol=2), "not a dict"),
        "wrong keys": (pickle.dumps({b"pixels": rows, b"labels": [1, 2]}, protocol=2),
                       "lacks the key 'data'"),
        "no labels": (pickle.dumps({b"data": rows}, protocol=2), "lacks the key 'labels'"),
        "wrong row length": (pickle.dumps({b"data": np.zeros((2, 3071), np.uint8),
                                           b"labels": [1, 2]}, protocol=2), "wrong type or shape"),
        "wrong dtype": (pickle.dumps({b"data": rows.astype(np.float32), b"labels": [1, 2]},
                                     protocol=2), "wrong type or shape"),
        "labels not ints": (pickle.dumps({b"data": rows, b"labels": ["a", "b"]}, protocol=2),
                            "not a list of integers"),
        "label count": (pickle.dumps({b"data": rows, b"labels": [1]}, protocol=2),
                        "different number of labels and images"),
        "label range": (pickle.dumps({b"data": rows, b"labels": [1, 10]}, protocol=2),
                        "label out of range"),
        "other global": (pickle.dumps({b"data": rows, b"labels": [1, 2], b"x": int}, protocol=2),
                         r"global __builtin__\.long is not allowed"),
    }


@pytest.mark.parametrize("case", list(_bad_batches()))
def test_corrupt_cifar_batches_raise_file_format_error(places, case):
    blob, words = _bad_batches()[case]
    folder = write_cifar_folder(str(places["tmp"] / "c"), small_cifar())
    with open(os.path.join(folder, "data_batch_3"), "wb") as f:
        f.write(blob)
    with pytest.raises(FileFormatError, match=words) as info:
        cifar10.load_data(path=folder)
    assert "data_batch_3" in str(info.value)


def test_corrupt_cifar_archives_raise_file_format_error(places):
    data = small_cifar()
    files = cifar_files(data)
    archive = str(places["tmp"] / "cifar-10-python.tar.gz")
    write_cifar_tar(archive, {k: v for k, v in files.items() if k != "test_batch"})
    with pytest.raises(FileFormatError, match="archive lacks CIFAR-10 batches.*test_batch"):
        cifar10.load_data(path=archive)
    write_cifar_tar(archive, files)
    with open(archive, "rb") as f:
        blob = f.read()
    with open(archive, "wb") as f:
        f.write(blob[: len(blob) // 2])
    with pytest.raises(FileFormatError, match="cifar-10-python.tar.gz"):
        cifar10.load_data(path=archive)
    with open(archive, "wb") as f:
        f.write(b"random bytes, not a tar file at all" * 20)
    with pytest.raises(FileFormatError, match="not a readable CIFAR-10 archive"):
        cifar10.load_data(path=archive)


# ----------------------------------------------------------------------------- load() helper

def test_load_maps_names_and_rejects_unknown_ones(places):
    data = small_mnist(seed=12)
    folder = write_idx_set(str(places["tmp"] / "m"), data)
    assert_same(datasets.load("mnist", folder), data)
    assert_same(datasets.load("fashion-mnist", path=folder), data)
    with pytest.raises(ConfigError) as info:
        datasets.load("imagenet")
    for name in ("'mnist'", "'fashion_mnist'", "'fashion_mnist_sample'", "'cifar10'", "'imagenet'"):
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="takes no path"):
        datasets.load("fashion_mnist_sample", path=folder)
    assert set(datasets.NAMES) == {"mnist", "fashion_mnist", "fashion_mnist_sample", "cifar10"}


def test_class_names():
    assert fashion_mnist.CLASS_NAMES == ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert cifar10.CLASS_NAMES[0] == "airplane" and cifar10.CLASS_NAMES[9] == "truck"
    assert mnist.CLASS_NAMES == tuple("0123456789")
    assert datasets.class_names("fashion_mnist_sample") == fashion_mnist.CLASS_NAMES
    assert all(len(datasets.class_names(n)) == 10 for n in datasets.NAMES)


# ----------------------------------------------------------------------------- embedded sample

def test_sample_shapes_balance_and_one_warning(monkeypatch):
    monkeypatch.setattr(fashion_mnist_sample, "_warned", False)
    with pytest.warns(fashion_mnist_sample.SampleDataWarning, match="7,000-image sample"):
        (x_train, y_train), (x_test, y_test) = fashion_mnist_sample.load_data()
    assert x_train.shape == (6000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (6000,) and y_train.dtype == np.uint8
    assert x_test.shape == (1000, 28, 28) and y_test.shape == (1000,)
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), [600] * 10)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), [100] * 10)
    assert 60 < x_train.mean() < 90  # Fashion-MNIST's mean pixel is about 72.9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second load stays quiet
        fashion_mnist_sample.load_data()


def test_sample_is_small_and_packaged():
    folder = fashion_mnist_sample.SAMPLE_DIR
    sizes = [os.path.getsize(os.path.join(folder, base + ".gz")) for base in IDX_NAMES]
    assert sum(sizes) < 5_000_000
    assert os.path.isfile(os.path.join(folder, "__init__.py"))  # so setuptools packages it


def test_sample_missing_from_install_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist_sample, "SAMPLE_DIR", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="embedded sample files are missing"):
        fashion_mnist_sample.load_data()


@pytest.mark.skipif(not os.path.isdir(REAL_FASHION), reason="dataset-fashion-mnist not installed")
def test_sample_regenerates_from_the_real_files(tmp_path):
    make_sample.main([REAL_FASHION, "--out", str(tmp_path)])
    regenerated = fashion_mnist.load_data(path=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(fashion_mnist_sample.load_data(), regenerated)


# ----------------------------------------------------------------------------- real data

@pytest.mark.skipif(not os.path.isdir(REAL_FASHION), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian(places, monkeypatch):
    monkeypatch.setattr(_find, "DEBIAN_DATASETS", os.path.dirname(REAL_FASHION))
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert y_train[0] == 9 and y_test[0] == 9  # both sets start with an ankle boot
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert int(x_train.sum(dtype=np.int64)) == 3431114169
    assert int(x_test.sum(dtype=np.int64)) == 573469082
    assert places["fetch_calls"] == []
