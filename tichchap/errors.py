"""The exceptions tichchap raises on purpose.

Every one subclasses ``ValueError`` or ``TypeError`` so that ``except ValueError`` works as users
of Keras and NumPy expect. Messages follow one form: what is wrong; what was expected; what was
received -- naming the layer, argument or file involved.
"""


class TichchapError(Exception):
    """Base class of every error tichchap raises on purpose."""


class ConfigError(TichchapError, ValueError):
    """An argument has a value that is not allowed (a kernel size of 0, an unknown padding)."""


class ArgumentTypeError(TichchapError, TypeError):
    """An argument has the wrong type (a string where a number is needed)."""


class ShapeError(TichchapError, ValueError):
    """An array's rank, shape or channel count does not fit the layer or model."""


class DataError(TichchapError, ValueError):
    """Input values are unusable: NaN or inf, empty, labels that do not fit the loss."""


class NotBuiltError(TichchapError, ValueError):
    """A model or layer is used before it was built or compiled."""


class FileFormatError(TichchapError, ValueError):
    """A file is truncated, corrupt or not of the expected format."""


class DataNotFoundError(TichchapError, FileNotFoundError, ValueError):
    """A data set or model file could not be found anywhere it was looked for."""


class TrainingError(TichchapError, ValueError):
    """Training cannot go on (a NaN or infinite loss)."""


def describe(what, expected=None, received=None):
    """Build a message in the project's form: ``what; expected ...; received ...``."""
    parts = [what]
    if expected is not None:
        parts.append(f"expected {expected}")
    if received is not None:
        parts.append(f"received {received}")
    return "; ".join(parts)
