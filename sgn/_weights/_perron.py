"""The exact optimum: weights from the Perron vectors of the comparison matrix.

Irreducible K (every player feels every other, possibly through others): with K u = tau u and
K^T v = tau v (tau the smallest eigenvalue of K, u, v > 0) and w_i = v_i / u_i, the matrix
A = W^{1/2} K W^{-1/2} has z = sqrt(u v) as both left and right eigenvector for tau, so
sym(A) z = tau z. sym(A) is a symmetric Z-matrix and z > 0, so tau is its smallest eigenvalue:
alpha(w) = tau. No w does better, since alpha(w) <= Re(lambda) for every eigenvalue of K.
One eigen-solve of an N x N matrix: the route that scales.

Reducible K (some influence runs one way only): K is block-triangular over the strongly
connected components of the coupling graph, tau(K) is the smallest of the components' taus,
and the supremum is approached, not attained, by weighting every component far above the
components it pushes. We use Perron weights inside each component and scale component c by
R^height(c), height being the length of the longest chain of components c pushes; the cross
terms of G then shrink like 1/sqrt(R). R grows until alpha is within tolerance of tau (or the
weights would leave float range), so the metric is no more skewed than it needs to be.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._margin import sgn_margin

#: A coupling below this fraction of the largest entry is treated as absent when reading the
#: graph's structure (it still counts, at its true size, in every margin evaluated).
EDGE_THRESHOLD = 1e-12

#: Weights span at most this many decades: float64 reaches 1e308, and G uses sqrt ratios.
MAX_DECADES = 280.0


def perron_weights(mu: np.ndarray, L: np.ndarray, tau: float,
                   target_gap: float) -> np.ndarray | None:
    """Weights attaining tau = tau(K) (irreducible K) or within `target_gap` of it when
    reachable; the caller has tau already (best_possible_margin)."""
    n = mu.size
    if n == 1:
        return np.ones(1)
    scale = max(float(np.max(np.abs(mu))), float(np.max(L)), 1e-300)
    edges = L > EDGE_THRESHOLD * scale  # edges[i, j]: player j pushes player i
    n_comp, label = connected_components(edges, directed=True, connection="strong")
    log_w = np.zeros(n)
    for c in range(n_comp):
        members = np.flatnonzero(label == c)
        inner = _perron_log_weights(mu[members], L[np.ix_(members, members)])
        if inner is None:
            return None
        log_w[members] = inner - inner.max()
    return component_weights(log_w, edges, label, n_comp, lambda w: sgn_margin(w, mu, L),
                             tau, target_gap)


def component_weights(log_w, edges, label, n_comp: int, margin_of, tau: float,
                      target_gap: float):
    """The weights from each strong component's Perron weights `log_w` (each normalised to
    max 0): as they are for one component, else stacked along the components' order
    (`component_heights`, `stacked_weights`); dense or sparse `edges`."""
    if n_comp == 1:
        return np.exp(log_w - log_w[0])
    height = component_heights(edges, label, n_comp)[label]
    return stacked_weights(log_w, height, margin_of, tau, target_gap)


def stacked_weights(log_w, height, margin_of, tau: float, target_gap: float):
    """Weights of a reducible coupling: each strong component's Perron weights (`log_w`, each
    component's top at 0), components lifted by `decades` powers of ten per level of
    `height` in the condensation, trying 1, 2, ... decades (while the weights' spread stays
    within MAX_DECADES) until the margin `margin_of(w)` is within target_gap of tau; the best
    weights tried."""
    spread = float(log_w.max() - log_w.min())
    best, best_margin = None, -np.inf
    for decades in np.arange(1.0, 61.0):
        if spread / np.log(10) + decades * height.max() > MAX_DECADES:
            break
        trial = log_w + decades * np.log(10.0) * height
        w = np.exp(trial - trial[0])
        margin = margin_of(w)
        if margin > best_margin:
            best, best_margin = w, margin
        if margin >= tau - target_gap:
            break
    return best


def _perron_log_weights(mu: np.ndarray, L: np.ndarray) -> np.ndarray | None:
    """log(v/u) for the Perron vectors of an irreducible block (0 for a single player)."""
    n = mu.size
    if n == 1:
        return np.zeros(1)
    shift = float(np.max(mu))
    P = shift * np.eye(n) - (np.diag(mu) - L)  # nonnegative: its Perron root is shift - tau
    values, left, right = scipy.linalg.eig(P, left=True, right=True)
    k = int(np.argmax(values.real))
    u = np.abs(right[:, k].real)
    v = np.abs(left[:, k].real)
    if not ((u > 0).all() and (v > 0).all()):
        return None
    return np.log(v) - np.log(u)


def component_heights(edges, label: np.ndarray, n_comp: int) -> np.ndarray:
    """Longest chain of components each component pushes (0 for those that push nobody), for
    `edges` dense or scipy.sparse (edges[i, j]: j pushes i): O(edges), so the dense and the
    sparse routes share it."""
    C = sp.coo_matrix(edges)
    b, a = label[C.col], label[C.row]        # component b pushes component a
    keep = a != b
    pushes = sp.csr_matrix((np.ones(int(keep.sum())), (b[keep], a[keep])),
                           shape=(n_comp, n_comp))
    pushes.sum_duplicates()
    pushes.data[:] = 1.0
    # Kahn's order on the reversed graph: a component's height is known once every component
    # it pushes has its own.
    out_degree = np.diff(pushes.indptr)
    pushed_by = pushes.T.tocsr()
    height = np.zeros(n_comp, dtype=np.int64)
    ready = list(np.flatnonzero(out_degree == 0))
    remaining = out_degree.copy()
    while ready:
        a = ready.pop()
        for b in pushed_by.indices[pushed_by.indptr[a]:pushed_by.indptr[a + 1]]:
            height[b] = max(height[b], height[a] + 1)
            remaining[b] -= 1
            if remaining[b] == 0:
                ready.append(b)
    return height
