"""A small GAN: a tanh generator against a tanh critic, 59 parameters in all.

The generator G(z) = c + v . tanh(a z + b) (10 hidden units, 31 parameters) maps noise z to a
sample; the critic D(y) = e + u . tanh(p y + q) (9 hidden units, 28 parameters) scores samples.
On a fixed batch of real data y_k and noise z_k, the critic maximises the Wasserstein-style gap
mean D(y_k) - mean D(G(z_k)) and the generator minimises -mean D(G(z_k)); each player pays
reg / 2 times its squared parameters (weight decay). Every Jacobian block varies over the
region, so the bounds are sampled estimates (or proved with --verify).

    sgn certify examples/tanh_gan.py --out gan.json
    sgn verify gan.json examples/tanh_gan.py
"""

import jax.numpy as jnp
import numpy as np

import sgn

GENERATOR_UNITS, CRITIC_UNITS = 10, 9


def make_game(reg: float = 10.0, radius: float = 0.5, batch: int = 16, seed: int = 0):
    rng = np.random.default_rng(int(seed))
    real = rng.normal(1.0, 0.5, size=int(batch))            # the data: N(1, 0.25)
    noise = rng.normal(0.0, 1.0, size=int(batch))
    g_dim, c_dim = 3 * GENERATOR_UNITS + 1, 3 * CRITIC_UNITS + 1

    def generate(theta, z):
        a, b, v = jnp.split(theta[:-1], 3)
        return theta[-1] + jnp.tanh(jnp.outer(z, a) + b) @ v

    def critic(phi, y):
        p, q, u = jnp.split(phi[:-1], 3)
        return phi[-1] + jnp.tanh(jnp.outer(y, p) + q) @ u

    def generator_cost(theta, phi):
        return -jnp.mean(critic(phi, generate(theta, noise))) + 0.5 * reg * theta @ theta

    def critic_cost(theta, phi):
        gap = jnp.mean(critic(phi, jnp.asarray(real))) - jnp.mean(critic(phi, generate(theta, noise)))
        return -gap + 0.5 * reg * phi @ phi

    return sgn.Game(costs=[generator_cost, critic_cost], dims=[g_dim, c_dim],
                    region=sgn.Box(-radius, radius), names=["generator", "critic"],
                    name="tanh-gan")
