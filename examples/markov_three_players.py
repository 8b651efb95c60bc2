"""A general-sum Markov game: 3 players, 3 states, 2, 3 and 2 actions (fixed random tables).

Rewards are drawn uniformly from [-1, 1] and transitions from a Dirichlet distribution, with a
fixed seed, so the game is the same on every machine. Discount 0.8, entropy weight 1, occupancy-
weighted entropy (the usual regularised MDP), uniform initial state.

    sgn certify examples/markov_three_players.py
"""

import numpy as np

import sgn

STATES, ACTIONS = 3, (2, 3, 2)


def make_game(entropy: float = 1.0, discount: float = 0.8, radius: float = 0.1,
              seed: int = 7):
    rng = np.random.default_rng(int(seed))
    shape = (STATES, *ACTIONS)
    P = rng.dirichlet(np.ones(STATES), size=shape)         # P[s, a_1, a_2, a_3, s']
    rewards = [rng.uniform(-1.0, 1.0, size=shape) for _ in ACTIONS]
    return sgn.MarkovGame(
        transitions=P, rewards=rewards, discount=discount, entropy=entropy,
        entropy_weighting="occupancy", radius=radius, name="markov three players")
