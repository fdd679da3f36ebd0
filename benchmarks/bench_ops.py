"""Time tichchap's conv/pool kernels against torch.nn.functional on LeNet's and food_net's layers.

Both run in this process on the same data (float32, 2 threads), alternating short blocks of
tichchap runs and PyTorch runs (see ``time_pair``); the table shows the median and the minimum of
the timed runs and the ratios tichchap / PyTorch (below 1.0 = tichchap faster). PyTorch runs in its native NCHW layout, as a
PyTorch model would; tichchap in NHWC.

    python benchmarks/bench_ops.py            # batch 128, 15 timed runs per layer
    python benchmarks/bench_ops.py --quick    # fewer runs
    python benchmarks/bench_ops.py --only lenet
    python benchmarks/bench_ops.py --no-blas-fix   # OpenBLAS' own kernel choice (see below)

"fwd" times the forward pass alone; "fwd+bwd" a forward and a backward pass (input gradient
skipped for a network's first layer, as both frameworks do in training).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")


def prefer_avx512_openblas_kernels():
    """Make OpenBLAS use its AVX-512 (SkylakeX) kernels on CPUs that have AVX-512 but that it
    does not recognise. Must run before numpy is first imported; returns the core type chosen.

    The project machine's environment sets OPENBLAS_CORETYPE=Haswell (AVX2 kernels) although its
    "AMD EPYC" CPU has AVX-512; a user's setting always wins, so there this function changes
    nothing and the tables are measured with the Haswell kernels. Measured there with
    OPENBLAS_CORETYPE=SkylakeX instead: float32 2000x2000 matrix product 430 GFLOP/s instead of
    218 (2 threads); LeNet's conv2 forward 6.6 -> 4.1 ms, backward 11.4 -> 8.3 ms.
    """
    if "numpy" in sys.modules or "OPENBLAS_CORETYPE" in os.environ:
        return os.environ.get("OPENBLAS_CORETYPE")
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    if {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
        return "SkylakeX"
    return None


BLAS_CORETYPE = None if "--no-blas-fix" in sys.argv else prefer_avx512_openblas_kernels()
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

from tichchap.ops import conv2d_backward, conv2d_forward, pool2d_backward, pool2d_forward  # noqa: E402

# (network, layer name, kind, input shape without batch, parameters, first layer?)
LAYERS = [
    ("lenet", "conv1 5x5 1->32", "conv", (28, 28, 1), dict(k=(5, 5), c_out=32, padding="valid"), True),
    ("lenet", "pool1 max 2x2", "pool", (24, 24, 32), dict(pool=(2, 2), padding="valid"), False),
    ("lenet", "conv2 5x5 32->64", "conv", (12, 12, 32), dict(k=(5, 5), c_out=64, padding="valid"), False),
    ("lenet", "pool2 max 2x2", "pool", (8, 8, 64), dict(pool=(2, 2), padding="valid"), False),
    ("food_net", "conv1 3x3 3->8 same", "conv", (112, 112, 3), dict(k=(3, 3), c_out=8, padding="same"), True),
    ("food_net", "conv2 3x3 8->8 same", "conv", (112, 112, 8), dict(k=(3, 3), c_out=8, padding="same"), False),
    ("food_net", "pool1 max 2x2", "pool", (112, 112, 8), dict(pool=(2, 2), padding="valid"), False),
    ("food_net", "conv3 3x3 8->16 same", "conv", (56, 56, 8), dict(k=(3, 3), c_out=16, padding="same"), False),
    ("food_net", "conv4 3x3 16->16 same", "conv", (56, 56, 16), dict(k=(3, 3), c_out=16, padding="same"), False),
    ("food_net", "pool2 max 2x2", "pool", (56, 56, 16), dict(pool=(2, 2), padding="valid"), False),
]


def make_runners(kind, x, params, first):
    """Return (tichchap_fwd, tichchap_step, torch_fwd, torch_step), each a no-argument callable."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    if kind == "conv":
        kh, kw = params["k"]
        kernel = (rng.standard_normal((kh, kw, x.shape[3], params["c_out"])) * 0.1).astype(np.float32)
        bias = np.zeros(params["c_out"], np.float32)
        padding = params["padding"]
        y, _ = conv2d_forward(x, kernel, bias, 1, padding)
        dy = rng.standard_normal(y.shape).astype(np.float32)

        def tc_fwd():
            return conv2d_forward(x, kernel, bias, 1, padding)

        def tc_step():
            _, cache = conv2d_forward(x, kernel, bias, 1, padding)
            return conv2d_backward(dy, cache, compute_dx=not first)

        tx = torch.tensor(x).permute(0, 3, 1, 2).contiguous().requires_grad_(not first)
        tw = torch.tensor(kernel).permute(3, 2, 0, 1).contiguous().requires_grad_(True)
        tb = torch.tensor(bias).requires_grad_(True)
        tdy = torch.tensor(dy).permute(0, 3, 1, 2).contiguous()
        tpad = "same" if padding == "same" else 0  # stride 1: symmetric, torch's "same" is exact

        def th_fwd():
            with torch.no_grad():
                return F.conv2d(tx, tw, tb, padding=tpad)

        def th_step():
            ty = F.conv2d(tx, tw, tb, padding=tpad)
            inputs = (tw, tb) if first else (tx, tw, tb)
            return torch.autograd.grad(ty, inputs, tdy)

    else:
        pool = params["pool"]
        y, _ = pool2d_forward(x, pool, pool, params["padding"], "max")
        dy = rng.standard_normal(y.shape).astype(np.float32)

        def tc_fwd():
            return pool2d_forward(x, pool, pool, params["padding"], "max")

        def tc_step():
            _, cache = pool2d_forward(x, pool, pool, params["padding"], "max")
            return pool2d_backward(dy, cache)

        tx = torch.tensor(x).permute(0, 3, 1, 2).contiguous().requires_grad_(True)
        tdy = torch.tensor(dy).permute(0, 3, 1, 2).contiguous()

        def th_fwd():
            with torch.no_grad():
                return F.max_pool2d(tx, pool)

        def th_step():
            return torch.autograd.grad(F.max_pool2d(tx, pool), (tx,), tdy)

    return tc_fwd, tc_step, th_fwd, th_step


