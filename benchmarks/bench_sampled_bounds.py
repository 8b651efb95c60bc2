"""How often fresh samples beat the bounds a sampled certificate stores.

    python benchmarks/bench_sampled_bounds.py [--dims 2 5 10 20 40 60 100] [--games 3]
                                              [--fresh 2] [--samples 4096]

`sgn verify` re-runs the sampled estimator with a new seed and fails a certificate when the
fresh run reaches a value beyond a stored bound (a lower curvature, a larger coupling, ...).
This benchmark measures how often that happens under the default settings, on random smooth
games of dimension d = 2 ... 100:

  stored  sgn's sampled bounds at seed 0 (estimate_bounds, then estimate_in_metric at the
          weights the certificate would use), allowance included;
  fresh   the same estimator at seeds 1 ... F; the value it actually reached at a point is its
          bound with its own allowance taken off (the allowance is not a measurement).

A quantity is "beaten" when the fresh value passes the stored bound by more than verify's
rounding tolerance (1e-8 relative + 1e-12 of the scale). Reported per d: the fraction of
(game, fresh seed, quantity) triples beaten, and the fraction of (game, fresh seed) pairs
where verify would have failed (any quantity beaten). The same runs are also scored with the
allowance scaled by 0 (no allowance: the extremes found) and by 2 and 4, to show what the
allowance buys. Run it on an older commit (a git worktree) to compare estimators: bounds
without an `allowances` field are scored as they are.

The games: N = 2 players (3 from d = 6), dims split evenly, on the box [-1, 1]^d, with
f_i(x) = r_i |x_i|^2 / 2 + s * sum_k v_ik tanh(a_ik . x + b_ik), eight tanh units per player
over the whole joint vector, so every Jacobian block varies over the box and its extremes sit
anywhere, inside or on the boundary.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax.numpy as jnp
import numpy as np

import sgn

UNITS = 8
VERIFY_RTOL, VERIFY_ATOL = 1e-8, 1e-12        # sgn/_verify.py: RECOMPUTE_RTOL and the floor
FACTORS = (0.0, 1.0, 2.0, 4.0)


def random_smooth_game(seed: int, d: int) -> sgn.Game:
    rng = np.random.default_rng(seed)
    n = 2 if d < 6 else 3
    dims = [d // n + (1 if i < d % n else 0) for i in range(n)]
    own = rng.uniform(1.0, 3.0, size=n)
    scale = 3.0 / np.sqrt(d)
    A = rng.standard_normal((n, UNITS, d))
    b = rng.uniform(-1.0, 1.0, size=(n, UNITS))
    v = rng.standard_normal((n, UNITS))

    def cost(i):
        def f(*xs):
            x = jnp.concatenate(xs)
            return 0.5 * own[i] * xs[i] @ xs[i] + scale * v[i] @ jnp.tanh(A[i] @ x + b[i])
        return f

    return sgn.Game(costs=[cost(i) for i in range(n)], dims=dims, region=sgn.Box(-1.0, 1.0),
                    name=f"smooth-d{d}-s{seed}")


def measured(bounds, metric) -> dict:
    """Each quantity as a badness (larger is worse): (bound, allowance)."""
    allow = getattr(bounds, "allowances", None) or {}
    m_allow = getattr(metric, "allowances", None) or {}
    n = len(bounds.curvature)
    off = ~np.eye(n, dtype=bool)
    zero_L = np.zeros((n, n))
    out = {}
    for i in range(n):
        out[f"mu_{i + 1}"] = (-bounds.curvature[i],
                              float(np.atleast_1d(allow.get("curvature", np.zeros(n)))[i]))
    for i, j in zip(*np.nonzero(off)):
        out[f"L_{i + 1},{j + 1}"] = (bounds.coupling[i, j],
                                     float(np.asarray(allow.get("coupling", zero_L))[i, j]))
    out["gamma"] = (-bounds.euclidean_margin, float(allow.get("euclidean_margin", 0.0)))
    out["beta"] = (bounds.lipschitz, float(allow.get("lipschitz", 0.0)))
    out["beta(w)"] = (metric.lipschitz, float(m_allow.get("lipschitz", 0.0)))
    out["metric margin"] = (-metric.margin, float(m_allow.get("margin", 0.0)))
    return out


def run_game(game, samples: int, fresh: int, starts: int | None) -> dict:
    def method(seed):
        extra = {} if starts is None else {"refine_starts": starts}
        return sgn.Sampled(samples=samples, seed=seed, **extra)

    t = time.perf_counter()
    b0 = sgn.estimate_bounds(game, method=method(0))
    weights = sgn.optimize_weights(b0.curvature, b0.coupling).weights
    m0 = sgn.estimate_in_metric(game, weights, b0, method=method(0))
    seconds = time.perf_counter() - t
    stored = measured(b0, m0)
    scale = max(abs(v) for v, _ in stored.values())
    beaten = {c: [] for c in FACTORS}
    for seed in range(1, fresh + 1):
        b = sgn.estimate_bounds(game, method=method(seed))
        m = sgn.estimate_in_metric(game, weights, b, method=method(seed))
        now = measured(b, m)
        for c in FACTORS:
            hits = []
            for name, (value, allowance) in stored.items():
                bound = value - allowance + c * allowance    # the raw extreme, then c x allowance
                reached = now[name][0] - now[name][1]
                tol = VERIFY_RTOL * max(abs(bound), abs(reached)) + VERIFY_ATOL * scale
                if reached > bound + tol:
                    hits.append((name, reached - bound))
            beaten[c].append(hits)
    return {"seconds": seconds, "quantities": len(stored), "beaten": beaten}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10, 20, 40, 60, 100])
    parser.add_argument("--games", type=int, default=3, help="random games per dimension")
    parser.add_argument("--fresh", type=int, default=2, help="fresh seeds per game")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--starts", type=int, default=None,
                        help="local-search starts per quantity (default: sgn's)")
    args = parser.parse_args(argv)
    starts = args.starts or sgn.Sampled().refine_starts
    print(f"sgn {sgn.__version__}; {args.games} games per d, {args.fresh} fresh seeds each, "
          f"{args.samples} samples, {starts} search starts per quantity")
    head = " ".join(f"{'x' + format(c, 'g'):>15}" for c in FACTORS)
    print(f"{'d':>4} {'seconds':>8} {'quantities':>10}   beaten quantities / verify failures "
          f"with the allowance scaled by\n{'':>26}{head}")
    totals = {c: [0, 0, 0, 0] for c in FACTORS}
    worst = []
    for d in args.dims:
        rows = [run_game(random_smooth_game(1000 * d + k, d), args.samples, args.fresh,
                         args.starts)
                for k in range(args.games)]
        cells = []
        for c in FACTORS:
            runs = [hits for r in rows for hits in r["beaten"][c]]
            q = sum(r["quantities"] for r in rows) * args.fresh
            hit = sum(len(h) for h in runs)
            failed = sum(bool(h) for h in runs)
            totals[c][0] += hit
            totals[c][1] += q
            totals[c][2] += failed
            totals[c][3] += len(runs)
            cells.append(f"{hit / q:6.1%} /{failed:>2}/{len(runs):<3}")
            if c == 1.0:
                worst += [(d, name, gap) for h in runs for name, gap in h]
        seconds = statistics.median(r["seconds"] for r in rows)
        print(f"{d:>4} {seconds:>8.1f} {rows[0]['quantities']:>10}   " + " ".join(
            f"{cell:>15}" for cell in cells), flush=True)
    print("all" + " " * 23 + " ".join(
        f"{t[0] / t[1]:6.1%} /{t[2]:>2}/{t[3]:<3}".rjust(15) for t in totals.values()))
    if worst:
        print("beaten at the default allowance (d, quantity, by how much):")
        for d, name, gap in sorted(worst, key=lambda w: -w[2])[:10]:
            print(f"  d = {d:>3}  {name:<14} {gap:.3g}")


if __name__ == "__main__":
    main()
