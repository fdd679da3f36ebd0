"""Number formats of hardware datapaths, as arrays of integer *words*.

A word is the bit pattern a memory or a wire holds, stored as an unsigned integer: ``np.uint32``
for the float formats, ``np.uint64`` for :class:`Fixed` up to 64 bits and a NumPy object array of
Python integers for wider ones. Every format has the same interface::

    fmt.to_words(values)        floats -> words (rounded as the format rounds)
    fmt.from_words(words)       words  -> float64 values
    fmt.quantize(values)        floats -> the floats the format can hold (a round trip)
    fmt.mul(a, b), fmt.add(a, b)  elementwise units on word arrays
    fmt.relu(words), fmt.maximum(a, b), fmt.lsb_distance(a, b)

Three formats:

- :class:`Float32` -- IEEE binary32, round to nearest even (NumPy's float32).
- :class:`Fixed` -- Vitis HLS ``ap_fixed<W, I, Q, O>`` / ``ap_ufixed`` semantics (``I`` counts
  the sign bit). Products and sums are exact and widen as ``ap_fixed`` widens them; rounding and
  overflow happen only in :meth:`Fixed.cast` / :meth:`Fixed.to_words`, overflow after rounding.
- :class:`TruncatedFloat32` -- the truncating multiplier and adder of a real accelerator
  (binary32 bit layout, no rounding, no special values), bit-exact.

Example::

    >>> fmt = Fixed(8, 3, rounding="RND", overflow="SAT")
    >>> w = fmt.to_words([1.3, -5.0, 100.0])
    >>> [hex(int(v)) for v in w], fmt.from_words(w).tolist()
    (['0x2a', '0x80', '0x7f'], [1.3125, -4.0, 3.96875])
"""

from fractions import Fraction

import numpy as np

from ..errors import ArgumentTypeError, ConfigError, DataError

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

# int64 arithmetic is used while every intermediate magnitude stays below 2**_INT64_SAFE_BITS.
_INT64_SAFE_BITS = 61


def _as_object_ints(a):
    """An object array of Python ints (exact arithmetic of any width)."""
    a = np.asarray(a)
    if a.dtype == object:
        return np.vectorize(int, otypes=[object])(a) if a.size else a.astype(object)
    if a.dtype.kind in "ui":
        return a.astype(object)
    raise ArgumentTypeError(f"expected an integer array; received dtype {a.dtype}")


def _round_shift(n, s, mode, magnitude_bits=None):
    """Round ``n / 2**s`` to an integer with an ap_fixed rounding mode (``s >= 0``).

    ``n`` is an int64 or object array of exact integers, ``s`` a non-negative int or int array.
    ``magnitude_bits`` bounds ``|n| <= 2**magnitude_bits``; an int64 shift is clamped to
    ``magnitude_bits + 1``, beyond which every mode gives the same answer.
    """
    is_object = n.dtype == object
    s = np.asarray(s)
    if not is_object:
        limit = (magnitude_bits if magnitude_bits is not None else 62) + 1
        s = np.minimum(s, min(limit, 62)).astype(np.int64)
    elif s.ndim:
        s = s.astype(object)
    else:
        s = int(s)
    floor = n >> s
    remainder = n - (floor << s)                       # 0 <= remainder < 2**s
    if mode == "TRN":
        return floor
    exact = remainder == 0
    if isinstance(s, int):
        half = 1 << max(s - 1, 0)
    elif is_object:
        half = np.array([1 << max(int(v) - 1, 0) for v in s.ravel()], dtype=object).reshape(s.shape)
    else:
        half = np.left_shift(1, np.maximum(s, 1) - 1)
    up = _rounds_up(mode, floor, exact, n < 0, (remainder > half) & ~exact, (remainder == half) & ~exact)
    up = np.asarray(up, dtype=bool)
    return floor + up.astype(np.int64) if not is_object else floor + up.astype(object) * 1


