"""Compare a reference (the golden model) with what the device under test (the RTL) computed.

Example::

    >>> import numpy as np
    >>> from tichchap.hardware import Fixed
    >>> fmt = Fixed(8, 4)
    >>> ref = np.array([[1, 2], [3, 4]], dtype=np.uint64)
    >>> result = compare(ref, ref + np.array([[0, 0], [0, 2]], dtype=np.uint64), fmt)
    >>> result.passed, result.exact_share, result.max_lsb, result.first_failure["index"]
    (False, 0.75, 2.0, (1, 1))
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import ConfigError, ShapeError
from .formats import NumberFormat


@dataclass
class CompareResult:
    """Statistics of one comparison; ``passed`` is the verdict against ``tolerance``.

    Distances are in LSBs for Fixed and in ULPs for floats (``unit``); ``*_abs`` are absolute
    differences of the values (float64). ``first_failure`` is the first failing position in
    row-major (NHWC raster) order, with both words and values, or None.
    """

    count: int
    exact: int
    exact_share: float
    unit: str
    tolerance: float
    max_lsb: float
    p50_lsb: float
    p99_lsb: float
    max_abs: float
    p50_abs: float
    p99_abs: float
    failures: int
    passed: bool
    first_failure: dict = field(default=None)

    def to_dict(self):
        return asdict(self)

    def __str__(self):
        verdict = "PASS" if self.passed else "FAIL"
        text = (f"{verdict}: {self.exact}/{self.count} words bit-exact ({100 * self.exact_share:.2f}%), "
                f"max {self.max_lsb:g} {self.unit} (p50 {self.p50_lsb:g}, p99 {self.p99_lsb:g}), "
                f"max |diff| {self.max_abs:.6g}, tolerance {self.tolerance:g} {self.unit}")
        if self.first_failure:
            f = self.first_failure
            text += (f"; first failure at {f['index']}: reference {f['reference_hex']} ({f['reference_value']:.9g}) "
                     f"vs DUT {f['dut_hex']} ({f['dut_value']:.9g})")
        return text


def difference_map(reference_words, dut_words, number_format):
    """Signed value differences ``dut - reference`` as float64 (for error maps and histograms)."""
    return number_format.from_words(dut_words) - number_format.from_words(reference_words)


def compare(reference_words, dut_words, number_format, tolerance=0):
    """Compare two word arrays of the same shape in ``number_format``.

    A word fails when it differs from the reference by more than ``tolerance`` LSBs/ULPs; with the
    default ``tolerance=0`` every word must be bit-exact (so +0.0 vs -0.0 fails).
    """
    if not isinstance(number_format, NumberFormat):
        raise ConfigError(f"compare: number_format must be a NumberFormat; received {number_format!r}")
    if tolerance < 0:
        raise ConfigError(f"compare: tolerance must be >= 0; received {tolerance!r}")
    ref, dut = np.asarray(reference_words), np.asarray(dut_words)
    if ref.shape != dut.shape:
        raise ShapeError(f"compare: reference and DUT shapes differ; expected {ref.shape}; received {dut.shape}")
    count = int(ref.size)
    unit = "ULP" if number_format.is_float else "LSB"
    if count == 0:
        return CompareResult(0, 0, 1.0, unit, tolerance, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0, True, None)
    same = np.asarray(ref == dut, dtype=bool) if ref.dtype != object else np.array(
        [int(a) == int(b) for a, b in zip(ref.ravel(), dut.ravel())]).reshape(ref.shape)
    distance = number_format.lsb_distance(ref, dut)
    distance = np.asarray(distance, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        absolute = np.abs(difference_map(ref, dut, number_format))
    absolute = np.where(same, 0.0, absolute)
    failing = ~same if tolerance == 0 else (~same & (distance > tolerance))
    failures = int(np.count_nonzero(failing))
    first = None
    if failures:
        index = tuple(int(i) for i in np.argwhere(failing)[0])
        r_word, d_word = int(ref[index]), int(dut[index])
        r_fmt, d_fmt = number_format.format_word(r_word), number_format.format_word(d_word)
        first = {"index": index, "reference_word": r_word, "dut_word": d_word,
                 "reference_hex": r_fmt[1], "dut_hex": d_fmt[1],
                 "reference_value": float(number_format.from_words(np.array([ref[index]], dtype=ref.dtype))[0]),
                 "dut_value": float(number_format.from_words(np.array([dut[index]], dtype=dut.dtype))[0]),
                 "difference": float(distance[index])}
    p50, p99 = np.percentile(distance, [50, 99])
    a50, a99 = np.percentile(absolute, [50, 99])
    exact = int(np.count_nonzero(same))
    return CompareResult(count=count, exact=exact, exact_share=exact / count, unit=unit, tolerance=tolerance,
                         max_lsb=float(distance.max()), p50_lsb=float(p50), p99_lsb=float(p99),
                         max_abs=float(np.nanmax(absolute)) if np.isfinite(absolute).any() else float("nan"),
                         p50_abs=float(a50), p99_abs=float(a99), failures=failures, passed=failures == 0,
                         first_failure=first)
