"""Bounds on the region (SPEC section 2): curvature, coupling, Euclidean margin, Lipschitz.

    estimate_bounds(game)                 ->  Bounds        mu_i, L_ij, gamma, beta(1)
    estimate_in_metric(game, w, bounds)   ->  MetricBounds  beta(w), metric margin

Both passes run the same engine: every quantity is written as a "badness" to maximise
(-mu_i, L_ij, -gamma, beta, ...), Jacobians are evaluated in one jit-compiled vmap per chunk
of points (chunks sized to a memory budget), each chunk keeps only its worst few points per
quantity, and a short projected local search from those points pushes each extreme further,
since plain sampling under-covers the true inf and sup.

When the Jacobian provably does not depend on x (see Game.has_constant_jacobian), one
evaluation gives the exact bounds; they are widened by a rounding allowance and called exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import _config, _small_eigen
from ._errors import GameDefinitionError
from ._game import Game, _short
from ._result import Result
from ._sampling import sample_points
from ._shared import compiled

#: Most local-search starts in one refinement (all quantities together): past this, starts go
#: to the curvatures, the Euclidean margin and Lipschitz first, then to the couplings.
MAX_REFINE_STARTS = 512

#: Largest matrix side for which lambda_min / ||A||_2 (smaller side) go to sgn._small_eigen
#: (plain jnp) rather than LAPACK. Off (2: closed forms only) by measurement: warm, the jnp
#: solver beat jaxlib's batched eigh 1.5 to 5 times at d = 3 to 24 and its SVD at 3 and 6, but
#: the estimator as a whole gained little (3.3x -> 3.3x at d = 24) and its first call got 4 to
#: 10 times slower to compile (benchmarks/README.md). Raise to 32 / 8 to use it.
SMALL_EIGEN_MAX = 2
SMALL_NORM_MAX = 2

Progress = Callable[[int, int, str], None]


@dataclasses.dataclass(frozen=True)
class Sampled:
    """Bounds from samples plus local search: estimates, never proofs (verified = False)."""

    samples: int = _config.DEFAULT_SAMPLES
    seed: int = _config.DEFAULT_SEED
    refine_steps: int = _config.REFINE_STEPS
    refine_starts: int = _config.REFINE_STARTS
    name = "sampled"


@dataclasses.dataclass(frozen=True)
class Bounds(Result):
    """Curvature, coupling, Euclidean margin and Euclidean Lipschitz constant on the region.

    Attributes:
        curvature: mu_i, lower bounds on lambda_min(sym J_ii) (length N).
        coupling: L_ij, upper bounds on ||J_ij||_2; row i = affected player, zero diagonal.
        euclidean_margin: gamma, lower bound on lambda_min(sym J).
        lipschitz: upper bound on ||J||_2 (beta for equal weights).
        method: "sampled" (estimates) or "exact" (constant Jacobian, rigorous).
        exact: True when the bounds provably hold on the whole region.
        samples, seed: the sampling options used.
        evaluated: how many Jacobians were evaluated, local search included.
        points: the points evaluated (reused by the metric pass; not serialised).
        locations: where each extreme was found: "curvature" (N, d), "coupling" (N, N, d),
            "euclidean_margin" (d,), "lipschitz" (d,) (not serialised).
    """

    curvature: np.ndarray
    coupling: np.ndarray
    euclidean_margin: float
    lipschitz: float
    method: str
    exact: bool
    samples: int
    seed: int
    evaluated: int
    points: np.ndarray = dataclasses.field(repr=False, compare=False)
    locations: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)


@dataclasses.dataclass(frozen=True)
class MetricBounds(Result):
    """Quantities measured in the metric M(w) = blockdiag(w_i I).

    Attributes:
        lipschitz: beta(w), upper bound on ||W^{1/2} J W^{-1/2}||_2 (a singular value).
        margin: the metric margin, min over the points of lambda_min(sym(W^{1/2} J W^{-1/2})):
            what strong monotonicity in M(w) the Jacobians show directly. SGN's alpha(w) is a
            lower bound on it; the gap measures how conservative the SGN bound is.
        margin_point: where that minimum was found.
        evaluated: Jacobians evaluated.
    """

    lipschitz: float
    margin: float
    margin_point: np.ndarray
    evaluated: int


def estimate_bounds(game: Game, *, samples: int | None = None, seed: int | None = None,
                    method: Sampled | None = None, progress: Progress | None = None) -> Bounds:
    """Bound curvature, coupling, Euclidean margin and Lipschitz constant on game.region."""
    method = method or Sampled()
    method = dataclasses.replace(
        method,
        samples=method.samples if samples is None else int(samples),
        seed=method.seed if seed is None else int(seed),
    )
    if method.samples < 1:
        raise GameDefinitionError("samples must be >= 1")
    n = game.n_players
    if game.has_constant_jacobian:
        points = game.region.centre[None, :]
        worst, where, evaluated = _exact_extremes(game, "bounds", _bounds_badness, None, points)
        name, exact = "exact", True
    else:
        points = sample_points(game.region, method.samples, method.seed)
        worst, where, evaluated, refined = _search_extremes(
            game, "bounds", _bounds_badness, None, points, method, progress,
            priority=_bounds_priority(n),
        )
        points = np.concatenate([points, refined])
        name, exact = "sampled", False
    mu, L, gamma, beta = _unpack_bounds(worst, n)
    coupling_at = np.repeat(where[:1], n * n, axis=0).reshape(n, n, -1)
    coupling_at[~np.eye(n, dtype=bool)] = where[n:n + n * (n - 1)]
    locations = {"curvature": where[:n], "coupling": coupling_at,
                 "euclidean_margin": where[-2], "lipschitz": where[-1]}
    return Bounds(mu, L, gamma, beta, name, exact, method.samples, method.seed, evaluated, points,
                  locations)


def estimate_in_metric(game: Game, weights, bounds: Bounds, *,
                       method: Sampled | None = None,
                       progress: Progress | None = None) -> MetricBounds:
    """beta(w) and the metric margin, on the points `bounds` used, then refined."""
    method = method or Sampled(samples=bounds.samples, seed=bounds.seed)
    w = np.asarray(weights, dtype=np.float64)
    root_w = np.repeat(np.sqrt(w / w[0]), game.dims)
    if bounds.exact:
        worst, where, evaluated = _exact_extremes(game, "metric", _metric_badness_for, root_w,
                                                  bounds.points)
    else:
        worst, where, evaluated, _ = _search_extremes(
            game, "metric", _metric_badness_for, root_w, bounds.points, method, progress,
            priority=np.array([0, 1]),
        )
    return MetricBounds(float(worst[0]), float(-worst[1]), where[1], evaluated)


# --- what is measured: badness vectors (each entry is maximised) -------------------------------
# Each *_for(game) returns badness((J, J_step), params) for that game's layout.

def _bounds_badness(game):
    n = game.n_players
    off = ~np.eye(n, dtype=bool)

    def badness(jacobians, _params):
        J, J_step = jacobians
        linalg = _Sequential()
        mu, L = _blocks(game, J, linalg)
        gamma = linalg.eigvalsh_min(0.5 * (J + J.T))
        beta = linalg.norm2(J_step)
        return jnp.concatenate([-mu, L[off], jnp.stack([-gamma, beta])])

    return badness


def _unpack_bounds(worst: np.ndarray, n: int):
    mu = -worst[:n]
    L = np.zeros((n, n))
    L[~np.eye(n, dtype=bool)] = worst[n:n + n * (n - 1)]
    return mu, L, float(-worst[-2]), float(worst[-1])


def _bounds_priority(n: int) -> np.ndarray:
    """Quantity order for refinement when starts are capped: mu, gamma, beta, couplings."""
    q = n + n * (n - 1)
    return np.concatenate([np.arange(n), [q, q + 1], np.arange(n, q)])


def _metric_badness_for(_game):
    return _metric_badness


def _metric_badness(jacobians, root_w):
    _, J_step = jacobians
    A = root_w[:, None] * J_step / root_w[None, :]  # W^{1/2} J W^{-1/2}
    linalg = _Sequential()
    beta = linalg.norm2(A)
    return jnp.stack([beta, -linalg.eigvalsh_min(0.5 * (A + A.T))])


class _Sequential:
    """Batched eigen-solves and SVDs, made to run one after another.

    jaxlib's CPU LAPACK kernels split a large batch over XLA's intra-op thread pool and wait
    for the pieces. When two such kernels are independent, XLA runs them at once, each holds
    a pool thread while waiting for pieces queued behind the other, and on a 2-core machine
    the program deadlocks (seen with jax 0.10.2 in the vmapped local search; the XLA flag
    --xla_cpu_multi_thread_eigen=false does not help). Tying each call's input to the previous
    call's output (through a zero-weighted data dependency) orders them, so at most one waits
    at a time.
    """

    def __init__(self):
        self.last = None

    def _after(self, x):
        # A data dependency XLA cannot drop (an optimization barrier alone is removed when the
        # program is compiled): x + 0 * (a finite function of the previous result).
        if self.last is not None:
            x = x + 0.0 * jnp.nan_to_num(jnp.sum(self.last))
        return x

    def eigvalsh_min(self, M):
        """Smallest eigenvalue of symmetric matrices over the last two axes.

        1 x 1 and 2 x 2 have stable closed forms; up to SMALL_EIGEN_MAX, sgn._small_eigen
        (plain jnp, no LAPACK kernel, so nothing to deadlock in the batched evaluator; its
        derivative rule calls LAPACK, ordered here like the rest); LAPACK above.
        """
        k = M.shape[-1]
        if k == 1:
            return M[..., 0, 0]
        if k == 2:
            a, b, c = M[..., 0, 0], M[..., 0, 1], M[..., 1, 1]
            return 0.5 * (a + c) - jnp.hypot(0.5 * (a - c), b)
        if k <= SMALL_EIGEN_MAX:
            self.last = _small_eigen.eigvalsh_min(self._after(M))
            return self.last
        self.last = jnp.linalg.eigvalsh(self._after(M))
        return self.last[..., 0]

    def norm2(self, A):
        """Largest singular value over the last two axes: closed forms up to 2 x 2, then
        sgn._small_eigen while the smaller side is at most SMALL_NORM_MAX, then LAPACK."""
        if A.shape[-1] == 1 or A.shape[-2] == 1:
            return jnp.sqrt(jnp.sum(A * A, axis=(-2, -1)))  # no LAPACK call
        if A.shape[-2:] == (2, 2):
            # sigma_max = (hypot(a + d, c - b) + hypot(a - d, b + c)) / 2: no cancellation
            a, b, c, d = A[..., 0, 0], A[..., 0, 1], A[..., 1, 0], A[..., 1, 1]
            return 0.5 * (jnp.hypot(a + d, c - b) + jnp.hypot(a - d, b + c))
        if min(A.shape[-2:]) <= SMALL_NORM_MAX:
            self.last = _small_eigen.norm2(self._after(A))
            return self.last
        self.last = jnp.linalg.svd(self._after(A), compute_uv=False)[..., 0]
        return self.last


def _blocks(game, J, linalg: _Sequential):
    """Per player lambda_min(sym J_ii) (N,) and the block norms ||J_ij||_2 (N, N)."""
    n, dims = game.n_players, game.dims
    if len(set(dims)) == 1:  # equal dims: one batched eigen-solve and one batched SVD
        k = dims[0]
        B = J.reshape(n, k, n, k).transpose(0, 2, 1, 3)
        own = B[jnp.arange(n), jnp.arange(n)]
        mu = linalg.eigvalsh_min(0.5 * (own + jnp.swapaxes(own, -1, -2)))
        L = linalg.norm2(B) * (1.0 - jnp.eye(n))
        return mu, L
    if max(dims) <= SMALL_NORM_MAX:  # pad to one size: one batched solve of each kind
        return _padded_blocks(game, J, linalg)
    mu, rows = [], []
    for i in range(n):
        own = J[game.block(i, i)]
        mu.append(linalg.eigvalsh_min(0.5 * (own + own.T)))
        rows.append(jnp.stack([0.0 if i == j else linalg.norm2(J[game.block(i, j)])
                               for j in range(n)]))
    return jnp.stack(mu), jnp.stack(rows)


def _padded_blocks(game, J, linalg: _Sequential):
    """_blocks for unequal dims, every block padded to the largest dim K.

    Exact, not approximate: an own block S padded as diag(S, c I) with c = S_00 has the
    eigenvalues of S plus c >= lambda_min(S), so the same lambda_min; a coupling block padded
    with zeros has the same singular values plus zeros. One batched call of each kind instead
    of N + N(N - 1) small ones: one compiled solver each, and far less to compile.
    """
    n, dims, K = game.n_players, game.dims, max(game.dims)
    own, blocks = [], []
    for i in range(n):
        k = dims[i]
        S = J[game.block(i, i)]
        S = 0.5 * (S + S.T)
        pad = jnp.diag(jnp.concatenate([jnp.zeros(k), jnp.full(K - k, S[0, 0])]))
        own.append(jnp.zeros((K, K)).at[:k, :k].set(S) + pad)
        for j in range(n):
            B = J[game.block(i, j)] if i != j else jnp.zeros((dims[i], dims[j]))
            blocks.append(jnp.zeros((K, K)).at[:dims[i], :dims[j]].set(B))
    mu = linalg.eigvalsh_min(jnp.stack(own))
    L = linalg.norm2(jnp.stack(blocks)).reshape(n, n) * (1.0 - jnp.eye(n))
    return mu, L


# --- the engine ----------------------------------------------------------------------------------

def _exact_extremes(game: Game, kind: str, badness_for, params, points):
    """Constant Jacobian: one evaluation, each quantity widened by its rounding allowance.

    Symmetric eigen-solves and SVDs are backward stable: a computed value is within
    c * n * eps * ||A||_F of the true one, A the n x n (scaled) matrix it was taken of. An
    exactly zero block has an exactly zero norm and gets no allowance.
    """
    J = np.asarray(game.jacobian_fn(jnp.asarray(points[0])))
    if not np.isfinite(J).all():
        raise GameDefinitionError("the Jacobian is not finite (it is constant, so everywhere)")
    evaluate = compiled(game, (), (kind, "exact"), badness_for)
    values = np.asarray(evaluate((jnp.asarray(J), jnp.asarray(J)), params))
    unit = _config.ROUNDING_SLACK_FACTOR * np.finfo(float).eps
    if kind == "bounds":
        n = game.n_players
        size = np.array([[np.linalg.norm(J[game.block(i, j)]) * max(game.dims[i], game.dims[j])
                          for j in range(n)] for i in range(n)])
        whole = np.linalg.norm(J) * game.dim
        allowance = np.concatenate([np.diag(size), size[~np.eye(n, dtype=bool)],
                                    [whole, whole]])
    else:
        A = params[:, None] * J / params[None, :]
        allowance = np.full(values.size, np.linalg.norm(A) * game.dim)
    where = np.repeat(points[:1], values.size, axis=0)
    return values + unit * allowance, where, 1


def _search_extremes(game: Game, kind: str, badness_for, params, points, method: Sampled,
                     progress: Progress | None, priority: np.ndarray):
    """Worst value of each badness entry over the points, then refined by local search.

    Returns (values (Q,), argmax points (Q, d), evaluated count), and separately the refined
    points so callers can reuse them.
    """
    d = game.dim
    chunk = _chunk_size(d, len(points))
    starts = max(1, min(method.refine_starts, chunk))
    evaluate = compiled(game, ("bound_jacobians", "pseudo_gradient", "cost_values"),
                        (kind, "chunk", chunk, starts),
                        lambda g: _chunk_evaluator(g, badness_for(g), starts))
    total = len(points)
    top_vals, top_pts = [], []
    for lo in range(0, total, chunk):
        block = points[lo:lo + chunk]
        padded = np.concatenate([block, np.repeat(block[:1], chunk - len(block), axis=0)])
        vals, idx, finite = (np.asarray(a) for a in evaluate(jnp.asarray(padded), params))
        if not finite.all():
            bad = padded[int(np.flatnonzero(~finite)[0])]
            raise GameDefinitionError(
                f"costs, gradient or Jacobian are not finite at x = {_short(bad)} in the region; "
                "fix the game there or shrink the region"
            )
        top_vals.append(vals)                         # (Q, starts)
        top_pts.append(padded[idx])                   # (Q, starts, d)
        if progress:
            progress(min(lo + chunk, total), total, f"sampling {kind}")
    vals = np.concatenate(top_vals, axis=1)
    pts = np.concatenate(top_pts, axis=1)
    order = np.argsort(-vals, axis=1)[:, :starts]
    vals = np.take_along_axis(vals, order, axis=1)
    pts = np.take_along_axis(pts, order[..., None], axis=1)
    best_vals, best_pts = vals[:, 0].copy(), pts[:, 0].copy()

    if method.refine_steps <= 0:
        return best_vals, best_pts, total, np.empty((0, d))
    # Local search: (quantity, start) pairs, the most important quantities first.
    per_q = max(1, min(starts, MAX_REFINE_STARTS // len(priority)))
    chosen = priority[: max(1, MAX_REFINE_STARTS // per_q)]
    q_index = np.repeat(chosen, per_q)
    x0 = pts[chosen, :per_q].reshape(-1, d)
    size = int(2 ** np.ceil(np.log2(len(q_index))))  # padded: few distinct compiled shapes
    pad = size - len(q_index)
    q_index = np.concatenate([q_index, np.repeat(q_index[:1], pad)])
    x0 = np.concatenate([x0, np.repeat(x0[:1], pad, axis=0)])
    climb = compiled(game, ("bound_jacobians",), (kind, "climb", size, method.refine_steps),
                     lambda g: _climber(g, badness_for(g), method.refine_steps))
    if progress:
        progress(0, 1, f"refining {kind} extremes")
    x_new, f_new = (np.asarray(a) for a in climb(jnp.asarray(x0), jnp.asarray(q_index), params))
    if progress:
        progress(1, 1, f"refining {kind} extremes")
    for q, x, f in zip(q_index, x_new, f_new):
        if np.isfinite(f) and f > best_vals[q]:
            best_vals[q], best_pts[q] = f, x
    return best_vals, best_pts, total + size * (method.refine_steps + 1), x_new[: size - pad]


def _chunk_evaluator(game, badness, starts: int):
    """evaluate(X, params) for a Lifted game: each quantity's worst points in the batch X."""
    def at_point(x, params):
        J, J_step = game.bound_jacobians(x)
        finite = (jnp.all(jnp.isfinite(J)) & jnp.all(jnp.isfinite(J_step))
                  & jnp.all(jnp.isfinite(game.pseudo_gradient(x))))
        costs = game.cost_values(x)
        if costs is not None:
            finite &= jnp.all(jnp.isfinite(costs))
        return badness((J, J_step), params), finite

    def evaluate(X, params):
        bad, finite = jax.vmap(at_point, in_axes=(0, None))(X, params)
        bad = jnp.where(finite[:, None] & ~jnp.isnan(bad), bad, -jnp.inf)
        vals, idx = jax.lax.top_k(bad.T, starts)  # worst `starts` points per quantity
        return vals, idx, finite

    return evaluate


