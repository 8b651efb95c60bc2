"""Verified against sampled margins on nonlinear games only a block-matrix metric certifies
(issue 13, part 4).

    PYTHONPATH=. python benchmarks/bench_verified_block_metric.py [--seeds 0,1,2,3] \
        [--skews 1,5] [--nonlinear 0.02]

Each game is tests/test_block_metric.py's `matrix_only_game(seed, skew=...)` (J0 = P^-1 (S + K),
no block-scalar metric certifies it) plus `nonlinear * diag(cos x)` on [-1, 1]^5. Printed per
game: the sampled certificate (default pipeline) and the verified one (method="interval",
bounds-pass budget 64 boxes, the metric pass's default budget): status, rung, margin, verified
over sampled, the dense minimum of lambda_min(sym(S J(x) S^-1)) in the verified metric over
the 3^5 grid and 3000 random points (S = sqrtm of the recorded blocks, by scipy) and the
verified margin over it, boxes the metric pass enclosed, and wall seconds of each run (one run
each on a shared machine: read the boxes, which the result depends on, before the seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg as sla

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import sgn  # noqa: E402
from test_block_metric import linear_game, matrix_only_game  # noqa: E402


def dense_minimum(J0, nonlinear, blocks, d, seed=5):
    axes = np.meshgrid(*[np.array([-1.0, 0.0, 1.0])] * d, indexing="ij")
    xs = np.vstack([np.stack([a.ravel() for a in axes], axis=1),
                    np.random.default_rng(seed).uniform(-1.0, 1.0, (3000, d))])
    root = np.real(sla.sqrtm(sla.block_diag(*[np.asarray(b, float) for b in blocks])))
    A = root @ np.stack([J0 + nonlinear * np.diag(np.cos(x)) for x in xs]) @ np.linalg.inv(root)
    return float(np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, 1, 2)))[:, 0].min())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--skews", default="1,5")
    ap.add_argument("--nonlinear", type=float, default=0.02)
    args = ap.parse_args(argv)
    head = (f"{'seed':>4} {'skew':>4} {'sampled':>9} {'s':>5} {'status':<13} {'rung':<6} "
            f"{'verified':>9} {'ver/samp':>8} {'dense min':>9} {'ver/dense':>9} {'boxes':>5} "
            f"{'s':>5}")
    print(head)
    print("-" * len(head))
    ratios = []
    for skew in (float(s) for s in args.skews.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            J0, dims, _ = matrix_only_game(seed, skew=skew)
            game = linear_game(J0, dims, f"m{seed}-{skew:g}", nonlinear=args.nonlinear)
            start = time.perf_counter()
            sampled = sgn.certify(game)
            t_sampled = time.perf_counter() - start
            start = time.perf_counter()
            cert = sgn.certify(game, method="interval", max_boxes=64)
            t_verified = time.perf_counter() - start
            rung = cert.metric["rung"] if cert.metric else "-"
            boxes = (cert.estimator.get("passes") or {}).get("metric", {}).get("boxes_enclosed")
            if cert.certified and cert.metric:
                dense = dense_minimum(J0, args.nonlinear, cert.metric["blocks"], game.dim)
                share = cert.margin / sampled.margin if sampled.certified else float("nan")
                ratios.append(share)
                tail = f"{share:>7.3f}x {dense:>9.4g} {cert.margin / dense:>8.3f}x"
            else:
                tail = f"{'-':>8} {'-':>9} {'-':>9}"
            print(f"{seed:>4} {skew:>4g} {sampled.margin:>9.4g} {t_sampled:>5.1f} "
                  f"{cert.status.value:<13} {rung:<6} {cert.margin:>9.4g} {tail} "
                  f"{boxes!s:>5} {t_verified:>5.1f}", flush=True)
    if ratios:
        print(f"verified / sampled margin: median {np.median(ratios):.3f}, "
              f"min {np.min(ratios):.3f} over {len(ratios)} certified games")
    return 0


if __name__ == "__main__":
    sys.exit(main())
