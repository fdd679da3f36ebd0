"""What tichchap's process settings (tichchap/_runtime.py) and its elementwise threads are worth.

Each case runs in a fresh interpreter, because both settings act when NumPy/OpenBLAS load:

- ``relu after product``: ReLU over LeNet's first activation (128x24x24x32) right after a matrix
  product, on 1 and 2 threads, with OpenBLAS' default idle wait and with the short one.
- ``lenet step``: one LeNet training step (batch 128, Adam) on 1 and 2 threads, with glibc as it
  is and with freed blocks kept for reuse; page faults per step from getrusage.
- ``matmul``: NumPy's float32 2048^3 product with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE as set,
  both unset (OpenBLAS' own choice), and OPENBLAS_CORETYPE=SkylakeX with OPENBLAS_L2_SIZE as set.

    python benchmarks/bench_runtime.py
    python benchmarks/bench_runtime.py --train-steps lenet 200   # just train, for a profiler:
    py-spy record --native -r 200 -f raw -o lenet.raw -- python benchmarks/bench_runtime.py --train-steps lenet 200

Medians of repeated runs; the machine should be quiet (see benchmarks/README.md).
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

RELU_AFTER_PRODUCT = """
import json, statistics, time, tichchap
import numpy as np
from tichchap.ops import parallel
rng = np.random.default_rng(0)
a = rng.standard_normal((128, 24, 24, 32), dtype=np.float32)
m = rng.standard_normal((512, 512), dtype=np.float32)
out = np.empty_like(a)
def median_ms(f, n=30):
    f(); times = []
    for _ in range(n):
        s = time.perf_counter(); f(); times.append(time.perf_counter() - s)
    return statistics.median(times) * 1e3
product = median_ms(lambda: m @ m)
result = {}
for threads in (1, 2):
    parallel.set_num_threads(threads)
    result[threads] = median_ms(lambda: (m @ m, parallel.ufunc(np.maximum, a, np.float32(0), out=out))) - product
print(json.dumps(result))
"""

LENET_STEP = """
import json, resource, statistics, time, tichchap
import numpy as np
from tichchap import applications
from tichchap.ops import parallel
rng = np.random.default_rng(0)
tichchap.utils.set_random_seed(0)
model = applications.lenet()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
x, y = rng.random((128, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 128)
result = {}
for threads in (1, 2, 1, 2):
    parallel.set_num_threads(threads)
    model.train_on_batch(x, y)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(20):
        s = time.perf_counter(); model.train_on_batch(x, y); times.append(time.perf_counter() - s)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 20
    result[threads] = [statistics.median(times) * 1e3, faults]  # the second round of each is kept
print(json.dumps(result))
"""

MATMUL = """
import json, statistics, time, tichchap
import numpy as np
a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
a @ a
times = []
for _ in range(10):
    s = time.perf_counter(); a @ a; times.append(time.perf_counter() - s)
print(json.dumps(2 * 2048**3 / statistics.median(times) / 1e9))
"""


def run(code, **env_changes):
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", PYTHONPATH=ROOT)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def train_steps(model_name, steps):
    """Run ``steps`` training steps (batch 128, Adam) of a reference model on random data."""
    sys.path.insert(0, ROOT)
    import tichchap
    import numpy as np
    from tichchap import applications

    rng = np.random.default_rng(0)
    tichchap.utils.set_random_seed(0)
    model = applications.get(model_name)()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.random((128, *model.inputs[0].shape[1:]), dtype=np.float32)
    y = rng.integers(0, model.outputs[0].shape[-1], 128)
    for _ in range(steps):
        model.train_on_batch(x, y)


def main():
    if sys.argv[1:2] == ["--train-steps"]:
        train_steps(sys.argv[2], int(sys.argv[3]))
        return
    as_set = ", ".join(f"{name}={os.environ.get(name)}" for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"))
    print("| case | setting | 1 thread | 2 threads |\n|---|---|---:|---:|")
    for label, timeout in (("OpenBLAS' default idle wait", "28"), ("OPENBLAS_THREAD_TIMEOUT=12", "12")):
        r = run(RELU_AFTER_PRODUCT, OPENBLAS_THREAD_TIMEOUT=timeout)
        print(f"| ReLU after a product (ms) | {label} | {r['1']:.2f} | {r['2']:.2f} |")
    for label, tuning in (("glibc as it is", "0"), ("freed blocks kept (default)", "1")):
        r = run(LENET_STEP, TICHCHAP_MALLOC_TUNING=tuning)
        print(f"| LeNet training step (ms; page faults/step) | {label} | {r['1'][0]:.1f}; {r['1'][1]:.0f} | "
              f"{r['2'][0]:.1f}; {r['2'][1]:.0f} |")
    print("\n| OpenBLAS' kernels | float32 2048^3 product, 2 threads (GFLOP/s) |\n|---|---:|")
    for label, changes in ((f"as set ({as_set})", {}),
                           ("both unset", {"OPENBLAS_CORETYPE": None, "OPENBLAS_L2_SIZE": None}),
                           ("OPENBLAS_CORETYPE=SkylakeX", {"OPENBLAS_CORETYPE": "SkylakeX"})):
        print(f"| {label} | {run(MATMUL, **changes):.0f} |")


if __name__ == "__main__":
    main()
