"""The golden model: a tichchap model run in a hardware datapath's exact arithmetic.

    >>> import numpy as np, tichchap
    >>> from tichchap import layers
    >>> from tichchap.hardware import Fixed, GoldenModel
    >>> model = tichchap.Sequential([tichchap.Input((6, 5, 2)), layers.Conv2D(3, 3, padding="same", activation="relu"),
    ...                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(2, activation="softmax")])
    >>> golden = GoldenModel(model, Fixed(16, 6, rounding="RND", overflow="SAT"))
    >>> words = golden.run(np.random.default_rng(0).normal(size=(1, 6, 5, 2)))
    >>> sorted(words), words["dense"].dtype
    (['conv2d', 'dense', 'flatten', 'input_layer', 'max_pooling2d'], dtype('uint64'))

What runs, layer by layer (``model.layers`` in topological order):

- Conv2D, DepthwiseConv2D, Dense: the word kernels of :mod:`tichchap.hardware.kernels`, with
  'same' padding feeding real zero words through the units; ``activation="relu"`` is applied to
  the words. Dense on a rank > 2 input acts on the last axis.
- BatchNormalization right after a Conv2D / DepthwiseConv2D / Dense with a linear activation (and
  feeding nothing else) is *folded* into it: in float64, ``W' = W * g`` and
  ``b' = (b - moving_mean) * g + beta`` with ``g = gamma / sqrt(moving_variance + epsilon)`` per
  output channel; then ``W'`` and ``b'`` are quantised. The folded layer's words are filed under the
  BatchNormalization's name (its float output is what they approximate); the convolution's name
  is an alias of the same step. A BatchNormalization anywhere else raises ConfigError.
- MaxPooling2D / GlobalMaxPooling2D (the format's comparator), AveragePooling2D /
  GlobalAveragePooling2D (Fixed only: exact window sum, one rounded division), Flatten (NHWC order,
  as Keras with channels_last), Reshape, ZeroPadding2D (zero words), ReLU and Activation("relu"),
  Dropout and Activation("linear") as the identity, Add (floats: the format's adder in input order;
  Fixed: exact sum, one cast), Concatenate.
- Softmax or sigmoid on a model output (a layer's ``activation`` or an Activation layer) is done in
  software, in float64 (:meth:`GoldenModel.predict`), as SEED_RTL.md's accelerator does: the words
  of that layer are its linear outputs. Anywhere else, an activation other than relu/linear raises
  ConfigError, and so does every other layer class (naming the layer and its class).

Formats: the model input, every weight, bias and output is in ``number_format`` unless
``layer_formats`` names a layer: ``{name: Fixed(...)}`` (weights, bias and output of that layer)
or ``{name: {"weight": ..., "bias": ..., "output": ..., "accumulator": ...}}`` (missing keys take
the defaults); the model input's format is set under the InputLayer's name (key "output"). A layer
reads its input in the format of the layer feeding it. The Fixed accumulator defaults to exact
(never overflows, as hls4ml's ``auto``); rounding and overflow happen once, in the cast to the
output format, and each layer counts the values that wrapped or saturated (:attr:`overflows`).
A pass-through layer given another output format casts its words (Fixed only).

Reduction order (``policy``): a :class:`~tichchap.hardware.kernels.ReductionPolicy` for every
Conv2D / Dense, or ``{layer name: policy}``. The default is SEED_RTL.md's datapath: convolutions
``SEED_CONV`` (per-channel adder trees over the taps, a pairwise tree over channels, bias last),
dense layers ``SEED_DENSE`` (sequential, bias first); with TruncatedFloat32 the first convolution,
when it has 3 input channels, uses ``SEED_FIRST_CONV`` (the design's B, G, R channel order).
With an exact Fixed accumulator the order cannot change a result.
"""

import json
import os
import re
import sys
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ShapeError
from ..utils.fileio import atomic_write
from . import kernels
from .formats import Fixed, NumberFormat, TruncatedFloat32
from .kernels import SEED_CONV, SEED_DENSE, SEED_FIRST_CONV, ReductionPolicy
from .memfiles import FILE_FORMATS, export_words, import_manifest, import_words

__all__ = ["GoldenModel", "LayerFormats", "softmax", "read_dumps", "load_exported", "file_stem"]

_FORMAT_KEYS = ("weight", "bias", "output", "accumulator")
_SOFTWARE_ACTIVATIONS = ("softmax", "sigmoid")


@dataclass(frozen=True)
class LayerFormats:
    """The formats of one layer: weights, bias, output words and (Fixed) accumulator (None: exact)."""

    weight: NumberFormat
    bias: NumberFormat
    output: NumberFormat
    accumulator: NumberFormat = None


@dataclass
class _Step:
    """One unit of golden computation: usually one layer, or a Conv/Dense with its folded BN."""

    name: str                    # the name its words are filed under
    layer: object                # the layer doing the arithmetic
    kind: str
    inputs: list                 # names of the steps feeding it
    covers: list                 # the model's layer names this step computes
    input_formats: list = None
    formats: LayerFormats = None
    relu: bool = False
    software_activation: str = None
    policy: ReductionPolicy = None
    float_kernel: np.ndarray = None
    float_bias: np.ndarray = None
    kernel: np.ndarray = None    # words
    bias: np.ndarray = None      # words or None
    options: dict = field(default_factory=dict)