def _rounds_up(mode, floor, exact, negative, above, tie):
    """Whether a value between ``floor`` and ``floor + 1`` rounds up under ap_fixed's ``mode``
    (all but TRN): ``above``/``tie`` say its fraction is above / exactly one half."""
    if mode == "TRN_ZERO":
        return negative & ~exact
    if mode == "RND":
        return above | tie
    if mode == "RND_ZERO":
        return above | (tie & negative)
    if mode == "RND_MIN_INF":
        return above
    if mode == "RND_INF":
        return above | (tie & ~negative)
    if mode == "RND_CONV":
        return above | (tie & ((floor & 1) == 1))
    raise ConfigError(f"unknown rounding mode; expected one of {ROUNDING_MODES}; received {mode!r}")


def round_divide(numerator, denominator, mode):
    """Round ``numerator / denominator`` (exact integers, denominator > 0) with a rounding mode.

    Used by average pooling; works on int64 or object arrays.
    """
    n = np.asarray(numerator)
    d = denominator
    floor = n // d
    remainder = n - floor * d                          # 0 <= remainder < d
    if mode == "TRN":
        return floor
    exact = remainder == 0
    twice = remainder * 2
    up = _rounds_up(mode, floor, exact, n < 0, (twice > d) & ~exact, (twice == d) & ~exact)
    up = np.asarray(up, dtype=bool)
    return floor + (up.astype(object) * 1 if n.dtype == object else up.astype(np.int64))


def _check_finite(values, who):
    if not np.all(np.isfinite(values)):
        bad = values[~np.isfinite(values)][:3]
        raise DataError(f"{who}: values must be finite; expected no NaN or inf; received {bad.tolist()}")


def _float_to_mantissa_exponent(x):
    """Exact decomposition ``x == m * 2**e`` of float64 values (``|m| <= 2**53``, int64)."""
    fraction, exponent = np.frexp(x)
    mantissa = np.ldexp(fraction, 53).astype(np.int64)     # exact: 53 significant bits
    return mantissa, exponent.astype(np.int64) - 53


