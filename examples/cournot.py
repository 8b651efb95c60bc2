"""A Cournot market: firms choose quantities in [0, capacity], a constrained game.

Firm i produces q_i at marginal cost c_i (plus a quadratic cost s q_i^2 / 2) and sells at the
inverse-demand price p(Q) = a - b Q, Q = sum_j q_j. It minimises

    f_i(q) = -(p(Q) q_i - c_i q_i - s q_i^2 / 2).

The box [0, capacity]^N is the strategy set (`constrained=True`): play is projected onto it,
and the certificate covers every start in it. Own curvature is 2b + s, every coupling is b, so
with many firms the small-gain test on the norm bounds fails (rho = (N - 1) b / (2b + s)),
while the Jacobian b (I + 1 1^T) + (b + s) I is symmetric positive definite: the Euclidean
test certifies with margin b + s.

    sgn certify examples/cournot.py --param firms=20 --out cournot.json
    sgn verify cournot.json examples/cournot.py --param firms=20
"""

import jax.numpy as jnp
import numpy as np

import sgn


def make_game(firms: int = 20, demand: float = 10.0, slope: float = 1.0, scale: float = 1.0,
              capacity: float = 2.0):
    firms = int(firms)
    marginal_cost = np.linspace(1.0, 2.0, firms)

    def cost(i):
        def f(*q):
            total = sum(jnp.sum(qj) for qj in q)
            qi = q[i][0]
            price = demand - slope * total
            return -(price * qi - marginal_cost[i] * qi - 0.5 * scale * qi**2)
        return f

    return sgn.Game(costs=[cost(i) for i in range(firms)], dims=[1] * firms,
                    region=sgn.Box(0.0, capacity), constrained=True,
                    names=[f"firm {i + 1}" for i in range(firms)],
                    name=f"cournot-{firms}")
