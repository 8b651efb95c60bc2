"""PDF reports (`render_report`, `sgn certify --report`, `sgn report`) and sweeps (`sgn sweep`).

The reports are checked by reading them back: pypdf extracts the text of every page, and every
number the report states is compared with the certificate's value formatted by the report's own
formatter, `sgn._report._view.number`. Figures are checked by their captions and by the vector
drawing operators on the figure page. Errors must exit 2 with one `error:` line and leave no
file behind (and never damage a file that was already there).

Expensive work (certifying with JAX, simulating, compiling with typst) is done once per module.
"""

from __future__ import annotations

import collections
import json
import math
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from pypdf.generic import ContentStream

import sgn
from conftest import assert_bad_input
import sgn.cli
from sgn._report import render_report
from sgn._report._view import margin_test
from sgn._report._view import number as report_number


def number(x, digits: int = 6) -> str:
    """The report's formatter, with its typographic minus read back as '-' (see normalise)."""
    return report_number(x, digits).replace("\u2212", "-")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
REPORTS = REPO / "reports"
SQRT2 = math.sqrt(2.0)

# name -> (example file, make_game parameters as CLI --param, samples, certified?, players,
#          whether the API render is given the game (the CLI always has it))
CASES = {
    "scalar_toy": ("scalar_toy.py", {}, None, True, 2, True),
    "cascade": ("cascade.py", {}, 512, True, 3, False),
    "too_coupled": ("too_coupled.py", {}, None, False, 2, True),
    "lifted_toy": ("lifted_toy.py", {"lam": 1.0}, None, True, 2, False),
}


# --- helpers ------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """One space between words, and the unicode minus (U+2212) as '-'."""
    return " ".join(text.replace("\u2212", "-").split())


