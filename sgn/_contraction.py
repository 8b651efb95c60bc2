"""Step sizes from direct contraction (issue 13, part 3; docs/rk4.md, section 9).

The step sizes of sgn/_steps.py come from two numbers only, the margin alpha and the Lipschitz
bound beta: Euler is proved to contract for h < 2 alpha / beta^2. That forgets where the
Jacobian's spectrum lies. On the 64-dimensional lift of the reference game (its scaled
Jacobian is symmetric with eigenvalues 1 +- lam/sqrt 2) the true Euler threshold is
2 / (1 + lam/sqrt 2) while 2 alpha / beta^2 = 2 (1 - lam/sqrt 2) / (1 + lam/sqrt 2)^2: 0.17x
of it at lam = 1, 0.014x at lam = 1.375. This module computes the factor of one step from the
Jacobians themselves, and with it steps that are close to the truth.

Input. A stack of Jacobians already scaled into the metric, A_k = M^1/2 J(x_k) M^-1/2, shape
(K, d, d): the Jacobian at sample points of the region (sampled bounds), the vertices of an
enclosure (verified), or the single Jacobian of a linear game (K = 1, exact). The spectral
norm of A_k is ||J(x_k)||_M, so everything below is plain 2-norm algebra.

Euler, x+ = Pi(x - h F(x)). For x, y in the convex region, x - h F(x) - (y - h F(y)) =
(I - h Jbar)(x - y) with Jbar the mean of J on the segment [x, y], a point of the convex hull
of the Jacobians; the projection onto a box is non-expansive in a block-scalar metric. The
norm is convex, so its sup over the hull is its max over the A_k:

    q(h) = max_k ||I - h A_k||_2,        ||x+ - y+||_M <= q(h) ||x - y||_M.

q(0) = 1, q is convex and q'(0+) = -min_k lambda_min(sym A_k), so {h > 0 : q(h) < 1} is an
interval (0, h_max), empty when some sym A_k is not positive definite (some direction does
not shrink under the flow). For one Jacobian whose scaled form is normal,
q(h) = max over eigenvalues |1 - h lambda| and h_max = min 2 Re lambda / |lambda|^2: the true
stability threshold of the linear iteration, not a bound of it.

RK4 on x' = -F(x). With the four stage Jacobians J_1..J_4 (mean-value Jacobians of the stage
differences: points of the hull when the stage points stay in the region) one step maps
x - y to T (x - y), T a polynomial in h and the J_s whose degree-k part has the sign (-1)^k
and positive coefficients summing to 1/k! (docs/rk4.md, section 3). With every J_s = A_c it
is R(-h A_c), R(z) = 1 + z + z^2/2 + z^3/6 + z^4/24. With ||J_s - A_c|| <= delta (the
spread of the Jacobians around a centre A_c) and b = ||A_c||:

    ||T - R(-h A_c)|| <= g(h (b + delta)) - g(h b),      g(t) = t + t^2/2 + t^3/6 + t^4/24,

so q4(h) = ||R(-h A_c)||_2 + g(h(b + delta)) - g(hb) bounds the factor (bound "spread"); with
delta = 0 (one Jacobian: a linear field) it is the exact factor (bound "exact-linear").
q4 is not convex in h, so the end of its first interval below 1 is found by a scan, and every
gap of the scan is proved free of crossings (_first_crossing), so a crossing between two grid
points cannot be missed.

Rounding. Every reported step is on the safe side of its threshold with a margin above the
rounding error of the computation that decided it (ROUNDING, SLACK): a step is never a rounded
root that might sit just past the end. The reported factors are the computed ones at the
reported steps (Euler's plus the margin). Roots are found to about 1e-12 relative. The
module is pure numpy/scipy and keeps nothing between calls.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.optimize

from ._result import Result

#: Statuses of a result.
CONTRACTS = "contracts"
NO_STEP = "no-step"

#: Which RK4 bound a result rests on.
EXACT_LINEAR = "exact-linear"
SPREAD = "spread"

#: Norms computed directly (RK4's factors, Euler's at its best step) carry rounding errors of
#: about d * 1e-16 (d up to 64 or so). A computed factor counts as below 1 only when it is
#: below 1 - SLACK, and a reported factor is the computed one plus SLACK where it bounds many
#: samples. It moves RK4's reported end by about SLACK / (h q4'(h)) relative, ~1e-13.
SLACK = 1e-13

#: Euler: the rounding allowance of every test, relative to a bound of the norm of the matrix
#: tested (see _EulerSamples). Eigenvalues from LAPACK and the backward error of Cholesky stay
#: below d * 1.1e-16 times that norm, far below this for d up to several hundred.
ROUNDING = 1e-13

#: Relative accuracy the root finders aim at (the reported end of an interval is within it,
#: below the true end, whenever the contraction is strong enough to resolve it).
RTOL = 1e-12

#: Matrices per Cholesky call in the Euler check (numpy's batched Cholesky fails a whole
#: batch at once; a failing chunk is retried matrix by matrix).
_CHUNK = 128

#: How many of the worst new samples join the active set in one round (see _euler_root).
_ADD = 16

#: Grid points per round of the RK4 scan (_first_crossing) and of the RK4 minimiser.
_GRID = 16
_MIN_GRID = 64

#: Loop limits: never reached in practice, they only bound the loops' work.
_MAX_ROUNDS = 400
_MAX_HALVINGS = 200
_MAX_DOUBLINGS = 200

_FACTORIAL = np.array([1.0, 1.0, 2.0, 6.0, 24.0])


# --- input and shared pieces ------------------------------------------------------------------


def _as_stack(A, name: str = "A") -> np.ndarray:
    """A (K, d, d) float64 stack; one (d, d) matrix is a stack of one."""
    A = np.asarray(A, dtype=float)
    if A.ndim == 2:
        A = A[None]
    if A.ndim != 3 or A.shape[1] != A.shape[2] or 0 in A.shape:
        raise ValueError(f"{name} must be a (K, d, d) stack of square Jacobians or one (d, d) "
                         f"matrix; got shape {A.shape}")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} has non-finite entries")
    return A


def _step(h) -> float:
    h = float(h)
    if not (h >= 0 and math.isfinite(h)):
        raise ValueError(f"the step must be a finite number >= 0; got {h}")
    return h


def _norms(B: np.ndarray) -> np.ndarray:
    """Spectral norms of a stack of matrices (the largest singular value of each)."""
    return np.linalg.svd(B, compute_uv=False)[..., 0]


def _lowest_margins(A: np.ndarray) -> np.ndarray:
    """lambda_min(sym A_k) for each k: the first-order rate of ||I - h A_k|| at h = 0."""
    return np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, 1, 2)))[:, 0]


def _positive_definite(S: np.ndarray) -> np.ndarray:
    """For each symmetric S_k: does a Cholesky factorisation succeed (S_k > 0, up to rounding)?

    Chunked, because numpy's batched Cholesky raises for a whole batch when one matrix fails;
    a failing chunk is retried matrix by matrix.
    """
    ok = np.ones(len(S), dtype=bool)
    for first in range(0, len(S), _CHUNK):
        chunk = S[first:first + _CHUNK]
        try:
            np.linalg.cholesky(chunk)
        except np.linalg.LinAlgError:
            for i, matrix in enumerate(chunk):
                try:
                    np.linalg.cholesky(matrix)
                except np.linalg.LinAlgError:
                    ok[first + i] = False
    return ok


def _lower_root(fun, lo: float, hi: float) -> float:
    """A point h in [lo, hi) with fun(h) < 0, within about RTOL of the first root of fun.

    Needs fun(lo) < 0 <= fun(hi). brentq returns a root to RTOL but does not say on which side
    of it; stepping back until fun < 0 again keeps the answer on the safe side.
    """
    x = scipy.optimize.brentq(fun, lo, hi, xtol=1e-3 * RTOL * hi, rtol=1e-3 * RTOL)
    back = 1e-3 * RTOL * x
    while x > lo:
        if fun(x) < 0:
            return x
        x, back = x - back, 2 * back
    return lo


# --- Euler ------------------------------------------------------------------------------------


class _EulerSamples:
    """The samples in the form the Euler searches use: psi_k(h) = lambda_min(2 S_k - h G_k).

    With S_k = sym A_k and G_k = A_k^T A_k, ||I - h A_k||^2 = lambda_max(I - 2h S_k + h^2 G_k)
    = 1 - h psi_k(h), so for h > 0 the factor q_k(h) < 1 iff psi_k(h) > 0. In this form
    1 - q_k^2 is computed without forming a norm near 1 and subtracting 1: its rounding error is
    about 1e-16 ||2 S_k - h G_k||, not 1e-16, which keeps the end of a slowly closing interval
    (an eigenvalue close to the imaginary axis) accurate. h psi_k(h) is concave in h.

    Every test keeps the allowance ROUNDING * scale_k(h), scale_k = ||2 S_k||_F + h ||A_k||_F^2
    >= ||2 S_k - h G_k||_2: floor() is psi_k minus it, and a sample passes a level c only if
    psi_k(h) >= c holds with it (rounding cannot make a failing sample pass).
    """

    def __init__(self, A: np.ndarray):
        self.A = A
        self.S2 = A + np.swapaxes(A, 1, 2)
        self.G = np.swapaxes(A, 1, 2) @ A
        self.s_norm = np.linalg.norm(self.S2, axis=(1, 2))
        self.g_norm = np.einsum("kij,kij->k", A, A)

    def psi(self, h: float, index=slice(None)) -> np.ndarray:
        return np.linalg.eigvalsh(self.S2[index] - h * self.G[index])[:, 0]

    def floor(self, h: float, index=slice(None)) -> np.ndarray:
        """psi_k(h) minus its rounding allowance: psi_k(h) >= floor_k(h) for the exact matrix."""
        return self.psi(h, index) - ROUNDING * (self.s_norm[index] + h * self.g_norm[index])

    def failing(self, h: float, level: float) -> np.ndarray:
        """The samples not proved to have psi_k(h) >= level, worst first.

        A Cholesky test of 2 S_k - h G_k - (level + allowance / 2) I per chunk, several times
        cheaper than eigenvalues (a pass proves psi_k >= level: the test's backward error is
        below the half allowance kept); only the matrices that fail it get an eigenvalue.
        """
        eye = np.eye(self.A.shape[1])
        shift = level + 0.5 * ROUNDING * (self.s_norm + h * self.g_norm)
        suspects = np.flatnonzero(~_positive_definite(self.S2 - h * self.G
                                                      - shift[:, None, None] * eye))
        floors = self.floor(h, suspects)
        below = floors < level
        return suspects[below][np.argsort(floors[below])]


def euler_factor(A, h) -> float:
    """q(h) = max_k ||I - h A_k||_2: the proven per-step factor of projected Euler at step h.

    A is the (K, d, d) stack of scaled Jacobians (or one (d, d) matrix); see the module doc.
    """
    A = _as_stack(A)
    return float(_euler_factors(A, _step(h)).max())


def _euler_factors(A: np.ndarray, h: float) -> np.ndarray:
    return _norms(np.eye(A.shape[1]) - h * A)


def _exceeding(A: np.ndarray, h: float, bound: float) -> np.ndarray:
    """The samples whose factor ||I - h A_k||_2 is above `bound`, worst first.

    ||I - h A_k|| <= c iff c^2 I - B_k^T B_k >= 0 (B_k = I - h A_k): a Cholesky test per chunk
    (with an allowance for its own rounding, so a pass proves the bound), several times
    cheaper than singular values; only the matrices that fail it are measured exactly.
    """
    eye = np.eye(A.shape[1])
    B = eye - h * A
    gap = (bound**2 - ROUNDING * (1.0 + bound**2)) * eye - np.swapaxes(B, 1, 2) @ B
    suspects = np.flatnonzero(~_positive_definite(gap))
    factors = _euler_factors(A[suspects], h)
    above = factors > bound
    return suspects[above][np.argsort(-factors[above])]


@dataclasses.dataclass(frozen=True)
class EulerSteps(Result):
    """Projected-Euler steps proved by the direct factor q(h) = max_k ||I - h A_k||_2.

    status: "contracts", or "no-step" (then the steps and factor are None and `message`
    says why and what to try). h_max: largest certified step (every 0 < h <= h_max has
    q(h) < 1; within about 1e-12 below the true end). h_best: the step minimising q (to about
    1e-8 relative: scipy's bounded search), and q_best >= q(h_best), its guaranteed factor per
    step over all samples.
    """

    status: str
    h_max: float | None
    h_best: float | None
    q_best: float | None
    samples: int
    message: str


def euler_steps(A) -> EulerSteps:
    """Largest and best projected-Euler steps from the stack of scaled Jacobians A (module doc).

    The samples are many (K up to ~1000) and, near the threshold, few of them matter. So both
    searches run on an active set of samples, and each candidate answer is checked against all
    samples at once (_EulerSamples.failing); samples that fail join the set and the search
    repeats. The check makes the answer exact for the full set: q >= q_active everywhere, so a
    root or a minimiser of q_active at which q equals q_active is one of q.
    """
    A = _as_stack(A)
    K = len(A)
    why = _euler_refusal(A)
    if why:
        return EulerSteps(NO_STEP, None, None, None, K, why)
    samples = _EulerSamples(A)
    h_max, active = _euler_root(samples)
    if h_max is None:
        return EulerSteps(NO_STEP, None, None, None, K,
                          "the contraction is too weak to resolve in double precision "
                          "(1 - q(h) stays within rounding of 0 for every h); use the "
                          "alpha/beta steps, or a metric with a larger margin")
    h_best, q_best = _euler_minimum(samples, h_max, active)
    return EulerSteps(CONTRACTS, h_max, h_best, q_best, K,
                      f"projected Euler contracts for 0 < h <= {h_max:.6g}; fastest at "
                      f"h = {h_best:.6g}, factor {q_best:.6g} per step")


def _euler_refusal(A: np.ndarray) -> str:
    """Why no Euler step contracts, or "" when every sym A_k is positive definite.

    q'(0+) = -min_k lambda_min(sym A_k) and q is convex with q(0) = 1: if some sym A_k is not
    positive definite, q(h) >= 1 for every h > 0.
    """
    ok = _positive_definite(0.5 * (A + np.swapaxes(A, 1, 2)))
    if ok.all():
        return ""
    bad = np.flatnonzero(~ok)
    margins = _lowest_margins(A[bad])
    worst = int(np.argmin(margins))
    return (f"no Euler step contracts in this metric: lambda_min(sym A) = {margins[worst]:.6g} "
            f"<= 0 at sample {int(bad[worst])} ({len(bad)} of {len(A)} samples), so some "
            f"direction does not shrink for any step; try other metric weights (one in which "
            f"the game is monotone), or a smaller region around the equilibrium")


def _new(failing: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Up to _ADD of the failing samples that are not active yet, worst first."""
    return failing[~np.isin(failing, active)][:_ADD]


def _euler_root(samples: _EulerSamples) -> tuple[float | None, np.ndarray]:
    """(h_max, active samples): the end of {q < 1}, just below it, or None if unresolvable.

    The search finds the end of {h : min_active floor_k(h) > 0} (each floor_k is concave, so
    this is an interval) from below, then checks every sample at it.

    Upper bracket, provably valid: for any unit vector v, ||(I - hA)v||^2 =
    1 - 2h v^T A v + h^2 ||A v||^2 >= 1 once h >= 2 v^T A v / ||A v||^2. With v the coordinate
    vectors this costs nothing; every later bracket is a point where a sample just added to the
    active set fails.
    """
    A = samples.A
    columns = np.einsum("kij,kij->kj", A, A)                 # ||A_k e_j||^2
    diagonal = np.einsum("kjj->kj", A)                       # e_j^T A_k e_j > 0 here
    ends = (2.0 * diagonal / columns).min(axis=1)
    # The samples with the smallest such ends are a good first guess of the binding ones.
    active = np.argsort(ends)[:_ADD]
    hi = float(ends[active[0]])
    for _ in range(len(A)):
        def shortfall(h, active=active):
            return -float(samples.floor(h, active).min())

        lo = hi
        for _ in range(_MAX_HALVINGS):
            lo *= 0.5
            if shortfall(lo) < 0:
                break
        else:
            return None, active
        h = _lower_root(shortfall, lo, hi)
        new = _new(samples.failing(h, 0.0), active)
        if not new.size:
            return h, active
        active, hi = np.concatenate([active, new]), h
    raise AssertionError("unreachable: the active set grows every round")


def _euler_minimum(samples: _EulerSamples, h_max: float,
                   active: np.ndarray) -> tuple[float, float]:
    """(h_best, factor): the minimiser of q on (0, h_max] and a proved bound of q there.

    In the direct form: the factor can be small here, where 1 - q^2 (the psi form) would lose
    q's accuracy (an error e in 1 - q^2 is one of e / 2q in q). q is convex (a max of norms of
    affine maps), hence unimodal: bounded Brent search on the active samples, then a check
    that no sample exceeds the active maximum plus SLACK, the reported factor.
    """
    A = samples.A
    for _ in range(len(A)):
        def q_active(h, subset=A[active]):
            return float(_euler_factors(subset, h).max())

        found = scipy.optimize.minimize_scalar(q_active, bounds=(0.0, h_max), method="bounded",
                                               options={"xatol": RTOL * h_max})
        h = float(found.x)
        bound = min(q_active(h) + SLACK, 1.0 - SLACK)
        new = _new(_exceeding(A, h, bound), active)
        if not new.size:
            return h, bound
        active = np.concatenate([active, new])
    raise AssertionError("unreachable: the active set grows every round")


# --- RK4 --------------------------------------------------------------------------------------


def _spread_excess(h, b: float, delta: float):
    """g(h(b + delta)) - g(hb): the bound on ||T - R(-h A_c)|| (docs/rk4.md, section 9).

    Expanded as sum_k h^k ((b + delta)^k - b^k) / k!, every term >= 0 (no cancellation when
    delta is small against b).
    """
    h = np.asarray(h, dtype=float)
    return sum(h**k * ((b + delta) ** k - b**k) / _FACTORIAL[k] for k in range(1, 5))


def _rk4_powers(A_c: np.ndarray) -> np.ndarray:
    """(-A_c)^k for k = 0..4, shape (5, d, d): R(-h A_c) = sum_k h^k / k! (-A_c)^k."""
    P = np.empty((5,) + A_c.shape)
    P[0] = np.eye(len(A_c))
    for k in range(1, 5):
        P[k] = -A_c @ P[k - 1]
    return P


def _rk4_norms(P: np.ndarray, h: np.ndarray) -> np.ndarray:
    """||R(-h A_c)||_2 for each step in h (1-d array)."""
    coefficients = h[:, None] ** np.arange(5) / _FACTORIAL
    return _norms(np.tensordot(coefficients, P, axes=(1, 0)))


def rk4_factor_constant(A, h) -> float:
    """||R(-h A)||_2: the exact RK4 factor per step for the linear field with scaled Jacobian A.

    A is one (d, d) matrix (or a stack of one).
    """
    A = _as_stack(A)
    if len(A) != 1:
        raise ValueError("rk4_factor_constant takes one Jacobian; for several use "
                         "rk4_factor_varying")
    return float(_rk4_norms(_rk4_powers(A[0]), np.array([_step(h)]))[0])


def _centre_and_spread(A: np.ndarray, A_c) -> tuple[np.ndarray, float]:
    """The centre (given, or the mean of the samples) and delta = max_k ||A_k - A_c||_2."""
    if A_c is None:
        A_c = A.mean(axis=0) if len(A) > 1 else A[0]
    A_c = _as_stack(A_c, "A_c")
    if len(A_c) != 1 or A_c.shape[1:] != A.shape[1:]:
        raise ValueError(f"A_c must be one {A.shape[1]} x {A.shape[1]} matrix; got shape "
                         f"{A_c.shape}")
    A_c = A_c[0]
    return A_c, float(_norms(A - A_c).max())


def rk4_factor_varying(A, A_c, h) -> float:
    """||R(-h A_c)||_2 + g(h(b + delta)) - g(hb): a proven RK4 factor per step at step h.

    A: the (K, d, d) stack of scaled Jacobians; A_c: a centre (any d x d matrix, e.g. the
    Jacobian at the centre of the region, or None for the mean of A); b = ||A_c||_2,
    delta = max_k ||A_k - A_c||_2. Valid for two points whose RK4 stage points all lie in the
    region the Jacobians describe (docs/rk4.md, section 9). Equals rk4_factor_constant(A_c, h)
    when delta = 0.
    """
    A = _as_stack(A)
    A_c, delta = _centre_and_spread(A, A_c)
    return rk4_spread_factor(A_c, delta, _step(h))


class _RK4Bound:
    """q4(h) = ||R(-h A_c)|| + g(h(b + delta)) - g(hb), and a bound of it over an interval.

    end_bound(u, v) is E with q4 < 1 on (u, v] whenever q4(u) < 1 (or u = 0) and E < 1. Write
    P(u + t) = R(-(u + t) A_c) = X0 + t X1 + sum_{j>=2} t^j X_j (a polynomial in t, X_j its
    Taylor coefficients at u) and t = tau (v - u), tau in [0, 1]:
      - ||X0 + t X1|| is convex in t, so <= (1 - tau) ||X0|| + tau ||X0 + (v - u) X1||;
      - ||X_j|| <= the same coefficient of the majorant S(h) = sum_k (hb)^k / k!, so the rest
        is <= rho(t) = S(u + t) - S(u) - t S'(u), a polynomial with nonnegative coefficients
        starting at t^2, hence rho(t) <= tau rho(v - u);
      - the spread term D(h) = g(h(b + delta)) - g(hb) is convex with D(0) = 0, so
        D(u + t) <= (1 - tau) D(u) + tau D(v).
    Together q4(u + t) <= (1 - tau) q4(u) + tau E, E = ||X0 + (v - u) X1|| + rho(v - u) + D(v).
    """

    def __init__(self, A_c: np.ndarray, delta: float):
        self.P = _rk4_powers(A_c)
        self.b = float(_norms(A_c[None])[0])
        self.delta = delta

    def value(self, h: np.ndarray) -> np.ndarray:
        return _rk4_norms(self.P, h) + _spread_excess(h, self.b, self.delta)

    def end_bound(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        t = v - u
        k = np.arange(5)
        # X0 + t X1 = sum_k (u^k + t k u^(k-1)) / k! (-A_c)^k
        uk = u[:, None]
        linear = (uk**k + t[:, None] * k * uk ** np.maximum(k - 1, 0)) / _FACTORIAL
        rest = np.zeros_like(u)
        for power in range(2, 5):           # (u + t)^k - u^k - k t u^(k-1), term by term
            for j in range(2, power + 1):
                rest += (self.b**power / _FACTORIAL[power] * math.comb(power, j)
                         * u ** (power - j) * t**j)
        return (_norms(np.tensordot(linear, self.P, axes=(1, 0))) + rest
                + _spread_excess(v, self.b, self.delta))


def _first_crossing(bound: _RK4Bound, h_top: float) -> float:
    """The end of the first interval (0, h) on which q4 < 1, from below; 0.0 if none is proved.

    Needs q4(h_top) >= 1 - SLACK. Keeps lo (q4 < 1 proved on (0, lo]) and hi (a point with
    q4 >= 1 - SLACK). Each round scans a window [lo, top] on _GRID points: the first point at
    or above 1 - SLACK becomes hi, and lo advances over the grid intervals that end_bound
    proves free of crossings. A failed interval is scanned on its own in the next round, _GRID
    times finer; a fully proved window is followed by one twice as wide.
    """
    lo, hi, width = 0.0, h_top, h_top
    for _ in range(_MAX_ROUNDS):
        if hi - lo <= RTOL * hi or width <= 1e-3 * RTOL * hi:
            break
        top = min(hi, lo + width)
        grid = np.linspace(lo, top, _GRID + 1)
        values = bound.value(grid[1:])
        above = np.flatnonzero(values >= 1.0 - SLACK)
        if above.size:
            hi = float(grid[above[0] + 1])
            grid = grid[: above[0] + 2]
        proved = bound.end_bound(grid[:-1], grid[1:]) < 1.0 - SLACK
        if above.size:
            proved[-1] = False          # the interval that ends at a crossing never counts
        failed = np.flatnonzero(~proved)
        if failed.size:
            lo = float(grid[failed[0]])
            width = float(grid[failed[0] + 1] - grid[failed[0]])
        else:
            lo, width = float(top), 2.0 * width
    return lo


def _rk4_minimum(bound: _RK4Bound, h_max: float) -> tuple[float, float]:
    """(h_best, q4(h_best)) on (0, h_max]: a grid scan, then a bounded search around its best.

    q4 is not convex, so this is a good step rather than a proved minimiser; its factor is the
    computed q4 at the returned step, < 1 because the whole of (0, h_max] is proved.
    """
    grid = np.linspace(0.0, h_max, _MIN_GRID + 1)[1:]
    values = bound.value(grid)
    j = int(np.argmin(values))
    left = grid[j - 1] if j > 0 else 0.0
    right = grid[min(j + 1, len(grid) - 1)]
    found = scipy.optimize.minimize_scalar(lambda h: float(bound.value(np.array([h]))[0]),
                                           bounds=(left, right), method="bounded",
                                           options={"xatol": RTOL * h_max})
    if 0 < found.x <= h_max and found.fun < values[j]:
        return float(found.x), float(found.fun)
    return float(grid[j]), float(values[j])


@dataclasses.dataclass(frozen=True)
class RK4Steps(Result):
    """RK4 steps proved by the direct factor (exact for a linear field, else the spread bound).

    status: "contracts" or "no-step" (steps and factor None; `message` says why). bound:
    "exact-linear" (delta = 0: q4 = ||R(-hA)||_2 exactly) or "spread" (q4 = ||R(-h A_c)||_2 +
    g(h(b + delta)) - g(hb), valid while the stage points stay in the region). h_max: the end
    of the first interval on which q4 < 1 (every 0 < h <= h_max is proved), just below it.
    h_best, q_best: a step that minimises q4 on (0, h_max] and its factor q4(h_best).
    spread: delta = max_k ||A_k - A_c||_2; centre_norm: b = ||A_c||_2.
    """

    status: str
    bound: str
    h_max: float | None
    h_best: float | None
    q_best: float | None
    spread: float
    centre_norm: float
    samples: int
    message: str


def rk4_steps(A, A_c=None) -> RK4Steps:
    """Largest and best RK4 steps from the stack of scaled Jacobians A (module doc).

    A_c: the centre of the spread bound (default: the mean of the samples; any d x d matrix
    is valid, the closer to all samples the better). One Jacobian (K = 1, A_c None) gives the
    exact factor of the linear field.
    """
    A = _as_stack(A)
    A_c, delta = _centre_and_spread(A, A_c)
    return rk4_steps_from_spread(A_c, delta, samples=len(A))


def rk4_spread_factor(A_c, delta: float, h: float) -> float:
    """The RK4 factor bound at step h for a centre A_c and a spread delta (module doc)."""
    return float(_RK4Bound(np.asarray(A_c, dtype=np.float64), float(delta)).value(
        np.array([float(h)]))[0])


def rk4_steps_from_spread(A_c, delta: float, *, samples: int = 0) -> RK4Steps:
    """`rk4_steps` for a centre A_c and a spread delta >= sup ||A - A_c||_2 known otherwise
    (measured or proved over a region rather than taken over a stack of samples)."""
    A_c = np.asarray(A_c, dtype=np.float64)
    delta = float(delta)
    kind = EXACT_LINEAR if delta == 0 else SPREAD
    bound = _RK4Bound(A_c, delta)

    def refuse(message: str) -> RK4Steps:
        return RK4Steps(NO_STEP, kind, None, None, None, delta, bound.b, samples, message)

    # q4(h) = 1 - h (lambda_min(sym A_c) - delta) + O(h^2): no contraction for small steps
    # unless the centre's margin beats the spread; when they are equal, the chord bounds of
    # _first_crossing cannot prove a step either.
    margin = float(_lowest_margins(A_c[None])[0])
    if margin - delta <= 0:
        if kind == EXACT_LINEAR:
            return refuse(f"no RK4 step is certified in this metric: lambda_min(sym A) = "
                          f"{margin:.6g} <= 0 (below 0, some direction grows for every small "
                          f"step); try other metric weights (one in which the game is "
                          f"monotone)")
        return refuse(f"the spread bound proves no RK4 step: the Jacobians' spread "
                      f"delta = {delta:.6g} around the centre is at least its margin "
                      f"lambda_min(sym A_c) = {margin:.6g}; use the alpha/beta RK4 bound "
                      f"(sgn/_steps.py), a centre closer to all samples, or a smaller region")
    # An end of the search: q4(h) >= ||R(-h A_c)|| >= max over eigenvalues |R(-h lambda)|,
    # which grows like h^4 (every eigenvalue is nonzero: Re lambda >= margin > 0).
    h_top = 1.0 / bound.b
    for _ in range(_MAX_DOUBLINGS):
        if bound.value(np.array([h_top]))[0] >= 1.0 - SLACK:
            h_max = _first_crossing(bound, h_top)
            break
        h_top *= 2.0
    else:
        h_max = 0.0
    if h_max <= 0:
        return refuse("the RK4 factor could not be proved below 1 for any step (the "
                      "contraction is too weak to resolve in double precision); use the "
                      "alpha/beta RK4 bound (sgn/_steps.py)")
    h_best, q_best = _rk4_minimum(bound, h_max)
    return RK4Steps(CONTRACTS, kind, h_max, h_best, q_best, delta, bound.b, samples,
                    f"RK4 ({kind} bound) contracts for 0 < h <= {h_max:.6g}; fastest at "
                    f"h = {h_best:.6g}, factor {q_best:.6g} per step")
