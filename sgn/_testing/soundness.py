"""Soundness harness: random games, certified by sgn, held to their certificates.

Used by tests/test_soundness.py (hypothesis, small) and benchmarks/soundness_report.py (many
games); it lives in the package so that both import it from an installed sgn.

    case = random_quadratic(seed)            # or random_nonlinear(seed)
    rec = check_game(case)                   # certify, simulate, judge with an independent oracle
    rec["certified"], rec["sgn_violations"], rec["genuine"], rec["conservative"], ...

Every game is built from one list of cost terms, read two ways:

- as JAX costs for `sgn.Game` (what sgn certifies and simulates), and
- as closed-form numpy formulas for F and J (the oracle). The oracle never calls JAX or sgn, so
  the "true" quantities it reports (metric margins, norms, curvatures, couplings) are an
  independent reading of the same game. `oracle_matches_jax` checks the two readings agree.

Cost terms of player k (x_i is player i's block, u, v act coordinatewise):

    own        0.5 x_k^T A x_k                          (A symmetric)
    logcosh    c * sum(log cosh(x_k))                   (curvature c * sech^2, between 0 and c)
    potential  s * u(x_i)^T B v(x_j),  k in {i, j}      u, v in {id, tanh, sin}
    linear     b^T x_k                                  (placed so that F(x_target) = 0)

Quadratic games use only own, potential(id, id) and linear terms: F is affine, the Jacobian is
constant and sgn's bounds are exact. Nonlinear games add logcosh and tanh / sin potentials; sgn
samples them, and its bounds are estimates.

Two kinds of violation are kept apart (see check_game):

- `sgn_violations`: what sgn.simulate reports (per-step ratios of M-distances above the
  certified factor + 1e-9, measured in float64 against the x* sgn found);
- `genuine`: the dynamics really contract slower than certified. For quadratic games this is
  decided exactly (operator norms of the step maps); for nonlinear games by re-running the
  flagged method independently in long double, allowing the sampling error the oracle measures.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.stats import qmc

import sgn
from sgn._simulate import certified_factor as promised_factor  # the promise itself
from sgn._simulate import flow_substeps  # how sgn.simulate discretises a flow step

# --- elementwise maps: value, first and second derivative (numpy and jnp) ---------------------

_NP = {
    "id": (lambda x: x, lambda x: np.ones_like(x), lambda x: np.zeros_like(x)),
    "tanh": (np.tanh, lambda x: 1.0 / np.cosh(x) ** 2,
             lambda x: -2.0 * np.tanh(x) / np.cosh(x) ** 2),
    "sin": (np.sin, np.cos, lambda x: -np.sin(x)),
}
_JNP = {"id": lambda x: x, "tanh": jnp.tanh, "sin": jnp.sin}

QUADRATIC_STRUCTURES = ("random", "zero_sum", "weighted_zero_sum", "tight", "cascade")
NONLINEAR_STRUCTURES = ("random", "weighted_zero_sum", "cascade")

#: Observed factors may exceed the certified one by this much (as sgn.simulate allows).
FACTOR_TOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Term:
    """One cost term of player `player` (see the module docstring)."""

    kind: str                 # "own", "logcosh", "potential", "linear"
    player: int
    data: Any                 # A, c, (s, i, j, B, u, v), b


@dataclasses.dataclass
class GameCase:
    """A generated game: sgn's Game, the oracle, and how it was drawn."""

    kind: str                           # "quadratic" or "nonlinear"
    seed: int
    structure: str
    dims: tuple
    low: np.ndarray
    high: np.ndarray
    constrained: bool
    terms: list
    x_target: np.ndarray                # F(x_target) = 0 (may lie outside a constrained box)
    hidden_weights: np.ndarray | None   # weights the generator built a cancellation for
    params: dict
    game: sgn.Game = dataclasses.field(repr=False)

    @property
    def n(self) -> int:
        return len(self.dims)

    @property
    def dim(self) -> int:
        return int(sum(self.dims))

    @property
    def offsets(self):
        return np.concatenate([[0], np.cumsum(self.dims)]).astype(int)

    @property
    def constant(self) -> bool:
        return self.kind == "quadratic"

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.structure}-seed{self.seed}"

    # --- the oracle: closed-form F and J in numpy ---------------------------------------

    def field(self, X: np.ndarray) -> np.ndarray:
        """F at the rows of X (k, d) -> (k, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return _field(self, X, with_linear=True)

    def jacobian(self, X: np.ndarray) -> np.ndarray:
        """J at the rows of X (k, d) -> (k, d, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        o = self.offsets
        J = np.zeros((X.shape[0], self.dim, self.dim))
        for t in self.terms:
            k = t.player
            sk = slice(o[k], o[k + 1])
            if t.kind == "own":
                J[:, sk, sk] += t.data
            elif t.kind == "logcosh":
                c = t.data
                idx = np.arange(o[k], o[k + 1])
                J[:, idx, idx] += c / np.cosh(X[:, sk]) ** 2
            elif t.kind == "potential":
                s, i, j, B, u, v = t.data
                si, sj = slice(o[i], o[i + 1]), slice(o[j], o[j + 1])
                xi, xj = X[:, si], X[:, sj]
                u0, u1, u2 = (f(xi) for f in _NP[u])
                v0, v1, v2 = (f(xj) for f in _NP[v])
                if k == i:   # F_i += s u'(x_i) * (B v(x_j))
                    Bv = v0 @ B.T
                    idx = np.arange(o[i], o[i + 1])
                    J[:, idx, idx] += s * u2 * Bv
                    J[:, si, sj] += s * u1[:, :, None] * B[None] * v1[:, None, :]
                else:        # F_j += s v'(x_j) * (B^T u(x_i))
                    Btu = u0 @ B
                    idx = np.arange(o[j], o[j + 1])
                    J[:, idx, idx] += s * v2 * Btu
                    J[:, sj, si] += s * v1[:, :, None] * B.T[None] * u1[:, None, :]
        return J


def _field(case: GameCase, X: np.ndarray, with_linear: bool) -> np.ndarray:
    o = case.offsets
    F = np.zeros_like(X)
    for t in case.terms:
        k = t.player
        sk = slice(o[k], o[k + 1])
        if t.kind == "own":
            F[:, sk] += X[:, sk] @ t.data.T
        elif t.kind == "logcosh":
            F[:, sk] += t.data * np.tanh(X[:, sk])
        elif t.kind == "linear":
            if with_linear:
                F[:, sk] += t.data
        else:
            s, i, j, B, u, v = t.data
            xi, xj = X[:, o[i]:o[i + 1]], X[:, o[j]:o[j + 1]]
            if k == i:
                F[:, sk] += s * _NP[u][1](xi) * (_NP[v][0](xj) @ B.T)
            else:
                F[:, sk] += s * _NP[v][1](xj) * (_NP[u][0](xi) @ B)
    return F


def _jax_costs(terms: list, n: int):
    """One JAX cost per player, from the same terms the oracle reads."""
    mine = [[t for t in terms if t.player == k] for k in range(n)]

    def make(k):
        consts = []
        for t in mine[k]:
            if t.kind == "potential":
                s, i, j, B, u, v = t.data
                consts.append((t.kind, (float(s), i, j, jnp.asarray(B), u, v)))
            elif t.kind == "logcosh":
                consts.append((t.kind, float(t.data)))
            else:
                consts.append((t.kind, jnp.asarray(t.data)))

        def cost(*xs):
            total = 0.0
            for kind, data in consts:
                x = xs[k]
                if kind == "own":
                    total = total + 0.5 * x @ data @ x
                elif kind == "logcosh":
                    # log cosh x = |x| + log1p(exp(-2|x|)) - log 2, but x stays moderate here
                    total = total + data * jnp.sum(jnp.log(jnp.cosh(x)))
                elif kind == "linear":
                    total = total + data @ x
                else:
                    s, i, j, B, u, v = data
                    total = total + s * (_JNP[u](xs[i]) @ B @ _JNP[v](xs[j]))
            return total

        return cost

    return [make(k) for k in range(n)]


# --- generators ---------------------------------------------------------------------------------

def _spd(rng, d, lo=0.5, hi=2.0, indefinite=False) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eig = rng.uniform(lo, hi, size=d)
    if indefinite:
        eig[rng.integers(d)] = -rng.uniform(0.05, 1.0)
    A = (Q * eig) @ Q.T
    return 0.5 * (A + A.T)


def _unit_norm(rng, di, dj) -> np.ndarray:
    G = rng.standard_normal((di, dj))
    return G / np.linalg.norm(G, 2)


def _box(rng, d, asymmetric=True):
    R = rng.uniform(0.5, 2.0)
    if not asymmetric:
        return -R * np.ones(d), R * np.ones(d)
    return -R * rng.uniform(0.6, 1.4, size=d), R * rng.uniform(0.6, 1.4, size=d)


def _target(rng, low, high, constrained, outside_prob=0.5):
    """The point where F vanishes: off-centre but inside the box, or, for some constrained
    games, partly outside it (the equilibrium then sits on the box's boundary)."""
    if constrained and rng.uniform() < outside_prob:
        centre, half = 0.5 * (low + high), 0.5 * (high - low)
        return centre + half * rng.uniform(-1.6, 1.6, size=low.size)
    return low + (high - low) * rng.uniform(0.2, 0.8, size=low.size)


def _finish(kind, seed, structure, dims, low, high, constrained, terms, x_target, hidden,
            params) -> GameCase:
    n = len(dims)
    case = GameCase(kind, seed, structure, tuple(int(d) for d in dims), low, high, constrained,
                    terms, x_target, hidden, params, game=None)
    # b = -F_rest(x_target): the linear terms put the zero of F at x_target.
    F0 = _field(case, x_target[None, :], with_linear=False)[0]
    o = case.offsets
    for k in range(n):
        terms.append(Term("linear", k, -F0[o[k]:o[k + 1]].copy()))
    case.game = sgn.Game(costs=_jax_costs(terms, n), dims=list(case.dims),
                         region=sgn.Box(low, high), name=case.name, constrained=constrained)
    return case


def random_quadratic(seed: int, *, n: int | None = None, dims=None, structure: str | None = None,
                     coupling_scale: float | None = None, indefinite_prob: float = 0.15,
                     constrained: bool | None = None) -> GameCase:
    """A random quadratic game f_i = 0.5 x_i^T A_ii x_i + sum_j x_i^T A_ij x_j + b_i^T x_i.

    Every unspecified choice comes from `seed`. Structures:
      random             A_ij independent, ||A_ij|| = scale * sqrt(mu_i mu_j) * U(0.5, 1.5)
      zero_sum           A_ji = -A_ij^T: couplings cancel in sym J (Euclidean-monotone)
      weighted_zero_sum  A_ji = -(w_i / w_j) A_ij^T (+ 5% noise) for hidden weights w: the
                         couplings cancel in sym(W^1/2 J W^-1/2) but not in sym J
      tight              scalar players, J = K (J_ii = mu_i, J_ij = -L_ij): SGN is exact
      cascade            player j pushes player i only for j < i (reducible K)
    """
    rng = np.random.default_rng(seed)
    structure = structure or str(rng.choice(QUADRATIC_STRUCTURES))
    n = n or int(rng.integers(2, 5))
    if dims is None:
        dims = [1] * n if structure == "tight" else list(rng.integers(1, 4, size=n))
    dims = [int(d) for d in dims]
    if coupling_scale is None:
        coupling_scale = float(np.exp(rng.uniform(np.log(0.08), np.log(3.0 if structure in (
            "zero_sum", "weighted_zero_sum", "cascade") else 1.2))))
    if constrained is None:
        constrained = bool(rng.uniform() < 0.3)
    d = sum(dims)
    low, high = _box(rng, d)
    own = [_spd(rng, di, indefinite=rng.uniform() < indefinite_prob) for di in dims]
    mu = np.array([max(np.linalg.eigvalsh(A)[0], 0.05) for A in own])
    hidden = None
    terms = [Term("own", k, own[k]) for k in range(n)]
    if structure == "tight":
        own = [np.array([[m]]) for m in rng.uniform(0.5, 2.0, size=n)]
        terms = [Term("own", k, own[k]) for k in range(n)]
        mu = np.array([A[0, 0] for A in own])
    scale = coupling_scale / max(n - 1, 1)
    if structure in ("zero_sum", "weighted_zero_sum"):
        hidden = (np.ones(n) if structure == "zero_sum"
                  else np.exp(rng.uniform(-np.log(20.0), np.log(20.0), size=n)))
        hidden = hidden / hidden[0]
        for i in range(n):
            for j in range(i + 1, n):
                size = scale * math.sqrt(mu[i] * mu[j]) * rng.uniform(0.5, 1.5) * 4.0
                B = size * _unit_norm(rng, dims[i], dims[j])
                terms.append(Term("potential", i, (1.0, i, j, B, "id", "id")))
                # f_j gets -(w_i/w_j) x_i^T B x_j, so J_ji = -(w_i/w_j) B^T
                terms.append(Term("potential", j, (-hidden[i] / hidden[j], i, j, B, "id", "id")))
                if structure == "weighted_zero_sum":
                    noise = 0.05 * size * _unit_norm(rng, dims[j], dims[i])
                    terms.append(Term("potential", j, (1.0, j, i, noise, "id", "id")))
    else:
        for i in range(n):
            for j in range(n):
                if i == j or (structure == "cascade" and j > i):
                    continue
                size = scale * math.sqrt(mu[i] * mu[j]) * rng.uniform(0.5, 1.5)
                if structure == "cascade":
                    size *= 3.0
                if structure == "tight":
                    B = -np.array([[size]])
                else:
                    B = size * _unit_norm(rng, dims[i], dims[j])
                terms.append(Term("potential", i, (1.0, i, j, B, "id", "id")))
    x_target = _target(rng, low, high, constrained)
    params = {"n": n, "dims": dims, "structure": structure, "coupling_scale": coupling_scale,
              "constrained": constrained}
    return _finish("quadratic", seed, structure, dims, low, high, constrained, terms, x_target,
                   hidden, params)


def random_nonlinear(seed: int, *, n: int | None = None, dims=None, structure: str | None = None,
                     coupling_scale: float | None = None,
                     constrained: bool | None = None) -> GameCase:
    """A smooth nonlinear game on an (asymmetric) box.

    f_i = 0.5 x_i^T A_i x_i + c_i sum log cosh(x_i) + sum_j s u(x_i)^T B_ij v(x_j) + b_i^T x_i,
    with c_i in (-0.4 lambda_min(A_i), 1.5) (the own curvature dips at x_i = 0, an interior
    point off the box's centre) and (u, v) in {(id, tanh), (id, sin), (tanh, id), (tanh, tanh)}
    (u = tanh makes J_ii depend on x_j). weighted_zero_sum: the pair potential phi_ij appears as
    +phi in f_i and -(w_i/w_j) phi in f_j, so the couplings cancel in the hidden metric.
    """
    rng = np.random.default_rng(seed)
    structure = structure or str(rng.choice(NONLINEAR_STRUCTURES))
    n = n or int(rng.integers(2, 4))
    dims = [int(d) for d in (dims if dims is not None else rng.integers(1, 3, size=n))]
    if coupling_scale is None:
        coupling_scale = float(np.exp(rng.uniform(np.log(0.08), np.log(
            2.0 if structure != "random" else 1.0))))
    if constrained is None:
        constrained = bool(rng.uniform() < 0.3)
    d = sum(dims)
    low, high = _box(rng, d)
    low, high = np.maximum(low, -1.8), np.minimum(high, 1.8)  # sin stays informative
    own = [_spd(rng, di) for di in dims]
    lam = np.array([np.linalg.eigvalsh(A)[0] for A in own])
    c = rng.uniform(-0.4, 1.5, size=n) * np.where(rng.uniform(size=n) < 0.5, lam, 1.0)
    mu = lam + np.minimum(c, 0.0)
    terms = [Term("own", k, own[k]) for k in range(n)]
    terms += [Term("logcosh", k, float(c[k])) for k in range(n)]
    pairs = [("id", "tanh"), ("id", "sin"), ("tanh", "id"), ("tanh", "tanh")]
    scale = coupling_scale / max(n - 1, 1)
    hidden = None
    if structure == "weighted_zero_sum":
        hidden = np.exp(rng.uniform(-np.log(10.0), np.log(10.0), size=n))
        hidden = hidden / hidden[0]
        zero_sum_pairs = [("id", "id"), ("id", "tanh"), ("tanh", "id"), ("id", "sin")]
        for i in range(n):
            for j in range(i + 1, n):
                u, v = zero_sum_pairs[rng.integers(len(zero_sum_pairs))]
                size = scale * math.sqrt(mu[i] * mu[j]) * rng.uniform(0.5, 1.5) * 3.0
                B = size * _unit_norm(rng, dims[i], dims[j])
                terms.append(Term("potential", i, (1.0, i, j, B, u, v)))
                terms.append(Term("potential", j, (-hidden[i] / hidden[j], i, j, B, u, v)))
    else:
        for i in range(n):
            for j in range(n):
                if i == j or (structure == "cascade" and j > i):
                    continue
                u, v = pairs[rng.integers(len(pairs))]
                size = scale * math.sqrt(mu[i] * mu[j]) * rng.uniform(0.5, 1.5)
                if structure == "cascade":
                    size *= 3.0
                B = size * _unit_norm(rng, dims[i], dims[j])
                terms.append(Term("potential", i, (1.0, i, j, B, u, v)))
    x_target = _target(rng, low, high, constrained)
    params = {"n": n, "dims": dims, "structure": structure, "coupling_scale": coupling_scale,
              "constrained": constrained, "logcosh": c.tolist()}
    return _finish("nonlinear", seed, structure, dims, low, high, constrained, terms, x_target,
                   hidden, params)


def oracle_matches_jax(case: GameCase, points: int = 8, seed: int = 0) -> float:
    """Largest |F_oracle - F_jax| + |J_oracle - J_jax| over random points (should be ~1e-14)."""
    rng = np.random.default_rng(seed)
    X = case.low + rng.uniform(size=(points, case.dim)) * (case.high - case.low)
    err = 0.0
    for x in X:
        F = np.asarray(case.game.field_fn(jnp.asarray(x)))
        J = np.asarray(case.game.jacobian_fn(jnp.asarray(x)))
        err = max(err, float(np.max(np.abs(F - case.field(x)[0]))),
                  float(np.max(np.abs(J - case.jacobian(x)[0]))))
    return err


# --- the oracle's metric quantities --------------------------------------------------------------

def metric_quantities(Js: np.ndarray, dims, w) -> tuple[np.ndarray, np.ndarray]:
    """Per Jacobian: lambda_min(sym(W^1/2 J W^-1/2)) and ||W^1/2 J W^-1/2||_2."""
    s = np.repeat(np.sqrt(np.asarray(w, dtype=np.float64) / float(w[0])), dims)
    A = s[None, :, None] * Js / s[None, None, :]
    lam = np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, 1, 2)))[:, 0]
    norm = np.linalg.norm(A, ord=2, axis=(1, 2))
    return lam, norm


