"""Sampled extremes without an eigen-solve at every point: prove most points cannot matter.

Every quantity the estimator bounds is a largest or smallest eigenvalue of a matrix taken from
the Jacobians at a point: a curvature or a margin is -lambda_min(S) of a symmetric S, a
coupling or a Lipschitz constant is ||B||_2. Sampling needs, per quantity, only its few worst
points (the value and where), not the value at every point. So the points go in rounds, and
each quantity keeps its `starts` worst exact values so far; the last of them is a threshold t.
A point can only join the worst if its value reaches t, and "value < t" is proved by one
Cholesky factorisation:

    -lambda_min(S) < t   <=>   S + t I  is positive definite
    ||B||_2        < t   <=>   t^2 I - B^T B  is positive definite     (t > 0)

Only the (point, quantity) pairs that fail the test get the exact solve. The worst values and
points are those that solving at every point gives, up to rounding: the test is made with t
lowered by a rounding allowance, so a pair it passes is below t with room to spare. On the
benchmark games a Cholesky factorisation costs a fraction of LAPACK's eigen-solve or SVD, and
after the first round only a few points in a hundred are solved exactly.

The points are taken in a seeded random order so that the first rounds are a fair sample of the
region (the sampler lists box vertices first); the result does not depend on the order: ties
go to the point listed first.

A quantity family is one kind of solve on matrices of one size (`Family`); a badness vector is
a tuple of families, its entries the families' matrices in order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _config
from ._errors import GameDefinitionError
from ._game import _short
from ._shared import compiled

#: Points per round (fewer when d is large: _memory_round). Smaller rounds raise the thresholds
#: sooner but cost more dispatches: 256, 512 and 1024 measured about equal at d = 6 to 24,
#: 1024 slightly ahead (benchmarks/bench_estimator.py).
ROUND_POINTS = 1024

#: Points of the first round solved exactly for every quantity, to set the first thresholds.
PILOT_POINTS = 32

#: Largest matrix side factorised by the elementwise (batch-last) elimination below; above it,
#: LAPACK's Cholesky (per-matrix call overhead dominates for small sides, flops for large).
SMALL_CHOLESKY_MAX = 8

#: Rounding allowance of the test, in units of k^2 eps ||matrix||: a computed Cholesky factor
#: of a k x k matrix A is exact for A + E with ||E|| <= c k^2 eps ||A||, c small; forming
#: M^T M adds an error of the same kind.
ROUNDING_FACTOR = 4.0

#: Smallest matrix size the allowance assumes (see proved_below): 1e-140 keeps even its
#: square far above the 2.2e-308 below which XLA's CPU code flushes to zero.
ALLOWANCE_FLOOR = 1e-140

Kind = str  # "lambda_min": badness -lambda_min(M), M symmetric; "norm": badness ||M||_2


@dataclasses.dataclass(frozen=True)
class Family:
    """`size` quantities measured by one kind of solve on k x k matrices.

    matrices(xp, J, J_step, params) -> (..., size, k, k) for Jacobians (..., d, d), written with
    operations numpy and jax.numpy share, so the screen (compiled) and the exact solves (numpy,
    LAPACK without eigenvectors) read the same formula.
    """

    kind: Kind
    size: int
    matrices: Callable


def symmetric_part(xp, A):
    return 0.5 * (A + xp.swapaxes(A, -1, -2))


# --- exact values --------------------------------------------------------------------------

def exact_values(family: Family, M, linalg):
    """The family's badness for matrices M (..., k, k), by `linalg` (a _bounds._Sequential)."""
    if family.kind == "lambda_min":
        return -linalg.eigvalsh_min(M)
    return linalg.norm2(M)


def _exact_on_host(family: Family, J, J_step, local, params) -> np.ndarray:
    """Badness of quantity local[e] of `family` at Jacobians (J[e], J_step[e]), with numpy."""
    M = family.matrices(np, J, J_step, params)[np.arange(len(local)), local]
    if family.kind == "lambda_min":
        return -np.linalg.eigvalsh(M)[:, 0]
    return np.linalg.svd(M, compute_uv=False)[:, 0]


# --- the screen ----------------------------------------------------------------------------

