"""Sampled extremes without an eigen-solve at every point: prove most points cannot matter.

Every quantity the estimator bounds is a largest or smallest eigenvalue of a matrix taken from
the Jacobians at a point: a curvature or a margin is -lambda_min(S) of a symmetric S, a
coupling or a Lipschitz constant is ||B||_2. Sampling needs, per quantity, only its few worst
points (the value and where), not the value at every point. So the points go in rounds, and
each quantity keeps its `starts` worst exact values so far; the last of them is a threshold t.
A point can only join the worst if its value reaches t, and "value < t" is proved by one
Cholesky factorisation (without square roots: L D L^T, all pivots positive):

    -lambda_min(S) < t   <=>   S + t I  is positive definite
    ||B||_2        < t   <=>   t^2 I - B^T B  is positive definite     (t > 0)

Only the (point, quantity) pairs that fail the test get the exact solve. The worst values and
points are those that solving at every point gives, up to rounding: the test is made with t
lowered by a rounding allowance, so a pair it passes is below t with room to spare. On the
benchmark games the test costs a fraction of LAPACK's eigen-solve or SVD, and after the first
round only a few points in a hundred are solved exactly.

Two threads share the work: this one computes a round's Jacobians and matrices with XLA while a
second tests the previous round on the host (sgn._definite, compiled with numba) and solves
what the test leaves (numpy).

The points are taken in a seeded random order so that the first rounds are a fair sample of the
region (the sampler lists box vertices first); the result does not depend on the order: ties
go to the point listed first.

A quantity family is one kind of solve on matrices of one size (`Family`); a badness vector is
a tuple of families, its entries the families' matrices in order.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import time
import weakref
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _config
from ._game import not_finite_error
from ._shared import compiled

#: Points per round (fewer when d is large: _memory_round). Smaller rounds raise the thresholds
#: sooner but cost more dispatches; 1024 measured best (benchmarks/README.md,
#: "How the estimator gets its speed").
ROUND_POINTS = 1024

#: Points of the first round solved exactly for every quantity, to set the first thresholds.
PILOT_POINTS = 32

#: Rounding allowance of the test, in units of k^2 eps ||matrix||: a computed Cholesky factor
#: of a k x k matrix A is exact for A + E with ||E|| <= c k^2 eps ||A||, c small; forming
#: M^T M adds an error of the same kind.
ROUNDING_FACTOR = 4.0

#: Smallest matrix size the allowance assumes (see proved_below): 1e-140 keeps even its
#: square far above the 2.2e-308 below which XLA's CPU code flushes to zero.
ALLOWANCE_FLOOR = 1e-140

Kind = str  # "lambda_min": -lambda_min((M + M^T) / 2); "norm": ||M||_2


@dataclasses.dataclass(frozen=True)
class Family:
    """`size` quantities measured by one kind of solve on k x k matrices M.

    kind "lambda_min": the badness is -lambda_min of the symmetric part (M + M^T) / 2;
    kind "norm": the badness is ||M||_2.

    matrices(xp, J, J_step, params) -> (..., size, k, k) for Jacobians (..., d, d), written with
    operations numpy and jax.numpy share, so the screen and the exact solves (numpy, LAPACK
    without eigenvectors) read the same formula. `view`: the matrices are J or J_step
    reshaped, no arithmetic, so the screen takes them on the host without a copy; the others
    are formed by a compiled program.
    """

    kind: Kind
    size: int
    matrices: Callable
    view: bool = False


def symmetric_part(xp, A):
    return 0.5 * (A + xp.swapaxes(A, -1, -2))


# --- exact values --------------------------------------------------------------------------

def exact_values(family: Family, M, linalg):
    """The family's badness for matrices M (..., k, k), by `linalg` (a _bounds._Sequential)."""
    if family.kind == "lambda_min":
        return -linalg.eigvalsh_min(symmetric_part(jnp, M))
    return linalg.norm2(M)


