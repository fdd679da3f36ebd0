"""Models: a DAG of layers, run forward in topological order and backward in reverse.

``Model(inputs, outputs)`` is Keras' functional model; ``Sequential`` is a chain. Where a tensor
feeds several layers (a residual block), the gradients flowing back into it are added up.
"""

import numpy as np

from . import layers as layers_module
from .errors import ConfigError, NotBuiltError, ShapeError, describe
from .layers.base import InputLayer, KerasTensor, Layer
from .training import Trainer
from .utils.naming import unique_name


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _shallow_copy(obj):
    """``copy.copy(obj)`` for a plain object (its attributes in ``__dict__``), without
    ``copy.copy``'s generic protocol: 0.3-1 us instead of 2-3 (a split batch copies every layer
    and graph tensor)."""
    clone = object.__new__(type(obj))
    clone.__dict__.update(obj.__dict__)
    return clone


class Model(Trainer):
    """A functional model from input tensors to output tensors, as ``keras.Model(inputs, outputs)``."""

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        if kwargs:
            raise ConfigError(f"Model: unexpected arguments {sorted(kwargs)}")
        super().__init__()
        self.name = name or unique_name("functional" if type(self) is Model else "sequential")
        self._graph_ready = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ConfigError("Model: give both inputs and outputs, e.g. Model(inputs, outputs)")
            self._set_graph(inputs, outputs)

    # -- the graph ---------------------------------------------------------------------------
    def _set_graph(self, inputs, outputs):
        self._inputs_were_list = isinstance(inputs, (list, tuple))
        self._outputs_were_list = isinstance(outputs, (list, tuple))
        inputs, outputs = _as_list(inputs), _as_list(outputs)
        for t in inputs + outputs:
            if not isinstance(t, KerasTensor):
                raise ConfigError(f"{self.name}: inputs and outputs must be tensors made by Input() and layers; received {t!r}")
        for t in inputs:
            if not isinstance(t.layer, InputLayer):
                raise ConfigError(f"{self.name}: every model input must come from Input(); {t.name} is made by a {type(t.layer).__name__}")
        # Walk back from the outputs to find every tensor the outputs depend on.
        needed, stack = {}, list(outputs)
        input_ids = {t.id for t in inputs}
        while stack:
            t = stack.pop()
            if t.id in needed:
                continue
            needed[t.id] = t
            if t.id in input_ids:
                continue
            if isinstance(t.layer, InputLayer):
                raise ConfigError(
                    f"{self.name}: graph disconnected: output depends on input {t.layer.name!r}, which is not among the "
                    f"model's inputs {[i.layer.name for i in inputs]}")
            stack.extend(t.inputs)
        # Tensors are numbered as they are made, so sorting by id is a topological order.
        self._tensors = sorted(needed.values(), key=lambda t: t.id)
        self.inputs, self.outputs = inputs, outputs
        seen = {}
        for t in self._tensors:
            if t.layer.name in seen and seen[t.layer.name] is not t.layer:
                raise ConfigError(f"{self.name}: two different layers are named {t.layer.name!r}; layer names must be unique")
            if t.layer.name in seen and t.id not in input_ids:
                raise ConfigError(f"{self.name}: layer {t.layer.name!r} is called more than once; shared layers are not supported")
            seen[t.layer.name] = t.layer
        self._all_layers = [t.layer for t in self._tensors]
        # The last step at which each tensor is read, so activations can be freed early in inference.
        position = {t.id: i for i, t in enumerate(self._tensors)}
        self._last_use = {}
        for i, t in enumerate(self._tensors):
            for src in t.inputs:
                self._last_use[src.id] = i
        for t in outputs:
            self._last_use[t.id] = len(self._tensors)
        self._position = position
        self._moved_relus = None
        self._pooled_convolutions = None
        self._fused_pools = {}
        self._graph_ready = True
        self._on_graph_changed()

    def _replica(self):
        """A copy of the model over shallow copies of its layers: the same weight arrays, but
        caches, gradients and outputs of its own, so that it can run a part of a batch while
        another replica runs another (tichchap.training)."""
        replica = _shallow_copy(self)
        layer_copies = {id(layer): _shallow_copy(layer) for layer in self._all_layers}
        tensors = {}
        for t in self._tensors:
            tensors[t.id] = _shallow_copy(t)
            tensors[t.id].layer = layer_copies[id(t.layer)]
        replica._tensors = [tensors[t.id] for t in self._tensors]
        replica.inputs, replica.outputs = [tensors[t.id] for t in self.inputs], [tensors[t.id] for t in self.outputs]
        replica._all_layers = [t.layer for t in replica._tensors]
        replica._pooled_convolutions = replica._moved_relus = None
        replica._fused_pools = {}
        replica._on_graph_changed()
        return replica

    def _on_graph_changed(self):
        """Hook for the trainer: cached parameter lists must be rebuilt."""
        self._param_cache = None

    def _require_graph(self, what="use"):
        if not self._graph_ready:
            raise NotBuiltError(
                f"{self.name}: the model has no input shape yet, so it cannot {what}; start it with "
                "tichchap.Input(shape=...) or call model.build(input_shape) or fit/predict it on data first")

    @property
    def layers(self):
        self._require_graph("list its layers") if type(self) is Model else None
        return list(self._all_layers) if self._graph_ready else []

    def get_layer(self, name=None, index=None):
        layers = self.layers
        if index is not None:
            try:
                return layers[index]
            except IndexError:
                raise ConfigError(f"{self.name}: no layer at index {index}; the model has {len(layers)} layers") from None
        for layer in layers:
            if layer.name == name:
                return layer
        raise ConfigError(f"{self.name}: no layer named {name!r}; the layers are {[l.name for l in layers]}")

    def inbound_layers(self, layer):
        """The layers whose outputs feed ``layer`` (in argument order)."""
        layer = self.get_layer(layer) if isinstance(layer, str) else layer
        for t in self._tensors:
            if t.layer is layer:
                return [src.layer for src in t.inputs]
        raise ConfigError(f"{self.name}: layer {layer.name!r} is not part of this model")

    @property
    def input(self):
        self._require_graph("report its input")
        return self.inputs if self._inputs_were_list else self.inputs[0]

    @property
    def output(self):
        self._require_graph("report its output")
        return self.outputs if self._outputs_were_list else self.outputs[0]

    @property
    def input_shape(self):
        shapes = [t.shape for t in _as_list(self.input)]
        return shapes if self._inputs_were_list else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in _as_list(self.output)]
        return shapes if self._outputs_were_list else shapes[0]

    @property
    def dtype(self):
        self._require_graph("report its dtype")
        return self.inputs[0].dtype

    # -- weights -----------------------------------------------------------------------------
    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight, in Keras' order; all shapes are checked before anything changes."""
        weights = list(weights)
        expected = self.weights
        if len(weights) != len(expected):
            raise ShapeError(describe(f"{self.name}: set_weights got the wrong number of arrays", len(expected), len(weights)))
        for layer_weights, w in zip(expected, weights):
            if np.shape(w) != layer_weights.shape:
                owner = next(l for l in self.layers if any(x is layer_weights for x in l.weights))
                raise ShapeError(describe(f"{self.name}: set_weights: an array for layer {owner.name!r} has the wrong shape",
                                          layer_weights.shape, np.shape(w)))
        for target, w in zip(expected, weights):
            target[...] = w

    def count_params(self):
        return int(sum(layer.count_params() for layer in self.layers))

    # -- running -----------------------------------------------------------------------------
    def forward(self, xs, training=False, keep_cache=True):
        """Run the graph on arrays ``xs`` (one per input); returns a list of output arrays."""
        values = {t.id: x for t, x in zip(self.inputs, xs)}
        input_ids = set(values)
        moved_relus = self._relus_moved_into_readers() if not keep_cache and not training else ()
        pooled_convolutions = self._convolutions_read_by_a_pooling()
        self._fused_pools = {}  # pooling tensor id -> convolution tensor, computed as one step
        for i, t in enumerate(self._tensors):
            if t.id in input_ids:
                continue
            args = [values[src.id] for src in t.inputs]
            layer = t.layer
            if t.id in values:  # a pooling, computed with the convolution it reads
                pass
            elif t.id in pooled_convolutions and (pooled := layer.forward_pooled(
                    args[0], pooled_convolutions[t.id].layer, keep_argmax=keep_cache)) is not None:
                values[t.id] = None  # never read: its one reader's output is already computed
                values[pooled_convolutions[t.id].id] = pooled
                self._fused_pools[pooled_convolutions[t.id].id] = t
            elif t.id in moved_relus:  # its one reader takes the ReLU in its own pass
                values[t.id] = args[0]
            elif moved_relus and t.inputs[0].id in moved_relus:
                values[t.id] = layer.forward_after_relu(args[0])
            elif not keep_cache and not training and self._free_after(t, i, values, xs):
                values[t.id] = layer.forward_into_input(args[0])
            else:
                values[t.id] = layer.forward(args if layer.n_inputs != 1 else args[0], training=training)
            if not keep_cache:
                layer.clear_cache()
                for src in t.inputs:
                    if self._last_use.get(src.id) == i:
                        values.pop(src.id, None)
        return [values[t.id] for t in self.outputs]

    def _relus_moved_into_readers(self):
        """Inference only: the ReLU tensors (``Activation("relu")``) whose one reader, not a model
        output, has ``forward_after_relu`` (a depthwise or separable convolution takes the ReLU in
        its padding copy). The model passes such a reader the ReLU's input and skips the ReLU: one
        pass over the activation instead of two, with bit-identical results."""
        if self._moved_relus is None:
            sole = self._sole_readers()
            self._moved_relus = frozenset(
                t.id for t in self._tensors
                if isinstance(t.layer, layers_module.Activation) and t.layer.activation.name == "relu"
                and t.id in sole and sole[t.id].layer.forward_after_relu is not None and len(sole[t.id].inputs) == 1)
        return self._moved_relus

    def _sole_readers(self):
        """{tensor id: the one layer tensor that reads it}, for tensors that are not a model
        output and are read by exactly one layer."""
        readers = {}
        for t in self._tensors:
            for src in t.inputs:
                readers.setdefault(src.id, []).append(t)
        outputs = {t.id for t in self.outputs}
        return {i: r[0] for i, r in readers.items() if len(r) == 1 and i not in outputs}

    def _convolutions_read_by_a_pooling(self):
        """{Conv2D tensor id: MaxPooling2D tensor} for each Conv2D, not a model output, read by one
        layer only, a MaxPooling2D: the convolution computes the pooling too
        (``Conv2D.forward_pooled``, which declines for activations other than ReLU or none)."""
        if self._pooled_convolutions is None:
            sole = self._sole_readers()
            self._pooled_convolutions = {
                t.id: sole[t.id] for t in self._tensors
                if type(t.layer) is layers_module.Conv2D and t.id in sole
                and type(sole[t.id].layer) is layers_module.MaxPooling2D}
        return self._pooled_convolutions

    def _free_after(self, t, i, values, xs):
        """Whether tensor ``t``'s single input array is read by no one after step ``i``: not a
        later layer, not a model output, not the caller's arrays, and no live view of it (Flatten,
        Reshape and inference Dropout pass views on). Its layer may then write over it."""
        if len(t.inputs) != 1:
            return False
        src_id = t.inputs[0].id
        x = values[src_id]
        if self._last_use.get(src_id) != i or not isinstance(x, np.ndarray):
            return False
        return not any(np.may_share_memory(x, other) for other in xs) and not any(
            np.may_share_memory(x, other) for key, other in values.items() if key != src_id)

    def backward(self, output_grads, fused=False, input_grads=True):
        """Backpropagate ``output_grads`` (one per output) through the graph.

        ``fused``: the first output's gradient is with respect to its layer's pre-activation
        (logits), as the fused softmax/sigmoid cross-entropy gives it. Fills every layer's
        ``grads``; returns the gradients of the model's inputs when ``input_grads``.
        """
        grads = {}
        for t, g in zip(self.outputs, output_grads):
            grads[t.id] = g
        fused_id = self.outputs[0].id if fused else None
        input_ids = {t.id for t in self.inputs}
        for t in reversed(self._tensors):
            g = grads.pop(t.id, None)
            if t.id in input_ids:
                if g is not None:
                    grads[t.id] = g
                continue
            if g is None:
                continue
            pooled = t.id in self._fused_pools
            if pooled:  # a pooling computed with its convolution: back through both at once
                t = self._fused_pools[t.id]
            layer = t.layer
            layer._need_input_grad = input_grads or any(src.id not in input_ids for src in t.inputs)
            if pooled:
                dx = layer.backward_pooled(g)
            else:
                dx = layer.backward_logits(g) if t.id == fused_id else layer.backward(g)
            if dx is None:
                continue
            for src, d in zip(t.inputs, dx if layer.n_inputs != 1 else [dx]):
                grads[src.id] = grads[src.id] + d if src.id in grads else d
        return [grads.get(t.id) for t in self.inputs] if input_grads else None

    def __call__(self, x, training=False):
        """Run the model on arrays (eagerly), as calling a Keras model."""
        self._require_graph("be called")
        outs = self.forward([np.asarray(v, dtype=self.dtype) for v in _as_list(x)], training=training, keep_cache=training)
        return outs if self._outputs_were_list else outs[0]

    # -- config ------------------------------------------------------------------------------
    def get_config(self):
        self._require_graph("be serialised")
        entries = []
        for t in self._tensors:
            entries.append({**layers_module.serialize(t.layer), "inbound": [src.layer.name for src in t.inputs]})
        return {"name": self.name, "layers": entries,
                "input_layers": [t.layer.name for t in self.inputs],
                "output_layers": [t.layer.name for t in self.outputs],
                "inputs_are_list": self._inputs_were_list, "outputs_are_list": self._outputs_were_list}

    @classmethod
    def from_config(cls, config):
        tensors = {}
        for entry in config["layers"]:
            layer = layers_module.deserialize(entry)
            if isinstance(layer, InputLayer):
                tensors[layer.name] = layer.output
                continue
            try:
                args = [tensors[name] for name in entry["inbound"]]
            except KeyError as missing:
                raise ConfigError(f"model config: layer {layer.name!r} takes input from unknown layer {missing}") from None
            tensors[layer.name] = layer(args if layer.n_inputs != 1 else args[0])
        inputs = [tensors[n] for n in config["input_layers"]]
        outputs = [tensors[n] for n in config["output_layers"]]
        return Model(inputs if config.get("inputs_are_list") else inputs[0],
                     outputs if config.get("outputs_are_list") else outputs[0], name=config.get("name"))

    def summary(self, print_fn=None, line_length=None):
        from .summary import print_summary

        print_summary(self, print_fn=print_fn)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"


