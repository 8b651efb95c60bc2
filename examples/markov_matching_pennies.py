"""A zero-sum Markov matching-pennies game: only the entropy term makes it certifiable.

Two players, two states, two actions. The row player wins (+1) when the actions match and
loses (-1) otherwise; the column player gets the opposite. In state 1 the stakes double. The
next state is 1 when the row player won, else 0, each with probability 0.8 (else the other).
Discount 0.9, start in state 0, entropy as an unweighted sum over states.

Without regularisation the game cycles; with entropy weight tau the Fisher curvature of each
player is about tau while the cross-player coupling (about 0.9) does not depend on tau. The
couplings cancel in the symmetric part (zero-sum), so the equal-weights test certifies from
tau = 0.006 on (not at 0.005: the smallest certifying weight on a 0.001 grid), while SGN's
norm bounds alone need tau > 0.91. Both sweeps are in reports/:

    sgn sweep examples/markov_matching_pennies.py --param entropy=0.001:0.013:13
    sgn sweep examples/markov_matching_pennies.py --param entropy=0.02:1.5:38
"""

import numpy as np

import sgn


def make_game(entropy: float = 2.0, radius: float = 0.1):
    match = np.where(np.eye(2, dtype=bool), 1.0, -1.0)      # row player's payoff
    stakes = np.array([1.0, 2.0])[:, None, None]
    r_row = stakes * match                                  # r[s, a_row, a_col]
    P = np.zeros((2, 2, 2, 2))                              # P[s, a_row, a_col, s']
    row_wins = match > 0
    P[:, row_wins] = [0.2, 0.8]
    P[:, ~row_wins] = [0.8, 0.2]
    return sgn.MarkovGame(
        transitions=P, rewards=[r_row, -r_row], discount=0.9, entropy=entropy,
        initial=[1.0, 0.0], entropy_weighting="uniform", radius=radius,
        name="markov matching pennies", names=["row", "column"])
