"""Curvature, coupling, Euclidean margin and Lipschitz bounds on the region (docs/method.md).

    estimate_bounds(game)                 ->  Bounds        mu_i, L_ij, gamma, beta(1)
    estimate_in_metric(game, metric, bounds)   ->  MetricBounds  beta, margin in the metric
    estimate_contraction(game, metric, bounds, steps)  ->  ContractionBounds
                                                  Euler factors at two steps, Jacobian spread

Both passes run the same engine: every quantity is written as a "badness" to maximise
(-mu_i, L_ij, -gamma, beta, ...), each -lambda_min or ||.||_2 of a matrix taken from the
Jacobians. The sample points' Jacobians are evaluated in jit-compiled vmapped rounds and each
quantity keeps its worst few points; a Cholesky test proves most points below the worst so far,
so only the rest are solved exactly (sgn/_screening.py). A short projected local search from
the worst points then pushes each extreme further, since plain sampling under-covers the true
inf and sup.

When the Jacobian provably does not depend on x (see Game.has_constant_jacobian), one
evaluation gives the exact bounds; they are widened by a rounding allowance and called exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import threadpoolctl

from . import _config, _screening
from ._errors import GameDefinitionError
from ._game import Game
from ._metric import as_metric
from ._result import Result
from ._sampling import sample_points
from ._screening import Family
from ._shared import compiled

#: Most local-search starts in one refinement (all quantities together): past this, starts go
#: to the curvatures, the Euclidean margin and Lipschitz first, then to the couplings.
MAX_REFINE_STARTS = 512

#: The local search is L-BFGS-B (scipy) in box coordinates. It stops at a local extreme: when
#: a step changes the value by less than SEARCH_FTOL relative, or the projected gradient falls
#: below SEARCH_GTOL (per unit of box width), or after the evaluation budget (REFINE_STEPS).
#: On the smooth games measured it converges in one to two hundred evaluations, where the
#: plain projected ascent used before stopped far short of the extreme (benchmarks/README.md,
#: "Sampled bounds").
SEARCH_FTOL = 1e-12
SEARCH_GTOL = 1e-9

Progress = Callable[[int, int, str], None]


@dataclasses.dataclass(frozen=True)
class Sampled:
    """Bounds from samples plus local search: estimates, never proofs (verified = False).

    Attributes:
        samples, seed: how many points of the region are sampled, and from which seed.
        refine_steps: most evaluations of each local search (0: no search and no allowance,
            the sample extremes as they are; for tests and benchmarks of the sampler).
        refine_starts: local searches per quantity, from its worst sample points.
    """

    samples: int = _config.DEFAULT_SAMPLES
    seed: int = _config.DEFAULT_SEED
    refine_steps: int = _config.REFINE_STEPS
    refine_starts: int = _config.REFINE_STARTS
    name = "sampled"
    #: Metric margins are values measured at points: one below SGN's margin shows that the
    #: bounds missed an extreme (sgn.Verified's are enclosures instead).
    measures_points = True

    def bounds(self, game: Game, *, progress: Progress | None = None) -> Bounds:
        """mu_i, L_ij, gamma and beta(1) on game.region (`estimate_bounds`)."""
        return estimate_bounds(game, method=self, progress=progress)

    def in_metric(self, game: Game, metric, bounds: Bounds, *,
                  progress: Progress | None = None) -> MetricBounds:
        """beta and the margin in `metric` (`estimate_in_metric`)."""
        return estimate_in_metric(game, metric, bounds, method=self, progress=progress)

    def contraction(self, game: Game, metric, bounds: Bounds, steps, *,
                    progress: Progress | None = None) -> ContractionBounds:
        """Euler factors at `steps` and the Jacobians' spread (`estimate_contraction`)."""
        return estimate_contraction(game, metric, bounds, steps, method=self,
                                    progress=progress)


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
        allowances: how far each bound was moved past the extreme value measured, in the
            pessimistic direction (same keys and shapes as the bounds): the search allowance
            of sampled bounds (`search_allowance`), the rounding allowance of exact ones.
        search: the local search behind sampled bounds: {"starts": per quantity,
            "max_evaluations": per start} (empty for exact bounds).
        proof: what proved bounds rest on, for the certificate (sgn.Verified's run record;
            None for sampled and exact bounds; not serialised).
        estimator_record: entries the estimator adds to the certificate's estimator record
            (sgn.MatrixFree: how the Jacobian was read, its iterations and residuals).
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
    allowances: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)
    search: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)
    proof: object = dataclasses.field(repr=False, compare=False, default=None)
    estimator_record: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)


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
        allowances: {"lipschitz", "margin"}: how far each was moved past the value measured
            (see Bounds.allowances).
        proof: the pass's record when the values are proved (sgn.Verified's `PassRecord`;
            None otherwise; not serialised).
    """

    lipschitz: float
    margin: float
    margin_point: np.ndarray
    evaluated: int
    allowances: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)
    proof: object = dataclasses.field(repr=False, compare=False, default=None)


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
    method = search_plan(game, method)
    n = game.n_players
    if game.has_constant_jacobian:
        points = game.region.centre[None, :]
        worst, where, allowances, evaluated = _exact_extremes(game, "bounds", _bounds_families,
                                                              None, points)
        name, exact = "exact", True
    else:
        points = sample_points(game.region, method.samples, method.seed)
        worst, where, allowances, evaluated, refined = _search_extremes(
            game, "bounds", _bounds_families, None, points, method, progress,
            priority=_bounds_priority(n),
        )
        points = np.concatenate([points, refined])
        name, exact = "sampled", False
    mu, L, gamma, beta = _unpack_bounds(worst, n)
    allow_mu, allow_L, allow_gamma, allow_beta = _unpack_bounds(allowances, n)
    allowances = {"curvature": -allow_mu, "coupling": allow_L, "euclidean_margin": -allow_gamma,
                  "lipschitz": allow_beta}
    coupling_at = np.repeat(where[:1], n * n, axis=0).reshape(n, n, -1)
    coupling_at[~np.eye(n, dtype=bool)] = where[n:n + n * (n - 1)]
    locations = {"curvature": where[:n], "coupling": coupling_at,
                 "euclidean_margin": where[-2], "lipschitz": where[-1]}
    search = {} if exact else {"starts": method.refine_starts if method.refine_steps > 0 else 0,
                               "max_evaluations": method.refine_steps}
    return Bounds(mu, L, gamma, beta, name, exact, method.samples, method.seed, evaluated, points,
                  locations, allowances, search, estimator_record=dict(game.estimator_notes))


def estimate_in_metric(game: Game, metric, bounds: Bounds, *,
                       method: Sampled | None = None,
                       progress: Progress | None = None) -> MetricBounds:
    """beta and the margin in `metric` (a metric object, or block weights w for
    game.metric(w)), on the points `bounds` used, then refined."""
    method = search_plan(game, method or Sampled(samples=bounds.samples, seed=bounds.seed))
    metric = as_metric(game, metric)
    if bounds.exact:
        worst, where, allowances, evaluated = _exact_extremes(game, "metric", _metric_families,
                                                              metric, bounds.points)
    else:
        worst, where, allowances, evaluated, _ = _search_extremes(
            game, "metric", _metric_families, metric, bounds.points, method, progress,
            priority=np.array([0, 1]),
        )
    return MetricBounds(float(worst[0]), float(-worst[1]), where[1], evaluated,
                        {"lipschitz": float(allowances[0]), "margin": float(allowances[1])})


@dataclasses.dataclass(frozen=True)
class ContractionBounds(Result):
    """What the direct step certificates rest on, in the metric (docs/method.md, section 7).

    Attributes:
        steps: the Euler steps h measured (ascending).
        euler_factors: per step h, an upper bound on sup_x ||I - h A(x)||_2 over the region,
            A = M^1/2 J_step M^-1/2: the per-step factor of projected Euler at h.
        spread: an upper bound on sup_x ||A(x) - A_c||_2, A_c the scaled Jacobian at `centre`
            (what the direct RK4 bound needs, docs/rk4.md).
        centre: where A_c is taken.
        evaluated: Jacobians evaluated.
        allowances: {"euler_factors", "spread"}: how far each was moved past the value measured.
    """

    steps: np.ndarray
    euler_factors: np.ndarray
    spread: float
    centre: np.ndarray
    evaluated: int
    allowances: dict = dataclasses.field(repr=False, compare=False, default_factory=dict)


def estimate_contraction(game: Game, metric, bounds: Bounds, steps, *,
                         method: Sampled | None = None,
                         progress: Progress | None = None) -> ContractionBounds:
    """sup_x ||I - h A(x)||_2 at each of the (two) Euler steps h, and the spread of A around
    its value at the region's centre, on the points `bounds` used, then refined."""
    method = search_plan(game, method or Sampled(samples=bounds.samples, seed=bounds.seed))
    metric = as_metric(game, metric)
    steps = np.sort(np.asarray(steps, dtype=np.float64))
    if steps.shape != (CONTRACTION_STEPS,):
        raise ValueError(f"give {CONTRACTION_STEPS} Euler steps")
    centre = game.region.centre
    A_c = metric.scale(np.asarray(game.bound_jacobians_fn(jnp.asarray(centre))[1]))
    params = (metric, steps, A_c)
    if bounds.exact:
        worst, _, allowances, evaluated = _exact_extremes(game, "contraction",
                                                          _contraction_families, params,
                                                          bounds.points)
    else:
        worst, _, allowances, evaluated, _ = _search_extremes(
            game, "contraction", _contraction_families, params, bounds.points, method,
            progress, priority=np.arange(CONTRACTION_STEPS + 1))
    return ContractionBounds(steps, worst[:-1], float(worst[-1]), centre, evaluated,
                             {"euler_factors": allowances[:-1], "spread": float(allowances[-1])})


