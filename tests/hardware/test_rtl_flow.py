"""The whole reference flow with a real simulator: export -> Icarus Verilog -> import -> compare.

Skipped where iverilog is absent (install: apt-get install iverilog).
"""

import importlib.util
import os
import shutil

import numpy as np
import pytest

from tichchap.hardware import Fixed, compare
from tichchap.hardware.kernels import conv2d, relu

pytestmark = pytest.mark.skipif(shutil.which("iverilog") is None or shutil.which("vvp") is None,
                                reason="Icarus Verilog (iverilog, vvp) not installed")

FLOW = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "rtl", "run_conv3x3.py")


def load_flow():
    spec = importlib.util.spec_from_file_location("run_conv3x3", FLOW)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed, height, width, c_in, c_out", [(0, 5, 6, 2, 3), (1, 4, 7, 3, 2)])
def test_verilog_conv3x3_relu_is_bit_exact_with_fixed_kernel(tmp_path, seed, height, width, c_in, c_out):
    flow = load_flow()
    expected, rtl, result, saturated = flow.run_flow(str(tmp_path), seed, height, width, c_in, c_out)
    assert result.passed and result.exact == expected.size == height * width * c_out
    assert np.count_nonzero(expected) > expected.size // 4       # not a trivially all-zero layer
    assert saturated > 0                                          # the saturation path is exercised
    # the comparison is sensitive: the same layer with truncation instead of rounding differs
    x, kernel, bias = flow.random_layer(seed, height, width, c_in, c_out)
    truncated = relu(conv2d(x, kernel, bias, flow.X_FORMAT, weight_format=flow.W_FORMAT,
                            bias_format=flow.B_FORMAT, output_format=Fixed(8, 4, rounding="TRN", overflow="SAT"),
                            padding="same"), flow.OUT_FORMAT)
    assert not compare(truncated, rtl, flow.OUT_FORMAT).passed