def _exact_on_host(family: Family, J, J_step, local, params) -> np.ndarray:
    """Badness of quantity local[e] of `family` at Jacobians (J[e], J_step[e]), with numpy."""
    M = family.matrices(np, J, J_step, params)[np.arange(len(local)), local]
    if family.kind == "lambda_min":
        return -np.linalg.eigvalsh(symmetric_part(np, M))[:, 0]
    # ||M||_2 = s sqrt(lambda_max(A^T A)), A = M / s, s = max |M_ij|: within a few eps of the
    # SVD's value (the scaling keeps A^T A from overflowing or losing M's largest entries),
    # and faster than numpy's SVD (measured: benchmarks/README.md, "How the estimator gets
    # its speed").
    scale = np.abs(M).max(axis=(-2, -1))
    scale = np.where(scale > 0, scale, 1.0)
    A = M / scale[:, None, None]
    return scale * np.sqrt(np.maximum(np.linalg.eigvalsh(np.swapaxes(A, -1, -2) @ A)[:, -1], 0.0))


# --- the screen ----------------------------------------------------------------------------
# In two parts: each family's matrices are taken from a round's Jacobians (by a compiled
# program, or as a view of J when the family is J reshaped); the host then tests them against
# the current thresholds (sgn._definite, a compiled loop: faster than LAPACK or XLA on small
# matrices). The matrices do not depend on the thresholds, so XLA forms the next round's
# while the host tests this one.

def proved_below(family: Family, M, t) -> np.ndarray:
    """True where the badness of M (..., size, k, k) is proved below t (size,), on the host.

    The test's t is lowered by slack * (size + |t|), slack = ROUNDING_FACTOR k^2 eps, size a
    bound on the norm of the matrix factorised, floored at ALLOWANCE_FLOOR: XLA flushes numbers
    below 2.2e-308 to zero when it forms M, and the floor keeps the allowance far above what
    that loses on tiny matrices (their pairs are then solved exactly).
    """
    from . import _definite  # numba: imported when the first screen runs, not with sgn

    k = np.shape(M)[-1]
    slack = ROUNDING_FACTOR * k * k * np.finfo(np.float64).eps
    return _definite.proved_below(family.kind, M, t, slack, ALLOWANCE_FLOOR)


def _matrices_program(family: Family):
    return lambda J, J_step, params: family.matrices(jnp, J, J_step, params)


def _jacobian_program(game, batching: str = "vmap"):
    """Jacobians at a batch of points, NaN wherever the gradient or a cost is not finite.

    XLA compiles a vmapped Jacobian much more slowly when the program also returns anything
    else, the finiteness flags or even J a second time (measured: benchmarks/README.md,
    "How the estimator gets its speed"). So J carries the flags itself
    (_shared._checked_bound_jacobians), and J_step comes back as None when it is J (the
    Euclidean geometry).

    batching="map" evaluates the points one after another (jax.lax.map) in the same program:
    for Jacobians made of loops (a Markov game's eliminations) the batched loops ran 3-5x
    slower per point than one point at a time (benchmarks/README.md, "Issue 15"), but the
    values differ from vmap's in the last bits, so only games that ask for it get it.
    """
    if batching == "map":
        return lambda X: jax.lax.map(game.checked_bound_jacobians, X)
    return jax.vmap(game.checked_bound_jacobians)


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


