"""Two players: the closed-form band of weight ratios r = w_2 / w_1 (docs/method.md, section 5)."""

from __future__ import annotations

import dataclasses
import math

from .._result import Result
from ._margin import as_bounds


@dataclasses.dataclass(frozen=True)
class Band(Result):
    """Ratios r = w_2/w_1 with alpha(r) >= `margin`: the interval [low, high].

    `high` is inf when every large enough ratio works (no back-coupling, L_21 = 0).
    `best_ratio` maximises alpha; it is inf (no back-coupling) or 0 (no forward coupling)
    when the supremum is only approached as r -> inf or r -> 0, and `best_margin` is that
    maximum (or supremum).
    """

    low: float
    high: float
    best_ratio: float
    best_margin: float
    margin: float = 0.0


def two_player_band(curvature, coupling, margin: float = 0.0) -> Band | None:
    """The ratios r = w_2/w_1 with alpha(r) >= margin, or None when there are none.

    With P = (mu_1 - a)(mu_2 - a), the band is nonempty iff mu_i > a and P > L_12 L_21, and
        r_+ = s / L_21^2,   r_- = L_12^2 / s,   s = 2P - L_12 L_21 + 2 sqrt(P (P - L_12 L_21))
    (r_- from the product r_- r_+ = (L_12/L_21)^2, which avoids cancellation; s >= P > 0 has
    none either). Neither end divides by a ratio of the couplings, so a nearly one-way
    coupling (L_21 ~ 1e-161, as interval bounds of a zero block give) puts r_+ at inf and r_-
    at its true value instead of overflowing.
    """
    mu, L = as_bounds(curvature, coupling)
    if mu.size != 2:
        raise ValueError(f"the band is defined for two players, got {mu.size}")
    a = float(margin)
    l12, l21 = float(L[0, 1]), float(L[1, 0])
    m1, m2 = float(mu[0]), float(mu[1])
    best = 0.5 * (m1 + m2 - math.sqrt((m1 - m2) ** 2 + 4.0 * l12 * l21))
    P = (m1 - a) * (m2 - a)
    if m1 <= a or m2 <= a or P <= l12 * l21:
        return None
    if l12 == 0.0 and l21 == 0.0:
        return Band(0.0, math.inf, 1.0, best, a)
    if l21 == 0.0:
        return Band(l12**2 / (4.0 * P), math.inf, math.inf, best, a)
    if l12 == 0.0:
        return Band(0.0, 4.0 * P / l21**2, 0.0, best, a)
    q = l12 * l21
    s = 2.0 * P - q + 2.0 * math.sqrt(P * (P - q))
    high = s / (l21 * l21) if l21 * l21 > 0.0 else math.inf   # inf past float range
    return Band(l12 * l12 / s, high, l12 / l21, best, a)
