"""The step sizes in the text summary and the PDF report name the proof that gave each number
(issue 13; docs/certificate.md, "step_sizes").

Schema version 2 keeps, for each step, the better of SGN's alpha/beta proof and the direct one
(`euler_bound`, `rk4_bound`; SGN's own steps in `alpha_beta`, the measurements in `direct`). A
direct number must be described by its proof (the Euler factor measured over the region; the
RK4 spread bound of docs/rk4.md section 9, or the exact factor of a linear field) with SGN's
step beside it; a number SGN's proof gave keeps the wording it always had, word for word.

The scalar toy gives both kinds quickly: sampled (exact) bounds certify direct steps; SGN's
steps alone are what a certificate without a direct proof holds (the Fisher geometry, or a
verified run whose enclosures of the Euler factor stay above 1), here the toy's verified
certificate with its direct proof taken out. Interval (`--verify`) certificates with a direct
proof say "proved (interval)" where sampled ones say "measured".
"""

from __future__ import annotations

import copy
import re

import pytest

import sgn
from sgn._report import render_report
from sgn._report._view import certificate_view
from sgn._report._view import number as report_number
from sgn._summary import summarize
from sgn._wording import step_proofs
from test_report import EXAMPLES, Pdf

#: The direct Euler proof, as the summary says it.
MEASURED = ("the region-wide Euler factor sup_x ||I - h J(x)||_M is measured below 1 at this "
            "step (so every smaller step contracts)")


def g(x) -> str:
    """A number as the summary prints it."""
    return f"{x:.6g}"


def number(x, digits: int = 6) -> str:
    """A number as the report prints it, with its typographic minus read back as '-'."""
    return report_number(x, digits).replace("\u2212", "-")


@pytest.fixture(scope="module")
def game():
    return sgn.load_game(EXAMPLES / "scalar_toy.py")


@pytest.fixture(scope="module")
def direct(game) -> sgn.Certificate:
    """Exact bounds: the direct Euler step is the true threshold, RK4 the spread bound."""
    cert = sgn.certify(game)
    steps = cert.step_sizes
    assert cert.schema_version == 3 and cert.estimator["method"] == "exact"
    assert steps["euler_bound"] == "direct" and steps["rk4_bound"] == "direct-spread"
    assert steps["alpha_beta"]["euler_max"] < steps["euler_max"]
    return cert


@pytest.fixture(scope="module")
def interval_direct(game) -> sgn.Certificate:
    """Verified (interval) bounds: direct steps from the enclosed Euler factors and spread."""
    cert = sgn.certify(game, method="interval")
    steps = cert.step_sizes
    assert cert.verified and cert.estimator["method"] == "interval"
    assert steps["euler_bound"] == "direct" and steps["rk4_bound"] == "direct-spread"
    return cert


@pytest.fixture(scope="module")
def interval(interval_direct) -> sgn.Certificate:
    """SGN's steps alone, as a version 2 certificate without a direct proof writes them."""
    data = interval_direct.to_dict()
    own = data["step_sizes"]["alpha_beta"]
    data["step_sizes"] = {**own, "euler_bound": "alpha-beta", "rk4_bound": "alpha-beta",
                          "alpha_beta": None, "direct": None}
    cert = sgn.Certificate.from_dict(data)
    steps = cert.step_sizes
    assert steps["euler_bound"] == "alpha-beta" and steps["rk4_bound"] == "alpha-beta"
    assert steps["alpha_beta"] is None and steps["direct"] is None
    return cert


def test_verified_direct_steps_say_proved_not_measured(interval_direct):
    text = summarize(interval_direct)
    assert MEASURED.replace("measured", "proved (interval)") in text
    assert "with the proved (interval) spread delta" in text
    assert "measured" not in " ".join(_row(text, "euler") + _row(text, "rk4"))
    view = certificate_view(interval_direct, [])
    assert "was proved (interval) below 1" in view["euler_guarantee"]


def _row(text: str, label: str) -> list[str]:
    """The summary row `label` and its continuation lines (blank label)."""
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(f"  {label:<12} "))
    rows = [lines[start][15:]]
    for line in lines[start + 1:]:
        if not line.startswith(" " * 15) or not line[15:]:
            break
        rows.append(line[15:])
    return rows


def _edited(cert: sgn.Certificate, **steps) -> sgn.Certificate:
    data = copy.deepcopy(cert.to_dict())
    data["step_sizes"].update(steps)
    return sgn.Certificate.from_dict(data)


# --- which proof gave each number ----------------------------------------------------------------