def search_plan(game: Game, method: Sampled) -> Sampled:
    """`method` with its local search capped by the game's `search_limits` (starts, evaluations
    per start), when it has any: a large Markov game's plan (docs/fisher.md, "Scale"). What is
    returned is what runs, and so what the certificate records and the allowance rests on."""
    limits = game.search_limits
    if limits is None:
        return method
    starts, steps = limits
    return dataclasses.replace(method, refine_starts=min(method.refine_starts, int(starts)),
                               refine_steps=min(method.refine_steps, int(steps)))


# --- what is measured: badness vectors (each entry is maximised) -------------------------------
# A badness vector is a tuple of quantity families (sgn._screening.Family): each entry is
# -lambda_min of the symmetric part or ||.||_2 of one matrix taken from the Jacobians
# (J, J_step) at a point.

def _bounds_families(game):
    """[-mu_i (N), L_ij (N(N - 1), row-major, i != j), -gamma, beta] for game's layout.

    Blocks of unequal dims are padded to the largest, exactly: an own block B as diag(B, c I)
    with c its largest diagonal entry (>= lambda_min of B's symmetric part), a coupling block
    with zeros (same singular values plus zeros). One batched solve of each kind instead of one
    per block.
    """
    n, dims, K = game.n_players, game.dims, max(game.dims)
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    diagonal = np.arange(n)
    equal = len(set(dims)) == 1
    index = None if equal else _block_index(game, K)

    def blocks(xp, J, i, j):
        """Blocks J_{i[p] j[p]} as (..., P, K, K), zero-padded."""
        if equal:
            B = xp.swapaxes(J.reshape(*J.shape[:-2], n, K, n, K), -3, -2)
            return B[..., i, j, :, :]
        if xp is np:   # one gather (numpy pads slowly)
            flat = J.reshape(*J.shape[:-2], -1)
            flat = xp.concatenate([flat, xp.zeros_like(flat[..., :1])], axis=-1)  # the zero
            return xp.take(flat, index[i, j].ravel(), axis=-1).reshape(
                *J.shape[:-2], len(i), K, K)
        # compiled: padded slices (XLA fuses them; its gather was slower here)
        pad = [(0, 0)] * (J.ndim - 2)
        return xp.stack([xp.pad(J[(..., *game.block(a, b))],
                                pad + [(0, K - dims[a]), (0, K - dims[b])])
                         for a, b in zip(i, j)], axis=-3)

    def own(xp, J, _J_step, _params):
        B = blocks(xp, J, diagonal, diagonal)      # lambda_min reads the symmetric part
        if equal:
            return B
        fill = xp.max(xp.diagonal(B, axis1=-2, axis2=-1), axis=-1)        # (..., n)
        padding = np.stack([np.diag(np.arange(K) >= k).astype(float) for k in dims])
        return B + fill[..., None, None] * padding

    def coupling(xp, J, _J_step, _params):
        return blocks(xp, J, rows, cols)

    def margin(_xp, J, _J_step, _params):
        return J[..., None, :, :]           # lambda_min reads the symmetric part

    def lipschitz(_xp, _J, J_step, _params):
        return J_step[..., None, :, :]

    return (Family("lambda_min", n, own), Family("norm", n * (n - 1), coupling),
            Family("lambda_min", 1, margin, view=True), Family("norm", 1, lipschitz, view=True))


