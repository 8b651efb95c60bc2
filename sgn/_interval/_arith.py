"""Interval arrays whose every operation rounds outwards.

An `Interval` holds two numpy arrays `lo <= hi` of the same shape. Axis 0 is a batch axis
(one row per box; size 1 for values that do not depend on the box, such as constants), the
other axes are the shape the traced JAX program gives the value. Every operation returns an
interval that contains the exact real result for every choice of reals in its operands.

Why the results are rigorous without switching the FPU's rounding mode (numpy cannot):

* `+ - * /` and `sqrt` are correctly rounded in IEEE 754: the float result is within half an
  ulp of the exact one, so stepping it one float down (`np.nextafter(., -inf)`) for a lower
  end, or up for an upper end, gives a valid bound (also across binade edges and subnormals).
* Sums of many terms (reductions, dot products) use the a-priori bound
  |fl(sum x_k) - sum x_k| <= gamma_n sum |x_k|, gamma_n = n u / (1 - n u), u = 2^-53, which
  holds for every summation order (numpy's pairwise sums, BLAS blocking, FMA), plus n times the
  smallest subnormal for underflow in products.
* Transcendental functions (exp, log, sin, tanh, ...) are not correctly rounded in numpy or
  libm. ASSUMPTION (documented in docs/verified.md): numpy's float64 implementations are
  accurate to within `TRANSCENDENTAL_ULPS` = 4 ulps (glibc and numpy's SIMD kernels document
  < 1 and < 4 ulps). Their results are widened by that many ulps and then one more float.
* NaN never survives: an operation that yields NaN (inf - inf, 0 * inf, log of a negative)
  gives the whole line [-inf, inf] there, which is always a valid enclosure. So comparisons
  never meet NaN and never decide wrongly.

Integer and boolean intervals are exact (no rounding); integer overflow is not modelled.
A boolean interval [False, True] is an uncertain predicate.
"""

from __future__ import annotations

import numpy as np

#: Unit roundoff of float64.
UNIT_ROUNDOFF = 2.0**-53
#: Smallest positive subnormal float64: the absolute error of an underflowing product.
SMALLEST_SUBNORMAL = 2.0**-1074
#: Assumed accuracy of numpy's float64 transcendental functions, in ulps of the result.
TRANSCENDENTAL_ULPS = 4


class Interval:
    """An array of intervals [lo, hi]; axis 0 is the batch (box) axis."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo, hi=None):
        self.lo = np.asarray(lo)
        self.hi = self.lo if hi is None else np.asarray(hi)

    @property
    def dtype(self) -> np.dtype:
        return self.lo.dtype

    @property
    def is_float(self) -> bool:
        return np.issubdtype(self.lo.dtype, np.floating)

    @property
    def is_point(self) -> bool:
        return self.lo is self.hi or bool(np.array_equal(self.lo, self.hi))

    def map(self, fn) -> Interval:
        """Apply an order-free structural operation (reshape, slice, ...) to both ends."""
        return Interval(fn(self.lo), fn(self.hi))

    def __repr__(self) -> str:
        return f"Interval(lo={self.lo!r}, hi={self.hi!r})"


def point(value, dtype=None) -> Interval:
    """The exact interval [v, v] of a constant, with a batch axis of size 1."""
    value = np.asarray(value, dtype=dtype)[None, ...]
    if np.issubdtype(value.dtype, np.floating):
        value = value.astype(np.float64)
        return Interval(*_no_nan(value, value))
    return Interval(value)


# --- rounding ---------------------------------------------------------------------------------

def down(x):
    """The next float towards -inf: a lower bound for a correctly rounded result x."""
    return np.nextafter(x, -np.inf)


def up(x):
    """The next float towards +inf: an upper bound for a correctly rounded result x."""
    return np.nextafter(x, np.inf)


def _no_nan(lo, hi):
    """Replace NaN ends by the whole line: an undefined result is enclosed by everything."""
    lo = np.where(np.isnan(lo), -np.inf, lo)
    hi = np.where(np.isnan(hi), np.inf, hi)
    return lo, hi


def rounded(lo, hi) -> Interval:
    """Enclosure of results computed by one correctly rounded operation each."""
    return Interval(*_no_nan(down(lo), up(hi)))


def widened(lo, hi, ulps: int = TRANSCENDENTAL_ULPS) -> Interval:
    """Enclosure of results computed with at most `ulps` ulps of error each.

    `ulps * spacing(|x|)` is a power of two times a small integer, so x -/+ it is exact or
    rounds by less than one ulp; the final step to the next float absorbs that rounding.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        lo = down(lo - ulps * np.spacing(np.abs(lo)))
        hi = up(hi + ulps * np.spacing(np.abs(hi)))
    return Interval(*_no_nan(lo, hi))


