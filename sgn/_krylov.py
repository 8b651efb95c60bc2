"""Extreme eigenvalues and singular values from matrix-vector products only (Krylov methods).

    smallest_eigenvalue(matvec, v0, iterations, key)        ->  Ritz  (lambda_min of symmetric S)
    largest_singular_value(matvec, rmatvec, v0, iterations, key) -> Singular  (||B||_2)

Every function takes the operator as plain functions v -> S v (or v -> B v and u -> B^T u), so
the matrix is never formed: for a game, these products are Jacobian-vector and vector-Jacobian
products of the pseudo-gradient (sgn/_matrix_free.py), O(d) memory where the dense Jacobian is
O(d^2). All functions are written in jax.numpy with static iteration counts, so they run inside
jit and vmap (a batch of points, each with its own operator).

Lanczos with full reorthogonalisation: k steps build an orthonormal basis Q of the Krylov space
span{v0, S v0, ..., S^(k-1) v0} and the tridiagonal T = Q^T S Q; the smallest eigenvalue of T
(a Ritz value) and its Ritz vector y = Q s approximate lambda_min(S) and its eigenvector. Every
vector is orthogonalised against the whole basis twice ("twice is enough"), so no spurious copies
of converged eigenvalues appear; the basis costs k * n numbers, which is why k stays small (tens)
next to n. A run is restarted from its own Ritz vector (the new Krylov space contains it, so the
Ritz value can only go down) until the residual is small or the restarts are spent.

What the numbers mean (the honest part). A Ritz value approaches the extreme from INSIDE the
spectrum: theta = y^T S y >= lambda_min(S) for the unit vector y, and sigma = ||B v|| <=
sigma_max(B) for the unit vector v. How far inside is not known without more information; what
is known is the residual r = ||S y - theta y||: some eigenvalue of S lies within r of theta (for
the singular value, r = ||B^T u - sigma v|| / sqrt 2, from the symmetric matrix [[0, B], [B^T, 0]]
and the vector (u, v) / sqrt 2). That eigenvalue need not be the smallest one (Lanczos can miss an
eigenvector that v0 barely touches), so theta - r is an ESTIMATE of lambda_min, not a bound; the
callers call it that. The residuals are computed from one more product at the end, not from the
recurrence, so rounding in the recurrence does not hide in them.
"""

from __future__ import annotations

import typing

import jax
import jax.numpy as jnp

#: Breakdown threshold of the recurrence, relative to the largest coefficient seen: below it the
#: Krylov space is (numerically) invariant, and the next basis vector is a fresh random one,
#: orthogonalised against the basis (its coupling in T is zero, so T stays Q^T S Q).
BREAKDOWN = 1e-13


class Ritz(typing.NamedTuple):
    """lambda_min estimate: the Ritz value, its unit Ritz vector, and the residual norm."""

    value: jax.Array
    vector: jax.Array
    residual: jax.Array


class Singular(typing.NamedTuple):
    """sigma_max estimate: ||B v|| for the unit right vector v, u = B v / ||B v||, and the
    residual ||B^T u - sigma v|| / sqrt 2 (some singular value lies within it)."""

    value: jax.Array
    right: jax.Array
    left: jax.Array
    residual: jax.Array


def lanczos(matvec, v0, iterations: int, key, *, mask=None, dim=None):
    """k = `iterations` Lanczos steps with full reorthogonalisation: (Q (k, n), T (k, k)).

    Rows of Q are orthonormal; T = Q S Q^T is tridiagonal (up to rounding) for symmetric S.
    On breakdown (an invariant subspace) the next row is a random vector orthogonal to the
    others, with a zero coupling, so T is still the compression of S onto span(Q).

    `mask` (0/1 over the n entries) and `dim` (its number of ones; may be traced) restrict the
    run to a coordinate subspace that S maps into itself (a player's block): fresh vectors are
    masked, and past `dim` steps the space is exhausted, so the remaining rows of Q are zero and
    their diagonal entries of T are set above every eigenvalue of the rest (a Gershgorin
    bound): they are never the smallest Ritz value, and their Ritz vectors are never read.
    """
    n = v0.shape[-1]
    k = min(int(iterations), n)
    dim = n if dim is None else dim
    q0 = v0 / jnp.linalg.norm(v0)
    Q = jnp.zeros((k + 1, n), v0.dtype).at[0].set(q0)
    alphas = jnp.zeros(k, v0.dtype)
    betas = jnp.zeros(k, v0.dtype)

    def orthogonalise(Q, w, upto):
        keep = (jnp.arange(k + 1) <= upto).astype(w.dtype)
        for _ in range(2):                      # twice is enough (Kahan, Parlett)
            w = w - (keep * (Q @ w)) @ Q
        return w

    def step(j, state):
        Q, alphas, betas, scale = state
        q = Q[j]
        w = matvec(q)
        alpha = jnp.vdot(q, w)
        w = orthogonalise(Q, w, j)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        broke = beta <= BREAKDOWN * scale
        def fresh(_):
            v = jax.random.normal(jax.random.fold_in(key, j), (n,), w.dtype)
            return orthogonalise(Q, v if mask is None else v * mask, j)

        # (a cond: the fresh vector costs two more orthogonalisations, only on breakdown)
        w = jax.lax.cond(broke, fresh, lambda _: w, None)
        nxt = w / jnp.linalg.norm(w)
        more = (j + 1 < dim) & jnp.isfinite(nxt).all()
        Q = Q.at[j + 1].set(jnp.where(more, nxt, 0.0))
        return (Q, alphas.at[j].set(alpha),
                betas.at[j].set(jnp.where(broke | ~more, 0.0, beta)), scale)

    Q, alphas, betas, _ = jax.lax.fori_loop(0, k, step, (Q, alphas, betas,
                                                         jnp.zeros((), v0.dtype)))
    active = jnp.arange(k) < dim
    above = 2.0 * (jnp.max(jnp.where(active, jnp.abs(alphas), 0.0)) + 2.0 * jnp.max(betas)) + 1.0
    alphas = jnp.where(active, alphas, above)
    T = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    return Q[:k], T