class Pdf:
    """A PDF read back: its pages' text (normalised) and drawing operators."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.reader = pypdf.PdfReader(str(path))
        self.pages = [normalise(p.extract_text()) for p in self.reader.pages]
        self.text = " ".join(self.pages)
        # the same text without any spaces, for prose whose spacing around math varies
        self.compact = self.text.replace(" ", "")

    def __len__(self):
        return len(self.pages)

    def operators(self, index: int) -> collections.Counter:
        page = self.reader.pages[index]
        stream = ContentStream(page.get_contents(), self.reader)
        return collections.Counter(op.decode() for _, op in stream.operations)

    def path_operators(self, index: int) -> int:
        """Vector path construction operators (moveto, lineto, curveto, rectangle)."""
        ops = self.operators(index)
        return sum(ops[k] for k in ("m", "l", "c", "v", "y", "re"))

    def xobjects(self, index: int) -> dict:
        resources = self.reader.pages[index]["/Resources"]
        found = resources.get("/XObject")
        if found is None:
            return {}
        return {str(k): str(v.get_object()["/Subtype"]) for k, v in found.get_object().items()}


_NON_ASCII_LEAD = re.compile(r"^(?:[\s\u0080-\U0010ffff]|\([\s\u0080-\U0010ffff]*\))*")


def after(text: str, label: str, start: str | None = None) -> str:
    """The text right after `label` (searched after `start` if given), with leading math
    symbols (non-ASCII, e.g. the italic alpha of 'margin α' or 'α(w)') and spaces removed."""
    offset = 0
    if start is not None:
        offset = text.find(start)
        assert offset >= 0, f"{start!r} not found in:\n{text}"
    i = text.find(label, offset)
    assert i >= 0, f"{label!r} not found in:\n{text[offset:]}"
    return _NON_ASCII_LEAD.sub("", text[i + len(label):])


def assert_value(text: str, label: str, expected: str, start: str | None = None):
    rest = after(text, label, start)
    assert re.match(re.escape(expected) + r"(?=\s|$)", rest), (
        f"{label!r}: expected {expected!r}, the report shows {rest[:60]!r}")


# math italic letters, as pypdf extracts typeset symbols
ALPHA, BETA, GAMMA, RHO, W = "\U0001d6fc", "\U0001d6fd", "\U0001d6fe", "\U0001d70c", "\U0001d464"


def margin_label(cert: sgn.Certificate) -> str:
    """The certificate table's label of `cert.margin`, as pypdf extracts it: the test it
    belongs to, Euclidean (gamma) or SGN (alpha(w))."""
    return "Euclidean margin" if margin_test(cert) == "euclidean" else "SGN margin"


def section(text: str, start: str, end: str) -> str:
    """The text from `start` up to the next `end` (or the end)."""
    i = text.find(start)
    assert i >= 0, f"{start!r} not found in:\n{text}"
    j = text.find(end, i + len(start))
    return text[i:] if j < 0 else text[i:j]


def certificate_of(json_path: Path) -> sgn.Certificate:
    return sgn.Certificate.from_json(Path(json_path).read_text())


def invoke(*args):
    return CliRunner().invoke(sgn.cli.main, [str(a) for a in args], catch_exceptions=True)


def cli_params(params: dict) -> list[str]:
    out = []
    for key, value in params.items():
        out += ["--param", f"{key}={value}"]
    return out


# --- module fixtures: every example certified and rendered, by the API and by the CLI ---------


@pytest.fixture(scope="module")
def api_reports(tmp_path_factory, cli_reports):
    """name -> (certificate, game, Pdf): sgn.certify + render_report(cert, pdf[, game=game]).

    Runs after the CLI ones: the CLI turns on XLA's persistent compilation cache, so the API
    certifications reuse what the CLI compiled."""
    folder = tmp_path_factory.mktemp("api_reports")
    out = {}
    for name, (file, params, samples, _, _, with_game) in CASES.items():
        game = sgn.load_game(EXAMPLES / file, params)
        cert = sgn.certify(game, samples=samples)
        path = render_report(cert, folder / f"{name}.pdf", game=game if with_game else None)
        assert path == folder / f"{name}.pdf"
        out[name] = (cert, game, Pdf(path))
    return out


@pytest.fixture(scope="module")
def cli_reports(tmp_path_factory):
    """name -> (certificate read from --out, Pdf of --report, exit code, folder)."""
    folder = tmp_path_factory.mktemp("cli_reports")
    out = {}
    for name, (file, params, samples, _, _, _) in CASES.items():
        args = ["certify", EXAMPLES / file, *cli_params(params), "--quiet",
                "--out", folder / f"{name}.json", "--report", folder / f"{name}.pdf"]
        if samples is not None:
            args += ["--samples", samples]
        result = invoke(*args)
        assert result.exit_code in (0, 1), (result.exit_code, result.stderr, result.exception)
        out[name] = (certificate_of(folder / f"{name}.json"), Pdf(folder / f"{name}.pdf"),
                     result.exit_code, folder)
    return out


def rendered(source, name, api_reports, cli_reports):
    if source == "api":
        cert, _, pdf = api_reports[name]
    else:
        cert, pdf, _, _ = cli_reports[name]
    return cert, pdf


# --- the numbers in a certificate report --------------------------------------------------------


@pytest.mark.parametrize("source", ["api", "cli"])
@pytest.mark.parametrize("name", list(CASES))
def test_report_states_the_certificates_numbers(source, name, api_reports, cli_reports):
    cert, pdf = rendered(source, name, api_reports, cli_reports)
    certified = CASES[name][3]
    assert (cert.status is sgn.Status.CERTIFIED) == certified, cert.status
    text = pdf.text
    table = "The certificate"

    # the status word, and not the other one
    if certified:
        assert "CERTIFIED" in pdf.pages[0] and "NOT CERTIFIED" not in text
    else:
        assert "NOT CERTIFIED" in pdf.pages[0]

    # the certificate table: margin (named by its test), beta, gamma, weights
    assert_value(text, margin_label(cert), number(cert.margin), start=table)
    assert_value(text, "Lipschitz", number(cert.bounds["lipschitz"]), start=table)
    assert_value(text, "Euclidean margin", number(cert.bounds["euclidean_margin"]), start=table)
    assert_value(text, f"weights {W}", ", ".join(number(w) for w in cert.weights), start=table)

    # the players table: name, dim, weight, curvature per player
    for player, w, mu in zip(cert.game["players"], cert.weights, cert.bounds["curvature"]):
        row = f"{player['name']} {player['dim']} {number(w)} {number(mu)}"
        assert row in pdf.pages[0], (row, pdf.pages[0])

    # the diagnostics: the spectral radius
    assert_value(text, "spectral radius", number(cert.diagnostics["spectral_radius"]),
                 start="Diagnostics")

    steps = cert.step_sizes
    if certified:
        alpha, beta = number(cert.margin), number(cert.bounds["lipschitz"])
        euler_max, euler_rec = number(steps["euler_max"]), number(steps["euler_recommended"])
        rk4 = number(steps["rk4_proven"])
        assert_value(text, "Euler, max step", euler_max, start=table)
        assert_value(text, "Euler, recommended", euler_rec, start=table)
        assert f"contracts by {number(steps['euler_factor'])} per step" in text
        assert_value(text, "RK4, proven step", rk4, start=table)
        assert_value(text, "RK4, guideline", number(steps["rk4_guideline"]), start=table)
        # the prose of "What is guaranteed" repeats them (spacing around math varies)
        assert "What is guaranteed" in text
        rate = (f"{ALPHA}={GAMMA}={alpha}" if margin_test(cert) == "euclidean"
                else f"{ALPHA}={alpha}")
        # SGN's largest Euler step is an open bound (h < 2 alpha/beta^2), a direct one is
        # measured at the step itself (h <= euler_max)
        below = "<" if steps.get("euler_bound", "alpha-beta") == "alpha-beta" else "\u2264"
        for claim in (rate, f"{BETA}={beta}", f"\u210e{below}{euler_max}",
                      f"\u210e={euler_rec}", f"\u210e\u2264{rk4}"):
            assert claim in pdf.compact, (claim, pdf.compact)
        assert "What would have to change" not in text and "Why" not in pdf.pages[0]
    else:
        # the reason (rho), the remedy, and no step size claimed anywhere
        rho = cert.diagnostics["spectral_radius"]
        assert f"{RHO}={number(rho)}\u22651" in pdf.compact, text  # typeset: rho = 3 >= 1
        assert "Why" in text and "small-gain fails" in text
        assert "What would have to change" in text
        assert f"shrink by a factor of at least {number(rho, 4)}" in text
        assert steps is None or not steps
        for claim in ("What is guaranteed", "Euler, max step", "Euler, recommended",
                      "RK4, proven step", "RK4, guideline", "every step"):
            assert claim not in text, claim
        assert "\u210e<" not in pdf.compact and "\u210e\u2264" not in pdf.compact


def test_cli_exit_codes_and_certificates_match_the_api(api_reports, cli_reports):
    """The CLI's exit code follows the status, and its certificate (written by --out) shows the
    same numbers as the one certified through the API."""
    for name, (cert, _, code, _) in cli_reports.items():
        api_cert = api_reports[name][0]
        assert code == (0 if CASES[name][3] else 1), (name, code)
        assert cert.status is api_cert.status
        assert number(cert.margin) == number(api_cert.margin)
        assert [number(w) for w in cert.weights] == [number(w) for w in api_cert.weights]


def test_known_values_of_the_scalar_toy_report(api_reports):
    """Independent of the certificate: the values the scalar toy's docstring states. The
    largest Euler step is the direct one, the true threshold 2/(1 + sqrt 0.5), with SGN's
    2 alpha/beta^2 = 0.20101 beside it."""
    pdf = api_reports["scalar_toy"][2]
    for label, value in (("SGN margin", "0.292893"), ("Lipschitz", "1.70711"),
                         ("Euclidean margin", "-4.025"), (f"weights {W}", "1, 200"),
                         ("Euler, max step", "1.17157")):
        assert_value(pdf.text, label, value, start="The certificate")
    assert f"bound:\u210e<0.20101" in pdf.compact


# --- pages and figures ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["api", "cli"])
@pytest.mark.parametrize("name", list(CASES))
def test_pages_and_figures(source, name, api_reports, cli_reports):
    """Page 1 the status, the game, the certificate, the guarantee and notes; page 2 the
    figures (each one full text width: the first does not fit under the text); then the
    appendix (coupling bounds and diagnostics, kept together), on the figures' page when it
    fits there, else on a page of its own: no page is left with only part of it. The
    trajectory figure (Figure 3) exists only when the game was given (always by the CLI) and
    the game is certified."""
    cert, pdf = rendered(source, name, api_reports, cli_reports)
    certified, with_game = cert.status is sgn.Status.CERTIFIED, source == "cli" or CASES[name][5]
    assert certified == CASES[name][3]
    assert len(pdf) in (2, 3), [p[:80] for p in pdf.pages]
    for k in range(len(pdf)):
        assert f"page {k + 1} of {len(pdf)}" in pdf.pages[k]

    # captions: figure page only
    assert "Figure 1:" in pdf.pages[1] and "Figure 2:" in pdf.pages[1]
    assert ("Figure 3" in pdf.text) == (certified and with_game)
    if certified and with_game:
        assert "Figure 3: Simulated distance to the equilibrium" in pdf.pages[1]
    assert "Figure" not in pdf.pages[0] + "".join(pdf.pages[2:])
    if CASES[name][4] == 2:
        assert "Figure 1: SGN margin" in pdf.pages[1] and "against the weight ratio" in pdf.pages[1]
    else:
        assert "Figure 1: Left: the block weights" in pdf.pages[1]
    # the appendix: whole, on the last page, after the figures
    last = pdf.pages[-1]
    assert "Appendix: bounds on the region" in last and "Diagnostics" in last
    assert "Appendix" not in "".join(pdf.pages[:-1])
    if len(pdf) == 3:
        assert last.startswith("Appendix: bounds on the region")
    else:
        assert last.index("Figure 2:") < last.index("Appendix: bounds on the region")

    # The figures are vector drawings: typst inlines the SVG as paths (text as outlines) in
    # the page's content stream, so the figure page holds thousands of path operators and the
    # text pages only a few table rules. Form XObjects appear only as transparency groups.
    assert pdf.path_operators(1) > 1000, pdf.path_operators(1)
    assert pdf.path_operators(0) < 100
    if len(pdf) == 3:
        assert pdf.path_operators(2) < 100
    for k in range(len(pdf)):
        kinds = pdf.xobjects(k)
        if k != 1:
            assert kinds == {}, (k, kinds)
        elif CASES[name][4] == 2:
            # no raster anywhere in a two-player report: every figure stays vector
            assert set(kinds.values()) <= {"/Form"}, kinds
        else:
            # three players: the coupling heat map (imshow) is the only raster (an /Image)
            assert set(kinds.values()) <= {"/Form", "/Image"}, kinds
    if name == "scalar_toy":
        # the shaded band (alpha) is drawn through Form XObjects
        assert "/Form" in pdf.xobjects(1).values()


# --- `sgn report` from a saved certificate --------------------------------------------------------


@pytest.fixture(scope="module")
def scalar_cert_json(cli_reports) -> Path:
    return cli_reports["scalar_toy"][3] / "scalar_toy.json"


def test_report_from_a_saved_certificate_without_the_game(scalar_cert_json, tmp_path):
    out = tmp_path / "out.pdf"
    result = invoke("report", scalar_cert_json, "-o", out)
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert out.is_file() and f"wrote {out}" in result.stdout
    pdf = Pdf(out)
    cert = certificate_of(scalar_cert_json)
    assert len(pdf) in (2, 3)
    assert "Figure 1:" in pdf.text and "Figure 2:" in pdf.text
    assert "Figure 3" not in pdf.text  # no game: nothing simulated
    assert_value(pdf.text, "SGN margin", number(cert.margin), start="The certificate")
    assert_value(pdf.text, "Euler, max step", number(cert.step_sizes["euler_max"]))


def test_report_from_a_saved_certificate_with_the_game(scalar_cert_json, tmp_path):
    out = tmp_path / "out.pdf"
    result = invoke("report", scalar_cert_json, EXAMPLES / "scalar_toy.py", "-o", out)
    assert result.exit_code == 0, (result.stderr, result.exception)
    pdf = Pdf(out)
    assert len(pdf) == 3
    assert "Figure 3: Simulated distance to the equilibrium" in pdf.pages[1]


def test_report_refuses_a_game_the_certificate_is_not_about(scalar_cert_json, tmp_path):
    out = tmp_path / "out.pdf"
    result = invoke("report", scalar_cert_json, EXAMPLES / "too_coupled.py", "-o", out)
    assert_bad_input(result, "scalar-toy", "too-coupled")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["not json", "truncated", "schema_version", "missing key",
                                    "empty", "a list"])
def test_report_refuses_a_corrupt_certificate(damage, scalar_cert_json, tmp_path):
    text = scalar_cert_json.read_text()
    data = json.loads(text)
    if damage == "not json":
        broken = "{this is not json"
    elif damage == "truncated":
        broken = text[: len(text) // 2]
    elif damage == "schema_version":
        data["schema_version"] = 99
        broken = json.dumps(data)
    elif damage == "missing key":
        del data["bounds"]
        broken = json.dumps(data)
    elif damage == "empty":
        broken = ""
    else:
        broken = "[1, 2, 3]"
    bad = tmp_path / "bad.json"
    bad.write_text(broken)
    out = tmp_path / "out.pdf"
    result = invoke("report", bad, "-o", out)
    assert_bad_input(result, *(["schema_version", "99"] if damage == "schema_version" else []))
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_report_refuses_a_missing_certificate(tmp_path):
    result = invoke("report", tmp_path / "nope.json", "-o", tmp_path / "out.pdf")
    assert_bad_input(result, "does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_report_refuses_an_unwritable_output(where, scalar_cert_json, tmp_path):
    out = tmp_path / "missing" / "out.pdf" if where == "missing folder" else tmp_path
    result = invoke("report", scalar_cert_json, "-o", out)
    assert_bad_input(result, "cannot write")
    assert list(tmp_path.iterdir()) == []


def test_certify_refuses_an_unwritable_report_before_any_work(tmp_path):
    out = tmp_path / "c.json"
    result = invoke("certify", EXAMPLES / "too_coupled.py", "--quiet", "--out", out,
                    "--report", tmp_path / "missing" / "r.pdf")
    assert_bad_input(result, "cannot write")
    assert list(tmp_path.iterdir()) == []


# --- atomic writes: a failing render never damages an existing PDF ------------------------------


OLD = b"%PDF-1.7\nthe previous report, which must survive\n%%EOF\n"


def test_a_failing_compile_leaves_the_old_pdf_intact(api_reports, tmp_path, monkeypatch):
    import typst

    cert = api_reports["scalar_toy"][0]
    out = tmp_path / "report.pdf"
    out.write_bytes(OLD)
    scratch = tmp_path / "scratch"  # where render_report's temporary folder goes
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def broken(*args, **kwargs):
        raise RuntimeError("typst failed half way")

    monkeypatch.setattr(typst, "compile", broken)
    with pytest.raises(RuntimeError, match="half way"):
        render_report(cert, out)
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf", "scratch"]
    assert list(scratch.iterdir()) == []  # the temporary folder is gone too


def test_a_failing_write_leaves_the_old_pdf_intact(api_reports, tmp_path, monkeypatch):
    """The rename that publishes the new PDF fails (e.g. a full disk): an OutputPathError, the
    old file untouched, and the temporary file beside it removed."""
    import sgn._io

    cert = api_reports["scalar_toy"][0]
    out = tmp_path / "report.pdf"
    out.write_bytes(OLD)

    def no_space(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sgn._io.os, "replace", no_space)
    with pytest.raises(sgn.OutputPathError, match="No space left"):
        render_report(cert, out)
    assert out.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_cli_report_failing_to_compile_keeps_the_old_pdf(scalar_cert_json, tmp_path,
                                                         monkeypatch):
    """A compile failure is a bug, not bad input: exit 3, one line, old PDF untouched."""
    import typst

    out = tmp_path / "report.pdf"
    out.write_bytes(OLD)

    def broken(*args, **kwargs):
        raise RuntimeError("typst failed half way")

    monkeypatch.setattr(typst, "compile", broken)
    monkeypatch.delenv("SGN_DEBUG", raising=False)
    result = invoke("report", scalar_cert_json, "-o", out)
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert result.stderr.startswith("internal error:") and result.stderr.count("\n") == 1
    assert out.read_bytes() == OLD
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


# --- determinism ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered_twice(api_reports, tmp_path_factory):
    """The scalar toy's certificate rendered twice without the game, and twice with it."""
    folder = tmp_path_factory.mktemp("twice")
    cert, game, _ = api_reports["scalar_toy"]
    out = {}
    for label, kwargs in (("certificate", {}), ("with-simulation", {"game": game})):
        first = render_report(cert, folder / f"{label}-1.pdf", **kwargs)
        time.sleep(1.05)  # a later wall-clock second: a timestamp in the PDF would show
        out[label] = [first, render_report(cert, folder / f"{label}-2.pdf", **kwargs)]
    return out