def gamma(n: int) -> float:
    """An upper bound on gamma_n = n u / (1 - n u), the relative error of an n-term sum."""
    nu = n * UNIT_ROUNDOFF
    if nu >= 0.01:
        raise ValueError(f"sum of {n} terms is too long for the a-priori error bound")
    return 1.01 * nu / (1.0 - nu)


def sum_upper(x, axis, n: int):
    """Upper bound on the exact sum of non-negative floats x over `axis` (n terms each).

    fl(sum) >= (1 - gamma_n) sum for non-negative terms, so sum <= fl(sum) * (1 + 2 gamma_n).
    """
    return up(np.sum(x, axis=axis) * (1.0 + 2.0 * gamma(max(n, 1))))


def mid_rad(x: Interval):
    """A float midpoint m and radius r with [lo, hi] inside [m - r, m + r] (r rounded up)."""
    with np.errstate(invalid="ignore", over="ignore"):
        m = 0.5 * x.lo + 0.5 * x.hi
        r = up(np.maximum(x.hi - m, m - x.lo))
    finite = np.isfinite(m) & np.isfinite(r)
    return np.where(finite, m, 0.0), np.where(finite, r, np.inf)


# --- arithmetic -------------------------------------------------------------------------------

def add(a: Interval, b: Interval) -> Interval:
    if not a.is_float:
        return Interval(a.lo + b.lo, a.hi + b.hi)
    with np.errstate(invalid="ignore", over="ignore"):
        return rounded(a.lo + b.lo, a.hi + b.hi)


def sub(a: Interval, b: Interval) -> Interval:
    if not a.is_float:
        return Interval(a.lo - b.hi, a.hi - b.lo)
    with np.errstate(invalid="ignore", over="ignore"):
        return rounded(a.lo - b.hi, a.hi - b.lo)


def neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo)


def mul(a: Interval, b: Interval) -> Interval:
    """Endpoint products: the exact range of x*y is attained at corners of the box."""
    with np.errstate(invalid="ignore", over="ignore"):
        p = (a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)
        lo = np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3]))
        hi = np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3]))
    if not a.is_float:
        return Interval(lo, hi)
    # Corners where one factor is 0 and the other infinite gave NaN: NaN-propagating
    # minimum/maximum turn that into the whole line, which is valid.
    return rounded(lo, hi)


def div(a: Interval, b: Interval) -> Interval:
    """a / b; where b contains 0 the quotient is unbounded and the result is the whole line."""
    if not (a.is_float and b.is_float):
        raise TypeError("interval division is defined for floating-point values only")
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        q = (a.lo / b.lo, a.lo / b.hi, a.hi / b.lo, a.hi / b.hi)
        lo = np.minimum(np.minimum(q[0], q[1]), np.minimum(q[2], q[3]))
        hi = np.maximum(np.maximum(q[0], q[1]), np.maximum(q[2], q[3]))
    straddles = (b.lo <= 0) & (b.hi >= 0)
    out = rounded(lo, hi)
    return Interval(np.where(straddles, -np.inf, out.lo), np.where(straddles, np.inf, out.hi))


def magnitude(a: Interval):
    """max |x| over the interval."""
    return np.maximum(np.abs(a.lo), np.abs(a.hi))


def mignitude(a: Interval):
    """min |x| over the interval (0 when it contains 0)."""
    return np.where((a.lo <= 0) & (a.hi >= 0), 0.0, np.minimum(np.abs(a.lo), np.abs(a.hi)))


def absolute(a: Interval) -> Interval:
    return Interval(mignitude(a).astype(a.dtype), magnitude(a))


def _power_nonneg(x, n: int, step):
    """x**n for x >= 0 by repeated multiplication, each product rounded by `step`."""
    out = np.ones_like(x)
    with np.errstate(over="ignore"):
        for _ in range(n):
            out = step(out * x)
    return out


