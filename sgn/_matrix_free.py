"""Bounds from Jacobian-vector products only, for games with large players (docs/matrix-free.md).

    estimator = sgn.MatrixFree()
    bounds = estimator.bounds(game)                         # mu_i, L_ij, gamma, beta(1)
    metric = estimator.in_metric(game, game.metric(w), bounds)

The dense estimator (sgn.Sampled) forms the d x d Jacobian at every sample point: d products
and d^2 memory per point, hopeless for a pair of small networks (d ~ 5,000). Here every
quantity is an extreme eigenvalue or singular value of an operator made of products with the
Jacobian J(x) of the pseudo-gradient F at one point x, restricted to player blocks:

    J_ij v = [d/dt F_i(x + t E_j v)]_{t=0}        (a jvp)
    J_ij^T u = [u^T F_i]'s gradient in x_j          (a vjp)

and it is found by Lanczos (sgn/_krylov.py): mu_i from lambda_min(sym J_ii), L_ij = ||J_ij||_2,
gamma = lambda_min(sym J), beta = ||J||_2, and in the metric M(w) the same of D J D^-1 with
D = M^1/2 (block-scalar metrics only). Memory per point is the linearisation of F (a few copies
of the parameters and the activations) plus a k x d Krylov basis.

Which points. A screen of `samples` points (the centre first, then box vertices and a Sobol
set, as sgn.Sampled draws them) gets a few Lanczos steps per quantity, vmapped over batches of
points sized from free memory. From each quantity's worst few screen points a local search then
climbs to a local extreme (L-BFGS-B in box coordinates, as sgn.Sampled's): at x, Lanczos (to
convergence, restarted, warm-started from the previous point's vector) gives the value and its
Krylov vectors a, b; the gradient of x -> a^T J(x) b with the vectors held fixed (for a simple
eigenvalue, the eigenvalue's own gradient) is one more product. Screen batches and searches
are independent tasks, run here or on an executor (sgn/_matrix_free_ship.py).

What the numbers are. Estimates, twice over: sampled points (the true extreme on the region may
lie elsewhere) and Krylov values, which approach the extreme from inside the spectrum. Each
bound is therefore pushed past the worst value measured by an allowance: the Ritz residual at
that point (some eigenvalue lies within it; not necessarily the extreme one) plus the search's
spread (sgn._bounds.search_allowance). The certificate records the iterations, the residuals and
the search, calls the bounds matrix-free Krylov estimates, and never calls them verified.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import threadpoolctl

from . import _config
from ._bounds import SEARCH_FTOL, SEARCH_GTOL, Bounds, MetricBounds, Progress, search_allowance
from ._errors import GameDefinitionError, SGNError
from ._game import Game, not_finite_error
from ._krylov import smallest_eigenvalue
from ._matrix_free_ship import Programs, programs_of
from ._metric import as_metric
from ._sampling import sample_points
from ._shared import compiled

#: The estimator record's name for how the Jacobian was read.
OPERATOR = "matrix-free"

#: A quantity: (kind, row block, column block); kind "lambda_min" (badness -lambda_min of the
#: symmetric part) or "norm" (badness ||.||_2); a block is a player index or None (all of x).
Quantity = tuple


@dataclasses.dataclass(frozen=True)
class MatrixFree:
    """Matrix-free bounds: Lanczos on Jacobian-vector products at a screen of points plus local
    search. Estimates, never proofs (module doc).

    Attributes:
        samples, seed: screen points (the centre included) and the seed that draws them.
        screen_iterations: Lanczos steps per quantity at each screen point (no restart).
        iterations: Lanczos steps per run at the points that count (search starts and steps).
        restarts: most restarts of such a run from its own Ritz vector, until the residual is
            at most `rtol` times the value's scale.
        refine_starts: local searches per quantity, from its worst screen points.
        refine_steps: most evaluations (Lanczos cycles) per local search up to `search_dim`
            coordinates (0: no search; the screen's worst points are still measured to
            convergence). Past `search_dim` the cap shrinks as refine_steps * search_dim / d
            (at least MIN_SEARCH_STEPS), so that the search's products times d, its cost,
            stays level as d grows (`search_steps`); the certificate records the cap used.
        search_iterations: Lanczos steps of each search evaluation (one cycle, warm-started
            from the previous point's vector). None: `iterations` up to SHORT_CYCLE_DIM
            coordinates (small blocks: one cycle spans them), SEARCH_ITERATIONS past it (the
            basis is reorthogonalised at every step, so a cycle costs about steps^2 * d).
        search_dim: see refine_steps.
        batch_bytes: memory for one vmapped batch of screen points (default: a sixteenth of
            free memory, at most 1 GiB).
        executor: a concurrent.futures.Executor (threads, or Dask: sgn._interval.dask_executor)
            for the screen batches and the local searches (None: here); the results do not
            depend on it (sgn/_matrix_free_ship.py).
    """

    samples: int = 64
    seed: int = _config.DEFAULT_SEED
    screen_iterations: int = 12
    iterations: int = 40
    restarts: int = 6
    rtol: float = 1e-8
    refine_starts: int = 8
    refine_steps: int = 100
    search_iterations: int | None = None
    search_dim: int = 2_000
    batch_bytes: int | None = None
    executor: object = dataclasses.field(default=None, compare=False, repr=False)
    name = "matrix-free"
    #: Values are measured at points (like sgn.Sampled), so a metric margin below SGN's shows
    #: that the bounds missed an extreme.
    measures_points = True
    #: Stages that would form d x d matrices (the metric LMI search, Newton's dense solve, the
    #: direct step certificates) look here and keep to products.
    matrix_free = True

    def bounds(self, game: Game, *, progress: Progress | None = None) -> Bounds:
        """mu_i, L_ij, gamma and beta(1) on game.region, from Krylov estimates."""
        _check(game, self)
        quantities = bounds_quantities(game.n_players)
        points = screen_points(game, self.samples, self.seed)
        found = _extremes(game, self, quantities, None, points, progress, "bounds")
        n = game.n_players
        worst, allow = found.values + found.allowances, found.allowances
        mu = -worst[:n]
        L = np.zeros((n, n))
        L[~np.eye(n, dtype=bool)] = worst[n:n + n * (n - 1)]
        A = np.zeros((n, n))
        A[~np.eye(n, dtype=bool)] = allow[n:n + n * (n - 1)]
        coupling_at = np.repeat(found.where[:1], n * n, axis=0).reshape(n, n, -1)
        coupling_at[~np.eye(n, dtype=bool)] = found.where[n:n + n * (n - 1)]
        record = {"operator": OPERATOR, "krylov": found.record(self, quantities, n)}
        return Bounds(
            mu, L, float(-worst[-2]), float(worst[-1]), "sampled", False, self.samples,
            self.seed, found.evaluated, found.points,
            locations={"curvature": found.where[:n], "coupling": coupling_at,
                       "euclidean_margin": found.where[-2], "lipschitz": found.where[-1]},
            allowances={"curvature": allow[:n], "coupling": A,
                        "euclidean_margin": float(allow[-2]), "lipschitz": float(allow[-1])},
            search={"starts": found.starts if self.refine_steps > 0 else 0,
                    "max_evaluations": search_steps(self, game.dim)},
            estimator_record=record)

    def in_metric(self, game: Game, metric, bounds: Bounds, *,
                  progress: Progress | None = None) -> MetricBounds:
        """beta(w) = ||D J D^-1||_2 and the metric margin lambda_min(sym(D J D^-1)),
        D = M(w)^1/2, on the points `bounds` used, then refined (Krylov estimates)."""
        _check(game, self)
        metric = as_metric(game, metric)
        if getattr(metric, "kind", None) != "block_scalar":
            raise SGNError(f"the matrix-free estimator measures block-scalar metrics only, not "
                           f"{getattr(metric, 'kind', type(metric).__name__)!r}")
        quantities = (("norm", None, None), ("lambda_min", None, None))
        points = bounds.points if len(bounds.points) else game.region.centre[None, :]
        found = _extremes(game, self, quantities, np.asarray(metric.root), points, progress,
                          "metric")
        worst, allow = found.values + found.allowances, found.allowances
        return MetricBounds(float(worst[0]), float(-worst[1]), found.where[1], found.evaluated,
                            {"lipschitz": float(allow[0]), "margin": float(allow[1])})


def _check(game: Game, estimator: MatrixFree) -> None:
    if game.geometry != "euclidean":
        raise SGNError(f"the matrix-free estimator works in the Euclidean geometry; this game's "
                       f"is {game.geometry!r}: use sgn.Sampled()")
    if estimator.samples < 1:
        raise GameDefinitionError("samples must be >= 1")
    for name in ("screen_iterations", "iterations", "search_dim"):
        if getattr(estimator, name) < 1:
            raise GameDefinitionError(f"{name} must be >= 1")
    if estimator.search_iterations is not None and estimator.search_iterations < 1:
        raise GameDefinitionError("search_iterations must be >= 1 (or None: chosen by size)")


#: Lanczos steps per search evaluation past SHORT_CYCLE_DIM coordinates (MatrixFree's
#: search_iterations=None). Each evaluation is warm-started from the previous point's Ritz
#: vector, so along a search the runs keep converging; only the ends that can be a quantity's
#: worst are then run to convergence with `iterations` steps per cycle. Measured on the wide game of
#: benchmarks/bench_matrix_free.py at d = 10^4: a 40-step cycle 0.05 s, mostly the
#: reorthogonalisation (steps^2 * d), not the products.
SEARCH_ITERATIONS = 12

#: Up to this many coordinates a search evaluation is a full `iterations`-step cycle: on such
#: games (every block of the random games of tests/test_matrix_free.py and of
#: benchmarks/verify_matrix_free_seeds.py) a cycle is cheap, and with blocks of at most
#: `iterations` coordinates it spans the block, so the search sees converged values.
SHORT_CYCLE_DIM = _config.MATRIX_FREE_DIM

#: The fewest evaluations a search may be cut to past MatrixFree.search_dim coordinates.
MIN_SEARCH_STEPS = 12

#: A search stops when its best value rose by at most STALL_RTOL (relative, floor 1) over its
#: last STALL_EVALUATIONS evaluations: with Krylov values L-BFGS-B's own ftol (1e-12, meant for
#: exact values) is rarely met, and evaluations past such a stall move the end by far less than
#: the search allowances seen where the searches' ends differ (1e-4 relative and more on the
#: wide and MLP games of benchmarks/bench_matrix_free.py).
STALL_EVALUATIONS = 10
STALL_RTOL = 1e-9


def search_iterations(estimator: MatrixFree, dim: int) -> int:
    """Lanczos steps per search evaluation for a game of `dim` coordinates."""
    if estimator.search_iterations is not None:
        return min(int(estimator.search_iterations), int(estimator.iterations))
    return int(estimator.iterations) if dim <= SHORT_CYCLE_DIM else min(
        SEARCH_ITERATIONS, int(estimator.iterations))


def search_steps(estimator: MatrixFree, dim: int) -> int:
    """Most evaluations per search: refine_steps up to search_dim coordinates, then shrinking
    as 1/d (at least MIN_SEARCH_STEPS, never more than refine_steps)."""
    steps = int(estimator.refine_steps)
    if steps <= 0 or dim <= estimator.search_dim:
        return max(steps, 0)
    return min(steps, max(MIN_SEARCH_STEPS, steps * int(estimator.search_dim) // int(dim)))


def bounds_quantities(n: int) -> tuple:
    """[-mu_i (N), L_ij (N(N - 1), row-major, i != j), -gamma, beta]: sgn.Sampled's order."""
    own = [("lambda_min", i, i) for i in range(n)]
    coupling = [("norm", i, j) for i in range(n) for j in range(n) if i != j]
    return tuple(own + coupling + [("lambda_min", None, None), ("norm", None, None)])


def screen_points(game: Game, samples: int, seed: int) -> np.ndarray:
    """The centre, box vertices and a Sobol set, as sgn.Sampled draws them (uniform points past
    the 21,201 dimensions scipy's Sobol sequence has)."""
    if game.dim <= 21201:
        return sample_points(game.region, samples, seed)
    rng = np.random.default_rng(seed)
    unit = np.vstack([np.full((1, game.dim), 0.5),
                      rng.integers(0, 2, size=((samples - 1) // 4, game.dim)),
                      rng.random((samples - 1 - (samples - 1) // 4, game.dim))])
    return game.region.low + unit * game.region.width


# --- the operators at a point --------------------------------------------------------------------
# One program serves every quantity: a quantity is (kind, row mask, column mask) over the joint
# vector, so blocks are arguments, not shapes, and a game compiles four programs (screen,
# measure, gradient) whatever its players. Vectors live in R^d with exact zeros outside their
# block: products with the masks keep them there, so the Krylov space never leaves the block.

def _masks(game, quantities):
    """(kinds (Q,) 0 = lambda_min / 1 = norm, row masks (Q, d), column masks (Q, d))."""
    def mask(block):
        m = np.zeros(game.dim)
        m[slice(None) if block is None else slice(*game.offsets[block:block + 2])] = 1.0
        return m

    kinds = np.array([0 if kind == "lambda_min" else 1 for kind, _, _ in quantities])
    return (kinds, np.stack([mask(r) for _, r, _ in quantities]),
            np.stack([mask(c) for _, _, c in quantities]))


def _operator(game, x, scale, kind, mask_r, mask_c):
    """(G, B) at x for one quantity, B = mask_r D J(x) D^-1 mask_c (D = diag(scale)) from one
    linearisation of F (its residuals computed once, reused by every product):
    G = -sym(B) for kind 0 (its largest eigenvalue is -lambda_min(sym B)), G = B^T B for kind 1
    (sigma_max(B)^2); each G v costs one jvp and one vjp. Returns (G, B, B^T)."""
    _, jvp = jax.linearize(game.pseudo_gradient, x)
    vjp = jax.linear_transpose(jvp, x)

    def B(v):
        return mask_r * (jvp(mask_c * v / scale) * scale)

    def Bt(u):
        return mask_c * (vjp(mask_r * u * scale)[0] / scale)

    def G(v):
        Bv = B(v)
        back = Bt(jnp.where(kind == 0, v, Bv))
        return jnp.where(kind == 0, -0.5 * (Bv + back), back)

    return G, B, Bt


def _measure(game, x, scale, kind, mask_r, mask_c, v0, key, iterations, restarts, rtol):
    """(badness, residual, Krylov vector, a, b) of one quantity at x: badness = a^T J(x) b for
    the Krylov vectors (the fixed-vector quotient the search climbs), the residual the Ritz
    residual of the eigen- or singular pair (sgn/_krylov.py)."""
    G, B, _ = _operator(game, x, scale, kind, mask_r, mask_c)
    v0 = mask_c * v0
    found = smallest_eigenvalue(lambda v: -G(v), v0, iterations, key, restarts=restarts,
                                rtol=rtol, mask=mask_c)
    y = found.vector
    By = B(y)
    sigma = jnp.linalg.norm(By)
    positive = sigma > 0
    u = jnp.where(positive, By / jnp.where(positive, sigma, 1.0), 0.0)
    # The singular triplet's residual ||B^T u - sigma y|| / sqrt 2 without another product:
    # B^T u = G y / sigma, and sigma^2 = y^T G y (both = ||B y||^2), so it is the eigenpair's
    # residual ||G y - theta y|| over sigma sqrt 2 (sgn/_krylov.py, module doc).
    singular_residual = jnp.where(positive, found.residual / jnp.where(positive, sigma, 1.0),
                                  0.0) / jnp.sqrt(2.0)
    eigen = kind == 0
    badness = jnp.where(eigen, -found.value, sigma)
    residual = jnp.where(eigen, found.residual, singular_residual)
    a = jnp.where(eigen, -y, u) * scale
    return badness, residual, y, a, y / scale


def _screen_program(iterations):
    """values(xs (B, d), scale, kind, mask_r, mask_c, key, q) -> (B,): quantity q's badness at
    every point with `iterations` Lanczos steps, no restart (lower estimates). One quantity per
    call, so that one compiled program serves the bounds pass and the metric pass (their
    numbers of quantities differ: a program over all of them compiled once for each, about a
    third of a small game's cold run)."""
    def make(game):
        def one(x, scale, kind, mask_r, mask_c, key, q):
            key = jax.random.wrap_key_data(key)     # raw key data: exportable (shipping)
            k = jax.random.fold_in(key, q)
            v0 = jax.random.normal(jax.random.fold_in(k, 7), (game.dim,))
            return _measure(game, x, scale, kind, mask_r, mask_c, v0, k, iterations, 0, 0.0)[0]

        return jax.vmap(one, in_axes=(0, None, None, None, None, None, None))
    return make


def _point_program(iterations):
    """measure(x, scale, kind, mask_r, mask_c, v0, key, restarts, rtol) -> (badness, residual,
    vector, a, b): `iterations` Lanczos steps from v0, restarted up to `restarts` times until
    the residual is within rtol (both traced: one program for quick and converged runs)."""
    def make(game):
        def measure(x, scale, kind, mask_r, mask_c, v0, key, restarts, rtol):
            key = jax.random.wrap_key_data(key)
            return _measure(game, x, scale, kind, mask_r, mask_c, v0, key, iterations,
                            restarts, rtol)
        return measure
    return make


def _gradient_program(game):
    """grad(x, a, b): the gradient in x of a^T J(x) b with a, b fixed (the Krylov vectors'
    Rayleigh quotient): one more product, differentiated."""
    def value(x, a, b):
        return jnp.vdot(a, jax.jvp(game.pseudo_gradient, (x,), (b,))[1])

    return jax.grad(value)


# --- the search ------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Found:
    values: np.ndarray           # (Q,) worst badness measured (converged runs)
    residuals: np.ndarray        # (Q,) Ritz residual there
    search: np.ndarray           # (Q,) search allowance
    where: np.ndarray            # (Q, d)
    points: np.ndarray           # the points evaluated (screen, then search ends)
    evaluated: int               # linearisations (points where products were taken)
    products: int                # Lanczos runs (screen and converged)
    batch: int
    starts: int = 0              # searches per quantity
    evaluations: tuple = ()      # (Q,) search evaluations used per quantity (all its starts)
    max_evaluations: int = 0     # the cap per search
    search_iterations: int = 0   # Lanczos steps per search evaluation

    @property
    def allowances(self) -> np.ndarray:
        return self.residuals + self.search

    def record(self, estimator: MatrixFree, quantities, n: int) -> dict:
        """What the estimator record says about the Krylov part."""
        names = ([f"curvature[{i + 1}]" for i in range(n)]
                 + [f"coupling[{i + 1},{j + 1}]" for i in range(n) for j in range(n) if i != j]
                 + ["euclidean_margin", "lipschitz"])
        return {
            "estimates": "Krylov values approach each extreme from inside the spectrum; each "
                         "bound is pushed past the worst value measured by its Ritz residual "
                         "(some eigenvalue lies within it, not necessarily the extreme one) "
                         "plus the local search's spread: estimates, not proofs",
            "screen_iterations": estimator.screen_iterations,
            "iterations": estimator.iterations, "restarts": estimator.restarts,
            "rtol": estimator.rtol, "screen_points": int(len(self.points)),
            "batch": self.batch, "lanczos_runs": self.products,
            "search_iterations": self.search_iterations,
            "search": {"starts": self.starts, "max_evaluations": self.max_evaluations,
                       "evaluations": dict(zip(names, (int(e) for e in self.evaluations)))},
            "residuals": dict(zip(names, self.residuals.tolist())),
            "search_allowances": dict(zip(names, self.search.tolist())),
        }


def _batch_size(game, estimator: MatrixFree, n_quantities: int) -> int:
    """Screen points per vmapped batch: the batch's Krylov bases and linearisations (a few
    copies of x per point, counted generously) must fit `batch_bytes`."""
    budget = estimator.batch_bytes
    if budget is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = 4 * 2**30
        budget = min(free // 16, 2**30)
    per_point = 8 * game.dim * (estimator.screen_iterations + 2 + BATCH_COPIES)
    return int(max(1, min(MAX_BATCH, budget // per_point)))


#: Copies of the joint vector counted per screen point besides the Krylov basis: the
#: linearisation's residuals (activations of an MLP game are a few times its parameters) and
#: the products' temporaries.
BATCH_COPIES = 16

#: Most screen points in one batch (more gains nothing on a few cores).
MAX_BATCH = 64


def _extremes(game, estimator: MatrixFree, quantities, scale, points, progress, kind) -> _Found:
    """Each quantity's worst badness over the screen, refined by local search, with its
    Ritz residual and search allowance. Screen batches and searches are independent tasks,
    run here or on `estimator.executor` (sgn/_matrix_free_ship.py), with the same results."""
    d, Q = game.dim, len(quantities)
    scale = np.ones(d) if scale is None else np.asarray(scale, dtype=np.float64)
    kinds, masks_r, masks_c = _masks(game, quantities)
    steps = search_iterations(estimator, d)

    def point(iterations):
        return compiled(game, ("pseudo_gradient",), ("matrix-free", "point", iterations),
                        _point_program(iterations))

    programs = Programs(
        compiled(game, ("pseudo_gradient",),
                 ("matrix-free", "screen", estimator.screen_iterations),
                 _screen_program(estimator.screen_iterations)),
        point(estimator.iterations),
        compiled(game, ("pseudo_gradient",), ("matrix-free", "gradient"), _gradient_program),
        # the search's short cycles: the converged program itself when they are as long
        None if steps == estimator.iterations else point(steps))
    batch = min(_batch_size(game, estimator, Q), len(points))
    max_evaluations = search_steps(estimator, d)
    task = _Task(programs, scale, kinds, masks_r, masks_c,
                 np.asarray(jax.random.key_data(jax.random.key(estimator.seed))),
                 game.region.low, game.region.width, int(estimator.restarts),
                 float(estimator.rtol), max_evaluations)
    executor = estimator.executor
    if executor is not None:
        measure_args = (scale, scale, kinds[0], masks_r[0], masks_c[0], scale, task.key,
                        np.int64(task.restarts), np.float64(task.rtol))
        task = dataclasses.replace(task, work=programs.ship(
            (np.zeros((batch, d)), scale, kinds[0], masks_r[0], masks_c[0], task.key,
             np.int64(0)),
            measure_args, (scale, scale, scale), measure_args))
    # 1. The screen, in batches padded to one shape (one compiled program).
    chunks = []
    for start in range(0, len(points), batch):
        chunk = points[start:start + batch]
        chunks.append(np.vstack([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)]))
    values = np.vstack(_run(executor, _screen_task, [(task, c) for c in chunks], progress,
                            f"screening {kind} (matrix-free)"))[:len(points)]
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise not_finite_error(points[int(np.flatnonzero(bad)[0])])
    products = len(points) * Q
    # 2. Converged runs at each quantity's worst screen points, and the search from them
    # (start vectors drawn here, in a fixed order, before any search runs).
    starts = max(1, min(estimator.refine_starts, len(points)))
    order = np.argsort(-values, axis=0, kind="stable")[:starts]        # (starts, Q)
    rng = np.random.default_rng(estimator.seed)
    jobs = [(task, q, points[order[s, q]], rng.standard_normal(d))
            for q in range(Q) for s in range(starts)]
    trails = _run(executor, _search_task, jobs, progress,
                  f"refining {kind} extremes (matrix-free)")
    _converge_ends(executor, task, trails, Q, starts, progress, kind)
    best = np.full(Q, -np.inf)
    best_res, best_at = np.zeros(Q), np.repeat(points[:1], Q, axis=0)
    ends, first = np.full((Q, starts), -np.inf), np.full(Q, -np.inf)
    visited, evaluated, used = [], len(points), np.zeros(Q, dtype=int)
    for k, trail in enumerate(trails):
        q, s = divmod(k, starts)
        evaluated += trail.evaluations
        products += trail.evaluations
        used[q] += trail.evaluations
        first[q] = max(first[q], trail.start_value)
        ends[q, s] = trail.value
        visited.append(trail.x)
        if trail.converged and trail.value > best[q]:
            best[q], best_res[q], best_at[q] = trail.value, trail.residual, trail.x
    if not np.isfinite(best).all():
        raise not_finite_error(best_at[int(np.flatnonzero(~np.isfinite(best))[0])])
    search = (search_allowance(ends, first) if estimator.refine_steps > 0
              else np.zeros(Q))
    return _Found(best, best_res, search, best_at,
                  np.vstack([points, np.asarray(visited).reshape(-1, d)]), evaluated, products,
                  batch, starts, tuple(used.tolist()), max_evaluations, steps)


def _converge_ends(executor, task, trails, Q, starts, progress, kind) -> None:
    """Run to convergence (full cycles, restarted to rtol) the search ends that can be a
    quantity's worst: first each quantity's highest end, then every other end whose value plus
    its Ritz residual reaches that converged value (some eigenvalue lies within the residual,
    so such an end might converge past it). The others keep their one-cycle values: lower
    estimates of their own extremes, which can only widen the spread of the ends, the search
    allowance (sgn._bounds.search_allowance), never narrow it. Converging every end cost up
    to 7 full cycles per search on clustered extremes (d = 1e5: most of the run).
    Updates `trails` in place."""
    def converge(picks, what):
        done = _run(executor, _converge_task,
                    [(task, q, trails[q * starts + s]) for q, s in picks], progress, what)
        for (q, s), trail in zip(picks, done):
            trails[q * starts + s] = trail

    values = np.array([t.value for t in trails]).reshape(Q, starts)
    top = [(q, int(np.argmax(values[q]))) for q in range(Q) if np.isfinite(values[q]).any()]
    converge(top, f"converging {kind} extremes (matrix-free)")
    rest = []
    for q, s_top in top:
        reached = trails[q * starts + s_top].value
        rest += [(q, s) for s in range(starts)
                 if s != s_top and np.isfinite(values[q, s])
                 and values[q, s] + trails[q * starts + s].residual >= reached]
    if rest:
        converge(rest, f"converging {kind} extremes (matrix-free)")


@dataclasses.dataclass(frozen=True)
class _Task:
    """What a screen batch or a search needs besides its own points: the programs (bound
    here, or shipped) and the quantities' arrays, all plain data."""

    work: object
    scale: np.ndarray
    kinds: np.ndarray
    masks_r: np.ndarray
    masks_c: np.ndarray
    key: np.ndarray            # raw PRNG key data
    low: np.ndarray
    width: np.ndarray
    restarts: int
    rtol: float
    refine_steps: int          # most evaluations per search (`search_steps`)


def _screen_task(task: _Task, chunk: np.ndarray) -> np.ndarray:
    """Every quantity's screen value at a batch of points, (B, Q)."""
    programs = programs_of(task.work)
    xs = jnp.asarray(chunk)
    return np.stack([np.asarray(programs.screen(xs, task.scale, task.kinds[q], task.masks_r[q],
                                                task.masks_c[q], task.key, np.int64(q)))
                     for q in range(len(task.kinds))], axis=1)


def _search_task(task: _Task, q: int, x0: np.ndarray, v0: np.ndarray) -> _Trail:
    """One local search of quantity q from x0 (`_climb`)."""
    programs = programs_of(task.work)
    kind, mask_r, mask_c = task.kinds[q], task.masks_r[q], task.masks_c[q]
    rtol = np.float64(task.rtol)

    def measure(x, v):
        # The search's runs are one cycle each (of search_iterations steps: the `step`
        # program), warm-started from the previous point's Krylov vector, so they keep
        # converging along the way (one consistent kind of value for L-BFGS-B to compare);
        # the ends that can be the worst are then restarted with full cycles until the
        # residual is within rtol (`_converge_ends`). (Restarting every run cost up to 7
        # cycles per step where one cycle cannot reach rtol: a clustered extreme, such as a
        # large diagonal own block.)
        return (programs.step or programs.measure)(x, task.scale, kind, mask_r, mask_c, v,
                                                   task.key, np.int64(0), rtol)

    return _climb(measure, programs.gradient, x0, v0, task.refine_steps, task.low, task.width)


def _converge_task(task: _Task, q: int, trail: _Trail) -> _Trail:
    """A search's best point measured to convergence: full cycles from its own Krylov vector,
    restarted until the residual is within rtol (the value can only grow: the restarted space
    contains that vector)."""
    programs = programs_of(task.work)
    value, residual = (float(v) for v in programs.measure(
        jnp.asarray(trail.x), task.scale, task.kinds[q], task.masks_r[q], task.masks_c[q],
        jnp.asarray(trail.vector), task.key, np.int64(task.restarts),
        np.float64(task.rtol))[:2])
    if not value >= trail.value:
        value, residual = trail.value, trail.residual
    return dataclasses.replace(trail, value=value, residual=residual,
                               evaluations=trail.evaluations + 1, converged=True)


def _run(executor, fn, jobs, progress, what):
    """fn(*job) for every job, in order: here (with progress), or on the executor (all
    submitted at once, gathered in submission order)."""
    if executor is None:
        results = []
        for k, job in enumerate(jobs):
            if progress:
                progress(k, len(jobs), what)
            results.append(fn(*job))
    else:
        futures = [executor.submit(fn, *job) for job in jobs]
        results = [f.result() for f in futures]
    if progress:
        progress(len(jobs), len(jobs), what)
    return results


class _Stalled(Exception):
    """A search's best value stopped rising (STALL_EVALUATIONS, STALL_RTOL)."""


@dataclasses.dataclass
class _Trail:
    x: np.ndarray
    value: float
    residual: float
    start_value: float
    evaluations: int
    vector: np.ndarray = None    # the Krylov vector at x (a converged run starts from it)
    converged: bool = False


def _climb(measure, gradient, x0, v0, max_evaluations, low, width) -> _Trail:
    """Ascend one quantity's badness from x0 to a local extreme: L-BFGS-B in box coordinates
    (as sgn.Sampled's search, with its tolerances), each evaluation a Lanczos cycle at x
    (warm-started from the previous point's Krylov vector) giving the value and the vectors
    (a, b), and the gradient of a^T J(x) b with the vectors fixed (for a simple extreme, the
    extreme's own gradient). The best point measured is kept, whatever the optimiser reports
    (every value is a Krylov measurement, inside the spectrum), with its Krylov vector, from
    which `_converge_task` measures it to convergence if it can be the worst end.

    Why a search that runs to a local extreme: the allowance added to each bound is the spread
    of the searches' ends (`search_allowance`), which says how far apart the local extremes
    lie only when the searches reach them. The fixed eight-step ascent used before stopped
    short of them; a fresh seed's search, stopping short elsewhere, then beat stored bounds on
    most seeds (benchmarks/README.md, "Matrix-free verify with fresh seeds").
    """
    x0 = np.asarray(x0, dtype=np.float64)
    safe = np.where(width > 0, width, 1.0)
    state = {"vector": jnp.asarray(v0), "x": x0, "value": -np.inf, "residual": 0.0,
             "start": None, "evaluations": 0, "bests": []}

    def negated(z):
        bests = state["bests"]
        if (len(bests) > STALL_EVALUATIONS and bests[-1] - bests[-1 - STALL_EVALUATIONS]
                <= STALL_RTOL * max(1.0, abs(bests[-1]))):
            raise _Stalled
        x = low + np.clip(z, 0.0, 1.0) * width
        state["evaluations"] += 1
        value, residual, vector, a, b = measure(jnp.asarray(x), state["vector"])
        value = float(value)
        if state["start"] is None:
            state["start"] = value
        if not np.isfinite(value):
            return np.finfo(np.float64).max / 4, np.zeros_like(x)
        state["vector"] = vector
        if value > state["value"]:
            state.update(x=x, value=value, residual=float(residual), best_vector=vector)
        bests.append(state["value"])
        g = np.asarray(gradient(jnp.asarray(x), a, b), dtype=np.float64) * width
        if not np.isfinite(g).all():
            return -value, np.zeros_like(x)
        return -value, -g

    if max_evaluations > 0:
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            try:
                scipy.optimize.minimize(
                    negated, np.clip((x0 - low) / safe, 0.0, 1.0), jac=True,
                    method="L-BFGS-B", bounds=scipy.optimize.Bounds(0.0, 1.0),
                    options={"maxfun": max_evaluations, "maxiter": max_evaluations,
                             "ftol": SEARCH_FTOL, "gtol": SEARCH_GTOL})
            except _Stalled:
                pass
    else:
        negated((x0 - low) / safe)
    start = state["start"] if state["start"] is not None else -np.inf
    vector = state.get("best_vector")
    return _Trail(state["x"], state["value"], state["residual"], start, state["evaluations"],
                  None if vector is None else np.asarray(vector))