def _positive_definite(A, linalg):
    """True where the symmetric matrices A (..., k, k) have a Cholesky factor (no pivoting)."""
    k = A.shape[-1]
    if k > SMALL_CHOLESKY_MAX:
        L = linalg.cholesky(A)                 # LAPACK: NaN where the factorisation fails
        return jnp.all(jnp.isfinite(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)
    # Elementwise (batch first: measured 7 to 15% faster here than with the batch last, which
    # needs a transpose of every matrix): a batched LAPACK call pays its per-matrix overhead
    # on every small matrix.
    ok = jnp.ones(A.shape[:-2], dtype=bool)
    for _ in range(k):
        pivot = A[..., 0, 0]
        ok &= pivot > 0                        # False for NaN too
        column = A[..., 1:, 0]
        A = A[..., 1:, 1:] - column[..., :, None] * (column / pivot[..., None])[..., None, :]
    return ok


def _gram(M):
    """M^T M for matrices (..., k, k), as k rank-one updates with the batch last: twice as
    fast as XLA's batched matrix product at k = 24, ten times at k = 6."""
    k = M.shape[-1]
    Mt = jnp.moveaxis(M.reshape(-1, k, k), 0, -1)          # (k, k, batch)
    G = sum(Mt[r][:, None] * Mt[r][None, :] for r in range(k))
    return jnp.moveaxis(G, -1, 0).reshape(M.shape)


def proved_below(family: Family, M, t, linalg):
    """True where the badness of M (..., size, k, k) is proved below t (size,).

    The allowance is slack * (k max|M_ij| + |t|) (k max|M_ij| >= ||M||_F >= ||M||_2), with
    k max|M_ij| floored at ALLOWANCE_FLOOR: XLA flushes numbers below 2.2e-308 to zero, and
    the floor keeps the allowance far above what that loses on tiny matrices (their pairs
    are then solved exactly). Overflow on huge matrices gives inf or NaN, which no
    factorisation passes. (Guards written as extra conditions on the answer doubled the time
    of the whole screen: XLA's fusion. So every guard lives in the shift.)
    """
    k = M.shape[-1]
    eye = jnp.eye(k, dtype=M.dtype)
    slack = ROUNDING_FACTOR * k * k * jnp.finfo(M.dtype).eps
    size = jnp.maximum(k * jnp.max(jnp.abs(M), axis=(-2, -1)), ALLOWANCE_FLOOR)
    if family.kind == "lambda_min":
        # -lambda_min(M) < t  <=  M + (t - slack) I > 0
        shift = t - slack * (size + jnp.abs(t))
        return _positive_definite(M + shift[..., None, None] * eye, linalg)
    # ||M||_2 < t  <=  (t^2 - slack) I - M^T M > 0     (t > 0; ||M^T M||_F <= size^2)
    t2 = jnp.where(jnp.isfinite(t) & (t > 0), t * t, 0.0)
    shift = t2 - slack * (size * size + t2)
    return _positive_definite(shift[..., None, None] * eye - _gram(M), linalg)


def _screen_program(families, sequential):
    def screen(J, J_step, params, thresholds):
        linalg = sequential()
        finite = jnp.all(jnp.isfinite(J), axis=(-2, -1))
        if J_step is not J:
            finite &= jnp.all(jnp.isfinite(J_step), axis=(-2, -1))
        may_reach, at = [], 0
        for family in families:
            if may_reach:
                # One family after another: left independent, XLA ran them side by side on
                # the two cores and the whole took 1.4 to 2 times longer than in sequence.
                after = 0.0 * jnp.sum(may_reach[-1])
                same = J_step is J
                J = J + after
                J_step = J if same else J_step + after
            M = family.matrices(jnp, J, J_step, params)            # (R, size, k, k)
            t = thresholds[at:at + family.size]
            may_reach.append(~proved_below(family, M, t, linalg))
            at += family.size
        return jnp.concatenate(may_reach, axis=-1), finite
    return screen


def _jacobian_program(game):
    """Jacobians at a batch of points, NaN wherever the gradient or a cost is not finite.

    XLA (jax 0.10.2, CPU) compiles a vmapped Jacobian several times slower when the program
    also returns anything else, the finiteness flags or even J a second time. So J carries the
    flags itself (J + sum of 0 * gradient and 0 * costs is J, or NaN where one is not finite),
    and J_step comes back as None when it is J (the Euclidean geometry).
    """
    def at_point(x):
        J, J_step = game.bound_jacobians(x)
        # 0 * v is 0 for finite v and NaN for inf or NaN (summing first could overflow)
        poison = jnp.sum(0.0 * game.pseudo_gradient(x))
        costs = game.cost_values(x)
        if costs is not None:
            poison += jnp.sum(0.0 * costs)
        return J + poison, (None if J_step is J else J_step + poison)
    return jax.vmap(at_point)


# --- the driver ----------------------------------------------------------------------------

@dataclasses.dataclass
class _Worst:
    """The `starts` worst (value, point index) per quantity; ties go to the lower index."""

    values: np.ndarray   # (Q, starts), descending
    index: np.ndarray    # (Q, starts), `sentinel` where nothing was seen yet

    @classmethod
    def empty(cls, quantities: int, starts: int, sentinel: int):
        return cls(np.full((quantities, starts), -np.inf),
                   np.full((quantities, starts), sentinel, dtype=np.int64))

    def thresholds(self) -> np.ndarray:
        return self.values[:, -1].copy()

    def merge(self, q: np.ndarray, values: np.ndarray, index: np.ndarray) -> None:
        Q, starts = self.values.shape
        values = np.where(np.isnan(values), -np.inf, values)
        q_all = np.concatenate([np.repeat(np.arange(Q), starts), q])
        v_all = np.concatenate([self.values.ravel(), values])
        i_all = np.concatenate([self.index.ravel(), index])
        # Each (point, quantity) pair is solved once, so no repeats: rank within each quantity.
        order = np.lexsort((i_all, -v_all, q_all))
        q_all, v_all, i_all = q_all[order], v_all[order], i_all[order]
        first = np.searchsorted(q_all, np.arange(Q))
        rank = np.arange(len(q_all)) - first[q_all]
        keep = rank < starts
        self.values[q_all[keep], rank[keep]] = v_all[keep]
        self.index[q_all[keep], rank[keep]] = i_all[keep]


@dataclasses.dataclass(frozen=True)
class ScreenStats:
    """What the screen saved: rounds, and exact solves against all (point, quantity) pairs.

    seconds: time per stage ("jacobians", "screen", "exact"), filled only when
    worst_points was asked to time them (each stage then waits for its results).
    """

    rounds: int
    exact_solves: int
    pairs: int
    seconds: dict = dataclasses.field(default_factory=dict)


def worst_points(game, kind: str, families_for, sequential, params, points: np.ndarray,
                 starts: int, seed: int, progress=None, *, timed: bool = False):
    """The `starts` worst values of each quantity over `points`, and where.

    Returns (values (Q, starts) descending, indices into points (Q, starts), ScreenStats).
    Raises GameDefinitionError at a point where the costs, gradient or Jacobians are not finite.
    """
    families = families_for(game)
    Q = sum(f.size for f in families)
    total, d = points.shape
    size = int(min(ROUND_POINTS, _memory_round(d), total))
    jacobians = compiled(game, ("bound_jacobians", "pseudo_gradient", "cost_values"),
                         ("jacobians", size), _jacobian_program)
    screen = compiled(game, (), (kind, "screen", size),
                      lambda g: _screen_program(families_for(g), sequential))
    host_params = None if params is None else np.asarray(params)
    device_params = None if params is None else jnp.asarray(params)
    offsets = np.cumsum([0] + [f.size for f in families])
    worst = _Worst.empty(Q, starts, sentinel=total)
    order = np.random.default_rng(seed).permutation(total)
    clock = _Clock(timed)
    solved = rounds = 0
    for lo in range(0, total, size):
        ids = order[lo:lo + size]
        X = points[ids]
        X = np.concatenate([X, np.repeat(X[:1], size - len(ids), axis=0)])
        with clock("jacobians"):
            X_device = jnp.asarray(X)
            J, J_step = clock.wait(jacobians(X_device))
            J_step = J if J_step is None else J_step
        pilot = min(PILOT_POINTS, len(ids)) if lo == 0 else 0
        if pilot:       # the first thresholds: every quantity solved at a few points
            _check_finite(_finite_rows(J, J_step, pilot), X)
            flagged = np.zeros((len(ids), Q), dtype=bool)
            flagged[:pilot] = True
            with clock("exact"):
                solved += _solve(families, offsets, flagged, J, J_step, host_params, ids, worst)
        with clock("screen"):
            may_reach, finite = screen(J, J_step, device_params,
                                       jnp.asarray(worst.thresholds()))
            flagged = np.asarray(may_reach)[:len(ids)].copy()
            finite = np.asarray(finite)[:len(ids)]
        _check_finite(finite, X)
        flagged[:pilot] = False
        with clock("exact"):
            solved += _solve(families, offsets, flagged, J, J_step, host_params, ids, worst)
        rounds += 1
        if progress:
            progress(min(lo + size, total), total, f"sampling {kind}")
    return worst.values, worst.index, ScreenStats(rounds, solved, total * Q, clock.seconds)


class _Clock:
    """Seconds per stage when `on` (then each stage waits for its results), else nothing."""

    def __init__(self, on: bool):
        self.on, self.seconds = on, {}

    def wait(self, value):
        return jax.block_until_ready(value) if self.on else value

    @contextlib.contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        yield
        if self.on:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def _solve(families, offsets, may_reach, J, J_step, params, ids, worst: _Worst) -> int:
    """Exact values of the flagged (point, quantity) pairs, merged into `worst`."""
    if not may_reach.any():
        return 0
    J, J_step = np.asarray(J), np.asarray(J_step)
    qs, values, index = [], [], []
    for family, at in zip(families, offsets):
        rows, local = np.nonzero(may_reach[:, at:at + family.size])
        if rows.size:
            values.append(_exact_on_host(family, J[rows], J_step[rows], local, params))
            qs.append(at + local)
            index.append(ids[rows])
    q = np.concatenate(qs)
    worst.merge(q, np.concatenate(values), np.concatenate(index))
    return int(q.size)


def _finite_rows(J, J_step, rows: int) -> np.ndarray:
    J, J_step = np.asarray(J)[:rows], np.asarray(J_step)[:rows]
    return np.isfinite(J).all(axis=(1, 2)) & np.isfinite(J_step).all(axis=(1, 2))


def _check_finite(finite: np.ndarray, X: np.ndarray) -> None:
    if not finite.all():
        bad = X[int(np.flatnonzero(~finite)[0])]
        raise GameDefinitionError(
            f"costs, gradient or Jacobian are not finite at x = {_short(bad)} in the region; "
            "fix the game there or shrink the region"
        )


def _memory_round(d: int) -> int:
    """Most points per round within the memory budget (about 8 d x d arrays each)."""
    return max(1, _config.CHUNK_BYTES // (8 * 8 * d * d))
