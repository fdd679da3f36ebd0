"""Checks at the API's edge (fit, evaluate, predict, train_on_batch): once per call, never in
the inner loop. Each failure names the argument, what was expected and what was received."""

import numpy as np

from .errors import ArgumentTypeError, DataError, ShapeError


def _describe_shape(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def standardize_inputs(model, x, where):
    """``x`` as a list of arrays in the model's dtype, one per model input, checked."""
    if x is None:
        raise DataError(f"{where}: x is required; received x=None")
    xs = list(x) if isinstance(x, (list, tuple)) and len(model.inputs) > 1 else [x]
    if len(xs) != len(model.inputs):
        raise ShapeError(f"{where}: the model has {len(model.inputs)} inputs; received {len(xs)} arrays")
    out = []
    for tensor, value in zip(model.inputs, xs):
        name = tensor.layer.name
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise DataError(f"{where}: x for input {name!r} is not a rectangular numeric array ({err})") from None
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise ArgumentTypeError(f"{where}: x for input {name!r} must be numeric; received an array of dtype {array.dtype}")
        expected = tensor.shape
        if array.ndim != len(expected):
            hint = ""
            if array.ndim == len(expected) - 1 and expected[-1] == 1 and array.shape[1:] == tuple(expected[1:-1]):
                hint = "; add the channel axis, e.g. x[..., None]"
            raise ShapeError(
                f"{where}: input {name!r} expects arrays of shape {_describe_shape(expected)}; received x of shape "
                f"{array.shape}{hint}")
        if array.shape[0] == 0:
            raise DataError(f"{where}: x is empty (0 samples); received shape {array.shape}")
        for axis, (want, got) in enumerate(zip(expected[1:], array.shape[1:]), start=1):
            if want is not None and want != got:
                what = "channels" if axis == len(expected) - 1 and len(expected) == 4 else f"size on axis {axis}"
                raise ShapeError(
                    f"{where}: input {name!r} expects {want} {what} (shape {_describe_shape(expected)}); "
                    f"received x of shape {array.shape}")
        array = np.asarray(array, dtype=tensor.dtype)
        if not np.isfinite(array).all():
            bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
            raise DataError(f"{where}: x contains {bad} NaN or infinite values; expected finite numbers")
        out.append(array)
    n = {a.shape[0] for a in out}
    if len(n) > 1:
        raise ShapeError(f"{where}: all inputs need the same number of samples; received {sorted(n)}")
    return out


def standardize_targets(model, y, n_samples, where):
    """``y`` checked against the number of samples and the compiled loss."""
    if y is None:
        raise DataError(f"{where}: y is required to compute the loss; received y=None")
    try:
        y = np.asarray(y)
    except (ValueError, TypeError) as err:
        raise DataError(f"{where}: y is not a rectangular numeric array ({err})") from None
    if y.ndim == 0:
        raise ShapeError(f"{where}: y must have one entry per sample; received a scalar")
    if y.shape[0] != n_samples:
        raise ShapeError(f"{where}: x and y must have the same number of samples; received x with {n_samples} and y with {y.shape[0]}")
    model.loss.check_targets(y, model.outputs[0].shape, owner=f"{where} ({model.loss.name})")
    return y