@pytest.mark.parametrize("label", ["certificate", "with-simulation"])
def test_the_same_certificate_gives_the_same_pdf_bytes(label, rendered_twice):
    a, b = rendered_twice[label]
    first, second = a.read_bytes(), b.read_bytes()
    if first != second:
        meta = [pypdf.PdfReader(str(p)).metadata for p in (a, b)]
        differ = sum(x != y for x, y in zip(first, second)) + abs(len(first) - len(second))
        pytest.fail(f"two renders differ in {differ} bytes; metadata {dict(meta[0])} vs "
                    f"{dict(meta[1])}")


@pytest.mark.parametrize("label", ["certificate", "with-simulation"])
def test_the_same_certificate_gives_the_same_pages(label, rendered_twice):
    """What is drawn (every page's content stream) is the same for two renders."""
    a, b = (pypdf.PdfReader(str(p)) for p in rendered_twice[label])
    assert len(a.pages) == len(b.pages) >= 2
    for pa, pb in zip(a.pages, b.pages):
        assert pa.get_contents().get_data() == pb.get_contents().get_data()


# --- sweeps ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifted_sweep(tmp_path_factory):
    """`sgn sweep examples/lifted_toy.py --param lam=0:2.5:26 --out s.json --report s.pdf`."""
    folder = tmp_path_factory.mktemp("sweep")
    result = invoke("sweep", EXAMPLES / "lifted_toy.py", "--param", "lam=0:2.5:26", "--quiet",
                    "--out", folder / "s.json", "--report", folder / "s.pdf")
    assert result.exit_code == 0, (result.exit_code, result.stderr, result.exception)
    return json.loads((folder / "s.json").read_text()), Pdf(folder / "s.pdf"), result


