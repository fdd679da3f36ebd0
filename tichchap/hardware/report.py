"""A layer-by-layer comparison report: RTL dumps vs the golden model vs the float model, as HTML.

    >>> report = build_report(golden, x, dumps="sim/dumps", out_dir="report")   # doctest: +SKIP
    >>> report["passed"], report["path"]                                        # doctest: +SKIP
    (True, 'report/index.html')

For every golden layer the page shows, side by side, the feature maps of the RTL (when a dump of
that layer is given), the golden model, the float model and Keras (when its outputs are given),
all on one colour scale; the per-pixel error map of the compared pair (signed, a diverging
colormap centred at 0); the histogram of the signed error in LSBs (Fixed) or ULPs (floats); the
statistics of :func:`~tichchap.hardware.compare.compare` for every available pair, the verdict
(PASS/FAIL against ``tolerance``) and the layer's overflow counts.

The verdict compares the golden words with the RTL's; for a layer without a dump (or when no
dumps are given at all) it compares the golden words with the float model's outputs quantised to
the layer's format, and the page says so. Pictures are PNG files in ``img/`` beside
``index.html`` with relative links, so the folder opens from disk and can be moved or zipped.
Every file is written atomically. matplotlib (Agg, no display) is imported only when a report is
built.
"""

import html
import io
import os

import numpy as np

from ..errors import ConfigError, ShapeError
from ..utils.fileio import atomic_write
from .compare import compare
from .formats import Fixed, _ordered_float_bits
from .golden import file_stem, read_dumps

__all__ = ["build_report", "signed_distance"]

MAX_CHANNELS = 16
MAX_BARS = 128


def signed_distance(reference_words, dut_words, number_format):
    """``dut - reference`` in LSBs (Fixed) or ULPs (floats), signed, as float64."""
    if isinstance(number_format, Fixed):
        ref = number_format.words_to_ints(reference_words)
        dut = number_format.words_to_ints(dut_words)
        if ref.dtype == object or dut.dtype == object:
            return np.array([float(int(d) - int(r)) for r, d in zip(ref.ravel(), dut.ravel())]).reshape(ref.shape)
        return (dut - ref).astype(np.float64)
    return (_ordered_float_bits(dut_words) - _ordered_float_bits(reference_words)).astype(np.float64)


