"""``tichchap golden ...``: memory files for a testbench, and the RTL comparison report.

    tichchap golden export MODEL --input IMAGE --format fixed:16,6,RND,SAT --out DIR
                           [--mem-format hex|bin|coe|mif|npy|seed] [--layout nhwc|nchw|per-channel]
    tichchap golden report MODEL --input IMAGE --dumps DIR --format fixed:16,6,RND,SAT --out DIR
                           [--tolerance N] [--frame K] [--keras-outputs FILE.npz]

MODEL is a model file (``tichchap.load_model``: .npz, .keras, .h5) or an application name
(``food_net``: its freshly initialised weights, seeded with ``--seed``). IMAGE is an image file
(resized to the model's input, scaled by ``--rescale``, default 1/255) or a ``.npy`` array of the
model's input shape, used as is. FORMAT is ``fixed:W,I[,ROUNDING[,OVERFLOW]]`` (ap_fixed;
``ufixed:`` for ap_ufixed), ``float32`` or ``truncated`` (SEED_RTL.md's truncating units).
``--layer-format NAME=FORMAT`` (repeatable) gives one layer its own weight/bias/output format.

``export`` writes ``input``, ``weights/<layer>_kernel``, ``weights/<layer>_bias`` and
``expected/<layer>`` memory files, a manifest beside each and ``golden_manifest.json``.
``report`` reads the RTL's dumps from ``--dumps`` (one ``<layer><ext>`` file per layer, or
``<layer>_c<k><ext>`` per channel, or tichchap manifests; layers without a dump are compared with
the float model) and writes ``index.html`` with its pictures. Exit status: 0 (report: every layer
passes), 1 (an error, or a report that fails), 2 (usage).
"""

import argparse
import os
import sys

import numpy as np

from ..errors import ConfigError, DataNotFoundError, ShapeError, TichchapError
from .formats import Fixed, Float32, TruncatedFloat32
from .memfiles import FILE_FORMATS

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
LAYOUTS = {"nhwc": "NHWC", "nchw": "NCHW", "per-channel": "per_channel", "per_channel": "per_channel"}


def parse_format(text):
    """``fixed:16,6[,RND[,SAT]]``, ``ufixed:8,4``, ``float32`` or ``truncated`` -> a NumberFormat."""
    spec = str(text).strip()
    lowered = spec.lower()
    if lowered in ("float32", "float", "fp32"):
        return Float32()
    if lowered in ("truncated", "truncated_float32", "truncatedfloat32", "seed"):
        return TruncatedFloat32()
    kind, _, rest = spec.partition(":")
    if kind.lower() in ("fixed", "ufixed") and rest:
        parts = [p.strip() for p in rest.split(",")]
        try:
            width, integer = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            raise ConfigError(f"--format {spec!r}: expected fixed:WIDTH,INTEGER[,ROUNDING[,OVERFLOW]] with integer "
                              f"WIDTH and INTEGER; received {rest!r}") from None
        if len(parts) > 4:
            raise ConfigError(f"--format {spec!r}: expected at most 4 fields after 'fixed:'; received {len(parts)}")
        rounding = parts[2] if len(parts) > 2 else "TRN"
        overflow = parts[3] if len(parts) > 3 else "WRAP"
        return Fixed(width, integer, kind.lower() == "fixed", rounding, overflow)
    raise ConfigError(f"--format: unknown number format; expected fixed:W,I[,ROUNDING[,OVERFLOW]], ufixed:W,I[,...], "
                      f"float32 or truncated; received {spec!r}")


def load_model_spec(spec, seed=None):
    """A model file or an application name -> (model, description)."""
    if os.path.exists(spec):
        from ..saving import load_model

        return load_model(spec, compile=False), os.path.basename(spec)
    from .. import applications, utils

    key = spec.replace("-", "_").lower()
    if key in applications.MODELS:
        if seed is not None:
            utils.set_random_seed(seed)
        return applications.get(key)(), f"{key} (initial weights, seed {seed})"
    raise DataNotFoundError(f"golden: MODEL is neither a file nor an application; expected a model file or one of "
                            f"{sorted(applications.MODELS)}; received {spec!r}")


def load_input(path, model, rescale=1 / 255):
    """An image file (resized to the model input) or a .npy array -> float array (1, H, W, C)."""
    shape = tuple(model.inputs[0].shape[1:])
    if not os.path.isfile(path):
        raise DataNotFoundError(f"golden: no input file at {path!r}; expected an image or a .npy array")
    if path.lower().endswith(".npy"):
        try:
            x = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ConfigError(f"golden: {path!r} is not a readable .npy array ({exc})") from None
        x = np.asarray(x, dtype=np.float64)
        if x.shape == shape:
            x = x[None]
        if x.shape[1:] != shape:
            raise ShapeError(f"golden: the array in {path!r} does not fit the model; expected {shape} or (N,) + "
                             f"{shape}; received {x.shape}")
        return x
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise ShapeError(f"golden: the model does not take images; expected an input (H, W, 1 or 3); received {shape}; "
                         f"pass a .npy array instead")
    size, channels = shape[:2], shape[2]
    try:
        from .. import image
        load = getattr(image, "load", None)
    except ImportError:
        load = None
    if load is not None:
        x = load(path, target_size=tuple(size), color_mode="grayscale" if channels == 1 else "rgb",
                 interpolation="bilinear")
    else:  # pragma: no cover - only where tichchap.image is missing
        from PIL import Image

        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
            x = np.asarray(im, dtype=np.float32)
    x = np.asarray(x, dtype=np.float64).reshape(size[0], size[1], channels) * rescale
    return x[None]