def test_sweep_rows_follow_the_closed_form(lifted_sweep):
    data, _, _ = lifted_sweep
    rows = data["rows"]
    assert data["game"] == "lifted-toy" and data["varying"] == ["lam"] and data["fixed"] == {}
    lams = [r["params"]["lam"] for r in rows]
    assert len(rows) == 26
    assert lams == pytest.approx([0.1 * k for k in range(26)], abs=1e-12)
    for r in rows:
        lam = r["params"]["lam"]
        # alpha(lam) = 1 - lam/sqrt(2): the certified margin, or past sqrt(2) the best margin
        # any weights reach
        assert abs(r["margin"] - (1 - lam / SQRT2)) <= 1e-9, (lam, r["margin"])
        assert abs(r["euclidean_margin"] - (1 - 5.025 * lam)) <= 1e-9, (lam, r)
        assert (r["status"] == "certified") == (lam < SQRT2), (lam, r["status"])
        assert r["verified"] is True
        if r["status"] == "certified":
            assert r["euler_max"] > 0 and r["rk4_proven"] > 0
        else:
            assert r["euler_max"] is None and r["rk4_proven"] is None
        # the Euclidean test's boundary is 1/5.025 = 0.199
        if lam <= 0.1 + 1e-12:
            assert r["euclidean_margin"] > 0, lam
        if lam >= 0.2 - 1e-12:
            assert r["euclidean_margin"] < 0, lam


