"""The layer contract and the symbolic tensors that wire layers into a graph.

A layer knows its config, builds its weights from the input shape, and has
``forward(x, training)`` and ``backward(dy) -> dx``. ``backward`` fills ``layer.grads`` (one
array per trainable weight name) and returns the gradient for its input (a list for layers with
several inputs). Shapes given to ``build`` and ``compute_output_shape`` include the batch axis as
``None``, as in Keras.
"""

import itertools

import numpy as np

from .. import config as _config
from ..errors import ArgumentTypeError, ConfigError, ShapeError, describe
from ..utils.naming import to_snake_case, unique_name

# Keras config keys we accept only at the value that leaves the maths unchanged.
_NEUTRAL_OPTIONS = {
    "data_format": ("channels_last", None),
    "dilation_rate": (1, (1, 1), [1, 1]),
    "groups": (1,),
    "kernel_regularizer": (None,), "bias_regularizer": (None,), "activity_regularizer": (None,),
    "depthwise_regularizer": (None,), "pointwise_regularizer": (None,),
    "beta_regularizer": (None,), "gamma_regularizer": (None,),
    "kernel_constraint": (None,), "bias_constraint": (None,), "depthwise_constraint": (None,),
    "pointwise_constraint": (None,), "beta_constraint": (None,), "gamma_constraint": (None,),
    "noise_shape": (None,), "synchronized": (False,), "renorm": (False,), "fused": (None, True, False),
    "lora_rank": (None,), "lora_alpha": (None,), "quantization_config": (None,),
}
# Keras config keys that carry no meaning for a NumPy model.
_IGNORED_KEYS = {"autocast", "batch_size", "build_config", "input_dim", "virtual_batch_size",
                 "adjustment", "renorm_clipping", "renorm_momentum", "sparse", "ragged"}

_tensor_ids = itertools.count()


class KerasTensor:
    """A symbolic tensor: its shape (batch axis ``None``), dtype, the layer that made it and the
    tensors that layer was called on. Creation order is a topological order of the graph."""

    def __init__(self, shape, dtype, layer, inputs):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.layer = layer
        self.inputs = list(inputs)
        self.id = next(_tensor_ids)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def name(self):
        return self.layer.name

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.layer.name}>"


def _as_tensor_list(inputs):
    if isinstance(inputs, KerasTensor):
        return [inputs], False
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(t, KerasTensor) for t in inputs):
        return list(inputs), True
    return None, None


