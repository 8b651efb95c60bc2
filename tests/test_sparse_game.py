"""Many players on a sparse coupling graph (issue 14): joint-field games, their Jacobian pattern,
the sparse estimator against the dense one, the sparse weight route against the dense one,
sparse certificates through the schema and `verify`, and executors."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp

import sgn
from sgn._errors import CertificateFormatError, GameDefinitionError
from sgn._load import load_game
from sgn._sparse_bounds import SparseSampled, _values_at, layout
from sgn._sparse_game import colour_columns
from sgn._weights import _sparse
from sgn._weights._lp import _model, m_matrix_lp

EXAMPLE = "examples/network_game.py"


def mixed_game(n=12, seed=0, coupling=None, sparsity="auto"):
    """Players of dims 1, 2, 3 on a ring plus chords; F_i = A_i x_i + 0.1 sin(x_i)
    + sum_j C_ij tanh(x_j) (each C_ij dense d_i x d_j), so J_ij = C_ij diag(sech^2 x_j)."""
    rng = np.random.default_rng(seed)
    dims = [1 + k % 3 for k in range(n)]
    offsets = np.cumsum([0] + dims)
    pairs = {(i, (i + 1) % n) for i in range(n)} | {(i, (i + 3) % n) for i in range(0, n, 2)}
    pairs |= {(j, i) for i, j in list(pairs)[: len(pairs) // 2]}
    M = np.zeros((offsets[-1], offsets[-1]))
    for i in range(n):
        a = rng.uniform(2.0, 3.0)
        M[offsets[i]:offsets[i + 1], offsets[i]:offsets[i + 1]] = a * np.eye(dims[i])
    C = np.zeros_like(M)
    for i, j in pairs:
        C[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] = rng.normal(
            size=(dims[i], dims[j])) * 0.4
    Mj, Cj = jnp.asarray(M), jnp.asarray(C)

    def field(x):
        return Mj @ x + 0.1 * jnp.sin(x) + Cj @ jnp.tanh(x)

    game = sgn.Game.from_joint_field(field, dims=dims, region=sgn.Box(-1.0, 1.0),
                                     coupling=coupling, sparsity=sparsity, name="mixed")
    return game, sorted(pairs), M + C


def network(n, **params):
    return load_game(EXAMPLE, {"n_players": n, **params})


# --- the pattern ------------------------------------------------------------------------------

@pytest.mark.parametrize("sparsity", ["asdex", "probe"])
def test_detected_pattern_is_the_dense_jacobians_nonzeros(sparsity):
    game, pairs, _ = mixed_game(sparsity=sparsity)
    J = np.asarray(game.jacobian_fn(jnp.asarray(game.region.low + 0.3 * game.region.width)))
    dense = (J != 0) | np.eye(game.dim, dtype=bool)
    assert game.pattern_source == sparsity
    assert np.array_equal(game.entry_pattern.toarray(), dense)
    blocks = game.block_pattern.toarray()
    expected = np.eye(game.n_players, dtype=bool)
    for i, j in pairs:
        expected[i, j] = True
    assert np.array_equal(blocks, expected)


def test_given_graph_and_the_edge_list_agree():
    game, pairs, _ = mixed_game()
    given, _, _ = mixed_game(coupling=pairs)
    assert given.pattern_source == "given"
    assert np.array_equal(given.block_pattern.toarray(), game.block_pattern.toarray())
    matrix = sp.csr_matrix(game.block_pattern)
    assert np.array_equal(mixed_game(coupling=matrix)[0].block_pattern.toarray(),
                          game.block_pattern.toarray())


def test_colouring_separates_columns_and_compressed_values_are_the_jacobian():
    game, _, _ = mixed_game()
    S = game.entry_pattern.toarray()
    colour = colour_columns(game.entry_pattern)
    for c in range(colour.max() + 1):
        assert S[:, colour == c].sum(axis=1).max() <= 1      # no row sees a colour twice
    assert colour.max() + 1 < game.dim                        # compressed: fewer JVPs than d
    x = game.region.low + np.linspace(0.1, 0.9, game.dim) * game.region.width
    lay = layout(game)
    vals = _values_at(game, x[None, :])[0]
    J = np.asarray(game.jacobian_fn(jnp.asarray(x)))
    np.testing.assert_allclose(lay.matrix(vals).toarray(), J, rtol=0, atol=1e-13)


def test_a_graph_missing_a_block_is_refused_at_a_point():
    game, pairs, _ = mixed_game(coupling=None)
    short, _, _ = mixed_game(coupling=pairs[1:])
    with pytest.raises(GameDefinitionError, match="misses non-zero entries"):
        SparseSampled(samples=4).bounds(short)
    SparseSampled(samples=4).bounds(game)       # the full graph passes


@pytest.mark.parametrize("coupling, message", [
    ([(0, 12)], "outside 0 ... 11"),
    (np.ones((3, 3), dtype=bool), "3 x 3"),
    ("graph", "N x N boolean matrix"),
])
def test_bad_coupling_graphs_are_refused(coupling, message):
    with pytest.raises(GameDefinitionError, match=message):
        mixed_game(coupling=coupling)


def test_a_field_of_the_wrong_length_is_refused():
    with pytest.raises(GameDefinitionError, match="one entry per coordinate"):
        sgn.Game.from_joint_field(lambda x: x[:-1], dims=[1, 2], region=sgn.Box(-1, 1))
    with pytest.raises(GameDefinitionError, match="sparsity must be"):
        sgn.Game.from_joint_field(lambda x: x, dims=[1, 2], region=sgn.Box(-1, 1),
                                  sparsity="guess")


# --- bounds: sparse against dense --------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: mixed_game()[0], lambda: network(30)],
                         ids=["mixed-dims", "network-30"])
def test_sparse_bounds_equal_dense_sample_extremes(make):
    game = make()
    samples = 12
    sparse = SparseSampled(samples=samples, eigen_points=samples).bounds(game)
    dense = sgn.Sampled(samples=samples, refine_steps=0).bounds(game)
    np.testing.assert_allclose(sparse.curvature, dense.curvature, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.coupling.toarray(), dense.coupling, rtol=1e-10,
                               atol=1e-12)
    # eigen-solves at every sample point: the same extremes as the dense estimator's
    assert sparse.euclidean_margin == pytest.approx(dense.euclidean_margin, rel=1e-9, abs=1e-12)
    assert sparse.lipschitz == pytest.approx(dense.lipschitz, rel=1e-9)
    w = np.exp(np.random.default_rng(1).normal(size=game.n_players))
    metric = game.metric(w / w[0])
    ms = SparseSampled(samples=samples, eigen_points=samples).in_metric(game, metric, sparse)
    md = sgn.Sampled(samples=samples, refine_steps=0).in_metric(game, metric, dense)
    assert ms.margin == pytest.approx(md.margin, rel=1e-9, abs=1e-12)
    assert ms.lipschitz == pytest.approx(md.lipschitz, rel=1e-9)


def test_the_screen_finds_the_extremes_at_few_eigen_points():
    """With the default eigen points (a few of many samples), gamma and beta are those of
    all points on the network example (its extremes sit at the centre and at vertices)."""
    game = network(40)
    few = SparseSampled(samples=32).bounds(game)
    every = SparseSampled(samples=32, eigen_points=32).bounds(game)
    assert few.euclidean_margin == pytest.approx(every.euclidean_margin, rel=1e-9)
    assert few.lipschitz == pytest.approx(every.lipschitz, rel=1e-9)
    assert few.euclidean_margin >= every.euclidean_margin - 1e-12   # never below all points'


# --- weights: sparse against dense -------------------------------------------------------------

def random_bounds(n, seed, one_way=False, strength=0.6):
    """mu in [1, 2], a sparse random graph of gains; one_way: only j > i pushes i (reducible)."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(1.0, 2.0, n)
    m = 4 * n
    i, j = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = (i != j) & ((j > i) if one_way else True)
    L = sp.csr_matrix((rng.uniform(0, 1, keep.sum()), (i[keep], j[keep])), shape=(n, n))
    L.sum_duplicates()
    # Scaled to spectral radius `strength`; one-way graphs (rho = 0) to that largest row gain.
    rho = (np.max(np.asarray(L.sum(axis=1)).ravel() / mu) if one_way else
           sgn.spectral_radius(mu, L.toarray()))
    return mu, (L * (strength / rho)).tocsr()


