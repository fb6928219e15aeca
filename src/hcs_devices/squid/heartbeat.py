"""The Squid heartbeat: keeps the board's watchdog fed while the host is idle."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import Future

from hcs_devices.squid.errors import SquidError
from hcs_devices.squid.link import LinkLost, SquidLink
from hcs_devices.squid.protocol import Opcode

_log = logging.getLogger(__name__)


class SquidHeartbeat:
    """A daemon thread queueing a HEARTBEAT when nothing was written for half the watchdog.

    Args:
        link: the board's link (the heartbeat goes through its writer thread and lock).
        watchdog_timeout_s: the board's watchdog timeout.
    """

    def __init__(self, link: SquidLink, watchdog_timeout_s: float) -> None:
        self._link = link
        self._interval = watchdog_timeout_s / 2.0
        self._pending: Future[None] | None = None
        self._thread = threading.Thread(
            target=self._loop, name=f"{link.name}-heartbeat", daemon=True
        )

    def start(self) -> None:
        """Start the thread (it ends when the link is closing)."""
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        """Wait for the thread to end."""
        self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        link = self._link
        interval = self._interval
        while not link.closing.wait(min(interval / 4.0, 0.25)):
            if time.monotonic() - link.last_write < interval:
                continue
            pending = self._pending
            if pending is not None and not pending.done():
                continue
            with contextlib.suppress(RuntimeError):
                self._pending = link.executor.submit(self._job)

    def _job(self) -> None:
        link = self._link
        if link.closing.is_set() or time.monotonic() - link.last_write < self._interval * 0.9:
            return
        try:
            with link.cmd_lock:
                link.ensure_configured()
                link.transact(Opcode.HEARTBEAT)
        except (SquidError, LinkLost) as exc:
            _log.warning("Squid heartbeat on %s failed: %s", link.port, exc)
