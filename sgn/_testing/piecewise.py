"""Random piecewise-smooth games, certified both ways and held to what they claim (issue 17).

Used by tests/test_soundness_piecewise.py (a small batch) and benchmarks/soundness_report.py
(`--piecewise N`). A game is a smooth, strongly monotone-ish base (own quadratics, smooth
couplings, a linear term putting a zero of F at a random point) plus 0 to 3 extra terms drawn
from FAMILIES; each term acts on one coordinate u (of the player's own block, "own" mode:
cost += s g(u), or of another player's block, "cross" mode: cost += s x_p g(u), so F_p gets
s g(u)). Every number is a 0-d array constant, so games of the same shape share sgn's compiled
code (sgn/_shared.py).

    case = random_piecewise(seed)                 # or random_piecewise(seed, families=[...])
    rec = check_piecewise(case)                   # certify both ways, brute force, simulate
    rec["violations"], rec["interval"], rec["sampled"], ...
    tally([rec, ...])                             # the counts of the closing note

The families, and what sgn must do with them:

  detected   abs, max, min, where (continuous and jumping), floor, round, sign, clip, and
             custom_jvp rules (one that lies about its function, one that is right): F has a
             kink or a jump, or its derivative is not JAX's, and sgn sees the primitive in F's
             program (Game.non_smooth). `--verify` must fall back to sampled bounds with a note
             naming it (verified false), and the sampled certificate must carry the warning
             note naming it too. A verified claim is a violation.
  disguised  the same kinks written with operations sgn lists as smooth: sqrt((u - c)^2) (a
             kink, F jumps) and cbrt (F has an infinite slope). Game.non_smooth is None, so
             the interval path runs: it may refuse (the enclosure is not finite) or prove
             nothing, and any verified claim is held to brute force.
  sharp      smooth but steep: sqrt((u - c)^2 + eps), tanh / log cosh of k (u - c). Verified
             claims are expected and held to brute force; sampled bounds may miss the narrow
             feature (reported, not a violation: sampled bounds are estimates).
  gaps       custom derivative rules that leave no trace in F's program (a custom_jvp whose
             rule computes the primal itself, a custom_vjp: the usual way to write one): the
             rule is baked into F, Game.non_smooth is None, and a verified certificate is about
             the rule's field, not the costs' gradient. Off by default (`gaps=True`): the known
             open hole this suite found (see the tests).

What counts (check_piecewise, tally):

  violations  a verified certificate (cert.verified) on a game sgn itself calls non-smooth;
              for verified claims on games it calls smooth, any bound beaten by brute force
              (a dense sample of J via JAX; finite-difference slopes of F along lines, across
              the kinks, and of pairs: mu_i, L_ij, gamma, the metric margin alpha, beta, the
              Euler factor), F not the gradient of the costs (central differences of the
              costs), a second equilibrium in the certified basin, a broken promise in
              sgn.simulate; for games with a detected family, Game.non_smooth None (the
              detector missed it), an interval certificate that is not the sampled fallback
              with the note naming the primitive, a sampled certificate without the warning
              note naming it.
  crashes     an exception that is not sgn's own error (an internal error, exit 3): counted
              apart from violations (a crash claims nothing), and must be 0 as well.
  reported    fallbacks (the note says it fell back; verified false), refusals (sgn's own
              error, e.g. a Jacobian enclosure that is not finite: bad input, exit 2),
              sampled certificates certified, and those whose simulation breaks a promise
              (with the warning note: expected to be possible; without a note: smooth or
              disguised games), and sampled bounds beaten by the slopes of F.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from scipy.stats import qmc

import sgn
from sgn._errors import SGNError
from sgn._simulate import promised_factor
from sgn._verdict import Verdict

from .soundness import block_quantities, metric_quantities

# --- custom derivative rules (module level: one identity, so games share compiled code) ------


@jax.custom_jvp
def lying_linear(v, a, b):
    """a v, whose rule claims the derivative b (a != b: it lies)."""
    return a * v


@lying_linear.defjvp
def _lying_linear_jvp(primals, tangents):
    v, a, b = primals
    return lying_linear(v, a, b), b * tangents[0]


@jax.custom_jvp
def honest_logcosh(v):
    """log cosh v, with its true derivative tanh v as the rule."""
    return jnp.log(jnp.cosh(v))


@honest_logcosh.defjvp
def _honest_logcosh_jvp(primals, tangents):
    (v,), (t,) = primals, tangents
    return honest_logcosh(v), jnp.tanh(v) * t


@jax.custom_jvp
def honest_tanh(v):
    """tanh v, with its true derivative 1 - tanh^2 v as the rule."""
    return jnp.tanh(v)


@honest_tanh.defjvp
def _honest_tanh_jvp(primals, tangents):
    (v,), (t,) = primals, tangents
    y = honest_tanh(v)   # the rule calls the function (computing tanh here leaves no trace)
    return y, (1.0 - y * y) * t


@jax.custom_jvp
def inline_logcosh(v, b):
    """a log cosh v with a rule that computes the primal itself (no call of this function)
    and claims the derivative b tanh v: no custom_jvp_call is left in F's program."""
    return jnp.log(jnp.cosh(v))


@inline_logcosh.defjvp
def _inline_logcosh_jvp(primals, tangents):
    v, b = primals
    return jnp.log(jnp.cosh(v)), b * jnp.tanh(v) * tangents[0]


@jax.custom_vjp
def vjp_logcosh(v, b):
    """log cosh v with a backward rule b tanh v (the forward rule computes the primal, as
    custom_vjp rules are written): nothing of the rule's call is left in F's program."""
    return jnp.log(jnp.cosh(v))


