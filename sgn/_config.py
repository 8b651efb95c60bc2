"""Numerical constants and tolerances, in one place, each with the reason for its value.

Importing this module switches JAX to float64: every bound `sgn` reports is a difference of
nearly equal numbers somewhere (a margin near zero, a band edge), and float32 would lose them.
"""

from __future__ import annotations

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