def integer_pow(a: Interval, n: int) -> Interval:
    """x**n for an integer n (negative n: the reciprocal of x**|n|)."""
    if n < 0:
        return div(point(1.0), integer_pow(a, -n))
    if n == 0:
        return Interval(np.ones_like(a.lo), np.ones_like(a.hi))
    if not a.is_float:
        raise TypeError("integer_pow is supported for floating-point values")
    mag_up = _power_nonneg(magnitude(a), n, up)
    if n % 2 == 0:
        return Interval(_power_nonneg(mignitude(a), n, down), mag_up)
    # Odd powers are increasing: sign(x) |x|^n at each end, rounded outwards.
    lo = np.where(a.lo >= 0, _power_nonneg(np.abs(a.lo), n, down),
                  -_power_nonneg(np.abs(a.lo), n, up))
    hi = np.where(a.hi >= 0, _power_nonneg(np.abs(a.hi), n, up),
                  -_power_nonneg(np.abs(a.hi), n, down))
    return Interval(lo, hi)


def square(a: Interval) -> Interval:
    return integer_pow(a, 2)


def sqrt(a: Interval) -> Interval:
    """Correctly rounded, increasing; negative arguments (no real root) are clamped to 0."""
    out = rounded(np.sqrt(np.maximum(a.lo, 0.0)), np.sqrt(np.maximum(a.hi, 0.0)))
    hi = np.where(a.hi < 0, np.inf, out.hi)  # no real value at all: say nothing
    return Interval(np.maximum(out.lo, 0.0), hi)


def rsqrt(a: Interval) -> Interval:
    return div(point(1.0), sqrt(a))


def _increasing(fn, a: Interval, floor=-np.inf, ceiling=np.inf) -> Interval:
    """An increasing transcendental function at both ends, widened, clipped to its range."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        out = widened(fn(a.lo), fn(a.hi))
    return Interval(np.clip(out.lo, floor, ceiling), np.clip(out.hi, floor, ceiling))


def exp(a):
    return _increasing(np.exp, a, floor=0.0)


def exp2(a):
    return _increasing(np.exp2, a, floor=0.0)


def expm1(a):
    return _increasing(np.expm1, a, floor=-1.0)


def log(a):
    """Increasing on (0, inf); at 0 and below the lower end is -inf (whole line if all < 0)."""
    return _increasing(np.log, a)


def log1p(a):
    return _increasing(np.log1p, a)


def tanh(a):
    return _increasing(np.tanh, a, floor=-1.0, ceiling=1.0)


def sinh(a):
    return _increasing(np.sinh, a)


def arctan(a):
    return _increasing(np.arctan, a, floor=-np.pi / 2 - 1e-15, ceiling=np.pi / 2 + 1e-15)


def asinh(a):
    return _increasing(np.arcsinh, a)


def erf(a):
    """scipy's erf (Cephes, accurate to ~1 ulp), increasing, inside [-1, 1]."""
    from scipy.special import erf as erf_

    return _increasing(erf_, a, floor=-1.0, ceiling=1.0)


def cosh(a: Interval) -> Interval:
    """Even, increasing in |x|: [cosh(mig), cosh(mag)], never below 1."""
    with np.errstate(over="ignore"):
        out = widened(np.cosh(mignitude(a)), np.cosh(magnitude(a)))
    return Interval(np.maximum(out.lo, 1.0), out.hi)


def logistic(a: Interval) -> Interval:
    """1 / (1 + exp(-x)), increasing: the composite enclosure at each end, inside [0, 1]."""
    def at(v):
        return div(point(1.0), add(point(1.0), exp(neg(Interval(v)))))

    lo, hi = at(a.lo).lo, at(a.hi).hi
    return Interval(np.clip(lo, 0.0, 1.0), np.clip(hi, 0.0, 1.0))


def _periodic(fn, a: Interval, peak: float) -> Interval:
    """sin or cos: ends, widened, plus +1 / -1 where a maximum (peak) / minimum may lie inside.

    Intervals wider than 2 pi, or with huge ends, give [-1, 1].
    """
    with np.errstate(invalid="ignore"):
        ends = widened(np.minimum(fn(a.lo), fn(a.hi)), np.maximum(fn(a.lo), fn(a.hi)))
    wide = ~((a.hi - a.lo) < 6.0) | ~(magnitude(a) < 1e8)
    has_max = wide | _period_hit(a, peak)
    has_min = wide | _period_hit(a, peak + np.pi)
    lo = np.where(has_min, -1.0, np.maximum(ends.lo, -1.0))
    hi = np.where(has_max, 1.0, np.minimum(ends.hi, 1.0))
    return Interval(lo, hi)


