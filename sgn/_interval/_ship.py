"""Ship batches to executor workers: the interval program once per worker, then only its key.

A batch is a few hundred boxes (a few kB), but the compiled interval program of the Jacobian
and its derivative is ~100 kB of nested tuples, and Dask hashes every argument of a task. So
the program travels by reference:

* each worker process keeps the programs it has seen in `_CACHE`, keyed by the enclosure's
  content hash (`JacobianEnclosure.key`); thread workers share the driver's cache;
* the first call on an executor attaches the program to every task; later calls send the key
  alone, and a worker that does not hold it (a new or restarted worker) answers
  `Missing` (from `ProgramMissing`), upon which that task alone is sent again with the program attached, and
  the next call attaches it to every task again (the scheduler may have run the resent task
  on another worker, so only a call without misses shows that every worker is seeded).

This needs nothing from the executor beyond `submit`, so it works for process pools, thread
pools, Dask and anything else; what each task computes does not change, so results stay
bit-identical across executors.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
import os
import threading
import weakref

from .._errors import SGNError
from ._enclose import JacobianEnclosure

#: Programs a worker keeps (a worker rarely serves more than one or two games at a time).
CACHE_SIZE = 8
#: Fewest boxes worth a task: below this, per-task overhead (interpreting ~1000 program steps
#: on tiny arrays, plus the round trip) dominates the per-box work.
MIN_BATCH = 32
#: Most boxes per task: bounds the memory of one evaluation (the derivative program holds
#: d^3 intervals per box).
MAX_BATCH = 2048
#: Most entries (boxes x d^3 with the derivative program, x d^2 without) per task: at d = 16
#: that is 512 boxes, about 0.2 GB for one evaluation instead of 0.8 GB for 2048 (measured:
#: benchmarks/README.md).
MAX_BATCH_ENTRIES = 2**21

_CACHE: collections.OrderedDict[str, JacobianEnclosure] = collections.OrderedDict()
_LOCK = threading.Lock()
_SENT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # executor -> keys sent


class ProgramMissing(SGNError):
    """A worker was sent a program key it does not hold (the driver resends the program)."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(f"interval program {key[:12]} is not cached on this worker")

    def __reduce__(self):  # picklable across processes with its key, not its message
        return ProgramMissing, (self.key,)


@dataclasses.dataclass(frozen=True)
class ProgramRef:
    """A program by key, with the program itself attached only when the worker may lack it."""

    key: str
    enclosure: JacobianEnclosure | None = None


def remember(enclosure: JacobianEnclosure) -> None:
    """Keep `enclosure` in this process's cache (least recently used out)."""
    with _LOCK:
        _CACHE[enclosure.key] = enclosure
        _CACHE.move_to_end(enclosure.key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)


def resolve(program: JacobianEnclosure | ProgramRef) -> JacobianEnclosure:
    """The enclosure a task refers to; raises ProgramMissing when only its key came and this
    process does not hold it."""
    if isinstance(program, JacobianEnclosure):
        return program
    if program.enclosure is not None:
        remember(program.enclosure)
        return program.enclosure
    with _LOCK:
        cached = _CACHE.get(program.key)
    if cached is None:
        raise ProgramMissing(program.key)
    return cached


def worker_count(executor) -> int:
    """How many tasks `executor` runs at once (its own count when it says, else the cores)."""
    for name in ("workers", "_max_workers"):
        count = getattr(executor, name, None)
        if isinstance(count, int) and count > 0:
            return count
    return os.cpu_count() or 1


def batch_size_for(boxes: int, workers: int, largest: int = MAX_BATCH) -> int:
    """One task per worker per round, within [MIN_BATCH, largest].

    Boxes of a round cost about the same, so an even split keeps every worker busy with the
    fewest tasks (each pays a fixed interpretation and transport cost). In-process
    (workers = 1) this is one big vectorised batch.
    """
    return min(largest, max(MIN_BATCH, math.ceil(boxes / max(workers, 1))))


def largest_batch(enclosure: JacobianEnclosure) -> int:
    """Most boxes per task for this program: MAX_BATCH, fewer when d is large enough that one
    evaluation would hold more than MAX_BATCH_ENTRIES intervals."""
    per_box = enclosure.dim ** (3 if enclosure.derivative is not None else 2)
    return max(MIN_BATCH, min(MAX_BATCH, MAX_BATCH_ENTRIES // per_box))


def run(fn, tasks, enclosure: JacobianEnclosure, executor, attach, *, deadline=None) -> list:
    """fn(task) for every task, in order, with the program sent by reference (module docstring).

    `attach(task, program)` returns the task with its program field replaced by `program`.
    With a `deadline` (`_budget.Deadline`), only the results of the leading tasks done when it
    passes: in-process it is read between tasks; on an executor the driver stops waiting and
    cancels the tasks not started (one already running on a worker cannot be interrupted and
    finishes in the background).
    """
    if executor is None:
        results = []
        for task in tasks:
            if deadline is not None and deadline.expired():
                break
            results.append(fn(attach(task, enclosure)))
        return results
    sent = _sent_keys(executor)
    first = enclosure.key not in sent
    ref = ProgramRef(enclosure.key, enclosure if first else None)
    futures = [executor.submit(_guarded, fn, attach(task, ref)) for task in tasks]
    sent.add(enclosure.key)
    results = _leading_results(futures, deadline)
    full = ProgramRef(enclosure.key, enclosure)
    retries = {k: executor.submit(fn, attach(tasks[k], full))
               for k, r in enumerate(results) if isinstance(r, Missing)}
    redone = _leading_results(list(retries.values()), deadline)
    for k, result in zip(retries, redone):
        results[k] = result
    if len(redone) < len(retries):  # stop before the first task whose resend is not back
        results = results[:list(retries)[len(redone)]]
    if retries:
        sent.discard(enclosure.key)
    return results


def _leading_results(futures, deadline) -> list:
    """The futures' results in order; with a deadline, those of the leading futures done
    when it passes, the others cancelled."""
    if deadline is None or not math.isfinite(deadline.remaining()):
        return [future.result() for future in futures]
    concurrent.futures.wait(futures, timeout=deadline.remaining())
    count = next((k for k, f in enumerate(futures) if not f.done()), len(futures))
    for future in futures[count:]:
        future.cancel()
    return [future.result() for future in futures[:count]]


@dataclasses.dataclass(frozen=True)
class Missing:
    """A worker's answer to a task whose program it does not hold (returned, not raised, so
    schedulers such as Dask do not log an expected event as a failed task)."""

    key: str


def _guarded(fn, task):
    try:
        return fn(task)
    except ProgramMissing as missing:
        return Missing(missing.key)


def _sent_keys(executor) -> set:
    try:
        return _SENT.setdefault(executor, set())
    except TypeError:  # not weak-referenceable: always attach the program
        return set()
