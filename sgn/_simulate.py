"""Run the dynamics and hold them to the certificate's promises, where it makes any.

    simulate(game, cert, methods=("euler", "rk4", "flow"))  ->  Simulation

From K starts in the certified basin (the M-ball around x*, or the whole strategy set), each
method runs T steps in one batched, jit-compiled scan. A run inside the certificate (the game is
certified and the step is within the method's certified bound) is held to its promise: every
step's contraction of the distance to x* and of the distance between paired trajectories, both
in M(w), is compared with the certified factor (Euler q(h), RK4 q4(h), flow exp(-alpha h)). A
step that contracts less is a violation; so is a trajectory that leaves the region the bounds
hold on. Its verdict is kept or broken.

A run outside the certificate (a step above the bound, RK4 on a constrained game, or a game
that is not certified) has no promise; its verdict is what was observed: converged, diverged or
undecided (sgn/_verdict.py, docs/simulate.md). On a game that is not certified there is no x*
or basin: the starts are spread over the region and the measure is the residual.
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
from ._metric import Fisher, certificate_metric
from ._result import Result
from ._shared import compiled
from ._step_search import centre_jacobian, euler_promise, rk4_promise
from ._steps import euler_factor, rk4_factor
from ._verdict import Outcome, Promise, Verdict, certifies, observe, outcome

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
        observed_factor: worst observed ||x_{k+1} - x*||_M / ||x_k - x*||_M (the residual's
            ratio when the game is not certified).
        observed_pairwise_factor: worst observed ratio for distances between paired starts.
        final_ratio: worst ||x_T - x*||_M / ||x_0 - x*||_M (or of the residual).
        violations: each {start, step, kind, observed, certified, x0}; empty when kept, and
            always empty without a promise (nothing to violate).
        left_region: how many starts left the region (a violation only under a promise).
        promise: whether the certificate covers this run, and if not why (`Promise`).
        promise_detail: the same with this run's numbers.
        verdict: kept / broken under a promise, else converged / diverged / undecided.
        observed: converged / diverged / undecided, what the run did (also under a promise).
        distances: ||x_k - x*||_M (or the residual) for every step and start, (T+1, K)
            (not serialised).
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
    left_region: int
    promise: Promise
    promise_detail: str
    verdict: Verdict
    observed: Verdict
    distances: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True only for a promise kept: a run outside the certificate is never ok, whatever
        it did (its verdict says what that was)."""
        return self.verdict is Verdict.KEPT

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["promise"] = self.promise.with_detail(out.pop("promise_detail"))
        out["verdict"] = self.verdict.to_dict()
        return out


@dataclasses.dataclass(frozen=True)
class Simulation(Result):
    """Every run, and what they add up to.

    Attributes:
        game: the game's name.
        status: the certificate's status.
        equilibrium: x* (None when the game is not certified).
        weights: the certificate's weights; distances are in its metric: M(w), or the block
            metric M = blockdiag(P_i) it records (`Certificate.metric`; `weights` are then
            SGN's own, beside it).
        basin: where the starts are: "ball" or "box" (the certified basin), or "region"
            (spread over the region: the game is not certified).
        measure: "distance" (||x - x*||_M) or "residual" (||F(x)||_2, or the natural
            residual ||x - Pi(x - F(x))||_2 of a constrained game; no certified x*).
        runs: one `Run` per method.
        metric_name: "M(w)", or "M" when the certificate records a block metric.
    """

    game: str
    status: str
    equilibrium: np.ndarray | None
    weights: np.ndarray
    basin: str
    measure: str
    runs: list
    #: How the summary names the metric distances are in: "M(w)", or "M" for a block metric.
    metric_name: str = "M(w)"

    @property
    def outcome(self) -> Outcome:
        return outcome(run.verdict for run in self.runs)

    @property
    def ok(self) -> bool:
        """Every run was inside the certificate and kept its promise."""
        return self.outcome is Outcome.KEPT

    def to_dict(self) -> dict:
        return {**super().to_dict(), "outcome": self.outcome.to_dict()}


