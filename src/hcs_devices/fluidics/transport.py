"""Blocking serial I/O for the fluidics devices, kept off the asyncio event loop.

This is the only module of the fluidics package that touches a serial port. A
:class:`SerialTransport` owns one port:

* the blocking calls (:meth:`SerialTransport.write`, :meth:`SerialTransport.read`,
  :meth:`SerialTransport.read_until`) are meant for driver code running in a
  thread, never on the event loop;
* :meth:`SerialTransport.call` runs such driver code in the transport's own worker
  thread (one per port, so calls on one port never overlap) and awaits it;
* :meth:`SerialTransport.locked` holds the port's lock for one exchange (a command
  and its reply). There is one lock per port path in the process, so two objects
  that open the same path cannot interleave their bytes.

Bytes are bytes everywhere: nothing here encodes or decodes text.
"""

from __future__ import annotations

import asyncio
import functools
import os
import termios
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, TypeVar

import serial

from hcs_devices.fluidics.errors import FluidicsError

T = TypeVar("T")

Parity = Literal["N", "E", "O"]

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
_BYTESIZE = {7: serial.SEVENBITS, 8: serial.EIGHTBITS}

#: How long one blocking read waits for a byte before the deadline is checked again.
_READ_SLICE_S = 0.02

_LOCKS_GUARD = threading.Lock()
_PORT_LOCKS: dict[str, threading.RLock] = {}


def port_lock(port: str) -> threading.RLock:
    """The process-wide lock of one serial port (by its resolved path)."""
    key = os.path.realpath(port)
    with _LOCKS_GUARD:
        lock = _PORT_LOCKS.get(key)
        if lock is None:
            lock = _PORT_LOCKS[key] = threading.RLock()
        return lock


@dataclass(frozen=True)
class SerialSettings:
    """How to open one serial port.

    Attributes:
        port: device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``).
        baudrate: bits per second.
        bytesize: data bits, 7 or 8.
        parity: ``"N"`` none, ``"E"`` even, ``"O"`` odd.
        stopbits: 1 or 2.
    """

    port: str
    baudrate: int
    bytesize: Literal[7, 8]
    parity: Parity
    stopbits: Literal[1, 2] = 1


class SerialTransport:
    """One open serial port: blocking reads and writes plus a worker thread.

    Args:
        settings: the port and its line settings.
        name: what to call the port in errors (e.g. ``"valve chain"``).
    """

    def __init__(self, settings: SerialSettings, *, name: str = "") -> None:
        self.settings = settings
        self.name = name or settings.port
        self._serial: serial.Serial | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = port_lock(settings.port)
        self._new_executor()

    def _new_executor(self) -> None:
        # Threads start on the first call only, so an unused transport has none.
        self._executor = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix=f"hcs-serial-{os.path.basename(self.settings.port)}",
        )

    def __repr__(self) -> str:
        return f"SerialTransport({self.name!r} on {self.settings.port})"

    @property
    def is_open(self) -> bool:
        """Whether the port is open."""
        return self._serial is not None

    def open(self) -> None:
        """Open the port (idempotent; blocking: run it with :meth:`call` from a coroutine).

        Raises:
            FluidicsError: when the port cannot be opened (absent, busy, no permission).
        """
        if self._serial is not None:
            return
        s = self.settings
        try:
            port = serial.Serial(
                port=s.port,
                baudrate=s.baudrate,
                bytesize=_BYTESIZE[s.bytesize],
                parity=_PARITY[s.parity],
                stopbits=serial.STOPBITS_TWO if s.stopbits == 2 else serial.STOPBITS_ONE,
                timeout=_READ_SLICE_S,
                write_timeout=1.0,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError, termios.error) as err:
            raise FluidicsError(f"{self.name}: cannot open serial port {s.port}: {err}") from err
        self._serial = port
        if self._executor is None:
            self._new_executor()

    def close(self) -> None:
        """Close the port and stop the worker thread (idempotent, blocking)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            port, self._serial = self._serial, None
            if port is not None:
                port.close()

    async def aopen(self) -> None:
        """Open from a coroutine (in the worker thread, started anew after a close)."""
        if self._executor is None:
            self._new_executor()
        await self.call(self.open)

    async def aclose(self) -> None:
        """Close from a coroutine: waits for the worker to finish its current call."""
        executor = self._executor
        if executor is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, self._close_port)
        self.close()

    def _close_port(self) -> None:
        with self._lock:
            port, self._serial = self._serial, None
            if port is not None:
                port.close()

    async def call(self, function: Callable[..., T], *args: object) -> T:
        """Run blocking driver code in this port's worker thread and await its result.

        Raises:
            FluidicsError: when the transport was closed.
        """
        executor = self._executor
        if executor is None:
            raise FluidicsError(f"{self.name}: serial port {self.settings.port} was closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, functools.partial(function, *args))
        except RuntimeError as err:
            if "shutdown" in str(err):
                raise FluidicsError(f"{self.name}: serial port closed during a call") from err
            raise

    @contextmanager
    def locked(self) -> Iterator[SerialTransport]:
        """Hold the port's lock for one exchange (command and reply)."""
        with self._lock:
            yield self

    def _port(self) -> serial.Serial:
        port = self._serial
        if port is None:
            raise FluidicsError(f"{self.name}: serial port {self.settings.port} is not open")
        return port

    def _io_error(self, action: str, err: Exception) -> FluidicsError:
        return FluidicsError(f"{self.name}: cannot {action} {self.settings.port}: {err}")

    def discard_input(self) -> None:
        """Drop bytes received but not read yet (stale replies)."""
        try:
            self._port().reset_input_buffer()
        except (serial.SerialException, OSError, termios.error) as err:
            raise FluidicsError(f"{self.name}: serial port error: {err}") from err

    def write(self, data: bytes) -> None:
        """Write raw bytes (blocking)."""
        try:
            self._port().write(data)
            self._port().flush()
        except (serial.SerialException, OSError, termios.error) as err:
            raise self._io_error("write to", err) from err

    def read(self, size: int, timeout_s: float) -> bytes:
        """Read up to ``size`` bytes, waiting at most ``timeout_s`` (may return fewer)."""
        return self._read(size, None, timeout_s)

    def read_until(self, terminator: bytes, timeout_s: float, max_size: int = 256) -> bytes:
        """Read until ``terminator`` (included), ``max_size`` bytes or ``timeout_s`` elapsed."""
        return self._read(max_size, terminator, timeout_s)

    def _read(self, size: int, terminator: bytes | None, timeout_s: float) -> bytes:
        # The port's own timeout stays at _READ_SLICE_S: changing it reconfigures the
        # line (tcsetattr), which some adapters and pseudo-terminals refuse once parity
        # is on. Each read returns as soon as a byte arrives, so slicing adds no delay.
        port = self._port()
        deadline = time.monotonic() + timeout_s
        data = bytearray()
        try:
            while len(data) < size:
                chunk = port.read(1)
                if chunk:
                    data += chunk
                    if terminator is not None and data.endswith(terminator):
                        break
                elif time.monotonic() >= deadline:
                    break
        except (serial.SerialException, OSError, termios.error) as err:
            raise self._io_error("read from", err) from err
        return bytes(data)
