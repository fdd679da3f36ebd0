"""What each of tichchap's faster convolution paths is worth on the reference models: the same
model's training step (and inference) with the path on and off, alternating in one process.

Variants, each against the code as it ships:

- ``im2col``: ``tichchap.config.set_winograd(False)`` (no Winograd, ops/winograd.py);
- ``layers one by one``: a Conv2D read by a MaxPooling2D runs as two layers again, its ReLU
  before the pooling (no ops/conv_pool.py);
- ``no combined kernel``: the fused Conv2D + MaxPooling2D never takes the combined kernel
  (window-major rows or the layers instead);
- ``pooled outside Winograd's tiles``: a Winograd convolution's pooling runs on its NHWC output
  (``POOL_IN_WINOGRAD_TILES``): LeNet's conv2;
- ``one-channel rows NHWC``: a one-channel input's combined convolution takes its rows in (n, y, x)
  order and returns NHWC memory, not an images-inner view (``IMAGES_INNER_ONE_CHANNEL``): LeNet's
  conv1;
- ``NHWC thin layers``: big convolutions with few channels stay NHWC (no channel-major path,
  ``CHANNEL_MAJOR_CONV_MAX_C_IN`` in ops/conv.py): food_net's;
- ``dY rows widened``: the channel-major input gradient never puts the images innermost
  (``IMAGE_MINOR_MIN_WIDENING``): small_cnn's conv2;
- ``dX by adds``: the channel-major path's input gradient never a correlation of dY
  (``DX_AS_CORRELATION_MIN_RATIO``): food_net's;
- ``one-channel product whole``: on one thread (a part of a split batch), the combined product
  of a one-channel input is computed whole, not a piece at a time (``PRODUCT_PIECE_BYTES``):
  LeNet's conv1;
- ``batch whole``: ``predict`` and the training step never split a batch over the threads
  (``tichchap.training.SPLIT_MIN_FLOPS``);
- ``chunks unshared``: a part of a split batch builds its im2col chunks at the whole
  ``CHUNK_COLS_BYTES``, not its share of it (ops/conv.py's ``_chunk_cols_bytes``): food_net's.

    python benchmarks/bench_paths.py                       # lenet and small_cnn, 7 rounds
    python benchmarks/bench_paths.py --models food_net --rounds 3
    python benchmarks/bench_paths.py --models lenet --paired "one-channel rows NHWC"   # one path, paired windows

Each round times every variant for a few steps, starting each round at the next variant (the
first in a round measured up to 5 % slow); the table gives medians over rounds in ms and
the ratio to the shipped code (above 1.0: the path saves that factor). The machine drifts (see
benchmarks/README.md): compare within one run, not across runs.
"""

import argparse
import contextlib
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tichchap  # noqa: E402  (before NumPy, so its runtime settings apply)
import numpy as np  # noqa: E402
from tichchap import applications, config, layers, training  # noqa: E402
from tichchap.ops import conv, conv_pool  # noqa: E402


@contextlib.contextmanager
def variant(name):
    """The code with one path turned off (``shipped``: as it is)."""
    forward_pooled, growth = layers.Conv2D.forward_pooled, conv_pool.COMBINED_MAX_GROWTH
    in_tiles, images_inner = conv_pool.POOL_IN_WINOGRAD_TILES, conv_pool.IMAGES_INNER_ONE_CHANNEL
    thin, widening, ratio = conv.CHANNEL_MAJOR_CONV_MAX_C_IN, conv.IMAGE_MINOR_MIN_WIDENING, conv.DX_AS_CORRELATION_MIN_RATIO
    split_min_flops, piece_bytes = training.SPLIT_MIN_FLOPS, conv_pool.PRODUCT_PIECE_BYTES
    chunk_bytes = conv._chunk_cols_bytes
    try:
        if name == "im2col":
            config.set_winograd(False)
        elif name == "layers one by one":
            layers.Conv2D.forward_pooled = lambda self, *args, **kwargs: None  # the model then runs both layers
        elif name == "no combined kernel":
            conv_pool.COMBINED_MAX_GROWTH = 0
        elif name == "pooled outside Winograd's tiles":
            conv_pool.POOL_IN_WINOGRAD_TILES = False
        elif name == "one-channel rows NHWC":
            conv_pool.IMAGES_INNER_ONE_CHANNEL = False
        elif name == "NHWC thin layers":
            conv.CHANNEL_MAJOR_CONV_MAX_C_IN = 0
        elif name == "dY rows widened":
            conv.IMAGE_MINOR_MIN_WIDENING = float("inf")
        elif name == "dX by adds":
            conv.DX_AS_CORRELATION_MIN_RATIO = float("inf")
        elif name == "one-channel product whole":
            conv_pool.PRODUCT_PIECE_BYTES = 1 << 62
        elif name == "batch whole":
            training.SPLIT_MIN_FLOPS = float("inf")
        elif name == "chunks unshared":
            conv._chunk_cols_bytes = lambda: conv.CHUNK_COLS_BYTES
        yield
    finally:
        config.set_winograd(True)
        layers.Conv2D.forward_pooled, conv_pool.COMBINED_MAX_GROWTH = forward_pooled, growth
        conv_pool.POOL_IN_WINOGRAD_TILES, conv_pool.IMAGES_INNER_ONE_CHANNEL = in_tiles, images_inner
        conv.CHANNEL_MAJOR_CONV_MAX_C_IN, conv.IMAGE_MINOR_MIN_WIDENING, conv.DX_AS_CORRELATION_MIN_RATIO = (
            thin, widening, ratio)
        training.SPLIT_MIN_FLOPS, conv_pool.PRODUCT_PIECE_BYTES = split_min_flops, piece_bytes
        conv._chunk_cols_bytes = chunk_bytes


