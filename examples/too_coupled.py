"""A game SGN cannot certify, because gradient play really does diverge.

    f_1 = x_1^2/2 + 3 x_1 x_2,    f_2 = x_2^2/2 + 3 x_1 x_2

Both players are strongly convex in their own action (mu = 1), but each pushes the other three
times harder than it pulls itself back: J = [[1, 3], [3, 1]] has the eigenvalue -2, so the
gradient flow runs away from the equilibrium along (1, -1). The certificate says
"small-gain fails: rho = 3": the couplings would have to shrink threefold.
"""

import sgn


def f1(x1, x2):
    return 0.5 * x1 @ x1 + 3.0 * x1 @ x2


def f2(x1, x2):
    return 0.5 * x2 @ x2 + 3.0 * x1 @ x2


game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="too-coupled")
