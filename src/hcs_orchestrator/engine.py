"""The RunEngine of a microscope: the one control plane, and the owner of the hardware.

:class:`MicroscopeRunEngine` is a bluesky ``RunEngine`` that, while it executes a plan,
owns the microscope: device commands from anywhere else (another thread, an IPython
call on the same loop, another client) are refused with a ``busy`` error. Ownership is
lent back while the run is paused, so the operator can adjust things, and returned
when the run goes on. Whatever way a plan ends, the microscope is put in its safe state
(camera idle and its files closed, light off) before the engine reports the end.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from bluesky import RunEngine
from bluesky.utils import Msg

from hcs_devices.ownership import HardwareOwner

log = logging.getLogger(__name__)

#: A document callback slower than this is reported by name.
SLOW_CALLBACK_S = 0.020


class MessageTimer:
    """Time spent per message type, per run (installed as the RunEngine's ``msg_hook``).

    The time between two messages is charged to the first one: it covers processing
    that message and generating the next.
    """

    def __init__(self) -> None:
        self._last: tuple[str, float] | None = None
        self.current: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.by_run: dict[str, dict[str, dict[str, float]]] = {}

    def __call__(self, msg: Msg, *args: Any) -> None:
        """Charge the time since the previous message to that message's command."""
        now = time.perf_counter()
        if self._last is not None:
            command, since = self._last
            self.current[command] += now - since
            self.counts[command] += 1
        self._last = (msg.command, now)

    def start_run(self) -> None:
        """Forget the previous run's figures."""
        self.current = defaultdict(float)
        self.counts = defaultdict(int)

    def end_run(self, uid: str) -> dict[str, dict[str, float]]:
        """Store and return this run's figures: seconds and count per message type."""
        summary = {
            command: {"seconds": self.current[command], "count": self.counts[command]}
            for command in sorted(self.current, key=self.current.__getitem__, reverse=True)
        }
        self.by_run[uid] = summary
        return summary


class SlowCallbacks:
    """Wraps document callbacks to time them and record the slow ones by name."""

    def __init__(self, threshold_s: float = SLOW_CALLBACK_S) -> None:
        self.threshold_s = threshold_s
        self.slow: list[tuple[str, str, float]] = []

    def wrap(
        self, callback: Callable[[str, dict[str, Any]], Any], name: str
    ) -> Callable[[str, dict[str, Any]], Any]:
        """A callback that times ``callback`` and records calls above the threshold."""

        def timed(doc_name: str, doc: dict[str, Any]) -> Any:
            start = time.perf_counter()
            try:
                return callback(doc_name, doc)
            finally:
                elapsed = time.perf_counter() - start
                if elapsed > self.threshold_s:
                    self.slow.append((name, doc_name, elapsed))
                    log.warning(
                        "document callback %r took %.1f ms on a %s document",
                        name,
                        elapsed * 1000,
                        doc_name,
                    )

        return timed


class MicroscopeRunEngine(RunEngine):
    """A RunEngine that owns a microscope while it runs a plan.

    Args:
        owner: the microscope's hardware owner.
        safe_state: coroutine function restoring the safe state (run after every plan).
        kwargs: passed to ``RunEngine``.
    """

    def __init__(
        self,
        owner: HardwareOwner,
        safe_state: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.owner = owner
        self.safe_state = safe_state
        self.timer = MessageTimer()
        self.slow_callbacks = SlowCallbacks()
        self.msg_hook = self.timer
        self._token: object | None = None
        self.state_hook = self._on_state
        self.subscribe(self._on_document)

    def subscribe_timed(self, callback: Callable[[str, dict[str, Any]], Any], name: str) -> int:
        """Subscribe a document callback whose slow calls are reported by ``name``."""
        return self.subscribe(self.slow_callbacks.wrap(callback, name))

    def _on_document(self, name: str, doc: dict[str, Any]) -> None:
        if name == "start":
            self.timer.start_run()
        elif name == "stop":
            self.timer.end_run(doc["run_start"])

    def _on_state(self, new: str, old: str) -> None:
        token = self._token
        if token is None:
            return
        if new == "paused":
            self.owner.suspend(token)
        elif new == "running":
            self.owner.resume(token)

    async def _run(self) -> Any:  # type: ignore[override]
        token = self.owner.claim("a running plan")
        self._token = token
        try:
            with self.owner.acting_as(token):
                try:
                    return await super()._run()
                finally:
                    if self.safe_state is not None:
                        try:
                            await self.safe_state()
                        except Exception:
                            log.exception("restoring the safe state failed")
        finally:
            self._token = None
            self.owner.release(token)
