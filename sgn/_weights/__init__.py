"""Block weights: decide certifiability and maximise the SGN margin (docs/method.md, section 2).

    optimize_weights(mu, L, method=Perron())  ->  Weights

Every route ends the same way: the margin of the weights it proposes is recomputed by one
dense symmetric eigen-solve of G(w), and only that number decides the status. Solvers only
propose; the eigen-solve certifies.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np
import scipy.sparse as sp

from .. import _config
from .._result import Result
from ._band import Band, two_player_band
from ._lp import LPOutcome, lp_weights, m_matrix_lp
from ._margin import (
    as_bounds,
    best_possible_margin,
    comparison_matrix,
    margin_matrix,
    sgn_margin,
    sgn_matrix,
    spectral_radius,
)
from ._perron import perron_weights
from ._sdp import sdp_bisection
from . import _sparse

__all__ = [
    "Band", "LPWeights", "Perron", "SDPBisection", "WeightStatus", "Weights",
    "best_possible_margin", "comparison_matrix", "margin_matrix", "optimize_weights",
    "sgn_margin", "sgn_matrix", "spectral_radius", "two_player_band", "weak_curvature_message",
]


class WeightStatus(str, enum.Enum):
    """Outcome of the weight optimisation; `.message` says what it means for the user."""

    OPTIMAL = "optimal"
    CERTIFIABLE = "certifiable"
    NOT_CERTIFIABLE = "not_certifiable"
    INCONCLUSIVE = "inconclusive"

    @property
    def message(self) -> str:
        return {
            "optimal": "weights attain the best SGN margin these bounds allow",
            "certifiable": "weights give a positive SGN margin (not shown to be the best)",
            "not_certifiable": "no block weights give a positive SGN margin with these norm "
                               "bounds",
            "inconclusive": "the SGN margin is too close to zero, or the solvers disagree; "
                            "tighten the bounds (more samples, a smaller region)",
        }[self.value]

    @property
    def certifiable(self) -> bool:
        return self in (WeightStatus.OPTIMAL, WeightStatus.CERTIFIABLE)


def weak_curvature_message(players, lowest: float) -> str:
    """Why curvature bounds mu_i <= 0 (of these 0-based `players`) rule SGN out, and what to do.

    Only for bounds that hold, not for a bound that is merely loose (see sgn/_certify.py).
    """
    names = ", ".join(str(i + 1) for i in players)
    return (f"player(s) {names} have curvature mu <= 0 on the region (min {lowest:.4g}): SGN "
            "needs every mu_i > 0, and block weights cannot make up for it (w_i scales player "
            "i's own term as a whole); add regularisation or shrink the region")


# --- strategies -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Perron:
    """Exact optimum from the Perron vectors of K: one N x N eigen-solve, any N."""

    name = "perron"


@dataclasses.dataclass(frozen=True)
class SDPBisection:
    """Bisection on alpha over SDP feasibility problems (Clarabel), bracketed by LP weights.

    Dense SDPs grow slow past about 150 players on two cores; use Perron() there.
    """

    rtol: float = _config.BISECTION_RTOL
    max_iter: int = 60
    name = "sdp-bisection"


@dataclasses.dataclass(frozen=True)
class LPWeights:
    """Feasible weights w_i = v_i/u_i from u = K^{-1} 1, v = K^{-T} 1 (no optimisation)."""

    name = "lp"


# --- result ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Weights(Result):
    """Block weights and what they certify.

    Attributes:
        status: a `WeightStatus`.
        weights: w with w[0] = 1 (only ratios matter). Equal weights when none certify.
        margin: alpha(w), by a dense eigen-solve of G(w).
        best_possible: tau(K), the smallest eigenvalue of K: no weights beat it.
        spectral_radius: rho(diag(mu)^{-1} L); < 1 iff certifiable (inf when some mu_i <= 0).
        lp_value: optimum t* of the M-matrix LP (> 0 iff certifiable; nan if HiGHS failed); for
            a sparse coupling of more than _sparse.LP_LIMIT players, the lower bound on t* that
            a feasible point proves (sgn/_weights/_sparse.py).
        method: the strategy that proposed the weights.
        message: one sentence for the user.
        iterations: bisection steps (0 for the direct routes).
    """

    status: WeightStatus
    weights: np.ndarray
    margin: float
    best_possible: float
    spectral_radius: float
    lp_value: float
    method: str
    message: str
    iterations: int = 0


def optimize_weights(curvature, coupling, *, method=None) -> Weights:
    """Decide whether some block weights certify (mu, L), and find the best ones.

    Args:
        curvature: mu, length N.
        coupling: L, N x N, row i = affected player, diagonal ignored.
        method: `Perron()` (default, exact), `SDPBisection()` or `LPWeights()`.
    """
    method = Perron() if method is None else method
    if sp.issparse(coupling):
        return _optimize_sparse(curvature, coupling, method)
    mu, L = as_bounds(curvature, coupling)
    n = mu.size
    scale = max(float(np.max(np.abs(mu))), float(np.max(L)), 1e-300)
    tol = _config.MARGIN_TOL * scale
    optimal_gap = max(tol, 10 * _config.BISECTION_RTOL * scale)  # "optimal" within this of tau
    rho = spectral_radius(mu, L)
    tau = best_possible_margin(mu, L)
    ones = np.ones(n)

    def result(status, w, margin, message, iterations=0, lp_value=np.nan):
        return Weights(status, w, margin, tau, rho, lp_value, method.name, message, iterations)

    weak = [i for i in range(n) if mu[i] <= 0]
    if weak:
        return result(WeightStatus.NOT_CERTIFIABLE, ones, sgn_margin(ones, mu, L),
                      weak_curvature_message(weak, mu[weak].min()))

    K = np.diag(mu) - L
    lp = m_matrix_lp(K)
    candidates = [ones]
    iterations = 0
    start = lp_weights(K)
    if start is not None:
        candidates.append(start / start[0])
    if isinstance(method, Perron):
        w = perron_weights(mu, L, tau, optimal_gap)
        if w is not None:
            candidates.append(w)
    elif isinstance(method, SDPBisection):
        if lp.solved and lp.value > tol:
            out = sdp_bisection(mu, L, start if start is not None else ones,
                                rtol=method.rtol, max_iter=method.max_iter)
            candidates.append(out.weights)
            iterations = out.iterations
    elif not isinstance(method, LPWeights):
        raise TypeError(f"unknown weight method {method!r}")

    margins = [sgn_margin(w, mu, L) for w in candidates]
    best = int(np.argmax(margins))
    w, alpha = candidates[best], margins[best]

    lp_says = None if not lp.solved else bool(lp.value > tol)
    if alpha > tol and lp_says is not False:
        status = (WeightStatus.OPTIMAL if alpha >= tau - optimal_gap
                  else WeightStatus.CERTIFIABLE)
        return result(status, w, alpha, status.message, iterations, lp.value)
    if rho >= 1.0 and tau < -tol and lp_says is False:
        return result(
            WeightStatus.NOT_CERTIFIABLE, ones, sgn_margin(ones, mu, L),
            f"small-gain fails for these norm bounds: rho = {rho:.4g} >= 1 (the spectral "
            "radius of the gains L_ij / mu_i), so no block weights certify with them; the "
            f"coupling bounds would have to shrink by a factor {rho:.4g}, or the curvature "
            "bounds grow by it. Norm bounds drop the couplings' signs, so this does not show "
            "that no weighted metric contracts",
            lp_value=lp.value,
        )
    detail = lp.message if not lp.solved else (
        f"alpha = {alpha:.3g}, rho = {rho:.6g}, LP value {lp.value:.3g}"
    )
    return result(WeightStatus.INCONCLUSIVE, w, alpha,
                  f"{WeightStatus.INCONCLUSIVE.message} ({detail})", iterations, lp.value)


def _optimize_sparse(curvature, coupling, method) -> Weights:
    """optimize_weights for a scipy.sparse coupling matrix (many players): the same candidates
    (equal, LP and Perron weights), the same M-matrix LP (sparse constraints) and the same
    status rules, with every eigen-solve sparse (sgn/_weights/_sparse.py); each candidate's
    margin is the Collatz-Wielandt lower bound of lambda_min(G(w)) at ARPACK's vector."""
    mu, L = _sparse.as_sparse_bounds(curvature, coupling)
    n = mu.size
    if isinstance(method, SDPBisection):
        raise ValueError("SDPBisection solves dense SDPs (slow past ~150 players); for a sparse "
                         "coupling matrix use Perron() or LPWeights()")
    if not isinstance(method, (Perron, LPWeights)):
        raise TypeError(f"unknown weight method {method!r}")
    scale = max(float(np.max(np.abs(mu))), float(L.max()) if L.nnz else 0.0, 1e-300)
    tol = _config.MARGIN_TOL * scale
    optimal_gap = max(tol, 10 * _config.BISECTION_RTOL * scale)
    rho = _sparse.sparse_rho(mu, L)
    tau = _sparse.sparse_tau(mu, L)
    ones = np.ones(n)

    def result(status, w, margin, message, lp_value=np.nan):
        return Weights(status, w, margin, tau, rho, lp_value, method.name, message, 0)

    weak = [i for i in range(n) if mu[i] <= 0]
    if weak:
        return result(WeightStatus.NOT_CERTIFIABLE, ones, _sparse.sparse_margin(ones, mu, L),
                      weak_curvature_message(weak, mu[weak].min()))
    K = _sparse.comparison(mu, L)
    large = n > _sparse.LP_LIMIT
    if not large:
        lp = m_matrix_lp(K)
    else:
        # HiGHS takes minutes here: the LP's feasible point u = K^-1 1 (scaled) proves t* >= t.
        t = _sparse.feasible_lp_value(K)
        lp = (LPOutcome(True, t, None, "feasible point") if t is not None and t > 0 else
              LPOutcome(False, float("nan"), None,
                        f"the M-matrix LP is not solved for {n} > {_sparse.LP_LIMIT} players, "
                        "and K^-1 1 is not positive"))
    candidates = [ones]
    start = _sparse.sparse_lp_weights(K)
    if start is not None:
        candidates.append(start / start[0])
    if isinstance(method, Perron):
        w = _sparse.sparse_perron_weights(mu, L, tau, optimal_gap)
        if w is not None:
            candidates.append(w)
    margins = [_sparse.sparse_margin(w, mu, L) for w in candidates]
    best = int(np.argmax(margins))
    w, alpha = candidates[best], margins[best]
    lp_says = None if not lp.solved else bool(lp.value > tol)
    if large and not lp.solved:
        lp_says = False          # no feasible point: the eigen-solves below decide alone
    if alpha > tol and lp_says is not False:
        status = (WeightStatus.OPTIMAL if alpha >= tau - optimal_gap
                  else WeightStatus.CERTIFIABLE)
        return result(status, w, alpha, status.message, lp.value)
    if rho >= 1.0 and tau < -tol and lp_says is False:
        return result(
            WeightStatus.NOT_CERTIFIABLE, ones, _sparse.sparse_margin(ones, mu, L),
            f"small-gain fails for these norm bounds: rho = {rho:.4g} >= 1 (the spectral "
            "radius of the gains L_ij / mu_i), so no block weights certify with them; the "
            f"coupling bounds would have to shrink by a factor {rho:.4g}, or the curvature "
            "bounds grow by it. Norm bounds drop the couplings' signs, so this does not show "
            "that no weighted metric contracts", lp_value=lp.value)
    detail = lp.message if not lp.solved else (
        f"alpha = {alpha:.3g}, rho = {rho:.6g}, LP value {lp.value:.3g}")
    return result(WeightStatus.INCONCLUSIVE, w, alpha,
                  f"{WeightStatus.INCONCLUSIVE.message} ({detail})", lp.value)