def block_quantities(Js: np.ndarray, dims) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per Jacobian: mu_i (k, N), L_ij (k, N, N) and lambda_min(sym J) (k,)."""
    o = np.concatenate([[0], np.cumsum(dims)]).astype(int)
    n = len(dims)
    mu = np.zeros((Js.shape[0], n))
    L = np.zeros((Js.shape[0], n, n))
    for i in range(n):
        Jii = Js[:, o[i]:o[i + 1], o[i]:o[i + 1]]
        mu[:, i] = np.linalg.eigvalsh(0.5 * (Jii + np.swapaxes(Jii, 1, 2)))[:, 0]
        for j in range(n):
            if i != j:
                L[:, i, j] = np.linalg.norm(Js[:, o[i]:o[i + 1], o[j]:o[j + 1]], ord=2,
                                            axis=(1, 2))
    gamma = np.linalg.eigvalsh(0.5 * (Js + np.swapaxes(Js, 1, 2)))[:, 0]
    return mu, L, gamma


def dense_points(case: GameCase, samples: int = 2048, seed: int = 12345) -> np.ndarray:
    """Oracle sample of the box: vertices (up to 1024), the target, Sobol points."""
    d = case.dim
    rng = np.random.default_rng(seed)
    unit = [np.full((1, d), 0.5)]
    if 2**d <= 1024:
        unit.append(((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(float))
    else:
        unit.append(rng.integers(0, 2, size=(512, d)).astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unit.append(qmc.Sobol(d, scramble=True, seed=rng).random(samples))
    X = case.low + np.concatenate(unit) * (case.high - case.low)
    # x = 0 (where the log cosh curvature peaks or dips) and x_target, clipped into the box
    extra = np.clip(np.stack([np.zeros(d), case.x_target]), case.low, case.high)
    return np.concatenate([X, extra])


def _refine_min(case: GameCase, fn, X: np.ndarray, starts: int = 4) -> tuple[float, np.ndarray]:
    """min of fn(J(x)) over the box: the sample min, pushed further by L-BFGS-B from the best
    `starts` sample points. fn maps a (k, d, d) stack to (k,) values."""
    vals = fn(case.jacobian(X))
    order = np.argsort(vals)[:starts]
    best, where = float(vals[order[0]]), X[order[0]]
    bounds = list(zip(case.low, case.high))
    for k in order:
        res = scipy.optimize.minimize(lambda x: float(fn(case.jacobian(x[None]))[0]), X[k],
                                      method="L-BFGS-B", bounds=bounds,
                                      options={"maxiter": 60})
        if res.fun < best:
            best, where = float(res.fun), res.x
    return best, where


def true_metric(case: GameCase, w, X: np.ndarray | None = None, refine: bool = True) -> dict:
    """The oracle's metric margin and Lipschitz constant at weights w on the region.

    Exact (one Jacobian) for quadratic games; for nonlinear games the min / max over a dense
    sample plus local search: estimates of the inf / sup (a sample min can only be >= the inf).
    """
    dims = case.dims
    if case.constant:
        lam, norm = metric_quantities(case.jacobian(case.x_target), dims, w)
        return {"margin": float(lam[0]), "lipschitz": float(norm[0]), "exact": True}
    X = dense_points(case) if X is None else X
    if not refine:
        lam, norm = metric_quantities(case.jacobian(X), dims, w)
        return {"margin": float(lam.min()), "lipschitz": float(norm.max()), "exact": False}
    margin, at = _refine_min(case, lambda Js: metric_quantities(Js, dims, w)[0], X)
    neg_norm, _ = _refine_min(case, lambda Js: -metric_quantities(Js, dims, w)[1], X)
    return {"margin": margin, "lipschitz": -neg_norm, "exact": False, "margin_at": at.tolist()}


def true_bounds(case: GameCase, X: np.ndarray | None = None) -> dict:
    """The oracle's mu_i, L_ij, gamma (exact for quadratic games, dense-sampled otherwise)."""
    Js = case.jacobian(case.x_target if case.constant else
                       (dense_points(case) if X is None else X))
    mu, L, gamma = block_quantities(Js, case.dims)
    return {"curvature": mu.min(axis=0), "coupling": L.max(axis=0), "gamma": float(gamma.min())}