def _vjp_fwd(v, b):
    return jnp.log(jnp.cosh(v)), (v, b)


def _vjp_bwd(res, g):
    v, b = res
    return b * jnp.tanh(v) * g, jnp.zeros_like(b)


vjp_logcosh.defvjp(_vjp_fwd, _vjp_bwd)


# --- the families ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    kind: str            # "detected", "disguised", "sharp", "gap"
    modes: tuple         # "own" and/or "cross"
    ops: frozenset       # primitives Game.non_smooth may name (empty: none expected)
    jump: dict           # mode -> F jumps (True), is continuous at the switch (False), else None


_CMP = frozenset({"gt", "lt", "ge", "le", "eq", "ne", "select_n", "and", "or", "not"})

FAMILIES = {f.name: f for f in (
    Family("abs", "detected", ("own", "cross"), frozenset({"abs"}),
           {"own": True, "cross": False}),
    Family("max", "detected", ("own", "cross"), frozenset({"max"}) | _CMP,
           {"own": True, "cross": False}),
    Family("min", "detected", ("own", "cross"), frozenset({"min"}) | _CMP,
           {"own": True, "cross": False}),
    Family("where_cont", "detected", ("own", "cross"), _CMP,
           {"own": False, "cross": False}),
    Family("where_jump", "detected", ("own", "cross"), _CMP,
           {"own": True, "cross": True}),
    Family("floor", "detected", ("own", "cross"), frozenset({"floor"}),
           {"own": True, "cross": True}),
    Family("round", "detected", ("own", "cross"), frozenset({"round"}),
           {"own": True, "cross": True}),
    Family("sign", "detected", ("own", "cross"), frozenset({"sign"}),
           {"own": True, "cross": True}),
    Family("clip", "detected", ("own", "cross"), frozenset({"clamp", "max", "min"}) | _CMP,
           {"own": True, "cross": False}),
    Family("jvp_lying", "detected", ("cross",), frozenset({"custom_jvp_call"}),
           {"cross": None}),
    Family("jvp_honest", "detected", ("own", "cross"), frozenset({"custom_jvp_call"}),
           {"own": None, "cross": None}),
    Family("sqrt_kink", "disguised", ("own", "cross"), frozenset(),
           {"own": True, "cross": False}),
    Family("cbrt", "disguised", ("own", "cross"), frozenset(),     # continuous, slope inf
           {"own": None, "cross": None}),
    Family("softabs", "sharp", ("own", "cross"), frozenset(), {"own": None, "cross": None}),
    Family("steep", "sharp", ("own", "cross"), frozenset(), {"own": None, "cross": None}),
    Family("jvp_inline", "gap", ("own",), frozenset(), {"own": None}),
    Family("vjp_lying", "gap", ("own",), frozenset(), {"own": None}),
)}

DETECTED = tuple(n for n, f in FAMILIES.items() if f.kind == "detected")
DISGUISED = tuple(n for n, f in FAMILIES.items() if f.kind == "disguised")
SHARP = tuple(n for n, f in FAMILIES.items() if f.kind == "sharp")
GAPS = tuple(n for n, f in FAMILIES.items() if f.kind == "gap")


def _g(name: str, mode: str, u, P: dict):
    """The term's function of its coordinate u (cost += s g(u) own, s x_p g(u) cross)."""
    v = u - P["c"]
    if name == "abs":
        return jnp.abs(v)
    if name in ("max", "min"):
        pick = jnp.maximum if name == "max" else jnp.minimum
        return pick(P["a1"] * v + P["e1"] * v * v, P["a2"] * v + P["e2"] * v * v)
    if name == "where_cont":
        if mode == "own":   # C1 cost: F has a kink
            return jnp.where(v > 0, 0.5 * P["a1"] * v * v, 0.5 * P["a2"] * v * v)
        return jnp.where(v > 0, P["a1"] * v, P["a2"] * v)
    if name == "where_jump":
        if mode == "own":   # F jumps from a2 to a1
            return jnp.where(v > 0, P["a1"] * v, P["a2"] * v)
        return jnp.where(v > 0, P["j"] + P["a1"] * v, P["a2"] * v)
    if name in ("floor", "round"):
        step = (jnp.floor if name == "floor" else jnp.round)(P["k"] * v) / P["k"]
        return u * step if mode == "own" else step
    if name == "sign":
        return v * jnp.sign(v) if mode == "own" else jnp.sign(v)
    if name == "clip":
        cl = jnp.clip(v, -P["w"], P["w"])
        return 0.5 * cl * cl if mode == "own" else cl
    if name == "jvp_lying":
        return lying_linear(v, P["a"], P["b"])
    if name == "jvp_honest":
        return honest_logcosh(v) if mode == "own" else honest_tanh(v)
    if name == "sqrt_kink":
        return jnp.sqrt(v * v)
    if name == "cbrt":
        r = jnp.cbrt(v)
        return 0.75 * r * r * r * r if mode == "own" else r
    if name == "softabs":
        return jnp.sqrt(v * v + P["eps"])
    if name == "steep":
        if mode == "own":
            return jnp.log(jnp.cosh(P["k"] * v)) / P["k"]
        return jnp.tanh(P["k"] * v)
    if name == "jvp_inline":
        return inline_logcosh(v, P["b"])
    if name == "vjp_lying":
        return vjp_logcosh(v, P["b"])
    raise ValueError(name)


