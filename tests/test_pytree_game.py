"""Players as pytrees (issue 14): `sgn.Game.from_pytrees`.

A pytree game is the flat game on the players' raveled leaves. Checked here: it gives the same
numbers as the same game flattened by hand (leaves in JAX's order: dict keys sorted), its
region is the box of the given radii around the given point (closed forms), bad pytrees and
radii are refused with sgn's own error naming the player and leaf, certificates record each
player's leaves compactly and `verify` refuses a certificate whose leaves differ, and the GAN
example loads and certifies.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from click.testing import CliRunner

import sgn
import sgn.cli
from sgn._certificate import Certificate
from sgn._errors import CertificateFormatError, GameDefinitionError
from sgn._load import load_game
from sgn._summary import summarize
from sgn._verify import check_same_game

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: Cheap sampled estimator: few points, a short local search (enough to exercise every stage).
FAST = sgn.Sampled(samples=48, refine_steps=8, refine_starts=3)

# Player 1: {'w': 2 x 2, 'b': 2} (dim 6); player 2: {'u': 2, 'c': scalar} (dim 3).
# JAX flattens dicts in sorted key order: player 1 is (b, w raveled row-major), player 2 (c, u).
THETA0 = {"w": np.array([[0.1, -0.2], [0.3, 0.4]]), "b": np.array([0.05, -0.1])}
PHI0 = {"u": np.array([0.5, -0.5]), "c": 0.2}
CENTRE = np.array([0.05, -0.1, 0.1, -0.2, 0.3, 0.4, 0.2, 0.5, -0.5])


def _f1(w, b, u, c):
    h = jnp.tanh(w @ u + b)
    return 0.5 * (jnp.sum(w ** 2) + b @ b) + 0.8 * jnp.sum(h) * c + 0.3 * jnp.sum(w @ u)


def _f2(w, b, u, c):
    return 0.5 * (u @ u + c ** 2) + 0.4 * jnp.sin(b @ u) - 0.25 * c * jnp.sum(w)


def _pytree_costs():
    return [lambda t, p: _f1(t["w"], t["b"], p["u"], p["c"]),
            lambda t, p: _f2(t["w"], t["b"], p["u"], p["c"])]


def _flat_costs():
    def unpack(x1, x2):
        return x1[2:].reshape(2, 2), x1[:2], x2[1:], x2[0]
    return [lambda x1, x2: _f1(*unpack(x1, x2)), lambda x1, x2: _f2(*unpack(x1, x2))]


def _pytree_game(radius=0.15, **kw):
    return sgn.Game.from_pytrees(_pytree_costs(), (THETA0, PHI0), radius,
                                 names=["theta", "phi"], name="pytree", **kw)


def _without_structure(data: dict) -> dict:
    data = json.loads(json.dumps(data))
    for p in data["game"]["players"]:
        p.pop("structure", None)
    data.pop("tool", None)
    return data


# --- the same game as its hand-flattened twin -----------------------------------------------------

def test_layout_is_jax_leaf_order_and_region_is_the_box_around_the_point():
    game = _pytree_game(radius=0.15)
    assert game.dims == (6, 3) and game.dim == 9
    np.testing.assert_allclose(game.region.low, CENTRE - 0.15, rtol=0, atol=1e-15)
    np.testing.assert_allclose(game.region.high, CENTRE + 0.15, rtol=0, atol=1e-15)
    theta, phi = game.pytree_players.unravel(CENTRE)
    np.testing.assert_array_equal(np.asarray(theta["w"]), THETA0["w"])
    np.testing.assert_array_equal(np.asarray(phi["u"]), PHI0["u"])
    assert np.asarray(phi["c"]).shape == ()
    np.testing.assert_array_equal(game.pytree_players.ravel((THETA0, PHI0)), CENTRE)


def test_pseudo_gradient_and_jacobian_equal_the_hand_flattened_game():
    pytree = _pytree_game()
    flat = sgn.Game(_flat_costs(), [6, 3], sgn.Box(pytree.region.low, pytree.region.high))
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = jnp.asarray(rng.uniform(pytree.region.low, pytree.region.high))
        np.testing.assert_array_equal(np.asarray(pytree.pseudo_gradient(x)),
                                      np.asarray(flat.pseudo_gradient(x)))
        np.testing.assert_array_equal(np.asarray(pytree.jacobian(x)),
                                      np.asarray(flat.jacobian(x)))
    # and the gradient is the user's: grad of cost 1 with respect to theta, raveled
    x = jnp.asarray(CENTRE)
    g = jax.grad(_pytree_costs()[0], argnums=0)(*pytree.pytree_players.unravel(x))
    np.testing.assert_allclose(np.asarray(pytree.pseudo_gradient(x))[:6],
                               np.concatenate([g["b"], np.ravel(g["w"])]), rtol=1e-14)


def test_certificate_numbers_equal_the_hand_flattened_game():
    pytree = _pytree_game()
    flat = sgn.Game(_flat_costs(), [6, 3], sgn.Box(pytree.region.low, pytree.region.high),
                    names=["theta", "phi"], name="pytree")
    a = sgn.certify(pytree, estimator=FAST)
    b = sgn.certify(flat, estimator=FAST)
    assert a.status is b.status
    assert _without_structure(a.to_dict()) == _without_structure(b.to_dict())
    assert a.bounds["coupling"][0][1] > 0 and a.weights == b.weights


def test_equilibrium_given_as_pytrees():
    star = ({"w": np.zeros((2, 2)), "b": np.full(2, 0.01)}, {"u": np.ones(2) * 0.4, "c": 0.1})
    game = _pytree_game(equilibrium=star)
    np.testing.assert_array_equal(game.equilibrium,
                                  [0.01, 0.01, 0, 0, 0, 0, 0.1, 0.4, 0.4])
    flat = _pytree_game(equilibrium=np.arange(9.0))
    np.testing.assert_array_equal(flat.equilibrium, np.arange(9.0))


# --- radii ----------------------------------------------------------------------------------------

def test_per_leaf_radii_scalars_arrays_and_prefixes():
    radius = ({"w": np.array([[0.1, 0.2], [0.3, 0.4]]), "b": 0.05}, 0.25)
    game = _pytree_game(radius=radius)
    half = np.array([0.05, 0.05, 0.1, 0.2, 0.3, 0.4, 0.25, 0.25, 0.25])
    np.testing.assert_allclose(game.region.high - game.region.low, 2 * half, rtol=1e-12)
    np.testing.assert_allclose(0.5 * (game.region.high + game.region.low), CENTRE, atol=1e-15)
    # a scalar at the player covers its leaves; per-leaf for the other player
    game2 = _pytree_game(radius=(0.1, {"u": np.array([0.2, 0.3]), "c": 0.0}))
    np.testing.assert_allclose(game2.region.high - CENTRE,
                               [0.1] * 6 + [0.0, 0.2, 0.3], atol=1e-15)


@pytest.mark.parametrize("radius, words", [
    (({"w": 0.1}, 0.1), ["player 1 (theta)", "no entry for 'b'"]),
    (({"w": 0.1, "b": 0.1, "extra": 0.1}, 0.1), ["player 1 (theta)", "'extra'"]),
    ((0.1, {"u": 0.1, "c": 0.1, "z": {"q": 0.1}}), ["player 2 (phi)", "'z.q'"]),
    (({"w": np.ones(3), "b": 0.1}, 0.1), ["leaf 'w'", "shape (3,)", "(2, 2)"]),
    (({"w": -0.1, "b": 0.1}, 0.1), ["leaf 'w'", ">= 0"]),
    ((0.1, {"u": np.nan, "c": 0.1}), ["leaf 'u'", "finite"]),
    (({"w": "wide", "b": 0.1}, 0.1), ["leaf 'w'", "not a number"]),
    ((0.1, 0.2, 0.3), ["radius", "2 entries", "got 3"]),
    (-1.0, ["radius", ">= 0"]),
    ((0.1, {"u": None, "c": 0.1}), ["leaf 'u'", "not a number"]),
])
def test_bad_radius_is_a_definition_error_naming_player_and_leaf(radius, words):
    with pytest.raises(GameDefinitionError) as err:
        _pytree_game(radius=radius)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


# --- bad players ----------------------------------------------------------------------------------

@pytest.mark.parametrize("players, words", [
    (({"w": np.ones((2, 2), dtype=int), "b": np.zeros(2)}, PHI0), ["leaf 'w'", "dtype int"]),
    (({"w": np.ones((2, 2)), "b": np.zeros(2, dtype=bool)}, PHI0), ["leaf 'b'", "dtype bool"]),
    ((THETA0, {"u": np.zeros(2), "c": "0.2"}), ["player 2 (phi)", "leaf 'c'", "str"]),
    ((THETA0, {"u": np.zeros(2), "c": 3}), ["leaf 'c'", "dtype int"]),
    (({}, PHI0), ["player 1 (theta)", "no parameters", "no leaves"]),
    (({"w": np.zeros((0, 2))}, PHI0), ["player 1 (theta)", "only empty arrays"]),
    (({"w": np.full((2, 2), np.nan), "b": np.zeros(2)}, PHI0), ["NaN", "leaf 'w'"]),
    (({"w": np.ones((2, 2)), "b": np.zeros(2) + 1j}, PHI0), ["leaf 'b'", "complex"]),
])
def test_bad_players_are_definition_errors(players, words):
    with pytest.raises(GameDefinitionError) as err:
        sgn.Game.from_pytrees(_pytree_costs(), players, 0.1, names=["theta", "phi"])
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_bad_game_arguments_are_definition_errors():
    with pytest.raises(GameDefinitionError, match="one pytree of parameters per player"):
        sgn.Game.from_pytrees(_pytree_costs(), THETA0, 0.1)
    with pytest.raises(GameDefinitionError, match="at least one player"):
        sgn.Game.from_pytrees([], (), 0.1)
    with pytest.raises(GameDefinitionError, match="1 costs but 2 players"):
        sgn.Game.from_pytrees(_pytree_costs()[:1], (THETA0, PHI0), 0.1)
    with pytest.raises(GameDefinitionError, match=r"cost 1 \(player 1\) fails.*\[b 2, w 2x2\]; .*KeyError: 'missing'"):
        sgn.Game.from_pytrees([lambda t, p: t["missing"].sum(), lambda t, p: 0.0 * p["c"]],
                              (THETA0, PHI0), 0.1)
    with pytest.raises(GameDefinitionError, match=r"returns shape \(2,\), expected a scalar"):
        sgn.Game.from_pytrees([lambda t, p: t["b"], lambda t, p: p["c"]], (THETA0, PHI0), 0.1)
    with pytest.raises(GameDefinitionError, match="equilibrium.*player 2.*no entry for 'c'"):
        _pytree_game(equilibrium=(THETA0, {"u": np.zeros(2)}))
    with pytest.raises(GameDefinitionError, match="one pytree per player.*got a dict"):
        _pytree_game(equilibrium={"w": 1.0})
    with pytest.raises(GameDefinitionError, match="equilibrium has 4 entries"):
        _pytree_game(equilibrium=np.zeros(4))


def test_players_may_be_plain_arrays_and_nested_lists():
    """A leaf is a pytree: a matrix player, and a list-of-dicts player (paths '0.w')."""
    game = sgn.Game.from_pytrees(
        [lambda a, layers: 0.5 * jnp.sum(a ** 2) + jnp.sum(a) * layers[0]["w"][0],
         lambda a, layers: 0.5 * sum(jnp.sum(v ** 2) for v in jax.tree_util.tree_leaves(layers))],
        (np.zeros((2, 3)), [{"w": np.zeros(2)}, {"w": np.zeros(1), "b": np.ones(1)}]), 0.5)
    assert game.dims == (6, 4)
    players = game.describe()["players"]
    assert players[0]["structure"] == {"leaf_count": 1, "leaves": [{"path": "", "shape": [2, 3]}]}
    assert [leaf["path"] for leaf in players[1]["structure"]["leaves"]] == ["0.w", "1.b", "1.w"]


# --- certificates, summary, verify ----------------------------------------------------------------

def test_certificate_records_structure_compactly_and_reads_back():
    big = {f"layer{k}": {"w": np.zeros((10, 10)), "b": np.zeros(10)} for k in range(20)}
    game = sgn.Game.from_pytrees(
        [lambda t, p: 0.5 * sum(jnp.sum(v ** 2) for v in jax.tree_util.tree_leaves(t)),
         lambda t, p: 0.5 * p @ p], (big, np.zeros(2)), 0.1, names=["net", "x"])
    structure = game.describe()["players"][0]["structure"]
    assert game.dims == (2200, 2)
    assert structure["leaf_count"] == 40 and len(structure["leaves"]) == 24
    assert structure["leaves"][0] == {"path": "layer0.b", "shape": [10]}
    assert len(json.dumps(structure)) < 1500        # a few numbers per leaf, not per parameter

    cert = sgn.certify(_pytree_game(), estimator=FAST)
    again = Certificate.from_json(cert.to_json())
    assert again.game["players"][0]["structure"] == {
        "leaf_count": 2, "leaves": [{"path": "b", "shape": [2]}, {"path": "w", "shape": [2, 2]}]}
    text = summarize(again)
    assert "structure    theta: b 2, w 2x2" in text and "phi: c scalar, u 2" in text


@pytest.mark.parametrize("structure, words", [
    ({"leaf_count": 2, "leaves": [{"path": "b", "shape": [2]}, {"path": "w", "shape": [3, 3]}]},
     ["structure.leaves", "11 parameters", "dim is 6"]),
    ({"leaf_count": 0, "leaves": []}, ["leaf_count", "positive integer"]),
    ({"leaf_count": 2, "leaves": [{"path": 3, "shape": [2]}]}, ["leaves[0].path", "string"]),
    ({"leaf_count": 1, "leaves": [{"path": "b", "shape": [-1]}]}, ["leaves[0].shape"]),
    ([1, 2], ["structure", "object"]),
])
def test_malformed_structure_is_refused_by_the_reader(structure, words):
    data = sgn.certify(_pytree_game(), estimator=FAST).to_dict()
    data["game"]["players"][0]["structure"] = structure
    with pytest.raises(CertificateFormatError) as err:
        Certificate.from_dict(data)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_verify_accepts_the_same_pytree_game_and_refuses_other_leaves():
    game = _pytree_game()
    cert = sgn.certify(game, estimator=FAST)
    check_same_game(cert, _pytree_game())        # rebuilt from the same definition: accepted
    # (a whole `verify` of a pytree game file: test_cli_certifies_a_pytree_game_file)
    # same dims and region, other leaves (w as 3 x 2 would not fit: a 6-vector 'v' instead)
    other = sgn.Game.from_pytrees(
        [lambda t, p: 0.5 * t["v"] @ t["v"], lambda t, p: 0.5 * p["u"] @ p["u"] + p["c"] ** 2],
        ({"v": CENTRE[:6]}, PHI0), 0.15, names=["theta", "phi"], name="pytree")
    with pytest.raises(CertificateFormatError, match="other parameter leaves.*b 2, w 2x2"):
        check_same_game(cert, other)


# --- the GAN example -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_gan():
    return load_game(EXAMPLES / "gan_mixture.py")


def test_gan_example_loads_as_a_pytree_game(small_gan):
    game = small_gan
    # hidden = 3: generator 2-3-3-2: 6+3 + 9+3 + 6+2 = 29; discriminator 2-3-3-1: 9 + 12 + 4 = 25
    assert game.dims == (29, 25) and game.names == ("generator", "discriminator")
    leaves = game.describe()["players"][0]["structure"]["leaves"]
    assert {leaf["path"]: leaf["shape"] for leaf in leaves} == {
        "w1": [2, 3], "b1": [3], "w2": [3, 3], "b2": [3], "w3": [3, 2], "b3": [2]}
    # the widths are a parameter: hidden = 5 is 57 + 51
    assert load_game(EXAMPLES / "gan_mixture.py", {"hidden": 5}).dims == (57, 51)


def test_gan_example_certifies(small_gan):
    cert = sgn.certify(small_gan, estimator=FAST)
    assert cert.status is sgn.Status.CERTIFIED and not cert.verified
    assert cert.margin > 0 and all(m > 0 for m in cert.bounds["curvature"])
    x = np.asarray(cert.equilibrium["x"])
    assert ((x >= small_gan.region.low) & (x <= small_gan.region.high)).all()
    np.testing.assert_allclose(small_gan.field_fn(x), 0.0, atol=1e-6)


def test_cli_certifies_a_pytree_game_file(tmp_path):
    path = tmp_path / "game.py"
    path.write_text(
        "import jax.numpy as jnp\nimport numpy as np\nimport sgn\n"
        "def f1(t, p):\n    return 0.5 * jnp.sum(t['w'] ** 2) + 0.3 * jnp.sum(t['w']) * p['c']\n"
        "def f2(t, p):\n    return 0.5 * p['c'] ** 2 - 0.3 * jnp.sum(t['w']) * p['c']\n"
        "game = sgn.Game.from_pytrees([f1, f2], ({'w': np.zeros((2, 2))}, {'c': 0.0}), 1.0,\n"
        "                             names=['a', 'b'], name='cli-pytree')\n")
    out = tmp_path / "cert.json"
    result = CliRunner().invoke(sgn.cli.main, ["certify", str(path), "--samples", "16",
                                               "--out", str(out)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "structure    a: w 2x2" in result.stdout
    data = json.loads(out.read_text())
    assert data["game"]["players"][0]["structure"]["leaves"] == [{"path": "w", "shape": [2, 2]}]
    assert data["status"] == "certified"
    verified = CliRunner().invoke(sgn.cli.main, ["verify", str(out), str(path), "--samples", "16"])
    assert verified.exit_code == 0, (verified.stdout, verified.stderr)
