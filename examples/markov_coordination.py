"""The SGN paper's Markov coordination game: 2 players, 2 states, 2 actions.

Both players get +1 when their actions match and -1 otherwise. In both states, matching on
action 0 moves to state 0 with probability 0.9 (else state 1), matching on action 1 moves to
state 1 with probability 0.9 (else state 0), and mismatched actions go to either state with
probability 1/2. Discount 0.9, entropy weight 1 (an unweighted sum over states of each
state's policy entropy), start in state 0.

    sgn certify examples/markov_coordination.py --report coordination.pdf
"""

import numpy as np

import sgn


def make_game(entropy: float = 1.0, radius: float = 0.1):
    P = np.zeros((2, 2, 2, 2))          # P[s, a_1, a_2, s']
    for s in range(2):
        P[s, 0, 0] = [0.9, 0.1]
        P[s, 1, 1] = [0.1, 0.9]
        P[s, 0, 1] = P[s, 1, 0] = [0.5, 0.5]
    match = np.where(np.eye(2, dtype=bool), 1.0, -1.0)   # +1 on matching actions
    r = np.broadcast_to(match, (2, 2, 2)).copy()         # r[s, a_1, a_2]
    return sgn.MarkovGame(
        transitions=P, rewards=[r, r], discount=0.9, entropy=entropy, initial=[1.0, 0.0],
        entropy_weighting="uniform", radius=radius, name="markov coordination",
        names=["row", "column"])
