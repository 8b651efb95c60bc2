"""Entropy-regularised tabular Markov games, played with softmax policies (docs/fisher.md).

    MarkovGame(transitions=P, rewards=[r_1, ..., r_N], discount=0.9, entropy=1.0)

Player i's strategy is its logits theta_i(s, a) in every state s. Costs are invariant to adding
a constant to one state's logits, so the game is posed on the quotient: the last action's logit
is pinned at 0 and x_i = theta_i(s, a) - theta_i(s, A_i) for a < A_i (reduced logits, S (A_i - 1)
numbers per player). Every Fisher-geometry quantity below is invariant under this choice of
coordinates; nothing is done by thresholding small eigenvalues.

Cost (normalised by 1 - discount, d the normalised discounted state occupancy from `initial`):

    f_i = - sum_s d(s) r_i^pi(s)  -  entropy * sum_s H_i(s)          entropy_weighting="uniform"
    f_i = - sum_s d(s) [r_i^pi(s) + entropy * H_i(s)]                entropy_weighting="occupancy"

with H_i(s) the entropy of pi_i(. | s). "uniform" is the default: it is the SGN paper's
convention and, with the per-state Fisher blocks below, the entropy gives every state curvature
`entropy` in the Fisher metric, whereas occupancy weighting gives a rarely visited state almost
none. The occupancy is an exact linear solve (no rollouts), differentiable in JAX.

Fisher geometry. Player i's Fisher block is blockdiag_s(diag(p) - p p^T) over the reduced
actions (p the first A_i - 1 probabilities, p_last the last), unweighted by occupancy, with the
closed-form factor F = R^T R, R = diag(v) - c v p^T, v = sqrt(p), c = 1 / (1 + sqrt(p_last)),
and R^{-1} = diag(1/v) + 1 v^T / (sqrt(p_last) (1 + sqrt(p_last))), F^{-1} = diag(1/p) + 1 1^T
/ p_last. R differs from F^{1/2} by an orthogonal factor per block, so eigenvalues and norms
of R^{-T} H R^{-1} are those of F^{-1/2} H F^{-1/2}.

- the field the dynamics follow is the natural gradient N = F^{-1} g (g the Euclidean
  pseudo-gradient), so projected Euler on this game IS natural policy gradient;
- curvature mu_i and coupling L_ij are read from R^{-T} H R^{-1} (H = dg/dx), whose blocks
  have the eigenvalues and norms of F_i^{-1/2} H_ij F_j^{-1/2} (docs/fisher.md);
- beta and the metric margin are read from R (dN/dx) R^{-1}, the Jacobian of the natural-gradient
  field in the Fisher metric, which includes the derivative of F^{-1} (it vanishes only at the
  equilibrium).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import block_diag

from . import _config  # noqa: F401  (float64)
from ._errors import GameDefinitionError
from ._game import Box, Game
from ._metric import Fisher

#: Default half-width of the logit cube around the equilibrium on which bounds are taken.
DEFAULT_RADIUS = 0.1

#: How far rows of the transition kernel and the initial distribution may be from summing to 1.
PROBABILITY_TOL = 1e-9

#: The regularised equilibrium is accepted when ||N(theta*)|| is below this (absolute: logits
#: are dimensionless and O(1)).
EQUILIBRIUM_TOL = 1e-10

ENTROPY_WEIGHTINGS = ("uniform", "occupancy")

#: How derivatives of the linear solves (occupancy, values) are taken (docs/fisher.md,
#: "Speed"): "elimination" (the default) differentiates the elimination itself in forward
#: mode, which repeats it for every tangent (O(S^3) per tangent); "closed-form" uses
#: dx = A^-1 (db - dA x) with one factorisation of A shared by every tangent (O(S^2) per
#: tangent). The values agree to rounding, not bit for bit: certificates move in their last
#: digits (benchmarks/README.md, "Markov games"), which is why it is not the default.
SOLVE_DERIVATIVES = ("elimination", "closed-form")

#: How a game is bounded (docs/fisher.md, "Scale"): "standard" is the path every game took
#: before issue 15's large-game work, kept bit for bit; "large" trades the last bits of the
#: results for speed (closed-form solve derivatives, Jacobians one point at a time, an autodiff
#: search gradient and a shorter local search: `LARGE_SEARCH_STARTS`, `LARGE_SEARCH_STEPS`).
#: "auto" (the default) picks "large" above `LARGE_GAME_SIZE`.
PLANS = ("auto", "standard", "large")

#: "auto" takes the large plan when states x joint actions (S * prod(A_i)) exceeds this. The
#: largest games of the Markov benchmark's default table are S = 16 with 2 x 2 actions (64) and
#: S = 2 with 8 x 8 (128): every game it runs (and every bundled example) keeps the standard
#: plan and today's bits. Past it the standard plan stops finishing in useful time (S = 16,
#: 2 x 2: ~2 min warm; S = 30, 3 x 3 = 270: one search step 62 s, hours in all;
#: benchmarks/README.md, "Issue 15").
LARGE_GAME_SIZE = 128

#: The large plan's local search: starts per quantity and most evaluations per start (the
#: standard plan: _config.REFINE_STARTS = 16, REFINE_STEPS = 200). Four starts still give the
#: search allowance a spread of three finite ends (sgn._bounds.search_allowance).
LARGE_SEARCH_STARTS = 4
LARGE_SEARCH_STEPS = 40

#: The large plan's sample points when certify is given neither samples nor an estimator
#: (standard: _config.DEFAULT_SAMPLES = 4096). At d >= 100 coordinates 4096 points cover the
#: cube no better than 1024 (neither reaches its vertices), the local search does the
#: pushing, and at S = 30 with 3 x 3 actions the Jacobians of 1024 points for both passes fit
#: the screen's memo (_screening.MEMO_BYTES), so the metric pass computes none again.
LARGE_SAMPLES = 1024

#: Past this size (S * prod(A_i)) the large plan looks at fewer points: `HUGE_SEARCH_STARTS`
#: starts of at most `HUGE_SEARCH_STEPS` evaluations, and `HUGE_SAMPLES` default samples. At
#: 100 states with 4 x 4 actions (1600; d = 600) one search evaluation (reverse mode through
#: the Jacobians and a 600 x 600 eigen-solve) costs ~0.5 s and a sample point's screen
#: ~50 ms, so the large plan's 4 x 40 evaluations for each of 11 quantities (2 players) and
#: 1024 samples in three passes would take ~20 minutes (benchmarks/README.md, "Issue 15,
#: part 3"). Three starts still give the search allowance three finite ends (the spread of
#: the best two above the lowest: sgn._bounds.search_allowance); a shorter search shows as a
#: wider allowance, not as a tighter bound.
HUGE_GAME_SIZE = 1024
HUGE_SEARCH_STARTS = 3
HUGE_SEARCH_STEPS = 12
HUGE_SAMPLES = 256


class MarkovGame(Game):
    """An entropy-regularised tabular Markov game; players learn softmax policies by NPG.

    Args:
        transitions: P[s, a_1, ..., a_N, s'], each row a probability distribution over s'.
        rewards: N arrays r_i[s, a_1, ..., a_N] (player i maximises its reward).
        discount: gamma in [0, 1).
        entropy: the entropy weight tau > 0.
        initial: the initial state distribution (default: uniform over states).
        entropy_weighting: "uniform" (default: unweighted sum over states of each state's
            policy entropy) or "occupancy" (weighted by the discounted state occupancy).
        radius: half-width of the cube of reduced logits around the equilibrium where the
            bounds are taken (default 0.1).
        name, names: shown in certificates and reports.
        equilibrium: reduced logits of the regularised equilibrium, when known (checked);
            otherwise it is found by natural policy gradient and Newton's method.
        solve_derivatives: "elimination" or "closed-form": how the derivatives of the
            occupancy and value solves are taken (`SOLVE_DERIVATIVES`); "closed-form"
            computes the bound Jacobians faster as states grow (measured 7x at 30 states,
            a whole certify 1.3x CPU at 8) and agrees with "elimination" to rounding only.
            Default: "elimination" on the standard plan, "closed-form" on the large one.
        plan: "auto" (default), "standard" or "large" (`PLANS`): how the game is bounded.
            "standard" is the original path, bit for bit; "large" is several times faster on
            large games and agrees with it to rounding and search variation only (docs/
            fisher.md, "Scale"); "auto" takes "large" when S * prod(actions) exceeds
            `LARGE_GAME_SIZE`. The certificate's estimator record says which plan ran.
    """

    geometry = "fisher"

    def __init__(self, transitions, rewards: Sequence, *, discount: float, entropy: float,
                 initial=None, entropy_weighting: str = "uniform",
                 radius: float = DEFAULT_RADIUS, name: str = "markov game",
                 names: Sequence[str] | None = None, equilibrium=None,
                 solve_derivatives: str | None = None, plan: str = "auto"):
        P, R, rho, actions = _check_tables(transitions, rewards, initial)
        self.plan = choose_plan(P.shape[0], actions, plan)
        if solve_derivatives is None:
            solve_derivatives = "closed-form" if self.plan == "large" else "elimination"
        if solve_derivatives not in SOLVE_DERIVATIVES:
            raise GameDefinitionError(
                f"solve_derivatives must be one of {SOLVE_DERIVATIVES}, got "
                f"{solve_derivatives!r}")
        self.solve_derivatives = solve_derivatives
        self._solve = (solve_diagonally_dominant if solve_derivatives == "elimination"
                       else solve_shared_factorisation)
        if self.plan == "large":
            # Per instance: _shared.compiled keys its programs on search_gradient, so games
            # of the two plans never share a compiled search.
            self.search_gradient = "autodiff"
            self.jacobian_batching = "map"
            huge = P.shape[0] * math.prod(actions) > HUGE_GAME_SIZE
            starts, steps, samples = ((HUGE_SEARCH_STARTS, HUGE_SEARCH_STEPS, HUGE_SAMPLES)
                                      if huge else
                                      (LARGE_SEARCH_STARTS, LARGE_SEARCH_STEPS, LARGE_SAMPLES))
            self.search_limits = (starts, steps)
            self.default_samples = samples
            self.blas_threads = 1
            self.estimator_notes = {"markov_plan": {
                "plan": "large",
                "chosen": ("automatically: S * prod(actions) = "
                           f"{P.shape[0] * math.prod(actions)} > {LARGE_GAME_SIZE}"
                           if plan == "auto" else "given"),
                "solve_derivatives": solve_derivatives,
                "jacobians": "structured",
                "jacobian_batching": self.jacobian_batching,
                "search_gradient": self.search_gradient,
                "search_limits": {"starts": starts, "max_evaluations": steps},
                "default_samples": samples,
            }}
        self.transitions, self.rewards, self.initial = P, R, rho
        self.actions = actions
        self.states = P.shape[0]
        self.discount = _check_discount(discount)
        self.entropy = _check_entropy(entropy)
        # The programs read discount and entropy as arrays, not Python floats: traced, they are
        # then constants rather than literals, so games that differ only in them (a sweep)
        # share compiled code (see _shared.py).
        self._gamma = jnp.asarray(self.discount)
        self._tau = jnp.asarray(self.entropy)
        if entropy_weighting not in ENTROPY_WEIGHTINGS:
            raise GameDefinitionError(
                f"entropy_weighting must be one of {ENTROPY_WEIGHTINGS}, got {entropy_weighting!r}")
        self.entropy_weighting = entropy_weighting
        self.radius = _check_radius(radius)
        dims = [self.states * (a - 1) for a in actions]
        costs = [self._cost(i) for i in range(len(actions))]
        # The region is centred on the equilibrium, which needs the game to find: build on the
        # cube around uniform policies first, then move it.
        super().__init__(costs, dims, Box(-self.radius, self.radius), name=name, names=names,
                         constrained=False)
        self.equilibrium = self._equilibrium(equilibrium)
        self.equilibrium_source = "given" if equilibrium is not None else "solved"
        self.region = Box(self.equilibrium - self.radius,
                          self.equilibrium + self.radius).resolve(self.dim)

    # --- policies, occupancy, costs ------------------------------------------------------

    def policies(self, x) -> list:
        """Each player's policy table pi_i[s, a] at reduced logits x (flat, length d)."""
        return [jax.nn.softmax(_full_logits(xi, self.states), axis=-1) for xi in self.split(x)]

    def occupancy(self, pis):
        """Normalised discounted state occupancy d = (1 - gamma) rho^T (I - gamma P_pi)^{-1}."""
        P_pi = jnp.einsum("sa,sat->st", _joint(pis), self._P_flat)
        A = jnp.eye(self.states) - self._gamma * P_pi.T
        return self._solve(A, (1.0 - self._gamma) * self.initial)

    def _cost(self, i: int):
        def cost(*xs):
            pis = [jax.nn.softmax(_full_logits(x, self.states), axis=-1) for x in xs]
            d = self.occupancy(pis)
            reward = jnp.sum(_joint(pis) * self._R_flat[i], axis=-1)               # r_i^pi(s)
            logp = jax.nn.log_softmax(_full_logits(xs[i], self.states), axis=-1)
            ent = -jnp.sum(pis[i] * logp, axis=-1)                                 # H_i(s)
            if self.entropy_weighting == "uniform":
                return -(d @ reward) - self._tau * jnp.sum(ent)
            return -(d @ (reward + self._tau * ent))
        return cost

    @property
    def _P_flat(self):
        return jnp.asarray(self.transitions.reshape(self.states, -1, self.states))

    @property
    def _R_flat(self):
        return jnp.asarray(self.rewards.reshape(len(self.actions), self.states, -1))

    # --- the Fisher geometry -------------------------------------------------------------

    def policy_gradient(self, x):
        """The Euclidean pseudo-gradient g(x) in reduced logits (what plain PG steps along).

        From the policy-gradient theorem rather than autodiff of the costs (tests check the
        two agree): g_i(s, .) = (diag(pi) - pi pi^T) G_i(s, .) over the reduced actions, with
        G_i = d f_i / d pi_i (see `policy_partials`).
        """
        return _euclidean_gradient(self.policy_partials(x), self.policies(x))

    def pseudo_gradient(self, x):
        """The natural gradient N(x) = F(x)^{-1} g(x): Euler on it is natural policy gradient.

        In reduced logits F^{-1} g is G_i(s, a) - G_i(s, last action): no division by small
        probabilities.
        """
        return _natural_gradient(self.policy_partials(x))

    def policy_partials(self, x) -> list:
        """G_i[s, a] = d f_i / d pi_i(a | s) for every player (the policy-gradient theorem).

        With V_i = (I - gamma P_pi)^{-1} rbar_i the unnormalised values (rbar_i the reward plus,
        when occupancy-weighted, the entropy bonus) and Qbar_i(s, a_i) the action values
        averaged over the other players' policies:
            d f_i / d pi_i(a | s) = -d(s) Qbar_i(s, a) + entropy * w(s) (log pi_i(a | s) + 1),
        with w = 1 (uniform) or w = d (occupancy).
        """
        pis = self.policies(x)
        joint = _joint(pis)
        P_pi = jnp.einsum("sa,sat->st", joint, self._P_flat)
        eye = jnp.eye(self.states)
        d = self._solve(eye - self._gamma * P_pi.T, (1.0 - self._gamma) * self.initial)
        shape = (self.states, *self.actions)
        partials = []
        for i, pi in enumerate(pis):
            logp = jnp.log(pi)
            entropy = -jnp.sum(pi * logp, axis=1)
            rbar = jnp.sum(joint * self._R_flat[i], axis=1)
            weight = 1.0 if self.entropy_weighting == "uniform" else d
            if self.entropy_weighting == "occupancy":
                rbar = rbar + self._tau * entropy
            V = self._solve(eye - self._gamma * P_pi, rbar)
            Q = self._R_flat[i] + self._gamma * jnp.einsum("sat,t->sa", self._P_flat, V)
            Qbar = _marginal(Q.reshape(shape), pis, i)
            partials.append(-d[:, None] * Qbar
                            + self._tau * jnp.reshape(weight, (-1, 1)) * (logp + 1.0))
        return partials

    def fisher_factors(self, x):
        """(R, R^{-1}), block diagonal with F(x) = R^T R (closed forms, see the module doc)."""
        R, R_inv = [], []
        for R_s, R_inv_s in self._factor_blocks(x):   # (one player at a time, as traced before)
            R.append(_state_block_diag(R_s))
            R_inv.append(_state_block_diag(R_inv_s))
        return block_diag(*R), block_diag(*R_inv)

    def fisher_factor_blocks(self, x) -> list:
        """Per player, the state blocks (R_s, R_s^{-1}), each (S, A_i - 1, A_i - 1), of which
        `fisher_factors` are the block-diagonal matrices."""
        return list(self._factor_blocks(x))

    def _factor_blocks(self, x):
        for pi in self.policies(x):
            p, last = pi[:, :-1], pi[:, -1]
            v = jnp.sqrt(p)
            root = jnp.sqrt(last)[:, None, None]
            eye = jnp.eye(p.shape[1])
            R_s = eye * v[:, None, :] - v[:, :, None] * p[:, None, :] / (1.0 + root)
            R_inv_s = eye / v[:, None, :] + v[:, None, :] / (root * (1.0 + root))
            yield R_s, R_inv_s

    def fisher(self, x):
        """The joint Fisher matrix blockdiag_i F_i(x) (dense, for checks and reports)."""
        R, _ = self.fisher_factors(x)
        return R.T @ R

    def bound_jacobians(self, x):
        """(R^{-T} H R^{-1}, R dN R^{-1}): the Fisher-normalised H, and the natural-gradient
        field's Jacobian in the Fisher metric (with the derivative of F^{-1})."""
        def both(x):  # g and N from one evaluation of the partials d f / d pi
            partials = self.policy_partials(x)
            return (_euclidean_gradient(partials, self.policies(x)),
                    _natural_gradient(partials))

        if self.plan == "large":
            # The factors are block-diagonal (one (A_i - 1)-square block per player and
            # state): applied block by block, O(d^2 A) instead of four dense d^3 products,
            # which at d = 600 cost more than the Jacobian itself (benchmarks/README.md,
            # "Issue 15"). The same values to rounding, so only the large plan does it.
            # The Jacobians themselves are assembled from the game's structure (a logit moves
            # one state's policy: sgn/_markov_jacobian.py), not by forward mode.
            from ._markov_jacobian import partial_jacobians

            blocks = self.fisher_factor_blocks(x)
            H, dN = partial_jacobians(self, x)
            R_s = [b[0] for b in blocks]
            R_inv_s = [b[1] for b in blocks]
            return (_apply_blocks(_apply_blocks(H, R_inv_s, self.states, True), R_inv_s,
                                  self.states, False, right=True),
                    _apply_blocks(_apply_blocks(dN, R_s, self.states, False), R_inv_s,
                                  self.states, False, right=True))
        R, R_inv = self.fisher_factors(x)
        H, dN = jax.jacfwd(both)(x)
        return R_inv.T @ H @ R_inv, R @ dN @ R_inv

    def metric(self, weights) -> Fisher:
        """M(w) = blockdiag(w_i F_i): the Fisher metric with block weights."""
        return Fisher.from_game(weights, self)

    def fisher_inverse_diagonal(self, x) -> np.ndarray:
        """diag(F(x)^{-1}) = 1/p + 1/p_last per reduced logit (for the basin's Fisher ball)."""
        parts = []
        for pi in self.policies(jnp.asarray(x)):
            pi = np.asarray(pi)
            parts.append((1.0 / pi[:, :-1] + 1.0 / pi[:, -1:]).reshape(-1))
        return np.concatenate(parts)

    @property
    def has_constant_jacobian(self) -> bool:
        return False  # softmax policies: never affine

    @property
    def non_smooth(self) -> None:
        return None   # softmax policies and linear solves: smooth by construction

    @property
    def single_precision(self) -> None:
        return None   # sgn builds the program from float64 tables (not worth a trace)

    #: The local search differentiates the bounds numerically: autodiff would take third
    #: derivatives of a program with linear solves, which costs far more to compile than the
    #: 2 d + 1 extra evaluations per step cost to run on these small games. The large plan
    #: (docs/fisher.md, "Scale") sets "autodiff" per game: there 2 d + 1 is hundreds.
    search_gradient = "central-difference"

    # --- the regularised equilibrium ----------------------------------------------------

    def _equilibrium(self, given) -> np.ndarray:
        d, field = self.dim, self.field_fn
        if given is not None:
            x = np.asarray(given, dtype=np.float64).reshape(-1)
            if x.size != d:
                raise GameDefinitionError(f"equilibrium has {x.size} reduced logits, expected {d}")
        else:
            x = regularised_equilibrium(field, self.jacobian_fn, d)
        residual = float(np.linalg.norm(np.asarray(field(jnp.asarray(x)))))
        if not math.isfinite(residual) or residual > EQUILIBRIUM_TOL:
            what = "the given equilibrium" if given is not None else "NPG and Newton's method"
            raise GameDefinitionError(
                f"could not find the regularised equilibrium: {what} left ||F^-1 grad f|| = "
                f"{residual:.3g}; pass equilibrium=... (reduced logits) or raise the entropy "
                "weight")
        return x

    def describe(self) -> dict:
        out = super().describe()
        out["markov"] = {
            "states": self.states,
            "actions": list(self.actions),
            "discount": self.discount,
            "entropy": self.entropy,
            "entropy_weighting": self.entropy_weighting,
            "initial": self.initial.tolist(),
            "radius": self.radius,
            "coordinates": "reduced logits theta_i(s, a) - theta_i(s, last action)",
        }
        if self.solve_derivatives != "elimination":   # (the default's record is unchanged)
            out["markov"]["solve_derivatives"] = self.solve_derivatives
        if self.plan != "standard":
            out["markov"]["plan"] = self.plan
        return out

    def __repr__(self) -> str:
        return (f"MarkovGame(name={self.name!r}, states={self.states}, "
                f"actions={list(self.actions)}, discount={self.discount}, "
                f"entropy={self.entropy})")


def choose_plan(states: int, actions: Sequence[int], plan: str = "auto") -> str:
    """The plan a game of this size is bounded with: `plan` itself unless "auto", which is
    "large" when states x joint actions exceeds LARGE_GAME_SIZE, else "standard"."""
    if plan not in PLANS:
        raise GameDefinitionError(f"plan must be one of {PLANS}, got {plan!r}")
    if plan != "auto":
        return plan
    return "large" if states * math.prod(actions) > LARGE_GAME_SIZE else "standard"


def regularised_equilibrium(field, jacobian, d: int, *, max_steps: int = 2000) -> np.ndarray:
    """Zero of the natural-gradient field: damped NPG from uniform policies, then Newton.

    NPG's step is adapted (grown after a step that lowers ||N||, halved after one that does
    not); Newton's method with backtracking takes over and converges quadratically once close.
    """
    x = np.zeros(d)
    n = np.asarray(field(jnp.asarray(x)))
    h, r = 0.5, float(np.linalg.norm(n))
    for _ in range(max_steps):
        if r < 1e-3 or h < 1e-12:
            break
        x_try = x - h * n
        n_try = np.asarray(field(jnp.asarray(x_try)))
        r_try = float(np.linalg.norm(n_try))
        if np.isfinite(r_try) and r_try < r:
            x, n, r, h = x_try, n_try, r_try, min(1.5 * h, 1.0)
        else:
            h *= 0.5
    for _ in range(50):
        if r <= 1e-14:
            break
        J = np.asarray(jacobian(jnp.asarray(x)))
        try:
            dx = np.linalg.solve(J, -n)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-6:
            n_try = np.asarray(field(jnp.asarray(x + t * dx)))
            r_try = float(np.linalg.norm(n_try))
            if np.isfinite(r_try) and r_try < r:
                break
            t *= 0.5
        else:
            break
        x, n, r = x + t * dx, n_try, r_try
    return x


def _euclidean_gradient(partials, pis):
    """g_i(s, .) = (diag(pi) - pi pi^T) G_i(s, .) over the reduced actions, flat."""
    return jnp.concatenate([(pi * (G - jnp.sum(pi * G, axis=1, keepdims=True)))[:, :-1].reshape(-1)
                            for G, pi in zip(partials, pis)])


def _natural_gradient(partials):
    """F^{-1} g in reduced logits: G_i(s, a) - G_i(s, last action), flat."""
    return jnp.concatenate([(G[:, :-1] - G[:, -1:]).reshape(-1) for G in partials])


def solve_diagonally_dominant(A, b):
    """x with A x = b by Gaussian elimination without pivoting, in plain JAX operations.

    A = I - gamma P^T is strictly diagonally dominant by columns (gamma < 1, P stochastic), for
    which elimination without pivoting is backward stable. Written out rather than calling
    jnp.linalg.solve so that batched LAPACK kernels never run side by side under vmap (see
    _bounds._Sequential) and so it differentiates to any order.
    """
    n = A.shape[0]
    M = jnp.concatenate([A, b[:, None]], axis=1)
    rows = jnp.arange(n)

    def eliminate(k, M):
        factors = jnp.where(rows > k, M[:, k] / M[k, k], 0.0)
        return M - factors[:, None] * M[k][None, :]

    M = jax.lax.fori_loop(0, n, eliminate, M)

    def substitute(j, x):
        i = n - 1 - j
        return x.at[i].set((M[i, n] - M[i, :n] @ x) / M[i, i])

    return jax.lax.fori_loop(0, n, substitute, jnp.zeros(n, dtype=M.dtype))


@jax.custom_jvp
def solve_shared_factorisation(A, b):
    """x with A x = b, as `solve_diagonally_dominant` (the same values), with closed-form
    derivatives: dx = A^{-1} (db - dA x), every tangent solved with one factorisation of A.

    Forward mode through the elimination repeats the elimination for each tangent, O(n^3)
    each; here the factors are computed once (under jax.jacfwd the factorisation does not
    depend on the tangent, so vmap leaves it unbatched) and each tangent costs two
    triangular solves, O(n^2). The tangents agree with the elimination's to rounding
    (tests/test_markov_speed.py), not bit for bit.
    """
    return solve_diagonally_dominant(A, b)


@solve_shared_factorisation.defjvp
def _solve_shared_factorisation_jvp(primals, tangents):
    A, b = primals
    dA, db = tangents
    x = solve_diagonally_dominant(A, b)
    return x, _lu_solve(_lu_factor(A), db - dA @ x)


def _lu_factor(A):
    """A = L U without pivoting (A diagonally dominant by columns), packed in one matrix: U on
    and above the diagonal, L's multipliers below it (L's unit diagonal implied)."""
    n = A.shape[0]
    rows = jnp.arange(n)

    def eliminate(k, M):
        below = rows > k
        factors = jnp.where(below, M[:, k] / M[k, k], 0.0)
        M = M - factors[:, None] * jnp.where(below, M[k], 0.0)[None, :]
        return M.at[:, k].set(jnp.where(below, factors, M[:, k]))

    return jax.lax.fori_loop(0, n, eliminate, A)


def _lu_solve(LU, b):
    """x with L U x = b for `_lu_factor`'s packed factors: forward, then back substitution."""
    n = LU.shape[0]
    rows = jnp.arange(n)

    def forward(k, y):
        return y - jnp.where(rows > k, LU[:, k], 0.0) * y[k]

    y = jax.lax.fori_loop(0, n, forward, b)

    def substitute(j, x):
        i = n - 1 - j
        return x.at[i].set((y[i] - jnp.where(rows > i, LU[i], 0.0) @ x) / LU[i, i])

    return jax.lax.fori_loop(0, n, substitute, jnp.zeros_like(y))


def _full_logits(x, states: int):
    """Reduced logits (S (A - 1),) -> full logits (S, A) with the last action's logit 0."""
    X = jnp.reshape(x, (states, -1))
    return jnp.concatenate([X, jnp.zeros((states, 1), dtype=X.dtype)], axis=1)


def _joint(pis):
    """The joint policy pi(a | s) = prod_i pi_i(a_i | s), flattened over joint actions."""
    joint = pis[0]
    for pi in pis[1:]:
        joint = (joint[:, :, None] * pi[:, None, :]).reshape(joint.shape[0], -1)
    return joint


def _marginal(Q, pis, i: int):
    """Q[s, a_1, ..., a_N] averaged over every player but i's policy -> (S, A_i)."""
    letters = "abcdefghijklmnopqrtuvwxyz"[:len(pis)]  # no "s": it names the state axis
    operands, subscripts = [Q], ["s" + letters]
    for j, pi in enumerate(pis):
        if j != i:
            operands.append(pi)
            subscripts.append("s" + letters[j])
    return jnp.einsum(",".join(subscripts) + "->s" + letters[i], *operands)


def _apply_blocks(M, blocks, states: int, transpose: bool, *, right: bool = False):
    """B M (right=False) or M B (right=True) for B = blockdiag over players and states of
    `blocks` (per player (S, m_i, m_i)), each block transposed when `transpose`, without
    forming B: O(d^2 m) instead of O(d^3)."""
    if right:
        return _apply_blocks(M.T, blocks, states, not transpose).T
    parts, at = [], 0
    for b in blocks:
        m = b.shape[-1]
        rows = M[at:at + states * m].reshape(states, m, -1)
        parts.append(jnp.einsum("sba,sbk->sak" if transpose else "sab,sbk->sak", b, rows)
                     .reshape(states * m, -1))
        at += states * m
    return jnp.concatenate(parts, axis=0)


def _state_block_diag(blocks):
    """(S, m, m) per-state blocks -> the (S m, S m) block-diagonal matrix."""
    S, m, _ = blocks.shape
    return jnp.einsum("st,sab->satb", jnp.eye(S), blocks).reshape(S * m, S * m)


# --- checks at construction ----------------------------------------------------------------

def _check_tables(transitions, rewards, initial):
    P = _finite_array(transitions, "transitions")
    if P.ndim < 3:
        raise GameDefinitionError(
            f"transitions must have shape (S, A_1, ..., A_N, S), got {P.shape}")
    S, actions = P.shape[0], tuple(int(a) for a in P.shape[1:-1])
    if P.shape[-1] != S:
        raise GameDefinitionError(
            f"transitions P[s, a_1, ..., a_N, s'] must end in the {S} states, got {P.shape}")
    if any(a < 2 for a in actions):
        raise GameDefinitionError(
            f"every player needs at least 2 actions, got action counts {list(actions)}")
    if (P < 0).any():
        at = tuple(int(i) for i in np.argwhere(P < 0)[0])
        raise GameDefinitionError(f"transitions has a negative probability at {at}")
    sums = P.sum(axis=-1)
    bad = np.abs(sums - 1.0) > PROBABILITY_TOL
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise GameDefinitionError(
            f"transition row P{list(at)} sums to {sums[at]:.12g}, not 1")
    if not isinstance(rewards, (list, tuple)) or len(rewards) != len(actions):
        raise GameDefinitionError(
            f"give one reward table per player: {len(actions)} players (from the transitions' "
            f"shape), got {_describe(rewards)}")
    R = []
    for i, r in enumerate(rewards):
        r = _finite_array(r, f"rewards[{i}]")
        if r.shape != P.shape[:-1]:
            raise GameDefinitionError(
                f"rewards[{i}] has shape {r.shape}, expected {P.shape[:-1]} (S, A_1, ..., A_N)")
        R.append(r)
    if initial is None:
        rho = np.full(S, 1.0 / S)
    else:
        rho = _finite_array(initial, "initial").reshape(-1)
        if rho.size != S or (rho < 0).any() or abs(rho.sum() - 1.0) > PROBABILITY_TOL:
            raise GameDefinitionError(
                f"initial must be a probability distribution over the {S} states")
    return P, np.stack(R), rho, actions


def _describe(rewards) -> str:
    if isinstance(rewards, (list, tuple)):
        return f"{len(rewards)}"
    shape = getattr(rewards, "shape", None)
    return (f"one array of shape {tuple(shape)} (pass a list of per-player arrays)"
            if shape is not None else type(rewards).__name__)


def _number(value, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GameDefinitionError(f"{what} must be a number, got {value!r}") from None


def _finite_array(value, what: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise GameDefinitionError(f"{what} is not a numeric array") from None
    if not np.isfinite(a).all():
        raise GameDefinitionError(f"{what} contains NaN or inf")
    return a


def _check_discount(discount) -> float:
    discount = _number(discount, "discount")
    if not (0.0 <= discount < 1.0):
        raise GameDefinitionError(f"discount must be in [0, 1), got {discount}")
    return discount


def _check_entropy(entropy) -> float:
    entropy = _number(entropy, "entropy")
    if not math.isfinite(entropy):
        raise GameDefinitionError(f"entropy must be finite, got {entropy}")
    if entropy <= 0:
        raise GameDefinitionError(
            f"entropy = {entropy}: without a positive entropy weight the softmax game has no "
            "strongly monotone structure in the Fisher geometry (the regularised equilibrium "
            "may not exist, and no curvature is positive), so nothing is certifiable; "
            "give entropy > 0")
    return entropy


def _check_radius(radius) -> float:
    radius = _number(radius, "radius")
    if not (math.isfinite(radius) and radius > 0):
        raise GameDefinitionError(f"radius must be a positive number, got {radius}")
    return radius