@dataclasses.dataclass(frozen=True)
class PTerm:
    """One extra term: family, mode, player, p (the player's own coordinate, joint index),
    q (the coordinate u, joint index; q == p in own mode), s (scale), params (floats)."""

    family: str
    mode: str
    player: int
    p: int
    q: int
    s: float
    params: dict

    def kinks(self) -> list[float]:
        """Where along u the term switches (clip: both ends); floor / round: the centre only
        (their steps are found by the line scans)."""
        c = self.params.get("c", 0.0)
        if self.family == "clip":
            return [c - self.params["w"], c + self.params["w"]]
        if self.family in ("floor", "round"):
            k = self.params["k"]
            base = 0.0 if self.family == "floor" else 0.5
            return [c + (m + base) / k for m in range(-3, 4)]
        return [c]


@dataclasses.dataclass
class PiecewiseCase:
    seed: int
    dims: tuple
    low: np.ndarray
    high: np.ndarray
    constrained: bool
    own: list                 # A_k
    couplings: list           # (i, j, s, B, u, v): cost_i += s u(x_i)^T B v(x_j)
    terms: list               # PTerm
    x_target: np.ndarray
    b: list                   # linear terms
    game: sgn.Game = dataclasses.field(repr=False)

    @property
    def n(self) -> int:
        return len(self.dims)

    @property
    def dim(self) -> int:
        return int(sum(self.dims))

    @property
    def families(self) -> list[str]:
        return [t.family for t in self.terms]

    @property
    def kind(self) -> str:
        """detected (some detected family), gap, disguised, sharp or smooth (no extra term),
        in that order of precedence."""
        kinds = {FAMILIES[f].kind for f in self.families}
        for k in ("detected", "gap", "disguised", "sharp"):
            if k in kinds:
                return k
        return "smooth"

    @property
    def expected_ops(self) -> frozenset:
        out = frozenset()
        for f in self.families:
            out |= FAMILIES[f].ops
        return out

    @property
    def name(self) -> str:
        fams = "+".join(f"{t.family}:{t.mode}" for t in self.terms) or "smooth"
        return f"piecewise-{self.seed}-{fams}"


_JNP = {"id": lambda x: x, "tanh": jnp.tanh, "sin": jnp.sin}
_PAIRS = (("id", "id"), ("id", "tanh"), ("tanh", "id"), ("id", "sin"))


def _costs(dims, own, couplings, terms, b):
    n = len(dims)
    arr = lambda x: jnp.asarray(x, dtype=jnp.float64)  # noqa: E731  (constants, not literals)

    def make(k):
        A = arr(own[k])
        bk = arr(b[k])
        mine = [(j, arr(s), arr(B), u, v) for (i, j, s, B, u, v) in couplings if i == k]
        extra = [(t.family, t.mode, t.p, t.q, arr(t.s), {key: arr(val) for key, val
                                                         in t.params.items()})
                 for t in terms if t.player == k]

        def cost(*xs):
            x = jnp.concatenate(xs)
            xk = xs[k]
            total = 0.5 * xk @ A @ xk + bk @ xk
            for j, s, B, u, v in mine:
                total = total + s * (_JNP[u](xk) @ B @ _JNP[v](xs[j]))
            for fam, mode, p, q, s, P in extra:
                g = _g(fam, mode, x[q], P)
                total = total + s * (g if mode == "own" else x[p] * g)
            return total

        return cost

    return [make(k) for k in range(n)]


def _spd(rng, d, lo=0.5, hi=2.0):
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    A = (Q * rng.uniform(lo, hi, size=d)) @ Q.T
    return 0.5 * (A + A.T)


def _draw_params(rng, family: str, mode: str, c: float, width: float) -> dict:
    """Parameters of one term (besides s); slopes are O(1), s sets the size."""
    P = {"c": c}
    sgn_ = lambda: float(rng.choice([-1.0, 1.0]))  # noqa: E731
    if family in ("max", "min"):
        P.update(a1=float(rng.uniform(-1.5, 1.5)), a2=float(rng.uniform(-1.5, 1.5)),
                 e1=float(rng.choice([0.0, rng.uniform(-1, 1)])),
                 e2=float(rng.choice([0.0, rng.uniform(-1, 1)])))
    elif family in ("where_cont", "where_jump"):
        P.update(a1=float(rng.uniform(-1.5, 1.5)), a2=float(rng.uniform(-1.5, 1.5)))
        if family == "where_jump":
            P["j"] = sgn_() * float(rng.uniform(0.2, 1.0))
    elif family in ("floor", "round"):
        P["k"] = float(rng.uniform(1.5, 8.0) / max(width, 0.5))
    elif family == "clip":
        P["w"] = float(rng.uniform(0.1, 0.4) * width)
    elif family == "jvp_lying":
        a = float(rng.uniform(0.5, 2.0)) * sgn_()
        P.update(a=a, b=float(rng.choice([0.0, -a, 0.2 * a])))
    elif family == "softabs":
        P["eps"] = float(np.exp(rng.uniform(np.log(1e-4), np.log(1e-2))))
    elif family == "steep":
        P["k"] = float(np.exp(rng.uniform(np.log(5.0), np.log(100.0))))
    elif family in ("jvp_inline", "vjp_lying"):
        P["b"] = float(rng.uniform(-1.0, 1.0))
    return P