def _period_hit(a: Interval, shift: float):
    """Whether [lo, hi] may contain shift + 2 pi k (errs towards True; see _periodic)."""
    two_pi = 2.0 * np.pi
    slack = 1e-12 * (1.0 + magnitude(a))
    with np.errstate(invalid="ignore", over="ignore"):
        k_lo = np.ceil((a.lo - slack - shift) / two_pi)
        k_hi = np.floor((a.hi + slack - shift) / two_pi)
    return k_lo <= k_hi


def sin(a):
    return _periodic(np.sin, a, np.pi / 2)


def cos(a):
    return _periodic(np.cos, a, 0.0)


def pow_(a: Interval, b: Interval) -> Interval:
    """x**y for x >= 0. With y a constant, x**y is monotone in x: the ends, widened.
    Otherwise exp(y log x). A base that may be negative gives the whole line."""
    negative_base = a.lo < 0
    if b.is_point:
        y = b.lo
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            p_lo, p_hi = np.power(np.maximum(a.lo, 0.0), y), np.power(np.maximum(a.hi, 0.0), y)
        out = widened(np.minimum(p_lo, p_hi), np.maximum(p_lo, p_hi))
        out = Interval(np.maximum(out.lo, 0.0), out.hi)
    else:
        out = exp(mul(b, log(a)))
    return Interval(np.where(negative_base, -np.inf, out.lo),
                    np.where(negative_base, np.inf, out.hi))


def maximum(a: Interval, b: Interval) -> Interval:
    return Interval(np.maximum(a.lo, b.lo), np.maximum(a.hi, b.hi))


def minimum(a: Interval, b: Interval) -> Interval:
    return Interval(np.minimum(a.lo, b.lo), np.minimum(a.hi, b.hi))


def sign(a: Interval) -> Interval:
    return Interval(np.sign(a.lo), np.sign(a.hi))


def floor(a: Interval) -> Interval:
    return Interval(np.floor(a.lo), np.floor(a.hi))


def ceil(a: Interval) -> Interval:
    return Interval(np.ceil(a.lo), np.ceil(a.hi))


def clamp(low: Interval, x: Interval, high: Interval) -> Interval:
    return minimum(maximum(low, x), high)


# --- comparisons and selects (uncertain booleans) --------------------------------------------
# A boolean interval's lo says "certainly true", its hi "possibly true".

def less(a: Interval, b: Interval) -> Interval:
    return Interval(a.hi < b.lo, a.lo < b.hi)


def less_equal(a: Interval, b: Interval) -> Interval:
    return Interval(a.hi <= b.lo, a.lo <= b.hi)


def equal(a: Interval, b: Interval) -> Interval:
    certain = (a.lo == a.hi) & (b.lo == b.hi) & (a.lo == b.lo)
    overlap = (a.lo <= b.hi) & (b.lo <= a.hi)
    return Interval(certain, overlap)


def logical_not(a: Interval) -> Interval:
    return Interval(~a.hi, ~a.lo)


def not_equal(a: Interval, b: Interval) -> Interval:
    return logical_not(equal(a, b))


def logical_and(a: Interval, b: Interval) -> Interval:
    return Interval(a.lo & b.lo, a.hi & b.hi)


def logical_or(a: Interval, b: Interval) -> Interval:
    return Interval(a.lo | b.lo, a.hi | b.hi)


def select_n(which: Interval, *cases: Interval) -> Interval:
    """cases[which]; where `which` is uncertain, the hull of every case it may pick."""
    w_lo, w_hi = which.lo.astype(np.int64), which.hi.astype(np.int64)
    lo = hi = None
    for k, case in enumerate(cases):
        may = (w_lo <= k) & (k <= w_hi)
        c_lo = np.where(may, case.lo, _top(case.dtype))
        c_hi = np.where(may, case.hi, _bottom(case.dtype))
        lo = c_lo if lo is None else np.minimum(lo, c_lo)
        hi = c_hi if hi is None else np.maximum(hi, c_hi)
    return Interval(lo, hi)


def _top(dtype):
    if np.issubdtype(dtype, np.floating):
        return np.inf
    return True if dtype == np.bool_ else np.iinfo(dtype).max


def _bottom(dtype):
    if np.issubdtype(dtype, np.floating):
        return -np.inf
    return False if dtype == np.bool_ else np.iinfo(dtype).min


