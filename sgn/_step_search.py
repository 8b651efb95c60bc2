"""Step sizes a certificate states: the larger of SGN's alpha/beta steps and direct ones.

    steps = certified_steps(game, estimator, bounds, metric, alpha, beta)   # StepSizes

SGN's steps (sgn/_steps.py) use two numbers, alpha and beta, and are far below what converges
when the Jacobian's spectrum is spread out (0.014x the true Euler threshold on the lifted toy
at lam = 1.375). The direct steps read the per-step factor itself (sgn/_contraction.py,
docs/method.md section 7, docs/rk4.md section 9):

1. Candidates. The Jacobians at a few scenario points (the centre, where the bounds found
   their extremes, a few spread samples), scaled into the metric, give the Euler factor
   q(h) = max_k ||I - h A_k||_2 there: its minimiser h_best and the end h_max of {q < 1}.
   The candidate largest step h_edge sits a little inside h_max (q is convex, so
   q(h_edge) <= 1 - backoff * (1 - q(h_best)) on the scenarios).
2. Measurement. The estimator then measures (sampled) or computes exactly (constant
   Jacobian) sup_x ||I - h A(x)||_2 over the whole region at h_best and h_edge, and the spread
   sup_x ||A(x) - A_c|| around the centre's A_c. Only these region-wide values certify: the
   scenario values only propose. q is convex with q(0) = 1, so a measured q(h_edge) < 1
   covers every 0 < h <= h_edge. When q(h_edge) >= 1 (the scenarios missed the worst
   Jacobian), h_edge moves further inside and is measured again, twice at most.
3. RK4. The spread bound ||R(-h A_c)|| + g(h(b + delta)) - g(hb) with the measured delta
   (exact for a linear field, delta = 0) gives a proven RK4 interval and its best step.

Each certified quantity is the better of the two proofs: the largest proven step, and the
recommended step with the smaller proven factor. SGN's own steps are kept beside them
(`alpha_beta`), and `euler_bound` / `rk4_bound` say which proof gave each. Verified (interval)
certificates enclose both norms over the bounds pass's boxes instead of measuring them
(sgn/_interval/_contraction.py), with the sampled backoffs (enclosures are looser than the
truth near the threshold). Metrics that change from point to point keep SGN's steps (the
Fisher metric: the mean-value argument needs one M).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._bounds import Bounds
from ._contraction import CONTRACTS, euler_steps, rk4_spread_factor, rk4_steps_from_spread
from ._game import Game
from ._metric_search import scenario_points
from ._steps import StepSizes, euler_factor, rk4_factor, step_sizes

#: Where the candidate largest Euler step sits between h_best and the scenarios' h_max, as the
#: fraction of that gap left out, tried in turn while the region shows q >= 1 there: sampled
#: bounds need room for Jacobians the scenarios missed (and for the search allowance); an
#: exact (constant) Jacobian only for rounding (1e-10 of the gap keeps q(h_edge) below 1 by
#: far more than the rounding allowance, and h_edge within 1e-9 of the threshold).
EDGE_SAMPLED = (0.1, 0.3, 0.6)
EDGE_EXACT = (1e-10, 1e-7, 1e-4)


def certified_steps(game: Game, estimator, bounds: Bounds, metric, alpha: float,
                    beta: float, *, progress=None) -> StepSizes:
    """The certificate's step sizes in `metric` (module doc)."""
    base = step_sizes(alpha, beta, constrained=game.constrained)
    measure = getattr(estimator, "contraction", None)
    if measure is None or not metric.fixed:
        return base
    constant = bounds.method == "exact"       # interval bounds are exact=True too, not constant
    points = game.region.centre[None, :] if constant else scenario_points(game, bounds)
    A = metric.scale(np.stack([np.asarray(game.bound_jacobians_fn(jnp.asarray(x))[1])
                               for x in points]))
    if not np.isfinite(A).all():
        return base
    euler = euler_steps(A)
    if euler.status != CONTRACTS:
        return base
    h_best = euler.h_best
    for backoff in EDGE_EXACT if constant else EDGE_SAMPLED:
        h_edge = h_best + (1.0 - backoff) * (euler.h_max - h_best)
        found = measure(game, metric, bounds, [h_best, h_edge], progress=progress)
        if found is None:           # the estimator cannot measure these here (see its doc)
            return base
        q_best, q_edge = (float(v) for v in found.euler_factors)
        if q_edge < 1.0:
            break
    return combined_steps(base, h_best, q_best, h_edge, q_edge, found.spread,
                   centre_jacobian(game, metric), game.constrained)