def random_piecewise(seed: int, *, n: int | None = None, dims=None, families=None,
                     terms: int | None = None, constrained: bool | None = None,
                     gaps: bool = False, size: float | None = None) -> PiecewiseCase:
    """A random piecewise-smooth game, every choice drawn from `seed` unless given.

    n: 2 or 3 players, each of dimension 1 or 2 (dims). families: the extra terms'
    families, "name" or "name:mode" (default: drawn; about 15% of draws have no extra term,
    10% a sharp smooth one, 10% a disguised kink, the rest 1 to 3 detected terms; `gaps` adds
    the gap families to the draw). size: the extra terms' scale relative to the players'
    curvatures (default log-uniform in [0.03, 3], so that some games are certifiable by
    sampled bounds and some are not).
    """
    rng = np.random.default_rng(seed)
    n = n or int(rng.integers(2, 4))
    dims = [int(d) for d in (dims if dims is not None else rng.choice([1, 1, 2], size=n))]
    d = sum(dims)
    offsets = np.concatenate([[0], np.cumsum(dims)]).astype(int)
    if constrained is None:
        constrained = bool(rng.uniform() < 0.25)
    R = rng.uniform(0.5, 2.0)
    low, high = -R * rng.uniform(0.6, 1.4, size=d), R * rng.uniform(0.6, 1.4, size=d)
    own = [_spd(rng, di) for di in dims]
    mu = np.array([np.linalg.eigvalsh(A)[0] for A in own])
    coupling_scale = float(np.exp(rng.uniform(np.log(0.05), np.log(0.8)))) / max(n - 1, 1)
    couplings = []
    for i in range(n):
        for j in range(n):
            if i != j and rng.uniform() < 0.7:
                u, v = _PAIRS[rng.integers(len(_PAIRS))]
                G = rng.standard_normal((dims[i], dims[j]))
                B = G / np.linalg.norm(G, 2) * coupling_scale * math.sqrt(mu[i] * mu[j]) \
                    * rng.uniform(0.5, 1.5)
                couplings.append((i, j, 1.0, B, u, v))
    if families is None:
        r = rng.uniform()
        if r < 0.15:
            families = []
        elif r < 0.25:
            families = [str(rng.choice(SHARP))]
        elif r < 0.35:
            families = [str(rng.choice(DISGUISED))]
        else:
            pool = DETECTED + (GAPS if gaps else ())
            families = [str(f) for f in rng.choice(pool, size=terms or int(rng.integers(1, 4)))]
    extra = []
    for spec in families:
        fam, _, mode = str(spec).partition(":")
        F = FAMILIES[fam]
        k = int(rng.integers(n))
        mode = mode or str(rng.choice(F.modes))
        if mode not in F.modes:
            raise ValueError(f"{fam} has no {mode!r} mode (only {F.modes})")
        p = int(offsets[k] + rng.integers(dims[k]))
        if mode == "own":
            q = p
        else:
            others = [i for i in range(n) if i != k]
            j = int(rng.choice(others))
            q = int(offsets[j] + rng.integers(dims[j]))
        lo_q, hi_q = low[q], high[q]
        # The switch inside the box, off its centre (most draws), or just outside.
        c = float(lo_q + (hi_q - lo_q) * (rng.uniform(0.15, 0.85) if rng.uniform() < 0.85
                                          else rng.choice([-0.1, 1.1])))
        P = _draw_params(rng, fam, mode, c, float(hi_q - lo_q))
        m = size if size is not None else float(np.exp(rng.uniform(np.log(0.03), np.log(3.0))))
        s = float(m * mu[k] * rng.choice([-1.0, 1.0]))
        extra.append(PTerm(fam, mode, k, p, q, s, P))
    x_target = low + (high - low) * rng.uniform(0.2, 0.8, size=d)
    zero_b = [np.zeros(di) for di in dims]
    costs0 = _costs(dims, own, couplings, extra, zero_b)
    F0 = np.asarray(jax.jit(_field_of(costs0, dims))(jnp.asarray(x_target)))
    b = [-F0[offsets[k]:offsets[k + 1]].copy() for k in range(n)]
    case = PiecewiseCase(seed, tuple(dims), low, high, constrained, own, couplings, extra,
                         x_target, b, game=None)
    case.game = sgn.Game(costs=_costs(dims, own, couplings, extra, b), dims=list(dims),
                         region=sgn.Box(low, high), name=case.name, constrained=constrained)
    return case


def _field_of(costs, dims):
    offsets = np.concatenate([[0], np.cumsum(dims)]).astype(int)

    def field(x):
        xs = [x[offsets[k]:offsets[k + 1]] for k in range(len(dims))]
        parts = []
        for k, f in enumerate(costs):
            parts.append(jax.grad(lambda xk, k=k, f=f: f(*(xs[:k] + [xk] + xs[k + 1:])))(xs[k]))
        return jnp.concatenate(parts)

    return field


# --- brute force ----------------------------------------------------------------------------------

class Oracle:
    """sgn's own F and J, evaluated densely by JAX (vmapped and jitted once per game), and the
    costs' gradient by central differences."""

    def __init__(self, case: PiecewiseCase):
        self.case = case
        game = case.game
        self._F = jax.jit(jax.vmap(game.pseudo_gradient))
        self._J = jax.jit(jax.vmap(game.jacobian))
        costs = game.costs
        self._costs = jax.jit(jax.vmap(lambda x: jnp.stack(
            [f(*game.split(x)) for f in costs])))

    def field(self, X):
        return _chunked(self._F, X)

    def jacobian(self, X):
        return _chunked(self._J, X)

    def cost_gradient(self, X, rel_step: float = 1e-6):
        """d f_k / d x_k by central differences (each player's own coordinates)."""
        case = self.case
        X = np.asarray(X, float)
        h = rel_step * np.maximum(case.high - case.low, 1e-12)
        G = np.zeros_like(X)
        o = case.game.offsets
        for k in range(case.n):
            for a in range(o[k], o[k + 1]):
                E = np.zeros(case.dim)
                E[a] = h[a]
                up = _chunked(self._costs, X + E)[:, k]
                dn = _chunked(self._costs, X - E)[:, k]
                G[:, a] = (up - dn) / (2 * h[a])
        return G


