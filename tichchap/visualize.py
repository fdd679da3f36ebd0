"""See inside a network: feature maps, filters, training curves and confusion matrices as pictures.

matplotlib is imported inside the functions, and only its object API is used (``Figure`` with the
Agg canvas), so nothing here changes the pyplot backend or state of the program that calls it.
Every file is written atomically.

    >>> from tichchap import visualize
    >>> maps = visualize.feature_maps(model, x)               # doctest: +SKIP
    >>> {name: m.shape for name, m in maps.items()}            # doctest: +SKIP
    {'conv2d': (26, 26, 8), 'max_pooling2d': (13, 13, 8), 'flatten': (1352,), 'dense': (10,)}
    >>> visualize.plot_feature_maps(model, x, out_dir="maps")  # doctest: +SKIP
    ['maps/00_input.png', 'maps/01_conv2d.png', ...]

The same pictures come from the command line:
``tichchap featuremaps MODEL_OR_FILE IMAGE --layers conv2d,max_pooling2d --out DIR``.
"""

import argparse
import html
import math
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, DataError, ShapeError, TichchapError, describe
from .utils.fileio import atomic_write

# ---------------------------------------------------------------------------------------------
# Feature maps as arrays
# ---------------------------------------------------------------------------------------------


def _input_layer_types():
    from .layers.base import InputLayer

    return InputLayer


def _resolve_layers(model, layers):
    """The model's layers named by ``layers`` (names or Layer objects), in the model's order."""
    InputLayer = _input_layer_types()
    all_layers = model.layers
    if layers is None:
        return [l for l in all_layers if not isinstance(l, InputLayer)]
    if isinstance(layers, str):
        layers = [layers]
    chosen = set()
    for item in layers:
        layer = model.get_layer(item) if isinstance(item, str) else item
        if not any(layer is l for l in all_layers):
            if any(t.layer is layer for t in model.inputs):
                chosen.add(id(layer))
                continue
            raise ConfigError(describe(f"{model.name}: layer {getattr(layer, 'name', layer)!r} is not part of the model",
                                       f"one of {[l.name for l in all_layers]}", repr(item)))
        chosen.add(id(layer))
    ordered = [t.layer for t in model.inputs if id(t.layer) in chosen]
    return ordered + [l for l in all_layers if id(l) in chosen and not any(l is t.layer for t in model.inputs)]


def _single_input(model, what):
    model._require_graph(what)
    if len(model.inputs) != 1:
        raise ConfigError(describe(f"{what}: the model {model.name!r} has several inputs",
                                   "a model with one input", f"{len(model.inputs)} inputs"))
    return model.inputs[0]


def load_for_model(model, path, scale=True, interpolation="bilinear"):
    """Read the image file ``path`` as ``model`` takes it: resized to its input's height and width,
    grayscale / RGB / RGBA by its channel count, in [0, 1] (``scale=True``) or 0..255."""
    from . import image

    shape = _single_input(model, "load_for_model").shape
    if len(shape) != 4:
        raise ShapeError(describe(f"load_for_model: model {model.name!r} does not take images",
                                  "an input of shape (None, height, width, channels)", f"{shape}"))
    channels = shape[-1]
    modes = {1: "grayscale", 3: "rgb", 4: "rgba"}
    if channels not in modes:
        raise ShapeError(describe(f"load_for_model: model {model.name!r} takes {channels} channels, which no image "
                                  "file has", "1, 3 or 4 channels", f"input shape {shape}"))
    return image.load(path, target_size=shape[1:3], color_mode=modes[channels], interpolation=interpolation,
                      scale=scale, dtype=model.dtype)


def _prepare_image(model, image):
    """One image as a batch of one, of the model's input shape and dtype."""
    tensor = _single_input(model, "feature_maps")
    if isinstance(image, (str, bytes, os.PathLike)):
        image = load_for_model(model, image)
    x = np.asarray(image)
    sample_shape = tuple(tensor.shape[1:])
    if x.shape == sample_shape:
        x = x[None]
    elif x.shape == sample_shape[:-1] and sample_shape[-1] == 1:
        x = x[None, ..., None]
    elif not (x.ndim == len(sample_shape) + 1 and x.shape[0] == 1 and x.shape[1:] == sample_shape):
        raise ShapeError(describe(f"feature_maps: the image does not fit the input of model {model.name!r}",
                                  f"one image of shape {sample_shape} (or {(1,) + sample_shape})", f"shape {x.shape}"))
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(describe("feature_maps: the image must hold numbers", "a numeric array", f"dtype {x.dtype}"))
    x = x.astype(tensor.dtype, copy=False)
    if not np.all(np.isfinite(x)):
        raise DataError("feature_maps: the image holds NaN or inf values; expected finite numbers")
    return x


