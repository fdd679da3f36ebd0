"""An independent, obviously-right model of ap_fixed quantisation, written with fractions.Fraction.

It follows the definitions in Vitis HLS UG1399 (round first, then handle overflow), one value at a
time, with no shifting tricks: the test oracle for tichchap.hardware.formats.Fixed.
"""

import math
from fractions import Fraction


def round_fraction(v, mode):
    """Round an exact rational ``v`` (in LSB units) to an integer."""
    below = math.floor(v)
    frac = v - below
    if frac == 0:
        return below
    half = Fraction(1, 2)
    if mode == "TRN":                       # towards minus infinity
        return below
    if mode == "TRN_ZERO":                  # towards zero
        return below if v > 0 else below + 1
    if frac != half:                        # every RND mode: nearest when not a tie
        return below + 1 if frac > half else below
    # ties
    if mode == "RND":                       # towards plus infinity
        return below + 1
    if mode == "RND_ZERO":
        return below if v > 0 else below + 1
    if mode == "RND_MIN_INF":
        return below
    if mode == "RND_INF":                   # away from zero
        return below + 1 if v > 0 else below
    if mode == "RND_CONV":                  # to even
        return below if below % 2 == 0 else below + 1
    raise ValueError(mode)


def reference_quantize(value, width, integer, signed, rounding, overflow):
    """-> (integer representation in range, overflowed?) for an exact rational ``value``."""
    fraction_bits = width - integer
    q = round_fraction(Fraction(value) * Fraction(2) ** fraction_bits, rounding)
    if signed:
        lo, hi = -(2 ** (width - 1)), 2 ** (width - 1) - 1
    else:
        lo, hi = 0, 2 ** width - 1
    if overflow == "SAT_SYM" and signed:
        lo = -hi
    if lo <= q <= hi:
        return q, False
    if overflow == "WRAP":
        base = -(2 ** (width - 1)) if signed else 0
        return (q - base) % (2 ** width) + base, True
    if overflow == "SAT_ZERO":
        return 0, True
    return (hi if q > hi else lo), True


def to_word(q, width):
    return q % (2 ** width)


def word_value(word, width, integer, signed):
    if signed and word >= 2 ** (width - 1):
        word -= 2 ** width
    return Fraction(word) * Fraction(2) ** (integer - width)