@pytest.mark.parametrize("n, one_way, strength", [(120, False, 0.6), (300, False, 0.9),
                                                  (150, True, 0.6), (200, False, 1.3)])
@pytest.mark.parametrize("method", [sgn.Perron(), sgn.LPWeights()], ids=["perron", "lp"])
def test_sparse_weights_agree_with_dense(n, one_way, strength, method):
    mu, L = random_bounds(n, seed=n, one_way=one_way, strength=strength)
    dense = sgn.optimize_weights(mu, L.toarray(), method=method)
    sparse = sgn.optimize_weights(mu, L, method=method)
    assert sparse.status == dense.status
    scale = np.abs(mu).max()
    assert sparse.best_possible == pytest.approx(dense.best_possible, abs=1e-9 * scale)
    if np.isfinite(dense.spectral_radius) and dense.spectral_radius > 1e-6:
        assert sparse.spectral_radius == pytest.approx(dense.spectral_radius, rel=1e-8)
    assert sparse.lp_value == pytest.approx(dense.lp_value, rel=1e-12, abs=1e-14)
    if one_way:
        # Reducible: tau is approached by ever more skewed weights, and each route stops once
        # within the optimality gap of it (the sparse margin, a lower bound, may need a step
        # more): the same status, margins within that gap.
        gap = 10 * sgn._config.BISECTION_RTOL * scale
        assert abs(sparse.margin - dense.margin) <= gap
        assert sparse.margin <= sgn.sgn_margin(sparse.weights, mu, L.toarray()) + 1e-12
        return
    assert sparse.margin == pytest.approx(dense.margin, abs=1e-8 * scale)
    assert sparse.margin <= dense.margin + 1e-12 * scale    # a lower bound of lambda_min
    if dense.status.certifiable:
        np.testing.assert_allclose(sparse.weights, dense.weights, rtol=1e-5)
        # the dense eigen-solve of the sparse route's weights gives its margin
        assert sgn.sgn_margin(sparse.weights, mu, L.toarray()) == pytest.approx(
            sparse.margin, abs=1e-8 * scale)


