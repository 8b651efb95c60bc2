"""The metric ladder's last rung: one SPD matrix over all coordinates ("joint", issue 13).

A 2 x 2 game with a negative own curvature J_11 < 0 but both eigenvalues in the right half
plane is stable, yet no block-diagonal metric contracts it: in a diagonal metric D the first
diagonal entry of sym(D^1/2 J D^-1/2) is J_11 < 0. Lyapunov's theorem gives a joint P, and
the best margin over all P is min Re lambda(J) (reached here, J being diagonalisable). Every
number below is checked against closed forms or independent dense computations (scipy's
generalised symmetric eigen-solve, plain matrix powers).
"""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sla

import sgn
from sgn._metric import BlockMatrix, certificate_metric

#: trace 1, determinant 7: eigenvalues 0.5 +- i sqrt(6.75); J_11 = -1 < 0.
J_STABLE = np.array([[-1.0, 3.0], [-3.0, 2.0]])
BEST_MARGIN = 0.5


def linear_game(J, *, constrained=False, name="joint") -> sgn.Game:
    Jj = jnp.asarray(np.asarray(J, dtype=float))

    def field(x1, x2):
        y = Jj @ jnp.concatenate([x1, x2])
        return y[:1], y[1:]

    return sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0),
                               constrained=constrained, name=name)


def pencil_margin(J, P) -> float:
    """min eigenvalue of the pencil (sym(P J), P): the margin of J in the metric P."""
    return float(sla.eigh(0.5 * (P @ J + J.T @ P), P, eigvals_only=True)[0])


@pytest.fixture(scope="module")
def joint_certificate():
    game = linear_game(J_STABLE)
    return game, sgn.certify(game)


def test_a_stable_game_no_block_metric_contracts_is_certified_in_a_joint_metric(
        joint_certificate):
    game, cert = joint_certificate
    assert cert.certified and cert.diagnostics["certified_by"] == "metric"
    assert cert.metric["kind"] == "block_matrix" and cert.metric["rung"] == "joint"
    P = np.asarray(cert.metric["blocks"][0])
    assert P.shape == (2, 2) and np.linalg.eigvalsh(P)[0] > 0
    assert abs(P[0, 1]) > 1e-3 * np.abs(P).max()        # it mixes the players
    # the stated margin is the metric's own (up to the rounding allowance, below it), and
    # close to the best any metric can have
    true = pencil_margin(J_STABLE, P)
    assert true - 1e-9 <= cert.margin <= true
    assert BEST_MARGIN - 1e-5 <= cert.margin <= BEST_MARGIN
    assert any("joint" in r for r in cert.reasons)


def test_no_block_diagonal_metric_contracts_it():
    # the closed-form reason (the J_11 entry) and the LMI agree: block-diagonal metrics of
    # scalar players are diagonal, and a diagonal metric leaves J_11 < 0 on the diagonal
    from sgn._weights._lmi import search_metric

    assert search_metric(J_STABLE, (1, 1), "block").margin <= J_STABLE[0, 0] + 1e-9


def test_joint_steps_are_the_dense_contraction_thresholds(joint_certificate):
    _, cert = joint_certificate
    P = np.asarray(cert.metric["blocks"][0])
    S = np.real(sla.sqrtm(P))
    A = S @ J_STABLE @ np.linalg.inv(S)

    def q(h):
        return np.linalg.norm(np.eye(2) - h * A, 2)

    low, high = 1e-9, 2.0 / np.linalg.norm(A, 2)     # q(low) < 1 <= q(high)
    for _ in range(200):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if q(mid) < 1 else (low, mid)
    euler = cert.step_sizes["euler_max"]
    assert euler <= low and euler >= 0.999 * low
    assert q(euler) < 1


def test_joint_certificate_round_trips_verifies_and_refuses_tampering(joint_certificate):
    game, cert = joint_certificate
    back = sgn.Certificate.from_json(cert.to_json())
    assert back == cert and back.metric == cert.metric
    assert sgn.verify(back, game).ok
    rebuilt = certificate_metric(game, back)
    assert isinstance(rebuilt, BlockMatrix) and rebuilt.dims == (1, 1)
    assert np.allclose(rebuilt.root @ rebuilt.root, np.asarray(cert.metric["blocks"][0]),
                       atol=1e-12)
    data = json.loads(cert.to_json())
    data["metric"]["blocks"][0] = np.eye(2).tolist()   # SPD, but J_11 < 0 in it: no contraction
    result = sgn.verify(sgn.Certificate.from_json(json.dumps(data)), game)
    assert not result.ok and "metric_margin" in {c.name for c in result.failures}
    data["metric"]["blocks"][0] = [[1.0, 0.0], [0.0, -1.0]]
    with pytest.raises(sgn.CertificateFormatError, match="positive definite"):
        sgn.verify(sgn.Certificate.from_json(json.dumps(data)), game)
    data["metric"]["blocks"] = [[[1.0]], [[1.0]]]      # a joint metric is one d x d matrix
    with pytest.raises(sgn.CertificateFormatError, match=r"metric\.blocks"):
        sgn.Certificate.from_json(json.dumps(data))


def test_simulate_contracts_in_the_joint_metric(joint_certificate):
    game, cert = joint_certificate
    sim = sgn.simulate(game, cert, starts=4, steps=40)
    assert sim.runs and all(r.verdict.value == "kept" and not r.violations for r in sim.runs)
    euler = next(r for r in sim.runs if r.method == "euler")
    assert euler.observed_factor <= euler.certified_factor + 1e-12
    # plain iteration: the M-distance to x* = 0 shrinks by at most the certified factor
    P = np.asarray(cert.metric["blocks"][0])
    x = np.array([0.7, -0.4])
    for _ in range(30):
        y = x - euler.step * (J_STABLE @ x)
        assert np.sqrt(y @ P @ y) <= euler.certified_factor * np.sqrt(x @ P @ x) + 1e-15
        x = y


def test_summary_and_report_name_the_joint_metric(joint_certificate, tmp_path):
    import pypdf

    from sgn._report import render_report
    from sgn._summary import summarize

    game, cert = joint_certificate
    assert "one SPD matrix over all players' coordinates" in summarize(cert)
    pdf = render_report(cert, tmp_path / "joint.pdf", game=game)
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(str(pdf)).pages)
    assert "certified by metric search, joint" in text
    assert "joint metric" in text and "mixes the players" in text
    assert "blockdiag" not in text.replace("blockdiag(w", "")   # no block-diagonal claim for M


def test_unstable_and_constrained_games_get_no_joint_metric():
    unstable = J_STABLE - 0.6 * np.eye(2)                  # eigenvalues -0.1 +- ...
    cert = sgn.certify(linear_game(unstable, name="unstable"))
    assert not cert.certified and cert.metric is None
    cert = sgn.certify(linear_game(J_STABLE, constrained=True, name="boxed"))
    assert not cert.certified and cert.metric is None
    assert any("joint" in n and "constrained" in n for n in cert.notes)