def feature_maps(model, image, layers=None):
    """The outputs of the chosen layers for one image, as a dict ``{layer name: array}``.

    ``image``: one sample of the model's input shape (H, W, C), with or without a batch axis of 1
    (a 2-D array for a one-channel model, or an image file name, also do). ``layers``: layer names
    or layer objects; ``None`` takes every layer. The dict follows the model's layer order whatever
    order ``layers`` names them in; each array has its batch axis removed.

    The arrays come from one forward pass of a sub-model over the intermediate outputs,
    ``Model(model.inputs, [model.get_layer(n).output ...])``, which shares the model's weights.
    """
    from .model import Model

    x = _prepare_image(model, image)
    chosen = _resolve_layers(model, layers)
    if not chosen:
        return {}
    sub_model = Model(model.inputs, [layer.output for layer in chosen], name=f"{model.name}_feature_maps")
    outputs = sub_model.predict(x, batch_size=1, verbose=0)
    return {layer.name: out[0] for layer, out in zip(chosen, outputs)}


def map_stats(array):
    """``{"min", "max", "mean"}`` of an array, as Python floats."""
    a = np.asarray(array, dtype=np.float64)
    return {"min": float(a.min()), "max": float(a.max()), "mean": float(a.mean())}


# ---------------------------------------------------------------------------------------------
# The grid picture: tiles placed pixel for pixel, so what is saved is exactly the values shown
# ---------------------------------------------------------------------------------------------

DPI = 100
MIN_TILE_PX = 64      # a small map is enlarged by a whole factor until its longer side reaches this
GAP_PX = 4            # white space between tiles
LABEL_PX = 14         # the strip above each tile holding its channel index
MARGIN_PX = 10        # left, right and bottom margin
TITLE_PX = 60         # the title lines at the top (name and shape, values, scale)
MIN_WIDTH_PX = 480    # so the title fits above a grid of few small tiles


@dataclass(frozen=True)
class GridLayout:
    """Where a grid picture puts its tiles; every size in pixels. ``tile_origin(k)`` is the
    top-left corner (x, y) of tile k counted from the picture's top-left corner."""

    n_tiles: int
    rows: int
    cols: int
    zoom: int
    tile_h: int
    tile_w: int
    mosaic_w: int
    mosaic_h: int
    width: int
    height: int
    left: int
    top: int

    def tile_origin(self, k):
        row, col = divmod(k, self.cols)
        return (self.left + col * (self.tile_w + GAP_PX),
                self.top + row * (LABEL_PX + self.tile_h + GAP_PX) + LABEL_PX)


