"""Certify a game over a grid of its parameters (`sgn sweep`).

    sweep(factory, {"lam": np.linspace(0, 2.5, 26)})  ->  Sweep

Each grid point is a full certification; the rows keep what a reader compares across the grid:
the Euclidean margin, the SGN margin, the metric margin, beta and the step sizes.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from ._certify import certify
from ._errors import SGNError
from ._result import Result


@dataclasses.dataclass(frozen=True)
class Sweep(Result):
    """Certification over a parameter grid; `rows` holds one dict per grid point."""

    game: str
    varying: list
    fixed: dict
    samples: int | None
    seed: int | None
    rows: list


def parse_grid(items) -> tuple[dict, dict]:
    """['lam=0:2.5:26', 'mode=fast'] -> ({'lam': array of 26}, {'mode': 'fast'})."""
    from ._load import _parse_value

    grid, fixed = {}, {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise SGNError(f"--param expects KEY=START:STOP:COUNT or KEY=VALUE, got {item!r}")
        if ":" not in raw:
            fixed[key] = _parse_value(raw.strip())
            continue
        parts = raw.split(":")
        try:
            start, stop, count = float(parts[0]), float(parts[1]), int(parts[2])
            if len(parts) != 3:
                raise ValueError
        except (ValueError, IndexError):
            raise SGNError(f"--param {key}: give START:STOP:COUNT with numbers, got {raw!r}") \
                from None
        if count < 1:
            raise SGNError(f"--param {key}: the grid is empty (COUNT = {count})")
        if not (np.isfinite(start) and np.isfinite(stop)):
            raise SGNError(f"--param {key}: START and STOP must be finite")
        grid[key] = np.linspace(start, stop, count)
    if not grid:
        raise SGNError("a sweep needs at least one --param KEY=START:STOP:COUNT")
    return grid, fixed


def sweep(factory: Callable[[dict], object], grid: dict, *, fixed: dict | None = None,
          samples: int | None = None, seed: int | None = None, progress=None) -> Sweep:
    """Certify factory({**fixed, **point}) at every point of the grid (a Cartesian product).

    Swept values reach the factory as 0-d (weakly typed, so they promote like Python floats)
    JAX arrays, not floats: code that closes over them then holds them as constants, not as
    literals baked into its program, so every grid point runs the same compiled functions
    (see _shared). They still work in Python arithmetic, formatting and control flow.
    """
    fixed = dict(fixed or {})
    keys = list(grid)
    points = list(itertools.product(*(np.asarray(grid[k], dtype=float) for k in keys)))
    rows, name = [], None
    for done, values in enumerate(points):
        params = {**fixed, **{k: float(v) for k, v in zip(keys, values)}}
        game = factory({**fixed, **{k: jnp.asarray(v) for k, v in zip(keys, values)}})
        name = name or re.sub(r"\(.*\)$", "", game.name)  # drop a "(lam=...)" suffix
        cert = certify(game, samples=samples, seed=seed)
        steps = cert.step_sizes or {}
        rows.append({
            "params": params,
            "status": cert.status.value,
            "certified_by": cert.diagnostics.get("certified_by"),
            "euclidean_margin": cert.bounds["euclidean_margin"],
            # SGN's own best margin (also past the certifiable range, where it continues the
            # curve negative), and the margin the certificate proves (SGN's, the plain test's, or
            # the metric margin of weights found from the Jacobians: certified_by says which).
            "margin": cert.diagnostics["best_possible_margin"],
            "certified_margin": cert.margin if cert.certified else None,
            "metric_margin": cert.diagnostics["metric_margin"],
            "lipschitz": cert.bounds["lipschitz"],
            "euler_max": steps.get("euler_max"),
            "euler_recommended": steps.get("euler_recommended"),
            "rk4_proven": steps.get("rk4_proven"),
            "weights": cert.weights,
            "verified": cert.verified,
        })
        if progress:
            progress(done + 1, len(points), "certifying the grid")
    return Sweep(name, keys, fixed, samples, seed, rows)
