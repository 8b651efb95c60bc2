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
    sgn certify examples/gan_mixture.py --param hidden=16 --param radius=0.05

Sizes: hidden=8 gives d = 219 (114 + 105), which the dense estimator (a d x d Jacobian per
sample point) certifies in well under a minute. To raise the widths towards real GANs
(hidden=48 is d ~ 2,700 per player), use the matrix-free estimator of issue 14 (branch
`i14-matfree`) when it lands: the dense one needs d JVPs and d^2 memory per point.
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


def sq_distance(tree, centre):
    return sum(jnp.sum((a - b) ** 2) for a, b in
               zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(centre)))


def make_game(hidden: int = 5, radius: float = 0.1, reg_g: float = 5.0, reg_d: float = 5.0,
              gp: float = 1.0, batch: int = 32, seed: int = 0):
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
        return (jnp.mean(jax.nn.softplus(-logit(phi, fake)))
                + 0.5 * reg_g * sq_distance(theta, theta0))

    def discriminator_cost(theta, phi):
        fake = mlp(theta, noise)
        # R1: the discriminator's input gradient at the real points, one row per point
        grad_y = jax.vmap(jax.grad(lambda y: logit(phi, y[None, :])[0]))(real)
        return (jnp.mean(jax.nn.softplus(-logit(phi, real)))
                + jnp.mean(jax.nn.softplus(logit(phi, fake)))
                + 0.5 * gp * jnp.mean(jnp.sum(grad_y ** 2, axis=1))
                + 0.5 * reg_d * sq_distance(phi, phi0))

    return sgn.Game.from_pytrees(
        [generator_cost, discriminator_cost], players=(theta0, phi0), radius=radius,
        names=["generator", "discriminator"], name="gan-mixture")
