"""MNIST: 60,000 training and 10,000 test 28x28 grayscale images of handwritten digits.

``load_data()`` returns what ``keras.datasets.mnist.load_data()`` returns::

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    # x_train: uint8 (60000, 28, 28), y_train: uint8 (60000,), values 0..9
    # x_test:  uint8 (10000, 28, 28), y_test:  uint8 (10000,)

Files: the four official idx files (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, gzip or uncompressed), or Keras'
single ``mnist.npz`` (arrays x_train, y_train, x_test, y_test; read with pickling disabled).

Where they are looked for, in order:

1. ``path=``: a folder with the idx files or an ``mnist.npz``, or the ``.npz`` file itself (the
   only place looked when given);
2. ``$TICHCHAP_DATA/mnist/``;
3. ``~/.cache/tichchap/datasets/mnist/`` (the tichchap cache, ``$XDG_CACHE_HOME`` aware);
4. ``~/.keras/datasets/mnist.npz`` (Keras' cache, ``$KERAS_HOME`` aware);
5. ``/usr/share/datasets/mnist/``;
6. a download of the idx files from the data set's home page (then PyTorch's mirror of the same
   files, then Keras' ``mnist.npz``), checked against the published checksums and written
   atomically into the tichchap cache.

When none works, :class:`tichchap.errors.DataNotFoundError` lists each place and where to put
the files; a corrupt file raises :class:`tichchap.errors.FileFormatError` naming it.
"""

from tichchap.datasets import _find, _mnist_like

NAME = "mnist"

#: Label index -> class name.
CLASS_NAMES = tuple(str(digit) for digit in range(10))

_HOME = "https://yann.lecun.com/exdb/mnist/"
_PYTORCH_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_KERAS_NPZ = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def _find_mnist(candidate):
    return _mnist_like.find_idx_folder(candidate, npz_name="mnist.npz")


SPEC = _find.DatasetSpec(
    name=NAME,
    folder_names=("mnist",),
    keras_entries=("mnist.npz",),
    find=_find_mnist,
    downloads=(
        tuple(_find.RemoteFile(f, _HOME + f, "md5", d) for f, d in _MD5.items()),
        tuple(_find.RemoteFile(f, _PYTORCH_MIRROR + f, "md5", d) for f, d in _MD5.items()),
        (_find.RemoteFile("mnist.npz", _KERAS_NPZ, "sha256", _NPZ_SHA256),),
    ),
    files_hint=_mnist_like.FILES_HINT + ", or Keras' mnist.npz",
)


def load_data(path=None, *, download=True):
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))``, Keras' shapes and dtypes.

    Args:
        path: a folder with the idx files or ``mnist.npz``, or an ``.npz`` file (optional; see the
            module docstring for the search order when it is ``None``). Unlike Keras, where
            ``path`` names a file inside ``~/.keras/datasets``, here it is an ordinary path.
        download: set ``False`` to never touch the network (raise DataNotFoundError instead).

    Returns:
        x_train ``uint8 (60000, 28, 28)``, y_train ``uint8 (60000,)``,
        x_test ``uint8 (10000, 28, 28)``, y_test ``uint8 (10000,)``.
    """
    return _mnist_like.read_found(_find.locate(SPEC, path, allow_download=download))
