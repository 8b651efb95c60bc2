"""The screen's test, for many small matrices at once: is a badness proved below t?

    kind "lambda_min":  -lambda_min(S) < t   <=   S + (t - allowance) I > 0,  S = (M + M^T) / 2
    kind "norm":        ||M||_2        < t   <=   (t^2 - allowance) I - M^T M > 0     (t > 0)

The screen of the sampled bounds (sgn/_screening.py) asks this of every (point, quantity)
pair: about 20 matrices of side 1 to d per sample point. LAPACK pays a call's overhead on every
small matrix, and XLA's CPU code materialises every step of an elimination written with array
operations (both measured slower: benchmarks/README.md). So this is a compiled loop (numba)
that runs LANES matrices side by side, the matrices in the innermost loop, where LLVM
vectorises it.

The elimination is Cholesky's without square roots (L D L^T): a matrix passes when every
pivot is positive; the computed factors are then exact for a matrix within a few k^2 eps ||A||
of it (side k), and forming M^T M adds an error of the same order. The allowance
slack * (size + |t|) covers both, with size >= ||S||_2 (lambda_min: k max|S_ij|) or
>= ||M^T M||_2 (norm: ||M||_F^2), floored (see _screening.ALLOWANCE_FLOOR). NaN fails: no
comparison with NaN is true; an infinite entry makes the allowance infinite, which fails too.
"""

from __future__ import annotations

import numba
import numpy as np

#: Matrices eliminated side by side. 64 measured fastest: 16 is too short for the vectoriser,
#: and at 128 or 256 the working set leaves the L2 cache (measured: benchmarks/README.md,
#: "How the estimator gets its speed").
LANES = 64


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
def _shift(norm, size, t, slack, floor):  # pragma: no cover - compiled (tested via callers)
    """The diagonal shift of the tested matrix: t - allowance (lambda_min), or t^2 - allowance
    (norm, where the matrix is -M^T M), the allowance slack * (size + |t|) floored (module
    doc). Shared by the lane kernel and the one-at-a-time LAPACK test."""
    if norm:
        t2 = t * t if t > 0.0 and t < np.inf else 0.0
        return t2 - slack * (max(size, floor * floor) + t2)
    return t - slack * (max(size, floor) + abs(t))


@numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
            fastmath={"contract"})