def test_the_proofs_are_read_off_the_certificate(direct, interval):
    assert step_proofs(direct.step_sizes) == {
        "euler_max": "direct", "euler_recommended": "direct",
        "rk4_proven": "direct-spread", "rk4_recommended": "direct-spread"}
    assert step_proofs(interval.step_sizes) == {
        "euler_max": "alpha-beta", "euler_recommended": "alpha-beta",
        "rk4_proven": "alpha-beta", "rk4_recommended": "alpha-beta"}
    # version 1: seven keys, SGN's steps
    v1 = {k: v for k, v in interval.step_sizes.items()
          if k not in ("euler_bound", "rk4_bound", "alpha_beta", "direct")}
    assert step_proofs(v1) == step_proofs(interval.step_sizes)
    # the recommended steps are chosen apart from the largest ones
    own = direct.step_sizes["alpha_beta"]
    mixed = _edited(direct, euler_max=own["euler_max"], euler_bound="alpha-beta",
                    rk4_recommended=own["rk4_recommended"], rk4_factor=own["rk4_factor"])
    assert step_proofs(mixed.step_sizes) == {
        "euler_max": "alpha-beta", "euler_recommended": "direct",
        "rk4_proven": "direct-spread", "rk4_recommended": "alpha-beta"}
    # a constrained game: no RK4 step at all
    none = dict(interval.step_sizes, rk4_proven=None, rk4_recommended=None, rk4_factor=None,
                rk4_bound=None)
    assert step_proofs(none)["rk4_proven"] is None and step_proofs(none)["rk4_recommended"] is None


# --- the text summary -----------------------------------------------------------------------------


def test_the_summary_names_the_direct_proof_and_shows_sgns_step(direct):
    steps, own = direct.step_sizes, direct.step_sizes["alpha_beta"]
    text = summarize(direct)
    euler = _row(text, "euler")
    assert euler == [
        f"h <= {g(steps['euler_max'])}: {MEASURED}; SGN's alpha/beta bound: "
        f"h < {g(own['euler_max'])}",
        f"at h = {g(steps['euler_recommended'])} (minimises the measured factor) each step "
        f"contracts by {g(steps['euler_factor'])}"], euler
    assert g(steps["euler_max"]) == "1.17157" and g(own["euler_max"]) == "0.20101"
    rk4 = _row(text, "rk4")
    spread = f"{steps['direct']['rk4_spread']:.3g}"
    assert rk4 == [
        f"h <= {g(steps['rk4_proven'])} proven by the spread bound of docs/rk4.md section 9 "
        f"with the measured spread delta = {spread}; SGN's alpha/beta bound: "
        f"h <= {g(own['rk4_proven'])}; guideline {g(steps['rk4_guideline'])} (linear stability "
        "only)",
        f"at h = {g(steps['rk4_recommended'])} (minimises the proven factor) each step "
        f"contracts by {g(steps['rk4_factor'])}"], rk4
    # SGN's wording is not used for a number it did not give
    assert f"h < {g(steps['euler_max'])}" not in text


def test_the_summary_keeps_sgns_wording_for_sgns_steps(interval):
    steps = interval.step_sizes
    text = summarize(interval)
    assert _row(text, "euler") == [
        f"h < {g(steps['euler_max'])}; at h = {g(steps['euler_recommended'])} each step "
        f"contracts by {g(steps['euler_factor'])}"]
    assert _row(text, "rk4") == [
        f"h <= {g(steps['rk4_proven'])} proven; guideline {g(steps['rk4_guideline'])} (linear "
        "stability only)"]
    for word in ("measured", "minimises", "spread", "SGN's alpha/beta bound"):
        assert word not in text, word


def test_the_summary_of_mixed_and_exact_linear_proofs(direct):
    """Each number by its own proof: SGN's largest Euler step beside the direct recommended
    one, and the exact RK4 factor of a linear field."""
    steps, own = direct.step_sizes, direct.step_sizes["alpha_beta"]
    cert = _edited(direct, euler_max=own["euler_max"], euler_bound="alpha-beta",
                   rk4_bound="direct-exact-linear")
    text = summarize(cert)
    assert _row(text, "euler") == [
        f"h < {g(own['euler_max'])}; at h = {g(steps['euler_recommended'])} (minimises the "
        f"measured factor) each step contracts by {g(steps['euler_factor'])}"]
    assert _row(text, "rk4")[0].startswith(
        f"h <= {g(steps['rk4_proven'])} proven by the exact RK4 factor ||R(-h J)||_M of a "
        f"linear field (docs/rk4.md section 9); SGN's alpha/beta bound: "
        f"h <= {g(own['rk4_proven'])}")


# --- the report ---------------------------------------------------------------------------------


def _rows(view) -> dict:
    return {r["name"]: r for r in view["numbers"]}


