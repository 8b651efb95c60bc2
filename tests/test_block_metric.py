"""Block-matrix metrics (issue 13, part 2): the BlockMatrix object, the metric ladder in
certify, the certificate's `metric` (schema version 3), verify and simulate in that metric.

Every number is checked against a closed form or an independent dense computation (scipy's
sqrtm, a generalized symmetric eigen-solve), never against sgn's own routines alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla

import sgn
from sgn import _config  # noqa: F401  (float64 for the jnp checks below)
from sgn._metric import BlockMatrix, BlockScalar, certificate_metric
from sgn._weights._lmi import search_metric

GOLDEN = Path(__file__).parent / "report_golden"


# --- games with a known metric ------------------------------------------------------------------

def random_spd(rng, n: int, condition: float) -> np.ndarray:
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    return (Q * np.geomspace(1.0, condition, n)) @ Q.T


def matrix_only_game(seed: int, dims=(2, 3), skew: float = 5.0):
    """J = P^-1 (S + K): P block-diagonal SPD, S SPD, K skew. In the metric P,
    P^1/2 J P^-1/2 = P^-1/2 (S + K) P^-1/2 whose symmetric part is P^-1/2 S P^-1/2 (the
    congruence of a skew matrix is skew), so the margin there is t = lambda_min of it.
    Redrawn until no block-scalar metric certifies J (the LMI's best scalar margin <= 0).
    Returns (J, dims, t)."""
    rng = np.random.default_rng(seed)
    d = sum(dims)
    while True:
        P = sla.block_diag(*[random_spd(rng, m, 10 ** rng.uniform(1, 2)) for m in dims])
        A = rng.standard_normal((d, d))
        S = A @ A.T / d + 0.5 * np.eye(d)
        B = rng.standard_normal((d, d))
        J = np.linalg.solve(P, S + skew * (B - B.T))
        if search_metric(J, dims, "scalar").margin <= 0:
            break
    root_inv = np.linalg.inv(np.real(sla.sqrtm(P)))
    t = float(np.linalg.eigvalsh(root_inv @ S @ root_inv)[0])
    return J, tuple(dims), t


def fine_metric_game(seed: int, dims=(3, 2)):
    """J = Q D^-1 (diag(s) + K) Q^T: Q block-diagonal orthogonal, D > 0 diagonal, K skew with
    zero own blocks. The own blocks are diagonal in Q's columns (the eigenbasis), and in the
    metric Q D Q^T the margin is min s / D (as above with P = D, S = diag(s)). Redrawn until
    block-scalar weights do not certify. Returns (J, dims, that margin)."""
    rng = np.random.default_rng(seed)
    d = sum(dims)
    starts = np.cumsum((0,) + tuple(dims))
    while True:
        D = np.concatenate([rng.permutation(np.geomspace(1.0, 10 ** rng.uniform(1, 2), m))
                            for m in dims])
        s = rng.uniform(0.5, 1.5, d)
        B = rng.standard_normal((d, d))
        K = 3.0 * (B - B.T)
        for a, b in zip(starts[:-1], starts[1:]):
            K[a:b, a:b] = 0.0
        Q = sla.block_diag(*[np.linalg.qr(rng.standard_normal((m, m)))[0] for m in dims])
        J = Q @ ((np.diag(s) + K) / D[:, None]) @ Q.T
        if search_metric(J, dims, "scalar").margin <= 0:
            return J, tuple(dims), float(np.min(s / D))


def linear_game(J, dims, name: str, nonlinear: float = 0.0) -> sgn.Game:
    """F(x) = J x (+ nonlinear * sin(x)) on [-1, 1]^d."""
    Jj = jnp.asarray(np.asarray(J, dtype=float))
    cut = int(dims[0])

    def field(x1, x2):
        x = jnp.concatenate([x1, x2])
        y = Jj @ x + nonlinear * jnp.sin(x) if nonlinear else Jj @ x   # linear: exact bounds
        return y[:cut], y[cut:]

    return sgn.Game.from_field(field, dims=list(dims), region=sgn.Box(-1.0, 1.0), name=name)


def dense_margin(J, blocks) -> float:
    """lambda_min(sym(S J S^-1)) with S = sqrtm(blockdiag(blocks)) by scipy."""
    S = np.real(sla.sqrtm(sla.block_diag(*[np.asarray(b, float) for b in blocks])))
    A = S @ np.asarray(J) @ np.linalg.inv(S)
    return float(np.linalg.eigvalsh(0.5 * (A + A.T))[0])


def pencil_margin(J, blocks) -> float:
    """The same margin without square roots: the smallest eigenvalue of the pencil
    (sym(P J), P)."""
    P = sla.block_diag(*[np.asarray(b, float) for b in blocks])
    return float(sla.eigh(0.5 * (P @ J + J.T @ P), P, eigvals_only=True)[0])


# --- 1. the metric object -------------------------------------------------------------------

def _random_blocks(seed=3, dims=(2, 3, 1)):
    rng = np.random.default_rng(seed)
    return [random_spd(rng, m, 30.0) * rng.uniform(0.5, 4.0) for m in dims], dims


def test_block_matrix_scale_norm_offset_against_dense_numpy():
    blocks, dims = _random_blocks()
    metric = BlockMatrix.from_blocks(blocks)
    c = np.trace(blocks[0]) / dims[0]       # normalised: trace(P_1) / d_1 = 1
    M = sla.block_diag(*blocks) / c
    S = np.real(sla.sqrtm(M))
    rng = np.random.default_rng(0)
    J = rng.standard_normal((4, 6, 6))
    np.testing.assert_allclose(metric.scale(J), S @ J @ np.linalg.inv(S), rtol=1e-10,
                               atol=1e-12)
    # the same in compiled code, with the metric as a pytree argument
    scaled = jax.jit(lambda m, x: m.scale(x))(metric, jnp.asarray(J))
    np.testing.assert_allclose(np.asarray(scaled), S @ J @ np.linalg.inv(S), rtol=1e-10,
                               atol=1e-12)
    v = rng.standard_normal((5, 6))
    np.testing.assert_allclose(metric.norm(v), np.sqrt(np.einsum("ki,ij,kj->k", v, M, v)),
                               rtol=1e-12)
    np.testing.assert_allclose(np.asarray(metric.norm(jnp.asarray(v), jnp)), metric.norm(v),
                               rtol=1e-12)
    e = metric.offset(v)                    # ||e||_M = ||v||_2: e = M^-1/2 v
    np.testing.assert_allclose(e, v @ np.linalg.inv(S).T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(metric.norm(e), np.linalg.norm(v, axis=1), rtol=1e-12)
    np.testing.assert_allclose(metric.diagonal, np.diag(M), rtol=1e-12)
    # an M-ball of radius r reaches r sqrt((M^-1)_kk) along coordinate k, read as
    # r sqrt(inverse_diagonal_k / w_i) by the basin
    w = np.repeat(metric.weights, dims)
    np.testing.assert_allclose(metric.inverse_diagonal(None) / w, np.diag(np.linalg.inv(M)),
                               rtol=1e-10)
    np.testing.assert_allclose(metric.weights, [np.trace(b) / m / c
                                                for b, m in zip(blocks, dims)], rtol=1e-12)
    assert metric.weights[0] == pytest.approx(1.0) and metric.fixed and metric.dims == dims
    # congruence: the margin is the pencil's smallest eigenvalue
    A = metric.scale(J[0])
    assert np.linalg.eigvalsh(0.5 * (A + A.T))[0] == pytest.approx(
        pencil_margin(J[0], metric.blocks), abs=1e-12)


def test_block_scalar_blocks_give_the_block_scalar_metric():
    """P_i = w_i I: every quantity is BlockScalar's (the ladder's first rung as a special case)."""
    w, dims = np.array([1.0, 0.25, 7.0]), (2, 1, 3)
    matrix = BlockMatrix.from_blocks([wi * np.eye(m) for wi, m in zip(w, dims)])
    scalar = BlockScalar.from_weights(w, dims)
    J = np.random.default_rng(1).standard_normal((6, 6))
    np.testing.assert_allclose(matrix.scale(J), scalar.scale(J), rtol=1e-13, atol=1e-14)
    v = np.random.default_rng(2).standard_normal(6)
    assert matrix.norm(v) == pytest.approx(scalar.norm(v), rel=1e-13)
    np.testing.assert_allclose(matrix.offset(v), scalar.offset(v), rtol=1e-13)
    np.testing.assert_allclose(matrix.weights, w, rtol=1e-13)
    np.testing.assert_allclose(matrix.inverse_diagonal(None), scalar.inverse_diagonal(None))


def test_eigenbasis_metric_is_its_recipe_and_round_trips():
    rng = np.random.default_rng(4)
    dims = (3, 2)
    Qs = [np.linalg.qr(rng.standard_normal((m, m)))[0] for m in dims]
    v = rng.uniform(0.1, 5.0, 5)
    metric = BlockMatrix.from_eigenbasis(Qs, v)
    c = v[:3].mean()   # trace(P_1) / d_1 before normalising
    for P, Q, part in zip(metric.blocks, Qs, (v[:3], v[3:])):
        np.testing.assert_allclose(P, (Q * part) @ Q.T / c, rtol=1e-12, atol=1e-14)
    data = json.loads(json.dumps(metric.to_dict()))
    assert data["rung"] == "eigenbasis" and len(data["rotations"]) == 2
    again = BlockMatrix.from_dict(data, dims)
    np.testing.assert_array_equal(again.root, metric.root)
    # blocks that are not what the recipe builds, a block that is not positive definite, or
    # blocks that do not fit the players: refused as a bad certificate
    tampered = json.loads(json.dumps(data))
    tampered["blocks"][0][0][0] *= 1.01
    with pytest.raises(sgn.CertificateFormatError, match="rotations"):
        BlockMatrix.from_dict(tampered, dims)
    full = BlockMatrix.from_blocks(metric.blocks).to_dict()
    full["blocks"][1] = [[1.0, 2.0], [2.0, 1.0]]          # eigenvalues -1, 3
    with pytest.raises(sgn.CertificateFormatError, match="positive definite"):
        BlockMatrix.from_dict(full, dims)
    with pytest.raises(sgn.CertificateFormatError, match="sizes"):
        BlockMatrix.from_dict(metric.to_dict(), (2, 3))


# --- 2. the ladder in certify ---------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_matrix_only_game_is_certified_in_a_block_metric(seed):
    J, dims, t = matrix_only_game(seed)
    assert np.linalg.eigvalsh(0.5 * (J + J.T))[0] < 0        # not Euclidean-monotone
    cert = sgn.certify(linear_game(J, dims, f"matrix-{seed}"))
    assert cert.status is sgn.Status.CERTIFIED and cert.verified   # constant J: exact
    assert cert.diagnostics["certified_by"] == "metric"
    assert cert.metric is not None and cert.metric["kind"] == "block_matrix"
    blocks = cert.metric["blocks"]
    # at least the closed-form margin of the planted metric (the LMI maximises over all P)
    assert cert.margin >= t * (1 - 1e-6)
    # and, by two independent dense computations in the metric recorded, exactly what it is,
    # never above (the rounding allowance only lowers it)
    truth = dense_margin(J, blocks)
    assert truth == pytest.approx(pencil_margin(J, blocks), abs=1e-10)
    assert truth - 1e-9 <= cert.margin <= truth
    # SGN's own result beside it: its weights, and its (failing) margin
    assert cert.metric["sgn_margin"] <= 0 and len(cert.weights) == 2
    assert cert.diagnostics["metric_margin"] == pytest.approx(cert.margin, rel=1e-12)
    # the steps are in the same metric: the stored Euler factor at the recommended step is
    # ||I - h A||_2 with A = S J S^-1 (dense)
    S = np.real(sla.sqrtm(sla.block_diag(*[np.asarray(b) for b in blocks])))
    A = S @ J @ np.linalg.inv(S)
    h = cert.step_sizes["euler_recommended"]
    assert cert.step_sizes["euler_factor"] == pytest.approx(
        np.linalg.norm(np.eye(len(J)) - h * A, 2), rel=1e-9)
    assert cert.bounds["lipschitz"] == pytest.approx(np.linalg.norm(A, 2), rel=1e-9)


def test_eigenbasis_rung_certifies_what_block_scalar_weights_refuse():
    J, dims, t = fine_metric_game(2)
    cert = sgn.certify(linear_game(J, dims, "fine"))
    assert cert.certified and cert.diagnostics["certified_by"] == "metric"
    assert cert.metric["rung"] == "eigenbasis"       # the cheaper rung sufficed
    assert cert.margin >= t * (1 - 1e-6)
    assert dense_margin(J, cert.metric["blocks"]) == pytest.approx(cert.margin, abs=1e-9)
    # each block is diagonal in its player's eigenbasis of sym(J_ii) (the recipe's Q_i)
    for P, Q in zip(cert.metric["blocks"], cert.metric["rotations"]):
        inner = np.asarray(Q).T @ np.asarray(P) @ np.asarray(Q)
        np.testing.assert_allclose(inner, np.diag(np.diag(inner)), atol=1e-10)


def test_games_sgn_certifies_keep_their_certificate():
    """The ladder runs only when neither SGN nor the Euclidean test certifies."""
    game = sgn.Game.from_field(lambda x1, x2: (x1 + 0.1 * x2, x2 - 0.2 * x1), dims=[2, 2],
                               region=sgn.Box(-1.0, 1.0), name="easy")
    cert = sgn.certify(game)
    assert cert.certified and cert.metric is None
    assert cert.diagnostics["certified_by"] in ("sgn", "euclidean")


def test_an_unstable_game_is_not_certified_by_any_rung():
    J, dims, _ = matrix_only_game(0)
    J = J - (np.linalg.eigvals(J).real.min() + 0.1) * np.eye(len(J))   # an eigenvalue at -0.1
    cert = sgn.certify(linear_game(J, dims, "unstable"))
    assert not cert.certified and cert.metric is None


# --- 3. the rungs that are skipped, and why ------------------------------------------------

def test_verified_runs_try_the_matrix_rungs():
    """Under --verify a varying Jacobian's matrix rungs are no longer skipped: their margins
    are proved by the block-matrix metric pass (tests/test_verified_block_metric.py checks the
    numbers against dense computations)."""
    J, dims, _ = matrix_only_game(0)
    game = linear_game(J, dims, "matrix-nl", nonlinear=0.02)   # not constant: interval runs
    cert = sgn.certify(game, method="interval", max_boxes=64, max_seconds=60)
    assert cert.certified and cert.verified and cert.metric is not None
    assert cert.metric["rung"] in ("eigenbasis", "block", "joint")
    assert not any("matrix metric searches" in n for n in cert.notes)


def test_verified_run_on_a_constant_jacobian_proves_the_block_metric_exactly():
    """Under --verify a constant Jacobian is measured in the block metric by one exact
    evaluation (a proof, as exact bounds are), not by the interval pass."""
    J, dims, t = matrix_only_game(0)
    game = linear_game(J, dims, "matrix-verified")
    cert = sgn.certify(game, method="interval")
    assert cert.certified and cert.verified and cert.estimator["method"] == "interval"
    assert cert.diagnostics["certified_by"] == "metric" and cert.metric is not None
    assert cert.margin >= t * (1 - 1e-6)
    assert cert.margin <= dense_margin(J, cert.metric["blocks"])
    result = sgn.verify(sgn.Certificate.from_json(cert.to_json()), game)
    assert result.ok, [c.message for c in result.failures]


def test_verified_metric_pass_proves_a_block_matrix_margin():
    """The verified estimator's metric pass takes a block matrix (here the identity, so the
    Euclidean margin): a proved lower bound, at most the dense minimum at every point, with
    the pass's record."""
    from sgn._interval import PassRecord, Verified

    J, dims, _ = matrix_only_game(0)
    game = linear_game(J, dims, "m", nonlinear=0.02)
    estimator = Verified(max_boxes=16, max_seconds=30)
    bounds = estimator.bounds(game)
    metric = BlockMatrix.from_blocks([np.eye(m) for m in dims])
    found = estimator.in_metric(game, metric, bounds)
    assert isinstance(found.proof, PassRecord)
    rng = np.random.default_rng(3)
    seen = min(np.linalg.eigvalsh(0.5 * (Jx + Jx.T))[0] for Jx in
               (J + 0.02 * np.diag(np.cos(x)) for x in rng.uniform(-1.0, 1.0, (200, len(J)))))
    assert found.margin <= seen < 0


