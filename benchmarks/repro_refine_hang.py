"""Regression check: estimate_bounds with the default refinement on unequal player dims.

    python benchmarks/repro_refine_hang.py [--timeout 120] [--dims 2,3,5,6]

Exit 0: finished (no hang). Exit 1: still running after --timeout; every thread's stack is
printed (faulthandler).

Fixed in sgn commit e08a5fc (the local search maps over its starts with lax.map instead of
vmap, and eigen-solves are ordered by optimization barriers); before it, this script hung. What
it found, on a 2-core machine with jax/jaxlib 0.10.2: the process sat at 0% CPU forever inside
the refinement's climber (sgn/_bounds.py, `climb(...)` in _search_extremes). gdb showed the two
XLA intra-op pool threads each inside a jaxlib LAPACK FFI kernel
(EigenvalueDecompositionSymmetricKernel, SingularValueDecompositionKernel) that had split its
batch with jax::ParallelBatchMap onto the same pool and waited on a BlockingCounter: pool
starvation. It needed two independent batched LAPACK calls ready at once inside the vmapped
fori_loop (the unequal-dims path of _blocks issues one eigvalsh/svd per block) and a batch
large enough to be split (the climber's padded start count, 64 for this game; 32 starts hung
too, 16 did not). The refine_steps=0 path and equal dims did not hang in our runs. The
optimization barriers alone (an intermediate, uncommitted state) did not stop the hang; the
committed fix does.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import sys
import time

import jax

import sgn
from sgn._testing.games import coupled_game


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--dims", default="2,3,5,6")
    ap.add_argument("--samples", type=int, default=1000)
    args = ap.parse_args()
    dims = [int(k) for k in args.dims.split(",")]
    print(f"jax {jax.__version__}, {os.cpu_count()} cpus, dims {dims}, {args.samples} samples",
          flush=True)
    game = coupled_game(len(dims), dims, seed=3)
    t = time.perf_counter()
    sgn.estimate_bounds(game, samples=args.samples,
                        method=sgn.Sampled(samples=args.samples, refine_steps=0))
    print(f"refine_steps=0: done in {time.perf_counter() - t:.1f} s", flush=True)
    faulthandler.dump_traceback_later(args.timeout, exit=True)
    t = time.perf_counter()
    sgn.estimate_bounds(game, samples=args.samples)  # default refinement
    faulthandler.cancel_dump_traceback_later()
    print(f"default refinement: done in {time.perf_counter() - t:.1f} s (no hang)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
