"""Benchmark: batched bound estimator vs a per-sample Python loop (docs/method.md, section 1).

    python benchmarks/bench_estimator.py [--samples 10000] [--repeats 3]

For each nonlinear game (the Jacobian depends on x, so the sampled path runs):

  loop      the baseline: for every sample point, call game.jacobian_fn(x) (already jit-compiled,
            single point) and compute with numpy the same per-sample quantities the estimator
            takes: lambda_min(sym J_ii) per player, ||J_ij||_2 per off-diagonal block,
            lambda_min(sym J) and ||J||_2; keep the running extremes.
  batched   sgn.estimate_bounds(game, samples=S, method=sgn.Sampled(samples=S, refine_steps=0)):
            the same points (sgn's own sampler, same seed), Jacobians in jit+vmap rounds, a
            Cholesky screen, exact solves only where the screen cannot rule a point out.
  +refine   sgn.estimate_bounds with the default local search on (reported, not compared).

Both sides are warmed up (compiled) first; times are medians over --repeats runs, interleaved
so that machine noise hits all of them alike. The speed-up is loop / batched, measured in the
same run (the machine is shared and noisy: ratios, not absolute times, are the figure of merit).

Correctness: the batched extremes (mu, L, gamma, beta) must equal the loop's to 1e-9, and the
refined ones must be at least as extreme; otherwise the benchmark raises (exit status 1).

A profile of the batched path follows the table: rounds and exact solves of the screen
(sgn/_screening.py), the time per stage (Jacobians, the families' matrices, the Cholesky
test, exact solves; measured one after another, whereas an untimed run overlaps the host's
test and solves with the next round's Jacobians), what exact solves at every point would cost
instead, and the loop's split between the jacobian_fn call and numpy.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import os
import platform
import signal
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import sgn
from sgn._sampling import sample_points
from sgn._testing.games import coupled_game

TARGET_SPEEDUP = 50.0
TOLERANCE = 1e-9


# --- games ----------------------------------------------------------------------------------

def games(refine_unequal: bool = True):
    """(game, time the refined call too?) pairs.

    --no-refine-unequal skips the refined call on the unequal-dims game: before commit e08a5fc
    it deadlocked there on 2 cores (jaxlib LAPACK kernels starving the XLA thread pool; see
    benchmarks/repro_refine_hang.py). The watchdog (--timeout) ends the run if it hangs.
    """
    return [
        (coupled_game(3, 2, seed=1, name="tanh 3 players x dim 2"), True),           # d = 6
        (coupled_game(4, 6, seed=2, name="tanh 4 players x dim 6"), True),           # d = 24
        (coupled_game(4, [2, 3, 5, 6], seed=3, name="tanh dims [2,3,5,6]"),
         refine_unequal),                                                         # d = 16
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
            mu[i] = min(mu[i], eigvalsh(0.5 * (own + own.T))[0])
            for j in range(n):
                if j != i:
                    L[i, j] = max(L[i, j], svd(J[blocks[i][j]], compute_uv=False)[0])
        gamma = min(gamma, eigvalsh(0.5 * (J + J.T))[0])
        beta = max(beta, svd(J, compute_uv=False)[0])
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
    refined: float | None  # None: not timed (see games())
    max_diff: float

    @property
    def speedup(self) -> float:
        return self.loop / self.batched


def bench_game(game: sgn.Game, samples: int, repeats: int, seed: int = 0,
               refine: bool = True) -> Row:
    points = sample_points(game.region, samples, seed)  # exactly the points estimate_bounds uses
    # Warm-up: compile the batched evaluators (both refine settings) and jacobian_fn.
    cold, _ = timed(batched_extremes, game, samples, False)
    if refine:
        batched_extremes(game, samples, True)
    loop_extremes(game, points[:64])

    t_loop, t_batch, t_ref = [], [], []
    for _ in range(repeats):  # interleaved, so that noise hits all three alike
        t, loop = timed(loop_extremes, game, points)
        t_loop.append(t)
        t, batch = timed(batched_extremes, game, samples, False)
        t_batch.append(t)
        if refine:
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
    if refine and not ((refined.mu <= batch.mu + slack).all()
                       and (refined.L >= batch.L - slack).all()
                       and refined.gamma <= batch.gamma + slack
                       and refined.beta >= batch.beta - slack):
        raise AssertionError(f"{game.name}: refined bounds are less extreme than sampled ones")
    return Row(game.name, game.n_players, game.dim, samples, cold,
               statistics.median(t_loop), statistics.median(t_batch),
               statistics.median(t_ref) if refine else None, max_diff)


# --- profile of the batched path ------------------------------------------------------------

def profile(game: sgn.Game, samples: int, repeats: int, seed: int = 0) -> list[str]:
    """Where the batched time goes; uses sgn internals, so it degrades to a note if they move."""
    try:
        from sgn import _bounds, _screening

        def run(timed):
            points = sample_points(game.region, samples, seed)
            return _screening.worst_points(
                game, "bounds", _bounds._bounds_families, None, points,
                sgn.Sampled().refine_starts, seed, timed=timed)[2]

        run(True)
    except Exception as exc:  # noqa: BLE001  (internals changed)
        return [f"  profile unavailable ({type(exc).__name__}: {exc})"]

    def med(fn):
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    method = sgn.Sampled(samples=samples, refine_steps=0)
    t_total = med(lambda: sgn.estimate_bounds(game, samples=samples, method=method))
    staged = [run(True) for _ in range(repeats)]
    stats = staged[0]
    stage = {k: statistics.median(s.seconds.get(k, 0.0) for s in staged)
             for k in ("jacobians", "matrices", "screen", "exact")}
    t_staged = statistics.median(sum(s.seconds.values()) for s in staged)
    t_sample = med(lambda: sample_points(game.region, samples, seed))
    # What the screen replaces: the exact solves at every point, batched (jaxlib LAPACK).
    J = jax.block_until_ready(jax.jit(jax.vmap(game.jacobian))(
        jnp.asarray(sample_points(game.region, min(samples, 2000), seed))))
    exact = jax.jit(jax.vmap(lambda J: _bounds._badness_for(_bounds._bounds_families)(game)(
        (J, J), None)))
    jax.block_until_ready(exact(J))
    t_exact = med(lambda: jax.block_until_ready(exact(J))) / len(J)

    # The loop's split: the jitted single-point call alone vs the numpy linear algebra.
    pts = sample_points(game.region, min(samples, 2000), seed)
    t_call = med(lambda: [np.asarray(game.jacobian_fn(x)) for x in pts]) / len(pts)
    t_loop = med(lambda: loop_extremes(game, pts)) / len(pts)

    n = game.n_players
    us = 1e6 / samples
    lines = [
        f"  {game.name} (d = {game.dim}, {samples} samples):",
        (f"    {stats.rounds} rounds; exact solves {stats.exact_solves} of {stats.pairs} "
         f"(point, quantity) pairs ({100 * stats.exact_solves / stats.pairs:.1f}%)"),
        f"    estimate_bounds(refine_steps=0)     {t_total:7.3f} s  ({t_total * us:6.1f} us/point)",
        f"      sample_points                     {t_sample:7.3f} s",
        f"      stages one after another          {t_staged:7.3f} s  (overlapped when not timed)",
    ]
    names = {"jacobians": "vmapped Jacobians (+ finiteness)",
             "matrices": "the families' matrices (XLA)",
             "screen": "Cholesky test (numba, host)",
             "exact": "exact solves (numpy, host)"}
    for key, name in names.items():
        lines.append(f"        {name:<31} {stage[key]:7.3f} s  ({stage[key] * us:6.1f} us/point)")
    lines.append(f"    exact solves at every point instead (jaxlib, batched): "
                 f"{1e6 * t_exact:6.1f} us/point")
    lines.append(
        f"    loop, per sample: {1e6 * t_loop:6.1f} us = jacobian_fn call {1e6 * t_call:5.1f} us"
        f" + numpy {1e6 * (t_loop - t_call):5.1f} us "
        f"({n + n * (n - 1) + 2} small LAPACK calls)")
    return lines


def revision() -> str:
    """The sgn checkout's commit, '+dirty' when sgn/ has uncommitted edits (or 'unknown')."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(sgn.__file__)))
    def git(*args):
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "sgn")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"


