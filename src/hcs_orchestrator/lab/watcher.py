"""The lab's watcher: notices an RE worker that died, closes its run, reopens the worker.

It also starts again Redis, the Tiled server or the forwarder when one of them dies
(:mod:`~hcs_orchestrator.lab.restarter`).

The RE Manager alone does not notice a worker process that died (killed, out of
memory): its status goes on saying the environment exists and the plan runs. The
watcher (``hcs lab watch``, the lab's fifth service) asks the manager for its status
every second. While the manager says the worker's environment is open, the worker
holds the data directory's owner lock (:mod:`hcs_storage.owner`); when that lock's
holder is no live worker process twice in a row, the watcher:

1. has the manager destroy the environment: the running item is marked ``failed``
   ("RE Worker environment was destroyed") in the history, put back at the front of
   the queue, and the queue stops (it is not run again unless someone starts it);
2. takes the data directory and closes the runs the worker left open, exit status
   ``"fail"``, every recorded image kept (:func:`hcs_storage.spool.close_crashed_runs`);
   a running forwarder has usually done so already (it closes a journal whose writer is
   gone), and takes them to the Tiled server;
3. opens the environment again: the new worker builds the microscope, which puts the
   hardware in its safe state (light off, stage stopped).

Each recovery is two lines in the watcher's log (``hcs lab logs watcher``): when the
worker was found dead, and what was done.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from hcs_orchestrator.lab.control import close_client, manager_client
from hcs_orchestrator.lab.layout import WORKER_COMMAND, LabSettings
from hcs_storage.owner import DataDirInUseError, DataDirOwner, read_holder
from hcs_storage.spool import close_crashed_runs

log = logging.getLogger(__name__)

#: Interval between two status requests (seconds).
POLL_INTERVAL_S = 1.0
#: Manager states in which the worker may rightly be absent or not yet own the directory.
TRANSITIONS = ("creating_environment", "closing_environment", "destroying_environment")
#: How the watcher names itself while it holds the data directory.
WATCHER_COMMAND = "hcs lab watch (closing a dead worker's runs)"
#: Longest wait for the manager to destroy the dead worker's environment (seconds).
DESTROY_TIMEOUT_S = 30.0
#: Longest wait for the reopened worker to build the microscope (seconds).
REOPEN_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Recovery:
    """What the watcher did about one dead worker.

    Attributes:
        worker_pid: the worker that died (None if it had not described itself).
        item: the queue item it was running ("" if none): uid and plan name.
        closed_runs: the runs the watcher closed as failed (not those the forwarder had).
        reopened: whether the new worker's environment opened.
    """

    worker_pid: int | None
    item: str
    closed_runs: list[str] = field(default_factory=list)
    reopened: bool = False

    def describe(self) -> str:
        """One log line."""
        pid = f"pid {self.worker_pid}" if self.worker_pid is not None else "pid unknown"
        runs = ", ".join(self.closed_runs) or "none"
        return (
            f"the RE worker ({pid}) died while running {self.item or 'no item'}: "
            "environment destroyed (the item is marked failed and waits at the queue's "
            f"front; the queue is stopped); runs left open, now closed as failed: {runs}; "
            "environment "
            f"{'reopened' if self.reopened else 'NOT reopened (see hcs lab logs re-manager)'}"
        )


def worker_alive(data_dir: Path) -> tuple[bool, int | None]:
    """Whether a live RE worker holds the data directory, and the last worker's pid."""
    holder = read_holder(data_dir)
    if holder is None or holder.command != WORKER_COMMAND:
        return False, None
    try:
        process = psutil.Process(holder.pid)
        alive = process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= (
            holder.since + 1.0
        )
    except psutil.Error:
        alive = False
    return alive, holder.pid