class Layer:
    #: the number of inputs a layer takes: 1, or None for a list (Add, Concatenate)
    n_inputs = 1
    #: whether training on parts of a batch, each on a copy of the layer, is training on the whole
    #: batch: each sample's output and gradients depend on that sample alone (not so for batch
    #: norm's batch statistics), its randomness drawn for the whole batch first
    #: (:meth:`draw_batch_noise`). A training step may then split its batch over the threads
    #: (tichchap.training).
    per_sample_in_training = True
    #: a part of a split training batch: its rows of what :meth:`draw_batch_noise` drew
    batch_noise = None

    def draw_batch_noise(self, input_shape, dtype):
        """The randomness a training forward pass on an input of ``input_shape`` would draw, drawn
        now, as that pass would, for a training step that splits its batch (each part's copy of
        the layer then gets its rows as ``batch_noise``); None for a layer without any."""
        return None

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, batch_input_shape=None, **kwargs):
        self._check_options(kwargs)
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        if isinstance(dtype, dict):  # a Keras DTypePolicy config
            dtype = (dtype.get("config") or {}).get("name")
        self._dtype_arg = None if dtype in (None, "mixed_float16", "mixed_bfloat16") else np.dtype(dtype).name
        self.dtype = None
        self.built = False
        self._weight_names = []
        self._trainable_names = []
        self.grads = {}
        self.input = None
        self.output = None
        self._need_input_grad = True
        # Keras 2 style: the first layer of a Sequential may say its input shape.
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None

    def _check_options(self, kwargs):
        for key, value in kwargs.items():
            if key in _IGNORED_KEYS:
                continue
            if key in _NEUTRAL_OPTIONS:
                allowed = _NEUTRAL_OPTIONS[key]
                normal = tuple(value) if isinstance(value, list) else value
                if normal in allowed or (isinstance(normal, tuple) and all(v == 1 for v in normal) and 1 in allowed):
                    continue
                raise ConfigError(
                    f"{type(self).__name__} (name={kwargs.get('name')}): option {key}={value!r} is not supported by "
                    f"tichchap; expected {allowed[0]!r}"
                )
            raise ArgumentTypeError(f"{type(self).__name__}: unexpected keyword argument {key!r}")

    # -- weights -----------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, trainable=True):
        """Create a weight array, store it as ``self.<name>`` and remember it in Keras' order."""
        value = np.ascontiguousarray(initializer(tuple(shape), self.dtype), dtype=self.dtype)
        setattr(self, name, value)
        self._weight_names.append(name)
        if trainable:
            self._trainable_names.append(name)
        return value

    @property
    def weight_names(self):
        return list(self._weight_names)

    @property
    def trainable_weight_names(self):
        return list(self._trainable_names) if self.trainable else []

    @property
    def weights(self):
        return [getattr(self, n) for n in self._weight_names]

    @property
    def trainable_weights(self):
        return [getattr(self, n) for n in self.trainable_weight_names]

    @property
    def non_trainable_weights(self):
        trainable = set(self.trainable_weight_names)
        return [getattr(self, n) for n in self._weight_names if n not in trainable]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Copy ``weights`` (Keras' order and shapes) into the layer; all are checked first."""
        weights = list(weights)
        if len(weights) != len(self._weight_names):
            raise ShapeError(describe(
                f"{self.name}: set_weights got the wrong number of arrays",
                f"{len(self._weight_names)} ({', '.join(self._weight_names)})", len(weights)))
        arrays = []
        for name, value in zip(self._weight_names, weights):
            value = np.asarray(value)
            current = getattr(self, name)
            if value.shape != current.shape:
                raise ShapeError(describe(f"{self.name}: weight {name!r} has the wrong shape", current.shape, value.shape))
            arrays.append(value)
        for name, value in zip(self._weight_names, arrays):
            getattr(self, name)[...] = value

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def cast_weights(self, dtype):
        """Convert every weight to ``dtype`` (used by gradient checks in float64)."""
        self.dtype = np.dtype(dtype).name
        for name in self._weight_names:
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))

    # -- building and shapes -----------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def _build_once(self, input_shape):
        if not self.built:
            self.dtype = self._dtype_arg or _config.floatx()
            self.build(input_shape)
            self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    @property
    def output_shape(self):
        if self.output is None:
            raise ShapeError(f"{self.name}: the layer has not been called on an input yet, so it has no output shape")
        return self.output.shape

    @property
    def input_shape(self):
        if self.input is None:
            raise ShapeError(f"{self.name}: the layer has not been called on an input yet, so it has no input shape")
        return [t.shape for t in self.input] if isinstance(self.input, list) else self.input.shape

    def check_input_shape(self, input_shape):
        """Raise a clear error when the layer cannot take inputs of ``input_shape``."""

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, inputs, training=False):
        tensors, is_list = _as_tensor_list(inputs)
        if tensors is None:  # eager call on arrays
            arrays = [np.asarray(x) for x in inputs] if isinstance(inputs, (list, tuple)) else np.asarray(inputs)
            shapes = [a.shape for a in arrays] if isinstance(arrays, list) else arrays.shape
            self.check_input_shape(shapes)
            self._build_once(shapes)
            return self.forward(arrays, training=training)
        if self.n_inputs == 1 and is_list:
            if len(tensors) != 1:
                raise ShapeError(f"{self.name}: {type(self).__name__} takes one input; received {len(tensors)}")
        shapes = [t.shape for t in tensors] if is_list and self.n_inputs != 1 else tensors[0].shape
        self.check_input_shape(shapes)
        self._build_once(shapes)
        out_shape = self.compute_output_shape(shapes)
        output = KerasTensor(out_shape, self.dtype, self, tensors)
        if self.output is None:
            self.input = tensors if (is_list and self.n_inputs != 1) else tensors[0]
            self.output = output
        return output

    def forward(self, x, training=False):
        raise NotImplementedError

    def forward_into_input(self, x):
        """Inference forward that may write its result over ``x``. The model calls it only when no
        one reads ``x`` afterwards and nothing will be differentiated. Elementwise layers override it
        (a pass over memory instead of a new array); the default is ``forward``."""
        return self.forward(x, training=False)

    #: Inference only: a layer with ``forward_after_relu(x)`` (= ``forward(max(x, 0))`` in fewer
    #: passes) lets the model skip a ReLU whose only reader it is (see Model.forward).
    forward_after_relu = None

    def backward(self, dy):
        raise NotImplementedError

    #: what forward keeps for backward (im2col matrices, inputs, masks); never the output or
    #: logits, which the loss may still read after an inference pass
    _CACHE_ATTRIBUTES = ("_cache", "_X", "_x_hat", "_mask", "_depthwise_cache", "_pointwise_cache", "_slope", "_argmax")

    def clear_cache(self):
        """Drop what forward kept for backward, so its memory is freed before the next batch."""
        for attr in self._CACHE_ATTRIBUTES:
            if getattr(self, attr, None) is not None:
                setattr(self, attr, None)

    # -- config ------------------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype or self._dtype_arg or _config.floatx()}
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class ActivationMixin:
    """For layers with ``activation=``: apply it after the linear part and differentiate it.

    ``logits`` keeps the pre-activation of the last forward pass when the activation needs it
    (softmax, sigmoid, tanh), so a cross-entropy loss can take the fused path; ReLU and linear
    are applied in place and keep nothing but their output.
    """

    def _activate(self, z):
        act = self.activation
        if act.name == "relu":
            self._z = None
            self._a = act.forward(z, out=z)
        elif act.name == "linear":
            self._z, self._a = None, z
        else:
            self._z = z
            self._a = act.forward(z)
        return self._a

    @property
    def logits(self):
        return self._z if self._z is not None else self._a

    def _activation_backward(self, dA):
        return self.activation.backward(dA, self._z, self._a)

    def backward(self, dy):
        return self.backward_linear(self._activation_backward(dy))

    def backward_logits(self, dZ):
        """Backward from the gradient with respect to the pre-activation (fused loss path)."""
        return self.backward_linear(dZ)

    def backward_linear(self, dZ):
        raise NotImplementedError