def worst_points(game, kind: str, families_for, params, points: np.ndarray, starts: int,
                 seed: int, progress=None, *, timed: bool = False):
    """The `starts` worst values of each quantity over `points`, and where.

    Returns (values (Q, starts) descending, indices into points (Q, starts), ScreenStats).
    Raises GameDefinitionError at a point where the costs, gradient or Jacobians are not finite.
    With timed=True each stage waits for its results (no overlap) and ScreenStats.seconds
    holds the time of each.
    """
    families = families_for(game)
    Q = sum(f.size for f in families)
    total, d = points.shape
    size = int(min(ROUND_POINTS, _memory_round(d), total))
    batching = game.jacobian_batching
    jacobians = compiled(game, ("checked_bound_jacobians",),
                         ("jacobians", size) if batching == "vmap" else
                         ("jacobians", size, batching),
                         lambda g: _jacobian_program(g, batching))
    # One program per distinct matrices function (families may share one: the metric's two
    # read the same scaled J), each waited for: XLA's CPU runtime runs independent programs
    # (and independent parts of one program) at once, and on two cores that was much slower
    # than one after another (measured: benchmarks/README.md, "How the estimator gets its speed").
    # Views need none.
    matrices = {}
    for q, family in enumerate(families):
        if not family.view and family.matrices not in matrices:
            matrices[family.matrices] = compiled(
                game, (), (kind, "matrices", q, size),
                lambda g, q=q: _matrices_program(families_for(g)[q]))
    memo = _memo.start(game, points, size, jacobians)
    host_params = jax.tree.map(np.asarray, params)      # None stays None
    device_params = jax.tree.map(jnp.asarray, params)
    offsets = np.cumsum([0] + [f.size for f in families])
    worst = _Worst.empty(Q, starts, sentinel=total)
    order = np.random.default_rng(seed).permutation(total)
    clock = _Clock(timed)

    def device_round(lo):
        """A round's Jacobians and matrices (device programs, one after another)."""
        ids = order[lo:lo + size]
        X = points[ids]
        X = np.concatenate([X, np.repeat(X[:1], size - len(ids), axis=0)])
        with clock("jacobians"):
            if memo is not None and memo[1]:    # the same values, computed before
                J, J_step = (jnp.asarray(_padded(M, ids, size)) for M in memo[0])
            else:
                J, J_step = jax.block_until_ready(jacobians(jnp.asarray(X)))
                if memo is not None:
                    _memo.record(memo[0], ids, (J, J_step))
            J_step = J if J_step is None else J_step
        with clock("matrices"):
            tests = {function: jax.block_until_ready(program(J, J_step, device_params))
                     for function, program in matrices.items()}
        return lo, ids, X, J, J_step, tests

    def host_round(lo, ids, X, J, J_step, tests) -> int:
        """Test a round's pairs against the current thresholds; solve the rest exactly."""
        n, same = len(ids), J_step is J
        J = np.asarray(J)[:n]
        J_step = J if same else np.asarray(J_step)[:n]
        finite = np.isfinite(J).all(axis=(1, 2))
        if not same:
            finite &= np.isfinite(J_step).all(axis=(1, 2))
        _check_finite(finite, X)
        pilot = min(PILOT_POINTS, n) if lo == 0 else 0
        flagged = np.ones((n, Q), dtype=bool)
        solved = 0
        if pilot:       # the first thresholds: every quantity solved at a few points
            with clock("exact"):
                solved += _solve(families, offsets, flagged[:pilot], J, J_step, host_params,
                                 ids, worst)
        with clock("screen"):
            t = worst.thresholds()
            for family, at in zip(families, offsets):
                M = (family.matrices(np, J, J_step, host_params) if family.view
                     else np.asarray(tests[family.matrices])[:n])
                flagged[pilot:, at:at + family.size] = ~proved_below(
                    family, M[pilot:], t[at:at + family.size])
        with clock("exact"):
            solved += _solve(families, offsets, flagged[pilot:], J[pilot:], J_step[pilot:],
                             host_params, ids[pilot:], worst)
        return solved

    # The host tests round r in a second thread while this one computes round r + 1 with XLA
    # (less time than one after another: benchmarks/README.md, "How the estimator gets its
    # speed"): the test and the exact solves (numba, numpy) release the GIL, and only this
    # thread runs XLA programs, one at a time (two at once can deadlock jaxlib's CPU thread
    # pool: _bounds._Sequential).
    # Timed runs go one stage after another.
    solved = rounds = 0
    with _blas_threads(game.blas_threads), concurrent.futures.ThreadPoolExecutor(1) as host:
        testing = None
        for lo in range(0, total, size):
            work = device_round(lo)
            if testing is not None:
                solved += testing.result()
                rounds += 1
                if progress:
                    progress(min(lo, total), total, f"sampling {kind}")
            testing = host.submit(host_round, *work)
            if timed:
                testing.result()
        solved += testing.result()
        rounds += 1
    if memo is not None and not memo[1]:
        _memo.keep(game, points, memo[0])
    if progress:
        progress(total, total, f"sampling {kind}")
    return worst.values, worst.index, ScreenStats(rounds, solved, total * Q, clock.seconds)


