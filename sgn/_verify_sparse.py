"""`sgn verify` for certificates with a sparse coupling (schema version 3): fresh samples.

The checks of sgn/_verify.py's `_resampled`, measured by sgn.SparseSampled with a new seed,
and grouped so that ten thousand players give a handful of checks, not 10^8: every player's
curvature, every coupling block (those the certificate lists and any the fresh samples find
non-zero elsewhere: a block the certificate leaves out is a stored 0), gamma, the Euclidean
Lipschitz constant, and in the certified metric beta and the margin. Each check names the
worst player or block and the point where it was found.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._certificate import Certificate, Status
from ._game import Game, _short
from ._schema import coupling_matrix
from ._sparse_bounds import SparseSampled, sparse_in_metric
from ._verify import Check, _allowance


def resampled_sparse(cert: Certificate, game: Game, samples: int, seed: int) -> list[Check]:
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    L = sp.csr_matrix(coupling_matrix(cert.bounds["coupling"]))
    scale = max(float(np.abs(mu).max()), float(L.max()), 1e-300)
    estimator = SparseSampled(samples=samples, seed=seed)
    fresh = estimator.bounds(game)
    points = fresh.points
    checks = []

    # Curvature: each player's fresh minimum against its stored mu_i.
    tol = 1e-8 * np.maximum(np.abs(mu), np.abs(fresh.curvature)) + 1e-12 * scale
    short = mu - tol - fresh.curvature
    i = int(np.argmax(short))
    ok = bool(short[i] <= 0)
    at = points[fresh.locations["curvature_rows"][i]]
    checks.append(Check(
        "curvature", ok, float(mu[i]), float(fresh.curvature[i]),
        f"curvatures of {mu.size} players: " + (
            f"fresh samples stay above every stored mu_i (closest: player {i + 1}, stored "
            f"{mu[i]:.9g}, fresh {fresh.curvature[i]:.9g})" if ok else
            f"player {i + 1}: stored mu = {mu[i]:.9g}, fresh samples reach "
            f"{fresh.curvature[i]:.9g} at x = {_short(at)}"),
        None if ok else at.tolist(), "sampled"))

    # Coupling: fresh values on the union of both patterns, stored 0 where not listed.
    F = sp.csr_matrix(fresh.coupling)
    pattern = ((F != 0) + (L != 0)).tocoo()
    r, c = pattern.row, pattern.col
    stored = np.asarray(L[r, c]).ravel()
    found = np.asarray(F[r, c]).ravel()
    excess = found - stored - (1e-8 * np.maximum(stored, found) + 1e-12 * scale)
    k = int(np.argmax(excess)) if excess.size else 0
    ok = bool(excess.size == 0 or excess[k] <= 0)
    if excess.size:
        i, j = int(r[k]), int(c[k])
        message = (f"couplings of {pattern.nnz} blocks: fresh samples stay below every stored "
                   f"L_ij (closest to it: L_{i + 1},{j + 1}, stored {stored[k]:.9g}, fresh "
                   f"{found[k]:.9g})" if ok else
                   f"coupling L_{i + 1},{j + 1}: stored {stored[k]:.9g}, fresh samples reach "
                   f"{found[k]:.9g}")
        checks.append(Check("coupling", ok, float(stored[k]), float(found[k]), message,
                            how="sampled"))

    gamma = float(cert.bounds["euclidean_margin"])
    ok = fresh.euclidean_margin >= gamma - _allowance(gamma, fresh.euclidean_margin, scale)
    at = fresh.locations["euclidean_margin"]
    checks.append(Check(
        "euclidean_margin", ok, gamma, fresh.euclidean_margin,
        f"Euclidean margin gamma: stored {gamma:.9g}, fresh samples reach "
        f"{fresh.euclidean_margin:.9g}" + ("" if ok else f" at x = {_short(at)}"),
        None if ok else at.tolist(), "sampled"))
    stored_lip = cert.diagnostics.get("euclidean_lipschitz")
    if stored_lip is not None:
        stored_lip = float(stored_lip)
        ok = fresh.lipschitz <= stored_lip + _allowance(stored_lip, fresh.lipschitz, scale)
        checks.append(Check(
            "diagnostics.euclidean_lipschitz", ok, stored_lip, fresh.lipschitz,
            f"Euclidean Lipschitz constant: stored {stored_lip:.9g}, fresh samples reach "
            f"{fresh.lipschitz:.9g}", how="sampled"))

    metric = sparse_in_metric(game, game.metric(cert.weights), fresh, estimator)
    beta = float(cert.bounds["lipschitz"])
    ok = metric.lipschitz <= beta + _allowance(beta, metric.lipschitz, scale)
    checks.append(Check("lipschitz", ok, beta, metric.lipschitz,
                        f"Lipschitz beta in the metric: stored {beta:.9g}, fresh samples reach "
                        f"{metric.lipschitz:.9g}", how="sampled"))
    if cert.status is Status.CERTIFIED:
        ok = metric.margin >= cert.margin - _allowance(cert.margin, metric.margin, scale)
        checks.append(Check(
            "metric_margin", ok, float(cert.margin), metric.margin,
            f"margin in the certified metric: alpha = {cert.margin:.9g}, the Jacobians show "
            f"{metric.margin:.9g}" + ("" if ok else f" at x = {_short(metric.margin_point)}"),
            None if ok else metric.margin_point.tolist(), "sampled"))
    stored_mm = float(cert.diagnostics["metric_margin"])
    ok = metric.margin >= stored_mm - _allowance(stored_mm, metric.margin, scale)
    checks.append(Check(
        "diagnostics.metric_margin", ok, stored_mm, metric.margin,
        f"stored metric margin {stored_mm:.9g}, the Jacobians show {metric.margin:.9g}",
        None if ok else metric.margin_point.tolist(), "sampled"))
    return checks
