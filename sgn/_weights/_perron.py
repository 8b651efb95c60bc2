"""The exact optimum: weights from the Perron vectors of the comparison matrix.

With K u = tau u and K^T v = tau v (tau the smallest eigenvalue of K, u, v > 0) and
w_i = v_i / u_i, the matrix A = W^{1/2} K W^{-1/2} has z = sqrt(u v) as both left and right
eigenvector for tau, so sym(A) z = tau z. sym(A) is a symmetric Z-matrix and z > 0, so tau is
its smallest eigenvalue: alpha(w) = tau. No w does better, since alpha(w) <= Re(lambda) for
every eigenvalue of K. One eigen-solve of an N x N matrix: the route that scales.

When K is reducible (some players do not feel each other, even through others) the Perron
vectors can have zero entries and the supremum is approached but not attained. We then use the
Perron vectors of K with every zero coupling raised to a tiny `floor`: larger couplings only
lower alpha, so the margin of the weights, evaluated with the true couplings, is at least that
of the perturbed problem, which tends to the supremum as the floor tends to zero.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

#: Relative size of the coupling floor for reducible K. Costs at most about sqrt(1e-10) = 1e-5
#: of the margin (the worst case is two equal curvatures), far below sampling error.
REDUCIBLE_FLOOR = 1e-10


def perron_weights(mu: np.ndarray, L: np.ndarray) -> np.ndarray | None:
    """Weights attaining (or approaching) the best margin, or None if no positive vectors."""
    n = mu.size
    if n == 1:
        return np.ones(1)
    scale = max(float(np.max(np.abs(mu))), float(np.max(L)), 1e-300)
    off = ~np.eye(n, dtype=bool)
    L = L.copy()
    L[off] = np.maximum(L[off], REDUCIBLE_FLOOR * scale)
    shift = float(np.max(mu))
    P = shift * np.eye(n) - (np.diag(mu) - L)  # nonnegative: its Perron root is shift - tau
    values, left, right = scipy.linalg.eig(P, left=True, right=True)
    k = int(np.argmax(values.real))
    u = np.abs(right[:, k].real)
    v = np.abs(left[:, k].real)
    if not ((u > 0).all() and (v > 0).all()):
        return None
    log_w = np.log(v) - np.log(u)
    return np.exp(log_w - log_w[0])