def test_sparse_lp_model_is_the_dense_model():
    mu, L = random_bounds(60, seed=3)
    K = _sparse.comparison(mu, L)
    a, b = _model(K.toarray()).lp_, _model(K).lp_
    for key in ("col_cost_", "row_lower_", "row_upper_", "col_lower_", "col_upper_"):
        np.testing.assert_array_equal(np.asarray(getattr(a, key)), np.asarray(getattr(b, key)))
    for key in ("start_", "index_", "value_"):
        np.testing.assert_array_equal(np.asarray(getattr(a.a_matrix_, key)),
                                      np.asarray(getattr(b.a_matrix_, key)))
    assert m_matrix_lp(K).value == m_matrix_lp(K.toarray()).value


def test_past_the_lp_limit_a_feasible_point_bounds_the_lp(monkeypatch):
    mu, L = random_bounds(400, seed=4)
    solved = sgn.optimize_weights(mu, L)
    monkeypatch.setattr(_sparse, "LP_LIMIT", 100)
    large = sgn.optimize_weights(mu, L)
    assert large.status == solved.status
    assert 0 < large.lp_value <= solved.lp_value * (1 + 1e-9)
    np.testing.assert_allclose(large.weights, solved.weights, rtol=1e-12)
    # and a game that small-gain cannot certify stays not certifiable without the LP
    mu2, L2 = random_bounds(400, seed=5, strength=1.5)
    assert sgn.optimize_weights(mu2, L2).status is sgn.WeightStatus.NOT_CERTIFIABLE


