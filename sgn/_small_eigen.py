"""Extreme eigenvalues of many small symmetric matrices, in plain jnp operations (no LAPACK).

    eigvalsh_min(S)   lambda_min of symmetric S (..., d, d)
    eigvalsh_max(S)   lambda_max
    norm2(A)          ||A||_2, the largest singular value of A (..., k, m)

Why: the bound estimator takes these of thousands of 3 x 3 to 32 x 32 matrices per batch. On
CPU, jax's eigvalsh/svd go to LAPACK one matrix at a time, always computing eigenvectors, for
tens of microseconds per small matrix; and two independent batched LAPACK kernels in flight
deadlock jaxlib's thread pool on 2 cores (see _bounds._Sequential). Written as elementwise
operations over the batch, the whole batch moves through each step at once, there is no
LAPACK kernel, and nothing needs ordering.

Method: scale by a power of two (exact) so the largest entry is in [1/2, 1); reduce to
tridiagonal form by Householder reflections (unrolled, shrinking trailing matrix); find the
smallest eigenvalue of the tridiagonal matrix by Sturm-count bisection (as LAPACK's dstebz),
to a width below eps * ||S||. Householder reduction is backward stable (the tridiagonal
matrix is exactly orthogonally similar to S + E, ||E|| <= c d eps ||S||) and bisection with
this Sturm recurrence finds the eigenvalues of the tridiagonal matrix to a few eps times its
norm, so the result is within c' d eps ||S||_2 of the true lambda_min, like LAPACK's.

Derivatives: bisection is piecewise constant, so the functions carry a custom JVP,
d lambda = v^T dS v with v the eigenvector; the JVP rule takes (lambda, v) from LAPACK's eigh
(and (sigma, u, v) from its SVD), computed on the primal input. Only differentiated code (the
local search, one matrix at a time) reaches LAPACK; the batched evaluator never does.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_EPS = 2.0 ** -52
_TINY = 2.0 ** -1022  # smallest normal double: LAPACK's safe minimum


# --- the batch-last core: arrays (rows, cols, N), N matrices side by side ------------------------
# The matrix index is last so that each step is an elementwise pass over contiguous batches
# (XLA vectorises it); with the batch first the same code ran 3 to 6 times slower.

def _pow2_scale(A):
    """Per matrix, a power of two s with max |A| / s in [1/2, 1) (1 for zero or non-finite A).

    Dividing by a power of two is exact, and it keeps squares of entries (Householder norms,
    the Gram matrices of norm2, the Sturm recurrence) clear of overflow and underflow.
    """
    big = jnp.max(jnp.abs(A), axis=(0, 1))
    ok = jnp.isfinite(big) & (big > 0)
    _, e = jnp.frexp(jnp.where(ok, big, 1.0))
    return jnp.where(ok, jnp.ldexp(jnp.ones_like(big), e), 1.0)


def _householder_steps(S, steps: int):
    """Apply the first `steps` Householder steps to S (d, d, N), symmetric.

    Step k reflects column k below the diagonal onto e_{k+1} with H = I - tau v v^T and
    applies H S H = S - v w^T - w v^T (Golub & Van Loan, Algorithm 8.3.1): a fori_loop over
    full-size masked steps. Unrolled over shrinking slices instead, XLA took 35 to 60 s to
    compile d = 16 and fused the steps into code that ran slower.
    """
    d = S.shape[0]
    rows = jnp.arange(d)[:, None]

    def step(k, S):
        # S stays symmetric, so row k is column k (a contiguous slab). S v is summed over the
        # middle axis: over the leading axis, or unrolled, XLA ran it 3 to 10 times slower.
        x = jnp.where(rows > k, jax.lax.dynamic_index_in_dim(S, k, 0, keepdims=False), 0.0)
        alpha = jax.lax.dynamic_index_in_dim(x, k + 1, 0, keepdims=False)
        xnorm = jnp.sqrt(jnp.sum(x * x, axis=0))
        beta = jnp.where(alpha >= 0, -xnorm, xnorm)  # -sign(alpha) ||x||: no cancellation
        v = x - jnp.where(rows == k + 1, beta, 0.0)
        vtv = 2.0 * xnorm * (xnorm + jnp.abs(alpha))
        tau = jnp.where(vtv > 0, 2.0 / jnp.where(vtv > 0, vtv, 1.0), 0.0)
        p = tau * jnp.sum(S * v[None, :, :], axis=1)
        w = p - (0.5 * tau * jnp.sum(v * p, axis=0)) * v
        v, w = jax.lax.optimization_barrier((v, w))  # materialised once, not re-fused per entry
        return S - v[:, None] * w[None, :] - w[:, None] * v[None, :]

    return jax.lax.fori_loop(0, steps, step, S)


def _tridiagonalize(S):
    """Diagonal (d, N) and subdiagonal (d - 1, N) of Q^T S Q, tridiagonal (Householder).

    In phases: a quarter of the remaining steps on the full array, then only the trailing
    block goes on (the finished rows and columns are tridiagonal already, and coupled to the
    rest only through their last subdiagonal entry). About half the work of running every
    step on the whole d x d array, with a handful of small loops to compile.
    """
    diag, off = [], []
    while S.shape[0] > 2:
        size = S.shape[0]
        steps = size - 2 if size <= 4 else -(-size // 4)
        S = _householder_steps(S, steps)
        k = jnp.arange(steps)
        diag.append(S[k, k])
        off.append(S[k + 1, k])
        S = S[steps:, steps:]
    k = jnp.arange(S.shape[0])
    diag.append(S[k, k])
    off.append(S[k[1:], k[:-1]])
    return jnp.concatenate(diag), jnp.concatenate(off)


def _bisection_steps(d: int) -> int:
    """Halvings that take the starting interval (width <= 4 sqrt(3) d + slack, after scaling
    ||T|| <= ||S||_F <= d) below eps / 4, a fraction of eps * ||T|| (||T|| >= 1/2)."""
    return math.ceil(math.log2(8.0 * math.sqrt(3.0) * d / _EPS)) + 1


def _count_below(diag, off2, x, pivmin):
    """Sturm count: how many eigenvalues of the tridiagonal matrix are <= x (as dstebz).

    q_j = (d_j - x) - e_{j-1}^2 / q_{j-1}, a pivot smaller than pivmin replaced by -pivmin;
    the number of q_j <= 0 is the number of eigenvalues <= x (Sylvester's law of inertia).
    Unrolled over the static size, so a whole count is one fused elementwise pass.
    """
    q = diag[0] - x
    q = jnp.where(jnp.abs(q) < pivmin, -pivmin, q)
    count = (q <= 0).astype(jnp.int32)
    for j in range(1, diag.shape[0]):
        q = (diag[j] - x) - off2[j - 1] / q
        q = jnp.where(jnp.abs(q) < pivmin, -pivmin, q)
        count = count + (q <= 0)
    return count


def _tridiagonal_min(diag, off):
    """lambda_min (N,) of symmetric tridiagonal matrices by bisection on the Sturm count,
    from the Gershgorin interval widened so that it strictly contains lambda_min."""
    a = jnp.abs(off)
    zero = jnp.zeros_like(a[:1])
    radius = jnp.concatenate([a, zero]) + jnp.concatenate([zero, a])
    lo, hi = jnp.min(diag - radius, axis=0), jnp.max(diag + radius, axis=0)
    off2 = off * off
    pivmin = _TINY * jnp.maximum(1.0, jnp.max(off2, axis=0))
    slack = 2.0 * _EPS * jnp.maximum(jnp.abs(lo), jnp.abs(hi)) + pivmin
    lo, hi = lo - slack, hi + slack

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        below = _count_below(diag, off2, mid, pivmin) >= 1
        return jnp.where(below, lo, mid), jnp.where(below, mid, hi)

    lo, hi = jax.lax.fori_loop(0, _bisection_steps(diag.shape[0]), halve, (lo, hi))
    return 0.5 * (lo + hi)


def _lambda_min_core(S):
    """lambda_min (N,) of symmetric S (d, d, N), d >= 3; NaN where S is not finite."""
    s = _pow2_scale(S)
    diag, off = _tridiagonalize(S / s)
    lam = _tridiagonal_min(diag, off) * s
    return jnp.where(jnp.all(jnp.isfinite(S), axis=(0, 1)), lam, jnp.nan)


def _gram(B):
    """B^T B (m, m, N) of B (k, m, N), as k rank-1 updates: unrolled, this was 2 to 60 times
    faster than a broadcast-and-reduce or a batched dot in XLA on CPU."""
    G = B[0][:, None] * B[0][None, :]
    for r in range(1, B.shape[0]):
        G = G + B[r][:, None] * B[r][None, :]
    return G


def _norm2_core(A):
    """sigma_max (N,) of A (k, m, N) as sqrt(lambda_max) of the smaller Gram matrix of the
    scaled A (see norm2 for why that is accurate); closed forms for Gram sizes 1 and 2."""
    s = _pow2_scale(A)
    B = A / s
    if A.shape[0] < A.shape[1]:
        B = jnp.swapaxes(B, 0, 1)                            # G = A A^T, the smaller
    G = _gram(B)
    if G.shape[0] == 1:
        lam = G[0, 0]
    elif G.shape[0] == 2:                                    # G is PSD: no cancellation
        lam = 0.5 * (G[0, 0] + G[1, 1]) + jnp.hypot(0.5 * (G[0, 0] - G[1, 1]), G[1, 0])
    else:  # |G_ij| <= k: no rescaling, and G's one consumer is the first Householder loop
        # (rescaling read G several times, and XLA re-fused the unrolled Gram sum into each)
        lam = -_tridiagonal_min(*_tridiagonalize(-G))
    lam = jnp.where(jnp.all(jnp.isfinite(A), axis=(0, 1)), lam, jnp.nan)
    return jnp.sqrt(jnp.maximum(lam, 0.0)) * s


# --- batched front ends: (..., rows, cols) in, (...) out ---------------------------------------

def _batched(core):
    """core on (rows, cols, N) as a function of (..., rows, cols), vmap-aware.

    Under jax.vmap plain code would keep the vmapped axis first (the slow layout), so a
    custom_vmap rule hands the whole stack to the same function, which moves it last.
    """
    @jax.custom_batching.custom_vmap
    def f(X):
        lead = X.shape[:-2]
        flat = X.reshape((-1,) + X.shape[-2:])
        return core(jnp.moveaxis(flat, 0, -1)).reshape(lead)

    @f.def_vmap
    def _rule(_axis_size, in_batched, X):
        return f(X), in_batched[0]

    return f


_lambda_min = _batched(_lambda_min_core)
_norm2 = _batched(_norm2_core)


@jax.custom_jvp
def eigvalsh_min(S):
    """Smallest eigenvalue of symmetric S (..., d, d), d >= 3; only the lower triangle is read.

    Closed forms are cheaper for d <= 2 (see _bounds._Sequential); they are not repeated here.
    """
    return _lambda_min(S)


@eigvalsh_min.defjvp
def _eigvalsh_min_jvp(primals, tangents):
    (S,), (dS,) = primals, tangents
    lam, V = jnp.linalg.eigh(S)
    v = V[..., :, 0]
    return lam[..., 0], jnp.einsum("...i,...ij,...j->...", v, dS, v)


def eigvalsh_max(S):
    """Largest eigenvalue of symmetric S (..., d, d), d >= 3."""
    return -eigvalsh_min(-S)


@jax.custom_jvp
def norm2(A):
    """Largest singular value of A (..., k, m), any shape.

    sigma_max^2 = lambda_max(G), G = A^T A or A A^T (the smaller). Why that is accurate for
    the LARGEST singular value (unlike the smallest): after power-of-two scaling, forming G
    perturbs it by |E| <= m eps |A|^T |A|, so ||E||_2 <= m min(k, m) eps ||A||_2^2; the
    eigen-solve adds c d eps ||G||_2 = c d eps ||A||_2^2. Both are relative to
    lambda_max(G) = ||A||_2^2 itself, so sigma_max has relative error O(d^2 eps) at worst and
    about sqrt(d) eps in practice (the square root halves it). The smallest singular value
    would lose everything below eps * sigma_max^2; it is never asked for.
    """
    return _norm2(A)


@norm2.defjvp
def _norm2_jvp(primals, tangents):
    (A,), (dA,) = primals, tangents
    U, sig, Vt = jnp.linalg.svd(A, full_matrices=False)
    u, v = U[..., :, 0], Vt[..., 0, :]
    return sig[..., 0], jnp.einsum("...i,...ij,...j->...", u, dA, v)
