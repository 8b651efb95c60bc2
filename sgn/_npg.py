"""Run natural policy gradient on a Markov game and hold it to the certificate where it promises.

    simulate_policies(game, cert)   ->  PolicySimulation    NPG and PG, KL Lyapunov decay
    step_size_sweep(game, cert)     ->  StepSweep           where NPG stops converging

Distances are measured in policy space. The Lyapunov function is docs/fisher.md's

    V(x) = sum_i w_i sum_s KL(pi_i*(. | s) || pi_i(. | s)),

whose Hessian at the equilibrium is the Fisher metric M(w) = blockdiag(w_i F_i(x*)), so near
x* V is half the squared M-distance and the certified NPG step makes it fall by q(h)^2 per step
(to second order in the distance: the comparison allows for the cubic remainder, see RATE_TOL).
Plain (Euclidean) policy gradient on the reduced logits runs from the same starts at the same
step, for comparison: it has no certificate in this geometry.

The verdicts are those of sgn/_verdict.py, as for sgn.simulate: NPG inside the certificate (a
certified game, h < euler_max) is kept or broken; NPG at a larger step, PG, and everything on a
game that is not certified has no promise, and is reported as converged, diverged or
undecided from V (docs/simulate.md). A game that is not certified is simulated from starts
spread over its region (the logit cube around its regularised equilibrium).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ._certificate import Certificate
from ._errors import SGNError
from ._markov import MarkovGame
from ._result import Result
from ._steps import euler_factor
from ._verdict import (
    CONVERGED_FACTOR_SQUARED,
    Outcome,
    Promise,
    Verdict,
    certifies,
    observe,
    outcome,
)

#: Allowed excess of the observed geometric-mean decay of V over the certified q(h)^2: V is
#: the squared M-distance only to second order, and the metric is frozen at x*.
RATE_TOL = 0.05

#: Decay of V over which rates are measured (eight orders: plenty for a rate, and well above
#: the rounding level of a KL divergence).
LIVE_RANGE = 1e-8

#: A run "converges" when V has fallen by this factor by its last step (from every start): the
#: vocabulary's test on a squared distance (sgn/_verdict.py).
CONVERGED = CONVERGED_FACTOR_SQUARED


@dataclasses.dataclass(frozen=True)
class PolicyRun(Result):
    """One learning rule from K starts.

    Attributes:
        method: "npg" (natural policy gradient, certified) or "pg" (Euclidean, for comparison).
        step: h.
        certified_rate: q(h)^2, the certified per-step decay of V (None for PG, an
            uncertified step, or a game that is not certified).
        observed_rate: worst over starts of the geometric-mean per-step decay of V,
            (V_T / V_0)^(1/T).
        worst_step_ratio: worst single-step V_{k+1} / V_k.
        final_ratio: worst V_T / V_0.
        final_policy_distance: worst max_{i,s} total variation between pi_i and pi_i* at T.
        promise: whether the certificate covers this run, and if not why (`Promise`).
        promise_detail: the same with this run's numbers.
        verdict: kept / broken under a promise, else converged / diverged / undecided.
        observed: converged / diverged / undecided from V (also under a promise).
        lyapunov: V for every step and start, (T+1, K) (not serialised).
        policy_distance: max_{i,s} TV(pi_i, pi_i*) for every step and start (not serialised).
    """

    method: str
    step: float
    certified_rate: float | None
    observed_rate: float
    worst_step_ratio: float
    final_ratio: float
    final_policy_distance: float
    promise: Promise
    promise_detail: str
    verdict: Verdict
    observed: Verdict
    lyapunov: np.ndarray = dataclasses.field(repr=False, compare=False)
    policy_distance: np.ndarray = dataclasses.field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True only for a promise kept (NPG inside the certificate): a run without a promise
        is never ok, whatever it did (its verdict says what that was)."""
        return self.verdict is Verdict.KEPT

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.pop("lyapunov", None)
        out.pop("policy_distance", None)
        out["promise"] = self.promise.with_detail(out.pop("promise_detail"))
        out["verdict"] = self.verdict.to_dict()
        out["ok"] = self.ok
        return out


@dataclasses.dataclass(frozen=True)
class PolicySimulation(Result):
    """NPG at the certified step and PG at the same step, from the same starts.

    status: the certificate's status; basin: "ball" (the certified Fisher ball) or "region"
    (spread over the region: the game is not certified). The outcome counts NPG only: PG is
    there for comparison and never promised anything.
    """

    geometry: str
    starts: int
    steps: int
    seed: int
    runs: list
    status: str = "certified"
    basin: str = "ball"

    @property
    def outcome(self) -> Outcome:
        return outcome(run.verdict for run in self.runs if run.method == "npg")

    @property
    def ok(self) -> bool:
        """NPG was inside the certificate and kept its promise."""
        return self.outcome is Outcome.KEPT

    def to_dict(self) -> dict:
        return {**super().to_dict(), "outcome": self.outcome.to_dict()}


