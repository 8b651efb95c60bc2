"""The centred (mean-value) form against the natural extension on examples/tanh_gan.py (issue 13).

    PYTHONPATH=. python benchmarks/bench_centred.py [--radii 0.5,0.1,0.02] [--points 300]
        [--bounds-boxes 0]

For boxes of half-width r (every side; centred on one random point of the region, seed 0,
moved inside it), the proved lower bound on the Euclidean margin
gamma = inf lambda_min(sym J) over the box (sgn/_interval/_rigorous.py, lambda_min_lower of the
symmetric part of the enclosure) from the natural extension, from the centred form alone, and
from their intersection (what sgn uses), against the smallest lambda_min(sym J) at `--points`
random points of the box (an estimate from above of the true minimum), and the seconds per box
of each form. tanh_gan's sampled certificate is Euclidean (gamma = 4.755 on the region), so
this margin is the one its verified certificate would have to prove.

`--bounds-boxes N` (N > 0) also runs the bounds pass (`interval_bounds`) on the whole region
with N boxes, with the natural extension (the default for d = 59) and with the centred form
(MEAN_VALUE_MAX_DIM raised for this run only), and prints the proved curvatures and couplings.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from sgn._interval import _enclose
from sgn._interval._arith import Interval
from sgn._interval._centred import centred_form, slope_chunks
from sgn._interval._rigorous import lambda_min_lower, symmetric_part
from sgn._load import load_game


def proved_gamma(Jlo, Jhi) -> float:
    lo, hi = symmetric_part(Jlo, Jhi)
    return float(lambda_min_lower(lo, hi)[0])


def sweep(game, radii, points: int):
    d = game.dim
    low0, high0 = game.region.low, game.region.high
    natural = _enclose.jacobian_enclosure(game)
    assert natural.derivative is None, "tanh_gan is expected above MEAN_VALUE_MAX_DIM"
    centred = forced_centred(game)
    rng = np.random.default_rng(0)
    anchor = rng.uniform(low0, high0)
    print(f"{'r':>6} {'dense min':>10} {'natural':>11} {'centred':>11} {'both':>11} "
          f"{'nat s':>6} {'cen s':>6}")
    for r in radii:
        c = np.clip(anchor, low0 + r, high0 - r) if 2 * r < (high0 - low0).min() else \
            0.5 * (low0 + high0)
        low, high = np.maximum(c - r, low0)[None], np.minimum(c + r, high0)[None]
        start = time.perf_counter()
        Nlo, Nhi = natural(low, high)
        t_nat = time.perf_counter() - start
        start = time.perf_counter()
        at_centre = natural._evaluate(natural.program, 0.5 * (low + high), 0.5 * (low + high),
                                      (d, d))
        slopes = slope_chunks(centred.derivative, centred.chunk, low, high)
        form, _ = centred_form(at_centre, slopes, low, high, game.dims)
        t_cen = time.perf_counter() - start
        X = rng.uniform(low[0], high[0], size=(points, d))
        J = np.asarray(jax.vmap(game.jacobian)(jnp.asarray(X)))
        dense = np.linalg.eigvalsh(0.5 * (J + np.swapaxes(J, 1, 2)))[:, 0].min()
        both = Interval(np.maximum(Nlo, form.lo), np.minimum(Nhi, form.hi))
        print(f"{r:6.3g} {dense:10.4f} {proved_gamma(Nlo, Nhi):11.4g} "
              f"{proved_gamma(form.lo, form.hi):11.4g} {proved_gamma(both.lo, both.hi):11.4g} "
              f"{t_nat:6.2f} {t_cen:6.2f}", flush=True)


def forced_centred(game):
    """The game's enclosure with the centred form, whatever its dimension (this run only)."""
    saved, cache = _enclose.MEAN_VALUE_MAX_DIM, _enclose._PROGRAMS
    _enclose.MEAN_VALUE_MAX_DIM, _enclose._PROGRAMS = max(saved, game.dim), type(cache)()
    try:
        return _enclose.jacobian_enclosure(game)
    finally:
        _enclose.MEAN_VALUE_MAX_DIM, _enclose._PROGRAMS = saved, cache


def bounds_pass(game, boxes: int):
    from sgn._interval import interval_bounds
    for label in ("natural", "centred"):
        saved, cache = _enclose.MEAN_VALUE_MAX_DIM, _enclose._PROGRAMS
        if label == "centred":
            _enclose.MEAN_VALUE_MAX_DIM, _enclose._PROGRAMS = game.dim, type(cache)()
        try:
            start = time.perf_counter()
            result = interval_bounds(game, max_boxes=boxes, max_seconds=3600)
            seconds = time.perf_counter() - start
        finally:
            _enclose.MEAN_VALUE_MAX_DIM, _enclose._PROGRAMS = saved, cache
        b = result.bounds
        print(f"{label:8} boxes {result.record.boxes_enclosed:4d} {result.outcome:12} "
              f"mu = {np.array2string(np.asarray(b.curvature), precision=4)} "
              f"L = {np.array2string(np.asarray(b.coupling), precision=4)} "
              f"gamma = {b.euclidean_margin:.4g}  {seconds:.1f} s", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radii", default="0.5,0.2,0.1,0.05,0.03,0.02,0.01,0.003")
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--bounds-boxes", type=int, default=0)
    args = parser.parse_args(argv)
    game = load_game("examples/tanh_gan.py")
    print(f"tanh_gan: d = {game.dim}, region half-width 0.5; proved gamma lower bounds per box")
    sweep(game, [float(r) for r in args.radii.split(",")], args.points)
    if args.bounds_boxes > 0:
        bounds_pass(game, args.bounds_boxes)


if __name__ == "__main__":
    main()
