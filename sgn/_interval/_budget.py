"""The budget of a verified run: boxes decide the result, seconds are a safety limit.

    max_boxes = default_boxes(enclosure)    # the bounds pass's box budget for this game
    deadline = Deadline(max_seconds)        # made once, when the verified run starts
    deadline.remaining(), deadline.expired()
    record = PassRecord(...)                # one per pass: counts, limits, seconds, why it stopped
    run_budget(bounds_record, metric_record, seconds)   # the certificate's estimator.budget

Each pass stops at its box budget, counted in boxes enclosed: the same game with the same
budget gives the same partition, bounds and certificate on a quiet machine and on a loaded one
(each box's numbers depend on that box alone, and the boxes split in a round are the worst
ones, in a fixed order). The default budget depends only on the game's interval program
(`default_boxes`), so it is reproducible too.

`--max-seconds S` is a safety limit on top: one Deadline, made before the interval program is
compiled and handed to the bounds pass and the metric pass, so S bounds the whole verified run
rather than each part. It is read between batches of boxes: what runs between two readings
cannot be interrupted (tracing and compiling the interval program, the first enclosure of the
whole region, and one batch of boxes; see docs/verified.md). A pass it stops got as far as the
machine's speed and load allowed, so its numbers are not reproducible; the certificate says so
(`estimator.budget.reproducible`, and a note).

A pass's counts, limits and seconds live in its PassRecord; the certificate's estimator fields
and every sentence that quotes them are made from that record, so they cannot disagree.
"""

from __future__ import annotations

import dataclasses
import math
import time

from .._result import Result

#: The bounds pass's box budget for games whose interval program is small (it also bounds the
#: memory of the partition).
DEFAULT_MAX_BOXES = 20_000
#: The metric pass's box budget (boxes it splits) for games whose interval program is small.
DEFAULT_METRIC_BOXES = 2_000
#: Interval values the default box budget of the bounds pass may compute in all (box_cost per
#: box): 7 to 25 s of enclosures for costly games on the 2-core machine of
#: benchmarks/README.md ("A reproducible default budget"; 34 to 123 ns per value at load 1).
#: The metric pass's default is a fifth of the boxes, capped at DEFAULT_METRIC_BOXES.
BOX_WORK = 200_000_000
#: Fewest boxes a default budget gives the bounds pass (and METRIC_SHARE of it the metric pass).
MIN_BOXES = 50
METRIC_SHARE = 5
#: The safety limit on the wall time of a whole verified run (seconds): generous, since the box
#: budget is what ends a run; a run it ends is not reproducible.
DEFAULT_MAX_SECONDS = 600.0

#: Why a pass stopped, when time rather than its own work or its box budget ended it.
TIME_CUT = ("seconds", "skipped")


