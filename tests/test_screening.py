"""The Cholesky screen of the sampled bounds (sgn/_screening.py) against brute force.

Every check here is made against an independent computation: numpy's dense eigvalsh / svd at
every point (block by block, without the padding the families use), or a plain sort. The
screen may only skip work, never change the answer: the `starts` worst values per quantity and
where they are must be those that solving exactly at every point gives.

The games are compiled once per module (`Cases`); a Markov game compiles slowly, so it is
built once and sampled at few points.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn import _bounds, _definite, _screening
from sgn._bounds import _bounds_families, _metric_families
from sgn._errors import GameDefinitionError
from sgn._testing import games
from sgn._sampling import sample_points
from sgn._screening import (
    Family,
    _Worst,
    proved_below,
    worst_points,
)

POINTS = 3000


# --- games and the brute-force reference --------------------------------------------------------

def coupled_game(dims, seed: int = 0) -> sgn.Game:
    """The estimator benchmark's nonlinear game (cos, x^4 own costs, tanh / sin couplings on
    [-1, 1]^d, sgn/_testing/games.py): every block of J depends on x."""
    return games.coupled_game(len(dims), list(dims), seed=seed, name=f"coupled {list(dims)}")


def sym(A):
    return 0.5 * (A + np.swapaxes(A, -1, -2))


def lam_min(S):
    return np.linalg.eigvalsh(S)[..., 0]


def sigma_max(A):
    return np.linalg.svd(A, compute_uv=False)[..., 0]


def dense_bounds_badness(game, J, J_step):
    """(P, Q) badness [-mu_i, L_ij (row-major, i != j), -gamma, beta] at every point, by numpy
    on each block as it is (no padding)."""
    n = game.n_players
    cols = [-lam_min(sym(J[(slice(None), *game.block(i, i))])) for i in range(n)]
    cols += [sigma_max(J[(slice(None), *game.block(i, j))])
             for i in range(n) for j in range(n) if i != j]
    cols += [-lam_min(sym(J)), sigma_max(J_step)]
    return np.stack(cols, axis=1)


def dense_metric_badness(J_step, root_w):
    """(P, 2) badness [beta(w), -(metric margin)] of A = W^{1/2} J_step W^{-1/2}, by numpy."""
    A = root_w[:, None] * J_step / root_w[None, :]
    return np.stack([sigma_max(A), -lam_min(sym(A))], axis=1)


def brute_top(bad, starts):
    """Per quantity the `starts` largest values and their point indices, ties to the lower
    index: (values (Q, starts), indices (Q, starts))."""
    idx = np.arange(bad.shape[0])
    top = np.stack([np.lexsort((idx, -bad[:, q]))[:starts] for q in range(bad.shape[1])])
    return np.take_along_axis(bad.T, top, axis=1), top


def assert_matches_brute(values, index, bad, starts):
    """worst_points' (values, index) are the brute-force top `starts` of `bad` (P, Q).

    Values to 1e-12 (relative to the quantity's range); each index is where its value is
    taken; an index may differ from the brute-force one only where the two points' values tie
    (to 1e-12: the exact solves are numpy's, the reference's too, but at Jacobians computed in
    another program)."""
    P, Q = bad.shape
    assert values.shape == index.shape == (Q, starts)
    want_v, want_i = brute_top(bad, starts)
    tol = np.broadcast_to(1e-12 * (1.0 + np.abs(bad).max(axis=0))[:, None], values.shape)
    np.testing.assert_array_less(np.abs(values - want_v), tol)
    assert ((index >= 0) & (index < P)).all(), index
    for q in range(Q):
        assert len(set(index[q])) == starts, (q, index[q])                # distinct points
    at = np.take_along_axis(bad.T, index, axis=1)                        # reference there
    np.testing.assert_array_less(np.abs(at - values), tol)
    differ = index != want_i
    assert np.all(np.abs(at - want_v)[differ] <= tol[differ]), (index, want_i, at, want_v)


class Case:
    """A game, its sample points, and the reference badness at every point."""

    def __init__(self, dims, seed):
        self.game = coupled_game(dims, seed)
        self.points = sample_points(self.game.region, POINTS, 0)
        J = np.asarray(jax.vmap(self.game.jacobian_fn)(jnp.asarray(self.points)))
        self.J = J
        self.bounds_bad = dense_bounds_badness(self.game, J, J)
        rng = np.random.default_rng(seed + 100)
        w = rng.uniform(0.2, 5.0, self.game.n_players)
        self.metric = self.game.metric(w)
        self.root_w = np.repeat(np.sqrt(w / w[0]), self.game.dims)  # what metric.scale uses
        self.metric_bad = dense_metric_badness(J, self.root_w)

    def run(self, kind, starts, seed=0, points=None, **kw):
        points = self.points if points is None else points
        if kind == "bounds":
            return worst_points(self.game, "bounds", _bounds_families, None,
                                points, starts, seed, **kw)
        return worst_points(self.game, "metric", _metric_families, self.metric,
                            points, starts, seed, **kw)

    def reference(self, kind):
        return self.bounds_bad if kind == "bounds" else self.metric_bad


CASE_DIMS = {"unequal": ([1, 2, 3], 0), "equal": ([2, 2, 2], 1)}    # dims, game seed


class Cases:
    """Games built lazily, once per module."""

    def __init__(self):
        self._cases = {}

    def __getitem__(self, name):
        if name not in self._cases:
            self._cases[name] = Case(*CASE_DIMS[name])
        return self._cases[name]


@pytest.fixture(scope="module")
def cases():
    return Cases()


# --- 1. the Cholesky test of positive definiteness ----------------------------------------------

def random_symmetric(rng, n, k, lowest):
    """n symmetric k x k matrices Q diag(e) Q^T (Q random orthogonal) with smallest eigenvalue
    `lowest` (n,), the others from 2 |lowest| to 1e4 |lowest| (log-uniform)."""
    Q, _ = np.linalg.qr(rng.standard_normal((n, k, k)))
    rest = np.abs(lowest)[:, None] * (1.0 + 10.0 ** rng.uniform(0, 4, (n, k - 1)))
    e = np.concatenate([lowest[:, None], rest], axis=1)
    return np.einsum("nij,nj,nkj->nik", Q, e, Q)


def positive_definite_cases(k, rng):
    """Symmetric k x k matrices, each clearly definite or clearly not (|lambda_min| >= 1e-4
    ||A||), the zero matrix, and matrices with NaN; the expected answer for each."""
    n = 120
    scale = 10.0 ** rng.uniform(-3, 3, n)
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    A = random_symmetric(rng, n, k, sign * scale * 10.0 ** rng.uniform(-0.5, 0, n))
    extra = [np.zeros((k, k)), np.eye(k), -np.eye(k)]
    # definite except in the last pivot, and indefinite in the first pivot only
    last = np.eye(k)
    last[-1, -1] = -1e-3
    first = 2.0 * np.eye(k)
    first[0, 0] = -1e-3
    extra += [last, first]
    if k >= 2:
        # a definite diagonal with a large off-diagonal pair: indefinite
        big = np.eye(k)
        big[0, -1] = big[-1, 0] = 1.5
        extra.append(big)
    A = np.concatenate([A, np.stack(extra)])
    expected = list(np.linalg.eigvalsh(A)[:, 0] > 0)
    # NaN (placed symmetrically, as the screen's matrices are): never definite
    nans = []
    for _ in range(6):
        M = np.eye(k) * 5.0
        i, j = rng.integers(0, k, 2)
        M[i, j] = M[j, i] = np.nan
        nans.append(M)
    M = np.eye(k)
    M[-1, -1] = np.nan
    nans.append(M)
    nans.append(np.full((k, k), np.nan))
    A = np.concatenate([A, np.stack(nans)])
    expected += [False] * len(nans)
    return A, np.array(expected)


@pytest.mark.parametrize("batch", [1, 5, _definite.LANES, 3 * _definite.LANES + 7])
def test_elimination_agrees_with_eigenvalues(batch):
    """The compiled elimination (sgn/_definite.py, no allowance: slack 0, t = 0 for lambda_min)
    is lambda_min > 0 by numpy on clearly definite and clearly indefinite matrices of every
    side 1 .. 12 (and 24), False with NaN; batches shorter than, equal to and not a multiple of
    the lanes, and the batch shape comes back as it went in. It reads the symmetric part: an
    antisymmetric term added to each matrix changes nothing."""
    rng = np.random.default_rng(batch)
    for k in [*range(1, 13), 24]:
        A, expected = positive_definite_cases(k, rng)
        pick = np.concatenate([np.arange(len(A)), rng.integers(0, len(A), batch)])
        pick = pick[:batch] if batch >= len(A) else rng.permutation(len(A))[:batch]
        A, expected = A[pick], expected[pick]
        U = rng.standard_normal(A.shape)
        skew = (U - np.swapaxes(U, -1, -2)) * np.abs(A).max(axis=(1, 2), keepdims=True)
        skew[~np.isfinite(skew)] = 0.0
        got = _definite.proved_below("lambda_min", (A + skew).reshape(-1, 1, k, k),
                                     np.zeros(1), 0.0, 0.0)
        assert got.shape == (batch, 1) and got.dtype == bool
        wrong = np.flatnonzero(got[:, 0] != expected)
        assert wrong.size == 0, (k, batch, wrong[:5], A[wrong[0]] if wrong.size else None)
        if batch >= _definite.LANES:
            assert expected.any() and not expected.all()      # both answers exercised


def test_norm_test_reads_the_gram_matrix():
    """kind "norm" (slack 0): ||M||_2 < t exactly where numpy says so, on matrices of sides
    1 .. 12 and 24 scaled 1e-3 to 1e+3, t just above or just below the norm; NaN never
    passes."""
    rng = np.random.default_rng(3)
    for k in [*range(1, 13), 24]:
        M = rng.standard_normal((70, k, k)) * 10.0 ** rng.uniform(-3, 3, (70, 1, 1))
        v = sigma_max(M)
        t = v * np.where(np.arange(70) % 2 == 0, 1.0 + 1e-6, 1.0 - 1e-6)
        got = np.array([_definite.proved_below("norm", M[i], t[i], 0.0, 0.0) for i in range(70)])
        np.testing.assert_array_equal(got, t > v)
        M[0, 0, 0] = np.nan
        assert not _definite.proved_below("norm", M[0], 10.0 * t[0], 0.0, 0.0)


# --- 2. proved_below: sound, and tight -----------------------------------------------------------

RELATIVE = np.array([-0.5, -1e-2, -1e-4, -1e-6, -1e-8, -1e-10, -1e-12, -1e-14, 0.0,
                     1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 1e-2, 0.5])
SIDES = [1, 2, 3, 6, 12, 24]


def true_badness(kind, M):
    return -lam_min(M) if kind == "lambda_min" else sigma_max(M)


def screen_matrices(kind, k, rng, n, scale):
    A = rng.standard_normal((n, k, k)) * scale
    return sym(A) if kind == "lambda_min" else A


def thresholds_for(v):
    """(m, T) thresholds per value: v (1 + s) for s of both signs, the tightness boundary
    v + 1e-6 (1 + |v|), then -inf, +inf, 0, -1, -|v|, -2 |v| (the last six columns)."""
    m = len(v)
    return np.concatenate([v[:, None] * (1.0 + RELATIVE[None, :]),
                           (v + 1e-6 * (1.0 + np.abs(v)))[:, None],
                           np.tile([-np.inf, np.inf, 0.0, -1.0], (m, 1)),
                           -np.abs(v)[:, None], -2.0 * np.abs(v)[:, None]], axis=1)


def screen_groups(kind, k, rng):
    """Test matrices by group: "moderate" (entries 1e-2 to 1e2, rank one, zero), and the badly
    scaled ones: "tiny" (1e-151 to 1e-150), "huge" (1e+150 to 1e+151), "mixed" (D A D, D from
    1e-75 to 1e+75: entries 1e-150 to 1e+150 in one matrix), "underflow" (nearer the underflow
    threshold: 1e-154 to 1e-152 for norms, whose Gram matrix squares the entries; 1e-306 to
    1e-300 for lambda_min)."""
    moderate = [screen_matrices(kind, k, rng, 40, 1.0),
                screen_matrices(kind, k, rng, 40, 10.0 ** rng.uniform(-2, 2, (40, 1, 1)))]
    if k >= 2:   # rank one, and a zero matrix
        u = rng.standard_normal((8, k, 1))
        other = u if kind == "lambda_min" else rng.standard_normal((8, k, 1))
        moderate += [u * np.swapaxes(other, 1, 2), np.zeros((1, k, k))]
    def scales(n, low, high):
        return 10.0 ** rng.uniform(low, high, (n, 1, 1))

    D = 10.0 ** rng.uniform(-75, 75, (100, k))
    return {
        "moderate": np.concatenate(moderate),
        "tiny": screen_matrices(kind, k, rng, 200, scales(200, -151, -150)),
        "huge": screen_matrices(kind, k, rng, 100, scales(100, 150, 151)),
        "mixed": D[:, :, None] * screen_matrices(kind, k, rng, 100, 1.0) * D[:, None, :],
        "underflow": screen_matrices(kind, k, rng, 100, scales(100, -154, -152) if kind == "norm"
                                     else scales(100, -306, -300)),
    }


_SCREENED: dict = {}


def screened(kind, k):
    """{group: (M, true badness v, thresholds t (m, T), proved (m, T))}, all groups through
    one call of proved_below (cached per kind and side)."""
    if (kind, k) not in _SCREENED:
        rng = np.random.default_rng(k + (0 if kind == "norm" else 50))
        groups = screen_groups(kind, k, rng)
        M = np.concatenate(list(groups.values()))
        v = true_badness(kind, M)
        t = thresholds_for(v)
        T = t.shape[1]
        family = Family(kind, len(M) * T, None)
        proved = proved_below(family, np.repeat(M, T, axis=0), t.ravel()).reshape(t.shape)
        out, at = {}, 0
        for name, G in groups.items():
            out[name] = (G, v[at:at + len(G)], t[at:at + len(G)], proved[at:at + len(G)])
            at += len(G)
        _SCREENED[kind, k] = out
    return _SCREENED[kind, k]


def false_proofs(kind, k, group):
    """(count, largest relative falsity (v - t) / ||M||_2, an example) of proofs of v < t
    where v >= t by more than numpy's own rounding (1e-13 ||M||_2; its solvers are backward
    stable, and scale tiny and huge matrices themselves)."""
    M, v, t, proved = screened(kind, k)[group]
    size = sigma_max(M)[:, None]
    false = proved & (v[:, None] - t > 1e-13 * size)
    if not false.any():
        return 0, 0.0, None
    i, j = np.argwhere(false)[np.argmax(((v[:, None] - t) / size)[false])]
    rel = ((v[:, None] - t) / size)[false].max()
    return int(false.sum()), float(rel), (M[i], v[i], t[i, j])


@pytest.mark.parametrize("kind", ["lambda_min", "norm"])
@pytest.mark.parametrize("k", SIDES)
def test_proved_below_is_sound_and_tight(kind, k):
    """On moderately scaled matrices: proved_below(M, t) is True only where the badness
    (-lambda_min or ||.||_2, by numpy) is below t, over thresholds on both sides of it and the
    edge cases (-inf, 0, negative); and it is True wherever t >= badness + 1e-6 (1 + |badness|),
    so the screen really screens."""
    M, v, t, proved = screened(kind, k)["moderate"]
    false = proved & ~(v[:, None] < t)                 # strictly: none at all here
    assert not false.any(), [(M[i], v[i], t[i, j]) for i, j in np.argwhere(false)[:3]]
    must = np.isfinite(t) & (t >= (v + 1e-6 * (1.0 + np.abs(v)))[:, None])
    missed = must & ~proved
    assert not missed.any(), [(M[i], v[i], t[i, j]) for i, j in np.argwhere(missed)[:3]]
    assert must.sum() >= 3 * len(M)                # the tightness claim was really exercised
    assert not proved[:, -6].any()                 # t = -inf: nothing is below it
    if kind == "norm":                             # t = +inf, 0, -1, -|v|, -2 |v|
        assert not proved[:, -5:].any()


@pytest.mark.parametrize("kind", ["lambda_min", "norm"])
@pytest.mark.parametrize("group", ["tiny", "huge", "mixed", "underflow"])
def test_proved_below_never_proves_a_false_claim_when_badly_scaled(kind, group):
    """Badly scaled matrices (entries ~1e-150, ~1e+150, both in one matrix, and nearer the
    underflow threshold) may go unproved, but a proof must still be true: proved => the
    badness (numpy, which scales such matrices itself) is below t. Every side k."""
    found = {k: false_proofs(kind, k, group) for k in SIDES}
    bad = {k: f"{c} false proofs, claims false by up to {r:.1e} ||M||_2"
           for k, (c, r, _) in found.items() if c}
    assert not bad, (bad, "worst example (M, badness, t):", next(
        e for c, _, e in found.values() if c))


# --- 3. worst_points is the brute-force top -----------------------------------------------------

@pytest.mark.parametrize("name", ["unequal", "equal"])
@pytest.mark.parametrize("kind", ["bounds", "metric"])
@pytest.mark.parametrize("starts", [1, 2])
def test_worst_points_equal_brute_force(cases, name, kind, starts):
    """The `starts` worst values of every quantity, and where, are those of numpy at every one
    of 3000 points (dims [1, 2, 3] and [2, 2, 2]; the bounds families, and the metric families
    at random weights)."""
    case = cases[name]
    values, index, stats = case.run(kind, starts)
    assert_matches_brute(values, index, case.reference(kind), starts)
    assert stats.pairs == POINTS * case.reference(kind).shape[1]


def test_families_agree_with_the_block_by_block_reference(cases):
    """The families' matrices (padded blocks for unequal dims) read by _badness_for (JAX's
    solvers) give numpy's block-by-block values: the two brute forces agree."""
    for name in ("unequal", "equal"):
        case = cases[name]
        J = jnp.asarray(case.J[::7])
        badness = _bounds._badness_for(_bounds_families)(case.game)
        got = np.asarray(jax.jit(jax.vmap(lambda J, f=badness: f((J, J), None)))(J))
        want = case.bounds_bad[::7]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
        metric = _bounds._badness_for(_metric_families)(case.game)
        got = np.asarray(jax.jit(jax.vmap(lambda J, f=metric, m=case.metric: f((J, J), m)))(J))
        want = case.metric_bad[::7]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_one_quantity_is_the_badness_entry(cases):
    """_quantity_for (what the local search climbs: one family's branch, one matrix) gives
    entry q of the whole badness vector, for every q of both badness kinds and at the
    boundaries between families."""
    for name in ("unequal", "equal"):
        case = cases[name]
        J = jnp.asarray(case.J[::97])
        for families_for, params in ((_bounds_families, None), (_metric_families, case.metric)):
            quantity = _bounds._quantity_for(families_for)(case.game)
            Q = sum(f.size for f in families_for(case.game))
            one = jax.jit(jax.vmap(jax.vmap(lambda J, q, f=quantity, p=params: f((J, J), p, q),
                                            in_axes=(None, 0)), in_axes=(0, None)))
            got = np.asarray(one(J, jnp.arange(Q)))
            whole = _bounds._badness_for(families_for)(case.game)
            want = np.asarray(jax.jit(jax.vmap(lambda J, f=whole, p=params: f((J, J), p)))(J))
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * np.abs(want).max())


