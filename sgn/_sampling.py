"""Where to look: sample points in a box (docs/method.md, "Sampled bounds").

The centre, the vertices (all of them when there are few, a random subset otherwise: extremes
of smooth quantities over a box often sit on its boundary), and a scrambled Sobol set inside.
The same seed always gives the same points.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from . import _config
from ._errors import SGNError
from ._game import Box


#: Copies of the (samples x d) float64 point array alive at once while the points are made and
#: used (unit cube, vertices, Sobol block, scaled points, points plus refined ones).
POINT_COPIES = 5


def sample_points(box: Box, samples: int, seed: int) -> np.ndarray:
    """`samples` points of the box (rows), deterministic in `seed`; the centre comes first."""
    if samples < 1:
        raise ValueError("samples must be >= 1")
    d = box.low.size
    _check_fits(samples, d)
    rng = np.random.default_rng(seed)
    unit = [np.full((1, d), 0.5)]
    budget = samples - 1
    if d <= 30 and 2**d <= min(_config.MAX_ENUMERATED_VERTICES, budget // 2):
        corners = ((np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1).astype(np.float64)
    else:
        corners = rng.integers(0, 2, size=(budget // 4, d)).astype(np.float64)
    unit.append(corners)
    budget -= corners.shape[0]
    if budget > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol prefers powers of two; any count is valid
            from scipy.stats import qmc   # here: scipy.stats costs 0.25 s to import

            sobol = qmc.Sobol(d, scramble=True, seed=rng).random(budget)
        unit.append(sobol)
    points = np.concatenate(unit)[:samples]
    return box.low + points * box.width


def _check_fits(samples: int, d: int) -> None:
    """Refuse, before allocating, a sample count whose points cannot fit in free memory."""
    need = POINT_COPIES * 8 * samples * d
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):   # not Linux: nothing to compare with
        return
    if need > free:
        raise SGNError(f"{samples} samples of a {d}-dimensional region need about "
                       f"{need / 2**30:.3g} GiB, more than the {free / 2**30:.3g} GiB of memory "
                       "free: use fewer --samples")