class Sequential(Model):
    """A plain stack of layers, as ``keras.Sequential([...])``.

    The input shape comes from a leading ``Input(shape)``, from ``input_shape=`` on the first
    layer (Keras 2 style), from ``build(input_shape)``, or from the first data it sees.
    """

    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        self._stack = []
        self._input_tensor = None
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, KerasTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._stack or self._input_tensor is not None:
                raise ConfigError(f"{self.name}: an Input can only be the first entry of a Sequential model")
            self._input_tensor = layer.output
            return
        if isinstance(layer, Model):
            raise ConfigError(f"{self.name}: nesting a model inside a Sequential is not supported; add its layers instead")
        if not isinstance(layer, Layer):
            raise ConfigError(f"{self.name}: Sequential takes layers; received {layer!r}")
        if any(l is layer for l in self._stack):
            raise ConfigError(f"{self.name}: layer {layer.name!r} was already added")
        if not self._stack and self._input_tensor is None and layer._input_shape_arg is not None:
            self._input_tensor = InputLayer(shape=layer._input_shape_arg).output
        self._stack.append(layer)
        if self._input_tensor is not None:
            try:
                self._connect()
            except Exception:
                self._stack.pop()  # a refused layer leaves the model as it was
                raise

    def _connect(self):
        x = self._input_tensor
        for layer in self._stack:
            # A layer already called on this chain keeps its tensor; a new one is called now.
            x = layer.output if layer.output is not None and layer.input is x else layer(x)
        self._set_graph(self._input_tensor, x)

    def build(self, input_shape):
        """Fix the input shape, as ``model.build((None, 28, 28, 1))``; creates every weight."""
        if self._input_tensor is None:
            shape = tuple(input_shape)
            self._input_tensor = InputLayer(shape=shape[1:] if len(shape) > 1 and shape[0] is None else shape).output
            self._connect()

    def _build_from_data(self, x):
        if not self._graph_ready:
            if not self._stack:
                raise NotBuiltError(f"{self.name}: the model has no layers")
            self.build((None,) + tuple(np.shape(x)[1:]))

    @property
    def layers(self):
        return [t.layer for t in self._tensors if not isinstance(t.layer, InputLayer)] if self._graph_ready else list(self._stack)

    def get_config(self):
        config = super().get_config()
        config["sequential"] = True
        return config

    @classmethod
    def from_config(cls, config):
        layer_entries = [e for e in config["layers"] if e["class_name"] != "InputLayer"]
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                model.add(layers_module.deserialize(entry))
        for entry in layer_entries:
            model.add(layers_module.deserialize(entry))
        return model
