"""Check a layer's (or model's) backward pass against central finite differences in float64.

    >>> import numpy as np, tichchap
    >>> layer = tichchap.layers.Conv2D(3, (2, 3), strides=2, padding="same")
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 6, 2))
    >>> errors = tichchap.utils.gradient_check(layer, x)
    >>> max(errors.values()) < 1e-6
    True

The upstream gradient is random, never all ones: the gradient of sum(softmax(x)) or of
sum(batchnorm(x)) is zero, so an all-ones check would pass a backward that returns zeros.
"""

import numpy as np

from ..errors import ArgumentTypeError


def numerical_gradient(f, x, eps=1e-6):
    """d f() / d x by central differences; ``x`` is perturbed in place and restored."""
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + eps
        plus = f()
        x[index] = old - eps
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * eps)
    return grad


#: Below this magnitude a gradient is at the level of finite-difference noise (a gradient that
#: is mathematically zero, e.g. a bias just before batch normalisation).
NOISE_FLOOR = 1e-7


def relative_error(analytic, numeric):
    """max |a - n| / max(max |a|, max |n|); the absolute difference when both gradients are
    below ``NOISE_FLOOR``."""
    analytic = np.asarray(analytic, dtype=np.float64)
    scale = max(np.max(np.abs(analytic), initial=0.0), np.max(np.abs(numeric), initial=0.0))
    difference = float(np.max(np.abs(analytic - numeric), initial=0.0))
    return difference if scale < NOISE_FLOOR else difference / scale


class _Target:
    """One interface over a layer or a model: forward, backward, weights, state to restore."""

    def __init__(self, obj):
        from ..layers.base import Layer
        from ..model import Model

        self.obj = obj
        if isinstance(obj, Model):
            obj._require_graph("be gradient-checked")
            self.layers = obj.layers
            self.is_model = True
        elif isinstance(obj, Layer):
            self.layers = [obj]
            self.is_model = False
        else:
            raise ArgumentTypeError(f"gradient_check: expected a Layer or a Model; received {type(obj).__name__}")

    def build(self, xs):
        if not self.is_model and not self.obj.built:
            layer = self.obj
            shapes = [(None,) + x.shape[1:] for x in xs]
            layer._dtype_arg = "float64"
            layer._build_once(shapes if layer.n_inputs != 1 else shapes[0])

    def forward(self, xs, training):
        if self.is_model:
            return self.obj.forward(xs, training=training)
        return [self.obj.forward(xs if self.obj.n_inputs != 1 else xs[0], training=training)]

    def backward(self, dys):
        if self.is_model:
            return self.obj.backward(dys, input_grads=True)
        self.obj._need_input_grad = True
        dx = self.obj.backward(dys[0])
        return list(dx) if self.obj.n_inputs != 1 else [dx]

    def weights(self):
        return [(layer, name) for layer in self.layers for name in layer.trainable_weight_names]


def gradient_check(layer_or_model, inputs, upstream=None, training=True, eps=1e-6, seed=0):
    """Compare backward with finite differences in float64.

    ``inputs``: an array (or a list for several inputs). ``upstream``: the gradient arriving
    at the output(s); random normal (seeded) when None. The objective differenced is
    sum(output * upstream). Returns ``{name: max relative error}`` for every input
    (``input``, or ``input_0``, ...) and every trainable weight (``kernel``, or
    ``layer/kernel`` for a model). Weights and random states are restored afterwards.
    """
    target = _Target(layer_or_model)
    xs = [np.array(x, dtype=np.float64) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    target.build(xs)
    saved = [(layer, layer.dtype, {n: getattr(layer, n).copy() for n in layer.weight_names}) for layer in target.layers]
    for layer in target.layers:
        if layer.weight_names:
            layer.cast_weights(np.float64)
        elif layer.dtype is not None:
            layer.dtype = "float64"
    rngs = {id(layer): layer.rng.bit_generator.state for layer in target.layers if hasattr(layer, "rng")}
    state = {(id(layer), n): getattr(layer, n).copy() for layer in target.layers
             for n in layer.weight_names if n not in layer.trainable_weight_names}

    def reset():
        # Each forward must see the same dropout mask and the same moving statistics.
        for layer in target.layers:
            if id(layer) in rngs:
                layer.rng.bit_generator.state = rngs[id(layer)]
            for n in layer.weight_names:
                if (id(layer), n) in state:
                    getattr(layer, n)[...] = state[(id(layer), n)]

    try:
        reset()
        outs = target.forward(xs, training)
        if upstream is None:
            rng = np.random.default_rng(seed)
            dys = [rng.standard_normal(o.shape) for o in outs]
        else:
            dys = [np.asarray(u, dtype=np.float64) for u in (upstream if isinstance(upstream, (list, tuple)) else [upstream])]

        def objective():
            reset()
            return float(sum(np.sum(o * d) for o, d in zip(target.forward(xs, training), dys)))

        reset()
        target.forward(xs, training)
        dxs = target.backward(dys)
        analytic_weights = {(id(l), n): np.array(l.grads[n]) for l, n in target.weights()}
        errors = {}
        for i, (x, dx) in enumerate(zip(xs, dxs)):
            name = "input" if len(xs) == 1 else f"input_{i}"
            errors[name] = relative_error(dx, numerical_gradient(objective, x, eps))
        for layer, n in target.weights():
            name = f"{layer.name}/{n}" if target.is_model else n
            errors[name] = relative_error(analytic_weights[(id(layer), n)], numerical_gradient(objective, getattr(layer, n), eps))
        return errors
    finally:
        for layer, dtype, weights in saved:
            if dtype is not None and weights:
                layer.cast_weights(dtype)
                for n, value in weights.items():
                    getattr(layer, n)[...] = value
            elif dtype is not None:
                layer.dtype = dtype
        for layer in target.layers:
            if id(layer) in rngs:
                layer.rng.bit_generator.state = rngs[id(layer)]
