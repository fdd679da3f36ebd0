"""Keras' own files, read and written with h5py alone (no TensorFlow, no Keras).

Three layouts exist in the wild; all are handled here:

* **Keras 3 archive** (``model.keras``): a zip holding ``config.json`` (the architecture:
  ``{"module", "class_name", "config": {"layers": [...]}, "build_config"}``), ``metadata.json``
  and ``model.weights.h5``. Inside the weights file every layer owns a group
  ``layers/<key>/vars`` holding datasets ``"0"``, ``"1"``, ... in the layer's weight order
  (Conv2D: kernel, bias). ``<key>`` is *not* the layer's name: Keras names the groups after the
  snake-cased class with a per-model counter, in ``model.layers`` order (``dense``,
  ``dense_1``, ... for the first, second Dense layer, whatever they are called). Recent Keras also
  stores the real name as the ``vars`` group's ``name`` attribute.
  A bare ``x.weights.h5`` (``model.save_weights``) has the same inner layout.
* **Legacy HDF5** (``model.save("x.h5")`` in Keras 2, tf.keras and Keras 3): the root attribute
  ``model_config`` holds the JSON architecture and the group ``model_weights`` holds one group per
  layer *name*, listed in its ``layer_names`` attribute; each layer group lists its datasets in the
  ``weight_names`` attribute (``"conv2d/kernel:0"``, relative to the layer group).
* **Legacy weights-only HDF5** (``model.save_weights("x.h5")`` in Keras 2): the same per-layer
  groups directly at the root.

Functional configs name each layer's inputs in ``inbound_nodes``: Keras 3 writes
``[{"args": [<tensor or list of tensors>], "kwargs": {...}}]`` where a tensor is
``{"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, index]}}``;
Keras 2 writes ``[[[layer, node, index, kwargs], ...]]``.

Nothing is half-loaded: the whole architecture is translated and every weight array is read and
checked against its layer before any layer receives a value.

Public functions: :func:`load_keras_model`, :func:`save_keras_model`,
:func:`save_legacy_h5_model`, :func:`load_weights`, :func:`save_weights`.
"""

import datetime
import io
import json
import os
import warnings
import zipfile

import numpy as np

from ..errors import ConfigError, DataNotFoundError, FileFormatError, ShapeError, TichchapError
from ..utils.fileio import atomic_write

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
CONFIG_NAME = "config.json"
METADATA_NAME = "metadata.json"
WEIGHTS_NAME = "model.weights.h5"
# The Keras version whose file layout we write (and whose real loader the tests use).
WRITTEN_KERAS_VERSION = "3.15.1"

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
# Options whose only value tichchap computes; any other value is refused with the layer named.
_REQUIRED_OPTION_VALUES = {
    "data_format": ("channels_last",),
    "dilation_rate": (1, (1, 1)),
    "groups": (1,),
}
# Keras keys that change training only (penalties, projections): dropped with a warning, since
# inference, which is what a loaded file is first used for, does not depend on them.
_TRAINING_ONLY_KEYS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                       "depthwise_regularizer", "pointwise_regularizer", "beta_regularizer",
                       "gamma_regularizer", "kernel_constraint", "bias_constraint",
                       "depthwise_constraint", "pointwise_constraint", "beta_constraint",
                       "gamma_constraint")