def softmax(z, axis=-1):
    """Softmax in float64 (the software end of the network)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(z):
    z = np.asarray(z, dtype=np.float64)
    return 0.5 * (1 + np.tanh(0.5 * z))


def file_stem(name):
    """A layer name made safe as a file name (letters, digits, '_', '-', '.')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))


def _class(layer):
    return type(layer).__name__


class GoldenModel:
    """A tichchap model in a chosen arithmetic; see the module docstring for what runs and how.

    Args:
        model: a built tichchap ``Sequential`` or functional ``Model`` with one input.
        number_format: ``Float32()``, ``TruncatedFloat32()`` or ``Fixed(...)``.
        layer_formats: per-layer formats, ``{name: NumberFormat or {"weight", "bias", "output",
            "accumulator"}}``.
        policy: a ``ReductionPolicy`` for every Conv2D/Dense, or ``{name: ReductionPolicy}``.

    Attributes:
        steps: the computation, one record per output name, in order.
        overflows: ``{name: count}`` of values that wrapped or saturated in the last run (the
            input's quantisation is counted under the input's name).
        weight_overflows: ``{name: count}`` of weights and biases that overflowed when quantised.
    """

    def __init__(self, model, number_format, layer_formats=None, policy=None):
        if not isinstance(number_format, NumberFormat):
            raise ConfigError(f"GoldenModel: number_format must be Float32(), TruncatedFloat32() or Fixed(...); "
                              f"received {number_format!r}")
        if len(getattr(model, "inputs", []) or []) != 1:
            raise ConfigError(f"GoldenModel: expected a built model with exactly one input; received "
                              f"{getattr(model, 'name', model)!r} with {len(getattr(model, 'inputs', []) or [])} inputs")
        self.model = model
        self.number_format = number_format
        self.input_name = model.inputs[0].layer.name
        self.input_shape = tuple(model.inputs[0].shape)
        self._layer_format_specs = dict(layer_formats or {})
        self._policy_spec = policy
        known = {layer.name for layer in model.layers} | {self.input_name}
        unknown = sorted(set(self._layer_format_specs) - known)
        if unknown:
            raise ConfigError(f"GoldenModel: layer_formats names layers that are not in the model; expected names "
                              f"among {sorted(known)}; received {unknown}")
        if isinstance(policy, dict):
            unknown = sorted(set(policy) - known)
            if unknown:
                raise ConfigError(f"GoldenModel: policy names layers that are not in the model; received {unknown}")
        elif policy is not None and not isinstance(policy, ReductionPolicy):
            raise ConfigError(f"GoldenModel: policy must be a ReductionPolicy or a dict of them by layer name; "
                              f"received {policy!r}")
        input_spec = self._layer_format_specs.get(self.input_name)
        self.input_format = self._formats_for(self.input_name, input_spec, number_format, "InputLayer").output
        self.overflows = {}
        self.weight_overflows = {}
        self._last_words = None
        self._build_steps()

    # ------------------------------------------------------------------ graph -> steps
    def _formats_for(self, name, spec, default_output, class_name):
        fmt = self.number_format
        if spec is None:
            formats = LayerFormats(fmt, fmt, default_output, None)
        elif isinstance(spec, LayerFormats):
            formats = spec
        elif isinstance(spec, NumberFormat):
            formats = LayerFormats(spec, spec, spec, None)
        elif isinstance(spec, dict):
            spec = {("output" if k == "activation" else k): v for k, v in spec.items()}
            bad = sorted(set(spec) - set(_FORMAT_KEYS))
            if bad:
                raise ConfigError(f"{name}: layer_formats keys must be among {_FORMAT_KEYS}; received {bad}")
            formats = LayerFormats(spec.get("weight", fmt), spec.get("bias", fmt), spec.get("output", default_output),
                                   spec.get("accumulator"))
        else:
            raise ConfigError(f"{name}: layer_formats entry must be a NumberFormat or a dict of them; received {spec!r}")
        for key in _FORMAT_KEYS:
            value = getattr(formats, key)
            if value is None:
                continue
            if not isinstance(value, NumberFormat):
                raise ConfigError(f"{name} ({class_name}): layer_formats[{key!r}] must be a NumberFormat; "
                                  f"received {value!r}")
            if isinstance(fmt, Fixed) != isinstance(value, Fixed) or (not isinstance(fmt, Fixed) and value != fmt):
                raise ConfigError(f"{name} ({class_name}): a float datapath uses one format and Fixed layers only Fixed "
                                  f"formats; expected {'a Fixed format' if isinstance(fmt, Fixed) else repr(fmt)} for "
                                  f"{key}; received {value!r}")
        return formats

    def _default_policy(self, kind, c_in):
        if kind == "dense":
            return SEED_DENSE
        if isinstance(self.number_format, TruncatedFloat32) and c_in == 3 and not self._seen_conv:
            return SEED_FIRST_CONV
        return SEED_CONV

    def _policy_for(self, name, kind, c_in):
        spec = self._policy_spec
        if isinstance(spec, ReductionPolicy):
            return spec
        if isinstance(spec, dict) and name in spec:
            if not isinstance(spec[name], ReductionPolicy):
                raise ConfigError(f"{name}: policy must be a ReductionPolicy; received {spec[name]!r}")
            return spec[name]
        return self._default_policy(kind, c_in)

    def _build_steps(self):
        model = self.model
        output_names = {t.layer.name for t in model.outputs}
        layers = [layer for layer in model.layers if layer.name != self.input_name]
        consumers = {}
        for layer in layers:
            for src in model.inbound_layers(layer):
                consumers[src.name] = consumers.get(src.name, 0) + 1
        self.steps = []
        self._by_name = {}
        self.aliases = {self.input_name: self.input_name}     # model layer name -> step name
        self._output_format = {self.input_name: self.input_format}
        self._seen_conv = False
        for layer in layers:
            inbound = [self.aliases[src.name] for src in model.inbound_layers(layer)]
            in_formats = [self._output_format[n] for n in inbound]
            cls = _class(layer)
            spec = self._layer_format_specs.get(layer.name)
            if cls == "BatchNormalization":
                self._fold_batch_norm(layer, inbound, consumers, spec)
                continue
            step = self._make_step(layer, cls, inbound, in_formats, spec, layer.name in output_names)
            self.steps.append(step)
            self._by_name[step.name] = step
            self.aliases[layer.name] = step.name
            self._output_format[step.name] = step.formats.output
        for step in self.steps:
            if step.float_kernel is not None:
                self._quantise_weights(step)

    def _make_step(self, layer, cls, inbound, in_formats, spec, is_output):
        name = layer.name
        step = _Step(name=name, layer=layer, kind="", inputs=inbound, covers=[name], input_formats=in_formats)
        if cls not in ("Add", "Concatenate") and len(inbound) != 1:
            raise ConfigError(f"{name} ({cls}): expected one input; received {len(inbound)}")
        in_fmt = in_formats[0]
        if cls in ("Conv2D", "DepthwiseConv2D", "Dense"):
            kind = {"Conv2D": "conv2d", "DepthwiseConv2D": "depthwise_conv2d", "Dense": "dense"}[cls]
            step.kind = kind
            step.formats = self._formats_for(name, spec, self.number_format, cls)
            self._set_activation(step, layer.activation.name, is_output)
            kernel = np.asarray(layer.kernel, dtype=np.float64)
            step.float_kernel = kernel
            step.float_bias = np.asarray(layer.bias, dtype=np.float64) if layer.use_bias else None
            c_in = kernel.shape[-2] if kind != "dense" else kernel.shape[0]
            step.policy = self._policy_for(name, "dense" if kind == "dense" else "conv", c_in)
            if kind != "dense":
                step.options = {"strides": tuple(layer.strides), "padding": layer.padding}
                self._seen_conv = True
            return step
        step.formats = self._formats_for(name, spec, in_fmt, cls)
        if cls == "MaxPooling2D":
            step.kind = "max_pool2d"
            step.options = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides),
                            "padding": layer.padding}
        elif cls == "AveragePooling2D":
            self._require_fixed(layer, cls)
            step.kind = "average_pool2d"
            step.options = {"pool_size": tuple(layer.pool_size), "strides": tuple(layer.strides),
                            "padding": layer.padding}
        elif cls in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"):
            if cls == "GlobalAveragePooling2D":
                self._require_fixed(layer, cls)
            step.kind = "global_max_pool2d" if cls == "GlobalMaxPooling2D" else "global_average_pool2d"
            step.options = {"keepdims": bool(getattr(layer, "keepdims", False))}
        elif cls == "Flatten":
            step.kind = "flatten"
        elif cls == "Reshape":
            step.kind = "reshape"
            step.options = {"target_shape": tuple(layer.target_shape)}
        elif cls == "ZeroPadding2D":
            step.kind = "zero_pad2d"
            step.options = {"padding": tuple(tuple(p) for p in layer.padding)}
        elif cls == "Dropout":
            step.kind = "identity"
        elif cls == "ReLU":
            if layer.max_value is not None or layer.negative_slope != 0 or layer.threshold != 0:
                raise ConfigError(f"{name} (ReLU): only the plain ReLU has a word kernel; expected max_value=None, "
                                  f"negative_slope=0, threshold=0; received max_value={layer.max_value}, "
                                  f"negative_slope={layer.negative_slope}, threshold={layer.threshold}")
            step.kind = "identity"
            step.relu = True
        elif cls == "Activation":
            step.kind = "identity"
            self._set_activation(step, layer.activation.name, is_output)
        elif cls == "Add":
            step.kind = "add"
            if isinstance(self.number_format, Fixed) and spec is None:
                step.formats = LayerFormats(in_fmt, in_fmt, _widest(in_formats), None)
        elif cls == "Concatenate":
            if getattr(layer, "axis", -1) not in (-1, len(layer.output_shape) - 1):
                raise ConfigError(f"{name} (Concatenate): only the last axis is supported; received axis={layer.axis}")
            step.kind = "concatenate"
        else:
            raise ConfigError(f"{name} ({cls}): this layer class has no golden (word) kernel; expected one of Conv2D, "
                              f"DepthwiseConv2D, Dense, BatchNormalization (folded), MaxPooling2D, AveragePooling2D, "
                              f"GlobalMax/AveragePooling2D, Flatten, Reshape, ZeroPadding2D, ReLU, Activation, Dropout, "
                              f"Add, Concatenate; received {cls}")
        if step.formats.output != in_fmt and not isinstance(in_fmt, Fixed):
            raise ConfigError(f"{name} ({cls}): a float datapath keeps one format; received {step.formats.output!r}")
        return step

    def _require_fixed(self, layer, cls):
        if not isinstance(self.number_format, Fixed):
            raise ConfigError(f"{layer.name} ({cls}): average pooling needs a divider, specified only for Fixed "
                              f"formats; expected a Fixed number_format; received {self.number_format!r}")

    def _set_activation(self, step, activation, is_output):
        if activation == "relu":
            step.relu = True
        elif activation in _SOFTWARE_ACTIVATIONS and is_output:
            step.software_activation = activation
        elif activation != "linear":
            where = "an output layer" if is_output else "a hidden layer"
            raise ConfigError(f"{step.name} ({_class(step.layer)}): activation {activation!r} on {where} has no word "
                              f"kernel; expected 'relu' or 'linear' (softmax/sigmoid only on a model output, done in "
                              f"software); received activation={activation!r}")

    def _fold_batch_norm(self, bn, inbound, consumers, spec):
        name = bn.name
        producer = self._by_name.get(inbound[0]) if len(inbound) == 1 else None
        ok = (producer is not None and producer.kind in ("conv2d", "depthwise_conv2d", "dense")
              and not producer.relu and producer.software_activation is None and len(producer.covers) == 1
              and consumers.get(producer.covers[0], 0) == 1)
        if not ok:
            what = _class(producer.layer) if producer is not None else "the model input"
            raise ConfigError(f"{name} (BatchNormalization): can only be folded into a preceding Conv2D, "
                              f"DepthwiseConv2D or Dense with a linear activation that feeds nothing else; "
                              f"received it after {inbound[0]!r} ({what})")
        eps = float(bn.epsilon)
        gamma = np.asarray(bn.gamma, dtype=np.float64) if bn.scale else 1.0
        beta = np.asarray(bn.beta, dtype=np.float64) if bn.center else 0.0
        mean = np.asarray(bn.moving_mean, dtype=np.float64)
        var = np.asarray(bn.moving_variance, dtype=np.float64)
        g = gamma / np.sqrt(var + eps)
        kernel = producer.float_kernel
        if producer.kind == "depthwise_conv2d":         # output channel c*dm + m
            g_k = np.reshape(g, kernel.shape[2:])
        else:
            g_k = g
        producer.float_kernel = kernel * g_k
        bias = producer.float_bias if producer.float_bias is not None else np.zeros_like(mean)
        producer.float_bias = (bias - mean) * g + beta
        conv_name = producer.name
        if spec is not None:
            if self._layer_format_specs.get(conv_name) is not None:
                raise ConfigError(f"{name}: layer_formats gives formats for both {conv_name!r} and the BatchNormalization "
                                  f"folded into it; expected one of them")
            producer.formats = self._formats_for(name, spec, self.number_format, "BatchNormalization")
        del self._by_name[conv_name]
        producer.name = name
        producer.covers.append(name)
        self._by_name[name] = producer
        self.aliases[conv_name] = name
        self.aliases[name] = name
        self._output_format.pop(conv_name, None)
        self._output_format[name] = producer.formats.output

    def _quantise_weights(self, step):
        f = step.formats
        step.kernel, count = f.weight.to_words(step.float_kernel, return_overflow=True)
        if step.float_bias is not None:
            step.bias, bias_count = f.bias.to_words(step.float_bias, return_overflow=True)
            count += bias_count
        self.weight_overflows[step.name] = int(count)

    # ------------------------------------------------------------------ running
    def step(self, name):
        """The step record that computes ``name`` (a layer name, or a conv folded into a BN)."""
        key = self.aliases.get(name, name)
        if key not in self._by_name:
            raise ConfigError(f"GoldenModel: no layer named {name!r}; expected one of {self.layer_names}")
        return self._by_name[key]

    @property
    def layer_names(self):
        """The names of the golden outputs, in order (the input's first)."""
        return [self.input_name] + [s.name for s in self.steps]

    @property
    def output_names(self):
        return [self.aliases[t.layer.name] for t in self.model.outputs]

    def output_format(self, name):
        """The number format of the words filed under ``name``."""
        key = self.aliases.get(name, name)
        if key not in self._output_format:
            raise ConfigError(f"GoldenModel: no layer named {name!r}; expected one of {self.layer_names}")
        return self._output_format[key]

    def quantize_input(self, x):
        """Float input -> input words (batch axis added to a single image)."""
        x = self._batched(np.asarray(x, dtype=np.float64))
        words, count = self.input_format.to_words(x, return_overflow=True)
        return words, count

    def _batched(self, x):
        expected = self.input_shape[1:]
        if x.ndim == len(expected):
            x = x[None]
        if tuple(x.shape[1:]) != tuple(expected):
            raise ShapeError(f"GoldenModel: input has the wrong shape; expected (N,) + {tuple(expected)}; "
                             f"received {x.shape}")
        return x

    def run(self, x, x_is_words=False):
        """Run the whole network. ``x``: floats (quantised to the input format) or, with
        ``x_is_words``, input words; a single image gets a batch axis. Returns ``{name: words}``
        for the input and every step (NHWC), and fills :attr:`overflows`."""
        if x_is_words:
            words = self._batched(np.asarray(x))
            if words.dtype != object and words.dtype.kind not in "ui":
                raise ConfigError(f"GoldenModel.run: x_is_words=True needs integer words; received dtype {words.dtype}")
            count = 0
        else:
            words, count = self.quantize_input(x)
        values = {self.input_name: words}
        self.overflows = {self.input_name: int(count)}
        for step in self.steps:
            args = [values[n] for n in step.inputs]
            values[step.name], self.overflows[step.name] = self._execute(step, args)
        self._last_words = values
        return dict(values)

    def run_layer(self, name, words):
        """Run one layer on any words (NHWC, in the format of the layer feeding it): "replay" of a
        layer on the RTL's own input. A merge layer (Add, Concatenate) takes a list. Records the
        layer's overflow count in :attr:`overflows`."""
        step = self.step(name)
        args = list(words) if isinstance(words, (list, tuple)) else [words]
        if len(args) != len(step.inputs):
            raise ShapeError(f"{step.name}: expected {len(step.inputs)} input arrays; received {len(args)}")
        out, count = self._execute(step, [np.asarray(a) for a in args])
        self.overflows[step.name] = count
        return out

    def _execute(self, step, args):
        f = step.formats
        x = args[0]
        in_fmt = step.input_formats[0]
        kind, o = step.kind, step.options
        count = 0
        if kind in ("conv2d", "depthwise_conv2d", "dense"):
            out, count = self._linear(step, x)
            if step.relu:
                out = kernels.relu(out, f.output)
            return out, count
        if kind == "max_pool2d":
            out = kernels.max_pool2d(x, in_fmt, o["pool_size"], o["strides"], o["padding"])
        elif kind == "average_pool2d":
            out, count = kernels.average_pool2d(x, in_fmt, o["pool_size"], o["strides"], o["padding"],
                                                output_format=f.output, return_overflow=True)
            return out, count
        elif kind in ("global_max_pool2d", "global_average_pool2d"):
            pool = tuple(x.shape[1:3])
            if kind == "global_max_pool2d":
                out = kernels.max_pool2d(x, in_fmt, pool, pool)
            else:
                out, count = kernels.average_pool2d(x, in_fmt, pool, pool, output_format=f.output, return_overflow=True)
            out = out if o["keepdims"] else out.reshape(out.shape[0], out.shape[3])
            return out, count
        elif kind == "flatten":
            out = x.reshape(x.shape[0], -1)
        elif kind == "reshape":
            out = x.reshape((x.shape[0],) + o["target_shape"])
        elif kind == "zero_pad2d":
            (t, b), (left, r) = o["padding"]
            out = np.pad(x, ((0, 0), (t, b), (left, r), (0, 0)), constant_values=in_fmt.zero_word())
        elif kind == "identity":
            out = x
        elif kind == "add":
            return self._add(step, args)
        elif kind == "concatenate":
            parts = []
            for a, fmt in zip(args, step.input_formats):
                if fmt != f.output:
                    a, c = f.output.cast(a, fmt, return_overflow=True)
                    count += c
                parts.append(a)
            return np.concatenate(parts, axis=-1), count
        else:  # pragma: no cover
            raise ConfigError(kind)
        if step.relu:
            out = kernels.relu(out, in_fmt)
        if f.output != in_fmt:                      # Fixed only (checked at construction)
            out, count = f.output.cast(out, in_fmt, return_overflow=True)
        return out, count

    def _linear(self, step, x):
        f, in_fmt = step.formats, step.input_formats[0]
        formats = {} if not isinstance(in_fmt, Fixed) else {
            "weight_format": f.weight, "bias_format": f.bias, "output_format": f.output,
            "accumulator_format": f.accumulator}
        if step.kind == "conv2d":
            return kernels.conv2d(x, step.kernel, step.bias, in_fmt, strides=step.options["strides"],
                                  padding=step.options["padding"], policy=step.policy, return_overflow=True, **formats)
        if step.kind == "dense":
            if x.ndim < 2 or x.shape[-1] != step.kernel.shape[0]:
                raise ShapeError(f"{step.name}: expected input words (..., {step.kernel.shape[0]}); received {x.shape}")
            flat = x.reshape(-1, x.shape[-1])
            out, count = kernels.dense(flat, step.kernel, step.bias, in_fmt, policy=step.policy,
                                       return_overflow=True, **formats)
            return out.reshape(x.shape[:-1] + (out.shape[-1],)), count
        # depthwise: each input channel is its own one-channel convolution with dm output channels
        c_in, dm = step.kernel.shape[2], step.kernel.shape[3]
        outs, count = [], 0
        for c in range(c_in):
            bias = None if step.bias is None else step.bias[c * dm:(c + 1) * dm]
            out, n = kernels.conv2d(x[..., c:c + 1], step.kernel[:, :, c:c + 1, :], bias, in_fmt,
                                    strides=step.options["strides"], padding=step.options["padding"],
                                    policy=step.policy, return_overflow=True, **formats)
            outs.append(out)
            count += n
        return np.concatenate(outs, axis=-1), count

    def _add(self, step, args):
        f = step.formats
        if not isinstance(f.output, Fixed):
            total = args[0]
            for a in args[1:]:
                total = f.output.add(total, a)
            return np.asarray(total).astype(np.uint32), 0
        fraction = max(fmt.fraction for fmt in step.input_formats)
        total = None
        for a, fmt in zip(args, step.input_formats):
            ints = fmt.words_to_ints(a).astype(object) << (fraction - fmt.fraction)
            total = ints if total is None else total + ints
        return f.output.cast_ints(total, fraction, return_overflow=True)

    # ------------------------------------------------------------------ software end, float side
    def predict(self, x, x_is_words=False):
        """Class scores: the output layer's words as values, then softmax/sigmoid in float64 where
        the model has them (SEED_RTL.md's accelerator does softmax in software)."""
        words = self.run(x, x_is_words=x_is_words)
        results = []
        for name in self.output_names:
            step = self._by_name[name]
            z = step.formats.output.from_words(words[name])
            if step.software_activation == "softmax":
                z = softmax(z)
            elif step.software_activation == "sigmoid":
                z = _sigmoid(z)
            results.append(z)
        return results[0] if len(results) == 1 else results

    def float_outputs(self, x):
        """The float model's per-layer outputs on ``x`` (floats, NHWC), keyed as :meth:`run`'s words.

        Computed by the model's own layers (``layer.forward``) in topological order, in the model's
        float type. A folded convolution is reported under its BatchNormalization's name (as
        :meth:`run` does); an output layer with softmax/sigmoid gives its linear (pre-activation)
        values, which is what its words hold."""
        model = self.model
        dtype = np.dtype(getattr(model, "dtype", None) or np.float32)
        x = self._batched(np.asarray(x)).astype(dtype)
        values = {self.input_name: x}
        for layer in model.layers:
            if layer.name == self.input_name:
                continue
            args = [values[src.name] for src in model.inbound_layers(layer)]
            out = layer.forward(args if getattr(layer, "n_inputs", 1) != 1 else args[0], training=False)
            values[layer.name] = out
            step = self._by_name.get(self.aliases.get(layer.name))
            if step is not None and step.software_activation is not None and step.name == layer.name:
                if _class(layer) == "Activation":
                    values[layer.name] = args[0]
                else:
                    values[layer.name] = layer.logits
        return {name: values[name] for name in self.layer_names}

    # ------------------------------------------------------------------ tracing
    def trace_pixel(self, layer, index, x=None, x_is_words=False, file=sys.stdout):
        """Print and return the full computation of one output value of ``layer``.

        ``index`` is ``(n, h, w, c)`` for feature maps and ``(n, unit)`` for dense outputs. The
        layer's input words come from running ``x`` (if given) or from the last :meth:`run`.
        Returns a dict with ``output`` (the word, equal to ``run(x)[layer][index]``), ``text`` and
        (for Conv/Dense) ``steps``: every product and partial sum as value, hex and binary.
        """
        step = self.step(layer)
        if x is not None:
            self.run(x, x_is_words=x_is_words)
        if self._last_words is None:
            raise ConfigError(f"trace_pixel({layer!r}): nothing has run yet; pass x= or call run(x) first")
        args = [self._last_words[n] for n in step.inputs]
        index = tuple(int(i) for i in index)
        out_fmt = step.formats.output
        header = (f"{step.name} ({'+'.join(_class(self.model.get_layer(n)) for n in step.covers)}) output {index}, "
                  f"format {out_fmt}")
        result = {"steps": None}
        if step.kind in ("conv2d", "depthwise_conv2d", "dense"):
            result = self._trace_linear(step, args[0], index)
            word = result["output"]
            lines = [header, result["text"]]
            if step.relu:
                word = int(np.asarray(kernels.relu(np.array([word], dtype=out_fmt.word_dtype()), out_fmt))[0])
                lines.append(f"      relu -> {_show(out_fmt, word)}")
            if step.software_activation:
                lines.append(f"      ({step.software_activation} follows in software)")
            result["output"] = word
            text = "\n".join(lines)
        else:
            words = self.run_layer(step.name, args if len(args) > 1 else args[0])
            word = int(np.asarray(words)[index])
            lines = [header]
            if step.kind == "max_pool2d" or step.kind == "average_pool2d":
                o = step.options
                sh, sw = o["strides"]
                n, h, w, c = index
                in_fmt = step.input_formats[0]
                xp = kernels._pad(args[0], o["pool_size"], o["strides"], o["padding"],
                                  in_fmt.lowest_word() if step.kind == "max_pool2d" else 0)
                window = xp[n, h * sh:h * sh + o["pool_size"][0], w * sw:w * sw + o["pool_size"][1], c]
                lines.append(f"      window ({'max' if step.kind == 'max_pool2d' else 'average'}):")
                lines += [f"      {_show(in_fmt, v)}" for v in window.ravel()]
            lines.append(f"      out = {_show(out_fmt, word)}")
            text = "\n".join(lines)
        result.update({"output": word, "text": text, "layer": step.name, "index": index})
        if file is not None:
            print(text, file=file)
        return result

    def _trace_linear(self, step, x, index):
        f, in_fmt = step.formats, step.input_formats[0]
        formats = {} if not isinstance(in_fmt, Fixed) else {
            "weight_format": f.weight, "bias_format": f.bias, "output_format": f.output,
            "accumulator_format": f.accumulator}
        if step.kind == "dense":
            flat = x.reshape(-1, x.shape[-1])
            *lead, unit = index
            row = int(np.ravel_multi_index(tuple(lead), x.shape[:-1])) if lead else 0
            return kernels.trace_dense(flat, step.kernel, step.bias, in_fmt, (row, unit), policy=step.policy, **formats)
        if step.kind == "conv2d":
            return kernels.trace_conv2d(x, step.kernel, step.bias, in_fmt, index, strides=step.options["strides"],
                                        padding=step.options["padding"], policy=step.policy, **formats)
        dm = step.kernel.shape[3]
        n, h, w, c_out = index
        c, m = divmod(c_out, dm)
        bias = None if step.bias is None else step.bias[c * dm:(c + 1) * dm]
        return kernels.trace_conv2d(x[..., c:c + 1], step.kernel[:, :, c:c + 1, :], bias, in_fmt, (n, h, w, m),
                                    strides=step.options["strides"], padding=step.options["padding"],
                                    policy=step.policy, **formats)

    # ------------------------------------------------------------------ description
    def describe(self):
        """One dict per golden output: name, classes covered, formats, policy, weight overflows."""
        rows = [{"name": self.input_name, "classes": "InputLayer", "covers": [self.input_name],
                 "output_format": str(self.input_format), "weight_format": "", "accumulator": "", "policy": "",
                 "relu": False, "software_activation": None, "weight_overflows": 0}]
        for s in self.steps:
            linear = s.kind in ("conv2d", "depthwise_conv2d", "dense")
            acc = ""
            if linear and isinstance(s.formats.output, Fixed):
                acc = str(s.formats.accumulator) if s.formats.accumulator is not None else "exact"
            policy = ""
            if linear:
                policy = f"{s.policy.order}, bias {s.policy.bias}" + (", BGR first layer" if s.policy.bgr_first_layer else "")
            rows.append({"name": s.name, "classes": "+".join(_class(self.model.get_layer(n)) for n in s.covers),
                         "covers": list(s.covers), "output_format": str(s.formats.output),
                         "weight_format": str(s.formats.weight) if linear else "", "accumulator": acc,
                         "policy": policy, "relu": s.relu, "software_activation": s.software_activation,
                         "weight_overflows": self.weight_overflows.get(s.name, 0)})
        return rows

    def __repr__(self):
        return f"<GoldenModel of {self.model.name!r} in {self.number_format!r}, {len(self.steps)} steps>"

    # ------------------------------------------------------------------ memory files
    def export(self, out_dir, x, file_format="hex", layout="NHWC", x_is_words=False, source=None):
        """Write the input, every weight and bias and every layer's expected output as memory
        files (with a manifest beside each) and ``golden_manifest.json``; returns that manifest.

        Files: ``input<ext>``, ``weights/<layer>_kernel<ext>``, ``weights/<layer>_bias<ext>``
        (Keras order, row-major), ``expected/<layer><ext>``. ``layout`` applies to 4-D feature
        maps (NHWC, NCHW, per_channel); other arrays are written row-major. The ``expected``
        folder has the layout an RTL dump folder is read with (:func:`read_dumps`)."""
        if file_format not in FILE_FORMATS:
            raise ConfigError(f"export: file_format must be one of {sorted(FILE_FORMATS)}; received {file_format!r}")
        words = self.run(x, x_is_words=x_is_words)
        ext = FILE_FORMATS[file_format]
        source = source or {"model": self.model.name}
        manifest = {"model": self.model.name, "number_format": self.number_format.to_config(), "file_format": file_format,
                    "layout": layout, "source": source, "input": None, "layers": []}

        def write(rel_path, array, fmt, label, maps):
            lay = layout if (maps and np.ndim(array) == 4) else "NHWC"
            written = export_words(os.path.join(out_dir, rel_path + ext), array, fmt, file_format=file_format,
                                   layout=lay, layer=label, source=source)
            return {"manifest": os.path.relpath(written[-1], out_dir), "shape": list(np.shape(array)),
                    "layout": lay, "number_format": fmt.to_config()}

        manifest["input"] = {"name": self.input_name, **write("input", words[self.input_name], self.input_format,
                                                              self.input_name, True)}
        for row, s in zip(self.describe()[1:], self.steps):
            entry = {"name": s.name, "classes": row["classes"], "covers": row["covers"], "kind": s.kind,
                     "policy": row["policy"], "overflows": self.overflows.get(s.name, 0),
                     "expected": write(os.path.join("expected", file_stem(s.name)), words[s.name],
                                       s.formats.output, s.name, True)}
            if s.kernel is not None:
                entry["kernel"] = write(os.path.join("weights", file_stem(s.name) + "_kernel"), s.kernel,
                                        s.formats.weight, s.name + "/kernel", False)
                if s.bias is not None:
                    entry["bias"] = write(os.path.join("weights", file_stem(s.name) + "_bias"), s.bias,
                                          s.formats.bias, s.name + "/bias", False)
            manifest["layers"].append(entry)
        with atomic_write(os.path.join(out_dir, "golden_manifest.json"), "w") as fh:
            json.dump(manifest, fh, indent=2)
        return manifest


