"""Re-check a certificate someone handed you.

    verify(cert, game)  ->  Verification

Two kinds of check. From the certificate's own numbers (its bounds and weights), everything
derived is recomputed independently: the margin by a dense eigen-solve of the SGN matrix as
docs/method.md ("The SGN lemma") writes it, the rates, the step sizes and the band. From the
game, fresh samples with a new seed test every stored bound: a curvature below the stored mu_i,
a coupling above L_ij, a Jacobian norm above beta or a metric margin below alpha in the
certified metric, and the stored equilibrium's residual. Each failure says what broke, where,
and by how much.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from ._bounds import estimate_bounds, estimate_in_metric
from ._certificate import Certificate, Status
from ._dynamics import EQUILIBRIUM_FTOL, residual
from ._errors import CertificateFormatError
from ._game import Game, _short
from ._result import Result
from ._steps import step_sizes
from ._weights import two_player_band

#: Relative agreement asked of recomputed numbers (they come from the same formulas, so only
#: rounding separates them), and of fresh bounds against stored ones.
RECOMPUTE_RTOL = 1e-8


@dataclasses.dataclass(frozen=True)
class Check(Result):
    """One re-check: what was compared, the stored and the recomputed value, and the verdict."""

    name: str
    ok: bool
    stored: object
    found: object
    message: str
    point: list | None = None


@dataclasses.dataclass(frozen=True)
class Verification(Result):
    """All checks of one certificate against one game; `ok` when every check holds."""

    game: str
    samples: int
    seed: int
    checks: list

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list:
        return [c for c in self.checks if not c.ok]


def read_certificate(path: str | Path) -> Certificate:
    path = Path(path)
    if not path.is_file():
        raise CertificateFormatError(f"certificate file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CertificateFormatError(f"cannot read certificate {path}: {exc}") from None
    return Certificate.from_json(text)


def check_same_game(cert: Certificate, game: Game) -> None:
    """Refuse (CertificateFormatError) a game that is not the one the certificate is about."""
    stored = cert.game
    dims = [p["dim"] for p in stored["players"]]
    if dims != list(game.dims):
        raise CertificateFormatError(
            f"the certificate is for players of dims {dims}, the game has {list(game.dims)}")
    if stored["name"] != game.name:
        raise CertificateFormatError(
            f"the certificate is for the game {stored['name']!r}, not {game.name!r}")
    region = stored["region"]
    try:
        low = np.asarray(region["low"], dtype=float)
        high = np.asarray(region["high"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise CertificateFormatError("the certificate's region is malformed") from None
    same = (low.shape == game.region.low.shape and np.allclose(low, game.region.low)
            and np.allclose(high, game.region.high))
    if not same or bool(region.get("constrained")) != game.constrained:
        raise CertificateFormatError("the certificate's region differs from the game's region")


def verify(cert: Certificate, game: Game, *, samples: int | None = None,
           seed: int | None = None) -> Verification:
    """Re-check `cert` against `game`: recomputed numbers, then fresh samples (new seed)."""
    check_same_game(cert, game)
    samples = int(samples or cert.estimator["samples"])
    seed = int(cert.estimator["seed"]) + 1 if seed is None else int(seed)
    checks = _recomputed(cert) + _resampled(cert, game, samples, seed)
    return Verification(game.name, samples, seed, checks)


# --- from the certificate's own numbers ----------------------------------------------------------

def _close(a, b, floor: float = 0.0) -> bool:
    """Relative agreement, plus an absolute `floor` for values that may sit near zero."""
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RECOMPUTE_RTOL * max(abs(a), abs(b)) + floor


def _shown(value) -> str:
    """A stored or recomputed value as the certificate spells it (null: not stated)."""
    return "null" if value is None else f"{value}"


def _allowance(stored: float, found: float, scale: float) -> float:
    """How far fresh samples may pass a stored bound before it counts: rounding only."""
    return RECOMPUTE_RTOL * max(abs(stored), abs(found)) + 1e-12 * scale


def _recomputed(cert: Certificate) -> list[Check]:
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    L = np.asarray(cert.bounds["coupling"], dtype=float)
    w = np.asarray(cert.weights, dtype=float)
    scale = max(float(np.abs(mu).max()), float(L.max()), 1e-300)
    checks = []

    def check(name, stored, found, what):
        ok = _close(stored, found)
        verdict = "agrees" if ok else "DISAGREES"
        checks.append(Check(name, ok, stored, found,
                            f"{what}: stored {_shown(stored)}, recomputed {_shown(found)} "
                            f"({verdict})"))

    if w[0] != 1.0 or (w <= 0).any():
        checks.append(Check("weights", False, cert.weights, None,
                            "weights must be positive with w_1 = 1"))
        return checks
    # alpha(w) = 1/2 lambda_min(W^-1/2 C(w) W^-1/2), C_ii = 2 w_i mu_i,
    # C_ij = -(w_i L_ij + w_j L_ji): written out again here, on purpose, from docs/method.md.
    C = -(w[:, None] * L + (w[:, None] * L).T)
    C[np.diag_indices_from(C)] = 2.0 * w * mu
    root = 1.0 / np.sqrt(w)
    alpha = 0.5 * float(np.linalg.eigvalsh(root[:, None] * C * root[None, :])[0])
    if cert.diagnostics.get("certified_by") == "euclidean":
        alpha = float(cert.bounds["euclidean_margin"])
    stored_alpha = float(cert.margin)
    ok = _close(stored_alpha, alpha, 1e-12 * scale)  # two eigen-solves of the same matrix
    checks.append(Check("margin", ok, stored_alpha, alpha,
                        f"margin alpha: stored {stored_alpha:.12g}, recomputed {alpha:.12g}"
                        + ("" if ok else " (the stored margin is not what the bounds give)")))
    beta = float(cert.bounds["lipschitz"])
    certified = cert.status is Status.CERTIFIED
    if certified != (alpha > 0) and cert.status is not Status.INCONCLUSIVE:
        checks.append(Check("status", False, cert.status.value, alpha,
                            f"status {cert.status.value} contradicts the margin {alpha:.6g}"))
    if certified and cert.step_sizes is not None:
        fresh = step_sizes(stored_alpha, beta,
                           constrained=bool(cert.game["region"].get("constrained"))).to_dict()
        for key, stored in cert.step_sizes.items():
            check(f"step_sizes.{key}", stored, fresh[key], f"step size {key}")
        check("rates.flow", cert.rates["flow"], stored_alpha, "flow rate")
        check("rates.euler", cert.rates["euler"], fresh["euler_factor"], "Euler factor")
        check("rates.rk4", cert.rates["rk4"], fresh["rk4_factor"], "RK4 factor")
    if len(mu) == 2:
        band = two_player_band(mu, L)
        if (band is None) != (cert.band is None):
            checks.append(Check("band", False, cert.band, None if band is None else band.to_dict(),
                                "the band's existence disagrees with the bounds"))
        elif band is not None:
            found = band.to_dict()
            for key in ("low", "high", "best_ratio"):
                check(f"band.{key}", cert.band[key], found[key], f"band {key}")
    return checks


# --- from the game, with fresh samples -----------------------------------------------------------

def _resampled(cert: Certificate, game: Game, samples: int, seed: int) -> list[Check]:
    mu = np.asarray(cert.bounds["curvature"], dtype=float)
    L = np.asarray(cert.bounds["coupling"], dtype=float)
    scale = max(float(np.abs(mu).max()), float(L.max()), 1e-300)
    fresh = estimate_bounds(game, samples=samples, seed=seed)
    # The fresh run's values at the points it evaluated, not its bounds: a bound moved past
    # what was measured by a safety allowance is not something the samples "reach".
    allow = fresh.allowances
    reached_mu = fresh.curvature + allow.get("curvature", 0.0)
    reached_L = fresh.coupling - allow.get("coupling", 0.0)
    checks = []
    n = game.n_players
    for i in range(n):
        found, at = float(reached_mu[i]), fresh.locations["curvature"][i]
        ok = found >= mu[i] - _allowance(mu[i], found, scale)
        checks.append(Check(
            f"curvature[{i + 1}]", ok, float(mu[i]), found,
            f"player {i + 1} curvature: stored mu = {mu[i]:.9g}, fresh samples reach {found:.9g}"
            + ("" if ok else f" at x = {_short(at)}, below it by {mu[i] - found:.3g}"),
            None if ok else at.tolist()))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            found, at = float(reached_L[i, j]), fresh.locations["coupling"][i, j]
            ok = found <= L[i, j] + _allowance(L[i, j], found, scale)
            checks.append(Check(
                f"coupling[{i + 1},{j + 1}]", ok, float(L[i, j]), found,
                f"coupling L_{i + 1}{j + 1}: stored {L[i, j]:.9g}, fresh samples reach "
                f"{found:.9g}" + ("" if ok else f" at x = {_short(at)}, above it by "
                                               f"{found - L[i, j]:.3g}"),
                None if ok else at.tolist()))
    metric = estimate_in_metric(game, cert.weights, fresh)
    reached_beta = metric.lipschitz - metric.allowances.get("lipschitz", 0.0)
    reached_margin = metric.margin + metric.allowances.get("margin", 0.0)
    beta = float(cert.bounds["lipschitz"])
    ok = reached_beta <= beta + _allowance(beta, reached_beta, scale)
    checks.append(Check("lipschitz", ok, beta, reached_beta,
                        f"Lipschitz beta in the metric: stored {beta:.9g}, fresh samples reach "
                        f"{reached_beta:.9g}" + ("" if ok else f", above it by "
                                                 f"{reached_beta - beta:.3g}")))
    if cert.status is Status.CERTIFIED:
        ok = reached_margin >= cert.margin - _allowance(cert.margin, reached_margin, scale)
        checks.append(Check(
            "metric_margin", ok, float(cert.margin), reached_margin,
            f"margin in the certified metric: alpha = {cert.margin:.9g}, the Jacobians show "
            f"{reached_margin:.9g}" + ("" if ok else f" at x = {_short(metric.margin_point)}: "
                                      "the metric does not contract there as promised"),
            None if ok else metric.margin_point.tolist()))
    eq = cert.equilibrium
    if eq and eq.get("found"):
        x = np.asarray(eq["x"], dtype=float)
        r = residual(game, x)
        limit = max(EQUILIBRIUM_FTOL * beta * float(np.linalg.norm(game.region.width)),
                    10.0 * float(eq.get("residual") or 0.0))
        ok = r <= limit and math.isfinite(r)
        checks.append(Check("equilibrium", ok, eq.get("residual"), r,
                            f"residual at the stored equilibrium: {r:.3g} (limit {limit:.3g})"))
    return checks