def _block_index(game, K: int) -> np.ndarray:
    """(N, N, K, K) positions of each block's entries in the flattened d x d Jacobian, d * d
    (one past the end: a zero) where a block is padded."""
    d, offsets = game.dim, game.offsets
    index = np.full((game.n_players, game.n_players, K, K), d * d)
    for i, di in enumerate(game.dims):
        for j, dj in enumerate(game.dims):
            r = offsets[i] + np.arange(di)
            c = offsets[j] + np.arange(dj)
            index[i, j, :di, :dj] = r[:, None] * d + c[None, :]
    return index


def _unpack_bounds(worst: np.ndarray, n: int):
    mu = -worst[:n]
    L = np.zeros((n, n))
    L[~np.eye(n, dtype=bool)] = worst[n:n + n * (n - 1)]
    return mu, L, float(-worst[-2]), float(worst[-1])


def _bounds_priority(n: int) -> np.ndarray:
    """Quantity order for refinement when starts are capped: mu, gamma, beta, couplings."""
    q = n + n * (n - 1)
    return np.concatenate([np.arange(n), [q, q + 1], np.arange(n, q)])


def _metric_families(_game):
    """[beta(w), -(metric margin)]: ||A||_2 and -lambda_min(sym A), A = M^{1/2} J M^{-1/2}
    (params = the metric, sgn._metric)."""
    def scaled(_xp, _J, J_step, metric):        # lambda_min reads the symmetric part
        return metric.scale(J_step)[..., None, :, :]

    return (Family("norm", 1, scaled), Family("lambda_min", 1, scaled))


