"""tichchap's own model file: one NumPy ``.npz`` archive (no pickle) holding

- ``tichchap.json``: format version, the model's config, its compile config, the random
  generators' states and the count of finished epochs;
- ``weights/<i>``: every weight in Keras' order;
- ``optimizer/<i>/<j>``: the optimizer's slot arrays (moments, momentum) per trainable weight.

With all of that, a model saved after epoch k and loaded again trains epoch k + 1 to exactly the
weights an uninterrupted run reaches. The file is written atomically.
"""

import json

import numpy as np

from ..errors import FileFormatError, ShapeError, TichchapError
from ..utils.fileio import atomic_write

FORMAT = "tichchap-model"
VERSION = 1


def _rng_layers(model):
    return [layer for layer in model.layers if hasattr(layer, "rng")]


def _json_array(obj):
    return np.array(json.dumps(obj))


def save_model(model, path, include_optimizer=True):
    from ..model import Sequential

    model._require_graph("be saved")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "class_name": "Sequential" if isinstance(model, Sequential) else "Model",
        "config": model.get_config(),
        "compile": getattr(model, "_compile_config", None) if model.optimizer is not None else None,
        "completed_epochs": model.completed_epochs,
        "rng": model.rng.bit_generator.state,
        "layer_rngs": {layer.name: layer.rng.bit_generator.state for layer in _rng_layers(model)},
        "weights": [[layer.name, name] for layer in model.layers for name in layer.weight_names],
    }
    arrays = {f"weights/{i}": w for i, w in enumerate(model.weights)}
    if include_optimizer and model.optimizer is not None:
        state = model.optimizer.get_state()
        meta["optimizer_state"] = {"iterations": state["iterations"], "slots": len(state["slots"]),
                                   "slot_names": list(model.optimizer.slot_names)}
        for i, slots in enumerate(state["slots"]):
            for j, array in enumerate(slots):
                arrays[f"optimizer/{i}/{j}"] = array
    arrays["tichchap.json"] = _json_array(meta)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def save_weights(model, path):
    meta = {"format": FORMAT + "-weights", "version": VERSION,
            "weights": [[layer.name, name] for layer in model.layers for name in layer.weight_names]}
    arrays = {f"weights/{i}": w for i, w in enumerate(model.weights)}
    arrays["tichchap.json"] = _json_array(meta)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def _open(path, expected_format):
    try:
        archive = np.load(path, allow_pickle=False)
        if not hasattr(archive, "files") or "tichchap.json" not in archive.files:
            raise FileFormatError(f"{path}: not a tichchap model file (no tichchap.json entry)")
        meta = json.loads(str(archive["tichchap.json"]))
        if meta.get("format") != expected_format:
            raise FileFormatError(f"{path}: expected a {expected_format} file; received format {meta.get('format')!r}")
        if meta.get("version") != VERSION:
            raise FileFormatError(f"{path}: unsupported file version; expected {VERSION}; received {meta.get('version')!r}")
        return archive, meta
    except TichchapError:
        raise
    except Exception as err:  # noqa: BLE001 - zipfile and numpy's header parser raise many types on damage
        raise FileFormatError(f"{path}: the file is truncated or corrupt ({type(err).__name__}: {err})") from None


def _read(archive, key, path):
    try:
        return archive[key]
    except Exception as err:  # noqa: BLE001 - a damaged .npy header can raise SyntaxError, tokenize.TokenError...
        raise FileFormatError(f"{path}: entry {key!r} is missing or corrupt ({type(err).__name__})") from None


def _read_weights(archive, meta, path):
    return [_read(archive, f"weights/{i}", path) for i in range(len(meta["weights"]))]


def load_model(path, compile=True):
    from .. import losses, optimizers
    from ..model import Model, Sequential

    archive, meta = _open(path, FORMAT)
    try:
        cls = Sequential if meta["class_name"] == "Sequential" else Model
        weights = _read_weights(archive, meta, path)
        try:
            model = cls.from_config(meta["config"])
            model.set_weights(weights)
        except ShapeError as err:
            raise FileFormatError(f"{path}: the weights do not fit the architecture stored beside them ({err})") from None
        compile_config = meta.get("compile")
        if compile and compile_config:
            loss = losses.get(compile_config["loss"]) if compile_config.get("loss") else None
            model.compile(optimizer=optimizers.deserialize(compile_config["optimizer"]), loss=loss,
                          metrics=compile_config.get("metrics") or None)
            opt_meta = meta.get("optimizer_state")
            if opt_meta:
                slots = [[_read(archive, f"optimizer/{i}/{j}", path) for j in range(len(opt_meta["slot_names"]))]
                         for i in range(opt_meta["slots"])]
                model.optimizer.set_state({"iterations": opt_meta["iterations"], "slots": slots})
        model.completed_epochs = int(meta.get("completed_epochs", 0))
        model.rng.bit_generator.state = meta["rng"]
        for layer in _rng_layers(model):
            if layer.name in meta.get("layer_rngs", {}):
                layer.rng.bit_generator.state = meta["layer_rngs"][layer.name]
        return model
    except TichchapError:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise FileFormatError(f"{path}: the model description is incomplete or corrupt ({type(err).__name__}: {err})") from None


def load_weights(model, path):
    archive, meta = _open(path, FORMAT + "-weights")
    weights = _read_weights(archive, meta, path)
    model.set_weights(weights)
