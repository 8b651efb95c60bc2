"""Certify time and peak memory against the number of players N (issue 14, "Many players").

The network example (examples/network_game.py: scalar players on a small-world graph of
degree 6, tiers of one-sided influence; the Euclidean test fails and SGN certifies) for
N = 10^2 ... 10^4, by the sparse path (sgn.SparseSampled, chosen by certify), against the
dense path (sgn.Sampled with the same number of samples) where it finishes within its time
limit. Each run is a fresh process: its peak resident memory (ru_maxrss) is the run's own,
and the time includes JAX compilation (what a user of `sgn certify` waits for), with the
first stages timed apart.

    python benchmarks/bench_many_players.py                  # the table in benchmarks/README.md
    python benchmarks/bench_many_players.py --sizes 100 1000 --dense-sizes 50
    python benchmarks/bench_many_players.py --pattern 10000    # asdex against probing
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RUN = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import sgn
from sgn._load import load_game
n, dense, samples = int(sys.argv[1]), sys.argv[2] == "dense", int(sys.argv[3])
game = load_game(sys.argv[4], {"n_players": n})
t1 = time.perf_counter()
if dense:
    cert = sgn.certify(game, estimator=sgn.Sampled(samples=samples))
else:
    cert = sgn.certify(game, samples=samples)
t2 = time.perf_counter()
text = cert.to_json()
t3 = time.perf_counter()
print(json.dumps({
    "n": n, "path": "dense" if dense else "sparse", "status": cert.status.value,
    "gamma": cert.bounds["euclidean_margin"], "alpha": cert.margin,
    "blocks": game.block_pattern.nnz - n if hasattr(game, "block_pattern") else None,
    "build_s": t1 - t0, "certify_s": t2 - t1, "json_s": t3 - t2,
    "json_mb": len(text) / 2**20,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run(n: int, path: str, samples: int, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT)
    start = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", RUN, str(n), path, str(samples),
                              os.path.join(ROOT, "examples", "network_game.py")],
                             capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"n": n, "path": path, "status": f"did not finish in {timeout:g} s"}
    if out.returncode != 0:
        return {"n": n, "path": path, "status": "failed: " + out.stderr.strip()[-300:]}
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["wall_s"] = time.perf_counter() - start
    return row


def pattern(n: int) -> None:
    """Time finding the Jacobian's pattern of the example without its coupling graph: asdex
    (traced from F's program) against probing (JVPs along every unit vector at 3 points), and
    compare both with the graph the example knows."""
    sys.path.insert(0, ROOT)
    import numpy as np

    import sgn
    from sgn._load import load_game

    known = load_game(os.path.join(ROOT, "examples", "network_game.py"), {"n_players": n})
    for method in ("asdex", "probe"):
        game = sgn.Game.from_joint_field(known._field, dims=known.dims, region=known.region,
                                         sparsity=method)
        start = time.perf_counter()
        found = game.entry_pattern
        seconds = time.perf_counter() - start
        same = (found != known.entry_pattern).nnz == 0
        print(f"{method:>6}: {seconds:7.2f} s, {found.nnz} non-zeros, "
              f"{'the same as' if same else 'DIFFERENT from'} the known graph "
              f"({known.entry_pattern.nnz}); {int(np.max(game.colouring)) + 1} colours")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    parser.add_argument("--dense-sizes", type=int, nargs="*", default=[25, 50, 100])
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--dense-timeout", type=float, default=600.0)
    parser.add_argument("--pattern", type=int, default=None, metavar="N",
                        help="only time pattern detection (asdex, probing) for N players")
    args = parser.parse_args()
    if args.pattern:
        pattern(args.pattern)
        return
    rows = [run(n, "dense", args.samples, args.dense_timeout) for n in args.dense_sizes]
    rows += [run(n, "sparse", args.samples, 900.0) for n in args.sizes]
    print(f"{'N':>6} {'path':>6} {'blocks':>7} {'status':>14} {'gamma':>8} {'alpha':>8} "
          f"{'certify s':>9} {'process s':>9} {'peak MB':>8} {'JSON MB':>8} {'ms/block':>8}")
    for r in rows:
        if "certify_s" not in r:
            print(f"{r['n']:>6} {r['path']:>6}  {r['status']}")
            continue
        per = (1e3 * r["certify_s"] / r["blocks"]) if r.get("blocks") else float("nan")
        print(f"{r['n']:>6} {r['path']:>6} {r['blocks'] or 0:>7} {r['status']:>14} "
              f"{r['gamma']:>8.4g} {r['alpha']:>8.4g} {r['certify_s']:>9.2f} "
              f"{r['wall_s']:>9.2f} {r['peak_mb']:>8.0f} {r['json_mb']:>8.2f} {per:>8.3f}")


if __name__ == "__main__":
    main()
