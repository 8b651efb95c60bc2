"""The scalar toy lifted to 64 dimensions, with a coupling scale `lam`.

Two players of dimension 32. Own blocks are the identity; player 2's move pushes player 1's
gradient through lam * 10 * R, player 1's pushes player 2's through lam * 0.05 * R^T, with R a
fixed random orthogonal 32 x 32 matrix. The Jacobian is constant, so the bounds are exact:

    mu = (1, 1),  L_12 = 10 lam,  L_21 = 0.05 lam,  alpha(lam) = 1 - lam / sqrt(2)

SGN certifies exactly for lam < sqrt(2); the Euclidean test only for lam < 1/5.025 = 0.199.

    sgn certify examples/lifted_toy.py --param lam=1.2
"""

import jax.numpy as jnp
import numpy as np

import sgn

DIM = 32


def orthogonal(n: int, seed: int = 2024) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def make_game(lam: float = 1.0) -> sgn.Game:
    R = jnp.asarray(orthogonal(DIM))

    def f1(x1, x2):
        return 0.5 * x1 @ x1 + lam * 10.0 * x1 @ (R @ x2)

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + lam * 0.05 * x2 @ (R.T @ x1)

    return sgn.Game(costs=[f1, f2], dims=[DIM, DIM], region=sgn.Box(-1.0, 1.0),
                    name=f"lifted-toy(lam={lam:g})", names=["leader", "follower"])
