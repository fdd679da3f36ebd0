"""``model.summary()``: Keras 3's table, with Keras' parameter counts."""

import math

import numpy as np

from .layers.base import InputLayer


def _readable_size(n_bytes):
    units = ["B", "KB", "MB", "GB", "TB"]
    size, unit = float(n_bytes), 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.2f} {units[unit]}"


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _row(cells, widths, aligns, edge="│"):
    parts = []
    for text, width, align in zip(cells, widths, aligns):
        parts.append(" " + (text.rjust(width - 2) if align == "r" else text.ljust(width - 2)) + " ")
    return edge + edge.join(parts) + edge


def summary_rows(model):
    """(name (type), output shape, params, connected to) per layer, in the model's order."""
    functional = type(model).__name__ != "Sequential"
    rows = []
    for t in model._tensors:
        layer = t.layer
        if isinstance(layer, InputLayer) and not functional:
            continue
        connected = ", ".join(f"{src.layer.name}[0][0]" for src in t.inputs) or "-"
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(t.shape), f"{layer.count_params():,}", connected))
    return rows


def print_summary(model, print_fn=None):
    print_fn = print_fn or print
    model._require_graph("be summarised")
    functional = type(model).__name__ != "Sequential"
    rows = summary_rows(model)
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    aligns = ["l", "l", "r"] + (["l"] if functional else [])
    widths = [33, 24, 15] + ([22] if functional else [])
    for i in range(len(widths)):
        widest = max([len(headers[i])] + [len(r[i]) for r in rows])
        widths[i] = max(widths[i], widest + 2)
    lines = [f'Model: "{model.name}"']
    lines.append("┏" + "┳".join("━" * w for w in widths) + "┓")
    lines.append(_row(headers, widths, aligns, edge="┃"))
    lines.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    for i, row in enumerate(rows):
        lines.append(_row(row[:len(widths)], widths, aligns))
        if i < len(rows) - 1:
            lines.append("├" + "┼".join("─" * w for w in widths) + "┤")
    lines.append("└" + "┴".join("─" * w for w in widths) + "┘")
    total = model.count_params()
    trainable = int(sum(w.size for w in model.trainable_weights))
    itemsize = np.dtype(model.dtype).itemsize
    lines.append(f" Total params: {total:,} ({_readable_size(total * itemsize)})")
    lines.append(f" Trainable params: {trainable:,} ({_readable_size(trainable * itemsize)})")
    lines.append(f" Non-trainable params: {total - trainable:,} ({_readable_size((total - trainable) * itemsize)})")
    for line in lines:
        print_fn(line)


def count_flops(model):
    """(forward, training) FLOPs per sample: 2 x multiply-adds of every conv and dense layer.
    Training = forward + weight gradient + input gradient (none for the first weighted layer)."""
    forward, first = 0, None
    for layer in model.layers:
        kind = type(layer).__name__
        out = layer.output_shape
        if kind == "Conv2D":
            kh, kw, c_in, c_out = layer.kernel.shape
            macs = math.prod(out[1:3]) * kh * kw * c_in * c_out
        elif kind == "DepthwiseConv2D":
            kh, kw, c_in, m = layer.kernel.shape
            macs = math.prod(out[1:3]) * kh * kw * c_in * m
        elif kind == "SeparableConv2D":
            kh, kw, c_in, m = layer.depthwise_kernel.shape
            macs = math.prod(out[1:3]) * (kh * kw * c_in * m + c_in * m * layer.filters)
        elif kind == "Dense":
            macs = math.prod(out[1:-1]) * layer.kernel.size
        else:
            continue
        forward += 2 * macs
        if first is None:
            first = 2 * macs
    return forward, 3 * forward - (first or 0)
