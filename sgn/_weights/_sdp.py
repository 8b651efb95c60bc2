"""Clarabel backend: maximise alpha(w) by bisection over SDP feasibility problems.

alpha(w) >= a  iff  C(w) - 2 a W is positive semidefinite, an LMI in w, so the best margin is
a quasi-convex problem. Each step solves
    maximise s  subject to  C(w) - 2 a W >= s I,  w >= 0,  sum(w) = n
and the weights it returns lift the lower end of the bracket to their exact margin alpha(w);
a negative s lowers the upper end to a. The bracket starts at [alpha(w_LP), min mu].
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._margin import sgn_margin


@dataclasses.dataclass(frozen=True)
class BisectionOutcome:
    weights: np.ndarray
    margin: float
    upper: float
    iterations: int
    solved: bool
    message: str


def sdp_bisection(mu, L, start_weights, *, rtol: float, max_iter: int = 60) -> BisectionOutcome:
    import cvxpy as cp      # here, not above: the default route (Perron) never needs it

    n = mu.size
    w = cp.Variable(n, nonneg=True)
    s = cp.Variable()
    a = cp.Parameter()
    K = np.diag(mu) - L
    C = cp.diag(w) @ K + K.T @ cp.diag(w)
    M = C - 2 * a * cp.diag(w) - s * np.eye(n)
    problem = cp.Problem(cp.Maximize(s), [0.5 * (M + M.T) >> 0, cp.sum(w) == n])

    best_w = np.asarray(start_weights, dtype=np.float64)
    lower = sgn_margin(best_w, mu, L)
    upper = float(np.min(mu))
    scale = max(float(np.max(np.abs(mu))), float(np.max(L)), 1e-300)
    iterations = 0
    while upper - lower > rtol * scale and iterations < max_iter:
        iterations += 1
        a.value = 0.5 * (lower + upper)
        try:
            problem.solve(solver=cp.CLARABEL)
        except cp.error.SolverError as exc:
            return BisectionOutcome(best_w, lower, upper, iterations, False, f"Clarabel: {exc}")
        if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or w.value is None:
            return BisectionOutcome(best_w, lower, upper, iterations, False,
                                    f"Clarabel returned status {problem.status}")
        if s.value is None or s.value < 0:
            upper = float(a.value)  # no weights reach margin a
            continue
        candidate = np.asarray(w.value, dtype=np.float64)
        margin = sgn_margin(candidate, mu, L) if (candidate > 0).all() else -np.inf
        if margin > lower:
            best_w, lower = candidate, margin
        if margin < a.value - rtol * scale:
            # The solver calls a feasible but its weights miss it: the LMI is too flat here to
            # separate. Stop rather than claim a precision the solver does not have.
            break
    return BisectionOutcome(best_w / best_w[0], lower, upper, iterations, True, "converged")