def convert(a: Interval, dtype) -> Interval:
    """convert_element_type: float->float and int/bool->float are exact (ints below 2^53);
    float->int truncates towards zero, a monotone map; x -> bool is x != 0."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return Interval(a.lo.astype(np.float64), a.hi.astype(np.float64))
    if dtype == np.bool_:
        return not_equal(a, point(np.zeros((), a.dtype)))
    if a.is_float:
        return Interval(np.trunc(a.lo).astype(dtype), np.trunc(a.hi).astype(dtype))
    return Interval(a.lo.astype(dtype), a.hi.astype(dtype))


# --- reductions and products ------------------------------------------------------------------

def reduce_sum(a: Interval, axes: tuple[int, ...]) -> Interval:
    """Sum over (batch-shifted) axes; float sums get the a-priori bound gamma_n sum |x|."""
    if not a.is_float:
        return Interval(np.sum(a.lo, axis=axes), np.sum(a.hi, axis=axes))
    n = int(np.prod([a.lo.shape[k] for k in axes], dtype=np.int64))
    with np.errstate(invalid="ignore", over="ignore"):
        s_lo, s_hi = np.sum(a.lo, axis=axes), np.sum(a.hi, axis=axes)
        e_lo = _sum_error(np.abs(a.lo), axes, n)
        e_hi = _sum_error(np.abs(a.hi), axes, n)
        return rounded(s_lo - e_lo, s_hi + e_hi)


def _sum_error(abs_terms, axes, n: int):
    """Upper bound on |fl(sum) - sum| from the terms' magnitudes: gamma_n sum |x| (rounded up)."""
    if n <= 1:
        return np.zeros(np.sum(abs_terms, axis=axes).shape)
    return up(sum_upper(abs_terms, axes, n) * gamma(n))


def matmul(a: Interval, b: Interval) -> Interval:
    """Rigorous a @ b over the last two axes (leading axes broadcast), in midpoint-radius form.

    With a = [ma +- ra], b = [mb +- rb] and k the inner dimension, every product of members is in
    ma mb +- (|ma| rb + ra (|mb| + rb)), and the float product fl(ma mb) is within
    gamma_k |ma| |mb| (+ k subnormals) of ma mb. Non-negative float products satisfy
    exact <= fl / (1 - gamma_k) (+ k subnormals), so the radius below, with its last few
    roundings absorbed by the factor (1 + 2 gamma_{k+4}) and a final step up, is an upper bound.
    """
    ma, ra = mid_rad(a)
    mb, rb = mid_rad(b)
    k = ma.shape[-1]
    g = gamma(k)
    with np.errstate(invalid="ignore", over="ignore"):
        centre = ma @ mb
        spread = np.abs(ma) @ rb + ra @ up(np.abs(mb) + rb)
        rounding = np.abs(ma) @ np.abs(mb)
        radius = up(up((spread + g * rounding) * (1.0 + 2.0 * gamma(k + 4)))
                    + 4.0 * k * SMALLEST_SUBNORMAL)
        return rounded(centre - radius, centre + radius)


def dot_general(a: Interval, b: Interval, dimension_numbers) -> Interval:
    """lax.dot_general on batch-shifted operands, via transposes, reshapes and `matmul`.

    Output axes follow JAX: batch dims, then lhs free dims, then rhs free dims.
    """
    (lc, rc), (lb, rb) = dimension_numbers
    lc, rc, lb, rb = ([k + 1 for k in axes] for axes in (lc, rc, lb, rb))
    lf = [k for k in range(1, a.lo.ndim) if k not in lc and k not in lb]
    rf = [k for k in range(1, b.lo.ndim) if k not in rc and k not in rb]
    batch_shape = [a.lo.shape[k] for k in lb]
    lf_shape = [a.lo.shape[k] for k in lf]
    rf_shape = [b.lo.shape[k] for k in rf]
    inner = int(np.prod([a.lo.shape[k] for k in lc], dtype=np.int64))
    nb = int(np.prod(batch_shape, dtype=np.int64))
    m = int(np.prod(lf_shape, dtype=np.int64))
    n = int(np.prod(rf_shape, dtype=np.int64))
    a2 = a.map(lambda x: x.transpose([0, *lb, *lf, *lc]).reshape(x.shape[0], nb, m, inner))
    b2 = b.map(lambda x: x.transpose([0, *rb, *rc, *rf]).reshape(x.shape[0], nb, inner, n))
    if not (a.is_float and b.is_float):
        a2, b2 = convert(a2, np.float64), convert(b2, np.float64)
    out = matmul(a2, b2)
    shape = [-1, *batch_shape, *lf_shape, *rf_shape]
    return out.map(lambda x: x.reshape(shape))
