"""The reference scalar game (docs/method.md): strongly coupled one way, weakly the other.

    f_1 = x_1^2 / 2 + 10 x_1 x_2,    f_2 = x_2^2 / 2 + 0.05 x_1 x_2     on [-1, 1]^2

Not Euclidean-monotone (margin -4.025), yet SGN certifies it with weights w = (1, 200):
alpha = 1 - sqrt(1/2) = 0.292893, beta = 1.707107; Euler steps up to 1.171573 = 2 / (1 + sqrt(1/2)),
the true threshold (SGN's alpha/beta bound alone: up to 0.201010).
"""

import sgn


def f1(x1, x2):
    return 0.5 * x1 @ x1 + 10.0 * x1 @ x2


def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.05 * x1 @ x2


game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="scalar-toy",
                names=["leader", "follower"])