def test_sweep_report_shows_counts_and_the_table(lifted_sweep):
    data, pdf, _ = lifted_sweep
    rows = data["rows"]
    # lam in {0, 0.1}: Euclidean; 0.2 .. 1.4: only SGN; 1.5 .. 2.5: neither
    assert len(pdf) == 2, [p[:80] for p in pdf.pages]  # 26 rows below two figures: 2 pages
    page = pdf.pages[0]
    for fact in ("Small-Gain Nash parameter sweep", "lifted-toy", "varying lam", "fixed none",
                 "grid points 26", "Euclidean test certifies 2 points",
                 "only SGN certifies 13 points", "neither certifies 11 points",
                 "Figure 1: Margins against lam", "Figure 2: Certified step sizes against lam",
                 "exact bounds (constant Jacobian) at every point"):
        assert fact in page, (fact, page)
    assert pdf.path_operators(0) > 1000
    header = (f"lam status Euclidean {GAMMA} best SGN {ALPHA} metric {BETA} Euler max "
              "RK4 proven")
    table_pages = [p for p in pdf.pages if "not certified" in p or " certified " in p]
    # the table (26 rows) fits on a page, so it is kept on one: never a row or two apart
    assert len(table_pages) == 1 and header in table_pages[0], table_pages
    assert table_pages[0].startswith("Every grid point")
    for r in rows:
        status = r["status"].replace("_", " ")
        if r["certified_by"] == "euclidean":
            status += " (Eucl.)"
        cells = [number(r["params"]["lam"], 4), status, number(r["euclidean_margin"], 4),
                 number(r["margin"], 4),
                 number(r["metric_margin"], 4) if r["status"] == "certified" else "-",
                 number(r["lipschitz"], 4) if r["status"] == "certified" else "-",
                 "-" if r["euler_max"] is None else number(r["euler_max"], 4),
                 "-" if r["rk4_proven"] is None else number(r["rk4_proven"], 4)]
        line = " ".join(cells)
        assert re.search(r"(?:^| )" + re.escape(line) + r"(?= |$)", pdf.text), (line, pdf.text)


def test_finer_sweep_brackets_the_euclidean_boundary():
    result = invoke("sweep", EXAMPLES / "lifted_toy.py", "--param", "lam=0.19:0.21:5",
                    "--quiet", "--format", "json")
    assert result.exit_code == 0, (result.stderr, result.exception)
    rows = json.loads(result.stdout)["rows"]
    lams = [r["params"]["lam"] for r in rows]
    gammas = [r["euclidean_margin"] for r in rows]
    assert lams == pytest.approx([0.19, 0.195, 0.2, 0.205, 0.21], abs=1e-12)
    assert all(r["status"] == "certified" for r in rows)  # SGN certifies on both sides
    signs = [g > 0 for g in gammas]
    assert signs == [True, True, False, False, False], gammas
    # the sign change lies between 0.195 and 0.2, at 1/5.025 = 0.19900
    a, b = gammas[1], gammas[2]
    root = 0.195 + 0.005 * a / (a - b)
    assert root == pytest.approx(1 / 5.025, abs=1e-6)


SWEEP_ERRORS = {
    "empty grid": (["lam=0:1:0"], "empty"),
    "no count": (["lam=0:1"], "START:STOP:COUNT"),
    "not numbers": (["lam=a:b:3"], "START:STOP:COUNT"),
    "count not a number": (["lam=0:1:x"], "START:STOP:COUNT"),
    "four parts": (["lam=0:1:3:4"], "START:STOP:COUNT"),
    "negative count": (["lam=0:1:-2"], "empty"),
    "infinite": (["lam=0:inf:3"], "finite"),
    "no key": (["=0:1:3"], "KEY"),
    "no varying param": (["lam=0.5"], "at least one"),
    "no param": ([], "at least one"),
}


@pytest.mark.parametrize("case", list(SWEEP_ERRORS))
def test_sweep_refuses_a_bad_grid(case, run_cli, tmp_path):
    items, word = SWEEP_ERRORS[case]
    args = ["sweep", EXAMPLES / "lifted_toy.py", "--quiet"]
    for item in items:
        args += ["--param", item]
    result = run_cli(*args, "--out", tmp_path / "s.json", "--report", tmp_path / "s.pdf")
    assert_bad_input(result, word)
    assert list(tmp_path.iterdir()) == []


