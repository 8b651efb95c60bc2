"""Numerical constants and tolerances, in one place, each with the reason for its value.

Importing this module switches JAX to float64: every bound `sgn` reports is a difference of
nearly equal numbers somewhere (a margin near zero, a band edge), and float32 would lose them.
"""

from __future__ import annotations

import os

import jax

jax.config.update("jax_enable_x64", True)

#: Default number of sample points in the region. 4096 keeps a 64-dimensional game under a few
#: seconds on two cores while covering every box vertex for d <= 10.
DEFAULT_SAMPLES = 4096

#: Default seed: the same seed gives the same points and so the same certificate.
DEFAULT_SEED = 0

#: Enumerate every box vertex when there are at most this many; above it, a random subset
#: (a quarter of the sample budget) is drawn instead, because 2**d explodes.
MAX_ENUMERATED_VERTICES = 1024

#: Memory budget for one batch of Jacobians (bytes). Chunks are sized so that the stacked
#: d x d float64 Jacobians and their eigen-work stay well inside a 24 GiB, shared machine.
CHUNK_BYTES = 64 * 2**20

#: Local search that refines sampled extremes: starts per quantity (its worst sample points)
#: and most evaluations per start. Each search (L-BFGS-B) usually stops at a local extreme
#: before the budget. Sixteen starts let the search allowance measure how far apart the local
#: extremes lie (docs/method.md, "Sampled bounds"; benchmarks/README.md, "Sampled bounds").
REFINE_STARTS = 16
REFINE_STEPS = 200

#: Relative tolerance used to decide that alpha(w) is "zero": a margin with
#: |alpha| <= MARGIN_TOL * max(|mu|, |L|) is too close to call and makes the status
#: inconclusive instead of certified or not certified.
MARGIN_TOL = 1e-9

#: Relative gap at which the SDP bisection on alpha stops.
BISECTION_RTOL = 1e-7

#: Slack added to exact (constant-Jacobian) bounds so that rounding in the eigen-solve can never
#: make them optimistic: LAPACK's symmetric eigen-solvers and SVD are backward stable with errors
#: below c * n * eps * ||A||; we take c = 4.
ROUNDING_SLACK_FACTOR = 4.0

#: Above this many joint coordinates, `certify` (with no estimator given) reads the Jacobian
#: through products only (sgn.MatrixFree) instead of forming it densely (sgn.Sampled): dense
#: costs d products and d^2 memory per point at thousands of points. Measured where the dense
#: path falls behind (benchmarks/README.md, "Matrix-free bounds").
MATRIX_FREE_DIM = 1024


def use_compilation_cache(folder: str | None = None) -> str | None:
    """Keep XLA's compiled programs on disk, so that a later process skips compiling them.

    A small game's first certificate in a process is mostly compilation (the Markov
    coordination game: ~12 s of compiling against ~0.3 s of running, benchmarks/README.md,
    "Issue 15"). With the cache a fresh process loads the programs an earlier one compiled
    for the same program structure; the loaded programs are the same code, so certificates
    are the same bits. The `sgn` command turns it on; in a script or notebook call this
    once (it sets JAX's process-wide `jax_compilation_cache_dir`, so the caller's own JAX
    programs are cached there too).

    folder: where to keep it; default $SGN_CACHE_DIR, else $XDG_CACHE_HOME/sgn/jax or
    ~/.cache/sgn/jax. SGN_CACHE_DIR="" (and folder="") leaves the cache off. Returns the
    folder used, or None when the cache is off or the folder cannot be made.
    """
    if folder is None:
        folder = os.environ.get("SGN_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "sgn", "jax")
    if not folder:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None  # an unwritable home is no reason to fail: run without the cache
    jax.config.update("jax_compilation_cache_dir", folder)
    # Every program, however quick to compile: loading one from disk is still faster than
    # compiling it, and a small game is made of many small programs (measured: warm certify
    # 2.19 -> 1.99 s, benchmarks/bench_startup.py).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return folder
