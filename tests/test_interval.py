"""Verified bounds: outward-rounded interval arithmetic, Jacobian enclosures, rigorous scalars,
branch and bound, and executors (threads, Dask) that must not change any result."""

from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sgn
from sgn._interval import (
    Interval,
    UnsupportedPrimitive,
    dask_executor,
    enclose_jacobian,
    interval_bounds,
    interval_in_metric,
)
from sgn._interval import _arith as ia
from sgn._interval._rigorous import (
    eigenvalue_range,
    lambda_min_lower,
    lambda_min_upper,
    norm2_lower,
    norm2_upper,
)

# --- arithmetic: exact rational checks -------------------------------------------------------


def _contains(interval, k, exact: Fraction) -> bool:
    return Fraction(float(interval.lo.flat[k])) <= exact <= Fraction(float(interval.hi.flat[k]))


def test_basic_operations_enclose_the_exact_rational_result():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200) * 10.0 ** rng.integers(-300, 300, 200)
    y = rng.standard_normal(200) * 10.0 ** rng.integers(-20, 20, 200)
    X, Y = Interval(x), Interval(y)
    for k in range(200):
        fx, fy = Fraction(float(x[k])), Fraction(float(y[k]))
        assert _contains(ia.add(X, Y), k, fx + fy)
        assert _contains(ia.sub(X, Y), k, fx - fy)
        assert _contains(ia.mul(X, Y), k, fx * fy)
        assert _contains(ia.div(X, Y), k, fx / fy)
        root = ia.sqrt(ia.absolute(X))
        assert Fraction(float(root.lo[k])) ** 2 <= abs(fx) <= Fraction(float(root.hi[k])) ** 2
    # Rounding is visible: 0.1 + 0.2 is not a float, so the enclosure has positive width.
    s = ia.add(Interval(np.array([0.1])), Interval(np.array([0.2])))
    assert s.lo[0] < s.hi[0]


def test_matmul_and_sums_enclose_the_exact_rational_result():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((5, 7)), rng.standard_normal((7, 4)) * 1e-3
    C = ia.matmul(Interval(A), Interval(B))
    for i in range(5):
        for j in range(4):
            exact = sum(Fraction(float(A[i, k])) * Fraction(float(B[k, j])) for k in range(7))
            assert _contains(C, i * 4 + j, exact)
    S = ia.reduce_sum(Interval(A[None]), (2,))
    for i in range(5):
        assert _contains(S, i, sum(Fraction(float(v)) for v in A[i]))


def test_division_by_an_interval_containing_zero_is_the_whole_line():
    q = ia.div(Interval(np.array([1.0])), Interval(np.array([-1.0]), np.array([2.0])))
    assert q.lo[0] == -np.inf and q.hi[0] == np.inf


def test_periodic_functions_find_interior_extrema():
    s = ia.sin(Interval(np.array([1.0]), np.array([2.0])))      # pi/2 inside
    assert s.hi[0] == 1.0 and s.lo[0] <= np.sin(1.0)
    c = ia.cos(Interval(np.array([3.0]), np.array([3.3])))      # pi inside
    assert c.lo[0] == -1.0 and c.hi[0] >= np.cos(3.0)
    wide = ia.sin(Interval(np.array([0.0]), np.array([100.0])))
    assert (wide.lo[0], wide.hi[0]) == (-1.0, 1.0)
    narrow = ia.cos(Interval(np.array([0.1]), np.array([0.2])))  # monotone: no extremum
    assert narrow.hi[0] < 1.0 and narrow.lo[0] > 0.97


# --- enclosures of Jacobians -----------------------------------------------------------------

UNARY = [jnp.sin, jnp.cos, jnp.tanh, jax.nn.sigmoid, lambda t: jnp.exp(0.3 * t),
         lambda t: jnp.log1p(t * t), lambda t: jnp.sqrt(1.0 + t * t), lambda t: t ** 3,
         lambda t: jnp.maximum(t, 0.2) ** 2, lambda t: jnp.where(t > 0.1, t * t, -t),
         lambda t: jnp.log(jnp.cosh(t)), lambda t: 1.0 / (2.0 + t), jnp.arctan,
         lambda t: jnp.abs(t) ** 3 + jnp.clip(t, -0.3, 0.4), lambda t: (t * t + 1.0) ** 0.75]


