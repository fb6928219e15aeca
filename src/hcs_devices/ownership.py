"""Hardware ownership: while a run owns the microscope, only the running plan moves it.

The RunEngine marks the asyncio context it executes plans in (see
``hcs_orchestrator.engine``). Devices call :func:`check_owner` before they command
hardware; a command issued from any other context (another thread, an IPython call
on the same event loop, another client) while a run owns the hardware is refused
with :class:`BusyError` before anything moves.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class BusyError(RuntimeError):
    """A device command was refused because a run owns the microscope."""


_CALLER: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "hcs_hardware_caller", default=None
)


class HardwareOwner:
    """Who owns the hardware now: nobody, or one run.

    One instance is shared by all devices of a microscope.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: object | None = None
        self._description = ""
        self._suspended = False

    @property
    def owned(self) -> bool:
        """Whether a run owns the hardware now (and is not paused)."""
        return self._token is not None and not self._suspended

    def claim(self, description: str) -> object:
        """Take ownership for one run and return its token.

        Raises:
            BusyError: when another run owns the hardware.
        """
        with self._lock:
            if self._token is not None:
                raise BusyError(f"busy: the microscope is owned by {self._description}")
            self._token = object()
            self._description = description
            return self._token

    def release(self, token: object) -> None:
        """Give ownership back; a stale token is ignored."""
        with self._lock:
            if self._token is token:
                self._token = None
                self._description = ""
                self._suspended = False

    def suspend(self, token: object) -> None:
        """Let anyone command the hardware while the owning run is paused."""
        with self._lock:
            if self._token is token:
                self._suspended = True

    def resume(self, token: object) -> None:
        """The paused run goes on: only it may command the hardware again."""
        with self._lock:
            if self._token is token:
                self._suspended = False

    @contextmanager
    def acting_as(self, token: object) -> Iterator[None]:
        """Mark the current context (and tasks created from it) as the owner."""
        reset = _CALLER.set(token)
        try:
            yield
        finally:
            _CALLER.reset(reset)

    def check(self, device: str, command: str) -> None:
        """Refuse ``command`` on ``device`` unless the caller may command hardware.

        Raises:
            BusyError: when a run owns the hardware and the caller is not that run.
        """
        token = self._token
        if token is not None and not self._suspended and _CALLER.get() is not token:
            raise BusyError(
                f"busy: {device}.{command} refused, the microscope is owned by "
                f"{self._description}; wait for it to finish or stop it"
            )


#: The process-wide owner used by devices built without an explicit one.
DEFAULT_OWNER = HardwareOwner()