class WorkerWatcher:
    """Watches one lab's RE worker through the manager and the data directory's lock.

    Args:
        settings: the lab's settings (data directory, control address).
        manager: a client of the RE Manager (``REManagerAPI``), kept for the watcher's life.
        out: where each recovery is reported.
    """

    def __init__(
        self,
        settings: LabSettings,
        manager: Any,
        out: Callable[[str], None] = print,
    ) -> None:
        self.data_dir = Path(settings.data_dir)
        self._manager = manager
        self._out = out
        self._suspect = False

    def check(self) -> Recovery | None:
        """One look: recover if the worker is dead twice in a row; None otherwise."""
        api = self._manager
        try:
            status: Any = api.status()
        except Exception:  # the manager is down or restarting: nothing to judge
            self._suspect = False
            return None
        if not status["worker_environment_exists"] or status["manager_state"] in TRANSITIONS:
            self._suspect = False
            return None
        alive, pid = worker_alive(self.data_dir)
        if alive:
            self._suspect = False
            return None
        if not self._suspect:  # the environment may have changed between the two looks
            self._suspect = True
            return None
        self._suspect = False
        self._out(f"the RE worker (pid {pid}) is gone (the RE Manager has not noticed): recovering")
        recovery = self._recover(api, pid)
        self._out(recovery.describe())
        return recovery

    def _recover(self, api: Any, pid: int | None) -> Recovery:
        running: Any = api.queue_get().get("running_item") or {}
        item = f"{running['item_uid']} ({running['name']})" if running else ""
        api.environment_destroy()
        _wait_status(api, lambda st: not st["worker_environment_exists"], DESTROY_TIMEOUT_S)
        closed: list[str] = []
        try:
            with DataDirOwner(self.data_dir, command=WATCHER_COMMAND):
                closed = close_crashed_runs(
                    self.data_dir,
                    reason=(
                        f"the RE worker (pid {pid}) died while running this run; closed by "
                        "hcs lab's watcher, every recorded image kept"
                    ),
                )
        except DataDirInUseError as exc:  # a new owner closes them when it opens
            log.warning("cannot close the dead worker's runs now: %s", exc)
        api.environment_open()
        reopened = _wait_status(
            api,
            lambda st: st["worker_environment_exists"] and st["manager_state"] == "idle",
            REOPEN_TIMEOUT_S,
        )
        return Recovery(pid, item, closed, reopened)


def _wait_status(api: Any, condition: Callable[[Any], bool], timeout_s: float) -> bool:
    """Ask the manager's status until ``condition(status)`` holds; False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # a request may time out while it is busy
            if condition(api.status()):
                return True
        pause.wait(0.2)
    return False


def watch(lab_dir: Path, interval_s: float = POLL_INTERVAL_S) -> None:
    """Watch a lab until the process is stopped (SIGTERM).

    Every ``interval_s``: recover a dead RE worker (:class:`WorkerWatcher`), and start
    again a storage service that died
    (:class:`~hcs_orchestrator.lab.restarter.ServiceRestarter`).
    """
    from hcs_orchestrator.lab.restarter import ServiceRestarter
    from hcs_orchestrator.lab.supervisor import Lab

    lab = Lab(lab_dir, out=lambda line: log.info("%s", line))
    layout = lab.layout
    settings = layout.load()
    if settings is None:
        raise SystemExit(f"no lab in {lab_dir}: start one with `hcs lab up`")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api = manager_client(layout, settings, timeout_recv_s=5.0, timeout_send_s=2.0)

    def warn(line: str) -> None:
        log.warning("%s", line)

    watcher = WorkerWatcher(settings, api, out=warn)
    restarter = ServiceRestarter(lab, out=warn)
    log.info("watching the RE worker of %s", settings.zmq_control_address)
    pause = threading.Event()
    try:
        while True:
            started = time.monotonic()
            for look in (restarter.check, watcher.check):
                try:
                    look()
                except Exception:
                    log.exception("checking the lab failed")
            pause.wait(max(0.0, interval_s - (time.monotonic() - started)))
    finally:
        close_client(api)
