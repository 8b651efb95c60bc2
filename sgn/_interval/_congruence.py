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

Each box's numbers depend on that box and the metric alone, so batches may run anywhere
(`Congruence` is plain arrays: it ships to executor workers as it is).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import _config
from . import _arith as ia
from ._arith import Interval, down, up
from ._rigorous import (
    lambda_min_lower,
    lambda_min_upper,
    norm2_lower,
    norm2_upper,
    symmetric_part,
)


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


def congruence_bounds(congruence: Congruence, Jlo, Jhi) -> dict:
    """Per box: "lipschitz" >= sup ||A_P||_2 and "margin" <= inf lambda_min(sym A_P) over
    every J in the box's enclosure, A_P = P^1/2 J P^-1/2 (module doc)."""
    A = congruence.enclose(Jlo, Jhi)
    norm = norm2_upper(A.lo, A.hi)
    extra = congruence.allowance(norm)
    with np.errstate(invalid="ignore", over="ignore"):
        margin = down(lambda_min_lower(*symmetric_part(A.lo, A.hi)) - extra)
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
