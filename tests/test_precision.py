"""Float64 from `import sgn` on, and a note when a game computes with narrower floats.

`import sgn` loads JAX lazily (start-up time, issue 15), so without care a game file that
makes its arrays with jax.numpy right after `import sgn` got float32 arrays: numbers rounded
to about 7 digits, silently, and a certificate about a slightly different game.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._jaxpr import low_precision


def _dtype_after(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    return done.stdout.strip()


@pytest.mark.parametrize("order", ["import sgn\nimport jax.numpy as jnp",
                                   "import jax.numpy as jnp\nimport sgn"])
def test_arrays_made_after_import_sgn_are_float64(order):
    assert _dtype_after(order + "\nprint(jnp.asarray(1.0).dtype)") == "float64"


def _linear_game(A):
    def field(x, y):
        z = jnp.concatenate([x, y])
        return (A[:1] @ z), (A[1:] @ z)

    return sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0))


def test_a_float32_constant_is_named_in_a_note():
    A32 = jnp.asarray(np.array([[2.0, 0.3], [0.1, 1.7]]), dtype=jnp.float32)
    game = _linear_game(A32)
    assert game.single_precision == "a float32 constant of shape (2, 2)"
    cert = sgn.certify(game)
    assert any("float32 constant" in n and "rounded to about 7 digits" in n for n in cert.notes)


def test_float64_games_get_no_note():
    game = _linear_game(jnp.asarray(np.array([[2.0, 0.3], [0.1, 1.7]])))
    assert game.single_precision is None
    assert not any("rounded to about 7 digits" in n for n in sgn.certify(game).notes)


def test_low_precision_finds_narrow_values_inside_nested_programs():
    @jax.jit
    def inner(x):
        return (x.astype(jnp.float16) * 2).astype(jnp.float64)

    found = low_precision(jax.make_jaxpr(lambda x: inner(x) + 1.0)(jnp.ones(3)))
    assert found is not None and "float16" in found
    assert low_precision(jax.make_jaxpr(lambda x: jnp.sin(x) * 2.0)(jnp.ones(3))) is None
