"""A time-lapse's schedule, and what happened to each time point.

The schedule is wall-clock from the run's start: time point ``t`` is due at the time
plan's ``t``-th offset, whatever happened before it. A time point that starts after it
was due (the previous one took longer than the interval, or the run was paused) is
*late*; the spec's ``late_time_points`` says what to do with it:

- ``run_late`` (the default): take it at once, late;
- ``skip``: take nothing for it, as Squid does, when it is more than
  ``late_tolerance_s`` late, and go on to the next one.

The first time point is never skipped. A pause shifts nothing: the time it lasts counts
towards the schedule, so the time points due during a pause are late when the run
resumes. Each time point is recorded as one event of the
:data:`~hcs_schema.TIME_POINTS_STREAM` stream (only for sequences with a time plan).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from hcs_plans.record_log import FieldSpec, RecordLog
from hcs_schema import TIME_POINTS_STREAM


@dataclass(frozen=True)
class TimePoint:
    """What happened to one time point (seconds from the run's first time point).

    Attributes:
        time_index: the time point's index.
        due_s: when it was due.
        started_s: when it started (or was skipped).
        late_s: how late it started (0 when on time).
        skipped: nothing was taken for it.
    """

    time_index: int
    due_s: float
    started_s: float
    late_s: float
    skipped: bool


_FIELDS: dict[str, FieldSpec] = {
    "time_index": ("integer", None),
    "due_s": ("number", "s"),
    "started_s": ("number", "s"),
    "late_s": ("number", "s"),
    "skipped": ("boolean", None),
}


class Schedule:
    """When each time point is due, and whether a late one is skipped.

    Args:
        late_time_points: ``run_late`` or ``skip``.
        late_tolerance_s: how late a time point may start before ``skip`` skips it.
    """

    def __init__(self, late_time_points: str, late_tolerance_s: float) -> None:
        self.skip_late = late_time_points == "skip"
        self.tolerance_s = late_tolerance_s
        self.start = time.monotonic()
        self.log = RecordLog("time_point", "hcs_plans.time_points", _FIELDS)

    def elapsed_s(self) -> float:
        """Seconds since the schedule started."""
        return time.monotonic() - self.start

    def begin(self, time_index: int, due_s: float, *, record: bool) -> MsgGenerator[bool]:
        """Wait until a time point is due; record it; whether to take it.

        Args:
            time_index: the time point.
            due_s: when it is due.
            record: emit its event (sequences with a time plan).
        """
        wait = due_s - self.elapsed_s()
        if wait > 0:
            yield from bps.checkpoint()
            yield from bps.sleep(wait)
        started = self.elapsed_s()
        late = max(0.0, started - due_s)
        skipped = self.skip_late and time_index > 0 and late > self.tolerance_s
        if record:
            self.log.record(TimePoint(time_index, due_s, started, late, skipped))
            yield from bps.checkpoint()  # a replay after a pause starts here: one event
            yield from bps.create(TIME_POINTS_STREAM)
            yield from bps.read(self.log)
            yield from bps.save()
        return not skipped
