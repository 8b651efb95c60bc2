"""The weight route for many players: the same quantities as _margin.py, _lp.py and _perron.py
on sparse coupling matrices (scipy.sparse), for N in the tens of thousands.

    sparse_margin(w, mu, L)    alpha(w) = lambda_min(G(w)), re-checked (below)
    sparse_tau(mu, L)          tau(K), the best margin any weights reach
    sparse_rho(mu, L)          rho(diag(mu)^-1 L)
    sparse_lp_weights(K)       w_i = v_i / u_i from sparse LU solves
    sparse_perron_weights(...) Perron vectors of each strongly connected component (ARPACK)

G(w) is a symmetric Z-matrix, so with B = c I - G >= 0 (c its largest diagonal entry) the
smallest eigenvalue is c - rho(B), and for every positive vector z the Collatz-Wielandt
inequality rho(B) <= max_i (B z)_i / z_i gives

    lambda_min(G) >= min_i (G z)_i / z_i.

The margin is this bound at ARPACK's Perron vector z: a lower bound on alpha(w) whatever the
eigen-solver's accuracy (up to the rounding of one sparse product), equal to alpha(w) to
solver precision when it has converged. Below DENSE_LIMIT players the dense routines run.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from ._margin import _positive
from ._perron import EDGE_THRESHOLD, _perron_log_weights, component_weights

#: Below this many players (or members of a component), dense eigen-solves: exact and fast.
DENSE_LIMIT = 64

#: ARPACK's tolerance (relative, on the Ritz values).
ARPACK_TOL = 1e-13


def as_sparse_bounds(curvature, coupling) -> tuple[np.ndarray, sp.csr_matrix]:
    """(mu, L) with L an N x N CSR, checked like _margin.as_bounds: finite, >= 0, zero
    diagonal (dropped)."""
    mu = np.asarray(curvature, dtype=np.float64).reshape(-1)
    L = sp.csr_matrix(coupling, dtype=np.float64)
    n = mu.size
    if L.shape != (n, n):
        raise ValueError(f"coupling must be {n} x {n} for {n} players, got shape {L.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(L.data).all()):
        raise ValueError("curvature and coupling must be finite")
    if (L.data < 0).any():
        raise ValueError("coupling bounds are norms and must be >= 0")
    L = L.tolil()
    L.setdiag(0.0)
    L = L.tocsr()
    L.eliminate_zeros()
    L.sort_indices()
    return mu, L


def comparison(mu, L) -> sp.csr_matrix:
    return (sp.diags(mu) - L).tocsr()


def margin_matrix(w, mu, L) -> sp.csr_matrix:
    """G(w) = sym(W^1/2 K W^-1/2), from ratios in logs (as _margin.margin_matrix)."""
    w = _positive(w, mu.size)
    half_log = 0.5 * np.log(w)
    C = L.tocoo()
    s = np.exp(half_log[C.row] - half_log[C.col])
    A = sp.csr_matrix((C.data * s, (C.row, C.col)), shape=L.shape)
    return (sp.diags(mu) - 0.5 * (A + A.T)).tocsr()


def z_matrix_lambda_min(G: sp.csr_matrix) -> tuple[float, float]:
    """(Collatz-Wielandt lower bound, ARPACK estimate) of lambda_min of a symmetric Z-matrix
    (module doc). Dense below DENSE_LIMIT: both are the LAPACK value."""
    n = G.shape[0]
    if n <= DENSE_LIMIT:
        value = float(np.linalg.eigvalsh(G.toarray())[0])
        return value, value
    c = float(G.diagonal().max())
    B = (sp.identity(n, format="csr") * c - G).tocsr()
    value, vector = spla.eigsh(B, k=1, which="LA", tol=ARPACK_TOL, v0=np.ones(n),
                               maxiter=50 * n)
    estimate = c - float(value[0])
    z = np.abs(vector[:, 0])
    if not (z > 0).all():
        return estimate, estimate    # no positive vector to bound with: the estimate itself
    return min(float(np.min((G @ z) / z)), estimate), estimate


def sparse_margin(w, mu, L) -> float:
    """alpha(w), as its Collatz-Wielandt lower bound at ARPACK's Perron vector."""
    return z_matrix_lambda_min(margin_matrix(w, mu, L))[0]


def _perron_root(P: sp.csr_matrix) -> float:
    """Largest real eigenvalue of a non-negative matrix (its spectral radius)."""
    n = P.shape[0]
    if n <= DENSE_LIMIT:
        return float(np.max(np.linalg.eigvals(P.toarray()).real))
    if P.nnz == 0:
        return 0.0
    try:
        values = spla.eigs(P, k=1, which="LR", tol=ARPACK_TOL, v0=np.ones(n),
                           maxiter=50 * n, return_eigenvectors=False)
        return float(values.real.max())
    except spla.ArpackNoConvergence:
        # A nilpotent or nearly so matrix (influence running one way) has no dominant
        # eigenvalue to converge to: the Collatz-Wielandt upper bound at ones, then at the
        # iterates, bounds rho from above.
        z = np.ones(n)
        best = np.inf
        for _ in range(200):
            y = P @ z + 1e-300
            best = min(best, float(np.max(y / z)))
            z = y / np.max(y)
            if not (z > 0).all():
                break
        return best


def _components(L: sp.csr_matrix):
    """The strongly connected components of L's graph, as lists of member indices.

    K = diag(mu) - L is block-triangular over them, so its spectrum (and that of diag(mu)^-1
    L) is the union of the components' spectra: each eigen-solve runs on an irreducible
    block, where ARPACK finds the Perron root reliably (on a whole reducible, strongly
    non-normal matrix it can miss it by far)."""
    n_comp, label = connected_components(L != 0, directed=True, connection="strong")
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_comp + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(n_comp)]


