"""Serve an emulated serial device on a pseudo-terminal.

An emulator implements :class:`WireDevice` (bytes in, bytes out); :class:`PtyServer`
gives it a real serial device path that any driver (pyserial included) opens as it
would a USB adapter. The path is a stable symlink, so the port can vanish (the
pseudo-terminal is closed, as when a cable is pulled) and come back under the same
name.
"""

from __future__ import annotations

import contextlib
import os
import select
import tempfile
import threading
import tty
from pathlib import Path
from typing import Protocol


class WireDevice(Protocol):
    """The device side of a serial link."""

    def attach(self, send: SendBytes) -> None:
        """Receive the function the device uses to send bytes to the host."""
        ...

    def receive(self, data: bytes) -> None:
        """Bytes arrived from the host (called from the server's reader thread)."""
        ...


class SendBytes(Protocol):
    """Writes bytes towards the host."""

    def __call__(self, data: bytes) -> None:
        """Send bytes."""
        ...


class PtyServer:
    """Runs one :class:`WireDevice` on a pseudo-terminal until :meth:`close`.

    Args:
        device: the emulated device.
        link_name: file name of the stable symlink to the pseudo-terminal.
        directory: where the symlink lives (a new temporary directory by default).
    """

    def __init__(
        self, device: WireDevice, *, link_name: str = "tty", directory: Path | None = None
    ) -> None:
        self._device = device
        self._dir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="hcs-pty-"))
        self.path = self._dir / link_name
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        device.attach(self._send)
        self._open()

    def _open(self) -> None:
        master, slave = os.openpty()
        # A full buffer drops bytes, as a USB serial device does when nobody reads it,
        # instead of blocking the emulator.
        os.set_blocking(master, False)
        tty.setraw(master)
        tty.setraw(slave)
        slave_name = os.ttyname(slave)
        with self._lock:
            self._master, self._slave = master, slave
        tmp = self.path.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(slave_name)
        tmp.replace(self.path)
        self._reader = threading.Thread(
            target=self._read_loop, args=(master,), name=f"pty-{self.path.name}", daemon=True
        )
        self._reader.start()

    def _read_loop(self, master: int) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([master, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            if self._wake_r in ready:
                return
            if master not in ready:
                continue
            try:
                data = os.read(master, 4096)
            except BlockingIOError:
                continue
            except OSError:
                return
            if data:
                self._device.receive(data)

    def _send(self, data: bytes) -> None:
        with self._lock:
            master = self._master
            if master is None:
                return  # vanished: bytes go nowhere, as on a pulled cable
            with contextlib.suppress(OSError):
                os.write(master, data)

    @property
    def connected(self) -> bool:
        """Whether the port exists now."""
        return self._master is not None

    def vanish(self) -> None:
        """Close the pseudo-terminal, as when the USB cable is pulled."""
        self._close_pty()
        self.path.unlink(missing_ok=True)

    def reappear(self) -> None:
        """Create a new pseudo-terminal under the same path."""
        if self._master is None:
            self._open()

    def _close_pty(self) -> None:
        os.write(self._wake_w, b"x")
        reader = self._reader
        if reader is not None:
            reader.join(timeout=2)
        os.read(self._wake_r, 1)
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = None
        self._reader = None

    def close(self) -> None:
        """Stop serving and remove the port."""
        if self._stop.is_set():
            return
        if self._master is not None:
            self._close_pty()
        self._stop.set()
        self.path.unlink(missing_ok=True)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> PtyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