def grid_layout(n_tiles, map_h, map_w, cols=None):
    """The layout of ``n_tiles`` maps of ``map_h`` x ``map_w`` pixels: ``ceil(sqrt(n))`` columns
    unless ``cols`` is given, each map enlarged ``zoom`` times (nearest neighbour)."""
    if n_tiles < 1 or map_h < 1 or map_w < 1:
        raise ShapeError(describe("grid_layout: nothing to draw", "at least one map of at least 1x1",
                                  f"{n_tiles} maps of {map_h}x{map_w}"))
    zoom = max(1, math.ceil(MIN_TILE_PX / max(map_h, map_w)))
    cols = min(n_tiles, cols or math.ceil(math.sqrt(n_tiles)))
    rows = math.ceil(n_tiles / cols)
    tile_h, tile_w = map_h * zoom, map_w * zoom
    mosaic_w = cols * tile_w + (cols - 1) * GAP_PX
    mosaic_h = rows * (LABEL_PX + tile_h) + (rows - 1) * GAP_PX
    width = max(mosaic_w + 2 * MARGIN_PX, MIN_WIDTH_PX)
    height = TITLE_PX + mosaic_h + MARGIN_PX
    return GridLayout(n_tiles, rows, cols, zoom, tile_h, tile_w, mosaic_w, mosaic_h, width, height,
                      left=(width - mosaic_w) // 2, top=TITLE_PX)


def normalize_tiles(tiles, shared_scale=False):
    """Map each tile's values to [0, 1]: by its own min..max, or by the min..max of all tiles.

    ``tiles``: array (n, h, w) or (n, h, w, 3). A tile (or a whole set, when shared) whose values
    are all equal maps to 0. Returns float64 of the same shape and the (low, high) used per tile.
    """
    t = np.asarray(tiles, dtype=np.float64)
    axes = tuple(range(t.ndim)) if shared_scale else tuple(range(1, t.ndim))
    low = t.min(axis=axes, keepdims=True)
    high = t.max(axis=axes, keepdims=True)
    span = high - low
    out = np.where(span > 0, (t - low) / np.where(span > 0, span, 1.0), 0.0)
    low = np.broadcast_to(low, (t.shape[0],) + (1,) * (t.ndim - 1)).reshape(-1)
    high = np.broadcast_to(high, (t.shape[0],) + (1,) * (t.ndim - 1)).reshape(-1)
    return out, list(zip(low.tolist(), high.tolist()))


def to_gray_levels(unit_values):
    """[0, 1] -> uint8 0..255, as the pictures store them."""
    return np.clip(np.rint(np.asarray(unit_values) * 255.0), 0, 255).astype(np.uint8)


def _mosaic(unit_tiles, layout):
    """The grid as one RGB uint8 array (white background), tiles enlarged ``zoom`` times."""
    levels = to_gray_levels(unit_tiles)
    if levels.ndim == 3:
        levels = np.repeat(levels[..., None], 3, axis=-1)
    z = layout.zoom
    levels = levels.repeat(z, axis=1).repeat(z, axis=2)
    mosaic = np.full((layout.mosaic_h, layout.mosaic_w, 3), 255, dtype=np.uint8)
    for k in range(layout.n_tiles):
        x, y = layout.tile_origin(k)
        x, y = x - layout.left, y - layout.top
        mosaic[y:y + layout.tile_h, x:x + layout.tile_w] = levels[k]
    return mosaic


def _new_figure(width_px, height_px):
    from matplotlib.figure import Figure

    return Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)


def _save_figure(fig, path):
    path = os.fspath(path)
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=DPI)
    return path


def _title(fig, height_px, lines):
    """Up to three title lines in the top TITLE_PX pixels: bold first, then smaller ones."""
    fig.text(0.5, 1 - 14 / height_px, lines[0], ha="center", va="center", fontsize=11, fontweight="bold")
    for y, line in zip((33, 48), lines[1:3]):
        fig.text(0.5, 1 - y / height_px, line, ha="center", va="center", fontsize=8.5, color="#444444")


def save_grid(tiles, path, title_lines, labels=None, shared_scale=False, cols=None):
    """Write a grid picture of ``tiles`` ((n, h, w) gray or (n, h, w, 3) colour) to ``path``.

    Each tile is scaled to [0, 1] (see :func:`normalize_tiles`) and drawn as gray levels (or
    colours) pixel for pixel, enlarged by the layout's whole ``zoom``; above each tile its label
    (default: its index). Returns ``(path, layout)``.
    """
    tiles = np.asarray(tiles)
    if tiles.ndim not in (3, 4) or (tiles.ndim == 4 and tiles.shape[-1] != 3):
        raise ShapeError(describe("save_grid: tiles must be (n, height, width) or (n, height, width, 3)",
                                  "a rank-3 or rank-4 array", f"shape {tiles.shape}"))
    layout = grid_layout(tiles.shape[0], tiles.shape[1], tiles.shape[2], cols=cols)
    unit, _ = normalize_tiles(tiles, shared_scale)
    mosaic = _mosaic(unit, layout)
    fig = _new_figure(layout.width, layout.height)
    # figimage puts the array's pixels on the canvas one for one (no resampling); its offset is
    # measured from the bottom-left corner.
    fig.figimage(mosaic, xo=layout.left, yo=layout.height - layout.top - layout.mosaic_h, origin="upper")
    labels = [str(k) for k in range(layout.n_tiles)] if labels is None else [str(s) for s in labels]
    fontsize = 7 if layout.tile_w < 48 else 8
    for k, label in enumerate(labels):
        x, y = layout.tile_origin(k)
        fig.text((x + layout.tile_w / 2) / layout.width, 1 - (y - LABEL_PX / 2) / layout.height, label,
                 ha="center", va="center", fontsize=fontsize, color="#222222")
    _title(fig, layout.height, title_lines)
    return _save_figure(fig, path), layout


