"""A regularised bilinear zero-sum game: where SGN's norm bounds are too coarse.

    f_1 = eps |x_1|^2 / 2 + x_1 . x_2,     f_2 = eps |x_2|^2 / 2 - x_1 . x_2

(the "Dirac GAN" with weight decay eps). The couplings are large (L_12 = L_21 = 1) against a
small curvature eps, so the small-gain test fails (rho = 1/eps). But they cancel in the
symmetric part of J, which is eps * I: the game is Euclidean-monotone. `sgn` reports SGN's
failure and certifies with the Euclidean test instead (equal weights, alpha = eps), and
says so in the certificate's reasons and diagnostics.certified_by.
"""

import sgn


def make_game(eps: float = 0.1, dim: int = 2) -> sgn.Game:
    def generator(x1, x2):
        return 0.5 * eps * x1 @ x1 + x1 @ x2

    def discriminator(x1, x2):
        return 0.5 * eps * x2 @ x2 - x1 @ x2

    return sgn.Game(costs=[generator, discriminator], dims=[dim, dim], region=sgn.Box(-1.0, 1.0),
                    name=f"zero-sum-bilinear(eps={eps:g})", names=["generator", "discriminator"])
