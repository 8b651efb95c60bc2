"""Entropy-regularised Markov games in the Fisher geometry (docs/fisher.md, issue 5).

Everything `sgn.MarkovGame` computes is checked against an independent numpy implementation
written here from the definitions (`Reference`):

- values: the joint policy by explicit loops over joint actions, P_pi, the normalised
  occupancy d = (1 - gamma) rho^T inv(I - gamma P_pi), both entropy weightings; the occupancy
  also against a truncated Neumann series;
- derivatives by the complex step (f(x + i h e_k).imag / h, exact to rounding: the cost is an
  analytic function of the logits) and by central differences; second derivatives by central
  differences of the complex-step gradient;
- the Fisher blocks diag(p) - p p^T over the first A - 1 actions, F^{+-1/2} by numpy's eigh.

JAX compiles a Markov game's functions in seconds each, so every game is built once per module
(module-scoped fixtures), its functions are compiled once (`Compiled`), and each example is
certified at most once, with few samples.
"""

from __future__ import annotations

import inspect
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import EXAMPLES, assert_bad_input

import sgn
from sgn._load import load_game
from sgn._npg import simulate_policies, step_size_sweep

SAMPLES = 256
SEED = 0

# --- the independent reference -----------------------------------------------------------------


class Reference:
    """A tabular entropy-regularised Markov game in plain numpy, from the definitions.

    Reduced logits: player i's x_i is theta_i(s, a) - theta_i(s, last action), a < A_i, laid out
    state by state. Costs are minus the regularised value normalised by 1 - gamma.
    """

    def __init__(self, P, rewards, discount, entropy, initial=None, weighting="uniform"):
        self.P = np.asarray(P, dtype=float)
        self.R = [np.asarray(r, dtype=float) for r in rewards]
        self.S = self.P.shape[0]
        self.actions = tuple(int(a) for a in self.P.shape[1:-1])
        self.n = len(self.actions)
        self.gamma, self.tau, self.weighting = float(discount), float(entropy), weighting
        self.rho = (np.full(self.S, 1.0 / self.S) if initial is None
                    else np.asarray(initial, dtype=float))
        self.dims = [self.S * (a - 1) for a in self.actions]
        self.offsets = np.cumsum([0] + self.dims)
        self.d = int(sum(self.dims))

    @classmethod
    def of(cls, game, weighting=None):
        return cls(game.transitions, list(game.rewards), game.discount, game.entropy,
                   game.initial, weighting or game.entropy_weighting)

    # policies ------------------------------------------------------------------------------
    def split(self, x):
        return [x[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]

    def policies(self, x):
        out = []
        for xi, A in zip(self.split(x), self.actions):
            full = np.concatenate([np.reshape(xi, (self.S, A - 1)),
                                   np.zeros((self.S, 1), dtype=xi.dtype)], axis=1)
            e = np.exp(full)   # no max shift, so that complex-step perturbations pass through
            out.append(e / e.sum(axis=1, keepdims=True))
        return out

    def reduced(self, pis):
        return np.concatenate([(np.log(p[:, :-1]) - np.log(p[:, -1:])).reshape(-1)
                               for p in pis])

    def joint_actions(self):
        return list(itertools.product(*(range(A) for A in self.actions)))

    def joint(self, pis):
        """pi(a_1, ..., a_N | s) = prod_i pi_i(a_i | s), by loops over joint actions."""
        J = np.zeros((self.S, *self.actions), dtype=np.result_type(*pis))
        for s in range(self.S):
            for a in self.joint_actions():
                p = 1.0
                for i, ai in enumerate(a):
                    p = p * pis[i][s, ai]
                J[(s, *a)] = p
        return J

    def transition(self, pis):
        J = self.joint(pis)
        P_pi = np.zeros((self.S, self.S), dtype=J.dtype)
        for s in range(self.S):
            for a in self.joint_actions():
                P_pi[s] += J[(s, *a)] * self.P[(s, *a)]
        return P_pi

    def occupancy(self, pis):
        P_pi = self.transition(pis)
        return (1.0 - self.gamma) * self.rho @ np.linalg.inv(np.eye(self.S) - self.gamma * P_pi)

    def occupancy_neumann(self, pis, tol=1e-17):
        """(1 - gamma) sum_t gamma^t rho^T P_pi^t, truncated once gamma^t < tol."""
        P_pi = self.transition(pis)
        steps = math.ceil(math.log(tol) / math.log(self.gamma)) if self.gamma > 0 else 1
        term, total = self.rho.copy(), np.zeros(self.S)
        for t in range(steps):
            total += self.gamma ** t * term
            term = term @ P_pi
        return (1.0 - self.gamma) * total

    # costs ---------------------------------------------------------------------------------
    def cost_of_policies(self, pis, i):
        J = self.joint(pis)
        d = self.occupancy(pis)
        r = np.array([np.sum(J[s] * self.R[i][s]) for s in range(self.S)])
        H = -np.sum(pis[i] * np.log(pis[i]), axis=1)
        if self.weighting == "uniform":
            return -(d @ r) - self.tau * np.sum(H)
        return -(d @ (r + self.tau * H))

    def cost(self, x, i):
        return self.cost_of_policies(self.policies(x), i)

    # derivatives ---------------------------------------------------------------------------
    def gradient(self, x, h=1e-30):
        """The pseudo-gradient g (g_i = d f_i / d x_i) by complex step."""
        g = np.zeros(self.d)
        for i in range(self.n):
            for k in range(self.offsets[i], self.offsets[i + 1]):
                z = np.asarray(x, dtype=complex).copy()
                z[k] += 1j * h
                g[k] = self.cost(z, i).imag / h
        return g

    def gradient_central(self, x, h=1e-6):
        g = np.zeros(self.d)
        for i in range(self.n):
            for k in range(self.offsets[i], self.offsets[i + 1]):
                e = np.zeros(self.d)
                e[k] = h
                g[k] = (self.cost(x + e, i) - self.cost(x - e, i)) / (2 * h)
        return g

    def policy_partials(self, x, h=1e-30):
        """d f_i / d pi_i(a | s) with pi_i free (off the simplex), by complex step."""
        pis = self.policies(x)
        out = []
        for i, A in enumerate(self.actions):
            G = np.zeros((self.S, A))
            for s in range(self.S):
                for a in range(A):
                    z = [p.astype(complex) for p in pis]
                    z[i][s, a] += 1j * h
                    G[s, a] = self.cost_of_policies(z, i).imag / h
            out.append(G)
        return out

    def fisher_blocks(self, x):
        """Player by player: blockdiag_s (diag(p) - p p^T), p the first A_i - 1 probabilities."""
        blocks = []
        for pi in self.policies(x):
            m = pi.shape[1] - 1
            F = np.zeros((self.S * m, self.S * m))
            for s in range(self.S):
                p = pi[s, :-1]
                F[s * m:(s + 1) * m, s * m:(s + 1) * m] = np.diag(p) - np.outer(p, p)
            blocks.append(F)
        return blocks

    def fisher(self, x):
        return block_diag(self.fisher_blocks(x))

    def fisher_power(self, x, power):
        return block_diag([psd_power(F, power) for F in self.fisher_blocks(x)])

    def natural_gradient(self, x):
        return np.linalg.solve(self.fisher(x), self.gradient(x))

    def jacobian_central(self, field, x, h=1e-5):
        J = np.zeros((self.d, self.d))
        for k in range(self.d):
            e = np.zeros(self.d)
            e[k] = h
            J[:, k] = (field(x + e) - field(x - e)) / (2 * h)
        return J

    def hessian(self, x):
        """H = dg/dx by central differences of the complex-step gradient."""
        return self.jacobian_central(self.gradient, x)

    def natural_jacobian(self, x):
        """dN/dx by central differences of N = F^-1 g: includes the derivative of F^-1."""
        return self.jacobian_central(self.natural_gradient, x)

    def npg_full(self, x, h):
        """One natural-policy-gradient step in full logits, mirror-descent form:
        theta_i(s, .) <- theta_i(s, .) - h d f_i / d pi_i(. | s); returns the new policies."""
        out = []
        for pi, G in zip(self.policies(x), self.policy_partials(x)):
            theta = np.log(pi) - h * G
            e = np.exp(theta - theta.max(axis=1, keepdims=True))
            out.append(e / e.sum(axis=1, keepdims=True))
        return out

    def equilibrium(self, x0=None, tol=1e-13):
        """Zero of N: damped NPG from uniform policies, then Newton (central-difference J)."""
        x = np.zeros(self.d) if x0 is None else np.array(x0, dtype=float)
        for _ in range(400):
            n = self.natural_gradient(x)
            if np.linalg.norm(n) < 1e-4:
                break
            x = x - 0.3 * n
        for _ in range(30):
            n = self.natural_gradient(x)
            if np.linalg.norm(n) < tol:
                break
            x = x - np.linalg.solve(self.jacobian_central(self.natural_gradient, x, 1e-6), n)
        return x

    def kl(self, x_star, x, w):
        """V = sum_i w_i sum_s KL(pi_i*(. | s) || pi_i(. | s))."""
        return float(sum(w_i * np.sum(ps * (np.log(ps) - np.log(p)))
                         for w_i, ps, p in zip(w, self.policies(x_star), self.policies(x))))


def block_diag(blocks):
    n = sum(b.shape[0] for b in blocks)
    out = np.zeros((n, n))
    k = 0
    for b in blocks:
        m = b.shape[0]
        out[k:k + m, k:k + m] = b
        k += m
    return out


def psd_power(F, power):
    lam, V = np.linalg.eigh(F)
    assert lam.min() > 0, lam
    return (V * lam ** power) @ V.T


def sym_eigs(A):
    return np.linalg.eigvalsh(0.5 * (A + A.T))


def svals(A):
    return np.linalg.svd(A, compute_uv=False)


def blocks_of(dims, A):
    """{(i, j): block} of a matrix partitioned by the players' dims."""
    off = np.cumsum([0] + list(dims))
    return {(i, j): A[off[i]:off[i + 1], off[j]:off[j + 1]]
            for i in range(len(dims)) for j in range(len(dims))}


def assert_same_block_spectra(dims, A, B, tol):
    """Own blocks: eigenvalues of the symmetric part; off-diagonal blocks: singular values."""
    a, b = blocks_of(dims, A), blocks_of(dims, B)
    for (i, j), block in a.items():
        if i == j:
            np.testing.assert_allclose(sym_eigs(block), sym_eigs(b[i, j]), atol=tol, rtol=0,
                                       err_msg=f"own block {i}")
        else:
            np.testing.assert_allclose(svals(block), svals(b[i, j]), atol=tol, rtol=0,
                                       err_msg=f"block ({i}, {j})")


# --- the examples' tables, written from the issue text -------------------------------------------

def coordination_tables():
    """Issue 5: in both states (0,0) -> state 0 w.p. 0.9, (1,1) -> state 1 w.p. 0.9, mismatched
    -> either w.p. 1/2; +1 on matching actions, -1 otherwise."""
    P = np.zeros((2, 2, 2, 2))
    r = np.zeros((2, 2, 2))
    for s, a, b in itertools.product(range(2), range(2), range(2)):
        if a == b == 0:
            P[s, a, b] = [0.9, 0.1]
        elif a == b == 1:
            P[s, a, b] = [0.1, 0.9]
        else:
            P[s, a, b] = [0.5, 0.5]
        r[s, a, b] = 1.0 if a == b else -1.0
    return P, [r, r]


def other_weighting(game):
    return "occupancy" if game.entropy_weighting == "uniform" else "uniform"


# --- compiled access to a game's functions ----------------------------------------------------


class Compiled:
    """A game's functions, jit-compiled once: values at a point, and the bound matrices."""

    def __init__(self, game):
        self.game = game
        n = game.n_players

        def values(x):
            xs = game.split(x)
            pis = game.policies(x)
            R, R_inv = game.fisher_factors(x)
            return {
                "costs": jnp.stack([f(*xs) for f in game.costs]),
                "autodiff": jnp.concatenate(
                    [jax.grad(game.costs[i], argnums=i)(*xs) for i in range(n)]),
                "g": game.policy_gradient(x),
                "N": game.pseudo_gradient(x),
                "policies": pis,
                "occupancy": game.occupancy(pis),
                "partials": game.policy_partials(x),
                "R": R, "R_inv": R_inv, "F": game.fisher(x),
            }

        self._values = jax.jit(values)
        self._bounds = None

    def values(self, x):
        out = self._values(jnp.asarray(x))
        return jax.tree_util.tree_map(np.asarray, out)

    def bound_jacobians(self, x):
        if self._bounds is None:
            self._bounds = jax.jit(self.game.bound_jacobians)
        return tuple(np.asarray(m) for m in self._bounds(jnp.asarray(x)))


EXAMPLE_FILES = {
    "coordination": "markov_coordination.py",
    "pennies": "markov_matching_pennies.py",
    "three": "markov_three_players.py",
}


class Catalog:
    """Games built lazily, once per module: the three examples as shipped, the same tables with
    the other entropy weighting, and their compiled functions and references."""

    def __init__(self):
        self._games, self._compiled, self._refs = {}, {}, {}

    def game(self, name, switched=False):
        key = (name, switched)
        if key not in self._games:
            if not switched:
                self._games[key] = load_game(EXAMPLES / EXAMPLE_FILES[name], {})
            else:
                base = self.game(name)
                ref = Reference.of(base, other_weighting(base))
                # The equilibrium comes from the numpy reference (the constructor checks it).
                self._games[key] = sgn.MarkovGame(
                    transitions=base.transitions, rewards=list(base.rewards),
                    discount=base.discount, entropy=base.entropy, initial=base.initial,
                    entropy_weighting=ref.weighting, name=f"{base.name} ({ref.weighting})",
                    equilibrium=ref.equilibrium())
        return self._games[key]

    def compiled(self, name, switched=False):
        key = (name, switched)
        if key not in self._compiled:
            self._compiled[key] = Compiled(self.game(name, switched))
        return self._compiled[key]

    def ref(self, name, switched=False):
        key = (name, switched)
        if key not in self._refs:
            self._refs[key] = Reference.of(self.game(name, switched))
        return self._refs[key]


@pytest.fixture(scope="module")
def catalog():
    return Catalog()


@pytest.fixture(scope="module")
def coordination_cert(catalog):
    return sgn.certify(catalog.game("coordination"), samples=SAMPLES, seed=SEED)


@pytest.fixture(scope="module")
def pennies_cert(catalog):
    return sgn.certify(catalog.game("pennies"), samples=SAMPLES, seed=SEED)


def random_points(ref, k, seed, scale=1.5):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-scale, scale, ref.d) for _ in range(k)]