def test_the_seed_only_permutes_the_order(cases):
    """Different seeds (other processing orders, so other thresholds on the way) give the same
    values and the same points."""
    case = cases["unequal"]
    v0, i0, s0 = case.run("bounds", 2, seed=0)
    for seed in (1, 12345):
        v, i, s = case.run("bounds", 2, seed=seed)
        np.testing.assert_allclose(v, v0, rtol=1e-14, atol=0)
        np.testing.assert_array_equal(i, i0)
        assert s.pairs == s0.pairs


@pytest.mark.parametrize("kind", ["bounds", "metric"])
def test_the_overlapped_run_equals_the_staged_one(cases, kind):
    """The host tests round r while XLA computes round r + 1; timed=True runs the stages one
    after another. Each round is tested against the thresholds left by the rounds before it
    either way, so values, points and the count of exact solves are identical."""
    case = cases["equal"]
    v, i, s = case.run(kind, 2)
    v_staged, i_staged, s_staged = case.run(kind, 2, timed=True)
    np.testing.assert_array_equal(v, v_staged)
    np.testing.assert_array_equal(i, i_staged)
    assert (s.rounds, s.exact_solves) == (s_staged.rounds, s_staged.exact_solves)
    assert set(s_staged.seconds) == {"jacobians", "matrices", "screen", "exact"}