def test_constrained_games_and_large_games_skip_the_matrix_rungs(monkeypatch):
    from sgn import _metric_search

    J, dims, _ = matrix_only_game(0)
    Jj = jnp.asarray(J)

    def field(x1, x2):
        y = Jj @ jnp.concatenate([x1, x2])
        return y[:dims[0]], y[dims[0]:]

    boxed = sgn.Game.from_field(field, dims=list(dims), region=sgn.Box(-1.0, 1.0),
                                constrained=True, name="boxed")
    cert = sgn.certify(boxed)
    assert cert.metric is None and not cert.certified
    assert any("constrained" in n and "non-expansive" in n for n in cert.notes)

    monkeypatch.setattr(_metric_search, "MAX_EIGENBASIS_DIM", 4)
    monkeypatch.setattr(_metric_search, "MAX_BLOCK_DIM", 4)
    monkeypatch.setattr(_metric_search, "MAX_JOINT_DIM", 4)
    cert = sgn.certify(linear_game(J, dims, "large"))
    assert cert.metric is None and not cert.certified
    skipped = [n for n in cert.notes if "was skipped: d = 5 > 4" in n]
    assert len(skipped) == 3


# --- 4. the certificate: JSON, verify, simulate, older versions -------------------------------

@pytest.fixture(scope="module")
def block_certificate():
    J, dims, _ = matrix_only_game(1)
    game = linear_game(J, dims, "matrix-1")
    return J, dims, game, sgn.certify(game)