def test_collatz_wielandt_margin_is_a_lower_bound_of_the_eigenvalue():
    mu, L = random_bounds(250, seed=6)
    w = np.exp(np.random.default_rng(0).normal(size=250))
    G = _sparse.margin_matrix(w, mu, L)
    low, estimate = _sparse.z_matrix_lambda_min(G)
    exact = np.linalg.eigvalsh(G.toarray())[0]
    assert low <= exact + 1e-12
    assert exact - low <= 1e-8 and abs(estimate - exact) <= 1e-10


# --- certify, the certificate, verify -----------------------------------------------------------

@pytest.fixture(scope="module")
def network_certificate():
    game = network(200)
    return game, sgn.certify(game, samples=32)


def test_network_example_certifies_where_the_euclidean_test_fails(network_certificate):
    assert sgn.SparseSampled is SparseSampled          # public
    game, cert = network_certificate
    assert cert.status is sgn.Status.CERTIFIED
    assert cert.bounds["euclidean_margin"] < 0 < cert.margin
    assert cert.diagnostics["certified_by"] == "sgn"
    assert cert.schema_version == 3 and cert.verified is False
    assert cert.estimator["search"]["estimator"] == "sparse"
    assert any("SparseSampled" in note for note in cert.notes)


def test_sparse_and_dense_certify_agree_on_a_small_network():
    # 30 players, the layout of test_sparse_bounds_equal_dense_sample_extremes[network-30]
    # (shared compiled programs). It was 60: the dense screen ranks every one of the
    # N^2 + 2 quantities' sample values, a minute of the suite at 60 players.
    game = network(30)
    sparse = sgn.certify(game, estimator=SparseSampled(samples=16, eigen_points=16))
    dense = sgn.certify(game, estimator=sgn.Sampled(samples=16, refine_steps=0))
    assert sparse.status == dense.status
    np.testing.assert_allclose(sparse.weights, dense.weights, rtol=1e-6)
    assert sparse.margin == pytest.approx(dense.margin, rel=1e-7)
    assert sparse.bounds["lipschitz"] == pytest.approx(dense.bounds["lipschitz"], rel=1e-9)
    L = sgn._schema.coupling_matrix(sparse.bounds["coupling"]).toarray()
    np.testing.assert_allclose(L, np.asarray(dense.bounds["coupling"]), rtol=1e-10, atol=1e-14)


def test_sparse_certificate_round_trips_and_verifies(network_certificate):
    game, cert = network_certificate
    data = json.loads(cert.to_json())
    record = data["bounds"]["coupling"]
    assert record["format"] == "coo" and record["shape"] == [200, 200]
    assert len(record["values"]) == game.block_pattern.nnz - 200
    again = sgn.Certificate.from_json(cert.to_json())
    assert again == cert
    result = sgn.verify(again, game)
    assert result.ok, [c.message for c in result.failures]
    assert len(result.checks) < 40            # grouped, not one check per block


def test_verify_catches_a_lowered_sparse_coupling(network_certificate):
    game, cert = network_certificate
    data = json.loads(cert.to_json())
    k = int(np.argmax(data["bounds"]["coupling"]["values"]))
    data["bounds"]["coupling"]["values"][k] *= 0.5
    result = sgn.verify(sgn.Certificate.from_dict(data), game)
    names = {c.name for c in result.failures}
    assert "coupling" in names and "margin" in names


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(format="csr"), "format"),
    (lambda r: r["rows"].__setitem__(0, r["cols"][0]), "diagonal"),
    (lambda r: r["cols"].__setitem__(0, 10**6), "integer in 0"),
    (lambda r: r["values"].__setitem__(0, -1.0), ">= 0"),
    (lambda r: (r["rows"].append(r["rows"][0]), r["cols"].append(r["cols"][0]),
                r["values"].append(1.0)), "repeats"),
])
def test_schema_refuses_malformed_sparse_couplings(network_certificate, edit, message):
    _, cert = network_certificate
    data = json.loads(cert.to_json())
    edit(data["bounds"]["coupling"])
    with pytest.raises(CertificateFormatError, match=message):
        sgn.Certificate.from_dict(data)
    data = json.loads(cert.to_json())
    data["schema_version"] = 2       # a version 2 certificate has no sparse coupling
    with pytest.raises(CertificateFormatError, match="coupling"):
        sgn.Certificate.from_dict(data)