EXAMPLE_NAMES = ["coordination", "pennies", "three"]
VARIANTS = [(name, switched) for name in EXAMPLE_NAMES for switched in (False, True)]
VARIANT_IDS = [f"{name}-{'switched' if s else 'shipped'}" for name, s in VARIANTS]


# --- 0. the examples are the games the issue describes ----------------------------------------

def test_coordination_example_is_the_issue_game(catalog):
    game = catalog.game("coordination")
    P, rewards = coordination_tables()
    np.testing.assert_array_equal(game.transitions, P)
    np.testing.assert_array_equal(game.rewards, np.stack(rewards))
    np.testing.assert_array_equal(game.initial, [1.0, 0.0])
    assert (game.discount, game.entropy, game.entropy_weighting) == (0.9, 1.0, "uniform")
    assert game.geometry == "fisher"
    assert game.dims == (2, 2)   # 2 states x (2 - 1) reduced logits per player


def test_default_entropy_weighting_is_uniform_and_documented():
    default = inspect.signature(sgn.MarkovGame).parameters["entropy_weighting"].default
    assert default == "uniform"
    assert '"uniform" (default' in sgn.MarkovGame.__doc__


def test_pennies_example_is_zero_sum(catalog):
    game = catalog.game("pennies")
    np.testing.assert_array_equal(game.rewards[0], -game.rewards[1])


