"""The budget of a verified run (issue 12, "Honest results").

`--max-seconds` bounds the whole verified run (compiling the interval program, the bounds pass
and the metric pass); a run it stops is inconclusive and says what it had proved; the numbers
a certificate quotes in its reasons and headline are its own fields; a budget-stopped
certificate reads back and re-checks; a game that is not finite on its box is bad input under
--verify as it is without.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time

import numpy as np
import pytest
from conftest import assert_bad_input

import sgn
from sgn._interval._budget import DEFAULT_MAX_BOXES
from sgn._summary import summarize
from sgn._testing.games import ring_game

# ring_game(16): 256 bounds with a partition each, so the first round alone encloses 512 boxes
# of d = 16.
BUDGET = 4.0


@pytest.fixture(scope="module")
def ring_run():
    """(wall seconds, certificate as JSON data) of a verified run of the ring game with a
    4 s budget, run once."""
    game = ring_game()
    begun = time.monotonic()
    # The largest box budget, so that the time limit, not the boxes, ends the run.
    cert = sgn.certify(game, method="interval", max_seconds=BUDGET, max_boxes=DEFAULT_MAX_BOXES)
    return time.monotonic() - begun, json.loads(cert.to_json())


def test_a_small_budget_ends_the_whole_verified_run(ring_run):
    _, cert = ring_run
    assert cert["status"] == "inconclusive" and cert["verified"]
    # (How long it took is a property of the machine's load, measured in
    # benchmarks/bench_budget.py, not asserted here: the passes' records say what stopped them.)
    est = cert["estimator"]
    assert est["budget"]["max_seconds"] == BUDGET
    bounds, metric = est["passes"]["bounds"], est["passes"]["metric"]
    assert bounds["stopped"] == "seconds" and metric["stopped"] == "skipped"
    reason = cert["reasons"][0]
    assert "--max-seconds 4" in reason and "raise --max-seconds" in reason
    # Cut by time: not reproducible, in a field and a note.
    assert est["budget"]["stopped_by"] == "seconds" and est["budget"]["reproducible"] is False
    assert any("not reproducible" in n or "reproducible is false" in n for n in cert["notes"])


# Numbers a reason may quote, each with the field it must equal (as printed: %g-like).
def _quoted_numbers(reason: str) -> list[str]:
    names = re.sub(r"\b(mu|L)_\d+", "", reason)          # quantity names are not numbers
    return re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", names)


def _check_budget_reason(cert: dict) -> None:
    """Every number in the budget sentence is one of the estimator's fields, as printed."""
    est = cert["estimator"]
    record = est["passes"]["bounds"]
    reason = cert["reasons"][0]
    found = re.search(r"(\d+) boxes enclosed \(limit (\d+)\)(?: in ([\d.e+-]+) s)?, (\d+) boxes "
                      r"in the final partition", reason)
    assert found, reason
    enclosed, limit, seconds, boxes = found.groups()
    assert int(enclosed) == record["boxes_enclosed"] == est["boxes_enclosed"]
    assert int(limit) == record["max_boxes"] == est["budget"]["max_boxes"]
    # The seconds only when time cut the pass short: a box budget's sentence is reproducible.
    assert (seconds is not None) == (record["stopped"] == "seconds")
    assert record["seconds"] == est["seconds"]
    assert int(boxes) == record["boxes"] == est["boxes"]
    explained = [enclosed, limit, boxes]
    if seconds is not None:
        assert float(seconds) == float(f"{record['seconds']:.3g}")
        explained.append(seconds)
    budget = re.search(r"--max-(seconds|boxes) ([\d.]+)", reason)
    assert budget, reason
    assert float(budget.group(2)) == record[f"max_{budget.group(1)}"]
    explained.append(budget.group(2))
    share = re.search(r"([\d.]+)% of the region", reason)
    if share:
        assert float(share.group(1)) == round(100 * est["proved_fraction"], 1)
        explained.append(share.group(1))
    named = re.findall(r"\b(?:mu|L)_\d+", reason)
    assert set(named) <= set(est["unfinished"])
    total = re.search(r"\((\d+) in all\)", reason)
    if total:
        assert int(total.group(1)) == len(est["unfinished"])
        explained.append(total.group(1))
    assert sorted(_quoted_numbers(reason)) == sorted(explained), reason


def test_the_budget_reason_quotes_the_certificates_own_numbers(ring_run):
    _check_budget_reason(ring_run[1])


def test_the_headline_quotes_the_certificates_own_numbers(ring_run):
    cert = ring_run[1]
    est = cert["estimator"]
    headline = summarize(sgn.Certificate.from_dict(cert)).splitlines()[0]
    found = re.search(r"on (\d+) boxes \((\d+) enclosed in ([\d.e+-]+) s\)", headline)
    assert found, headline
    assert int(found.group(1)) == est["boxes"]
    assert int(found.group(2)) == est["boxes_enclosed"]
    assert float(found.group(3)) == float(f"{est['seconds']:.3g}")


def test_a_box_budget_reason_quotes_the_certificates_own_numbers():
    cert = sgn.certify(sgn.load_game("examples/cascade.py"), method="interval", max_boxes=41)
    data = json.loads(cert.to_json())
    assert data["estimator"]["passes"]["bounds"]["stopped"] == "boxes"
    assert "--max-boxes 41" in data["reasons"][0]
    _check_budget_reason(data)


