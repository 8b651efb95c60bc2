"""Rates and step sizes from alpha and beta (docs/method.md, section 7; docs/rk4.md).

    flow       ||x(t) - y(t)||_M <= exp(-alpha t) ||x(0) - y(0)||_M
    Euler      q(h) = sqrt(1 - 2 h alpha + h^2 beta^2),  < 1 iff 0 < h < 2 alpha / beta^2
    RK4        q4(h) = q(h) + (h beta)^2/2 + (h beta)^3/6 + (h beta)^4/24   (docs/rk4.md)

The RK4 bound: with mean-value Jacobians A_k for the four stage differences, one step maps
the difference e of two trajectories to
    [I - h Abar + h^2/6 (A2A1 + A3A2 + A4A3) - h^3/12 (A3A2A1 + A4A3A2) + h^4/24 A4A3A2A1] e,
Abar = (A1 + 2A2 + 2A3 + A4)/6 a convex combination of Jacobians (so it obeys the Euler
bound), and every A_k has M-norm <= beta.
"""

from __future__ import annotations

import dataclasses
import math

from ._result import Result

#: RK4's real stability interval for normal linear fields reaches h * |lambda| = 2.785; the
#: guideline 2.5 / beta keeps a margin inside it. Linear stability only: not a proof.
RK4_GUIDELINE = 2.5


def euler_factor(h: float, alpha: float, beta: float) -> float:
    """Per-step contraction factor of projected Euler in the metric (docs/method.md, section 7)."""
    return math.sqrt(max(0.0, 1.0 - 2.0 * h * alpha + (h * beta) ** 2))


def rk4_factor(h: float, alpha: float, beta: float) -> float:
    """Proven per-step contraction factor of classic RK4 in the metric (see module doc)."""
    z = h * beta
    return euler_factor(h, alpha, beta) + z**2 / 2 + z**3 / 6 + z**4 / 24


@dataclasses.dataclass(frozen=True)
class StepSizes(Result):
    """Safe steps. Each factor is the per-step contraction of ||x_k - y_k||_M it guarantees.

    The first seven fields are the certificate's steps. `euler_bound` and `rk4_bound` say which
    proof gave the largest step ("alpha-beta": this module's; "direct", "direct-exact-linear",
    "direct-spread": sgn/_step_search.py). `alpha_beta` keeps SGN's own steps (the first
    seven, from alpha and beta) when the direct proof improved any; `direct` the measured
    numbers behind the direct steps (None when there are none).
    """

    euler_max: float
    euler_recommended: float
    euler_factor: float
    rk4_guideline: float
    rk4_proven: float | None
    rk4_recommended: float | None
    rk4_factor: float | None
    euler_bound: str = "alpha-beta"
    rk4_bound: str | None = "alpha-beta"
    alpha_beta: dict | None = None
    direct: dict | None = None

    def steps(self) -> dict:
        """The seven step and factor fields alone."""
        return {k: getattr(self, k) for k in STEP_FIELDS}


#: The certificate's steps and factors (StepSizes' first seven fields).
STEP_FIELDS = ("euler_max", "euler_recommended", "euler_factor", "rk4_guideline", "rk4_proven",
               "rk4_recommended", "rk4_factor")


def step_sizes(alpha: float, beta: float, *, constrained: bool = False) -> StepSizes:
    """Step sizes for alpha > 0 and beta >= alpha (beta >= alpha always holds for true bounds).

    For a constrained game the RK4 entries are None (not proved, rather than a number that
    means nothing): the proof needs the stage points inside the box, and projecting only at
    the end of a step moves the fixed point off a boundary equilibrium (see docs/rk4.md).
    """
    if not (alpha > 0 and beta > 0 and math.isfinite(beta)):
        raise ValueError("step sizes need alpha > 0 and a finite beta > 0")
    beta = max(beta, alpha)
    h_rec = alpha / beta**2
    # q4 is convex in h (a norm of an affine map plus a polynomial with positive coefficients)
    # and q4(0) = 1, so {h > 0 : q4(h) < 1} is an interval (0, h_max): bisect for its end.
    # It lies inside Euler's interval, since q4 >= q.
    lo, hi = 0.0, 2.0 * alpha / beta**2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rk4_factor(mid, alpha, beta) < 1.0 else (lo, mid)
    rk4_max = lo
    # The best RK4 step minimises q4 on (0, rk4_max): golden-section search on a convex function.
    a, b = 0.0, rk4_max
    g = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(200):
        c, d = b - g * (b - a), a + g * (b - a)
        a, b = (a, d) if rk4_factor(c, alpha, beta) < rk4_factor(d, alpha, beta) else (c, b)
    rk4_rec = 0.5 * (a + b)
    rk4_fac = rk4_factor(rk4_rec, alpha, beta)
    if constrained:
        rk4_max = rk4_rec = rk4_fac = None
    return StepSizes(
        rk4_bound=None if constrained else "alpha-beta",
        euler_max=2.0 * alpha / beta**2,
        euler_recommended=h_rec,
        euler_factor=euler_factor(h_rec, alpha, beta),
        rk4_guideline=RK4_GUIDELINE / beta,
        rk4_proven=rk4_max,
        rk4_recommended=rk4_rec,
        rk4_factor=rk4_fac,
    )
