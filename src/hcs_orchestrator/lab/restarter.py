"""Restart the lab's storage services when they die: Redis, the Tiled server, the forwarder.

The watcher (``hcs lab watch``) calls :meth:`ServiceRestarter.check` every second. A
service of :data:`KEPT_UP` whose process is gone (killed, crashed, out of memory) is
started again at once, at the same address, and a line in the watcher's log says so.
Nothing is lost meanwhile: the worker spools every document (and Redis is not needed
while a plan runs), the forwarder resumes from the spool and the Tiled catalog, and
the RE Manager waits for Redis (:mod:`~hcs_orchestrator.lab.re_manager`). A service that
keeps dying is started again after a growing pause (up to :data:`RESTART_PAUSE_MAX_S`),
so that a broken one does not spin; ``hcs lab logs NAME`` says why it ends.

The RE Manager is not restarted here: its death ends the worker and the running plate,
and restarting it rebuilds the microscope: an engineer decides (``hcs lab restart
re-manager``). Nor is the watcher itself (``hcs lab status`` shows it down).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hcs_orchestrator.lab.processes import reap_ended
from hcs_orchestrator.lab.services import FORWARDER, REDIS, TILED, LabError
from hcs_orchestrator.lab.supervisor import Lab

#: The services restarted when they die, in start order.
KEPT_UP = (REDIS, TILED, FORWARDER)
#: First pause before a service that died again is restarted (seconds); doubled each time.
RESTART_PAUSE_S = 1.0
#: The longest pause (seconds).
RESTART_PAUSE_MAX_S = 60.0
#: A service up this long is healthy again: its next death is restarted at once (seconds).
HEALTHY_AFTER_S = 60.0


@dataclass
class _Restarts:
    """When a service was last started here, and the pause before the next start."""

    started_at: float = -float("inf")
    pause_s: float = 0.0


class ServiceRestarter:
    """Starts again whichever of a lab's storage services has died.

    Args:
        lab: the lab.
        names: the services kept up (:data:`KEPT_UP` by default).
        out: where each restart is reported.
        clock: monotonic seconds (a parameter for tests).
    """

    def __init__(
        self,
        lab: Lab,
        names: Sequence[str] = KEPT_UP,
        out: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lab = lab
        self._out = out
        self._clock = clock
        self._restarts = {name: _Restarts() for name in names}

    def check(self) -> list[str]:
        """One look: start each dead service whose pause is over; returns those started."""
        reap_ended()
        started: list[str] = []
        for name, record in self._restarts.items():
            if self._lab.pid(name) is not None:
                continue
            now = self._clock()
            if now - record.started_at >= HEALTHY_AFTER_S:
                record.pause_s = 0.0
            if now - record.started_at < record.pause_s:
                continue
            self._out(f"{name} is down: starting it again")
            record.started_at = now
            record.pause_s = min(RESTART_PAUSE_MAX_S, max(RESTART_PAUSE_S, 2 * record.pause_s))
            try:
                self._lab.start(name, wait=False)  # the lab reports the new pid
            except LabError as exc:
                self._out(f"{name} could not be started: {exc}")
                continue
            started.append(name)
        return started
