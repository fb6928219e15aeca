"""Signals whose value lives in memory: read and written at once, without a timeout.

ophyd-async gives every signal a timeout (10 s by default) and runs each read and
write under ``asyncio.wait_for``, which starts a task per access. A soft signal
answers a read at once from memory, so that timeout guards nothing; without it an
access is a plain ``await``. A setter that reaches hardware (a light switched through
a controller) keeps a timeout of its own, on the setter alone. These are the signals
read or written at every move and frame (an axis's limits, setpoint and readback, a
filter wheel's position, a camera's exposure settings, the light): per image, the
tasks they started cost about as much as the rest of a move's checks.

Device code on the RunEngine's loop (a move's logic, a software sequencer setting up a
frame) writes them with :meth:`MemorySignalRW.put` or :func:`write_now`: the setter's
checks and the stored value, as ``set`` makes them, without a status (a task) or
ophyd-async's retry loop around each write. It reads them with :func:`read_now`: the
stored value, as ``get_value`` returns it, without the layers of a read that may have
to wait (a timeout wrapper, ``asyncio.wait_for``), which are most of a read's cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ophyd_async.core import (
    DEFAULT_TIMEOUT,
    SignalDatatypeT,
    SignalR,
    SignalRW,
    SignalW,
    SoftSignalBackend,
)

__all__ = [
    "MemorySignalR",
    "MemorySignalRW",
    "memory_signal_r_and_setter",
    "memory_signal_rw",
    "read_now",
    "write_now",
]


class MemorySignalR(SignalR[SignalDatatypeT]):
    """A signal held in memory, which device code can read in place (read-only as such)."""

    def __init__(self, backend: SoftSignalBackend[SignalDatatypeT], name: str = "") -> None:
        super().__init__(backend, timeout=None, name=name)
        self._memory = backend

    def value_now(self) -> SignalDatatypeT:
        """The value, as ``get_value`` returns it, read in place."""
        return self._memory.reading["value"]


class MemorySignalRW(SignalRW[SignalDatatypeT], MemorySignalR[SignalDatatypeT]):
    """A read-write signal held in memory, which device code can also write in place."""

    async def put(self, value: SignalDatatypeT) -> None:
        """Write ``value`` as ``set`` does (the setter first, if any), awaited in place.

        Raises:
            Exception: what the setter raised; the value is then unchanged.
        """
        await self._memory.put(value)


async def read_now(signal: SignalR[SignalDatatypeT]) -> SignalDatatypeT:
    """Read a signal from device code: in place if it lives in memory, else with ``get_value``."""
    if isinstance(signal, MemorySignalR):
        return signal.value_now()
    return await signal.get_value()


async def write_now(signal: SignalW[SignalDatatypeT], value: SignalDatatypeT) -> None:
    """Write a signal from device code: in place if it lives in memory, else with ``set``."""
    if isinstance(signal, MemorySignalRW):
        await signal.put(value)
    else:
        await signal.set(value)


def memory_signal_rw(
    datatype: type[SignalDatatypeT],
    initial_value: SignalDatatypeT | None = None,
    units: str | None = None,
    precision: int | None = None,
    *,
    setter: Callable[[SignalDatatypeT | None], Awaitable[None]] | None = None,
    setter_timeout_s: float = DEFAULT_TIMEOUT,
    name: str = "",
) -> MemorySignalRW[SignalDatatypeT]:
    """A read-write signal held in memory (``soft_signal_rw`` without a getter).

    Args:
        datatype: the type of the value.
        initial_value: the value until the first write.
        units: the value's units, in the signal's description.
        precision: the value's precision (decimal places), in its description.
        setter: checks or applies each new value before it is stored; an error
            leaves the value unchanged.
        setter_timeout_s: the longest ``setter`` may take (``TimeoutError`` then).
        name: the signal's name.
    """
    backend = SoftSignalBackend(
        datatype,
        initial_value,
        units,
        precision,
        setter=None if setter is None else _timed(setter, setter_timeout_s),
    )
    return MemorySignalRW(backend, name=name)


def memory_signal_r_and_setter(
    datatype: type[SignalDatatypeT],
    initial_value: SignalDatatypeT | None = None,
    units: str | None = None,
    precision: int | None = None,
    name: str = "",
) -> tuple[SignalR[SignalDatatypeT], Callable[[SignalDatatypeT], None]]:
    """A read-only signal held in memory, and the function that sets its value."""
    backend = SoftSignalBackend(datatype, initial_value, units, precision)
    return MemorySignalR(backend, name=name), backend.set_value


def _timed(
    setter: Callable[[SignalDatatypeT | None], Awaitable[None]], timeout_s: float
) -> Callable[[SignalDatatypeT | None], Awaitable[None]]:
    """``setter`` failing with ``TimeoutError`` when it takes longer than ``timeout_s``."""

    async def timed(value: SignalDatatypeT | None) -> None:
        async with asyncio.timeout(timeout_s):
            await setter(value)

    return timed