def sparse_tau(mu, L) -> float:
    """tau(K) = min Re(eig K): per component, c - rho(c I - K_cc), c = max mu there (K a
    Z-matrix); mu_i for a component of one player."""
    taus = []
    for members in _components(L):
        if members.size == 1:
            taus.append(float(mu[members[0]]))
            continue
        m = mu[members]
        c = float(np.max(m))
        P = (sp.identity(members.size, format="csr") * c
             - comparison(m, L[members][:, members])).tocsr()
        P.eliminate_zeros()
        taus.append(c - _perron_root(P))
    return min(taus)


def sparse_rho(mu, L) -> float:
    """rho(diag(mu)^-1 L), the largest over the components; infinite when some mu_i <= 0."""
    if (mu <= 0).any():
        return float("inf")
    if mu.size == 1:
        return 0.0
    rho = 0.0
    for members in _components(L):
        if members.size > 1:
            gains = (sp.diags(1.0 / mu[members]) @ L[members][:, members]).tocsr()
            rho = max(rho, abs(_perron_root(gains)))
    return rho


#: Above this many players the M-matrix LP is not solved by HiGHS (measured on the network
#: example: 0.4 s at N = 1,000, 1.7 s at 2,000, 260 s at 10,000); a feasible point stands in.
LP_LIMIT = 3000

#: Jacobi sweeps tried for K^-1 1 before a sparse LU (which fills in on graphs with long
#: links: 8 s at N = 10,000 on the small-world example).
JACOBI_SWEEPS = 2000


def solve_m_matrix(K: sp.csr_matrix, transpose: bool = False) -> np.ndarray | None:
    """K^-1 1 (or K^-T 1) for a Z-matrix K with positive diagonal.

    Jacobi's iteration u <- D^-1 (1 + N u) from u = 0 (K = D - N, N >= 0) increases
    monotonically and converges exactly when K is a nonsingular M-matrix, geometrically at
    the rate rho(D^-1 N); when it has not settled after JACOBI_SWEEPS, a sparse LU solves."""
    M = K.T.tocsr() if transpose else K
    d = M.diagonal()
    ones = np.ones(M.shape[0])
    if (d > 0).all():
        off = (M - sp.diags(d)).tocsr()
        u = np.zeros_like(ones)
        for _ in range(JACOBI_SWEEPS):
            new = (ones - off @ u) / d
            if not np.isfinite(new).all():
                break
            if np.max(np.abs(new - u)) <= 1e-15 * np.max(np.abs(new)):
                return new
            u = new
    try:
        u = spla.splu(sp.csc_matrix(M)).solve(ones)
    except RuntimeError:        # exactly singular
        return None
    return u if np.isfinite(u).all() else None


def sparse_lp_weights(K: sp.csr_matrix) -> np.ndarray | None:
    """w_i = v_i / u_i, u = K^-1 1, v = K^-T 1 (as _lp.lp_weights)."""
    u = solve_m_matrix(K)
    v = solve_m_matrix(K, transpose=True)
    if u is None or v is None or not ((u > 0).all() and (v > 0).all()):
        return None
    return v / u


def feasible_lp_value(K: sp.csr_matrix) -> float | None:
    """A lower bound on the LP's optimum t* from its feasible point v = u / max(u),
    u = K^-1 1: t = min_i (K v)_i, checked by one sparse product; None without one."""
    u = solve_m_matrix(K)
    if u is None or not (u > 0).all():
        return None
    v = u / np.max(u)
    return float(np.min(K @ v))


def sparse_perron_weights(mu, L, tau: float, target_gap: float) -> np.ndarray | None:
    """As _perron.perron_weights, with ARPACK for large components and the components'
    heights by a topological pass over the condensed graph."""
    n = mu.size
    if n == 1:
        return np.ones(1)
    scale = max(float(np.max(np.abs(mu))), float(L.max()) if L.nnz else 0.0, 1e-300)
    edges = (L > EDGE_THRESHOLD * scale).tocsr()   # edges[i, j]: player j pushes player i
    n_comp, label = connected_components(edges, directed=True, connection="strong")
    log_w = np.zeros(n)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(n_comp + 1))
    for c in range(n_comp):
        members = order[bounds[c]:bounds[c + 1]]
        if members.size == 1:
            continue
        sub_L = L[members][:, members]
        if members.size <= DENSE_LIMIT:
            inner = _perron_log_weights(mu[members], sub_L.toarray())
        else:
            inner = _sparse_perron_log_weights(mu[members], sub_L)
        if inner is None:
            return None
        log_w[members] = inner - inner.max()
    return component_weights(log_w, edges, label, n_comp, lambda w: sparse_margin(w, mu, L),
                             tau, target_gap)


def _sparse_perron_log_weights(mu, L) -> np.ndarray | None:
    """log(v/u) for the Perron vectors of an irreducible block, by ARPACK (right and left)."""
    n = mu.size
    shift = float(np.max(mu))
    P = (sp.identity(n, format="csr") * shift - comparison(mu, L)).tocsr()
    vectors = []
    for M in (P, P.T.tocsr()):
        _, vec = spla.eigs(M, k=1, which="LR", tol=ARPACK_TOL, v0=np.ones(n), maxiter=50 * n)
        vectors.append(np.abs(vec[:, 0].real))
    u, v = vectors
    if not ((u > 0).all() and (v > 0).all()):
        return None
    return np.log(v) - np.log(u)

