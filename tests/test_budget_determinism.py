"""A verified result is decided by its box budget, not by the machine's load (issue 17).

The same command gave 3,435 boxes on a quiet machine and 679 under load, with a bound that
changed sign, when seconds ended the run. Now each pass stops at its box budget (the default
depends only on the game's interval program) and seconds are a safety limit: a run on a
machine made slower still gives the same certificate, number for number, and a run the time
limit cuts short says so (estimator.budget and a note).

A slower machine is simulated, not waited for: the clock the deadline reads
(`sgn._interval._budget.monotonic`) advances by a fixed step each time a batch of boxes is
bounded, so how far a run gets under it does not depend on the real machine at all. Nothing
here asserts on wall time.
"""

from __future__ import annotations

import json

import pytest

import sgn
from sgn._interval import _branch, _budget
from sgn._interval._enclose import jacobian_enclosure

CASCADE = "examples/cascade.py"

#: Wall-time fields: the only ones two runs of the same command may differ in.
TIMINGS = (("estimator", "seconds"), ("estimator", "budget", "seconds"),
           ("estimator", "passes", "bounds", "seconds"),
           ("estimator", "passes", "metric", "seconds"))


class SlowClock:
    """The deadline's clock on a machine that takes `step` seconds per batch of boxes."""

    def __init__(self, step: float):
        self.step = step
        self.now = 0.0
        self.batches = 0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slow_machine(monkeypatch):
    """slow_machine(step) -> SlowClock: from then on every Deadline reads a clock that moves
    `step` seconds per batch bounded (and not otherwise)."""

    def install(step: float) -> SlowClock:
        clock = SlowClock(step)
        bound = _branch.bound_batch

        def slow_batch(task):
            clock.now += clock.step
            clock.batches += 1
            return bound(task)

        monkeypatch.setattr(_budget, "monotonic", clock)
        monkeypatch.setattr(_branch, "bound_batch", slow_batch)
        return clock

    return install


def _without_timings(cert) -> dict:
    data = json.loads(cert.to_json())
    for path in TIMINGS:
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        assert isinstance(parent.pop(path[-1]), float)
    return data


@pytest.fixture(scope="module")
def cascade():
    return sgn.load_game(CASCADE)


@pytest.fixture(scope="module")
def quiet_run(cascade):
    """The cascade, verified with the default options on the real clock."""
    return sgn.certify(cascade, method="interval")


def test_a_slow_machine_gives_the_same_certificate_with_the_default_budget(
        cascade, quiet_run, slow_machine):
    clock = slow_machine(5.0)
    slow = sgn.certify(cascade, method="interval")
    # Slow enough that time would have decided: the old 60 s run budget and the metric pass's
    # own 10 s limit were both passed on this clock, and the batches were paced differently.
    assert clock.now > 60.0, clock.now
    est = slow.estimator
    assert est["passes"]["bounds"]["stopped"] == "certified"
    assert est["passes"]["metric"]["stopped"] == "boxes"       # its own box budget ended it
    assert est["budget"] == {**quiet_run.estimator["budget"], "seconds": est["budget"]["seconds"]}
    assert est["budget"]["stopped_by"] == "boxes" and est["budget"]["reproducible"] is True
    assert _without_timings(slow) == _without_timings(quiet_run)


def test_a_box_budget_that_runs_out_gives_the_same_partial_result(cascade, slow_machine):
    quiet = sgn.certify(cascade, method="interval", max_boxes=300)
    slow_machine(5.0)
    slow = sgn.certify(cascade, method="interval", max_boxes=300)
    assert slow.status is sgn.Status.INCONCLUSIVE
    assert slow.estimator["passes"]["bounds"]["stopped"] == "boxes"
    # The reason names the box budget and holds no seconds: the same sentence on both.
    assert "--max-boxes 300" in slow.reasons[0] and " s," not in slow.reasons[0]
    assert _without_timings(slow) == _without_timings(quiet)


def test_a_run_cut_by_the_time_limit_says_it_is_not_reproducible(cascade, quiet_run,
                                                                  slow_machine):
    slow_machine(100.0)
    cert = sgn.certify(cascade, method="interval", max_seconds=250)
    est = cert.estimator
    assert cert.status is sgn.Status.INCONCLUSIVE and cert.verified
    bounds, metric = est["passes"]["bounds"], est["passes"]["metric"]
    assert bounds["stopped"] == "seconds" and metric["stopped"] == "skipped"
    assert bounds["boxes_enclosed"] < quiet_run.estimator["boxes_enclosed"]
    assert est["budget"]["stopped_by"] == "seconds"
    assert est["budget"]["reproducible"] is False
    assert "the time limit (--max-seconds 250)" in cert.reasons[0]
    assert "raise --max-seconds" in cert.reasons[0]
    [note] = [n for n in cert.notes if "reproducible" in n]
    assert "cut the bounds pass short and left no time for the metric pass" in note
    assert "--max-seconds 250" in note
    again = sgn.Certificate.from_json(cert.to_json())          # the fields read back
    assert again.estimator["budget"]["reproducible"] is False


