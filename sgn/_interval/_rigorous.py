"""Rigorous scalar bounds from interval matrices: eigenvalues and spectral norms.

All functions take batches of interval matrices (lo, hi), shape (B, m, n), and return one
float per matrix that bounds the quantity for EVERY real matrix A with lo <= A <= hi, with all
floating-point error accounted for:

    lambda_min_lower(lo, hi)   <= lambda_min(A)     (A symmetric)
    norm2_upper(lo, hi)        >= ||A||_2
    lambda_min_upper(lo, hi)   >= lambda_min(A_0)   for the members A_0 of a (thin) enclosure
    norm2_lower(lo, hi)        <= ||A_0||_2          (witnesses: a point's value, proved)

The argument (also in docs/verified.md):

1. Midpoint and radius. [lo, hi] is inside [Am - Ar, Am + Ar] with float Am and Ar rounded up,
   so every member is Am + E with |E| <= Ar entrywise. Weyl's inequality gives
   lambda_min(A) >= lambda_min(Am) - ||E||_2, and ||E||_2 <= || |E| ||_2 <= ||Ar||_2 since the
   spectral norm is monotone on non-negative matrices. For symmetric Ar, ||Ar||_2 <= its largest
   row sum; in general ||Ar||_2 <= sqrt(||Ar||_1 ||Ar||_inf). Sums are rounded up.
2. The midpoint's eigenvalues (`eigenvalue_range`). numpy's eigh gives V, nearly orthogonal.
   B = V^T Am V is enclosed by rigorous interval products, and Gershgorin's theorem on the
   (symmetric) exact B bounds its eigenvalues by the interval diagonal -/+ the off-diagonal
   row sums. V is not exactly orthogonal: with eps >= ||V^T V - I||_2 (enclosed the same way),
   Ostrowski's theorem says lambda_k(V^T Am V) = theta_k lambda_k(Am) with theta_k in
   [1 - eps, 1 + eps], so a lower bound b of lambda_min(B) gives lambda_min(Am) >= b/(1 + eps)
   when b >= 0 and >= b/(1 - eps) when b < 0 (and symmetrically for lambda_max).
3. Norms: ||Am||_2^2 = lambda_max(Am^T Am); the Gram matrix is enclosed by an interval
   product, intersected with its transpose (the exact Gram matrix is symmetric), and bounded
   by steps 1-2. Then ||A||_2 <= ||Am||_2 + ||Ar||_2.
4. Witnesses are Rayleigh quotients: lambda_min(A_0) <= v^T A_0 v / v^T v and
   ||A_0||_2 >= |u^T A_0 v| / (||u|| ||v||) for any vectors; numpy's eigenvector and singular
   vectors make them tight, and interval products make them rigorous.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._metric import BlockScalar
from . import _arith as ia
from ._arith import Interval, down, mid_rad, sum_upper, up


def symmetric_part(lo, hi):
    """Enclosure of (A + A^T)/2 (the halving is exact; the sum is rounded outwards)."""
    swap = (0, 2, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        s_lo = down(0.5 * down(lo + lo.transpose(swap)))
        s_hi = up(0.5 * up(hi + hi.transpose(swap)))
    return np.where(np.isnan(s_lo), -np.inf, s_lo), np.where(np.isnan(s_hi), np.inf, s_hi)


def _transpose(x):
    return np.swapaxes(x, -1, -2)


def _row_sum_norm(nonneg):
    """Upper bound on the largest row sum of non-negative matrices (B, m, n)."""
    return np.max(sum_upper(nonneg, -1, nonneg.shape[-1]), axis=-1)


def eigenvalue_range(A):
    """Rigorous (lower bound of lambda_min, upper bound of lambda_max) of float symmetric A.

    Step 2 of the module docstring: Gershgorin on an enclosure of V^T A V, corrected for V's
    departure from orthogonality by Ostrowski's theorem.
    """
    n = A.shape[-1]
    _, V = np.linalg.eigh(A)
    Vt = Interval(_transpose(V))
    B = ia.matmul(Vt, ia.matmul(Interval(A), Interval(V)))
    eye = np.eye(n, dtype=bool)
    off = np.where(eye, 0.0, ia.magnitude(B))
    radius = sum_upper(off, -1, n)
    with np.errstate(invalid="ignore", over="ignore"):
        b_low = np.min(down(np.diagonal(B.lo, axis1=-2, axis2=-1) - radius), axis=-1)
        b_high = np.max(up(np.diagonal(B.hi, axis1=-2, axis2=-1) + radius), axis=-1)
    return ostrowski(b_low, b_high, V)


def ostrowski(b_low, b_high, V):
    """Bounds on the extreme eigenvalues of symmetric X from bounds b_low <= lambda_min and
    b_high >= lambda_max of V^T X V, V nearly orthogonal: lambda_k(V^T X V) = theta_k
    lambda_k(X) with theta_k in [1 - eps, 1 + eps], eps >= ||V^T V - I||_2 (enclosed).
    (-inf, inf) where eps >= 1/2 or a bound is not finite."""
    n = V.shape[-1]
    gram = ia.matmul(Interval(_transpose(V)), Interval(V))
    departure = ia.sub(gram, ia.point(np.eye(n)))
    eps = _row_sum_norm(ia.magnitude(departure))  # >= ||V^T V - I||_2 (symmetric)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shrink, grow = down(1.0 - eps), up(1.0 + eps)
        lower = np.where(b_low >= 0, down(b_low / grow), down(b_low / shrink))
        upper = np.where(b_high >= 0, up(b_high / shrink), up(b_high / grow))
    usable = (eps < 0.5) & np.isfinite(lower) & np.isfinite(upper)
    return np.where(usable, lower, -np.inf), np.where(usable, upper, np.inf)


def lambda_min_lower(lo, hi):
    """Lower bound on lambda_min(A) for every symmetric A in [lo, hi] (lo, hi symmetric)."""
    mid, rad = mid_rad(Interval(lo, hi))
    low, _ = eigenvalue_range(mid)
    with np.errstate(invalid="ignore"):
        out = down(low - _row_sum_norm(rad))
    return np.where(np.isnan(out), -np.inf, out)


def norm2_upper(lo, hi):
    """Upper bound on ||A||_2 for every A in [lo, hi], shape (B, m, n)."""
    mid, rad = mid_rad(Interval(lo, hi))
    if mid.shape[-2] < mid.shape[-1]:
        mid, rad = _transpose(mid), _transpose(rad)
    gram = ia.matmul(Interval(_transpose(mid)), Interval(mid))
    g_lo = np.maximum(gram.lo, _transpose(gram.lo))
    g_hi = np.minimum(gram.hi, _transpose(gram.hi))
    g_mid, g_rad = mid_rad(Interval(g_lo, g_hi))
    _, top = eigenvalue_range(g_mid)
    with np.errstate(invalid="ignore", over="ignore"):
        mid_norm = up(np.sqrt(np.maximum(up(top + _row_sum_norm(g_rad)), 0.0)))
        rad_norm = up(np.sqrt(up(_row_sum_norm(rad) * _row_sum_norm(_transpose(rad)))))
        out = up(mid_norm + rad_norm)
    return np.where(np.isnan(out), np.inf, out)


def lambda_min_upper(lo, hi):
    """Upper bound on lambda_min of the members of [lo, hi] (symmetric): a proved witness value.

    The Rayleigh quotient of the midpoint's lowest eigenvector, enclosed over the interval.
    """
    mid, _ = mid_rad(Interval(lo, hi))
    _, V = np.linalg.eigh(np.where(np.isfinite(mid), mid, 0.0))
    v = Interval(V[..., :1])
    vt = Interval(_transpose(V[..., :1]))
    quotient = ia.matmul(vt, ia.matmul(Interval(lo, hi), v)).hi[..., 0, 0]
    length = ia.matmul(vt, v)
    n_lo, n_hi = length.lo[..., 0, 0], length.hi[..., 0, 0]
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.where(quotient >= 0, up(quotient / n_lo), up(quotient / n_hi))
    return np.where(np.isnan(out), np.inf, out)


def norm2_lower(lo, hi):
    """Lower bound on ||A||_2 valid for every member of [lo, hi]: a proved witness value."""
    mid, _ = mid_rad(Interval(lo, hi))
    U, _, Vt = np.linalg.svd(np.where(np.isfinite(mid), mid, 0.0))
    u, v = U[..., :1], _transpose(Vt[..., :1, :])
    ut, vt = Interval(_transpose(u)), Interval(_transpose(v))
    value = ia.matmul(ut, ia.matmul(Interval(lo, hi), Interval(v)))
    numerator = ia.mignitude(value)[..., 0, 0]
    u_len = ia.matmul(ut, Interval(u)).hi[..., 0, 0]
    v_len = ia.matmul(vt, Interval(v)).hi[..., 0, 0]
    with np.errstate(invalid="ignore", over="ignore"):
        out = down(numerator / up(np.sqrt(up(u_len * v_len))))
    return np.where(np.isnan(out), 0.0, np.maximum(out, 0.0))


def in_metric(lo, hi, dims, weights):
    """Enclosure of W^{1/2} J W^{-1/2}: entry (a, b) times sqrt(w_i / w_j), i and j the blocks."""
    root = ia.sqrt(Interval(BlockScalar.from_weights(weights, dims).diagonal))
    factor = ia.div(Interval(root.lo[:, None], root.hi[:, None]),
                    Interval(root.lo[None, :], root.hi[None, :]))
    out = ia.mul(Interval(lo, hi), Interval(factor.lo[None], factor.hi[None]))
    return out.lo, out.hi


# --- the SGN quantities of a batch of boxes ---------------------------------------------------

def _blocks(dims):
    edges = np.cumsum((0, *dims))
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]


def box_bounds(Jlo, Jhi, dims) -> dict:
    """Per box: mu_i (lower), L_ij (upper), ||J_ii||_2 (upper), gamma (lower),
    beta = ||J||_2 (upper)."""
    mu, L, own_norm = _per_block(Jlo, Jhi, dims, lambda_min_lower, norm2_upper)
    return {"curvature": mu, "coupling": L, "own_norm": own_norm,
            "euclidean_margin": lambda_min_lower(*symmetric_part(Jlo, Jhi)),
            "lipschitz": norm2_upper(Jlo, Jhi)}


def witness_bounds(Jlo, Jhi, dims) -> dict:
    """Per (thin) enclosure of J at a point: lambda_min(sym J_ii) <= curvature_at,
    ||J_ij||_2 >= coupling_at and ||J_ii||_2 >= own_norm_at, all proved. So the true inf of the
    curvature over the region is <= curvature_at, and the true sup of the coupling is
    >= coupling_at."""
    mu, L, own_norm = _per_block(Jlo, Jhi, dims, lambda_min_upper, norm2_lower)
    return {"curvature_at": mu, "coupling_at": L, "own_norm_at": own_norm}


def _per_block(Jlo, Jhi, dims, eigen_bound, norm_bound):
    """(mu (B, N), L (B, N, N), ||J_ii|| (B, N)) from per-block eigenvalue and norm bounds:
    lower/upper for enclosures over boxes, upper/lower for witnesses at points."""
    blocks = _blocks(dims)
    n = len(dims)
    mu = np.empty((Jlo.shape[0], n))
    L = np.zeros((Jlo.shape[0], n, n))
    for i, rows in enumerate(blocks):
        mu[:, i] = eigen_bound(*symmetric_part(Jlo[:, rows, rows], Jhi[:, rows, rows]))
        for j, cols in enumerate(blocks):
            if i != j:
                L[:, i, j] = norm_bound(Jlo[:, rows, cols], Jhi[:, rows, cols])
    own_norm = np.stack([norm_bound(Jlo[:, b, b], Jhi[:, b, b]) for b in blocks], axis=1)
    return mu, L, own_norm


def metric_bounds(Jlo, Jhi, dims, weights) -> dict:
    """Per box: beta(w) (upper) and the metric margin lambda_min(sym W^1/2 J W^-1/2) (lower)."""
    lo, hi = in_metric(Jlo, Jhi, dims, weights)
    return {"lipschitz": norm2_upper(lo, hi),
            "margin": lambda_min_lower(*symmetric_part(lo, hi))}


def contraction_bounds(Jlo, Jhi, dims, weights, steps, A_c) -> dict:
    """Per box: upper bounds on ||I - h A||_2 for each Euler step h ("euler_factors", (B, K))
    and on ||A - A_c||_2 ("spread", (B,)), A = W^1/2 J W^-1/2 over the box's enclosure of J
    and A_c a fixed float matrix (the direct step certificates, sgn/_step_search.py)."""
    A = Interval(*in_metric(Jlo, Jhi, dims, weights))
    eye = Interval(np.eye(A.lo.shape[-1])[None])
    factors = []
    for h in np.asarray(steps, dtype=np.float64):
        step = ia.sub(eye, ia.mul(Interval(np.asarray(h)), A))
        factors.append(norm2_upper(step.lo, step.hi))
    spread = ia.sub(A, Interval(np.asarray(A_c, dtype=np.float64)[None]))
    return {"euler_factors": np.stack(factors, axis=-1),
            "spread": norm2_upper(spread.lo, spread.hi)}


# --- bounds from per-block sups (each block's sup may come from its own partition) -------------

def _weight_ratio(weights):
    """Upper ends of sqrt(w_i / w_j), rounded outwards."""
    root = ia.sqrt(Interval(np.asarray(weights, dtype=np.float64)))
    return ia.div(Interval(root.lo[:, None], root.hi[:, None]),
                  Interval(root.lo[None, :], root.hi[None, :])).hi


def block_lipschitz(own_norm, coupling, weights) -> float:
    """beta(w) <= ||N||_2 with N_ii = sup ||J_ii||_2 and N_ij = sqrt(w_i / w_j) L_ij.

    For a unit x with block norms n_j = ||x_j||: ||(W^1/2 J W^-1/2 x)_i|| <= sum_j N_ij n_j,
    so ||W^1/2 J(x) W^-1/2||_2 <= ||N||_2 at every x (the spectral norm is monotone on
    non-negative matrices). Each block's sup is bounded over its own partition, which is
    refined along the coordinates that block depends on: far cheaper than bounding the whole
    J over boxes of the joint space.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        N = up(np.asarray(coupling, dtype=np.float64) * _weight_ratio(weights))
    np.fill_diagonal(N, own_norm)
    N = np.where(np.isnan(N), np.inf, N)
    return float(norm2_upper(N[None], N[None])[0])


def block_margin(curvature, coupling, weights) -> float:
    """lambda_min(sym W^1/2 J W^-1/2) >= lambda_min(G(w)) at every x (the SGN lemma of
    docs/method.md, pointwise:
    x^T sym(.) x >= n^T G(w) n for the block norms n). Off-diagonal entries of G are rounded
    down, which only lowers n^T G n for n >= 0, where a Z-matrix's lambda_min is attained."""
    L = np.asarray(coupling, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = up(L * _weight_ratio(weights))
        G = -up(0.5 * up(scaled + scaled.T))
    np.fill_diagonal(G, curvature)
    G = np.where(np.isnan(G), -np.inf, G)
    return float(lambda_min_lower(G[None], G[None])[0])