def test_block_certificate_round_trips_and_verifies(block_certificate):
    J, dims, game, cert = block_certificate
    assert cert.schema_version == 3
    back = sgn.Certificate.from_json(cert.to_json())
    assert back == cert and back.metric == cert.metric
    result = sgn.verify(back, game)
    assert result.ok, [c.message for c in result.failures]
    # verify rebuilds the metric from the certificate: the margin re-measured in it
    rebuilt = certificate_metric(game, back)
    assert isinstance(rebuilt, BlockMatrix)
    A = rebuilt.scale(J)
    assert np.linalg.eigvalsh(0.5 * (A + A.T))[0] == pytest.approx(back.margin, abs=1e-9)
    # another metric written in (SPD, but not the one found): its margin is not the stated one
    data = json.loads(cert.to_json())
    data["metric"]["blocks"][1] = np.eye(dims[1]).tolist()
    result = sgn.verify(sgn.Certificate.from_json(json.dumps(data)), game)
    assert not result.ok and "metric_margin" in {c.name for c in result.failures}
    # a metric that is not one: refused as bad input when read for verify
    data["metric"]["blocks"][1] = (-np.eye(dims[1])).tolist()
    with pytest.raises(sgn.CertificateFormatError, match="positive definite"):
        sgn.verify(sgn.Certificate.from_json(json.dumps(data)), game)
    # the schema reader checks the shape of the blocks
    data["metric"]["blocks"][1] = [[1.0]]
    with pytest.raises(sgn.CertificateFormatError, match=r"metric\.blocks\[1\]"):
        sgn.Certificate.from_json(json.dumps(data))