def test_summary_and_report_view_summarise_the_coupling(network_certificate):
    from sgn._report._view import certificate_view
    from sgn._summary import summarize

    _, cert = network_certificate
    text = summarize(cert)
    assert "non-zero blocks" in text and len(text) < 5000
    view = certificate_view(cert, [])
    table = view["coupling"]
    record = cert.bounds["coupling"]
    assert len(table) == 1 + 12
    assert table[1][2] == sgn._report._view.number(max(record["values"]), 4)
    from sgn._report._figures import SPY_BINS, sparse_coupling

    svg = sparse_coupling(cert.to_dict())
    assert svg.lstrip().startswith(b"<?xml") and len(svg) < 400 * SPY_BINS**2   # cells, not N^2


# --- executors ----------------------------------------------------------------------------------

def test_results_do_not_depend_on_the_executor():
    game = network(80)
    base = SparseSampled(samples=24, batch_bytes=200_000)
    here = base.bounds(game)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        there = dataclasses.replace(base, executor=pool).bounds(game)
        cert_here = sgn.certify(game, estimator=base)
        cert_there = sgn.certify(game, estimator=base, executor=pool)
    np.testing.assert_array_equal(here.curvature, there.curvature)
    assert (here.coupling != there.coupling).nnz == 0
    assert (here.euclidean_margin, here.lipschitz) == (there.euclidean_margin, there.lipschitz)
    for key in ("curvature_rows", "coupling_rows"):
        np.testing.assert_array_equal(here.locations[key], there.locations[key])
    assert cert_here.to_dict() == cert_there.to_dict()


def test_dask_gives_the_same_bounds():
    from sgn._interval import dask_executor

    game = network(80)
    base = SparseSampled(samples=24, batch_bytes=200_000)
    here = base.bounds(game)
    with dask_executor(n_workers=2, processes=False) as cluster:   # tasks are serialized
        there = dataclasses.replace(base, executor=cluster).bounds(game)
    np.testing.assert_array_equal(here.curvature, there.curvature)
    assert (here.coupling != there.coupling).nnz == 0
    assert (here.euclidean_margin, here.lipschitz) == (there.euclidean_margin, there.lipschitz)


def test_newton_direction_is_the_dense_solve(monkeypatch):
    game, _, _ = mixed_game()
    x = game.region.low + 0.7 * game.region.width
    F = np.asarray(game.field_fn(jnp.asarray(x)))
    J = np.asarray(game.jacobian_fn(jnp.asarray(x)))
    np.testing.assert_allclose(game.newton_direction(x, F), np.linalg.solve(J, F), rtol=1e-10,
                               atol=1e-13)
    import sgn._sparse_game as sparse_game

    monkeypatch.setattr(sparse_game, "NEWTON_LU_LIMIT", 0)       # the GMRES route
    np.testing.assert_allclose(game.newton_direction(x, F), np.linalg.solve(J, F), rtol=1e-9,
                               atol=1e-12)


def test_sample_points_past_sobols_dimension_are_uniform_and_seeded():
    from sgn._sampling import SOBOL_MAX_DIM, sample_points

    box = sgn.Box(-1.0, 1.0).resolve(SOBOL_MAX_DIM + 1)
    points = sample_points(box, 8, 3)
    assert points.shape == (8, SOBOL_MAX_DIM + 1) and (points[0] == 0).all()
    assert points.min() >= -1 and points.max() <= 1
    np.testing.assert_array_equal(points, sample_points(box, 8, 3))