BAR_HEIGHT_PX = 360


def bar_chart_size(n_values):
    """(width, height) in pixels of the bar chart of a 1-D output of ``n_values`` values."""
    return int(min(1600, max(480, 120 + 6 * n_values))), BAR_HEIGHT_PX


def save_bars(values, path, title_lines):
    """Write a bar chart of a 1-D output (a Dense layer's units, a flattened map) to ``path``."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    width, height = bar_chart_size(values.size)
    fig = _new_figure(width, height)
    ax = fig.add_axes((70 / width, 40 / height, 1 - 90 / width, 1 - (40 + TITLE_PX + 8) / height))
    ax.bar(np.arange(values.size), values, width=0.8 if values.size < 200 else 1.0, color="#3b6ea8")
    ax.set_xlim(-0.5, values.size - 0.5)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlabel("unit", fontsize=8)
    ax.tick_params(labelsize=7)
    _title(fig, height, title_lines)
    return _save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# Feature maps as pictures
# ---------------------------------------------------------------------------------------------


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _stats_text(stats):
    return f"min {stats['min']:.4g}   max {stats['max']:.4g}   mean {stats['mean']:.4g}"


def _safe_file_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _channels_first(array):
    """A map as tiles: (H, W, C) -> (C, H, W); (H, W) -> (1, H, W)."""
    if array.ndim == 2:
        return array[None]
    return np.moveaxis(array, -1, 0)


def _write_map_picture(array, path, title, shared_scale):
    """One layer's (or the input's) picture: a channel grid for 2-D/3-D arrays, bars for 1-D."""
    array = np.asarray(array)
    stats = map_stats(array)
    if array.ndim >= 4:
        array = array.reshape(array.shape[0], array.shape[1], -1)
    if array.ndim <= 1:
        save_bars(array, path, [title, _stats_text(stats)])
        return "bars"
    scale_text = "shared scale over all channels" if shared_scale else "each channel scaled to its own min..max"
    save_grid(_channels_first(array), path, [title, _stats_text(stats), f"{scale_text}; black = low, white = high"],
              shared_scale=shared_scale)
    return "grid"


def _write_input_picture(x, path, title):
    """The input as the model sees it: colour for 3 channels, gray for 1, a channel grid otherwise
    (the whole image stretched to its own min..max)."""
    stats = map_stats(x)
    if x.ndim == 3 and x.shape[-1] == 3:
        save_grid(x[None], path, [title, _stats_text(stats), "shown in colour, stretched to its min..max"], labels=["RGB"],
                  shared_scale=True)
        return "image"
    return _write_map_picture(x, path, title, shared_scale=True)


def plot_feature_maps(model, image, layers=None, out_dir="feature_maps", shared_scale=False, include_input=True,
                      html=False, html_title=None):
    """Write one PNG per chosen layer into ``out_dir``, in the model's layer order.

    A layer with a spatial output gets a grid of all its channels in gray (each channel stretched
    to its own min..max, or all to one scale with ``shared_scale=True``), titled with the layer's
    name, class, output shape and value range, each tile labelled with its channel index. A 1-D
    output (Dense, Flatten, global pooling) gets a bar chart. The input image comes first as
    ``00_input.png``; the layers follow as ``01_<name>.png``, ``02_<name>.png``, ...

    ``html=True`` also writes ``index.html`` (see :func:`write_index_html`). Returns the list of
    PNG paths written.
    """
    x = _prepare_image(model, image)
    maps = feature_maps(model, x, layers)
    os.makedirs(out_dir, exist_ok=True)
    entries = []
    if include_input:
        path = os.path.join(out_dir, "00_input.png")
        title = f"input {model.inputs[0].layer.name} {_shape_text(model.inputs[0].shape)}"
        kind = _write_input_picture(x[0], path, title)
        entries.append({"name": model.inputs[0].layer.name, "class_name": "Input", "shape": model.inputs[0].shape,
                        "file": path, "kind": kind, **map_stats(x[0])})
    for index, (name, array) in enumerate(maps.items(), start=1):
        layer = model.get_layer(name) if name != model.inputs[0].layer.name else model.inputs[0].layer
        shape = layer.output.shape
        path = os.path.join(out_dir, f"{index:02d}_{_safe_file_name(name)}.png")
        title = f"{name} ({type(layer).__name__})  output {_shape_text(shape)}"
        kind = _write_map_picture(array, path, title, shared_scale)
        entries.append({"name": name, "class_name": type(layer).__name__, "shape": shape, "file": path, "kind": kind,
                        **map_stats(array)})
    if html:
        write_index_html(out_dir, entries, title=html_title or f"Feature maps of {model.name}",
                         note="shared scale over each layer's channels" if shared_scale
                         else "each channel scaled to its own min..max")
    return [e["file"] for e in entries]


def write_index_html(out_dir, entries, title="Feature maps", note=None):
    """Write ``out_dir/index.html``: the pictures in order, each with its layer's name, class,
    shape and min/max/mean. Links are relative, so the folder can be moved and opened from disk."""
    esc = html.escape
    rows, sections = [], []
    for e in entries:
        href = os.path.basename(e["file"])
        anchor = "layer-" + _safe_file_name(e["name"])
        shape = _shape_text(tuple(e["shape"]))
        rows.append(f"<tr><td><a href=\"#{esc(anchor)}\">{esc(e['name'])}</a></td><td>{esc(e['class_name'])}</td>"
                    f"<td>{esc(shape)}</td><td>{e['min']:.6g}</td><td>{e['max']:.6g}</td><td>{e['mean']:.6g}</td></tr>")
        sections.append(
            f"<section id=\"{esc(anchor)}\">\n<h2>{esc(e['name'])} <small>{esc(e['class_name'])}</small></h2>\n"
            f"<p class=\"stats\">shape {esc(shape)} &middot; min {e['min']:.6g} &middot; max {e['max']:.6g} "
            f"&middot; mean {e['mean']:.6g}</p>\n"
            f"<img src=\"{esc(href, quote=True)}\" alt=\"{esc(e['name'])} {esc(shape)}\">\n</section>")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }}
td:first-child, td:nth-child(2), th {{ text-align: left; }}
section {{ margin-bottom: 2em; }}
h2 small {{ color: #666; font-weight: normal; }}
img {{ max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }}
.stats {{ font-family: monospace; }}
</style>
</head>
<body>
<h1>{esc(title)}</h1>
{f"<p>{esc(note)}</p>" if note else ""}
<table>
<tr><th>layer</th><th>class</th><th>output shape</th><th>min</th><th>max</th><th>mean</th></tr>
{chr(10).join(rows)}
</table>
{chr(10).join(sections)}
</body>
</html>
"""
    path = os.path.join(out_dir, "index.html")
    with atomic_write(path, "w") as f:
        f.write(page)
    return path