def test_only_a_time_cut_makes_a_run_not_reproducible():
    from sgn._interval._budget import PassRecord, run_budget, time_cut_note

    def record(stopped):
        return PassRecord(10, 19, 100, 600.0, 1.0, stopped)

    assert run_budget(record("certified"), record("converged"), 2.0)["stopped_by"] is None
    for bounds, metric, by in [("certified", "boxes", "boxes"), ("boxes", "converged", "boxes"),
                               ("boxes", "skipped", "seconds"),
                               ("certified", "seconds", "seconds"),
                               ("seconds", "skipped", "seconds")]:
        budget = run_budget(record(bounds), record(metric), 2.0)
        assert budget["stopped_by"] == by, (bounds, metric)
        assert budget["reproducible"] is (by != "seconds")
        assert (time_cut_note(record(bounds), record(metric)) is None) is (by != "seconds")
    assert "cut the metric pass short" in time_cut_note(record("certified"), record("seconds"))
    assert "cut the bounds and metric passes short" in time_cut_note(record("seconds"),
                                                                      record("seconds"))


def test_the_default_box_budget_depends_only_on_the_game(cascade):
    from sgn._interval._budget import (
        DEFAULT_MAX_BOXES,
        DEFAULT_METRIC_BOXES,
        MIN_BOXES,
        box_cost,
        default_boxes,
        default_metric_boxes,
    )

    toy = sgn.load_game("examples/scalar_toy.py")
    gan = sgn.load_game("examples/tanh_gan.py")
    costs = [box_cost(jacobian_enclosure(g)) for g in (toy, cascade, gan)]
    assert costs == sorted(costs) and costs[2] > 50 * costs[1]    # d = 2, 6 and 59
    budgets = [default_boxes(jacobian_enclosure(g)) for g in (toy, cascade, gan)]
    assert budgets[0] == DEFAULT_MAX_BOXES                      # a cheap program: the cap
    assert budgets[0] >= budgets[1] > budgets[2] >= MIN_BOXES   # a costly one: fewer boxes
    assert default_boxes(jacobian_enclosure(sgn.load_game(CASCADE))) == budgets[1]
    assert default_metric_boxes(jacobian_enclosure(cascade)) == DEFAULT_METRIC_BOXES
    assert default_metric_boxes(jacobian_enclosure(gan)) == budgets[2] // 5


def test_the_certificate_records_the_default_box_budget(cascade, quiet_run):
    from sgn._interval._budget import DEFAULT_MAX_SECONDS, default_boxes, default_metric_boxes

    est = quiet_run.estimator
    enclosure = jacobian_enclosure(cascade)
    assert est["budget"]["max_boxes"] == default_boxes(enclosure)
    assert est["passes"]["bounds"]["max_boxes"] == default_boxes(enclosure)
    assert est["passes"]["metric"]["max_boxes"] == default_metric_boxes(enclosure)
    # Both passes share the run's safety limit, whatever time was left for the metric pass.
    assert est["budget"]["max_seconds"] == DEFAULT_MAX_SECONDS
    assert est["passes"]["metric"]["max_seconds"] == DEFAULT_MAX_SECONDS
    assert not [n for n in quiet_run.notes if "reproducible" in n]


def test_verify_reproves_with_the_recorded_box_budget_on_a_slow_machine(
        cascade, slow_machine, monkeypatch):
    import sgn._interval

    cert = sgn.certify(cascade, method="interval", max_boxes=300)
    calls = []
    reprove = sgn._interval.interval_bounds

    def recorded(game, **options):
        result = reprove(game, **options)
        calls.append((options, result.record))
        return result

    monkeypatch.setattr(sgn._interval, "interval_bounds", recorded)
    slow_machine(5.0)
    checked = sgn.verify(cert, cascade, samples=256)
    [(options, record)] = calls
    assert options["max_boxes"] == cert.estimator["boxes_enclosed"]
    assert record.stopped == "boxes" and record.boxes == cert.estimator["boxes"]
    reproved = [c for c in checked.checks if c.how == "re-proved"]
    assert reproved and all(c.ok for c in reproved), [c.message for c in reproved]
    assert all(c.found == c.stored for c in reproved)            # the very same bounds


@pytest.mark.parametrize("key, value, message", [
    ("reproducible", "yes", "estimator.budget.reproducible"),
    ("stopped_by", "minutes", "estimator.budget.stopped_by"),
    ("max_boxes", 0, "estimator.budget.max_boxes"),
    ("max_seconds", "60", "estimator.budget.max_seconds"),
])
def test_a_malformed_budget_is_a_format_error(quiet_run, key, value, message):
    data = json.loads(quiet_run.to_json())
    data["estimator"]["budget"][key] = value
    with pytest.raises(sgn.CertificateFormatError, match=message):
        sgn.Certificate.from_dict(data)


def test_a_certificate_from_before_the_budget_fields_still_reads(quiet_run):
    data = json.loads(quiet_run.to_json())
    for key in ("stopped_by", "reproducible"):
        del data["estimator"]["budget"][key]
    assert sgn.Certificate.from_dict(data).estimator["budget"]["max_boxes"] > 0
    for key in ("budget", "passes"):
        del data["estimator"][key]
    assert sgn.Certificate.from_dict(data).verified