def test_ties_go_to_the_lower_index(cases):
    """Every point twice, in shuffled positions: the two worst of each quantity are the two
    copies of the worst point (exactly tied), lower index first, whatever the seed."""
    case = cases["unequal"]
    # 512 interior points (no symmetric vertex pairs), doubled: one round of the usual size
    P = case.points[100:612]
    bad = case.bounds_bad[100:612]
    top = np.sort(bad, axis=0)[::-1]
    assert (top[0] - top[1] > 1e-9 * (1 + np.abs(top[0]))).all()   # no near tie within P
    perm = np.random.default_rng(3).permutation(2 * len(P))
    doubled = np.concatenate([P, P])[perm]
    for seed in (0, 5):
        values, index, _ = case.run("bounds", 2, seed=seed, points=doubled)
        original = perm[index] % len(P)
        np.testing.assert_array_equal(original[:, 0], np.argmax(bad, axis=0))
        np.testing.assert_array_equal(original[:, 1], original[:, 0])
        assert (index[:, 0] < index[:, 1]).all(), index
        np.testing.assert_array_equal(values[:, 0], values[:, 1])


def test_structurally_zero_blocks_tie_everywhere():
    """A game where player 3 ignores player 1 and player 1 ignores player 2: J_31 and J_12 are
    exactly zero at every point, so every point ties for those couplings and the worst are the
    lowest indices (0, 1), although the seeded order sees them late; the rest is brute force."""
    def f1(x1, x2, x3):
        return 0.5 * x1 @ x1 + 0.1 * jnp.sum(jnp.cos(2.0 * x1)) + x1 @ jnp.tanh(x3[:2])

    def f2(x1, x2, x3):
        return 0.5 * x2 @ x2 + 0.05 * jnp.sum(x2 ** 4) + 0.4 * jnp.sum(jnp.sin(x2) * x1[0] * x3)

    def f3(x1, x2, x3):
        return 0.5 * x3 @ x3 + 0.3 * x3 @ jnp.sin(x2 + x3)

    game = sgn.Game([f1, f2, f3], [2, 1, 3], sgn.Box(-1.0, 1.0), name="zero blocks")
    points = sample_points(game.region, POINTS, 0)
    J = np.asarray(jax.vmap(game.jacobian_fn)(jnp.asarray(points)))
    bad = dense_bounds_badness(game, J, J)
    zero = [3 + 0, 3 + 4]               # L_12 and L_31 in row-major (i != j) order
    assert (bad[:, zero] == 0).all()
    for seed in (0, 3):
        values, index, _ = worst_points(game, "bounds", _bounds_families, None,
                                        points, 2, seed)
        assert_matches_brute(values, index, bad, 2)
        np.testing.assert_array_equal(values[zero], 0.0)
        np.testing.assert_array_equal(index[zero], [[0, 1], [0, 1]])


