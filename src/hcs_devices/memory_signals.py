"""Signals whose value lives in memory: read and written at once, without a timeout.

ophyd-async gives every signal a timeout (10 s by default) and runs each read and
write under ``asyncio.wait_for``, which starts a task per access. A soft signal with
no getter or setter answers at once, so that timeout guards nothing; without it an
access is a plain ``await``. These are the signals read at every move and frame
(an axis's limits, setpoint and readback; a filter wheel's position): per image, the
tasks they started cost about as much as the rest of a move's checks.
"""

from __future__ import annotations

from collections.abc import Callable

from ophyd_async.core import SignalDatatypeT, SignalR, SignalRW, SoftSignalBackend

__all__ = ["memory_signal_r_and_setter", "memory_signal_rw"]


def memory_signal_rw(
    datatype: type[SignalDatatypeT],
    initial_value: SignalDatatypeT | None = None,
    units: str | None = None,
    precision: int | None = None,
    name: str = "",
) -> SignalRW[SignalDatatypeT]:
    """A read-write signal held in memory (``soft_signal_rw`` without getter or setter)."""
    backend = SoftSignalBackend(datatype, initial_value, units, precision)
    return SignalRW(backend, timeout=None, name=name)


def memory_signal_r_and_setter(
    datatype: type[SignalDatatypeT],
    initial_value: SignalDatatypeT | None = None,
    units: str | None = None,
    precision: int | None = None,
    name: str = "",
) -> tuple[SignalR[SignalDatatypeT], Callable[[SignalDatatypeT], None]]:
    """A read-only signal held in memory, and the function that sets its value."""
    backend = SoftSignalBackend(datatype, initial_value, units, precision)
    return SignalR(backend, timeout=None, name=name), backend.set_value