# ---------------------------------------------------------------------------------------------
# Filters, training curves, confusion matrices
# ---------------------------------------------------------------------------------------------


def filter_tiles(layer):
    """A layer's kernel as tiles for :func:`save_grid`: ``(tiles, labels, cols, what)``.

    - Conv2D on 1 or 3 input channels (a first layer): one tile per filter, gray or colour.
    - Conv2D on more channels: one (kh, kw) tile per (filter, input channel) pair, a row per
      filter, labelled ``filter,channel``.
    - DepthwiseConv2D / SeparableConv2D: one tile per depthwise kernel.
    - Dense: the (inputs, units) matrix as one tile.
    """
    from .layers import Conv2D, Dense, DepthwiseConv2D, SeparableConv2D

    if not getattr(layer, "built", False):
        raise ConfigError(f"plot_filters: layer {layer.name!r} has no weights yet; build the model first")
    if isinstance(layer, SeparableConv2D) or isinstance(layer, DepthwiseConv2D):
        kernel = layer.depthwise_kernel if isinstance(layer, SeparableConv2D) else layer.kernel
        kh, kw, c_in, dm = kernel.shape
        tiles = kernel.reshape(kh, kw, c_in * dm).transpose(2, 0, 1)
        return tiles, [str(k) for k in range(c_in * dm)], None, "depthwise kernels"
    if isinstance(layer, Conv2D):
        kernel = layer.kernel
        kh, kw, c_in, c_out = kernel.shape
        if c_in == 3:
            return kernel.transpose(3, 0, 1, 2), [str(k) for k in range(c_out)], None, "filters in colour (RGB)"
        if c_in == 1:
            return kernel[:, :, 0, :].transpose(2, 0, 1), [str(k) for k in range(c_out)], None, "filters"
        tiles = kernel.transpose(3, 2, 0, 1).reshape(c_out * c_in, kh, kw)
        labels = [f"{o},{i}" for o in range(c_out) for i in range(c_in)]
        return tiles, labels, c_in, "kernels: rows = filters, columns = input channels"
    if isinstance(layer, Dense):
        return layer.kernel[None], ["kernel (inputs x units)"], 1, "weight matrix"
    raise ConfigError(describe(f"plot_filters: layer {layer.name!r} ({type(layer).__name__}) has no kernel to show",
                               "a Conv2D, DepthwiseConv2D, SeparableConv2D or Dense layer", type(layer).__name__))


