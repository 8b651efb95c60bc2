"""sgn's Lanczos (sgn/_krylov.py) against the matfree library's (0.6.3, tridiag_sym with full
reorthogonalisation), on the same operators: time per run (compiled, median of repeats) and the
error of lambda_min.

    pip install matfree==0.6.3; python benchmarks/compare_matfree.py

Operators: a dense random symmetric matrix (n = 2000, products cost n^2) and the symmetric part
of the Jacobian of a two-player MLP game's pseudo-gradient at a point (benchmarks/
bench_matrix_free.py, h = 48, d = 5,235; products are jvp + vjp). Both run k Lanczos steps from
the same start vector, with no restart; matfree's smallest Ritz value is taken from its
tridiagonal matrix.
"""

import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sgn._config  # noqa: E402,F401
from sgn._krylov import smallest_eigenvalue  # noqa: E402


def timed(fn, *args, repeats=7):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    import matfree.decomp

    from bench_matrix_free import mlp_game

    rng = np.random.default_rng(0)
    n = 2000
    A = rng.standard_normal((n, n))
    S = jnp.asarray((A + A.T) / 2)
    game = mlp_game(48)
    x = jnp.asarray(game.region.centre)
    _, jvp = jax.linearize(game.pseudo_gradient, x)
    vjp = jax.linear_transpose(jvp, x)
    cases = {
        "dense n=2000": (lambda v: S @ v, float(np.linalg.eigvalsh(np.asarray(S))[0]), n),
        "MLP sym J d=5235": (lambda v: 0.5 * (jvp(v) + vjp(v)[0]), None, game.dim),
    }
    print(f"{'operator':>18} {'k':>4} {'sgn ms':>8} {'matfree ms':>11} {'ratio':>6} "
          f"{'sgn value':>14} {'matfree value':>14} {'exact':>14}")
    for name, (op, exact, size) in cases.items():
        v0 = jnp.asarray(rng.standard_normal(size))
        for k in (20, 40, 80):
            ours = jax.jit(lambda v: smallest_eigenvalue(op, v, k, jax.random.key(0)).value)
            alg = matfree.decomp.tridiag_sym(k, reortho="full", materialize=True)
            theirs = jax.jit(lambda v: jnp.linalg.eigvalsh(alg(op, v).J_small)[0])
            t_ours, t_theirs = timed(ours, v0), timed(theirs, v0)
            a, b = float(ours(v0)), float(theirs(v0))
            print(f"{name:>18} {k:>4} {1e3 * t_ours:>8.1f} {1e3 * t_theirs:>11.1f} "
                  f"{t_theirs / t_ours:>6.2f} {a:>14.8f} {b:>14.8f} "
                  f"{'' if exact is None else f'{exact:.8f}':>14}")


if __name__ == "__main__":
    main()