def random_game(seed: int) -> sgn.Game:
    """Two or three players whose costs mix the supported primitives at random."""
    rng = np.random.default_rng(seed)
    dims = list(rng.integers(1, 3, rng.integers(2, 4)))
    n = len(dims)
    terms = [[(rng.integers(len(UNARY)), j, float(rng.normal())) for j in range(n)]
             for _ in range(n)]
    mats = [[jnp.asarray(rng.standard_normal((dims[i], dims[j]))) for j in range(n)]
            for i in range(n)]

    def make_cost(i):
        def cost(*xs):
            total = 0.5 * xs[i] @ xs[i]
            for op, j, scale in terms[i]:
                total = total + scale * jnp.sum(xs[i] * (mats[i][j] @ UNARY[op](xs[j])))
            return total
        return cost

    return sgn.Game([make_cost(i) for i in range(n)], dims, sgn.Box(-1.5, 1.5),
                    name=f"random-{seed}")


@pytest.mark.parametrize("seed", range(4))
def test_enclosures_contain_brute_force_jacobians_of_random_games(seed):
    game = random_game(seed)
    rng = np.random.default_rng(100 + seed)
    low, high = game.region.low, game.region.high
    a = low + (high - low) * rng.random((24, game.dim))
    b = a + (high - a) * rng.random((24, game.dim)) * rng.choice([0.02, 0.3, 1.0], (24, 1))
    Jlo, Jhi = enclose_jacobian(game, a, b)
    jac = jax.vmap(game.jacobian_fn)
    for _ in range(4):
        x = a + (b - a) * rng.random(a.shape)
        x[:8] = np.where(rng.random((8, game.dim)) < 0.5, a[:8], b[:8])  # corners too
        J = np.asarray(jac(jnp.asarray(x)))
        assert np.all(Jlo <= J) and np.all(J <= Jhi), f"seed {seed}: enclosure misses J"
    assert np.all(np.isfinite(Jlo)) and np.all(np.isfinite(Jhi))


def test_thin_boxes_give_thin_enclosures():
    game = random_game(3)
    x = game.region.centre + 0.1
    Jlo, Jhi = enclose_jacobian(game, x, x)
    J = np.asarray(game.jacobian_fn(jnp.asarray(x)))
    assert np.max(Jhi - Jlo) < 1e-9 * (1 + np.max(np.abs(J)))


def test_unsupported_primitives_are_named():
    def sorted_cost(x1, x2):
        return 0.5 * x1 @ x1 + jnp.sum(jnp.sort(x1) * x2)

    def erf_inv_cost(x1, x2):
        return 0.5 * x1 @ x1 + jnp.sum(jax.lax.erf_inv(0.5 * x1) * x2)

    def plain(x1, x2):
        return 0.5 * x2 @ x2

    for cost, name in [(sorted_cost, "sort"), (erf_inv_cost, "erf_inv")]:
        game = sgn.Game([cost, plain], [2, 2], sgn.Box(-1.0, 1.0))
        with pytest.raises(UnsupportedPrimitive, match=name) as info:
            interval_bounds(game)
        assert isinstance(info.value, sgn.SGNError) and info.value.primitive == name


# --- rigorous scalars ---------------------------------------------------------------------------

def _symmetric_batch(rng, n, count=60):
    A = rng.standard_normal((count, n, n))
    A = A + np.swapaxes(A, 1, 2)
    shift = np.linalg.eigvalsh(A)[:, :1, None] * np.eye(n)
    singular = A - shift                                   # lambda_min = 0 up to rounding
    tiny = singular + 1e-13 * np.eye(n)                    # barely positive definite
    return np.concatenate([A, singular, tiny, 1e8 * A])


@pytest.mark.parametrize("n", [1, 2, 4, 12])
def test_eigenvalue_bounds_enclose_numpy_including_nearly_singular(n):
    rng = np.random.default_rng(n)
    A = _symmetric_batch(rng, n)
    ev = np.linalg.eigvalsh(A)
    low, high = eigenvalue_range(A)
    assert np.all(low <= ev[:, 0]) and np.all(high >= ev[:, -1])
    scale = np.max(np.abs(ev), axis=1)
    assert np.all(ev[:, 0] - low <= 1e-12 * (1 + scale))   # tight, not just safe
    assert np.all(lambda_min_lower(A, A) <= ev[:, 0])
    # The witness bound is >= the exact lambda_min, which numpy only knows to ~n u ||A||.
    witness = lambda_min_upper(A, A)
    assert np.all(np.abs(witness - ev[:, 0]) <= 1e-12 * (1 + scale))
    assert np.all(witness >= low)
    # An interval around A: the bound must hold for its extreme members too.
    lo, hi = A - 0.01, A + 0.01
    assert np.all(lambda_min_lower(lo, hi) <= np.linalg.eigvalsh(lo)[:, 0])