def _blas_threads(limit):
    """BLAS limited to `limit` threads (Game.blas_threads) while the screen runs; None: as is."""
    if limit is None:
        return contextlib.nullcontext()
    import threadpoolctl

    return threadpoolctl.threadpool_limits(limits=int(limit), user_api="blas")


class _Clock:
    """Seconds per stage when `on` (worst_points then runs the stages one after another),
    else nothing."""

    def __init__(self, on: bool):
        self.on, self.seconds = on, {}

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


def _check_finite(finite: np.ndarray, X: np.ndarray) -> None:
    if not finite.all():
        raise not_finite_error(X[int(np.flatnonzero(~finite)[0])])


class _JacobianMemo:
    """The screened Jacobians of the last sampled pass of one Markov game, for the next pass.

    The metric pass screens the bounds pass's points again (plus the local search's), and a
    Markov game's Jacobians (forward-mode derivatives through the linear solves of the
    occupancy and the values) cost far more than the screen that reads them. So a pass keeps
    its Jacobians, for one game at a time (a weak reference: the memo dies with the game), and
    a later pass on points it has seen computes only the new ones, with the same compiled
    program and round size. A point's Jacobians do not depend on the other points of its
    round, so the values are bit for bit those computed afresh (tests/test_markov_speed.py;
    benchmarks/README.md, "Markov games"). Only games in the Fisher geometry, and only within
    MEMO_BYTES: elsewhere the Jacobians are cheap beside the screen.
    """

    def __init__(self):
        self.game = None            # weakref.ref to the game
        self.region = None          # and its region when the values were kept
        self.rows, self.values = {}, None

    def start(self, game, points: np.ndarray, size: int, program):
        """Arrays (J, J_step) for every point (numpy (P, d, d); J_step None when it is J) and
        whether they are all filled already; None when nothing is kept for this game.

        When some points were seen, the others are computed here; when none were, the rounds
        fill the arrays as they go (`record`), so they still overlap the host's screen.
        """
        total, d = points.shape
        if game.geometry != "fisher" or 2 * total * d * d * 8 > MEMO_BYTES:
            return None
        same = (self.game is not None and self.game() is game
                and self.region == _region_key(game))
        at = np.array([self.rows.get(row.tobytes(), -1) if same else -1 for row in points])
        seen = np.flatnonzero(at >= 0)
        J, J_step = np.empty((total, d, d)), np.empty((total, d, d))
        if seen.size == 0:
            return (J, J_step), False
        J[seen] = self.values[0][at[seen]]
        J_step[seen] = self.values[1][at[seen]]
        missing = np.flatnonzero(at < 0)
        for lo in range(0, missing.size, size):
            ids = missing[lo:lo + size]
            self.record((J, J_step), ids, program(jnp.asarray(_padded(points, ids, size))))
        self.keep(game, points, (J, J_step))
        return (J, J_step), True

    @staticmethod
    def record(arrays, ids, computed) -> None:
        """Copy a round's Jacobians (device, padded) into the arrays at rows `ids`."""
        J_new, J_step_new = computed
        arrays[0][ids] = np.asarray(J_new)[:len(ids)]
        arrays[1][ids] = np.asarray(J_new if J_step_new is None else J_step_new)[:len(ids)]

    def keep(self, game, points, arrays) -> None:
        self.game, self.region = weakref.ref(game), _region_key(game)
        self.rows = {row.tobytes(): k for k, row in enumerate(points)}
        self.values = arrays


def _region_key(game) -> bytes:
    return game.region.low.tobytes() + game.region.high.tobytes()


def _padded(points, ids, size):
    """points[ids], padded to `size` rows with the first (the compiled round size)."""
    return points[np.concatenate([ids, np.repeat(ids[:1], size - len(ids))])]


#: Most bytes the Jacobian memo keeps (J and J_step at every point of a pass).
MEMO_BYTES = 256 * 2**20

_memo = _JacobianMemo()


def _memory_round(d: int) -> int:
    """Most points per round within the memory budget: about 5 d x d arrays per point and
    round (the Jacobians, the matrices the test reads), two rounds at a time."""
    return max(1, _config.CHUNK_BYTES // (2 * 5 * 8 * d * d))
