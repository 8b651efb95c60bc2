"""A network game of 10,000 players on a sparse graph, where the Euclidean test fails and SGN
certifies (issue 14).

Each player i holds a scalar x_i in [-1, 1] (an analysis region) and sits on a small-world
graph: a ring where each player sees its `degree` nearest players, a few of those links
rewired at random. Players belong to `tiers` (a hierarchy: a supply chain, an organisation):
across tiers the influence is one-sided, strong from the upper tier on the lower one and weak
back; within a tier it is weak both ways. The field is

    F_i(x) = a_i x_i + 0.1 sin(x_i) + sum_{j ~ i} c_ij tanh(x_j) - b_i,

so J_ii = a_i + 0.1 cos(x_i) (own curvature between a_i - 0.1 and a_i + 0.1), and
J_ij = c_ij (1 - tanh(x_j)^2) for each link: asymmetric and heterogeneous, with random signs.
The strong couplings push sym J's smallest eigenvalue below zero (the Euclidean test fails),
but the influence runs mostly one way along the tiers, so block weights that give upper tiers
more weight make the game contract (small-gain holds).

    sgn certify examples/network_game.py                         # 10,000 players
    sgn certify examples/network_game.py --param n_players=500   # smaller
"""

import jax.numpy as jnp
import numpy as np

import sgn


def network(n_players: int, degree: int, rewire: float, rng) -> np.ndarray:
    """Edges (i, j), both directions, of a Watts-Strogatz-like small-world graph."""
    half = degree // 2
    i = np.repeat(np.arange(n_players), half)
    j = (i + np.tile(np.arange(1, half + 1), n_players)) % n_players
    moved = rng.random(i.size) < rewire
    j[moved] = rng.integers(0, n_players, moved.sum())
    keep = i != j
    pairs = np.unique(np.sort(np.stack([i[keep], j[keep]], axis=1), axis=1), axis=0)
    return np.concatenate([pairs, pairs[:, ::-1]])


def make_game(n_players: int = 10_000, degree: int = 6, tiers: int = 6, strong: float = 6.0,
              weak: float = 0.05, rewire: float = 0.1, seed: int = 0) -> sgn.Game:
    rng = np.random.default_rng(seed)
    edges = network(n_players, degree, rewire, rng)
    tier = rng.integers(0, tiers, n_players)              # 0 is the top tier
    a = rng.uniform(1.0, 2.0, n_players)                  # own curvature, heterogeneous
    i, j = edges[:, 0], edges[:, 1]
    # |c_ij|: how hard player j pushes player i's gradient, as a fraction of a_i shared over
    # i's links: strong from an upper tier (tier j < tier i), weak otherwise.
    links = np.bincount(i, minlength=n_players)[i]
    gain = np.where(tier[j] < tier[i], strong, weak) / links
    c = a[i] * gain * rng.uniform(0.5, 1.0, i.size) * rng.choice([-1.0, 1.0], i.size)
    b = rng.uniform(-0.2, 0.2, n_players)
    rows, cols, coef = jnp.asarray(i), jnp.asarray(j), jnp.asarray(c)
    a_, b_ = jnp.asarray(a), jnp.asarray(b)

    def field(x):
        push = jnp.zeros_like(x).at[rows].add(coef * jnp.tanh(x[cols]))
        return a_ * x + 0.1 * jnp.sin(x) + push - b_

    return sgn.Game.from_joint_field(
        field, dims=[1] * n_players, region=sgn.Box(-1.0, 1.0), coupling=edges,
        name=f"network game ({n_players} players)")