def _opt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


# --- main -----------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-profile", action="store_true", help="skip the profile section")
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="watchdog: dump all threads' stacks and exit 1 after this many seconds")
    ap.add_argument("--no-refine-unequal", action="store_true",
                    help="skip the refined call on the unequal-dims game (it deadlocked "
                         "before sgn commit e08a5fc; see repro_refine_hang.py)")
    ap.add_argument("--strict", action="store_true",
                    help="exit 2 when the speed-up target is not met (default: report only)")
    args = ap.parse_args(argv)
    repeats = max(3, args.repeats)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 <pid>: where is it?
    faulthandler.dump_traceback_later(args.timeout, exit=True)  # a hang fails loudly

    print(f"sgn {sgn.__version__} ({revision()}), jax {jax.__version__}, "
          f"numpy {np.__version__}, python {platform.python_version()}, "
          f"{jax.devices()[0].platform}, {os.cpu_count()} cpus")
    print(f"samples {args.samples}, median of {repeats} repeats, target speed-up "
          f">= {TARGET_SPEEDUP:g}x (loop / batched, refine_steps=0)\n")
    rows, todo = [], games(not args.no_refine_unequal)
    for game, refine in todo:
        rows.append(bench_game(game, args.samples, repeats, refine=refine))
        r = rows[-1]
        print(f"  done {r.game}: loop {r.loop:.3f} s, batched {r.batched:.3f} s "
              f"({r.speedup:.1f}x)", flush=True)

    head = (f"{'game':<24} {'N':>2} {'d':>3} {'samples':>7} {'cold s':>7} {'loop s':>7} "
            f"{'batched s':>9} {'+refine s':>9} {'speed-up':>8} {'max|diff|':>9}  target")
    print(head)
    print("-" * len(head))
    met_all = True
    for r in rows:
        met = r.speedup >= TARGET_SPEEDUP
        met_all &= met
        print(f"{r.game:<24} {r.n:>2} {r.d:>3} {r.samples:>7} {r.cold:>7.2f} {r.loop:>7.3f} "
              f"{r.batched:>9.3f} {_opt(r.refined):>9} {r.speedup:>7.1f}x {r.max_diff:>9.1e}  "
              f"{'met' if met else 'NOT met'}")
    print()
    print("cold = first estimate_bounds call on a fresh game (trace + compile + run); loop, "
          "batched, +refine = warm medians.")
    if any(r.refined is None for r in rows):
        print("+refine n/a: skipped (--no-refine-unequal).")
    print(f"extremes agree to {TOLERANCE:g} on every game: yes (checked; a mismatch raises)")
    print(f"speed-up target >= {TARGET_SPEEDUP:g}x at {args.samples} samples: "
          f"{'met' if met_all else 'NOT met'}")
    if not args.no_profile:  # after the table, so that a hang here loses no result
        print("\nprofile of the batched path (warm medians):", flush=True)
        for game, _ in todo:
            print("\n".join(profile(game, args.samples, repeats)), flush=True)
    faulthandler.cancel_dump_traceback_later()
    return 2 if (args.strict and not met_all) else 0


if __name__ == "__main__":
    sys.exit(main())
