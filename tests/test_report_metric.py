"""The metric route (issue 13) in the text summary and the PDF report, and the other kinds
unchanged.

When SGN's small-gain test (norm bounds) and the Euclidean test both fail, sgn searches block
weights from the Jacobians and measures (sampled) or proves (verified) their metric margin in
M(w): `diagnostics.certified_by = "metric"`, `optimizer = "metric search"`, `margin` the
metric margin. The outputs must name that route and its margin ("metric margin alpha"), and
never say that SGN certified or call the margin "SGN margin alpha(w)".

The certificates are built by hand from a real one of the skew game J = [[0.5, 1], [-4, 0.5]]
(certified with margin 0.5 at w = (1, 0.25)), so that these tests do not depend on the search
itself (sgn/_metric_search.py). The other kinds are compared with what sgn wrote before the
route existed: tests/report_golden/ holds saved certificates and, for each, its text summary
and its report view as main (f6b2f7e) produced them. The view has since gained the sentences
of "What is guaranteed" on the step sizes (`euler_guarantee`, `rk4_guarantee`), word for word
the template's old ones for SGN's alpha/beta steps. The version 1 certificates keep exactly
their old outputs; the `*_v2` ones are version 2 certificates as reports/make.sh wrote them
(direct Euler and RK4 steps; direct Euler with SGN's RK4; SGN's Euler with the exact RK4 factor
of a linear field), whose step rows name the proof of each number. To regenerate after a
deliberate change of the wording: `python tests/test_report_metric.py --regenerate`.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pypdf
import pytest

import sgn
from sgn._dynamics import basin, find_equilibrium
from sgn._report import render_report
from sgn._report._figures import margin_bars
from sgn._report._view import certificate_view, margin_test
from sgn._summary import summarize

GOLDEN = Path(__file__).resolve().parent / "report_golden"
#: saved certificates of every kind the route must leave alone: SGN (exact), Euclidean
#: (Markov, Fisher geometry), not certified, interval (verified), sampled with three players
GOLDEN_KINDS = ("scalar_toy", "markov_coordination", "too_coupled", "cascade_verified",
                "cascade", "scalar_toy_v2", "cascade_v2", "zero_sum_bilinear_v2")

W = (1.0, 0.25)
MARGIN = 0.5
SGN_REASON = (
    "small-gain fails for these norm bounds: rho = 4 >= 1 (the spectral radius of the gains "
    "L_ij / mu_i), so no block weights certify with them; the coupling bounds would have to "
    "shrink by a factor 4, or the curvature bounds grow by it. Norm bounds drop the couplings' "
    "signs, so this does not show that no weighted metric contracts")


def _skew_game():
    def field(x1, x2):
        return (0.5 * x1 + 1.0 * x2, -4.0 * x1 + 0.5 * x2)

    return sgn.Game.from_field(field, dims=[1, 1], region=sgn.Box(-1.0, 1.0), name="skew")


def metric_certificate(*, verified: bool = True, status: str = "certified") -> sgn.Certificate:
    """A certificate of the skew game as the metric route writes it (docs/certificate.md):
    SGN's (failed) bounds and diagnostics kept, the searched weights and their metric margin
    as the margin. `verified=False` makes it a sampled one; `status="inconclusive"` the one
    whose equilibrium step failed (certified_by null, the search's optimizer kept)."""
    game = _skew_game()
    # SGN's own verdict, without the route (sgn certifies this game through the search now):
    # the search is switched off, so that these tests do not depend on it
    with mock.patch("sgn._certify.search_weights", lambda *args, **kwargs: None):
        data = sgn.certify(game).to_dict()
    assert data["status"] == "not_certified"
    metric = sgn.estimate_in_metric(game, list(W), sgn.estimate_bounds(game))
    assert metric.margin == pytest.approx(MARGIN, abs=1e-12)
    beta = float(metric.lipschitz)
    steps = sgn.step_sizes(MARGIN, beta).to_dict()
    found = find_equilibrium(game, game.metric(np.array(W)), MARGIN, beta)
    equilibrium = dict(found.items())
    equilibrium["basin"] = basin(game, game.metric(np.array(W)), found.x).to_dict()
    how = "proved" if verified else "measured at sample points plus local search"
    data.update(
        status=status, weights=list(W), margin=MARGIN,
        rates={"flow": MARGIN, "euler": steps["euler_factor"], "rk4": steps["rk4_factor"]},
        step_sizes=steps,
        reasons=[f"SGN does not certify ({SGN_REASON}), but block weights found from the "
                 f"Jacobians do: their metric margin is {MARGIN:.6g} > 0 ({how})"],
        equilibrium=json.loads(json.dumps(sgn._result.plain(equilibrium))))
    data["bounds"]["lipschitz"] = beta
    data["diagnostics"].update(metric_margin=MARGIN, sgn_gap=0.0, optimizer="metric search",
                               optimizer_status="certifiable", certified_by="metric")
    if not verified:
        data["verified"] = False
        data["estimator"] = {"method": "sampled", "samples": 4096, "seed": 0,
                             "jacobian_evaluations": 4210, "constant_jacobian": False}
        data["notes"] = ["bounds are estimated from 4096 sample points plus local search, not "
                         "proved: the certificate holds if the true extremes on the region are "
                         "no worse than those found"]
    if status == "inconclusive":
        data["diagnostics"]["certified_by"] = None
        data.update(rates=None, step_sizes=None)
        data["reasons"].append("no equilibrium inside the region: enlarge the region towards it")
    return sgn.Certificate.from_json(json.dumps(data))


@pytest.fixture(scope="module")
def proved():
    return metric_certificate()


@pytest.fixture(scope="module")
def sampled():
    return metric_certificate(verified=False)


# --- which margin it is --------------------------------------------------------------------------


def test_the_certificate_reads_back_as_the_metric_route(proved, sampled):
    for cert in (proved, sampled):
        assert cert.status is sgn.Status.CERTIFIED
        assert cert.diagnostics["certified_by"] == "metric"
        assert margin_test(cert) == "metric"
    assert margin_test(metric_certificate(status="inconclusive")) == "metric"


# --- the text summary ----------------------------------------------------------------------------


def _margin_line(text: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith("margin"))


@pytest.mark.parametrize("verified", [True, False])
def test_the_summary_names_the_metric_route(verified, proved, sampled):
    cert = proved if verified else sampled
    text = summarize(cert)
    line = _margin_line(text)
    how = "proved" if verified else "measured at sample points plus local search"
    assert f"metric margin alpha = 0.5 ({how} in M(w); it certifies)" in line, line
    assert "best SGN margin possible -1.5: SGN's norm bounds do not certify" in line, line
    assert "w = [1, 0.25] (found from the Jacobians: metric search)" in text
    assert "rho = 4 (the norm bounds certify iff < 1)" in text
    assert "reason: SGN does not certify (small-gain fails" in text
    # never SGN's wording for this margin, never a claim that SGN certified
    assert not re.search(r"(?<!metric margin )alpha = 0\.5 \(metric margin", text), text
    assert not re.search(r"SGN (test )?certifie[sd]|certified by SGN", text), text
    assert "gamma (Euclidean test)" not in text


def test_the_summary_of_an_inconclusive_metric_certificate():
    text = summarize(metric_certificate(status="inconclusive"))
    line = _margin_line(text)
    assert "metric margin alpha = 0.5 (proved in M(w));" in line and "it certifies" not in line


def test_a_band_beside_the_metric_route_is_named_sgns():
    """A band (when SGN's bounds had one yet did not certify) is SGN's, not the route's."""
    data = metric_certificate().to_dict()
    data["band"] = {"low": 0.1, "high": 10.0, "best_ratio": 1.0, "best_margin": 0.01,
                    "margin": 0.0}
    text = summarize(sgn.Certificate.from_dict(data))
    assert "  SGN band     w2/w1 in [0.1, 10], best 1" in text.splitlines()


# --- the report view -----------------------------------------------------------------------------


def _rows(view):
    return {r["name"]: r for r in view["numbers"] + view["diagnostics"]}


@pytest.mark.parametrize("verified", [True, False])
def test_the_view_names_the_metric_route(verified, proved, sampled):
    cert = proved if verified else sampled
    view = certificate_view(cert, [])
    rows = _rows(view)
    how = "proved" if verified else "measured at sample points plus local search"
    assert rows["certified by"]["value"] == "metric search"
    assert "found from the Jacobians" in rows["certified by"]["meaning"]
    assert f"was {how} on the region" in rows["certified by"]["meaning"]
    assert "SGN's small-gain test does not certify" in rows["certified by"]["meaning"]
    # the margin is named by what it is: the metric margin, not SGN's alpha(w)
    assert [r["name"] for r in view["numbers"] if r["value"] == "0.5"] == \
        ["metric margin $alpha$"]
    assert "SGN margin $alpha(w)$" not in rows
    assert rows["best SGN margin"]["value"] == "\u22121.5"
    assert "does not certify" in rows["best SGN margin"]["meaning"]
    assert "found from the Jacobians" in rows["weights $w$"]["meaning"]
    # sgn_gap is 0 by construction: not shown as a tightness of SGN's bound
    gap = rows["SGN gap"]
    assert gap["value"] == "not applicable" and "0 by construction" in gap["meaning"]
    assert "the metric margin minus SGN's best margin is 2" in gap["meaning"]
    assert "0 (tight)" not in json.dumps(view)
    assert "SGN test" not in json.dumps(view) and "SGN's weighted test" not in json.dumps(view)
    assert view["rate"] == "$alpha = 0.5$" and not view["euclidean"]
    assert f"was {how} in $M(w)$" in view["route"]
    assert "does not certify this game" in view["route"]


def test_the_view_of_an_inconclusive_metric_certificate():
    view = certificate_view(metric_certificate(status="inconclusive"), [])
    rows = _rows(view)
    assert "certified by" not in rows
    assert rows["metric margin $alpha$"]["value"] == "0.5"
    assert "it certifies when $alpha > 0$" in rows["metric margin $alpha$"]["meaning"]


def test_the_margins_figure_labels_the_metric_route(proved):
    bars = margin_bars(proved.to_dict(), margin_test(proved))
    assert bars == [("Euclidean $\\gamma$", proved.bounds["euclidean_margin"]),
                    ("best SGN $\\alpha$\n(does not certify)",
                     proved.diagnostics["best_possible_margin"]),
                    ("metric margin\n(certifies)", MARGIN)]
    inconclusive = metric_certificate(status="inconclusive")
    assert [label for label, _ in margin_bars(inconclusive.to_dict(), "metric")][2] == \
        "metric margin"


# --- the PDF -------------------------------------------------------------------------------------


def _text(path) -> str:
    reader = pypdf.PdfReader(str(path))
    return " ".join(" ".join(p.extract_text().replace("\u2212", "-").replace("\u2019", "'")
                             .split()) for p in reader.pages)


@pytest.mark.parametrize("verified", [True, False])
def test_the_pdf_names_the_metric_route(verified, proved, sampled, tmp_path):
    cert = proved if verified else sampled
    text = _text(render_report(cert, tmp_path / "metric.pdf", game=_skew_game()))
    alpha, w, m = "\U0001d6fc", "\U0001d464", "\U0001d440"   # italic alpha, w, M
    how = "proved" if verified else "measured at sample points plus local search"
    assert "certified by metric search" in text
    assert f"metric margin {alpha} 0.5" in text
    assert "SGN test" not in text and f"SGN margin {alpha}({w})" not in text
    assert not re.search(r"certified by SGN|SGN('s test)? certified|"
                         r"SGN('s test)? certifies (?!iff)", text), text
    assert "SGN's small-gain test with the norm bounds does not certify this game" in text
    assert "not applicable" in text and "0 by construction" in text
    assert "0 (tight)" not in text
    # Figure 1: the chosen ratio at its metric margin, off the SGN curve, which does not certify
    assert "No ratio certifies by SGN's test" in text
    assert "block weights found from the Jacobians, at their metric margin" in text
    assert f"metric margin {alpha} ({how} in {m}({w})), which certified" in text
    assert "it is not a point of the SGN curve" in text
    # Figure 2: SGN's bar is its best margin, which does not certify
    assert "with these norm bounds, which does not certify" in text
    # Figure 3: simulated against the certified envelope
    assert "Figure 3: Simulated distance to the equilibrium" in text


# --- sweeps --------------------------------------------------------------------------------------


def _sweep_with_metric_points():
    """The bundled lifted-toy sweep with its first four uncertified points marked as certified by
    the metric search (the grid's numbers are not re-derived: only the labels are checked)."""
    from sgn._sweep import Sweep

    data = json.loads((Path(__file__).resolve().parent.parent / "reports" /
                       "lifted_toy_sweep.json").read_text())
    marked = [r for r in data["rows"] if r["status"] != "certified"][:4]
    for r in marked:
        r.update(status="certified", certified_by="metric", metric_margin=0.1,
                 certified_margin=0.1, euler_max=0.01, euler_recommended=0.005, rk4_proven=0.004)
    return Sweep(**data), len(marked)


def test_a_sweep_names_points_certified_by_the_metric_search(tmp_path):
    from sgn._report import render_sweep_report
    from sgn._report._sweep_view import sweep_view
    from sgn._summary import summarize_sweep

    sweep, marked = _sweep_with_metric_points()
    text = summarize_sweep(sweep)
    assert text.count("certified+") == marked
    assert "+ certified by block weights found from the Jacobians" in text
    view = sweep_view(sweep)
    assert view["counts"]["metric"] == str(marked)
    assert sum(row[1] == "certified (metric)" for row in view["rows"]) == marked
    # they are not counted as SGN's
    sgn_points = sum(r["status"] == "certified" and r["certified_by"] != "metric"
                     and r["euclidean_margin"] <= 0 for r in sweep.rows)
    assert view["counts"]["sgn"] == str(sgn_points)
    pdf = _text(render_sweep_report(sweep, tmp_path / "sweep.pdf"))
    assert f"only weights from the Jacobians certify {marked} points" in pdf
    assert "where only block weights found from the Jacobians do" in pdf


# --- the other kinds: unchanged ------------------------------------------------------------------


def _golden_outputs(cert: sgn.Certificate) -> tuple[str, dict]:
    view = certificate_view(cert, [])
    view["margin_test"] = margin_test(cert)
    view["margin_bars"] = [list(b) for b in margin_bars(cert.to_dict(), margin_test(cert))]
    return summarize(cert), json.loads(json.dumps(view))


@pytest.mark.parametrize("name", GOLDEN_KINDS)
def test_the_other_kinds_are_unchanged(name):
    """Summary text and report view exactly as main wrote them before the metric route."""
    cert = sgn.Certificate.from_json((GOLDEN / f"{name}.json").read_text())
    text, view = _golden_outputs(cert)
    assert text == (GOLDEN / f"{name}.summary.txt").read_text()
    assert view.pop("route") == ""          # the one key the route added, empty for them
    assert view == json.loads((GOLDEN / f"{name}.view.json").read_text())
    assert view["margin_test"] != "metric"


def _regenerate() -> None:
    for name in GOLDEN_KINDS:
        cert = sgn.Certificate.from_json((GOLDEN / f"{name}.json").read_text())
        text, view = _golden_outputs(cert)
        view.pop("route", None)
        (GOLDEN / f"{name}.summary.txt").write_text(text)
        (GOLDEN / f"{name}.view.json").write_text(json.dumps(view, indent=1) + "\n")


if __name__ == "__main__" and "--regenerate" in sys.argv:
    _regenerate()