@pytest.mark.parametrize("shape", [(1, 1), (1, 3), (3, 2), (8, 8)])
def test_norm_bounds_enclose_numpy(shape):
    rng = np.random.default_rng(sum(shape))
    A = rng.standard_normal((80, *shape))
    A[:20, :, 0] = 0.0                                     # rank deficient
    sigma = np.linalg.norm(A, 2, axis=(1, 2))
    upper, lower = norm2_upper(A, A), norm2_lower(A, A)
    assert np.all(upper >= sigma) and np.all(lower <= sigma)
    assert np.all(upper - sigma <= 1e-12 * (1 + sigma))
    assert np.all(norm2_upper(A - 0.1, A + 0.1) >= np.linalg.norm(A + 0.1, 2, axis=(1, 2)))


# --- branch and bound -------------------------------------------------------------------------

def f1(x1, x2):
    return 0.5 * x1 @ x1 + 10.0 * x1 @ x2


def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.05 * x1 @ x2


REFERENCE = sgn.Game([f1, f2], [1, 1], sgn.Box(-1.0, 1.0), name="reference")


def test_quadratic_reference_game_verifies_with_the_exact_bounds():
    result = interval_bounds(REFERENCE)
    b = result.bounds
    assert result.outcome == "certified" and b.exact and b.method == "interval"
    # Rigorous: never optimistic ...
    assert np.all(b.curvature <= 1.0) and b.coupling[0, 1] >= 10.0 and b.coupling[1, 0] >= 0.05
    assert b.euclidean_margin <= -4.025
    # ... and equal to the exact values up to rounding.
    assert b.curvature == pytest.approx([1.0, 1.0], abs=1e-13)
    assert b.coupling[0, 1] == pytest.approx(10.0, abs=1e-12)
    assert b.coupling[1, 0] == pytest.approx(0.05, abs=1e-13)
    assert b.euclidean_margin == pytest.approx(-4.025, abs=1e-12)
    weights = sgn.optimize_weights(b.curvature, b.coupling)
    assert weights.margin == pytest.approx(1 - np.sqrt(0.5), abs=1e-9)
    metric = interval_in_metric(REFERENCE, weights.weights, result)
    assert metric.lipschitz >= 1 + np.sqrt(0.5) - 1e-12       # the exact beta is 1.707107
    assert metric.lipschitz == pytest.approx(1 + np.sqrt(0.5), abs=1e-9)


DIP_AT, DIP_WIDTH = 0.3137, 0.004


def dip_field(x1, x2):
    """dF_1/dx_1 = 1 - 1.5 exp(-((x_1 - 0.3137)/0.004)^2): negative only on a sliver."""
    bump = DIP_WIDTH * jnp.sqrt(jnp.pi) / 2 * jax.scipy.special.erf((x1 - DIP_AT) / DIP_WIDTH)
    return x1 - 1.5 * bump + 0.1 * x2, x2 + 0.1 * x1


DIP = sgn.Game.from_field(dip_field, dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="dip")


def test_narrow_curvature_dip_missed_by_sampling_is_caught():
    sampled = sgn.estimate_bounds(DIP, samples=64, seed=0)
    assert sampled.curvature[0] > 0.99          # sampling never saw the dip ...
    assert sgn.optimize_weights(sampled.curvature, sampled.coupling).status.certifiable
    result = interval_bounds(DIP)                # ... branch and bound proves it is there
    assert result.outcome == "refuted"
    assert result.witness["player"] == 1 and result.witness["value"] <= 0
    assert abs(result.witness["point"][0] - DIP_AT) < 3 * DIP_WIDTH
    assert result.bounds.curvature[0] <= -0.5    # valid bound: the true minimum is -0.5


def test_budget_exhaustion_is_inconclusive_and_says_how_far_it_got():
    cascade = sgn.load_game("examples/cascade.py")
    result = interval_bounds(cascade, max_boxes=41)
    assert result.outcome == "inconclusive" and "budget" in result.reason
    assert result.evaluated <= 41 and 0.0 <= result.proved_fraction < 1.0
    assert result.worst_box is not None and "quantity" in result.worst_box
    assert result.bounds.exact                   # still valid bounds, just not good enough
    true_mu = 1 + 0.25 / np.cosh(2.0) ** 2
    assert np.all(result.bounds.curvature <= true_mu)


def w1(x1, x2):
    return 0.5 * x1 @ x1 + 0.1 * jnp.sum(jnp.cos(2.0 * x1)) + x1 @ jnp.tanh(x2)


