"""HiGHS backend: is the comparison matrix K a nonsingular M-matrix? (docs/method.md, section 2)

K is a Z-matrix, so it is a nonsingular M-matrix iff some v >= 0 has K v > 0. The LP
    maximise t  subject to  K v >= t 1,  0 <= v <= 1
has optimum t* > 0 exactly then; t* is scale-aware evidence of how certifiable the game is.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys

import cvxpy as cp
import numpy as np


@dataclasses.dataclass(frozen=True)
class LPOutcome:
    solved: bool          # the solver returned an optimal point
    value: float          # t*, the LP's optimal value (nan when not solved)
    vector: np.ndarray | None
    message: str


@functools.cache
def _swallow_highs_banner() -> None:
    """HiGHS prints a licence banner on C-level stdout the first time a solver object is made,
    whatever its options; stdout is reserved for machine-readable output, so make that first
    object with stdout pointed at /dev/null."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def m_matrix_lp(K: np.ndarray) -> LPOutcome:
    _swallow_highs_banner()
    n = K.shape[0]
    v = cp.Variable(n)
    t = cp.Variable()
    problem = cp.Problem(cp.Maximize(t), [K @ v >= t, v >= 0, v <= 1])
    try:
        problem.solve(solver=cp.HIGHS)
    except cp.error.SolverError as exc:
        return LPOutcome(False, float("nan"), None, f"HiGHS failed: {exc}")
    if problem.status != cp.OPTIMAL or t.value is None:
        return LPOutcome(False, float("nan"), None, f"HiGHS returned status {problem.status}")
    return LPOutcome(True, float(t.value), np.asarray(v.value, dtype=np.float64), "optimal")


def lp_weights(K: np.ndarray) -> np.ndarray | None:
    """Feasible (not optimal) weights from u = K^{-1} 1, v = K^{-T} 1: w_i = v_i / u_i.

    For a nonsingular M-matrix K, u and v are positive, and (W K + K^T W) u = w + 1 > 0 with
    u > 0; a symmetric Z-matrix with that property is positive definite, so alpha(w) > 0.
    Returns None when K is singular or u, v are not positive (K is not an M-matrix).
    """
    ones = np.ones(K.shape[0])
    try:
        u = np.linalg.solve(K, ones)
        v = np.linalg.solve(K.T, ones)
    except np.linalg.LinAlgError:
        return None
    if not ((u > 0).all() and (v > 0).all()):
        return None
    return v / u
