"""Interval enclosures of the Jacobian in a block-matrix metric: A = S J S^-1, S = M^1/2.

    congruence = Congruence.of(metric)              # a BlockMatrix (sgn/_metric.py)
    A = congruence.enclose(Jlo, Jhi)                # Interval (B, d, d): every S J T
    congruence_bounds(congruence, Jlo, Jhi)         # per box: beta (upper), margin (lower)
    congruence_witnesses(congruence, lo, hi)        # per point: margin (upper), beta (lower)
    congruence_contraction(congruence, Jlo, Jhi, steps, A_c)   # ||I - h A||, ||A - A_c|| (upper)

The block-scalar metric pass scales each entry of J by sqrt(w_i / w_j) (`_rigorous.in_metric`);
a block-matrix metric (eigenbasis, full blocks, joint) mixes entries, so A is enclosed as a
product of a point matrix, an interval matrix and a point matrix:

1. The products. S and T = S^-1 are the metric's float matrices (`BlockMatrix.root`,
   `inverse_root`). `_arith.matmul` encloses S J T for every J in [Jlo, Jhi] in
   midpoint-radius form: centre fl(S J_c T), radius |S| J_r |T| plus the a-priori rounding
   bound gamma_d |S| |J_c| |T| of both products, every sum rounded up. For point factors the
   radius is the exact interval hull of {S J T}, up to that rounding.
2. The metric. S and T stand for P^1/2 and P^-1/2 only to rounding (an eigen-solve, then
   products): `BlockMatrix.root_error` bounds the relative error this makes in the margin and
   the norms, c = ROUNDING_SLACK_FACTOR * (E + eta), with E = ||S T - I|| and
   eta = ||S^2 - P|| ||P^-1|| (the same bound the exact, constant-Jacobian pass uses). So
   ||A_P - S J T||_2 <= c ||S J T||_2 <= c a, a = `norm2_upper` of the box's enclosure (an
   upper bound on ||S J T||_2 over the box), and every quantity moves by at most its factor
   on A times c a: 1 for the margin, beta and the spread, h for ||I - h A||.
3. The scalars: the rigorous eigenvalue and norm bounds of `_rigorous` on the enclosure
   (Weyl on midpoint and radius, Gershgorin after a numerical eigenbasis, Ostrowski for its
   departure from orthogonality), then step 2's allowance, rounded outwards.
4. The margin, sharper (`eigenbasis_margin`). Weyl on the hull of S J T charges each box the
   worst perturbation of norm ||S J_r T||, while lambda_min moves, to first order, by
   v^T S dJ T v along its eigenvector v, whose bound sum_k |(S^T v)_k| |dJ| |(T v)_k| keeps
   the signs inside S v and T v that the hull |S| J_r |T| drops. So the box's J is carried
   into the midpoint's eigenbasis V directly: (V^T S) J (T V), every factor enclosed, is an
   interval matrix containing V^T S J T V for every J in the box; its symmetric part is
   V^T sym(S J T) V, whose smallest eigenvalue is bounded by Gershgorin discs after a
   diagonal similarity (the rows of the k lowest eigenvectors weighted 1, the others t: their
   discs shrink by t, the others grow by 1/t against their gap; k > 1 because the metric an
   LMI finds tends to make the lowest eigenvalue multiple; any k and t > 0 give a valid
   bound, the best of a few is kept), then by Ostrowski for V's departure from
   orthogonality. The margin is the
   better of this and step 3's bound. (Each is a valid lower bound on its own.)

Each box's numbers depend on that box and the metric alone, so batches may run anywhere
(`Congruence` is plain arrays: it ships to executor workers as it is).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _config
from . import _arith as ia
from ._arith import Interval, down, sum_upper, up
from ._rigorous import (
    lambda_min_lower,
    lambda_min_upper,
    norm2_lower,
    norm2_upper,
    ostrowski,
    symmetric_part,
)

#: The similarity weights t of `eigenbasis_margin`'s Gershgorin discs, and the sizes k of the
#: lowest cluster weighted 1 (every t > 0 and k gives a valid bound; the best is kept): t = 1
#: is plain Gershgorin, smaller t trades the cluster's discs against the others' gaps.
DISC_WEIGHTS = (0.3, 0.1, 0.03, 0.01)
CLUSTER_SIZES = (1, 2, 3)


@dataclasses.dataclass(frozen=True)
class Congruence:
    """A block-matrix metric as the interval passes use it.

    Attributes:
        root, inverse_root: S = M^1/2 and T = S^-1 (float, d x d), as the metric holds them.
        relative_error: c (step 2 of the module doc): ||A_P - S J T||_2 <= c ||S J T||_2.
    """

    root: np.ndarray
    inverse_root: np.ndarray
    relative_error: float

    @classmethod
    def of(cls, metric) -> Congruence:
        """The congruence of a BlockMatrix (its blocks are needed: `root_error` compares S^2
        with them)."""
        c = up(_config.ROUNDING_SLACK_FACTOR * up(metric.root_error()))
        return cls(np.asarray(metric.root, dtype=np.float64),
                   np.asarray(metric.inverse_root, dtype=np.float64), float(c))

    @property
    def dim(self) -> int:
        return self.root.shape[0]

    def enclose(self, Jlo, Jhi) -> Interval:
        """Every S J T with Jlo <= J <= Jhi (rigorous products, step 1), shape (B, d, d)."""
        S, T = Interval(self.root[None]), Interval(self.inverse_root[None])
        return ia.matmul(ia.matmul(S, Interval(Jlo, Jhi)), T)

    def allowance(self, norm_upper):
        """c a (step 2), rounded up; unbounded where a is."""
        with np.errstate(invalid="ignore", over="ignore"):
            out = up(self.relative_error * np.asarray(norm_upper, dtype=np.float64))
        return np.where(np.isnan(out), np.inf, out)


def eigenbasis_margin(congruence: Congruence, Jlo, Jhi, A: Interval):
    """Lower bound on lambda_min(sym(S J T)) for every J in [Jlo, Jhi], per box, from the
    enclosure of V^T S J T V in the eigenbasis V of the midpoint of sym(A) (step 4 of the
    module doc; A the box's enclosure of S J T)."""
    with np.errstate(invalid="ignore", over="ignore"):
        mid = 0.5 * A.lo + 0.5 * A.hi
    mid = np.where(np.isfinite(mid), mid, 0.0)
    _, V = np.linalg.eigh(0.5 * (mid + np.swapaxes(mid, -1, -2)))
    Vt = Interval(np.swapaxes(V, -1, -2))
    left = ia.matmul(Vt, Interval(congruence.root[None]))                 # V^T S
    right = ia.matmul(Interval(congruence.inverse_root[None]), Interval(V))  # T V
    C = ia.matmul(ia.matmul(left, Interval(Jlo, Jhi)), right)
    lo, hi = symmetric_part(C.lo, C.hi)
    n = lo.shape[-1]
    off = np.where(np.eye(n, dtype=bool), 0.0, ia.magnitude(Interval(lo, hi)))
    diagonal = np.diagonal(lo, axis1=-2, axis2=-1)
    best = np.full(lo.shape[0], -np.inf)
    for k, t in [(1, 1.0)] + [(k, t) for k in CLUSTER_SIZES if k < n for t in DISC_WEIGHTS]:
        d = np.full(n, t)
        d[:k] = 1.0                      # eigh's ascending order: the k lowest come first
        with np.errstate(invalid="ignore", over="ignore"):
            ratio = up(d[None, :] / d[:, None])                 # d_j / d_i, rounded up
            radius = sum_upper(up(off * ratio), -1, n)
            low = np.min(down(diagonal - radius), axis=-1)
        best = np.maximum(best, np.where(np.isnan(low), -np.inf, low))
    lower, _ = ostrowski(best, np.zeros_like(best), V)
    return lower


def congruence_bounds(congruence: Congruence, Jlo, Jhi) -> dict:
    """Per box: "lipschitz" >= sup ||A_P||_2 and "margin" <= inf lambda_min(sym A_P) over
    every J in the box's enclosure, A_P = P^1/2 J P^-1/2 (module doc)."""
    A = congruence.enclose(Jlo, Jhi)
    norm = norm2_upper(A.lo, A.hi)
    extra = congruence.allowance(norm)
    with np.errstate(invalid="ignore", over="ignore"):
        margin = np.maximum(lambda_min_lower(*symmetric_part(A.lo, A.hi)),
                            eigenbasis_margin(congruence, Jlo, Jhi, A))
        margin = down(margin - extra)
        lipschitz = up(norm + extra)
    return {"lipschitz": np.where(np.isnan(lipschitz), np.inf, lipschitz),
            "margin": np.where(np.isnan(margin), -np.inf, margin)}


def congruence_witnesses(congruence: Congruence, Jlo, Jhi) -> dict:
    """Per (thin) enclosure of J at a point: "margin_at" >= lambda_min(sym A_P) and
    "lipschitz_at" <= ||A_P||_2 there, proved: the true inf of the margin over the region is
    at most the smallest margin_at, the true sup of beta at least the largest lipschitz_at.
    They set the refinement's targets (sgn/_interval/_matrix_pass.py)."""
    A = congruence.enclose(Jlo, Jhi)
    extra = congruence.allowance(norm2_upper(A.lo, A.hi))
    with np.errstate(invalid="ignore", over="ignore"):
        margin = up(lambda_min_upper(*symmetric_part(A.lo, A.hi)) + extra)
        lipschitz = down(norm2_lower(A.lo, A.hi) - extra)
    return {"margin_at": np.where(np.isnan(margin), np.inf, margin),
            "lipschitz_at": np.where(np.isnan(lipschitz), 0.0, np.maximum(lipschitz, 0.0))}


def congruence_contraction(congruence: Congruence, Jlo, Jhi, steps, A_c) -> dict:
    """Per box: upper bounds on ||I - h A_P||_2 for each Euler step h ("euler_factors",
    (B, K)) and on ||A_P - A_c||_2 ("spread", (B,)), A_c a fixed float matrix (the direct step
    certificates, sgn/_step_search.py; the block-scalar counterpart is
    `_rigorous.contraction_bounds`)."""
    A = congruence.enclose(Jlo, Jhi)
    extra = congruence.allowance(norm2_upper(A.lo, A.hi))
    eye = Interval(np.eye(congruence.dim)[None])
    factors = []
    with np.errstate(invalid="ignore", over="ignore"):
        for h in np.asarray(steps, dtype=np.float64):
            step = ia.sub(eye, ia.mul(Interval(np.asarray(h)), A))
            factors.append(up(norm2_upper(step.lo, step.hi) + up(h * extra)))
        spread = ia.sub(A, Interval(np.asarray(A_c, dtype=np.float64)[None]))
        spread = up(norm2_upper(spread.lo, spread.hi) + extra)
    factors = np.stack(factors, axis=-1)
    return {"euler_factors": np.where(np.isnan(factors), np.inf, factors),
            "spread": np.where(np.isnan(spread), np.inf, spread)}
