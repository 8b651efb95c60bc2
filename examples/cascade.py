"""A three-stage cascade with saturating couplings: nonlinear, not Euclidean-monotone.

Three players of dimension 2 (think: stages of a supply chain, or layers trained by separate
optimisers). Each stage is pulled hard by the next stage's (saturated) action and pushes back
only weakly on the one before it:

    f_1 = |x_1|^2/2 + c sum log cosh(x_1) + 3 x_1 . tanh(x_2)
    f_2 = |x_2|^2/2 + c sum log cosh(x_2) + 0.1 x_2 . sin(x_1) + 3 x_2 . tanh(x_3)
    f_3 = |x_3|^2/2 + c sum log cosh(x_3) + 0.1 x_3 . sin(x_2)

The Jacobian varies over the box (tanh, sin, log cosh), the strong one-way couplings make the
symmetric part indefinite (Euclidean margin < 0), yet the small-gain condition holds
(rho about 0.7), so block weights that trust the downstream stages more certify convergence.
"""

import jax.numpy as jnp

import sgn

STRONG = 3.0
WEAK = 0.1


def make_game(c: float = 0.25, strong: float = STRONG, weak: float = WEAK,
              radius: float = 2.0) -> sgn.Game:
    def own(x):
        return 0.5 * x @ x + c * jnp.sum(jnp.log(jnp.cosh(x)))

    def f1(x1, x2, x3):
        return own(x1) + strong * x1 @ jnp.tanh(x2)

    def f2(x1, x2, x3):
        return own(x2) + weak * x2 @ jnp.sin(x1) + strong * x2 @ jnp.tanh(x3)

    def f3(x1, x2, x3):
        return own(x3) + weak * x3 @ jnp.sin(x2)

    return sgn.Game(costs=[f1, f2, f3], dims=[2, 2, 2], region=sgn.Box(-radius, radius),
                    name="cascade", names=["stage 1", "stage 2", "stage 3"])