def _climber(game, badness, steps: int):
    """Projected ascent of one badness entry, in box coordinates z in [0, 1]^d.

    Each step moves every coordinate by at most s along the normalised gradient; a step that
    does not improve is undone and s is halved, one that does grows s by half.
    """
    low = jnp.asarray(game.region.low)
    width = jnp.asarray(game.region.width)
    safe_width = jnp.where(width > 0, width, 1.0)

    def climb_one(x0, q, params):
        def f(z):
            return badness(game.bound_jacobians(low + z * width), params)[q]

        value_and_grad = (jax.value_and_grad(f) if game.search_gradient == "autodiff"
                          else _central_difference(f))

        def direction(g):
            g = jnp.where(jnp.isfinite(g), g, 0.0)
            return g / jnp.maximum(jnp.max(jnp.abs(g)), 1e-300)

        # One value-and-gradient per step (at the trial point), so f is traced once in the loop:
        # compile time, not run time, dominates this search.
        def step(_, carry):
            z, fz, dz, s = carry
            z_try = jnp.clip(z + s * dz, 0.0, 1.0)
            f_try, g_try = value_and_grad(z_try)
            better = f_try > fz
            return (jnp.where(better, z_try, z), jnp.where(better, f_try, fz),
                    jnp.where(better, direction(g_try), dz), jnp.where(better, 1.5 * s, 0.5 * s))

        z0 = (x0 - low) / safe_width
        f0, g0 = value_and_grad(z0)
        init = (z0, f0, direction(g0), jnp.asarray(_config.REFINE_FIRST_STEP))
        z, fz, _, _ = jax.lax.fori_loop(0, steps, step, init)
        return low + z * width, fz

    def climb_all(x0, q, params):
        # One start after another (lax.map), not vmap: differentiating through batched
        # eigen-solves and SVDs put several independent batched LAPACK kernels in flight,
        # which deadlocks jaxlib's CPU thread pool on 2 cores (see _Sequential). Each start's
        # search is tiny, so little is lost.
        return jax.lax.map(lambda a: climb_one(a[0], a[1], params), (x0, q))

    return climb_all


def _central_difference(f, step: float = 1e-6):
    """value_and_grad of f: [0, 1]^d -> R by central differences (one vmapped batch of 2 d + 1
    evaluations), for games whose autodiff gradient costs too much to compile."""
    def value_and_grad(z):
        d = z.shape[0]
        E = step * jnp.eye(d, dtype=z.dtype)
        values = jax.vmap(f)(jnp.concatenate([z[None], z + E, z - E]))
        return values[0], (values[1:d + 1] - values[d + 1:]) / (2 * step)
    return value_and_grad


def _chunk_size(d: int, n_points: int) -> int:
    """Points per batch, within the memory budget (about 8 d x d arrays each).

    The points are split into as few batches as fit, all of one size (one compiled shape), so
    the last batch pads at most batches - 1 points: with a fixed batch size it padded up to a
    whole batch of wasted eigen-solves (23% of the work at d = 16, 10,000 samples).
    """
    fit = max(1, _config.CHUNK_BYTES // (8 * 8 * d * d))
    batches = -(-n_points // fit)
    return int(max(1, -(-n_points // batches)))