def test_the_view_names_the_direct_proof_and_shows_sgns_step(direct):
    steps, own = direct.step_sizes, direct.step_sizes["alpha_beta"]
    view = certificate_view(direct, [])
    rows = _rows(view)
    euler = rows["Euler, max step"]
    assert euler["value"] == report_number(steps["euler_max"])
    assert euler["meaning"] == (
        "the region-wide Euler factor $sup_x norm(I - h J(x))_M$ is measured below 1 here (so "
        "every smaller step contracts); SGN's $alpha \\/ beta$ bound: "
        f"$h < {report_number(own['euler_max'])}$")
    rec = rows["Euler, recommended"]
    assert rec["value"] == report_number(steps["euler_recommended"])
    assert rec["meaning"] == (f"minimises the measured factor: contracts by "
                              f"{report_number(steps['euler_factor'])} per step")
    rk4 = rows["RK4, proven step"]
    assert rk4["value"] == report_number(steps["rk4_proven"])
    assert "spread bound" in rk4["meaning"] and "docs/rk4.md, section 9" in rk4["meaning"]
    assert rk4["meaning"].endswith(f"SGN's $alpha \\/ beta$ bound: "
                                   f"$h <= {report_number(own['rk4_proven'])}$")
    # What is guaranteed: the proof, not SGN's formula, for the numbers the direct proof gave
    assert "measured below 1" in view["euler_guarantee"]
    assert "minimise" in view["euler_guarantee"] and "2 alpha" not in view["euler_guarantee"]
    assert "spread bound" in view["rk4_guarantee"]
    assert "derivation in docs/rk4.md" not in view["rk4_guarantee"]


def test_the_view_keeps_sgns_wording_for_sgns_steps(interval):
    steps = interval.step_sizes
    view = certificate_view(interval, [])
    rows = _rows(view)
    assert rows["Euler, max step"]["meaning"] == (
        "$2 alpha \\/ beta^2$: every smaller step contracts")
    assert rows["Euler, recommended"]["meaning"] == (
        f"$alpha \\/ beta^2$: contracts by {report_number(steps['euler_factor'])} per step")
    assert rows["RK4, proven step"]["meaning"] == "largest step the RK4 bound proves (docs/rk4.md)"
    assert view["euler_guarantee"] == (
        f"every step $h < {report_number(steps['euler_max'])}$ $(= 2 alpha \\/ beta^2)$ "
        "contracts, by the factor $sqrt(1 - 2 h alpha + h^2 beta^2) < 1$. At the recommended "
        f"$h = {report_number(steps['euler_recommended'])}$ $(= alpha \\/ beta^2)$ each step "
        f"shrinks distances by at least {report_number(steps['euler_factor'])}.")
    assert view["rk4_guarantee"] == (
        f"every step $h <= {report_number(steps['rk4_proven'])}$ is proven to contract "
        f"(derivation in docs/rk4.md); at $h = {report_number(steps['rk4_recommended'])}$ each "
        f"step shrinks distances by at least {report_number(steps['rk4_factor'])}.")


def test_the_view_of_an_exact_linear_rk4_step(direct):
    own = direct.step_sizes["alpha_beta"]
    view = certificate_view(_edited(direct, rk4_bound="direct-exact-linear"), [])
    meaning = _rows(view)["RK4, proven step"]["meaning"]
    assert meaning.startswith("exact RK4 factor $norm(R(-h J))_M$ of this linear field below 1")
    assert meaning.endswith(f"$h <= {report_number(own['rk4_proven'])}$")
    assert "the field is linear" in view["rk4_guarantee"]


@pytest.mark.parametrize("kind", ["direct", "interval", "exact-linear"])
def test_the_pdf_names_the_proof_of_each_step(kind, direct, interval, tmp_path):
    cert = {"direct": direct, "interval": interval,
            "exact-linear": _edited(direct, rk4_bound="direct-exact-linear")}[kind]
    steps = cert.step_sizes
    pdf = Pdf(render_report(cert, tmp_path / "report.pdf"))
    text = " ".join(pdf.text.split())
    table = text[text.index("The certificate"):text.index("What is guaranteed")]
    guaranteed = text[text.index("What is guaranteed"):]
    assert re.search(r"Euler, max step " + re.escape(number(steps["euler_max"])), table), table
    assert re.search(r"Euler, recommended " + re.escape(number(steps["euler_recommended"])),
                     table), table
    assert f"contracts by {number(steps['euler_factor'])} per step" in table
    assert re.search(r"RK4, proven step " + re.escape(number(steps["rk4_proven"])), table)
    if kind == "interval":
        assert "every smaller step contracts" in table
        assert "measured below 1" not in text and "measured factor" not in text
        assert "derivation in docs/rk4.md" in guaranteed
        assert "SGN's" not in table
        return
    own = steps["alpha_beta"]
    assert "is measured below 1 here (so every smaller step contracts)" in table
    assert "minimises the measured factor" in table
    # (maths: spacing varies, so without spaces)
    assert f"bound:\u210e<{number(own['euler_max'])}" in pdf.compact, pdf.compact
    assert f"bound:\u210e\u2264{number(own['rk4_proven'])}" in pdf.compact, pdf.compact
    assert "was measured below 1" in guaranteed
    assert "which minimises the measured factor" in guaranteed
    if kind == "direct":
        assert "spread bound" in table and "spreadboundofdocs/rk4.md" in pdf.compact
    else:
        assert "linear field below 1" in table and "the field is linear" in guaranteed