def _layer_formats(items):
    formats = {}
    for item in items or []:
        name, sep, fmt = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--layer-format: expected NAME=FORMAT; received {item!r}")
        formats[name] = parse_format(fmt)
    return formats


def _golden(args):
    from .golden import GoldenModel

    model, description = load_model_spec(args.model, args.seed)
    golden = GoldenModel(model, parse_format(args.format), layer_formats=_layer_formats(args.layer_format))
    x = load_input(args.input, model, args.rescale)
    source = {"model": description, "input": os.path.basename(args.input), "format": args.format}
    return golden, x, source


def cmd_export(args):
    golden, x, source = _golden(args)
    manifest = golden.export(args.out, x, file_format=args.mem_format, layout=LAYOUTS[args.layout.lower()],
                             source=source)
    print(f"wrote {len(manifest['layers'])} layers' expected outputs, weights and the input to {args.out} "
          f"({args.mem_format}, {LAYOUTS[args.layout.lower()]}); manifest: "
          f"{os.path.join(args.out, 'golden_manifest.json')}")
    total = sum(golden.overflows.values())
    if total or any(golden.weight_overflows.values()):
        print(f"overflows: {total} values in the run, {sum(golden.weight_overflows.values())} weights/biases")
    return EXIT_OK


def cmd_report(args):
    from .golden import read_dumps
    from .report import build_report

    golden, x, _ = _golden(args)
    golden.run(x)
    dumps = None
    if args.dumps:
        dumps = read_dumps(args.dumps, golden, file_format=args.mem_format,
                           layout=LAYOUTS[args.layout.lower()], frame=args.frame)
        if not dumps:
            raise DataNotFoundError(f"golden report: no dump for any layer in {args.dumps!r}; expected files named "
                                    f"after the layers ({', '.join(golden.layer_names[:4])}, ...) with a memory-file "
                                    f"extension ({', '.join(sorted(set(FILE_FORMATS.values())))}) or their manifests")
    keras_outputs = None
    if args.keras_outputs:
        with np.load(args.keras_outputs, allow_pickle=False) as data:
            keras_outputs = {k: data[k] for k in data.files}
    report = build_report(golden, x, dumps=dumps, keras_outputs=keras_outputs, out_dir=args.out,
                          tolerance=args.tolerance)
    for name, layer in report["layers"].items():
        result = layer["result"]
        print(f"{'PASS' if layer['passed'] else 'FAIL'}  {name:<24} vs {layer['compared_with']:<6} "
              f"{100 * result.exact_share:6.2f}% bit-exact, max {result.max_lsb:g} {result.unit}, "
              f"overflows {layer['overflows']}")
    print(f"report: {report['path']}")
    return EXIT_OK if report["passed"] else EXIT_FAIL


def build_parser():
    parser = argparse.ArgumentParser(prog="tichchap golden",
                                     description="The hardware golden model: memory files and RTL comparison reports.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p):
        p.add_argument("model", metavar="MODEL", help="a model file or an application name (e.g. food_net)")
        p.add_argument("--input", required=True, metavar="IMAGE", help="an image file or a .npy array")
        p.add_argument("--format", required=True, help="fixed:W,I[,ROUNDING[,OVERFLOW]], ufixed:..., float32 or truncated")
        p.add_argument("--layer-format", action="append", metavar="NAME=FORMAT", help="one layer's own format")
        p.add_argument("--out", required=True, metavar="DIR")
        p.add_argument("--layout", default="nhwc", choices=sorted(LAYOUTS), help="feature-map layout (default nhwc)")
        p.add_argument("--rescale", type=float, default=1 / 255, help="image pixel scale (default 1/255)")
        p.add_argument("--seed", type=int, default=None, help="seed of an application's initial weights")

    export = sub.add_parser("export", help="write weights, input and expected outputs as memory files")
    common(export)
    export.add_argument("--mem-format", default="hex", choices=sorted(FILE_FORMATS))
    export.set_defaults(handler=cmd_export)

    report = sub.add_parser("report", help="compare RTL dumps with the golden and float models (HTML)")
    common(report)
    report.add_argument("--dumps", metavar="DIR", help="the folder of RTL dumps (without: golden vs float)")
    report.add_argument("--mem-format", default=None, choices=sorted(FILE_FORMATS),
                        help="the dumps' file format (default: by extension)")
    report.add_argument("--frame", type=int, default=None, help="take this frame of dumps holding several")
    report.add_argument("--tolerance", type=float, default=0, help="LSBs/ULPs a word may differ (default 0)")
    report.add_argument("--keras-outputs", metavar="FILE.npz", help="Keras' per-layer outputs, keyed by layer name")
    report.set_defaults(handler=cmd_report)
    return parser


def main(argv=None):
    """Run ``tichchap golden`` with ``argv`` (without 'golden'); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except (TichchapError, OSError) as err:
        print(f"tichchap golden {args.command}: {err}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