def plot_filters(layer, path=None, shared_scale=False, max_tiles=4096):
    """Write a picture of ``layer``'s kernels (see :func:`filter_tiles`) to ``path``
    (default ``<layer name>_filters.png``). Each tile is stretched to its own min..max, or all to
    the layer's with ``shared_scale=True``; at most ``max_tiles`` tiles are drawn. Returns the path."""
    tiles, labels, cols, what = filter_tiles(layer)
    total = len(tiles)
    if total > max_tiles:
        tiles, labels = tiles[:max_tiles], labels[:max_tiles]
        what += f"; the first {max_tiles} of {total}"
    path = path or f"{_safe_file_name(layer.name)}_filters.png"
    stats = map_stats(tiles)
    scale_text = "shared scale" if shared_scale else "each tile scaled to its own min..max"
    save_grid(tiles, path, [f"{layer.name} ({type(layer).__name__}) {what}", _stats_text(stats), scale_text],
              labels=labels, shared_scale=shared_scale, cols=cols)
    return path


def _history_dict(history):
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        raise DataError(describe("plot_history: no loss curve found", "a History or a dict with a 'loss' list",
                                 f"{type(history).__name__} with keys {sorted(logs) if isinstance(logs, dict) else '-'}"))
    return {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in logs.items()}


def _accuracy_key(logs):
    return next((k for k in ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy",
                             "binary_accuracy") if k in logs), None)


HISTORY_PANEL_PX = (500, 400)


def history_figure(history):
    """The matplotlib Figure of :func:`plot_history` (loss, and accuracy when logged)."""
    from matplotlib.ticker import MaxNLocator

    logs = _history_dict(history)
    acc_key = _accuracy_key(logs)
    panels = [("loss", "loss")] + ([(acc_key, "accuracy")] if acc_key else [])
    fig = _new_figure(HISTORY_PANEL_PX[0] * len(panels), HISTORY_PANEL_PX[1])
    for i, (key, label) in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), i)
        for prefix, style in (("", "-o"), ("val_", "--s")):
            series = logs.get(prefix + key)
            if series is not None:
                ax.plot(np.arange(1, series.size + 1), series, style, markersize=3,
                        label="validation" if prefix else "training")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_history(history, path="history.png"):
    """Write loss and accuracy per epoch, training vs validation, to ``path``; ``history`` is what
    ``model.fit`` returned or its ``.history`` dict. Returns the path."""
    return _save_figure(history_figure(history), path)