def test_sweep_refuses_a_file_without_make_game(run_cli, tmp_path):
    result = run_cli("sweep", EXAMPLES / "scalar_toy.py", "--param", "lam=0:1:3", "--quiet",
                     "--out", tmp_path / "s.json", "--report", tmp_path / "s.pdf")
    assert_bad_input(result, "make_game")
    assert list(tmp_path.iterdir()) == []


def test_sweep_refuses_an_unwritable_report(run_cli, tmp_path):
    result = run_cli("sweep", EXAMPLES / "lifted_toy.py", "--param", "lam=0:1:3", "--quiet",
                     "--out", tmp_path / "s.json", "--report", tmp_path / "missing" / "s.pdf")
    assert_bad_input(result, "cannot write")
    assert list(tmp_path.iterdir()) == []


def test_sweep_refuses_a_parameter_the_factory_does_not_take(run_cli, tmp_path):
    result = run_cli("sweep", EXAMPLES / "lifted_toy.py", "--param", "mu=0:1:3", "--quiet",
                     "--out", tmp_path / "s.json", "--report", tmp_path / "s.pdf")
    assert_bad_input(result, "mu")
    assert list(tmp_path.iterdir()) == []


def test_sweep_failing_midway_writes_nothing(run_cli, game_file, tmp_path):
    """The factory fails at the third grid point, after two certifications: no partial JSON,
    no partial PDF."""
    path = game_file(
        """
        def make_game(lam=0.0):
            if lam > 0.6:
                raise ValueError("lam too large for this game")

            def f1(x1, x2):
                return 0.5 * x1 @ x1 + lam * x1 @ x2

            def f2(x1, x2):
                return 0.5 * x2 @ x2 + lam * x1 @ x2

            return sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(-1.0, 1.0),
                            name="fragile")
        """,
        name="fragile.py",
    )
    out = tmp_path / "results"
    out.mkdir()
    result = run_cli("sweep", path, "--param", "lam=0:1:3", "--quiet",
                     "--out", out / "s.json", "--report", out / "s.pdf")
    assert_bad_input(result, "lam too large")
    assert list(out.iterdir()) == []


# --- honest results (issue 12): every number under the name of the quantity it is ---------------


@pytest.fixture(scope="module")
def markov_coordination(tmp_path_factory):
    """The bundled Markov coordination certificate (reports/markov_coordination.json), where
    the Euclidean test certifies because its gamma beats SGN's best margin; rendered without
    its game (the text and the margin figures are what is checked)."""
    cert = certificate_of(REPORTS / "markov_coordination.json")
    path = render_report(cert, tmp_path_factory.mktemp("markov") / "markov_coordination.pdf")
    return cert, Pdf(path)


def test_the_euclidean_margin_is_named_gamma_in_the_pdf(markov_coordination):
    """0.410858 is gamma, the Euclidean test's margin; SGN's best margin is 0.395226. The
    report must not show 0.410858 under an SGN or alpha label (it showed "margin alpha" and
    "SGN alpha(w)" for it)."""
    cert, pdf = markov_coordination
    assert cert.diagnostics["certified_by"] == "euclidean"
    gamma = number(cert.bounds["euclidean_margin"])
    best = number(cert.diagnostics["best_possible_margin"])
    assert number(cert.margin) == gamma == "0.410858" and best == "0.395226"

    table = section(pdf.text, "The certificate", "What is guaranteed")
    for label in ("SGN", ALPHA):  # no SGN or alpha label right before gamma's number
        assert not re.search(rf"{label}[^0-9]{{0,12}}{re.escape(gamma)}", table), table
    assert_value(table, f"Euclidean margin {GAMMA}", gamma)
    assert_value(table, "best SGN margin", best)
    assert_value(table, "certified by", "Euclidean test")
    # the guarantee states the rate as gamma: alpha = gamma = 0.410858
    assert f"{ALPHA}={GAMMA}={gamma}" in pdf.compact
    assert f"{ALPHA}={gamma}" not in pdf.compact
    # the reason keeps both numbers, typeset
    assert f"{ALPHA}={best}" in pdf.compact and f"{GAMMA}={gamma}" in pdf.compact


def test_the_view_names_each_margin_by_its_test(markov_coordination):
    """The view model (sgn/_report/_view.py): which test certified comes from the
    certificate's own fields, and each row's name is the quantity of its value."""
    from sgn._report._view import certificate_view

    cert, _ = markov_coordination
    assert margin_test(cert) == "euclidean"
    view = certificate_view(cert, [])
    rows = view["numbers"] + view["diagnostics"]
    gamma = number(cert.bounds["euclidean_margin"])
    named = [r["name"] for r in rows if r["value"] == gamma.replace("-", "\u2212")]
    assert named == ["Euclidean margin $gamma$"], named
    best = number(cert.diagnostics["best_possible_margin"])
    assert [r["name"] for r in rows if r["value"] == best] == ["best SGN margin"]
    assert not any("alpha" in str(r["name"]) for r in rows)
    assert view["euclidean"] and view["rate"] == f"$alpha = gamma = {gamma}$"
    # the SGN-certified scalar toy names its margin alpha(w)
    toy = certificate_of(REPORTS / "scalar_toy.json")
    assert margin_test(toy) == "sgn"
    rows = certificate_view(toy, [])["numbers"]
    assert [r["name"] for r in rows if r["value"] == number(toy.margin)] == \
        ["SGN margin $alpha(w)$"]