def box_cost(enclosure) -> int:
    """Interval values computed per box: the Jacobian program at the box and at its centre,
    plus the derivative program (mean-value form) when there is one (once per chunk of
    directions when it is evaluated in chunks, `_centred.py`). A count read off the
    traced programs, so the same game always gets the same number; the time per box follows it
    within a factor of about 4 across the games measured (benchmarks/README.md)."""
    def values(program) -> int:
        return sum(math.prod(shape) for step in program.steps for shape in step.out_shapes)

    derivative = 0 if enclosure.derivative is None else values(enclosure.derivative)
    if enclosure.chunk:
        derivative *= -(-enclosure.dim // enclosure.chunk)
    return max(1, 2 * values(enclosure.program) + derivative)


def default_boxes(enclosure) -> int:
    """The bounds pass's default box budget: DEFAULT_MAX_BOXES, or fewer when the game's boxes
    are costly, so that the budget is about BOX_WORK interval values (never below MIN_BOXES)."""
    return int(min(DEFAULT_MAX_BOXES, max(MIN_BOXES, BOX_WORK // box_cost(enclosure))))


def default_metric_boxes(enclosure) -> int:
    """The metric pass's default box budget: a METRIC_SHARE-th of the bounds pass's default,
    at most DEFAULT_METRIC_BOXES."""
    return int(min(DEFAULT_METRIC_BOXES, default_boxes(enclosure) // METRIC_SHARE))


def monotonic() -> float:
    """The clock deadlines read by default (looked up when a Deadline is made, so a test can
    stand in a slower one)."""
    return time.monotonic()


class Deadline:
    """A point in time, on the monotonic clock, after which a verified run stops.

    `within(seconds)` gives the earlier of this deadline and `seconds` from now: a part of the
    run with a limit of its own still ends with the run. `now()` reads the deadline's clock
    (the pacing of batches uses it too).
    """

    def __init__(self, seconds: float, *, clock=None):
        self.seconds = float(seconds)
        self._clock = monotonic if clock is None else clock
        self._start = self._clock()
        self._end = self._start + self.seconds

    def now(self) -> float:
        return self._clock()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self._clock() >= self._end

    def within(self, seconds: float) -> Deadline:
        sooner = Deadline(seconds, clock=self._clock)
        sooner._end = min(sooner._end, self._end)
        return sooner


class OutOfTime(Exception):
    """The deadline passed between two batches: the unfinished round is dropped (internal; the
    passes catch it and report how far they got)."""


@dataclasses.dataclass(frozen=True)
class PassRecord(Result):
    """What one pass of the verified run did (the certificate's `estimator.passes`).

    Attributes:
        boxes: boxes in the pass's final partition (the boxes its bounds come from).
        boxes_enclosed: boxes whose Jacobian the pass enclosed (a split encloses two).
        max_boxes: its box budget: for the bounds pass, on boxes enclosed; for the metric pass,
            on boxes it splits.
        max_seconds: the safety limit on seconds (the whole run's).
        seconds: wall time of the pass.
        stopped: why it stopped: "certified" or "refuted" (the bounds pass decided),
            "converged" (the metric pass: nothing left worth splitting), "boxes" (its box
            budget: reproducible), "seconds" (the time limit cut it short) or "skipped" (the
            metric pass: no time left when it began). The last two are not reproducible.
    """

    boxes: int
    boxes_enclosed: int
    max_boxes: int
    max_seconds: float
    seconds: float
    stopped: str

    @property
    def cut_by_time(self) -> bool:
        return self.stopped in TIME_CUT


def run_budget(bounds: PassRecord, metric: PassRecord | None, seconds: float | None) -> dict:
    """The certificate's `estimator.budget`: the limits, the run's seconds, which budget
    stopped the run ("seconds" when the time limit cut a pass short, else "boxes" when a box
    budget ended one, else None: every pass finished its work) and whether the numbers are
    reproducible (not when time cut a pass short)."""
    records = [r for r in (bounds, metric) if r is not None]
    stopped_by = ("seconds" if any(r.cut_by_time for r in records) else
                  "boxes" if any(r.stopped == "boxes" for r in records) else None)
    return {"max_boxes": bounds.max_boxes, "max_seconds": bounds.max_seconds,
            "seconds": seconds, "stopped_by": stopped_by,
            "reproducible": stopped_by != "seconds"}


def time_cut_note(bounds: PassRecord, metric: PassRecord | None) -> str | None:
    """The note of a run the time limit cut short (None otherwise): its numbers depend on the
    machine's speed and load."""
    cut = [name for name, r in (("bounds", bounds), ("metric", metric))
           if r is not None and r.stopped == "seconds"]
    skipped = metric is not None and metric.stopped == "skipped"
    if not cut and not skipped:
        return None
    parts = ([f"cut the {' and '.join(cut)} pass{'es' if len(cut) > 1 else ''} short"] if cut
             else []) + (["left no time for the metric pass"] if skipped else [])
    return (f"the time limit (--max-seconds {bounds.max_seconds:g}) {' and '.join(parts)} "
            "before the box budget ended them: how far they got depends on the machine's speed "
            "and load, so the same command may give other bounds (estimator.budget.reproducible "
            "is false); raise --max-seconds, or lower --max-boxes, to let the box budget decide")


def limit_text(record: PassRecord) -> str:
    """The limit that ended a pass, as the user sets it."""
    if record.stopped == "boxes":
        return f"the box budget (--max-boxes {record.max_boxes})"
    return f"the time limit (--max-seconds {record.max_seconds:g})"


def counts_text(record: PassRecord) -> str:
    """A pass's counts, each number as the record holds it; the seconds only when the time
    limit ended it (a box budget's result does not depend on them)."""
    took = f" in {record.seconds:.3g} s" if record.cut_by_time else ""
    return (f"{record.boxes_enclosed} boxes enclosed (limit {record.max_boxes}){took}, "
            f"{record.boxes} boxes in the final partition")