def _below(M, norm, t, slack, floor, out):  # pragma: no cover - compiled (tested via callers)
    m, k, _ = M.shape
    # The matrices tested, one per lane, their lower triangles packed by rows (entry (i, j) at
    # i (i + 1) / 2 + j): half the memory of full storage, and faster (measured, ibid.).
    W = np.empty((k * (k + 1) // 2, LANES))
    T = np.empty((k, k, LANES) if norm else (0, 0, LANES))   # M itself, for M^T M
    size = np.empty(LANES)
    column = np.empty(LANES)
    ok = np.empty(LANES)
    reciprocal = np.empty(LANES)
    for first in range(0, m, LANES):
        lanes = min(LANES, m - first)
        # Copies in (entry by entry for M itself, lane by lane for the symmetric part: the
        # faster order of each, measured: benchmarks/README.md); a short last group repeats
        # its last matrix.
        if norm:
            for i in range(k):
                for j in range(k):
                    into = T[i, j]
                    for lane in range(LANES):
                        into[lane] = M[first + min(lane, lanes - 1), i, j]
        else:                            # size = k max |S_ij| >= ||S||_2
            for lane in range(LANES):
                q = first + min(lane, lanes - 1)
                largest = 0.0
                for i in range(k):
                    for j in range(i + 1):
                        v = 0.5 * (M[q, i, j] + M[q, j, i])
                        largest = max(largest, abs(v))
                        W[i * (i + 1) // 2 + j, lane] = v
                size[lane] = k * largest
        if norm:                         # W = -M^T M, then size = ||M||_F^2 >= ||M^T M||_2
            W[:, :] = 0.0
            for r in range(k):           # one rank-one update per row (faster than one
                for i in range(k):       # entry at a time, measured: benchmarks/README.md)
                    Ti = T[r, i]
                    for j in range(i + 1):
                        G, Tj = W[i * (i + 1) // 2 + j], T[r, j]
                        for lane in range(LANES):
                            G[lane] = G[lane] - Ti[lane] * Tj[lane]
            for lane in range(LANES):
                size[lane] = 0.0
            for i in range(k):
                diagonal = W[i * (i + 1) // 2 + i]
                for lane in range(LANES):
                    size[lane] = size[lane] - diagonal[lane]
        for lane in range(LANES):
            shift = _shift(norm, size[lane], t[first + min(lane, lanes - 1)], slack, floor)
            for i in range(k):
                W[i * (i + 1) // 2 + i, lane] += shift
        ok[:] = 1.0
        for s in range(k):
            pivot = W[s * (s + 1) // 2 + s]
            for lane in range(LANES):
                positive = pivot[lane] > 0.0          # False for NaN
                ok[lane] = ok[lane] if positive else 0.0
                reciprocal[lane] = 1.0 / pivot[lane] if positive else 0.0
            for i in range(s + 1, k):
                row_i = i * (i + 1) // 2
                below = W[row_i + s]
                for lane in range(LANES):
                    column[lane] = below[lane] * reciprocal[lane]
                for j in range(s + 1, i + 1):
                    entry, pivot_row = W[row_i + j], W[j * (j + 1) // 2 + s]
                    for lane in range(LANES):
                        entry[lane] = entry[lane] - column[lane] * pivot_row[lane]
        for lane in range(lanes):
            out[first + lane] = ok[lane] > 0.0


#: Above this side the matrices are tested one at a time by LAPACK's Cholesky factorisation
#: (`_below_lapack`) instead of LANES at a time: a lane group of large matrices leaves every
#: cache (at side 600 one group held 92 MB and took seconds per matrix, where LAPACK takes
#: milliseconds; benchmarks/README.md, "Issue 15"). Either test is sound with the same
#: allowance, and which points pass a sound test does not change the worst values found.
LAPACK_SIDE = 96


def proved_below(kind: str, M: np.ndarray, t: np.ndarray, slack: float,
                 floor: float) -> np.ndarray:
    """True where the badness of M (..., k, k) is proved below t (broadcast to M's batch)."""
    M = np.ascontiguousarray(M, dtype=np.float64)
    batch, k = M.shape[:-2], M.shape[-1]
    t = np.ascontiguousarray(np.broadcast_to(t, batch), dtype=np.float64).reshape(-1)
    out = np.empty(t.size, dtype=bool)
    if out.size:
        below = _below_lapack if k > LAPACK_SIDE else _below
        below(M.reshape(-1, k, k), kind == "norm", t, float(slack), float(floor), out)
    return out.reshape(batch)


def _below_lapack(M, norm, t, slack, floor, out):
    """`_below`'s test, one matrix at a time: the same shifted matrix and allowance, factorised
    by LAPACK's Cholesky (dpotrf), which fails exactly when a pivot is not positive. Its
    backward error is of the same k^2 eps ||A|| kind as the elimination's (module doc)."""
    from scipy.linalg import lapack

    k = M.shape[-1]
    eye = np.eye(k, dtype=bool)
    for q in range(M.shape[0]):
        if norm:
            A = -(M[q].T @ M[q])                         # -M^T M; size = ||M||_F^2
            size = float(np.sum(M[q] * M[q]))
        else:                                           # size = k max |S_ij| >= ||S||_2
            A = 0.5 * (M[q] + M[q].T)
            size = k * float(np.max(np.abs(A)))
        shift = _shift(norm, size, float(t[q]), slack, floor)
        if not (np.isfinite(shift) and np.isfinite(A).all()):
            out[q] = False                              # NaN or inf fails, as in _below
            continue
        A[eye] += shift
        _, info = lapack.dpotrf(A, lower=1, clean=0, overwrite_a=1)
        out[q] = info == 0