#: Euler steps measured by the contraction pass: the recommended one and the largest.
CONTRACTION_STEPS = 2


def _contraction_families(_game):
    """[||I - h_k A||_2 for each step h_k, ||A - A_c||_2], A = M^{1/2} J_step M^{-1/2}
    (params = (metric, steps, A_c))."""
    def euler(xp, _J, J_step, params):
        metric, steps, _ = params
        A = metric.scale(J_step)[..., None, :, :]
        eye = xp.eye(A.shape[-1], dtype=A.dtype)
        return eye - steps[:, None, None] * A

    def spread(_xp, _J, J_step, params):
        metric, _, A_c = params
        return (metric.scale(J_step) - A_c)[..., None, :, :]

    return (Family("norm", CONTRACTION_STEPS, euler), Family("norm", 1, spread))


def _badness_for(families_for):
    """badness_for(game) -> badness((J, J_step), params): the families' exact values at a point."""
    def badness_for(game):
        families = families_for(game)

        def badness(jacobians, params):
            J, J_step = jacobians
            linalg = _Sequential()
            return jnp.concatenate([
                _screening.exact_values(f, f.matrices(jnp, J, J_step, params), linalg)
                for f in families])

        return badness

    return badness_for


def _quantity_for(families_for):
    """quantity_for(game) -> quantity((J, J_step), params, q): entry q of the badness alone.

    The local search climbs one entry at a time; computing only that entry's family, and in it
    only that matrix, spares the other eigen-solves and SVDs and their derivatives (one branch
    of a switch runs per call).
    """
    def quantity_for(game):
        families = families_for(game)
        offsets = np.cumsum([0] + [f.size for f in families])

        def branch(family, at):
            def value(J, J_step, params, q):
                M = family.matrices(jnp, J, J_step, params)
                M = jax.lax.dynamic_index_in_dim(M, q - at, axis=-3, keepdims=False)
                return _screening.exact_values(family, M, _Sequential())
            return value

        branches = [branch(f, int(at)) for f, at in zip(families, offsets)]

        def quantity(jacobians, params, q):
            J, J_step = jacobians
            which = jnp.searchsorted(jnp.asarray(offsets[1:]), q, side="right")
            return jax.lax.switch(which, branches, J, J_step, params, q)

        return quantity

    return quantity_for