class NumberFormat:
    """Common interface of the word formats (see the module docstring)."""

    width = None
    is_float = False

    def to_config(self):
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.to_config() == other.to_config()

    def __hash__(self):
        return hash(tuple(sorted(self.to_config().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def quantize(self, values):
        """The float64 values the format holds for ``values`` (``from_words(to_words(values))``)."""
        return self.from_words(self.to_words(values))

    def zero_word(self):
        """The word of the value 0 (what 'same' padding feeds through the units)."""
        return 0

    def word_dtype(self):
        return np.uint32

    def format_word(self, word):
        """One word as ``(value, hex, binary)`` strings, for traces."""
        word = int(word)
        value = self.from_words(np.array([word], dtype=self.word_dtype()))[0]
        hex_digits = (self.width + 3) // 4
        return f"{float(value)!r}", f"0x{word:0{hex_digits}x}", f"0b{word:0{self.width}b}"


class Float32(NumberFormat):
    """IEEE-754 binary32 with round-to-nearest-even; words are the uint32 bit patterns."""

    width = 32
    is_float = True

    def to_config(self):
        return {"type": "Float32"}

    def to_words(self, values, return_overflow=False):
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore"):
            words = x.astype(np.float32).view(np.uint32)
        if return_overflow:
            overflow = int(np.count_nonzero(np.isinf(words.view(np.float32)) & np.isfinite(x)))
            return words, overflow
        return words

    def from_words(self, words):
        return np.asarray(words).astype(np.uint32).view(np.float32).astype(np.float64)

    def _f(self, words):
        return np.asarray(words).astype(np.uint32).view(np.float32)

    def mul(self, a, b):
        with np.errstate(all="ignore"):
            return (self._f(a) * self._f(b)).astype(np.float32).view(np.uint32)

    def add(self, a, b):
        with np.errstate(all="ignore"):
            return (self._f(a) + self._f(b)).astype(np.float32).view(np.uint32)

    def relu(self, words):
        w = np.asarray(words).astype(np.uint32)
        return np.where((w >> 31) == 1, np.uint32(0), w).astype(np.uint32)

    def maximum(self, a, b):
        """IEEE ordering (NaN propagates as in ``np.maximum``)."""
        return np.maximum(self._f(a), self._f(b)).view(np.uint32)

    def lowest_word(self):
        return 0xFF800000                               # -inf: identity of maximum

    def lsb_distance(self, a, b):
        """Distance in ULPs (units in the last place) between the words' values; +0 and -0 are 0 apart."""
        return np.abs(_ordered_float_bits(a) - _ordered_float_bits(b))


def _ordered_float_bits(words):
    """Map binary32 bit patterns to int64 so that consecutive floats differ by one."""
    w = np.asarray(words).astype(np.int64)
    magnitude = w & 0x7FFFFFFF
    return np.where(w >> 31 == 1, -magnitude, magnitude)


class TruncatedFloat32(Float32):
    """Truncating binary32 units of a real accelerator, bit-exact (see ``SEED_RTL.md`` in the docs).

    The multiplier and the adder assume the implicit leading one whatever the exponent, wrap the
    exponent modulo 256 and drop every bit that does not fit (no rounding); the adder loses bit 0 of
    its 25-bit sum and normalises by shifting left at most 24 times. ``to_words`` and
    ``from_words`` are plain binary32 (the accelerator receives IEEE words).
    """

    def to_config(self):
        return {"type": "TruncatedFloat32"}

    @staticmethod
    def _fields(words):
        w = np.asarray(words).astype(np.int64) & 0xFFFFFFFF
        return w >> 31, (w >> 23) & 0xFF, (w & 0x7FFFFF) | (1 << 23), w

    def mul(self, a, b):
        sa, ea, ma, wa = self._fields(a)
        sb, eb, mb, wb = self._fields(b)
        sign = sa ^ sb
        exponent = (ea + eb - 127) & 0xFF
        product = ma * mb                                  # < 2**48, exact in int64
        carry = (product >> 47) & 1
        fraction = np.where(carry == 1, product >> 24, product >> 23) & 0x7FFFFF
        exponent = (exponent + carry) & 0xFF
        result = (sign << 31) | (exponent << 23) | fraction
        result = np.where((wa == 0) | (wb == 0), 0, result)
        return result.astype(np.uint32)

    def add(self, a, b):
        sa, ea, ma, _ = self._fields(a)
        sb, eb, mb, _ = self._fields(b)
        a_is_big = ea >= eb
        s_big = np.where(a_is_big, sa, sb)
        m_big = np.where(a_is_big, ma, mb)
        m_small = np.where(a_is_big, mb, ma)
        shift = np.abs(ea - eb)
        m_small = np.where(shift >= 24, 0, m_small >> np.minimum(shift, 31))
        signs_differ = sa != sb
        mask25 = (1 << 25) - 1
        r = np.where(signs_differ, m_big - m_small, m_big + m_small) & mask25
        negative = (((r >> 24) & 1) == 1) & signs_differ
        r = np.where(negative, (-r) & mask25, r)
        sign = s_big ^ negative.astype(np.int64)
        fraction = r >> 1                                   # 24-bit register; bit 0 of r is lost
        exponent = (np.maximum(ea, eb) + 1) & 0xFF
        # Normalise: shift left until bit 23 is set, at most 24 times (a zero register shifts 24).
        bit_length = np.frexp(fraction.astype(np.float64))[1].astype(np.int64)   # exact below 2**53
        shift_left = np.where(fraction == 0, 24, 24 - bit_length)
        fraction = (fraction << shift_left) & 0xFFFFFF
        exponent = (exponent - shift_left) & 0xFF
        result = (sign << 31) | (exponent << 23) | (fraction & 0x7FFFFF)
        return result.astype(np.uint32)

    def maximum(self, a, b):
        """The accelerator's comparator: words compared as unsigned integers (right after ReLU)."""
        return np.maximum(np.asarray(a).astype(np.uint32), np.asarray(b).astype(np.uint32))

    def lowest_word(self):
        return 0


class Fixed(NumberFormat):
    """A fixed-point format with Vitis HLS ``ap_fixed<W, I, Q, O>`` (``ap_ufixed``) semantics.

    Args:
        width: W, total bits (>= 1).
        integer: I, bits left of the binary point *including the sign bit*; may be negative or
            larger than W (then the fraction length ``F = W - I`` is negative).
        signed: ``ap_fixed`` (True) or ``ap_ufixed`` (False).
        rounding: one of TRN (floor, default), TRN_ZERO, RND (nearest, ties up), RND_ZERO,
            RND_MIN_INF, RND_INF (ties away from zero), RND_CONV (ties to even).
        overflow: WRAP (default), SAT, SAT_ZERO, SAT_SYM (signed: the most negative value is
            excluded and saturates to ``-max``, as ``ap_fixed`` does). Applied after rounding.

    A value is ``integer_word * 2**-F``; a word is that integer in two's complement, W bits.
    """

    def __init__(self, width, integer, signed=True, rounding="TRN", overflow="WRAP"):
        if not isinstance(width, (int, np.integer)) or isinstance(width, bool) or width < 1:
            raise ConfigError(f"Fixed: width must be a positive integer; received width={width!r}")
        if not isinstance(integer, (int, np.integer)) or isinstance(integer, bool):
            raise ConfigError(f"Fixed: integer must be an integer; received integer={integer!r}")
        rounding = str(rounding).upper().removeprefix("AP_")
        overflow = str(overflow).upper().removeprefix("AP_")
        if rounding not in ROUNDING_MODES:
            raise ConfigError(f"Fixed: unknown rounding; expected one of {ROUNDING_MODES}; received {rounding!r}")
        if overflow not in OVERFLOW_MODES:
            raise ConfigError(f"Fixed: unknown overflow; expected one of {OVERFLOW_MODES}; received {overflow!r}")
        self.width = int(width)
        self.integer = int(integer)
        self.signed = bool(signed)
        self.rounding = rounding
        self.overflow = overflow
        self.fraction = self.width - self.integer
        if self.signed:
            self.min_int = -(1 << (self.width - 1))
            self.max_int = (1 << (self.width - 1)) - 1
        else:
            self.min_int, self.max_int = 0, (1 << self.width) - 1
        self._mask = (1 << self.width) - 1

    # ----------------------------------------------------------------- description
    def to_config(self):
        return {"type": "Fixed", "width": self.width, "integer": self.integer, "signed": self.signed,
                "rounding": self.rounding, "overflow": self.overflow}

    def __str__(self):
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def with_modes(self, rounding=None, overflow=None):
        return Fixed(self.width, self.integer, self.signed, rounding or self.rounding, overflow or self.overflow)

    @property
    def lsb(self):
        """The value of one least significant bit, ``2**-F``, as an exact Fraction."""
        return Fraction(2) ** -self.fraction

    def _int_dtype(self):
        fits = self.width <= 64 if self.signed else self.width <= 63
        return np.int64 if fits else object

    def word_dtype(self):
        return np.uint64 if self.width <= 64 else object

    # ----------------------------------------------------------------- words <-> integers
    def words_to_ints(self, words):
        """Words -> the signed (or unsigned) integers they encode (value = int * 2**-F)."""
        w = np.asarray(words)
        if self._int_dtype() is object or w.dtype == object:
            w = _as_object_ints(w)
            if np.any((w < 0) | (w > self._mask)):
                raise DataError(f"{self}: words must lie in [0, 2**{self.width}); received out-of-range words")
            if self.signed:
                w = np.where(w >= (1 << (self.width - 1)), w - (1 << self.width), w)
                w = w.astype(object)
            return w if self._int_dtype() is object else w.astype(np.int64)
        if w.dtype.kind not in "ui":
            raise ArgumentTypeError(f"{self}: words must be integers; received dtype {w.dtype}")
        if w.dtype.kind == "i" and w.size and w.min() < 0:
            raise DataError(f"{self}: words must be non-negative; received {int(w.min())}")
        u = w.astype(np.uint64)
        if self.width < 64 and u.size and int(u.max()) > self._mask:
            raise DataError(f"{self}: words must lie in [0, 2**{self.width}); received {int(u.max())}")
        if self.width == 64:
            return u.view(np.int64)                        # signed: two's complement as is
        if self.signed:                                    # sign-extend with an arithmetic shift
            spare = np.uint64(64 - self.width)
            return (u << spare).view(np.int64) >> np.int64(64 - self.width)
        return u.astype(np.int64)

    def ints_to_words(self, ints):
        """Integers (already in range) -> W-bit two's complement words."""
        ints = np.asarray(ints)
        if self.word_dtype() is object:
            return (_as_object_ints(ints) & self._mask).astype(object)
        if ints.dtype == object:
            ints = _as_object_ints(ints) & self._mask
            return np.array(ints.tolist(), dtype=np.uint64).reshape(ints.shape)
        return ints.astype(np.int64).view(np.uint64) & np.uint64(self._mask)

    # ----------------------------------------------------------------- rounding and overflow
    def _apply_overflow(self, q):
        """Map exact rounded integers into the representable range; returns (ints, overflow mask)."""
        if q.dtype != object and self._int_dtype() is object:
            q = q.astype(object)
        low = -self.max_int if (self.overflow == "SAT_SYM" and self.signed) else self.min_int
        under = q < low
        over = q > self.max_int
        overflowed = np.asarray(under | over, dtype=bool)
        if not overflowed.any():
            result = q
        elif self.overflow == "WRAP":
            result = self.words_to_ints(self.ints_to_words(q))
        elif self.overflow == "SAT_ZERO":
            result = np.where(overflowed, 0, q)
        else:  # SAT, SAT_SYM
            result = np.where(over, self.max_int, np.where(under, low, q))
        if self._int_dtype() is object:
            result = np.asarray(result, dtype=object)
        else:
            result = np.asarray(result).astype(np.int64)
        return result, overflowed

    def _finish(self, q, return_overflow):
        ints, overflowed = self._apply_overflow(q)
        words = self.ints_to_words(ints)
        if return_overflow:
            return words, int(np.count_nonzero(overflowed))
        return words

    def round_ints(self, ints, fraction_bits):
        """Exact integers at scale ``2**-fraction_bits`` -> rounded (not yet overflow-handled)
        integers at this format's scale."""
        n = np.asarray(ints)
        shift = self.fraction - fraction_bits
        if shift >= 0:
            bound = _bit_bound(n)
            if n.dtype != object and bound + shift > 62:
                n = n.astype(object)
            return n << shift
        bound = _bit_bound(n)
        return _round_shift(n, -shift, self.rounding, magnitude_bits=bound)

    def cast(self, words, from_format, return_overflow=False):
        """Re-quantise words of another Fixed format into this one (this format's rounding and
        overflow, overflow after rounding). With ``return_overflow`` returns ``(words, count)``,
        the count of values that wrapped or saturated."""
        if not isinstance(from_format, Fixed):
            raise ArgumentTypeError(f"{self}.cast: from_format must be a Fixed; received {from_format!r}")
        ints = from_format.words_to_ints(words)
        return self.cast_ints(ints, from_format.fraction, return_overflow)

    def cast_ints(self, ints, fraction_bits, return_overflow=False):
        """As :meth:`cast`, from exact integers at scale ``2**-fraction_bits`` (an accumulator)."""
        return self._finish(self.round_ints(ints, fraction_bits), return_overflow)

    # ----------------------------------------------------------------- floats
    def to_words(self, values, return_overflow=False):
        """Floats -> words, exactly as an ``ap_fixed`` constructed from each double.

        The float's exact binary value is rounded (no lossy scaling), then overflow is applied.
        """
        x = np.asarray(values, dtype=np.float64)
        _check_finite(x, str(self))
        mantissa, exponent = _float_to_mantissa_exponent(x)
        t = exponent + self.fraction                        # value in LSBs = mantissa * 2**t
        huge = t > 8                                        # mantissa << t may leave int64
        if self._int_dtype() is object or huge.any():
            q = np.empty(x.shape, dtype=object)
            m_obj = mantissa.astype(object)
            t_obj = t.astype(object)
            left = t >= 0
            q[left] = m_obj[left] << t_obj[left]
            if (~left).any():
                q[~left] = _round_shift(m_obj[~left], (-t[~left]).astype(object), self.rounding)
        else:
            left = t >= 0
            q = np.where(left, mantissa << np.where(left, t, 0), 0)
            if (~left).any():
                rounded = _round_shift(mantissa, np.where(left, 0, -t), self.rounding, magnitude_bits=53)
                q = np.where(left, q, rounded)
        return self._finish(q, return_overflow)

    def from_words(self, words, exact=False):
        """Words -> float64 values (exact while the integer has at most 53 bits, else rounded to
        nearest); ``exact=True`` returns an object array of ``fractions.Fraction``."""
        ints = self.words_to_ints(words)
        if exact:
            lsb = self.lsb
            return np.vectorize(lambda v: Fraction(int(v)) * lsb, otypes=[object])(ints) if ints.size \
                else np.empty(ints.shape, dtype=object)
        if ints.dtype == object:
            return np.array([float(Fraction(int(v)) * self.lsb) for v in ints.ravel()],
                            dtype=np.float64).reshape(ints.shape)
        if self.width > 53:                                 # int64 -> float64 would round twice
            return np.array([float(Fraction(int(v)) * self.lsb) for v in ints.ravel()],
                            dtype=np.float64).reshape(ints.shape)
        return np.ldexp(ints.astype(np.float64), -self.fraction)

    # ----------------------------------------------------------------- exact units
    def product_format(self, other=None):
        """``ap_fixed`` multiplication result type: ``<W1+W2, I1+I2>``, signed if either is."""
        other = self if other is None else other
        return Fixed(self.width + other.width, self.integer + other.integer, self.signed or other.signed)

    def sum_format(self, other=None):
        """``ap_fixed`` addition result type (wide enough that the sum is exact)."""
        other = self if other is None else other
        i1 = self.integer + (1 if other.signed and not self.signed else 0)
        i2 = other.integer + (1 if self.signed and not other.signed else 0)
        integer = max(i1, i2) + 1
        fraction = max(self.fraction, other.fraction)
        return Fixed(integer + fraction, integer, self.signed or other.signed)

    def mul(self, a, b, b_format=None):
        """Exact elementwise product; the words are in ``self.product_format(b_format)``."""
        b_format = self if b_format is None else b_format
        out = self.product_format(b_format)
        x, y = self.words_to_ints(a), b_format.words_to_ints(b)
        if self.width + b_format.width > 62:
            x, y = x.astype(object), y.astype(object)
        return out.ints_to_words(x * y)

    def add(self, a, b, b_format=None):
        """Exact elementwise sum; the words are in ``self.sum_format(b_format)``."""
        b_format = self if b_format is None else b_format
        out = self.sum_format(b_format)
        x = self.words_to_ints(a)
        y = b_format.words_to_ints(b)
        if out.width > 62:
            x, y = x.astype(object), y.astype(object)
        x = x << (out.fraction - self.fraction)
        y = y << (out.fraction - b_format.fraction)
        return out.ints_to_words(x + y)

    def relu(self, words):
        if not self.signed:
            return np.asarray(words)
        ints = self.words_to_ints(words)
        return self.ints_to_words(np.where(ints < 0, 0, ints).astype(ints.dtype))

    def maximum(self, a, b):
        x, y = self.words_to_ints(a), self.words_to_ints(b)
        return self.ints_to_words(np.where(x >= y, x, y).astype(x.dtype))

    def lowest_word(self):
        return int(self.ints_to_words(np.array([self.min_int], dtype=self._int_dtype()))[0])

    def lsb_distance(self, a, b):
        """|a - b| in LSBs (int64, or object for very wide formats)."""
        x, y = self.words_to_ints(a), self.words_to_ints(b)
        if x.dtype != object and self.width >= 63:
            x, y = x.astype(object), y.astype(object)
        return np.abs(x - y)

    def format_word(self, word):
        value = self.from_words(np.array([int(word)], dtype=self.word_dtype()), exact=True)[0]
        shown = repr(float(value)) if value == float(value) else f"{value} (~{float(value)!r})"
        hex_digits = (self.width + 3) // 4
        return shown, f"0x{int(word):0{hex_digits}x}", f"0b{int(word):0{self.width}b}"


def _bit_bound(n):
    """A b with |n| <= 2**b for every element (cheap upper bound)."""
    if n.size == 0:
        return 0
    if n.dtype == object:
        return max(int(abs(int(v))).bit_length() for v in n.ravel())
    return int(max(abs(int(n.min())), abs(int(n.max())))).bit_length()


def format_from_config(config):
    """Rebuild a format from :meth:`NumberFormat.to_config` (as stored in manifests)."""
    kind = config.get("type") if isinstance(config, dict) else None
    if kind == "Float32":
        return Float32()
    if kind == "TruncatedFloat32":
        return TruncatedFloat32()
    if kind == "Fixed":
        return Fixed(config["width"], config["integer"], config.get("signed", True),
                     config.get("rounding", "TRN"), config.get("overflow", "WRAP"))
    raise ConfigError(f"format_from_config: unknown number format; expected a dict with type "
                      f"Float32, TruncatedFloat32 or Fixed; received {config!r}")
