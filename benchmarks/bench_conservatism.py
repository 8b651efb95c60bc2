"""How conservative sgn's certificates are (issue 13): margins and step sizes against the truth.

    PYTHONPATH=. python benchmarks/bench_conservatism.py [--only lift,lq,matrix,nonlinear]
        [--lams 0.25,0.5,0.75,1,1.25,1.375] [--games 20] [--levels weak,strong] [--frac 0.5]
        [--matrix-games 20] [--seed 0] [--no-best] [--examples scalar_toy,cascade,...]
        [--points 256] [--verify-seconds 20] [--target-ratio R] [--no-verify] [--skip-verify tanh_gan]

About 3 minutes at the defaults on 2 shared cores; --games, --matrix-games, --points and
--verify-seconds scale it up. The functions bench_lift, bench_lq, bench_matrix and
bench_nonlinear (one per family, returning rows of plain values) run on any size, for tests.

Four families, each certified with the public `sgn.certify` (sampled bounds, the default;
`method="interval"` for the verified column of the nonlinear examples), each scored against
a reference computed here by dense linear algebra, independently of sgn:

  lift      examples/lifted_toy.py (d = 64) for a sweep of lam. J is constant; its eigenvalues
            are 1 +- lam/sqrt(2), so SGN's margin 1 - lam/sqrt(2) is the best any metric gives.
  lq        random two-player linear games F(x) = J x with heterogeneous own blocks
            (condition number 100) and random couplings, at a weak level (SGN's rho = 0.5) and a
            strong one (half way to instability, rho >= 1), plus what sgn certifies after each
            player is rotated into the eigenbasis of its own block and every coordinate is made
            a player of its own (a hand reformulation, not something sgn does).
  matrix    random linear games J = P^-1 (S + K), P block-diagonal SPD, S SPD, K skew, kept
            only when no block-scalar metric certifies them (checked by an SDP); in the metric P
            the margin is lambda_min(P^-1/2 S P^-1/2) > 0.
  nonlinear the bundled examples: sampled against verified margins, certified Euler steps
            against estimates of the true thresholds.

True thresholds, with A = M^1/2 J M^-1/2 the Jacobian in the certificate's metric
M = blockdiag(w_i I) (for a constant J):

  Euler, contraction  the largest h with ||I - h A||_2 < 1 (what the certificate promises:
                      contraction in M). h -> ||I - h A||_2 is convex and 1 at h = 0, so the
                      set where it is < 1 is an interval (0, h*): bisection between
                      h0 = a/b^2 (a = lambda_min(sym A), b = ||A||_2, where the norm is at most
                      sqrt(1 - a^2/b^2) < 1) and 2/b (where it is at least h b - 1 >= 1).
  Euler, spectral     the largest h with spectral radius of I - h J below 1:
                      min over eigenvalues l of 2 Re(l) / |l|^2 (0 if some Re(l) <= 0); an
                      upper bound on the contraction threshold of every metric.
  RK4, contraction    the first h > 0 with ||R(-h A)||_2 >= 1, R(z) = 1 + z + z^2/2 + z^3/6 +
                      z^4/24: a scan of 4000 points up to 3/rho(A) (beyond 2.79/rho(A) the
                      spectral radius of R(-hA) exceeds 1 for real spectra), then bisection.

For a varying Jacobian (nonlinear family) the Euler contraction threshold is estimated the same
way with sup over sampled points x of ||I - h A(x)||_2 (a sup of convex functions, so the same
bisection): an estimate from above of the threshold a direct-contraction certificate could
prove. The "best known" margins of the linear games are attained metrics, found by bisection on
alpha over SDP feasibility problems sym(P J) >= alpha P (cvxpy + Clarabel; P block-scalar or
block-diagonal, P >= 1e-5 tr(P)/d I), each re-measured by an eigen-solve of the P found.

Time is the wall time of one `sgn.certify` call (fresh game, so JAX tracing and compilation are
included), median over the games of a row. Issue 13's targets are printed after the tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import sgn

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("scalar_toy", "cascade", "cournot", "tanh_gan")
DEFAULT_LAMS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.375)

# issue 13's targets
TARGET_STEP_RATIO = 0.5        # certified Euler and RK4 steps / true threshold on the lift
TARGET_VERIFIED_RATIO = 2.0    # sampled margin / verified margin on the nonlinear examples
TARGET_ENSEMBLE = 1.0          # fraction of the stable strong-coupling ensemble certified


# --- dense references (independent of sgn) --------------------------------------------------

def metric_scale(J, weights, dims) -> np.ndarray:
    """A = M^1/2 J M^-1/2, M = blockdiag(w_i I_{d_i}); J may be a stack (..., d, d)."""
    s = np.sqrt(np.repeat(np.asarray(weights, float), dims))
    return np.asarray(J) * s[:, None] / s[None, :]


def cert_scale(cert, J, dims) -> np.ndarray:
    """A = M^1/2 J M^-1/2 in a certificate's own metric: its block matrix M = blockdiag(P_i)
    when it records one (square root by scipy's sqrtm, independent of sgn), else its weights'."""
    if getattr(cert, "metric", None) is None:
        return metric_scale(J, cert.weights, dims)
    import scipy.linalg

    M = scipy.linalg.block_diag(*[np.asarray(b, float) for b in cert.metric["blocks"]])
    S = np.real(scipy.linalg.sqrtm(M))
    return S @ np.asarray(J) @ np.linalg.inv(S)


def rung_of(cert) -> str | None:
    """Which metric certified: sgn, euclidean, scalar (weights from the metric search),
    eigenbasis, block or joint (a matrix metric); None when not certified."""
    if not cert.certified:
        return None
    by = cert.diagnostics.get("certified_by")
    if by != "metric":
        return by
    return "scalar" if getattr(cert, "metric", None) is None else cert.metric["rung"]


def rung_counts(rungs) -> str:
    counts = {}
    for r in rungs:
        if r is not None:
            counts[r] = counts.get(r, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def sym_min(A) -> np.ndarray:
    """lambda_min(sym A) (of each matrix of a stack)."""
    return np.linalg.eigvalsh(0.5 * (A + np.swapaxes(A, -1, -2)))[..., 0]


def norm2(A) -> np.ndarray:
    return np.linalg.norm(A, 2, axis=(-2, -1))


def spectral_euler_threshold(J) -> float:
    """Largest h with spectral radius of I - hJ < 1: min 2 Re(l) / |l|^2 (0 if unstable)."""
    lam = np.linalg.eigvals(J)
    if np.min(lam.real) <= 0:
        return 0.0
    return float(np.min(2 * lam.real / np.abs(lam) ** 2))


def euler_contraction_threshold(A, iters: int = 100) -> float:
    """Largest h with max_k ||I - h A_k||_2 < 1 (A: one matrix or a stack). Convex in h."""
    A = np.asarray(A, float)
    A = A[None] if A.ndim == 2 else A
    a = float(np.min(sym_min(A)))
    b = float(np.max(norm2(A)))
    if a <= 0:
        return 0.0
    eye = np.eye(A.shape[-1])

    def q(h):
        return float(np.max(norm2(eye - h * A)))

    lo, hi = a / b**2, 2.0 / b
    if q(lo) >= 1:          # rounding at a / b ~ 1e-8; the threshold is then below it
        return lo
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if q(mid) < 1:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    return lo


def rk4_map(A, h):
    """R(-h A) for an array of steps h (shape (n,)): shape (n, d, d)."""
    Z = -np.asarray(h, float)[:, None, None] * A[None]
    eye = np.eye(A.shape[0])
    Z2 = Z @ Z
    return eye + Z + Z2 / 2 + Z2 @ Z / 6 + Z2 @ Z2 / 24


def rk4_contraction_threshold(A, points: int = 4000, iters: int = 100) -> float:
    """First h > 0 with ||R(-hA)||_2 >= 1: a scan up to 3 / rho(A), then bisection."""
    A = np.asarray(A, float)
    if sym_min(A) <= 0:
        return 0.0
    top = 3.0 / float(np.max(np.abs(np.linalg.eigvals(A))))
    grid = np.unique(np.concatenate([np.geomspace(top * 1e-7, top / points, 40),
                                     np.linspace(0.0, top, points + 1)[1:]]))
    values = np.concatenate([norm2(rk4_map(A, chunk))
                             for chunk in np.array_split(grid, max(1, grid.size // 256))])
    above = np.flatnonzero(values >= 1.0)
    if above.size == 0:
        return float(top)   # not reached (cannot happen for a real spectrum; reported as is)
    k = int(above[0])
    if k == 0:
        return 0.0
    lo, hi = float(grid[k - 1]), float(grid[k])
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if norm2(rk4_map(A, [mid]))[0] < 1:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * hi:
            break
    return lo


def min_real_eig(J) -> float:
    """min Re(l) over J's eigenvalues: an upper bound on the margin in every metric."""
    return float(np.min(np.linalg.eigvals(J).real))


def metric_margin_of(J, P) -> float:
    """lambda_min(P^-1/2 sym(P J) P^-1/2): the exact margin of J in the metric P."""
    P = 0.5 * (P + P.T)
    w, V = np.linalg.eigh(P)
    R = (V / np.sqrt(w)) @ V.T
    return float(np.linalg.eigvalsh(R @ (0.5 * (P @ J + J.T @ P)) @ R)[0])


class _QuietFd2:
    """Silence file descriptor 2 (a Clarabel panic prints there before it is caught)."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 2)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        os.close(self._null)


def best_metric_margin(J, dims, *, scalar: bool, floor: float = 1e-5, rtol: float = 1e-6,
                       iters: int = 40) -> float:
    """The largest margin found over block metrics P: block-scalar (w_i I) or block-diagonal
    SPD blocks, normalised tr(P) = d, P >= floor * I. Bisection on alpha over the SDP
    feasibility of sym(P J) - alpha P >= 0 (cvxpy + Clarabel, J scaled to norm 1); the answer
    is the margin an eigen-solve measures at the best P found (attained, not claimed)."""
    import cvxpy as cp

    J = np.asarray(J, float)
    d = J.shape[0]
    scale = float(np.linalg.norm(J, 2))
    Js = J / scale
    offs = np.concatenate([[0], np.cumsum(dims)])
    if scalar:
        w = cp.Variable(len(dims))
        E = [np.diag(((np.arange(d) >= a) & (np.arange(d) < b)).astype(float))
             for a, b in zip(offs[:-1], offs[1:])]
        P = sum(w[i] * E[i] for i in range(len(dims)))
    else:
        blocks = [cp.Variable((k, k), symmetric=True) for k in dims]
        P = cp.bmat([[blocks[i] if i == j else np.zeros((dims[i], dims[j]))
                      for j in range(len(dims))] for i in range(len(dims))])
    alpha = cp.Parameter()
    X = P @ Js - alpha * P
    prob = cp.Problem(cp.Minimize(0), [0.5 * (X + X.T) >> 0, P >> floor * np.eye(d),
                                       cp.trace(P) == d])
    lo = float(sym_min(Js))            # P = I is feasible here
    hi = min_real_eig(Js)
    best = lo
    for _ in range(iters):
        if hi - lo <= rtol:
            break
        mid = 0.5 * (lo + hi)
        alpha.value = mid
        try:
            with warnings.catch_warnings(), _QuietFd2():
                warnings.simplefilter("ignore")
                prob.solve(solver=cp.CLARABEL)
            feasible = prob.status == "optimal" and P.value is not None
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001  (cp.SolverError, or a Rust panic in Clarabel)
            feasible = False
        if feasible:
            lo = mid
            best = max(best, metric_margin_of(Js, np.asarray(P.value, float)))
        else:
            hi = mid
    return best * scale


# --- games ----------------------------------------------------------------------------------

def linear_game(J, dims, name: str) -> sgn.Game:
    """F(x) = J x on the box [-1, 1]^d, given by its field (player i's rows of J times x)."""
    import jax.numpy as jnp

    Jj = jnp.asarray(np.asarray(J, float))
    offs = np.concatenate([[0], np.cumsum(dims)]).tolist()

    def field(*xs):
        y = Jj @ jnp.concatenate(xs)
        return [y[a:b] for a, b in zip(offs[:-1], offs[1:])]

    return sgn.Game.from_field(field, dims=list(dims), region=sgn.Box(-1.0, 1.0), name=name)


def timed_certify(game, **kw):
    t = time.perf_counter()
    cert = sgn.certify(game, **kw)
    return cert, time.perf_counter() - t


def steps_of(cert) -> tuple[float | None, float | None]:
    s = cert.step_sizes or {}
    return s.get("euler_max"), s.get("rk4_proven")


def ratio(a, b):
    if a is None or b is None or not np.isfinite(b) or b <= 0:
        return None
    return a / b


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# --- 1. the lift sweep ----------------------------------------------------------------------

def bench_lift(lams=DEFAULT_LAMS) -> list[dict]:
    """examples/lifted_toy.py for each lam: sgn's margin and steps against the exact ones."""
    rows = []
    for lam in lams:
        game = sgn.load_game(ROOT / "examples" / "lifted_toy.py", {"lam": float(lam)})
        cert, seconds = timed_certify(game)
        J = np.asarray(game.jacobian_fn(np.asarray(game.region.centre)), float)
        A = metric_scale(J, cert.weights, game.dims)
        euler, rk4 = steps_of(cert)
        rows.append({
            "lam": float(lam), "status": cert.status.value, "margin": cert.margin,
            "best": min_real_eig(J), "closed_form": 1 - lam / np.sqrt(2),
            "euler_max": euler, "h_contraction": euler_contraction_threshold(A),
            "h_spectral": spectral_euler_threshold(J),
            "h_closed_form": 2 / (1 + lam / np.sqrt(2)),
            "rk4_proven": rk4, "h_rk4": rk4_contraction_threshold(A),
            "seconds": seconds})
    return rows


def print_lift(rows) -> None:
    print("1. lift sweep: examples/lifted_toy.py (d = 64), sgn.certify (exact bounds)")
    print("   best = min Re eig(J) (= 1 - lam/sqrt 2: no metric does better); h* = true "
          "threshold\n   (contr.: ||I - hA||_2 < 1 in the certificate's metric; spectral: "
          "rho(I - hJ) < 1; RK4: ||R(-hA)||_2 < 1)")
    head = (f"{'lam':>6} {'status':<13} {'margin':>8} {'/best':>6} {'euler_max':>9} "
            f"{'h* contr':>8} {'ratio':>7} {'h* spec':>8} {'ratio':>7} {'rk4_prov':>9} "
            f"{'h* RK4':>8} {'ratio':>7} {'time s':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        euler, rk4 = r["euler_max"], r["rk4_proven"]
        print(f"{r['lam']:>6.3f} {r['status']:<13} {r['margin']:>8.4f} "
              f"{fmt(ratio(r['margin'], r['best']), '6.3f')} {fmt(euler, '9.4f')} "
              f"{r['h_contraction']:>8.4f} {fmt(ratio(euler, r['h_contraction']), '6.3f', 'x')} "
              f"{r['h_spectral']:>8.4f} {fmt(ratio(euler, r['h_spectral']), '6.3f', 'x')} "
              f"{fmt(rk4, '9.4f')} {r['h_rk4']:>8.4f} "
              f"{fmt(ratio(rk4, r['h_rk4']), '6.3f', 'x')} {r['seconds']:>6.2f}")
    worst = max(abs(r["h_contraction"] - r["h_closed_form"]) / r["h_closed_form"] for r in rows)
    print(f"   check: h* contr. and h* spec. against 2/(1 + lam/sqrt 2): max relative "
          f"difference {worst:.1e}; best against 1 - lam/sqrt 2: "
          f"{max(abs(r['best'] - r['closed_form']) for r in rows):.1e}")


# --- 2. random two-player LQ ensemble -------------------------------------------------------

def spd_block(rng, d: int, cond: float, scale: float):
    """scale * Q diag(s) Q^T, s log-uniform in [1/cond, 1] with both ends drawn exactly."""
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    s = np.exp(rng.uniform(-np.log(cond), 0.0, d))
    s[0], s[-1] = 1.0 / cond, 1.0
    s = np.sort(s) * scale
    return (Q * s) @ Q.T, s, Q


def max_stable_coupling(S1, S2, B, C) -> float:
    """sup kappa with [[S1, kB], [kC, S2]] Hurwitz-stable (eigenvalues in Re > 0), bisection
    on the first loss of stability going up from kappa = 0 (inf if none up to 1e8)."""
    def stable(k):
        return min_real_eig(np.block([[S1, k * B], [k * C, S2]])) > 0

    lo, hi = 0.0, 1.0
    while stable(hi):
        lo, hi = hi, 2 * hi
        if hi > 1e8:
            return float("inf")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if stable(mid) else (lo, mid)
    return lo


def lq_game(seed: int, k: int, level: str, *, dmin=3, dmax=5, cond=100.0, frac=0.5,
            weak_rho=0.5, max_draws=200):
    """One game of the ensemble; returns (J, dims, eigenbases, draws needed).

    Player i: d_i uniform in dmin..dmax; own block S_i = c_i Q_i diag(s) Q_i^T, eigenvalues s
    log-uniform in [1/cond, 1] (both ends drawn, so cond(S_i) = cond), c_i log-uniform in
    [1, 10]. Couplings J_12 = kappa G, J_21 = kappa a H, G and H Gaussian normalised to
    spectral norm 1, a log-uniform in [0.01, 1] (one-way strength). Level "weak": kappa gives
    SGN's rho = sqrt(L12 L21 / (mu1 mu2)) = weak_rho. Level "strong": kappa = frac x the
    largest kappa keeping J stable; the draw is kept only if rho >= 1 (redrawn otherwise).
    """
    rng = np.random.default_rng([seed, k, 0 if level == "weak" else 1])
    for draw in range(1, max_draws + 1):
        dims = [int(x) for x in rng.integers(dmin, dmax + 1, 2)]
        (S1, s1, Q1), (S2, s2, Q2) = (spd_block(rng, d, cond, np.exp(rng.uniform(0, np.log(10))))
                                      for d in dims)
        G = rng.standard_normal((dims[0], dims[1]))
        H = rng.standard_normal((dims[1], dims[0]))
        a = np.exp(rng.uniform(np.log(0.01), 0.0))
        B, C = G / np.linalg.norm(G, 2), a * H / np.linalg.norm(H, 2)
        mu1, mu2 = s1[0], s2[0]
        unit_rho = np.sqrt(np.linalg.norm(B, 2) * np.linalg.norm(C, 2) / (mu1 * mu2))
        if level == "weak":
            kappa = weak_rho / unit_rho
        else:
            kmax = max_stable_coupling(S1, S2, B, C)
            if not np.isfinite(kmax):
                continue
            kappa = frac * kmax
            if kappa * unit_rho < 1:
                continue
        J = np.block([[S1, kappa * B], [kappa * C, S2]])
        if min_real_eig(J) <= 0:
            continue
        return J, dims, (Q1, Q2), draw
    raise RuntimeError(f"no {level} game in {max_draws} draws (seed {seed}, game {k})")


def _score_linear(cert, J, dims) -> dict:
    """Step ratios of a certificate of the constant-Jacobian game J (in its own metric)."""
    out = {"certified": cert.certified, "margin": cert.margin,
           "by": cert.diagnostics.get("certified_by"), "rung": rung_of(cert),
           "rho": cert.diagnostics.get("spectral_radius")}
    euler, rk4 = steps_of(cert)
    if cert.certified:
        A = cert_scale(cert, J, dims)
        # the certified margin against a dense eigen-solve in the certificate's own metric
        out["dense_margin"] = float(sym_min(A))
        out.update(euler_contr=ratio(euler, euler_contraction_threshold(A)),
                   euler_spec=ratio(euler, spectral_euler_threshold(J)),
                   rk4=ratio(rk4, rk4_contraction_threshold(A)))
    return out


def bench_lq(games: int = 20, seed: int = 0, levels=("weak", "strong"), *,
             best_known: bool = True, rotate: bool = True, **gen) -> list[dict]:
    """Per level: every game certified as it is and rotated into its players' eigenbases."""
    rows = []
    for level in levels:
        for k in range(games):
            J, dims, (Q1, Q2), draws = lq_game(seed, k, level, **gen)
            cert, seconds = timed_certify(linear_game(J, dims, f"lq-{level}-{seed}-{k}"))
            row = {"level": level, "k": k, "dims": dims, "draws": draws, "seconds": seconds,
                   "sgn": _score_linear(cert, J, dims), "min_re": min_real_eig(J),
                   "h_spectral": spectral_euler_threshold(J)}
            if rotate:
                Q = np.zeros_like(J)
                Q[:dims[0], :dims[0]], Q[dims[0]:, dims[0]:] = Q1, Q2
                Jr = Q.T @ J @ Q
                one = [1] * sum(dims)
                cert_r, seconds_r = timed_certify(linear_game(Jr, one, f"lq-rot-{level}-{k}"))
                row["rot"] = _score_linear(cert_r, Jr, one)
                row["rot"]["seconds"] = seconds_r
            if best_known:
                row["best_scalar"] = best_metric_margin(J, dims, scalar=True)
                row["best_block"] = best_metric_margin(J, dims, scalar=False)
            rows.append(row)
    return rows


def print_lq(rows) -> None:
    print("2. random two-player LQ ensemble: F(x) = J x on [-1, 1]^d, d_i = 3..5, "
          "own blocks of condition 100")
    print("   weak: coupling scaled to SGN's rho = 0.5; strong: half way to instability, "
          "kept if rho >= 1\n   rot = each player rotated into its own block's eigenbasis, "
          "one player per coordinate")
    head = (f"{'level':<7} {'games':>5} {'draws':>5} {'rho med':>8} {'sgn cert':>9} "
            f"{'(eucl)':>6} {'rot cert':>8} {'scalar-SDP':>10} {'block-SDP':>9} "
            f"{'sgn/best':>8} {'rot/best':>8} {'time s':>6} {'rot s':>6}")
    print(head)
    print("-" * len(head))
    for level in dict.fromkeys(r["level"] for r in rows):
        rs = [r for r in rows if r["level"] == level]
        n = len(rs)
        frac = lambda xs: f"{sum(xs)}/{n}"  # noqa: E731
        has_best = "best_block" in rs[0]
        has_rot = "rot" in rs[0]

        def vs_best(who):
            if not has_best or who not in rs[0]:
                return None
            return median(ratio(r[who]["margin"], r["best_block"])
                          for r in rs if r[who]["certified"])
        print(f"{level:<7} {n:>5} {sum(r['draws'] for r in rs):>5} "
              f"{fmt(median(r['sgn']['rho'] for r in rs), '8.2f')} "
              f"{frac([r['sgn']['certified'] for r in rs]):>9} "
              f"{frac([r['sgn']['certified'] and r['sgn']['by'] == 'euclidean' for r in rs]):>6} "
              f"{frac([r['rot']['certified'] for r in rs]) if has_rot else '-':>8} "
              f"{frac([r['best_scalar'] > 0 for r in rs]) if has_best else '-':>10} "
              f"{frac([r['best_block'] > 0 for r in rs]) if has_best else '-':>9} "
              f"{fmt(vs_best('sgn'), '8.3f')} {fmt(vs_best('rot'), '8.3f')} "
              f"{fmt(median(r['seconds'] for r in rs), '6.2f')} "
              f"{fmt(median(r['rot']['seconds'] for r in rs) if has_rot else None, '6.2f')}")
    print("   columns: draws = games drawn to keep these; scalar-SDP / block-SDP = games the best "
          "block-scalar /\n   block-diagonal metric found certifies (margin > 0); sgn/best, "
          "rot/best = median certified margin / best\n   block-diagonal margin found")
    for level in dict.fromkeys(r["level"] for r in rows):
        rs = [r for r in rows if r["level"] == level]
        print(f"   {level}: certified by {rung_counts(r['sgn']['rung'] for r in rs)}; "
              f"worst (dense margin in the certificate's metric - certified margin) "
              f"{fmt(min((r['sgn']['dense_margin'] - r['sgn']['margin'] for r in rs if r['sgn']['certified']), default=None), '.2e')}")
    print()
    print("   steps of the certified games: median certified / true threshold (in the "
          "certificate's own metric; spectral: rho(I - hJ) < 1)")
    head = (f"{'level':<7} {'who':<4} {'certified':>9} {'euler/contr':>11} {'euler/spec':>10} "
            f"{'rk4/RK4 contr':>13} {'min euler/spec':>14}")
    print(head)
    print("-" * len(head))
    for level in dict.fromkeys(r["level"] for r in rows):
        rs = [r for r in rows if r["level"] == level]
        for who in ("sgn", "rot"):
            if who not in rs[0]:
                continue
            cs = [r[who] for r in rs if r[who]["certified"]]
            spec = [c["euler_spec"] for c in cs if c["euler_spec"] is not None]
            print(f"{level:<7} {who:<4} {len(cs):>9} "
                  f"{fmt(median(c['euler_contr'] for c in cs), '10.4f', 'x')} "
                  f"{fmt(median(c['euler_spec'] for c in cs), '9.4f', 'x')} "
                  f"{fmt(median(c['rk4'] for c in cs), '12.4f', 'x')} "
                  f"{fmt(min(spec) if spec else None, '13.4f', 'x')}")


# --- 3. games only a matrix-valued block metric certifies -----------------------------------

def matrix_game(seed: int, k: int, *, players=2, dmin=2, dmax=4, cond=(10.0, 100.0),
                skew=(2.0, 20.0), max_draws=200):
    """J = P^-1 (S + K), kept only if no block-scalar metric certifies it.

    P = blockdiag(P_i), P_i = c_i Q_i diag(p) Q_i^T with p log-uniform in [1/cond_i, 1] (ends
    drawn), cond_i log-uniform in `cond`, c_i log-uniform in [1, 10]; S = Q diag(s) Q^T over
    the whole joint vector, s uniform in [0.5, 2]; K = kappa (G - G^T)/||G - G^T||_2, G
    Gaussian, kappa log-uniform in `skew`. In the metric P, sym(P J) = S, so the margin is
    lambda_min(P^-1/2 S P^-1/2) > 0. Returns (J, dims, that margin, best block-scalar margin,
    draws needed)."""
    rng = np.random.default_rng([seed, k, 2])
    for draw in range(1, max_draws + 1):
        dims = [int(x) for x in rng.integers(dmin, dmax + 1, players)]
        d = sum(dims)
        P = np.zeros((d, d))
        off = 0
        for di in dims:
            Pi, _, _ = spd_block(rng, di, np.exp(rng.uniform(*np.log(cond))),
                                 np.exp(rng.uniform(0, np.log(10))))
            P[off:off + di, off:off + di] = Pi
            off += di
        Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        S = (Q * rng.uniform(0.5, 2.0, d)) @ Q.T
        G = rng.standard_normal((d, d))
        K = np.exp(rng.uniform(*np.log(skew))) * (G - G.T) / np.linalg.norm(G - G.T, 2)
        J = np.linalg.solve(P, S + K)
        w, V = np.linalg.eigh(P)
        R = (V / np.sqrt(w)) @ V.T
        in_p = float(np.linalg.eigvalsh(R @ S @ R)[0])
        scalar = best_metric_margin(J, dims, scalar=True)
        if scalar > 0:
            continue
        return J, dims, in_p, scalar, draw
    raise RuntimeError(f"no matrix-metric game in {max_draws} draws (seed {seed}, game {k})")


def bench_matrix(games: int = 20, seed: int = 0, *, best_known: bool = True,
                 **gen) -> list[dict]:
    rows = []
    for k in range(games):
        J, dims, in_p, scalar, draws = matrix_game(seed, k, **gen)
        cert, seconds = timed_certify(linear_game(J, dims, f"matrix-{seed}-{k}"))
        rows.append({"k": k, "dims": dims, "draws": draws, "in_p": in_p, "scalar": scalar,
                     "block": best_metric_margin(J, dims, scalar=False) if best_known else None,
                     "min_re": min_real_eig(J), "seconds": seconds,
                     **_score_linear(cert, J, dims)})
    return rows


def print_matrix(rows) -> None:
    print("3. random linear games J = P^-1 (S + K) that no block-scalar metric certifies "
          "(P block-diagonal SPD,\n   condition 10..100 per block, S SPD, K skew); "
          "margin in P: lambda_min(P^-1/2 S P^-1/2) =: m_P")
    n = len(rows)
    head = (f"{'games':>5} {'draws':>5} {'dims':>7} {'sgn cert':>8} {'rho med':>8} "
            f"{'margin/m_P':>10} {'scalar-SDP/m_P':>14} {'block-SDP/m_P':>13} "
            f"{'minRe/m_P':>9} {'time s':>6}")
    print(head)
    print("-" * len(head))
    dims = sorted({sum(r["dims"]) for r in rows})
    print(f"{n:>5} {sum(r['draws'] for r in rows):>5} {f'{dims[0]}..{dims[-1]}':>7} "
          f"{sum(r['certified'] for r in rows)}/{n:<6} "
          f"{fmt(median(r['rho'] for r in rows), '8.2f')} "
          f"{fmt(median(ratio(r['margin'], r['in_p']) for r in rows if r['certified']), '10.3f')} "
          f"{fmt(median(r['scalar'] / r['in_p'] for r in rows), '14.3f')} "
          f"{fmt(median(ratio(r['block'], r['in_p']) for r in rows), '13.3f')} "
          f"{fmt(median(r['min_re'] / r['in_p'] for r in rows), '9.3f')} "
          f"{fmt(median(r['seconds'] for r in rows), '6.2f')}")
    print("   medians over the games; scalar-SDP = best block-scalar margin found (<= 0 by "
          "construction), block-SDP =\n   best block-diagonal margin found, minRe = min Re "
          "eig(J) (an upper bound over all metrics)")
    cs = [r for r in rows if r["certified"]]
    print(f"   steps, median certified / true threshold in the certificate's metric: Euler "
          f"{fmt(median(r['euler_contr'] for r in cs), '.4f', 'x')}, RK4 "
          f"{fmt(median(r['rk4'] for r in cs), '.4f', 'x')} (worst Euler "
          f"{fmt(min((r['euler_contr'] for r in cs if r['euler_contr'] is not None), default=None), '.4f', 'x')}, RK4 "
          f"{fmt(min((r['rk4'] for r in cs if r['rk4'] is not None), default=None), '.4f', 'x')})")
    print(f"   certified by {rung_counts(r['rung'] for r in rows)}; margin >= m_P in "
          f"{sum(r['margin'] >= r['in_p'] * (1 - 1e-6) for r in cs)}/{len(cs)}; worst (dense "
          f"margin in the certificate's metric - certified margin) "
          f"{fmt(min((r['dense_margin'] - r['margin'] for r in cs), default=None), '.2e')}")


# --- 4. the bundled nonlinear examples ------------------------------------------------------

def sample_jacobians(game, points: int, seed: int = 0, extra=()) -> np.ndarray:
    """J at `points` uniform points of the region (plus its centre and `extra` points)."""
    import jax

    box = game.region
    rng = np.random.default_rng(seed)
    X = box.low + (box.high - box.low) * rng.random((points, game.dim))
    X = np.vstack([X, np.asarray(box.centre)[None], *[np.asarray(e)[None] for e in extra]])
    f = jax.jit(jax.vmap(game.jacobian))
    return np.concatenate([np.asarray(f(c)) for c in np.array_split(X, max(1, len(X) // 256))])


def bench_nonlinear(examples=EXAMPLES, *, verify: bool = True, verify_seconds: float = 20.0,
                    points: int = 256, skip_verify=(), target_ratio=None) -> list[dict]:
    rows = []
    for name in examples:
        game = sgn.load_game(ROOT / "examples" / f"{name}.py")
        cert, seconds = timed_certify(game)
        row = {"name": name, "d": game.dim, "status": cert.status.value, "margin": cert.margin,
               "by": cert.diagnostics.get("certified_by"), "seconds": seconds}
        row["euler_max"], row["rk4_proven"] = steps_of(cert)
        eq = (cert.equilibrium or {}).get("x")
        Js = sample_jacobians(game, points, extra=[eq] if eq is not None else ())
        A = metric_scale(Js, cert.weights, game.dims)
        row["margin_samples"] = float(np.min(sym_min(A)))
        row["h_contraction"] = euler_contraction_threshold(A)
        row["h_spectral_eq"] = (spectral_euler_threshold(
            np.asarray(game.jacobian_fn(np.asarray(eq)), float)) if eq is not None else None)
        if verify and name not in skip_verify:
            vcert, vseconds = timed_certify(game, method="interval", max_seconds=verify_seconds,
                                            target_ratio=target_ratio)
            row.update(v_status=vcert.status.value, v_margin=vcert.margin,
                       v_verified=vcert.verified, v_seconds=vseconds,
                       v_euler=steps_of(vcert)[0])
        rows.append(row)
    return rows


def print_nonlinear(rows, verify_seconds: float, target_ratio=None) -> None:
    print(f"4. bundled nonlinear examples: sampled (default) against verified (method="
          f"'interval', max_seconds={verify_seconds:g}"
          + ("" if target_ratio is None else f", target_ratio={target_ratio:g}") + ")")
    print("   est. margin = min over the sampled points of lambda_min(sym A(x)) at the sampled "
          "certificate's weights\n   (an estimate from above of the true margin in that metric)")
    head = (f"{'example':<11} {'d':>3} {'sampled':<10} {'margin':>9} {'est.':>9} "
            f"{'verified':<13} {'margin':>9} {'samp/ver':>8} {'time s':>6} {'ver s':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        v = "v_status" in r
        vs = r.get("v_status", "skipped")
        if v and not r["v_verified"]:
            vs += "*"
        rv = (ratio(r["margin"], r["v_margin"]) if v and r["v_status"] == "certified" else None)
        print(f"{r['name']:<11} {r['d']:>3} {r['status']:<10} {r['margin']:>9.4f} "
              f"{r['margin_samples']:>9.4f} {vs:<13} "
              f"{fmt(r.get('v_margin'), '9.4g')} {fmt(rv, '7.2f', 'x')} "
              f"{r['seconds']:>6.1f} {fmt(r.get('v_seconds'), '6.1f')}")
    if any(r.get("v_verified") is False for r in rows):
        print("   * not verified: sgn fell back to sampled bounds (see the certificate's notes)")
    print()
    print("   Euler steps: certified euler_max against h* contr. (est.) = largest h with max "
          "over the sampled\n   points of ||I - h A(x)||_2 < 1, and h* spec.(x*) = rho(I - h "
          "J(x*)) < 1 at the equilibrium")
    head = (f"{'example':<11} {'euler_max':>9} {'h* contr':>8} {'ratio':>7} {'h* spec x*':>10} "
            f"{'ratio':>7} {'verified euler':>14} {'ratio':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        ve = r.get("v_euler") if r.get("v_status") == "certified" else None
        print(f"{r['name']:<11} {fmt(r['euler_max'], '9.4g')} {r['h_contraction']:>8.4g} "
              f"{fmt(ratio(r['euler_max'], r['h_contraction']), '6.3f', 'x')} "
              f"{fmt(r['h_spectral_eq'], '10.4g')} "
              f"{fmt(ratio(r['euler_max'], r['h_spectral_eq']), '6.3f', 'x')} "
              f"{fmt(ve, '14.4g')} {fmt(ratio(ve, r['h_contraction']), '6.3f', 'x')}")


# --- targets, formatting, main --------------------------------------------------------------

def fmt(x, spec: str, suffix: str = "") -> str:
    width = int(spec.split(".")[0] or 0) + len(suffix)
    return f"{'-':>{width}}" if x is None else f"{format(x, spec)}{suffix}"


def print_targets(lift, lq, nonlinear) -> None:
    print("issue 13 targets")
    if lift:
        cert = [r for r in lift if r["status"] == "certified"]
        e = min((ratio(r["euler_max"], r["h_contraction"]) for r in cert), default=None)
        k = min((ratio(r["rk4_proven"], r["h_rk4"]) for r in cert), default=None)
        ok = e is not None and k is not None and min(e, k) >= TARGET_STEP_RATIO
        print(f"  lift: certified Euler and RK4 steps >= {TARGET_STEP_RATIO}x the true "
              f"(contraction) threshold for every certified lam: {'met' if ok else 'NOT met'} "
              f"(worst Euler {fmt(e, '.3f')}x, worst RK4 {fmt(k, '.3f')}x)")
    strong = [r for r in lq if r["level"] == "strong"]
    if strong:
        got = sum(r["sgn"]["certified"] for r in strong) / len(strong)
        print(f"  LQ ensemble (strong coupling, all stable): {TARGET_ENSEMBLE:.0%} certified: "
              f"{'met' if got >= TARGET_ENSEMBLE else 'NOT met'} ({got:.0%})")
    ver = [r for r in nonlinear if "v_status" in r]
    if ver:
        rs = [(r["name"], ratio(r["margin"], r["v_margin"])
               if r["v_status"] == "certified" and r["v_verified"] else None) for r in ver]
        ok = all(x is not None and x <= TARGET_VERIFIED_RATIO for _, x in rs)
        detail = ", ".join(f"{n} {fmt(x, '.2f', 'x') if x is not None else 'not verified'}"
                           for n, x in rs)
        print(f"  nonlinear examples: verified margin within {TARGET_VERIFIED_RATIO:g}x of the "
              f"sampled one: {'met' if ok else 'NOT met'} ({detail})")


def revision() -> str:
    """The sgn checkout's commit, '+dirty' when sgn/ has uncommitted edits (or 'unknown')."""
    root = Path(sgn.__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "sgn")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="lift,lq,matrix,nonlinear",
                    help="families to run, comma-separated")
    ap.add_argument("--lams", default=",".join(f"{x:g}" for x in DEFAULT_LAMS))
    ap.add_argument("--games", type=int, default=20, help="LQ games per coupling level")
    ap.add_argument("--levels", default="weak,strong")
    ap.add_argument("--frac", type=float, default=0.5,
                    help="strong level: coupling as a fraction of the largest stable one")
    ap.add_argument("--matrix-games", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-best", action="store_true",
                    help="skip the SDP 'best known' metrics of the linear games")
    ap.add_argument("--examples", default=",".join(EXAMPLES))
    ap.add_argument("--points", type=int, default=256,
                    help="sampled points for the nonlinear examples' estimated thresholds")
    ap.add_argument("--verify-seconds", type=float, default=20.0,
                    help="max_seconds of each verified (interval) certify call")
    ap.add_argument("--target-ratio", type=float, default=None,
                    help="target_ratio of the verified certificates (sgn certify "
                    "--target-ratio): keep splitting boxes until the verified margin is this "
                    "share of the margin proved at the box centres")
    ap.add_argument("--no-verify", action="store_true", help="skip the verified certificates")
    ap.add_argument("--skip-verify", default="", help="examples not to verify, comma-separated")
    args = ap.parse_args(argv)
    only = set(args.only.split(","))

    import jax
    print(f"sgn {sgn.__version__} ({revision()}), jax {jax.__version__}, numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} cpus; seed {args.seed}\n",
          flush=True)
    t0 = time.perf_counter()
    lift, lq, nonlinear = [], [], []
    if "lift" in only:
        lift = bench_lift([float(x) for x in args.lams.split(",")])
        print_lift(lift)
        print(flush=True)
    if "lq" in only:
        lq = bench_lq(args.games, args.seed, tuple(args.levels.split(",")),
                      best_known=not args.no_best, frac=args.frac)
        print_lq(lq)
        print(flush=True)
    if "matrix" in only:
        print_matrix(bench_matrix(args.matrix_games, args.seed, best_known=not args.no_best))
        print(flush=True)
    if "nonlinear" in only:
        nonlinear = bench_nonlinear(
            [x for x in args.examples.split(",") if x], verify=not args.no_verify,
            verify_seconds=args.verify_seconds, points=args.points,
            skip_verify=set(filter(None, args.skip_verify.split(","))),
            target_ratio=args.target_ratio)
        print_nonlinear(nonlinear, args.verify_seconds, args.target_ratio)
        print(flush=True)
    print_targets(lift, lq, nonlinear)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