# --- 1. values --------------------------------------------------------------------------------

@pytest.mark.parametrize("name, switched", VARIANTS, ids=VARIANT_IDS)
def test_costs_policies_and_occupancy_match_numpy(catalog, name, switched):
    ref, comp = catalog.ref(name, switched), catalog.compiled(name, switched)
    for x in random_points(ref, 3, seed=1):
        got = comp.values(x)
        for p_got, p_ref in zip(got["policies"], ref.policies(x)):
            np.testing.assert_allclose(p_got, p_ref, rtol=0, atol=1e-14)
        want = [ref.cost(x, i) for i in range(ref.n)]
        np.testing.assert_allclose(got["costs"], want, rtol=1e-12, atol=1e-12)
        d = ref.occupancy(ref.policies(x))
        np.testing.assert_allclose(got["occupancy"], d, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ref.occupancy_neumann(ref.policies(x)), d, rtol=0, atol=1e-12)
        assert abs(d.sum() - 1.0) < 1e-12 and (d >= 0).all()


def test_entropy_weighting_changes_the_cost_as_documented(catalog):
    """The two conventions are different games (so the switched variants test something)."""
    x = random_points(catalog.ref("coordination"), 1, seed=2)[0]
    uniform = catalog.compiled("coordination").values(x)["costs"]
    occupancy = catalog.compiled("coordination", True).values(x)["costs"]
    assert np.max(np.abs(uniform - occupancy)) > 1e-2


