"""Layer-by-layer agreement between tichchap and Keras on the same model file.

``compare_with_keras(keras_file, inputs)`` loads the file in both (tichchap through h5py, Keras
itself), runs both on ``inputs`` and reports, for every layer, the largest absolute difference,
the largest difference in units in the last place (ULP) and whether it is within tolerance, naming
the first position that is not (as frugally-deep's test reports do). When Keras is not installed
it raises :class:`KerasUnavailableError` (an ``ImportError``) saying so: a comparison without the
reference would be meaningless, and a silent "skipped" result is easy to mistake for a pass.

``compare_outputs(model, reference, inputs)`` does the same against reference outputs you already
have (a dict layer name -> array, e.g. stored once from Keras in an ``.npz``): no Keras needed.

Example::

    result = compare_with_keras("model.keras", x)   # needs keras installed
    print(result)                                   # one line per layer
    assert result.passed, result.first_failure
"""

import dataclasses

import numpy as np

from .errors import ShapeError, TichchapError


class KerasUnavailableError(TichchapError, ImportError):
    """Keras (with a backend such as TensorFlow) is not importable, so nothing can be compared."""


@dataclasses.dataclass
class LayerComparison:
    """How one layer's output compares: ours vs the reference."""
    name: str
    class_name: str
    shape: tuple
    max_abs_difference: float
    max_ulp_difference: int
    passed: bool
    #: (index tuple incl. batch axis, our value, reference value) of the first value out of
    #: tolerance in C order; None when the layer passed
    first_failure: tuple = None

    def __str__(self):
        verdict = "ok  " if self.passed else "FAIL"
        text = (f"{verdict} {self.name:<28} {self.class_name:<22} {str(self.shape):<20} "
                f"max|diff|={self.max_abs_difference:.3g}  max ULP={self.max_ulp_difference}")
        if self.first_failure is not None:
            index, ours, theirs = self.first_failure
            text += f"  first failure at {index}: {ours!r} vs {theirs!r}"
        return text


@dataclasses.dataclass
class Comparison:
    """Per-layer results in the model's layer order, and the tolerance used."""
    layers: list
    atol: float
    rtol: float
    reference: str

    @property
    def passed(self):
        return all(layer.passed for layer in self.layers)

    @property
    def first_failing_layer(self):
        return next((layer for layer in self.layers if not layer.passed), None)

    @property
    def first_failure(self):
        """'layer name at index: ours vs reference' for the first failing layer, or None."""
        layer = self.first_failing_layer
        if layer is None:
            return None
        index, ours, theirs = layer.first_failure
        return f"{layer.name} ({layer.class_name}) at {index}: {ours!r} vs {theirs!r}"

    def __getitem__(self, name):
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def __str__(self):
        head = f"tichchap vs {self.reference} (atol={self.atol:g}, rtol={self.rtol:g}): " \
               f"{'PASSED' if self.passed else 'FAILED'}"
        return "\n".join([head] + [str(layer) for layer in self.layers])


def ulp_difference(a, b):
    """Elementwise distance in units in the last place between two float arrays of one dtype:
    the number of representable floats between them (0 when equal; +0 and -0 are equal)."""
    a = np.asarray(a)
    b = np.asarray(b)
    dtype = np.result_type(a, b)
    if dtype == np.float64:
        int_type, wide = np.int64, object
    else:
        dtype, int_type, wide = np.dtype(np.float32), np.int32, np.int64
    ia = np.ascontiguousarray(a, dtype=dtype).view(int_type).astype(wide)
    ib = np.ascontiguousarray(b, dtype=dtype).view(int_type).astype(wide)
    # Sign-magnitude bit patterns to a monotonic integer line.
    lowest = int(np.iinfo(int_type).min)
    ia = np.where(ia < 0, lowest - ia, ia)
    ib = np.where(ib < 0, lowest - ib, ib)
    return np.abs(ia - ib)