# Keras 2 (tf.keras) writes the base convolution's kernel_* keys into the configs of the depthwise
# and separable convolutions, which have no such kernel; Keras 3 no longer does.
_KERAS2_CONV_LEFTOVERS = {
    "SeparableConv2D": ("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
    "DepthwiseConv2D": ("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
}


class UnsupportedKerasFeatureError(ConfigError):
    """A Keras file uses a layer class or an option that tichchap does not have.

    ``layer_name``, ``class_name`` and ``option`` (None when the whole class is missing) say which.
    """

    def __init__(self, message, layer_name=None, class_name=None, option=None):
        super().__init__(message)
        self.layer_name = layer_name
        self.class_name = class_name
        self.option = option


# =============================================================================================
# Opening files
# =============================================================================================

def _require_h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a declared extra
        raise ImportError("Reading and writing Keras files needs h5py: pip install h5py") from exc
    return h5py


def _file_kind(path):
    """'zip' for a .keras archive, 'hdf5' for an .h5 file; a clear error for anything else."""
    if os.path.isdir(path):
        raise FileFormatError(f"{path}: is a directory; expected a .keras archive or an .h5 file")
    if not os.path.exists(path):
        raise DataNotFoundError(f"{path}: no such file; expected a .keras archive or an .h5 file")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head == HDF5_MAGIC:
        return "hdf5"
    if not head:
        raise FileFormatError(f"{path}: the file is empty; expected a .keras archive (zip) or an HDF5 .h5 file")
    raise FileFormatError(f"{path}: not a Keras file; expected a .keras archive (zip, starting with {ZIP_MAGIC!r}) "
                          f"or an HDF5 .h5 file (starting with {HDF5_MAGIC!r}); received a file starting with {head!r}")


class _Reading:
    """Context manager turning low-level failures (truncated zip or HDF5, bad JSON, missing
    groups) into a FileFormatError naming the file; tichchap's own errors pass through."""

    def __init__(self, path, what="read"):
        self.path = path
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, TichchapError):
            return False
        if isinstance(exc, (OSError, KeyError, ValueError, TypeError, AttributeError, IndexError,
                            zipfile.BadZipFile, EOFError, RuntimeError)):
            raise FileFormatError(f"{self.path}: cannot {self.what} the Keras file, it is truncated or corrupt; "
                                  f"received {type(exc).__name__}: {exc}") from exc
        return False


def _open_h5_bytes(data, path):
    h5py = _require_h5py()
    with _Reading(path, f"open {WEIGHTS_NAME} inside"):
        return h5py.File(io.BytesIO(data), "r")


def _read_archive(path):
    """(config dict, weights bytes) of a Keras 3 .keras archive."""
    with _Reading(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if CONFIG_NAME not in names:
                raise FileFormatError(f"{path}: the archive has no {CONFIG_NAME}; expected a Keras 3 .keras file "
                                      f"({CONFIG_NAME}, {METADATA_NAME}, {WEIGHTS_NAME}); received members {sorted(names)}")
            if WEIGHTS_NAME not in names:
                other = "model.weights.npz" if "model.weights.npz" in names else sorted(names)
                raise FileFormatError(f"{path}: the archive has no {WEIGHTS_NAME}; expected Keras' HDF5 weights; "
                                      f"received {other}")
            config = json.loads(archive.read(CONFIG_NAME).decode("utf-8"))
            weights = archive.read(WEIGHTS_NAME)
    if not isinstance(config, dict) or "class_name" not in config:
        raise FileFormatError(f"{path}: {CONFIG_NAME} is not a Keras model config; expected an object with "
                              f"'class_name' and 'config'; received {str(config)[:80]!r}")
    return config, weights


def _decode_attr(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def _attr_strings(group, key):
    """A string-list attribute (h5py returns bytes or str depending on how it was written)."""
    if key not in group.attrs:
        return None
    return [_decode_attr(v) for v in np.asarray(group.attrs[key]).reshape(-1).tolist()]


# =============================================================================================
# Architecture: Keras config -> tichchap model
# =============================================================================================

class _Engine:
    """The engine's public names, imported on first use (the engine imports this package)."""

    @property
    def layers(self):
        from .. import layers
        return layers

    @property
    def Input(self):
        from ..layers import Input
        return Input

    @property
    def Sequential(self):
        from ..model import Sequential
        return Sequential

    @property
    def Model(self):
        from ..model import Model
        return Model


def _tc():
    return _Engine()


def _normalise_value(value):
    return tuple(value) if isinstance(value, list) else value


def _translate_layer_config(class_name, config, source):
    """A copy of a Keras layer config that tichchap's ``from_config`` takes, or a clear error."""
    config = dict(config)
    name = config.get("name")
    for option, allowed in _REQUIRED_OPTION_VALUES.items():
        if option in config:
            value = _normalise_value(config[option])
            ok = value in allowed or (isinstance(value, tuple) and set(value) == {1} and 1 in allowed)
            if not ok:
                raise UnsupportedKerasFeatureError(
                    f"{source}: layer {name!r} ({class_name}) uses {option}={config[option]!r}, which tichchap does "
                    f"not support; expected {option}={allowed[-1]!r}; nothing was loaded",
                    name, class_name, option)
    if class_name in _KERAS2_CONV_LEFTOVERS:
        for key in _KERAS2_CONV_LEFTOVERS[class_name]:
            config.pop(key, None)
    dropped = [key for key in _TRAINING_ONLY_KEYS if config.get(key) is not None]
    for key in dropped:
        config[key] = None
    if dropped:
        warnings.warn(f"{source}: layer {name!r} ({class_name}): ignoring {', '.join(dropped)} "
                      f"(they change training only, not what the model computes)", stacklevel=4)
    activation = config.get("activation")
    if isinstance(activation, dict):
        raise UnsupportedKerasFeatureError(
            f"{source}: layer {name!r} ({class_name}) uses a serialized activation object "
            f"{activation.get('class_name')!r}; expected an activation name such as 'relu'; nothing was loaded",
            name, class_name, "activation")
    for key, value in list(config.items()):
        if key.endswith("_initializer") and isinstance(value, dict):
            config[key] = _translate_initializer(value)
    return config


def _translate_initializer(value):
    """Keras' initializer dict as tichchap takes it; weights are overwritten by the file anyway,
    so an initializer tichchap cannot rebuild exactly falls back to its class name or default."""
    from .. import initializers
    try:
        initializers.get(value)
        return value
    except Exception:
        pass
    try:
        initializers.get(value.get("class_name"))
        return value.get("class_name")
    except Exception:
        return None


def _make_layer(entry, source):
    tc = _tc()
    if not isinstance(entry, dict) or "class_name" not in entry or not isinstance(entry.get("config"), dict):
        raise FileFormatError(f"{source}: a layer entry of the model config is malformed; expected an object with "
                              f"'class_name' and 'config'; received {str(entry)[:120]!r}")
    class_name = entry["class_name"]
    config = entry["config"]
    name = config.get("name", entry.get("name"))
    if class_name in _MODEL_CLASSES:
        raise UnsupportedKerasFeatureError(
            f"{source}: layer {name!r} is a nested model ({class_name}); tichchap loads flat models only; "
            f"expected layers; nothing was loaded", name, class_name, None)
    cls = getattr(tc.layers, class_name, None)
    from ..layers.base import Layer
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        registered = entry.get("registered_name") or entry.get("module")
        where = f" (registered as {registered!r})" if registered and registered != "keras.layers" else ""
        raise UnsupportedKerasFeatureError(
            f"{source}: layer {name!r} has class {class_name!r}{where}, which tichchap does not have; "
            f"expected one of tichchap.layers' classes; nothing was loaded", name, class_name, None)
    config = _translate_layer_config(class_name, config, source)
    try:
        return cls.from_config(config)
    except (TichchapError, TypeError, ValueError) as exc:
        raise UnsupportedKerasFeatureError(
            f"{source}: layer {name!r} ({class_name}) cannot be built from its Keras config; {exc}; nothing was loaded",
            name, class_name, _guess_option(exc, config)) from exc


def _guess_option(exc, config):
    text = str(exc)
    for key in config:
        if repr(key) in text or f"{key}=" in text:
            return key
    return None


def _input_shape_of(entry):
    config = entry.get("config", {})
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None and config.get("input_shape") is not None:
        return tuple(config["input_shape"])
    return None if shape is None else tuple(shape[1:])


def _make_input(entry, source):
    shape = _input_shape_of(entry)
    name = entry.get("config", {}).get("name", entry.get("name"))
    if shape is None:
        raise FileFormatError(f"{source}: input layer {name!r} has no shape; expected 'batch_shape' or "
                              f"'batch_input_shape' in its config")
    if any(d is None for d in shape):
        raise UnsupportedKerasFeatureError(
            f"{source}: input layer {name!r} has a variable-size shape {shape}; tichchap needs every "
            f"dimension but the batch fixed; nothing was loaded", name, "InputLayer", "batch_shape")
    return _tc().Input(shape=shape, name=name)


def model_from_keras_config(config, source="<config>"):
    """Build an (unweighted) tichchap model from Keras' model config dict (the content of
    ``config.json`` or of the legacy ``model_config`` attribute)."""
    class_name = config.get("class_name")
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise FileFormatError(f"{source}: the model config has no layer list; expected "
                              f"{{'class_name': 'Sequential'|'Functional', 'config': {{'layers': [...]}}}}; "
                              f"received class_name={class_name!r}")
    if class_name == "Sequential":
        return _sequential_from_config(inner, source)
    if class_name in ("Functional", "Model"):
        return _functional_from_config(inner, source)
    raise UnsupportedKerasFeatureError(
        f"{source}: the model has class {class_name!r}; expected 'Sequential' or 'Functional' (a subclassed "
        f"Keras model has no architecture in its file); nothing was loaded", config.get("name"), class_name, None)


def _sequential_from_config(inner, source):
    tc = _tc()
    entries = list(inner["layers"])
    layers = []
    input_shape = None
    if entries and entries[0].get("class_name") == "InputLayer":
        first = entries.pop(0)
        layers.append(_make_input(first, source))
    else:
        # Keras 2: the first layer's config carries batch_input_shape; Keras 3 unbuilt-then-built:
        # build_input_shape on the Sequential itself.
        if entries and (entries[0].get("config") or {}).get("batch_input_shape") is not None:
            input_shape = tuple(entries[0]["config"]["batch_input_shape"][1:])
        elif inner.get("build_input_shape") is not None:
            input_shape = tuple(inner["build_input_shape"][1:])
        if input_shape is not None:
            layers.append(tc.Input(shape=input_shape))
    for entry in entries:
        if entry.get("class_name") == "InputLayer":
            raise FileFormatError(f"{source}: an InputLayer in the middle of a Sequential config; expected it first")
        layer_entry = entry
        if (entry.get("config") or {}).get("batch_input_shape") is not None:
            layer_entry = dict(entry, config={k: v for k, v in entry["config"].items() if k != "batch_input_shape"})
        layers.append(_make_layer(layer_entry, source))
    if input_shape is None and not layers:
        raise FileFormatError(f"{source}: the Sequential config has no layers")
    return tc.Sequential(layers, name=inner.get("name"))


def _history_of(tensor_ref):
    """(layer name, node index, tensor index) of one inbound tensor reference, either format."""
    if isinstance(tensor_ref, dict):
        history = (tensor_ref.get("config") or {}).get("keras_history")
        if history is None:
            raise ValueError(f"an inbound tensor without keras_history: {tensor_ref!r}")
        return history[0], int(history[1]), int(history[2])
    if isinstance(tensor_ref, (list, tuple)) and tensor_ref and isinstance(tensor_ref[0], str):
        return tensor_ref[0], int(tensor_ref[1]), int(tensor_ref[2])
    raise ValueError(f"cannot read an inbound tensor reference: {tensor_ref!r}")


def _is_tensor_ref(obj):
    return (isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__") or \
           (isinstance(obj, (list, tuple)) and len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int))


def _node_inputs(node):
    """The inbound tensor references of one node: (list of refs, called with a list?)."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = node.get("args") or []
        if len(args) != 1:
            refs = [a for a in args if _is_tensor_ref(a)]
            return refs, len(refs) > 1
        first = args[0]
        if _is_tensor_ref(first):
            return [first], False
        if isinstance(first, (list, tuple)) and all(_is_tensor_ref(t) for t in first):
            return list(first), True
        raise ValueError(f"cannot read the node's arguments: {str(args)[:120]}")
    if isinstance(node, (list, tuple)):  # Keras 2: [[name, node, index, kwargs], ...]
        refs = list(node)
        return refs, len(refs) > 1
    raise ValueError(f"cannot read an inbound node: {str(node)[:120]}")


def _layer_refs(spec):
    """input_layers / output_layers: a single [name, node, index] or a list of them."""
    if isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], str):
        return [tuple(spec[:3])]
    return [tuple(s[:3]) for s in (spec or [])]


def _functional_from_config(inner, source):
    tc = _tc()
    entries = inner["layers"]
    with _Reading(source, "read the layer graph of"):
        # First create every layer (so an unsupported one fails before anything is wired).
        created = {}
        order = []
        for entry in entries:
            name = (entry.get("config") or {}).get("name", entry.get("name"))
            entry_name = entry.get("name", name)
            if entry.get("class_name") == "InputLayer":
                created[entry_name] = ("input", entry)
            else:
                created[entry_name] = ("layer", _make_layer(entry, source))
            order.append(entry_name)
        outputs_of = {}  # layer name -> list (per node) of output tensors
        pending = [(n, i, node) for n in order if created[n][0] == "layer"
                   for i, node in enumerate(_entry(entries, n).get("inbound_nodes") or [])]
        for n in order:
            if created[n][0] == "input":
                outputs_of[n] = [_make_input(created[n][1], source)]
        while pending:
            progressed = False
            remaining = []
            for layer_name, node_index, node in pending:
                refs, as_list = _node_inputs(node)
                histories = [_history_of(r) for r in refs]
                if all(h[0] in outputs_of and len(outputs_of[h[0]]) > h[1] for h in histories):
                    tensors = [_tensor(outputs_of[h[0]][h[1]], h[2]) for h in histories]
                    layer = created[layer_name][1]
                    out = layer(tensors if as_list else tensors[0])
                    outputs_of.setdefault(layer_name, []).append(out)
                    progressed = True
                else:
                    remaining.append((layer_name, node_index, node))
            if not progressed:
                missing = sorted({h[0] for _, _, node in remaining for h in map(_history_of, _node_inputs(node)[0])
                                  if h[0] not in outputs_of})
                raise FileFormatError(f"{source}: the layer graph cannot be wired; layers "
                                      f"{[r[0] for r in remaining]} wait for {missing}, which nothing produces")
            pending = remaining
        inputs = [_tensor(outputs_of[n][i], j) for n, i, j in _layer_refs(inner.get("input_layers"))]
        outputs = [_tensor(outputs_of[n][i], j) for n, i, j in _layer_refs(inner.get("output_layers"))]
    if not inputs or not outputs:
        raise FileFormatError(f"{source}: the functional config names no input_layers or output_layers")
    return tc.Model(inputs=inputs if len(inputs) > 1 else inputs[0],
                    outputs=outputs if len(outputs) > 1 else outputs[0], name=inner.get("name"))


def _entry(entries, name):
    for entry in entries:
        if entry.get("name", (entry.get("config") or {}).get("name")) == name:
            return entry
    raise KeyError(name)


def _tensor(out, index):
    if isinstance(out, (list, tuple)):
        return out[index]
    if index != 0:
        raise ValueError(f"tensor index {index} of a layer with one output")
    return out


# =============================================================================================
# Weights
# =============================================================================================

def _snake_case(name):
    """Keras' ``naming.to_snake_case``: 'BatchNormalization' -> 'batch_normalization',
    'ReLU' -> 're_lu', 'Conv2D' -> 'conv2d'."""
    import re
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def _keras_class_name(layer):
    """The Keras class name of a tichchap layer (the same name, by design)."""
    return getattr(layer, "keras_class_name", None) or type(layer).__name__


def _saved_layers(model):
    """The layers whose state Keras writes, in Keras' ``model.layers`` order: a Sequential's
    layers without its InputLayer; a functional model's layers with its InputLayers, in the order
    Keras' ``map_graph`` gives (deepest first, ties by depth-first traversal from the outputs),
    which is also the order Keras writes them into ``config.json``."""
    tc = _tc()
    if isinstance(model, tc.Sequential):
        return list(model.layers)
    return _keras_functional_order(_as_list(model.inputs), _as_list(model.outputs))


def _keras_functional_order(inputs, outputs):
    """Keras 3's ``ops.function.map_graph`` operation order for tichchap's tensors (one node per
    layer: tichchap has no shared layers)."""
    input_ids = {t.id for t in inputs}
    traversal_index = {}   # layer id -> first pre-order visit
    post_order = []        # tensors, inputs before the layers that read them
    finished = set()

    def visit(tensor):
        if tensor.id in finished:
            return
        traversal_index.setdefault(id(tensor.layer), len(traversal_index))
        if tensor.id not in input_ids:
            for parent in tensor.inputs:
                visit(parent)
        finished.add(tensor.id)
        post_order.append(tensor)

    for out in outputs:
        visit(out)
    tensor_depth, layer_depth, layer_of = {}, {}, {}
    for tensor in reversed(post_order):
        depth = tensor_depth.setdefault(tensor.id, 0)
        depth = max(depth, layer_depth.get(id(tensor.layer), 0))
        layer_depth[id(tensor.layer)] = depth
        layer_of[id(tensor.layer)] = tensor.layer
        tensor_depth[tensor.id] = depth
        if tensor.id not in input_ids:
            for parent in tensor.inputs:
                tensor_depth[parent.id] = max(depth + 1, tensor_depth.get(parent.id, 0))
    for t in inputs:  # inputs no output depends on
        if id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)], traversal_index[id(t.layer)], layer_of[id(t.layer)] = 0, -1, t.layer
    return sorted(layer_of.values(), key=lambda layer: (-layer_depth[id(layer)], traversal_index[id(layer)]))


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _keras3_keys(layers):
    """Keras 3's group key for each layer: snake-cased class name with a per-model counter."""
    used = {}
    keys = []
    for layer in layers:
        base = _snake_case(_keras_class_name(layer))
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys


def _read_vars(group):
    names = sorted(group.keys(), key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k))
    return [np.asarray(group[k][()]) for k in names]


def _keras3_weights(h5, ordered_layers, path):
    """{layer: [arrays]} from a Keras 3 weights file (layers/<key>/vars/<i>); ``ordered_layers``
    in the order Keras numbered the groups (see :func:`_saved_layers`)."""
    if "layers" not in h5:
        raise FileFormatError(f"{path}: no 'layers' group in the weights; expected Keras 3's layout "
                              f"layers/<layer>/vars/0, ...; received top-level groups {sorted(h5.keys())}")
    groups = h5["layers"]
    found = {}
    for layer, key in zip(ordered_layers, _keras3_keys(ordered_layers)):
        if not layer.weights:
            continue
        if key not in groups or "vars" not in groups[key]:
            raise ShapeError(f"{path}: the weights file has no group for layer {layer.name!r} "
                             f"({_keras_class_name(layer)}); expected layers/{key}/vars; "
                             f"received groups {sorted(groups.keys())}")
        found[layer] = _read_vars(groups[key]["vars"])
    return found


def _legacy_weights(group, model, path, by_name):
    """{layer: [arrays]} from the legacy per-layer-name layout (``layer_names``/``weight_names``).

    ``by_name``: match layers by name (a whole-model file); else, as Keras' ``load_weights`` does,
    match the file's layers that have weights with the model's, in order."""
    layer_names = _attr_strings(group, "layer_names")
    if layer_names is None:
        raise FileFormatError(f"{path}: no 'layer_names' attribute; expected a Keras HDF5 weights file")
    stored = []
    for layer_name in layer_names:
        g = group[layer_name]
        weight_names = _attr_strings(g, "weight_names") or []
        stored.append((layer_name, [np.asarray(g[w][()]) for w in weight_names]))
    model_layers = [layer for layer in _saved_layers(model) if layer.weights]
    if by_name:
        table = dict(stored)
        found = {}
        for layer in model_layers:
            if layer.name not in table:
                raise ShapeError(f"{path}: the weights file has no weights for layer {layer.name!r}; expected "
                                 f"a group named {layer.name!r}; received {layer_names}")
            found[layer] = table[layer.name]
        return found
    stored = [(n, arrays) for n, arrays in stored if arrays]
    if len(stored) != len(model_layers):
        raise ShapeError(f"{path}: the weights file holds weights for {len(stored)} layers "
                         f"({[n for n, _ in stored]}); expected {len(model_layers)} for this model "
                         f"({[layer.name for layer in model_layers]})")
    return {layer: arrays for layer, (_, arrays) in zip(model_layers, stored)}


def _assign(weights_by_layer, path):
    """Check every array against its layer first; only then copy them in (nothing half-loaded)."""
    for layer, arrays in weights_by_layer.items():
        expected = [tuple(w.shape) for w in layer.weights]
        received = [tuple(a.shape) for a in arrays]
        if expected != received:
            raise ShapeError(f"{path}: the weights of layer {layer.name!r} ({_keras_class_name(layer)}) do not fit; "
                             f"expected shapes {expected}; received {received}")
        for a in arrays:
            if not np.issubdtype(a.dtype, np.number):
                raise FileFormatError(f"{path}: layer {layer.name!r} has non-numeric weights ({a.dtype})")
    for layer, arrays in weights_by_layer.items():
        layer.set_weights(arrays)


def _load_weights_from_h5(model, h5, path, whole_model):
    if "layers" in h5 or ("vars" in h5 and "model_weights" not in h5 and "layer_names" not in h5.attrs):
        return _keras3_weights(h5, _saved_layers(model), path)
    if "model_weights" in h5:
        return _legacy_weights(h5["model_weights"], model, path, by_name=whole_model)
    if "layer_names" in h5.attrs:
        return _legacy_weights(h5, model, path, by_name=whole_model)
    raise FileFormatError(f"{path}: an HDF5 file without Keras weights; expected 'layers' (Keras 3), "
                          f"'model_weights' or a 'layer_names' attribute (legacy); received groups {sorted(h5.keys())}")


def _config_layer_order(config, model):
    """The model's layers in the order of the config's layer list, which is the order the same
    Keras model numbered its weight groups in (Sequential: without its InputLayer)."""
    entries = config["config"]["layers"]
    if config.get("class_name") == "Sequential":
        entries = [e for e in entries if e.get("class_name") != "InputLayer"]
        return [layer for layer, _ in zip(model.layers, entries)]
    by_name = {layer.name: layer for layer in _saved_layers(model)}
    names = [e.get("name", (e.get("config") or {}).get("name")) for e in entries]
    return [by_name[n] for n in names if n in by_name]


# =============================================================================================
# Public: loading
# =============================================================================================

def load_keras_model(path):
    """Load a Keras model file (``.keras`` archive or legacy ``.h5``) as a tichchap model.

    Needs h5py, never TensorFlow. Raises :class:`UnsupportedKerasFeatureError` (a ConfigError)
    for a layer class or option tichchap lacks, FileFormatError for a truncated, corrupt or
    non-Keras file, ShapeError when the stored weights do not fit the stored architecture.
    """
    path = os.fspath(path)
    kind = _file_kind(path)
    if kind == "zip":
        config, weight_bytes = _read_archive(path)
        model = model_from_keras_config(config, source=path)
        h5 = _open_h5_bytes(weight_bytes, path)
        try:
            with _Reading(path, f"read {WEIGHTS_NAME} of"):
                weights = _keras3_weights(h5, _config_layer_order(config, model), path)
        finally:
            h5.close()
    else:
        h5py = _require_h5py()
        with _Reading(path, "open"):
            h5 = h5py.File(path, "r")
        try:
            with _Reading(path):
                if "model_config" not in h5.attrs:
                    raise FileFormatError(
                        f"{path}: an HDF5 file without a model architecture (no 'model_config' attribute); expected "
                        f"a whole-model .h5 saved by model.save(); a weights-only file is read with load_weights")
                config = json.loads(_decode_attr(h5.attrs["model_config"]))
                model = model_from_keras_config(config, source=path)
                weights = _load_weights_from_h5(model, h5, path, whole_model=True)
        finally:
            h5.close()
    _assign(weights, path)
    return model


def load_weights(model, path):
    """Load weights into ``model`` from a Keras ``.weights.h5`` file (Keras 3 layout), a legacy
    ``.h5`` weights or whole-model file, or the weights of a ``.keras`` archive. Layers are matched
    as Keras matches them (Keras 3: by class and position; legacy: the layers that have weights,
    in order). All arrays are checked before any is assigned."""
    path = os.fspath(path)
    kind = _file_kind(path)
    if kind == "zip":
        _, weight_bytes = _read_archive(path)
        h5 = _open_h5_bytes(weight_bytes, path)
    else:
        h5py = _require_h5py()
        with _Reading(path, "open"):
            h5 = h5py.File(path, "r")
    try:
        with _Reading(path):
            weights = _load_weights_from_h5(model, h5, path, whole_model=False)
    finally:
        h5.close()
    _assign(weights, path)
    return model


# =============================================================================================
# Architecture: tichchap model -> Keras config
# =============================================================================================

# The constructor arguments Keras 3 takes for each class (others in tichchap's config are left out).
_COMMON = ("name", "trainable", "dtype")
_CONV_COMMON = ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation", "use_bias")
_KERAS_ARGS = {
    "Conv2D": _COMMON + ("filters",) + _CONV_COMMON + ("groups", "kernel_initializer", "bias_initializer"),
    "DepthwiseConv2D": _COMMON + _CONV_COMMON + ("depth_multiplier", "depthwise_initializer", "bias_initializer"),
    "SeparableConv2D": _COMMON + ("filters",) + _CONV_COMMON + (
        "depth_multiplier", "depthwise_initializer", "pointwise_initializer", "bias_initializer"),
    "Dense": _COMMON + ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer"),
    "MaxPooling2D": _COMMON + ("pool_size", "strides", "padding", "data_format"),
    "AveragePooling2D": _COMMON + ("pool_size", "strides", "padding", "data_format"),
    "GlobalMaxPooling2D": _COMMON + ("data_format", "keepdims"),
    "GlobalAveragePooling2D": _COMMON + ("data_format", "keepdims"),
    "Flatten": _COMMON + ("data_format",),
    "Reshape": _COMMON + ("target_shape",),
    "ZeroPadding2D": _COMMON + ("padding", "data_format"),
    "BatchNormalization": _COMMON + ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                                     "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer"),
    "Dropout": _COMMON + ("rate", "seed", "noise_shape"),
    "Activation": _COMMON + ("activation",),
    "ReLU": _COMMON + ("max_value", "negative_slope", "threshold"),
    "Add": _COMMON,
    "Concatenate": _COMMON + ("axis",),
}


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _keras_initializer(value):
    """Keras' serialized form of an initializer given by name, dict or tichchap object."""
    from .. import initializers
    if value is None:
        return None
    init = initializers.get(value)
    class_name = type(init).__name__
    return {"module": "keras.initializers", "class_name": class_name,
            "config": _json_ready(init.get_config()), "registered_name": None}


def _keras_layer_config(layer):
    class_name = _keras_class_name(layer)
    if class_name not in _KERAS_ARGS:
        raise UnsupportedKerasFeatureError(
            f"layer {layer.name!r} has class {class_name!r}, which tichchap cannot write in Keras' format; "
            f"expected one of {sorted(_KERAS_ARGS)}", layer.name, class_name, None)
    config = layer.get_config()
    out = {}
    for key in _KERAS_ARGS[class_name]:
        if key not in config:
            continue
        value = config[key]
        if key.endswith("_initializer"):
            value = _keras_initializer(value)
        elif key == "dtype":
            value = layer.dtype or value or "float32"
            if isinstance(value, dict):
                value = (value.get("config") or {}).get("name", "float32")
        out[key] = value
    out["name"] = layer.name
    out.setdefault("dtype", layer.dtype or "float32")
    out.setdefault("trainable", bool(getattr(layer, "trainable", True)))
    if class_name == "AveragePooling2D" and out.get("pool_size") is None:
        out["pool_size"] = (2, 2)
    return _json_ready(out)


def _batch_shape(shape):
    """[None, d1, d2, ...] from a tichchap shape with or without its batch axis."""
    shape = tuple(shape)
    if shape and shape[0] is None:
        shape = shape[1:]
    return [None] + [int(d) for d in shape]


def _layer_input_shapes(model, layer):
    tensors = layer.input if isinstance(layer.input, list) else [layer.input]
    shapes = [_batch_shape(t.shape) for t in tensors]
    return shapes if isinstance(layer.input, list) else shapes[0]


def _keras_tensor_ref(tensor, node_index=0):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": _batch_shape(tensor.shape), "dtype": tensor.dtype if isinstance(tensor.dtype, str)
                       else np.dtype(tensor.dtype).name, "keras_history": [tensor.layer.name, node_index, 0]}}