# --- 2. gradients -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, switched", VARIANTS, ids=VARIANT_IDS)
def test_policy_gradient_matches_autodiff_and_finite_differences(catalog, name, switched):
    ref, comp = catalog.ref(name, switched), catalog.compiled(name, switched)
    for x in random_points(ref, 2, seed=3):
        got = comp.values(x)
        exact = ref.gradient(x)                         # complex step
        scale = max(1.0, np.max(np.abs(exact)))
        np.testing.assert_allclose(got["g"], got["autodiff"], rtol=0, atol=1e-11 * scale)
        np.testing.assert_allclose(got["g"], exact, rtol=0, atol=1e-11 * scale)
        np.testing.assert_allclose(got["g"], ref.gradient_central(x), rtol=0,
                                   atol=1e-7 * scale)
        # the policy-gradient theorem's d f_i / d pi_i, against the complex step off the simplex
        for G_got, G_ref in zip(got["partials"], ref.policy_partials(x)):
            np.testing.assert_allclose(G_got, G_ref, rtol=0, atol=1e-10 * scale)


# --- 3. the Fisher geometry -------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_fisher_factors_and_natural_gradient(catalog, name):
    ref, comp = catalog.ref(name), catalog.compiled(name)
    for x in random_points(ref, 3, seed=4):
        got = comp.values(x)
        F = ref.fisher(x)
        np.testing.assert_allclose(got["F"], F, rtol=0, atol=1e-14)
        np.testing.assert_allclose(got["R"].T @ got["R"], F, rtol=0, atol=1e-13)
        np.testing.assert_allclose(got["R"] @ got["R_inv"], np.eye(ref.d), rtol=0, atol=1e-10)
        # R is F^1/2 up to an orthogonal factor: same singular values
        np.testing.assert_allclose(svals(got["R"]), svals(ref.fisher_power(x, 0.5)),
                                   rtol=1e-10, atol=0)
        # the natural gradient solves F N = g
        g = got["g"]
        np.testing.assert_allclose(F @ got["N"], g, rtol=0, atol=1e-12 * max(1, np.abs(g).max()))
        np.testing.assert_allclose(got["N"], np.linalg.solve(F, ref.gradient(x)), rtol=1e-9,
                                   atol=1e-9)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_reduced_npg_is_mirror_descent_in_full_logits(catalog, name):
    """theta <- theta - h d f_i / d pi_i (full logits) gives the policies of x <- x - h N(x)."""
    ref, comp = catalog.ref(name), catalog.compiled(name)
    for k, x in enumerate(random_points(ref, 2, seed=5)):
        h = [0.1, 0.7][k]
        stepped = comp.values(x - h * comp.values(x)["N"])["policies"]
        for p_got, p_ref in zip(stepped, ref.npg_full(x, h)):
            np.testing.assert_allclose(p_got, p_ref, rtol=0, atol=1e-11)


