"""compare() on constructed differences: counts, LSB/ULP distances, percentiles, first failure."""

import numpy as np
import pytest

from tichchap.errors import ShapeError
from tichchap.hardware.compare import compare, difference_map
from tichchap.hardware.formats import Fixed, Float32, TruncatedFloat32


def test_identical_words_pass():
    fmt = Fixed(12, 4)
    ref = np.arange(24, dtype=np.uint64).reshape(1, 2, 3, 4)
    result = compare(ref, ref.copy(), fmt)
    assert result.passed and result.exact_share == 1.0 and result.max_lsb == 0 and result.first_failure is None


def test_fixed_differences_in_lsbs_and_values():
    fmt = Fixed(8, 4)                                   # 1 LSB = 1/16
    ref = fmt.to_words(np.zeros((1, 4, 5, 10)))
    dut = ref.copy()
    dut[0, 1, 2, 3] = fmt.to_words([3 / 16])[0]          # +3 LSB
    dut[0, 3, 0, 0] = fmt.to_words([-1 / 16])[0]         # -1 LSB: two's complement word 0xff
    result = compare(ref, dut, fmt)
    assert not result.passed and result.failures == 2 and result.exact == 198
    assert result.exact_share == pytest.approx(198 / 200)
    assert result.max_lsb == 3 and result.p50_lsb == 0 and result.max_abs == pytest.approx(3 / 16)
    assert result.p99_lsb == pytest.approx(np.percentile([0] * 198 + [1, 3], 99))
    first = result.first_failure
    assert first["index"] == (0, 1, 2, 3) and first["reference_hex"] == "0x00" and first["dut_hex"] == "0x03"
    assert first["dut_value"] == 3 / 16 and first["difference"] == 3
    assert compare(ref, dut, fmt, tolerance=3).passed
    assert not compare(ref, dut, fmt, tolerance=2).passed
    assert difference_map(ref, dut, fmt)[0, 3, 0, 0] == -1 / 16
    assert "FAIL" in str(result) and "(0, 1, 2, 3)" in str(result)


def test_wrap_around_is_a_large_lsb_difference():
    fmt = Fixed(8, 8)
    result = compare(fmt.to_words([127]), fmt.to_words([-128]), fmt)
    assert result.max_lsb == 255


def test_float_differences_in_ulps():
    fmt = Float32()
    values = np.array([1.0, 2.0, -3.5, 0.0], dtype=np.float32)
    ref = fmt.to_words(values)
    dut = ref.copy()
    dut[1] += 4                                          # 4 ULPs above 2.0
    dut[3] = 0x80000000                                  # -0.0: 0 ULPs, but not bit-exact
    result = compare(ref, dut, fmt)
    assert result.unit == "ULP" and result.failures == 2 and result.max_lsb == 4
    assert result.max_abs == pytest.approx(4 * 2.0**-22)
    assert result.first_failure["index"] == (1,)
    assert compare(ref, dut, fmt, tolerance=4).passed
    assert compare(ref, dut, TruncatedFloat32(), tolerance=1).failures == 1


def test_shape_mismatch_is_refused():
    with pytest.raises(ShapeError, match="shapes differ"):
        compare(np.zeros((2, 2), dtype=np.uint64), np.zeros((4,), dtype=np.uint64), Fixed(8, 4))


def test_wide_fixed_words():
    fmt = Fixed(90, 30)
    ref = np.array([0, 2**89], dtype=object)
    dut = np.array([5, 2**89], dtype=object)
    result = compare(ref, dut, fmt)
    assert result.failures == 1 and result.max_lsb == 5