@dataclasses.dataclass(frozen=True)
class StepSweep(Result):
    """NPG (and PG) over a grid of step sizes: which steps converge, next to the certified one.

    rows: {step, multiple (of the certified recommended step), iterations, npg_converged,
    pg_converged, npg_final_ratio, pg_final_ratio}; largest_converging: the largest NPG step
    that converged.
    """

    certified_max: float
    certified_recommended: float
    largest_converging: float | None
    steps: int
    rows: list


def simulate_policies(game: MarkovGame, cert: Certificate, *, step: float | None = None,
                      starts: int = 16, steps: int = 200, seed: int = 0) -> PolicySimulation:
    """NPG and PG from `starts` random points of the certified Fisher ball around x*.

    On a game that is not certified: from `starts` points spread over the region, at `step`
    or 1/beta (beta the Lipschitz bound the certificate measured), with no promise.
    """
    if certifies(cert) or not isinstance(game, MarkovGame):
        x_star, w, h = _certified(game, cert, step)
        x0 = _starts(game, cert, x_star, w, starts, seed)
        q = euler_factor(h, cert.margin, cert.bounds["lipschitz"])
        basin = "ball"
    else:
        x_star = np.asarray(game.equilibrium, dtype=np.float64)
        w = np.asarray(cert.weights, dtype=np.float64)
        beta = cert.bounds["lipschitz"]
        if step is None and not (beta is not None and 0 < beta < math.inf):
            raise SGNError("give --step H: the game is not certified and has no finite "
                           "Lipschitz bound to take a step from")
        h = float(step) if step is not None else 1.0 / beta
        x0 = game.region.low + np.random.default_rng(seed).uniform(
            size=(starts, game.dim)) * game.region.width
        q, basin = None, "region"
    runs = []
    for method in ("npg", "pg"):
        V, tv = _trajectories(game, method, x0, x_star, w, h, steps)
        rate = q * q if method == "npg" and q is not None and q < 1 else None
        runs.append(_summarise(method, h, rate, V, tv, *_promise(cert, method, h, rate)))
    return PolicySimulation(cert.geometry, starts, steps, seed, runs, cert.status.value, basin)


def _promise(cert: Certificate, method: str, h: float, rate) -> tuple[Promise, str]:
    """Whether the certificate covers `method` at step h, and the numbers that say so."""
    if not certifies(cert):
        return Promise.NOT_CERTIFIED, (f"the game is {cert.status.value.replace('_', ' ')}: "
                                       "there is no certified rate or step")
    if method == "pg":
        return Promise.METHOD_NOT_PROVED, ("plain policy gradient has no certificate in the "
                                           "Fisher geometry (shown for comparison; not counted "
                                           "in the outcome)")
    bound = cert.step_sizes["euler_max"]
    if rate is None:
        return Promise.STEP_ABOVE_BOUND, (f"h = {h:.6g} is outside the certified NPG range "
                                          f"h < {bound:.6g}")
    return Promise.CONTRACTION, (f"h = {h:.6g} is below the certified NPG bound h < "
                                 f"{bound:.6g}: V falls by {rate:.9g} per step")


def step_size_sweep(game: MarkovGame, cert: Certificate, *, multiples=None, starts: int = 8,
                    steps: int = 200, seed: int = 0) -> StepSweep:
    """Run NPG and PG at multiples of the certified recommended step.

    A step below the recommended one runs proportionally more iterations (steps * h_rec / h),
    so a slow but converging step is not mistaken for one that fails.
    """
    x_star, w, h_rec = _certified(game, cert, None)
    multiples = (np.asarray(multiples, dtype=float) if multiples is not None
                 else 2.0 ** np.arange(-2, 9))
    x0 = _starts(game, cert, x_star, w, starts, seed)
    rows, largest = [], None
    for m in multiples:
        h = float(m * h_rec)
        row = {"step": h, "multiple": float(m)}
        iterations = math.ceil(steps * max(1.0, 1.0 / m))
        row["iterations"] = iterations
        for method in ("npg", "pg"):
            V, _ = _trajectories(game, method, x0, x_star, w, h, iterations)
            ratio = _final_ratio(V)
            row[f"{method}_final_ratio"] = ratio
            row[f"{method}_converged"] = bool(ratio <= CONVERGED)
        if row["npg_converged"]:
            largest = h if largest is None else max(largest, h)
        rows.append(row)
    steps_cert = cert.step_sizes
    return StepSweep(steps_cert["euler_max"], steps_cert["euler_recommended"], largest, steps,
                     rows)