# --- 4. the bound matrices --------------------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_bound_matrices_match_dense_fisher_computation(catalog, name):
    game, ref, comp = catalog.game(name), catalog.ref(name), catalog.compiled(name)
    points = random_points(ref, 2, seed=6, scale=1.0)
    points.append(game.equilibrium + 0.1 * np.sign(random_points(ref, 1, seed=7)[0]))
    for x in points:
        curv, step = comp.bound_jacobians(x)
        F_half, F_mhalf = ref.fisher_power(x, 0.5), ref.fisher_power(x, -0.5)
        H = ref.hessian(x)
        normalised = F_mhalf @ H @ F_mhalf              # docs/fisher.md: F_i^-1/2 H_ij F_j^-1/2
        scale = max(1.0, np.abs(normalised).max())
        assert_same_block_spectra(game.dims, curv, normalised, 1e-6 * scale)
        np.testing.assert_allclose(sym_eigs(curv), sym_eigs(normalised), rtol=0,
                                   atol=1e-6 * scale)
        dN = ref.natural_jacobian(x)
        field = F_half @ dN @ F_mhalf                   # the natural-gradient field's Jacobian
        np.testing.assert_allclose(svals(step), svals(field), rtol=0, atol=1e-6 * scale)
        assert_same_block_spectra(game.dims, step, field, 1e-6 * scale)
        # away from the equilibrium the derivative of F^-1 contributes: the two differ
        assert np.abs(step - curv).max() > 1e-3


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_bound_matrices_agree_at_the_equilibrium(catalog, name):
    game, comp = catalog.game(name), catalog.compiled(name)
    curv, step = comp.bound_jacobians(game.equilibrium)
    np.testing.assert_allclose(step, curv, rtol=0, atol=1e-8 * max(1.0, np.abs(curv).max()))


# --- 5. invariance under the choice of pinned action ------------------------------------------

@pytest.fixture(scope="module")
def permuted(catalog):
    """The three-player game with player 2's three actions reordered (2, 0, 1), so a different
    action is pinned; its equilibrium is the original one's policies, reordered."""
    game, ref = catalog.game("three"), catalog.ref("three")
    perm = [2, 0, 1]
    pis = ref.policies(game.equilibrium)
    pis[1] = pis[1][:, perm]
    P = game.transitions[:, :, perm]
    rewards = [r[:, :, perm] for r in game.rewards]
    x_star = ref.reduced(pis)
    new = sgn.MarkovGame(transitions=P, rewards=rewards, discount=game.discount,
                         entropy=game.entropy, initial=game.initial,
                         entropy_weighting=game.entropy_weighting, equilibrium=x_star,
                         name="three players, permuted")
    return new, perm, Reference.of(new), Compiled(new)


def test_fisher_bounds_do_not_depend_on_the_pinned_action(catalog, permuted):
    game, ref, comp = catalog.game("three"), catalog.ref("three"), catalog.compiled("three")
    new, perm, new_ref, new_comp = permuted
    x_far = game.equilibrium + random_points(ref, 1, seed=8, scale=0.5)[0]
    for x in (game.equilibrium, x_far):
        pis = ref.policies(x)
        pis[1] = pis[1][:, perm]
        y = new_ref.reduced(pis)
        assert abs(np.linalg.norm(y - x)) > 1e-3        # genuinely different coordinates
        curv, step = comp.bound_jacobians(x)
        new_curv, new_step = new_comp.bound_jacobians(y)
        assert_same_block_spectra(game.dims, curv, new_curv, 1e-9)
        assert_same_block_spectra(game.dims, step, new_step, 1e-9)
        np.testing.assert_allclose(svals(step), svals(new_step), rtol=0, atol=1e-9)
        # the natural gradient's Fisher norm N^T F N is a coordinate-free quantity too
        n_x, n_y = np.asarray(game.field_fn(jnp.asarray(x))), np.asarray(new.field_fn(jnp.asarray(y)))
        np.testing.assert_allclose(n_x @ ref.fisher(x) @ n_x, n_y @ new_ref.fisher(y) @ n_y,
                                   rtol=1e-10, atol=1e-14)