def test_simulate_measures_distances_in_the_block_metric(block_certificate):
    J, dims, game, cert = block_certificate
    sim = sgn.simulate(game, cert, starts=6, steps=60)
    assert sim.runs and all(r.verdict.value == "kept" and not r.violations for r in sim.runs)
    assert sim.metric_name == "M"
    euler = next(r for r in sim.runs if r.method == "euler")
    # the observed per-step factor (distance to x* = 0 in M) is within the promised one, and
    # the promise is the dense ||I - h A||_2 in the metric
    S = np.real(sla.sqrtm(sla.block_diag(*[np.asarray(b) for b in cert.metric["blocks"]])))
    A = S @ J @ np.linalg.inv(S)
    assert euler.certified_factor == pytest.approx(
        np.linalg.norm(np.eye(len(J)) - euler.step * A, 2), rel=1e-9)
    assert euler.observed_factor <= euler.certified_factor + 1e-12


def test_summary_names_the_block_metric(block_certificate):
    from sgn._summary import summarize

    text = summarize(block_certificate[3])
    assert "M = blockdiag(P_1..P_2)" in text and "SGN's own: alpha =" in text
    assert "metric search" in text


def test_cli_certify_then_verify_a_block_certificate(tmp_path, block_certificate, run_cli):
    J, dims, _, _ = block_certificate
    game_file = tmp_path / "matrix_game.py"
    game_file.write_text(
        "import jax.numpy as jnp\nimport numpy as np\nimport sgn\n"
        f"J = jnp.asarray(np.array({J.tolist()!r}))\n"
        "def field(x1, x2):\n"
        "    y = J @ jnp.concatenate([x1, x2])\n"
        f"    return y[:{dims[0]}], y[{dims[0]}:]\n"
        f"game = sgn.Game.from_field(field, dims={list(dims)!r}, region=sgn.Box(-1.0, 1.0), "
        "name='matrix-1')\n")
    out = tmp_path / "cert.json"
    done = run_cli("certify", game_file, "--out", out)
    assert done.exit_code == 0, done.output
    assert "M = blockdiag(P_1..P_2)" in done.stdout
    assert json.loads(out.read_text())["metric"]["kind"] == "block_matrix"
    done = run_cli("verify", out, game_file)
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize("name, version", [("cascade.json", 1), ("cascade_v2.json", 2)])
def test_version_1_and_2_certificates_still_read(name, version):
    text = (GOLDEN / name).read_text()
    cert = sgn.Certificate.from_json(text)
    assert cert.schema_version == version and cert.metric is None
    # their metric is their weights' (block-scalar)
    dims = [p["dim"] for p in cert.game["players"]]
    game = SimpleNamespace(dims=dims, metric=lambda w: BlockScalar.from_weights(w, dims))
    metric = certificate_metric(game, cert)
    assert isinstance(metric, BlockScalar)
    np.testing.assert_allclose(metric.weights, cert.weights)
    # a block metric is not part of those versions
    data = json.loads(text)
    data["metric"] = BlockMatrix.from_blocks(
        [np.eye(p["dim"]) for p in cert.game["players"]]).to_dict()
    with pytest.raises(sgn.CertificateFormatError, match=f"schema version {version}"):
        sgn.Certificate.from_json(json.dumps(data))