# --- 4. the screen saves work --------------------------------------------------------------------

def test_screening_solves_few_pairs_exactly(cases):
    """On 3000 points in several rounds, fewer than a quarter of the (point, quantity) pairs
    are solved exactly; the pilot's are (every quantity at the first points); the timed run
    reports each stage."""
    case = cases["unequal"]
    Q = case.bounds_bad.shape[1]
    _, _, stats = case.run("bounds", 2, timed=True)
    assert stats.rounds >= 2
    assert stats.rounds == -(-POINTS // min(_screening.ROUND_POINTS, POINTS))
    assert stats.pairs == POINTS * Q
    assert _screening.PILOT_POINTS * Q <= stats.exact_solves < stats.pairs / 4, stats
    assert {"jacobians", "screen", "exact"} <= set(stats.seconds)
    assert all(s >= 0 for s in stats.seconds.values())
    calls = []
    _, _, untimed = case.run("bounds", 2, progress=lambda *a: calls.append(a))
    assert untimed.seconds == {} and untimed.exact_solves == stats.exact_solves
    assert len(calls) == stats.rounds and calls[-1][:2] == (POINTS, POINTS)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)


# --- 5. few points ----------------------------------------------------------------------------

def test_fewer_points_than_the_pilot_and_a_single_point(cases):
    """5 points (all in the pilot) and a single point give the brute-force answer; with more
    starts than points the missing places are -inf at the sentinel index len(points)."""
    case = cases["unequal"]
    pick = np.array([0, 7, 100, 2000, 2999])
    values, index, stats = case.run("bounds", 2, points=case.points[pick])
    assert stats.rounds == 1
    assert_matches_brute(values, index, case.bounds_bad[pick], 2)
    one = case.points[[1234]]
    values, index, stats = case.run("bounds", 1, points=one)
    np.testing.assert_allclose(values[:, 0], case.bounds_bad[1234], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(index, 0)
    assert stats.rounds == 1 and stats.pairs == stats.exact_solves == values.shape[0]
    values, index, _ = case.run("bounds", 2, points=one)
    np.testing.assert_allclose(values[:, 0], case.bounds_bad[1234], rtol=1e-12, atol=1e-15)
    assert (values[:, 1] == -np.inf).all() and (index[:, 1] == 1).all()
    values, index, _ = case.run("metric", 1, points=one)
    np.testing.assert_allclose(values[:, 0], case.metric_bad[1234], rtol=1e-12, atol=1e-15)


# --- 6. non-finite points --------------------------------------------------------------------

def _nan_cost_game():
    """Cost 1 is NaN where x1 > 0.9; its gradient and Jacobian stay finite (where's
    derivative takes the other branch)."""
    def f1(x1, x2):
        return jnp.where(x1[0] > 0.9, jnp.nan, 0.5 * x1 @ x1 + 0.3 * x1 @ jnp.sin(x2))

    def f2(x1, x2):
        return 0.5 * x2 @ x2 + 0.2 * x2 @ jnp.tanh(x1) + 0.1 * jnp.sum(jnp.cos(x2))

    return sgn.Game([f1, f2], [1, 1], sgn.Box(-1.0, 1.0), name="nan cost")


def _log_game():
    """log(0.5 + x1): cost, gradient and Jacobian NaN for x1 < -0.5, finite elsewhere."""
    def f1(x1, x2):
        return 0.5 * x1 @ x1 + 0.1 * jnp.sum((1.0 + x1) * jnp.log(0.5 + x1)) + x1 @ x2

    def f2(x1, x2):
        return 0.5 * x2 @ x2 - 0.5 * x2 @ jnp.sin(x1)

    return sgn.Game([f1, f2], [1, 1], sgn.Box(-1.0, 1.0), name="log")


def _kink_field_game():
    """Field sqrt|x1 - 0.5|: finite everywhere, its Jacobian not finite at x1 = 0.5 only."""
    def field(x1, x2):
        return (x1 + 0.1 * jnp.sqrt(jnp.abs(x1 - 0.5)) + 0.2 * x2, x2 + 0.1 * jnp.tanh(x1))

    return sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="kink")


