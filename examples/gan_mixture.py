"""A small GAN on a 2-D mixture of Gaussians, with MLP players written as plain JAX pytrees.

The data are 8 Gaussians on a circle (a fixed batch, so every cost is a deterministic function of
the parameters). The generator G maps 2-D noise to the plane; the discriminator D scores points
by a logit. Both are MLPs with tanh hidden layers, their parameters dicts of weight and bias
arrays:

    generator      {'w1': 2 x H, 'b1': H, 'w2': H x H, 'b2': H, 'w3': H x 2, 'b3': 2}
    discriminator  {'w1': 2 x H, 'b1': H, 'w2': H x H, 'b2': H, 'w3': H x 1, 'b3': 1}

Costs (the non-saturating GAN objective, Goodfellow et al. 2014), each player regularised
towards the given parameter point theta0, phi0 (the point the certificate is about):

    discriminator  mean softplus(-D(real)) + mean softplus(D(G(z)))
                   + gp/2 mean ||grad_y D(y)||^2 at the real points  (R1 gradient penalty)
                   + reg_d/2 ||phi - phi0||^2
    generator      mean softplus(-D(G(z))) + reg_g/2 ||theta - theta0||^2

The region is the box of half-width `radius` around (theta0, phi0): the certificate says that
simultaneous gradient play, started anywhere in that box, contracts to the unique equilibrium
there (while it stays in the box: an analysis region). The bounds are sampled estimates.

    sgn certify examples/gan_mixture.py --report gan_mixture.pdf
    sgn certify examples/gan_mixture.py --param hidden=4 --param radius=0.05

Sizes: the default hidden=3 gives d = 54 (29 + 25). The current dense estimator evaluates a
d x d Jacobian (and, in its local search, the Jacobian's derivative) at every point, so its cost
grows quickly with d: measured on the 2-core shared machine (load ~12, other jobs running),
`sgn certify examples/gan_mixture.py --report ...` took 47-120 s of CPU (2.4-3.9 min wall) at
d = 54, and at hidden=5 (d = 108) the same run had not finished after 8 CPU-minutes. Raise
`hidden` (hidden=5: d = 108; hidden=8: d = 219) with fewer --samples, or, for GAN-sized players
(hidden=48 is d ~ 2,600 per player), use the matrix-free estimator of issue 14 (branch
`i14-matfree`) once it lands.

With reg_g = reg_d = 8 the game is certified (sampled bounds: mu = 5.16, 2.91; L_12 = 3.37,
L_21 = 3.35; rho = 0.87), and the Euclidean test certifies too, with a larger rate: the GAN's
coupling is nearly zero-sum (J_21 ~ -J_12^T), which the symmetric part of J cancels. With
reg = 5 the discriminator's curvature bound is negative and only the metric search certifies.
"""

import jax
import jax.numpy as jnp
import numpy as np

import sgn

MODES = 8          # Gaussians on the circle
MODE_RADIUS = 2.0
MODE_STD = 0.05


def init_mlp(rng, sizes, scale=1.0):
    """Weights N(0, scale^2 / fan_in), biases zero, as {'w1', 'b1', 'w2', 'b2', ...}."""
    params = {}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"w{k}"] = rng.normal(0.0, scale / np.sqrt(n_in), size=(n_in, n_out))
        params[f"b{k}"] = np.zeros(n_out)
    return params


def mlp(params, x):
    """tanh hidden layers, linear output; x is (batch, n_in)."""
    layers = len(params) // 2
    for k in range(1, layers):
        x = jnp.tanh(x @ params[f"w{k}"] + params[f"b{k}"])
    return x @ params[f"w{layers}"] + params[f"b{layers}"]


def softplus(t):
    """log(1 + e^t), written with smooth operations only: jax.nn.softplus is a custom-derivative
    rule, which sgn cannot confirm is smooth (it would add a caveat to the certificate). The
    logits here stay far below where e^t overflows."""
    return jnp.log1p(jnp.exp(t))


def sq_distance(tree, centre):
    return sum(jnp.sum((a - b) ** 2) for a, b in
               zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(centre)))


def make_game(hidden: int = 3, radius: float = 0.1, reg_g: float = 8.0, reg_d: float = 8.0,
              gp: float = 1.0, batch: int = 16, seed: int = 0):
    rng = np.random.default_rng(int(seed))
    hidden, batch = int(hidden), int(batch)
    angles = 2 * np.pi * rng.integers(0, MODES, size=batch) / MODES
    real = (MODE_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)
            + MODE_STD * rng.normal(size=(batch, 2)))
    noise = rng.normal(size=(batch, 2))
    theta0 = init_mlp(rng, [2, hidden, hidden, 2])      # the generator's given parameters
    phi0 = init_mlp(rng, [2, hidden, hidden, 1])        # the discriminator's

    def logit(phi, y):
        return mlp(phi, y)[:, 0]

    def generator_cost(theta, phi):
        fake = mlp(theta, noise)
        return (jnp.mean(softplus(-logit(phi, fake)))
                + 0.5 * reg_g * sq_distance(theta, theta0))

    def discriminator_cost(theta, phi):
        fake = mlp(theta, noise)
        # R1: the discriminator's input gradient at the real points, one row per point
        grad_y = jax.vmap(jax.grad(lambda y: logit(phi, y[None, :])[0]))(real)
        return (jnp.mean(softplus(-logit(phi, real)))
                + jnp.mean(softplus(logit(phi, fake)))
                + 0.5 * gp * jnp.mean(jnp.sum(grad_y ** 2, axis=1))
                + 0.5 * reg_d * sq_distance(phi, phi0))

    return sgn.Game.from_pytrees(
        [generator_cost, discriminator_cost], players=(theta0, phi0), radius=radius,
        names=["generator", "discriminator"], name="gan-mixture")
