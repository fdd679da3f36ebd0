"""A small real sample of Fashion-MNIST shipped inside the package: works with no data, no network.

7,000 images drawn from the official files, stratified: 600 of each class from the training set
(6,000) and 100 of each class from the test set (1,000), with a fixed seed, kept in their original
order. They are stored as the official idx gz files in ``tichchap/datasets/data/
fashion_mnist_sample/`` and read by the same reader as the full data set; rebuild them with
``python -m tichchap.datasets.make_sample``.

::

    (x_train, y_train), (x_test, y_test) = fashion_mnist_sample.load_data()
    # x_train uint8 (6000, 28, 28), y_train uint8 (6000,), x_test (1000, 28, 28), y_test (1000,)

Loading it issues a :class:`SampleDataWarning` (a ``UserWarning``), once per process, saying that
this is a sample and not the full data set. A warning rather than a print or a log record because
that is how Keras tells users about something that works but may not be what they meant: it shows
by default, can be silenced precisely (``warnings.filterwarnings("ignore",
category=SampleDataWarning)``), can be turned into an error in tests, and pytest reports it.
Accuracies measured on the sample are not comparable with published Fashion-MNIST results.
"""

import os
import warnings

from tichchap.datasets import _mnist_like
from tichchap.datasets.fashion_mnist import CLASS_NAMES  # noqa: F401  (same classes)
from tichchap.errors import DataNotFoundError, describe

NAME = "fashion_mnist_sample"
TRAIN_SIZE = 6000
TEST_SIZE = 1000
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                          "fashion_mnist_sample")


class SampleDataWarning(UserWarning):
    """The embedded sample was loaded in place of a full data set."""


_warned = False


def load_data():
    """Load the embedded sample as ``((x_train, y_train), (x_test, y_test))``, uint8, Keras' shapes.

    Warns once per process (:class:`SampleDataWarning`) that this is a 7,000-image sample.
    """
    global _warned
    files = {key: os.path.join(SAMPLE_DIR, base + ".gz") for key, base in _mnist_like.IDX_FILES}
    missing = [path for path in files.values() if not os.path.isfile(path)]
    if missing:
        raise DataNotFoundError(describe(
            "fashion_mnist_sample: the embedded sample files are missing from the installed "
            "package (reinstall tichchap, or rebuild them with python -m "
            "tichchap.datasets.make_sample)", "the four idx gz files in " + SAMPLE_DIR,
            "missing " + ", ".join(os.path.basename(p) for p in missing)))
    data = _mnist_like.read_idx_set(files)
    if not _warned:
        _warned = True
        warnings.warn(
            f"fashion_mnist_sample: this is the embedded 7,000-image sample of Fashion-MNIST "
            f"({TRAIN_SIZE} train, {TEST_SIZE} test, balanced classes), not the full 70,000-image "
            f"data set; use tichchap.datasets.fashion_mnist.load_data() for the full one",
            SampleDataWarning, stacklevel=2)
    return data
