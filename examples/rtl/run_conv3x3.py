"""Export a random layer -> simulate the Verilog with Icarus -> import the outputs -> compare.

    python examples/rtl/run_conv3x3.py [WORKDIR]

Needs ``iverilog`` and ``vvp`` on PATH (Debian/Ubuntu: ``apt-get install iverilog``). Prints
tichchap's comparison of the RTL's outputs with the Fixed golden kernel; exit status 0 on PASS.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from tichchap.hardware import Fixed, compare, export_words, import_words
from tichchap.hardware.kernels import conv2d, relu

HERE = os.path.dirname(os.path.abspath(__file__))
X_FORMAT = Fixed(8, 4)
W_FORMAT = Fixed(8, 2)
B_FORMAT = Fixed(16, 6)
OUT_FORMAT = Fixed(8, 4, rounding="RND", overflow="SAT")


def random_layer(seed=0, height=5, width=6, c_in=2, c_out=3):
    rng = np.random.default_rng(seed)
    x = X_FORMAT.to_words(rng.normal(0, 2.0, size=(1, height, width, c_in)))
    kernel = W_FORMAT.to_words(rng.normal(0, 0.8, size=(3, 3, c_in, c_out)))
    bias = B_FORMAT.to_words(rng.normal(0, 1.0, size=c_out))
    return x, kernel, bias


def golden(x, kernel, bias):
    out, overflows = conv2d(x, kernel, bias, X_FORMAT, weight_format=W_FORMAT, bias_format=B_FORMAT,
                            output_format=OUT_FORMAT, padding="same", return_overflow=True)
    return relu(out, OUT_FORMAT), overflows


def run_flow(workdir, seed=0, height=5, width=6, c_in=2, c_out=3):
    """Returns (golden words, RTL words, CompareResult, saturated count)."""
    x, kernel, bias = random_layer(seed, height, width, c_in, c_out)
    export_words(os.path.join(workdir, "input.hex"), x, X_FORMAT, layer="input", source=f"random seed {seed}")
    export_words(os.path.join(workdir, "weights.hex"), kernel, W_FORMAT, layer="conv3x3/kernel")
    export_words(os.path.join(workdir, "bias.hex"), bias, B_FORMAT, layer="conv3x3/bias")
    sim = os.path.join(workdir, "sim.vvp")
    params = [f"-Ptb_conv3x3_relu.{k}={v}" for k, v in (("H", height), ("W", width), ("CIN", c_in), ("COUT", c_out))]
    subprocess.run(["iverilog", "-g2005", "-o", sim, *params, os.path.join(HERE, "conv3x3_relu.v"),
                    os.path.join(HERE, "tb_conv3x3_relu.v")], check=True, capture_output=True, text=True)
    subprocess.run(["vvp", "-n", sim], cwd=workdir, check=True, capture_output=True, text=True)
    rtl = import_words(os.path.join(workdir, "output.hex"), (1, height, width, c_out), OUT_FORMAT)
    expected, saturated = golden(x, kernel, bias)
    return expected, rtl, compare(expected, rtl, OUT_FORMAT), saturated


def main():
    if shutil.which("iverilog") is None:
        sys.exit("iverilog not found; install Icarus Verilog (apt-get install iverilog)")
    workdir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="tichchap_rtl_")
    os.makedirs(workdir, exist_ok=True)
    _, _, result, saturated = run_flow(workdir)
    print(f"work directory: {workdir}")
    print(f"values saturated by the output cast: {saturated}")
    print(result)
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