def test_the_margins_figure_labels_each_bar_by_its_quantity(markov_coordination, api_reports):
    from sgn._report._figures import margin_bars

    cert, _ = markov_coordination
    bars = dict(margin_bars(cert.to_dict(), margin_test(cert)))
    assert bars == {"Euclidean $\\gamma$\n(certifies)": cert.margin,
                    "best SGN $\\alpha$": cert.diagnostics["best_possible_margin"],
                    "metric margin": cert.diagnostics["metric_margin"]}
    toy = api_reports["scalar_toy"][0]
    bars = dict(margin_bars(toy.to_dict(), margin_test(toy)))
    assert bars["SGN $\\alpha(w)$\n(certifies)"] == toy.margin
    assert bars["Euclidean $\\gamma$"] == toy.bounds["euclidean_margin"]


def test_certificate_text_is_typeset_not_shown_as_ascii(markov_coordination):
    """Symbols in the reasons, notes and the geometry are typeset (alpha, gamma, blockdiag,
    F^-1/2 H F^-1/2), not printed in sgn's ASCII notation."""
    _, pdf = markov_coordination
    for ascii_ in ("blockdiag(w_i", "F^-1/2", "alpha", "gamma", "mu_i", "L_ij", "F_i"):
        assert ascii_ not in pdf.text, ascii_
    italic_f, italic_h = "\U0001d439", "\U0001d43b"
    assert f"{italic_f}-1/2{italic_h}{italic_f}-1/2" in pdf.compact  # F^-1/2 H F^-1/2


def test_prose_rebuilds_only_known_symbols_as_maths():
    """prose() typesets sgn's own ASCII symbols; anything else, markup included, stays plain
    text, and no text is lost."""
    from sgn._report._view import prose

    text = ("small-gain fails: rho = 6.333 >= 1 (the gains L_ij / mu_i); gamma = 2 > 0, "
            "alpha = 1e-05; M(w) = blockdiag(w_i I); #set text(red) $x$ *bold* @ref")
    pieces = prose(text)
    maths = [p["m"] for p in pieces if "m" in p]
    assert maths == ["rho = 6.333 >= 1", "L_(i j) \\/ mu_(i)", "gamma = 2 > 0",
                     "alpha = 1 times 10^(-5)", 'M(w) = "blockdiag"(w_(i) I)']
    plain = "".join(p.get("t", "") for p in pieces)
    assert "#set text(red) $x$ *bold* @ref" in plain
    assert plain.startswith("small-gain fails: ")


@pytest.fixture(scope="module")
def cournot(tmp_path_factory):
    """`sgn certify examples/cournot.py --out --report`: a constrained game of 20 firms,
    certified by the Euclidean test, with no RK4 step proved (its RK4 fields are null)."""
    folder = tmp_path_factory.mktemp("cournot")
    result = invoke("certify", EXAMPLES / "cournot.py", "--quiet", "--out",
                    folder / "cournot.json", "--report", folder / "cournot.pdf")
    assert result.exit_code == 0, (result.exit_code, result.stderr, result.exception)
    return certificate_of(folder / "cournot.json"), Pdf(folder / "cournot.pdf")


def test_a_constrained_report_says_not_proved_for_rk4(cournot):
    """RK4 is not proved for a constrained game: the PDF says so, with the reason, in the
    words of the text summary (sgn/_wording.py), and never "unbounded" or a step."""
    from sgn._summary import summarize
    from sgn._wording import RK4_CONSTRAINED, RK4_NOT_PROVED

    cert, pdf = cournot
    assert cert.game["region"]["constrained"] and cert.status is sgn.Status.CERTIFIED
    assert cert.step_sizes["rk4_proven"] is None and cert.step_sizes["rk4_factor"] is None
    assert "unbounded" not in pdf.text
    table = section(pdf.text, "The certificate", "What is guaranteed")
    assert_value(table, "RK4, proven step", "not proved")
    assert RK4_CONSTRAINED in table
    guarantee = section(pdf.text, "What is guaranteed", "Notes")
    assert RK4_NOT_PROVED in guarantee and "proven to contract" not in guarantee
    assert RK4_NOT_PROVED in summarize(cert)  # the same words as the text summary
    assert report_number(None) != "unbounded"


def test_a_twenty_player_report_keeps_tables_whole(cournot):
    """The certificate table is on one page (it was split one row from the rest), the
    appendix follows the figures, and there is no page left with a scrap on it."""
    cert, pdf = cournot
    assert len(cert.game["players"]) == 20
    pages = [k for k, p in enumerate(pdf.pages) if "The certificate quantity value" in p]
    assert len(pages) == 1 and "RK4, guideline" in pdf.pages[pages[0]]
    assert "firm 1 1 1 3" in pdf.pages[0] and "firm 20 1 1 3" in pdf.pages[0]
    assert "Diagnostics" in pdf.pages[-1] and "Figure" in pdf.pages[-1]
    assert len(pdf) == 3
    assert_value(pdf.text, f"Euclidean margin {GAMMA}", number(cert.margin),
                 start="The certificate")
    assert_value(pdf.text, f"weights {W}", "1 for all 20 players", start="The certificate")


def test_many_players_are_numbered_and_thinned_on_the_axes():
    import matplotlib.pyplot as plt

    from sgn._report._figures import NAMED, TICKS, _player_ticks

    fig, ax = plt.subplots()
    _player_ticks(ax.xaxis, [f"firm {i}" for i in range(1, 21)])
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.xaxis.get_ticklabels()]
    assert 2 <= len(labels) <= TICKS and labels[:2] == ["1", "3"], labels
    _player_ticks(ax.xaxis, ["a", "b", "a very long name"])
    fig.canvas.draw()
    assert [t.get_text() for t in ax.xaxis.get_ticklabels()] == ["a", "b", "a very lo."]
    assert NAMED >= 3
    plt.close(fig)