# ====================================================================== pictures
def _mosaic(values, max_channels):
    """(H, W, C) -> one 2-D array of channel tiles (NaN gutters), columns, rows, channels shown."""
    h, w, c = values.shape
    shown = min(c, max_channels)
    cols = min(shown, 4)
    rows = -(-shown // cols)
    mosaic = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
    for k in range(shown):
        r, q = divmod(k, cols)
        mosaic[r * (h + 1):r * (h + 1) + h, q * (w + 1):q * (w + 1) + w] = values[..., k]
    return mosaic, cols, rows, shown


def _figure(width, height):
    from matplotlib.figure import Figure           # Agg through the figure's own canvas: no display, no pyplot

    return Figure(figsize=(width, height), dpi=100)


def _save(fig, path):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    with atomic_write(path, "wb") as fh:
        fh.write(buffer.getvalue())


def _plot_values(path, values, title, vmin, vmax, cmap, max_channels, colorbar_label="value"):
    """A feature map (H, W, C) as a channel mosaic, a short vector as bars, a long one (Flatten)
    as a raster image in row-major order; one colour/axis scale."""
    if values.ndim != 3 and values.size > MAX_BARS:
        cols = int(np.ceil(np.sqrt(values.size)))
        raster = np.full(cols * (-(-values.size // cols)), np.nan)
        raster[:values.size] = values.ravel()
        values = raster.reshape(-1, cols, 1)
        title += " (row-major raster)"
    if values.ndim == 3:
        mosaic, cols, rows, shown = _mosaic(values, max_channels)
        aspect = mosaic.shape[0] / max(mosaic.shape[1], 1)
        width = min(6.0, max(2.6, 1.3 * cols))
        fig = _figure(width, max(1.6, width * aspect + 0.6))
        ax = fig.subplots()
        import matplotlib

        colormap = matplotlib.colormaps[cmap].with_extremes(bad="white")
        image = ax.imshow(np.ma.masked_invalid(mosaic), cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        more = f" (first {shown} of {values.shape[2]} channels)" if shown < values.shape[2] else ""
        ax.set_title(title + more, fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(colorbar_label, fontsize=8)
    else:
        flat = values.ravel()
        fig = _figure(min(9.0, max(3.0, 0.12 * flat.size + 1.5)), 2.2)
        ax = fig.subplots()
        colors = None
        if cmap == "RdBu_r":
            colors = np.where(flat >= 0, "#b2182b", "#2166ac")
        ax.bar(np.arange(flat.size), flat, color=colors if colors is not None else "#3b6ea5", width=0.8)
        ax.axhline(0, color="black", linewidth=0.6)
        if vmin is not None and vmax is not None and vmax > vmin:
            low = min(vmin, 0.0)
            ax.set_ylim(low - 0.05 * (vmax - low), vmax + 0.05 * (vmax - low))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("index", fontsize=8)
        ax.set_ylabel(colorbar_label, fontsize=8)
    _save(fig, path)


def _plot_histogram(path, distances, unit, title):
    fig = _figure(3.6, 2.4)
    ax = fig.subplots()
    d = distances[np.isfinite(distances)].ravel()
    if d.size:
        low, high = float(d.min()), float(d.max())
        if high - low < 60 and float(np.all(d == np.round(d))):
            bins = np.arange(low - 0.5, high + 1.5)        # one bar per integer distance
        else:
            bins = 41
        ax.hist(d, bins=bins, color="#555555")
        ax.set_yscale("log" if np.count_nonzero(d == 0) > 20 * max(np.count_nonzero(d), 1) else "linear")
    ax.axvline(0, color="#b2182b", linewidth=0.8)
    ax.set_xlabel(f"signed error ({unit})", fontsize=8)
    ax.set_ylabel("values", fontsize=8)
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def _sample(array, sample):
    a = np.asarray(array, dtype=np.float64)
    a = a[min(sample, a.shape[0] - 1)] if a.ndim >= 2 else a
    if a.ndim == 3:
        return a
    return a.reshape(-1)


# ====================================================================== HTML
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.name, th.name { text-align: left; }
td.verdict { font-weight: bold; text-align: center; }
td.pass { background: #d9f2d9; color: #155724; } td.fail { background: #f8d7da; color: #721c24; }
section { border-top: 2px solid #ddd; margin-top: 1.5em; padding-top: 0.5em; }
.row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; flex: 0 1 31%; min-width: 260px; } figcaption { font-size: 0.85em; color: #555; text-align: center; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; } #image-warning { color: #a00; font-weight: bold; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, loaded = 0, broken = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; } else { broken++; }
  }
  document.body.setAttribute("data-images-loaded", String(loaded));
  document.body.setAttribute("data-images-broken", String(broken));
  if (broken > 0) {
    var warning = document.getElementById("image-warning");
    warning.textContent = broken + " picture(s) failed to load: keep the img/ folder beside this page.";
    warning.hidden = false;
  }
});
"""


def _e(text):
    return html.escape(str(text), quote=True)


def _fmt_number(v):
    if v is None:
        return ""
    if isinstance(v, float) and (v != v):
        return "nan"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{v:.6g}"


def _stats_rows(comparisons):
    rows = []
    for label, result, primary in comparisons:
        verdict = "PASS" if result.passed else "FAIL"
        first = ""
        if result.first_failure:
            f = result.first_failure
            first = (f"{tuple(f['index'])}: golden {f['reference_hex']} ({f['reference_value']:.9g}) vs "
                     f"{label} {f['dut_hex']} ({f['dut_value']:.9g})")
        rows.append(
            f"<tr><td class='name'>golden vs {_e(label)}{' (verdict)' if primary else ''}</td>"
            f"<td>{result.exact}/{result.count}</td><td>{100 * result.exact_share:.2f}%</td>"
            f"<td>{_fmt_number(result.max_lsb)}</td><td>{_fmt_number(result.p50_lsb)}</td>"
            f"<td>{_fmt_number(result.p99_lsb)}</td><td>{_fmt_number(result.max_abs)}</td>"
            f"<td>{_fmt_number(result.p99_abs)}</td><td>{result.failures}</td>"
            f"<td class='verdict {verdict.lower()}'>{verdict}</td><td class='name'>{_e(first)}</td></tr>")
    unit = comparisons[0][1].unit if comparisons else "LSB"
    head = (f"<tr><th class='name'>pair</th><th>bit-exact</th><th>share</th><th>max {unit}</th><th>p50 {unit}</th>"
            f"<th>p99 {unit}</th><th>max |diff|</th><th>p99 |diff|</th><th>failing</th><th>verdict</th>"
            f"<th class='name'>first failure (n, h, w, c)</th></tr>")
    return "<table>" + head + "".join(rows) + "</table>"


# ====================================================================== the report
def build_report(golden, x, dumps=None, float_outputs=None, keras_outputs=None, out_dir=None, tolerance=0,
                 x_is_words=False, sample=0, max_channels=MAX_CHANNELS, dump_frame=None, title=None):
    """Write ``out_dir/index.html`` and its pictures; returns ``{"path", "passed", "layers"}``.

    Args:
        golden: a :class:`~tichchap.hardware.golden.GoldenModel`.
        x: the input (floats, or words with ``x_is_words``), one image or a batch.
        dumps: the RTL's outputs: ``{layer name: words}`` or a folder read with
            :func:`~tichchap.hardware.golden.read_dumps` (``dump_frame`` picks a frame).
        float_outputs: ``{layer name: floats}`` of the float model (default: computed with
            :meth:`GoldenModel.float_outputs`). keras_outputs: the same from Keras, optional.
        out_dir: the folder to write (created).
        tolerance: LSBs/ULPs a word may differ and still pass (default 0: bit-exact).
        sample: which image of the batch the pictures show (statistics use the whole batch).

    ``layers`` maps each layer name to ``{"passed", "compared_with", "result" (CompareResult),
    "overflows", "others": {label: CompareResult}}``.
    """
    if out_dir is None:
        raise ConfigError("build_report: out_dir is required; expected a folder path; received None")
    os.makedirs(os.path.join(out_dir, "img"), exist_ok=True)
    words = golden.run(x, x_is_words=x_is_words)
    overflows = dict(golden.overflows)
    if float_outputs is None:
        x_float = golden.input_format.from_words(words[golden.input_name]) if x_is_words else x
        float_outputs = golden.float_outputs(x_float)
    if isinstance(dumps, (str, os.PathLike)):
        dumps = read_dumps(os.fspath(dumps), golden, frame=dump_frame)
    dumps = dict(dumps or {})
    keras_outputs = dict(keras_outputs or {})
    unknown = sorted(set(dumps) - set(golden.layer_names) - set(golden.aliases))
    if unknown:
        raise ConfigError(f"build_report: dumps name layers the golden model does not have; expected names among "
                          f"{golden.layer_names}; received {unknown}")
    dumps = {golden.aliases.get(k, k): v for k, v in dumps.items()}
    describe = {row["name"]: row for row in golden.describe()}
    layers, sections, summary = {}, [], []
    for name in golden.layer_names:
        fmt = golden.output_format(name)
        ref = words[name]
        sources, comparisons = [("golden", fmt.from_words(ref))], []
        if name in dumps:
            dut = np.asarray(dumps[name])
            if dut.shape != ref.shape:
                if dut.size != ref.size:
                    raise ShapeError(f"build_report: the dump of {name!r} has the wrong shape; expected {ref.shape}; "
                                     f"received {dut.shape}")
                dut = dut.reshape(ref.shape)
            sources.insert(0, ("RTL", fmt.from_words(dut)))
            comparisons.append(("RTL", compare(ref, dut, fmt, tolerance), dut))
        for label, outputs in (("float", float_outputs), ("Keras", keras_outputs)):
            if name in outputs:
                values = np.asarray(outputs[name], dtype=np.float64)
                if values.shape != ref.shape:
                    raise ShapeError(f"build_report: {label} output of {name!r} has the wrong shape; expected "
                                     f"{ref.shape}; received {values.shape}")
                sources.append((label, values))
                other_words = fmt.to_words(values)
                comparisons.append((label, compare(ref, other_words, fmt, tolerance), other_words))
        if not comparisons:
            raise ConfigError(f"build_report: nothing to compare layer {name!r} with; expected an RTL dump or a "
                              f"float output for it")
        primary_label, primary, primary_words = comparisons[0]
        stem = file_stem(name)
        images = []
        finite = np.concatenate([np.ravel(v)[np.isfinite(np.ravel(v))] for _, v in sources])
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if vmax <= vmin:
            vmax = vmin + 1.0
        for label, values in sources:
            rel = f"img/{stem}_{label.lower()}.png"
            _plot_values(os.path.join(out_dir, rel), _sample(values, sample), f"{name}: {label}", vmin, vmax,
                         "viridis", max_channels)
            images.append((rel, label))
        difference = fmt.from_words(primary_words) - fmt.from_words(ref)
        difference = np.where(np.isfinite(difference), difference, np.nan)
        bound = float(np.nanmax(np.abs(difference))) if np.isfinite(difference).any() else 0.0
        bound = bound if bound > 0 else 1.0
        error_rel = f"img/{stem}_error.png"
        _plot_values(os.path.join(out_dir, error_rel), _sample(difference, sample),
                     f"{name}: {primary_label} - golden", -bound, bound, "RdBu_r", max_channels, "signed difference")
        distances = signed_distance(ref, primary_words, fmt)
        hist_rel = f"img/{stem}_histogram.png"
        _plot_histogram(os.path.join(out_dir, hist_rel), distances, primary.unit,
                        f"{name}: {primary_label} - golden")
        images += [(error_rel, f"error map: {primary_label} − golden (0 = white)"),
                   (hist_rel, f"error histogram ({primary.unit})")]
        others = {label: result for label, result, _ in comparisons[1:]}
        layers[name] = {"passed": primary.passed, "compared_with": primary_label, "result": primary,
                        "overflows": overflows.get(name, 0), "others": others}
        info = describe[name]
        verdict = "PASS" if primary.passed else "FAIL"
        against = primary_label if primary_label == "RTL" else f"{primary_label} (no RTL dump)"
        summary.append(
            f"<tr><td class='name'><a href='#{_e(stem)}'>{_e(name)}</a></td><td class='name'>{_e(info['classes'])}</td>"
            f"<td>{_e(tuple(ref.shape))}</td><td class='name'>{_e(info['output_format'])}</td>"
            f"<td class='name'>{_e(against)}</td><td>{100 * primary.exact_share:.2f}%</td>"
            f"<td>{_fmt_number(primary.max_lsb)} {primary.unit}</td><td>{_fmt_number(primary.max_abs)}</td>"
            f"<td>{overflows.get(name, 0)}</td><td>{info['weight_overflows']}</td>"
            f"<td class='verdict {verdict.lower()}' data-layer='{_e(name)}'>{verdict}</td></tr>")
        details = [f"output format <code>{_e(info['output_format'])}</code>"]
        if info["weight_format"]:
            details.append(f"weights <code>{_e(info['weight_format'])}</code>")
        if info["accumulator"]:
            details.append(f"accumulator <code>{_e(info['accumulator'])}</code>")
        if info["policy"]:
            details.append(f"reduction order: {_e(info['policy'])}")
        if info["relu"]:
            details.append("ReLU on the words")
        if info["software_activation"]:
            details.append(f"{_e(info['software_activation'])} in software (words are linear outputs)")
        if len(info["covers"]) > 1:
            details.append(f"folds {_e(' + '.join(info['covers']))}")
        details.append(f"overflows: {overflows.get(name, 0)} values wrapped or saturated"
                       + (f", {info['weight_overflows']} weights/biases when quantised" if info["weight_overflows"] else ""))
        note = "" if primary_label == "RTL" else (
            "<p class='note'>No RTL dump for this layer: the verdict compares the golden model with the float model "
            "quantised to the layer's format.</p>")
        figures = "".join(f"<figure><img src='{_e(rel)}' alt='{_e(label)}'><figcaption>{_e(label)}</figcaption></figure>"
                          for rel, label in images)
        sections.append(
            f"<section id='{_e(stem)}'><h2>{_e(name)} <small>({_e(info['classes'])}, shape {_e(tuple(ref.shape))})"
            f"</small></h2><p class='note'>{'; '.join(details)}.</p>{note}"
            f"{_stats_rows([(lab, res, k == 0) for k, (lab, res, _) in enumerate(comparisons)])}"
            f"<div class='row'>{figures}</div></section>")
    passed = all(v["passed"] for v in layers.values())
    title = title or f"tichchap golden report: {golden.model.name} in {golden.number_format}"
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>"
        f"<h1>{_e(title)}</h1>"
        f"<p>Overall: <strong class='{'pass' if passed else 'fail'}' id='overall'>{'PASS' if passed else 'FAIL'}</strong>"
        f" &mdash; {sum(v['passed'] for v in layers.values())} of {len(layers)} layers pass; tolerance "
        f"{_e(tolerance)} {'LSB' if isinstance(golden.number_format, Fixed) else 'ULP'}; "
        f"{'RTL dumps for ' + str(len(dumps)) + ' layers' if dumps else 'no RTL dumps: golden vs float model'}; "
        f"pictures show image {sample} of the batch.</p><p id='image-warning' hidden></p>"
        "<table><tr><th class='name'>layer</th><th class='name'>classes</th><th>shape</th><th class='name'>format</th>"
        "<th class='name'>compared with</th><th>bit-exact</th><th>max error</th><th>max |diff|</th><th>overflows</th>"
        "<th>weight overflows</th><th>verdict</th></tr>"
        + "".join(summary) + "</table>" + "".join(sections) + "</body></html>\n")
    path = os.path.join(out_dir, "index.html")
    with atomic_write(path, "w") as fh:
        fh.write(page)
    return {"path": path, "passed": passed, "layers": layers}
