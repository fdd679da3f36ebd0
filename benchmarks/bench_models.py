"""Whole-model speed and memory: tichchap against PyTorch on the same networks with the same weights.

For each reference model (lenet, small_cnn, mlp, food_net, xception) both frameworks run in ONE
process, float32, on 2 threads (NumPy's OpenBLAS and PyTorch's intra-op pool), alternating one
timed window of tichchap and one of PyTorch after a warm-up; each row is the median over the
windows. Rows:

* ``train b128``   samples/s of one Adam step (forward, loss, backward, update) at batch 128:
                   ``model.train_on_batch(x, y)`` vs the standard loop ``zero_grad; F.cross_entropy
                   (model(x), y); backward; step`` (softmax + cross-entropy fused on both sides);
* ``infer b128``   samples/s of ``model.predict(x, batch_size=128)`` vs ``model(x)`` under
                   ``torch.inference_mode()``;
* ``latency b1``   milliseconds for one image: ``model(x)`` (Keras' call, meant for small
                   batches) vs ``model(x)`` under ``torch.inference_mode()``;
* ``peak mem train`` MiB above the baseline during 3 training steps at batch 128, measured the
                   same way for both sides in a fresh subprocess each: the process' peak resident
                   set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` after the imports,
                   the model and the data exist; ``ru_maxrss`` where that reset is refused) minus
                   the resident set at that moment. tichchap's child never imports torch.

The ratio column is tichchap / PyTorch of the row's unit: above 1 is better for samples/s, below 1
is better for milliseconds and MiB. FLOPs per sample count 2 x the multiply-adds of every
convolution and dense layer (training: forward + weight gradient + input gradient, no input
gradient for the first layer); achieved GFLOP/s = FLOPs x samples/s, beside NumPy's own float32
matrix product (1024^3) measured in the same run.

Xception (299x299x3, 22.9 M parameters) is measured for inference only: batch-1 latency (the
target) and, in the full run, batch-8 throughput; training it at batch 128 on 2 cores would take
minutes per step.

Before timing, every model is checked: both frameworks' predictions on the same batch must agree
to 1e-4 (probabilities), and for models without dropout one SGD step must give the same
loss and the same updated weights (that is, the same gradients). Batch-norm moving statistics are first set from one batch
(so activations stay of order 1 through Xception's 36 convolutions instead of vanishing).

    python benchmarks/bench_models.py            # full run (several minutes)
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models.py   # see below
    python benchmarks/bench_models.py --quick    # under a minute: lenet, mlp, xception b1
    python benchmarks/bench_models.py --models lenet food_net --windows 9
    python benchmarks/bench_models.py --profile lenet   # cProfile of tichchap's training step

Results go to benchmarks/results/models[_quick].md and .json with the machine and versions.

NumPy's OpenBLAS picks its kernels for the CPU it finds, unless ``OPENBLAS_CORETYPE`` names others
(``OPENBLAS_L2_SIZE`` sets the cache size it blocks for). The reference machine's environment sets
both (Haswell, 512 KiB) for older OpenBLAS builds, and they hold NumPy 2.4's OpenBLAS 0.3.31 to its
AVX2 kernels at about half the speed of the AVX-512 ones it picks itself on that CPU, while PyTorch
uses AVX-512 either way. The run prints a warning when either is set, and the header of the
table names the kernels; the README's figures are measured with both unset in that command alone.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

# Thread counts must be fixed before NumPy (OpenBLAS) and torch load.
THREADS = 2
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(THREADS)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import tichchap  # noqa: E402  before NumPy, as a user's script would: tichchap._runtime must precede it
import numpy as np  # noqa: E402
from tichchap.summary import count_flops  # noqa: E402

INPUT_SHAPES = {"lenet": (28, 28, 1), "small_cnn": (28, 28, 1), "mlp": (784,), "food_net": (112, 112, 3),
                "xception": (299, 299, 3)}
CLASSES = {"lenet": 10, "small_cnn": 10, "mlp": 10, "food_net": 2, "xception": 1000}
ALL_MODELS = ("lenet", "small_cnn", "mlp", "food_net", "xception")
BATCH = 128
SEED = 0
SETTLE_S = 0.2
#: a window during which other processes kept more CPU cores busy than this is set aside
QUIET_CORES = 0.25
#: how long to wait for a quiet machine before each pair of windows (--quiet-wait)
QUIET_WAIT_S = 0.0
TARGETS = {  # (model, row): (comparison, bound) from issue 4
    ("lenet", "train b128"): (">=", 1.0), ("lenet", "infer b128"): (">=", 1.0),
    ("small_cnn", "train b128"): (">=", 0.8), ("mlp", "train b128"): (">=", 0.8),
    ("food_net", "train b128"): (">=", 0.8), ("xception", "latency b1"): ("<=", 1.5),
    ("lenet", "peak mem train"): ("<=", 1.5),
}


# -- models ---------------------------------------------------------------------------------------
def build_tichchap(name):
    """The reference model from tichchap.applications, seeded."""
    from tichchap import applications

    tichchap.utils.clear_session()
    tichchap.utils.set_random_seed(SEED)
    return applications.get(name)()


def calibrate_batchnorm(model, x):
    """Set every BatchNormalization's moving statistics to those of batch ``x`` (one training-mode
    forward with momentum 0), so inference-mode activations keep a sane scale."""
    norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    if not norms:
        return
    saved = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model.forward([x], training=True, keep_cache=False)
    for layer, momentum in zip(norms, saved):
        layer.momentum = momentum


def make_batch(name, batch, rng):
    x = rng.random((batch,) + INPUT_SHAPES[name], dtype=np.float32)
    y = rng.integers(0, CLASSES[name], size=batch)
    return x, y


# -- equivalence ----------------------------------------------------------------------------------
def check_equivalence(name, tc_model, torch_model, x, y):
    """Same predictions (and, without dropout, the same training step) on both sides."""
    import torch
    import torch.nn.functional as F

    import torch_models

    report = {}
    n = min(len(x), 16)
    torch_model.eval()
    probs = tc_model.predict(x[:n], batch_size=n, verbose=0)
    with torch.inference_mode():
        torch_probs = torch.softmax(torch_model(torch_models.to_torch_input(x[:n])), dim=-1).numpy()
    report["predict_max_abs_diff"] = float(np.abs(probs - torch_probs).max())
    if report["predict_max_abs_diff"] >= 1e-4:
        raise AssertionError(f"{name}: predictions differ by {report['predict_max_abs_diff']:.3g} >= 1e-4")
    if name == "xception" or any(type(l).__name__ == "Dropout" for l in tc_model.layers):
        return report  # dropout masks differ by construction; Xception is not trained here
    # One plain gradient step (SGD, learning rate 1: new weight = weight - gradient, so the weight
    # difference IS the gradient difference) on fresh copies of both models. (Adam cannot be
    # compared this way: Keras adds epsilon to sqrt(v) before bias correction, PyTorch after.)
    tc_copy = build_tichchap(name)
    tc_copy.set_weights(tc_model.get_weights())
    tc_copy.compile(optimizer=tichchap.optimizers.SGD(learning_rate=1.0), loss="sparse_categorical_crossentropy")
    torch_copy = torch_models.build(name)
    torch_models.load_keras_weights(torch_copy, tc_copy)
    torch_copy.train()
    optimizer = torch.optim.SGD(torch_copy.parameters(), lr=1.0)
    tc_loss = tc_copy.train_on_batch(x[:n], y[:n])
    optimizer.zero_grad()
    loss = F.cross_entropy(torch_copy(torch_models.to_torch_input(x[:n])), torch.from_numpy(y[:n]))
    loss.backward()
    optimizer.step()
    after = torch_models.build(name)
    torch_models.load_keras_weights(after, tc_copy)
    with torch.no_grad():
        weight_diff = max(float((p - q).abs().max()) for p, q in zip(torch_copy.parameters(), after.parameters()))
    report["train_loss_abs_diff"] = abs(loss.item() - float(tc_loss))
    report["sgd_step_weight_max_abs_diff"] = weight_diff
    if report["train_loss_abs_diff"] >= 1e-4 or weight_diff >= 1e-4:
        raise AssertionError(f"{name}: one training step differs: {report}")
    return report


# -- timing ---------------------------------------------------------------------------------------
def _cpu_snapshot():
    """(machine busy CPU-seconds, this process' CPU-seconds, wall time) from /proc/stat and os.times."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
        busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        busy = float("nan")
    own = os.times()
    return busy, own.user + own.system, time.monotonic()


def _others_cores(before, after):
    """CPU cores that OTHER processes kept busy between two snapshots (nan where unknown)."""
    wall = after[2] - before[2]
    return max(0.0, (after[0] - before[0]) - (after[1] - before[1])) / wall if wall > 0 else float("nan")


def wait_for_quiet(timeout_s, probe_s=0.5):
    """Wait (at most ``timeout_s``) until other processes use less than QUIET_CORES; returns their load."""
    deadline = time.monotonic() + timeout_s
    while True:
        before = _cpu_snapshot()
        time.sleep(probe_s)
        load = _others_cores(before, _cpu_snapshot())
        if not load >= QUIET_CORES or time.monotonic() >= deadline:
            return load


def alternate(tc_fn, torch_fn, windows, window_s, quiet_wait_s=0.0):
    """Median seconds per call of each side, from ``windows`` alternating timed windows.

    Both are warmed up first; a window runs as many calls as fill about ``window_s``. Each
    window is preceded by a short pause, so neither side starts while the other's thread pool is
    still spinning on one of the two cores, and by one untimed call: the first call after the
    other framework's window can be slower (tichchap's food_net step: 346-391 ms against 290-300
    after it), and a window of a slow model holds only 2-3 calls. The machine is shared: the CPU
    time other processes take during each window is recorded, a pair of windows where they took
    more than QUIET_CORES is set aside and repeated (up to 3 x ``windows`` pairs in all), and the
    medians come from the quiet pairs when there are enough of them (else from all, flagged).
    Before each pair it waits for the machine to go quiet, ``quiet_wait_s`` at most over the
    whole row."""
    per_call = {}
    for side, fn in (("tc", tc_fn), ("torch", torch_fn)):
        fn()
        start = time.perf_counter()
        fn()
        per_call[side] = time.perf_counter() - start
    calls = {side: max(1, int(window_s / max(t, 1e-6))) for side, t in per_call.items()}
    pairs = []  # (tc seconds per call, torch seconds per call, max other-process load)
    wait_until = time.monotonic() + quiet_wait_s  # the waiting budget of this whole row
    while len(pairs) < 3 * windows and sum(p[2] < QUIET_CORES for p in pairs) < windows:
        if time.monotonic() < wait_until:
            wait_for_quiet(wait_until - time.monotonic())
        pair = []
        for side, fn in (("tc", tc_fn), ("torch", torch_fn)):
            # Let the other side's worker threads stop spinning (OpenBLAS spins ~0.1 s after a call).
            time.sleep(SETTLE_S)
            fn()  # untimed: back from the other framework's window (see above)
            before = _cpu_snapshot()
            start = time.perf_counter()
            for _ in range(calls[side]):
                fn()
            pair.append((time.perf_counter() - start) / calls[side])
            pair.append(_others_cores(before, _cpu_snapshot()))
        pairs.append((pair[0], pair[2], max(pair[1], pair[3])))
    quiet = [p for p in pairs if p[2] < QUIET_CORES]
    used = quiet if len(quiet) >= max(1, (windows + 1) // 2) else pairs
    medians = {"tc": statistics.median(p[0] for p in used), "torch": statistics.median(p[1] for p in used)}
    raw = {"tc": [p[0] for p in pairs], "torch": [p[1] for p in pairs],
           "other_processes_cores": [round(p[2], 2) for p in pairs], "pairs_used": len(used),
           "contended": used is pairs and len(quiet) < len(pairs)}
    return medians, raw, calls


def numpy_matmul_gflops(size=1024, repeats=5):
    a = np.random.default_rng(1).random((size, size), dtype=np.float32)
    b = a.copy()
    a @ b
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(best) / 1e9


def thread_handoff_us(calls=2000):
    """Median microseconds for tichchap to hand an empty block to its worker thread and get it back:
    the fixed cost of every threaded elementwise step. It depends on how fast the host wakes a
    virtual CPU, varies with the host's load, and weighs most on small models (small_cnn)."""
    from tichchap.ops import parallel

    def noop(start, stop):
        pass

    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            parallel.for_blocks(noop, 2, 1 << 40)
        times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def machine_state():
    return {"numpy_gflops": numpy_matmul_gflops(), "handoff_us": thread_handoff_us(),
            "load": [round(v, 2) for v in os.getloadavg()]}


def measure_model(name, windows, window_s, quick):
    import torch
    import torch.nn.functional as F

    import torch_models

    rng = np.random.default_rng(SEED)
    tc_model = build_tichchap(name)
    x, y = make_batch(name, 8 if name == "xception" else BATCH, rng)
    calibrate_batchnorm(tc_model, x[:2] if name == "xception" else x)
    torch_model = torch_models.build(name)
    torch_models.load_keras_weights(torch_model, tc_model)
    check = check_equivalence(name, tc_model, torch_model, x, y)
    fwd_flops, train_flops = count_flops(tc_model)
    rows = []

    def row(kind, tc_value, torch_value, unit, flops=None, detail=None):
        entry = {"model": name, "row": kind, "unit": unit, "tichchap": tc_value, "pytorch": torch_value,
                 "ratio": tc_value / torch_value}
        if flops:
            per_second = (lambda v: v) if unit == "samples/s" else (lambda v: 1e3 / v)
            entry["flops_per_sample"] = flops
            entry["tichchap_gflops"] = flops * per_second(tc_value) / 1e9
            entry["pytorch_gflops"] = flops * per_second(torch_value) / 1e9
        if detail:
            entry["detail"] = detail
            first = next(iter(detail.values()))
            if isinstance(first, dict) and first.get("contended"):
                entry["contended"] = True
        target = TARGETS.get((name, kind))
        if target:
            op, bound = target
            entry["target"] = f"{op} {bound}x"
            entry["met"] = entry["ratio"] >= bound if op == ">=" else entry["ratio"] <= bound
        rows.append(entry)
        print(f"  {name:10s} {kind:14s} tichchap {tc_value:10.2f}  pytorch {torch_value:10.2f} {unit:9s} "
              f"ratio {entry['ratio']:.2f}" + ("  (contended)" if entry.get("contended") else ""), flush=True)

    xt, yt = torch_models.to_torch_input(x), torch.from_numpy(y)
    if name != "xception":
        tc_model.compile(optimizer=tichchap.optimizers.Adam(), loss="sparse_categorical_crossentropy")
        torch_model.train()
        optimizer = torch.optim.Adam(torch_model.parameters(), lr=1e-3, eps=1e-7)

        def torch_train():
            optimizer.zero_grad()
            loss = F.cross_entropy(torch_model(xt), yt)
            loss.backward()
            optimizer.step()

        medians, raw, calls = alternate(lambda: tc_model.train_on_batch(x, y), torch_train, windows, window_s, QUIET_WAIT_S)
        row("train b128", BATCH / medians["tc"], BATCH / medians["torch"], "samples/s", train_flops,
            {"seconds_per_step": raw, "calls_per_window": calls})
        torch_model.eval()

        def torch_infer():
            with torch.inference_mode():
                torch_model(xt)

        medians, raw, calls = alternate(lambda: tc_model.predict(x, batch_size=BATCH, verbose=0), torch_infer,
                                        windows, window_s, QUIET_WAIT_S)
        row("infer b128", BATCH / medians["tc"], BATCH / medians["torch"], "samples/s", fwd_flops,
            {"seconds_per_batch": raw, "calls_per_window": calls})
    torch_model.eval()
    x1, xt1 = x[:1], xt[:1].contiguous()

    def torch_one():
        with torch.inference_mode():
            torch_model(xt1)

    medians, raw, calls = alternate(lambda: tc_model(x1), torch_one, windows, window_s, QUIET_WAIT_S)
    row("latency b1", medians["tc"] * 1e3, medians["torch"] * 1e3, "ms", fwd_flops,
        {"seconds": raw, "calls_per_window": calls})
    if name == "xception" and not quick:
        x8, xt8 = x[:8], xt[:8].contiguous()

        def torch_eight():
            with torch.inference_mode():
                torch_model(xt8)

        medians, raw, calls = alternate(lambda: tc_model.predict(x8, batch_size=8, verbose=0), torch_eight,
                                        max(3, windows // 2), window_s, QUIET_WAIT_S)
        row("infer b8", 8 / medians["tc"], 8 / medians["torch"], "samples/s", fwd_flops,
            {"seconds_per_batch": raw, "calls_per_window": calls})
    return rows, check, {"forward": fwd_flops, "train": train_flops}


# -- memory (fresh subprocess per side) -----------------------------------------------------------
def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_child(name, side, steps=3):
    """Run in a fresh process: peak RSS above the baseline during ``steps`` training steps."""
    rng = np.random.default_rng(SEED)
    x, y = make_batch(name, BATCH, rng)
    if side == "tichchap":
        model = build_tichchap(name)
        model.compile(optimizer=tichchap.optimizers.Adam(), loss="sparse_categorical_crossentropy")

        def step():
            model.train_on_batch(x, y)
    else:
        import torch
        import torch.nn.functional as F

        import torch_models

        torch.set_num_threads(THREADS)
        model = torch_models.build(name)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        xt, yt = torch_models.to_torch_input(x), torch.from_numpy(y)

        def step():
            optimizer.zero_grad()
            F.cross_entropy(model(xt), yt).backward()
            optimizer.step()
    method = "VmHWM after clear_refs"
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        method = "ru_maxrss"
    baseline = _status_kib("VmRSS")
    for _ in range(steps):
        step()
    if method == "ru_maxrss":
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        peak = _status_kib("VmHWM")
    result = {"baseline_kib": baseline, "peak_kib": peak, "delta_mib": (peak - baseline) / 1024, "method": method}
    if side == "tichchap":  # NumPy reports its allocations to tracemalloc: a second opinion
        import tracemalloc

        tracemalloc.start()
        step()
        result["tracemalloc_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(json.dumps(result))


def measure_memory(name, repeats):
    out = {}
    for side in ("tichchap", "pytorch"):
        runs = []
        for _ in range(repeats):
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", name, side],
                                  capture_output=True, text=True, check=True)
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        out[side] = runs
    return out


# -- machine --------------------------------------------------------------------------------------
def machine_info():
    import torch

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if blas.get(k)}
    except Exception as err:  # older NumPy
        blas = {"error": str(err)}
    info = {"cpu": cpu, "logical_cpus": os.cpu_count(),
            "cpus_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "tichchap_commit": _git_commit(), "numpy_blas": blas, "threads": THREADS,
            "torch_threads": torch.get_num_threads(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE"),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{k: p.get(k) for k in ("internal_api", "num_threads", "version", "architecture",
                                                      "filepath")} for p in threadpool_info()]
        info["openblas_kernels"] = next((p.get("architecture") for p in threadpool_info()
                                         if p.get("internal_api") == "openblas"), None)
    except ImportError:
        info["threadpools"] = f"threadpoolctl not installed; OMP/OPENBLAS_NUM_THREADS={THREADS} set before import"
    return info


BLAS_SETTINGS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _blas_settings(machine):
    """The environment's settings of OpenBLAS' kernels and blocking, as text ('' for none)."""
    return ", ".join(f"{name}={machine[name]}" for name in BLAS_SETTINGS if machine.get(name))


def _git_commit():
    try:
        return subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip() or None
    except OSError:
        return None


# -- output ---------------------------------------------------------------------------------------
def _fmt(value, unit):
    if unit == "samples/s":
        return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"
    return f"{value:.2f}" if unit == "ms" else f"{value:.1f}"


def markdown(result):
    m = result["machine"]
    lines = [f"# tichchap vs PyTorch, whole models ({'quick' if result['quick'] else 'full'} run)", "",
             f"{m['cpu']}, {m['cpus_available']} CPUs available, {THREADS} threads each side; Python {m['python']}, "
             f"NumPy {m['numpy']} ({m['numpy_blas'].get('name', '?')} {m['numpy_blas'].get('version', '')}), "
             f"PyTorch {m['torch']} ({m.get('torch_cpu_capability')}); tichchap {m['tichchap_commit']}; {result['date']}.",
             f"OpenBLAS kernels: {m.get('openblas_kernels') or 'unknown (threadpoolctl not installed)'}"
             + (f" (set by the environment: {_blas_settings(m)})" if _blas_settings(m) else
                " (OpenBLAS' own CPU detection)") + ".",
             f"Load average at start / end: {result['load_start']} / {result['load_end']}. "
             f"NumPy float32 matmul (1024^3): {result['numpy_gflops_start']:.0f} GFLOP/s at start, "
             f"{result['numpy_gflops_end']:.0f} at end. "
             f"Thread hand-off (an empty block to tichchap's worker and back): "
             f"{result.get('handoff_us_start', float('nan')):.0f} us at start, "
             f"{result.get('handoff_us_end', float('nan')):.0f} at end.", "",
             "| model | measure | unit | tichchap | PyTorch | ratio tc/pt | target | MFLOP/sample | tc GFLOP/s | pt GFLOP/s |",
             "|---|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in result["rows"]:
        target = r.get("target", "")
        if target:
            target += " ✅" if r["met"] else " ❌"
        flops = f"{r['flops_per_sample'] / 1e6:,.1f}" if r.get("flops_per_sample") else ""
        tg = f"{r['tichchap_gflops']:.1f}" if r.get("tichchap_gflops") else ""
        pg = f"{r['pytorch_gflops']:.1f}" if r.get("pytorch_gflops") else ""
        lines.append(f"| {r['model']} | {r['row']} | {r['unit']} | {_fmt(r['tichchap'], r['unit'])} | "
                     f"{_fmt(r['pytorch'], r['unit'])} | {r['ratio']:.2f}{' ⚠' if r.get('contended') else ''} | {target} | {flops} | {tg} | {pg} |")
    lines += ["", "Ratio: tichchap / PyTorch in the row's unit (samples/s: higher is better for tichchap; "
              "ms and MiB: lower is better). Medians of alternating timed windows in one process. "
              "Peak memory: MiB of resident set above the baseline during 3 training steps at batch 128, "
              "each side in a fresh subprocess (VmHWM reset through /proc/self/clear_refs after imports, "
              "model and data; median of the runs). Windows during which other processes kept more than "
              f"{QUIET_CORES} of a core busy are set aside and repeated; ⚠ marks a row where too few quiet "
              "windows could be had (its medians include contended ones)."]
    checks = "; ".join(f"{k}: " + ", ".join(f"{n}={v:.1e}" for n, v in c.items()) for k, c in result["checks"].items())
    lines += ["", f"Equivalence checks (max abs differences, all < 1e-4): {checks}."]
    return "\n".join(lines) + "\n"


def run_profile(name, steps):
    import cProfile
    import pstats

    rng = np.random.default_rng(SEED)
    model = build_tichchap(name)
    x, y = make_batch(name, BATCH, rng)
    model.compile(optimizer=tichchap.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    for _ in range(3):
        model.train_on_batch(x, y)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(steps):
        model.train_on_batch(x, y)
    profiler.disable()
    print(f"{name}: {(time.perf_counter() - start) / steps * 1e3:.1f} ms per training step (batch {BATCH}) under cProfile")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="under a minute: lenet, mlp, xception batch-1")
    parser.add_argument("--models", nargs="+", choices=ALL_MODELS)
    parser.add_argument("--windows", type=int, help="timed windows per side (default 7 full, 3 quick)")
    parser.add_argument("--window-seconds", type=float, help="length of one window (default 1.0 full, 0.3 quick)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--quiet-wait", type=float, help="seconds, per row, to wait for other processes to go "
                        "quiet before pairs of windows (default 60 full, 0 quick)")
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    parser.add_argument("--tag", help="suffix for the result files, e.g. openblas_haswell for a run with other kernels")
    parser.add_argument("--memory-child", nargs=2, metavar=("MODEL", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--profile", choices=ALL_MODELS[:4], help="cProfile tichchap's training step and exit")
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    if args.profile:
        run_profile(args.profile, 20)
        return
    import torch

    torch.set_num_threads(THREADS)
    quick = args.quick
    models = args.models or (("lenet", "mlp", "xception") if quick else ALL_MODELS)
    windows = args.windows or (3 if quick else 7)
    window_s = args.window_seconds or (0.3 if quick else 1.0)
    global QUIET_WAIT_S
    QUIET_WAIT_S = args.quiet_wait if args.quiet_wait is not None else (0.0 if quick else 60.0)
    info = machine_info()
    if _blas_settings(info):
        print(f"warning: {_blas_settings(info)} from the environment hold NumPy's OpenBLAS to "
              f"{info.get('openblas_kernels') or 'other'} kernels, not the ones it picks for this CPU; to measure "
              f"those: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_models.py", flush=True)
    state = machine_state()
    result = {"quick": quick, "date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": info,
              "load_start": state["load"], "windows": windows, "window_seconds": window_s,
              "numpy_gflops_start": state["numpy_gflops"], "handoff_us_start": state["handoff_us"],
              "rows": [], "checks": {}, "flops": {}, "memory": {}}
    print(f"NumPy float32 matmul: {state['numpy_gflops']:.0f} GFLOP/s; thread hand-off {state['handoff_us']:.0f} us; "
          f"load {state['load']}", flush=True)
    for name in models:
        rows, check, flops = measure_model(name, windows, window_s, quick)
        result["rows"] += rows
        result["checks"][name] = check
        result["flops"][name] = flops
        if not args.no_memory and name != "xception" and (name == "lenet" or not quick):
            mem = measure_memory(name, 1 if quick else 3)
            result["memory"][name] = mem
            tc_mib = statistics.median(r["delta_mib"] for r in mem["tichchap"])
            pt_mib = statistics.median(r["delta_mib"] for r in mem["pytorch"])
            entry = {"model": name, "row": "peak mem train", "unit": "MiB", "tichchap": tc_mib, "pytorch": pt_mib,
                     "ratio": tc_mib / pt_mib,
                     "detail": {"tracemalloc_peak_mib": [r.get("tracemalloc_peak_mib") for r in mem["tichchap"]]}}
            if (name, "peak mem train") in TARGETS:
                op, bound = TARGETS[(name, "peak mem train")]
                entry["target"], entry["met"] = f"{op} {bound}x", entry["ratio"] <= bound
            result["rows"].append(entry)
            print(f"  {name:10s} peak mem train tichchap {tc_mib:10.1f}  pytorch {pt_mib:10.1f} MiB       "
                  f"ratio {entry['ratio']:.2f}", flush=True)
    state = machine_state()
    result["numpy_gflops_end"], result["handoff_us_end"], result["load_end"] = (
        state["numpy_gflops"], state["handoff_us"], state["load"])
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, ("models_quick" if quick else "models") + (f"_{args.tag}" if args.tag else ""))
    text = markdown(result)
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1, default=float)
    print()
    print(text)
    print(f"written: {stem}.md, {stem}.json")


if __name__ == "__main__":
    main()