def _labels(y, what):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1)
    if y.size and not np.all(np.equal(np.mod(y, 1), 0)):
        raise DataError(describe(f"confusion_matrix: {what} must be class indices, one-hot rows or probabilities",
                                 "integers or a 2-D array", f"non-integer values such as {y[np.mod(y, 1) != 0][0]}"))
    return y.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts ``C[i, j]`` of samples of true class i predicted as j. Labels may be class indices,
    one-hot rows or predicted probabilities (argmax is taken)."""
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ShapeError(describe("confusion_matrix: y_true and y_pred have different lengths",
                                  "one prediction per label", f"{t.size} labels and {p.size} predictions"))
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    bad = (t < 0) | (t >= num_classes) | (p < 0) | (p >= num_classes)
    if np.any(bad):
        raise DataError(describe("confusion_matrix: a label is outside the classes", f"0..{num_classes - 1}",
                                 f"{int(t[bad][0]) if np.any((t < 0) | (t >= num_classes)) else int(p[bad][0])}"))
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (t, p), 1)
    return matrix


def confusion_figure_size(num_classes):
    side = int(max(500, 260 + 45 * num_classes))
    return side + 100, side


def plot_confusion_matrix(y_true, y_pred, class_names=None, path="confusion_matrix.png", normalize=False):
    """Write the confusion matrix (rows: true class, columns: predicted) with counts in the cells
    to ``path``. ``normalize=True`` colours by each row's share. Returns the path."""
    num_classes = len(class_names) if class_names is not None else None
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    k = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalize else matrix
    width, height = confusion_figure_size(k)
    fig = _new_figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix ({matrix.sum()} samples, accuracy {accuracy:.2%})", fontsize=10)
    threshold = shown.max() / 2 if shown.size else 0
    if k <= 30:
        for i in range(k):
            for j in range(k):
                text = f"{matrix[i, j]}" + (f"\n{shown[i, j]:.0%}" if normalize else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=8 if k <= 12 else 6,
                        color="white" if shown[i, j] > threshold else "black")
    fig.tight_layout()
    return _save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# The command: tichchap featuremaps MODEL_OR_FILE IMAGE --layers a,b --out DIR
# ---------------------------------------------------------------------------------------------


def resolve_model(model_or_file):
    """A model file (loaded with ``tichchap.load_model``) or a model name of
    ``tichchap.applications`` (its ``MODELS`` table; the function is called with no arguments)."""
    if os.path.exists(model_or_file):
        from .saving import load_model

        return load_model(model_or_file, compile=False)
    try:
        from . import applications
    except ImportError:
        applications = None
    models = dict(getattr(applications, "MODELS", {}) or {})
    if applications is not None and not models:  # an applications module without the table
        models = {n: getattr(applications, n) for n in getattr(applications, "__all__", [])
                  if n not in ("get", "MODELS") and callable(getattr(applications, n, None))}
    key = model_or_file.replace("-", "_").lower()
    if key not in models:
        raise ConfigError(describe(f"featuremaps: {model_or_file!r} is neither a model file nor a model name",
                                   "an existing .keras/.h5/tichchap model file or one of "
                                   + (", ".join(sorted(models)) or "(no tichchap.applications installed)"),
                                   repr(model_or_file)))
    return models[key]()


def _parser():
    parser = argparse.ArgumentParser(
        prog="tichchap featuremaps",
        description="Write each chosen layer's feature maps for one image as PNG pictures and an index.html.")
    parser.add_argument("model", metavar="MODEL_OR_FILE",
                        help="a saved model file (.keras, .h5 or tichchap's own) or a tichchap.applications name")
    parser.add_argument("image", metavar="IMAGE", help="an image file (any format Pillow reads)")
    parser.add_argument("--layers", default=None,
                        help="comma-separated layer names (default: every layer); shown in the model's order")
    parser.add_argument("--out", default="featuremaps", help="output folder (default: ./featuremaps)")
    parser.add_argument("--shared-scale", action="store_true",
                        help="one gray scale for all channels of a layer (default: each channel its own)")
    parser.add_argument("--no-scale", action="store_true",
                        help="feed pixel values 0..255 (default: divided by 255, in [0, 1])")
    parser.add_argument("--interpolation", default="bilinear",
                        help="resampling when the image is resized to the model's input (default: bilinear)")
    return parser


def main(argv=None):
    """``tichchap featuremaps ...`` (``argv`` without the subcommand). Returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse already printed
        return int(stop.code or 0)
    try:
        model = resolve_model(args.model)
        layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
        x = load_for_model(model, args.image, scale=not args.no_scale, interpolation=args.interpolation)
        paths = plot_feature_maps(model, x, layers, out_dir=args.out, shared_scale=args.shared_scale, html=True,
                                  html_title=f"Feature maps of {model.name} for {os.path.basename(args.image)}")
    except (TichchapError, OSError, ImportError) as error:
        print(f"tichchap featuremaps: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} pictures and {os.path.join(args.out, 'index.html')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