# --- 6. the regularised equilibrium -----------------------------------------------------------

@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_equilibrium_is_a_zero_and_a_fixed_point_of_npg(catalog, name):
    game, ref = catalog.game(name), catalog.ref(name)
    x_star = np.asarray(game.equilibrium)
    assert np.linalg.norm(ref.natural_gradient(x_star)) < 1e-9
    assert np.linalg.norm(ref.gradient(x_star)) < 1e-9
    assert np.linalg.norm(catalog.compiled(name).values(x_star)["N"]) < 1e-10
    # an independent solve finds the same point
    np.testing.assert_allclose(ref.equilibrium(), x_star, rtol=0, atol=1e-8)
    # full-logit NPG leaves the policies where they are, for any step
    for h in (0.5, 5.0):
        for p, p_star in zip(ref.npg_full(x_star, h), ref.policies(x_star)):
            np.testing.assert_allclose(p, p_star, rtol=0, atol=1e-10)


# --- 7. certificates --------------------------------------------------------------------------

def certified_rate(cert, h):
    """q(h)^2 = 1 - 2 h alpha + h^2 beta^2, from the certificate's margin and Lipschitz bound."""
    alpha, beta = cert.margin, cert.bounds["lipschitz"]
    return 1.0 - 2.0 * h * alpha + (h * beta) ** 2


def check_bounds_hold_on_samples(game, ref, cert, k, seed):
    """The certificate's bounds are extremes over the region: at points of the region none of
    the dense numpy quantities may be worse (curvature, coupling, beta in the metric)."""
    mu, L = np.asarray(cert.bounds["curvature"]), np.asarray(cert.bounds["coupling"])
    w = np.repeat(np.asarray(cert.weights), game.dims)
    rng = np.random.default_rng(seed)
    low, high = game.region.low, game.region.high
    for _ in range(k):
        x = rng.uniform(low, high)
        F_half, F_mhalf = ref.fisher_power(x, 0.5), ref.fisher_power(x, -0.5)
        blocks = blocks_of(game.dims, F_mhalf @ ref.hessian(x) @ F_mhalf)
        for (i, j), block in blocks.items():
            if i == j:
                assert mu[i] <= sym_eigs(block).min() + 1e-7
            else:
                assert L[i, j] >= svals(block).max() - 1e-7
        D = np.sqrt(w)
        field = (D[:, None] * (F_half @ ref.natural_jacobian(x) @ F_mhalf)) / D[None, :]
        assert cert.bounds["lipschitz"] >= svals(field).max() - 1e-7
        assert cert.diagnostics["metric_margin"] <= sym_eigs(field).min() + 1e-7


def test_coordination_is_certified_in_the_fisher_geometry(catalog, coordination_cert):
    game, cert = catalog.game("coordination"), coordination_cert
    assert cert.geometry == "fisher"
    assert cert.status is sgn.Status.CERTIFIED, cert.reasons
    assert cert.margin > 0
    assert cert.band is not None
    assert cert.band["low"] <= cert.band["best_ratio"] <= cert.band["high"]
    ratio = cert.weights[1] / cert.weights[0]
    assert cert.band["low"] <= ratio <= cert.band["high"]
    np.testing.assert_allclose(cert.equilibrium["x"], game.equilibrium, rtol=0, atol=1e-12)
    steps = cert.step_sizes
    assert 0 < steps["euler_recommended"] < steps["euler_max"]
    q2 = certified_rate(cert, steps["euler_recommended"])
    assert steps["euler_factor"] ** 2 == pytest.approx(q2, rel=1e-12)
    assert certified_rate(cert, steps["euler_max"]) == pytest.approx(1.0, abs=1e-12)
    check_bounds_hold_on_samples(game, catalog.ref("coordination"), cert, k=8, seed=9)


def test_certified_npg_step_decays_v_at_the_certified_rate(catalog, coordination_cert):
    game, cert = catalog.game("coordination"), coordination_cert
    sim = simulate_policies(game, cert)
    h = cert.step_sizes["euler_recommended"]
    q2 = certified_rate(cert, h)
    npg = [run for run in sim.runs if run.method == "npg"]
    assert npg and {run.method for run in sim.runs} == {"npg", "pg"}
    for run in npg:
        assert run.step == pytest.approx(h)
        assert run.certified_rate == pytest.approx(q2, rel=1e-9)
        assert run.observed_rate <= q2 * 1.05, (run.observed_rate, q2)
        assert math.isfinite(run.final_ratio) and run.final_ratio < 1e-4
        assert run.ok
    assert sim.ok