def _rayleigh(matvec, y):
    """theta = y^T S y and ||S y - theta y|| for a unit y: one product, from scratch."""
    Sy = matvec(y)
    theta = jnp.vdot(y, Sy)
    return theta, jnp.linalg.norm(Sy - theta * y)


def smallest_eigenvalue(matvec, v0, iterations: int, key, *, restarts: int = 0,
                        rtol: float = 0.0, mask=None) -> Ritz:
    """lambda_min of the symmetric operator `matvec` (n -> n), approached from above.

    Runs Lanczos for `iterations` steps from v0, then up to `restarts` more runs, each from the
    previous Ritz vector, stopping once the residual is at most rtol * |theta| (+ tiny); `mask`
    restricts it to a coordinate subspace S maps into itself (`lanczos`). Returns
    the Rayleigh quotient of the last Ritz vector (>= lambda_min up to rounding) and its true
    residual; the module doc says what they prove and what they do not.
    """
    v0 = jnp.asarray(v0)
    norm = jnp.linalg.norm(v0)
    v0 = jnp.where(norm > 0, v0 / jnp.where(norm > 0, norm, 1.0),
                   jnp.ones_like(v0) if mask is None else mask)
    dim = None if mask is None else jnp.sum(mask).astype(int)

    def cycle(v, salt):
        Q, T = lanczos(matvec, v, iterations, jax.random.fold_in(key, salt), mask=mask,
                       dim=dim)
        _, s = jnp.linalg.eigh(T)
        y = s[:, 0] @ Q
        y = y / jnp.linalg.norm(y)
        theta, r = _rayleigh(matvec, y)
        return y, theta, r

    def more(state):
        count, y, theta, r = state
        y2, theta2, r2 = cycle(y, count)
        better = theta2 <= theta           # in exact arithmetic always; rounding may differ
        return (count + 1, jnp.where(better, y2, y), jnp.where(better, theta2, theta),
                jnp.where(better, r2, r))

    def unfinished(state):
        count, _, theta, r = state
        return (count == 0) | ((count <= restarts) & (r > rtol * jnp.abs(theta) + 1e-300))

    # One loop runs the first cycle and the restarts, so the operator's program is traced (and
    # compiled) once, not once per place it is called; `restarts` and `rtol` may be traced:
    # one compiled program serves quick and converged runs.
    inf = jnp.asarray(jnp.inf, v0.dtype)
    _, y, theta, r = jax.lax.while_loop(unfinished, more, (0, v0, inf, inf))
    return Ritz(theta, y, r)


def largest_eigenvalue(matvec, v0, iterations: int, key, **options) -> Ritz:
    """lambda_max of a symmetric operator, approached from below (`smallest_eigenvalue` of -S)."""
    found = smallest_eigenvalue(lambda v: -matvec(v), v0, iterations, key, **options)
    return Ritz(-found.value, found.vector, found.residual)


def largest_singular_value(matvec, rmatvec, v0, iterations: int, key, *,
                           restarts: int = 0, rtol: float = 0.0) -> Singular:
    """sigma_max of B (B v = matvec(v), B^T u = rmatvec(u)), approached from below.

    Lanczos on B^T B finds the right singular vector v; sigma = ||B v|| is then recomputed from
    it (a lower bound on sigma_max for any unit v), and the residual is the one of the singular
    triplet (module doc), not of B^T B, so it is on the scale of sigma itself.
    """
    found = largest_eigenvalue(lambda v: rmatvec(matvec(v)), v0, iterations, key,
                               restarts=restarts, rtol=rtol)
    v = found.vector
    Bv = matvec(v)
    sigma = jnp.linalg.norm(Bv)
    u = jnp.where(sigma > 0, Bv / jnp.where(sigma > 0, sigma, 1.0), 0.0)
    residual = jnp.linalg.norm(rmatvec(u) - sigma * v) / jnp.sqrt(2.0)
    return Singular(sigma, v, u, residual)