VARIANTS = ("shipped", "im2col", "layers one by one", "no combined kernel", "pooled outside Winograd's tiles",
            "one-channel rows NHWC", "NHWC thin layers", "dY rows widened", "dX by adds",
            "one-channel product whole", "batch whole", "chunks unshared")


def median_ms(step, calls):
    step()  # warm: buffers and caches for this variant
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def model_steps(name, batch):
    """The reference model ``name``'s training step and inference at ``batch``, on random data."""
    rng = np.random.default_rng(0)
    tichchap.utils.set_random_seed(0)
    model = applications.get(name)()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.random((batch,) + tuple(model.inputs[0].shape[1:]), dtype=np.float32)
    y = rng.integers(0, max(model.outputs[0].shape[-1], 2), batch)
    return {"train": lambda: model.train_on_batch(x, y),
            "infer": lambda: model.predict(x, batch_size=batch, verbose=0)}


def measure(name, rounds, batch):
    steps = model_steps(name, batch)
    calls = max(2, int(0.5 / max(1e-4, time_once(steps["train"]))))
    results = {(mode, v): [] for mode in steps for v in VARIANTS}
    for r in range(rounds):
        for v in VARIANTS[r % len(VARIANTS):] + VARIANTS[: r % len(VARIANTS)]:  # no variant always first
            with variant(v):
                for mode, step in steps.items():
                    results[mode, v].append(median_ms(step, calls))
    return {key: statistics.median(values) for key, values in results.items()}


def paired(name, path, pairs, calls, batch):
    """The shipped step against the step with ``path`` switched off, in pairs of windows of
    ``calls`` steps each, the two in turn first: per mode, the median over pairs of (shipped / off)
    and how many pairs the shipped code was faster in. Finer than :func:`measure` for effects of a
    few per cent, which the machine's drift between rounds hides there."""
    steps = model_steps(name, batch)
    results = {}
    for mode, step in steps.items():
        ratios = []
        for p in range(pairs):
            times = {}
            for v in ("shipped", path) if p % 2 == 0 else (path, "shipped"):
                with variant(v):
                    times[v] = median_ms(step, calls)
            ratios.append(times["shipped"] / times[path])
        results[mode] = (statistics.median(ratios), sum(r < 1 for r in ratios))
    return results


def time_once(step):
    step()
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["lenet", "small_cnn"],
                        choices=["lenet", "small_cnn", "food_net"])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--paired", choices=VARIANTS[1:], metavar="PATH",
                        help="instead of the table: the shipped step against PATH switched off, in pairs of windows")
    parser.add_argument("--pairs", type=int, default=30, help="with --paired: pairs of windows (default 30)")
    parser.add_argument("--steps", type=int, default=5, help="with --paired: steps per window (default 5)")
    args = parser.parse_args(argv)
    if args.paired:
        for name in args.models:
            for mode, (ratio, faster) in paired(name, args.paired, args.pairs, args.steps, args.batch).items():
                print(f"{name} {mode} b{args.batch}: shipped / {args.paired!r} off = {ratio:.3f} (median of "
                      f"{args.pairs} pairs), shipped faster in {faster} of {args.pairs}", flush=True)
        return
    print(f"| model | step | {' | '.join(VARIANTS)} |")
    print("|---|---|" + "---:|" * len(VARIANTS))
    for name in args.models:
        medians = measure(name, args.rounds, args.batch)
        for mode in ("train", "infer"):
            shipped = medians[mode, "shipped"]
            cells = [f"{shipped:.2f} ms"] + [f"{medians[mode, v]:.2f} ({medians[mode, v] / shipped:.2f}x)"
                                             for v in VARIANTS[1:]]
            print(f"| {name} | {mode} b{args.batch} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