NON_FINITE = {
    "nan-cost": (_nan_cost_game, [0.95, -0.3]),
    "log": (_log_game, [-0.75, 0.25]),
    "jacobian-only": (_kink_field_game, [0.5, 0.125]),
}


@pytest.mark.parametrize("which", list(NON_FINITE))
def test_a_non_finite_point_is_named(monkeypatch, which):
    """A point where the costs, the gradient or only the Jacobian are not finite raises
    GameDefinitionError naming that point, whether it falls in the pilot, in the screened
    rest of the first round, in a later round or in the padded last one (rounds of 64)."""
    make, bad_point = NON_FINITE[which]
    game = make()
    monkeypatch.setattr(_screening, "ROUND_POINTS", 64)
    rng = np.random.default_rng(7)
    good = np.column_stack([rng.uniform(-0.4, 0.85, 200), rng.uniform(-1.0, 1.0, 200)])
    good[np.abs(good[:, 0] - 0.5) < 1e-3, 0] = 0.25
    seed = 4

    def run(points):
        return worst_points(game, "bounds", _bounds_families, None, points, 2, seed)

    values, _, stats = run(good)                        # the good points are fine
    assert np.isfinite(values).all() and stats.rounds == 4
    order = np.random.default_rng(seed).permutation(len(good))   # the processing order
    message = re.escape(f"x = [{bad_point[0]:.4g}, {bad_point[1]:.4g}]")
    for position in (0, 31, 32, 63, 64, 150, 199):
        points = good.copy()
        points[order[position]] = bad_point
        with pytest.raises(GameDefinitionError, match=message):
            run(points)
    for raw in (0, 199):                                # wherever the order puts them
        points = good.copy()
        points[raw] = bad_point
        with pytest.raises(GameDefinitionError, match=message):
            run(points)