def lyapunov(game: MarkovGame, x, x_star, weights):
    """V(x) = sum_i w_i sum_s KL(pi_i*(. | s) || pi_i(. | s)) (JAX-traceable)."""
    total = 0.0
    for w_i, p, p_star in zip(weights, game.policies(x), game.policies(x_star)):
        total = total + w_i * jnp.sum(p_star * (jnp.log(p_star) - jnp.log(p)))
    return total


def policy_distance(game: MarkovGame, x, x_star):
    """max over players and states of the total variation between pi_i and pi_i*."""
    return jnp.max(jnp.stack([0.5 * jnp.max(jnp.sum(jnp.abs(p - p_star), axis=-1))
                              for p, p_star in zip(game.policies(x), game.policies(x_star))]))


# --- internals -------------------------------------------------------------------------------

def _certified(game, cert: Certificate, step):
    if not isinstance(game, MarkovGame):
        raise SGNError("policy simulations need a MarkovGame")
    if cert.step_sizes is None or cert.equilibrium is None or not cert.equilibrium.get("found"):
        raise SGNError("nothing to simulate: the certificate certifies no NPG step")
    x_star = np.asarray(cert.equilibrium["x"], dtype=np.float64)
    w = np.asarray(cert.weights, dtype=np.float64)
    h = float(cert.step_sizes["euler_recommended"] if step is None else step)
    return x_star, w, h


def _starts(game: MarkovGame, cert: Certificate, x_star, w, k: int, seed: int) -> np.ndarray:
    """k points on spheres of radius 0.5 .. 1 times the basin radius in the Fisher metric."""
    rng = np.random.default_rng(seed)
    radius = cert.equilibrium["basin"]["metric_radius"]
    z = rng.standard_normal((k, game.dim))
    z *= (radius * rng.uniform(0.5, 1.0, size=(k, 1))) / np.linalg.norm(z, axis=1, keepdims=True)
    # ||x - x*||_M = |z| for M = blockdiag(w_i F_i(x*))
    return x_star + game.metric(w).offset(z, at=jnp.asarray(x_star))


def _trajectories(game: MarkovGame, method: str, x0, x_star, w, h: float, steps: int):
    run = _compiled_run(game, method)
    V, tv = run(jnp.asarray(x0), jnp.asarray(x_star), jnp.asarray(w), h, steps)
    return np.asarray(V), np.asarray(tv)


def _compiled_run(game: MarkovGame, method: str):
    cache = game.__dict__.setdefault("_compiled_cache", {})
    key = ("policy-run", method)
    if key not in cache:
        field = game.pseudo_gradient if method == "npg" else game.policy_gradient

        def one(x0, x_star, w, h, steps):
            def measure(x):
                return lyapunov(game, x, x_star, w), policy_distance(game, x, x_star)

            def body(x, _):
                x = x - h * field(x)
                return x, measure(x)

            _, (V, tv) = jax.lax.scan(body, x0, None, length=steps)
            V0, tv0 = measure(x0)
            return jnp.concatenate([V0[None], V]), jnp.concatenate([tv0[None], tv])

        batched = jax.vmap(one, in_axes=(0, None, None, None, None), out_axes=1)
        cache[key] = jax.jit(batched, static_argnums=4)
    return cache[key]


def _final_ratio(V: np.ndarray) -> float:
    ratio = V[-1] / V[0]
    return float(np.max(ratio)) if np.isfinite(ratio).all() else math.inf


def _summarise(method, h, rate, V, tv, promise: Promise, detail: str) -> PolicyRun:
    with np.errstate(divide="ignore", invalid="ignore"):
        # Stop measuring once V has fallen by LIVE_RANGE: KL near zero is a difference of
        # logarithms, so below that it is rounding noise and its ratios mean nothing.
        live = np.cumprod(V[:-1] > LIVE_RANGE * V[:1], axis=0).astype(bool)
        ratios = np.where(live, V[1:] / V[:-1], 0.0)
        last = np.maximum(1, np.sum(live, axis=0))
        reached = V[last, np.arange(V.shape[1])]
        observed = float(np.max((reached / V[0]) ** (1.0 / last)))
    finite = np.isfinite(V).all()
    observed_rate = observed if finite else math.inf
    final_ratio = _final_ratio(V)
    trend = observe(V, CONVERGED)
    if promise.applies:
        kept = observed_rate <= rate * (1.0 + RATE_TOL) and math.isfinite(final_ratio)
        verdict = Verdict.KEPT if kept else Verdict.BROKEN
    else:
        verdict = trend
    return PolicyRun(
        method, h, rate,
        observed_rate,
        float(np.max(ratios)) if finite else math.inf,
        final_ratio,
        float(np.max(tv[-1])) if finite else math.inf,
        promise, detail, verdict, trend,
        V, tv,
    )