class _Sequential:
    """Batched eigen-solves and SVDs, made to run one after another.

    jaxlib's CPU LAPACK kernels split a large batch over XLA's intra-op thread pool and wait
    for the pieces. When two such kernels are independent, XLA runs them at once, each holds
    a pool thread while waiting for pieces queued behind the other, and on a 2-core machine
    the program deadlocks (seen in the vmapped local search: benchmarks/README.md,
    "repro_refine_hang.py: a jaxlib CPU deadlock"). Tying each call's input to the previous
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

        1 x 1 and 2 x 2 have stable closed forms (no LAPACK call); LAPACK above. A solver
        written in plain jnp was tried for larger sides and dropped: it compiled far slower
        and the estimator gained nothing (benchmarks/README.md, "Earlier attempts").
        """
        k = M.shape[-1]
        if k == 1:
            return M[..., 0, 0]
        if k == 2:
            a, b, c = M[..., 0, 0], M[..., 0, 1], M[..., 1, 1]
            return 0.5 * (a + c) - jnp.hypot(0.5 * (a - c), b)
        self.last = jnp.linalg.eigvalsh(self._after(M))
        return self.last[..., 0]

    def norm2(self, A):
        """Largest singular value over the last two axes: closed forms for a row, a column
        or 2 x 2, LAPACK's SVD above."""
        if A.shape[-1] == 1 or A.shape[-2] == 1:
            return jnp.sqrt(jnp.sum(A * A, axis=(-2, -1)))  # no LAPACK call
        if A.shape[-2:] == (2, 2):
            # sigma_max = (hypot(a + d, c - b) + hypot(a - d, b + c)) / 2: no cancellation
            a, b, c, d = A[..., 0, 0], A[..., 0, 1], A[..., 1, 0], A[..., 1, 1]
            return 0.5 * (jnp.hypot(a + d, c - b) + jnp.hypot(a - d, b + c))
        self.last = jnp.linalg.svd(self._after(A), compute_uv=False)[..., 0]
        return self.last


# --- the engine ----------------------------------------------------------------------------------

