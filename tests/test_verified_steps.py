"""Direct step sizes in verified certificates: the Euler factors and the Jacobians' spread
enclosed by interval arithmetic over the bounds pass's boxes (sgn/_interval/_contraction.py).

Held to closed forms (a constant Jacobian: the true Euler threshold) and to brute force (the
exact ||I - h A(x)||_2 and ||A(x) - A_c||_2 on a dense grid of a nonlinear game), and to
`sgn verify`, which encloses them again.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._interval._contraction import interval_contraction
from sgn._interval._branch import interval_bounds


@pytest.fixture(scope="module")
def toy():
    game = sgn.load_game("examples/scalar_toy.py")
    return game, sgn.certify(game, method="interval")


def test_constant_jacobian_gets_a_proved_step_near_the_true_threshold(toy):
    game, cert = toy
    steps = cert.step_sizes
    assert cert.verified and steps["euler_bound"] == "direct"
    # J = [[1, 10], [-0.05, 1]] in the metric of w = (1, 200) is 1 + lam/sqrt 2 rotations:
    # the Euler iteration contracts exactly for h < 2 / (1 + 1/sqrt 2) (docs/method.md).
    true = 2.0 / (1.0 + 1.0 / math.sqrt(2.0))
    assert steps["euler_max"] < true
    assert steps["euler_max"] >= 0.9 * true
    assert steps["euler_max"] > steps["alpha_beta"]["euler_max"]
    assert steps["direct"]["rk4_spread"] < 1e-12          # thin enclosures of a constant J


def test_the_proved_factors_bound_brute_force_on_a_nonlinear_game():
    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 0.3 * jnp.sum(jnp.log(jnp.cosh(x1))) + 0.4 * x1 @ jnp.tanh(x2)

    def f2(x1, x2):
        return 0.5 * x2 @ x2 - 0.4 * x2 @ jnp.tanh(x1)

    game = sgn.Game([f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="tanh-pair")
    search = interval_bounds(game)
    assert search.outcome == "certified"
    metric = game.metric([1.0, 1.0])
    steps = [0.3, 0.9]
    found = interval_contraction(game, metric, search, steps)
    axis = np.linspace(-1.0, 1.0, 161)
    X = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    A = np.asarray(jax.vmap(game.jacobian)(jnp.asarray(X)))
    A_c = np.asarray(game.jacobian(jnp.zeros(2)))
    # A finer partition (asked for by a target ratio) gives tighter, still valid, bounds.
    finer = interval_contraction(game, metric, interval_bounds(game, target_ratio=0.95), steps)
    assert finer.evaluated > found.evaluated
    spread = np.linalg.norm(A - A_c, ord=2, axis=(1, 2)).max()
    for bounds in (found, finer):
        for h, q in zip(steps, bounds.euler_factors):
            exact = np.linalg.norm(np.eye(2) - h * A, ord=2, axis=(1, 2)).max()
            assert exact <= q + 1e-12              # an enclosure: never below the truth
        assert spread <= bounds.spread + 1e-12
    assert (finer.euler_factors <= found.euler_factors + 1e-12).all()
    assert finer.spread < found.spread


def test_verify_reproves_the_direct_steps_and_catches_a_tampered_factor(toy, tmp_path):
    game, cert = toy
    result = sgn.verify(cert, game, samples=64)
    checks = {c.name: c for c in result.checks}
    reproved = [c for name, c in checks.items() if name.startswith("reproved.step_sizes")]
    assert reproved and all(c.ok for c in reproved)
    data = cert.to_dict()
    data["step_sizes"]["direct"]["euler_factors"][1] *= 0.5
    tampered = sgn.Certificate.from_dict(data)
    again = {c.name: c for c in sgn.verify(tampered, game, samples=64).checks}
    assert not again["reproved.step_sizes.direct.euler_factors[2]"].ok