# --- 7. the table of worst values ------------------------------------------------------------

def test_worst_merge_matches_a_sort():
    """_Worst.merge over several batches (each (point, quantity) pair once, values with ties,
    -inf and NaN, NaN counting as -inf) keeps per quantity the `starts` largest, lower index
    first on ties, -inf at the sentinel where fewer were seen."""
    rng = np.random.default_rng(0)
    for trial in range(60):
        Q = int(rng.integers(1, 6))
        starts = int(rng.integers(1, 5))
        total = int(rng.integers(1, 30))
        pairs = np.array([(p, q) for p in range(total) for q in range(Q)])
        pairs = pairs[rng.random(len(pairs)) < 0.7]
        pairs = pairs[rng.permutation(len(pairs))]
        values = rng.integers(-3, 4, len(pairs)).astype(float)          # many ties
        special = rng.random(len(pairs))
        values[special < 0.15] = -np.inf
        values[(special >= 0.15) & (special < 0.3)] = np.nan
        worst = _Worst.empty(Q, starts, sentinel=total)
        cuts = np.sort(rng.integers(0, len(pairs) + 1, 3))
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(pairs)]):
            worst.merge(pairs[lo:hi, 1], values[lo:hi], pairs[lo:hi, 0])
        np.testing.assert_array_equal(worst.thresholds(), worst.values[:, -1])
        for q in range(Q):
            mine = [(-(-np.inf if np.isnan(v) else v), p)
                    for (p, qq), v in zip(pairs, values) if qq == q]
            mine = sorted(mine)[:starts]
            mine += [(np.inf, total)] * (starts - len(mine))
            want_v = np.array([-a for a, _ in mine])
            want_i = np.array([p for _, p in mine])
            np.testing.assert_array_equal(worst.values[q], want_v, err_msg=f"trial {trial}")
            np.testing.assert_array_equal(worst.index[q], want_i, err_msg=f"trial {trial}")


