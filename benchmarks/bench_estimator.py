"""Benchmark: batched bound estimator vs a per-sample Python loop (SPEC section 2).

    /work/venv/bin/python benchmarks/bench_estimator.py [--samples 10000] [--repeats 3]

For each nonlinear game (the Jacobian depends on x, so the sampled path runs):

  loop      the baseline: for every sample point, call game.jacobian_fn(x) (already jit-compiled,
            single point) and compute with numpy the same per-sample quantities the estimator
            takes: lambda_min(sym J_ii) per player, ||J_ij||_2 per off-diagonal block,
            lambda_min(sym J) and ||J||_2; keep the running extremes.
  batched   sgn.estimate_bounds(game, samples=S, method=sgn.Sampled(samples=S, refine_steps=0)):
            the same points (sgn's own sampler, same seed), Jacobians in jit+vmap chunks.
  +refine   sgn.estimate_bounds with the default local search on (reported, not compared).

Both sides are warmed up (compiled) first; times are medians over --repeats runs, interleaved
so that machine noise hits all of them alike. The speed-up is loop / batched, measured in the
same run (the machine is shared and noisy: ratios, not absolute times, are the figure of merit).

Correctness: the batched extremes (mu, L, gamma, beta) must equal the loop's to 1e-9, and the
refined ones must be at least as extreme; otherwise the benchmark raises (exit status 1).

A profile of the batched path follows the table: compile time, chunking and padding, the time
in the compiled evaluator split into Jacobians and linear algebra, and the Python overhead of
the driver, plus the loop's split between the jacobian_fn call and numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import sgn
from sgn._sampling import sample_points

TARGET_SPEEDUP = 50.0
TOLERANCE = 1e-9


# --- games ----------------------------------------------------------------------------------

def coupled_game(n: int, dims, seed: int = 0, name: str | None = None) -> sgn.Game:
    """N players with nonlinear own costs and tanh / sin couplings on the box [-1, 1]^d.

    f_i = 1/2 ||x_i||^2 + 0.1 sum cos(2 x_i) + 0.05 sum x_i^4
          + sum_{j != i} [ x_i . tanh(A_ij x_j) + 0.2 sum sin(x_i) * sin(B_ij x_j) ]
    """
    dims = [int(k) for k in (dims if np.ndim(dims) else [dims] * n)]
    rng = np.random.default_rng(seed)
    A = {(i, j): jnp.asarray(rng.normal(size=(dims[i], dims[j])) * 0.6 / np.sqrt(dims[j]))
         for i in range(n) for j in range(n) if i != j}
    B = {(i, j): jnp.asarray(rng.normal(size=(dims[i], dims[j])) / np.sqrt(dims[j]))
         for i in range(n) for j in range(n) if i != j}

    def cost(i):
        def f(*xs):
            xi = xs[i]
            c = 0.5 * jnp.sum(xi ** 2) + 0.1 * jnp.sum(jnp.cos(2.0 * xi)) + 0.05 * jnp.sum(xi ** 4)
            for j in range(n):
                if j != i:
                    c = c + xi @ jnp.tanh(A[i, j] @ xs[j])
                    c = c + 0.2 * jnp.sum(jnp.sin(xi) * jnp.sin(B[i, j] @ xs[j]))
            return c
        return f

    return sgn.Game([cost(i) for i in range(n)], dims, sgn.Box(-1.0, 1.0),
                    name=name or f"tanh dims {dims}")


def games():
    return [
        coupled_game(3, 2, seed=1, name="tanh 3 players x dim 2"),          # d = 6
        coupled_game(4, 6, seed=2, name="tanh 4 players x dim 6"),          # d = 24
        coupled_game(4, [2, 3, 5, 6], seed=3, name="tanh dims [2,3,5,6]"),  # d = 16, unequal
    ]


# --- the two sides --------------------------------------------------------------------------

@dataclasses.dataclass
class Extremes:
    mu: np.ndarray      # min over points of lambda_min(sym J_ii), per player
    L: np.ndarray       # max over points of ||J_ij||_2 (zero diagonal)
    gamma: float        # min over points of lambda_min(sym J)
    beta: float         # max over points of ||J||_2

    def flat(self) -> np.ndarray:
        return np.concatenate([self.mu, self.L.ravel(), [self.gamma, self.beta]])


def loop_extremes(game: sgn.Game, points: np.ndarray) -> Extremes:
    """The baseline: one jitted single-point Jacobian per sample, numpy for the rest."""
    n = game.n_players
    jac = game.jacobian_fn
    blocks = [[game.block(i, j) for j in range(n)] for i in range(n)]
    eigvalsh, svd = np.linalg.eigvalsh, np.linalg.svd
    mu = np.full(n, np.inf)
    L = np.zeros((n, n))
    gamma, beta = np.inf, -np.inf
    for x in points:
        J = np.asarray(jac(x))
        for i in range(n):
            own = J[blocks[i][i]]
            m = eigvalsh(0.5 * (own + own.T))[0]
            if m < mu[i]:
                mu[i] = m
            for j in range(n):
                if j != i:
                    s = svd(J[blocks[i][j]], compute_uv=False)[0]
                    if s > L[i, j]:
                        L[i, j] = s
        g = eigvalsh(0.5 * (J + J.T))[0]
        if g < gamma:
            gamma = g
        b = svd(J, compute_uv=False)[0]
        if b > beta:
            beta = b
    return Extremes(mu, L, float(gamma), float(beta))


def batched_extremes(game: sgn.Game, samples: int, refine: bool) -> Extremes:
    method = sgn.Sampled(samples=samples) if refine else sgn.Sampled(samples=samples,
                                                                      refine_steps=0)
    b = sgn.estimate_bounds(game, samples=samples, method=method)
    return Extremes(np.asarray(b.curvature), np.asarray(b.coupling), b.euclidean_margin,
                    b.lipschitz)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


# --- one game -------------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    game: str
    n: int
    d: int
    samples: int
    cold: float          # first batched call: tracing + XLA compile + run
    loop: float
    batched: float
    refined: float
    max_diff: float

    @property
    def speedup(self) -> float:
        return self.loop / self.batched


def bench_game(game: sgn.Game, samples: int, repeats: int, seed: int = 0) -> Row:
    points = sample_points(game.region, samples, seed)  # exactly the points estimate_bounds uses
    # Warm-up: compile the batched evaluators (both refine settings) and jacobian_fn.
    cold, _ = timed(batched_extremes, game, samples, False)
    batched_extremes(game, samples, True)
    loop_extremes(game, points[:64])

    t_loop, t_batch, t_ref = [], [], []
    for _ in range(repeats):  # interleaved, so that noise hits all three alike
        t, loop = timed(loop_extremes, game, points)
        t_loop.append(t)
        t, batch = timed(batched_extremes, game, samples, False)
        t_batch.append(t)
        t, refined = timed(batched_extremes, game, samples, True)
        t_ref.append(t)

    diff = np.abs(loop.flat() - batch.flat())
    max_diff = float(np.max(diff))
    if not max_diff <= TOLERANCE:
        k = int(np.argmax(diff))
        raise AssertionError(
            f"{game.name}: batched and loop extremes differ by {max_diff:.3e} > {TOLERANCE:g} "
            f"(entry {k}: loop {loop.flat()[k]!r}, batched {batch.flat()[k]!r})"
        )
    # Refinement only moves extremes outwards: it starts from the sampled worst points.
    slack = 1e-12
    ok = ((refined.mu <= batch.mu + slack).all() and (refined.L >= batch.L - slack).all()
          and refined.gamma <= batch.gamma + slack and refined.beta >= batch.beta - slack)
    if not ok:
        raise AssertionError(f"{game.name}: refined bounds are less extreme than sampled ones")
    return Row(game.name, game.n_players, game.dim, samples, cold,
               statistics.median(t_loop), statistics.median(t_batch), statistics.median(t_ref),
               max_diff)


# --- profile of the batched path ------------------------------------------------------------

def profile(game: sgn.Game, samples: int, repeats: int, seed: int = 0) -> list[str]:
    """Where the batched time goes; uses sgn internals, so it degrades to a note if they move."""
    try:
        from sgn import _bounds
        chunk = _bounds._chunk_size(game.dim, samples)
        starts = max(1, min(sgn.Sampled().refine_starts, chunk))
        evaluate = _bounds._chunk_evaluator(game, _bounds._bounds_badness(game), starts)
    except Exception as exc:  # pragma: no cover - internals changed
        return [f"  profile unavailable ({type(exc).__name__}: {exc})"]

    chunks = -(-samples // chunk)
    padded = chunks * chunk
    X = sample_points(game.region, samples, seed)
    X = np.concatenate([X, np.repeat(X[:1], padded - samples, axis=0)])
    Xc = [jnp.asarray(X[k * chunk:(k + 1) * chunk]) for k in range(chunks)]
    jac = jax.jit(jax.vmap(game.jacobian))
    badness = _bounds._bounds_badness(game)
    lin = jax.jit(jax.vmap(lambda J: badness(J, None)))
    Js = [jac(x) for x in Xc]
    jax.block_until_ready((evaluate(Xc[0], None), lin(Js[0])))

    def med(fn):
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    t_sample = med(lambda: sample_points(game.region, samples, seed))
    t_eval = med(lambda: [evaluate(x, None) for x in Xc])
    t_jac = med(lambda: [jac(x) for x in Xc])
    t_lin = med(lambda: [lin(J) for J in Js])
    t_total = med(lambda: sgn.estimate_bounds(
        game, samples=samples, method=sgn.Sampled(samples=samples, refine_steps=0)))
    t_exact = None
    if padded != samples:  # the same evaluator on exactly `samples` points (no padding)
        exact = _bounds._chunk_evaluator(game, badness, starts)
        Xe = jnp.asarray(X[:samples]) if chunks == 1 else None
        if Xe is not None:
            jax.block_until_ready(exact(Xe, None))
            t_exact = med(lambda: exact(Xe, None))

    # The loop's split: the jitted single-point call alone vs the numpy linear algebra.
    pts = X[: min(samples, 2000)]
    t_call = med(lambda: [np.asarray(game.jacobian_fn(x)) for x in pts]) / len(pts)
    t_loop = med(lambda: loop_extremes(game, pts)) / len(pts)

    us = 1e6 / samples
    lines = [
        f"  {game.name} (d = {game.dim}, {samples} samples):",
        f"    chunk {chunk} points x {chunks} chunk(s) = {padded} evaluated "
        f"({100 * (padded - samples) / samples:.0f}% padding)",
        f"    estimate_bounds(refine_steps=0)  {t_total:8.4f} s  ({t_total * us:6.1f} us/sample)",
        f"      sample_points                  {t_sample:8.4f} s",
        f"      compiled evaluator, all chunks {t_eval:8.4f} s  ({t_eval * us:6.1f} us/sample)",
        f"        vmapped Jacobians only       {t_jac:8.4f} s",
        f"        per-point linear algebra     {t_lin:8.4f} s  "
        f"(eigvalsh/svd of sym J, J, J_ii, all N^2 blocks J_ij)",
        f"      driver overhead (rest)         {max(0.0, t_total - t_eval - t_sample):8.4f} s",
    ]
    if t_exact is not None:
        lines.append(f"    evaluator on exactly {samples} points (no padding): {t_exact:.4f} s "
                     f"({t_eval / t_exact:.2f}x less than padded)")
    lines += [
        f"    loop, per sample: {1e6 * t_loop:6.1f} us, of which jacobian_fn call "
        f"{1e6 * t_call:5.1f} us and numpy {1e6 * (t_loop - t_call):5.1f} us "
        f"({game.n_players + game.n_players * (game.n_players - 1) + 2} small LAPACK calls)",
    ]
    return lines


# --- main -----------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-profile", action="store_true", help="skip the profile section")
    ap.add_argument("--strict", action="store_true",
                    help="exit 2 when the speed-up target is not met (default: report only)")
    args = ap.parse_args(argv)
    repeats = max(3, args.repeats)

    print(f"sgn {sgn.__version__}, jax {jax.__version__}, numpy {np.__version__}, "
          f"python {platform.python_version()}, {jax.devices()[0].platform}")
    print(f"samples {args.samples}, median of {repeats} repeats, target speed-up "
          f">= {TARGET_SPEEDUP:g}x (loop / batched, refine_steps=0)\n")
    rows, notes = [], []
    for game in games():
        rows.append(bench_game(game, args.samples, repeats))
        if not args.no_profile:
            notes += profile(game, args.samples, repeats)

    head = (f"{'game':<24} {'N':>2} {'d':>3} {'samples':>7} {'cold s':>7} {'loop s':>7} "
            f"{'batched s':>9} {'+refine s':>9} {'speed-up':>8} {'max|diff|':>9}  target")
    print(head)
    print("-" * len(head))
    met_all = True
    for r in rows:
        met = r.speedup >= TARGET_SPEEDUP
        met_all &= met
        print(f"{r.game:<24} {r.n:>2} {r.d:>3} {r.samples:>7} {r.cold:>7.2f} {r.loop:>7.3f} "
              f"{r.batched:>9.3f} {r.refined:>9.3f} {r.speedup:>7.1f}x {r.max_diff:>9.1e}  "
              f"{'met' if met else 'NOT met'}")
    print()
    print("cold = first estimate_bounds call on a fresh game (trace + compile + run); loop, "
          "batched, +refine = warm medians.")
    print(f"extremes agree to {TOLERANCE:g} on every game: yes (checked; a mismatch raises)")
    print(f"speed-up target >= {TARGET_SPEEDUP:g}x at {args.samples} samples: "
          f"{'met' if met_all else 'NOT met'}")
    if notes:
        print("\nprofile of the batched path (warm medians):")
        print("\n".join(notes))
    return 2 if (args.strict and not met_all) else 0


if __name__ == "__main__":
    sys.exit(main())