def test_numpy_npg_at_the_certified_step_contracts_every_step(catalog, coordination_cert):
    """Own NPG loop (numpy natural gradient) at the recommended step from starts in the
    certified basin: V_{k+1} <= q^2 V_k at every step while V is above rounding."""
    game, cert, ref = catalog.game("coordination"), coordination_cert, catalog.ref("coordination")
    x_star = np.asarray(cert.equilibrium["x"])
    w = np.asarray(cert.weights)
    h = cert.step_sizes["euler_recommended"]
    q2 = certified_rate(cert, h)
    radius = cert.equilibrium["basin"]["metric_radius"]
    M = np.repeat(w, game.dims)[:, None] * ref.fisher(x_star)    # blockdiag(w_i F_i(x*))
    M_mhalf = psd_power(M, -0.5)
    rng = np.random.default_rng(10)
    for _ in range(3):
        z = rng.standard_normal(ref.d)
        z *= radius * rng.uniform(0.5, 1.0) / np.linalg.norm(z)
        x = x_star + M_mhalf @ z                                  # ||x - x*||_M = |z|
        V0 = V = ref.kl(x_star, x, w)
        steps = 0
        while V > 1e-10 * V0:
            x = x - h * ref.natural_gradient(x)
            V_next = ref.kl(x_star, x, w)
            assert V_next <= q2 * V * 1.02, (steps, V_next / V, q2)
            V, steps = V_next, steps + 1
            assert steps < 2000


def test_step_sweep_converges_up_to_the_certified_max(catalog, coordination_cert):
    """Every certified step (h <= euler_max) does at least as well as its certified rate over
    the sweep's run, and the largest step the sweep sees converge is at least euler_max."""
    game, cert = catalog.game("coordination"), coordination_cert
    sweep = step_size_sweep(game, cert)
    h_max = cert.step_sizes["euler_max"]
    assert sweep.certified_max == pytest.approx(h_max)
    assert sweep.largest_converging is not None
    assert sweep.largest_converging >= h_max
    certified_rows = [row for row in sweep.rows if row["step"] < h_max * (1 - 1e-9)]
    assert len(certified_rows) >= 2
    for row in certified_rows:
        bound = (certified_rate(cert, row["step"]) * 1.05) ** sweep.steps
        assert row["npg_final_ratio"] <= bound, (row, bound)


# --- 8. the zero-sum example: the entropy is what certifies it ---------------------------------

def test_matching_pennies_certifies_at_entropy_2(catalog, pennies_cert):
    game, cert = catalog.game("pennies"), pennies_cert
    assert cert.geometry == "fisher"
    assert cert.status is sgn.Status.CERTIFIED, cert.reasons
    assert cert.margin > 0
    # SGN's small-gain condition holds on its own at this entropy (rho(diag(mu)^-1 L) < 1);
    # the certificate may still use the Euclidean test's equal weights when they prove more,
    # as they do on a zero-sum game (the couplings cancel in sym J).
    assert cert.diagnostics["spectral_radius"] < 1
    assert cert.diagnostics["certified_by"] in ("sgn", "euclidean")
    if cert.diagnostics["certified_by"] == "euclidean":
        assert cert.margin == pytest.approx(cert.bounds["euclidean_margin"])
        assert cert.weights == [1.0, 1.0]
    check_bounds_hold_on_samples(game, catalog.ref("pennies"), cert, k=4, seed=11)
    # and the certified NPG step makes V fall at the certified rate on this game too
    sim = simulate_policies(game, cert, starts=8)
    q2 = certified_rate(cert, cert.step_sizes["euler_recommended"])
    (npg,) = [run for run in sim.runs if run.method == "npg"]
    assert npg.observed_rate <= q2 * 1.05, (npg.observed_rate, q2)
    assert npg.final_ratio < 1e-4


def test_matching_pennies_is_not_certified_at_tiny_entropy():
    """With (almost) no entropy the players' own curvature in the Fisher metric is negative
    somewhere on the region (checked here in numpy), and the game is not certified."""
    tau = 0.002
    game = load_game(EXAMPLES / "markov_matching_pennies.py", {"entropy": tau})
    ref = Reference.of(game)
    corner = game.equilibrium + game.radius * np.array([1.0, 1.0, -1.0, -1.0])
    F_mhalf = ref.fisher_power(corner, -0.5)
    own = blocks_of(game.dims, F_mhalf @ ref.hessian(corner) @ F_mhalf)[0, 0]
    assert sym_eigs(own).min() < 0
    cert = sgn.certify(game, samples=64, seed=SEED)
    assert cert.status is not sgn.Status.CERTIFIED
    assert not cert.certified
    assert cert.reasons
    assert min(cert.bounds["curvature"]) <= sym_eigs(own).min() + 1e-9


