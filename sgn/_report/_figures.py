"""Figures for certificate and sweep reports: matplotlib, one style, vector SVG out."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # reports are files; never open a window

import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .._weights import sgn_margin  # noqa: E402
from ._sweep_view import _kind  # noqa: E402

#: Text width of an A4 page with the report's margins, in inches.
WIDTH = 6.3

BLUE, ORANGE, GREEN, GREY, RED = "#1f5fa8", "#d9822b", "#3a8a3a", "#8a8a8a", "#b03030"

STYLE = {
    "font.family": "serif",
    "font.serif": ["cmr10"],          # Computer Modern, like the report's text
    "mathtext.fontset": "cm",
    "axes.formatter.use_mathtext": True,  # cmr10 has no minus glyph; mathtext has
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.4,
    "axes.axisbelow": True,
    "svg.fonttype": "path",  # glyphs as outlines: the figure renders the same everywhere
    "svg.hashsalt": "sgn",   # deterministic ids: the same certificate gives the same file
}


def _subplots(*grid, figsize, **options):
    """pyplot.subplots without pyplot (a tenth of a second to import, and a figure registry
    these figures, saved and dropped at once, do not need): the same Figure, the same axes."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*grid, **options)


def _svg(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def margin_vs_ratio(cert: dict, kind: str) -> bytes:
    """Two players: alpha(r) against r = w2/w1, the certified band shaded.

    `kind` names the certificate's margin (`_view.margin_test`): "sgn" puts the chosen metric
    on the curve, "euclidean" at gamma (equal weights), "metric" at the metric margin of the
    weights found from the Jacobians (off the curve: SGN's norm bounds do not certify)."""
    mu = np.asarray(cert["bounds"]["curvature"], dtype=float)
    L = np.asarray(cert["bounds"]["coupling"], dtype=float)
    chosen = cert["weights"][1] / cert["weights"][0]
    matrix = cert.get("metric")
    if matrix is not None:
        # a block-matrix metric has no weight ratio: place it at its blocks' scale ratio,
        # (trace(P_2) / d_2) / (trace(P_1) / d_1), block-scalar weights' ratio when P_i = w_i I
        # (a joint metric's P_i are its diagonal blocks)
        if matrix.get("rung") == "joint":
            d1 = cert["game"]["players"][0]["dim"]
            P = np.asarray(matrix["blocks"][0], dtype=float)
            P1, P2 = P[:d1, :d1], P[d1:, d1:]
        else:
            P1, P2 = (np.asarray(b, dtype=float) for b in matrix["blocks"])
        chosen = (np.trace(P2) / len(P2)) / (np.trace(P1) / len(P1))
    band = cert["band"]
    centre = chosen if np.isfinite(chosen) and chosen > 0 else 1.0
    lo, hi = centre / 1e3, centre * 1e3
    if band is not None:
        lo = min(lo, max(band["low"], 1e-300) / 10)
        hi = max(hi, (band["high"] or band["low"] * 1e6) * 10)
    r = np.logspace(np.log10(lo), np.log10(hi), 600)
    alpha = np.array([sgn_margin([1.0, x], mu, L) for x in r])
    with matplotlib.rc_context(STYLE):
        fig, ax = _subplots(figsize=(WIDTH, 2.3))
        metric = kind == "metric"
        ax.semilogx(r, alpha, color=BLUE,
                    label=r"SGN margin $\alpha(r)$ (norm bounds: does not certify)" if metric
                    else r"SGN margin $\alpha(r)$")
        ax.axhline(0.0, color="black", linewidth=0.7)
        gamma = cert["bounds"]["euclidean_margin"]
        ax.axhline(gamma, color=ORANGE, linestyle="--", linewidth=1.0,
                   label=rf"Euclidean margin $\gamma$ = {gamma:.4g}")
        if band is not None:
            right = band["high"] if band["high"] is not None else r[-1]
            ax.axvspan(max(band["low"], r[0]), right, color=GREEN, alpha=0.12,
                       label=r"SGN band ($\alpha(r) > 0$)" if metric else
                       r"certified band ($\alpha(r) > 0$)")
        what = (r"Euclidean $\gamma$" if kind == "euclidean" else "metric margin" if metric
                else r"SGN $\alpha(w)$")
        ax.plot([chosen], [cert["margin"]], "o", color=RED, markersize=5,
                label=(rf"block metric (scale ratio {chosen:.4g}), {what} = "
                       rf"{cert['margin']:.4g}") if matrix is not None else
                rf"chosen $r$ = {chosen:.4g}, {what} = {cert['margin']:.4g}")
        # Show zero, the best margin and the Euclidean margin; the curve's tails may leave.
        top, low = max(alpha.max(), gamma, 0.0), min(gamma, alpha.max(), 0.0)
        if metric:  # the dot is off the curve: keep it in view
            top, low = max(top, cert["margin"]), min(low, cert["margin"])
        span = (top - low) or 1.0
        ax.set_ylim(max(alpha.min(), low - 0.4 * span), top + 0.15 * span)
        ax.set_xlabel(r"weight ratio $r = w_2 / w_1$")
        ax.set_ylabel(r"margin (rate, 1/time)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
        return _svg(fig)


def weights_and_coupling(cert: dict, names: list[str]) -> bytes:
    """More players: the weights (log scale) and the coupling matrix L_ij / mu_i as a heat map."""
    w = np.asarray(cert["weights"], dtype=float)
    mu = np.asarray(cert["bounds"]["curvature"], dtype=float)
    L = np.asarray(cert["bounds"]["coupling"], dtype=float)
    n = w.size
    with matplotlib.rc_context(STYLE):
        fig, (left, right) = _subplots(1, 2, figsize=(WIDTH, 2.5),
                                       gridspec_kw={"width_ratios": [1.1, 1]})
        left.bar(np.arange(n), w, color=BLUE)
        left.set_yscale("log")
        _player_ticks(left.xaxis, names)
        left.set_xlabel("player $i$" if n > NAMED else "")
        left.set_ylabel(r"block weight $w_i$ ($w_1 = 1$)")
        block = "F_i" if cert.get("geometry") == "fisher" else "I"
        left.set_title(f"metric $M(w) = \\mathrm{{blockdiag}}(w_i {block})$")
        gain = np.where(mu[:, None] > 0, L / np.where(mu[:, None] > 0, mu[:, None], 1.0), np.nan)
        shown = np.where(gain > 0, gain, np.nan)
        positive = shown[np.isfinite(shown)]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size and \
            positive.min() < positive.max() else None
        grid = np.arange(n + 1) - 0.5  # pcolormesh, not imshow: cells stay vector graphics
        image = right.pcolormesh(grid, grid, np.ma.masked_invalid(shown), cmap="viridis",
                                 norm=norm)
        right.set_xlim(-0.5, n - 0.5)
        right.set_ylim(n - 0.5, -0.5)
        right.set_aspect("equal")
        _player_ticks(right.xaxis, names)
        _player_ticks(right.yaxis, names)
        right.set_xlabel("pushing player $j$")
        right.set_ylabel("affected player $i$")
        right.set_title(r"gains $L_{ij} / \mu_i$")
        right.grid(False)
        if n <= 8:
            for i in range(n):
                for j in range(n):
                    if np.isfinite(gain[i, j]) and i != j and gain[i, j] > 0:
                        shade = float(norm(gain[i, j])) if norm is not None else 0.0
                        right.text(j, i, f"{gain[i, j]:.3g}", ha="center", va="center",
                                   fontsize=6.5, color="black" if shade > 0.6 else "white")
        fig.colorbar(image, ax=right, fraction=0.046, pad=0.04)
        fig.tight_layout()
        return _svg(fig)


#: Cells per side of the sparse coupling picture.
SPY_BINS = 64


def sparse_coupling(cert: dict) -> bytes:
    """Many players (a COO coupling, schema version 3): the weights' spread, the coupling
    graph's in-degrees, and a spy-like picture of the gains L_ij / mu_i (largest per cell),
    instead of an N x N heat map."""
    from .._schema import coupling_matrix

    w = np.asarray(cert["weights"], dtype=float)
    mu = np.asarray(cert["bounds"]["curvature"], dtype=float)
    L = coupling_matrix(cert["bounds"]["coupling"]).tocoo()
    n = w.size
    gain = L.data / np.where(mu[L.row] > 0, mu[L.row], np.nan)
    with matplotlib.rc_context(STYLE):
        fig, (left, middle, right) = _subplots(1, 3, figsize=(WIDTH, 2.4),
                                               gridspec_kw={"width_ratios": [1, 1, 1.15]})
        edges = np.logspace(np.log10(w.min()), np.log10(w.max()) + 1e-9, 30) \
            if w.max() > w.min() else np.array([w.min() * 0.9, w.max() * 1.1])
        left.hist(w, bins=edges, color=BLUE)
        left.set_xscale("log")
        left.set_xlabel(r"block weight $w_i$ ($w_1 = 1$)")
        left.set_ylabel("players")
        left.set_title("metric weights")
        degree = np.bincount(L.row, minlength=n)
        counts = np.bincount(degree)
        middle.bar(np.arange(counts.size), counts, color=ORANGE)
        middle.set_xlabel("couplings into player $i$")
        middle.set_ylabel("players")
        middle.set_title(f"in-degree (mean {degree.mean():.3g})")
        bins = min(SPY_BINS, n)
        cell = np.full((bins, bins), np.nan)
        r, c = L.row * bins // n, L.col * bins // n
        finite = np.isfinite(gain) & (gain > 0)
        np.fmax.at(cell, (r[finite], c[finite]), gain[finite])
        positive = cell[np.isfinite(cell)]
        norm = LogNorm(vmin=positive.min(), vmax=positive.max()) if positive.size and \
            positive.min() < positive.max() else None
        grid = np.linspace(0, n, bins + 1)
        image = right.pcolormesh(grid, grid, np.ma.masked_invalid(cell), cmap="viridis",
                                 norm=norm)
        right.set_xlim(0, n)
        right.set_ylim(n, 0)
        right.set_aspect("equal")
        right.set_xlabel("pushing player $j$")
        right.set_ylabel("affected player $i$")
        right.set_title(r"largest $L_{ij} / \mu_i$ per cell")
        right.grid(False)
        fig.colorbar(image, ax=right, fraction=0.046, pad=0.04)
        fig.tight_layout()
        return _svg(fig)


def margin_bars(cert: dict, kind: str) -> list[tuple[str, float | None]]:
    """The margins figure's bars, (label, value), each label the quantity its value is.

    For the metric route (`kind` "metric") SGN's bar is its best margin over all weights, which
    does not certify, and the metric margin is the certificate's margin."""
    if kind == "metric":
        bars = [[r"Euclidean $\gamma$", cert["bounds"]["euclidean_margin"]],
                [r"best SGN $\alpha$" "\n(does not certify)",
                 cert["diagnostics"].get("best_possible_margin")],
                ["metric margin", cert["diagnostics"]["metric_margin"]]]
        if cert["status"] == "certified":
            bars[2][0] += "\n(certifies)"
        return [tuple(bar) for bar in bars]
    euclidean = kind == "euclidean"
    bars = [[r"Euclidean $\gamma$", cert["bounds"]["euclidean_margin"]],
            [r"best SGN $\alpha$", cert["diagnostics"].get("best_possible_margin")]
            if euclidean else [r"SGN $\alpha(w)$", cert["margin"]],
            ["metric margin", cert["diagnostics"]["metric_margin"]]]
    if cert["status"] == "certified":
        bars[0 if euclidean else 1][0] += "\n(certifies)"
    return [tuple(bar) for bar in bars]


def margins(cert: dict, kind: str) -> bytes:
    """Euclidean margin, SGN margin, and the margin the Jacobians show in the chosen metric.

    Each bar is labelled with the quantity it is. `kind` (`_view.margin_test`) says which test
    the certificate's margin belongs to: for "euclidean" the margin is gamma, and SGN's bar is
    its best margin over all weights (`diagnostics.best_possible_margin`); so it is for
    "metric", whose margin is the metric margin."""
    labels, values = zip(*margin_bars(cert, kind))
    colors = [ORANGE, BLUE, GREEN]
    with matplotlib.rc_context(STYLE):
        fig, ax = _subplots(figsize=(WIDTH, 1.4))
        ax.barh(np.arange(3), [_nan(v) for v in values], color=colors, height=0.6)
        ax.axvline(0.0, color="black", linewidth=0.7)
        ax.set_yticks(np.arange(3), labels)
        ax.invert_yaxis()
        known = [v for v in values if v is not None]
        span = max(abs(v) for v in known) or 1.0
        for k, v in enumerate(values):
            if v is None:
                ax.text(0.02 * span, k, "not available", va="center", fontsize=7.5)
                continue
            ax.text(v + (0.02 if v >= 0 else -0.02) * span, k, f"${v:.4g}$", va="center",
                    ha="left" if v >= 0 else "right", fontsize=7.5)
        ax.set_xlim(min(0.0, min(known)) - 0.2 * span, max(0.0, max(known)) + 0.2 * span)
        ax.set_xlabel(r"margin (rate, 1/time); $> 0$ means strongly monotone in that metric")
        ax.grid(axis="y", visible=False)
        return _svg(fig)


#: Below these ratios to the start, float64 rounding dominates a simulated distance (its
#: square, for the KL function): a run is drawn until it first falls below, not beyond.
DISTANCE_FLOOR, KL_FLOOR = 1e-15, 1e-12


def _until_floor(ratio: np.ndarray, floor: float) -> np.ndarray:
    """(steps, starts) ratios, each start's column ended (NaN) where it first falls below
    `floor`: it has reached the equilibrium to rounding, and what follows is noise."""
    ratio = np.array(ratio, dtype=float)
    below = np.cumsum(~(ratio >= floor), axis=0) > 0   # NaN and inf count as below
    ratio[below | ~np.isfinite(ratio)] = np.nan
    return ratio


def _x_end(ratios: list) -> int:
    """The last step shown: every step while a run is still drawn at the end; otherwise a
    little past the step where the last run reached the floor."""
    total = ratios[0].shape[0] - 1
    drawn = [np.flatnonzero(np.isfinite(r).any(axis=1)) for r in ratios]
    if any(d.size and d[-1] == total for d in drawn):
        return total
    last = max((int(d[-1]) for d in drawn if d.size), default=total)
    return min(total, max(10, int(np.ceil(1.2 * last))))


def _bottom(ratios: list, envelopes: list, floor: float) -> float:
    """The lower y limit: every drawn run and every envelope's end in view."""
    lowest = [float(np.nanmin(r)) for r in ratios if np.any(np.isfinite(r))] + envelopes
    return max(floor / 2, 0.5 * min(lowest, default=floor))


def trajectories(runs: list) -> bytes:
    """Distance to x* in M(w) against steps, each start a thin line, the certified envelope."""
    shown = [r for r in runs if r.method in ("euler", "rk4") and r.distances is not None]
    ratios = [r.distances / np.maximum(r.distances[0], 1e-300) for r in shown]
    ratios = [_until_floor(d, DISTANCE_FLOOR) for d in ratios]
    # Each panel its own iterations: the certified steps of Euler and RK4 can differ a lot (a
    # direct Euler step converges in tens of steps where RK4's alpha/beta step takes thousands),
    # and a shared axis would squeeze the faster one against its left edge.
    ends = [_x_end([d]) for d in ratios]
    bottom = _bottom(ratios, [r.certified_factor ** end for r, end in zip(shown, ends)
                              if r.certified_factor is not None], DISTANCE_FLOOR)
    with matplotlib.rc_context(STYLE):
        fig, axes = _subplots(1, len(shown), figsize=(WIDTH, 2.2), sharey=True,
                              squeeze=False)
        for ax, run, d, end in zip(axes[0], shown, ratios, ends):
            k = np.arange(d.shape[0])
            ax.semilogy(k, d, color=BLUE, alpha=0.35, linewidth=0.8)
            if run.certified_factor is not None:
                ax.semilogy(k, run.certified_factor ** k, color=RED, linestyle="--",
                            linewidth=1.4, label=f"certified $q^k$, q = {run.certified_factor:.6g}")
                ax.legend(loc="lower left", frameon=False)
            ax.set_title(f"{'projected Euler' if run.method == 'euler' else 'RK4'}, "
                         f"h = {run.step:.4g}")
            ax.set_xlabel("iteration $k$")
            ax.set_xlim(0, end)
            ax.set_ylim(bottom, 2.0)
        axes[0][0].set_ylabel(r"$\|x_k - x^*\|_M \,/\, \|x_0 - x^*\|_M$")
        fig.tight_layout()
        return _svg(fig)


def kl_decay(runs: list) -> bytes:
    """V_k / V_0 against iterations for NPG (with the certified q^(2k)) and PG."""
    with matplotlib.rc_context(STYLE):
        fig, axes = _subplots(1, len(runs), figsize=(WIDTH, 2.2), sharey=True, squeeze=False)
        ratios = [_until_floor(run.lyapunov / np.maximum(run.lyapunov[0], 1e-300), KL_FLOOR)
                  for run in runs]
        end = _x_end(ratios)
        bottom = _bottom(ratios, [r.certified_rate ** end for r in runs
                                  if r.certified_rate is not None], KL_FLOOR)
        for ax, run, V in zip(axes[0], runs, ratios):
            k = np.arange(V.shape[0])
            ax.semilogy(k, V, color=BLUE, alpha=0.35, linewidth=0.8)
            if run.certified_rate is not None:
                ax.semilogy(k, run.certified_rate ** k, color=RED, linestyle="--", linewidth=1.4,
                            label=f"certified $q^{{2k}}$, $q^2$ = {run.certified_rate:.6g}")
                ax.legend(loc="upper right", frameon=False)
            name = "natural policy gradient" if run.method == "npg" else "policy gradient"
            ax.set_title(f"{name}, h = {run.step:.4g}")
            ax.set_xlabel("iteration $k$")
            ax.set_xlim(0, end)
            ax.set_ylim(bottom, 2.0)
        axes[0][0].set_ylabel(r"$V_k \,/\, V_0$")
        fig.tight_layout()
        return _svg(fig)


def step_sweep(sizes) -> bytes:
    """Final V ratio against the step, NPG and PG, with the certified NPG range shaded."""
    h = np.array([r["step"] for r in sizes.rows])
    with matplotlib.rc_context(STYLE):
        fig, ax = _subplots(figsize=(WIDTH, 2.2))
        ax.axvspan(h.min() / 1.5, sizes.certified_max, color=GREEN, alpha=0.15,
                   label="certified NPG steps")
        for method, colour, label in (("npg", BLUE, "NPG"), ("pg", GREY, "PG")):
            ratio = np.array([r[f"{method}_final_ratio"] for r in sizes.rows], dtype=float)
            ax.loglog(h, np.clip(np.nan_to_num(ratio, nan=1e30, posinf=1e30), 1e-17, 1e30),
                      marker="o", color=colour, label=label)
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_xlabel("step size $h$")
        ax.set_ylabel(r"worst $V_T \,/\, V_0$")
        ax.set_xlim(h.min() / 1.5, h.max() * 1.5)
        ax.legend(loc="upper left", frameon=False)
        fig.tight_layout()
        return _svg(fig)


def sweep_margins(param: str, rows: list[dict]) -> bytes:
    """Margins against the swept parameter, regions shaded by which test certifies."""
    p = np.array([r["params"][param] for r in rows], dtype=float)
    gamma = np.array([r["euclidean_margin"] for r in rows], dtype=float)
    alpha = np.array([_nan(r["margin"]) for r in rows], dtype=float)
    # the metric margin is only meaningful in a certified metric
    metric = np.array([r["metric_margin"] if r["status"] == "certified" else np.nan
                       for r in rows], dtype=float)
    with matplotlib.rc_context(STYLE):
        fig, ax = _subplots(figsize=(WIDTH, 2.5))
        _shade_regions(ax, p, rows)
        ax.plot(p, gamma, color=ORANGE, label=r"Euclidean margin $\gamma$")
        ax.plot(p, alpha, color=BLUE, label=r"best SGN margin $\alpha$")
        ax.plot(p, metric, color=GREEN, linestyle="none", marker="o", markersize=2.5,
                label="metric margin (certified points)")
        ax.axhline(0.0, color="black", linewidth=0.7)
        ax.set_xlabel(param)
        ax.set_ylabel("margin (rate, 1/time)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
        return _svg(fig)


def sweep_steps(param: str, rows: list[dict]) -> bytes:
    """Step-size phase diagram: the parameter against the certified step sizes."""
    p = np.array([r["params"][param] for r in rows], dtype=float)
    with matplotlib.rc_context(STYLE):
        fig, ax = _subplots(figsize=(WIDTH, 2.3))
        e_max = np.array([_nan(r["euler_max"]) for r in rows], dtype=float)
        ax.fill_between(p, 0, np.nan_to_num(e_max), color=GREEN, alpha=0.12,
                        label="Euler contracts (certified)")
        ax.plot(p, e_max, color=GREEN, label=r"Euler max $2\alpha/\beta^2$")
        ax.plot(p, [_nan(r["euler_recommended"]) for r in rows], color=BLUE,
                label=r"Euler recommended $\alpha/\beta^2$")
        ax.plot(p, [_nan(r["rk4_proven"]) for r in rows], color=RED, linestyle="--",
                label="RK4 proven")
        ax.set_xlabel(param)
        ax.set_ylabel("step size $h$")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
        return _svg(fig)


def _shade_regions(ax, p, rows):
    """Shade where each test certifies, switching where the deciding margin crosses zero
    (linear interpolation between grid points), not halfway between them."""
    kinds = [_kind(r) for r in rows]
    colors = {"euclidean": ORANGE, "sgn": BLUE, "metric": GREEN, "none": GREY}
    labels = {"euclidean": "Euclidean test certifies", "sgn": "only SGN certifies",
              "metric": "only weights from the Jacobians certify", "none": "neither certifies"}
    edges = [p[0]]
    for k in range(len(rows) - 1):
        if kinds[k] == kinds[k + 1]:
            continue
        pair = {kinds[k], kinds[k + 1]}
        # where the deciding margin crosses zero; none is known between the metric route and
        # "neither" (the metric margin is of different weights on either side): halfway
        key = ("euclidean_margin" if "euclidean" in pair else
               None if pair == {"metric", "none"} else "margin")
        a, b = (None, None) if key is None else (rows[k][key], rows[k + 1][key])
        t = a / (a - b) if a is not None and b is not None and a != b else 0.5
        edges.append(p[k] + min(max(t, 0.0), 1.0) * (p[k + 1] - p[k]))
    edges.append(p[-1])
    runs = [kinds[0]] + [kinds[k + 1] for k in range(len(rows) - 1) if kinds[k] != kinds[k + 1]]
    seen = set()
    for kind, left, right in zip(runs, edges[:-1], edges[1:]):
        ax.axvspan(left, right, color=colors[kind], alpha=0.10, linewidth=0,
                   label=None if kind in seen else labels[kind])
        seen.add(kind)


def _nan(value):
    return np.nan if value is None else value


#: Up to this many players, axes name them; beyond, they are numbered as in the players table.
NAMED = 6
#: At most this many numbered ticks on an axis.
TICKS = 10


def _player_ticks(axis, names: list[str]) -> None:
    """A tick per player with its (shortened) name for a few players; for more, numbers
    1..N, thinned to at most TICKS labels so that they never overlap."""
    n = len(names)
    if n <= NAMED:
        axis.set_ticks(np.arange(n), [s if len(s) <= 10 else s[:9] + "." for s in names])
        return
    every = -(-n // TICKS)
    shown = np.arange(0, n, every)
    axis.set_ticks(shown, [str(i + 1) for i in shown])
    axis.set_ticks(np.arange(n), minor=True)