def w2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x2 @ jnp.sin(x1) + 0.05 * (x2 @ x2) * jnp.sum(x1)


WAVY = sgn.Game([w1, w2], [1, 1], sgn.Box(-1.0, 1.0), name="wavy")


def _fingerprint(result):
    b = result.bounds
    return (result.outcome, result.boxes, result.evaluated, result.rounds,
            b.curvature.tolist(), b.coupling.tolist(), b.euclidean_margin, b.lipschitz,
            result.partition_low.tolist(), result.partition_high.tolist())


def test_results_do_not_depend_on_executor_or_batch_size():
    reference = interval_bounds(WAVY, batch_size=256)
    assert reference.outcome == "certified" and reference.rounds > 1
    # True values: mu = (0.6, 0.9), L12 = 1, L21 = 0.2; the bounds are on the safe side.
    assert np.all(reference.bounds.curvature <= [0.6, 0.9])
    assert reference.bounds.coupling[0, 1] >= 1.0 and reference.bounds.coupling[1, 0] >= 0.2
    expected = _fingerprint(reference)
    assert _fingerprint(interval_bounds(WAVY, batch_size=3)) == expected
    with ThreadPoolExecutor(2) as pool:
        for size in (3, 64):
            assert _fingerprint(interval_bounds(WAVY, executor=pool, batch_size=size)) == expected
    with dask_executor(n_workers=2, processes=False) as cluster:
        for size in (3, 64):
            got = interval_bounds(WAVY, executor=cluster, batch_size=size)
            assert _fingerprint(got) == expected
        weights = sgn.optimize_weights(reference.bounds.curvature, reference.bounds.coupling)
        remote = interval_in_metric(WAVY, weights.weights, reference, executor=cluster)
        local = interval_in_metric(WAVY, weights.weights, reference)
        assert (remote.lipschitz, remote.margin) == (local.lipschitz, local.margin)
        assert remote.margin <= remote.lipschitz


# --- shipping programs to workers, batch sizes -------------------------------------------------

def test_auto_batch_size_and_programs_sent_by_key_do_not_change_results():
    from sgn._interval import _ship

    expected = _fingerprint(interval_bounds(WAVY, batch_size=256))
    assert _fingerprint(interval_bounds(WAVY)) == expected            # batch_size=None: auto
    with ThreadPoolExecutor(2) as pool:
        assert _fingerprint(interval_bounds(WAVY, executor=pool)) == expected
        # Now the pool counts as seeded; a worker that lost the program must get it again.
        _ship._CACHE.clear()
        assert _fingerprint(interval_bounds(WAVY, executor=pool, batch_size=5)) == expected
        assert _ship._sent_keys(pool), "a call without misses leaves the pool marked seeded"


def test_a_task_naming_an_unknown_program_asks_for_it():
    from sgn._interval import _ship
    from sgn._interval._branch import BatchTask, bound_batch
    from sgn._interval._enclose import jacobian_enclosure

    enclosure = jacobian_enclosure(WAVY)
    task = BatchTask(_ship.ProgramRef("0" * 64), WAVY.region.low[None], WAVY.region.high[None])
    with pytest.raises(_ship.ProgramMissing) as info:
        bound_batch(task)
    assert info.value.key == "0" * 64
    import pickle
    assert pickle.loads(pickle.dumps(info.value)).key == "0" * 64    # survives a process hop
    assert len(enclosure.key) == 64 and enclosure.key == _ship.resolve(enclosure).key


def test_batch_size_is_one_task_per_worker_within_limits():
    from sgn._interval._ship import MAX_BATCH, MIN_BATCH, batch_size_for

    assert batch_size_for(1, 2) == MIN_BATCH
    assert batch_size_for(1000, 2) == 500
    assert batch_size_for(10**6, 1) == MAX_BATCH


# --- block bounds and the metric pass's refinement -------------------------------------------

