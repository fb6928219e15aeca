"""The serial link to a Squid board: one owner of the port, one reader thread.

:class:`SerialTransport` opens the port exclusively (an advisory lock, so a second
program opening the same board fails at once instead of interleaving bytes), runs one
reader thread that parses the 10 ms status stream (re-synchronising on the CRC) and
hands each packet to a callback, and writes command packets under a lock.

When the port vanishes (USB cable pulled, board reset) the reader notices the error,
closes its end and re-opens the same path as soon as it exists again; every
successful open increments :attr:`SerialTransport.generation`, so the driver knows
it must restore the board's state. Nothing here runs on an asyncio event loop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import serial

from hcs_devices.squid.errors import SquidConnectionError
from hcs_devices.squid.protocol import Status, StatusStreamParser


class SerialTransport:
    """Owns one serial port to a Squid board.

    Args:
        port: serial device path.
        on_status: called from the reader thread with every status packet.
        on_connection: called from the reader thread with ``True`` after a re-open and
            ``False`` when the port vanishes.
        baudrate: nominal baud rate (unused by USB CDC, kept for real UARTs).
        reconnect_interval_s: how often to look for a vanished port.
        crc_mode: status CRC handling, see :class:`StatusStreamParser`.
        name: prefix of the reader thread's name.
    """

    def __init__(
        self,
        port: str,
        *,
        on_status: Callable[[Status], None],
        on_connection: Callable[[bool], None] | None = None,
        baudrate: int = 2_000_000,
        reconnect_interval_s: float = 0.05,
        crc_mode: str = "auto",
        name: str = "squid",
    ) -> None:
        self.port = port
        self._on_status = on_status
        self._on_connection = on_connection
        self._baudrate = baudrate
        self._reconnect_interval_s = reconnect_interval_s
        self._parser = StatusStreamParser(crc_mode)
        self._name = name
        self._lock = threading.Lock()  # guards _serial swaps and writes
        self._serial: serial.Serial | None = None
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._reader: threading.Thread | None = None
        self.generation = 0
        """Incremented by every successful open of the port."""
        self.bytes_read = 0
        """Bytes received since opening."""
        self.disconnects = 0
        """Times the port vanished."""

    # ------------------------------------------------------------------ public API

    @property
    def connected(self) -> bool:
        """Whether the port is open now."""
        return self._connected.is_set()

    @property
    def parser(self) -> StatusStreamParser:
        """The status stream parser (its counters show re-synchronisation)."""
        return self._parser

    def open(self) -> None:
        """Open the port and start the reader thread.

        Raises:
            SquidConnectionError: when the port cannot be opened.
        """
        if self._reader is not None:
            return
        try:
            self._open_port()
        except (serial.SerialException, OSError) as exc:
            raise SquidConnectionError(
                f"cannot open Squid port {self.port}: {exc}. Check the path (prefer "
                "/dev/serial/by-id/usb-Teensyduino_...), that you are in the 'dialout' "
                "group, and that no other program has the port open."
            ) from exc
        self._reader = threading.Thread(
            target=self._read_loop, name=f"{self._name}-reader", daemon=True
        )
        self._reader.start()

    def write(self, data: bytes) -> None:
        """Write bytes to the board.

        Raises:
            SquidConnectionError: when the port is not open or the write fails (the
                reader then re-opens it when it comes back).
        """
        with self._lock:
            port = self._serial
            if port is None:
                raise SquidConnectionError(f"Squid port {self.port} is not connected")
            try:
                port.write(data)
                port.flush()
            except (serial.SerialException, OSError) as exc:
                self._drop_locked()
                raise SquidConnectionError(
                    f"write to Squid port {self.port} failed: {exc}"
                ) from exc

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the port is open; return whether it is."""
        return self._connected.wait(timeout_s)

    def close(self) -> None:
        """Stop the reader thread and close the port (idempotent)."""
        self._stop.set()
        reader = self._reader
        if reader is not None:
            reader.join(timeout=5.0)
        with self._lock:
            self._drop_locked()

    # ------------------------------------------------------------------ internals

    def _open_port(self) -> None:
        port = serial.Serial(
            self.port,
            baudrate=self._baudrate,
            timeout=0.05,
            write_timeout=1.0,
            exclusive=True,
        )
        with contextlib.suppress(serial.SerialException, OSError):
            port.reset_input_buffer()
        with self._lock:
            self._serial = port
            self._parser.reset()
            self.generation += 1
            self._connected.set()

    def _drop_locked(self) -> None:
        port = self._serial
        self._serial = None
        self._connected.clear()
        if port is not None:
            if not self._stop.is_set():
                self.disconnects += 1
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                port = self._serial
            if port is None:
                self._reconnect()
                continue
            try:
                data = port.read(1)
                if not data:
                    continue
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
            except (serial.SerialException, OSError, TypeError, AttributeError):
                # TypeError/AttributeError: pyserial on a port closed under it by write().
                with self._lock:
                    if self._serial is port:
                        self._drop_locked()
                self._notify(connected=False)
                continue
            self.bytes_read += len(data)
            for status in self._parser.feed(data):
                self._on_status(status)

    def _reconnect(self) -> None:
        while not self._stop.wait(self._reconnect_interval_s):
            if not Path(self.port).exists():
                continue
            try:
                self._open_port()
            except (serial.SerialException, OSError):
                continue
            self._notify(connected=True)
            return

    def _notify(self, *, connected: bool) -> None:
        if self._on_connection is not None:
            self._on_connection(connected)
