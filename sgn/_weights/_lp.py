"""HiGHS backend: is the comparison matrix K a nonsingular M-matrix? (docs/method.md, section 2)

K is a Z-matrix, so it is a nonsingular M-matrix iff some v >= 0 has K v > 0. The LP
    maximise t  subject to  K v >= t 1,  0 <= v <= 1
has optimum t* > 0 exactly then; t* is scale-aware evidence of how certifiable the game is.

Solved by highspy directly, not through cvxpy (whose import cost a tenth of a second on every
`sgn certify`; issue 15), with the model cvxpy built, so the numbers are unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys

import numpy as np
import scipy.sparse as sp


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


#: HiGHS model statuses, by the names cvxpy reads, in the classes it sorts them into
#: (cvxpy/reductions/solvers/qp_solvers/highs_qpif.py, cvxpy/settings.py).
_STATUS = {"kOptimal": "optimal", "kInfeasible": "infeasible",
           "kUnboundedOrInfeasible": "infeasible_or_unbounded", "kUnbounded": "unbounded",
           "kObjectiveBound": "user_limit", "kObjectiveTarget": "user_limit",
           "kTimeLimit": "user_limit", "kIterationLimit": "user_limit",
           "kSolutionLimit": "user_limit"}
_FAILED = ("kNotset", "kModelError", "kSolveError")


def _model(K: np.ndarray):
    """The LP exactly as cvxpy 1.9 (QP path, `solver=cp.HIGHS`) hands it to HiGHS, so that
    t* and v are bit for bit those of the cvxpy formulation this replaced:

        minimise -t  over x = (t, v)  subject to  t - K v <= 0,  -v <= 0,  v <= 1

    as 3n rows (in that order) with lower bounds -inf, free columns, and the matrix by columns
    with K's exact zeros left out. benchmarks/check_lp_identity.py compares the two."""
    import highspy

    n = K.shape[0]
    inf = highspy.kHighsInf
    if sp.issparse(K):
        # The same arrays from K's columns (many players: sgn/_weights/_sparse.py).
        K = sp.csc_matrix(K)
        K.eliminate_zeros()
        K.sort_indices()
        column_rows = [K.indices[K.indptr[j]:K.indptr[j + 1]] for j in range(n)]
        column_values = [K.data[K.indptr[j]:K.indptr[j + 1]] for j in range(n)]
    else:
        rows = np.arange(n)
        column_rows = [rows[K[:, j] != 0.0] for j in range(n)]
        column_values = [K[hit, j] for j, hit in enumerate(column_rows)]
    counts = np.concatenate(([0, n], [hit.size + 2 for hit in column_rows]))
    start = np.cumsum(counts)[:-1]
    index = np.empty(start[-1] + counts[-1], dtype=np.int64)
    value = np.empty(index.size)
    index[:n], value[:n] = np.arange(n), 1.0                    # column t: t in every K row
    for j in range(n):                                          # column v_j
        at, hit = start[j + 1], column_rows[j]
        index[at:at + hit.size] = hit
        value[at:at + hit.size] = -column_values[j]
        index[at + hit.size:at + hit.size + 2] = (n + j, 2 * n + j)
        value[at + hit.size:at + hit.size + 2] = (-1.0, 1.0)

    model = highspy.HighsModel()
    lp = model.lp_
    lp.num_col_ = n + 1
    lp.num_row_ = 3 * n
    lp.offset_ = 0
    lp.col_cost_ = np.concatenate(([-1.0], np.zeros(n)))
    lp.row_lower_ = np.full(3 * n, -inf)
    lp.row_upper_ = np.concatenate((np.zeros(2 * n), np.ones(n)))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.append(start, index.size)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    lp.col_lower_ = np.full(n + 1, -inf)
    lp.col_upper_ = np.full(n + 1, inf)
    return model


def m_matrix_lp(K: np.ndarray) -> LPOutcome:
    _swallow_highs_banner()
    import highspy

    K = sp.csr_matrix(K, dtype=np.float64) if sp.issparse(K) else np.asarray(K, dtype=np.float64)
    if not np.isfinite(K.data if sp.issparse(K) else K).all():
        raise ValueError("Problem data contains NaN or Inf. Check your parameter values and "
                         "constants.")
    solver = highspy.Highs()
    solver.setOptionValue("log_to_console", False)
    solver.passModel(_model(K))
    solver.run()
    name = solver.getModelStatus().name
    if name in _FAILED:
        return LPOutcome(False, float("nan"), None,
                         "HiGHS failed: Solver 'HIGHS' failed. Try another solver, or solve "
                         "with verbose=True for more information.")
    status = _STATUS.get(name)
    if status is None:      # what cvxpy raised for a status it has no class for
        raise ValueError(f"Cannot unpack invalid solution: HiGHS model status {name}")
    if status != "optimal":
        return LPOutcome(False, float("nan"), None, f"HiGHS returned status {status}")
    x = np.array(solver.getSolution().col_value, dtype=np.float64)
    return LPOutcome(True, float(x[0]), x[1:], "optimal")


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