def _chunked(fn, X, size: int = 4096):
    X = np.asarray(X, float)
    return np.concatenate([np.asarray(fn(jnp.asarray(X[i:i + size])))
                           for i in range(0, len(X), size)])


def grid_points(case: PiecewiseCase, samples: int = 2048, seed: int = 12345) -> np.ndarray:
    """Sobol points of the box, its vertices (up to 64), the target, and points on both sides
    of every switch (1e-7 of the side away)."""
    d = case.dim
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit = [qmc.Sobol(d, scramble=True, seed=rng).random(samples)]
    corners = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(float)
    unit.append(corners if len(corners) <= 64 else corners[rng.choice(len(corners), 64)])
    X = case.low + np.concatenate(unit) * (case.high - case.low)
    extra = [case.x_target[None]]
    for t in case.terms:
        for c in t.kinks():
            if case.low[t.q] < c < case.high[t.q]:
                base = case.low + rng.uniform(size=(16, d)) * (case.high - case.low)
                for eps in (-1e-7, 1e-7):
                    B = base.copy()
                    B[:, t.q] = c + eps * (case.high[t.q] - case.low[t.q])
                    extra.append(B)
    return np.clip(np.concatenate([X] + extra), case.low, case.high)


def fd_pairs(case: PiecewiseCase, seed: int = 777, lines: int = 6,
             lattice: int = 257) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (X, Y) of points of the box and the block each difference lies in (-1: more than
    one): line scans along every coordinate (consecutive lattice points), pairs straddling
    every switch (1e-3 and 1e-6 of the side apart), and random short pairs."""
    d = case.dim
    rng = np.random.default_rng(seed)
    width = case.high - case.low
    block_of = np.repeat(np.arange(case.n), case.dims)
    Xs, Ys, blocks = [], [], []
    for a in range(d):
        base = case.low + rng.uniform(size=(lines, d)) * width
        grid = np.linspace(case.low[a], case.high[a], lattice)
        P = np.repeat(base, lattice, axis=0)
        P[:, a] = np.tile(grid, lines)
        P = P.reshape(lines, lattice, d)
        Xs.append(P[:, :-1].reshape(-1, d))
        Ys.append(P[:, 1:].reshape(-1, d))
        blocks.append(np.full(lines * (lattice - 1), block_of[a]))
    for t in case.terms:
        for c in t.kinks():
            if case.low[t.q] < c < case.high[t.q]:
                base = case.low + rng.uniform(size=(16, d)) * width
                for half in (1e-3, 1e-6):
                    X, Y = base.copy(), base.copy()
                    X[:, t.q] = max(c - half * width[t.q], case.low[t.q])
                    Y[:, t.q] = min(c + half * width[t.q], case.high[t.q])
                    Xs.append(X)
                    Ys.append(Y)
                    blocks.append(np.full(16, block_of[t.q]))
    X = case.low + rng.uniform(size=(1024, d)) * width
    step = rng.standard_normal((1024, d)) * width * 10.0 ** rng.uniform(-4, -1, size=(1024, 1))
    Xs.append(X)
    Ys.append(np.clip(X + step, case.low, case.high))
    blocks.append(np.full(1024, -1))
    return np.concatenate(Xs), np.concatenate(Ys), np.concatenate(blocks)


def brute_force(case: PiecewiseCase, cert, oracle: Oracle, cache: dict) -> dict:
    """Every bound of `cert` against brute force. Returns {"beaten": [names], "worst": {name:
    (claimed, brute)}} (a name is in "beaten" when brute force is worse than the claim by more
    than rounding)."""
    game = case.game
    dims = case.dims
    if "grid" not in cache:
        X = grid_points(case)
        cache["grid"] = (X, oracle.jacobian(X))
        Xa, Ya, blk = fd_pairs(case)
        cache["pairs"] = (Xa, Ya, blk, oracle.field(Xa), oracle.field(Ya))
    X, Js = cache["grid"]
    Xa, Ya, blk, FX, FY = cache["pairs"]
    finite = np.isfinite(Js).all(axis=(1, 2))
    Js = Js[finite]
    mu = np.asarray(cert.bounds["curvature"], float)
    L = np.asarray(cert.bounds["coupling"], float)
    gamma = cert.bounds["euclidean_margin"]
    beta = cert.bounds["lipschitz"]
    alpha = float(cert.margin)
    w = np.asarray(cert.weights, float)
    scale = max(1.0, float(np.max(np.abs(Js))) if Js.size else 1.0)
    tol = 1e-9 * scale
    worst: dict = {}
    beaten: list = []

    def judge(name, claimed, brute, lower_is_claim):
        """lower_is_claim: the claim is a lower bound (brute must be >= claimed)."""
        if claimed is None or brute is None or not np.isfinite(claimed):
            return
        worst[name] = (float(claimed), float(brute))
        bad = brute < claimed - tol if lower_is_claim else brute > claimed + tol
        if bad:
            beaten.append(name)

    if not finite.all():
        beaten.append("jacobian not finite at a grid point")
    bm, bL, bg = block_quantities(Js, dims)
    for i in range(case.n):
        judge(f"curvature[{i + 1}] (grid)", mu[i], bm[:, i].min(), True)
        for j in range(case.n):
            if i != j:
                judge(f"coupling[{i + 1}][{j + 1}] (grid)", L[i, j], bL[:, i, j].max(), False)
    judge("euclidean_margin (grid)", gamma, bg.min(), True)
    lam, norm = metric_quantities(Js, dims, w)
    judge("margin (grid)", alpha, lam.min(), True)
    judge("lipschitz (grid)", beta, norm.max(), False)
    # Euler's factor at two certified steps: sup_x ||I - h A(x)|| in M(w).
    s = np.repeat(np.sqrt(w / w[0]), dims)
    A = s[None, :, None] * Js / s[None, None, :]
    eye = np.eye(case.dim)
    steps = cert.step_sizes or {}
    for key, factor in (("euler_recommended", 1.0), ("euler_max", 0.999)):
        if steps.get(key):
            h = factor * steps[key]
            q = promised_factor(cert, game, "euler", h)
            if q is not None:
                judge(f"euler factor at {factor:g} {key} (grid)", q,
                      float(np.linalg.norm(eye[None] - h * A, 2, axis=(1, 2)).max()), False)
    # Slopes of F itself: valid for every pair of a convex region when F is C^1 (mean value),
    # and what matters where it is not.
    dX, dF = Ya - Xa, FY - FX
    ok = np.isfinite(dF).all(axis=1) & (np.abs(dX).sum(axis=1) > 0)
    dX, dF, blk, FX, FY = dX[ok], dF[ok], blk[ok], FX[ok], FY[ok]
    fmax = np.maximum(np.abs(FX).max(axis=1), np.abs(FY).max(axis=1))
    nx = np.linalg.norm(dX, axis=1)
    slack = tol + 64 * np.finfo(float).eps * (1.0 + fmax) / nx   # rounding of dF over |dx|
    o = game.offsets

    def judge_fd(name, claimed, values, lower_is_claim, sl):
        if claimed is None or not np.isfinite(claimed) or values.size == 0:
            return
        k = int(np.argmin(values + sl) if lower_is_claim else np.argmax(values - sl))
        brute = values[k]
        worst[name] = (float(claimed), float(brute))
        if (brute + sl[k] < claimed - tol) if lower_is_claim else (brute - sl[k] > claimed + tol):
            beaten.append(name)

    for i in range(case.n):
        sel = blk == i
        if sel.any():
            si = slice(o[i], o[i + 1])
            curv = np.sum(dF[sel, si] * dX[sel, si], axis=1) / nx[sel] ** 2
            judge_fd(f"curvature[{i + 1}] (slopes of F)", mu[i], curv, True, slack[sel])
            for j in range(case.n):
                if j != i:
                    sj = slice(o[j], o[j + 1])
                    coup = np.linalg.norm(dF[sel, sj], axis=1) / nx[sel]
                    judge_fd(f"coupling[{j + 1}][{i + 1}] (slopes of F)", L[j, i], coup, False,
                             slack[sel])
    judge_fd("euclidean_margin (slopes of F)", gamma,
             np.sum(dF * dX, axis=1) / nx ** 2, True, slack)
    wd = np.repeat(w / w[0], dims)
    nw = np.sqrt(np.sum(wd * dX * dX, axis=1))
    slack_w = slack * nx / nw * np.sqrt(wd.max())
    judge_fd("margin (slopes of F)", alpha, np.sum(wd * dF * dX, axis=1) / nw ** 2, True, slack_w)
    judge_fd("lipschitz (slopes of F)", beta, np.sqrt(np.sum(wd * dF * dF, axis=1)) / nw, False,
             slack_w)
    for key, factor in (("euler_recommended", 1.0), ("euler_max", 0.999)):
        if steps.get(key):
            h = factor * steps[key]
            q = promised_factor(cert, game, "euler", h)
            if q is not None:
                r = dX - h * dF
                judge_fd(f"euler factor at {factor:g} {key} (slopes of F)", q,
                         np.sqrt(np.sum(wd * r * r, axis=1)) / nw, False, h * slack_w)
    return {"beaten": beaten, "worst": worst}


def field_is_cost_gradient(case: PiecewiseCase, oracle: Oracle, points: int = 256,
                           seed: int = 99) -> dict:
    """Largest |F - grad of the costs| (central differences) over random points, relative to
    1 + |F|: sgn certifies F = JAX's gradient of the costs, which a custom rule can change."""
    rng = np.random.default_rng(seed)
    X = case.low + rng.uniform(size=(points, case.dim)) * (case.high - case.low)
    F = oracle.field(X)
    G = oracle.cost_gradient(X)
    err = np.abs(F - G) / (1.0 + np.abs(F))
    # A switch within the difference step makes one difference meaningless: use the median
    # over points of each coordinate's error as well as the max, and call it a mismatch only
    # when a tenth of the points disagree.
    bad = np.mean(err > 1e-4, axis=0)
    return {"max_error": float(np.nanmax(err)), "mismatch": bool(np.any(bad > 0.1))}