def as_pair(value, name, owner, allow_zero=False):
    """An int or a pair of ints as a pair, validated (Keras' ``standardize_tuple``)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ConfigError(f"{owner}: the {name} argument must be an int or a pair of ints; received {name}={value!r}")
    low = 0 if allow_zero else 1
    if min(pair) < low:
        raise ConfigError(f"{owner}: the {name} argument must be >= {low}; received {name}={value!r}")
    return pair


def check_padding(padding, owner):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ConfigError(f"{owner}: padding must be 'valid' or 'same'; received padding={padding!r}")
    return padding.lower()


def check_rank(layer, input_shape, rank, what="input"):
    if len(input_shape) != rank:
        raise ShapeError(describe(
            f"{layer.name}: {type(layer).__name__} needs a rank-{rank} {what} (batch, "
            + ("height, width, channels" if rank == 4 else "features" if rank == 2 else "...") + ")",
            f"{rank} dimensions", f"shape {tuple(input_shape)}"))


class InputLayer(Layer):
    """The entry of a graph; ``Input(shape)`` makes one and returns its tensor."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, input_shape=None,
                 batch_input_shape=None, **kwargs):
        kwargs.pop("sparse", None)
        kwargs.pop("ragged", None)
        if batch_shape is None and batch_input_shape is not None:
            batch_shape = batch_input_shape
        if shape is None and batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        if shape is None and input_shape is not None:
            shape = input_shape
        if shape is None:
            raise ConfigError("Input: a shape is required, e.g. Input(shape=(28, 28, 1)); received shape=None")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        shape = tuple(shape)
        if not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape):
            raise ConfigError(f"Input: every dimension of shape must be a positive int; received shape={shape!r}")
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype, **kwargs)
        self._dtype_arg = self._dtype_arg
        self.shape = tuple(int(d) for d in shape)
        self.dtype = self._dtype_arg or _config.floatx()
        self.built = True
        self.output = KerasTensor((None,) + self.shape, self.dtype, self, [])

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"batch_shape": (None,) + self.shape, "dtype": self.dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic input of per-sample ``shape`` (NHWC for images), as ``keras.Input``."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output