def compare_arrays(name, class_name, ours, reference, atol=1e-5, rtol=0.0):
    """One :class:`LayerComparison` for two arrays of the same shape."""
    ours = np.asarray(ours)
    reference = np.asarray(reference)
    if ours.shape != reference.shape:
        raise ShapeError(f"{name}: output shapes differ; expected the reference's {reference.shape}; "
                         f"received {ours.shape}")
    if ours.size == 0:
        return LayerComparison(name, class_name, ours.shape[1:], 0.0, 0, True)
    diff = np.abs(ours.astype(np.float64) - reference.astype(np.float64))
    bad = ~(diff <= atol + rtol * np.abs(reference.astype(np.float64)))  # NaN counts as bad
    ulps = ulp_difference(ours, reference.astype(ours.dtype if ours.dtype.kind == "f" else np.float32))
    first = None
    if bad.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
        first = (index, ours[index].item(), reference[index].item())
    return LayerComparison(name=name, class_name=class_name, shape=tuple(ours.shape[1:]),
                           max_abs_difference=float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan"),
                           max_ulp_difference=int(ulps.max()), passed=not bad.any(), first_failure=first)


def layer_outputs(model, inputs, names=None, batch_size=32):
    """{layer name: output array} of a tichchap model on ``inputs`` (inference mode), through a
    sub-model that shares the model's weights."""
    from .model import Model
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if names is not None:
        wanted = set(names)
        layers = [layer for layer in layers if layer.name in wanted]
    if not layers:
        return {}
    probe = Model(model.inputs, [layer.output for layer in layers])
    outs = probe.predict(inputs, batch_size=batch_size)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {layer.name: np.asarray(out) for layer, out in zip(layers, outs)}


def compare_outputs(model, reference, inputs, atol=1e-5, rtol=0.0, reference_name="reference"):
    """Compare every tichchap layer of ``model`` whose name is a key of ``reference`` (a dict or
    an ``np.load``-ed npz: layer name -> output on ``inputs``). Layers missing from the reference
    are skipped; a reference name the model lacks raises ShapeError."""
    reference_names = [n for n in reference.keys() if not n.startswith("__")]
    model_names = {layer.name for layer in model.layers}
    unknown = [n for n in reference_names if n not in model_names]
    if unknown:
        raise ShapeError(f"the reference has outputs for layers the model lacks; expected names among "
                         f"{sorted(model_names)}; received {unknown}")
    ours = layer_outputs(model, inputs, names=reference_names)
    results = []
    for layer in model.layers:
        if layer.name in ours:
            results.append(compare_arrays(layer.name, type(layer).__name__, ours[layer.name],
                                          np.asarray(reference[layer.name]), atol=atol, rtol=rtol))
    return Comparison(layers=results, atol=atol, rtol=rtol, reference=reference_name)


def _import_keras():
    try:
        import keras
    except ImportError as exc:
        raise KerasUnavailableError(
            "compare_with_keras needs Keras (with TensorFlow, JAX or PyTorch as its backend), which is not "
            "installed here; install it in a separate environment (pip install tensorflow-cpu), or compare "
            "against stored reference outputs with tichchap.verify.compare_outputs") from exc
    return keras


def keras_layer_outputs(keras_model, inputs, keras_module):
    """{layer name: output} of a real Keras model on ``inputs`` (inference mode)."""
    layers = [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    probe = keras_module.Model(keras_model.inputs, [layer.output for layer in layers])
    outs = probe.predict(inputs, verbose=0)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {layer.name: np.asarray(out) for layer, out in zip(layers, outs)}


def compare_with_keras(keras_file, inputs, atol=1e-5, rtol=0.0):
    """Load ``keras_file`` (.keras or .h5) in tichchap and in Keras, run both on ``inputs`` and
    return a :class:`Comparison`: per layer max |difference|, max ULP difference, pass/fail
    (``|ours - keras| <= atol + rtol * |keras|``) and the first failing position.

    Raises :class:`KerasUnavailableError` when Keras is not importable.
    """
    keras = _import_keras()
    from .saving.keras_format import load_keras_model
    inputs = np.asarray(inputs, dtype=np.float32)
    model = load_keras_model(keras_file)
    keras_model = keras.saving.load_model(keras_file, compile=False)
    reference = keras_layer_outputs(keras_model, inputs, keras)
    return compare_outputs(model, reference, inputs, atol=atol, rtol=rtol,
                           reference_name=f"Keras {keras.__version__}")
