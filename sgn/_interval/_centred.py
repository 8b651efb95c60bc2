"""The centred (mean-value) form of the Jacobian over boxes, and the smear it gives.

    slopes = slope_chunks(derivative, chunk, low, high)     # dJ/dx_k(box), a few k at a time
    lo, hi, smear = centred_form(at_centre, slopes, low, high, dims)

Over a box X with centre c and half-widths r, every entry of J satisfies (mean-value theorem,
entry by entry, J smooth on X)

    J(x) in J(c) + sum_k [dJ/dx_k](X) (x_k - c_k),

with [dJ/dx_k](X) the interval evaluation of the program of the k-th directional derivative of
J over X. The product of an interval [a] with the symmetric [-r_k, r_k] is
[-mag(a) r_k, mag(a) r_k], so the sum is J(c) +- sum_k mag([dJ/dx_k](X)) r_k: each slope is
enclosed as one interval first and only then multiplied by the offset, so the signs inside a
slope cancel before its magnitude is taken. (Evaluating the derivative program with the interval
tangent [-r, r] directly would be valid too, but every path through the program would then be
charged separately, and on examples/tanh_gan.py that is looser than the natural extension.)

The form's over-estimation is quadratic in the box width where the natural extension's is
linear, which pays on small boxes. The slopes of all d directions are d^3 numbers per box;
`slope_chunks` evaluates them a chunk of directions at a time and `centred_form` folds each
chunk into the running sum, so no more than one chunk (B, d, d, chunk) is held at once.

The smear of each block along each side, sum_ab in block |dJ_ab/dx_k| width_k (Kearfott's
maximal smear), comes from the same slopes; it decides which side of a box to split.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import _arith as ia
from ._arith import Interval
from ._interpret import Program


def slope_chunks(derivative: Program, chunk: int, low, high) -> Iterator[tuple[int, Interval]]:
    """(k0, [dJ/dx_k](box) for k in k0..k0+n-1 as (B, d, d, n)) for every chunk of directions.

    `derivative` is the program of (x, T) -> (dJ(x) T_g)_g for a stack T of G tangents (the
    rows of `T` are unit vectors here, so each output is one exact directional derivative of
    J, enclosed over the box); `chunk` is G, the directions per evaluation.
    """
    low = np.atleast_2d(low)
    high = np.atleast_2d(high)
    B, d = low.shape
    for k0 in range(0, d, chunk):
        n = min(chunk, d - k0)
        tangents = np.zeros((n, d))
        tangents[np.arange(n), k0 + np.arange(n)] = 1.0
        if n < chunk:   # the program is traced for `chunk` tangents: pad with zero directions
            tangents = np.concatenate([tangents, np.zeros((chunk - n, d))])
        T = np.broadcast_to(tangents, (B, chunk, d))
        [out] = derivative.evaluate([Interval(low, high), Interval(T, T)])
        lo = np.broadcast_to(out.lo, (B, chunk, d, d))[:, :n]
        hi = np.broadcast_to(out.hi, (B, chunk, d, d))[:, :n]
        yield k0, Interval(np.moveaxis(lo, 1, 3).astype(np.float64),
                           np.moveaxis(hi, 1, 3).astype(np.float64))


def centred_form(at_centre: Interval, slopes, low, high, dims) -> tuple[Interval, np.ndarray]:
    """The mean-value enclosure J(c) + sum_k slope_k (x_k - c_k) over each box, and its smear.

    `at_centre`: the (thin) enclosure of J at the box centres, (B, d, d); `slopes`: pairs
    (k0, slope) with slope (B, d, d, n) the enclosure of dJ/dx_k over the box for
    k = k0..k0+n-1, covering every k once (one pair holding all d is the unchunked case).
    Returns (the enclosure (B, d, d), smear (B, N, N, d) with inf where a slope is unbounded).
    """
    centre = np.clip(0.5 * low + 0.5 * high, low, high)
    offset = ia.sub(Interval(low, high), Interval(centre))
    edges = np.cumsum((0, *dims))[:-1]
    total = None
    smear = np.empty((low.shape[0], len(dims), len(dims), low.shape[1]))
    for k0, slope in slopes:
        k1 = k0 + slope.lo.shape[3]
        step = ia.mul(slope, Interval(offset.lo[:, None, None, k0:k1],
                                      offset.hi[:, None, None, k0:k1]))
        part = ia.reduce_sum(step, (3,))
        total = part if total is None else ia.add(total, part)
        with np.errstate(invalid="ignore"):  # inf * 0: NaN, made inf (unknown) below
            per_entry = ia.magnitude(slope) * (high - low)[:, None, None, k0:k1]
        smear[..., k0:k1] = np.add.reduceat(np.add.reduceat(per_entry, edges, axis=1),
                                            edges, axis=2)
    return ia.add(at_centre, total), np.where(np.isfinite(smear), smear, np.inf)
