"""Indexing past a player's block: JAX clamps reads and drops writes instead of raising, so a
cost with `x1[1]` for a player of dim 1 would certify a different game. The game's
constructor finds such constant indices in the traced program and refuses the game."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import sgn
from sgn._errors import GameDefinitionError


def other(x1, x2):
    return 0.5 * x2 @ x2 + x1[0] * x2[0]


def make(cost, dims=(1, 1)):
    return sgn.Game(costs=[cost, other], dims=list(dims), region=sgn.Box(-1.0, 1.0))


PAST_THE_END = {
    "read x1[1]": (lambda x1, x2: 0.5 * x1[1] ** 2 + x1[0] * x2[0], "reads index 1"),
    "read inside jit": (jax.jit(lambda x1, x2: 0.5 * x1[3] ** 2 + x1[0] * x2[0]),
                        "reads index 3"),
    "negative x1[-2]": (lambda x1, x2: 0.5 * x1[-2] ** 2 + x1[0] * x2[0], "reads index -1"),
    "fancy x1[[0, 1]]": (lambda x1, x2: 0.5 * jnp.sum(x1[jnp.array([0, 1])] ** 2)
                         + x1[0] * x2[0], "reads index 1"),
    "empty slice x1[1:3]": (lambda x1, x2: 0.5 * jnp.sum(x1[1:3] ** 2) + x1[0] * x2[0],
                            "empty slice"),
    "write x1.at[1]": (lambda x1, x2: 0.5 * jnp.sum(x1.at[1].set(2.0) ** 2) + x1[0] * x2[0],
                       "writes index 1"),
}


@pytest.mark.parametrize("case", sorted(PAST_THE_END))
def test_constant_index_past_the_end_is_refused(case):
    cost, words = PAST_THE_END[case]
    with pytest.raises(GameDefinitionError) as info:
        make(cost)
    message = str(info.value)
    assert message.startswith("cost 1 (player 1)") and words in message, message
    assert "[1, 1]" in message                      # the dims the user declared


def test_clamped_read_would_otherwise_change_the_game():
    """Why it matters: the clamped read is x1[0], a different cost, and JAX says nothing."""
    x = jnp.array([0.7])
    assert jnp.array_equal(jnp.asarray(x)[jnp.asarray(1)], x[0])


@pytest.mark.parametrize("cost, dims", [
    (lambda x1, x2: 0.5 * jnp.sum(x1[0:1] ** 2) + x1[-1] * x2[0], (1, 1)),
    (lambda x1, x2: 0.5 * x1 @ x1 + x1[1] * x2[0], (2, 1)),
    (lambda x1, x2: 0.5 * jnp.sum(x1.at[1].set(0.0) ** 2) + x1 @ x1 + x1[0] * x2[0], (2, 1)),
    (lambda x1, x2: 0.5 * x1 @ x1 + x1[jnp.array([1, 0])] @ x1 + x1[0] * x2[0], (2, 1)),
    # data-dependent positions are not known before running: not checked, not refused
    (lambda x1, x2: 0.5 * x1 @ x1 + x1[jnp.argmax(x1)] * x2[0], (2, 1)),
])
def test_indices_within_the_block_are_accepted(cost, dims):
    make(cost, dims)


def test_field_game_is_checked_too():
    def field(x1, x2):
        return (x1 + x2[1], x2 - x1)            # x2 has dim 1: x2[1] reads past its end

    with pytest.raises(GameDefinitionError, match="the field reads index 1"):
        sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0))
