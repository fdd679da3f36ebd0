"""Fashion-MNIST: 60,000 training and 10,000 test 28x28 grayscale images of 10 kinds of clothing.

``load_data()`` returns what ``keras.datasets.fashion_mnist.load_data()`` returns::

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    # x_train: uint8 (60000, 28, 28), y_train: uint8 (60000,), values 0..9
    # x_test:  uint8 (10000, 28, 28), y_test:  uint8 (10000,)

Files: the official idx files ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz`` (gzip or uncompressed).

Where they are looked for, in order:

1. ``path=``: a folder holding the four files (the only place looked when given);
2. ``$TICHCHAP_DATA/fashion_mnist/`` or ``$TICHCHAP_DATA/fashion-mnist/``;
3. ``~/.cache/tichchap/datasets/fashion_mnist/`` (the tichchap cache, ``$XDG_CACHE_HOME`` aware);
4. ``~/.keras/datasets/fashion-mnist/`` (Keras' cache, ``$KERAS_HOME`` aware);
5. ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist`` on Debian);
6. a download from Zalando's hosting (then the mirror Keras uses), each file checked against its
   published checksum and written atomically into the tichchap cache.

When none works, :class:`tichchap.errors.DataNotFoundError` lists each place and where to put
the files; a corrupt file raises :class:`tichchap.errors.FileFormatError` naming it. With no data
at all, :mod:`tichchap.datasets.fashion_mnist_sample` ships a 7,000-image sample in the package.

Fashion-MNIST is (c) Zalando SE, MIT license.
"""

from tichchap.datasets import _find, _mnist_like

NAME = "fashion_mnist"

#: Label index -> class name, as the data set's authors name them.
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

_ZALANDO = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_KERAS_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# md5: published in the data set's README; sha256: of the same files, as Keras checks them.
_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
_SHA256 = {
    "train-images-idx3-ubyte.gz":
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz":
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz":
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz":
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

SPEC = _find.DatasetSpec(
    name=NAME,
    folder_names=("fashion_mnist", "fashion-mnist"),
    keras_entries=("fashion-mnist",),
    find=_mnist_like.find_idx_folder,
    downloads=(
        tuple(_find.RemoteFile(f, _ZALANDO + f, "md5", d) for f, d in _MD5.items()),
        tuple(_find.RemoteFile(f, _KERAS_MIRROR + f, "sha256", d) for f, d in _SHA256.items()),
    ),
    files_hint=_mnist_like.FILES_HINT,
)


def load_data(path=None, *, download=True):
    """Load Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``, Keras' shapes and dtypes.

    Args:
        path: a folder with the four idx files (optional; see the module docstring for the
            search order when it is ``None``).
        download: set ``False`` to never touch the network (raise DataNotFoundError instead).

    Returns:
        x_train ``uint8 (60000, 28, 28)``, y_train ``uint8 (60000,)``,
        x_test ``uint8 (10000, 28, 28)``, y_test ``uint8 (10000,)``.
    """
    return _mnist_like.read_found(_find.locate(SPEC, path, allow_download=download))
