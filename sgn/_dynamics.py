"""The dynamics a certificate speaks about, and where they go (docs/method.md, sections 6, 7).

    projected Euler   x+ = Pi(x - h F(x))
    RK4               classic four stages, projected at the end of the step
    flow              x' = -F(x), integrated by RK4 with small substeps (projected Euler
                      substeps for a constrained game)

Pi is the projection onto the box for a constrained game, and the identity for an analysis
region. For M(w) = blockdiag(w_i I) and a box, the M-projection is the coordinatewise clip.

find_equilibrium runs projected Euler on the box from its centre. That map is a contraction in
M(w) on the box (the bounds hold there), so it converges to the box's unique variational-
inequality solution x_hat. Any equilibrium inside the box is such a solution, so either
F(x_hat) = 0 (the equilibrium, found) or there is no equilibrium in the box at all.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from . import _config
from ._errors import GameDefinitionError
from ._game import Game
from ._metric import as_metric
from ._result import Result
from ._shared import compiled

METHODS = ("euler", "rk4", "flow")

#: Stop the equilibrium search when the a-posteriori error bound q/(1-q) ||x_{k+1} - x_k||_M
#: falls below this fraction of the smallest player's M-width (sqrt(w_i) times its narrowest
#: side): weights can span many decades, and a test on the whole M-diameter would stop before
#: the lightest players have settled. Near float64 resolution, not below it.
EQUILIBRIUM_XTOL = 1e-11

#: A residual ||F(x_hat)|| below this fraction of beta * (box diameter) counts as zero.
EQUILIBRIUM_FTOL = 1e-7

#: Most Euler iterations in the equilibrium search (one XLA while-loop; then Newton polishes).
MAX_ITERATIONS = 1_000_000


@dataclasses.dataclass(frozen=True)
class Equilibrium(Result):
    """Where the certified dynamics go.

    Attributes:
        x: the point (x* when found).
        residual: ||F(x)||_2 for an analysis region; ||x - Pi(x - F(x))||_2 for a
            constrained game (zero exactly at its equilibria, also on the boundary).
        found: True when x is an equilibrium inside the region.
        source: "found" (by the dynamics), "given" (by the game file) or "solved" (by the
            game itself, e.g. a Markov game's regularised equilibrium by NPG and Newton).
        iterations: Euler iterations used.
        error_bound: a-posteriori bound on ||x - x_hat||_M from the contraction (nan if given).
        message: what happened, in words.
    """

    x: np.ndarray
    residual: float
    found: bool
    source: str
    iterations: int
    error_bound: float
    message: str


@dataclasses.dataclass(frozen=True)
class Basin(Result):
    """Which starts the certificate covers.

    kind "box": every point of the strategy set (constrained game). kind "ball": the M(w)-ball
    {x : ||x - x*||_M <= metric_radius}, the largest inside the region; distances to x* shrink
    in M(w), so trajectories from it never leave it. `player_radii` gives a box-shaped reading
    of the same ball: every start with ||x_i - x_i*||_2 <= player_radii[i] for each player i
    is inside it (sum_i w_i r_i^2 = metric_radius^2). In the Fisher geometry the ball is taken
    in M(w) = blockdiag(w_i F_i(x*)) and player_radii in each player's norm ||.||_{F_i(x*)}.
    """

    kind: str
    metric_radius: float
    player_radii: np.ndarray


def projection(game: Game):
    """Pi: the clip onto the box for a constrained game, else the identity."""
    if not game.constrained:
        return lambda x: x
    low, high = jnp.asarray(game.region.low), jnp.asarray(game.region.high)
    return lambda x: jnp.clip(x, low, high)


def euler_step(game: Game, project=None):
    F, project = game.pseudo_gradient, project or projection(game)
    return lambda x, h: project(x - h * F(x))


def rk4_step(game: Game, project=None):
    F, project = game.pseudo_gradient, project or projection(game)

    def step(x, h):
        k1 = F(x)
        k2 = F(x - 0.5 * h * k1)
        k3 = F(x - 0.5 * h * k2)
        k4 = F(x - h * k3)
        return project(x - h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4))

    return step


def flow_step(game: Game, substeps: int):
    """The flow over time h: `substeps` RK4 steps of h / substeps on an analysis region, or
    projected Euler steps for a constrained game (the projected flow's discretisation whose
    fixed points are its equilibria; RK4 projected per step would rest elsewhere)."""
    inner = euler_step(game) if game.constrained else rk4_step(game)

    def step(x, h):
        return jax.lax.fori_loop(0, substeps, lambda _, y: inner(y, h / substeps), x)

    return step


def residual(game: Game, x) -> float:
    """||F(x)|| (analysis region) or the natural residual ||x - Pi(x - F(x))|| (constrained)."""
    F = np.asarray(game.field_fn(jnp.asarray(x)))
    if game.constrained:
        return float(np.linalg.norm(x - np.clip(x - F, game.region.low, game.region.high)))
    return float(np.linalg.norm(F))


def find_equilibrium(game: Game, metric, alpha: float, beta: float, *,
                     given=None) -> Equilibrium:
    """The equilibrium in the region, by certified projected Euler from the centre.

    Needs a certified (alpha > 0, beta) pair in `metric` (a metric object, or block weights w
    for game.metric(w)): the step alpha / beta^2 then contracts by q = sqrt(1 - alpha^2 /
    beta^2) per step on the box.
    """
    metric = as_metric(game, metric)
    lightest = float(np.min(np.sqrt(metric.diagonal) * np.where(game.region.width > 0, game.region.width,
                                                   np.inf)))
    lightest = lightest if math.isfinite(lightest) else 1.0
    ftol = EQUILIBRIUM_FTOL * beta * max(float(np.linalg.norm(game.region.width)), 1e-300)
    if given is not None:
        x = np.asarray(given, dtype=np.float64).reshape(-1)
        if x.size != game.dim:
            raise GameDefinitionError(f"the given equilibrium has {x.size} entries, not "
                                      f"{game.dim}")
        r = residual(game, x)
        inside = bool(((x >= game.region.low) & (x <= game.region.high)).all())
        ok = inside and r <= ftol
        if ok:
            msg = ("the equilibrium the game solved for (checked here)"
                   if game.equilibrium_source == "solved" else
                   "the equilibrium given by the game file")
        elif not inside:
            msg = "the equilibrium given by the game file lies outside the region"
        else:
            msg = f"the point the game file gives as equilibrium has residual {r:.3g}, not 0"
        return Equilibrium(x, r, ok, game.equilibrium_source, 0, math.nan, msg)

    h = alpha / beta**2
    q = math.sqrt(max(0.0, 1.0 - (alpha / beta) ** 2))
    factor = q / (1.0 - q) if q < 1 else math.inf
    x0 = jnp.asarray(game.region.centre)
    x, iterations, step_norm = (np.asarray(v) for v in _euler_until_small(game)(
        x0, h, metric, EQUILIBRIUM_XTOL * lightest / factor, MAX_ITERATIONS))
    error_bound = float(factor * step_norm)
    iterations = int(iterations)
    r = residual(game, x)
    if r > ftol and not game.constrained:
        # Rounding can stall Euler short of the tolerance when weights span many decades;
        # Newton from there settles it (and is checked by the residual like everything else).
        x, r = _newton_polish(game, x, r)
    if r <= ftol:
        where = "inside the region" if not game.constrained else "in the strategy set"
        return Equilibrium(x, r, True, "found", iterations, error_bound,
                           f"equilibrium found {where} by projected Euler in {iterations} "
                           f"step{'s' if iterations != 1 else ''}")
    if iterations >= MAX_ITERATIONS:
        return Equilibrium(x, r, False, "found", iterations, error_bound,
                           f"projected Euler did not settle in {iterations} steps (residual "
                           f"{r:.3g}); the contraction per step is too weak to find x* here")
    return Equilibrium(
        x, r, False, "found", iterations, error_bound,
        f"no equilibrium in the region: the dynamics settle on its boundary at a point where "
        f"||F|| = {r:.3g}; the equilibrium lies outside, so enlarge the region towards it",
    )


def _euler_until_small(game: Game):
    return compiled(game, ("pseudo_gradient",), "equilibrium", _euler_loop)


def _euler_loop(game):
    """run(x0, h, metric, stop, max_iter) for a Lifted game: projected Euler on the box until the
    M-step falls below `stop`."""
    step = euler_step(game, lambda x: jnp.clip(x, game.region.low, game.region.high))

    def run(x0, h, metric, stop, max_iter):
        def cond(state):
            k, _, dx = state
            return (k < max_iter) & (dx > stop)

        def body(state):
            k, x, _ = state
            x_new = step(x, h)
            return k + 1, x_new, metric.norm(x_new - x, jnp)

        k, x, dx = jax.lax.while_loop(cond, body, (0, x0, jnp.inf))
        return x, k, dx

    return run


def _newton_polish(game: Game, x, r):
    """A few Newton steps on F(x) = 0 from the last Euler iterate (analysis regions only).

    Sparse games solve J dx = F with their own compressed Jacobian (`newton_direction`); other
    large games (d above _config.MATRIX_FREE_DIM) by GMRES on Jacobian-vector products instead
    of forming J (the step is still checked by the residual)."""
    direction = getattr(game, "newton_direction", None)   # sparse games: no dense J
    large = game.dim > _config.MATRIX_FREE_DIM
    for _ in range(20):
        F = np.asarray(game.field_fn(jnp.asarray(x)))
        try:
            if direction is not None:
                dx = direction(x, F)
            elif large:
                dx = _newton_direction(game, x, F)
            else:
                dx = np.linalg.solve(np.asarray(game.jacobian_fn(jnp.asarray(x))), F)
        except np.linalg.LinAlgError:
            break
        if dx is None or not np.isfinite(dx).all():
            break
        x_new = x - dx
        if not ((x_new >= game.region.low) & (x_new <= game.region.high)).all():
            break
        r_new = residual(game, x_new)
        if not r_new < r:
            break
        x, r = x_new, r_new
    return x, r


def _newton_direction(game: Game, x, F):
    """J(x)^-1 F by GMRES on Jacobian-vector products (never a d x d matrix), or None when it
    does not converge."""
    import scipy.sparse.linalg as sla

    product = compiled(game, ("pseudo_gradient",), "newton_jvp",
                       lambda g: lambda x, v: jax.jvp(g.pseudo_gradient, (x,), (v,))[1])
    at = jnp.asarray(x)
    J = sla.LinearOperator((game.dim, game.dim), dtype=np.float64,
                           matvec=lambda v: np.array(product(at, jnp.asarray(v.ravel()))))
    dx, info = sla.gmres(J, F, rtol=1e-12, atol=0.0, restart=50, maxiter=20)
    return dx if info == 0 and np.isfinite(dx).all() else None


def basin(game: Game, metric, x_star) -> Basin:
    """The starts the certificate covers: the whole box, or the largest M-ball inside it
    (`metric` a metric object, or block weights w for game.metric(w))."""
    metric = as_metric(game, metric)
    w = metric.weights
    n = game.n_players
    if game.constrained:
        return Basin("box", math.inf, np.full(n, math.inf))
    # The ball {x : (x - x*)^T M (x - x*) <= r^2} reaches |x_k - x*_k| = r sqrt((M^-1)_kk) along
    # coordinate k; M = blockdiag(w_i I), or blockdiag(w_i F_i(x*)) in the Fisher geometry.
    room = (np.minimum(x_star - game.region.low, game.region.high - x_star)
            / np.sqrt(metric.inverse_diagonal(x_star)))
    per_player = np.array([room[a:b].min() for a, b in zip(game.offsets[:-1], game.offsets[1:])])
    radius = float(np.min(np.sqrt(w) * np.maximum(per_player, 0.0)))
    return Basin("ball", radius, radius / np.sqrt(n * w))