def _input_layer_entry(tensor):
    name = tensor.layer.name
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": _batch_shape(tensor.shape), "dtype": _dtype_name(tensor.dtype),
                       "sparse": False, "ragged": False, "name": name, "optional": False},
            "registered_name": None, "name": name, "inbound_nodes": []}


def _dtype_name(dtype):
    return dtype if isinstance(dtype, str) else np.dtype(dtype).name


def _layer_entry(model, layer, functional):
    entry = {"module": "keras.layers", "class_name": _keras_class_name(layer),
             "config": _keras_layer_config(layer), "registered_name": None,
             "build_config": {"input_shape": _layer_input_shapes(model, layer)}}
    if functional:
        entry["name"] = layer.name
        inbound = layer.input if isinstance(layer.input, list) else [layer.input]
        refs = [_keras_tensor_ref(t) for t in inbound]
        entry["inbound_nodes"] = [{"args": [refs if isinstance(layer.input, list) else refs[0]], "kwargs": {}}]
    return entry


def keras_config_of(model):
    """The ``config.json`` content Keras 3 writes for ``model`` (Sequential or functional)."""
    tc = _tc()
    if isinstance(model, tc.Sequential):
        input_tensor = _as_list(model.inputs)[0]
        input_shape = _batch_shape(input_tensor.shape)
        layers = [_input_layer_entry(input_tensor)]
        for layer in model.layers:
            entry = _layer_entry(model, layer, functional=False)
            layers.append(entry)
        for entry in layers:
            entry.pop("name", None)
            entry.pop("inbound_nodes", None)
        config = {"name": model.name, "trainable": True, "dtype": _policy(), "layers": layers,
                  "build_input_shape": input_shape}
        return {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None,
                "build_config": {"input_shape": input_shape}}
    inputs = _as_list(model.inputs)
    outputs = _as_list(model.outputs)
    input_tensor_of = {id(t.layer): t for t in inputs}
    layers = []
    for layer in _saved_layers(model):
        if id(layer) in input_tensor_of:
            layers.append(_input_layer_entry(input_tensor_of[id(layer)]))
        else:
            layers.append(_layer_entry(model, layer, functional=True))

    def refs(tensors):
        items = [[t.layer.name, 0, 0] for t in tensors]
        return items[0] if len(items) == 1 else items

    config = {"name": model.name, "trainable": True, "layers": layers,
              "input_layers": refs(inputs), "output_layers": refs(outputs)}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
            "registered_name": "Functional", "build_config": {"input_shape": None}}