def perron_weights(mu, L) -> np.ndarray | None:
    """w_i = v_i / u_i from the Perron vectors of K = diag(mu) - L (None if not positive)."""
    mu, L = np.asarray(mu, float), np.asarray(L, float)
    n = mu.size
    if n == 1:
        return np.ones(1)
    P = np.max(mu) * np.eye(n) - (np.diag(mu) - L)
    vals, left, right = scipy.linalg.eig(P, left=True, right=True)
    k = int(np.argmax(vals.real))
    u, v = np.abs(right[:, k].real), np.abs(left[:, k].real)
    if not ((u > 1e-300).all() and (v > 1e-300).all()):
        return None
    w = v / u
    return w / w[0]


def lp_weights(mu, L) -> np.ndarray | None:
    """w_i = v_i / u_i with u = K^{-1} 1, v = K^{-T} 1 (None unless both are positive)."""
    K = np.diag(np.asarray(mu, float)) - np.asarray(L, float)
    try:
        u = np.linalg.solve(K, np.ones(K.shape[0]))
        v = np.linalg.solve(K.T, np.ones(K.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not ((u > 0).all() and (v > 0).all()):
        return None
    w = v / u
    return w / w[0]


def best_metric_margin(case: GameCase, candidates: dict, *, random_tries: int = 128,
                       seed: int = 0, X: np.ndarray | None = None) -> dict:
    """Search block weights for the largest true metric margin.

    Evaluates the named candidate weights, `random_tries` random log-weights (ratios up to
    1e4), and polishes the best three by Nelder-Mead on log w. For nonlinear games the search
    runs on a fixed dense sample and the winner is re-measured with local search.
    Returns {"margin", "weights", "found_by", "candidates": {name: margin}}.
    """
    n = case.n
    if case.constant:
        Js = case.jacobian(case.x_target)
    else:
        X = dense_points(case, samples=512) if X is None else X
        Js = case.jacobian(X)

    def margin(log_w):
        w = np.exp(np.concatenate([[0.0], np.asarray(log_w)]))
        return float(metric_quantities(Js, case.dims, w)[0].min())

    scored = {}
    for name, w in candidates.items():
        if w is None:
            continue
        w = np.asarray(w, float)
        if not (np.isfinite(w).all() and (w > 0).all()):
            continue
        lw = np.log(w / w[0])[1:]
        scored[name] = (margin(lw), lw)
    rng = np.random.default_rng(seed)
    for t in range(random_tries if n > 1 else 0):
        lw = rng.uniform(-np.log(1e4), np.log(1e4), size=n - 1)
        scored[f"random-{t}"] = (margin(lw), lw)
    ranked = sorted(scored.items(), key=lambda kv: -kv[1][0])
    best_name, (best, best_lw) = ranked[0]
    if n > 1:
        for name, (_, lw) in ranked[:3]:
            res = scipy.optimize.minimize(lambda z: -margin(z), lw, method="Nelder-Mead",
                                          options={"xatol": 1e-6, "fatol": 1e-12,
                                                   "maxiter": 400 * n})
            if -res.fun > best:
                best, best_lw, best_name = float(-res.fun), res.x, f"{name}+nelder-mead"
    w = np.exp(np.concatenate([[0.0], best_lw]))
    if not case.constant:
        best = true_metric(case, w)["margin"]
    named = {k: v[0] for k, v in scored.items() if not k.startswith("random-")}
    return {"margin": float(best), "weights": w.tolist(), "found_by": best_name,
            "candidates": named}


# --- exact dynamics of quadratic games ------------------------------------------------------------

def _scaled_jacobian(case: GameCase, w) -> np.ndarray:
    s = np.repeat(np.sqrt(np.asarray(w, float) / float(w[0])), case.dims)
    return s[:, None] * case.jacobian(case.x_target)[0] / s[None, :]


def exact_worst_factor(case: GameCase, w, method: str, h: float) -> float:
    """Quadratic games: ||W^1/2 Phi W^-1/2||_2 for the method's linear step map Phi.

    Phi = I - hJ (Euler), the RK4 polynomial of hJ, or expm(-hJ) (flow). The difference of
    two trajectories, and the distance to the equilibrium (a fixed point), obey e+ = Phi e,
    so this is the exact worst per-step factor over every start, not just simulated ones.
    With a box projection (non-expansive in M(w)) it still bounds projected Euler.
    """
    A = h * _scaled_jacobian(case, w)
    eye = np.eye(A.shape[0])
    if method == "euler":
        Phi = eye - A
    elif method == "rk4":
        A2 = A @ A
        Phi = eye - A + A2 / 2 - A2 @ A / 6 + A2 @ A2 / 24
    else:
        Phi = scipy.linalg.expm(-A)
    return float(np.linalg.norm(Phi, 2))


def exact_equilibrium(case: GameCase, near: np.ndarray) -> np.ndarray:
    """Quadratic games: the equilibrium, exactly (up to one linear solve).

    Unconstrained: J x = -b. Constrained: the variational-inequality solution, by solving the
    free coordinates with the active set read off `near` (sgn's x*), checked for consistency
    (the active coordinates' gradients push out of the box); falls back to `near`.
    """
    J = case.jacobian(case.x_target)[0]
    b = case.field(np.zeros(case.dim))[0]
    if not case.constrained:
        return np.linalg.solve(J, -b)
    return _active_set_solve(case, J, b, near) if near is not None else None


def _active_set_solve(case: GameCase, M: np.ndarray, m: np.ndarray, near: np.ndarray,
                      check: bool = True) -> np.ndarray:
    """x with x_a at the box bounds `near` touches and (M x + m)_f = 0 on the rest."""
    tol = 1e-9 * np.maximum(case.high - case.low, 1e-300)
    at_low, at_high = near <= case.low + tol, near >= case.high - tol
    active = at_low | at_high
    x = np.where(at_low, case.low, np.where(at_high, case.high, near)).astype(float)
    free = ~active
    if free.any():
        rhs = -(m[free] + M[np.ix_(free, active)] @ x[active])
        x[free] = np.linalg.solve(M[np.ix_(free, free)], rhs)
    if check:
        g = M @ x + m
        ok = (np.all(g[at_low] >= -1e-9) and np.all(g[at_high] <= 1e-9)
              and np.all(x[free] >= case.low[free] - 1e-12)
              and np.all(x[free] <= case.high[free] + 1e-12))
        if not ok:
            return near.copy()
    return x


# --- independent re-simulation (nonlinear games), in extended precision ---------------------------

LD = np.longdouble


def _ld_step(case: GameCase, method: str, h: float, substeps: int):
    low, high = case.low.astype(LD), case.high.astype(LD)
    project = (lambda X: np.clip(X, low, high)) if case.constrained else (lambda X: X)

    def F(X):
        return _field(case, X, with_linear=True)

    def rk4(X, s):
        k1 = F(X)
        k2 = F(X - s / 2 * k1)
        k3 = F(X - s / 2 * k2)
        k4 = F(X - s * k3)
        return project(X - s / 6 * (k1 + 2 * k2 + 2 * k3 + k4))

    h = LD(h)
    if method == "euler":
        return lambda X: project(X - h * F(X))
    if method == "rk4":
        return lambda X: rk4(X, h)

    def flow(X):
        # sgn's schemes: RK4 substeps, or projected Euler substeps on a constrained game
        # (whose fixed points are the projected flow's equilibria).
        s = h / substeps
        for _ in range(substeps):
            X = project(X - s * F(X)) if case.constrained else rk4(X, s)
        return X

    return flow


def _reference_point(case: GameCase, step, x_star: np.ndarray) -> np.ndarray:
    """The fixed point of `step` near sgn's x*, refined in extended precision.

    Unconstrained: Newton on F (the oracle's J) from x*, residuals in long double. Constrained:
    the step map's own fixed point (for Euler, the equilibrium; for the flow integrator, its
    fixed point), by scipy's root finder on x - step(x) over the free coordinates."""
    x = np.asarray(x_star, dtype=LD)
    if not case.constrained:
        for _ in range(8):
            r = _field(case, x[None, :], with_linear=True)[0]
            dx = np.linalg.solve(case.jacobian(np.asarray(x, float))[0], np.asarray(r, float))
            x = x - dx.astype(LD)
            if np.max(np.abs(dx)) < 1e-19 * (1 + np.max(np.abs(np.asarray(x, float)))):
                break
        return x
    tol = 1e-9 * np.maximum(case.high - case.low, 1e-300)
    free = (x_star > case.low + tol) & (x_star < case.high - tol)
    if not free.any():
        return x

    def g(z):
        y = np.asarray(x, float).copy()
        y[free] = z
        return (y - np.asarray(step(y.astype(LD)[None, :])[0], float))[free]

    z = scipy.optimize.fsolve(g, np.asarray(x, float)[free], xtol=1e-15)
    x = x.copy()
    x[free] = z.astype(LD)
    for _ in range(200):  # a few contractions of the map itself, in long double
        x = step(x[None, :])[0]
    return x


#: Distances below this fraction of ||x||_M are not resolved in long double (eps 1.1e-19, a
#: few hundred operations per flow step): their ratios are not compared.
ABS_RESOLVE = 1e-7


def resimulate(case: GameCase, cert, method: str, h: float, *, starts: int = 16,
               steps: int = 200, seed: int = 1, extra_starts=None,
               resolve: float = 1e-6) -> dict:
    """Run the method again, independently of sgn: numpy in long double, the oracle's F, own
    starts (plus `extra_starts`, e.g. those sgn flagged), and measure per-step factors only
    while distances stay resolved (>= `resolve` times the first one), where rounding and the
    error of the reference point are far below 1e-9.

    Returns {"worst": worst factor to the reference point, "worst_pairwise": between paired
    starts, "reference": the fixed point used, "offset": its M-distance from sgn's x*}.
    """
    x_star = np.asarray(cert.equilibrium["x"], float)
    w = np.repeat(np.asarray(cert.weights, float), case.dims)
    beta = cert.bounds["lipschitz"]
    substeps = flow_substeps(h, beta, case.constrained) if method == "flow" else 1
    step = _ld_step(case, method, h, substeps)
    rng = np.random.default_rng(seed)
    basin = cert.equilibrium["basin"]
    if basin["kind"] == "box":
        X0 = case.low + rng.uniform(size=(starts, case.dim)) * (case.high - case.low)
    else:
        z = rng.standard_normal((starts, case.dim))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        radius = basin["metric_radius"] * (1 - 1e-9) * rng.uniform(0.05, 1.0, size=(starts, 1))
        X0 = np.clip(x_star + radius * z / np.sqrt(w), case.low, case.high)
    if extra_starts is not None and len(extra_starts):
        X0 = np.concatenate([np.asarray(extra_starts, float), X0])
    X0 = X0[: 2 * (len(X0) // 2)]
    ref = _reference_point(case, step, x_star)
    wl = w.astype(LD)
    X = X0.astype(LD)
    d0 = np.sqrt(np.sum(wl * (X - ref) ** 2, axis=1))
    p0 = np.sqrt(np.sum(wl * (X[0::2] - X[1::2]) ** 2, axis=1))
    d_prev, p_prev = d0, p0
    worst, worst_pair = 0.0, 0.0
    for _ in range(steps):
        X_prev = X
        X = step(X)
        d = np.sqrt(np.sum(wl * (X - ref) ** 2, axis=1))
        p = np.sqrt(np.sum(wl * (X[0::2] - X[1::2]) ** 2, axis=1))
        # Resolved: well above the first distance's `resolve` and above long double rounding
        # relative to the size of x (up to a few hundred operations per step).
        floor = ABS_RESOLVE * np.sqrt(np.sum(wl * X_prev ** 2, axis=1))
        ok = (d_prev >= resolve * d0) & (d_prev >= floor)
        okp = (p_prev >= resolve * p0) & (p_prev >= np.maximum(floor[0::2], floor[1::2]))
        if ok.any():
            worst = max(worst, float(np.max(d[ok] / d_prev[ok])))
        if okp.any():
            worst_pair = max(worst_pair, float(np.max(p[okp] / p_prev[okp])))
        if not (ok.any() or okp.any()):
            break
        d_prev, p_prev = d, p
    offset = float(np.sqrt(np.sum(w * (np.asarray(ref, float) - x_star) ** 2)))
    return {"worst": worst, "worst_pairwise": worst_pair,
            "reference": np.asarray(ref, float).tolist(), "offset": offset}


# --- the check -----------------------------------------------------------------------------------

#: What is simulated for every certified game: (label, method, step key, factor on the step).
PLAN = (
    ("euler@recommended", "euler", "euler_recommended", 1.0),
    ("euler@0.999max", "euler", "euler_max", 0.999),
    ("rk4@proven", "rk4", "rk4_proven", 1.0),
    ("rk4@recommended", "rk4", "rk4_recommended", 1.0),
    ("flow", "flow", "euler_recommended", 1.0),
)

#: Relative slack for the exact (operator-norm) verdict: expm and a 2-norm in float64.
EXACT_RTOL = 1e-12


def certify(game: sgn.Game, *, samples: int = 256, seed: int = 0, refine: bool = True):
    """sgn.certify, or with refine=False the same pipeline with the local search off in both
    bound passes (its JAX compile costs several seconds per nonlinear game; sampling alone is
    a cruder estimate, so it tests the soundness checks harder, not softer)."""
    if refine:
        return sgn.certify(game, samples=samples, seed=seed)
    from sgn._certify import assemble  # certify() is exactly these four stages

    method = sgn.Sampled(samples=samples, seed=seed, refine_steps=0)
    bounds = sgn.estimate_bounds(game, method=method)
    weights = sgn.optimize_weights(bounds.curvature, bounds.coupling)
    metric = sgn.estimate_in_metric(game, weights.weights, bounds, method=method)
    return assemble(game, bounds, weights, metric)


def check_game(case: GameCase, *, samples: int = 256, seed: int = 0, refine: bool = True,
               starts: int = 16, steps: int = 200, sim_seed: int = 0, search: bool = True,
               resimulate_all: bool = False) -> dict:
    """Certify `case`, simulate what the certificate promises, and judge it independently.

    For a certified game every entry of PLAN is simulated by `sgn.simulate`; its violations
    are recorded as `sgn_violations`. Whether the dynamics really contract slower than
    certified (`genuine`) is decided without sgn's simulator:

    - quadratic games (exact bounds): exactly. The worst per-step factor over every start is
      an operator norm (exact_worst_factor), compared with the certified factor (for the
      flow of a constrained game, which sgn simulates by projected Euler substeps, the
      norm of the substeps). The flow rate exp(-alpha h) of the true (projected) flow holds
      iff alpha <= the true metric margin, which bound_errors checks. Every one of sgn's
      violations then gets a cause (x* error, or rounding at tiny distances).
    - nonlinear games (sampled bounds): when sgn reports violations (or resimulate_all),
      `resimulate` runs the method again in long double from fresh starts plus the flagged
      ones; a violation is genuine when that run contracts slower than the certificate
      promises even with the oracle's alpha and beta (the sampling error it admits).

    refine=False certifies without the local search (see `certify`).

    Returns a plain record: certified, status, certified_by, exact, reasons, mu, L, rho,
    alpha, beta, weights, euclidean_margin, step_sizes, runs {label: ...}, sgn_violations,
    genuine, bound_errors (certificate bounds the oracle beats), true {metric margins at the
    certificate's, Perron, LP and equal weights}, best (rejected games: a weight search),
    conservative (rejected, yet some weights give a positive true metric margin).
    """
    game = case.game
    cert = certify(game, samples=samples, seed=seed, refine=refine)
    mu = np.asarray(cert.bounds["curvature"], float)
    L = np.asarray(cert.bounds["coupling"], float)
    w_cert = np.asarray(cert.weights, float)
    rec: dict = {
        "samples": samples, "refine": refine,
        "name": case.name, "kind": case.kind, "seed": case.seed, "structure": case.structure,
        "params": case.params, "n": case.n, "dims": list(case.dims),
        "constrained": case.constrained,
        "status": cert.status.value, "certified": cert.certified,
        "certified_by": cert.diagnostics.get("certified_by"), "exact": bool(cert.verified),
        "reasons": list(cert.reasons),
        "mu": mu.tolist(), "L": L.tolist(), "rho": cert.diagnostics.get("spectral_radius"),
        "alpha": float(cert.margin), "beta": cert.bounds["lipschitz"],
        "weights": w_cert.tolist(), "euclidean_margin": cert.bounds["euclidean_margin"],
        "step_sizes": cert.step_sizes, "runs": {}, "sgn_violations": 0, "genuine": 0,
    }
    X = None if case.constant else dense_points(case)
    scale = max(1.0, float(np.max(np.abs(case.jacobian(case.x_target)))))
    tol = 1e-9 * scale

    # The oracle's reading of the bounds the certificate states.
    tb = true_bounds(case, X)
    rec["true_bounds"] = {"curvature": tb["curvature"].tolist(),
                          "coupling": tb["coupling"].tolist(), "gamma": tb["gamma"]}
    at_cert = true_metric(case, w_cert, X)
    rec["true"] = {"margin_at_cert_weights": at_cert["margin"],
                   "lipschitz_at_cert_weights": at_cert["lipschitz"], "exact": at_cert["exact"]}
    cands = {"equal": np.ones(case.n), "perron": perron_weights(mu, L), "lp": lp_weights(mu, L),
             "certificate": w_cert}
    if case.hidden_weights is not None:
        cands["hidden"] = case.hidden_weights
    for name in ("equal", "perron", "lp"):
        w = cands[name]
        rec["true"][f"margin_at_{name}"] = (None if w is None else
                                           true_metric(case, w, X, refine=False)["margin"])
    errors = []
    if np.any(mu > tb["curvature"] + tol):
        errors.append("curvature")
    if np.any(L < tb["coupling"] - tol):
        errors.append("coupling")
    if cert.bounds["euclidean_margin"] > tb["gamma"] + tol:
        errors.append("euclidean_margin")
    if cert.certified:
        if rec["alpha"] > at_cert["margin"] + tol:
            errors.append("alpha")
        if rec["beta"] < at_cert["lipschitz"] - tol:
            errors.append("beta")
    rec["bound_errors"] = errors

    if cert.certified:
        _check_runs(case, cert, rec, at_cert, starts, steps, sim_seed, resimulate_all)

    rec["best"] = None
    rec["conservative"] = False
    if not cert.certified and search:
        best = best_metric_margin(case, cands, seed=case.seed, X=None)
        rec["best"] = best
        rec["conservative"] = bool(best["margin"] > tol)
    return rec


def _check_runs(case, cert, rec, at_cert, starts, steps, sim_seed, resimulate_all):
    game = case.game
    alpha, beta = rec["alpha"], rec["beta"]
    w = np.asarray(cert.weights, float)
    wd = np.repeat(w, case.dims)
    x_star = np.asarray(cert.equilibrium["x"], float)
    # The oracle's (worse) alpha and beta: what the certificate would promise without the
    # sampling error. For exact games these equal the certificate's up to rounding.
    alpha_eff = min(alpha, at_cert["margin"])
    beta_eff = max(beta, at_cert["lipschitz"])
    x_true = exact_equilibrium(case, x_star) if case.constant else None
    star_err = (None if x_true is None else
                float(np.sqrt(np.sum(wd * (x_true - x_star) ** 2))))
    rec["true"]["equilibrium_error"] = star_err
    rec["true"]["equilibrium_error_bound"] = cert.equilibrium.get("error_bound")
    for label, method, key, factor in PLAN:
        if cert.step_sizes.get(key) is None:
            # No promise to hold it to (RK4 on a constrained game is not claimed).
            rec["runs"][label] = {"method": method, "step": None, "skipped": True}
            continue
        h = factor * cert.step_sizes[key]
        sim = sgn.simulate(game, cert, methods=(method,), step=h, starts=starts, steps=steps,
                           seed=sim_seed)
        run = sim.runs[0]
        certified = run.certified_factor
        entry = {
            "method": method, "step": h, "certified": certified,
            "observed": run.observed_factor, "pairwise": run.observed_pairwise_factor,
            "final_ratio": run.final_ratio, "sgn_violations": len(run.violations),
            "first": None if not run.violations else _describe(run.violations[0]),
            "genuine": 0,
        }
        if case.constant:
            if method == "flow" and case.constrained:
                # sgn simulates n projected Euler substeps: each is the clip (non-expansive in
                # M(w), x* a fixed point) of the linear map I - (h/n) J.
                n = flow_substeps(h, beta, True)
                entry["exact_worst"] = exact_worst_factor(case, w, "euler", h / n) ** n
                entry["exact_kind"] = f"operator norm of {n} Euler substeps in M(w)"
            else:
                entry["exact_worst"] = exact_worst_factor(case, w, method, h)
                entry["exact_kind"] = "operator norm of the step map in M(w)"
            if certified is not None and entry["exact_worst"] > certified * (1 + EXACT_RTOL):
                entry["genuine"] = 1
            if run.violations:
                entry["causes"] = _causes(run, star_err)
        elif run.violations or resimulate_all:
            flagged = [v["x0"] for v in run.violations[:8]]
            again = resimulate(case, cert, method, h, starts=starts, steps=steps,
                               seed=sim_seed + 1, extra_starts=flagged)
            loose = promised_factor(method, h, alpha_eff, beta_eff, case.constrained)
            worst = max(again["worst"], again["worst_pairwise"])
            entry["resimulated"] = {**{k: again[k] for k in ("worst", "worst_pairwise",
                                                             "offset")},
                                    "promised_with_true_bounds": loose}
            if certified is not None and loose is not None and worst > loose + FACTOR_TOL:
                entry["genuine"] = 1
        rec["runs"][label] = entry
        rec["sgn_violations"] += entry["sgn_violations"]
        rec["genuine"] += entry["genuine"]


def _causes(run, star_err) -> dict:
    """Why sgn.simulate flagged steps the exact verdict clears: counts per cause.

    "x* error": a distance-to-x* ratio whose excess over the certified factor is within what
    the error of sgn's x* (against the exact equilibrium) can cause at that distance;
    otherwise rounding (float64 states of size |x| compared at distances far below it)."""
    causes: dict = {}
    d = run.distances
    for v in run.violations:
        if v["kind"] == "left the region":
            cause = "left the region"
        elif v["kind"] == "distance to x*":
            k, s = v["step"], v["start"]
            level = d[k + 1, s]
            noise = 2.0 * max(star_err or 0.0, 1e-16) / max(level, 1e-300)
            excess = v["observed"] - v["certified"]
            cause = ("x* error over a small distance" if excess <= 10 * noise
                     else "rounding at small distances")
        else:
            cause = "rounding at small pair distances"
        causes[cause] = causes.get(cause, 0) + 1
    return causes


def _describe(v: dict) -> str:
    obs = "" if v["observed"] is None else f" observed {v['observed']:.12g}"
    cer = "" if v["certified"] is None else f" certified {v['certified']:.12g}"
    return f"start {v['start']} step {v['step']}: {v['kind']}{obs}{cer}"


def exact_best_metric_margin(case: GameCase, iterations: int = 40) -> dict | None:
    """Quadratic games: max over w > 0 of lambda_min(sym(W^1/2 J W^-1/2)).

    Bisection on a with an SDP feasibility test W J + J^T W - 2 a W >= 0, w >= 1e-6,
    sum w = 1 (cvxpy + Clarabel; J scaled to norm 1). Only solves reported "optimal" count as
    feasible (a solver error or a Clarabel panic counts as infeasible: the answer stays a lower
    bound), and the answer is the margin numpy measures at the last feasible weights, so it
    is attained, not just claimed. Returns {"margin", "weights", "upper"} ("upper": the
    bisection's infeasible end). The floor 1e-6 caps the
    weights' spread, so optima that need wider ratios are slightly underestimated.
    """
    import cvxpy as cp

    J = case.jacobian(case.x_target)[0]
    scale = float(np.linalg.norm(J, 2))
    Js = J / scale
    n, dims = case.n, case.dims
    E = [np.diag(np.repeat(np.eye(n)[i], dims)) for i in range(n)]
    w = cp.Variable(n)
    a = cp.Parameter()
    W = sum(w[i] * E[i] for i in range(n))
    S = W @ Js + Js.T @ W - 2 * a * W
    prob = cp.Problem(cp.Minimize(0), [0.5 * (S + S.T) >> 0, w >= 1e-6, cp.sum(w) == 1])
    lo = float(np.linalg.eigvalsh(0.5 * (Js + Js.T))[0])
    hi = float(np.min(np.linalg.eigvals(Js).real))
    best_w = np.ones(n) / n
    for _ in range(iterations):
        if hi - lo < 1e-8:
            break
        mid = 0.5 * (lo + hi)
        a.value = mid
        try:
            with warnings.catch_warnings(), _quiet_stderr():
                warnings.simplefilter("ignore")
                prob.solve(solver=cp.CLARABEL)
            feasible = prob.status == "optimal" and w.value is not None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001  (cp.SolverError, or a Rust panic in Clarabel)
            feasible = False
        if feasible:
            lo, best_w = mid, np.maximum(np.asarray(w.value, float), 1e-12)
        else:
            hi = mid
    margin = float(metric_quantities(J[None], dims, best_w)[0][0])
    return {"margin": margin, "weights": (best_w / best_w[0]).tolist(), "upper": hi * scale}


class _quiet_stderr:
    """Silence file descriptor 2 (a Clarabel panic prints there before it is caught)."""

    def __enter__(self):
        import os
        import sys

        sys.stderr.flush()
        self._saved = os.dup(2)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 2)

    def __exit__(self, *exc):
        import os

        os.dup2(self._saved, 2)
        os.close(self._saved)
        os.close(self._null)
        return False