def other_equilibria(case: PiecewiseCase, cert, oracle: Oracle, starts: int = 12,
                     seed: int = 5) -> list:
    """Zeros of the natural residual x - P(x - F(x)) (F on an unconstrained game) inside the
    certified basin, farther from x* than its error bound allows: [(x, distance)]."""
    game = case.game
    w = np.repeat(np.asarray(cert.weights, float) / cert.weights[0], case.dims)
    x_star = np.asarray(cert.equilibrium["x"], float)
    basin = cert.equilibrium["basin"]
    err = float(cert.equilibrium.get("error_bound") or 0.0)
    rng = np.random.default_rng(seed)
    low, high = case.low, case.high

    def residual(x):
        F = oracle.field(x[None])[0]
        if case.constrained:
            return x - np.clip(x - F, low, high)
        return F

    def inside(x):
        if basin["kind"] == "box":
            return bool(np.all(x >= low - 1e-12) and np.all(x <= high + 1e-12))
        return (float(np.sqrt(np.sum(w * (x - x_star) ** 2))) <= basin["metric_radius"]
                and bool(np.all(x >= low - 1e-12) and np.all(x <= high + 1e-12)))

    if basin["kind"] == "box":
        X0 = low + rng.uniform(size=(starts, case.dim)) * (high - low)
    else:
        z = rng.standard_normal((starts, case.dim))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        r = basin["metric_radius"] * rng.uniform(0.1, 1.0, size=(starts, 1))
        X0 = np.clip(x_star + r * z / np.sqrt(w), low, high)
    scale = 1.0 + float(np.max(np.abs(oracle.field(X0))))
    found = []
    for x0 in X0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = scipy.optimize.least_squares(residual, x0, bounds=(low, high),
                                               xtol=1e-14, ftol=1e-14, gtol=1e-14,
                                               max_nfev=200)
        x = res.x
        if np.max(np.abs(residual(x))) < 1e-9 * scale and inside(x):
            dist = float(np.sqrt(np.sum(w * (x - x_star) ** 2)))
            if dist > 10 * err + 1e-6 * (1.0 + float(np.max(np.abs(x_star)))):
                found.append((x.tolist(), dist))
    return found


