"""The SGN matrix and margin (docs/method.md, "The SGN lemma"), as plain functions of (w, mu, L).

    K_ii = mu_i,  K_ij = -L_ij                      comparison matrix (a Z-matrix)
    C(w) = W K + K^T W                              SGN matrix
    G(w) = W^{-1/2} C(w) W^{-1/2} / 2               same spectrum as sym(W^{1/2} K W^{-1/2})
    alpha(w) = lambda_min(G(w))                     SGN margin
"""

from __future__ import annotations

import numpy as np


def as_bounds(curvature, coupling) -> tuple[np.ndarray, np.ndarray]:
    """(mu, L) as float arrays, checked: L square with zero diagonal and entries >= 0."""
    mu = np.asarray(curvature, dtype=np.float64).reshape(-1)
    L = np.asarray(coupling, dtype=np.float64)
    n = mu.size
    if L.shape != (n, n):
        raise ValueError(f"coupling must be {n} x {n} for {n} players, got shape {L.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(L).all()):
        raise ValueError("curvature and coupling must be finite")
    if (L < 0).any():
        raise ValueError("coupling bounds are norms and must be >= 0")
    L = L.copy()
    np.fill_diagonal(L, 0.0)
    return mu, L


def comparison_matrix(curvature, coupling) -> np.ndarray:
    """K with K_ii = mu_i and K_ij = -L_ij."""
    mu, L = as_bounds(curvature, coupling)
    return np.diag(mu) - L


def sgn_matrix(weights, curvature, coupling) -> np.ndarray:
    """C(w): C_ii = 2 w_i mu_i, C_ij = -(w_i L_ij + w_j L_ji)."""
    mu, L = as_bounds(curvature, coupling)
    w = _positive(weights, mu.size)
    K = np.diag(mu) - L
    return w[:, None] * K + K.T * w[None, :]


def margin_matrix(weights, curvature, coupling) -> np.ndarray:
    """G(w) = sym(W^{1/2} K W^{-1/2}), formed from ratios only so that it is scale invariant."""
    mu, L = as_bounds(curvature, coupling)
    w = _positive(weights, mu.size)
    # s_ij = sqrt(w_i / w_j), computed in logs: weights can span many orders of magnitude.
    half_log = 0.5 * np.log(w)
    s = np.exp(half_log[:, None] - half_log[None, :])
    A = np.diag(mu) - L * s  # W^{1/2} K W^{-1/2}
    return 0.5 * (A + A.T)


def sgn_margin(weights, curvature, coupling) -> float:
    """alpha(w) = lambda_min(G(w)), by a dense symmetric eigen-solve."""
    return float(np.linalg.eigvalsh(margin_matrix(weights, curvature, coupling))[0])


def spectral_radius(curvature, coupling) -> float:
    """rho(diag(mu)^{-1} L); infinite when some mu_i <= 0 (small-gain cannot hold)."""
    mu, L = as_bounds(curvature, coupling)
    if (mu <= 0).any():
        return float("inf")
    if mu.size == 1:
        return 0.0
    return float(np.max(np.abs(np.linalg.eigvals(L / mu[:, None]))))


def best_possible_margin(curvature, coupling) -> float:
    """tau(K): the smallest real part of K's eigenvalues, an upper bound on alpha(w) for every w.

    For every matrix A, lambda_min(sym A) <= Re(lambda) for each eigenvalue lambda of A, and
    W^{1/2} K W^{-1/2} has K's eigenvalues. For a Z-matrix the eigenvalue of smallest real part
    is real (Perron-Frobenius), and the Perron weights attain it when K is irreducible.
    """
    K = comparison_matrix(curvature, coupling)
    return float(np.min(np.linalg.eigvals(K).real))


def _positive(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != n:
        raise ValueError(f"{w.size} weights for {n} players")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError("weights must be finite and > 0")
    return w
