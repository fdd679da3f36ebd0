"""Data sets with Keras' loaders: ``mnist``, ``fashion_mnist``, ``cifar10``, plus the embedded
``fashion_mnist_sample`` that works with no data and no network.

Each module has ``load_data(path=None)`` returning ``((x_train, y_train), (x_test, y_test))``
with Keras' shapes and dtypes, and ``CLASS_NAMES``. See :mod:`tichchap.datasets._find` for where
files are looked for (explicit path, ``$TICHCHAP_DATA``, ``~/.cache/tichchap``, ``~/.keras``,
``/usr/share/datasets``, then a checked download).

Example::

    from tichchap.datasets import fashion_mnist
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
"""

from tichchap.datasets import cifar10, fashion_mnist, fashion_mnist_sample, mnist
from tichchap.errors import ConfigError, describe

_MODULES = {
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "fashion_mnist_sample": fashion_mnist_sample,
    "cifar10": cifar10,
}
#: The names :func:`load` accepts.
NAMES = tuple(_MODULES)


def get_module(name):
    """The module of data set ``name`` (for its ``CLASS_NAMES`` and ``load_data``)."""
    key = name.replace("-", "_").lower() if isinstance(name, str) else name
    if key not in _MODULES:
        raise ConfigError(describe("tichchap.datasets: unknown data set name",
                                   "one of " + ", ".join(repr(n) for n in NAMES), repr(name)))
    return _MODULES[key]


def load(name, path=None, *, download=True):
    """Load data set ``name`` ("mnist", "fashion_mnist", "fashion_mnist_sample", "cifar10").

    Returns ``((x_train, y_train), (x_test, y_test))`` as the module's ``load_data`` does.
    ``path`` and ``download`` are passed on; the embedded sample takes neither (a ``path`` given
    for it is a ConfigError, ``download`` is ignored: it never downloads).
    """
    module = get_module(name)
    if module is fashion_mnist_sample:
        if path is not None:
            raise ConfigError(describe(
                "tichchap.datasets.load: fashion_mnist_sample is embedded in the package and "
                "takes no path", "path=None (or name='fashion_mnist' to read files at a path)",
                repr(path)))
        return module.load_data()
    return module.load_data(path, download=download)


def class_names(name):
    """``CLASS_NAMES`` of data set ``name``."""
    return get_module(name).CLASS_NAMES


__all__ = ["cifar10", "fashion_mnist", "fashion_mnist_sample", "mnist", "load", "class_names",
           "get_module", "NAMES"]