def combined_steps(base: StepSizes, h_best: float, q_best: float, h_edge: float, q_edge: float,
            spread: float, A_c: np.ndarray, constrained: bool) -> StepSizes:
    """The larger proven steps and the smaller proven factors of SGN's and the direct proofs
    (`base`: SGN's steps; the rest: what the contraction pass measured, and A_c). `verify`
    recomputes a certificate's table with it from the stored measurements."""
    steps = base.steps()
    direct = {"euler_steps": [h_best, h_edge], "euler_factors": [q_best, q_edge],
              "rk4_spread": spread, "rk4_bound": None}
    euler_bound = "alpha-beta"
    # The largest certified step: every 0 < h <= h proved, by convexity of q.
    proved = [h for h, q in ((h_edge, q_edge), (h_best, q_best)) if q < 1.0]
    if proved and max(proved) > base.euler_max:
        steps["euler_max"], euler_bound = max(proved), "direct"
    if q_best < base.euler_factor:
        steps["euler_recommended"], steps["euler_factor"] = h_best, q_best
    rk4_bound = None if constrained else "alpha-beta"
    if not constrained and np.isfinite(spread):
        rk4 = rk4_steps_from_spread(A_c, spread)
        direct["rk4_bound"] = rk4.bound
        if rk4.status == CONTRACTS:
            if rk4.h_max > base.rk4_proven:
                steps["rk4_proven"], rk4_bound = rk4.h_max, f"direct-{rk4.bound}"
            if rk4.q_best < base.rk4_factor:
                steps["rk4_recommended"], steps["rk4_factor"] = rk4.h_best, rk4.q_best
    return StepSizes(**steps, euler_bound=euler_bound, rk4_bound=rk4_bound,
                     alpha_beta=base.steps(), direct=direct)


# --- what a certificate promises at a step h ---------------------------------------------------

def euler_promise(steps: dict, h: float, alpha: float, beta: float) -> float | None:
    """The Euler factor a certificate's `step_sizes` prove at step h, or None (no proof).

    The better of SGN's q(h) = sqrt(1 - 2 h alpha + h^2 beta^2) (for h < 2 alpha / beta^2) and,
    for h up to the largest step measured, the chord through the measured factors: the
    region-wide factor is convex in h with value 1 at h = 0, so it lies below the chords
    between (0, 1) and the measured points (h_k, q_k).
    """
    found = [v for v in (_alpha_beta_euler(h, alpha, beta), _chord(steps, h)) if v is not None]
    return min(found) if found else None


def rk4_promise(steps: dict, h: float, alpha: float, beta: float, A_c) -> float | None:
    """The RK4 factor proved at step h (SGN's q4, or the spread bound with the certificate's
    measured spread around A_c, the scaled Jacobian at the region's centre), or None."""
    found = []
    q4 = rk4_factor(h, alpha, beta)
    if q4 < 1.0:
        found.append(q4)
    direct = (steps or {}).get("direct") or {}
    spread = direct.get("rk4_spread")
    if spread is not None and A_c is not None and steps.get("rk4_proven") is not None:
        q = rk4_spread_factor(A_c, spread, h)
        if q < 1.0 and h <= steps["rk4_proven"]:
            found.append(q)
    return min(found) if found else None


def _alpha_beta_euler(h: float, alpha: float, beta: float) -> float | None:
    q = euler_factor(h, alpha, beta)
    return q if q < 1.0 else None


def _chord(steps: dict, h: float) -> float | None:
    direct = (steps or {}).get("direct")
    if not direct or h <= 0:
        return None
    points = sorted(zip(direct["euler_steps"], direct["euler_factors"]))
    a, qa = 0.0, 1.0
    for b, qb in points:
        if h <= b:
            q = qa + (h - a) / (b - a) * (qb - qa)
            return q if q < 1.0 else None
        a, qa = b, qb
    return None


def centre_jacobian(game: Game, metric) -> np.ndarray:
    """A_c: the step Jacobian at the region's centre, scaled into the metric (the centre of
    the direct RK4 bound)."""
    return metric.scale(np.asarray(game.bound_jacobians_fn(jnp.asarray(game.region.centre))[1]))