def _policy():
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def _write_keras3_weights(model, fileobj):
    """Write Keras 3's weights layout (layers/<key>/vars/<i>, name attributes) into ``fileobj``."""
    h5py = _require_h5py()
    layers = _saved_layers(model)
    with h5py.File(fileobj, "w") as h5:
        top = h5.create_group("layers")
        for layer, key in zip(layers, _keras3_keys(layers)):
            vars_group = top.create_group(key).create_group("vars")
            vars_group.attrs["name"] = layer.name
            for i, w in enumerate(layer.weights):
                vars_group.create_dataset(str(i), data=np.asarray(w))
        h5.create_group("vars").attrs["name"] = model.name


def _write_legacy_weights(model, group):
    """Legacy layout: layer_names on ``group``, one group per layer with weight_names."""
    layers = _saved_layers(model)  # Keras' order: its legacy loader matches layers by position
    group.attrs["layer_names"] = np.array([layer.name.encode("utf-8") for layer in layers])
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = WRITTEN_KERAS_VERSION.encode()
    for layer in layers:
        g = group.create_group(layer.name)
        names = [f"{layer.name}/{n}" for n in getattr(layer, "weight_names", [])] or \
                [f"{layer.name}/{i}" for i in range(len(layer.weights))]
        g.attrs["weight_names"] = np.array([n.encode("utf-8") for n in names])
        for n, w in zip(names, layer.weights):
            g.create_dataset(n, data=np.asarray(w))