def time_pair(a, b, repeats, block=4):
    """Median and minimum seconds of a() and b(): ((med_a, min_a), (med_b, min_b)).

    The two alternate in blocks: ``block`` consecutive calls of a(), then of b(), and so on, with
    the first call of each block not counted. Consecutive calls are the steady state of training;
    timing single alternated calls instead charges each library for the other's worker threads,
    which busy-wait a few ms after a call (OpenMP, OpenBLAS), and pausing between calls charges
    each for waking its sleeping threads. On a shared machine other processes inflate some runs:
    the minimum is the least disturbed run, the median the typical one; both ratios are printed.
    """
    ta, tb = [], []
    rounds = max(1, -(-repeats // (block - 1)))
    for _ in range(rounds):
        for f, times in ((a, ta), (b, tb)):
            f()  # not counted: the first call after the other library ran
            for _ in range(block - 1):
                t0 = time.perf_counter()
                f()
                times.append(time.perf_counter() - t0)
    return (statistics.median(ta), min(ta)), (statistics.median(tb), min(tb))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="5 timed runs per layer")
    parser.add_argument("--only", choices=["lenet", "food_net"])
    parser.add_argument("--no-blas-fix", action="store_true",
                        help="leave OpenBLAS' own CPU detection alone (see prefer_avx512_openblas_kernels)")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else args.repeats

    import torch

    torch.set_num_threads(2)
    print(f"numpy {np.__version__}, torch {torch.__version__}, batch {args.batch}, float32, "
          f"{torch.get_num_threads()} threads, {repeats}+ timed runs; OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '(OpenBLAS detects)')}")
    header = (f"{'net':9s} {'layer':24s} {'pass':8s} {'tichchap ms':>12s} {'torch ms':>10s} {'ratio':>7s}"
              f" {'min tc':>8s} {'min th':>8s} {'min ratio':>9s}")
    print(header)
    print("-" * len(header))
    totals = {}
    rng = np.random.default_rng(1)
    for net, name, kind, shape, params, first in LAYERS:
        if args.only and net != args.only:
            continue
        x = rng.standard_normal((args.batch, *shape)).astype(np.float32)
        tc_fwd, tc_step, th_fwd, th_step = make_runners(kind, x, params, first)
        for label, a, b in (("fwd", tc_fwd, th_fwd), ("fwd+bwd", tc_step, th_step)):
            (ta, ma), (tb, mb) = time_pair(a, b, repeats)
            total = totals.setdefault((net, label), [0.0, 0.0, 0.0, 0.0])
            for k, v in enumerate((ta, tb, ma, mb)):
                total[k] += v
            print(_row(net, name, label, ta, tb, ma, mb))
    print("-" * len(header))
    for (net, label), (ta, tb, ma, mb) in totals.items():
        print(_row(net, "TOTAL", label, ta, tb, ma, mb))


def _row(net, name, label, ta, tb, ma, mb):
    return (f"{net:9s} {name:24s} {label:8s} {ta * 1e3:12.2f} {tb * 1e3:10.2f} {ta / tb:7.2f}"
            f" {ma * 1e3:8.2f} {mb * 1e3:8.2f} {ma / mb:9.2f}")


if __name__ == "__main__":
    main()