def test_block_bounds_enclose_the_norm_and_margin_of_random_block_matrices():
    from sgn._interval._rigorous import block_lipschitz, block_margin

    rng = np.random.default_rng(7)
    dims = [2, 1, 3]
    edges = np.cumsum([0, *dims])
    for _ in range(50):
        J = rng.standard_normal((6, 6)) + 2.0 * np.eye(6)
        w = np.exp(rng.normal(size=3))
        s = np.sqrt(np.repeat(w, dims))
        M = J * s[:, None] / s[None, :]
        blocks = [[J[edges[i]:edges[i + 1], edges[j]:edges[j + 1]] for j in range(3)]
                  for i in range(3)]
        own = np.array([np.linalg.norm(blocks[i][i], 2) for i in range(3)]) * (1 + 1e-12)
        L = np.array([[0.0 if i == j else np.linalg.norm(blocks[i][j], 2) * (1 + 1e-12)
                       for j in range(3)] for i in range(3)])
        mu = np.array([np.linalg.eigvalsh(0.5 * (b + b.T))[0] for b in
                       (blocks[i][i] for i in range(3))]) - 1e-12
        assert block_lipschitz(own, L, w) >= np.linalg.norm(M, 2)
        assert block_margin(mu, L, w) <= np.linalg.eigvalsh(0.5 * (M + M.T))[0]


def _metric_brute_force(game, w, n=20000):
    rng = np.random.default_rng(3)
    x = game.region.low + game.region.width * rng.random((n, game.dim))
    J = np.asarray(jax.vmap(game.jacobian_fn)(jnp.asarray(x)))
    s = np.sqrt(np.repeat(np.asarray(w) / w[0], game.dims))
    M = J * s[:, None] / s[None, :]
    return (np.linalg.norm(M, 2, axis=(1, 2)).max(),
            np.linalg.eigvalsh(0.5 * (M + np.swapaxes(M, 1, 2)))[:, 0].min())


def test_metric_refinement_tightens_beta_and_stays_rigorous():
    result = interval_bounds(WAVY)
    weights = sgn.optimize_weights(result.bounds.curvature, result.bounds.coupling)
    beta_seen, margin_seen = _metric_brute_force(WAVY, weights.weights)
    plain = interval_in_metric(WAVY, weights.weights, result, max_boxes=0)
    refined = interval_in_metric(WAVY, weights.weights, result, max_boxes=400)
    assert beta_seen <= refined.lipschitz <= plain.lipschitz
    assert refined.lipschitz < plain.lipschitz                 # the refinement did something
    # Block sups sit at different points here, so ||N||_2 stops ~12% above the extreme.
    assert refined.lipschitz <= 1.15 * beta_seen
    assert plain.margin <= refined.margin <= margin_seen
    assert refined.margin >= weights.margin - 1e-9             # never below alpha(w)
    assert refined.evaluated > plain.evaluated


def test_cascade_beta_is_within_a_few_percent_of_the_brute_force_extreme():
    cascade = sgn.load_game("examples/cascade.py")
    result = interval_bounds(cascade)
    weights = sgn.optimize_weights(result.bounds.curvature, result.bounds.coupling).weights
    beta_seen, _ = _metric_brute_force(cascade, weights)
    metric = interval_in_metric(cascade, weights, result, max_boxes=1000)
    assert beta_seen <= metric.lipschitz <= 1.06 * beta_seen   # was 6.52 vs ~2.03 before
    # Euclidean gamma and beta are block-bounded too (they were -8.55 and 13.7 before).
    from sgn._interval._rigorous import block_margin

    b = result.bounds
    gamma_seen = _metric_brute_force(cascade, np.ones(3))[1]
    assert block_margin(b.curvature, b.coupling, np.ones(3)) <= b.euclidean_margin
    assert -4.0 < b.euclidean_margin <= gamma_seen and b.lipschitz < 6.0


# --- how far an inconclusive search got ---------------------------------------------------------

def test_an_inconclusive_result_reports_fraction_boxes_and_worst_box():
    import json

    cascade = sgn.load_game("examples/cascade.py")
    result = interval_bounds(cascade, max_boxes=101)
    assert result.outcome == "inconclusive"
    assert result.boxes == result.partition_low.shape[0] > len(result.partition_owner) - 1
    assert result.boxes > 9                                    # split beyond the 9 root copies
    assert 0.0 <= result.proved_fraction < 1.0
    worst = result.worst_box
    low, high = np.array(worst["low"]), np.array(worst["high"])
    region = cascade.region
    assert np.all(region.low <= low) and np.all(low < high) and np.all(high <= region.high)
    assert worst["quantity"] in {f"curvature mu_{i}" for i in (1, 2, 3)} | {
        f"coupling L_{i}{j}" for i in (1, 2, 3) for j in (1, 2, 3) if i != j}
    assert f"{result.proved_fraction:.1%}" in result.reason
    record = json.loads(json.dumps(result.to_dict(), default=float))
    for key in ("proved_fraction", "boxes", "worst_box", "evaluated", "rounds"):
        assert key in record
    assert "partition_low" not in record and "own_norm" not in record