def _show(fmt, word):
    value, hx, bn = fmt.format_word(int(word))
    return f"{value}  {hx}  {bn}"


def _widest(formats):
    """A Fixed format holding every value of the given Fixed formats (for Add's default output)."""
    fraction = max(f.fraction for f in formats)
    integer = max(f.integer for f in formats)
    rounding, overflow = formats[0].rounding, formats[0].overflow
    return Fixed(integer + fraction, integer, True, rounding, overflow)


def load_exported(out_dir, frame=None):
    """Read back what :meth:`GoldenModel.export` wrote: ``{"input": words, "<layer>": expected words,
    "<layer>/kernel": words, "<layer>/bias": words}`` and the manifest."""
    with open(os.path.join(out_dir, "golden_manifest.json")) as fh:
        manifest = json.load(fh)
    result = {"input": import_manifest(os.path.join(out_dir, manifest["input"]["manifest"]), frame=frame)[0]}
    for entry in manifest["layers"]:
        result[entry["name"]] = import_manifest(os.path.join(out_dir, entry["expected"]["manifest"]), frame=frame)[0]
        for key in ("kernel", "bias"):
            if key in entry:
                result[f"{entry['name']}/{key}"] = import_manifest(os.path.join(out_dir, entry[key]["manifest"]))[0]
    return result, manifest