# --- 9. bad input -----------------------------------------------------------------------------

BASE = """\
import numpy as np
import sgn

P = np.full((2, 2, 2, 2), 0.5)
r = np.ones((2, 2, 2))
kw = dict(transitions=P, rewards=[r, -r], discount=0.9, entropy=1.0)
"""

# (id, code run after BASE and before `game = sgn.MarkovGame(**kw)`, words the message names)
BAD_GAMES = [
    ("row-not-summing-to-1", "P[1, 0, 1] = [0.6, 0.6]", ["transition", "sums to 1.2", "not 1"]),
    ("negative-probability", "P[0, 1, 0] = [1.25, -0.25]", ["negative probability"]),
    ("reward-shape", "kw['rewards'] = [r, np.ones((2, 2, 3))]", ["rewards[1]", "shape"]),
    ("too-few-reward-tables", "kw['rewards'] = [r]", ["reward table", "2 players"]),
    ("too-many-reward-tables", "kw['rewards'] = [r, r, r]", ["reward table", "2 players"]),
    ("discount-1", "kw['discount'] = 1.0", ["discount", "[0, 1)"]),
    ("discount-negative", "kw['discount'] = -0.1", ["discount", "[0, 1)"]),
    ("entropy-0", "kw['entropy'] = 0.0", ["entropy", "nothing is certifiable"]),
    ("entropy-negative", "kw['entropy'] = -1.0", ["entropy", "nothing is certifiable"]),
    ("nan-reward", "r2 = r.copy(); r2[1, 0, 1] = np.nan; kw['rewards'] = [r2, -r]",
     ["rewards[0]", "nan"]),
    ("one-action", ("kw['transitions'] = np.full((2, 2, 1, 2), 0.5)\n"
                    "kw['rewards'] = [np.ones((2, 2, 1))] * 2"), ["at least 2 actions"]),
    ("bad-entropy-weighting", "kw['entropy_weighting'] = 'states'",
     ["entropy_weighting", "states"]),
    ("initial-not-summing-to-1", "kw['initial'] = [0.5, 0.4]",
     ["initial", "probability distribution"]),
    ("initial-negative", "kw['initial'] = [1.5, -0.5]", ["initial", "probability distribution"]),
    ("transitions-wrong-last-axis", "kw['transitions'] = np.full((2, 2, 2, 3), 1 / 3)",
     ["transitions", "states"]),
]


def _bad_kwargs(code):
    namespace = {}
    exec(BASE + code, namespace)   # noqa: S102  (test-owned code)
    return namespace["kw"]


@pytest.mark.parametrize("code, words", [c[1:] for c in BAD_GAMES], ids=[c[0] for c in BAD_GAMES])
def test_bad_markov_game_raises_game_definition_error(code, words):
    with pytest.raises(sgn.GameDefinitionError) as caught:
        sgn.MarkovGame(**_bad_kwargs(code))
    message = str(caught.value).lower()
    for word in words:
        assert word.lower() in message, (word, message)


@pytest.mark.parametrize("code, words", [c[1:] for c in BAD_GAMES], ids=[c[0] for c in BAD_GAMES])
def test_cli_certify_rejects_bad_markov_game(game_file, run_cli, code, words):
    path = game_file(BASE + code + "\ngame = sgn.MarkovGame(**kw)\n", header=False)
    assert_bad_input(run_cli("certify", path, "--samples", "16"), *words)


def test_cli_rewards_as_one_array_gives_a_one_line_error(game_file, run_cli):
    path = game_file(BASE + "kw['rewards'] = np.stack([r, -r])\ngame = sgn.MarkovGame(**kw)\n",
                     header=False)
    assert_bad_input(run_cli("certify", path, "--samples", "16"), "reward table",
                     "shape (2, 2, 2, 2)", "list")


@pytest.mark.parametrize("field, value", [("discount", "'high'"), ("entropy", "None"),
                                          ("radius", "'wide'")])
def test_non_numeric_parameters_raise_game_definition_error(field, value):
    with pytest.raises(sgn.GameDefinitionError, match=f"{field} must be a number"):
        sgn.MarkovGame(**_bad_kwargs(f"kw[{field!r}] = {value}"))


def test_verified_mode_on_a_markov_game_falls_back_and_says_why():
    """Interval enclosures cover Euclidean Jacobian blocks, not the Fisher geometry's
    F^-1/2 H F^-1/2: --verify must not present them as a proof there."""
    game = load_game(EXAMPLES / "markov_coordination.py", {})
    cert = sgn.certify(game, method="interval", samples=256)
    assert not cert.verified and cert.estimator["method"] == "sampled"
    assert "fisher geometry" in cert.notes[0] and "nothing is verified" in cert.notes[0]