# --- 5. a varying Jacobian: the sampled pass measures the block metric's margin --------------

def test_nonlinear_matrix_game_is_measured_in_the_block_metric():
    J, dims, t = matrix_only_game(0)
    game = linear_game(J, dims, "matrix-sin", nonlinear=0.05)
    cert = sgn.certify(game, samples=512)
    assert cert.certified and cert.metric is not None and not cert.verified
    # the measured margin is at most the dense margin at every point (a minimum over the
    # region): check on points of a fresh grid, in the recorded metric
    rng = np.random.default_rng(9)
    blocks = cert.metric["blocks"]
    for x in rng.uniform(-1.0, 1.0, (64, len(J))):
        Jx = J + 0.05 * np.diag(np.cos(x))
        assert dense_margin(Jx, blocks) >= cert.margin - 1e-9
    result = sgn.verify(sgn.Certificate.from_json(cert.to_json()), game, samples=512)
    assert result.ok, [c.message for c in result.failures]


# --- 6. exact bounds in a block metric: the rounding of forming S J S^-1 --------------------------

def _exact_inverse(S):
    """S^-1 in exact rational arithmetic (Gauss-Jordan on Fractions)."""
    from fractions import Fraction

    n = len(S)
    A = [[Fraction(int(S[i][j])) for j in range(n)] + [Fraction(int(i == j)) for j in range(n)]
         for i in range(n)]
    for c in range(n):
        p = next(r for r in range(c, n) if A[r][c] != 0)
        A[c], A[p] = A[p], A[c]
        A[c] = [v / A[c][c] for v in A[c]]
        for r in range(n):
            if r != c and A[r][c] != 0:
                A[r] = [a - A[r][c] * b for a, b in zip(A[r], A[c])]
    return [row[n:] for row in A]


