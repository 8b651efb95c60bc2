"""Time and peak memory of `sgn.certify` on a two-player MLP game, dense against matrix-free.

    python benchmarks/bench_matrix_free.py                       # the default sizes
    python benchmarks/bench_matrix_free.py --hidden 48 --skip-dense
    python benchmarks/bench_matrix_free.py --hidden 5 12 22 48 --dense-cap 600

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
from bench_matrix_free import mlp_game
game = mlp_game({hidden})
estimator = {{"dense": sgn.Sampled(), "matrix-free": sgn.MatrixFree()}}[{kind!r}]
t1 = time.perf_counter()
cert = sgn.certify(game, estimator=estimator)
t2 = time.perf_counter()
print(json.dumps({{"d": game.dim, "setup": t1 - t0, "seconds": t2 - t1,
                  "status": cert.status.value, "margin": cert.margin,
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


def run(hidden: int, kind: str, cap: float | None) -> dict:
    import pathlib

    here = pathlib.Path(__file__).resolve().parent
    code = RUNNER.format(root=str(here.parent), here=str(here), hidden=hidden, kind=kind)
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