# =============================================================================================
# Public: saving
# =============================================================================================

def save_keras_model(model, path):
    """Write ``model`` as a Keras 3 ``.keras`` archive that real Keras loads
    (``keras.saving.load_model(path)``) with the same architecture and weights. Atomic: an error
    leaves any previous file at ``path`` untouched."""
    path = os.fspath(path)
    config = keras_config_of(model)
    metadata = {"keras_version": WRITTEN_KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "producer": "tichchap"}
    weights = io.BytesIO()
    _write_keras3_weights(model, weights)
    with atomic_write(path, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA_NAME, json.dumps(metadata))
            archive.writestr(CONFIG_NAME, json.dumps(config))
            archive.writestr(WEIGHTS_NAME, weights.getvalue())
    return path


def legacy_config_of(model):
    """The ``model_config`` attribute Keras writes into a legacy ``.h5`` model file: the same
    architecture as :func:`keras_config_of` without Keras 3's module/registration keys."""
    config = keras_config_of(model)
    layers = []
    for entry in config["config"]["layers"]:
        layers.append({k: v for k, v in entry.items() if k not in ("module", "registered_name", "build_config")})
    return {"class_name": config["class_name"], "config": dict(config["config"], layers=layers)}


def save_legacy_h5_model(model, path):
    """Write ``model`` as a legacy whole-model HDF5 file (what ``model.save("x.h5")`` writes):
    ``model_config`` attribute plus a ``model_weights`` group. Keras 2 and 3 both load it."""
    path = os.fspath(path)
    h5py = _require_h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["keras_version"] = WRITTEN_KERAS_VERSION
        h5.attrs["model_config"] = json.dumps(legacy_config_of(model))
        _write_legacy_weights(model, h5.create_group("model_weights"))
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    return path


def save_weights(model, path):
    """Write ``model``'s weights: Keras 3's layout for a name ending in ``.weights.h5`` (what
    Keras 3's ``model.load_weights`` reads), the legacy Keras 2 layout for any other ``.h5``."""
    path = os.fspath(path)
    h5py = _require_h5py()
    buffer = io.BytesIO()
    if path.endswith(".weights.h5"):
        _write_keras3_weights(model, buffer)
    elif path.endswith((".h5", ".hdf5")):
        with h5py.File(buffer, "w") as h5:
            _write_legacy_weights(model, h5)
    else:
        raise ConfigError(f"save_weights: unknown weights file type for {path!r}; expected a name ending in "
                          f"'.weights.h5' (Keras 3) or '.h5' (legacy); received {os.path.basename(path)!r}")
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    return path