# --- 8. estimate_bounds end to end ----------------------------------------------------------

def test_estimate_bounds_matches_a_numpy_loop(cases):
    """sgn.estimate_bounds and estimate_in_metric without local search equal a plain numpy
    loop over the same sample points (unequal dims), and each extreme's location is a point
    where numpy finds that value."""
    case = cases["unequal"]
    game, n = case.game, case.game.n_players
    method = sgn.Sampled(samples=POINTS, seed=0, refine_steps=0)
    b = sgn.estimate_bounds(game, method=method)
    np.testing.assert_array_equal(b.points, case.points)
    mu = np.full(n, np.inf)
    L = np.zeros((n, n))
    gamma, beta = np.inf, 0.0
    for J in case.J:
        S = 0.5 * (J + J.T)
        for i in range(n):
            Sii = S[game.block(i, i)]
            mu[i] = min(mu[i], np.linalg.eigvalsh(Sii)[0])
            for j in range(n):
                if i != j:
                    L[i, j] = max(L[i, j], np.linalg.norm(J[game.block(i, j)], 2))
        gamma = min(gamma, np.linalg.eigvalsh(S)[0])
        beta = max(beta, np.linalg.norm(J, 2))
    np.testing.assert_allclose(b.curvature, mu, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.coupling, L, rtol=1e-12, atol=0)
    assert b.euclidean_margin == pytest.approx(gamma, rel=1e-12, abs=1e-14)
    assert b.lipschitz == pytest.approx(beta, rel=1e-12)
    jac = game.jacobian_fn
    for i in range(n):
        J = np.asarray(jac(jnp.asarray(b.locations["curvature"][i])))
        assert np.linalg.eigvalsh(sym(J[game.block(i, i)]))[0] == pytest.approx(mu[i], rel=1e-12)
    J = np.asarray(jac(jnp.asarray(b.locations["lipschitz"])))
    assert np.linalg.norm(J, 2) == pytest.approx(beta, rel=1e-12)

    w = case.root_w[list(game.offsets[:-1])] ** 2
    metric = sgn.estimate_in_metric(game, w, b, method=method)
    s = np.repeat(np.sqrt(w / w[0]), game.dims)
    margins, norms = [], []
    for J in case.J:
        A = s[:, None] * J / s[None, :]
        margins.append(np.linalg.eigvalsh(0.5 * (A + A.T))[0])
        norms.append(np.linalg.norm(A, 2))
    assert metric.margin == pytest.approx(min(margins), rel=1e-12, abs=1e-14)
    assert metric.lipschitz == pytest.approx(max(norms), rel=1e-12)