def _exact_extremes(game: Game, kind: str, families_for, params, points):
    """Constant Jacobian: one evaluation, each quantity widened by its rounding allowance.

    Symmetric eigen-solves and SVDs are backward stable: a computed value is within
    c * n * eps * ||A||_F of the true one, A the n x n (scaled) matrix it was taken of. An
    exactly zero block has an exactly zero norm and gets no allowance.
    """
    J, J_step = (np.asarray(M) for M in game.bound_jacobians_fn(jnp.asarray(points[0])))
    if not (np.isfinite(J).all() and np.isfinite(J_step).all()):
        raise GameDefinitionError("the Jacobian is not finite (it is constant, so everywhere)")
    evaluate = compiled(game, (), (kind, "exact"), _badness_for(families_for))
    values = np.asarray(evaluate((jnp.asarray(J), jnp.asarray(J_step)), params))
    unit = _config.ROUNDING_SLACK_FACTOR * np.finfo(float).eps
    if kind == "bounds":
        n = game.n_players
        size = np.array([[np.linalg.norm(J[game.block(i, j)]) * max(game.dims[i], game.dims[j])
                          for j in range(n)] for i in range(n)])
        whole = np.linalg.norm(J) * game.dim
        allowance = np.concatenate([np.diag(size), size[~np.eye(n, dtype=bool)],
                                    [whole, np.linalg.norm(J_step) * game.dim]])
    elif kind == "metric":
        A = params.scale(J_step)
        allowance = np.full(values.size, np.linalg.norm(A) * game.dim)
    else:   # each quantity's own matrix
        allowance = np.concatenate([
            np.linalg.norm(f.matrices(np, J, J_step, params), axis=(-2, -1)) * game.dim
            for f in families_for(game)])
    allowance = unit * allowance
    # Forming A = M^1/2 J M^-1/2 itself rounds too: nothing to speak of for block weights (one
    # product per entry), but a dense block metric's two matrix products and its computed
    # square root add an error that grows with its condition number (BlockMatrix.
    # rounding_error). Each quantity moves by at most that error times its factor on A: 1 for
    # beta and the margin, the step h for ||I - h A||, 2 for the spread ||A - A_c||.
    metric = params if kind == "metric" else params[0] if kind == "contraction" else None
    extra = 0.0 if metric is None else metric.rounding_error(J_step)
    if extra > 0:
        factors = (np.ones(values.size) if kind == "metric" else
                   np.concatenate([params[1], [2.0]]))
        allowance = allowance + factors * extra
    where = np.repeat(points[:1], values.size, axis=0)
    return values + allowance, where, allowance, 1