# --- the check ------------------------------------------------------------------------------

def _certify(game, **kwargs):
    """(certificate, None) or (None, error record): sgn's own errors are refusals (bad input),
    anything else a crash."""
    try:
        return sgn.certify(game, **kwargs), None
    except SGNError as exc:
        return None, {"kind": "refused", "type": type(exc).__name__, "message": str(exc)}
    except Exception as exc:  # noqa: BLE001
        return None, {"kind": "crash", "type": type(exc).__name__, "message": str(exc),
                      "traceback": traceback.format_exc(limit=6)}


def _simulate(game, cert, starts, steps, extra_steps=()):
    """Verdicts of sgn.simulate at each method's automatic step (Euler, RK4 unless the game is
    constrained, the flow), one method at a time so that a method sgn refuses (e.g. a proved
    RK4 step of 0) does not hide the others' verdicts, and of Euler at the extra steps:
    {label: verdict}, with "error: ..." entries for refusals."""
    out = {}
    methods = ["euler", "flow"] + ([] if game.constrained else ["rk4"])
    runs = [(f"{m}@recommended", (m,), None) for m in methods]
    runs += [(label, ("euler",), h) for label, h in extra_steps]
    for label, method, h in runs:
        try:
            run = sgn.simulate(game, cert, methods=method, step=h, starts=starts,
                               steps=steps).runs[0]
            out[label] = run.verdict.value
        except SGNError as exc:
            out.setdefault("error", f"{label}: {type(exc).__name__}: {exc}")
    return out


def _cert_record(cert) -> dict:
    notes = list(cert.notes)
    return {"status": cert.status.value, "certified": bool(cert.certified),
            "verified": bool(cert.verified), "method": cert.estimator.get("method"),
            "fell_back": bool(notes) and "fell back" in notes[0],
            "margin": float(cert.margin), "notes": notes, "reasons": list(cert.reasons)}


def _sampled_note(op: str) -> str:
    return f"F uses `{op}`, which sgn cannot confirm is smooth"