def read_dumps(dumps_dir, golden, shapes=None, file_format=None, layout="NHWC", lanes=1, lane_order="msb_first",
               channel_order="RGB", frame=None):
    """Read the RTL's per-layer dumps from a folder: ``{layer name: words}`` for the layers found.

    For each golden layer name (``file_stem(name)``), in this order: ``<name>.manifest.json``
    (written by tichchap's exporter: read with its options); ``<name><ext>`` (one file, in
    ``layout`` NHWC or NCHW) or ``<name>_c0<ext>``, ``<name>_c1<ext>``... (one file per channel,
    SEED_RTL.md's dumps) with
    ``ext`` from ``file_format`` or any known extension. The word count is checked against the
    layer's shape (``shapes[name]``, default the last run's); ``frame`` picks one frame of a dump
    holding several. Layers without a dump are left out.
    """
    if not os.path.isdir(dumps_dir):
        raise ConfigError(f"read_dumps: no folder at {dumps_dir!r}; expected the folder the RTL simulation wrote")
    if shapes is None:
        if golden._last_words is None:
            raise ConfigError("read_dumps: pass shapes= or run the golden model first (the dumps' shapes come from it)")
        shapes = {k: v.shape for k, v in golden._last_words.items()}
    formats = [file_format] if file_format else list(FILE_FORMATS)
    dumps = {}
    for name in golden.layer_names:
        stem = os.path.join(dumps_dir, file_stem(name))
        if os.path.exists(stem + ".manifest.json"):
            dumps[name] = import_manifest(stem + ".manifest.json", frame=frame)[0]
            continue
        for ff in formats:
            ext = FILE_FORMATS[ff]
            fmt = golden.output_format(name)
            if os.path.exists(stem + ext):
                single = layout if (len(shapes[name]) == 4 and layout != "per_channel") else "NHWC"
                dumps[name] = import_words(stem + ext, shapes[name], fmt, ff, single, lanes, lane_order,
                                           channel_order, frame=frame)
                break
            if os.path.exists(f"{stem}_c0{ext}"):
                dumps[name] = import_words(stem + ext, shapes[name], fmt, ff, "per_channel", lanes, lane_order,
                                           channel_order, frame=frame)
                break
    return dumps
