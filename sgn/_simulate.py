"""Run the certified dynamics and hold them to the certificate's promises.

    simulate(game, cert, methods=("euler", "rk4", "flow"))  ->  Simulation

From K starts in the certified basin (the M-ball around x*, or the whole strategy set), each
method runs T steps in one batched, jit-compiled scan. Every step's contraction of the distance
to x* and of the distance between paired trajectories, both in M(w), is compared with the
certified factor: Euler q(h), RK4 q4(h), flow exp(-alpha h). A step that contracts less is a
violation; so is a trajectory that leaves the region the bounds hold on.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ._certificate import Certificate
from ._dynamics import METHODS, euler_step, flow_step, rk4_step
from ._errors import SGNError
from ._game import Game, _short
from ._result import Result
from ._shared import compiled
from ._steps import euler_factor, rk4_factor

#: Observed factors may exceed the certified one by this much before it counts: float64
#: rounding in a ratio of two norms, far below any real violation.
FACTOR_TOL = 1e-9

#: RK4 substep of the flow integrator, as a fraction of 1/beta: local error (h beta)^5 / 120
#: stays below 1e-12, so the integrator cannot fake a violation.
FLOW_SUBSTEP = 0.01

#: Projected Euler substep of the constrained flow, as a fraction of 1/beta: its certified
#: factor over a unit of time is within about 1e-3 relative of exp(-alpha).
PROJECTED_FLOW_SUBSTEP = 0.002


@dataclasses.dataclass(frozen=True)
class Run(Result):
    """One method's simulation against its certified factor.

    Attributes:
        method: "euler", "rk4" or "flow".
        step: h (for the flow: the time between observations).
        certified_factor: the per-step contraction the certificate promises at this h
            (None when it promises none: h outside the certified range).
        observed_factor: worst observed ||x_{k+1} - x*||_M / ||x_k - x*||_M.
        observed_pairwise_factor: worst observed ratio for distances between paired starts.
        final_ratio: worst ||x_T - x*||_M / ||x_0 - x*||_M.
        violations: each {start, step, kind, observed, certified, x0}; empty when kept.
        distances: ||x_k - x*||_M for every step and start, (T+1, K) (not serialised).
    """

    method: str
    step: float
    certified_factor: float | None
    observed_factor: float
    observed_pairwise_factor: float
    final_ratio: float
    starts: int
    steps: int
    violations: list
    distances: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclasses.dataclass(frozen=True)
class Simulation(Result):
    game: str
    equilibrium: np.ndarray
    weights: np.ndarray
    basin: str
    runs: list

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)


def simulate(game: Game, cert: Certificate, *, methods=None, step: float | None = None,
             starts: int = 16, steps: int = 200, seed: int = 0) -> Simulation:
    """Simulate `methods` from `starts` points of the basin and compare with `cert`.

    methods defaults to every method the certificate gives a step for (Euler and the flow
    always; RK4 unless the game is constrained, where RK4 is not proven).
    """
    if methods is None:
        methods = [m for m in METHODS if step is not None or m != "rk4"
                   or (cert.step_sizes or {}).get("rk4_recommended") is not None]
    eq = cert.equilibrium
    if eq is None or not eq.get("found"):
        raise SGNError("nothing to check: the certificate has no equilibrium "
                       f"({'; '.join(cert.reasons) or cert.status.value})")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SGNError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if starts < 2 or steps < 1:
        raise SGNError("simulate needs at least 2 starts and 1 step")
    x_star = np.asarray(eq["x"], dtype=np.float64)
    w = np.repeat(np.asarray(cert.weights, dtype=np.float64), game.dims)
    x0 = _starts(game, x_star, w, eq["basin"], starts, seed)
    alpha, beta = cert.margin, cert.bounds["lipschitz"]
    steps_table = cert.step_sizes or {}
    runs = []
    for method in methods:
        h = float(step) if step is not None else {
            "euler": steps_table.get("euler_recommended"),
            "rk4": steps_table.get("rk4_recommended"),
            "flow": steps_table.get("euler_recommended"),
        }[method]
        if h is None or not h > 0:
            raise SGNError("give --step H: the certificate has no step size to use")
        runs.append(_run(game, method, h, x0, x_star, w, alpha, beta, steps,
                         _x_star_error(game, x_star, w, alpha, eq)))
    if not runs:
        raise SGNError("no method to simulate")
    return Simulation(game.name, x_star, np.asarray(cert.weights), eq["basin"]["kind"], runs)


def _x_star_error(game: Game, x_star, w, alpha: float, eq: dict) -> float:
    """A bound on ||x* - true x*||_M: the search's own bound, or, from strong monotonicity,
    ||x - x*||_M <= ||W^{1/2} F(x)|| / alpha (analysis regions, where F(x*) = 0)."""
    bound = float(eq.get("error_bound") or 0.0)
    if not game.constrained and alpha > 0:
        F = np.asarray(game.field_fn(jnp.asarray(x_star)))
        bound = max(bound, float(np.linalg.norm(np.sqrt(w) * F)) / alpha)
    return bound


def flow_substeps(h: float, beta: float, constrained: bool) -> int:
    size = PROJECTED_FLOW_SUBSTEP if constrained else FLOW_SUBSTEP
    return max(4, math.ceil(h * beta / size))


def certified_factor(method: str, h: float, alpha: float, beta: float,
                     constrained: bool = False) -> float | None:
    """The per-step contraction the certificate promises, or None when it promises none.

    The constrained flow is simulated by projected Euler substeps, so the promise checked is
    that of those substeps, q(h/n)^n, which tends to exp(-alpha h) as n grows.
    """
    if method == "flow" and constrained:
        n = flow_substeps(h, beta, constrained)
        return euler_factor(h / n, alpha, beta) ** n
    if method == "flow":
        return math.exp(-alpha * h)
    if method == "rk4" and constrained:
        return None
    factor = (euler_factor if method == "euler" else rk4_factor)(h, alpha, beta)
    return factor if factor < 1.0 else None


def _starts(game: Game, x_star, w, basin: dict, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if basin["kind"] == "box":
        return game.region.low + rng.uniform(size=(k, game.dim)) * game.region.width
    # Random directions in the M-metric, radii spread over the ball (boundary included).
    z = rng.standard_normal((k, game.dim))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    radius = basin["metric_radius"] * (1.0 - 1e-12) * rng.uniform(0.05, 1.0, size=(k, 1))
    x = x_star + radius * z / np.sqrt(w)
    return np.clip(x, game.region.low, game.region.high)


def _run(game, method, h, x0, x_star, w, alpha, beta, steps, x_star_error) -> Run:
    substeps = flow_substeps(h, beta, game.constrained) if method == "flow" else 1
    trace = _compiled_trace(game, method, substeps)
    d, pair, inside = (np.asarray(a) for a in trace(
        jnp.asarray(x0), h, jnp.asarray(x_star), jnp.asarray(w), steps))
    # d: (T+1, K) distances to x*; pair: (T+1, K//2); inside: (T+1, K)
    certified = certified_factor(method, h, alpha, beta, game.constrained)
    # What a ratio of two measured distances can be off by, step by step: the error of x*
    # (for distances to it) and float64 rounding of the points (both), relative to the
    # distance measured. Steps where that noise could exceed FACTOR_TOL are not judged.
    rounding = 1e-15 * (np.sqrt(np.sum(w * x_star**2)) + d[0].max())
    noise = 2.0 * (x_star_error + rounding) / np.maximum(d[:-1], 1e-300)
    valid = (d[:-1] > 1e-6 * d[0][None, :]) & (noise < 1e-3)
    ratio = np.where(valid, d[1:] / np.where(valid, d[:-1], 1.0), 0.0)
    pair_noise = 2.0 * rounding / np.maximum(pair[:-1], 1e-300)
    pair_valid = (pair[:-1] > 1e-9 * pair[0][None, :]) & (pair_noise < 1e-3)
    pair_ratio = np.where(pair_valid, pair[1:] / np.where(pair_valid, pair[:-1], 1.0), 0.0)
    violations = []
    left = np.argwhere(~inside)
    for k, s in left[np.unique(left[:, 1], return_index=True)[1]]:
        violations.append({"start": int(s), "step": int(k), "kind": "left the region",
                           "observed": None, "certified": certified, "x0": x0[s].tolist()})
    if certified is not None:
        for kind, r, err in (("distance to x*", ratio, noise),
                             ("pairwise distance", pair_ratio, pair_noise)):
            bad = np.argwhere(r > certified + FACTOR_TOL + err)
            for k, s in bad[np.unique(bad[:, 1], return_index=True)[1]]:
                start = int(s) if kind == "distance to x*" else int(2 * s)
                violations.append({"start": start, "step": int(k), "kind": kind,
                                   "observed": float(r[k, s]), "certified": certified,
                                   "x0": x0[start].tolist()})
    return Run(method, h, certified, float(ratio.max()), float(pair_ratio.max()),
               float(np.max(d[-1] / np.maximum(d[0], 1e-300))), len(x0), steps, violations, d)


def _compiled_trace(game: Game, method: str, substeps: int):
    return compiled(game, ("pseudo_gradient",), ("simulate", method, substeps),
                    lambda g: _tracer(g, method, substeps), static_argnums=(4,))


def _tracer(game, method: str, substeps: int):
    """trace(x0, h, x_star, w, steps) for a Lifted game: distances to x* and pairwise along
    `steps` steps of `method`, and whether each point stayed in the box."""
    one = {"euler": lambda: euler_step(game), "rk4": lambda: rk4_step(game),
           "flow": lambda: flow_step(game, substeps)}[method]()
    low, high = game.region.low, game.region.high
    slack = 1e-12 * (1.0 + jnp.abs(low) + jnp.abs(high))

    def trace(x0, h, x_star, w, steps):
        def measure(x):
            d = jnp.sqrt(jnp.sum(w * (x - x_star) ** 2, axis=1))
            pair = jnp.sqrt(jnp.sum(w * (x[0::2][: x.shape[0] // 2]
                                         - x[1::2][: x.shape[0] // 2]) ** 2, axis=1))
            inside = jnp.all((x >= low - slack) & (x <= high + slack), axis=1)
            return d, pair, inside

        def body(x, _):
            x_new = jax.vmap(one, in_axes=(0, None))(x, h)
            return x_new, measure(x_new)

        _, (d, pair, inside) = jax.lax.scan(body, x0, None, length=steps)
        d0, pair0, inside0 = measure(x0)
        return (jnp.concatenate([d0[None], d]), jnp.concatenate([pair0[None], pair]),
                jnp.concatenate([inside0[None], inside]))

    return trace


def describe_violation(v: dict) -> str:
    observed = "" if v["observed"] is None else f" contracted by {v['observed']:.9g}"
    certified = "" if v["certified"] is None else f" (certified {v['certified']:.9g})"
    return (f"start {v['start']} at step {v['step']}: {v['kind']}{observed}{certified}; "
            f"x0 = {_short(np.asarray(v['x0']))}")