def _search_extremes(game: Game, kind: str, families_for, params, points, method: Sampled,
                     progress: Progress | None, priority: np.ndarray):
    """Worst value of each badness entry over the points, refined by local search, plus its
    safety allowance.

    Returns (values (Q,) with the allowance added, argmax points (Q, d), allowances (Q,),
    evaluated count), and separately the refined points so callers can reuse them.
    """
    d = game.dim
    total = len(points)
    starts = max(1, min(method.refine_starts, total))
    vals, index, _ = _screening.worst_points(game, kind, families_for, params,
                                             points, starts, method.seed, progress)
    pts = points[np.where(index < total, index, 0)]   # (Q, starts, d)
    best_vals, best_pts = vals[:, 0].copy(), pts[:, 0].copy()

    if method.refine_steps <= 0:        # the sample extremes as they are: no search, no allowance
        return best_vals, best_pts, np.zeros_like(best_vals), total, np.empty((0, d))
    # Local search: (quantity, start) pairs, the most important quantities first.
    per_q = max(1, min(starts, MAX_REFINE_STARTS // len(priority)))
    chosen = priority[: max(1, MAX_REFINE_STARTS // per_q)]
    search = compiled(game, ("bound_jacobians",), (kind, "search"),
                      lambda g: _search_program(g, _quantity_for(families_for)(g)))
    low, width = game.region.low, game.region.width
    safe_width = np.where(width > 0, width, 1.0)
    sampled_best = best_vals.copy()
    ends = vals[:, :per_q].copy()          # quantities left out of the search: their samples
    refined_points, evaluated = [], total
    # L-BFGS-B's small dense algebra goes through BLAS, whose threads spin beside XLA's: on a
    # small machine that made each optimiser step far slower than the evaluation it follows
    # (benchmarks/README.md, "Sampled bounds"). One BLAS thread is plenty for d x m work.
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        for k, q in enumerate(chosen):
            if progress:
                progress(k, len(chosen), f"refining {kind} extremes")
            for start in range(per_q):
                z, f, used = _climb(search, (pts[q, start] - low) / safe_width, int(q),
                                    params, method.refine_steps)
                x = low + z * width
                ends[q, start] = f
                evaluated += used
                refined_points.append(x)
                if f > best_vals[q]:
                    best_vals[q], best_pts[q] = f, x
    if progress:
        progress(len(chosen), len(chosen), f"refining {kind} extremes")
    allowances = search_allowance(ends, sampled_best)
    return (best_vals + allowances, best_pts, allowances, evaluated,
            np.asarray(refined_points).reshape(-1, d))


def search_allowance(ends: np.ndarray, sampled_best: np.ndarray) -> np.ndarray:
    """How far past the worst value found each stored bound is pushed (docs/method.md,
    "Sampled bounds").

    `ends` (Q, K) are the values the local searches from K starts reached (for a quantity
    left out of the search, its K worst samples). The allowance is their spread: the best
    end minus the second lowest (the lowest is left out so that one search stranded on a
    flat or non-finite patch does not set it). Searches that all reach the same extreme give
    none; a landscape with many local extremes, where a new seed may well find a higher one,
    gives the spread the search itself saw. With fewer than three finite ends (one or two
    starts, or searches that met non-finite values), what the search gained over the best
    sample stands in for the spread.
    """
    finite = np.isfinite(ends)
    best = np.maximum(np.where(finite, ends, -np.inf).max(axis=1), sampled_best)
    second_lowest = np.sort(np.where(finite, ends, np.inf), axis=1)[:, min(1, ends.shape[1] - 1)]
    low = np.where(finite.sum(axis=1) >= 3, second_lowest, sampled_best)
    return np.maximum(best - low, 0.0)


def _search_program(game, quantity):
    """value_and_grad(z, q, params) of badness entry q in box coordinates z in [0, 1]^d."""
    low = jnp.asarray(game.region.low)
    width = jnp.asarray(game.region.width)

    def value_and_grad(z, q, params):
        def f(z):
            return quantity(game.bound_jacobians(low + z * width), params, q)

        return (jax.value_and_grad(f) if game.search_gradient == "autodiff"
                else _central_difference(f))(z)

    return value_and_grad


def _climb(value_and_grad, z0: np.ndarray, q: int, params, max_evaluations: int):
    """Ascend badness entry q from z0 until a local extreme: (best z, best value, evaluations).

    The best point evaluated is kept, whatever the optimiser reports: every value is a real
    measurement. A point where the game is not finite counts as a very bad ascent step, so the
    line search backs off from it.
    """
    best = [np.asarray(z0, dtype=np.float64), -np.inf]
    evaluations = [0]

    def negated(z):
        evaluations[0] += 1
        value, grad = value_and_grad(z, q, params)
        value, grad = float(value), np.asarray(grad, dtype=np.float64)
        if not (np.isfinite(value) and np.isfinite(grad).all()):
            return np.finfo(np.float64).max / 4, np.zeros_like(grad)
        if value > best[1]:
            best[0], best[1] = np.array(z, dtype=np.float64), value
        return -value, -grad

    scipy.optimize.minimize(
        negated, np.clip(z0, 0.0, 1.0), jac=True, method="L-BFGS-B",
        bounds=scipy.optimize.Bounds(0.0, 1.0),
        options={"maxfun": max_evaluations, "maxiter": max_evaluations, "ftol": SEARCH_FTOL,
                 "gtol": SEARCH_GTOL},
    )
    return best[0], best[1], evaluations[0]


def _central_difference(f, step: float = 1e-6):
    """value_and_grad of f: [0, 1]^d -> R by central differences (one vmapped batch of 2 d + 1
    evaluations), for games whose autodiff gradient costs too much to compile."""
    def value_and_grad(z):
        d = z.shape[0]
        E = step * jnp.eye(d, dtype=z.dtype)
        values = jax.vmap(f)(jnp.concatenate([z[None], z + E, z - E]))
        return values[0], (values[1:d + 1] - values[d + 1:]) / (2 * step)
    return value_and_grad