def test_a_budget_stopped_certificate_reads_back_and_verifies(run_cli, tmp_path):
    cascade = "examples/cascade.py"
    out = tmp_path / "cert.json"
    result = run_cli("certify", cascade, "--verify", "--max-seconds", "0.5", "--out", out,
                     "--quiet")
    assert result.exit_code == 1, result.output
    cert = sgn.Certificate.from_json(out.read_text())
    assert cert.status is sgn.Status.INCONCLUSIVE
    assert cert.estimator["passes"]["bounds"]["stopped"] == "seconds"
    assert cert.estimator["budget"]["reproducible"] is False     # time, not boxes, ended it
    assert "not reproducible" in result.output or "reproducible is false" in result.output
    assert sgn.Certificate.from_json(cert.to_json()) == cert
    checked = run_cli("verify", out, cascade, "--samples", "256", "--quiet")
    assert checked.exit_code == 0, checked.output


# --- a game that is not finite on its box ------------------------------------------------------

LOG_AT_ZERO = """
def f1(x1, x2):
    return jnp.sum(jnp.log(x1)) + 0.1 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2

game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(0.0, 1.0), name="log")
"""

POLE = """
def f1(x1, x2):
    return 0.5 * x1 @ x1 + 0.001 * jnp.sum(1.0 / (x1 - 0.3)) + 0.1 * x1 @ x2

def f2(x1, x2):
    return 0.5 * x2 @ x2 + 0.1 * x1 @ x2

game = sgn.Game(costs=[f1, f2], dims=[1, 1], region=sgn.Box(0.0, 1.0), name="pole")
"""


def test_a_cost_not_finite_on_the_box_is_bad_input_under_verify(run_cli, game_file):
    path = game_file(LOG_AT_ZERO)
    sampled = run_cli("certify", path, "--samples", "64", "--quiet")
    assert_bad_input(sampled, "not finite", "x = [0, ")
    verified = run_cli("certify", path, "--verify", "--quiet")
    assert_bad_input(verified, "not finite", "x = [0, ")
    def words(text):  # the sentence without its point: each path names the first it found
        return re.sub(r"x = \[[^]]*\]", "x = [...]", text)

    assert words(verified.stderr) == words(sampled.stderr)  # the sampled path's words


def test_a_pole_inside_the_box_is_bad_input_naming_the_box(run_cli, game_file):
    result = run_cli("certify", game_file(POLE), "--verify", "--quiet")
    assert_bad_input(result, "not finite on the box", "pole")


# --- the deadline inside the passes ------------------------------------------------------------

def test_a_deadline_is_one_clock_shared_by_the_parts_of_a_run():
    from sgn._interval import Deadline

    now = [100.0]
    deadline = Deadline(10.0, clock=lambda: now[0])
    part = deadline.within(4.0)                 # a part with a limit of its own ...
    now[0] = 103.0
    assert deadline.remaining() == 7.0 and not part.expired()
    now[0] = 104.0
    assert part.expired() and not deadline.expired() and deadline.elapsed() == 4.0
    late = deadline.within(60.0)                # ... still ends with the run
    now[0] = 110.0
    assert late.expired() and deadline.expired() and deadline.remaining() == 0.0


def test_a_metric_pass_without_time_keeps_proved_bounds_and_says_so():
    from sgn._certify import assemble
    from sgn._interval import Deadline, VerifiedRun, interval_bounds, interval_metric_pass

    game = sgn.load_game("examples/cascade.py")
    search = interval_bounds(game)
    assert search.outcome == "certified"
    assert search.partition_data["smear"].ndim == 2     # one block's smear per box kept
    weights = sgn.optimize_weights(search.bounds.curvature, search.bounds.coupling)
    full, _ = interval_metric_pass(game, weights.weights, search, max_boxes=200)
    spent, record = interval_metric_pass(game, weights.weights, search, deadline=Deadline(0.0))
    assert record.stopped == "skipped" and record.boxes_enclosed == 0
    assert spent.lipschitz >= full.lipschitz          # the block bound alone: looser, still valid
    assert spent.margin >= weights.margin - 1e-9       # never below alpha(w)
    run = VerifiedRun(search, Deadline(60.0))
    cert = assemble(game, dataclasses.replace(search.bounds, proof=run), weights,
                    dataclasses.replace(spent, proof=record))
    assert cert.status is sgn.Status.CERTIFIED
    assert any("ended the metric pass" in note for note in cert.notes)
    assert cert.estimator["passes"]["metric"]["stopped"] == "skipped"


def test_a_deadline_spent_while_compiling_still_gives_valid_bounds():
    from sgn._interval import Deadline, interval_bounds

    game = sgn.load_game("examples/cascade.py")
    result = interval_bounds(game, deadline=Deadline(0.0))
    assert result.outcome == "inconclusive" and result.record.stopped == "seconds"
    assert result.evaluated == 1                        # the whole region, once
    true_mu = 1 + 0.25 / np.cosh(2.0) ** 2
    assert np.all(result.bounds.curvature <= true_mu)
