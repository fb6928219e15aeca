"""Navigation commands for live view, and the inbox a live plan takes them from.

A client (the web console, the IPython prompt) never moves the stage itself while
live view runs: it posts a command to the :class:`NavigationInbox`, and the live plan,
which waits on the inbox through a ``wait_for`` message, carries it out with ordinary
plan messages. The RunEngine stays the only path to the hardware (rule 1). Each posted
command comes with a future that the plan completes once the command is done (or
failed), so the client learns the outcome.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import threading
from dataclasses import dataclass, field

from ophyd_async.core import Device


@dataclass(frozen=True)
class MoveTo:
    """Move the stage to ``x_um``, ``y_um`` (and ``z_um`` when given)."""

    x_um: float
    y_um: float
    z_um: float | None = None


@dataclass(frozen=True)
class SetChannel:
    """Set a configured channel up: filter, light source, intensity and exposure."""

    name: str


@dataclass(frozen=True)
class SetExposure:
    """Set the camera's exposure time."""

    exposure_ms: float


@dataclass(frozen=True)
class SetIntensity:
    """Set the selected light source's intensity."""

    intensity_percent: float


@dataclass(frozen=True)
class EndLive:
    """End live view."""


Command = MoveTo | SetChannel | SetExposure | SetIntensity | EndLive


@dataclass(frozen=True)
class Posted:
    """A command and the future its outcome is reported on."""

    command: Command
    done: concurrent.futures.Future[None] = field(default_factory=concurrent.futures.Future)


class NavigationInbox(Device):
    """Commands waiting for the live plan (posted from any thread).

    Args:
        name: device name.
    """

    def __init__(self, name: str = "") -> None:
        self._lock = threading.Lock()
        self._posted: collections.deque[Posted] = collections.deque()
        self._wakeups: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        super().__init__(name=name)

    def post(self, command: Command) -> Posted:
        """Queue ``command`` for the live plan; its outcome comes on ``Posted.done``."""
        posted = Posted(command)
        with self._lock:
            self._posted.append(posted)
            wakeups, self._wakeups = self._wakeups, []
        for loop, future in wakeups:
            loop.call_soon_threadsafe(_wake, future)
        return posted

    async def next_command(self, timeout_s: float) -> Posted | None:
        """The oldest posted command, waiting up to ``timeout_s`` for one (else None)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._posted:
                return self._posted.popleft()
            future: asyncio.Future[None] = loop.create_future()
            self._wakeups.append((loop, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, timeout_s)
        with self._lock:
            self._wakeups = [w for w in self._wakeups if w[1] is not future]
            return self._posted.popleft() if self._posted else None

    def refuse_all(self, error: BaseException) -> None:
        """Fail every command still waiting (live view ended before taking them)."""
        with self._lock:
            posted, self._posted = list(self._posted), collections.deque()
        for item in posted:
            if not item.done.done():
                item.done.set_exception(error)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
