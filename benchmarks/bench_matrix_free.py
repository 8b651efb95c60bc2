"""Time and peak memory of `sgn.certify` on a two-player MLP game, dense against matrix-free.

    python benchmarks/bench_matrix_free.py                       # the default sizes
    python benchmarks/bench_matrix_free.py --hidden 48 --skip-dense
    python benchmarks/bench_matrix_free.py --hidden 5 12 22 48 --dense-cap 600
    python benchmarks/bench_matrix_free.py --wide 1000 10000 100000 --repeats 3

--wide D: instead of the MLP game, `wide_game(D)`: two players of D / 2 coordinates each,
diagonal quadratic plus cosine own costs and tanh couplings through a shifted copy of the other
player (a product is O(D), so D = 10^5 fits in memory: the issue's largest two-player size),
with closed-form curvatures and couplings. --repeats runs each size that many times (each its
own subprocess) and the medians are printed.

The game is a small GAN on flat parameter vectors: a generator 4 -> h -> h -> 2 and a
discriminator 2 -> h -> h -> 1, both tanh, on a fixed batch of 64 points of a 2-D mixture of
Gaussians and 64 latent draws, each cost with an L2 term (weight 1) so that it can be certified;
the region is a box of half-width 0.05 around a seeded parameter point. h = 48 is the issue's
d = 5,235 game. Each run is its own subprocess: its peak memory is the child's ru_maxrss (XLA's
buffers included, which tracemalloc does not see), its time the wall time of certify alone
(import, game construction and tracing excluded: printed apart). The dense baseline is stopped
at --dense-cap seconds.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

RUNNER = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
t0 = time.perf_counter()
import numpy as np, sgn
sys.path.insert(0, {here!r})
from bench_matrix_free import mlp_game, wide_game
game = {maker}
estimator = {{"dense": sgn.Sampled(), "matrix-free": sgn.MatrixFree()}}[{kind!r}]
t1 = time.perf_counter()
cert = sgn.certify(game, estimator=estimator)
t2 = time.perf_counter()
print(json.dumps({{"d": game.dim, "setup": t1 - t0, "seconds": t2 - t1,
                  "status": cert.status.value, "margin": cert.margin,
                  "evaluated": cert.estimator.get("jacobian_evaluations"),
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def mlp_game(hidden: int, *, seed: int = 0, radius: float = 0.05, batch: int = 64,
             l2: float = 1.0):
    """The two-player MLP game (module doc) with hidden width `hidden`."""
    import jax.numpy as jnp
    import numpy as np

    import sgn

    rng = np.random.default_rng(seed)
    G_shapes = [(4, hidden), (hidden,), (hidden, hidden), (hidden,), (hidden, 2), (2,)]
    D_shapes = [(2, hidden), (hidden,), (hidden, hidden), (hidden,), (hidden, 1), (1,)]
    sizes = [int(np.prod(s)) for s in G_shapes], [int(np.prod(s)) for s in D_shapes]

    def unflatten(theta, shapes, counts):
        out, at = [], 0
        for shape, n in zip(shapes, counts):
            out.append(theta[at:at + n].reshape(shape))
            at += n
        return out

    def mlp(params, x):
        W1, b1, W2, b2, W3, b3 = params
        return jnp.tanh(jnp.tanh(x @ W1 + b1) @ W2 + b2) @ W3 + b3

    centres = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    real = jnp.asarray(centres[rng.integers(0, 4, batch)] + 0.1 * rng.standard_normal((batch, 2)))
    latent = jnp.asarray(rng.standard_normal((batch, 4)))

    def generated(g):
        return mlp(unflatten(g, G_shapes, sizes[0]), latent)

    def critic(d, x):
        return mlp(unflatten(d, D_shapes, sizes[1]), x)[:, 0]

    def f_generator(g, d):
        return -jnp.mean(critic(d, generated(g))) + 0.5 * l2 * g @ g

    def f_discriminator(g, d):
        return (-jnp.mean(critic(d, real)) + jnp.mean(critic(d, generated(g)))
                + 0.5 * l2 * d @ d)

    dims = [sum(sizes[0]), sum(sizes[1])]
    point = np.concatenate([rng.standard_normal(n) / np.sqrt(max(shape[0], 1))
                            for sizes_, shapes in zip(sizes, (G_shapes, D_shapes))
                            for n, shape in zip(sizes_, shapes)])
    return sgn.Game([f_generator, f_discriminator], dims,
                    sgn.Box(point - radius, point + radius), name=f"mlp-gan-h{hidden}",
                    names=["generator", "discriminator"])


def wide_game(dim: int, *, lam1: float = 0.8, lam2: float = 0.6):
    """Two players x, y of dim // 2 coordinates on the box [-1, 1]^dim:

        f_1 = 1/2 sum h_1 x^2 + 0.05 sum cos x + lam1 x . tanh(y + 0.5 roll(y, 1))
        f_2 = 1/2 sum h_2 y^2 + 0.05 sum cos y - lam2 y . tanh(x + 0.5 roll(x, -1))

    h_1 from 1 to 3, h_2 from 2 to 4, so mu_1 = 1 - 0.05 and mu_2 = 2 - 0.05 (at x = 0, y = 0);
    J_12 = lam1 diag(sech^2(.)) (I + 0.5 P), largest at y = 0: L_12 = 1.5 lam1, L_21 =
    1.5 lam2. Every product is O(dim): no matrix is stored.
    """
    import jax.numpy as jnp
    import numpy as np

    import sgn

    n = dim // 2
    h1, h2 = jnp.linspace(1.0, 3.0, n), jnp.linspace(2.0, 4.0, n)

    def f1(x, y):
        return (0.5 * jnp.sum(h1 * x ** 2) + 0.05 * jnp.sum(jnp.cos(x))
                + lam1 * x @ jnp.tanh(y + 0.5 * jnp.roll(y, 1)))

    def f2(x, y):
        return (0.5 * jnp.sum(h2 * y ** 2) + 0.05 * jnp.sum(jnp.cos(y))
                - lam2 * y @ jnp.tanh(x + 0.5 * jnp.roll(x, -1)))

    return sgn.Game([f1, f2], [n, n], sgn.Box(-np.ones(2 * n), np.ones(2 * n)),
                    name=f"wide-{2 * n}")


def run(hidden: int, kind: str, cap: float | None, wide: int | None = None) -> dict:
    import pathlib

    here = pathlib.Path(__file__).resolve().parent
    maker = f"mlp_game({hidden})" if wide is None else f"wide_game({wide})"
    code = RUNNER.format(root=str(here.parent), here=str(here), maker=maker, kind=kind)
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=cap)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "hidden": hidden, "seconds": None,
                "note": f"stopped at {cap:g} s"}
    if done.returncode != 0:
        return {"kind": kind, "hidden": hidden, "seconds": None,
                "note": "failed: " + done.stderr.strip().splitlines()[-1][:120]}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out.update(kind=kind, hidden=hidden, wall=time.perf_counter() - start)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[5, 12, 22, 48])
    parser.add_argument("--dense-cap", type=float, default=300.0,
                        help="seconds after which a dense run is stopped")
    parser.add_argument("--cap", type=float, default=1800.0,
                        help="seconds after which a matrix-free run is stopped")
    parser.add_argument("--skip-dense", action="store_true")
    parser.add_argument("--wide", type=int, nargs="+", default=None,
                        help="total sizes D of the wide two-player game (matrix-free only)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.wide:
        return wide(args)
    rows = []
    print(f"{'h':>4} {'d':>7} {'estimator':>12} {'certify s':>10} {'setup s':>8} "
          f"{'peak MB':>8}  status / note", flush=True)
    dense_stopped = False
    for h in args.hidden:
        kinds = ["matrix-free"] + ([] if args.skip_dense or dense_stopped else ["dense"])
        for kind in kinds:
            r = run(h, kind, args.dense_cap if kind == "dense" else args.cap)
            rows.append(r)
            if r.get("seconds") is None:
                dense_stopped |= kind == "dense"
                print(f"{h:>4} {'':>7} {kind:>12} {'-':>10} {'-':>8} {'-':>8}  {r['note']}",
                      flush=True)
            else:
                print(f"{h:>4} {r['d']:>7} {kind:>12} {r['seconds']:>10.1f} {r['setup']:>8.1f} "
                      f"{r['maxrss_mb']:>8.0f}  {r['status']} (margin {r['margin']:.4g})",
                      flush=True)
    for h in args.hidden:
        pair = {r["kind"]: r for r in rows if r["hidden"] == h and r.get("seconds")}
        if len(pair) == 2:
            print(f"h = {h}: dense / matrix-free time {pair['dense']['seconds'] / pair['matrix-free']['seconds']:.2f}x, "
                  f"memory {pair['dense']['maxrss_mb'] / pair['matrix-free']['maxrss_mb']:.2f}x")


def wide(args):
    """The wide game at each size, matrix-free, `repeats` subprocesses each: medians."""
    import statistics

    print(f"{'d':>7} {'runs':>4} {'certify s (median)':>19} {'peak MB (median)':>17}  "
          f"all times / status", flush=True)
    for dim in args.wide:
        runs = [run(0, "matrix-free", args.cap, wide=dim) for _ in range(args.repeats)]
        done = [r for r in runs if r.get("seconds") is not None]
        if not done:
            print(f"{dim:>7} {len(runs):>4} {'-':>19} {'-':>17}  {runs[0]['note']}", flush=True)
            continue
        print(f"{done[0]['d']:>7} {len(done):>4} "
              f"{statistics.median(r['seconds'] for r in done):>19.1f} "
              f"{statistics.median(r['maxrss_mb'] for r in done):>17.0f}  "
              f"{[round(r['seconds'], 1) for r in done]} {done[0]['status']} "
              f"(margin {done[0]['margin']:.4g}, setup {done[0]['setup']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