def _integer_root(k: int, n: int) -> np.ndarray:
    """S = L L^T with L unit lower triangular, ones below the diagonal times k: an integer SPD
    matrix with determinant 1 whose condition number grows like k^(2 (n - 1))."""
    L = np.eye(n, dtype=np.int64) + k * np.tril(np.ones((n, n), dtype=np.int64), -1)
    return L @ L.T


@pytest.mark.parametrize("k", [1, 2, 3])   # cond P: 270, 4e4, 2.5e6
def test_rounding_error_bounds_forming_the_scaled_jacobian(k):
    """P = S^2 with S an integer SPD matrix: P^1/2 = S exactly, and S J S^-1 is computed in
    exact rational arithmetic; sgn forms it from P by an eigen-solve and two float products."""
    from fractions import Fraction

    roots = [_integer_root(k, 3), _integer_root(k, 2)]
    S = sla.block_diag(*roots)
    blocks = [r @ r for r in roots]                  # integers: exact in float64
    metric = BlockMatrix.from_blocks([b.astype(float) for b in blocks], normalise=False)
    J = np.random.default_rng(k).standard_normal((5, 5))
    T = sla.block_diag(*[np.array(_exact_inverse(r), dtype=object) for r in roots])
    Jf = [[Fraction(float(v)) for v in row] for row in J]
    SJ = [[sum(Fraction(int(S[i, m])) * Jf[m][j] for m in range(5)) for j in range(5)]
          for i in range(5)]
    exact = np.array([[float(sum(SJ[i][m] * (T[m, j] if T[m, j] != 0 else 0)
                                 for m in range(5))) for j in range(5)] for i in range(5)])
    found = np.linalg.norm(metric.scale(J) - exact, 2)
    bound = metric.rounding_error(J)
    condition = max(np.linalg.cond(b) for b in blocks)
    assert found <= bound
    # and not vacuous: within a few orders of magnitude of what happens
    assert bound <= 1e-9 * condition * np.linalg.norm(J)
