"""INTERIM (replaced by the i13-lmi branch): scalar metric search by bisection."""
from __future__ import annotations
import dataclasses
import numpy as np


@dataclasses.dataclass(frozen=True)
class Found:
    weights: np.ndarray
    margin: float


def metric_margin(Js, w, dims):
    root = np.repeat(np.sqrt(w / w[0]), dims)
    A = root[:, None] * Js / root[None, :]
    return float(np.min(np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, -1, -2)))[..., 0]))


def search_metric(Js, dims, structure="scalar"):
    import cvxpy as cp
    n = len(dims)
    expand = np.repeat(np.eye(n), dims, axis=0)
    scale = max(np.abs(Js).max(), 1e-300)
    lo, hi = -scale * Js.shape[-1], scale * Js.shape[-1]
    best = Found(np.ones(n), metric_margin(Js, np.ones(n), dims))
    lo = max(lo, best.margin)
    for _ in range(40):
        a = 0.5 * (lo + hi)
        w = cp.Variable(n)
        W = cp.diag(expand @ w)
        cons = [w >= 1, w <= 1e6]
        for J in Js:
            S = W @ J + J.T @ W - 2 * a * W
            cons.append(0.5 * (S + S.T) >> 0)
        p = cp.Problem(cp.Minimize(0), cons)
        try:
            p.solve(solver=cp.CLARABEL)
        except Exception:
            hi = a; continue
        if p.status in ("optimal", "optimal_inaccurate") and w.value is not None:
            wv = np.maximum(np.asarray(w.value), 1e-12)
            m = metric_margin(Js, wv, dims)
            if m > best.margin:
                best = Found(wv / wv[0], m)
            lo = a
        else:
            hi = a
        if hi - lo < 1e-7 * scale:
            break
    return best