# --- 9. a Markov game: J_step differs from J ---------------------------------------------------

@pytest.fixture(scope="module")
def markov():
    """2 states, 2 and 3 actions (dims [2, 4]), random tables, a wide region so that the
    Fisher-geometry J_step is far from J. Points, and J, J_step at each by a compiled
    bound_jacobians of its own."""
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(2), size=(2, 2, 3))
    rewards = [rng.uniform(-1, 1, (2, 2, 3)), rng.uniform(-1, 1, (2, 2, 3))]
    game = sgn.MarkovGame(transitions=P, rewards=rewards, discount=0.8, entropy=0.5,
                          radius=1.0, name="small markov")
    points = sample_points(game.region, 200, 0)
    at = jax.jit(game.bound_jacobians)
    pairs = [at(jnp.asarray(x)) for x in points]
    J = np.stack([np.asarray(a) for a, _ in pairs])
    J_step = np.stack([np.asarray(b) for _, b in pairs])
    return game, points, J, J_step


def test_markov_worst_points_read_the_step_jacobian(markov):
    """Fisher geometry: curvature, couplings and the Euclidean margin come from J, Lipschitz
    and the metric quantities from J_step; the worst values and points equal numpy's at every
    point. J_step differs from J enough that reading the wrong one would fail."""
    game, points, J, J_step = markov
    assert game.dims == (2, 4)
    bad = dense_bounds_badness(game, J, J_step)
    wrong = dense_bounds_badness(game, J_step, J)
    assert np.abs(bad.max(axis=0) - wrong.max(axis=0))[-2:].min() > 1e-3
    values, index, _ = worst_points(game, "bounds", _bounds_families, None,
                                    points, 2, 0)
    assert_matches_brute(values, index, bad, 2)
    root_w = np.repeat(np.sqrt([1.0, 2.5]), game.dims)
    values, index, _ = worst_points(game, "metric", _metric_families, game.metric([1.0, 2.5]),
                                    points, 2, 0)
    assert_matches_brute(values, index, dense_metric_badness(J_step, root_w), 2)