def check_piecewise(case: PiecewiseCase, *, samples: int | None = None, estimator=None,
                    max_boxes: int | None = None, max_seconds: float | None = None,
                    starts: int = 16, steps: int = 200, brute: bool = True,
                    sampled_slopes: bool = True) -> dict:
    """Certify `case` by method="interval" and by sampled bounds, and judge both (see the
    module docstring). Returns a plain record; `violations` lists what must never happen.

    estimator: a `sgn.Sampled` for both runs (the interval run's fallback uses it), e.g.
    without the local search for speed; default sgn's. brute=False skips brute force
    altogether (verified claims are then not checked: only for timing); sampled_slopes=False
    skips the report of sampled bounds the slopes of F beat.
    """
    game = case.game
    t0 = time.time()
    rec: dict = {"name": case.name, "seed": case.seed, "n": case.n, "dims": list(case.dims),
                 "constrained": case.constrained, "kind": case.kind,
                 "families": [f"{t.family}:{t.mode}" for t in case.terms],
                 "sizes": [abs(t.s) for t in case.terms],
                 "expected_ops": sorted(case.expected_ops), "violations": [], "crashes": [],
                 "info": []}
    violations = rec["violations"]
    op = game.non_smooth
    rec["non_smooth"] = op
    if case.kind == "detected":
        if op is None:
            violations.append("detector: a detected family, but Game.non_smooth is None")
        elif op not in case.expected_ops:
            rec["info"].append(f"Game.non_smooth names `{op}`, not one of "
                               f"{sorted(case.expected_ops)}")
    budget = {k: v for k, v in (("max_boxes", max_boxes), ("max_seconds", max_seconds))
              if v is not None}
    if estimator is not None:
        budget["estimator"] = estimator
    ci, err_i = _certify(game, method="interval", samples=samples, **budget)
    cs, err_s = _certify(game, samples=samples, estimator=estimator)
    rec["interval"] = err_i or _cert_record(ci)
    rec["sampled"] = err_s or _cert_record(cs)
    for label, err in (("interval", err_i), ("sampled", err_s)):
        if err and err["kind"] == "crash":
            rec["crashes"].append(f"{label}: crashed with {err['type']}: {err['message']}")

    # Non-smooth (as sgn sees it): never verified, the fallback and the warning notes.
    if op is not None:
        if ci is not None:
            if ci.verified:
                violations.append(f"interval: verified certificate on a game using `{op}`")
            if not (ci.estimator.get("method") == "sampled" and ci.notes
                    and f"`{op}`" in ci.notes[0] and "nothing is verified" in ci.notes[0]):
                violations.append("interval: not the sampled fallback with the note naming "
                                  f"`{op}` first")
            if not any(_sampled_note(op) in note for note in ci.notes[1:]):
                violations.append(f"interval: no warning note naming `{op}`")
        if cs is not None:
            if cs.verified:
                violations.append(f"sampled: verified (exact) certificate on a game using `{op}`")
            if not any(_sampled_note(op) in note for note in cs.notes):
                violations.append(f"sampled: no warning note naming `{op}`")

    oracle = Oracle(case) if brute else None
    cache: dict = {}
    # Verified claims on games sgn calls smooth: brute force, the costs, equilibria, simulation.
    for label, cert in (("interval", ci), ("sampled", cs)):
        if cert is None or not cert.verified or op is not None or not brute:
            continue
        bf = brute_force(case, cert, oracle, cache)
        rec[label]["brute"] = {"beaten": bf["beaten"], "worst": bf["worst"]}
        for name in bf["beaten"]:
            claimed, found = bf["worst"].get(name, (None, None))
            violations.append(f"{label}: verified bound {name} beaten by brute force "
                              f"(claimed {claimed}, found {found})")
        grad = field_is_cost_gradient(case, oracle)
        rec[label]["field_vs_costs"] = grad
        if grad["mismatch"]:
            violations.append(f"{label}: verified certificate for a field that is not the "
                              f"costs' gradient (max relative error {grad['max_error']:.3g})")
        if cert.certified:
            others = other_equilibria(case, cert, oracle)
            if others:
                violations.append(f"{label}: a second equilibrium in the certified basin at "
                                  f"{others[0][0]} (M-distance {others[0][1]:.3g} from x*)")
            steps_tab = cert.step_sizes or {}
            extra = ([("euler@0.999max", 0.999 * steps_tab["euler_max"])]
                     if steps_tab.get("euler_max") else [])
            sim = _simulate(game, cert, starts, steps, extra)
            rec[label]["simulate"] = sim
            broken = [k for k, v in sim.items() if v == Verdict.BROKEN.value]
            if broken:
                violations.append(f"{label}: verified promise broken in simulation: {broken}")
            if "error" in sim:
                rec["info"].append(f"{label}: simulate refused: {sim['error']}")

    # Sampled certificates: simulate what they promise; how often the slopes of F beat them.
    if cs is not None and not cs.verified:
        if cs.certified:
            sim = _simulate(game, cs, starts, steps)
            rec["sampled"]["simulate"] = sim
            rec["sampled"]["broken"] = any(v == Verdict.BROKEN.value for v in sim.values())
            if "error" in sim:
                rec["info"].append(f"sampled: simulate refused: {sim['error']}")
        if brute and sampled_slopes:
            bf = brute_force(case, cs, oracle, cache)
            rec["sampled"]["beaten_by_slopes"] = [n for n in bf["beaten"] if "slopes" in n]
    rec["seconds"] = time.time() - t0
    return rec


# --- counts ------------------------------------------------------------------------------------

COLUMNS = ("tried", "verified", "verified_certified", "fallbacks", "refused", "crashes",
           "violations", "sampled_certified", "sampled_broken_with_note",
           "sampled_broken_without_note", "sampled_beaten_by_slopes")


def tally(records: list) -> dict:
    """Counts per game kind and in total: tried; verified (interval certificates with
    verified true), verified_certified (of those, certified: simulated); fallbacks (interval
    runs that fell back, verified false); refused (sgn's own error: bad input); crashes (any
    other exception, either run); violations (games with at least one); sampled_certified;
    sampled_broken_with_note / without_note (sampled certificates whose simulation broke a
    promise, with or without the non-smooth warning); sampled_beaten_by_slopes (sampled
    certificates, certified or not, with a bound the slopes of F beat)."""
    out: dict = {}
    for rec in records:
        for key in (rec["kind"], "total"):
            t = out.setdefault(key, dict.fromkeys(COLUMNS, 0))
            t["tried"] += 1
            ri, rs = rec["interval"], rec["sampled"]
            t["verified"] += int(bool(ri.get("verified")))
            t["verified_certified"] += int(bool(ri.get("verified")) and bool(ri.get("certified")))
            t["fallbacks"] += int(bool(ri.get("fell_back")) and not ri.get("verified"))
            t["refused"] += int(ri.get("kind") == "refused")
            t["crashes"] += int(ri.get("kind") == "crash" or rs.get("kind") == "crash")
            t["violations"] += int(any("crashed with" not in v for v in rec["violations"]))
            t["sampled_certified"] += int(bool(rs.get("certified")))
            if rs.get("broken"):
                noted = rec["non_smooth"] is not None and any(
                    _sampled_note(rec["non_smooth"]) in n for n in rs.get("notes", []))
                t["sampled_broken_with_note" if noted else "sampled_broken_without_note"] += 1
            t["sampled_beaten_by_slopes"] += int(bool(rs.get("beaten_by_slopes")))
    return out


def format_tally(counts: dict) -> str:
    order = [k for k in ("detected", "gap", "disguised", "sharp", "smooth", "total")
             if k in counts]
    heads = ("kind",) + COLUMNS
    short = {"verified_certified": "ver cert", "sampled_certified": "samp cert",
             "sampled_broken_with_note": "broken+note",
             "sampled_broken_without_note": "broken-no-note",
             "sampled_beaten_by_slopes": "beaten(slopes)"}
    names = [short.get(h, h) for h in heads]
    widths = [max(len(n), 9) for n in names]
    lines = [" ".join(n.rjust(w) for n, w in zip(names, widths))]
    lines.append("-" * len(lines[0]))
    for k in order:
        row = [k] + [str(counts[k][c]) for c in COLUMNS]
        lines.append(" ".join(v.rjust(w) for v, w in zip(row, widths)))
    return "\n".join(lines)