def simulate(game: Game, cert: Certificate, *, methods=None, step: float | None = None,
             starts: int = 16, steps: int = 200, seed: int = 0) -> Simulation:
    """Simulate `methods` from `starts` points and compare with `cert` where it promises.

    methods defaults to Euler, RK4 and the flow, without RK4 on a constrained game at the
    automatic step (the certificate proves no RK4 step there). The automatic step is each
    method's certified recommended step; on a game that is not certified, 1/beta (beta the
    Lipschitz bound the certificate measured), a step on the field's scale that promises
    nothing. A game that is not certified is simulated from starts spread over the region,
    and judged by its residual (docs/simulate.md). Distances are in the certificate's metric;
    a Markov game's (the Fisher metric) is measured by its policy simulation, which this
    returns (`sgn._npg.simulate_policies`: NPG and PG).
    """
    metric = certificate_metric(game, cert)
    if isinstance(metric, Fisher):
        # A Markov game's certificate is about the Fisher metric in policy space, where the
        # dynamics are natural policy gradient: its own simulation measures that.
        if methods:
            raise SGNError("a Markov game runs natural policy gradient (and plain policy "
                           "gradient for comparison); drop methods")
        from ._npg import simulate_policies

        return simulate_policies(game, cert, step=step, starts=starts, steps=steps, seed=seed)
    if methods is None:
        methods = [m for m in METHODS if step is not None or m != "rk4" or not game.constrained]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SGNError(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if starts < 2 or steps < 1:
        raise SGNError("simulate needs at least 2 starts and 1 step")
    certified = certifies(cert)
    alpha, beta = cert.margin, cert.bounds["lipschitz"]
    if certified:
        eq = cert.equilibrium
        x_star = np.asarray(eq["x"], dtype=np.float64)
        x0 = _starts(game, x_star, metric, eq["basin"], starts, seed)
        x_star_error, basin = _x_star_error(game, x_star, metric, alpha, eq), eq["basin"]["kind"]
    else:
        x_star, x_star_error, basin = None, 0.0, "region"
        x0 = _starts(game, None, metric, {"kind": "box"}, starts, seed)
    steps_table = cert.step_sizes or {}
    runs = []
    for method in methods:
        if step is not None:
            h = float(step)
        elif certified:
            h = {"euler": steps_table.get("euler_recommended"),
                 "rk4": steps_table.get("rk4_recommended"),
                 "flow": steps_table.get("euler_recommended")}[method]
        else:
            h = 1.0 / beta if beta is not None and 0 < beta < math.inf else None
        if h is None or not h > 0:
            raise SGNError(f"give --step H: there is no {'certified ' if certified else ''}"
                           f"step for {method} to use"
                           + (" (the certificate proves no RK4 step for a constrained game; "
                              "with --step, RK4 runs without a promise)"
                              if certified and method == "rk4" else ""))
        promise, detail, factor = _promise(cert, game, method, h, certified)
        runs.append(_run(game, method, h, x0, x_star, metric, beta, steps, x_star_error,
                         promise, detail, factor))
    if not runs:
        raise SGNError("no method to simulate")
    return Simulation(game.name, cert.status.value, x_star, np.asarray(cert.weights), basin,
                      "distance" if certified else "residual", runs,
                      "M(w)" if cert.metric is None else "M")


def _promise(cert: Certificate, game: Game, method: str, h: float,
             certified: bool) -> tuple[Promise, str, float | None]:
    """Whether the certificate covers `method` at step h, the numbers that say so, and the
    factor it promises (None without a promise)."""
    if not certified:
        return Promise.NOT_CERTIFIED, (f"the game is {cert.status.value.replace('_', ' ')}: "
                                       "there is no certified equilibrium, rate or step"), None
    if method == "rk4" and game.constrained:
        return Promise.METHOD_NOT_PROVED, ("no RK4 step is proved for a constrained game (its "
                                           "stage points may leave the box; docs/rk4.md)"), None
    factor = promised_factor(cert, game, method, h)
    if method == "flow":
        return Promise.CONTRACTION, (f"the flow contracts by {factor:.9g} over each time "
                                     f"step h = {h:.6g}"), factor
    bound = cert.step_sizes["euler_max" if method == "euler" else "rk4_proven"]
    if factor is None:
        return Promise.STEP_ABOVE_BOUND, (f"h = {h:.6g} is outside the certified {method} "
                                          f"range h <= {bound:.6g}"), None
    return Promise.CONTRACTION, (f"h = {h:.6g} is within the certified {method} range "
                                 f"h <= {bound:.6g}: each step contracts by {factor:.9g}"), factor


def promised_factor(cert: Certificate, game: Game, method: str, h: float) -> float | None:
    """The per-step factor the certificate proves for `method` at step h, or None: the better
    of SGN's alpha/beta bound and the direct one (sgn/_step_search.py)."""
    alpha, beta, steps = cert.margin, cert.bounds["lipschitz"], cert.step_sizes or {}
    if method == "flow" or (method == "rk4" and game.constrained):
        return certified_factor(method, h, alpha, beta, game.constrained)
    if method == "euler":
        return euler_promise(steps, h, alpha, beta)
    return rk4_promise(steps, h, alpha, beta,
                       centre_jacobian(game, certificate_metric(game, cert)))


def _x_star_error(game: Game, x_star, metric, alpha: float, eq: dict) -> float:
    """A bound on ||x* - true x*||_M: the search's own bound, or, from strong monotonicity,
    ||x - x*||_M <= ||F(x)||_M / alpha (analysis regions, where F(x*) = 0; M block-scalar,
    so M^1/2 F is F in the unit-free coordinates)."""
    bound = float(eq.get("error_bound") or 0.0)
    if not game.constrained and alpha > 0:
        F = np.asarray(game.field_fn(jnp.asarray(x_star)))
        bound = max(bound, float(metric.norm(F)) / alpha)
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


def _starts(game: Game, x_star, metric, basin: dict, k: int, seed: int) -> np.ndarray:
    """k starts: uniform in the box (kind "box": a constrained game's basin, or the region of
    a game that is not certified), or spread over the certified M-ball around x*."""
    rng = np.random.default_rng(seed)
    if basin["kind"] == "box":
        return game.region.low + rng.uniform(size=(k, game.dim)) * game.region.width
    # Random directions in the M-metric, radii spread over the ball (boundary included).
    z = rng.standard_normal((k, game.dim))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    radius = basin["metric_radius"] * (1.0 - 1e-12) * rng.uniform(0.05, 1.0, size=(k, 1))
    x = x_star + metric.offset(radius * z)
    return np.clip(x, game.region.low, game.region.high)


def _run(game, method, h, x0, x_star, metric, beta, steps, x_star_error, promise: Promise,
         detail: str, certified: float | None) -> Run:
    """One method from every start. With x_star (a certified game) the measure is the
    distance to it in the metric; without, the residual."""
    if method == "flow" and not (beta is not None and 0 < beta < math.inf):
        raise SGNError("the flow needs a finite Lipschitz bound to choose its substeps; "
                       "drop --method flow")
    substeps = flow_substeps(h, beta, game.constrained) if method == "flow" else 1
    by_residual = x_star is None
    trace = _compiled_trace(game, method, substeps, by_residual)
    d, pair, inside = (np.asarray(a) for a in trace(
        jnp.asarray(x0), h, jnp.asarray(np.zeros(game.dim) if by_residual else x_star),
        metric, steps))
    # d: (T+1, K) distances to x* (or residuals); pair: (T+1, K//2); inside: (T+1, K)
    # What a ratio of two measured distances can be off by, step by step: the error of x*
    # (for distances to it) and float64 rounding of the points (both), relative to the
    # distance measured. Steps where that noise could exceed FACTOR_TOL are not judged.
    # (A residual's ratios are only reported, never judged against a promise.)
    scale = (metric.norm(x0).max() if by_residual else metric.norm(x_star) + d[0].max())
    rounding = 1e-15 * scale
    noise = (np.zeros_like(d[:-1]) if by_residual
             else 2.0 * (x_star_error + rounding) / np.maximum(d[:-1], 1e-300))
    valid = (d[:-1] > 1e-6 * d[0][None, :]) & (noise < 1e-3)
    ratio = np.where(valid, d[1:] / np.where(valid, d[:-1], 1.0), 0.0)
    pair_noise = 2.0 * rounding / np.maximum(pair[:-1], 1e-300)
    pair_valid = (pair[:-1] > 1e-9 * pair[0][None, :]) & (pair_noise < 1e-3)
    pair_ratio = np.where(pair_valid, pair[1:] / np.where(pair_valid, pair[:-1], 1.0), 0.0)
    violations = []
    left = np.argwhere(~inside)
    first_exits = left[np.unique(left[:, 1], return_index=True)[1]]
    if promise.applies:
        for k, s in first_exits:
            violations.append({"start": int(s), "step": int(k), "kind": "left the region",
                               "observed": None, "certified": certified,
                               "x0": x0[s].tolist()})
    if certified is not None:
        for kind, r, err in (("distance to x*", ratio, noise),
                             ("pairwise distance", pair_ratio, pair_noise)):
            bad = np.argwhere(r > certified + FACTOR_TOL + err)
            for k, s in bad[np.unique(bad[:, 1], return_index=True)[1]]:
                start = int(s) if kind == "distance to x*" else int(2 * s)
                violations.append({"start": start, "step": int(k), "kind": kind,
                                   "observed": float(r[k, s]), "certified": certified,
                                   "x0": x0[start].tolist()})
    observed = observe(d)
    if promise.applies:
        verdict = Verdict.BROKEN if violations else Verdict.KEPT
    else:
        verdict = observed
    with np.errstate(invalid="ignore", over="ignore"):
        final = float(np.max(d[-1] / np.maximum(d[0], 1e-300)))
    return Run(method, h, certified, float(ratio.max()), float(pair_ratio.max()), final,
               len(x0), steps, violations, len(first_exits), promise, detail, verdict,
               observed, d)


def _compiled_trace(game: Game, method: str, substeps: int, by_residual: bool = False):
    key = ("simulate", method, substeps) + (("residual",) if by_residual else ())
    return compiled(game, ("pseudo_gradient",), key,
                    lambda g: _tracer(g, method, substeps, by_residual), static_argnums=(4,))


def _tracer(game, method: str, substeps: int, by_residual: bool = False):
    """trace(x0, h, x_star, metric, steps) for a Lifted game: distances to x* (or, by_residual,
    residuals) and pairwise along `steps` steps of `method`, and whether each point stayed in
    the box."""
    one = {"euler": lambda: euler_step(game), "rk4": lambda: rk4_step(game),
           "flow": lambda: flow_step(game, substeps)}[method]()
    low, high = game.region.low, game.region.high
    slack = 1e-12 * (1.0 + jnp.abs(low) + jnp.abs(high))

    def residual(x):
        F = jax.vmap(game.pseudo_gradient)(x)
        if game.constrained:
            F = x - jnp.clip(x - F, low, high)
        return jnp.sqrt(jnp.sum(F**2, axis=1))

    def trace(x0, h, x_star, metric, steps):
        def measure(x):
            d = residual(x) if by_residual else metric.norm(x - x_star, jnp)
            half = x.shape[0] // 2
            pair = metric.norm(x[0::2][:half] - x[1::2][:half], jnp)
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