def test_the_simulation_runs_until_the_envelope_is_small(cournot):
    """The trajectory figure shows the runs converge: enough steps for the certified factor's
    envelope q^k to fall to 1e-5 (it stopped at 120 steps, q^120 = 0.6 for Cournot with SGN's
    alpha/beta factor; its direct factor 0.83 needs fewer than 120)."""
    import dataclasses

    from sgn._report import ENVELOPE, MAX_STEPS, MIN_STEPS, _steps_to_converge

    cert, _ = cournot
    own = dataclasses.replace(cert, step_sizes=cert.step_sizes["alpha_beta"])
    for c in (cert, own):
        q = c.step_sizes["euler_factor"]
        steps = _steps_to_converge(c)
        assert q ** steps <= ENVELOPE or steps == MAX_STEPS
        assert steps >= MIN_STEPS
    assert _steps_to_converge(own) > 120


def test_a_sweep_table_is_not_split_one_row_from_the_rest(tmp_path):
    """The bundled small-entropy sweep: 13 rows after two figures. The table moves to the next
    page whole (it put one row under the figures and twelve on the next page)."""
    from sgn._report import render_sweep_report
    from sgn._sweep import Sweep

    data = json.loads((REPORTS / "markov_matching_pennies_small_entropy.json").read_text())
    pdf = Pdf(render_sweep_report(Sweep(**data), tmp_path / "sweep.pdf"))
    rows = [" ".join([number(r["params"]["entropy"], 4), r["status"].replace("_", " ")])
            for r in data["rows"]]
    holding = [k for k, page in enumerate(pdf.pages) if any(row in page for row in rows)]
    assert len(holding) == 1, holding
    assert all(row in pdf.pages[holding[0]] for row in rows)


# --- the PDF files themselves -----------------------------------------------------------------


def _check_pdf_file(path: Path):
    """Strict pypdf: the document info and the catalog's /MarkInfo hold what they should, with
    no /Suspects entry (poppler misreads its default value, false); and pdfinfo, when
    installed, reads the file without a word on stderr."""
    reader = pypdf.PdfReader(str(path), strict=True)
    assert reader.metadata.title.startswith("SGN "), reader.metadata
    catalog = reader.trailer["/Root"]
    mark = catalog.get("/MarkInfo")
    if mark is not None:
        assert "/Suspects" not in mark, mark
        assert all(isinstance(v, pypdf.generic.BooleanObject) for v in mark.values()), mark
    for page in reader.pages:
        page.get_contents()
    if shutil.which("pdfinfo"):
        run = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                             timeout=60)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        assert f"Pages:           {len(reader.pages)}" in run.stdout


def test_pdfinfo_reads_every_report_without_complaint(api_reports, cli_reports, cournot,
                                                      lifted_sweep):
    for _, _, pdf in api_reports.values():
        _check_pdf_file(pdf.path)
    for _, pdf, _, _ in cli_reports.values():
        _check_pdf_file(pdf.path)
    _check_pdf_file(cournot[1].path)
    _check_pdf_file(lifted_sweep[1].path)


def test_the_suspects_entry_is_blanked_in_place():
    """typst's catalog has /MarkInfo << /Marked true /Suspects false >>; the entry is replaced
    by spaces of the same length, so every offset in the cross-reference table still holds.
    Anything else is left as typst wrote it."""
    from sgn._report import _drop_default_suspects

    pdf = b"1 0 obj\n<</Type/Catalog/MarkInfo<</Marked true/Suspects false>>/Lang(en)>>\nendobj"
    out = _drop_default_suspects(pdf)
    assert len(out) == len(pdf) and b"/Suspects" not in out
    assert out.replace(b" ", b"") == pdf.replace(b" ", b"").replace(b"/Suspectsfalse", b"")
    other = pdf.replace(b"false", b"true")
    assert _drop_default_suspects(other) == other


def _remedy_text(cert) -> str:
    from sgn._report._view import _remedies
    return " ".join(next(iter(piece.values())) for remedy in _remedies(cert) for piece in remedy)


def test_a_loose_interval_curvature_is_not_a_call_for_regularisation():
    """Interval mu_1 <= 0 while every box centre shows mu_1 > 0: the enclosure is loose; the
    report asks for more boxes or time, not for regularisation (issue 12, item 4)."""
    data = json.loads((REPORTS / "cascade_verified.json").read_text())
    data["status"] = "inconclusive"
    data["bounds"]["curvature"][0] = -0.5
    data["estimator"]["centre_values"] = {"curvature": [0.7, 0.8, 0.9],
                                          "coupling": data["bounds"]["coupling"]}
    loose = _remedy_text(sgn.Certificate.from_dict(data))
    assert "too loose" in loose and "--max-boxes" in loose and "regularisation" not in loose
    data["estimator"]["centre_values"]["curvature"][0] = -0.2   # a centre shows mu_1 <= 0
    shown = _remedy_text(sgn.Certificate.from_dict(data))
    assert "regularisation" in shown and "too loose" not in shown


def test_a_box_around_a_point_is_named_by_its_half_width():
    """A pytree game's region (parameters +- r) in words, not its first four spans."""
    from types import SimpleNamespace

    import numpy as np

    from sgn._report._view import _region

    centre = np.linspace(-1.0, 2.0, 54)
    box = SimpleNamespace(game={"region": {"low": (centre - 0.1).tolist(),
                                           "high": (centre + 0.1).tolist()}})
    assert "half-width 0.1" in _region(box)["text"] and "d = 54" in _region(box)["text"]
    box.game["region"]["high"][7] += 0.5                 # not one half-width: the spans
    assert _region(box)["text"].replace("\u2212", "-").startswith("[-1.1, -0.9] \u00d7")
